/*
 * test_tokenizer.c — the llama2.c tokenizer: loader errors, run.c's merge
 * and tie rules on tokenizers written here, agreement with a plain port of
 * run.c's quadratic encode(), and (when $ATTNSCOPE_SHARED holds the
 * stories260K files) the reference prompts and greedy outputs of run.c.
 *
 * The self-contained cases always run. When ATTNSCOPE_SHARED is unset or
 * the files are absent the golden cases are left out and, if the rest
 * passed, the exit status is 77 (skip).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "tokenizer/tokenizer.h"
#include "util/util.h"

#define VOCAB_260K 512
#define BYTE_ID(b) (3 + (int)(unsigned char)(b))

/* ------------------------------------------------------------------------
 * Files
 */

/* $ATTNSCOPE_SHARED/models/stories260K/<name> into buf, or NULL when the
 * variable is unset or the file does not exist. */
static const char *
shared_file(char *buf, size_t size, const char *name)
{
	const char *dir = getenv("ATTNSCOPE_SHARED");
	if (!dir || !*dir)
		return NULL;
	int n = snprintf(buf, size, "%s/models/stories260K/%s", dir, name);
	if (n < 0 || (size_t)n >= size || access(buf, R_OK) != 0)
		return NULL;
	return buf;
}

/* A fresh temporary file name (the file exists, empty). */
static void
tmp_name(char *buf, size_t size)
{
	const char *dir = getenv("TMPDIR");
	snprintf(buf, size, "%s/test_tokenizer.XXXXXX", dir && *dir ? dir : "/tmp");
	int fd = mkstemp(buf);
	assert_true(fd >= 0);
	close(fd);
}

static void
write_bytes(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* A small byte buffer that tests assemble files in. */
struct bytes {
	unsigned char *p;
	size_t n, cap;
};

static void
put(struct bytes *b, const void *data, size_t len)
{
	if (b->n + len > b->cap) {
		b->cap = (b->n + len) * 2;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	memcpy(b->p + b->n, data, len);
	b->n += len;
}

static void
put_i32(struct bytes *b, int32_t v)
{
	unsigned char le[4] = { (unsigned char)v, (unsigned char)(v >> 8),
	                        (unsigned char)(v >> 16), (unsigned char)(v >> 24) };
	put(b, le, 4);
}

static void
put_record(struct bytes *b, float score, const char *piece, int32_t len)
{
	uint32_t u;
	memcpy(&u, &score, 4);
	put_i32(b, (int32_t)u);
	put_i32(b, len);
	put(b, piece, len > 0 ? (size_t)len : 0);
}

struct piece {
	const char *s;
	float score;
};

/* A llama2.c tokenizer: <unk>, BOS, EOS, the 256 byte pieces, then
 * `extra`; returns the file contents (free b->p). */
static struct bytes
tokenizer_bytes(const struct piece *extra, int n_extra)
{
	struct bytes b = { 0 };
	char piece[8];
	put_i32(&b, 8);
	put_record(&b, 0.0f, "<unk>", 5);
	put_record(&b, 0.0f, "\n<s>\n", 5);
	put_record(&b, 0.0f, "\n</s>\n", 6);
	for (int i = 0; i < 256; i++) {
		snprintf(piece, sizeof piece, "<0x%02X>", i);
		put_record(&b, 0.0f, piece, 6);
	}
	for (int i = 0; i < n_extra; i++)
		put_record(&b, extra[i].score, extra[i].s, (int32_t)strlen(extra[i].s));
	return b;
}

/* ------------------------------------------------------------------------
 * Reference: llama2.c run.c's encode() written out as run.c does it
 * (sorted vocabulary + bsearch, a rescan of all pairs per merge, first
 * strictly best pair), for NUL-free text. Quadratic: short texts only.
 */

struct ref_entry {
	const char *s;
	int id;
};

struct ref_tok {
	int n;
	char **vocab;
	float *score;
	struct ref_entry *sorted;
	size_t max_len;
};

static int
ref_cmp(const void *a, const void *b)
{
	return strcmp(((const struct ref_entry *)a)->s,
	              ((const struct ref_entry *)b)->s);
}

static int
ref_lookup(const struct ref_tok *r, const char *s)
{
	struct ref_entry key = { s, 0 };
	struct ref_entry *e = bsearch(&key, r->sorted, (size_t)r->n, sizeof key,
	                              ref_cmp);
	return e ? e->id : -1;
}

/* Parse a tokenizer file (already validated by the library). */
static void
ref_load(struct ref_tok *r, const char *path, int n)
{
	char *data;
	size_t size, pos = 4;
	assert_int_equal(util_read_file(path, &data, &size), 0);
	r->n = n;
	r->vocab = calloc((size_t)n, sizeof *r->vocab);
	r->score = calloc((size_t)n, sizeof *r->score);
	r->sorted = calloc((size_t)n, sizeof *r->sorted);
	r->max_len = 0;
	assert_true(r->vocab && r->score && r->sorted);
	for (int i = 0; i < n; i++) {
		int32_t len;
		assert_true(pos + 8 <= size);
		memcpy(&r->score[i], data + pos, 4);
		memcpy(&len, data + pos + 4, 4);
		pos += 8;
		assert_true(len >= 0 && pos + (size_t)len <= size);
		r->vocab[i] = malloc((size_t)len + 1);
		assert_non_null(r->vocab[i]);
		memcpy(r->vocab[i], data + pos, (size_t)len);
		r->vocab[i][len] = '\0';
		pos += (size_t)len;
		if ((size_t)len > r->max_len)
			r->max_len = (size_t)len;
		r->sorted[i] = (struct ref_entry){ r->vocab[i], i };
	}
	free(data);
	qsort(r->sorted, (size_t)n, sizeof *r->sorted, ref_cmp);
}

static void
ref_free(struct ref_tok *r)
{
	for (int i = 0; i < r->n; i++)
		free(r->vocab[i]);
	free(r->vocab);
	free(r->score);
	free(r->sorted);
}

/* Write such a tokenizer to a temporary file, open it (and load it into
 * `ref` too when not NULL), and remove the file. */
static struct tokenizer *
tiny_open(const struct piece *extra, int n_extra, struct ref_tok *ref)
{
	struct bytes b = tokenizer_bytes(extra, n_extra);
	char path[512];
	int err = 1;
	tmp_name(path, sizeof path);
	write_bytes(path, b.p, b.n);
	free(b.p);
	struct tokenizer *t = tok_open_llama2c(path, 259 + n_extra, &err);
	if (t && ref)
		ref_load(ref, path, 259 + n_extra);
	unlink(path);
	assert_non_null(t);
	assert_int_equal(err, 0);
	return t;
}

/* run.c encode(t, text, bos, 0, tokens, &n); tokens holds strlen + 2. */
static int
ref_encode(const struct ref_tok *r, const char *text, int bos, int *tokens)
{
	char *buf = malloc(r->max_len * 2 + 1 + 2);
	size_t str_len = 0;
	int n = 0;
	assert_non_null(buf);
	if (bos)
		tokens[n++] = 1;
	if (text[0] != '\0')
		tokens[n++] = ref_lookup(r, " ");
	for (const char *c = text; *c != '\0'; c++) {
		if ((*c & 0xC0) != 0x80)
			str_len = 0;
		buf[str_len++] = *c;
		buf[str_len] = '\0';
		if ((*(c + 1) & 0xC0) == 0x80 && str_len < 4)
			continue;
		int id = ref_lookup(r, buf);
		if (id != -1) {
			tokens[n++] = id;
		} else {
			for (size_t i = 0; i < str_len; i++)
				tokens[n++] = (unsigned char)buf[i] + 3;
		}
		str_len = 0;
	}
	for (;;) {
		float best_score = -1e10;
		int best_id = -1, best_idx = -1;
		for (int i = 0; i < n - 1; i++) {
			snprintf(buf, r->max_len * 2 + 3, "%s%s", r->vocab[tokens[i]],
			         r->vocab[tokens[i + 1]]);
			int id = ref_lookup(r, buf);
			if (id != -1 && r->score[id] > best_score) {
				best_score = r->score[id];
				best_id = id;
				best_idx = i;
			}
		}
		if (best_idx == -1)
			break;
		tokens[best_idx] = best_id;
		for (int i = best_idx + 1; i < n - 1; i++)
			tokens[i] = tokens[i + 1];
		n--;
	}
	free(buf);
	return n;
}

/* ------------------------------------------------------------------------
 * Helpers
 */

/* Encode and compare with the expected ids. */
static void
expect_ids(const struct tokenizer *t, const char *text, size_t len, bool bos,
           const int *want, int n_want)
{
	int32_t ids[256];
	int n = -1;
	assert_int_equal(tok_encode(t, text, len, bos, ids, 256, &n), 0);
	if (n != n_want) {
		printf("# '%.*s': got %d ids, want %d:", (int)len, text, n, n_want);
		for (int i = 0; i < n && i < 256; i++)
			printf(" %d", (int)ids[i]);
		printf("\n");
	}
	assert_int_equal(n, n_want);
	for (int i = 0; i < n; i++)
		assert_int_equal(ids[i], want[i]);
}

/* Our encoding of a NUL-free text equals the run.c port's. */
static void
expect_like_runc(const struct tokenizer *t, const struct ref_tok *r,
                 const char *text, bool bos)
{
	size_t len = strlen(text);
	int32_t *ids = malloc((len + 2) * sizeof *ids);
	int *want = malloc((len + 2) * sizeof *want);
	int n = -1;
	assert_true(ids && want);
	assert_int_equal(tok_encode(t, text, len, bos, ids, (int)len + 2, &n), 0);
	int n_want = ref_encode(r, text, bos, want);
	assert_int_equal(n, n_want);
	for (int i = 0; i < n; i++) {
		if (ids[i] != want[i])
			printf("# differs from run.c at %d of %d\n", i, n);
		assert_int_equal(ids[i], want[i]);
	}
	free(ids);
	free(want);
}

/* Decoded text of ids[1..n) after ids[0] == BOS, as run.c's generate loop
 * prints it: stop at BOS, safe_printf's filter of non-printable bytes. */
static char *
decode_like_runc(const struct tokenizer *t, const int32_t *ids, int n)
{
	size_t cap = 64, len = 0;
	char *out = malloc(cap), piece[1024];
	assert_non_null(out);
	int prev = ids[0];
	for (int i = 1; i < n; i++) {
		int next = ids[i];
		if (next == 1)
			break;
		int k = tok_decode(t, prev, next, piece, sizeof piece);
		assert_true(k >= 0 && (size_t)k < sizeof piece);
		bool skip_it = k == 0 ||
		               (k == 1 && !(isprint((unsigned char)piece[0]) ||
		                            isspace((unsigned char)piece[0])));
		if (!skip_it) {
			if (len + (size_t)k + 1 > cap) {
				cap = (len + (size_t)k + 1) * 2;
				out = realloc(out, cap);
				assert_non_null(out);
			}
			memcpy(out + len, piece, (size_t)k);
			len += (size_t)k;
		}
		prev = next;
	}
	out[len] = '\0';
	return out;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint32_t
rng_u32(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545F4914F6CDD1Dull) >> 32);
}

/* ------------------------------------------------------------------------
 * Tokenizers written by the tests
 *
 * tiny: single letters score -100 and only form pieces that test one rule
 * each (ids from 259).
 */

enum {
	T_SP = 259, T_A, T_B, T_C, T_AB, T_BC, T_SP_AB, T_X, T_XX, T_P, T_Q, T_R,
	T_PQ, T_QR, T_U, T_V, T_W, T_UV, T_VW, T_WU, T_E_ACUTE, T_CONT4,
	T_LOWER_BYTE, T_SHORT_BYTE, T_COUNT
};

static const struct piece tiny_pieces[] = {
	{ " ", 0.0f },
	{ "a", -100.0f }, { "b", -100.0f }, { "c", -100.0f },
	{ "ab", 1.0f }, { "bc", 2.0f },           /* best score, not leftmost  */
	{ " ab", 0.5f },                          /* cascade after "ab"        */
	{ "x", -100.0f }, { "xx", 5.0f },         /* equal scores: leftmost    */
	{ "p", -100.0f }, { "q", -100.0f }, { "r", -100.0f },
	{ "pq", -0.0f }, { "qr", 0.0f },          /* -0 == +0: leftmost        */
	{ "u", -100.0f }, { "v", -100.0f }, { "w", -100.0f },
	{ "uv", -1e10f },                         /* not above -1e10: never    */
	{ "vw", NAN },                            /* NaN: never                */
	{ "wu", -9e9f },                          /* just above: merges        */
	{ "\xc3\xa9", -100.0f },                  /* U+00E9 as one piece       */
	{ "\x80\x80\x80\x80", -100.0f },          /* four stray continuations  */
	{ "<0xe9>", -100.0f },                    /* lower-case byte piece     */
	{ "<0x4>", -100.0f },                     /* not a byte piece here     */
};

static void
test_merge_rules(void **state)
{
	struct tokenizer *t = tiny_open(tiny_pieces, T_COUNT - 259, NULL);

	/* highest score first: "bc" (2) before the leftmost "ab" (1) */
	expect_ids(t, "abc", 3, true, (int[]){ 1, T_SP, T_A, T_BC }, 4);
	/* a merge creates a new pair that merges in turn */
	expect_ids(t, "ab", 2, true, (int[]){ 1, T_SP_AB }, 2);
	expect_ids(t, "ab", 2, false, (int[]){ T_SP_AB }, 1);
	/* equal scores: the leftmost pair */
	expect_ids(t, "xxx", 3, true, (int[]){ 1, T_SP, T_XX, T_X }, 4);
	expect_ids(t, "xxxx", 4, true, (int[]){ 1, T_SP, T_XX, T_XX }, 4);
	expect_ids(t, "xxxxx", 5, false, (int[]){ T_SP, T_XX, T_XX, T_X }, 4);
	/* -0 and +0 are equal scores in run.c's `>`: the leftmost wins */
	expect_ids(t, "pqr", 3, true, (int[]){ 1, T_SP, T_PQ, T_R }, 4);
	/* scores at -1e10 or NaN never merge; -9e9 does */
	expect_ids(t, "uvwu", 4, true, (int[]){ 1, T_SP, T_U, T_V, T_WU }, 5);
	expect_ids(t, "uv", 2, false, (int[]){ T_SP, T_U, T_V }, 3);
	/* a UTF-8 code point that is a piece, and one that is not */
	expect_ids(t, "\xc3\xa9", 2, true, (int[]){ 1, T_SP, T_E_ACUTE }, 3);
	expect_ids(t, "\xc3\xbc", 2, true,
	           (int[]){ 1, T_SP, BYTE_ID(0xc3), BYTE_ID(0xbc) }, 4);
	/* run.c groups a lead byte with at most three continuation bytes, and
	 * stray continuation bytes four at a time */
	expect_ids(t, "\x80\x80\x80\x80\x80", 5, true,
	           (int[]){ 1, T_SP, T_CONT4, BYTE_ID(0x80) }, 4);
	expect_ids(t, "a\x80\x80\x80\x80", 5, true,
	           (int[]){ 1, T_SP, BYTE_ID('a'), BYTE_ID(0x80), BYTE_ID(0x80),
	                    BYTE_ID(0x80), BYTE_ID(0x80) }, 7);
	/* a byte that is not a piece on its own: byte fallback */
	expect_ids(t, "d", 1, true, (int[]){ 1, T_SP, BYTE_ID('d') }, 3);
	/* a NUL inside len is a byte like any other */
	expect_ids(t, "a\0b", 3, false, (int[]){ T_SP, T_A, BYTE_ID(0), T_B }, 4);
	/* text need not be NUL-terminated: only len bytes are read */
	expect_ids(t, "abX", 2, false, (int[]){ T_SP_AB }, 1);

	tok_free(t);
}

/* BOS takes part in merging like any token (run.c's loop starts at 0). */
static void
test_merge_with_bos(void **state)
{
	static const struct piece pieces[] = {
		{ "\n<s>\n ", 10.0f }, { " ", 0.0f }, { "a", -100.0f },
	};
	struct tokenizer *t = tiny_open(pieces, 3, NULL);
	expect_ids(t, "a", 1, true, (int[]){ 259, 261 }, 2);
	expect_ids(t, "a", 1, false, (int[]){ 260, 261 }, 2);
	tok_free(t);
}

/* Without a " " piece there is no dummy prefix; a space falls back to its
 * byte. */
static void
test_no_space_piece(void **state)
{
	static const struct piece pieces[] = {
		{ "a", -100.0f }, { "b", -100.0f }, { "ab", 1.0f },
	};
	struct tokenizer *t = tiny_open(pieces, 3, NULL);
	expect_ids(t, "ab", 2, true, (int[]){ 1, 261 }, 2);
	expect_ids(t, "a b", 3, true, (int[]){ 1, 259, BYTE_ID(' '), 260 }, 4);
	tok_free(t);
}

/* Random texts over the tiny tokenizer's letters, where ties and chains
 * of merges are everywhere: identical to the run.c port. */
static void
test_tiny_like_runc(void **state)
{
	static const char *alphabet[] = {
		"a", "b", "c", "x", "p", "q", "r", "u", "v", "w", " ", "d",
		"\xc3\xa9", "\xc3", "\x80", "\xe2\x82\xac",
	};
	char text[64];
	struct ref_tok r;
	struct tokenizer *t = tiny_open(tiny_pieces, T_COUNT - 259, &r);
	for (int iter = 0; iter < 3000; iter++) {
		size_t len = 0, want = rng_u32() % 40;
		while (len < want) {
			const char *s = alphabet[rng_u32() % (sizeof alphabet /
			                                      sizeof *alphabet)];
			size_t k = strlen(s);
			if (len + k >= sizeof text)
				break;
			memcpy(text + len, s, k);
			len += k;
		}
		text[len] = '\0';
		expect_like_runc(t, &r, text, iter % 2 == 0);
	}
	ref_free(&r);
	tok_free(t);
}

static void
test_decode(void **state)
{
	char buf[16];
	struct tokenizer *t = tiny_open(tiny_pieces, T_COUNT - 259, NULL);

	assert_int_equal(tok_kind(t), TOK_LLAMA2C);
	assert_int_equal(tok_vocab_size(t), T_COUNT);
	assert_int_equal(tok_bos(t), 1);
	assert_int_equal(tok_eos(t), 2);
	assert_string_equal(tok_piece(t, 1), "\n<s>\n");
	assert_string_equal(tok_piece(t, T_SP_AB), " ab");
	assert_int_equal(tok_piece_len(t, T_SP_AB), 3);
	assert_null(tok_piece(t, T_COUNT));
	assert_null(tok_piece(t, -1));
	assert_int_equal(tok_piece_len(t, T_COUNT), 0);

	/* the leading space goes only right after BOS */
	assert_int_equal(tok_decode(t, 1, T_SP_AB, buf, sizeof buf), 2);
	assert_string_equal(buf, "ab");
	assert_int_equal(tok_decode(t, T_A, T_SP_AB, buf, sizeof buf), 3);
	assert_string_equal(buf, " ab");
	assert_int_equal(tok_decode(t, 1, T_SP, buf, sizeof buf), 0);
	assert_string_equal(buf, "");
	/* byte pieces become their byte, in either case of hex digits */
	assert_int_equal(tok_decode(t, T_A, BYTE_ID('\n'), buf, sizeof buf), 1);
	assert_string_equal(buf, "\n");
	assert_int_equal(tok_decode(t, 1, BYTE_ID(0xff), buf, sizeof buf), 1);
	assert_int_equal((unsigned char)buf[0], 0xff);
	assert_int_equal(tok_decode(t, T_A, T_LOWER_BYTE, buf, sizeof buf), 1);
	assert_int_equal((unsigned char)buf[0], 0xe9);
	assert_int_equal(tok_decode(t, T_A, BYTE_ID(0), buf, sizeof buf), 1);
	assert_int_equal(buf[0], '\0');
	assert_int_equal(tok_decode(t, T_A, T_SHORT_BYTE, buf, sizeof buf), 5);
	assert_string_equal(buf, "<0x4>");
	/* BOS and EOS are plain pieces */
	assert_int_equal(tok_decode(t, T_A, 2, buf, sizeof buf), 6);
	assert_string_equal(buf, "\n</s>\n");
	/* snprintf-like truncation */
	assert_int_equal(tok_decode(t, T_A, T_SP_AB, buf, 2), 3);
	assert_string_equal(buf, " ");
	assert_int_equal(tok_decode(t, T_A, T_SP_AB, NULL, 0), 3);
	/* out of range */
	buf[0] = 'z';
	assert_int_equal(tok_decode(t, 1, T_COUNT, buf, sizeof buf), -1);
	assert_string_equal(buf, "");
	assert_int_equal(tok_decode(t, 1, -1, buf, sizeof buf), -1);

	tok_free(t);
}

static void
test_capacity(void **state)
{
	int32_t ids[4] = { -7, -7, -7, -7 };
	int n = -1;
	struct tokenizer *t = tiny_open(tiny_pieces, T_COUNT - 259, NULL);
	/* "xxxxx" with BOS: 1 " " xx xx x */
	assert_int_equal(tok_encode(t, "xxxxx", 5, true, NULL, 0, &n), ERR_RANGE);
	assert_int_equal(n, 5);
	assert_int_equal(tok_encode(t, "xxxxx", 5, true, ids, 3, &n), ERR_RANGE);
	assert_int_equal(n, 5);
	assert_int_equal(ids[0], 1);
	assert_int_equal(ids[2], T_XX);
	assert_int_equal(ids[3], -7);
	assert_int_equal(tok_encode(t, "xxxx", 4, true, ids, 4, &n), 0);
	assert_int_equal(n, 4);
	/* empty text: BOS alone, or nothing */
	assert_int_equal(tok_encode(t, "", 0, true, ids, 4, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(ids[0], 1);
	assert_int_equal(tok_encode(t, NULL, 0, false, NULL, 0, &n), 0);
	assert_int_equal(n, 0);
	tok_free(t);
}

/* ------------------------------------------------------------------------
 * Loader errors
 */

static void
expect_open_error(const void *data, size_t len, int vocab_size, int want,
                  const char *msg_part)
{
	char path[512];
	int err = 0;
	tmp_name(path, sizeof path);
	write_bytes(path, data, len);
	err_clear();
	struct tokenizer *t = tok_open_llama2c(path, vocab_size, &err);
	unlink(path);
	if (t)
		tok_free(t);
	assert_null(t);
	assert_int_equal(err, want);
	if (msg_part && !strstr(err_msg(err), msg_part))
		fail_msg("message '%s' lacks '%s'", err_msg(err), msg_part);
}

static void
test_open_errors(void **state)
{
	struct bytes b = tokenizer_bytes(NULL, 0);
	int err = 0;

	/* the file itself is fine with its own size, and not with others */
	char path[512];
	tmp_name(path, sizeof path);
	write_bytes(path, b.p, b.n);
	struct tokenizer *t = tok_open_llama2c(path, 259, NULL);
	unlink(path);
	assert_non_null(t);
	tok_free(t);
	expect_open_error(b.p, b.n, 260, ERR_FORMAT, "truncated at record 259");
	expect_open_error(b.p, b.n, 258, ERR_FORMAT, "left after 258 records");
	expect_open_error(b.p, b.n, 2, ERR_ARG, "vocab size");
	expect_open_error(b.p, b.n, -1, ERR_ARG, "vocab size");
	/* cut inside a record's header and inside its piece */
	expect_open_error(b.p, 4 + 8 + 5 + 3, 259, ERR_FORMAT,
	                  "truncated at record 1");
	expect_open_error(b.p, 4 + 8 + 5 + 8 + 2, 259, ERR_FORMAT,
	                  "truncated at record 1");
	expect_open_error(b.p, 2, 259, ERR_FORMAT, "truncated");
	expect_open_error(b.p, 0, 259, ERR_FORMAT, "truncated");
	free(b.p);

	/* bad lengths and a NUL inside a piece (record 259) */
	static const struct piece nul[] = { { "ab", 0.0f } };
	b = tokenizer_bytes(nul, 1);
	b.p[b.n - 1] = '\0';
	expect_open_error(b.p, b.n, 260, ERR_FORMAT, "piece 259 contains a NUL");
	b.n -= 2 + 4;
	put_i32(&b, -1);
	expect_open_error(b.p, b.n, 260, ERR_FORMAT, "record 259 has bad length -1");
	b.n -= 4;
	put_i32(&b, (1 << 16) + 1);
	expect_open_error(b.p, b.n, 260, ERR_FORMAT, "record 259 has bad length");
	free(b.p);

	/* a missing file */
	err = 0;
	assert_null(tok_open_llama2c("/nonexistent/dir/tok.bin", 512, &err));
	assert_int_equal(err, ERR_IO);
}

/* ------------------------------------------------------------------------
 * stories260K (shared reference data)
 */

static struct tokenizer *tok260k;
static char tok260k_path[1024];

static int
group_setup(void **state)
{
	char path[1024];
	int err;
	if (!shared_file(path, sizeof path, "tok512.bin"))
		return -1;
	snprintf(tok260k_path, sizeof tok260k_path, "%s", path);
	tok260k = tok_open_llama2c(path, VOCAB_260K, &err);
	if (!tok260k) {
		printf("# %s\n", err_msg(err));
		return -1;
	}
	return 0;
}

static int
group_teardown(void **state)
{
	tok_free(tok260k);
	tok260k = NULL;
	return 0;
}

static json_t *
load_reference(void)
{
	char path[1024];
	json_error_t jerr;
	if (!shared_file(path, sizeof path, "reference-greedy.json"))
		fail_msg("reference-greedy.json not found");
	json_t *root = json_load_file(path, 0, &jerr);
	if (!root)
		fail_msg("%s:%d: %s", path, jerr.line, jerr.text);
	assert_true(json_is_array(json_object_get(root, "records")));
	return root;
}

/* ids of a JSON array of integers; returns the count */
static int
json_ids(json_t *arr, int32_t *ids, int cap)
{
	size_t i;
	json_t *v;
	assert_true(json_is_array(arr));
	assert_true(json_array_size(arr) <= (size_t)cap);
	json_array_foreach(arr, i, v) {
		assert_true(json_is_integer(v));
		ids[i] = (int32_t)json_integer_value(v);
	}
	return (int)json_array_size(arr);
}

static void
test_260k_once_upon(void **state)
{
	assert_non_null(tok260k);
	char buf[64];
	expect_ids(tok260k, "Once upon a time", 16, true,
	           (int[]){ 1, 403, 407, 261, 378 }, 5);
	expect_ids(tok260k, "Once upon a time", 16, false,
	           (int[]){ 403, 407, 261, 378 }, 4);
	assert_int_equal(tok_decode(tok260k, 1, 403, buf, sizeof buf), 4);
	assert_string_equal(buf, "Once");
	assert_int_equal(tok_decode(tok260k, 403, 407, buf, sizeof buf), 5);
	assert_string_equal(buf, " upon");
	assert_string_equal(tok_piece(tok260k, 403), " Once");
}

static void
test_260k_empty(void **state)
{
	assert_non_null(tok260k);
	int32_t ids[4];
	int n = -1;
	expect_ids(tok260k, "", 0, true, (int[]){ 1 }, 1);
	assert_int_equal(tok_encode(tok260k, "", 0, false, ids, 4, &n), 0);
	assert_int_equal(n, 0);
}

/* Invalid UTF-8 encodes byte by byte; ids checked against run.c (the port
 * below and, for the first text, values computed with a Python port). */
static void
test_260k_invalid_utf8(void **state)
{
	assert_non_null(tok260k);
	static const char *texts[] = {
		"\xff\xfe abc", "a\xe2\x82 \x80\x80\x80\x80\x80x caf\xc3\xa9",
		"\xc0\xaf\xed\xa0\x80\xf4\x90\x80\x80\xf8\x88\x80\x80\x80",
		"\x80", "\xe2\x80\x8a", "\xe2\x80\x8a\x8a",
	};
	struct ref_tok r;
	ref_load(&r, tok260k_path, VOCAB_260K);
	/* " " is 410; <0xFF> 258, <0xFE> 257; " a" 261 */
	expect_ids(tok260k, texts[0], strlen(texts[0]), true,
	           (int[]){ 1, 410, 258, 257, 261, 430, 429 }, 7);
	/* U+200A is piece 511; with a fourth continuation byte it is not */
	expect_ids(tok260k, texts[4], 3, false, (int[]){ 410, 511 }, 2);
	expect_ids(tok260k, texts[5], 4, false,
	           (int[]){ 410, BYTE_ID(0xe2), BYTE_ID(0x80), BYTE_ID(0x8a),
	                    BYTE_ID(0x8a) }, 5);
	for (size_t i = 0; i < sizeof texts / sizeof *texts; i++)
		expect_like_runc(tok260k, &r, texts[i], true);
	ref_free(&r);
}

/* Every record's prompt encodes to its prompt_tokens. */
static void
test_260k_reference_prompts(void **state)
{
	json_t *root = load_reference();
	assert_non_null(tok260k);
	size_t i;
	json_t *rec;
	int checked = 0;
	json_array_foreach(json_object_get(root, "records"), i, rec) {
		json_t *prompt = json_object_get(rec, "prompt");
		json_t *want_j = json_object_get(rec, "prompt_tokens");
		if (!want_j)
			continue;  /* the default-argument run records no ids */
		int32_t want[256], ids[256];
		int n_want = json_ids(want_j, want, 256), n = -1;
		assert_true(json_is_string(prompt));
		assert_int_equal(tok_encode(tok260k, json_string_value(prompt),
		                            json_string_length(prompt), true, ids,
		                            256, &n), 0);
		assert_int_equal(n, n_want);
		for (int k = 0; k < n; k++)
			assert_int_equal(ids[k], want[k]);
		checked++;
	}
	json_decref(root);
	assert_int_equal(checked, 3);
}

/* Decoding each record's ids the way run.c prints them reproduces its
 * stdout: pieces from the second id on (the prompt is echoed), stopping at
 * BOS, without the non-printable single bytes safe_printf drops, then the
 * final newline run.c adds. */
static void
test_260k_reference_stdout(void **state)
{
	json_t *root = load_reference();
	assert_non_null(tok260k);
	size_t i;
	json_t *rec;
	int checked = 0;
	json_array_foreach(json_object_get(root, "records"), i, rec) {
		json_t *tokens = json_object_get(rec, "tokens");
		json_t *out = json_object_get(rec, "stdout");
		if (!tokens)
			continue;
		int32_t ids[1024];
		int n = json_ids(tokens, ids, 1024);
		assert_true(n >= 1 && ids[0] == 1);
		assert_true(json_is_string(out));
		const char *want = json_string_value(out);
		size_t want_len = json_string_length(out);
		assert_true(want_len > 0 && want[want_len - 1] == '\n');
		char *got = decode_like_runc(tok260k, ids, n);
		if (strlen(got) != want_len - 1 ||
		    memcmp(got, want, want_len - 1) != 0)
			fail_msg("record %zu: decoded '%s'", i, got);
		free(got);
		checked++;
	}
	json_decref(root);
	assert_int_equal(checked, 3);
}

/* Random texts (printable ASCII, whitespace, multi-byte and stray bytes),
 * and the 256-step reference story: identical to the run.c port, and
 * decoding gives the text back. */
static void
test_260k_like_runc(void **state)
{
	json_t *root = load_reference();
	assert_non_null(tok260k);
	struct ref_tok r;
	char text[200];
	int32_t ids[256];
	ref_load(&r, tok260k_path, VOCAB_260K);
	for (int iter = 0; iter < 400; iter++) {
		size_t len = rng_u32() % (sizeof text - 1);
		for (size_t k = 0; k < len; k++) {
			uint32_t u = rng_u32() % 100;
			text[k] = u < 70 ? (char)(' ' + rng_u32() % 95)
			        : u < 80 ? " \n\t"[rng_u32() % 3]
			        : (char)(1 + rng_u32() % 255);
		}
		text[len] = '\0';
		expect_like_runc(tok260k, &r, text, true);

		/* decode(encode(text)) == text, byte pieces included */
		int n = -1;
		assert_int_equal(tok_encode(tok260k, text, len, true, ids, 256, &n),
		                 0);
		char got[256 * 8];
		size_t got_len = 0;
		for (int k = 1; k < n; k++) {
			int m = tok_decode(tok260k, ids[k - 1], ids[k], got + got_len,
			                   sizeof got - got_len);
			assert_true(m >= 0 && got_len + (size_t)m < sizeof got);
			got_len += (size_t)m;
		}
		assert_int_equal(got_len, len);
		assert_memory_equal(got, text, len);
	}
	json_t *recs = json_object_get(root, "records");
	const char *story = json_string_value(
		json_object_get(json_array_get(recs, json_array_size(recs) - 1),
		                "stdout"));
	assert_non_null(story);
	expect_like_runc(tok260k, &r, story, true);
	ref_free(&r);
	json_decref(root);
}

/* A 10,000-byte sample encodes fast (run.c's loop needs seconds). */
static void
test_260k_long_sample(void **state)
{
	json_t *root = load_reference();
	assert_non_null(tok260k);
	enum { LEN = 10000 };
	json_t *recs = json_object_get(root, "records");
	const char *story = json_string_value(
		json_object_get(json_array_get(recs, json_array_size(recs) - 1),
		                "stdout"));
	size_t story_len = strlen(story);
	char *text = malloc(LEN);
	int32_t *ids = malloc((LEN + 2) * sizeof *ids);
	assert_true(text && ids && story_len > 0);
	for (size_t k = 0; k < LEN; k++)
		text[k] = story[k % story_len];

	int n = -1;
	double t0 = util_now();
	assert_int_equal(tok_encode(tok260k, text, LEN, true, ids, LEN + 2, &n), 0);
	double dt = util_now() - t0;
	printf("# %d bytes -> %d ids in %.2f ms\n", LEN, n, dt * 1e3);
	assert_true(n > 1 && n < LEN / 2);
	assert_true(dt < 1.0);

	/* decoding gives the text back */
	char *got = malloc(LEN + 1);
	size_t got_len = 0;
	char piece[64];
	assert_non_null(got);
	for (int k = 1; k < n; k++) {
		int m = tok_decode(tok260k, ids[k - 1], ids[k], piece, sizeof piece);
		assert_true(m >= 0 && got_len + (size_t)m <= LEN);
		memcpy(got + got_len, piece, (size_t)m);
		got_len += (size_t)m;
	}
	assert_int_equal(got_len, LEN);
	assert_memory_equal(got, text, LEN);
	free(got);
	free(text);
	free(ids);
	json_decref(root);
}

/* A copy of tok512.bin cut in half is a format error. */
static void
test_260k_truncated(void **state)
{
	assert_non_null(tok260k);
	char *data, path[512];
	size_t size;
	int err = 0;
	assert_int_equal(util_read_file(tok260k_path, &data, &size), 0);
	tmp_name(path, sizeof path);
	write_bytes(path, data, size / 2);
	free(data);
	err_clear();
	struct tokenizer *t = tok_open_llama2c(path, VOCAB_260K, &err);
	unlink(path);
	assert_null(t);
	assert_int_equal(err, ERR_FORMAT);
	assert_non_null(strstr(err_msg(err), "truncated at record"));
	assert_non_null(strstr(err_msg(err), path));
}

int
main(void)
{
	char path[1024];
	const struct CMUnitTest local_tests[] = {
		cmocka_unit_test(test_merge_rules),
		cmocka_unit_test(test_merge_with_bos),
		cmocka_unit_test(test_no_space_piece),
		cmocka_unit_test(test_tiny_like_runc),
		cmocka_unit_test(test_decode),
		cmocka_unit_test(test_capacity),
		cmocka_unit_test(test_open_errors),
	};
	const struct CMUnitTest all_tests[] = {
		cmocka_unit_test(test_merge_rules),
		cmocka_unit_test(test_merge_with_bos),
		cmocka_unit_test(test_no_space_piece),
		cmocka_unit_test(test_tiny_like_runc),
		cmocka_unit_test(test_decode),
		cmocka_unit_test(test_capacity),
		cmocka_unit_test(test_open_errors),
		cmocka_unit_test(test_260k_once_upon),
		cmocka_unit_test(test_260k_empty),
		cmocka_unit_test(test_260k_invalid_utf8),
		cmocka_unit_test(test_260k_reference_prompts),
		cmocka_unit_test(test_260k_reference_stdout),
		cmocka_unit_test(test_260k_like_runc),
		cmocka_unit_test(test_260k_long_sample),
		cmocka_unit_test(test_260k_truncated),
	};
	if (shared_file(path, sizeof path, "tok512.bin") &&
	    shared_file(path, sizeof path, "reference-greedy.json"))
		return cmocka_run_group_tests(all_tests, group_setup, group_teardown);

	/* Without the reference data the self-contained cases still run and
	 * a TAP comment says what was left out (meson's TAP mode counts a
	 * non-zero exit, even 77, as an error). */
	int failed = cmocka_run_group_tests(local_tests, NULL, NULL);
	printf("# ATTNSCOPE_SHARED unset or stories260K files absent: %d golden "
	       "cases not run\n",
	       (int)(sizeof all_tests / sizeof *all_tests -
	             sizeof local_tests / sizeof *local_tests));
	return failed;
}

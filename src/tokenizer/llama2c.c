/*
 * llama2c.c — the llama2.c tokenizer.bin format: a checked loader, an
 * encoder that gives exactly llama2.c run.c's encode() ids (pieces found
 * through the shared hash table, merges driven by the shared heap over
 * adjacent pairs instead of run.c's quadratic rescans) and run.c's decode().
 */
#include "tokenizer/tok_internal.h"
#include "util/util.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOK_BOS_ID 1
#define TOK_EOS_ID 2
#define TOK_BYTE0_ID 3                /* id of the piece <0x00>            */
#define TOK_MIN_VOCAB 3               /* <unk>, BOS, EOS                   */

/* run.c starts its search with `float best_score = -1e10;` and merges only
 * pairs scoring strictly more, so pieces at or below it (or NaN) never merge */
#define TOK_MERGE_FLOOR (-1e10f)

/* ------------------------------------------------------------------------
 * Loading
 */

static uint32_t
rd_u32le(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static int32_t
rd_i32le(const unsigned char *p)
{
	uint32_t u = rd_u32le(p);
	int32_t v;
	memcpy(&v, &u, sizeof v);
	return v;
}

static float
rd_f32le(const unsigned char *p)
{
	uint32_t u = rd_u32le(p);
	float f;
	memcpy(&f, &u, sizeof f);
	return f;
}

struct tokenizer *
tok_open_llama2c(const char *path, int vocab_size, int *err)
{
	int rc;
	char *data = NULL;
	size_t size = 0, pos = 4;
	const unsigned char *d;
	struct tokenizer *t = NULL;

	if (vocab_size != 0 &&
	    (vocab_size < TOK_MIN_VOCAB || vocab_size > TOK__MAX_VOCAB)) {
		rc = err_set(ERR_ARG, "tokenizer '%s': vocab size %d out of range",
		             path, vocab_size);
		goto out;
	}
	rc = util_read_file(path, &data, &size);
	if (rc)
		goto out;
	d = (const unsigned char *)data;
	if (size < 4) {
		rc = err_set(ERR_FORMAT, "tokenizer '%s': truncated header", path);
		goto out;
	}
	if (vocab_size == 0) {
		/* no model to say how many: count the records to the end */
		size_t p = 4;
		while (size - p >= 8 && vocab_size < TOK__MAX_VOCAB) {
			int32_t len = rd_i32le(d + p + 4);
			if (len < 0 || (size_t)len > size - p - 8)
				break;
			p += 8 + (size_t)len;
			vocab_size++;
		}
		if (vocab_size < TOK_MIN_VOCAB) {
			rc = err_set(ERR_FORMAT, "tokenizer '%s': not a llama2.c "
			             "tokenizer.bin (%d records)", path, vocab_size);
			goto out;
		}
	}

	t = tok__create(TOK_LLAMA2C, (size_t)vocab_size);
	if (!t)
		goto nomem;
	t->max_token_length = rd_i32le(d);

	for (int i = 0; i < vocab_size; i++) {
		if (size - pos < 8) {
			rc = err_set(ERR_FORMAT, "tokenizer '%s': truncated at record %d",
			             path, i);
			goto out;
		}
		float score = rd_f32le(d + pos);
		int32_t len = rd_i32le(d + pos + 4);
		pos += 8;
		if (len < 0 || len > TOK__MAX_PIECE) {
			rc = err_set(ERR_FORMAT,
			             "tokenizer '%s': record %d has bad length %d",
			             path, i, (int)len);
			goto out;
		}
		if (size - pos < (size_t)len) {
			rc = err_set(ERR_FORMAT, "tokenizer '%s': truncated at record %d",
			             path, i);
			goto out;
		}
		if (memchr(d + pos, '\0', (size_t)len)) {
			rc = err_set(ERR_FORMAT,
			             "tokenizer '%s': piece %d contains a NUL byte",
			             path, i);
			goto out;
		}
		t->score[i] = score;
		if (tok__set_piece(t, i, data + pos, (size_t)len))
			goto nomem;
		pos += (size_t)len;
	}
	if (pos != size) {
		/* run.c would ignore them, but extra records almost always mean
		 * the model's vocab_size does not belong to this tokenizer */
		rc = err_set(ERR_FORMAT,
		             "tokenizer '%s': %zu bytes left after %d records "
		             "(vocab size mismatch?)", path, size - pos, vocab_size);
		goto out;
	}
	/* of duplicate pieces the lowest id is found */
	if (tok__build_table(t, true))
		goto nomem;
	t->space_id = tok__lookup(t, " ", 1);
	t->unk = 0;
	t->bos = TOK_BOS_ID;
	t->eos = TOK_EOS_ID;
	t->type[0] = TOK__UNKNOWN;
	t->type[TOK_BOS_ID] = TOK__CONTROL;
	t->type[TOK_EOS_ID] = TOK__CONTROL;
	t->prefix[t->n_prefix++] = TOK_BOS_ID;
	snprintf(t->pre_name, sizeof t->pre_name, "llama2c");
	tok__update_policy(t);
	rc = 0;
	goto out;

nomem:
	rc = err_set(ERR_NOMEM, "tokenizer '%s': out of memory", path);
out:
	free(data);
	if (rc) {
		tok_free(t);
		t = NULL;
	}
	if (err)
		*err = rc;
	return t;
}

/* ------------------------------------------------------------------------
 * Encoding
 *
 * run.c merges, while any exists, the adjacent pair whose concatenation is
 * a piece with the highest score (> -1e10), the leftmost one among equal
 * scores, rescanning the whole sequence after every merge: O(n^2) lookups.
 *
 * Here the tokens form a doubly linked list over their initial positions
 * (merging removes the right token, so list order = position order) and a
 * max-heap holds candidate pairs keyed by (score desc, left position asc),
 * which is exactly run.c's choice. A merge changes only the two pairs
 * around the merged token; they are pushed anew, and entries that no longer
 * describe adjacent tokens with the recorded ids are dropped when they
 * reach the top. Every current mergeable pair always has a live entry, so
 * the top live entry is the pair run.c would pick. O(n log n) overall.
 */

/* Push the pair (left, right) if their concatenation is a piece run.c
 * would merge. */
static void
push_pair(const struct tokenizer *t, struct tok__heap *h, const int32_t *tok,
          int32_t left, int32_t right)
{
	int32_t a = tok[left], b = tok[right];
	uint64_t hash = tok__fnv(t->hash[a], t->blob + t->off[b], t->len[b]);
	int id = tok__lookup2(t, hash, t->blob + t->off[a], t->len[a],
	                      t->blob + t->off[b], t->len[b]);
	if (id < 0 || !(t->score[id] > TOK_MERGE_FLOOR))
		return;
	tok__heap_push(h, (struct tok__pair){ t->score[id], left, right, a, b, id });
}

static int32_t
byte_id(const struct tokenizer *t, unsigned char byte)
{
	/* run.c assumes all 256 byte pieces exist; a smaller vocab gets <unk> */
	int id = TOK_BYTE0_ID + byte;
	return id < t->vocab_size ? id : 0;
}

int
tok__llama2c_encode(const struct tokenizer *t, const char *text, size_t len,
                    bool add_bos, struct tok__ids *out)
{
	int rc;
	int32_t *tok = NULL, *next = NULL, *prev = NULL;
	int32_t n = 0;
	struct tok__heap heap = { NULL, 0 };
	const unsigned char *s = (const unsigned char *)text;
	size_t max, heap_bytes, cp_len = 0;

	/* at most one id per byte, plus BOS and the dummy prefix */
	if (len > (size_t)INT32_MAX / 3 - 2)
		return err_set(ERR_RANGE, "tok_encode: text of %zu bytes is too long",
		               len);
	max = len + 2;
	if (ckd_mul3_size(&heap_bytes, 3, max, sizeof *heap.v))
		return err_set(ERR_RANGE, "tok_encode: text of %zu bytes is too long",
		               len);
	tok = malloc(max * sizeof *tok);                /* (max) ids, -1 = gone */
	next = malloc(max * sizeof *next);              /* (max) list links     */
	prev = malloc(max * sizeof *prev);
	/* max - 1 initial pairs, and each merge (at most max - 1) adds two */
	heap.v = malloc(heap_bytes);
	if (!tok || !next || !prev || !heap.v) {
		rc = err_set(ERR_NOMEM, "tok_encode: out of memory");
		goto out;
	}

	if (add_bos)
		tok[n++] = TOK_BOS_ID;
	/* add_dummy_prefix: run.c looks " " up and uses it unchecked */
	if (len > 0 && t->space_id >= 0)
		tok[n++] = t->space_id;

	/* code points: a lead (or ASCII, or stray) byte and up to three
	 * following continuation bytes, as run.c groups them */
	for (size_t i = 0; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			cp_len = 0;
		cp_len++;
		if (i + 1 < len && (s[i + 1] & 0xC0) == 0x80 && cp_len < 4)
			continue;
		const char *cp = text + i + 1 - cp_len;
		int id = tok__lookup(t, cp, cp_len);
		if (id >= 0) {
			tok[n++] = id;
		} else {
			/* byte fallback */
			for (size_t b = 0; b < cp_len; b++)
				tok[n++] = byte_id(t, (unsigned char)cp[b]);
		}
		cp_len = 0;
	}

	for (int32_t i = 0; i < n; i++) {
		prev[i] = i - 1;
		next[i] = i + 1 < n ? i + 1 : -1;
	}
	for (int32_t i = 0; i + 1 < n; i++)
		push_pair(t, &heap, tok, i, i + 1);
	while (heap.n > 0) {
		struct tok__pair p = tok__heap_pop(&heap);
		/* stale: a side was merged away or changed id since the push */
		if (tok[p.left] != p.a || tok[p.right] != p.b ||
		    next[p.left] != p.right)
			continue;
		tok[p.left] = p.c;
		tok[p.right] = -1;
		int32_t after = next[p.right];
		next[p.left] = after;
		if (after >= 0)
			prev[after] = p.left;
		if (prev[p.left] >= 0)
			push_pair(t, &heap, tok, prev[p.left], p.left);
		if (after >= 0)
			push_pair(t, &heap, tok, p.left, after);
	}

	/* position 0 is never a right-hand side, so the list starts there */
	rc = 0;
	for (int32_t i = n > 0 ? 0 : -1; i >= 0 && !rc; i = next[i])
		rc = tok__ids_push(out, tok[i]);
out:
	free(tok);
	free(next);
	free(prev);
	free(heap.v);
	return rc;
}

/* ------------------------------------------------------------------------
 * Decoding
 */

static int
hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Is p[0..n) a byte piece "<0xNN>"? run.c uses sscanf("<0x%02hhX>"), which
 * also accepts malformed variants such as "<0x4>" or "<0x41junk"; only the
 * exact six-byte form is a byte here. */
static bool
byte_piece(const char *p, size_t n, char *byte)
{
	if (n != 6 || memcmp(p, "<0x", 3) != 0 || p[5] != '>')
		return false;
	int hi = hex_digit(p[3]), lo = hex_digit(p[4]);
	if (hi < 0 || lo < 0)
		return false;
	*byte = (char)(hi << 4 | lo);
	return true;
}

int
tok__llama2c_decode(const struct tokenizer *t, int prev_id, int id,
                    const char **out, size_t *out_len, char *byte)
{
	const char *p = t->blob + t->off[id];
	size_t n = t->len[id];
	/* sentencepiece drops the dummy-prefix space after BOS (run.c PR #89) */
	if (prev_id == TOK_BOS_ID && n > 0 && p[0] == ' ') {
		p++;
		n--;
	}
	if (byte_piece(p, n, byte)) {
		p = byte;
		n = 1;
	}
	*out = p;
	*out_len = n;
	return 0;
}

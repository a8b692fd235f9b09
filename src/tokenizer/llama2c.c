/*
 * llama2c.c — the llama2.c tokenizer.bin format: a checked loader, an
 * encoder that gives exactly llama2.c run.c's encode() ids (pieces found
 * through a hash table, merges driven by a heap over adjacent pairs instead
 * of run.c's quadratic rescans) and run.c's decode().
 */
#include "tokenizer/tokenizer.h"
#include "util/util.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define TOK_BOS_ID 1
#define TOK_EOS_ID 2
#define TOK_BYTE0_ID 3                /* id of the piece <0x00>            */
#define TOK_MIN_VOCAB 3               /* <unk>, BOS, EOS                   */
#define TOK_MAX_VOCAB (1 << 24)
#define TOK_MAX_PIECE (1 << 16)       /* longest piece accepted, in bytes  */

/* run.c starts its search with `float best_score = -1e10;` and merges only
 * pairs scoring strictly more, so pieces at or below it (or NaN) never merge */
#define TOK_MERGE_FLOOR (-1e10f)

struct tokenizer {
	enum tok_kind kind;
	int vocab_size;
	int max_token_length;   /* as stored in the file; not relied upon    */
	char *blob;             /* every piece, each followed by a NUL       */
	size_t *off;            /* (vocab_size) start of each piece in blob  */
	uint32_t *len;          /* (vocab_size) piece length in bytes        */
	float *score;           /* (vocab_size) merge score                  */
	uint64_t *hash;         /* (vocab_size) FNV-1a of the piece          */
	int32_t *table;         /* (table_mask + 1) piece ids, -1 = empty    */
	size_t table_mask;
	int space_id;           /* id of " " (the dummy prefix), -1 if none  */
};

/* ------------------------------------------------------------------------
 * Piece lookup: open addressing over FNV-1a hashes. The hash of a
 * concatenation a|b continues from the stored hash of a, so a merge
 * candidate is looked up without building the joined string.
 */

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME 0x100000001b3ull

static uint64_t
fnv_more(uint64_t h, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= FNV_PRIME;
	}
	return h;
}

/* The id of the piece equal to a|b (hash h of a|b), -1 if none. With
 * duplicate pieces in the file this is the lowest id (run.c's bsearch
 * returns an unspecified one of them). */
static int
lookup2(const struct tokenizer *t, uint64_t h, const char *a, size_t la,
        const char *b, size_t lb)
{
	for (size_t i = (size_t)h & t->table_mask;; i = (i + 1) & t->table_mask) {
		int32_t id = t->table[i];
		if (id < 0)
			return -1;
		if (t->hash[id] != h || t->len[id] != la + lb)
			continue;
		const char *p = t->blob + t->off[id];
		if (memcmp(p, a, la) == 0 && memcmp(p + la, b, lb) == 0)
			return id;
	}
}

static int
lookup(const struct tokenizer *t, const char *s, size_t n)
{
	uint64_t h = fnv_more(FNV_OFFSET, (const unsigned char *)s, n);
	return lookup2(t, h, s, n, "", 0);
}

static int
build_table(struct tokenizer *t)
{
	size_t cap = 16;
	while (cap < 2 * (size_t)t->vocab_size)
		cap *= 2;
	t->table = malloc(cap * sizeof *t->table);
	if (!t->table)
		return ERR_NOMEM;
	memset(t->table, 0xff, cap * sizeof *t->table);  /* all -1 */
	t->table_mask = cap - 1;
	for (int id = 0; id < t->vocab_size; id++) {
		const char *p = t->blob + t->off[id];
		t->hash[id] = fnv_more(FNV_OFFSET, (const unsigned char *)p,
		                       t->len[id]);
		if (lookup(t, p, t->len[id]) >= 0)
			continue;  /* duplicate piece: the first id keeps it */
		size_t i = (size_t)t->hash[id] & t->table_mask;
		while (t->table[i] >= 0)
			i = (i + 1) & t->table_mask;
		t->table[i] = id;
	}
	return 0;
}

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
	size_t size = 0, n = (size_t)vocab_size, blob_cap, pos = 4, blob_len = 0;
	const unsigned char *d;
	struct tokenizer *t = NULL;

	if (vocab_size != 0 &&
	    (vocab_size < TOK_MIN_VOCAB || vocab_size > TOK_MAX_VOCAB)) {
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
		while (size - p >= 8 && vocab_size < TOK_MAX_VOCAB) {
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
		n = (size_t)vocab_size;
	}

	t = calloc(1, sizeof *t);
	if (!t || ckd_add_size(&blob_cap, size, n))
		goto nomem;
	t->kind = TOK_LLAMA2C;
	t->vocab_size = vocab_size;
	t->max_token_length = rd_i32le(d);
	t->space_id = -1;
	/* the pieces' bytes all come from the file: size + one NUL each */
	t->blob = malloc(blob_cap);
	t->off = malloc(n * sizeof *t->off);
	t->len = malloc(n * sizeof *t->len);
	t->score = malloc(n * sizeof *t->score);
	t->hash = malloc(n * sizeof *t->hash);
	if (!t->blob || !t->off || !t->len || !t->score || !t->hash)
		goto nomem;

	for (int i = 0; i < vocab_size; i++) {
		if (size - pos < 8) {
			rc = err_set(ERR_FORMAT, "tokenizer '%s': truncated at record %d",
			             path, i);
			goto out;
		}
		float score = rd_f32le(d + pos);
		int32_t len = rd_i32le(d + pos + 4);
		pos += 8;
		if (len < 0 || len > TOK_MAX_PIECE) {
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
		t->len[i] = (uint32_t)len;
		t->off[i] = blob_len;
		memcpy(t->blob + blob_len, d + pos, (size_t)len);
		blob_len += (size_t)len;
		t->blob[blob_len++] = '\0';
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
	if (build_table(t))
		goto nomem;
	t->space_id = lookup(t, " ", 1);
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

void
tok_free(struct tokenizer *t)
{
	if (!t)
		return;
	free(t->blob);
	free(t->off);
	free(t->len);
	free(t->score);
	free(t->hash);
	free(t->table);
	free(t);
}

/* ------------------------------------------------------------------------
 * Accessors
 */

enum tok_kind
tok_kind(const struct tokenizer *t)
{
	return t->kind;
}

int
tok_vocab_size(const struct tokenizer *t)
{
	return t->vocab_size;
}

int
tok_bos(const struct tokenizer *t)
{
	return t->vocab_size > TOK_BOS_ID ? TOK_BOS_ID : -1;
}

int
tok_eos(const struct tokenizer *t)
{
	return t->vocab_size > TOK_EOS_ID ? TOK_EOS_ID : -1;
}

const char *
tok_piece(const struct tokenizer *t, int id)
{
	if (id < 0 || id >= t->vocab_size)
		return NULL;
	return t->blob + t->off[id];
}

size_t
tok_piece_len(const struct tokenizer *t, int id)
{
	if (id < 0 || id >= t->vocab_size)
		return 0;
	return t->len[id];
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

struct pair {
	float score;    /* score of the merged piece            */
	int32_t left;   /* position of the left token           */
	int32_t right;  /* position of the right token          */
	int32_t lid;    /* ids of left and right when pushed    */
	int32_t rid;
	int32_t mid;    /* id of the merged piece               */
};

struct pair_heap {
	struct pair *v;
	size_t n;
};

/* a goes before b: higher score, then leftmost. Plain float comparison,
 * so -0 and +0 tie as they do in run.c's `>` test. */
static bool
pair_before(const struct pair *a, const struct pair *b)
{
	if (a->score != b->score)
		return a->score > b->score;
	return a->left < b->left;
}

static void
heap_push(struct pair_heap *h, struct pair p)
{
	size_t i = h->n++;
	while (i > 0) {
		size_t up = (i - 1) / 2;
		if (!pair_before(&p, &h->v[up]))
			break;
		h->v[i] = h->v[up];
		i = up;
	}
	h->v[i] = p;
}

static struct pair
heap_pop(struct pair_heap *h)
{
	struct pair top = h->v[0];
	struct pair last = h->v[--h->n];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= h->n)
			break;
		if (c + 1 < h->n && pair_before(&h->v[c + 1], &h->v[c]))
			c++;
		if (!pair_before(&h->v[c], &last))
			break;
		h->v[i] = h->v[c];
		i = c;
	}
	if (h->n > 0)
		h->v[i] = last;
	return top;
}

/* Push the pair (left, right) if their concatenation is a piece run.c
 * would merge. */
static void
push_pair(const struct tokenizer *t, struct pair_heap *h, const int32_t *tok,
          int32_t left, int32_t right)
{
	int32_t a = tok[left], b = tok[right];
	uint64_t hash = fnv_more(t->hash[a],
	                         (const unsigned char *)t->blob + t->off[b],
	                         t->len[b]);
	int id = lookup2(t, hash, t->blob + t->off[a], t->len[a],
	                 t->blob + t->off[b], t->len[b]);
	if (id < 0 || !(t->score[id] > TOK_MERGE_FLOOR))
		return;
	heap_push(h, (struct pair){ t->score[id], left, right, a, b, id });
}

static int32_t
byte_id(const struct tokenizer *t, unsigned char byte)
{
	/* run.c assumes all 256 byte pieces exist; a smaller vocab gets <unk> */
	int id = TOK_BYTE0_ID + byte;
	return id < t->vocab_size ? id : 0;
}

int
tok_encode(const struct tokenizer *t, const char *text, size_t len,
           bool add_bos, int32_t *ids, int cap, int *n_ids)
{
	int rc;
	int32_t *tok = NULL, *next = NULL, *prev = NULL;
	int32_t n = 0, n_left, k = 0;
	struct pair_heap heap = { NULL, 0 };
	const unsigned char *s = (const unsigned char *)text;
	size_t max, heap_bytes, cp_len = 0;

	*n_ids = 0;
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
		int id = lookup(t, cp, cp_len);
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
	n_left = n;
	while (heap.n > 0) {
		struct pair p = heap_pop(&heap);
		/* stale: a side was merged away or changed id since the push */
		if (tok[p.left] != p.lid || tok[p.right] != p.rid ||
		    next[p.left] != p.right)
			continue;
		tok[p.left] = p.mid;
		tok[p.right] = -1;
		int32_t after = next[p.right];
		next[p.left] = after;
		if (after >= 0)
			prev[after] = p.left;
		n_left--;
		if (prev[p.left] >= 0)
			push_pair(t, &heap, tok, prev[p.left], p.left);
		if (after >= 0)
			push_pair(t, &heap, tok, p.left, after);
	}

	/* position 0 is never a right-hand side, so the list starts there */
	for (int32_t i = n > 0 ? 0 : -1; i >= 0; i = next[i]) {
		if (k < cap)
			ids[k] = tok[i];
		k++;
	}
	*n_ids = n_left;
	rc = n_left > cap ? err_set(ERR_RANGE, "tok_encode: %d ids do not fit in %d",
	                            (int)n_left, cap)
	                  : 0;
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
tok_decode(const struct tokenizer *t, int prev_id, int id, char *buf,
           size_t size)
{
	if (size > 0)
		buf[0] = '\0';
	if (id < 0 || id >= t->vocab_size)
		return -1;
	const char *p = t->blob + t->off[id];
	size_t n = t->len[id];
	char byte;
	/* sentencepiece drops the dummy-prefix space after BOS (run.c PR #89) */
	if (prev_id == TOK_BOS_ID && n > 0 && p[0] == ' ') {
		p++;
		n--;
	}
	if (byte_piece(p, n, &byte)) {
		p = &byte;
		n = 1;
	}
	if (size > 0) {
		size_t k = n < size - 1 ? n : size - 1;
		memcpy(buf, p, k);
		buf[k] = '\0';
	}
	return (int)n;
}

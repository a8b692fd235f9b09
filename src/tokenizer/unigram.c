/*
 * unigram.c — SentencePiece's unigram model as Hugging Face tokenizers
 * runs it from a tokenizer.json (models/unigram/model.rs,
 * encode_optimized; pre_tokenizers/whitespace.rs, metaspace.rs):
 *
 *   1. pre-tokenize: WhitespaceSplit drops whitespace and keeps the words
 *      between it; Metaspace turns ' ' into "▁", prepends "▁" to a
 *      pre-token that does not start with it (prepend_scheme "always";
 *      "first": only to the one at offset 0 of the text; "never") and
 *      cuts before every "▁" (split: true, MergedWithNext)
 *   2. per pre-token, Viterbi over character positions: best[e] = the
 *      highest total score of a segmentation of the first e bytes, by
 *      pieces tried from each start in order of length; a later candidate
 *      replaces an earlier one only with a strictly higher total. A
 *      character that starts no single-character piece also gets an
 *      unk_id edge scored min_score - 10.
 *   3. backtrack; adjacent unk edges fuse into one string, which becomes
 *      its own piece if there is one, else its <0xNN> byte pieces
 *      (byte_fallback, all of them must exist), else unk_id.
 * Scores are doubles, as HF reads them. Invalid UTF-8 bytes count as
 * one-byte characters that no piece covers (HF only takes valid text).
 */
#include "tokenizer/tok_internal.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UNK_PENALTY 10.0   /* HF / SentencePiece kUnkPenalty */

void
tok__uni_release(struct tokenizer *t)
{
	free(t->uni_score);
	free(t->uni_table);
	t->uni_score = NULL;
	t->uni_table = NULL;
}

int
tok__uni_build(struct tokenizer *t)
{
	size_t cap = 16;
	double min = 0.0;
	while (cap < 2 * (size_t)t->uni_n_model)
		cap *= 2;
	free(t->uni_table);
	t->uni_table = malloc(cap * sizeof *t->uni_table);
	if (!t->uni_table)
		return err_set(ERR_NOMEM, "tokenizer: out of memory");
	memset(t->uni_table, 0xff, cap * sizeof *t->uni_table);  /* all -1 */
	t->uni_mask = cap - 1;
	t->uni_max_len = 0;
	for (int id = 0; id < t->uni_n_model; id++) {
		const char *p = t->blob + t->off[id];
		if (id == 0 || t->uni_score[id] < min)
			min = t->uni_score[id];
		if (t->len[id] == 0)
			continue;
		if (t->len[id] > t->uni_max_len)
			t->uni_max_len = t->len[id];
		uint64_t h = tok__fnv(TOK__FNV_OFFSET, p, t->len[id]);
		size_t i = (size_t)h & t->uni_mask;
		for (;; i = (i + 1) & t->uni_mask) {
			int32_t o = t->uni_table[i];
			if (o < 0 || (t->len[o] == t->len[id] &&
			              memcmp(t->blob + t->off[o], p, t->len[id]) == 0))
				break;
		}
		t->uni_table[i] = id;  /* a duplicate: the last id wins */
	}
	t->uni_unk_score = min - UNK_PENALTY;
	return 0;
}

/* The model piece equal to s[0..n) whose FNV hash is h, -1 if none. */
static int
uni_lookup(const struct tokenizer *t, uint64_t h, const char *s, size_t n)
{
	for (size_t i = (size_t)h & t->uni_mask;; i = (i + 1) & t->uni_mask) {
		int32_t id = t->uni_table[i];
		if (id < 0)
			return -1;
		if (t->len[id] == n && memcmp(t->blob + t->off[id], s, n) == 0)
			return id;
	}
}

/* Rust's char::is_whitespace (the Unicode White_Space property). */
static bool
is_ws(int32_t c)
{
	return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 ||
	       c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
	       c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
	       c == 0x3000;
}

/* Byte length of the character at s[0..n): invalid bytes count as one. */
static size_t
char_len(const char *s, size_t n)
{
	size_t adv;
	tok__utf8_decode((const unsigned char *)s, n, &adv);
	return adv;
}

/* One lattice position: the best segmentation of the bytes before it. */
struct node {
	double score;
	int32_t start;   /* where its last piece starts; -1: not reached */
	int32_t id;
};

/* Scratch shared by the segments of one fragment. */
struct work {
	struct node *best;   /* (cap + 1) */
	int32_t *path;       /* (cap) piece starts, backtracked */
	size_t cap;
};

/* Push the id of the fused unknown run s[0..n): its own piece, its bytes
 * (byte_fallback) or unk. */
static int
push_unknown(const struct tokenizer *t, const char *s, size_t n, struct tok__ids *out)
{
	int id = uni_lookup(t, tok__fnv(TOK__FNV_OFFSET, s, n), s, n);
	if (id >= 0)
		return tok__ids_push(out, id);
	if (t->uni_byte_fallback) {
		bool all = true;
		for (size_t i = 0; i < n && all; i++) {
			char b[8];
			snprintf(b, sizeof b, "<0x%02X>", (unsigned char)s[i]);
			all = uni_lookup(t, tok__fnv(TOK__FNV_OFFSET, b, 6), b, 6) >= 0;
		}
		if (all) {
			for (size_t i = 0; i < n; i++) {
				char b[8];
				snprintf(b, sizeof b, "<0x%02X>", (unsigned char)s[i]);
				int rc = tok__ids_push(out, uni_lookup(t, tok__fnv(TOK__FNV_OFFSET,
				                                                   b, 6), b, 6));
				if (rc)
					return rc;
			}
			return 0;
		}
	}
	return tok__ids_push(out, t->unk);
}

/* Viterbi over one segment s[0..n) (n <= w->cap). */
static int
segment(const struct tokenizer *t, const char *s, size_t n, struct work *w,
        struct tok__ids *out)
{
	struct node *best = w->best;     /* (n + 1) */
	const size_t max_len = t->uni_max_len;
	int rc;

	for (size_t i = 0; i <= n; i++)
		best[i] = (struct node){ 0.0, -1, -1 };
	for (size_t at = 0; at < n;) {
		const double base = best[at].score;
		const size_t mblen = char_len(s + at, n - at);
		bool single = false;
		uint64_t h = TOK__FNV_OFFSET;
		/* every piece starting here, shortest first (HF's trie order) */
		for (size_t len = 1; len <= n - at && len <= max_len; len++) {
			h = tok__fnv(h, s + at + len - 1, 1);
			int id = uni_lookup(t, h, s + at, len);
			if (id < 0)
				continue;
			double cand = t->uni_score[id] + base;
			struct node *e = &best[at + len];
			if (e->start < 0 || cand > e->score)
				*e = (struct node){ cand, (int32_t)at, id };
			if (len == mblen)
				single = true;
		}
		if (!single) {
			if (t->unk < 0)
				return err_set(ERR_UNSUPPORTED, "tokenizer: no piece covers the "
				               "character at byte %zu of '%.*s' and the unigram model "
				               "has no unk_id", at, (int)(n < 40 ? n : 40), s);
			double cand = t->uni_unk_score + base;
			struct node *e = &best[at + mblen];
			if (e->start < 0 || cand > e->score)
				*e = (struct node){ cand, (int32_t)at, t->unk };
		}
		at += mblen;
	}
	/* backtrack: the starts of the best path's pieces, last first */
	size_t np = 0;
	for (size_t e = n; e > 0; e = (size_t)best[e].start)
		w->path[np++] = (int32_t)e;
	/* forward, fusing runs of unk edges */
	size_t unk_from = SIZE_MAX;
	for (size_t k = np; k-- > 0;) {
		size_t e = (size_t)w->path[k], b = (size_t)best[e].start;
		if (best[e].id == t->unk) {
			if (unk_from == SIZE_MAX)
				unk_from = b;
			continue;
		}
		if (unk_from != SIZE_MAX) {
			if ((rc = push_unknown(t, s + unk_from, b - unk_from, out)) != 0)
				return rc;
			unk_from = SIZE_MAX;
		}
		if ((rc = tok__ids_push(out, best[e].id)) != 0)
			return rc;
	}
	if (unk_from != SIZE_MAX)
		return push_unknown(t, s + unk_from, n - unk_from, out);
	return 0;
}

/* One pre-token p[0..n) through Metaspace (when configured) and Viterbi;
 * buf has room for 3n + 8 bytes. */
static int
pre_token(const struct tokenizer *t, const char *p, size_t n, bool first, char *buf,
          struct work *w, struct tok__ids *out)
{
	const char *rep = t->uni_rep;
	const size_t rl = t->uni_rep_len;
	size_t m = 0;
	int rc;

	if (!t->uni_metaspace)
		return n ? segment(t, p, n, w, out) : 0;
	/* ' ' -> "▁", then maybe the prefix */
	bool starts = n >= 1 && (p[0] == ' ' || (n >= rl && memcmp(p, rep, rl) == 0));
	if (!starts && (t->uni_prepend == TOK__PREPEND_ALWAYS ||
	                (t->uni_prepend == TOK__PREPEND_FIRST && first))) {
		memcpy(buf, rep, rl);
		m = rl;
	}
	for (size_t i = 0; i < n; i++) {
		if (p[i] == ' ') {
			memcpy(buf + m, rep, rl);
			m += rl;
		} else {
			buf[m++] = p[i];
		}
	}
	if (!t->uni_meta_split)
		return m ? segment(t, buf, m, w, out) : 0;
	/* cut before every replacement character except at the start */
	size_t from = 0;
	for (size_t i = 1; i + rl <= m; i++) {
		if (memcmp(buf + i, rep, rl) != 0)
			continue;
		if ((rc = segment(t, buf + from, i - from, w, out)) != 0)
			return rc;
		from = i;
		i += rl - 1;
	}
	return m > from ? segment(t, buf + from, m - from, w, out) : 0;
}

int
tok__uni_encode(const struct tokenizer *t, const char *text, size_t len, bool at_start,
                struct tok__ids *out)
{
	struct work w = { NULL, NULL, 0 };
	char *buf = NULL;
	size_t cap;
	int rc = 0;

	if (len == 0)
		return 0;
	/* a pre-token grows by the prefix and 2 bytes per ' ' at most */
	if (ckd_mul_size(&cap, len, 3) || ckd_add_size(&cap, cap, 8) ||
	    cap > SIZE_MAX / sizeof *w.best - 1 || cap > (size_t)INT32_MAX)
		return err_set(ERR_RANGE, "tok_encode: text of %zu bytes is too long", len);
	buf = malloc(cap);
	w.best = malloc((cap + 1) * sizeof *w.best);
	w.path = malloc(cap * sizeof *w.path);
	w.cap = cap;
	if (!buf || !w.best || !w.path) {
		rc = err_set(ERR_NOMEM, "tokenizer: out of memory");
		goto out;
	}
	if (!t->uni_ws_split) {
		rc = pre_token(t, text, len, at_start, buf, &w, out);
		goto out;
	}
	/* WhitespaceSplit: the words between runs of whitespace */
	for (size_t i = 0; i < len && !rc;) {
		size_t adv;
		int32_t c = tok__utf8_decode((const unsigned char *)text + i, len - i, &adv);
		if (is_ws(c)) {
			i += adv;
			continue;
		}
		size_t j = i + adv;
		while (j < len) {
			c = tok__utf8_decode((const unsigned char *)text + j, len - j, &adv);
			if (is_ws(c))
				break;
			j += adv;
		}
		rc = pre_token(t, text + i, j - i, at_start && i == 0, buf, &w, out);
		i = j;
	}
out:
	free(buf);
	free(w.best);
	free(w.path);
	return rc;
}

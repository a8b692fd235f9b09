/*
 * wordpiece.c — BERT's WordPiece as Hugging Face tokenizers runs it:
 *   BertNormalizer   clean_text (drop NUL, U+FFFD and Cc/Cf/Co characters,
 *                    whitespace -> ' '), handle_chinese_chars (spaces
 *                    around CJK ideographs), strip_accents (NFD, drop Mn),
 *                    lowercase (char-wise, as Rust's to_lowercase)
 *   BertPreTokenizer split on whitespace, every punctuation character a
 *                    word of its own
 *   WordPiece        per word, greedy longest match from the left, "##"
 *                    before non-initial pieces; a word longer than
 *                    max_input_chars_per_word (100) or with an unmatched
 *                    rest becomes [UNK] as a whole
 * Character classes come from utf8proc; the whitespace set is Rust's
 * char::is_whitespace and "control" is unicode_categories' is_other()
 * (Cc, Cf, Co), both as HF tokenizers uses them.
 */
#include "tokenizer/tok_internal.h"
#include "util/util.h"

#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#define PHANTOM "\xe2\x96\x81"       /* U+2581, llama.cpp's word-start mark */

void
tok__wp_defaults(struct tokenizer *t)
{
	t->wp_lowercase = true;
	t->wp_strip_accents = true;
	t->wp_clean_text = true;
	t->wp_chinese = true;
	t->wp_max_chars = 100;
	memcpy(t->wp_prefix, "##", 3);
	t->wp_prefix_len = 2;
}

/* llama.cpp's convert_hf_to_gguf.py writes BERT pieces as
 *   "[X]" unchanged, "##x" -> "x", any other "x" -> "▁x";
 * undo that when the vocabulary has "▁" words and no "##" pieces. */
int
tok__wp_from_phantom(struct tokenizer *t)
{
	int n_hash = 0, n_phantom = 0, rc;
	char *buf = NULL;

	for (int id = 0; id < t->vocab_size; id++) {
		const char *p = t->blob + t->off[id];
		if (t->len[id] >= 2 && memcmp(p, "##", 2) == 0)
			n_hash++;
		if (t->len[id] >= 3 && memcmp(p, PHANTOM, 3) == 0)
			n_phantom++;
	}
	if (n_hash > 0 || n_phantom == 0)
		return 0;
	buf = malloc(t->max_piece_len + 3);
	if (!buf)
		return err_set(ERR_NOMEM, "tokenizer: out of memory");
	for (int id = 0; id < t->vocab_size; id++) {
		const char *p = t->blob + t->off[id];
		size_t n = t->len[id];
		if (n == 0 || (n >= 2 && p[0] == '[' && p[n - 1] == ']'))
			continue;
		if (n >= 3 && memcmp(p, PHANTOM, 3) == 0) {
			/* the piece shrinks: rewrite it in place */
			memmove(t->blob + t->off[id], p + 3, n - 3);
			t->len[id] = (uint32_t)(n - 3);
			t->blob[t->off[id] + n - 3] = '\0';
			continue;
		}
		memcpy(buf, "##", 2);
		memcpy(buf + 2, p, n);
		if ((rc = tok__set_piece(t, id, buf, n + 2)) != 0) {
			free(buf);
			return rc;
		}
	}
	free(buf);
	return 0;
}

/* ------------------------------------------------------------------------
 * Character classes
 */

/* Rust's char::is_whitespace (the Unicode White_Space property). */
static bool
is_ws(int32_t c)
{
	return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 ||
	       c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
	       c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
	       c == 0x3000;
}

/* BertNormalizer's is_control: \t \n \r are whitespace, else Cc Cf Co. */
static bool
is_control(int32_t c)
{
	if (c == '\t' || c == '\n' || c == '\r')
		return false;
	utf8proc_category_t cat = utf8proc_category(c);
	return cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF ||
	       cat == UTF8PROC_CATEGORY_CO;
}

static bool
is_chinese(int32_t c)
{
	return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
	       (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
	       (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
	       (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* BertPreTokenizer's is_bert_punc: ASCII punctuation or Unicode P*. */
static bool
is_punct(int32_t c)
{
	if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
	    (c >= 123 && c <= 126))
		return true;
	switch (utf8proc_category(c)) {
	case UTF8PROC_CATEGORY_PC: case UTF8PROC_CATEGORY_PD:
	case UTF8PROC_CATEGORY_PS: case UTF8PROC_CATEGORY_PE:
	case UTF8PROC_CATEGORY_PI: case UTF8PROC_CATEGORY_PF:
	case UTF8PROC_CATEGORY_PO:
		return true;
	default:
		return false;
	}
}

/* ------------------------------------------------------------------------
 * Normalization into a code point array
 */

struct cps {
	int32_t *v;
	size_t n, cap;
};

static int
cps_push(struct cps *c, int32_t cp)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 256;
		int32_t *v = realloc(c->v, cap * sizeof *v);
		if (!v)
			return err_set(ERR_NOMEM, "tok_encode: out of memory");
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n++] = cp;
	return 0;
}

/* NFD of the code points, then without Mn (do_strip_accents). */
static int
strip_accents(struct cps *c)
{
	size_t bytes = 0, k = 0;
	char *u;
	utf8proc_ssize_t m;
	int32_t *d;
	int rc = 0;

	for (size_t i = 0; i < c->n; i++)
		bytes += 4;
	u = malloc(bytes + 1);
	if (!u)
		return err_set(ERR_NOMEM, "tok_encode: out of memory");
	for (size_t i = 0; i < c->n; i++)
		k += tok__utf8_encode((uint32_t)c->v[i], u + k);
	m = utf8proc_decompose((const utf8proc_uint8_t *)u, (utf8proc_ssize_t)k,
	                       NULL, 0, UTF8PROC_DECOMPOSE);
	if (m < 0) {
		free(u);
		return 0;  /* cannot happen on valid code points: keep as is */
	}
	d = malloc(((size_t)m + 1) * sizeof *d);
	if (!d) {
		free(u);
		return err_set(ERR_NOMEM, "tok_encode: out of memory");
	}
	m = utf8proc_decompose((const utf8proc_uint8_t *)u, (utf8proc_ssize_t)k, d,
	                       m, UTF8PROC_DECOMPOSE);
	free(u);
	if (m < 0) {
		free(d);
		return 0;
	}
	c->n = 0;
	for (utf8proc_ssize_t i = 0; i < m && !rc; i++)
		if (utf8proc_category(d[i]) != UTF8PROC_CATEGORY_MN)
			rc = cps_push(c, d[i]);
	free(d);
	return rc;
}

static int
normalize(const struct tokenizer *t, const char *text, size_t len,
          struct cps *c)
{
	const unsigned char *s = (const unsigned char *)text;
	int rc = 0;

	for (size_t i = 0; i < len && !rc;) {
		size_t adv;
		int32_t cp = tok__utf8_decode(s + i, len - i, &adv);
		i += adv;
		if (cp < 0)
			cp = 0xFFFD;  /* what a lossy UTF-8 reader would hand HF */
		if (t->wp_clean_text) {
			if (cp == 0 || cp == 0xFFFD || is_control(cp))
				continue;
			if (is_ws(cp))
				cp = ' ';
		}
		if (t->wp_chinese && is_chinese(cp)) {
			if ((rc = cps_push(c, ' ')) || (rc = cps_push(c, cp)))
				break;
			rc = cps_push(c, ' ');
			continue;
		}
		rc = cps_push(c, cp);
	}
	if (!rc && t->wp_strip_accents)
		rc = strip_accents(c);
	if (!rc && t->wp_lowercase) {
		/* Rust's char::to_lowercase: simple mappings, except U+0130
		 * which becomes "i" + U+0307 */
		size_t extra = 0, n = c->n;
		for (size_t i = 0; i < n; i++)
			extra += c->v[i] == 0x130;
		for (size_t i = 0; i < extra && !rc; i++)
			rc = cps_push(c, 0);
		for (size_t i = n, j = c->n; !rc && i-- > 0;) {
			if (c->v[i] == 0x130) {
				c->v[--j] = 0x307;
				c->v[--j] = 'i';
			} else {
				c->v[--j] = utf8proc_tolower(c->v[i]);
			}
		}
	}
	return rc;
}

/* ------------------------------------------------------------------------
 * WordPiece
 */

/* Greedy longest-match of one word (UTF-8 in w[0..n), nch characters). */
static int
wordpiece(const struct tokenizer *t, const char *w, size_t n, size_t nch,
          struct tok__ids *out)
{
	size_t saved = out->n, start = 0;
	int rc;
	uint64_t hprefix = tok__fnv(TOK__FNV_OFFSET, t->wp_prefix,
	                            t->wp_prefix_len);

	if (nch > (size_t)t->wp_max_chars)
		goto unk;
	while (start < n) {
		size_t plen = start > 0 ? t->wp_prefix_len : 0;
		size_t end = n;
		int id = -1;
		/* longer candidates than the longest piece cannot match */
		if (t->max_piece_len < plen) {
			end = start;
		} else if (end - start > t->max_piece_len - plen) {
			end = start + (t->max_piece_len - plen);
			while (end > start && ((unsigned char)w[end] & 0xC0) == 0x80)
				end--;
		}
		while (end > start) {
			uint64_t h = tok__fnv(start > 0 ? hprefix : TOK__FNV_OFFSET,
			                      w + start, end - start);
			id = tok__lookup2(t, h, t->wp_prefix, plen, w + start,
			                  end - start);
			if (id >= 0)
				break;
			/* one character back */
			do
				end--;
			while (end > start && ((unsigned char)w[end] & 0xC0) == 0x80);
		}
		if (id < 0)
			goto unk;
		if ((rc = tok__ids_push(out, id)) != 0)
			return rc;
		start = end;
	}
	return 0;
unk:
	out->n = saved;
	return t->unk >= 0 ? tok__ids_push(out, t->unk) : 0;
}

int
tok__wp_encode(const struct tokenizer *t, const char *text, size_t len,
               struct tok__ids *out)
{
	struct cps c = { NULL, 0, 0 };
	char *w = NULL;
	size_t wn = 0, wch = 0;
	int rc;

	if (len == 0)
		return 0;
	if ((rc = normalize(t, text, len, &c)) != 0)
		goto out;
	w = malloc(c.n * 4 + 1);
	if (!w && c.n > 0) {
		rc = err_set(ERR_NOMEM, "tok_encode: out of memory");
		goto out;
	}
	for (size_t i = 0; i <= c.n && !rc; i++) {
		int32_t cp = i < c.n ? c.v[i] : ' ';
		bool ws = is_ws(cp), punct = !ws && is_punct(cp);
		if (ws || punct) {
			if (wn > 0)
				rc = wordpiece(t, w, wn, wch, out);
			wn = wch = 0;
			if (punct && !rc) {
				size_t k = tok__utf8_encode((uint32_t)cp, w);
				rc = wordpiece(t, w, k, 1, out);
			}
			continue;
		}
		wn += tok__utf8_encode((uint32_t)cp, w + wn);
		wch++;
	}
out:
	free(c.v);
	free(w);
	return rc;
}

/*
 * load.c — the kind-independent half of the tokenizer module: the shared
 * vocabulary table and merge heap, the public accessors, tok_encode_ex()
 * (special tokens, then the per-kind encoder on the text between them),
 * tok_decode(), and the loaders for GGUF metadata, Hugging Face
 * directories and paths.
 */
#include "tokenizer/tok_internal.h"
#include "formats/formats.h"
#include "util/util.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

/* ========================================================================
 * Small helpers shared by the folder
 */

int
tok__ids_push(struct tok__ids *ids, int32_t id)
{
	if (ids->n == ids->cap) {
		size_t cap = ids->cap ? ids->cap * 2 : 64;
		int32_t *v = realloc(ids->v, cap * sizeof *v);
		if (!v)
			return err_set(ERR_NOMEM, "tokenizer: out of memory");
		ids->v = v;
		ids->cap = cap;
	}
	ids->v[ids->n++] = id;
	return 0;
}

int32_t
tok__utf8_decode(const unsigned char *s, size_t n, size_t *adv)
{
	unsigned char c = s[0];
	size_t need;
	int32_t cp, min;

	*adv = 1;
	if (c < 0x80)
		return c;
	if (c >= 0xC2 && c <= 0xDF) {
		need = 1; cp = c & 0x1F; min = 0x80;
	} else if (c >= 0xE0 && c <= 0xEF) {
		need = 2; cp = c & 0x0F; min = 0x800;
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 3; cp = c & 0x07; min = 0x10000;
	} else {
		return -1;
	}
	if (n <= need)
		return -1;
	for (size_t i = 1; i <= need; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return -1;
		cp = cp << 6 | (s[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		return -1;
	*adv = need + 1;
	return cp;
}

size_t
tok__utf8_encode(uint32_t cp, char *out)
{
	unsigned char *o = (unsigned char *)out;
	if (cp < 0x80) {
		o[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (unsigned char)(0xC0 | cp >> 6);
		o[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (unsigned char)(0xE0 | cp >> 12);
		o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
		o[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (unsigned char)(0xF0 | cp >> 18);
	o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
	o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
	o[3] = (unsigned char)(0x80 | (cp & 0x3F));
	return 4;
}

/* ========================================================================
 * Vocabulary: pieces in one blob, looked up through open addressing over
 * FNV-1a hashes. The hash of a concatenation a|b continues from the hash
 * of a, so merge candidates are looked up without building the string.
 */

struct tokenizer *
tok__create(enum tok_kind kind, size_t n)
{
	struct tokenizer *t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->kind = kind;
	t->vocab_size = (int)n;
	t->bos = t->eos = t->unk = t->sep = t->pad = t->cls = t->mask = -1;
	t->space_id = -1;
	t->add_bos_mode = -1;
	for (int i = 0; i < 256; i++)
		t->byte_id[i] = -1;
	t->blob_cap = n * 8 + 16;
	t->blob = malloc(t->blob_cap);
	t->off = calloc(n ? n : 1, sizeof *t->off);
	t->len = calloc(n ? n : 1, sizeof *t->len);
	t->score = calloc(n ? n : 1, sizeof *t->score);
	t->hash = calloc(n ? n : 1, sizeof *t->hash);
	t->type = malloc(n ? n : 1);
	t->attr = calloc(n ? n : 1, 1);
	if (!t->blob || !t->off || !t->len || !t->score || !t->hash ||
	    !t->type || !t->attr) {
		tok_free(t);
		return NULL;
	}
	memset(t->type, TOK__NORMAL, n ? n : 1);
	/* every id starts as the empty piece at offset 0 */
	t->blob[0] = '\0';
	t->blob_len = 1;
	return t;
}

int
tok__set_piece(struct tokenizer *t, int id, const char *s, size_t n)
{
	size_t need;
	if (ckd_add_size(&need, t->blob_len, n + 1))
		return err_set(ERR_NOMEM, "tokenizer: vocabulary too large");
	if (need > t->blob_cap) {
		size_t cap = t->blob_cap;
		while (cap < need)
			cap = cap > SIZE_MAX / 2 ? need : cap * 2;
		char *b = realloc(t->blob, cap);
		if (!b)
			return err_set(ERR_NOMEM, "tokenizer: out of memory");
		t->blob = b;
		t->blob_cap = cap;
	}
	t->off[id] = t->blob_len;
	t->len[id] = (uint32_t)n;
	memcpy(t->blob + t->blob_len, s, n);
	t->blob[t->blob_len + n] = '\0';
	t->blob_len += n + 1;
	if (n > t->max_piece_len)
		t->max_piece_len = n;
	return 0;
}

int
tok__lookup2(const struct tokenizer *t, uint64_t h, const char *a, size_t la,
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

int
tok__lookup(const struct tokenizer *t, const char *s, size_t n)
{
	if (!t->table)
		return -1;
	return tok__lookup2(t, tok__fnv(TOK__FNV_OFFSET, s, n), s, n, "", 0);
}

int
tok__build_table(struct tokenizer *t, bool first_wins)
{
	size_t cap = 16;
	while (cap < 2 * (size_t)t->vocab_size)
		cap *= 2;
	free(t->table);
	t->table = malloc(cap * sizeof *t->table);
	if (!t->table)
		return err_set(ERR_NOMEM, "tokenizer: out of memory");
	memset(t->table, 0xff, cap * sizeof *t->table);  /* all -1 */
	t->table_mask = cap - 1;
	for (int id = 0; id < t->vocab_size; id++) {
		const char *p = t->blob + t->off[id];
		t->hash[id] = tok__fnv(TOK__FNV_OFFSET, p, t->len[id]);
		if (t->len[id] == 0)
			continue;
		size_t i = (size_t)t->hash[id] & t->table_mask;
		for (;; i = (i + 1) & t->table_mask) {
			int32_t o = t->table[i];
			if (o < 0)
				break;
			if (t->hash[o] == t->hash[id] && t->len[o] == t->len[id] &&
			    memcmp(t->blob + t->off[o], p, t->len[id]) == 0)
				break;  /* duplicate piece */
		}
		if (t->table[i] < 0 || !first_wins)
			t->table[i] = id;
	}
	return 0;
}

/* ========================================================================
 * Merge heap (max-heap on score, then min-heap on left position)
 */

static bool
pair_before(const struct tok__pair *a, const struct tok__pair *b)
{
	/* plain float comparison: -0 and +0 tie, as in run.c's `>` test */
	if (a->score != b->score)
		return a->score > b->score;
	return a->left < b->left;
}

void
tok__heap_push(struct tok__heap *h, struct tok__pair p)
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

struct tok__pair
tok__heap_pop(struct tok__heap *h)
{
	struct tok__pair top = h->v[0];
	struct tok__pair last = h->v[--h->n];
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

/* ========================================================================
 * Special tokens: the table of texts recognised in raw input, and the
 * policy of what TOK_ADD_SPECIAL adds
 */

static _Thread_local const struct tokenizer *sort_tok;  /* qsort: no context */

static int
spec_cmp(const void *pa, const void *pb)
{
	int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
	const struct tokenizer *t = sort_tok;
	unsigned char fa = (unsigned char)t->blob[t->off[a]];
	unsigned char fb = (unsigned char)t->blob[t->off[b]];
	if (fa != fb)
		return fa < fb ? -1 : 1;
	if (t->len[a] != t->len[b])
		return t->len[a] > t->len[b] ? -1 : 1;  /* longest first */
	return a < b ? -1 : a > b;
}

static bool
is_spec_type(uint8_t type)
{
	return type == TOK__CONTROL || type == TOK__UNKNOWN || type == TOK__USER;
}

int
tok__build_specials(struct tokenizer *t)
{
	int n = 0;
	free(t->spec);
	t->spec = NULL;
	t->n_spec_user = t->n_spec_ctrl = 0;
	memset(t->spec_start, 0, sizeof t->spec_start);
	for (int id = 0; id < t->vocab_size; id++)
		if (is_spec_type(t->type[id]) && t->len[id] > 0)
			n++;
	if (n == 0)
		return 0;
	t->spec = malloc((size_t)n * sizeof *t->spec);
	if (!t->spec)
		return err_set(ERR_NOMEM, "tokenizer: out of memory");
	n = 0;
	for (int id = 0; id < t->vocab_size; id++) {
		if (!is_spec_type(t->type[id]) || t->len[id] == 0)
			continue;
		t->spec[n++] = id;
		if (t->type[id] == TOK__USER)
			t->n_spec_user++;
		else
			t->n_spec_ctrl++;
	}
	/* building happens once per load, on one thread */
	sort_tok = t;
	qsort(t->spec, (size_t)n, sizeof *t->spec, spec_cmp);
	sort_tok = NULL;
	for (int k = 0; k < n; k++) {
		unsigned char f = (unsigned char)t->blob[t->off[t->spec[k]]];
		t->spec_start[f + 1] = k + 1;
	}
	for (int b = 1; b <= 256; b++)
		if (t->spec_start[b] < t->spec_start[b - 1])
			t->spec_start[b] = t->spec_start[b - 1];
	return 0;
}

/* The token TOK_ADD_SPECIAL puts first and tok_set_add_bos() controls. */
static int
lead_id(const struct tokenizer *t)
{
	if (t->kind == TOK_WORDPIECE && t->cls >= 0)
		return t->cls;
	return t->bos;
}

/* The ids TOK_ADD_SPECIAL adds in front under the current mode. */
static int
effective_prefix(const struct tokenizer *t, int32_t *pre)
{
	int n = 0, lead = lead_id(t);
	if (t->add_bos_mode == 1 && lead >= 0 &&
	    (t->n_prefix == 0 || t->prefix[0] != lead))
		pre[n++] = lead;
	for (int i = 0; i < t->n_prefix; i++) {
		if (t->add_bos_mode == 0 && t->prefix[i] == lead)
			continue;
		pre[n++] = t->prefix[i];
	}
	return n;
}

static const char *
id_name(const struct tokenizer *t, int id, char *buf, size_t size)
{
	if (t->kind == TOK_WORDPIECE) {
		if (id == t->cls)
			return "cls";
		if (id == t->sep)
			return "sep";
	}
	if (id == t->bos)
		return "bos";
	if (id == t->eos)
		return "eos";
	if (id == t->cls)
		return "cls";
	if (id == t->sep)
		return "sep";
	if (id == t->pad)
		return "pad";
	if (id == t->unk)
		return "unk";
	if (id == t->mask)
		return "mask";
	snprintf(buf, size, "id%d", id);
	return buf;
}

void
tok__update_policy(struct tokenizer *t)
{
	int32_t pre[TOK__MAX_AFFIX + 1];
	int n_pre = effective_prefix(t, pre);
	size_t k = 0;
	char num[24];

	t->policy[0] = '\0';
	for (int i = 0; i < n_pre + t->n_suffix; i++) {
		int id = i < n_pre ? pre[i] : t->suffix[i - n_pre];
		const char *name = id_name(t, id, num, sizeof num);
		int w = snprintf(t->policy + k, sizeof t->policy - k, "%s%s",
		                 k ? "+" : "", name);
		if (w < 0 || (size_t)w >= sizeof t->policy - k)
			break;
		k += (size_t)w;
	}
	if (k == 0)
		snprintf(t->policy, sizeof t->policy, "none");
}

/* ========================================================================
 * Public accessors
 */

void
tok_free(struct tokenizer *t)
{
	if (!t)
		return;
	tok__bpe_release(t);
	tok__uni_release(t);
	free(t->blob);
	free(t->off);
	free(t->len);
	free(t->score);
	free(t->hash);
	free(t->type);
	free(t->attr);
	free(t->table);
	free(t->spec);
	free(t->merges);
	free(t);
}

enum tok_kind
tok_kind(const struct tokenizer *t)
{
	return t->kind;
}

const char *
tok_kind_name(enum tok_kind kind)
{
	switch (kind) {
	case TOK_LLAMA2C: return "llama2c";
	case TOK_SPM: return "spm";
	case TOK_BPE: return "bpe";
	case TOK_WORDPIECE: return "wordpiece";
	case TOK_UNIGRAM: return "unigram";
	case TOK_KIND_COUNT: break;
	}
	return "?";
}

const char *
tok_pre_name(const struct tokenizer *t)
{
	return t->pre_name;
}

int
tok_vocab_size(const struct tokenizer *t)
{
	return t->vocab_size;
}

int
tok_bos(const struct tokenizer *t)
{
	return t->bos;
}

int
tok_eos(const struct tokenizer *t)
{
	return t->eos;
}

int
tok_unk(const struct tokenizer *t)
{
	return t->unk;
}

int
tok_cls(const struct tokenizer *t)
{
	return t->cls;
}

int
tok_sep(const struct tokenizer *t)
{
	return t->sep;
}

int
tok_pad(const struct tokenizer *t)
{
	return t->pad;
}

bool
tok_is_special(const struct tokenizer *t, int id)
{
	if (id < 0 || id >= t->vocab_size)
		return false;
	return t->type[id] == TOK__CONTROL || t->type[id] == TOK__UNKNOWN;
}

const char *
tok_special_policy(const struct tokenizer *t)
{
	return t->policy;
}

void
tok_set_add_bos(struct tokenizer *t, int mode)
{
	t->add_bos_mode = mode < 0 ? -1 : mode > 0 ? 1 : 0;
	tok__update_policy(t);
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

/* ========================================================================
 * Encoding
 */

/* Longest special token whose text starts s[0..n), usable under `parse`;
 * returns its id or -1. */
static int
match_special(const struct tokenizer *t, const unsigned char *s, size_t n,
              bool parse)
{
	for (int32_t k = t->spec_start[s[0]]; k < t->spec_start[s[0] + 1]; k++) {
		int32_t id = t->spec[k];
		if (t->type[id] != TOK__USER && !parse)
			continue;
		if (t->len[id] <= n && memcmp(t->blob + t->off[id], s, t->len[id]) == 0)
			return id;
	}
	return -1;
}

static int
encode_fragment(const struct tokenizer *t, const char *s, size_t n,
                bool after_special, bool at_start, struct tok__ids *out)
{
	switch (t->kind) {
	case TOK_UNIGRAM:
		return tok__uni_encode(t, s, n, at_start, out);
	case TOK_SPM:
		return tok__spm_encode(t, s, n, t->add_space_prefix && after_special,
		                       out);
	case TOK_BPE:
		return tok__bpe_encode(t, s, n, out);
	case TOK_WORDPIECE:
		return tok__wp_encode(t, s, n, out);
	default:
		return err_set(ERR_ARG, "tokenizer: bad kind %d", (int)t->kind);
	}
}

/* The text split at special-token matches (llama.cpp's
 * tokenizer_st_partition, leftmost-longest like HF's added vocabulary),
 * each stretch of plain text through the kind's encoder. */
static int
encode_text(const struct tokenizer *t, const char *text, size_t len,
            bool parse, struct tok__ids *out)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t start = 0, pos = 0;
	bool after_special = true;  /* llama.cpp: "prefix with space if first" */
	int rc;

	if (t->n_spec_user > 0 || (parse && t->n_spec_ctrl > 0)) {
		while (pos < len) {
			int id = match_special(t, s + pos, len - pos, parse);
			if (id < 0) {
				pos++;
				continue;
			}
			size_t end = pos;
			if (t->attr[id] & TOK__LSTRIP)
				while (end > start && isspace(s[end - 1]))
					end--;
			if (end > start) {
				rc = encode_fragment(t, text + start, end - start,
				                     after_special, start == 0, out);
				if (rc)
					return rc;
			}
			if ((rc = tok__ids_push(out, id)) != 0)
				return rc;
			after_special = true;
			pos += t->len[id];
			if (t->attr[id] & TOK__RSTRIP)
				while (pos < len && isspace(s[pos]))
					pos++;
			start = pos;
		}
	}
	if (len > start)
		return encode_fragment(t, text + start, len - start, after_special,
		                       start == 0, out);
	return 0;
}

int
tok_encode_ex(const struct tokenizer *t, const char *text, size_t len,
              unsigned flags, int32_t *ids, int cap, int *n_ids)
{
	struct tok__ids out = { NULL, 0, 0 };
	int32_t pre[TOK__MAX_AFFIX + 1];
	int n_pre = 0, rc = 0;

	*n_ids = 0;
	if ((!text && len > 0) || cap < 0 || (cap > 0 && !ids))
		return err_set(ERR_ARG, "tok_encode: bad arguments");
	if (len > (size_t)INT32_MAX / 4)
		return err_set(ERR_RANGE, "tok_encode: text of %zu bytes is too long",
		               len);
	if (flags & TOK_ADD_SPECIAL)
		n_pre = effective_prefix(t, pre);

	if (t->kind == TOK_LLAMA2C) {
		/* BOS takes part in run.c's merges, so the encoder adds it */
		rc = tok__llama2c_encode(t, text, len, n_pre > 0, &out);
	} else {
		for (int i = 0; i < n_pre && !rc; i++)
			rc = tok__ids_push(&out, pre[i]);
		if (!rc)
			rc = encode_text(t, text, len, flags & TOK_PARSE_SPECIAL, &out);
		for (int i = 0; (flags & TOK_ADD_SPECIAL) && i < t->n_suffix && !rc;
		     i++)
			rc = tok__ids_push(&out, t->suffix[i]);
	}
	if (rc)
		goto out;
	if (out.n > INT_MAX) {
		rc = err_set(ERR_RANGE, "tok_encode: too many ids");
		goto out;
	}
	for (size_t i = 0; i < out.n && i < (size_t)cap; i++)
		ids[i] = out.v[i];
	*n_ids = (int)out.n;
	if (out.n > (size_t)cap)
		rc = err_set(ERR_RANGE, "tok_encode: %d ids do not fit in %d",
		             (int)out.n, cap);
out:
	free(out.v);
	return rc;
}

int
tok_encode(const struct tokenizer *t, const char *text, size_t len,
           bool add_bos, int32_t *ids, int cap, int *n_ids)
{
	return tok_encode_ex(t, text, len, add_bos ? TOK_ADD_SPECIAL : 0, ids,
	                     cap, n_ids);
}

/* ========================================================================
 * Decoding
 */

/* snprintf-like output: counts everything, stores what fits. */
struct sink {
	char *buf;
	size_t size, n;
};

static void
sink_put(struct sink *k, const char *p, size_t n)
{
	if (k->size > 0 && k->n < k->size - 1) {
		size_t room = k->size - 1 - k->n;
		memcpy(k->buf + k->n, p, n < room ? n : room);
	}
	k->n += n;
}

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

/* "<0xNN>" -> the byte */
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

static void
decode_spm(const struct tokenizer *t, int prev_id, int id, struct sink *k)
{
	static const char SP[] = "\xe2\x96\x81";
	const char *p = t->blob + t->off[id];
	size_t n = t->len[id];
	uint8_t type = t->type[id];
	char byte;

	if (type == TOK__CONTROL || type == TOK__UNKNOWN || type == TOK__USER) {
		sink_put(k, p, n);
		return;
	}
	if (type == TOK__BYTE && byte_piece(p, n, &byte)) {
		sink_put(k, &byte, 1);
		return;
	}
	/* drop the dummy-prefix space of the first piece (llama.cpp's
	 * remove_space; HF's Strip decoder) */
	bool drop = t->add_space_prefix &&
	            (prev_id < 0 || prev_id == t->bos ||
	             (prev_id < t->vocab_size && t->type[prev_id] == TOK__CONTROL));
	for (size_t i = 0; i < n;) {
		if (n - i >= 3 && memcmp(p + i, SP, 3) == 0) {
			if (!drop)
				sink_put(k, " ", 1);
			i += 3;
		} else {
			sink_put(k, p + i, 1);
			i++;
		}
		drop = false;
	}
}

/* HF's Metaspace decoder (or, without a decoder, tokens joined by " ") */
static void
decode_unigram(const struct tokenizer *t, int prev_id, int id, struct sink *k)
{
	const char *p = t->blob + t->off[id];
	size_t n = t->len[id];
	const char *rep = t->uni_dec_rep;
	size_t rl = t->uni_dec_rep_len;

	if (t->uni_decoder == 0) {
		if (prev_id >= 0)
			sink_put(k, " ", 1);
		sink_put(k, p, n);
		return;
	}
	/* every replacement becomes a space, except in the first token */
	bool drop = prev_id < 0 && t->uni_dec_prepend != TOK__PREPEND_NEVER;
	for (size_t i = 0; i < n;) {
		if (rl > 0 && n - i >= rl && memcmp(p + i, rep, rl) == 0) {
			if (!drop)
				sink_put(k, " ", 1);
			i += rl;
		} else {
			sink_put(k, p + i, 1);
			i++;
		}
	}
}

static void
decode_wordpiece(const struct tokenizer *t, int prev_id, int id,
                 struct sink *k)
{
	const char *p = t->blob + t->off[id];
	size_t n = t->len[id];
	bool special = t->type[id] == TOK__CONTROL || t->type[id] == TOK__UNKNOWN;

	if (!special && t->wp_prefix_len > 0 && n >= t->wp_prefix_len &&
	    memcmp(p, t->wp_prefix, t->wp_prefix_len) == 0) {
		sink_put(k, p + t->wp_prefix_len, n - t->wp_prefix_len);
		return;
	}
	if (prev_id >= 0 && prev_id != t->cls && prev_id != t->bos)
		sink_put(k, " ", 1);
	sink_put(k, p, n);
}

int
tok_decode(const struct tokenizer *t, int prev_id, int id, char *buf,
           size_t size)
{
	struct sink k = { buf, size, 0 };
	if (size > 0)
		buf[0] = '\0';
	if (id < 0 || id >= t->vocab_size)
		return -1;
	switch (t->kind) {
	case TOK_LLAMA2C: {
		const char *p;
		size_t n;
		char byte;
		tok__llama2c_decode(t, prev_id, id, &p, &n, &byte);
		sink_put(&k, p, n);
		break;
	}
	case TOK_SPM:
		decode_spm(t, prev_id, id, &k);
		break;
	case TOK_BPE: {
		uint8_t type = t->type[id];
		const char *p = t->blob + t->off[id];
		size_t n = t->len[id];
		char byte;
		if (type == TOK__BYTE && byte_piece(p, n, &byte)) {
			sink_put(&k, &byte, 1);
		} else if (type == TOK__CONTROL || type == TOK__USER ||
		           type == TOK__UNKNOWN) {
			sink_put(&k, p, n);
		} else {
			/* the unmapped bytes are never longer than the piece */
			char small[256], *tmp = n <= sizeof small ? small : malloc(n);
			int m = tmp ? tok__bpe_unmap(t, id, tmp) : -1;
			if (m >= 0)
				sink_put(&k, tmp, (size_t)m);
			else
				sink_put(&k, p, n);
			if (tmp != small)
				free(tmp);
		}
		break;
	}
	case TOK_WORDPIECE:
		decode_wordpiece(t, prev_id, id, &k);
		break;
	case TOK_UNIGRAM:
		decode_unigram(t, prev_id, id, &k);
		break;
	default:
		return -1;
	}
	if (size > 0)
		buf[k.n < size - 1 ? k.n : size - 1] = '\0';
	return k.n > INT_MAX ? INT_MAX : (int)k.n;
}

/* ========================================================================
 * Finishing a loaded tokenizer
 */

/* Ids valid for this vocabulary, else -1. */
static int
valid_id(const struct tokenizer *t, int64_t id)
{
	return id >= 0 && id < t->vocab_size ? (int)id : -1;
}

/* Mark a special id as control (or unknown) when the file left it normal. */
static void
mark_special(struct tokenizer *t, int id, uint8_t type)
{
	if (id >= 0 && (t->type[id] == TOK__NORMAL || t->type[id] == TOK__UNDEFINED))
		t->type[id] = type;
}

/* Lookup table, byte ids, special table and policy, once pieces, types
 * and special ids are set. */
static int
finish(struct tokenizer *t, bool first_wins)
{
	int rc = tok__build_table(t, first_wins);
	if (rc)
		return rc;
	if (t->kind == TOK_SPM) {
		for (int b = 0; b < 256; b++)
			t->byte_id[b] = tok__spm_byte_token(t, (unsigned char)b);
	} else if (t->kind == TOK_BPE) {
		tok__bpe_init_bytemap(t);
	} else if (t->kind == TOK_UNIGRAM && (rc = tok__uni_build(t)) != 0) {
		return rc;
	}
	if ((rc = tok__build_specials(t)) != 0)
		return rc;
	tok__update_policy(t);
	return 0;
}

/* ========================================================================
 * GGUF
 */

#define KEY(s) "tokenizer.ggml." s

static int
gguf_fail(int rc, const char *key, const char *what)
{
	if (rc == ERR_NOTFOUND)
		return err_set(ERR_FORMAT, "tokenizer: GGUF key '%s' is missing%s",
		               key, what);
	return err_set(ERR_FORMAT, "tokenizer: GGUF key '%s' has the wrong type%s",
	               key, what);
}

/* An optional bool key: 0 (value or default in *v) or ERR_FORMAT. */
static int
gguf_opt_bool(const struct gguf *g, const char *key, bool *v)
{
	int rc = gguf_get_bool(g, key, v);
	if (rc == ERR_NOTFOUND)
		return 0;
	return rc ? gguf_fail(rc, key, "") : 0;
}

/* An optional special id: replaces *id when present and in range. */
static int
gguf_opt_id(const struct gguf *g, const struct tokenizer *t, const char *key,
            int *id)
{
	int64_t v;
	int rc = gguf_get_int(g, key, &v);
	if (rc == ERR_NOTFOUND)
		return 0;
	if (rc)
		return gguf_fail(rc, key, "");
	if (valid_id(t, v) >= 0)  /* llama.cpp ignores ids out of range */
		*id = (int)v;
	return 0;
}

/* A per-token array of n entries: ERR_NOTFOUND if absent (no message),
 * ERR_FORMAT if not an array of an accepted type or of another length. */
static int
gguf_token_array(const struct gguf *g, const char *key, uint64_t n,
                 bool numeric, bool floats)
{
	enum gguf_type elem;
	uint64_t m;
	int rc = gguf_get_arr(g, key, &elem, &m);
	if (rc == ERR_NOTFOUND)
		return rc;
	if (rc)
		return gguf_fail(rc, key, " (an array was expected)");
	bool ok;
	if (!numeric)
		ok = elem == GGUF_STRING;
	else if (floats)
		ok = elem == GGUF_FLOAT32 || elem == GGUF_FLOAT64 ||
		     elem == GGUF_INT32;
	else
		ok = elem <= GGUF_INT32 || elem == GGUF_UINT64 || elem == GGUF_INT64;
	if (!ok)
		return err_set(ERR_FORMAT, "tokenizer: GGUF key '%s' has elements "
		               "of type %d", key, (int)elem);
	if (m != n)
		return err_set(ERR_FORMAT, "tokenizer: GGUF key '%s' has %llu "
		               "entries for %llu tokens", key, (unsigned long long)m,
		               (unsigned long long)n);
	return 0;
}

static int
gguf_read_merges(const struct gguf *g, struct tokenizer *t)
{
	enum gguf_type elem;
	uint64_t n;
	int rc = gguf_get_arr(g, KEY("merges"), &elem, &n);
	if (rc == ERR_NOTFOUND)
		return err_set(ERR_FORMAT, "tokenizer: GGUF key '" KEY("merges")
		               "' is missing (required for model 'gpt2')");
	if (rc || elem != GGUF_STRING)
		return gguf_fail(rc ? rc : ERR_FORMAT, KEY("merges"),
		                 " (a string array was expected)");
	if (n > TOK__MAX_VOCAB)
		return err_set(ERR_FORMAT, "tokenizer: %llu merges is too many",
		               (unsigned long long)n);
	if ((rc = tok__bpe_alloc_merges(t, (size_t)n)) != 0)
		return rc;
	for (uint64_t i = 0; i < n; i++) {
		const char *s;
		size_t len;
		int added;
		if ((rc = gguf_get_arr_str(g, KEY("merges"), i, &s, &len)) != 0)
			return gguf_fail(rc, KEY("merges"), "");
		/* llama.cpp splits at the first space after position 0 */
		const char *sp = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
		if (!sp)
			return err_set(ERR_FORMAT, "tokenizer: merge %llu ('%.*s') has "
			               "no space between its two parts",
			               (unsigned long long)i, (int)(len < 40 ? len : 40), s);
		size_t la = (size_t)(sp - s);
		/* a rule whose parts or result are not tokens can never apply */
		rc = tok__bpe_add_merge(t, s, la, sp + 1, len - la - 1, (int)i, &added);
		if (rc)
			return rc;
	}
	return 0;
}

/* Read tokenizer.ggml.normalizer.* if a converter wrote them. */
static int
gguf_read_wordpiece(const struct gguf *g, struct tokenizer *t)
{
	bool lower = t->wp_lowercase, strip;
	int rc = gguf_opt_bool(g, KEY("normalizer.lowercase"), &lower);
	if (rc)
		return rc;
	strip = lower;
	if ((rc = gguf_opt_bool(g, KEY("normalizer.strip_accents"), &strip)))
		return rc;
	t->wp_lowercase = lower;
	t->wp_strip_accents = strip;
	return 0;
}

struct tokenizer *
tok_open_gguf(const struct gguf *g, int *err)
{
	struct tokenizer *t = NULL;
	const char *model, *pre = NULL;
	size_t model_len, pre_len = 0;
	enum gguf_type elem;
	uint64_t n;
	enum tok_kind kind;
	bool add_bos, add_eos = false, add_sep = false, has_scores;
	int rc;

	if (!g) {
		rc = err_set(ERR_ARG, "tokenizer: no GGUF file");
		goto out;
	}
	rc = gguf_get_str(g, KEY("model"), &model, &model_len);
	if (rc) {
		rc = gguf_fail(rc, KEY("model"), " (no tokenizer in this file?)");
		goto out;
	}
	if (model_len == 5 && memcmp(model, "llama", 5) == 0) {
		kind = TOK_SPM;
	} else if (model_len == 4 && memcmp(model, "gpt2", 4) == 0) {
		kind = TOK_BPE;
	} else if (model_len == 4 && memcmp(model, "bert", 4) == 0) {
		kind = TOK_WORDPIECE;
	} else {
		rc = err_set(ERR_UNSUPPORTED, "tokenizer: GGUF tokenizer model "
		             "'%.*s' is not supported (llama, gpt2, bert are)",
		             (int)(model_len < 40 ? model_len : 40), model);
		goto out;
	}
	rc = gguf_get_str(g, KEY("pre"), &pre, &pre_len);
	if (rc && rc != ERR_NOTFOUND) {
		rc = gguf_fail(rc, KEY("pre"), "");
		goto out;
	}

	rc = gguf_get_arr(g, KEY("tokens"), &elem, &n);
	if (rc || elem != GGUF_STRING) {
		rc = gguf_fail(rc ? rc : ERR_FORMAT, KEY("tokens"),
		               " (a string array was expected)");
		goto out;
	}
	if (n < 1 || n > TOK__MAX_VOCAB) {
		rc = err_set(ERR_FORMAT, "tokenizer: %llu tokens is out of range "
		             "(1 .. %d)", (unsigned long long)n, TOK__MAX_VOCAB);
		goto out;
	}
	t = tok__create(kind, (size_t)n);
	if (!t)
		goto nomem;
	for (uint64_t i = 0; i < n; i++) {
		const char *s;
		size_t len;
		if ((rc = gguf_get_arr_str(g, KEY("tokens"), i, &s, &len)) != 0) {
			rc = gguf_fail(rc, KEY("tokens"), "");
			goto out;
		}
		if (len > TOK__MAX_PIECE || memchr(s, '\0', len)) {
			rc = err_set(ERR_FORMAT, "tokenizer: token %llu is longer than "
			             "%d bytes or holds a NUL byte",
			             (unsigned long long)i, TOK__MAX_PIECE);
			goto out;
		}
		if ((rc = tok__set_piece(t, (int)i, s, len)) != 0)
			goto out;
	}

	rc = gguf_token_array(g, KEY("scores"), n, true, true);
	if (rc && rc != ERR_NOTFOUND)
		goto out;
	has_scores = rc == 0;
	if (!has_scores && kind == TOK_SPM) {
		rc = err_set(ERR_FORMAT, "tokenizer: GGUF key '" KEY("scores")
		             "' is missing (required for SentencePiece model 'llama')");
		goto out;
	}
	for (uint64_t i = 0; has_scores && i < n; i++) {
		double v;
		if ((rc = gguf_get_arr_float(g, KEY("scores"), i, &v)) != 0) {
			rc = gguf_fail(rc, KEY("scores"), "");
			goto out;
		}
		t->score[i] = (float)v;
	}
	rc = gguf_token_array(g, KEY("token_type"), n, true, false);
	if (rc && rc != ERR_NOTFOUND)
		goto out;
	for (uint64_t i = 0; rc == 0 && i < n; i++) {
		int64_t v;
		if ((rc = gguf_get_arr_int(g, KEY("token_type"), i, &v)) != 0) {
			rc = gguf_fail(rc, KEY("token_type"), "");
			goto out;
		}
		if (v < TOK__UNDEFINED || v > TOK__BYTE) {
			rc = err_set(ERR_FORMAT, "tokenizer: token %llu has type %lld "
			             "(0 .. 6 expected)", (unsigned long long)i,
			             (long long)v);
			goto out;
		}
		t->type[i] = (uint8_t)v;
	}

	/* defaults as llama.cpp's llama_vocab::impl::load */
	switch (kind) {
	case TOK_SPM:
		t->bos = valid_id(t, 1);
		t->eos = valid_id(t, 2);
		t->unk = valid_id(t, 0);
		t->add_space_prefix = true;
		add_bos = true;
		snprintf(t->pre_name, sizeof t->pre_name, "spm");
		break;
	case TOK_WORDPIECE:
		tok__wp_defaults(t);
		t->cls = valid_id(t, 101);
		t->unk = valid_id(t, 100);
		t->sep = valid_id(t, 102);
		t->pad = valid_id(t, 0);
		t->mask = valid_id(t, 103);
		add_bos = add_sep = true;
		snprintf(t->pre_name, sizeof t->pre_name, "bert");
		break;
	default:
		add_bos = false;
		break;
	}
	if (kind == TOK_WORDPIECE) {
		/* llama.cpp keeps [CLS] as its BOS; a bos_token_id key is
		 * taken as [CLS] unless cls_token_id is present too */
		int bos = -1;
		if ((rc = gguf_opt_id(g, t, KEY("bos_token_id"), &bos)) ||
		    (rc = gguf_opt_id(g, t, KEY("cls_token_id"), &t->cls)))
			goto out;
		if (bos >= 0 && gguf_find_key(g, KEY("cls_token_id")) < 0)
			t->cls = bos;
	} else if ((rc = gguf_opt_id(g, t, KEY("bos_token_id"), &t->bos)) ||
	           (rc = gguf_opt_id(g, t, KEY("cls_token_id"), &t->cls))) {
		goto out;
	}
	if ((rc = gguf_opt_id(g, t, KEY("eos_token_id"), &t->eos)) ||
	    (rc = gguf_opt_id(g, t, KEY("unknown_token_id"), &t->unk)) ||
	    (rc = gguf_opt_id(g, t, KEY("seperator_token_id"), &t->sep)) ||
	    (rc = gguf_opt_id(g, t, KEY("padding_token_id"), &t->pad)) ||
	    (rc = gguf_opt_id(g, t, KEY("mask_token_id"), &t->mask)))
		goto out;

	if (kind == TOK_BPE) {
		char name[48];
		if (pre && (pre_len >= sizeof name || memchr(pre, '\0', pre_len))) {
			rc = err_set(ERR_UNSUPPORTED, "tokenizer: pre-tokenizer '%.*s' is "
			             "not supported", (int)(pre_len < 40 ? pre_len : 40),
			             pre);
			goto out;
		}
		snprintf(name, sizeof name, "%.*s", (int)(pre ? pre_len : 7),
		         pre ? pre : "default");
		if ((rc = tok__bpe_set_pre(t, name, &add_bos)) != 0)
			goto out;
		snprintf(t->pre_name, sizeof t->pre_name, "%s", name);
	}
	if ((rc = gguf_opt_bool(g, KEY("add_bos_token"), &add_bos)) ||
	    (rc = gguf_opt_bool(g, KEY("add_eos_token"), &add_eos)) ||
	    (rc = gguf_opt_bool(g, KEY("add_sep_token"), &add_sep)) ||
	    (rc = gguf_opt_bool(g, KEY("add_space_prefix"), &t->add_space_prefix)))
		goto out;

	if (kind == TOK_WORDPIECE) {
		if ((rc = gguf_read_wordpiece(g, t)) != 0 ||
		    (rc = tok__wp_from_phantom(t)) != 0)
			goto out;
		if (add_bos && t->cls >= 0)
			t->prefix[t->n_prefix++] = t->cls;
		if (add_sep && t->sep >= 0)
			t->suffix[t->n_suffix++] = t->sep;
	} else {
		if (add_bos && t->bos >= 0)
			t->prefix[t->n_prefix++] = t->bos;
		if (add_eos && t->eos >= 0)
			t->suffix[t->n_suffix++] = t->eos;
	}
	if ((rc = finish(t, true)) != 0)
		goto out;
	if (kind == TOK_BPE && (rc = gguf_read_merges(g, t)) != 0)
		goto out;
	rc = 0;
	goto out;

nomem:
	rc = err_set(ERR_NOMEM, "tokenizer: out of memory");
out:
	if (rc) {
		tok_free(t);
		t = NULL;
	}
	if (err)
		*err = rc;
	return t;
}

/* ========================================================================
 * Hugging Face
 */

/* A file of the HF directory, or NULL (set *rc) when the name is too long. */
static char *
hf_path(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);
	if (p)
		snprintf(p, n, "%s/%s", dir, name);
	return p;
}

static bool
file_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Parse a JSON file; NULL with the message set (ERR_IO/ERR_FORMAT). */
static json_t *
hf_load_json(const char *path, int *rc)
{
	char *data;
	size_t len;
	json_error_t e;
	json_t *j;

	*rc = util_read_file(path, &data, &len);
	if (*rc)
		return NULL;
	j = json_loadb(data, len, JSON_ALLOW_NUL, &e);
	free(data);
	if (!j)
		*rc = err_set(ERR_FORMAT, "tokenizer: '%s': bad JSON at line %d: %s",
		              path, e.line, e.text);
	return j;
}

/* A token name in tokenizer_config.json: a string or {"content": ...}. */
static const char *
hf_token_name(json_t *v)
{
	if (json_is_object(v))
		v = json_object_get(v, "content");
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static int
hf_token_id(const struct tokenizer *t, const char *name)
{
	return name ? tok__lookup(t, name, strlen(name)) : -1;
}

/* Special ids named in tokenizer_config.json (if any). */
static void
hf_config_ids(struct tokenizer *t, json_t *cfg)
{
	static const struct { const char *key; size_t off; } map[] = {
		{ "bos_token", offsetof(struct tokenizer, bos) },
		{ "eos_token", offsetof(struct tokenizer, eos) },
		{ "unk_token", offsetof(struct tokenizer, unk) },
		{ "sep_token", offsetof(struct tokenizer, sep) },
		{ "pad_token", offsetof(struct tokenizer, pad) },
		{ "cls_token", offsetof(struct tokenizer, cls) },
		{ "mask_token", offsetof(struct tokenizer, mask) },
	};
	if (!cfg)
		return;
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
		int id = hf_token_id(t, hf_token_name(json_object_get(cfg, map[i].key)));
		if (id >= 0)
			*(int *)((char *)t + map[i].off) = id;
	}
}

/* Special ids by their usual texts, where nothing named them. */
static void
hf_guess_ids(struct tokenizer *t)
{
	if (t->kind == TOK_WORDPIECE) {
		if (t->cls < 0) t->cls = hf_token_id(t, "[CLS]");
		if (t->sep < 0) t->sep = hf_token_id(t, "[SEP]");
		if (t->unk < 0) t->unk = hf_token_id(t, "[UNK]");
		if (t->pad < 0) t->pad = hf_token_id(t, "[PAD]");
		if (t->mask < 0) t->mask = hf_token_id(t, "[MASK]");
		return;
	}
	int eot = hf_token_id(t, "<|endoftext|>");
	if (t->bos < 0) t->bos = eot >= 0 ? eot : hf_token_id(t, "<s>");
	if (t->eos < 0) t->eos = eot >= 0 ? eot : hf_token_id(t, "</s>");
}

static void
hf_mark_specials(struct tokenizer *t)
{
	mark_special(t, t->bos, TOK__CONTROL);
	mark_special(t, t->eos, TOK__CONTROL);
	mark_special(t, t->cls, TOK__CONTROL);
	mark_special(t, t->sep, TOK__CONTROL);
	mark_special(t, t->pad, TOK__CONTROL);
	mark_special(t, t->mask, TOK__CONTROL);
	mark_special(t, t->unk, TOK__UNKNOWN);
}

/* model.vocab {piece: id} (plus added_tokens) into a fresh tokenizer. */
static struct tokenizer *
hf_vocab(enum tok_kind kind, json_t *vocab, json_t *added, const char *file,
         int *rc)
{
	struct tokenizer *t = NULL;
	const char *key;
	json_t *v;
	int64_t max_id = -1;
	size_t i;
	unsigned char *seen = NULL;

	if (!json_is_object(vocab)) {
		*rc = err_set(ERR_FORMAT, "tokenizer: '%s': the vocabulary is not "
		              "an object", file);
		return NULL;
	}
	json_object_foreach(vocab, key, v) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) >= TOK__MAX_VOCAB) {
			*rc = err_set(ERR_FORMAT, "tokenizer: '%s': vocabulary entry "
			              "'%.40s' has a bad id", file, key);
			return NULL;
		}
		if (json_integer_value(v) > max_id)
			max_id = json_integer_value(v);
	}
	if (added && !json_is_array(added)) {
		*rc = err_set(ERR_FORMAT, "tokenizer: '%s': added_tokens is not an "
		              "array", file);
		return NULL;
	}
	json_array_foreach(added, i, v) {
		json_t *id = json_object_get(v, "id");
		if (!json_is_integer(id) || json_integer_value(id) < 0 ||
		    json_integer_value(id) >= TOK__MAX_VOCAB ||
		    !json_is_string(json_object_get(v, "content"))) {
			*rc = err_set(ERR_FORMAT, "tokenizer: '%s': added_tokens[%zu] "
			              "needs an id and a content", file, i);
			return NULL;
		}
		if (json_integer_value(id) > max_id)
			max_id = json_integer_value(id);
	}
	if (max_id < 0) {
		*rc = err_set(ERR_FORMAT, "tokenizer: '%s': empty vocabulary", file);
		return NULL;
	}
	/* ids may leave gaps, but a few entries must not make us allocate
	 * for millions */
	if ((size_t)max_id >= 2 * (json_object_size(vocab) +
	                           json_array_size(added)) + 1024) {
		*rc = err_set(ERR_FORMAT, "tokenizer: '%s': id %lld is far beyond "
		              "the %zu vocabulary entries", file, (long long)max_id,
		              json_object_size(vocab) + json_array_size(added));
		return NULL;
	}
	t = tok__create(kind, (size_t)max_id + 1);
	seen = calloc((size_t)max_id + 1, 1);
	if (!t || !seen)
		goto nomem;
	json_object_foreach(vocab, key, v) {
		int id = (int)json_integer_value(v);
		size_t len = strlen(key);
		if (seen[id]) {
			*rc = err_set(ERR_FORMAT, "tokenizer: '%s': id %d is used twice",
			              file, id);
			goto fail;
		}
		if (len > TOK__MAX_PIECE) {
			*rc = err_set(ERR_FORMAT, "tokenizer: '%s': piece %d is too long",
			              file, id);
			goto fail;
		}
		seen[id] = 1;
		if ((*rc = tok__set_piece(t, id, key, len)) != 0)
			goto fail;
	}
	json_array_foreach(added, i, v) {
		int id = (int)json_integer_value(json_object_get(v, "id"));
		json_t *c = json_object_get(v, "content");
		size_t len = json_string_length(c);
		const char *s = json_string_value(c);
		if (len > TOK__MAX_PIECE || memchr(s, '\0', len)) {
			*rc = err_set(ERR_FORMAT, "tokenizer: '%s': added token %d is too "
			              "long or holds a NUL byte", file, id);
			goto fail;
		}
		if (!seen[id] || t->len[id] != len ||
		    memcmp(t->blob + t->off[id], s, len) != 0) {
			if ((*rc = tok__set_piece(t, id, s, len)) != 0)
				goto fail;
		}
		seen[id] = 1;
		t->type[id] = json_is_true(json_object_get(v, "special")) ? TOK__CONTROL
		                                                          : TOK__USER;
		if (json_is_true(json_object_get(v, "lstrip")))
			t->attr[id] |= TOK__LSTRIP;
		if (json_is_true(json_object_get(v, "rstrip")))
			t->attr[id] |= TOK__RSTRIP;
	}
	/* ids nobody uses stay empty and never match */
	for (int id = 0; id <= max_id; id++)
		if (!seen[id])
			t->type[id] = TOK__UNUSED;
	free(seen);
	*rc = 0;
	return t;

nomem:
	*rc = err_set(ERR_NOMEM, "tokenizer: out of memory");
fail:
	free(seen);
	tok_free(t);
	return NULL;
}

/* Split "a b" (HF merges) at its first space; ERR_FORMAT if none. */
static int
hf_add_merge(struct tokenizer *t, const char *s, size_t len, int rank,
             const char *file)
{
	const char *sp = memchr(s, ' ', len);
	int added, rc;
	if (!sp || sp == s || sp + 1 == s + len)
		return err_set(ERR_FORMAT, "tokenizer: '%s': merge %d ('%.*s') is "
		               "not two parts separated by a space", file, rank,
		               (int)(len < 40 ? len : 40), s);
	rc = tok__bpe_add_merge(t, s, (size_t)(sp - s), sp + 1,
	                        len - (size_t)(sp - s) - 1, rank, &added);
	if (rc == 0 && !added)
		rc = err_set(ERR_FORMAT, "tokenizer: '%s': merge %d ('%.*s') uses "
		             "pieces that are not in the vocabulary", file, rank,
		             (int)(len < 40 ? len : 40), s);
	return rc;
}

static int
hf_merges_json(struct tokenizer *t, json_t *merges, const char *file)
{
	size_t i;
	json_t *m;
	int rc;
	if (!json_is_array(merges))
		return err_set(ERR_FORMAT, "tokenizer: '%s': model.merges is not an "
		               "array", file);
	if (json_array_size(merges) > TOK__MAX_VOCAB)
		return err_set(ERR_FORMAT, "tokenizer: '%s': too many merges", file);
	if ((rc = tok__bpe_alloc_merges(t, json_array_size(merges))) != 0)
		return rc;
	json_array_foreach(merges, i, m) {
		if (json_is_string(m)) {
			rc = hf_add_merge(t, json_string_value(m), json_string_length(m),
			                  (int)i, file);
		} else if (json_is_array(m) && json_array_size(m) == 2 &&
		           json_is_string(json_array_get(m, 0)) &&
		           json_is_string(json_array_get(m, 1))) {
			json_t *a = json_array_get(m, 0), *b = json_array_get(m, 1);
			int added;
			rc = tok__bpe_add_merge(t, json_string_value(a),
			                        json_string_length(a), json_string_value(b),
			                        json_string_length(b), (int)i, &added);
			if (rc == 0 && !added)
				rc = err_set(ERR_FORMAT, "tokenizer: '%s': merge %zu uses "
				             "pieces that are not in the vocabulary", file, i);
		} else {
			rc = err_set(ERR_FORMAT, "tokenizer: '%s': merge %zu is neither "
			             "\"a b\" nor [\"a\", \"b\"]", file, i);
		}
		if (rc)
			return rc;
	}
	return 0;
}

static const char *
json_type_of(json_t *o)
{
	json_t *ty = json_object_get(o, "type");
	return json_is_string(ty) ? json_string_value(ty) : NULL;
}

/* A normalizer of a BPE tokenizer.json: NFC/NFD/NFKC/NFKD/Lowercase or a
 * Sequence of them. */
static int
hf_bpe_normalizer(struct tokenizer *t, json_t *n, const char *file)
{
	static const struct { const char *name; enum tok__norm norm; } map[] = {
		{ "NFC", TOK__NFC }, { "NFD", TOK__NFD }, { "NFKC", TOK__NFKC },
		{ "NFKD", TOK__NFKD }, { "Lowercase", TOK__LOWER },
	};
	const char *type;
	if (json_is_null(n) || !n)
		return 0;
	type = json_type_of(n);
	if (!type)
		return err_set(ERR_FORMAT, "tokenizer: '%s': normalizer without a "
		               "type", file);
	if (strcmp(type, "Sequence") == 0) {
		json_t *list = json_object_get(n, "normalizers"), *e;
		size_t i;
		int rc;
		if (!json_is_array(list))
			return err_set(ERR_FORMAT, "tokenizer: '%s': Sequence normalizer "
			               "without a list", file);
		json_array_foreach(list, i, e)
			if ((rc = hf_bpe_normalizer(t, e, file)) != 0)
				return rc;
		return 0;
	}
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
		if (strcmp(type, map[i].name) == 0) {
			if (t->n_norm >= TOK__MAX_NORM)
				return err_set(ERR_UNSUPPORTED, "tokenizer: '%s': too many "
				               "normalizers", file);
			t->norm[t->n_norm++] = map[i].norm;
			return 0;
		}
	}
	return err_set(ERR_UNSUPPORTED, "tokenizer: '%s': normalizer '%s' is not "
	               "supported for BPE", file, type);
}

static int
hf_split_behavior(const char *s, enum tok__split_behavior *b)
{
	static const struct { const char *name; enum tok__split_behavior b; } map[] = {
		{ "Isolated", TOK__SPLIT_ISOLATED },
		{ "Removed", TOK__SPLIT_REMOVED },
		{ "MergedWithPrevious", TOK__SPLIT_MERGED_PREV },
		{ "MergedWithNext", TOK__SPLIT_MERGED_NEXT },
		{ "Contiguous", TOK__SPLIT_CONTIGUOUS },
	};
	for (size_t i = 0; s && i < sizeof map / sizeof map[0]; i++) {
		if (strcmp(s, map[i].name) == 0) {
			*b = map[i].b;
			return 0;
		}
	}
	return -1;
}

/* GPT-2's pattern, the one ByteLevel(use_regex = true) runs. */
static const char GPT2_PATTERN[] =
	"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|"
	"\\s+(?!\\S)|\\s+";

/* The pre_tokenizer of a BPE tokenizer.json: Split steps, then exactly one
 * ByteLevel at the end (maybe inside a Sequence). *bytelevel counts the
 * ByteLevel steps seen. */
static int
hf_bpe_pre(struct tokenizer *t, json_t *p, const char *file, int *bytelevel)
{
	const char *type = json_type_of(p);
	int rc;
	if (!type)
		return err_set(ERR_FORMAT, "tokenizer: '%s': pre_tokenizer without "
		               "a type", file);
	if (*bytelevel)
		return err_set(ERR_UNSUPPORTED, "tokenizer: '%s': pre-tokenizer '%s' "
		               "after ByteLevel is not supported", file, type);
	if (strcmp(type, "Sequence") == 0) {
		json_t *list = json_object_get(p, "pretokenizers"), *e;
		size_t i;
		if (!json_is_array(list))
			return err_set(ERR_FORMAT, "tokenizer: '%s': Sequence "
			               "pre_tokenizer without a list", file);
		json_array_foreach(list, i, e)
			if ((rc = hf_bpe_pre(t, e, file, bytelevel)) != 0)
				return rc;
		return 0;
	}
	if (strcmp(type, "ByteLevel") == 0) {
		json_t *use = json_object_get(p, "use_regex");
		(*bytelevel)++;
		/* HF prepends the space to every piece the steps before it made */
		t->bl_at = t->n_split;
		t->bl_add_prefix_space = json_is_true(json_object_get(p,
		                                                  "add_prefix_space"));
		if (!use || json_is_true(use))
			return tok__bpe_add_split(t, GPT2_PATTERN, sizeof GPT2_PATTERN - 1,
			                          TOK__SPLIT_ISOLATED, false);
		return 0;
	}
	if (strcmp(type, "Split") == 0) {
		json_t *pat = json_object_get(p, "pattern");
		json_t *re = json_object_get(pat, "Regex");
		json_t *str = json_object_get(pat, "String");
		enum tok__split_behavior b;
		if (hf_split_behavior(json_string_value(json_object_get(p, "behavior")),
		                      &b) != 0)
			return err_set(ERR_FORMAT, "tokenizer: '%s': Split with an "
			               "unknown behavior", file);
		bool invert = json_is_true(json_object_get(p, "invert"));
		if (json_is_string(re))
			return tok__bpe_add_split(t, json_string_value(re),
			                          json_string_length(re), b, invert);
		if (json_is_string(str)) {
			/* a literal: quote it for PCRE2 with \Q...\E, splitting any
			 * "\E" it contains */
			const char *s = json_string_value(str);
			size_t n = json_string_length(str), k = 0;
			char *q = malloc(6 * n + 8);
			if (!q)
				return err_set(ERR_NOMEM, "tokenizer: out of memory");
			k += (size_t)sprintf(q, "\\Q");
			for (size_t i = 0; i < n; i++) {
				if (s[i] == '\\' && i + 1 < n && s[i + 1] == 'E') {
					k += (size_t)sprintf(q + k, "\\E\\\\E\\Q");
					i++;
				} else {
					q[k++] = s[i];
				}
			}
			k += (size_t)sprintf(q + k, "\\E");
			rc = tok__bpe_add_split(t, q, k, b, invert);
			free(q);
			return rc;
		}
		return err_set(ERR_FORMAT, "tokenizer: '%s': Split without a Regex "
		               "or String pattern", file);
	}
	return err_set(ERR_UNSUPPORTED, "tokenizer: '%s': pre-tokenizer '%s' is "
	               "not supported for BPE (ByteLevel, Split, Sequence are)",
	               file, type);
}

/* post_processor: which ids TOK_ADD_SPECIAL adds. */
static int
hf_post(struct tokenizer *t, json_t *p, const char *file)
{
	const char *type;
	if (!p || json_is_null(p))
		return 0;
	type = json_type_of(p);
	if (!type)
		return err_set(ERR_FORMAT, "tokenizer: '%s': post_processor without "
		               "a type", file);
	if (strcmp(type, "ByteLevel") == 0)
		return 0;
	if (strcmp(type, "Sequence") == 0) {
		json_t *list = json_object_get(p, "processors"), *e;
		size_t i;
		int rc;
		json_array_foreach(list, i, e)
			if ((rc = hf_post(t, e, file)) != 0)
				return rc;
		return 0;
	}
	if (strcmp(type, "BertProcessing") == 0 ||
	    strcmp(type, "RobertaProcessing") == 0) {
		json_t *cls = json_object_get(p, "cls"), *sep = json_object_get(p, "sep");
		json_t *ci = json_array_get(cls, 1), *si = json_array_get(sep, 1);
		int c = json_is_integer(ci) ? valid_id(t, json_integer_value(ci)) : -1;
		int s = json_is_integer(si) ? valid_id(t, json_integer_value(si)) : -1;
		if (c < 0 || s < 0)
			return err_set(ERR_FORMAT, "tokenizer: '%s': %s needs valid cls "
			               "and sep ids", file, type);
		t->n_prefix = t->n_suffix = 0;
		t->prefix[t->n_prefix++] = c;
		t->suffix[t->n_suffix++] = s;
		if (t->cls < 0)
			t->cls = c;
		if (t->sep < 0)
			t->sep = s;
		return 0;
	}
	if (strcmp(type, "TemplateProcessing") == 0) {
		json_t *single = json_object_get(p, "single");
		json_t *specials = json_object_get(p, "special_tokens"), *e;
		bool seen_seq = false;
		size_t i;
		if (!json_is_array(single))
			return err_set(ERR_FORMAT, "tokenizer: '%s': TemplateProcessing "
			               "without a single template", file);
		t->n_prefix = t->n_suffix = 0;
		json_array_foreach(single, i, e) {
			json_t *sp = json_object_get(e, "SpecialToken");
			if (json_object_get(e, "Sequence")) {
				seen_seq = true;
				continue;
			}
			const char *name = json_string_value(json_object_get(sp, "id"));
			json_t *ids = json_object_get(json_object_get(specials, name ? name : ""),
			                              "ids");
			size_t k;
			json_t *idv;
			if (!name || !json_is_array(ids))
				return err_set(ERR_FORMAT, "tokenizer: '%s': template token "
				               "%zu has no ids", file, i);
			json_array_foreach(ids, k, idv) {
				int id = json_is_integer(idv)
				         ? valid_id(t, json_integer_value(idv)) : -1;
				int *n = seen_seq ? &t->n_suffix : &t->n_prefix;
				if (id < 0)
					return err_set(ERR_FORMAT, "tokenizer: '%s': template "
					               "token '%.40s' has a bad id", file, name);
				if (*n >= TOK__MAX_AFFIX)
					return err_set(ERR_UNSUPPORTED, "tokenizer: '%s': too "
					               "many template tokens", file);
				(seen_seq ? t->suffix : t->prefix)[(*n)++] = id;
			}
		}
		return 0;
	}
	return err_set(ERR_UNSUPPORTED, "tokenizer: '%s': post_processor '%s' is "
	               "not supported", file, type);
}

static bool
json_bool_or(json_t *o, const char *key, bool dflt)
{
	json_t *v = json_object_get(o, key);
	return json_is_boolean(v) ? json_is_true(v) : dflt;
}

/* ------------------------------------------------------------------------
 * Unigram tokenizer.json
 */

/* model.vocab [[piece, score], ...] (id = index) plus added_tokens. */
static struct tokenizer *
hf_unigram_vocab(json_t *model, json_t *added, const char *file, int *rc)
{
	json_t *vocab = json_object_get(model, "vocab"), *e;
	struct tokenizer *t = NULL;
	unsigned char *seen = NULL;
	size_t n, i;
	int64_t max_id;

	if (!json_is_array(vocab) || json_array_size(vocab) == 0 ||
	    json_array_size(vocab) > TOK__MAX_VOCAB) {
		*rc = err_set(ERR_FORMAT, "tokenizer: '%s': the Unigram vocabulary is not "
		              "an array of 1 to %d [piece, score] entries", file, TOK__MAX_VOCAB);
		return NULL;
	}
	n = json_array_size(vocab);
	max_id = (int64_t)n - 1;
	if (added && !json_is_array(added)) {
		*rc = err_set(ERR_FORMAT, "tokenizer: '%s': added_tokens is not an "
		              "array", file);
		return NULL;
	}
	json_array_foreach(added, i, e) {
		json_t *id = json_object_get(e, "id");
		if (!json_is_integer(id) || json_integer_value(id) < 0 ||
		    json_integer_value(id) >= TOK__MAX_VOCAB ||
		    !json_is_string(json_object_get(e, "content"))) {
			*rc = err_set(ERR_FORMAT, "tokenizer: '%s': added_tokens[%zu] "
			              "needs an id and a content", file, i);
			return NULL;
		}
		if (json_integer_value(id) > max_id)
			max_id = json_integer_value(id);
	}
	if ((size_t)max_id >= 2 * (n + json_array_size(added)) + 1024) {
		*rc = err_set(ERR_FORMAT, "tokenizer: '%s': added token id %lld is far "
		              "beyond the %zu vocabulary entries", file, (long long)max_id, n);
		return NULL;
	}
	t = tok__create(TOK_UNIGRAM, (size_t)max_id + 1);
	seen = calloc((size_t)max_id + 1, 1);
	if (!t || !seen || !(t->uni_score = calloc(n, sizeof *t->uni_score)))
		goto nomem;
	t->uni_n_model = (int)n;
	json_array_foreach(vocab, i, e) {
		json_t *ps = json_array_get(e, 0), *sc = json_array_get(e, 1);
		if (!json_is_array(e) || json_array_size(e) != 2 || !json_is_string(ps) ||
		    !json_is_number(sc)) {
			*rc = err_set(ERR_FORMAT, "tokenizer: '%s': Unigram vocabulary entry "
			              "%zu is not [piece, score]", file, i);
			goto fail;
		}
		size_t len = json_string_length(ps);
		const char *p = json_string_value(ps);
		double score = json_number_value(sc);
		if (len > TOK__MAX_PIECE || memchr(p, '\0', len) ||
		    !(score > -1e30 && score < 1e30)) {
			*rc = err_set(ERR_FORMAT, "tokenizer: '%s': Unigram piece %zu is too long, "
			              "holds a NUL byte or has a score out of range", file, i);
			goto fail;
		}
		if ((*rc = tok__set_piece(t, (int)i, p, len)) != 0)
			goto fail;
		t->uni_score[i] = score;
		seen[i] = 1;
	}
	json_array_foreach(added, i, e) {
		int id = (int)json_integer_value(json_object_get(e, "id"));
		json_t *c = json_object_get(e, "content");
		size_t len = json_string_length(c);
		const char *p = json_string_value(c);
		if (len > TOK__MAX_PIECE || memchr(p, '\0', len)) {
			*rc = err_set(ERR_FORMAT, "tokenizer: '%s': added token %d is too "
			              "long or holds a NUL byte", file, id);
			goto fail;
		}
		if (id < (int)n && (t->len[id] != len || memcmp(t->blob + t->off[id], p, len))) {
			*rc = err_set(ERR_UNSUPPORTED, "tokenizer: '%s': added token %d "
			              "'%.40s' differs from the model's piece of that id", file,
			              id, p);
			goto fail;
		}
		if (id >= (int)n && (*rc = tok__set_piece(t, id, p, len)) != 0)
			goto fail;
		seen[id] = 1;
		t->type[id] = json_is_true(json_object_get(e, "special")) ? TOK__CONTROL
		                                                          : TOK__USER;
		if (json_is_true(json_object_get(e, "lstrip")))
			t->attr[id] |= TOK__LSTRIP;
		if (json_is_true(json_object_get(e, "rstrip")))
			t->attr[id] |= TOK__RSTRIP;
	}
	for (int64_t id = 0; id <= max_id; id++)
		if (!seen[id])
			t->type[id] = TOK__UNUSED;
	free(seen);
	*rc = 0;
	return t;
nomem:
	*rc = err_set(ERR_NOMEM, "tokenizer: out of memory");
fail:
	free(seen);
	tok_free(t);
	return NULL;
}

/* A Metaspace pre-tokenizer or decoder: replacement (one character),
 * prepend_scheme (or the older add_prefix_space), split. */
static int
hf_metaspace(json_t *p, const char *file, char *rep, size_t *rl,
             enum tok__prepend *prepend, bool *split)
{
	json_t *r = json_object_get(p, "replacement");
	json_t *ps = json_object_get(p, "prepend_scheme");
	json_t *ap = json_object_get(p, "add_prefix_space");
	size_t adv;
	if (!json_is_string(r) || json_string_length(r) == 0 ||
	    tok__utf8_decode((const unsigned char *)json_string_value(r),
	                     json_string_length(r), &adv) < 0 ||
	    adv != json_string_length(r))
		return err_set(ERR_FORMAT, "tokenizer: '%s': Metaspace needs a one-character "
		               "replacement", file);
	memcpy(rep, json_string_value(r), adv);
	rep[adv] = '\0';
	*rl = adv;
	*prepend = TOK__PREPEND_ALWAYS;
	if (json_is_string(ps)) {
		const char *v = json_string_value(ps);
		if (!strcmp(v, "always"))
			*prepend = TOK__PREPEND_ALWAYS;
		else if (!strcmp(v, "first"))
			*prepend = TOK__PREPEND_FIRST;
		else if (!strcmp(v, "never"))
			*prepend = TOK__PREPEND_NEVER;
		else
			return err_set(ERR_FORMAT, "tokenizer: '%s': Metaspace prepend_scheme "
			               "'%.20s' is not always, first or never", file, v);
	}
	if (json_is_false(ap))  /* the older form: add_prefix_space false */
		*prepend = TOK__PREPEND_NEVER;
	if (split)
		*split = json_bool_or(p, "split", true);
	return 0;
}

/* The pre_tokenizer of a Unigram: WhitespaceSplit, then Metaspace. */
static int
hf_uni_pre(struct tokenizer *t, json_t *p, const char *file)
{
	const char *type = json_type_of(p);
	if (!type)
		return err_set(ERR_FORMAT, "tokenizer: '%s': pre_tokenizer without a type",
		               file);
	if (strcmp(type, "Sequence") == 0) {
		json_t *list = json_object_get(p, "pretokenizers"), *e;
		size_t i;
		int rc;
		if (!json_is_array(list))
			return err_set(ERR_FORMAT, "tokenizer: '%s': Sequence pre_tokenizer "
			               "without a list", file);
		json_array_foreach(list, i, e)
			if ((rc = hf_uni_pre(t, e, file)) != 0)
				return rc;
		return 0;
	}
	if (strcmp(type, "WhitespaceSplit") == 0 && !t->uni_metaspace) {
		t->uni_ws_split = true;
		return 0;
	}
	if (strcmp(type, "Metaspace") == 0 && !t->uni_metaspace) {
		t->uni_metaspace = true;
		return hf_metaspace(p, file, t->uni_rep, &t->uni_rep_len, &t->uni_prepend,
		                    &t->uni_meta_split);
	}
	return err_set(ERR_UNSUPPORTED, "tokenizer: '%s': pre-tokenizer '%s' is not "
	               "supported for Unigram (WhitespaceSplit, then Metaspace, are)",
	               file, type);
}

/* model Unigram: vocabulary, unk_id, byte_fallback, pre-tokenizer, decoder. */
static struct tokenizer *
hf_unigram(json_t *root, json_t *model, const char *file, int *rc)
{
	json_t *norm = json_object_get(root, "normalizer");
	json_t *pre = json_object_get(root, "pre_tokenizer");
	json_t *dec = json_object_get(root, "decoder");
	json_t *unk = json_object_get(model, "unk_id");
	struct tokenizer *t;

	if (norm && !json_is_null(norm)) {
		*rc = err_set(ERR_UNSUPPORTED, "tokenizer: '%s': normalizer '%s' is not "
		              "supported for Unigram (only none)", file,
		              json_type_of(norm) ? json_type_of(norm) : "?");
		return NULL;
	}
	if (!(t = hf_unigram_vocab(model, json_object_get(root, "added_tokens"), file, rc)))
		return NULL;
	if (unk && !json_is_null(unk)) {
		if (!json_is_integer(unk) || json_integer_value(unk) < 0 ||
		    json_integer_value(unk) >= t->uni_n_model) {
			*rc = err_set(ERR_FORMAT, "tokenizer: '%s': unk_id is not an id of the "
			              "Unigram vocabulary", file);
			goto fail;
		}
		t->unk = (int)json_integer_value(unk);
	}
	t->uni_byte_fallback = json_bool_or(model, "byte_fallback", false);
	if (pre && !json_is_null(pre) && (*rc = hf_uni_pre(t, pre, file)) != 0)
		goto fail;
	snprintf(t->pre_name, sizeof t->pre_name, "%s%s%s",
	         t->uni_ws_split ? "hf-whitespacesplit" : "",
	         t->uni_ws_split && t->uni_metaspace ? "+" : "",
	         t->uni_metaspace ? (t->uni_ws_split ? "metaspace" : "hf-metaspace")
	                          : (t->uni_ws_split ? "" : "none"));
	if (dec && !json_is_null(dec)) {
		const char *type = json_type_of(dec);
		if (!type || strcmp(type, "Metaspace") != 0) {
			*rc = err_set(ERR_UNSUPPORTED, "tokenizer: '%s': decoder '%s' is not "
			              "supported for Unigram (Metaspace or none)", file,
			              type ? type : "?");
			goto fail;
		}
		t->uni_decoder = 1;
		if ((*rc = hf_metaspace(dec, file, t->uni_dec_rep, &t->uni_dec_rep_len,
		                        &t->uni_dec_prepend, NULL)) != 0)
			goto fail;
	}
	*rc = 0;
	return t;
fail:
	tok_free(t);
	return NULL;
}

static struct tokenizer *
hf_tokenizer_json(const char *file, json_t *cfg, int *rc)
{
	struct tokenizer *t = NULL;
	json_t *root = hf_load_json(file, rc), *model, *norm, *pre;
	const char *type;

	if (!root)
		return NULL;
	model = json_object_get(root, "model");
	if (!json_is_object(model)) {
		*rc = err_set(ERR_FORMAT, "tokenizer: '%s': no model object", file);
		goto out;
	}
	type = json_type_of(model);
	if (!type) {
		/* old files: infer from the fields */
		type = json_object_get(model, "merges") ? "BPE"
		       : json_object_get(model, "continuing_subword_prefix")
		         ? "WordPiece" : json_object_get(model, "unk_id") ? "Unigram" : "?";
	}
	norm = json_object_get(root, "normalizer");
	pre = json_object_get(root, "pre_tokenizer");
	if (strcmp(type, "BPE") == 0) {
		json_t *v;
		int bytelevel = 0;
		t = hf_vocab(TOK_BPE, json_object_get(model, "vocab"),
		             json_object_get(root, "added_tokens"), file, rc);
		if (!t)
			goto out;
		v = json_object_get(model, "continuing_subword_prefix");
		json_t *w = json_object_get(model, "end_of_word_suffix");
		if ((json_is_string(v) && json_string_length(v) > 0) ||
		    (json_is_string(w) && json_string_length(w) > 0)) {
			*rc = err_set(ERR_UNSUPPORTED, "tokenizer: '%s': BPE with "
			              "subword prefix/suffix is not supported", file);
			goto out;
		}
		t->ignore_merges = json_bool_or(model, "ignore_merges", false);
		if ((*rc = hf_bpe_normalizer(t, norm, file)) != 0)
			goto out;
		if (!json_is_object(pre)) {
			*rc = err_set(ERR_UNSUPPORTED, "tokenizer: '%s': BPE without a "
			              "ByteLevel pre-tokenizer is not supported", file);
			goto out;
		}
		if ((*rc = hf_bpe_pre(t, pre, file, &bytelevel)) != 0)
			goto out;
		if (bytelevel != 1) {
			*rc = err_set(ERR_UNSUPPORTED, "tokenizer: '%s': BPE without a "
			              "ByteLevel pre-tokenizer is not supported", file);
			goto out;
		}
		snprintf(t->pre_name, sizeof t->pre_name, "%s",
		         t->n_split > 1 || (t->n_split == 1 &&
		                            strcmp(json_type_of(pre), "Sequence") == 0)
		         ? "hf-split+bytelevel" : "hf-bytelevel");
		t->unk = hf_token_id(t, json_string_value(json_object_get(model,
		                                                         "unk_token")));
		if ((*rc = finish(t, true)) != 0 ||
		    (*rc = hf_merges_json(t, json_object_get(model, "merges"), file)))
			goto out;
	} else if (strcmp(type, "WordPiece") == 0) {
		json_t *v;
		t = hf_vocab(TOK_WORDPIECE, json_object_get(model, "vocab"),
		             json_object_get(root, "added_tokens"), file, rc);
		if (!t)
			goto out;
		tok__wp_defaults(t);
		v = json_object_get(model, "continuing_subword_prefix");
		if (json_is_string(v)) {
			if (json_string_length(v) >= sizeof t->wp_prefix) {
				*rc = err_set(ERR_FORMAT, "tokenizer: '%s': subword prefix "
				              "too long", file);
				goto out;
			}
			snprintf(t->wp_prefix, sizeof t->wp_prefix, "%s",
			         json_string_value(v));
			t->wp_prefix_len = strlen(t->wp_prefix);
		}
		v = json_object_get(model, "max_input_chars_per_word");
		if (json_is_integer(v) && json_integer_value(v) > 0)
			t->wp_max_chars = json_integer_value(v) > INT_MAX
			                  ? INT_MAX : (int)json_integer_value(v);
		if (!norm || json_is_null(norm)) {
			t->wp_clean_text = t->wp_chinese = false;
			t->wp_lowercase = t->wp_strip_accents = false;
		} else if (json_type_of(norm) &&
		           strcmp(json_type_of(norm), "BertNormalizer") == 0) {
			json_t *sa = json_object_get(norm, "strip_accents");
			t->wp_clean_text = json_bool_or(norm, "clean_text", true);
			t->wp_chinese = json_bool_or(norm, "handle_chinese_chars", true);
			t->wp_lowercase = json_bool_or(norm, "lowercase", true);
			t->wp_strip_accents = json_is_boolean(sa) ? json_is_true(sa)
			                                          : t->wp_lowercase;
		} else {
			*rc = err_set(ERR_UNSUPPORTED, "tokenizer: '%s': normalizer "
			              "'%s' is not supported for WordPiece", file,
			              json_type_of(norm) ? json_type_of(norm) : "?");
			goto out;
		}
		if (!json_is_object(pre) || !json_type_of(pre) ||
		    strcmp(json_type_of(pre), "BertPreTokenizer") != 0) {
			*rc = err_set(ERR_UNSUPPORTED, "tokenizer: '%s': WordPiece needs "
			              "the BertPreTokenizer", file);
			goto out;
		}
		snprintf(t->pre_name, sizeof t->pre_name, "bert");
		t->unk = hf_token_id(t, json_string_value(json_object_get(model,
		                                                         "unk_token")));
	} else if (strcmp(type, "Unigram") == 0) {
		if (!(t = hf_unigram(root, model, file, rc)))
			goto out;
	} else {
		*rc = err_set(ERR_UNSUPPORTED, "tokenizer: '%s': model type '%s' is "
		              "not supported (BPE, WordPiece, Unigram are)", file, type);
		goto out;
	}
	if ((t->kind == TOK_WORDPIECE || t->kind == TOK_UNIGRAM) &&
	    (*rc = tok__build_table(t, true)) != 0)
		goto out;
	hf_config_ids(t, cfg);
	if ((*rc = hf_post(t, json_object_get(root, "post_processor"), file)) != 0)
		goto out;
	hf_guess_ids(t);
	hf_mark_specials(t);
	*rc = finish(t, true);
out:
	json_decref(root);
	if (*rc) {
		tok_free(t);
		t = NULL;
	}
	return t;
}

/* vocab.json + merges.txt, GPT-2's original files. */
static struct tokenizer *
hf_vocab_json(const char *vfile, const char *mfile, json_t *cfg, int *rc)
{
	struct tokenizer *t = NULL;
	json_t *vocab = hf_load_json(vfile, rc);
	char *data = NULL;
	size_t len, pos = 0;
	int rank = 0, line = 0;
	const char *cls;

	if (!vocab)
		return NULL;
	t = hf_vocab(TOK_BPE, vocab, NULL, vfile, rc);
	json_decref(vocab);
	if (!t)
		return NULL;
	if ((*rc = tok__bpe_add_split(t, GPT2_PATTERN, sizeof GPT2_PATTERN - 1,
	                              TOK__SPLIT_ISOLATED, false)) != 0)
		goto out;
	snprintf(t->pre_name, sizeof t->pre_name, "hf-bytelevel");
	t->bl_add_prefix_space = json_bool_or(cfg, "add_prefix_space", false);
	if ((*rc = finish(t, true)) != 0)
		goto out;
	if ((*rc = util_read_file(mfile, &data, &len)) != 0)
		goto out;
	/* one rule per line, "#version" lines skipped, as HF's BPE::read_file */
	size_t n_lines = 1;
	for (size_t i = 0; i < len; i++)
		n_lines += data[i] == '\n';
	if ((*rc = tok__bpe_alloc_merges(t, n_lines)) != 0)
		goto out;
	while (pos < len) {
		char *nl = memchr(data + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - data) : len, n = end - pos;
		line++;
		if (n > 0 && data[pos + n - 1] == '\r')
			n--;
		if (!(n >= 8 && memcmp(data + pos, "#version", 8) == 0)) {
			const char *s = data + pos;
			const char *sp = memchr(s, ' ', n);
			if (!sp || memchr(sp + 1, ' ', n - (size_t)(sp - s) - 1)) {
				*rc = err_set(ERR_FORMAT, "tokenizer: '%s' line %d: a merge "
				              "must be two parts separated by one space",
				              mfile, line);
				goto out;
			}
			if ((*rc = hf_add_merge(t, s, n, rank, mfile)) != 0)
				goto out;
			rank++;
		}
		pos = end + 1;
	}
	hf_config_ids(t, cfg);
	hf_guess_ids(t);
	/* the slow tokenizers: GPT2Tokenizer adds BOS only when asked,
	 * RoBERTa/BART put <s> ... </s> around every text */
	cls = json_string_value(json_object_get(cfg, "tokenizer_class"));
	if (cls && (strstr(cls, "Roberta") || strstr(cls, "Bart"))) {
		int c = t->cls >= 0 ? t->cls : t->bos, s = t->sep >= 0 ? t->sep : t->eos;
		if (c >= 0)
			t->prefix[t->n_prefix++] = c;
		if (s >= 0)
			t->suffix[t->n_suffix++] = s;
		/* their <mask> is AddedToken(lstrip=True) */
		if (t->mask >= 0)
			t->attr[t->mask] |= TOK__LSTRIP;
	} else {
		if (json_bool_or(cfg, "add_bos_token", false) && t->bos >= 0)
			t->prefix[t->n_prefix++] = t->bos;
		if (json_bool_or(cfg, "add_eos_token", false) && t->eos >= 0)
			t->suffix[t->n_suffix++] = t->eos;
	}
	hf_mark_specials(t);
	*rc = finish(t, true);
out:
	free(data);
	if (*rc) {
		tok_free(t);
		t = NULL;
	}
	return t;
}

/* vocab.txt: one WordPiece per line, line k = id k (BertTokenizer). */
static struct tokenizer *
hf_vocab_txt(const char *file, json_t *cfg, int *rc)
{
	struct tokenizer *t = NULL;
	char *data = NULL;
	size_t len, pos = 0, n = 0;

	if ((*rc = util_read_file(file, &data, &len)) != 0)
		return NULL;
	for (size_t i = 0; i < len; i++)
		n += data[i] == '\n';
	if (len > 0 && data[len - 1] != '\n')
		n++;
	if (n == 0 || n > TOK__MAX_VOCAB) {
		*rc = err_set(ERR_FORMAT, "tokenizer: '%s': %zu lines is not a "
		              "vocabulary", file, n);
		goto out;
	}
	if (memchr(data, '\0', len)) {
		*rc = err_set(ERR_FORMAT, "tokenizer: '%s' holds a NUL byte", file);
		goto out;
	}
	t = tok__create(TOK_WORDPIECE, n);
	if (!t) {
		*rc = err_set(ERR_NOMEM, "tokenizer: out of memory");
		goto out;
	}
	for (size_t id = 0; id < n; id++) {
		char *nl = memchr(data + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - data) : len, m = end - pos;
		if (m > 0 && data[pos + m - 1] == '\r')
			m--;
		if (m > TOK__MAX_PIECE) {
			*rc = err_set(ERR_FORMAT, "tokenizer: '%s' line %zu is too long",
			              file, id + 1);
			goto out;
		}
		if ((*rc = tok__set_piece(t, (int)id, data + pos, m)) != 0)
			goto out;
		pos = end + 1;
	}
	tok__wp_defaults(t);
	t->wp_lowercase = json_bool_or(cfg, "do_lower_case", true);
	{
		json_t *sa = json_object_get(cfg, "strip_accents");
		t->wp_strip_accents = json_is_boolean(sa) ? json_is_true(sa)
		                                          : t->wp_lowercase;
	}
	t->wp_chinese = json_bool_or(cfg, "tokenize_chinese_chars", true);
	snprintf(t->pre_name, sizeof t->pre_name, "bert");
	/* python's dict: the last line of a duplicated piece wins */
	if ((*rc = tok__build_table(t, false)) != 0)
		goto out;
	hf_config_ids(t, cfg);
	hf_guess_ids(t);
	if (t->cls >= 0)
		t->prefix[t->n_prefix++] = t->cls;
	if (t->sep >= 0)
		t->suffix[t->n_suffix++] = t->sep;
	hf_mark_specials(t);
	*rc = finish(t, false);
out:
	free(data);
	if (*rc) {
		tok_free(t);
		t = NULL;
	}
	return t;
}

enum hf_which { HF_ANY, HF_TOKENIZER_JSON, HF_VOCAB_JSON, HF_VOCAB_TXT };

static struct tokenizer *
open_hf(const char *dir, enum hf_which which, int *err)
{
	struct tokenizer *t = NULL;
	char *tj = hf_path(dir, "tokenizer.json");
	char *vj = hf_path(dir, "vocab.json");
	char *mt = hf_path(dir, "merges.txt");
	char *vt = hf_path(dir, "vocab.txt");
	char *cf = hf_path(dir, "tokenizer_config.json");
	json_t *cfg = NULL;
	int rc;

	if (!tj || !vj || !mt || !vt || !cf) {
		rc = err_set(ERR_NOMEM, "tokenizer: out of memory");
		goto out;
	}
	if (file_exists(cf)) {
		cfg = hf_load_json(cf, &rc);
		if (!cfg)
			goto out;
		if (!json_is_object(cfg)) {
			rc = err_set(ERR_FORMAT, "tokenizer: '%s' is not a JSON object", cf);
			goto out;
		}
	}
	if ((which == HF_ANY || which == HF_TOKENIZER_JSON) && file_exists(tj)) {
		t = hf_tokenizer_json(tj, cfg, &rc);
	} else if ((which == HF_ANY || which == HF_VOCAB_JSON) && file_exists(vj)) {
		if (!file_exists(mt)) {
			rc = err_set(ERR_IO, "tokenizer: '%s' has no merges.txt next to "
			             "it", vj);
			goto out;
		}
		t = hf_vocab_json(vj, mt, cfg, &rc);
	} else if ((which == HF_ANY || which == HF_VOCAB_TXT) && file_exists(vt)) {
		t = hf_vocab_txt(vt, cfg, &rc);
	} else {
		rc = err_set(ERR_IO, "tokenizer: no tokenizer.json, vocab.json + "
		             "merges.txt or vocab.txt in '%s'", dir);
	}
out:
	json_decref(cfg);
	free(tj);
	free(vj);
	free(mt);
	free(vt);
	free(cf);
	if (err)
		*err = rc;
	return t;
}

struct tokenizer *
tok_open_hf(const char *dir, int *err)
{
	return open_hf(dir, HF_ANY, err);
}

/* ========================================================================
 * By path
 */

static bool
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

struct tokenizer *
tok_open_path(const char *path, int vocab_size, int *err)
{
	struct stat st;
	const char *base = strrchr(path, '/');
	static const struct { const char *name; enum hf_which which; } names[] = {
		{ "tokenizer.json", HF_TOKENIZER_JSON },
		{ "vocab.json", HF_VOCAB_JSON },
		{ "merges.txt", HF_VOCAB_JSON },
		{ "vocab.txt", HF_VOCAB_TXT },
	};

	base = base ? base + 1 : path;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return tok_open_hf(path, err);
	if (ends_with(path, ".gguf")) {
		int rc;
		struct gguf *g = gguf_open(path, &rc);
		struct tokenizer *t = NULL;
		if (g)
			t = tok_open_gguf(g, &rc);
		gguf_close(g);
		if (err)
			*err = rc;
		return t;
	}
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (strcmp(base, names[i].name) != 0)
			continue;
		/* the named file picks the format; the directory holds the rest */
		size_t n = (size_t)(base - path);
		char *dir = malloc(n + 2);
		struct tokenizer *t;
		if (!dir) {
			int rc = err_set(ERR_NOMEM, "tokenizer: out of memory");
			if (err)
				*err = rc;
			return NULL;
		}
		if (n == 0) {
			strcpy(dir, ".");
		} else {
			memcpy(dir, path, n - 1);
			dir[n - 1] = '\0';
			if (n == 1)
				strcpy(dir, "/");
		}
		t = open_hf(dir, names[i].which, err);
		free(dir);
		return t;
	}
	return tok_open_llama2c(path, vocab_size, err);
}

/*
 * bpe.c — byte-level BPE (GPT-2 and descendants), as llama.cpp's
 * llm_tokenizer_bpe and Hugging Face's ByteLevel + BPE do it:
 *   1. optional normalizers (NFC, NFKC, ..., lowercase; HF only)
 *   2. pre-tokenization: regex split steps run with PCRE2 (JIT, UTF, UCP,
 *      MATCH_INVALID_UTF, so arbitrary bytes never fail: invalid sequences
 *      match nothing and stay in the gaps between matches)
 *   3. each piece's bytes through GPT-2's byte-to-unicode map, one symbol
 *      per byte, then merges by rank (lowest first, leftmost among equal
 *      ranks) with a heap over adjacent pairs and stale-entry skipping
 * llama.cpp's regex sets per tokenizer.ggml.pre name are reproduced here
 * as its llm_tokenizer_bpe constructor lists them.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include "tokenizer/tok_internal.h"
#include "util/util.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <pcre2.h>
#include <utf8proc.h>

/* ========================================================================
 * GPT-2's byte <-> unicode map: printable Latin-1 bytes stand for
 * themselves, the other 68 bytes take code points 256.. in byte order.
 */

void
tok__bpe_init_bytemap(struct tokenizer *t)
{
	int next = 256;
	for (int i = 0; i < 324; i++)
		t->bl_byte[i] = -1;
	for (int b = 0; b < 256; b++) {
		bool keep = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) ||
		            (b >= 174 && b <= 255);
		int cp = keep ? b : next++;
		char u[4];
		size_t n = tok__utf8_encode((uint32_t)cp, u);
		t->bl_char[b] = (uint16_t)cp;
		t->bl_byte[cp] = (int16_t)b;
		t->byte_id[b] = tok__lookup(t, u, n);
	}
}

int
tok__bpe_unmap(const struct tokenizer *t, int id, char *buf)
{
	const unsigned char *p = (const unsigned char *)t->blob + t->off[id];
	size_t n = t->len[id], k = 0;
	for (size_t i = 0; i < n;) {
		size_t adv;
		int32_t cp = tok__utf8_decode(p + i, n - i, &adv);
		if (cp < 0 || cp >= 324 || t->bl_byte[cp] < 0)
			return -1;
		buf[k++] = (char)t->bl_byte[cp];
		i += adv;
	}
	return (int)k;
}

/* ========================================================================
 * Merges: (left id, right id) -> (rank, merged id), open addressing
 */

#define MERGE_EMPTY UINT64_MAX

static size_t
merge_slot(uint64_t key, size_t mask)
{
	return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 20) & mask;
}

int
tok__bpe_alloc_merges(struct tokenizer *t, size_t n)
{
	size_t cap = 64;
	while (cap < 2 * n + 16)
		cap *= 2;
	free(t->merges);
	t->merges = malloc(cap * sizeof *t->merges);
	if (!t->merges)
		return err_set(ERR_NOMEM, "tokenizer: out of memory");
	for (size_t i = 0; i < cap; i++)
		t->merges[i].key = MERGE_EMPTY;
	t->merge_mask = cap - 1;
	t->n_merges = 0;
	return 0;
}

int
tok__bpe_add_merge(struct tokenizer *t, const char *a, size_t la,
                   const char *b, size_t lb, int rank, int *added)
{
	*added = 0;
	int ia = tok__lookup(t, a, la), ib = tok__lookup(t, b, lb);
	if (ia < 0 || ib < 0)
		return 0;
	uint64_t h = tok__fnv(tok__fnv(TOK__FNV_OFFSET, a, la), b, lb);
	int im = tok__lookup2(t, h, a, la, b, lb);
	if (im < 0)
		return 0;
	if ((size_t)t->n_merges * 2 + 16 > t->merge_mask + 1)
		return err_set(ERR_RANGE, "tokenizer: merge table full");
	uint64_t key = (uint64_t)(uint32_t)ia << 32 | (uint32_t)ib;
	size_t i = merge_slot(key, t->merge_mask);
	while (t->merges[i].key != MERGE_EMPTY) {
		if (t->merges[i].key == key) {
			*added = 1;  /* a repeated rule keeps its first rank */
			return 0;
		}
		i = (i + 1) & t->merge_mask;
	}
	t->merges[i] = (struct tok__merge){ key, rank, im };
	t->n_merges++;
	*added = 1;
	return 0;
}

static const struct tok__merge *
find_merge(const struct tokenizer *t, int32_t a, int32_t b)
{
	uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
	for (size_t i = merge_slot(key, t->merge_mask);; i = (i + 1) & t->merge_mask) {
		if (t->merges[i].key == key)
			return &t->merges[i];
		if (t->merges[i].key == MERGE_EMPTY)
			return NULL;
	}
}

/* ========================================================================
 * Pre-tokenizers
 */

int
tok__bpe_add_split(struct tokenizer *t, const char *pattern, size_t len,
                   enum tok__split_behavior behavior, bool invert)
{
	int errcode;
	PCRE2_SIZE erroff;
	pcre2_code *re;

	if (t->n_split >= TOK__MAX_SPLIT)
		return err_set(ERR_UNSUPPORTED, "tokenizer: more than %d regex split "
		               "steps", TOK__MAX_SPLIT);
	re = pcre2_compile((PCRE2_SPTR)pattern, len,
	                   PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF,
	                   &errcode, &erroff, NULL);
	if (!re) {
		PCRE2_UCHAR msg[160];
		pcre2_get_error_message(errcode, msg, sizeof msg);
		return err_set(ERR_FORMAT, "tokenizer: pre-tokenizer regex '%.60s': "
		               "%s at offset %zu", pattern, (const char *)msg,
		               (size_t)erroff);
	}
	/* JIT is an optimisation: without it pcre2_match interprets */
	(void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE);
	t->split[t->n_split].re = re;
	t->split[t->n_split].behavior = behavior;
	t->split[t->n_split].invert = invert;
	t->n_split++;
	return 0;
}

void
tok__bpe_release(struct tokenizer *t)
{
	for (int i = 0; i < t->n_split; i++)
		pcre2_code_free(t->split[i].re);
	t->n_split = 0;
}

/* llama.cpp's regexes (llm_tokenizer_bpe), by pre-tokenizer type */
#define CONTRACTIONS "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
static const char RE_GPT2[] =
	"'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";
static const char RE_LLAMA3[] =
	CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|"
	" ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char RE_QWEN2[] =
	CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|"
	" ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char RE_QWEN35[] =
	CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}|"
	" ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char RE_SEED_CODER[] =
	CONTRACTIONS "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}|"
	" ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char RE_TEKKEN[] =
	"[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|"
	"[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|"
	"\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char RE_GPT4O[] =
	"[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+"
	CONTRACTIONS "?|"
	"[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*"
	CONTRACTIONS "?|"
	"\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
static const char RE_BLOOM[] =
	" ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{0964}\\x{06D4}"
	"\\x{060C})]+";

struct pre_def {
	const char *names;        /* alternatives, separated by '|'          */
	const char *re[4];
	bool ignore_merges, add_bos;
};

static const struct pre_def PRE_DEFS[] = {
	{ "default",
	  { "[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]" },
	  false, false },
	{ "gpt-2|phi-2|jina-es|jina-de|gigachat|jina-v2-es|jina-v2-de|a.x-4.0|"
	  "mellum|modern-bert|exaone4|jina-v1-en|jina-v2-code|roberta-bpe|mpt|"
	  "olmo|jais|trillion|granite-docling",
	  { RE_GPT2 }, false, false },
	{ "llama3|llama-v3|llama-bpe|falcon3|falcon-h1|pixtral|midm-2.0|lfm2|"
	  "jina-v5-nano",
	  { RE_LLAMA3 }, true, true },
	{ "dbrx|smaug-bpe", { RE_LLAMA3 }, false, false },
	{ "chatglm-bpe|glm4", { RE_LLAMA3 }, false, false },
	{ "qwen2|deepseek-r1-qwen|kormo|f2llmv2|megrez|stablelm2|hunyuan|"
	  "solar-open",
	  { RE_QWEN2 }, false, false },
	{ "qwen35", { RE_QWEN35 }, false, false },
	{ "seed-coder", { RE_SEED_CODER }, false, false },
	{ "falcon",
	  { "[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2, "[0-9][0-9][0-9]" },
	  false, false },
	{ "starcoder|refact|command-r|smollm|codeshell|exaone|minerva-7b|mellum2",
	  { "\\p{N}", RE_GPT2 }, false, false },
	{ "deepseek-coder",
	  { "[\\r\\n]", "\\s?\\p{L}+", "\\s?\\p{P}+",
	    "[\\x{4E00}-\\x{9FA5}\\x{0800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+" },
	  false, false },
	{ "poro-chat|bloom|gpt3-finnish", { RE_BLOOM }, false, false },
	{ "viking", { RE_BLOOM, "\\p{N}" }, false, false },
	{ "tekken", { RE_TEKKEN }, true, true },
	{ "gpt-4o|llama4|kanana2|talkie|minimax-m2", { RE_GPT4O }, false, false },
};

static bool
name_in(const char *names, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = names; *p;) {
		const char *bar = strchr(p, '|');
		size_t m = bar ? (size_t)(bar - p) : strlen(p);
		if (m == n && memcmp(p, name, n) == 0)
			return true;
		if (!bar)
			break;
		p = bar + 1;
	}
	return false;
}

int
tok__bpe_set_pre(struct tokenizer *t, const char *name, bool *add_bos)
{
	for (size_t i = 0; i < sizeof PRE_DEFS / sizeof PRE_DEFS[0]; i++) {
		const struct pre_def *d = &PRE_DEFS[i];
		if (!name_in(d->names, name))
			continue;
		/* "deepseek-coder" (the only entry whose 5th regex would not
		 * fit) keeps llama.cpp's last step: single digits */
		for (int k = 0; k < 4 && d->re[k]; k++) {
			int rc = tok__bpe_add_split(t, d->re[k], strlen(d->re[k]),
			                            TOK__SPLIT_ISOLATED, false);
			if (rc)
				return rc;
		}
		if (strcmp(name, "deepseek-coder") == 0) {
			int rc = tok__bpe_add_split(t, "\\p{N}", 5, TOK__SPLIT_ISOLATED,
			                            false);
			if (rc)
				return rc;
		}
		t->ignore_merges = d->ignore_merges;
		*add_bos = d->add_bos;
		return 0;
	}
	return err_set(ERR_UNSUPPORTED, "tokenizer: pre-tokenizer '%s' is not "
	               "supported", name);
}

/* ========================================================================
 * Splitting
 */

struct span {
	int32_t a, b;      /* byte range [a, b)                   */
	int32_t match;     /* 1 when the regex matched it         */
};

struct spans {
	struct span *v;
	size_t n, cap;
};

static int
spans_push(struct spans *s, int32_t a, int32_t b, int32_t match)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct span *v = realloc(s->v, cap * sizeof *v);
		if (!v)
			return err_set(ERR_NOMEM, "tok_encode: out of memory");
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = (struct span){ a, b, match };
	return 0;
}

/* Matching state of one encode call: match data and, only when a long
 * input needs it, a bigger JIT stack. */
struct matcher {
	pcre2_match_data *md;
	pcre2_match_context *mctx;
	pcre2_jit_stack *jstack;
};

static int
run_match(struct matcher *m, const pcre2_code *re, const char *s, size_t n,
          size_t off)
{
	int rc = pcre2_match(re, (PCRE2_SPTR)s, n, off, 0, m->md, m->mctx);
	if (rc == PCRE2_ERROR_JIT_STACKLIMIT && !m->jstack) {
		m->jstack = pcre2_jit_stack_create(64 * 1024, 256 * 1024 * 1024, NULL);
		m->mctx = pcre2_match_context_create(NULL);
		if (m->jstack && m->mctx) {
			pcre2_jit_stack_assign(m->mctx, NULL, m->jstack);
			rc = pcre2_match(re, (PCRE2_SPTR)s, n, off, 0, m->md, m->mctx);
		}
	}
	return rc;
}

/* The matched / unmatched segments of s[a..b) (HF's find_matches). */
static int
find_segments(struct matcher *m, const pcre2_code *re, const char *s,
              int32_t a, int32_t b, struct spans *seg)
{
	size_t n = (size_t)(b - a), off = 0, prev = 0;
	int rc;
	seg->n = 0;
	while (off <= n) {
		rc = run_match(m, re, s + a, n, off);
		if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
			/* a match error (resource limit): leave the rest whole */
			break;
		}
		if (rc == PCRE2_ERROR_NOMATCH)
			break;
		PCRE2_SIZE *ov = pcre2_get_ovector_pointer(m->md);
		size_t ms = ov[0], me = ov[1];
		if (ms < prev || me < ms || me > n)
			break;
		if (ms > prev && (rc = spans_push(seg, a + (int32_t)prev,
		                                  a + (int32_t)ms, 0)))
			return rc;
		if ((rc = spans_push(seg, a + (int32_t)ms, a + (int32_t)me, 1)))
			return rc;
		prev = me;
		if (me > ms) {
			off = me;
		} else {
			/* empty match: step over one character */
			if (ms >= n)
				break;
			off = ms + tok__utf8_len((unsigned char)s[a + ms]);
			if (off > n)
				off = n;
		}
	}
	if (prev < n && (rc = spans_push(seg, a + (int32_t)prev, b, 0)))
		return rc;
	return 0;
}

/* HF's split behaviours over the segments of one piece (empty results are
 * dropped later). */
static int
apply_behavior(const struct tok__split *sp, struct spans *seg,
               struct spans *out)
{
	int rc = 0;
	size_t first = out->n;
	bool prev_match = false;

	for (size_t i = 0; i < seg->n; i++)
		if (sp->invert)
			seg->v[i].match = !seg->v[i].match;
	switch (sp->behavior) {
	case TOK__SPLIT_ISOLATED:
		for (size_t i = 0; i < seg->n && !rc; i++)
			rc = spans_push(out, seg->v[i].a, seg->v[i].b, 0);
		break;
	case TOK__SPLIT_REMOVED:
		for (size_t i = 0; i < seg->n && !rc; i++)
			if (!seg->v[i].match)
				rc = spans_push(out, seg->v[i].a, seg->v[i].b, 0);
		break;
	case TOK__SPLIT_MERGED_PREV:
		for (size_t i = 0; i < seg->n && !rc; i++) {
			struct span *s = &seg->v[i];
			if (s->match && !prev_match && out->n > first)
				out->v[out->n - 1].b = s->b;
			else
				rc = spans_push(out, s->a, s->b, 0);
			prev_match = s->match;
		}
		break;
	case TOK__SPLIT_MERGED_NEXT: {
		/* HF folds from the right: a delimiter joins the piece after it
		 * unless that piece was a delimiter too */
		size_t base = out->n;
		for (size_t k = seg->n; k-- > 0 && !rc;) {
			struct span *s = &seg->v[k];
			if (s->match && !prev_match && out->n > base)
				out->v[out->n - 1].a = s->a;
			else
				rc = spans_push(out, s->a, s->b, 0);
			prev_match = s->match;
		}
		/* reverse what this piece added back into text order */
		if (!rc && out->n > base) {
			for (size_t i = base, j = out->n - 1; i < j; i++, j--) {
				struct span tmp = out->v[i];
				out->v[i] = out->v[j];
				out->v[j] = tmp;
			}
		}
		break;
	}
	case TOK__SPLIT_CONTIGUOUS:
		for (size_t i = 0; i < seg->n && !rc; i++) {
			struct span *s = &seg->v[i];
			if (s->match == prev_match && out->n > first)
				out->v[out->n - 1].b = s->b;
			else
				rc = spans_push(out, s->a, s->b, 0);
			prev_match = s->match;
		}
		break;
	}
	return rc;
}

/* HF ByteLevel(add_prefix_space): a space in front of every piece that
 * does not start with one; the text is rebuilt from the pieces. */
static int
prefix_space(char **s, size_t *n, struct spans *cur)
{
	size_t need = 0;
	for (size_t i = 0; i < cur->n; i++)
		need += (size_t)(cur->v[i].b - cur->v[i].a) + 1;
	if (need > (size_t)INT32_MAX / 4)
		return err_set(ERR_RANGE, "tok_encode: text too long");
	char *p = calloc(need + 32, 1), *old = *s;  /* padded for the JIT */
	size_t k = 0;
	if (!p)
		return err_set(ERR_NOMEM, "tok_encode: out of memory");
	for (size_t i = 0; i < cur->n; i++) {
		struct span *sp = &cur->v[i];
		int32_t a = (int32_t)k;
		if (sp->b <= sp->a) {
			sp->a = sp->b = a;
			continue;
		}
		if (old[sp->a] != ' ')
			p[k++] = ' ';
		memcpy(p + k, old + sp->a, (size_t)(sp->b - sp->a));
		k += (size_t)(sp->b - sp->a);
		sp->a = a;
		sp->b = (int32_t)k;
	}
	free(old);
	*s = p;
	*n = k;
	return 0;
}

/* ========================================================================
 * Normalizers (HF tokenizer.json only)
 */

/* text[0..len) through t->norm into a fresh buffer *out (*out_len).
 * Invalid UTF-8 is left as it is (normalizers need code points). */
static int
normalize(const struct tokenizer *t, const char *text, size_t len,
          char **out, size_t *out_len)
{
	char *cur = calloc(len + 32, 1);  /* zero padding: see below */
	size_t n = len;
	if (!cur)
		return err_set(ERR_NOMEM, "tok_encode: out of memory");
	memcpy(cur, text, len);
	cur[len] = '\0';
	if (util_utf8_valid(text, len)) {
		for (int k = 0; k < t->n_norm; k++) {
			utf8proc_uint8_t *dst = NULL;
			utf8proc_ssize_t m;
			if (t->norm[k] == TOK__LOWER) {
				/* Rust's char::to_lowercase: simple mappings, except
				 * U+0130 which becomes "i" + U+0307 */
				size_t cap = n * 2 + 4, o = 0;
				char *lo = malloc(cap);
				if (!lo)
					goto nomem;
				for (size_t i = 0; i < n;) {
					size_t adv;
					int32_t cp = tok__utf8_decode((unsigned char *)cur + i,
					                              n - i, &adv);
					if (cp == 0x130) {
						o += tok__utf8_encode('i', lo + o);
						o += tok__utf8_encode(0x307, lo + o);
					} else {
						o += tok__utf8_encode((uint32_t)utf8proc_tolower(cp),
						                      lo + o);
					}
					i += adv;
				}
				lo[o] = '\0';
				free(cur);
				cur = lo;
				n = o;
				continue;
			}
			utf8proc_option_t opt = UTF8PROC_STABLE;
			switch (t->norm[k]) {
			case TOK__NFC: opt |= UTF8PROC_COMPOSE; break;
			case TOK__NFD: opt |= UTF8PROC_DECOMPOSE; break;
			case TOK__NFKC: opt |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT; break;
			case TOK__NFKD: opt |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT; break;
			default: break;
			}
			m = utf8proc_map((const utf8proc_uint8_t *)cur, (utf8proc_ssize_t)n,
			                 &dst, opt);
			if (m < 0) {
				if (m == UTF8PROC_ERROR_NOMEM)
					goto nomem;
				continue;  /* leave the text as it is */
			}
			free(cur);
			cur = (char *)dst;
			n = (size_t)m;
		}
	}
	if (t->n_norm > 0) {
		/* PCRE2's JIT scans the subject in SIMD blocks that may reach a
		 * little past its end: keep initialised padding after the text */
		char *pad = calloc(n + 32, 1);
		if (!pad)
			goto nomem;
		memcpy(pad, cur, n);
		free(cur);
		cur = pad;
	}
	*out = cur;
	*out_len = n;
	return 0;
nomem:
	free(cur);
	return err_set(ERR_NOMEM, "tok_encode: out of memory");
}

/* ========================================================================
 * BPE over one pre-token
 */

struct work {
	int32_t *tok, *next, *prev;
	struct tok__heap heap;
	char *mapped;             /* ignore_merges: the word in byte-level form */
	size_t cap;
};

static int
work_reserve(struct work *w, size_t n)
{
	size_t heap_bytes;
	if (n <= w->cap)
		return 0;
	if (n > (size_t)INT32_MAX / 4 || ckd_mul3_size(&heap_bytes, 3, n,
	                                               sizeof *w->heap.v))
		return err_set(ERR_RANGE, "tok_encode: word of %zu bytes is too long",
		               n);
	free(w->tok);
	free(w->next);
	free(w->prev);
	free(w->heap.v);
	free(w->mapped);
	w->tok = malloc(n * sizeof *w->tok);
	w->next = malloc(n * sizeof *w->next);
	w->prev = malloc(n * sizeof *w->prev);
	w->heap.v = malloc(heap_bytes);
	w->mapped = malloc(2 * n);
	w->cap = n;
	if (!w->tok || !w->next || !w->prev || !w->heap.v || !w->mapped) {
		w->cap = 0;
		return err_set(ERR_NOMEM, "tok_encode: out of memory");
	}
	return 0;
}

static void
push_merge(const struct tokenizer *t, struct work *w, int32_t left,
           int32_t right)
{
	int32_t a = w->tok[left], b = w->tok[right];
	if (a < 0 || b < 0)
		return;
	const struct tok__merge *m = find_merge(t, a, b);
	if (!m)
		return;
	/* rank < 2^24, exact as a float; lower rank = higher priority */
	tok__heap_push(&w->heap, (struct tok__pair){ -(float)m->rank, left, right,
	                                             a, b, m->id });
}

static int
bpe_word(const struct tokenizer *t, const unsigned char *s, size_t n,
         struct work *w, struct tok__ids *out)
{
	int rc;
	if (n == 0)
		return 0;
	if ((rc = work_reserve(w, n)) != 0)
		return rc;
	if (t->ignore_merges) {
		size_t k = 0;
		for (size_t i = 0; i < n; i++)
			k += tok__utf8_encode(t->bl_char[s[i]], w->mapped + k);
		int id = tok__lookup(t, w->mapped, k);
		if (id >= 0)
			return tok__ids_push(out, id);
	}
	for (size_t i = 0; i < n; i++) {
		w->tok[i] = t->byte_id[s[i]];
		w->prev[i] = (int32_t)i - 1;
		w->next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
	}
	w->heap.n = 0;
	if (t->merges)
		for (size_t i = 0; i + 1 < n; i++)
			push_merge(t, w, (int32_t)i, (int32_t)i + 1);
	while (w->heap.n > 0) {
		struct tok__pair p = tok__heap_pop(&w->heap);
		if (w->tok[p.left] != p.a || w->tok[p.right] != p.b ||
		    w->next[p.left] != p.right)
			continue;  /* stale */
		w->tok[p.left] = p.c;
		w->tok[p.right] = -1;
		int32_t after = w->next[p.right];
		w->next[p.left] = after;
		if (after >= 0)
			w->prev[after] = p.left;
		if (w->prev[p.left] >= 0)
			push_merge(t, w, w->prev[p.left], p.left);
		if (after >= 0)
			push_merge(t, w, p.left, after);
	}
	rc = 0;
	for (int32_t i = 0; i >= 0 && !rc; i = w->next[i]) {
		int32_t id = w->tok[i];
		/* a byte without a token: HF's unk if any, else skipped as
		 * llama.cpp does */
		if (id < 0)
			id = t->unk;
		if (id >= 0)
			rc = tok__ids_push(out, id);
	}
	return rc;
}

/* ========================================================================
 * Encoding a stretch of plain text
 */

int
tok__bpe_encode(const struct tokenizer *t, const char *text, size_t len,
                struct tok__ids *out)
{
	char *s = NULL;
	size_t n = 0;
	struct spans cur = { 0 }, next = { 0 }, seg = { 0 };
	struct matcher m = { NULL, NULL, NULL };
	struct work w = { 0 };
	int rc;

	if (len == 0)
		return 0;
	if ((rc = normalize(t, text, len, &s, &n)) != 0)
		return rc;
	if (n > (size_t)INT32_MAX / 4) {
		rc = err_set(ERR_RANGE, "tok_encode: text of %zu bytes is too long",
		             len);
		goto out;
	}
	if ((rc = spans_push(&cur, 0, (int32_t)n, 0)) != 0)
		goto out;
	if (t->n_split > 0) {
		m.md = pcre2_match_data_create(1, NULL);
		if (!m.md) {
			rc = err_set(ERR_NOMEM, "tok_encode: out of memory");
			goto out;
		}
	}
	for (int k = 0; k <= t->n_split; k++) {
		if (k == t->bl_at && t->bl_add_prefix_space &&
		    (rc = prefix_space(&s, &n, &cur)) != 0)
			goto out;
		if (k == t->n_split)
			break;
		next.n = 0;
		for (size_t i = 0; i < cur.n; i++) {
			if (cur.v[i].b <= cur.v[i].a)
				continue;
			rc = find_segments(&m, t->split[k].re, s, cur.v[i].a, cur.v[i].b,
			                   &seg);
			if (!rc)
				rc = apply_behavior(&t->split[k], &seg, &next);
			if (rc)
				goto out;
		}
		struct spans tmp = cur;
		cur = next;
		next = tmp;
	}
	for (size_t i = 0; i < cur.n; i++) {
		if (cur.v[i].b <= cur.v[i].a)
			continue;
		rc = bpe_word(t, (const unsigned char *)s + cur.v[i].a,
		              (size_t)(cur.v[i].b - cur.v[i].a), &w, out);
		if (rc)
			goto out;
	}
	rc = 0;
out:
	free(s);
	free(cur.v);
	free(next.v);
	free(seg.v);
	pcre2_match_data_free(m.md);
	pcre2_match_context_free(m.mctx);
	if (m.jstack)
		pcre2_jit_stack_free(m.jstack);
	free(w.tok);
	free(w.next);
	free(w.prev);
	free(w.heap.v);
	free(w.mapped);
	return rc;
}

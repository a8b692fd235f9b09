/*
 * recorder.c — the capture sink that writes into the store, and rec_run():
 * validate every input first, then record one transaction per sample.
 */
#include "record.h"

#include <glob.h>
#include <pthread.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../analysis/analysis.h"
#include "../capture/capture.h"
#include "../model/model.h"
#include "../tokenizer/tokenizer.h"
#include "../util/util.h"
#include "writer.h"

/* ---- the sink -------------------------------------------------------- */

struct recorder {
	struct cap_sink sink;
	struct cap_filter *filter;
	struct rec_job *job;   /* the sample being filled */
	float *logits;         /* set: copy CAP_LOGITS here (generation) */
};

/* Attention maps and the kind they are stored under; NULL for other points. */
static const char *
map_kind(enum cap_point p)
{
	switch (p) {
	case CAP_ATTN_PATTERN: return "self";
	case CAP_ENC_ATTN_PATTERN: return "encoder";
	case CAP_DEC_ATTN_PATTERN: return "decoder";
	case CAP_DEC_CROSS_PATTERN: return "cross";
	default: return NULL;
	}
}

static bool
rec_want(struct cap_sink *sink, enum cap_point p, int layer)
{
	struct recorder *r = cap_container_of(sink, struct recorder, sink);
	/* maps are always wanted: their statistics are stored for every head
	 * even when the maps themselves are not */
	return map_kind(p) || (p == CAP_LOGITS && r->logits) ||
	       cap_filter_match(r->filter, p, layer);
}

/* Copy what the forward pass offers into the sample's job; the writer
 * thread computes the statistics, encodes and stores it. */
static int
rec_emit(struct cap_sink *sink, const struct cap_tensor *t)
{
	struct recorder *r = cap_container_of(sink, struct recorder, sink);
	const char *kind = map_kind(t->point);
	if (kind) {
		/* statistics of encoder and cross maps get a metric prefix:
		 * "encoder.entropy", "cross.first_token" ... */
		bool plain = t->point == CAP_ATTN_PATTERN || t->point == CAP_DEC_ATTN_PATTERN;
		char prefix[32];
		snprintf(prefix, sizeof prefix, "%s%s", plain ? "" : kind, plain ? "" : ".");
		return rw_job_map(r->job, kind, prefix,
		                  cap_filter_match(r->filter, t->point, t->layer), t);
	}
	if (t->point == CAP_LOGITS && r->logits) {
		memcpy(r->logits, t->data, (size_t)t->shape[0] * t->shape[1] * sizeof(float));
		if (!cap_filter_match(r->filter, t->point, t->layer))
			return 0;
	}
	char name[96];
	cap_hook_name(name, sizeof name, t->point, t->layer);
	return rw_job_act(r->job, name, t);
}

static const struct cap_sink_ops rec_ops = { .want = rec_want, .emit = rec_emit };

/* ---- per-token outputs ------------------------------------------------ */

/* e^x for x <= 0 (x - max), to about 2 ulp: x = n·ln2 + r with |r| <= ln2/2,
 * a degree-6 polynomial for e^r, 2^n through the exponent bits. Written
 * to vectorise (no calls, no branches); below -87 it returns 0. */
static inline float
exp_lane(float x)
{
	x = x < -87.0f ? -87.0f : x;
	/* round to nearest through the float adder: |x·log2 e| < 2^22 */
	float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
	float r = x - n * 0.693359375f + n * 2.12194440e-4f; /* ln2 in two parts */
	float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.6666666e-1f + r * (4.1666584e-2f +
	          r * (8.3335096e-3f + r * 1.3887295e-3f)))));
	int32_t bits = ((int32_t)n + 127) << 23;
	float scale;
	memcpy(&scale, &bits, 4);
	return p * scale;
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx2", "default")))
#endif
void
rec_token_outputs(const float *logits, int V, int next, struct store_token *out)
{
	float mx = logits[0];
	for (int i = 1; i < V; i++)
		if (logits[i] > mx)
			mx = logits[i];
	/* one exp per logit: z = Σ e^(l-mx), s = Σ e^(l-mx)·(l-mx); then
	 * log Z = mx + ln z and the entropy -Σ p ln p = ln z - s/z. The sums
	 * run in float lanes (vectorised) and are added up in double. */
	enum { LANES = 16 };
	float zl[LANES] = { 0 }, sll[LANES] = { 0 };
	int b = 0;
	for (; b + LANES <= V; b += LANES) {
#pragma omp simd
		for (int k = 0; k < LANES; k++) {
			float d = logits[b + k] - mx;
			float e = exp_lane(d);
			zl[k] += e;
			sll[k] += e * d;
		}
	}
	double z = 0, sl = 0;
	for (int k = 0; k < LANES; k++) {
		z += zl[k];
		sl += sll[k];
	}
	for (; b < V; b++) {
		float d = logits[b] - mx;
		float e = expf(d);
		z += e;
		sl += (double)e * d;
	}
	double lz = mx + log(z); /* log Σ exp */
	out->entropy = (float)(log(z) - sl / z);
	out->next_logprob = next >= 0 && next < V ? (float)(logits[next] - lz) : NAN;
	/* top-k by insertion: k is tiny; ties keep the lower id first */
	int k = V < STORE_TOPK ? V : STORE_TOPK;
	out->k = k;
	for (int j = 0; j < k; j++)
		out->topk_id[j] = -1;
	float kth = -INFINITY; /* smallest kept value once k are kept */
	for (int i = 0; i < V; i++) {
		if (out->topk_id[k - 1] >= 0 && !(logits[i] > kth))
			continue;
		int pos = k;
		while (pos > 0 && (out->topk_id[pos - 1] < 0 ||
		                   logits[i] > logits[out->topk_id[pos - 1]]))
			pos--;
		if (pos >= k)
			continue;
		for (int j = k - 1; j > pos; j--)
			out->topk_id[j] = out->topk_id[j - 1];
		out->topk_id[pos] = i;
		if (out->topk_id[k - 1] >= 0)
			kth = logits[out->topk_id[k - 1]];
	}
	for (int j = 0; j < k; j++)
		out->topk_logprob[j] = (float)(logits[out->topk_id[j]] - lz);
}

/* ---- tokenizer and samples ------------------------------------------- */

struct tokenizer *
rec_open_tokenizer(const struct model *m, const char *model_path, const char *path,
                   int *err)
{
	char buf[4096];
	const struct model_config *c = model_config(m);
	if (!path)
		path = model_tokenizer_source(m); /* the GGUF itself, the HF directory */
	if (!path) {
		/* llama2.c's own name, then Karpathy's trained ones (tok512.bin):
		 * used when exactly one of them sits next to the model */
		const char *slash = strrchr(model_path, '/');
		int dir = slash ? (int)(slash - model_path) + 1 : 0;
		static const char *const pats[] = { "tokenizer.bin", "tok*.bin" };
		for (size_t i = 0; i < 2 && !path; i++) {
			char pat[4096];
			snprintf(pat, sizeof pat, "%.*s%s", dir, model_path, pats[i]);
			glob_t g;
			if (glob(pat, 0, NULL, &g) == 0 && g.gl_pathc == 1) {
				snprintf(buf, sizeof buf, "%s", g.gl_pathv[0]);
				path = buf;
			}
			globfree(&g);
		}
		if (!path) {
			if (err)
				*err = ERR_ARG;
			err_set(ERR_ARG, "no tokenizer for '%s': pass --tokenizer FILE "
			        "(llama2.c tokenizer.bin)", model_path);
			return NULL;
		}
	}
	struct tokenizer *t = tok_open_path(path,
	                                    c->format == MODEL_FMT_LLAMA2C ? c->vocab_size : 0,
	                                    err);
	if (t && tok_vocab_size(t) > c->vocab_size) {
		err_set(ERR_FORMAT, "tokenizer '%s' has %d tokens but the model's embedding "
		        "has %d rows: they do not belong together", path, tok_vocab_size(t),
		        c->vocab_size);
		if (err)
			*err = ERR_FORMAT;
		tok_free(t);
		return NULL;
	}
	return t;
}

int
rec_tokenize(const struct tokenizer *t, const struct ds_sample *s, long index,
             int vocab_size, int n_ctx, int max_tokens, int32_t **ids, int *n_ids)
{
	*ids = NULL;
	*n_ids = 0;
	int n = 0;
	int32_t *p = NULL;
	if (s->text) {
		/* a generous first guess; tok_encode says if more is needed */
		int cap = (int)(s->len < (1u << 26) ? s->len + 3 : (1u << 26));
		if (s->len >= (1u << 26))
			return err_set(ERR_RANGE, "sample %ld (line %ld) is larger than 64 MiB",
			               index, s->line);
		p = malloc((size_t)cap * sizeof *p);
		if (!p)
			return err_set(ERR_NOMEM, "out of memory");
		const unsigned flags = TOK_ADD_SPECIAL | TOK_PARSE_SPECIAL;
		int rc = tok_encode_ex(t, s->text, s->len, flags, p, cap, &n);
		if (rc == ERR_RANGE) {
			int32_t *q = realloc(p, (size_t)n * sizeof *p);
			if (!q) {
				free(p);
				return err_set(ERR_NOMEM, "out of memory");
			}
			p = q;
			rc = tok_encode_ex(t, s->text, s->len, flags, p, n, &n);
		}
		if (rc) {
			free(p);
			return rc;
		}
	} else {
		n = s->n_tokens;
		p = malloc((size_t)n * sizeof *p);
		if (!p)
			return err_set(ERR_NOMEM, "out of memory");
		for (int i = 0; i < n; i++) {
			if (s->tokens[i] < 0 || s->tokens[i] >= vocab_size) {
				free(p);
				return err_set(ERR_RANGE, "sample %ld (line %ld): token id %d is "
				               "outside the vocabulary (0..%d)", index, s->line,
				               s->tokens[i], vocab_size - 1);
			}
			p[i] = s->tokens[i];
		}
	}
	if (max_tokens > 0 && n > max_tokens)
		n = max_tokens;
	if (n > n_ctx) {
		free(p);
		return err_set(ERR_RANGE, "sample %ld (line %ld) has %d tokens, more than "
		               "the model's context of %d: cut it with --max-tokens %d",
		               index, s->line, n, n_ctx, n_ctx);
	}
	*ids = p;
	*n_ids = n;
	return 0;
}

/* Encode text with the tokenizer's special tokens, or check given ids. */
static int
side_ids(const struct tokenizer *t, const char *text, size_t len, const int32_t *given,
         int n_given, int vocab_size, const char *what, long index, long line,
         int32_t **out, int *n_out)
{
	int n = 0, cap;
	int32_t *p;
	if (text) {
		if (len >= (1u << 26))
			return err_set(ERR_RANGE, "sample %ld (line %ld): the %s is larger than 64 MiB",
			               index, line, what);
		cap = (int)len + 8;
		if (!(p = malloc((size_t)cap * sizeof *p)))
			return err_set(ERR_NOMEM, "out of memory");
		const unsigned flags = TOK_ADD_SPECIAL | TOK_PARSE_SPECIAL;
		int rc = tok_encode_ex(t, text, len, flags, p, cap, &n);
		if (rc == ERR_RANGE) {
			int32_t *q = realloc(p, (size_t)n * sizeof *p);
			if (!q) {
				free(p);
				return err_set(ERR_NOMEM, "out of memory");
			}
			p = q;
			rc = tok_encode_ex(t, text, len, flags, p, n, &n);
		}
		if (rc) {
			free(p);
			return rc;
		}
	} else {
		n = n_given;
		if (!(p = malloc((size_t)(n ? n : 1) * sizeof *p)))
			return err_set(ERR_NOMEM, "out of memory");
		for (int i = 0; i < n; i++) {
			if (given[i] < 0 || given[i] >= vocab_size) {
				free(p);
				return err_set(ERR_RANGE, "sample %ld (line %ld): %s token id %d is "
				               "outside the vocabulary (0..%d)", index, line, what,
				               given[i], vocab_size - 1);
			}
			p[i] = given[i];
		}
	}
	*out = p;
	*n_out = n;
	return 0;
}

int
rec_tokenize_pair(const struct tokenizer *t, const struct ds_sample *s, long index,
                  int vocab_size, int n_ctx, int decoder_start, int max_tokens,
                  int32_t **src, int *n_src, int32_t **tgt, int32_t **labels, int *n_tgt)
{
	*src = *tgt = *labels = NULL;
	*n_src = *n_tgt = 0;
	const char *stext = s->pair ? s->source : s->text;
	const int32_t *sgiven = s->pair ? s->source_tokens : s->tokens;
	int sn = s->pair ? s->n_source_tokens : s->n_tokens;
	int rc = side_ids(t, stext, s->pair ? s->source_len : s->len, sgiven, sn, vocab_size,
	                  "source", index, s->line, src, n_src);
	if (rc)
		return rc;
	if (s->pair && (s->text || s->tokens)) {
		int32_t *lab;
		int nl;
		if ((rc = side_ids(t, s->text, s->len, s->tokens, s->n_tokens, vocab_size,
		                   "target", index, s->line, &lab, &nl)) != 0)
			goto fail;
		int n = nl;
		int32_t *dec = malloc((size_t)(n ? n : 1) * sizeof *dec);
		int32_t *nxt = malloc((size_t)(n ? n : 1) * sizeof *nxt);
		if (!dec || !nxt) {
			free(dec);
			free(nxt);
			free(lab);
			rc = err_set(ERR_NOMEM, "out of memory");
			goto fail;
		}
		if (s->text) { /* labels -> decoder input: HF's shift right */
			for (int i = 0; i < n; i++) {
				dec[i] = i == 0 ? decoder_start : lab[i - 1];
				nxt[i] = lab[i];
			}
		} else { /* the decoder input as given */
			for (int i = 0; i < n; i++) {
				dec[i] = lab[i];
				nxt[i] = i + 1 < n ? lab[i + 1] : -1;
			}
		}
		free(lab);
		*tgt = dec;
		*labels = nxt;
		*n_tgt = n;
		if (n == 0) {
			rc = err_set(ERR_FORMAT, "sample %ld (line %ld): the target is empty", index,
			             s->line);
			goto fail;
		}
	}
	if (max_tokens > 0) {
		if (*n_src > max_tokens)
			*n_src = max_tokens;
		if (*n_tgt > max_tokens)
			*n_tgt = max_tokens;
	}
	if (*n_src < 1 || *n_src > n_ctx || *n_tgt > n_ctx) {
		rc = err_set(ERR_RANGE, "sample %ld (line %ld) has %d source and %d target tokens; "
		             "the model takes 1 to %d on each side: cut with --max-tokens", index,
		             s->line, *n_src, *n_tgt, n_ctx);
		goto fail;
	}
	return 0;
fail:
	free(*src);
	free(*tgt);
	free(*labels);
	*src = *tgt = *labels = NULL;
	*n_src = *n_tgt = 0;
	return rc;
}

/* ---- the run ----------------------------------------------------------- */

static char *
options_json(const struct rec_options *o, const char *tok_path)
{
	json_t *j = json_pack("{s:s, s:s, s:i, s:I, s:s, s:s, s:i}",
	                      "capture", o->capture ? o->capture : REC_DEFAULT_CAPTURE,
	                      "encoding", store_enc_name(o->enc),
	                      "max_tokens", o->max_tokens,
	                      "limit", (json_int_t)o->limit,
	                      "field", o->field ? o->field : "text",
	                      "tokenizer", tok_path ? tok_path : "(the model's)",
	                      "bos", (int)o->bos);
	char *s = j ? json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT) : NULL;
	json_decref(j);
	return s;
}

/* A model's display name: the file name, or for a directory its name
 * (the parent's when it is a generic "hf", "model" or "snapshot" folder). */
static void
model_name(const char *p, char *out, size_t n)
{
	char buf[4096];
	snprintf(buf, sizeof buf, "%s", p);
	size_t len = strlen(buf);
	while (len > 1 && buf[len - 1] == '/')
		buf[--len] = '\0';
	char *last = strrchr(buf, '/');
	const char *name = last ? last + 1 : buf;
	if (last && (!strcmp(name, "hf") || !strcmp(name, "model") || !strcmp(name, "."))) {
		*last = '\0';
		char *prev = strrchr(buf, '/');
		snprintf(out, n, "%s/%s", prev ? prev + 1 : buf, name);
		return;
	}
	snprintf(out, n, "%s", name);
}

/* The model's fingerprint is computed beside pass 1 (hashing a large file
 * takes a second or more); joined before the model row is written. */
struct hash_job {
	struct model *m;
	char sha[65];
};

static void *
hash_thread(void *arg)
{
	struct hash_job *j = arg;
	model_sha256(j->m, j->sha);
	return NULL;
}

/* record_one's answer when the writer thread has failed: rw_finish()
 * then reports the writer's own error */
#define WRITER_FAILED 1

/* A sample ready to run: ids [n] (decoder input for encoder–decoders),
 * src [n_src] (encoder–decoders), next [n] the token each position
 * predicts (-1 unknown). */
struct prepared {
	int32_t *src, *ids, *next;
	int n_src, n;
};

static void
prepared_free(struct prepared *p)
{
	free(p->src);
	free(p->ids);
	free(p->next);
	memset(p, 0, sizeof *p);
}

static int
prepare(const struct rec_options *o, const struct tokenizer *tok,
        const struct model_config *c, const struct ds_sample *s, long index,
        struct prepared *p)
{
	memset(p, 0, sizeof *p);
	if (c->encdec) {
		if (!s->pair && o->generate <= 0)
			return err_set(ERR_ARG, "sample %ld (line %ld): an encoder–decoder model "
			               "records (source, target) pairs (JSONL \"source\" and "
			               "\"target\"), or sources with --generate N", index, s->line);
		int rc = rec_tokenize_pair(tok, s, index, c->vocab_size, c->n_ctx, c->decoder_start,
		                           o->max_tokens, &p->src, &p->n_src, &p->ids, &p->next,
		                           &p->n);
		if (rc)
			return rc;
		if (p->n == 0 && o->generate <= 0) {
			prepared_free(p);
			return err_set(ERR_ARG, "sample %ld (line %ld) has no target: give one or "
			               "--generate N", index, s->line);
		}
		return 0;
	}
	if (s->pair)
		return err_set(ERR_ARG, "sample %ld (line %ld) is a (source, target) pair, but the "
		               "model is not an encoder–decoder", index, s->line);
	int rc = rec_tokenize(tok, s, index, c->vocab_size, c->n_ctx, o->max_tokens, &p->ids,
	                      &p->n);
	if (rc)
		return rc;
	if (o->generate > 0 && p->n + o->generate > c->n_ctx) {
		prepared_free(p);
		return err_set(ERR_RANGE, "sample %ld (line %ld): %d prompt tokens and %d to "
		               "generate exceed the context of %d", index, s->line, p->n,
		               o->generate, c->n_ctx);
	}
	return 0;
}

/* Decoder-only --generate: append greedy tokens to p->ids (room for
 * o->generate more is there) with prefill passes; the recorded pass then
 * covers prompt and generation, and row t of every map is what step t saw. */
static int
generate_decoder_only(struct model *m, struct prepared *p, int steps, float *logits)
{
	const struct model_config *c = model_config(m);
	for (int k = 0; k < steps; k++) {
		int rc = model_forward(m, p->ids, p->n, NULL, logits);
		if (rc)
			return rc;
		const float *row = logits + (size_t)(p->n - 1) * c->vocab_size;
		int best = 0;
		for (int i = 1; i < c->vocab_size; i++)
			if (row[i] > row[best])
				best = i;
		p->ids[p->n++] = best;
	}
	return 0;
}

/* Run a prepared sample and hand it to the writer thread, which stores it
 * in one transaction while the next sample runs. */
static int
record_one(const struct rec_options *o, struct rec_writer *w, struct recorder *rs,
           struct model *m, const struct tokenizer *tok, int64_t run_id, long index,
           const struct ds_sample *s, struct prepared *p, float *logits,
           struct store_token *toks)
{
	const struct model_config *c = model_config(m);
	int V = c->vocab_size, rc;
	if (!c->encdec && o->generate > 0 &&
	    (rc = generate_decoder_only(m, p, o->generate, logits)) != 0)
		return rc;
	if (!(rs->job = rw_acquire(w)))
		return WRITER_FAILED;
	if (!c->encdec) {
		rc = model_forward(m, p->ids, p->n, &rs->sink, c->has_lm_head ? logits : NULL);
	} else if (p->n > 0) {
		rc = model_forward_encdec(m, p->src, p->n_src, p->ids, p->n, &rs->sink, logits);
	} else { /* generate from the source; logits come through the sink */
		int n_out = 0;
		rs->logits = logits;
		rc = model_generate_encdec(m, p->src, p->n_src, o->generate, c->eos_id, &rs->sink,
		                           p->next, &n_out);
		rs->logits = NULL;
		/* decoder input [start, g0 .. g(n-2)]; position t predicts g_t */
		for (int t = 0; !rc && t < n_out; t++)
			p->ids[t] = t == 0 ? c->decoder_start : p->next[t - 1];
		p->n = n_out;
	}
	if (rc) {
		rw_discard(w, rs->job);
		return rc;
	}
	int n = p->n;
#pragma omp parallel for schedule(static) if (n > 8)
	for (int t = 0; t < n; t++) {
		toks[t].id = p->ids[t];
		toks[t].piece = tok_piece(tok, p->ids[t]);
		if (!c->has_lm_head) { /* an encoder predicts no next token */
			toks[t].next_logprob = toks[t].entropy = NAN;
			toks[t].k = 0;
			continue;
		}
		int nx = p->next ? p->next[t] : t + 1 < n ? p->ids[t + 1] : -1;
		rec_token_outputs(logits + (size_t)t * V, V, nx, &toks[t]);
	}
	double nll = 0;
	int counted = 0;
	for (int t = 0; c->has_lm_head && t < n; t++)
		if (!isnan(toks[t].next_logprob)) {
			nll -= toks[t].next_logprob;
			counted++;
		}
	double loss = counted ? nll / counted : NAN;
	const char *text = c->encdec ? (s->pair ? s->text : NULL) : s->text;
	if (o->generate > 0 && !c->encdec)
		text = NULL; /* the tokens hold prompt and generation */
	if ((rc = rw_job_sample(rs->job, run_id, index, text, toks, n, loss)) != 0 ||
	    (c->encdec && (rc = rw_job_source(rs->job, s->pair ? s->source : s->text, tok,
	                                      p->src, p->n_src)) != 0)) {
		rw_discard(w, rs->job);
		return rc;
	}
	rw_submit(w, rs->job);
	return 0;
}

int
rec_run(const struct rec_options *o, struct rec_result *res)
{
	int rc = 0;
	struct model *m = NULL;
	struct tokenizer *tok = NULL;
	struct ds_reader *ds = NULL;
	struct store *st = NULL;
	struct recorder sink = { .sink = { &rec_ops } };
	struct rec_writer *w = NULL;
	struct store_token *toks = NULL;
	char *opts = NULL;
	struct prepared pr = { 0 };
	float *logits = NULL;
	int64_t run_id = 0;
	bool run_open = false, hashing = false;
	struct hash_job hj = { 0 };
	pthread_t hash_tid;
	double t0 = util_now();
	memset(res, 0, sizeof *res);

	if (!(m = model_open(o->model_path, &rc)))
		goto out;
	const struct model_config *c = model_config(m);
	if (!(tok = rec_open_tokenizer(m, o->model_path, o->tokenizer_path, &rc)))
		goto out;
	if (o->bos != REC_BOS_DEFAULT)
		tok_set_add_bos(tok, o->bos == REC_BOS_YES);
	if (!(sink.filter = cap_filter_create(o->capture ? o->capture : REC_DEFAULT_CAPTURE))) {
		rc = ERR_ARG;
		goto out;
	}
	if (!(ds = ds_open(o->data_path, o->text, o->field, &rc)))
		goto out;
	hj.m = m;
	hashing = pthread_create(&hash_tid, NULL, hash_thread, &hj) == 0;
	if (!hashing)
		model_sha256(m, hj.sha);

	/* pass 1: every sample must tokenize and fit before anything is written */
	long total = 0;
	int longest = 0;
	struct ds_sample s;
	while ((!o->limit || total < o->limit) && (rc = ds_next(ds, &s)) == 1) {
		if ((rc = prepare(o, tok, c, &s, total, &pr)) != 0)
			goto out;
		int n = pr.n + (o->generate > 0 ? o->generate : 0);
		prepared_free(&pr);
		if (n > longest)
			longest = n;
		total++;
	}
	if (rc < 0)
		goto out;
	if (total == 0) {
		rc = err_set(ERR_ARG, "dataset '%s' holds no samples",
		             o->data_path ? o->data_path : "--text");
		goto out;
	}
	if (!(toks = calloc((size_t)longest, sizeof *toks)) || (c->has_lm_head &&
	    !(logits = malloc((size_t)longest * c->vocab_size * sizeof *logits)))) {
		rc = err_set(ERR_NOMEM, "out of memory for logits of %d tokens", longest);
		goto out;
	}

	/* the run */
	if (hashing) {
		pthread_join(hash_tid, NULL);
		hashing = false;
	}
	if (!(st = store_open(o->db_path, STORE_CREATE, &rc)))
		goto out;
	const char *sha = hj.sha;
	char mname[256];
	model_name(o->model_path, mname, sizeof mname);
	struct store_model_info mi = {
		.name = mname, .path = o->model_path,
		.arch = model_arch_name(c->arch), .sha256 = sha,
		.tokenizer = o->tokenizer_path ? o->tokenizer_path
		             : model_tokenizer_source(m) ? model_tokenizer_source(m) : "tokenizer.bin",
		.bos_policy = tok_special_policy(tok), .dtype = "f32",
		.n_layer = c->n_layer, .n_head = c->n_head, .n_kv_head = c->n_kv_head,
		.d_model = c->d_model, .d_head = c->d_head, .d_ff = c->d_ff,
		.vocab_size = c->vocab_size, .n_ctx = c->n_ctx,
	};
	int64_t model_id;
	if ((rc = store_put_model(st, &mi, &model_id)) != 0)
		goto out;
	if (!(opts = options_json(o, o->tokenizer_path))) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	const char *dataset = o->data_path ? o->data_path : "--text";
	long start = 0;
	if (o->resume && store_find_resumable(st, model_id, dataset, opts, &run_id) == 0) {
		int64_t last;
		if ((rc = store_max_sample_index(st, run_id, &last)) != 0)
			goto out;
		start = (long)last + 1;
	} else {
		err_clear();
		struct store_run_info ri = {
			.model_id = model_id, .dataset = dataset, .options = opts,
			.status = "running", .started = (double)time(NULL), .n_total = total,
		};
		if ((rc = store_begin_run(st, &ri, &run_id)) != 0)
			goto out;
	}
	run_open = true;
	res->run_id = run_id;
	res->n_skipped = start;

	/* pass 2: record; the store belongs to the writer thread until
	 * rw_finish() */
	if ((rc = ds_rewind(ds)) != 0)
		goto out;
	if (!(w = rw_start(st, o->enc, 2, &rc)))
		goto out;
	res->setup_seconds = util_now() - t0;
	long index = 0;
	while (index < total && (rc = ds_next(ds, &s)) == 1) {
		if (index < start) {
			index++;
			continue;
		}
		if (o->stop && *o->stop) {
			res->interrupted = true;
			break;
		}
		if ((rc = prepare(o, tok, c, &s, index, &pr)) != 0)
			goto out;
		/* room for what generation appends */
		int room = pr.n + (o->generate > 0 ? o->generate : 0);
		int32_t *grown = room > pr.n ? realloc(pr.ids, (size_t)room * sizeof *grown) : pr.ids;
		int32_t *gnext = c->encdec && !pr.next ? malloc((size_t)(room ? room : 1) * sizeof *gnext)
		                                       : pr.next;
		if (!grown || (c->encdec && !gnext)) {
			rc = err_set(ERR_NOMEM, "out of memory");
			goto out;
		}
		pr.ids = grown;
		pr.next = gnext;
		if ((rc = record_one(o, w, &sink, m, tok, run_id, index, &s, &pr, logits,
		                     toks)) != 0) {
			if (rc == WRITER_FAILED) {
				rc = rw_finish(w);
				w = NULL;
			}
			goto out;
		}
		int n = pr.n;
		prepared_free(&pr);
		res->n_samples++;
		res->n_tokens += n;
		index++;
		if (o->progress)
			o->progress(o->progress_ctx, index, total, res->n_tokens);
	}
	if (rc < 0)
		goto out;
	rc = rw_finish(w);
	w = NULL;
	if (rc)
		goto out;
	if (!res->interrupted)
		rc = store_finish_run(st, run_id, "done");
	run_open = false;
out:
	if (w) {
		/* keep the error that stopped us; the writer's own comes second */
		char msg[512];
		snprintf(msg, sizeof msg, "%s", err_msg(rc));
		int wrc = rw_finish(w);
		if (rc)
			err_set(rc, "%s", msg);
		else
			rc = wrc;
	}
	if (hashing)
		pthread_join(hash_tid, NULL);
	if (run_open && rc) {
		/* keep the committed samples; the run can be resumed */
		char msg[512];
		snprintf(msg, sizeof msg, "%s", err_msg(rc));
		store_finish_run(st, run_id, "failed");
		err_set(rc, "%s", msg);
	}
	res->seconds = util_now() - t0;
	prepared_free(&pr);
	free(toks);
	free(logits);
	free(opts);
	store_close(st);
	ds_close(ds);
	cap_filter_free(sink.filter);
	tok_free(tok);
	model_close(m);
	return rc;
}

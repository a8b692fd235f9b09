/*
 * encdec.c — encoder–decoder models (BART, T5) from Hugging Face
 * directories: the loader, the forward pass over a (source, target) pair,
 * greedy generation, and T5's relative-position buckets.
 *
 * S source tokens, T target (decoder input) tokens, D width, H heads of
 * width dh, DI = H·dh (D for BART; H·d_kv for T5), F feed-forward width,
 * V vocabulary, E the shared embedding [V, D].
 *
 * BART (post-LayerNorm, biases on every projection, LayerNorm eps 1e-5):
 *   x = LN_emb(e·E[src] + P_enc[s + 2])                    [S, D]
 *   encoder block:  x = LN1(x + SelfAttn(x))
 *                   x = LN2(x + fc2(act(fc1 x)))
 *   y = LN_emb'(e·E[tgt] + P_dec[t + 2])                   [T, D]
 *   decoder block:  y = LN1(y + CausalSelfAttn(y))
 *                   y = LN2(y + CrossAttn(q = y, k/v = x))
 *                   y = LN3(y + fc2(act(fc1 y)))
 *   logits = y Eᵀ + final_logits_bias                      [T, V]
 *   A_h = softmax(q_h k_hᵀ / √dh); e = √D with scale_embedding, else 1.
 *
 * T5 (pre-RMSNorm without bias or mean, no biases, unscaled scores):
 *   x = E[src]
 *   encoder block:  x += SelfAttn(rms(x)),  scores q_h k_hᵀ + B_enc[h]
 *                   x += wo relu(wi rms(x))   (v1.1: wo (gelu(wi_0 ·) ⊙ wi_1 ·))
 *   x = rms_final(x)                            what cross-attention reads
 *   y = E[tgt]
 *   decoder block:  y += CausalSelfAttn(rms(y)),  scores + B_dec[h]
 *                   y += CrossAttn(q = rms(y), k/v = x)  (no bias, no mask)
 *                   y += FFN(rms(y))
 *   logits = (rms_final'(y) · D^-0.5) Eᵀ   (tied; untied: lm_head, no scale)
 *   B[h][i][j] = rel_bias[bucket(j - i)][h], the table of the stack's
 *   block 0, added in every layer of that stack.
 *
 * Attention is computed per head (sgemm, OpenMP over heads) and kept as
 * [H, Tq, Tk] maps for the capture sink, as forward.c does.
 */
#include "model_internal.h"

#include <cblas.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../capture/capture.h"
#include "../formats/formats.h"
#include "../util/util.h"

/* ========================================================================
 * Loading
 */

/* A token id of config.json: absent -> dflt, else an integer in [0, V)
 * (a list, as some configs give eos_token_id, yields its first entry). */
static int
cfg_id(json_t *cfg, const char *key, int dflt, int V, int *out, const char *dir)
{
	json_t *v = json_object_get(cfg, key);
	if (json_is_array(v))
		v = json_array_get(v, 0);
	if (!v || json_is_null(v)) {
		*out = dflt;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= V)
		return err_set(ERR_FORMAT, "hf: '%s/config.json': \"%s\" is not a token id "
		               "in 0..%d", dir, key, V - 1);
	*out = (int)json_integer_value(v);
	return 0;
}

static bool
cfg_bool(json_t *cfg, const char *key, bool dflt)
{
	json_t *v = json_object_get(cfg, key);
	return json_is_boolean(v) ? json_is_true(v) : dflt;
}

/* HF ACT2FN names the encoder–decoders use. */
static int
parse_act(const char *name, enum model_act *act)
{
	static const struct { const char *name; enum model_act act; } map[] = {
		{ "relu", MODEL_ACT_RELU },
		{ "gelu", MODEL_ACT_GELU_ERF },
		{ "gelu_new", MODEL_ACT_GELU_TANH },
		{ "gelu_pytorch_tanh", MODEL_ACT_GELU_TANH },
		{ "gelu_fast", MODEL_ACT_GELU_TANH },
		{ "silu", MODEL_ACT_SILU },
		{ "swish", MODEL_ACT_SILU },
	};
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (!strcmp(name, map[i].name)) {
			*act = map[i].act;
			return 0;
		}
	return -1;
}

/* The tensor "prefix + fmt(l)" converted to float32 [d0, d1] (d1 < 0:
 * [d0]); NULL with *rc and the message set when missing or misshapen. */
static const float *
take(struct model *m, const struct safetensors *st, const char *const *pre,
     const char *fmt, int l, int64_t d0, int64_t d1, int *rc)
{
	char nm[256];
	const struct fmt_tensor *t = model__st_find(st, pre, fmt, l, nm, sizeof nm);
	return model__take(m, t, nm, d0, d1, false, rc);
}

/* The first of several names (one tensor stored under any of them). */
static const struct fmt_tensor *
find_any(const struct safetensors *st, const char *const *pre, const char *const *names,
         char *nm, size_t size)
{
	for (int i = 0; names[i]; i++) {
		const struct fmt_tensor *t = model__st_find(st, pre, names[i], 0, nm, size);
		if (t)
			return t;
	}
	model__st_find(st, pre, names[0], 0, nm, size);
	return NULL;
}

/* A tied head stored only as lm_head.weight stands for the embedding;
 * `nm` keeps the embedding's name (for the message) when it is absent. */
static const struct fmt_tensor *
tied_head(const struct safetensors *st, const char *const *pre, char *nm, size_t size)
{
	char head[256];
	const struct fmt_tensor *t = model__st_find(st, pre, "lm_head.weight", 0, head,
	                                            sizeof head);
	if (t)
		snprintf(nm, size, "%s", head);
	return t;
}

/* config.json of a BART: sizes into c. */
static int
bart_config(struct model *m, json_t *cfg, const char *dir)
{
	struct model_config *c = &m->cfg;
	int n_dec_head, dec_ff, rc;
	if ((rc = model__cfg_int(cfg, "d_model", -1, &c->d_model, dir)) ||
	    (rc = model__cfg_int(cfg, "encoder_layers", -1, &c->n_layer, dir)) ||
	    (rc = model__cfg_int(cfg, "decoder_layers", -1, &c->n_dec_layer, dir)) ||
	    (rc = model__cfg_int(cfg, "encoder_attention_heads", -1, &c->n_head, dir)) ||
	    (rc = model__cfg_int(cfg, "decoder_attention_heads", c->n_head, &n_dec_head, dir)) ||
	    (rc = model__cfg_int(cfg, "encoder_ffn_dim", -1, &c->d_ff, dir)) ||
	    (rc = model__cfg_int(cfg, "decoder_ffn_dim", c->d_ff, &dec_ff, dir)) ||
	    (rc = model__cfg_int(cfg, "vocab_size", -1, &c->vocab_size, dir)) ||
	    (rc = model__cfg_int(cfg, "max_position_embeddings", 1024, &c->n_pos, dir)))
		return rc;
	if (n_dec_head != c->n_head || dec_ff != c->d_ff)
		return err_set(ERR_UNSUPPORTED, "hf: '%s': a BART whose decoder has other "
		               "heads or widths than its encoder (%d/%d heads, %d/%d ffn) is "
		               "not supported", dir, c->n_head, n_dec_head, c->d_ff, dec_ff);
	const char *act = model__cfg_str(cfg, "activation_function");
	snprintf(c->act, sizeof c->act, "%s", act ? act : "gelu");
	if (parse_act(c->act, &m->act) != 0)
		return err_set(ERR_UNSUPPORTED, "hf: '%s': activation_function '%s' is not "
		               "supported (gelu, gelu_new, relu, silu)", dir, c->act);
	c->n_ctx = c->n_pos;
	c->norm_eps = 1e-5f; /* torch's LayerNorm default: BART does not set it */
	m->emb_scale = cfg_bool(cfg, "scale_embedding", false) ? sqrtf((float)c->d_model)
	                                                       : 1.0f;
	c->shared_classifier = cfg_bool(cfg, "tie_word_embeddings", true);
	if ((rc = cfg_id(cfg, "decoder_start_token_id", 2, c->vocab_size, &c->decoder_start,
	                 dir)) ||
	    (rc = cfg_id(cfg, "eos_token_id", 2, c->vocab_size, &c->eos_id, dir)))
		return rc;
	return 0;
}

/* config.json of a T5 (v1.0 relu, v1.1 gated-gelu). */
static int
t5_config(struct model *m, json_t *cfg, const char *dir)
{
	struct model_config *c = &m->cfg;
	int pad, rc;
	if ((rc = model__cfg_int(cfg, "d_model", -1, &c->d_model, dir)) ||
	    (rc = model__cfg_int(cfg, "d_kv", -1, &c->d_head, dir)) ||
	    (rc = model__cfg_int(cfg, "num_heads", -1, &c->n_head, dir)) ||
	    (rc = model__cfg_int(cfg, "num_layers", -1, &c->n_layer, dir)) ||
	    (rc = model__cfg_int(cfg, "num_decoder_layers", c->n_layer, &c->n_dec_layer, dir)) ||
	    (rc = model__cfg_int(cfg, "d_ff", -1, &c->d_ff, dir)) ||
	    (rc = model__cfg_int(cfg, "vocab_size", -1, &c->vocab_size, dir)) ||
	    (rc = model__cfg_int(cfg, "relative_attention_num_buckets", 32, &c->n_rel_bucket,
	                         dir)) ||
	    (rc = model__cfg_int(cfg, "relative_attention_max_distance", 128,
	                         &c->rel_max_distance, dir)))
		return rc;
	/* HF T5Config: "[gated-]act"; "gated-gelu" means gelu_new */
	const char *ffp = model__cfg_str(cfg, "feed_forward_proj");
	const char *act = ffp ? ffp : "relu";
	c->gated_ffn = strncmp(act, "gated-", 6) == 0;
	if (c->gated_ffn)
		act += 6;
	if (ffp && !strcmp(ffp, "gated-gelu"))
		act = "gelu_new";
	snprintf(c->act, sizeof c->act, "%s", act);
	if (strchr(act, '-') || parse_act(act, &m->act) != 0)
		return err_set(ERR_UNSUPPORTED, "hf: '%s': feed_forward_proj '%s' is not "
		               "supported (relu, gated-gelu, ...)", dir, ffp);
	/* no position table: T5 takes any length the memory allows */
	c->n_ctx = MODEL_MAX_CTX;
	c->norm_eps = model__cfg_float(cfg, "layer_norm_epsilon", 1e-6f);
	if (!(c->norm_eps >= 0.0f && c->norm_eps < 1.0f))
		return err_set(ERR_FORMAT, "hf: '%s/config.json': layer_norm_epsilon %g is not "
		               "in [0, 1)", dir, (double)c->norm_eps);
	c->shared_classifier = cfg_bool(cfg, "tie_word_embeddings", true);
	m->emb_scale = 1.0f;
	if ((rc = cfg_id(cfg, "pad_token_id", 0, c->vocab_size, &pad, dir)) ||
	    (rc = cfg_id(cfg, "decoder_start_token_id", pad, c->vocab_size, &c->decoder_start,
	                 dir)) ||
	    (rc = cfg_id(cfg, "eos_token_id", 1, c->vocab_size, &c->eos_id, dir)))
		return rc;
	return 0;
}

/* Sizes the shared check does not cover. */
static int
check_encdec(const struct model_config *c, const char *dir)
{
	if (c->n_dec_layer <= 0 || c->n_dec_layer > MODEL_MAX_LAYER)
		return err_set(ERR_FORMAT, "hf: '%s': %d decoder layers is impossible", dir,
		               c->n_dec_layer);
	if (c->arch == MODEL_ARCH_BART)
		return 0;
	if (c->d_head <= 0 || c->d_head > MODEL_MAX_DIM ||
	    (int64_t)c->d_head * c->n_head > MODEL_MAX_DIM)
		return err_set(ERR_FORMAT, "hf: '%s': d_kv %d x %d heads is impossible", dir,
		               c->d_head, c->n_head);
	/* the bucket function divides by n_bucket / 4 (bidirectional) and by
	 * log(max_distance / max_exact) */
	if (c->n_rel_bucket < 4 || c->n_rel_bucket > 4096 ||
	    c->rel_max_distance <= c->n_rel_bucket / 2 || c->rel_max_distance > MODEL_MAX_CTX)
		return err_set(ERR_FORMAT, "hf: '%s': relative attention with %d buckets and "
		               "max distance %d is impossible (4..4096 buckets, distance above "
		               "half the buckets)", dir, c->n_rel_bucket, c->rel_max_distance);
	return 0;
}

#define GET(dst, fmt, l, d0, d1)                                             \
	do {                                                                     \
		if (!((dst) = take(m, st, pre, fmt, l, (d0), (d1), &rc)))           \
			goto out;                                                        \
	} while (0)

static int
bart_weights(struct model *m, const struct safetensors *st)
{
	static const char *const pre[] = { "model.", "", NULL };
	static const char *const emb_names[] = { "shared.weight", "encoder.embed_tokens.weight",
	                                         "decoder.embed_tokens.weight", NULL };
	static const char *const head_pre[] = { "", NULL };
	const struct model_config *c = &m->cfg;
	const int64_t D = c->d_model, F = c->d_ff, V = c->vocab_size, P = c->n_pos + 2;
	char nm[256];
	int rc;

	/* one embedding, stored under any of four names */
	const struct fmt_tensor *t = find_any(st, pre, emb_names, nm, sizeof nm);
	if (!t && c->shared_classifier)
		t = tied_head(st, head_pre, nm, sizeof nm);
	if (!(m->tok_emb = model__take(m, t, nm, V, D, false, &rc)))
		goto out;
	if (c->shared_classifier)
		m->lm_head = m->tok_emb;
	else if (!(m->lm_head = take(m, st, head_pre, "lm_head.weight", 0, V, D, &rc)))
		goto out;
	/* final_logits_bias [1, V] (a buffer; BartModel files lack it) */
	t = model__st_find(st, head_pre, "final_logits_bias", 0, nm, sizeof nm);
	if (t && !(m->logits_bias = model__take(m, t, nm, t->ndim == 1 ? V : 1,
	                                         t->ndim == 1 ? -1 : V, false, &rc)))
		goto out;
	GET(m->enc_pos, "encoder.embed_positions.weight", 0, P, D);
	GET(m->dec_pos, "decoder.embed_positions.weight", 0, P, D);
	GET(m->enc_emb_norm, "encoder.layernorm_embedding.weight", 0, D, -1);
	GET(m->enc_emb_norm_b, "encoder.layernorm_embedding.bias", 0, D, -1);
	GET(m->dec_emb_norm, "decoder.layernorm_embedding.weight", 0, D, -1);
	GET(m->dec_emb_norm_b, "decoder.layernorm_embedding.bias", 0, D, -1);
	for (int dec = 0; dec < 2; dec++) {
		int L = dec ? c->n_dec_layer : c->n_layer;
		for (int l = 0; l < L; l++) {
			struct layer_weights *w = dec ? &m->dec_layer[l] : &m->layer[l];
#define L_(s) (dec ? "decoder.layers.%d." s : "encoder.layers.%d." s)
			GET(w->wq, L_("self_attn.q_proj.weight"), l, D, D);
			GET(w->bq, L_("self_attn.q_proj.bias"), l, D, -1);
			GET(w->wk, L_("self_attn.k_proj.weight"), l, D, D);
			GET(w->bk, L_("self_attn.k_proj.bias"), l, D, -1);
			GET(w->wv, L_("self_attn.v_proj.weight"), l, D, D);
			GET(w->bv, L_("self_attn.v_proj.bias"), l, D, -1);
			GET(w->wo, L_("self_attn.out_proj.weight"), l, D, D);
			GET(w->bo, L_("self_attn.out_proj.bias"), l, D, -1);
			GET(w->attn_norm, L_("self_attn_layer_norm.weight"), l, D, -1);
			GET(w->attn_norm_b, L_("self_attn_layer_norm.bias"), l, D, -1);
			GET(w->w_up, L_("fc1.weight"), l, F, D);
			GET(w->b_up, L_("fc1.bias"), l, F, -1);
			GET(w->w_down, L_("fc2.weight"), l, D, F);
			GET(w->b_down, L_("fc2.bias"), l, D, -1);
			GET(w->ffn_norm, L_("final_layer_norm.weight"), l, D, -1);
			GET(w->ffn_norm_b, L_("final_layer_norm.bias"), l, D, -1);
#undef L_
			if (!dec)
				continue;
#define X_(s) "decoder.layers.%d.encoder_attn" s
			GET(w->xq, X_(".q_proj.weight"), l, D, D);
			GET(w->bxq, X_(".q_proj.bias"), l, D, -1);
			GET(w->xk, X_(".k_proj.weight"), l, D, D);
			GET(w->bxk, X_(".k_proj.bias"), l, D, -1);
			GET(w->xv, X_(".v_proj.weight"), l, D, D);
			GET(w->bxv, X_(".v_proj.bias"), l, D, -1);
			GET(w->xo, X_(".out_proj.weight"), l, D, D);
			GET(w->bxo, X_(".out_proj.bias"), l, D, -1);
			GET(w->cross_norm, X_("_layer_norm.weight"), l, D, -1);
			GET(w->cross_norm_b, X_("_layer_norm.bias"), l, D, -1);
#undef X_
		}
	}
	rc = 0;
out:
	return rc;
}

static int
t5_weights(struct model *m, const struct safetensors *st)
{
	static const char *const pre[] = { "", NULL };
	static const char *const emb_names[] = { "shared.weight", "encoder.embed_tokens.weight",
	                                         "decoder.embed_tokens.weight", NULL };
	const struct model_config *c = &m->cfg;
	const int64_t D = c->d_model, F = c->d_ff, V = c->vocab_size, NB = c->n_rel_bucket;
	const int64_t DI = (int64_t)c->n_head * c->d_head, H = c->n_head;
	char nm[256];
	int rc;

	const struct fmt_tensor *t = find_any(st, pre, emb_names, nm, sizeof nm);
	if (!t && c->shared_classifier)
		t = tied_head(st, pre, nm, sizeof nm);
	if (!(m->tok_emb = model__take(m, t, nm, V, D, false, &rc)))
		goto out;
	if (c->shared_classifier) {
		m->lm_head = m->tok_emb;
		m->lm_scale = 1.0f / sqrtf((float)c->d_model);
	} else {
		GET(m->lm_head, "lm_head.weight", 0, V, D);
		m->lm_scale = 1.0f;
	}
	GET(m->enc_rel_bias, "encoder.block.0.layer.0.SelfAttention.relative_attention_bias."
	    "weight", 0, NB, H);
	GET(m->dec_rel_bias, "decoder.block.0.layer.0.SelfAttention.relative_attention_bias."
	    "weight", 0, NB, H);
	GET(m->enc_out_norm, "encoder.final_layer_norm.weight", 0, D, -1);
	GET(m->dec_out_norm, "decoder.final_layer_norm.weight", 0, D, -1);
	for (int dec = 0; dec < 2; dec++) {
		int L = dec ? c->n_dec_layer : c->n_layer;
		for (int l = 0; l < L; l++) {
			struct layer_weights *w = dec ? &m->dec_layer[l] : &m->layer[l];
#define B_(s) (dec ? "decoder.block.%d.layer." s : "encoder.block.%d.layer." s)
			GET(w->attn_norm, B_("0.layer_norm.weight"), l, D, -1);
			GET(w->wq, B_("0.SelfAttention.q.weight"), l, DI, D);
			GET(w->wk, B_("0.SelfAttention.k.weight"), l, DI, D);
			GET(w->wv, B_("0.SelfAttention.v.weight"), l, DI, D);
			GET(w->wo, B_("0.SelfAttention.o.weight"), l, D, DI);
#undef B_
			/* the feed-forward sub-layer is layer.1 (encoder) or 2 (decoder) */
			char ff[64];
			snprintf(ff, sizeof ff, "%s.block.%%d.layer.%d.", dec ? "decoder" : "encoder",
			         dec ? 2 : 1);
			char f[128];
#define FF_(s) (snprintf(f, sizeof f, "%s%s", ff, s), f)
			GET(w->ffn_norm, FF_("layer_norm.weight"), l, D, -1);
			if (c->gated_ffn) {
				GET(w->w_gate, FF_("DenseReluDense.wi_0.weight"), l, F, D);
				GET(w->w_up, FF_("DenseReluDense.wi_1.weight"), l, F, D);
			} else {
				GET(w->w_up, FF_("DenseReluDense.wi.weight"), l, F, D);
			}
			GET(w->w_down, FF_("DenseReluDense.wo.weight"), l, D, F);
#undef FF_
			if (!dec)
				continue;
#define X_(s) "decoder.block.%d.layer.1." s
			GET(w->cross_norm, X_("layer_norm.weight"), l, D, -1);
			GET(w->xq, X_("EncDecAttention.q.weight"), l, DI, D);
			GET(w->xk, X_("EncDecAttention.k.weight"), l, DI, D);
			GET(w->xv, X_("EncDecAttention.v.weight"), l, DI, D);
			GET(w->xo, X_("EncDecAttention.o.weight"), l, D, DI);
#undef X_
		}
	}
	rc = 0;
out:
	return rc;
}
#undef GET

int
model__open_encdec(struct model *m, const char *dir, json_t *cfg,
                   const struct safetensors *st, const char *type)
{
	struct model_config *c = &m->cfg;
	const bool t5 = !strcmp(type, "t5");
	int rc;

	c->arch = t5 ? MODEL_ARCH_T5 : MODEL_ARCH_BART;
	c->encdec = true;
	c->causal = true; /* the decoder's self-attention */
	c->has_lm_head = true;
	m->lm_scale = 1.0f;
	if ((rc = t5 ? t5_config(m, cfg, dir) : bart_config(m, cfg, dir)) != 0)
		return rc;
	c->n_kv_head = c->n_head;
	if ((rc = model__check_config(c, dir)) != 0 || (rc = check_encdec(c, dir)) != 0)
		return rc;
	if (!t5)
		c->d_head = c->d_model / c->n_head;

	size_t total = 0;
	for (int64_t i = 0; i < st_n_tensors(st); i++)
		if (ckd_add_size(&total, total, (size_t)st_tensor(st, i)->n))
			return err_set(ERR_FORMAT, "hf: '%s': tensor sizes overflow", dir);
	if ((rc = model__arena_reserve(m, total)) != 0)
		return rc;
	if (!(m->layer = calloc((size_t)c->n_layer, sizeof *m->layer)) ||
	    !(m->dec_layer = calloc((size_t)c->n_dec_layer, sizeof *m->dec_layer)))
		return err_set(ERR_NOMEM, "out of memory");
	return t5 ? t5_weights(m, st) : bart_weights(m, st);
}

/* ========================================================================
 * T5 relative positions
 */

int
model_rel_bucket(int rel, bool bidirectional, int n_bucket, int max_distance)
{
	int ret = 0, nb = n_bucket, n;
	if (bidirectional) {
		nb /= 2;
		if (rel > 0)     /* keys after the query: the upper half */
			ret += nb;
		n = rel < 0 ? -rel : rel;
	} else {
		n = rel < 0 ? -rel : 0;   /* query - key, later keys count as 0 */
	}
	const int max_exact = nb / 2;
	if (n < max_exact)
		return ret + n;
	/* float32, as torch evaluates it: log(n / max_exact) / log(max_distance /
	 * max_exact) * (nb - max_exact), truncated, capped at nb - 1 */
	float v = logf((float)n / (float)max_exact) /
	          (float)log((double)max_distance / max_exact) * (float)(nb - max_exact);
	int large = v < (float)nb ? max_exact + (int)v : nb - 1; /* also for NaN */
	return ret + (large < nb - 1 ? large : nb - 1);
}

/* bias [H, Tq, Tk] of one stack: rel_bias [n_bucket, H] at bucket(k - q) */
static void
position_bias(const struct model *m, bool decoder, int Tq, int Tk, float *bias)
{
	const struct model_config *c = &m->cfg;
	const float *tab = decoder ? m->dec_rel_bias : m->enc_rel_bias; /* (NB, H) */
	const int H = c->n_head;
	const size_t QK = (size_t)Tq * Tk;
	for (int i = 0; i < Tq; i++)
		for (int j = 0; j < Tk; j++) {
			int b = model_rel_bucket(j - i, !decoder, c->n_rel_bucket,
			                         c->rel_max_distance);
			for (int h = 0; h < H; h++)
				bias[(size_t)h * QK + (size_t)i * Tk + j] = tab[(size_t)b * H + h];
		}
}

int
model_position_bias(const struct model *m, bool decoder, int n_q, int n_k, float *out)
{
	if (m->cfg.arch != MODEL_ARCH_T5)
		return err_set(ERR_UNSUPPORTED, "model '%s' has no relative position bias",
		               m->path);
	if (n_q < 1 || n_k < 1 || n_q > m->cfg.n_ctx || n_k > m->cfg.n_ctx)
		return err_set(ERR_RANGE, "position bias of %d x %d positions", n_q, n_k);
	position_bias(m, decoder, n_q, n_k, out);
	return 0;
}

/* ========================================================================
 * Forward pass
 */

/* Emit a tensor if the sink wants it; returns the sink's code. */
static int
emit(struct cap_sink *sink, enum cap_point p, int layer, const float *data, int ndim,
     int d0, int d1, int d2, bool causal)
{
	if (!cap_want(sink, p, layer))
		return 0;
	struct cap_tensor t = {
		.point = p, .layer = layer, .ndim = ndim,
		.shape = { d0, d1, d2, 0 }, .data = data, .causal = causal,
	};
	return sink->ops->emit(sink, &t);
}

/* LayerNorm (BART) or T5's RMSNorm over n rows of width D; in place is fine. */
static void
norm(const struct model *m, float *out, const float *x, const float *g, const float *b,
     int n)
{
	if (m->cfg.arch == MODEL_ARCH_T5)
		kern_rmsnorm(out, x, g, n, m->cfg.d_model, m->cfg.norm_eps);
	else
		kern_layernorm(out, x, g, b, n, m->cfg.d_model, m->cfg.norm_eps);
}

static void
activate(enum model_act a, float *x, size_t n)
{
	switch (a) {
	case MODEL_ACT_RELU:
		for (size_t i = 0; i < n; i++)
			x[i] = x[i] > 0.0f ? x[i] : 0.0f;
		break;
	case MODEL_ACT_GELU_ERF:
		kern_gelu_erf(x, n);
		break;
	case MODEL_ACT_GELU_TANH:
		kern_gelu_tanh(x, n);
		break;
	case MODEL_ACT_SILU:
		for (size_t i = 0; i < n; i++)
			x[i] = x[i] / (1.0f + expf(-x[i]));
		break;
	}
}

/* out [n, D] = the feed-forward sub-layer of w on xin [n, D]; gate, up [n, F]. */
static void
feed_forward(const struct model *m, const struct layer_weights *w, const float *xin, int n,
             float *gate, float *up, float *out)
{
	const int D = m->cfg.d_model, F = m->cfg.d_ff;
	const size_t nF = (size_t)n * F;
	if (m->cfg.gated_ffn) {
		kern_matmul(gate, xin, w->w_gate, NULL, n, D, F);
		activate(m->act, gate, nF);
		kern_matmul(up, xin, w->w_up, NULL, n, D, F);
		for (size_t i = 0; i < nF; i++)
			gate[i] *= up[i];
	} else {
		kern_matmul(gate, xin, w->w_up, w->b_up, n, D, F);
		activate(m->act, gate, nF);
	}
	kern_matmul(out, gate, w->w_down, w->b_down, n, F, D);
}

/*
 * Multi-head attention of Tq queries over Tk keys, per head h:
 *   att_h = softmax(scale · q_h k_hᵀ + bias_h)      [Tq, Tk]
 *   z_h   = att_h v_h                               [Tq, dh]
 * q [Tq, DI], k, v [Tk, DI] and z [Tq, DI] hold head h in columns h·dh ...;
 * att [H, Tq, Tk]; bias [H, Tq, Tk] or NULL. Causal (Tq == Tk): row i
 * sees keys 0..i and holds exact zeros after them.
 */
static void
attend(int H, int dh, int Tq, int Tk, const float *q, const float *k, const float *v,
       float scale, const float *bias, bool causal, float *att, float *z)
{
	const int DI = H * dh;
	const size_t QK = (size_t)Tq * Tk;
	/* heads are independent: one per OpenMP thread (OpenBLAS runs
	 * single-threaded inside the region) */
#pragma omp parallel for schedule(dynamic, 1) if (H > 1 && Tq > 16)
	for (int h = 0; h < H; h++) {
		float *A = att + (size_t)h * QK;    /* (Tq, Tk) */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Tq, Tk, dh, scale,
		            q + (size_t)h * dh, DI, k + (size_t)h * dh, DI, 0.0f, A, Tk);
		if (bias) {
			const float *B = bias + (size_t)h * QK;
			for (size_t i = 0; i < QK; i++)
				A[i] += B[i];
		}
		for (int i = 0; i < Tq; i++) {
			float *row = A + (size_t)i * Tk;
			int n = causal ? i + 1 : Tk;
			kern_softmax(row, n);
			memset(row + n, 0, (size_t)(Tk - n) * sizeof *row);
		}
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Tq, dh, Tk, 1.0f, A, Tk,
		            v + (size_t)h * dh, DI, 0.0f, z + (size_t)h * dh, DI);
	}
}

/* Scratch floats one stack needs for Tq rows (and S source rows for the
 * decoder's cross-attention); false on overflow. */
static bool
scratch_size(const struct model_config *c, size_t Tq, size_t S, bool decoder, size_t *n)
{
	const size_t D = (size_t)c->d_model, F = (size_t)c->d_ff, H = (size_t)c->n_head;
	const size_t DI = H * (size_t)c->d_head;
	size_t rows, maps, a, b;
	/* per row: x, xn, out [D]; q, k, v, z [DI]; gate, up [F] */
	if (ckd_mul_size(&rows, Tq, 3 * D + 4 * DI + 2 * F))
		return false;
	/* att and the T5 position bias [H, Tq, Tq] */
	if (ckd_mul3_size(&maps, 2 * H, Tq, Tq))
		return false;
	if (ckd_add_size(n, rows, maps))
		return false;
	if (decoder) {
		/* cross k, v [S, DI] and the cross map [H, Tq, S] */
		if (ckd_mul3_size(&a, 2, S, DI) || ckd_mul3_size(&b, H, Tq, S) ||
		    ckd_add_size(n, *n, a) || ckd_add_size(n, *n, b))
			return false;
	}
	return true;
}

/* Workspace floats: enc [S, D], then the larger of the two stacks' scratch
 * (decoder with up to T rows), then `extra`. */
static int
workspace_size(const struct model_config *c, int S, int T, size_t extra, size_t *n)
{
	size_t e, d, sd;
	if (!scratch_size(c, (size_t)S, 0, false, &e) ||
	    !scratch_size(c, (size_t)T, (size_t)S, true, &d) ||
	    ckd_mul_size(&sd, (size_t)S, (size_t)c->d_model) ||
	    ckd_add_size(n, sd, e > d ? e : d) || ckd_add_size(n, *n, extra) ||
	    *n > SIZE_MAX / sizeof(float))
		return err_set(ERR_NOMEM, "a pair of %d and %d tokens is too large", S, T);
	return 0;
}

/* Token embeddings of a stack: x [n, D] = scale·E[ids] (+ BART positions,
 * then layernorm_embedding). */
static void
embed(const struct model *m, bool decoder, const int32_t *ids, int n, float *x)
{
	const int D = m->cfg.d_model;
	const float *pos = decoder ? m->dec_pos : m->enc_pos; /* (n_pos + 2, D) or NULL */
	for (int t = 0; t < n; t++) {
		float *xr = x + (size_t)t * D;
		const float *e = m->tok_emb + (size_t)ids[t] * D;
		for (int i = 0; i < D; i++)
			xr[i] = e[i] * m->emb_scale;
		if (pos) /* BART's learned positions start at row 2 */
			for (int i = 0; i < D; i++)
				xr[i] += pos[(size_t)(t + 2) * D + i];
	}
	if (m->cfg.arch == MODEL_ARCH_BART)
		kern_layernorm(x, x, decoder ? m->dec_emb_norm : m->enc_emb_norm,
		               decoder ? m->dec_emb_norm_b : m->enc_emb_norm_b, n, D,
		               m->cfg.norm_eps);
}

/*
 * The encoder over src [S]: enc [S, D] receives what the cross-attention
 * reads. ws: scratch_size(S, encoder) floats.
 */
static int
encode(struct model *m, const int32_t *src, int S, struct cap_sink *sink, float *enc,
       float *ws)
{
	const struct model_config *c = &m->cfg;
	const int D = c->d_model, F = c->d_ff, H = c->n_head, dh = c->d_head, DI = H * dh;
	const bool t5 = c->arch == MODEL_ARCH_T5;
	const size_t SD = (size_t)S * D, SI = (size_t)S * DI, SF = (size_t)S * F;
	const float scale = t5 ? 1.0f : 1.0f / sqrtf((float)dh);
	int rc;

	float *x = ws;                 /* (S, D) residual stream          */
	float *xn = x + SD;            /* (S, D) normalised (T5)          */
	float *out = xn + SD;          /* (S, D) sub-layer output         */
	float *q = out + SD;           /* (S, H, dh)                      */
	float *k = q + SI;             /* (S, H, dh)                      */
	float *v = k + SI;             /* (S, H, dh)                      */
	float *z = v + SI;             /* (S, H, dh) per-head outputs     */
	float *gate = z + SI;          /* (S, F)                          */
	float *up = gate + SF;         /* (S, F) gated feed-forward       */
	float *att = up + SF;          /* (H, S, S)                       */
	float *bias = att + (size_t)H * S * S; /* (H, S, S) T5 position bias */

	embed(m, false, src, S, x);
	if (t5)
		position_bias(m, false, S, S, bias);
	for (int l = 0; l < c->n_layer; l++) {
		const struct layer_weights *w = &m->layer[l];
		/* self-attention */
		const float *ain = x;
		if (t5) {
			norm(m, xn, x, w->attn_norm, NULL, S);
			ain = xn;
		}
		kern_matmul(q, ain, w->wq, w->bq, S, D, DI);
		kern_matmul(k, ain, w->wk, w->bk, S, D, DI);
		kern_matmul(v, ain, w->wv, w->bv, S, D, DI);
		attend(H, dh, S, S, q, k, v, scale, t5 ? bias : NULL, false, att, z);
		if ((rc = emit(sink, CAP_ENC_ATTN_PATTERN, l, att, 3, H, S, S, false)) != 0)
			return rc;
		kern_matmul(out, z, w->wo, w->bo, S, DI, D);
		for (size_t i = 0; i < SD; i++)
			x[i] += out[i];
		if (!t5)
			norm(m, x, x, w->attn_norm, w->attn_norm_b, S);
		/* feed-forward */
		if (t5)
			norm(m, xn, x, w->ffn_norm, NULL, S);
		feed_forward(m, w, t5 ? xn : x, S, gate, up, out);
		for (size_t i = 0; i < SD; i++)
			x[i] += out[i];
		if (!t5)
			norm(m, x, x, w->ffn_norm, w->ffn_norm_b, S);
		if ((rc = emit(sink, CAP_ENC_RESID_POST, l, x, 2, S, D, 0, false)) != 0)
			return rc;
	}
	if (t5)
		norm(m, enc, x, m->enc_out_norm, NULL, S);
	else
		memcpy(enc, x, SD * sizeof *enc);
	return emit(sink, CAP_ENC_OUT, -1, enc, 2, S, D, 0, false);
}

/*
 * The decoder over tgt [T], teacher-forced, reading enc [S, D]. Logits of
 * rows lg_from .. T-1 go to logits [T - lg_from, V] when it is not NULL
 * (CAP_LOGITS only for the full [T, V]). ws: scratch_size(T, S, decoder).
 */
static int
decode(struct model *m, const float *enc, int S, const int32_t *tgt, int T,
       struct cap_sink *sink, float *logits, int lg_from, float *ws)
{
	const struct model_config *c = &m->cfg;
	const int D = c->d_model, F = c->d_ff, H = c->n_head, dh = c->d_head, DI = H * dh;
	const int V = c->vocab_size;
	const bool t5 = c->arch == MODEL_ARCH_T5;
	const size_t TD = (size_t)T * D, TI = (size_t)T * DI, TF = (size_t)T * F;
	const float scale = t5 ? 1.0f : 1.0f / sqrtf((float)dh);
	int rc;

	float *y = ws;                 /* (T, D) residual stream          */
	float *yn = y + TD;            /* (T, D) normalised               */
	float *out = yn + TD;          /* (T, D) sub-layer output         */
	float *q = out + TD;           /* (T, H, dh)                      */
	float *k = q + TI;             /* (T, H, dh)                      */
	float *v = k + TI;             /* (T, H, dh)                      */
	float *z = v + TI;             /* (T, H, dh)                      */
	float *gate = z + TI;          /* (T, F)                          */
	float *up = gate + TF;         /* (T, F)                          */
	float *att = up + TF;          /* (H, T, T) self-attention        */
	float *bias = att + (size_t)H * T * T;  /* (H, T, T) T5 position bias */
	float *ck = bias + (size_t)H * T * T;   /* (S, H, dh) cross keys      */
	float *cv = ck + (size_t)S * DI;         /* (S, H, dh) cross values    */
	float *catt = cv + (size_t)S * DI;       /* (H, T, S) cross-attention  */

	embed(m, true, tgt, T, y);
	if ((rc = emit(sink, CAP_EMBED, -1, y, 2, T, D, 0, false)) != 0)
		return rc;
	if (t5)
		position_bias(m, true, T, T, bias);
	for (int l = 0; l < c->n_dec_layer; l++) {
		const struct layer_weights *w = &m->dec_layer[l];
		/* causal self-attention */
		const float *ain = y;
		if (t5) {
			norm(m, yn, y, w->attn_norm, NULL, T);
			ain = yn;
		}
		kern_matmul(q, ain, w->wq, w->bq, T, D, DI);
		kern_matmul(k, ain, w->wk, w->bk, T, D, DI);
		kern_matmul(v, ain, w->wv, w->bv, T, D, DI);
		attend(H, dh, T, T, q, k, v, scale, t5 ? bias : NULL, true, att, z);
		if ((rc = emit(sink, CAP_DEC_ATTN_PATTERN, l, att, 3, H, T, T, true)) != 0)
			return rc;
		kern_matmul(out, z, w->wo, w->bo, T, DI, D);
		for (size_t i = 0; i < TD; i++)
			y[i] += out[i];
		if (!t5)
			norm(m, y, y, w->attn_norm, w->attn_norm_b, T);
		/* cross-attention: queries from the decoder, keys/values from enc */
		ain = y;
		if (t5) {
			norm(m, yn, y, w->cross_norm, NULL, T);
			ain = yn;
		}
		kern_matmul(q, ain, w->xq, w->bxq, T, D, DI);
		kern_matmul(ck, enc, w->xk, w->bxk, S, D, DI);
		kern_matmul(cv, enc, w->xv, w->bxv, S, D, DI);
		attend(H, dh, T, S, q, ck, cv, scale, NULL, false, catt, z);
		if ((rc = emit(sink, CAP_DEC_CROSS_PATTERN, l, catt, 3, H, T, S, false)) != 0)
			return rc;
		kern_matmul(out, z, w->xo, w->bxo, T, DI, D);
		for (size_t i = 0; i < TD; i++)
			y[i] += out[i];
		if (!t5)
			norm(m, y, y, w->cross_norm, w->cross_norm_b, T);
		/* feed-forward */
		if (t5)
			norm(m, yn, y, w->ffn_norm, NULL, T);
		feed_forward(m, w, t5 ? yn : y, T, gate, up, out);
		for (size_t i = 0; i < TD; i++)
			y[i] += out[i];
		if (!t5)
			norm(m, y, y, w->ffn_norm, w->ffn_norm_b, T);
		if ((rc = emit(sink, CAP_DEC_RESID_POST, l, y, 2, T, D, 0, false)) != 0)
			return rc;
	}
	/* what the LM head reads: T5's final norm; BART has none */
	const float *fin = y;
	if (t5) {
		norm(m, yn, y, m->dec_out_norm, NULL, T);
		fin = yn;
	}
	if ((rc = emit(sink, CAP_LN_FINAL, -1, fin, 2, T, D, 0, false)) != 0)
		return rc;
	if (!logits)
		return 0;
	const int n = T - lg_from;
	const float *rows = fin + (size_t)lg_from * D;   /* (n, D) */
	if (m->lm_scale != 1.0f) {  /* T5 tied head: the d_model^-0.5 rescale */
		for (size_t i = 0; i < (size_t)n * D; i++)
			out[i] = rows[i] * m->lm_scale;
		rows = out;
	}
	kern_matmul(logits, rows, m->lm_head, NULL, n, D, V);
	if (m->logits_bias)
		for (int t = 0; t < n; t++)
			for (int i = 0; i < V; i++)
				logits[(size_t)t * V + i] += m->logits_bias[i];
	return lg_from == 0 ? emit(sink, CAP_LOGITS, -1, logits, 2, T, V, 0, false) : 0;
}

/* Common argument checks: an encoder–decoder, 1 <= n <= n_ctx, ids in range. */
static int
check_seq(const struct model *m, const char *what, const int32_t *ids, int n)
{
	const struct model_config *c = &m->cfg;
	if (!c->encdec)
		return err_set(ERR_UNSUPPORTED, "model '%s' (%s) is not an encoder-decoder: "
		               "use model_forward()", m->path, model_arch_name(c->arch));
	if (n < 1 || n > c->n_ctx)
		return err_set(ERR_RANGE, "%s of %d tokens: the model takes 1 to %d", what, n,
		               c->n_ctx);
	for (int i = 0; ids && i < n; i++)
		if (ids[i] < 0 || ids[i] >= c->vocab_size)
			return err_set(ERR_RANGE, "%s token id %d at position %d is outside the "
			               "vocabulary (0..%d)", what, ids[i], i, c->vocab_size - 1);
	return 0;
}

int
model_forward_encdec(struct model *m, const int32_t *src, int n_src, const int32_t *tgt,
                     int n_tgt, struct cap_sink *sink, float *logits)
{
	const int D = m->cfg.d_model;
	size_t n_ws;
	int rc;
	if ((rc = check_seq(m, "source", src, n_src)) != 0 ||
	    (rc = check_seq(m, "target", tgt, n_tgt)) != 0 ||
	    (rc = workspace_size(&m->cfg, n_src, n_tgt, 0, &n_ws)) != 0)
		return rc;
	float *ws = model__workspace(m, n_ws);
	if (!ws)
		return err_set(ERR_NOMEM, "out of memory for a pair of %d and %d tokens", n_src,
		               n_tgt);
	float *enc = ws;                            /* (S, D) */
	float *scratch = ws + (size_t)n_src * D;
	if ((rc = encode(m, src, n_src, sink, enc, scratch)) != 0)
		return rc;
	return decode(m, enc, n_src, tgt, n_tgt, sink, logits, 0, scratch);
}

int
model_generate_encdec(struct model *m, const int32_t *src, int n_src, int max_new,
                      int eos, struct cap_sink *sink, int32_t *out_ids, int *n_out)
{
	const struct model_config *c = &m->cfg;
	const int D = c->d_model, V = c->vocab_size;
	int32_t *tgt = NULL;
	size_t n_ws;
	int rc;

	*n_out = 0;
	if ((rc = check_seq(m, "source", src, n_src)) != 0 ||
	    (rc = check_seq(m, "generated sequence", NULL, max_new)) != 0 ||
	    (rc = workspace_size(c, n_src, max_new, (size_t)V, &n_ws)) != 0)
		return rc;
	float *ws = model__workspace(m, n_ws);
	if (!ws || !(tgt = malloc((size_t)max_new * sizeof *tgt))) {
		rc = err_set(ERR_NOMEM, "out of memory for %d new tokens", max_new);
		goto out;
	}
	const size_t SD = (size_t)n_src * D;
	float *enc = ws;                   /* (S, D)                        */
	float *scratch = ws + SD;          /* stacks' scratch               */
	float *row = ws + n_ws - V;        /* (V) logits of the newest row  */
	if ((rc = encode(m, src, n_src, sink, enc, scratch)) != 0)
		goto out;
	/* step t feeds [start, g0 .. g(t-1)] and takes the argmax of row t */
	for (int t = 0; t < max_new; t++) {
		tgt[t] = t == 0 ? c->decoder_start : out_ids[t - 1];
		if ((rc = decode(m, enc, n_src, tgt, t + 1, NULL, row, t, scratch)) != 0)
			goto out;
		int best = 0;
		for (int i = 1; i < V; i++)
			if (row[i] > row[best])
				best = i;
		out_ids[t] = best;
		*n_out = t + 1;
		if (best == eos)
			break;
	}
	if (!sink)
		goto out;
	/* the maps of the final sequence: row t is what step t computed */
	const int n = *n_out;
	float *lg = NULL;
	if (cap_want(sink, CAP_LOGITS, -1)) {
		size_t nv;
		if (ckd_mul_size(&nv, (size_t)n, (size_t)V) || ckd_add_size(&n_ws, n_ws, nv) ||
		    !(ws = model__workspace(m, n_ws))) {
			rc = err_set(ERR_NOMEM, "out of memory for %d x %d logits", n, V);
			goto out;
		}
		enc = ws;              /* the workspace may have moved */
		scratch = ws + SD;
		lg = ws + n_ws - nv;   /* (n, V) */
	}
	rc = decode(m, enc, n_src, tgt, n, sink, lg, 0, scratch);
out:
	free(tgt);
	return rc;
}

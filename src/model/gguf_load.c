/*
 * gguf_load.c — models from GGUF files (llama.cpp's tensor names):
 * architectures "llama" (and "mistral"), "qwen2", "gpt2", "bert". Every
 * tensor is converted (dequantized) to float32 at load; shapes are checked
 * against the metadata before anything is used.
 *
 * GGUF "llama" stores Q/K rows for llama.cpp's NORM rope (adjacent pairs);
 * "qwen2" uses NEOX rope (halves).
 */
#include "model_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../formats/formats.h"
#include "../util/util.h"

static int
get_dim(const struct gguf *g, const char *arch, const char *key, bool required,
        int64_t dflt, int *out, const char *path)
{
	char k[128];
	int64_t v;
	snprintf(k, sizeof k, "%s.%s", arch, key);
	int rc = gguf_get_int(g, k, &v);
	if (rc == ERR_NOTFOUND && !required) {
		*out = (int)dflt;
		return 0;
	}
	if (rc)
		return err_set(rc, "gguf: '%s': %s key '%s'", path,
		               rc == ERR_NOTFOUND ? "missing" : "bad", k);
	if (v <= 0 || v > (1 << 24))
		return err_set(ERR_FORMAT, "gguf: '%s': '%s' = %lld is out of range", path, k,
		               (long long)v);
	*out = (int)v;
	return 0;
}

static float
get_float(const struct gguf *g, const char *arch, const char *key, float dflt)
{
	char k[128];
	double v;
	snprintf(k, sizeof k, "%s.%s", arch, key);
	return gguf_get_float(g, k, &v) == 0 ? (float)v : dflt;
}

static const struct fmt_tensor *
blk(const struct gguf *g, int l, const char *name)
{
	char k[128];
	snprintf(k, sizeof k, "blk.%d.%s", l, name);
	return gguf_find_tensor(g, k);
}

int
model__open_gguf(struct model *m, const char *path)
{
	int rc;
	struct gguf *g = gguf_open(path, &rc);
	if (!g)
		return rc;
	struct model_config *c = &m->cfg;
	const char *a;
	size_t alen;
	char arch[32];
	if (gguf_get_str(g, "general.architecture", &a, &alen) != 0 || alen >= sizeof arch) {
		rc = err_set(ERR_FORMAT, "gguf: '%s' has no general.architecture", path);
		goto out;
	}
	memcpy(arch, a, alen);
	arch[alen] = '\0';
	c->format = MODEL_FMT_GGUF;
	snprintf(c->name, sizeof c->name, "%s", arch);
	if (!strcmp(arch, "llama") || !strcmp(arch, "mistral") || !strcmp(arch, "qwen2")) {
		c->arch = MODEL_ARCH_LLAMA;
		c->rope = strcmp(arch, "qwen2") == 0 ? MODEL_ROPE_HALVES : MODEL_ROPE_ADJACENT;
		c->causal = true;
	} else if (!strcmp(arch, "gpt2")) {
		c->arch = MODEL_ARCH_GPT2;
		c->causal = true;
	} else if (!strcmp(arch, "bert")) {
		c->arch = MODEL_ARCH_BERT;
		c->causal = false;
	} else {
		rc = err_set(ERR_UNSUPPORTED, "gguf: '%s': architecture '%s' is not supported "
		             "(llama, mistral, qwen2, gpt2, bert)", path, arch);
		goto out;
	}
	if (gguf_n_tensors(g) == 0) {
		rc = err_set(ERR_FORMAT, "gguf: '%s' holds no tensors (a vocabulary-only "
		             "file?)", path);
		goto out;
	}
	if ((rc = get_dim(g, arch, "block_count", true, 0, &c->n_layer, path)) ||
	    (rc = get_dim(g, arch, "embedding_length", true, 0, &c->d_model, path)) ||
	    (rc = get_dim(g, arch, "feed_forward_length", true, 0, &c->d_ff, path)) ||
	    (rc = get_dim(g, arch, "attention.head_count", true, 0, &c->n_head, path)) ||
	    (rc = get_dim(g, arch, "attention.head_count_kv", false, c->n_head,
	                  &c->n_kv_head, path)) ||
	    (rc = get_dim(g, arch, "context_length", true, 0, &c->n_ctx, path)))
		goto out;
	c->norm_eps = c->arch == MODEL_ARCH_LLAMA
	              ? get_float(g, arch, "attention.layer_norm_rms_epsilon", 1e-5f)
	              : get_float(g, arch, "attention.layer_norm_epsilon", 1e-5f);
	c->rope_theta = get_float(g, arch, "rope.freq_base", 10000.0f);
	const struct fmt_tensor *emb = gguf_find_tensor(g, "token_embd.weight");
	if (!emb || emb->ndim != 2) {
		rc = err_set(ERR_FORMAT, "gguf: '%s': tensor 'token_embd.weight' is missing "
		             "or not 2-D", path);
		goto out;
	}
	c->vocab_size = emb->shape[0] > (1 << 24) ? 0 : (int)emb->shape[0];
	if ((rc = model__check_config(c, path)) != 0)
		goto out;
	c->d_head = c->d_model / c->n_head;
	if (c->arch == MODEL_ARCH_LLAMA) {
		int rot;
		if ((rc = get_dim(g, arch, "rope.dimension_count", false, c->d_head, &rot, path)))
			goto out;
		if (rot != c->d_head) {
			rc = err_set(ERR_UNSUPPORTED, "gguf: '%s': partial rotary embeddings (%d "
			             "of %d dimensions) are not supported", path, rot, c->d_head);
			goto out;
		}
	}

	/* arena: every tensor of the file, converted */
	size_t total = 0;
	for (int64_t i = 0; i < gguf_n_tensors(g); i++)
		if (ckd_add_size(&total, total, (size_t)gguf_tensor(g, i)->n)) {
			rc = err_set(ERR_FORMAT, "gguf: '%s': tensor sizes overflow", path);
			goto out;
		}
	if ((rc = model__arena_reserve(m, total)) != 0)
		goto out;
	if (!(m->layer = calloc((size_t)c->n_layer, sizeof *m->layer))) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	const int64_t D = c->d_model, F = c->d_ff, V = c->vocab_size;
	const int64_t Dkv = (int64_t)c->d_head * c->n_kv_head;
#define TAKE(dst, t, name, d0, d1)                                              \
	do {                                                                        \
		if (!((dst) = model__take(m, (t), (name), (d0), (d1), false, &rc)))    \
			goto out;                                                           \
	} while (0)
#define TAKE_OPT(dst, t, name, d0, d1)                                          \
	do {                                                                        \
		const struct fmt_tensor *t_ = (t);                                      \
		if (t_)                                                                 \
			TAKE(dst, t_, name, d0, d1);                                        \
	} while (0)
	TAKE(m->tok_emb, emb, "token_embd.weight", V, D);
	if (c->arch == MODEL_ARCH_LLAMA) /* Llama 3 frequency scaling */
		TAKE_OPT(m->rope_ff, gguf_find_tensor(g, "rope_freqs.weight"), "rope_freqs.weight",
		         c->d_head / 2, -1);
	bool bias = c->arch != MODEL_ARCH_LLAMA;
	if (c->arch != MODEL_ARCH_BERT) {
		TAKE(m->out_norm, gguf_find_tensor(g, "output_norm.weight"), "output_norm.weight",
		     D, -1);
		if (bias)
			TAKE(m->out_norm_b, gguf_find_tensor(g, "output_norm.bias"),
			     "output_norm.bias", D, -1);
		const struct fmt_tensor *o = gguf_find_tensor(g, "output.weight");
		c->shared_classifier = !o;
		if (o)
			TAKE(m->wcls, o, "output.weight", V, D);
		else
			m->wcls = m->tok_emb;
		c->has_lm_head = true;
	}
	if (c->arch != MODEL_ARCH_LLAMA) {
		const struct fmt_tensor *pe = gguf_find_tensor(g, "position_embd.weight");
		if (!pe || pe->ndim != 2 || pe->shape[0] < 1 || pe->shape[0] > (1 << 20)) {
			rc = err_set(ERR_FORMAT, "gguf: '%s': tensor 'position_embd.weight' is "
			             "missing or malformed", path);
			goto out;
		}
		c->n_pos = (int)pe->shape[0];
		TAKE(m->pos_emb, pe, "position_embd.weight", c->n_pos, D);
		if (c->n_ctx > c->n_pos)
			c->n_ctx = c->n_pos;
	}
	if (c->arch == MODEL_ARCH_BERT) {
		const struct fmt_tensor *tt = gguf_find_tensor(g, "token_types.weight");
		if (!tt || tt->ndim != 2 || tt->shape[0] < 1 || tt->shape[0] > 64) {
			rc = err_set(ERR_FORMAT, "gguf: '%s': tensor 'token_types.weight' is "
			             "missing or malformed", path);
			goto out;
		}
		TAKE(m->type_emb, tt, "token_types.weight", tt->shape[0], D);
		TAKE(m->emb_norm, gguf_find_tensor(g, "token_embd_norm.weight"),
		     "token_embd_norm.weight", D, -1);
		TAKE(m->emb_norm_b, gguf_find_tensor(g, "token_embd_norm.bias"),
		     "token_embd_norm.bias", D, -1);
	}
	for (int l = 0; l < c->n_layer; l++) {
		struct layer_weights *w = &m->layer[l];
		char nm[96];
#define BLK(dst, name, d0, d1)                                                  \
	do {                                                                        \
		snprintf(nm, sizeof nm, "blk.%d.%s", l, name);                          \
		TAKE(dst, blk(g, l, name), nm, d0, d1);                                 \
	} while (0)
#define BLK_OPT(dst, name, d0, d1)                                              \
	do {                                                                        \
		snprintf(nm, sizeof nm, "blk.%d.%s", l, name);                          \
		TAKE_OPT(dst, blk(g, l, name), nm, d0, d1);                             \
	} while (0)
		if (c->arch == MODEL_ARCH_GPT2) {
			const float *qkv, *qkv_b;
			BLK(qkv, "attn_qkv.weight", 3 * D, D);
			BLK(qkv_b, "attn_qkv.bias", 3 * D, -1);
			w->wq = qkv;
			w->wk = qkv + D * D;
			w->wv = qkv + 2 * D * D;
			w->bq = qkv_b;
			w->bk = qkv_b + D;
			w->bv = qkv_b + 2 * D;
		} else {
			BLK(w->wq, "attn_q.weight", D, D);
			BLK(w->wk, "attn_k.weight", Dkv, D);
			BLK(w->wv, "attn_v.weight", Dkv, D);
			if (bias) {
				BLK(w->bq, "attn_q.bias", D, -1);
				BLK(w->bk, "attn_k.bias", Dkv, -1);
				BLK(w->bv, "attn_v.bias", Dkv, -1);
			} else { /* Qwen2 */
				BLK_OPT(w->bq, "attn_q.bias", D, -1);
				BLK_OPT(w->bk, "attn_k.bias", Dkv, -1);
				BLK_OPT(w->bv, "attn_v.bias", Dkv, -1);
			}
		}
		BLK(w->wo, "attn_output.weight", D, D);
		if (bias)
			BLK(w->bo, "attn_output.bias", D, -1);
		if (c->arch == MODEL_ARCH_BERT) {
			BLK(w->attn_norm, "attn_output_norm.weight", D, -1);
			BLK(w->attn_norm_b, "attn_output_norm.bias", D, -1);
			BLK(w->ffn_norm, "layer_output_norm.weight", D, -1);
			BLK(w->ffn_norm_b, "layer_output_norm.bias", D, -1);
		} else {
			BLK(w->attn_norm, "attn_norm.weight", D, -1);
			BLK(w->ffn_norm, "ffn_norm.weight", D, -1);
			if (bias) {
				BLK(w->attn_norm_b, "attn_norm.bias", D, -1);
				BLK(w->ffn_norm_b, "ffn_norm.bias", D, -1);
			}
		}
		if (c->arch == MODEL_ARCH_LLAMA)
			BLK(w->w_gate, "ffn_gate.weight", F, D);
		BLK(w->w_up, "ffn_up.weight", F, D);
		BLK(w->w_down, "ffn_down.weight", D, F);
		if (bias) {
			BLK(w->b_up, "ffn_up.bias", F, -1);
			BLK(w->b_down, "ffn_down.bias", D, -1);
		}
#undef BLK
#undef BLK_OPT
	}
#undef TAKE
#undef TAKE_OPT
	model__finish_summary(m);
	if (!(m->tok_source = strdup(path))) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = 0;
out:
	gguf_close(g);
	return rc;
}

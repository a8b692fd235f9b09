/*
 * model_internal.h — what the files of src/model share: the model object,
 * weight views and the numeric kernels. Nothing outside src/model includes
 * this header.
 */
#ifndef ATTNSCOPE_MODEL_INTERNAL_H
#define ATTNSCOPE_MODEL_INTERNAL_H

#include "model.h"

/* Llama-family weights, pointers into the mapped file. Per-layer tensors
 * are stacked along a leading [L] axis. */
struct llama_weights {
	const float *tok_emb;   /* [V, D]      */
	const float *rms_att;   /* [L, D]      */
	const float *wq;        /* [L, D, D]   */
	const float *wk;        /* [L, Dkv, D] */
	const float *wv;        /* [L, Dkv, D] */
	const float *wo;        /* [L, D, D]   */
	const float *rms_ffn;   /* [L, D]      */
	const float *w1;        /* [L, F, D]   gate */
	const float *w2;        /* [L, D, F]   down */
	const float *w3;        /* [L, F, D]   up   */
	const float *rms_final; /* [D]         */
	const float *wcls;      /* [V, D]      */
};

struct model {
	struct model_config cfg;
	char *path;
	void *map;             /* the whole file, mmap'd read-only */
	size_t map_size;
	struct llama_weights w;
	float *ws;             /* forward workspace, grown on demand */
	size_t ws_cap;         /* floats */
	char sha256[65];       /* computed on first request */
};

/* Make sure the workspace holds at least n floats; returns it or NULL. */
float *model__workspace(struct model *m, size_t n);

int model__forward_llama(struct model *m, const int32_t *tokens, int n_tok,
                         struct cap_sink *sink, float *logits);

/* ---- kernels (kernels.c): pure, no hidden state ---------------------- */

/* out[T, n_out] = x[T, n_in] · W[n_out, n_in]ᵀ (+ bias[n_out] if not NULL).
 * sgemm, or sgemv when T == 1. */
void kern_matmul(float *out, const float *x, const float *w, const float *bias,
                 int T, int n_in, int n_out);

/* RMSNorm over each of T rows of width n: out = x / sqrt(mean(x²) + eps) * g. */
void kern_rmsnorm(float *out, const float *x, const float *g, int T, int n,
                  float eps);

/* Softmax in place over v[0..n-1]; entries past n are untouched. */
void kern_softmax(float *v, int n);

/* Rotary embedding, adjacent pairs (x[2i], x[2i+1]) of each head, in place
 * on x [T, n_heads, dh] at positions 0..T-1: angle = pos · theta^(-2i/dh). */
void kern_rope_adjacent(float *x, int T, int n_heads, int dh, float theta);

/* Rotary embedding on halves (x[i], x[i + dh/2]), HF layout. */
void kern_rope_halves(float *x, int T, int n_heads, int dh, float theta);

/* out[i] = silu(gate[i]) * up[i] for n values. */
void kern_swiglu(float *out, const float *gate, const float *up, size_t n);

/* SHA-256 of n bytes into a lower-case hex string. */
void sha256_hex(const void *data, size_t n, char out[65]);

#endif

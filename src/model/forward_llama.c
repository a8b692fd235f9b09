/*
 * forward_llama.c — Llama-family forward pass over a whole sequence
 * (prefill), float32, projections on BLAS, attention computed and kept per
 * head, hook points emitted through the capture sink.
 *
 * Per block l (T = tokens, D = width, H/Hkv heads, dh head width):
 *   x   = resid_pre                                  [T, D]
 *   xn  = rmsnorm(x) · g_att                         [T, D]
 *   q,k,v = xn·Wqᵀ, xn·Wkᵀ, xn·Wvᵀ, RoPE on q and k  [T, H, dh] / [T, Hkv, dh]
 *   A_h = softmax(q_h k_gᵀ / √dh + causal mask)      [T, T], g = h / (H/Hkv)
 *   z_h = A_h v_g                                    [T, dh]
 *   x  += z·Woᵀ                    (resid_mid)
 *   x  += W2ᵀ(silu(xn2·W1ᵀ) ⊙ xn2·W3ᵀ)  (resid_post), xn2 = rmsnorm(x)·g_ffn
 */
#include "model_internal.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "../capture/capture.h"
#include "../util/util.h"

static int
emit(struct cap_sink *sink, enum cap_point p, int layer, const float *data,
     int ndim, int d0, int d1, int d2, bool causal)
{
	struct cap_tensor t = {
		.point = p, .layer = layer, .ndim = ndim,
		.shape = { d0, d1, d2, 0 }, .data = data, .causal = causal,
	};
	return sink->ops->emit(sink, &t);
}

/* Emit [T, n] if wanted; returns the sink's code. */
#define EMIT2(point, layer, buf, n)                                          \
	do {                                                                     \
		if (cap_want(sink, point, layer) &&                                  \
		    (rc = emit(sink, point, layer, buf, 2, T, n, 0, false)) != 0)   \
			return rc;                                                       \
	} while (0)

#define EMIT3(point, layer, buf, a, b, c, causal)                            \
	do {                                                                     \
		if (cap_want(sink, point, layer) &&                                  \
		    (rc = emit(sink, point, layer, buf, 3, a, b, c, causal)) != 0)  \
			return rc;                                                       \
	} while (0)

int
model__forward_llama(struct model *m, const int32_t *tokens, int T,
                     struct cap_sink *sink, float *logits)
{
	const struct model_config *c = &m->cfg;
	const struct llama_weights *w = &m->w;
	const int D = c->d_model, F = c->d_ff, H = c->n_head, Hkv = c->n_kv_head;
	const int dh = c->d_head, Dkv = dh * Hkv, V = c->vocab_size;
	const int kv_mul = H / Hkv;
	const size_t TD = (size_t)T * D, TT = (size_t)T * T;
	int rc = 0;

	bool want_scores = false;
	for (int l = 0; l < c->n_layer && !want_scores; l++)
		want_scores = cap_want(sink, CAP_ATTN_SCORES, l);

	/* one workspace for the whole pass */
	size_t n_ws = 4 * TD                 /* x, xn, q, z     */
	            + 2 * (size_t)T * Dkv    /* k, v            */
	            + 2 * (size_t)T * F      /* gate, up        */
	            + TD                     /* out (attn/mlp)  */
	            + (size_t)H * TT         /* att             */
	            + (want_scores ? (size_t)H * TT : 0);
	float *ws = model__workspace(m, n_ws);
	if (!ws)
		return err_set(ERR_NOMEM, "out of memory for a %d-token forward pass", T);
	float *x = ws;                    /* (T, D)    residual stream      */
	float *xn = x + TD;               /* (T, D)    normalised           */
	float *q = xn + TD;               /* (T, H, dh)                     */
	float *z = q + TD;                /* (T, H, dh) per-head outputs    */
	float *k = z + TD;                /* (T, Hkv, dh)                   */
	float *v = k + (size_t)T * Dkv;   /* (T, Hkv, dh)                   */
	float *gate = v + (size_t)T * Dkv;/* (T, F)                         */
	float *up = gate + (size_t)T * F; /* (T, F)                         */
	float *out = up + (size_t)T * F;  /* (T, D)    block outputs        */
	float *att = out + TD;            /* (H, T, T) attention patterns   */
	float *scores = want_scores ? att + (size_t)H * TT : NULL; /* (H, T, T) */

	for (int t = 0; t < T; t++)
		memcpy(x + (size_t)t * D, w->tok_emb + (size_t)tokens[t] * D,
		       (size_t)D * sizeof *x);
	EMIT2(CAP_EMBED, -1, x, D);

	const float scale = 1.0f / sqrtf((float)dh);
	for (int l = 0; l < c->n_layer; l++) {
		EMIT2(CAP_RESID_PRE, l, x, D);

		/* ---- attention ---- */
		kern_rmsnorm(xn, x, w->rms_att + (size_t)l * D, T, D, c->norm_eps);
		EMIT2(CAP_ATTN_IN, l, xn, D);
		kern_matmul(q, xn, w->wq + (size_t)l * D * D, NULL, T, D, D);
		kern_matmul(k, xn, w->wk + (size_t)l * Dkv * D, NULL, T, D, Dkv);
		kern_matmul(v, xn, w->wv + (size_t)l * Dkv * D, NULL, T, D, Dkv);
		EMIT3(CAP_Q, l, q, T, H, dh, false);
		EMIT3(CAP_K, l, k, T, Hkv, dh, false);
		EMIT3(CAP_V, l, v, T, Hkv, dh, false);
		if (c->rope == MODEL_ROPE_ADJACENT) {
			kern_rope_adjacent(q, T, H, dh, c->rope_theta);
			kern_rope_adjacent(k, T, Hkv, dh, c->rope_theta);
		} else {
			kern_rope_halves(q, T, H, dh, c->rope_theta);
			kern_rope_halves(k, T, Hkv, dh, c->rope_theta);
		}

		/* heads are independent: one per OpenMP thread; OpenBLAS's OpenMP
		 * build runs single-threaded inside the region */
#pragma omp parallel for schedule(dynamic, 1) if (H > 1 && T > 16)
		for (int h = 0; h < H; h++) {
			int g = h / kv_mul;                 /* shared K/V head */
			float *A = att + (size_t)h * TT;    /* (T, T) */
			/* A = q_h k_gᵀ · scale; rows are queries */
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, T, dh,
			            scale, q + (size_t)h * dh, D, k + (size_t)g * dh, Dkv,
			            0.0f, A, T);
			if (scores) {
				float *S = scores + (size_t)h * TT;
				for (int i = 0; i < T; i++)
					for (int j = 0; j < T; j++)
						S[(size_t)i * T + j] = j <= i ? A[(size_t)i * T + j]
						                              : -INFINITY;
			}
			for (int i = 0; i < T; i++) {
				float *row = A + (size_t)i * T;
				kern_softmax(row, i + 1);
				memset(row + i + 1, 0, (size_t)(T - i - 1) * sizeof *row);
			}
			/* z_h = A v_g */
			cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, dh, T,
			            1.0f, A, T, v + (size_t)g * dh, Dkv, 0.0f,
			            z + (size_t)h * dh, D);
		}
		if (scores)
			EMIT3(CAP_ATTN_SCORES, l, scores, H, T, T, true);
		EMIT3(CAP_ATTN_PATTERN, l, att, H, T, T, true);
		EMIT3(CAP_Z, l, z, T, H, dh, false);

		kern_matmul(out, z, w->wo + (size_t)l * D * D, NULL, T, D, D);
		EMIT2(CAP_ATTN_OUT, l, out, D);
		for (size_t i = 0; i < TD; i++)
			x[i] += out[i];
		EMIT2(CAP_RESID_MID, l, x, D);

		/* ---- MLP (SwiGLU) ---- */
		kern_rmsnorm(xn, x, w->rms_ffn + (size_t)l * D, T, D, c->norm_eps);
		EMIT2(CAP_MLP_IN, l, xn, D);
		kern_matmul(gate, xn, w->w1 + (size_t)l * F * D, NULL, T, D, F);
		kern_matmul(up, xn, w->w3 + (size_t)l * F * D, NULL, T, D, F);
		kern_swiglu(gate, gate, up, (size_t)T * F);
		EMIT2(CAP_MLP_POST, l, gate, F);
		kern_matmul(out, gate, w->w2 + (size_t)l * D * F, NULL, T, F, D);
		EMIT2(CAP_MLP_OUT, l, out, D);
		for (size_t i = 0; i < TD; i++)
			x[i] += out[i];
		EMIT2(CAP_RESID_POST, l, x, D);
	}

	kern_rmsnorm(xn, x, w->rms_final, T, D, c->norm_eps);
	EMIT2(CAP_LN_FINAL, -1, xn, D);
	if (logits) {
		kern_matmul(logits, xn, w->wcls, NULL, T, D, V);
		EMIT2(CAP_LOGITS, -1, logits, V);
	}
	return 0;
}

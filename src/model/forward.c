/*
 * forward.c — the forward pass of every architecture over a whole sequence
 * (prefill), float32, projections on BLAS, attention computed and kept per
 * head, hook points emitted through the capture sink.
 *
 * Per block l (T = tokens, D = width, H/Hkv heads, dh head width):
 *   LLAMA (pre-RMSNorm)       GPT2 (pre-LayerNorm)       BERT (post-LayerNorm)
 *   xn = rms(x)·g             xn = ln(x)                 xn = x
 *   q,k,v = xn·Wᵀ (+b), RoPE  q,k,v = xn·Wᵀ + b          q,k,v = x·Wᵀ + b
 *   A_h = softmax(q_h k_gᵀ/√dh + mask)    [T, T], g = h / (H/Hkv); the mask
 *         is causal except for BERT
 *   z_h = A_h v_g, out = z·Woᵀ (+ bo)
 *   x += out   (resid_mid)    x += out                   x = ln1(x + out)
 *   xn = rms(x)·g             xn = ln(x)                 xn = x
 *   m = W2(silu(W1 xn)⊙W3 xn) m = W2 gelu_tanh(W1 xn)    m = W2 gelu_erf(W1 x)
 *   x += m     (resid_post)   x += m                     x = ln2(x + m)
 * then the final norm and the classifier (not for BERT).
 *
 * BERT hooks follow TransformerLens' HookedEncoder: resid_mid = x + attn_out
 * (before LN1), ln1.hook_normalized = LN1 output, resid_post = the sum
 * before LN2, ln2.hook_normalized = LN2 output = the block's output.
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

static void
norm_rows(const struct model_config *c, float *out, const float *x, const float *g,
          const float *b, int T)
{
	if (c->arch == MODEL_ARCH_LLAMA)
		kern_rmsnorm(out, x, g, T, c->d_model, c->norm_eps);
	else
		kern_layernorm(out, x, g, b, T, c->d_model, c->norm_eps);
}

/* One layer's attention: fills att [H, T, T] (and scores if not NULL) and
 * z [T, H, dh] from q [T, H, dh], k, v [T, Hkv, dh]. */
static void
attention(const struct model_config *c, int T, const float *q, const float *k,
          const float *v, float *att, float *scores, float *z)
{
	const int D = c->d_model, H = c->n_head, dh = c->d_head;
	const int Dkv = dh * c->n_kv_head, kv_mul = H / c->n_kv_head;
	const size_t TT = (size_t)T * T;
	const float scale = 1.0f / sqrtf((float)dh);
	const bool causal = c->causal;
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
					S[(size_t)i * T + j] = !causal || j <= i ? A[(size_t)i * T + j]
					                                         : -INFINITY;
		}
		for (int i = 0; i < T; i++) {
			float *row = A + (size_t)i * T;
			int n = causal ? i + 1 : T;
			kern_softmax(row, n);
			memset(row + n, 0, (size_t)(T - n) * sizeof *row);
		}
		/* z_h = A v_g */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, dh, T,
		            1.0f, A, T, v + (size_t)g * dh, Dkv, 0.0f,
		            z + (size_t)h * dh, D);
	}
}

int
model__forward(struct model *m, const int32_t *tokens, int T,
               struct cap_sink *sink, float *logits)
{
	const struct model_config *c = &m->cfg;
	const int D = c->d_model, F = c->d_ff, H = c->n_head, Hkv = c->n_kv_head;
	const int dh = c->d_head, Dkv = dh * Hkv, V = c->vocab_size;
	const bool llama = c->arch == MODEL_ARCH_LLAMA, bert = c->arch == MODEL_ARCH_BERT;
	const size_t TD = (size_t)T * D, TT = (size_t)T * T;
	int rc = 0;

	if (c->n_pos > 0 && T > c->n_pos)
		return err_set(ERR_RANGE, "sequence of %d tokens: the model has %d positions",
		               T, c->n_pos);
	bool want_scores = false, want_extra = false;
	for (int l = 0; l < c->n_layer; l++) {
		want_scores = want_scores || cap_want(sink, CAP_ATTN_SCORES, l);
		want_extra = want_extra || cap_want(sink, CAP_ATTN_NORM, l);
	}
	want_extra = want_extra || want_scores;

	/* one workspace for the whole pass */
	size_t n_ws = 4 * TD                 /* x, xn, q, z     */
	            + 2 * (size_t)T * Dkv    /* k, v            */
	            + 2 * (size_t)T * F      /* gate, up        */
	            + TD                     /* out (attn/mlp)  */
	            + (size_t)H * TT         /* att             */
	            + (want_extra ? (size_t)H * TT : 0);
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
	float *extra = want_extra ? att + (size_t)H * TT : NULL;   /* (H, T, T) */
	float *scores = want_scores ? extra : NULL; /* pre-softmax scores */

	/* embeddings */
	for (int t = 0; t < T; t++) {
		float *xr = x + (size_t)t * D;
		memcpy(xr, m->tok_emb + (size_t)tokens[t] * D, (size_t)D * sizeof *x);
		if (m->pos_emb)
			for (int i = 0; i < D; i++)
				xr[i] += m->pos_emb[(size_t)t * D + i];
		if (m->type_emb) /* one segment: token type 0 */
			for (int i = 0; i < D; i++)
				xr[i] += m->type_emb[i];
	}
	if (m->emb_norm)
		kern_layernorm(x, x, m->emb_norm, m->emb_norm_b, T, D, c->norm_eps);
	EMIT2(CAP_EMBED, -1, x, D);

	for (int l = 0; l < c->n_layer; l++) {
		const struct layer_weights *w = &m->layer[l];
		EMIT2(CAP_RESID_PRE, l, x, D);

		/* ---- attention ---- */
		const float *ain = x;
		if (!bert) {
			norm_rows(c, xn, x, w->attn_norm, w->attn_norm_b, T);
			EMIT2(CAP_ATTN_IN, l, xn, D);
			ain = xn;
		}
		kern_matmul(q, ain, w->wq, w->bq, T, D, D);
		kern_matmul(k, ain, w->wk, w->bk, T, D, Dkv);
		kern_matmul(v, ain, w->wv, w->bv, T, D, Dkv);
		EMIT3(CAP_Q, l, q, T, H, dh, false);
		EMIT3(CAP_K, l, k, T, Hkv, dh, false);
		EMIT3(CAP_V, l, v, T, Hkv, dh, false);
		if (llama && c->rope == MODEL_ROPE_ADJACENT) {
			kern_rope_adjacent(q, T, H, dh, c->rope_theta, m->rope_ff);
			kern_rope_adjacent(k, T, Hkv, dh, c->rope_theta, m->rope_ff);
		} else if (llama) {
			kern_rope_halves(q, T, H, dh, c->rope_theta, m->rope_ff);
			kern_rope_halves(k, T, Hkv, dh, c->rope_theta, m->rope_ff);
		}
		attention(c, T, q, k, v, att, scores, z);
		if (scores)
			EMIT3(CAP_ATTN_SCORES, l, scores, H, T, T, c->causal);
		EMIT3(CAP_ATTN_PATTERN, l, att, H, T, T, c->causal);
		EMIT3(CAP_Z, l, z, T, H, dh, false);
		if (sink && sink->ops->edit) {
			const int zs[4] = { T, H, dh, 0 };
			if ((rc = sink->ops->edit(sink, CAP_Z, l, z, zs)) != 0)
				return rc;
		}
		if (cap_want(sink, CAP_ATTN_NORM, l)) {
			/* ‖v_j W_O^h‖ per (h, j), then scale every column of A_h;
			 * `out` and `gate` are free here: (T, D) and >= (T, H) */
			float *nv = gate;                       /* (H, T) norms */
			for (int h = 0; h < H; h++) {
				int g = h / (H / Hkv);
				/* out (T, D) = v_g (T, dh) · W_O[:, h·dh : (h+1)·dh]ᵀ */
				cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, D, dh, 1.0f,
				            v + (size_t)g * dh, Dkv, w->wo + (size_t)h * dh, D, 0.0f,
				            out, D);
				for (int j = 0; j < T; j++) {
					double ss = 0;
					for (int i = 0; i < D; i++)
						ss += (double)out[(size_t)j * D + i] * out[(size_t)j * D + i];
					nv[(size_t)h * T + j] = (float)sqrt(ss);
				}
			}
			/* the extra map buffer: the scores were emitted already */
			for (int h = 0; h < H; h++)
				for (int i = 0; i < T; i++)
					for (int j = 0; j < T; j++)
						extra[(size_t)h * TT + (size_t)i * T + j] =
							att[(size_t)h * TT + (size_t)i * T + j] * nv[(size_t)h * T + j];
			EMIT3(CAP_ATTN_NORM, l, extra, H, T, T, c->causal);
		}

		kern_matmul(out, z, w->wo, w->bo, T, D, D);
		EMIT2(CAP_ATTN_OUT, l, out, D);
		for (size_t i = 0; i < TD; i++)
			x[i] += out[i];
		EMIT2(CAP_RESID_MID, l, x, D);

		/* ---- MLP ---- */
		const float *min = xn;
		if (bert) {
			kern_layernorm(x, x, w->attn_norm, w->attn_norm_b, T, D, c->norm_eps);
			EMIT2(CAP_ATTN_IN, l, x, D);
			min = x;
		} else {
			norm_rows(c, xn, x, w->ffn_norm, w->ffn_norm_b, T);
			EMIT2(CAP_MLP_IN, l, xn, D);
		}
		if (llama) {
			kern_matmul(gate, min, w->w_gate, NULL, T, D, F);
			kern_matmul(up, min, w->w_up, NULL, T, D, F);
			kern_swiglu(gate, gate, up, (size_t)T * F);
		} else {
			kern_matmul(gate, min, w->w_up, w->b_up, T, D, F);
			if (bert)
				kern_gelu_erf(gate, (size_t)T * F);
			else
				kern_gelu_tanh(gate, (size_t)T * F);
		}
		EMIT2(CAP_MLP_POST, l, gate, F);
		kern_matmul(out, gate, w->w_down, w->b_down, T, F, D);
		EMIT2(CAP_MLP_OUT, l, out, D);
		for (size_t i = 0; i < TD; i++)
			x[i] += out[i];
		EMIT2(CAP_RESID_POST, l, x, D);
		if (bert) {
			kern_layernorm(x, x, w->ffn_norm, w->ffn_norm_b, T, D, c->norm_eps);
			EMIT2(CAP_MLP_IN, l, x, D);
		}
	}

	if (bert) /* the encoder's output is the last block's LN2 */
		return 0;
	norm_rows(c, xn, x, m->out_norm, m->out_norm_b, T);
	EMIT2(CAP_LN_FINAL, -1, xn, D);
	if (logits && m->wcls) {
		kern_matmul(logits, xn, m->wcls, NULL, T, D, V);
		EMIT2(CAP_LOGITS, -1, logits, V);
	}
	return 0;
}

int
model_unembed(struct model *m, const float *x, int T, float *logits)
{
	const struct model_config *c = &m->cfg;
	if (!c->has_lm_head || !m->wcls)
		return err_set(ERR_UNSUPPORTED, "the model has no language-model head");
	if (T < 1)
		return err_set(ERR_RANGE, "no rows to unembed");
	float *xn = model__workspace(m, (size_t)T * c->d_model);
	if (!xn)
		return err_set(ERR_NOMEM, "out of memory");
	norm_rows(c, xn, x, m->out_norm, m->out_norm_b, T);
	kern_matmul(logits, xn, m->wcls, NULL, T, c->d_model, c->vocab_size);
	return 0;
}

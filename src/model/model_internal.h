/*
 * model_internal.h — what the files of src/model share: the model object,
 * weight views and the numeric kernels. Nothing outside src/model includes
 * this header.
 */
#ifndef ATTNSCOPE_MODEL_INTERNAL_H
#define ATTNSCOPE_MODEL_INTERNAL_H

#include "model.h"

/* One block's weights. Linear weights are row-major [out, in]; absent
 * tensors (biases of bias-free models, norms of the other style) are NULL.
 *   LLAMA: attn_norm, wq/wk/wv/wo (+ bq/bk/bv for Qwen2), ffn_norm,
 *          w_gate [F, D], w_up [F, D], w_down [D, F]
 *   GPT2:  attn_norm(+_b), wq/wk/wv/wo + biases, ffn_norm(+_b),
 *          w_up [F, D] + b_up, w_down [D, F] + b_down
 *   BERT:  as GPT2, with attn_norm = LayerNorm after attention and
 *          ffn_norm = LayerNorm after the MLP (post-LN)
 *   BART:  as BERT (post-LN, biases); decoder blocks add the cross-
 *          attention x* and its LayerNorm cross_norm (encoder_attn_*)
 *   T5:    attn_norm, cross_norm, ffn_norm are the RMSNorm gains of the
 *          sub-layers (pre-norm, no biases); wq/wk/wv [I, D], wo [D, I]
 *          with I = H·dh; w_up = wi (v1.0) or wi_1 with w_gate = wi_0
 *          (v1.1), w_down = wo */
struct layer_weights {
	const float *attn_norm, *attn_norm_b; /* [D]      */
	const float *wq, *bq;                 /* [D, D]   */
	const float *wk, *bk;                 /* [Dkv, D] */
	const float *wv, *bv;                 /* [Dkv, D] */
	const float *wo, *bo;                 /* [D, D]   */
	const float *ffn_norm, *ffn_norm_b;   /* [D]      */
	const float *w_gate;                  /* [F, D]   */
	const float *w_up, *b_up;             /* [F, D]   */
	const float *w_down, *b_down;         /* [D, F]   */
	/* decoder cross-attention (encoder–decoder models) */
	const float *cross_norm, *cross_norm_b; /* [D]    */
	const float *xq, *bxq;                /* [I, D]   queries from the decoder */
	const float *xk, *bxk;                /* [I, D]   keys from the encoder    */
	const float *xv, *bxv;                /* [I, D]   values from the encoder  */
	const float *xo, *bxo;                /* [D, I]   */
};

/* Feed-forward activations of the encoder–decoder models. */
enum model_act { MODEL_ACT_RELU, MODEL_ACT_GELU_ERF, MODEL_ACT_GELU_TANH, MODEL_ACT_SILU };

struct model {
	struct model_config cfg;
	char *path;
	void *map;             /* llama2.c: the whole file, mmap'd read-only */
	size_t map_size;
	float *arena;          /* GGUF/HF: every weight converted to float32 */
	size_t arena_len, arena_cap; /* floats */
	const float *tok_emb;  /* [V, D]                               */
	const float *pos_emb;  /* [n_pos, D] (GPT-2, BERT)             */
	const float *type_emb; /* [n_types, D] (BERT; row 0 is used)   */
	const float *emb_norm, *emb_norm_b; /* [D] (BERT)              */
	struct layer_weights *layer; /* [L]                            */
	const float *out_norm, *out_norm_b; /* [D] final norm          */
	const float *wcls;     /* [V, D], NULL without an LM head       */
	const float *rope_ff;  /* [dh/2] RoPE frequency divisors (Llama 3
	                        * scaling: GGUF rope_freqs.weight, HF
	                        * rope_scaling "llama3"), NULL if none    */
	float *ws;             /* forward workspace, grown on demand */
	size_t ws_cap;         /* floats */
	char sha256[65];       /* computed on first request */
	char summary[256];     /* tensor types, see model_tensor_summary */
	int type_count[64];    /* tensors converted, by enum fmt_type   */
	char *tok_source;      /* see model_tokenizer_source            */

	/* encoder–decoder (BART, T5): m->layer holds the encoder blocks */
	struct layer_weights *dec_layer;        /* [n_dec_layer]              */
	const float *enc_pos, *dec_pos;         /* BART [n_pos + 2, D]        */
	const float *enc_emb_norm, *enc_emb_norm_b; /* BART [D]               */
	const float *dec_emb_norm, *dec_emb_norm_b; /* BART [D]               */
	const float *enc_rel_bias, *dec_rel_bias;   /* T5 [n_rel_bucket, H]   */
	const float *enc_out_norm, *dec_out_norm;   /* T5 final RMSNorm [D]   */
	const float *lm_head;                   /* [V, D] (tied: tok_emb)     */
	const float *logits_bias;               /* BART final_logits_bias [V], or NULL */
	float emb_scale;                        /* BART scale_embedding: √D, else 1 */
	float lm_scale;                         /* T5 tied head: D^-0.5, else 1 */
	enum model_act act;
};

/* Loaders: fill m->cfg and the weight pointers; return 0 or an error. */
int model__open_llama2c(struct model *m, const char *path);
int model__open_gguf(struct model *m, const char *path);
int model__open_hf(struct model *m, const char *dir);

/* Encoder–decoder directories (encdec.c): model_type "bart" or "t5",
 * called by model__open_hf with the parsed config.json (a jansson
 * json_t) and the open safetensors; fills m->cfg and every weight. */
struct json_t;
struct safetensors;
struct fmt_tensor;
int model__open_encdec(struct model *m, const char *dir, struct json_t *cfg,
                       const struct safetensors *st, const char *type);

/* config.json readers shared by the HF loaders (hf_load.c). An integer
 * field: dflt < 0 means required; values must be in 1 .. 2^24. */
int model__cfg_int(struct json_t *cfg, const char *key, int dflt, int *out,
                   const char *path);
/* A number (dflt when absent or not a number), a string (NULL if absent). */
float model__cfg_float(struct json_t *cfg, const char *key, float dflt);
const char *model__cfg_str(struct json_t *cfg, const char *key);
/* The tensor "prefix + name" for the first prefix (NULL-terminated list)
 * that has it; `fmt` may hold one %d for `l`. `name` receives the full
 * name found, or the first prefix's when none exists (for messages). */
const struct fmt_tensor *model__st_find(const struct safetensors *st,
                                        const char *const *prefixes, const char *fmt,
                                        int l, char *name, size_t size);

/* Validate dims shared by every format (positive, divisible, bounded). */
int model__check_config(const struct model_config *c, const char *path);

/* Bounds of model__check_config, for loaders with dims of their own. */
#define MODEL_MAX_DIM (1 << 16)
#define MODEL_MAX_LAYER 1024
#define MODEL_MAX_CTX (1 << 20)

struct fmt_tensor;

/*
 * Convert a file tensor to float32 in the arena, checking its shape: d1 < 0
 * for a 1-D tensor [d0], else [d0, d1] (outermost first). With transpose,
 * the file holds [d1, d0] (HF Conv1D) and the result is [d0, d1]. `what`
 * names the tensor in messages. Counts the source type for the summary.
 * Returns the data or NULL with the message set (*rc gets the code).
 */
const float *model__take(struct model *m, const struct fmt_tensor *t, const char *what,
                         int64_t d0, int64_t d1, bool transpose, int *rc);

/* Write m->summary from the type counts gathered by model__take. */
void model__finish_summary(struct model *m);

/* Take n floats from the arena (grown in chunks: pointers stay valid
 * because the arena is sized once by the loader with model__arena_reserve). */
int model__arena_reserve(struct model *m, size_t n);
float *model__arena_take(struct model *m, size_t n);

/* Make sure the workspace holds at least n floats; returns it or NULL. */
float *model__workspace(struct model *m, size_t n);

int model__forward(struct model *m, const int32_t *tokens, int n_tok,
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

/* ff: per-frequency divisors [dh/2] (Llama 3 "rope_freqs" scaling), or
 * NULL. */
/* Rotary embedding, adjacent pairs (x[2i], x[2i+1]) of each head, in place
 * on x [T, n_heads, dh] at positions 0..T-1: angle = pos · theta^(-2i/dh). */
void kern_rope_adjacent(float *x, int T, int n_heads, int dh, float theta,
                        const float *ff);

/* Rotary embedding on halves (x[i], x[i + dh/2]), HF layout. */
void kern_rope_halves(float *x, int T, int n_heads, int dh, float theta,
                      const float *ff);

/* out[i] = silu(gate[i]) * up[i] for n values. */
void kern_swiglu(float *out, const float *gate, const float *up, size_t n);

/* LayerNorm over each of T rows of width n: (x - mean) / sqrt(var + eps)
 * * g + b (b may be NULL). */
void kern_layernorm(float *out, const float *x, const float *g, const float *b,
                    int T, int n, float eps);

/* GELU in place over n values: tanh approximation (GPT-2 "gelu_new") or
 * exact erf (BERT "gelu"). */
void kern_gelu_tanh(float *x, size_t n);
void kern_gelu_erf(float *x, size_t n);

/* SHA-256 of n bytes into a lower-case hex string; incremental form. */
void sha256_hex(const void *data, size_t n, char out[65]);
struct sha256_ctx {
	uint32_t st[8];
	uint64_t n;
	unsigned char buf[64];
	size_t fill;
};
void sha256_init(struct sha256_ctx *c);
void sha256_update(struct sha256_ctx *c, const void *data, size_t n);
void sha256_final(struct sha256_ctx *c, char out[65]);

#endif

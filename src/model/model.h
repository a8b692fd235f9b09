/*
 * model.h — load a transformer and run its forward pass with capture hooks.
 *
 * Files: llama2.c checkpoints (.bin), GGUF (.gguf: architectures "llama",
 * "qwen2", "gpt2", "bert"; F32/F16/BF16 and quantized tensors dequantized
 * to float32 at load), and Hugging Face directories (config.json with
 * model.safetensors or a sharded model.safetensors.index.json; Llama,
 * Qwen2, Mistral, GPT-2, BERT).
 *
 * llama2.c checkpoint layout, all little-endian:
 *   1. header: 7 x int32  dim, hidden_dim, n_layers, n_heads, n_kv_heads,
 *      vocab_size, seq_len. vocab_size < 0 means an unshared classifier
 *      (real size |vocab_size|).
 *   2. float32 weights, row-major [out, in]:
 *      token_embedding [V, D], rms_att [L, D], wq [L, D, D],
 *      wk [L, Dkv, D], wv [L, Dkv, D], wo [L, D, D], rms_ffn [L, D],
 *      w1 [L, F, D], w2 [L, D, F], w3 [L, F, D], rms_final [D],
 *      freq_cis_real [n_ctx, dh/2], freq_cis_imag [n_ctx, dh/2] (unused),
 *      wcls [V, D] only when unshared.
 *   with Dkv = D / n_heads * n_kv_heads. The file size must equal exactly
 *   what the header implies (checked before anything is mapped).
 *
 * The forward pass runs a whole sequence at once (prefill) in float32,
 * with the projections on BLAS sgemm and attention kept per head.
 */
#ifndef ATTNSCOPE_MODEL_H
#define ATTNSCOPE_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cap_sink;

/* Architecture families, each its own forward pass over shared kernels:
 *   LLAMA  pre-RMSNorm, RoPE, SwiGLU, grouped-query attention, optional
 *          q/k/v biases (Qwen2), causal
 *   GPT2   pre-LayerNorm, learned positions, GELU (tanh), biases, causal
 *   BERT   post-LayerNorm encoder, learned positions and token types,
 *          GELU (erf), biases, bidirectional; no language-model head */
enum model_arch { MODEL_ARCH_LLAMA, MODEL_ARCH_GPT2, MODEL_ARCH_BERT, MODEL_ARCH_COUNT };

enum model_format { MODEL_FMT_LLAMA2C, MODEL_FMT_GGUF, MODEL_FMT_HF, MODEL_FMT_COUNT };

/* RoPE pairing: llama2.c/GGUF rotate adjacent pairs (x[2i], x[2i+1]);
 * HF checkpoints rotate halves (x[i], x[i + dh/2]). */
enum model_rope { MODEL_ROPE_ADJACENT, MODEL_ROPE_HALVES };

struct model_config {
	enum model_arch arch;
	enum model_format format;
	int d_model;    /* D: residual width                       */
	int d_ff;       /* F: MLP hidden width                     */
	int n_layer;    /* L                                       */
	int n_head;     /* H: query heads                          */
	int n_kv_head;  /* Hkv: key/value heads (GQA when < H)     */
	int d_head;     /* dh = D / H                              */
	int vocab_size; /* V                                       */
	int n_ctx;      /* longest sequence the model accepts      */
	float norm_eps;
	float rope_theta;
	enum model_rope rope;
	bool causal;
	bool shared_classifier; /* classifier tied to the embedding */
	bool has_lm_head;       /* logits exist (false for BERT encoders) */
	int n_pos;              /* learned position rows (GPT-2, BERT), else 0 */
	char name[64];          /* e.g. "Qwen2ForCausalLM", "llama", "gpt2" */
};

struct model;

/*
 * Constructor: open a model file. For llama2.c checkpoints the header is
 * validated (positive dims, D divisible by H, H by Hkv, absurd sizes
 * refused) and the file size checked against it before any weight is read.
 * Returns NULL with the code in *err and the message set.
 */
struct model *model_open(const char *path, int *err);

/* Destructor; accepts NULL. */
void model_close(struct model *m);

/* Configuration; valid until model_close(). */
const struct model_config *model_config(const struct model *m);

/* Architecture and format names ("llama", "llama2c"). */
const char *model_arch_name(enum model_arch a);
const char *model_format_name(enum model_format f);

/* Number of weights (float32 values) the model holds. */
size_t model_n_params(const struct model *m);

/* What the loader did with the file's tensor types, one line, e.g.
 * "F32 x12, Q8_0 x24 (dequantized to float32 at load)". Valid until
 * model_close(). */
const char *model_tensor_summary(const struct model *m);

/* Where the model's own tokenizer lives: the GGUF file itself, the HF
 * directory, or NULL for llama2.c checkpoints (tokenizer.bin beside). */
const char *model_tokenizer_source(const struct model *m);

/* Lower-case hex SHA-256 of the model file (65 bytes with NUL); for a
 * directory, of its config.json and weight files in name order. */
void model_sha256(const struct model *m, char out[65]);

/*
 * Run the forward pass over `n_tok` ids (1 <= n_tok <= n_ctx, every id in
 * [0, V)). Hook points the sink wants are emitted in order, layer by layer
 * (see capture.h); sink may be NULL. If `logits` is not NULL it receives
 * [n_tok, V] float32 logits (models without a language-model head leave
 * it untouched: check cfg.has_lm_head). Returns 0, ERR_RANGE for bad ids or lengths,
 * ERR_NOMEM, or the sink's non-zero emit return.
 * Not thread-safe on one model (it reuses a workspace); uses OpenMP inside.
 */
int model_forward(struct model *m, const int32_t *tokens, int n_tok,
                  struct cap_sink *sink, float *logits);

/*
 * The logit lens: put residual-stream rows x [n_tok, D] through the final
 * norm and the classifier into logits [n_tok, V], exactly as the last
 * layer's output is. ERR_UNSUPPORTED for models without an LM head.
 */
int model_unembed(struct model *m, const float *x, int n_tok, float *logits);

/*
 * Write a llama2.c checkpoint from float32 parts (used by the demo and by
 * tests to build small models). `w` holds every tensor in the file order
 * above without the header and without the freq_cis tables, which are
 * written as zeros: n = model_llama2c_n_weights(cfg) floats.
 */
size_t model_llama2c_n_weights(const struct model_config *cfg);
int model_llama2c_write(const char *path, const struct model_config *cfg,
                        const float *w);

#endif

/*
 * model.h — load a transformer and run its forward pass with capture hooks.
 *
 * Files: llama2.c checkpoints (.bin), GGUF (.gguf: architectures "llama",
 * "qwen2", "gpt2", "bert"; F32/F16/BF16 and quantized tensors dequantized
 * to float32 at load), and Hugging Face directories (config.json with
 * model.safetensors or a sharded model.safetensors.index.json; Llama,
 * Qwen2, Mistral, GPT-2, BERT, and the encoder–decoders BART and T5).
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
 *
 * Encoder–decoder models (cfg.encdec: BART, T5) take a (source, target)
 * pair instead of one sequence: model_forward_encdec() runs the encoder
 * over the source and the decoder over the target, teacher-forced;
 * model_generate_encdec() decodes greedily. model_forward() refuses them.
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
 *          GELU (erf), biases, bidirectional; no language-model head
 *   BART   encoder–decoder, post-LayerNorm, learned positions (offset 2),
 *          layernorm_embedding, GELU (config's activation_function),
 *          biases everywhere, tied LM head + final_logits_bias
 *   T5     encoder–decoder, pre-RMSNorm without bias, relative position
 *          buckets (block 0's bias shared by every block), unscaled
 *          scores, ReLU (v1.0) or gated-GELU (v1.1) feed-forward, final
 *          norm per stack, tied LM head on d_model^-0.5-scaled outputs or
 *          a separate lm_head */
enum model_arch {
	MODEL_ARCH_LLAMA,
	MODEL_ARCH_GPT2,
	MODEL_ARCH_BERT,
	MODEL_ARCH_BART,
	MODEL_ARCH_T5,
	MODEL_ARCH_COUNT
};

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
	int d_head;     /* dh = D / H (T5: d_kv, H·dh may differ from D) */
	int vocab_size; /* V                                       */
	int n_ctx;      /* longest sequence the model accepts (encoder–
	                 * decoder: each of source and target; T5 has no
	                 * limit of its own and reports 2^20)       */
	float norm_eps;
	float rope_theta;
	enum model_rope rope;
	bool causal;            /* encoder–decoder: of the decoder's self-attention */
	bool shared_classifier; /* classifier tied to the embedding */
	bool has_lm_head;       /* logits exist (false for BERT encoders) */
	int n_pos;              /* learned position rows (GPT-2, BERT; BART: usable
	                         * positions, the tables hold n_pos + 2), else 0 */
	char name[64];          /* e.g. "Qwen2ForCausalLM", "llama", "gpt2" */

	/* Encoder–decoder models (BART, T5). n_layer, n_head, d_ff describe
	 * the encoder; the decoder has the same heads and widths. */
	bool encdec;            /* use model_forward_encdec(), not model_forward() */
	int n_dec_layer;        /* decoder blocks; 0 for the other families */
	int decoder_start;      /* id the decoder input starts with (BART: </s> 2,
	                         * T5: <pad> 0); -1 for the other families */
	int eos_id;             /* eos_token_id of config.json (encoder–decoder);
	                         * -1 if none and for the other families */
	int n_rel_bucket;       /* T5 relative_attention_num_buckets, else 0 */
	int rel_max_distance;   /* T5 relative_attention_max_distance, else 0 */
	bool gated_ffn;         /* T5 v1.1 gated-GELU feed-forward */
	char act[24];           /* feed-forward activation ("gelu", "relu", ...) */
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
 * Run an encoder–decoder (cfg.encdec) over a pair: the encoder over the
 * source ids src[0..n_src), then the decoder, teacher-forced, over the
 * target ids tgt[0..n_tgt) — the decoder input, which starts with
 * cfg.decoder_start (HF: labels shifted right). Both lengths must be in
 * 1 .. cfg.n_ctx and every id in [0, V). If `logits` is not NULL it
 * receives [n_tgt, V] float32 logits: row t scores the token after
 * tgt[0..t] (BART: + final_logits_bias; T5 tied: of the decoder output
 * scaled by d_model^-0.5).
 *
 * Hook points emitted (when the sink wants them), in this order:
 *   per encoder layer l:  CAP_ENC_ATTN_PATTERN [H, S, S] (bidirectional),
 *                         CAP_ENC_RESID_POST [S, D] (the block's output;
 *                         BART: after its final LayerNorm; T5: the
 *                         residual stream, before the stack's final norm)
 *   CAP_ENC_OUT [S, D]    what every cross-attention reads (BART: the last
 *                         block's output; T5: after encoder.final_layer_norm)
 *   CAP_EMBED [T, D]      the decoder's embedding output, the stream its
 *                         first block reads (BART: after layernorm_embedding)
 *   per decoder layer l:  CAP_DEC_ATTN_PATTERN [H, T, T] (causal: exact
 *                         zeros above the diagonal, cap_tensor.causal set),
 *                         CAP_DEC_CROSS_PATTERN [H, T, S] (no mask),
 *                         CAP_DEC_RESID_POST [T, D]
 *   CAP_LN_FINAL [T, D]   what the LM head reads (T5: after
 *                         decoder.final_layer_norm, before the rescale;
 *                         BART: the last block's output)
 *   CAP_LOGITS [T, V]     when `logits` is not NULL
 * S = n_src, T = n_tgt. Returns 0, ERR_UNSUPPORTED for a model that is
 * not an encoder–decoder, ERR_RANGE for bad ids or lengths, ERR_NOMEM, or
 * the sink's non-zero emit return. Not thread-safe on one model.
 */
int model_forward_encdec(struct model *m, const int32_t *src, int n_src,
                         const int32_t *tgt, int n_tgt, struct cap_sink *sink,
                         float *logits);

/*
 * Greedy decoding with an encoder–decoder: encode src[0..n_src) once,
 * then from [cfg.decoder_start] append, step by step, the argmax of the
 * last logit row (the lowest id among equal maxima), for at most
 * `max_new` steps (1 .. cfg.n_ctx), stopping after the step that yields
 * `eos` (eos < 0: never stop early). No logits processors (no forced
 * BOS/EOS, no repetition penalty). Each step re-runs the decoder over the
 * whole prefix (no cache): O(max_new²) decoder rows.
 *
 * out_ids (room for max_new ids) receives the generated ids g[0..n) and
 * *n_out = n; the decoder start is not included, an eos that stopped the
 * run is.
 *
 * Capture: the encoder's hook points are emitted once, as by
 * model_forward_encdec(). Then the decoder's hook points (CAP_EMBED,
 * CAP_DEC_*, CAP_LN_FINAL, CAP_LOGITS [n, V]) are emitted once, after the
 * last step, for the teacher-forced pass over the decoder input of that
 * step, [decoder_start, g[0], ..., g[n-2]] (T = n). Because the decoder is
 * causal, row t of every decoder map and of the logits is what step t
 * computed: step t's self-attention row (t + 1 keys), its cross-attention
 * row (S keys) and the logits g[t] was taken from (equal to float32
 * rounding; the tests hold them to 1e-5).
 *
 * Returns 0 or the errors of model_forward_encdec(); on error *n_out
 * holds the ids generated so far.
 */
int model_generate_encdec(struct model *m, const int32_t *src, int n_src, int max_new,
                          int eos, struct cap_sink *sink, int32_t *out_ids, int *n_out);

/*
 * T5's relative-position bucket (HF _relative_position_bucket): `rel` =
 * key position - query position. Bidirectional (encoder): half the
 * buckets for keys at or before the query, half (offset n_bucket / 2) for
 * keys after it; unidirectional (decoder): only query - key >= 0 counts,
 * later keys fall in bucket 0. Within a half, distances below half of it
 * are exact, larger ones logarithmic up to max_distance, evaluated in
 * float32 as PyTorch does. Needs n_bucket >= 4 and max_distance >
 * n_bucket / 2 (the loader checks the config); returns the bucket in
 * [0, n_bucket).
 */
int model_rel_bucket(int rel, bool bidirectional, int n_bucket, int max_distance);

/*
 * The relative position bias a T5 stack adds to the attention scores of
 * every one of its layers: out [H, n_q, n_k] = relative_attention_bias of
 * the stack's block 0 at bucket(k - q), per head (the decoder's causal
 * mask not included). `decoder` picks the stack. Returns 0, or
 * ERR_UNSUPPORTED for models without relative positions, ERR_RANGE for
 * lengths < 1.
 */
int model_position_bias(const struct model *m, bool decoder, int n_q, int n_k,
                        float *out);

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

/*
 * capture.h — the hook interface between a forward pass and whoever records.
 *
 * Ask, then observe (ggml's eval callback, TransformerLens' hook points):
 * before computing or copying a hook point's tensor, the forward pass calls
 * sink->ops->want(); only if it answers true does it build the tensor and
 * call sink->ops->emit() with a borrowed pointer. An uncaptured point costs
 * one branch. A non-zero return from emit stops the forward pass, which
 * returns that code.
 *
 * Hook names follow TransformerLens: "blocks.{L}.attn.hook_pattern",
 * "blocks.{L}.hook_resid_pre", "ln_final.hook_normalized", ...
 * cap_filter matches such names against a comma-separated glob list.
 */
#ifndef ATTNSCOPE_CAPTURE_H
#define ATTNSCOPE_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>

/* Hook points. Shapes use T = tokens, H = query heads, Hkv = key/value
 * heads, dh = head width, D = model width, F = MLP width, V = vocabulary. */
enum cap_point {
	CAP_EMBED,        /* hook_embed                   [T, D]                    */
	CAP_RESID_PRE,    /* blocks.L.hook_resid_pre      [T, D]                    */
	CAP_ATTN_IN,      /* blocks.L.ln1.hook_normalized [T, D]                    */
	CAP_Q,            /* blocks.L.attn.hook_q         [T, H, dh] (after RoPE)   */
	CAP_K,            /* blocks.L.attn.hook_k         [T, Hkv, dh] (after RoPE) */
	CAP_V,            /* blocks.L.attn.hook_v         [T, Hkv, dh]              */
	CAP_ATTN_SCORES,  /* blocks.L.attn.hook_attn_scores [H, T, T] scaled, pre-
	                   * softmax; -inf above the diagonal of a causal map      */
	CAP_ATTN_PATTERN, /* blocks.L.attn.hook_pattern   [H, T, T] post-softmax;
	                   * exact zeros above the diagonal of a causal map        */
	CAP_Z,            /* blocks.L.attn.hook_z         [T, H, dh]                */
	CAP_ATTN_OUT,     /* blocks.L.hook_attn_out       [T, D]                    */
	CAP_RESID_MID,    /* blocks.L.hook_resid_mid      [T, D]                    */
	CAP_MLP_IN,       /* blocks.L.ln2.hook_normalized [T, D]                    */
	CAP_MLP_POST,     /* blocks.L.mlp.hook_post       [T, F] (after activation/gate) */
	CAP_MLP_OUT,      /* blocks.L.hook_mlp_out        [T, D]                    */
	CAP_RESID_POST,   /* blocks.L.hook_resid_post     [T, D]                    */
	CAP_LN_FINAL,     /* ln_final.hook_normalized     [T, D]                    */
	CAP_LOGITS,       /* logits                       [T, V]                    */
	CAP_ATTN_NORM,    /* blocks.L.attn.hook_norm_pattern [H, T, T] norm-based
	                   * attention (Kobayashi et al. 2020): A_ij·‖v_j W_O^h‖,
	                   * the length of what key j adds to query i's output
	                   * through head h (biases left out)                      */
	/* Encoder–decoder models (BART, T5): S = source tokens, T = target
	 * tokens. Names follow TransformerLens' encoder–decoder models. */
	CAP_ENC_ATTN_PATTERN,  /* encoder.L.attn.hook_pattern        [H, S, S] full   */
	CAP_ENC_RESID_POST,    /* encoder.L.hook_resid_post          [S, D]           */
	CAP_ENC_OUT,           /* encoder.ln_final.hook_normalized   [S, D] (what the
	                        * decoder's cross-attention reads)                   */
	CAP_DEC_ATTN_PATTERN,  /* decoder.L.attn.hook_pattern        [H, T, T] causal */
	CAP_DEC_CROSS_PATTERN, /* decoder.L.cross_attn.hook_pattern  [H, T, S] full   */
	CAP_DEC_RESID_POST,    /* decoder.L.hook_resid_post          [T, D]           */
	CAP_POINT_COUNT
};

/* A tensor handed to emit(). `data` is borrowed: valid only during the call.
 * Row-major with shape[0..ndim-1]. */
struct cap_tensor {
	enum cap_point point;
	int layer;          /* block index, -1 for points outside blocks */
	int ndim;
	int shape[4];
	const float *data;
	bool causal;        /* attention maps: zero/-inf above the diagonal */
};

struct cap_sink;

struct cap_sink_ops {
	/* Is this point wanted? Called before anything is copied. */
	bool (*want)(struct cap_sink *sink, enum cap_point point, int layer);
	/* Observe a wanted tensor. Return 0 to go on, non-zero to stop. */
	int (*emit)(struct cap_sink *sink, const struct cap_tensor *t);
	/* Optional (may be NULL): intervene. Called for CAP_Z after emit with
	 * the per-head outputs z [T, H, dh] as a writable tensor, before they
	 * go through W_O; the sink may change them in place (ablation:
	 * zero or replace one head's slice). Return as emit does. */
	int (*edit)(struct cap_sink *sink, enum cap_point point, int layer, float *data,
	            const int shape[4]);
};

/* Embedded in the implementation; recover it with container_of. */
struct cap_sink {
	const struct cap_sink_ops *ops;
};

#define cap_container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

/* Helpers for forward passes: NULL sinks want nothing. */
static inline bool
cap_want(struct cap_sink *s, enum cap_point p, int layer)
{
	return s && s->ops->want(s, p, layer);
}

/* Name of a point without its block prefix ("attn.hook_pattern"). */
const char *cap_point_name(enum cap_point p);

/* Full hook name into buf ("blocks.3.attn.hook_pattern"); returns buf. */
char *cap_hook_name(char *buf, size_t size, enum cap_point p, int layer);

/* Parse a full hook name; returns 0 and fills *p, *layer, or ERR_ARG. */
int cap_parse_hook_name(const char *name, enum cap_point *p, int *layer);

/* A capture filter: comma-separated shell globs over full hook names
 * (fnmatch), e.g. "blocks.*.attn.hook_pattern,blocks.0.hook_resid_post".
 * The special word "none" selects nothing. */
struct cap_filter;

/* Constructor; returns NULL and sets the error message on a bad list. */
struct cap_filter *cap_filter_create(const char *globs);
/* Destructor; accepts NULL. */
void cap_filter_free(struct cap_filter *f);
/* Does the filter select this point of this layer? */
bool cap_filter_match(const struct cap_filter *f, enum cap_point p, int layer);

#endif

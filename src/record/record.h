/*
 * record.h — datasets and the recorder: read samples, tokenize them, run
 * the model with a capture sink that writes into the store, one
 * transaction per sample, resumable.
 *
 * Dataset formats (chosen by file extension):
 *   .txt            one sample per line (blank lines are skipped)
 *   .jsonl / .json  one JSON object per line; the text is in field `field`
 *                   (default "text"), or the line carries "tokens": [ids]
 *                   recorded exactly as given (no BOS added); or a pair:
 *                   "source"/"source_tokens" with "target"/"target_tokens"
 */
#ifndef ATTNSCOPE_RECORD_H
#define ATTNSCOPE_RECORD_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../db/store.h"

struct tokenizer;
struct model;

/* ---- datasets ------------------------------------------------------- */

struct ds_reader;

struct ds_sample {
	const char *text;       /* NUL-terminated; NULL when given as tokens */
	size_t len;
	const int32_t *tokens;  /* when the sample is a list of ids          */
	int n_tokens;
	long line;              /* 1-based line in the file                  */
	/* (source, target) pairs for encoder–decoder models: JSONL "source"
	 * or "source_tokens", and "target" or "target_tokens" (the decoder
	 * input as given, starting with the decoder start token), which then
	 * fill text/tokens above; the target may be absent (generation) */
	bool pair;
	const char *source;
	size_t source_len;
	const int32_t *source_tokens;
	int n_source_tokens;
};

/* Constructor: open a dataset file (format from the extension) or, when
 * `path` is NULL, a one-sample dataset holding `text`. NULL on error. */
struct ds_reader *ds_open(const char *path, const char *text, const char *field,
                          int *err);

/* Next sample: returns 1 and fills *s (valid until the next call), 0 at
 * the end, or a negative code with a message naming the file and line. */
int ds_next(struct ds_reader *r, struct ds_sample *s);

/* Back to the first sample. */
int ds_rewind(struct ds_reader *r);

/* Destructor; accepts NULL. */
void ds_close(struct ds_reader *r);

/* ---- tokenizer lookup --------------------------------------------------- */

/* Open the tokenizer for a model: `path` if given (any kind tok_open_path
 * reads), else the model's own (the GGUF file, the HF directory), else for
 * llama2.c checkpoints "tokenizer.bin" next to the model file, else the one
 * "tok*.bin" there (llama2.c's trained tokenizers, e.g. tok512.bin).
 * A tokenizer with more tokens than the model has rows is refused.
 * NULL with the message set. */
struct tokenizer *rec_open_tokenizer(const struct model *m, const char *model_path,
                                     const char *path, int *err);

/* Tokenize an encoder–decoder sample: the source with the tokenizer's
 * special tokens; the decoder input `tgt` = [decoder start] + labels[:-1]
 * where labels = the target tokenized with its special tokens (HF's
 * shift-right), or target_tokens as given; `labels` [n_tgt] gets the next
 * token of every decoder position (-1 when unknown). Without a target
 * (generation) *n_tgt = 0. All three arrays are malloc'd. */
int rec_tokenize_pair(const struct tokenizer *t, const struct ds_sample *s, long index,
                      int vocab_size, int n_ctx, int decoder_start, int max_tokens,
                      int32_t **src, int *n_src, int32_t **tgt, int32_t **labels,
                      int *n_tgt);

/* Tokenize one sample as `record` does: text with the special tokens the
 * tokenizer adds (BOS, [CLS] ... [SEP]) and special-token text parsed, or
 * the ids as given (checked against the vocabulary). Cuts to max_tokens (> 0)
 * and refuses anything longer than n_ctx with a message naming sample
 * `index`. *ids is malloc'd. */
int rec_tokenize(const struct tokenizer *t, const struct ds_sample *s, long index,
                 int vocab_size, int n_ctx, int max_tokens, int32_t **ids,
                 int *n_ids);

/* ---- recording ------------------------------------------------------- */

enum rec_bos { REC_BOS_DEFAULT, REC_BOS_YES, REC_BOS_NO };

struct rec_options {
	const char *model_path;
	const char *tokenizer_path; /* NULL: next to the model            */
	const char *db_path;
	const char *data_path;      /* NULL when text is given            */
	const char *text;
	const char *field;          /* JSONL text field, default "text"   */
	long limit;                 /* at most this many samples, 0 = all */
	int max_tokens;             /* cut samples to this, 0 = never     */
	const char *capture;        /* globs; NULL = every attention map  */
	enum store_enc enc;
	enum rec_bos bos;           /* --bos: default is the tokenizer's policy */
	int generate;               /* > 0: decode this many tokens greedily
	                             * and record every step's attention    */
	bool resume;
	/* progress: called after each committed sample (may be NULL) */
	void (*progress)(void *ctx, long done, long total, long tokens);
	void *progress_ctx;
	/* set to non-zero (e.g. from a signal handler) to stop between samples */
	volatile sig_atomic_t *stop;
};

struct rec_result {
	int64_t run_id;
	long n_samples;       /* samples committed by this call */
	long n_skipped;       /* already in the run (resume)    */
	long n_tokens;
	double seconds;       /* the whole call                          */
	double setup_seconds; /* before the first sample: loading, checks */
	bool interrupted;
};

/* Default encoding of stored maps. */
#define REC_DEFAULT_ENC STORE_ENC_F16Z

/* Default capture: every attention pattern (with encoder, decoder and
 * cross-attention maps of encoder–decoder models). */
#define REC_DEFAULT_CAPTURE "*attn.hook_pattern"

/*
 * Record a dataset. Validates everything (model, tokenizer, every sample)
 * before the run is created, so bad input leaves no run behind. Then one
 * transaction per sample: the sample, its tokens with per-token outputs,
 * the captured maps and activations, and per-head statistics for every
 * head. On a failure mid-run the open sample is rolled back and the run is
 * marked "failed" (resumable). Returns 0 or a negative code.
 */
int rec_run(const struct rec_options *o, struct rec_result *res);

/* Per-token outputs of one row of logits [V] for the prediction at this
 * position: log-prob of `next` (NaN if next < 0), entropy (nats), top-k. */
void rec_token_outputs(const float *logits, int V, int next, struct store_token *out);

#endif

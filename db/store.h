/*
 * store.h — the recording database (SQLite): open/migrate, write runs,
 * samples, tokens, attention maps, activations and per-head statistics,
 * and read them back. No SQL crosses this header. db/schema.sql is the one
 * source of truth for the tables and documents every column.
 *
 * Errors: functions return 0 or a negative enum err code (util.h) with the
 * message set through err_set(), naming the operation and sqlite3_errmsg().
 * The database is untrusted input: every blob's size is checked against its
 * shape before it is decoded.
 *
 * Threads: one struct store per thread (one SQLite connection each).
 */
#ifndef ATTNSCOPE_STORE_H
#define ATTNSCOPE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Schema version written to PRAGMA user_version. Version 2 added the
 * analysis tables (head_summary, head_roles, head_similarity, head_layout,
 * head_ablation, logit_lens); a version-1 file opened for writing is
 * upgraded in place, one transaction per version. */
#define STORE_SCHEMA_VERSION 3

struct store;

enum store_open_flags {
	STORE_READONLY = 1 << 0, /* viewer, export, ls: never writes          */
	STORE_CREATE = 1 << 1,   /* create the file and schema if missing      */
};

/*
 * Constructor. Opens (and with STORE_CREATE creates and migrates) the
 * database at `path`. A database whose user_version is newer than
 * STORE_SCHEMA_VERSION is refused with ERR_VERSION ("database version N is
 * newer than this attnscope (M): upgrade attnscope"); a file that is not a
 * SQLite database or lacks our tables gives ERR_FORMAT. Returns NULL on
 * error and stores the code in *err (if err is not NULL).
 * Writers use WAL, synchronous=NORMAL, 64 KiB pages, foreign keys on.
 * A missing file is ERR_IO ("cannot open database 'x': no such file") unless
 * STORE_CREATE is given; readers never create it. STORE_READONLY together
 * with STORE_CREATE is ERR_ARG. An empty file (or ":memory:") needs
 * STORE_CREATE; a SQLite file with other tables and no user_version is
 * ERR_FORMAT and is left untouched.
 */
struct store *store_open(const char *path, int flags, int *err);

/* Destructor: finalizes statements, rolls back an open transaction,
 * checkpoints a writer's WAL (PRAGMA wal_checkpoint(TRUNCATE), best effort:
 * waits at most ~0.2 s for readers), closes. Accepts NULL; never fails. */
void store_close(struct store *s);

/* Transactions: one per sample. begin is BEGIN IMMEDIATE (writers only:
 * ERR_ARG on a read-only store; ERR_DB if one is already open). rollback
 * accepts being called when no transaction is open and does not touch the
 * error message, so it is safe on an error path. */
int store_begin(struct store *s);
int store_commit(struct store *s);
void store_rollback(struct store *s);

/* ---- models and runs ------------------------------------------------ */

struct store_model_info {
	const char *name;        /* file name without directory                */
	const char *path;        /* as given by the user                       */
	const char *arch;        /* "llama", "gpt2", "bert", ...               */
	const char *sha256;      /* hex digest of the model file               */
	const char *tokenizer;   /* tokenizer path or kind                     */
	const char *bos_policy;  /* "bos" (prepend BOS), "none", ...           */
	const char *dtype;       /* weights as loaded: "f32"                   */
	int n_layer, n_head, n_kv_head, d_model, d_head, d_ff, vocab_size, n_ctx;
};

/* Insert the model, or find the identical row (same sha256 and path);
 * *model_id gets its id. name, path, arch and sha256 are required (ERR_ARG);
 * tokenizer, bos_policy and dtype may be NULL and read back as NULL. */
int store_put_model(struct store *s, const struct store_model_info *m,
                    int64_t *model_id);

struct store_run_info {
	int64_t id;
	int64_t model_id;
	const char *dataset;     /* data path, or "--text" for a --text sample */
	const char *options;     /* JSON object of the recording options       */
	const char *status;      /* "running", "done", "failed"                */
	double started, finished; /* unix seconds; finished 0 while running    */
	int64_t n_samples;       /* committed samples                          */
	int64_t n_total;         /* samples the run is meant to hold, -1 if unknown */
};

/* Create a run with status "running"; *run_id gets its id. Commits itself
 * unless a transaction is open. info->id, n_samples, finished and status
 * are ignored; started <= 0 means now; options NULL is stored as "{}". */
int store_begin_run(struct store *s, const struct store_run_info *info,
                    int64_t *run_id);

/* Set a run's status ("done", "failed") and finished time (now).
 * ERR_NOTFOUND if there is no such run. */
int store_finish_run(struct store *s, int64_t run_id, const char *status);

/* The newest run (highest id); ERR_NOTFOUND if the database has none. */
int store_latest_run(struct store *s, int64_t *run_id);

/* Read one run. String fields point into storage owned by `s`, valid until
 * the next call on `s`. ERR_NOTFOUND if absent. */
int store_get_run(struct store *s, int64_t run_id, struct store_run_info *out);

/* The newest run whose model_id, dataset and options equal the given ones
 * and whose status is not "done"; ERR_NOTFOUND if there is none. Used by
 * `record --resume`. options NULL matches runs begun with options NULL. */
int store_find_resumable(struct store *s, int64_t model_id, const char *dataset,
                         const char *options, int64_t *run_id);

/* Read a model row (strings valid until the next call on `s`). */
int store_get_model(struct store *s, int64_t model_id, struct store_model_info *out);

/* Iterate runs in id order: call fn for each; a non-zero return stops and
 * is returned. `r` is valid only during the call. fn may call the other
 * store functions (including store_get_run) but not store_each_run itself
 * (ERR_ARG); the same holds for store_each_sample. */
int store_each_run(struct store *s,
                   int (*fn)(void *ctx, const struct store_run_info *r), void *ctx);

/* ---- samples and tokens --------------------------------------------- */

struct store_sample_info {
	int64_t id;
	int64_t run_id;
	int64_t index;           /* 0-based position within the run            */
	const char *text;        /* sample text (NULL if given as token ids)   */
	int n_tok;
	double loss;             /* mean next-token NLL in nats; NaN if none   */
};

/* Insert a sample; *sample_id gets its id. text may be NULL; a NaN loss is
 * stored as NULL and reads back as NaN. A second sample with the same
 * (run_id, index) is ERR_DB. */
int store_put_sample(struct store *s, const struct store_sample_info *info,
                     int64_t *sample_id);

/* Set a sample's loss (mean next-token NLL, nats) once it is known. */
int store_set_sample_loss(struct store *s, int64_t sample_id, double loss);

/* Find sample `index` of a run; strings valid until the next call on s. */
int store_get_sample(struct store *s, int64_t run_id, int64_t index,
                     struct store_sample_info *out);

/* Highest committed sample index of a run, or -1 when it has none. */
int store_max_sample_index(struct store *s, int64_t run_id, int64_t *index);

/* Iterate a run's samples in index order (see store_each_run). */
int store_each_sample(struct store *s, int64_t run_id,
                      int (*fn)(void *ctx, const struct store_sample_info *x),
                      void *ctx);

/* One token of a sample. Per-token outputs come from the prediction made
 * AT this position (for the next token): logprob of the actual next token
 * (NaN for the last position), entropy of the distribution in nats, and
 * the top-k ids with their log-probabilities (k <= STORE_TOPK). */
#define STORE_TOPK 5
struct store_token {
	int32_t id;
	const char *piece;       /* the token's text as the tokenizer spells it */
	float next_logprob;
	float entropy;
	int k;
	int32_t topk_id[STORE_TOPK];
	float topk_logprob[STORE_TOPK];
};

/* Store tok[0..n) at positions 0..n-1 (a NULL piece is stored as "").
 * NaN next_logprob/entropy are stored as NULL and read back as NaN. k must
 * be 0..STORE_TOPK (ERR_ARG). All or nothing: outside a transaction it
 * opens and commits its own. */
int store_put_tokens(struct store *s, int64_t sample_id,
                     const struct store_token *tok, int n);

/* Read all tokens of a sample into a malloc'd array (*out, *n). Pieces
 * live in the same allocation: one free(*out) releases everything. A sample
 * without tokens gives 0 with *out = NULL, *n = 0. */
int store_get_tokens(struct store *s, int64_t sample_id,
                     struct store_token **out, int *n);

/* ---- the source side of encoder–decoder samples (BART, T5) ------------ */

/* Store a sample's source text (may be NULL) and the encoder's input
 * tokens [n] (only id and piece are used); the sample's own tokens are the
 * decoder input. */
int store_put_source(struct store *s, int64_t sample_id, const char *text,
                     const struct store_token *tok, int n);

/* Read them back like store_get_tokens (outputs NaN, k = 0); *n = 0 for
 * samples of other models. */
int store_get_source(struct store *s, int64_t sample_id, struct store_token **out, int *n);

/* ---- attention maps ------------------------------------------------- */

enum store_enc {
	STORE_ENC_F32,  /* little-endian float32                              */
	STORE_ENC_F16,  /* IEEE half, little-endian                           */
	STORE_ENC_F16Z, /* IEEE half, then zstd (level 3)                     */
	STORE_ENC_COUNT
};

/* Parse "f32" | "f16" | "f16z"; ERR_ARG otherwise. */
int store_enc_parse(const char *name, enum store_enc *enc);
const char *store_enc_name(enum store_enc enc);

/*
 * Store one head's map `map` [n_q, n_k] (row = query, column = key).
 * causal: the map is zero above the diagonal (n_q == n_k) and only the lower
 * triangle, row by row, n_q*(n_q+1)/2 values, is stored ("tri" layout);
 * otherwise the full square ("full").
 * kind: "self" (decoder or encoder self-attention), "cross", ...
 * n_q, n_k are 1..2^20 and n_q*n_k at most 2^28 values (ERR_ARG/ERR_RANGE);
 * storing the same (sample, kind, layer, head) twice is ERR_DB.
 */
int store_put_attn(struct store *s, int64_t sample_id, int layer, int head,
                   const char *kind, int n_q, int n_k, bool causal,
                   enum store_enc enc, const float *map);

/* Read one head's map as float32 [n_q, n_k], full square with zeros above
 * the diagonal for tri layouts, into a malloc'd *map (free with free()).
 * ERR_NOTFOUND if absent; ERR_FORMAT if the blob disagrees with its shape
 * or encoding. */
int store_get_attn(struct store *s, int64_t sample_id, int layer, int head,
                   const char *kind, float **map, int *n_q, int *n_k);

/* Bounds no real model reaches; rows claiming more are refused by
 * store_attn_dims (the database is untrusted input). */
#define STORE_MAX_LAYERS 4096
#define STORE_MAX_HEADS 4096

/* Which (layer, head) exist for a sample: counts of distinct layers and
 * heads per layer (max head + 1). Zeros when the sample has no maps.
 * (n_layer counts distinct layer numbers, so it equals max layer + 1 only
 * when every layer up to the last was stored.) */
int store_attn_dims(struct store *s, int64_t sample_id, const char *kind,
                    int *n_layer, int *n_head);

/* Pure blob codecs (no database), also used by the fuzz target.
 * encode: map [n_q, n_k] -> malloc'd blob. decode: checks the blob size
 * against (enc, layout, n_q, n_k) before touching it; fills `map` [n_q, n_k]
 * (caller-allocated). tri needs n_q == n_k. Dimensions must be 1..2^20
 * (encode: ERR_ARG; decode: ERR_FORMAT). Decode never reads past `size`
 * nor writes past n_q*n_k floats; f16z must be one zstd frame announcing
 * exactly the raw size. */
int store_blob_encode(enum store_enc enc, bool tri, int n_q, int n_k,
                      const float *map, void **blob, size_t *size);
int store_blob_decode(enum store_enc enc, bool tri, int n_q, int n_k,
                      const void *blob, size_t size, float *map);

/* ---- activations ---------------------------------------------------- */

/* Store a captured tensor under its hook name (e.g.
 * "blocks.0.hook_resid_post"), with up to 4 dimensions. Full layout. */
int store_put_act(struct store *s, int64_t sample_id, const char *hook,
                  int ndim, const int *shape, enum store_enc enc,
                  const float *data);

/* Read it back as float32 into malloc'd *data; shape[] gets up to 4
 * dimensions, *ndim their count (unused entries 0). ERR_NOTFOUND if
 * absent. Tensors are limited to 2^28 values. */
int store_get_act(struct store *s, int64_t sample_id, const char *hook,
                  float **data, int *ndim, int shape[4]);

/* ---- per-head statistics -------------------------------------------- */

/* One value per (sample, layer, head, metric); see schema.sql. NaN is
 * stored as NULL and reads back as NaN; a duplicate is ERR_DB. */
int store_put_head_stat(struct store *s, int64_t sample_id, int layer,
                        int head, const char *metric, double value);

/* Read one value; ERR_NOTFOUND if absent. */
int store_get_head_stat(struct store *s, int64_t sample_id, int layer,
                        int head, const char *metric, double *value);

/* ==== analysis results (schema version 2) ============================= */

/* Write one per-sample value into head_stats, replacing the row if it
 * exists (`attnscope analyze` re-runs). NaN is stored as NULL. */
int store_set_head_stat(struct store *s, int64_t sample_id, int layer,
                        int head, const char *metric, double value);

/* One head_stats row, with the sample's index in its run. */
struct store_head_stat {
	int64_t sample_id;
	int64_t sample_index;
	int layer, head;
	const char *metric;      /* valid during the callback only            */
	double value;            /* NaN for NULL                              */
};

/* Iterate the head_stats rows of a run's samples in (sample index, layer,
 * head, metric) order; only `metric` when it is not NULL. fn's non-zero
 * return stops and is returned. fn may call other store functions but not
 * store_each_head_stat itself (ERR_ARG). */
int store_each_head_stat(struct store *s, int64_t run_id, const char *metric,
                         int (*fn)(void *ctx, const struct store_head_stat *x),
                         void *ctx);

/* A run-level summary of one metric of one head (head -1: the layer). */
struct store_summary {
	int layer, head;
	const char *metric;
	int64_t n;               /* samples with a defined value              */
	double mean, std, p50, p90; /* NaN when n = 0                         */
};

/* Insert or replace a summary row of run `run_id`. */
int store_put_summary(struct store *s, int64_t run_id, const struct store_summary *x);

/* Read one summary (metric string valid until the next call on s);
 * ERR_NOTFOUND if absent. */
int store_get_summary(struct store *s, int64_t run_id, int layer, int head,
                      const char *metric, struct store_summary *out);

/* A role of a head (see schema.sql, head_roles). */
struct store_role {
	int layer, head;
	const char *role;        /* "previous-token", "induction", ...        */
	const char *metric;      /* the metric that decided it                */
	double value, threshold;
};

/* Remove every role of a run (before writing the new ones). */
int store_clear_roles(struct store *s, int64_t run_id);

/* Add a role; a duplicate (run, layer, head, role) is ERR_DB. */
int store_put_role(struct store *s, int64_t run_id, const struct store_role *r);

/* Iterate a run's roles in (layer, head, role) order; strings valid during
 * the callback. Not re-entrant (ERR_ARG). */
int store_each_role(struct store *s, int64_t run_id,
                    int (*fn)(void *ctx, const struct store_role *r), void *ctx);

/* Remove a run's head_similarity and head_layout rows. */
int store_clear_similarity(struct store *s, int64_t run_id);

/* Store js(a, b) (both orders are the caller's business) and read it back
 * (ERR_NOTFOUND if absent). */
int store_put_similarity(struct store *s, int64_t run_id, int layer_a, int head_a,
                         int layer_b, int head_b, double js, int64_t n_samples);
int store_get_similarity(struct store *s, int64_t run_id, int layer_a, int head_a,
                         int layer_b, int head_b, double *js);

/* A head's position in the 2-D MDS map of its run. */
int store_put_layout(struct store *s, int64_t run_id, int layer, int head,
                     double x, double y);
int store_get_layout(struct store *s, int64_t run_id, int layer, int head,
                     double *x, double *y);

/* Delete every map of `kind` of a sample (0 when there were none), e.g.
 * the derived 'rollout' maps before they are written again. */
int store_delete_attn(struct store *s, int64_t sample_id, const char *kind);

/* One ablation result (see schema.sql, head_ablation); mode "zero" or
 * "mean" (ERR_ARG otherwise). Insert or replace. */
int store_put_ablation(struct store *s, int64_t run_id, int layer, int head,
                       const char *mode, double loss, double base_loss,
                       int64_t n_samples);
int store_get_ablation(struct store *s, int64_t run_id, int layer, int head,
                       const char *mode, double *loss, double *base_loss);

/* The logit lens at (sample, layer, position): k ranked ids with their
 * log-probabilities, rank 0 first. put replaces what was there; k is
 * 1..STORE_LENS_MAX_K. get fills at most max_k entries and sets *k (0 and
 * ERR_NOTFOUND when nothing is stored). */
#define STORE_LENS_MAX_K 64
int store_put_logit_lens(struct store *s, int64_t sample_id, int layer, int pos,
                         int k, const int32_t *ids, const float *logprobs);
int store_get_logit_lens(struct store *s, int64_t sample_id, int layer, int pos,
                         int max_k, int *k, int32_t *ids, float *logprobs);

/* Change a run's dataset label (probes record from temporary files and
 * name the run after the probe). ERR_NOTFOUND if there is no such run. */
int store_set_run_dataset(struct store *s, int64_t run_id, const char *dataset);

#endif

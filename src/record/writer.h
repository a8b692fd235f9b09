/*
 * writer.h — the recorder's writer thread (internal to src/record).
 *
 * The forward pass of sample i+1 runs while a second thread computes the
 * statistics of sample i's maps, encodes them (f16, zstd) and writes them
 * in one transaction. Jobs go through a ring of `depth` slots, so memory
 * stays bounded by `depth` samples' captures; a slot's buffers are reused.
 * The store belongs to the writer thread from rw_start() to rw_finish().
 */
#ifndef ATTNSCOPE_RECORD_WRITER_H
#define ATTNSCOPE_RECORD_WRITER_H

#include <stdbool.h>
#include <stdint.h>

#include "../../db/store.h"
#include "../capture/capture.h"

struct rec_writer;
struct rec_job;

/* Start the thread. NULL with the message set on failure. */
struct rec_writer *rw_start(struct store *st, enum store_enc enc, int depth, int *err);

/* A free slot to fill (blocks while all are queued). NULL if the writer
 * has failed: rw_finish() then reports why. */
struct rec_job *rw_acquire(struct rec_writer *w);

/* Describe the sample; text is copied, toks [n] are copied (their pieces
 * must stay valid until rw_finish). loss NaN when undefined. */
int rw_job_sample(struct rec_job *j, int64_t run_id, int64_t index, const char *text,
                  const struct store_token *toks, int n, double loss);

struct tokenizer;

/* The source side of an encoder–decoder sample: its text (may be NULL)
 * and ids [n] with their pieces from `tok` (valid until rw_finish). */
int rw_job_source(struct rec_job *j, const char *text, const struct tokenizer *tok,
                  const int32_t *ids, int n);

/* Copy an attention tensor [H, nq, nk] of `kind` at `layer`; `keep` stores
 * the maps, otherwise only their statistics (metric names get the prefix
 * `stat_prefix`, "" for the model's main attention). */
int rw_job_map(struct rec_job *j, const char *kind, const char *stat_prefix, bool keep,
               const struct cap_tensor *t);

/* Copy an activation stored under its hook name. */
int rw_job_act(struct rec_job *j, const char *hook, const struct cap_tensor *t);

/* Hand the filled slot to the thread. */
void rw_submit(struct rec_writer *w, struct rec_job *j);

/* Forget what a slot holds (after a failed forward pass) and free it. */
void rw_discard(struct rec_writer *w, struct rec_job *j);

/* Wait for every submitted job, stop the thread, free everything. Returns
 * 0 or the first error (message set on this thread). Accepts NULL. */
int rw_finish(struct rec_writer *w);

/* Samples committed so far (for progress). */
long rw_committed(struct rec_writer *w);

#endif

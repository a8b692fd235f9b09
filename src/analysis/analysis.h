/*
 * analysis.h — per-head statistics over plain attention arrays. Knows
 * nothing of SQLite or SDL: the recorder, the CLI and the viewer call it
 * with float arrays.
 *
 * Definitions (A = one head's map [T_q, T_k], rows i = queries, 0-based,
 * each row a probability distribution over keys; causal rows are zero
 * above the diagonal):
 *   entropy     = mean_i ( -Σ_j A_ij ln A_ij ), with 0·ln 0 = 0   (nats)
 *   distance    = mean_i Σ_j A_ij · |i − j|                       (tokens)
 *   first_token = mean_i A_i0
 *   prev_token  = Σ_{i≥1} A_{i,i−1} / Σ_ij A_ij   (TransformerLens "mul"
 *                 previous-token score, no exclusions; Σ A = T_q)
 *   self        = Σ_i A_ii / Σ_ij A_ij             (same, on the diagonal)
 *   max_weight  = mean_i max_j A_ij                (Voita's confidence)
 * NaN or infinite input makes the affected statistics NaN; nothing traps.
 */
#ifndef ATTNSCOPE_ANALYSIS_H
#define ATTNSCOPE_ANALYSIS_H

#include <stdbool.h>
#include <stddef.h>

enum ana_stat {
	ANA_ENTROPY,
	ANA_DISTANCE,
	ANA_FIRST_TOKEN,
	ANA_PREV_TOKEN,
	ANA_SELF,
	ANA_MAX_WEIGHT,
	ANA_STAT_COUNT
};

/* Metric name as stored in head_stats.metric ("entropy", "prev_token"...). */
const char *ana_stat_name(enum ana_stat s);

/* Compute every statistic of one head's map `A` [n_q, n_k] into
 * out[ANA_STAT_COUNT]. n_q, n_k >= 1. causal: the entries above the
 * diagonal are zero and are not read (they add nothing). */
void ana_head_stats(const float *A, int n_q, int n_k, bool causal,
                    double out[ANA_STAT_COUNT]);

#endif

/*
 * analysis.h — per-head statistics and run-level analyses over plain
 * attention arrays. Knows nothing of SQLite or SDL: the recorder, the CLI
 * and the viewer call it with float arrays and get numbers back.
 *
 * Sections: row-local statistics the recorder stores (stats.c); the
 * per-sample metrics of `attnscope analyze`, their run summaries and the
 * head roles (metrics.c); head similarity and its 2-D layout
 * (similarity.c); attention rollout and attention flow (flow.c).
 *
 * Row-local statistics (A = one head's map [T_q, T_k], rows i = queries,
 * 0-based, each row a probability distribution over keys; causal rows are
 * zero above the diagonal):
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
#include <stdint.h>

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

/* ========================================================================
 * Per-sample metrics of `attnscope analyze` (metrics.c)
 * ========================================================================
 *
 * One value per (sample, head). Notation: A is the head's map [n, n]
 * (self-attention, n tokens, rows i = queries, columns j = keys), t_i the
 * token ids, Σ over the whole matrix unless said otherwise. Every value is
 * computed in double precision.
 *
 * Row-local (also stored by the recorder in head_stats; analyze reads them
 * from there when they exist and computes them from the map otherwise):
 *   entropy, distance, first_token, max_weight, self   as above
 *   entropy_norm = mean over rows i >= 1 of H_i / ln(i + 1), H_i the row's
 *                  entropy in nats: 1 for uniform attention over the prefix,
 *                  0 for one-hot rows. Causal maps; a bidirectional map
 *                  divides every row's entropy by ln n. NaN when n < 2.
 *
 * TransformerLens head-detector scores (transformer_lens/head_detector.py,
 * compute_head_attention_similarity_score), one per detection pattern P
 * (n x n, lower triangular, 0/1):
 *   prev_token       P_ij = 1 iff j = i − 1
 *   duplicate_token  P_ij = 1 iff j < i and t_j = t_i
 *   induction        P_ij = 1 iff 1 <= j <= i and t_{j−1} = t_i
 *                    (the duplicate pattern shifted one column right, its
 *                    first column zeroed, lower triangle kept)
 * and per error measure and exclusions. "nobos" sets column 0 to zero,
 * "nocur" the diagonal, before the measure is taken (in both measures):
 *   mul  Σ (A' ∘ P) / Σ A'     A' = A with the excluded entries zeroed;
 *                              NaN when Σ A' = 0
 *   abs  1 − round(Σ |A − P|' / n, 3)   the excluded entries of |A − P|
 *        zeroed; Σ over all n·n entries (TransformerLens' mean · size),
 *        rounded to 3 decimals as Python's round() does (computed as
 *        Σ A − Σ_{P=1} A + Σ_{P=1} |A − 1|, exact for A >= 0)
 * Names: prev_token, duplicate_token and induction are the mul scores
 * without exclusions; the variants are NAME_mul_nobos, NAME_mul_nocur,
 * NAME_mul_nobos_nocur, NAME_abs, NAME_abs_nobos, NAME_abs_nocur and
 * NAME_abs_nobos_nocur. TransformerLens refuses sequences of one token:
 * every detector score is NaN when n < 2. (It also refuses the abs measure
 * on bidirectional maps; here the same formula runs over the full matrix.)
 *
 * Clark et al. 2019, "What does BERT look at?" (their General_Analysis
 * notebook: Σ(A ∘ S) / n, the attention a query gives the class, averaged
 * over the n queries), with the key masks S:
 *   clark_special  keys that are special tokens (ANA_TOK_SPECIAL: BOS, EOS,
 *                  [CLS], [SEP]; Clark measure [CLS] and [SEP] separately)
 *   clark_punct    keys that are punctuation (ANA_TOK_PUNCT; Clark: "." ",")
 *   clark_self     S_ij = 1 iff j = i
 *   clark_prev     S_ij = 1 iff j = i − 1   (Clark's "left")
 *   clark_next     S_ij = 1 iff j = i + 1   (Clark's "right"; always 0 for
 *                  causal maps)
 *
 * Gu et al. 2024, "When Attention Sink Emerges in Language Models": the
 * importance of key k is α_k = mean of A_ik over the queries i that can see
 * k (i >= k in a causal map, every i otherwise); a head has a sink at k
 * when α_k > ε = 0.3 (ANA_SINK_EPSILON). Per sample and head:
 *   sink           1 if α_0 > ε (a first-token sink), else 0; NaN when
 *                  n < 2. Its run mean is the head's sink rate (Gu's
 *                  Sink_1^ε restricted to one head); the mean over all heads
 *                  is the model's Sink_1^ε. α_0 itself equals first_token.
 *
 * Kobayashi et al. 2020, norm-based attention N_ij = A_ij · ‖v_j W_O^h‖
 * (hook blocks.L.attn.hook_norm_pattern, recorded only when captured).
 * Each row is turned into shares, Ñ_ij = N_ij / Σ_j N_ij, rows whose total
 * is 0 (a head that writes nothing) left out; NaN when no row is left:
 *   norm_first_token  mean_i Ñ_i0           (norm-weighted first_token)
 *   norm_distance     mean_i Σ_j Ñ_ij |i−j| (norm-weighted distance)
 * and per layer, on the sum of the layer's norm maps N = Σ_h N^h
 * (ana_layer_metrics()): layer_norm_first_token, layer_norm_distance.
 *
 * Missing inputs (no map, no token ids, no norm map) give NaN.
 */

/* Gu et al.'s sink threshold ε. */
#define ANA_SINK_EPSILON 0.3

/* What a metric needs besides the map (flags of ana_metric_info.needs). */
enum ana_need {
	ANA_NEED_MAP = 1 << 0,     /* the head's attention map                 */
	ANA_NEED_TOKENS = 1 << 1,  /* the sample's token ids                   */
	ANA_NEED_CLASSES = 1 << 2, /* token classes (ana_token_class())        */
	ANA_NEED_NORM = 1 << 3,    /* the norm-based map (hook_norm_pattern)   */
};

/* The per-sample metrics, in output order. */
enum ana_metric {
	ANA_M_ENTROPY,
	ANA_M_ENTROPY_NORM,
	ANA_M_DISTANCE,
	ANA_M_FIRST_TOKEN,
	ANA_M_MAX_WEIGHT,
	ANA_M_SELF,
	/* detector scores: pattern-major, then the 8 variants in the order
	 * mul, mul_nobos, mul_nocur, mul_nobos_nocur, abs, abs_nobos,
	 * abs_nocur, abs_nobos_nocur */
	ANA_M_PREV_TOKEN,
	ANA_M_DUPLICATE_TOKEN = ANA_M_PREV_TOKEN + 8,
	ANA_M_INDUCTION = ANA_M_DUPLICATE_TOKEN + 8,
	ANA_M_CLARK_SPECIAL = ANA_M_INDUCTION + 8,
	ANA_M_CLARK_PUNCT,
	ANA_M_CLARK_SELF,
	ANA_M_CLARK_PREV,
	ANA_M_CLARK_NEXT,
	ANA_M_SINK,
	ANA_M_NORM_FIRST_TOKEN,
	ANA_M_NORM_DISTANCE,
	ANA_METRIC_COUNT
};

/* The detection patterns and their variants (the index of a detector
 * score is ANA_M_PREV_TOKEN + 8 * pattern + variant). */
enum ana_pattern { ANA_PAT_PREV, ANA_PAT_DUPLICATE, ANA_PAT_INDUCTION, ANA_PAT_COUNT };
enum ana_variant {
	ANA_VAR_NOBOS = 1 << 0,    /* exclude column 0                        */
	ANA_VAR_NOCUR = 1 << 1,    /* exclude the diagonal                    */
	ANA_VAR_ABS = 1 << 2,      /* abs error measure (else mul)            */
	ANA_VAR_COUNT = 8
};

struct ana_metric_info {
	const char *name;  /* as stored in head_stats.metric and printed      */
	unsigned needs;    /* enum ana_need flags                              */
	int stat;          /* the enum ana_stat the recorder stores with the
	                    * same definition, or -1                           */
	const char *doc;   /* one line for --help and the CSV header comment   */
};

/* Description of metric `m` (static storage); NULL when out of range. */
const struct ana_metric_info *ana_metric_info(enum ana_metric m);

/* The metric called `name`, or -1 when there is none. */
int ana_metric_find(const char *name);

/* Token classes for the Clark metrics (flags). */
enum ana_token_class {
	ANA_TOK_SPECIAL = 1 << 0,
	ANA_TOK_PUNCT = 1 << 1,
};

/*
 * Classify a token piece (NUL-terminated, as the tokens table stores it).
 * Surrounding ASCII white space is ignored first (llama2.c's BOS piece is
 * "\n<s>\n"). Special: the piece is "<s>", "</s>", "<bos>", "<eos>",
 * "[CLS]", "[SEP]", or has the form "<|...|>" (GPT-2's <|endoftext|>,
 * Llama 3's <|begin_of_text|>, Qwen's <|im_start|>...). Punctuation (when
 * not special): after dropping one leading word-boundary marker ("▁"
 * U+2581, "Ġ" U+0120 or "##"), a non-empty run of ASCII punctuation
 * characters (!"#$%&'()*+,-./:;<=>?@[\]^_`{|}~). Byte pieces such as
 * "<0x2E>" are neither. NULL is 0.
 */
unsigned ana_token_class(const char *piece);

/* One sample and head, as ana_sample_metrics() reads it. Pointers may be
 * NULL when the input is not available (the metrics that need it are
 * NaN). */
struct ana_input {
	int n;                        /* tokens; maps are [n, n], n >= 1      */
	bool causal;                  /* zero above the diagonal              */
	const float *map;             /* [n, n] attention map                 */
	const int32_t *tokens;        /* [n] token ids                        */
	const unsigned char *classes; /* [n] ana_token_class() flags          */
	const float *norm;            /* [n, n] norm-based map                */
};

/*
 * Compute the metrics flagged in want[ANA_METRIC_COUNT] (NULL = all) into
 * out[ANA_METRIC_COUNT]; the others are set to NaN. Values follow the
 * definitions above; NaN where undefined or where an input is missing.
 * Non-finite values in the inputs make the affected metrics NaN (the CLI
 * refuses such maps before calling: see ana_find_nonfinite()).
 */
void ana_sample_metrics(const struct ana_input *in, const bool *want,
                        double out[ANA_METRIC_COUNT]);

/*
 * One TransformerLens detector score (see above) of map A [n, n] with
 * token ids `tokens` (may be NULL for ANA_PAT_PREV). `variant` is a
 * combination of enum ana_variant flags. NaN when n < 2, when the tokens
 * are missing, or (mul) when the remaining attention sums to 0.
 */
double ana_detector_score(const float *A, int n, const int32_t *tokens,
                          enum ana_pattern pattern, unsigned variant);

/* Python's round(x, digits) for a double: the decimal value nearest to
 * the exact binary value, ties to even. */
double ana_round_digits(double x, int digits);

/* The first non-finite value of `a` [count]: returns its index, or -1 when
 * every value is finite. */
long ana_find_nonfinite(const float *a, size_t count);

/* Per-layer metrics on the sum of a layer's norm maps (see above). */
enum ana_layer_metric {
	ANA_LM_NORM_FIRST_TOKEN,
	ANA_LM_NORM_DISTANCE,
	ANA_LAYER_METRIC_COUNT
};

/* "layer_norm_first_token", "layer_norm_distance"; NULL out of range. */
const char *ana_layer_metric_name(enum ana_layer_metric m);

/* Layer metrics of the norm maps norms [n_head, n, n] of one layer into
 * out[ANA_LAYER_METRIC_COUNT]. */
void ana_layer_metrics(const float *norms, int n_head, int n,
                       double out[ANA_LAYER_METRIC_COUNT]);

/*
 * The induction probe's score of one head (TransformerLens' demo: random
 * tokens of length S repeated twice): mean of A[i, i − S + 1] over the query
 * positions i = first .. n−1 of the second copy (first = position of its
 * first token: S + 1 after a BOS, S without). TransformerLens' stripe
 * (pattern.diagonal(offset = 1 − S)) also takes the two queries before the
 * second copy. NaN when the range is empty or does not fit the map.
 */
double ana_induction_stripe(const float *A, int n, int first, int S);

/* ---- run summaries and roles ----------------------------------------- */

/* Summary of one metric over the samples of a run. NaN values (undefined
 * for that sample) are left out: n counts the defined values; with n = 0
 * every field is NaN. std is the population standard deviation (divide by
 * n); p50 and p90 are percentiles with linear interpolation between the
 * order statistics (numpy's default): p = v[(n − 1)·q] interpolated. */
struct ana_summary {
	long n;
	double mean, std, p50, p90;
};

/* Summarise v[0..n). Reorders v (it is sorted in place, NaN last). */
void ana_summarize(double *v, size_t n, struct ana_summary *out);

/*
 * Head roles, decided on run means by documented thresholds (thresholds
 * are for the mean over the run's samples of one metric each):
 *   previous-token  prev_token      >= 0.5   half the attention on i − 1
 *   induction       induction       >= 0.4   (mul; on text with repeats)
 *   sink            sink            >= 0.5   a first-token sink (α_0 > 0.3)
 *                                            in at least half the samples
 *   broad           entropy_norm    >= 0.95  within 5% of uniform over the
 *                                            prefix
 *   self            self            >= 0.5   half the attention on i
 *   local           distance        <= 2.0   tokens, when neither
 *                                            previous-token nor self applies
 * A head may have several roles or none. A metric that is NaN (not
 * computed) never assigns its role.
 */
enum ana_role {
	ANA_ROLE_PREV,
	ANA_ROLE_INDUCTION,
	ANA_ROLE_SINK,
	ANA_ROLE_BROAD,
	ANA_ROLE_SELF,
	ANA_ROLE_LOCAL,
	ANA_ROLE_COUNT
};

struct ana_role_rule {
	const char *name;       /* "previous-token", "induction", ...         */
	enum ana_metric metric; /* the run mean compared                      */
	bool at_most;           /* true: mean <= threshold; false: >=          */
	double threshold;
};

/* The rule of role `r` (static storage); NULL when out of range. */
const struct ana_role_rule *ana_role_rule(enum ana_role r);

/* The roles (bit r set for role r) of a head whose run means are
 * mean[ANA_METRIC_COUNT] (NaN = not computed). */
unsigned ana_head_roles(const double mean[ANA_METRIC_COUNT]);

/* ========================================================================
 * Head similarity (similarity.c)
 * ======================================================================== */

/*
 * Clark et al.'s head distance (their head_distances.py): for two heads'
 * maps P and Q of one sample [n, n], smoothed as P' = 0.001/n + 0.999·P,
 *   js = Σ_ij ( P' ln(P'/M) + Q' ln(Q'/M) ) / 2,   M = (P' + Q')/2,
 * natural log, summed over every entry (all n·n, zeros above a causal
 * diagonal included, where P' = Q' add nothing). Summed over the samples
 * of a run it is the distance analyze uses (not averaged, as they do).
 * Symmetric, 0 for identical maps.
 */
double ana_js_pair(const float *P, const float *Q, int n);

/*
 * Add one sample's js between every pair of heads to D [n_heads, n_heads]
 * (both triangles; the diagonal stays as it is). maps[h] is head h's map
 * [n, n]. Returns 0 or ERR_NOMEM.
 */
int ana_js_accumulate(const float *const *maps, int n_heads, int n, double *D);

/*
 * Classical (Torgerson) multidimensional scaling: B = −½ J D² J with
 * J = I − 11ᵀ/n and D² the squared dissimilarities D [n, n] (symmetric,
 * zero diagonal); X [n, dims] = the top `dims` eigenvectors of B scaled by
 * √λ (0 for λ <= 0). Eigenvectors by subspace iteration with Rayleigh-Ritz
 * steps (Jacobi on the small projected matrix), deterministic; each
 * column's sign makes its largest-magnitude entry positive. eigvals
 * [dims] gets the eigenvalues (may be NULL). dims 1..n. Returns 0,
 * ERR_ARG, ERR_NOMEM.
 */
int ana_mds(const double *D, int n, int dims, double *X, double *eigvals);

/* ========================================================================
 * Attention rollout and attention flow (flow.c)
 * ========================================================================
 *
 * Abnar & Zuidema 2020, "Quantifying Attention Flow in Transformers" (and
 * their attention_graph_util.py). Per layer l, the graph weights are the
 * mean over the layer's heads plus the residual connection, row-normalised:
 *   W_l = rownorm(mean_h A_l^h + I)       (= 0.5·Ā + 0.5·I for proper rows)
 * Rollout: R_0 = W_0, R_l = W_l · R_{l−1}: R_l[i, j] is how much of input
 * token j reaches position i after layer l.
 * Flow: the layered graph has nodes (m, p), m = 0..L (m = 0 the input
 * tokens, m = l + 1 the output of layer l), and an edge (l+1, i) -> (l, j)
 * of capacity W_l[i, j]. F_l[i, j] = max flow from (l+1, i) to (0, j),
 * each row then normalised to sum 1 (as compute_flows() does).
 */

/* W [n, n] from the maps [n_head, n, n] of one layer. */
void ana_graph_weights(const float *maps, int n_head, int n, double *W);

/* Rollout R [L, n, n] from the weights W [L, n, n]. */
void ana_rollout(const double *W, int n_layer, int n, double *R);

/*
 * Flow F [L, n, n] from the weights W [L, n, n] (entries <= 0 are no
 * edge). Each of the L·n·n max flows runs Dinic's algorithm on dense
 * matrices; when every W_l is lower triangular (causal) only positions
 * j..i can carry flow from (l+1, i) to (0, j) and only those are scanned.
 * Returns 0 or ERR_NOMEM. Cost grows like n^4 (and L^2): ~1/16 of the
 * time for half the tokens.
 */
int ana_flow(const double *W, int n_layer, int n, double *F);

/* A directed graph with real capacities for max-flow (Dinic). */
struct ana_maxflow;

/* Constructor: a graph of n_nodes nodes and no edges; NULL on ERR_NOMEM
 * or n_nodes < 2. Destructor: ana_maxflow_free() (accepts NULL). */
struct ana_maxflow *ana_maxflow_create(int n_nodes);
void ana_maxflow_free(struct ana_maxflow *g);

/* Add an edge from -> to with capacity cap >= 0. Returns 0, ERR_ARG (bad
 * node or capacity), ERR_NOMEM. */
int ana_maxflow_add_edge(struct ana_maxflow *g, int from, int to, double cap);

/* The maximum flow from s to t (every run starts from zero flow); NaN for
 * bad nodes or s == t. Residual capacities below 1e-12 count as 0. */
double ana_maxflow_run(struct ana_maxflow *g, int s, int t);

/*
 * Cross-attention alignment (encoder–decoder models), from one head's
 * cross map A [T, S] (rows: target/decoder positions, columns: source
 * positions), stored per sample and head as "cross.<name>":
 *   monotonicity  share of target steps t >= 1 whose argmax source position
 *                 is not before step t-1's (1 = a monotone alignment)
 *   coverage      share of source tokens whose attention summed over the
 *                 target steps, Σ_t A_ts, is at least 0.5
 *   diagonality   1 - mean_t |argmax_t/(S-1) - t/(T-1)| (1 = the argmax
 *                 follows the diagonal; 1 when T or S is 1)
 * The argmax source position of every target step is the row's argmax of
 * the exported map.
 */
enum ana_align { ANA_ALIGN_MONOTONIC, ANA_ALIGN_COVERAGE, ANA_ALIGN_DIAGONAL,
                 ANA_ALIGN_COUNT };
const char *ana_align_name(enum ana_align a);
void ana_cross_alignment(const float *A, int n_q, int n_k, double out[ANA_ALIGN_COUNT]);

#endif

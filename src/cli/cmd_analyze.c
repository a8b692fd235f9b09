/*
 * cmd_analyze.c — `attnscope analyze`: per-head metrics over every sample
 * of a recorded run (mean, std, p50, p90 of one value per sample), head
 * roles, the samples where a head scores highest, head similarity with its
 * MDS map (CSV and a cairo scatter plot), and the derived rollout and flow
 * maps. Results are printed (table, csv, json) and written into the
 * database (head_stats, head_summary, head_roles, head_similarity,
 * head_layout, attention kinds 'rollout' and 'flow').
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../db/store.h"
#include "../analysis/analysis.h"
#include "../render/render.h"
#include "../util/util.h"
#include "cli.h"

static const char analyze_help[] =
"usage: attnscope analyze --db FILE [--run ID] [--metrics LIST]\n"
"                         [--format table|csv|json] [-o FILE] [-q]\n"
"       attnscope analyze --db FILE [--run ID] --rank L.H METRIC [--limit N]\n"
"       attnscope analyze --db FILE [--run ID] [--similarity OUT.csv]\n"
"                         [--similarity-png OUT.png] [--color layer|role]\n"
"       attnscope analyze --db FILE [--run ID] [--rollout] [--flow [--max-tokens N]]\n"
"\n"
"Per-head metrics over every sample of a run (the latest unless --run): one\n"
"value per sample and head, summarised as mean, std (population), p50 and p90\n"
"over the samples where it is defined. Results are printed and stored in the\n"
"database (per-sample values in head_stats, summaries in head_summary, roles\n"
"in head_roles; definitions in db/schema.sql and src/analysis/analysis.h).\n"
"\n"
"Metrics (--metrics takes a comma-separated list; default: all that the\n"
"recording allows):\n"
"  entropy, distance, first_token, max_weight, self, prev_token\n"
"                    row-local statistics, read from head_stats\n"
"  entropy_norm      mean over rows i>=1 of entropy / ln(i+1) (1 = uniform)\n"
"  prev_token, duplicate_token, induction\n"
"                    TransformerLens head-detector scores (mul, no exclusions);\n"
"                    variants NAME_mul_nobos, NAME_mul_nocur, NAME_mul_nobos_nocur,\n"
"                    NAME_abs, NAME_abs_nobos, NAME_abs_nocur, NAME_abs_nobos_nocur\n"
"  clark_special, clark_punct, clark_self, clark_prev, clark_next\n"
"                    Clark et al.: mean attention to special tokens (BOS, EOS,\n"
"                    [CLS], [SEP]), punctuation, the token itself, the previous\n"
"                    and the next token\n"
"  sink              Gu et al.: 1 if the first token's importance exceeds 0.3;\n"
"                    its mean is the head's sink rate\n"
"  norm_first_token, norm_distance (and per layer layer_norm_first_token,\n"
"  layer_norm_distance)  on norm-based attention, when the run captured\n"
"                    blocks.*.attn.hook_norm_pattern\n"
"Undefined values (one-token samples for the detector scores, entropy_norm and\n"
"sink) are left out of the summaries. Metrics that need the maps are computed\n"
"only for samples whose maps were stored (not with --capture none).\n"
"\n"
"Roles, from the run means: previous-token (prev_token >= 0.5), induction\n"
"(induction >= 0.4), sink (sink >= 0.5), broad (entropy_norm >= 0.95), self\n"
"(self >= 0.5), local (distance <= 2 tokens, when not previous-token or self).\n"
"\n"
"  --format F         table (default), csv (one row per head) or json:\n"
"                     {\"run\", \"n_samples\", \"heads\": [{\"layer\", \"head\",\n"
"                     \"metrics\": {NAME: {\"mean\", \"std\", \"p50\", \"p90\"}}, \"roles\"}]}\n"
"                     (layer_* metrics are repeated in each head of the layer)\n"
"  -o FILE            write the table/csv/json there instead of standard output\n"
"  --rank L.H METRIC  the samples where head H of layer L scores highest\n"
"  --limit N          with --rank: how many (default 10)\n"
"  --similarity FILE  head similarity (Clark et al.'s Jensen-Shannon distance,\n"
"                     summed over samples) and a classical MDS layout as CSV: one\n"
"                     row per head: label, layer, head, x, y, roles, then its\n"
"                     distance to every head\n"
"  --similarity-png FILE  the MDS layout as a scatter plot (.png, or .svg/.pdf)\n"
"  --color layer|role colour the points by layer (default) or by first role\n"
"  --rollout          attention rollout per sample and layer, stored as maps of\n"
"                     kind 'rollout' (head 0)\n"
"  --flow             attention flow (max-flow; slow: n^4), kind 'flow'\n"
"  --max-tokens N     flow over at most the first N tokens of a sample (default\n"
"                     128; exact for causal models, longer bidirectional\n"
"                     samples are skipped)\n"
"  -q, --quiet        no progress bar or notes\n";

/* Columns of the default table. */
static const enum ana_metric table_default[] = {
	ANA_M_ENTROPY_NORM, ANA_M_DISTANCE, ANA_M_FIRST_TOKEN, ANA_M_PREV_TOKEN,
	ANA_M_SELF, ANA_M_DUPLICATE_TOKEN, ANA_M_INDUCTION, ANA_M_CLARK_SPECIAL,
	ANA_M_CLARK_PUNCT, ANA_M_SINK, ANA_M_NORM_FIRST_TOKEN,
};

enum out_fmt { OUT_TABLE, OUT_CSV, OUT_JSON };

struct sample_ref {
	int64_t id, index;
	int n_tok;
};

/* Everything one analysis holds. */
struct ana_run {
	struct store *s;
	int64_t run_id;
	int L, H;
	bool causal;
	const char *model_name;
	struct sample_ref *samples;
	size_t n_samples, cap_samples;

	bool want[ANA_METRIC_COUNT];     /* computed                          */
	bool show[ANA_METRIC_COUNT];     /* printed (the roles' metrics are
	                                  * computed even when not asked for) */
	bool explicit_metrics;
	bool want_layer;                 /* layer_* metrics (norm maps)      */
	int slot[ANA_METRIC_COUNT];      /* index into values, -1 = unwanted  */
	int n_slots;
	double *values;    /* (n_samples, L*H, n_slots) per-sample values      */
	double *lvalues;   /* (n_samples, L, ANA_LAYER_METRIC_COUNT)           */
	long computed[ANA_METRIC_COUNT]; /* (sample, head) values obtained     */
	long lcomputed;
	long no_maps, no_norm, no_tokens; /* samples missing an input         */

	/* results */
	struct ana_summary *sum;         /* (L*H, n_slots)                     */
	struct ana_summary *lsum;        /* (L, ANA_LAYER_METRIC_COUNT)        */
	unsigned *roles;                 /* (L*H)                              */
	bool roles_complete;             /* every role's metric was computed   */

	/* similarity */
	bool similarity;
	double *js;                      /* (L*H, L*H)                         */
	long js_samples;
	double *xy;                      /* (L*H, 2)                           */

	/* derived maps */
	bool rollout, flow;
	int max_tokens;
	long flow_skipped;
	double flow_seconds;
	long flow_done;
};

/* ==== loading =========================================================== */

static int
collect_sample(void *ctx, const struct store_sample_info *x)
{
	struct ana_run *a = ctx;
	if (a->n_samples == a->cap_samples) {
		size_t cap = a->cap_samples ? 2 * a->cap_samples : 256;
		struct sample_ref *p = realloc(a->samples, cap * sizeof *p);
		if (!p)
			return err_set(ERR_NOMEM, "out of memory");
		a->samples = p;
		a->cap_samples = cap;
	}
	a->samples[a->n_samples++] = (struct sample_ref){ x->id, x->index, x->n_tok };
	return 0;
}

/* The position of sample `index` in a->samples (sorted by index), or -1. */
static long
sample_pos(const struct ana_run *a, int64_t index)
{
	size_t lo = 0, hi = a->n_samples;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (a->samples[mid].index < index)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < a->n_samples && a->samples[lo].index == index ? (long)lo : -1;
}

static double *
value_at(const struct ana_run *a, size_t i, int layer, int head, int m)
{
	return &a->values[((i * a->L + layer) * a->H + head) * a->n_slots + a->slot[m]];
}

/* head_stats rows of one recorder statistic into the values table */
struct stat_fill {
	struct ana_run *a;
	int metric;
	unsigned char *have; /* (n_samples, L*H) */
};

static int
fill_stat(void *ctx, const struct store_head_stat *x)
{
	struct stat_fill *f = ctx;
	struct ana_run *a = f->a;
	long i = sample_pos(a, x->sample_index);
	if (i < 0 || x->layer >= a->L || x->head >= a->H)
		return 0; /* not a head of this model: ignore */
	*value_at(a, (size_t)i, x->layer, x->head, f->metric) = x->value;
	f->have[(size_t)i * a->L * a->H + x->layer * a->H + x->head] = 1;
	return 0;
}

/* ==== per-sample work =================================================== */

/* One sample's maps [L*H] (NULL where absent); *found counts them. Checks
 * shapes and values: a non-finite weight is an error naming its place. */
static int
load_maps(struct ana_run *a, const struct sample_ref *x, float **maps, int *found)
{
	*found = 0;
	for (int l = 0; l < a->L; l++)
		for (int h = 0; h < a->H; h++) {
			float *m = NULL;
			int nq, nk;
			int rc = store_get_attn(a->s, x->id, l, h, "self", &m, &nq, &nk);
			if (rc == ERR_NOTFOUND) {
				err_clear();
				continue;
			}
			if (rc)
				return rc;
			maps[l * a->H + h] = m;
			if (nq != x->n_tok || nk != x->n_tok)
				return err_set(ERR_FORMAT, "sample %" PRId64 " layer %d head %d: map is "
				               "%dx%d but the sample has %d tokens", x->index, l, h,
				               nq, nk, x->n_tok);
			long bad = ana_find_nonfinite(m, (size_t)nq * nk);
			if (bad >= 0)
				return err_set(ERR_FORMAT, "sample %" PRId64 " layer %d head %d: the "
				               "attention map holds %s at query %ld, key %ld",
				               x->index, l, h, isnan(m[bad]) ? "NaN" : "an infinite "
				               "value", bad / nk, bad % nk);
			(*found)++;
		}
	return 0;
}

/* One layer's norm-based maps [H, T, T] or NULL when not captured. */
static int
load_norm(struct ana_run *a, const struct sample_ref *x, int layer, float **out)
{
	char hook[96];
	float *d = NULL;
	int ndim, shape[4];

	*out = NULL;
	snprintf(hook, sizeof hook, "blocks.%d.attn.hook_norm_pattern", layer);
	int rc = store_get_act(a->s, x->id, hook, &d, &ndim, shape);
	if (rc == ERR_NOTFOUND) {
		err_clear();
		return 0;
	}
	if (rc)
		return rc;
	if (ndim != 3 || shape[0] != a->H || shape[1] != x->n_tok || shape[2] != x->n_tok) {
		free(d);
		return err_set(ERR_FORMAT, "sample %" PRId64 ": '%s' has shape %dx%dx%d, not "
		               "%dx%dx%d", x->index, hook, shape[0], shape[1], shape[2], a->H,
		               x->n_tok, x->n_tok);
	}
	size_t nn = (size_t)x->n_tok * x->n_tok;
	long bad = ana_find_nonfinite(d, (size_t)a->H * nn);
	if (bad >= 0) {
		free(d);
		return err_set(ERR_FORMAT, "sample %" PRId64 " layer %d head %ld: the norm-based "
		               "map holds a non-finite value at query %ld, key %ld", x->index,
		               layer, bad / (long)nn, bad % (long)nn / x->n_tok,
		               bad % x->n_tok);
	}
	*out = d;
	return 0;
}

/* Rollout and flow of one sample, stored as derived maps. */
static int
derived_maps(struct ana_run *a, const struct sample_ref *x, float *const *maps)
{
	int n = x->n_tok, L = a->L, H = a->H;
	int rc = 0;
	bool do_flow = a->flow;
	int nf = n;

	if (do_flow && n > a->max_tokens) {
		if (a->causal)
			nf = a->max_tokens; /* the prefix's maps are exact */
		else {
			do_flow = false;
			a->flow_skipped++;
		}
	}
	size_t nn = (size_t)n * n;
	float *layer = malloc((size_t)H * nn * sizeof *layer);   /* (H, n, n) */
	double *W = malloc((size_t)L * nn * sizeof *W);          /* (L, n, n) */
	double *R = malloc((size_t)L * nn * sizeof *R);          /* (L, n, n) */
	float *out = malloc(nn * sizeof *out);                   /* (n, n)    */
	if (!layer || !W || !R || !out) {
		rc = err_set(ERR_NOMEM, "rollout of sample %" PRId64 ": out of memory", x->index);
		goto out;
	}
	for (int l = 0; l < L; l++) {
		for (int h = 0; h < H; h++)
			memcpy(layer + h * nn, maps[l * H + h], nn * sizeof *layer);
		ana_graph_weights(layer, H, n, W + l * nn);
	}
	if (a->rollout) {
		ana_rollout(W, L, n, R);
		if ((rc = store_delete_attn(a->s, x->id, "rollout")) != 0)
			goto out;
		for (int l = 0; l < L && !rc; l++) {
			for (size_t k = 0; k < nn; k++)
				out[k] = (float)R[l * nn + k];
			rc = store_put_attn(a->s, x->id, l, 0, "rollout", n, n, a->causal,
			                    STORE_ENC_F32, out);
		}
		if (rc)
			goto out;
	}
	if (do_flow) {
		size_t ff = (size_t)nf * nf;
		double *Wf = W;
		if (nf < n) { /* the leading nf x nf block of every layer */
			for (int l = 0; l < L; l++)
				for (int i = 0; i < nf; i++)
					for (int j = 0; j < nf; j++)
						R[l * ff + (size_t)i * nf + j] = W[l * nn + (size_t)i * n + j];
			/* rows were normalised over n keys; causal rows i < nf see only
			 * keys <= i < nf, so they are unchanged */
			memcpy(W, R, (size_t)L * ff * sizeof *W);
		}
		double t0 = util_now();
		if ((rc = ana_flow(Wf, L, nf, R)) != 0)
			goto out;
		a->flow_seconds += util_now() - t0;
		a->flow_done++;
		if ((rc = store_delete_attn(a->s, x->id, "flow")) != 0)
			goto out;
		for (int l = 0; l < L && !rc; l++) {
			for (size_t k = 0; k < ff; k++)
				out[k] = (float)R[l * ff + k];
			rc = store_put_attn(a->s, x->id, l, 0, "flow", nf, nf, a->causal,
			                    STORE_ENC_F32, out);
		}
	}
out:
	free(layer);
	free(W);
	free(R);
	free(out);
	return rc;
}

static int
cmp_metric_name(const void *x, const void *y)
{
	return strcmp(ana_metric_info((enum ana_metric)*(const int *)x)->name,
	              ana_metric_info((enum ana_metric)*(const int *)y)->name);
}

/* The q-th metric in the order of their names. */
static int
metric_by_name(int q)
{
	static int order[ANA_METRIC_COUNT];
	static bool ready;
	if (!ready) {
		for (int m = 0; m < ANA_METRIC_COUNT; m++)
			order[m] = m;
		qsort(order, ANA_METRIC_COUNT, sizeof order[0], cmp_metric_name);
		ready = true;
	}
	return order[q];
}

/*
 * Metrics that follow from the recorder's statistics when the map is not
 * stored: sink (α_0 = first_token: every query sees key 0), clark_self
 * and clark_prev (self and prev_token divide by Σ A, Clark by n: equal for
 * rows that sum to 1). Their sources are always computed alongside.
 */
static const struct { int metric, source; } stat_twins[] = {
	{ ANA_M_SINK, ANA_M_FIRST_TOKEN },
	{ ANA_M_CLARK_SELF, ANA_M_SELF },
	{ ANA_M_CLARK_PREV, ANA_M_PREV_TOKEN },
};

static bool
from_stats(const struct ana_run *a, size_t i, int l, int h, int m, double *v)
{
	for (size_t q = 0; q < sizeof stat_twins / sizeof stat_twins[0]; q++) {
		if (stat_twins[q].metric != m || a->slot[stat_twins[q].source] < 0)
			continue;
		double x = *value_at(a, i, l, h, stat_twins[q].source);
		if (m == ANA_M_SINK)
			*v = a->samples[i].n_tok < 2 || isnan(x) ? NAN
			   : x > ANA_SINK_EPSILON ? 1.0 : 0.0;
		else
			*v = x;
		return true;
	}
	return false;
}

static bool
needs_any(const struct ana_run *a, unsigned need)
{
	for (int m = 0; m < ANA_METRIC_COUNT; m++)
		if (a->want[m] && (ana_metric_info((enum ana_metric)m)->needs & need))
			return true;
	return false;
}

/* Analyse sample i: compute, store per-sample values. `have` marks heads
 * whose recorder statistics came from head_stats. */
static int
analyse_sample(struct ana_run *a, size_t i, const unsigned char *have)
{
	const struct sample_ref *x = &a->samples[i];
	const int LH = a->L * a->H, n = x->n_tok;
	float **maps = calloc((size_t)LH, sizeof *maps);
	float **norms = calloc((size_t)a->L, sizeof *norms);
	struct store_token *toks = NULL;
	int32_t *ids = NULL;
	unsigned char *cls = NULL;
	int n_toks = 0, found = 0, rc = 0;

	if (!maps || !norms) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	if (n < 1)
		goto out; /* an empty sample has nothing to measure */

	/* which metrics still need computing for this sample */
	bool need_map = a->similarity || a->rollout || a->flow;
	for (int m = 0; m < ANA_METRIC_COUNT && !need_map; m++) {
		if (!a->want[m] || !(ana_metric_info((enum ana_metric)m)->needs & ANA_NEED_MAP))
			continue;
		if (ana_metric_info((enum ana_metric)m)->stat < 0)
			need_map = true;
		else
			for (int k = 0; k < LH; k++)
				if (!have[i * LH + k])
					need_map = true;
	}
	if (need_map && (rc = load_maps(a, x, maps, &found)) != 0)
		goto out;
	if (need_map && found < LH)
		a->no_maps++;

	if (found && needs_any(a, ANA_NEED_TOKENS | ANA_NEED_CLASSES)) {
		if ((rc = store_get_tokens(a->s, x->id, &toks, &n_toks)) != 0)
			goto out;
		if (n_toks != n) {
			if (n_toks == 0) {
				a->no_tokens++;
			} else {
				rc = err_set(ERR_FORMAT, "sample %" PRId64 " has %d tokens stored but "
				             "a length of %d", x->index, n_toks, n);
				goto out;
			}
		} else {
			ids = malloc((size_t)n * sizeof *ids);
			cls = malloc((size_t)n);
			if (!ids || !cls) {
				rc = err_set(ERR_NOMEM, "out of memory");
				goto out;
			}
			for (int t = 0; t < n; t++) {
				ids[t] = toks[t].id;
				cls[t] = (unsigned char)ana_token_class(toks[t].piece);
			}
		}
	}
	bool any_norm = false;
	if (needs_any(a, ANA_NEED_NORM) || a->want_layer) {
		for (int l = 0; l < a->L; l++) {
			if ((rc = load_norm(a, x, l, &norms[l])) != 0)
				goto out;
			any_norm = any_norm || norms[l];
		}
		if (!any_norm)
			a->no_norm++;
	}

	for (int l = 0; l < a->L; l++) {
		for (int h = 0; h < a->H; h++) {
			int k = l * a->H + h;
			double v[ANA_METRIC_COUNT];
			bool want_now[ANA_METRIC_COUNT]; /* what head_stats does not hold */
			for (int m = 0; m < ANA_METRIC_COUNT; m++)
				want_now[m] = a->want[m] &&
				              !(ana_metric_info((enum ana_metric)m)->stat >= 0 &&
				                have[i * LH + k]);
			struct ana_input in = {
				.n = n, .causal = a->causal, .map = maps[k], .tokens = ids,
				.classes = cls,
				.norm = norms[l] ? norms[l] + (size_t)h * n * n : NULL,
			};
			ana_sample_metrics(&in, want_now, v);
			/* in name order: the rows go into head_stats in key order */
			for (int q = 0; q < ANA_METRIC_COUNT; q++) {
				int m = metric_by_name(q);
				if (!a->want[m])
					continue;
				const struct ana_metric_info *mi = ana_metric_info((enum ana_metric)m);
				bool got;
				if (mi->stat >= 0 && have[i * LH + k]) {
					got = true; /* from head_stats, already in place */
				} else if (!maps[k] && have[i * LH + k] && from_stats(a, i, l, h, m, &v[m])) {
					got = true; /* equivalent to a recorder statistic */
					*value_at(a, i, l, h, m) = v[m];
				} else {
					got = (!(mi->needs & ANA_NEED_MAP) || maps[k]) &&
					      (!(mi->needs & ANA_NEED_TOKENS) || ids) &&
					      (!(mi->needs & ANA_NEED_CLASSES) || cls) &&
					      (!(mi->needs & ANA_NEED_NORM) || in.norm);
					if (got)
						*value_at(a, i, l, h, m) = v[m];
				}
				if (!got)
					continue;
				a->computed[m]++;
				/* the recorder's own statistics stay as it wrote them */
				if (mi->stat < 0 &&
				    (rc = store_set_head_stat(a->s, x->id, l, h, mi->name, v[m])) != 0)
					goto out;
			}
		}
		if (a->want_layer && norms[l]) {
			double lv[ANA_LAYER_METRIC_COUNT];
			ana_layer_metrics(norms[l], a->H, n, lv);
			for (int k = 0; k < ANA_LAYER_METRIC_COUNT; k++)
				a->lvalues[(i * a->L + l) * ANA_LAYER_METRIC_COUNT + k] = lv[k];
			a->lcomputed++;
		}
	}

	if (found == LH && a->similarity) {
		if ((rc = ana_js_accumulate((const float *const *)maps, LH, n, a->js)) != 0)
			goto out;
		a->js_samples++;
	}
	if (found == LH && (a->rollout || a->flow))
		rc = derived_maps(a, x, maps);
out:
	for (int k = 0; maps && k < LH; k++)
		free(maps[k]);
	for (int l = 0; norms && l < a->L; l++)
		free(norms[l]);
	free(maps);
	free(norms);
	free(toks);
	free(ids);
	free(cls);
	return rc;
}

/* ==== summaries and roles =============================================== */

static int
summarise(struct ana_run *a)
{
	const int LH = a->L * a->H;
	size_t N = a->n_samples;
	double *col = malloc((N ? N : 1) * sizeof *col);
	int rc = 0;

	a->sum = calloc((size_t)LH * a->n_slots, sizeof *a->sum);
	a->lsum = calloc((size_t)a->L * ANA_LAYER_METRIC_COUNT, sizeof *a->lsum);
	a->roles = calloc((size_t)LH, sizeof *a->roles);
	if (!col || !a->sum || !a->lsum || !a->roles) {
		free(col);
		return err_set(ERR_NOMEM, "out of memory");
	}
	for (int k = 0; k < LH; k++)
		for (int m = 0; m < ANA_METRIC_COUNT; m++) {
			if (a->slot[m] < 0)
				continue;
			for (size_t i = 0; i < N; i++)
				col[i] = *value_at(a, i, k / a->H, k % a->H, m);
			ana_summarize(col, N, &a->sum[(size_t)k * a->n_slots + a->slot[m]]);
		}
	for (int l = 0; l < a->L; l++)
		for (int q = 0; q < ANA_LAYER_METRIC_COUNT; q++) {
			for (size_t i = 0; i < N; i++)
				col[i] = a->lvalues ? a->lvalues[(i * a->L + l) * ANA_LAYER_METRIC_COUNT + q]
				                    : NAN;
			ana_summarize(col, N, &a->lsum[l * ANA_LAYER_METRIC_COUNT + q]);
		}
	free(col);

	/* roles: only from metrics that were computed */
	a->roles_complete = true;
	for (int r = 0; r < ANA_ROLE_COUNT; r++) {
		int m = ana_role_rule((enum ana_role)r)->metric;
		if (a->slot[m] < 0 || a->computed[m] == 0)
			a->roles_complete = false;
	}
	for (int k = 0; k < LH; k++) {
		double mean[ANA_METRIC_COUNT];
		for (int m = 0; m < ANA_METRIC_COUNT; m++)
			mean[m] = a->slot[m] >= 0 && a->computed[m]
			          ? a->sum[(size_t)k * a->n_slots + a->slot[m]].mean : NAN;
		a->roles[k] = ana_head_roles(mean);
	}
	return rc;
}

static const struct ana_summary *
summary_of(const struct ana_run *a, int k, int m)
{
	return &a->sum[(size_t)k * a->n_slots + a->slot[m]];
}

/* Was metric m computed for at least one (sample, head)? */
static bool
computed(const struct ana_run *a, int m)
{
	return a->slot[m] >= 0 && a->computed[m] > 0;
}

/* ... and is it to be printed? */
static bool
available(const struct ana_run *a, int m)
{
	return a->show[m] && computed(a, m);
}

static int
store_results(struct ana_run *a)
{
	const int LH = a->L * a->H;
	int rc = store_begin(a->s);
	if (rc)
		return rc;
	for (int k = 0; k < LH && !rc; k++)
		for (int m = 0; m < ANA_METRIC_COUNT && !rc; m++) {
			if (!computed(a, m))
				continue;
			const struct ana_summary *x = summary_of(a, k, m);
			struct store_summary ss = {
				.layer = k / a->H, .head = k % a->H,
				.metric = ana_metric_info((enum ana_metric)m)->name, .n = x->n,
				.mean = x->mean, .std = x->std, .p50 = x->p50, .p90 = x->p90,
			};
			rc = store_put_summary(a->s, a->run_id, &ss);
		}
	for (int l = 0; l < a->L && !rc && a->lcomputed; l++)
		for (int q = 0; q < ANA_LAYER_METRIC_COUNT && !rc; q++) {
			const struct ana_summary *x = &a->lsum[l * ANA_LAYER_METRIC_COUNT + q];
			struct store_summary ss = {
				.layer = l, .head = -1,
				.metric = ana_layer_metric_name((enum ana_layer_metric)q), .n = x->n,
				.mean = x->mean, .std = x->std, .p50 = x->p50, .p90 = x->p90,
			};
			rc = store_put_summary(a->s, a->run_id, &ss);
		}
	/* roles are replaced only by an analysis that could decide them all */
	if (!rc && a->roles_complete) {
		rc = store_clear_roles(a->s, a->run_id);
		for (int k = 0; k < LH && !rc; k++)
			for (int r = 0; r < ANA_ROLE_COUNT && !rc; r++) {
				if (!(a->roles[k] & 1u << r))
					continue;
				const struct ana_role_rule *rule = ana_role_rule((enum ana_role)r);
				struct store_role sr = {
					.layer = k / a->H, .head = k % a->H, .role = rule->name,
					.metric = ana_metric_info(rule->metric)->name,
					.value = summary_of(a, k, rule->metric)->mean,
					.threshold = rule->threshold,
				};
				rc = store_put_role(a->s, a->run_id, &sr);
			}
	}
	if (rc) {
		store_rollback(a->s);
		return rc;
	}
	return store_commit(a->s);
}

/* ==== output ============================================================ */

static void
roles_text(unsigned roles, char *buf, size_t size, const char *sep)
{
	size_t off = 0;
	buf[0] = '\0';
	for (int r = 0; r < ANA_ROLE_COUNT; r++)
		if (roles & 1u << r) {
			int w = snprintf(buf + off, size - off, "%s%s", off ? sep : "",
			                 ana_role_rule((enum ana_role)r)->name);
			if (w < 0 || (size_t)w >= size - off)
				break;
			off += (size_t)w;
		}
}

static void
print_num(FILE *f, double v, const char *nan_text)
{
	if (isnan(v))
		fputs(nan_text, f);
	else
		fprintf(f, "%.9g", v);
}

static int
write_table(FILE *f, const struct ana_run *a)
{
	int cols[ANA_METRIC_COUNT], nc = 0;
	if (a->explicit_metrics) {
		for (int m = 0; m < ANA_METRIC_COUNT; m++)
			if (available(a, m))
				cols[nc++] = m;
	} else {
		for (size_t q = 0; q < sizeof table_default / sizeof table_default[0]; q++)
			if (available(a, (int)table_default[q]))
				cols[nc++] = (int)table_default[q];
	}
	bool detail = nc <= 3; /* few metrics: all four statistics */
	fprintf(f, "run %" PRId64 " · %s · %zu samples · mean over samples%s\n", a->run_id,
	        a->model_name, a->n_samples, detail ? " (std, p50, p90)" : "");
	fprintf(f, "%-6s", "head");
	for (int c = 0; c < nc; c++) {
		const char *name = ana_metric_info((enum ana_metric)cols[c])->name;
		if (detail)
			fprintf(f, " %*s", 40, name);
		else
			fprintf(f, " %*s", (int)(strlen(name) > 8 ? strlen(name) : 8), name);
	}
	fprintf(f, "  roles\n");
	for (int k = 0; k < a->L * a->H; k++) {
		char head[32], roles[128];
		snprintf(head, sizeof head, "L%dH%d", k / a->H, k % a->H);
		fprintf(f, "%-6s", head);
		for (int c = 0; c < nc; c++) {
			const struct ana_summary *x = summary_of(a, k, cols[c]);
			const char *name = ana_metric_info((enum ana_metric)cols[c])->name;
			if (detail) {
				char cell[96];
				if (x->n == 0)
					snprintf(cell, sizeof cell, "-");
				else
					snprintf(cell, sizeof cell, "%.4f (%.4f, %.4f, %.4f)", x->mean,
					         x->std, x->p50, x->p90);
				fprintf(f, " %40s", cell);
			} else if (x->n == 0) {
				fprintf(f, " %*s", (int)(strlen(name) > 8 ? strlen(name) : 8), "-");
			} else {
				fprintf(f, " %*.4f", (int)(strlen(name) > 8 ? strlen(name) : 8), x->mean);
			}
		}
		roles_text(a->roles[k], roles, sizeof roles, ", ");
		fprintf(f, "  %s\n", roles[0] ? roles : "-");
	}
	if (a->lcomputed) {
		fprintf(f, "per layer (sum over heads of the norm-based maps):\n");
		for (int l = 0; l < a->L; l++) {
			fprintf(f, "L%d    ", l);
			for (int q = 0; q < ANA_LAYER_METRIC_COUNT; q++) {
				const struct ana_summary *x = &a->lsum[l * ANA_LAYER_METRIC_COUNT + q];
				fprintf(f, " %s %.4f", ana_layer_metric_name((enum ana_layer_metric)q),
				        x->mean);
			}
			fputc('\n', f);
		}
	}
	if (available(a, ANA_M_SINK)) {
		double s = 0;
		int cnt = 0;
		for (int k = 0; k < a->L * a->H; k++) {
			const struct ana_summary *x = summary_of(a, k, ANA_M_SINK);
			if (x->n) {
				s += x->mean;
				cnt++;
			}
		}
		if (cnt)
			fprintf(f, "sink rate of the model (Gu et al. Sink_1 with eps 0.3, mean over "
			        "heads): %.4f\n", s / cnt);
	}
	return 0;
}

static int
write_csv(FILE *f, const struct ana_run *a)
{
	static const char *const stat_names[] = { "mean", "std", "p50", "p90" };
	fprintf(f, "layer,head,roles");
	for (int m = 0; m < ANA_METRIC_COUNT; m++)
		if (available(a, m))
			for (int q = 0; q < 4; q++)
				fprintf(f, ",%s_%s", ana_metric_info((enum ana_metric)m)->name,
				        stat_names[q]);
	for (int q = 0; q < ANA_LAYER_METRIC_COUNT && a->lcomputed; q++)
		for (int z = 0; z < 4; z++)
			fprintf(f, ",%s_%s", ana_layer_metric_name((enum ana_layer_metric)q),
			        stat_names[z]);
	fputc('\n', f);
	for (int k = 0; k < a->L * a->H; k++) {
		char roles[128];
		roles_text(a->roles[k], roles, sizeof roles, ";");
		fprintf(f, "%d,%d,%s", k / a->H, k % a->H, roles);
		for (int m = 0; m < ANA_METRIC_COUNT; m++) {
			if (!available(a, m))
				continue;
			const struct ana_summary *x = summary_of(a, k, m);
			double v[4] = { x->mean, x->std, x->p50, x->p90 };
			for (int q = 0; q < 4; q++) {
				fputc(',', f);
				print_num(f, v[q], "");
			}
		}
		for (int q = 0; q < ANA_LAYER_METRIC_COUNT && a->lcomputed; q++) {
			const struct ana_summary *x = &a->lsum[(k / a->H) * ANA_LAYER_METRIC_COUNT + q];
			double v[4] = { x->mean, x->std, x->p50, x->p90 };
			for (int z = 0; z < 4; z++) {
				fputc(',', f);
				print_num(f, v[z], "");
			}
		}
		fputc('\n', f);
	}
	return 0;
}

static json_t *
json_num(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static json_t *
json_summary(const struct ana_summary *x)
{
	return json_pack("{s:o, s:o, s:o, s:o}", "mean", json_num(x->mean), "std",
	                 json_num(x->std), "p50", json_num(x->p50), "p90", json_num(x->p90));
}

static int
write_json(FILE *f, const struct ana_run *a)
{
	json_t *root = json_object(), *heads = json_array();
	for (int k = 0; k < a->L * a->H; k++) {
		json_t *mets = json_object(), *roles = json_array();
		for (int m = 0; m < ANA_METRIC_COUNT; m++)
			if (available(a, m))
				json_object_set_new(mets, ana_metric_info((enum ana_metric)m)->name,
				                    json_summary(summary_of(a, k, m)));
		for (int q = 0; q < ANA_LAYER_METRIC_COUNT && a->lcomputed; q++)
			json_object_set_new(mets, ana_layer_metric_name((enum ana_layer_metric)q),
			                    json_summary(&a->lsum[(k / a->H) *
			                                          ANA_LAYER_METRIC_COUNT + q]));
		for (int r = 0; r < ANA_ROLE_COUNT; r++)
			if (a->roles[k] & 1u << r)
				json_array_append_new(roles,
				                      json_string(ana_role_rule((enum ana_role)r)->name));
		json_array_append_new(heads, json_pack("{s:i, s:i, s:o, s:o}", "layer",
		                                       k / a->H, "head", k % a->H, "metrics",
		                                       mets, "roles", roles));
	}
	json_object_set_new(root, "run", json_integer(a->run_id));
	json_object_set_new(root, "n_samples", json_integer((json_int_t)a->n_samples));
	json_object_set_new(root, "heads", heads);
	int rc = json_dumpf(root, f, JSON_REAL_PRECISION(10) | JSON_INDENT(1)) ? ERR_IO : 0;
	fputc('\n', f);
	json_decref(root);
	return rc;
}

/* ==== ranking =========================================================== */

struct ranked {
	double v;
	size_t i;
};

static int
cmp_ranked(const void *x, const void *y)
{
	const struct ranked *p = x, *q = y;
	if (p->v != q->v)
		return p->v < q->v ? 1 : -1;
	return p->i < q->i ? -1 : p->i > q->i;
}

static int
write_rank(FILE *f, struct ana_run *a, int layer, int head, int m, long limit,
           enum out_fmt fmt)
{
	struct ranked *r = malloc((a->n_samples ? a->n_samples : 1) * sizeof *r);
	size_t n = 0;
	int rc = 0;
	if (!r)
		return err_set(ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < a->n_samples; i++) {
		double v = *value_at(a, i, layer, head, m);
		if (!isnan(v))
			r[n++] = (struct ranked){ v, i };
	}
	qsort(r, n, sizeof *r, cmp_ranked);
	if ((size_t)limit < n)
		n = (size_t)limit;
	const char *name = ana_metric_info((enum ana_metric)m)->name;
	json_t *arr = fmt == OUT_JSON ? json_array() : NULL;
	if (fmt == OUT_TABLE)
		fprintf(f, "run %" PRId64 " · L%dH%d · %s: the %zu highest samples\n"
		        "rank  sample        value  tokens  text\n", a->run_id, layer, head, name, n);
	else if (fmt == OUT_CSV)
		fprintf(f, "rank,sample,value,n_tok\n");
	for (size_t k = 0; k < n && !rc; k++) {
		const struct sample_ref *x = &a->samples[r[k].i];
		if (fmt == OUT_CSV) {
			fprintf(f, "%zu,%" PRId64 ",%.9g,%d\n", k + 1, x->index, r[k].v, x->n_tok);
		} else if (fmt == OUT_JSON) {
			json_array_append_new(arr, json_pack("{s:I, s:f, s:i}", "sample",
			                                     (json_int_t)x->index, "value", r[k].v,
			                                     "n_tok", x->n_tok));
		} else {
			struct store_sample_info si;
			char text[64] = "";
			if (store_get_sample(a->s, a->run_id, x->index, &si) == 0 && si.text) {
				char esc[256];
				cli_escape_piece(si.text, esc, sizeof esc);
				snprintf(text, sizeof text, "%.60s", esc);
			}
			fprintf(f, "%4zu  %6" PRId64 "  %11.6f  %6d  %s\n", k + 1, x->index, r[k].v,
			        x->n_tok, text);
		}
	}
	if (arr) {
		json_t *root = json_pack("{s:I, s:i, s:i, s:s, s:o}", "run", (json_int_t)a->run_id,
		                         "layer", layer, "head", head, "metric", name,
		                         "samples", arr);
		rc = json_dumpf(root, f, JSON_REAL_PRECISION(10) | JSON_INDENT(1)) ? ERR_IO : 0;
		fputc('\n', f);
		json_decref(root);
	}
	free(r);
	return rc;
}

/* ==== similarity: CSV and the scatter plot ============================== */

static int
similarity_finish(struct ana_run *a)
{
	const int LH = a->L * a->H;
	a->xy = calloc((size_t)LH * 2, sizeof *a->xy);
	if (!a->xy)
		return err_set(ERR_NOMEM, "out of memory");
	int rc = ana_mds(a->js, LH, LH >= 2 ? 2 : 1, a->xy, NULL);
	if (rc)
		return rc;
	if (LH < 2) /* one head: the origin */
		a->xy[1] = 0;
	if ((rc = store_begin(a->s)) != 0)
		return rc;
	rc = store_clear_similarity(a->s, a->run_id);
	for (int p = 0; p < LH && !rc; p++) {
		rc = store_put_layout(a->s, a->run_id, p / a->H, p % a->H, a->xy[2 * p],
		                      a->xy[2 * p + 1]);
		for (int q = 0; q < LH && !rc; q++)
			if (p != q)
				rc = store_put_similarity(a->s, a->run_id, p / a->H, p % a->H, q / a->H,
				                          q % a->H, a->js[(size_t)p * LH + q],
				                          a->js_samples);
	}
	if (rc) {
		store_rollback(a->s);
		return rc;
	}
	return store_commit(a->s);
}

static int
write_similarity_csv(const char *path, const struct ana_run *a)
{
	const int LH = a->L * a->H;
	FILE *f = fopen(path, "w");
	if (!f)
		return err_set(ERR_IO, "cannot write '%s': %s", path, strerror(errno));
	fprintf(f, "label,layer,head,x,y,roles");
	for (int q = 0; q < LH; q++)
		fprintf(f, ",%d.%d", q / a->H, q % a->H);
	fputc('\n', f);
	for (int p = 0; p < LH; p++) {
		char roles[128];
		roles_text(a->roles[p], roles, sizeof roles, ";");
		fprintf(f, "%d.%d,%d,%d,%.9g,%.9g,%s", p / a->H, p % a->H, p / a->H, p % a->H,
		        a->xy[2 * p], a->xy[2 * p + 1], roles);
		for (int q = 0; q < LH; q++)
			fprintf(f, ",%.9g", a->js[(size_t)p * LH + q]);
		fputc('\n', f);
	}
	if (ferror(f) | (fclose(f) != 0))
		return err_set(ERR_IO, "cannot write '%s'", path);
	return 0;
}

struct scatter {
	const struct ana_run *a;
	bool by_role;
	char title[256];
};

/* Colour of a head: its layer's, or its first role's (grey for none). */
static uint32_t
point_color(const struct scatter *sc, int k, int *group)
{
	if (!sc->by_role) {
		*group = k / sc->a->H;
		return render_head_color(*group);
	}
	for (int r = 0; r < ANA_ROLE_COUNT; r++)
		if (sc->a->roles[k] & 1u << r) {
			*group = r;
			return render_head_color(r);
		}
	*group = ANA_ROLE_COUNT;
	return 0x9aa0a6ffu;
}

static int
draw_scatter(cairo_t *cr, double w, double h, void *ctx)
{
	const struct scatter *sc = ctx;
	const struct ana_run *a = sc->a;
	const int LH = a->L * a->H;
	int err = 0;
	struct render_text *t = render_text_create(0, &err);
	if (!t)
		return err;
	double lh = render_text_line_height(t);
	double left = 24, right = w - 180, top = 24 + 2 * lh, bottom = h - 24;
	render_text_draw(t, cr, w / 2, 12, sc->title, RENDER_TEXT_TITLE | RENDER_TEXT_CENTER,
	                 0x202124ffu, 0, w - 24);

	/* frame and scale: equal units on both axes */
	double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
	for (int k = 0; k < LH; k++) {
		x0 = fmin(x0, a->xy[2 * k]);
		x1 = fmax(x1, a->xy[2 * k]);
		y0 = fmin(y0, a->xy[2 * k + 1]);
		y1 = fmax(y1, a->xy[2 * k + 1]);
	}
	double span = fmax(fmax(x1 - x0, y1 - y0), 1e-12);
	double pw = right - left - 60, ph = bottom - top - 40;
	double scale = fmin(pw, ph) / span;
	double cx = (left + right) / 2, cy = (top + bottom) / 2;
	double mx = (x0 + x1) / 2, my = (y0 + y1) / 2;
	render_set_source_u32(cr, 0xdadce0ffu);
	cairo_set_line_width(cr, 1);
	cairo_rectangle(cr, left + 0.5, top + 0.5, right - left, bottom - top);
	cairo_stroke(cr);

	for (int k = 0; k < LH; k++) {
		int g;
		double px = cx + (a->xy[2 * k] - mx) * scale;
		double py = cy - (a->xy[2 * k + 1] - my) * scale;
		render_set_source_u32(cr, point_color(sc, k, &g));
		cairo_arc(cr, px, py, 5, 0, 2 * M_PI);
		cairo_fill(cr);
		char label[32];
		snprintf(label, sizeof label, "%d.%d", k / a->H, k % a->H);
		render_text_draw(t, cr, px + 7, py, label, RENDER_TEXT_SMALL | RENDER_TEXT_MIDDLE,
		                 0x3c4043ffu, 0, 0);
	}

	/* legend */
	double ly = top;
	int n_groups = sc->by_role ? ANA_ROLE_COUNT + 1 : a->L;
	for (int g = 0; g < n_groups; g++) {
		char name[64];
		uint32_t c;
		if (!sc->by_role) {
			snprintf(name, sizeof name, "layer %d", g);
			c = render_head_color(g);
		} else if (g < ANA_ROLE_COUNT) {
			snprintf(name, sizeof name, "%s", ana_role_rule((enum ana_role)g)->name);
			c = render_head_color(g);
		} else {
			snprintf(name, sizeof name, "no role");
			c = 0x9aa0a6ffu;
		}
		render_set_source_u32(cr, c);
		cairo_arc(cr, right + 24, ly + lh / 2, 5, 0, 2 * M_PI);
		cairo_fill(cr);
		render_text_draw(t, cr, right + 36, ly + lh / 2, name, RENDER_TEXT_MIDDLE,
		                 0x202124ffu, 0, w - right - 40);
		ly += lh * 1.4;
		if (ly > bottom - lh) /* more layers than fit: the rest unlabelled */
			break;
	}
	render_text_free(t);
	return 0;
}

static int
write_similarity_png(const char *path, const struct ana_run *a, bool by_role)
{
	enum render_format fmt = RENDER_FORMAT_PNG;
	const char *dot = strrchr(path, '.');
	if (dot && render_format_parse(dot + 1, &fmt) != 0) {
		err_clear();
		fmt = RENDER_FORMAT_PNG;
	}
	struct scatter sc = { .a = a, .by_role = by_role };
	snprintf(sc.title, sizeof sc.title, "%s · run %" PRId64 " · head similarity (Clark "
	         "JS over %ld samples, classical MDS)", a->model_name, a->run_id,
	         a->js_samples);
	return render_figure_write(fmt, path, 900, 720, draw_scatter, &sc);
}

/* ==== the command ======================================================= */

static FILE *
open_out(const char *path)
{
	if (!path || strcmp(path, "-") == 0)
		return stdout;
	FILE *f = fopen(path, "w");
	if (!f)
		err_set(ERR_IO, "cannot write '%s': %s", path, strerror(errno));
	return f;
}

static int
close_out(FILE *f, const char *path)
{
	int bad = ferror(f);
	bad |= f != stdout ? fclose(f) != 0 : fflush(f) != 0;
	return bad ? err_set(ERR_IO, "cannot write '%s'", path ? path : "standard output") : 0;
}

/* Parse "L.H" into layer and head. */
static bool
parse_head(const char *s, long *layer, long *head)
{
	char *end;
	*layer = strtol(s, &end, 10);
	if (end == s || *end != '.' || *layer < 0)
		return false;
	const char *p = end + 1;
	*head = strtol(p, &end, 10);
	return end != p && !*end && *head >= 0;
}

static void
free_run(struct ana_run *a)
{
	free(a->samples);
	free(a->values);
	free(a->lvalues);
	free(a->sum);
	free(a->lsum);
	free(a->roles);
	free(a->js);
	free(a->xy);
}

/* Comma-separated metric names into want[]; false (usage error printed)
 * for an unknown name. */
static bool
parse_metrics(const char *list, bool *want, bool *want_layer)
{
	char *copy = strdup(list), *save = NULL;
	bool ok = copy != NULL;
	for (char *tok = copy ? strtok_r(copy, ",", &save) : NULL; tok && ok;
	     tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ')
			tok++;
		int m = ana_metric_find(tok);
		if (m >= 0) {
			want[m] = true;
			continue;
		}
		bool layer = false;
		for (int q = 0; q < ANA_LAYER_METRIC_COUNT; q++)
			if (strcmp(tok, ana_layer_metric_name((enum ana_layer_metric)q)) == 0)
				layer = true;
		if (layer) {
			*want_layer = true;
			continue;
		}
		cli_usage_error("analyze", "unknown metric '%s'", tok);
		ok = false;
	}
	free(copy);
	return ok;
}

int
cmd_analyze(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, 0, 'b' },
		{ "run", required_argument, 0, 'r' },
		{ "metrics", required_argument, 0, 'm' },
		{ "format", required_argument, 0, 'f' },
		{ "output", required_argument, 0, 'o' },
		{ "rank", required_argument, 0, 'R' },
		{ "limit", required_argument, 0, 'l' },
		{ "similarity", required_argument, 0, 'S' },
		{ "similarity-png", required_argument, 0, 'P' },
		{ "color", required_argument, 0, 'c' },
		{ "colour", required_argument, 0, 'c' },
		{ "rollout", no_argument, 0, 'O' },
		{ "flow", no_argument, 0, 'F' },
		{ "max-tokens", required_argument, 0, 'x' },
		{ "quiet", no_argument, 0, 'q' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *db = NULL, *metrics = NULL, *out = NULL, *sim_csv = NULL, *sim_png = NULL;
	const char *rank_metric = NULL;
	long run = 0, limit = 10, rank_layer = -1, rank_head = -1, max_tokens = 128;
	enum out_fmt fmt = OUT_TABLE;
	bool quiet = false, by_role = false, rollout = false, flow = false;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+o:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'b': db = optarg; break;
		case 'm': metrics = optarg; break;
		case 'o': out = optarg; break;
		case 'S': sim_csv = optarg; break;
		case 'P': sim_png = optarg; break;
		case 'O': rollout = true; break;
		case 'F': flow = true; break;
		case 'q': quiet = true; break;
		case 'r':
			if (!cli_parse_long("analyze", "--run", optarg, 1, INT64_MAX, &run))
				return 2;
			break;
		case 'l':
			if (!cli_parse_long("analyze", "--limit", optarg, 1, 1L << 40, &limit))
				return 2;
			break;
		case 'x':
			if (!cli_parse_long("analyze", "--max-tokens", optarg, 1, 1 << 16, &max_tokens))
				return 2;
			break;
		case 'f':
			if (strcmp(optarg, "table") == 0)
				fmt = OUT_TABLE;
			else if (strcmp(optarg, "csv") == 0)
				fmt = OUT_CSV;
			else if (strcmp(optarg, "json") == 0)
				fmt = OUT_JSON;
			else
				return cli_usage_error("analyze", "--format is table, csv or json, not "
				                       "'%s'", optarg);
			break;
		case 'c':
			if (strcmp(optarg, "layer") == 0)
				by_role = false;
			else if (strcmp(optarg, "role") == 0)
				by_role = true;
			else
				return cli_usage_error("analyze", "--color is layer or role, not '%s'",
				                       optarg);
			break;
		case 'R':
			if (!parse_head(optarg, &rank_layer, &rank_head))
				return cli_usage_error("analyze", "--rank takes L.H (layer.head, e.g. "
				                       "1.0) and a metric, not '%s'", optarg);
			if (optind >= argc || argv[optind][0] == '-')
				return cli_usage_error("analyze", "--rank %s needs a metric after it",
				                       optarg);
			rank_metric = argv[optind++];
			break;
		case 'h': fputs(analyze_help, stdout); return 0;
		default:
			return cli_usage_error("analyze", "unknown or incomplete option '%s'",
			                       argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error("analyze", "unexpected argument '%s'", argv[optind]);
	if (!db)
		return cli_usage_error("analyze", "--db is required");

	struct ana_run a = { .rollout = rollout, .flow = flow, .max_tokens = (int)max_tokens };
	int rank_m = -1;
	if (rank_metric) {
		rank_m = ana_metric_find(rank_metric);
		if (rank_m < 0)
			return cli_usage_error("analyze", "--rank: unknown metric '%s' (per-head "
			                       "metrics only)", rank_metric);
	}
	if (metrics) {
		if (!parse_metrics(metrics, a.want, &a.want_layer))
			return 2;
		a.explicit_metrics = true;
	} else if (rank_m >= 0) {
		a.explicit_metrics = true;
	} else {
		for (int m = 0; m < ANA_METRIC_COUNT; m++)
			a.want[m] = true;
		a.want_layer = true;
	}
	if (rank_m >= 0)
		a.want[rank_m] = true;
	memcpy(a.show, a.want, sizeof a.show);
	if (rank_m < 0) /* roles are always decided on their own metrics */
		for (int r = 0; r < ANA_ROLE_COUNT; r++)
			a.want[ana_role_rule((enum ana_role)r)->metric] = true;
	for (size_t q = 0; q < sizeof stat_twins / sizeof stat_twins[0]; q++)
		if (a.want[stat_twins[q].metric])
			a.want[stat_twins[q].source] = true;
	a.similarity = sim_csv || sim_png;

	int rc;
	char model_name[256];
	a.s = store_open(db, 0, &rc);
	if (!a.s)
		return cli_fail(rc);
	a.run_id = run;
	if (!a.run_id && (rc = store_latest_run(a.s, &a.run_id)) != 0) {
		err_set(rc, "database '%s' has no runs yet", db);
		goto out;
	}
	struct store_run_info ri;
	struct store_model_info mi;
	if ((rc = store_get_run(a.s, a.run_id, &ri)) != 0) {
		err_set(rc, "database '%s' has no run %" PRId64, db, a.run_id);
		goto out;
	}
	if ((rc = store_get_model(a.s, ri.model_id, &mi)) != 0)
		goto out;
	snprintf(model_name, sizeof model_name, "%s", mi.name);
	a.model_name = model_name;
	a.L = mi.n_layer;
	a.H = mi.n_head;
	a.causal = strcmp(mi.arch, "bert") != 0;
	if (a.L < 1 || a.H < 1 || (size_t)a.L * a.H > 1u << 16) {
		rc = err_set(ERR_FORMAT, "run %" PRId64 ": the model has %d layers of %d heads",
		             a.run_id, a.L, a.H);
		goto out;
	}
	if (rank_m >= 0 && (rank_layer >= a.L || rank_head >= a.H)) {
		rc = err_set(ERR_ARG, "--rank %ld.%ld: the model has %d layers of %d heads",
		             rank_layer, rank_head, a.L, a.H);
		goto out;
	}
	if ((rc = store_each_sample(a.s, a.run_id, collect_sample, &a)) != 0)
		goto out;
	if (a.n_samples == 0) {
		rc = err_set(ERR_NOTFOUND, "run %" PRId64 " has no samples (status '%s'): "
		             "nothing to analyse", a.run_id, ri.status);
		goto out;
	}

	/* the values table: one slot per wanted metric */
	const size_t LH = (size_t)a.L * a.H, N = a.n_samples;
	for (int m = 0; m < ANA_METRIC_COUNT; m++)
		a.slot[m] = a.want[m] ? a.n_slots++ : -1;
	size_t nvals;
	if (ckd_mul3_size(&nvals, N, LH, (size_t)(a.n_slots ? a.n_slots : 1)) ||
	    !(a.values = malloc(nvals * sizeof *a.values)) ||
	    !(a.lvalues = malloc(N * a.L * ANA_LAYER_METRIC_COUNT * sizeof *a.lvalues))) {
		rc = err_set(ERR_NOMEM, "out of memory for %zu samples x %zu heads", N, LH);
		goto out;
	}
	for (size_t k = 0; k < nvals; k++)
		a.values[k] = NAN;
	for (size_t k = 0; k < N * a.L * ANA_LAYER_METRIC_COUNT; k++)
		a.lvalues[k] = NAN;
	if (a.similarity && !(a.js = calloc(LH * LH, sizeof *a.js))) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}

	/* the recorder's statistics: read, never decoded from blobs */
	unsigned char *have = calloc(N * LH, 1);
	if (!have) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	for (int m = 0; m < ANA_METRIC_COUNT && !rc; m++) {
		const struct ana_metric_info *info = ana_metric_info((enum ana_metric)m);
		if (!a.want[m] || info->stat < 0)
			continue;
		memset(have, 0, N * LH);
		struct stat_fill sf = { &a, m, have };
		rc = store_each_head_stat(a.s, a.run_id, info->name, fill_stat, &sf);
	}
	/* `have` now marks heads with the last statistic read; the recorder
	 * writes all of them together, so it stands for every one */
	if (rc) {
		free(have);
		goto out;
	}

	struct progress pr;
	progress_init(&pr, "samples", quiet);
	double t0 = util_now();
	long tokens = 0;
	const size_t batch = 64;
	for (size_t i = 0; i < N && !rc; i++) {
		if (i % batch == 0 && (rc = store_begin(a.s)) != 0)
			break;
		rc = analyse_sample(&a, i, have);
		if (rc) {
			store_rollback(a.s);
			break;
		}
		if ((i % batch == batch - 1 || i + 1 == N) && (rc = store_commit(a.s)) != 0)
			break;
		tokens += a.samples[i].n_tok;
		progress_update(&pr, (long)i + 1, (long)N, tokens);
	}
	progress_finish(&pr);
	free(have);
	if (rc)
		goto out;
	double secs = util_now() - t0;

	/* what could not be computed */
	int missing[ANA_METRIC_COUNT], n_missing = 0;
	for (int m = 0; m < ANA_METRIC_COUNT; m++)
		if (a.show[m] && a.computed[m] == 0)
			missing[n_missing++] = m;
	if (a.explicit_metrics && n_missing) {
		const struct ana_metric_info *mi0 = ana_metric_info((enum ana_metric)missing[0]);
		const char *why = mi0->needs & ANA_NEED_NORM
			? "norm-based maps (record with --capture "
			  "'blocks.*.attn.hook_norm_pattern,blocks.*.attn.hook_pattern')"
			: mi0->needs & (ANA_NEED_TOKENS | ANA_NEED_CLASSES) && a.no_tokens
			? "stored tokens"
			: "stored attention maps (the run was recorded with --capture that left "
			  "them out)";
		rc = err_set(ERR_NOTFOUND, "run %" PRId64 ": cannot compute '%s': no sample has %s",
		             a.run_id, mi0->name, why);
		goto out;
	}
	if (a.explicit_metrics && a.want_layer && !a.lcomputed) {
		rc = err_set(ERR_NOTFOUND, "run %" PRId64 ": no sample has norm-based maps (record "
		             "with --capture 'blocks.*.attn.hook_norm_pattern')", a.run_id);
		goto out;
	}
	if (!quiet) {
		char list[1024];
		size_t off = 0;
		list[0] = '\0';
		for (int k = 0; k < n_missing; k++) {
			const struct ana_metric_info *im = ana_metric_info((enum ana_metric)missing[k]);
			if (im->needs & ANA_NEED_NORM)
				continue; /* norm maps are an opt-in capture */
			if (strstr(im->name, "_mul_") || strstr(im->name, "_abs"))
				continue; /* named with their base metric below */
			int w = snprintf(list + off, sizeof list - off, "%s%s", off ? ", " : "",
			                 im->name);
			if (w > 0 && (size_t)w < sizeof list - off)
				off += (size_t)w;
		}
		if (off)
			fprintf(stderr, "attnscope analyze: note: no sample of run %" PRId64 " has "
			        "its attention maps stored (recorded with --capture none?): not "
			        "computed: %s and the _mul/_abs variants of the detector scores; roles "
			        "decided by them are left out\n", a.run_id, list);
		else if (a.no_maps)
			fprintf(stderr, "attnscope analyze: note: %ld of %zu samples lack some "
			        "attention maps: the metrics that need them cover the others\n",
			        a.no_maps, N);
		if (a.flow_skipped)
			fprintf(stderr, "attnscope analyze: note: flow skipped for %ld bidirectional "
			        "samples longer than --max-tokens %d\n", a.flow_skipped, a.max_tokens);
		fprintf(stderr, "analysed %zu samples of run %" PRId64 " in %.2f s%s\n", N,
		        a.run_id, secs, a.flow_done ? "" : "");
		if (a.flow_done)
			fprintf(stderr, "attention flow: %ld samples, %.3f s per sample\n",
			        a.flow_done, a.flow_seconds / a.flow_done);
	}

	if ((rc = summarise(&a)) != 0 || (rc = store_results(&a)) != 0)
		goto out;
	if (a.similarity) {
		if (a.js_samples == 0) {
			rc = err_set(ERR_NOTFOUND, "run %" PRId64 ": head similarity needs every "
			             "head's map of a sample, and no sample has them all", a.run_id);
			goto out;
		}
		if ((rc = similarity_finish(&a)) != 0)
			goto out;
		if (sim_csv && (rc = write_similarity_csv(sim_csv, &a)) != 0)
			goto out;
		if (sim_png && (rc = write_similarity_png(sim_png, &a, by_role)) != 0)
			goto out;
	}
	if ((rollout || flow) && a.no_maps == (long)N) {
		rc = err_set(ERR_NOTFOUND, "run %" PRId64 ": rollout and flow need every head's "
		             "map of a sample, and no sample has them all", a.run_id);
		goto out;
	}

	FILE *f = open_out(out);
	if (!f) {
		rc = ERR_IO;
		goto out;
	}
	if (rank_m >= 0)
		rc = write_rank(f, &a, (int)rank_layer, (int)rank_head, rank_m, limit, fmt);
	else if (fmt == OUT_JSON)
		rc = write_json(f, &a);
	else if (fmt == OUT_CSV)
		rc = write_csv(f, &a);
	else
		rc = write_table(f, &a);
	int rc2 = close_out(f, out);
	if (!rc)
		rc = rc2;
out:
	store_close(a.s);
	free_run(&a);
	return rc ? cli_fail(rc) : 0;
}

/*
 * metrics.c — the per-sample metrics of `attnscope analyze` (TransformerLens
 * detector scores, Clark et al.'s token classes, Gu et al.'s sink,
 * normalised entropy, norm-based shares), their run summaries and the head
 * roles. Definitions in analysis.h; plain arrays in, numbers out.
 */
#include "analysis.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==== the metric table ================================================ */

#define M_MAP ANA_NEED_MAP
#define M_TOK (ANA_NEED_MAP | ANA_NEED_TOKENS)
#define M_CLS (ANA_NEED_MAP | ANA_NEED_CLASSES)

/* The eight variants of one detection pattern (see enum ana_variant). */
#define DETECTOR(first, name, needs, stat, what)                                  \
	[first + 0] = { name, needs, stat, "TransformerLens " what " score (mul)" },    \
	[first + 1] = { name "_mul_nobos", needs, -1,                                   \
	                "TransformerLens " what " score (mul, BOS column excluded)" },  \
	[first + 2] = { name "_mul_nocur", needs, -1,                                   \
	                "TransformerLens " what " score (mul, current token excluded)" }, \
	[first + 3] = { name "_mul_nobos_nocur", needs, -1,                             \
	                "TransformerLens " what " score (mul, BOS and current excluded)" }, \
	[first + 4] = { name "_abs", needs, -1,                                         \
	                "TransformerLens " what " score (abs)" },                       \
	[first + 5] = { name "_abs_nobos", needs, -1,                                   \
	                "TransformerLens " what " score (abs, BOS column excluded)" },  \
	[first + 6] = { name "_abs_nocur", needs, -1,                                   \
	                "TransformerLens " what " score (abs, current token excluded)" }, \
	[first + 7] = { name "_abs_nobos_nocur", needs, -1,                             \
	                "TransformerLens " what " score (abs, BOS and current excluded)" }

static const struct ana_metric_info infos[ANA_METRIC_COUNT] = {
	[ANA_M_ENTROPY] = { "entropy", M_MAP, ANA_ENTROPY,
		"mean row entropy, nats" },
	[ANA_M_ENTROPY_NORM] = { "entropy_norm", M_MAP, -1,
		"mean over rows i>=1 of entropy / ln(i+1): 1 = uniform" },
	[ANA_M_DISTANCE] = { "distance", M_MAP, ANA_DISTANCE,
		"mean attention distance |i-j|, tokens" },
	[ANA_M_FIRST_TOKEN] = { "first_token", M_MAP, ANA_FIRST_TOKEN,
		"mean attention to position 0" },
	[ANA_M_MAX_WEIGHT] = { "max_weight", M_MAP, ANA_MAX_WEIGHT,
		"mean of the row maxima" },
	[ANA_M_SELF] = { "self", M_MAP, ANA_SELF,
		"attention on the diagonal / total" },
	DETECTOR(ANA_M_PREV_TOKEN, "prev_token", M_MAP, ANA_PREV_TOKEN, "previous-token"),
	DETECTOR(ANA_M_DUPLICATE_TOKEN, "duplicate_token", M_TOK, -1, "duplicate-token"),
	DETECTOR(ANA_M_INDUCTION, "induction", M_TOK, -1, "induction"),
	[ANA_M_CLARK_SPECIAL] = { "clark_special", M_CLS, -1,
		"Clark: mean attention to special tokens (BOS/EOS/[CLS]/[SEP])" },
	[ANA_M_CLARK_PUNCT] = { "clark_punct", M_CLS, -1,
		"Clark: mean attention to punctuation" },
	[ANA_M_CLARK_SELF] = { "clark_self", M_MAP, -1,
		"Clark: mean attention to the token itself" },
	[ANA_M_CLARK_PREV] = { "clark_prev", M_MAP, -1,
		"Clark: mean attention to the previous token" },
	[ANA_M_CLARK_NEXT] = { "clark_next", M_MAP, -1,
		"Clark: mean attention to the next token" },
	[ANA_M_SINK] = { "sink", M_MAP, -1,
		"Gu et al.: 1 if the first token's importance exceeds 0.3 (mean = sink rate)" },
	[ANA_M_NORM_FIRST_TOKEN] = { "norm_first_token", ANA_NEED_NORM, -1,
		"Kobayashi: share of the norm-based attention on position 0" },
	[ANA_M_NORM_DISTANCE] = { "norm_distance", ANA_NEED_NORM, -1,
		"Kobayashi: norm-weighted attention distance, tokens" },
};

const struct ana_metric_info *
ana_metric_info(enum ana_metric m)
{
	return (unsigned)m < ANA_METRIC_COUNT ? &infos[m] : NULL;
}

int
ana_metric_find(const char *name)
{
	for (int m = 0; name && m < ANA_METRIC_COUNT; m++)
		if (strcmp(infos[m].name, name) == 0)
			return m;
	return -1;
}

static const char *const layer_names[ANA_LAYER_METRIC_COUNT] = {
	[ANA_LM_NORM_FIRST_TOKEN] = "layer_norm_first_token",
	[ANA_LM_NORM_DISTANCE] = "layer_norm_distance",
};

const char *
ana_layer_metric_name(enum ana_layer_metric m)
{
	return (unsigned)m < ANA_LAYER_METRIC_COUNT ? layer_names[m] : NULL;
}

/* ==== token classes ==================================================== */

static bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

static bool
is_ascii_punct(char c)
{
	return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') ||
	       (c >= '[' && c <= '`') || (c >= '{' && c <= '~');
}

unsigned
ana_token_class(const char *piece)
{
	static const char *const specials[] = {
		"<s>", "</s>", "<bos>", "<eos>", "[CLS]", "[SEP]",
	};
	if (!piece)
		return 0;
	/* trim ASCII white space */
	const char *b = piece, *e = piece + strlen(piece);
	while (b < e && is_space(*b))
		b++;
	while (e > b && is_space(e[-1]))
		e--;
	size_t len = (size_t)(e - b);
	for (size_t k = 0; k < sizeof specials / sizeof specials[0]; k++)
		if (len == strlen(specials[k]) && memcmp(b, specials[k], len) == 0)
			return ANA_TOK_SPECIAL;
	if (len >= 4 && b[0] == '<' && b[1] == '|' && e[-2] == '|' && e[-1] == '>')
		return ANA_TOK_SPECIAL;
	/* one word-boundary marker: U+2581 (E2 96 81), U+0120 (C4 A0), "##" */
	if (len >= 3 && memcmp(b, "\xe2\x96\x81", 3) == 0)
		b += 3;
	else if (len >= 2 && (memcmp(b, "\xc4\xa0", 2) == 0 || memcmp(b, "##", 2) == 0))
		b += 2;
	if (b == e)
		return 0;
	for (const char *p = b; p < e; p++)
		if (!is_ascii_punct(*p))
			return 0;
	return ANA_TOK_PUNCT;
}

/* ==== helpers ========================================================== */

double
ana_round_digits(double x, int digits)
{
	char buf[64];
	/* beyond 2^53 every double is an integer already: nothing to round */
	if (!isfinite(x) || fabs(x) >= 9007199254740992.0 || digits < 0 || digits > 17)
		return x;
	/* glibc prints the exact binary value correctly rounded, ties to even:
	 * the same decimal Python's round() picks (CPython uses dtoa mode 3) */
	snprintf(buf, sizeof buf, "%.*f", digits, x);
	return strtod(buf, NULL);
}

long
ana_find_nonfinite(const float *a, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (!isfinite(a[i]))
			return (long)i;
	return -1;
}

/*
 * Every variant of every pattern in one pass over the map. Entries fall
 * into four categories by whether they are in column 0 (bit 0) and on the
 * diagonal (bit 1); variant v keeps a category c unless an exclusion of v
 * hits it. For the abs measure, Σ|A − P| = Σ A − Σ_{P=1} A + Σ_{P=1} |A − 1|
 * (A >= 0: softmax weights), so only the marked entries need extra work.
 * Above a causal diagonal both A and P are zero and add nothing.
 */
struct det_sums {
	double den[4];                      /* Σ A                 */
	double num[ANA_PAT_COUNT][4];       /* Σ_{P=1} A           */
	double one[ANA_PAT_COUNT][4];       /* Σ_{P=1} |A − 1|     */
};

static inline void
det_add(struct det_sums *d, int c, double a, bool prev, bool dup, bool ind)
{
	d->den[c] += a;
	if (prev) {
		d->num[ANA_PAT_PREV][c] += a;
		d->one[ANA_PAT_PREV][c] += fabs(a - 1);
	}
	if (dup) {
		d->num[ANA_PAT_DUPLICATE][c] += a;
		d->one[ANA_PAT_DUPLICATE][c] += fabs(a - 1);
	}
	if (ind) {
		d->num[ANA_PAT_INDUCTION][c] += a;
		d->one[ANA_PAT_INDUCTION][c] += fabs(a - 1);
	}
}

static void
detector_sums(const float *A, int n, bool causal, const int32_t *tok, struct det_sums *d)
{
	memset(d, 0, sizeof *d);
	for (int i = 0; i < n; i++) {
		const float *row = A + (size_t)i * n; /* (n) */
		const int32_t ti = tok ? tok[i] : 0;
		int end = causal ? i + 1 : n;
		for (int j = 0; j < end; j++) {
			bool prev = j == i - 1;
			bool dup = tok && j < i && tok[j] == ti;
			bool ind = tok && j >= 1 && j <= i && tok[j - 1] == ti;
			int c = (j == 0) | (i == j) << 1;
			double a = row[j];
			if (c || prev || dup || ind)
				det_add(d, c, a, prev, dup, ind);
			else
				d->den[0] += a; /* the common case: nothing marked */
		}
	}
}

/* The eight variants of pattern p from the sums. */
static void
detector_variants(const struct det_sums *d, int n, enum ana_pattern p,
                  double out[ANA_VAR_COUNT])
{
	for (int v = 0; v < 4; v++) {
		double nu = 0, de = 0, on = 0;
		for (int c = 0; c < 4; c++) {
			if (((v & ANA_VAR_NOBOS) && (c & 1)) || ((v & ANA_VAR_NOCUR) && (c & 2)))
				continue;
			nu += d->num[p][c];
			de += d->den[c];
			on += d->one[p][c];
		}
		out[v] = de > 0 ? nu / de : NAN;
		if (isnan(de) || isnan(nu))
			out[v] = NAN;
		out[ANA_VAR_ABS | v] = 1.0 - ana_round_digits((de - nu + on) / n, 3);
	}
}

double
ana_detector_score(const float *A, int n, const int32_t *tokens,
                   enum ana_pattern pattern, unsigned variant)
{
	double out[ANA_VAR_COUNT];

	if (!A || n < 2 || (unsigned)pattern >= ANA_PAT_COUNT || variant >= ANA_VAR_COUNT ||
	    (pattern != ANA_PAT_PREV && !tokens))
		return NAN;
	/* the causal shortcut is exact only for zero upper triangles: use the
	 * full matrix, as TransformerLens does */
	struct det_sums d;
	detector_sums(A, n, false, tokens, &d);
	detector_variants(&d, n, pattern, out);
	return out[variant];
}

/* mean over rows i >= 1 of H_i / ln(i + 1) (bidirectional: every row, ln n) */
static double
entropy_norm(const float *A, int n, bool causal)
{
	double acc = 0;
	int rows = 0;

	for (int i = causal ? 1 : 0; i < n; i++) {
		const float *row = A + (size_t)i * n; /* (n) */
		int m = causal ? i + 1 : n;           /* keys the row can see */
		if (m < 2)
			continue;
		double h = 0;
		for (int j = 0; j < m; j++) {
			double a = row[j];
			if (a > 0)
				h -= a * log(a);
			else if (a != 0)
				h = NAN; /* negative or NaN */
		}
		acc += h / log((double)m);
		rows++;
	}
	return rows ? acc / rows : NAN;
}

/* Row shares of a norm map: first-token share and distance, rows with a
 * zero total left out. */
static void
norm_shares(const float *N, int n, bool causal, double *first, double *dist)
{
	double f = 0, d = 0;
	int rows = 0;
	bool bad = false;

	for (int i = 0; i < n; i++) {
		const float *row = N + (size_t)i * n; /* (n) */
		int end = causal ? i + 1 : n;
		double r = 0, rd = 0;
		for (int j = 0; j < end; j++) {
			r += row[j];
			rd += (double)row[j] * (i > j ? i - j : j - i);
		}
		if (isnan(r) || isnan(rd))
			bad = true;
		if (!(r > 0))
			continue;
		f += row[0] / r;
		d += rd / r;
		rows++;
	}
	*first = bad || !rows ? NAN : f / rows;
	*dist = bad || !rows ? NAN : d / rows;
}

/* ==== per-sample metrics =============================================== */

static bool
any_wanted(const bool *want, int from, int to)
{
	if (!want)
		return true;
	for (int k = from; k < to; k++)
		if (want[k])
			return true;
	return false;
}

void
ana_sample_metrics(const struct ana_input *in, const bool *want,
                   double out[ANA_METRIC_COUNT])
{
	const int n = in->n;
	const float *A = in->map; /* (n, n) */

	for (int k = 0; k < ANA_METRIC_COUNT; k++)
		out[k] = NAN;
	if (n < 1)
		return;

	if (A) {
		if (!want || want[ANA_M_ENTROPY] || want[ANA_M_DISTANCE] ||
		    want[ANA_M_FIRST_TOKEN] || want[ANA_M_MAX_WEIGHT] || want[ANA_M_SELF]) {
			double st[ANA_STAT_COUNT];
			ana_head_stats(A, n, n, in->causal, st);
			out[ANA_M_ENTROPY] = st[ANA_ENTROPY];
			out[ANA_M_DISTANCE] = st[ANA_DISTANCE];
			out[ANA_M_FIRST_TOKEN] = st[ANA_FIRST_TOKEN];
			out[ANA_M_MAX_WEIGHT] = st[ANA_MAX_WEIGHT];
			out[ANA_M_SELF] = st[ANA_SELF];
		}
		if (!want || want[ANA_M_ENTROPY_NORM])
			out[ANA_M_ENTROPY_NORM] = entropy_norm(A, n, in->causal);

		/* detector scores: undefined for one token (TransformerLens
		 * asserts 1 < seq_len) */
		if (n >= 2 && any_wanted(want, ANA_M_PREV_TOKEN, ANA_M_CLARK_SPECIAL)) {
			struct det_sums d;
			detector_sums(A, n, in->causal, in->tokens, &d);
			for (int p = 0; p < ANA_PAT_COUNT; p++)
				if (p == ANA_PAT_PREV || in->tokens)
					detector_variants(&d, n, (enum ana_pattern)p,
					                  out + ANA_M_PREV_TOKEN + ANA_VAR_COUNT * p);
		}

		/* Clark et al.: Σ (A ∘ S) / n */
		double spec = 0, punct = 0, self = 0, prev = 0, next = 0, first = 0;
		for (int i = 0; i < n; i++) {
			const float *row = A + (size_t)i * n; /* (n) */
			int end = in->causal ? i + 1 : n;
			if (in->classes)
				for (int j = 0; j < end; j++) {
					if (in->classes[j] & ANA_TOK_SPECIAL)
						spec += row[j];
					if (in->classes[j] & ANA_TOK_PUNCT)
						punct += row[j];
				}
			self += row[i];
			if (i >= 1)
				prev += row[i - 1];
			if (i + 1 < n)
				next += row[i + 1];
			first += row[0];
		}
		if (in->classes) {
			out[ANA_M_CLARK_SPECIAL] = spec / n;
			out[ANA_M_CLARK_PUNCT] = punct / n;
		}
		out[ANA_M_CLARK_SELF] = self / n;
		out[ANA_M_CLARK_PREV] = prev / n;
		out[ANA_M_CLARK_NEXT] = next / n;

		/* Gu et al.: α_0 = mean over the queries that see key 0 (all) */
		double alpha = first / n;
		if (n >= 2)
			out[ANA_M_SINK] = isnan(alpha) ? NAN : alpha > ANA_SINK_EPSILON ? 1.0 : 0.0;
	}

	if (in->norm)
		norm_shares(in->norm, n, in->causal, &out[ANA_M_NORM_FIRST_TOKEN],
		            &out[ANA_M_NORM_DISTANCE]);

	/* leave unwanted metrics NaN, so callers never store what they did
	 * not ask for */
	if (want)
		for (int k = 0; k < ANA_METRIC_COUNT; k++)
			if (!want[k])
				out[k] = NAN;
}

void
ana_layer_metrics(const float *norms, int n_head, int n,
                  double out[ANA_LAYER_METRIC_COUNT])
{
	double f = 0, d = 0;
	int rows = 0;
	bool bad = false;
	const size_t nn = (size_t)n * n;

	for (int i = 0; i < n; i++) {
		double r = 0, r0 = 0, rd = 0;
		for (int h = 0; h < n_head; h++) {
			const float *row = norms + h * nn + (size_t)i * n; /* (n) */
			for (int j = 0; j < n; j++) {
				r += row[j];
				rd += (double)row[j] * (i > j ? i - j : j - i);
			}
			r0 += row[0];
		}
		if (isnan(r) || isnan(rd))
			bad = true;
		if (!(r > 0))
			continue;
		f += r0 / r;
		d += rd / r;
		rows++;
	}
	out[ANA_LM_NORM_FIRST_TOKEN] = bad || !rows ? NAN : f / rows;
	out[ANA_LM_NORM_DISTANCE] = bad || !rows ? NAN : d / rows;
}

double
ana_induction_stripe(const float *A, int n, int first, int S)
{
	double acc = 0;
	int cnt = 0;

	if (!A || S < 1 || first < 0)
		return NAN;
	for (int i = first; i < n; i++) {
		int j = i - S + 1;
		if (j < 0 || j > i)
			return NAN;
		acc += A[(size_t)i * n + j];
		cnt++;
	}
	return cnt ? acc / cnt : NAN;
}

/* ==== summaries ======================================================== */

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	if (isnan(x) || isnan(y))
		return isnan(x) - isnan(y); /* NaN last */
	return (x > y) - (x < y);
}

/* numpy's _lerp: exact at both ends, monotone */
static double
lerp(double a, double b, double t)
{
	double diff = b - a;
	return t >= 0.5 ? b - diff * (1 - t) : a + diff * t;
}

static double
percentile(const double *v, size_t n, double q)
{
	double pos = (double)(n - 1) * q;
	size_t lo = (size_t)floor(pos);
	if (lo + 1 >= n)
		return v[n - 1];
	return lerp(v[lo], v[lo + 1], pos - (double)lo);
}

void
ana_summarize(double *v, size_t n, struct ana_summary *out)
{
	size_t m = 0;

	qsort(v, n, sizeof *v, cmp_double);
	while (m < n && !isnan(v[m]))
		m++;
	out->n = (long)m;
	if (m == 0) {
		out->mean = out->std = out->p50 = out->p90 = NAN;
		return;
	}
	double s = 0;
	for (size_t i = 0; i < m; i++)
		s += v[i];
	double mean = s / m, ss = 0;
	for (size_t i = 0; i < m; i++)
		ss += (v[i] - mean) * (v[i] - mean);
	out->mean = mean;
	out->std = sqrt(ss / m);
	out->p50 = percentile(v, m, 0.5);
	out->p90 = percentile(v, m, 0.9);
}

/* ==== roles ============================================================ */

static const struct ana_role_rule rules[ANA_ROLE_COUNT] = {
	[ANA_ROLE_PREV] = { "previous-token", ANA_M_PREV_TOKEN, false, 0.5 },
	[ANA_ROLE_INDUCTION] = { "induction", ANA_M_INDUCTION, false, 0.4 },
	[ANA_ROLE_SINK] = { "sink", ANA_M_SINK, false, 0.5 },
	[ANA_ROLE_BROAD] = { "broad", ANA_M_ENTROPY_NORM, false, 0.95 },
	[ANA_ROLE_SELF] = { "self", ANA_M_SELF, false, 0.5 },
	[ANA_ROLE_LOCAL] = { "local", ANA_M_DISTANCE, true, 2.0 },
};

const struct ana_role_rule *
ana_role_rule(enum ana_role r)
{
	return (unsigned)r < ANA_ROLE_COUNT ? &rules[r] : NULL;
}

unsigned
ana_head_roles(const double mean[ANA_METRIC_COUNT])
{
	unsigned roles = 0;

	for (int r = 0; r < ANA_ROLE_COUNT; r++) {
		double v = mean[rules[r].metric];
		if (isnan(v))
			continue;
		if (rules[r].at_most ? v <= rules[r].threshold : v >= rules[r].threshold)
			roles |= 1u << r;
	}
	/* "local" describes heads that the sharper positional roles do not */
	if (roles & (1u << ANA_ROLE_PREV | 1u << ANA_ROLE_SELF))
		roles &= ~(1u << ANA_ROLE_LOCAL);
	return roles;
}

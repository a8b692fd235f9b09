/* stats.c — row-local per-head statistics (definitions in analysis.h). */
#include "analysis.h"

#include <math.h>

static const char *const names[ANA_STAT_COUNT] = {
	[ANA_ENTROPY] = "entropy",
	[ANA_DISTANCE] = "distance",
	[ANA_FIRST_TOKEN] = "first_token",
	[ANA_PREV_TOKEN] = "prev_token",
	[ANA_SELF] = "self",
	[ANA_MAX_WEIGHT] = "max_weight",
};

const char *
ana_stat_name(enum ana_stat s)
{
	return (unsigned)s < ANA_STAT_COUNT ? names[s] : "?";
}

void
ana_head_stats(const float *A, int n_q, int n_k, bool causal, double out[ANA_STAT_COUNT])
{
	double ent = 0, dist = 0, first = 0, prev = 0, self = 0, mx = 0, total = 0;
	/* a causal map's row i holds keys 0..i + (n_k - n_q); the rest are
	 * exact zeros that add nothing to any statistic */
	int shift = n_k - n_q;
	for (int i = 0; i < n_q; i++) {
		const float *row = A + (size_t)i * n_k; /* (n_k) */
		int end = causal && i + shift + 1 < n_k ? i + shift + 1 : n_k;
		if (end < 1)
			end = 1;
		double e = 0, d = 0, s = 0;
		float m = row[0];
		bool bad = false;
		for (int j = 0; j < end; j++) {
			float a = row[j];
			if (a > 0)
				e -= (double)a * logf(a); /* float log: 1 ulp, ample for 1e-4 */
			else if (a != 0)
				bad = true; /* negative or NaN */
			d += (double)a * (i > j ? i - j : j - i);
			if (a > m || isnan(a))
				m = a;
			s += a;
		}
		ent += bad ? NAN : e;
		dist += d;
		mx += m;
		total += s;
		first += row[0];
		if (i >= 1 && i - 1 < n_k)
			prev += row[i - 1];
		if (i < n_k)
			self += row[i];
	}
	out[ANA_ENTROPY] = ent / n_q;
	out[ANA_DISTANCE] = dist / n_q;
	out[ANA_FIRST_TOKEN] = first / n_q;
	out[ANA_PREV_TOKEN] = total > 0 ? prev / total : NAN;
	out[ANA_SELF] = total > 0 ? self / total : NAN;
	out[ANA_MAX_WEIGHT] = mx / n_q;
}

const char *
ana_align_name(enum ana_align a)
{
	static const char *const align_names[ANA_ALIGN_COUNT] = {
		[ANA_ALIGN_MONOTONIC] = "monotonicity",
		[ANA_ALIGN_COVERAGE] = "coverage",
		[ANA_ALIGN_DIAGONAL] = "diagonality",
	};
	return (unsigned)a < ANA_ALIGN_COUNT ? align_names[a] : "?";
}

void
ana_cross_alignment(const float *A, int n_q, int n_k, double out[ANA_ALIGN_COUNT])
{
	int prev = -1, mono = 0, covered = 0;
	double diag = 0;
	for (int t = 0; t < n_q; t++) {
		const float *row = A + (size_t)t * n_k; /* (n_k) */
		int am = 0;
		for (int s = 1; s < n_k; s++)
			if (row[s] > row[am])
				am = s;
		if (t > 0 && am >= prev)
			mono++;
		prev = am;
		double x = n_k > 1 ? (double)am / (n_k - 1) : 0, y = n_q > 1 ? (double)t / (n_q - 1) : 0;
		diag += fabs(x - y);
	}
	for (int s = 0; s < n_k; s++) {
		double col = 0;
		for (int t = 0; t < n_q; t++)
			col += A[(size_t)t * n_k + s];
		covered += col >= 0.5;
	}
	out[ANA_ALIGN_MONOTONIC] = n_q > 1 ? (double)mono / (n_q - 1) : 1.0;
	out[ANA_ALIGN_COVERAGE] = (double)covered / n_k;
	out[ANA_ALIGN_DIAGONAL] = n_q > 1 && n_k > 1 ? 1.0 - diag / n_q : 1.0;
}

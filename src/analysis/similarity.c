/*
 * similarity.c — how alike two heads attend: Clark et al.'s Jensen-Shannon
 * head distance, accumulated over samples, and classical multidimensional
 * scaling to lay the heads out in two dimensions (definitions in
 * analysis.h). Eigenvectors by subspace iteration and Jacobi rotations:
 * no LAPACK.
 */
#include "analysis.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

/* ==== Jensen-Shannon ==================================================== */

double
ana_js_pair(const float *P, const float *Q, int n)
{
	const double lo = 0.001 / n;
	const size_t nn = (size_t)n * n;
	double js = 0;

	for (size_t k = 0; k < nn; k++) {
		if (P[k] == Q[k])
			continue; /* p = q: the term is exactly 0 */
		double p = lo + 0.999 * P[k], q = lo + 0.999 * Q[k], m = (p + q) / 2;
		js += (p * log(p / m) + q * log(q / m)) / 2;
	}
	return js;
}

int
ana_js_accumulate(const float *const *maps, int n_heads, int n, double *D)
{
	const double lo = 0.001 / n;
	const size_t nn = (size_t)n * n;
	size_t count;

	if (ckd_mul_size(&count, nn, (size_t)n_heads) || count > SIZE_MAX / (2 * sizeof(double)))
		return err_set(ERR_NOMEM, "head similarity: %d heads of %d tokens are too many",
		               n_heads, n);
	/* smoothed values and p ln p, once per head: the pair loop then needs
	 * one log per entry */
	double *sm = malloc(count * sizeof *sm);   /* (n_heads, n, n) */
	double *plp = malloc(count * sizeof *plp); /* (n_heads, n, n) */
	if (!sm || !plp) {
		free(sm);
		free(plp);
		return err_set(ERR_NOMEM, "head similarity: out of memory (%d heads, %d tokens)",
		               n_heads, n);
	}
	for (int h = 0; h < n_heads; h++)
		for (size_t k = 0; k < nn; k++) {
			double p = lo + 0.999 * maps[h][k];
			sm[h * nn + k] = p;
			plp[h * nn + k] = p * log(p);
		}
	for (int a = 0; a < n_heads; a++)
		for (int b = a + 1; b < n_heads; b++) {
			const float *Pa = maps[a], *Pb = maps[b];
			const double *pa = sm + a * nn, *pb = sm + b * nn;
			const double *la = plp + a * nn, *lb = plp + b * nn;
			double js = 0;
			for (size_t k = 0; k < nn; k++) {
				if (Pa[k] == Pb[k])
					continue;
				double s = pa[k] + pb[k];
				/* p ln(p/m) + q ln(q/m) = p ln p + q ln q − (p + q) ln m */
				js += la[k] + lb[k] - s * log(s / 2);
			}
			js /= 2;
			D[(size_t)a * n_heads + b] += js;
			D[(size_t)b * n_heads + a] += js;
		}
	free(sm);
	free(plp);
	return 0;
}

/* ==== eigenvectors ====================================================== */

/*
 * Cyclic Jacobi on a symmetric p x p matrix H (destroyed): eigenvalues in
 * lam[p], eigenvectors in the columns of V [p, p].
 */
static void
jacobi(double *H, int p, double *lam, double *V)
{
	for (int i = 0; i < p; i++)
		for (int j = 0; j < p; j++)
			V[i * p + j] = i == j;
	for (int sweep = 0; sweep < 100; sweep++) {
		double off = 0, all = 0;
		for (int i = 0; i < p; i++)
			for (int j = 0; j < p; j++) {
				all += H[i * p + j] * H[i * p + j];
				if (i != j)
					off += H[i * p + j] * H[i * p + j];
			}
		if (off <= 1e-30 * all || off == 0)
			break;
		for (int a = 0; a < p; a++)
			for (int b = a + 1; b < p; b++) {
				double hab = H[a * p + b];
				if (fabs(hab) < 1e-300)
					continue;
				/* the rotation that zeroes H[a][b] (Golub & Van Loan 8.4) */
				double tau = (H[b * p + b] - H[a * p + a]) / (2 * hab);
				double t = (tau >= 0 ? 1 : -1) / (fabs(tau) + sqrt(1 + tau * tau));
				double c = 1 / sqrt(1 + t * t), s = t * c;
				for (int k = 0; k < p; k++) { /* H = H J */
					double x = H[k * p + a], y = H[k * p + b];
					H[k * p + a] = c * x - s * y;
					H[k * p + b] = s * x + c * y;
				}
				for (int k = 0; k < p; k++) { /* H = J^T H */
					double x = H[a * p + k], y = H[b * p + k];
					H[a * p + k] = c * x - s * y;
					H[b * p + k] = s * x + c * y;
				}
				for (int k = 0; k < p; k++) { /* V = V J */
					double x = V[k * p + a], y = V[k * p + b];
					V[k * p + a] = c * x - s * y;
					V[k * p + b] = s * x + c * y;
				}
			}
	}
	for (int i = 0; i < p; i++)
		lam[i] = H[i * p + i];
}

/* deterministic numbers in [-1, 1) */
static double
rnd(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return (double)(*s >> 11) / 4503599627370496.0 - 1.0;
}

/*
 * Orthonormalise the p columns of Q [n, p] (modified Gram-Schmidt, twice);
 * a column that vanishes (B has lower rank) is replaced by a random one.
 */
static void
orthonormalise(double *Q, int n, int p, uint64_t *seed)
{
	for (int c = 0; c < p; c++) {
		for (int attempt = 0; attempt < 4; attempt++) {
			double before = 0;
			for (int i = 0; i < n; i++)
				before += Q[i * p + c] * Q[i * p + c];
			for (int pass = 0; pass < 2; pass++)
				for (int d = 0; d < c; d++) {
					double dot = 0;
					for (int i = 0; i < n; i++)
						dot += Q[i * p + c] * Q[i * p + d];
					for (int i = 0; i < n; i++)
						Q[i * p + c] -= dot * Q[i * p + d];
				}
			double nrm = 0;
			for (int i = 0; i < n; i++)
				nrm += Q[i * p + c] * Q[i * p + c];
			if (nrm > 1e-20 * before && nrm > 1e-280) {
				nrm = 1 / sqrt(nrm);
				for (int i = 0; i < n; i++)
					Q[i * p + c] *= nrm;
				break;
			}
			for (int i = 0; i < n; i++)
				Q[i * p + c] = rnd(seed);
		}
	}
}

/* out [n, p] = B [n, n] · Q [n, p] */
static void
matmul_nnp(const double *B, const double *Q, int n, int p, double *out)
{
	for (int i = 0; i < n; i++) {
		double *o = out + (size_t)i * p;
		for (int c = 0; c < p; c++)
			o[c] = 0;
		for (int k = 0; k < n; k++) {
			double b = B[(size_t)i * n + k];
			const double *q = Q + (size_t)k * p;
			for (int c = 0; c < p; c++)
				o[c] += b * q[c];
		}
	}
}

int
ana_mds(const double *D, int n, int dims, double *X, double *eigvals)
{
	if (!D || !X || n < 1 || dims < 1 || dims > n)
		return err_set(ERR_ARG, "mds: bad arguments (n %d, dims %d)", n, dims);
	int p = dims + 8 < n ? dims + 8 : n;
	size_t nn = (size_t)n * n;
	double *B = malloc(nn * sizeof *B);            /* (n, n) */
	double *Q = malloc((size_t)n * p * sizeof *Q); /* (n, p) */
	double *W = malloc((size_t)n * p * sizeof *W); /* (n, p) = B Q */
	double *U = malloc((size_t)n * p * sizeof *U); /* (n, p) Ritz vectors */
	double *H = malloc((size_t)p * p * sizeof *H);
	double *V = malloc((size_t)p * p * sizeof *V);
	double *lam = malloc((size_t)p * sizeof *lam);
	double *prev = malloc((size_t)p * sizeof *prev);
	double *rowm = malloc((size_t)n * sizeof *rowm);
	double *prev_row = malloc((size_t)p * sizeof *prev_row);
	int *ord = malloc((size_t)p * sizeof *ord);
	int rc = 0;
	if (!B || !Q || !W || !U || !H || !V || !lam || !prev || !rowm || !ord || !prev_row) {
		rc = err_set(ERR_NOMEM, "mds: out of memory (%d points)", n);
		goto out;
	}

	/* B = -1/2 J D² J: double centring of the squared dissimilarities */
	double grand = 0;
	for (int i = 0; i < n; i++) {
		double s = 0;
		for (int j = 0; j < n; j++)
			s += D[(size_t)i * n + j] * D[(size_t)i * n + j];
		rowm[i] = s / n;
		grand += s;
	}
	grand /= (double)nn;
	double scale = 0;
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++) {
			double d2 = D[(size_t)i * n + j] * D[(size_t)i * n + j];
			double b = -0.5 * (d2 - rowm[i] - rowm[j] + grand);
			B[(size_t)i * n + j] = b;
			scale = fabs(b) > scale ? fabs(b) : scale;
		}

	/* subspace iteration: Q ← orth(B Q), Rayleigh-Ritz on QᵀBQ */
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	for (size_t k = 0; k < (size_t)n * p; k++)
		Q[k] = rnd(&seed);
	orthonormalise(Q, n, p, &seed);
	for (int c = 0; c < p; c++)
		prev[c] = NAN;
	for (int it = 0; it < 5000; it++) {
		matmul_nnp(B, Q, n, p, W);
		for (int a = 0; a < p; a++)
			for (int b = 0; b < p; b++) {
				double s = 0;
				for (int i = 0; i < n; i++)
					s += Q[i * p + a] * W[i * p + b];
				H[a * p + b] = s;
			}
		for (int a = 0; a < p; a++) /* symmetrise rounding */
			for (int b = a + 1; b < p; b++)
				H[a * p + b] = H[b * p + a] = (H[a * p + b] + H[b * p + a]) / 2;
		jacobi(H, p, lam, V);
		/* Ritz vectors U = Q V, and B U = W V for the next step (into W's
		 * row first: Q's row is still being read) */
		for (int i = 0; i < n; i++) {
			for (int c = 0; c < p; c++) {
				double u = 0, w = 0;
				for (int k = 0; k < p; k++) {
					u += Q[i * p + k] * V[k * p + c];
					w += W[i * p + k] * V[k * p + c];
				}
				U[i * p + c] = u;
				prev_row[c] = w;
			}
			memcpy(Q + (size_t)i * p, prev_row, (size_t)p * sizeof *Q);
		}
		/* order by eigenvalue, largest first */
		for (int c = 0; c < p; c++)
			ord[c] = c;
		for (int a = 1; a < p; a++)
			for (int b = a; b > 0 && lam[ord[b]] > lam[ord[b - 1]]; b--) {
				int t = ord[b];
				ord[b] = ord[b - 1];
				ord[b - 1] = t;
			}
		bool done = p == n; /* the whole space: exact at once */
		if (!done) {
			done = true;
			for (int d = 0; d < dims; d++)
				if (!(fabs(lam[ord[d]] - prev[d]) <= 1e-13 * (scale > 0 ? scale : 1)))
					done = false;
		}
		for (int d = 0; d < dims; d++)
			prev[d] = lam[ord[d]];
		if (done || scale == 0)
			break;
		orthonormalise(Q, n, p, &seed);
	}

	for (int d = 0; d < dims; d++) {
		int c = ord[d];
		double l = lam[c] > 0 ? lam[c] : 0, big = 0, nrm = 0;
		for (int i = 0; i < n; i++)
			nrm += U[i * p + c] * U[i * p + c];
		nrm = nrm > 0 ? 1 / sqrt(nrm) : 0;
		for (int i = 0; i < n; i++)
			if (fabs(U[i * p + c]) > fabs(big) + 1e-12)
				big = U[i * p + c];
		double sign = big < 0 ? -1 : 1;
		for (int i = 0; i < n; i++)
			X[(size_t)i * dims + d] = sign * U[i * p + c] * nrm * sqrt(l);
		if (eigvals)
			eigvals[d] = lam[c];
	}
out:
	free(B);
	free(Q);
	free(W);
	free(U);
	free(H);
	free(V);
	free(lam);
	free(prev);
	free(rowm);
	free(prev_row);
	free(ord);
	return rc;
}

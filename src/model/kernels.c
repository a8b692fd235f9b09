/*
 * kernels.c — the numeric building blocks of every forward pass: matmul on
 * BLAS, RMSNorm, softmax, rotary embeddings, SwiGLU. Straight loops, shape
 * comments, no hidden state (llama2.c style); sums in double so float32
 * results stay close to float64 references.
 */
#include "model_internal.h"

#include <cblas.h>
#include <math.h>

void
kern_matmul(float *out, const float *x, const float *w, const float *bias,
            int T, int n_in, int n_out)
{
	if (T == 1) {
		/* single row: sgemv is several times faster than sgemm with M=1 */
		cblas_sgemv(CblasRowMajor, CblasNoTrans, n_out, n_in, 1.0f, w, n_in,
		            x, 1, 0.0f, out, 1);
	} else {
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, T, n_out, n_in,
		            1.0f, x, n_in, w, n_in, 0.0f, out, n_out);
	}
	if (bias)
		for (int t = 0; t < T; t++)
			for (int o = 0; o < n_out; o++)
				out[(size_t)t * n_out + o] += bias[o];
}

void
kern_rmsnorm(float *out, const float *x, const float *g, int T, int n, float eps)
{
	for (int t = 0; t < T; t++) {
		const float *xr = x + (size_t)t * n; /* (n) */
		float *o = out + (size_t)t * n;      /* (n) */
		double ss = 0.0;
		for (int i = 0; i < n; i++)
			ss += (double)xr[i] * xr[i];
		float inv = (float)(1.0 / sqrt(ss / n + eps));
		for (int i = 0; i < n; i++)
			o[i] = g[i] * (xr[i] * inv);
	}
}

void
kern_softmax(float *v, int n)
{
	float mx = v[0];
	for (int i = 1; i < n; i++)
		if (v[i] > mx)
			mx = v[i];
	double sum = 0.0;
	for (int i = 0; i < n; i++) {
		v[i] = expf(v[i] - mx);
		sum += v[i];
	}
	float inv = (float)(1.0 / sum);
	for (int i = 0; i < n; i++)
		v[i] *= inv;
}

void
kern_rope_adjacent(float *x, int T, int n_heads, int dh, float theta, const float *ff)
{
	for (int t = 0; t < T; t++) {
		for (int i = 0; i < dh; i += 2) {
			double freq = pow((double)theta, -(double)i / dh) / (ff ? ff[i / 2] : 1.0f);
			double ang = (double)t * freq;
			float c = (float)cos(ang), s = (float)sin(ang);
			for (int h = 0; h < n_heads; h++) {
				float *p = x + ((size_t)t * n_heads + h) * dh + i;
				float v0 = p[0], v1 = p[1];
				p[0] = v0 * c - v1 * s;
				p[1] = v0 * s + v1 * c;
			}
		}
	}
}

void
kern_rope_halves(float *x, int T, int n_heads, int dh, float theta, const float *ff)
{
	int half = dh / 2;
	for (int t = 0; t < T; t++) {
		for (int i = 0; i < half; i++) {
			double freq = pow((double)theta, -2.0 * i / dh) / (ff ? ff[i] : 1.0f);
			double ang = (double)t * freq;
			float c = (float)cos(ang), s = (float)sin(ang);
			for (int h = 0; h < n_heads; h++) {
				float *p = x + ((size_t)t * n_heads + h) * dh;
				float v0 = p[i], v1 = p[i + half];
				p[i] = v0 * c - v1 * s;
				p[i + half] = v0 * s + v1 * c;
			}
		}
	}
}

void
kern_swiglu(float *out, const float *gate, const float *up, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		float g = gate[i];
		out[i] = g / (1.0f + expf(-g)) * up[i];
	}
}

void
kern_layernorm(float *out, const float *x, const float *g, const float *b,
               int T, int n, float eps)
{
	for (int t = 0; t < T; t++) {
		const float *xr = x + (size_t)t * n; /* (n) */
		float *o = out + (size_t)t * n;      /* (n) */
		double mean = 0, var = 0;
		for (int i = 0; i < n; i++)
			mean += xr[i];
		mean /= n;
		for (int i = 0; i < n; i++) {
			double d = xr[i] - mean;
			var += d * d;
		}
		var /= n;
		double inv = 1.0 / sqrt(var + eps);
		for (int i = 0; i < n; i++)
			o[i] = (float)((xr[i] - mean) * inv * g[i] + (b ? b[i] : 0.0f));
	}
}

void
kern_gelu_tanh(float *x, size_t n)
{
	const float c = 0.7978845608028654f; /* sqrt(2/pi) */
	for (size_t i = 0; i < n; i++) {
		float v = x[i];
		x[i] = 0.5f * v * (1.0f + tanhf(c * (v + 0.044715f * v * v * v)));
	}
}

void
kern_gelu_erf(float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] = (float)(0.5 * x[i] * (1.0 + erf(x[i] * 0.7071067811865476)));
}

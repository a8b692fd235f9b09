/*
 * demo.c — construct the demo model's weights by hand.
 *
 * Residual stream layout (D = 512; every other dimension stays zero):
 *   E  [0, 32)   one-hot identity of the current token (32 characters)
 *   P  [32, 64)  identity of the previous token, written by L0H0
 *   B  64        1 on BOS
 *   K  65        constant 4 on every token (keeps RMSNorm's scale steady)
 *   O  [66, 98)  identity of the token L1H0 copies; read by the classifier
 * With these norms RMSNorm multiplies every value by r ≈ 5.4.
 *
 * Heads are 128 wide; RoPE turns pair i by pos · 10000^(-i/64) radians.
 * Positional heads use pairs 0-7 (fast): q is the constant K direction
 * turned back by one step (previous-token) or not at all (self), k the K
 * direction, so q·k = c Σ cos((Δ - δ) f_i) peaks at Δ = δ, 1.7 above any
 * other offset up to the context length. Content heads use pairs 40-63,
 * which turn less than 0.2 rad over 256 tokens, so matching is by content.
 */
#include "demo.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../model/model.h"
#include "../util/util.h"
#include "demo_samples.h"

enum {
	D = 512, L = 2, H = 4, DH = 128, F = 32, CTX = 256,
	N_CHAR = 32, FIRST_CHAR = 259, V = FIRST_CHAR + N_CHAR,
	E0 = 0, P0 = 32, B0 = 64, K0 = 65, O0 = 66,
};

static const char demo_chars[N_CHAR + 1] = " abcdefghijklmnopqrstuvwxyz.,'!?";

const char *
demo_samples(void)
{
	return demo_samples_txt;
}

/* deterministic normal numbers: xorshift64* and Box-Muller */
static double
rnd_normal(uint64_t *s)
{
	double u[2];
	for (int k = 0; k < 2; k++) {
		*s ^= *s >> 12;
		*s ^= *s << 25;
		*s ^= *s >> 27;
		u[k] = ((double)((*s * 2685821657736338717ULL) >> 11) + 0.5) / 9007199254740992.0;
	}
	return sqrt(-2 * log(u[0])) * cos(2 * M_PI * u[1]);
}

static int
write_tokenizer(const char *path)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return err_set(ERR_IO, "cannot write '%s'", path);
	int32_t max_len = 7;
	fwrite(&max_len, 4, 1, f);
	for (int id = 0; id < V; id++) {
		char piece[16];
		if (id == 0)
			snprintf(piece, sizeof piece, "<unk>");
		else if (id == 1)
			snprintf(piece, sizeof piece, "\n<s>\n");
		else if (id == 2)
			snprintf(piece, sizeof piece, "\n</s>\n");
		else if (id < FIRST_CHAR)
			snprintf(piece, sizeof piece, "<0x%02X>", id - 3);
		else
			snprintf(piece, sizeof piece, "%c", demo_chars[id - FIRST_CHAR]);
		float score = 0.0f;
		int32_t len = (int32_t)strlen(piece);
		fwrite(&score, 4, 1, f);
		fwrite(&len, 4, 1, f);
		fwrite(piece, 1, (size_t)len, f);
	}
	if (ferror(f) | (fclose(f) != 0))
		return err_set(ERR_IO, "cannot write '%s'", path);
	return 0;
}

int
demo_write_model(const char *model_path, const char *tokenizer_path)
{
	struct model_config c = {
		.arch = MODEL_ARCH_LLAMA, .d_model = D, .d_ff = F, .n_layer = L,
		.n_head = H, .n_kv_head = H, .vocab_size = V, .n_ctx = CTX,
		.shared_classifier = false,
	};
	c.d_head = DH;
	size_t n = model_llama2c_n_weights(&c);
	float *w = calloc(n, sizeof *w);
	if (!w)
		return err_set(ERR_NOMEM, "out of memory");
	/* views in file order */
	float *emb = w;                         /* (V, D)    */
	float *rms_att = emb + V * D;           /* (L, D)    */
	float *wq = rms_att + L * D;            /* (L, D, D) */
	float *wk = wq + L * D * D;             /* (L, D, D) */
	float *wv = wk + L * D * D;             /* (L, D, D) */
	float *wo = wv + L * D * D;             /* (L, D, D) */
	float *rms_ffn = wo + L * D * D;        /* (L, D)    */
	float *w1 = rms_ffn + L * D;            /* (L, F, D) */
	float *w2 = w1 + L * F * D;             /* (L, D, F) */
	float *w3 = w2 + L * D * F;             /* (L, F, D) */
	float *rms_final = w3 + L * F * D;      /* (D)       */
	float *wcls = rms_final + D;            /* (V, D)    */
#define Q(l, h, i, col) wq[((size_t)(l) * D + (h) * DH + (i)) * D + (col)]
#define K(l, h, i, col) wk[((size_t)(l) * D + (h) * DH + (i)) * D + (col)]
#define VV(l, h, i, col) wv[((size_t)(l) * D + (h) * DH + (i)) * D + (col)]
#define O(l, row, h, i) wo[((size_t)(l) * D + (row)) * D + (h) * DH + (i)]
	(void)w1;
	(void)w3;
	(void)w2; /* the MLPs write nothing: w2 = 0 */

	for (int i = 0; i < L * D; i++)
		rms_att[i] = rms_ffn[i] = 1.0f;
	for (int i = 0; i < D; i++)
		rms_final[i] = 1.0f;

	/* embeddings */
	for (int v = 0; v < V; v++) {
		emb[(size_t)v * D + K0] = 4.0f;
		if (v >= FIRST_CHAR)
			emb[(size_t)v * D + E0 + (v - FIRST_CHAR)] = 1.0f;
	}
	emb[(size_t)1 * D + B0] = 1.0f;

	const double r = 5.4;            /* RMSNorm's factor on these norms     */
	const double pos_c = 20.0 / 1.7; /* positional margin of 20 in the score */
	/* q_pair · k_pair / sqrt(DH) = pos_c per unit of cos: |q||k| = pos_c·√DH */
	const double qk = sqrt(pos_c * sqrt((double)DH));
	for (int i = 0; i < 8; i++) {
		double f = pow(10000.0, -(double)i / 64.0);
		/* L0H0 previous token: q turned back by one position */
		Q(0, 0, 2 * i, K0) = (float)(qk * cos(-f) / (4 * r));
		Q(0, 0, 2 * i + 1, K0) = (float)(qk * sin(-f) / (4 * r));
		K(0, 0, 2 * i, K0) = (float)(qk / (4 * r));
		/* L0H2 self */
		Q(0, 2, 2 * i, K0) = (float)(qk / (4 * r));
		K(0, 2, 2 * i, K0) = (float)(qk / (4 * r));
	}
	/* L0H1 sink: constant q meets the BOS flag in the slow pairs 48-63 */
	for (int i = 48; i < 64; i++) {
		double a = sqrt(20.0 * sqrt((double)DH) / 16.0);
		Q(0, 1, 2 * i, K0) = (float)(a / (4 * r));
		K(0, 1, 2 * i, B0) = (float)(a / r);
	}
	/* L0H3 broad: q = 0, uniform over the prefix (nothing to set) */

	/* L0H0 OV: copy the attended token's identity into P */
	for (int j = 0; j < N_CHAR; j++) {
		VV(0, 0, j, E0 + j) = 1.0f;
		O(0, P0 + j, 0, j) = (float)(1.0 / r);
	}

	/* L1H0 induction: q = E (current token), k = P (key's previous token),
	 * in the slow pairs 48-63 (dims 96-127); score 20 on a match */
	double ab = sqrt(20.0 * sqrt((double)DH) / (r * r));
	for (int j = 0; j < N_CHAR; j++) {
		Q(1, 0, 96 + j, E0 + j) = (float)ab;
		K(1, 0, 96 + j, P0 + j) = (float)ab;
	}
	/* ... and 10 on BOS, the default when nothing matches (pairs 40-47) */
	for (int i = 40; i < 48; i++) {
		double a = sqrt(10.0 * sqrt((double)DH) / 8.0);
		Q(1, 0, 2 * i, K0) = (float)(a / (4 * r));
		K(1, 0, 2 * i, B0) = (float)(a / r);
	}
	/* L1H0 OV: copy the attended token's identity into O */
	for (int j = 0; j < N_CHAR; j++) {
		VV(1, 0, j, E0 + j) = 1.0f;
		O(1, O0 + j, 0, j) = (float)(1.0 / r);
	}
	/* L1H1-3: seeded random q/k over the live dimensions, no output */
	uint64_t seed = 0x5eed5eed1234ULL;
	for (int h = 1; h < H; h++)
		for (int i = 0; i < DH; i++)
			for (int col = 0; col < O0; col++) {
				Q(1, h, i, col) = (float)(0.06 * rnd_normal(&seed));
				K(1, h, i, col) = (float)(0.06 * rnd_normal(&seed));
			}
	/* classifier: read O; 8 nats in favour of the copied character */
	for (int j = 0; j < N_CHAR; j++)
		wcls[(size_t)(FIRST_CHAR + j) * D + O0 + j] = (float)(8.0 / r);
#undef Q
#undef K
#undef VV
#undef O

	int rc = model_llama2c_write(model_path, &c, w);
	free(w);
	if (rc)
		return rc;
	return write_tokenizer(tokenizer_path);
}

/*
 * fuzz_blob.c — attention BLOB decoding (store_blob_decode), as a reader
 * meets it in a hostile database.
 *
 * Input: byte 0: encoding (low 2 bits: 0 f32, 1 f16, 2 f16z, 3 invalid)
 * and layout (bit 2: tri); bytes 1..4 n_q and 5..8 n_k (int32,
 * little-endian, any value); the rest is the blob. The map is allocated
 * with exactly n_q*n_k floats (capped at FZ_MAX_FLOATS; larger valid
 * shapes are left out), so ASan sees any write past it. A shape outside
 * 1..2^20 must be refused. A blob that decodes is encoded again and must
 * decode to the same values.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "store.h"

#define MAX_DIM (1 << 20)

static int32_t
le32(const uint8_t *p)
{
	return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	                 (uint32_t)p[3] << 24);
}

static bool
same(float a, float b)
{
	return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 9 || size > FZ_MAX_INPUT)
		return 0;
	enum store_enc enc = (enum store_enc)(data[0] & 3);
	bool tri = data[0] & 4;
	int n_q = le32(data + 1), n_k = le32(data + 5);
	const uint8_t *blob = data + 9;
	size_t bsize = size - 9;
	/* the blob as its own allocation: reads past it are caught */
	uint8_t *b = malloc(bsize ? bsize : 1);
	if (!b)
		abort();
	memcpy(b, blob, bsize);

	bool valid = (unsigned)enc < STORE_ENC_COUNT && n_q >= 1 && n_k >= 1 &&
	             n_q <= MAX_DIM && n_k <= MAX_DIM && (!tri || n_q == n_k);
	if (!valid) {
		float one;
		if (store_blob_decode(enc, tri, n_q, n_k, b, bsize, &one) == 0) {
			fprintf(stderr, "blob: shape %d x %d (enc %d, tri %d) accepted\n", n_q,
			        n_k, (int)enc, tri);
			abort();
		}
		free(b);
		return 0;
	}
	size_t n = (size_t)n_q * (size_t)n_k;
	if (n > FZ_MAX_FLOATS) {
		free(b);
		return 0;
	}
	float *map = malloc(n * sizeof *map);
	if (!map)
		abort();
	if (store_blob_decode(enc, tri, n_q, n_k, b, bsize, map) == 0) {
		if (tri)
			for (int i = 0; i < n_q; i++)
				for (int j = i + 1; j < n_k; j++)
					if (map[(size_t)i * n_k + j] != 0.0f)
						abort(); /* above the diagonal must be zero */
		void *blob2 = NULL;
		size_t size2 = 0;
		float *map2 = malloc(n * sizeof *map2);
		if (!map2)
			abort();
		if (store_blob_encode(enc, tri, n_q, n_k, map, &blob2, &size2) != 0 ||
		    store_blob_decode(enc, tri, n_q, n_k, blob2, size2, map2) != 0)
			abort();
		for (size_t i = 0; i < n; i++)
			if (!same(map[i], map2[i])) {
				fprintf(stderr, "blob: value %zu: %a decodes back as %a\n", i,
				        (double)map[i], (double)map2[i]);
				abort();
			}
		free(map2);
		free(blob2);
	}
	free(map);
	free(b);
	return 0;
}

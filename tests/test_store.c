/*
 * test_store.c — the SQLite store (db/store.h): blob codecs, put/get round
 * trips on ":memory:" and on a file, opening refusals (newer version, not a
 * database, missing file, missing tables), resume helpers, transactions,
 * foreign-key cascades and hostile rows; the upgrade of a version-1 file to
 * version 2 and the analysis tables of version 2. cmocka, TAP with
 * CMOCKA_MESSAGE_OUTPUT=TAP.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store.h"
#include "util/util.h"

/* ---- helpers ------------------------------------------------------------ */

static char tmpdir[PATH_MAX];

static void
tmp_path(char *buf, size_t cap, const char *name)
{
	int n = snprintf(buf, cap, "%s/%s", tmpdir, name);
	assert_true(n > 0 && (size_t)n < cap);
}

static int
group_setup(void **state)
{
	const char *base = getenv("TMPDIR");
	snprintf(tmpdir, sizeof tmpdir, "%s/attnscope-test-store-XXXXXX",
	         base && *base ? base : "/tmp");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int
group_teardown(void **state)
{
	DIR *d = opendir(tmpdir);
	struct dirent *e;
	char p[PATH_MAX + 256];

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
			snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
			unlink(p);
		}
	}
	closedir(d);
	return rmdir(tmpdir);
}

/* Deterministic pseudo-random numbers in [0, 1). */
static uint32_t rng_state = 12345;

static float
rnd(void)
{
	rng_state = rng_state * 1664525u + 1013904223u;
	return (float)(rng_state >> 8) / 16777216.0f;
}

/* A softmax-like map [n_q, n_k]: rows sum to 1, a wide range of magnitudes
 * (down to f16 subnormals), zeros above the diagonal when causal. */
static float *
make_map(int n_q, int n_k, bool causal)
{
	float *m = malloc((size_t)n_q * (size_t)n_k * sizeof *m);
	assert_non_null(m);
	for (int i = 0; i < n_q; i++) {
		int last = causal ? i : n_k - 1;
		float sum = 0;
		for (int j = 0; j < n_k; j++) {
			float v = j <= last ? expf(-18.0f * rnd()) : 0.0f;
			m[(size_t)i * n_k + j] = v;
			sum += v;
		}
		for (int j = 0; j <= last; j++)
			m[(size_t)i * n_k + j] /= sum;
	}
	return m;
}

/* |x - f16(x)| <= 2^-11 |x| + 6e-8 (half rounding, subnormals included). */
static void
assert_f16_close(const float *ref, const float *got, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		float d = fabsf(ref[i] - got[i]);
		if (!(d <= ldexpf(1.0f, -11) * fabsf(ref[i]) + 6e-8f))
			fail_msg("value %zu: %.9g decoded as %.9g", i, ref[i], got[i]);
	}
}

static void
assert_msg_has(int rc, const char *needle)
{
	const char *msg = err_msg(rc);
	if (!strstr(msg, needle))
		fail_msg("message '%s' lacks '%s'", msg, needle);
}

/* Run SQL on a file with a plain SQLite connection (not the store). */
static void
raw_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	char *msg = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("raw sql '%s': %s", sql, msg);
	sqlite3_close(db);
}

static int64_t
raw_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int64_t v = -12345;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static bool
file_exists(const char *path)
{
	struct stat sb;
	return stat(path, &sb) == 0;
}

static const struct store_model_info model_a = {
	.name = "stories260K.bin", .path = "/models/stories260K.bin", .arch = "llama",
	.sha256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
	.tokenizer = NULL, .bos_policy = "bos", .dtype = "f32",
	.n_layer = 5, .n_head = 8, .n_kv_head = 4, .d_model = 64, .d_head = 8,
	.d_ff = 172, .vocab_size = 512, .n_ctx = 512,
};

static struct store *
open_new(const char *path)
{
	int err = 1;
	struct store *s = store_open(path, STORE_CREATE, &err);
	if (!s)
		fail_msg("open '%s': %s", path, err_msg(err));
	assert_int_equal(err, 0);
	return s;
}

/* A model, a run and one sample: returns the sample id. */
static int64_t
add_sample(struct store *s, int64_t *run_out)
{
	int64_t model, run, sample;
	struct store_run_info ri = { .dataset = "d.txt", .options = "{}", .n_total = -1 };
	struct store_sample_info si = { .index = 0, .text = "x", .n_tok = 3, .loss = 1.0 };

	assert_int_equal(store_put_model(s, &model_a, &model), 0);
	ri.model_id = model;
	assert_int_equal(store_begin_run(s, &ri, &run), 0);
	si.run_id = run;
	assert_int_equal(store_put_sample(s, &si, &sample), 0);
	if (run_out)
		*run_out = run;
	return sample;
}

/* ---- blob codecs -------------------------------------------------------- */

static void
test_enc_names(void **state)
{
	enum store_enc e;
	for (int i = 0; i < STORE_ENC_COUNT; i++) {
		assert_int_equal(store_enc_parse(store_enc_name((enum store_enc)i), &e), 0);
		assert_int_equal(e, i);
	}
	assert_string_equal(store_enc_name(STORE_ENC_F16Z), "f16z");
	assert_int_equal(store_enc_parse("bf16", &e), ERR_ARG);
	assert_int_equal(store_enc_parse("", &e), ERR_ARG);
	assert_int_equal(store_enc_parse(NULL, &e), ERR_ARG);
}

static void
test_blob_bytes_little_endian(void **state)
{
	const float one = 1.0f;
	void *blob = NULL;
	size_t size = 0;

	assert_int_equal(store_blob_encode(STORE_ENC_F32, false, 1, 1, &one, &blob, &size), 0);
	assert_int_equal(size, 4);
	assert_memory_equal(blob, "\x00\x00\x80\x3f", 4);
	free(blob);
	assert_int_equal(store_blob_encode(STORE_ENC_F16, false, 1, 1, &one, &blob, &size), 0);
	assert_int_equal(size, 2);
	assert_memory_equal(blob, "\x00\x3c", 2);
	free(blob);
	/* f16z: a zstd frame (magic 28 b5 2f fd) */
	assert_int_equal(store_blob_encode(STORE_ENC_F16Z, false, 1, 1, &one, &blob, &size), 0);
	assert_true(size > 4);
	assert_memory_equal(blob, "\x28\xb5\x2f\xfd", 4);
	free(blob);
}

static void
test_blob_f32_exact(void **state)
{
	static const int shapes[][3] = { /* n_q, n_k, tri */
		{ 1, 1, 0 }, { 1, 1, 1 }, { 3, 3, 1 }, { 5, 7, 0 }, { 17, 17, 1 },
		{ 17, 17, 0 }, { 64, 64, 1 },
	};
	for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
		int n_q = shapes[c][0], n_k = shapes[c][1];
		bool tri = shapes[c][2];
		size_t n = (size_t)n_q * n_k;
		float *map = make_map(n_q, n_k, tri), *out = malloc(n * sizeof *out);
		void *blob = NULL;
		size_t size = 0;

		assert_non_null(out);
		assert_int_equal(store_blob_encode(STORE_ENC_F32, tri, n_q, n_k, map,
		                                   &blob, &size), 0);
		assert_int_equal(size, 4 * (tri ? (size_t)n_q * (n_q + 1) / 2 : n));
		memset(out, 0xff, n * sizeof *out); /* NaN everywhere */
		assert_int_equal(store_blob_decode(STORE_ENC_F32, tri, n_q, n_k, blob,
		                                   size, out), 0);
		assert_memory_equal(out, map, n * sizeof *out);
		free(blob);
		free(map);
		free(out);
	}
}

static void
test_blob_tri_drops_upper(void **state)
{
	/* tri stores only the lower triangle: whatever sits above the diagonal
	 * is not stored and decodes as 0 */
	float map[16], out[16];
	void *blob;
	size_t size;

	for (int i = 0; i < 16; i++)
		map[i] = (float)(i + 1);
	for (int e = 0; e < STORE_ENC_COUNT; e++) {
		assert_int_equal(store_blob_encode((enum store_enc)e, true, 4, 4, map,
		                                   &blob, &size), 0);
		assert_int_equal(store_blob_decode((enum store_enc)e, true, 4, 4, blob,
		                                   size, out), 0);
		for (int i = 0; i < 4; i++)
			for (int j = 0; j < 4; j++)
				assert_true(out[i * 4 + j] == (j <= i ? map[i * 4 + j] : 0.0f));
		free(blob);
	}
	/* row-by-row order of the packed values */
	assert_int_equal(store_blob_encode(STORE_ENC_F32, true, 4, 4, map, &blob, &size), 0);
	const float packed[10] = { 1, 5, 6, 9, 10, 11, 13, 14, 15, 16 };
	assert_int_equal(size, sizeof packed);
	assert_memory_equal(blob, packed, sizeof packed);
	free(blob);
}

static void
test_blob_f16_and_f16z(void **state)
{
	static const int shapes[][3] = {
		{ 1, 1, 0 }, { 9, 9, 1 }, { 9, 9, 0 }, { 6, 11, 0 }, { 100, 100, 1 },
	};
	for (size_t c = 0; c < sizeof shapes / sizeof shapes[0]; c++) {
		int n_q = shapes[c][0], n_k = shapes[c][1];
		bool tri = shapes[c][2];
		size_t n = (size_t)n_q * n_k;
		float *map = make_map(n_q, n_k, tri);
		float *h = malloc(n * sizeof *h), *z = malloc(n * sizeof *z);
		void *bh, *bz;
		size_t sh, sz;

		assert_non_null(h);
		assert_non_null(z);
		assert_int_equal(store_blob_encode(STORE_ENC_F16, tri, n_q, n_k, map, &bh, &sh), 0);
		assert_int_equal(sh, 2 * (tri ? (size_t)n_q * (n_q + 1) / 2 : n));
		assert_int_equal(store_blob_decode(STORE_ENC_F16, tri, n_q, n_k, bh, sh, h), 0);
		assert_f16_close(map, h, n);
		assert_int_equal(store_blob_encode(STORE_ENC_F16Z, tri, n_q, n_k, map, &bz, &sz), 0);
		assert_int_equal(store_blob_decode(STORE_ENC_F16Z, tri, n_q, n_k, bz, sz, z), 0);
		assert_memory_equal(h, z, n * sizeof *z);
		free(bh);
		free(bz);
		free(map);
		free(h);
		free(z);
	}
}

static void
test_blob_encode_rejects(void **state)
{
	float map[12] = { 0 };
	void *blob = NULL;
	size_t size = 0;

	assert_int_equal(store_blob_encode(STORE_ENC_F32, true, 3, 4, map, &blob, &size), ERR_ARG);
	assert_int_equal(store_blob_encode(STORE_ENC_F32, false, 0, 4, map, &blob, &size), ERR_ARG);
	assert_int_equal(store_blob_encode(STORE_ENC_F32, false, 3, -4, map, &blob, &size), ERR_ARG);
	assert_int_equal(store_blob_encode(STORE_ENC_F32, false, (1 << 20) + 1, 1, map, &blob,
	                                   &size), ERR_ARG);
	assert_int_equal(store_blob_encode(STORE_ENC_COUNT, false, 3, 4, map, &blob, &size), ERR_ARG);
	assert_int_equal(store_blob_encode(STORE_ENC_F16, false, 3, 4, NULL, &blob, &size), ERR_ARG);
	assert_null(blob);
}

static void
test_blob_decode_rejects(void **state)
{
	float *map = make_map(3, 3, false), out[64];
	void *b32, *b16, *bz;
	size_t s32, s16, sz;

	assert_int_equal(store_blob_encode(STORE_ENC_F32, false, 3, 3, map, &b32, &s32), 0);
	assert_int_equal(store_blob_encode(STORE_ENC_F16, false, 3, 3, map, &b16, &s16), 0);
	assert_int_equal(store_blob_encode(STORE_ENC_F16Z, false, 3, 3, map, &bz, &sz), 0);

	/* wrong sizes */
	assert_int_equal(store_blob_decode(STORE_ENC_F32, false, 3, 3, b32, s32 - 1, out), ERR_FORMAT);
	assert_int_equal(store_blob_decode(STORE_ENC_F32, false, 3, 3, b32, s32 - 4, out), ERR_FORMAT);
	assert_int_equal(store_blob_decode(STORE_ENC_F16, false, 3, 3, b16, s16 + 2, out), ERR_FORMAT);
	assert_int_equal(store_blob_decode(STORE_ENC_F16, false, 3, 3, b32, s32, out), ERR_FORMAT);
	assert_int_equal(store_blob_decode(STORE_ENC_F32, true, 3, 3, b32, s32, out), ERR_FORMAT);
	assert_int_equal(store_blob_decode(STORE_ENC_F32, false, 3, 4, b32, s32, out), ERR_FORMAT);
	assert_int_equal(store_blob_decode(STORE_ENC_F32, false, 3, 3, NULL, 0, out), ERR_FORMAT);
	assert_int_equal(store_blob_decode(STORE_ENC_F16Z, false, 3, 3, NULL, 0, out), ERR_FORMAT);
	assert_msg_has(store_blob_decode(STORE_ENC_F32, false, 3, 3, b32, s32 + 4, out),
	               "40 bytes, expected 36");

	/* bad shapes and encodings */
	assert_int_equal(store_blob_decode(STORE_ENC_F32, true, 3, 2, b32, 24, out), ERR_FORMAT);
	assert_int_equal(store_blob_decode(STORE_ENC_F32, false, 0, 3, b32, 0, out), ERR_FORMAT);
	assert_int_equal(store_blob_decode(STORE_ENC_F32, false, -3, -3, b32, s32, out), ERR_FORMAT);
	assert_int_equal(store_blob_decode(STORE_ENC_COUNT, false, 3, 3, b32, s32, out), ERR_FORMAT);
	assert_int_equal(store_blob_decode((enum store_enc)-1, false, 3, 3, b32, s32, out), ERR_FORMAT);
	assert_int_equal(store_blob_decode(STORE_ENC_F32, false, 3, 3, b32, s32, NULL), ERR_ARG);

	/* huge dimensions are refused before `out` (64 floats) is touched */
	assert_int_equal(store_blob_decode(STORE_ENC_F32, false, (1 << 20) + 1, 1, b32, s32, out),
	                 ERR_FORMAT);
	assert_int_equal(store_blob_decode(STORE_ENC_F32, false, INT_MAX, INT_MAX, b32, s32, out),
	                 ERR_FORMAT);
	assert_int_equal(store_blob_decode(STORE_ENC_F32, true, 1 << 20, 1 << 20, b32, s32, out),
	                 ERR_FORMAT);
	assert_int_equal(store_blob_decode(STORE_ENC_F16Z, false, 1 << 20, 1 << 20, bz, sz, out),
	                 ERR_FORMAT);

	/* truncated and garbage zstd */
	for (size_t cut = 0; cut < sz; cut++)
		assert_int_equal(store_blob_decode(STORE_ENC_F16Z, false, 3, 3, bz, cut, out),
		                 ERR_FORMAT);
	assert_int_equal(store_blob_decode(STORE_ENC_F16Z, false, 3, 3, b16, s16, out), ERR_FORMAT);
	unsigned char garbage[64];
	for (size_t i = 0; i < sizeof garbage; i++)
		garbage[i] = (unsigned char)(rnd() * 256);
	assert_int_equal(store_blob_decode(STORE_ENC_F16Z, false, 3, 3, garbage, sizeof garbage,
	                                   out), ERR_FORMAT);
	/* a valid frame of another shape, and two frames back to back */
	assert_int_equal(store_blob_decode(STORE_ENC_F16Z, false, 4, 4, bz, sz, out), ERR_FORMAT);
	assert_int_equal(store_blob_decode(STORE_ENC_F16Z, true, 3, 3, bz, sz, out), ERR_FORMAT);
	unsigned char *two = malloc(2 * sz);
	assert_non_null(two);
	memcpy(two, bz, sz);
	memcpy(two + sz, bz, sz);
	assert_int_equal(store_blob_decode(STORE_ENC_F16Z, false, 3, 3, two, 2 * sz, out),
	                 ERR_FORMAT);
	free(two);

	free(b32);
	free(b16);
	free(bz);
	free(map);
}

/* Random mutations of valid blobs: decode either succeeds or says
 * ERR_FORMAT, and never reads or writes out of bounds (run under valgrind
 * or ASan to see the second part). */
static void
test_blob_decode_mutations(void **state)
{
	float *map = make_map(8, 8, true), out[64];
	for (int e = 0; e < STORE_ENC_COUNT; e++) {
		for (int tri = 0; tri < 2; tri++) {
			void *blob;
			size_t size;
			assert_int_equal(store_blob_encode((enum store_enc)e, tri, 8, 8, map,
			                                   &blob, &size), 0);
			unsigned char *m = malloc(size + 8);
			assert_non_null(m);
			for (int it = 0; it < 300; it++) {
				size_t len = size;
				memcpy(m, blob, size);
				int kind = it % 3;
				if (kind == 0) /* flip bytes */
					for (int f = 0; f < 1 + it % 4; f++)
						m[(size_t)(rnd() * size)] ^= (unsigned char)(1 + rnd() * 255);
				else if (kind == 1) /* cut */
					len = (size_t)(rnd() * size);
				else { /* extend with random bytes */
					len = size + 1 + (size_t)(rnd() * 7);
					for (size_t j = size; j < len; j++)
						m[j] = (unsigned char)(rnd() * 256);
				}
				int rc = store_blob_decode((enum store_enc)e, tri, 8, 8, m, len, out);
				if (rc != 0 && rc != ERR_FORMAT)
					fail_msg("enc %d tri %d mutation %d: rc %d", e, tri, it, rc);
				if (len != size)
					assert_int_equal(rc, ERR_FORMAT);
			}
			free(m);
			free(blob);
		}
	}
	free(map);
}

/* ---- round trips -------------------------------------------------------- */

struct each_ctx {
	int64_t ids[16];
	int n, stop_at;
};

static int
collect_run(void *ctx, const struct store_run_info *r)
{
	struct each_ctx *c = ctx;
	if (c->n == c->stop_at)
		return 7;
	c->ids[c->n++] = r->id;
	return 0;
}

static int
collect_sample(void *ctx, const struct store_sample_info *x)
{
	struct each_ctx *c = ctx;
	c->ids[c->n++] = x->index;
	return 0;
}

enum { T = 6, L = 2, H = 3 };

static void
check_contents(struct store *s, int64_t run, int64_t sample, const struct store_token *tok,
               float *const maps[L][H], const float *cross, const float *act)
{
	struct store_sample_info si;
	struct store_token *got = NULL;
	int n = 0;

	/* sample */
	assert_int_equal(store_get_sample(s, run, 0, &si), 0);
	assert_int_equal(si.id, sample);
	assert_int_equal(si.run_id, run);
	assert_int_equal(si.index, 0);
	assert_string_equal(si.text, "Once upon a tïme");
	assert_int_equal(si.n_tok, T);
	assert_true(si.loss == 2.5);

	/* tokens */
	assert_int_equal(store_get_tokens(s, sample, &got, &n), 0);
	assert_int_equal(n, T);
	for (int i = 0; i < T; i++) {
		assert_int_equal(got[i].id, tok[i].id);
		assert_string_equal(got[i].piece, tok[i].piece);
		if (isnan(tok[i].next_logprob))
			assert_true(isnan(got[i].next_logprob));
		else
			assert_true(got[i].next_logprob == tok[i].next_logprob);
		assert_true(got[i].entropy == tok[i].entropy);
		assert_int_equal(got[i].k, tok[i].k);
		assert_memory_equal(got[i].topk_id, tok[i].topk_id, (size_t)tok[i].k * 4 + 0);
		for (int k = 0; k < tok[i].k; k++)
			assert_true(got[i].topk_logprob[k] == tok[i].topk_logprob[k]);
		/* pieces live inside the same allocation */
		assert_true(got[i].piece > (const char *)got &&
		            got[i].piece < (const char *)got + 4096);
	}
	assert_true(isnan(got[T - 1].next_logprob));
	free(got);

	/* attention: layer 0 f32 (exact), layer 1 heads f16 / f16z / f32 full */
	for (int l = 0; l < L; l++) {
		for (int h = 0; h < H; h++) {
			float *m = NULL;
			int n_q = 0, n_k = 0;
			size_t cnt = (size_t)T * T;
			assert_int_equal(store_get_attn(s, sample, l, h, "self", &m, &n_q, &n_k), 0);
			assert_int_equal(n_q, T);
			assert_int_equal(n_k, T);
			if (l == 0 || h == 2) {
				assert_memory_equal(m, maps[l][h], cnt * sizeof *m);
			} else {
				float ref[T * T];
				void *b;
				size_t sz;
				assert_f16_close(maps[l][h], m, cnt);
				/* f16z decodes to exactly what f16 does */
				assert_int_equal(store_blob_encode(STORE_ENC_F16, true, T, T,
				                                   maps[l][h], &b, &sz), 0);
				assert_int_equal(store_blob_decode(STORE_ENC_F16, true, T, T, b, sz,
				                                   ref), 0);
				free(b);
				assert_memory_equal(m, ref, sizeof ref);
			}
			for (int i = 0; i < T; i++)
				for (int j = i + 1; j < T; j++)
					assert_true(m[i * T + j] == 0.0f);
			free(m);
		}
	}
	float *m = NULL;
	int n_q = 0, n_k = 0;
	assert_int_equal(store_get_attn(s, sample, 0, 0, "cross", &m, &n_q, &n_k), 0);
	assert_int_equal(n_q, 4);
	assert_int_equal(n_k, 5);
	assert_memory_equal(m, cross, 20 * sizeof *m);
	free(m);
	m = (float *)1;
	assert_int_equal(store_get_attn(s, sample, 0, 3, "self", &m, &n_q, &n_k), ERR_NOTFOUND);
	assert_null(m);
	assert_int_equal(store_get_attn(s, sample + 100, 0, 0, "self", &m, &n_q, &n_k),
	                 ERR_NOTFOUND);

	int nl = -1, nh = -1;
	assert_int_equal(store_attn_dims(s, sample, "self", &nl, &nh), 0);
	assert_int_equal(nl, L);
	assert_int_equal(nh, H);
	assert_int_equal(store_attn_dims(s, sample, "cross", &nl, &nh), 0);
	assert_int_equal(nl, 1);
	assert_int_equal(nh, 1);
	assert_int_equal(store_attn_dims(s, sample + 100, "self", &nl, &nh), 0);
	assert_int_equal(nl, 0);
	assert_int_equal(nh, 0);

	/* activations */
	float *d = NULL;
	int ndim = 0, shape[4] = { -1, -1, -1, -1 };
	assert_int_equal(store_get_act(s, sample, "blocks.0.hook_resid_post", &d, &ndim, shape), 0);
	assert_int_equal(ndim, 2);
	assert_int_equal(shape[0], T);
	assert_int_equal(shape[1], 8);
	assert_int_equal(shape[2], 0);
	assert_memory_equal(d, act, (size_t)T * 8 * sizeof *d);
	free(d);
	assert_int_equal(store_get_act(s, sample, "blocks.1.attn.hook_q", &d, &ndim, shape), 0);
	assert_int_equal(ndim, 3);
	assert_int_equal(shape[0], T);
	assert_int_equal(shape[1], 2);
	assert_int_equal(shape[2], 4);
	assert_f16_close(act, d, (size_t)T * 8);
	free(d);
	assert_int_equal(store_get_act(s, sample, "ln_final.hook_normalized", &d, &ndim, shape), 0);
	assert_int_equal(ndim, 4);
	assert_int_equal(shape[0] * shape[1] * shape[2] * shape[3], T * 8);
	assert_f16_close(act, d, (size_t)T * 8);
	free(d);
	assert_int_equal(store_get_act(s, sample, "blocks.0.mlp.hook_post", &d, &ndim, shape), 0);
	assert_int_equal(ndim, 1);
	assert_int_equal(shape[0], T * 8);
	assert_memory_equal(d, act, (size_t)T * 8 * sizeof *d);
	free(d);
	assert_int_equal(store_get_act(s, sample, "nope", &d, &ndim, shape), ERR_NOTFOUND);

	/* head stats */
	double v = 0;
	assert_int_equal(store_get_head_stat(s, sample, 1, 2, "prev_token", &v), 0);
	assert_true(v == 0.8125);
	assert_int_equal(store_get_head_stat(s, sample, 0, 0, "entropy", &v), 0);
	assert_true(isnan(v));
	assert_int_equal(store_get_head_stat(s, sample, 0, 0, "self", &v), ERR_NOTFOUND);
}

static void
roundtrip(const char *path)
{
	struct store *s = open_new(path);
	struct store_model_info mi;
	struct store_run_info ri = {
		.dataset = "stories.jsonl", .options = "{\"encoding\":\"f16\"}",
		.status = "ignored", .started = 1000.5, .n_total = 3,
	};
	struct store_sample_info si = {
		.index = 0, .text = "Once upon a tïme", .n_tok = T, .loss = 2.5,
	};
	struct store_token tok[T];
	float *maps[L][H], *cross, act[T * 8];
	int64_t model, model2, run, run2, sample, sample2, id;
	int rc;

	/* models: the same file is found again, another path is a new row */
	assert_int_equal(store_put_model(s, &model_a, &model), 0);
	assert_int_equal(store_put_model(s, &model_a, &model2), 0);
	assert_int_equal(model, model2);
	struct store_model_info other = model_a;
	other.path = "/elsewhere/stories260K.bin";
	assert_int_equal(store_put_model(s, &other, &model2), 0);
	assert_true(model2 != model);
	assert_int_equal(store_get_model(s, model, &mi), 0);
	assert_string_equal(mi.name, model_a.name);
	assert_string_equal(mi.path, model_a.path);
	assert_string_equal(mi.arch, "llama");
	assert_string_equal(mi.sha256, model_a.sha256);
	assert_null(mi.tokenizer);
	assert_string_equal(mi.bos_policy, "bos");
	assert_string_equal(mi.dtype, "f32");
	assert_int_equal(mi.n_layer, 5);
	assert_int_equal(mi.n_head, 8);
	assert_int_equal(mi.n_kv_head, 4);
	assert_int_equal(mi.d_model, 64);
	assert_int_equal(mi.d_head, 8);
	assert_int_equal(mi.d_ff, 172);
	assert_int_equal(mi.vocab_size, 512);
	assert_int_equal(mi.n_ctx, 512);
	assert_int_equal(store_get_model(s, model + 100, &mi), ERR_NOTFOUND);

	/* runs */
	assert_int_equal(store_latest_run(s, &id), ERR_NOTFOUND);
	ri.model_id = model;
	assert_int_equal(store_begin_run(s, &ri, &run), 0);
	struct store_run_info rr;
	assert_int_equal(store_get_run(s, run, &rr), 0);
	assert_int_equal(rr.id, run);
	assert_int_equal(rr.model_id, model);
	assert_string_equal(rr.dataset, "stories.jsonl");
	assert_string_equal(rr.options, "{\"encoding\":\"f16\"}");
	assert_string_equal(rr.status, "running");
	assert_true(rr.started == 1000.5);
	assert_true(rr.finished == 0);
	assert_int_equal(rr.n_samples, 0);
	assert_int_equal(rr.n_total, 3);
	assert_int_equal(store_latest_run(s, &id), 0);
	assert_int_equal(id, run);
	assert_int_equal(store_get_run(s, run + 100, &rr), ERR_NOTFOUND);

	/* one sample with everything, in one transaction */
	static const char *const pieces[T] = { "<s>", "▁Once", "▁upon", "", "▁t", "ïme" };
	for (int i = 0; i < T; i++) {
		tok[i] = (struct store_token){
			.id = i == 3 ? -7 : 100 + i, .piece = pieces[i],
			.next_logprob = i == T - 1 ? NAN : -0.25f * (float)(i + 1),
			.entropy = 0.1f * (float)i, .k = i % (STORE_TOPK + 1),
		};
		for (int k = 0; k < tok[i].k; k++) {
			tok[i].topk_id[k] = 1000 * i + k;
			tok[i].topk_logprob[k] = -1.0f / (float)(k + 1) - rnd();
		}
	}
	for (int l = 0; l < L; l++)
		for (int h = 0; h < H; h++)
			maps[l][h] = make_map(T, T, true);
	cross = make_map(4, 5, false);
	for (int i = 0; i < T * 8; i++)
		act[i] = 10.0f * (rnd() - 0.5f);

	assert_int_equal(store_begin(s), 0);
	si.run_id = run;
	assert_int_equal(store_put_sample(s, &si, &sample), 0);
	assert_int_equal(store_put_tokens(s, sample, tok, T), 0);
	for (int l = 0; l < L; l++) {
		for (int h = 0; h < H; h++) {
			enum store_enc enc = l == 0 || h == 2 ? STORE_ENC_F32 :
			                     h == 0 ? STORE_ENC_F16 : STORE_ENC_F16Z;
			/* h == 2 of layer 1 is stored full, the others as triangles */
			bool causal = !(l == 1 && h == 2);
			assert_int_equal(store_put_attn(s, sample, l, h, "self", T, T, causal,
			                                enc, maps[l][h]), 0);
		}
	}
	assert_int_equal(store_put_attn(s, sample, 0, 0, "cross", 4, 5, false,
	                                STORE_ENC_F32, cross), 0);
	int sh2[] = { T, 8 }, sh3[] = { T, 2, 4 }, sh4[] = { 2, 3, 2, 4 }, sh1[] = { T * 8 };
	assert_int_equal(store_put_act(s, sample, "blocks.0.hook_resid_post", 2, sh2,
	                               STORE_ENC_F32, act), 0);
	assert_int_equal(store_put_act(s, sample, "blocks.1.attn.hook_q", 3, sh3,
	                               STORE_ENC_F16Z, act), 0);
	assert_int_equal(store_put_act(s, sample, "ln_final.hook_normalized", 4, sh4,
	                               STORE_ENC_F16, act), 0);
	assert_int_equal(store_put_act(s, sample, "blocks.0.mlp.hook_post", 1, sh1,
	                               STORE_ENC_F32, act), 0);
	assert_int_equal(store_put_head_stat(s, sample, 1, 2, "prev_token", 0.8125), 0);
	assert_int_equal(store_put_head_stat(s, sample, 0, 0, "entropy", NAN), 0);
	assert_int_equal(store_commit(s), 0);

	/* duplicates are errors that name the operation and SQLite's reason */
	rc = store_put_attn(s, sample, 0, 0, "self", T, T, true, STORE_ENC_F32, maps[0][0]);
	assert_int_equal(rc, ERR_DB);
	assert_msg_has(rc, "put attention for sample");
	assert_msg_has(rc, "UNIQUE constraint failed");
	assert_int_equal(store_put_head_stat(s, sample, 1, 2, "prev_token", 0.5), ERR_DB);
	/* bad arguments */
	assert_int_equal(store_put_attn(s, sample, 0, 0, "self", 3, 4, true, STORE_ENC_F32,
	                                cross), ERR_ARG);
	assert_int_equal(store_put_attn(s, sample, -1, 0, "self", 4, 5, false, STORE_ENC_F32,
	                                cross), ERR_ARG);
	struct store_token badk = { .piece = "x", .k = STORE_TOPK + 1 };
	assert_int_equal(store_put_tokens(s, sample, &badk, 1), ERR_ARG);

	/* a second sample: no text, no loss */
	struct store_sample_info si2 = { .run_id = run, .index = 1, .text = NULL, .n_tok = 1,
	                                 .loss = NAN };
	assert_int_equal(store_put_sample(s, &si2, &sample2), 0);
	struct store_sample_info x;
	assert_int_equal(store_get_sample(s, run, 1, &x), 0);
	assert_int_equal(x.id, sample2);
	assert_null(x.text);
	assert_true(isnan(x.loss));
	/* the loss can be set once it is known, and cleared with NaN */
	assert_int_equal(store_set_sample_loss(s, sample2, 3.75), 0);
	assert_int_equal(store_get_sample(s, run, 1, &x), 0);
	assert_true(x.loss == 3.75);
	assert_int_equal(store_set_sample_loss(s, sample2, NAN), 0);
	assert_int_equal(store_get_sample(s, run, 1, &x), 0);
	assert_true(isnan(x.loss));
	assert_int_equal(store_set_sample_loss(s, sample2 + 100, 1.0), ERR_NOTFOUND);
	struct store_token *none = (struct store_token *)1;
	int n_none = -1;
	assert_int_equal(store_get_tokens(s, sample2, &none, &n_none), 0);
	assert_null(none);
	assert_int_equal(n_none, 0);

	check_contents(s, run, sample, tok, maps, cross, act);

	/* finishing, iteration */
	assert_int_equal(store_finish_run(s, run, "done"), 0);
	assert_int_equal(store_finish_run(s, run + 100, "done"), ERR_NOTFOUND);
	assert_int_equal(store_get_run(s, run, &rr), 0);
	assert_string_equal(rr.status, "done");
	assert_true(rr.finished > 1.6e9);
	assert_int_equal(rr.n_samples, 2);
	ri.model_id = model2;
	assert_int_equal(store_begin_run(s, &ri, &run2), 0);
	assert_true(run2 > run);
	struct each_ctx c = { .stop_at = -1 };
	assert_int_equal(store_each_run(s, collect_run, &c), 0);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.ids[0], run);
	assert_int_equal(c.ids[1], run2);
	c = (struct each_ctx){ .stop_at = 1 };
	assert_int_equal(store_each_run(s, collect_run, &c), 7);
	assert_int_equal(c.n, 1);
	c = (struct each_ctx){ .stop_at = -1 };
	assert_int_equal(store_each_sample(s, run, collect_sample, &c), 0);
	assert_int_equal(c.n, 2);
	assert_int_equal(c.ids[0], 0);
	assert_int_equal(c.ids[1], 1);
	c = (struct each_ctx){ .stop_at = -1 };
	assert_int_equal(store_each_sample(s, run2, collect_sample, &c), 0);
	assert_int_equal(c.n, 0);
	store_close(s);

	if (strcmp(path, ":memory:") != 0) {
		/* reopen read-only: everything is still there, writes are refused */
		int err = 1;
		s = store_open(path, STORE_READONLY, &err);
		assert_non_null(s);
		assert_int_equal(err, 0);
		check_contents(s, run, sample, tok, maps, cross, act);
		assert_int_equal(store_put_sample(s, &si2, &id), ERR_ARG);
		assert_int_equal(store_set_sample_loss(s, sample, 1.0), ERR_ARG);
		assert_int_equal(store_begin(s), ERR_ARG);
		store_close(s);
		/* and for writing without STORE_CREATE */
		s = store_open(path, 0, &err);
		assert_non_null(s);
		assert_int_equal(store_get_model(s, model, &mi), 0);
		store_close(s);
	}

	for (int l = 0; l < L; l++)
		for (int h = 0; h < H; h++)
			free(maps[l][h]);
	free(cross);
}

static void
test_roundtrip_memory(void **state)
{
	roundtrip(":memory:");
}

static void
test_roundtrip_file(void **state)
{
	char path[PATH_MAX];
	tmp_path(path, sizeof path, "roundtrip.db");
	roundtrip(path);
	/* a new file gets 64 KiB pages and WAL, and our schema version */
	assert_int_equal(raw_int(path, "PRAGMA page_size"), 65536);
	assert_int_equal(raw_int(path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	assert_int_equal(raw_int(path, "SELECT journal_mode = 'wal' FROM pragma_journal_mode"), 1);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM sqlite_schema WHERE type = 'table'"
	                               " AND sql LIKE '%STRICT%'"), 14);
}

/* ---- opening refusals --------------------------------------------------- */

static void
test_newer_version_refused(void **state)
{
	char path[PATH_MAX], want[PATH_MAX + 128];
	int err = 0;

	tmp_path(path, sizeof path, "v99.db");
	raw_exec(path, "CREATE TABLE t (a); PRAGMA user_version = 99");
	snprintf(want, sizeof want, "'%s': database version 99 is newer than this"
	         " attnscope (%d): upgrade attnscope", path, STORE_SCHEMA_VERSION);
	assert_null(store_open(path, STORE_CREATE, &err));
	assert_int_equal(err, ERR_VERSION);
	assert_string_equal(err_msg(err), want);
	assert_null(store_open(path, STORE_READONLY, &err));
	assert_int_equal(err, ERR_VERSION);
	assert_msg_has(err, "upgrade attnscope");
	/* untouched */
	assert_int_equal(raw_int(path, "PRAGMA user_version"), 99);
}

static void
test_not_sqlite_refused(void **state)
{
	char path[PATH_MAX];
	char text[4096] = "";
	int err = 0;

	for (int i = 0; i < 60; i++)
		strcat(text, "this is a text file, not a database\n");
	tmp_path(path, sizeof path, "notes.txt");
	write_file(path, text);
	for (int f = 0; f < 3; f++) {
		static const int flags[] = { STORE_CREATE, 0, STORE_READONLY };
		assert_null(store_open(path, flags[f], &err));
		assert_int_equal(err, ERR_FORMAT);
		assert_msg_has(err, path);
		assert_msg_has(err, "not a SQLite database");
	}
	/* the file is left as it was */
	char *back = NULL;
	size_t len = 0;
	assert_int_equal(util_read_file(path, &back, &len), 0);
	assert_string_equal(back, text);
	free(back);
}

static void
test_missing_file(void **state)
{
	char path[PATH_MAX], want[PATH_MAX + 64];
	int err = 0;

	tmp_path(path, sizeof path, "missing.db");
	assert_null(store_open(path, STORE_READONLY, &err));
	assert_int_equal(err, ERR_IO);
	snprintf(want, sizeof want, "cannot open database '%s': no such file", path);
	assert_string_equal(err_msg(err), want);
	assert_false(file_exists(path));
	/* writing without STORE_CREATE does not create it either */
	assert_null(store_open(path, 0, &err));
	assert_int_equal(err, ERR_IO);
	assert_false(file_exists(path));
	/* read-only and create together are a caller error */
	assert_null(store_open(path, STORE_READONLY | STORE_CREATE, &err));
	assert_int_equal(err, ERR_ARG);
	assert_false(file_exists(path));
}

static void
test_foreign_or_empty_db(void **state)
{
	char path[PATH_MAX];
	int err = 0;
	struct store *s;

	/* version 1 but our tables missing */
	tmp_path(path, sizeof path, "v1-empty.db");
	raw_exec(path, "CREATE TABLE models (id INTEGER); PRAGMA user_version = 1");
	assert_null(store_open(path, STORE_CREATE, &err));
	assert_int_equal(err, ERR_FORMAT);
	assert_msg_has(err, "tables are missing");
	assert_null(store_open(path, STORE_READONLY, &err));
	assert_int_equal(err, ERR_FORMAT);

	/* someone else's database (version 0 with tables) */
	tmp_path(path, sizeof path, "foreign.db");
	raw_exec(path, "CREATE TABLE contacts (name TEXT)");
	assert_null(store_open(path, STORE_CREATE, &err));
	assert_int_equal(err, ERR_FORMAT);
	assert_msg_has(err, "not an attnscope recording");
	assert_int_equal(raw_int(path, "SELECT count(*) FROM sqlite_schema"), 1);

	/* an empty file: refused unless STORE_CREATE, which creates the schema */
	tmp_path(path, sizeof path, "empty.db");
	write_file(path, "");
	assert_null(store_open(path, STORE_READONLY, &err));
	assert_int_equal(err, ERR_FORMAT);
	assert_null(store_open(path, 0, &err));
	assert_int_equal(err, ERR_FORMAT);
	s = store_open(path, STORE_CREATE, &err);
	assert_non_null(s);
	store_close(s);
	assert_int_equal(raw_int(path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	/* opening it again finds the schema and changes nothing */
	s = store_open(path, STORE_CREATE, &err);
	assert_non_null(s);
	store_close(s);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM sqlite_schema WHERE type = 'table'"), 14);
}

/* ---- resume helpers and transactions ------------------------------------ */

static void
test_resumable(void **state)
{
	struct store *s = open_new(":memory:");
	struct store_model_info other = model_a;
	int64_t m1, m2, a, b, c, d, e, id, idx;

	assert_int_equal(store_put_model(s, &model_a, &m1), 0);
	other.sha256 = "00";
	assert_int_equal(store_put_model(s, &other, &m2), 0);
	assert_true(m1 != m2);

	struct store_run_info ri = { .model_id = m1, .dataset = "d.jsonl", .options = "{\"x\":1}",
	                             .n_total = -1 };
	assert_int_equal(store_begin_run(s, &ri, &a), 0);
	assert_int_equal(store_begin_run(s, &ri, &b), 0);
	ri.options = "{\"x\":2}";
	assert_int_equal(store_begin_run(s, &ri, &c), 0);
	ri.model_id = m2;
	ri.options = "{\"x\":1}";
	assert_int_equal(store_begin_run(s, &ri, &d), 0);
	ri.model_id = m1;
	ri.options = NULL; /* stored as "{}" */
	assert_int_equal(store_begin_run(s, &ri, &e), 0);
	assert_int_equal(store_finish_run(s, a, "done"), 0);
	assert_int_equal(store_finish_run(s, b, "failed"), 0);

	/* newest not-done run with the same model, dataset and options */
	assert_int_equal(store_find_resumable(s, m1, "d.jsonl", "{\"x\":1}", &id), 0);
	assert_int_equal(id, b);
	assert_int_equal(store_find_resumable(s, m1, "d.jsonl", "{\"x\":2}", &id), 0);
	assert_int_equal(id, c);
	assert_int_equal(store_find_resumable(s, m2, "d.jsonl", "{\"x\":1}", &id), 0);
	assert_int_equal(id, d);
	assert_int_equal(store_find_resumable(s, m1, "d.jsonl", NULL, &id), 0);
	assert_int_equal(id, e);
	assert_int_equal(store_find_resumable(s, m1, "d.jsonl", "{}", &id), 0);
	assert_int_equal(id, e);
	assert_int_equal(store_finish_run(s, b, "done"), 0);
	assert_int_equal(store_find_resumable(s, m1, "d.jsonl", "{\"x\":1}", &id), ERR_NOTFOUND);
	assert_int_equal(store_find_resumable(s, m1, "other.jsonl", "{\"x\":2}", &id),
	                 ERR_NOTFOUND);
	assert_int_equal(store_latest_run(s, &id), 0);
	assert_int_equal(id, e);

	/* highest committed index */
	assert_int_equal(store_max_sample_index(s, c, &idx), 0);
	assert_int_equal(idx, -1);
	static const int order[] = { 2, 0, 5, 1 };
	for (int i = 0; i < 4; i++) {
		struct store_sample_info si = { .run_id = c, .index = order[i], .n_tok = 1,
		                                .loss = NAN };
		int64_t sid;
		assert_int_equal(store_put_sample(s, &si, &sid), 0);
	}
	assert_int_equal(store_max_sample_index(s, c, &idx), 0);
	assert_int_equal(idx, 5);
	assert_int_equal(store_max_sample_index(s, d, &idx), 0);
	assert_int_equal(idx, -1);
	assert_int_equal(store_max_sample_index(s, 999, &idx), 0);
	assert_int_equal(idx, -1);
	/* the same index twice is refused */
	struct store_sample_info dup = { .run_id = c, .index = 5, .n_tok = 1 };
	assert_int_equal(store_put_sample(s, &dup, &id), ERR_DB);
	store_close(s);
}

static void
test_rollback(void **state)
{
	char path[PATH_MAX];
	tmp_path(path, sizeof path, "rollback.db");
	struct store *s = open_new(path);
	int64_t run, sample, idx;
	float *map = make_map(4, 4, true), *m = NULL;
	struct store_sample_info x;
	struct store_token tk[2] = { { .id = 1, .piece = "a" }, { .id = 2, .piece = "b" } };
	int nq, nk;

	store_rollback(s); /* no transaction: nothing happens */
	int64_t first = add_sample(s, &run);
	assert_int_equal(store_max_sample_index(s, run, &idx), 0);
	assert_int_equal(idx, 0);

	assert_int_equal(store_begin(s), 0);
	struct store_sample_info si = { .run_id = run, .index = 1, .text = "t", .n_tok = 2,
	                                .loss = 0.5 };
	assert_int_equal(store_put_sample(s, &si, &sample), 0);
	assert_int_equal(store_put_tokens(s, sample, tk, 2), 0);
	assert_int_equal(store_put_attn(s, sample, 0, 0, "self", 4, 4, true,
	                                STORE_ENC_F16Z, map), 0);
	assert_int_equal(store_put_head_stat(s, sample, 0, 0, "self", 0.25), 0);
	assert_int_equal(store_get_sample(s, run, 1, &x), 0); /* visible inside */
	store_rollback(s);
	store_rollback(s);

	assert_int_equal(store_get_sample(s, run, 1, &x), ERR_NOTFOUND);
	assert_int_equal(store_max_sample_index(s, run, &idx), 0);
	assert_int_equal(idx, 0);
	assert_int_equal(store_get_attn(s, sample, 0, 0, "self", &m, &nq, &nk), ERR_NOTFOUND);
	double v;
	assert_int_equal(store_get_head_stat(s, sample, 0, 0, "self", &v), ERR_NOTFOUND);
	struct store_token *got = NULL;
	int n = -1;
	assert_int_equal(store_get_tokens(s, sample, &got, &n), 0);
	assert_int_equal(n, 0);

	/* a failing put_tokens outside a transaction leaves none open */
	assert_int_equal(store_put_tokens(s, first, tk, 2), 0);
	assert_int_equal(store_put_tokens(s, first, tk, 2), ERR_DB);
	assert_int_equal(store_begin(s), 0);
	assert_int_equal(store_begin(s), ERR_DB); /* nested: refused by SQLite */
	store_rollback(s);

	/* committed work survives closing and reopening */
	assert_int_equal(store_begin(s), 0);
	assert_int_equal(store_put_sample(s, &si, &sample), 0);
	assert_int_equal(store_commit(s), 0);
	store_close(s);
	int err;
	s = store_open(path, STORE_READONLY, &err);
	assert_non_null(s);
	assert_int_equal(store_get_sample(s, run, 1, &x), 0);
	assert_int_equal(x.id, sample);
	assert_int_equal(store_max_sample_index(s, run, &idx), 0);
	assert_int_equal(idx, 1);
	store_close(s);
	free(map);
}

/* ---- schema behaviour and hostile rows ---------------------------------- */

static void
test_cascade(void **state)
{
	char path[PATH_MAX];
	tmp_path(path, sizeof path, "cascade.db");
	struct store *s = open_new(path);
	float *map = make_map(3, 3, true);
	struct store_token tk = { .id = 1, .piece = "a", .next_logprob = NAN };
	int err;
	/* an idle reader (a viewer) keeps the WAL from being removed at close */
	struct store *reader = store_open(path, STORE_READONLY, &err);
	assert_non_null(reader);
	int shape[1] = { 9 };
	int64_t run;
	int64_t sample = add_sample(s, &run);

	assert_int_equal(store_put_tokens(s, sample, &tk, 1), 0);
	assert_int_equal(store_put_attn(s, sample, 0, 0, "self", 3, 3, true, STORE_ENC_F16, map), 0);
	assert_int_equal(store_put_act(s, sample, "h", 1, shape, STORE_ENC_F32, map), 0);
	assert_int_equal(store_put_head_stat(s, sample, 0, 0, "entropy", 1.0), 0);
	/* foreign keys are enforced for writers */
	struct store_sample_info orphan = { .run_id = run + 50, .index = 0, .n_tok = 1 };
	int64_t id;
	int rc = store_put_sample(s, &orphan, &id);
	assert_int_equal(rc, ERR_DB);
	assert_msg_has(rc, "FOREIGN KEY");
	store_close(s);

	/* the writer checkpointed and truncated the WAL at close */
	char wal[PATH_MAX + 8];
	struct stat sb;
	snprintf(wal, sizeof wal, "%s-wal", path);
	assert_int_equal(stat(wal, &sb), 0);
	assert_int_equal(sb.st_size, 0);
	/* and the reader sees the committed rows */
	double v = 0;
	assert_int_equal(store_get_head_stat(reader, sample, 0, 0, "entropy", &v), 0);
	assert_true(v == 1.0);
	store_close(reader);

	raw_exec(path, "PRAGMA foreign_keys = ON; DELETE FROM models");
	static const char *const tables[] = { "runs", "samples", "tokens", "attention",
	                                      "activations", "head_stats" };
	for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
		char sql[64];
		snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", tables[i]);
		assert_int_equal(raw_int(path, sql), 0);
	}
	free(map);
}

static void
test_hostile_rows(void **state)
{
	char path[PATH_MAX], prefix[128];
	tmp_path(path, sizeof path, "hostile.db");
	struct store *s = open_new(path);
	float *map = make_map(5, 5, true), *m = NULL;
	struct store_token tk[2] = { { .id = 1, .piece = "a", .k = 1 }, { .id = 2, .piece = "b" } };
	int shape[2] = { 5, 5 }, nq, nk, rc, err;
	int64_t sample = add_sample(s, NULL);

	assert_int_equal(store_put_tokens(s, sample, tk, 2), 0);
	assert_int_equal(store_put_attn(s, sample, 2, 3, "self", 5, 5, true, STORE_ENC_F16Z, map), 0);
	assert_int_equal(store_put_act(s, sample, "h", 2, shape, STORE_ENC_F16, map), 0);
	store_close(s);
	snprintf(prefix, sizeof prefix, "attention blob for sample %lld layer 2 head 3: ",
	         (long long)sample);

	static const char *const attn_edits[][2] = { /* edit, expected message */
		{ "UPDATE attention SET dtype = 'bf16'", "unknown encoding: dtype 'bf16'" },
		{ "UPDATE attention SET dtype = 'f32'", "dtype 'f32', codec 'zstd'" },
		{ "UPDATE attention SET codec = 'lz4'", "codec 'lz4'" },
		{ "UPDATE attention SET layout = 'diag'", "unknown layout 'diag'" },
		{ "UPDATE attention SET layout = 'full'", "expected 50 for 25 f16 values" },
		{ "UPDATE attention SET data = substr(data, 1, 10)", "zstd" },
		{ "UPDATE attention SET data = zeroblob(30)", "not zstd data" },
		{ "UPDATE attention SET codec = 'none'", "expected 30 for 15 f16 values" },
		{ "UPDATE attention SET n_q = 1048577, n_k = 1048577", "out of range" },
		{ "UPDATE attention SET n_q = 1048576, n_k = 1048576", "larger than" },
		{ "UPDATE attention SET n_k = 4", "triangular layout" },
		{ "UPDATE attention SET n_q = 6, n_k = 6", "expected 42 for 21 f16 values" },
		{ "UPDATE attention SET n_q = 0, n_k = -5", "out of range" },
	};
	for (size_t i = 0; i < sizeof attn_edits / sizeof attn_edits[0]; i++) {
		char sql[256];
		snprintf(sql, sizeof sql, "PRAGMA ignore_check_constraints = ON; %s",
		         attn_edits[i][0]);
		raw_exec(path, sql);
		s = store_open(path, STORE_READONLY, &err);
		assert_non_null(s);
		m = (float *)1;
		rc = store_get_attn(s, sample, 2, 3, "self", &m, &nq, &nk);
		if (rc != ERR_FORMAT)
			fail_msg("edit '%s': rc %d (%s)", attn_edits[i][0], rc, err_msg(rc));
		assert_null(m);
		if (strncmp(err_msg(rc), prefix, strlen(prefix)) != 0 ||
		    !strstr(err_msg(rc), attn_edits[i][1]))
			fail_msg("edit '%s': message '%s'", attn_edits[i][0], err_msg(rc));
		store_close(s);
		/* put the row back */
		raw_exec(path, "DELETE FROM attention");
		s = open_new(path);
		assert_int_equal(store_put_attn(s, sample, 2, 3, "self", 5, 5, true,
		                                STORE_ENC_F16Z, map), 0);
		store_close(s);
	}

	/* tokens: top-k blobs of the wrong length, positions with a gap */
	struct store_token *got = NULL;
	int n;
	raw_exec(path, "UPDATE tokens SET topk_ids = x'010203' WHERE pos = 0");
	s = store_open(path, STORE_READONLY, &err);
	assert_non_null(s);
	assert_int_equal(store_get_tokens(s, sample, &got, &n), ERR_FORMAT);
	assert_null(got);
	store_close(s);
	raw_exec(path, "UPDATE tokens SET topk_ids = NULL, topk_logprobs = NULL WHERE pos = 0;"
	               " UPDATE tokens SET pos = 5 WHERE pos = 1");
	s = store_open(path, STORE_READONLY, &err);
	assert_non_null(s);
	assert_int_equal(store_get_tokens(s, sample, &got, &n), ERR_FORMAT);
	store_close(s);

	/* activations: a shape that disagrees with the blob, absurd shapes */
	static const char *const act_edits[] = {
		"UPDATE activations SET d1 = 6",
		"UPDATE activations SET d1 = NULL",
		"UPDATE activations SET ndim = 3, d2 = 100000, d1 = 100000",
		"UPDATE activations SET dtype = 'f64'",
	};
	for (size_t i = 0; i < sizeof act_edits / sizeof act_edits[0]; i++) {
		char sql[256];
		snprintf(sql, sizeof sql, "PRAGMA ignore_check_constraints = ON; SAVEPOINT a;"
		         " %s; RELEASE a", act_edits[i]);
		raw_exec(path, sql);
		s = store_open(path, STORE_READONLY, &err);
		assert_non_null(s);
		float *d = (float *)1;
		int nd, shp[4];
		rc = store_get_act(s, sample, "h", &d, &nd, shp);
		if (rc != ERR_FORMAT)
			fail_msg("edit '%s': rc %d", act_edits[i], rc);
		assert_null(d);
		store_close(s);
		raw_exec(path, "UPDATE activations SET ndim = 2, d0 = 5, d1 = 5, d2 = NULL,"
		               " dtype = 'f16'");
	}
	free(map);
}

/* ---- schema version 2: migration and the analysis tables ----------------- */

/* The version-2 tables, dropped to turn a new file back into version 1. */
static const char SQL_TO_V1[] =
	"DROP TABLE head_summary; DROP TABLE head_roles; DROP TABLE head_similarity;"
	" DROP TABLE head_layout; DROP TABLE head_ablation; DROP TABLE logit_lens;"
	" DROP TABLE source_tokens; ALTER TABLE samples DROP COLUMN source;"
	" PRAGMA user_version = 1";

static void
test_migrate_v1_to_v2(void **state)
{
	char path[PATH_MAX];
	int err = 0;
	int64_t run;
	double v;

	/* a version-1 recording: the recorder's tables and one value */
	tmp_path(path, sizeof path, "v1.db");
	struct store *s = open_new(path);
	int64_t sample = add_sample(s, &run);
	assert_int_equal(store_put_head_stat(s, sample, 1, 2, "entropy", 0.75), 0);
	store_close(s);
	raw_exec(path, SQL_TO_V1);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM sqlite_schema WHERE type = 'table'"),
	                 7);

	/* readers read it as it is, without changing it */
	s = store_open(path, STORE_READONLY, &err);
	assert_non_null(s);
	assert_int_equal(store_get_head_stat(s, sample, 1, 2, "entropy", &v), 0);
	assert_true(v == 0.75);
	store_close(s);
	assert_int_equal(raw_int(path, "PRAGMA user_version"), 1);

	/* a writer upgrades in place: data kept, new tables usable */
	s = store_open(path, 0, &err);
	assert_non_null(s);
	assert_int_equal(raw_int(path, "PRAGMA user_version"), STORE_SCHEMA_VERSION);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM sqlite_schema WHERE type = 'table'"),
	                 14);
	assert_int_equal(store_get_head_stat(s, sample, 1, 2, "entropy", &v), 0);
	assert_true(v == 0.75);
	struct store_summary x = { .layer = 1, .head = 2, .metric = "entropy", .n = 1,
	                           .mean = 0.75, .std = 0, .p50 = 0.75, .p90 = 0.75 };
	assert_int_equal(store_put_summary(s, run, &x), 0);
	store_close(s);

	/* now readers open it, and reopening changes nothing */
	s = store_open(path, STORE_READONLY, &err);
	assert_non_null(s);
	store_close(s);
	s = store_open(path, STORE_CREATE, &err);
	assert_non_null(s);
	store_close(s);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM head_summary"), 1);

	/* a "version 1" file without our tables is not upgraded */
	tmp_path(path, sizeof path, "v1-foreign.db");
	raw_exec(path, "CREATE TABLE models (id INTEGER); PRAGMA user_version = 1");
	assert_null(store_open(path, 0, &err));
	assert_int_equal(err, ERR_FORMAT);
	assert_msg_has(err, "tables are missing");
	assert_int_equal(raw_int(path, "PRAGMA user_version"), 1);
	assert_int_equal(raw_int(path, "SELECT count(*) FROM sqlite_schema"), 1);
}

struct stat_rows {
	int n;
	char metric[8][32];
	double value[8];
};

static int
collect_stat(void *ctx, const struct store_head_stat *x)
{
	struct stat_rows *r = ctx;
	if (r->n < 8) {
		snprintf(r->metric[r->n], sizeof r->metric[0], "%s", x->metric);
		r->value[r->n] = x->value;
	}
	r->n++;
	return 0;
}

struct role_rows {
	int n;
	char role[4][32];
	int layer[4];
};

static int
collect_role(void *ctx, const struct store_role *r)
{
	struct role_rows *rr = ctx;
	if (rr->n < 4) {
		snprintf(rr->role[rr->n], sizeof rr->role[0], "%s", r->role);
		rr->layer[rr->n] = r->layer;
	}
	rr->n++;
	return 0;
}

static void
test_analysis_tables(void **state)
{
	struct store *s = open_new(":memory:");
	int64_t run;
	int64_t sample = add_sample(s, &run);
	double v, w;

	/* head stats: set inserts and replaces; put still refuses duplicates */
	assert_int_equal(store_set_head_stat(s, sample, 0, 1, "induction", 0.25), 0);
	assert_int_equal(store_set_head_stat(s, sample, 0, 1, "induction", 0.5), 0);
	assert_int_equal(store_set_head_stat(s, sample, 0, 1, "sink", NAN), 0);
	assert_int_equal(store_put_head_stat(s, sample, 0, 1, "entropy", 1.5), 0);
	assert_int_not_equal(store_put_head_stat(s, sample, 0, 1, "induction", 0.1), 0);
	assert_int_equal(store_get_head_stat(s, sample, 0, 1, "induction", &v), 0);
	assert_true(v == 0.5);
	assert_int_equal(store_get_head_stat(s, sample, 0, 1, "sink", &v), 0);
	assert_true(isnan(v));
	struct stat_rows rows = { 0 };
	assert_int_equal(store_each_head_stat(s, run, NULL, collect_stat, &rows), 0);
	assert_int_equal(rows.n, 3);
	assert_string_equal(rows.metric[0], "entropy"); /* metric order */
	assert_string_equal(rows.metric[1], "induction");
	assert_string_equal(rows.metric[2], "sink");
	assert_true(isnan(rows.value[2]));
	memset(&rows, 0, sizeof rows);
	assert_int_equal(store_each_head_stat(s, run, "induction", collect_stat, &rows), 0);
	assert_int_equal(rows.n, 1);
	assert_true(rows.value[0] == 0.5);
	assert_int_equal(store_set_head_stat(s, sample, -1, 0, "x", 1), ERR_ARG);

	/* summaries, including a whole layer (head -1) and NaN fields */
	struct store_summary x = { .layer = 2, .head = -1, .metric = "layer_norm_distance",
	                           .n = 0, .mean = NAN, .std = NAN, .p50 = NAN, .p90 = NAN };
	assert_int_equal(store_put_summary(s, run, &x), 0);
	x.n = 4;
	x.mean = 1.25;
	x.std = 0.5;
	x.p50 = 1;
	x.p90 = 2;
	assert_int_equal(store_put_summary(s, run, &x), 0); /* replaces */
	struct store_summary y;
	assert_int_equal(store_get_summary(s, run, 2, -1, "layer_norm_distance", &y), 0);
	assert_int_equal(y.n, 4);
	assert_true(y.mean == 1.25 && y.std == 0.5 && y.p50 == 1 && y.p90 == 2);
	assert_string_equal(y.metric, "layer_norm_distance");
	assert_int_equal(store_get_summary(s, run, 2, 0, "layer_norm_distance", &y), ERR_NOTFOUND);
	x.head = -2;
	assert_int_equal(store_put_summary(s, run, &x), ERR_ARG);

	/* roles */
	struct store_role r = { .layer = 1, .head = 0, .role = "induction",
	                        .metric = "induction", .value = 0.7, .threshold = 0.4 };
	assert_int_equal(store_put_role(s, run, &r), 0);
	assert_int_not_equal(store_put_role(s, run, &r), 0); /* duplicate */
	r.layer = 0;
	r.role = "sink";
	assert_int_equal(store_put_role(s, run, &r), 0);
	struct role_rows rr = { 0 };
	assert_int_equal(store_each_role(s, run, collect_role, &rr), 0);
	assert_int_equal(rr.n, 2);
	assert_string_equal(rr.role[0], "sink"); /* layer order */
	assert_int_equal(rr.layer[1], 1);
	assert_int_equal(store_clear_roles(s, run), 0);
	memset(&rr, 0, sizeof rr);
	assert_int_equal(store_each_role(s, run, collect_role, &rr), 0);
	assert_int_equal(rr.n, 0);

	/* similarity and layout */
	assert_int_equal(store_put_similarity(s, run, 0, 1, 1, 0, 12.5, 8), 0);
	assert_int_equal(store_put_similarity(s, run, 0, 1, 1, 0, 13.5, 9), 0);
	assert_int_equal(store_get_similarity(s, run, 0, 1, 1, 0, &v), 0);
	assert_true(v == 13.5);
	assert_int_equal(store_get_similarity(s, run, 1, 0, 0, 1, &v), ERR_NOTFOUND);
	assert_int_equal(store_put_layout(s, run, 0, 1, -0.5, 2.5), 0);
	assert_int_equal(store_get_layout(s, run, 0, 1, &v, &w), 0);
	assert_true(v == -0.5 && w == 2.5);
	assert_int_equal(store_put_layout(s, run, 0, 1, NAN, 0), ERR_ARG);
	assert_int_equal(store_clear_similarity(s, run), 0);
	assert_int_equal(store_get_similarity(s, run, 0, 1, 1, 0, &v), ERR_NOTFOUND);
	assert_int_equal(store_get_layout(s, run, 0, 1, &v, &w), ERR_NOTFOUND);

	/* derived maps: delete a kind, keep the others */
	float m[9] = { 1, 0, 0, .5f, .5f, 0, .2f, .3f, .5f };
	float *got;
	int nq, nk;
	assert_int_equal(store_put_attn(s, sample, 0, 0, "self", 3, 3, true, STORE_ENC_F32, m), 0);
	assert_int_equal(store_put_attn(s, sample, 0, 0, "rollout", 3, 3, true, STORE_ENC_F32, m),
	                 0);
	assert_int_equal(store_put_attn(s, sample, 1, 0, "rollout", 3, 3, true, STORE_ENC_F32, m),
	                 0);
	assert_int_equal(store_delete_attn(s, sample, "rollout"), 0);
	assert_int_equal(store_delete_attn(s, sample, "rollout"), 0); /* none left: fine */
	assert_int_equal(store_get_attn(s, sample, 0, 0, "rollout", &got, &nq, &nk), ERR_NOTFOUND);
	assert_int_equal(store_get_attn(s, sample, 0, 0, "self", &got, &nq, &nk), 0);
	free(got);
	assert_int_equal(store_delete_attn(s, sample, ""), ERR_ARG);

	/* ablation */
	assert_int_equal(store_put_ablation(s, run, 1, 0, "zero", 3.5, 3.0, 8), 0);
	assert_int_equal(store_put_ablation(s, run, 1, 0, "zero", 3.75, 3.0, 8), 0);
	assert_int_equal(store_get_ablation(s, run, 1, 0, "zero", &v, &w), 0);
	assert_true(v == 3.75 && w == 3.0);
	assert_int_equal(store_get_ablation(s, run, 1, 0, "mean", &v, &w), ERR_NOTFOUND);
	assert_int_equal(store_put_ablation(s, run, 1, 0, "half", 1, 1, 1), ERR_ARG);

	/* logit lens: put replaces the ranks of a position */
	int32_t ids[3] = { 7, 9, 11 }, gid[4];
	float lp[3] = { -0.5f, -1.5f, -2.5f }, glp[4];
	int k;
	assert_int_equal(store_put_logit_lens(s, sample, 2, 1, 3, ids, lp), 0);
	assert_int_equal(store_put_logit_lens(s, sample, 2, 1, 2, ids + 1, lp + 1), 0);
	assert_int_equal(store_get_logit_lens(s, sample, 2, 1, 4, &k, gid, glp), 0);
	assert_int_equal(k, 2);
	assert_int_equal(gid[0], 9);
	assert_true(glp[1] == -2.5f);
	assert_int_equal(store_get_logit_lens(s, sample, 2, 0, 4, &k, gid, glp), ERR_NOTFOUND);
	assert_int_equal(k, 0);
	assert_int_equal(store_put_logit_lens(s, sample, 2, 1, 0, ids, lp), ERR_ARG);

	/* run label */
	struct store_run_info ri;
	assert_int_equal(store_set_run_dataset(s, run, "probe:induction"), 0);
	assert_int_equal(store_get_run(s, run, &ri), 0);
	assert_string_equal(ri.dataset, "probe:induction");
	assert_int_equal(store_set_run_dataset(s, run + 99, "x"), ERR_NOTFOUND);

	store_close(s);
}

static void
test_analysis_tables_readonly(void **state)
{
	char path[PATH_MAX];
	int err;
	tmp_path(path, sizeof path, "ro-analysis.db");
	struct store *s = open_new(path);
	int64_t run;
	int64_t sample = add_sample(s, &run);
	store_close(s);
	s = store_open(path, STORE_READONLY, &err);
	assert_non_null(s);
	assert_int_equal(store_set_head_stat(s, sample, 0, 0, "x", 1), ERR_ARG);
	struct store_summary x = { .metric = "x" };
	assert_int_equal(store_put_summary(s, run, &x), ERR_ARG);
	assert_int_equal(store_clear_roles(s, run), ERR_ARG);
	assert_int_equal(store_delete_attn(s, sample, "rollout"), ERR_ARG);
	assert_msg_has(ERR_ARG, "read-only");
	store_close(s);
	/* cascades: deleting the run removes its summaries */
	s = store_open(path, 0, &err);
	x = (struct store_summary){ .layer = 0, .head = 0, .metric = "x", .n = 1, .mean = 1,
	                            .std = 0, .p50 = 1, .p90 = 1 };
	assert_int_equal(store_put_summary(s, run, &x), 0);
	store_close(s);
	raw_exec(path, "PRAGMA foreign_keys = ON; DELETE FROM runs");
	assert_int_equal(raw_int(path, "SELECT count(*) FROM head_summary"), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_enc_names),
		cmocka_unit_test(test_blob_bytes_little_endian),
		cmocka_unit_test(test_blob_f32_exact),
		cmocka_unit_test(test_blob_tri_drops_upper),
		cmocka_unit_test(test_blob_f16_and_f16z),
		cmocka_unit_test(test_blob_encode_rejects),
		cmocka_unit_test(test_blob_decode_rejects),
		cmocka_unit_test(test_blob_decode_mutations),
		cmocka_unit_test(test_roundtrip_memory),
		cmocka_unit_test(test_roundtrip_file),
		cmocka_unit_test(test_newer_version_refused),
		cmocka_unit_test(test_not_sqlite_refused),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_foreign_or_empty_db),
		cmocka_unit_test(test_resumable),
		cmocka_unit_test(test_rollback),
		cmocka_unit_test(test_cascade),
		cmocka_unit_test(test_hostile_rows),
		cmocka_unit_test(test_migrate_v1_to_v2),
		cmocka_unit_test(test_analysis_tables),
		cmocka_unit_test(test_analysis_tables_readonly),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

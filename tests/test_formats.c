/*
 * test_formats.c — GGUF and safetensors readers and dequantization.
 *
 * Files are assembled here with a small writer (GGUF v2 and v3 with every
 * value type, nested arrays and tensors of every supported type; safetensors
 * single and sharded), and hostile variants of them must fail with the right
 * code and a one-line message, never crash (every prefix of a valid file
 * is tried, each in an exact-size heap buffer so sanitizers see over-reads).
 * Quantized blocks are decoded again here element by element from the block
 * layouts, with ggml's float operations in ggml's order, and must match bit
 * for bit.
 *
 * When $ATTNSCOPE_SHARED is set, the cases on the reference models and
 * tokenizers are registered too (otherwise they are left out, not skipped).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "formats/formats.h"
#include "util/util.h"

/* ------------------------------------------------------------------------
 * Byte buffer and little-endian writers
 */

struct bytes {
	uint8_t *p;
	size_t n, cap;
};

static void
put(struct bytes *b, const void *data, size_t len)
{
	if (b->n + len > b->cap) {
		b->cap = (b->n + len) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	if (len)
		memcpy(b->p + b->n, data, len);
	b->n += len;
}

static void
put_u8(struct bytes *b, uint8_t v)
{
	put(b, &v, 1);
}

static void
put_u16(struct bytes *b, uint16_t v)
{
	uint8_t x[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
	put(b, x, 2);
}

static void
put_u32(struct bytes *b, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		put_u8(b, (uint8_t)(v >> (8 * i)));
}

static void
put_u64(struct bytes *b, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		put_u8(b, (uint8_t)(v >> (8 * i)));
}

static void
put_f32(struct bytes *b, float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	put_u32(b, u);
}

static void
put_f64(struct bytes *b, double f)
{
	uint64_t u;
	memcpy(&u, &f, 8);
	put_u64(b, u);
}

/* gguf string: uint64 length + bytes */
static void
put_gstr(struct bytes *b, const char *s, size_t len)
{
	put_u64(b, len);
	put(b, s, len);
}

static void
put_cstr(struct bytes *b, const char *s)
{
	put_gstr(b, s, strlen(s));
}

static void
pad_to(struct bytes *b, size_t align)
{
	while (b->n % align)
		put_u8(b, 0);
}

static void
bytes_free(struct bytes *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

/* Deterministic pseudo-random bytes (xorshift). */
static uint32_t rng_state = 12345;

static uint32_t
rng(void)
{
	uint32_t x = rng_state;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return rng_state = x;
}

/* ------------------------------------------------------------------------
 * Error checks shared by the hostile cases
 */

/* The last message: one line, prefixed, mentioning `what` (if given). */
static void
check_msg(int code, const char *prefix, const char *what)
{
	const char *m = err_msg(code);
	assert_non_null(m);
	if (strncmp(m, prefix, strlen(prefix)) != 0 || strchr(m, '\n') ||
	    (what && !strstr(m, what))) {
		print_error("message '%s' (wanted prefix '%s', text '%s')\n", m, prefix,
		            what ? what : "");
		fail();
	}
}

/* gguf_open_mem on an exact-size heap copy of (data, len) must fail with
 * `code` and a message containing `what`. */
static void
gguf_expect_fail(const uint8_t *data, size_t len, int code, const char *what)
{
	uint8_t *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	if (len)
		memcpy(copy, data, len);
	err_clear();
	int err = 0;
	struct gguf *g = gguf_open_mem(copy, len, "bad.gguf", &err);
	bool accepted = g != NULL;
	gguf_close(g);
	free(copy);
	if (accepted)
		print_error("expected failure '%s', got success\n", what ? what : "");
	assert_false(accepted);
	if (err != code)
		print_error("expected code %d, got %d: %s\n", code, err, err_msg(err));
	assert_int_equal(err, code);
	check_msg(err, "gguf: 'bad.gguf': ", what);
}

/* ------------------------------------------------------------------------
 * GGUF writer
 */

struct gw {
	struct bytes b;
	int n_kv_pos;               /* where n_kv was written, patched later */
	uint64_t n_kv, n_tensors;
};

static void
gw_begin(struct gw *w, uint32_t version, uint64_t n_tensors)
{
	memset(w, 0, sizeof *w);
	put(&w->b, "GGUF", 4);
	put_u32(&w->b, version);
	put_u64(&w->b, n_tensors);
	w->n_kv_pos = (int)w->b.n;
	put_u64(&w->b, 0);
	w->n_tensors = n_tensors;
}

/* Count one more key/value in the header and write its key and type. */
static void
gw_key(struct gw *w, const char *key, enum gguf_type type)
{
	w->n_kv++;
	for (int i = 0; i < 8; i++)
		w->b.p[w->n_kv_pos + i] = (uint8_t)(w->n_kv >> (8 * i));
	put_cstr(&w->b, key);
	put_u32(&w->b, type);
}

static void
gw_u32(struct gw *w, const char *key, uint32_t v)
{
	gw_key(w, key, GGUF_UINT32);
	put_u32(&w->b, v);
}

static void
gw_str(struct gw *w, const char *key, const char *s)
{
	gw_key(w, key, GGUF_STRING);
	put_cstr(&w->b, s);
}

/* Tensor info; ne innermost first as in the file. */
static void
gw_tensor(struct gw *w, const char *name, int n_dims, const uint64_t *ne,
          uint32_t type, uint64_t offset)
{
	put_cstr(&w->b, name);
	put_u32(&w->b, (uint32_t)n_dims);
	for (int i = 0; i < n_dims; i++)
		put_u64(&w->b, ne[i]);
	put_u32(&w->b, type);
	put_u64(&w->b, offset);
}

/* A small valid v3 file: two KVs (one string array), two F32 tensors
 * [2,3] and [4], data ending exactly at the end of the file. */
static void
small_valid(struct bytes *out, uint32_t version)
{
	struct gw w;
	gw_begin(&w, version, 2);
	gw_str(&w, "general.architecture", "llama");
	gw_key(&w, "tokenizer.ggml.tokens", GGUF_ARRAY);
	put_u32(&w.b, GGUF_STRING);
	put_u64(&w.b, 2);
	put_cstr(&w.b, "a");
	put_cstr(&w.b, "bc");
	uint64_t ne1[2] = { 3, 2 }, ne2[1] = { 4 };
	gw_tensor(&w, "w", 2, ne1, FMT_F32, 0);
	gw_tensor(&w, "v", 1, ne2, FMT_F32, 32);
	pad_to(&w.b, 32);
	for (int i = 0; i < 6; i++)
		put_f32(&w.b, (float)i);
	pad_to(&w.b, 32);
	for (int i = 0; i < 4; i++)
		put_f32(&w.b, -1.0f - (float)i);
	*out = w.b;
}

/* ------------------------------------------------------------------------
 * GGUF: key/values
 */

static void
kv_all_types(uint32_t version)
{
	struct gw w;
	gw_begin(&w, version, 0);
	gw_key(&w, "u8", GGUF_UINT8);
	put_u8(&w.b, 200);
	gw_key(&w, "i8", GGUF_INT8);
	put_u8(&w.b, 0x80);                 /* -128 */
	gw_key(&w, "u16", GGUF_UINT16);
	put_u16(&w.b, 65535);
	gw_key(&w, "i16", GGUF_INT16);
	put_u16(&w.b, 0xFFFE);              /* -2 */
	gw_key(&w, "u32", GGUF_UINT32);
	put_u32(&w.b, 4000000000u);
	gw_key(&w, "i32", GGUF_INT32);
	put_u32(&w.b, (uint32_t)-7);
	gw_key(&w, "f32", GGUF_FLOAT32);
	put_f32(&w.b, 0.25f);
	gw_key(&w, "bool_t", GGUF_BOOL);
	put_u8(&w.b, 1);
	gw_key(&w, "bool_f", GGUF_BOOL);
	put_u8(&w.b, 0);
	gw_key(&w, "str", GGUF_STRING);
	put_gstr(&w.b, "a\0b\xff\n", 5);    /* any bytes */
	gw_key(&w, "u64", GGUF_UINT64);
	put_u64(&w.b, 1ull << 40);
	gw_key(&w, "u64_big", GGUF_UINT64);
	put_u64(&w.b, UINT64_MAX);
	gw_key(&w, "i64", GGUF_INT64);
	put_u64(&w.b, (uint64_t)INT64_MIN);
	gw_key(&w, "f64", GGUF_FLOAT64);
	put_f64(&w.b, -1.5e300);
	gw_key(&w, "empty_str", GGUF_STRING);
	put_gstr(&w.b, "", 0);
	/* arrays */
	gw_key(&w, "arr_u8", GGUF_ARRAY);
	put_u32(&w.b, GGUF_UINT8);
	put_u64(&w.b, 3);
	put_u8(&w.b, 1);
	put_u8(&w.b, 2);
	put_u8(&w.b, 255);
	gw_key(&w, "arr_i16", GGUF_ARRAY);
	put_u32(&w.b, GGUF_INT16);
	put_u64(&w.b, 2);
	put_u16(&w.b, 0x8000);
	put_u16(&w.b, 7);
	gw_key(&w, "arr_f32", GGUF_ARRAY);
	put_u32(&w.b, GGUF_FLOAT32);
	put_u64(&w.b, 2);
	put_f32(&w.b, 1.5f);
	put_f32(&w.b, -3.0f);
	gw_key(&w, "arr_f64", GGUF_ARRAY);
	put_u32(&w.b, GGUF_FLOAT64);
	put_u64(&w.b, 1);
	put_f64(&w.b, 0.1);
	gw_key(&w, "arr_bool", GGUF_ARRAY);
	put_u32(&w.b, GGUF_BOOL);
	put_u64(&w.b, 2);
	put_u8(&w.b, 0);
	put_u8(&w.b, 1);
	gw_key(&w, "arr_u64", GGUF_ARRAY);
	put_u32(&w.b, GGUF_UINT64);
	put_u64(&w.b, 2);
	put_u64(&w.b, 5);
	put_u64(&w.b, UINT64_MAX);
	gw_key(&w, "arr_str", GGUF_ARRAY);
	put_u32(&w.b, GGUF_STRING);
	put_u64(&w.b, 3);
	put_cstr(&w.b, "hello");
	put_gstr(&w.b, "", 0);
	put_gstr(&w.b, "x\0y", 3);
	gw_key(&w, "arr_empty", GGUF_ARRAY);
	put_u32(&w.b, GGUF_INT32);
	put_u64(&w.b, 0);
	/* an array of 2 arrays: [u32 x2], [string x1] */
	gw_key(&w, "arr_nested", GGUF_ARRAY);
	put_u32(&w.b, GGUF_ARRAY);
	put_u64(&w.b, 2);
	put_u32(&w.b, GGUF_UINT32);
	put_u64(&w.b, 2);
	put_u32(&w.b, 10);
	put_u32(&w.b, 11);
	put_u32(&w.b, GGUF_STRING);
	put_u64(&w.b, 1);
	put_cstr(&w.b, "deep");
	gw_u32(&w, "after_nested", 42);

	int err = -1;
	struct gguf *g = gguf_open_mem(w.b.p, w.b.n, "kv.gguf", &err);
	if (!g)
		print_error("%s\n", err_msg(err));
	assert_non_null(g);
	assert_int_equal(err, 0);
	assert_int_equal(gguf_version(g), (int)version);
	assert_int_equal(gguf_n_kv(g), 25);
	assert_int_equal(gguf_n_tensors(g), 0);

	/* index access in file order, lookup by key */
	assert_string_equal(gguf_key(g, 0), "u8");
	assert_int_equal(gguf_kv_type(g, 0), GGUF_UINT8);
	assert_string_equal(gguf_key(g, 24), "after_nested");
	assert_null(gguf_key(g, 25));
	assert_null(gguf_key(g, -1));
	assert_int_equal(gguf_kv_type(g, 25), GGUF_TYPE_COUNT);
	assert_int_equal(gguf_find_key(g, "str"), 9);
	assert_int_equal(gguf_kv_type(g, 9), GGUF_STRING);
	assert_int_equal(gguf_find_key(g, "nope"), -1);
	for (int64_t i = 0; i < gguf_n_kv(g); i++)
		assert_int_equal(gguf_find_key(g, gguf_key(g, i)), i);

	int64_t iv;
	double dv;
	bool bv;
	const char *s;
	size_t len;
	assert_int_equal(gguf_get_int(g, "u8", &iv), 0);
	assert_int_equal(iv, 200);
	assert_int_equal(gguf_get_int(g, "i8", &iv), 0);
	assert_int_equal(iv, -128);
	assert_int_equal(gguf_get_int(g, "u16", &iv), 0);
	assert_int_equal(iv, 65535);
	assert_int_equal(gguf_get_int(g, "i16", &iv), 0);
	assert_int_equal(iv, -2);
	assert_int_equal(gguf_get_int(g, "u32", &iv), 0);
	assert_int_equal(iv, 4000000000ll);
	assert_int_equal(gguf_get_int(g, "i32", &iv), 0);
	assert_int_equal(iv, -7);
	assert_int_equal(gguf_get_int(g, "u64", &iv), 0);
	assert_int_equal(iv, 1ll << 40);
	assert_int_equal(gguf_get_int(g, "i64", &iv), 0);
	assert_true(iv == INT64_MIN);
	assert_int_equal(gguf_get_int(g, "u64_big", &iv), ERR_FORMAT);
	assert_int_equal(gguf_get_int(g, "bool_t", &iv), 0);
	assert_int_equal(iv, 1);
	assert_int_equal(gguf_get_int(g, "bool_f", &iv), 0);
	assert_int_equal(iv, 0);
	assert_int_equal(gguf_get_int(g, "f32", &iv), ERR_FORMAT);
	check_msg(ERR_FORMAT, "gguf: 'kv.gguf': ", "f32");
	assert_int_equal(gguf_get_int(g, "str", &iv), ERR_FORMAT);
	assert_int_equal(gguf_get_int(g, "missing", &iv), ERR_NOTFOUND);
	check_msg(ERR_NOTFOUND, "gguf: 'kv.gguf': ", "missing");

	assert_int_equal(gguf_get_float(g, "f32", &dv), 0);
	assert_true(dv == 0.25);
	assert_int_equal(gguf_get_float(g, "f64", &dv), 0);
	assert_true(dv == -1.5e300);
	assert_int_equal(gguf_get_float(g, "i16", &dv), 0);
	assert_true(dv == -2.0);
	assert_int_equal(gguf_get_float(g, "u64_big", &dv), 0);
	assert_true(dv == 18446744073709551615.0);
	assert_int_equal(gguf_get_float(g, "str", &dv), ERR_FORMAT);
	assert_int_equal(gguf_get_float(g, "arr_f32", &dv), ERR_FORMAT);

	assert_int_equal(gguf_get_bool(g, "bool_t", &bv), 0);
	assert_true(bv);
	assert_int_equal(gguf_get_bool(g, "bool_f", &bv), 0);
	assert_false(bv);
	assert_int_equal(gguf_get_bool(g, "u8", &bv), ERR_FORMAT);

	assert_int_equal(gguf_get_str(g, "str", &s, &len), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(s, "a\0b\xff\n", 5);
	assert_int_equal(gguf_get_str(g, "empty_str", &s, &len), 0);
	assert_int_equal(len, 0);
	assert_int_equal(gguf_get_str(g, "u8", &s, &len), ERR_FORMAT);
	assert_int_equal(gguf_get_str(g, "nope", &s, &len), ERR_NOTFOUND);

	enum gguf_type et;
	uint64_t n;
	assert_int_equal(gguf_get_arr(g, "arr_u8", &et, &n), 0);
	assert_int_equal(et, GGUF_UINT8);
	assert_int_equal(n, 3);
	assert_int_equal(gguf_get_arr_int(g, "arr_u8", 2, &iv), 0);
	assert_int_equal(iv, 255);
	assert_int_equal(gguf_get_arr_int(g, "arr_u8", 3, &iv), ERR_RANGE);
	assert_int_equal(gguf_get_arr_float(g, "arr_u8", 1, &dv), 0);
	assert_true(dv == 2.0);
	assert_int_equal(gguf_get_arr_int(g, "arr_i16", 0, &iv), 0);
	assert_int_equal(iv, -32768);
	assert_int_equal(gguf_get_arr_float(g, "arr_f32", 1, &dv), 0);
	assert_true(dv == -3.0);
	assert_int_equal(gguf_get_arr_int(g, "arr_f32", 1, &iv), ERR_FORMAT);
	assert_int_equal(gguf_get_arr_float(g, "arr_f64", 0, &dv), 0);
	assert_true(dv == 0.1);
	assert_int_equal(gguf_get_arr_int(g, "arr_bool", 1, &iv), 0);
	assert_int_equal(iv, 1);
	assert_int_equal(gguf_get_arr_float(g, "arr_bool", 1, &dv), ERR_FORMAT);
	assert_int_equal(gguf_get_arr_int(g, "arr_u64", 0, &iv), 0);
	assert_int_equal(iv, 5);
	assert_int_equal(gguf_get_arr_int(g, "arr_u64", 1, &iv), ERR_FORMAT);

	assert_int_equal(gguf_get_arr(g, "arr_str", &et, &n), 0);
	assert_int_equal(et, GGUF_STRING);
	assert_int_equal(n, 3);
	assert_int_equal(gguf_get_arr_str(g, "arr_str", 0, &s, &len), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(s, "hello", 5);
	assert_int_equal(gguf_get_arr_str(g, "arr_str", 1, &s, &len), 0);
	assert_int_equal(len, 0);
	assert_int_equal(gguf_get_arr_str(g, "arr_str", 2, &s, &len), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(s, "x\0y", 3);
	assert_int_equal(gguf_get_arr_str(g, "arr_str", 3, &s, &len), ERR_RANGE);
	assert_int_equal(gguf_get_arr_str(g, "arr_u8", 0, &s, &len), ERR_FORMAT);
	assert_int_equal(gguf_get_arr_int(g, "arr_str", 0, &iv), ERR_FORMAT);
	assert_int_equal(gguf_get_arr(g, "u8", &et, &n), ERR_FORMAT);

	assert_int_equal(gguf_get_arr(g, "arr_empty", &et, &n), 0);
	assert_int_equal(et, GGUF_INT32);
	assert_int_equal(n, 0);
	assert_int_equal(gguf_get_arr_int(g, "arr_empty", 0, &iv), ERR_RANGE);

	assert_int_equal(gguf_get_arr(g, "arr_nested", &et, &n), 0);
	assert_int_equal(et, GGUF_ARRAY);
	assert_int_equal(n, 2);
	assert_int_equal(gguf_get_arr_int(g, "arr_nested", 0, &iv), ERR_FORMAT);
	assert_int_equal(gguf_get_arr_str(g, "arr_nested", 1, &s, &len), ERR_FORMAT);
	assert_int_equal(gguf_get_int(g, "after_nested", &iv), 0);
	assert_int_equal(iv, 42);

	gguf_close(g);
	bytes_free(&w.b);
}

static void
test_gguf_kv_v3(void **state)
{
	(void)state;
	kv_all_types(3);
}

static void
test_gguf_kv_v2(void **state)
{
	(void)state;
	kv_all_types(2);
}

/* gguf_open on a real file (the mmap path), an absent file, a v2 file. */
static void
test_gguf_open_file(void **state)
{
	(void)state;
	struct bytes b;
	small_valid(&b, 2);
	char path[256];
	const char *dir = getenv("TMPDIR");
	snprintf(path, sizeof path, "%s/test_formats.XXXXXX", dir && *dir ? dir : "/tmp");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, b.p, b.n), (ssize_t)b.n);
	close(fd);

	int err = -1;
	struct gguf *g = gguf_open(path, &err);
	assert_non_null(g);
	assert_int_equal(err, 0);
	assert_int_equal(gguf_version(g), 2);
	const struct fmt_tensor *t = gguf_find_tensor(g, "v");
	assert_non_null(t);
	float out[4];
	assert_int_equal(fmt_tensor_to_f32(t, out), 0);
	assert_true(out[0] == -1.0f && out[3] == -4.0f);
	const char *s;
	size_t len;
	assert_int_equal(gguf_get_arr_str(g, "tokenizer.ggml.tokens", 1, &s, &len), 0);
	assert_int_equal(len, 2);
	assert_memory_equal(s, "bc", 2);
	gguf_close(g);
	gguf_close(NULL);

	unlink(path);
	err_clear();
	g = gguf_open(path, &err);
	assert_null(g);
	assert_int_equal(err, ERR_IO);
	check_msg(err, "gguf: '", path);
	bytes_free(&b);
}

/* ------------------------------------------------------------------------
 * Element-by-element references for the block formats. Each returns
 * element i of one block, derived from the layout description rather than
 * ggml's loops, with ggml's float operations in ggml's order; every
 * intermediate goes through a volatile float so no step can be fused.
 */

static float
rmul(float a, float b)
{
	volatile float r = a * b;
	return r;
}

static float
radd(float a, float b)
{
	volatile float r = a + b;
	return r;
}

static float
h2f(const uint8_t *p)
{
	return f16_to_f32((uint16_t)(p[0] | p[1] << 8));
}

static uint32_t
rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* nibble k (0..31) of a 16-byte quant array: 0..15 low, 16..31 high */
static int
nib32(const uint8_t *qs, int k)
{
	return k < 16 ? qs[k] & 15 : qs[k - 16] >> 4;
}

static float
ref_q4_0(const uint8_t *b, int i)
{
	return rmul((float)(nib32(b + 2, i) - 8), h2f(b));
}

static float
ref_q4_1(const uint8_t *b, int i)
{
	return radd(rmul((float)nib32(b + 4, i), h2f(b)), h2f(b + 2));
}

static float
ref_q5_0(const uint8_t *b, int i)
{
	int hi = (int)(rd32(b + 2) >> i) & 1;      /* bit i = 5th bit of element i */
	return rmul((float)((nib32(b + 6, i) | hi << 4) - 16), h2f(b));
}

static float
ref_q5_1(const uint8_t *b, int i)
{
	int hi = (int)(rd32(b + 4) >> i) & 1;
	return radd(rmul((float)(nib32(b + 8, i) | hi << 4), h2f(b)), h2f(b + 2));
}

static float
ref_q8_0(const uint8_t *b, int i)
{
	return rmul((float)(int8_t)b[2 + i], h2f(b));
}

/* 6-bit scale/min pair g (0..7) of a K-quant 12-byte scales field: bytes
 * 0-3 hold scales 0-3 in their low 6 bits and the top 2 bits of scales
 * 4-7; bytes 4-7 the same for mins; bytes 8-11 the low 4 bits of scales
 * 4-7 (low nibble) and mins 4-7 (high nibble). */
static void
k_scale_min(const uint8_t *s, int g, int *sc, int *mn)
{
	if (g < 4) {
		*sc = s[g] & 63;
		*mn = s[4 + g] & 63;
	} else {
		*sc = (s[8 + g - 4] & 15) | (s[g - 4] >> 6) << 4;
		*mn = (s[8 + g - 4] >> 4) | (s[4 + g - 4] >> 6) << 4;
	}
}

/* Q4_K (144 bytes: d, dmin, scales[12], qs[128]): element i is in group
 * g = i/32; group pairs share 32 bytes of qs, even group low nibbles. */
static float
ref_q4_k(const uint8_t *b, int i)
{
	int g = i / 32, l = i % 32, sc, mn;
	k_scale_min(b + 4, g, &sc, &mn);
	uint8_t byte = b[16 + (g / 2) * 32 + l];
	int q = g % 2 ? byte >> 4 : byte & 15;
	float d1 = rmul(h2f(b), (float)sc), m1 = rmul(h2f(b + 2), (float)mn);
	return radd(rmul(d1, (float)q), -m1);
}

/* Q5_K (176 bytes: d, dmin, scales[12], qh[32], qs[128]): as Q4_K plus
 * bit g of qh[l] as the 5th bit. */
static float
ref_q5_k(const uint8_t *b, int i)
{
	int g = i / 32, l = i % 32, sc, mn;
	k_scale_min(b + 4, g, &sc, &mn);
	uint8_t byte = b[48 + (g / 2) * 32 + l];
	int q = (g % 2 ? byte >> 4 : byte & 15) + (((b[16 + l] >> g) & 1) ? 16 : 0);
	float d1 = rmul(h2f(b), (float)sc), m1 = rmul(h2f(b + 2), (float)mn);
	return radd(rmul(d1, (float)q), -m1);
}

/* Q6_K (210 bytes: ql[128], qh[64], int8 scales[16], d): halves of 128;
 * in a half, quarter k = (i%128)/32 takes the low (k<2) or high nibble of
 * ql[64*half + 32*(k%2) + l] and bits 2k..2k+1 of qh[32*half + l]; the
 * scale is scales[8*half + 2k + l/16]. */
static float
ref_q6_k(const uint8_t *b, int i)
{
	int half = i / 128, r = i % 128, k = r / 32, l = r % 32;
	uint8_t lb = b[64 * half + 32 * (k % 2) + l];
	int lo = k < 2 ? lb & 15 : lb >> 4;
	int hi = (b[128 + 32 * half + l] >> (2 * k)) & 3;
	int q = (lo | hi << 4) - 32;
	int sc = (int8_t)b[192 + 8 * half + 2 * k + l / 16];
	return rmul(rmul(h2f(b + 208), (float)sc), (float)q);
}

/* Q2_K (84 bytes: scales[16], qs[64], d, dmin): halves of 128; in a half,
 * shift j = (i%128)/32 picks bits 2j..2j+1, sub = bit 4 of i picks
 * qs[32*half + 16*sub + l]; scale byte 8*half + 2j + sub holds scale (low
 * nibble) and min (high nibble). */
static float
ref_q2_k(const uint8_t *b, int i)
{
	int half = i / 128, r = i % 128, j = r / 32, sub = (r % 32) / 16, l = r % 16;
	uint8_t s = b[8 * half + 2 * j + sub];
	int q = (b[16 + 32 * half + 16 * sub + l] >> (2 * j)) & 3;
	float dl = rmul(h2f(b + 80), (float)(s & 15));
	float ml = rmul(h2f(b + 82), (float)(s >> 4));
	return radd(rmul(dl, (float)q), -ml);
}

/* Q3_K (110 bytes: hmask[32], qs[64], scales[12], d): 16 6-bit scales,
 * scale k's low 4 bits in byte k (k<8, low nibble) or k-8 (high nibble),
 * its top 2 bits at bits 2*(k/4) of byte 8 + k%4; value
 * (d * (scale-32)) * (q2 - (hmask bit ? 0 : 4)). */
static float
ref_q3_k(const uint8_t *b, int i)
{
	int half = i / 128, r = i % 128, j = r / 32, sub = (r % 32) / 16, l = r % 16;
	int k = 8 * half + 2 * j + sub;
	const uint8_t *s = b + 96;
	int lo = k < 8 ? s[k] & 15 : s[k - 8] >> 4;
	int hi = (s[8 + k % 4] >> (2 * (k / 4))) & 3;
	int scale = (lo | hi << 4) - 32;
	int q2 = (b[32 + 32 * half + 16 * sub + l] >> (2 * j)) & 3;
	int hbit = (b[16 * sub + l] >> (4 * half + j)) & 1;
	float dl = rmul(h2f(b + 108), (float)scale);
	return rmul(dl, (float)(q2 - (hbit ? 0 : 4)));
}

/* Q8_K (292 bytes: float d, int8 qs[256], int16 bsums[16]). */
static float
ref_q8_k(const uint8_t *b, int i)
{
	uint32_t u = rd32(b);
	float d;
	memcpy(&d, &u, 4);
	return rmul(d, (float)(int8_t)b[4 + i]);
}

struct qtype {
	enum fmt_type type;
	const char *name;
	int blck, tsize;
	float (*ref)(const uint8_t *, int);
	int fp16_at[2];             /* offsets of fp16 scales (-1: none) */
};

static const struct qtype qtypes[] = {
	{ FMT_Q4_0, "Q4_0", 32, 18, ref_q4_0, { 0, -1 } },
	{ FMT_Q4_1, "Q4_1", 32, 20, ref_q4_1, { 0, 2 } },
	{ FMT_Q5_0, "Q5_0", 32, 22, ref_q5_0, { 0, -1 } },
	{ FMT_Q5_1, "Q5_1", 32, 24, ref_q5_1, { 0, 2 } },
	{ FMT_Q8_0, "Q8_0", 32, 34, ref_q8_0, { 0, -1 } },
	{ FMT_Q2_K, "Q2_K", 256, 84, ref_q2_k, { 80, 82 } },
	{ FMT_Q3_K, "Q3_K", 256, 110, ref_q3_k, { 108, -1 } },
	{ FMT_Q4_K, "Q4_K", 256, 144, ref_q4_k, { 0, 2 } },
	{ FMT_Q5_K, "Q5_K", 256, 176, ref_q5_k, { 0, 2 } },
	{ FMT_Q6_K, "Q6_K", 256, 210, ref_q6_k, { 208, -1 } },
	{ FMT_Q8_K, "Q8_K", 256, 292, ref_q8_k, { -1, -1 } },
};

/* Fill nb blocks of type q with random bytes and sane fp16 scales. */
static void
random_blocks(const struct qtype *q, uint8_t *x, int nb)
{
	for (int k = 0; k < nb * q->tsize; k++)
		x[k] = (uint8_t)rng();
	for (int k = 0; k < nb; k++) {
		uint8_t *blk = x + k * q->tsize;
		for (int s = 0; s < 2; s++) {
			if (q->fp16_at[s] < 0)
				continue;
			float v = ((float)(rng() % 20000) - 10000.0f) * 1e-5f;  /* |v| < 0.1 */
			uint16_t h = f16_from_f32(v);
			blk[q->fp16_at[s]] = (uint8_t)h;
			blk[q->fp16_at[s] + 1] = (uint8_t)(h >> 8);
		}
		if (q->type == FMT_Q8_K) {
			float d = ((float)(rng() % 1000) + 1.0f) * 1e-4f;
			memcpy(blk, &d, 4);
		}
	}
}

/* One hand-built block per type with exact values (power-of-two scales):
 * element i of a Q4_0 block with d = 0.5 and qs[j] = (j+1)<<4 | j is
 * (i - 8) * 0.5 for i < 16 and (i - 16 + 1 - 8) * 0.5 after. */
static void
test_q4_0_hand_block(void **state)
{
	(void)state;
	uint8_t blk[18];
	uint16_t d = f16_from_f32(0.5f);
	blk[0] = (uint8_t)d;
	blk[1] = (uint8_t)(d >> 8);
	for (int j = 0; j < 16; j++)
		blk[2 + j] = (uint8_t)(((j + 1) & 15) << 4 | j);
	struct fmt_tensor t = { .name = "h", .type = FMT_Q4_0, .ndim = 1,
	                        .shape = { 32 }, .n = 32, .data = blk, .nbytes = 18 };
	float out[32];
	assert_int_equal(fmt_tensor_to_f32(&t, out), 0);
	for (int i = 0; i < 16; i++)
		assert_true(out[i] == (float)(i - 8) * 0.5f);
	for (int i = 16; i < 32; i++)
		assert_true(out[i] == (float)(((i - 16 + 1) & 15) - 8) * 0.5f);
}

/* Every block type, random blocks (3 or 2 per tensor), against the
 * element-wise reference, bit for bit. */
static void
test_dequant_random_blocks(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof qtypes / sizeof qtypes[0]; k++) {
		const struct qtype *q = &qtypes[k];
		for (int rep = 0; rep < 20; rep++) {
			int nb = 3;
			uint8_t *x = malloc((size_t)nb * q->tsize);
			float *out = malloc((size_t)nb * q->blck * sizeof *out);
			assert_non_null(x);
			assert_non_null(out);
			random_blocks(q, x, nb);
			struct fmt_tensor t = { .name = q->name, .type = q->type, .ndim = 2,
			                        .shape = { nb, q->blck }, .n = nb * q->blck,
			                        .data = x, .nbytes = (size_t)nb * q->tsize };
			assert_true(fmt_type_supported(q->type));
			assert_int_equal(fmt_tensor_to_f32(&t, out), 0);
			for (int b = 0; b < nb; b++) {
				for (int i = 0; i < q->blck; i++) {
					float want = q->ref(x + b * q->tsize, i);
					float got = out[b * q->blck + i];
					if (memcmp(&want, &got, 4) != 0) {
						print_error("%s block %d elem %d: got %.9g want %.9g\n",
						            q->name, b, i, got, want);
						fail();
					}
				}
			}
			free(x);
			free(out);
		}
	}
}

/* ------------------------------------------------------------------------
 * GGUF: tensors of every supported type in one file
 */

static void
test_gguf_tensors(void **state)
{
	(void)state;
	/* payloads: F32 [2,3], F16 [5], BF16 [3], then one tensor per block
	 * type of shape [2, blck] (ne = [blck, 2]), and a zero-sized tensor */
	struct bytes data = { 0 };
	uint64_t offs[32];
	int nt = 0;
	const float f32v[6] = { 0.0f, 1.0f, -2.5f, 3.25f, 1e-30f, -1e30f };
	offs[nt++] = data.n;
	for (int i = 0; i < 6; i++)
		put_f32(&data, f32v[i]);
	pad_to(&data, 32);
	const uint16_t f16v[5] = { 0x3C00, 0xC000, 0x3555, 0x7BFF, 0x0001 };
	const float f16want[5] = { 1.0f, -2.0f, 0.333251953125f, 65504.0f, 5.9604644775390625e-8f };
	offs[nt++] = data.n;
	for (int i = 0; i < 5; i++)
		put_u16(&data, f16v[i]);
	pad_to(&data, 32);
	const uint16_t bf16v[3] = { 0x3F80, 0xC0A0, 0x4049 };
	const float bf16want[3] = { 1.0f, -5.0f, 3.140625f };
	offs[nt++] = data.n;
	for (int i = 0; i < 3; i++)
		put_u16(&data, bf16v[i]);
	pad_to(&data, 32);
	const size_t nq = sizeof qtypes / sizeof qtypes[0];
	size_t qstart[16];
	for (size_t k = 0; k < nq; k++) {
		offs[nt++] = data.n;
		qstart[k] = data.n;
		uint8_t blk[2 * 292];
		random_blocks(&qtypes[k], blk, 2);
		put(&data, blk, 2 * (size_t)qtypes[k].tsize);
		pad_to(&data, 32);
	}
	offs[nt++] = data.n;  /* empty tensor, ne = [4, 0] */

	struct gw w;
	gw_begin(&w, 3, (uint64_t)nt);
	gw_str(&w, "general.architecture", "test");
	uint64_t ne_f32[2] = { 3, 2 }, ne_f16[1] = { 5 }, ne_bf16[1] = { 3 };
	gw_tensor(&w, "f32", 2, ne_f32, FMT_F32, offs[0]);
	gw_tensor(&w, "f16", 1, ne_f16, FMT_F16, offs[1]);
	gw_tensor(&w, "bf16", 1, ne_bf16, FMT_BF16, offs[2]);
	for (size_t k = 0; k < nq; k++) {
		uint64_t ne[2] = { (uint64_t)qtypes[k].blck, 2 };
		gw_tensor(&w, qtypes[k].name, 2, ne, qtypes[k].type, offs[3 + k]);
	}
	uint64_t ne_empty[2] = { 4, 0 };
	gw_tensor(&w, "empty", 2, ne_empty, FMT_F32, offs[nt - 1]);
	pad_to(&w.b, 32);
	size_t data_start = w.b.n;
	put(&w.b, data.p, data.n);

	int err = -1;
	struct gguf *g = gguf_open_mem(w.b.p, w.b.n, "t.gguf", &err);
	if (!g)
		print_error("%s\n", err_msg(err));
	assert_non_null(g);
	assert_int_equal(gguf_n_tensors(g), nt);

	const struct fmt_tensor *t = gguf_tensor(g, 0);
	assert_string_equal(t->name, "f32");
	assert_ptr_equal(gguf_find_tensor(g, "f32"), t);
	assert_int_equal(t->type, FMT_F32);
	assert_int_equal(t->ndim, 2);
	assert_int_equal(t->shape[0], 2);   /* outermost first */
	assert_int_equal(t->shape[1], 3);
	assert_int_equal(t->n, 6);
	assert_int_equal(t->nbytes, 24);
	assert_ptr_equal(t->data, w.b.p + data_start + offs[0]);
	float out[2 * 256];
	assert_int_equal(fmt_tensor_to_f32(t, out), 0);
	assert_memory_equal(out, f32v, sizeof f32v);

	t = gguf_find_tensor(g, "f16");
	assert_non_null(t);
	assert_int_equal(t->shape[0], 5);
	assert_int_equal(t->nbytes, 10);
	assert_int_equal(fmt_tensor_to_f32(t, out), 0);
	for (int i = 0; i < 5; i++)
		assert_true(out[i] == f16want[i]);

	t = gguf_find_tensor(g, "bf16");
	assert_non_null(t);
	assert_int_equal(fmt_tensor_to_f32(t, out), 0);
	for (int i = 0; i < 3; i++)
		assert_true(out[i] == bf16want[i]);

	for (size_t k = 0; k < nq; k++) {
		const struct qtype *q = &qtypes[k];
		t = gguf_find_tensor(g, q->name);
		assert_non_null(t);
		assert_int_equal(t->type, q->type);
		assert_string_equal(fmt_type_name(t->type), q->name);
		assert_int_equal(t->ndim, 2);
		assert_int_equal(t->shape[0], 2);
		assert_int_equal(t->shape[1], q->blck);
		assert_int_equal(t->n, 2 * q->blck);
		assert_int_equal(t->nbytes, 2 * (size_t)q->tsize);
		assert_int_equal(fmt_tensor_to_f32(t, out), 0);
		const uint8_t *x = data.p + qstart[k];
		for (int i = 0; i < 2 * q->blck; i++) {
			float want = q->ref(x + (i / q->blck) * q->tsize, i % q->blck);
			if (memcmp(&want, &out[i], 4) != 0) {
				print_error("%s elem %d: got %.9g want %.9g\n", q->name, i, out[i], want);
				fail();
			}
		}
	}

	t = gguf_find_tensor(g, "empty");
	assert_non_null(t);
	assert_int_equal(t->n, 0);
	assert_int_equal(t->nbytes, 0);
	assert_int_equal(t->shape[0], 0);
	assert_int_equal(fmt_tensor_to_f32(t, out), 0);
	assert_null(gguf_find_tensor(g, "nope"));
	assert_null(gguf_tensor(g, nt));
	gguf_close(g);
	bytes_free(&w.b);
	bytes_free(&data);
}

/* fmt_tensor_to_f32 on hand-made descriptors: checks before it converts. */
static void
test_to_f32_checks(void **state)
{
	(void)state;
	uint8_t buf[64] = { 0 };
	float out[16];
	struct fmt_tensor t = { .name = "x", .type = FMT_F32, .ndim = 2, .shape = { 2, 2 },
	                        .n = 4, .data = buf, .nbytes = 12 };
	err_clear();
	assert_int_equal(fmt_tensor_to_f32(&t, out), ERR_FORMAT);
	check_msg(ERR_FORMAT, "formats: tensor 'x'", "bytes");
	t.nbytes = 16;
	t.n = 5;
	assert_int_equal(fmt_tensor_to_f32(&t, out), ERR_FORMAT);
	t.n = 4;
	assert_int_equal(fmt_tensor_to_f32(&t, out), 0);
	t.type = FMT_I64;
	t.nbytes = 32;
	assert_false(fmt_type_supported(FMT_I64));
	assert_int_equal(fmt_tensor_to_f32(&t, out), ERR_UNSUPPORTED);
	t.type = FMT_Q8_1;
	assert_int_equal(fmt_tensor_to_f32(&t, out), ERR_UNSUPPORTED);
	t.type = FMT_Q4_0;  /* 4 elements: not a whole block */
	t.nbytes = 18;
	assert_int_equal(fmt_tensor_to_f32(&t, out), ERR_FORMAT);
	assert_string_equal(fmt_type_name(FMT_BF16), "BF16");
	assert_string_equal(fmt_type_name((enum fmt_type)5), "?");
}

/* ------------------------------------------------------------------------
 * GGUF: hostile files
 */

static void
test_gguf_bad_header(void **state)
{
	(void)state;
	struct bytes b;
	small_valid(&b, 3);
	memcpy(b.p, "GGUX", 4);
	gguf_expect_fail(b.p, b.n, ERR_FORMAT, "magic");
	memcpy(b.p, "GGUF", 4);
	b.p[4] = 1;
	gguf_expect_fail(b.p, b.n, ERR_UNSUPPORTED, "version 1");
	b.p[4] = 99;
	gguf_expect_fail(b.p, b.n, ERR_UNSUPPORTED, "version 99");
	b.p[4] = 0;
	b.p[7] = 3;  /* byte-swapped version 3 */
	gguf_expect_fail(b.p, b.n, ERR_UNSUPPORTED, "big-endian");
	b.p[4] = 3;
	b.p[7] = 0;
	gguf_expect_fail(b.p, 0, ERR_FORMAT, "magic");

	/* n_tensors, then n_kv, absurdly large */
	struct bytes c = { 0 };
	put(&c, b.p, b.n);
	for (int i = 0; i < 8; i++)
		c.p[8 + i] = (uint8_t)((1ull << 60) >> (8 * i));
	gguf_expect_fail(c.p, c.n, ERR_FORMAT, "tensors cannot fit");
	memcpy(c.p, b.p, b.n);
	for (int i = 0; i < 8; i++)
		c.p[16 + i] = (uint8_t)((1ull << 60) >> (8 * i));
	gguf_expect_fail(c.p, c.n, ERR_FORMAT, "key/values cannot fit");
	memcpy(c.p, b.p, b.n);
	memset(c.p + 8, 0xFF, 16);
	gguf_expect_fail(c.p, c.n, ERR_FORMAT, "cannot fit");
	bytes_free(&c);
	bytes_free(&b);
}

/* Every strict prefix of a small valid file fails cleanly. */
static void
test_gguf_truncated(void **state)
{
	(void)state;
	for (uint32_t v = 2; v <= 3; v++) {
		struct bytes b;
		small_valid(&b, v);
		int err;
		struct gguf *g = gguf_open_mem(b.p, b.n, "ok.gguf", &err);
		assert_non_null(g);
		gguf_close(g);
		for (size_t len = 0; len < b.n; len++) {
			uint8_t *copy = malloc(len ? len : 1);
			assert_non_null(copy);
			memcpy(copy, b.p, len);
			err = 0;
			err_clear();
			g = gguf_open_mem(copy, len, "cut.gguf", &err);
			bool accepted = g != NULL;
			gguf_close(g);
			free(copy);
			if (accepted)
				print_error("prefix of %zu/%zu bytes accepted\n", len, b.n);
			assert_false(accepted);
			assert_true(err < 0);
			check_msg(err, "gguf: 'cut.gguf': ", NULL);
		}
		bytes_free(&b);
	}
}

/* Builds a file with one key/value written by `kv` and one F32 tensor. */
static void
one_kv_file(struct bytes *out, void (*kv)(struct gw *))
{
	struct gw w;
	gw_begin(&w, 3, 1);
	kv(&w);
	uint64_t ne[1] = { 8 };
	gw_tensor(&w, "t", 1, ne, FMT_F32, 0);
	pad_to(&w.b, 32);
	for (int i = 0; i < 8; i++)
		put_f32(&w.b, 1.0f);
	*out = w.b;
}

static void
kv_long_string(struct gw *w)
{
	gw_key(w, "s", GGUF_STRING);
	put_u64(&w->b, 1000000);
	put(&w->b, "abc", 3);
}

static void
kv_huge_array(struct gw *w)
{
	gw_key(w, "a", GGUF_ARRAY);
	put_u32(&w->b, GGUF_UINT32);
	put_u64(&w->b, 1ull << 62);
}

static void
kv_huge_str_array(struct gw *w)
{
	gw_key(w, "a", GGUF_ARRAY);
	put_u32(&w->b, GGUF_STRING);
	put_u64(&w->b, 1ull << 60);
}

static void
kv_deep_array(struct gw *w)
{
	gw_key(w, "a", GGUF_ARRAY);
	for (int i = 0; i < 40; i++) {
		put_u32(&w->b, GGUF_ARRAY);
		put_u64(&w->b, 1);
	}
	put_u32(&w->b, GGUF_UINT8);
	put_u64(&w->b, 0);
}

static void
kv_bad_type(struct gw *w)
{
	gw_key(w, "x", (enum gguf_type)13);
	put_u32(&w->b, 0);
}

static void
kv_bad_elem_type(struct gw *w)
{
	gw_key(w, "x", GGUF_ARRAY);
	put_u32(&w->b, 77);
	put_u64(&w->b, 0);
}

static void
kv_duplicate(struct gw *w)
{
	gw_u32(w, "dup.key", 1);
	gw_str(w, "other", "x");
	gw_u32(w, "dup.key", 2);
}

static void
kv_empty_key(struct gw *w)
{
	gw_u32(w, "", 1);
}

static void
kv_nul_key(struct gw *w)
{
	w->n_kv++;
	for (int i = 0; i < 8; i++)
		w->b.p[w->n_kv_pos + i] = (uint8_t)(w->n_kv >> (8 * i));
	put_gstr(&w->b, "a\0b", 3);
	put_u32(&w->b, GGUF_UINT8);
	put_u8(&w->b, 0);
}

static void
kv_align_type(struct gw *w)
{
	gw_key(w, "general.alignment", GGUF_UINT64);
	put_u64(&w->b, 32);
}

static void
kv_align_npot(struct gw *w)
{
	gw_u32(w, "general.alignment", 24);
}

static void
test_gguf_bad_kv(void **state)
{
	(void)state;
	static const struct {
		void (*kv)(struct gw *);
		int code;
		const char *what;
	} cases[] = {
		{ kv_long_string, ERR_FORMAT, "string length 1000000 exceeds" },
		{ kv_huge_array, ERR_FORMAT, "cannot fit" },
		{ kv_huge_str_array, ERR_FORMAT, "cannot fit" },
		{ kv_deep_array, ERR_FORMAT, "nested" },
		{ kv_bad_type, ERR_FORMAT, "invalid value type 13" },
		{ kv_bad_elem_type, ERR_FORMAT, "element type 77" },
		{ kv_duplicate, ERR_FORMAT, "duplicate key 'dup.key'" },
		{ kv_empty_key, ERR_FORMAT, "empty" },
		{ kv_nul_key, ERR_FORMAT, "zero byte" },
		{ kv_align_type, ERR_FORMAT, "alignment" },
		{ kv_align_npot, ERR_FORMAT, "power of two" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct bytes b;
		one_kv_file(&b, cases[i].kv);
		gguf_expect_fail(b.p, b.n, cases[i].code, cases[i].what);
		bytes_free(&b);
	}
}

/* A file with tensors described by (name, n_dims, ne, type, offset) and
 * `data_len` bytes of data; alignment `align` (0: default key absent). */
struct tdesc {
	const char *name;
	int n_dims;
	uint64_t ne[5];
	uint32_t type;
	uint64_t offset;
};

static void
tensor_file(struct bytes *out, const struct tdesc *t, int nt, size_t data_len,
            uint32_t align)
{
	struct gw w;
	gw_begin(&w, 3, (uint64_t)nt);
	if (align)
		gw_u32(&w, "general.alignment", align);
	for (int i = 0; i < nt; i++)
		gw_tensor(&w, t[i].name, t[i].n_dims, t[i].ne, t[i].type, t[i].offset);
	pad_to(&w.b, align ? align : 32);
	for (size_t i = 0; i < data_len; i++)
		put_u8(&w.b, (uint8_t)i);
	*out = w.b;
}

static void
test_gguf_bad_tensors(void **state)
{
	(void)state;
	static const struct {
		struct tdesc t[2];
		int nt;
		size_t data_len;
		uint32_t align;
		int code;
		const char *what;
	} cases[] = {
		/* sanity: valid, must open (code 0) */
		{ { { "a", 1, { 8 }, FMT_F32, 0 }, { "b", 1, { 8 }, FMT_F32, 32 } }, 2, 64, 0, 0, NULL },
		{ { { "a", 1, { 8 }, FMT_F32, 0 } }, 1, 31, 0, ERR_FORMAT, "extends past the end" },
		{ { { "a", 1, { 8 }, FMT_F32, 1ull << 62 } }, 1, 32, 0, ERR_FORMAT, "extends past the end" },
		{ { { "a", 1, { 8 }, FMT_F32, UINT64_MAX - 31 } }, 1, 32, 0, ERR_FORMAT, "extends past the end" },
		{ { { "a", 1, { 4 }, FMT_F32, 16 } }, 1, 64, 0, ERR_FORMAT, "not a multiple of the alignment 32" },
		{ { { "a", 1, { 4 }, FMT_F32, 8 } }, 1, 64, 16, ERR_FORMAT, "alignment 16" },
		{ { { "a", 2, { 1ull << 40, 1ull << 40 }, FMT_F32, 0 } }, 1, 64, 0, ERR_FORMAT, "overflows" },
		{ { { "a", 4, { 1ull << 20, 1ull << 20, 1ull << 20, 1ull << 20 }, FMT_F16, 0 } }, 1, 64, 0, ERR_FORMAT, "overflows" },
		{ { { "a", 2, { 1ull << 62, 2 }, FMT_F32, 0 } }, 1, 64, 0, ERR_FORMAT, "overflows" },
		{ { { "a", 1, { 1ull << 63 }, FMT_F32, 0 } }, 1, 64, 0, ERR_FORMAT, "negative" },
		{ { { "a", 1, { 8 }, 200, 0 } }, 1, 64, 0, ERR_FORMAT, "invalid ggml type 200" },
		{ { { "a", 1, { 8 }, 4000000000u, 0 } }, 1, 64, 0, ERR_FORMAT, "invalid ggml type" },
		{ { { "a", 1, { 256 }, 16, 0 } }, 1, 256, 0, ERR_UNSUPPORTED, "type 16" },
		{ { { "a", 1, { 16 }, FMT_Q4_0, 0 } }, 1, 64, 0, ERR_FORMAT, "block size 32" },
		{ { { "a", 5, { 1, 1, 1, 1, 1 }, FMT_F32, 0 } }, 1, 64, 0, ERR_FORMAT, "5 dimensions" },
		{ { { "a", 0, { 0 }, FMT_F32, 0 } }, 1, 64, 0, ERR_FORMAT, "0 dimensions" },
		{ { { "a", 1, { 8 }, FMT_F32, 0 }, { "a", 1, { 8 }, FMT_F32, 32 } }, 2, 64, 0, ERR_FORMAT, "duplicate tensor name 'a'" },
		{ { { "a", 1, { 16 }, FMT_F32, 0 }, { "b", 1, { 8 }, FMT_F32, 32 } }, 2, 64, 0, ERR_FORMAT, "overlap" },
		{ { { "a", 1, { 8 }, FMT_F32, 32 }, { "b", 1, { 16 }, FMT_F32, 0 } }, 2, 64, 0, ERR_FORMAT, "overlap" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct bytes b;
		tensor_file(&b, cases[i].t, cases[i].nt, cases[i].data_len, cases[i].align);
		if (cases[i].code == 0) {
			int err;
			struct gguf *g = gguf_open_mem(b.p, b.n, "ok.gguf", &err);
			if (!g)
				print_error("case %zu: %s\n", i, err_msg(err));
			assert_non_null(g);
			gguf_close(g);
		} else {
			gguf_expect_fail(b.p, b.n, cases[i].code, cases[i].what);
		}
		bytes_free(&b);
	}
	/* the data section itself starting past the end */
	struct tdesc t = { "a", 1, { 8 }, FMT_F32, 0 };
	struct bytes b;
	tensor_file(&b, &t, 1, 0, 0);
	assert_int_equal(b.n, 64);  /* 57 bytes of header and info, 7 of padding */
	b.n = 63;
	gguf_expect_fail(b.p, b.n, ERR_FORMAT, "data section");
	bytes_free(&b);
}

/* ------------------------------------------------------------------------
 * safetensors
 */

static char tmpdir[256];

static int
setup_tmp(void **state)
{
	(void)state;
	const char *dir = getenv("TMPDIR");
	snprintf(tmpdir, sizeof tmpdir, "%s/test_formats.XXXXXX", dir && *dir ? dir : "/tmp");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int
teardown_tmp(void **state)
{
	(void)state;
	DIR *d = opendir(tmpdir);
	if (d) {
		struct dirent *e;
		char p[512];
		while ((e = readdir(d))) {
			if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
				continue;
			snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(tmpdir);
	return 0;
}

static void
write_file(const char *name, const void *data, size_t len)
{
	char p[512];
	snprintf(p, sizeof p, "%s/%s", tmpdir, name);
	FILE *f = fopen(p, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

/* A safetensors file: header JSON (padded with spaces to 8 bytes) + data. */
static void
st_build(struct bytes *out, const char *json, const void *data, size_t data_len)
{
	size_t hl = strlen(json);
	size_t padded = (hl + 7) / 8 * 8;
	memset(out, 0, sizeof *out);
	put_u64(out, padded);
	put(out, json, hl);
	for (size_t i = hl; i < padded; i++)
		put_u8(out, ' ');
	put(out, data, data_len);
}

/* The valid single file: w F32 [2,3], h F16 [2], b BF16 [2,1], ids I64 [1,2],
 * empty F32 [0,4]. Data: 24 + 4 + 4 + 16 bytes. */
static const char ST_JSON[] =
	"{\"__metadata__\":{\"format\":\"pt\",\"note\":\"x\"},"
	"\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
	"\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[24,28]},"
	"\"b\":{\"dtype\":\"BF16\",\"shape\":[2,1],\"data_offsets\":[28,32]},"
	"\"ids\":{\"dtype\":\"I64\",\"shape\":[1,2],\"data_offsets\":[32,48]},"
	"\"empty\":{\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[48,48]}}";

static void
st_data(struct bytes *d)
{
	memset(d, 0, sizeof *d);
	for (int i = 0; i < 6; i++)
		put_f32(d, (float)i * 0.5f);
	put_u16(d, 0x3C00);  /* 1.0 */
	put_u16(d, 0xC400);  /* -4.0 */
	put_u16(d, 0x4040);  /* bf16 3.0 */
	put_u16(d, 0xBF00);  /* bf16 -0.5 */
	put_u64(d, 7);
	put_u64(d, 8);
}

static void
check_st_valid(struct safetensors *s)
{
	assert_int_equal(st_n_tensors(s), 5);
	const struct fmt_tensor *t = st_find_tensor(s, "w");
	assert_non_null(t);
	assert_int_equal(t->type, FMT_F32);
	assert_int_equal(t->ndim, 2);
	assert_int_equal(t->shape[0], 2);
	assert_int_equal(t->shape[1], 3);
	assert_int_equal(t->n, 6);
	assert_int_equal(t->nbytes, 24);
	float out[8];
	assert_int_equal(fmt_tensor_to_f32(t, out), 0);
	for (int i = 0; i < 6; i++)
		assert_true(out[i] == (float)i * 0.5f);
	t = st_find_tensor(s, "h");
	assert_non_null(t);
	assert_int_equal(t->type, FMT_F16);
	assert_int_equal(fmt_tensor_to_f32(t, out), 0);
	assert_true(out[0] == 1.0f && out[1] == -4.0f);
	t = st_find_tensor(s, "b");
	assert_non_null(t);
	assert_int_equal(t->type, FMT_BF16);
	assert_int_equal(fmt_tensor_to_f32(t, out), 0);
	assert_true(out[0] == 3.0f && out[1] == -0.5f);
	t = st_find_tensor(s, "ids");
	assert_non_null(t);
	assert_int_equal(t->type, FMT_I64);
	assert_string_equal(fmt_type_name(t->type), "I64");
	assert_int_equal(t->nbytes, 16);
	assert_int_equal(fmt_tensor_to_f32(t, out), ERR_UNSUPPORTED);
	t = st_find_tensor(s, "empty");
	assert_non_null(t);
	assert_int_equal(t->n, 0);
	assert_null(st_find_tensor(s, "__metadata__"));
	assert_null(st_find_tensor(s, "nope"));
	for (int64_t i = 0; i < st_n_tensors(s); i++)
		assert_ptr_equal(st_find_tensor(s, st_tensor(s, i)->name), st_tensor(s, i));
	assert_null(st_tensor(s, 5));
	assert_string_equal(st_metadata(s, "format"), "pt");
	assert_null(st_metadata(s, "nope"));
}

static void
test_st_valid(void **state)
{
	(void)state;
	struct bytes d, f;
	st_data(&d);
	st_build(&f, ST_JSON, d.p, d.n);
	int err = -1;
	struct safetensors *s = st_open_mem(f.p, f.n, "mem.safetensors", &err);
	if (!s)
		print_error("%s\n", err_msg(err));
	assert_non_null(s);
	assert_int_equal(err, 0);
	check_st_valid(s);
	st_close(s);
	st_close(NULL);

	write_file("model.safetensors", f.p, f.n);
	char p[512];
	snprintf(p, sizeof p, "%s/model.safetensors", tmpdir);
	s = st_open(p, &err);
	assert_non_null(s);
	check_st_valid(s);
	st_close(s);

	/* other dtypes are listed, not convertible */
	static const char json2[] =
		"{\"m\":{\"dtype\":\"BOOL\",\"shape\":[3],\"data_offsets\":[0,3]},"
		"\"u\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[3,4]},"
		"\"s\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[8,16]}}";
	struct bytes g;
	uint8_t z[16] = { 0 };
	st_build(&g, json2, z, sizeof z);
	s = st_open_mem(g.p, g.n, "m.safetensors", &err);
	if (!s)
		print_error("%s\n", err_msg(err));
	assert_non_null(s);
	const struct fmt_tensor *t = st_find_tensor(s, "m");
	assert_string_equal(fmt_type_name(t->type), "BOOL");
	float out[4];
	assert_int_equal(fmt_tensor_to_f32(t, out), ERR_UNSUPPORTED);
	t = st_find_tensor(s, "s");
	assert_int_equal(t->ndim, 0);   /* a scalar */
	assert_int_equal(t->n, 1);
	assert_int_equal(t->type, FMT_F64);
	st_close(s);
	bytes_free(&g);
	bytes_free(&d);
	bytes_free(&f);
}

static void
st_expect_fail(const uint8_t *data, size_t len, int code, const char *what)
{
	uint8_t *copy = malloc(len ? len : 1);
	assert_non_null(copy);
	if (len)
		memcpy(copy, data, len);
	err_clear();
	int err = 0;
	struct safetensors *s = st_open_mem(copy, len, "bad.safetensors", &err);
	bool accepted = s != NULL;
	st_close(s);
	free(copy);
	if (accepted)
		print_error("expected failure '%s', got success\n", what ? what : "");
	assert_false(accepted);
	if (err != code)
		print_error("expected %d, got %d: %s\n", code, err, err_msg(err));
	assert_int_equal(err, code);
	check_msg(err, "safetensors: 'bad.safetensors': ", what);
}

static void
test_st_hostile(void **state)
{
	(void)state;
	struct bytes d, f;
	st_data(&d);
	st_build(&f, ST_JSON, d.p, d.n);

	/* header length past the end, and over the limit */
	struct bytes c = { 0 };
	put(&c, f.p, f.n);
	c.p[0] = (uint8_t)(f.n);
	c.p[1] = (uint8_t)(f.n >> 8);
	st_expect_fail(c.p, c.n, ERR_FORMAT, "past the end");
	memset(c.p, 0, 8);
	c.p[3] = 0x10;  /* 256 MB */
	st_expect_fail(c.p, c.n, ERR_FORMAT, "100 MB");
	memset(c.p, 0xFF, 8);
	st_expect_fail(c.p, c.n, ERR_FORMAT, "100 MB");
	st_expect_fail(f.p, 5, ERR_FORMAT, "too small");
	bytes_free(&c);

	/* every strict prefix fails */
	for (size_t len = 0; len < f.n; len++) {
		uint8_t *copy = malloc(len ? len : 1);
		assert_non_null(copy);
		memcpy(copy, f.p, len);
		int err = 0;
		struct safetensors *s = st_open_mem(copy, len, "cut", &err);
		bool accepted = s != NULL;
		st_close(s);
		free(copy);
		if (accepted)
			print_error("prefix %zu/%zu accepted\n", len, f.n);
		assert_false(accepted);
		assert_true(err < 0);
	}

	static const struct {
		const char *json;
		int code;
		const char *what;
	} cases[] = {
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", ERR_FORMAT, "invalid json" },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
		  "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", ERR_FORMAT, "duplicate" },
		{ "[1,2]", ERR_FORMAT, "not a json object" },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
		  "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", ERR_FORMAT, "overlap" },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[40,56]}}", ERR_FORMAT, "past the" },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,16]}}", ERR_FORMAT, "span 16 bytes" },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", ERR_FORMAT, "data_offsets" },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", ERR_FORMAT, "data_offsets" },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0]}}", ERR_FORMAT, "data_offsets" },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", ERR_FORMAT, "shape[0]" },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[2.5],\"data_offsets\":[0,8]}}", ERR_FORMAT, "shape[0]" },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", ERR_FORMAT, "overflows" },
		{ "{\"a\":{\"dtype\":\"F4\",\"shape\":[2],\"data_offsets\":[0,1]}}", ERR_UNSUPPORTED, "dtype 'F4'" },
		{ "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,4]}}", ERR_UNSUPPORTED, "5 dimensions" },
		{ "{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", ERR_FORMAT, "dtype" },
		{ "{\"a\":[1]}", ERR_FORMAT, "not an object" },
		{ "{\"__metadata__\":{\"k\":1}}", ERR_FORMAT, "__metadata__" },
		{ "{\"__metadata__\":[]}", ERR_FORMAT, "__metadata__" },
	};
	uint8_t z[48] = { 0 };
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct bytes g;
		st_build(&g, cases[i].json, z, sizeof z);
		st_expect_fail(g.p, g.n, cases[i].code, cases[i].what);
		bytes_free(&g);
	}
	bytes_free(&d);
	bytes_free(&f);
}

/* Two shards + index; and the index's failure modes. */
static void
test_st_sharded(void **state)
{
	(void)state;
	static const char j1[] =
		"{\"__metadata__\":{\"format\":\"pt\"},"
		"\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
		"\"extra\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}";
	static const char j2[] =
		"{\"b\":{\"dtype\":\"F16\",\"shape\":[1,2],\"data_offsets\":[0,4]},"
		"\"c\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[4,6]}}";
	struct bytes d1 = { 0 }, d2 = { 0 }, f1, f2;
	put_f32(&d1, 1.5f);
	put_f32(&d1, -2.0f);
	put_f32(&d1, 9.0f);
	put_u16(&d2, 0x4000);  /* 2.0 */
	put_u16(&d2, 0x3800);  /* 0.5 */
	put_u16(&d2, 0x4120);  /* bf16 10.0 */
	st_build(&f1, j1, d1.p, d1.n);
	st_build(&f2, j2, d2.p, d2.n);
	write_file("model-00001-of-00002.safetensors", f1.p, f1.n);
	write_file("model-00002-of-00002.safetensors", f2.p, f2.n);
	static const char index[] =
		"{\"metadata\":{\"total_size\":14,\"who\":\"test\"},\"weight_map\":{"
		"\"a\":\"model-00001-of-00002.safetensors\","
		"\"b\":\"model-00002-of-00002.safetensors\","
		"\"c\":\"model-00002-of-00002.safetensors\"}}";
	write_file("model.safetensors.index.json", index, strlen(index));

	char p[512];
	snprintf(p, sizeof p, "%s/model.safetensors.index.json", tmpdir);
	int err = -1;
	struct safetensors *s = st_open(p, &err);
	if (!s)
		print_error("%s\n", err_msg(err));
	assert_non_null(s);
	assert_int_equal(st_n_tensors(s), 3);   /* "extra" is not in weight_map */
	assert_null(st_find_tensor(s, "extra"));
	float out[4];
	const struct fmt_tensor *t = st_find_tensor(s, "a");
	assert_non_null(t);
	assert_int_equal(fmt_tensor_to_f32(t, out), 0);
	assert_true(out[0] == 1.5f && out[1] == -2.0f);
	t = st_find_tensor(s, "b");
	assert_non_null(t);
	assert_int_equal(t->ndim, 2);
	assert_int_equal(t->shape[1], 2);
	assert_int_equal(fmt_tensor_to_f32(t, out), 0);
	assert_true(out[0] == 2.0f && out[1] == 0.5f);
	t = st_find_tensor(s, "c");
	assert_non_null(t);
	assert_int_equal(fmt_tensor_to_f32(t, out), 0);
	assert_true(out[0] == 10.0f);
	assert_string_equal(st_metadata(s, "who"), "test");
	assert_string_equal(st_metadata(s, "format"), "pt");
	assert_null(st_metadata(s, "total_size"));  /* a number, not a string */
	st_close(s);

	static const struct {
		const char *json;
		int code;
		const char *what;
	} cases[] = {
		{ "{\"weight_map\":{\"a\":\"missing.safetensors\"}}", ERR_IO, "missing.safetensors" },
		{ "{\"weight_map\":{\"a\":\"../model-00001-of-00002.safetensors\"}}", ERR_FORMAT, "plain file name" },
		{ "{\"weight_map\":{\"a\":\"sub/x.safetensors\"}}", ERR_FORMAT, "plain file name" },
		{ "{\"weight_map\":{\"zz\":\"model-00001-of-00002.safetensors\"}}", ERR_FORMAT, "'zz' is not in shard" },
		{ "{\"weight_map\":{\"a\":\"model-00002-of-00002.safetensors\"}}", ERR_FORMAT, "not in shard" },
		{ "{\"weight_map\":{\"a\":3}}", ERR_FORMAT, "not a string" },
		{ "{\"weights\":{}}", ERR_FORMAT, "weight_map" },
		{ "{\"weight_map\":{\"a\":\"model-00001-of-00002.safetensors\"", ERR_FORMAT, "invalid json" },
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		write_file("bad.index.json", cases[i].json, strlen(cases[i].json));
		snprintf(p, sizeof p, "%s/bad.index.json", tmpdir);
		err_clear();
		err = 0;
		s = st_open(p, &err);
		bool accepted = s != NULL;
		st_close(s);
		if (accepted)
			print_error("index case %zu accepted\n", i);
		assert_false(accepted);
		if (err != cases[i].code)
			print_error("index case %zu: %d %s\n", i, err, err_msg(err));
		assert_int_equal(err, cases[i].code);
		check_msg(err, "safetensors: '", cases[i].what);
	}
	/* a corrupt shard behind a valid index */
	write_file("model-00002-of-00002.safetensors", f2.p, f2.n - 1);
	snprintf(p, sizeof p, "%s/model.safetensors.index.json", tmpdir);
	s = st_open(p, &err);
	assert_null(s);
	assert_int_equal(err, ERR_FORMAT);
	check_msg(err, "safetensors: '", "model-00002-of-00002.safetensors");
	bytes_free(&d1);
	bytes_free(&d2);
	bytes_free(&f1);
	bytes_free(&f2);
}

/* ------------------------------------------------------------------------
 * Reference files under $ATTNSCOPE_SHARED
 */

static const char *
shared_path(char *buf, size_t size, const char *rel)
{
	const char *dir = getenv("ATTNSCOPE_SHARED");
	snprintf(buf, size, "%s/%s", dir ? dir : ".", rel);
	return buf;
}

static struct gguf *
open_shared_gguf(const char *rel)
{
	char p[1024];
	int err;
	struct gguf *g = gguf_open(shared_path(p, sizeof p, rel), &err);
	if (!g)
		print_error("%s: %s\n", p, err_msg(err));
	assert_non_null(g);
	return g;
}

/* Dequantize tensor `name` of g into a new buffer. */
static float *
deq(struct gguf *g, const char *name, int64_t *n)
{
	const struct fmt_tensor *t = gguf_find_tensor(g, name);
	if (!t)
		print_error("no tensor '%s'\n", name);
	assert_non_null(t);
	float *x = malloc((size_t)t->n * sizeof *x + 1);
	assert_non_null(x);
	int rc = fmt_tensor_to_f32(t, x);
	if (rc)
		print_error("%s\n", err_msg(rc));
	assert_int_equal(rc, 0);
	*n = t->n;
	return x;
}

/* Every .gguf under models/ * / and tokenizers/ opens; every tensor of a
 * supported type converts. */
static void
test_shared_open_all(void **state)
{
	(void)state;
	char pat[1024];
	glob_t gl;
	int found = 0;
	const char *pats[] = { "models/*/*.gguf", "tokenizers/*.gguf" };
	for (int k = 0; k < 2; k++) {
		shared_path(pat, sizeof pat, pats[k]);
		if (glob(pat, 0, NULL, &gl) != 0)
			continue;
		for (size_t i = 0; i < gl.gl_pathc; i++) {
			int err;
			struct gguf *g = gguf_open(gl.gl_pathv[i], &err);
			if (!g)
				print_error("%s: %s\n", gl.gl_pathv[i], err_msg(err));
			assert_non_null(g);
			assert_true(gguf_version(g) == 2 || gguf_version(g) == 3);
			const char *arch;
			size_t len;
			assert_int_equal(gguf_get_str(g, "general.architecture", &arch, &len), 0);
			assert_true(len > 0);
			for (int64_t j = 0; j < gguf_n_tensors(g); j++) {
				const struct fmt_tensor *t = gguf_tensor(g, j);
				assert_true(fmt_type_supported(t->type));
			}
			gguf_close(g);
			found++;
		}
		globfree(&gl);
	}
	assert_true(found >= 10);
}

static void
test_shared_facts(void **state)
{
	(void)state;
	int64_t iv;
	enum gguf_type et;
	uint64_t n;
	const char *s;
	size_t len;

	struct gguf *g = open_shared_gguf("models/stories260K/stories260K-F32.gguf");
	assert_int_equal(gguf_get_int(g, "llama.block_count", &iv), 0);
	assert_int_equal(iv, 5);
	assert_int_equal(gguf_get_int(g, "llama.embedding_length", &iv), 0);
	assert_int_equal(iv, 64);
	const struct fmt_tensor *t = gguf_find_tensor(g, "token_embd.weight");
	assert_non_null(t);
	assert_int_equal(t->type, FMT_F32);
	assert_int_equal(t->ndim, 2);
	assert_int_equal(t->shape[0], 512);
	assert_int_equal(t->shape[1], 64);
	assert_int_equal(gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n), 0);
	assert_int_equal(et, GGUF_STRING);
	assert_int_equal(n, 512);
	for (uint64_t i = 0; i < n; i++)
		assert_int_equal(gguf_get_arr_str(g, "tokenizer.ggml.tokens", i, &s, &len), 0);
	assert_int_equal(gguf_get_arr_str(g, "tokenizer.ggml.tokens", 0, &s, &len), 0);
	assert_int_equal(len, 5);
	assert_memory_equal(s, "<unk>", 5);
	gguf_close(g);

	g = open_shared_gguf("models/tiny-gpt2/tiny-gpt2-Q4_K_M.gguf");
	t = gguf_find_tensor(g, "blk.0.ffn_down.weight");
	assert_non_null(t);
	assert_int_equal(t->type, FMT_Q4_K);
	assert_int_equal(t->shape[0], 32);
	assert_int_equal(t->shape[1], 256);
	t = gguf_find_tensor(g, "blk.1.ffn_down.weight");
	assert_non_null(t);
	assert_int_equal(t->type, FMT_Q6_K);
	assert_int_equal(gguf_find_tensor(g, "blk.0.attn_qkv.weight")->type, FMT_Q5_1);
	assert_int_equal(gguf_find_tensor(g, "token_embd.weight")->type, FMT_Q5_0);
	assert_int_equal(gguf_get_int(g, "gpt2.block_count", &iv), 0);
	assert_int_equal(iv, 2);
	gguf_close(g);

	g = open_shared_gguf("tokenizers/ggml-vocab-bert-bge.gguf");
	assert_int_equal(gguf_n_tensors(g), 0);
	assert_int_equal(gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &n), 0);
	assert_int_equal(et, GGUF_STRING);
	assert_int_equal(n, 30522);
	assert_int_equal(gguf_get_str(g, "tokenizer.ggml.model", &s, &len), 0);
	assert_int_equal(len, 4);
	assert_memory_equal(s, "bert", 4);
	gguf_close(g);
}

/* Every tensor of every quantized tiny-gpt2 / stories260K file converts,
 * and stays close to the same tensor of the F32 file (a wrong element
 * order would be off by about max|w|). */
static void
test_shared_dequant(void **state)
{
	(void)state;
	static const char *const models[] = { "stories260K", "tiny-gpt2" };
	static const char *const quants[] = { "Q8_0", "Q4_0", "Q4_K_M", "Q6_K" };
	int seen[FMT_TYPE_MAX] = { 0 };
	for (int m = 0; m < 2; m++) {
		char rel[256];
		snprintf(rel, sizeof rel, "models/%s/%s-F32.gguf", models[m], models[m]);
		struct gguf *f = open_shared_gguf(rel);
		for (int q = 0; q < 4; q++) {
			snprintf(rel, sizeof rel, "models/%s/%s-%s.gguf", models[m], models[m], quants[q]);
			struct gguf *g = open_shared_gguf(rel);
			for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
				const struct fmt_tensor *t = gguf_tensor(g, i);
				int64_t n, nr;
				float *x = deq(g, t->name, &n);
				float *r = deq(f, t->name, &nr);
				assert_int_equal(n, nr);
				double mx = 0, md = 0;
				for (int64_t j = 0; j < n; j++) {
					mx = fmax(mx, fabs(r[j]));
					md = fmax(md, fabs((double)x[j] - r[j]));
				}
				double tol;
				switch (t->type) {
				case FMT_F32: tol = 0; break;
				case FMT_F16: tol = 1e-3; break;
				case FMT_Q8_0: tol = 0.01; break;
				case FMT_Q6_K: tol = 0.03; break;
				case FMT_Q5_0: case FMT_Q5_1: tol = 0.07; break;
				case FMT_Q4_K: tol = 0.1; break;
				default: tol = 0.15; break;
				}
				if (md > tol * mx) {
					print_error("%s %s (%s): max diff %g, max |w| %g\n", rel, t->name,
					            fmt_type_name(t->type), md, mx);
					fail();
				}
				seen[t->type]++;
				free(x);
				free(r);
			}
			gguf_close(g);
		}
		gguf_close(f);
	}
	/* the six types the README lists are all exercised */
	assert_true(seen[FMT_Q8_0] && seen[FMT_Q4_0] && seen[FMT_Q5_0] && seen[FMT_Q5_1] &&
	            seen[FMT_Q4_K] && seen[FMT_Q6_K]);
}

/* stories260K.bin's token embedding (28-byte header, float32 [512,64])
 * equals the F32 GGUF's exactly and the Q8_0 GGUF's within 0.02 max|w|. */
static void
test_shared_stories_embd(void **state)
{
	(void)state;
	char p[1024];
	char *bin;
	size_t len;
	assert_int_equal(util_read_file(shared_path(p, sizeof p,
	                 "models/stories260K/stories260K.bin"), &bin, &len), 0);
	assert_true(len >= 28 + 512 * 64 * 4);
	float *ref = malloc(512 * 64 * sizeof *ref);
	assert_non_null(ref);
	memcpy(ref, bin + 28, 512 * 64 * sizeof *ref);
	free(bin);

	int64_t n;
	struct gguf *g = open_shared_gguf("models/stories260K/stories260K-F32.gguf");
	float *x = deq(g, "token_embd.weight", &n);
	assert_int_equal(n, 512 * 64);
	assert_memory_equal(x, ref, 512 * 64 * sizeof *ref);
	free(x);
	gguf_close(g);

	g = open_shared_gguf("models/stories260K/stories260K-Q8_0.gguf");
	assert_int_equal(gguf_find_tensor(g, "token_embd.weight")->type, FMT_Q8_0);
	x = deq(g, "token_embd.weight", &n);
	double mx = 0, md = 0;
	for (int64_t i = 0; i < n; i++) {
		mx = fmax(mx, fabs(ref[i]));
		md = fmax(md, fabs((double)x[i] - ref[i]));
	}
	assert_true(mx > 0);
	assert_true(md > 0);            /* it really is quantized */
	assert_true(md <= 0.02 * mx);
	free(x);
	gguf_close(g);
	free(ref);
}

static struct safetensors *
open_shared_st(const char *rel)
{
	char p[1024];
	int err;
	struct safetensors *s = st_open(shared_path(p, sizeof p, rel), &err);
	if (!s)
		print_error("%s: %s\n", p, err_msg(err));
	assert_non_null(s);
	return s;
}

static void
check_shape(const struct safetensors *s, const char *name, int ndim, int64_t d0, int64_t d1)
{
	const struct fmt_tensor *t = st_find_tensor(s, name);
	if (!t)
		print_error("no tensor '%s'\n", name);
	assert_non_null(t);
	assert_int_equal(t->ndim, ndim);
	assert_int_equal(t->shape[0], d0);
	if (ndim > 1)
		assert_int_equal(t->shape[1], d1);
	assert_int_equal(t->type, FMT_F32);
}

static void
test_shared_safetensors(void **state)
{
	(void)state;
	struct safetensors *s = open_shared_st("models/tiny-gpt2/hf/model.safetensors");
	check_shape(s, "transformer.wte.weight", 2, 50257, 32);
	check_shape(s, "transformer.wpe.weight", 2, 64, 32);
	check_shape(s, "transformer.h.0.attn.c_attn.weight", 2, 32, 96);
	check_shape(s, "transformer.h.1.attn.c_attn.bias", 1, 96, 0);
	check_shape(s, "transformer.h.0.mlp.c_fc.weight", 2, 32, 256);
	check_shape(s, "transformer.h.1.mlp.c_proj.weight", 2, 256, 32);
	check_shape(s, "transformer.ln_f.bias", 1, 32, 0);
	/* the same token embedding as the F32 GGUF */
	const struct fmt_tensor *t = st_find_tensor(s, "transformer.wte.weight");
	float *a = malloc((size_t)t->n * sizeof *a);
	assert_non_null(a);
	assert_int_equal(fmt_tensor_to_f32(t, a), 0);
	struct gguf *g = open_shared_gguf("models/tiny-gpt2/tiny-gpt2-F32.gguf");
	int64_t n;
	float *b = deq(g, "token_embd.weight", &n);
	assert_int_equal(n, t->n);
	assert_memory_equal(a, b, (size_t)n * sizeof *a);
	free(a);
	free(b);
	gguf_close(g);
	st_close(s);

	s = open_shared_st("models/tiny-bert/hf/model.safetensors");
	check_shape(s, "bert.embeddings.word_embeddings.weight", 2, 30522, 32);
	check_shape(s, "bert.embeddings.position_embeddings.weight", 2, 64, 32);
	check_shape(s, "bert.embeddings.token_type_embeddings.weight", 2, 2, 32);
	check_shape(s, "bert.encoder.layer.0.attention.self.query.weight", 2, 32, 32);
	check_shape(s, "bert.encoder.layer.1.intermediate.dense.weight", 2, 128, 32);
	check_shape(s, "bert.encoder.layer.1.output.dense.weight", 2, 32, 128);
	st_close(s);
}

int
main(void)
{
	const struct CMUnitTest local_tests[] = {
		cmocka_unit_test(test_gguf_kv_v3),
		cmocka_unit_test(test_gguf_kv_v2),
		cmocka_unit_test(test_gguf_open_file),
		cmocka_unit_test(test_q4_0_hand_block),
		cmocka_unit_test(test_dequant_random_blocks),
		cmocka_unit_test(test_gguf_tensors),
		cmocka_unit_test(test_to_f32_checks),
		cmocka_unit_test(test_gguf_bad_header),
		cmocka_unit_test(test_gguf_truncated),
		cmocka_unit_test(test_gguf_bad_kv),
		cmocka_unit_test(test_gguf_bad_tensors),
		cmocka_unit_test(test_st_valid),
		cmocka_unit_test(test_st_hostile),
		cmocka_unit_test(test_st_sharded),
	};
	const struct CMUnitTest all_tests[] = {
		cmocka_unit_test(test_gguf_kv_v3),
		cmocka_unit_test(test_gguf_kv_v2),
		cmocka_unit_test(test_gguf_open_file),
		cmocka_unit_test(test_q4_0_hand_block),
		cmocka_unit_test(test_dequant_random_blocks),
		cmocka_unit_test(test_gguf_tensors),
		cmocka_unit_test(test_to_f32_checks),
		cmocka_unit_test(test_gguf_bad_header),
		cmocka_unit_test(test_gguf_truncated),
		cmocka_unit_test(test_gguf_bad_kv),
		cmocka_unit_test(test_gguf_bad_tensors),
		cmocka_unit_test(test_st_valid),
		cmocka_unit_test(test_st_hostile),
		cmocka_unit_test(test_st_sharded),
		cmocka_unit_test(test_shared_open_all),
		cmocka_unit_test(test_shared_facts),
		cmocka_unit_test(test_shared_dequant),
		cmocka_unit_test(test_shared_stories_embd),
		cmocka_unit_test(test_shared_safetensors),
	};
	const char *shared = getenv("ATTNSCOPE_SHARED");
	if (shared && *shared)
		return cmocka_run_group_tests(all_tests, setup_tmp, teardown_tmp);
	printf("# ATTNSCOPE_SHARED unset: reference-file cases not run\n");
	return cmocka_run_group_tests(local_tests, setup_tmp, teardown_tmp);
}

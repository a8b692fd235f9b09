/*
 * quant.c — tensor element types (names, block sizes, byte sizes) and the
 * conversion of tensor data to float32: F32, F16, BF16 and ggml's block
 * quantizations, decoded the way ggml-quants.c's dequantize_row_* do.
 *
 * Bit-exactness: every value is computed with the same float operations in
 * the same order as ggml's reference C code (e.g. Q4_K is (d*sc)*q - min*m,
 * Q6_K is (d*sc)*q, whose first product can round). With fp16 scales the
 * products that feed an addition are exact (11-bit mantissa times a small
 * integer), so an FMA would give the same results; contraction is switched
 * off below all the same, so the order above is what the compiler emits.
 * All multi-byte fields are read little-endian byte by byte, so blocks need
 * no alignment.
 */
#include "formats/formats.h"
#include "util/util.h"

#include <string.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

/* Shared with gguf.c and safetensors.c (the module has no private header;
 * the same prototypes are repeated there). */
bool fmt__type_size(enum fmt_type t, int64_t *blck, size_t *tsize);
bool fmt__type_by_name(const char *name, enum fmt_type *t);
int fmt__nbytes(enum fmt_type t, int ndim, const int64_t *shape, int64_t *n,
                size_t *nbytes);

/* safetensors dtypes that ggml has no type for; reported as values above
 * FMT_TYPE_MAX (listed, never convertible). */
enum {
	XT_U8 = FMT_TYPE_MAX + 1,
	XT_BOOL,
	XT_U16,
	XT_U32,
	XT_U64,
	XT_F8_E4M3,
	XT_F8_E5M2,
	XT_F8_E8M0,
	XT_C64,
};

/* ---- type table --------------------------------------------------------- */

struct type_info {
	int type;
	const char *name;
	int blck;       /* elements per block                       */
	int tsize;      /* bytes per block                          */
};

static const struct type_info types[] = {
	{ FMT_F32, "F32", 1, 4 },
	{ FMT_F16, "F16", 1, 2 },
	{ FMT_Q4_0, "Q4_0", 32, 18 },
	{ FMT_Q4_1, "Q4_1", 32, 20 },
	{ FMT_Q5_0, "Q5_0", 32, 22 },
	{ FMT_Q5_1, "Q5_1", 32, 24 },
	{ FMT_Q8_0, "Q8_0", 32, 34 },
	{ FMT_Q8_1, "Q8_1", 32, 36 },
	{ FMT_Q2_K, "Q2_K", 256, 84 },
	{ FMT_Q3_K, "Q3_K", 256, 110 },
	{ FMT_Q4_K, "Q4_K", 256, 144 },
	{ FMT_Q5_K, "Q5_K", 256, 176 },
	{ FMT_Q6_K, "Q6_K", 256, 210 },
	{ FMT_Q8_K, "Q8_K", 256, 292 },
	{ FMT_I8, "I8", 1, 1 },
	{ FMT_I16, "I16", 1, 2 },
	{ FMT_I32, "I32", 1, 4 },
	{ FMT_I64, "I64", 1, 8 },
	{ FMT_F64, "F64", 1, 8 },
	{ FMT_BF16, "BF16", 1, 2 },
	{ XT_U8, "U8", 1, 1 },
	{ XT_BOOL, "BOOL", 1, 1 },
	{ XT_U16, "U16", 1, 2 },
	{ XT_U32, "U32", 1, 4 },
	{ XT_U64, "U64", 1, 8 },
	{ XT_F8_E4M3, "F8_E4M3", 1, 1 },
	{ XT_F8_E5M2, "F8_E5M2", 1, 1 },
	{ XT_F8_E8M0, "F8_E8M0", 1, 1 },
	{ XT_C64, "C64", 1, 8 },
};

static const struct type_info *
type_find(enum fmt_type t)
{
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
		if (types[i].type == (int)t)
			return &types[i];
	return NULL;
}

const char *
fmt_type_name(enum fmt_type t)
{
	const struct type_info *ti = type_find(t);
	return ti ? ti->name : "?";
}

bool
fmt_type_supported(enum fmt_type t)
{
	switch (t) {
	case FMT_F32: case FMT_F16: case FMT_BF16:
	case FMT_Q4_0: case FMT_Q4_1: case FMT_Q5_0: case FMT_Q5_1:
	case FMT_Q8_0: case FMT_Q2_K: case FMT_Q3_K: case FMT_Q4_K:
	case FMT_Q5_K: case FMT_Q6_K: case FMT_Q8_K:
		return true;
	default:
		return false;
	}
}

/* Block size and bytes per block; false for an unknown type. */
bool
fmt__type_size(enum fmt_type t, int64_t *blck, size_t *tsize)
{
	const struct type_info *ti = type_find(t);
	if (!ti)
		return false;
	*blck = ti->blck;
	*tsize = (size_t)ti->tsize;
	return true;
}

/* Element type from a safetensors dtype name ("F32", "I64", "BOOL", ...);
 * only unblocked types have such names. */
bool
fmt__type_by_name(const char *name, enum fmt_type *t)
{
	for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
		if (types[i].blck == 1 && strcmp(types[i].name, name) == 0) {
			*t = (enum fmt_type)types[i].type;
			return true;
		}
	}
	return false;
}

/*
 * Element count and byte size of a tensor of type t with the given shape
 * (outermost first; 0 dims = a scalar). Returns 0; ERR_UNSUPPORTED for an
 * unknown type; ERR_FORMAT for a negative dimension or an innermost
 * dimension that is not a multiple of the block size; ERR_RANGE when the
 * count or the size overflows. Sets no message: callers know the context.
 */
int
fmt__nbytes(enum fmt_type t, int ndim, const int64_t *shape, int64_t *n,
            size_t *nbytes)
{
	int64_t blck;
	size_t tsize;
	if (!fmt__type_size(t, &blck, &tsize))
		return ERR_UNSUPPORTED;
	if (ndim < 0 || ndim > 4)
		return ERR_FORMAT;
	int64_t count = 1;
	for (int i = 0; i < ndim; i++) {
		if (shape[i] < 0)
			return ERR_FORMAT;
		if (__builtin_mul_overflow(count, shape[i], &count))
			return ERR_RANGE;
	}
	int64_t inner = ndim > 0 ? shape[ndim - 1] : 1;  /* the row: whole blocks */
	if (inner % blck != 0)
		return ERR_FORMAT;
	size_t sz;
	if (ckd_mul_size(&sz, (size_t)(count / blck), tsize))
		return ERR_RANGE;
	*n = count;
	*nbytes = sz;
	return 0;
}

/* ---- little-endian field readers --------------------------------------- */

static inline uint16_t
le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline float
f32_at(const uint8_t *p)
{
	uint32_t u = le32(p);
	float f;
	memcpy(&f, &u, 4);
	return f;
}

static inline float
f16_at(const uint8_t *p)
{
	return f16_to_f32(le16(p));
}

/* ---- dequantization: one function per type, nb blocks -> nb*blck floats */

/* Q4_0 block (18 bytes): fp16 d, qs[16]; element j = low nibble of qs[j],
 * element j+16 = high nibble, each (q - 8) * d. */
static void
deq_q4_0(const uint8_t *x, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, x += 18, y += 32) {
		const float d = f16_at(x);
		const uint8_t *qs = x + 2;
		for (int j = 0; j < 16; j++) {
			const int x0 = (qs[j] & 0x0F) - 8;
			const int x1 = (qs[j] >> 4) - 8;
			y[j] = x0 * d;
			y[j + 16] = x1 * d;
		}
	}
}

/* Q4_1 block (20 bytes): fp16 d, fp16 m, qs[16]; q * d + m. */
static void
deq_q4_1(const uint8_t *x, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, x += 20, y += 32) {
		const float d = f16_at(x);
		const float m = f16_at(x + 2);
		const uint8_t *qs = x + 4;
		for (int j = 0; j < 16; j++) {
			const int x0 = qs[j] & 0x0F;
			const int x1 = qs[j] >> 4;
			y[j] = x0 * d + m;
			y[j + 16] = x1 * d + m;
		}
	}
}

/* Q5_0 block (22 bytes): fp16 d, qh (uint32: bit j = 5th bit of element
 * j), qs[16]; (q - 16) * d. */
static void
deq_q5_0(const uint8_t *x, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, x += 22, y += 32) {
		const float d = f16_at(x);
		const uint32_t qh = le32(x + 2);
		const uint8_t *qs = x + 6;
		for (int j = 0; j < 16; j++) {
			const uint8_t xh_0 = (uint8_t)(((qh >> j) << 4) & 0x10);
			const uint8_t xh_1 = (uint8_t)((qh >> (j + 12)) & 0x10);
			const int32_t x0 = ((qs[j] & 0x0F) | xh_0) - 16;
			const int32_t x1 = ((qs[j] >> 4) | xh_1) - 16;
			y[j] = x0 * d;
			y[j + 16] = x1 * d;
		}
	}
}

/* Q5_1 block (24 bytes): fp16 d, fp16 m, qh, qs[16]; q * d + m. */
static void
deq_q5_1(const uint8_t *x, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, x += 24, y += 32) {
		const float d = f16_at(x);
		const float m = f16_at(x + 2);
		const uint32_t qh = le32(x + 4);
		const uint8_t *qs = x + 8;
		for (int j = 0; j < 16; j++) {
			const uint8_t xh_0 = (uint8_t)(((qh >> j) << 4) & 0x10);
			const uint8_t xh_1 = (uint8_t)((qh >> (j + 12)) & 0x10);
			const int x0 = (qs[j] & 0x0F) | xh_0;
			const int x1 = (qs[j] >> 4) | xh_1;
			y[j] = x0 * d + m;
			y[j + 16] = x1 * d + m;
		}
	}
}

/* Q8_0 block (34 bytes): fp16 d, int8 qs[32]; q * d. */
static void
deq_q8_0(const uint8_t *x, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, x += 34, y += 32) {
		const float d = f16_at(x);
		for (int j = 0; j < 32; j++)
			y[j] = (int8_t)x[2 + j] * d;
	}
}

/* Q2_K block (84 bytes): scales[16] (low nibble scale, high nibble min),
 * qs[64] (2 bits each), fp16 d, fp16 dmin. */
static void
deq_q2_k(const uint8_t *x, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, x += 84) {
		const uint8_t *scales = x;
		const float d = f16_at(x + 80);
		const float min = f16_at(x + 82);
		const uint8_t *q = x + 16;
		int is = 0;
		for (int n = 0; n < 256; n += 128) {
			int shift = 0;
			for (int j = 0; j < 4; j++) {
				uint8_t sc = scales[is++];
				float dl = d * (sc & 0xF), ml = min * (sc >> 4);
				for (int l = 0; l < 16; l++)
					*y++ = dl * ((int8_t)((q[l] >> shift) & 3)) - ml;
				sc = scales[is++];
				dl = d * (sc & 0xF);
				ml = min * (sc >> 4);
				for (int l = 0; l < 16; l++)
					*y++ = dl * ((int8_t)((q[l + 16] >> shift) & 3)) - ml;
				shift += 2;
			}
			q += 32;
		}
	}
}

/* Q3_K block (110 bytes): hmask[32], qs[64], scales[12] (16 6-bit scales
 * packed), fp16 d. */
static void
deq_q3_k(const uint8_t *x, float *y, int64_t nb)
{
	const uint32_t kmask1 = 0x03030303, kmask2 = 0x0f0f0f0f;
	for (int64_t i = 0; i < nb; i++, x += 110) {
		const uint8_t *hm = x;
		const uint8_t *q = x + 32;
		const float d_all = f16_at(x + 108);
		uint32_t aux[4];
		aux[0] = le32(x + 96);
		aux[1] = le32(x + 100);
		uint32_t tmp = le32(x + 104);
		aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4);
		aux[3] = ((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4);
		aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4);
		aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4);
		int8_t scales[16];  /* the bytes of aux, little-endian */
		for (int k = 0; k < 16; k++)
			scales[k] = (int8_t)(uint8_t)(aux[k / 4] >> (8 * (k % 4)));
		uint8_t m = 1;
		int is = 0;
		for (int n = 0; n < 256; n += 128) {
			int shift = 0;
			for (int j = 0; j < 4; j++) {
				float dl = d_all * (scales[is++] - 32);
				for (int l = 0; l < 16; l++)
					*y++ = dl * ((int8_t)((q[l] >> shift) & 3) -
					             ((hm[l] & m) ? 0 : 4));
				dl = d_all * (scales[is++] - 32);
				for (int l = 0; l < 16; l++)
					*y++ = dl * ((int8_t)((q[l + 16] >> shift) & 3) -
					             ((hm[l + 16] & m) ? 0 : 4));
				shift += 2;
				m <<= 1;
			}
			q += 32;
		}
	}
}

/* ggml's get_scale_min_k4: 8 (scale, min) pairs of 6 bits in 12 bytes. */
static inline void
scale_min_k4(int j, const uint8_t *q, uint8_t *d, uint8_t *m)
{
	if (j < 4) {
		*d = q[j] & 63;
		*m = q[j + 4] & 63;
	} else {
		*d = (uint8_t)((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
		*m = (uint8_t)((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
	}
}

/* Q4_K block (144 bytes): fp16 d, fp16 dmin, scales[12], qs[128]; each 64
 * elements: 32 low nibbles with (scale, min) pair 2k, then 32 high nibbles
 * with pair 2k+1. */
static void
deq_q4_k(const uint8_t *x, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, x += 144) {
		const float d = f16_at(x);
		const float min = f16_at(x + 2);
		const uint8_t *scales = x + 4;
		const uint8_t *q = x + 16;
		int is = 0;
		uint8_t sc, m;
		for (int j = 0; j < 256; j += 64) {
			scale_min_k4(is + 0, scales, &sc, &m);
			const float d1 = d * sc, m1 = min * m;
			scale_min_k4(is + 1, scales, &sc, &m);
			const float d2 = d * sc, m2 = min * m;
			for (int l = 0; l < 32; l++)
				*y++ = d1 * (q[l] & 0xF) - m1;
			for (int l = 0; l < 32; l++)
				*y++ = d2 * (q[l] >> 4) - m2;
			q += 32;
			is += 2;
		}
	}
}

/* Q5_K block (176 bytes): fp16 d, fp16 dmin, scales[12], qh[32], qs[128]. */
static void
deq_q5_k(const uint8_t *x, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, x += 176) {
		const float d = f16_at(x);
		const float min = f16_at(x + 2);
		const uint8_t *scales = x + 4;
		const uint8_t *qh = x + 16;
		const uint8_t *ql = x + 48;
		int is = 0;
		uint8_t sc, m;
		uint8_t u1 = 1, u2 = 2;
		for (int j = 0; j < 256; j += 64) {
			scale_min_k4(is + 0, scales, &sc, &m);
			const float d1 = d * sc, m1 = min * m;
			scale_min_k4(is + 1, scales, &sc, &m);
			const float d2 = d * sc, m2 = min * m;
			for (int l = 0; l < 32; l++)
				*y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
			for (int l = 0; l < 32; l++)
				*y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
			ql += 32;
			is += 2;
			u1 = (uint8_t)(u1 << 2);
			u2 = (uint8_t)(u2 << 2);
		}
	}
}

/* Q6_K block (210 bytes): ql[128] (low 4 bits), qh[64] (high 2 bits),
 * int8 scales[16], fp16 d; value (d * scale) * (q - 32). */
static void
deq_q6_k(const uint8_t *x, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, x += 210) {
		const uint8_t *ql = x;
		const uint8_t *qh = x + 128;
		const int8_t *sc = (const int8_t *)(x + 192);
		const float d = f16_at(x + 208);
		for (int n = 0; n < 256; n += 128) {
			for (int l = 0; l < 32; l++) {
				int is = l / 16;
				const int8_t q1 = (int8_t)((ql[l + 0] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
				const int8_t q2 = (int8_t)((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
				const int8_t q3 = (int8_t)((ql[l + 0] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
				const int8_t q4 = (int8_t)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
				y[l + 0] = d * sc[is + 0] * q1;
				y[l + 32] = d * sc[is + 2] * q2;
				y[l + 64] = d * sc[is + 4] * q3;
				y[l + 96] = d * sc[is + 6] * q4;
			}
			y += 128;
			ql += 64;
			qh += 32;
			sc += 8;
		}
	}
}

/* Q8_K block (292 bytes): float32 d, int8 qs[256], int16 bsums[16]. */
static void
deq_q8_k(const uint8_t *x, float *y, int64_t nb)
{
	for (int64_t i = 0; i < nb; i++, x += 292, y += 256) {
		const float d = f32_at(x);
		for (int j = 0; j < 256; j++)
			y[j] = d * (int8_t)x[4 + j];
	}
}

/* ---- public conversion -------------------------------------------------- */

int
fmt_tensor_to_f32(const struct fmt_tensor *t, float *out)
{
	const char *name = t->name ? t->name : "?";
	if (!fmt_type_supported(t->type))
		return err_set(ERR_UNSUPPORTED,
		               "formats: tensor '%.80s': cannot convert type %s to float32",
		               name, fmt_type_name(t->type));
	int64_t n;
	size_t nbytes;
	int rc = fmt__nbytes(t->type, t->ndim, t->shape, &n, &nbytes);
	if (rc != 0 || n != t->n)
		return err_set(ERR_FORMAT,
		               "formats: tensor '%.80s': shape does not match its element count",
		               name);
	if (nbytes != t->nbytes)
		return err_set(ERR_FORMAT,
		               "formats: tensor '%.80s': has %zu bytes, its shape needs %zu",
		               name, t->nbytes, nbytes);
	if (nbytes > 0 && !t->data)
		return err_set(ERR_FORMAT, "formats: tensor '%.80s': no data", name);

	const uint8_t *x = t->data;
	int64_t blck = 1;
	size_t tsize = 0;
	fmt__type_size(t->type, &blck, &tsize);
	int64_t nb = n / blck;  /* blocks (elements for unblocked types) */
	switch (t->type) {
	case FMT_F32:
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		if (nbytes > 0)
			memcpy(out, x, nbytes);
#else
		for (int64_t i = 0; i < n; i++)
			out[i] = f32_at(x + 4 * i);
#endif
		break;
	case FMT_F16:
		for (int64_t i = 0; i < n; i++)
			out[i] = f16_at(x + 2 * i);
		break;
	case FMT_BF16:
		for (int64_t i = 0; i < n; i++) {
			uint32_t u = (uint32_t)le16(x + 2 * i) << 16;
			memcpy(&out[i], &u, 4);
		}
		break;
	case FMT_Q4_0: deq_q4_0(x, out, nb); break;
	case FMT_Q4_1: deq_q4_1(x, out, nb); break;
	case FMT_Q5_0: deq_q5_0(x, out, nb); break;
	case FMT_Q5_1: deq_q5_1(x, out, nb); break;
	case FMT_Q8_0: deq_q8_0(x, out, nb); break;
	case FMT_Q2_K: deq_q2_k(x, out, nb); break;
	case FMT_Q3_K: deq_q3_k(x, out, nb); break;
	case FMT_Q4_K: deq_q4_k(x, out, nb); break;
	case FMT_Q5_K: deq_q5_k(x, out, nb); break;
	case FMT_Q6_K: deq_q6_k(x, out, nb); break;
	case FMT_Q8_K: deq_q8_k(x, out, nb); break;
	default:
		return err_set(ERR_UNSUPPORTED, "formats: tensor '%.80s': cannot convert type %s",
		               name, fmt_type_name(t->type));
	}
	return 0;
}

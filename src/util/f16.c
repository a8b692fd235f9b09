/*
 * f16.c — IEEE binary16 <-> binary32 conversion, round to nearest even.
 * F16C (8 values per instruction) where the CPU has it, chosen once at run
 * time; a portable bit-manipulation path elsewhere gives identical results
 * (except the payload of signalling NaNs, which F16C quiets).
 */
#include "util.h"

#include <string.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_X86 1
#endif

static inline uint32_t
bits_of(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	return u;
}

static inline float
float_of(uint32_t u)
{
	float f;
	memcpy(&f, &u, 4);
	return f;
}

uint16_t
f16_from_f32(float f)
{
	uint32_t x = bits_of(f);
	uint32_t sign = (x >> 16) & 0x8000;
	uint32_t ax = x & 0x7FFFFFFF;
	if (ax >= 0x7F800000) /* inf or nan */
		return (uint16_t)(sign | 0x7C00 | (ax > 0x7F800000 ? 0x200 | ((ax >> 13) & 0x3FF) : 0));
	if (ax >= 0x477FF000) /* rounds to >= 65520: overflow to inf */
		return (uint16_t)(sign | 0x7C00);
	if (ax < 0x38800000) { /* result is subnormal or zero */
		/* add 0.5 so the float adder does the round-to-nearest-even */
		float r = float_of(ax) + 0.5f;
		return (uint16_t)(sign | (bits_of(r) - 0x3F000000));
	}
	uint32_t mant_odd = (ax >> 13) & 1;
	ax += 0xC8000FFF + mant_odd; /* rebias exponent (-112 << 23) and round */
	return (uint16_t)(sign | (ax >> 13));
}

float
f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t exp = (h >> 10) & 0x1F;
	uint32_t mant = h & 0x3FF;
	if (exp == 0x1F)
		return float_of(sign | 0x7F800000 | (mant << 13));
	if (exp == 0) {
		/* zero or subnormal: mant * 2^-24 */
		float v = (float)mant * (1.0f / 16777216.0f);
		return sign ? -v : v;
	}
	return float_of(sign | ((exp + 112) << 23) | (mant << 13));
}

#ifdef HAVE_X86
__attribute__((target("f16c,avx"))) static void
enc_f16c(uint16_t *dst, const float *src, size_t n)
{
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		__m256 v = _mm256_loadu_ps(src + i);
		__m128i h = _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT);
		_mm_storeu_si128((__m128i *)(dst + i), h);
	}
	for (; i < n; i++)
		dst[i] = f16_from_f32(src[i]);
}

__attribute__((target("f16c,avx"))) static void
dec_f16c(float *dst, const uint16_t *src, size_t n)
{
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		__m128i h = _mm_loadu_si128((const __m128i *)(src + i));
		_mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
	}
	for (; i < n; i++)
		dst[i] = f16_to_f32(src[i]);
}

static int
have_f16c(void)
{
	/* cpuid leaf 1: ECX bit 29 F16C, 28 AVX, 27 OSXSAVE; and the OS must
	 * save the YMM state (XCR0 bits 1-2). __builtin_cpu_supports("f16c")
	 * would be shorter but clang-14 does not know that feature name. */
	static int cached = -1;
	if (cached < 0) {
		unsigned a, b, c, d;
		cached = 0;
		if (__get_cpuid(1, &a, &b, &c, &d) && (c >> 29 & 1) && (c >> 28 & 1) &&
		    (c >> 27 & 1)) {
			unsigned lo, hi;
			__asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
			cached = (lo & 6) == 6;
		}
	}
	return cached;
}
#endif

void
f16_encode(uint16_t *dst, const float *src, size_t n)
{
#ifdef HAVE_X86
	if (have_f16c()) {
		enc_f16c(dst, src, n);
		return;
	}
#endif
	for (size_t i = 0; i < n; i++)
		dst[i] = f16_from_f32(src[i]);
}

void
f16_decode(float *dst, const uint16_t *src, size_t n)
{
#ifdef HAVE_X86
	if (have_f16c()) {
		dec_f16c(dst, src, n);
		return;
	}
#endif
	for (size_t i = 0; i < n; i++)
		dst[i] = f16_to_f32(src[i]);
}

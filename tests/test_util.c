/* test_util.c — fp16 conversion, UTF-8 check, hook names and the capture
 * filter, and the per-head statistics on hand-built maps. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/analysis.h"
#include "capture/capture.h"
#include "util/util.h"

static void
test_f16_known_values(void **state)
{
	(void)state;
	assert_int_equal(f16_from_f32(1.0f), 0x3C00);
	assert_int_equal(f16_from_f32(-2.0f), 0xC000);
	assert_int_equal(f16_from_f32(65504.0f), 0x7BFF);
	assert_int_equal(f16_from_f32(65520.0f), 0x7C00);  /* rounds to inf */
	assert_int_equal(f16_from_f32(0.1f), 0x2E66);
	assert_int_equal(f16_from_f32(5.9604645e-8f), 0x0001); /* smallest subnormal */
	assert_int_equal(f16_from_f32(2.9802322e-8f), 0x0000); /* tie to even: 0 */
	assert_int_equal(f16_from_f32(INFINITY), 0x7C00);
	assert_true((f16_from_f32(NAN) & 0x7C00) == 0x7C00 && (f16_from_f32(NAN) & 0x3FF));
	assert_true(f16_to_f32(0x3C00) == 1.0f);
	assert_true(f16_to_f32(0x0001) == 5.9604645e-8f);
	assert_true(isinf(f16_to_f32(0xFC00)) && f16_to_f32(0xFC00) < 0);
}

/* the vectorised path (F16C where present) equals the scalar one */
static void
test_f16_paths_agree(void **state)
{
	(void)state;
	enum { N = 65536 };
	uint16_t *h = malloc(N * sizeof *h), *h2 = malloc(N * sizeof *h2);
	float *f = malloc(N * sizeof *f);
	assert_non_null(h);
	for (int i = 0; i < N; i++)
		h[i] = (uint16_t)i;
	f16_decode(f, h, N);
	for (int i = 0; i < N; i++) {
		float s = f16_to_f32((uint16_t)i);
		if (isnan(s))
			assert_true(isnan(f[i]));
		else
			assert_true(memcmp(&s, &f[i], 4) == 0);
	}
	/* every half round-trips; random floats encode alike on both paths */
	f16_encode(h2, f, N);
	for (int i = 0; i < N; i++)
		if (!isnan(f[i]))
			assert_int_equal(h2[i], h[i]);
	uint32_t x = 12345;
	for (int i = 0; i < N; i++) {
		x = x * 1664525u + 1013904223u;
		uint32_t bits = x;
		memcpy(&f[i], &bits, 4);
	}
	f16_encode(h2, f, N);
	for (int i = 0; i < N; i++)
		if (!isnan(f[i]))
			assert_int_equal(h2[i], f16_from_f32(f[i]));
	free(h);
	free(h2);
	free(f);
}

static void
test_utf8(void **state)
{
	(void)state;
	assert_true(util_utf8_valid("abc", 3));
	assert_true(util_utf8_valid("\xe6\x97\xa5\xe6\x9c\xac", 6));
	assert_false(util_utf8_valid("\xff", 1));
	assert_false(util_utf8_valid("\xe6\x97", 2));          /* truncated */
	assert_false(util_utf8_valid("\xc0\xaf", 2));          /* overlong  */
	assert_false(util_utf8_valid("\xed\xa0\x80", 3));      /* surrogate */
}

static void
test_hook_names(void **state)
{
	(void)state;
	char buf[96];
	assert_string_equal(cap_hook_name(buf, sizeof buf, CAP_ATTN_PATTERN, 3),
	                    "blocks.3.attn.hook_pattern");
	assert_string_equal(cap_hook_name(buf, sizeof buf, CAP_LN_FINAL, -1),
	                    "ln_final.hook_normalized");
	for (int p = 0; p < CAP_POINT_COUNT; p++) {
		enum cap_point q;
		int l;
		cap_hook_name(buf, sizeof buf, (enum cap_point)p, 7);
		assert_int_equal(cap_parse_hook_name(buf, &q, &l), 0);
		assert_int_equal(q, p);
	}
	enum cap_point q;
	int l;
	assert_int_equal(cap_parse_hook_name("blocks.x.hook_nothing", &q, &l), ERR_ARG);
}

static void
test_filter(void **state)
{
	(void)state;
	struct cap_filter *f = cap_filter_create("blocks.*.attn.hook_pattern, blocks.1.hook_resid_post");
	assert_non_null(f);
	assert_true(cap_filter_match(f, CAP_ATTN_PATTERN, 0));
	assert_true(cap_filter_match(f, CAP_ATTN_PATTERN, 11));
	assert_true(cap_filter_match(f, CAP_RESID_POST, 1));
	assert_false(cap_filter_match(f, CAP_RESID_POST, 2));
	assert_false(cap_filter_match(f, CAP_ATTN_SCORES, 0));
	cap_filter_free(f);
	f = cap_filter_create("none");
	assert_non_null(f);
	assert_false(cap_filter_match(f, CAP_ATTN_PATTERN, 0));
	cap_filter_free(f);
	assert_null(cap_filter_create("blocks.0.attn.hook_patern"));
	assert_non_null(strstr(err_msg(ERR_ARG), "matches no hook point"));
}

/* statistics on maps with answers worked out by hand */
static void
test_head_stats(void **state)
{
	(void)state;
	double s[ANA_STAT_COUNT];
	/* perfect previous-token head on 3 tokens (row 0 can only see itself) */
	const float prev[9] = { 1, 0, 0, 1, 0, 0, 0, 1, 0 };
	ana_head_stats(prev, 3, 3, true, s);
	assert_true(fabs(s[ANA_ENTROPY]) < 1e-12);
	assert_true(fabs(s[ANA_DISTANCE] - 2.0 / 3) < 1e-12);   /* (0+1+1)/3 */
	assert_true(fabs(s[ANA_FIRST_TOKEN] - 2.0 / 3) < 1e-12);
	assert_true(fabs(s[ANA_PREV_TOKEN] - 2.0 / 3) < 1e-12); /* (1+1)/3   */
	assert_true(fabs(s[ANA_SELF] - 1.0 / 3) < 1e-12);
	assert_true(fabs(s[ANA_MAX_WEIGHT] - 1.0) < 1e-12);
	/* uniform causal head on 2 tokens */
	const float uni[4] = { 1, 0, 0.5f, 0.5f };
	ana_head_stats(uni, 2, 2, false, s);
	assert_true(fabs(s[ANA_ENTROPY] - log(2.0) / 2) < 1e-7);
	assert_true(fabs(s[ANA_DISTANCE] - 0.25) < 1e-7);
	assert_true(fabs(s[ANA_FIRST_TOKEN] - 0.75) < 1e-7);
	assert_true(fabs(s[ANA_PREV_TOKEN] - 0.25) < 1e-7);
	assert_true(fabs(s[ANA_SELF] - 0.75) < 1e-7);
	assert_true(fabs(s[ANA_MAX_WEIGHT] - 0.75) < 1e-7);
	/* NaN poisons, never traps */
	const float bad[4] = { 1, 0, NAN, 0.5f };
	ana_head_stats(bad, 2, 2, true, s);
	assert_true(isnan(s[ANA_ENTROPY]));
	assert_int_equal(strcmp(ana_stat_name(ANA_PREV_TOKEN), "prev_token"), 0);
}

/* cross-attention alignment on a hand-built 3 x 3 map */
static void
test_cross_alignment(void **state)
{
	(void)state;
	double a[ANA_ALIGN_COUNT];
	/* a perfect diagonal: monotone, every source covered, diagonal */
	const float diag[9] = { 1, 0, 0, 0, 1, 0, 0, 0, 1 };
	ana_cross_alignment(diag, 3, 3, a);
	assert_true(fabs(a[ANA_ALIGN_MONOTONIC] - 1) < 1e-12);
	assert_true(fabs(a[ANA_ALIGN_COVERAGE] - 1) < 1e-12);
	assert_true(fabs(a[ANA_ALIGN_DIAGONAL] - 1) < 1e-12);
	/* argmax 2, 0, 1: one backward move of two; source 2 gets 0.8 */
	const float back[9] = { 0.1f, 0.1f, 0.8f, 0.6f, 0.4f, 0, 0.2f, 0.7f, 0.1f };
	ana_cross_alignment(back, 3, 3, a);
	assert_true(fabs(a[ANA_ALIGN_MONOTONIC] - 0.5) < 1e-12);
	assert_true(fabs(a[ANA_ALIGN_COVERAGE] - 1) < 1e-12); /* 0.9, 1.2, 0.9 */
	/* |1-0| + |0-0.5| + |0.5-1| = 2 over 3 rows */
	assert_true(fabs(a[ANA_ALIGN_DIAGONAL] - (1 - 2.0 / 3)) < 1e-12);
	assert_string_equal(ana_align_name(ANA_ALIGN_COVERAGE), "coverage");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_f16_known_values),
		cmocka_unit_test(test_f16_paths_agree),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_hook_names),
		cmocka_unit_test(test_filter),
		cmocka_unit_test(test_head_stats),
		cmocka_unit_test(test_cross_alignment),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_analysis.c — the analysis module (src/analysis) and the commands on
 * top of it (`attnscope analyze`, `attnscope probe`): every metric on
 * hand-built maps with answers worked out by hand, summaries and roles,
 * rollout, max flow and attention flow, the Jensen-Shannon head distance
 * and MDS; the demo model's roles and probes end to end; hostile
 * databases; and on stories260K (../shared) every stored metric against an
 * independent computation from the f32 maps, and the induction probe.
 * cmocka, TAP with CMOCKA_MESSAGE_OUTPUT=TAP.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "../db/store.h"
#include "analysis/analysis.h"
#include "demo/demo.h"
#include "record/record.h"
#include "util/util.h"

/* ==== helpers =========================================================== */

static char tmp[256];
static const char *bin;
static char out_buf[1 << 20], err_buf[1 << 14];

static int
setup(void **state)
{
	(void)state;
	bin = getenv("ATTNSCOPE_BIN");
	const char *base = getenv("TMPDIR");
	snprintf(tmp, sizeof tmp, "%s/attnscope-test-analysis-XXXXXX",
	         base && *base ? base : "/tmp");
	return mkdtemp(tmp) ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	char cmd[512];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
	return system(cmd) == 0 ? 0 : -1;
}

/* name inside the temporary directory; the result lives for the next 15
 * calls */
static const char *
path(const char *name)
{
	static char buf[16][512];
	static int k;
	k = (k + 1) % 16;
	snprintf(buf[k], sizeof buf[k], "%s/%s", tmp, name);
	return buf[k];
}

/* Run `attnscope ARGS` in the temporary directory; capture stdout and
 * stderr; return the exit status. */
__attribute__((format(printf, 1, 2))) static int
run(const char *fmt, ...)
{
	char args[4096], cmd[8192];
	va_list ap;
	if (!bin)
		fail_msg("ATTNSCOPE_BIN is not set");
	va_start(ap, fmt);
	vsnprintf(args, sizeof args, fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s >'%s/out.txt' 2>'%s/err.txt' </dev/null",
	         tmp, bin, args, tmp, tmp);
	int st = system(cmd);
	for (int k = 0; k < 2; k++) {
		char *buf = k ? err_buf : out_buf;
		size_t cap = k ? sizeof err_buf : sizeof out_buf;
		FILE *f = fopen(path(k ? "err.txt" : "out.txt"), "rb");
		size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
		buf[n] = '\0';
		if (f)
			fclose(f);
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* stderr holds exactly one line, starting with "attnscope" */
static void
assert_one_error_line(const char *must_contain)
{
	size_t n = strlen(err_buf);
	if (n == 0 || err_buf[n - 1] != '\n' || strchr(err_buf, '\n') != err_buf + n - 1 ||
	    strncmp(err_buf, "attnscope", 9) != 0)
		fail_msg("expected one error line, got: [%s]", err_buf);
	if (must_contain && !strstr(err_buf, must_contain))
		fail_msg("error line lacks '%s': %s", must_contain, err_buf);
}

static const char *
shared_path(const char *rel)
{
	static char buf[4][512];
	static int k;
	const char *s = getenv("ATTNSCOPE_SHARED");
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof buf[k], "%s/%s", s ? s : "", rel);
	return s && access(buf[k], R_OK) == 0 ? buf[k] : NULL;
}

static void
write_text(const char *name, const char *text)
{
	FILE *f = fopen(path(name), "w");
	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

static void
raw_exec(const char *db, const char *sql)
{
	sqlite3 *h;
	char *msg = NULL;
	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	if (sqlite3_exec(h, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("sql failed: %s", msg ? msg : "?");
	sqlite3_close(h);
}

#define EXPECT_NEAR(a, b, tol)                                                   \
	do {                                                                         \
		double a_ = (a), b_ = (b);                                               \
		if (!(fabs(a_ - b_) <= (tol)))                                           \
			fail_msg("%s = %.12g, expected %.12g (tol %g)", #a, a_, b_, (double)(tol)); \
	} while (0)

/* A causal map [n, n] from rows given as their first i+1 values. */
static float *
causal_map(int n, const double *rows)
{
	float *A = calloc((size_t)n * n, sizeof *A);
	assert_non_null(A);
	size_t k = 0;
	for (int i = 0; i < n; i++)
		for (int j = 0; j <= i; j++)
			A[i * n + j] = (float)rows[k++];
	return A;
}

static double
metric(const double *v, const char *name)
{
	int m = ana_metric_find(name);
	if (m < 0)
		fail_msg("no metric '%s'", name);
	return v[m];
}

/* ==== TransformerLens detector scores =================================== */

/* The previous-token pattern on a 4x4 map, every variant by hand:
 *   row 0 [1]  row 1 [.5 .5]  row 2 [.2 .6 .2]  row 3 [.1 .1 .7 .1]
 * P = (1,0) (2,1) (3,2); ΣA = 4, column 0 = 1.8, diagonal = 1.8, both: 1
 *   mul        (.5+.6+.7)/4 = .45
 *   nobos      (.6+.7)/(4-1.8) = 1.3/2.2
 *   nocur      1.8/2.2
 *   nobos_nocur 1.3/(4-2.6)
 *   abs        Σ|A-P| = 1 + 1 + .8 + .6 = 3.4 -> 1 - .85
 *   abs_nobos  3.4 - 1.8 = 1.6 -> 1 - .4;  abs_nocur 1 - .4;
 *   abs_nobos_nocur  3.4 - 2.6 = .8 -> 1 - .2 */
static void
test_prev_token_by_hand(void **state)
{
	(void)state;
	const double rows[] = { 1, .5, .5, .2, .6, .2, .1, .1, .7, .1 };
	float *A = causal_map(4, rows);
	const double want[8] = { .45, 1.3 / 2.2, 1.8 / 2.2, 1.3 / 1.4, .15, .6, .6, .8 };
	for (unsigned v = 0; v < ANA_VAR_COUNT; v++)
		EXPECT_NEAR(ana_detector_score(A, 4, NULL, ANA_PAT_PREV, v), want[v], 1e-6);
	/* the same through ana_sample_metrics, by name */
	double out[ANA_METRIC_COUNT];
	struct ana_input in = { .n = 4, .causal = true, .map = A };
	ana_sample_metrics(&in, NULL, out);
	EXPECT_NEAR(metric(out, "prev_token"), .45, 1e-6);
	EXPECT_NEAR(metric(out, "prev_token_mul_nobos"), 1.3 / 2.2, 1e-6);
	EXPECT_NEAR(metric(out, "prev_token_mul_nocur"), 1.8 / 2.2, 1e-6);
	EXPECT_NEAR(metric(out, "prev_token_mul_nobos_nocur"), 1.3 / 1.4, 1e-6);
	EXPECT_NEAR(metric(out, "prev_token_abs"), .15, 1e-6);
	EXPECT_NEAR(metric(out, "prev_token_abs_nobos"), .6, 1e-6);
	EXPECT_NEAR(metric(out, "prev_token_abs_nocur"), .6, 1e-6);
	EXPECT_NEAR(metric(out, "prev_token_abs_nobos_nocur"), .8, 1e-6);
	/* no tokens: the token patterns are undefined */
	assert_true(isnan(metric(out, "induction")));
	assert_true(isnan(metric(out, "duplicate_token_abs")));
	free(A);
}

/* Tokens B a b a b and a map that is a perfect induction head in rows 3, 4:
 *   rows 0-2: [1], [.5 .5], [.25 .25 .5]; row 3 one-hot at 2; row 4 at 3
 * induction P = (3,2) (4,3); duplicate P = (3,1) (4,2).
 * ΣA = 5, column 0 = 1.75, diagonal = 2, (0,0) = 1.
 *   induction mul 2/5; nobos 2/3.25; nocur 2/3; nobos_nocur 2/2.25
 *   induction abs: Σ|A-P| = 3 -> 1 - .6; nobos 1.25 -> 1 - .25;
 *                  nocur 1 -> 1 - .2; nobos_nocur .25 -> 1 - .05
 *   duplicate mul 0; abs Σ|A-P| = 5 + 2 = 7 -> 1 - 1.4 = -.4;
 *   duplicate abs_nobos 5.25 -> 1 - 1.05 = -.05 */
static void
test_induction_duplicate_by_hand(void **state)
{
	(void)state;
	const int32_t tok[5] = { 1, 5, 6, 5, 6 };
	const double rows[] = { 1, .5, .5, .25, .25, .5, 0, 0, 1, 0, 0, 0, 0, 1, 0 };
	float *A = causal_map(5, rows);
	const double ind[8] = { .4, 2 / 3.25, 2.0 / 3, 2 / 2.25, .4, .75, .8, .95 };
	for (unsigned v = 0; v < ANA_VAR_COUNT; v++)
		EXPECT_NEAR(ana_detector_score(A, 5, tok, ANA_PAT_INDUCTION, v), ind[v], 1e-6);
	EXPECT_NEAR(ana_detector_score(A, 5, tok, ANA_PAT_DUPLICATE, 0), 0, 1e-9);
	EXPECT_NEAR(ana_detector_score(A, 5, tok, ANA_PAT_DUPLICATE, ANA_VAR_ABS), -.4, 1e-6);
	EXPECT_NEAR(ana_detector_score(A, 5, tok, ANA_PAT_DUPLICATE,
	                               ANA_VAR_ABS | ANA_VAR_NOBOS), -.05, 1e-6);
	double out[ANA_METRIC_COUNT];
	struct ana_input in = { .n = 5, .causal = true, .map = A, .tokens = tok };
	ana_sample_metrics(&in, NULL, out);
	EXPECT_NEAR(metric(out, "induction"), .4, 1e-6);
	EXPECT_NEAR(metric(out, "induction_mul_nobos_nocur"), 2 / 2.25, 1e-6);
	EXPECT_NEAR(metric(out, "induction_abs_nocur"), .8, 1e-6);
	EXPECT_NEAR(metric(out, "duplicate_token"), 0, 1e-9);
	EXPECT_NEAR(metric(out, "duplicate_token_abs"), -.4, 1e-6);
	/* one token: every detector score is undefined (TransformerLens
	 * refuses sequences of length 1) */
	float one = 1;
	assert_true(isnan(ana_detector_score(&one, 1, tok, ANA_PAT_PREV, 0)));
	struct ana_input in1 = { .n = 1, .causal = true, .map = &one, .tokens = tok };
	ana_sample_metrics(&in1, NULL, out);
	for (int m = ANA_M_PREV_TOKEN; m < ANA_M_CLARK_SPECIAL; m++)
		assert_true(isnan(out[m]));
	assert_true(isnan(metric(out, "sink")));
	assert_true(isnan(metric(out, "entropy_norm")));
	EXPECT_NEAR(metric(out, "entropy"), 0, 0);
	EXPECT_NEAR(metric(out, "clark_self"), 1, 0);
	free(A);
}

/* Python's round(x, 3): ties to even on the exact binary value */
static void
test_round_like_python(void **state)
{
	(void)state;
	EXPECT_NEAR(ana_round_digits(0.0625, 3), 0.062, 0);  /* exact tie: even */
	EXPECT_NEAR(ana_round_digits(0.1875, 3), 0.188, 0);  /* exact tie: even */
	EXPECT_NEAR(ana_round_digits(2.675, 2), 2.67, 0);    /* 2.67499999... */
	EXPECT_NEAR(ana_round_digits(-1.2345, 3), -1.234, 0); /* -1.23449999... */
	assert_true(isnan(ana_round_digits(NAN, 3)));
}

/* ==== Clark et al., Gu et al., entropy_norm ============================= */

static void
test_token_classes(void **state)
{
	(void)state;
	static const struct { const char *piece; unsigned cls; } cases[] = {
		{ "<s>", ANA_TOK_SPECIAL }, { "\n<s>\n", ANA_TOK_SPECIAL },
		{ "\n</s>\n", ANA_TOK_SPECIAL }, { "[CLS]", ANA_TOK_SPECIAL },
		{ "[SEP]", ANA_TOK_SPECIAL }, { "<|endoftext|>", ANA_TOK_SPECIAL },
		{ "<|begin_of_text|>", ANA_TOK_SPECIAL }, { "<bos>", ANA_TOK_SPECIAL },
		{ ".", ANA_TOK_PUNCT }, { " ,", ANA_TOK_PUNCT }, { "\xe2\x96\x81.", ANA_TOK_PUNCT },
		{ "\xc4\xa0!", ANA_TOK_PUNCT }, { "##.", ANA_TOK_PUNCT }, { "?!", ANA_TOK_PUNCT },
		{ "<0x2E>", 0 }, { "the", 0 }, { " cat", 0 }, { "\xe2\x96\x81", 0 }, { "", 0 },
		{ "<unk>", 0 }, { "a.", 0 }, { "[UNK]", 0 },
	};
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
		if (ana_token_class(cases[k].piece) != cases[k].cls)
			fail_msg("piece '%s': class %u, expected %u", cases[k].piece,
			         ana_token_class(cases[k].piece), cases[k].cls);
	assert_int_equal(ana_token_class(NULL), 0);
}

/* Clark's classes on a 4-token causal map, keys: 0 special, 2 punct.
 *   rows [1], [.6 .4], [.5 .2 .3], [.1 .2 .3 .4]
 *   special = (1 + .6 + .5 + .1)/4 = .55; punct = (.3 + .3)/4 = .15
 *   self = (1 + .4 + .3 + .4)/4 = .525; prev = (.6 + .2 + .3)/4 = .275
 *   next = 0 (causal). Bidirectional 3x3 for next:
 *   [[.5 .5 0], [.2 .3 .5], [0 .9 .1]] -> next = (.5 + .5)/3, prev = (.2+.9)/3 */
static void
test_clark_by_hand(void **state)
{
	(void)state;
	const double rows[] = { 1, .6, .4, .5, .2, .3, .1, .2, .3, .4 };
	float *A = causal_map(4, rows);
	const unsigned char cls[4] = { ANA_TOK_SPECIAL, 0, ANA_TOK_PUNCT, 0 };
	double out[ANA_METRIC_COUNT];
	struct ana_input in = { .n = 4, .causal = true, .map = A, .classes = cls };
	ana_sample_metrics(&in, NULL, out);
	EXPECT_NEAR(metric(out, "clark_special"), .55, 1e-6);
	EXPECT_NEAR(metric(out, "clark_punct"), .15, 1e-6);
	EXPECT_NEAR(metric(out, "clark_self"), .525, 1e-6);
	EXPECT_NEAR(metric(out, "clark_prev"), .275, 1e-6);
	EXPECT_NEAR(metric(out, "clark_next"), 0, 0);
	free(A);

	const float B[9] = { .5f, .5f, 0, .2f, .3f, .5f, 0, .9f, .1f };
	struct ana_input bi = { .n = 3, .causal = false, .map = B };
	ana_sample_metrics(&bi, NULL, out);
	EXPECT_NEAR(metric(out, "clark_next"), 1.0 / 3, 1e-6);
	EXPECT_NEAR(metric(out, "clark_prev"), 1.1 / 3, 1e-6);
	EXPECT_NEAR(metric(out, "clark_self"), .9 / 3, 1e-6);
	assert_true(isnan(metric(out, "clark_special"))); /* no classes given */
}

/* Gu et al.'s sink: α_0 = mean of column 0 against ε = 0.3 */
static void
test_sink_by_hand(void **state)
{
	(void)state;
	/* α_0 = (1 + .2 + .1 + .1)/4 = .35 -> sink */
	const double r1[] = { 1, .2, .8, .1, .1, .8, .1, .2, .3, .4 };
	/* α_0 = (1 + .1 + 0 + 0)/4 = .275 -> no sink */
	const double r2[] = { 1, .1, .9, 0, .5, .5, 0, .2, .3, .5 };
	double out[ANA_METRIC_COUNT];
	float *A = causal_map(4, r1);
	struct ana_input in = { .n = 4, .causal = true, .map = A };
	ana_sample_metrics(&in, NULL, out);
	EXPECT_NEAR(metric(out, "sink"), 1, 0);
	EXPECT_NEAR(metric(out, "first_token"), .35, 1e-6);
	free(A);
	A = causal_map(4, r2);
	in.map = A;
	ana_sample_metrics(&in, NULL, out);
	EXPECT_NEAR(metric(out, "sink"), 0, 0);
	free(A);
}

/* entropy_norm: rows i >= 1, H_i / ln(i+1).
 *   rows [1], [.5 .5], [0 1 0], [.25 .25 .25 .25] -> (1 + 0 + 1)/3
 * bidirectional 2x2 [[.5 .5], [1 0]] -> (ln2/ln2 + 0)/2 = .5 */
static void
test_entropy_norm_by_hand(void **state)
{
	(void)state;
	const double rows[] = { 1, .5, .5, 0, 1, 0, .25, .25, .25, .25 };
	float *A = causal_map(4, rows);
	double out[ANA_METRIC_COUNT];
	struct ana_input in = { .n = 4, .causal = true, .map = A };
	ana_sample_metrics(&in, NULL, out);
	EXPECT_NEAR(metric(out, "entropy_norm"), 2.0 / 3, 1e-7);
	EXPECT_NEAR(metric(out, "entropy"), (log(2) + log(4)) / 4, 1e-6);
	free(A);
	const float B[4] = { .5f, .5f, 1, 0 };
	struct ana_input bi = { .n = 2, .causal = false, .map = B };
	ana_sample_metrics(&bi, NULL, out);
	EXPECT_NEAR(metric(out, "entropy_norm"), .5, 1e-7);
}

/* Norm-based shares: rows with total 0 are left out.
 *   N rows [2], [1 3], [0 0 0] -> first = (1 + .25)/2, distance = (0 + .25)/2 */
static void
test_norm_metrics_by_hand(void **state)
{
	(void)state;
	const double rows[] = { 2, 1, 3, 0, 0, 0 };
	float *N = causal_map(3, rows);
	double out[ANA_METRIC_COUNT];
	struct ana_input in = { .n = 3, .causal = true, .norm = N };
	ana_sample_metrics(&in, NULL, out);
	EXPECT_NEAR(metric(out, "norm_first_token"), .625, 1e-9);
	EXPECT_NEAR(metric(out, "norm_distance"), .125, 1e-9);
	assert_true(isnan(metric(out, "entropy"))); /* no attention map */
	/* the layer: two heads summed, the second [1], [1 1], [1 1 2] */
	const double rows2[] = { 1, 1, 1, 1, 1, 2 };
	float *N2 = causal_map(3, rows2);
	float both[18];
	memcpy(both, N, 9 * sizeof *N);
	memcpy(both + 9, N2, 9 * sizeof *N2);
	double lv[ANA_LAYER_METRIC_COUNT];
	ana_layer_metrics(both, 2, 3, lv);
	/* sums: [3], [2 4], [1 1 2]: first (1 + 1/3 + 1/4)/3,
	 * distance (0 + 2/6 + (2 + 1)/4)/3 */
	EXPECT_NEAR(lv[ANA_LM_NORM_FIRST_TOKEN], (1 + 1.0 / 3 + .25) / 3, 1e-9);
	EXPECT_NEAR(lv[ANA_LM_NORM_DISTANCE], (1.0 / 3 + .75) / 3, 1e-9);
	free(N);
	free(N2);
}

static void
test_induction_stripe_by_hand(void **state)
{
	(void)state;
	/* BOS + 2 x S with S = 2: n = 5, second copy at 3, 4; targets
	 * i - S + 1: (3,2) (4,3) */
	const double rows[] = { 1, .5, .5, .2, .3, .5, 0, .1, .6, .3, 0, 0, .1, .8, .1 };
	float *A = causal_map(5, rows);
	EXPECT_NEAR(ana_induction_stripe(A, 5, 3, 2), (.6 + .8) / 2, 1e-7);
	assert_true(isnan(ana_induction_stripe(A, 5, 5, 2))); /* empty */
	free(A);
}

/* ==== summaries and roles =============================================== */

static void
test_summary(void **state)
{
	(void)state;
	double v[6] = { 4, NAN, 1, 3, 2, NAN };
	struct ana_summary s;
	ana_summarize(v, 6, &s);
	assert_int_equal(s.n, 4);
	EXPECT_NEAR(s.mean, 2.5, 1e-12);
	EXPECT_NEAR(s.std, sqrt(1.25), 1e-12);
	EXPECT_NEAR(s.p50, 2.5, 1e-12);
	EXPECT_NEAR(s.p90, 3.7, 1e-12); /* (4-1)·.9 = 2.7: 3 + .7·(4-3) */
	double w[2] = { NAN, NAN };
	ana_summarize(w, 2, &s);
	assert_int_equal(s.n, 0);
	assert_true(isnan(s.mean) && isnan(s.std) && isnan(s.p50) && isnan(s.p90));
	double one = 7;
	ana_summarize(&one, 1, &s);
	EXPECT_NEAR(s.p90, 7, 0);
	EXPECT_NEAR(s.std, 0, 0);
}

static void
test_roles_from_thresholds(void **state)
{
	(void)state;
	double mean[ANA_METRIC_COUNT];
	for (int m = 0; m < ANA_METRIC_COUNT; m++)
		mean[m] = NAN;
	assert_int_equal(ana_head_roles(mean), 0); /* nothing computed */
	mean[ANA_M_PREV_TOKEN] = .5;
	mean[ANA_M_DISTANCE] = 1;
	assert_int_equal(ana_head_roles(mean), 1u << ANA_ROLE_PREV); /* not local */
	mean[ANA_M_PREV_TOKEN] = .49;
	assert_int_equal(ana_head_roles(mean), 1u << ANA_ROLE_LOCAL);
	mean[ANA_M_DISTANCE] = 2.01;
	mean[ANA_M_INDUCTION] = .4;
	mean[ANA_M_SINK] = .5;
	mean[ANA_M_ENTROPY_NORM] = .95;
	mean[ANA_M_SELF] = .1;
	assert_int_equal(ana_head_roles(mean), 1u << ANA_ROLE_INDUCTION |
	                 1u << ANA_ROLE_SINK | 1u << ANA_ROLE_BROAD);
	mean[ANA_M_ENTROPY_NORM] = .9499;
	assert_false(ana_head_roles(mean) & 1u << ANA_ROLE_BROAD);
	assert_string_equal(ana_role_rule(ANA_ROLE_PREV)->name, "previous-token");
	assert_null(ana_role_rule(ANA_ROLE_COUNT));
	/* every metric has a distinct name that finds it */
	for (int m = 0; m < ANA_METRIC_COUNT; m++)
		assert_int_equal(ana_metric_find(ana_metric_info((enum ana_metric)m)->name), m);
	assert_int_equal(ana_metric_find("no_such_metric"), -1);
}

/* ==== rollout and flow ================================================== */

/* Two heads of one layer, each 3x3, used for both layers:
 *   head 0 [[1 0 0], [1 0 0], [0 1 0]], head 1 = I
 *   mean [[1 0 0], [.5 .5 0], [0 .5 .5]] + I, rows normalised:
 *   W = [[1 0 0], [.25 .75 0], [0 .25 .75]]
 *   rollout R1 = W W = [[1 0 0], [.4375 .5625 0], [.0625 .375 .5625]]
 *   flow F0 = W; F1 row 1: flows .5 (to 0), .75 (to 1) -> [.4 .6 0];
 *   row 2: .25, .5, .75 -> [1/6 1/3 1/2] */
static const float heads3[18] = {
	1, 0, 0, 1, 0, 0, 0, 1, 0,
	1, 0, 0, 0, 1, 0, 0, 0, 1,
};

static void
test_rollout_3x3(void **state)
{
	(void)state;
	double W[18], R[18];
	ana_graph_weights(heads3, 2, 3, W);
	const double w0[9] = { 1, 0, 0, .25, .75, 0, 0, .25, .75 };
	for (int k = 0; k < 9; k++)
		EXPECT_NEAR(W[k], w0[k], 1e-12);
	memcpy(W + 9, W, 9 * sizeof *W);
	ana_rollout(W, 2, 3, R);
	const double r1[9] = { 1, 0, 0, .4375, .5625, 0, .0625, .375, .5625 };
	for (int k = 0; k < 9; k++) {
		EXPECT_NEAR(R[k], w0[k], 1e-12);
		EXPECT_NEAR(R[9 + k], r1[k], 1e-12);
	}
}

static void
test_flow_3x3(void **state)
{
	(void)state;
	double W[18], F[18];
	ana_graph_weights(heads3, 2, 3, W);
	memcpy(W + 9, W, 9 * sizeof *W);
	assert_int_equal(ana_flow(W, 2, 3, F), 0);
	const double f0[9] = { 1, 0, 0, .25, .75, 0, 0, .25, .75 };
	const double f1[9] = { 1, 0, 0, .4, .6, 0, 1.0 / 6, 1.0 / 3, .5 };
	for (int k = 0; k < 9; k++) {
		EXPECT_NEAR(F[k], f0[k], 1e-12);
		EXPECT_NEAR(F[9 + k], f1[k], 1e-12);
	}
}

/* CLRS figure 26.1: maximum flow 23; then a fractional one. */
static void
test_maxflow_known(void **state)
{
	(void)state;
	struct ana_maxflow *g = ana_maxflow_create(6);
	assert_non_null(g);
	const int e[][3] = {
		{ 0, 1, 16 }, { 0, 2, 13 }, { 1, 3, 12 }, { 2, 1, 4 }, { 2, 4, 14 },
		{ 3, 2, 9 }, { 3, 5, 20 }, { 4, 3, 7 }, { 4, 5, 4 },
	};
	for (size_t k = 0; k < sizeof e / sizeof e[0]; k++)
		assert_int_equal(ana_maxflow_add_edge(g, e[k][0], e[k][1], e[k][2]), 0);
	EXPECT_NEAR(ana_maxflow_run(g, 0, 5), 23, 1e-9);
	EXPECT_NEAR(ana_maxflow_run(g, 0, 5), 23, 1e-9); /* runs start afresh */
	EXPECT_NEAR(ana_maxflow_run(g, 0, 3), 19, 1e-9);  /* cut {1->3 12, 4->3 7} */
	EXPECT_NEAR(ana_maxflow_run(g, 5, 0), 0, 0);     /* no path back */
	assert_true(isnan(ana_maxflow_run(g, 0, 0)));
	assert_true(isnan(ana_maxflow_run(g, 0, 6)));
	assert_int_not_equal(ana_maxflow_add_edge(g, 0, 1, 1), 0); /* frozen */
	ana_maxflow_free(g);
	/* a diamond with a cross edge: s->a .5, s->b .25, a->b .3, a->t .1,
	 * b->t .6: the minimum cut {s, a} | {b, t} is .25 + .3 + .1 = .65 */
	g = ana_maxflow_create(4);
	assert_int_equal(ana_maxflow_add_edge(g, 0, 1, .5), 0);
	assert_int_equal(ana_maxflow_add_edge(g, 0, 2, .25), 0);
	assert_int_equal(ana_maxflow_add_edge(g, 1, 2, .3), 0);
	assert_int_equal(ana_maxflow_add_edge(g, 1, 3, .1), 0);
	assert_int_equal(ana_maxflow_add_edge(g, 2, 3, .6), 0);
	EXPECT_NEAR(ana_maxflow_run(g, 0, 3), .65, 1e-12);
	ana_maxflow_free(g);
	assert_null(ana_maxflow_create(1));
	ana_maxflow_free(NULL);
}

/* deterministic numbers in [0, 1) */
static double
urand(uint64_t *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return (double)(*s >> 11) / 9007199254740992.0;
}

/* Random softmax-like maps [L, H, n, n]: rows sum to 1, heavy tails. */
static float *
random_maps(int L, int H, int n, bool causal, uint64_t seed)
{
	float *m = malloc((size_t)L * H * n * n * sizeof *m);
	assert_non_null(m);
	for (int b = 0; b < L * H; b++)
		for (int i = 0; i < n; i++) {
			float *row = m + ((size_t)b * n + i) * n;
			int last = causal ? i : n - 1;
			double s = 0;
			for (int j = 0; j < n; j++) {
				row[j] = j <= last ? (float)exp(-8 * urand(&seed)) : 0;
				s += row[j];
			}
			for (int j = 0; j < n; j++)
				row[j] = (float)(row[j] / s);
		}
	return m;
}

/* The attention flow equals the generic max-flow solver on the same
 * graph, causal and bidirectional. */
static void
test_flow_matches_generic(void **state)
{
	(void)state;
	const int L = 3, H = 2, n = 7;
	for (int causal = 0; causal < 2; causal++) {
		float *maps = random_maps(L, H, n, causal, 99 + causal);
		double *W = malloc((size_t)L * n * n * sizeof *W);
		double *F = malloc((size_t)L * n * n * sizeof *F);
		for (int l = 0; l < L; l++)
			ana_graph_weights(maps + (size_t)l * H * n * n, H, n, W + (size_t)l * n * n);
		assert_int_equal(ana_flow(W, L, n, F), 0);
		for (int l = 0; l < L; l++) {
			struct ana_maxflow *g = ana_maxflow_create((L + 1) * n);
			for (int m = 0; m < L; m++)
				for (int i = 0; i < n; i++)
					for (int j = 0; j < n; j++) {
						double w = W[((size_t)m * n + i) * n + j];
						if (w > 0)
							assert_int_equal(ana_maxflow_add_edge(g, (m + 1) * n + i,
							                                      m * n + j, w), 0);
					}
			for (int i = 0; i < n; i++) {
				double row[16], tot = 0;
				for (int j = 0; j < n; j++)
					tot += row[j] = ana_maxflow_run(g, (l + 1) * n + i, j);
				for (int j = 0; j < n; j++)
					EXPECT_NEAR(F[((size_t)l * n + i) * n + j], row[j] / tot, 1e-9);
			}
			ana_maxflow_free(g);
		}
		free(maps);
		free(W);
		free(F);
	}
}

/* ==== similarity and MDS ================================================ */

static void
test_js_distance(void **state)
{
	(void)state;
	const int H = 4, n = 5;
	float *maps = random_maps(1, H, n, true, 7);
	memcpy(maps + 3 * n * n, maps, (size_t)n * n * sizeof *maps); /* head 3 = head 0 */
	const float *ptr[4];
	for (int h = 0; h < H; h++)
		ptr[h] = maps + (size_t)h * n * n;
	double D[16] = { 0 };
	assert_int_equal(ana_js_accumulate(ptr, H, n, D), 0);
	for (int a = 0; a < H; a++) {
		EXPECT_NEAR(D[a * H + a], 0, 0);
		for (int b = 0; b < H; b++) {
			EXPECT_NEAR(D[a * H + b], D[b * H + a], 1e-15);
			EXPECT_NEAR(D[a * H + b], ana_js_pair(ptr[a], ptr[b], n), 1e-12);
			if (a != b && !((a == 0 && b == 3) || (a == 3 && b == 0)))
				assert_true(D[a * H + b] > 1e-6);
		}
	}
	EXPECT_NEAR(D[0 * H + 3], 0, 0); /* identical heads */
	/* by hand on one entry: P = 1, Q = 0 (n = 1 would be trivial; n = 2,
	 * rows [1 0], [1 0] vs [1 0], [0 1]): lo = .0005, the two entries that
	 * differ are p = .9995, q = .0005 and the reverse */
	const float P[4] = { 1, 0, 1, 0 }, Q[4] = { 1, 0, 0, 1 };
	double p = .0005 + .999, q = .0005, m = (p + q) / 2;
	double js = 2 * (p * log(p / m) + q * log(q / m)) / 2;
	EXPECT_NEAR(ana_js_pair(P, Q, 2), js, 1e-12);
	/* accumulation over samples sums */
	assert_int_equal(ana_js_accumulate(ptr, H, n, D), 0);
	EXPECT_NEAR(D[1], 2 * ana_js_pair(ptr[0], ptr[1], n), 1e-12);
	free(maps);
}

static void
test_mds_recovers_configuration(void **state)
{
	(void)state;
	/* a known 2-D configuration (not centred, not axis-aligned) */
	const double P[][2] = {
		{ 0, 0 }, { 3, 0 }, { 0, 4 }, { 3, 4 }, { 1, 1 }, { -2, 5 }, { 7, -1 },
	};
	const int n = sizeof P / sizeof P[0];
	double D[49], X[14], lam[2];
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++)
			D[i * n + j] = hypot(P[i][0] - P[j][0], P[i][1] - P[j][1]);
	assert_int_equal(ana_mds(D, n, 2, X, lam), 0);
	assert_true(lam[0] >= lam[1] && lam[1] > 0);
	/* the layout reproduces every distance (up to rotation/reflection) */
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++)
			EXPECT_NEAR(hypot(X[2 * i] - X[2 * j], X[2 * i + 1] - X[2 * j + 1]),
			            D[i * n + j], 1e-8);
	/* and it is centred */
	double cx = 0, cy = 0;
	for (int i = 0; i < n; i++) {
		cx += X[2 * i];
		cy += X[2 * i + 1];
	}
	EXPECT_NEAR(cx, 0, 1e-9);
	EXPECT_NEAR(cy, 0, 1e-9);
	/* a larger configuration takes the subspace iteration path */
	enum { N = 30 };
	double *DD = malloc(N * N * sizeof *DD), *XX = malloc(2 * N * sizeof *XX);
	double pts[N][2];
	uint64_t seed = 5;
	for (int i = 0; i < N; i++) {
		pts[i][0] = 10 * urand(&seed);
		pts[i][1] = 3 * urand(&seed);
	}
	for (int i = 0; i < N; i++)
		for (int j = 0; j < N; j++)
			DD[i * N + j] = hypot(pts[i][0] - pts[j][0], pts[i][1] - pts[j][1]);
	assert_int_equal(ana_mds(DD, N, 2, XX, NULL), 0);
	for (int i = 0; i < N; i++)
		for (int j = 0; j < N; j++)
			EXPECT_NEAR(hypot(XX[2 * i] - XX[2 * j], XX[2 * i + 1] - XX[2 * j + 1]),
			            DD[i * N + j], 1e-7);
	free(DD);
	free(XX);
	assert_int_not_equal(ana_mds(D, n, 0, X, NULL), 0);
}

/* ==== the demo model end to end ========================================= */

static bool demo_ready;

/* The demo model and a database of its samples (once per test program). */
static void
demo_setup(void)
{
	if (demo_ready)
		return;
	assert_int_equal(demo_write_model(path("demo.bin"), path("demo-tok.bin")), 0);
	write_text("demo.txt", demo_samples());
	struct rec_options o = {
		.model_path = path("demo.bin"), .tokenizer_path = path("demo-tok.bin"),
		.db_path = path("demo.db"), .data_path = path("demo.txt"), .enc = STORE_ENC_F16,
	};
	struct rec_result res;
	if (rec_run(&o, &res) != 0)
		fail_msg("recording the demo: %s", err_msg(ERR_IO));
	demo_ready = true;
}

static json_t *
parse_out(void)
{
	json_error_t je;
	json_t *j = json_loads(out_buf, 0, &je);
	if (!j)
		fail_msg("output is not JSON (%s): %.200s", je.text, out_buf);
	return j;
}

static bool
has_role(json_t *head, const char *role)
{
	json_t *roles = json_object_get(head, "roles"), *r;
	size_t k;
	json_array_foreach(roles, k, r)
		if (strcmp(json_string_value(r), role) == 0)
			return true;
	return false;
}

/* analyze finds exactly the designed roles in exactly those heads */
static void
test_demo_roles(void **state)
{
	(void)state;
	demo_setup();
	assert_int_equal(run("analyze --db demo.db --format json -q"), 0);
	json_t *j = parse_out();
	assert_int_equal(json_integer_value(json_object_get(j, "n_samples")), 8);
	json_t *heads = json_object_get(j, "heads");
	assert_int_equal(json_array_size(heads), 8);
	static const char *const designed[] = {
		"previous-token", "sink", "self", "broad", "induction",
	};
	for (size_t k = 0; k < 8; k++) {
		json_t *h = json_array_get(heads, k);
		int l = (int)json_integer_value(json_object_get(h, "layer"));
		int hd = (int)json_integer_value(json_object_get(h, "head"));
		const char *want = l == DEMO_PREV_LAYER && hd == DEMO_PREV_HEAD ? "previous-token"
			: l == DEMO_SINK_LAYER && hd == DEMO_SINK_HEAD ? "sink"
			: l == DEMO_SELF_LAYER && hd == DEMO_SELF_HEAD ? "self"
			: l == DEMO_BROAD_LAYER && hd == DEMO_BROAD_HEAD ? "broad"
			: l == DEMO_INDUCTION_LAYER && hd == DEMO_INDUCTION_HEAD ? "induction" : NULL;
		for (size_t r = 0; r < sizeof designed / sizeof designed[0]; r++) {
			bool got = has_role(h, designed[r]);
			bool should = want && strcmp(want, designed[r]) == 0;
			if (got != should)
				fail_msg("L%dH%d: role '%s' %s", l, hd, designed[r],
				         got ? "found but not designed" : "designed but not found");
		}
		/* the fixed JSON shape */
		json_t *m = json_object_get(json_object_get(h, "metrics"), "induction");
		assert_non_null(m);
		assert_non_null(json_object_get(m, "mean"));
		assert_non_null(json_object_get(m, "std"));
		assert_non_null(json_object_get(m, "p50"));
		assert_non_null(json_object_get(m, "p90"));
		assert_int_equal(json_object_size(m), 4);
	}
	json_decref(j);
	/* the roles went into the database too */
	int err;
	struct store *s = store_open(path("demo.db"), STORE_READONLY, &err);
	assert_non_null(s);
	struct store_summary sum;
	assert_int_equal(store_get_summary(s, 1, 1, 0, "induction", &sum), 0);
	assert_true(sum.mean > .6 && sum.n == 8);
	store_close(s);
	assert_int_equal(run("analyze --db demo.db --rank 1.0 induction --limit 3 --format csv"),
	                 0);
	assert_non_null(strstr(out_buf, "rank,sample,value"));
	/* `attnscope demo` prints the comparison */
	assert_int_equal(run("demo --out demo-out -q"), 0);
	assert_non_null(strstr(out_buf, "8 of 8 heads as designed"));
}

static void
test_demo_similarity_rollout_flow(void **state)
{
	(void)state;
	demo_setup();
	assert_int_equal(run("analyze --db demo.db --metrics entropy -q --similarity sim.csv "
	                     "--similarity-png sim.png --color role --rollout --flow"), 0);
	FILE *f = fopen(path("sim.csv"), "r");
	assert_non_null(f);
	char line[4096];
	int lines = 0;
	while (fgets(line, sizeof line, f))
		lines++;
	fclose(f);
	assert_int_equal(lines, 9); /* header + 8 heads */
	f = fopen(path("sim.png"), "rb");
	assert_non_null(f);
	unsigned char sig[8];
	assert_int_equal(fread(sig, 1, 8, f), 8);
	fclose(f);
	assert_memory_equal(sig, "\x89PNG\r\n\x1a\n", 8);
	/* the derived maps: rows are distributions; flow of layer 0 = rollout
	 * of layer 0 = W_0 */
	int err;
	struct store *s = store_open(path("demo.db"), STORE_READONLY, &err);
	assert_non_null(s);
	struct store_sample_info si;
	assert_int_equal(store_get_sample(s, 1, 4, &si), 0);
	for (int l = 0; l < 2; l++) {
		float *R, *F;
		int nq, nk, fq, fk;
		assert_int_equal(store_get_attn(s, si.id, l, 0, "rollout", &R, &nq, &nk), 0);
		assert_int_equal(store_get_attn(s, si.id, l, 0, "flow", &F, &fq, &fk), 0);
		assert_int_equal(nq, si.n_tok);
		assert_int_equal(fq, si.n_tok);
		for (int i = 0; i < nq; i++) {
			double sr = 0, sf = 0;
			for (int j = 0; j < nk; j++) {
				sr += R[i * nk + j];
				sf += F[i * nk + j];
				if (l == 0)
					EXPECT_NEAR(F[i * nk + j], R[i * nk + j], 1e-6);
			}
			EXPECT_NEAR(sr, 1, 1e-5);
			EXPECT_NEAR(sf, 1, 1e-5);
		}
		free(R);
		free(F);
	}
	double js, x, y;
	assert_int_equal(store_get_similarity(s, 1, 0, 0, 1, 0, &js), 0);
	assert_true(js > 0);
	assert_int_equal(store_get_layout(s, 1, 0, 3, &x, &y), 0);
	store_close(s);
}

static void
test_demo_probes(void **state)
{
	(void)state;
	demo_setup();
	/* induction: the designed induction head ranks first */
	assert_int_equal(run("probe induction --model demo.bin --tokenizer demo-tok.bin "
	                     "--db probe.db --seq-len 20 --batch 4 --format json -q"), 0);
	json_t *j = parse_out();
	json_t *top = json_array_get(json_object_get(j, "heads"), 0);
	assert_int_equal(json_integer_value(json_object_get(top, "layer")), DEMO_INDUCTION_LAYER);
	assert_int_equal(json_integer_value(json_object_get(top, "head")), DEMO_INDUCTION_HEAD);
	assert_true(json_real_value(json_object_get(top, "mean")) > .3);
	json_decref(j);
	/* ablation: the heads that write something matter, the others not */
	assert_int_equal(run("probe ablate --model demo.bin --tokenizer demo-tok.bin "
	                     "--data demo.txt --db ablate.db --format json -q"), 0);
	j = parse_out();
	json_t *heads = json_object_get(j, "heads"), *h;
	size_t k;
	json_array_foreach(heads, k, h) {
		int l = (int)json_integer_value(json_object_get(h, "layer"));
		int hd = (int)json_integer_value(json_object_get(h, "head"));
		double dz = json_real_value(json_object_get(json_object_get(h, "zero"), "delta"));
		double dm = json_real_value(json_object_get(json_object_get(h, "mean"), "delta"));
		bool writes = (l == 0 && hd == 0) || (l == 1 && hd == 0); /* prev, induction */
		if (writes)
			assert_true(dz > .5 && dm > .5);
		else
			assert_true(fabs(dz) < 1e-6 && fabs(dm) < 1e-6);
	}
	json_decref(j);
	int err;
	struct store *s = store_open(path("ablate.db"), STORE_READONLY, &err);
	assert_non_null(s);
	double loss, base;
	assert_int_equal(store_get_ablation(s, 1, 1, 0, "zero", &loss, &base), 0);
	assert_true(loss > base + .5);
	store_close(s);
	/* logit lens: stored and exportable */
	assert_int_equal(run("probe logit-lens --model demo.bin --tokenizer demo-tok.bin "
	                     "--text 'abc abc' --db lens.db --top-k 3 -q"), 0);
	assert_int_equal(run("probe logit-lens --db lens.db --format csv"), 0);
	assert_non_null(strstr(out_buf, "layer,pos,token_id,rank,id,piece,logprob"));
	assert_int_equal(run("probe logit-lens --db lens.db --format json"), 0);
	j = parse_out();
	json_t *layers = json_object_get(j, "layers");
	assert_int_equal(json_array_size(layers), 2);
	json_t *pos0 = json_array_get(json_object_get(json_array_get(layers, 1), "top"), 0);
	assert_int_equal(json_array_size(pos0), 3);
	json_decref(j);
}

/* ==== hostile input ===================================================== */

static void
test_hostile(void **state)
{
	(void)state;
	demo_setup();
	char cmd[1024];
	/* a run with no samples */
	snprintf(cmd, sizeof cmd, "cp '%s' '%s'", path("demo.db"), path("empty-run.db"));
	assert_int_equal(system(cmd), 0);
	raw_exec(path("empty-run.db"), "INSERT INTO runs (model_id, dataset, status, started)"
	         " VALUES (1, 'x', 'running', 0)");
	assert_int_equal(run("analyze --db empty-run.db -q"), 1);
	assert_one_error_line("has no samples");

	/* NaN in a blob (f16 0x7E00 at element 5 of the tri layout: row 2, col 2) */
	snprintf(cmd, sizeof cmd, "cp '%s' '%s'", path("demo.db"), path("nan.db"));
	assert_int_equal(system(cmd), 0);
	raw_exec(path("nan.db"), "UPDATE attention SET data = CAST(substr(data, 1, 10) ||"
	         " X'007E' || substr(data, 13) AS BLOB) WHERE kind = 'self' AND layer = 1 AND"
	         " head = 3 AND sample_id = (SELECT id FROM samples WHERE idx = 2 AND run_id = 1)");
	assert_int_equal(run("analyze --db nan.db -q"), 1);
	assert_one_error_line("sample 2 layer 1 head 3: the attention map holds NaN at query 2");

	/* one-token samples: undefined metrics, no crash */
	write_text("one.jsonl", "{\"tokens\": [5]}\n{\"tokens\": [1]}\n");
	struct rec_options o = {
		.model_path = path("demo.bin"), .tokenizer_path = path("demo-tok.bin"),
		.db_path = path("one.db"), .data_path = path("one.jsonl"), .enc = STORE_ENC_F32,
	};
	struct rec_result res;
	assert_int_equal(rec_run(&o, &res), 0);
	assert_int_equal(run("analyze --db one.db --format json -q"), 0);
	json_t *j = parse_out();
	json_t *h = json_array_get(json_object_get(j, "heads"), 0);
	json_t *ind = json_object_get(json_object_get(h, "metrics"), "induction");
	assert_true(json_is_null(json_object_get(ind, "mean")));
	json_t *ent = json_object_get(json_object_get(h, "metrics"), "entropy");
	EXPECT_NEAR(json_number_value(json_object_get(ent, "mean")), 0, 1e-9);
	json_decref(j);

	/* maps not stored: head_stats where possible, a note for the rest,
	 * a clear error when a map metric is asked for */
	o.model_path = path("demo.bin");
	o.tokenizer_path = path("demo-tok.bin");
	o.db_path = path("none.db");
	o.data_path = path("demo.txt");
	o.capture = "none";
	assert_int_equal(rec_run(&o, &res), 0);
	assert_int_equal(run("analyze --db none.db"), 0);
	assert_non_null(strstr(err_buf, "not computed: entropy_norm"));
	assert_non_null(strstr(out_buf, "previous-token"));
	assert_int_equal(run("analyze --db none.db --metrics induction -q"), 1);
	assert_one_error_line("cannot compute 'induction'");
	assert_int_equal(run("analyze --db none.db --metrics sink,first_token --format json -q"),
	                 0);
	j = parse_out();
	h = json_array_get(json_object_get(j, "heads"), 1); /* L0H1, the sink */
	json_t *sink = json_object_get(json_object_get(h, "metrics"), "sink");
	EXPECT_NEAR(json_number_value(json_object_get(sink, "mean")), 1, 0);
	json_decref(j);

	/* usage errors */
	assert_int_equal(run("analyze --db demo.db --metrics nope"), 2);
	assert_int_equal(run("analyze --db demo.db --rank 9.9 induction -q"), 1);
	assert_int_equal(run("analyze --db demo.db --rank x induction"), 2);
	assert_int_equal(run("probe nope --db x.db"), 2);
}

/* ==== stories260K: every metric against an independent computation ===== */

/* TransformerLens' detection patterns built literally [n, n] (0/1). */
static void
tl_pattern(int p, const int32_t *t, int n, unsigned char *P)
{
	memset(P, 0, (size_t)n * n);
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++) {
			unsigned char dup = j < i && t[i] == t[j]; /* eq, diag 0, tril */
			if (p == 0)
				P[i * n + j] = i >= 1 && j == i - 1;
			else if (p == 1)
				P[i * n + j] = dup;
			else /* roll the duplicate pattern right, column 0 = 0, tril */
				P[i * n + j] = j >= 1 && j <= i && j - 1 < i && t[i] == t[j - 1];
		}
}

/* compute_head_attention_similarity_score, literally, in double */
static double
tl_score(const float *A, const unsigned char *P, int n, bool bos, bool cur, bool abs_)
{
	double num = 0, den = 0, ad = 0;
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++) {
			double a = A[i * n + j];
			double d = fabs(a - P[i * n + j]);
			if ((bos && j == 0) || (cur && i == j)) {
				a = 0;
				d = 0;
			}
			num += a * P[i * n + j];
			den += a;
			ad += d;
		}
	if (!abs_)
		return num / den;
	double x = ad / ((double)n * n) * n;
	return 1 - rint(x * 1000) / 1000;
}

static bool
indep_punct(const char *piece)
{
	const char *p = piece;
	while (*p == ' ')
		p++;
	if (!*p)
		return false;
	for (; *p; p++)
		if (!ispunct((unsigned char)*p))
			return false;
	return strncmp(piece, "<0x", 3) != 0;
}

/* Every per-sample metric of one head, computed independently. */
static void
independent(const float *A, const struct store_token *tok, int n, double *v)
{
	int32_t *t = malloc((size_t)n * sizeof *t);
	unsigned char *P = malloc((size_t)n * n);
	for (int i = 0; i < n; i++)
		t[i] = tok[i].id;
	for (int m = 0; m < ANA_METRIC_COUNT; m++)
		v[m] = NAN;
	double ent = 0, dist = 0, first = 0, mx = 0, self = 0, prev = 0, en = 0;
	double spec = 0, punct = 0, next = 0;
	for (int i = 0; i < n; i++) {
		double h = 0, best = 0;
		for (int j = 0; j <= i; j++) {
			double a = A[i * n + j];
			if (a > 0)
				h -= a * log(a);
			dist += a * (i - j);
			best = a > best ? a : best;
			const char *pc = tok[j].piece;
			if (strstr(pc, "<s>") || strstr(pc, "</s>"))
				spec += a;
			if (indep_punct(pc))
				punct += a;
		}
		ent += h;
		mx += best;
		first += A[i * n];
		self += A[i * n + i];
		if (i >= 1) {
			prev += A[i * n + i - 1];
			en += h / log(i + 1.0);
		}
		if (i + 1 < n)
			next += A[i * n + i + 1];
	}
	v[ANA_M_ENTROPY] = ent / n;
	v[ANA_M_DISTANCE] = dist / n;
	v[ANA_M_FIRST_TOKEN] = first / n;
	v[ANA_M_MAX_WEIGHT] = mx / n;
	v[ANA_M_SELF] = self / n;
	v[ANA_M_ENTROPY_NORM] = n >= 2 ? en / (n - 1) : NAN;
	v[ANA_M_CLARK_SPECIAL] = spec / n;
	v[ANA_M_CLARK_PUNCT] = punct / n;
	v[ANA_M_CLARK_SELF] = self / n;
	v[ANA_M_CLARK_PREV] = prev / n;
	v[ANA_M_CLARK_NEXT] = next / n;
	v[ANA_M_SINK] = n >= 2 ? (first / n > 0.3) : NAN;
	for (int p = 0; p < 3 && n >= 2; p++) {
		tl_pattern(p, t, n, P);
		for (int var = 0; var < 8; var++)
			v[ANA_M_PREV_TOKEN + 8 * p + var] =
				tl_score(A, P, n, var & 1, var & 2, var & 4);
	}
	free(t);
	free(P);
}

struct head_vals {
	double *v; /* (n_samples, ANA_METRIC_COUNT) */
};

static void
test_stories260k_metrics(void **state)
{
	(void)state;
	const char *model = shared_path("models/stories260K/stories260K.bin");
	assert_non_null(model);
	/* prompts the model was not recorded on elsewhere in the tests */
	write_text("prompts.txt",
	           "The little dog ran to the park. The dog was happy, and the sun was warm.\n"
	           "Tim had a red ball. He threw the ball to Sue! Sue threw the ball back.\n"
	           "Why is the sky blue? asked Lily. Her mom smiled: the sky is blue, dear.\n"
	           "Once there was a big bear who liked honey, honey and more honey.\n"
	           "Hi\n");
	struct rec_options o = {
		.model_path = model, .db_path = path("st.db"), .data_path = path("prompts.txt"),
		.enc = STORE_ENC_F32,
		.capture = "blocks.*.attn.hook_pattern,blocks.*.attn.hook_norm_pattern",
	};
	struct rec_result res;
	assert_int_equal(rec_run(&o, &res), 0);
	assert_int_equal(run("analyze --db st.db --format json -q"), 0);
	json_t *j = parse_out();

	int err;
	struct store *s = store_open(path("st.db"), STORE_READONLY, &err);
	assert_non_null(s);
	const int L = 5, H = 8, N = 5;
	double *vals = malloc((size_t)N * L * H * ANA_METRIC_COUNT * sizeof *vals);
	double *lay = malloc((size_t)N * L * 2 * sizeof *lay);
	long checked = 0;
	for (int k = 0; k < N; k++) {
		struct store_sample_info si;
		struct store_token *tok;
		int n;
		assert_int_equal(store_get_sample(s, res.run_id, k, &si), 0);
		assert_int_equal(store_get_tokens(s, si.id, &tok, &n), 0);
		for (int l = 0; l < L; l++) {
			char hook[64];
			float *norm;
			int nd, shape[4];
			snprintf(hook, sizeof hook, "blocks.%d.attn.hook_norm_pattern", l);
			assert_int_equal(store_get_act(s, si.id, hook, &norm, &nd, shape), 0);
			/* layer metrics: the heads' norm maps summed, row shares */
			double f = 0, d = 0;
			int rows = 0;
			for (int i = 0; i < n; i++) {
				double r = 0, r0 = 0, rd = 0;
				for (int h = 0; h < H; h++)
					for (int q = 0; q <= i; q++) {
						double x = norm[((size_t)h * n + i) * n + q];
						r += x;
						rd += x * (i - q);
						if (q == 0)
							r0 += x;
					}
				if (r > 0) {
					f += r0 / r;
					d += rd / r;
					rows++;
				}
			}
			lay[(k * L + l) * 2] = f / rows;
			lay[(k * L + l) * 2 + 1] = d / rows;
			for (int h = 0; h < H; h++) {
				float *A;
				int nq, nk;
				assert_int_equal(store_get_attn(s, si.id, l, h, "self", &A, &nq, &nk), 0);
				double *v = vals + ((size_t)(k * L + l) * H + h) * ANA_METRIC_COUNT;
				independent(A, tok, n, v);
				/* norm-based, per head */
				double nf = 0, ndd = 0;
				int nr = 0;
				for (int i = 0; i < n; i++) {
					double r = 0, rd = 0;
					for (int q = 0; q <= i; q++) {
						double x = norm[((size_t)h * n + i) * n + q];
						r += x;
						rd += x * (i - q);
					}
					if (r > 0) {
						nf += norm[((size_t)h * n + i) * n] / r;
						ndd += rd / r;
						nr++;
					}
				}
				v[ANA_M_NORM_FIRST_TOKEN] = nf / nr;
				v[ANA_M_NORM_DISTANCE] = ndd / nr;
				/* the stored per-sample values (recorder and analyze) */
				for (int m = 0; m < ANA_METRIC_COUNT; m++) {
					const char *name = ana_metric_info((enum ana_metric)m)->name;
					double got;
					assert_int_equal(store_get_head_stat(s, si.id, l, h, name, &got), 0);
					if (isnan(v[m]) != isnan(got) ||
					    (!isnan(got) && !(fabs(got - v[m]) <= 1e-4)))
						fail_msg("sample %d L%dH%d %s: stored %.9g, independent %.9g", k,
						         l, h, name, got, v[m]);
					checked++;
				}
				free(A);
			}
			free(norm);
		}
		free(tok);
	}
	/* the run summaries in the JSON, from the independent values */
	json_t *heads = json_object_get(j, "heads");
	assert_int_equal(json_array_size(heads), (size_t)L * H);
	for (int k = 0; k < L * H; k++) {
		json_t *mets = json_object_get(json_array_get(heads, (size_t)k), "metrics");
		for (int m = 0; m < ANA_METRIC_COUNT; m++) {
			double col[5];
			for (int q = 0; q < N; q++)
				col[q] = vals[((size_t)q * L * H + k) * ANA_METRIC_COUNT + m];
			struct ana_summary sm;
			ana_summarize(col, N, &sm);
			const char *name = ana_metric_info((enum ana_metric)m)->name;
			json_t *o_m = json_object_get(mets, name);
			assert_non_null(o_m);
			/* a hand-rolled mean too, over the defined values */
			double acc = 0;
			int cnt = 0;
			for (int q = 0; q < N; q++) {
				double x = vals[((size_t)q * L * H + k) * ANA_METRIC_COUNT + m];
				if (!isnan(x)) {
					acc += x;
					cnt++;
				}
			}
			EXPECT_NEAR(json_number_value(json_object_get(o_m, "mean")), acc / cnt, 1e-4);
			EXPECT_NEAR(json_number_value(json_object_get(o_m, "std")), sm.std, 1e-4);
			EXPECT_NEAR(json_number_value(json_object_get(o_m, "p50")), sm.p50, 1e-4);
			EXPECT_NEAR(json_number_value(json_object_get(o_m, "p90")), sm.p90, 1e-4);
		}
		for (int q = 0; q < 2; q++) {
			double acc = 0;
			for (int i = 0; i < N; i++)
				acc += lay[(i * L + k / H) * 2 + q];
			json_t *o_m = json_object_get(mets, q ? "layer_norm_distance"
			                                      : "layer_norm_first_token");
			EXPECT_NEAR(json_number_value(json_object_get(o_m, "mean")), acc / N, 1e-4);
		}
	}
	printf("# stories260K: %ld stored per-sample values checked against an independent "
	       "computation\n", checked);
	json_decref(j);
	free(vals);
	free(lay);
	store_close(s);
}

/* Rollout and flow on a real model: rollout against an independent matrix
 * product, flow against a plain Edmonds-Karp on dense matrices. */
static double
ek_maxflow(int V, double *cap, int s, int t)
{
	double flow = 0;
	int *par = malloc((size_t)V * sizeof *par), *q = malloc((size_t)V * sizeof *q);
	for (;;) {
		for (int v = 0; v < V; v++)
			par[v] = -1;
		par[s] = s;
		int head = 0, tail = 0;
		q[tail++] = s;
		while (head < tail && par[t] < 0) {
			int u = q[head++];
			for (int v = 0; v < V; v++)
				if (par[v] < 0 && cap[(size_t)u * V + v] > 1e-12) {
					par[v] = u;
					q[tail++] = v;
				}
		}
		if (par[t] < 0)
			break;
		double f = INFINITY;
		for (int v = t; v != s; v = par[v])
			f = fmin(f, cap[(size_t)par[v] * V + v]);
		for (int v = t; v != s; v = par[v]) {
			cap[(size_t)par[v] * V + v] -= f;
			cap[(size_t)v * V + par[v]] += f;
		}
		flow += f;
	}
	free(par);
	free(q);
	return flow;
}

static void
test_stories260k_rollout_flow(void **state)
{
	(void)state;
	const char *model = shared_path("models/stories260K/stories260K.bin");
	assert_non_null(model);
	struct rec_options o = {
		.model_path = model, .db_path = path("flow.db"),
		.text = "The cat sat on the mat.", .enc = STORE_ENC_F32,
	};
	struct rec_result res;
	assert_int_equal(rec_run(&o, &res), 0);
	assert_int_equal(run("analyze --db flow.db --metrics entropy --rollout --flow -q"), 0);
	int err;
	struct store *s = store_open(path("flow.db"), STORE_READONLY, &err);
	assert_non_null(s);
	struct store_sample_info si;
	assert_int_equal(store_get_sample(s, res.run_id, 0, &si), 0);
	const int L = 5, H = 8, n = si.n_tok, V = (L + 1) * n;
	double *W = calloc((size_t)L * n * n, sizeof *W);
	double *R = calloc((size_t)n * n, sizeof *R), *T = calloc((size_t)n * n, sizeof *T);
	for (int l = 0; l < L; l++) {
		double *Wl = W + (size_t)l * n * n;
		for (int h = 0; h < H; h++) {
			float *A;
			int nq, nk;
			assert_int_equal(store_get_attn(s, si.id, l, h, "self", &A, &nq, &nk), 0);
			for (int k = 0; k < n * n; k++)
				Wl[k] += A[k] / H;
			free(A);
		}
		for (int i = 0; i < n; i++) {
			Wl[i * n + i] += 1;
			double sum = 0;
			for (int j = 0; j < n; j++)
				sum += Wl[i * n + j];
			for (int j = 0; j < n; j++)
				Wl[i * n + j] /= sum;
		}
		/* rollout: R = W_l R */
		if (l == 0)
			memcpy(R, Wl, (size_t)n * n * sizeof *R);
		else {
			for (int i = 0; i < n; i++)
				for (int j = 0; j < n; j++) {
					double acc = 0;
					for (int k = 0; k < n; k++)
						acc += Wl[i * n + k] * R[k * n + j];
					T[i * n + j] = acc;
				}
			memcpy(R, T, (size_t)n * n * sizeof *R);
		}
		float *got, *fl;
		int nq, nk;
		assert_int_equal(store_get_attn(s, si.id, l, 0, "rollout", &got, &nq, &nk), 0);
		for (int k = 0; k < n * n; k++)
			EXPECT_NEAR(got[k], R[k], 1e-5);
		free(got);
		/* flow of layer l from every position, Edmonds-Karp */
		assert_int_equal(store_get_attn(s, si.id, l, 0, "flow", &fl, &nq, &nk), 0);
		double *cap = malloc((size_t)V * V * sizeof *cap);
		for (int i = 0; i < n; i++) {
			double row[64], tot = 0;
			for (int j = 0; j < n; j++) {
				memset(cap, 0, (size_t)V * V * sizeof *cap);
				for (int m = 0; m <= l; m++)
					for (int p = 0; p < n; p++)
						for (int q2 = 0; q2 < n; q2++)
							cap[(size_t)((m + 1) * n + p) * V + m * n + q2] =
								W[((size_t)m * n + p) * n + q2];
				tot += row[j] = ek_maxflow(V, cap, (l + 1) * n + i, j);
			}
			for (int j = 0; j < n; j++)
				EXPECT_NEAR(fl[i * n + j], row[j] / tot, 1e-5);
		}
		free(cap);
		free(fl);
	}
	free(W);
	free(R);
	free(T);
	store_close(s);
}

static void
test_stories260k_induction_probe(void **state)
{
	(void)state;
	const char *model = shared_path("models/stories260K/stories260K.bin");
	assert_non_null(model);
	assert_int_equal(run("probe induction --model '%s' --db st-probe.db --format json -q",
	                     model), 0);
	json_t *j = parse_out();
	json_t *heads = json_object_get(j, "heads");
	assert_true(json_array_size(heads) >= 3);
	assert_int_equal(json_integer_value(json_object_get(j, "seq_len")), 50);
	double prev = INFINITY;
	printf("# stories260K induction probe (2 x 50 random tokens, 10 sequences), top 3:\n");
	for (size_t k = 0; k < json_array_size(heads); k++) {
		json_t *h = json_array_get(heads, k);
		double v = json_number_value(json_object_get(h, "mean"));
		assert_true(v <= prev); /* ranked */
		prev = v;
		if (k < 3)
			printf("#   %zu. L%lldH%lld %.4f\n", k + 1,
			       json_integer_value(json_object_get(h, "layer")),
			       json_integer_value(json_object_get(h, "head")), v);
	}
	json_decref(j);
}

int
main(void)
{
	const struct CMUnitTest all[] = {
		cmocka_unit_test(test_prev_token_by_hand),
		cmocka_unit_test(test_induction_duplicate_by_hand),
		cmocka_unit_test(test_round_like_python),
		cmocka_unit_test(test_token_classes),
		cmocka_unit_test(test_clark_by_hand),
		cmocka_unit_test(test_sink_by_hand),
		cmocka_unit_test(test_entropy_norm_by_hand),
		cmocka_unit_test(test_norm_metrics_by_hand),
		cmocka_unit_test(test_induction_stripe_by_hand),
		cmocka_unit_test(test_summary),
		cmocka_unit_test(test_roles_from_thresholds),
		cmocka_unit_test(test_rollout_3x3),
		cmocka_unit_test(test_flow_3x3),
		cmocka_unit_test(test_maxflow_known),
		cmocka_unit_test(test_flow_matches_generic),
		cmocka_unit_test(test_js_distance),
		cmocka_unit_test(test_mds_recovers_configuration),
		cmocka_unit_test(test_demo_roles),
		cmocka_unit_test(test_demo_similarity_rollout_flow),
		cmocka_unit_test(test_demo_probes),
		cmocka_unit_test(test_hostile),
		/* these need ../shared (ATTNSCOPE_SHARED) */
		cmocka_unit_test(test_stories260k_metrics),
		cmocka_unit_test(test_stories260k_rollout_flow),
		cmocka_unit_test(test_stories260k_induction_probe),
	};
	size_t n = sizeof all / sizeof all[0];
	if (!shared_path("models/stories260K/stories260K.bin")) {
		n -= 3;
		printf("# ATTNSCOPE_SHARED unset or stories260K absent: golden cases not run\n");
	}
	return _cmocka_run_group_tests("analysis", all, n, setup, teardown);
}

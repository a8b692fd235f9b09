/*
 * test_render.c — render module: colormap values, colour scales, the
 * one-pixel-per-cell image builder, token label escaping, figure layout and
 * PNG/SVG/PDF export (PNG checked in memory and read back through cairo).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "render/render.h"

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

/* Pixel (x, y) of an image surface, as 0x00RRGGBB (alpha dropped). */
static uint32_t
pixel(cairo_surface_t *s, int x, int y)
{
	cairo_surface_flush(s);
	const unsigned char *d = cairo_image_surface_get_data(s);
	int stride = cairo_image_surface_get_stride(s);
	return *(const uint32_t *)(d + (size_t)y * stride + 4 * (size_t)x) &
	       0x00ffffffu;
}

static uint32_t
lut(enum render_cmap cmap, int i)
{
	return render_cmap_argb(cmap, i) & 0x00ffffffu;
}

/* Build the image of an n_q x n_k map and check every pixel against the
 * expected LUT indices (-1 = NaN colour, -2 = masked colour). */
static void
check_image(const float *map, int n_q, int n_k,
	const struct render_heatmap_opts *o, const int *want)
{
	cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24,
		n_k, n_q);
	assert_int_equal(render_heatmap_image(img, map, n_q, n_k, o), 0);
	for (int q = 0; q < n_q; q++) {
		for (int k = 0; k < n_k; k++) {
			int w = want[q * n_k + k];
			uint32_t exp = w == -1 ? (RENDER_NAN_ARGB & 0xffffff)
				: w == -2 ? (RENDER_MASKED_ARGB & 0xffffff)
				: lut(o->cmap, w);
			uint32_t got = pixel(img, k, q);
			if (got != exp)
				print_error("cell (%d, %d): got %06x want %06x "
					"(index %d)\n", q, k, got, exp, w);
			assert_int_equal(got, exp);
		}
	}
	cairo_surface_destroy(img);
}

/* LUT index of v on a log scale over [lo, 1] (render.h's formula). */
static int
log_index(float v, double lo)
{
	double t = (log10((double)v) - log10(lo)) / (0.0 - log10(lo));
	int i = (int)(t * 256.0);
	return i < 0 ? 0 : i > 255 ? 255 : i;
}

/* Channels of two 0xRRGGBB colours differ by at most tol. */
static bool
near_rgb(uint32_t a, uint32_t b, int tol)
{
	for (int sh = 0; sh <= 16; sh += 8) {
		int d = (int)(a >> sh & 0xff) - (int)(b >> sh & 0xff);
		if (d < -tol || d > tol)
			return false;
	}
	return true;
}

/* A causal attention-like map: each row a softmax-ish distribution over
 * keys 0..q with a sink on key 0 and a peak on the previous token. */
static float *
causal_map(int n)
{
	float *m = calloc((size_t)n * n, sizeof *m);
	assert_non_null(m);
	for (int q = 0; q < n; q++) {
		float sum = 0;
		for (int k = 0; k <= q; k++) {
			float v = 0.05f + 0.3f * (float)((k * 7 + q * 3) % 11) / 11.0f;
			if (k == 0)
				v += 2.0f;
			if (k == q - 1)
				v += 1.5f;
			if (k == q)
				v += 0.8f;
			m[(size_t)q * n + k] = v;
			sum += v;
		}
		for (int k = 0; k <= q; k++)
			m[(size_t)q * n + k] /= sum;
	}
	return m;
}

static const char *const story[] = {
	"<s>", "\xe2\x96\x81Once", "\xe2\x96\x81upon", "\xe2\x96\x81" "a",
	"\xe2\x96\x81time", ",", "\xe2\x96\x81there", "\xe2\x96\x81was",
	"\xe2\x96\x81" "a", "\xe2\x96\x81little", "\xe2\x96\x81girl",
	"\xe2\x96\x81named", "\xe2\x96\x81Lily", ".", "\xe2\x96\x81She",
	"\xe2\x96\x81loved", "\xe2\x96\x81to", "\xe2\x96\x81play", "\n",
	"\xe2\x96\x81outside",
};

static int
big_endian32(const unsigned char *p)
{
	return (int)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
		(uint32_t)p[2] << 8 | p[3]);
}

/* ------------------------------------------------------------------------
 * Colormaps and names
 * ------------------------------------------------------------------------ */

static void
test_cmap_endpoints(void **state)
{
	(void)state;
	const uint8_t *v = render_cmap_lut(RENDER_CMAP_VIRIDIS);
	assert_non_null(v);
	assert_int_equal(v[0], 68);
	assert_int_equal(v[1], 1);
	assert_int_equal(v[2], 84);
	assert_int_equal(v[3 * 255 + 0], 253);
	assert_int_equal(v[3 * 255 + 1], 231);
	assert_int_equal(v[3 * 255 + 2], 37);
	/* matplotlib: viridis(0.5) = #21918c, magma(0.5) = #b73779 */
	assert_int_equal(lut(RENDER_CMAP_VIRIDIS, 128), 0x21918c);
	assert_int_equal(lut(RENDER_CMAP_VIRIDIS, 64), 0x3b528b);
	assert_int_equal(lut(RENDER_CMAP_MAGMA, 0), 0x000004);
	assert_int_equal(lut(RENDER_CMAP_MAGMA, 128), 0xb73779);
	assert_int_equal(lut(RENDER_CMAP_MAGMA, 255), 0xfcfdbf);
	assert_int_equal(lut(RENDER_CMAP_GREY, 0), 0xffffff);
	assert_int_equal(lut(RENDER_CMAP_GREY, 255), 0x000000);
	/* opaque, clamped index, invalid map */
	assert_int_equal(render_cmap_argb(RENDER_CMAP_VIRIDIS, 0) >> 24, 0xff);
	assert_int_equal(render_cmap_argb(RENDER_CMAP_VIRIDIS, 999),
		render_cmap_argb(RENDER_CMAP_VIRIDIS, 255));
	assert_int_equal(render_cmap_argb(RENDER_CMAP_VIRIDIS, -5),
		render_cmap_argb(RENDER_CMAP_VIRIDIS, 0));
	assert_null(render_cmap_lut(RENDER_CMAP_COUNT));
	/* NaN and masked colours appear in no colormap */
	for (int c = 0; c < RENDER_CMAP_COUNT; c++)
		for (int i = 0; i < 256; i++) {
			assert_int_not_equal(render_cmap_argb(c, i), RENDER_NAN_ARGB);
			assert_int_not_equal(render_cmap_argb(c, i),
				RENDER_MASKED_ARGB);
		}
}

static void
test_names(void **state)
{
	(void)state;
	enum render_cmap c = RENDER_CMAP_VIRIDIS;
	enum render_scale s = RENDER_SCALE_LINEAR;
	assert_int_equal(render_cmap_parse("MAGMA", &c), 0);
	assert_int_equal(c, RENDER_CMAP_MAGMA);
	assert_int_equal(render_cmap_parse("gray", &c), 0);
	assert_int_equal(c, RENDER_CMAP_GREY);
	assert_int_equal(render_cmap_parse("viridis", &c), 0);
	assert_int_equal(c, RENDER_CMAP_VIRIDIS);
	assert_int_equal(render_cmap_parse("jet", &c), ERR_ARG);
	assert_non_null(strstr(err_msg(ERR_ARG), "jet"));
	assert_int_equal(render_cmap_parse(NULL, &c), ERR_ARG);
	assert_string_equal(render_cmap_name(RENDER_CMAP_GREY), "grey");
	assert_null(render_cmap_name(RENDER_CMAP_COUNT));

	assert_int_equal(render_scale_parse("log", &s), 0);
	assert_int_equal(s, RENDER_SCALE_LOG);
	assert_int_equal(render_scale_parse("Rank", &s), 0);
	assert_int_equal(s, RENDER_SCALE_RANK);
	assert_int_equal(render_scale_parse("sqrt", &s), ERR_ARG);
	assert_string_equal(render_scale_name(RENDER_SCALE_LINEAR), "linear");
	assert_null(render_scale_name(RENDER_SCALE_COUNT));
}

/* ------------------------------------------------------------------------
 * Image builder and scales
 * ------------------------------------------------------------------------ */

static void
test_image_linear(void **state)
{
	(void)state;
	struct render_heatmap_opts o;
	render_heatmap_opts_init(&o);
	/* max 1: t = v, index = floor(256 t) capped at 255 */
	const float m[4] = { 0.0f, 0.5f, 1.0f, 0.25f };
	check_image(m, 2, 2, &o, (const int[]){ 0, 128, 255, 64 });

	/* known max 2 given explicitly: 1 is half-way */
	o.vmax = 2.0f;
	check_image(m, 2, 2, &o, (const int[]){ 0, 64, 128, 32 });

	/* zero-initialised options are the defaults (vmin = vmax = 0: auto) */
	struct render_heatmap_opts z = { 0 };
	check_image(m, 2, 2, &z, (const int[]){ 0, 128, 255, 64 });

	/* NULL options too, magma as a second table */
	render_heatmap_opts_init(&o);
	o.cmap = RENDER_CMAP_MAGMA;
	check_image(m, 2, 2, &o, (const int[]){ 0, 128, 255, 64 });
}

static void
test_image_log(void **state)
{
	(void)state;
	struct render_heatmap_opts o;
	render_heatmap_opts_init(&o);
	o.scale = RENDER_SCALE_LOG;
	/* 4 decades under the max 1: 1e-2 is t = 0.5, 1e-1 is 0.75, 1e-3
	 * 0.25; at or under 1e-4, zero and negatives are 0. */
	const float m[9] = {
		1.0f,  1e-2f, 1e-4f,
		0.0f,  1e-1f, 1e-3f,
		-1.0f, 1e-6f, 0.5f,
	};
	int want[9] = { 255, 128, 0, 0, 192, 64, 0, 0, 0 };
	/* 1e-2f is a hair under 0.01: the documented formula on the float */
	want[1] = log_index(1e-2f, 1e-4);
	want[8] = log_index(0.5f, 1e-4);
	assert_true(want[1] == 127 || want[1] == 128);
	check_image(m, 3, 3, &o, want);

	struct render_norm n;
	assert_int_equal(render_norm_init(&n, m, 3, 3, &o), 0);
	assert_true(fabs(n.lo - 1e-4) < 1e-12);
	assert_true(fabs(n.hi - 1.0) < 1e-12);
	assert_true(fabs(render_norm_value(&n, 0.5) - 1e-2) < 1e-9);
	render_norm_release(&n);

	/* a positive vmin replaces the floor */
	o.vmin = 1e-2f;
	want[1] = 0;                                /* 1e-2 now at the floor */
	want[4] = log_index(1e-1f, (float)1e-2f);   /* 1e-1 half-way */
	assert_true(want[4] == 127 || want[4] == 128);
	want[5] = 0;
	want[8] = log_index(0.5f, (float)1e-2f);
	check_image(m, 3, 3, &o, want);
}

static void
test_image_rank(void **state)
{
	(void)state;
	struct render_heatmap_opts o;
	render_heatmap_opts_init(&o);
	o.scale = RENDER_SCALE_RANK;
	/* nine distinct values, one an outlier: ranks are spread evenly,
	 * i-th smallest at t = i / 8 -> index 32 i (the largest 255) */
	const float m[9] = { 5, 1, 3, 100, 2, 4, 7, 6, 8 };
	check_image(m, 3, 3, &o,
		(const int[]){ 128, 0, 64, 255, 32, 96, 192, 160, 224 });

	/* ties share a colour; smallest 0, largest 255 */
	const float t[4] = { 0.1f, 0.1f, 0.3f, 0.2f };
	check_image(t, 2, 2, &o, (const int[]){ 0, 0, 255, 128 });

	struct render_norm n;
	assert_int_equal(render_norm_init(&n, t, 2, 2, &o), 0);
	assert_int_equal(n.n_levels, 3);
	assert_true(n.levels[0] == 0.1f && n.levels[2] == 0.3f);
	assert_true(render_norm_value(&n, 0.5) == 0.2f);
	render_norm_release(&n);
	render_norm_release(&n); /* twice is harmless */
}

static void
test_image_suppress_first(void **state)
{
	(void)state;
	struct render_heatmap_opts o;
	render_heatmap_opts_init(&o);
	/* a sink column 0 much larger than the rest */
	const float m[4] = { 10.0f, 0.5f, 10.0f, 1.0f };
	check_image(m, 2, 2, &o, (const int[]){ 255, 12, 255, 25 });

	/* suppressed: the scale comes from column 1, column 0 clamps */
	o.suppress_first = true;
	check_image(m, 2, 2, &o, (const int[]){ 255, 128, 255, 255 });

	/* rank with suppression: column 0 is above every level -> top */
	o.scale = RENDER_SCALE_RANK;
	check_image(m, 2, 2, &o, (const int[]){ 255, 0, 255, 255 });

	/* log with suppression: max 1 from column 1 */
	o.scale = RENDER_SCALE_LOG;
	int i05 = log_index(0.5f, 1e-4);
	check_image(m, 2, 2, &o, (const int[]){ 255, i05, 255, 255 });
}

static void
test_image_nan_and_causal(void **state)
{
	(void)state;
	struct render_heatmap_opts o;
	render_heatmap_opts_init(&o);
	/* NaN and inf are drawn in the NaN colour and do not set the max */
	const float m[9] = {
		1.0f,  NAN,       0.5f,
		0.25f, INFINITY,  -INFINITY,
		0.0f,  0.75f,     1.0f,
	};
	check_image(m, 3, 3, &o,
		(const int[]){ 255, -1, 128, 64, -1, -1, 0, 192, 255 });

	/* every scale copes with an all-NaN map */
	const float nan4[4] = { NAN, NAN, NAN, NAN };
	for (int s = 0; s < RENDER_SCALE_COUNT; s++) {
		o.scale = (enum render_scale)s;
		check_image(nan4, 2, 2, &o, (const int[]){ -1, -1, -1, -1 });
	}

	/* causal: cells above the diagonal are masked and out of the scale
	 * (the 9 above the diagonal would otherwise be the max) */
	const float c[9] = {
		0.5f, 9.0f,  9.0f,
		0.2f, 0.25f, 9.0f,
		0.1f, 0.1f,  0.5f,
	};
	render_heatmap_opts_init(&o);
	o.causal = true;
	check_image(c, 3, 3, &o,
		(const int[]){ 255, -2, -2, 102, 128, -2, 51, 51, 255 });

	/* not causal: the exact zeros of a causal map are ordinary zeros */
	const float z[4] = { 1.0f, 0.0f, 0.5f, 0.5f };
	render_heatmap_opts_init(&o);
	check_image(z, 2, 2, &o, (const int[]){ 255, 0, 128, 128 });
	/* causal with more keys than queries (generation): offset diagonal */
	const float g[6] = { 1, 1, 0, 1, 1, 1 };
	o.causal = true;
	check_image(g, 2, 3, &o, (const int[]){ 255, 255, -2, 255, 255, 255 });
}

static void
test_image_stride_and_format(void **state)
{
	(void)state;
	/* a 3 x 2 map in an ARGB32 surface with a padded stride */
	enum { W = 3, H = 2, STRIDE = 64 };
	unsigned char *buf = malloc(STRIDE * H);
	assert_non_null(buf);
	memset(buf, 0xab, STRIDE * H);
	cairo_surface_t *img = cairo_image_surface_create_for_data(buf,
		CAIRO_FORMAT_ARGB32, W, H, STRIDE);
	const float m[6] = { 0.0f, 0.5f, 1.0f, 1.0f, 0.5f, 0.0f };
	assert_int_equal(render_heatmap_image(img, m, H, W, NULL), 0);
	const int want[6] = { 0, 128, 255, 255, 128, 0 };
	for (int y = 0; y < H; y++)
		for (int x = 0; x < W; x++) {
			uint32_t p = *(uint32_t *)(buf + y * STRIDE + 4 * x);
			assert_int_equal(p, render_cmap_argb(RENDER_CMAP_VIRIDIS,
				want[y * W + x]));
		}
	/* the padding after each row is untouched */
	for (int y = 0; y < H; y++)
		for (int i = 4 * W; i < STRIDE; i++)
			assert_int_equal(buf[y * STRIDE + i], 0xab);
	cairo_surface_destroy(img);
	free(buf);

	/* wrong size, wrong format, bad arguments */
	cairo_surface_t *small = cairo_image_surface_create(CAIRO_FORMAT_RGB24,
		2, 2);
	assert_int_equal(render_heatmap_image(small, m, H, W, NULL), ERR_ARG);
	assert_int_equal(render_heatmap_image(small, NULL, 2, 2, NULL), ERR_ARG);
	assert_int_equal(render_heatmap_image(NULL, m, 2, 2, NULL), ERR_ARG);
	struct render_heatmap_opts o;
	render_heatmap_opts_init(&o);
	o.cmap = RENDER_CMAP_COUNT;
	assert_int_equal(render_heatmap_image(small, m, 2, 2, &o), ERR_ARG);
	cairo_surface_destroy(small);
	cairo_surface_t *a8 = cairo_image_surface_create(CAIRO_FORMAT_A8, 3, 2);
	assert_int_equal(render_heatmap_image(a8, m, H, W, NULL), ERR_ARG);
	cairo_surface_destroy(a8);

	int err = 1;
	cairo_surface_t *made = render_heatmap_image_create(m, H, W, NULL, &err);
	assert_non_null(made);
	assert_int_equal(err, 0);
	assert_int_equal(cairo_image_surface_get_width(made), W);
	assert_int_equal(pixel(made, 2, 0), lut(RENDER_CMAP_VIRIDIS, 255));
	cairo_surface_destroy(made);
	assert_null(render_heatmap_image_create(m, 0, W, NULL, &err));
	assert_int_equal(err, ERR_ARG);
	assert_null(render_heatmap_image_create(m, RENDER_MAX_SIDE + 1, 1,
		NULL, &err));
	assert_int_equal(err, ERR_RANGE);
}

/* ------------------------------------------------------------------------
 * Token labels
 * ------------------------------------------------------------------------ */

static void
label_is(const char *piece, size_t len, const char *want)
{
	char out[RENDER_LABEL_BUF];
	int n = render_token_label(piece, len, out, sizeof out);
	assert_int_equal(n, (int)strlen(want));
	assert_string_equal(out, want);
}

#define LABEL(s, want) label_is(s, sizeof(s) - 1, want)

static void
test_token_label(void **state)
{
	(void)state;
	LABEL(" ", "\xe2\x90\xa3");                          /* ␣ */
	LABEL("\n", "\xe2\x86\xb5");                         /* ↵ */
	LABEL("\t", "\xe2\x87\xa5");                         /* ⇥ */
	LABEL("\xff", "<0xFF>");
	LABEL("\r", "<0x0D>");
	LABEL("\x7f", "<0x7F>");
	LABEL("a\0b", "a<0x00>b");
	LABEL("\xe2\x96\x81the", "\xe2\x90\xa3the");          /* ▁the */
	LABEL("\xc4\xa0the", "\xe2\x90\xa3the");              /* Ġthe */
	LABEL("\xc4\xa0\xc4\xa0x", "\xe2\x90\xa3\xe2\x90\xa3x");
	LABEL("a\xc4\xa0", "a\xc4\xa0");        /* only a leading Ġ is a space */
	LABEL("\xe4\xbd\xa0\xe5\xa5\xbd", "\xe4\xbd\xa0\xe5\xa5\xbd"); /* 你好 */
	LABEL("\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7", /* Arabic kept */
		"\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7");
	LABEL("\xe4\xbd", "<0xE4><0xBD>");      /* truncated sequence */
	LABEL("\xc0\xaf", "<0xC0><0xAF>");      /* overlong '/' */
	LABEL("\xed\xa0\x80", "<0xED><0xA0><0x80>"); /* surrogate */
	LABEL("\xe2\x80\x8b", "<U+200B>");      /* zero-width space */
	LABEL("\xc2\x85", "<U+0085>");          /* C1 control */
	LABEL("", "");
	label_is(NULL, 0, "");

	/* ellipsized at RENDER_LABEL_MAX_CHARS characters */
	char longp[64];
	memset(longp, 'a', 40);
	char want[64];
	memset(want, 'a', RENDER_LABEL_MAX_CHARS - 1);
	memcpy(want + RENDER_LABEL_MAX_CHARS - 1, "\xe2\x80\xa6", 4);
	label_is(longp, 40, want);
	/* exactly the limit is not cut */
	memset(want, 'a', RENDER_LABEL_MAX_CHARS);
	want[RENDER_LABEL_MAX_CHARS] = '\0';
	label_is(longp, RENDER_LABEL_MAX_CHARS, want);

	/* a small buffer cuts at a character boundary */
	char out[8];
	assert_int_equal(render_token_label("abcdef", 6, out, 5), 4);
	assert_string_equal(out, "a\xe2\x80\xa6");
	assert_int_equal(render_token_label("\xe4\xbd\xa0\xe5\xa5\xbd", 6,
		out, 7), 6);                    /* 你好 fits 7 bytes exactly */
	assert_string_equal(out, "\xe4\xbd\xa0\xe5\xa5\xbd");
	assert_int_equal(render_token_label(
		"\xe4\xbd\xa0\xe5\xa5\xbd\xe5\x90\x97", 9, out, 7), 6);
	assert_string_equal(out, "\xe4\xbd\xa0\xe2\x80\xa6"); /* 你… */
	assert_int_equal(render_token_label("abc", 3, out, 1), 0);
	assert_string_equal(out, "");
	assert_int_equal(render_token_label("abc", 3, NULL, 8), ERR_ARG);
	assert_int_equal(render_token_label("abc", 3, out, 0), ERR_ARG);

	/* the worst case fits RENDER_LABEL_BUF whole */
	char bad[64];
	memset(bad, 0xff, sizeof bad);
	char big[RENDER_LABEL_BUF];
	int n = render_token_label(bad, sizeof bad, big, sizeof big);
	assert_true(n > 0 && (size_t)n < sizeof big);
	assert_non_null(strstr(big, "\xe2\x80\xa6"));
}

/* ------------------------------------------------------------------------
 * Figure layout and export
 * ------------------------------------------------------------------------ */

static void
test_sizes_and_layout(void **state)
{
	(void)state;
	int w, h;
	assert_int_equal(render_heatmap_size(3, 3, &w, &h), 0);
	assert_true(w >= 480 && h >= 480);
	assert_int_equal(render_heatmap_size(20, 20, &w, &h), 0);
	assert_true((w - 260) / 20 >= 12);
	assert_int_equal(render_heatmap_size(4096, 4096, &w, &h), 0);
	assert_true(w <= 4096 && h <= 4096);
	assert_int_equal(render_heatmap_size(0, 3, &w, &h), ERR_ARG);
	assert_int_equal(render_heatmap_size(40000, 3, &w, &h), ERR_RANGE);

	cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24,
		1, 1);
	cairo_t *cr = cairo_create(s);
	struct render_heatmap_opts o;
	render_heatmap_opts_init(&o);
	struct render_heatmap_layout l;

	/* short sequence: every token labelled */
	float *m = causal_map(20);
	o.q_labels = o.k_labels = story;
	render_heatmap_size(20, 20, &w, &h);
	assert_int_equal(render_heatmap_layout(cr, w, h, m, 20, 20, &o, &l), 0);
	assert_int_equal(l.q_stride, 1);
	assert_true(l.cell >= 12);
	assert_true(l.x > 0 && l.x + 20 * l.cell < w);
	assert_true(l.y >= 0 && l.y + 20 * l.cell < h);
	assert_true(l.bar_x > l.x + 20 * l.cell && l.bar_x + l.bar_w < w);

	int q = -1, k = -1;
	assert_true(render_heatmap_hit(&l, l.x + 3.5 * l.cell, l.y + 7.2 * l.cell,
		&q, &k));
	assert_int_equal(q, 7);
	assert_int_equal(k, 3);
	assert_false(render_heatmap_hit(&l, l.x - 1, l.y + 1, &q, &k));
	assert_false(render_heatmap_hit(&l, l.x + 20 * l.cell + 0.5, l.y + 1,
		&q, &k));
	free(m);

	/* long sequence: labels thin out so they stay a line apart */
	m = causal_map(300);
	o.q_labels = o.k_labels = NULL;
	render_heatmap_size(300, 300, &w, &h);
	assert_int_equal(render_heatmap_layout(cr, w, h, m, 300, 300, &o, &l), 0);
	assert_true(l.q_stride > 1 && l.q_stride <= 5);
	assert_true(l.q_stride * l.cell >= 11);
	free(m);

	const float m9[9] = { 1, 0, 0, 0.5f, 0.5f, 0, 0.2f, 0.3f, 0.5f };
	assert_int_equal(render_heatmap_layout(cr, 0, 100, m9, 3, 3, &o, &l),
		ERR_ARG);
	assert_int_equal(render_heatmap_layout(cr, 100, 100, m9, 3, 3, &o,
		NULL), ERR_ARG);
	cairo_destroy(cr);
	cairo_surface_destroy(s);
}

static void
test_png_figure(void **state)
{
	(void)state;
	enum { N = 20 };
	float *m = causal_map(N);
	m[5 * N + 2] = NAN; /* one NaN cell must not break anything */
	struct render_heatmap_opts o;
	render_heatmap_opts_init(&o);
	o.title = "stories260K \xc2\xb7 sample 3 \xc2\xb7 layer 2 \xc2\xb7 head 5";
	o.q_labels = o.k_labels = story;
	o.causal = true;

	int fw, fh;
	assert_int_equal(render_heatmap_fit(m, N, N, &o, &fw, &fh), 0);
	unsigned char *png = NULL;
	size_t len = 0;
	assert_int_equal(render_heatmap_png_to_mem(&png, &len, 0, 0, m, N, N,
		&o), 0);
	assert_non_null(png);
	assert_true(len > 33);
	static const unsigned char sig[8] = { 0x89, 'P', 'N', 'G', '\r', '\n',
		0x1a, '\n' };
	assert_memory_equal(png, sig, 8);
	assert_memory_equal(png + 12, "IHDR", 4);
	int pw = big_endian32(png + 16), ph = big_endian32(png + 20);
	assert_int_equal(pw, fw);
	assert_int_equal(ph, fh);
	assert_true(pw >= 480 && ph >= 400);
	assert_int_equal(png[25], 2); /* colour type 2: RGB, opaque */

	/* read it back through a temporary file */
	char path[] = "/tmp/test_render_XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, png, len), (ssize_t)len);
	close(fd);
	cairo_surface_t *img = cairo_image_surface_create_from_png(path);
	unlink(path);
	assert_int_equal(cairo_surface_status(img), CAIRO_STATUS_SUCCESS);
	assert_int_equal(cairo_image_surface_get_width(img), pw);
	assert_int_equal(cairo_image_surface_get_height(img), ph);

	/* not blank: many distinct colours */
	enum { CAP = 4096 };
	uint32_t *seen = calloc(CAP, sizeof *seen);
	int distinct = 0;
	for (int y = 0; y < ph && distinct < CAP; y++)
		for (int x = 0; x < pw && distinct < CAP; x++) {
			uint32_t p = pixel(img, x, y);
			int i;
			for (i = 0; i < distinct && seen[i] != p; i++)
				;
			if (i == distinct)
				seen[distinct++] = p;
		}
	free(seen);
	assert_true(distinct > 10);

	/* cells where the layout says: diagonal in its LUT colour, above the
	 * diagonal masked, the NaN cell magenta, corners white background */
	cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1);
	cairo_t *cr = cairo_create(s);
	struct render_heatmap_layout l;
	assert_int_equal(render_heatmap_layout(cr, pw, ph, m, N, N, &o, &l), 0);
	cairo_destroy(cr);
	cairo_surface_destroy(s);
	struct render_norm norm;
	assert_int_equal(render_norm_init(&norm, m, N, N, &o), 0);
	for (int q = 0; q < N; q++) {
		int x = (int)(l.x + (q + 0.5) * l.cell);
		int y = (int)(l.y + (q + 0.5) * l.cell);
		uint32_t p = pixel(img, x, y);
		assert_int_not_equal(p, 0xffffff);
		assert_int_equal(p, lut(RENDER_CMAP_VIRIDIS,
			render_norm_index(&norm, m[q * N + q])));
		if (q + 1 < N)
			assert_int_equal(pixel(img, x + (int)l.cell, y),
				RENDER_MASKED_ARGB & 0xffffff);
	}
	render_norm_release(&norm);
	assert_int_equal(pixel(img, (int)(l.x + 2.5 * l.cell),
		(int)(l.y + 5.5 * l.cell)), RENDER_NAN_ARGB & 0xffffff);
	assert_int_equal(pixel(img, 0, 0), 0xffffff);
	assert_int_equal(pixel(img, pw - 1, ph - 1), 0xffffff);
	/* the colour bar shows the top of the map near its top */
	assert_true(near_rgb(pixel(img, (int)(l.bar_x + l.bar_w / 2),
		(int)(l.bar_y + 1)), lut(RENDER_CMAP_VIRIDIS, 255), 8));
	assert_true(near_rgb(pixel(img, (int)(l.bar_x + l.bar_w / 2),
		(int)(l.bar_y + l.bar_h - 2)), lut(RENDER_CMAP_VIRIDIS, 0), 8));
	cairo_surface_destroy(img);
	free(png);

	/* an explicit size is honoured */
	assert_int_equal(render_heatmap_png_to_mem(&png, &len, 640, 560, m, N,
		N, &o), 0);
	assert_int_equal(big_endian32(png + 16), 640);
	assert_int_equal(big_endian32(png + 20), 560);
	free(png);
	free(m);
}

static void
test_export_files_and_errors(void **state)
{
	(void)state;
	float *m = causal_map(12);
	struct render_heatmap_opts o;
	render_heatmap_opts_init(&o);
	o.scale = RENDER_SCALE_LOG;
	o.suppress_first = true;

	/* unwritable path: ERR_IO naming the path */
	const char *bad = "/nonexistent-dir/attn.png";
	assert_int_equal(render_heatmap_png(bad, 0, 0, m, 12, 12, &o), ERR_IO);
	assert_non_null(strstr(err_msg(ERR_IO), bad));

	char dir[] = "/tmp/test_render_dir_XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[256];
	char head[8] = { 0 };
	FILE *f;

	snprintf(path, sizeof path, "%s/a.png", dir);
	assert_int_equal(render_heatmap_png(path, 0, 0, m, 12, 12, &o), 0);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fread(head, 1, 4, f), 4);
	fclose(f);
	assert_memory_equal(head, "\x89PNG", 4);
	unlink(path);

	snprintf(path, sizeof path, "%s/a.svg", dir);
	assert_int_equal(render_heatmap_svg(path, 0, 0, m, 12, 12, &o), 0);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fread(head, 1, 5, f), 5);
	fclose(f);
	assert_memory_equal(head, "<?xml", 5);
	unlink(path);

	snprintf(path, sizeof path, "%s/a.pdf", dir);
	o.scale = RENDER_SCALE_RANK;
	assert_int_equal(render_heatmap_pdf(path, 500, 400, m, 12, 12, &o), 0);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fread(head, 1, 5, f), 5);
	fclose(f);
	assert_memory_equal(head, "%PDF-", 5);
	unlink(path);
	rmdir(dir);

	/* argument errors are returned, never fatal */
	unsigned char *png = (unsigned char *)"x";
	size_t len = 7;
	assert_int_equal(render_heatmap_png_to_mem(&png, &len, 0, 0, NULL, 3, 3,
		&o), ERR_ARG);
	assert_null(png);
	assert_int_equal(len, 0);
	assert_int_equal(render_heatmap_png_to_mem(&png, &len, 0, 0, m, 0, 3,
		&o), ERR_ARG);
	o.scale = (enum render_scale)42;
	assert_int_equal(render_heatmap_png_to_mem(&png, &len, 0, 0, m, 3, 3,
		&o), ERR_ARG);
	assert_int_equal(render_heatmap(NULL, 100, 100, m, 3, 3, NULL), ERR_ARG);
	free(m);
}

struct reader {
	const unsigned char *p;
	size_t left;
};

static cairo_status_t
read_mem(void *closure, unsigned char *data, unsigned int length)
{
	struct reader *r = closure;
	if (length > r->left)
		return CAIRO_STATUS_READ_ERROR;
	memcpy(data, r->p, length);
	r->p += length;
	r->left -= length;
	return CAIRO_STATUS_SUCCESS;
}

/* Labels in any script stay outside the heatmap: every pixel of every cell
 * is exactly the cell's colour (right-to-left labels used to be aligned
 * inside the ellipsizing width and landed on the cells). */
static void
test_labels_outside_heatmap(void **state)
{
	(void)state;
	enum { N = 4 };
	static const char *const labels[N] = {
		"\xd9\x85\xd8\xb1\xd8\xad\xd8\xa8\xd8\xa7",   /* Arabic */
		"\xd7\xa9\xd7\x9c\xd7\x95\xd7\x9d",           /* Hebrew */
		"\xe4\xbd\xa0\xe5\xa5\xbd",                   /* CJK */
		"a much longer label than the others by far",
	};
	const float m[N * N] = {
		1.0f, 0.0f, 0.0f, 0.0f,  0.5f, 0.5f, 0.0f, 0.0f,
		0.2f, 0.3f, 0.5f, 0.0f,  0.1f, 0.2f, 0.3f, 0.4f,
	};
	struct render_heatmap_opts o;
	render_heatmap_opts_init(&o);
	o.q_labels = o.k_labels = labels;
	unsigned char *png;
	size_t len;
	assert_int_equal(render_heatmap_png_to_mem(&png, &len, 0, 0, m, N, N,
		&o), 0);
	struct reader r = { png, len };
	cairo_surface_t *img = cairo_image_surface_create_from_png_stream(
		read_mem, &r);
	assert_int_equal(cairo_surface_status(img), CAIRO_STATUS_SUCCESS);
	int pw = cairo_image_surface_get_width(img);
	int ph = cairo_image_surface_get_height(img);

	cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1);
	cairo_t *cr = cairo_create(s);
	struct render_heatmap_layout l;
	assert_int_equal(render_heatmap_layout(cr, pw, ph, m, N, N, &o, &l), 0);
	cairo_destroy(cr);
	cairo_surface_destroy(s);
	assert_int_equal(l.q_stride, 1);
	assert_true(l.cell == floor(l.cell) && l.x == floor(l.x));

	struct render_norm norm;
	assert_int_equal(render_norm_init(&norm, m, N, N, &o), 0);
	int bad = 0;
	for (int y = (int)l.y; y < (int)(l.y + N * l.cell); y++)
		for (int x = (int)l.x; x < (int)(l.x + N * l.cell); x++) {
			int q = (int)((y - l.y) / l.cell), k = (int)((x - l.x) / l.cell);
			uint32_t want = lut(RENDER_CMAP_VIRIDIS,
				render_norm_index(&norm, m[q * N + k]));
			if (pixel(img, x, y) != want && bad++ == 0)
				print_error("pixel (%d, %d) in cell (%d, %d): "
					"%06x, want %06x\n", x, y, q, k,
					pixel(img, x, y), want);
		}
	render_norm_release(&norm);
	assert_int_equal(bad, 0);
	cairo_surface_destroy(img);
	free(png);
}

/* A one-cell map and a wide non-square map draw without trouble. */
static void
test_odd_shapes(void **state)
{
	(void)state;
	const float one = 0.7f;
	unsigned char *png;
	size_t len;
	assert_int_equal(render_heatmap_png_to_mem(&png, &len, 0, 0, &one, 1, 1,
		NULL), 0);
	assert_true(big_endian32(png + 16) >= 300);
	free(png);

	enum { Q = 3, K = 40 };
	float *m = calloc(Q * K, sizeof *m);
	for (int i = 0; i < Q * K; i++)
		m[i] = (float)(i % 7);
	assert_int_equal(render_heatmap_png_to_mem(&png, &len, 0, 0, m, Q, K,
		NULL), 0);
	assert_true(big_endian32(png + 16) > big_endian32(png + 20));
	free(png);
	/* a tiny target: still no crash, still a valid PNG */
	assert_int_equal(render_heatmap_png_to_mem(&png, &len, 40, 30, m, Q, K,
		NULL), 0);
	assert_int_equal(big_endian32(png + 16), 40);
	free(png);
	free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cmap_endpoints),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_image_linear),
		cmocka_unit_test(test_image_log),
		cmocka_unit_test(test_image_rank),
		cmocka_unit_test(test_image_suppress_first),
		cmocka_unit_test(test_image_nan_and_causal),
		cmocka_unit_test(test_image_stride_and_format),
		cmocka_unit_test(test_token_label),
		cmocka_unit_test(test_sizes_and_layout),
		cmocka_unit_test(test_png_figure),
		cmocka_unit_test(test_export_files_and_errors),
		cmocka_unit_test(test_labels_outside_heatmap),
		cmocka_unit_test(test_odd_shapes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

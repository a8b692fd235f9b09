/*
 * render.c — colour scales, the one-pixel-per-cell heatmap image, token label
 * escaping, the heatmap figure (pango text, colour bar, level-of-detail
 * labels) and PNG/SVG/PDF export. See render.h for the contracts.
 */
#include "render/render.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cairo-pdf.h>
#include <cairo-svg.h>
#include <pango/pangocairo.h>

/* Comma list: pango tries DejaVu first, fontconfig falls back per script. */
#define FONT_FAMILY "DejaVu Sans,Noto Sans,Sans"

/* Colours as 0xRRGGBBAA (STYLE.md §4.9). */
#define COL_TEXT    0x222222ffu
#define COL_DIM     0x8a8a8affu /* the index in "12 ␣upon" labels */
#define COL_TICK    0x555555ffu
#define COL_FRAME   0x333333ffu
#define COL_TITLE   0x111111ffu

/* Largest figure the exporters make (cairo's limit is 32767). */
#define MAX_FIGURE 16384

/* ========================================================================
 * Options
 * ======================================================================== */

void
render_heatmap_opts_init(struct render_heatmap_opts *opts)
{
	if (!opts)
		return;
	memset(opts, 0, sizeof *opts);
	opts->scale = RENDER_SCALE_LINEAR;
	opts->cmap = RENDER_CMAP_VIRIDIS;
	opts->vmin = NAN;
	opts->vmax = NAN;
	opts->font_size = RENDER_DEFAULT_FONT_SIZE;
}

/* `opts`, or the defaults in *tmp when it is NULL. */
static const struct render_heatmap_opts *
opts_or_default(const struct render_heatmap_opts *opts,
	struct render_heatmap_opts *tmp)
{
	if (opts)
		return opts;
	render_heatmap_opts_init(tmp);
	return tmp;
}

static int
check_shape(const float *map, int n_q, int n_k)
{
	if (!map)
		return err_set(ERR_ARG, "render: no map given");
	if (n_q < 1 || n_k < 1)
		return err_set(ERR_ARG, "render: bad map shape %d x %d",
			n_q, n_k);
	if (n_q > RENDER_MAX_SIDE || n_k > RENDER_MAX_SIDE)
		return err_set(ERR_RANGE,
			"render: map %d x %d exceeds %d cells per side",
			n_q, n_k, RENDER_MAX_SIDE);
	return 0;
}

static int
check_opts(const struct render_heatmap_opts *o)
{
	if ((unsigned)o->scale >= RENDER_SCALE_COUNT)
		return err_set(ERR_ARG, "render: invalid colour scale %d",
			(int)o->scale);
	if ((unsigned)o->cmap >= RENDER_CMAP_COUNT)
		return err_set(ERR_ARG, "render: invalid colormap %d",
			(int)o->cmap);
	return 0;
}

/* Above the causal diagonal (see render_heatmap_opts.causal). */
static inline bool
cell_masked(int q, int k, int n_q, int n_k)
{
	return k > q + (n_k - n_q);
}

/* ========================================================================
 * Colour scale
 * ======================================================================== */

static int
cmp_float(const void *a, const void *b)
{
	float x = *(const float *)a, y = *(const float *)b;
	return (x > y) - (x < y);
}

int
render_norm_init(struct render_norm *norm, const float *map, int n_q,
	int n_k, const struct render_heatmap_opts *opts)
{
	struct render_heatmap_opts tmp;
	if (!norm)
		return err_set(ERR_ARG, "render: no norm given");
	memset(norm, 0, sizeof *norm);
	const struct render_heatmap_opts *o = opts_or_default(opts, &tmp);
	int rc = check_shape(map, n_q, n_k);
	if (rc == 0)
		rc = check_opts(o);
	if (rc < 0)
		return rc;

	/* Pass 1: range and count of the cells that take part. */
	double dmin = INFINITY, dmax = -INFINITY;
	size_t count = 0;
	for (int q = 0; q < n_q; q++) {
		const float *row = map + (size_t)q * n_k; /* (n_k) */
		for (int k = 0; k < n_k; k++) {
			float v = row[k];
			if (!isfinite(v) || (o->suppress_first && k == 0) ||
			    (o->causal && cell_masked(q, k, n_q, n_k)))
				continue;
			if (v < dmin)
				dmin = v;
			if (v > dmax)
				dmax = v;
			count++;
		}
	}
	norm->scale = o->scale;
	norm->n_scaled = count;

	/* The user's range; a zero-initialised struct (0, 0) means auto. */
	double umin = o->vmin, umax = o->vmax;
	if (isfinite(umin) && isfinite(umax) && umax <= umin)
		umin = umax = NAN;

	switch (o->scale) {
	case RENDER_SCALE_LINEAR: {
		double lo = isfinite(umin) ? umin : (count ? fmin(0.0, dmin) : 0.0);
		double hi = isfinite(umax) ? umax : (count ? dmax : 1.0);
		if (!(hi > lo)) {
			if (isfinite(umax) && !isfinite(umin))
				lo = hi - 1.0;
			else
				hi = lo + 1.0;
		}
		norm->lo = lo;
		norm->hi = hi;
		break;
	}
	case RENDER_SCALE_LOG: {
		double hi = isfinite(umax) && umax > 0 ? umax
			: (count && dmax > 0 ? dmax : 1.0);
		double lo = isfinite(umin) && umin > 0 ? umin
			: hi * pow(10.0, -RENDER_LOG_DECADES);
		if (!(lo < hi))
			lo = hi * pow(10.0, -RENDER_LOG_DECADES);
		norm->lo = lo;
		norm->hi = hi;
		break;
	}
	case RENDER_SCALE_RANK: {
		norm->lo = 0.0;
		norm->hi = 1.0;
		if (count == 0)
			break;
		size_t bytes;
		if (ckd_mul_size(&bytes, count, sizeof(float)))
			return err_set(ERR_NOMEM, "render: rank scale too large");
		float *lv = malloc(bytes); /* (count) */
		if (!lv)
			return err_set(ERR_NOMEM,
				"render: out of memory for the rank scale "
				"(%zu values)", count);
		size_t n = 0;
		for (int q = 0; q < n_q; q++) {
			const float *row = map + (size_t)q * n_k;
			for (int k = 0; k < n_k; k++) {
				float v = row[k];
				if (!isfinite(v) || (o->suppress_first && k == 0) ||
				    (o->causal && cell_masked(q, k, n_q, n_k)))
					continue;
				lv[n++] = v;
			}
		}
		qsort(lv, n, sizeof *lv, cmp_float);
		size_t u = 0; /* keep distinct values; -0 and +0 are one */
		for (size_t i = 0; i < n; i++)
			if (u == 0 || lv[i] != lv[u - 1])
				lv[u++] = lv[i];
		float *shrunk = realloc(lv, u * sizeof *lv);
		norm->levels = shrunk ? shrunk : lv;
		norm->n_levels = u;
		norm->lo = norm->levels[0];
		norm->hi = norm->levels[u - 1];
		break;
	}
	case RENDER_SCALE_COUNT:
		break;
	}
	return 0;
}

void
render_norm_release(struct render_norm *norm)
{
	if (!norm)
		return;
	free(norm->levels);
	memset(norm, 0, sizeof *norm);
}

/*
 * Per-cell evaluation with the logarithms hoisted: t = a * x + b where x is
 * v (linear) or log10 v (log). Rank goes through a binary search.
 */
struct scaler {
	const struct render_norm *norm;
	double a, b;
	double log_lo;
};

static void
scaler_init(struct scaler *s, const struct render_norm *norm)
{
	s->norm = norm;
	s->a = 1.0;
	s->b = 0.0;
	s->log_lo = 0.0;
	if (norm->scale == RENDER_SCALE_LINEAR) {
		s->a = 1.0 / (norm->hi - norm->lo);
		s->b = -norm->lo * s->a;
	} else if (norm->scale == RENDER_SCALE_LOG) {
		s->log_lo = log10(norm->lo);
		s->a = 1.0 / (log10(norm->hi) - s->log_lo);
		s->b = -s->log_lo * s->a;
	}
}

static double
rank_position(const struct render_norm *norm, float v)
{
	size_t n = norm->n_levels;
	const float *lv = norm->levels;
	if (n == 0)
		return 0.0;
	if (n == 1)
		return v > lv[0] ? 1.0 : 0.0;
	size_t lo = 0, hi = n; /* first level >= v */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (lv[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < n && lv[lo] == v)
		return (double)lo / (double)(n - 1);
	if (lo == 0)
		return 0.0;
	if (lo == n)
		return 1.0;
	return ((double)lo - 0.5) / (double)(n - 1);
}

/* t in [0, 1] for a finite v. */
static inline double
scaler_t(const struct scaler *s, float v)
{
	double t;
	switch (s->norm->scale) {
	case RENDER_SCALE_LOG:
		t = v <= s->norm->lo ? 0.0 : s->a * log10(v) + s->b;
		break;
	case RENDER_SCALE_RANK:
		t = rank_position(s->norm, v);
		break;
	default:
		t = s->a * v + s->b;
		break;
	}
	if (!(t > 0.0))
		return 0.0;
	return t < 1.0 ? t : 1.0;
}

/* matplotlib's rule: floor(t * N), with t == 1 going to the last entry. */
static inline int
lut_index(double t)
{
	int i = (int)(t * 256.0);
	return i > 255 ? 255 : i;
}

double
render_norm_apply(const struct render_norm *norm, float v)
{
	if (!norm || !isfinite(v))
		return NAN;
	struct scaler s;
	scaler_init(&s, norm);
	return scaler_t(&s, v);
}

int
render_norm_index(const struct render_norm *norm, float v)
{
	double t = render_norm_apply(norm, v);
	return isnan(t) ? -1 : lut_index(t);
}

double
render_norm_value(const struct render_norm *norm, double t)
{
	if (!norm)
		return NAN;
	t = t > 0.0 ? (t < 1.0 ? t : 1.0) : 0.0;
	switch (norm->scale) {
	case RENDER_SCALE_LOG: {
		double a = log10(norm->lo), b = log10(norm->hi);
		return pow(10.0, a + t * (b - a));
	}
	case RENDER_SCALE_RANK:
		if (norm->n_levels == 0)
			return t;
		return norm->levels[(size_t)lround(t * (double)(norm->n_levels - 1))];
	default:
		return norm->lo + t * (norm->hi - norm->lo);
	}
}

/* ========================================================================
 * Heatmap image
 * ======================================================================== */

static int
check_image(cairo_surface_t *img, int n_q, int n_k)
{
	if (!img)
		return err_set(ERR_ARG, "render: no image surface given");
	if (cairo_surface_status(img) != CAIRO_STATUS_SUCCESS)
		return err_set(ERR_ARG, "render: image surface in error: %s",
			cairo_status_to_string(cairo_surface_status(img)));
	if (cairo_surface_get_type(img) != CAIRO_SURFACE_TYPE_IMAGE)
		return err_set(ERR_ARG, "render: not an image surface");
	cairo_format_t fmt = cairo_image_surface_get_format(img);
	if (fmt != CAIRO_FORMAT_ARGB32 && fmt != CAIRO_FORMAT_RGB24)
		return err_set(ERR_ARG,
			"render: image surface must be ARGB32 or RGB24");
	int w = cairo_image_surface_get_width(img);
	int h = cairo_image_surface_get_height(img);
	if (w != n_k || h != n_q)
		return err_set(ERR_ARG,
			"render: image is %d x %d pixels, map is %d x %d cells",
			w, h, n_k, n_q);
	return 0;
}

int
render_heatmap_image_norm(cairo_surface_t *img, const float *map,
	int n_q, int n_k, const struct render_norm *norm, enum render_cmap cmap,
	bool causal)
{
	int rc = check_shape(map, n_q, n_k);
	if (rc < 0)
		return rc;
	if (!norm || (unsigned)norm->scale >= RENDER_SCALE_COUNT)
		return err_set(ERR_ARG, "render: no colour scale given");
	if ((unsigned)cmap >= RENDER_CMAP_COUNT)
		return err_set(ERR_ARG, "render: invalid colormap %d", (int)cmap);
	rc = check_image(img, n_q, n_k);
	if (rc < 0)
		return rc;

	uint32_t pal[256]; /* the LUT as opaque cairo pixels */
	for (int i = 0; i < 256; i++)
		pal[i] = render_cmap_argb(cmap, i);
	struct scaler s;
	scaler_init(&s, norm);

	cairo_surface_flush(img);
	unsigned char *data = cairo_image_surface_get_data(img);
	size_t stride = (size_t)cairo_image_surface_get_stride(img);
	for (int q = 0; q < n_q; q++) {
		const float *src = map + (size_t)q * n_k;        /* (n_k) */
		uint32_t *dst = (uint32_t *)(data + (size_t)q * stride);
		for (int k = 0; k < n_k; k++) {
			float v = src[k];
			if (causal && cell_masked(q, k, n_q, n_k))
				dst[k] = RENDER_MASKED_ARGB;
			else if (!isfinite(v))
				dst[k] = RENDER_NAN_ARGB;
			else
				dst[k] = pal[lut_index(scaler_t(&s, v))];
		}
	}
	cairo_surface_mark_dirty(img);
	return 0;
}

int
render_heatmap_image(cairo_surface_t *img, const float *map, int n_q,
	int n_k, const struct render_heatmap_opts *opts)
{
	struct render_heatmap_opts tmp;
	const struct render_heatmap_opts *o = opts_or_default(opts, &tmp);
	int rc = check_image(img, n_q, n_k);
	if (rc < 0)
		return rc;
	struct render_norm norm;
	rc = render_norm_init(&norm, map, n_q, n_k, o);
	if (rc == 0)
		rc = render_heatmap_image_norm(img, map, n_q, n_k, &norm,
			o->cmap, o->causal);
	render_norm_release(&norm);
	return rc;
}

cairo_surface_t *
render_heatmap_image_create(const float *map, int n_q, int n_k,
	const struct render_heatmap_opts *opts, int *err)
{
	int rc = check_shape(map, n_q, n_k);
	cairo_surface_t *img = NULL;
	if (rc < 0)
		goto out;
	img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, n_k, n_q);
	if (cairo_surface_status(img) != CAIRO_STATUS_SUCCESS) {
		rc = err_set(ERR_NOMEM, "render: cannot create a %d x %d image",
			n_k, n_q);
		goto out;
	}
	rc = render_heatmap_image(img, map, n_q, n_k, opts);
out:
	if (rc < 0 && img) {
		cairo_surface_destroy(img);
		img = NULL;
	}
	if (err)
		*err = rc;
	return img;
}

/* ========================================================================
 * Token labels
 * ======================================================================== */

/* One displayed unit of a label: its bytes and how many characters. */
struct unit {
	char b[12];
	int nb;
	int chars;
};

static void
unit_str(struct unit *u, const char *s, int chars)
{
	u->nb = (int)strlen(s);
	memcpy(u->b, s, (size_t)u->nb);
	u->chars = chars;
}

static void
unit_byte_escape(struct unit *u, unsigned char c)
{
	u->nb = snprintf(u->b, sizeof u->b, "<0x%02X>", c);
	u->chars = u->nb;
}

/* Decode one strict UTF-8 sequence at p[0..n); 0 when invalid. */
static int
utf8_decode(const unsigned char *p, size_t n, uint32_t *cp)
{
	unsigned char c = p[0];
	int len;
	uint32_t v, min;
	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if (c >= 0xc2 && c <= 0xdf) {
		len = 2, v = c & 0x1f, min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3, v = c & 0x0f, min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4, v = c & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	if ((size_t)len > n)
		return 0;
	for (int i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (p[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return len;
}

static bool
invisible(uint32_t cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || cp == 0xad ||
	       (cp >= 0x200b && cp <= 0x200f) || cp == 0x2028 ||
	       cp == 0x2029 || cp == 0x2060 || cp == 0xfeff;
}

/* The unit starting at p[i]; returns the index after it. */
static size_t
next_unit(const unsigned char *p, size_t len, size_t i, bool *leading,
	struct unit *u)
{
	unsigned char c = p[i];
	if (c < 0x80) {
		*leading = false;
		if (c == ' ')
			unit_str(u, "\xe2\x90\xa3", 1);           /* ␣ */
		else if (c == '\n')
			unit_str(u, "\xe2\x86\xb5", 1);           /* ↵ */
		else if (c == '\t')
			unit_str(u, "\xe2\x87\xa5", 1);           /* ⇥ */
		else if (c < 0x20 || c == 0x7f)
			unit_byte_escape(u, c);
		else {
			u->b[0] = (char)c;
			u->nb = 1;
			u->chars = 1;
		}
		return i + 1;
	}
	uint32_t cp;
	int n = utf8_decode(p + i, len - i, &cp);
	if (n == 0) {
		*leading = false;
		unit_byte_escape(u, c);
		return i + 1;
	}
	if (cp == 0x2581 || (cp == 0x120 && *leading)) {
		unit_str(u, "\xe2\x90\xa3", 1);                   /* ␣ */
		return i + (size_t)n;
	}
	*leading = false;
	if (invisible(cp)) {
		u->nb = snprintf(u->b, sizeof u->b, "<U+%04X>", (unsigned)cp);
		u->chars = u->nb;
	} else {
		memcpy(u->b, p + i, (size_t)n);
		u->nb = n;
		u->chars = 1;
	}
	return i + (size_t)n;
}

int
render_token_label(const char *piece, size_t len, char *out, size_t size)
{
	static const char ellipsis[] = "\xe2\x80\xa6"; /* … */
	const size_t ell = sizeof ellipsis - 1;
	if (!out || size == 0)
		return err_set(ERR_ARG, "render: no label buffer given");
	if (!piece)
		len = 0;
	const unsigned char *p = (const unsigned char *)piece;
	size_t n = 0, i = 0;
	int chars = 0;
	bool leading = true;
	while (i < len) {
		struct unit u;
		size_t next = next_unit(p, len, i, &leading, &u);
		bool last = next >= len;
		/* A unit followed by more must leave room for the "…". */
		int max_chars = RENDER_LABEL_MAX_CHARS - (last ? 0 : 1);
		size_t need = n + (size_t)u.nb + (last ? 0 : ell) + 1;
		if (chars + u.chars > max_chars || need > size) {
			if (n + ell + 1 <= size) {
				memcpy(out + n, ellipsis, ell);
				n += ell;
			}
			break;
		}
		memcpy(out + n, u.b, (size_t)u.nb);
		n += (size_t)u.nb;
		chars += u.chars;
		i = next;
	}
	out[n] = '\0';
	return (int)n;
}

/* ========================================================================
 * Text (pango)
 * ======================================================================== */

struct text {
	PangoLayout *layout;            /* one cached layout for all text */
	PangoFontDescription *font;     /* labels, ticks, captions */
	PangoFontDescription *bold;     /* title */
	double size;                    /* label font size, device units */
	double line_h;                  /* height of one label line */
};

static void
set_source_u32(cairo_t *cr, uint32_t rgba)
{
	cairo_set_source_rgba(cr, (rgba >> 24 & 0xff) / 255.0,
		(rgba >> 16 & 0xff) / 255.0, (rgba >> 8 & 0xff) / 255.0,
		(rgba & 0xff) / 255.0);
}

/* Lay out `s` in `font`; the first `dim` bytes in COL_DIM; ellipsized at
 * `max_w` when > 0. */
static void
text_set(struct text *t, const char *s, const PangoFontDescription *font,
	size_t dim, double max_w)
{
	PangoLayout *l = t->layout;
	pango_layout_set_font_description(l, font);
	pango_layout_set_text(l, s, -1);
	if (dim > 0) {
		PangoAttrList *attrs = pango_attr_list_new();
		PangoAttribute *a = pango_attr_foreground_new(
			(COL_DIM >> 24 & 0xff) * 257, (COL_DIM >> 16 & 0xff) * 257,
			(COL_DIM >> 8 & 0xff) * 257);
		a->start_index = 0;
		a->end_index = (guint)dim;
		pango_attr_list_insert(attrs, a);
		pango_layout_set_attributes(l, attrs);
		pango_attr_list_unref(attrs);
	} else {
		pango_layout_set_attributes(l, NULL);
	}
	if (max_w > 0) {
		pango_layout_set_width(l, (int)(max_w * PANGO_SCALE));
		pango_layout_set_ellipsize(l, PANGO_ELLIPSIZE_END);
	} else {
		pango_layout_set_width(l, -1);
		pango_layout_set_ellipsize(l, PANGO_ELLIPSIZE_NONE);
	}
}

/* Logical size of the current layout. */
static void
text_size(const struct text *t, double *w, double *h)
{
	PangoRectangle log;
	pango_layout_get_extents(t->layout, NULL, &log);
	*w = (double)log.width / PANGO_SCALE;
	*h = (double)log.height / PANGO_SCALE;
}

/* Where the logical rectangle starts inside the layout box (non-zero when
 * a line is aligned inside a set width). */
static void
text_offset(const struct text *t, double *x, double *y)
{
	PangoRectangle log;
	pango_layout_get_extents(t->layout, NULL, &log);
	*x = (double)log.x / PANGO_SCALE;
	*y = (double)log.y / PANGO_SCALE;
}

static void
text_release(struct text *t)
{
	if (t->layout)
		g_object_unref(t->layout);
	if (t->font)
		pango_font_description_free(t->font);
	if (t->bold)
		pango_font_description_free(t->bold);
	memset(t, 0, sizeof *t);
}

static int
text_init(struct text *t, cairo_t *cr, double size)
{
	memset(t, 0, sizeof *t);
	t->layout = pango_cairo_create_layout(cr);
	if (!t->layout)
		return err_set(ERR_NOMEM, "render: cannot create a text layout");
	/* Pinned font options: layout must not depend on the target. */
	PangoContext *ctx = pango_layout_get_context(t->layout);
	cairo_font_options_t *fo = cairo_font_options_create();
	cairo_font_options_set_hint_style(fo, CAIRO_HINT_STYLE_NONE);
	cairo_font_options_set_hint_metrics(fo, CAIRO_HINT_METRICS_OFF);
	cairo_font_options_set_antialias(fo, CAIRO_ANTIALIAS_GRAY);
	pango_cairo_context_set_font_options(ctx, fo);
	cairo_font_options_destroy(fo);
	pango_context_set_round_glyph_positions(ctx, FALSE);
	pango_layout_context_changed(t->layout);
	pango_layout_set_single_paragraph_mode(t->layout, TRUE);
	/* Labels are placed by their logical box: keep the base direction
	 * LTR so an Arabic or Hebrew label is not right-aligned inside the
	 * ellipsizing width. Bidi still orders and shapes the text itself. */
	pango_layout_set_auto_dir(t->layout, FALSE);

	t->font = pango_font_description_from_string(FONT_FAMILY);
	t->bold = pango_font_description_from_string(FONT_FAMILY);
	if (!t->font || !t->bold) {
		text_release(t);
		return err_set(ERR_NOMEM, "render: cannot create a font");
	}
	pango_font_description_set_absolute_size(t->font, size * PANGO_SCALE);
	pango_font_description_set_weight(t->bold, PANGO_WEIGHT_BOLD);
	pango_font_description_set_absolute_size(t->bold,
		1.25 * size * PANGO_SCALE);
	t->size = size;
	double w;
	text_set(t, "Ag", t->font, 0, 0);
	text_size(t, &w, &t->line_h);
	return 0;
}

/* Draw the current layout with the top-left corner of its logical
 * rectangle at (x, y). */
static void
text_show(cairo_t *cr, struct text *t, double x, double y, uint32_t rgba)
{
	double ox, oy;
	text_offset(t, &ox, &oy);
	set_source_u32(cr, rgba);
	cairo_move_to(cr, x - ox, y - oy);
	pango_cairo_show_layout(cr, t->layout);
}

/* ========================================================================
 * Figure: ticks, layout, drawing
 * ======================================================================== */

#define MAX_TICKS 12

struct ticks {
	int n;
	double t[MAX_TICKS];      /* positions on the bar, 0 = bottom */
	char label[MAX_TICKS][40];
};

struct fig {
	cairo_t *cr;
	const struct render_heatmap_opts *o;
	struct render_heatmap_opts defaults;
	int n_q, n_k;
	struct text t;
	struct render_norm norm;
	char *title;              /* valid UTF-8 or NULL; g_free */
	char *caption;            /* colour bar caption; g_free */
	struct ticks ticks;

	/* metrics */
	double pad, gap, tick_len, lab_gap, bar_w;
	double title_w, title_h;
	double q_w, k_w;          /* widest query / key label (capped) */
	double tick_w;            /* widest tick value */

	/* layout */
	double W, H;
	double cell;
	int stride;
	double hx, hy;            /* heatmap top-left */
	double bar_x, bar_y, bar_h;
};

/* Superscript form of an integer exponent, e.g. -4 -> "⁻⁴". */
static void
superscript(int e, char *out, size_t size)
{
	static const char *const digit[10] = {
		"\xe2\x81\xb0", "\xc2\xb9", "\xc2\xb2", "\xc2\xb3",
		"\xe2\x81\xb4", "\xe2\x81\xb5", "\xe2\x81\xb6", "\xe2\x81\xb7",
		"\xe2\x81\xb8", "\xe2\x81\xb9",
	};
	char digits[16];
	size_t n = 0;
	out[0] = '\0';
	if (e < 0) {
		n += (size_t)snprintf(out + n, size - n, "\xe2\x81\xbb"); /* ⁻ */
		e = -e;
	}
	snprintf(digits, sizeof digits, "%d", e);
	for (const char *d = digits; *d && n < size; d++)
		n += (size_t)snprintf(out + n, size - n, "%s", digit[*d - '0']);
}

/* Format a tick value with `dec` decimals, never "-0". */
static void
fmt_value(double v, int dec, char *out, size_t size)
{
	double a = fabs(v);
	if (a != 0 && (a >= 1e5 || a < 1e-4))
		snprintf(out, size, "%.2g", v);
	else if (dec < 0)
		snprintf(out, size, "%.2g", v);
	else
		snprintf(out, size, "%.*f", dec, v == 0 ? 0.0 : v);
	if (strcmp(out, "-0") == 0 || strncmp(out, "-0.", 3) == 0) {
		bool zero = true;
		for (const char *c = out + 1; *c; c++)
			if (*c != '0' && *c != '.')
				zero = false;
		if (zero)
			memmove(out, out + 1, strlen(out));
	}
}

/* Ticks of the colour bar, at most `max` of them. */
static void
make_ticks(const struct render_norm *norm, int max, struct ticks *tk)
{
	tk->n = 0;
	if (max < 2)
		max = 2;
	if (max > MAX_TICKS)
		max = MAX_TICKS;
	double lo = norm->lo, hi = norm->hi;

	if (norm->scale == RENDER_SCALE_LINEAR) {
		/* matplotlib's MaxNLocator idea: the smallest step of 1, 2,
		 * 2.5, 5 x 10^n that gives at most `limit` ticks */
		static const double mult[5] = { 1, 2, 2.5, 5, 10 };
		int limit = max < 7 ? max : 7;
		double mag = pow(10.0, floor(log10((hi - lo) / limit)));
		double step = 10 * mag;
		for (int i = 0; i < 5; i++) {
			double s = mult[i] * mag;
			if (floor(hi / s + 1e-9) - ceil(lo / s - 1e-9) + 1 <= limit) {
				step = s;
				break;
			}
		}
		int dec = 0; /* decimals that show the step exactly */
		while (dec < 12 && fabs(step * pow(10.0, dec) -
		       round(step * pow(10.0, dec))) > 1e-6)
			dec++;
		double first = ceil(lo / step - 1e-9) * step;
		for (double v = first; v <= hi + step * 1e-6 && tk->n < MAX_TICKS;
		     v += step) {
			double t = (v - lo) / (hi - lo);
			tk->t[tk->n] = t < 0 ? 0 : t > 1 ? 1 : t;
			fmt_value(fabs(v) < step * 1e-6 ? 0.0 : v, dec,
				tk->label[tk->n], sizeof tk->label[0]);
			tk->n++;
		}
	} else if (norm->scale == RENDER_SCALE_LOG) {
		int e0 = (int)ceil(log10(lo) - 1e-9), e1 = (int)floor(log10(hi) + 1e-9);
		int every = 1;
		while ((e1 - e0) / every + 1 > max)
			every++;
		double span = log10(hi) - log10(lo);
		for (int e = e1; e >= e0 && e1 >= e0; e -= every) {
			if (tk->n >= MAX_TICKS)
				break;
			char sup[32];
			superscript(e, sup, sizeof sup);
			tk->t[tk->n] = (e - log10(lo)) / span;
			snprintf(tk->label[tk->n], sizeof tk->label[0], "10%s", sup);
			tk->n++;
		}
		if (tk->n < 2) { /* less than two decades: label the ends */
			tk->n = 0;
			for (int i = 0; i < 2; i++) {
				tk->t[i] = i;
				fmt_value(i ? hi : lo, -1, tk->label[i],
					sizeof tk->label[0]);
			}
			tk->n = 2;
		}
	} else {
		/* rank: quantiles labelled with the value found there */
		int n = max >= 5 ? 5 : 3;
		for (int i = 0; i < n; i++) {
			double t = (double)i / (n - 1);
			tk->t[i] = t;
			fmt_value(render_norm_value(norm, t), -1, tk->label[i],
				sizeof tk->label[0]);
		}
		tk->n = n;
	}
}

/* Label text of position i: "piece", or "i piece" (dim index) when
 * `with_index`, or "i" without a piece. */
static void
label_text(const char *const *labels, int i, bool with_index, char *buf,
	size_t size, size_t *dim)
{
	const char *piece = labels ? labels[i] : NULL;
	*dim = 0;
	if (!piece) {
		snprintf(buf, size, "%d", i);
		return;
	}
	size_t n = 0;
	if (with_index) {
		n = (size_t)snprintf(buf, size, "%d ", i);
		*dim = n - 1;
	}
	render_token_label(piece, strlen(piece), buf + n, size - n);
}

/* Widest label among positions 0, s, 2s, ... (stops at `cap`). */
static double
measure_labels(struct fig *f, const char *const *labels, int n, int s,
	double cap)
{
	double mx = 0;
	for (int i = 0; i < n; i += s) {
		char buf[RENDER_LABEL_BUF + 16];
		size_t dim;
		double w, h;
		label_text(labels, i, s > 1, buf, sizeof buf, &dim);
		text_set(&f->t, buf, f->t.font, dim, 0);
		text_size(&f->t, &w, &h);
		if (w > mx)
			mx = w;
		if (mx >= cap)
			return cap;
	}
	return mx;
}

/* Smallest stride from 1, 2, 5, 10, 20, 50, ... that keeps labels one
 * line apart on cells of side `cell`. */
static int
stride_for(double cell, double line_h)
{
	static const int base[3] = { 1, 2, 5 };
	if (cell <= 0)
		return RENDER_MAX_SIDE;
	for (long mag = 1; mag <= RENDER_MAX_SIDE; mag *= 10)
		for (int i = 0; i < 3; i++)
			if (base[i] * mag * cell >= line_h * 0.999)
				return (int)(base[i] * mag);
	return RENDER_MAX_SIDE;
}

/* Cells of 3 px and more are whole pixels, so every cell is the same size. */
static double
round_cell(double cell)
{
	return cell >= 3 ? floor(cell + 1e-6) : cell;
}

/* Preferred cell side for a map whose longer side is n (see
 * render_heatmap_size()). */
static double
preferred_cell(int n)
{
	double cell = 22;
	if (n * cell < 360)
		cell = 360.0 / n;
	if (n * cell > 1600)
		cell = fmax(14.0, 1600.0 / n);
	if (n * cell > 3400)
		cell = 3400.0 / n;
	return round_cell(cell);
}

static void
fig_margins(const struct fig *f, double *L, double *R, double *T, double *B)
{
	double lh = f->t.line_h;
	*L = f->pad + lh + f->gap + f->q_w + f->lab_gap + f->tick_len;
	*R = 1.5 * f->gap + f->bar_w + f->tick_len + f->lab_gap + f->tick_w +
	     f->gap + lh + f->pad;
	*T = f->pad + (f->title ? f->title_h + f->gap : lh / 2);
	*B = f->tick_len + f->lab_gap + f->k_w + f->gap + lh + f->pad;
}

/* Measure both label sets for stride s. */
static void
fig_measure(struct fig *f, int s)
{
	double cap_q = fmax(4 * f->t.size, 0.28 * (f->W > 0 ? f->W : 4096));
	double cap_k = fmax(4 * f->t.size, 0.28 * (f->H > 0 ? f->H : 4096));
	cap_q = fmin(cap_q, 16 * f->t.size);
	cap_k = fmin(cap_k, 16 * f->t.size);
	f->q_w = measure_labels(f, f->o->q_labels, f->n_q, s, cap_q);
	f->k_w = measure_labels(f, f->o->k_labels, f->n_k, s, cap_k);
}

/* Place everything in a W x H figure. */
static void
fig_layout(struct fig *f, double W, double H)
{
	double L, R, T, B;
	f->W = W;
	f->H = H;
	/* The cell with empty label margins bounds the stride from below;
	 * the stride only grows, so the loop settles. */
	f->q_w = f->k_w = 0;
	fig_margins(f, &L, &R, &T, &B);
	double cell = round_cell(fmin((W - L - R) / f->n_k, (H - T - B) / f->n_q));
	int s = stride_for(cell, f->t.line_h);
	for (int iter = 0; iter < 8; iter++) {
		fig_measure(f, s);
		fig_margins(f, &L, &R, &T, &B);
		cell = round_cell(fmin((W - L - R) / f->n_k, (H - T - B) / f->n_q));
		if (cell < 0.05)
			cell = 0.05;
		int need = stride_for(cell, f->t.line_h);
		if (need <= s)
			break;
		s = need;
	}
	f->cell = cell;
	f->stride = s;
	double gw = f->n_k * cell, gh = f->n_q * cell;
	double x0 = fmax(0.0, floor((W - (L + gw + R)) / 2));
	double y0 = fmax(0.0, floor((H - (T + gh + B)) / 2));
	f->hx = round(x0 + L);
	f->hy = round(y0 + T);
	f->bar_x = round(f->hx + gw + 1.5 * f->gap);
	f->bar_y = f->hy;
	f->bar_h = gh;
	int max_ticks = (int)(f->bar_h / (2.2 * f->t.line_h));
	make_ticks(&f->norm, max_ticks, &f->ticks);
}

/* Size of a tight figure at the preferred cell size. */
static void
fig_fit(struct fig *f, int *W, int *H)
{
	double L, R, T, B;
	double cell = preferred_cell(f->n_q > f->n_k ? f->n_q : f->n_k);
	f->W = f->H = 0;
	fig_measure(f, stride_for(cell, f->t.line_h));
	fig_margins(f, &L, &R, &T, &B);
	double w = ceil(L + f->n_k * cell + R);
	double h = ceil(T + f->n_q * cell + B);
	w = fmax(w, ceil(f->title_w + 2 * f->pad));
	*W = (int)fmin(w, MAX_FIGURE);
	*H = (int)fmin(h, MAX_FIGURE);
}

static void
fig_release(struct fig *f)
{
	text_release(&f->t);
	render_norm_release(&f->norm);
	g_free(f->title);
	g_free(f->caption);
	f->title = f->caption = NULL;
}

/* Validate, resolve the scale, set up text and measure what does not
 * depend on the layout. */
static int
fig_prepare(struct fig *f, cairo_t *cr, const float *map, int n_q, int n_k,
	const struct render_heatmap_opts *opts)
{
	memset(f, 0, sizeof *f);
	f->o = opts_or_default(opts, &f->defaults);
	f->n_q = n_q;
	f->n_k = n_k;
	f->cr = cr;
	if (!cr)
		return err_set(ERR_ARG, "render: no cairo context given");
	if (cairo_status(cr) != CAIRO_STATUS_SUCCESS)
		return err_set(ERR_ARG, "render: cairo context in error: %s",
			cairo_status_to_string(cairo_status(cr)));
	int rc = check_shape(map, n_q, n_k);
	if (rc == 0)
		rc = check_opts(f->o);
	if (rc == 0)
		rc = render_norm_init(&f->norm, map, n_q, n_k, f->o);
	if (rc < 0)
		return rc;

	double fs = f->o->font_size > 0 ? f->o->font_size
		: RENDER_DEFAULT_FONT_SIZE;
	rc = text_init(&f->t, cr, fs);
	if (rc < 0)
		return rc;
	f->pad = round(0.8 * fs);
	f->gap = round(0.6 * fs);
	f->tick_len = fmax(3.0, round(0.35 * fs));
	f->lab_gap = fmax(2.0, round(0.25 * fs));
	f->bar_w = round(1.3 * fs);

	if (f->o->title && f->o->title[0]) {
		f->title = g_utf8_make_valid(f->o->title, -1);
		text_set(&f->t, f->title, f->t.bold, 0, 0);
		text_size(&f->t, &f->title_w, &f->title_h);
	}
	char *vl = g_utf8_make_valid(f->o->value_label ? f->o->value_label
		: "attention weight", -1);
	const char *scale = f->o->scale == RENDER_SCALE_LOG ? "log scale"
		: f->o->scale == RENDER_SCALE_RANK ? "rank scale" : NULL;
	const char *sup = f->o->suppress_first ? "first key excluded" : NULL;
	if (scale || sup)
		f->caption = g_strdup_printf("%s (%s%s%s)", vl,
			scale ? scale : "", scale && sup ? ", " : "",
			sup ? sup : "");
	else
		f->caption = g_strdup(vl);
	g_free(vl);

	/* Widest tick value: the most ticks the bar could show. */
	struct ticks tk;
	make_ticks(&f->norm, 6, &tk);
	for (int i = 0; i < tk.n; i++) {
		double w, h;
		text_set(&f->t, tk.label[i], f->t.font, 0, 0);
		text_size(&f->t, &w, &h);
		f->tick_w = fmax(f->tick_w, w);
	}
	return 0;
}

/* Vector targets get the cells as rectangles up to this many cells. */
#define MAX_VECTOR_CELLS (256 * 256)

/*
 * The cells as filled rectangles, one per run of equal colour in a row:
 * crisp in every SVG/PDF viewer (SVG has no nearest-neighbour hint in
 * cairo 1.16). Each rectangle extends one cell into the cells drawn after
 * it (right and below), which cover it again: a viewer that antialiases
 * each shape then blends an edge with the neighbouring cell's colour, never
 * with the background, so no seams show at any zoom.
 */
static void
draw_cells_vector(struct fig *f, cairo_surface_t *img)
{
	cairo_t *cr = f->cr;
	cairo_surface_flush(img);
	const unsigned char *data = cairo_image_surface_get_data(img);
	size_t stride = (size_t)cairo_image_surface_get_stride(img);
	double c = f->cell, ov = c;
	for (int q = 0; q < f->n_q; q++) {
		const uint32_t *px = (const uint32_t *)(data + (size_t)q * stride);
		double oy = q + 1 < f->n_q ? ov : 0;
		for (int k0 = 0; k0 < f->n_k;) {
			int k1 = k0 + 1;
			while (k1 < f->n_k && px[k1] == px[k0])
				k1++;
			double ox = k1 < f->n_k ? ov : 0;
			set_source_u32(cr, px[k0] << 8 | 0xff);
			cairo_rectangle(cr, f->hx + k0 * c, f->hy + q * c,
				(k1 - k0) * c + ox, c + oy);
			cairo_fill(cr);
			k0 = k1;
		}
	}
}

/* `img` scaled up by an integer factor with nearest neighbour, so a vector
 * viewer that smooths embedded images only softens cell edges. */
static cairo_surface_t *
upscale(cairo_surface_t *img, int n_q, int n_k)
{
	int side = n_q > n_k ? n_q : n_k;
	int fac = 4096 / side;
	fac = fac < 1 ? 1 : fac > 8 ? 8 : fac;
	if (fac == 1)
		return cairo_surface_reference(img);
	cairo_surface_t *up = cairo_image_surface_create(CAIRO_FORMAT_RGB24,
		n_k * fac, n_q * fac);
	cairo_t *cr = cairo_create(up);
	cairo_scale(cr, fac, fac);
	cairo_set_source_surface(cr, img, 0, 0);
	cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
	cairo_paint(cr);
	cairo_destroy(cr);
	return up;
}

static void
draw_heatmap(struct fig *f, cairo_surface_t *img)
{
	cairo_t *cr = f->cr;
	double gw = f->n_k * f->cell, gh = f->n_q * f->cell;
	double dx = f->cell, dy = 0;
	cairo_user_to_device_distance(cr, &dx, &dy);
	double device_cell = hypot(dx, dy);
	bool vector = cairo_surface_get_type(cairo_get_target(cr)) !=
		CAIRO_SURFACE_TYPE_IMAGE;

	cairo_save(cr);
	if (vector && (size_t)f->n_q * f->n_k <= MAX_VECTOR_CELLS) {
		draw_cells_vector(f, img);
	} else {
		cairo_surface_t *src = vector ? upscale(img, f->n_q, f->n_k)
			: cairo_surface_reference(img);
		double s = (double)cairo_image_surface_get_width(src) / f->n_k;
		cairo_translate(cr, f->hx, f->hy);
		cairo_scale(cr, f->cell / s, f->cell / s);
		cairo_set_source_surface(cr, src, 0, 0);
		cairo_pattern_t *pat = cairo_get_source(cr);
		/* Crisp cells; below a pixel per cell, box-filter so no row
		 * or column (a sink column, say) vanishes. */
		cairo_pattern_set_filter(pat, device_cell >= 1.0 || vector
			? CAIRO_FILTER_NEAREST : CAIRO_FILTER_GOOD);
		cairo_pattern_set_extend(pat, CAIRO_EXTEND_PAD);
		cairo_rectangle(cr, 0, 0, f->n_k * s, f->n_q * s);
		cairo_fill(cr);
		cairo_surface_destroy(src);
	}
	cairo_restore(cr);

	cairo_save(cr);
	cairo_set_line_width(cr, 1.0);
	set_source_u32(cr, COL_FRAME);
	cairo_rectangle(cr, f->hx - 0.5, f->hy - 0.5, gw + 1, gh + 1);
	cairo_stroke(cr);
	cairo_restore(cr);
}

static void
draw_labels(struct fig *f)
{
	cairo_t *cr = f->cr;
	struct text *t = &f->t;
	int s = f->stride;
	double gw = f->n_k * f->cell, gh = f->n_q * f->cell;
	char buf[RENDER_LABEL_BUF + 16];
	size_t dim;
	double w, h;

	cairo_save(cr);
	cairo_set_line_width(cr, 1.0);
	set_source_u32(cr, COL_TICK);
	for (int q = 0; q < f->n_q; q += s) {
		double y = round(f->hy + (q + 0.5) * f->cell) + 0.5;
		cairo_move_to(cr, f->hx - 1 - f->tick_len, y);
		cairo_line_to(cr, f->hx - 1, y);
	}
	for (int k = 0; k < f->n_k; k += s) {
		double x = round(f->hx + (k + 0.5) * f->cell) + 0.5;
		cairo_move_to(cr, x, f->hy + gh + 1);
		cairo_line_to(cr, x, f->hy + gh + 1 + f->tick_len);
	}
	cairo_stroke(cr);

	/* query labels, right-aligned left of the rows */
	double right = f->hx - 1 - f->tick_len - f->lab_gap;
	for (int q = 0; q < f->n_q; q += s) {
		label_text(f->o->q_labels, q, s > 1, buf, sizeof buf, &dim);
		text_set(t, buf, t->font, dim, f->q_w + 0.5);
		text_size(t, &w, &h);
		text_show(cr, t, right - w, f->hy + (q + 0.5) * f->cell - h / 2,
			COL_TEXT);
	}

	/* key labels, rotated to read upwards, ending at the axis */
	double top = f->hy + gh + 1 + f->tick_len + f->lab_gap;
	cairo_save(cr);
	cairo_translate(cr, 0, top);
	cairo_rotate(cr, -G_PI / 2);
	pango_cairo_update_layout(cr, t->layout);
	for (int k = 0; k < f->n_k; k += s) {
		label_text(f->o->k_labels, k, s > 1, buf, sizeof buf, &dim);
		text_set(t, buf, t->font, dim, f->k_w + 0.5);
		text_size(t, &w, &h);
		/* rotated frame: u runs up, v runs right (v = screen x) */
		text_show(cr, t, -w, f->hx + (k + 0.5) * f->cell - h / 2,
			COL_TEXT);
	}
	cairo_restore(cr);
	pango_cairo_update_layout(cr, t->layout);

	/* axis captions */
	text_set(t, "key", t->font, 0, 0);
	text_size(t, &w, &h);
	text_show(cr, t, f->hx + gw / 2 - w / 2, top + f->k_w + f->gap,
		COL_TEXT);

	text_set(t, "query", t->font, 0, 0);
	text_size(t, &w, &h);
	double cap_x = right - f->q_w - f->gap - h;
	cairo_save(cr);
	cairo_translate(cr, cap_x, f->hy + gh / 2);
	cairo_rotate(cr, -G_PI / 2);
	pango_cairo_update_layout(cr, t->layout);
	text_show(cr, t, -w / 2, 0, COL_TEXT);
	cairo_restore(cr);
	pango_cairo_update_layout(cr, t->layout);
	cairo_restore(cr);
}

static void
draw_title(struct fig *f)
{
	if (!f->title)
		return;
	struct text *t = &f->t;
	double w, h;
	double max_w = f->W - 2 * f->pad;
	text_set(t, f->title, t->bold, 0, max_w > 1 ? max_w : 1);
	text_size(t, &w, &h);
	/* centred over the heatmap, kept inside the figure */
	double x = f->hx + f->n_k * f->cell / 2 - w / 2;
	x = fmin(x, f->W - f->pad - w);
	x = fmax(x, f->pad);
	text_show(f->cr, t, x, f->hy - f->gap - h, COL_TITLE);
}

static int
draw_colorbar(struct fig *f)
{
	cairo_t *cr = f->cr;
	struct text *t = &f->t;
	const uint8_t *lut = render_cmap_lut(f->o->cmap);
	cairo_surface_t *bar = cairo_image_surface_create(CAIRO_FORMAT_RGB24,
		1, 256);
	if (cairo_surface_status(bar) != CAIRO_STATUS_SUCCESS) {
		cairo_surface_destroy(bar);
		return err_set(ERR_NOMEM, "render: cannot create the colour bar");
	}
	cairo_surface_flush(bar);
	unsigned char *data = cairo_image_surface_get_data(bar);
	int stride = cairo_image_surface_get_stride(bar);
	for (int j = 0; j < 256; j++) { /* top row = highest value */
		const uint8_t *c = lut + 3 * (255 - j);
		*(uint32_t *)(data + (size_t)j * stride) = 0xff000000u |
			(uint32_t)c[0] << 16 | (uint32_t)c[1] << 8 | c[2];
	}
	cairo_surface_mark_dirty(bar);

	double bx = f->bar_x, by = f->bar_y, bw = f->bar_w, bh = f->bar_h;
	cairo_save(cr);
	cairo_translate(cr, bx, by);
	cairo_scale(cr, bw, bh / 256.0);
	cairo_set_source_surface(cr, bar, 0, 0);
	cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_GOOD);
	cairo_pattern_set_extend(cairo_get_source(cr), CAIRO_EXTEND_PAD);
	cairo_rectangle(cr, 0, 0, 1, 256);
	cairo_fill(cr);
	cairo_restore(cr);
	cairo_surface_destroy(bar);

	cairo_save(cr);
	cairo_set_line_width(cr, 1.0);
	set_source_u32(cr, COL_FRAME);
	cairo_rectangle(cr, bx - 0.5, by - 0.5, bw + 1, bh + 1);
	cairo_stroke(cr);

	/* ticks and their values */
	set_source_u32(cr, COL_TICK);
	double tx = bx + bw + 1;
	for (int i = 0; i < f->ticks.n; i++) {
		double y = round(by + bh - f->ticks.t[i] * bh) + 0.5;
		y = fmin(fmax(y, by + 0.5), by + bh - 0.5);
		cairo_move_to(cr, tx, y);
		cairo_line_to(cr, tx + f->tick_len, y);
	}
	cairo_stroke(cr);
	double w, h;
	for (int i = 0; i < f->ticks.n; i++) {
		double y = by + bh - f->ticks.t[i] * bh;
		text_set(t, f->ticks.label[i], t->font, 0, 0);
		text_size(t, &w, &h);
		text_show(cr, t, tx + f->tick_len + f->lab_gap, y - h / 2,
			COL_TEXT);
	}

	/* caption along the bar, reading upwards */
	text_set(t, f->caption, t->font, 0, bh > 1 ? bh : 1);
	text_size(t, &w, &h);
	double cx = tx + f->tick_len + f->lab_gap + f->tick_w + f->gap;
	cairo_translate(cr, cx, by + bh / 2);
	cairo_rotate(cr, -G_PI / 2);
	pango_cairo_update_layout(cr, t->layout);
	text_show(cr, t, -w / 2, 0, COL_TEXT);
	cairo_restore(cr);
	pango_cairo_update_layout(cr, t->layout);
	return 0;
}

static int
cairo_error_code(cairo_status_t st, const char *what)
{
	if (st == CAIRO_STATUS_SUCCESS)
		return 0;
	return err_set(st == CAIRO_STATUS_NO_MEMORY ? ERR_NOMEM : ERR_ARG,
		"render: cairo failed %s: %s", what, cairo_status_to_string(st));
}

static int
fig_draw(struct fig *f, const float *map)
{
	cairo_t *cr = f->cr;
	cairo_surface_t *img = cairo_image_surface_create(CAIRO_FORMAT_RGB24,
		f->n_k, f->n_q);
	int rc = cairo_error_code(cairo_surface_status(img),
		"creating the heatmap image");
	if (rc == 0)
		rc = render_heatmap_image_norm(img, map, f->n_q, f->n_k,
			&f->norm, f->o->cmap, f->o->causal);
	if (rc == 0) {
		cairo_save(cr);
		draw_heatmap(f, img);
		draw_labels(f);
		draw_title(f);
		rc = draw_colorbar(f);
		cairo_restore(cr);
	}
	cairo_surface_destroy(img);
	if (rc == 0)
		rc = cairo_error_code(cairo_status(cr), "drawing the heatmap");
	return rc;
}

/* ========================================================================
 * Public figure API
 * ======================================================================== */

static int
check_size(double width, double height)
{
	if (!(width >= 1 && height >= 1 && width <= 1e6 && height <= 1e6))
		return err_set(ERR_ARG, "render: bad figure size %g x %g",
			width, height);
	return 0;
}

int
render_heatmap(cairo_t *cr, double width, double height, const float *map,
	int n_q, int n_k, const struct render_heatmap_opts *opts)
{
	struct fig f = { 0 };
	int rc = check_size(width, height);
	if (rc == 0)
		rc = fig_prepare(&f, cr, map, n_q, n_k, opts);
	if (rc == 0) {
		fig_layout(&f, width, height);
		rc = fig_draw(&f, map);
	}
	fig_release(&f);
	return rc;
}

int
render_heatmap_layout(cairo_t *cr, double width, double height,
	const float *map, int n_q, int n_k,
	const struct render_heatmap_opts *opts,
	struct render_heatmap_layout *layout)
{
	struct fig f = { 0 };
	if (!layout)
		return err_set(ERR_ARG, "render: no layout given");
	int rc = check_size(width, height);
	if (rc == 0)
		rc = fig_prepare(&f, cr, map, n_q, n_k, opts);
	if (rc == 0) {
		fig_layout(&f, width, height);
		*layout = (struct render_heatmap_layout){
			.x = f.hx, .y = f.hy, .cell = f.cell,
			.n_q = n_q, .n_k = n_k,
			.q_stride = f.stride, .k_stride = f.stride,
			.bar_x = f.bar_x, .bar_y = f.bar_y,
			.bar_w = f.bar_w, .bar_h = f.bar_h,
		};
	}
	fig_release(&f);
	return rc;
}

bool
render_heatmap_hit(const struct render_heatmap_layout *layout, double x,
	double y, int *q, int *k)
{
	if (!layout || !(layout->cell > 0))
		return false;
	double u = (x - layout->x) / layout->cell;
	double v = (y - layout->y) / layout->cell;
	if (!(u >= 0 && v >= 0 && u < layout->n_k && v < layout->n_q))
		return false;
	if (q)
		*q = (int)v;
	if (k)
		*k = (int)u;
	return true;
}

int
render_heatmap_size(int n_q, int n_k, int *width, int *height)
{
	if (!width || !height || n_q < 1 || n_k < 1)
		return err_set(ERR_ARG, "render: bad map shape %d x %d", n_q, n_k);
	if (n_q > RENDER_MAX_SIDE || n_k > RENDER_MAX_SIDE)
		return err_set(ERR_RANGE,
			"render: map %d x %d exceeds %d cells per side",
			n_q, n_k, RENDER_MAX_SIDE);
	double cell = preferred_cell(n_q > n_k ? n_q : n_k);
	/* margins measured on typical labels at the default font size */
	int w = (int)ceil(n_k * cell) + 150 + 110;
	int h = (int)ceil(n_q * cell) + 40 + 130;
	*width = w < 480 ? 480 : w;
	*height = h < 480 ? 480 : h;
	return 0;
}

/* A scratch context for measuring text. */
static cairo_t *
scratch_cr(cairo_surface_t **surf)
{
	*surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1);
	return cairo_create(*surf);
}

int
render_heatmap_fit(const float *map, int n_q, int n_k,
	const struct render_heatmap_opts *opts, int *width, int *height)
{
	if (!width || !height)
		return err_set(ERR_ARG, "render: no size outputs given");
	cairo_surface_t *s;
	cairo_t *cr = scratch_cr(&s);
	struct fig f;
	int rc = fig_prepare(&f, cr, map, n_q, n_k, opts);
	if (rc == 0)
		fig_fit(&f, width, height);
	fig_release(&f);
	cairo_destroy(cr);
	cairo_surface_destroy(s);
	return rc;
}

/* ========================================================================
 * Export
 * ======================================================================== */

enum target { TARGET_PNG, TARGET_SVG, TARGET_PDF };

/*
 * Make a surface of the right kind, draw the figure on opaque white and
 * write it to `path`, or to `write` when path is NULL. The layout is
 * measured once on a scratch context and reused on the real surface.
 */
static int
export_figure(enum target kind, const char *path, cairo_write_func_t write,
	void *closure, int width, int height, const float *map, int n_q,
	int n_k, const struct render_heatmap_opts *opts)
{
	struct fig f;
	cairo_surface_t *scratch = NULL, *surf = NULL;
	cairo_t *cr = scratch_cr(&scratch);
	const char *name = path ? path : "(stream)";
	int rc = fig_prepare(&f, cr, map, n_q, n_k, opts);
	if (rc < 0)
		goto out;
	if (width <= 0 || height <= 0)
		fig_fit(&f, &width, &height);
	if (width > MAX_FIGURE || height > MAX_FIGURE) {
		rc = err_set(ERR_RANGE, "render: figure %d x %d is too large",
			width, height);
		goto out;
	}

	switch (kind) {
	case TARGET_PNG:
		surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, width,
			height);
		break;
	case TARGET_SVG:
		surf = path ? cairo_svg_surface_create(path, width, height)
			: cairo_svg_surface_create_for_stream(write, closure,
				width, height);
		break;
	case TARGET_PDF:
		surf = path ? cairo_pdf_surface_create(path, width, height)
			: cairo_pdf_surface_create_for_stream(write, closure,
				width, height);
		break;
	}
	cairo_status_t st = cairo_surface_status(surf);
	if (st != CAIRO_STATUS_SUCCESS) {
		rc = err_set(st == CAIRO_STATUS_NO_MEMORY ? ERR_NOMEM : ERR_IO,
			"render: cannot create '%s': %s", name,
			cairo_status_to_string(st));
		goto out;
	}
	cairo_t *dcr = cairo_create(surf);
	cairo_set_source_rgb(dcr, 1, 1, 1);
	cairo_paint(dcr);
	f.cr = dcr;
	pango_cairo_update_layout(dcr, f.t.layout);
	fig_layout(&f, width, height);
	rc = fig_draw(&f, map);
	cairo_destroy(dcr);
	f.cr = cr;
	if (rc < 0)
		goto out;

	if (kind == TARGET_PNG) {
		st = path ? cairo_surface_write_to_png(surf, path)
			: cairo_surface_write_to_png_stream(surf, write, closure);
	} else {
		cairo_surface_finish(surf);
		st = cairo_surface_status(surf);
	}
	if (st != CAIRO_STATUS_SUCCESS)
		rc = err_set(st == CAIRO_STATUS_NO_MEMORY ? ERR_NOMEM : ERR_IO,
			"render: cannot write '%s': %s", name,
			cairo_status_to_string(st));
out:
	fig_release(&f);
	if (surf)
		cairo_surface_destroy(surf);
	cairo_destroy(cr);
	cairo_surface_destroy(scratch);
	return rc;
}

int
render_heatmap_png(const char *path, int width, int height,
	const float *map, int n_q, int n_k,
	const struct render_heatmap_opts *opts)
{
	if (!path)
		return err_set(ERR_ARG, "render: no output path given");
	return export_figure(TARGET_PNG, path, NULL, NULL, width, height, map, n_q,
		n_k, opts);
}

int
render_heatmap_png_to_stream(cairo_write_func_t write, void *closure,
	int width, int height, const float *map, int n_q, int n_k,
	const struct render_heatmap_opts *opts)
{
	if (!write)
		return err_set(ERR_ARG, "render: no write callback given");
	return export_figure(TARGET_PNG, NULL, write, closure, width, height, map,
		n_q, n_k, opts);
}

struct membuf {
	unsigned char *data;
	size_t len, cap;
};

static cairo_status_t
membuf_write(void *closure, const unsigned char *data, unsigned int length)
{
	struct membuf *m = closure;
	if (length > m->cap - m->len) {
		size_t cap = m->cap ? m->cap : 1 << 16;
		while (length > cap - m->len) {
			if (cap > SIZE_MAX / 2)
				return CAIRO_STATUS_NO_MEMORY;
			cap *= 2;
		}
		unsigned char *p = realloc(m->data, cap);
		if (!p)
			return CAIRO_STATUS_NO_MEMORY;
		m->data = p;
		m->cap = cap;
	}
	memcpy(m->data + m->len, data, length);
	m->len += length;
	return CAIRO_STATUS_SUCCESS;
}

int
render_heatmap_png_to_mem(unsigned char **data, size_t *len,
	int width, int height, const float *map, int n_q, int n_k,
	const struct render_heatmap_opts *opts)
{
	if (!data || !len)
		return err_set(ERR_ARG, "render: no output buffer given");
	*data = NULL;
	*len = 0;
	struct membuf m = { 0 };
	int rc = export_figure(TARGET_PNG, NULL, membuf_write, &m, width, height,
		map, n_q, n_k, opts);
	if (rc < 0) {
		free(m.data);
		return rc;
	}
	*data = m.data;
	*len = m.len;
	return 0;
}

int
render_heatmap_svg(const char *path, int width, int height,
	const float *map, int n_q, int n_k,
	const struct render_heatmap_opts *opts)
{
	if (!path)
		return err_set(ERR_ARG, "render: no output path given");
	return export_figure(TARGET_SVG, path, NULL, NULL, width, height, map, n_q,
		n_k, opts);
}

int
render_heatmap_pdf(const char *path, int width, int height,
	const float *map, int n_q, int n_k,
	const struct render_heatmap_opts *opts)
{
	if (!path)
		return err_set(ERR_ARG, "render: no output path given");
	return export_figure(TARGET_PDF, path, NULL, NULL, width, height, map, n_q,
		n_k, opts);
}

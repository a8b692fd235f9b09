/*
 * grid.c — the model view (a thumbnail per layer x head of one sample) and
 * the helpers the newer figures share: pango text with pinned font options,
 * head colours and writing a figure as PNG/SVG/PDF. See render.h.
 */
#include "render/render.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cairo-pdf.h>
#include <cairo-svg.h>
#include <pango/pangocairo.h>

/* Same families as render.c, so figures match render_heatmap(). */
#define FONT_FAMILY "DejaVu Sans,Noto Sans,Sans"

#define COL_DIM     0x8a8a8affu
#define COL_LABEL   0x333333ffu
#define COL_TITLE   0x111111ffu
#define COL_MISSING 0xd9dce1ffu
#define COL_NOTE    0x6b6f76ffu

#define MAX_FIGURE 16384
#define MAX_COUNT 4096

/* ========================================================================
 * Colours
 * ======================================================================== */

void
render_set_source_u32(cairo_t *cr, uint32_t rgba)
{
	cairo_set_source_rgba(cr, (rgba >> 24 & 0xff) / 255.0,
		(rgba >> 16 & 0xff) / 255.0, (rgba >> 8 & 0xff) / 255.0,
		(rgba & 0xff) / 255.0);
}

/* HSV (h in turns) to 0xRRGGBBAA. */
static uint32_t
hsv_rgba(double h, double s, double v)
{
	h = (h - floor(h)) * 6.0;
	int i = (int)h;
	double f = h - i, p = v * (1 - s), q = v * (1 - s * f),
	       t = v * (1 - s * (1 - f));
	double r, g, b;
	switch (i % 6) {
	case 0: r = v, g = t, b = p; break;
	case 1: r = q, g = v, b = p; break;
	case 2: r = p, g = v, b = t; break;
	case 3: r = p, g = q, b = v; break;
	case 4: r = t, g = p, b = v; break;
	default: r = v, g = p, b = q; break;
	}
	return (uint32_t)lround(r * 255) << 24 | (uint32_t)lround(g * 255) << 16 |
	       (uint32_t)lround(b * 255) << 8 | 0xffu;
}

uint32_t
render_head_color(int i)
{
	static const uint32_t tab10[10] = {
		0x1f77b4ffu, 0xff7f0effu, 0x2ca02cffu, 0xd62728ffu,
		0x9467bdffu, 0x8c564bffu, 0xe377c2ffu, 0x7f7f7fffu,
		0xbcbd22ffu, 0x17becfffu,
	};
	if (i < 0)
		return 0x3a3f4affu;
	if (i < 10)
		return tab10[i];
	/* golden-angle hues, alternating two saturation/value pairs */
	double h = fmod(0.07 + (i - 10) * 0.381966, 1.0);
	return (i & 1) ? hsv_rgba(h, 0.75, 0.80) : hsv_rgba(h, 0.60, 0.62);
}

/* ========================================================================
 * Text
 * ======================================================================== */

struct render_text {
	PangoContext *ctx;
	PangoLayout *layout;
	PangoFontDescription *font[4]; /* normal, bold, title, small */
	double size;
	double line_h;
};

static int
font_index(int flags)
{
	if (flags & RENDER_TEXT_TITLE)
		return 2;
	if (flags & RENDER_TEXT_BOLD)
		return 1;
	if (flags & RENDER_TEXT_SMALL)
		return 3;
	return 0;
}

void
render_text_free(struct render_text *t)
{
	if (!t)
		return;
	for (int i = 3; i >= 0; i--)
		if (t->font[i])
			pango_font_description_free(t->font[i]);
	if (t->layout)
		g_object_unref(t->layout);
	if (t->ctx)
		g_object_unref(t->ctx);
	free(t);
}

struct render_text *
render_text_create(double font_size, int *err)
{
	int rc = ERR_NOMEM;
	struct render_text *t = calloc(1, sizeof *t);
	if (!t)
		goto fail;
	if (!(font_size > 0))
		font_size = RENDER_DEFAULT_FONT_SIZE;
	t->size = font_size;
	PangoFontMap *fm = pango_cairo_font_map_get_default();
	t->ctx = fm ? pango_font_map_create_context(fm) : NULL;
	if (!t->ctx)
		goto fail;
	/* Pinned font options, as render.c: layout never depends on the
	 * target surface (screen, PNG, PDF). */
	cairo_font_options_t *fo = cairo_font_options_create();
	cairo_font_options_set_hint_style(fo, CAIRO_HINT_STYLE_NONE);
	cairo_font_options_set_hint_metrics(fo, CAIRO_HINT_METRICS_OFF);
	cairo_font_options_set_antialias(fo, CAIRO_ANTIALIAS_GRAY);
	pango_cairo_context_set_font_options(t->ctx, fo);
	cairo_font_options_destroy(fo);
	pango_context_set_round_glyph_positions(t->ctx, FALSE);
	t->layout = pango_layout_new(t->ctx);
	if (!t->layout)
		goto fail;
	pango_layout_set_single_paragraph_mode(t->layout, TRUE);
	pango_layout_set_auto_dir(t->layout, FALSE);
	static const double scale[4] = { 1.0, 1.0, 1.25, 0.85 };
	for (int i = 0; i < 4; i++) {
		t->font[i] = pango_font_description_from_string(FONT_FAMILY);
		if (!t->font[i])
			goto fail;
		pango_font_description_set_absolute_size(t->font[i],
			scale[i] * font_size * PANGO_SCALE);
		if (i == 1 || i == 2)
			pango_font_description_set_weight(t->font[i],
				PANGO_WEIGHT_BOLD);
	}
	double w;
	render_text_measure(t, "Ag", 0, &w, &t->line_h);
	if (err)
		*err = 0;
	return t;
fail:
	render_text_free(t);
	rc = err_set(rc, "render: cannot set up text drawing");
	if (err)
		*err = rc;
	return NULL;
}

double
render_text_font_size(const struct render_text *t)
{
	return t ? t->size : RENDER_DEFAULT_FONT_SIZE;
}

double
render_text_line_height(const struct render_text *t)
{
	return t ? t->line_h : 1.3 * RENDER_DEFAULT_FONT_SIZE;
}

/* Put `s` in the layout (made valid UTF-8), dim prefix, ellipsis. */
static void
text_prepare(struct render_text *t, const char *s, int flags, size_t dim,
	double max_w)
{
	PangoLayout *l = t->layout;
	if (!s)
		s = "";
	size_t n = strlen(s);
	if (g_utf8_validate(s, (gssize)n, NULL)) {
		pango_layout_set_text(l, s, (int)n);
	} else {
		char *v = g_utf8_make_valid(s, (gssize)n);
		pango_layout_set_text(l, v, -1);
		g_free(v);
		dim = 0;
	}
	pango_layout_set_font_description(l, t->font[font_index(flags)]);
	if (dim > 0 && dim <= n) {
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

void
render_text_measure(struct render_text *t, const char *s, int flags,
	double *w, double *h)
{
	PangoRectangle log;
	text_prepare(t, s, flags, 0, 0);
	pango_layout_get_extents(t->layout, NULL, &log);
	if (w)
		*w = s ? (double)log.width / PANGO_SCALE : 0;
	if (h)
		*h = (double)log.height / PANGO_SCALE;
}

double
render_text_draw(struct render_text *t, cairo_t *cr, double x, double y,
	const char *s, int flags, uint32_t rgba, size_t dim, double max_w)
{
	if (!t || !cr || !s || !*s)
		return 0;
	PangoRectangle log;
	text_prepare(t, s, flags, dim, max_w);
	pango_cairo_update_layout(cr, t->layout);
	pango_layout_get_extents(t->layout, NULL, &log);
	double w = (double)log.width / PANGO_SCALE;
	double h = (double)log.height / PANGO_SCALE;
	double ox = (double)log.x / PANGO_SCALE, oy = (double)log.y / PANGO_SCALE;
	if (flags & RENDER_TEXT_RIGHT)
		x -= w;
	else if (flags & RENDER_TEXT_CENTER)
		x -= w / 2;
	if (flags & RENDER_TEXT_MIDDLE)
		y -= h / 2;
	render_set_source_u32(cr, rgba);
	cairo_move_to(cr, x - ox, y - oy);
	pango_cairo_show_layout(cr, t->layout);
	return w;
}

/* ========================================================================
 * Figure files
 * ======================================================================== */

int
render_format_parse(const char *name, enum render_format *fmt)
{
	static const char *const names[RENDER_FORMAT_COUNT] = { "png", "svg", "pdf" };
	if (!name || !fmt)
		return err_set(ERR_ARG, "render: no format given");
	for (int i = 0; i < RENDER_FORMAT_COUNT; i++)
		if (strcasecmp(name, names[i]) == 0) {
			*fmt = (enum render_format)i;
			return 0;
		}
	return err_set(ERR_ARG, "render: unknown format '%s' (png, svg or pdf)",
		name);
}

int
render_figure_write(enum render_format fmt, const char *path, int width,
	int height, render_draw_fn *draw, void *ctx)
{
	if (!path || !draw || (unsigned)fmt >= RENDER_FORMAT_COUNT)
		return err_set(ERR_ARG, "render: bad figure output arguments");
	if (width < 1 || height < 1 || width > MAX_FIGURE || height > MAX_FIGURE)
		return err_set(ERR_RANGE, "render: figure %d x %d is too large "
			"or empty", width, height);
	cairo_surface_t *surf;
	if (fmt == RENDER_FORMAT_SVG)
		surf = cairo_svg_surface_create(path, width, height);
	else if (fmt == RENDER_FORMAT_PDF)
		surf = cairo_pdf_surface_create(path, width, height);
	else
		surf = cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height);
	cairo_status_t st = cairo_surface_status(surf);
	if (st != CAIRO_STATUS_SUCCESS) {
		cairo_surface_destroy(surf);
		return err_set(st == CAIRO_STATUS_NO_MEMORY ? ERR_NOMEM : ERR_IO,
			"render: cannot create '%s': %s", path,
			cairo_status_to_string(st));
	}
	cairo_t *cr = cairo_create(surf);
	cairo_set_source_rgb(cr, 1, 1, 1);
	cairo_paint(cr);
	int rc = draw(cr, width, height, ctx);
	if (rc == 0 && cairo_status(cr) != CAIRO_STATUS_SUCCESS)
		rc = err_set(ERR_NOMEM, "render: drawing '%s' failed: %s", path,
			cairo_status_to_string(cairo_status(cr)));
	cairo_destroy(cr);
	if (rc == 0) {
		if (fmt == RENDER_FORMAT_PNG) {
			st = cairo_surface_write_to_png(surf, path);
		} else {
			cairo_surface_finish(surf);
			st = cairo_surface_status(surf);
		}
		if (st != CAIRO_STATUS_SUCCESS)
			rc = err_set(ERR_IO, "render: cannot write '%s': %s", path,
				cairo_status_to_string(st));
	}
	cairo_surface_destroy(surf);
	return rc;
}

/* ========================================================================
 * Grid layout (pure)
 * ======================================================================== */

/* Estimated width of `chars` characters of label text (DejaVu Sans digits
 * and capitals are about 0.64 em). */
static double
est_text_w(int chars, double fs)
{
	return chars * 0.64 * fs;
}

static int
digits(int n)
{
	int d = 1;
	while (n >= 10) {
		n /= 10;
		d++;
	}
	return d;
}

/* Smallest stride from 1, 2, 4, 8, ... with stride * pitch >= need. */
static int
pow2_stride(double pitch, double need)
{
	int s = 1;
	while (s < MAX_COUNT && s * pitch < need)
		s *= 2;
	return s;
}

int
render_grid_layout(double width, double height, int n_layer, int n_head,
	const struct render_grid_opts *opts, struct render_grid_layout *g)
{
	struct render_grid_opts none = { 0 };
	const struct render_grid_opts *o = opts ? opts : &none;
	if (!g || !(width >= 1 && height >= 1) || n_layer < 1 || n_head < 1 ||
	    n_layer > MAX_COUNT || n_head > MAX_COUNT)
		return err_set(ERR_ARG, "render: bad grid %d x %d in %g x %g",
			n_layer, n_head, width, height);
	memset(g, 0, sizeof *g);
	double fs = o->font_size > 0 ? o->font_size : RENDER_DEFAULT_FONT_SIZE;
	double lh = round(1.3 * fs);
	double pad = round(0.8 * fs), gap = round(0.5 * fs);
	bool title = o->title && o->title[0];
	g->n_layer = n_layer;
	g->n_head = n_head;
	g->font_size = fs;
	g->line_h = lh;

	double row_lab = est_text_w(1 + digits(n_layer - 1), fs) + gap;
	double top = pad + (title ? round(1.3 * 1.25 * fs) + gap : 0) + lh + 2;
	double bottom = pad + (o->overlay ? lh + gap : 0);
	double avail_w = width - 2 * pad - row_lab;
	double avail_h = height - top - bottom;
	/* the largest pitch whose rows (thumbnail, strip, gap) fit */
	double pitch = fmin(avail_w / n_head, avail_h / n_layer);
	if (pitch >= 3)
		pitch = floor(pitch);
	for (;;) {
		double cg = fmax(1.0, round(pitch * 0.08));
		double th = fmax(1.0, pitch - cg);
		double sh = o->overlay ? fmin(8.0, fmax(3.0, round(th * 0.06))) : 0;
		if (pitch <= 2 || n_layer * (pitch + sh) - cg <= avail_h)
			break;
		pitch = pitch > 3 ? pitch - 1 : pitch * 0.9;
	}
	if (pitch < 2)
		pitch = 2;
	double cell_gap = fmax(1.0, round(pitch * 0.08));
	g->thumb = fmax(1.0, pitch - cell_gap);
	g->strip_h = o->overlay ? fmin(8.0, fmax(3.0, round(g->thumb * 0.06))) : 0;
	g->pitch = pitch;
	/* rows are pitch + strip apart vertically when there is a strip: keep
	 * one pitch for both axes by folding the strip into the row pitch */
	double row_pitch = pitch + g->strip_h;
	double grid_w = n_head * pitch - cell_gap;
	double grid_h = n_layer * row_pitch - cell_gap;
	double x0 = pad + row_lab + fmax(0.0, floor((avail_w - grid_w) / 2));
	double y0 = top + fmax(0.0, floor((avail_h - grid_h) / 2));
	g->x = round(x0);
	g->y = round(y0);
	g->title_y = pad;
	g->legend_y = o->overlay ? g->y + grid_h + gap : 0;
	g->col_stride = pow2_stride(pitch, est_text_w(1 + digits(n_head - 1), fs) + 4);
	g->row_stride = pow2_stride(row_pitch, lh * 0.95);
	return 0;
}

/* Vertical distance between rows (thumbnail, strip and gap). */
static double
row_pitch(const struct render_grid_layout *g)
{
	return g->pitch + g->strip_h;
}

bool
render_grid_hit(const struct render_grid_layout *g, double x, double y,
	int *layer, int *head)
{
	if (!g || !(g->pitch > 0))
		return false;
	double u = (x - g->x) / g->pitch, v = (y - g->y) / row_pitch(g);
	if (!(u >= 0 && v >= 0 && u < g->n_head && v < g->n_layer))
		return false;
	int h = (int)u, l = (int)v;
	/* not in the gap after the cell */
	if (x - g->x - h * g->pitch > g->thumb ||
	    y - g->y - l * row_pitch(g) > g->thumb + g->strip_h)
		return false;
	if (layer)
		*layer = l;
	if (head)
		*head = h;
	return true;
}

void
render_grid_cell_rect(const struct render_grid_layout *g, int layer,
	int head, double *x, double *y, double *w, double *h)
{
	*x = g->x + head * g->pitch;
	*y = g->y + layer * row_pitch(g);
	*w = g->thumb;
	*h = g->thumb + g->strip_h;
}

int
render_grid_size(int n_layer, int n_head, int *width, int *height)
{
	if (!width || !height || n_layer < 1 || n_head < 1 ||
	    n_layer > MAX_COUNT || n_head > MAX_COUNT)
		return err_set(ERR_ARG, "render: bad grid %d x %d", n_layer, n_head);
	int n = n_layer > n_head ? n_layer : n_head;
	double pitch = n <= 8 ? 110 : n <= 16 ? 72 : n <= 32 ? 44 : 3000.0 / n;
	int w = (int)ceil(n_head * pitch) + 80;
	int h = (int)ceil(n_layer * pitch * 1.14) + 110;
	*width = w < 360 ? 360 : w > MAX_FIGURE ? MAX_FIGURE : w;
	*height = h < 300 ? 300 : h > MAX_FIGURE ? MAX_FIGURE : h;
	return 0;
}

/* ========================================================================
 * Thumbnails
 * ======================================================================== */

cairo_surface_t *
render_grid_thumb(const float *map, int n_q, int n_k, int max_side,
	const struct render_heatmap_opts *opts, int *err)
{
	struct render_heatmap_opts defaults;
	struct render_norm norm = { 0 };
	cairo_surface_t *img = NULL;
	float *pool = NULL;
	unsigned char *mask = NULL;
	int rc;
	if (!opts) {
		render_heatmap_opts_init(&defaults);
		opts = &defaults;
	}
	if (max_side < 1) {
		rc = err_set(ERR_ARG, "render: thumbnail side %d", max_side);
		goto out;
	}
	if (n_q <= max_side && n_k <= max_side) {
		img = render_heatmap_image_create(map, n_q, n_k, opts, &rc);
		goto out;
	}
	rc = render_norm_init(&norm, map, n_q, n_k, opts);
	if (rc < 0)
		goto out;
	int tw = n_k < max_side ? n_k : max_side;  /* thumbnail columns */
	int th = n_q < max_side ? n_q : max_side;  /* thumbnail rows */
	pool = malloc((size_t)tw * th * sizeof *pool);  /* (th, tw) */
	mask = malloc((size_t)tw * th);                 /* (th, tw) all masked */
	img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, tw, th);
	if (!pool || !mask || cairo_surface_status(img) != CAIRO_STATUS_SUCCESS) {
		rc = err_set(ERR_NOMEM, "render: out of memory for a thumbnail");
		goto out;
	}
	/* max over each block of unmasked cells; NaN if any is invalid */
	for (int y = 0; y < th; y++) {
		int q0 = (int)((long long)y * n_q / th);
		int q1 = (int)((long long)(y + 1) * n_q / th);
		for (int x = 0; x < tw; x++) {
			int k0 = (int)((long long)x * n_k / tw);
			int k1 = (int)((long long)(x + 1) * n_k / tw);
			float mx = -INFINITY;
			bool any = false, bad = false;
			for (int q = q0; q < q1 && !bad; q++) {
				const float *row = map + (size_t)q * n_k;
				int kend = k1;
				if (opts->causal) {
					int lim = q + (n_k - n_q) + 1; /* first masked key */
					if (lim < kend)
						kend = lim;
				}
				for (int k = k0; k < kend; k++) {
					float v = row[k];
					if (!isfinite(v)) {
						bad = true;
						break;
					}
					if (opts->suppress_first && k == 0 && k1 - k0 > 1)
						continue;
					any = true;
					if (v > mx)
						mx = v;
				}
				if (opts->suppress_first && k0 == 0 && k1 - k0 > 1 &&
				    kend > 0 && !any)
					any = true, mx = row[0];
			}
			pool[(size_t)y * tw + x] = bad ? NAN : any ? mx : 0.0f;
			mask[(size_t)y * tw + x] = !bad && !any;
		}
	}
	/* colour with the whole map's scale */
	cairo_surface_flush(img);
	unsigned char *data = cairo_image_surface_get_data(img);
	size_t stride = (size_t)cairo_image_surface_get_stride(img);
	for (int y = 0; y < th; y++) {
		uint32_t *dst = (uint32_t *)(data + (size_t)y * stride);
		for (int x = 0; x < tw; x++) {
			float v = pool[(size_t)y * tw + x];
			int i = render_norm_index(&norm, v);
			dst[x] = mask[(size_t)y * tw + x] ? RENDER_MASKED_ARGB
				: i < 0 ? RENDER_NAN_ARGB
				: render_cmap_argb(opts->cmap, i);
		}
	}
	cairo_surface_mark_dirty(img);
	rc = 0;
out:
	render_norm_release(&norm);
	free(mask);
	free(pool);
	if (rc < 0 && img) {
		cairo_surface_destroy(img);
		img = NULL;
	}
	if (err)
		*err = rc;
	return img;
}

/* ========================================================================
 * Grid drawing
 * ======================================================================== */

/* Overlay range: the option's, or the finite values' range. */
static void
overlay_range(const struct render_grid_opts *o, int n, double *lo, double *hi)
{
	*lo = o->overlay_lo;
	*hi = o->overlay_hi;
	if (isfinite(*lo) && isfinite(*hi) && *hi > *lo)
		return;
	*lo = INFINITY;
	*hi = -INFINITY;
	for (int i = 0; i < n; i++) {
		double v = o->overlay[i];
		if (!isfinite(v))
			continue;
		*lo = fmin(*lo, v);
		*hi = fmax(*hi, v);
	}
	if (!isfinite(*lo)) {
		*lo = 0;
		*hi = 1;
		return;
	}
	if (*lo > 0)
		*lo = 0;      /* non-negative statistics: bars start at 0 */
	if (!(*hi > *lo))
		*hi = *lo + 1;
}

static void
fmt_metric(double v, char *buf, size_t size)
{
	if (!isfinite(v))
		snprintf(buf, size, "–");
	else if (fabs(v) >= 100)
		snprintf(buf, size, "%.0f", v);
	else if (fabs(v) >= 10)
		snprintf(buf, size, "%.1f", v);
	else if (fabs(v) >= 0.1 || v == 0)
		snprintf(buf, size, "%.2f", v);
	else
		snprintf(buf, size, "%.3f", v);
}

/* One thumbnail scaled into a side x side square at (x, y). */
static void
draw_thumb(cairo_t *cr, cairo_surface_t *img, double x, double y,
	double side)
{
	int iw = cairo_image_surface_get_width(img);
	int ih = cairo_image_surface_get_height(img);
	double sx = side / iw, sy = side / ih;
	double dx = sx, dy = 0;
	cairo_user_to_device_distance(cr, &dx, &dy);
	bool enlarge = hypot(dx, dy) >= 0.999;
	cairo_save(cr);
	cairo_rectangle(cr, x, y, side, side);
	cairo_clip(cr);
	cairo_translate(cr, x, y);
	cairo_scale(cr, sx, sy);
	cairo_set_source_surface(cr, img, 0, 0);
	cairo_pattern_set_filter(cairo_get_source(cr),
		enlarge ? CAIRO_FILTER_NEAREST : CAIRO_FILTER_GOOD);
	cairo_pattern_set_extend(cairo_get_source(cr), CAIRO_EXTEND_PAD);
	cairo_paint(cr);
	cairo_restore(cr);
}

int
render_grid_draw(cairo_t *cr, double width, double height, int n_layer,
	int n_head, cairo_surface_t *const *thumbs, const char *const *notes,
	const struct render_grid_opts *opts)
{
	struct render_grid_opts none = { 0 };
	const struct render_grid_opts *o = opts ? opts : &none;
	struct render_grid_layout g;
	if (!cr || !thumbs)
		return err_set(ERR_ARG, "render: no grid to draw");
	int rc = render_grid_layout(width, height, n_layer, n_head, o, &g);
	if (rc < 0)
		return rc;
	struct render_text *t = render_text_create(g.font_size, &rc);
	if (!t)
		return rc;
	cairo_save(cr);

	if (o->title && o->title[0])
		render_text_draw(t, cr, width / 2, g.title_y, o->title,
			RENDER_TEXT_TITLE | RENDER_TEXT_CENTER, COL_TITLE, 0,
			width - 2 * g.title_y);

	char buf[64];
	double rp = row_pitch(&g);
	for (int h = 0; h < n_head; h += g.col_stride) {
		snprintf(buf, sizeof buf, "H%d", h);
		render_text_draw(t, cr, g.x + h * g.pitch + g.thumb / 2,
			g.y - g.line_h - 2, buf, RENDER_TEXT_CENTER, COL_LABEL, 0, 0);
	}
	for (int l = 0; l < n_layer; l += g.row_stride) {
		snprintf(buf, sizeof buf, "L%d", l);
		render_text_draw(t, cr, g.x - round(0.5 * g.font_size),
			g.y + l * rp + g.thumb / 2, buf,
			RENDER_TEXT_RIGHT | RENDER_TEXT_MIDDLE, COL_LABEL, 0, 0);
	}

	double lo = 0, hi = 1;
	if (o->overlay)
		overlay_range(o, n_layer * n_head, &lo, &hi);
	bool values_fit = o->overlay && g.thumb >= 4.2 * g.font_size;
	for (int l = 0; l < n_layer; l++) {
		for (int h = 0; h < n_head; h++) {
			int i = l * n_head + h;
			double x = g.x + h * g.pitch, y = g.y + l * rp;
			if (thumbs[i]) {
				draw_thumb(cr, thumbs[i], x, y, g.thumb);
			} else {
				render_set_source_u32(cr, COL_MISSING);
				cairo_rectangle(cr, x, y, g.thumb, g.thumb);
				cairo_fill(cr);
				const char *note = notes ? notes[i] : NULL;
				if (note && g.thumb >= 2.5 * g.font_size)
					render_text_draw(t, cr, x + g.thumb / 2,
						y + g.thumb / 2, note,
						RENDER_TEXT_SMALL | RENDER_TEXT_CENTER |
						RENDER_TEXT_MIDDLE, COL_NOTE, 0,
						g.thumb - 2);
			}
			if (!o->overlay)
				continue;
			/* a bar: its length and colour both give the value */
			double v = o->overlay[i];
			render_set_source_u32(cr, COL_MISSING);
			cairo_rectangle(cr, x, y + g.thumb + 1, g.thumb, g.strip_h - 1);
			cairo_fill(cr);
			if (isfinite(v)) {
				double tt = fmin(fmax((v - lo) / (hi - lo), 0), 1);
				int ci = (int)(tt * 255.999);
				render_set_source_u32(cr,
					render_cmap_argb(o->overlay_cmap, ci) << 8 | 0xff);
				cairo_rectangle(cr, x, y + g.thumb + 1,
					fmax(1.0, tt * g.thumb), g.strip_h - 1);
				cairo_fill(cr);
			}
			if (values_fit) {
				fmt_metric(v, buf, sizeof buf);
				double tw, th;
				render_text_measure(t, buf, RENDER_TEXT_SMALL, &tw, &th);
				cairo_set_source_rgba(cr, 0, 0, 0, 0.55);
				cairo_rectangle(cr, x, y, tw + 4, th);
				cairo_fill(cr);
				render_text_draw(t, cr, x + 2, y, buf, RENDER_TEXT_SMALL,
					0xffffffffu, 0, 0);
			}
		}
	}

	if (o->overlay) {
		/* legend: "<metric>  lo [gradient] hi" centred under the grid */
		char los[32], his[32];
		fmt_metric(lo, los, sizeof los);
		fmt_metric(hi, his, sizeof his);
		snprintf(buf, sizeof buf, "%s", o->overlay_label ? o->overlay_label
			: "metric");
		double w1, w2, w3, th;
		render_text_measure(t, buf, 0, &w1, &th);
		render_text_measure(t, los, 0, &w2, &th);
		render_text_measure(t, his, 0, &w3, &th);
		double bw = 8 * g.font_size, sp = 0.5 * g.font_size;
		double total = w1 + sp * 3 + w2 + bw + w3;
		double grid_w = n_head * g.pitch;
		double x = fmax(2.0, g.x + grid_w / 2 - total / 2);
		double y = g.legend_y;
		x += render_text_draw(t, cr, x, y, buf, RENDER_TEXT_BOLD, COL_LABEL,
			0, 0) + 2 * sp;
		x += render_text_draw(t, cr, x, y, los, 0, COL_LABEL, 0, 0) + sp / 2;
		for (int j = 0; j < 64; j++) {
			render_set_source_u32(cr, render_cmap_argb(o->overlay_cmap,
				j * 4) << 8 | 0xff);
			cairo_rectangle(cr, x + j * bw / 64, y + 0.2 * th,
				bw / 64 + 0.5, 0.6 * th);
			cairo_fill(cr);
		}
		x += bw + sp / 2;
		render_text_draw(t, cr, x, y, his, 0, COL_LABEL, 0, 0);
	}

	cairo_restore(cr);
	render_text_free(t);
	if (cairo_status(cr) != CAIRO_STATUS_SUCCESS)
		return err_set(ERR_NOMEM, "render: drawing the grid failed: %s",
			cairo_status_to_string(cairo_status(cr)));
	return 0;
}

int
render_grid(cairo_t *cr, double width, double height, int n_layer,
	int n_head, const float *const *maps, int n_q, int n_k,
	const struct render_heatmap_opts *hopts,
	const struct render_grid_opts *opts)
{
	struct render_grid_layout g;
	if (!cr || !maps)
		return err_set(ERR_ARG, "render: no grid to draw");
	int rc = render_grid_layout(width, height, n_layer, n_head, opts, &g);
	if (rc < 0)
		return rc;
	/* thumbnails at the device size of a cell (vector targets: up to
	 * 256 cells a side, so PDFs stay small yet crisp) */
	double dx = g.thumb, dy = 0;
	cairo_user_to_device_distance(cr, &dx, &dy);
	bool vector = cairo_surface_get_type(cairo_get_target(cr)) !=
		CAIRO_SURFACE_TYPE_IMAGE;
	int side = vector ? 256 : (int)ceil(hypot(dx, dy));
	if (side < 1)
		side = 1;
	size_t n = (size_t)n_layer * n_head;
	cairo_surface_t **thumbs = calloc(n, sizeof *thumbs);
	const char **notes = calloc(n, sizeof *notes);
	if (!thumbs || !notes) {
		rc = err_set(ERR_NOMEM, "render: out of memory for the grid");
		goto out;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (!maps[i]) {
			notes[i] = "missing";
			continue;
		}
		thumbs[i] = render_grid_thumb(maps[i], n_q, n_k, side, hopts, &rc);
	}
	if (rc == 0)
		rc = render_grid_draw(cr, width, height, n_layer, n_head, thumbs,
			notes, opts);
out:
	for (size_t i = 0; thumbs && i < n; i++)
		if (thumbs[i])
			cairo_surface_destroy(thumbs[i]);
	free(thumbs);
	free(notes);
	return rc;
}

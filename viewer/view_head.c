/*
 * view_head.c — the head view: one head's heatmap with token pieces on both
 * axes, a hover read-out (query, key, weight, row entropy), zoom with the
 * wheel and pan by dragging.
 *
 * Fitted (zoom 1), the view is exactly the figure `attnscope export
 * --format png` writes: render_heatmap() with the same title, labels and
 * options, drawn once per change into a cached surface. Zoomed, the
 * heatmap viewport of that figure shows the head's one-pixel-per-cell image
 * (built once per head and colour options with render_heatmap_image_norm())
 * scaled with nearest-neighbour filtering, or a half-size copy of it when
 * cells are smaller than a pixel, and the label margins are redrawn for the
 * visible rows and columns by level of detail.
 */
#include "viewer.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COL_TEXT   0x222222ffu
#define COL_TICK   0x555555ffu
#define COL_FRAME  0x333333ffu
#define COL_HOVER  0xff3b30ffu
#define COL_NOTE   0xb7791fffu

/* ========================================================================
 * Geometry (pure)
 * ======================================================================== */

double
head_geom_cell(const struct head_geom *g)
{
	return g->cell * g->zoom;
}

double
head_geom_max_zoom(const struct head_geom *g)
{
	return g->cell > 0 ? fmax(1.0, 96.0 / g->cell) : 1.0;
}

void
head_geom_clamp(struct head_geom *g, double max_zoom)
{
	if (!(g->zoom >= 1))
		g->zoom = 1;
	if (g->zoom > max_zoom)
		g->zoom = max_zoom;
	double cz = head_geom_cell(g);
	double max_u = g->n_k - g->vw / cz, max_v = g->n_q - g->vh / cz;
	if (!(g->u0 <= max_u))
		g->u0 = max_u;
	if (!(g->v0 <= max_v))
		g->v0 = max_v;
	if (!(g->u0 >= 0))
		g->u0 = 0;
	if (!(g->v0 >= 0))
		g->v0 = 0;
}

bool
head_geom_hit(const struct head_geom *g, double x, double y, int *q, int *k)
{
	double cz = head_geom_cell(g);
	if (!(cz > 0) || x < g->vx || y < g->vy || x >= g->vx + g->vw ||
	    y >= g->vy + g->vh)
		return false;
	double u = g->u0 + (x - g->vx) / cz, v = g->v0 + (y - g->vy) / cz;
	if (!(u >= 0 && v >= 0 && u < g->n_k && v < g->n_q))
		return false;
	*q = (int)v;
	*k = (int)u;
	return true;
}

void
head_geom_zoom_at(struct head_geom *g, double factor, double x, double y,
	double max_zoom)
{
	double cz = head_geom_cell(g);
	double pu = g->u0 + (x - g->vx) / cz, pv = g->v0 + (y - g->vy) / cz;
	g->zoom *= factor;
	if (g->zoom < 1)
		g->zoom = 1;
	if (g->zoom > max_zoom)
		g->zoom = max_zoom;
	cz = head_geom_cell(g);
	g->u0 = pu - (x - g->vx) / cz;
	g->v0 = pv - (y - g->vy) / cz;
	head_geom_clamp(g, max_zoom);
}

void
head_geom_pan(struct head_geom *g, double dx, double dy, double max_zoom)
{
	double cz = head_geom_cell(g);
	g->u0 -= dx / cz;
	g->v0 -= dy / cz;
	head_geom_clamp(g, max_zoom);
}

/* ========================================================================
 * Drawing
 * ======================================================================== */

static struct head_slot *
cur_slot(const struct viewer *v)
{
	const struct sample_data *d = v->cur;
	if (!d || v->layer >= d->n_layer || v->head >= d->n_head)
		return NULL;
	return &d->slots[v->layer * d->n_head + v->head];
}

static unsigned
fig_key(const struct viewer *v, const struct vrect *r, const struct head_slot *s)
{
	unsigned k = 2166136261u;
	uintptr_t mp = (uintptr_t)s->map;
	unsigned parts[9] = {
		(unsigned)v->cur->gen, (unsigned)v->layer, (unsigned)v->head,
		viewer_color_key(v), (unsigned)r->w, (unsigned)r->h,
		(unsigned)(v->scale_factor * 100), (unsigned)v->cur->toks_ready,
		(unsigned)(mp ^ (mp >> 32)),
	};
	for (int i = 0; i < 9; i++)
		k = (k ^ parts[i]) * 16777619u;
	return k ? k : 1;
}

/* The figure's options: what cmd_export.c passes for the same head. */
static void
figure_opts(const struct viewer *v, const struct head_slot *s, char *title,
	size_t size, struct render_heatmap_opts *o)
{
	viewer_heatmap_opts(v, o);
	viewer_head_title(v, title, size);
	o->title = title;
	int nq, nk;
	char **ql = viewer_axis_labels(v, false, &nq);
	char **kl = viewer_axis_labels(v, true, &nk);
	if (ql && kl && nq == s->n_q && nk == s->n_k) {
		o->q_labels = (const char *const *)ql;
		o->k_labels = (const char *const *)kl;
	}
}

/* The one-pixel-per-cell image under the current colour options. */
static bool
ensure_image(struct viewer *v, struct head_slot *s)
{
	unsigned key = viewer_color_key(v);
	if (s->img && s->img_key == key)
		return true;
	for (int i = 0; i < VIEWER_MIPS; i++) {
		if (s->mip[i])
			cairo_surface_destroy(s->mip[i]);
		s->mip[i] = NULL;
	}
	if (s->img)
		cairo_surface_destroy(s->img);
	render_norm_release(&s->norm);
	struct render_heatmap_opts o;
	viewer_heatmap_opts(v, &o);
	s->img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, s->n_k, s->n_q);
	if (cairo_surface_status(s->img) != CAIRO_STATUS_SUCCESS ||
	    render_norm_init(&s->norm, s->map, s->n_q, s->n_k, &o) != 0 ||
	    render_heatmap_image_norm(s->img, s->map, s->n_q, s->n_k, &s->norm,
	    o.cmap, o.causal) != 0) {
		cairo_surface_destroy(s->img);
		s->img = NULL;
		return false;
	}
	s->img_key = key;
	viewer_cache_trim(v);
	return true;
}

/* Half-size copy of `src`: each pixel the mean of a 2x2 block. */
static cairo_surface_t *
halve(cairo_surface_t *src)
{
	int w = cairo_image_surface_get_width(src);
	int h = cairo_image_surface_get_height(src);
	int hw = (w + 1) / 2, hh = (h + 1) / 2;
	cairo_surface_t *dst = cairo_image_surface_create(CAIRO_FORMAT_RGB24, hw, hh);
	if (cairo_surface_status(dst) != CAIRO_STATUS_SUCCESS) {
		cairo_surface_destroy(dst);
		return NULL;
	}
	cairo_surface_flush(src);
	const unsigned char *sd = cairo_image_surface_get_data(src);
	unsigned char *dd = cairo_image_surface_get_data(dst);
	int ss = cairo_image_surface_get_stride(src);
	int ds = cairo_image_surface_get_stride(dst);
	for (int y = 0; y < hh; y++) {
		const uint32_t *r0 = (const uint32_t *)(sd + (size_t)(2 * y) * ss);
		const uint32_t *r1 = (const uint32_t *)(sd + (size_t)(2 * y + 1 < h
			? 2 * y + 1 : 2 * y) * ss);
		uint32_t *out = (uint32_t *)(dd + (size_t)y * ds);
		for (int x = 0; x < hw; x++) {
			int x0 = 2 * x, x1 = 2 * x + 1 < w ? 2 * x + 1 : 2 * x;
			uint32_t p[4] = { r0[x0], r0[x1], r1[x0], r1[x1] };
			uint32_t c = 0xff000000u;
			for (int sh = 0; sh <= 16; sh += 8) {
				unsigned sum = 2;
				for (int i = 0; i < 4; i++)
					sum += p[i] >> sh & 0xff;
				c |= (sum / 4) << sh;
			}
			out[x] = c;
		}
	}
	cairo_surface_mark_dirty(dst);
	return dst;
}

/*
 * The heatmap part: the image scaled into the viewport of g with
 * nearest-neighbour filtering, or, when a cell is smaller than a device
 * pixel, the half-size copy whose pixels are just larger than one, scaled
 * bilinearly (no row or column disappears, nothing is re-filtered from the
 * full image per frame).
 */
static void
draw_heat(struct viewer *v, cairo_t *cr, struct head_slot *s,
	const struct head_geom *g)
{
	double cz = head_geom_cell(g);
	double dev = cz * v->scale_factor;  /* device pixels per cell */
	cairo_surface_t *src = s->img;
	double pix = 1;                     /* cells per source pixel */
	int level = -1;
	while (dev * pix < 1.0 && level + 1 < VIEWER_MIPS) {
		level++;
		if (!s->mip[level])
			s->mip[level] = halve(level ? s->mip[level - 1] : s->img);
		if (!s->mip[level])
			break;
		src = s->mip[level];
		pix *= 2;
	}
	cairo_save(cr);
	cairo_rectangle(cr, g->vx, g->vy, g->vw, g->vh);
	cairo_clip(cr);
	cairo_translate(cr, g->vx - g->u0 * cz, g->vy - g->v0 * cz);
	cairo_scale(cr, cz * pix, cz * pix);
	cairo_set_source_surface(cr, src, 0, 0);
	cairo_pattern_set_filter(cairo_get_source(cr), level < 0
		? CAIRO_FILTER_NEAREST : CAIRO_FILTER_BILINEAR);
	cairo_pattern_set_extend(cairo_get_source(cr), CAIRO_EXTEND_PAD);
	cairo_paint(cr);
	cairo_restore(cr);
}

static void
rebuild_figure(struct viewer *v, const struct vrect *r, struct head_slot *s)
{
	double sf = v->scale_factor;
	int bw = (int)ceil(r->w * sf), bh = (int)ceil(r->h * sf);
	if (v->fig && (cairo_image_surface_get_width(v->fig) != bw ||
	    cairo_image_surface_get_height(v->fig) != bh)) {
		cairo_surface_destroy(v->fig);
		v->fig = NULL;
	}
	if (!v->fig)
		v->fig = cairo_image_surface_create(CAIRO_FORMAT_RGB24, bw, bh);
	char title[512];
	struct render_heatmap_opts o;
	figure_opts(v, s, title, sizeof title, &o);
	cairo_t *cr = cairo_create(v->fig);
	cairo_set_source_rgb(cr, 1, 1, 1);
	cairo_paint(cr);
	cairo_scale(cr, sf, sf);
	struct render_heatmap_layout *lay = &v->fig_lay;
	int rc = render_heatmap_layout(cr, r->w, r->h, s->map, s->n_q, s->n_k, &o,
		lay);
	if (rc == 0 && lay->cell * sf < 1.0 && ensure_image(v, s)) {
		/* cells below a pixel: render.c would box-filter the whole image
		 * (slow for thousands of tokens); draw everything else through
		 * it, with the heatmap rectangle clipped out, and the heatmap
		 * from the half-size copies */
		double x0 = floor(lay->x), y0 = floor(lay->y);
		double x1 = ceil(lay->x + lay->n_k * lay->cell);
		double y1 = ceil(lay->y + lay->n_q * lay->cell);
		cairo_save(cr);
		cairo_set_fill_rule(cr, CAIRO_FILL_RULE_EVEN_ODD);
		cairo_rectangle(cr, 0, 0, r->w, r->h);
		cairo_rectangle(cr, x0, y0, x1 - x0, y1 - y0);
		cairo_clip(cr);
		rc = render_heatmap(cr, r->w, r->h, s->map, s->n_q, s->n_k, &o);
		cairo_restore(cr);
		struct head_geom g = {
			.vx = lay->x, .vy = lay->y, .vw = lay->n_k * lay->cell,
			.vh = lay->n_q * lay->cell, .cell = lay->cell, .n_q = lay->n_q,
			.n_k = lay->n_k, .zoom = 1,
		};
		draw_heat(v, cr, s, &g);
	} else if (rc == 0) {
		rc = render_heatmap(cr, r->w, r->h, s->map, s->n_q, s->n_k, &o);
	}
	if (rc)
		snprintf(v->fig_msg, sizeof v->fig_msg, "%s", err_msg(rc));
	else
		v->fig_msg[0] = '\0';
	cairo_destroy(cr);
	v->fig_key = fig_key(v, r, s);
}

/* Label stride for cells of side `cell` (1, 2, 5, 10, 20, ...). */
static int
label_stride(double cell, double line_h)
{
	static const int base[3] = { 1, 2, 5 };
	for (long mag = 1; mag <= RENDER_MAX_SIDE; mag *= 10)
		for (int i = 0; i < 3; i++)
			if (base[i] * mag * cell >= line_h * 0.999)
				return (int)(base[i] * mag);
	return RENDER_MAX_SIDE;
}

/* "i piece" of token i (the index dimmed), or "i". */
static size_t
token_text(const struct viewer *v, bool key_axis, int i, char *buf,
	size_t size)
{
	int nl;
	char **labels = viewer_axis_labels(v, key_axis, &nl);
	int n = snprintf(buf, size, "%d ", i);
	if (labels && i < nl && labels[i]) {
		snprintf(buf + n, size - (size_t)n, "%s", labels[i]);
		return (size_t)n - 1;
	}
	buf[n - 1] = '\0';
	return 0;
}

static void
draw_zoomed(struct viewer *v, cairo_t *cr, const struct vrect *r,
	struct head_slot *s, const struct head_geom *g)
{
	if (!ensure_image(v, s))
		return;
	const struct render_heatmap_layout *lay = &v->fig_lay;
	double cz = head_geom_cell(g);
	double lh = render_text_line_height(v->text);
	double bottom = r->y + r->h;
	double bar_x = r->x + lay->bar_x;
	/* label margins of the fitted figure, cleared */
	double band_top = g->vy - ceil(lh / 2) - 1;  /* row 0's label reaches up */
	cairo_set_source_rgb(cr, 1, 1, 1);
	cairo_rectangle(cr, r->x, band_top, g->vx - r->x - 1, bottom - band_top);
	cairo_rectangle(cr, g->vx - 1, g->vy + g->vh + 1, bar_x - g->vx - 4,
		bottom - g->vy - g->vh - 1);
	cairo_fill(cr);

	draw_heat(v, cr, s, g);
	render_set_source_u32(cr, COL_FRAME);
	cairo_set_line_width(cr, 1);
	cairo_rectangle(cr, g->vx - 0.5, g->vy - 0.5, g->vw + 1, g->vh + 1);
	cairo_stroke(cr);

	/* labels of the visible rows and columns */
	int st = label_stride(cz, lh);
	int q0 = (int)floor(g->v0), q1 = (int)ceil(g->v0 + g->vh / cz);
	int k0 = (int)floor(g->u0), k1 = (int)ceil(g->u0 + g->vw / cz);
	if (q1 > g->n_q)
		q1 = g->n_q;
	if (k1 > g->n_k)
		k1 = g->n_k;
	char buf[RENDER_LABEL_BUF + 16];
	double lab_w = g->vx - r->x - 14 - lh, widest = 0;
	cairo_save(cr);
	cairo_rectangle(cr, r->x, band_top, g->vx - r->x, g->vy + g->vh + lh / 2 -
		band_top);
	cairo_clip(cr);
	for (int q = q0 / st * st; q < q1; q += st) {
		double y = g->vy + (q - g->v0 + 0.5) * cz;
		if (y < g->vy || y > g->vy + g->vh)
			continue;
		render_set_source_u32(cr, COL_TICK);
		cairo_rectangle(cr, g->vx - 5, round(y), 4, 1);
		cairo_fill(cr);
		size_t dim = token_text(v, false, q, buf, sizeof buf);
		widest = fmax(widest, render_text_draw(v->text, cr, g->vx - 8, y, buf,
			RENDER_TEXT_RIGHT | RENDER_TEXT_MIDDLE, COL_TEXT, dim, lab_w));
	}
	cairo_restore(cr);
	double top = g->vy + g->vh + 8;
	double lab_h = bottom - top - lh - 6;
	cairo_save(cr);
	cairo_rectangle(cr, g->vx - 1, g->vy + g->vh + 1, g->vw + 2, bottom);
	cairo_clip(cr);
	for (int k = k0 / st * st; k < k1; k += st) {
		double x = g->vx + (k - g->u0 + 0.5) * cz;
		if (x < g->vx || x > g->vx + g->vw)
			continue;
		render_set_source_u32(cr, COL_TICK);
		cairo_rectangle(cr, round(x), g->vy + g->vh + 1, 1, 4);
		cairo_fill(cr);
		size_t dim = token_text(v, true, k, buf, sizeof buf);
		cairo_save(cr);
		cairo_translate(cr, x, top);
		cairo_rotate(cr, -M_PI / 2);
		render_text_draw(v->text, cr, 0, 0, buf,
			RENDER_TEXT_RIGHT | RENDER_TEXT_MIDDLE, COL_TEXT, dim,
			fmax(10.0, lab_h));
		cairo_restore(cr);
	}
	cairo_restore(cr);
	/* captions */
	snprintf(buf, sizeof buf, "key · zoom %.1f× · rows %d–%d, columns %d–%d",
		g->zoom, q0, q1 - 1, k0, k1 - 1);
	render_text_draw(v->text, cr, g->vx + g->vw / 2, bottom - lh - 4, buf,
		RENDER_TEXT_CENTER, COL_TEXT, 0, bar_x - r->x - 10);
	cairo_save(cr);
	cairo_translate(cr, fmax(r->x + 4 + lh / 2, g->vx - 8 - widest - 8 - lh / 2),
		g->vy + g->vh / 2);
	cairo_rotate(cr, -M_PI / 2);
	render_text_draw(v->text, cr, 0, 0, "query", RENDER_TEXT_CENTER |
		RENDER_TEXT_MIDDLE, COL_TEXT, 0, 0);
	cairo_restore(cr);
}

static void
draw_hover(struct viewer *v, cairo_t *cr, const struct head_slot *s,
	const struct head_geom *g)
{
	int q = v->hover_q, k = v->hover_k;
	if (q < 0 || k < 0 || q >= s->n_q || k >= s->n_k)
		return;
	double cz = head_geom_cell(g);
	double x = g->vx + (k - g->u0) * cz, y = g->vy + (q - g->v0) * cz;
	cairo_save(cr);
	cairo_rectangle(cr, g->vx, g->vy, g->vw, g->vh);
	cairo_clip(cr);
	render_set_source_u32(cr, COL_HOVER);
	cairo_set_line_width(cr, 1.5);
	if (cz >= 4) {
		cairo_rectangle(cr, x - 0.75, y - 0.75, cz + 1.5, cz + 1.5);
		cairo_stroke(cr);
	} else {
		/* cells too small to frame: guide lines through the cell */
		cairo_set_source_rgba(cr, 1, 0.23, 0.19, 0.6);
		cairo_set_line_width(cr, 1);
		cairo_move_to(cr, g->vx, y + cz / 2);
		cairo_line_to(cr, g->vx + g->vw, y + cz / 2);
		cairo_move_to(cr, x + cz / 2, g->vy);
		cairo_line_to(cr, x + cz / 2, g->vy + g->vh);
		cairo_stroke(cr);
	}
	cairo_restore(cr);

	/* read-out */
	char qs[RENDER_LABEL_BUF], ks[RENDER_LABEL_BUF];
	int nql, nkl;
	char **ql = viewer_axis_labels(v, false, &nql);
	char **kl = viewer_axis_labels(v, true, &nkl);
	snprintf(qs, sizeof qs, "%s", ql && q < nql ? ql[q] : "");
	snprintf(ks, sizeof ks, "%s", kl && k < nkl ? kl[k] : "");
	float w = s->map[(size_t)q * s->n_k + k];
	double e = viewer_row_entropy(s->map, s->n_k, q);
	char ws[32], es[32];
	if (isfinite(w))
		snprintf(ws, sizeof ws, "%.4f", w);
	else
		snprintf(ws, sizeof ws, "%s (invalid)", isnan(w) ? "NaN" : "inf");
	if (isfinite(e))
		snprintf(es, sizeof es, "%.3f nats", e);
	else
		snprintf(es, sizeof es, "undefined (invalid values)");
	bool masked = viewer_kind_causal(v) && k > q + (s->n_k - s->n_q);
	snprintf(v->info, sizeof v->info, "query %d “%s” → key %d “%s” · weight %s%s"
		" · row entropy %s", q, qs, k, ks, ws, masked ? " (masked: future)" : "",
		es);
}

void
view_head_draw(struct viewer *v, cairo_t *cr, const struct vrect *r)
{
	char buf[512];
	struct sample_data *d = v->cur;
	struct head_slot *s = cur_slot(v);
	if (!d || !s) {
		ui_message(v, cr, r, "no sample selected", "pick one in the samples view");
		return;
	}
	snprintf(buf, sizeof buf, "sample %" PRId64 " · layer %d · head %d", d->index,
		v->layer, v->head);
	if (s->state == SLOT_ERROR) {
		const char *head = s->err == ERR_NOTFOUND ? "this head was not recorded"
			: s->err == ERR_FORMAT ? "this head's stored map is damaged"
			: "this head cannot be shown";
		char det[700];
		snprintf(det, sizeof det, "%s: %s", buf, s->msg ? s->msg
			: err_str(s->err));
		ui_message(v, cr, r, head, det);
		snprintf(v->info, sizeof v->info, "%.500s", det);
		return;
	}
	if (!s->map || !d->toks_ready) {
		ui_message(v, cr, r, "loading…", buf);
		return;
	}
	if (v->fig_key != fig_key(v, r, s) || !v->fig)
		rebuild_figure(v, r, s);
	if (v->fig_msg[0]) {
		ui_message(v, cr, r, "this head cannot be drawn", v->fig_msg);
		return;
	}
	s->used = ++v->clock;
	cairo_save(cr);
	cairo_translate(cr, r->x, r->y);
	cairo_scale(cr, 1 / v->scale_factor, 1 / v->scale_factor);
	cairo_set_source_surface(cr, v->fig, 0, 0);
	cairo_paint(cr);
	cairo_restore(cr);

	const struct render_heatmap_layout *lay = &v->fig_lay;
	struct head_geom g = {
		.vx = r->x + lay->x, .vy = r->y + lay->y, .vw = lay->n_k * lay->cell,
		.vh = lay->n_q * lay->cell, .cell = lay->cell, .n_q = lay->n_q,
		.n_k = lay->n_k, .zoom = v->zoom, .u0 = v->u0, .v0 = v->v0,
	};
	head_geom_clamp(&g, head_geom_max_zoom(&g));
	v->zoom = g.zoom;
	v->u0 = g.u0;
	v->v0 = g.v0;
	if (g.zoom > 1.0001)
		draw_zoomed(v, cr, r, s, &g);
	draw_hover(v, cr, s, &g);

	if (s->n_bad) {
		snprintf(buf, sizeof buf, "%zu invalid value%s (NaN/inf) drawn magenta",
			s->n_bad, s->n_bad == 1 ? "" : "s");
		double w, h;
		render_text_measure(v->text, buf, RENDER_TEXT_BOLD, &w, &h);
		cairo_set_source_rgba(cr, 1, 0.97, 0.86, 0.95);
		cairo_rectangle(cr, r->x + r->w - w - 20, r->y + 6, w + 12, h + 6);
		cairo_fill(cr);
		render_text_draw(v->text, cr, r->x + r->w - 14, r->y + 9, buf,
			RENDER_TEXT_RIGHT | RENDER_TEXT_BOLD, COL_NOTE, 0, 0);
	}
	if (!v->info[0])
		snprintf(v->info, sizeof v->info, "%d × %d · %s scale · %s%s · wheel "
			"zoom, drag pan, l/r scale, b first token, c colormap", s->n_q,
			s->n_k, render_scale_name(v->scale), render_cmap_name(v->cmap),
			v->suppress_first ? " · first token out of the scale" : "");
}

static bool
geom_now(const struct viewer *v, const struct vrect *r, struct head_geom *g)
{
	const struct render_heatmap_layout *lay = &v->fig_lay;
	if (!v->fig || !(lay->cell > 0) || !cur_slot(v) || !cur_slot(v)->map)
		return false;
	*g = (struct head_geom){
		.vx = r->x + lay->x, .vy = r->y + lay->y, .vw = lay->n_k * lay->cell,
		.vh = lay->n_q * lay->cell, .cell = lay->cell, .n_q = lay->n_q,
		.n_k = lay->n_k, .zoom = v->zoom, .u0 = v->u0, .v0 = v->v0,
	};
	return true;
}

bool
view_head_input(struct viewer *v, const struct vrect *r, const struct vin *in)
{
	struct head_geom g;
	if (!geom_now(v, r, &g))
		return false;
	double maxz = head_geom_max_zoom(&g);
	int q = -1, k = -1;
	switch (in->type) {
	case VIN_MOTION:
		if (v->dragging) {
			head_geom_pan(&g, in->x - v->drag_x, in->y - v->drag_y, maxz);
			v->drag_x = in->x;
			v->drag_y = in->y;
			v->zoom = g.zoom, v->u0 = g.u0, v->v0 = g.v0;
		}
		if (!head_geom_hit(&g, in->x, in->y, &q, &k))
			q = k = -1;
		if (!v->dragging && q == v->hover_q && k == v->hover_k)
			return false;
		v->hover_q = q;
		v->hover_k = k;
		return true;
	case VIN_LEAVE:
		v->hover_q = v->hover_k = -1;
		v->dragging = false;
		return true;
	case VIN_DOWN:
		if (in->button != 1 || !head_geom_hit(&g, in->x, in->y, &q, &k))
			return false;
		if (in->clicks >= 2) {
			v->zoom = 1, v->u0 = v->v0 = 0;
			return true;
		}
		v->dragging = true;
		v->drag_x = in->x;
		v->drag_y = in->y;
		return false;
	case VIN_UP:
		v->dragging = false;
		return false;
	case VIN_WHEEL: {
		double x = in->x, y = in->y;
		if (!head_geom_hit(&g, x, y, &q, &k))
			x = g.vx + g.vw / 2, y = g.vy + g.vh / 2;
		head_geom_zoom_at(&g, pow(1.25, in->wheel), x, y, maxz);
		v->zoom = g.zoom, v->u0 = g.u0, v->v0 = g.v0;
		if (head_geom_hit(&g, in->x, in->y, &q, &k))
			v->hover_q = q, v->hover_k = k;
		return true;
	}
	default:
		return false;
	}
}

int
view_head_save(struct viewer *v, const char *path)
{
	struct head_slot *s = cur_slot(v);
	if (!s || !s->map)
		return err_set(ERR_NOTFOUND, "layer %d head %d is not loaded", v->layer,
			v->head);
	char title[512];
	struct render_heatmap_opts o;
	int w, h;
	figure_opts(v, s, title, sizeof title, &o);
	int rc = render_heatmap_size(s->n_q, s->n_k, &w, &h);
	return rc ? rc : render_heatmap_png(path, w, h, s->map, s->n_q, s->n_k, &o);
}

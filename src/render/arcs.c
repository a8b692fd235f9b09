/*
 * arcs.c — the token dependency graph: the tokens twice side by side
 * (queries left, keys right) or once on a line, with an edge per
 * (query, key) pair whose attention weight passes a threshold, one colour
 * per head or the heads' mean. See render.h.
 */
#include "render/render.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COL_LABEL  0x222222ffu
#define COL_CAP    0x555555ffu
#define COL_TITLE  0x111111ffu
#define COL_FOCUS  0xfff1a8ffu
#define COL_OFF    0xb9bdc4ffu
#define COL_MEAN   0x2b5d9affu

#define MAX_COUNT 4096

/* ========================================================================
 * Layout (pure)
 * ======================================================================== */

/* Smallest stride from 1, 2, 5, 10, 20, 50, ... with stride * step >= need
 * (render.c's rule for heatmap labels). */
static int
stride_for(double step, double need)
{
	static const int base[3] = { 1, 2, 5 };
	if (!(step > 0))
		return RENDER_MAX_SIDE;
	for (long mag = 1; mag <= RENDER_MAX_SIDE; mag *= 10)
		for (int i = 0; i < 3; i++)
			if (base[i] * mag * step >= need * 0.999)
				return (int)(base[i] * mag);
	return RENDER_MAX_SIDE;
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

/* Legend chips: a swatch and "H<id>". */
static void
legend_layout(struct render_arcs_layout *a, const struct render_arcs_opts *o,
	double pad, double width, double y)
{
	double fs = a->font_size;
	int maxid = 0;
	for (int i = 0; i < o->n_legend; i++)
		if (o->legend_ids && o->legend_ids[i] > maxid)
			maxid = o->legend_ids[i];
	if (!o->legend_ids)
		maxid = o->n_legend - 1;
	a->n_legend = o->n_legend;
	a->chip_w = round(fs + 4 + (1 + digits(maxid)) * 0.64 * fs + fs);
	a->chip_h = a->line_h + 2;
	int cols = (int)((width - 2 * pad) / a->chip_w);
	a->legend_cols = cols < 1 ? 1 : cols > o->n_legend ? o->n_legend : cols;
	double total = a->legend_cols * a->chip_w;
	a->legend_x = round(fmax(pad, (width - total) / 2));
	a->legend_y = y;
}

int
render_arcs_layout(double width, double height, int n_tok,
	const struct render_arcs_opts *opts, struct render_arcs_layout *a)
{
	struct render_arcs_opts none = { 0 };
	const struct render_arcs_opts *o = opts ? opts : &none;
	if (!a || !(width >= 1 && height >= 1) || n_tok < 1 ||
	    n_tok > RENDER_MAX_SIDE || (unsigned)o->style >= RENDER_ARCS_STYLE_COUNT ||
	    o->n_legend < 0 || o->n_legend > MAX_COUNT)
		return err_set(ERR_ARG, "render: bad graph of %d tokens in %g x %g",
			n_tok, width, height);
	memset(a, 0, sizeof *a);
	double fs = o->font_size > 0 ? o->font_size : RENDER_DEFAULT_FONT_SIZE;
	double lh = round(1.3 * fs), pad = round(0.8 * fs), gap = round(0.6 * fs);
	a->style = o->style;
	a->n_tok = n_tok;
	a->font_size = fs;
	a->line_h = lh;
	a->width = width;
	a->height = height;

	double y = pad;
	if (o->title && o->title[0])
		y += round(1.3 * 1.25 * fs) + gap;
	if (o->n_legend > 0) {
		legend_layout(a, o, pad, width, y);
		int rows = (o->n_legend + a->legend_cols - 1) / a->legend_cols;
		y += rows * a->chip_h + gap;
	}
	int first = o->first < 0 ? 0 : o->first >= n_tok ? n_tok - 1 : o->first;
	a->first = first;

	if (o->style == RENDER_ARCS_COLUMNS) {
		y += lh + gap / 2;                 /* "query" / "key" captions */
		double avail = height - y - pad;
		if (avail < 1)
			avail = 1;
		int count;
		double step;
		if (o->count > 0) {
			count = o->count;
			step = o->step > 0 ? o->step : avail / count;
		} else if (o->step > 0) {
			step = o->step;
			count = (int)floor(avail / step + 1e-9);
		} else {
			count = n_tok - first;
			step = avail / count;
		}
		if (count < 1)
			count = 1;
		if (count > n_tok - first)
			count = n_tok - first;
		a->count = count;
		a->step = step;
		a->y0 = round(y);
		a->col_w = round(fmin(16 * fs, fmax(5 * fs, 0.22 * width)));
		double edges = width - 2 * pad - 2 * a->col_w;
		edges = fmin(edges, fmax(3 * a->col_w, 0.3 * width));
		edges = fmin(edges, 40 * fs);
		if (edges < 2 * fs)
			edges = 2 * fs;
		a->q_x = round(width / 2 - edges / 2);
		a->k_x = round(width / 2 + edges / 2);
		a->label_stride = stride_for(step, lh * 0.95);
	} else {
		double avail_w = width - 2 * pad;
		int count;
		double step;
		if (o->count > 0) {
			count = o->count;
			step = o->step > 0 ? o->step : avail_w / count;
		} else if (o->step > 0) {
			step = o->step;
			count = (int)floor(avail_w / step + 1e-9);
		} else {
			count = n_tok - first;
			step = avail_w / count;
		}
		if (count < 1)
			count = 1;
		if (count > n_tok - first)
			count = n_tok - first;
		a->count = count;
		a->step = step;
		a->x0 = round(pad + fmax(0.0, (avail_w - count * step) / 2));
		/* horizontal labels when about five characters fit a slot,
		 * else rotated ones (reading upwards) */
		bool flat = step >= 5 * 0.62 * fs;
		a->col_w = flat ? step - 2 : round(fmin(12 * fs, 0.3 * height));
		a->lab_h = flat ? lh : a->col_w;
		a->label_stride = flat ? 1 : stride_for(step, lh * 0.95);
		a->base_y = round(height - pad - a->lab_h - gap / 2);
		a->arc_h = fmax(4.0, a->base_y - y - gap);
		a->y0 = y;
	}
	return 0;
}

enum render_arcs_hit_kind
render_arcs_hit(const struct render_arcs_layout *a, double x, double y,
	int *index)
{
	if (!a || !(a->step > 0))
		return RENDER_ARCS_HIT_NONE;
	if (a->n_legend > 0 && y >= a->legend_y && x >= a->legend_x) {
		int c = (int)((x - a->legend_x) / a->chip_w);
		int r = (int)((y - a->legend_y) / a->chip_h);
		int i = r * a->legend_cols + c;
		if (c < a->legend_cols && i < a->n_legend && r >= 0 &&
		    y < a->legend_y + (r + 1) * a->chip_h) {
			if (index)
				*index = i;
			return RENDER_ARCS_HIT_LEGEND;
		}
	}
	if (a->style == RENDER_ARCS_COLUMNS) {
		double v = (y - a->y0) / a->step;
		if (!(v >= 0 && v < a->count))
			return RENDER_ARCS_HIT_NONE;
		int t = a->first + (int)v;
		double anchor = round(0.5 * a->font_size);
		if (x >= a->q_x - a->col_w - anchor && x <= a->q_x + anchor) {
			if (index)
				*index = t;
			return RENDER_ARCS_HIT_QUERY;
		}
		if (x >= a->k_x - anchor && x <= a->k_x + a->col_w + anchor) {
			if (index)
				*index = t;
			return RENDER_ARCS_HIT_KEY;
		}
		return RENDER_ARCS_HIT_NONE;
	}
	double u = (x - a->x0) / a->step;
	if (!(u >= 0 && u < a->count))
		return RENDER_ARCS_HIT_NONE;
	if (y < a->base_y - a->line_h || y > a->base_y + a->lab_h + a->line_h)
		return RENDER_ARCS_HIT_NONE;
	if (index)
		*index = a->first + (int)u;
	return RENDER_ARCS_HIT_QUERY;
}

int
render_arcs_size(int n_tok, enum render_arcs_style style, int *width,
	int *height)
{
	if (!width || !height || n_tok < 1 || n_tok > RENDER_MAX_SIDE ||
	    (unsigned)style >= RENDER_ARCS_STYLE_COUNT)
		return err_set(ERR_ARG, "render: bad graph of %d tokens", n_tok);
	double fs = RENDER_DEFAULT_FONT_SIZE;
	if (style == RENDER_ARCS_COLUMNS) {
		double row = n_tok <= 400 ? 1.5 * fs : fmax(2.0, 6000.0 / n_tok);
		*width = 760;
		*height = (int)fmin(16000, ceil(n_tok * row + 140));
	} else {
		double slot = n_tok <= 200 ? 5.5 * fs : fmax(2.0, 11000.0 / n_tok);
		*width = (int)fmin(16000, fmax(600, ceil(n_tok * slot + 40)));
		*height = 520;
	}
	return 0;
}

/* ========================================================================
 * Drawing
 * ======================================================================== */

/* Edges are collected first and stroked in groups of equal colour and
 * weight band: one cairo_stroke() per group instead of one per edge
 * (hundreds of strokes per frame otherwise), light bands first. */
#define BANDS 16

struct edge_rec {
	int q, k, m;
	int band;          /* weight band, 0 .. BANDS-1 */
};

struct arcs {
	cairo_t *cr;
	const struct render_arcs_opts *o;
	struct render_arcs_layout a;
	struct render_text *t;
	const float *const *maps;
	int n_maps, n_tok;
	int n_q, n_k;      /* queries, keys (n_tok = max of the two) */
	int *ids;          /* legend id of each map (n_maps) */
	struct edge_rec *edges;    /* collected edges (n_edges of cap_edges) */
	size_t n_edges, cap_edges;
	bool oom;
	float *shade;      /* focus: weight of each token at the other end */
	int *shade_head;   /* and the map giving it */
};

static double
row_y(const struct arcs *g, int t)
{
	return g->a.y0 + (t - g->a.first + 0.5) * g->a.step;
}

static double
slot_x(const struct arcs *g, int t)
{
	return g->a.x0 + (t - g->a.first + 0.5) * g->a.step;
}

/* Weight of edge (q, k) for map m, or the mean of all maps (m < 0). */
static float
weight(const struct arcs *g, int m, int q, int k)
{
	size_t at = (size_t)q * g->n_k + k;
	if (m >= 0)
		return g->maps[m] ? g->maps[m][at] : NAN;
	double s = 0;
	int n = 0;
	for (int i = 0; i < g->n_maps; i++) {
		if (!g->maps[i])
			continue;
		float v = g->maps[i][at];
		if (!isfinite(v))
			return NAN;
		s += v;
		n++;
	}
	return n ? (float)(s / n) : NAN;
}

static int
cmp_edge(const void *a, const void *b)
{
	const struct edge_rec *x = a, *y = b;
	if (x->band != y->band)
		return x->band - y->band;
	return x->m - y->m;
}

static void
edge(struct arcs *g, int m, int q, int k)
{
	float w = weight(g, m, q, k);
	if (!isfinite(w) || w <= 0 || w < g->o->threshold)
		return;
	double ww = w > 1 ? 1 : w;
	/* shading of the far end of a focused token's edges */
	if (g->o->focus >= 0 && g->shade) {
		int far = g->o->focus_key ? q : k;
		if (w > g->shade[far]) {
			g->shade[far] = w;
			g->shade_head[far] = m;
		}
	}
	if (g->n_edges == g->cap_edges) {
		size_t cap = g->cap_edges ? 2 * g->cap_edges : 1024;
		struct edge_rec *p = realloc(g->edges, cap * sizeof *p);
		if (!p) {
			g->oom = true;
			return;
		}
		g->edges = p;
		g->cap_edges = cap;
	}
	int band = (int)(ww * BANDS);
	g->edges[g->n_edges++] = (struct edge_rec){ q, k, m,
		band >= BANDS ? BANDS - 1 : band };
}

static void
edge_path(struct arcs *g, const struct edge_rec *e)
{
	cairo_t *cr = g->cr;
	if (g->a.style == RENDER_ARCS_COLUMNS) {
		double anchor = round(0.5 * g->a.font_size);
		double x1 = g->a.q_x + anchor, x2 = g->a.k_x - anchor;
		double y1 = row_y(g, e->q), y2 = row_y(g, e->k);
		double c = (x2 - x1) * 0.45;
		cairo_move_to(cr, x1, y1);
		cairo_curve_to(cr, x1 + c, y1, x2 - c, y2, x2, y2);
		return;
	}
	double x1 = slot_x(g, e->q), x2 = slot_x(g, e->k);
	double b = g->a.base_y;
	if (e->q == e->k) {         /* attention to itself: a small loop */
		double r = fmin(g->a.step / 3, 5);
		cairo_new_sub_path(cr);
		cairo_arc(cr, x1, b - r, r, 0, 2 * M_PI);
		return;
	}
	double h = fmin(g->a.arc_h, fmax(6.0, 0.5 * fabs(x2 - x1)));
	cairo_move_to(cr, x1, b);
	cairo_curve_to(cr, x1, b - h * 4 / 3, x2, b - h * 4 / 3, x2, b);
}

/* Stroke the collected edges, one group per (band, map). */
static void
stroke_edges(struct arcs *g)
{
	cairo_t *cr = g->cr;
	qsort(g->edges, g->n_edges, sizeof *g->edges, cmp_edge);
	for (size_t i = 0; i < g->n_edges;) {
		size_t j = i;
		const struct edge_rec *e = &g->edges[i];
		double ww = (e->band + 0.5) / BANDS;
		uint32_t col = g->o->mean || e->m < 0 ? COL_MEAN
			: render_head_color(g->ids[e->m]);
		cairo_set_source_rgba(cr, (col >> 24 & 0xff) / 255.0,
			(col >> 16 & 0xff) / 255.0, (col >> 8 & 0xff) / 255.0,
			0.08 + 0.82 * ww);
		cairo_set_line_width(cr, 0.8 + 2.2 * ww);
		for (; j < g->n_edges && g->edges[j].band == e->band &&
		     g->edges[j].m == e->m; j++)
			edge_path(g, &g->edges[j]);
		cairo_stroke(cr);
		i = j;
	}
	g->n_edges = 0;
}

/* Every edge of map m (m < 0: the mean) touching the window. */
static void
edges_of(struct arcs *g, int m)
{
	int nq = g->n_q, nk = g->n_k, f = g->o->focus;
	int lo = g->a.first, hi = g->a.first + g->a.count;
	if (f >= 0 && f < (g->o->focus_key ? nk : nq)) {
		if (g->o->focus_key)
			for (int o = 0; o < nq; o++)
				edge(g, m, o, f);
		else
			for (int o = 0; o < nk; o++)
				edge(g, m, f, o);
		return;
	}
	for (int q = lo; q < hi && q < nq; q++)
		for (int k = 0; k < nk; k++)
			edge(g, m, q, k);
	/* edges into visible keys from queries outside the window */
	for (int q = 0; q < nq; q++) {
		if (q >= lo && q < hi)
			continue;
		for (int k = lo; k < hi && k < nk; k++)
			edge(g, m, q, k);
	}
}

/* "index piece" or "piece" label of token t. */
static size_t
label_of(const struct arcs *g, int t, bool key_side, bool with_index,
	char *buf, size_t size)
{
	const char *const *labels = key_side && g->o->n_k > 0 ? g->o->k_labels
		: g->o->labels;
	const char *piece = labels ? labels[t] : NULL;
	if (!piece) {
		snprintf(buf, size, "%d", t);
		return 0;
	}
	size_t n = 0, dim = 0;
	if (with_index) {
		n = (size_t)snprintf(buf, size, "%d ", t);
		dim = n - 1;
	}
	render_token_label(piece, strlen(piece), buf + n, size - n);
	return dim;
}

/* Background of token t's label: the focused token is highlighted when
 * `own_side` (the side it was picked on), the far ends of its edges are
 * shaded by weight on the other side. */
static void
shade_box(struct arcs *g, int t, bool own_side, double x, double y, double w,
	double h)
{
	cairo_t *cr = g->cr;
	if (g->o->focus == t && own_side) {
		render_set_source_u32(cr, COL_FOCUS);
		cairo_rectangle(cr, x, y, w, h);
		cairo_fill(cr);
		return;
	}
	if (own_side && g->a.style == RENDER_ARCS_COLUMNS)
		return;
	if (!g->shade || !(g->shade[t] > 0))
		return;
	uint32_t col = g->o->mean ? COL_MEAN
		: render_head_color(g->ids[g->shade_head[t]]);
	double ww = g->shade[t] > 1 ? 1 : g->shade[t];
	cairo_set_source_rgba(cr, (col >> 24 & 0xff) / 255.0,
		(col >> 16 & 0xff) / 255.0, (col >> 8 & 0xff) / 255.0,
		0.12 + 0.55 * ww);
	cairo_rectangle(cr, x, y, w, h);
	cairo_fill(cr);
}

static void
draw_labels_columns(struct arcs *g)
{
	const struct render_arcs_layout *a = &g->a;
	cairo_t *cr = g->cr;
	char buf[RENDER_LABEL_BUF + 16];
	int s = a->label_stride;
	double anchor = round(0.5 * a->font_size);
	double lh = a->line_h;
	int start = (a->first + s - 1) / s * s;
	for (int side = 0; side < 2; side++) {
		bool key_side = side == 1;
		bool own = key_side == g->o->focus_key;
		int end = a->first + a->count, n_side = key_side ? g->n_k : g->n_q;
		if (end > n_side)
			end = n_side;
		for (int t = a->first; g->o->focus >= 0 && t < end; t++) {
			double y = row_y(g, t) - fmin(a->step, lh) / 2;
			double x = key_side ? a->k_x : a->q_x - a->col_w;
			shade_box(g, t, own, x, y, a->col_w, fmin(a->step, lh));
		}
		for (int t = start; t < end; t += s) {
			size_t dim = label_of(g, t, key_side, s > 1, buf, sizeof buf);
			double y = row_y(g, t);
			if (key_side)
				render_text_draw(g->t, cr, a->k_x + 2, y, buf,
					RENDER_TEXT_MIDDLE, COL_LABEL, dim, a->col_w - 2);
			else
				render_text_draw(g->t, cr, a->q_x - 2, y, buf,
					RENDER_TEXT_MIDDLE | RENDER_TEXT_RIGHT, COL_LABEL,
					dim, a->col_w - 2);
		}
		/* anchor dots */
		if (a->step >= 3) {
			render_set_source_u32(cr, COL_CAP);
			for (int t = a->first; t < end; t++) {
				double x = key_side ? a->k_x - anchor : a->q_x + anchor;
				cairo_arc(cr, x, row_y(g, t), fmin(2.0, a->step / 4),
					0, 2 * M_PI);
				cairo_fill(cr);
			}
		}
	}
	double cy = a->y0 - lh - round(0.3 * a->font_size);
	render_text_draw(g->t, cr, a->q_x - a->col_w / 2, cy,
		"query (attends)", RENDER_TEXT_CENTER | RENDER_TEXT_BOLD, COL_CAP,
		0, 0);
	render_text_draw(g->t, cr, a->k_x + a->col_w / 2, cy,
		"key (attended to)", RENDER_TEXT_CENTER | RENDER_TEXT_BOLD, COL_CAP,
		0, 0);
}

static void
draw_labels_line(struct arcs *g)
{
	const struct render_arcs_layout *a = &g->a;
	cairo_t *cr = g->cr;
	char buf[RENDER_LABEL_BUF + 16];
	int s = a->label_stride;
	bool flat = a->lab_h <= a->line_h + 0.5;
	double top = a->base_y + 3;
	for (int t = a->first; g->o->focus >= 0 && t < a->first + a->count; t++)
		shade_box(g, t, true, slot_x(g, t) - a->step / 2, top - 1, a->step,
			flat ? a->lab_h + 2 : a->lab_h);
	render_set_source_u32(cr, COL_CAP);
	cairo_set_line_width(cr, 1);
	cairo_move_to(cr, a->x0, a->base_y + 0.5);
	cairo_line_to(cr, a->x0 + a->count * a->step, a->base_y + 0.5);
	cairo_stroke(cr);
	int start = (a->first + s - 1) / s * s;
	for (int t = start; t < a->first + a->count; t += s) {
		size_t dim = label_of(g, t, false, s > 1 || !flat, buf, sizeof buf);
		double x = slot_x(g, t);
		if (flat) {
			render_text_draw(g->t, cr, x, top, buf, RENDER_TEXT_CENTER,
				COL_LABEL, dim, a->step - 2);
		} else {
			cairo_save(cr);
			cairo_translate(cr, x, top);
			cairo_rotate(cr, -M_PI / 2);
			/* rotated frame: u runs up the screen, v runs right */
			render_text_draw(g->t, cr, 0, 0, buf,
				RENDER_TEXT_RIGHT | RENDER_TEXT_MIDDLE, COL_LABEL, dim,
				a->lab_h);
			cairo_restore(cr);
		}
	}
}

static void
draw_legend(struct arcs *g)
{
	const struct render_arcs_layout *a = &g->a;
	const struct render_arcs_opts *o = g->o;
	cairo_t *cr = g->cr;
	char buf[32];
	double sw = round(0.9 * a->font_size);
	for (int i = 0; i < o->n_legend; i++) {
		int id = o->legend_ids ? o->legend_ids[i] : i;
		bool on = o->legend_on ? o->legend_on[i] : true;
		double x = a->legend_x + (i % a->legend_cols) * a->chip_w;
		double y = a->legend_y + (i / a->legend_cols) * a->chip_h;
		double sy = y + (a->chip_h - sw) / 2;
		if (on) {
			render_set_source_u32(cr, o->mean ? COL_MEAN
				: render_head_color(id));
			cairo_rectangle(cr, x, sy, sw, sw);
			cairo_fill(cr);
		} else {
			render_set_source_u32(cr, COL_OFF);
			cairo_set_line_width(cr, 1);
			cairo_rectangle(cr, x + 0.5, sy + 0.5, sw - 1, sw - 1);
			cairo_stroke(cr);
		}
		snprintf(buf, sizeof buf, "H%d", id);
		render_text_draw(g->t, cr, x + sw + 4, y + a->chip_h / 2, buf,
			RENDER_TEXT_MIDDLE, on ? COL_LABEL : COL_OFF, 0, 0);
	}
}

int
render_arcs(cairo_t *cr, double width, double height,
	const float *const *maps, int n_maps, int n_tok,
	const struct render_arcs_opts *opts)
{
	struct render_arcs_opts none = { 0 }, cross;
	struct arcs g = { 0 };
	int rc;
	if (!cr || (n_maps > 0 && !maps) || n_maps < 0)
		return err_set(ERR_ARG, "render: no graph to draw");
	g.o = opts ? opts : &none;
	g.n_q = n_tok;
	g.n_k = g.o->n_k > 0 ? g.o->n_k : n_tok;
	if (g.o->n_k > 0) {
		/* two sequences: only the columns style can show them */
		cross = *g.o;
		cross.style = RENDER_ARCS_COLUMNS;
		g.o = &cross;
		if (g.n_k > n_tok)
			n_tok = g.n_k;
	}
	if ((rc = render_arcs_layout(width, height, n_tok, g.o, &g.a)) < 0)
		return rc;
	g.cr = cr;
	g.maps = maps;
	g.n_maps = n_maps;
	g.n_tok = n_tok;
	g.ids = calloc((size_t)(n_maps > 0 ? n_maps : 1), sizeof *g.ids);
	if (!g.ids) {
		rc = err_set(ERR_NOMEM, "render: out of memory for the graph");
		goto out;
	}
	/* map i belongs to the i-th legend entry that is on */
	for (int i = 0, m = 0; m < n_maps; i++) {
		if (i >= g.o->n_legend) {
			g.ids[m++] = i;
			continue;
		}
		if (!g.o->legend_on || g.o->legend_on[i])
			g.ids[m++] = g.o->legend_ids ? g.o->legend_ids[i] : i;
	}
	if (g.o->focus >= 0 && g.o->focus < n_tok) {
		g.shade = calloc((size_t)n_tok, sizeof *g.shade);
		g.shade_head = calloc((size_t)n_tok, sizeof *g.shade_head);
		if (!g.shade || !g.shade_head) {
			rc = err_set(ERR_NOMEM, "render: out of memory for the graph");
			goto out;
		}
	}
	g.t = render_text_create(g.a.font_size, &rc);
	if (!g.t)
		goto out;

	cairo_save(cr);
	if (g.o->title && g.o->title[0])
		render_text_draw(g.t, cr, width / 2, round(0.8 * g.a.font_size),
			g.o->title, RENDER_TEXT_TITLE | RENDER_TEXT_CENTER, COL_TITLE,
			0, width - 2 * round(0.8 * g.a.font_size));
	if (g.o->n_legend > 0)
		draw_legend(&g);

	/* edges under the labels, clipped to the graph area */
	cairo_save(cr);
	if (g.a.style == RENDER_ARCS_COLUMNS)
		cairo_rectangle(cr, 0, g.a.y0, width, g.a.count * g.a.step);
	else
		cairo_rectangle(cr, g.a.x0, g.a.y0, g.a.count * g.a.step,
			g.a.base_y - g.a.y0 + 1);
	cairo_clip(cr);
	cairo_set_line_cap(cr, CAIRO_LINE_CAP_ROUND);
	if (g.o->mean)
		edges_of(&g, -1);
	else
		for (int m = 0; m < n_maps; m++)
			if (maps[m])
				edges_of(&g, m);
	stroke_edges(&g);
	cairo_restore(cr);
	if (g.oom) {
		cairo_restore(cr);
		rc = err_set(ERR_NOMEM, "render: out of memory for the graph's edges");
		goto out;
	}

	if (g.a.style == RENDER_ARCS_COLUMNS)
		draw_labels_columns(&g);
	else
		draw_labels_line(&g);
	cairo_restore(cr);
	if (cairo_status(cr) != CAIRO_STATUS_SUCCESS)
		rc = err_set(ERR_NOMEM, "render: drawing the graph failed: %s",
			cairo_status_to_string(cairo_status(cr)));
out:
	render_text_free(g.t);
	free(g.edges);
	free(g.shade_head);
	free(g.shade);
	free(g.ids);
	return rc;
}

/*
 * matrix.c — the dataset view: one value per (layer, head), e.g. a head
 * statistic averaged over a run, as a coloured layers x heads matrix with
 * labels, optional values in the cells and a colour bar. See render.h.
 */
#include "render/render.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COL_LABEL  0x333333ffu
#define COL_TITLE  0x111111ffu
#define COL_NODATA 0xe6e8ecffu
#define COL_HATCH  0xb9bdc4ffu
#define COL_FRAME  0x333333ffu

#define MAX_COUNT 4096

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

static int
pow2_stride(double pitch, double need)
{
	int s = 1;
	while (s < MAX_COUNT && s * pitch < need)
		s *= 2;
	return s;
}

int
render_matrix_layout(double width, double height, int n_layer, int n_head,
	const struct render_matrix_opts *opts, struct render_matrix_layout *m)
{
	struct render_matrix_opts none = { 0 };
	const struct render_matrix_opts *o = opts ? opts : &none;
	if (!m || !(width >= 1 && height >= 1) || n_layer < 1 || n_head < 1 ||
	    n_layer > MAX_COUNT || n_head > MAX_COUNT)
		return err_set(ERR_ARG, "render: bad matrix %d x %d in %g x %g",
			n_layer, n_head, width, height);
	memset(m, 0, sizeof *m);
	double fs = o->font_size > 0 ? o->font_size : RENDER_DEFAULT_FONT_SIZE;
	double lh = round(1.3 * fs), pad = round(0.8 * fs), gap = round(0.6 * fs);
	m->n_layer = n_layer;
	m->n_head = n_head;
	m->font_size = fs;
	m->line_h = lh;
	double left = pad + (1 + digits(n_layer - 1)) * 0.64 * fs + gap;
	double top = pad + (o->title && o->title[0] ? round(1.3 * 1.25 * fs) + gap
		: 0) + lh + 2;
	m->bar_w = round(1.3 * fs);
	double right = 1.5 * gap + m->bar_w + 4 + 6 * 0.64 * fs + gap + lh + pad;
	double bottom = pad;
	double aw = width - left - right, ah = height - top - bottom;
	double cell = fmin(aw / n_head, ah / n_layer);
	if (cell < 1)
		cell = 1;
	/* large enough to read, small enough to take in at a glance */
	if (cell > 10 * fs)
		cell = round(10 * fs);
	if (cell >= 3)
		cell = floor(cell);
	m->cell_w = m->cell_h = cell;
	double gw = n_head * cell, gh = n_layer * cell;
	m->x = round(left + fmax(0.0, (aw - gw) / 2));
	m->y = round(top + fmax(0.0, (ah - gh) / 2));
	m->bar_x = round(m->x + gw + 1.5 * gap);
	m->bar_y = m->y;
	m->bar_h = gh;
	m->col_stride = pow2_stride(cell, (1 + digits(n_head - 1)) * 0.64 * fs + 4);
	m->row_stride = pow2_stride(cell, lh * 0.95);
	m->values_fit = cell >= 3.0 * fs && cell >= lh;
	return 0;
}

bool
render_matrix_hit(const struct render_matrix_layout *m, double x, double y,
	int *layer, int *head)
{
	if (!m || !(m->cell_w > 0) || !(m->cell_h > 0))
		return false;
	double u = (x - m->x) / m->cell_w, v = (y - m->y) / m->cell_h;
	if (!(u >= 0 && v >= 0 && u < m->n_head && v < m->n_layer))
		return false;
	if (layer)
		*layer = (int)v;
	if (head)
		*head = (int)u;
	return true;
}

int
render_matrix_size(int n_layer, int n_head, int *width, int *height)
{
	if (!width || !height || n_layer < 1 || n_head < 1 ||
	    n_layer > MAX_COUNT || n_head > MAX_COUNT)
		return err_set(ERR_ARG, "render: bad matrix %d x %d", n_layer, n_head);
	int n = n_layer > n_head ? n_layer : n_head;
	double cell = n <= 12 ? 48 : n <= 32 ? 26 : fmax(4.0, 1600.0 / n);
	int w = (int)ceil(n_head * cell) + 170;
	int h = (int)ceil(n_layer * cell) + 80;
	*width = w < 560 ? 560 : w > 16384 ? 16384 : w;
	*height = h < 280 ? 280 : h > 16384 ? 16384 : h;
	return 0;
}

static void
fmt_value(double v, char *buf, size_t size)
{
	double a = fabs(v);
	if (!isfinite(v))
		snprintf(buf, size, "–");
	else if (a >= 1e4)
		snprintf(buf, size, "%.1e", v);
	else if (a < 0.005)
		snprintf(buf, size, "0.00");
	else if (a >= 100)
		snprintf(buf, size, "%.0f", v);
	else if (a >= 10)
		snprintf(buf, size, "%.1f", v);
	else
		snprintf(buf, size, "%.2f", v);
}

/* Perceived luminance of an 0xAARRGGBB pixel, 0..1. */
static double
luma(uint32_t argb)
{
	return (0.299 * (argb >> 16 & 0xff) + 0.587 * (argb >> 8 & 0xff) +
		0.114 * (argb & 0xff)) / 255.0;
}

int
render_matrix(cairo_t *cr, double width, double height, const double *values,
	int n_layer, int n_head, const struct render_matrix_opts *opts)
{
	struct render_matrix_opts none = { 0 };
	const struct render_matrix_opts *o = opts ? opts : &none;
	struct render_matrix_layout m;
	if (!cr || !values)
		return err_set(ERR_ARG, "render: no matrix to draw");
	if ((unsigned)o->cmap >= RENDER_CMAP_COUNT)
		return err_set(ERR_ARG, "render: invalid colormap %d", (int)o->cmap);
	int rc = render_matrix_layout(width, height, n_layer, n_head, o, &m);
	if (rc < 0)
		return rc;
	struct render_text *t = render_text_create(m.font_size, &rc);
	if (!t)
		return rc;

	/* colour range */
	double lo = o->vmin, hi = o->vmax;
	if (!(isfinite(lo) && isfinite(hi) && hi > lo)) {
		lo = INFINITY;
		hi = -INFINITY;
		for (int i = 0; i < n_layer * n_head; i++)
			if (isfinite(values[i])) {
				lo = fmin(lo, values[i]);
				hi = fmax(hi, values[i]);
			}
		if (!isfinite(lo))
			lo = 0, hi = 1;
		else if (lo > 0)
			lo = 0;      /* non-negative statistics: the scale starts at 0 */
		if (!(hi > lo))
			hi = lo + (lo == 0 ? 1 : fabs(lo) * 0.01);
	}

	cairo_save(cr);
	double pad = round(0.8 * m.font_size);
	if (o->title && o->title[0])
		render_text_draw(t, cr, width / 2, pad, o->title,
			RENDER_TEXT_TITLE | RENDER_TEXT_CENTER, COL_TITLE, 0,
			width - 2 * pad);
	char buf[64];
	for (int h = 0; h < n_head; h += m.col_stride) {
		snprintf(buf, sizeof buf, "H%d", h);
		render_text_draw(t, cr, m.x + (h + 0.5) * m.cell_w,
			m.y - m.line_h - 2, buf, RENDER_TEXT_CENTER, COL_LABEL, 0, 0);
	}
	for (int l = 0; l < n_layer; l += m.row_stride) {
		snprintf(buf, sizeof buf, "L%d", l);
		render_text_draw(t, cr, m.x - round(0.5 * m.font_size),
			m.y + (l + 0.5) * m.cell_h, buf,
			RENDER_TEXT_RIGHT | RENDER_TEXT_MIDDLE, COL_LABEL, 0, 0);
	}

	bool show = o->show_values && m.values_fit;
	for (int l = 0; l < n_layer; l++) {
		for (int h = 0; h < n_head; h++) {
			double v = values[l * n_head + h];
			double x = m.x + h * m.cell_w, y = m.y + l * m.cell_h;
			uint32_t px = 0;
			if (isfinite(v)) {
				double tt = (v - lo) / (hi - lo);
				int ci = (int)(fmin(fmax(tt, 0), 1) * 255.999);
				px = render_cmap_argb(o->cmap, ci);
				render_set_source_u32(cr, px << 8 | 0xff);
				cairo_rectangle(cr, x, y, m.cell_w, m.cell_h);
				cairo_fill(cr);
			} else {
				render_set_source_u32(cr, COL_NODATA);
				cairo_rectangle(cr, x, y, m.cell_w, m.cell_h);
				cairo_fill(cr);
				cairo_save(cr);
				cairo_rectangle(cr, x, y, m.cell_w, m.cell_h);
				cairo_clip(cr);
				render_set_source_u32(cr, COL_HATCH);
				cairo_set_line_width(cr, 1);
				double step = fmax(4.0, m.cell_w / 4);
				for (double d = -m.cell_h; d < m.cell_w; d += step) {
					cairo_move_to(cr, x + d, y + m.cell_h);
					cairo_line_to(cr, x + d + m.cell_h, y);
				}
				cairo_stroke(cr);
				cairo_restore(cr);
			}
			if (show && isfinite(v)) {
				fmt_value(v, buf, sizeof buf);
				render_text_draw(t, cr, x + m.cell_w / 2, y + m.cell_h / 2,
					buf, (m.cell_w >= 6 * m.font_size ? 0 : RENDER_TEXT_SMALL) |
					RENDER_TEXT_CENTER | RENDER_TEXT_MIDDLE,
					luma(px) > 0.55 ? 0x111111ffu : 0xffffffffu, 0,
					m.cell_w - 2);
			}
		}
	}
	/* thin separators between cells when they are large */
	if (m.cell_w >= 8) {
		cairo_set_source_rgba(cr, 1, 1, 1, 0.8);
		cairo_set_line_width(cr, 1);
		for (int h = 1; h < n_head; h++) {
			cairo_move_to(cr, m.x + h * m.cell_w, m.y);
			cairo_line_to(cr, m.x + h * m.cell_w, m.y + n_layer * m.cell_h);
		}
		for (int l = 1; l < n_layer; l++) {
			cairo_move_to(cr, m.x, m.y + l * m.cell_h);
			cairo_line_to(cr, m.x + n_head * m.cell_w, m.y + l * m.cell_h);
		}
		cairo_stroke(cr);
	}
	render_set_source_u32(cr, COL_FRAME);
	cairo_set_line_width(cr, 1);
	cairo_rectangle(cr, m.x - 0.5, m.y - 0.5, n_head * m.cell_w + 1,
		n_layer * m.cell_h + 1);
	cairo_stroke(cr);

	/* colour bar: top = high */
	for (int j = 0; j < 128; j++) {
		render_set_source_u32(cr, render_cmap_argb(o->cmap,
			255 - j * 2) << 8 | 0xff);
		cairo_rectangle(cr, m.bar_x, m.bar_y + j * m.bar_h / 128, m.bar_w,
			m.bar_h / 128 + 0.6);
		cairo_fill(cr);
	}
	render_set_source_u32(cr, COL_FRAME);
	cairo_rectangle(cr, m.bar_x - 0.5, m.bar_y - 0.5, m.bar_w + 1,
		m.bar_h + 1);
	cairo_stroke(cr);
	int nt = m.bar_h >= 4 * m.line_h ? 3 : 2;
	double tx = m.bar_x + m.bar_w + 1, tw_max = 0;
	for (int i = 0; i < nt; i++) {
		double f = (double)i / (nt - 1);
		double y = round(m.bar_y + m.bar_h - f * m.bar_h) + 0.5;
		cairo_move_to(cr, tx, y);
		cairo_line_to(cr, tx + 4, y);
		cairo_stroke(cr);
		fmt_value(lo + f * (hi - lo), buf, sizeof buf);
		double y2 = fmin(fmax(y, m.bar_y + m.line_h / 2),
			m.bar_y + m.bar_h - m.line_h / 2);
		double w = render_text_draw(t, cr, tx + 6, y2, buf,
			RENDER_TEXT_MIDDLE, COL_LABEL, 0, 0);
		tw_max = fmax(tw_max, w);
	}
	if (o->value_label && o->value_label[0]) {
		cairo_save(cr);
		cairo_translate(cr, tx + 6 + tw_max + round(0.6 * m.font_size),
			m.bar_y + m.bar_h / 2);
		cairo_rotate(cr, -M_PI / 2);
		render_text_draw(t, cr, 0, 0, o->value_label, RENDER_TEXT_CENTER,
			COL_LABEL, 0, fmax(m.bar_h, 40));
		cairo_restore(cr);
	}
	cairo_restore(cr);
	render_text_free(t);
	if (cairo_status(cr) != CAIRO_STATUS_SUCCESS)
		return err_set(ERR_NOMEM, "render: drawing the matrix failed: %s",
			cairo_status_to_string(cairo_status(cr)));
	return 0;
}

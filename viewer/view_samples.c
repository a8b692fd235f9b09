/*
 * view_samples.c — the samples view: the run's samples as a list (index,
 * tokens, loss, the current head's metric, text), filtered by the search
 * line and sorted by a clicked column or `o`.
 */
#include "viewer.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define COL_TEXT    0x222222ffu
#define COL_DIM     0x6b6f76ffu
#define COL_HEAD_BG 0xf6f7f9ffu
#define COL_LINE    0xe2e5e9ffu
#define COL_SEL     0xdbe8f7ffu
#define COL_HOVER   0xf1f4f8ffu
#define COL_ACCENT  0x2b6cb0ffu
#define COL_SEARCH  0xfff8dcffu

void
view_samples_layout(const struct vrect *r, bool search_bar, double line_h,
	struct samples_layout *l)
{
	memset(l, 0, sizeof *l);
	double y = r->y;
	double sh = search_bar ? round(line_h + 12) : 0;
	l->search = (struct vrect){ r->x, y, r->w, sh };
	y += sh;
	double hh = round(line_h + 10);
	l->header = (struct vrect){ r->x, y, r->w, hh };
	y += hh;
	l->row_h = round(line_h * 1.5);
	l->body = (struct vrect){ r->x, y, r->w, fmax(0.0, r->y + r->h - y) };
	l->visible = (int)(l->body.h / l->row_h);
	if (l->visible < 1)
		l->visible = 1;
	static const double w[4] = { 64, 70, 76, 150 };
	double x = r->x + 10;
	for (int i = 0; i < 4; i++) {
		l->col_x[i] = x;
		x += w[i];
	}
	l->col_x[4] = x;
	l->col_x[5] = r->x + r->w - 10;
}

int
view_samples_hit(const struct samples_layout *l, int list_top, int n_order,
	double x, double y)
{
	if (!vrect_has(&l->body, x, y))
		return -1;
	int i = list_top + (int)((y - l->body.y) / l->row_h);
	return i >= 0 && i < n_order ? i : -1;
}

static bool
search_bar(const struct viewer *v)
{
	return v->searching || v->search[0];
}

/* Column under x in the header: 0 index, 1 tokens, 2 loss, 3 metric. */
static int
header_column(const struct samples_layout *l, double x)
{
	for (int i = 0; i < 4; i++)
		if (x >= l->col_x[i] && x < l->col_x[i + 1])
			return i;
	return -1;
}

/* Flatten a sample text to one line (newlines and tabs as spaces). */
static void
one_line(const char *s, char *out, size_t size)
{
	size_t n = 0;
	for (; s && *s && n + 1 < size && n < 400; s++)
		out[n++] = (*s == '\n' || *s == '\t' || *s == '\r') ? ' ' : *s;
	out[n] = '\0';
}

void
view_samples_draw(struct viewer *v, cairo_t *cr, const struct vrect *r)
{
	struct samples_layout l;
	double lh = render_text_line_height(v->text);
	view_samples_layout(r, search_bar(v), lh, &l);
	char buf[512];

	if (search_bar(v)) {
		render_set_source_u32(cr, COL_SEARCH);
		cairo_rectangle(cr, l.search.x, l.search.y, l.search.w, l.search.h);
		cairo_fill(cr);
		snprintf(buf, sizeof buf, "search: %s%s", v->search,
			v->searching ? "▏" : "");
		double w = render_text_draw(v->text, cr, l.search.x + 10,
			l.search.y + l.search.h / 2, buf, RENDER_TEXT_MIDDLE, COL_TEXT,
			7, l.search.w / 2);
		snprintf(buf, sizeof buf, "%d of %d samples%s", v->n_order, v->n_rows,
			v->searching ? " · Enter keeps the filter, Esc clears it" : "");
		render_text_draw(v->text, cr, l.search.x + 24 + w,
			l.search.y + l.search.h / 2, buf, RENDER_TEXT_MIDDLE, COL_DIM, 0,
			0);
	}

	/* header */
	render_set_source_u32(cr, COL_HEAD_BG);
	cairo_rectangle(cr, l.header.x, l.header.y, l.header.w, l.header.h);
	cairo_fill(cr);
	const char *metric = ana_stat_name((enum ana_stat)v->metric);
	char mcol[96];
	snprintf(mcol, sizeof mcol, "%s L%dH%d", metric, v->layer, v->head);
	const char *titles[5] = { "sample", "tokens", "loss", mcol, "text" };
	int sorted = v->sort == SORT_INDEX ? 0 : v->sort == SORT_LOSS ? 2 : 3;
	for (int i = 0; i < 5; i++) {
		snprintf(buf, sizeof buf, "%s%s", titles[i], i == sorted
			? (v->sort_desc ? " ▼" : " ▲") : "");
		render_text_draw(v->text, cr, l.col_x[i], l.header.y + l.header.h / 2,
			buf, RENDER_TEXT_MIDDLE | RENDER_TEXT_BOLD,
			i == sorted ? COL_ACCENT : COL_TEXT, 0,
			l.col_x[i + 1] - l.col_x[i] - 6);
	}

	if (v->n_order == 0) {
		snprintf(buf, sizeof buf, "no sample text contains “%s”", v->search);
		ui_message(v, cr, &l.body, "no matching samples", buf);
		return;
	}
	/* keep the current sample in view after keyboard moves */
	if (v->list_follow) {
		int pos = -1;
		for (int i = 0; i < v->n_order; i++)
			if (v->order[i] == v->cur_row)
				pos = i;
		if (pos >= 0 && pos < v->list_top)
			v->list_top = pos;
		if (pos >= v->list_top + l.visible)
			v->list_top = pos - l.visible + 1;
		v->list_follow = false;
	}
	if (v->list_top > v->n_order - l.visible)
		v->list_top = v->n_order - l.visible;
	if (v->list_top < 0)
		v->list_top = 0;

	const struct stat_table *t = &v->stats[v->metric];
	int lhs = v->n_layer * v->n_head;
	cairo_save(cr);
	cairo_rectangle(cr, l.body.x, l.body.y, l.body.w, l.body.h);
	cairo_clip(cr);
	for (int i = v->list_top; i < v->n_order && i < v->list_top + l.visible + 1;
	     i++) {
		int row = v->order[i];
		const struct sample_row *s = &v->rows[row];
		double y = l.body.y + (i - v->list_top) * l.row_h;
		uint32_t bg = row == v->cur_row ? COL_SEL
			: i == v->list_hover ? COL_HOVER : 0;
		if (bg) {
			render_set_source_u32(cr, bg);
			cairo_rectangle(cr, l.body.x, y, l.body.w, l.row_h);
			cairo_fill(cr);
		}
		render_set_source_u32(cr, COL_LINE);
		cairo_rectangle(cr, l.body.x, y + l.row_h - 1, l.body.w, 1);
		cairo_fill(cr);
		double cy = y + l.row_h / 2;
		snprintf(buf, sizeof buf, "%" PRId64, s->index);
		render_text_draw(v->text, cr, l.col_x[0], cy, buf, RENDER_TEXT_MIDDLE,
			COL_TEXT, 0, 0);
		snprintf(buf, sizeof buf, "%d", s->n_tok);
		render_text_draw(v->text, cr, l.col_x[1], cy, buf, RENDER_TEXT_MIDDLE,
			COL_TEXT, 0, 0);
		if (isfinite(s->loss))
			snprintf(buf, sizeof buf, "%.3f", s->loss);
		else
			snprintf(buf, sizeof buf, "–");
		render_text_draw(v->text, cr, l.col_x[2], cy, buf, RENDER_TEXT_MIDDLE,
			COL_TEXT, 0, 0);
		if (t->v && row < t->n_done && lhs > 0) {
			double m = t->v[(size_t)row * lhs + v->layer * v->n_head + v->head];
			if (isfinite(m))
				snprintf(buf, sizeof buf, "%.3f", m);
			else
				snprintf(buf, sizeof buf, "–");
		} else {
			snprintf(buf, sizeof buf, t->err ? "error" : "·");
		}
		render_text_draw(v->text, cr, l.col_x[3], cy, buf, RENDER_TEXT_MIDDLE,
			COL_TEXT, 0, 0);
		if (s->text)
			one_line(s->text, buf, sizeof buf);
		else
			snprintf(buf, sizeof buf, "(token ids)");
		render_text_draw(v->text, cr, l.col_x[4], cy, buf, RENDER_TEXT_MIDDLE,
			s->text ? COL_TEXT : COL_DIM, 0, l.col_x[5] - l.col_x[4]);
	}
	cairo_restore(cr);

	if (v->list_hover >= 0 && v->list_hover < v->n_order) {
		const struct sample_row *s = &v->rows[v->order[v->list_hover]];
		snprintf(v->info, sizeof v->info, "sample %" PRId64 " · %d tokens · "
			"click: select, double-click: open the model view", s->index,
			s->n_tok);
	} else {
		snprintf(v->info, sizeof v->info, "%d sample%s · sorted by %s · "
			"/ search · o sort · Enter open", v->n_order,
			v->n_order == 1 ? "" : "s",
			v->sort == SORT_INDEX ? "index" : v->sort == SORT_LOSS ? "loss"
			: metric);
	}
	if (t->err && v->sort == SORT_METRIC)
		snprintf(v->info, sizeof v->info, "cannot read %s: %s", metric,
			t->msg ? t->msg : err_str(t->err));
}

bool
view_samples_input(struct viewer *v, const struct vrect *r,
	const struct vin *in)
{
	struct samples_layout l;
	view_samples_layout(r, search_bar(v), render_text_line_height(v->text), &l);
	int hit = view_samples_hit(&l, v->list_top, v->n_order, in->x, in->y);
	switch (in->type) {
	case VIN_MOTION:
		if (hit != v->list_hover) {
			v->list_hover = hit;
			return true;
		}
		return false;
	case VIN_LEAVE:
		v->list_hover = -1;
		return true;
	case VIN_WHEEL: {
		int top = v->list_top - (int)lround(3 * in->wheel);
		if (top > v->n_order - l.visible)
			top = v->n_order - l.visible;
		if (top < 0)
			top = 0;
		if (top == v->list_top)
			return false;
		v->list_top = top;
		v->list_hover = view_samples_hit(&l, top, v->n_order, in->x, in->y);
		return true;
	}
	case VIN_DOWN:
		if (vrect_has(&l.header, in->x, in->y)) {
			int col = header_column(&l, in->x);
			enum sort_key k = col == 2 ? SORT_LOSS : col == 3 ? SORT_METRIC
				: SORT_INDEX;
			if (col < 0 || col == 1)
				return false;
			if (v->sort == k)
				v->sort_desc = !v->sort_desc;
			else
				v->sort = k, v->sort_desc = k != SORT_INDEX;
			viewer_reorder(v);
			return true;
		}
		if (hit < 0)
			return false;
		viewer_select_row(v, v->order[hit]);
		if (in->clicks >= 2)
			viewer_set_view(v, VIEW_MODEL);
		return true;
	default:
		return false;
	}
}

/*
 * view_dataset.c — the dataset view: a layers x heads matrix coloured by
 * a head statistic averaged over the run (render_matrix(), the code of
 * `export --stats`), with the metric picked from a row of tabs. A click
 * opens the sample where that head scores highest.
 */
#include "viewer.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COL_TAB    0xf1f3f6ffu
#define COL_TAB_ON 0x2b6cb0ffu
#define COL_TEXT   0x222222ffu
#define COL_SEL    0xff6a00ffu
#define COL_HOVER  0x111111ffu

/* Metric tabs along the top, the matrix below. Pure. */
static void
dataset_layout(const struct vrect *r, double line_h, struct vrect tabs[],
	struct vrect *matrix)
{
	double h = round(line_h + 10), x = r->x + 10;
	for (int m = 0; m < ANA_STAT_COUNT; m++) {
		double w = 96;
		tabs[m] = (struct vrect){ x, r->y + 6, w, h };
		x += w + 4;
	}
	*matrix = (struct vrect){ r->x, r->y + h + 8, r->w,
		fmax(1.0, r->h - h - 8) };
}

void
view_dataset_draw(struct viewer *v, cairo_t *cr, const struct vrect *r)
{
	struct vrect tabs[ANA_STAT_COUNT], mr;
	dataset_layout(r, render_text_line_height(v->text), tabs, &mr);
	for (int m = 0; m < ANA_STAT_COUNT; m++) {
		bool on = m == v->metric;
		render_set_source_u32(cr, on ? COL_TAB_ON : COL_TAB);
		cairo_rectangle(cr, tabs[m].x, tabs[m].y, tabs[m].w, tabs[m].h);
		cairo_fill(cr);
		render_text_draw(v->text, cr, tabs[m].x + tabs[m].w / 2,
			tabs[m].y + tabs[m].h / 2, ana_stat_name((enum ana_stat)m),
			RENDER_TEXT_CENTER | RENDER_TEXT_MIDDLE | (on ? RENDER_TEXT_BOLD : 0),
			on ? 0xffffffffu : COL_TEXT, 0, tabs[m].w - 6);
	}
	const struct stat_table *t = &v->stats[v->metric];
	const char *name = ana_stat_name((enum ana_stat)v->metric);
	char buf[512];
	if (t->err) {
		snprintf(buf, sizeof buf, "%s", t->msg ? t->msg : err_str(t->err));
		ui_message(v, cr, &mr, "cannot read the head statistics", buf);
		return;
	}
	if (t->n_done == 0 || !t->sum) {
		snprintf(buf, sizeof buf, "%s over %d samples", name, v->n_rows);
		ui_message(v, cr, &mr, "computing…", buf);
		return;
	}
	int n = v->n_layer * v->n_head;
	double *mean = malloc((size_t)n * sizeof *mean);
	if (!mean)
		return;
	long seen = 0;
	for (int i = 0; i < n; i++) {
		mean[i] = t->cnt[i] ? t->sum[i] / t->cnt[i] : NAN;
		seen += t->cnt[i];
	}
	if (seen == 0) {
		free(mean);
		snprintf(buf, sizeof buf, "no sample of run %" PRId64 " has a '%s' "
			"value (recorded by an older attnscope?)", v->run_id, name);
		ui_message(v, cr, &mr, "no statistics", buf);
		return;
	}
	snprintf(buf, sizeof buf, "%s · run %" PRId64 " · %s, mean over %d sample%s%s",
		v->model_name ? v->model_name : "model", v->run_id, name, t->n_done,
		t->n_done == 1 ? "" : "s", t->n_done < v->n_rows ? " (computing…)" : "");
	struct render_matrix_opts o = {
		.title = buf, .value_label = name, .cmap = v->cmap, .vmin = NAN,
		.vmax = NAN, .show_values = true,
	};
	cairo_save(cr);
	cairo_translate(cr, mr.x, mr.y);
	render_matrix(cr, mr.w, mr.h, mean, v->n_layer, v->n_head, &o);
	render_matrix_layout(mr.w, mr.h, v->n_layer, v->n_head, &o, &v->ds_lay);
	v->ds_area = mr;
	const struct render_matrix_layout *l = &v->ds_lay;
	int marks[2][2] = { { v->layer, v->head }, { v->ds_hover_l, v->ds_hover_h } };
	for (int i = 0; i < 2; i++) {
		int ml = marks[i][0], mh = marks[i][1];
		if (ml < 0 || mh < 0 || ml >= v->n_layer || mh >= v->n_head ||
		    (i == 1 && ml == v->layer && mh == v->head))
			continue;
		render_set_source_u32(cr, i ? COL_HOVER : COL_SEL);
		cairo_set_line_width(cr, i ? 1.5 : 2.5);
		cairo_rectangle(cr, l->x + mh * l->cell_w, l->y + ml * l->cell_h,
			l->cell_w, l->cell_h);
		cairo_stroke(cr);
	}
	cairo_restore(cr);

	int hl = v->ds_hover_l, hh = v->ds_hover_h;
	if (hl >= 0 && hh >= 0 && hl < v->n_layer && hh < v->n_head) {
		int i = hl * v->n_head + hh;
		int b = t->best_row[i];
		if (b >= 0)
			snprintf(v->info, sizeof v->info, "L%d H%d · %s mean %.4g over %ld "
				"samples · highest %.4g in sample %" PRId64 " (click to open)",
				hl, hh, name, mean[i], t->cnt[i],
				t->v[(size_t)b * n + i], v->rows[b].index);
		else
			snprintf(v->info, sizeof v->info, "L%d H%d · no %s values", hl, hh,
				name);
	} else {
		snprintf(v->info, sizeof v->info, "%s averaged over the run · m / click "
			"a tab: metric · click a head: its top sample", name);
	}
	free(mean);
}

bool
view_dataset_input(struct viewer *v, const struct vrect *r,
	const struct vin *in)
{
	struct vrect tabs[ANA_STAT_COUNT], mr;
	dataset_layout(r, render_text_line_height(v->text), tabs, &mr);
	int l = -1, h = -1;
	bool on = v->ds_lay.n_layer > 0 && render_matrix_hit(&v->ds_lay,
		in->x - mr.x, in->y - mr.y, &l, &h);
	switch (in->type) {
	case VIN_MOTION:
	case VIN_LEAVE:
		if (in->type == VIN_LEAVE || !on)
			l = h = -1;
		if (l == v->ds_hover_l && h == v->ds_hover_h)
			return false;
		v->ds_hover_l = l;
		v->ds_hover_h = h;
		return true;
	case VIN_DOWN:
		for (int m = 0; m < ANA_STAT_COUNT; m++)
			if (vrect_has(&tabs[m], in->x, in->y) && m != v->metric) {
				v->metric = m;
				viewer_update_needs(v);
				return true;
			}
		if (on) {
			const struct stat_table *t = &v->stats[v->metric];
			int b = t->best_row ? t->best_row[l * v->n_head + h] : -1;
			viewer_select_head(v, l, h);
			if (b >= 0) {
				viewer_select_row(v, b);
				viewer_set_view(v, VIEW_HEAD);
			}
			return true;
		}
		return false;
	default:
		return false;
	}
}

struct matrix_save {
	const double *values;
	int n_layer, n_head;
	const struct render_matrix_opts *o;
};

static int
draw_matrix_save(cairo_t *cr, double w, double h, void *ctx)
{
	const struct matrix_save *m = ctx;
	return render_matrix(cr, w, h, m->values, m->n_layer, m->n_head, m->o);
}

int
view_dataset_save(struct viewer *v, const char *path)
{
	const struct stat_table *t = &v->stats[v->metric];
	if (!t->sum || t->n_done == 0)
		return err_set(ERR_NOTFOUND, "the statistics are not loaded yet");
	int n = v->n_layer * v->n_head;
	double *mean = malloc((size_t)n * sizeof *mean);
	if (!mean)
		return err_set(ERR_NOMEM, "out of memory");
	for (int i = 0; i < n; i++)
		mean[i] = t->cnt[i] ? t->sum[i] / t->cnt[i] : NAN;
	const char *name = ana_stat_name((enum ana_stat)v->metric);
	char title[512];
	snprintf(title, sizeof title, "%s · run %" PRId64 " · %s, mean over %d "
		"sample%s", v->model_name ? v->model_name : "model", v->run_id, name,
		t->n_done, t->n_done == 1 ? "" : "s");
	struct render_matrix_opts o = {
		.title = title, .value_label = name, .cmap = v->cmap, .vmin = NAN,
		.vmax = NAN, .show_values = true,
	};
	struct matrix_save m = { mean, v->n_layer, v->n_head, &o };
	int w, h;
	int rc = render_matrix_size(v->n_layer, v->n_head, &w, &h);
	if (rc == 0)
		rc = render_figure_write(RENDER_FORMAT_PNG, path, w, h, draw_matrix_save,
			&m);
	free(mean);
	return rc;
}

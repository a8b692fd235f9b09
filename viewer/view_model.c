/*
 * view_model.c — the model view: every layer x head of the current sample
 * as a thumbnail (render_grid_draw(), the code of `export --grid`) with the
 * sample's head metric as an overlay; hover reads a head out, a click opens
 * it. The grid is drawn once into a cached surface per change (a thumbnail
 * arriving, a resize, another metric); a frame blits it and the selection.
 */
#include "viewer.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COL_SEL   0xff6a00ffu
#define COL_HOVER 0x111111ffu

/* Where the grid goes inside the content rectangle. */
static struct vrect
grid_rect(const struct vrect *r)
{
	return (struct vrect){ r->x, r->y, r->w, r->h };
}

static unsigned
grid_key(const struct viewer *v, const struct vrect *g)
{
	const struct sample_data *d = v->cur;
	unsigned k = 2166136261u;
	unsigned parts[10] = {
		(unsigned)d->gen, d->thumbs_version, (unsigned)g->w, (unsigned)g->h,
		(unsigned)(v->scale_factor * 100), (unsigned)v->overlay,
		(unsigned)v->metric, (unsigned)d->hstats_ready,
		viewer_color_key(v), (unsigned)d->toks_ready,
	};
	for (int i = 0; i < 10; i++)
		k = (k ^ parts[i]) * 16777619u;
	return k ? k : 1;
}

static void
grid_title(const struct viewer *v, char *buf, size_t size)
{
	snprintf(buf, size, "%s · run %" PRId64 " · sample %" PRId64 " · all heads",
		v->model_name ? v->model_name : "model", v->run_id, v->cur->index);
}

static void
grid_opts(const struct viewer *v, const double *overlay, const char *title,
	struct render_grid_opts *o)
{
	memset(o, 0, sizeof *o);
	o->title = title;
	o->overlay = overlay;
	o->overlay_label = ana_stat_name((enum ana_stat)v->metric);
	o->overlay_lo = NAN;
	o->overlay_hi = NAN;
	o->overlay_cmap = RENDER_CMAP_MAGMA;
}

/* The sample's metric per head, or NULL without an overlay. */
static double *
overlay_values(const struct viewer *v)
{
	const struct sample_data *d = v->cur;
	if (!v->overlay || !d->hstats)
		return NULL;
	int n = d->n_layer * d->n_head;
	double *o = malloc((size_t)n * sizeof *o);
	for (int i = 0; o && i < n; i++)
		o[i] = d->hstats[(size_t)i * ANA_STAT_COUNT + v->metric];
	return o;
}

static void
rebuild(struct viewer *v, const struct vrect *g)
{
	struct sample_data *d = v->cur;
	int n = d->n_layer * d->n_head;
	double sf = v->scale_factor;
	int bw = (int)ceil(g->w * sf), bh = (int)ceil(g->h * sf);
	if (v->grid_img && (cairo_image_surface_get_width(v->grid_img) != bw ||
	    cairo_image_surface_get_height(v->grid_img) != bh)) {
		cairo_surface_destroy(v->grid_img);
		v->grid_img = NULL;
	}
	if (!v->grid_img)
		v->grid_img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, bw, bh);
	cairo_surface_t **thumbs = calloc((size_t)n, sizeof *thumbs);
	const char **notes = calloc((size_t)n, sizeof *notes);
	double *ov = overlay_values(v);
	char title[512];
	grid_title(v, title, sizeof title);
	struct render_grid_opts o;
	grid_opts(v, ov, title, &o);
	cairo_t *cr = cairo_create(v->grid_img);
	cairo_set_source_rgb(cr, 1, 1, 1);
	cairo_paint(cr);
	cairo_scale(cr, sf, sf);
	for (int i = 0; thumbs && notes && i < n; i++) {
		const struct head_slot *s = &d->slots[i];
		thumbs[i] = s->thumb;
		notes[i] = s->state == SLOT_ERROR ? (s->err == ERR_NOTFOUND
			? "not stored" : "error") : s->thumb ? NULL : "…";
	}
	if (thumbs && notes)
		render_grid_draw(cr, g->w, g->h, d->n_layer, d->n_head, thumbs, notes,
			&o);
	render_grid_layout(g->w, g->h, d->n_layer, d->n_head, &o, &v->grid_lay);
	cairo_destroy(cr);
	free(ov);
	free(notes);
	free(thumbs);
	v->grid_key = grid_key(v, g);
}

static void
frame_cell(struct viewer *v, cairo_t *cr, const struct vrect *g, int l, int h,
	uint32_t col, double lw)
{
	double x, y, w, hh;
	render_grid_cell_rect(&v->grid_lay, l, h, &x, &y, &w, &hh);
	render_set_source_u32(cr, col);
	cairo_set_line_width(cr, lw);
	cairo_rectangle(cr, g->x + x - lw / 2, g->y + y - lw / 2, w + lw, hh + lw);
	cairo_stroke(cr);
}

/* Status line text for head (l, h). */
static void
describe_head(struct viewer *v, int l, int h)
{
	const struct sample_data *d = v->cur;
	const struct head_slot *s = &d->slots[l * d->n_head + h];
	size_t n = (size_t)snprintf(v->info, sizeof v->info, "L%d H%d", l, h);
	if (s->state == SLOT_ERROR) {
		snprintf(v->info + n, sizeof v->info - n, " · %s", s->msg ? s->msg
			: err_str(s->err));
		return;
	}
	if (d->hstats) {
		for (int m = 0; m < ANA_STAT_COUNT && n < sizeof v->info; m++) {
			double x = d->hstats[((size_t)l * d->n_head + h) * ANA_STAT_COUNT + m];
			n += (size_t)snprintf(v->info + n, sizeof v->info - n, " · %s %.3g",
				ana_stat_name((enum ana_stat)m), x);
		}
	}
	if (s->n_bad && n < sizeof v->info)
		snprintf(v->info + n, sizeof v->info - n, " · %zu invalid values",
			s->n_bad);
}

void
view_model_draw(struct viewer *v, cairo_t *cr, const struct vrect *r)
{
	struct sample_data *d = v->cur;
	if (!d) {
		ui_message(v, cr, r, "no sample selected", "pick one in the samples view");
		return;
	}
	struct vrect g = grid_rect(r);
	if (v->grid_key != grid_key(v, &g) || !v->grid_img)
		rebuild(v, &g);
	cairo_save(cr);
	cairo_translate(cr, g.x, g.y);
	cairo_scale(cr, 1 / v->scale_factor, 1 / v->scale_factor);
	cairo_set_source_surface(cr, v->grid_img, 0, 0);
	cairo_paint(cr);
	cairo_restore(cr);

	frame_cell(v, cr, &g, v->layer, v->head, COL_SEL, 2.5);
	if (v->hover_l >= 0 && v->hover_h >= 0 && v->hover_l < d->n_layer &&
	    v->hover_h < d->n_head &&
	    (v->hover_l != v->layer || v->hover_h != v->head))
		frame_cell(v, cr, &g, v->hover_l, v->hover_h, COL_HOVER, 1.5);

	if (v->hover_l >= 0 && v->hover_l < d->n_layer && v->hover_h < d->n_head)
		describe_head(v, v->hover_l, v->hover_h);
	else
		snprintf(v->info, sizeof v->info, "sample %" PRId64 " · %d tokens · "
			"click a head to open it · o overlay · m metric", d->index, d->n_tok);
}

bool
view_model_input(struct viewer *v, const struct vrect *r, const struct vin *in)
{
	struct vrect g = grid_rect(r);
	int l = -1, h = -1;
	bool on = v->cur && render_grid_hit(&v->grid_lay, in->x - g.x, in->y - g.y,
		&l, &h);
	switch (in->type) {
	case VIN_MOTION:
	case VIN_LEAVE:
		if (in->type == VIN_LEAVE || !on)
			l = h = -1;
		if (l == v->hover_l && h == v->hover_h)
			return false;
		v->hover_l = l;
		v->hover_h = h;
		return true;
	case VIN_DOWN:
		if (!on)
			return false;
		viewer_select_head(v, l, h);
		viewer_set_view(v, VIEW_HEAD);
		return true;
	default:
		return false;
	}
}

struct grid_save {
	struct viewer *v;
	const struct render_grid_opts *o;
	const float **maps;
	cairo_surface_t **thumbs;
	const char **notes;
	int n_tok;
};

static int
draw_grid_save(cairo_t *cr, double w, double h, void *ctx)
{
	struct grid_save *g = ctx;
	const struct sample_data *d = g->v->cur;
	if (g->maps) {
		struct render_heatmap_opts ho;
		viewer_heatmap_opts(g->v, &ho);
		return render_grid(cr, w, h, d->n_layer, d->n_head,
			(const float *const *)g->maps, g->n_tok, g->n_tok, &ho, g->o);
	}
	return render_grid_draw(cr, w, h, d->n_layer, d->n_head, g->thumbs,
		g->notes, g->o);
}

int
view_model_save(struct viewer *v, const char *path)
{
	struct sample_data *d = v->cur;
	if (!d)
		return err_set(ERR_NOTFOUND, "no sample is loaded");
	int n = d->n_layer * d->n_head, T = d->n_tok;
	struct grid_save g = { .v = v, .n_tok = T };
	g.maps = calloc((size_t)n, sizeof *g.maps);
	g.thumbs = calloc((size_t)n, sizeof *g.thumbs);
	g.notes = calloc((size_t)n, sizeof *g.notes);
	double *ov = overlay_values(v);
	char title[512];
	struct render_grid_opts o;
	int rc = ERR_NOMEM;
	if (!g.maps || !g.thumbs || !g.notes)
		goto out;
	/* from the maps, as export --grid does, when all are in memory */
	bool all = true;
	for (int i = 0; i < n; i++) {
		const struct head_slot *s = &d->slots[i];
		g.maps[i] = s->map && s->n_q == T && s->n_k == T ? s->map : NULL;
		all = all && (g.maps[i] || s->state == SLOT_ERROR);
		g.thumbs[i] = s->thumb;
		g.notes[i] = s->state == SLOT_ERROR ? "error" : NULL;
	}
	if (!all) {
		free(g.maps);
		g.maps = NULL;
	}
	grid_title(v, title, sizeof title);
	grid_opts(v, ov, title, &o);
	g.o = &o;
	int w, h;
	render_grid_size(d->n_layer, d->n_head, &w, &h);
	rc = render_figure_write(RENDER_FORMAT_PNG, path, w, h, draw_grid_save, &g);
out:
	free(ov);
	free(g.notes);
	free(g.thumbs);
	free(g.maps);
	return rc;
}

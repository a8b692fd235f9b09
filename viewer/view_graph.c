/*
 * view_graph.c — the dependency graph of the current layer: the tokens
 * twice side by side (or once on a line), an edge per (query, key) whose
 * weight passes the threshold, one colour per selected head or their mean
 * (render_arcs(), the code of `export --arcs`). Hovering a token isolates
 * its edges, a click pins it; the legend toggles heads; the wheel scrolls.
 */
#include "viewer.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COL_CURSOR 0xff6a00ffu

/* Everything render_arcs() needs for the current state; maps[] holds the
 * maps of the heads that are on, in head order (NULL while loading). */
struct graph_args {
	struct render_arcs_opts o;
	char title[512];
	int ids[4096];
	const float *maps[4096];
	int n_maps;
	int n_q, n_k, n_rows;    /* queries, keys, rows of the layout */
	int loading;
	char errors[256];
};

static void
graph_args(struct viewer *v, struct graph_args *a)
{
	const struct sample_data *d = v->cur;
	memset(&a->o, 0, sizeof a->o);
	a->n_maps = 0;
	a->loading = 0;
	a->errors[0] = '\0';
	int n_head = d->n_head < 4096 ? d->n_head : 4096;
	int nq, nk;
	const char *const *qp = viewer_axis_pieces(v, false, &nq);
	const char *const *kp = viewer_axis_pieces(v, true, &nk);
	bool two = qp != kp;     /* cross-attention: two sequences */
	if (nq < 1)
		nq = d->n_tok;
	if (nk < 1)
		nk = two ? nq : nq;
	if (!two)
		nk = nq;
	/* the maps' own shape wins over the tokens' counts */
	for (int h = 0; h < n_head; h++) {
		const struct head_slot *s = &d->slots[v->layer * d->n_head + h];
		if (s->state == SLOT_READY && s->n_q > 0) {
			nq = s->n_q;
			nk = s->n_k;
			break;
		}
	}
	two = two || nq != nk;
	a->n_q = nq;
	a->n_k = nk;
	a->n_rows = nq > nk ? nq : nk;
	for (int h = 0; h < n_head; h++) {
		a->ids[h] = h;
		if (v->graph_on && !v->graph_on[h])
			continue;
		const struct head_slot *s = &d->slots[v->layer * d->n_head + h];
		const float *m = s->map && s->n_q == nq && s->n_k == nk ? s->map : NULL;
		if (!m && s->state == SLOT_ERROR) {
			size_t n = strlen(a->errors);
			snprintf(a->errors + n, sizeof a->errors - n, "%sH%d", n ? ", " : "",
				h);
		} else if (!m) {
			a->loading++;
		}
		a->maps[a->n_maps++] = m;
	}
	const char *kind = viewer_kind(v);
	bool say_kind = strcmp(kind, "self") != 0;
	snprintf(a->title, sizeof a->title, "%s · run %" PRId64 " · sample %" PRId64
		" · layer %d%s%s · %s", v->model_name ? v->model_name : "model",
		v->run_id, d->index, v->layer, say_kind ? " · " : "",
		say_kind ? kind : "", v->graph_mean ? "mean over heads" : "all heads");
	double lh = render_text_line_height(v->text);
	a->o.title = a->title;
	int nql, nkl;
	qp = viewer_axis_pieces(v, false, &nql);
	kp = viewer_axis_pieces(v, true, &nkl);
	a->o.labels = qp && nql == nq ? qp : NULL;
	if (two) {
		a->o.n_k = nk;
		a->o.k_labels = kp && nkl == nk ? kp : NULL;
	}
	a->o.style = v->graph_style;
	a->o.threshold = v->threshold;
	a->o.mean = v->graph_mean;
	a->o.focus = v->graph_focus;
	a->o.focus_key = v->graph_focus_key;
	a->o.first = v->graph_first;
	if (two)
		a->o.style = RENDER_ARCS_COLUMNS;
	a->o.step = v->graph_step > 0 ? v->graph_step
		: a->o.style == RENDER_ARCS_COLUMNS ? round(lh + 5)
		: round(5.5 * render_text_font_size(v->text));
	a->o.n_legend = n_head;
	a->o.legend_ids = a->ids;
	a->o.legend_on = v->graph_on;
}

static unsigned
graph_key(const struct viewer *v, const struct graph_args *a,
	const struct vrect *r)
{
	unsigned k = 2166136261u;
	unsigned parts[12] = {
		(unsigned)v->cur->gen, (unsigned)v->layer, (unsigned)a->n_maps,
		(unsigned)(v->threshold * 1e6f), (unsigned)v->graph_mean,
		(unsigned)v->graph_style, (unsigned)v->graph_first,
		(unsigned)(a->o.step * 100), (unsigned)r->w, (unsigned)r->h,
		(unsigned)(v->scale_factor * 100), (unsigned)a->loading,
	};
	for (int i = 0; i < 12; i++)
		k = (k ^ parts[i]) * 16777619u;
	for (int h = 0; v->graph_on && h < v->n_head; h++)
		k = (k ^ (unsigned)v->graph_on[h]) * 16777619u;
	for (int m = 0; m < a->n_maps; m++) {
		uintptr_t p = (uintptr_t)a->maps[m];
		k = (k ^ (unsigned)(p ^ (p >> 32))) * 16777619u;
	}
	return k ? k : 1;
}

static int
rebuild(struct viewer *v, const struct graph_args *a, const struct vrect *r,
	unsigned key)
{
	double sf = v->scale_factor;
	int bw = (int)ceil(r->w * sf), bh = (int)ceil(r->h * sf);
	if (v->graph_img && (cairo_image_surface_get_width(v->graph_img) != bw ||
	    cairo_image_surface_get_height(v->graph_img) != bh)) {
		cairo_surface_destroy(v->graph_img);
		v->graph_img = NULL;
	}
	if (!v->graph_img)
		v->graph_img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, bw, bh);
	cairo_t *cr = cairo_create(v->graph_img);
	cairo_set_source_rgb(cr, 1, 1, 1);
	cairo_paint(cr);
	cairo_scale(cr, sf, sf);
	int rc = render_arcs(cr, r->w, r->h, a->maps, a->n_maps, a->n_q, &a->o);
	cairo_destroy(cr);
	v->graph_key = key;
	return rc;
}

/* Largest first token that still fills the view. */
static int
max_first(const struct viewer *v, const struct render_arcs_layout *l)
{
	(void)v;
	int n = l->n_tok - l->count;
	return n > 0 ? n : 0;
}

/* Status line: the focused token's strongest edges. */
static void
describe_focus(struct viewer *v, const struct graph_args *a)
{
	const struct sample_data *d = v->cur;
	(void)d;
	int t = v->graph_focus, nq = a->n_q, nk = a->n_k;
	int nql, nkl;
	char **ql = viewer_axis_labels(v, false, &nql);
	char **kl = viewer_axis_labels(v, true, &nkl);
	/* the focused token's side, and the other side */
	char **own = v->graph_focus_key ? kl : ql, **far = v->graph_focus_key ? ql : kl;
	int n_own = v->graph_focus_key ? nkl : nql, n_far = v->graph_focus_key ? nql : nkl;
	int T = v->graph_focus_key ? nq : nk;
	if (t < 0 || t >= (v->graph_focus_key ? nk : nq))
		return;
	char lab[RENDER_LABEL_BUF];
	snprintf(lab, sizeof lab, "%s", own && t < n_own ? own[t] : "");
	size_t n = (size_t)snprintf(v->info, sizeof v->info, "%s %d “%s”%s:",
		v->graph_focus_key ? "key" : "query", t, lab,
		v->graph_pinned ? " (pinned)" : "");
	/* top three partners by the mean over the drawn heads */
	int best[3] = { -1, -1, -1 };
	double bw[3] = { -1, -1, -1 };
	for (int o = 0; o < T; o++) {
		double s = 0;
		int c = 0;
		for (int m = 0; m < a->n_maps; m++) {
			if (!a->maps[m])
				continue;
			float w = v->graph_focus_key ? a->maps[m][(size_t)o * nk + t]
				: a->maps[m][(size_t)t * nk + o];
			if (isfinite(w))
				s += w, c++;
		}
		double w = c ? s / c : -1;
		for (int i = 0; i < 3; i++)
			if (w > bw[i]) {
				for (int j = 2; j > i; j--)
					bw[j] = bw[j - 1], best[j] = best[j - 1];
				bw[i] = w, best[i] = o;
				break;
			}
	}
	for (int i = 0; i < 3 && best[i] >= 0 && n < sizeof v->info; i++) {
		snprintf(lab, sizeof lab, "%s", far && best[i] < n_far
			? far[best[i]] : "");
		n += (size_t)snprintf(v->info + n, sizeof v->info - n, " %d “%s” %.3f%s",
			best[i], lab, bw[i], i < 2 ? "," : "");
	}
	if (n < sizeof v->info)
		snprintf(v->info + n, sizeof v->info - n, " (mean of the drawn heads)");
}

void
view_graph_draw(struct viewer *v, cairo_t *cr, const struct vrect *r)
{
	struct sample_data *d = v->cur;
	if (!d) {
		ui_message(v, cr, r, "no sample selected", "pick one in the samples view");
		return;
	}
	if (!d->toks_ready) {
		ui_message(v, cr, r, "loading…", "tokens of the sample");
		return;
	}
	struct graph_args *a = malloc(sizeof *a);
	if (!a)
		return;
	graph_args(v, a);
	if (render_arcs_layout(r->w, r->h, a->n_rows, &a->o, &v->graph_lay) == 0) {
		int mf = max_first(v, &v->graph_lay);
		if (v->graph_first > mf) {
			v->graph_first = mf;
			a->o.first = mf;
			render_arcs_layout(r->w, r->h, a->n_rows, &a->o, &v->graph_lay);
		}
	}
	int rc = 0;
	cairo_save(cr);
	cairo_translate(cr, r->x, r->y);
	if (a->o.focus < 0) {
		/* the whole graph: hundreds of antialiased curves, so drawn once
		 * per change into a cached surface (hovering draws only the
		 * focused token's few edges, directly) */
		unsigned key = graph_key(v, a, r);
		if (key != v->graph_key || !v->graph_img)
			rc = rebuild(v, a, r, key);
		cairo_save(cr);
		cairo_scale(cr, 1 / v->scale_factor, 1 / v->scale_factor);
		cairo_set_source_surface(cr, v->graph_img, 0, 0);
		cairo_paint(cr);
		cairo_restore(cr);
	} else {
		rc = render_arcs(cr, r->w, r->h, a->maps, a->n_maps, a->n_q, &a->o);
	}
	/* the current head's chip */
	const struct render_arcs_layout *l = &v->graph_lay;
	if (l->n_legend > 0 && v->head < l->n_legend) {
		int c = v->head % l->legend_cols, row = v->head / l->legend_cols;
		render_set_source_u32(cr, COL_CURSOR);
		cairo_set_line_width(cr, 1.5);
		cairo_rectangle(cr, l->legend_x + c * l->chip_w - 3,
			l->legend_y + row * l->chip_h, l->chip_w - 2, l->chip_h);
		cairo_stroke(cr);
	}
	cairo_restore(cr);
	if (rc) {
		ui_message(v, cr, r, "the graph cannot be drawn", err_msg(rc));
	} else if (a->n_maps == 0) {
		ui_message(v, cr, r, "no head selected",
			"Space turns the current head on, A all heads");
	}
	if (v->graph_focus >= 0)
		describe_focus(v, a);
	else if (a->loading)
		snprintf(v->info, sizeof v->info, "loading %d head%s of layer %d…",
			a->loading, a->loading == 1 ? "" : "s", v->layer);
	else if (a->errors[0])
		snprintf(v->info, sizeof v->info, "layer %d: cannot show %s (see the "
			"head view)", v->layer, a->errors);
	else
		snprintf(v->info, sizeof v->info, "tokens %d–%d of %d · threshold %.3g · "
			"hover a token to isolate it · [ ] threshold · a mean · g layout",
			l->first, l->first + l->count - 1, a->n_rows, v->threshold);
	free(a);
}

bool
view_graph_input(struct viewer *v, const struct vrect *r, const struct vin *in)
{
	if (!v->cur || !(v->graph_lay.step > 0))
		return false;
	int idx = -1;
	enum render_arcs_hit_kind hit = render_arcs_hit(&v->graph_lay,
		in->x - r->x, in->y - r->y, &idx);
	switch (in->type) {
	case VIN_MOTION:
	case VIN_LEAVE: {
		if (v->graph_pinned)
			return false;
		int f = -1;
		bool key = false;
		if (in->type == VIN_MOTION && (hit == RENDER_ARCS_HIT_QUERY ||
		    hit == RENDER_ARCS_HIT_KEY)) {
			f = idx;
			key = hit == RENDER_ARCS_HIT_KEY;
		}
		if (f == v->graph_focus && key == v->graph_focus_key)
			return false;
		v->graph_focus = f;
		v->graph_focus_key = key;
		return true;
	}
	case VIN_DOWN:
		if (hit == RENDER_ARCS_HIT_LEGEND && v->graph_on && idx < v->n_head) {
			v->graph_on[idx] = !v->graph_on[idx];
			viewer_select_head(v, v->layer, idx);
			viewer_update_needs(v);
			return true;
		}
		if (hit == RENDER_ARCS_HIT_QUERY || hit == RENDER_ARCS_HIT_KEY) {
			bool key = hit == RENDER_ARCS_HIT_KEY;
			if (v->graph_pinned && v->graph_focus == idx &&
			    v->graph_focus_key == key) {
				v->graph_pinned = false;
			} else {
				v->graph_pinned = true;
				v->graph_focus = idx;
				v->graph_focus_key = key;
			}
			return true;
		}
		if (v->graph_pinned) {
			v->graph_pinned = false;
			v->graph_focus = -1;
			return true;
		}
		return false;
	case VIN_WHEEL: {
		int step = v->graph_lay.count > 12 ? 3 : 1;
		int f = v->graph_first - (int)lround(in->wheel * step);
		int mf = max_first(v, &v->graph_lay);
		if (f > mf)
			f = mf;
		if (f < 0)
			f = 0;
		if (f == v->graph_first)
			return false;
		v->graph_first = f;
		return true;
	}
	default:
		return false;
	}
}

struct graph_save {
	const struct graph_args *a;
	int n_tok;
};

static int
draw_graph_save(cairo_t *cr, double w, double h, void *ctx)
{
	const struct graph_save *g = ctx;
	return render_arcs(cr, w, h, g->a->maps, g->a->n_maps, g->n_tok, &g->a->o);
}

int
view_graph_save(struct viewer *v, const char *path)
{
	struct sample_data *d = v->cur;
	if (!d || !d->toks_ready)
		return err_set(ERR_NOTFOUND, "no sample is loaded");
	struct graph_args *a = malloc(sizeof *a);
	if (!a)
		return err_set(ERR_NOMEM, "out of memory");
	graph_args(v, a);
	/* the whole sequence, as export --arcs draws it */
	a->o.first = 0;
	a->o.count = 0;
	a->o.step = 0;
	a->o.focus = -1;
	int w, h;
	struct graph_save g = { a, a->n_q };
	int rc = render_arcs_size(a->n_rows, a->o.style, &w, &h);
	if (rc == 0)
		rc = render_figure_write(RENDER_FORMAT_PNG, path, w, h, draw_graph_save,
			&g);
	free(a);
	return rc;
}

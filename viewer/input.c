/*
 * input.c — the key binding table, the commands it runs and the routing of
 * pointer input to the views. Keys are SDL keycodes (SDL_keycode.h is a
 * header of constants only: nothing here calls SDL).
 */
#include "viewer.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "SDL_keycode.h"

#define ALL_VIEWS ((1u << VIEW_COUNT) - 1)
#define V(x) (1u << (x))

/* ========================================================================
 * Commands: return true when something changed (needs a redraw)
 * ======================================================================== */

static bool
cmd_view_step(struct viewer *v, int d)
{
	return viewer_set_view(v, ((int)v->view + d + VIEW_COUNT) % VIEW_COUNT);
}

static bool
cmd_layer(struct viewer *v, int d)
{
	return viewer_select_head(v, v->layer + d, v->head);
}

static bool
cmd_head(struct viewer *v, int d)
{
	return viewer_select_head(v, v->layer, v->head + d);
}

static bool
cmd_sample(struct viewer *v, int d)
{
	return viewer_step_sample(v, d);
}

static bool
cmd_sample_edge(struct viewer *v, int last)
{
	if (v->n_order == 0)
		return false;
	return viewer_select_row(v, v->order[last ? v->n_order - 1 : 0]);
}

/* Head view geometry from the fitted figure's layout. */
static bool
head_geom_of(const struct viewer *v, struct head_geom *g)
{
	const struct render_heatmap_layout *l = &v->fig_lay;
	if (!v->fig || !(l->cell > 0))
		return false;
	*g = (struct head_geom){
		.vx = l->x, .vy = l->y, .vw = l->n_k * l->cell,
		.vh = l->n_q * l->cell, .cell = l->cell, .n_q = l->n_q,
		.n_k = l->n_k, .zoom = v->zoom, .u0 = v->u0, .v0 = v->v0,
	};
	return true;
}

static void
head_geom_store(struct viewer *v, const struct head_geom *g)
{
	v->zoom = g->zoom;
	v->u0 = g->u0;
	v->v0 = g->v0;
}

static bool
cmd_zoom(struct viewer *v, int dir)
{
	if (v->view == VIEW_HEAD) {
		struct head_geom g;
		if (!head_geom_of(v, &g))
			return false;
		head_geom_zoom_at(&g, dir > 0 ? 1.5 : 1 / 1.5, g.vx + g.vw / 2,
			g.vy + g.vh / 2, head_geom_max_zoom(&g));
		head_geom_store(v, &g);
		return true;
	}
	if (v->view == VIEW_GRAPH) {
		double lh = render_text_line_height(v->text);
		double step = v->graph_step > 0 ? v->graph_step : lh + 4;
		step *= dir > 0 ? 1.25 : 0.8;
		v->graph_step = fmin(fmax(step, 2.0), 120.0);
		return true;
	}
	return false;
}

static bool
cmd_zoom_reset(struct viewer *v, int arg)
{
	(void)arg;
	v->zoom = 1;
	v->u0 = v->v0 = 0;
	v->graph_step = 0;
	v->graph_first = 0;
	return true;
}

/* Colour options changed: the head figure and thumbnails are remade. */
static void
colors_changed(struct viewer *v)
{
	v->fig_key = 0;
	v->grid_key = 0;
	viewer_set_status(v, "%s scale, %s%s", render_scale_name(v->scale),
		render_cmap_name(v->cmap),
		v->suppress_first ? ", first-token column left out of the scale" : "");
	viewer_update_needs(v);
}

static bool
cmd_scale(struct viewer *v, int scale)
{
	v->scale = v->scale == (enum render_scale)scale ? RENDER_SCALE_LINEAR
		: (enum render_scale)scale;
	colors_changed(v);
	return true;
}

static bool
cmd_cmap(struct viewer *v, int arg)
{
	(void)arg;
	v->cmap = (enum render_cmap)((v->cmap + 1) % RENDER_CMAP_COUNT);
	colors_changed(v);
	return true;
}

static bool
cmd_suppress(struct viewer *v, int arg)
{
	(void)arg;
	v->suppress_first = !v->suppress_first;
	colors_changed(v);
	return true;
}

static bool
cmd_search(struct viewer *v, int arg)
{
	(void)arg;
	viewer_set_view(v, VIEW_SAMPLES);
	v->searching = true;
	v->dirty = true;
	return true;
}

static bool
cmd_save(struct viewer *v, int arg)
{
	(void)arg;
	char name[256];
	viewer_save_name(v, name, sizeof name);
	if (!v->hooks || !v->hooks->save)
		return false;
	int rc = v->hooks->save(v->hooks_ctx, name);
	if (rc)
		viewer_set_status(v, "cannot save: %s", err_msg(rc));
	else
		viewer_set_status(v, "saved %s", name);
	return true;
}

static bool
cmd_help(struct viewer *v, int arg)
{
	(void)arg;
	v->help = !v->help;
	return true;
}

static bool
cmd_quit(struct viewer *v, int arg)
{
	(void)arg;
	v->quit = true;
	if (v->hooks && v->hooks->quit)
		v->hooks->quit(v->hooks_ctx);
	return false;
}

static bool
cmd_metric(struct viewer *v, int d)
{
	v->metric = (v->metric + d + ANA_STAT_COUNT) % ANA_STAT_COUNT;
	v->grid_key = 0;
	viewer_update_needs(v);
	if (v->sort == SORT_METRIC)
		viewer_reorder(v);
	viewer_set_status(v, "metric: %s", ana_stat_name((enum ana_stat)v->metric));
	return true;
}

static bool
cmd_overlay(struct viewer *v, int arg)
{
	(void)arg;
	v->overlay = !v->overlay;
	v->grid_key = 0;
	return true;
}

static bool
cmd_sort(struct viewer *v, int arg)
{
	(void)arg;
	if (v->sort == SORT_INDEX) {
		v->sort = SORT_LOSS;
		v->sort_desc = true;
	} else if (v->sort == SORT_LOSS && v->sort_desc) {
		v->sort_desc = false;
	} else if (v->sort == SORT_LOSS) {
		v->sort = SORT_METRIC;
		v->sort_desc = true;
	} else {
		v->sort = SORT_INDEX;
		v->sort_desc = false;
	}
	viewer_reorder(v);
	return true;
}

static bool
cmd_open(struct viewer *v, int arg)
{
	(void)arg;
	if (v->view == VIEW_SAMPLES)
		return viewer_set_view(v, VIEW_MODEL);
	if (v->view == VIEW_MODEL)
		return viewer_set_view(v, VIEW_HEAD);
	if (v->view == VIEW_DATASET) {
		const struct stat_table *t = &v->stats[v->metric];
		int i = v->layer * v->n_head + v->head;
		if (!t->best_row || t->best_row[i] < 0)
			return false;
		viewer_select_row(v, t->best_row[i]);
		return viewer_set_view(v, VIEW_HEAD);
	}
	return false;
}

static bool
cmd_escape(struct viewer *v, int arg)
{
	(void)arg;
	if (v->help) {
		v->help = false;
		return true;
	}
	if (v->graph_pinned) {
		v->graph_pinned = false;
		v->graph_focus = -1;
		return true;
	}
	if (v->view == VIEW_SAMPLES && v->search[0]) {
		v->search[0] = '\0';
		viewer_reorder(v);
		return true;
	}
	if (v->view == VIEW_HEAD && v->zoom > 1)
		return cmd_zoom_reset(v, 0);
	return false;
}

static bool
cmd_graph_head(struct viewer *v, int arg)
{
	(void)arg;
	if (!v->graph_on || v->head >= v->n_head)
		return false;
	v->graph_on[v->head] = !v->graph_on[v->head];
	viewer_update_needs(v);          /* fetch its map */
	return true;
}

static bool
cmd_graph_all(struct viewer *v, int arg)
{
	(void)arg;
	if (!v->graph_on)
		return false;
	bool all = true;
	for (int h = 0; h < v->n_head; h++)
		all = all && v->graph_on[h];
	for (int h = 0; h < v->n_head; h++)
		v->graph_on[h] = !all || h == v->head;
	viewer_update_needs(v);
	return true;
}

static bool
cmd_graph_mean(struct viewer *v, int arg)
{
	(void)arg;
	v->graph_mean = !v->graph_mean;
	viewer_set_status(v, v->graph_mean ? "mean over the selected heads"
		: "one colour per head");
	return true;
}

static bool
cmd_threshold(struct viewer *v, int dir)
{
	float t = v->threshold > 0 ? v->threshold : 0.001f;
	t = dir > 0 ? t * 1.5f : t / 1.5f;
	v->threshold = t < 0.001f ? 0.0f : t > 1 ? 1 : t;
	viewer_set_status(v, "edge threshold %.3g", v->threshold);
	return true;
}

static bool
cmd_graph_style(struct viewer *v, int arg)
{
	(void)arg;
	v->graph_style = v->graph_style == RENDER_ARCS_COLUMNS ? RENDER_ARCS_LINE
		: RENDER_ARCS_COLUMNS;
	v->graph_step = 0;
	return true;
}

static bool
cmd_list(struct viewer *v, int d)
{
	return viewer_step_sample(v, d);
}

/* ========================================================================
 * The table (the help overlay lists the entries that have `keys`)
 * ======================================================================== */

#define SH KMOD_SHIFT
#define CT KMOD_CTRL

const struct viewer_binding viewer_bindings[] = {
	{ ALL_VIEWS, SDLK_SLASH, SH, cmd_help, 0, "?", "this help" },
	{ ALL_VIEWS, SDLK_F1, 0, cmd_help, 0, NULL, NULL },
	{ ALL_VIEWS, SDLK_ESCAPE, 0, cmd_escape, 0, "Esc", "close help, clear search / pin / zoom" },
	{ ALL_VIEWS, SDLK_q, CT, cmd_quit, 0, "Ctrl+Q, q", "quit" },
	{ ALL_VIEWS, SDLK_q, 0, cmd_quit, 0, NULL, NULL },
	{ ALL_VIEWS, SDLK_TAB, SH, cmd_view_step, -1, NULL, NULL },
	{ ALL_VIEWS, SDLK_TAB, 0, cmd_view_step, 1, "Tab, Shift+Tab", "next / previous view" },
	{ ALL_VIEWS, SDLK_F2, 0, viewer_set_view, VIEW_SAMPLES, "F2..F6", "samples, model, head, graph, dataset view" },
	{ ALL_VIEWS, SDLK_F3, 0, viewer_set_view, VIEW_MODEL, NULL, NULL },
	{ ALL_VIEWS, SDLK_F4, 0, viewer_set_view, VIEW_HEAD, NULL, NULL },
	{ ALL_VIEWS, SDLK_F5, 0, viewer_set_view, VIEW_GRAPH, NULL, NULL },
	{ ALL_VIEWS, SDLK_F6, 0, viewer_set_view, VIEW_DATASET, NULL, NULL },
	{ V(VIEW_SAMPLES), SDLK_UP, 0, cmd_list, -1, "Up, Down", "samples: previous / next in the list" },
	{ V(VIEW_SAMPLES), SDLK_DOWN, 0, cmd_list, 1, NULL, NULL },
	{ ALL_VIEWS & ~V(VIEW_SAMPLES), SDLK_UP, 0, cmd_layer, -1, "Up, Down", "previous / next layer" },
	{ ALL_VIEWS & ~V(VIEW_SAMPLES), SDLK_DOWN, 0, cmd_layer, 1, NULL, NULL },
	{ ALL_VIEWS, SDLK_LEFT, 0, cmd_head, -1, "Left, Right", "previous / next head" },
	{ ALL_VIEWS, SDLK_RIGHT, 0, cmd_head, 1, NULL, NULL },
	{ ALL_VIEWS, SDLK_PAGEUP, 0, cmd_sample, -1, "PgUp, PgDn", "previous / next sample (list order)" },
	{ ALL_VIEWS, SDLK_PAGEDOWN, 0, cmd_sample, 1, NULL, NULL },
	{ ALL_VIEWS, SDLK_k, SH, viewer_cycle_kind, -1, NULL, NULL },
	{ ALL_VIEWS, SDLK_k, 0, viewer_cycle_kind, 1, "k, K", "next / previous kind of map: self, encoder, decoder, cross, rollout, flow (those the sample has)" },
	{ ALL_VIEWS, SDLK_HOME, 0, cmd_sample_edge, 0, "Home, End", "first / last sample" },
	{ ALL_VIEWS, SDLK_END, 0, cmd_sample_edge, 1, NULL, NULL },
	{ ALL_VIEWS, SDLK_RETURN, 0, cmd_open, 0, "Enter", "open: sample, head, top sample" },
	{ ALL_VIEWS, SDLK_KP_ENTER, 0, cmd_open, 0, NULL, NULL },
	{ ALL_VIEWS, SDLK_EQUALS, 0, cmd_zoom, 1, "+, -", "zoom in / out (head view, graph)" },
	{ ALL_VIEWS, SDLK_PLUS, 0, cmd_zoom, 1, NULL, NULL },
	{ ALL_VIEWS, SDLK_KP_PLUS, 0, cmd_zoom, 1, NULL, NULL },
	{ ALL_VIEWS, SDLK_MINUS, 0, cmd_zoom, -1, NULL, NULL },
	{ ALL_VIEWS, SDLK_KP_MINUS, 0, cmd_zoom, -1, NULL, NULL },
	{ ALL_VIEWS, SDLK_0, 0, cmd_zoom_reset, 0, "0", "fit: reset zoom and scroll" },
	{ ALL_VIEWS, SDLK_l, 0, cmd_scale, RENDER_SCALE_LOG, "l", "log colour scale on / off" },
	{ ALL_VIEWS, SDLK_r, 0, cmd_scale, RENDER_SCALE_RANK, "r", "rank colour scale on / off" },
	{ ALL_VIEWS, SDLK_c, 0, cmd_cmap, 0, "c", "colormap: viridis, magma, grey" },
	{ ALL_VIEWS, SDLK_b, 0, cmd_suppress, 0, "b", "first-token column out of the scale" },
	{ ALL_VIEWS, SDLK_m, SH, cmd_metric, -1, NULL, NULL },
	{ ALL_VIEWS, SDLK_m, 0, cmd_metric, 1, "m, M", "next / previous head metric" },
	{ V(VIEW_MODEL), SDLK_o, 0, cmd_overlay, 0, "o", "model: metric overlay on / off" },
	{ V(VIEW_SAMPLES), SDLK_o, 0, cmd_sort, 0, "o", "samples: sort by index, loss, metric" },
	{ ALL_VIEWS, SDLK_SLASH, 0, cmd_search, 0, "/", "search the sample texts" },
	{ ALL_VIEWS, SDLK_s, 0, cmd_save, 0, "s", "save the view as PNG (as export does)" },
	{ V(VIEW_GRAPH), SDLK_SPACE, 0, cmd_graph_head, 0, "Space", "graph: current head on / off" },
	{ V(VIEW_GRAPH), SDLK_a, SH, cmd_graph_all, 0, "A", "graph: all heads / only the current" },
	{ V(VIEW_GRAPH), SDLK_a, 0, cmd_graph_mean, 0, "a", "graph: averaged mode (mean over heads)" },
	{ V(VIEW_GRAPH), SDLK_LEFTBRACKET, 0, cmd_threshold, -1, "[, ]", "graph: lower / raise the threshold" },
	{ V(VIEW_GRAPH), SDLK_RIGHTBRACKET, 0, cmd_threshold, 1, NULL, NULL },
	{ V(VIEW_GRAPH), SDLK_g, 0, cmd_graph_style, 0, "g", "graph: two columns / one line" },
};
const int viewer_n_bindings = sizeof viewer_bindings / sizeof viewer_bindings[0];

/* Does binding b accept modifiers `mods`? Shift and Ctrl must match what
 * the binding asks for; Alt and GUI keys never match. */
static bool
mods_match(const struct viewer_binding *b, int mods)
{
	if (mods & (KMOD_ALT | KMOD_GUI))
		return false;
	bool shift = mods & KMOD_SHIFT, ctrl = mods & KMOD_CTRL;
	if (ctrl != ((b->mods & KMOD_CTRL) != 0))
		return false;
	if ((b->mods & KMOD_SHIFT) && !shift)
		return false;
	return true;
}

/* ========================================================================
 * Search line editing
 * ======================================================================== */

static bool
search_key(struct viewer *v, const struct vin *in)
{
	size_t n = strlen(v->search);
	switch (in->key) {
	case SDLK_BACKSPACE:
		while (n > 0 && ((unsigned char)v->search[n - 1] & 0xc0) == 0x80)
			n--;           /* drop a whole UTF-8 character */
		if (n > 0)
			n--;
		v->search[n] = '\0';
		viewer_reorder(v);
		return true;
	case SDLK_RETURN:
	case SDLK_KP_ENTER:
		v->searching = false;
		return true;
	case SDLK_ESCAPE:
		v->searching = false;
		v->search[0] = '\0';
		viewer_reorder(v);
		return true;
	case SDLK_UP:
	case SDLK_DOWN:
	case SDLK_PAGEUP:
	case SDLK_PAGEDOWN:
		return viewer_step_sample(v, in->key == SDLK_UP ||
			in->key == SDLK_PAGEUP ? -1 : 1);
	default:
		return false;
	}
}

/* ========================================================================
 * Routing
 * ======================================================================== */

static bool
key_input(struct viewer *v, const struct vin *in)
{
	if (v->searching)
		return search_key(v, in);
	if (v->help && !(in->key == SDLK_SLASH && (in->mods & KMOD_SHIFT)) &&
	    in->key != SDLK_F1) {
		v->help = false;
		return true;
	}
	for (int i = 0; i < viewer_n_bindings; i++) {
		const struct viewer_binding *b = &viewer_bindings[i];
		if (b->key != in->key || !(b->views & (1u << v->view)) ||
		    !mods_match(b, in->mods))
			continue;
		return b->cmd(v, b->arg);
	}
	return false;
}

void
viewer_input(struct viewer *v, const struct vin *in)
{
	bool changed = false;
	struct viewer_chrome c;
	viewer_chrome_layout(v->width, v->height, &c);
	switch (in->type) {
	case VIN_KEY:
		changed = key_input(v, in);
		break;
	case VIN_TEXT:
		if (v->searching) {
			size_t n = strlen(v->search), m = strlen(in->text);
			if (n + m < sizeof v->search) {
				memcpy(v->search + n, in->text, m + 1);
				viewer_reorder(v);
				changed = true;
			}
		}
		break;
	case VIN_DOWN:
		if (v->help) {
			v->help = false;
			changed = true;
			break;
		}
		for (int i = 0; i < VIEW_COUNT; i++)
			if (vrect_has(&c.tabs[i], in->x, in->y))
				changed = viewer_set_view(v, i);
		/* fall through: the views also see presses in their area */
		/* FALLTHROUGH */
	default:
		if (in->type == VIN_DOWN && !vrect_has(&c.content, in->x, in->y))
			break;
		switch (v->view) {
		case VIEW_SAMPLES:
			changed |= view_samples_input(v, &c.content, in);
			break;
		case VIEW_MODEL:
			changed |= view_model_input(v, &c.content, in);
			break;
		case VIEW_HEAD:
			changed |= view_head_input(v, &c.content, in);
			break;
		case VIEW_GRAPH:
			changed |= view_graph_input(v, &c.content, in);
			break;
		case VIEW_DATASET:
			changed |= view_dataset_input(v, &c.content, in);
			break;
		default:
			break;
		}
		break;
	}
	if (changed)
		v->dirty = true;
}

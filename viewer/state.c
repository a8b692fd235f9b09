/*
 * state.c — the viewer's state: what is loaded (the run's samples, the
 * current sample's tokens and heads, statistics over the run), what is
 * selected, the map cache and what to ask the loader for. No SDL here.
 */
#include "viewer.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Rows per statistics request: small enough that head loads interleave. */
#define STATS_CHUNK 128

static const char *const view_names[VIEW_COUNT] = {
	"samples", "model", "head", "graph", "dataset",
};

const char *
viewer_view_name(enum view_id v)
{
	return (unsigned)v < VIEW_COUNT ? view_names[v] : NULL;
}

int
viewer_view_parse(const char *name)
{
	for (int i = 0; name && i < VIEW_COUNT; i++)
		if (strcmp(name, view_names[i]) == 0)
			return i;
	return -1;
}

static char *
xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* ========================================================================
 * Construction
 * ======================================================================== */

int
viewer_init(struct viewer *v, const char *path,
	const struct viewer_hooks *hooks, void *ctx)
{
	memset(v, 0, sizeof *v);
	v->path = xstrdup(path ? path : "");
	if (!v->path)
		return ERR_NOMEM;
	v->open = OPEN_PENDING;
	v->want_index = -1;
	v->view = VIEW_MODEL;
	v->cur_row = -1;
	v->scale = RENDER_SCALE_LINEAR;
	v->cmap = RENDER_CMAP_VIRIDIS;
	v->metric = ANA_PREV_TOKEN;
	v->overlay = true;
	v->list_hover = -1;
	v->hover_l = v->hover_h = -1;
	v->zoom = 1;
	v->hover_q = v->hover_k = -1;
	v->threshold = 0.1f;
	v->graph_style = RENDER_ARCS_COLUMNS;
	v->graph_focus = -1;
	v->ds_hover_l = v->ds_hover_h = -1;
	v->width = 1100;
	v->height = 760;
	v->scale_factor = 1;
	v->n_total = -1;
	v->cache_budget = (size_t)1024 << 20;
	const char *mb = getenv("ATTNSCOPE_VIEW_CACHE_MB");
	if (mb && atol(mb) > 0)
		v->cache_budget = (size_t)atol(mb) << 20;
	v->hooks = hooks;
	v->hooks_ctx = ctx;
	v->dirty = true;
	int rc;
	v->text = render_text_create(RENDER_DEFAULT_FONT_SIZE, &rc);
	return v->text ? 0 : rc;
}

static void
slot_drop_image(struct head_slot *s)
{
	for (int i = VIEWER_MIPS - 1; i >= 0; i--) {
		if (s->mip[i])
			cairo_surface_destroy(s->mip[i]);
		s->mip[i] = NULL;
	}
	if (s->img)
		cairo_surface_destroy(s->img);
	s->img = NULL;
	render_norm_release(&s->norm);
	s->img_key = 0;
}

static void
slots_free(struct sample_data *d)
{
	for (int i = d->n_layer * d->n_head - 1; d->slots && i >= 0; i--) {
		struct head_slot *s = &d->slots[i];
		slot_drop_image(s);
		if (s->thumb)
			cairo_surface_destroy(s->thumb);
		free(s->map);
		free(s->msg);
	}
	free(d->slots);
	d->slots = NULL;
}

static void
sample_free(struct sample_data *d)
{
	if (!d)
		return;
	slots_free(d);
	if (d->src_labels)
		for (int i = 0; i < d->n_src; i++)
			free(d->src_labels[i]);
	free(d->src_labels);
	free(d->src_pieces);
	free(d->src);
	free(d->hstats);
	if (d->labels)
		for (int i = 0; i < d->n_toks; i++)
			free(d->labels[i]);
	free(d->labels);
	free(d->pieces);
	free(d->toks);
	free(d->toks_msg);
	free(d);
}

static void
stat_table_release(struct stat_table *t)
{
	free(t->v);
	free(t->sum);
	free(t->cnt);
	free(t->best_row);
	free(t->msg);
	memset(t, 0, sizeof *t);
}

void
viewer_release(struct viewer *v)
{
	if (!v)
		return;
	for (int i = ANA_STAT_COUNT - 1; i >= 0; i--)
		stat_table_release(&v->stats[i]);
	free(v->graph_on);
	if (v->fig)
		cairo_surface_destroy(v->fig);
	if (v->grid_img)
		cairo_surface_destroy(v->grid_img);
	if (v->graph_img)
		cairo_surface_destroy(v->graph_img);
	sample_free(v->cur);
	free(v->order);
	for (int i = 0; i < v->n_rows; i++)
		free(v->rows[i].text);
	free(v->rows);
	free(v->model_name);
	free(v->open_msg);
	free(v->path);
	render_text_free(v->text);
	memset(v, 0, sizeof *v);
}

/* ========================================================================
 * Status line
 * ======================================================================== */

void
viewer_set_status(struct viewer *v, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(v->status, sizeof v->status, fmt, ap);
	va_end(ap);
	v->status_until = v->now + 4.0;
	v->dirty = true;
}

/* ========================================================================
 * Colour options
 * ======================================================================== */

void
viewer_heatmap_opts(const struct viewer *v, struct render_heatmap_opts *o)
{
	render_heatmap_opts_init(o);
	o->scale = v->scale;
	o->cmap = v->cmap;
	o->suppress_first = v->suppress_first;
	o->causal = viewer_kind_causal(v);
}

unsigned
viewer_color_key(const struct viewer *v)
{
	return 1u + (unsigned)v->scale + 4u * (unsigned)v->cmap +
	       16u * v->suppress_first + 32u * viewer_kind_causal(v);
}

/* ========================================================================
 * Map cache
 * ======================================================================== */

static size_t
slot_bytes(const struct head_slot *s)
{
	size_t n = (size_t)s->n_q * s->n_k;
	return (s->map ? 4 * n : 0) + (s->img ? 4 * n + 4 * n / 3 : 0);
}

/* Is (l, h) a head the current view needs in full? */
static bool
slot_pinned(const struct viewer *v, int l, int h)
{
	if (l == v->layer && h == v->head)
		return true;
	return v->view == VIEW_GRAPH && l == v->layer;
}

static void
cache_account(struct viewer *v)
{
	size_t used = 0;
	struct sample_data *d = v->cur;
	for (int i = 0; d && i < d->n_layer * d->n_head; i++)
		used += slot_bytes(&d->slots[i]);
	v->cache_used = used;
}

void
viewer_cache_trim(struct viewer *v)
{
	struct sample_data *d = v->cur;
	cache_account(v);
	while (d && v->cache_used > v->cache_budget) {
		int victim = -1;
		uint64_t oldest = UINT64_MAX;
		for (int i = 0; i < d->n_layer * d->n_head; i++) {
			struct head_slot *s = &d->slots[i];
			if (!s->map && !s->img)
				continue;
			if (slot_pinned(v, i / d->n_head, i % d->n_head))
				continue;
			if (s->used < oldest) {
				oldest = s->used;
				victim = i;
			}
		}
		if (victim < 0)
			break;
		struct head_slot *s = &d->slots[victim];
		v->cache_used -= slot_bytes(s);
		slot_drop_image(s);
		free(s->map);
		s->map = NULL;
	}
}

/* ========================================================================
 * Requests
 * ======================================================================== */

/* Thumbnail side in device pixels for the model view at the window's
 * size (at least 24, at most 256). */
static int
thumb_side(const struct viewer *v)
{
	struct viewer_chrome c;
	struct render_grid_layout g;
	struct render_grid_opts o = { .overlay = v->overlay ? &(double){ 0 } : NULL };
	viewer_chrome_layout(v->width, v->height, &c);
	if (render_grid_layout(c.content.w, c.content.h, v->n_layer, v->n_head, &o,
	    &g) != 0)
		return 64;
	int side = (int)ceil(g.thumb * v->scale_factor);
	return side < 24 ? 24 : side > 256 ? 256 : side;
}

static void
request_head(struct viewer *v, int l, int h, bool want_map, bool urgent)
{
	struct sample_data *d = v->cur;
	if (!d || l < 0 || h < 0 || l >= d->n_layer || h >= d->n_head)
		return;
	struct head_slot *s = &d->slots[l * d->n_head + h];
	struct render_heatmap_opts o;
	viewer_heatmap_opts(v, &o);
	if (s->state != SLOT_READY)
		s->state = SLOT_QUEUED;
	if (want_map)
		s->map_wanted = true;
	if (v->hooks && v->hooks->load_head)
		v->hooks->load_head(v->hooks_ctx, d->gen, d->id, d->kind, l, h,
			want_map, &o,
			viewer_color_key(v), thumb_side(v), urgent);
}

/* Make sure the map of (l, h) is (or will be) in memory. */
static void
need_map(struct viewer *v, int l, int h, bool urgent)
{
	struct sample_data *d = v->cur;
	if (!d || l < 0 || h < 0 || l >= d->n_layer || h >= d->n_head)
		return;
	struct head_slot *s = &d->slots[l * d->n_head + h];
	s->used = ++v->clock;
	if (s->map || s->map_wanted || s->state == SLOT_ERROR)
		return;
	request_head(v, l, h, true, urgent);
}

/* The heads the current view shows in full. */
static void
need_view_maps(struct viewer *v)
{
	struct sample_data *d = v->cur;
	if (!d)
		return;
	need_map(v, v->layer, v->head, true);
	if (v->view == VIEW_GRAPH)
		for (int h = 0; h < d->n_head; h++)
			if (!v->graph_on || v->graph_on[h])
				need_map(v, v->layer, h, true);
}

/* Thumbnails made with other colour options are remade. */
static void
refresh_thumbs(struct viewer *v)
{
	struct sample_data *d = v->cur;
	unsigned key = viewer_color_key(v);
	for (int i = 0; d && i < d->n_layer * d->n_head; i++) {
		struct head_slot *s = &d->slots[i];
		if (s->state == SLOT_READY && s->thumb_key != key)
			request_head(v, i / d->n_head, i % d->n_head, false, false);
	}
}

static void
ensure_stats(struct viewer *v, int metric)
{
	if ((unsigned)metric >= ANA_STAT_COUNT || v->open != OPEN_OK)
		return;
	struct stat_table *t = &v->stats[metric];
	if (t->requested || t->err || t->n_done >= v->n_rows)
		return;
	int n = v->n_rows - t->n_done;
	if (n > STATS_CHUNK)
		n = STATS_CHUNK;
	int64_t *ids = malloc((size_t)n * sizeof *ids);
	if (!ids)
		return;
	for (int i = 0; i < n; i++)
		ids[i] = v->rows[t->n_done + i].id;
	t->requested = true;
	if (v->hooks && v->hooks->load_stats)
		v->hooks->load_stats(v->hooks_ctx, metric, t->n_done, ids, n);
	free(ids);
}

void
viewer_update_needs(struct viewer *v)
{
	need_view_maps(v);
	if (v->view == VIEW_DATASET || v->view == VIEW_SAMPLES)
		ensure_stats(v, v->metric);
	if (v->view == VIEW_MODEL)
		refresh_thumbs(v);
}

/* ========================================================================
 * Selection
 * ======================================================================== */

/* (Re)make the current sample's slots for its kind with this shape, start
 * a new generation and ask for the heads (and the tokens when `tokens`). */
static void
sample_setup(struct viewer *v, int n_layer, int n_head, bool tokens)
{
	struct sample_data *d = v->cur;
	slots_free(d);
	d->n_layer = d->n_head = 0;
	size_t n = (size_t)n_layer * n_head;
	d->slots = calloc(n ? n : 1, sizeof *d->slots);
	if (!d->slots) {
		viewer_set_status(v, "out of memory");
		return;
	}
	d->gen = ++v->gen;
	d->n_layer = n_layer;
	d->n_head = n_head;
	if (v->fig) {
		cairo_surface_destroy(v->fig);
		v->fig = NULL;
	}
	v->fig_key = 0;
	v->grid_key = 0;
	v->graph_key = 0;
	v->graph_first = 0;
	v->graph_focus = -1;
	v->graph_pinned = false;
	v->hover_q = v->hover_k = -1;
	v->hover_l = v->hover_h = -1;
	v->dirty = true;
	if (v->hooks && v->hooks->cancel)
		v->hooks->cancel(v->hooks_ctx, d->gen);
	if (tokens && v->hooks && v->hooks->load_sample)
		v->hooks->load_sample(v->hooks_ctx, d->gen, d->id);

	/* the current head first, then its layer, then the rest; maps too
	 * while the whole sample fits in half the cache */
	double bytes = 4.0 * d->n_tok * d->n_tok * (double)n;
	bool all_maps = bytes <= v->cache_budget / 2;
	if (v->layer >= d->n_layer)
		v->layer = d->n_layer - 1;
	if (v->head >= d->n_head)
		v->head = d->n_head - 1;
	request_head(v, v->layer, v->head, true, true);
	for (int h = 0; h < d->n_head; h++)
		if (h != v->head)
			request_head(v, v->layer, h, all_maps || v->view == VIEW_GRAPH,
				false);
	for (int l = 0; l < d->n_layer; l++)
		for (int h = 0; l != v->layer && h < d->n_head; h++)
			request_head(v, l, h, all_maps, false);
	viewer_update_needs(v);
}

bool
viewer_select_row(struct viewer *v, int row)
{
	if (row < 0 || row >= v->n_rows)
		return false;
	v->want_index = -1;
	if (v->cur && v->cur->row == row)
		return false;
	sample_free(v->cur);
	v->cur = NULL;
	if (v->fig) {
		cairo_surface_destroy(v->fig);
		v->fig = NULL;
	}
	v->fig_key = 0;
	v->grid_key = 0;
	v->cur_row = row;
	v->list_follow = true;
	v->dirty = true;
	v->zoom = 1;
	v->u0 = v->v0 = 0;
	v->graph_first = 0;
	v->graph_focus = -1;
	v->graph_pinned = false;
	v->hover_q = v->hover_k = -1;
	if (v->n_layer < 1 || v->n_head < 1)
		return true;

	struct sample_data *d = calloc(1, sizeof *d);
	if (!d) {
		viewer_set_status(v, "out of memory");
		return true;
	}
	d->row = row;
	d->id = v->rows[row].id;
	d->index = v->rows[row].index;
	d->n_tok = v->rows[row].n_tok;
	snprintf(d->kind, sizeof d->kind, "%s", v->kind_want[0] ? v->kind_want
		: v->enc_dec ? "decoder" : "self");
	v->cur = d;
	sample_setup(v, v->n_layer, v->n_head, true);
	return true;
}

/* Position of row `row` in the list order, or -1. */
static int
order_pos(const struct viewer *v, int row)
{
	for (int i = 0; i < v->n_order; i++)
		if (v->order[i] == row)
			return i;
	return -1;
}

bool
viewer_step_sample(struct viewer *v, int delta)
{
	if (v->n_order == 0)
		return false;
	int pos = order_pos(v, v->cur_row);
	int next = pos < 0 ? 0 : pos + delta;
	if (next < 0)
		next = 0;
	if (next >= v->n_order)
		next = v->n_order - 1;
	if (pos >= 0 && next == pos)
		return false;
	return viewer_select_row(v, v->order[next]);
}

bool
viewer_select_head(struct viewer *v, int layer, int head)
{
	int nl = v->cur && v->cur->slots ? v->cur->n_layer : v->n_layer;
	int nh = v->cur && v->cur->slots ? v->cur->n_head : v->n_head;
	if (nl < 1 || nh < 1)
		return false;
	if (layer < 0)
		layer = 0;
	if (layer >= nl)
		layer = nl - 1;
	if (head < 0)
		head = 0;
	if (head >= nh)
		head = nh - 1;
	if (layer == v->layer && head == v->head)
		return false;
	bool layer_changed = layer != v->layer;
	v->layer = layer;
	v->head = head;
	v->hover_q = v->hover_k = -1;
	if (layer_changed)
		v->graph_focus = -1, v->graph_pinned = false;
	need_view_maps(v);
	viewer_cache_trim(v);
	v->dirty = true;
	return true;
}

bool
viewer_set_view(struct viewer *v, int view)
{
	if (view < 0 || view >= VIEW_COUNT)
		return false;
	if ((int)v->view == view)
		return false;
	v->view = (enum view_id)view;
	v->dragging = false;
	viewer_update_needs(v);
	v->dirty = true;
	return true;
}

void
viewer_resize(struct viewer *v, double width, double height,
	double scale_factor)
{
	if (width == v->width && height == v->height &&
	    scale_factor == v->scale_factor)
		return;
	v->width = width;
	v->height = height;
	v->scale_factor = scale_factor > 0 ? scale_factor : 1;
	v->dirty = true;
}

/* ========================================================================
 * List order: search and sort
 * ======================================================================== */

static double
row_metric(const struct viewer *v, int row)
{
	const struct stat_table *t = &v->stats[v->metric];
	if (!t->v || row >= t->n_done || v->n_layer < 1)
		return NAN;
	return t->v[(size_t)row * v->n_layer * v->n_head +
		v->layer * v->n_head + v->head];
}

static const struct viewer *sort_ctx;

static int
cmp_rows(const void *a, const void *b)
{
	const struct viewer *v = sort_ctx;
	int ra = *(const int *)a, rb = *(const int *)b;
	double x = NAN, y = NAN;
	if (v->sort == SORT_LOSS) {
		x = v->rows[ra].loss;
		y = v->rows[rb].loss;
	} else if (v->sort == SORT_METRIC) {
		x = row_metric(v, ra);
		y = row_metric(v, rb);
	}
	if (v->sort != SORT_INDEX) {
		bool nx = isnan(x), ny = isnan(y);
		if (nx != ny)
			return nx ? 1 : -1;       /* unknown values last */
		if (!nx && x != y)
			return (x < y) == !v->sort_desc ? -1 : 1;
	}
	int c = (ra > rb) - (ra < rb);
	return v->sort == SORT_INDEX && v->sort_desc ? -c : c;
}

/* Case-insensitive substring, ASCII folding. */
static bool
matches(const char *text, const char *q)
{
	if (!q[0])
		return true;
	if (!text)
		return false;
	size_t n = strlen(q);
	for (const char *p = text; *p; p++)
		if (strncasecmp(p, q, n) == 0)
			return true;
	return false;
}

void
viewer_reorder(struct viewer *v)
{
	int *order = realloc(v->order, (size_t)(v->n_rows ? v->n_rows : 1) *
		sizeof *order);
	if (!order)
		return;
	v->order = order;
	int n = 0;
	for (int i = 0; i < v->n_rows; i++) {
		char idx[32];
		snprintf(idx, sizeof idx, "#%" PRId64, v->rows[i].index);
		if (matches(v->rows[i].text, v->search) ||
		    strcmp(idx, v->search) == 0)
			order[n++] = i;
	}
	sort_ctx = v;
	qsort(order, (size_t)n, sizeof *order, cmp_rows);
	sort_ctx = NULL;
	v->n_order = n;
	if (v->list_top > n - 1)
		v->list_top = n > 0 ? n - 1 : 0;
	if (v->list_top < 0)
		v->list_top = 0;
	if (v->sort == SORT_METRIC)
		ensure_stats(v, v->metric);
	v->dirty = true;
}

/* ========================================================================
 * Data from the loader
 * ======================================================================== */

void
viewer_on_open(struct viewer *v, int err, const char *msg, int64_t run_id,
	const char *model_name, const char *arch, int n_layer, int n_head,
	const char *status, int64_t n_total)
{
	free(v->open_msg);
	v->open_msg = NULL;
	v->dirty = true;
	if (err) {
		v->open = OPEN_FAILED;
		v->open_err = err;
		v->open_msg = xstrdup(msg);
		return;
	}
	v->open = OPEN_OK;
	v->open_err = 0;
	v->run_id = run_id;
	free(v->model_name);
	v->model_name = xstrdup(model_name ? model_name : "model");
	v->causal = !arch || strcmp(arch, "bert") != 0;
	v->enc_dec = arch && (strcmp(arch, "bart") == 0 || strcmp(arch, "t5") == 0);
	v->n_layer = n_layer;
	v->n_head = n_head;
	snprintf(v->run_status, sizeof v->run_status, "%s", status ? status : "");
	v->n_total = n_total;
	free(v->graph_on);
	v->graph_on = calloc((size_t)(n_head > 0 ? n_head : 1), sizeof *v->graph_on);
	for (int h = 0; v->graph_on && h < n_head; h++)
		v->graph_on[h] = true;
	if (v->layer >= n_layer)
		v->layer = n_layer > 0 ? n_layer - 1 : 0;
	if (v->head >= n_head)
		v->head = n_head > 0 ? n_head - 1 : 0;
}

void
viewer_on_rows(struct viewer *v, struct sample_row *rows, int n,
	const char *status)
{
	if (status)
		snprintf(v->run_status, sizeof v->run_status, "%s", status);
	v->dirty = true;
	if (n <= 0) {
		free(rows);
		return;
	}
	if (v->n_rows + n > v->cap_rows) {
		int cap = v->cap_rows ? v->cap_rows : 64;
		while (cap < v->n_rows + n)
			cap *= 2;
		struct sample_row *p = realloc(v->rows, (size_t)cap * sizeof *p);
		if (!p) {
			for (int i = 0; i < n; i++)
				free(rows[i].text);
			free(rows);
			return;
		}
		v->rows = p;
		v->cap_rows = cap;
	}
	memcpy(v->rows + v->n_rows, rows, (size_t)n * sizeof *rows);
	free(rows);
	bool first = v->n_rows == 0;
	v->n_rows += n;
	viewer_reorder(v);
	if (!first)
		viewer_set_status(v, "%d new sample%s", n, n == 1 ? "" : "s");
	/* statistics tables that were complete continue with the new rows */
	for (int m = 0; m < ANA_STAT_COUNT; m++)
		if (v->stats[m].n_done > 0 && !v->stats[m].requested)
			ensure_stats(v, m);
	if (v->want_index >= 0) {
		for (int i = 0; i < v->n_rows; i++)
			if (v->rows[i].index == v->want_index) {
				v->want_index = -1;
				viewer_select_row(v, i);
				break;
			}
	} else if (v->cur_row < 0 && v->n_order > 0) {
		viewer_select_row(v, v->order[0]);
	}
}

void
viewer_on_tokens(struct viewer *v, int gen, int err, const char *msg,
	struct store_token *toks, int n)
{
	struct sample_data *d = v->cur;
	if (!d || d->gen != gen) {
		free(toks);
		return;
	}
	d->toks_ready = true;
	d->toks_err = err;
	free(d->toks_msg);
	d->toks_msg = err ? xstrdup(msg) : NULL;
	free(d->toks);
	d->toks = toks;
	d->n_toks = toks ? n : 0;
	if (d->n_toks > 0) {
		d->labels = calloc((size_t)d->n_toks, sizeof *d->labels);
		d->pieces = calloc((size_t)d->n_toks, sizeof *d->pieces);
		for (int i = 0; d->labels && d->pieces && i < d->n_toks; i++) {
			char buf[256];
			const char *p = toks[i].piece ? toks[i].piece : "";
			render_token_label(p, strlen(p), buf, sizeof buf);
			d->labels[i] = strdup(buf);
			d->pieces[i] = p;
		}
	}
	v->fig_key = 0;
	v->grid_key = 0;
	v->dirty = true;
}

static const struct viewer_kind *
find_kind(const struct sample_data *d, const char *name)
{
	for (int i = 0; name && i < d->n_kinds; i++)
		if (strcmp(d->kinds[i].name, name) == 0)
			return &d->kinds[i];
	return NULL;
}

/* Switch the current sample to kind `k` (one it has). */
static void
switch_kind(struct viewer *v, const struct viewer_kind *k)
{
	struct sample_data *d = v->cur;
	bool same = strcmp(d->kind, k->name) == 0 && d->slots &&
		d->n_layer == k->n_layer && d->n_head == k->n_head;
	if (same)
		return;
	snprintf(d->kind, sizeof d->kind, "%s", k->name);
	/* the per-head statistics describe the self / decoder maps */
	bool stats_fit = (strcmp(k->name, "self") == 0 ||
		strcmp(k->name, "decoder") == 0) && k->n_layer == v->n_layer &&
		k->n_head == v->n_head;
	if (!stats_fit) {
		free(d->hstats);
		d->hstats = NULL;
	}
	sample_setup(v, k->n_layer, k->n_head, false);
}

void
viewer_on_kinds(struct viewer *v, int gen, const struct viewer_kind *kinds,
	int n_kinds, struct store_token *src, int n_src)
{
	struct sample_data *d = v->cur;
	if (!d || d->gen != gen) {
		free(src);
		return;
	}
	d->n_kinds = 0;
	for (int i = 0; kinds && i < n_kinds && i < VIEWER_MAX_KINDS; i++)
		d->kinds[d->n_kinds++] = kinds[i];
	d->kinds_ready = true;
	d->src = src;
	d->n_src = src ? n_src : 0;
	if (d->n_src > 0) {
		d->src_labels = calloc((size_t)d->n_src, sizeof *d->src_labels);
		d->src_pieces = calloc((size_t)d->n_src, sizeof *d->src_pieces);
		for (int i = 0; d->src_labels && d->src_pieces && i < d->n_src; i++) {
			char buf[256];
			const char *p = src[i].piece ? src[i].piece : "";
			render_token_label(p, strlen(p), buf, sizeof buf);
			d->src_labels[i] = strdup(buf);
			d->src_pieces[i] = p;
		}
		if (!d->src_labels || !d->src_pieces) {
			free(d->src_labels);
			free(d->src_pieces);
			d->src_labels = NULL;
			d->src_pieces = NULL;
		}
	}
	v->dirty = true;
	if (d->n_kinds == 0)
		return;
	const struct viewer_kind *k = find_kind(d, v->kind_want);
	if (!k)
		k = find_kind(d, "self");
	if (!k)
		k = find_kind(d, "decoder");
	if (!k)
		k = &d->kinds[0];
	switch_kind(v, k);
}

bool
viewer_set_kind(struct viewer *v, const char *kind)
{
	struct sample_data *d = v->cur;
	const struct viewer_kind *k = d ? find_kind(d, kind) : NULL;
	if (!k)
		return false;
	snprintf(v->kind_want, sizeof v->kind_want, "%s", k->name);
	if (strcmp(d->kind, k->name) == 0)
		return false;
	switch_kind(v, k);
	viewer_set_status(v, "showing %s attention", k->name);
	return true;
}

bool
viewer_cycle_kind(struct viewer *v, int delta)
{
	struct sample_data *d = v->cur;
	if (!d || d->n_kinds < 1) {
		viewer_set_status(v, "this sample has one kind of map");
		return false;
	}
	if (d->n_kinds == 1) {
		viewer_set_status(v, "this sample has only %s maps", d->kinds[0].name);
		return false;
	}
	int at = 0;
	for (int i = 0; i < d->n_kinds; i++)
		if (strcmp(d->kinds[i].name, d->kind) == 0)
			at = i;
	int next = ((at + (delta < 0 ? -1 : 1)) % d->n_kinds + d->n_kinds) %
		d->n_kinds;
	return viewer_set_kind(v, d->kinds[next].name);
}

const char *
viewer_kind(const struct viewer *v)
{
	return v->cur && v->cur->kind[0] ? v->cur->kind : "self";
}

bool
viewer_kind_causal(const struct viewer *v)
{
	const char *k = viewer_kind(v);
	if (strcmp(k, "decoder") == 0)
		return true;
	return v->causal && strcmp(k, "self") == 0;
}

char **
viewer_axis_labels(const struct viewer *v, bool key_axis, int *n)
{
	const struct sample_data *d = v->cur;
	*n = 0;
	if (!d)
		return NULL;
	const char *k = viewer_kind(v);
	bool src = strcmp(k, "encoder") == 0 ||
		(key_axis && strcmp(k, "cross") == 0);
	if (src) {
		*n = d->src_labels ? d->n_src : 0;
		return d->src_labels;
	}
	*n = d->labels ? d->n_toks : 0;
	return d->labels;
}

const char *const *
viewer_axis_pieces(const struct viewer *v, bool key_axis, int *n)
{
	const struct sample_data *d = v->cur;
	*n = 0;
	if (!d)
		return NULL;
	const char *k = viewer_kind(v);
	bool src = strcmp(k, "encoder") == 0 ||
		(key_axis && strcmp(k, "cross") == 0);
	if (src) {
		*n = d->src_pieces ? d->n_src : 0;
		return d->src_pieces;
	}
	*n = d->pieces ? d->n_toks : 0;
	return d->pieces;
}

void
viewer_on_head_stats(struct viewer *v, int gen, double *hstats)
{
	struct sample_data *d = v->cur;
	if (!d || d->gen != gen) {
		free(hstats);
		return;
	}
	free(d->hstats);
	d->hstats = hstats;
	d->hstats_ready = true;
	v->grid_key = 0;
	v->dirty = true;
}

void
viewer_on_head(struct viewer *v, int gen, int layer, int head, int err,
	const char *msg, float *map, int n_q, int n_k, size_t n_bad,
	cairo_surface_t *thumb, unsigned thumb_key, cairo_surface_t *img,
	struct render_norm *norm)
{
	struct sample_data *d = v->cur;
	if (!d || d->gen != gen || layer < 0 || head < 0 ||
	    layer >= d->n_layer || head >= d->n_head || err) {
		if (img)
			cairo_surface_destroy(img);
		render_norm_release(norm);
		img = NULL;
	}
	if (!d || d->gen != gen || layer < 0 || head < 0 ||
	    layer >= d->n_layer || head >= d->n_head) {
		free(map);
		if (thumb)
			cairo_surface_destroy(thumb);
		return;
	}
	struct head_slot *s = &d->slots[layer * d->n_head + head];
	v->dirty = true;
	if (err) {
		free(map);
		if (thumb)
			cairo_surface_destroy(thumb);
		s->state = SLOT_ERROR;
		s->err = err;
		free(s->msg);
		s->msg = xstrdup(msg);
		s->map_wanted = false;
		d->thumbs_version++;
		if (layer == v->layer && head == v->head)
			v->fig_key = 0;
		return;
	}
	s->state = SLOT_READY;
	s->n_q = n_q;
	s->n_k = n_k;
	s->n_bad = n_bad;
	if (img && map && thumb_key == viewer_color_key(v)) {
		slot_drop_image(s);
		s->img = img;
		s->norm = *norm;
		memset(norm, 0, sizeof *norm);
		s->img_key = thumb_key;
	} else if (img) {
		cairo_surface_destroy(img);
		render_norm_release(norm);
	}
	if (map) {
		free(s->map);
		s->map = map;
		s->map_wanted = false;
		s->used = ++v->clock;
		if (layer == v->layer && head == v->head)
			v->fig_key = 0;
		if (v->view == VIEW_GRAPH && layer == v->layer)
			v->dirty = true;
	}
	if (thumb) {
		if (s->thumb)
			cairo_surface_destroy(s->thumb);
		s->thumb = thumb;
		s->thumb_key = thumb_key;
		d->thumbs_version++;
	}
	if (map)
		viewer_cache_trim(v);
}

void
viewer_on_stats(struct viewer *v, int metric, int from, int n,
	double *values, int err, const char *msg)
{
	if ((unsigned)metric >= ANA_STAT_COUNT) {
		free(values);
		return;
	}
	struct stat_table *t = &v->stats[metric];
	int lh = v->n_layer * v->n_head;
	t->requested = false;
	v->dirty = true;
	if (err) {
		t->err = err;
		free(t->msg);
		t->msg = xstrdup(msg);
		free(values);
		return;
	}
	if (from != t->n_done || lh < 1 || from + n > v->n_rows) {
		free(values);
		return;
	}
	if (from + n > t->n_alloc) {
		int cap = t->n_alloc ? t->n_alloc : 256;
		while (cap < from + n)
			cap *= 2;
		double *p = realloc(t->v, (size_t)cap * lh * sizeof *p);
		if (!p) {
			free(values);
			return;
		}
		t->v = p;
		t->n_alloc = cap;
	}
	if (!t->sum) {
		t->sum = calloc((size_t)lh, sizeof *t->sum);
		t->cnt = calloc((size_t)lh, sizeof *t->cnt);
		t->best_row = malloc((size_t)lh * sizeof *t->best_row);
		if (!t->sum || !t->cnt || !t->best_row) {
			free(values);
			return;
		}
		for (int i = 0; i < lh; i++)
			t->best_row[i] = -1;
	}
	memcpy(t->v + (size_t)from * lh, values, (size_t)n * lh * sizeof *values);
	free(values);
	for (int r = from; r < from + n; r++)
		for (int i = 0; i < lh; i++) {
			double x = t->v[(size_t)r * lh + i];
			if (!isfinite(x))
				continue;
			t->sum[i] += x;
			t->cnt[i]++;
			int b = t->best_row[i];
			if (b < 0 || x > t->v[(size_t)b * lh + i])
				t->best_row[i] = r;
		}
	t->n_done = from + n;
	if (v->sort == SORT_METRIC && metric == v->metric)
		viewer_reorder(v);
	ensure_stats(v, metric);
}

/* ========================================================================
 * Queries
 * ======================================================================== */

bool
viewer_busy(const struct viewer *v)
{
	if (v->open == OPEN_PENDING)
		return true;
	if (v->open == OPEN_FAILED || v->n_rows == 0 || v->want_index >= 0)
		return false;
	const struct stat_table *t = &v->stats[v->metric];
	bool stats_pending = !t->err && t->n_done < v->n_rows;
	if (v->view == VIEW_DATASET)
		return stats_pending;
	if (v->view == VIEW_SAMPLES)
		return stats_pending;
	const struct sample_data *d = v->cur;
	if (!d)
		return v->cur_row >= 0;
	if (!d->toks_ready)
		return true;
	/* no per-head state (its allocation failed): nothing is loading */
	if (!d->slots || v->layer >= d->n_layer || v->head >= d->n_head)
		return false;
	int n = d->n_layer * d->n_head;
	if (v->view == VIEW_MODEL) {
		if (v->overlay && !d->hstats_ready)
			return true;
		for (int i = 0; i < n; i++)
			if (d->slots[i].state == SLOT_QUEUED ||
			    d->slots[i].state == SLOT_EMPTY)
				return true;
		return false;
	}
	const struct head_slot *s = &d->slots[v->layer * d->n_head + v->head];
	if (s->state != SLOT_ERROR && !s->map)
		return true;
	if (v->view == VIEW_GRAPH)
		for (int h = 0; h < d->n_head; h++) {
			s = &d->slots[v->layer * d->n_head + h];
			if ((!v->graph_on || v->graph_on[h]) && s->state != SLOT_ERROR &&
			    !s->map)
				return true;
		}
	return false;
}

double
viewer_row_entropy(const float *map, int n_k, int q)
{
	const float *row = map + (size_t)q * n_k;
	double e = 0;
	for (int k = 0; k < n_k; k++) {
		float a = row[k];
		if (!isfinite(a))
			return NAN;
		if (a > 0)
			e -= a * log(a);
	}
	return e;
}

void
viewer_head_title(const struct viewer *v, char *buf, size_t size)
{
	/* the same title as `attnscope export --format png` */
	long sample = v->cur ? (long)v->cur->index : 0;
	snprintf(buf, size, "%s · run %" PRId64 " · sample %ld · layer %ld · head %ld",
		v->model_name ? v->model_name : "model", v->run_id, sample,
		(long)v->layer, (long)v->head);
}

void
viewer_save_name(const struct viewer *v, char *buf, size_t size)
{
	long s = v->cur ? (long)v->cur->index : 0;
	switch (v->view) {
	case VIEW_HEAD:
		snprintf(buf, size, "attnscope-s%ld-L%dH%d.png", s, v->layer, v->head);
		break;
	case VIEW_GRAPH:
		snprintf(buf, size, "attnscope-graph-s%ld-L%d.png", s, v->layer);
		break;
	case VIEW_MODEL:
		snprintf(buf, size, "attnscope-grid-s%ld.png", s);
		break;
	case VIEW_DATASET:
		snprintf(buf, size, "attnscope-stats-%s.png",
			ana_stat_name((enum ana_stat)v->metric));
		break;
	default:
		snprintf(buf, size, "attnscope-samples.png");
		break;
	}
}

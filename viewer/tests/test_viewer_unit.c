/*
 * test_viewer_unit.c — the viewer's SDL-free layer: layouts and hit tests
 * of the figures and views as pure functions, head view zoom/pan geometry,
 * key dispatch and pointer input on a viewer fed with synthetic data, and
 * every view drawn into a cairo image surface (no display, no SDL).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "SDL_keycode.h"
#include "viewer.h"

/* ------------------------------------------------------------------------
 * Pure layouts
 * ------------------------------------------------------------------------ */

static void
test_chrome(void **state)
{
	(void)state;
	struct viewer_chrome c;
	viewer_chrome_layout(1280, 800, &c);
	assert_true(c.content.y == VIEWER_HEADER_H);
	assert_true(c.content.y + c.content.h == 800 - VIEWER_STATUS_H);
	for (int i = 1; i < VIEW_COUNT; i++)
		assert_true(c.tabs[i].x >= c.tabs[i - 1].x + c.tabs[i - 1].w);
	assert_true(vrect_has(&c.tabs[VIEW_HEAD], c.tabs[VIEW_HEAD].x + 2, 10));
}

static void
check_grid(double w, double h, int L, int H, bool overlay)
{
	double zero = 0;
	struct render_grid_opts o = { .title = "t", .overlay = overlay ? &zero : NULL };
	struct render_grid_layout g;
	assert_int_equal(render_grid_layout(w, h, L, H, &o, &g), 0);
	/* inside the figure */
	double x, y, cw, ch;
	render_grid_cell_rect(&g, L - 1, H - 1, &x, &y, &cw, &ch);
	assert_true(g.x >= 0 && g.y >= 0);
	assert_true(x + cw <= w + 0.5 && y + ch <= h + 0.5);
	assert_true(g.thumb >= 1);
	/* every cell's centre hits that cell; the gap after it does not */
	for (int l = 0; l < L; l++)
		for (int hh = 0; hh < H; hh++) {
			int hl = -1, hd = -1;
			render_grid_cell_rect(&g, l, hh, &x, &y, &cw, &ch);
			assert_true(render_grid_hit(&g, x + cw / 2, y + ch / 2, &hl, &hd));
			assert_int_equal(hl, l);
			assert_int_equal(hd, hh);
			if (g.pitch - g.thumb >= 1) {
				hl = -7;
				assert_false(render_grid_hit(&g, x + g.thumb + 0.5, y + 1,
					&hl, &hd) && hl == l && hd == hh);
			}
		}
	int a = 0, b = 0;
	assert_false(render_grid_hit(&g, g.x - 2, g.y - 2, &a, &b));
	assert_false(render_grid_hit(&g, w + 10, h + 10, &a, &b));
}

static void
test_grid_layout(void **state)
{
	(void)state;
	check_grid(1280, 746, 2, 4, true);
	check_grid(1280, 746, 12, 12, true);
	check_grid(1280, 746, 32, 32, true);   /* readable up to 32 x 32 */
	check_grid(600, 400, 5, 8, false);
	struct render_grid_layout g;
	assert_int_equal(render_grid_layout(1280, 746, 32, 32, NULL, &g), 0);
	assert_true(g.thumb >= 12);
	assert_int_equal(render_grid_layout(0, 10, 2, 2, NULL, &g), ERR_ARG);
	assert_int_equal(render_grid_layout(100, 100, 0, 2, NULL, &g), ERR_ARG);
}

static void
test_matrix_layout(void **state)
{
	(void)state;
	struct render_matrix_layout m;
	struct render_matrix_opts o = { .title = "x" };
	assert_int_equal(render_matrix_layout(900, 600, 12, 12, &o, &m), 0);
	for (int l = 0; l < 12; l++)
		for (int h = 0; h < 12; h++) {
			int a = -1, b = -1;
			assert_true(render_matrix_hit(&m, m.x + (h + 0.5) * m.cell_w,
				m.y + (l + 0.5) * m.cell_h, &a, &b));
			assert_int_equal(a, l);
			assert_int_equal(b, h);
		}
	int a, b;
	assert_false(render_matrix_hit(&m, m.x - 1, m.y, &a, &b));
	assert_false(render_matrix_hit(&m, m.x + 12 * m.cell_w + 1, m.y, &a, &b));
	assert_true(m.bar_x > m.x + 12 * m.cell_w);
	assert_true(m.bar_x + m.bar_w < 900);
}

static void
test_arcs_layout(void **state)
{
	(void)state;
	int ids[4] = { 0, 1, 2, 3 };
	struct render_arcs_opts o = { .n_legend = 4, .legend_ids = ids, .focus = -1,
		.first = 10, .step = 20 };
	struct render_arcs_layout a;
	assert_int_equal(render_arcs_layout(800, 600, 100, &o, &a), 0);
	assert_int_equal(a.first, 10);
	assert_true(a.count >= 20 && a.count <= 30);
	int idx = -1;
	/* a query label and a key label of token 12 */
	double y = a.y0 + (12 - a.first + 0.5) * a.step;
	assert_int_equal(render_arcs_hit(&a, a.q_x - 5, y, &idx),
		RENDER_ARCS_HIT_QUERY);
	assert_int_equal(idx, 12);
	assert_int_equal(render_arcs_hit(&a, a.k_x + 5, y, &idx),
		RENDER_ARCS_HIT_KEY);
	assert_int_equal(idx, 12);
	/* the middle is edges only */
	assert_int_equal(render_arcs_hit(&a, (a.q_x + a.k_x) / 2, y, &idx),
		RENDER_ARCS_HIT_NONE);
	/* legend chip 2 */
	assert_int_equal(render_arcs_hit(&a, a.legend_x + 2.5 * a.chip_w,
		a.legend_y + a.chip_h / 2, &idx), RENDER_ARCS_HIT_LEGEND);
	assert_int_equal(idx, 2);
	/* fit everything, line style */
	struct render_arcs_opts l = { .style = RENDER_ARCS_LINE, .focus = -1 };
	assert_int_equal(render_arcs_layout(1000, 400, 40, &l, &a), 0);
	assert_int_equal(a.count, 40);
	assert_int_equal(render_arcs_hit(&a, a.x0 + 7.5 * a.step, a.base_y + 4,
		&idx), RENDER_ARCS_HIT_QUERY);
	assert_int_equal(idx, 7);
	assert_int_equal(render_arcs_layout(100, 100, 0, &l, &a), ERR_ARG);
}

static void
test_head_geom(void **state)
{
	(void)state;
	struct head_geom g = { .vx = 100, .vy = 50, .vw = 400, .vh = 400,
		.cell = 4, .n_q = 100, .n_k = 100, .zoom = 1 };
	double maxz = head_geom_max_zoom(&g);
	assert_true(maxz >= 20);
	int q, k;
	assert_true(head_geom_hit(&g, 100, 50, &q, &k));
	assert_int_equal(q, 0);
	assert_int_equal(k, 0);
	assert_true(head_geom_hit(&g, 499, 449, &q, &k));
	assert_int_equal(q, 99);
	assert_int_equal(k, 99);
	assert_false(head_geom_hit(&g, 99, 60, &q, &k));
	/* zooming keeps the cell under the pointer */
	assert_true(head_geom_hit(&g, 333, 222, &q, &k));
	int q0 = q, k0 = k;
	head_geom_zoom_at(&g, 4, 333, 222, maxz);
	assert_true(fabs(g.zoom - 4) < 1e-9);
	assert_true(head_geom_hit(&g, 333, 222, &q, &k));
	assert_int_equal(q, q0);
	assert_int_equal(k, k0);
	/* panning moves the content with the pointer and clamps at edges */
	double u0 = g.u0;
	head_geom_pan(&g, -32, 0, maxz);           /* drag left: see further right */
	assert_true(fabs(g.u0 - (u0 + 2)) < 1e-9);
	head_geom_pan(&g, 1e6, 1e6, maxz);
	assert_true(g.u0 == 0 && g.v0 == 0);
	head_geom_pan(&g, -1e6, -1e6, maxz);
	assert_true(fabs(g.u0 - 75) < 1e-9);       /* 100 - 400 / 16 */
	/* zoom never goes below the fitted figure */
	head_geom_zoom_at(&g, 1e-3, 300, 300, maxz);
	assert_true(g.zoom == 1 && g.u0 == 0 && g.v0 == 0);
}

static void
test_samples_layout(void **state)
{
	(void)state;
	struct vrect r = { 0, 30, 1000, 500 };
	struct samples_layout l;
	view_samples_layout(&r, true, 14, &l);
	assert_true(l.header.y > r.y);
	assert_true(l.visible > 10);
	assert_int_equal(view_samples_hit(&l, 5, 100, 50, l.body.y + 1), 5);
	assert_int_equal(view_samples_hit(&l, 5, 100, 50, l.body.y + 2.5 * l.row_h), 7);
	assert_int_equal(view_samples_hit(&l, 98, 100, 50, l.body.y + 2.5 * l.row_h), -1);
	assert_int_equal(view_samples_hit(&l, 0, 100, 50, l.header.y + 1), -1);
}

static void
test_row_entropy(void **state)
{
	(void)state;
	float m[6] = { 1, 0, 0, 0.5f, 0.5f, 0 };
	assert_true(fabs(viewer_row_entropy(m, 3, 0)) < 1e-12);
	assert_true(fabs(viewer_row_entropy(m, 3, 1) - log(2)) < 1e-6);
	m[4] = NAN;
	assert_true(isnan(viewer_row_entropy(m, 3, 1)));
}

static void
test_thumb_pooling(void **state)
{
	(void)state;
	/* a one-cell diagonal survives 300 -> 100 pooling */
	int n = 300;
	float *map = calloc((size_t)n * n, sizeof *map);
	for (int i = 0; i < n; i++)
		map[(size_t)i * n + i] = 1;
	map[5 * n + 200] = NAN;
	struct render_heatmap_opts o;
	render_heatmap_opts_init(&o);
	int rc;
	cairo_surface_t *t = render_grid_thumb(map, n, n, 100, &o, &rc);
	assert_non_null(t);
	assert_int_equal(cairo_image_surface_get_width(t), 100);
	cairo_surface_flush(t);
	const unsigned char *d = cairo_image_surface_get_data(t);
	int stride = cairo_image_surface_get_stride(t);
	uint32_t top = render_cmap_argb(o.cmap, 255) & 0xffffff;
	uint32_t bot = render_cmap_argb(o.cmap, 0) & 0xffffff;
	for (int i = 0; i < 100; i++) {
		uint32_t diag = *(const uint32_t *)(d + (size_t)i * stride + 4 * i);
		assert_int_equal(diag & 0xffffff, top);
	}
	uint32_t off = *(const uint32_t *)(d + (size_t)90 * stride + 4 * 10);
	assert_int_equal(off & 0xffffff, bot);
	uint32_t bad = *(const uint32_t *)(d + (size_t)1 * stride + 4 * 66);
	assert_int_equal(bad & 0xffffff, RENDER_NAN_ARGB & 0xffffff);
	cairo_surface_destroy(t);
	free(map);
}

/* ------------------------------------------------------------------------
 * A viewer fed with synthetic data
 * ------------------------------------------------------------------------ */

struct calls {
	int samples, heads, urgent, stats, cancels;
};

static void
h_sample(void *ctx, int gen, int64_t id)
{
	(void)gen, (void)id;
	((struct calls *)ctx)->samples++;
}

static void
h_head(void *ctx, int gen, int64_t id, const char *kind, int l, int h,
	bool want_map, const struct render_heatmap_opts *o, unsigned key, int side,
	bool urgent)
{
	(void)gen, (void)id, (void)kind, (void)l, (void)h, (void)want_map, (void)o, (void)key;
	(void)side;
	struct calls *c = ctx;
	c->heads++;
	c->urgent += urgent;
}

static void
h_stats(void *ctx, int metric, int from, const int64_t *ids, int n)
{
	(void)metric, (void)from, (void)ids, (void)n;
	((struct calls *)ctx)->stats++;
}

static void
h_cancel(void *ctx, int gen)
{
	(void)gen;
	((struct calls *)ctx)->cancels++;
}

static const struct viewer_hooks hooks = {
	.load_sample = h_sample, .load_head = h_head, .load_stats = h_stats,
	.cancel = h_cancel,
};

enum { T = 12, L = 2, H = 3 };

static float *
synthetic_map(int l, int h)
{
	float *m = calloc(T * T, sizeof *m);
	for (int q = 0; q < T; q++) {
		int k = (l + h) % 2 ? (q > 0 ? q - 1 : 0) : 0;
		m[q * T + k] = 1;
	}
	return m;
}

/* Open a fake run of 3 samples and deliver sample 0 completely. */
static void
feed(struct viewer *v, struct calls *c)
{
	memset(c, 0, sizeof *c);
	assert_int_equal(viewer_init(v, "fake.db", &hooks, c), 0);
	viewer_resize(v, 1000, 700, 1);
	viewer_on_open(v, 0, NULL, 1, "fake.bin", "llama", L, H, "done", 3);
	struct sample_row *rows = calloc(3, sizeof *rows);
	const char *texts[3] = { "the cat sat", "a dog ran", "the cat ran" };
	for (int i = 0; i < 3; i++)
		rows[i] = (struct sample_row){ .id = 10 + i, .index = i, .n_tok = T,
			.loss = 3 - i, .text = strdup(texts[i]) };
	viewer_on_rows(v, rows, 3, "done");
	assert_non_null(v->cur);
	assert_int_equal(c->samples, 1);
	assert_int_equal(c->heads, L * H);
	int gen = v->cur->gen;
	struct store_token *toks = calloc(T, sizeof *toks);
	viewer_on_tokens(v, gen, 0, NULL, toks, T);
	double *hs = calloc(L * H * ANA_STAT_COUNT, sizeof *hs);
	viewer_on_head_stats(v, gen, hs);
	for (int l = 0; l < L; l++)
		for (int h = 0; h < H; h++) {
			struct render_heatmap_opts o;
			viewer_heatmap_opts(v, &o);
			float *m = synthetic_map(l, h);
			int rc;
			cairo_surface_t *th = render_grid_thumb(m, T, T, 32, &o, &rc);
			viewer_on_head(v, gen, l, h, 0, NULL, m, T, T, 0, th,
				viewer_color_key(v), NULL, NULL);
		}
	assert_false(viewer_busy(v));
}

static struct vin
key(int sym, int mods)
{
	struct vin in = { .type = VIN_KEY, .key = sym, .mods = mods };
	return in;
}

static void
test_keys(void **state)
{
	(void)state;
	struct viewer v;
	struct calls c;
	feed(&v, &c);
	struct vin in;
	assert_int_equal(v.view, VIEW_MODEL);
	in = key(SDLK_RIGHT, 0);
	viewer_input(&v, &in);
	assert_int_equal(v.head, 1);
	in = key(SDLK_DOWN, 0);
	viewer_input(&v, &in);
	assert_int_equal(v.layer, 1);
	in = key(SDLK_RIGHT, 0);
	viewer_input(&v, &in);
	viewer_input(&v, &in);
	assert_int_equal(v.head, H - 1);            /* clamped */
	in = key(SDLK_TAB, 0);
	viewer_input(&v, &in);
	assert_int_equal(v.view, VIEW_HEAD);
	in = key(SDLK_TAB, KMOD_LSHIFT);
	viewer_input(&v, &in);
	assert_int_equal(v.view, VIEW_MODEL);
	in = key(SDLK_l, 0);
	viewer_input(&v, &in);
	assert_int_equal(v.scale, RENDER_SCALE_LOG);
	viewer_input(&v, &in);
	assert_int_equal(v.scale, RENDER_SCALE_LINEAR);
	in = key(SDLK_b, 0);
	viewer_input(&v, &in);
	assert_true(v.suppress_first);
	in = key(SDLK_c, 0);
	viewer_input(&v, &in);
	assert_int_equal(v.cmap, RENDER_CMAP_MAGMA);
	/* samples: PgDn loads the next one (and cancels stale work) */
	int cancels = c.cancels;
	in = key(SDLK_PAGEDOWN, 0);
	viewer_input(&v, &in);
	assert_int_equal(v.cur_row, 1);
	assert_true(c.cancels > cancels);
	assert_true(c.urgent >= 2);
	in = key(SDLK_END, 0);
	viewer_input(&v, &in);
	assert_int_equal(v.cur_row, 2);
	/* help: ? opens, any key closes */
	in = key(SDLK_SLASH, KMOD_LSHIFT);
	viewer_input(&v, &in);
	assert_true(v.help);
	in = key(SDLK_x, 0);
	viewer_input(&v, &in);
	assert_false(v.help);
	/* search: / switches to the list, typed text filters it */
	in = key(SDLK_SLASH, 0);
	viewer_input(&v, &in);
	assert_true(v.searching);
	assert_int_equal(v.view, VIEW_SAMPLES);
	struct vin t = { .type = VIN_TEXT };
	snprintf(t.text, sizeof t.text, "CAT");
	viewer_input(&v, &t);
	assert_int_equal(v.n_order, 2);
	in = key(SDLK_l, 0);                        /* typed, not a command */
	viewer_input(&v, &in);
	assert_int_equal(v.scale, RENDER_SCALE_LINEAR);
	in = key(SDLK_RETURN, 0);
	viewer_input(&v, &in);
	assert_false(v.searching);
	assert_int_equal(v.n_order, 2);
	in = key(SDLK_ESCAPE, 0);
	viewer_input(&v, &in);
	assert_int_equal(v.n_order, 3);
	/* sort by loss, highest first */
	in = key(SDLK_o, 0);
	viewer_input(&v, &in);
	assert_int_equal(v.sort, SORT_LOSS);
	assert_int_equal(v.order[0], 0);
	viewer_input(&v, &in);
	assert_int_equal(v.order[0], 2);
	/* sort by the current head's metric once the run's values arrive */
	viewer_input(&v, &in);
	assert_int_equal(v.sort, SORT_METRIC);
	assert_true(v.sort_desc);
	double *vals = calloc(3 * L * H, sizeof *vals);
	int cell = v.layer * H + v.head;
	vals[0 * L * H + cell] = 0.2;
	vals[1 * L * H + cell] = 0.9;
	vals[2 * L * H + cell] = NAN;            /* unknown values sort last */
	viewer_on_stats(&v, v.metric, 0, 3, vals, 0, NULL);
	assert_int_equal(v.stats[v.metric].n_done, 3);
	assert_int_equal(v.order[0], 1);
	assert_int_equal(v.order[1], 0);
	assert_int_equal(v.order[2], 2);
	assert_int_equal(v.stats[v.metric].best_row[cell], 1);
	/* metric cycles */
	int m = v.metric;
	in = key(SDLK_m, 0);
	viewer_input(&v, &in);
	assert_int_equal(v.metric, (m + 1) % ANA_STAT_COUNT);
	/* every binding has a command; help entries have text */
	for (int i = 0; i < viewer_n_bindings; i++) {
		assert_non_null(viewer_bindings[i].cmd);
		assert_true(!viewer_bindings[i].keys || viewer_bindings[i].help);
	}
	viewer_release(&v);
}

static void
test_pointer(void **state)
{
	(void)state;
	struct viewer v;
	struct calls c;
	feed(&v, &c);
	cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1000, 700);
	cairo_t *cr = cairo_create(s);
	viewer_draw(&v, cr);                        /* lays the grid out */
	struct viewer_chrome ch;
	viewer_chrome_layout(1000, 700, &ch);
	double x, y, w, hh;
	render_grid_cell_rect(&v.grid_lay, 1, 2, &x, &y, &w, &hh);
	struct vin in = { .type = VIN_MOTION, .x = ch.content.x + x + w / 2,
		.y = ch.content.y + y + hh / 2 };
	viewer_input(&v, &in);
	assert_int_equal(v.hover_l, 1);
	assert_int_equal(v.hover_h, 2);
	in.type = VIN_DOWN;
	in.button = 1;
	in.clicks = 1;
	viewer_input(&v, &in);
	assert_int_equal(v.view, VIEW_HEAD);
	assert_int_equal(v.layer, 1);
	assert_int_equal(v.head, 2);
	/* head view: wheel zooms, hover reads a cell out */
	viewer_draw(&v, cr);
	const struct render_heatmap_layout *fl = &v.fig_lay;
	struct vin wh = { .type = VIN_WHEEL, .wheel = 2,
		.x = ch.content.x + fl->x + 3.5 * fl->cell,
		.y = ch.content.y + fl->y + 5.5 * fl->cell };
	viewer_input(&v, &wh);
	assert_true(v.zoom > 1.5);
	assert_int_equal(v.hover_q, 5);
	assert_int_equal(v.hover_k, 3);
	viewer_draw(&v, cr);
	assert_non_null(strstr(v.info, "query 5"));
	assert_non_null(strstr(v.info, "key 3"));
	/* a tab click switches the view */
	struct vin tab = { .type = VIN_DOWN, .button = 1, .clicks = 1,
		.x = ch.tabs[VIEW_DATASET].x + 5, .y = ch.tabs[VIEW_DATASET].y + 5 };
	viewer_input(&v, &tab);
	assert_int_equal(v.view, VIEW_DATASET);
	assert_true(c.stats >= 1);
	cairo_destroy(cr);
	cairo_surface_destroy(s);
	viewer_release(&v);
}

/* Every view draws (no SDL) and leaves non-background pixels. */
static void
test_draw_views(void **state)
{
	(void)state;
	struct viewer v;
	struct calls c;
	feed(&v, &c);
	cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1000, 700);
	for (int view = 0; view < VIEW_COUNT; view++) {
		viewer_set_view(&v, view);
		v.help = view == VIEW_GRAPH;
		cairo_t *cr = cairo_create(s);
		viewer_draw(&v, cr);
		assert_int_equal(cairo_status(cr), CAIRO_STATUS_SUCCESS);
		cairo_destroy(cr);
		cairo_surface_flush(s);
		const unsigned char *d = cairo_image_surface_get_data(s);
		int stride = cairo_image_surface_get_stride(s), dark = 0;
		for (int y = 40; y < 660; y += 3)
			for (int x = 0; x < 1000; x += 3)
				dark += (*(const uint32_t *)(d + (size_t)y * stride + 4 * x) &
					0xff) < 128;
		if (dark < 50)
			fail_msg("view %s drew almost nothing", viewer_view_name(view));
	}
	/* errors in place: a failed open */
	viewer_on_open(&v, ERR_VERSION, "database version 9 is newer", 0, NULL,
		NULL, 0, 0, NULL, -1);
	cairo_t *cr = cairo_create(s);
	viewer_draw(&v, cr);
	cairo_destroy(cr);
	assert_non_null(strstr(v.info, "newer"));
	cairo_surface_destroy(s);
	viewer_release(&v);
}

/* HiDPI: twice as many device pixels as logical units. */
static void
test_hidpi(void **state)
{
	(void)state;
	struct viewer v;
	struct calls c;
	feed(&v, &c);
	viewer_resize(&v, 500, 400, 2.0);
	cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1000, 800);
	for (int view = VIEW_MODEL; view <= VIEW_HEAD; view++) {
		viewer_set_view(&v, view);
		cairo_t *cr = cairo_create(s);
		cairo_scale(cr, 2, 2);
		viewer_draw(&v, cr);
		assert_int_equal(cairo_status(cr), CAIRO_STATUS_SUCCESS);
		cairo_destroy(cr);
	}
	/* the cached figure is in device pixels: twice the content size */
	struct viewer_chrome ch;
	viewer_chrome_layout(500, 400, &ch);
	assert_int_equal(cairo_image_surface_get_width(v.fig), (int)(2 * ch.content.w));
	assert_int_equal(cairo_image_surface_get_width(v.grid_img),
		(int)(2 * ch.content.w));
	/* hit-testing stays in logical units */
	const struct render_heatmap_layout *fl = &v.fig_lay;
	struct vin in = { .type = VIN_MOTION, .x = ch.content.x + fl->x + 1.5 * fl->cell,
		.y = ch.content.y + fl->y + 2.5 * fl->cell };
	viewer_input(&v, &in);
	assert_int_equal(v.hover_q, 2);
	assert_int_equal(v.hover_k, 1);
	cairo_surface_destroy(s);
	viewer_release(&v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chrome),
		cmocka_unit_test(test_grid_layout),
		cmocka_unit_test(test_matrix_layout),
		cmocka_unit_test(test_arcs_layout),
		cmocka_unit_test(test_head_geom),
		cmocka_unit_test(test_samples_layout),
		cmocka_unit_test(test_row_entropy),
		cmocka_unit_test(test_thumb_pooling),
		cmocka_unit_test(test_keys),
		cmocka_unit_test(test_pointer),
		cmocka_unit_test(test_draw_views),
		cmocka_unit_test(test_hidpi),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

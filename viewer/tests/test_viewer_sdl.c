/*
 * test_viewer_sdl.c — attnscope-view through SDL's dummy video driver and
 * the software renderer: one-frame screenshots of every view, scripted key
 * and mouse events (SDL_PushEvent) checked through the state, the head
 * view's pixels against `attnscope export --format png`, `s` writing the
 * same file as export, hostile databases (newer version, truncated blob,
 * NaN blob, empty, missing) and samples appearing while a run is written.
 * Needs ATTNSCOPE_BIN (for `attnscope demo` and export) and
 * ATTNSCOPE_VIEW_BIN.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <SDL.h>

#include "app.h"
#include "store.h"

static char tmp[256];
static char demo_db[512];
static const char *bin, *view_bin;
static char err_buf[4096];

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

/* Run a shell command in tmp; stderr captured in err_buf; exit status. */
static int
sh(const char *fmt, ...)
{
	char c[4096], cmd[8192], p[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c, sizeof c, fmt, ap);
	va_end(ap);
	snprintf(p, sizeof p, "%s/stderr.txt", tmp);
	snprintf(cmd, sizeof cmd, "cd '%s' && %s 2>'%s' </dev/null", tmp, c, p);
	int st = system(cmd);
	FILE *f = fopen(p, "rb");
	size_t n = f ? fread(err_buf, 1, sizeof err_buf - 1, f) : 0;
	err_buf[n] = '\0';
	if (f)
		fclose(f);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static const char *
path_in_tmp(const char *name)
{
	static char buf[4][600];
	static int k;
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof buf[k], "%s/%s", tmp, name);
	return buf[k];
}

static cairo_surface_t *
load_png(const char *path)
{
	cairo_surface_t *s = cairo_image_surface_create_from_png(path);
	if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS)
		fail_msg("cannot read PNG '%s'", path);
	cairo_surface_flush(s);
	return s;
}

static uint32_t
px(cairo_surface_t *s, int x, int y)
{
	const unsigned char *d = cairo_image_surface_get_data(s);
	int stride = cairo_image_surface_get_stride(s);
	return *(const uint32_t *)(d + (size_t)y * stride + 4 * (size_t)x) &
	       0xffffffu;
}

static struct app *
open_app(const char *db, int view, int64_t sample, int layer, int head,
	int w, int h)
{
	struct app_opts o = {
		.path = db, .width = w, .height = h, .view = view, .sample = sample,
		.layer = layer, .head = head, .hidden = true, .timeout = 30,
	};
	int rc;
	struct app *a = app_create(&o, &rc);
	if (!a)
		fail_msg("app_create: %s", err_msg(rc));
	assert_true(app_settle(a, 30));
	return a;
}

/* Push one event and let the app handle it and redraw. */
static void
push(struct app *a, SDL_Event *e)
{
	assert_int_equal(SDL_PushEvent(e), 1);
	app_step(a, 0);
}

static void
push_key(struct app *a, SDL_Keycode sym, Uint16 mod)
{
	SDL_Event e;
	SDL_zero(e);
	e.type = SDL_KEYDOWN;
	e.key.keysym.sym = sym;
	e.key.keysym.mod = mod;
	push(a, &e);
}

static void
push_button(struct app *a, Uint32 type, int x, int y, int clicks)
{
	SDL_Event e;
	SDL_zero(e);
	e.type = type;
	e.button.button = SDL_BUTTON_LEFT;
	e.button.clicks = (Uint8)clicks;
	e.button.x = x;
	e.button.y = y;
	push(a, &e);
}

static void
push_motion(struct app *a, int x, int y, Uint32 state)
{
	SDL_Event e;
	SDL_zero(e);
	e.type = SDL_MOUSEMOTION;
	e.motion.x = x;
	e.motion.y = y;
	e.motion.state = state;
	push(a, &e);
}

static void
push_wheel(struct app *a, int x, int y, int dy)
{
	SDL_Event e;
	SDL_zero(e);
	e.type = SDL_MOUSEWHEEL;
	e.wheel.y = dy;
	e.wheel.preciseY = (float)dy;
	e.wheel.mouseX = x;
	e.wheel.mouseY = y;
	push(a, &e);
}

static void
exec_sql(const char *db, const char *sql)
{
	sqlite3 *h;
	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	char *msg = NULL;
	if (sqlite3_exec(h, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("sql '%s': %s", sql, msg);
	sqlite3_close(h);
}

/* Copy the demo database to `name` in tmp (WAL folded in first). */
static const char *
copy_demo(const char *name)
{
	const char *dst = path_in_tmp(name);
	exec_sql(demo_db, "PRAGMA wal_checkpoint(TRUNCATE)");
	assert_int_equal(sh("cp '%s' '%s' && rm -f '%s-wal' '%s-shm'", demo_db,
		dst, dst, dst), 0);
	return dst;
}

/* ------------------------------------------------------------------------
 * Setup
 * ------------------------------------------------------------------------ */

static int
setup(void **state)
{
	(void)state;
	bin = getenv("ATTNSCOPE_BIN");
	view_bin = getenv("ATTNSCOPE_VIEW_BIN");
	snprintf(tmp, sizeof tmp, "/tmp/attnscope-test-view-XXXXXX");
	if (!bin || !view_bin || !mkdtemp(tmp))
		return -1;
	/* the tests run without a display */
	setenv("SDL_VIDEODRIVER", "dummy", 1);
	setenv("SDL_RENDER_DRIVER", "software", 1);
	snprintf(demo_db, sizeof demo_db, "%s/demo/demo.db", tmp);
	return sh("'%s' demo --out demo >/dev/null", bin);
}

static int
teardown(void **state)
{
	(void)state;
	char cmd[512];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
	return system(cmd) == 0 ? 0 : -1;
}

/* ------------------------------------------------------------------------
 * Tests
 * ------------------------------------------------------------------------ */

/* The binary draws every view without a display and exits 0. */
static void
test_screenshots(void **state)
{
	(void)state;
	static const char *const views[] = { "samples", "model", "head", "graph",
		"dataset" };
	for (int i = 0; i < 5; i++) {
		char out[64];
		snprintf(out, sizeof out, "shot-%s.png", views[i]);
		int rc = sh("'%s' --screenshot %s --view %s --sample 3 --layer 1 "
			"--head 0 --size 1024x700 '%s'", view_bin, out, views[i], demo_db);
		if (rc != 0)
			fail_msg("--view %s: exit %d: %s", views[i], rc, err_buf);
		cairo_surface_t *s = load_png(path_in_tmp(out));
		assert_int_equal(cairo_image_surface_get_width(s), 1024);
		assert_int_equal(cairo_image_surface_get_height(s), 700);
		cairo_surface_destroy(s);
	}
	assert_int_equal(sh("'%s' --help >/dev/null", view_bin), 0);
	assert_int_equal(sh("'%s' --screenshot x.png --view nope '%s'", view_bin,
		demo_db), 2);
}

/* Keys and the mouse, pushed as SDL events, change the state. */
static void
test_scripted_events(void **state)
{
	(void)state;
	struct app *a = open_app(demo_db, VIEW_MODEL, -1, -1, -1, 1100, 760);
	struct viewer *v = app_viewer(a);
	assert_int_equal(v->n_rows, 8);
	assert_int_equal(v->n_layer, 2);
	assert_int_equal(v->n_head, 4);
	assert_non_null(v->cur);
	assert_int_equal(v->cur->index, 0);

	push_key(a, SDLK_RIGHT, 0);
	push_key(a, SDLK_RIGHT, 0);
	push_key(a, SDLK_DOWN, 0);
	assert_int_equal(v->head, 2);
	assert_int_equal(v->layer, 1);

	/* click head L0 H3 in the grid: the head view opens on it */
	struct viewer_chrome c;
	viewer_chrome_layout(v->width, v->height, &c);
	double x, y, w, h;
	render_grid_cell_rect(&v->grid_lay, 0, 3, &x, &y, &w, &h);
	int cx = (int)(c.content.x + x + w / 2), cy = (int)(c.content.y + y + h / 2);
	push_motion(a, cx, cy, 0);
	assert_int_equal(v->hover_l, 0);
	assert_int_equal(v->hover_h, 3);
	push_button(a, SDL_MOUSEBUTTONDOWN, cx, cy, 1);
	push_button(a, SDL_MOUSEBUTTONUP, cx, cy, 1);
	assert_int_equal(v->view, VIEW_HEAD);
	assert_int_equal(v->layer, 0);
	assert_int_equal(v->head, 3);
	app_settle(a, 10);

	/* the wheel zooms at the pointer; a drag pans */
	int hx = (int)(c.content.x + v->fig_lay.x + v->fig_lay.n_k * v->fig_lay.cell / 2);
	int hy = (int)(c.content.y + v->fig_lay.y + v->fig_lay.n_q * v->fig_lay.cell / 2);
	push_wheel(a, hx, hy, 4);
	assert_true(v->zoom > 2);
	double u0 = v->u0, v0 = v->v0;
	push_button(a, SDL_MOUSEBUTTONDOWN, hx, hy, 1);
	push_motion(a, hx - 60, hy - 40, SDL_BUTTON_LMASK);
	push_button(a, SDL_MOUSEBUTTONUP, hx - 60, hy - 40, 1);
	assert_true(v->u0 > u0 && v->v0 > v0);
	assert_true(v->hover_q >= 0 && v->hover_k >= 0);
	push_key(a, SDLK_0, 0);
	assert_true(v->zoom == 1);

	/* l, b: log scale and first-token suppression */
	push_key(a, SDLK_l, 0);
	assert_int_equal(v->scale, RENDER_SCALE_LOG);
	push_key(a, SDLK_b, 0);
	assert_true(v->suppress_first);

	/* ? help, any key closes it */
	push_key(a, SDLK_SLASH, KMOD_LSHIFT);
	assert_true(v->help);
	push_key(a, SDLK_ESCAPE, 0);
	assert_false(v->help);

	/* PgDn: the next sample is loaded in the background */
	push_key(a, SDLK_PAGEDOWN, 0);
	app_settle(a, 10);
	assert_int_equal(v->cur->index, 1);
	assert_true(v->cur->toks_ready);

	/* Tab: the graph; hovering a token isolates it; Space, a */
	push_key(a, SDLK_TAB, 0);
	assert_int_equal(v->view, VIEW_GRAPH);
	app_settle(a, 10);
	const struct render_arcs_layout *gl = &v->graph_lay;
	int gx = (int)(c.content.x + gl->q_x - 10);
	int gy = (int)(c.content.y + gl->y0 + 4.5 * gl->step);
	push_motion(a, gx, gy, 0);
	assert_int_equal(v->graph_focus, 4);
	assert_false(v->graph_focus_key);
	push_key(a, SDLK_SPACE, 0);
	assert_false(v->graph_on[v->head]);
	push_key(a, SDLK_a, 0);
	assert_true(v->graph_mean);

	/* dataset: statistics over the run; a click opens the top sample */
	push_key(a, SDLK_TAB, 0);
	assert_int_equal(v->view, VIEW_DATASET);
	app_settle(a, 10);
	assert_int_equal(v->stats[v->metric].n_done, 8);
	const struct render_matrix_layout *ml = &v->ds_lay;
	assert_true(ml->cell_w > 0);
	int mx = (int)(v->ds_area.x + ml->x + 0.5 * ml->cell_w);  /* L0 H0 */
	int my = (int)(v->ds_area.y + ml->y + 0.5 * ml->cell_h);
	push_motion(a, mx, my, 0);
	assert_int_equal(v->ds_hover_l, 0);
	push_button(a, SDL_MOUSEBUTTONDOWN, mx, my, 1);
	assert_int_equal(v->view, VIEW_HEAD);
	assert_int_equal(v->layer, 0);
	assert_int_equal(v->head, 0);
	const struct stat_table *t = &v->stats[v->metric];
	assert_int_equal(v->cur_row, t->best_row[0]);

	/* / search, typed text filters the list */
	push_key(a, SDLK_SLASH, 0);
	assert_int_equal(v->view, VIEW_SAMPLES);
	assert_true(v->searching);
	SDL_Event e;
	SDL_zero(e);
	e.type = SDL_TEXTINPUT;
	snprintf(e.text.text, sizeof e.text.text, "rose");
	push(a, &e);
	assert_int_equal(v->n_order, 1);
	push_key(a, SDLK_RETURN, 0);
	assert_false(v->searching);

	/* SIGTERM arrives as SDL_QUIT */
	SDL_zero(e);
	e.type = SDL_QUIT;
	SDL_PushEvent(&e);
	assert_false(app_step(a, 0));
	app_free(a);
}

/* The head view draws the same pixels as `attnscope export --format png`
 * for the same head at the same size; `s` writes the same file. */
static void
test_head_matches_export(void **state)
{
	(void)state;
	assert_int_equal(sh("'%s' export --db '%s' --sample 3 --layer 1 --head 0 "
		"--format png -o export.png", bin, demo_db), 0);
	cairo_surface_t *ex = load_png(path_in_tmp("export.png"));
	int w = cairo_image_surface_get_width(ex);
	int h = cairo_image_surface_get_height(ex);
	/* the window: the figure plus the tab bar and the status line */
	struct app *a = open_app(demo_db, VIEW_HEAD, 3, 1, 0, w,
		h + (int)(VIEWER_HEADER_H + VIEWER_STATUS_H));
	struct viewer *v = app_viewer(a);
	assert_int_equal(v->cur->index, 3);
	assert_int_equal(app_write_png(a, path_in_tmp("view.png")), 0);
	cairo_surface_t *vw = load_png(path_in_tmp("view.png"));
	int top = (int)VIEWER_HEADER_H;
	const struct render_heatmap_layout *l = &v->fig_lay;
	assert_true(l->cell >= 1);
	/* the heatmap region, then the whole figure */
	long bad = 0, bad_all = 0;
	int x0 = (int)l->x, y0 = (int)l->y;
	int x1 = (int)ceil(l->x + l->n_k * l->cell);
	int y1 = (int)ceil(l->y + l->n_q * l->cell);
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++) {
			bool diff = px(ex, x, y) != px(vw, x, y + top);
			bad_all += diff;
			bad += diff && x >= x0 && x < x1 && y >= y0 && y < y1;
		}
	if (bad || bad_all)
		fail_msg("%ld heatmap pixels and %ld figure pixels differ", bad,
			bad_all);

	/* s saves the current view through the same render call */
	assert_int_equal(chdir(tmp), 0);
	push_key(a, SDLK_s, 0);
	assert_int_equal(sh("cmp -s export.png attnscope-s3-L1H0.png"), 0);
	cairo_surface_destroy(vw);
	cairo_surface_destroy(ex);
	app_free(a);
}

/* Write a NaN-riddled f32 triangle into one head's blob. */
static void
nan_blob(const char *db, int layer, int head)
{
	sqlite3 *h;
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, "SELECT a.id, a.n_q FROM attention a "
		"JOIN samples s ON s.id = a.sample_id WHERE s.idx = 0 AND a.layer = ? "
		"AND a.head = ?", -1, &st, NULL), SQLITE_OK);
	sqlite3_bind_int(st, 1, layer);
	sqlite3_bind_int(st, 2, head);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int64_t id = sqlite3_column_int64(st, 0);
	int n = sqlite3_column_int(st, 1);
	sqlite3_finalize(st);
	float *map = calloc((size_t)n * n, sizeof *map);
	for (int q = 0; q < n; q++)
		for (int k = 0; k <= q; k++)
			map[(size_t)q * n + k] = (q + k) % 5 ? 1.0f / (q + 1) : NAN;
	void *blob;
	size_t size;
	assert_int_equal(store_blob_encode(STORE_ENC_F32, true, n, n, map, &blob,
		&size), 0);
	assert_int_equal(sqlite3_prepare_v2(h, "UPDATE attention SET data = ?, "
		"dtype = 'f32', codec = 'none', layout = 'tri' WHERE id = ?", -1, &st,
		NULL), SQLITE_OK);
	sqlite3_bind_blob(st, 1, blob, (int)size, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, id);
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	sqlite3_close(h);
	free(blob);
	free(map);
}

/* Hostile databases: a message in place, exit 0, never a crash. */
static void
test_hostile(void **state)
{
	(void)state;
	char newer[600], trunc[600], nan[600], empty[600];
	snprintf(newer, sizeof newer, "%s", copy_demo("newer.db"));
	exec_sql(newer, "PRAGMA user_version = 99");
	snprintf(trunc, sizeof trunc, "%s", copy_demo("trunc.db"));
	exec_sql(trunc, "UPDATE attention SET data = substr(data, 1, 37) WHERE "
		"layer = 0 AND head = 1");
	snprintf(nan, sizeof nan, "%s", copy_demo("nan.db"));
	nan_blob(nan, 0, 1);
	snprintf(empty, sizeof empty, "%s", path_in_tmp("empty.db"));
	FILE *f = fopen(empty, "wb");
	assert_non_null(f);
	fclose(f);
	const char *dbs[4] = { newer, trunc, nan, empty };
	static const char *const views[] = { "samples", "model", "head", "graph",
		"dataset" };
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 5; j++) {
			int rc = sh("'%s' --screenshot hostile.png --view %s --layer 0 "
				"--head 1 --size 800x600 '%s'", view_bin, views[j], dbs[i]);
			if (rc != 0)
				fail_msg("%s --view %s: exit %d: %s", dbs[i], views[j], rc,
					err_buf);
			cairo_surface_destroy(load_png(path_in_tmp("hostile.png")));
		}
	/* what the view knows about them */
	struct app *a = open_app(newer, VIEW_MODEL, -1, -1, -1, 800, 600);
	assert_int_equal(app_viewer(a)->open, OPEN_FAILED);
	assert_int_equal(app_viewer(a)->open_err, ERR_VERSION);
	app_free(a);
	a = open_app(trunc, VIEW_HEAD, 0, 0, 1, 800, 600);
	struct viewer *v = app_viewer(a);
	const struct head_slot *s = &v->cur->slots[0 * v->n_head + 1];
	assert_int_equal(s->state, SLOT_ERROR);
	assert_int_equal(s->err, ERR_FORMAT);
	/* f16z blobs report the truncation from zstd ("size") */
	assert_true(strstr(v->info, "bytes") || strstr(v->info, "size"));
	app_free(a);
	a = open_app(nan, VIEW_HEAD, 0, 0, 1, 800, 600);
	v = app_viewer(a);
	s = &v->cur->slots[0 * v->n_head + 1];
	assert_int_equal(s->state, SLOT_READY);
	assert_true(s->n_bad > 0);
	push_key(a, SDLK_r, 0);                      /* rank scale with NaNs */
	push_key(a, SDLK_TAB, 0);                    /* graph with NaNs */
	app_settle(a, 10);
	app_free(a);
	/* a file that is not there cannot be shown: one line, exit 1 */
	assert_int_equal(sh("'%s' --screenshot x.png missing.db", view_bin), 1);
	if (strncmp(err_buf, "attnscope-view: ", 16) != 0 ||
	    strchr(err_buf, '\n') != err_buf + strlen(err_buf) - 1)
		fail_msg("expected one line, got [%s]", err_buf);
}

/* Samples committed while the viewer runs appear without a restart. */
static void
test_live_samples(void **state)
{
	(void)state;
	char live[600];
	snprintf(live, sizeof live, "%s", copy_demo("live.db"));
	struct app *a = open_app(live, VIEW_SAMPLES, -1, -1, -1, 800, 600);
	struct viewer *v = app_viewer(a);
	assert_int_equal(v->n_rows, 8);
	int rc;
	struct store *s = store_open(live, 0, &rc);
	assert_non_null(s);
	int64_t run, sid;
	assert_int_equal(store_latest_run(s, &run), 0);
	assert_int_equal(store_begin(s), 0);
	struct store_sample_info si = { .run_id = run, .index = 8, .text = "new one",
		.n_tok = 3, .loss = 1.5 };
	assert_int_equal(store_put_sample(s, &si, &sid), 0);
	struct store_token tok[3] = { { .id = 1, .piece = "a" },
		{ .id = 2, .piece = "b" }, { .id = 3, .piece = "c" } };
	assert_int_equal(store_put_tokens(s, sid, tok, 3), 0);
	float map[9] = { 1, 0, 0, 0.5f, 0.5f, 0, 0.2f, 0.3f, 0.5f };
	for (int l = 0; l < 2; l++)
		for (int h = 0; h < 4; h++)
			assert_int_equal(store_put_attn(s, sid, l, h, "self", 3, 3, true,
				STORE_ENC_F16, map), 0);
	assert_int_equal(store_commit(s), 0);
	double end = util_now() + 5;
	while (v->n_rows < 9 && util_now() < end)
		app_step(a, 50);
	store_close(s);
	assert_int_equal(v->n_rows, 9);
	push_key(a, SDLK_END, 0);
	app_settle(a, 10);
	assert_int_equal(v->cur->index, 8);
	assert_int_equal(v->cur->n_tok, 3);
	app_free(a);
}

/* The export side of the views: --grid, --arcs, --stats as png, svg, pdf
 * (the figures the viewer draws), and bad combinations as usage errors. */
static void
test_export_figures(void **state)
{
	(void)state;
	static const char *const figs[] = {
		"--sample 3 --grid", "--sample 3 --grid --overlay prev_token",
		"--sample 3 --arcs 1", "--sample 3 --arcs 0 --head 2 --style line",
		"--sample 3 --arcs 1 --mean --threshold 0.2", "--stats prev_token",
		"--stats entropy --cmap magma", "--sample 3 --layer 1 --head 0",
	};
	static const char *const fmts[] = { "png", "svg", "pdf" };
	static const char *const magic[] = { "\x89PNG", "<?xml", "%PDF" };
	for (size_t i = 0; i < sizeof figs / sizeof figs[0]; i++)
		for (int f = 0; f < 3; f++) {
			int rc = sh("'%s' export --db '%s' %s --format %s -o fig.%s", bin,
				demo_db, figs[i], fmts[f], fmts[f]);
			if (rc != 0)
				fail_msg("export %s --format %s: exit %d: %s", figs[i], fmts[f],
					rc, err_buf);
			char head[8] = { 0 };
			FILE *fp = fopen(path_in_tmp(fmts[f][0] == 'p' && fmts[f][1] == 'n'
				? "fig.png" : fmts[f][0] == 's' ? "fig.svg" : "fig.pdf"), "rb");
			assert_non_null(fp);
			assert_true(fread(head, 1, 5, fp) == 5);
			fclose(fp);
			if (f == 0)
				assert_memory_equal(head, "\x89PNG", 4);
			else
				assert_memory_equal(head, magic[f], 4);
		}
	/* the grid figure has the size render_grid_size() gives */
	assert_int_equal(sh("'%s' export --db '%s' --sample 0 --grid --size 640x480 "
		"--format png -o g.png", bin, demo_db), 0);
	cairo_surface_t *g = load_png(path_in_tmp("g.png"));
	assert_int_equal(cairo_image_surface_get_width(g), 640);
	cairo_surface_destroy(g);
	static const char *const bad[] = {
		"--sample 3 --grid --format npy -o x.npy",
		"--sample 3 --grid --arcs 1 --format png -o x.png",
		"--sample 3 --grid --layer 1 --format png -o x.png",
		"--stats nope --format png -o x.png",
		"--sample 3 --stats entropy --format png -o x.png",
		"--sample 3 --arcs 0 --threshold 7 --format png -o x.png",
		"--sample 3 --layer 0 --head 0 --format svg -o -",
		"--sample 3 --layer 0 --head 0 --mean --format png -o x.png",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int rc = sh("'%s' export --db '%s' %s", bin, demo_db, bad[i]);
		if (rc != 2)
			fail_msg("export %s: exit %d, want 2: %s", bad[i], rc, err_buf);
	}
	assert_int_equal(sh("'%s' export --db '%s' --sample 3 --arcs 5 --format png "
		"-o x.png", bin, demo_db), 1);
}

/* An encoder–decoder run (tiny-bart): --kind cross draws the head view
 * with target tokens on the query axis and source tokens on the key axis;
 * k cycles the kinds the sample has. */
static void
test_encdec_kinds(void **state)
{
	(void)state;
	const char *shared = getenv("ATTNSCOPE_SHARED");
	FILE *f = fopen(path_in_tmp("pairs.jsonl"), "w");
	assert_non_null(f);
	fputs("{\"source\": \"The quick brown fox jumps over the lazy dog.\", "
		"\"target\": \"A fast fox leaps.\"}\n"
		"{\"source\": \"Attention maps show which source tokens each decoder "
		"head reads.\", \"target\": \"Heads read source tokens.\"}\n", f);
	fclose(f);
	if (sh("'%s' record --model '%s/models/tiny-bart/hf' --data pairs.jsonl "
	    "--db bart.db >/dev/null", bin, shared) != 0)
		fail_msg("record: %s", err_buf);
	const char *db = path_in_tmp("bart.db");

	/* the screenshot of the cross head view */
	if (sh("'%s' --screenshot cross.png --view head --kind cross --size 900x600 "
	    "'%s'", view_bin, db) != 0)
		fail_msg("screenshot: %s", err_buf);
	cairo_surface_t *png = load_png(path_in_tmp("cross.png"));
	assert_int_equal(cairo_image_surface_get_width(png), 900);
	/* a heatmap, not a message: many distinct colours in the middle */
	uint32_t seen[64];
	int n_seen = 0;
	for (int y = 150; y < 450; y += 6)
		for (int x = 250; x < 650 && n_seen < 64; x += 6) {
			uint32_t c = px(png, x, y);
			bool dup = false;
			for (int i = 0; i < n_seen; i++)
				dup = dup || seen[i] == c;
			if (!dup)
				seen[n_seen++] = c;
		}
	assert_true(n_seen >= 10);
	cairo_surface_destroy(png);

	/* the same in process: state, axes and the k key */
	struct app_opts o = {
		.path = db, .width = 900, .height = 600, .view = VIEW_HEAD,
		.sample = 0, .layer = 0, .head = 0, .kind = "cross", .hidden = true,
		.timeout = 30,
	};
	int rc;
	struct app *a = app_create(&o, &rc);
	if (!a)
		fail_msg("app_create: %s", err_msg(rc));
	assert_true(app_settle(a, 30));
	struct viewer *v = app_viewer(a);
	assert_non_null(v->cur);
	assert_string_equal(viewer_kind(v), "cross");
	assert_true(v->cur->n_src > 0);
	assert_false(viewer_kind_causal(v));
	const struct head_slot *s = &v->cur->slots[0];
	assert_int_equal(s->state, SLOT_READY);
	assert_int_equal(s->n_q, v->cur->n_toks);
	assert_int_equal(s->n_k, v->cur->n_src);
	int nq, nk;
	assert_ptr_equal(viewer_axis_labels(v, false, &nq), v->cur->labels);
	assert_ptr_equal(viewer_axis_labels(v, true, &nk), v->cur->src_labels);
	assert_int_equal(nk, v->cur->n_src);
	/* the sample has self-less kinds: encoder, decoder, cross */
	assert_int_equal(v->cur->n_kinds, 3);
	char first[16];
	snprintf(first, sizeof first, "%s", viewer_kind(v));
	for (int i = 0; i < v->cur->n_kinds; i++) {
		push_key(a, SDLK_k, 0);
		assert_true(app_settle(a, 30));
		if (i + 1 < v->cur->n_kinds)
			assert_string_not_equal(viewer_kind(v), first);
		s = &v->cur->slots[0];
		assert_int_equal(s->state, SLOT_READY);
		if (strcmp(viewer_kind(v), "decoder") == 0) {
			assert_true(viewer_kind_causal(v));
			assert_int_equal(s->n_q, s->n_k);
		}
	}
	assert_string_equal(viewer_kind(v), first);   /* back round */
	push_key(a, SDLK_k, KMOD_LSHIFT);
	assert_true(app_settle(a, 30));
	assert_string_not_equal(viewer_kind(v), first);
	app_free(a);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_screenshots),
		cmocka_unit_test(test_scripted_events),
		cmocka_unit_test(test_head_matches_export),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_live_samples),
		cmocka_unit_test(test_export_figures),
		cmocka_unit_test(test_encdec_kinds),
	};
	/* the encoder–decoder case needs the shared tiny models */
	const char *shared = getenv("ATTNSCOPE_SHARED");
	char model[1024];
	snprintf(model, sizeof model, "%s/models/tiny-bart/hf", shared ? shared : "");
	bool have = shared && access(model, R_OK) == 0;
	size_t n = sizeof tests / sizeof tests[0] - (have ? 0 : 1);
	return _cmocka_run_group_tests("viewer_sdl", tests, n, setup, teardown);
}

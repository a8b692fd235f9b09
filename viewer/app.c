/*
 * app.c — the SDL side of attnscope-view (STYLE.md §4.9, §4.10): one
 * window, a renderer with one streaming RGB888 texture, a cairo RGB24 back
 * buffer of the renderer's output size (HiDPI: scale = output / window),
 * and the event loop: wait, drain (coalescing), timers, draw only when
 * dirty. The loader's results arrive as SDL user events whose payload the
 * handler frees.
 */
#include "app.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <SDL.h>

#include "loader.h"

/* Seconds between polls for new samples while a recording may be running. */
#define POLL_PERIOD 1.0

struct app {
	struct app_opts opts;
	struct viewer v;
	struct viewer_hooks hooks;
	struct loader *loader;
	bool sdl_up;
	SDL_Window *win;
	SDL_Renderer *ren;
	SDL_Texture *tex;
	cairo_surface_t *back;    /* device pixels (buffer_w x buffer_h) */
	int buffer_w, buffer_h;
	Uint32 ev_loaded;         /* SDL_RegisterEvents: a struct load_res * */
	bool quit;
	bool text_input;
	bool print_stats;         /* ATTNSCOPE_VIEW_STATS=1 */
	double last_ms;           /* the last frame: draw, upload, present */
	double last_draw_ms;      /* of which drawing into the back buffer  */
	long frames;
	double poll_at;
	bool status_shown;
};

/* ========================================================================
 * Loader hooks (called by the viewer on the main thread)
 * ======================================================================== */

static void
hook_load_sample(void *ctx, int gen, int64_t sample_id)
{
	struct app *a = ctx;
	struct load_req r = {
		.kind = LOAD_SAMPLE, .gen = gen, .sample_id = sample_id,
		.n_layer = a->v.n_layer, .n_head = a->v.n_head,
	};
	loader_push(a->loader, &r, true);
}

static void
hook_load_head(void *ctx, int gen, int64_t sample_id, const char *kind,
	int layer, int head, bool want_map, const struct render_heatmap_opts *thumb_opts,
	unsigned thumb_key, int thumb_side, bool urgent)
{
	struct app *a = ctx;
	struct load_req r = {
		.kind = LOAD_HEAD, .gen = gen, .sample_id = sample_id, .layer = layer,
		.head = head, .want_map = want_map, .thumb_opts = *thumb_opts,
		.thumb_key = thumb_key, .thumb_side = thumb_side,
	};
	snprintf(r.attn_kind, sizeof r.attn_kind, "%s", kind ? kind : "self");
	loader_push(a->loader, &r, urgent);
}

static void
hook_load_stats(void *ctx, int metric, int from, const int64_t *ids, int n)
{
	struct app *a = ctx;
	struct load_req r = {
		.kind = LOAD_STATS, .metric = metric, .from = from, .n = n,
		.ids = (int64_t *)ids, .n_layer = a->v.n_layer, .n_head = a->v.n_head,
	};
	loader_push(a->loader, &r, false);
}

static void
hook_cancel(void *ctx, int gen)
{
	struct app *a = ctx;
	loader_cancel(a->loader, gen);
}

static void render(struct app *a);

static int
hook_save(void *ctx, const char *path)
{
	struct app *a = ctx;
	if (a->v.view != VIEW_SAMPLES)
		return viewer_save_figure(&a->v, path);
	/* the list has no figure: the window as it is */
	render(a);
	cairo_status_t st = cairo_surface_write_to_png(a->back, path);
	return st == CAIRO_STATUS_SUCCESS ? 0 : err_set(ERR_IO,
		"cannot write '%s': %s", path, cairo_status_to_string(st));
}

static void
hook_quit(void *ctx)
{
	struct app *a = ctx;
	a->quit = true;
}

/* Worker thread: hand a result to the main thread. */
static void
post_result(void *ctx, struct load_res *res)
{
	struct app *a = ctx;
	SDL_Event e;
	SDL_zero(e);
	e.type = a->ev_loaded;
	e.user.data1 = res;
	if (SDL_PushEvent(&e) != 1)
		load_res_free(res);
}

/* ========================================================================
 * Back buffer and drawing
 * ======================================================================== */

static int
resize_buffer(struct app *a)
{
	int ww, wh, bw, bh;
	SDL_GetWindowSize(a->win, &ww, &wh);
	if (SDL_GetRendererOutputSize(a->ren, &bw, &bh) != 0 || bw < 1 || bh < 1) {
		bw = ww;
		bh = wh;
	}
	if (ww < 1 || wh < 1)
		return 0;
	if (bw != a->buffer_w || bh != a->buffer_h || !a->tex) {
		if (a->tex)
			SDL_DestroyTexture(a->tex);
		if (a->back)
			cairo_surface_destroy(a->back);
		a->tex = SDL_CreateTexture(a->ren, SDL_PIXELFORMAT_RGB888,
			SDL_TEXTUREACCESS_STREAMING, bw, bh);
		a->back = cairo_image_surface_create(CAIRO_FORMAT_RGB24, bw, bh);
		if (!a->tex || cairo_surface_status(a->back) != CAIRO_STATUS_SUCCESS)
			return err_set(ERR_NOMEM, "cannot create a %d x %d frame: %s", bw,
				bh, SDL_GetError());
		SDL_SetTextureBlendMode(a->tex, SDL_BLENDMODE_NONE);
		a->buffer_w = bw;
		a->buffer_h = bh;
	}
	viewer_resize(&a->v, ww, wh, (double)bw / ww);
	return 0;
}

static void
render(struct app *a)
{
	if (!a->back)
		return;
	double t0 = util_now();
	a->v.now = t0;
	a->v.dirty = false;
	cairo_t *cr = cairo_create(a->back);
	cairo_scale(cr, a->v.scale_factor, a->v.scale_factor);
	viewer_draw(&a->v, cr);
	cairo_destroy(cr);
	cairo_surface_flush(a->back);
	a->last_draw_ms = (util_now() - t0) * 1e3;
	SDL_UpdateTexture(a->tex, NULL, cairo_image_surface_get_data(a->back),
		cairo_image_surface_get_stride(a->back));
	SDL_RenderCopy(a->ren, a->tex, NULL, NULL);
	SDL_RenderPresent(a->ren);
	a->last_ms = (util_now() - t0) * 1e3;
	a->frames++;
	if (a->print_stats)
		fprintf(stderr, "attnscope-view: frame %ld %s %.2f ms (drawing %.2f "
			"ms)\n", a->frames, viewer_view_name(a->v.view), a->last_ms,
			a->last_draw_ms);
}

/* ========================================================================
 * Events
 * ======================================================================== */

static void
on_loaded(struct app *a, struct load_res *r)
{
	struct viewer *v = &a->v;
	switch (r->kind) {
	case LOAD_OPEN:
		viewer_on_open(v, r->err, r->msg, r->run_id, r->model_name, r->arch,
			r->n_layer, r->n_head, r->status, r->n_total);
		if (!r->err) {
			viewer_on_rows(v, r->rows, r->n_rows, r->status);
			r->rows = NULL;
		}
		break;
	case LOAD_POLL:
		viewer_on_rows(v, r->rows, r->n_rows, r->status);
		r->rows = NULL;
		break;
	case LOAD_SAMPLE:
		viewer_on_tokens(v, r->gen, r->toks_err, r->toks_msg, r->toks,
			r->n_toks);
		r->toks = NULL;
		viewer_on_head_stats(v, r->gen, r->hstats);
		r->hstats = NULL;
		viewer_on_kinds(v, r->gen, r->kinds, r->n_kinds, r->src, r->n_src);
		r->src = NULL;
		break;
	case LOAD_HEAD:
		viewer_on_head(v, r->gen, r->layer, r->head, r->err, r->msg, r->map,
			r->n_q, r->n_k, r->n_bad, r->thumb, r->thumb_key, r->img, &r->norm);
		r->map = NULL;
		r->thumb = NULL;
		r->img = NULL;
		break;
	case LOAD_STATS:
		viewer_on_stats(v, r->metric, r->from, r->n, r->values, r->err, r->msg);
		r->values = NULL;
		break;
	default:
		break;
	}
	load_res_free(r);
}

static void
handle(struct app *a, const SDL_Event *e)
{
	struct vin in;
	memset(&in, 0, sizeof in);
	if (e->type == a->ev_loaded) {
		on_loaded(a, e->user.data1);
		return;
	}
	switch (e->type) {
	case SDL_QUIT:
		a->quit = true;
		return;
	case SDL_WINDOWEVENT:
		switch (e->window.event) {
		case SDL_WINDOWEVENT_SIZE_CHANGED:
		case SDL_WINDOWEVENT_RESIZED:
			resize_buffer(a);
			break;
		case SDL_WINDOWEVENT_EXPOSED:
			a->v.dirty = true;
			break;
		case SDL_WINDOWEVENT_LEAVE:
			in.type = VIN_LEAVE;
			viewer_input(&a->v, &in);
			break;
		default:
			break;
		}
		return;
	case SDL_KEYDOWN:
		in.type = VIN_KEY;
		in.key = e->key.keysym.sym;
		in.mods = e->key.keysym.mod;
		break;
	case SDL_TEXTINPUT:
		in.type = VIN_TEXT;
		snprintf(in.text, sizeof in.text, "%s", e->text.text);
		break;
	case SDL_MOUSEMOTION:
		in.type = VIN_MOTION;
		in.x = e->motion.x;
		in.y = e->motion.y;
		break;
	case SDL_MOUSEBUTTONDOWN:
	case SDL_MOUSEBUTTONUP:
		in.type = e->type == SDL_MOUSEBUTTONDOWN ? VIN_DOWN : VIN_UP;
		in.x = e->button.x;
		in.y = e->button.y;
		in.button = e->button.button;
		in.clicks = e->button.clicks;
		break;
	case SDL_MOUSEWHEEL:
		in.type = VIN_WHEEL;
		in.wheel = e->wheel.preciseY != 0 ? e->wheel.preciseY : e->wheel.y;
		if (e->wheel.direction == SDL_MOUSEWHEEL_FLIPPED)
			in.wheel = -in.wheel;
		in.x = e->wheel.mouseX;
		in.y = e->wheel.mouseY;
		break;
	case SDL_DROPFILE:
		viewer_set_status(&a->v, "to view %s, start attnscope-view on it",
			e->drop.file);
		SDL_free(e->drop.file);
		return;
	default:
		return;
	}
	viewer_input(&a->v, &in);
	if (a->v.quit)
		a->quit = true;
	/* the search line takes typed text; nothing else does */
	if (a->v.searching != a->text_input) {
		if (a->v.searching)
			SDL_StartTextInput();
		else
			SDL_StopTextInput();
		a->text_input = a->v.searching;
	}
}

/* Timers: the poll for new samples and the status line's expiry. */
static int
next_deadline_ms(struct app *a)
{
	double now = util_now();
	double t = a->poll_at;
	if (a->v.status[0] && a->v.status_until > now)
		t = fmin(t, a->v.status_until);
	double ms = (t - now) * 1e3;
	return ms < 0 ? 0 : ms > 1e6 ? 1000000 : (int)ceil(ms);
}

static void
run_timers(struct app *a)
{
	double now = util_now();
	if (now >= a->poll_at) {
		struct viewer *v = &a->v;
		if (v->open == OPEN_OK || v->open == OPEN_FAILED) {
			struct load_req r = {
				.kind = LOAD_POLL, .run_id = v->run_id,
				.known = v->n_rows ? v->rows[v->n_rows - 1].index + 1 : 0,
			};
			loader_push(a->loader, &r, false);
		}
		a->poll_at = now + POLL_PERIOD;
	}
	bool shown = a->v.status[0] && now < a->v.status_until;
	if (shown != a->status_shown) {
		a->status_shown = shown;
		a->v.dirty = true;
	}
}

bool
app_step(struct app *a, int timeout_ms)
{
	SDL_Event e;
	if (timeout_ms < 0)
		timeout_ms = next_deadline_ms(a);
	if (SDL_WaitEventTimeout(&e, timeout_ms)) {
		do {
			handle(a, &e);
		} while (!a->quit && SDL_PollEvent(&e));
	}
	if (a->quit)
		return false;
	run_timers(a);
	if (a->v.dirty)
		render(a);
	return !a->quit;
}

bool
app_settle(struct app *a, double timeout)
{
	double end = util_now() + timeout;
	int quiet = 0;
	while (util_now() < end && !a->quit) {
		app_step(a, 20);
		/* settled: nothing to wait for, twice in a row (a result may
		 * have been posted but not yet seen) */
		if (!viewer_busy(&a->v) && loader_idle(a->loader) &&
		    !SDL_HasEvent(a->ev_loaded)) {
			if (++quiet >= 2)
				break;
		} else {
			quiet = 0;
		}
	}
	render(a);
	return quiet >= 2;
}

int
app_write_png(struct app *a, const char *path)
{
	render(a);
	cairo_status_t st = cairo_surface_write_to_png(a->back, path);
	if (st != CAIRO_STATUS_SUCCESS)
		return err_set(ERR_IO, "cannot write '%s': %s", path,
			cairo_status_to_string(st));
	return 0;
}

struct viewer *
app_viewer(struct app *a)
{
	return &a->v;
}

double
app_last_frame_ms(const struct app *a)
{
	return a->last_ms;
}

long
app_frames(const struct app *a)
{
	return a->frames;
}

/* ========================================================================
 * Setup and teardown
 * ======================================================================== */

struct app *
app_create(const struct app_opts *o, int *err)
{
	int rc = ERR_NOMEM;
	struct app *a = calloc(1, sizeof *a);
	if (!a)
		goto fail;
	a->opts = *o;
	a->hooks = (struct viewer_hooks){
		.load_sample = hook_load_sample, .load_head = hook_load_head,
		.load_stats = hook_load_stats, .cancel = hook_cancel,
		.save = hook_save, .quit = hook_quit,
	};
	if ((rc = viewer_init(&a->v, o->path, &a->hooks, a)) != 0)
		goto fail;
	if (o->view >= 0)
		a->v.view = (enum view_id)o->view;
	a->v.want_index = o->sample;
	if (o->kind)
		snprintf(a->v.kind_want, sizeof a->v.kind_want, "%s", o->kind);
	a->v.layer = o->layer > 0 ? o->layer : 0;
	a->v.head = o->head > 0 ? o->head : 0;
	const char *st = getenv("ATTNSCOPE_VIEW_STATS");
	a->print_stats = st && *st && strcmp(st, "0") != 0;

	if (SDL_Init(SDL_INIT_VIDEO) != 0) {
		rc = err_set(ERR_IO, "cannot start SDL video (%s): without a display, "
			"use --screenshot", SDL_GetError());
		goto fail;
	}
	a->sdl_up = true;
	a->ev_loaded = SDL_RegisterEvents(1);
	if (a->ev_loaded == (Uint32)-1) {
		rc = err_set(ERR_NOMEM, "no SDL user events left");
		goto fail;
	}
	char title[512];
	snprintf(title, sizeof title, "attnscope-view — %s", o->path ? o->path
		: "(no database)");
	int w = o->width > 0 ? o->width : 1280, h = o->height > 0 ? o->height : 800;
	a->win = SDL_CreateWindow(title, SDL_WINDOWPOS_UNDEFINED,
		SDL_WINDOWPOS_UNDEFINED, w, h, SDL_WINDOW_RESIZABLE |
		SDL_WINDOW_ALLOW_HIGHDPI | (o->hidden ? SDL_WINDOW_HIDDEN : 0));
	if (!a->win) {
		rc = err_set(ERR_IO, "cannot open a window: %s", SDL_GetError());
		goto fail;
	}
	SDL_SetWindowMinimumSize(a->win, 480, 320);
	a->ren = SDL_CreateRenderer(a->win, -1, 0);
	if (!a->ren) {
		rc = err_set(ERR_IO, "cannot create a renderer: %s", SDL_GetError());
		goto fail;
	}
	if ((rc = resize_buffer(a)) != 0)
		goto fail;
	SDL_StopTextInput();
	SDL_EventState(SDL_DROPFILE, SDL_ENABLE);

	if (o->path) {
		a->loader = loader_create(o->path, post_result, a, &rc);
		if (!a->loader)
			goto fail;
		struct load_req r = { .kind = LOAD_OPEN };
		loader_push(a->loader, &r, true);
	} else {
		viewer_on_open(&a->v, ERR_ARG, "no database given: attnscope-view "
			"FILE.db (attnscope demo writes one)", 0, NULL, NULL, 0, 0, NULL, -1);
	}
	a->poll_at = util_now() + POLL_PERIOD;
	a->v.dirty = true;
	if (err)
		*err = 0;
	return a;
fail:
	app_free(a);
	if (err)
		*err = rc;
	return NULL;
}

void
app_free(struct app *a)
{
	if (!a)
		return;
	/* reverse order of app_create(): the worker first, so nothing posts
	 * while the queue is drained of its results */
	loader_free(a->loader);
	if (a->sdl_up && a->ev_loaded && a->ev_loaded != (Uint32)-1) {
		SDL_Event e;
		while (SDL_PeepEvents(&e, 1, SDL_GETEVENT, a->ev_loaded,
		       a->ev_loaded) == 1)
			load_res_free(e.user.data1);
	}
	if (a->back)
		cairo_surface_destroy(a->back);
	if (a->tex)
		SDL_DestroyTexture(a->tex);
	if (a->ren)
		SDL_DestroyRenderer(a->ren);
	if (a->win)
		SDL_DestroyWindow(a->win);
	if (a->sdl_up)
		SDL_Quit();
	viewer_release(&a->v);
	free(a);
}

/* ========================================================================
 * Benchmark
 * ======================================================================== */

static int
cmp_double(const void *x, const void *y)
{
	double a = *(const double *)x, b = *(const double *)y;
	return (a > b) - (a < b);
}

/* Frame times of one benchmark part: whole frames and their drawing. */
struct times {
	double ms[256], draw[256];
	int n;
};

static void
report(const char *what, struct times *t)
{
	if (t->n <= 0) {
		printf("%-36s no frames\n", what);
		return;
	}
	int n = t->n;
	qsort(t->ms, (size_t)n, sizeof *t->ms, cmp_double);
	qsort(t->draw, (size_t)n, sizeof *t->draw, cmp_double);
	printf("%-36s %3d frames: median %6.2f ms, p95 %6.2f, worst %6.2f "
		"(drawing: median %6.2f, worst %6.2f)\n", what, n, t->ms[n / 2],
		t->ms[(int)(0.95 * (n - 1))], t->ms[n - 1], t->draw[n / 2],
		t->draw[n - 1]);
	t->n = 0;
}

/* Push an event and run one loop turn; record the frame it drew. */
static void
scripted(struct app *a, SDL_Event *e, struct times *t)
{
	long f = a->frames;
	SDL_PushEvent(e);
	app_step(a, 0);
	if (t && a->frames > f && t->n < 256) {
		t->ms[t->n] = a->last_ms;
		t->draw[t->n++] = a->last_draw_ms;
	}
}

static int
bench(struct app *a)
{
	struct viewer *v = &a->v;
	struct times t = { .n = 0 };
	if (!app_settle(a, a->opts.timeout) || !v->cur) {
		fprintf(stderr, "attnscope-view: --bench: nothing to show in '%s'\n",
			a->opts.path);
		return 1;
	}
	/* wait for every map of the sample (the prefetch) */
	double end = util_now() + a->opts.timeout;
	while (!loader_idle(a->loader) && util_now() < end)
		app_step(a, 20);
	app_step(a, 0);
	printf("attnscope-view --bench: %s, sample %lld: %d tokens, %d x %d heads, "
		"window %.0f x %.0f (x%.2f), %s renderer\n", a->opts.path,
		(long long)v->cur->index, v->cur->n_tok, v->n_layer, v->n_head,
		v->width, v->height, v->scale_factor, SDL_GetCurrentVideoDriver());

	/* head view: zoom in, then 200 drag steps */
	viewer_set_view(v, VIEW_HEAD);
	render(a);
	printf("%-36s %.2f ms\n", "head view: first frame", a->last_ms);
	int cx = (int)(v->width / 2), cy = (int)(v->height / 2);
	SDL_Event e;
	for (int i = 0; i < 12; i++) {
		SDL_zero(e);
		e.type = SDL_MOUSEWHEEL;
		e.wheel.y = 1;
		e.wheel.preciseY = 1;
		e.wheel.mouseX = cx;
		e.wheel.mouseY = cy;
		scripted(a, &e, NULL);
	}
	printf("%-36s zoom %.1fx, cells of %.1f px\n", "head view: zoomed",
		v->zoom, v->fig_lay.cell * v->zoom);
	SDL_zero(e);
	e.type = SDL_MOUSEBUTTONDOWN;
	e.button.button = SDL_BUTTON_LEFT;
	e.button.clicks = 1;
	e.button.x = cx;
	e.button.y = cy;
	scripted(a, &e, NULL);
	int x = cx, y = cy;
	for (int i = 0; i < 200; i++) {
		int dir = (i / 50) % 2 ? -1 : 1;
		x += 9 * dir;
		y += 6 * dir;
		SDL_zero(e);
		e.type = SDL_MOUSEMOTION;
		e.motion.x = x;
		e.motion.y = y;
		e.motion.state = SDL_BUTTON_LMASK;
		scripted(a, &e, &t);
	}
	SDL_zero(e);
	e.type = SDL_MOUSEBUTTONUP;
	e.button.button = SDL_BUTTON_LEFT;
	scripted(a, &e, NULL);
	report("head view: 200 pan steps", &t);

	/* model view: 100 head switches */
	viewer_set_view(v, VIEW_MODEL);
	render(a);
	for (int i = 0; i < 100; i++) {
		SDL_zero(e);
		e.type = SDL_KEYDOWN;
		e.key.keysym.sym = (i % 7 == 6) ? SDLK_DOWN : SDLK_RIGHT;
		if (v->head == v->n_head - 1 && e.key.keysym.sym == SDLK_RIGHT)
			e.key.keysym.sym = v->layer == v->n_layer - 1 ? SDLK_UP : SDLK_DOWN;
		scripted(a, &e, &t);
	}
	report("model view: 100 head switches", &t);

	/* head view: 100 head switches (the figure is rebuilt each time) */
	viewer_set_view(v, VIEW_HEAD);
	render(a);
	for (int i = 0; i < 100; i++) {
		SDL_zero(e);
		e.type = SDL_KEYDOWN;
		e.key.keysym.sym = (i / 10) % 2 ? SDLK_LEFT : SDLK_RIGHT;
		if (i % 10 == 9)
			e.key.keysym.sym = (i / 20) % 2 ? SDLK_UP : SDLK_DOWN;
		scripted(a, &e, &t);
		/* a map that was not prefetched arrives a moment later */
		if (v->cur && !v->cur->slots[v->layer * v->n_head + v->head].map)
			app_settle(a, 5);
	}
	report("head view: 100 head switches", &t);
	return 0;
}

/* ========================================================================
 * Program
 * ======================================================================== */

int
app_run(const struct app_opts *o)
{
	int rc;
	struct app *a = app_create(o, &rc);
	if (!a) {
		fprintf(stderr, "attnscope-view: %s\n", err_msg(rc));
		return 1;
	}
	int status = 0;
	if (o->bench) {
		status = bench(a);
	} else if (o->screenshot) {
		bool settled = app_settle(a, o->timeout);
		const struct viewer *v = app_viewer(a);
		if (v->open == OPEN_FAILED && v->open_err == ERR_IO) {
			/* no file to show at all */
			fprintf(stderr, "attnscope-view: %s\n", v->open_msg ? v->open_msg
				: err_str(v->open_err));
			status = 1;
		} else if ((rc = app_write_png(a, o->screenshot)) != 0) {
			fprintf(stderr, "attnscope-view: %s\n", err_msg(rc));
			status = 1;
		} else if (!settled) {
			fprintf(stderr, "attnscope-view: the %s view was still loading after "
				"%.0f s; the screenshot shows it unfinished\n",
				viewer_view_name(v->view), o->timeout);
			status = 1;
		}
	} else {
		while (app_step(a, -1))
			;
	}
	app_free(a);
	return status;
}

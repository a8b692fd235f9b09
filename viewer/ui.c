/*
 * ui.c — the window's chrome (view tabs, run summary, status line), the
 * help overlay generated from the key binding table, in-place messages,
 * and viewer_draw(), the one function that draws a frame.
 */
#include "viewer.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#define COL_BG        0xffffffffu
#define COL_BAR       0xf1f3f6ffu
#define COL_LINE      0xd3d7ddffu
#define COL_TEXT      0x222222ffu
#define COL_DIMTEXT   0x6b6f76ffu
#define COL_ACCENT    0x2b6cb0ffu
#define COL_REC       0xc0392bffu
#define COL_PANEL     0xfdfdfeffu
#define COL_WARN      0xb7791fffu

static const char *const tab_titles[VIEW_COUNT] = {
	"Samples", "Model", "Head", "Graph", "Dataset",
};

void
viewer_chrome_layout(double width, double height, struct viewer_chrome *c)
{
	memset(c, 0, sizeof *c);
	double hh = VIEWER_HEADER_H, sh = VIEWER_STATUS_H;
	if (height < hh + sh + 10)
		hh = sh = fmax(0.0, (height - 10) / 2);
	c->header = (struct vrect){ 0, 0, width, hh };
	c->status = (struct vrect){ 0, height - sh, width, sh };
	c->content = (struct vrect){ 0, hh, width, fmax(1.0, height - hh - sh) };
	double x = 6;
	for (int i = 0; i < VIEW_COUNT; i++) {
		double w = 78;
		c->tabs[i] = (struct vrect){ x, 3, w, hh - 3 };
		x += w + 2;
	}
}

static void
fill(cairo_t *cr, uint32_t rgba, double x, double y, double w, double h)
{
	render_set_source_u32(cr, rgba);
	cairo_rectangle(cr, x, y, w, h);
	cairo_fill(cr);
}

static void
draw_header(struct viewer *v, cairo_t *cr, const struct viewer_chrome *c)
{
	const struct vrect *h = &c->header;
	fill(cr, COL_BAR, h->x, h->y, h->w, h->h);
	fill(cr, COL_LINE, h->x, h->y + h->h - 1, h->w, 1);
	for (int i = 0; i < VIEW_COUNT; i++) {
		const struct vrect *t = &c->tabs[i];
		bool on = (int)v->view == i;
		if (on) {
			fill(cr, COL_BG, t->x, t->y, t->w, t->h);
			fill(cr, COL_ACCENT, t->x, t->y + t->h - 3, t->w, 3);
		}
		render_text_draw(v->text, cr, t->x + t->w / 2, t->y + t->h / 2 - 1,
			tab_titles[i], RENDER_TEXT_CENTER | RENDER_TEXT_MIDDLE |
			(on ? RENDER_TEXT_BOLD : 0), on ? COL_TEXT : COL_DIMTEXT, 0, 0);
	}
	/* run summary, right-aligned */
	char buf[512];
	double right = h->w - 10, y = h->h / 2;
	double left = c->tabs[VIEW_COUNT - 1].x + c->tabs[VIEW_COUNT - 1].w + 16;
	if (v->open != OPEN_OK)
		return;
	bool recording = strcmp(v->run_status, "running") == 0;
	if (recording) {
		if (v->n_total > 0)
			snprintf(buf, sizeof buf, "● recording %d/%" PRId64, v->n_rows,
				v->n_total);
		else
			snprintf(buf, sizeof buf, "● recording %d", v->n_rows);
		double w = render_text_draw(v->text, cr, right, y, buf,
			RENDER_TEXT_RIGHT | RENDER_TEXT_MIDDLE, COL_REC, 0, 0);
		right -= w + 14;
	}
	int n = snprintf(buf, sizeof buf, "%s · run %" PRId64 " · %d sample%s",
		v->model_name ? v->model_name : "", v->run_id, v->n_rows,
		v->n_rows == 1 ? "" : "s");
	if (v->cur && n > 0 && (size_t)n < sizeof buf)
		n += snprintf(buf + n, sizeof buf - (size_t)n, " · sample %" PRId64
			" · L%d H%d", v->cur->index, v->layer, v->head);
	if (v->cur && n > 0 && (size_t)n < sizeof buf &&
	    (v->enc_dec || v->cur->n_kinds > 1 || strcmp(viewer_kind(v), "self")))
		n += snprintf(buf + n, sizeof buf - (size_t)n, " · %s",
			viewer_kind(v));
	if (right > left)
		render_text_draw(v->text, cr, right, y, buf,
			RENDER_TEXT_RIGHT | RENDER_TEXT_MIDDLE, COL_TEXT, 0, right - left);
}

static void
draw_status(struct viewer *v, cairo_t *cr, const struct viewer_chrome *c)
{
	const struct vrect *s = &c->status;
	fill(cr, COL_BAR, s->x, s->y, s->w, s->h);
	fill(cr, COL_LINE, s->x, s->y, s->w, 1);
	const char *hint = "? help · Tab view · s save";
	double hw;
	render_text_measure(v->text, hint, RENDER_TEXT_SMALL, &hw, NULL);
	render_text_draw(v->text, cr, s->w - 10, s->y + s->h / 2, hint,
		RENDER_TEXT_RIGHT | RENDER_TEXT_MIDDLE | RENDER_TEXT_SMALL,
		COL_DIMTEXT, 0, 0);
	const char *msg = v->status[0] && v->now < v->status_until ? v->status
		: v->info;
	uint32_t col = msg == v->status ? COL_ACCENT : COL_TEXT;
	render_text_draw(v->text, cr, 10, s->y + s->h / 2, msg,
		RENDER_TEXT_MIDDLE, col, 0, fmax(10.0, s->w - hw - 40));
}

/* Split `s` into lines of at most `max` bytes at spaces (in place copy). */
static int
wrap(const char *s, char lines[][200], int max_lines, size_t max)
{
	int n = 0;
	size_t len = strlen(s);
	while (len > 0 && n < max_lines) {
		size_t take = len;
		if (take > max) {
			take = max;
			while (take > max / 2 && s[take] != ' ')
				take--;
			if (s[take] != ' ')
				take = max;
		}
		if (take >= sizeof lines[0])
			take = sizeof lines[0] - 1;
		memcpy(lines[n], s, take);
		lines[n][take] = '\0';
		n++;
		s += take;
		len -= take;
		while (len > 0 && *s == ' ')
			s++, len--;
	}
	return n;
}

void
ui_message(struct viewer *v, cairo_t *cr, const struct vrect *r,
	const char *heading, const char *detail)
{
	char lines[6][200];
	int n = detail ? wrap(detail, lines, 6, 90) : 0;
	double lh = render_text_line_height(v->text);
	double hw, hh;
	render_text_measure(v->text, heading, RENDER_TEXT_TITLE, &hw, &hh);
	double w = hw;
	for (int i = 0; i < n; i++) {
		double lw;
		render_text_measure(v->text, lines[i], 0, &lw, NULL);
		w = fmax(w, lw);
	}
	w = fmin(w + 40, r->w - 20);
	double h = hh + 24 + n * lh + (n ? 8 : 0);
	double x = round(r->x + (r->w - w) / 2), y = round(r->y + (r->h - h) / 2);
	fill(cr, COL_PANEL, x, y, w, h);
	render_set_source_u32(cr, COL_LINE);
	cairo_set_line_width(cr, 1);
	cairo_rectangle(cr, x + 0.5, y + 0.5, w - 1, h - 1);
	cairo_stroke(cr);
	fill(cr, COL_WARN, x, y, 4, h);
	render_text_draw(v->text, cr, x + w / 2, y + 12, heading,
		RENDER_TEXT_TITLE | RENDER_TEXT_CENTER, COL_TEXT, 0, w - 20);
	for (int i = 0; i < n; i++)
		render_text_draw(v->text, cr, x + w / 2, y + 20 + hh + i * lh,
			lines[i], RENDER_TEXT_CENTER, COL_DIMTEXT, 0, w - 20);
}

static void
draw_help(struct viewer *v, cairo_t *cr, const struct vrect *r)
{
	static const char *const mouse[][2] = {
		{ "click", "open: a sample, a head (model, dataset), a view tab" },
		{ "wheel", "head view: zoom at the pointer; lists, graph: scroll" },
		{ "drag", "head view: pan the zoomed heatmap" },
		{ "hover", "read-out in the status line; graph: isolate a token" },
		{ "click token", "graph: pin / unpin the isolated token" },
		{ "click legend", "graph: head on / off" },
	};
	int n_mouse = (int)(sizeof mouse / sizeof mouse[0]);
	double lh = render_text_line_height(v->text) + 3;
	int n = 0;
	for (int i = 0; i < viewer_n_bindings; i++)
		n += viewer_bindings[i].keys != NULL;
	double key_w = 120, help_w = 330;
	double w = fmin(r->w - 20, key_w + help_w + 40);
	double h = fmin(r->h - 10, (n + n_mouse + 4) * lh + 20);
	double x = round(r->x + (r->w - w) / 2), y = round(r->y + (r->h - h) / 2);
	cairo_set_source_rgba(cr, 0.1, 0.12, 0.15, 0.35);
	cairo_rectangle(cr, r->x, r->y, r->w, r->h);
	cairo_fill(cr);
	fill(cr, COL_PANEL, x, y, w, h);
	render_set_source_u32(cr, COL_LINE);
	cairo_set_line_width(cr, 1);
	cairo_rectangle(cr, x + 0.5, y + 0.5, w - 1, h - 1);
	cairo_stroke(cr);
	cairo_save(cr);
	cairo_rectangle(cr, x, y, w, h);
	cairo_clip(cr);
	double ty = y + 10;
	render_text_draw(v->text, cr, x + 20, ty, "Keys", RENDER_TEXT_TITLE,
		COL_TEXT, 0, 0);
	ty += lh + 6;
	for (int i = 0; i < viewer_n_bindings; i++) {
		const struct viewer_binding *b = &viewer_bindings[i];
		if (!b->keys)
			continue;
		render_text_draw(v->text, cr, x + 20, ty, b->keys, RENDER_TEXT_BOLD,
			COL_ACCENT, 0, key_w - 8);
		render_text_draw(v->text, cr, x + 20 + key_w, ty, b->help, 0,
			COL_TEXT, 0, w - key_w - 30);
		ty += lh;
	}
	ty += 6;
	for (int i = 0; i < n_mouse; i++) {
		render_text_draw(v->text, cr, x + 20, ty, mouse[i][0],
			RENDER_TEXT_BOLD, COL_DIMTEXT, 0, key_w - 8);
		render_text_draw(v->text, cr, x + 20 + key_w, ty, mouse[i][1], 0,
			COL_TEXT, 0, w - key_w - 30);
		ty += lh;
	}
	cairo_restore(cr);
}

/* The database could not be opened, or holds nothing yet. */
static bool
draw_db_state(struct viewer *v, cairo_t *cr, const struct vrect *r)
{
	char buf[1024];
	if (v->open == OPEN_PENDING) {
		ui_message(v, cr, r, "opening the database…", v->path);
		return true;
	}
	if (v->open == OPEN_FAILED) {
		const char *head = v->open_err == ERR_VERSION
			? "this database's version is not supported"
			: v->open_err == ERR_NOTFOUND ? "nothing recorded yet"
			: v->open_err == ERR_IO ? "cannot open the database"
			: "cannot show this database";
		snprintf(buf, sizeof buf, "%s%s", v->open_msg ? v->open_msg
			: err_str(v->open_err), v->open_err == ERR_IO && v->path[0]
			? " (checked again every second: a recording may create it)" : "");
		ui_message(v, cr, r, head, buf);
		snprintf(v->info, sizeof v->info, "%.100s: %.380s", v->path, buf);
		return true;
	}
	if (v->want_index >= 0) {
		bool running = strcmp(v->run_status, "running") == 0;
		snprintf(buf, sizeof buf, "run %" PRId64 " has %d sample%s (indices "
			"from 0)%s", v->run_id, v->n_rows, v->n_rows == 1 ? "" : "s",
			running ? "; it is still recording, the sample shows up when "
			"it is committed" : "");
		char head[96];
		snprintf(head, sizeof head, "no sample %" PRId64, v->want_index);
		ui_message(v, cr, r, head, buf);
		snprintf(v->info, sizeof v->info, "%s: %.300s · PgUp/PgDn or the "
			"samples view pick another", head, buf);
		return true;
	}
	if (v->n_rows == 0) {
		bool running = strcmp(v->run_status, "running") == 0;
		snprintf(buf, sizeof buf, running ? "run %" PRId64 " is recording: "
			"samples appear here as they are committed"
			: "run %" PRId64 " holds no samples", v->run_id);
		ui_message(v, cr, r, "no samples yet", buf);
		return true;
	}
	return false;
}

void
viewer_draw(struct viewer *v, cairo_t *cr)
{
	struct viewer_chrome c;
	viewer_chrome_layout(v->width, v->height, &c);
	v->info[0] = '\0';
	fill(cr, COL_BG, 0, 0, v->width, v->height);

	cairo_save(cr);
	cairo_rectangle(cr, c.content.x, c.content.y, c.content.w, c.content.h);
	cairo_clip(cr);
	if (!draw_db_state(v, cr, &c.content)) {
		switch (v->view) {
		case VIEW_SAMPLES:
			view_samples_draw(v, cr, &c.content);
			break;
		case VIEW_MODEL:
			view_model_draw(v, cr, &c.content);
			break;
		case VIEW_HEAD:
			view_head_draw(v, cr, &c.content);
			break;
		case VIEW_GRAPH:
			view_graph_draw(v, cr, &c.content);
			break;
		case VIEW_DATASET:
			view_dataset_draw(v, cr, &c.content);
			break;
		default:
			break;
		}
	}
	if (v->help)
		draw_help(v, cr, &c.content);
	cairo_restore(cr);

	draw_header(v, cr, &c);
	draw_status(v, cr, &c);
}

int
viewer_save_figure(struct viewer *v, const char *path)
{
	switch (v->view) {
	case VIEW_MODEL:
		return view_model_save(v, path);
	case VIEW_HEAD:
		return view_head_save(v, path);
	case VIEW_GRAPH:
		return view_graph_save(v, path);
	case VIEW_DATASET:
		return view_dataset_save(v, path);
	default:
		return err_set(ERR_UNSUPPORTED, "the samples view has no figure");
	}
}

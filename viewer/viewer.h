/*
 * viewer.h — the state of attnscope-view and its SDL-free surface: what is
 * loaded, what is shown, the views' draw and hit-test functions, the key
 * binding table and the commands. app.c owns the window and feeds input in
 * through viewer_input(); loader.c fills the data through viewer_on_*().
 *
 * Coordinates: everything here is in logical (window) units; `scale` is the
 * HiDPI factor between them and the back buffer's device pixels (STYLE.md
 * §4.3: names starting with buffer_ are device pixels).
 *
 * Threads: the main thread only. Slow work is asked for through the hooks
 * (struct viewer_hooks) and arrives later through viewer_on_*().
 */
#ifndef ATTNSCOPE_VIEWER_H
#define ATTNSCOPE_VIEWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cairo.h>

#include "analysis/analysis.h"
#include "render/render.h"
#include "store.h"

/* ------------------------------------------------------------------------
 * Views, geometry
 * ------------------------------------------------------------------------ */

enum view_id {
	VIEW_SAMPLES,
	VIEW_MODEL,
	VIEW_HEAD,
	VIEW_GRAPH,
	VIEW_DATASET,
	VIEW_COUNT
};

/* "samples", "model", "head", "graph", "dataset"; NULL if invalid. */
const char *viewer_view_name(enum view_id v);
/* Parse a view name; -1 if unknown. */
int viewer_view_parse(const char *name);

struct vrect {
	double x, y, w, h;
};

static inline bool
vrect_has(const struct vrect *r, double x, double y)
{
	return x >= r->x && y >= r->y && x < r->x + r->w && y < r->y + r->h;
}

/* The window's chrome: a tab bar at the top, the status line at the
 * bottom, the view in between. Pure. */
struct viewer_chrome {
	struct vrect header, tabs[VIEW_COUNT], content, status;
};
void viewer_chrome_layout(double width, double height,
	struct viewer_chrome *c);

/* Heights of the chrome bars (logical units). */
#define VIEWER_HEADER_H 30.0
#define VIEWER_STATUS_H 24.0

/* ------------------------------------------------------------------------
 * Data
 * ------------------------------------------------------------------------ */

/* One sample of the run, as listed. */
struct sample_row {
	int64_t id;
	int64_t index;
	int n_tok;
	double loss;      /* NaN if none */
	char *text;       /* owned; NULL when recorded as token ids */
};

enum slot_state { SLOT_EMPTY, SLOT_QUEUED, SLOT_READY, SLOT_ERROR };

/* Number of half-size copies kept for drawing a zoomed-out heatmap. */
#define VIEWER_MIPS 6

/* One head of the loaded sample. */
struct head_slot {
	enum slot_state state;
	int err;            /* ERR_* when SLOT_ERROR                         */
	char *msg;          /* the error message (owned)                     */
	float *map;         /* (n_q, n_k), owned; NULL when evicted          */
	int n_q, n_k;
	size_t n_bad;       /* non-finite cells                              */
	bool map_wanted;    /* a map request is in flight                    */
	cairo_surface_t *thumb;  /* model view thumbnail (owned)            */
	unsigned thumb_key;      /* colour options it was made with          */
	/* head view: the one-pixel-per-cell image under the current colour
	 * options, its scale, and half-size copies (lazily) */
	cairo_surface_t *img;
	cairo_surface_t *mip[VIEWER_MIPS];
	struct render_norm norm;
	unsigned img_key;
	uint64_t used;      /* LRU stamp for the map cache                   */
};

/* Kinds of attention map a sample can hold ("self", "encoder", "decoder",
 * "cross", "rollout", "flow") with their shape. */
#define VIEWER_MAX_KINDS 6
struct viewer_kind {
	char name[16];
	int n_layer, n_head;
};

/* The sample on screen: tokens and every head. */
struct sample_data {
	int gen;            /* generation: results of older loads are dropped */
	int row;            /* index into viewer.rows                         */
	int64_t id, index;
	int n_tok;
	bool toks_ready;
	int toks_err;
	char *toks_msg;
	struct store_token *toks;   /* malloc'd by the store (one free)       */
	int n_toks;
	char **labels;      /* displayable pieces (render_token_label), n_toks */
	const char **pieces;/* raw pieces, n_toks (borrowed from toks)        */
	int n_layer, n_head;
	struct head_slot *slots;    /* (n_layer, n_head)                      */
	bool hstats_ready;
	double *hstats;     /* (n_layer, n_head, ANA_STAT_COUNT), NaN = none  */
	unsigned thumbs_version;    /* bumped when a thumbnail arrives        */
	/* the kind of map the slots hold, and the kinds the sample has */
	char kind[16];
	struct viewer_kind kinds[VIEWER_MAX_KINDS];
	int n_kinds;
	bool kinds_ready;
	/* encoder–decoder samples: the source tokens (keys of "cross", both
	 * axes of "encoder"); n_src = 0 otherwise */
	struct store_token *src;
	int n_src;
	char **src_labels;
	const char **src_pieces;
};

/* One head statistic over the run, filled in chunks. */
struct stat_table {
	bool requested;
	int n_done;         /* rows (samples in list order) covered           */
	int n_alloc;
	double *v;          /* (rows, n_layer * n_head), NaN = none           */
	double *sum;        /* (n_layer * n_head)                             */
	long *cnt;
	int *best_row;      /* row with the highest value, -1 if none         */
	int err;
	char *msg;
};

/* ------------------------------------------------------------------------
 * Requests to the loader
 * ------------------------------------------------------------------------ */

struct viewer;

/* What the viewer asks app.c (and through it the loader) to do. Every
 * hook may be NULL (tests). */
struct viewer_hooks {
	/* tokens and per-head statistics of a sample */
	void (*load_sample)(void *ctx, int gen, int64_t sample_id);
	/* one head: map (when want_map) and thumbnail with the colour options
	 * of `thumb_opts`; urgent requests go before queued ones */
	void (*load_head)(void *ctx, int gen, int64_t sample_id,
		const char *kind, int layer, int head, bool want_map, const struct render_heatmap_opts *thumb_opts,
		unsigned thumb_key, int thumb_side, bool urgent);
	/* statistic `metric` for rows [from, from + n) with these sample ids */
	void (*load_stats)(void *ctx, int metric, int from, const int64_t *ids,
		int n);
	/* drop queued work of generations other than `gen` */
	void (*cancel)(void *ctx, int gen);
	/* save the current view as PNG at `path` */
	int (*save)(void *ctx, const char *path);
	void (*quit)(void *ctx);
};

/* ------------------------------------------------------------------------
 * Input (SDL-free form of what app.c receives)
 * ------------------------------------------------------------------------ */

enum vin_type {
	VIN_KEY,          /* key: SDL keycode value, mods: SDL KMOD_* bits     */
	VIN_TEXT,         /* text: UTF-8 typed text (search)                   */
	VIN_MOTION,       /* x, y: pointer                                     */
	VIN_DOWN,         /* button press at x, y; clicks: 1, 2 (double)       */
	VIN_UP,           /* button release                                    */
	VIN_WHEEL,        /* wheel: steps, positive = away from the user        */
	VIN_LEAVE,        /* the pointer left the window                        */
};

struct vin {
	enum vin_type type;
	int key, mods;
	double x, y;
	int button, clicks;
	double wheel;
	char text[32];
};

/* ------------------------------------------------------------------------
 * State
 * ------------------------------------------------------------------------ */

enum open_state { OPEN_PENDING, OPEN_OK, OPEN_FAILED };

enum sort_key { SORT_INDEX, SORT_LOSS, SORT_METRIC, SORT_COUNT };

struct viewer {
	/* database */
	char *path;
	int64_t want_index;      /* sample index to show once it exists, -1 */
	enum open_state open;
	int open_err;
	char *open_msg;
	int64_t run_id;          /* 0 = none yet */
	char *model_name;
	bool causal;
	bool enc_dec;            /* an encoder–decoder model (BART, T5) */
	char kind_want[16];      /* the kind asked for (k, --kind); "" = auto */
	int n_layer, n_head;
	char run_status[16];
	int64_t n_total;         /* samples the run is meant to hold, -1 */

	/* the samples, in index order, and the list's filtered/sorted order */
	struct sample_row *rows;
	int n_rows, cap_rows;
	int *order;              /* indices into rows */
	int n_order;
	enum sort_key sort;
	bool sort_desc;
	char search[128];
	bool searching;          /* the search line has the keyboard */

	/* what is shown */
	enum view_id view;
	int cur_row;             /* row of the current sample, -1 = none */
	int layer, head;
	struct sample_data *cur;
	int gen;

	/* colour options (head view, thumbnails) */
	enum render_scale scale;
	enum render_cmap cmap;
	bool suppress_first;
	int metric;              /* enum ana_stat: dataset view, overlay, sort */
	bool overlay;

	/* samples view */
	int list_top, list_hover;
	bool list_follow;        /* scroll the list to the current sample */
	/* model view */
	int hover_l, hover_h;
	cairo_surface_t *grid_img;
	unsigned grid_key;
	struct render_grid_layout grid_lay;
	/* head view */
	double zoom, u0, v0;     /* zoom over the fitted figure; top-left cell */
	int hover_q, hover_k;
	bool dragging;
	double drag_x, drag_y;
	cairo_surface_t *fig;    /* the fitted figure, device pixels */
	unsigned fig_key;
	struct render_heatmap_layout fig_lay;
	char fig_msg[256];       /* why the figure cannot be drawn */
	/* graph view */
	bool *graph_on;          /* n_head */
	bool graph_mean;
	float threshold;
	enum render_arcs_style graph_style;
	int graph_first;
	double graph_step;
	int graph_focus;
	bool graph_focus_key, graph_pinned;
	struct render_arcs_layout graph_lay;
	cairo_surface_t *graph_img;  /* the graph without a focus, cached */
	unsigned graph_key;
	/* dataset view */
	struct stat_table stats[ANA_STAT_COUNT];
	int ds_hover_l, ds_hover_h;
	struct render_matrix_layout ds_lay;  /* relative to ds_area */
	struct vrect ds_area;                /* where the matrix is drawn */

	/* ui */
	bool help;
	char info[512];          /* what the pointer is over, set by the views */
	char status[256];
	double status_until;
	double width, height;    /* window, logical units */
	double scale_factor;     /* device pixels per logical unit */
	double now;              /* seconds, set by app.c */
	bool dirty;
	bool quit;
	struct render_text *text;

	/* map cache */
	size_t cache_budget, cache_used;
	uint64_t clock;

	const struct viewer_hooks *hooks;
	void *hooks_ctx;
};

/* Constructor: empty state for database `path` (copied). Never fails
 * except out of memory (returns ERR_NOMEM). Destructor: viewer_release()
 * (accepts a zeroed or released struct, never fails). */
int viewer_init(struct viewer *v, const char *path,
	const struct viewer_hooks *hooks, void *ctx);
void viewer_release(struct viewer *v);

/* ------------------------------------------------------------------------
 * Data arriving from the loader (ownership of the pointers passes to v)
 * ------------------------------------------------------------------------ */

/* The database opened (err == 0) or failed (message `msg`). */
void viewer_on_open(struct viewer *v, int err, const char *msg, int64_t run_id,
	const char *model_name, const char *arch, int n_layer, int n_head,
	const char *status, int64_t n_total);
/* Rows appended (index order, continuing the list); takes the array and
 * the strings in it. */
void viewer_on_rows(struct viewer *v, struct sample_row *rows, int n,
	const char *status);
void viewer_on_tokens(struct viewer *v, int gen, int err, const char *msg,
	struct store_token *toks, int n);
void viewer_on_head_stats(struct viewer *v, int gen, double *hstats);
/* One head: map (may be NULL: thumbnail only), thumbnail, and for large
 * maps the one-pixel-per-cell image with its scale, made with the colour
 * options of thumb_key (img may be NULL; *norm is moved into the slot). */
void viewer_on_head(struct viewer *v, int gen, int layer, int head, int err,
	const char *msg, float *map, int n_q, int n_k, size_t n_bad,
	cairo_surface_t *thumb, unsigned thumb_key, cairo_surface_t *img,
	struct render_norm *norm);
/* The kinds of map the sample has and its source tokens (taken). Picks
 * the sample's kind: kind_want if it has it, else self, else decoder. */
void viewer_on_kinds(struct viewer *v, int gen,
	const struct viewer_kind *kinds, int n_kinds, struct store_token *src,
	int n_src);
void viewer_on_stats(struct viewer *v, int metric, int from, int n,
	double *values, int err, const char *msg);

/* ------------------------------------------------------------------------
 * Commands and input
 * ------------------------------------------------------------------------ */

/* A key binding: in the views of `views` (bit mask of 1 << enum view_id),
 * `key` with `mods` (KMOD_SHIFT/CTRL bits, 0 = any other) runs `cmd` with
 * `arg`; `keys` and `help` are what the help overlay shows. */
typedef bool viewer_cmd_fn(struct viewer *v, int arg);
struct viewer_binding {
	unsigned views;
	int key;
	int mods;
	viewer_cmd_fn *cmd;
	int arg;
	const char *keys;
	const char *help;
};
extern const struct viewer_binding viewer_bindings[];
extern const int viewer_n_bindings;

/* Handle one input event; sets v->dirty when something changed. */
void viewer_input(struct viewer *v, const struct vin *in);

/* Commands used by the binding table and by tests (true = changed). */
bool viewer_set_view(struct viewer *v, int view);
bool viewer_select_row(struct viewer *v, int row);
bool viewer_step_sample(struct viewer *v, int delta);
bool viewer_select_head(struct viewer *v, int layer, int head);
/* Show the maps of `kind` (one the sample has; true = changed). */
bool viewer_set_kind(struct viewer *v, const char *kind);
/* The next (delta > 0) or previous kind the sample has. */
bool viewer_cycle_kind(struct viewer *v, int delta);
/* The current kind ("self" before a sample is loaded). */
const char *viewer_kind(const struct viewer *v);
/* Are the current kind's maps causal (self of a causal model, decoder)? */
bool viewer_kind_causal(const struct viewer *v);
/* Labels (render_token_label) or raw pieces of the current kind's query
 * axis (key_axis false) or key axis; NULL when not known; *n = count. */
char **viewer_axis_labels(const struct viewer *v, bool key_axis, int *n);
const char *const *viewer_axis_pieces(const struct viewer *v, bool key_axis,
	int *n);
void viewer_set_status(struct viewer *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Window size changed (logical units) and HiDPI factor. */
void viewer_resize(struct viewer *v, double width, double height,
	double scale_factor);

/* Ask the loader for what the current view needs (maps, thumbnails in
 * the current colours, statistics); cheap when nothing is missing. */
void viewer_update_needs(struct viewer *v);

/* Rebuild the list order after a search or sort change. */
void viewer_reorder(struct viewer *v);

/* True while something the current view shows is still being loaded. */
bool viewer_busy(const struct viewer *v);

/* Colour options as render options (for thumbnails and the head figure). */
void viewer_heatmap_opts(const struct viewer *v,
	struct render_heatmap_opts *o);
unsigned viewer_color_key(const struct viewer *v);

/* Make room in the map cache: drop maps (least recently used first) other
 * than the current head's until the budget holds. */
void viewer_cache_trim(struct viewer *v);

/* Default file name for `s`: attnscope-<view>-s<N>[-L<l>H<h>].png. */
void viewer_save_name(const struct viewer *v, char *buf, size_t size);

/* Save the current view as a PNG figure at `path` through the render code
 * the CLI uses (the samples view: the window's back buffer is saved by
 * app.c instead; returns ERR_UNSUPPORTED here). */
int viewer_save_figure(struct viewer *v, const char *path);

/* ------------------------------------------------------------------------
 * Drawing (ui.c and the views)
 * ------------------------------------------------------------------------ */

/* Draw the whole window onto `cr` (logical units; the caller has applied
 * the HiDPI scale). The only function that draws. */
void viewer_draw(struct viewer *v, cairo_t *cr);

/* Draw a message in place: a heading and a detail line, centred in r. */
void ui_message(struct viewer *v, cairo_t *cr, const struct vrect *r,
	const char *heading, const char *detail);

/* Each view: draw into `r`; handle input inside `r`. Pure of SDL. */
void view_samples_draw(struct viewer *v, cairo_t *cr, const struct vrect *r);
bool view_samples_input(struct viewer *v, const struct vrect *r,
	const struct vin *in);
void view_model_draw(struct viewer *v, cairo_t *cr, const struct vrect *r);
bool view_model_input(struct viewer *v, const struct vrect *r,
	const struct vin *in);
void view_head_draw(struct viewer *v, cairo_t *cr, const struct vrect *r);
bool view_head_input(struct viewer *v, const struct vrect *r,
	const struct vin *in);
void view_graph_draw(struct viewer *v, cairo_t *cr, const struct vrect *r);
bool view_graph_input(struct viewer *v, const struct vrect *r,
	const struct vin *in);
void view_dataset_draw(struct viewer *v, cairo_t *cr, const struct vrect *r);
bool view_dataset_input(struct viewer *v, const struct vrect *r,
	const struct vin *in);

/* Each figure view: write its figure as a PNG through the render call
 * `attnscope export` makes for it (same options, export's default size). */
int view_model_save(struct viewer *v, const char *path);
int view_head_save(struct viewer *v, const char *path);
int view_graph_save(struct viewer *v, const char *path);
int view_dataset_save(struct viewer *v, const char *path);

/* Samples view: list geometry (pure). Row i of the order is at
 * y = body_y + (i - list_top) * row_h. */
struct samples_layout {
	struct vrect search, header, body;
	double row_h;
	int visible;          /* rows that fit */
	double col_x[6];      /* index, tokens, loss, metric, text, end */
};
void view_samples_layout(const struct vrect *r, bool search_bar,
	double line_h, struct samples_layout *l);
/* Row of the order under (x, y), or -1. */
int view_samples_hit(const struct samples_layout *l, int list_top,
	int n_order, double x, double y);

/* Head view geometry: the heatmap viewport of the fitted figure and the
 * zoom/pan state. Pure. */
struct head_geom {
	double vx, vy, vw, vh;   /* viewport: the fitted heatmap rectangle */
	double cell;             /* fitted cell side                       */
	int n_q, n_k;
	double zoom, u0, v0;     /* zoom >= 1; top-left visible cell        */
};
/* Cell side when zoomed. */
double head_geom_cell(const struct head_geom *g);
/* Clamp u0, v0 (and zoom to [1, max]) so the viewport stays on the map. */
void head_geom_clamp(struct head_geom *g, double max_zoom);
/* The cell under (x, y): true with *q, *k. */
bool head_geom_hit(const struct head_geom *g, double x, double y, int *q,
	int *k);
/* Zoom by `factor` keeping the point (x, y) fixed. */
void head_geom_zoom_at(struct head_geom *g, double factor, double x, double y,
	double max_zoom);
/* Pan by (dx, dy) logical units (drag). */
void head_geom_pan(struct head_geom *g, double dx, double dy,
	double max_zoom);
/* Largest useful zoom: cells of 96 logical units. */
double head_geom_max_zoom(const struct head_geom *g);

/* Row entropy (nats) of row q of a map; NaN if the row holds an invalid
 * value. */
double viewer_row_entropy(const float *map, int n_k, int q);

/* Titles shared with `attnscope export`. */
void viewer_head_title(const struct viewer *v, char *buf, size_t size);

#endif

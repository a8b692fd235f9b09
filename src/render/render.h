/*
 * render.h — drawing attention maps with cairo and pango: colour lookup
 * tables, colour scales, the one-pixel-per-cell heatmap image, the full
 * heatmap figure (title, token labels, colour bar) and PNG/SVG/PDF export.
 *
 * The module takes plain float arrays and knows nothing of SQLite or SDL:
 * the CLI's export and the viewer draw with the same functions (STYLE.md
 * §4.1, §4.9). Errors follow util.h: functions return 0 or a negative
 * enum err code and record one message with err_set(); nothing here exits
 * or prints.
 *
 * Conventions used throughout:
 *
 *  - A map is row-major float32, shape (n_q, n_k): row = query position,
 *    column = key position, map[q * n_k + k]. Sides are 1..RENDER_MAX_SIDE.
 *  - Pixels are cairo's native-endian 32-bit values 0xAARRGGBB (the layout of
 *    CAIRO_FORMAT_ARGB32 / RGB24 and of SDL_PIXELFORMAT_ARGB8888). Everything
 *    this module writes is opaque (alpha 0xff).
 *  - Non-finite values (NaN, ±inf) are "invalid": drawn in RENDER_NAN_ARGB
 *    (magenta, a colour none of the colormaps contains) and left out of the
 *    colour scale. They never crash or poison the scale.
 *  - Token labels are raw token pieces (NUL-terminated bytes as the tokenizer
 *    gives them, not necessarily valid UTF-8); they are made displayable with
 *    render_token_label() and drawn through pango, never cairo's toy text API.
 */
#ifndef ATTNSCOPE_RENDER_H
#define ATTNSCOPE_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cairo.h>

#include "util/util.h"

/* Largest n_q or n_k accepted (cairo's image surface limit). */
#define RENDER_MAX_SIDE 32767

/* Colour of invalid (non-finite) cells: opaque magenta. */
#define RENDER_NAN_ARGB 0xffff00ffu

/* Colour of cells masked by opts->causal (above the causal diagonal):
 * a faint cool grey. It is in none of the colormaps (not neutral, so not in
 * grey), far from the dark low end of viridis and magma, and close to the
 * white low end of grey, where masked cells read as "no attention". */
#define RENDER_MASKED_ARGB 0xffe4e7ecu

/* Default label font size in pixels (device units). */
#define RENDER_DEFAULT_FONT_SIZE 11.0

/* The log scale covers this many decades below its top when no positive
 * vmin is given: [vmax * 1e-4, vmax]. */
#define RENDER_LOG_DECADES 4

/* render_token_label() shortens labels longer than this many characters
 * (counted in displayed code points, an escape such as <0xFF> counting as
 * its six characters) to RENDER_LABEL_MAX_CHARS - 1 characters and "…". */
#define RENDER_LABEL_MAX_CHARS 24

/* A buffer of this size always holds a full render_token_label() result. */
#define RENDER_LABEL_BUF 160

/* ------------------------------------------------------------------------
 * Colormaps
 * ------------------------------------------------------------------------ */

/* The colormaps: 256-entry RGB lookup tables. */
enum render_cmap {
	RENDER_CMAP_VIRIDIS, /* matplotlib viridis (default), dark blue -> yellow */
	RENDER_CMAP_MAGMA,   /* matplotlib magma, black -> light yellow         */
	RENDER_CMAP_GREY,    /* white (low) -> black (high), ink-friendly print  */
	RENDER_CMAP_COUNT
};

/*
 * The lookup table of `cmap`: 256 RGB triplets, 768 bytes, entry i at
 * lut[3*i .. 3*i+2]. viridis and magma are matplotlib's own values rounded
 * to 8 bits (viridis[0] = (68,1,84), viridis[255] = (253,231,37)).
 *
 * Returns a pointer to static, read-only data (never freed), or NULL when
 * `cmap` is not a valid enum value.
 */
const uint8_t *render_cmap_lut(enum render_cmap cmap);

/*
 * Entry `index` of `cmap` as an opaque cairo pixel 0xffRRGGBB. `index` is
 * clamped to 0..255. Returns RENDER_NAN_ARGB for an invalid `cmap`.
 */
uint32_t render_cmap_argb(enum render_cmap cmap, int index);

/* The name of `cmap` ("viridis", "magma", "grey"), static; NULL if invalid. */
const char *render_cmap_name(enum render_cmap cmap);

/*
 * Parse a colormap name, case-insensitively: "viridis", "magma", "grey"
 * (also "gray", "greys"). On success stores it in *cmap and returns 0;
 * returns ERR_ARG with the message set for an unknown name or NULL argument.
 */
int render_cmap_parse(const char *name, enum render_cmap *cmap);

/* ------------------------------------------------------------------------
 * Colour scales
 * ------------------------------------------------------------------------ */

/* How a value becomes a position t in [0, 1] along the colormap. */
enum render_scale {
	/* t = (v - lo) / (hi - lo), clamped. Auto range: lo = min(0, min of
	 * the scaled cells), hi = their max. */
	RENDER_SCALE_LINEAR,
	/* t = (log10 v - log10 lo) / (log10 hi - log10 lo), clamped; v <= lo
	 * (including zeros and negatives) gives t = 0. Auto range: hi = max of
	 * the scaled cells, lo = hi * 10^-RENDER_LOG_DECADES. A positive vmin
	 * replaces lo; a vmin <= 0 is ignored. */
	RENDER_SCALE_LOG,
	/* Histogram equalisation: the distinct values of the scaled cells are
	 * sorted, and the i-th smallest of n gets t = i / (n - 1), so the
	 * smallest is t = 0, the largest t = 1, and equal values share one
	 * colour. Values between two levels (e.g. a suppressed column) get the
	 * midpoint between them; values outside clamp. vmin/vmax are ignored. */
	RENDER_SCALE_RANK,
	RENDER_SCALE_COUNT
};

/* The name of `scale` ("linear", "log", "rank"), static; NULL if invalid. */
const char *render_scale_name(enum render_scale scale);

/*
 * Parse a scale name, case-insensitively: "linear" (also "lin"), "log",
 * "rank". On success stores it in *scale and returns 0; returns ERR_ARG with
 * the message set for an unknown name or NULL argument.
 */
int render_scale_parse(const char *name, enum render_scale *scale);

/* ------------------------------------------------------------------------
 * Options
 * ------------------------------------------------------------------------ */

/*
 * Options for the image builder and the figure. Initialise with
 * render_heatmap_opts_init(); a zero-initialised struct also works (vmin =
 * vmax = 0 counts as "automatic", see below). All pointers are borrowed for
 * the duration of the call only.
 */
struct render_heatmap_opts {
	/* Figure title, UTF-8 (e.g. "stories260K · sample 3 · layer 2 ·
	 * head 5"); NULL or "" = no title. Drawn as given (escaped for
	 * invalid UTF-8 only). */
	const char *title;
	/* n_q query / n_k key token pieces, raw bytes, NUL-terminated; a NULL
	 * array labels positions by index, a NULL entry labels that one
	 * position by index. */
	const char *const *q_labels;
	const char *const *k_labels;
	/* Caption of the colour bar; NULL = "attention weight". */
	const char *value_label;

	enum render_scale scale; /* default RENDER_SCALE_LINEAR */
	enum render_cmap cmap;   /* default RENDER_CMAP_VIRIDIS */

	/* Leave key column 0 (the first-token / BOS "attention sink") out of
	 * the colour scale. The column is still drawn; its values clamp to the
	 * range set by the other columns. */
	bool suppress_first;
	/* The map is causal: cells with k > q + (n_k - n_q) (above the
	 * diagonal, which is the main diagonal when n_q == n_k) are masked:
	 * drawn in RENDER_MASKED_ARGB and left out of the scale. When false
	 * (the default) those cells are ordinary values: a causal map's exact
	 * zeros are drawn like any other zero. */
	bool causal;

	/* Colour range, data units. A non-finite value (NaN) means automatic
	 * for that end (see enum render_scale). If both are finite and
	 * vmax <= vmin — as in a zero-initialised struct — both are ignored. */
	float vmin, vmax;

	/* Label font size in device units (pixels for image surfaces, points
	 * for PDF/SVG); <= 0 = RENDER_DEFAULT_FONT_SIZE. The title is 1.25x. */
	double font_size;
};

/*
 * Fill *opts with the defaults: no title, index labels, linear scale,
 * viridis, no suppression, not causal, vmin = vmax = NaN (automatic),
 * default font size.
 */
void render_heatmap_opts_init(struct render_heatmap_opts *opts);

/* ------------------------------------------------------------------------
 * Resolved colour scale
 * ------------------------------------------------------------------------ */

/*
 * A colour scale resolved against one map: what the image builder uses for
 * every cell, and what a colour bar or a hover read-out needs. Embedded by
 * the caller; set up with render_norm_init(), released with
 * render_norm_release(). Read-only for the caller.
 */
struct render_norm {
	enum render_scale scale;
	double lo, hi;     /* data values at t = 0 and t = 1 (rank: the
	                      smallest and largest level)                 */
	float *levels;     /* rank only: distinct scaled values, ascending;
	                      owned, NULL for the other scales            */
	size_t n_levels;   /* rank only: number of levels (0 = no data)   */
	size_t n_scaled;   /* cells that took part in the scale           */
};

/*
 * Resolve the colour scale of `map` (n_q x n_k) under `opts` (NULL =
 * defaults). The cells that take part are the finite ones, minus key column
 * 0 when opts->suppress_first and minus the masked cells when opts->causal.
 * With no such cell the range is [0, 1] (log: [1e-4, 1]).
 *
 * Returns 0, ERR_ARG (NULL map, bad sides or enum values), ERR_RANGE (side
 * > RENDER_MAX_SIDE) or ERR_NOMEM (rank levels). On failure *norm is left
 * empty (safe to release). Constructor; release with render_norm_release().
 */
int render_norm_init(struct render_norm *norm, const float *map, int n_q,
	int n_k, const struct render_heatmap_opts *opts);

/*
 * Destructor: free what render_norm_init() allocated and empty *norm.
 * Accepts NULL and an already-released or failed norm. Never fails.
 */
void render_norm_release(struct render_norm *norm);

/*
 * Position of value `v` on the colour scale, in [0, 1]; NaN when `v` is not
 * finite. Pure; `norm` must have been initialised.
 */
double render_norm_apply(const struct render_norm *norm, float v);

/*
 * Colormap index of value `v`: floor(t * 256) clamped to 0..255 (matplotlib's
 * rule, so t = 0.5 is index 128 and t = 1 is 255), or -1 when `v` is not
 * finite.
 */
int render_norm_index(const struct render_norm *norm, float v);

/*
 * The data value at position t (clamped to [0, 1]) of the scale: the inverse
 * of render_norm_apply(), used for colour-bar ticks. Rank returns the level
 * nearest to t.
 */
double render_norm_value(const struct render_norm *norm, double t);

/* ------------------------------------------------------------------------
 * Heatmap image: one pixel per cell
 * ------------------------------------------------------------------------ */

/*
 * Write `map` (n_q x n_k) into `img`, one pixel per cell: pixel (x = k,
 * y = q) gets the colormap entry render_norm_index() gives for the cell,
 * RENDER_NAN_ARGB for an invalid cell and RENDER_MASKED_ARGB for a masked
 * one (opts->causal). Pixels are written straight into the surface data
 * (respecting the stride) between cairo_surface_flush() and
 * cairo_surface_mark_dirty(). Draw it scaled with CAIRO_FILTER_NEAREST so
 * the cells stay crisp.
 *
 * `img` must be an image surface of format CAIRO_FORMAT_ARGB32 or
 * CAIRO_FORMAT_RGB24, exactly n_k pixels wide and n_q high; it is borrowed.
 * `opts` may be NULL (defaults).
 *
 * Returns 0, ERR_ARG (NULL or bad arguments, wrong surface type, format or
 * size, surface in an error state), ERR_RANGE or ERR_NOMEM.
 */
int render_heatmap_image(cairo_surface_t *img, const float *map, int n_q,
	int n_k, const struct render_heatmap_opts *opts);

/*
 * Like render_heatmap_image() with an already resolved scale (e.g. one the
 * viewer keeps for its colour bar and hover read-out). `norm` must come from
 * render_norm_init() on the same map with the same suppress_first/causal
 * options; `causal` masks as opts->causal does. Returns 0, ERR_ARG (bad
 * arguments or surface, as render_heatmap_image()) or ERR_RANGE.
 */
int render_heatmap_image_norm(cairo_surface_t *img, const float *map,
	int n_q, int n_k, const struct render_norm *norm, enum render_cmap cmap,
	bool causal);

/*
 * Create an RGB24 image surface of n_k x n_q pixels and fill it with
 * render_heatmap_image(). Returns the new surface (the caller owns it and
 * frees it with cairo_surface_destroy()), or NULL with *err (if err is not
 * NULL) set to the error code and the message set.
 */
cairo_surface_t *render_heatmap_image_create(const float *map, int n_q,
	int n_k, const struct render_heatmap_opts *opts, int *err);

/* ------------------------------------------------------------------------
 * Token labels
 * ------------------------------------------------------------------------ */

/*
 * Make a token piece displayable, into `out` (`size` bytes, always
 * NUL-terminated when size > 0):
 *
 *   ' '  -> ␣ (U+2423)        '\n' -> ↵ (U+21B5)      '\t' -> ⇥ (U+21E5)
 *   other C0 controls and DEL -> <0xNN>      invalid UTF-8 bytes -> <0xNN>
 *   C1 controls and invisible format characters (U+00AD, U+200B..U+200F,
 *   U+2028, U+2029, U+2060, U+FEFF) -> <U+XXXX>
 *   U+2581 ▁ (SentencePiece space) anywhere -> ␣
 *   a leading run of U+0120 Ġ (GPT-2 byte-level space) -> ␣ each
 *
 * Everything else, CJK and Arabic included, is copied as is. A result longer
 * than RENDER_LABEL_MAX_CHARS characters, or one that does not fit in `size`,
 * is cut at a character boundary (never inside a UTF-8 sequence or an
 * escape) and ends with "…" (when it fits). An empty piece gives "".
 *
 * `piece` holds `len` bytes (NUL bytes in it are escaped too; may be NULL
 * when len == 0). Returns the number of bytes written before the NUL, or
 * ERR_ARG (with the message set) when out is NULL or size is 0.
 * A RENDER_LABEL_BUF buffer always holds the full result.
 */
int render_token_label(const char *piece, size_t len, char *out, size_t size);

/* ------------------------------------------------------------------------
 * Heatmap figure
 * ------------------------------------------------------------------------ */

/*
 * Where render_heatmap() puts things, in the user units of the cairo_t it
 * draws on (pixels for image surfaces), for hit-testing in a viewer.
 */
struct render_heatmap_layout {
	double x, y;        /* top-left corner of the heatmap               */
	double cell;        /* side of one cell (cells are square)          */
	int n_q, n_k;
	int q_stride;       /* every q_stride-th query row is labelled       */
	int k_stride;       /* every k_stride-th key column is labelled      */
	double bar_x, bar_y, bar_w, bar_h; /* the colour bar's rectangle    */
};

/*
 * Draw a whole figure of `map` (n_q x n_k, row = query, column = key) into
 * the rectangle (0, 0, width, height) of `cr`'s user space: the title at the
 * top, the heatmap with square cells, query labels left of the rows, key
 * labels below the columns (rotated 90°), the captions "query" and "key",
 * and a colour bar with tick values on the right. The background is not
 * painted (render_heatmap_png() paints it white first).
 *
 * Labels are drawn by level of detail: when a cell is smaller than a line of
 * text, only every s-th token is labelled, s from 1, 2, 5, 10, 20, 50, ...,
 * as "index piece", with a tick, so labels never overlap. Long labels are
 * ellipsized. Text uses pango with "DejaVu Sans" (fontconfig falls back for
 * other scripts), hinting off and metrics unhinted, so layout does not
 * depend on the surface's font options.
 *
 * On image surfaces the heatmap image is scaled with CAIRO_FILTER_NEAREST
 * (crisp cells); when a cell is smaller than one device pixel,
 * CAIRO_FILTER_GOOD is used so that no row or column disappears. On vector
 * surfaces (SVG, PDF, PS, recording) see render_heatmap_svg(). `cr`'s
 * state is saved and restored.
 *
 * Returns 0, ERR_ARG (NULL cr or map, bad sides, enums or size, or `cr`
 * already in an error state), ERR_RANGE, or ERR_NOMEM; a cairo error while
 * drawing is reported as ERR_NOMEM (out of memory) or ERR_ARG.
 */
int render_heatmap(cairo_t *cr, double width, double height, const float *map,
	int n_q, int n_k, const struct render_heatmap_opts *opts);

/*
 * Compute, without drawing, the layout render_heatmap() would use for the
 * same arguments (labels are measured with `cr`; the map is needed for the
 * colour-bar tick values, whose width moves the heatmap). Returns 0 and
 * fills *layout, or the errors of render_heatmap() (ERR_ARG for a NULL
 * layout).
 */
int render_heatmap_layout(cairo_t *cr, double width, double height,
	const float *map, int n_q, int n_k,
	const struct render_heatmap_opts *opts,
	struct render_heatmap_layout *layout);

/*
 * Hit-test a point (x, y) against `layout`: when it falls on a cell, store
 * its query row in *q and key column in *k and return true; otherwise return
 * false and leave them unchanged. Pure.
 */
bool render_heatmap_hit(const struct render_heatmap_layout *layout,
	double x, double y, int *q, int *k);

/*
 * A sensible default figure size in pixels for an n_q x n_k map, without
 * looking at labels: cells of 22 px for short sequences (so every label
 * fits), shrinking towards 14 px and then below (labels thin out), the
 * heatmap side capped at 3400 px so the image stays under about 4096 px,
 * and at least about 480 px in each direction.
 *
 * Returns 0 and sets *width and *height, or ERR_ARG for sides < 1 or NULL
 * outputs, or ERR_RANGE for sides > RENDER_MAX_SIDE.
 */
int render_heatmap_size(int n_q, int n_k, int *width, int *height);

/*
 * Like render_heatmap_size() but measures the actual labels, title and
 * colour-bar values of `map` under `opts`, so the figure is tight around
 * the heatmap (no empty bands) at the same cell size. The exporters use it
 * when given width or height <= 0.
 * Returns 0 and sets *width, *height, or ERR_ARG, ERR_RANGE, ERR_NOMEM.
 */
int render_heatmap_fit(const float *map, int n_q, int n_k,
	const struct render_heatmap_opts *opts, int *width, int *height);

/* ------------------------------------------------------------------------
 * Export
 * ------------------------------------------------------------------------ */

/*
 * Render the figure (render_heatmap()) on an opaque white background and
 * write it as a PNG file at `path` (RGB, no alpha). width or height <= 0
 * picks the size with render_heatmap_fit().
 *
 * Returns 0, ERR_IO with a message naming `path` when it cannot be written,
 * ERR_RANGE for a figure wider or taller than 16384 pixels, or the errors
 * of render_heatmap().
 */
int render_heatmap_png(const char *path, int width, int height,
	const float *map, int n_q, int n_k,
	const struct render_heatmap_opts *opts);

/*
 * Like render_heatmap_png() but hands the PNG bytes to `write` (cairo's
 * callback: return CAIRO_STATUS_SUCCESS, or CAIRO_STATUS_WRITE_ERROR to
 * stop) with `closure`. Returns 0, ERR_IO if the callback failed, or the
 * errors of render_heatmap().
 */
int render_heatmap_png_to_stream(cairo_write_func_t write, void *closure,
	int width, int height, const float *map, int n_q, int n_k,
	const struct render_heatmap_opts *opts);

/*
 * Like render_heatmap_png() but into memory: on success *data is a
 * malloc'd buffer of *len bytes that the caller frees with free(). On
 * failure *data is NULL and *len 0. Returns 0, ERR_NOMEM or the errors of
 * render_heatmap().
 */
int render_heatmap_png_to_mem(unsigned char **data, size_t *len,
	int width, int height, const float *map, int n_q, int n_k,
	const struct render_heatmap_opts *opts);

/*
 * Write the figure as an SVG (render_heatmap_svg) or PDF (render_heatmap_pdf)
 * file at `path`: the same drawing as the PNG, page size width x height in
 * points (<= 0: render_heatmap_fit()), with vector text. Up to 256 x 256
 * cells the heatmap is vector rectangles (crisp in every viewer); larger
 * maps are embedded as an image, upscaled with nearest neighbour (PDF also
 * marks it /Interpolate false). Returns 0, ERR_IO naming `path`, or the
 * errors of render_heatmap().
 */
int render_heatmap_svg(const char *path, int width, int height,
	const float *map, int n_q, int n_k,
	const struct render_heatmap_opts *opts);
int render_heatmap_pdf(const char *path, int width, int height,
	const float *map, int n_q, int n_k,
	const struct render_heatmap_opts *opts);

/* ========================================================================
 * Shared figure helpers: text, head colours, file output (grid.c)
 *
 * The figures below (head grid, dependency graph, metric matrix) and the
 * viewer's own chrome draw text through these, with the same pinned pango
 * setup as render_heatmap() (DejaVu Sans, hinting off, unhinted metrics),
 * so a figure looks the same on screen, in PNG, SVG and PDF.
 * ======================================================================== */

/* Output formats of the figure writers. */
enum render_format {
	RENDER_FORMAT_PNG,
	RENDER_FORMAT_SVG,
	RENDER_FORMAT_PDF,
	RENDER_FORMAT_COUNT
};

/*
 * Parse "png", "svg" or "pdf" (case-insensitive) into *fmt. Returns 0, or
 * ERR_ARG with the message set for anything else or NULL arguments.
 */
int render_format_parse(const char *name, enum render_format *fmt);

/* A figure drawer: draw into (0, 0, width, height) of `cr`'s user space
 * (the background is already painted white). Returns 0 or an err code. */
typedef int render_draw_fn(cairo_t *cr, double width, double height,
	void *ctx);

/*
 * Paint a width x height figure white, call `draw`, and write it to `path`
 * as `fmt` (PNG: RGB pixels; SVG/PDF: width x height points, vector text).
 * Sizes must be 1..16384 (ERR_RANGE). Returns 0, ERR_IO naming `path`,
 * ERR_ARG for NULL arguments, or what `draw` returned.
 */
int render_figure_write(enum render_format fmt, const char *path, int width,
	int height, render_draw_fn *draw, void *ctx);

/*
 * Colour of head `i` in multi-head figures, opaque 0xRRGGBBAA: matplotlib's
 * tab10 for 0..9, then hues spaced by the golden angle (distinct for any
 * count). Negative i gives a neutral dark grey.
 */
uint32_t render_head_color(int i);

/* Set cairo's source to a 0xRRGGBBAA colour (STYLE.md §4.9). */
void render_set_source_u32(cairo_t *cr, uint32_t rgba);

/* Text style flags for render_text_*(). */
enum render_text_flags {
	RENDER_TEXT_BOLD = 1 << 0,   /* bold weight                           */
	RENDER_TEXT_TITLE = 1 << 1,  /* bold at 1.25x, like figure titles      */
	RENDER_TEXT_SMALL = 1 << 2,  /* 0.85x                                  */
	RENDER_TEXT_RIGHT = 1 << 3,  /* x is the right edge                    */
	RENDER_TEXT_CENTER = 1 << 4, /* x is the horizontal centre             */
	RENDER_TEXT_MIDDLE = 1 << 5, /* y is the vertical centre (else top)    */
};

/* A text drawer: one cached pango layout and its fonts. Not thread-safe:
 * one per thread. */
struct render_text;

/*
 * Constructor: a text drawer at `font_size` device units (<= 0: the
 * default). Returns NULL with *err (if not NULL) set on failure.
 * Destructor: render_text_free() (accepts NULL, never fails).
 */
struct render_text *render_text_create(double font_size, int *err);
void render_text_free(struct render_text *t);

/* The font size and the height of one line of normal text. */
double render_text_font_size(const struct render_text *t);
double render_text_line_height(const struct render_text *t);

/*
 * Logical width and height of `s` (UTF-8; invalid bytes are replaced) in
 * the style of `flags`. A NULL string measures as 0 x line height.
 */
void render_text_measure(struct render_text *t, const char *s, int flags,
	double *w, double *h);

/*
 * Draw `s` with its logical box anchored at (x, y) as `flags` say (default:
 * top-left), in colour `rgba` (0xRRGGBBAA); the first `dim` bytes in a
 * lighter grey (for "12 ␣upon" labels; 0 = none). `max_w` > 0 ellipsizes
 * at the end to fit. Works under any cairo transformation (rotated
 * labels). Returns the drawn width.
 */
double render_text_draw(struct render_text *t, cairo_t *cr, double x,
	double y, const char *s, int flags, uint32_t rgba, size_t dim,
	double max_w);

/* ========================================================================
 * Model view: the grid of all layers x heads of one sample (grid.c)
 * ======================================================================== */

/* Options of the head grid. Zero-initialised = no title, no overlay,
 * viridis, default font. Pointers are borrowed for the call. */
struct render_grid_opts {
	const char *title;         /* NULL or "" = none                        */
	double font_size;          /* <= 0: RENDER_DEFAULT_FONT_SIZE           */
	/* Metric overlay: one value per head, overlay[layer * n_head + head],
	 * NaN = unknown. NULL = no overlay. Drawn as a strip under each
	 * thumbnail (colormap `overlay_cmap` over [overlay_lo, overlay_hi]; a
	 * non-finite or empty range = the finite values' range) and as text
	 * on thumbnails large enough to hold it. */
	const double *overlay;
	const char *overlay_label; /* metric name for the legend              */
	double overlay_lo, overlay_hi;
	enum render_cmap overlay_cmap;
};

/* Where render_grid_draw() puts things (user units of its cairo_t). Cell
 * (layer l, head h) has its thumbnail at (x + h * pitch, y + l * pitch),
 * `thumb` square, and the overlay strip (strip_h high) below it. */
struct render_grid_layout {
	int n_layer, n_head;
	double x, y;            /* top-left corner of cell (0, 0)            */
	double pitch;           /* distance between cells                    */
	double thumb;           /* side of one thumbnail                     */
	double strip_h;         /* overlay strip under a thumbnail (0: none) */
	int row_stride;         /* every row_stride-th layer is labelled     */
	int col_stride;         /* every col_stride-th head is labelled      */
	double title_y;         /* top of the title line                     */
	double legend_y;        /* top of the overlay legend line (0: none)  */
	double font_size;
	double line_h;
};

/*
 * Lay out an n_layer x n_head grid in a width x height figure. Pure (no
 * cairo, no fonts: text sizes are estimated from the font size), so the
 * viewer and tests can hit-test without drawing. Returns 0, or ERR_ARG for
 * bad sizes or counts (1..4096 layers and heads).
 */
int render_grid_layout(double width, double height, int n_layer, int n_head,
	const struct render_grid_opts *opts, struct render_grid_layout *layout);

/* The cell (thumbnail plus strip) under (x, y): true with *layer, *head
 * set; false (outputs untouched) in the gaps and outside. Pure. */
bool render_grid_hit(const struct render_grid_layout *layout, double x,
	double y, int *layer, int *head);

/* The rectangle of cell (layer, head): thumbnail plus strip. Pure. */
void render_grid_cell_rect(const struct render_grid_layout *layout,
	int layer, int head, double *x, double *y, double *w, double *h);

/*
 * A thumbnail of `map` (n_q x n_k) at most `max_side` pixels a side: the map
 * itself (render_heatmap_image()) when it fits, otherwise max-pooled over
 * blocks of cells, so a thin diagonal or a sink column stays visible, and
 * coloured with the scale of the whole map under `opts` (NULL = defaults).
 * A block holding an invalid value is invalid (RENDER_NAN_ARGB); a block
 * whose cells are all masked (opts->causal) is RENDER_MASKED_ARGB.
 * Returns a new RGB24 surface (cairo_surface_destroy() frees it), or NULL
 * with *err set (ERR_ARG, ERR_RANGE, ERR_NOMEM).
 */
cairo_surface_t *render_grid_thumb(const float *map, int n_q, int n_k,
	int max_side, const struct render_heatmap_opts *opts, int *err);

/*
 * Draw the grid from ready thumbnails: thumbs[layer * n_head + head] (NULL
 * = missing; then notes[...] is written in the cell if it fits, e.g.
 * "loading" or "error"; notes may be NULL), scaled into each cell
 * (nearest-neighbour when enlarging, box-filtered when shrinking), layer
 * labels on the left, head labels on top, the title and the overlay.
 * Background not painted. Returns 0, ERR_ARG, or ERR_NOMEM.
 */
int render_grid_draw(cairo_t *cr, double width, double height, int n_layer,
	int n_head, cairo_surface_t *const *thumbs, const char *const *notes,
	const struct render_grid_opts *opts);

/*
 * Draw the grid of maps[layer * n_head + head] (each n_q x n_k; NULL =
 * missing): thumbnails made with render_grid_thumb() at the device size of
 * a cell under `hopts` (scale, colormap, suppression, causal mask), then
 * render_grid_draw(). Returns 0 or the errors of both.
 */
int render_grid(cairo_t *cr, double width, double height, int n_layer,
	int n_head, const float *const *maps, int n_q, int n_k,
	const struct render_heatmap_opts *hopts,
	const struct render_grid_opts *opts);

/* A default figure size for an n_layer x n_head grid (cells of about 96
 * px, shrinking for big models). Returns 0 or ERR_ARG. */
int render_grid_size(int n_layer, int n_head, int *width, int *height);

/* ========================================================================
 * Dependency graph: tokens with edges weighted by attention (arcs.c)
 * ======================================================================== */

enum render_arcs_style {
	RENDER_ARCS_COLUMNS, /* queries on the left, keys on the right      */
	RENDER_ARCS_LINE,    /* one line of tokens, arcs above it           */
	RENDER_ARCS_STYLE_COUNT
};

/* Options of the dependency graph. Zero-initialised works (columns, all
 * tokens, no threshold, per-head colours). Pointers are borrowed. */
struct render_arcs_opts {
	const char *title;
	/* n_tok raw token pieces (render_token_label() is applied); NULL =
	 * positions by index. */
	const char *const *labels;
	enum render_arcs_style style;
	/* Edges with a weight below this are not drawn (0 draws every edge
	 * with a positive weight). */
	float threshold;
	/* Draw the mean over the given heads in one colour instead of one
	 * colour per head. */
	bool mean;
	/* Isolate one token's edges: `focus` >= 0 is a token; with
	 * focus_key false its edges as a query (what it attends to), with
	 * focus_key true its edges as a key (who attends to it). The tokens
	 * at the other end are shaded by weight. -1 = none. */
	int focus;
	bool focus_key;
	/* The window shown: tokens first .. first + count - 1 (count <= 0:
	 * all tokens, fitted to the figure). step > 0 sets the distance
	 * between tokens (row height or slot width); <= 0 fits them. */
	int first, count;
	double step;
	double font_size;          /* <= 0: RENDER_DEFAULT_FONT_SIZE          */
	/* The legend lists n_legend heads (all heads of the layer, say);
	 * legend_ids[i] names them ("H3"), legend_on[i] says whether head i
	 * is drawn (NULL: all on). The maps passed to render_arcs() are those
	 * of the heads that are on, in legend order. 0 = no legend. */
	int n_legend;
	const int *legend_ids;
	const bool *legend_on;
	/* Cross-attention (queries and keys from different sequences): n_k > 0
	 * keys labelled by k_labels (NULL: by index); the maps are then
	 * n_tok x n_k, the columns style is used and the window runs over
	 * max(n_tok, n_k) rows. 0 = the keys are the n_tok query tokens. */
	int n_k;
	const char *const *k_labels;
};

/* Where things are (user units). Columns: token t's row is centred at
 * y0 + (t - first + 0.5) * step; query labels end at q_x, key labels
 * start at k_x, edges run from q_x + anchor gap to k_x - anchor gap.
 * Line: token t's slot is centred at x0 + (t - first + 0.5) * step on the
 * baseline y at base_y, labels below it. */
struct render_arcs_layout {
	enum render_arcs_style style;
	int n_tok, first, count;  /* window shown                         */
	double step;
	double x0, y0;            /* line: x0; columns: y0                */
	double q_x, k_x, col_w;   /* columns                              */
	double base_y, arc_h;     /* line: baseline and highest arc       */
	double lab_h;             /* line: height of the label band       */
	int label_stride;         /* every label_stride-th token labelled */
	/* legend chip i is at (legend_x + (i % legend_cols) * chip_w,
	 * legend_y + (i / legend_cols) * chip_h), chip_w x chip_h */
	double legend_x, legend_y, chip_w, chip_h;
	int n_legend, legend_cols;
	double font_size, line_h;
	double width, height;
};

/* Lay out n_tok tokens in a width x height figure. Pure (text sizes
 * estimated from the font size). Returns 0 or ERR_ARG. */
int render_arcs_layout(double width, double height, int n_tok,
	const struct render_arcs_opts *opts, struct render_arcs_layout *layout);

enum render_arcs_hit_kind {
	RENDER_ARCS_HIT_NONE,
	RENDER_ARCS_HIT_QUERY,  /* a token in the query column (or the line) */
	RENDER_ARCS_HIT_KEY,    /* a token in the key column                 */
	RENDER_ARCS_HIT_LEGEND, /* a legend chip: *index is its legend entry  */
};

/* What is under (x, y). Pure. */
enum render_arcs_hit_kind render_arcs_hit(
	const struct render_arcs_layout *layout, double x, double y,
	int *index);

/*
 * Draw the graph of `n_maps` heads' maps (each n_tok x n_tok, row = query;
 * NULL entries are skipped): tokens, edges of weight >= threshold, one
 * colour per head (render_head_color(legend id)) or their mean, the legend,
 * the title. Non-finite weights are never drawn. Background not painted.
 * Returns 0, ERR_ARG or ERR_NOMEM.
 */
int render_arcs(cairo_t *cr, double width, double height,
	const float *const *maps, int n_maps, int n_tok,
	const struct render_arcs_opts *opts);

/* A default figure size for the whole sequence in `style`. Returns 0 or
 * ERR_ARG. */
int render_arcs_size(int n_tok, enum render_arcs_style style, int *width,
	int *height);

/* ========================================================================
 * Dataset view: a layers x heads matrix of one metric (matrix.c)
 * ======================================================================== */

struct render_matrix_opts {
	const char *title;
	const char *value_label;   /* colour bar caption (the metric name)   */
	enum render_cmap cmap;
	/* Colour range; NaN (or vmax <= vmin, as zero-initialised) = the
	 * finite values' range. */
	double vmin, vmax;
	/* Write each value in its cell when it fits. */
	bool show_values;
	double font_size;          /* <= 0: RENDER_DEFAULT_FONT_SIZE        */
};

/* Cell (layer l, head h) is at (x + h * cell_w, y + l * cell_h). */
struct render_matrix_layout {
	int n_layer, n_head;
	double x, y, cell_w, cell_h;
	double bar_x, bar_y, bar_w, bar_h;
	int row_stride, col_stride;
	bool values_fit;           /* cells are large enough for values     */
	double font_size, line_h;
};

/* Lay out the matrix in a width x height figure. Pure. Returns 0 or
 * ERR_ARG (bad sizes, counts outside 1..4096). */
int render_matrix_layout(double width, double height, int n_layer,
	int n_head, const struct render_matrix_opts *opts,
	struct render_matrix_layout *layout);

/* The cell under (x, y). Pure. */
bool render_matrix_hit(const struct render_matrix_layout *layout, double x,
	double y, int *layer, int *head);

/*
 * Draw values[layer * n_head + head] (NaN = no data, drawn hatched) as
 * coloured cells with layer and head labels and a colour bar. Background
 * not painted. Returns 0, ERR_ARG or ERR_NOMEM.
 */
int render_matrix(cairo_t *cr, double width, double height,
	const double *values, int n_layer, int n_head,
	const struct render_matrix_opts *opts);

/* A default figure size. Returns 0 or ERR_ARG. */
int render_matrix_size(int n_layer, int n_head, int *width, int *height);

#endif

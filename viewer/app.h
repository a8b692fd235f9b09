/*
 * app.h — attnscope-view's SDL side: the window, the renderer and its
 * streaming texture, the cairo back buffer, the event loop with its timers,
 * the loader thread's results arriving as SDL user events, one-frame
 * screenshots and the frame-time benchmark. main.c parses the command line
 * and calls app_run(); tests drive an app step by step.
 */
#ifndef ATTNSCOPE_VIEWER_APP_H
#define ATTNSCOPE_VIEWER_APP_H

#include <stdbool.h>
#include <stdint.h>

#include "viewer.h"

struct app_opts {
	const char *path;         /* database; NULL = none (a hint is shown)   */
	int width, height;        /* window size, logical units (0 = default)  */
	const char *screenshot;   /* write one frame as PNG here and exit      */
	int view;                 /* enum view_id, -1 = default                */
	int64_t sample;           /* sample index to show, -1 = the first      */
	int layer, head;          /* -1 = 0                                    */
	const char *kind;         /* kind of map to show, NULL = automatic     */
	bool bench;               /* run the frame-time benchmark and exit     */
	bool hidden;              /* no visible window (tests)                 */
	double timeout;           /* screenshot/bench: seconds to wait for data */
};

struct app;

/*
 * Constructor: initialise SDL video (the caller picks the driver through
 * SDL_VIDEODRIVER), open the window, start the loader on o->path. Returns
 * NULL with *err set and the message in err_msg() on failure.
 * Destructor: app_free() tears everything down in reverse order; accepts
 * NULL.
 */
struct app *app_create(const struct app_opts *o, int *err);
void app_free(struct app *a);

/* One turn of the event loop: wait up to timeout_ms for events (<0: until
 * the next timer), handle all pending ones, run due timers, redraw if
 * something changed. Returns false once the app should quit. */
bool app_step(struct app *a, int timeout_ms);

/* Turn the loop until the current view has its data (viewer_busy() false,
 * loader idle, no pending results) or `timeout` seconds pass; then draw.
 * Returns true when settled. */
bool app_settle(struct app *a, double timeout);

/* Draw now and write the back buffer as PNG. Returns 0 or ERR_IO. */
int app_write_png(struct app *a, const char *path);

/* The state, for tests and the benchmark. */
struct viewer *app_viewer(struct app *a);

/* Milliseconds the last frame took (draw, upload, present). */
double app_last_frame_ms(const struct app *a);
/* Frames drawn so far. */
long app_frames(const struct app *a);

/* The whole program: interactive loop, screenshot or benchmark. Returns
 * the process exit status. */
int app_run(const struct app_opts *o);

#endif

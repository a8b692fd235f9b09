/*
 * loader.h — the viewer's worker thread: it owns its own read-only store
 * connection, takes requests from a queue (urgent ones first) and hands
 * each result to a post callback (app.c pushes it as an SDL event). All
 * SQLite reads, blob decoding and thumbnail building happen here, never in
 * the event handler. No SDL in this module.
 */
#ifndef ATTNSCOPE_VIEWER_LOADER_H
#define ATTNSCOPE_VIEWER_LOADER_H

#include <stdbool.h>
#include <stdint.h>

#include "viewer.h"

enum load_kind {
	LOAD_OPEN,    /* open the database, the latest run, its samples        */
	LOAD_POLL,    /* new samples of the run (or a first run) since `known` */
	LOAD_SAMPLE,  /* tokens and per-head statistics of one sample          */
	LOAD_HEAD,    /* one head: map and/or thumbnail                        */
	LOAD_STATS,   /* one statistic for a chunk of samples                  */
	LOAD_KIND_COUNT
};

struct load_req {
	enum load_kind kind;
	int gen;                  /* SAMPLE, HEAD: dropped when stale        */
	int64_t run_id;           /* POLL: the viewer's run (0 = none yet)   */
	int64_t known;            /* POLL: samples the viewer already has    */
	int64_t sample_id;
	int layer, head;
	char attn_kind[16];       /* HEAD: kind of map ("" = "self")        */
	bool want_map;            /* HEAD: send the map, not only the thumb  */
	struct render_heatmap_opts thumb_opts; /* HEAD (pointers unused)    */
	unsigned thumb_key;
	int thumb_side;
	int n_layer, n_head;      /* SAMPLE, STATS: the model's shape        */
	int metric, from, n;      /* STATS                                   */
	int64_t *ids;             /* STATS: n sample ids (owned by the queue) */
};

/* A result. Pointers are owned by the result until the viewer takes them
 * (then set them to NULL); load_res_free() frees what is left. */
struct load_res {
	enum load_kind kind;
	int gen;
	int err;                  /* 0 or ERR_*                               */
	char msg[512];            /* message when err != 0                    */
	/* OPEN (also sent by POLL when a database or run appears) */
	int64_t run_id;
	char model_name[256];
	char arch[32];
	int n_layer, n_head;
	char status[16];
	int64_t n_total;
	/* OPEN, POLL */
	struct sample_row *rows;
	int n_rows;
	/* SAMPLE */
	struct store_token *toks;
	int n_toks;
	int toks_err;
	char toks_msg[256];
	double *hstats;           /* (n_layer, n_head, ANA_STAT_COUNT)        */
	struct viewer_kind kinds[VIEWER_MAX_KINDS];  /* the kinds it has     */
	int n_kinds;
	struct store_token *src;  /* source tokens (encoder–decoder)          */
	int n_src;
	/* HEAD */
	int layer, head;
	float *map;
	int n_q, n_k;
	size_t n_bad;
	cairo_surface_t *thumb;
	unsigned thumb_key;
	cairo_surface_t *img;     /* large maps: one pixel per cell           */
	struct render_norm norm;  /* its colour scale                         */
	/* STATS */
	int metric, from, n;
	double *values;           /* (n, n_layer * n_head)                    */
};

typedef void loader_post_fn(void *ctx, struct load_res *res);

struct loader;

/*
 * Constructor: start the worker for database `path` (opened by the worker,
 * read-only). `post` is called on the worker thread with each result and
 * takes ownership of it. Returns NULL with *err set when the thread cannot
 * start. Destructor: loader_free() stops the worker (the request being
 * processed finishes) and frees the queue; accepts NULL.
 */
struct loader *loader_create(const char *path, loader_post_fn *post,
	void *ctx, int *err);
void loader_free(struct loader *l);

/* Queue a copy of *r (ids are copied too); urgent requests go first. */
void loader_push(struct loader *l, const struct load_req *r, bool urgent);

/* Drop queued SAMPLE/HEAD requests of generations other than `gen`. */
void loader_cancel(struct loader *l, int gen);

/* True when the queue is empty and the worker is idle. */
bool loader_idle(struct loader *l);

/* Free a result and whatever it still owns. Accepts NULL. */
void load_res_free(struct load_res *r);

#endif

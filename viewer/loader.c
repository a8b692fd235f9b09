/*
 * loader.c — the worker thread: a request queue (a ring with urgent
 * requests pushed at the front), one read-only store connection, and the
 * jobs: open, poll for new samples, tokens and head statistics, one head's
 * map and thumbnail, statistics over a chunk of the run.
 */
#include "loader.h"

#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Maps with at least this many cells get their image made on the worker. */
#define IMAGE_ON_WORKER (1 << 18)

struct loader {
	char *path;
	loader_post_fn *post;
	void *ctx;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct load_req *q;       /* ring of cap requests */
	size_t head, len, cap;
	bool stop, busy;
	int gen;                  /* current generation (under mu) */
	/* worker-only state */
	struct store *s;
	int last_open_err;
	char status[16];
};

/* ========================================================================
 * Results
 * ======================================================================== */

void
load_res_free(struct load_res *r)
{
	if (!r)
		return;
	for (int i = 0; r->rows && i < r->n_rows; i++)
		free(r->rows[i].text);
	free(r->rows);
	free(r->toks);
	free(r->src);
	free(r->hstats);
	free(r->map);
	if (r->thumb)
		cairo_surface_destroy(r->thumb);
	if (r->img)
		cairo_surface_destroy(r->img);
	render_norm_release(&r->norm);
	free(r->values);
	free(r);
}

static struct load_res *
res_new(enum load_kind kind, int gen)
{
	struct load_res *r = calloc(1, sizeof *r);
	if (r) {
		r->kind = kind;
		r->gen = gen;
	}
	return r;
}

static void
res_error(struct load_res *r, int rc)
{
	r->err = rc;
	snprintf(r->msg, sizeof r->msg, "%s", err_msg(rc));
}

/* ========================================================================
 * Jobs
 * ======================================================================== */

struct rows_acc {
	struct sample_row *rows;
	int n, cap;
	int err;
};

static int
add_row(struct rows_acc *a, const struct store_sample_info *x)
{
	if (a->n == a->cap) {
		int cap = a->cap ? 2 * a->cap : 64;
		struct sample_row *p = realloc(a->rows, (size_t)cap * sizeof *p);
		if (!p)
			return err_set(ERR_NOMEM, "out of memory for the sample list");
		a->rows = p;
		a->cap = cap;
	}
	a->rows[a->n++] = (struct sample_row){
		.id = x->id, .index = x->index, .n_tok = x->n_tok, .loss = x->loss,
		.text = x->text ? strdup(x->text) : NULL,
	};
	return 0;
}

static int
each_row(void *ctx, const struct store_sample_info *x)
{
	return add_row(ctx, x);
}

/* Open the store if needed and describe the latest run with its samples. */
static void
job_open(struct loader *l, bool from_poll)
{
	struct load_res *r = res_new(LOAD_OPEN, 0);
	if (!r)
		return;
	int rc = 0;
	if (!l->s) {
		l->s = store_open(l->path, STORE_READONLY, &rc);
		if (!l->s) {
			res_error(r, rc);
			goto post;
		}
	}
	int64_t run;
	if ((rc = store_latest_run(l->s, &run)) != 0) {
		if (rc == ERR_NOTFOUND)
			rc = err_set(ERR_NOTFOUND, "'%s' holds no runs yet: record one "
				"with attnscope record (it shows up here)", l->path);
		res_error(r, rc);
		goto post;
	}
	struct store_run_info ri;
	struct store_model_info mi;
	if ((rc = store_get_run(l->s, run, &ri)) != 0) {
		res_error(r, rc);
		goto post;
	}
	r->run_id = run;
	snprintf(r->status, sizeof r->status, "%s", ri.status ? ri.status : "");
	snprintf(l->status, sizeof l->status, "%s", r->status);
	r->n_total = ri.n_total;
	if ((rc = store_get_model(l->s, ri.model_id, &mi)) != 0) {
		res_error(r, rc);
		goto post;
	}
	snprintf(r->model_name, sizeof r->model_name, "%s", mi.name ? mi.name : "");
	snprintf(r->arch, sizeof r->arch, "%s", mi.arch ? mi.arch : "");
	r->n_layer = mi.n_layer;
	r->n_head = mi.n_head;
	if (r->n_layer < 1 || r->n_head < 1 || r->n_layer > 4096 ||
	    r->n_head > 4096) {
		rc = err_set(ERR_FORMAT, "run %" PRId64 ": the model has %d layers and "
			"%d heads", run, r->n_layer, r->n_head);
		res_error(r, rc);
		goto post;
	}
	struct rows_acc a = { 0 };
	if ((rc = store_each_sample(l->s, run, each_row, &a)) != 0) {
		for (int i = 0; i < a.n; i++)
			free(a.rows[i].text);
		free(a.rows);
		res_error(r, rc);
		goto post;
	}
	r->rows = a.rows;
	r->n_rows = a.n;
post:
	/* a poll reports a failure only when it is a new one */
	if (from_poll && r->err && r->err == l->last_open_err) {
		load_res_free(r);
		return;
	}
	l->last_open_err = r->err;
	l->post(l->ctx, r);
}

static void
job_poll(struct loader *l, const struct load_req *q)
{
	if (!l->s || q->run_id == 0) {
		/* the file or its first run may have appeared */
		if (l->last_open_err == ERR_IO || l->last_open_err == ERR_NOTFOUND ||
		    (l->s && q->run_id == 0))
			job_open(l, true);
		return;
	}
	int64_t max;
	struct store_run_info ri;
	if (store_max_sample_index(l->s, q->run_id, &max) != 0 ||
	    store_get_run(l->s, q->run_id, &ri) != 0)
		return;
	bool status_changed = ri.status && strcmp(ri.status, l->status) != 0;
	if (max + 1 <= q->known && !status_changed)
		return;
	struct load_res *r = res_new(LOAD_POLL, 0);
	if (!r)
		return;
	snprintf(r->status, sizeof r->status, "%s", ri.status ? ri.status : "");
	snprintf(l->status, sizeof l->status, "%s", r->status);
	struct rows_acc a = { 0 };
	for (int64_t i = q->known; i <= max; i++) {
		struct store_sample_info si;
		if (store_get_sample(l->s, q->run_id, i, &si) != 0)
			break;        /* not committed yet: next poll */
		if (add_row(&a, &si) != 0)
			break;
	}
	r->rows = a.rows;
	r->n_rows = a.n;
	l->post(l->ctx, r);
}

static void
job_sample(struct loader *l, const struct load_req *q)
{
	struct load_res *r = res_new(LOAD_SAMPLE, q->gen);
	if (!r)
		return;
	int rc = l->s ? store_get_tokens(l->s, q->sample_id, &r->toks, &r->n_toks)
		: ERR_ARG;
	if (rc) {
		r->toks_err = rc;
		snprintf(r->toks_msg, sizeof r->toks_msg, "%s", err_msg(rc));
		r->toks = NULL;
		r->n_toks = 0;
	}
	if (l->s && store_get_source(l->s, q->sample_id, &r->src, &r->n_src) != 0) {
		r->src = NULL;
		r->n_src = 0;
	}
	static const char *const kinds[VIEWER_MAX_KINDS] = {
		"self", "encoder", "decoder", "cross", "rollout", "flow",
	};
	for (int i = 0; l->s && i < VIEWER_MAX_KINDS; i++) {
		int nl = 0, nh = 0;
		if (store_attn_dims(l->s, q->sample_id, kinds[i], &nl, &nh) == 0 &&
		    nl > 0 && nh > 0) {
			struct viewer_kind *k = &r->kinds[r->n_kinds++];
			snprintf(k->name, sizeof k->name, "%s", kinds[i]);
			k->n_layer = nl;
			k->n_head = nh;
		}
	}
	err_clear();
	size_t n = (size_t)q->n_layer * q->n_head * ANA_STAT_COUNT;
	r->hstats = n ? malloc(n * sizeof *r->hstats) : NULL;
	for (int li = 0; r->hstats && li < q->n_layer; li++)
		for (int h = 0; h < q->n_head; h++)
			for (int m = 0; m < ANA_STAT_COUNT; m++) {
				double x = NAN;
				if (l->s && store_get_head_stat(l->s, q->sample_id, li, h,
				    ana_stat_name((enum ana_stat)m), &x) != 0)
					x = NAN;
				r->hstats[((size_t)li * q->n_head + h) * ANA_STAT_COUNT + m] = x;
			}
	l->post(l->ctx, r);
}

static void
job_head(struct loader *l, const struct load_req *q)
{
	struct load_res *r = res_new(LOAD_HEAD, q->gen);
	if (!r)
		return;
	r->layer = q->layer;
	r->head = q->head;
	const char *kind = q->attn_kind[0] ? q->attn_kind : "self";
	int rc = l->s ? store_get_attn(l->s, q->sample_id, q->layer, q->head, kind,
		&r->map, &r->n_q, &r->n_k) : ERR_ARG;
	if (rc) {
		r->map = NULL;
		if (rc == ERR_NOTFOUND)
			err_set(rc, "layer %d head %d (%s) was not stored for this sample "
				"(recorded with --capture that left it out?)", q->layer,
				q->head, kind);
		res_error(r, rc);
		l->post(l->ctx, r);
		return;
	}
	size_t cells = (size_t)r->n_q * r->n_k;
	for (size_t i = 0; i < cells; i++)
		r->n_bad += !isfinite(r->map[i]);
	struct render_heatmap_opts o = q->thumb_opts;
	o.title = NULL;
	o.q_labels = o.k_labels = NULL;
	o.value_label = NULL;
	r->thumb = render_grid_thumb(r->map, r->n_q, r->n_k,
		q->thumb_side > 0 ? q->thumb_side : 96, &o, &rc);
	r->thumb_key = q->thumb_key;
	/* a large map's image is built here too, so the head view only blits */
	if (q->want_map && cells >= IMAGE_ON_WORKER) {
		r->img = cairo_image_surface_create(CAIRO_FORMAT_RGB24, r->n_k, r->n_q);
		if (cairo_surface_status(r->img) != CAIRO_STATUS_SUCCESS ||
		    render_norm_init(&r->norm, r->map, r->n_q, r->n_k, &o) != 0 ||
		    render_heatmap_image_norm(r->img, r->map, r->n_q, r->n_k, &r->norm,
		    o.cmap, o.causal) != 0) {
			cairo_surface_destroy(r->img);
			r->img = NULL;
			render_norm_release(&r->norm);
		}
	}
	if (!q->want_map) {
		free(r->map);
		r->map = NULL;
	}
	l->post(l->ctx, r);
}

static void
job_stats(struct loader *l, const struct load_req *q)
{
	struct load_res *r = res_new(LOAD_STATS, 0);
	if (!r)
		return;
	r->metric = q->metric;
	r->from = q->from;
	r->n = q->n;
	size_t lh = (size_t)q->n_layer * q->n_head;
	r->values = malloc((size_t)q->n * lh * sizeof *r->values);
	if (!r->values) {
		res_error(r, err_set(ERR_NOMEM, "out of memory for statistics"));
		l->post(l->ctx, r);
		return;
	}
	const char *name = ana_stat_name((enum ana_stat)q->metric);
	for (int i = 0; i < q->n; i++)
		for (int li = 0; li < q->n_layer; li++)
			for (int h = 0; h < q->n_head; h++) {
				double x = NAN;
				int rc = l->s ? store_get_head_stat(l->s, q->ids[i], li, h, name,
					&x) : ERR_ARG;
				if (rc && rc != ERR_NOTFOUND) {
					res_error(r, rc);
					l->post(l->ctx, r);
					return;
				}
				r->values[(size_t)i * lh + (size_t)li * q->n_head + h] = rc ? NAN : x;
			}
	l->post(l->ctx, r);
}

/* ========================================================================
 * Queue and thread
 * ======================================================================== */

static void
req_release(struct load_req *r)
{
	free(r->ids);
	r->ids = NULL;
}

static void *
worker(void *arg)
{
	struct loader *l = arg;
	for (;;) {
		pthread_mutex_lock(&l->mu);
		l->busy = false;
		while (!l->stop && l->len == 0)
			pthread_cond_wait(&l->cv, &l->mu);
		if (l->stop) {
			pthread_mutex_unlock(&l->mu);
			break;
		}
		struct load_req q = l->q[l->head];
		l->head = (l->head + 1) % l->cap;
		l->len--;
		bool stale = (q.kind == LOAD_SAMPLE || q.kind == LOAD_HEAD) &&
			q.gen != l->gen;
		l->busy = !stale;
		pthread_mutex_unlock(&l->mu);
		if (!stale) {
			err_clear();
			switch (q.kind) {
			case LOAD_OPEN: job_open(l, false); break;
			case LOAD_POLL: job_poll(l, &q); break;
			case LOAD_SAMPLE: job_sample(l, &q); break;
			case LOAD_HEAD: job_head(l, &q); break;
			case LOAD_STATS: job_stats(l, &q); break;
			default: break;
			}
		}
		req_release(&q);
	}
	store_close(l->s);
	l->s = NULL;
	return NULL;
}

struct loader *
loader_create(const char *path, loader_post_fn *post, void *ctx, int *err)
{
	struct loader *l = calloc(1, sizeof *l);
	int rc = ERR_NOMEM;
	if (!l)
		goto fail;
	l->path = strdup(path ? path : "");
	l->cap = 256;
	l->q = calloc(l->cap, sizeof *l->q);
	if (!l->path || !l->q)
		goto fail_free;
	l->post = post;
	l->ctx = ctx;
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	if (pthread_create(&l->thread, NULL, worker, l) != 0) {
		rc = err_set(ERR_NOMEM, "cannot start the loader thread");
		goto fail_sync;
	}
	if (err)
		*err = 0;
	return l;
fail_sync:
	pthread_cond_destroy(&l->cv);
	pthread_mutex_destroy(&l->mu);
fail_free:
	free(l->q);
	free(l->path);
	free(l);
fail:
	if (err)
		*err = rc;
	return NULL;
}

void
loader_free(struct loader *l)
{
	if (!l)
		return;
	pthread_mutex_lock(&l->mu);
	l->stop = true;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
	pthread_join(l->thread, NULL);
	for (size_t i = 0; i < l->len; i++)
		req_release(&l->q[(l->head + i) % l->cap]);
	pthread_cond_destroy(&l->cv);
	pthread_mutex_destroy(&l->mu);
	free(l->q);
	free(l->path);
	free(l);
}

/* Grow the ring (under mu). */
static bool
grow(struct loader *l)
{
	size_t cap = l->cap * 2;
	struct load_req *q = malloc(cap * sizeof *q);
	if (!q)
		return false;
	for (size_t i = 0; i < l->len; i++)
		q[i] = l->q[(l->head + i) % l->cap];
	free(l->q);
	l->q = q;
	l->head = 0;
	l->cap = cap;
	return true;
}

void
loader_push(struct loader *l, const struct load_req *r, bool urgent)
{
	if (!l)
		return;
	struct load_req c = *r;
	c.ids = NULL;
	if (r->ids && r->n > 0) {
		c.ids = malloc((size_t)r->n * sizeof *c.ids);
		if (!c.ids)
			return;
		memcpy(c.ids, r->ids, (size_t)r->n * sizeof *c.ids);
	}
	pthread_mutex_lock(&l->mu);
	if (l->len == l->cap && !grow(l)) {
		pthread_mutex_unlock(&l->mu);
		free(c.ids);
		return;
	}
	if (urgent) {
		l->head = (l->head + l->cap - 1) % l->cap;
		l->q[l->head] = c;
	} else {
		l->q[(l->head + l->len) % l->cap] = c;
	}
	l->len++;
	pthread_cond_signal(&l->cv);
	pthread_mutex_unlock(&l->mu);
}

void
loader_cancel(struct loader *l, int gen)
{
	if (!l)
		return;
	pthread_mutex_lock(&l->mu);
	l->gen = gen;
	size_t keep = 0;
	for (size_t i = 0; i < l->len; i++) {
		struct load_req *r = &l->q[(l->head + i) % l->cap];
		if ((r->kind == LOAD_SAMPLE || r->kind == LOAD_HEAD) && r->gen != gen) {
			req_release(r);
			continue;
		}
		l->q[(l->head + keep) % l->cap] = *r;
		keep++;
	}
	l->len = keep;
	pthread_mutex_unlock(&l->mu);
}

bool
loader_idle(struct loader *l)
{
	if (!l)
		return true;
	pthread_mutex_lock(&l->mu);
	bool idle = l->len == 0 && !l->busy;
	pthread_mutex_unlock(&l->mu);
	return idle;
}

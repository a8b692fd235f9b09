/*
 * writer.c — the recorder's writer thread: statistics, encoding and
 * SQLite writes of one sample while the next one's forward pass runs.
 */
#include "writer.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../analysis/analysis.h"
#include "../tokenizer/tokenizer.h"
#include "../util/util.h"

struct item {
	const char *kind;      /* static string; NULL for an activation */
	char name[96];         /* hook name (activations) or stat prefix */
	bool keep, causal;
	int layer, ndim;
	int shape[4];
	float *data;           /* owned, capacity `cap` floats */
	size_t cap;
};

enum slot_state { SLOT_FREE, SLOT_FILLING, SLOT_QUEUED, SLOT_WRITING };

struct rec_job {
	enum slot_state state;
	int64_t run_id, index;
	char *text;
	size_t text_cap;
	bool has_text;          /* false: the sample was given as token ids */
	struct store_token *toks;
	int n, toks_cap;
	double loss;
	struct item *items;
	int n_items, items_cap;
	/* encoder–decoder source side */
	bool has_source, has_source_text;
	char *source;
	size_t source_cap;
	struct store_token *src_toks;
	size_t src_cap;
	int n_src;
};

struct rec_writer {
	struct store *st;
	enum store_enc enc;
	int depth;
	struct rec_job *slots;  /* ring of depth */
	int next_fill, next_write;
	pthread_t tid;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop;
	int rc;
	char msg[512];
	long committed;
};

static bool
grow(void **p, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return true;
	size_t n = *cap ? *cap : 16;
	while (n < need)
		n *= 2;
	void *q = realloc(*p, n * elem);
	if (!q)
		return false;
	*p = q;
	*cap = n;
	return true;
}

int
rw_job_sample(struct rec_job *j, int64_t run_id, int64_t index, const char *text,
              const struct store_token *toks, int n, double loss)
{
	j->run_id = run_id;
	j->index = index;
	j->loss = loss;
	j->n = n;
	j->has_text = text != NULL;
	size_t tc = (size_t)j->toks_cap;
	if ((text && !grow((void **)&j->text, &j->text_cap, strlen(text) + 1, 1)) ||
	    !grow((void **)&j->toks, &tc, (size_t)n, sizeof *j->toks))
		return err_set(ERR_NOMEM, "out of memory");
	j->toks_cap = (int)tc;
	if (text)
		memcpy(j->text, text, strlen(text) + 1);
	memcpy(j->toks, toks, (size_t)n * sizeof *toks);
	return 0;
}

int
rw_job_source(struct rec_job *j, const char *text, const struct tokenizer *tok,
              const int32_t *ids, int n)
{
	j->has_source = true;
	j->has_source_text = text != NULL;
	if ((text && !grow((void **)&j->source, &j->source_cap, strlen(text) + 1, 1)) ||
	    !grow((void **)&j->src_toks, &j->src_cap, (size_t)(n ? n : 1), sizeof *j->src_toks))
		return err_set(ERR_NOMEM, "out of memory");
	if (text)
		memcpy(j->source, text, strlen(text) + 1);
	for (int i = 0; i < n; i++) {
		memset(&j->src_toks[i], 0, sizeof j->src_toks[i]);
		j->src_toks[i].id = ids[i];
		j->src_toks[i].piece = tok_piece(tok, ids[i]);
		j->src_toks[i].next_logprob = j->src_toks[i].entropy = NAN;
	}
	j->n_src = n;
	return 0;
}

static struct item *
add_item(struct rec_job *j, const struct cap_tensor *t)
{
	size_t ic = (size_t)j->items_cap;
	if (!grow((void **)&j->items, &ic, (size_t)j->n_items + 1, sizeof *j->items))
		return NULL;
	if ((int)ic > j->items_cap) /* new items start empty */
		memset(j->items + j->items_cap, 0, (ic - (size_t)j->items_cap) * sizeof *j->items);
	j->items_cap = (int)ic;
	struct item *it = &j->items[j->n_items];
	size_t n = 1;
	for (int i = 0; i < t->ndim; i++)
		n *= (size_t)t->shape[i];
	if (!grow((void **)&it->data, &it->cap, n, sizeof(float)))
		return NULL;
	memcpy(it->data, t->data, n * sizeof(float));
	it->layer = t->layer;
	it->ndim = t->ndim;
	memcpy(it->shape, t->shape, sizeof it->shape);
	it->causal = t->causal;
	j->n_items++;
	return it;
}

int
rw_job_map(struct rec_job *j, const char *kind, const char *stat_prefix, bool keep,
           const struct cap_tensor *t)
{
	struct item *it = add_item(j, t);
	if (!it)
		return err_set(ERR_NOMEM, "out of memory for a sample's attention maps");
	it->kind = kind;
	it->keep = keep;
	snprintf(it->name, sizeof it->name, "%s", stat_prefix);
	return 0;
}

int
rw_job_act(struct rec_job *j, const char *hook, const struct cap_tensor *t)
{
	struct item *it = add_item(j, t);
	if (!it)
		return err_set(ERR_NOMEM, "out of memory for a sample's activations");
	it->kind = NULL;
	snprintf(it->name, sizeof it->name, "%s", hook);
	return 0;
}

/* Write one job in one transaction (writer thread). */
static int
write_job(struct rec_writer *w, struct rec_job *j)
{
	struct store *st = w->st;
	int rc = store_begin(st);
	if (rc)
		return rc;
	int64_t sid;
	struct store_sample_info si = {
		.run_id = j->run_id, .index = j->index,
		.text = j->has_text ? j->text : NULL,
		.n_tok = j->n, .loss = j->loss,
	};
	if ((rc = store_put_sample(st, &si, &sid)) != 0 ||
	    (rc = store_put_tokens(st, sid, j->toks, j->n)) != 0 ||
	    (j->has_source && (rc = store_put_source(st, sid, j->has_source_text ? j->source
	                                             : NULL, j->src_toks, j->n_src)) != 0))
		goto fail;
	for (int i = 0; i < j->n_items && !rc; i++) {
		struct item *it = &j->items[i];
		if (!it->kind) {
			rc = store_put_act(st, sid, it->name, it->ndim, it->shape, w->enc, it->data);
			continue;
		}
		int H = it->shape[0], nq = it->shape[1], nk = it->shape[2];
		for (int h = 0; h < H && !rc; h++) {
			const float *A = it->data + (size_t)h * nq * nk; /* (nq, nk) */
			double s[ANA_STAT_COUNT];
			ana_head_stats(A, nq, nk, it->causal, s);
			for (int k = 0; k < ANA_STAT_COUNT && !rc; k++) {
				char metric[128];
				snprintf(metric, sizeof metric, "%s%s", it->name,
				         ana_stat_name((enum ana_stat)k));
				rc = store_put_head_stat(st, sid, it->layer, h, metric, s[k]);
			}
			if (!rc && !strcmp(it->kind, "cross")) {
				double a[ANA_ALIGN_COUNT];
				ana_cross_alignment(A, nq, nk, a);
				for (int k = 0; k < ANA_ALIGN_COUNT && !rc; k++) {
					char metric[128];
					snprintf(metric, sizeof metric, "cross.%s",
					         ana_align_name((enum ana_align)k));
					rc = store_put_head_stat(st, sid, it->layer, h, metric, a[k]);
				}
			}
			if (!rc && it->keep)
				rc = store_put_attn(st, sid, it->layer, h, it->kind, nq, nk, it->causal,
				                    w->enc, A);
		}
	}
	if (rc)
		goto fail;
	return store_commit(st);
fail:
	store_rollback(st);
	return rc;
}

static void *
writer_main(void *arg)
{
	struct rec_writer *w = arg;
	pthread_mutex_lock(&w->mu);
	for (;;) {
		struct rec_job *j = &w->slots[w->next_write];
		while (j->state != SLOT_QUEUED && !w->stop)
			pthread_cond_wait(&w->cv, &w->mu);
		if (j->state != SLOT_QUEUED)
			break; /* stopped with nothing queued */
		j->state = SLOT_WRITING;
		pthread_mutex_unlock(&w->mu);
		int rc = w->rc ? w->rc : write_job(w, j);
		pthread_mutex_lock(&w->mu);
		if (rc && !w->rc) {
			w->rc = rc;
			snprintf(w->msg, sizeof w->msg, "%s", err_msg(rc));
		}
		if (!rc)
			w->committed++;
		j->state = SLOT_FREE;
		j->n_items = 0;
		w->next_write = (w->next_write + 1) % w->depth;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

struct rec_writer *
rw_start(struct store *st, enum store_enc enc, int depth, int *err)
{
	struct rec_writer *w = calloc(1, sizeof *w);
	if (w)
		w->slots = calloc((size_t)depth, sizeof *w->slots);
	if (!w || !w->slots) {
		free(w);
		if (err)
			*err = err_set(ERR_NOMEM, "out of memory");
		return NULL;
	}
	w->st = st;
	w->enc = enc;
	w->depth = depth;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	if (pthread_create(&w->tid, NULL, writer_main, w) != 0) {
		pthread_mutex_destroy(&w->mu);
		pthread_cond_destroy(&w->cv);
		free(w->slots);
		free(w);
		if (err)
			*err = err_set(ERR_NOMEM, "cannot start the writer thread");
		return NULL;
	}
	return w;
}

struct rec_job *
rw_acquire(struct rec_writer *w)
{
	pthread_mutex_lock(&w->mu);
	struct rec_job *j = &w->slots[w->next_fill];
	while (j->state != SLOT_FREE && !w->rc)
		pthread_cond_wait(&w->cv, &w->mu);
	if (w->rc) {
		pthread_mutex_unlock(&w->mu);
		return NULL;
	}
	j->state = SLOT_FILLING;
	j->n_items = 0;
	j->has_source = false;
	pthread_mutex_unlock(&w->mu);
	return j;
}

void
rw_submit(struct rec_writer *w, struct rec_job *j)
{
	pthread_mutex_lock(&w->mu);
	j->state = SLOT_QUEUED;
	w->next_fill = (w->next_fill + 1) % w->depth;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
}

void
rw_discard(struct rec_writer *w, struct rec_job *j)
{
	pthread_mutex_lock(&w->mu);
	j->state = SLOT_FREE;
	j->n_items = 0;
	pthread_mutex_unlock(&w->mu);
}

long
rw_committed(struct rec_writer *w)
{
	pthread_mutex_lock(&w->mu);
	long n = w->committed;
	pthread_mutex_unlock(&w->mu);
	return n;
}

int
rw_finish(struct rec_writer *w)
{
	if (!w)
		return 0;
	pthread_mutex_lock(&w->mu);
	w->stop = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	pthread_join(w->tid, NULL);
	int rc = w->rc;
	if (rc)
		err_set(rc, "%s", w->msg);
	for (int s = 0; s < w->depth; s++) {
		struct rec_job *j = &w->slots[s];
		for (int i = 0; i < j->items_cap; i++)
			free(j->items[i].data);
		free(j->items);
		free(j->toks);
		free(j->text);
		free(j->source);
		free(j->src_toks);
	}
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w->slots);
	free(w);
	return rc;
}

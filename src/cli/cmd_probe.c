/*
 * cmd_probe.c — `attnscope probe`: experiments that run the model.
 *   induction   TransformerLens' induction probe: random tokens repeated
 *               twice, recorded as a run; heads ranked by the attention
 *               from each token of the second copy to the token after its
 *               first occurrence
 *   ablate      zero- and mean-ablation of every head through the capture
 *               sink's `edit` op on hook_z; change of the mean loss
 *   logit-lens  every layer's residual stream through the unembedding;
 *               the top tokens per layer and position (or, without
 *               --model, the stored lens of a run as csv/json)
 * Each records a run (rec_run) and stores its results in the database.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../db/store.h"
#include "../analysis/analysis.h"
#include "../capture/capture.h"
#include "../model/model.h"
#include "../record/record.h"
#include "../tokenizer/tokenizer.h"
#include "../util/util.h"
#include "cli.h"

static const char probe_help[] =
"usage: attnscope probe induction --model FILE --db FILE [--seq-len S] [--batch N]\n"
"                                 [--seed X] [--tokenizer FILE] [--limit N]\n"
"       attnscope probe ablate --model FILE --data FILE --db FILE [--mode zero|mean|both]\n"
"                              [--limit N] [--max-tokens N] [--field NAME]\n"
"       attnscope probe logit-lens --model FILE --text STR --db FILE [--top-k K]\n"
"                                  [--max-tokens N]\n"
"       attnscope probe logit-lens --db FILE [--run ID]      (the stored lens)\n"
"  every form: [--format table|csv|json] [-o FILE] [-q]\n"
"\n"
"induction   N sequences (default 10) of S random tokens (default 50), each\n"
"            repeated twice, after the leading special token the tokenizer adds\n"
"            (BOS, [CLS]) if any, recorded as a run (f32 maps). A head's score is\n"
"            the mean over the second copy's positions i of the attention from i\n"
"            to i - S + 1, the token after the earlier occurrence of token i\n"
"            (stored per sample as head_stats 'induction_probe'); heads are printed\n"
"            best first. Random tokens are drawn uniformly, with replacement, from\n"
"            the vocabulary without special and byte-fallback (<0xNN>) tokens.\n"
"ablate      records the samples of --data (no maps), then runs them again with\n"
"            one head's output z (hook_z, before W_O) replaced: 'zero' by zeros,\n"
"            'mean' by its mean over every position of every sample. Prints and\n"
"            stores (head_ablation) the mean loss with each head ablated and its\n"
"            change from the intact model (mean over samples of each sample's\n"
"            mean next-token loss, nats); largest increase first.\n"
"logit-lens  records --text (f32 maps and residual streams) and decodes each\n"
"            layer's hook_resid_post with the final norm and the unembedding;\n"
"            stores the --top-k (default 5) tokens per layer and position\n"
"            (logit_lens) and prints the top one (table) or all (csv, json).\n"
"\n"
"  --tokenizer FILE   override the model's tokenizer (as record)\n"
"  --limit N          induction: heads printed (default 20); ablate: samples used\n"
"  --format F         table (default), csv or json\n"
"  -o FILE            write the output there instead of standard output\n"
"  -q, --quiet        no progress bar\n";

enum out_fmt { OUT_TABLE, OUT_CSV, OUT_JSON };

struct probe_opts {
	const char *model, *tokenizer, *db, *data, *text, *field, *out, *mode;
	long seq_len, batch, seed, limit, max_tokens, top_k, run;
	bool limit_set;
	enum out_fmt fmt;
	bool quiet;
};

/* ==== shared helpers ==================================================== */

static void
on_progress(void *ctx, long done, long total, long tokens)
{
	progress_update(ctx, done, total, tokens);
}

static FILE *
open_out(const char *path)
{
	if (!path || strcmp(path, "-") == 0)
		return stdout;
	FILE *f = fopen(path, "w");
	if (!f)
		err_set(ERR_IO, "cannot write '%s': %s", path, strerror(errno));
	return f;
}

static int
close_out(FILE *f, const char *path)
{
	int bad = ferror(f);
	bad |= f != stdout ? fclose(f) != 0 : fflush(f) != 0;
	return bad ? err_set(ERR_IO, "cannot write '%s'", path ? path : "standard output") : 0;
}

static json_t *
json_num(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static int
dump_json(FILE *f, json_t *root)
{
	int rc = json_dumpf(root, f, JSON_REAL_PRECISION(10) | JSON_INDENT(1)) ? ERR_IO : 0;
	fputc('\n', f);
	json_decref(root);
	return rc;
}

/* Record with rec_run and a progress bar. */
static int
record(const struct rec_options *base, bool quiet, const char *what, int64_t *run_id)
{
	struct rec_options o = *base;
	struct rec_result res;
	struct progress pr;
	progress_init(&pr, "samples", quiet);
	o.progress = on_progress;
	o.progress_ctx = &pr;
	int rc = rec_run(&o, &res);
	progress_finish(&pr);
	if (rc)
		return rc;
	if (!quiet)
		fprintf(stderr, "%s: recorded %ld samples (%ld tokens) as run %" PRId64 " in "
		        "%.2f s\n", what, res.n_samples, res.n_tokens, res.run_id, res.seconds);
	*run_id = res.run_id;
	return 0;
}

/* deterministic random numbers (xorshift64*) */
static uint64_t
rnd_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

/* Is this a llama2.c / SentencePiece byte-fallback piece "<0xNN>"? */
static bool
byte_piece(const char *p)
{
	return p && strlen(p) == 6 && p[0] == '<' && p[1] == '0' && p[2] == 'x' && p[5] == '>';
}

/* Mean next-token loss of one sample from its logits [n, V]; NaN when
 * n < 2. */
static double
sample_loss(const float *logits, int V, const int32_t *ids, int n)
{
	double nll = 0;
	for (int t = 0; t + 1 < n; t++) {
		const float *row = logits + (size_t)t * V; /* (V) */
		double mx = row[0], z = 0;
		for (int v = 1; v < V; v++)
			mx = row[v] > mx ? row[v] : mx;
		for (int v = 0; v < V; v++)
			z += exp(row[v] - mx);
		nll -= row[ids[t + 1]] - mx - log(z);
	}
	return n >= 2 ? nll / (n - 1) : NAN;
}

/* ==== induction ========================================================= */

struct head_score {
	int layer, head;
	struct ana_summary s;
};

static int
cmp_score(const void *x, const void *y)
{
	const struct head_score *a = x, *b = y;
	double u = isnan(a->s.mean) ? -INFINITY : a->s.mean;
	double v = isnan(b->s.mean) ? -INFINITY : b->s.mean;
	if (u != v)
		return u < v ? 1 : -1;
	return a->layer != b->layer ? a->layer - b->layer : a->head - b->head;
}

static int
probe_induction(const struct probe_opts *po)
{
	struct model *m = NULL;
	struct tokenizer *tok = NULL;
	struct store *s = NULL;
	int32_t *cand = NULL, *seq = NULL;
	double *vals = NULL;
	struct head_score *hs = NULL;
	char tmp[4096] = "";
	float *A = NULL;
	int rc;

	const int S = (int)po->seq_len, B = (int)po->batch;
	if (!(m = model_open(po->model, &rc)))
		return rc;
	const struct model_config *c = model_config(m);
	if (!(tok = rec_open_tokenizer(m, po->model, po->tokenizer, &rc)))
		goto out;

	/* the leading special token the tokenizer adds to text, if any */
	int32_t lead[8];
	int n_lead = 0, prefix = -1;
	if ((rc = tok_encode_ex(tok, "", 0, TOK_ADD_SPECIAL, lead, 8, &n_lead)) != 0)
		goto out;
	if (n_lead > 0 && tok_is_special(tok, lead[0]))
		prefix = lead[0];
	int b = prefix >= 0, T = b + 2 * S;
	if (T > c->n_ctx) {
		rc = err_set(ERR_RANGE, "induction probe: %d tokens (2 x %d%s) exceed the model's "
		             "context of %d: lower --seq-len", T, S, b ? " + BOS" : "", c->n_ctx);
		goto out;
	}
	/* ordinary tokens to draw from */
	int V = tok_vocab_size(tok) < c->vocab_size ? tok_vocab_size(tok) : c->vocab_size;
	int n_cand = 0;
	if (!(cand = malloc((size_t)V * sizeof *cand))) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	for (int v = 0; v < V; v++)
		if (!tok_is_special(tok, v) && !byte_piece(tok_piece(tok, v)))
			cand[n_cand++] = v;
	if (n_cand < 2)
		for (int v = n_cand = 0; v < V; v++)
			if (!tok_is_special(tok, v))
				cand[n_cand++] = v;
	if (n_cand < 2) {
		rc = err_set(ERR_UNSUPPORTED, "induction probe: the vocabulary has fewer than two "
		             "ordinary tokens");
		goto out;
	}

	/* the sequences, as a JSONL file of token lists for rec_run */
	const char *dir = getenv("TMPDIR");
	snprintf(tmp, sizeof tmp, "%s/attnscope-induction-XXXXXX.jsonl", dir && *dir ? dir : "/tmp");
	int fd = mkstemps(tmp, 6);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!f) {
		rc = err_set(ERR_IO, "cannot create a temporary file '%s': %s", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		tmp[0] = '\0';
		goto out;
	}
	uint64_t state = 0x9e3779b97f4a7c15ULL ^ ((uint64_t)po->seed * 0xbf58476d1ce4e5b9ULL);
	if (!state)
		state = 1;
	if (!(seq = malloc((size_t)T * sizeof *seq))) {
		fclose(f);
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	for (int k = 0; k < B; k++) {
		if (b)
			seq[0] = prefix;
		for (int i = 0; i < S; i++)
			seq[b + i] = seq[b + S + i] = cand[rnd_next(&state) % (uint64_t)n_cand];
		fputs("{\"tokens\": [", f);
		for (int i = 0; i < T; i++)
			fprintf(f, "%s%d", i ? ", " : "", seq[i]);
		fputs("]}\n", f);
	}
	if (ferror(f) | (fclose(f) != 0)) {
		rc = err_set(ERR_IO, "cannot write '%s'", tmp);
		goto out;
	}
	const int L = c->n_layer, H = c->n_head;
	model_close(m); /* rec_run opens its own */
	m = NULL;
	c = NULL;

	struct rec_options o = {
		.model_path = po->model, .tokenizer_path = po->tokenizer, .db_path = po->db,
		.data_path = tmp, .enc = STORE_ENC_F32,
	};
	int64_t run_id;
	if ((rc = record(&o, po->quiet, "induction probe", &run_id)) != 0)
		goto out;

	/* scores per sample and head, from the stored f32 maps */
	if (!(s = store_open(po->db, 0, &rc)))
		goto out;
	char label[160];
	snprintf(label, sizeof label, "probe:induction seq_len=%d batch=%d seed=%ld%s", S, B,
	         po->seed, b ? " bos" : "");
	if ((rc = store_set_run_dataset(s, run_id, label)) != 0)
		goto out;
	vals = malloc((size_t)L * H * B * sizeof *vals); /* (L*H, B) */
	hs = calloc((size_t)L * H, sizeof *hs);
	if (!vals || !hs) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = store_begin(s)) != 0)
		goto out;
	for (int k = 0; k < B && !rc; k++) {
		struct store_sample_info si;
		if ((rc = store_get_sample(s, run_id, k, &si)) != 0)
			break;
		for (int l = 0; l < L && !rc; l++)
			for (int h = 0; h < H && !rc; h++) {
				int nq, nk;
				if ((rc = store_get_attn(s, si.id, l, h, "self", &A, &nq, &nk)) != 0)
					break;
				double v = ana_induction_stripe(A, nq, b + S, S);
				free(A);
				A = NULL;
				vals[(size_t)(l * H + h) * B + k] = v;
				rc = store_set_head_stat(s, si.id, l, h, "induction_probe", v);
			}
	}
	for (int k = 0; k < L * H && !rc; k++) {
		hs[k].layer = k / H;
		hs[k].head = k % H;
		ana_summarize(vals + (size_t)k * B, (size_t)B, &hs[k].s);
		struct store_summary x = {
			.layer = k / H, .head = k % H, .metric = "induction_probe", .n = hs[k].s.n,
			.mean = hs[k].s.mean, .std = hs[k].s.std, .p50 = hs[k].s.p50,
			.p90 = hs[k].s.p90,
		};
		rc = store_put_summary(s, run_id, &x);
	}
	if (rc) {
		store_rollback(s);
		goto out;
	}
	if ((rc = store_commit(s)) != 0)
		goto out;
	qsort(hs, (size_t)L * H, sizeof *hs, cmp_score);

	long shown = po->limit_set ? po->limit : 20;
	if (shown > L * H)
		shown = L * H;
	FILE *o_f = open_out(po->out);
	if (!o_f) {
		rc = ERR_IO;
		goto out;
	}
	if (po->fmt == OUT_JSON) {
		json_t *heads = json_array();
		for (long k = 0; k < shown; k++)
			json_array_append_new(heads, json_pack("{s:i, s:i, s:o, s:o, s:o, s:o}",
				"layer", hs[k].layer, "head", hs[k].head, "mean", json_num(hs[k].s.mean),
				"std", json_num(hs[k].s.std), "p50", json_num(hs[k].s.p50),
				"p90", json_num(hs[k].s.p90)));
		rc = dump_json(o_f, json_pack("{s:I, s:i, s:i, s:I, s:b, s:o}", "run",
		                              (json_int_t)run_id, "seq_len", S, "batch", B,
		                              "seed", (json_int_t)po->seed, "bos", b,
		                              "heads", heads));
	} else if (po->fmt == OUT_CSV) {
		fprintf(o_f, "rank,layer,head,mean,std,p50,p90\n");
		for (long k = 0; k < shown; k++)
			fprintf(o_f, "%ld,%d,%d,%.9g,%.9g,%.9g,%.9g\n", k + 1, hs[k].layer, hs[k].head,
			        hs[k].s.mean, hs[k].s.std, hs[k].s.p50, hs[k].s.p90);
	} else {
		fprintf(o_f, "induction probe · run %" PRId64 " · %d sequences of 2 x %d random "
		        "tokens%s\nrank  head    score   (std)\n", run_id, B, S,
		        b ? " after BOS" : "");
		for (long k = 0; k < shown; k++) {
			char name[32];
			snprintf(name, sizeof name, "L%dH%d", hs[k].layer, hs[k].head);
			fprintf(o_f, "%4ld  %-6s %7.4f  (%.4f)\n", k + 1, name, hs[k].s.mean,
			        hs[k].s.std);
		}
	}
	int rc2 = close_out(o_f, po->out);
	if (!rc)
		rc = rc2;
out:
	if (tmp[0])
		unlink(tmp);
	free(A);
	free(vals);
	free(hs);
	free(seq);
	free(cand);
	store_close(s);
	tok_free(tok);
	model_close(m);
	return rc;
}

/* ==== ablation ========================================================== */

/* Sums z over every position: the mean-ablation values. */
struct zmean_sink {
	struct cap_sink sink;
	int H, dh;
	double *sum;     /* (L, H, dh) */
	long tokens;
};

static bool
zmean_want(struct cap_sink *sink, enum cap_point p, int layer)
{
	(void)sink;
	(void)layer;
	return p == CAP_Z;
}

static int
zmean_emit(struct cap_sink *sink, const struct cap_tensor *t)
{
	struct zmean_sink *z = cap_container_of(sink, struct zmean_sink, sink);
	if (t->point != CAP_Z || t->layer < 0)
		return 0;
	int T = t->shape[0];
	size_t w = (size_t)z->H * z->dh;
	double *acc = z->sum + (size_t)t->layer * w; /* (H, dh) */
	for (int i = 0; i < T; i++)
		for (size_t k = 0; k < w; k++)
			acc[k] += t->data[(size_t)i * w + k];
	if (t->layer == 0)
		z->tokens += T;
	return 0;
}

static const struct cap_sink_ops zmean_ops = { .want = zmean_want, .emit = zmean_emit };

/* Replaces one head's z, in place, before W_O. */
struct ablate_sink {
	struct cap_sink sink;
	int layer, head;
	const float *mean; /* (dh) replacement, NULL = zeros */
};

static bool
ablate_want(struct cap_sink *sink, enum cap_point p, int layer)
{
	(void)sink;
	(void)p;
	(void)layer;
	return false;
}

static int
ablate_emit(struct cap_sink *sink, const struct cap_tensor *t)
{
	(void)sink;
	(void)t;
	return 0;
}

static int
ablate_edit(struct cap_sink *sink, enum cap_point p, int layer, float *data,
            const int shape[4])
{
	struct ablate_sink *a = cap_container_of(sink, struct ablate_sink, sink);
	if (p != CAP_Z || layer != a->layer)
		return 0;
	int T = shape[0], H = shape[1], dh = shape[2];
	for (int i = 0; i < T; i++) {
		float *z = data + ((size_t)i * H + a->head) * dh; /* (dh) */
		if (a->mean)
			memcpy(z, a->mean, (size_t)dh * sizeof *z);
		else
			memset(z, 0, (size_t)dh * sizeof *z);
	}
	return 0;
}

static const struct cap_sink_ops ablate_ops = {
	.want = ablate_want, .emit = ablate_emit, .edit = ablate_edit,
};

struct sample_ids {
	int32_t **ids;
	int *n;
	size_t count, cap;
	struct store *s;
};

static int
collect_ids(void *ctx, const struct store_sample_info *x)
{
	struct sample_ids *si = ctx;
	if (si->count == si->cap) {
		size_t cap = si->cap ? 2 * si->cap : 64;
		int32_t **p = realloc(si->ids, cap * sizeof *p);
		if (p)
			si->ids = p;
		int *q = realloc(si->n, cap * sizeof *q);
		if (q)
			si->n = q;
		if (!p || !q)
			return err_set(ERR_NOMEM, "out of memory");
		si->cap = cap;
	}
	struct store_token *toks;
	int n;
	int rc = store_get_tokens(si->s, x->id, &toks, &n);
	if (rc)
		return rc;
	int32_t *ids = malloc((size_t)(n ? n : 1) * sizeof *ids);
	if (!ids) {
		free(toks);
		return err_set(ERR_NOMEM, "out of memory");
	}
	for (int i = 0; i < n; i++)
		ids[i] = toks[i].id;
	free(toks);
	si->ids[si->count] = ids;
	si->n[si->count++] = n;
	return 0;
}

/* Mean over samples of the per-sample loss; *used = samples that count. */
static int
mean_loss(struct model *m, struct sample_ids *si, struct cap_sink *sink, float *logits,
          double *loss, long *used)
{
	const int V = model_config(m)->vocab_size;
	double acc = 0;
	long cnt = 0;
	for (size_t k = 0; k < si->count; k++) {
		if (si->n[k] < 2)
			continue;
		int rc = model_forward(m, si->ids[k], si->n[k], sink, logits);
		if (rc)
			return rc;
		acc += sample_loss(logits, V, si->ids[k], si->n[k]);
		cnt++;
	}
	*loss = cnt ? acc / cnt : NAN;
	*used = cnt;
	return 0;
}

struct abl_result {
	int layer, head;
	double loss[2], delta[2]; /* [0] zero, [1] mean; NaN when not run */
};

static int
cmp_abl(const void *x, const void *y)
{
	const struct abl_result *a = x, *b = y;
	double u = !isnan(a->delta[0]) ? a->delta[0] : a->delta[1];
	double v = !isnan(b->delta[0]) ? b->delta[0] : b->delta[1];
	if (u != v)
		return u < v ? 1 : -1;
	return a->layer != b->layer ? a->layer - b->layer : a->head - b->head;
}

static int
probe_ablate(const struct probe_opts *po)
{
	struct model *m = NULL;
	struct store *s = NULL;
	struct sample_ids si = { 0 };
	struct zmean_sink zs = { .sink = { &zmean_ops } };
	struct abl_result *res = NULL;
	float *logits = NULL, *zmean = NULL;
	int rc;

	bool do_zero = strcmp(po->mode, "mean") != 0, do_mean = strcmp(po->mode, "zero") != 0;
	struct rec_options o = {
		.model_path = po->model, .tokenizer_path = po->tokenizer, .db_path = po->db,
		.data_path = po->data, .field = po->field, .limit = po->limit_set ? po->limit : 0,
		.max_tokens = (int)po->max_tokens, .capture = "none", .enc = STORE_ENC_F16,
	};
	int64_t run_id;
	if ((rc = record(&o, po->quiet, "ablation", &run_id)) != 0)
		return rc;
	if (!(s = store_open(po->db, 0, &rc)))
		goto out;
	char label[4200];
	snprintf(label, sizeof label, "probe:ablate %s", po->data);
	if ((rc = store_set_run_dataset(s, run_id, label)) != 0)
		goto out;
	si.s = s;
	if ((rc = store_each_sample(s, run_id, collect_ids, &si)) != 0)
		goto out;
	if (!(m = model_open(po->model, &rc)))
		goto out;
	const struct model_config *c = model_config(m);
	if (!c->has_lm_head) {
		rc = err_set(ERR_UNSUPPORTED, "ablation measures the next-token loss: '%s' has no "
		             "language-model head", po->model);
		goto out;
	}
	const int L = c->n_layer, H = c->n_head, dh = c->d_head;
	int longest = 1;
	for (size_t k = 0; k < si.count; k++)
		longest = si.n[k] > longest ? si.n[k] : longest;
	logits = malloc((size_t)longest * c->vocab_size * sizeof *logits);
	zs.H = H;
	zs.dh = dh;
	zs.sum = calloc((size_t)L * H * dh, sizeof *zs.sum);
	zmean = malloc((size_t)L * H * dh * sizeof *zmean);
	res = calloc((size_t)L * H, sizeof *res);
	if (!logits || !zs.sum || !zmean || !res) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}

	/* the intact model, and the mean of z over every position */
	double base;
	long used;
	if ((rc = mean_loss(m, &si, NULL, logits, &base, &used)) != 0)
		goto out;
	if (used == 0) {
		rc = err_set(ERR_ARG, "ablation needs samples of at least two tokens: '%s' has "
		             "none", po->data);
		goto out;
	}
	for (size_t k = 0; k < si.count && do_mean; k++)
		if ((rc = model_forward(m, si.ids[k], si.n[k], &zs.sink, NULL)) != 0)
			goto out;
	for (size_t k = 0; k < (size_t)L * H * dh; k++)
		zmean[k] = zs.tokens ? (float)(zs.sum[k] / zs.tokens) : 0.0f;

	struct progress pr;
	progress_init(&pr, "heads", po->quiet);
	long total = (long)L * H * (do_zero + do_mean), done_n = 0;
	for (int l = 0; l < L && !rc; l++)
		for (int h = 0; h < H && !rc; h++) {
			struct abl_result *r = &res[l * H + h];
			r->layer = l;
			r->head = h;
			for (int mode = 0; mode < 2 && !rc; mode++) {
				r->loss[mode] = r->delta[mode] = NAN;
				if ((mode == 0 && !do_zero) || (mode == 1 && !do_mean))
					continue;
				struct ablate_sink as = {
					.sink = { &ablate_ops }, .layer = l, .head = h,
					.mean = mode ? zmean + ((size_t)l * H + h) * dh : NULL,
				};
				long u;
				if ((rc = mean_loss(m, &si, &as.sink, logits, &r->loss[mode], &u)) != 0)
					break;
				r->delta[mode] = r->loss[mode] - base;
				rc = store_put_ablation(s, run_id, l, h, mode ? "mean" : "zero",
				                        r->loss[mode], base, used);
				progress_update(&pr, ++done_n, total, 0);
			}
		}
	progress_finish(&pr);
	if (rc)
		goto out;
	qsort(res, (size_t)L * H, sizeof *res, cmp_abl);

	FILE *f = open_out(po->out);
	if (!f) {
		rc = ERR_IO;
		goto out;
	}
	if (po->fmt == OUT_JSON) {
		json_t *heads = json_array();
		for (int k = 0; k < L * H; k++) {
			json_t *o_h = json_pack("{s:i, s:i}", "layer", res[k].layer, "head", res[k].head);
			for (int mode = 0; mode < 2; mode++)
				if (!isnan(res[k].loss[mode]))
					json_object_set_new(o_h, mode ? "mean" : "zero",
					                    json_pack("{s:o, s:o}", "loss",
					                              json_num(res[k].loss[mode]), "delta",
					                              json_num(res[k].delta[mode])));
			json_array_append_new(heads, o_h);
		}
		rc = dump_json(f, json_pack("{s:I, s:I, s:o, s:o}", "run", (json_int_t)run_id,
		                            "n_samples", (json_int_t)used, "base_loss",
		                            json_num(base), "heads", heads));
	} else if (po->fmt == OUT_CSV) {
		fprintf(f, "layer,head,mode,loss,base_loss,delta\n");
		for (int k = 0; k < L * H; k++)
			for (int mode = 0; mode < 2; mode++)
				if (!isnan(res[k].loss[mode]))
					fprintf(f, "%d,%d,%s,%.9g,%.9g,%.9g\n", res[k].layer, res[k].head,
					        mode ? "mean" : "zero", res[k].loss[mode], base,
					        res[k].delta[mode]);
	} else {
		fprintf(f, "ablation · run %" PRId64 " · %ld samples · mean loss of the intact model "
		        "%.6f nats\nhead    %s%s\n", run_id, used, base,
		        do_zero ? "  zero: loss     change" : "",
		        do_mean ? "  mean: loss     change" : "");
		for (int k = 0; k < L * H; k++) {
			char name[32];
			snprintf(name, sizeof name, "L%dH%d", res[k].layer, res[k].head);
			fprintf(f, "%-6s", name);
			for (int mode = 0; mode < 2; mode++)
				if (!isnan(res[k].loss[mode]))
					fprintf(f, "  %10.6f  %+9.6f", res[k].loss[mode], res[k].delta[mode]);
			fputc('\n', f);
		}
	}
	int rc2 = close_out(f, po->out);
	if (!rc)
		rc = rc2;
out:
	for (size_t k = 0; k < si.count; k++)
		free(si.ids[k]);
	free(si.ids);
	free(si.n);
	free(zs.sum);
	free(zmean);
	free(res);
	free(logits);
	store_close(s);
	model_close(m);
	return rc;
}

/* ==== logit lens ======================================================== */

/* The k best ids of a logit row and their log-probabilities. */
static void
top_k(const float *row, int V, int k, int32_t *ids, float *lp)
{
	double mx = row[0], z = 0;
	for (int v = 1; v < V; v++)
		mx = row[v] > mx ? row[v] : mx;
	for (int v = 0; v < V; v++)
		z += exp(row[v] - mx);
	double lz = mx + log(z);
	for (int r = 0; r < k; r++)
		ids[r] = -1;
	for (int v = 0; v < V; v++) {
		int pos = k;
		while (pos > 0 && (ids[pos - 1] < 0 || row[v] > row[ids[pos - 1]]))
			pos--;
		if (pos >= k)
			continue;
		for (int r = k - 1; r > pos; r--)
			ids[r] = ids[r - 1];
		ids[pos] = v;
	}
	for (int r = 0; r < k; r++)
		lp[r] = (float)(row[ids[r]] - lz);
}

/* Piece of an id for output (NULL when unknown). */
static const char *
piece_of(const struct tokenizer *tok, int id)
{
	return tok ? tok_piece(tok, id) : NULL;
}

/* Print the stored lens of sample `sample_id` (n_tok tokens, L layers). */
static int
write_lens(FILE *f, struct store *s, const struct probe_opts *po, int64_t run_id,
           int64_t sample_id, int L, const struct store_token *toks, int n_tok,
           const struct tokenizer *tok)
{
	int32_t ids[STORE_LENS_MAX_K];
	float lp[STORE_LENS_MAX_K];
	int k, rc = 0;
	char esc[256], esc2[256];

	if (po->fmt == OUT_TABLE) {
		fprintf(f, "logit lens · run %" PRId64 " · the most likely next token after each "
		        "layer (log-prob)\n%-4s %-14s", run_id, "pos", "token");
		for (int l = 0; l < L; l++)
			fprintf(f, " %-22s", (snprintf(esc, sizeof esc, "layer %d", l), esc));
		fputc('\n', f);
		for (int p = 0; p < n_tok; p++) {
			fprintf(f, "%-4d %-14.14s", p, cli_escape_piece(toks[p].piece, esc, sizeof esc));
			for (int l = 0; l < L; l++) {
				if ((rc = store_get_logit_lens(s, sample_id, l, p, 1, &k, ids, lp)) != 0)
					return rc;
				const char *pc = piece_of(tok, ids[0]);
				char cell[64];
				if (pc)
					snprintf(cell, sizeof cell, "%.12s (%.2f)",
					         cli_escape_piece(pc, esc2, sizeof esc2), lp[0]);
				else
					snprintf(cell, sizeof cell, "#%d (%.2f)", ids[0], lp[0]);
				fprintf(f, " %-22s", cell);
			}
			fputc('\n', f);
		}
		return 0;
	}
	if (po->fmt == OUT_CSV) {
		fprintf(f, "layer,pos,token_id,rank,id,piece,logprob\n");
		for (int l = 0; l < L; l++)
			for (int p = 0; p < n_tok; p++) {
				if ((rc = store_get_logit_lens(s, sample_id, l, p, STORE_LENS_MAX_K, &k, ids,
				                               lp)) != 0)
					return rc;
				for (int r = 0; r < k; r++) {
					const char *pc = piece_of(tok, ids[r]);
					fprintf(f, "%d,%d,%d,%d,%d,\"", l, p, toks[p].id, r, ids[r]);
					for (const char *q = pc ? pc : ""; *q; q++) { /* CSV quoting */
						if (*q == '"')
							fputc('"', f);
						fputc(*q, f);
					}
					fprintf(f, "\",%.7g\n", lp[r]);
				}
			}
		return 0;
	}
	json_t *tk = json_array(), *layers = json_array();
	for (int p = 0; p < n_tok; p++)
		json_array_append_new(tk, json_pack("{s:i, s:s?}", "id", toks[p].id, "piece",
		                                    toks[p].piece));
	for (int l = 0; l < L && !rc; l++) {
		json_t *pos = json_array();
		for (int p = 0; p < n_tok && !rc; p++) {
			rc = store_get_logit_lens(s, sample_id, l, p, STORE_LENS_MAX_K, &k, ids, lp);
			json_t *top = json_array();
			for (int r = 0; r < k && !rc; r++)
				json_array_append_new(top, json_pack("{s:i, s:s?, s:o}", "id", ids[r],
				                                     "piece", piece_of(tok, ids[r]),
				                                     "logprob", json_num(lp[r])));
			json_array_append_new(pos, top);
		}
		json_array_append_new(layers, json_pack("{s:i, s:o}", "layer", l, "top", pos));
	}
	json_t *root = json_pack("{s:I, s:o, s:o}", "run", (json_int_t)run_id, "tokens", tk,
	                         "layers", layers);
	if (rc) {
		json_decref(root);
		return rc;
	}
	return dump_json(f, root);
}

static int
probe_logit_lens(const struct probe_opts *po)
{
	struct model *m = NULL;
	struct tokenizer *tok = NULL;
	struct store *s = NULL;
	struct store_token *toks = NULL;
	float *x = NULL, *logits = NULL;
	int n_tok = 0, rc;
	int64_t run_id = po->run;

	if (po->model) {
		struct rec_options o = {
			.model_path = po->model, .tokenizer_path = po->tokenizer, .db_path = po->db,
			.text = po->text, .max_tokens = (int)po->max_tokens, .enc = STORE_ENC_F32,
			.capture = "blocks.*.attn.hook_pattern,blocks.*.hook_resid_post",
		};
		if ((rc = record(&o, true, "logit lens", &run_id)) != 0)
			return rc;
	}
	if (!(s = store_open(po->db, po->model ? 0 : STORE_READONLY, &rc)))
		goto out;
	if (!run_id && (rc = store_latest_run(s, &run_id)) != 0) {
		err_set(rc, "database '%s' has no runs yet", po->db);
		goto out;
	}
	struct store_run_info ri;
	struct store_model_info mi;
	struct store_sample_info si;
	if ((rc = store_get_run(s, run_id, &ri)) != 0 ||
	    (rc = store_get_model(s, ri.model_id, &mi)) != 0)
		goto out;
	const int L = mi.n_layer;
	char model_path[4096];
	snprintf(model_path, sizeof model_path, "%s", po->model ? po->model : mi.path);
	if ((rc = store_get_sample(s, run_id, 0, &si)) != 0) {
		err_set(rc, "run %" PRId64 " has no sample", run_id);
		goto out;
	}
	int64_t sid = si.id;
	if ((rc = store_get_tokens(s, sid, &toks, &n_tok)) != 0)
		goto out;
	/* pieces of the predicted ids need the tokenizer: the model's, if the
	 * stored path still opens (export without --model) */
	m = model_open(model_path, &rc);
	if (m)
		tok = rec_open_tokenizer(m, model_path, po->tokenizer, &rc);
	if (po->model && (!m || !tok))
		goto out;
	err_clear();
	rc = 0;

	if (po->model) {
		const struct model_config *c = model_config(m);
		int K = (int)po->top_k;
		if (K > c->vocab_size)
			K = c->vocab_size;
		if (!(logits = malloc((size_t)n_tok * c->vocab_size * sizeof *logits))) {
			rc = err_set(ERR_NOMEM, "out of memory");
			goto out;
		}
		if ((rc = store_begin(s)) != 0)
			goto out;
		for (int l = 0; l < L && !rc; l++) {
			char hook[96];
			int ndim, shape[4];
			snprintf(hook, sizeof hook, "blocks.%d.hook_resid_post", l);
			if ((rc = store_get_act(s, sid, hook, &x, &ndim, shape)) != 0)
				break;
			if (ndim != 2 || shape[0] != n_tok || shape[1] != c->d_model) {
				rc = err_set(ERR_FORMAT, "'%s' has an unexpected shape", hook);
				break;
			}
			if ((rc = model_unembed(m, x, n_tok, logits)) != 0)
				break;
			free(x);
			x = NULL;
			for (int p = 0; p < n_tok && !rc; p++) {
				int32_t ids[STORE_LENS_MAX_K];
				float lp[STORE_LENS_MAX_K];
				top_k(logits + (size_t)p * c->vocab_size, c->vocab_size, K, ids, lp);
				rc = store_put_logit_lens(s, sid, l, p, K, ids, lp);
			}
		}
		if (rc) {
			store_rollback(s);
			goto out;
		}
		if ((rc = store_commit(s)) != 0)
			goto out;
	}
	FILE *f = open_out(po->out);
	if (!f) {
		rc = ERR_IO;
		goto out;
	}
	rc = write_lens(f, s, po, run_id, sid, L, toks, n_tok, tok);
	if (rc == ERR_NOTFOUND && !po->model)
		err_set(rc, "run %" PRId64 " has no logit lens: make one with 'attnscope probe "
		        "logit-lens --model FILE --text STR --db FILE'", run_id);
	int rc2 = close_out(f, po->out);
	if (!rc)
		rc = rc2;
out:
	free(x);
	free(logits);
	free(toks);
	store_close(s);
	tok_free(tok);
	model_close(m);
	return rc;
}

/* ==== the command ======================================================= */

int
cmd_probe(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "model", required_argument, 0, 'm' },
		{ "tokenizer", required_argument, 0, 'k' },
		{ "db", required_argument, 0, 'b' },
		{ "data", required_argument, 0, 'd' },
		{ "text", required_argument, 0, 't' },
		{ "field", required_argument, 0, 'F' },
		{ "seq-len", required_argument, 0, 'S' },
		{ "batch", required_argument, 0, 'B' },
		{ "seed", required_argument, 0, 's' },
		{ "limit", required_argument, 0, 'l' },
		{ "max-tokens", required_argument, 0, 'x' },
		{ "mode", required_argument, 0, 'M' },
		{ "top-k", required_argument, 0, 'K' },
		{ "run", required_argument, 0, 'r' },
		{ "format", required_argument, 0, 'f' },
		{ "output", required_argument, 0, 'o' },
		{ "quiet", no_argument, 0, 'q' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	struct probe_opts po = {
		.seq_len = 50, .batch = 10, .seed = 0, .top_k = 5, .mode = "both",
		.fmt = OUT_TABLE,
	};
	if (argc < 2 || argv[1][0] == '-') {
		if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
			fputs(probe_help, stdout);
			return 0;
		}
		return cli_usage_error("probe", "which probe: induction, ablate or logit-lens?");
	}
	const char *which = argv[1];
	if (strcmp(which, "induction") && strcmp(which, "ablate") && strcmp(which, "logit-lens"))
		return cli_usage_error("probe", "unknown probe '%s' (induction, ablate, "
		                       "logit-lens)", which);
	int c;
	optind = 2;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'm': po.model = optarg; break;
		case 'k': po.tokenizer = optarg; break;
		case 'b': po.db = optarg; break;
		case 'd': po.data = optarg; break;
		case 't': po.text = optarg; break;
		case 'F': po.field = optarg; break;
		case 'o': po.out = optarg; break;
		case 'q': po.quiet = true; break;
		case 'M':
			if (strcmp(optarg, "zero") && strcmp(optarg, "mean") && strcmp(optarg, "both"))
				return cli_usage_error("probe", "--mode is zero, mean or both, not '%s'",
				                       optarg);
			po.mode = optarg;
			break;
		case 'S':
			if (!cli_parse_long("probe", "--seq-len", optarg, 1, 1 << 20, &po.seq_len))
				return 2;
			break;
		case 'B':
			if (!cli_parse_long("probe", "--batch", optarg, 1, 1 << 20, &po.batch))
				return 2;
			break;
		case 's':
			if (!cli_parse_long("probe", "--seed", optarg, 0, INT64_MAX, &po.seed))
				return 2;
			break;
		case 'l':
			if (!cli_parse_long("probe", "--limit", optarg, 1, 1L << 40, &po.limit))
				return 2;
			po.limit_set = true;
			break;
		case 'x':
			if (!cli_parse_long("probe", "--max-tokens", optarg, 1, 1 << 24, &po.max_tokens))
				return 2;
			break;
		case 'K':
			if (!cli_parse_long("probe", "--top-k", optarg, 1, STORE_LENS_MAX_K, &po.top_k))
				return 2;
			break;
		case 'r':
			if (!cli_parse_long("probe", "--run", optarg, 1, INT64_MAX, &po.run))
				return 2;
			break;
		case 'f':
			if (strcmp(optarg, "table") == 0)
				po.fmt = OUT_TABLE;
			else if (strcmp(optarg, "csv") == 0)
				po.fmt = OUT_CSV;
			else if (strcmp(optarg, "json") == 0)
				po.fmt = OUT_JSON;
			else
				return cli_usage_error("probe", "--format is table, csv or json, not '%s'",
				                       optarg);
			break;
		case 'h': fputs(probe_help, stdout); return 0;
		default:
			return cli_usage_error("probe", "unknown or incomplete option '%s'",
			                       argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error("probe", "unexpected argument '%s'", argv[optind]);
	if (!po.db)
		return cli_usage_error("probe", "--db is required");
	int rc;
	if (strcmp(which, "induction") == 0) {
		if (!po.model)
			return cli_usage_error("probe", "induction: --model is required");
		rc = probe_induction(&po);
	} else if (strcmp(which, "ablate") == 0) {
		if (!po.model || !po.data)
			return cli_usage_error("probe", "ablate: --model and --data are required");
		rc = probe_ablate(&po);
	} else {
		if (po.model && !po.text)
			return cli_usage_error("probe", "logit-lens: --text is required with --model");
		if (!po.model && po.text)
			return cli_usage_error("probe", "logit-lens: --text needs --model");
		rc = probe_logit_lens(&po);
	}
	return rc ? cli_fail(rc) : 0;
}

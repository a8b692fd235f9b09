/*
 * bench_record.c — how fast attnscope records, measured side by side.
 *
 * Builds random-weight llama2.c models itself (15M: dim 288, hidden 768,
 * 6 layers, 6 heads; 110M: dim 768, hidden 2048, 12 layers, 12 heads; both
 * vocab 32000) and reports, at each sequence length, tokens/s for
 *   (a) the forward pass alone (logits included),
 *   (b) the forward pass with every attention map captured into memory,
 *   (c) `record` end to end into SQLite with the default encoding,
 * the GFLOP/s of (a) against the sgemm peak measured in the same run, the
 * peak RSS of each mode (each runs in a child process), and the database
 * bytes per attention value. With --torch, a PyTorch eager reference
 * (tests/bench/torch_llama2c.py under python3 with torch) runs on the same
 * model file in the same run. Figures are medians of interleaved rounds.
 *
 * usage: bench_record [--config 15m|110m|all] [--tokens 128,256,512]
 *                     [--rounds N] [--samples N] [--torch SCRIPT] [--dir DIR]
 */
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "capture/capture.h"
#include "model/model.h"
#include "record/record.h"
#include "util/util.h"

char *openblas_get_corename(void);
int openblas_get_parallel(void);

struct cfg {
	const char *name;
	int dim, hidden, layers, heads, vocab;
};

static const struct cfg configs[] = {
	{ "15m", 288, 768, 6, 6, 32000 },
	{ "110m", 768, 2048, 12, 12, 32000 },
};

/* ---- model and data ------------------------------------------------------ */

static uint64_t rng = 88172645463325252ULL;

static float
frand(float scale)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return scale * ((float)(rng >> 40) / 16777216.0f - 0.5f) * 2.0f;
}

static int
write_model(const char *dir, const struct cfg *c, char *path, size_t n)
{
	snprintf(path, n, "%s/bench-%s.bin", dir, c->name);
	struct stat st;
	if (stat(path, &st) == 0)
		return 0;
	struct model_config mc = {
		.d_model = c->dim, .d_ff = c->hidden, .n_layer = c->layers, .n_head = c->heads,
		.n_kv_head = c->heads, .vocab_size = c->vocab, .n_ctx = 1024,
		.shared_classifier = true,
	};
	mc.d_head = c->dim / c->heads;
	size_t nw = model_llama2c_n_weights(&mc);
	float *w = malloc(nw * sizeof *w);
	if (!w)
		return ERR_NOMEM;
	/* scales like a trained model's: attention neither uniform nor one-hot */
	float s = 1.0f / sqrtf((float)c->dim);
	for (size_t i = 0; i < nw; i++)
		w[i] = frand(2.0f * s);
	/* norm gains are 1 */
	size_t V = (size_t)c->vocab, D = (size_t)c->dim, L = (size_t)c->layers;
	for (size_t i = 0; i < L * D; i++)
		w[V * D + i] = 1.0f;
	int rc = model_llama2c_write(path, &mc, w);
	free(w);
	/* a tokenizer with as many pieces */
	char tp[600];
	snprintf(tp, sizeof tp, "%s/tokenizer.bin", dir);
	FILE *f = fopen(tp, "wb");
	int32_t mx = 16;
	fwrite(&mx, 4, 1, f);
	for (int i = 0; i < c->vocab; i++) {
		char piece[32];
		if (i >= 3 && i < 259)
			snprintf(piece, sizeof piece, "<0x%02X>", i - 3);
		else
			snprintf(piece, sizeof piece, i == 1 ? "\n<s>\n" : i == 2 ? "\n</s>\n" : " t%d", i);
		float score = (float)-i;
		int32_t len = (int32_t)strlen(piece);
		fwrite(&score, 4, 1, f);
		fwrite(&len, 4, 1, f);
		fwrite(piece, 1, (size_t)len, f);
	}
	fclose(f);
	return rc;
}

/* ---- capture into memory ---------------------------------------------------- */

struct mem_sink {
	struct cap_sink sink;
	float *buf;   /* [L, H, T, T] */
	size_t per;   /* H·T·T */
};

static bool
mem_want(struct cap_sink *s, enum cap_point p, int layer)
{
	(void)s;
	(void)layer;
	return p == CAP_ATTN_PATTERN;
}

static int
mem_emit(struct cap_sink *s, const struct cap_tensor *t)
{
	struct mem_sink *m = cap_container_of(s, struct mem_sink, sink);
	memcpy(m->buf + (size_t)t->layer * m->per, t->data, m->per * sizeof(float));
	return 0;
}

static const struct cap_sink_ops mem_ops = { .want = mem_want, .emit = mem_emit };

/* ---- measurements (each in a child: result and peak RSS come back) -------- */

enum mode { MODE_FORWARD, MODE_CAPTURE, MODE_RECORD, MODE_COUNT };
static const char *const mode_names[] = { "forward", "forward+capture", "record" };

struct result {
	double tps;
	long rss_kb;
	double bytes_per_value; /* record: db bytes / (L·H·T²) */
	double bytes_per_tri;   /* record: db bytes / (L·H·T(T+1)/2) */
};

static void
run_child(enum mode mode, const char *model_path, const char *dir, const struct cfg *c,
          int T, int samples, int fd)
{
	struct result r = { 0 };
	int err;
	struct model *m = model_open(model_path, &err);
	if (!m)
		_exit(2);
	int32_t *ids = malloc((size_t)T * sizeof *ids);
	for (int i = 0; i < T; i++)
		ids[i] = 3 + (int32_t)(rng = rng * 6364136223846793005ULL + 1, (rng >> 33) % (uint64_t)(c->vocab - 3));
	ids[0] = 1;
	if (mode == MODE_RECORD) {
		char data[600], db[600];
		snprintf(data, sizeof data, "%s/samples-%d.jsonl", dir, T);
		snprintf(db, sizeof db, "%s/bench-%s-%d.db", dir, c->name, T);
		FILE *f = fopen(data, "w");
		for (int s = 0; s < samples; s++) {
			fprintf(f, "{\"tokens\": [1");
			for (int i = 1; i < T; i++)
				fprintf(f, ", %d", 3 + (int)((ids[i] + s * 7919) % (c->vocab - 3)));
			fprintf(f, "]}\n");
		}
		fclose(f);
		for (const char *sfx = ""; sfx; sfx = !*sfx ? "-wal" : !strcmp(sfx, "-wal") ? "-shm" : NULL) {
			char p[700];
			snprintf(p, sizeof p, "%s%s", db, sfx);
			unlink(p);
		}
		model_close(m);
		m = NULL;
		char mp[600], tp[600];
		snprintf(mp, sizeof mp, "%s", model_path);
		snprintf(tp, sizeof tp, "%s/tokenizer.bin", dir);
		struct rec_options o = { .model_path = mp, .tokenizer_path = tp, .db_path = db,
		                         .data_path = data, .enc = REC_DEFAULT_ENC };
		struct rec_result res;
		if (rec_run(&o, &res) != 0) {
			fprintf(stderr, "record: %s\n", err_msg(-1));
			_exit(3);
		}
		/* steady state: the recording loop, not the one-time setup */
		r.tps = res.n_tokens / (res.seconds - res.setup_seconds);
		struct stat st;
		double vals = (double)samples * c->layers * c->heads * T * T;
		if (stat(db, &st) == 0) {
			r.bytes_per_value = st.st_size / vals;
			r.bytes_per_tri = st.st_size / (vals * (T + 1) / (2.0 * T));
		}
	} else {
		float *logits = malloc((size_t)T * c->vocab * sizeof *logits);
		struct mem_sink ms = { .sink = { &mem_ops }, .per = (size_t)c->heads * T * T };
		if (mode == MODE_CAPTURE)
			ms.buf = malloc((size_t)c->layers * ms.per * sizeof(float));
		model_forward(m, ids, T, mode == MODE_CAPTURE ? &ms.sink : NULL, logits); /* warm */
		double t0 = util_now();
		int reps = 0;
		do {
			model_forward(m, ids, T, mode == MODE_CAPTURE ? &ms.sink : NULL, logits);
			reps++;
		} while (util_now() - t0 < 1.0 || reps < 2);
		r.tps = (double)reps * T / (util_now() - t0);
		free(ms.buf);
		free(logits);
	}
	model_close(m);
	free(ids);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	r.rss_kb = ru.ru_maxrss;
	printf("RESULT %.6f %ld %.6f %.6f\n", r.tps, r.rss_kb, r.bytes_per_value,
	       r.bytes_per_tri);
	fflush(stdout);
	(void)fd;
	_exit(0);
}

/* Each measurement runs in a fresh process (this program re-executed with
 * --child): OpenMP's and OpenBLAS's thread pools do not survive fork(). */
static const char *self_exe;

static int
measure(enum mode mode, const char *model_path, const char *dir, const struct cfg *c, int T,
        int samples, struct result *r)
{
	char cmd[2048];
	snprintf(cmd, sizeof cmd, "'%s' --child %d '%s' '%s' %s %d %d", self_exe, (int)mode,
	         model_path, dir, c->name, T, samples);
	FILE *p = popen(cmd, "r");
	if (!p)
		return -1;
	char line[512];
	int ok = 0;
	while (fgets(line, sizeof line, p))
		if (sscanf(line, "RESULT %lf %ld %lf %lf", &r->tps, &r->rss_kb, &r->bytes_per_value,
		           &r->bytes_per_tri) == 4)
			ok = 1;
	return pclose(p) == 0 && ok ? 0 : -1;
}

/* A python3 that has torch: the one on PATH, else Debian's (python3-torch
 * installs for the system interpreter). */
static const char *
torch_python(void)
{
	static const char *const cands[] = { "python3", "/usr/bin/python3" };
	for (size_t i = 0; i < 2; i++) {
		char cmd[256];
		snprintf(cmd, sizeof cmd, "%s -c 'import torch' >/dev/null 2>&1", cands[i]);
		if (system(cmd) == 0)
			return cands[i];
	}
	return NULL;
}

static int
torch_tps(const char *script, const char *model_path, int T, int rounds, double *tps)
{
	char cmd[2048];
	const char *py = torch_python();
	if (!py)
		return -1;
	snprintf(cmd, sizeof cmd, "%s '%s' '%s' %d %d %d 2>&1", py, script, model_path, T,
	         rounds, omp_get_max_threads());
	FILE *p = popen(cmd, "r");
	if (!p)
		return -1;
	double v[64];
	int n = 0;
	char line[512];
	while (fgets(line, sizeof line, p))
		if (n < 64 && sscanf(line, "tokens_per_second %lf", &v[n]) == 1)
			n++;
	pclose(p);
	if (!n)
		return -1;
	for (int i = 1; i < n; i++) /* median */
		for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
			double t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	*tps = v[n / 2];
	return 0;
}

static double
sgemm_peak_here(void)
{
	const int N = 1024;
	float *a = malloc((size_t)N * N * 4), *b = malloc((size_t)N * N * 4),
	      *c = malloc((size_t)N * N * 4);
	for (size_t i = 0; i < (size_t)N * N; i++)
		a[i] = b[i] = frand(1.0f);
	double best = 0;
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, N, N, 1.0f, a, N, b, N,
	            0.0f, c, N); /* warm-up: thread start, page faults */
	for (int r = 0; r < 10; r++) {
		double t0 = util_now();
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, N, N, 1.0f, a, N, b, N,
		            0.0f, c, N);
		double g = 2.0 * N * N * N / (util_now() - t0) * 1e-9;
		if (g > best)
			best = g;
	}
	free(a);
	free(b);
	free(c);
	return best;
}

static double
sgemm_peak(void)
{
	char cmd[1024];
	double g = 0;
	snprintf(cmd, sizeof cmd, "'%s' --child-peak", self_exe);
	FILE *p = popen(cmd, "r");
	if (p) {
		if (fscanf(p, "PEAK %lf", &g) != 1)
			g = 0;
		pclose(p);
	}
	return g;
}

/* FLOPs of one forward pass: 2·params·T for the matmuls (classifier
 * included) plus the attention products 4·T²·D per layer */
static double
forward_flops(const struct cfg *c, int T)
{
	double D = c->dim, F = c->hidden, L = c->layers, V = c->vocab;
	double per_tok = 2.0 * (L * (4 * D * D + 3 * D * F) + V * D);
	return per_tok * T + L * 4.0 * (double)T * T * D;
}

static int
cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	const char *which = "all", *tokens = "128,256,512", *script = NULL;
	char dir[512] = "";
	int rounds = 3, samples = 8;
	self_exe = "/proc/self/exe";
	static char exe[1024];
	ssize_t n_exe = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n_exe > 0) {
		exe[n_exe] = '\0';
		self_exe = exe;
	}
	if (argc == 2 && !strcmp(argv[1], "--child-peak")) {
		printf("PEAK %f\n", sgemm_peak_here());
		return 0;
	}
	if (argc == 8 && !strcmp(argv[1], "--child")) {
		for (size_t ci = 0; ci < sizeof configs / sizeof configs[0]; ci++)
			if (!strcmp(configs[ci].name, argv[5]))
				run_child((enum mode)atoi(argv[2]), argv[3], argv[4], &configs[ci],
				          atoi(argv[6]), atoi(argv[7]), 1);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--config") && i + 1 < argc)
			which = argv[++i];
		else if (!strcmp(argv[i], "--tokens") && i + 1 < argc)
			tokens = argv[++i];
		else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--samples") && i + 1 < argc)
			samples = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--torch") && i + 1 < argc)
			script = argv[++i];
		else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
			snprintf(dir, sizeof dir, "%s", argv[++i]);
		else {
			fprintf(stderr, "usage: bench_record [--config 15m|110m|all] [--tokens LIST] "
			        "[--rounds N] [--samples N] [--torch SCRIPT] [--dir DIR]\n");
			return 2;
		}
	}
	if (rounds < 1 || rounds > 50 || samples < 1)
		return 2;
	if (!*dir) {
		snprintf(dir, sizeof dir, "/tmp/attnscope-bench");
	}
	mkdir(dir, 0777);
	/* every side runs under the environment `attnscope` itself uses */
	if (!getenv("OMP_WAIT_POLICY"))
		setenv("OMP_WAIT_POLICY", "passive", 1);
	const char *ct = getenv("OPENBLAS_CORETYPE");
	printf("# OpenBLAS core %s (%s threading), OPENBLAS_CORETYPE=%s, OMP_WAIT_POLICY=%s, "
	       "%d threads\n", openblas_get_corename(),
	       openblas_get_parallel() == 2 ? "OpenMP" : openblas_get_parallel() == 1 ? "pthreads" : "no",
	       ct ? ct : "(unset)", getenv("OMP_WAIT_POLICY"), omp_get_max_threads());
	double peak = sgemm_peak();
	printf("# sgemm peak (1024^3, same threads): %.1f GFLOP/s\n", peak);
	printf("%-5s %5s %-16s %12s %8s %9s %9s %10s\n", "model", "T", "mode", "tokens/s",
	       "GFLOP/s", "of peak", "RSS MiB", "B/value");
	for (size_t ci = 0; ci < sizeof configs / sizeof configs[0]; ci++) {
		const struct cfg *c = &configs[ci];
		if (strcmp(which, "all") && strcmp(which, c->name))
			continue;
		char model_path[600];
		if (write_model(dir, c, model_path, sizeof model_path) != 0) { /* no OpenMP in here */
			fprintf(stderr, "cannot write the %s model: %s\n", c->name, err_msg(-1));
			return 1;
		}
		char list[256];
		snprintf(list, sizeof list, "%s", tokens);
		for (char *sv = NULL, *tk = strtok_r(list, ",", &sv); tk; tk = strtok_r(NULL, ",", &sv)) {
			int T = atoi(tk);
			double v[MODE_COUNT + 1][50];
			struct result last[MODE_COUNT];
			int nt = 0;
			for (int r = 0; r < rounds; r++) { /* interleaved */
				for (int md = 0; md < MODE_COUNT; md++) {
					if (measure((enum mode)md, model_path, dir, c, T, samples, &last[md]) != 0) {
						fprintf(stderr, "%s failed\n", mode_names[md]);
						return 1;
					}
					v[md][r] = last[md].tps;
				}
				if (script && torch_tps(script, model_path, T, 1, &v[MODE_COUNT][nt]) == 0)
					nt++;
			}
			double med[MODE_COUNT + 1];
			for (int md = 0; md < MODE_COUNT; md++) {
				qsort(v[md], (size_t)rounds, sizeof(double), cmp_d);
				med[md] = v[md][rounds / 2];
				double gf = forward_flops(c, T) / T * med[md] * 1e-9;
				printf("%-5s %5d %-16s %12.0f %8.1f %8.0f%% %9.0f", c->name, T, mode_names[md],
				       med[md], gf, 100 * gf / peak, last[md].rss_kb / 1024.0);
				if (md == MODE_RECORD)
					printf(" %10.3f (%.3f per stored lower-triangle value)",
					       last[md].bytes_per_value, last[md].bytes_per_tri);
				printf("\n");
			}
			printf("%-5s %5d %-16s storing costs %.1f%% over capturing in memory\n", c->name,
			       T, "", 100 * (med[MODE_CAPTURE] / med[MODE_RECORD] - 1));
			if (nt) {
				qsort(v[MODE_COUNT], (size_t)nt, sizeof(double), cmp_d);
				med[MODE_COUNT] = v[MODE_COUNT][nt / 2];
				printf("%-5s %5d %-16s %12.0f   record / torch = %.2fx\n", c->name, T,
				       "torch eager", med[MODE_COUNT], med[MODE_RECORD] / med[MODE_COUNT]);
			}
			fflush(stdout);
		}
	}
	return 0;
}

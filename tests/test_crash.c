/*
 * test_crash.c — crash-safe recording with the real `attnscope` binary
 * (ATTNSCOPE_BIN): `record` killed with SIGKILL at random moments, then
 * checked (integrity, complete samples only) and resumed until the run is
 * whole; a full disk (RLIMIT_FSIZE); and readers (ls, export, the viewer's
 * --screenshot) running against the database while `record` writes it.
 *
 * The model is a small llama2.c checkpoint written with
 * model_llama2c_write(), with a generated tokenizer.bin; nothing is read
 * from ../shared. TAP output through cmocka; "#" lines report the figures.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers/npz.h"
#include "model/model.h"

/* the model: L layers x H heads; the recorder stores 6 statistics a head */
enum { D = 64, F = 128, L = 2, H = 4, V = 512, CTX = 512, N_STATS = 6 };
enum { N_SAMPLES = 30, MIN_TRIALS = 50 };

static char tmp[256];
static const char *bin;
static char view_bin[4096];
static char model_path[512], tok_path[512], data_path[512], big_data_path[512];

/* ==== processes ======================================================== */

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct spawn_opts {
	rlim_t fsize;        /* RLIMIT_FSIZE in bytes, 0 = none      */
	const char *out, *err; /* file names in tmp, NULL = /dev/null */
};

/* fork + exec argv (argv[0] is the program path); stdout/stderr to files */
static pid_t
spawn(const struct spawn_opts *o, char *const argv[])
{
	char out[512], err[512];
	snprintf(out, sizeof out, "%s/%s", tmp, o && o->out ? o->out : "/dev/null");
	snprintf(err, sizeof err, "%s/%s", tmp, o && o->err ? o->err : "/dev/null");
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	int fo = open(o && o->out ? out : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	int fe = open(o && o->err ? err : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	int fi = open("/dev/null", O_RDONLY);
	if (fo < 0 || fe < 0 || fi < 0)
		_exit(126);
	dup2(fi, 0);
	dup2(fo, 1);
	dup2(fe, 2);
	if (chdir(tmp) != 0)
		_exit(126);
	if (o && o->fsize) {
		struct rlimit rl = { o->fsize, o->fsize };
		signal(SIGXFSZ, SIG_IGN); /* a write past the limit fails with EFBIG */
		if (setrlimit(RLIMIT_FSIZE, &rl) != 0)
			_exit(126);
	}
	execv(argv[0], argv);
	_exit(127);
}

/* Wait at most `timeout` seconds (then SIGKILL); the wait status. */
static int
wait_for(pid_t pid, double timeout, struct rusage *ru)
{
	double t_end = now() + timeout;
	int st = 0;
	struct rusage dummy;
	for (;;) {
		pid_t r = wait4(pid, &st, WNOHANG, ru ? ru : &dummy);
		if (r == pid)
			return st;
		if (r < 0 && errno != EINTR)
			return -1;
		if (now() > t_end) {
			kill(pid, SIGKILL);
			wait4(pid, &st, 0, ru ? ru : &dummy);
			fail_msg("'%s' did not finish within %.0f s", bin, timeout);
		}
		usleep(2000);
	}
}

/* exit code, or 128 + signal */
static int
code_of(int st)
{
	return WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : -1;
}

static char *
slurp(const char *name)
{
	static char buf[4][1 << 16];
	static int k;
	char p[512];
	k = (k + 1) % 4;
	snprintf(p, sizeof p, "%s/%s", tmp, name);
	FILE *f = fopen(p, "rb");
	size_t n = f ? fread(buf[k], 1, sizeof buf[k] - 1, f) : 0;
	buf[k][n] = '\0';
	if (f)
		fclose(f);
	return buf[k];
}

/* A whole file, malloc'd (free it); NULL if it cannot be read. */
static char *
slurp_all(const char *name)
{
	char p[512];
	snprintf(p, sizeof p, "%s/%s", tmp, name);
	FILE *f = fopen(p, "rb");
	if (!f)
		return NULL;
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	for (size_t got; buf && (got = fread(buf + n, 1, cap - 1 - n, f)) > 0;) {
		n += got;
		if (n == cap - 1) {
			char *q = realloc(buf, cap *= 2);
			if (!q)
				free(buf);
			buf = q;
		}
	}
	fclose(f);
	if (buf)
		buf[n] = '\0';
	return buf;
}

/* argv for `attnscope record ...` over `data` into `db` */
static void
record_argv(char **argv, const char *data, const char *db, bool resume)
{
	int n = 0;
	argv[n++] = (char *)bin;
	argv[n++] = "record";
	argv[n++] = "--model";
	argv[n++] = model_path;
	argv[n++] = "--tokenizer";
	argv[n++] = tok_path;
	argv[n++] = "--data";
	argv[n++] = (char *)data;
	argv[n++] = "--db";
	argv[n++] = (char *)db;
	argv[n++] = "-q";
	if (resume)
		argv[n++] = "--resume";
	argv[n] = NULL;
}

/* Run a command to the end; returns the exit code (128 + signal). */
static int
run_argv(const struct spawn_opts *o, char *const argv[], double timeout)
{
	pid_t pid = spawn(o, argv);
	assert_true(pid > 0);
	return code_of(wait_for(pid, timeout, NULL));
}

/* stderr must hold no sanitizer report */
static void
assert_no_sanitizer(const char *err)
{
	if (strstr(err, "Sanitizer") || strstr(err, "runtime error"))
		fail_msg("sanitizer report:\n%s", err);
}

/* a command that must succeed: its stderr in the failure message */
static void
expect_ok(int code, const char *err_name)
{
	if (code != 0)
		fail_msg("exit %d: %s", code, err_name ? slurp(err_name) : "");
}

/* TAP diagnostics: every line of the message prefixed with "# " */
__attribute__((format(printf, 1, 2))) static void
diag(const char *fmt, ...)
{
	char buf[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	for (char *line = buf, *nl; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (!nl) {
			printf("# %s\n", line);
			break;
		}
		printf("# %.*s\n", (int)(nl - line), line);
	}
	fflush(stdout);
}

/* ==== inputs ============================================================ */

static uint64_t rng_state = 88172645463325252ull;

static uint64_t
rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static float
frand(float scale)
{
	return ((float)(rnd() >> 40) / (float)(1 << 24) * 2 - 1) * scale;
}

static const char *const words[] = {
	"the", "a", "once", "upon", "time", "there", "was", "little", "girl", "named",
	"lily", "she", "liked", "to", "play", "with", "her", "red", "ball", "in",
	"park", "one", "day", "saw", "big", "dog", "and", "ran", "home", "happy",
};
enum { N_WORDS = sizeof words / sizeof words[0] };

/* llama2.c tokenizer.bin with exactly V records: <unk>, BOS, EOS, the 256
 * byte pieces, printable ASCII, then " word" / "word" pieces and filler */
static void
write_tokenizer(const char *path)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	int32_t max_len = 16;
	fwrite(&max_len, 4, 1, f);
	int n = 0;
	char piece[32];
#define PUT(s, score)                                                            \
	do {                                                                         \
		float sc_ = (score);                                                     \
		int32_t len_ = (int32_t)strlen(s);                                       \
		fwrite(&sc_, 4, 1, f);                                                   \
		fwrite(&len_, 4, 1, f);                                                  \
		fwrite((s), 1, (size_t)len_, f);                                         \
		n++;                                                                     \
	} while (0)
	PUT("<unk>", 0);
	PUT("\n<s>\n", 0);
	PUT("\n</s>\n", 0);
	for (int i = 0; i < 256; i++) {
		snprintf(piece, sizeof piece, "<0x%02X>", i);
		PUT(piece, 0);
	}
	for (int c = ' '; c < 127; c++) {
		piece[0] = (char)c;
		piece[1] = '\0';
		PUT(piece, -1);
	}
	/* every prefix of " word" (the encoder merges pairs into pieces, so
	 * a word needs all of them), longer ones scored higher */
	char seen[160][32];
	int n_seen = 0;
	for (int i = 0; i < N_WORDS; i++) {
		char w[16];
		snprintf(w, sizeof w, " %s", words[i]);
		for (size_t k = 2; k <= strlen(w); k++) {
			snprintf(piece, sizeof piece, "%.*s", (int)k, w);
			bool dup = false;
			for (int j = 0; j < n_seen; j++)
				dup |= strcmp(seen[j], piece) == 0;
			if (dup || n_seen == 160)
				continue;
			snprintf(seen[n_seen++], sizeof seen[0], "%s", piece);
			PUT(piece, (float)k);
		}
	}
	for (int i = 0; n < V; i++) {
		snprintf(piece, sizeof piece, "~%d~", i);
		PUT(piece, -100);
	}
#undef PUT
	assert_int_equal(fclose(f), 0);
}

static void
write_model(const char *path, int n_ctx)
{
	struct model_config c = {
		.arch = MODEL_ARCH_LLAMA, .d_model = D, .d_ff = F, .n_layer = L, .n_head = H,
		.n_kv_head = H, .d_head = D / H, .vocab_size = V, .n_ctx = n_ctx,
		.shared_classifier = true,
	};
	/* d_head must be set: model_llama2c_n_weights() does not derive it
	 * (model_llama2c_write() does), and without it the count is short */
	size_t n = model_llama2c_n_weights(&c);
	float *w = malloc(n * sizeof *w);
	assert_non_null(w);
	for (size_t i = 0; i < n; i++)
		w[i] = frand(0.2f);
	assert_int_equal(model_llama2c_write(path, &c, w), 0);
	free(w);
}

/* n samples of `words_per` random words, one per line */
static void
write_dataset(const char *path, int n, int words_per)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	for (int s = 0; s < n; s++) {
		int k = words_per / 2 + (int)(rnd() % (uint64_t)words_per);
		for (int i = 0; i < k; i++)
			fprintf(f, "%s%s", i ? " " : "", words[rnd() % N_WORDS]);
		fputc('\n', f);
	}
	assert_int_equal(fclose(f), 0);
}

static int
setup(void **state)
{
	(void)state;
	bin = getenv("ATTNSCOPE_BIN");
	if (!bin || access(bin, X_OK) != 0)
		return -1;
	/* the viewer sits in viewer/ of the same build directory */
	const char *vb = getenv("ATTNSCOPE_VIEW_BIN");
	if (vb)
		snprintf(view_bin, sizeof view_bin, "%s", vb);
	else {
		char b[4096];
		snprintf(b, sizeof b, "%s", bin);
		snprintf(view_bin, sizeof view_bin, "%s/viewer/attnscope-view", dirname(b));
	}
	if (access(view_bin, X_OK) != 0)
		view_bin[0] = '\0';
	snprintf(tmp, sizeof tmp, "/tmp/attnscope-test-crash-XXXXXX");
	if (!mkdtemp(tmp))
		return -1;
	snprintf(model_path, sizeof model_path, "%s/model.bin", tmp);
	snprintf(tok_path, sizeof tok_path, "%s/tok.bin", tmp);
	snprintf(data_path, sizeof data_path, "%s/data.txt", tmp);
	snprintf(big_data_path, sizeof big_data_path, "%s/big.txt", tmp);
	write_model(model_path, CTX);
	write_tokenizer(tok_path);
	/* ~150 and ~200 tokens a sample: a run lasts long enough for the kills
	 * and the readers to land in the middle of it */
	write_dataset(data_path, N_SAMPLES, 150);
	write_dataset(big_data_path, 200, 200);
	/* OpenMP threads that spin while waiting make a loaded machine crawl */
	setenv("OMP_WAIT_POLICY", "passive", 0);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	char cmd[512];
	if (getenv("ATTNSCOPE_TEST_KEEP")) /* debugging: leave the files */
		return 0;
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
	return system(cmd) == 0 ? 0 : -1;
}

/* ==== database checks ==================================================== */

struct db_state {
	int n_runs;
	char status[16];
	int64_t n_total;
	int n_samples;
};

static int64_t
q_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	int64_t v = -1;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/*
 * The invariants of a recording that may have been cut short at any
 * moment: integrity_check ok; at most one run; samples are exactly
 * 0..n-1; every sample has all its tokens (positions 0..T-1), L x H
 * attention maps of T x T with blobs of the right size (f16, f32: exact;
 * f16 + zstd: a zstd frame), and L x H x 6 statistics; nothing hangs off a sample that is not there.
 * Returns false (with a message in why) when a check fails.
 */
static bool
check_db(const char *path, struct db_state *out, char *why, size_t why_size)
{
	memset(out, 0, sizeof *out);
	if (access(path, F_OK) != 0)
		return true; /* killed before the file was created */
	sqlite3 *db;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		snprintf(why, why_size, "open: %s", sqlite3_errmsg(db));
		sqlite3_close(db);
		return false;
	}
	sqlite3_busy_timeout(db, 5000);
	bool ok = false;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW ||
	    strcmp((const char *)sqlite3_column_text(st, 0), "ok") != 0) {
		snprintf(why, why_size, "integrity_check: %s",
		         st ? (const char *)sqlite3_column_text(st, 0) : sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (q_int(db, "SELECT count(*) FROM sqlite_schema WHERE name = 'runs'") != 1) {
		ok = true; /* killed while the schema was being created: rolled back */
		goto out;
	}
	out->n_runs = (int)q_int(db, "SELECT count(*) FROM runs");
	if (out->n_runs > 1) {
		snprintf(why, why_size, "%d runs (one expected)", out->n_runs);
		goto out;
	}
	if (out->n_runs == 1) {
		sqlite3_prepare_v2(db, "SELECT status, n_total FROM runs", -1, &st, NULL);
		sqlite3_step(st);
		snprintf(out->status, sizeof out->status, "%s", sqlite3_column_text(st, 0));
		out->n_total = sqlite3_column_int64(st, 1);
		sqlite3_finalize(st);
		st = NULL;
	}
	static const char per_sample[] =
		"SELECT s.idx, s.n_tok, s.loss IS NOT NULL,"
		" (SELECT count(*) FROM tokens t WHERE t.sample_id = s.id),"
		" (SELECT count(DISTINCT pos) FROM tokens t WHERE t.sample_id = s.id"
		"    AND pos BETWEEN 0 AND s.n_tok - 1),"
		" (SELECT count(*) FROM attention a WHERE a.sample_id = s.id),"
		" (SELECT count(*) FROM attention a WHERE a.sample_id = s.id AND kind = 'self'"
		"    AND n_q = s.n_tok AND n_k = s.n_tok AND layout = 'tri'"
		"    AND ((dtype = 'f16' AND codec = 'none' AND length(data) = s.n_tok * (s.n_tok + 1))"
		"      OR (dtype = 'f32' AND codec = 'none'"
		"          AND length(data) = 2 * s.n_tok * (s.n_tok + 1))"
		"      OR (dtype = 'f16' AND codec = 'zstd' AND substr(data, 1, 4) = x'28b52ffd'))"
		"    AND layer BETWEEN 0 AND ?1 - 1 AND head BETWEEN 0 AND ?2 - 1),"
		" (SELECT count(DISTINCT layer * 4096 + head) FROM attention a"
		"    WHERE a.sample_id = s.id),"
		" (SELECT count(*) FROM head_stats h WHERE h.sample_id = s.id)"
		" FROM samples s ORDER BY s.idx";
	if (sqlite3_prepare_v2(db, per_sample, -1, &st, NULL) != SQLITE_OK) {
		snprintf(why, why_size, "%s", sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_bind_int(st, 1, L);
	sqlite3_bind_int(st, 2, H);
	int i = 0, rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t idx = sqlite3_column_int64(st, 0), T = sqlite3_column_int64(st, 1);
		int64_t tok = sqlite3_column_int64(st, 3), pos = sqlite3_column_int64(st, 4);
		int64_t att = sqlite3_column_int64(st, 5), good = sqlite3_column_int64(st, 6);
		int64_t heads = sqlite3_column_int64(st, 7), stats = sqlite3_column_int64(st, 8);
		if (idx != i || T < 1 || tok != T || pos != T || att != L * H || good != L * H ||
		    heads != L * H || stats != L * H * N_STATS ||
		    (T >= 2 && !sqlite3_column_int(st, 2))) {
			snprintf(why, why_size, "sample row %d: idx %lld, n_tok %lld, tokens %lld "
			         "(positions %lld), maps %lld (%lld well-formed, %lld heads), "
			         "stats %lld, loss %s", i, (long long)idx, (long long)T,
			         (long long)tok, (long long)pos, (long long)att, (long long)good,
			         (long long)heads, (long long)stats,
			         sqlite3_column_int(st, 2) ? "set" : "NULL");
			goto out;
		}
		i++;
	}
	if (rc != SQLITE_DONE) {
		snprintf(why, why_size, "reading samples: %s", sqlite3_errmsg(db));
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	out->n_samples = i;
	static const char *const orphans[] = {
		"SELECT count(*) FROM tokens WHERE sample_id NOT IN (SELECT id FROM samples)",
		"SELECT count(*) FROM attention WHERE sample_id NOT IN (SELECT id FROM samples)",
		"SELECT count(*) FROM head_stats WHERE sample_id NOT IN (SELECT id FROM samples)",
		"SELECT count(*) FROM activations WHERE sample_id NOT IN (SELECT id FROM samples)",
		"SELECT count(*) FROM samples WHERE run_id NOT IN (SELECT id FROM runs)",
	};
	for (size_t k = 0; k < sizeof orphans / sizeof orphans[0]; k++) {
		int64_t n = q_int(db, orphans[k]);
		if (n != 0) {
			snprintf(why, why_size, "%lld rows of a partial sample: %s", (long long)n,
			         orphans[k]);
			goto out;
		}
	}
	ok = true;
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return ok;
}

static void
rm_db(const char *db)
{
	static const char *const sfx[] = { "", "-wal", "-shm", "-journal" };
	for (int i = 0; i < 4; i++) {
		char p[600];
		snprintf(p, sizeof p, "%s/%s%s", tmp, db, sfx[i]);
		unlink(p);
	}
}

#define CHECK_DB(path, st)                                                    \
	do {                                                                      \
		char why_[512];                                                       \
		if (!check_db((path), (st), why_, sizeof why_))                       \
			fail_msg("%s: %s", (path), why_);                                 \
	} while (0)

/* ==== kill -9 at random moments ========================================== */

static void
test_kill_and_resume(void **state)
{
	(void)state;
	char *argv[16], why[512];
	char dbp[512];
	struct db_state ds;

	/* how long a whole run takes: the window the kills are spread over */
	rm_db("full.db");
	record_argv(argv, data_path, "full.db", false);
	struct spawn_opts so = { .err = "rec.err" };
	double t0 = now();
	expect_ok(run_argv(&so, argv, 120), "rec.err");
	double t_full = now() - t0;
	snprintf(dbp, sizeof dbp, "%s/full.db", tmp);
	CHECK_DB(dbp, &ds);
	assert_int_equal(ds.n_samples, N_SAMPLES);
	assert_string_equal(ds.status, "done");
	diag("a whole run of %d samples takes %.2f s\n", N_SAMPLES, t_full);

	/* chains: record, kill, check, record --resume, kill, check, ... until
	 * a resumed run finishes; then check the whole run and start over */
	uint64_t seed = (uint64_t)time(NULL) ^ (uint64_t)getpid();
	rng_state = seed | 1;
	diag("kill seed %llu\n", (unsigned long long)seed);
	int trials = 0, kills = 0, chains = 0, completed_by_resume = 0, runs_killed_mid = 0;
	bool fresh = true;
	t0 = now();
	while (kills < MIN_TRIALS || !fresh) {
		if (fresh) {
			rm_db("kill.db");
			chains++;
		}
		record_argv(argv, data_path, "kill.db", !fresh);
		double delay = (double)(rnd() % 1000000) / 1e6 * t_full * 1.1;
		pid_t pid = spawn(&so, argv);
		assert_true(pid > 0);
		struct timespec ts = { (time_t)delay, (long)((delay - (time_t)delay) * 1e9) };
		nanosleep(&ts, NULL);
		int st = 0;
		bool finished = waitpid(pid, &st, WNOHANG) == pid;
		if (finished) {
			/* it ended before the kill: it must have succeeded */
			if (code_of(st) != 0)
				fail_msg("record exited %d: %s", code_of(st), slurp("rec.err"));
		} else {
			kill(pid, SIGKILL);
			wait_for(pid, 60, NULL);
			kills++;
		}
		trials++;
		snprintf(dbp, sizeof dbp, "%s/kill.db", tmp);
		if (!check_db(dbp, &ds, why, sizeof why))
			fail_msg("trial %d (killed after %.3f s): %s", trials, delay, why);
		if (ds.n_samples > 0 && ds.n_samples < N_SAMPLES)
			runs_killed_mid++;
		bool done = ds.n_runs == 1 && strcmp(ds.status, "done") == 0;
		if (done) {
			assert_int_equal(ds.n_samples, N_SAMPLES);
			assert_int_equal(ds.n_total, N_SAMPLES);
			if (!fresh)
				completed_by_resume++;
			fresh = true;
		} else {
			fresh = false;
		}
		if (kills >= MIN_TRIALS && !fresh) {
			/* finish the chain without a kill */
			record_argv(argv, data_path, "kill.db", true);
			expect_ok(run_argv(&so, argv, 120), "rec.err");
			assert_no_sanitizer(slurp("rec.err"));
			CHECK_DB(dbp, &ds);
			assert_int_equal(ds.n_runs, 1);
			assert_string_equal(ds.status, "done");
			assert_int_equal(ds.n_samples, N_SAMPLES);
			completed_by_resume++;
			fresh = true;
		}
	}
	diag("%d trials, %d of them killed by SIGKILL, in %d chains (%.1f s): %d left a "
	     "partial run, %d runs finished by --resume, every check passed\n", trials,
	     kills, chains, now() - t0, runs_killed_mid, completed_by_resume);
	assert_true(kills >= MIN_TRIALS);
	/* the kills must have landed mid-run, not only before or after it */
	assert_true(runs_killed_mid > 0);
}

/* ==== a full disk ============================================================ */

static void
test_full_disk(void **state)
{
	(void)state;
	char *argv[16], why[512], dbp[512];
	struct db_state ds;
	struct stat sb;
	/* the smallest database: the schema and one tiny sample */
	rm_db("base.db");
	char *base[] = { (char *)bin, "record", "--model", model_path, "--tokenizer", tok_path,
	                 "--text", "once upon a time", "--db", "base.db", "-q", NULL };
	struct spawn_opts so = { .err = "disk.err" };
	expect_ok(run_argv(&so, base, 120), "disk.err");
	snprintf(dbp, sizeof dbp, "%s/base.db", tmp);
	assert_int_equal(stat(dbp, &sb), 0);
	/* RLIMIT_FSIZE from half of that up, doubling, until a run fits: every
	 * failure must be one line, leave an intact database and resume */
	int partial = 0, failed = 0;
	snprintf(dbp, sizeof dbp, "%s/disk.db", tmp);
	for (rlim_t lim = (rlim_t)sb.st_size / 2;; lim *= 2) {
		if (failed > 16)
			fail_msg("record still fails with RLIMIT_FSIZE %llu", (unsigned long long)lim);
		rm_db("disk.db");
		record_argv(argv, data_path, "disk.db", false);
		struct spawn_opts lo = { .fsize = lim, .err = "disk.err" };
		int code = run_argv(&lo, argv, 120);
		const char *err = slurp("disk.err");
		assert_no_sanitizer(err);
		if (code == 0) {
			CHECK_DB(dbp, &ds);
			diag("RLIMIT_FSIZE %llu bytes: the whole run fits (%d samples)",
			     (unsigned long long)lim, ds.n_samples);
			break;
		}
		failed++;
		size_t n = strlen(err);
		if (code != 1 || n == 0 || err[n - 1] != '\n' || strchr(err, '\n') != err + n - 1 ||
		    strncmp(err, "attnscope: ", 11) != 0)
			fail_msg("RLIMIT_FSIZE %llu: exit %d, expected 1 and one 'attnscope: ...' "
			         "line, got: [%s]", (unsigned long long)lim, code, err);
		if (!check_db(dbp, &ds, why, sizeof why))
			fail_msg("after the full disk (RLIMIT_FSIZE %llu): %s",
			         (unsigned long long)lim, why);
		diag("RLIMIT_FSIZE %llu bytes: exit %d, %d complete samples left, run '%s': %s",
		     (unsigned long long)lim, code, ds.n_samples, ds.n_runs ? ds.status : "(none)",
		     err);
		if (ds.n_samples > 0)
			partial++;
		/* space again: the same command with --resume finishes the run */
		record_argv(argv, data_path, "disk.db", true);
		expect_ok(run_argv(&so, argv, 120), "disk.err");
		assert_no_sanitizer(slurp("disk.err"));
		CHECK_DB(dbp, &ds);
		assert_int_equal(ds.n_runs, 1);
		assert_string_equal(ds.status, "done");
		assert_int_equal(ds.n_samples, N_SAMPLES);
	}
	assert_true(failed > 0);
	assert_true(partial > 0); /* the disk filled up in the middle of a run */
}

/* ==== readers while record writes ============================================ */

/* Every row of a json export's attention matrix sums to 1 (a complete map). */
static bool
rows_sum_to_one(const char *json, int *n_rows)
{
	const char *p = strstr(json, "\"attention\"");
	*n_rows = 0;
	if (!p || !(p = strchr(p, '[')))
		return false;
	p++;
	while ((p = strchr(p, '['))) {
		double sum = 0;
		char *end;
		p++;
		for (;;) {
			sum += strtod(p, &end);
			if (end == p)
				return false;
			p = end;
			while (*p == ' ')
				p++;
			if (*p == ']')
				break;
			if (*p != ',')
				return false;
			p++;
		}
		if (fabs(sum - 1.0) > 1e-2)
			return false;
		(*n_rows)++;
		p++;
	}
	return *n_rows > 0;
}

static bool
busy_or_locked(const char *err)
{
	return strstr(err, "busy") || strstr(err, "locked") || strstr(err, "BUSY") ||
	       strstr(err, "LOCKED");
}

static void
test_readers_during_writes(void **state)
{
	(void)state;
	char *argv[16], dbp[512];
	rm_db("live.db");
	snprintf(dbp, sizeof dbp, "%s/live.db", tmp);
	record_argv(argv, big_data_path, "live.db", false);
	struct spawn_opts so = { .err = "live.err" };
	pid_t writer = spawn(&so, argv);
	assert_true(writer > 0);
	int n_ls = 0, n_export = 0, n_npy = 0, n_view = 0, failures = 0;
	int max_seen = 0;
	double t0 = now();
	bool writer_done = false;
	int wst = 0;
	while (!writer_done && now() - t0 < 240) {
		writer_done = waitpid(writer, &wst, WNOHANG) == writer;
		/* ls samples: before the first commit the file or run may not exist */
		char *ls[] = { (char *)bin, "ls", "--db", dbp, "samples", NULL };
		struct spawn_opts ro = { .out = "r.out", .err = "r.err" };
		int code = run_argv(&ro, ls, 60);
		const char *err = slurp("r.err");
		assert_no_sanitizer(err);
		if (busy_or_locked(err))
			fail_msg("ls saw: %s", err);
		if (code != 0) {
			if (max_seen > 0) {
				failures++;
				diag("ls failed (%d) after %d samples: %s", code, max_seen, err);
			}
			usleep(20000);
			continue;
		}
		n_ls++;
		/* the listed samples are 0..n-1, each with its token count */
		const char *out = slurp("r.out");
		int n = 0, last_T = 0;
		for (const char *line = strchr(out, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
			int idx, T;
			if (sscanf(line + 1, "%d %d", &idx, &T) != 2 || idx != n)
				fail_msg("ls listed an unexpected line after %d samples: %s", n, line + 1);
			last_T = T;
			n++;
		}
		if (n < max_seen)
			fail_msg("ls listed %d samples after having listed %d", n, max_seen);
		max_seen = n;
		if (n == 0)
			continue;
		/* the newest listed sample: one head as JSON, complete rows */
		char sample[32];
		snprintf(sample, sizeof sample, "%d", n - 1);
		char *ex[] = { (char *)bin, "export", "--db", dbp, "--sample", sample, "--layer",
		               "1", "--head", "3", "--format", "json", "-o", "-", NULL };
		struct spawn_opts eo = { .out = "e.out", .err = "e.err" };
		code = run_argv(&eo, ex, 60);
		err = slurp("e.err");
		assert_no_sanitizer(err);
		if (busy_or_locked(err))
			fail_msg("export saw: %s", err);
		int rows = 0;
		char *json = slurp_all("e.out");
		if (code != 0 || !json || !rows_sum_to_one(json, &rows) || rows != last_T) {
			failures++;
			diag("export json of sample %d: exit %d, %d rows of %d: %s", n - 1, code,
			     rows, last_T, err);
		}
		free(json);
		n_export++;
		/* the whole sample as npy [L, H, T, T] */
		char *np[] = { (char *)bin, "export", "--db", dbp, "--sample", sample, "--format",
		               "npy", "-o", "all.npy", NULL };
		code = run_argv(&eo, np, 60);
		err = slurp("e.err");
		assert_no_sanitizer(err);
		if (busy_or_locked(err))
			fail_msg("export npy saw: %s", err);
		char p[600];
		snprintf(p, sizeof p, "%s/all.npy", tmp);
		struct npy_array a = { 0 };
		if (code != 0 || npy_read(p, &a) != 0 || a.ndim != 4 || a.shape[0] != L ||
		    a.shape[1] != H || a.shape[2] != last_T || a.shape[3] != last_T) {
			failures++;
			diag("export npy of sample %d: exit %d, %s", n - 1, code, err);
		}
		npy_array_release(&a);
		n_npy++;
		/* the viewer on the same file */
		if (view_bin[0] && n_view < 6) {
			char *vw[] = { view_bin, "--screenshot", "shot.png", "--timeout", "20",
			               "--view", "head", dbp, NULL };
			struct spawn_opts vo = { .err = "v.err" };
			code = run_argv(&vo, vw, 120);
			err = slurp("v.err");
			assert_no_sanitizer(err);
			if (code != 0 || busy_or_locked(err)) {
				failures++;
				diag("viewer: exit %d, %s", code, err);
			}
			n_view++;
		}
	}
	if (!writer_done) {
		kill(writer, SIGKILL);
		fail_msg("record did not finish");
	}
	expect_ok(code_of(wst), "live.err");
	CHECK_DB(dbp, &(struct db_state){ 0 });
	diag("while record wrote %d samples: %d ls, %d json exports, %d npy exports, "
	       "%d viewer screenshots%s; %d failures\n", 200, n_ls, n_export,
	       n_npy, n_view, view_bin[0] ? "" : " (viewer not built)", failures);
	assert_int_equal(failures, 0);
	assert_true(n_export > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill_and_resume),
		cmocka_unit_test(test_full_disk),
		cmocka_unit_test(test_readers_during_writes),
	};
	if (getenv("ATTNSCOPE_TEST_FILTER")) /* debugging: run only matching tests */
		cmocka_set_test_filter(getenv("ATTNSCOPE_TEST_FILTER"));
	return cmocka_run_group_tests(tests, setup, teardown);
}

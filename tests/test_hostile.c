/*
 * test_hostile.c — hostile inputs for the real binaries (ATTNSCOPE_BIN and
 * the viewer beside it, viewer/attnscope-view, when built):
 *
 *   - databases made hostile with sqlite3 from a valid recording (blobs
 *     whose size disagrees with their shape, NaN and infinite values,
 *     negative or huge dimensions, missing rows, wrong user_version, a file
 *     that is not SQLite, a truncated or empty file, ...). Every command
 *     (ls, info, export in every format and figure, analyze) and the
 *     viewer's --screenshot must either work or say what is wrong in one
 *     line with exit code 1 or 2; never a signal, never a sanitizer report.
 *     The whole matrix is printed as TAP diagnostics.
 *   - resource limits: model headers claiming absurd dimensions are refused
 *     before any allocation (run under a low RLIMIT_AS); a sample longer
 *     than the context is a clear error that leaves no run; record's peak
 *     RSS at 512 and 2,048 tokens.
 *
 * The model is a small llama2.c checkpoint written with
 * model_llama2c_write() and a generated tokenizer.bin (for the RSS figures
 * ../shared's stories260K tok512.bin when it is there, as the brief names
 * it; the generated one otherwise).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
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

#include "model/model.h"

enum { V = 512 };

static char tmp[256];
static const char *bin;
static char view_bin[4096];
static char tok_path[512];

/* ==== processes ======================================================== */

static double
now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
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

struct result {
	int code;             /* exit code, or 128 + signal */
	bool signaled;
	bool timed_out;       /* killed after the timeout (only when allowed) */
	long maxrss_kb;
	double seconds;
	char err[8192];       /* stderr (truncated) */
};

/* set while probing limits: a run that times out is a result, not a failure */
static bool timeout_ok;

/*
 * Run argv[0] with argv in tmp, stdout to /dev/null (or tmp/out.txt with
 * keep_out), stderr captured; RLIMIT_AS of as_limit bytes when not 0.
 * Killed after `timeout` seconds (a failure unless timeout_ok).
 */
static void
run_v(struct result *r, char *const argv[], rlim_t as_limit, bool keep_out, double timeout)
{
	char errp[512], outp[512];
	snprintf(errp, sizeof errp, "%s/err.txt", tmp);
	snprintf(outp, sizeof outp, "%s/out.txt", tmp);
	memset(r, 0, sizeof *r);
	double t0 = now();
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fo = open(keep_out ? outp : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int fe = open(errp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int fi = open("/dev/null", O_RDONLY);
		if (fo < 0 || fe < 0 || fi < 0 || chdir(tmp) != 0)
			_exit(126);
		dup2(fi, 0);
		dup2(fo, 1);
		dup2(fe, 2);
		if (as_limit) {
			struct rlimit rl = { as_limit, as_limit };
			if (setrlimit(RLIMIT_AS, &rl) != 0)
				_exit(126);
		}
		execv(argv[0], argv);
		_exit(127);
	}
	int st = 0;
	struct rusage ru;
	for (;;) {
		pid_t w = wait4(pid, &st, WNOHANG, &ru);
		if (w == pid)
			break;
		if (now() - t0 > timeout) {
			kill(pid, SIGKILL);
			wait4(pid, &st, 0, &ru);
			if (!timeout_ok)
				fail_msg("'%s %s' did not finish within %.0f s", argv[0], argv[1],
				         timeout);
			r->timed_out = true;
			break;
		}
		usleep(1000);
	}
	r->seconds = now() - t0;
	r->signaled = WIFSIGNALED(st);
	r->code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	r->maxrss_kb = ru.ru_maxrss;
	FILE *f = fopen(errp, "rb");
	size_t n = f ? fread(r->err, 1, sizeof r->err - 1, f) : 0;
	r->err[n] = '\0';
	if (f)
		fclose(f);
}

/* `attnscope ARGS...` (NULL-terminated) */
static void
run_cmd(struct result *r, ...)
{
	char *argv[40];
	int n = 0;
	argv[n++] = (char *)bin;
	va_list ap;
	va_start(ap, r);
	for (char *a; n < 39 && (a = va_arg(ap, char *));)
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	run_v(r, argv, 0, false, timeout_ok ? 30 : 120);
}

static bool
has_sanitizer_report(const char *err)
{
	return strstr(err, "Sanitizer") || strstr(err, "runtime error");
}

/* stderr is exactly one line starting with `prefix` */
static bool
one_line(const char *err, const char *prefix)
{
	size_t n = strlen(err);
	return n > 0 && err[n - 1] == '\n' && strchr(err, '\n') == err + n - 1 &&
	       strncmp(err, prefix, strlen(prefix)) == 0;
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

static const char *const words[] = {
	"the", "a", "once", "upon", "time", "there", "was", "little", "girl", "named",
	"lily", "she", "liked", "to", "play", "with", "her", "red", "ball", "in",
};
enum { N_WORDS = sizeof words / sizeof words[0] };

/* llama2.c tokenizer.bin with exactly V records: <unk>, BOS, EOS, the 256
 * byte pieces, printable ASCII, every prefix of " word", then filler */
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
	char seen[128][32];
	int n_seen = 0;
	for (int i = 0; i < N_WORDS; i++) {
		char w[16];
		snprintf(w, sizeof w, " %s", words[i]);
		for (size_t k = 2; k <= strlen(w); k++) {
			snprintf(piece, sizeof piece, "%.*s", (int)k, w);
			bool dup = false;
			for (int j = 0; j < n_seen; j++)
				dup |= strcmp(seen[j], piece) == 0;
			if (dup || n_seen == 128)
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
write_model(const char *path, int d, int ff, int layers, int heads, int n_ctx)
{
	struct model_config c = {
		.arch = MODEL_ARCH_LLAMA, .d_model = d, .d_ff = ff, .n_layer = layers,
		.n_head = heads, .n_kv_head = heads, .d_head = d / heads, .vocab_size = V,
		.n_ctx = n_ctx, .shared_classifier = true,
	};
	/* d_head must be set: model_llama2c_n_weights() does not derive it
	 * (model_llama2c_write() does), and without it the count is short */
	size_t n = model_llama2c_n_weights(&c);
	float *w = malloc(n * sizeof *w);
	assert_non_null(w);
	for (size_t i = 0; i < n; i++)
		w[i] = ((float)(rnd() >> 40) / (float)(1 << 24) * 2 - 1) * 0.2f;
	assert_int_equal(model_llama2c_write(path, &c, w), 0);
	free(w);
}

static void
write_file(const char *name, const void *data, size_t n)
{
	char p[512];
	snprintf(p, sizeof p, "%s/%s", tmp, name);
	FILE *f = fopen(p, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static void
copy_file(const char *from, const char *to, long max_bytes)
{
	char a[512], b[512];
	snprintf(a, sizeof a, "%s/%s", tmp, from);
	snprintf(b, sizeof b, "%s/%s", tmp, to);
	FILE *in = fopen(a, "rb"), *out = fopen(b, "wb");
	assert_non_null(in);
	assert_non_null(out);
	char buf[1 << 16];
	long left = max_bytes < 0 ? -1 : max_bytes;
	size_t n;
	while (left != 0 && (n = fread(buf, 1, left < 0 || left > (long)sizeof buf ? sizeof buf
	                                                       : (size_t)left, in)) > 0) {
		assert_int_equal(fwrite(buf, 1, n, out), n);
		if (left > 0)
			left -= (long)n;
	}
	fclose(in);
	assert_int_equal(fclose(out), 0);
}

static long
file_size(const char *name)
{
	char p[512];
	struct stat sb;
	snprintf(p, sizeof p, "%s/%s", tmp, name);
	return stat(p, &sb) == 0 ? (long)sb.st_size : -1;
}

static int
setup(void **state)
{
	(void)state;
	bin = getenv("ATTNSCOPE_BIN");
	if (!bin || access(bin, X_OK) != 0)
		return -1;
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
	setenv("SDL_VIDEODRIVER", "dummy", 1);
	setenv("SDL_RENDER_DRIVER", "software", 1);
	setenv("OMP_WAIT_POLICY", "passive", 0);
	snprintf(tmp, sizeof tmp, "/tmp/attnscope-test-hostile-XXXXXX");
	if (!mkdtemp(tmp))
		return -1;
	snprintf(tok_path, sizeof tok_path, "%s/tok.bin", tmp);
	write_tokenizer(tok_path);
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

/* ==== hostile databases ================================================== */

/* Record `data` into `db` (a valid recording) and fold its WAL into it. */
static void
record_base(const char *db, const char *enc)
{
	struct result r;
	char model[600];
	snprintf(model, sizeof model, "%s/small.bin", tmp);
	run_cmd(&r, "record", "--model", model, "--tokenizer", tok_path, "--data", "base.txt",
	        "--db", db, "--encoding", enc, "--capture",
	        "blocks.*.attn.hook_pattern,blocks.*.attn.hook_norm_pattern", "-q", NULL);
	if (r.code != 0)
		fail_msg("record %s: exit %d: %s", db, r.code, r.err);
	char p[600];
	snprintf(p, sizeof p, "%s/%s", tmp, db);
	sqlite3 *h;
	assert_int_equal(sqlite3_open(p, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "PRAGMA wal_checkpoint(TRUNCATE); "
	                                 "PRAGMA journal_mode=DELETE", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
}

/* Apply SQL to a copy of `base` named `to`, checks and foreign keys off. */
static void
make_db(const char *base, const char *to, const char *sql)
{
	copy_file(base, to, -1);
	char p[600];
	snprintf(p, sizeof p, "%s/%s", tmp, to);
	sqlite3 *h;
	char *msg = NULL;
	assert_int_equal(sqlite3_open(p, &h), SQLITE_OK);
	if (sqlite3_exec(h, "PRAGMA ignore_check_constraints = ON; PRAGMA foreign_keys = OFF;",
	                 NULL, NULL, &msg) != SQLITE_OK ||
	    sqlite3_exec(h, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s: %s", to, sql, msg ? msg : sqlite3_errmsg(h));
	sqlite3_close(h);
}

/* Overwrite the blob of attention row `id` with f16 NaN, +inf, -inf, 65504,
 * a subnormal, -0 in turn (same length). */
static void
poison_blob(const char *db, const char *table)
{
	char p[600], sql[256];
	snprintf(p, sizeof p, "%s/%s", tmp, db);
	sqlite3 *h;
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_open(p, &h), SQLITE_OK);
	snprintf(sql, sizeof sql, "SELECT id, length(data) FROM %s", table);
	assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
	static const uint16_t pat[] = { 0x7e00, 0x7c00, 0xfc00, 0x7bff, 0x0001, 0x8000 };
	int64_t ids[4096];
	int lens[4096], n = 0;
	while (sqlite3_step(st) == SQLITE_ROW && n < 4096) {
		ids[n] = sqlite3_column_int64(st, 0);
		lens[n++] = sqlite3_column_int(st, 1);
	}
	sqlite3_finalize(st);
	snprintf(sql, sizeof sql, "UPDATE %s SET data = ? WHERE id = ?", table);
	assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
	for (int i = 0; i < n; i++) {
		uint8_t *b = malloc((size_t)lens[i] + 1);
		assert_non_null(b);
		for (int k = 0; k + 1 < lens[i]; k += 2) {
			uint16_t v = pat[(k / 2) % 6];
			b[k] = (uint8_t)v;
			b[k + 1] = (uint8_t)(v >> 8);
		}
		sqlite3_bind_blob(st, 1, b, lens[i], SQLITE_TRANSIENT);
		sqlite3_bind_int64(st, 2, ids[i]);
		assert_int_equal(sqlite3_step(st), SQLITE_DONE);
		sqlite3_reset(st);
		free(b);
	}
	sqlite3_finalize(st);
	sqlite3_close(h);
}

/* what a cell of the matrix must do */
enum expect {
	ANY,  /* work (0), or fail with exit 1/2 and one line */
	FAIL, /* fail with exit 1 or 2 and one line */
};

enum { C_LS, C_LS_SAMPLES, C_INFO, C_NPY, C_CSV, C_JSON, C_PNG, C_SVG, C_PDF, C_ALL_NPY,
       C_GRID, C_ARCS, C_STATS, C_ANALYZE, C_VIEW, N_CMDS };

static const char *const cmd_names[N_CMDS] = {
	"ls", "ls samples", "info", "export npy", "export csv", "export json", "export png",
	"export svg", "export pdf", "export sample npy", "export --grid", "export --arcs",
	"export --stats", "analyze", "view --screenshot",
};

/* the commands that read the map of sample 0, layer 0, head 0 */
#define HEAD00 ((1u << C_NPY) | (1u << C_CSV) | (1u << C_JSON) | (1u << C_PNG) | \
                (1u << C_SVG) | (1u << C_PDF) | (1u << C_ALL_NPY))
#define ALL_CMDS ((1u << N_CMDS) - 1)
#define DB_CMDS (ALL_CMDS & ~(1u << C_VIEW))

struct hcase {
	const char *name;
	const char *base;  /* base database the SQL applies to; NULL: `make` */
	const char *sql;
	void (*make)(const char *file); /* builds the file itself */
	unsigned must_fail; /* commands that must exit 1/2 (bit per C_*) */
};

static void
make_not_sqlite(const char *f)
{
	static const char text[] = "this is not a database, just some text\n";
	write_file(f, text, sizeof text - 1);
}

static void
make_empty(const char *f)
{
	write_file(f, "", 0);
}

static void
make_truncated(const char *f)
{
	copy_file("base.db", f, file_size("base.db") / 2);
}

static void
make_truncated_header(const char *f)
{
	copy_file("base.db", f, 100);
}

/* random bytes over the second half of the file (pages of data) */
static void
make_garbage_pages(const char *f)
{
	copy_file("base.db", f, -1);
	char p[600];
	snprintf(p, sizeof p, "%s/%s", tmp, f);
	FILE *fp = fopen(p, "r+b");
	assert_non_null(fp);
	long n = file_size(f);
	fseek(fp, n / 2, SEEK_SET);
	for (long i = n / 2; i < n; i++)
		fputc((int)(rnd() & 0xff), fp);
	fclose(fp);
}

static void
make_nan_blobs(const char *f)
{
	copy_file("base.db", f, -1);
	poison_blob(f, "attention");
	poison_blob(f, "activations");
	char p[600];
	snprintf(p, sizeof p, "%s/%s", tmp, f);
	sqlite3 *h;
	assert_int_equal(sqlite3_open(p, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "UPDATE head_stats SET value = 1e999 WHERE metric = "
	                                 "'entropy'; UPDATE head_stats SET value = -1e999 WHERE "
	                                 "metric = 'distance'; UPDATE tokens SET entropy = 1e999, "
	                                 "next_logprob = -1e999; UPDATE samples SET loss = 1e999",
	                              NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
}

#define FIRST "(SELECT min(id) FROM attention)"
#define S0 "(SELECT id FROM samples WHERE idx = 0)"

static const struct hcase cases[] = {
	{ "blob-short", "base.db", "UPDATE attention SET data = substr(data, 1, length(data) - 2) "
	  "WHERE id = " FIRST, NULL, HEAD00 },
	{ "blob-long", "base.db", "UPDATE attention SET data = CAST(data || x'00000000' AS BLOB) "
	  "WHERE id = " FIRST, NULL, HEAD00 },
	{ "blob-empty", "base.db", "UPDATE attention SET data = x'' WHERE id = " FIRST, NULL,
	  HEAD00 },
	{ "blob-short-f32", "base32.db", "UPDATE attention SET data = substr(data, 1, "
	  "length(data) - 4) WHERE id = " FIRST, NULL, HEAD00 },
	{ "zstd-garbage", "basez.db", "UPDATE attention SET data = x'28b52ffd00112233445566778899' "
	  "WHERE id = " FIRST, NULL, HEAD00 },
	{ "zstd-not-zstd", "basez.db", "UPDATE attention SET data = zeroblob(length(data)) "
	  "WHERE id = " FIRST, NULL, HEAD00 },
	{ "nan-inf", NULL, NULL, make_nan_blobs, 0 },
	{ "dtype-unknown", "base.db", "UPDATE attention SET dtype = 'f64' WHERE id = " FIRST,
	  NULL, HEAD00 },
	{ "codec-unknown", "base.db", "UPDATE attention SET codec = 'lz4' WHERE id = " FIRST,
	  NULL, HEAD00 },
	{ "layout-unknown", "base.db", "UPDATE attention SET layout = 'diag' WHERE id = " FIRST,
	  NULL, HEAD00 },
	{ "nq-minus-1", "base.db", "UPDATE attention SET n_q = -1 WHERE id = " FIRST, NULL,
	  HEAD00 },
	{ "nq-nk-2^30", "base.db", "UPDATE attention SET n_q = 1 << 30, n_k = 1 << 30 WHERE id = "
	  FIRST, NULL, HEAD00 },
	{ "nk-0", "base.db", "UPDATE attention SET n_k = 0 WHERE id = " FIRST, NULL, HEAD00 },
	{ "tri-not-square", "base.db", "UPDATE attention SET n_k = n_k + 1 WHERE id = " FIRST,
	  NULL, HEAD00 },
	{ "layer-minus-1", "base.db", "UPDATE attention SET layer = -1 WHERE id = " FIRST, NULL,
	  0 },
	{ "head-2^30", "base.db", "UPDATE attention SET head = 1 << 30 WHERE id = " FIRST, NULL,
	  0 },
	{ "layer-2^30", "base.db", "UPDATE attention SET layer = 1 << 30 WHERE id = " FIRST, NULL,
	  0 },
	{ "ntok-2^30", "base.db", "UPDATE samples SET n_tok = 1 << 30", NULL, 0 },
	{ "ntok-minus-1", "base.db", "UPDATE samples SET n_tok = -1", NULL, 0 },
	{ "model-dims-huge", "base.db", "UPDATE models SET n_layer = 1 << 30, n_head = 1 << 30, "
	  "d_model = -1, n_ctx = -1, vocab_size = 1 << 30", NULL, 0 },
	{ "model-dims-negative", "base.db", "UPDATE models SET n_layer = -1, n_head = -1",
	  NULL, 0 },
	{ "model-heads-2^16", "base.db", "UPDATE models SET n_layer = 1 << 16, n_head = 1 << 16",
	  NULL, 0 },
	{ "act-dims-huge", "base.db", "UPDATE activations SET d0 = 1 << 30, d1 = 1 << 30", NULL,
	  0 },
	{ "act-blob-short", "base.db", "UPDATE activations SET data = substr(data, 1, 6)", NULL,
	  0 },
	{ "tokens-deleted", "base.db", "DELETE FROM tokens WHERE sample_id = " S0 " AND pos >= 3",
	  NULL, 0 },
	{ "tokens-all-deleted", "base.db", "DELETE FROM tokens", NULL, 0 },
	{ "attention-deleted", "base.db", "DELETE FROM attention WHERE sample_id = " S0
	  " AND layer = 1", NULL, 0 },
	{ "attention-all-deleted", "base.db", "DELETE FROM attention", NULL, HEAD00 },
	{ "head-stats-deleted", "base.db", "DELETE FROM head_stats", NULL, 0 },
	{ "sample-0-deleted", "base.db", "DELETE FROM samples WHERE idx = 0", NULL, HEAD00 },
	{ "run-deleted", "base.db", "DELETE FROM runs", NULL, HEAD00 },
	{ "model-deleted", "base.db", "DELETE FROM models", NULL, 0 },
	{ "table-dropped", "base.db", "DROP TABLE head_stats", NULL, DB_CMDS },
	{ "user-version-0", "base.db", "PRAGMA user_version = 0", NULL, DB_CMDS },
	/* readers read older versions; writers upgrade them (or refuse) */
	{ "user-version-1", "base.db", "PRAGMA user_version = 1", NULL, 0 },
	{ "user-version-99", "base.db", "PRAGMA user_version = 99", NULL, DB_CMDS },
	{ "user-version-minus-1", "base.db", "PRAGMA user_version = -1", NULL, DB_CMDS },
	{ "not-sqlite", NULL, NULL, make_not_sqlite, DB_CMDS },
	{ "truncated-half", NULL, NULL, make_truncated, 0 },
	{ "truncated-100-bytes", NULL, NULL, make_truncated_header, DB_CMDS },
	{ "garbage-pages", NULL, NULL, make_garbage_pages, 0 },
	{ "empty-file", NULL, NULL, make_empty, DB_CMDS },
	{ "missing-file", NULL, NULL, NULL, DB_CMDS },
};

static void
check_cell(const struct hcase *c, int cmd, const struct result *r, int *bad, char *row,
           size_t row_size)
{
	char msg[160];
	const char *nl = strchr(r->err, '\n');
	snprintf(msg, sizeof msg, "%.*s", nl ? (int)(nl - r->err) : (int)strlen(r->err),
	         r->err);
	size_t o = strlen(row);
	snprintf(row + o, row_size - o, "  %-18s exit %d%s%s\n", cmd_names[cmd], r->code,
	         msg[0] ? ": " : "", msg);
	bool viewer = cmd == C_VIEW;
	const char *why = NULL;
	if (r->timed_out)
		why = "hung: killed after 30 s";
	else if (r->signaled)
		why = "killed by a signal";
	else if (has_sanitizer_report(r->err))
		why = "sanitizer report";
	else if (r->code != 0 && r->code != 1 && r->code != 2)
		why = "exit code not 0, 1 or 2";
	else if (r->code != 0 && !one_line(r->err, viewer ? "attnscope-view" : "attnscope"))
		why = "not one line on stderr";
	else if (r->code == 0 && (c->must_fail >> cmd & 1))
		why = "succeeded on a broken input";
	if (why) {
		(*bad)++;
		diag("FAIL %s / %s: %s (exit %d)\n%s", c->name, cmd_names[cmd], why, r->code,
		     r->err);
	}
}

/* the valid recordings the cases start from: f16 (default), f32, f16 + zstd */
static void
make_bases(void)
{
	static bool done;
	if (done)
		return;
	done = true;
	char model[600];
	snprintf(model, sizeof model, "%s/small.bin", tmp);
	write_model(model, 32, 64, 2, 4, 64);
	char text[4096] = "";
	for (int s = 0; s < 3; s++) {
		for (int i = 0; i < 12; i++)
			snprintf(text + strlen(text), sizeof text - strlen(text), "%s%s", i ? " " : "",
			         words[rnd() % N_WORDS]);
		strcat(text, "\n");
	}
	write_file("base.txt", text, strlen(text));
	record_base("base.db", "f16");
	record_base("base32.db", "f32");
	record_base("basez.db", "f16z");
}

/* Cases whose model or sample row claims impossible dimensions: they run in
 * test_hostile_dimensions, not in the main matrix. */
static bool
dims_case(const struct hcase *c)
{
	return strncmp(c->name, "model-dims", 10) == 0 ||
	       strncmp(c->name, "model-heads", 11) == 0 || strcmp(c->name, "ntok-2^30") == 0 ||
	       strcmp(c->name, "head-2^30") == 0 || strcmp(c->name, "layer-2^30") == 0;
}

/* Every command on every case of one group (dims_case() == dims); the
 * number of cells that did something wrong. */
static int
run_matrix(bool dims)
{
	make_bases();
	int bad = 0, n_cases = 0;
	double t0 = now();
	timeout_ok = true; /* a hang is a bad cell, reported with the others */
	diag("command x case -> exit code: first line of stderr%s",
	     view_bin[0] ? "" : " (viewer not built: no view --screenshot column)");
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		const struct hcase *c = &cases[k];
		if (dims_case(c) != dims)
			continue;
		n_cases++;
		char db[128], dbw[128];
		snprintf(db, sizeof db, "h-%s.db", c->name);
		snprintf(dbw, sizeof dbw, "h-%s-w.db", c->name);
		if (c->base)
			make_db(c->base, db, c->sql);
		else if (c->make)
			c->make(db);
		if (c->base || c->make)
			copy_file(db, dbw, -1); /* analyze writes: its own copy */
		static char row[16384];
		snprintf(row, sizeof row, "%s:\n", c->name);
		struct result r;
		for (int cmd = 0; cmd < N_CMDS; cmd++) {
			switch (cmd) {
			case C_LS: run_cmd(&r, "ls", "--db", db, NULL); break;
			case C_LS_SAMPLES: run_cmd(&r, "ls", "--db", db, "samples", NULL); break;
			case C_INFO: run_cmd(&r, "info", db, NULL); break;
			case C_NPY: case C_CSV: case C_JSON: case C_PNG: case C_SVG: case C_PDF: {
				static const char *const fmt[] = { "npy", "csv", "json", "png", "svg", "pdf" };
				const char *f = fmt[cmd - C_NPY];
				char out[32];
				snprintf(out, sizeof out, "out.%s", f);
				run_cmd(&r, "export", "--db", db, "--sample", "0", "--layer", "0", "--head",
				        "0", "--format", f, "-o", out, NULL);
				break;
			}
			case C_ALL_NPY:
				run_cmd(&r, "export", "--db", db, "--sample", "0", "--format", "npy", "-o",
				        "all.npy", NULL);
				break;
			case C_GRID:
				run_cmd(&r, "export", "--db", db, "--sample", "0", "--grid", "--format", "png",
				        "-o", "grid.png", NULL);
				break;
			case C_ARCS:
				run_cmd(&r, "export", "--db", db, "--sample", "0", "--arcs", "0", "--format",
				        "png", "-o", "arcs.png", NULL);
				break;
			case C_STATS:
				run_cmd(&r, "export", "--db", db, "--stats", "entropy", "--format", "png", "-o",
				        "stats.png", NULL);
				break;
			case C_ANALYZE:
				run_cmd(&r, "analyze", "--db", dbw, "-q", "-o", "analyze.txt", NULL);
				break;
			case C_VIEW: {
				if (!view_bin[0])
					continue;
				char *argv[] = { view_bin, "--screenshot", "shot.png", "--timeout", "10",
				                 "--view", "head", db, NULL };
				char shot[600];
				snprintf(shot, sizeof shot, "%s/shot.png", tmp);
				unlink(shot);
				run_v(&r, argv, 0, false, 30);
				/* exit 0: what is wrong is drawn in the frame, which exists */
				if (r.code == 0 && file_size("shot.png") <= 0) {
					r.code = 3;
					snprintf(r.err, sizeof r.err, "exit 0 but no screenshot written\n");
				}
				break;
			}
			}
			check_cell(c, cmd, &r, &bad, row, sizeof row);
		}
		diag("%s", row);
	}
	timeout_ok = false;
	diag("%d cases x %d commands in %.1f s, %d bad cells", n_cases,
	     view_bin[0] ? N_CMDS : N_CMDS - 1, now() - t0, bad);
	return bad;
}

static void
test_hostile_databases(void **state)
{
	(void)state;
	assert_int_equal(run_matrix(false), 0);
}

/* Rows claiming impossible sizes (models.n_layer/n_head, samples.n_tok, an
 * attention row of head or layer 2^30): nothing may be allocated or looped
 * over from them before they are checked against the maps actually stored. */
static void
test_hostile_dimensions(void **state)
{
	(void)state;
	assert_int_equal(run_matrix(true), 0);
}

/* ==== resource limits ========================================================= */

/* The address space a small, valid run needs, doubled: a limit under which
 * an allocation sized by an absurd header cannot succeed. 0 when limits on
 * the address space cannot be used (sanitizers reserve terabytes). */
static rlim_t
as_limit_for(const char *model)
{
	struct result r;
	char *argv[] = { (char *)bin, "info", (char *)model, NULL };
	rlim_t found = 0;
	/* OpenBLAS's start-up retries its buffer allocation forever when the
	 * address space is too small: such a run times out */
	timeout_ok = true;
	for (rlim_t lim = (rlim_t)256 << 20; lim <= (rlim_t)4 << 30 && !found; lim *= 2) {
		run_v(&r, argv, lim, false, 5);
		if (r.code == 0 && !r.timed_out)
			found = lim * 2;
		else
			diag("RLIMIT_AS %llu MiB: 'info' of a small model %s",
			     (unsigned long long)(lim >> 20),
			     r.timed_out ? "hangs (killed after 5 s)" : "fails");
	}
	timeout_ok = false;
	return found;
}

static void
test_absurd_headers(void **state)
{
	(void)state;
	char model[600];
	snprintf(model, sizeof model, "%s/ok.bin", tmp);
	write_model(model, 16, 32, 1, 2, 16);
	rlim_t lim = as_limit_for(model);
	if (lim)
		diag("RLIMIT_AS for the absurd headers: %llu MiB (twice what 'info' of a small "
		     "model needs)", (unsigned long long)(lim >> 20));
	else
		diag("RLIMIT_AS unusable here (sanitizer build): the absurd headers run unlimited");

	/* llama2.c headers: dim, hidden, layers, heads, kv heads, vocab, context */
	static const struct {
		const char *name;
		int32_t h[7];
	} heads[] = {
		{ "dim 2^30", { 1 << 30, 32, 1, 2, 2, 512, 16 } },
		{ "hidden 2^30", { 16, 1 << 30, 1, 2, 2, 512, 16 } },
		{ "layers 2^30", { 16, 32, 1 << 30, 2, 2, 512, 16 } },
		{ "vocab -2^31", { 16, 32, 1, 2, 2, INT32_MIN, 16 } },
		{ "vocab 2^31-1", { 16, 32, 1, 2, 2, INT32_MAX, 16 } },
		{ "context 2^30", { 16, 32, 1, 2, 2, 512, 1 << 30 } },
		{ "every limit", { 1 << 16, 1 << 20, 1024, 1024, 1024, 1 << 22, 1 << 20 } },
		{ "heads 0", { 16, 32, 1, 0, 0, 512, 16 } },
		{ "negative", { -16, -32, -1, -2, -2, -512, -16 } },
	};
	for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
		char name[64];
		snprintf(name, sizeof name, "absurd-%zu.bin", i);
		uint8_t buf[28 + 64] = { 0 };
		memcpy(buf, heads[i].h, 28);
		write_file(name, buf, sizeof buf);
		char path[600];
		snprintf(path, sizeof path, "%s/%s", tmp, name);
		struct result r;
		char *info[] = { (char *)bin, "info", path, NULL };
		run_v(&r, info, lim, false, 60);
		diag("llama2.c header %-12s info: exit %d, %s", heads[i].name, r.code, r.err);
		if (r.code != 1 || !one_line(r.err, "attnscope: ") || has_sanitizer_report(r.err) ||
		    strstr(r.err, "memory"))
			fail_msg("info on a header with %s: exit %d: %s", heads[i].name, r.code, r.err);
		char *rec[] = { (char *)bin, "record", "--model", path, "--tokenizer", tok_path,
		                "--text", "once upon a time", "--db", "absurd.db", "-q", NULL };
		run_v(&r, rec, lim, false, 60);
		if (r.code != 1 || !one_line(r.err, "attnscope: ") || strstr(r.err, "memory") ||
		    file_size("absurd.db") > 0)
			fail_msg("record with a header with %s: exit %d: %s", heads[i].name, r.code,
			         r.err);
	}

	/* GGUF: a llama header with 2^24 layers and a 2^24 embedding width */
	uint8_t g[1024];
	size_t n = 0;
#define PUT(p, k) (memcpy(g + n, (p), (k)), n += (k))
#define U32(v) do { uint32_t v_ = (v); PUT(&v_, 4); } while (0)
#define U64(v) do { uint64_t v_ = (v); PUT(&v_, 8); } while (0)
#define STR(s) do { U64(strlen(s)); PUT((s), strlen(s)); } while (0)
#define KV_U32(k, v) do { STR(k); U32(4); U32(v); } while (0)
	PUT("GGUF", 4);
	U32(3);
	U64(1);
	U64(7);
	STR("general.architecture");
	U32(8);
	STR("llama");
	KV_U32("llama.block_count", 1u << 24);
	KV_U32("llama.embedding_length", 1u << 24);
	KV_U32("llama.feed_forward_length", 1u << 24);
	KV_U32("llama.attention.head_count", 1u << 10);
	KV_U32("llama.context_length", 1u << 24);
	KV_U32("llama.attention.head_count_kv", 1u << 10);
	/* a small tensor that is really there: only the metadata lies */
	STR("token_embd.weight");
	U32(2);
	U64(4);
	U64(4);
	U32(0);
	U64(0);
	while (n % 32)
		g[n++] = 0;
	memset(g + n, 0, 64);
	n += 64;
#undef PUT
#undef U32
#undef U64
#undef STR
#undef KV_U32
	write_file("absurd.gguf", g, n);
	char path[600];
	snprintf(path, sizeof path, "%s/absurd.gguf", tmp);
	struct result r;
	char *info[] = { (char *)bin, "info", path, NULL };
	run_v(&r, info, lim, false, 60);
	diag("GGUF claiming 2^24 layers and width: info: exit %d, %s", r.code, r.err);
	if (r.code != 1 || !one_line(r.err, "attnscope: ") || strstr(r.err, "memory"))
		fail_msg("info on an absurd GGUF: exit %d: %s", r.code, r.err);

	/* a Hugging Face config.json with absurd sizes */
	char dir[600];
	snprintf(dir, sizeof dir, "%s/absurd-hf", tmp);
	mkdir(dir, 0700);
	static const char cfg[] =
		"{\"model_type\": \"llama\", \"hidden_size\": 16777216, \"intermediate_size\": "
		"16777216, \"num_hidden_layers\": 16777216, \"num_attention_heads\": 1024, "
		"\"vocab_size\": 16777216, \"max_position_embeddings\": 16777216}";
	write_file("absurd-hf/config.json", cfg, sizeof cfg - 1);
	static const uint8_t st[] = { 2, 0, 0, 0, 0, 0, 0, 0, '{', '}' };
	write_file("absurd-hf/model.safetensors", st, sizeof st);
	char *info_hf[] = { (char *)bin, "info", dir, NULL };
	run_v(&r, info_hf, lim, false, 60);
	diag("config.json with 2^24 everything: info: exit %d, %s", r.code, r.err);
	if (r.code != 1 || !one_line(r.err, "attnscope: ") || strstr(r.err, "memory"))
		fail_msg("info on an absurd config.json: exit %d: %s", r.code, r.err);
}

static void
test_sample_longer_than_context(void **state)
{
	(void)state;
	char model[600];
	snprintf(model, sizeof model, "%s/ctx16.bin", tmp);
	write_model(model, 16, 32, 1, 2, 16);
	/* sample 1 (line 3) is far longer than the context of 16 */
	char text[65536];
	strcpy(text, "once upon a time\n\n");
	for (int i = 0; i < 5000; i++)
		strcat(text, i ? " the" : "the");
	strcat(text, "\nthe end\n");
	write_file("long.txt", text, strlen(text));
	struct result r;
	run_cmd(&r, "record", "--model", model, "--tokenizer", tok_path, "--data", "long.txt",
	        "--db", "long.db", "-q", NULL);
	diag("a 5,000-word sample, context 16: exit %d, %s", r.code, r.err);
	assert_int_equal(r.code, 1);
	assert_true(one_line(r.err, "attnscope: "));
	assert_non_null(strstr(r.err, "sample 1"));
	assert_non_null(strstr(r.err, "line 3"));
	assert_non_null(strstr(r.err, "context of 16"));
	assert_non_null(strstr(r.err, "--max-tokens"));
	/* nothing was written: checked before the run is created */
	assert_true(file_size("long.db") <= 0);
	/* --max-tokens cuts it */
	run_cmd(&r, "record", "--model", model, "--tokenizer", tok_path, "--data", "long.txt",
	        "--db", "long.db", "--max-tokens", "16", "-q", NULL);
	if (r.code != 0)
		fail_msg("record --max-tokens 16: exit %d: %s", r.code, r.err);
	/* a token list longer than the context, and ids outside the vocabulary */
	char js[65536] = "{\"tokens\": [1";
	for (int i = 0; i < 3000; i++)
		strcat(js, ", 300");
	strcat(js, "]}\n");
	write_file("long.jsonl", js, strlen(js));
	run_cmd(&r, "record", "--model", model, "--tokenizer", tok_path, "--data", "long.jsonl",
	        "--db", "long2.db", "-q", NULL);
	diag("3,001 token ids, context 16: exit %d, %s", r.code, r.err);
	assert_int_equal(r.code, 1);
	assert_true(one_line(r.err, "attnscope: "));
	assert_non_null(strstr(r.err, "context of 16"));
	{
		static const char ids[] = "{\"tokens\": [1, 512]}\n";
		write_file("ids.jsonl", ids, sizeof ids - 1);
	}
	run_cmd(&r, "record", "--model", model, "--tokenizer", tok_path, "--data", "ids.jsonl",
	        "--db", "long2.db", "-q", NULL);
	diag("token id 512 with a vocabulary of 512: exit %d, %s", r.code, r.err);
	assert_int_equal(r.code, 1);
	assert_true(one_line(r.err, "attnscope: "));
	assert_true(file_size("long2.db") <= 0);
}

static void
test_peak_rss(void **state)
{
	(void)state;
	char model[600], tok[600];
	snprintf(model, sizeof model, "%s/ctx2048.bin", tmp);
	write_model(model, 64, 256, 2, 4, 2048);
	/* stories260K's tokenizer (512 pieces) when ../shared has it */
	const char *shared = getenv("ATTNSCOPE_SHARED");
	snprintf(tok, sizeof tok, "%s/models/stories260K/tok512.bin", shared ? shared : "");
	bool real_tok = shared && access(tok, R_OK) == 0;
	if (!real_tok)
		snprintf(tok, sizeof tok, "%s", tok_path);
	static const int lens[] = { 512, 2048 };
	long rss[2];
	for (int k = 0; k < 2; k++) {
		/* exactly lens[k] tokens: a JSONL token list */
		size_t cap = (size_t)lens[k] * 8 + 64, o = 0;
		char *js = malloc(cap);
		assert_non_null(js);
		o += (size_t)snprintf(js, cap, "{\"tokens\": [1");
		for (int i = 1; i < lens[k]; i++)
			o += (size_t)snprintf(js + o, cap - o, ", %d", 3 + (int)(rnd() % 500));
		o += (size_t)snprintf(js + o, cap - o, "]}\n");
		write_file("rss.jsonl", js, o);
		free(js);
		char db[32];
		snprintf(db, sizeof db, "rss-%d.db", lens[k]);
		struct result r;
		run_cmd(&r, "record", "--model", model, "--tokenizer", tok, "--data", "rss.jsonl",
		        "--db", db, "-q", NULL);
		if (r.code != 0)
			fail_msg("record %d tokens: exit %d: %s", lens[k], r.code, r.err);
		rss[k] = r.maxrss_kb;
		diag("record, %d tokens (dim 64, 2 layers, 4 heads, vocab 512, context 2048, "
		     "%s tokenizer, default encoding): peak RSS %.1f MiB, %.2f s, "
		     "database %.1f MiB",
		     lens[k], real_tok ? "tok512.bin" : "generated", r.maxrss_kb / 1024.0,
		     r.seconds, file_size(db) / 1048576.0);
	}
	/* every map of a 2,048-token sample is 2 x 4 x 2048^2 floats = 128 MiB;
	 * anything far beyond a few copies of that is a leak or a blow-up */
	assert_true(rss[1] < 2L * 1024 * 1024);
	assert_true(rss[0] <= rss[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hostile_databases),
		cmocka_unit_test(test_hostile_dimensions),
		cmocka_unit_test(test_absurd_headers),
		cmocka_unit_test(test_sample_longer_than_context),
		cmocka_unit_test(test_peak_rss),
	};
	if (getenv("ATTNSCOPE_TEST_FILTER")) /* debugging: run only matching tests */
		cmocka_set_test_filter(getenv("ATTNSCOPE_TEST_FILTER"));
	return cmocka_run_group_tests(tests, setup, teardown);
}

/*
 * test_cli.c — the attnscope command end to end: demo, record, export,
 * info, ls, tokenize, generate, resume, and bad inputs (each one clear
 * line, a non-zero exit and no half-written run).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../db/store.h"
#include "helpers/npz.h"
#include "util/util.h"

static char tmp[256];
static const char *bin;
static char out_buf[1 << 16], err_buf[1 << 14];

static int
setup(void **state)
{
	(void)state;
	bin = getenv("ATTNSCOPE_BIN");
	snprintf(tmp, sizeof tmp, "/tmp/attnscope-test-cli-XXXXXX");
	return bin && mkdtemp(tmp) ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	char cmd[512];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
	return system(cmd) == 0 ? 0 : -1;
}

/* Run `attnscope ARGS` (a shell fragment); capture stdout and stderr;
 * return the exit status. */
static int
run(const char *fmt, ...)
{
	char args[4096], cmd[8192];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(args, sizeof args, fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s >'%s/out.txt' 2>'%s/err.txt' </dev/null",
	         tmp, bin, args, tmp, tmp);
	int st = system(cmd);
	char p[512];
	for (int k = 0; k < 2; k++) {
		snprintf(p, sizeof p, "%s/%s", tmp, k ? "err.txt" : "out.txt");
		char *buf = k ? err_buf : out_buf;
		size_t cap = k ? sizeof err_buf : sizeof out_buf;
		FILE *f = fopen(p, "rb");
		size_t n = f ? fread(buf, 1, cap - 1, f) : 0;
		buf[n] = '\0';
		if (f)
			fclose(f);
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void
write_file(const char *name, const void *data, size_t n)
{
	char p[512];
	snprintf(p, sizeof p, "%s/%s", tmp, name);
	FILE *f = fopen(p, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, n, f), n);
	fclose(f);
}

static const char *
shared_path(const char *rel)
{
	static char buf[4][512];
	static int k;
	const char *s = getenv("ATTNSCOPE_SHARED");
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof buf[k], "%s/%s", s ? s : "", rel);
	return s && access(buf[k], R_OK) == 0 ? buf[k] : NULL;
}

/* stderr holds exactly one line, starting with "attnscope" */
static void
assert_one_error_line(const char *must_contain)
{
	size_t n = strlen(err_buf);
	if (n == 0 || err_buf[n - 1] != '\n' || strchr(err_buf, '\n') != err_buf + n - 1 ||
	    strncmp(err_buf, "attnscope", 9) != 0)
		fail_msg("expected one error line, got: [%s]", err_buf);
	if (must_contain && !strstr(err_buf, must_contain))
		fail_msg("error line lacks '%s': %s", must_contain, err_buf);
}

static int
count_runs(const char *db)
{
	char p[512];
	snprintf(p, sizeof p, "%s/%s", tmp, db);
	if (access(p, F_OK) != 0)
		return 0;
	sqlite3 *h;
	if (sqlite3_open_v2(p, &h, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		return -1;
	sqlite3_stmt *st;
	int n = -1;
	if (sqlite3_prepare_v2(h, "SELECT count(*) FROM runs", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(h);
	return n;
}

static bool
is_png(const char *name, int *w, int *h)
{
	char p[512];
	unsigned char b[24];
	snprintf(p, sizeof p, "%s/%s", tmp, name);
	FILE *f = fopen(p, "rb");
	if (!f)
		return false;
	size_t n = fread(b, 1, 24, f);
	fclose(f);
	if (n != 24 || memcmp(b, "\x89PNG\r\n\x1a\n", 8) != 0)
		return false;
	*w = b[16] << 24 | b[17] << 16 | b[18] << 8 | b[19];
	*h = b[20] << 24 | b[21] << 16 | b[22] << 8 | b[23];
	return true;
}

/* ---- tests ----------------------------------------------------------- */

static void
test_help_everywhere(void **state)
{
	(void)state;
	const char *cmds[] = { "demo", "record", "export", "info", "ls", "tokenize", "generate" };
	for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
		assert_int_equal(run("%s --help", cmds[i]), 0);
		assert_non_null(strstr(out_buf, "usage: attnscope"));
	}
	assert_int_equal(run("--help"), 0);
	assert_int_equal(run("--version"), 0);
	assert_non_null(strstr(out_buf, "OpenBLAS"));
	assert_int_equal(run("frobnicate"), 2);
	assert_int_equal(run("record --model"), 2);
	assert_int_equal(run("export --db x.db --sample 0 --format bmp -o x"), 2);
}

static void
test_demo(void **state)
{
	(void)state;
	assert_int_equal(run("demo --out demo -q"), 0);
	assert_non_null(strstr(out_buf, "induction"));
	int w, h;
	assert_true(is_png("demo/L0H0-previous-token.png", &w, &h));
	assert_true(w >= 300 && h >= 300);
	assert_true(is_png("demo/L1H0-induction.png", &w, &h));
	/* the designed heads do what they were built for (stored statistics) */
	char db[512];
	snprintf(db, sizeof db, "%s/demo/demo.db", tmp);
	int err;
	struct store *s = store_open(db, STORE_READONLY, &err);
	assert_non_null(s);
	int64_t run_id;
	assert_int_equal(store_latest_run(s, &run_id), 0);
	struct store_sample_info si;
	assert_int_equal(store_get_sample(s, run_id, 0, &si), 0);
	double v;
	assert_int_equal(store_get_head_stat(s, si.id, 0, 0, "prev_token", &v), 0);
	assert_true(v > 0.95);
	assert_int_equal(store_get_head_stat(s, si.id, 0, 1, "first_token", &v), 0);
	assert_true(v > 0.95);
	assert_int_equal(store_get_head_stat(s, si.id, 0, 2, "self", &v), 0);
	assert_true(v > 0.95);
	store_close(s);
	/* rerunning replaces the database */
	assert_int_equal(run("demo --out demo -q"), 0);
	assert_int_equal(count_runs("demo/demo.db"), 1);
}

static void
test_tokenize_and_generate(void **state)
{
	(void)state;
	const char *tok = shared_path("models/stories260K/tok512.bin");
	const char *model = shared_path("models/stories260K/stories260K.bin");
	const char *ref = shared_path("models/stories260K/reference-greedy.json");
	if (!tok || !model || !ref)
		fail_msg("reference data missing");
	assert_int_equal(run("tokenize --tokenizer '%s' --text 'Once upon a time'", tok), 0);
	assert_string_equal(out_buf, "1 403 407 261 378\n");
	assert_int_equal(run("tokenize --model '%s' --text 'Once upon a time' --pieces", model), 0);
	assert_non_null(strstr(out_buf, "403\t"));
	/* generate prints exactly what llama2.c run.c printed */
	json_error_t je;
	json_t *j = json_load_file(ref, 0, &je);
	assert_non_null(j);
	json_t *recs = json_object_get(j, "records");
	for (size_t i = 0; i < json_array_size(recs); i++) {
		json_t *r = json_array_get(recs, i);
		const char *prompt = json_string_value(json_object_get(r, "prompt"));
		int steps = (int)json_integer_value(json_object_get(r, "steps"));
		const char *expect = json_string_value(json_object_get(r, "stdout"));
		assert_int_equal(run("generate --model '%s' --tokenizer '%s' --prompt '%s' -n %d",
		                     model, tok, prompt, steps), 0);
		if (strcmp(out_buf, expect) != 0)
			fail_msg("generate '%s' -n %d:\n got: %s\nwant: %s", prompt, steps, out_buf, expect);
	}
	json_decref(j);
}

static void
test_record_export_roundtrip(void **state)
{
	(void)state;
	const char *tok = shared_path("models/stories260K/tok512.bin");
	const char *model = shared_path("models/stories260K/stories260K.bin");
	if (!tok || !model)
		fail_msg("reference data missing");
	const char data[] =
		"{\"text\": \"The little dog ran to the big tree.\"}\n"
		"\n"
		"{\"text\": \"Tim had a red kite and a blue kite.\", \"other\": 1}\n"
		"{\"tokens\": [1, 403, 407, 261, 378]}\n";
	write_file("d.jsonl", data, sizeof data - 1);
	assert_int_equal(run("record --model '%s' --tokenizer '%s' --data d.jsonl --db r.db "
	                     "--encoding f32 -q", model, tok), 0);
	assert_non_null(strstr(err_buf, "recorded 3 samples"));
	assert_int_equal(run("ls --db r.db samples"), 0);
	assert_non_null(strstr(out_buf, "The little dog"));
	assert_non_null(strstr(out_buf, "(token ids)"));
	assert_int_equal(run("info r.db"), 0);
	assert_non_null(strstr(out_buf, "done"));
	assert_int_equal(run("info '%s'", model), 0);
	assert_non_null(strstr(out_buf, "grouped-query"));

	/* npy of one head equals the stored map; [L,H,T,T] holds every head */
	assert_int_equal(run("export --db r.db --sample 2 --layer 3 --head 5 --format npy -o h.npy"), 0);
	assert_int_equal(run("export --db r.db --sample 2 --format npy -o all.npy"), 0);
	char p[512];
	struct npy_array one = { 0 }, all = { 0 };
	snprintf(p, sizeof p, "%s/h.npy", tmp);
	assert_int_equal(npy_read(p, &one), 0);
	snprintf(p, sizeof p, "%s/all.npy", tmp);
	assert_int_equal(npy_read(p, &all), 0);
	assert_int_equal(one.ndim, 2);
	assert_int_equal(one.shape[0], 5);
	assert_int_equal(all.ndim, 4);
	assert_int_equal(all.shape[0], 5);
	assert_int_equal(all.shape[1], 8);
	assert_int_equal(all.shape[2], 5);
	assert_memory_equal(one.fdata, all.fdata + (3 * 8 + 5) * 25, 25 * sizeof(float));
	for (int i = 0; i < 5; i++)
		for (int j = i + 1; j < 5; j++)
			assert_true(one.fdata[i * 5 + j] == 0.0f);
	/* csv and json carry the same numbers */
	assert_int_equal(run("export --db r.db --sample 2 --layer 3 --head 5 --format csv -o -"), 0);
	char *line = out_buf;
	for (int i = 0; i < 5; i++) {
		for (int j = 0; j < 5; j++) {
			char *end;
			double v = strtod(line, &end);
			assert_true(fabs(v - one.fdata[i * 5 + j]) < 1e-7);
			line = end + 1;
		}
	}
	assert_int_equal(run("export --db r.db --sample 2 --layer 3 --head 5 --format json -o h.json"), 0);
	snprintf(p, sizeof p, "%s/h.json", tmp);
	json_error_t je;
	json_t *j = json_load_file(p, 0, &je);
	assert_non_null(j);
	assert_int_equal(json_array_size(json_object_get(j, "tokens")), 5);
	double v = json_real_value(json_array_get(json_array_get(json_object_get(j, "attention"), 4), 1));
	assert_true(fabs(v - one.fdata[21]) < 1e-7);
	json_decref(j);
	npy_array_release(&one);
	npy_array_release(&all);

	/* the figure */
	assert_int_equal(run("export --db r.db --sample 0 --layer 0 --head 1 --format png -o h.png"), 0);
	int w, h;
	assert_true(is_png("h.png", &w, &h));
	assert_true(w >= 300 && h >= 300);
	/* a sample or head that does not exist */
	assert_int_equal(run("export --db r.db --sample 9 --layer 0 --head 0 --format npy -o x.npy"), 1);
	assert_one_error_line("no sample 9");
	assert_int_equal(run("export --db r.db --sample 0 --layer 7 --head 0 --format npy -o x.npy"), 1);
	assert_one_error_line("layer 7");
}

static void
test_bad_inputs(void **state)
{
	(void)state;
	const char *tok = shared_path("models/stories260K/tok512.bin");
	const char *model = shared_path("models/stories260K/stories260K.bin");
	if (!tok || !model)
		fail_msg("reference data missing");
	/* a truncated model */
	char *buf;
	size_t n;
	assert_int_equal(util_read_file(model, &buf, &n), 0);
	write_file("trunc.bin", buf, n / 2);
	assert_int_equal(run("record --model trunc.bin --tokenizer '%s' --text hi --db b.db", tok), 1);
	assert_one_error_line("truncated");
	/* header sizes that overflow / are absurd */
	int32_t hdr[7] = { 1 << 30, 1 << 30, 1 << 30, 1, 1, 1 << 30, 1 << 30 };
	memcpy(buf, hdr, sizeof hdr);
	write_file("huge.bin", buf, n);
	assert_int_equal(run("record --model huge.bin --tokenizer '%s' --text hi --db b.db", tok), 1);
	assert_one_error_line("impossible header");
	int32_t hdr2[7] = { 64, 172, 5, 8, 4, 512, 100000 }; /* disagrees with the size */
	memcpy(buf, hdr2, sizeof hdr2);
	write_file("wrong.bin", buf, n);
	assert_int_equal(run("record --model wrong.bin --tokenizer '%s' --text hi --db b.db", tok), 1);
	assert_one_error_line("needs");
	write_file("tiny.bin", buf, 10);
	assert_int_equal(run("info tiny.bin"), 1);
	assert_one_error_line("shorter than");
	free(buf);
	/* missing tokenizer */
	assert_int_equal(run("record --model '%s' --tokenizer nope.bin --text hi --db b.db", model), 1);
	assert_one_error_line("nope.bin");
	/* empty dataset */
	write_file("empty.txt", "\n\n", 2);
	assert_int_equal(run("record --model '%s' --tokenizer '%s' --data empty.txt --db b.db",
	                     model, tok), 1);
	assert_one_error_line("no samples");
	/* a broken JSONL line: the error names the line */
	const char bad[] = "{\"text\": \"fine\"}\n{\"text\": \"also fine\"}\n{\"text\": broken}\n";
	write_file("bad.jsonl", bad, sizeof bad - 1);
	assert_int_equal(run("record --model '%s' --tokenizer '%s' --data bad.jsonl --db b.db",
	                     model, tok), 1);
	assert_one_error_line("bad.jsonl:3");
	/* bad UTF-8 in a text file */
	write_file("bad.txt", "ok\n\xff\xfe\n", 6);
	assert_int_equal(run("record --model '%s' --tokenizer '%s' --data bad.txt --db b.db",
	                     model, tok), 1);
	assert_one_error_line("bad.txt:2");
	/* an over-long sample (context 512), then cut with --max-tokens */
	char *longtext = malloc(4000);
	for (int i = 0; i < 3999; i++)
		longtext[i] = "abcdefghij klmnop"[i % 17];
	longtext[3999] = '\n';
	write_file("long.txt", longtext, 4000);
	free(longtext);
	assert_int_equal(run("record --model '%s' --tokenizer '%s' --data long.txt --db b.db",
	                     model, tok), 1);
	assert_one_error_line("--max-tokens");
	/* none of these left a run behind */
	assert_int_equal(count_runs("b.db"), 0);
	assert_int_equal(run("record --model '%s' --tokenizer '%s' --data long.txt --db b.db "
	                     "--max-tokens 100 -q --capture none", model, tok), 0);
	assert_int_equal(count_runs("b.db"), 1);
	/* unknown hooks, bad encodings */
	assert_int_equal(run("record --model '%s' --tokenizer '%s' --text hi --db b.db "
	                     "--capture blocks.0.attn.hook_patern", model, tok), 1);
	assert_one_error_line("matches no hook");
	assert_int_equal(run("record --model '%s' --tokenizer '%s' --text hi --db b.db "
	                     "--encoding f8", model, tok), 2);
	/* a database from a newer attnscope, and a file that is not one */
	char p[512];
	snprintf(p, sizeof p, "%s/new.db", tmp);
	sqlite3 *h;
	assert_int_equal(sqlite3_open(p, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "CREATE TABLE runs(x); PRAGMA user_version=99;",
	                              NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	assert_int_equal(run("ls --db new.db"), 1);
	assert_one_error_line("newer");
	assert_int_equal(run("record --model '%s' --tokenizer '%s' --text hi --db new.db",
	                     model, tok), 1);
	assert_one_error_line("newer");
	write_file("not.db", "hello, this is not a database at all......", 42);
	assert_int_equal(run("ls --db not.db"), 1);
	assert_one_error_line(NULL);
	assert_int_equal(run("ls --db missing.db"), 1);
	assert_one_error_line("missing.db");
	assert_int_equal(access("missing.db", F_OK), -1);
}

static void
test_resume(void **state)
{
	(void)state;
	const char *tok = shared_path("models/stories260K/tok512.bin");
	const char *model = shared_path("models/stories260K/stories260K.bin");
	if (!tok || !model)
		fail_msg("reference data missing");
	const char data[] = "one day\ntwo cats\nthree dogs\nfour birds\nfive fish\n";
	write_file("five.txt", data, sizeof data - 1);
	/* --resume with nothing to continue simply starts the run */
	assert_int_equal(run("record --model '%s' --tokenizer '%s' --data five.txt --db z.db "
	                     "--resume -q", model, tok), 0);
	assert_non_null(strstr(err_buf, "recorded 5 samples"));
	/* make it look interrupted after sample 1 */
	char p[512];
	snprintf(p, sizeof p, "%s/z.db", tmp);
	sqlite3 *h;
	assert_int_equal(sqlite3_open(p, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "PRAGMA foreign_keys=ON; DELETE FROM samples WHERE idx >= 2;"
	                              "UPDATE runs SET status='running';", NULL, NULL, NULL),
	                 SQLITE_OK);
	sqlite3_close(h);
	assert_int_equal(run("record --model '%s' --tokenizer '%s' --data five.txt --db z.db "
	                     "--resume -q", model, tok), 0);
	assert_non_null(strstr(err_buf, "recorded 3 samples"));
	assert_int_equal(count_runs("z.db"), 1);
	assert_int_equal(sqlite3_open(p, &h), SQLITE_OK);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(h, "SELECT count(*), count(DISTINCT idx), min(idx), "
	                 "max(idx), (SELECT status FROM runs) FROM samples", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 5);
	assert_int_equal(sqlite3_column_int(st, 1), 5);
	assert_int_equal(sqlite3_column_int(st, 2), 0);
	assert_int_equal(sqlite3_column_int(st, 3), 4);
	assert_string_equal((const char *)sqlite3_column_text(st, 4), "done");
	sqlite3_finalize(st);
	/* every sample has all its maps */
	assert_int_equal(sqlite3_prepare_v2(h, "SELECT count(*) FROM attention", -1, &st, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(st, 0), 5 * 5 * 8);
	sqlite3_finalize(st);
	sqlite3_close(h);
	/* a new record without --resume adds a second run */
	assert_int_equal(run("record --model '%s' --tokenizer '%s' --data five.txt --db z.db -q",
	                     model, tok), 0);
	assert_int_equal(count_runs("z.db"), 2);
}

/* BART and T5: (source, target) pairs recorded and exported per kind equal
 * the references (f32); generation records every step. */
static void
test_encdec_record(void **state)
{
	(void)state;
	char models[2][512];
	const char *m0 = shared_path("models/tiny-bart/hf");
	snprintf(models[0], sizeof models[0], "%s", m0 ? m0 : "");
	const char *m1 = shared_path("models/tiny-t5/hf");
	snprintf(models[1], sizeof models[1], "%s", m1 ? m1 : "");
	const char *refs[2] = { "models/tiny-bart/reference.npz", "models/tiny-t5/reference.npz" };
	const char *pairs[2] = { "models/tiny-bart/pairs.json", "models/tiny-t5/pairs.json" };
	for (int k = 0; k < 2; k++) {
		const char *ref = shared_path(refs[k]), *pj = shared_path(pairs[k]);
		if (!models[k][0] || !ref || !pj)
			fail_msg("reference data missing");
		/* the first pair's texts from pairs.json, as a JSONL sample */
		json_error_t je;
		json_t *j = json_load_file(pj, 0, &je);
		assert_non_null(j);
		json_t *p0 = json_array_get(j, 0), *line = json_object();
		json_object_set(line, "source", json_object_get(p0, "src_text"));
		json_object_set(line, "target", json_object_get(p0, "tgt_text"));
		char data[64], db[64];
		snprintf(data, sizeof data, "pair%d.jsonl", k);
		snprintf(db, sizeof db, "pair%d.db", k);
		char *txt = json_dumps(line, JSON_COMPACT);
		char p[512];
		snprintf(p, sizeof p, "%s/%s", tmp, data);
		FILE *f = fopen(p, "w");
		fprintf(f, "%s\n", txt);
		fclose(f);
		free(txt);
		json_decref(line);
		json_decref(j);
		assert_int_equal(run("record --model '%s' --data %s --db %s --encoding f32 -q",
		                     models[k], data, db), 0);
		struct npz *z = npz_open(ref);
		assert_non_null(z);
		static const char *const kinds[3] = { "encoder", "decoder", "cross" };
		static const char *const keys[3] = { "enc_attn", "dec_self_attn", "cross_attn" };
		for (int q = 0; q < 3; q++) {
			struct npy_array want = { 0 }, got = { 0 };
			assert_int_equal(npz_get(z, keys[q], &want), 0);
			assert_int_equal(run("export --db %s --sample 0 --kind %s --format npy -o %s.npy",
			                     db, kinds[q], kinds[q]), 0);
			snprintf(p, sizeof p, "%s/%s.npy", tmp, kinds[q]);
			assert_int_equal(npy_read(p, &got), 0);
			assert_int_equal(got.ndim, 4);
			assert_int_equal(got.n, want.n);
			for (int d = 0; d < 4; d++)
				assert_int_equal(got.shape[d], want.shape[d]);
			for (size_t i = 0; i < got.n; i++)
				if (!(fabs(got.fdata[i] - want.fdata[i]) < 1e-4))
					fail_msg("%s %s[%zu]: %g vs %g", models[k], kinds[q], i,
					         got.fdata[i], want.fdata[i]);
			npy_array_release(&want);
			npy_array_release(&got);
		}
		npz_close(z);
		assert_int_equal(run("export --db %s --sample 0 --layer 0 --head 0 --kind cross "
		                     "--format png -o cross.png", db), 0);
	}
	/* generation from a source: every step recorded */
	const char src[] = "The quick brown fox jumps over the lazy dog.\n";
	write_file("src.txt", src, sizeof src - 1);
	assert_int_equal(run("record --model '%s' --data src.txt --generate 6 --db gen.db -q",
	                     models[1]), 0);
	assert_int_equal(run("export --db gen.db --sample 0 --kind decoder --format npy -o g.npy"), 0);
	assert_int_equal(run("record --model '%s' --data src.txt --db gen2.db -q", models[1]), 1);
	assert_one_error_line("--generate");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_help_everywhere),
		cmocka_unit_test(test_demo),
		/* the rest need ../shared */
		cmocka_unit_test(test_tokenize_and_generate),
		cmocka_unit_test(test_record_export_roundtrip),
		cmocka_unit_test(test_bad_inputs),
		cmocka_unit_test(test_resume),
		cmocka_unit_test(test_encdec_record),
	};
	size_t n = shared_path("models/stories260K/stories260K.bin") &&
	           shared_path("models/stories260K/tok512.bin") &&
	           shared_path("models/stories260K/reference-greedy.json")
	           ? sizeof tests / sizeof tests[0] : 2;
	if (n == 2)
		printf("# ATTNSCOPE_SHARED unset or stories260K absent: golden cases not run\n");
	return _cmocka_run_group_tests("cli", tests, n, setup, teardown);
}

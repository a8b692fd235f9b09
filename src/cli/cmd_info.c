/* cmd_info.c — `attnscope info` (a model or a database) and `attnscope ls`. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../../db/store.h"
#include "../model/model.h"
#include "../util/util.h"
#include "cli.h"

static const char info_help[] =
"usage: attnscope info FILE\n"
"\n"
"Describe a model file (format, architecture, dimensions, parameters,\n"
"sha256) or an attnscope database (schema version, runs).\n";

static const char ls_help[] =
"usage: attnscope ls --db FILE [runs|samples] [--run ID]\n"
"\n"
"List the runs of a database (default), or the samples of a run (latest\n"
"run unless --run): one line each with index, token count, loss and text.\n";

static bool
is_sqlite(const char *path)
{
	char magic[16] = { 0 };
	FILE *f = fopen(path, "rb");
	if (!f)
		return false;
	size_t n = fread(magic, 1, 16, f);
	fclose(f);
	return n == 16 && memcmp(magic, "SQLite format 3", 16) == 0;
}

static void
fmt_when(char *buf, size_t n, double t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (t <= 0 || !localtime_r(&tt, &tm))
		snprintf(buf, n, "-");
	else
		strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm);
}

static int
print_run(void *ctx, const struct store_run_info *r)
{
	char when[32];
	fmt_when(when, sizeof when, r->started);
	printf("%-5" PRId64 " %-8s %6" PRId64 "/%-6" PRId64 " %-19s %s\n", r->id, r->status,
	       r->n_samples, r->n_total, when, r->dataset);
	return 0;
}

static int
info_db(const char *path)
{
	int rc;
	struct store *s = store_open(path, STORE_READONLY, &rc);
	if (!s)
		return cli_fail(rc);
	printf("database     %s\nschema       version %d\n", path, STORE_SCHEMA_VERSION);
	printf("\nrun   status   samples       started             dataset\n");
	rc = store_each_run(s, print_run, NULL);
	store_close(s);
	return rc ? cli_fail(rc) : 0;
}

static int
info_model(const char *path)
{
	int rc;
	struct model *m = model_open(path, &rc);
	if (!m)
		return cli_fail(rc);
	const struct model_config *c = model_config(m);
	char sha[65];
	model_sha256(m, sha);
	size_t D = (size_t)c->d_model, F = (size_t)c->d_ff, L = (size_t)c->n_layer;
	size_t Dkv = (size_t)c->d_head * c->n_kv_head, V = (size_t)c->vocab_size;
	size_t params = V * D + L * (2 * D + 2 * D * D + 2 * Dkv * D + 3 * F * D) + D +
	                (c->shared_classifier ? 0 : V * D);
	printf("model        %s\n", path);
	printf("format       %s\n", model_format_name(c->format));
	printf("architecture %s (%s attention, RoPE theta %g, %s pairs)\n",
	       model_arch_name(c->arch), c->causal ? "causal" : "bidirectional",
	       c->rope_theta, c->rope == MODEL_ROPE_ADJACENT ? "adjacent" : "half");
	printf("layers       %d\n", c->n_layer);
	printf("heads        %d query, %d key/value (%s), head width %d\n", c->n_head,
	       c->n_kv_head, c->n_kv_head < c->n_head ? "grouped-query" : "multi-head",
	       c->d_head);
	printf("width        %d (MLP %d)\n", c->d_model, c->d_ff);
	printf("vocabulary   %d (classifier %s)\n", c->vocab_size,
	       c->shared_classifier ? "tied to the embedding" : "separate");
	printf("context      %d tokens\n", c->n_ctx);
	printf("parameters   %zu (float32)\n", params);
	printf("sha256       %s\n", sha);
	model_close(m);
	return 0;
}

int
cmd_info(int argc, char **argv)
{
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		fputs(info_help, stdout);
		return 0;
	}
	if (argc != 2 || argv[1][0] == '-')
		return cli_usage_error("info", "expects one FILE");
	return is_sqlite(argv[1]) ? info_db(argv[1]) : info_model(argv[1]);
}

static int
print_sample(void *ctx, const struct store_sample_info *x)
{
	char text[160];
	cli_escape_piece(x->text ? x->text : "(token ids)", text, sizeof text);
	if (strlen(text) > 100)
		strcpy(text + 97, "...");
	printf("%-6" PRId64 " %6d  %8.4f  %s\n", x->index, x->n_tok, x->loss, text);
	return 0;
}

int
cmd_ls(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, 0, 'b' },
		{ "run", required_argument, 0, 'r' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *db = NULL;
	long run = 0;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'b': db = optarg; break;
		case 'r':
			if (!cli_parse_long("ls", "--run", optarg, 1, INT64_MAX, &run))
				return 2;
			break;
		case 'h': fputs(ls_help, stdout); return 0;
		default:
			return cli_usage_error("ls", "unknown or incomplete option '%s'",
			                       argv[optind - 1]);
		}
	}
	const char *what = optind < argc ? argv[optind++] : "runs";
	if (optind < argc)
		return cli_usage_error("ls", "unexpected argument '%s'", argv[optind]);
	if (!db)
		return cli_usage_error("ls", "--db is required");
	bool samples = strcmp(what, "samples") == 0;
	if (!samples && strcmp(what, "runs") != 0)
		return cli_usage_error("ls", "lists 'runs' or 'samples', not '%s'", what);
	int rc;
	struct store *s = store_open(db, STORE_READONLY, &rc);
	if (!s)
		return cli_fail(rc);
	if (!samples) {
		printf("run   status   samples       started             dataset\n");
		rc = store_each_run(s, print_run, NULL);
	} else {
		int64_t id = run;
		if (!id && (rc = store_latest_run(s, &id)) != 0) {
			err_set(rc, "database '%s' has no runs yet", db);
			goto out;
		}
		struct store_run_info ri;
		if ((rc = store_get_run(s, id, &ri)) != 0) {
			err_set(rc, "database '%s' has no run %" PRId64, db, id);
			goto out;
		}
		printf("index  tokens      loss  text\n");
		rc = store_each_sample(s, id, print_sample, NULL);
	}
out:
	store_close(s);
	return rc ? cli_fail(rc) : 0;
}

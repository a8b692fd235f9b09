/*
 * demo.c — `attnscope demo`: the embedded default. Writes the built-in
 * model (constructed weights with known heads), its tokenizer and samples,
 * records them, analyses the run (`attnscope analyze`), prints the roles
 * found next to the roles built, and exports figures.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../analysis/analysis.h"
#include "../demo/demo.h"
#include "../record/record.h"
#include "../util/util.h"
#include "cli.h"

static const char demo_help[] =
"usage: attnscope demo [--out DIR] [-q]\n"
"\n"
"The embedded default, nothing downloaded: writes a small Llama-architecture\n"
"model whose heads are built by hand (a previous-token head, a first-token\n"
"sink, a self head, a broad head, and an induction head that composes with\n"
"the previous-token head), records it over the built-in samples into\n"
"DIR/demo.db, analyses the run (attnscope analyze: metrics and head roles),\n"
"prints the roles found next to the roles built, and exports PNG figures of\n"
"the designed heads. DIR defaults to ./attnscope-demo.\n";

struct role {
	int layer, head;
	const char *name;
	long sample;
};

static const struct role roles[] = {
	{ DEMO_PREV_LAYER, DEMO_PREV_HEAD, "previous-token", 0 },
	{ DEMO_SINK_LAYER, DEMO_SINK_HEAD, "first-token sink", 0 },
	{ DEMO_SELF_LAYER, DEMO_SELF_HEAD, "self", 0 },
	{ DEMO_BROAD_LAYER, DEMO_BROAD_HEAD, "broad", 0 },
	{ DEMO_INDUCTION_LAYER, DEMO_INDUCTION_HEAD, "induction", 3 },
};

static int
join(char *buf, size_t n, const char *dir, const char *name)
{
	if ((size_t)snprintf(buf, n, "%s/%s", dir, name) >= n)
		return err_set(ERR_RANGE, "path '%s/%s' is too long", dir, name);
	return 0;
}

static int
remove_db(const char *db)
{
	static const char *const sfx[] = { "", "-wal", "-shm" };
	for (int i = 0; i < 3; i++) {
		char p[4096];
		snprintf(p, sizeof p, "%s%s", db, sfx[i]);
		if (unlink(p) != 0 && errno != ENOENT)
			return err_set(ERR_IO, "cannot remove '%s': %s", p, strerror(errno));
	}
	return 0;
}

/* mean of one statistic over the run's samples */
struct stat_acc {
	struct store *s;
	int layer, head;
	double sum[ANA_STAT_COUNT];
	long n;
};

static int
acc_sample(void *ctx, const struct store_sample_info *x)
{
	struct stat_acc *a = ctx;
	for (int k = 0; k < ANA_STAT_COUNT; k++) {
		double v;
		int rc = store_get_head_stat(a->s, x->id, a->layer, a->head,
		                             ana_stat_name((enum ana_stat)k), &v);
		if (rc)
			return rc;
		a->sum[k] += v;
	}
	a->n++;
	return 0;
}

static int
print_stats(const char *db, int64_t run_id)
{
	int rc;
	struct store *s = store_open(db, STORE_READONLY, &rc);
	if (!s)
		return rc;
	printf("\nper-head statistics, mean over the samples (definitions: db/schema.sql)\n");
	printf("head   prev_token  first_token   self   entropy  distance  built as\n");
	for (int l = 0; l < 2 && !rc; l++)
		for (int h = 0; h < 4 && !rc; h++) {
			struct stat_acc a = { .s = s, .layer = l, .head = h };
			if ((rc = store_each_sample(s, run_id, acc_sample, &a)) != 0)
				break;
			const char *role = "random (no designed role)";
			for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
				if (roles[i].layer == l && roles[i].head == h)
					role = roles[i].name;
			double n = a.n ? (double)a.n : NAN;
			printf("L%dH%d   %10.3f  %11.3f  %5.3f  %8.3f  %8.2f  %s\n", l, h,
			       a.sum[ANA_PREV_TOKEN] / n, a.sum[ANA_FIRST_TOKEN] / n,
			       a.sum[ANA_SELF] / n, a.sum[ANA_ENTROPY] / n,
			       a.sum[ANA_DISTANCE] / n, role);
		}
	store_close(s);
	return rc;
}

/* roles found by the analysis, one bit set per role of ana_role */
struct found_roles {
	unsigned roles[2][4];
};

static int
collect_role(void *ctx, const struct store_role *r)
{
	struct found_roles *f = ctx;
	for (int k = 0; k < ANA_ROLE_COUNT; k++)
		if (r->layer < 2 && r->head < 4 &&
		    strcmp(r->role, ana_role_rule((enum ana_role)k)->name) == 0)
			f->roles[r->layer][r->head] |= 1u << k;
	return 0;
}

/* The role each designed head should get from the analysis. */
static int
designed_role(int layer, int head)
{
	if (layer == DEMO_PREV_LAYER && head == DEMO_PREV_HEAD)
		return ANA_ROLE_PREV;
	if (layer == DEMO_SINK_LAYER && head == DEMO_SINK_HEAD)
		return ANA_ROLE_SINK;
	if (layer == DEMO_SELF_LAYER && head == DEMO_SELF_HEAD)
		return ANA_ROLE_SELF;
	if (layer == DEMO_BROAD_LAYER && head == DEMO_BROAD_HEAD)
		return ANA_ROLE_BROAD;
	if (layer == DEMO_INDUCTION_LAYER && head == DEMO_INDUCTION_HEAD)
		return ANA_ROLE_INDUCTION;
	return -1;
}

/* Run `attnscope analyze` on the demo run, then print the roles it found
 * next to the roles built. */
static int
analyse_and_compare(const char *db, int64_t run_id)
{
	char run[32];
	snprintf(run, sizeof run, "%" PRId64, run_id);
	char *av[] = { "analyze", "--db", (char *)db, "--run", run, "-q", NULL };
	printf("\nattnscope analyze --db %s (metrics: src/analysis/analysis.h)\n", db);
	fflush(stdout);
	/* -q: eight samples need no progress bar */
	if (cmd_analyze(6, av) != 0)
		return 1;
	int rc;
	struct store *s = store_open(db, STORE_READONLY, &rc);
	if (!s)
		return cli_fail(rc);
	struct found_roles f = { 0 };
	rc = store_each_role(s, run_id, collect_role, &f);
	store_close(s);
	if (rc)
		return cli_fail(rc);
	printf("\nroles found by the analysis (thresholds in db/schema.sql, head_roles):\n");
	int agree = 0;
	for (int l = 0; l < 2; l++)
		for (int h = 0; h < 4; h++) {
			char found[128] = "";
			size_t off = 0;
			for (int k = 0; k < ANA_ROLE_COUNT; k++)
				if (f.roles[l][h] & 1u << k)
					off += (size_t)snprintf(found + off, sizeof found - off, "%s%s",
					                        off ? ", " : "",
					                        ana_role_rule((enum ana_role)k)->name);
			int want = designed_role(l, h);
			/* a designed head must have its role, the others none of the
			 * designed ones */
			unsigned designed = 1u << ANA_ROLE_PREV | 1u << ANA_ROLE_SINK |
			                    1u << ANA_ROLE_SELF | 1u << ANA_ROLE_BROAD |
			                    1u << ANA_ROLE_INDUCTION;
			bool ok = want >= 0 ? (f.roles[l][h] & designed) == 1u << want
			                    : (f.roles[l][h] & designed) == 0;
			agree += ok;
			printf("  L%dH%d  %-24s built as %-26s %s\n", l, h, off ? found : "-",
			       want >= 0 ? ana_role_rule((enum ana_role)want)->name
			                 : "random (no designed role)",
			       ok ? "ok" : "MISMATCH");
		}
	printf("%d of 8 heads as designed\n", agree);
	return 0;
}

static void
on_progress(void *ctx, long done, long total, long tokens)
{
	progress_update(ctx, done, total, tokens);
}

int
cmd_demo(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, 0, 'o' },
		{ "quiet", no_argument, 0, 'q' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *dir = "attnscope-demo";
	bool quiet = false;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "o:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'o': dir = optarg; break;
		case 'q': quiet = true; break;
		case 'h': fputs(demo_help, stdout); return 0;
		default:
			return cli_usage_error("demo", "unknown or incomplete option '%s'",
			                       argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error("demo", "unexpected argument '%s'", argv[optind]);

	char model[4096], tok[4096], data[4096], db[4096];
	int rc;
	if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
		err_set(ERR_IO, "cannot create '%s': %s", dir, strerror(errno));
		return cli_fail(ERR_IO);
	}
	if ((rc = join(model, sizeof model, dir, "demo-model.bin")) ||
	    (rc = join(tok, sizeof tok, dir, "tokenizer.bin")) ||
	    (rc = join(data, sizeof data, dir, "samples.txt")) ||
	    (rc = join(db, sizeof db, dir, "demo.db")))
		return cli_fail(rc);
	if ((rc = demo_write_model(model, tok)) != 0)
		return cli_fail(rc);
	FILE *f = fopen(data, "w");
	if (!f || fputs(demo_samples(), f) < 0 || fclose(f) != 0) {
		err_set(ERR_IO, "cannot write '%s'", data);
		return cli_fail(ERR_IO);
	}
	if ((rc = remove_db(db)) != 0)
		return cli_fail(rc);

	printf("attnscope demo: a 2-layer, 4-head Llama built by hand, over %s\n", data);
	struct progress pr;
	progress_init(&pr, "samples", quiet);
	struct rec_options o = {
		.model_path = model, .tokenizer_path = tok, .db_path = db,
		.data_path = data, .enc = REC_DEFAULT_ENC,
		.progress = on_progress,
		.progress_ctx = &pr,
	};
	struct rec_result res;
	rc = rec_run(&o, &res);
	progress_finish(&pr);
	if (rc)
		return cli_fail(rc);
	printf("recorded %ld samples (%ld tokens) into %s in %.2f s\n", res.n_samples,
	       res.n_tokens, db, res.seconds);

	if ((rc = print_stats(db, res.run_id)) != 0)
		return cli_fail(rc);
	if (analyse_and_compare(db, res.run_id) != 0)
		return 1;

	printf("\nfigures:\n");
	for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
		char png[4096], name[64], ls[16], hs[16], ss[16];
		snprintf(name, sizeof name, "L%dH%d-%s.png", roles[i].layer, roles[i].head,
		         roles[i].layer == 1 ? "induction" :
		         roles[i].head == 0 ? "previous-token" :
		         roles[i].head == 1 ? "sink" : roles[i].head == 2 ? "self" : "broad");
		if ((rc = join(png, sizeof png, dir, name)) != 0)
			return cli_fail(rc);
		snprintf(ls, sizeof ls, "%d", roles[i].layer);
		snprintf(hs, sizeof hs, "%d", roles[i].head);
		snprintf(ss, sizeof ss, "%ld", roles[i].sample);
		char *ev[] = { "export", "--db", db, "--sample", ss, "--layer", ls, "--head", hs,
		               "--format", "png", "-o", png, NULL };
		if (cmd_export(13, ev) != 0)
			return 1;
		printf("  %-40s %s head, sample %ld\n", png, roles[i].name, roles[i].sample);
	}
	printf("\nnext:\n"
	       "  attnscope ls --db %s samples\n"
	       "  attnscope export --db %s --sample 3 --layer 1 --head 0 --format npy -o induction.npy\n"
	       "  attnscope analyze --db %s --rank 1.0 induction\n"
	       "  attnscope analyze --db %s --similarity heads.csv --similarity-png heads.png\n"
	       "  attnscope probe induction --model %s --db probe.db\n"
	       "  attnscope info %s\n"
	       "  sqlite3 %s \"SELECT layer, head, metric, avg(value) FROM head_stats GROUP BY 1,2,3\"\n",
	       db, db, db, db, model, model, db);
	return 0;
}

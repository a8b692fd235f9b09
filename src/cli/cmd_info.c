/* cmd_info.c — `attnscope info` (a model or a database) and `attnscope ls`. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../../db/store.h"
#include "../model/model.h"
#include "../record/record.h"
#include "../tokenizer/tokenizer.h"
#include "../util/util.h"
#include "cli.h"

static const char info_help[] =
"usage: attnscope info FILE\n"
"\n"
"Describe a model (a GGUF file, a Hugging Face directory or a llama2.c\n"
"checkpoint: format, architecture, dimensions, tensor types and what was\n"
"dequantized, parameters, sha256, tokenizer and its special tokens), a\n"
"vocabulary-only GGUF, or an attnscope database (schema version, runs).\n";

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
	struct store *s = ctx;
	char when[32];
	fmt_when(when, sizeof when, r->started);
	struct store_model_info mi;
	const char *model = s && store_get_model(s, r->model_id, &mi) == 0 ? mi.name : "?";
	printf("%-5" PRId64 " %-8s %6" PRId64 "/%-6" PRId64 " %-19s %-24s %s\n", r->id,
	       r->status, r->n_samples, r->n_total, when, model, r->dataset);
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
	printf("\nrun   status   samples       started             model                    dataset\n");
	rc = store_each_run(s, print_run, s);
	store_close(s);
	return rc ? cli_fail(rc) : 0;
}

static void
print_tokenizer(const struct tokenizer *t)
{
	char buf[128];
	printf("tokenizer    %s, %d tokens", tok_kind_name(tok_kind(t)), tok_vocab_size(t));
	if (tok_pre_name(t))
		printf(", pre-tokenizer %s", tok_pre_name(t));
	printf("; adds %s\n", tok_special_policy(t));
	printf("special      ");
	const struct { const char *name; int id; } sp[] = {
		{ "bos", tok_bos(t) }, { "eos", tok_eos(t) }, { "unk", tok_unk(t) },
		{ "cls", tok_cls(t) }, { "sep", tok_sep(t) }, { "pad", tok_pad(t) },
	};
	bool any = false;
	for (size_t i = 0; i < sizeof sp / sizeof sp[0]; i++) {
		if (sp[i].id < 0)
			continue;
		const char *p = tok_piece(t, sp[i].id);
		printf("%s%s %d '%s'", any ? ", " : "", sp[i].name, sp[i].id,
		       cli_escape_piece(p ? p : "?", buf, sizeof buf));
		any = true;
	}
	printf("%s\n", any ? "" : "none");
}

static int
info_model(const char *path)
{
	int rc;
	struct model *m = model_open(path, &rc);
	if (!m) {
		/* a vocabulary-only GGUF is no model but has a tokenizer to show */
		char msg[512];
		snprintf(msg, sizeof msg, "%s", err_msg(rc));
		struct tokenizer *t = strstr(msg, "holds no tensors") ? tok_open_path(path, 0, NULL)
		                                                       : NULL;
		if (!t) {
			err_set(rc, "%s", msg);
			return cli_fail(rc);
		}
		printf("file         %s (vocabulary only: no tensors)\n", path);
		print_tokenizer(t);
		tok_free(t);
		return 0;
	}
	const struct model_config *c = model_config(m);
	char sha[65];
	model_sha256(m, sha);
	struct tokenizer *t = rec_open_tokenizer(m, path, NULL, &rc);
	printf("model        %s\n", path);
	printf("format       %s (%s)\n", model_format_name(c->format), c->name);
	if (c->encdec) {
		printf("architecture %s (encoder-decoder: bidirectional encoder, causal decoder "
		       "with cross-attention, ", model_arch_name(c->arch));
		if (c->arch == MODEL_ARCH_T5)
			printf("relative positions in %d buckets up to distance %d)\n",
			       c->n_rel_bucket, c->rel_max_distance);
		else
			printf("%d learned positions)\n", c->n_pos);
		printf("layers       %d encoder, %d decoder\n", c->n_layer, c->n_dec_layer);
		char b1[128], b2[128];
		const char *ps = t ? tok_piece(t, c->decoder_start) : NULL;
		const char *pe = t && c->eos_id >= 0 ? tok_piece(t, c->eos_id) : NULL;
		printf("decoder      starts with %d '%s', ends at %d '%s'\n", c->decoder_start,
		       cli_escape_piece(ps ? ps : "?", b1, sizeof b1), c->eos_id,
		       cli_escape_piece(pe ? pe : "?", b2, sizeof b2));
	} else {
		printf("architecture %s (%s attention", model_arch_name(c->arch),
		       c->causal ? "causal" : "bidirectional");
		if (c->arch == MODEL_ARCH_LLAMA)
			printf(", RoPE theta %g on %s", c->rope_theta,
			       c->rope == MODEL_ROPE_ADJACENT ? "adjacent pairs" : "halves");
		else
			printf(", %d learned positions", c->n_pos);
		printf(")\n");
		printf("layers       %d\n", c->n_layer);
	}
	printf("heads        %d query, %d key/value (%s), head width %d\n", c->n_head,
	       c->n_kv_head, c->n_kv_head < c->n_head ? "grouped-query" : "multi-head",
	       c->d_head);
	if (c->encdec)
		printf("width        %d (feed-forward %d, %s%s), norm eps %g\n", c->d_model, c->d_ff,
		       c->gated_ffn ? "gated " : "", c->act, c->norm_eps);
	else
		printf("width        %d (MLP %d), norm eps %g\n", c->d_model, c->d_ff, c->norm_eps);
	printf("vocabulary   %d (%s)\n", c->vocab_size,
	       !c->has_lm_head ? "encoder: no language-model head"
	       : c->shared_classifier ? "classifier tied to the embedding" : "separate classifier");
	if (c->arch == MODEL_ARCH_T5)
		printf("context      no limit of its own (relative positions)\n");
	else
		printf("context      %d tokens%s\n", c->n_ctx,
		       c->encdec ? " each for source and target" : "");
	printf("parameters   %zu (held as float32)\n", model_n_params(m));
	printf("tensors      %s\n", model_tensor_summary(m));
	printf("sha256       %s\n", sha);
	if (t)
		print_tokenizer(t);
	else
		printf("tokenizer    none found (%s)\n", err_msg(rc));
	tok_free(t);
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
		printf("run   status   samples       started             model                    dataset\n");
		rc = store_each_run(s, print_run, s);
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

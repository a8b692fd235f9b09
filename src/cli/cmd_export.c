/*
 * cmd_export.c — `attnscope export`: one head's map (or all heads of a
 * sample) as npy, csv, json or a png figure.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../db/store.h"
#include "../render/render.h"
#include "../util/util.h"
#include "cli.h"

static const char export_help[] =
"usage: attnscope export --db FILE [--run ID] --sample N [--layer L --head H]\n"
"                        --format npy|csv|json|png -o FILE\n"
"\n"
"Write recorded attention. With --layer and --head, one head's map:\n"
"  npy   float32 [T, T], C order, the full square (zeros above the diagonal\n"
"        for causal models): numpy.load(FILE)\n"
"  csv   T lines of T comma-separated values: numpy.loadtxt(FILE, delimiter=',')\n"
"  json  {\"run\", \"sample\", \"layer\", \"head\", \"tokens\": [...], \"attention\": [[...]]}\n"
"  png   a heatmap with the token pieces on both axes, a colour bar and a title\n"
"Without --layer/--head, npy holds the whole sample as float32 [L, H, T, T].\n"
"The latest run is used unless --run is given. -o - writes npy/csv/json to\n"
"standard output.\n"
"\n"
"  --scale linear|log|rank   png colour scale (default linear)\n"
"  --cmap viridis|magma|grey png colormap (default viridis)\n"
"  --no-first                png: leave the first-token column out of the scale\n";

enum fmt { FMT_NPY, FMT_CSV, FMT_JSON, FMT_PNG };

/* numpy .npy v1.0 header for float32 C-order data */
static int
write_npy_header(FILE *f, int ndim, const int *shape)
{
	char dict[256];
	int n = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
	for (int i = 0; i < ndim; i++)
		n += snprintf(dict + n, sizeof dict - (size_t)n, "%d,%s", shape[i],
		              i + 1 < ndim ? " " : "");
	n += snprintf(dict + n, sizeof dict - (size_t)n, "), }");
	/* pad with spaces so magic(6)+version(2)+len(2)+dict+'\n' is a multiple of 64 */
	int total = 10 + n + 1;
	int pad = (64 - total % 64) % 64;
	uint16_t hl = (uint16_t)(n + pad + 1);
	unsigned char head[10] = { 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0,
	                           (unsigned char)(hl & 0xff), (unsigned char)(hl >> 8) };
	if (fwrite(head, 1, 10, f) != 10 || fwrite(dict, 1, (size_t)n, f) != (size_t)n)
		return ERR_IO;
	for (int i = 0; i < pad; i++)
		fputc(' ', f);
	fputc('\n', f);
	return ferror(f) ? ERR_IO : 0;
}

static FILE *
open_out(const char *path, bool binary)
{
	if (strcmp(path, "-") == 0)
		return stdout;
	FILE *f = fopen(path, binary ? "wb" : "w");
	if (!f)
		err_set(ERR_IO, "cannot write '%s': %s", path, strerror(errno));
	return f;
}

static int
close_out(FILE *f, const char *path)
{
	int bad = ferror(f);
	if (f != stdout)
		bad |= fclose(f) != 0;
	else
		bad |= fflush(f) != 0;
	return bad ? err_set(ERR_IO, "cannot write '%s'", path) : 0;
}

static int
export_csv(const char *path, const float *A, int nq, int nk)
{
	FILE *f = open_out(path, false);
	if (!f)
		return ERR_IO;
	for (int i = 0; i < nq; i++)
		for (int j = 0; j < nk; j++)
			fprintf(f, "%.9g%c", A[(size_t)i * nk + j], j + 1 < nk ? ',' : '\n');
	return close_out(f, path);
}

static int
export_json(const char *path, int64_t run, long sample, int layer, int head,
            const struct store_token *toks, int n_tok, const float *A, int nq, int nk)
{
	json_t *o = json_object(), *tk = json_array(), *rows = json_array();
	for (int i = 0; i < n_tok; i++)
		json_array_append_new(tk, json_pack("{s:i, s:s?}", "id", toks[i].id,
		                                    "piece", toks[i].piece));
	for (int i = 0; i < nq; i++) {
		json_t *r = json_array();
		for (int j = 0; j < nk; j++) {
			float v = A[(size_t)i * nk + j];
			json_array_append_new(r, isfinite(v) ? json_real(v) : json_null());
		}
		json_array_append_new(rows, r);
	}
	json_object_set_new(o, "run", json_integer(run));
	json_object_set_new(o, "sample", json_integer(sample));
	json_object_set_new(o, "layer", json_integer(layer));
	json_object_set_new(o, "head", json_integer(head));
	json_object_set_new(o, "tokens", tk);
	json_object_set_new(o, "attention", rows);
	FILE *f = open_out(path, false);
	int rc = ERR_IO;
	if (f) {
		rc = json_dumpf(o, f, JSON_REAL_PRECISION(9) | JSON_COMPACT) ? ERR_IO : 0;
		fputc('\n', f);
		int rc2 = close_out(f, path);
		if (!rc)
			rc = rc2;
		else
			err_set(ERR_IO, "cannot write '%s'", path);
	}
	json_decref(o);
	return rc;
}

int
cmd_export(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "db", required_argument, 0, 'b' },
		{ "run", required_argument, 0, 'r' },
		{ "sample", required_argument, 0, 's' },
		{ "layer", required_argument, 0, 'l' },
		{ "head", required_argument, 0, 'H' },
		{ "format", required_argument, 0, 'f' },
		{ "output", required_argument, 0, 'o' },
		{ "scale", required_argument, 0, 'S' },
		{ "cmap", required_argument, 0, 'c' },
		{ "no-first", no_argument, 0, 'F' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *db = NULL, *out = NULL, *fmt_s = NULL;
	long run = 0, sample = -1, layer = -1, head = -1;
	struct render_heatmap_opts ro;
	render_heatmap_opts_init(&ro);
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'b': db = optarg; break;
		case 'o': out = optarg; break;
		case 'f': fmt_s = optarg; break;
		case 'r':
			if (!cli_parse_long("export", "--run", optarg, 1, INT64_MAX, &run))
				return 2;
			break;
		case 's':
			if (!cli_parse_long("export", "--sample", optarg, 0, INT64_MAX, &sample))
				return 2;
			break;
		case 'l':
			if (!cli_parse_long("export", "--layer", optarg, 0, 1 << 20, &layer))
				return 2;
			break;
		case 'H':
			if (!cli_parse_long("export", "--head", optarg, 0, 1 << 20, &head))
				return 2;
			break;
		case 'S':
			if (render_scale_parse(optarg, &ro.scale) != 0)
				return cli_usage_error("export", "--scale is linear, log or rank");
			break;
		case 'c':
			if (render_cmap_parse(optarg, &ro.cmap) != 0)
				return cli_usage_error("export", "--cmap is viridis, magma or grey");
			break;
		case 'F': ro.suppress_first = true; break;
		case 'h': fputs(export_help, stdout); return 0;
		default:
			return cli_usage_error("export", "unknown or incomplete option '%s'",
			                       argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error("export", "unexpected argument '%s'", argv[optind]);
	if (!db)
		return cli_usage_error("export", "--db is required");
	if (sample < 0)
		return cli_usage_error("export", "--sample is required");
	if (!out)
		return cli_usage_error("export", "-o FILE is required");
	enum fmt fmt;
	if (!fmt_s)
		return cli_usage_error("export", "--format is required");
	else if (strcmp(fmt_s, "npy") == 0)
		fmt = FMT_NPY;
	else if (strcmp(fmt_s, "csv") == 0)
		fmt = FMT_CSV;
	else if (strcmp(fmt_s, "json") == 0)
		fmt = FMT_JSON;
	else if (strcmp(fmt_s, "png") == 0)
		fmt = FMT_PNG;
	else
		return cli_usage_error("export", "--format is npy, csv, json or png, not '%s'",
		                       fmt_s);
	if ((layer < 0) != (head < 0))
		return cli_usage_error("export", "give --layer and --head together");
	if (layer < 0 && fmt != FMT_NPY)
		return cli_usage_error("export", "--format %s needs --layer and --head", fmt_s);
	if (fmt == FMT_PNG && strcmp(out, "-") == 0)
		return cli_usage_error("export", "png needs a file name for -o");

	int rc;
	float *A = NULL, *all = NULL;
	struct store_token *toks = NULL;
	char **labels = NULL;
	int n_tok = 0;
	struct store *s = store_open(db, STORE_READONLY, &rc);
	if (!s)
		return cli_fail(rc);
	int64_t run_id = run;
	if (!run_id && (rc = store_latest_run(s, &run_id)) != 0) {
		err_set(rc, "database '%s' has no runs yet", db);
		goto out;
	}
	struct store_run_info ri;
	if ((rc = store_get_run(s, run_id, &ri)) != 0) {
		err_set(rc, "database '%s' has no run %" PRId64, db, run_id);
		goto out;
	}
	struct store_model_info mi;
	char model_name[256];
	if ((rc = store_get_model(s, ri.model_id, &mi)) != 0)
		goto out;
	snprintf(model_name, sizeof model_name, "%s", mi.name);
	bool causal = strcmp(mi.arch, "bert") != 0;
	struct store_sample_info si;
	if ((rc = store_get_sample(s, run_id, sample, &si)) != 0) {
		err_set(rc, "run %" PRId64 " has no sample %ld (%" PRId64 " recorded)", run_id,
		        sample, ri.n_samples);
		goto out;
	}
	int64_t sid = si.id;
	if (layer < 0) {
		/* the whole sample: [L, H, T, T] */
		int L, H;
		if ((rc = store_attn_dims(s, sid, "self", &L, &H)) != 0)
			goto out;
		if (L == 0) {
			rc = err_set(ERR_NOTFOUND, "sample %ld has no stored attention maps "
			             "(recorded with --capture that left them out?)", sample);
			goto out;
		}
		/* the model's full shape: a capture that left layers out is an
		 * error below, never a silently shifted array */
		L = mi.n_layer;
		H = mi.n_head;
		int T = si.n_tok;
		size_t per = (size_t)T * T;
		if (!(all = calloc((size_t)L * H * per, sizeof *all))) {
			rc = err_set(ERR_NOMEM, "out of memory");
			goto out;
		}
		for (int l = 0; l < L; l++)
			for (int h = 0; h < H; h++) {
				int nq, nk;
				if ((rc = store_get_attn(s, sid, l, h, "self", &A, &nq, &nk)) != 0) {
					if (rc == ERR_NOTFOUND)
						err_set(rc, "sample %ld has no map for layer %d head %d (not "
						        "captured?): export single heads with --layer and "
						        "--head", sample, l, h);
					goto out;
				}
				if (nq != T || nk != T) {
					rc = err_set(ERR_FORMAT, "sample %ld layer %d head %d: map is "
					             "%dx%d but the sample has %d tokens", sample, l, h,
					             nq, nk, T);
					goto out;
				}
				memcpy(all + ((size_t)l * H + h) * per, A, per * sizeof *A);
				free(A);
				A = NULL;
			}
		FILE *f = open_out(out, true);
		if (!f) {
			rc = ERR_IO;
			goto out;
		}
		int shape[4] = { L, H, T, T };
		rc = write_npy_header(f, 4, shape);
		if (!rc && fwrite(all, sizeof *all, (size_t)L * H * per, f) != (size_t)L * H * per)
			rc = ERR_IO;
		int rc2 = close_out(f, out);
		if (rc)
			err_set(rc, "cannot write '%s'", out);
		else
			rc = rc2;
		goto out;
	}

	int nq, nk;
	if ((rc = store_get_attn(s, sid, (int)layer, (int)head, "self", &A, &nq, &nk)) != 0) {
		if (rc == ERR_NOTFOUND)
			err_set(rc, "sample %ld has no map for layer %ld head %ld", sample, layer, head);
		goto out;
	}
	if (fmt == FMT_NPY) {
		FILE *f = open_out(out, true);
		if (!f) {
			rc = ERR_IO;
			goto out;
		}
		int shape[2] = { nq, nk };
		rc = write_npy_header(f, 2, shape);
		if (!rc && fwrite(A, sizeof *A, (size_t)nq * nk, f) != (size_t)nq * nk)
			rc = ERR_IO;
		int rc2 = close_out(f, out);
		if (rc)
			err_set(rc, "cannot write '%s'", out);
		else
			rc = rc2;
		goto out;
	}
	if (fmt == FMT_CSV) {
		rc = export_csv(out, A, nq, nk);
		goto out;
	}
	if ((rc = store_get_tokens(s, sid, &toks, &n_tok)) != 0)
		goto out;
	if (fmt == FMT_JSON) {
		rc = export_json(out, run_id, sample, (int)layer, (int)head, toks, n_tok, A, nq, nk);
		goto out;
	}
	/* png: labels are the token pieces made displayable */
	if (n_tok == nq && n_tok == nk) {
		labels = calloc((size_t)n_tok, sizeof *labels);
		for (int i = 0; labels && i < n_tok; i++) {
			char buf[256];
			const char *p = toks[i].piece ? toks[i].piece : "";
			render_token_label(p, strlen(p), buf, sizeof buf);
			labels[i] = strdup(buf);
		}
	}
	char title[512];
	snprintf(title, sizeof title, "%s · run %" PRId64 " · sample %ld · layer %ld · head %ld",
	         model_name, run_id, sample, layer, head);
	ro.title = title;
	ro.causal = causal;
	ro.q_labels = (const char *const *)labels;
	ro.k_labels = (const char *const *)labels;
	int w, h;
	render_heatmap_size(nq, nk, &w, &h);
	rc = render_heatmap_png(out, w, h, A, nq, nk, &ro);
out:
	if (labels)
		for (int i = 0; i < n_tok; i++)
			free(labels[i]);
	free(labels);
	free(toks);
	free(A);
	free(all);
	store_close(s);
	return rc ? cli_fail(rc) : 0;
}

/*
 * cmd_export.c — `attnscope export`: one head's map (or all heads of a
 * sample) as npy, csv, json or a figure, and the viewer's other figures:
 * the model view (--grid), the dependency graph (--arcs L) and the dataset
 * view (--stats METRIC), each as png, svg or pdf through the same render
 * code the viewer draws with.
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
#include "../analysis/analysis.h"
#include "../render/render.h"
#include "../util/util.h"
#include "cli.h"

static const char export_help[] =
"usage: attnscope export --db FILE [--run ID] --sample N [--layer L --head H]\n"
"                        --format npy|csv|json|png|svg|pdf -o FILE\n"
"       attnscope export --db FILE [--run ID] --sample N --grid --format png|svg|pdf -o FILE\n"
"       attnscope export --db FILE [--run ID] --sample N --arcs L [--head H]\n"
"                        --format png|svg|pdf -o FILE\n"
"       attnscope export --db FILE [--run ID] --stats METRIC --format png|svg|pdf -o FILE\n"
"\n"
"Write recorded attention. With --layer and --head, one head's map:\n"
"  npy   float32 [T, T], C order, the full square (zeros above the diagonal\n"
"        for causal models): numpy.load(FILE)\n"
"  csv   T lines of T comma-separated values: numpy.loadtxt(FILE, delimiter=',')\n"
"  json  {\"run\", \"sample\", \"layer\", \"head\", \"tokens\": [...], \"attention\": [[...]]}\n"
"  png   a heatmap with the token pieces on both axes, a colour bar and a title\n"
"  svg, pdf  the same figure with vector text (and cells up to 256 x 256)\n"
"Without --layer/--head, npy holds the whole sample as float32 [L, H, T, T].\n"
"The latest run is used unless --run is given. -o - writes npy/csv/json to\n"
"standard output.\n"
"\n"
"Figures of the viewer's views (png, svg or pdf):\n"
"  --grid             model view: a thumbnail of every layer x head of the sample\n"
"  --overlay METRIC   with --grid: a bar under each head with the sample's\n"
"                     head statistic (entropy, distance, first_token,\n"
"                     prev_token, self, max_weight)\n"
"  --arcs L           dependency graph of layer L: every head in its own colour,\n"
"                     or only --head H\n"
"  --mean             with --arcs: the mean over the heads, one colour\n"
"  --threshold X      with --arcs: leave out edges below X (default 0.1)\n"
"  --style columns|line  with --arcs: tokens twice side by side (default) or\n"
"                     once on a line with arcs above\n"
"  --stats METRIC     dataset view: layers x heads coloured by the run mean of a\n"
"                     head statistic (no --sample needed)\n"
"  --size WxH         figure size in pixels (points for svg/pdf); default fits\n"
"\n"
"  --scale linear|log|rank   colour scale of heatmaps and thumbnails (default linear)\n"
"  --cmap viridis|magma|grey colormap (default viridis)\n"
"  --no-first                leave the first-token column out of the scale\n"
"  --kind KIND               which maps: encoder, decoder or cross for\n"
"                            encoder–decoder models (BART, T5; default: the\n"
"                            model's only kind, or decoder; npy keeps the map's\n"
"                            own shape, [T, S] for cross), or rollout / flow as\n"
"                            `attnscope analyze --rollout/--flow` stored them\n"
"                            (one map per layer: --head 0)\n";

enum fmt { FMT_NPY, FMT_CSV, FMT_JSON, FMT_PNG, FMT_SVG, FMT_PDF };

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

/* ---- figures of the viewer's views ----------------------------------- */

static enum render_format
render_fmt(enum fmt f)
{
	return f == FMT_SVG ? RENDER_FORMAT_SVG
		: f == FMT_PDF ? RENDER_FORMAT_PDF : RENDER_FORMAT_PNG;
}

/* Token pieces made displayable (as the png heatmap labels them); NULL
 * when the token count does not match `n` (labels fall back to indices). */
static char **
make_labels(const struct store_token *toks, int n_tok, int n)
{
	if (n_tok != n || n_tok <= 0)
		return NULL;
	char **labels = calloc((size_t)n_tok, sizeof *labels);
	for (int i = 0; labels && i < n_tok; i++) {
		char buf[256];
		const char *p = toks[i].piece ? toks[i].piece : "";
		render_token_label(p, strlen(p), buf, sizeof buf);
		labels[i] = strdup(buf);
	}
	return labels;
}

static void
free_labels(char **labels, int n)
{
	if (labels)
		for (int i = 0; i < n; i++)
			free(labels[i]);
	free(labels);
}

struct grid_fig {
	int n_layer, n_head, n_q, n_k;
	const float *const *maps;
	const struct render_heatmap_opts *hopts;
	const struct render_grid_opts *gopts;
};

static int
draw_grid_fig(cairo_t *cr, double w, double h, void *ctx)
{
	const struct grid_fig *g = ctx;
	return render_grid(cr, w, h, g->n_layer, g->n_head, g->maps, g->n_q,
		g->n_k, g->hopts, g->gopts);
}

struct arcs_fig {
	const float *const *maps;
	int n_maps, n_tok;
	const struct render_arcs_opts *opts;
};

static int
draw_arcs_fig(cairo_t *cr, double w, double h, void *ctx)
{
	const struct arcs_fig *a = ctx;
	return render_arcs(cr, w, h, a->maps, a->n_maps, a->n_tok, a->opts);
}

struct matrix_fig {
	const double *values;
	int n_layer, n_head;
	const struct render_matrix_opts *opts;
};

static int
draw_matrix_fig(cairo_t *cr, double w, double h, void *ctx)
{
	const struct matrix_fig *m = ctx;
	return render_matrix(cr, w, h, m->values, m->n_layer, m->n_head, m->opts);
}

struct id_list {
	int64_t *ids;
	size_t n, cap;
};

static int
collect_sample(void *ctx, const struct store_sample_info *x)
{
	struct id_list *l = ctx;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 256;
		int64_t *p = realloc(l->ids, cap * sizeof *p);
		if (!p)
			return err_set(ERR_NOMEM, "out of memory");
		l->ids = p;
		l->cap = cap;
	}
	l->ids[l->n++] = x->id;
	return 0;
}

/* Is `name` a head statistic the recorder stores? */
static bool
known_metric(const char *name)
{
	for (int i = 0; i < ANA_STAT_COUNT; i++)
		if (strcmp(name, ana_stat_name((enum ana_stat)i)) == 0)
			return true;
	return false;
}

/* values[l * H + h] = mean over the run's samples of `metric` (NaN where
 * no sample has a value); *n_samples = samples seen. */
static int
run_metric_means(struct store *s, int64_t run_id, const char *metric, int L,
	int H, double *values, int64_t *n_samples)
{
	struct id_list ids = { 0 };
	int rc = store_each_sample(s, run_id, collect_sample, &ids);
	size_t n = (size_t)L * H;
	long *cnt = calloc(n, sizeof *cnt);
	if (!rc && !cnt)
		rc = err_set(ERR_NOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		values[i] = 0;
	long total = 0;
	for (size_t i = 0; rc == 0 && i < ids.n; i++)
		for (int l = 0; rc == 0 && l < L; l++)
			for (int h = 0; h < H; h++) {
				double v;
				int r = store_get_head_stat(s, ids.ids[i], l, h, metric, &v);
				if (r == ERR_NOTFOUND)
					continue;
				if (r) {
					rc = r;
					break;
				}
				if (!isfinite(v))
					continue;
				values[l * H + h] += v;
				cnt[l * H + h]++;
				total++;
			}
	for (size_t i = 0; i < n; i++)
		values[i] = cnt && cnt[i] ? values[i] / cnt[i] : NAN;
	*n_samples = (int64_t)ids.n;
	if (rc == 0 && total == 0)
		rc = err_set(ERR_NOTFOUND, "run %" PRId64 " has no head statistic '%s'"
		             " (the recorder stores entropy, distance, first_token, "
		             "prev_token, self, max_weight)", run_id, metric);
	free(cnt);
	free(ids.ids);
	return rc;
}

/* "WxH" with both sides 1..16384. */
static bool
parse_size(const char *s, int *w, int *h)
{
	char *end;
	long a = strtol(s, &end, 10);
	if (end == s || (*end != 'x' && *end != 'X'))
		return false;
	const char *p = end + 1;
	long b = strtol(p, &end, 10);
	if (end == p || *end || a < 1 || b < 1 || a > 16384 || b > 16384)
		return false;
	*w = (int)a;
	*h = (int)b;
	return true;
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
		{ "grid", no_argument, 0, 'G' },
		{ "arcs", required_argument, 0, 'A' },
		{ "stats", required_argument, 0, 'M' },
		{ "overlay", required_argument, 0, 'O' },
		{ "mean", no_argument, 0, 'm' },
		{ "threshold", required_argument, 0, 't' },
		{ "style", required_argument, 0, 'y' },
		{ "size", required_argument, 0, 'z' },
		{ "kind", required_argument, 0, 'k' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *db = NULL, *out = NULL, *fmt_s = NULL;
	long run = 0, sample = -1, layer = -1, head = -1, arcs_layer = -1;
	const char *stats_metric = NULL, *overlay = NULL, *kind = NULL;
	bool grid = false, mean = false, arcs_opt = false;
	double threshold = 0.1;
	enum render_arcs_style style = RENDER_ARCS_COLUMNS;
	int fig_w = 0, fig_h = 0;
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
		case 'G': grid = true; break;
		case 'k':
			if (strcmp(optarg, "encoder") && strcmp(optarg, "decoder") &&
			    strcmp(optarg, "cross") && strcmp(optarg, "self") &&
			    strcmp(optarg, "rollout") && strcmp(optarg, "flow"))
				return cli_usage_error("export", "--kind is encoder, decoder, cross, "
				                       "rollout or flow, not '%s'", optarg);
			kind = optarg;
			break;
		case 'A':
			if (!cli_parse_long("export", "--arcs", optarg, 0, 1 << 20, &arcs_layer))
				return 2;
			break;
		case 'M': stats_metric = optarg; break;
		case 'O': overlay = optarg; break;
		case 'm': mean = true; break;
		case 't': {
			char *end;
			arcs_opt = true;
			threshold = strtod(optarg, &end);
			if (end == optarg || *end || !(threshold >= 0 && threshold <= 1))
				return cli_usage_error("export", "--threshold is a number in "
				                       "[0, 1], not '%s'", optarg);
			break;
		}
		case 'y':
			arcs_opt = true;
			if (strcmp(optarg, "columns") == 0)
				style = RENDER_ARCS_COLUMNS;
			else if (strcmp(optarg, "line") == 0)
				style = RENDER_ARCS_LINE;
			else
				return cli_usage_error("export", "--style is columns or line");
			break;
		case 'z':
			if (!parse_size(optarg, &fig_w, &fig_h))
				return cli_usage_error("export", "--size is WxH (1..16384 each), "
				                       "not '%s'", optarg);
			break;
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
	int views = grid + (arcs_layer >= 0) + (stats_metric != NULL);
	if (views > 1)
		return cli_usage_error("export", "give one of --grid, --arcs and --stats");
	if (sample < 0 && !stats_metric)
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
	else if (strcmp(fmt_s, "svg") == 0)
		fmt = FMT_SVG;
	else if (strcmp(fmt_s, "pdf") == 0)
		fmt = FMT_PDF;
	else
		return cli_usage_error("export", "--format is npy, csv, json, png, svg or "
		                       "pdf, not '%s'", fmt_s);
	bool figure = fmt == FMT_PNG || fmt == FMT_SVG || fmt == FMT_PDF;
	if (views) {
		const char *v = grid ? "--grid" : stats_metric ? "--stats" : "--arcs";
		if (!figure)
			return cli_usage_error("export", "%s draws a figure: --format png, "
			                       "svg or pdf", v);
		if (layer >= 0 || (head >= 0 && arcs_layer < 0))
			return cli_usage_error("export", "%s takes no --layer%s", v,
			                       arcs_layer < 0 ? " or --head" : "");
		if (stats_metric && sample >= 0)
			return cli_usage_error("export", "--stats covers the whole run: "
			                       "leave out --sample");
		if (overlay && !grid)
			return cli_usage_error("export", "--overlay goes with --grid");
		if ((mean || arcs_opt) && arcs_layer < 0)
			return cli_usage_error("export", "--mean, --threshold and --style go "
			                       "with --arcs");
		if (strcmp(out, "-") == 0)
			return cli_usage_error("export", "%s needs a file name for -o", fmt_s);
		if (stats_metric && !known_metric(stats_metric))
			return cli_usage_error("export", "--stats is one of entropy, distance, "
			                       "first_token, prev_token, self, max_weight, not '%s'",
			                       stats_metric);
		if (overlay && !known_metric(overlay))
			return cli_usage_error("export", "--overlay is one of entropy, distance, "
			                       "first_token, prev_token, self, max_weight, not '%s'",
			                       overlay);
	} else if (overlay || mean || arcs_opt) {
		return cli_usage_error("export", "%s goes with %s", overlay ? "--overlay"
		                       : mean ? "--mean" : "--threshold/--style",
		                       overlay ? "--grid" : "--arcs");
	}
	if (!views && (layer < 0) != (head < 0))
		return cli_usage_error("export", "give --layer and --head together");
	if (!views && layer < 0 && fmt != FMT_NPY)
		return cli_usage_error("export", "--format %s needs --layer and --head", fmt_s);
	if (figure && strcmp(out, "-") == 0)
		return cli_usage_error("export", "%s needs a file name for -o", fmt_s);

	int rc;
	float *A = NULL, *all = NULL, **maps = NULL;
	double *values = NULL;
	int n_maps = 0;
	struct store_token *toks = NULL;
	char **labels = NULL, **qlabels = NULL, **klabels = NULL;
	struct store_token *stoks = NULL; /* encoder–decoder source tokens */
	int n_stok = 0, n_qlab = 0;
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
	int n_layer = mi.n_layer, n_head = mi.n_head;
	if (n_layer < 1 || n_layer > STORE_MAX_LAYERS || n_head < 1 || n_head > STORE_MAX_HEADS) {
		/* the model row is input too: nothing is sized from it unchecked */
		rc = err_set(ERR_FORMAT, "database '%s': the model of run %" PRId64 " claims %d "
		             "layers and %d heads", db, run_id, n_layer, n_head);
		goto out;
	}
	if (stats_metric) {
		/* dataset view: layers x heads, run mean of one statistic */
		values = malloc((size_t)n_layer * n_head * sizeof *values);
		if (!values) {
			rc = err_set(ERR_NOMEM, "out of memory");
			goto out;
		}
		int64_t n_seen = 0;
		if ((rc = run_metric_means(s, run_id, stats_metric, n_layer, n_head,
		                           values, &n_seen)) != 0)
			goto out;
		char title[512];
		snprintf(title, sizeof title, "%s · run %" PRId64 " · %s, mean over %" PRId64
		         " sample%s", model_name, run_id, stats_metric, n_seen,
		         n_seen == 1 ? "" : "s");
		struct render_matrix_opts mo = {
			.title = title, .value_label = stats_metric, .cmap = ro.cmap,
			.vmin = NAN, .vmax = NAN, .show_values = true,
		};
		struct matrix_fig mf = { values, n_layer, n_head, &mo };
		if (fig_w <= 0)
			render_matrix_size(n_layer, n_head, &fig_w, &fig_h);
		rc = render_figure_write(render_fmt(fmt), out, fig_w, fig_h,
		                         draw_matrix_fig, &mf);
		goto out;
	}
	struct store_sample_info si;
	if ((rc = store_get_sample(s, run_id, sample, &si)) != 0) {
		err_set(rc, "run %" PRId64 " has no sample %ld (%" PRId64 " recorded)", run_id,
		        sample, ri.n_samples);
		goto out;
	}
	int64_t sid = si.id;
	if (grid || arcs_layer >= 0) {
		int T = si.n_tok;
		if (arcs_layer >= n_layer) {
			rc = err_set(ERR_NOTFOUND, "sample %ld has no layer %ld (the model has "
			             "%d)", sample, arcs_layer, n_layer);
			goto out;
		}
		if (head >= n_head) {
			rc = err_set(ERR_NOTFOUND, "sample %ld has no head %ld (the model has "
			             "%d per layer)", sample, head, n_head);
			goto out;
		}
		/* grid: every head; arcs: the heads of one layer (or one head) */
		int l0 = grid ? 0 : (int)arcs_layer, l1 = grid ? n_layer : l0 + 1;
		int h0 = !grid && head >= 0 ? (int)head : 0;
		int h1 = !grid && head >= 0 ? h0 + 1 : n_head;
		n_maps = (l1 - l0) * (h1 - h0);
		maps = calloc((size_t)n_maps, sizeof *maps);
		int *ids = calloc((size_t)n_maps, sizeof *ids);
		double *ov = overlay ? calloc((size_t)n_maps, sizeof *ov) : NULL;
		values = ov;
		if (!maps || !ids || (overlay && !ov)) {
			free(ids);
			rc = err_set(ERR_NOMEM, "out of memory");
			goto out;
		}
		int found = 0;
		for (int l = l0; l < l1; l++)
			for (int h = h0; h < h1; h++) {
				int i = (l - l0) * (h1 - h0) + (h - h0);
				int nq, nk;
				ids[i] = h;
				if (ov && store_get_head_stat(s, sid, l, h, overlay, &ov[i]) != 0)
					ov[i] = NAN;
				rc = store_get_attn(s, sid, l, h, "self", &maps[i], &nq, &nk);
				if (rc == ERR_NOTFOUND) {
					rc = 0;
					continue;
				}
				if (rc)
					goto arcs_out;
				if (nq != T || nk != T) {
					rc = err_set(ERR_FORMAT, "sample %ld layer %d head %d: map is "
					             "%dx%d but the sample has %d tokens", sample, l, h,
					             nq, nk, T);
					goto arcs_out;
				}
				found++;
			}
		if (!found) {
			rc = err_set(ERR_NOTFOUND, "sample %ld has no stored attention maps %s "
			             "(recorded with --capture that left them out?)", sample,
			             grid ? "" : "in that layer");
			goto arcs_out;
		}
		if ((rc = store_get_tokens(s, sid, &toks, &n_tok)) != 0)
			goto arcs_out;
		char title[512];
		if (grid) {
			snprintf(title, sizeof title, "%s · run %" PRId64 " · sample %ld · "
			         "all heads", model_name, run_id, sample);
			ro.causal = causal;
			struct render_grid_opts go = {
				.title = title, .overlay = ov, .overlay_label = overlay,
				.overlay_lo = NAN, .overlay_hi = NAN,
				.overlay_cmap = RENDER_CMAP_MAGMA,
			};
			struct grid_fig gf = { n_layer, n_head, T, T,
			                       (const float *const *)maps, &ro, &go };
			if (fig_w <= 0)
				render_grid_size(n_layer, n_head, &fig_w, &fig_h);
			rc = render_figure_write(render_fmt(fmt), out, fig_w, fig_h,
			                         draw_grid_fig, &gf);
		} else {
			if (head >= 0)
				snprintf(title, sizeof title, "%s · run %" PRId64 " · sample %ld · "
				         "layer %ld · head %ld", model_name, run_id, sample,
				         arcs_layer, head);
			else
				snprintf(title, sizeof title, "%s · run %" PRId64 " · sample %ld · "
				         "layer %ld · %s", model_name, run_id, sample, arcs_layer,
				         mean ? "mean over heads" : "all heads");
			/* the graph takes the drawn maps in legend order */
			const char **pieces = NULL;
			if (n_tok == T && (pieces = calloc((size_t)T, sizeof *pieces)))
				for (int i = 0; i < T; i++)
					pieces[i] = toks[i].piece;
			bool *on = calloc((size_t)n_maps, sizeof *on);
			const float **drawn = calloc((size_t)n_maps, sizeof *drawn);
			int n_drawn = 0;
			for (int i = 0; on && drawn && i < n_maps; i++)
				if ((on[i] = maps[i] != NULL))
					drawn[n_drawn++] = maps[i];
			struct render_arcs_opts ao = {
				.title = title, .labels = (const char *const *)pieces,
				.style = style, .threshold = (float)threshold, .mean = mean,
				.focus = -1, .n_legend = n_maps, .legend_ids = ids,
				.legend_on = on,
			};
			struct arcs_fig af = { drawn, n_drawn, T, &ao };
			if (!on || !drawn)
				rc = err_set(ERR_NOMEM, "out of memory");
			else {
				if (fig_w <= 0)
					render_arcs_size(T, style, &fig_w, &fig_h);
				rc = render_figure_write(render_fmt(fmt), out, fig_w, fig_h,
				                         draw_arcs_fig, &af);
			}
			free(drawn);
			free(on);
			free(pieces);
		}
arcs_out:
		free(ids);
		goto out;
	}
	if (!kind) { /* the model's only kind, or the decoder's */
		int L0 = 0, H0 = 0;
		kind = store_attn_dims(s, sid, "self", &L0, &H0) == 0 && L0 > 0 ? "self" : "decoder";
	}
	bool own_shape = strcmp(kind, "self") != 0;
	if (layer < 0 && own_shape) {
		/* an encoder–decoder's maps: [L, H, n_q, n_k] of that kind */
		int L, H, nq0 = 0, nk0 = 0;
		if ((rc = store_attn_dims(s, sid, kind, &L, &H)) != 0)
			goto out;
		if (L == 0) {
			rc = err_set(ERR_NOTFOUND, "sample %ld has no '%s' attention maps", sample, kind);
			goto out;
		}
		for (int l = 0; l < L; l++)
			for (int h = 0; h < H; h++) {
				int nq, nk;
				if ((rc = store_get_attn(s, sid, l, h, kind, &A, &nq, &nk)) != 0) {
					if (rc == ERR_NOTFOUND)
						err_set(rc, "sample %ld has no %s map for layer %d head %d",
						        sample, kind, l, h);
					goto out;
				}
				if (!all) {
					nq0 = nq;
					nk0 = nk;
					all = calloc((size_t)L * H * nq * nk, sizeof *all);
					if (!all) {
						rc = err_set(ERR_NOMEM, "out of memory");
						goto out;
					}
				} else if (nq != nq0 || nk != nk0) {
					rc = err_set(ERR_FORMAT, "sample %ld: %s maps of different shapes",
					             sample, kind);
					goto out;
				}
				memcpy(all + ((size_t)l * H + h) * nq * nk, A, (size_t)nq * nk * sizeof *A);
				free(A);
				A = NULL;
			}
		FILE *f = open_out(out, true);
		if (!f) {
			rc = ERR_IO;
			goto out;
		}
		int shape[4] = { L, H, nq0, nk0 };
		size_t nv = (size_t)L * H * nq0 * nk0;
		rc = write_npy_header(f, 4, shape);
		if (!rc && fwrite(all, sizeof *all, nv, f) != nv)
			rc = ERR_IO;
		int rc2 = close_out(f, out);
		if (rc)
			err_set(rc, "cannot write '%s'", out);
		else
			rc = rc2;
		goto out;
	}
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
		/* the sample row is input too: its token count must agree with a
		 * stored map before anything is sized from it */
		int nq0, nk0;
		if ((rc = store_get_attn(s, sid, 0, 0, "self", &A, &nq0, &nk0)) == 0 &&
		    (nq0 != T || nk0 != T))
			rc = err_set(ERR_FORMAT, "sample %ld layer 0 head 0: map is %dx%d but the "
			             "sample has %d tokens", sample, nq0, nk0, T);
		free(A);
		A = NULL;
		if (rc)
			goto out;
		size_t per = (size_t)T * T, nall;
		if (ckd_mul3_size(&nall, (size_t)L, (size_t)H, per) ||
		    !(all = calloc(nall, sizeof *all))) {
			rc = err_set(ERR_NOMEM, "out of memory for %d x %d maps of %d tokens", L, H, T);
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
	if ((rc = store_get_attn(s, sid, (int)layer, (int)head, kind, &A, &nq, &nk)) != 0) {
		if (rc == ERR_NOTFOUND)
			err_set(rc, "sample %ld has no %s%smap for layer %ld head %ld", sample,
			        own_shape ? kind : "", own_shape ? " " : "", layer, head);
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
	/* figures: labels are the token pieces made displayable; encoder and
	 * cross maps have source tokens as keys (and as queries: encoder) */
	if ((!strcmp(kind, "encoder") || !strcmp(kind, "cross")) &&
	    store_get_source(s, sid, &stoks, &n_stok) == 0) {
		klabels = make_labels(stoks, n_stok, nk);
		if (!strcmp(kind, "encoder"))
			qlabels = make_labels(stoks, n_stok, nq);
		else
			qlabels = make_labels(toks, n_tok, nq);
		n_qlab = nq;
	} else if (nq == nk) {
		labels = make_labels(toks, n_tok, nq);
	}
	char title[512];
	snprintf(title, sizeof title, "%s · run %" PRId64 " · sample %ld · %s%slayer %ld · head %ld",
	         model_name, run_id, sample, own_shape ? kind : "", own_shape ? " · " : "", layer,
	         head);
	ro.title = title;
	ro.causal = causal;
	ro.q_labels = (const char *const *)(qlabels ? qlabels : labels);
	ro.k_labels = (const char *const *)(klabels ? klabels : labels);
	if (own_shape)
		ro.causal = !strcmp(kind, "decoder") || ((!strcmp(kind, "rollout") ||
		            !strcmp(kind, "flow")) && causal);
	int w = fig_w, h = fig_h;
	if (w <= 0)
		render_heatmap_size(nq, nk, &w, &h);
	if (fmt == FMT_SVG)
		rc = render_heatmap_svg(out, w, h, A, nq, nk, &ro);
	else if (fmt == FMT_PDF)
		rc = render_heatmap_pdf(out, w, h, A, nq, nk, &ro);
	else
		rc = render_heatmap_png(out, w, h, A, nq, nk, &ro);
out:
	free_labels(labels, n_tok);
	free_labels(qlabels, n_qlab);
	free_labels(klabels, n_stok);
	free(stoks);
	for (int i = 0; maps && i < n_maps; i++)
		free(maps[i]);
	free(maps);
	free(values);
	free(toks);
	free(A);
	free(all);
	store_close(s);
	return rc ? cli_fail(rc) : 0;
}

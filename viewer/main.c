/*
 * main.c — attnscope-view: the command line. Exit status: 0 ok, 1 the
 * database cannot be shown (or a screenshot cannot be written), 2 usage.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"

#ifndef ATTNSCOPE_VERSION
#define ATTNSCOPE_VERSION "dev"
#endif

static const char help[] =
"usage: attnscope-view [options] [FILE.db]\n"
"\n"
"Look at the attention recorded by `attnscope record` (or `attnscope demo`):\n"
"a sample list with search, the model view (every layer x head), one head's\n"
"heatmap with zoom and pan, a token dependency graph and the dataset view\n"
"(a head statistic averaged over the run). The database is opened read-only;\n"
"while a recording runs into it, new samples appear by themselves.\n"
"Press ? in the window for the keys.\n"
"\n"
"  --view samples|model|head|graph|dataset   the view to start in (model)\n"
"  --sample N --layer L --head H             what to show first\n"
"  --kind KIND                the kind of map: self, encoder, decoder, cross,\n"
"                             rollout, flow (default: self, else decoder)\n"
"  --size WxH                 window size (default 1280x800)\n"
"  --screenshot OUT.png       draw one frame without a display (SDL's dummy\n"
"                             video driver), write it as PNG and exit; exit 1\n"
"                             when the file cannot be opened at all. What is\n"
"                             wrong inside a database is drawn in the frame.\n"
"  --timeout S                seconds --screenshot waits for data (60)\n"
"  --bench                    time 200 pan steps of the zoomed head view and\n"
"                             head switches in the model and head views\n"
"  --help, --version\n"
"\n"
"ATTNSCOPE_VIEW_STATS=1 prints each frame's drawing time on stderr;\n"
"ATTNSCOPE_VIEW_CACHE_MB sets the memory for decoded maps (1024).\n";

static int
usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "attnscope-view: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, " (see --help)\n");
	return 2;
}

static bool
parse_int(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (end == s || *end || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "screenshot", required_argument, 0, 'o' },
		{ "view", required_argument, 0, 'v' },
		{ "sample", required_argument, 0, 's' },
		{ "layer", required_argument, 0, 'l' },
		{ "head", required_argument, 0, 'H' },
		{ "kind", required_argument, 0, 'k' },
		{ "size", required_argument, 0, 'z' },
		{ "timeout", required_argument, 0, 't' },
		{ "bench", no_argument, 0, 'b' },
		{ "help", no_argument, 0, 'h' },
		{ "version", no_argument, 0, 'V' },
		{ 0, 0, 0, 0 },
	};
	struct app_opts o = {
		.view = -1, .sample = -1, .layer = -1, .head = -1, .timeout = 60,
	};
	long n;
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'o': o.screenshot = optarg; break;
		case 'v':
			if ((o.view = viewer_view_parse(optarg)) < 0)
				return usage_error("--view is samples, model, head, graph or "
					"dataset, not '%s'", optarg);
			break;
		case 's':
			if (!parse_int(optarg, 0, 1L << 40, &n))
				return usage_error("--sample takes an index >= 0, not '%s'",
					optarg);
			o.sample = n;
			break;
		case 'l':
			if (!parse_int(optarg, 0, 4095, &n))
				return usage_error("--layer takes 0..4095, not '%s'", optarg);
			o.layer = (int)n;
			break;
		case 'H':
			if (!parse_int(optarg, 0, 4095, &n))
				return usage_error("--head takes 0..4095, not '%s'", optarg);
			o.head = (int)n;
			break;
		case 'z': {
			char *end;
			long w = strtol(optarg, &end, 10), h = 0;
			if (end != optarg && (*end == 'x' || *end == 'X'))
				h = strtol(end + 1, &end, 10);
			if (*end || w < 320 || h < 240 || w > 16384 || h > 16384)
				return usage_error("--size is WxH, at least 320x240, not '%s'",
					optarg);
			o.width = (int)w;
			o.height = (int)h;
			break;
		}
		case 't': {
			char *end;
			o.timeout = strtod(optarg, &end);
			if (end == optarg || *end || !(o.timeout > 0))
				return usage_error("--timeout takes seconds, not '%s'", optarg);
			break;
		}
		case 'k':
			if (strlen(optarg) >= 16 || !optarg[0])
				return usage_error("--kind is self, encoder, decoder, cross, "
					"rollout or flow, not '%s'", optarg);
			o.kind = optarg;
			break;
		case 'b': o.bench = true; break;
		case 'h': fputs(help, stdout); return 0;
		case 'V': printf("attnscope-view %s\n", ATTNSCOPE_VERSION); return 0;
		default:
			return usage_error("unknown or incomplete option '%s'",
				argv[optind - 1]);
		}
	}
	if (optind + 1 < argc)
		return usage_error("one database at a time, not also '%s'",
			argv[optind + 1]);
	o.path = optind < argc ? argv[optind] : NULL;
	if ((o.screenshot || o.bench) && !o.path)
		return usage_error("%s needs a database", o.screenshot ? "--screenshot"
			: "--bench");
	if (o.screenshot && o.bench)
		return usage_error("%s", "give --screenshot or --bench, not both");
	if (o.screenshot) {
		/* no display needed; deterministic pixels */
		setenv("SDL_VIDEODRIVER", "dummy", 1);
		setenv("SDL_RENDER_DRIVER", "software", 0);
		o.hidden = true;
	} else if (o.bench && !getenv("DISPLAY") && !getenv("WAYLAND_DISPLAY")) {
		setenv("SDL_VIDEODRIVER", "dummy", 0);
	}
	return app_run(&o);
}

/*
 * main.c — the attnscope command: git-style subcommands, each with --help.
 */
#include <cblas.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "../util/util.h"
#include "cli.h"

#ifndef ATTNSCOPE_VERSION
#define ATTNSCOPE_VERSION "dev"
#endif

/* from OpenBLAS; declared here so any cblas.h works */
char *openblas_get_corename(void);
int openblas_get_parallel(void);

/* Does the CPU (and the OS) run AVX-512 F/BW/DQ/VL code? */
static bool
cpu_avx512(void)
{
#if defined(__x86_64__)
	unsigned a, b, c, d;
	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c >> 27 & 1)) /* OSXSAVE */
		return false;
	unsigned lo, hi;
	__asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
	if ((lo & 0xe6) != 0xe6) /* XMM, YMM, opmask, ZMM state enabled */
		return false;
	if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
		return false;
	return (b >> 16 & 1) && (b >> 17 & 1) && (b >> 30 & 1) && (b >> 31 & 1);
#else
	return false;
#endif
}

/*
 * The runtime attnscope wants, set before OpenMP and OpenBLAS read their
 * environment (when the libraries load, hence a re-exec of ourselves):
 *  - OMP_WAIT_POLICY=passive unless the user chose: the recorder's writer
 *    thread runs beside the OpenMP threads, and spinning OpenMP workers
 *    then slow recording down up to tenfold on a 2-core machine (measured);
 *  - Debian's OpenBLAS picks its AVX2 ("Haswell") kernels on some AVX-512
 *    CPUs it does not know, at half the speed: when the user has not chosen
 *    a core (OPENBLAS_CORETYPE unset), the CPU has AVX-512 and OpenBLAS
 *    chose an AVX2 core, use the SkylakeX kernels.
 */
static void
configure_runtime(char **argv)
{
	if (getenv("ATTNSCOPE_RUNTIME_SET"))
		return;
	bool again = false;
	if (!getenv("OMP_WAIT_POLICY")) {
		setenv("OMP_WAIT_POLICY", "passive", 1);
		again = true;
	}
	const char *core = openblas_get_corename();
	if (!getenv("OPENBLAS_CORETYPE") && core &&
	    (!strcasecmp(core, "haswell") || !strcasecmp(core, "zen")) && cpu_avx512()) {
		setenv("OPENBLAS_CORETYPE", "SkylakeX", 1);
		again = true;
	}
	if (!again)
		return;
	setenv("ATTNSCOPE_RUNTIME_SET", "1", 1);
	execv("/proc/self/exe", argv);
	/* exec failed: go on as we are */
}

static const struct command {
	const char *name;
	int (*fn)(int, char **);
	const char *help;
} commands[] = {
	{ "demo", cmd_demo, "record, analyse and export the built-in model and samples" },
	{ "record", cmd_record, "run a model over samples and record attention into SQLite" },
	{ "export", cmd_export, "write one head's map (or a sample's) as npy, csv, json or png" },
	{ "analyze", cmd_analyze, "per-head metrics and roles across a recorded run" },
	{ "probe", cmd_probe, "run a model on a probe (induction) or ablate its heads" },
	{ "info", cmd_info, "describe a model file or a database" },
	{ "ls", cmd_ls, "list the runs or samples of a database" },
	{ "tokenize", cmd_tokenize, "print the token ids of a text" },
	{ "generate", cmd_generate, "greedy generation from a prompt, printed as llama2.c does" },
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: attnscope <command> [options]\n\n"
	           "See inside transformer models: record every head's attention over a\n"
	           "dataset into SQLite, export figures and arrays.\n\ncommands:\n");
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\n'attnscope <command> --help' describes a command.\n"
	           "'attnscope --version' prints the version and the BLAS in use.\n");
}

int
cli_fail(int code)
{
	fprintf(stderr, "attnscope: %s\n", err_msg(code));
	return 1;
}

int
cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "attnscope %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see 'attnscope %s --help')\n", cmd);
	return 2;
}

bool
cli_parse_long(const char *cmd, const char *opt, const char *s, long lo, long hi,
               long *out)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (!*s || *end || v < lo || v > hi) {
		cli_usage_error(cmd, "%s expects a whole number from %ld to %ld, not '%s'",
		                opt, lo, hi, s);
		return false;
	}
	*out = v;
	return true;
}

char *
cli_escape_piece(const char *piece, char *buf, size_t size)
{
	size_t o = 0;
	for (const unsigned char *p = (const unsigned char *)piece; *p && o + 8 < size; p++) {
		if (*p == '\n')
			o += (size_t)snprintf(buf + o, size - o, "\\n");
		else if (*p == '\t')
			o += (size_t)snprintf(buf + o, size - o, "\\t");
		else if (*p == '\r')
			o += (size_t)snprintf(buf + o, size - o, "\\r");
		else if (*p < 0x20 || *p == 0x7f)
			o += (size_t)snprintf(buf + o, size - o, "<0x%02X>", *p);
		else
			buf[o++] = (char)*p;
	}
	buf[o] = '\0';
	return buf;
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	configure_runtime(argv);
	const char *cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
		if (argc > 2 && strcmp(cmd, "help") == 0) {
			char *hv[] = { argv[2], (char *)"--help", NULL };
			for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
				if (strcmp(commands[i].name, argv[2]) == 0)
					return commands[i].fn(2, hv);
		}
		usage(stdout);
		return 0;
	}
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
		int par = openblas_get_parallel();
		printf("attnscope %s\nOpenBLAS core %s, %s threading\n", ATTNSCOPE_VERSION,
		       openblas_get_corename(),
		       par == 2 ? "OpenMP" : par == 1 ? "pthreads" : "no");
		return 0;
	}
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strcmp(commands[i].name, cmd) == 0)
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "attnscope: '%s' is not a command (see 'attnscope --help')\n", cmd);
	return 2;
}

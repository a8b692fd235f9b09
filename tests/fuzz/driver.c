/*
 * driver.c — a plain main() for the fuzz targets when libFuzzer is not
 * used (-Dfuzzing_engine=none), as libvips' and stb's drivers do: every
 * file named on the command line, and every file of every directory named
 * there (sorted by name, dot files skipped), is fed to
 * LLVMFuzzerTestOneInput once. Output is TAP, one line per input, so
 * `meson test --suite fuzz` names the input that crashed or hung: it is
 * the last "# running" line in the log.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

struct list {
	char **v;
	size_t n, cap;
};

static void
add(struct list *l, const char *path)
{
	if (l->n == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 64;
		l->v = realloc(l->v, l->cap * sizeof *l->v);
		if (!l->v)
			abort();
	}
	if (!(l->v[l->n++] = strdup(path)))
		abort();
}

static int
cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
collect(struct list *l, const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		fprintf(stderr, "driver: '%s': %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		add(l, path);
		return 0;
	}
	DIR *d = opendir(path);
	if (!d) {
		fprintf(stderr, "driver: '%s': %s\n", path, strerror(errno));
		return -1;
	}
	size_t first = l->n;
	for (struct dirent *e; (e = readdir(d));) {
		char p[4096];
		if (e->d_name[0] == '.')
			continue;
		snprintf(p, sizeof p, "%s/%s", path, e->d_name);
		if (stat(p, &st) == 0 && S_ISREG(st.st_mode))
			add(l, p);
	}
	closedir(d);
	qsort(l->v + first, l->n - first, sizeof *l->v, cmp);
	return 0;
}

static int
run_one(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	size_t cap = 1 << 16, n = 0;
	uint8_t *buf = malloc(cap);
	for (size_t got; buf && (got = fread(buf + n, 1, cap - n, f)) > 0;) {
		n += got;
		if (n == cap) {
			uint8_t *p = realloc(buf, cap *= 2);
			if (!p)
				free(buf);
			buf = p;
		}
	}
	bool err = ferror(f) || !buf;
	fclose(f);
	if (err) {
		free(buf);
		return -1;
	}
	/* an exact-size copy so that ASan sees reads past the end */
	uint8_t *exact = malloc(n ? n : 1);
	if (!exact)
		abort();
	memcpy(exact, buf, n);
	free(buf);
	LLVMFuzzerTestOneInput(exact, n);
	free(exact);
	return 0;
}

int
main(int argc, char **argv)
{
	struct list l = { 0 };
	int failed = 0;
	fz_replay = true;
	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR|FILE...\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++)
		if (collect(&l, argv[i]) != 0)
			failed = 1;
	printf("1..%zu\n", l.n + 1);
	printf("%s 1 - corpus found (%zu inputs)\n", !failed && l.n ? "ok" : "not ok", l.n);
	fflush(stdout);
	if (!l.n)
		failed = 1;
	for (size_t i = 0; i < l.n; i++) {
		printf("# running %s\n", l.v[i]);
		fflush(stdout);
		int rc = run_one(l.v[i]);
		printf("%s %zu - %s\n", rc == 0 ? "ok" : "not ok", i + 2, l.v[i]);
		fflush(stdout);
		if (rc)
			failed = 1;
		free(l.v[i]);
	}
	free(l.v);
	return failed;
}

/*
 * fuzz_common.c — the temporary directory, file helpers and the GGUF
 * writer shared by the fuzz targets (see fuzz.h).
 */
#define _GNU_SOURCE
#include "fuzz.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

bool fz_replay;

static char tmpdir[256];

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

static void
rm_tmpdir(void)
{
	if (tmpdir[0])
		nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *
fz_tmpdir(void)
{
	if (tmpdir[0])
		return tmpdir;
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
	snprintf(tmpdir, sizeof tmpdir, "%s/attnscope-fuzz-XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(tmpdir)) {
		snprintf(tmpdir, sizeof tmpdir, "/tmp/attnscope-fuzz-XXXXXX");
		if (!mkdtemp(tmpdir)) {
			perror("fuzz: mkdtemp");
			abort();
		}
	}
	atexit(rm_tmpdir);
	return tmpdir;
}

const char *
fz_path(const char *name)
{
	static char buf[4][512];
	static int k;
	k = (k + 1) % 4;
	snprintf(buf[k], sizeof buf[k], "%s/%s", fz_tmpdir(), name);
	return buf[k];
}

void
fz_write(const char *path, const void *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
		fprintf(stderr, "fuzz: cannot write '%s': %s\n", path, strerror(errno));
		abort();
	}
}

void
fz_unlink(const char *path)
{
	unlink(path);
}

/* ---- buffer and GGUF writer ------------------------------------------- */

void
fz_put(struct fz_buf *b, const void *data, size_t n)
{
	if (b->n + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->n + n)
			cap *= 2;
		uint8_t *p = realloc(b->p, cap);
		if (!p)
			abort();
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, data, n);
	b->n += n;
}

void
fz_u32(struct fz_buf *b, uint32_t v)
{
	uint8_t x[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	fz_put(b, x, 4);
}

void
fz_u64(struct fz_buf *b, uint64_t v)
{
	fz_u32(b, (uint32_t)v);
	fz_u32(b, (uint32_t)(v >> 32));
}

void
fz_f32(struct fz_buf *b, float v)
{
	uint32_t u;
	memcpy(&u, &v, 4);
	fz_u32(b, u);
}

void
fz_gstr(struct fz_buf *b, const char *s, size_t n)
{
	fz_u64(b, n);
	fz_put(b, s, n);
}

void
fz_buf_free(struct fz_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->n = b->cap = 0;
}

enum { G_U32 = 4, G_I32 = 5, G_F32 = 6, G_BOOL = 7, G_STR = 8, G_ARR = 9 };

void
fz_gguf_header(struct fz_buf *b, uint64_t n_tensors, uint64_t n_kv)
{
	fz_put(b, "GGUF", 4);
	fz_u32(b, 3);
	fz_u64(b, n_tensors);
	fz_u64(b, n_kv);
}

static void
key(struct fz_buf *b, const char *k, uint32_t type)
{
	fz_gstr(b, k, strlen(k));
	fz_u32(b, type);
}

void
fz_kv_str(struct fz_buf *b, const char *k, const char *val)
{
	key(b, k, G_STR);
	fz_gstr(b, val, strlen(val));
}

void
fz_kv_u32(struct fz_buf *b, const char *k, uint32_t v)
{
	key(b, k, G_U32);
	fz_u32(b, v);
}

void
fz_kv_bool(struct fz_buf *b, const char *k, bool v)
{
	uint8_t x = v;
	key(b, k, G_BOOL);
	fz_put(b, &x, 1);
}

void
fz_kv_arr_str(struct fz_buf *b, const char *k, const char *const *s, size_t n)
{
	key(b, k, G_ARR);
	fz_u32(b, G_STR);
	fz_u64(b, n);
	for (size_t i = 0; i < n; i++)
		fz_gstr(b, s[i], strlen(s[i]));
}

void
fz_kv_arr_f32(struct fz_buf *b, const char *k, const float *v, size_t n)
{
	key(b, k, G_ARR);
	fz_u32(b, G_F32);
	fz_u64(b, n);
	for (size_t i = 0; i < n; i++)
		fz_f32(b, v[i]);
}

void
fz_kv_arr_i32(struct fz_buf *b, const char *k, const int32_t *v, size_t n)
{
	key(b, k, G_ARR);
	fz_u32(b, G_I32);
	fz_u64(b, n);
	for (size_t i = 0; i < n; i++)
		fz_u32(b, (uint32_t)v[i]);
}

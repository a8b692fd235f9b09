/*
 * fuzz.h — helpers shared by the fuzz targets (tests/fuzz/fuzz_*.c): the
 * allocation guard, a private temporary directory for targets whose API
 * takes a path, and a tiny in-memory GGUF writer for built-in vocabularies.
 *
 * Every target defines LLVMFuzzerTestOneInput(). With
 * -Dfuzzing_engine=libfuzzer it is linked with clang's -fsanitize=fuzzer;
 * otherwise with driver.c, which replays a corpus directory under
 * `meson test --suite fuzz`.
 */
#ifndef ATTNSCOPE_FUZZ_H
#define ATTNSCOPE_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* stb's guard idea: a target never asks for more than this much on its own
 * account (tensors converted, maps decoded, ...). Inputs larger than
 * FZ_MAX_INPUT are ignored: the formats' limits are reached long before. */
#define FZ_MAX_INPUT ((size_t)4 << 20)
#define FZ_MAX_FLOATS ((size_t)1 << 20) /* 4 MiB of float32 */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A private directory, created on first use (in /dev/shm when possible)
 * and removed at exit. Aborts when it cannot be created: a harness bug. */
const char *fz_tmpdir(void);

/* "<tmpdir>/<name>" in one of four rotating static buffers. */
const char *fz_path(const char *name);

/* Write (replace) a file; aborts on failure (a harness bug, not a finding). */
void fz_write(const char *path, const void *data, size_t n);

/* Remove a file if it exists. */
void fz_unlink(const char *path);

/* Is this a run under the plain replay driver? Set by driver.c. */
extern bool fz_replay;

/* ---- a growing byte buffer and a GGUF v3 writer ----------------------- */

struct fz_buf {
	uint8_t *p;
	size_t n, cap;
};

void fz_put(struct fz_buf *b, const void *data, size_t n);
void fz_u32(struct fz_buf *b, uint32_t v);
void fz_u64(struct fz_buf *b, uint64_t v);
void fz_f32(struct fz_buf *b, float v);
void fz_gstr(struct fz_buf *b, const char *s, size_t n); /* uint64 len + bytes */
void fz_buf_free(struct fz_buf *b);

/* GGUF key/values, appended to b (the caller writes the header with the
 * right n_kv first: fz_gguf_header). */
void fz_gguf_header(struct fz_buf *b, uint64_t n_tensors, uint64_t n_kv);
void fz_kv_str(struct fz_buf *b, const char *key, const char *val);
void fz_kv_u32(struct fz_buf *b, const char *key, uint32_t v);
void fz_kv_bool(struct fz_buf *b, const char *key, bool v);
void fz_kv_arr_str(struct fz_buf *b, const char *key, const char *const *s, size_t n);
void fz_kv_arr_f32(struct fz_buf *b, const char *key, const float *v, size_t n);
void fz_kv_arr_i32(struct fz_buf *b, const char *key, const int32_t *v, size_t n);

#endif

/*
 * util.h — error codes, the per-thread error message, checked size
 * arithmetic, float16 conversion and small helpers shared by every module.
 *
 * Error convention (STYLE.md §4.4): library functions return 0 on success or
 * a negative enum err code; the function that detects a problem records one
 * lowercase line with err_set() and the callers above it propagate the code
 * silently. Only main() (CLI, viewer) prints err_msg() and exits.
 */
#ifndef ATTNSCOPE_UTIL_H
#define ATTNSCOPE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum err {
	ERR_OK = 0,
	ERR_NOMEM = -1,       /* allocation failed                          */
	ERR_IO = -2,          /* open/read/write failed                     */
	ERR_FORMAT = -3,      /* malformed input file or data               */
	ERR_UNSUPPORTED = -4, /* valid but not handled (version, type, ...) */
	ERR_DB = -5,          /* SQLite reported an error                   */
	ERR_RANGE = -6,       /* a size or index out of its allowed range   */
	ERR_ARG = -7,         /* bad argument from the caller / user        */
	ERR_VERSION = -8,     /* database or file version not supported     */
	ERR_CANCEL = -9,      /* stopped on request (capture sink, signal)  */
	ERR_NOTFOUND = -10,   /* the requested row or item does not exist   */
};

/* Short text for an error code ("out of memory", "format error", ...). */
const char *err_str(int code);

/*
 * Record the message for the current thread and return `code`, so a
 * detection site reads `return err_set(ERR_FORMAT, "gguf: ...", ...)`.
 * The message is one line, lowercase, no full stop, names in quotes.
 */
int err_set(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The last message set on this thread, or err_str() of `code` if none was
 * set since err_clear(). Valid until the next err_set() on this thread. */
const char *err_msg(int code);

/* Forget the current thread's message. */
void err_clear(void);

/* Checked arithmetic: return true on overflow (like ckd_add/ckd_mul). */
static inline bool
ckd_add_size(size_t *r, size_t a, size_t b)
{
	return __builtin_add_overflow(a, b, r);
}

static inline bool
ckd_mul_size(size_t *r, size_t a, size_t b)
{
	return __builtin_mul_overflow(a, b, r);
}

/* r = a * b * c, true on overflow. */
static inline bool
ckd_mul3_size(size_t *r, size_t a, size_t b, size_t c)
{
	size_t t;
	return __builtin_mul_overflow(a, b, &t) ||
	       __builtin_mul_overflow(t, c, r);
}

/* float16 (IEEE binary16, stored as uint16_t) <-> float32.
 * Round to nearest even, like numpy's astype(np.float16); F16C is used
 * where the CPU has it, a portable path elsewhere (same results). */
uint16_t f16_from_f32(float f);
float f16_to_f32(uint16_t h);
void f16_encode(uint16_t *dst, const float *src, size_t n);
void f16_decode(float *dst, const uint16_t *src, size_t n);

/* Whole file into a malloc'd buffer (NUL-terminated, *len excludes the
 * NUL). Returns 0 or ERR_IO/ERR_NOMEM with the message set. Free with free(). */
int util_read_file(const char *path, char **data, size_t *len);

/* Monotonic clock in seconds. */
double util_now(void);

/* Is `s` (n bytes) valid UTF-8? */
bool util_utf8_valid(const char *s, size_t n);

#endif

/* util.c — error messages, file reading, clock, UTF-8 check. */
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static _Thread_local char err_buf[512];
static _Thread_local bool err_has;

const char *
err_str(int code)
{
	switch (code) {
	case ERR_OK: return "ok";
	case ERR_NOMEM: return "out of memory";
	case ERR_IO: return "input/output error";
	case ERR_FORMAT: return "format error";
	case ERR_UNSUPPORTED: return "unsupported";
	case ERR_DB: return "database error";
	case ERR_RANGE: return "out of range";
	case ERR_ARG: return "invalid argument";
	case ERR_VERSION: return "unsupported version";
	case ERR_CANCEL: return "cancelled";
	case ERR_NOTFOUND: return "not found";
	}
	return "unknown error";
}

int
err_set(int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err_buf, sizeof err_buf, fmt, ap);
	va_end(ap);
	/* one line: fold any newline a caller's string brought in */
	for (char *p = err_buf; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	err_has = true;
	return code;
}

const char *
err_msg(int code)
{
	return err_has ? err_buf : err_str(code);
}

void
err_clear(void)
{
	err_has = false;
	err_buf[0] = '\0';
}

int
util_read_file(const char *path, char **data, size_t *len)
{
	*data = NULL;
	*len = 0;
	FILE *f = fopen(path, "rb");
	if (!f)
		return err_set(ERR_IO, "cannot open '%s': %s", path, strerror(errno));
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	if (!buf) {
		fclose(f);
		return err_set(ERR_NOMEM, "out of memory reading '%s'", path);
	}
	for (;;) {
		if (n + 1 >= cap) {
			if (cap > SIZE_MAX / 2) {
				free(buf);
				fclose(f);
				return err_set(ERR_NOMEM, "'%s' is too large", path);
			}
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				fclose(f);
				return err_set(ERR_NOMEM, "out of memory reading '%s'", path);
			}
			buf = nb;
			cap *= 2;
		}
		size_t r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
		if (r == 0)
			break;
	}
	if (ferror(f)) {
		free(buf);
		fclose(f);
		return err_set(ERR_IO, "cannot read '%s'", path);
	}
	fclose(f);
	buf[n] = '\0';
	*data = buf;
	*len = n;
	return 0;
}

double
util_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

bool
util_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	while (i < n) {
		unsigned c = p[i];
		size_t len;
		uint32_t cp;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xE0) == 0xC0) {
			len = 2;
			cp = c & 0x1F;
		} else if ((c & 0xF0) == 0xE0) {
			len = 3;
			cp = c & 0x0F;
		} else if ((c & 0xF8) == 0xF0) {
			len = 4;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (i + len > n)
			return false;
		for (size_t k = 1; k < len; k++) {
			if ((p[i + k] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + k] & 0x3F);
		}
		if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
		    (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += len;
	}
	return true;
}

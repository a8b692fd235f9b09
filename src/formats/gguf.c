/*
 * gguf.c — GGUF v2/v3 reader: maps the file (or borrows a buffer), checks
 * every count, length, type and offset against the bytes that are really
 * there, and keeps pointers into the mapping for values and tensor data.
 * Layout: see formats.h.
 */
#define _GNU_SOURCE
#include "formats/formats.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* From quant.c (no private header in this module). */
bool fmt__type_size(enum fmt_type t, int64_t *blck, size_t *tsize);
int fmt__nbytes(enum fmt_type t, int ndim, const int64_t *shape, int64_t *n,
                size_t *nbytes);

#define GGUF_DEFAULT_ALIGNMENT 32
#define MAX_ARRAY_DEPTH 8       /* arrays of arrays nested deeper: refused */
#define MIN_KV_BYTES 13         /* key length 8 + type 4 + smallest value 1 */
#define MIN_TENSOR_BYTES 32     /* name length 8 + n_dims 4 + ne 8 + type 4 + offset 8 */

struct gguf_kv {
	char *key;                  /* NUL-terminated copy                    */
	enum gguf_type type;
	const uint8_t *val;         /* scalar bytes; string: its bytes         */
	size_t len;                 /* string length                           */
	enum gguf_type elem;        /* arrays: element type                    */
	uint64_t n;                 /* arrays: element count                   */
	size_t *str_off;            /* string arrays: (n) offsets of each
	                               element's length prefix from val        */
};

struct gguf {
	const char *name;           /* for messages (points at name_buf)       */
	char *name_buf;
	void *map;                  /* mmap'd file (gguf_open), else NULL      */
	size_t map_size;
	const uint8_t *data;        /* whole file (size bytes)                 */
	size_t size;
	int version;
	size_t alignment;
	size_t data_offset;         /* start of the data section               */

	int64_t n_kv;
	struct gguf_kv *kv;         /* (n_kv)                                  */
	int64_t *kv_sorted;         /* (n_kv) indices by key, for bsearch       */

	int64_t n_tensors;
	struct fmt_tensor *tensors; /* (n_tensors)                             */
	int64_t *t_sorted;          /* (n_tensors) indices by name             */
};

/* ---- reader over the mapped bytes ---------------------------------------- */

struct rd {
	const uint8_t *p;
	size_t size;
	size_t pos;
	const char *name;
};

__attribute__((format(printf, 3, 4))) static int
fail(const struct rd *r, int code, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return err_set(code, "gguf: '%s': %s", r->name, msg);
}

static inline size_t
left(const struct rd *r)
{
	return r->size - r->pos;
}

static inline uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint64_t
le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* Read a little-endian u32/u64; false when the file ends first. */
static bool
rd_u32(struct rd *r, uint32_t *v)
{
	if (left(r) < 4)
		return false;
	*v = le32(r->p + r->pos);
	r->pos += 4;
	return true;
}

static bool
rd_u64(struct rd *r, uint64_t *v)
{
	if (left(r) < 8)
		return false;
	*v = le64(r->p + r->pos);
	r->pos += 8;
	return true;
}

/* A gguf string: uint64 length + bytes. Returns 0, or an error naming
 * `what`. */
static int
rd_str(struct rd *r, const uint8_t **s, size_t *len, const char *what)
{
	uint64_t n;
	if (!rd_u64(r, &n))
		return fail(r, ERR_FORMAT, "file ends in the length of %s", what);
	if (n > left(r))
		return fail(r, ERR_FORMAT,
		            "%s: string length %llu exceeds the %zu bytes left",
		            what, (unsigned long long)n, left(r));
	*s = r->p + r->pos;
	*len = (size_t)n;
	r->pos += (size_t)n;
	return 0;
}

/* Fixed size of a scalar value type, 0 for string/array/unknown. */
static size_t
scalar_size(enum gguf_type t)
{
	switch (t) {
	case GGUF_UINT8: case GGUF_INT8: case GGUF_BOOL: return 1;
	case GGUF_UINT16: case GGUF_INT16: return 2;
	case GGUF_UINT32: case GGUF_INT32: case GGUF_FLOAT32: return 4;
	case GGUF_UINT64: case GGUF_INT64: case GGUF_FLOAT64: return 8;
	default: return 0;
	}
}

/* Fewest bytes one element of type t can occupy. */
static size_t
min_size(enum gguf_type t)
{
	if (t == GGUF_STRING)
		return 8;
	if (t == GGUF_ARRAY)
		return 12;
	return scalar_size(t);
}

static const char *
type_str(enum gguf_type t)
{
	static const char *const names[] = {
		"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
		"bool", "string", "array", "uint64", "int64", "float64",
	};
	return (unsigned)t < GGUF_TYPE_COUNT ? names[t] : "?";
}

/* Check n elements of type `elem` fit in what is left (each needs at
 * least min_size bytes), so no count is trusted before it is bounded. */
static int
check_count(struct rd *r, enum gguf_type elem, uint64_t n, const char *key)
{
	if (n > left(r) / min_size(elem))
		return fail(r, ERR_FORMAT,
		            "key '%.80s': array of %llu %s elements cannot fit in the %zu bytes left",
		            key, (unsigned long long)n, type_str(elem), left(r));
	return 0;
}

/* Skip one value of type t (arrays recurse up to MAX_ARRAY_DEPTH). */
static int
skip_value(struct rd *r, enum gguf_type t, int depth, const char *key)
{
	size_t sz = scalar_size(t);
	if (sz) {
		if (left(r) < sz)
			return fail(r, ERR_FORMAT, "key '%.80s': file ends in its value", key);
		r->pos += sz;
		return 0;
	}
	if (t == GGUF_STRING) {
		const uint8_t *s = NULL;
		size_t len = 0;
		char what[120];
		snprintf(what, sizeof what, "key '%.80s'", key);
		return rd_str(r, &s, &len, what);
	}
	if (t != GGUF_ARRAY)
		return fail(r, ERR_FORMAT, "key '%.80s': invalid value type %u", key, (unsigned)t);
	if (depth >= MAX_ARRAY_DEPTH)
		return fail(r, ERR_FORMAT, "key '%.80s': arrays nested more than %d deep",
		            key, MAX_ARRAY_DEPTH);
	uint32_t et;
	uint64_t n;
	if (!rd_u32(r, &et) || !rd_u64(r, &n))
		return fail(r, ERR_FORMAT, "key '%.80s': file ends in an array header", key);
	if (et >= GGUF_TYPE_COUNT)
		return fail(r, ERR_FORMAT, "key '%.80s': invalid array element type %u", key, et);
	int rc = check_count(r, (enum gguf_type)et, n, key);
	if (rc)
		return rc;
	sz = scalar_size((enum gguf_type)et);
	if (sz) {
		r->pos += (size_t)n * sz;  /* fits: checked above */
		return 0;
	}
	for (uint64_t i = 0; i < n; i++)
		if ((rc = skip_value(r, (enum gguf_type)et, depth + 1, key)))
			return rc;
	return 0;
}

/* Parse the value of kv (its key and type already read). */
static int
parse_value(struct rd *r, struct gguf_kv *kv)
{
	int rc;
	if (kv->type >= GGUF_TYPE_COUNT)
		return fail(r, ERR_FORMAT, "key '%.80s': invalid value type %u",
		            kv->key, (unsigned)kv->type);
	if (kv->type == GGUF_STRING) {
		char what[120];
		snprintf(what, sizeof what, "key '%.80s'", kv->key);
		return rd_str(r, &kv->val, &kv->len, what);
	}
	if (kv->type != GGUF_ARRAY) {
		size_t sz = scalar_size(kv->type);
		if (left(r) < sz)
			return fail(r, ERR_FORMAT, "key '%.80s': file ends in its value", kv->key);
		kv->val = r->p + r->pos;
		r->pos += sz;
		return 0;
	}
	uint32_t et;
	if (!rd_u32(r, &et) || !rd_u64(r, &kv->n))
		return fail(r, ERR_FORMAT, "key '%.80s': file ends in an array header", kv->key);
	if (et >= GGUF_TYPE_COUNT)
		return fail(r, ERR_FORMAT, "key '%.80s': invalid array element type %u",
		            kv->key, et);
	kv->elem = (enum gguf_type)et;
	if ((rc = check_count(r, kv->elem, kv->n, kv->key)))
		return rc;
	kv->val = r->p + r->pos;
	size_t sz = scalar_size(kv->elem);
	if (sz) {
		r->pos += (size_t)kv->n * sz;
		return 0;
	}
	if (kv->elem == GGUF_STRING && kv->n > 0) {
		/* n <= left/8 was checked, so this allocation is bounded by the file */
		kv->str_off = malloc((size_t)kv->n * sizeof *kv->str_off);
		if (!kv->str_off)
			return fail(r, ERR_NOMEM, "key '%.80s': out of memory", kv->key);
	}
	size_t base = r->pos;
	for (uint64_t i = 0; i < kv->n; i++) {
		if (kv->elem == GGUF_STRING)
			kv->str_off[i] = r->pos - base;
		if ((rc = skip_value(r, kv->elem, 1, kv->key)))
			return rc;
	}
	return 0;
}

/* ---- sorting and lookup ---------------------------------------------------- */

/* qsort has no context argument in C11: the object being sorted is passed
 * through a thread-local pointer (set just before each qsort call). */
static _Thread_local const struct gguf *sort_ctx;

static int
cmp_kv(const void *a, const void *b)
{
	const struct gguf_kv *kv = sort_ctx->kv;
	return strcmp(kv[*(const int64_t *)a].key, kv[*(const int64_t *)b].key);
}

static int
cmp_tensor(const void *a, const void *b)
{
	const struct fmt_tensor *t = sort_ctx->tensors;
	return strcmp(t[*(const int64_t *)a].name, t[*(const int64_t *)b].name);
}

/* Binary search for `name` through idx (n indices sorted by name_of);
 * the index found, or -1. */
static int64_t
find_sorted(const int64_t *idx, int64_t n, const char *name,
            const char *(*name_of)(const struct gguf *, int64_t), const struct gguf *g)
{
	int64_t lo = 0, hi = n;
	while (lo < hi) {
		int64_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name_of(g, idx[mid]), name);
		if (c == 0)
			return idx[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static const char *
kv_name(const struct gguf *g, int64_t i)
{
	return g->kv[i].key;
}

static const char *
tensor_name(const struct gguf *g, int64_t i)
{
	return g->tensors[i].name;
}

/* ---- parsing ----------------------------------------------------------------- */

/* Copy a name into a NUL-terminated string; names with NUL bytes are
 * refused because lookups take C strings. */
static int
copy_name(struct rd *r, const uint8_t *s, size_t len, char **out, const char *what,
          int64_t i)
{
	if (memchr(s, '\0', len))
		return fail(r, ERR_FORMAT, "%s %lld contains a zero byte", what, (long long)i);
	char *c = malloc(len + 1);
	if (!c)
		return fail(r, ERR_NOMEM, "out of memory");
	memcpy(c, s, len);
	c[len] = '\0';
	*out = c;
	return 0;
}

static int
parse_kvs(struct gguf *g, struct rd *r)
{
	int rc;
	for (int64_t i = 0; i < g->n_kv; i++) {
		struct gguf_kv *kv = &g->kv[i];
		const uint8_t *s = NULL;
		size_t len = 0;
		char what[48];
		snprintf(what, sizeof what, "key %lld", (long long)i);
		if ((rc = rd_str(r, &s, &len, what)))
			return rc;
		if (len == 0)
			return fail(r, ERR_FORMAT, "key %lld is empty", (long long)i);
		if ((rc = copy_name(r, s, len, &kv->key, "key", i)))
			return rc;
		uint32_t type;
		if (!rd_u32(r, &type))
			return fail(r, ERR_FORMAT, "key '%.80s': file ends in its type", kv->key);
		kv->type = (enum gguf_type)type;
		if ((rc = parse_value(r, kv)))
			return rc;
	}
	for (int64_t i = 0; i < g->n_kv; i++)
		g->kv_sorted[i] = i;
	sort_ctx = g;
	qsort(g->kv_sorted, (size_t)g->n_kv, sizeof *g->kv_sorted, cmp_kv);
	for (int64_t i = 1; i < g->n_kv; i++) {
		const char *a = g->kv[g->kv_sorted[i - 1]].key;
		if (strcmp(a, g->kv[g->kv_sorted[i]].key) == 0)
			return fail(r, ERR_FORMAT, "duplicate key '%.80s'", a);
	}

	int64_t ai = find_sorted(g->kv_sorted, g->n_kv, "general.alignment", kv_name, g);
	g->alignment = GGUF_DEFAULT_ALIGNMENT;
	if (ai >= 0) {
		if (g->kv[ai].type != GGUF_UINT32)
			return fail(r, ERR_FORMAT, "key 'general.alignment' is %s, not uint32",
			            type_str(g->kv[ai].type));
		uint32_t a = le32(g->kv[ai].val);
		if (a == 0 || (a & (a - 1)) != 0)
			return fail(r, ERR_FORMAT, "alignment %u is not a power of two", a);
		g->alignment = a;
	}
	return 0;
}

static int
parse_tensor_info(struct gguf *g, struct rd *r, int64_t i, uint64_t *offset)
{
	struct fmt_tensor *t = &g->tensors[i];
	const uint8_t *s = NULL;
	size_t len = 0;
	char what[48];
	int rc;
	snprintf(what, sizeof what, "tensor %lld name", (long long)i);
	if ((rc = rd_str(r, &s, &len, what)))
		return rc;
	char *name = NULL;
	if ((rc = copy_name(r, s, len, &name, "tensor", i)))
		return rc;
	t->name = name;
	uint32_t n_dims;
	if (!rd_u32(r, &n_dims))
		return fail(r, ERR_FORMAT, "tensor '%.80s': file ends in its header", name);
	if (n_dims < 1 || n_dims > 4)
		return fail(r, ERR_FORMAT, "tensor '%.80s': %u dimensions, expected 1 to 4",
		            name, n_dims);
	int64_t ne[4];
	for (uint32_t j = 0; j < n_dims; j++) {
		uint64_t v;
		if (!rd_u64(r, &v))
			return fail(r, ERR_FORMAT, "tensor '%.80s': file ends in its shape", name);
		/* ggml allows 0 (an empty tensor), not negative counts */
		if (v > (uint64_t)INT64_MAX)
			return fail(r, ERR_FORMAT, "tensor '%.80s': dimension %u is negative",
			            name, j);
		ne[j] = (int64_t)v;
	}
	uint32_t type;
	if (!rd_u32(r, &type) || !rd_u64(r, offset))
		return fail(r, ERR_FORMAT, "tensor '%.80s': file ends in its header", name);

	t->ndim = (int)n_dims;
	for (int j = 0; j < t->ndim; j++)
		t->shape[j] = ne[t->ndim - 1 - j];  /* outermost first */
	t->type = (enum fmt_type)type;
	int64_t blck;
	size_t tsize;
	if (!fmt__type_size(t->type, &blck, &tsize)) {
		if (type < FMT_TYPE_MAX)
			return fail(r, ERR_UNSUPPORTED, "tensor '%.80s': unsupported ggml type %u",
			            name, type);
		return fail(r, ERR_FORMAT, "tensor '%.80s': invalid ggml type %u", name, type);
	}
	rc = fmt__nbytes(t->type, t->ndim, t->shape, &t->n, &t->nbytes);
	if (rc == ERR_FORMAT)
		return fail(r, ERR_FORMAT,
		            "tensor '%.80s': row of %lld elements is not a multiple of the %s block size %lld",
		            name, (long long)ne[0], fmt_type_name(t->type), (long long)blck);
	if (rc)
		return fail(r, ERR_FORMAT, "tensor '%.80s': element count or byte size overflows",
		            name);
	return 0;
}

struct span {
	uint64_t begin, end;
	int64_t i;
};

static int
cmp_span(const void *a, const void *b)
{
	const struct span *x = a, *y = b;
	return x->begin < y->begin ? -1 : x->begin > y->begin;
}

static int
parse_tensors(struct gguf *g, struct rd *r)
{
	int rc;
	struct span *spans = NULL;
	if (g->n_tensors == 0) {
		g->data_offset = r->pos;
		return 0;
	}
	spans = malloc((size_t)g->n_tensors * sizeof *spans);
	if (!spans)
		return fail(r, ERR_NOMEM, "out of memory");
	for (int64_t i = 0; i < g->n_tensors; i++) {
		uint64_t off = 0;
		if ((rc = parse_tensor_info(g, r, i, &off)))
			goto out;
		spans[i].begin = off;
		spans[i].i = i;
	}

	size_t pad = (g->alignment - r->pos % g->alignment) % g->alignment;
	if (pad > left(r)) {
		rc = fail(r, ERR_FORMAT, "data section starts past the end of the file");
		goto out;
	}
	g->data_offset = r->pos + pad;
	size_t data_size = r->size - g->data_offset;
	for (int64_t i = 0; i < g->n_tensors; i++) {
		struct fmt_tensor *t = &g->tensors[i];
		uint64_t off = spans[i].begin;
		if (off % g->alignment != 0) {
			rc = fail(r, ERR_FORMAT,
			          "tensor '%.80s': offset %llu is not a multiple of the alignment %zu",
			          t->name, (unsigned long long)off, g->alignment);
			goto out;
		}
		if (off > data_size || t->nbytes > data_size - off) {
			rc = fail(r, ERR_FORMAT, "tensor '%.80s' extends past the end of the file",
			          t->name);
			goto out;
		}
		spans[i].end = off + t->nbytes;
		t->data = g->data + g->data_offset + off;
	}
	qsort(spans, (size_t)g->n_tensors, sizeof *spans, cmp_span);
	uint64_t end = 0;
	int64_t prev = -1;
	for (int64_t k = 0; k < g->n_tensors; k++) {
		if (spans[k].begin == spans[k].end)
			continue;  /* empty tensors overlap nothing */
		if (prev >= 0 && spans[k].begin < end) {
			rc = fail(r, ERR_FORMAT, "tensors '%.80s' and '%.80s' overlap",
			          g->tensors[prev].name, g->tensors[spans[k].i].name);
			goto out;
		}
		end = spans[k].end;
		prev = spans[k].i;
	}

	for (int64_t i = 0; i < g->n_tensors; i++)
		g->t_sorted[i] = i;
	sort_ctx = g;
	qsort(g->t_sorted, (size_t)g->n_tensors, sizeof *g->t_sorted, cmp_tensor);
	for (int64_t i = 1; i < g->n_tensors; i++) {
		const char *a = g->tensors[g->t_sorted[i - 1]].name;
		if (strcmp(a, g->tensors[g->t_sorted[i]].name) == 0) {
			rc = fail(r, ERR_FORMAT, "duplicate tensor name '%.80s'", a);
			goto out;
		}
	}
	rc = 0;
out:
	free(spans);
	return rc;
}

static int
parse(struct gguf *g)
{
	struct rd r = { .p = g->data, .size = g->size, .pos = 0, .name = g->name };
	int rc;
	if (r.size < 4 || memcmp(r.p, "GGUF", 4) != 0)
		return fail(&r, ERR_FORMAT, "not a gguf file (bad magic)");
	r.pos = 4;
	uint32_t version;
	if (!rd_u32(&r, &version))
		return fail(&r, ERR_FORMAT, "file ends in the header");
	if (version != 2 && version != 3) {
		uint32_t swapped = __builtin_bswap32(version);
		if (swapped == 2 || swapped == 3)
			return fail(&r, ERR_UNSUPPORTED, "big-endian gguf files are not supported");
		return fail(&r, ERR_UNSUPPORTED, "gguf version %u is not supported (only 2 and 3)",
		            version);
	}
	g->version = (int)version;
	uint64_t n_tensors, n_kv;
	if (!rd_u64(&r, &n_tensors) || !rd_u64(&r, &n_kv))
		return fail(&r, ERR_FORMAT, "file ends in the header");
	/* every entry needs some bytes: bound both counts by the file size
	 * before anything is allocated from them */
	if (n_kv > left(&r) / MIN_KV_BYTES)
		return fail(&r, ERR_FORMAT, "%llu key/values cannot fit in a %zu-byte file",
		            (unsigned long long)n_kv, r.size);
	if (n_tensors > (left(&r) - n_kv * MIN_KV_BYTES) / MIN_TENSOR_BYTES)
		return fail(&r, ERR_FORMAT, "%llu tensors cannot fit in a %zu-byte file",
		            (unsigned long long)n_tensors, r.size);
	g->n_kv = (int64_t)n_kv;
	g->n_tensors = (int64_t)n_tensors;
	g->kv = calloc((size_t)n_kv + 1, sizeof *g->kv);
	g->kv_sorted = calloc((size_t)n_kv + 1, sizeof *g->kv_sorted);
	g->tensors = calloc((size_t)n_tensors + 1, sizeof *g->tensors);
	g->t_sorted = calloc((size_t)n_tensors + 1, sizeof *g->t_sorted);
	if (!g->kv || !g->kv_sorted || !g->tensors || !g->t_sorted)
		return fail(&r, ERR_NOMEM, "out of memory");
	if ((rc = parse_kvs(g, &r)))
		return rc;
	if (g->n_tensors > 0 && (uint64_t)g->n_tensors > left(&r) / MIN_TENSOR_BYTES)
		return fail(&r, ERR_FORMAT, "%lld tensors cannot fit in the %zu bytes left",
		            (long long)g->n_tensors, left(&r));
	return parse_tensors(g, &r);
}

/* ---- public API ------------------------------------------------------------------ */

static struct gguf *
gguf_new(const char *name)
{
	struct gguf *g = calloc(1, sizeof *g);
	if (!g)
		return NULL;
	g->name_buf = strdup(name ? name : "?");
	if (!g->name_buf) {
		free(g);
		return NULL;
	}
	g->name = g->name_buf;
	return g;
}

struct gguf *
gguf_open_mem(const void *data, size_t size, const char *name, int *err)
{
	int rc;
	struct gguf *g = gguf_new(name);
	if (!g) {
		rc = err_set(ERR_NOMEM, "gguf: '%s': out of memory", name ? name : "?");
		goto fail;
	}
	g->data = data;
	g->size = data ? size : 0;
	if ((rc = parse(g)))
		goto fail;
	if (err)
		*err = 0;
	return g;
fail:
	gguf_close(g);
	if (err)
		*err = rc;
	return NULL;
}

struct gguf *
gguf_open(const char *path, int *err)
{
	int rc;
	void *map = NULL;
	size_t size = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = err_set(ERR_IO, "gguf: '%s': cannot open: %s", path, strerror(errno));
		goto fail;
	}
	struct stat st;
	if (fstat(fd, &st) != 0) {
		rc = err_set(ERR_IO, "gguf: '%s': cannot stat: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = err_set(ERR_IO, "gguf: '%s': not a regular file", path);
		goto fail;
	}
	if (st.st_size == 0) {
		rc = err_set(ERR_FORMAT, "gguf: '%s': empty file", path);
		goto fail;
	}
	if ((uint64_t)st.st_size > SIZE_MAX) {
		rc = err_set(ERR_RANGE, "gguf: '%s': file too large to map", path);
		goto fail;
	}
	size = (size_t)st.st_size;
	map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED) {
		map = NULL;
		rc = err_set(ERR_IO, "gguf: '%s': cannot map: %s", path, strerror(errno));
		goto fail;
	}
	close(fd);
	fd = -1;
	struct gguf *g = gguf_open_mem(map, size, path, &rc);
	if (!g)
		goto fail;
	g->map = map;
	g->map_size = size;
	if (err)
		*err = 0;
	return g;
fail:
	if (map)
		munmap(map, size);
	if (fd >= 0)
		close(fd);
	if (err)
		*err = rc;
	return NULL;
}

void
gguf_close(struct gguf *g)
{
	if (!g)
		return;
	if (g->kv) {
		for (int64_t i = 0; i < g->n_kv; i++) {
			free(g->kv[i].key);
			free(g->kv[i].str_off);
		}
	}
	if (g->tensors)
		for (int64_t i = 0; i < g->n_tensors; i++)
			free((char *)g->tensors[i].name);
	free(g->kv);
	free(g->kv_sorted);
	free(g->tensors);
	free(g->t_sorted);
	if (g->map)
		munmap(g->map, g->map_size);
	free(g->name_buf);
	free(g);
}

int
gguf_version(const struct gguf *g)
{
	return g->version;
}

int64_t
gguf_n_kv(const struct gguf *g)
{
	return g->n_kv;
}

const char *
gguf_key(const struct gguf *g, int64_t i)
{
	return i >= 0 && i < g->n_kv ? g->kv[i].key : NULL;
}

enum gguf_type
gguf_kv_type(const struct gguf *g, int64_t i)
{
	return i >= 0 && i < g->n_kv ? g->kv[i].type : GGUF_TYPE_COUNT;
}

int64_t
gguf_find_key(const struct gguf *g, const char *key)
{
	if (!key)
		return -1;
	return find_sorted(g->kv_sorted, g->n_kv, key, kv_name, g);
}

/* ---- value conversion ------------------------------------------------------------ */

/* Integer (or bool) value of type t at p; false for other types or a
 * uint64 above INT64_MAX. */
static bool
as_int(enum gguf_type t, const uint8_t *p, int64_t *v)
{
	switch (t) {
	case GGUF_UINT8: *v = p[0]; return true;
	case GGUF_INT8: *v = (int8_t)p[0]; return true;
	case GGUF_BOOL: *v = p[0] != 0; return true;
	case GGUF_UINT16: *v = (uint16_t)(p[0] | p[1] << 8); return true;
	case GGUF_INT16: *v = (int16_t)(uint16_t)(p[0] | p[1] << 8); return true;
	case GGUF_UINT32: *v = le32(p); return true;
	case GGUF_INT32: *v = (int32_t)le32(p); return true;
	case GGUF_INT64: *v = (int64_t)le64(p); return true;
	case GGUF_UINT64: {
		uint64_t u = le64(p);
		if (u > (uint64_t)INT64_MAX)
			return false;
		*v = (int64_t)u;
		return true;
	}
	default:
		return false;
	}
}

/* Float or integer value as double; false for bool, string, array. */
static bool
as_float(enum gguf_type t, const uint8_t *p, double *v)
{
	if (t == GGUF_FLOAT32) {
		uint32_t u = le32(p);
		float f;
		memcpy(&f, &u, 4);
		*v = f;
		return true;
	}
	if (t == GGUF_FLOAT64) {
		uint64_t u = le64(p);
		memcpy(v, &u, 8);
		return true;
	}
	if (t == GGUF_UINT64) {
		*v = (double)le64(p);
		return true;
	}
	int64_t i;
	if (t != GGUF_BOOL && as_int(t, p, &i)) {
		*v = (double)i;
		return true;
	}
	return false;
}

/* Look up key; ERR_NOTFOUND with a message when absent. */
static int
lookup(const struct gguf *g, const char *key, const struct gguf_kv **kv)
{
	int64_t i = gguf_find_key(g, key);
	if (i < 0)
		return err_set(ERR_NOTFOUND, "gguf: '%s': no key '%.80s'", g->name,
		               key ? key : "(null)");
	*kv = &g->kv[i];
	return 0;
}

static int
wrong_type(const struct gguf *g, const struct gguf_kv *kv, const char *want)
{
	return err_set(ERR_FORMAT, "gguf: '%s': key '%.80s' is %s, not %s", g->name, kv->key,
	               type_str(kv->type), want);
}

int
gguf_get_int(const struct gguf *g, const char *key, int64_t *v)
{
	const struct gguf_kv *kv = NULL;
	int rc = lookup(g, key, &kv);
	if (rc)
		return rc;
	if (!as_int(kv->type, kv->val, v))
		return wrong_type(g, kv, "an integer that fits int64");
	return 0;
}

int
gguf_get_float(const struct gguf *g, const char *key, double *v)
{
	const struct gguf_kv *kv = NULL;
	int rc = lookup(g, key, &kv);
	if (rc)
		return rc;
	if (!as_float(kv->type, kv->val, v))
		return wrong_type(g, kv, "a number");
	return 0;
}

int
gguf_get_bool(const struct gguf *g, const char *key, bool *v)
{
	const struct gguf_kv *kv = NULL;
	int rc = lookup(g, key, &kv);
	if (rc)
		return rc;
	if (kv->type != GGUF_BOOL)
		return wrong_type(g, kv, "bool");
	*v = kv->val[0] != 0;
	return 0;
}

int
gguf_get_str(const struct gguf *g, const char *key, const char **s, size_t *len)
{
	const struct gguf_kv *kv = NULL;
	int rc = lookup(g, key, &kv);
	if (rc)
		return rc;
	if (kv->type != GGUF_STRING)
		return wrong_type(g, kv, "string");
	*s = (const char *)kv->val;
	*len = kv->len;
	return 0;
}

int
gguf_get_arr(const struct gguf *g, const char *key, enum gguf_type *elem, uint64_t *n)
{
	const struct gguf_kv *kv = NULL;
	int rc = lookup(g, key, &kv);
	if (rc)
		return rc;
	if (kv->type != GGUF_ARRAY)
		return wrong_type(g, kv, "array");
	*elem = kv->elem;
	*n = kv->n;
	return 0;
}

/* Array kv for key with element i in range; ERR_RANGE past the end. */
static int
arr_elem(const struct gguf *g, const char *key, uint64_t i, const struct gguf_kv **kv)
{
	int rc = lookup(g, key, kv);
	if (rc)
		return rc;
	if ((*kv)->type != GGUF_ARRAY)
		return wrong_type(g, *kv, "array");
	if (i >= (*kv)->n)
		return err_set(ERR_RANGE, "gguf: '%s': key '%.80s': index %llu past %llu elements",
		               g->name, (*kv)->key, (unsigned long long)i,
		               (unsigned long long)(*kv)->n);
	return 0;
}

int
gguf_get_arr_str(const struct gguf *g, const char *key, uint64_t i, const char **s,
                 size_t *len)
{
	const struct gguf_kv *kv = NULL;
	int rc = arr_elem(g, key, i, &kv);
	if (rc)
		return rc;
	if (kv->elem != GGUF_STRING)
		return err_set(ERR_FORMAT, "gguf: '%s': key '%.80s' is an array of %s, not strings",
		               g->name, kv->key, type_str(kv->elem));
	const uint8_t *p = kv->val + kv->str_off[i];
	*len = (size_t)le64(p);  /* checked against the file while parsing */
	*s = (const char *)p + 8;
	return 0;
}

int
gguf_get_arr_int(const struct gguf *g, const char *key, uint64_t i, int64_t *v)
{
	const struct gguf_kv *kv = NULL;
	int rc = arr_elem(g, key, i, &kv);
	if (rc)
		return rc;
	size_t sz = scalar_size(kv->elem);
	if (!sz || !as_int(kv->elem, kv->val + i * sz, v))
		return err_set(ERR_FORMAT,
		               "gguf: '%s': key '%.80s': element %llu (%s) is not an integer that fits int64",
		               g->name, kv->key, (unsigned long long)i, type_str(kv->elem));
	return 0;
}

int
gguf_get_arr_float(const struct gguf *g, const char *key, uint64_t i, double *v)
{
	const struct gguf_kv *kv = NULL;
	int rc = arr_elem(g, key, i, &kv);
	if (rc)
		return rc;
	size_t sz = scalar_size(kv->elem);
	if (!sz || !as_float(kv->elem, kv->val + i * sz, v))
		return err_set(ERR_FORMAT, "gguf: '%s': key '%.80s': element %llu (%s) is not a number",
		               g->name, kv->key, (unsigned long long)i, type_str(kv->elem));
	return 0;
}

int64_t
gguf_n_tensors(const struct gguf *g)
{
	return g->n_tensors;
}

const struct fmt_tensor *
gguf_tensor(const struct gguf *g, int64_t i)
{
	return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

const struct fmt_tensor *
gguf_find_tensor(const struct gguf *g, const char *name)
{
	if (!name)
		return NULL;
	int64_t i = find_sorted(g->t_sorted, g->n_tensors, name, tensor_name, g);
	return i >= 0 ? &g->tensors[i] : NULL;
}

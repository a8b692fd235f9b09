/*
 * safetensors.c — safetensors reader: one mapped file, or a sharded
 * checkpoint opened through its "*.index.json" and exposed as one object.
 * The JSON header is parsed with jansson (duplicates rejected); every
 * entry's dtype, shape and data_offsets are checked against the file, and
 * tensors may not overlap. Layout: see formats.h.
 */
#define _GNU_SOURCE
#include "formats/formats.h"
#include "util/util.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* From quant.c (no private header in this module). */
bool fmt__type_by_name(const char *name, enum fmt_type *t);
int fmt__nbytes(enum fmt_type t, int ndim, const int64_t *shape, int64_t *n,
                size_t *nbytes);

#define MAX_HEADER_BYTES ((uint64_t)100 * 1000 * 1000)   /* 100 MB */

struct shard {
	char *name;                 /* path (or the caller's name) for messages */
	void *map;                  /* mmap'd file, NULL for st_open_mem        */
	size_t size;
	const uint8_t *data;        /* whole file (size bytes)                  */
	json_t *header;             /* parsed JSON header (owns metadata)       */
	json_t *meta;               /* header's "__metadata__" or NULL (borrowed) */
	int64_t n;
	struct fmt_tensor *tensors; /* (n) sorted by name                       */
};

struct safetensors {
	int n_shards;
	struct shard *shards;       /* (n_shards)                                */
	json_t *index;              /* sharded: the index JSON, else NULL        */
	int64_t n;
	struct fmt_tensor *tensors; /* (n) sorted by name; single file: shard 0's
	                               array, sharded: owned copies             */
};

__attribute__((format(printf, 3, 4))) static int
fail(const char *name, int code, const char *fmt, ...)
{
	char msg[400];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return err_set(code, "safetensors: '%s': %s", name, msg);
}

static int
cmp_tensor_name(const void *a, const void *b)
{
	return strcmp(((const struct fmt_tensor *)a)->name,
	              ((const struct fmt_tensor *)b)->name);
}

static const struct fmt_tensor *
shard_find(const struct shard *sh, const char *name)
{
	struct fmt_tensor key = { .name = name };
	return bsearch(&key, sh->tensors, (size_t)sh->n, sizeof key, cmp_tensor_name);
}

/* ---- one file's header ----------------------------------------------------- */

struct span {
	uint64_t begin, end;
	const char *name;
};

static int
cmp_span(const void *a, const void *b)
{
	const struct span *x = a, *y = b;
	return x->begin < y->begin ? -1 : x->begin > y->begin;
}

/* Read one integer >= 0 from a JSON value. */
static bool
json_uint(const json_t *v, int64_t *out)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return false;
	*out = (int64_t)json_integer_value(v);
	return true;
}

/* Validate one entry of the header and fill *t (name set by the caller). */
static int
parse_entry(const struct shard *sh, const char *key, const json_t *e,
            size_t data_len, struct fmt_tensor *t, struct span *sp)
{
	const char *nm = sh->name;
	if (!json_is_object(e))
		return fail(nm, ERR_FORMAT, "tensor '%.80s': entry is not an object", key);
	const json_t *jd = json_object_get(e, "dtype");
	const json_t *js = json_object_get(e, "shape");
	const json_t *jo = json_object_get(e, "data_offsets");
	if (!json_is_string(jd) || !json_is_array(js) || !json_is_array(jo))
		return fail(nm, ERR_FORMAT,
		            "tensor '%.80s': needs a string dtype, a shape array and data_offsets",
		            key);
	if (!fmt__type_by_name(json_string_value(jd), &t->type))
		return fail(nm, ERR_UNSUPPORTED, "tensor '%.80s': unknown dtype '%.20s'", key,
		            json_string_value(jd));
	size_t ndim = json_array_size(js);
	if (ndim > 4)
		return fail(nm, ERR_UNSUPPORTED,
		            "tensor '%.80s': %zu dimensions, at most 4 are supported", key, ndim);
	t->ndim = (int)ndim;
	for (size_t i = 0; i < ndim; i++)
		if (!json_uint(json_array_get(js, i), &t->shape[i]))
			return fail(nm, ERR_FORMAT,
			            "tensor '%.80s': shape[%zu] is not an integer >= 0", key, i);
	int rc = fmt__nbytes(t->type, t->ndim, t->shape, &t->n, &t->nbytes);
	if (rc)
		return fail(nm, ERR_FORMAT, "tensor '%.80s': element count or byte size overflows",
		            key);
	int64_t b, en;
	if (json_array_size(jo) != 2 || !json_uint(json_array_get(jo, 0), &b) ||
	    !json_uint(json_array_get(jo, 1), &en) || b > en)
		return fail(nm, ERR_FORMAT,
		            "tensor '%.80s': data_offsets must be two integers 0 <= begin <= end",
		            key);
	if ((uint64_t)en > data_len)
		return fail(nm, ERR_FORMAT,
		            "tensor '%.80s': data_offsets [%lld, %lld] run past the %zu-byte data area",
		            key, (long long)b, (long long)en, data_len);
	if ((uint64_t)(en - b) != t->nbytes)
		return fail(nm, ERR_FORMAT,
		            "tensor '%.80s': data_offsets span %lld bytes, dtype and shape need %zu",
		            key, (long long)(en - b), t->nbytes);
	sp->begin = (uint64_t)b;
	sp->end = (uint64_t)en;
	return 0;
}

/* Parse sh->data: header length, JSON, entries; fills sh->tensors sorted
 * by name. */
static int
parse_shard(struct shard *sh)
{
	const char *nm = sh->name;
	struct span *spans = NULL;
	int rc;
	if (sh->size < 8)
		return fail(nm, ERR_FORMAT, "file too small (%zu bytes) for the header length",
		            sh->size);
	uint64_t hlen = 0;
	for (int i = 7; i >= 0; i--)
		hlen = hlen << 8 | sh->data[i];
	if (hlen > MAX_HEADER_BYTES)
		return fail(nm, ERR_FORMAT, "header length %llu exceeds the 100 MB limit",
		            (unsigned long long)hlen);
	if (hlen > sh->size - 8)
		return fail(nm, ERR_FORMAT, "header length %llu runs past the end of the file",
		            (unsigned long long)hlen);
	if (hlen < 2 || sh->data[8] != '{')
		return fail(nm, ERR_FORMAT, "header is not a json object");
	json_error_t jerr;
	sh->header = json_loadb((const char *)sh->data + 8, (size_t)hlen,
	                        JSON_REJECT_DUPLICATES, &jerr);
	if (!sh->header)
		return fail(nm, ERR_FORMAT, "invalid json header: %s (at byte %d)", jerr.text,
		            jerr.position);
	if (!json_is_object(sh->header))
		return fail(nm, ERR_FORMAT, "header is not a json object");
	const uint8_t *base = sh->data + 8 + hlen;
	size_t data_len = sh->size - 8 - (size_t)hlen;

	size_t cap = json_object_size(sh->header);
	sh->tensors = calloc(cap + 1, sizeof *sh->tensors);
	spans = calloc(cap + 1, sizeof *spans);
	if (!sh->tensors || !spans) {
		rc = fail(nm, ERR_NOMEM, "out of memory");
		goto out;
	}
	const char *key;
	json_t *e;
	json_object_foreach(sh->header, key, e) {
		if (strcmp(key, "__metadata__") == 0) {
			if (!json_is_object(e)) {
				rc = fail(nm, ERR_FORMAT, "__metadata__ is not an object");
				goto out;
			}
			const char *mk;
			json_t *mv;
			json_object_foreach(e, mk, mv) {
				if (!json_is_string(mv)) {
					rc = fail(nm, ERR_FORMAT, "__metadata__ '%.80s' is not a string",
					          mk);
					goto out;
				}
			}
			sh->meta = e;
			continue;
		}
		struct fmt_tensor *t = &sh->tensors[sh->n];
		if ((rc = parse_entry(sh, key, e, data_len, t, &spans[sh->n])))
			goto out;
		t->name = strdup(key);
		if (!t->name) {
			rc = fail(nm, ERR_NOMEM, "out of memory");
			goto out;
		}
		t->data = base + spans[sh->n].begin;
		spans[sh->n].name = t->name;
		sh->n++;
	}

	qsort(spans, (size_t)sh->n, sizeof *spans, cmp_span);
	uint64_t end = 0;
	const char *prev = NULL;
	for (int64_t k = 0; k < sh->n; k++) {
		if (spans[k].begin == spans[k].end)
			continue;  /* empty tensors overlap nothing */
		if (prev && spans[k].begin < end) {
			rc = fail(nm, ERR_FORMAT, "tensors '%.80s' and '%.80s' overlap", prev,
			          spans[k].name);
			goto out;
		}
		end = spans[k].end;
		prev = spans[k].name;
	}
	qsort(sh->tensors, (size_t)sh->n, sizeof *sh->tensors, cmp_tensor_name);
	rc = 0;
out:
	free(spans);
	return rc;
}

static void
shard_release(struct shard *sh)
{
	for (int64_t i = 0; i < sh->n; i++)
		free((char *)sh->tensors[i].name);
	free(sh->tensors);
	json_decref(sh->header);
	if (sh->map)
		munmap(sh->map, sh->size);
	free(sh->name);
	memset(sh, 0, sizeof *sh);
}

/* Map the file at path into sh and parse it. */
static int
shard_open(struct shard *sh, const char *path)
{
	int rc;
	sh->name = strdup(path);
	if (!sh->name)
		return err_set(ERR_NOMEM, "safetensors: '%s': out of memory", path);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(path, ERR_IO, "cannot open: %s", strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0) {
		rc = fail(path, ERR_IO, "cannot stat: %s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = fail(path, ERR_IO, "not a regular file");
		goto out;
	}
	if (st.st_size < 8) {
		rc = fail(path, ERR_FORMAT, "file too small (%lld bytes) for the header length",
		          (long long)st.st_size);
		goto out;
	}
	if ((uint64_t)st.st_size > SIZE_MAX) {
		rc = fail(path, ERR_RANGE, "file too large to map");
		goto out;
	}
	void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED) {
		rc = fail(path, ERR_IO, "cannot map: %s", strerror(errno));
		goto out;
	}
	sh->map = map;
	sh->size = (size_t)st.st_size;
	sh->data = map;
	rc = parse_shard(sh);
out:
	close(fd);
	return rc;
}

/* ---- the object ------------------------------------------------------------- */

struct safetensors *
st_open_mem(const void *data, size_t size, const char *name, int *err)
{
	int rc;
	if (!name)
		name = "?";
	struct safetensors *s = calloc(1, sizeof *s);
	if (s)
		s->shards = calloc(1, sizeof *s->shards);
	if (!s || !s->shards) {
		rc = err_set(ERR_NOMEM, "safetensors: '%s': out of memory", name);
		goto fail;
	}
	s->n_shards = 1;
	struct shard *sh = &s->shards[0];
	sh->name = strdup(name);
	if (!sh->name) {
		rc = err_set(ERR_NOMEM, "safetensors: '%s': out of memory", name);
		goto fail;
	}
	sh->data = data;
	sh->size = data ? size : 0;
	if ((rc = parse_shard(sh)))
		goto fail;
	s->n = sh->n;
	s->tensors = sh->tensors;
	if (err)
		*err = 0;
	return s;
fail:
	st_close(s);
	if (err)
		*err = rc;
	return NULL;
}

static bool
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* A shard name from weight_map: a plain file name in the index's folder. */
static bool
shard_name_ok(const char *f)
{
	return f[0] != '\0' && !strchr(f, '/') && !strchr(f, '\\') && !strstr(f, "..");
}

/* Open the sharded checkpoint described by the index at path. */
static int
open_index(struct safetensors *s, const char *path)
{
	char *text = NULL, *dir = NULL, *full = NULL;
	json_t *shard_ids = NULL;
	size_t len;
	int rc = util_read_file(path, &text, &len);
	if (rc)
		return fail(path, rc, "cannot read the index: %s", err_msg(rc));
	if (len > MAX_HEADER_BYTES) {
		rc = fail(path, ERR_FORMAT, "index larger than 100 MB");
		goto out;
	}
	json_error_t jerr;
	s->index = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!s->index) {
		rc = fail(path, ERR_FORMAT, "invalid json index: %s (at byte %d)", jerr.text,
		          jerr.position);
		goto out;
	}
	json_t *wm = json_object_get(s->index, "weight_map");
	if (!json_is_object(wm)) {
		rc = fail(path, ERR_FORMAT, "index has no \"weight_map\" object");
		goto out;
	}
	const char *slash = strrchr(path, '/');
	dir = slash ? strndup(path, (size_t)(slash - path + 1)) : strdup("");
	shard_ids = json_object();
	size_t cap = json_object_size(wm);
	s->shards = calloc(cap + 1, sizeof *s->shards);
	s->tensors = calloc(cap + 1, sizeof *s->tensors);
	if (!dir || !shard_ids || !s->shards || !s->tensors) {
		rc = fail(path, ERR_NOMEM, "out of memory");
		goto out;
	}

	const char *tname;
	json_t *jf;
	json_object_foreach(wm, tname, jf) {
		if (!json_is_string(jf)) {
			rc = fail(path, ERR_FORMAT, "weight_map '%.80s' is not a string", tname);
			goto out;
		}
		const char *file = json_string_value(jf);
		if (!shard_name_ok(file)) {
			rc = fail(path, ERR_FORMAT,
			          "weight_map '%.80s': shard name '%.80s' is not a plain file name",
			          tname, file);
			goto out;
		}
		json_t *id = json_object_get(shard_ids, file);
		int k;
		if (id) {
			k = (int)json_integer_value(id);
		} else {
			k = s->n_shards++;
			free(full);
			if (asprintf(&full, "%s%s", dir, file) < 0) {
				full = NULL;
				rc = fail(path, ERR_NOMEM, "out of memory");
				goto out;
			}
			if ((rc = shard_open(&s->shards[k], full)))
				goto out;
			if (json_object_set_new(shard_ids, file, json_integer(k)) != 0) {
				rc = fail(path, ERR_NOMEM, "out of memory");
				goto out;
			}
		}
		const struct fmt_tensor *t = shard_find(&s->shards[k], tname);
		if (!t) {
			rc = fail(path, ERR_FORMAT, "tensor '%.80s' is not in shard '%.80s'", tname,
			          file);
			goto out;
		}
		struct fmt_tensor *dst = &s->tensors[s->n];
		*dst = *t;
		dst->name = strdup(tname);
		if (!dst->name) {
			rc = fail(path, ERR_NOMEM, "out of memory");
			goto out;
		}
		s->n++;
	}
	qsort(s->tensors, (size_t)s->n, sizeof *s->tensors, cmp_tensor_name);
	rc = 0;
out:
	json_decref(shard_ids);
	free(full);
	free(dir);
	free(text);
	return rc;
}

struct safetensors *
st_open(const char *path, int *err)
{
	int rc;
	struct safetensors *s = calloc(1, sizeof *s);
	if (!s) {
		rc = err_set(ERR_NOMEM, "safetensors: '%s': out of memory", path);
		goto fail;
	}
	if (ends_with(path, ".index.json")) {
		if ((rc = open_index(s, path)))
			goto fail;
	} else {
		s->shards = calloc(1, sizeof *s->shards);
		if (!s->shards) {
			rc = err_set(ERR_NOMEM, "safetensors: '%s': out of memory", path);
			goto fail;
		}
		s->n_shards = 1;
		if ((rc = shard_open(&s->shards[0], path)))
			goto fail;
		s->n = s->shards[0].n;
		s->tensors = s->shards[0].tensors;
	}
	if (err)
		*err = 0;
	return s;
fail:
	st_close(s);
	if (err)
		*err = rc;
	return NULL;
}

void
st_close(struct safetensors *s)
{
	if (!s)
		return;
	if (s->index && s->tensors) {
		for (int64_t i = 0; i < s->n; i++)
			free((char *)s->tensors[i].name);
		free(s->tensors);
	}
	for (int i = 0; i < s->n_shards; i++)
		shard_release(&s->shards[i]);
	free(s->shards);
	json_decref(s->index);
	free(s);
}

int64_t
st_n_tensors(const struct safetensors *s)
{
	return s->n;
}

const struct fmt_tensor *
st_tensor(const struct safetensors *s, int64_t i)
{
	return i >= 0 && i < s->n ? &s->tensors[i] : NULL;
}

const struct fmt_tensor *
st_find_tensor(const struct safetensors *s, const char *name)
{
	if (!name)
		return NULL;
	struct fmt_tensor key = { .name = name };
	return bsearch(&key, s->tensors, (size_t)s->n, sizeof key, cmp_tensor_name);
}

const char *
st_metadata(const struct safetensors *s, const char *key)
{
	if (!key)
		return NULL;
	if (s->index) {
		/* the index's own "metadata" (string values only), then the shards' */
		json_t *v = json_object_get(json_object_get(s->index, "metadata"), key);
		if (json_is_string(v))
			return json_string_value(v);
	}
	for (int i = 0; i < s->n_shards; i++) {
		json_t *v = json_object_get(s->shards[i].meta, key);
		if (json_is_string(v))
			return json_string_value(v);
	}
	return NULL;
}

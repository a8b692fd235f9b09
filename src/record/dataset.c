/*
 * dataset.c — sample readers: plain text (one sample per line) and JSONL
 * (a text field, or a list of token ids), plus a one-sample reader for
 * --text. Every error names the file and the line.
 */
#include "record.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/util.h"

enum ds_kind { DS_TEXT_ONE, DS_TXT, DS_JSONL };

struct ds_reader {
	enum ds_kind kind;
	char *path;
	char *field;
	FILE *f;
	char *line;
	size_t line_cap;
	long line_no;
	char *text;            /* DS_TEXT_ONE: the text; else the current text */
	bool text_done;
	int32_t *ids;
	int ids_cap;
	char *src;             /* pairs: the source text or ids */
	int32_t *src_ids;
	int src_ids_cap;
};

static bool
has_ext(const char *path, const char *ext)
{
	size_t n = strlen(path), e = strlen(ext);
	return n > e && strcasecmp(path + n - e, ext) == 0;
}

struct ds_reader *
ds_open(const char *path, const char *text, const char *field, int *err)
{
	int rc = ERR_NOMEM;
	struct ds_reader *r = calloc(1, sizeof *r);
	if (!r)
		goto fail;
	if (!(r->field = strdup(field ? field : "text")))
		goto fail;
	if (!path) {
		r->kind = DS_TEXT_ONE;
		if (!(r->text = strdup(text ? text : "")))
			goto fail;
		if (!util_utf8_valid(r->text, strlen(r->text))) {
			rc = err_set(ERR_FORMAT, "--text is not valid UTF-8");
			goto fail;
		}
		return r;
	}
	if (has_ext(path, ".txt"))
		r->kind = DS_TXT;
	else if (has_ext(path, ".jsonl") || has_ext(path, ".json") ||
	         has_ext(path, ".ndjson"))
		r->kind = DS_JSONL;
	else {
		rc = err_set(ERR_ARG, "dataset '%s': unknown format (use .txt for one "
		             "sample per line or .jsonl for JSON lines)", path);
		goto fail;
	}
	if (!(r->path = strdup(path)))
		goto fail;
	if (!(r->f = fopen(path, "rb"))) {
		rc = err_set(ERR_IO, "cannot open dataset '%s': %s", path, strerror(errno));
		goto fail;
	}
	return r;
fail:
	if (rc == ERR_NOMEM)
		err_set(ERR_NOMEM, "out of memory");
	ds_close(r);
	if (err)
		*err = rc;
	return NULL;
}

void
ds_close(struct ds_reader *r)
{
	if (!r)
		return;
	if (r->f)
		fclose(r->f);
	free(r->path);
	free(r->field);
	free(r->line);
	free(r->text);
	free(r->ids);
	free(r->src);
	free(r->src_ids);
	free(r);
}

int
ds_rewind(struct ds_reader *r)
{
	r->text_done = false;
	r->line_no = 0;
	if (r->f && fseek(r->f, 0, SEEK_SET) != 0)
		return err_set(ERR_IO, "cannot rewind '%s'", r->path);
	return 0;
}

/* Read the next line without its end of line; 1, 0 at EOF, <0 on error. */
static int
read_line(struct ds_reader *r, size_t *len)
{
	errno = 0;
	ssize_t n = getline(&r->line, &r->line_cap, r->f);
	if (n < 0) {
		if (ferror(r->f))
			return err_set(ERR_IO, "%s: read error: %s", r->path, strerror(errno));
		return 0;
	}
	r->line_no++;
	while (n > 0 && (r->line[n - 1] == '\n' || r->line[n - 1] == '\r'))
		r->line[--n] = '\0';
	if ((size_t)n != strlen(r->line))
		return err_set(ERR_FORMAT, "%s:%ld: line contains a NUL byte", r->path,
		               r->line_no);
	*len = (size_t)n;
	return 1;
}

static bool
blank(const char *s)
{
	for (; *s; s++)
		if (*s != ' ' && *s != '\t')
			return false;
	return true;
}

/* A string field into *buf (replacing it); 1 found, 0 absent, <0 error. */
static int
get_text(struct ds_reader *r, json_t *o, const char *key, char **buf, const char **out,
         size_t *len)
{
	json_t *v = json_object_get(o, key);
	if (!v)
		return 0;
	if (!json_is_string(v))
		return err_set(ERR_FORMAT, "%s:%ld: field \"%s\" is not a string", r->path,
		               r->line_no, key);
	size_t n = json_string_length(v);
	if (strlen(json_string_value(v)) != n)
		return err_set(ERR_FORMAT, "%s:%ld: field \"%s\" contains a NUL character",
		               r->path, r->line_no, key);
	char *t = strdup(json_string_value(v));
	if (!t)
		return err_set(ERR_NOMEM, "out of memory");
	free(*buf);
	*buf = t;
	*out = t;
	*len = n;
	return 1;
}

/* A list of token ids into *buf; 1 found, 0 absent, <0 error. */
static int
get_ids(struct ds_reader *r, json_t *o, const char *key, int32_t **buf, int *cap,
        const int32_t **out, int *n_out)
{
	json_t *ids = json_object_get(o, key);
	if (!ids)
		return 0;
	size_t n = json_is_array(ids) ? json_array_size(ids) : 0;
	if (!json_is_array(ids) || n == 0 || n > (1u << 24))
		return err_set(ERR_FORMAT, "%s:%ld: \"%s\" must be a non-empty list of ids",
		               r->path, r->line_no, key);
	if ((int)n > *cap) {
		int32_t *p = realloc(*buf, n * sizeof *p);
		if (!p)
			return err_set(ERR_NOMEM, "out of memory");
		*buf = p;
		*cap = (int)n;
	}
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(ids, i);
		json_int_t v = json_is_integer(e) ? json_integer_value(e) : -1;
		if (!json_is_integer(e) || v < 0 || v > INT32_MAX)
			return err_set(ERR_FORMAT, "%s:%ld: \"%s\"[%zu] is not a token id", r->path,
			               r->line_no, key, i);
		(*buf)[i] = (int32_t)v;
	}
	*out = *buf;
	*n_out = (int)n;
	return 1;
}

static int
parse_jsonl(struct ds_reader *r, struct ds_sample *s, size_t len)
{
	json_error_t je;
	json_t *o = json_loadb(r->line, len, 0, &je);
	int rc = 0;
	if (!o)
		return err_set(ERR_FORMAT, "%s:%ld: invalid JSON at column %d: %s",
		               r->path, r->line_no, je.column, je.text);
	if (!json_is_object(o)) {
		rc = err_set(ERR_FORMAT, "%s:%ld: expected a JSON object per line",
		             r->path, r->line_no);
		goto out;
	}
	if (json_object_get(o, "source") || json_object_get(o, "source_tokens")) {
		s->pair = true;
		int a = get_text(r, o, "source", &r->src, &s->source, &s->source_len);
		int b = a ? 0 : get_ids(r, o, "source_tokens", &r->src_ids, &r->src_ids_cap,
		                        &s->source_tokens, &s->n_source_tokens);
		if (a < 0 || b < 0) {
			rc = a < 0 ? a : b;
			goto out;
		}
		int c = get_text(r, o, "target", &r->text, &s->text, &s->len);
		int d = c ? 0 : get_ids(r, o, "target_tokens", &r->ids, &r->ids_cap, &s->tokens,
		                        &s->n_tokens);
		rc = c < 0 ? c : d < 0 ? d : 1;
		goto out;
	}
	int a = get_text(r, o, r->field, &r->text, &s->text, &s->len);
	int b = a ? 0 : get_ids(r, o, "tokens", &r->ids, &r->ids_cap, &s->tokens, &s->n_tokens);
	if (a < 0 || b < 0) {
		rc = a < 0 ? a : b;
		goto out;
	}
	if (!a && !b) {
		rc = err_set(ERR_FORMAT, "%s:%ld: no \"%s\" field, no \"tokens\" list and no "
		             "\"source\" (choose the field with --field)", r->path, r->line_no,
		             r->field);
		goto out;
	}
	rc = 1;
out:
	json_decref(o);
	return rc;
}

int
ds_next(struct ds_reader *r, struct ds_sample *s)
{
	memset(s, 0, sizeof *s);
	if (r->kind == DS_TEXT_ONE) {
		if (r->text_done)
			return 0;
		r->text_done = true;
		s->text = r->text;
		s->len = strlen(r->text);
		s->line = 1;
		return 1;
	}
	for (;;) {
		size_t len = 0;
		int rc = read_line(r, &len);
		if (rc <= 0)
			return rc;
		if (blank(r->line))
			continue;
		s->line = r->line_no;
		if (r->kind == DS_TXT) {
			if (!util_utf8_valid(r->line, len))
				return err_set(ERR_FORMAT, "%s:%ld: not valid UTF-8", r->path,
				               r->line_no);
			s->text = r->line;
			s->len = len;
			return 1;
		}
		return parse_jsonl(r, s, len);
	}
}

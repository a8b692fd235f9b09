/*
 * fuzz_dataset.c — the dataset readers (record.h: ds_open/ds_next).
 *
 * Input: byte 0 picks the reader: bit 0 .jsonl (else .txt), bit 1 the
 * JSONL text field "body" (else "text"), bit 2 the one-sample --text
 * reader on the rest (NUL-terminated copy) instead of a file. The rest is
 * written to a temporary file and read to the end (at most 100000
 * samples), then read again after ds_rewind(): both passes must give the
 * same samples and the same outcome.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "record/record.h"

#define MAX_SAMPLES 100000

/* FNV-1a over what a pass saw */
static uint64_t
mix(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

static uint64_t
pass(struct ds_reader *r, long *count, int *last)
{
	uint64_t h = 0xcbf29ce484222325ull;
	struct ds_sample s;
	int rc = 0;
	long n = 0;
	while (n < MAX_SAMPLES && (rc = ds_next(r, &s)) == 1) {
		if (s.text) {
			if (strlen(s.text) != s.len)
				abort(); /* the reader promised NUL-terminated, NUL-free text */
			h = mix(h, s.text, s.len);
		} else {
			if (!s.tokens || s.n_tokens <= 0)
				abort();
			h = mix(h, s.tokens, (size_t)s.n_tokens * sizeof *s.tokens);
		}
		h = mix(h, &s.line, sizeof s.line);
		n++;
	}
	*count = n;
	*last = rc;
	return h;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1 || size > FZ_MAX_INPUT)
		return 0;
	unsigned mode = data[0];
	const char *field = mode & 2 ? "body" : NULL;
	int err;
	struct ds_reader *r;
	char *text = NULL;
	if (mode & 4) {
		if (!(text = malloc(size)))
			abort();
		memcpy(text, data + 1, size - 1);
		text[size - 1] = '\0';
		r = ds_open(NULL, text, field, &err);
	} else {
		const char *path = fz_path(mode & 1 ? "data.jsonl" : "data.txt");
		fz_write(path, data + 1, size - 1);
		r = ds_open(path, NULL, field, &err);
	}
	if (r) {
		long n1, n2;
		int rc1, rc2;
		uint64_t h1 = pass(r, &n1, &rc1);
		if (ds_rewind(r) != 0)
			abort();
		uint64_t h2 = pass(r, &n2, &rc2);
		if (h1 != h2 || n1 != n2 || rc1 != rc2) {
			fprintf(stderr, "dataset: first pass %ld samples (rc %d), second %ld (rc %d)\n",
			        n1, rc1, n2, rc2);
			abort();
		}
		ds_close(r);
	}
	free(text);
	return 0;
}

/*
 * fuzz_hf.c — Hugging Face directories: config.json and the tokenizer
 * files. The input is split at the separator "\n=====\n" into up to seven
 * files, in this order:
 *   config.json, tokenizer.json, tokenizer_config.json, vocab.json,
 *   merges.txt, vocab.txt, model.safetensors
 * Missing and empty parts are absent files (a missing model.safetensors
 * is a valid empty one, "{}", so that config.json is always parsed). The directory goes
 * through model_open() (a small model then runs two tokens), tok_open_hf()
 * and tok_open_path() on each tokenizer file (which forces that format);
 * every tokenizer encodes a fixed text and decodes what it gave.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

#define SEP "\n=====\n"

static const char *const files[] = {
	"config.json", "tokenizer.json", "tokenizer_config.json", "vocab.json",
	"merges.txt", "vocab.txt", "model.safetensors",
};
enum { N_FILES = sizeof files / sizeof files[0] };

static const char *
dir_path(const char *name)
{
	return fz_path(name);
}

static void
exercise(struct tokenizer *t)
{
	static const char text[] = "Hello, world! The caf\xc3\xa9's <|endoftext|> [SEP] "
	                           "\xe2\x96\x81x \xf0\x9f\x98\x80 \xff 12345";
	int32_t ids[512];
	int n = 0;
	for (unsigned flags = 0; flags < 4; flags++) {
		if (tok_encode_ex(t, text, sizeof text - 1, flags, ids, 512, &n) != 0)
			continue;
		char buf[64];
		for (int i = 0; i < n; i++)
			if (tok_decode(t, i ? ids[i - 1] : -1, ids[i], buf, sizeof buf) < 0)
				abort(); /* an id the tokenizer does not know */
	}
	tok_special_policy(t);
	tok_set_add_bos(t, 1);
	tok_special_policy(t);
	tok_encode_ex(t, text, 5, TOK_ADD_SPECIAL, ids, 512, &n);
	tok_set_add_bos(t, 0);
	tok_encode_ex(t, text, 5, TOK_ADD_SPECIAL, ids, 512, &n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > FZ_MAX_INPUT)
		return 0;
	const char *dir = fz_path("hf");
	mkdir(dir, 0700);
	char name[64];
	const size_t sep = sizeof SEP - 1;
	size_t at = 0;
	bool more = true;
	int k = 0;
	for (; k < N_FILES && more; k++) {
		size_t q = at;
		while (q + sep <= size && memcmp(data + q, SEP, sep) != 0)
			q++;
		more = q + sep <= size;
		if (!more)
			q = size;
		snprintf(name, sizeof name, "hf/%s", files[k]);
		if (q > at)
			fz_write(dir_path(name), data + at, q - at);
		else
			fz_unlink(dir_path(name));
		at = q + sep;
	}
	for (int j = k; j < N_FILES; j++) {
		snprintf(name, sizeof name, "hf/%s", files[j]);
		if (j == N_FILES - 1) {
			static const uint8_t empty[] = { 2, 0, 0, 0, 0, 0, 0, 0, '{', '}' };
			fz_write(dir_path(name), empty, sizeof empty);
		} else {
			fz_unlink(dir_path(name));
		}
	}

	int err;
	struct model *m = model_open(dir, &err);
	if (m) {
		const struct model_config *c = model_config(m);
		size_t work = (size_t)c->d_model * 16 + (size_t)c->d_ff * 4 +
		              (size_t)c->vocab_size * 2 + (size_t)c->n_head * 4 +
		              (size_t)c->n_pos;
		if (c->vocab_size >= 2 && c->n_ctx >= 2 && work < FZ_MAX_FLOATS) {
			int32_t ids[2] = { 1, 0 };
			float *logits = malloc(2 * (size_t)c->vocab_size * sizeof *logits);
			if (logits) {
				model_forward(m, ids, 2, NULL, c->has_lm_head ? logits : NULL);
				free(logits);
			}
		}
		model_close(m);
	}
	struct tokenizer *t = tok_open_hf(dir, &err);
	if (t) {
		exercise(t);
		tok_free(t);
	}
	/* each format on its own, even beside a tokenizer.json */
	static const char *const forced[] = { "hf/vocab.json", "hf/vocab.txt" };
	for (int j = 0; j < 2; j++) {
		struct stat sb;
		if (stat(dir_path(forced[j]), &sb) != 0)
			continue; /* not written */
		if ((t = tok_open_path(dir_path(forced[j]), 0, &err))) {
			exercise(t);
			tok_free(t);
		}
	}
	return 0;
}

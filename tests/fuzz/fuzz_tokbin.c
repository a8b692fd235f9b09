/*
 * fuzz_tokbin.c — llama2.c tokenizer.bin files (tok_open_llama2c). The
 * input is written to a file and opened counting its records (vocab_size
 * 0, as `attnscope tokenize` does); a file that opens must open again with
 * exactly that count and must be refused with one record less (bytes would
 * be left over). A loaded tokenizer encodes a fixed text and its own
 * pieces, and every id decodes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "tokenizer/tokenizer.h"

static void
exercise(const struct tokenizer *t)
{
	static const char text[] = "Once upon a time, caf\xc3\xa9 \xff\x00z <s> \n\t 42";
	int32_t ids[sizeof text + 2];
	int n = 0;
	for (int bos = 0; bos < 2; bos++) {
		if (tok_encode(t, text, sizeof text - 1, bos, ids, (int)(sizeof text + 2), &n) != 0)
			abort(); /* len + 2 ids always suffice */
		char buf[80];
		for (int i = 0; i < n; i++)
			if (tok_decode(t, i ? ids[i - 1] : -1, ids[i], buf, sizeof buf) < 0)
				abort();
	}
	/* each piece encodes (pieces are arbitrary NUL-free bytes) */
	int V = tok_vocab_size(t);
	for (int id = 0; id < V && id < 2048; id++) {
		const char *p = tok_piece(t, id);
		size_t len = tok_piece_len(t, id);
		int32_t out[80];
		if (!p || len > 64)
			continue;
		if (tok_encode(t, p, len, false, out, 80, &n) != 0 && n <= 80)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > FZ_MAX_INPUT)
		return 0;
	const char *path = fz_path("tokenizer.bin");
	fz_write(path, data, size);
	int err;
	struct tokenizer *t = tok_open_llama2c(path, 0, &err);
	if (!t)
		return 0;
	int V = tok_vocab_size(t);
	exercise(t);
	tok_free(t);
	if (V >= 3) {
		struct tokenizer *u = tok_open_llama2c(path, V, &err);
		if (!u) {
			fprintf(stderr, "tokbin: %d records counted, refused with that count\n", V);
			abort();
		}
		tok_free(u);
	}
	if (V >= 4 && (t = tok_open_llama2c(path, V - 1, &err)) != NULL) {
		fprintf(stderr, "tokbin: %d records counted, accepted with %d\n", V, V - 1);
		abort();
	}
	return 0;
}

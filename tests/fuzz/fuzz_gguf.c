/*
 * fuzz_gguf.c — GGUF: gguf_open_mem(), then every key/value through every
 * getter (the right one and the wrong ones), every array element (capped),
 * every tensor (its data must lie inside the input) and fmt_tensor_to_f32()
 * on the small ones; then the tokenizer in the metadata (tok_open_gguf) and,
 * for files that name an architecture, the model loader through a file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/formats.h"
#include "fuzz.h"
#include "model/model.h"
#include "tokenizer/tokenizer.h"

#define MAX_ELEMS 4096 /* array elements read per key */

static void
walk_kv(const struct gguf *g)
{
	int64_t n = gguf_n_kv(g);
	for (int64_t i = 0; i < n; i++) {
		const char *k = gguf_key(g, i);
		enum gguf_type t = gguf_kv_type(g, i);
		if (!k || t >= GGUF_TYPE_COUNT || gguf_find_key(g, k) != i)
			abort(); /* the parser promised unique, readable keys */
		int64_t iv;
		double dv;
		bool bv;
		const char *s;
		size_t len;
		enum gguf_type et;
		uint64_t an = 0;
		gguf_get_int(g, k, &iv);
		gguf_get_float(g, k, &dv);
		gguf_get_bool(g, k, &bv);
		if (gguf_get_str(g, k, &s, &len) == 0 && len && !s)
			abort();
		if (gguf_get_arr(g, k, &et, &an) != 0)
			continue;
		uint64_t lim = an < MAX_ELEMS ? an : MAX_ELEMS;
		for (uint64_t j = 0; j < lim; j++) {
			if (gguf_get_arr_str(g, k, j, &s, &len) == 0) {
				volatile char c = len ? s[len - 1] : 0; /* in bounds? */
				(void)c;
			}
			gguf_get_arr_int(g, k, j, &iv);
			gguf_get_arr_float(g, k, j, &dv);
		}
		/* one past the end must be a range error, not a read */
		if (gguf_get_arr_int(g, k, an, &iv) == 0 || gguf_get_arr_str(g, k, an, &s, &len) == 0)
			abort();
	}
	gguf_find_key(g, "");
	gguf_find_key(g, "general.architecture");
	gguf_key(g, -1);
	gguf_key(g, n);
}

static void
walk_tensors(const struct gguf *g, const uint8_t *data, size_t size)
{
	int64_t n = gguf_n_tensors(g);
	for (int64_t i = 0; i < n; i++) {
		const struct fmt_tensor *t = gguf_tensor(g, i);
		if (!t || !t->name || gguf_find_tensor(g, t->name) != t)
			abort();
		int64_t prod = 1;
		for (int d = 0; d < t->ndim; d++)
			prod *= t->shape[d];
		if (t->ndim < 1 || t->ndim > 4 || prod != t->n)
			abort();
		const uint8_t *p = t->data;
		if (t->nbytes && (p < data || p > data + size || t->nbytes > (size_t)(data + size - p)))
			abort(); /* tensor data outside the input */
		fmt_type_name(t->type);
		if (!fmt_type_supported(t->type) || t->n > (int64_t)FZ_MAX_FLOATS)
			continue;
		float *out = malloc((size_t)(t->n ? t->n : 1) * sizeof *out);
		if (!out)
			abort();
		fmt_tensor_to_f32(t, out);
		free(out);
	}
	gguf_tensor(g, -1);
	gguf_tensor(g, n);
	gguf_find_tensor(g, "token_embd.weight");
}

static void
try_tokenizer(const struct gguf *g)
{
	int err;
	struct tokenizer *t = tok_open_gguf(g, &err);
	if (!t)
		return;
	static const char text[] = "Hello world, <s> the [CLS] caf\xc3\xa9 \xff\xfe 123";
	int32_t ids[256];
	int n = 0;
	if (tok_encode_ex(t, text, sizeof text - 1, TOK_ADD_SPECIAL | TOK_PARSE_SPECIAL, ids,
	                  256, &n) == 0) {
		char buf[64];
		for (int i = 0; i < n; i++)
			if (tok_decode(t, i ? ids[i - 1] : -1, ids[i], buf, sizeof buf) < 0)
				abort(); /* the encoder gave an id the decoder does not know */
	}
	tok_special_policy(t);
	tok_pre_name(t);
	tok_free(t);
}

static void
try_model(const uint8_t *data, size_t size)
{
	const char *path = fz_path("model.gguf");
	fz_write(path, data, size);
	int err;
	struct model *m = model_open(path, &err);
	if (!m)
		return;
	const struct model_config *c = model_config(m);
	size_t work = (size_t)c->d_model * 16 + (size_t)c->d_ff * 4 +
	              (size_t)c->vocab_size * 2 + (size_t)c->n_head * 4 +
	              (size_t)c->n_pos;
	if (c->vocab_size >= 2 && c->n_ctx >= 2 && work < FZ_MAX_FLOATS) {
		int32_t ids[2] = { 1, 0 };
		float *logits = malloc(2 * (size_t)c->vocab_size * sizeof *logits);
		if (logits) {
			model_forward(m, ids, 2, NULL, logits);
			free(logits);
		}
	}
	model_close(m);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > FZ_MAX_INPUT)
		return 0;
	int err;
	struct gguf *g = gguf_open_mem(data, size, "fuzz.gguf", &err);
	if (!g)
		return 0;
	gguf_version(g);
	walk_kv(g);
	walk_tensors(g, data, size);
	try_tokenizer(g);
	bool arch = gguf_find_key(g, "general.architecture") >= 0 && gguf_n_tensors(g) > 0;
	gguf_close(g);
	if (arch)
		try_model(data, size);
	return 0;
}

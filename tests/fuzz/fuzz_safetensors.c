/*
 * fuzz_safetensors.c — safetensors: st_open_mem() on the input, then every
 * tensor (data inside the input, shape consistent, lookup by name) and
 * fmt_tensor_to_f32() on the small ones, and a few metadata lookups.
 * An input that starts with '{' is also tried as a sharded checkpoint's
 * model.safetensors.index.json, next to two small valid shards.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/formats.h"
#include "fuzz.h"

static void
walk(const struct safetensors *s, const uint8_t *data, size_t size)
{
	int64_t n = st_n_tensors(s);
	for (int64_t i = 0; i < n; i++) {
		const struct fmt_tensor *t = st_tensor(s, i);
		if (!t || !t->name || st_find_tensor(s, t->name) != t)
			abort();
		int64_t prod = 1;
		for (int d = 0; d < t->ndim; d++)
			prod *= t->shape[d];
		if (t->ndim < 0 || t->ndim > 4 || prod != t->n)
			abort();
		const uint8_t *p = t->data;
		if (data && t->nbytes &&
		    (p < data || p > data + size || t->nbytes > (size_t)(data + size - p)))
			abort();
		fmt_type_name(t->type);
		if (!fmt_type_supported(t->type) || t->n > (int64_t)FZ_MAX_FLOATS)
			continue;
		float *out = malloc((size_t)(t->n ? t->n : 1) * sizeof *out);
		if (!out)
			abort();
		fmt_tensor_to_f32(t, out);
		free(out);
	}
	st_tensor(s, -1);
	st_tensor(s, n);
	st_metadata(s, "format");
	st_metadata(s, "");
}

/* A valid one-tensor shard: {"<name>": F32 [2]} */
static void
write_shard(const char *file, const char *name)
{
	char hdr[256];
	int h = snprintf(hdr, sizeof hdr,
	                 "{\"%s\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
	                 "\"__metadata__\":{\"format\":\"pt\"}}", name);
	uint8_t buf[512];
	uint64_t n = (uint64_t)h;
	for (int i = 0; i < 8; i++)
		buf[i] = (uint8_t)(n >> (8 * i));
	memcpy(buf + 8, hdr, (size_t)h);
	memset(buf + 8 + h, 0, 8);
	fz_write(fz_path(file), buf, 8 + (size_t)h + 8);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > FZ_MAX_INPUT)
		return 0;
	int err;
	struct safetensors *s = st_open_mem(data, size, "fuzz.safetensors", &err);
	if (s) {
		walk(s, data, size);
		st_close(s);
	}
	if (size && data[0] == '{') {
		static bool shards;
		if (!shards) {
			write_shard("model-00001-of-00002.safetensors", "a.weight");
			write_shard("model-00002-of-00002.safetensors", "b.weight");
			shards = true;
		}
		const char *p = fz_path("model.safetensors.index.json");
		fz_write(p, data, size);
		if ((s = st_open(p, &err))) {
			walk(s, NULL, 0);
			st_close(s);
		}
	}
	return 0;
}

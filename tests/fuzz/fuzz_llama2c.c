/*
 * fuzz_llama2c.c — llama2.c checkpoints: the input is written to a file and
 * opened with model_open() (header checks, exact size, mmap). A model that
 * opens and is small runs a two-token forward pass, so the bound weights
 * are all inside the mapping.
 */
#include <stdlib.h>

#include "fuzz.h"
#include "model/model.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > FZ_MAX_INPUT)
		return 0;
	const char *path = fz_path("model.bin");
	fz_write(path, data, size);
	int err = 0;
	struct model *m = model_open(path, &err);
	if (!m)
		return 0;
	const struct model_config *c = model_config(m);
	/* the forward pass allocates its workspace from the dimensions: only
	 * for models whose activations stay small (the weights are mapped) */
	size_t work = (size_t)c->d_model * 16 + (size_t)c->d_ff * 4 +
	              (size_t)c->vocab_size * 2 + (size_t)c->n_head * 4;
	if (c->vocab_size >= 2 && c->n_ctx >= 2 && work < FZ_MAX_FLOATS) {
		int32_t ids[2] = { 1, 0 };
		float *logits = malloc(2 * (size_t)c->vocab_size * sizeof *logits);
		if (logits) {
			model_forward(m, ids, 2, NULL, logits);
			free(logits);
		}
	}
	model_close(m);
	return 0;
}

/*
 * llama2c.c — llama2.c `run.c` checkpoints: open (header validated and the
 * file size checked before any weight is touched), the model object's
 * common methods, and a writer used by the demo and the tests.
 */
#include "model_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../capture/capture.h"
#include "../util/util.h"

#define HEADER_BYTES 28

/* Limits that no real model reaches; a header past them is hostile or
 * corrupt and is refused before any allocation. */
#define MAX_DIM (1 << 16)
#define MAX_FF (1 << 20)
#define MAX_LAYER 1024
#define MAX_HEAD 1024
#define MAX_VOCAB (1 << 22)
#define MAX_CTX (1 << 20)

const char *
model_arch_name(enum model_arch a)
{
	switch (a) {
	case MODEL_ARCH_LLAMA: return "llama";
	default: return "?";
	}
}

const char *
model_format_name(enum model_format f)
{
	switch (f) {
	case MODEL_FMT_LLAMA2C: return "llama2c";
	default: return "?";
	}
}

/* Number of float32 values the file holds after the header, or 0 on
 * overflow. Counts the legacy freq_cis tables. */
static size_t
llama2c_floats(const struct model_config *c, bool with_freq)
{
	size_t D = (size_t)c->d_model, F = (size_t)c->d_ff, L = (size_t)c->n_layer;
	size_t V = (size_t)c->vocab_size, dh = (size_t)c->d_head;
	size_t Dkv = dh * (size_t)c->n_kv_head;
	size_t parts[] = {
		V * D,                         /* token embedding */
		L * D,                         /* rms_att         */
		L * D * D, L * Dkv * D, L * Dkv * D, L * D * D,
		L * D,                         /* rms_ffn         */
		L * F * D, L * D * F, L * F * D,
		D,                             /* rms_final       */
		with_freq ? (size_t)c->n_ctx * dh : 0, /* freq_cis real + imag */
		c->shared_classifier ? 0 : V * D,
	};
	/* every factor is bounded by the MAX_ limits, so each product fits in
	 * 64 bits; only the sum needs checking */
	size_t total = 0;
	for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
		if (ckd_add_size(&total, total, parts[i]))
			return 0;
	return total;
}

size_t
model_llama2c_n_weights(const struct model_config *cfg)
{
	return llama2c_floats(cfg, false);
}

static int
check_config(const struct model_config *c, const char *path)
{
	if (c->d_model <= 0 || c->d_model > MAX_DIM || c->d_ff <= 0 || c->d_ff > MAX_FF ||
	    c->n_layer <= 0 || c->n_layer > MAX_LAYER || c->n_head <= 0 ||
	    c->n_head > MAX_HEAD || c->n_kv_head <= 0 || c->n_kv_head > c->n_head ||
	    c->vocab_size <= 0 || c->vocab_size > MAX_VOCAB || c->n_ctx <= 0 ||
	    c->n_ctx > MAX_CTX)
		return err_set(ERR_FORMAT,
		               "llama2c: '%s' has an impossible header (dim %d, hidden %d, "
		               "layers %d, heads %d, kv heads %d, vocab %d, seq_len %d)",
		               path, c->d_model, c->d_ff, c->n_layer, c->n_head,
		               c->n_kv_head, c->vocab_size, c->n_ctx);
	if (c->d_model % c->n_head != 0 || c->n_head % c->n_kv_head != 0 ||
	    (c->d_model / c->n_head) % 2 != 0)
		return err_set(ERR_FORMAT,
		               "llama2c: '%s': dim %d, heads %d and kv heads %d do not "
		               "divide into even head widths", path, c->d_model,
		               c->n_head, c->n_kv_head);
	return 0;
}

static void
bind_weights(struct model *m, const float *p)
{
	const struct model_config *c = &m->cfg;
	size_t D = (size_t)c->d_model, F = (size_t)c->d_ff, L = (size_t)c->n_layer;
	size_t V = (size_t)c->vocab_size, Dkv = (size_t)c->d_head * c->n_kv_head;
	struct llama_weights *w = &m->w;
	w->tok_emb = p;   p += V * D;
	w->rms_att = p;   p += L * D;
	w->wq = p;        p += L * D * D;
	w->wk = p;        p += L * Dkv * D;
	w->wv = p;        p += L * Dkv * D;
	w->wo = p;        p += L * D * D;
	w->rms_ffn = p;   p += L * D;
	w->w1 = p;        p += L * F * D;
	w->w2 = p;        p += L * D * F;
	w->w3 = p;        p += L * F * D;
	w->rms_final = p; p += D;
	p += (size_t)c->n_ctx * c->d_head; /* legacy freq_cis_real/imag */
	w->wcls = c->shared_classifier ? w->tok_emb : p;
}

struct model *
model_open(const char *path, int *err)
{
	int rc = ERR_IO, fd = -1;
	struct model *m = calloc(1, sizeof *m);
	if (!m) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto fail;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = err_set(ERR_IO, "cannot open model '%s': %s", path, strerror(errno));
		goto fail;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = err_set(ERR_IO, "model '%s' is not a regular file", path);
		goto fail;
	}
	if ((size_t)st.st_size < HEADER_BYTES) {
		rc = err_set(ERR_FORMAT, "llama2c: '%s' is %lld bytes, shorter than the "
		             "28-byte header", path, (long long)st.st_size);
		goto fail;
	}
	int32_t h[7];
	if (pread(fd, h, sizeof h, 0) != (ssize_t)sizeof h) {
		rc = err_set(ERR_IO, "cannot read the header of '%s'", path);
		goto fail;
	}
	struct model_config *c = &m->cfg;
	c->arch = MODEL_ARCH_LLAMA;
	c->format = MODEL_FMT_LLAMA2C;
	c->d_model = h[0];
	c->d_ff = h[1];
	c->n_layer = h[2];
	c->n_head = h[3];
	c->n_kv_head = h[4];
	c->shared_classifier = h[5] > 0;
	c->vocab_size = h[5] == INT32_MIN ? 0 : abs(h[5]);
	c->n_ctx = h[6];
	c->norm_eps = 1e-5f;
	c->rope_theta = 10000.0f;
	c->rope = MODEL_ROPE_ADJACENT;
	c->causal = true;
	if ((rc = check_config(c, path)) != 0)
		goto fail;
	c->d_head = c->d_model / c->n_head;

	size_t n = llama2c_floats(c, true), bytes;
	if (n == 0 || ckd_mul_size(&bytes, n, 4) || ckd_add_size(&bytes, bytes, HEADER_BYTES)) {
		rc = err_set(ERR_FORMAT, "llama2c: '%s': header sizes overflow", path);
		goto fail;
	}
	if (bytes != (size_t)st.st_size) {
		rc = err_set(ERR_FORMAT,
		             "llama2c: '%s' is %lld bytes but its header (dim %d, layers %d, "
		             "vocab %d, %s classifier) needs %zu: truncated or not a "
		             "llama2.c checkpoint", path, (long long)st.st_size, c->d_model,
		             c->n_layer, c->vocab_size,
		             c->shared_classifier ? "shared" : "unshared", bytes);
		goto fail;
	}
	m->map_size = bytes;
	m->map = mmap(NULL, bytes, PROT_READ, MAP_PRIVATE, fd, 0);
	if (m->map == MAP_FAILED) {
		m->map = NULL;
		rc = err_set(ERR_IO, "cannot map '%s': %s", path, strerror(errno));
		goto fail;
	}
	close(fd);
	fd = -1;
	if (!(m->path = strdup(path))) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto fail;
	}
	bind_weights(m, (const float *)((const char *)m->map + HEADER_BYTES));
	return m;
fail:
	if (fd >= 0)
		close(fd);
	model_close(m);
	if (err)
		*err = rc;
	return NULL;
}

void
model_close(struct model *m)
{
	if (!m)
		return;
	if (m->map)
		munmap(m->map, m->map_size);
	free(m->ws);
	free(m->path);
	free(m);
}

const struct model_config *
model_config(const struct model *m)
{
	return &m->cfg;
}

void
model_sha256(const struct model *m, char out[65])
{
	struct model *mm = (struct model *)m; /* cache: logically const */
	if (!mm->sha256[0])
		sha256_hex(m->map, m->map_size, mm->sha256);
	memcpy(out, mm->sha256, 65);
}

float *
model__workspace(struct model *m, size_t n)
{
	if (n > m->ws_cap) {
		float *p = realloc(m->ws, n * sizeof *p);
		if (!p)
			return NULL;
		m->ws = p;
		m->ws_cap = n;
	}
	return m->ws;
}

int
model_forward(struct model *m, const int32_t *tokens, int n_tok,
              struct cap_sink *sink, float *logits)
{
	const struct model_config *c = &m->cfg;
	if (n_tok < 1 || n_tok > c->n_ctx)
		return err_set(ERR_RANGE, "sequence of %d tokens: the model takes 1 to %d",
		               n_tok, c->n_ctx);
	for (int i = 0; i < n_tok; i++)
		if (tokens[i] < 0 || tokens[i] >= c->vocab_size)
			return err_set(ERR_RANGE, "token id %d at position %d is outside the "
			               "vocabulary (0..%d)", tokens[i], i, c->vocab_size - 1);
	return model__forward_llama(m, tokens, n_tok, sink, logits);
}

int
model_llama2c_write(const char *path, const struct model_config *cfg,
                    const float *w)
{
	struct model_config c = *cfg;
	c.d_head = c.n_head > 0 ? c.d_model / c.n_head : 0;
	int rc = check_config(&c, path);
	if (rc)
		return rc;
	FILE *f = fopen(path, "wb");
	if (!f)
		return err_set(ERR_IO, "cannot write '%s': %s", path, strerror(errno));
	int32_t h[7] = { c.d_model, c.d_ff, c.n_layer, c.n_head, c.n_kv_head,
	                 c.shared_classifier ? c.vocab_size : -c.vocab_size, c.n_ctx };
	size_t D = (size_t)c.d_model, V = (size_t)c.vocab_size;
	size_t n_all = llama2c_floats(&c, false);
	size_t n_before_cls = n_all - (c.shared_classifier ? 0 : V * D);
	size_t n_freq = (size_t)c.n_ctx * c.d_head;
	bool ok = fwrite(h, sizeof h, 1, f) == 1 &&
	          fwrite(w, 4, n_before_cls, f) == n_before_cls;
	for (size_t i = 0; ok && i < n_freq; i++) {
		float z = 0.0f;
		ok = fwrite(&z, 4, 1, f) == 1;
	}
	if (ok && !c.shared_classifier)
		ok = fwrite(w + n_before_cls, 4, V * D, f) == V * D;
	if (fclose(f) != 0)
		ok = false;
	if (!ok)
		return err_set(ERR_IO, "cannot write '%s': %s", path, strerror(errno));
	return 0;
}

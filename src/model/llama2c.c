/*
 * llama2c.c — llama2.c `run.c` checkpoints: open (header validated and the
 * file size checked before any weight is touched) and a writer used by the
 * demo and the tests.
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
	/* d_head derived as model_llama2c_write() derives it, so the two agree */
	struct model_config c = *cfg;
	c.d_head = c.n_head > 0 ? c.d_model / c.n_head : 0;
	return llama2c_floats(&c, false);
}

static int
bind_weights(struct model *m, const float *p)
{
	const struct model_config *c = &m->cfg;
	size_t D = (size_t)c->d_model, F = (size_t)c->d_ff, L = (size_t)c->n_layer;
	size_t V = (size_t)c->vocab_size, Dkv = (size_t)c->d_head * c->n_kv_head;
	if (!(m->layer = calloc(L, sizeof *m->layer)))
		return err_set(ERR_NOMEM, "out of memory");
	/* stacked [L, ...] tensors in file order */
	const float *tok_emb = p;   p += V * D;
	const float *rms_att = p;   p += L * D;
	const float *wq = p;        p += L * D * D;
	const float *wk = p;        p += L * Dkv * D;
	const float *wv = p;        p += L * Dkv * D;
	const float *wo = p;        p += L * D * D;
	const float *rms_ffn = p;   p += L * D;
	const float *w1 = p;        p += L * F * D;
	const float *w2 = p;        p += L * D * F;
	const float *w3 = p;        p += L * F * D;
	const float *rms_final = p; p += D;
	p += (size_t)c->n_ctx * c->d_head; /* legacy freq_cis_real/imag */
	m->tok_emb = tok_emb;
	m->out_norm = rms_final;
	m->wcls = c->shared_classifier ? tok_emb : p;
	for (size_t l = 0; l < L; l++) {
		struct layer_weights *w = &m->layer[l];
		w->attn_norm = rms_att + l * D;
		w->wq = wq + l * D * D;
		w->wk = wk + l * Dkv * D;
		w->wv = wv + l * Dkv * D;
		w->wo = wo + l * D * D;
		w->ffn_norm = rms_ffn + l * D;
		w->w_gate = w1 + l * F * D;
		w->w_down = w2 + l * D * F;
		w->w_up = w3 + l * F * D;
	}
	return 0;
}

int
model__open_llama2c(struct model *m, const char *path)
{
	int rc = ERR_IO, fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(ERR_IO, "cannot open model '%s': %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = err_set(ERR_IO, "model '%s' is not a regular file", path);
		goto out;
	}
	if ((size_t)st.st_size < HEADER_BYTES) {
		rc = err_set(ERR_FORMAT, "llama2c: '%s' is %lld bytes, shorter than the "
		             "28-byte header", path, (long long)st.st_size);
		goto out;
	}
	int32_t h[7];
	if (pread(fd, h, sizeof h, 0) != (ssize_t)sizeof h) {
		rc = err_set(ERR_IO, "cannot read the header of '%s'", path);
		goto out;
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
	c->has_lm_head = true;
	snprintf(c->name, sizeof c->name, "llama2.c");
	if ((rc = model__check_config(c, path)) != 0)
		goto out;
	c->d_head = c->d_model / c->n_head;

	size_t n = llama2c_floats(c, true), bytes;
	if (n == 0 || ckd_mul_size(&bytes, n, 4) || ckd_add_size(&bytes, bytes, HEADER_BYTES)) {
		rc = err_set(ERR_FORMAT, "llama2c: '%s': header sizes overflow", path);
		goto out;
	}
	if (bytes != (size_t)st.st_size) {
		rc = err_set(ERR_FORMAT,
		             "llama2c: '%s' is %lld bytes but its header (dim %d, layers %d, "
		             "vocab %d, %s classifier) needs %zu: truncated or not a "
		             "llama2.c checkpoint", path, (long long)st.st_size, c->d_model,
		             c->n_layer, c->vocab_size,
		             c->shared_classifier ? "shared" : "unshared", bytes);
		goto out;
	}
	m->map_size = bytes;
	m->map = mmap(NULL, bytes, PROT_READ, MAP_PRIVATE, fd, 0);
	if (m->map == MAP_FAILED) {
		m->map = NULL;
		rc = err_set(ERR_IO, "cannot map '%s': %s", path, strerror(errno));
		goto out;
	}
	snprintf(m->summary, sizeof m->summary, "F32 (llama2.c checkpoint, mapped)");
	rc = bind_weights(m, (const float *)((const char *)m->map + HEADER_BYTES));
out:
	close(fd);
	return rc;
}

int
model_llama2c_write(const char *path, const struct model_config *cfg,
                    const float *w)
{
	struct model_config c = *cfg;
	c.d_head = c.n_head > 0 ? c.d_model / c.n_head : 0;
	int rc = model__check_config(&c, path);
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

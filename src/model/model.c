/*
 * model.c — the model object: open by file kind, shared checks, the
 * weight arena, fingerprints, and the checked entry to the forward pass.
 */
#include "model_internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "../capture/capture.h"
#include "../formats/formats.h"
#include "../util/util.h"

/* Limits that no real model reaches; a header past them is hostile or
 * corrupt and is refused before any allocation. */
#define MAX_DIM MODEL_MAX_DIM
#define MAX_FF (1 << 20)
#define MAX_LAYER MODEL_MAX_LAYER
#define MAX_HEAD 1024
#define MAX_VOCAB (1 << 22)
#define MAX_CTX MODEL_MAX_CTX

const char *
model_arch_name(enum model_arch a)
{
	switch (a) {
	case MODEL_ARCH_LLAMA: return "llama";
	case MODEL_ARCH_GPT2: return "gpt2";
	case MODEL_ARCH_BERT: return "bert";
	case MODEL_ARCH_BART: return "bart";
	case MODEL_ARCH_T5: return "t5";
	default: return "?";
	}
}

const char *
model_format_name(enum model_format f)
{
	switch (f) {
	case MODEL_FMT_LLAMA2C: return "llama2c";
	case MODEL_FMT_GGUF: return "gguf";
	case MODEL_FMT_HF: return "hf";
	default: return "?";
	}
}

int
model__check_config(const struct model_config *c, const char *path)
{
	if (c->d_model <= 0 || c->d_model > MAX_DIM || c->d_ff <= 0 || c->d_ff > MAX_FF ||
	    c->n_layer <= 0 || c->n_layer > MAX_LAYER || c->n_head <= 0 ||
	    c->n_head > MAX_HEAD || c->n_kv_head <= 0 || c->n_kv_head > c->n_head ||
	    c->vocab_size <= 0 || c->vocab_size > MAX_VOCAB || c->n_ctx <= 0 ||
	    c->n_ctx > MAX_CTX)
		return err_set(ERR_FORMAT,
		               "model '%s' has an impossible header (dim %d, hidden %d, "
		               "layers %d, heads %d, kv heads %d, vocab %d, context %d)",
		               path, c->d_model, c->d_ff, c->n_layer, c->n_head,
		               c->n_kv_head, c->vocab_size, c->n_ctx);
	/* T5's head width is d_kv, independent of d_model: checked by its loader */
	if (c->arch != MODEL_ARCH_T5 &&
	    (c->d_model % c->n_head != 0 || c->n_head % c->n_kv_head != 0 ||
	     (c->arch == MODEL_ARCH_LLAMA && (c->d_model / c->n_head) % 2 != 0)))
		return err_set(ERR_FORMAT,
		               "model '%s': dim %d, heads %d and kv heads %d do not "
		               "divide into %shead widths", path, c->d_model,
		               c->n_head, c->n_kv_head,
		               c->arch == MODEL_ARCH_LLAMA ? "even " : "");
	return 0;
}

static bool
has_suffix(const char *s, const char *suf)
{
	size_t n = strlen(s), k = strlen(suf);
	return n >= k && strcmp(s + n - k, suf) == 0;
}

struct model *
model_open(const char *path, int *err)
{
	int rc;
	struct model *m = calloc(1, sizeof *m);
	if (!m) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto fail;
	}
	if (!(m->path = strdup(path))) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto fail;
	}
	struct stat st;
	if (stat(path, &st) != 0) {
		rc = err_set(ERR_IO, "cannot open model '%s': %s", path, strerror(errno));
		goto fail;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = model__open_hf(m, path);
	} else {
		/* GGUF by its magic, whatever the file is called */
		char magic[4] = { 0 };
		FILE *f = fopen(path, "rb");
		if (!f) {
			rc = err_set(ERR_IO, "cannot open model '%s': %s", path, strerror(errno));
			goto fail;
		}
		size_t n = fread(magic, 1, 4, f);
		fclose(f);
		if (n == 4 && memcmp(magic, "GGUF", 4) == 0)
			rc = model__open_gguf(m, path);
		else if (has_suffix(path, ".gguf"))
			rc = err_set(ERR_FORMAT, "gguf: '%s' does not start with the GGUF magic",
			             path);
		else if (has_suffix(path, ".safetensors") || has_suffix(path, ".json"))
			rc = err_set(ERR_ARG, "'%s': pass the Hugging Face model directory "
			             "(with config.json), not one of its files", path);
		else
			rc = model__open_llama2c(m, path);
	}
	if (rc)
		goto fail;
	if (!m->cfg.encdec) {
		m->cfg.decoder_start = -1;
		m->cfg.eos_id = -1;
	}
	return m;
fail:
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
	free(m->arena);
	free(m->layer);
	free(m->dec_layer);
	free(m->ws);
	free(m->path);
	free(m->tok_source);
	free(m);
}

const struct model_config *
model_config(const struct model *m)
{
	return &m->cfg;
}

size_t
model_n_params(const struct model *m)
{
	if (m->map) /* llama2.c: everything after the header but the RoPE tables */
		return (m->map_size - 28) / 4 - (size_t)m->cfg.n_ctx * m->cfg.d_head;
	return m->arena_len;
}

const char *
model_tensor_summary(const struct model *m)
{
	return m->summary;
}

const char *
model_tokenizer_source(const struct model *m)
{
	return m->tok_source;
}

static int
hash_file(struct sha256_ctx *c, const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	unsigned char buf[1 << 16];
	size_t n;
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		sha256_update(c, buf, n);
	fclose(f);
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void
model_sha256(const struct model *m, char out[65])
{
	struct model *mm = (struct model *)m; /* cache: logically const */
	if (!mm->sha256[0]) {
		struct sha256_ctx c;
		sha256_init(&c);
		if (m->map) {
			sha256_update(&c, m->map, m->map_size);
		} else if (m->cfg.format == MODEL_FMT_HF) {
			/* config.json and the weight files, in name order */
			DIR *d = opendir(m->path);
			char *names[4096];
			int n = 0;
			for (struct dirent *e; d && (e = readdir(d)) && n < 4096;)
				if (strcmp(e->d_name, "config.json") == 0 ||
				    has_suffix(e->d_name, ".safetensors") ||
				    has_suffix(e->d_name, ".safetensors.index.json"))
					names[n++] = strdup(e->d_name);
			if (d)
				closedir(d);
			qsort(names, (size_t)n, sizeof *names, cmp_str);
			for (int i = 0; i < n; i++) {
				char p[4096];
				if (names[i]) {
					snprintf(p, sizeof p, "%s/%s", m->path, names[i]);
					sha256_update(&c, names[i], strlen(names[i]) + 1);
					hash_file(&c, p);
				}
				free(names[i]);
			}
		} else {
			hash_file(&c, m->path);
		}
		sha256_final(&c, mm->sha256);
	}
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
model__arena_reserve(struct model *m, size_t n)
{
	size_t bytes;
	if (ckd_mul_size(&bytes, n, sizeof(float)))
		return err_set(ERR_NOMEM, "model '%s' is too large", m->path);
	free(m->arena);
	m->arena = malloc(bytes ? bytes : 1);
	if (!m->arena)
		return err_set(ERR_NOMEM, "out of memory for the %zu MiB of weights of '%s'",
		               bytes >> 20, m->path);
	m->arena_len = 0;
	m->arena_cap = n;
	return 0;
}

float *
model__arena_take(struct model *m, size_t n)
{
	if (n > m->arena_cap - m->arena_len)
		return NULL;
	float *p = m->arena + m->arena_len;
	m->arena_len += n;
	return p;
}

int
model_forward(struct model *m, const int32_t *tokens, int n_tok,
              struct cap_sink *sink, float *logits)
{
	const struct model_config *c = &m->cfg;
	if (c->encdec)
		return err_set(ERR_UNSUPPORTED, "model '%s' is an encoder-decoder (%s): run it "
		               "on a (source, target) pair with model_forward_encdec() or "
		               "model_generate_encdec()", m->path, model_arch_name(c->arch));
	if (n_tok < 1 || n_tok > c->n_ctx)
		return err_set(ERR_RANGE, "sequence of %d tokens: the model takes 1 to %d",
		               n_tok, c->n_ctx);
	for (int i = 0; i < n_tok; i++)
		if (tokens[i] < 0 || tokens[i] >= c->vocab_size)
			return err_set(ERR_RANGE, "token id %d at position %d is outside the "
			               "vocabulary (0..%d)", tokens[i], i, c->vocab_size - 1);
	return model__forward(m, tokens, n_tok, sink, logits);
}

const float *
model__take(struct model *m, const struct fmt_tensor *t, const char *what,
            int64_t d0, int64_t d1, bool transpose, int *rc)
{
	if (!t) {
		*rc = err_set(ERR_FORMAT, "model '%s': tensor '%s' is missing", m->path, what);
		return NULL;
	}
	bool ok = d1 < 0 ? t->ndim == 1 && t->shape[0] == d0
	                 : t->ndim == 2 && t->shape[0] == (transpose ? d1 : d0) &&
	                   t->shape[1] == (transpose ? d0 : d1);
	if (!ok) {
		char got[96] = "", want[64];
		for (int i = 0; i < t->ndim && i < 4; i++)
			snprintf(got + strlen(got), sizeof got - strlen(got), "%s%lld", i ? ", " : "",
			         (long long)t->shape[i]);
		if (d1 < 0)
			snprintf(want, sizeof want, "%lld", (long long)d0);
		else
			snprintf(want, sizeof want, "%lld, %lld", (long long)(transpose ? d1 : d0),
			         (long long)(transpose ? d0 : d1));
		*rc = err_set(ERR_FORMAT, "model '%s': tensor '%s' has shape [%s], expected [%s]",
		              m->path, t->name, got, want);
		return NULL;
	}
	if (!fmt_type_supported(t->type)) {
		*rc = err_set(ERR_UNSUPPORTED, "model '%s': tensor '%s' has type %s, which "
		              "attnscope cannot convert", m->path, t->name, fmt_type_name(t->type));
		return NULL;
	}
	float *dst = model__arena_take(m, (size_t)t->n);
	if (!dst) {
		*rc = err_set(ERR_NOMEM, "model '%s': weight arena exhausted", m->path);
		return NULL;
	}
	if (!transpose) {
		if ((*rc = fmt_tensor_to_f32(t, dst)) != 0)
			return NULL;
	} else {
		float *tmp = malloc((size_t)t->n * sizeof *tmp);
		if (!tmp) {
			*rc = err_set(ERR_NOMEM, "out of memory");
			return NULL;
		}
		if ((*rc = fmt_tensor_to_f32(t, tmp)) != 0) {
			free(tmp);
			return NULL;
		}
		/* file [d1, d0] -> [d0, d1] */
		for (int64_t i = 0; i < d1; i++)
			for (int64_t j = 0; j < d0; j++)
				dst[j * d1 + i] = tmp[i * d0 + j];
		free(tmp);
	}
	if ((unsigned)t->type < 64)
		m->type_count[t->type]++;
	*rc = 0;
	return dst;
}

void
model__finish_summary(struct model *m)
{
	size_t o = 0;
	bool quant = false;
	m->summary[0] = '\0';
	for (int i = 0; i < 64; i++) {
		if (!m->type_count[i])
			continue;
		o += (size_t)snprintf(m->summary + o, sizeof m->summary - o, "%s%s x%d",
		                      o ? ", " : "", fmt_type_name((enum fmt_type)i),
		                      m->type_count[i]);
		if (i != FMT_F32)
			quant = true;
		if (o >= sizeof m->summary)
			break;
	}
	if (quant && o < sizeof m->summary)
		snprintf(m->summary + o, sizeof m->summary - o, " (converted to float32 at load)");
}

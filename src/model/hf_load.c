/*
 * hf_load.c — models from Hugging Face directories: config.json plus
 * model.safetensors or a sharded model.safetensors.index.json.
 * Architectures: Llama/Mistral/Qwen2 (RoPE on halves), GPT-2 (Conv1D
 * weights stored [in, out], transposed here), BERT; BART and T5 are
 * handed to the encoder–decoder loader of encdec.c.
 */
#include "model_internal.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../formats/formats.h"
#include "../util/util.h"

/* an integer config field; dflt < 0 means required */
int
model__cfg_int(json_t *cfg, const char *key, int dflt, int *out, const char *path)
{
	json_t *v = json_object_get(cfg, key);
	if (!v || json_is_null(v)) {
		if (dflt < 0)
			return err_set(ERR_FORMAT, "hf: '%s/config.json' has no \"%s\"", path, key);
		*out = dflt;
		return 0;
	}
	if (!json_is_integer(v) || json_integer_value(v) <= 0 ||
	    json_integer_value(v) > (1 << 24))
		return err_set(ERR_FORMAT, "hf: '%s/config.json': \"%s\" is not a positive "
		               "integer", path, key);
	*out = (int)json_integer_value(v);
	return 0;
}

float
model__cfg_float(json_t *cfg, const char *key, float dflt)
{
	json_t *v = json_object_get(cfg, key);
	return json_is_number(v) ? (float)json_number_value(v) : dflt;
}

const char *
model__cfg_str(json_t *cfg, const char *key)
{
	json_t *v = json_object_get(cfg, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* find "prefix+name" for the first prefix that has it */
const struct fmt_tensor *
model__st_find(const struct safetensors *st, const char *const *prefixes, const char *fmt,
               int l, char *name, size_t size)
{
	char rest[160];
	snprintf(rest, sizeof rest, fmt, l);
	for (int i = 0; prefixes[i]; i++) {
		snprintf(name, size, "%s%s", prefixes[i], rest);
		const struct fmt_tensor *t = st_find_tensor(st, name);
		if (t)
			return t;
	}
	snprintf(name, size, "%s%s", prefixes[0], rest);
	return NULL;
}

int
model__open_hf(struct model *m, const char *dir)
{
	int rc;
	char p[4096];
	json_t *cfg = NULL;
	struct safetensors *st = NULL;
	struct model_config *c = &m->cfg;

	snprintf(p, sizeof p, "%s/config.json", dir);
	json_error_t je;
	if (access(p, R_OK) != 0)
		return err_set(ERR_IO, "hf: '%s' has no config.json (not a Hugging Face model "
		               "directory)", dir);
	if (!(cfg = json_load_file(p, JSON_REJECT_DUPLICATES, &je)) || !json_is_object(cfg)) {
		rc = err_set(ERR_FORMAT, "hf: '%s' line %d column %d: %s", p, je.line, je.column,
		             cfg ? "not a JSON object" : je.text);
		goto out;
	}
	snprintf(p, sizeof p, "%s/model.safetensors", dir);
	if (access(p, R_OK) != 0)
		snprintf(p, sizeof p, "%s/model.safetensors.index.json", dir);
	if (access(p, R_OK) != 0) {
		rc = err_set(ERR_IO, "hf: '%s' has no model.safetensors or "
		             "model.safetensors.index.json (PyTorch .bin checkpoints are not "
		             "read: convert them to safetensors)", dir);
		goto out;
	}
	if (!(st = st_open(p, &rc)))
		goto out;

	const char *type = model__cfg_str(cfg, "model_type");
	json_t *archs = json_object_get(cfg, "architectures");
	const char *archname = json_is_array(archs) ? json_string_value(json_array_get(archs, 0))
	                                             : NULL;
	snprintf(c->name, sizeof c->name, "%s", archname ? archname : type ? type : "?");
	c->format = MODEL_FMT_HF;
	if (!type) {
		rc = err_set(ERR_FORMAT, "hf: '%s/config.json' has no \"model_type\"", dir);
		goto out;
	}
	if (!strcmp(type, "bart") || !strcmp(type, "t5")) {
		if ((rc = model__open_encdec(m, dir, cfg, st, type)) != 0)
			goto out;
		goto finish;
	}
	int n_pos = 0;
	struct { bool on; float factor, low, high, old_ctx; } l3 = { 0 };
	if (!strcmp(type, "llama") || !strcmp(type, "mistral") || !strcmp(type, "qwen2")) {
		c->arch = MODEL_ARCH_LLAMA;
		c->rope = MODEL_ROPE_HALVES;
		c->causal = true;
		if ((rc = model__cfg_int(cfg, "hidden_size", -1, &c->d_model, dir)) ||
		    (rc = model__cfg_int(cfg, "intermediate_size", -1, &c->d_ff, dir)) ||
		    (rc = model__cfg_int(cfg, "num_hidden_layers", -1, &c->n_layer, dir)) ||
		    (rc = model__cfg_int(cfg, "num_attention_heads", -1, &c->n_head, dir)) ||
		    (rc = model__cfg_int(cfg, "num_key_value_heads", c->n_head, &c->n_kv_head, dir)) ||
		    (rc = model__cfg_int(cfg, "vocab_size", -1, &c->vocab_size, dir)) ||
		    (rc = model__cfg_int(cfg, "max_position_embeddings", 2048, &c->n_ctx, dir)))
			goto out;
		c->norm_eps = model__cfg_float(cfg, "rms_norm_eps", 1e-6f);
		c->rope_theta = model__cfg_float(cfg, "rope_theta", 10000.0f);
		json_t *rs = json_object_get(cfg, "rope_scaling");
		if (rs && !json_is_null(rs)) {
			/* Llama 3's frequency scaling; other schemes are refused */
			const char *rt = model__cfg_str(rs, "rope_type");
			if (!rt)
				rt = model__cfg_str(rs, "type");
			if (!rt || strcmp(rt, "llama3") != 0) {
				rc = err_set(ERR_UNSUPPORTED, "hf: '%s': rope_scaling type '%s' is not "
				             "supported (llama3 is)", dir, rt ? rt : "?");
				goto out;
			}
			l3.on = true;
			l3.factor = model__cfg_float(rs, "factor", 8.0f);
			l3.low = model__cfg_float(rs, "low_freq_factor", 1.0f);
			l3.high = model__cfg_float(rs, "high_freq_factor", 4.0f);
			l3.old_ctx = model__cfg_float(rs, "original_max_position_embeddings", 8192.0f);
			if (!(l3.factor > 0) || !(l3.high > l3.low) || !(l3.old_ctx > 0)) {
				rc = err_set(ERR_FORMAT, "hf: '%s': bad llama3 rope_scaling values", dir);
				goto out;
			}
		}
		json_t *tie = json_object_get(cfg, "tie_word_embeddings");
		c->shared_classifier = tie ? json_is_true(tie) : false;
		if (!strcmp(type, "mistral") && json_is_integer(json_object_get(cfg, "sliding_window")) &&
		    json_integer_value(json_object_get(cfg, "sliding_window")) < c->n_ctx)
			c->n_ctx = (int)json_integer_value(json_object_get(cfg, "sliding_window"));
	} else if (!strcmp(type, "gpt2")) {
		c->arch = MODEL_ARCH_GPT2;
		c->causal = true;
		if ((rc = model__cfg_int(cfg, "n_embd", -1, &c->d_model, dir)) ||
		    (rc = model__cfg_int(cfg, "n_layer", -1, &c->n_layer, dir)) ||
		    (rc = model__cfg_int(cfg, "n_head", -1, &c->n_head, dir)) ||
		    (rc = model__cfg_int(cfg, "vocab_size", -1, &c->vocab_size, dir)) ||
		    (rc = model__cfg_int(cfg, "n_positions", 1024, &n_pos, dir)))
			goto out;
		if ((rc = model__cfg_int(cfg, "n_inner", 4 * c->d_model, &c->d_ff, dir)))
			goto out;
		c->n_kv_head = c->n_head;
		c->n_ctx = n_pos;
		c->norm_eps = model__cfg_float(cfg, "layer_norm_epsilon", 1e-5f);
		const char *act = model__cfg_str(cfg, "activation_function");
		if (act && strcmp(act, "gelu_new") && strcmp(act, "gelu_pytorch_tanh")) {
			rc = err_set(ERR_UNSUPPORTED, "hf: '%s': activation '%s' is not supported "
			             "(gelu_new)", dir, act);
			goto out;
		}
		c->shared_classifier = true;
	} else if (!strcmp(type, "bert")) {
		c->arch = MODEL_ARCH_BERT;
		c->causal = false;
		if ((rc = model__cfg_int(cfg, "hidden_size", -1, &c->d_model, dir)) ||
		    (rc = model__cfg_int(cfg, "intermediate_size", -1, &c->d_ff, dir)) ||
		    (rc = model__cfg_int(cfg, "num_hidden_layers", -1, &c->n_layer, dir)) ||
		    (rc = model__cfg_int(cfg, "num_attention_heads", -1, &c->n_head, dir)) ||
		    (rc = model__cfg_int(cfg, "vocab_size", -1, &c->vocab_size, dir)) ||
		    (rc = model__cfg_int(cfg, "max_position_embeddings", 512, &n_pos, dir)))
			goto out;
		c->n_kv_head = c->n_head;
		c->n_ctx = n_pos;
		c->norm_eps = model__cfg_float(cfg, "layer_norm_eps", 1e-12f);
		const char *act = model__cfg_str(cfg, "hidden_act");
		const char *pet = model__cfg_str(cfg, "position_embedding_type");
		if ((act && strcmp(act, "gelu")) || (pet && strcmp(pet, "absolute"))) {
			rc = err_set(ERR_UNSUPPORTED, "hf: '%s': BERT with hidden_act '%s' and "
			             "position_embedding_type '%s' is not supported", dir,
			             act ? act : "gelu", pet ? pet : "absolute");
			goto out;
		}
	} else {
		rc = err_set(ERR_UNSUPPORTED, "hf: '%s': model_type '%s' is not supported "
		             "(llama, mistral, qwen2, gpt2, bert, bart, t5)", dir, type);
		goto out;
	}
	if ((rc = model__check_config(c, dir)) != 0)
		goto out;
	c->d_head = c->d_model / c->n_head;
	json_t *hd = json_object_get(cfg, "head_dim");
	if (json_is_integer(hd) && json_integer_value(hd) != c->d_head) {
		rc = err_set(ERR_UNSUPPORTED, "hf: '%s': head_dim %lld differs from "
		             "hidden_size / heads", dir, (long long)json_integer_value(hd));
		goto out;
	}

	size_t total = 0;
	for (int64_t i = 0; i < st_n_tensors(st); i++)
		if (ckd_add_size(&total, total, (size_t)st_tensor(st, i)->n)) {
			rc = err_set(ERR_FORMAT, "hf: '%s': tensor sizes overflow", dir);
			goto out;
		}
	if ((rc = model__arena_reserve(m, total + (size_t)c->d_head)) != 0)
		goto out;
	if (l3.on) {
		/* HF _compute_llama3_parameters: divisors of each frequency */
		float *ff = model__arena_take(m, (size_t)c->d_head / 2);
		for (int i = 0; i < c->d_head / 2; i++) {
			double inv = pow(c->rope_theta, -2.0 * i / c->d_head);
			double wavelen = 2 * M_PI / inv;
			double lo_w = l3.old_ctx / l3.low, hi_w = l3.old_ctx / l3.high;
			if (wavelen < hi_w)
				ff[i] = 1.0f;
			else if (wavelen > lo_w)
				ff[i] = l3.factor;
			else {
				double sm = (l3.old_ctx / wavelen - l3.low) / (l3.high - l3.low);
				ff[i] = (float)(1.0 / ((1 - sm) / l3.factor + sm));
			}
		}
		m->rope_ff = ff;
	}
	if (!(m->layer = calloc((size_t)c->n_layer, sizeof *m->layer))) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	const int64_t D = c->d_model, F = c->d_ff, V = c->vocab_size;
	const int64_t Dkv = (int64_t)c->d_head * c->n_kv_head;
	char nm[256];
#define GET(dst, fmt, l, d0, d1, tr)                                               \
	do {                                                                           \
		const struct fmt_tensor *t_ = model__st_find(st, pre, fmt, l, nm,       \
		                                             sizeof nm);                \
		if (!((dst) = model__take(m, t_, nm, (d0), (d1), (tr), &rc)))             \
			goto out;                                                              \
	} while (0)
#define GET_OPT(dst, fmt, l, d0, d1)                                               \
	do {                                                                           \
		if (model__st_find(st, pre, fmt, l, nm, sizeof nm))                    \
			GET(dst, fmt, l, d0, d1, false);                                       \
	} while (0)
	if (c->arch == MODEL_ARCH_LLAMA) {
		static const char *const pre[] = { "model.", "", NULL };
		GET(m->tok_emb, "embed_tokens.weight", 0, V, D, false);
		GET(m->out_norm, "norm.weight", 0, D, -1, false);
		if (c->shared_classifier) {
			m->wcls = m->tok_emb;
		} else {
			static const char *const pre_head[] = { "", NULL };
			const struct fmt_tensor *t = model__st_find(st, pre_head, "lm_head.weight", 0,
			                                            nm, sizeof nm);
			if (!t) { /* some checkpoints tie without saying so */
				m->wcls = m->tok_emb;
				c->shared_classifier = true;
			} else if (!(m->wcls = model__take(m, t, nm, V, D, false, &rc))) {
				goto out;
			}
		}
		c->has_lm_head = true;
		for (int l = 0; l < c->n_layer; l++) {
			struct layer_weights *w = &m->layer[l];
			GET(w->attn_norm, "layers.%d.input_layernorm.weight", l, D, -1, false);
			GET(w->wq, "layers.%d.self_attn.q_proj.weight", l, D, D, false);
			GET(w->wk, "layers.%d.self_attn.k_proj.weight", l, Dkv, D, false);
			GET(w->wv, "layers.%d.self_attn.v_proj.weight", l, Dkv, D, false);
			GET_OPT(w->bq, "layers.%d.self_attn.q_proj.bias", l, D, -1);
			GET_OPT(w->bk, "layers.%d.self_attn.k_proj.bias", l, Dkv, -1);
			GET_OPT(w->bv, "layers.%d.self_attn.v_proj.bias", l, Dkv, -1);
			GET(w->wo, "layers.%d.self_attn.o_proj.weight", l, D, D, false);
			GET(w->ffn_norm, "layers.%d.post_attention_layernorm.weight", l, D, -1, false);
			GET(w->w_gate, "layers.%d.mlp.gate_proj.weight", l, F, D, false);
			GET(w->w_up, "layers.%d.mlp.up_proj.weight", l, F, D, false);
			GET(w->w_down, "layers.%d.mlp.down_proj.weight", l, D, F, false);
		}
	} else if (c->arch == MODEL_ARCH_GPT2) {
		static const char *const pre[] = { "transformer.", "", NULL };
		c->n_pos = n_pos;
		GET(m->tok_emb, "wte.weight", 0, V, D, false);
		GET(m->pos_emb, "wpe.weight", 0, n_pos, D, false);
		GET(m->out_norm, "ln_f.weight", 0, D, -1, false);
		GET(m->out_norm_b, "ln_f.bias", 0, D, -1, false);
		m->wcls = m->tok_emb;
		c->has_lm_head = true;
		for (int l = 0; l < c->n_layer; l++) {
			struct layer_weights *w = &m->layer[l];
			const float *qkv, *qkv_b;
			GET(w->attn_norm, "h.%d.ln_1.weight", l, D, -1, false);
			GET(w->attn_norm_b, "h.%d.ln_1.bias", l, D, -1, false);
			GET(qkv, "h.%d.attn.c_attn.weight", l, 3 * D, D, true);  /* Conv1D */
			GET(qkv_b, "h.%d.attn.c_attn.bias", l, 3 * D, -1, false);
			w->wq = qkv;
			w->wk = qkv + D * D;
			w->wv = qkv + 2 * D * D;
			w->bq = qkv_b;
			w->bk = qkv_b + D;
			w->bv = qkv_b + 2 * D;
			GET(w->wo, "h.%d.attn.c_proj.weight", l, D, D, true);
			GET(w->bo, "h.%d.attn.c_proj.bias", l, D, -1, false);
			GET(w->ffn_norm, "h.%d.ln_2.weight", l, D, -1, false);
			GET(w->ffn_norm_b, "h.%d.ln_2.bias", l, D, -1, false);
			GET(w->w_up, "h.%d.mlp.c_fc.weight", l, F, D, true);
			GET(w->b_up, "h.%d.mlp.c_fc.bias", l, F, -1, false);
			GET(w->w_down, "h.%d.mlp.c_proj.weight", l, D, F, true);
			GET(w->b_down, "h.%d.mlp.c_proj.bias", l, D, -1, false);
		}
	} else {
		static const char *const pre[] = { "bert.", "", NULL };
		int n_types;
		if ((rc = model__cfg_int(cfg, "type_vocab_size", 2, &n_types, dir)))
			goto out;
		c->n_pos = n_pos;
		GET(m->tok_emb, "embeddings.word_embeddings.weight", 0, V, D, false);
		GET(m->pos_emb, "embeddings.position_embeddings.weight", 0, n_pos, D, false);
		GET(m->type_emb, "embeddings.token_type_embeddings.weight", 0, n_types, D, false);
		GET(m->emb_norm, "embeddings.LayerNorm.weight", 0, D, -1, false);
		GET(m->emb_norm_b, "embeddings.LayerNorm.bias", 0, D, -1, false);
		for (int l = 0; l < c->n_layer; l++) {
			struct layer_weights *w = &m->layer[l];
			GET(w->wq, "encoder.layer.%d.attention.self.query.weight", l, D, D, false);
			GET(w->bq, "encoder.layer.%d.attention.self.query.bias", l, D, -1, false);
			GET(w->wk, "encoder.layer.%d.attention.self.key.weight", l, D, D, false);
			GET(w->bk, "encoder.layer.%d.attention.self.key.bias", l, D, -1, false);
			GET(w->wv, "encoder.layer.%d.attention.self.value.weight", l, D, D, false);
			GET(w->bv, "encoder.layer.%d.attention.self.value.bias", l, D, -1, false);
			GET(w->wo, "encoder.layer.%d.attention.output.dense.weight", l, D, D, false);
			GET(w->bo, "encoder.layer.%d.attention.output.dense.bias", l, D, -1, false);
			GET(w->attn_norm, "encoder.layer.%d.attention.output.LayerNorm.weight", l, D, -1, false);
			GET(w->attn_norm_b, "encoder.layer.%d.attention.output.LayerNorm.bias", l, D, -1, false);
			GET(w->w_up, "encoder.layer.%d.intermediate.dense.weight", l, F, D, false);
			GET(w->b_up, "encoder.layer.%d.intermediate.dense.bias", l, F, -1, false);
			GET(w->w_down, "encoder.layer.%d.output.dense.weight", l, D, F, false);
			GET(w->b_down, "encoder.layer.%d.output.dense.bias", l, D, -1, false);
			GET(w->ffn_norm, "encoder.layer.%d.output.LayerNorm.weight", l, D, -1, false);
			GET(w->ffn_norm_b, "encoder.layer.%d.output.LayerNorm.bias", l, D, -1, false);
		}
	}
#undef GET
#undef GET_OPT
finish:
	model__finish_summary(m);
	if (!(m->tok_source = strdup(dir))) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	rc = 0;
out:
	st_close(st);
	json_decref(cfg);
	return rc;
}

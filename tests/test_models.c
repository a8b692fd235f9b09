/*
 * test_models.c — every model format × architecture against the trusted
 * reference dumps in ../shared/models (see each folder's README for what
 * the arrays mean): attention of every layer and head, hidden states,
 * final norm, logits, next-token log-probs and entropies, within 1e-4.
 * Quantized GGUFs are checked against their `deq_*` arrays (dequantize at
 * load, then the exact float32 forward).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers/keep.h"
#include "helpers/npz.h"
#include "model/model.h"
#include "record/record.h"
#include "util/util.h"

static const char *
shared(const char *rel, char *buf, size_t n)
{
	const char *s = getenv("ATTNSCOPE_SHARED");
	if (!s || !*s)
		return NULL;
	snprintf(buf, n, "%s/%s", s, rel);
	return access(buf, R_OK) == 0 ? buf : NULL;
}

/* Is the array present? (prefix + name) */
static bool
get(struct npz *z, const char *prefix, const char *name, struct npy_array *a)
{
	char k[64];
	snprintf(k, sizeof k, "%s%s", prefix, name);
	memset(a, 0, sizeof *a);
	return npz_get(z, k, a) == 0;
}

static void
check_model(const char *model_rel, const char *npz_rel, const char *prefix, double tol)
{
	char mp[512], zp[512];
	if (!shared(model_rel, mp, sizeof mp) || !shared(npz_rel, zp, sizeof zp))
		fail_msg("reference data missing: %s, %s", model_rel, npz_rel);
	struct npz *z = npz_open(zp);
	assert_non_null(z);
	struct npy_array tokens, attn, hidden, fnorm, logits, last, nlp, ent;
	assert_true(get(z, "", "tokens", &tokens));
	int err;
	struct model *m = model_open(mp, &err);
	if (!m)
		fail_msg("model_open(%s): %s", model_rel, err_msg(err));
	const struct model_config *c = model_config(m);
	int T = (int)tokens.n, V = c->vocab_size, D = c->d_model;
	struct keep k;
	keep_init(&k);
	float *lg = c->has_lm_head ? malloc((size_t)T * V * sizeof *lg) : NULL;
	if ((err = model_forward(m, tokens.idata, T, &k.sink, lg)) != 0)
		fail_msg("forward: %s", err_msg(err));

	assert_true(get(z, prefix, "attn", &attn));
	assert_int_equal(attn.shape[0], c->n_layer);
	assert_int_equal(attn.shape[1], c->n_head);
	for (int l = 0; l < c->n_layer; l++)
		EXPECT_CLOSE("attention", keep_get(&k, CAP_ATTN_PATTERN, l),
		             attn.fdata + (size_t)l * c->n_head * T * T, (size_t)c->n_head * T * T,
		             tol);
	assert_true(get(z, prefix, "hidden", &hidden));
	EXPECT_CLOSE("hidden[0]", keep_get(&k, CAP_EMBED, -1), hidden.fdata, (size_t)T * D, tol);
	for (int l = 0; l < c->n_layer; l++)
		EXPECT_CLOSE("hidden[l+1]",
		             keep_get(&k, c->arch == MODEL_ARCH_BERT ? CAP_MLP_IN : CAP_RESID_POST, l),
		             hidden.fdata + (size_t)(l + 1) * T * D, (size_t)T * D, tol);
	if (get(z, prefix, "final_norm", &fnorm))
		EXPECT_CLOSE("final_norm", keep_get(&k, CAP_LN_FINAL, -1), fnorm.fdata,
		             (size_t)T * D, tol);
	if (get(z, prefix, "logits", &logits))
		EXPECT_CLOSE("logits", lg, logits.fdata, (size_t)T * V, tol);
	if (get(z, prefix, "logits_last", &last))
		EXPECT_CLOSE("logits (last row)", lg + (size_t)(T - 1) * V, last.fdata, (size_t)V, tol);
	if (get(z, prefix, "next_logprob", &nlp) && get(z, prefix, "entropy", &ent)) {
		for (int t = 0; t < T; t++) {
			struct store_token o;
			rec_token_outputs(lg + (size_t)t * V, V, t + 1 < T ? tokens.idata[t + 1] : -1, &o);
			if (t + 1 < T && !(fabs(o.next_logprob - nlp.fdata[t]) <= tol))
				fail_msg("next_logprob[%d] %.7g vs %.7g", t, o.next_logprob, nlp.fdata[t]);
			if (!(fabs(o.entropy - ent.fdata[t]) <= tol))
				fail_msg("entropy[%d] %.7g vs %.7g", t, o.entropy, ent.fdata[t]);
		}
		npy_array_release(&nlp);
		npy_array_release(&ent);
	}
	npy_array_release(&tokens);
	npy_array_release(&attn);
	npy_array_release(&hidden);
	npy_array_release(&fnorm);
	npy_array_release(&logits);
	npy_array_release(&last);
	keep_free(&k);
	free(lg);
	model_close(m);
	npz_close(z);
}

#define MODEL_TEST(fn, model, ref, prefix)                                     \
	static void fn(void **state)                                              \
	{                                                                         \
		(void)state;                                                          \
		check_model(model, ref, prefix, 1e-4);                                \
	}

MODEL_TEST(gpt2_hf, "models/tiny-gpt2/hf", "models/tiny-gpt2/reference.npz", "")
MODEL_TEST(gpt2_hf_long, "models/tiny-gpt2/hf", "models/tiny-gpt2/reference-long.npz", "")
MODEL_TEST(gpt2_gguf, "models/tiny-gpt2/tiny-gpt2-F32.gguf", "models/tiny-gpt2/reference.npz", "")
MODEL_TEST(gpt2_gguf_long, "models/tiny-gpt2/tiny-gpt2-F32.gguf",
           "models/tiny-gpt2/reference-long.npz", "")
MODEL_TEST(gpt2_q8_0, "models/tiny-gpt2/tiny-gpt2-Q8_0.gguf",
           "models/tiny-gpt2/reference-Q8_0.npz", "deq_")
MODEL_TEST(gpt2_q4_0, "models/tiny-gpt2/tiny-gpt2-Q4_0.gguf",
           "models/tiny-gpt2/reference-Q4_0.npz", "deq_")
MODEL_TEST(gpt2_q4_k_m, "models/tiny-gpt2/tiny-gpt2-Q4_K_M.gguf",
           "models/tiny-gpt2/reference-Q4_K_M.npz", "deq_")
MODEL_TEST(gpt2_q6_k, "models/tiny-gpt2/tiny-gpt2-Q6_K.gguf",
           "models/tiny-gpt2/reference-Q6_K.npz", "deq_")
MODEL_TEST(bert_hf, "models/tiny-bert/hf", "models/tiny-bert/reference.npz", "")
MODEL_TEST(bert_hf_long, "models/tiny-bert/hf", "models/tiny-bert/reference-long.npz", "")
MODEL_TEST(bert_gguf, "models/tiny-bert/tiny-bert-F32.gguf", "models/tiny-bert/reference.npz", "")
MODEL_TEST(bert_gguf_long, "models/tiny-bert/tiny-bert-F32.gguf",
           "models/tiny-bert/reference-long.npz", "")
MODEL_TEST(llama_q8_0, "models/stories260K/stories260K-Q8_0.gguf",
           "models/stories260K/reference-Q8_0.npz", "deq_")
MODEL_TEST(llama_q4_0, "models/stories260K/stories260K-Q4_0.gguf",
           "models/stories260K/reference-Q4_0.npz", "deq_")
MODEL_TEST(llama_q4_k_m, "models/stories260K/stories260K-Q4_K_M.gguf",
           "models/stories260K/reference-Q4_K_M.npz", "deq_")
MODEL_TEST(llama_q6_k, "models/stories260K/stories260K-Q6_K.gguf",
           "models/stories260K/reference-Q6_K.npz", "deq_")

/* stories260K-F32.gguf against the PyTorch oracle of the llama2.c file */
static void
llama_f32_gguf(void **state)
{
	(void)state;
	char mp[512], zp[512];
	if (!shared("models/stories260K/stories260K-F32.gguf", mp, sizeof mp) ||
	    !shared("models/stories260K/oracle-greedy-once-upon-a-time.npz", zp, sizeof zp))
		fail_msg("reference data missing");
	struct npz *z = npz_open(zp);
	struct npy_array tokens, attn, resid, logits;
	assert_true(get(z, "", "tokens", &tokens) && get(z, "", "attn", &attn) &&
	            get(z, "", "resid", &resid) && get(z, "", "logits", &logits));
	int err, T = (int)tokens.n;
	struct model *m = model_open(mp, &err);
	if (!m)
		fail_msg("%s", err_msg(err));
	assert_int_equal(model_config(m)->format, MODEL_FMT_GGUF);
	assert_int_equal(model_config(m)->n_kv_head, 4);
	struct keep k;
	keep_init(&k);
	float *lg = malloc((size_t)T * 512 * sizeof *lg);
	assert_int_equal(model_forward(m, tokens.idata, T, &k.sink, lg), 0);
	EXPECT_CLOSE("logits", lg, logits.fdata, (size_t)T * 512, 1e-4);
	for (int l = 0; l < 5; l++) {
		EXPECT_CLOSE("attention", keep_get(&k, CAP_ATTN_PATTERN, l),
		             attn.fdata + (size_t)l * 8 * T * T, (size_t)8 * T * T, 1e-4);
		EXPECT_CLOSE("resid", keep_get(&k, CAP_RESID_POST, l),
		             resid.fdata + (size_t)(l + 1) * T * 64, (size_t)T * 64, 1e-4);
	}
	keep_free(&k);
	free(lg);
	model_close(m);
	npy_array_release(&tokens);
	npy_array_release(&attn);
	npy_array_release(&resid);
	npy_array_release(&logits);
	npz_close(z);
}

/* Hostile or unsupported model inputs give one clear error. */
static void
bad_models(void **state)
{
	(void)state;
	char dir[] = "/tmp/attnscope-test-models-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char p[600];
	int err;
	/* a directory without config.json */
	assert_null(model_open(dir, &err));
	assert_non_null(strstr(err_msg(err), "config.json"));
	/* config.json without weights */
	snprintf(p, sizeof p, "%s/config.json", dir);
	FILE *f = fopen(p, "w");
	fputs("{\"model_type\": \"gpt2\", \"n_embd\": 8, \"n_layer\": 1, \"n_head\": 2, "
	      "\"vocab_size\": 10}", f);
	fclose(f);
	assert_null(model_open(dir, &err));
	assert_non_null(strstr(err_msg(err), "model.safetensors"));
	/* an empty safetensors: tensors missing */
	snprintf(p, sizeof p, "%s/model.safetensors", dir);
	f = fopen(p, "wb");
	const char hdr[] = "{\"__metadata__\": {\"format\": \"pt\"}}";
	uint64_t n = sizeof hdr - 1;
	fwrite(&n, 8, 1, f);
	fwrite(hdr, 1, n, f);
	fclose(f);
	assert_null(model_open(dir, &err));
	assert_non_null(strstr(err_msg(err), "missing"));
	/* an unknown model type */
	snprintf(p, sizeof p, "%s/config.json", dir);
	f = fopen(p, "w");
	fputs("{\"model_type\": \"mamba\"}", f);
	fclose(f);
	assert_null(model_open(dir, &err));
	assert_int_equal(err, ERR_UNSUPPORTED);
	/* broken JSON names line and column */
	f = fopen(p, "w");
	fputs("{\"model_type\": \"gpt2\",,}", f);
	fclose(f);
	assert_null(model_open(dir, &err));
	assert_non_null(strstr(err_msg(err), "column"));
	/* a file that claims to be GGUF but is not */
	snprintf(p, sizeof p, "%s/x.gguf", dir);
	f = fopen(p, "wb");
	fputs("GGUF\x03\0\0\0short", f);
	fclose(f);
	assert_null(model_open(p, &err));
	char cmd[700];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

int
main(void)
{
	const struct CMUnitTest all[] = {
		cmocka_unit_test(bad_models),
		cmocka_unit_test(gpt2_hf),
		cmocka_unit_test(gpt2_hf_long),
		cmocka_unit_test(gpt2_gguf),
		cmocka_unit_test(gpt2_gguf_long),
		cmocka_unit_test(gpt2_q8_0),
		cmocka_unit_test(gpt2_q4_0),
		cmocka_unit_test(gpt2_q4_k_m),
		cmocka_unit_test(gpt2_q6_k),
		cmocka_unit_test(bert_hf),
		cmocka_unit_test(bert_hf_long),
		cmocka_unit_test(bert_gguf),
		cmocka_unit_test(bert_gguf_long),
		cmocka_unit_test(llama_f32_gguf),
		cmocka_unit_test(llama_q8_0),
		cmocka_unit_test(llama_q4_0),
		cmocka_unit_test(llama_q4_k_m),
		cmocka_unit_test(llama_q6_k),
	};
	char p[512];
	size_t n = shared("models/tiny-gpt2/hf/config.json", p, sizeof p)
	           ? sizeof all / sizeof all[0] : 1;
	if (n == 1)
		printf("# ATTNSCOPE_SHARED unset or models absent: reference cases not run\n");
	return _cmocka_run_group_tests("models", all, n, NULL, NULL);
}

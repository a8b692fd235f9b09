/*
 * fuzz_tokenize.c — every tokenizer's encoder on arbitrary bytes.
 *
 * Input: byte 0 picks the tokenizer, byte 1 the flags (TOK_ADD_SPECIAL,
 * TOK_PARSE_SPECIAL) and the BOS override; the rest is the text.
 *
 * Tokenizers: small built-in vocabularies of every kind (a llama2.c
 * tokenizer.bin, SentencePiece, byte-level BPE under each family of
 * llama.cpp pre-tokenizer regexes, WordPiece from GGUF and from vocab.txt,
 * a Hugging Face tokenizer.json BPE with a Split regex and normalizers),
 * built at start-up, so the corpus replay does not depend on ../shared.
 * When ATTNSCOPE_SHARED names the shared directory (set it by hand when
 * fuzzing; `meson test` does not), the real vocabularies there are added
 * after the built-in ones: GPT-2, llama-spm and bert-bge GGUF vocabularies,
 * stories260K's tok512.bin and the tiny-* Hugging Face directories.
 *
 * Checks beyond "no crash": the count reported when the buffer is too
 * small equals the count written with a large enough one, every id is in
 * the vocabulary and decodes, llama2.c needs at most len + 2 ids, and
 * byte-level BPE gives the input back when decoded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/formats.h"
#include "fuzz.h"
#include "tokenizer/tokenizer.h"
#include "util/util.h"

#define MAX_TOK 64

static struct {
	struct tokenizer *t;
	bool roundtrip; /* byte-level BPE without normalizers */
	char name[48];
} toks[MAX_TOK];
static int n_builtin, n_toks;

static void
add(struct tokenizer *t, bool roundtrip, const char *name)
{
	if (!t) {
		/* a built-in vocabulary that does not load is a harness bug */
		fprintf(stderr, "fuzz_tokenize: cannot load '%s'\n", name);
		abort();
	}
	if (n_toks == MAX_TOK)
		abort();
	toks[n_toks].t = t;
	toks[n_toks].roundtrip = roundtrip;
	snprintf(toks[n_toks].name, sizeof toks[n_toks].name, "%s", name);
	n_toks++;
}

/* ---- built-in vocabularies ---------------------------------------------- */

static const char *const words[] = {
	"the", "he", "th", "in", "an", "er", "on", "at", "en", "es", "is", "it",
	"and", "ing", "ion", "hello", "world", "once", "upon", "time", "re",
	"ll", "lo", "wor", "ld", "ca", "fé", "12", "123", "ne", "ed", "to", "of",
};
enum { N_WORDS = sizeof words / sizeof words[0] };

/* llama2.c tokenizer.bin: <unk>, BOS, EOS, 256 byte pieces, then pieces */
static struct tokenizer *
builtin_llama2c(void)
{
	struct fz_buf b = { 0 };
	int n = 0;
	fz_u32(&b, 16); /* max_token_length */
	const char *fixed[] = { "<unk>", "\n<s>\n", "\n</s>\n" };
	for (int i = 0; i < 3; i++, n++) {
		fz_f32(&b, 0.0f);
		fz_u32(&b, (uint32_t)strlen(fixed[i]));
		fz_put(&b, fixed[i], strlen(fixed[i]));
	}
	for (int i = 0; i < 256; i++, n++) {
		char p[8];
		snprintf(p, sizeof p, "<0x%02X>", i);
		fz_f32(&b, 0.0f);
		fz_u32(&b, 6);
		fz_put(&b, p, 6);
	}
	/* single characters first (score 0), then words with and without a
	 * leading space, scored by length */
	for (int c = ' '; c < 127; c++, n++) {
		char p = (char)c;
		fz_f32(&b, 0.0f);
		fz_u32(&b, 1);
		fz_put(&b, &p, 1);
	}
	for (int i = 0; i < N_WORDS; i++) {
		for (int sp = 0; sp < 2; sp++, n++) {
			char p[32];
			snprintf(p, sizeof p, "%s%s", sp ? " " : "", words[i]);
			fz_f32(&b, (float)strlen(p) - (float)i / 100);
			fz_u32(&b, (uint32_t)strlen(p));
			fz_put(&b, p, strlen(p));
		}
	}
	const char *path = fz_path("tok-llama2c.bin");
	fz_write(path, b.p, b.n);
	fz_buf_free(&b);
	int err;
	return tok_open_llama2c(path, n, &err);
}

static const char *
str_dup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		abort();
	return p;
}

static void
free_strs(const char **v, int n)
{
	for (int i = 0; i < n; i++)
		free((char *)v[i]);
}

static struct tokenizer *
open_gguf_buf(struct fz_buf *b)
{
	int err;
	struct gguf *g = gguf_open_mem(b->p, b->n, "builtin.gguf", &err);
	struct tokenizer *t = g ? tok_open_gguf(g, &err) : NULL;
	gguf_close(g);
	fz_buf_free(b);
	return t;
}

/* SentencePiece (GGUF model "llama"): <unk> <s> </s>, byte pieces, "▁" words */
static struct tokenizer *
builtin_spm(void)
{
	enum { N = 3 + 256 + 1 + 2 * N_WORDS + 26 };
	const char *tok[N];
	float score[N];
	int32_t type[N];
	int n = 0;
	tok[n] = str_dup("<unk>"), score[n] = 0, type[n++] = 2;
	tok[n] = str_dup("<s>"), score[n] = 0, type[n++] = 3;
	tok[n] = str_dup("</s>"), score[n] = 0, type[n++] = 3;
	for (int i = 0; i < 256; i++) {
		char p[8];
		snprintf(p, sizeof p, "<0x%02X>", i);
		tok[n] = str_dup(p), score[n] = 0, type[n++] = 6;
	}
	tok[n] = str_dup("\xe2\x96\x81"), score[n] = -1, type[n++] = 1;
	for (int c = 'a'; c <= 'z'; c++) {
		char p[2] = { (char)c, 0 };
		tok[n] = str_dup(p), score[n] = -2, type[n++] = 1;
	}
	for (int i = 0; i < N_WORDS; i++)
		for (int sp = 0; sp < 2; sp++) {
			char p[32];
			snprintf(p, sizeof p, "%s%s", sp ? "\xe2\x96\x81" : "", words[i]);
			tok[n] = str_dup(p), score[n] = -(float)(i + 3), type[n++] = 1;
		}
	struct fz_buf b = { 0 };
	fz_gguf_header(&b, 0, 8);
	fz_kv_str(&b, "general.architecture", "llama");
	fz_kv_str(&b, "tokenizer.ggml.model", "llama");
	fz_kv_arr_str(&b, "tokenizer.ggml.tokens", tok, (size_t)n);
	fz_kv_arr_f32(&b, "tokenizer.ggml.scores", score, (size_t)n);
	fz_kv_arr_i32(&b, "tokenizer.ggml.token_type", type, (size_t)n);
	fz_kv_u32(&b, "tokenizer.ggml.bos_token_id", 1);
	fz_kv_u32(&b, "tokenizer.ggml.eos_token_id", 2);
	fz_kv_u32(&b, "tokenizer.ggml.unknown_token_id", 0);
	free_strs(tok, n);
	return open_gguf_buf(&b);
}

/* GPT-2's bytes_to_unicode(): the printable code point standing for byte */
static int
gpt2_char(int byte, char out[4])
{
	static int map[256];
	static bool init;
	if (!init) {
		int extra = 0;
		for (int c = 0; c < 256; c++) {
			bool keep = (c >= 33 && c <= 126) || (c >= 161 && c <= 172) ||
			            (c >= 174 && c <= 255);
			map[c] = keep ? c : 256 + extra++;
		}
		init = true;
	}
	int cp = map[byte];
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	out[0] = (char)(0xc0 | cp >> 6);
	out[1] = (char)(0x80 | (cp & 0x3f));
	return 2;
}

static void
gpt2_text(const char *s, char *out)
{
	int o = 0;
	for (; *s; s++)
		o += gpt2_char((unsigned char)*s, out + o);
	out[o] = '\0';
}

/* byte-level BPE (GGUF model "gpt2") under pre-tokenizer `pre`: the 256
 * byte characters, words built by merges, <|endoftext|> */
static struct tokenizer *
builtin_bpe(const char *pre)
{
	enum { N = 256 + 64 + 1 };
	const char *tok[N], *merges[64];
	int32_t type[N];
	int n = 0, nm = 0;
	for (int i = 0; i < 256; i++) {
		char p[4] = { 0 };
		gpt2_char(i, p);
		tok[n] = str_dup(p), type[n++] = 1;
	}
	/* merges whose parts exist: "t h"->th, "th e"->the, "Ġ the"->Ġthe, ... */
	static const char *const ms[][2] = {
		{ "t", "h" }, { "th", "e" }, { " ", "the" }, { "h", "e" }, { "l", "l" },
		{ "he", "ll" }, { "hell", "o" }, { " ", "hello" }, { "o", "r" },
		{ "w", "or" }, { "wor", "l" }, { "worl", "d" }, { " ", "world" },
		{ "i", "n" }, { "in", "g" }, { "a", "n" }, { "an", "d" }, { " ", "and" },
		{ "1", "2" }, { "12", "3" }, { "\n", "\n" }, { " ", " " }, { "e", "r" },
		{ "o", "n" }, { "c", "e" }, { "on", "ce" }, { " ", "once" },
	};
	for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
		char a[32], c[32], m[80], w[64];
		gpt2_text(ms[i][0], a);
		gpt2_text(ms[i][1], c);
		snprintf(m, sizeof m, "%s %s", a, c);
		snprintf(w, sizeof w, "%s%s", a, c);
		merges[nm++] = str_dup(m);
		bool have = false;
		for (int k = 0; k < n; k++)
			have |= strcmp(tok[k], w) == 0;
		if (!have)
			tok[n] = str_dup(w), type[n++] = 1;
	}
	tok[n] = str_dup("<|endoftext|>"), type[n++] = 3;
	struct fz_buf b = { 0 };
	fz_gguf_header(&b, 0, 8);
	fz_kv_str(&b, "general.architecture", "gpt2");
	fz_kv_str(&b, "tokenizer.ggml.model", "gpt2");
	fz_kv_str(&b, "tokenizer.ggml.pre", pre);
	fz_kv_arr_str(&b, "tokenizer.ggml.tokens", tok, (size_t)n);
	fz_kv_arr_i32(&b, "tokenizer.ggml.token_type", type, (size_t)n);
	fz_kv_arr_str(&b, "tokenizer.ggml.merges", merges, (size_t)nm);
	fz_kv_u32(&b, "tokenizer.ggml.bos_token_id", (uint32_t)n - 1);
	fz_kv_u32(&b, "tokenizer.ggml.eos_token_id", (uint32_t)n - 1);
	free_strs(tok, n);
	free_strs(merges, nm);
	return open_gguf_buf(&b);
}

static const char *const bert_specials[] = { "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]" };

/* WordPiece from GGUF (model "bert", phantom-space pieces) */
static struct tokenizer *
builtin_bert_gguf(void)
{
	enum { N = 5 + 2 * N_WORDS + 26 + 10 };
	const char *tok[N];
	int32_t type[N];
	int n = 0;
	for (int i = 0; i < 5; i++)
		tok[n] = str_dup(bert_specials[i]), type[n++] = i == 1 ? 2 : 3;
	for (int c = 'a'; c <= 'z'; c++) {
		char p[8];
		snprintf(p, sizeof p, "\xe2\x96\x81%c", c);
		tok[n] = str_dup(p), type[n++] = 1;
	}
	for (int c = '0'; c <= '9'; c++) {
		char p[2] = { (char)c, 0 };
		tok[n] = str_dup(p), type[n++] = 1;
	}
	for (int i = 0; i < N_WORDS; i++)
		for (int sp = 0; sp < 2; sp++) {
			char p[32];
			snprintf(p, sizeof p, "%s%s", sp ? "\xe2\x96\x81" : "", words[i]);
			tok[n] = str_dup(p), type[n++] = 1;
		}
	struct fz_buf b = { 0 };
	fz_gguf_header(&b, 0, 8);
	fz_kv_str(&b, "general.architecture", "bert");
	fz_kv_str(&b, "tokenizer.ggml.model", "bert");
	fz_kv_arr_str(&b, "tokenizer.ggml.tokens", tok, (size_t)n);
	fz_kv_arr_i32(&b, "tokenizer.ggml.token_type", type, (size_t)n);
	fz_kv_u32(&b, "tokenizer.ggml.unknown_token_id", 1);
	fz_kv_u32(&b, "tokenizer.ggml.seperator_token_id", 3);
	fz_kv_u32(&b, "tokenizer.ggml.padding_token_id", 0);
	fz_kv_u32(&b, "tokenizer.ggml.cls_token_id", 2);
	free_strs(tok, n);
	return open_gguf_buf(&b);
}

/* WordPiece from a vocab.txt alone (BERT uncased defaults) */
static struct tokenizer *
builtin_vocab_txt(void)
{
	struct fz_buf b = { 0 };
	for (int i = 0; i < 5; i++) {
		fz_put(&b, bert_specials[i], strlen(bert_specials[i]));
		fz_put(&b, "\n", 1);
	}
	for (int c = '!'; c < 127; c++) {
		char p[8];
		int k = snprintf(p, sizeof p, "%c\n##%c\n", c, c);
		fz_put(&b, p, (size_t)k);
	}
	for (int i = 0; i < N_WORDS; i++) {
		char p[80];
		int k = snprintf(p, sizeof p, "%s\n##%s\n", words[i], words[i]);
		fz_put(&b, p, (size_t)k);
	}
	const char *dir = fz_path("wp");
	mkdir(dir, 0700);
	fz_write(fz_path("wp/vocab.txt"), b.p, b.n);
	fz_buf_free(&b);
	int err;
	return tok_open_hf(dir, &err);
}

/* Hugging Face tokenizer.json: byte-level BPE after an NFC normalizer and
 * a Split regex, TemplateProcessing adding <s> */
static struct tokenizer *
builtin_hf_json(void)
{
	struct fz_buf b = { 0 };
	static const char head[] =
		"{\"version\":\"1.0\",\"added_tokens\":["
		"{\"id\":0,\"content\":\"<s>\",\"special\":true,\"single_word\":false,"
		"\"lstrip\":false,\"rstrip\":false,\"normalized\":false},"
		"{\"id\":1,\"content\":\"</s>\",\"special\":true,\"single_word\":false,"
		"\"lstrip\":false,\"rstrip\":false,\"normalized\":false},"
		"{\"id\":2,\"content\":\"<user>\",\"special\":false,\"single_word\":false,"
		"\"lstrip\":false,\"rstrip\":false,\"normalized\":false}],"
		"\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFC\"}]},"
		"\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":["
		"{\"type\":\"Split\",\"pattern\":{\"Regex\":"
		"\"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\\\r\\\\n\\\\p{L}\\\\p{N}]?\\\\p{L}+|\\\\p{N}{1,3}|"
		" ?[^\\\\s\\\\p{L}\\\\p{N}]+[\\\\r\\\\n]*|\\\\s*[\\\\r\\\\n]+|\\\\s+(?!\\\\S)|\\\\s+\"},"
		"\"behavior\":\"Isolated\",\"invert\":false},"
		"{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,"
		"\"use_regex\":false}]},"
		"\"post_processor\":{\"type\":\"TemplateProcessing\","
		"\"single\":[{\"SpecialToken\":{\"id\":\"<s>\",\"type_id\":0}},"
		"{\"Sequence\":{\"id\":\"A\",\"type_id\":0}}],"
		"\"pair\":[{\"Sequence\":{\"id\":\"A\",\"type_id\":0}},"
		"{\"Sequence\":{\"id\":\"B\",\"type_id\":1}}],"
		"\"special_tokens\":{\"<s>\":{\"id\":\"<s>\",\"ids\":[0],\"tokens\":[\"<s>\"]}}},"
		"\"decoder\":{\"type\":\"ByteLevel\"},"
		"\"model\":{\"type\":\"BPE\",\"dropout\":null,\"unk_token\":null,"
		"\"fuse_unk\":false,\"byte_fallback\":false,\"ignore_merges\":false,"
		"\"vocab\":{\"<s>\":0,\"</s>\":1,\"<user>\":2";
	fz_put(&b, head, sizeof head - 1);
	int id = 3;
	for (int i = 0; i < 256; i++) {
		char p[4] = { 0 }, e[32];
		gpt2_char(i, p);
		int k = snprintf(e, sizeof e, ",\"%s%s\":%d", strcmp(p, "\"") == 0 ||
		                 strcmp(p, "\\") == 0 ? "\\" : "", p, id++);
		fz_put(&b, e, (size_t)k);
	}
	static const char tail[] =
		",\"th\":259,\"the\":260,\"\xc4\xa0the\":261,\"he\":262},"
		"\"merges\":[\"t h\",\"th e\",\"\xc4\xa0 the\",[\"h\",\"e\"]]}}";
	fz_put(&b, tail, sizeof tail - 1);
	const char *dir = fz_path("hfj");
	mkdir(dir, 0700);
	fz_write(fz_path("hfj/tokenizer.json"), b.p, b.n);
	fz_buf_free(&b);
	int err;
	struct tokenizer *t = tok_open_hf(dir, &err);
	return t;
}

/* ---- the real vocabularies, when present --------------------------------- */

static void
add_shared(const char *shared)
{
	char p[4096];
	int err;
	static const char *const ggufs[] = {
		"tokenizers/ggml-vocab-gpt-2.gguf", "tokenizers/ggml-vocab-llama-spm.gguf",
		"tokenizers/ggml-vocab-bert-bge.gguf",
	};
	for (int i = 0; i < 3; i++) {
		snprintf(p, sizeof p, "%s/%s", shared, ggufs[i]);
		struct tokenizer *t = tok_open_path(p, 0, &err);
		if (t)
			add(t, i == 0, ggufs[i]);
	}
	snprintf(p, sizeof p, "%s/models/stories260K/tok512.bin", shared);
	struct tokenizer *t = tok_open_path(p, 512, &err);
	if (t)
		add(t, false, "tok512.bin");
	static const char *const hf[] = {
		"models/tiny-gpt2/hf", "models/tiny-bert/hf", "models/tiny-bart/hf",
		"models/tiny-t5/hf",
	};
	for (int i = 0; i < 4; i++) {
		snprintf(p, sizeof p, "%s/%s", shared, hf[i]);
		if ((t = tok_open_hf(p, &err)))
			add(t, false, hf[i]);
	}
}

static void
init(void)
{
	static const char *const pres[] = {
		"gpt-2", "llama3", "dbrx", "qwen2", "qwen35", "seed-coder", "default",
		"falcon", "starcoder", "deepseek-coder", "bloom", "viking", "tekken",
		"gpt-4o",
	};
	add(builtin_llama2c(), false, "builtin llama2c");
	add(builtin_spm(), false, "builtin spm");
	for (size_t i = 0; i < sizeof pres / sizeof pres[0]; i++)
		add(builtin_bpe(pres[i]), true, pres[i]);
	add(builtin_bert_gguf(), false, "builtin bert gguf");
	add(builtin_vocab_txt(), false, "builtin vocab.txt");
	add(builtin_hf_json(), false, "builtin tokenizer.json");
	n_builtin = n_toks;
	const char *shared = getenv("ATTNSCOPE_SHARED");
	if (shared && *shared)
		add_shared(shared);
}

/* ---- the target ----------------------------------------------------------- */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!n_toks)
		init();
	if (size < 2 || size > (1 << 16))
		return 0;
	int which = data[0] % n_toks;
	struct tokenizer *t = toks[which].t;
	unsigned flags = data[1] & 3;
	int bos_mode = (data[1] >> 2) % 3 - 1; /* -1 default, 0 never, 1 always */
	const char *text = (const char *)data + 2;
	size_t len = size - 2;

	tok_set_add_bos(t, bos_mode);
	int32_t small[2];
	int n_small = -1, n = -1;
	int rc = tok_encode_ex(t, text, len, flags, small, 2, &n_small);
	if (rc != 0 && rc != ERR_RANGE) {
		tok_set_add_bos(t, -1);
		return 0;
	}
	int cap = n_small > 0 ? n_small : 1;
	int32_t *ids = malloc((size_t)cap * sizeof *ids);
	if (!ids)
		abort();
	rc = tok_encode_ex(t, text, len, flags, ids, cap, &n);
	if (rc != 0 || n != n_small) {
		fprintf(stderr, "%s: %d ids with a small buffer, %d (rc %d) with room\n",
		        toks[which].name, n_small, n, rc);
		abort();
	}
	int V = tok_vocab_size(t);
	if (tok_kind(t) == TOK_LLAMA2C && (size_t)n > len + 2)
		abort();
	/* decode everything; for byte-level BPE the bytes must come back */
	char *back = malloc(len + 1);
	size_t o = 0;
	bool same = back != NULL;
	for (int i = 0; i < n; i++) {
		if (ids[i] < 0 || ids[i] >= V)
			abort();
		char buf[256];
		int k = tok_decode(t, i ? ids[i - 1] : -1, ids[i], buf, sizeof buf);
		if (k < 0)
			abort();
		if (k >= (int)sizeof buf || o + (size_t)k > len)
			same = false;
		else if (same) {
			memcpy(back + o, buf, (size_t)k);
			o += (size_t)k;
		}
		tok_piece(t, ids[i]);
		tok_is_special(t, ids[i]);
	}
	if (toks[which].roundtrip && !(flags & TOK_ADD_SPECIAL) &&
	    (!same || o != len || memcmp(back, text, len) != 0)) {
		fprintf(stderr, "%s: decoding %d ids does not give the %zu input bytes back\n",
		        toks[which].name, n, len);
		abort();
	}
	free(back);
	free(ids);
	tok_set_add_bos(t, -1);
	return 0;
}

/* cmd_misc.c — `attnscope tokenize` and `attnscope generate`. */
#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../model/model.h"
#include "../record/record.h"
#include "../tokenizer/tokenizer.h"
#include "../util/util.h"
#include "cli.h"

static const char tokenize_help[] =
"usage: attnscope tokenize (--tokenizer PATH | --model PATH) --text STR [--pieces]\n"
"                          [--no-special]\n"
"\n"
"Print the token ids of STR space-separated on one line, with the special\n"
"tokens the model's tokenizer adds (BOS for Llama, [CLS] ... [SEP] for BERT,\n"
"none for GPT-2). --no-special adds none (the form llama.cpp's test vectors\n"
"use); --pieces prints one 'id<TAB>piece' per line instead.\n"
"PATH: a GGUF file (also vocabulary-only), a Hugging Face directory\n"
"(tokenizer.json, vocab.json + merges.txt, or vocab.txt), a llama2.c\n"
"tokenizer.bin, or with --model a llama2.c checkpoint (its tokenizer.bin\n"
"or tok*.bin beside it).\n";

static const char generate_help[] =
"usage: attnscope generate --model FILE [--tokenizer FILE] --prompt STR [-n N]\n"
"\n"
"Greedy generation (argmax at every step), printed exactly as llama2.c's\n"
"run.c prints it at temperature 0: N steps including the prompt (default\n"
"256, at most the model's context), stopping at BOS; tokens/s on stderr.\n";

/* The tokenizer of --tokenizer, or of --model: a GGUF file or an HF
 * directory carries its own; a llama2.c checkpoint has it beside it. With
 * need_model the model is opened too (*mp). */
static struct tokenizer *
open_tok(const char *model_path, const char *tok_path, bool need_model,
         struct model **mp, int *rc)
{
	*mp = NULL;
	if (need_model || (model_path && !tok_path)) {
		struct stat st;
		bool own = false; /* does the model file carry its tokenizer? */
		if (!need_model && stat(model_path, &st) == 0) {
			char magic[4] = { 0 };
			FILE *f = S_ISDIR(st.st_mode) ? NULL : fopen(model_path, "rb");
			own = S_ISDIR(st.st_mode) ||
			      (f && fread(magic, 1, 4, f) == 4 && !memcmp(magic, "GGUF", 4));
			if (f)
				fclose(f);
		}
		if (own) /* also a vocabulary-only GGUF, which is no model */
			return tok_open_path(model_path, 0, rc);
		if (!(*mp = model_open(model_path, rc)))
			return NULL;
		return rec_open_tokenizer(*mp, model_path, tok_path, rc);
	}
	return tok_open_path(tok_path, 0, rc);
}

int
cmd_tokenize(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tokenizer", required_argument, 0, 'k' },
		{ "model", required_argument, 0, 'm' },
		{ "text", required_argument, 0, 't' },
		{ "pieces", no_argument, 0, 'p' },
		{ "no-special", no_argument, 0, 'n' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *tok_path = NULL, *model_path = NULL, *text = NULL;
	bool pieces = false, special = true;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'k': tok_path = optarg; break;
		case 'm': model_path = optarg; break;
		case 't': text = optarg; break;
		case 'p': pieces = true; break;
		case 'n': special = false; break;
		case 'h': fputs(tokenize_help, stdout); return 0;
		default:
			return cli_usage_error("tokenize", "unknown or incomplete option '%s'",
			                       argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error("tokenize", "unexpected argument '%s'", argv[optind]);
	if (!tok_path && !model_path)
		return cli_usage_error("tokenize", "--tokenizer or --model is required");
	if (!text)
		return cli_usage_error("tokenize", "--text is required");
	int rc = 0;
	struct model *m;
	struct tokenizer *t = open_tok(model_path, tok_path, false, &m, &rc);
	if (!t) {
		model_close(m);
		return cli_fail(rc);
	}
	size_t len = strlen(text);
	int cap = (int)len + 3, n = 0;
	int32_t *ids = malloc((size_t)cap * sizeof *ids);
	if (!ids)
		rc = err_set(ERR_NOMEM, "out of memory");
	else
		rc = tok_encode_ex(t, text, len, special ? TOK_ADD_SPECIAL : 0, ids, cap, &n);
	if (!rc) {
		for (int i = 0; i < n; i++) {
			if (pieces) {
				char buf[256];
				printf("%d\t%s\n", ids[i],
				       cli_escape_piece(tok_piece(t, ids[i]), buf, sizeof buf));
			} else {
				printf(i ? " %d" : "%d", ids[i]);
			}
		}
		if (!pieces)
			printf("\n");
	}
	free(ids);
	tok_free(t);
	model_close(m);
	return rc ? cli_fail(rc) : 0;
}

/* run.c's safe_printf: skip lone unprintable bytes */
static void
safe_print(const char *piece)
{
	if (!piece[0])
		return;
	if (!piece[1]) {
		unsigned char b = (unsigned char)piece[0];
		if (!(isprint(b) || isspace(b)))
			return;
	}
	fputs(piece, stdout);
}

int
cmd_generate(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "model", required_argument, 0, 'm' },
		{ "tokenizer", required_argument, 0, 'k' },
		{ "prompt", required_argument, 0, 'p' },
		{ "steps", required_argument, 0, 'n' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	const char *model_path = NULL, *tok_path = NULL, *prompt = "";
	long steps = 256;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "n:h", opts, NULL)) != -1) {
		switch (c) {
		case 'm': model_path = optarg; break;
		case 'k': tok_path = optarg; break;
		case 'p': prompt = optarg; break;
		case 'n':
			if (!cli_parse_long("generate", "-n", optarg, 0, 1 << 24, &steps))
				return 2;
			break;
		case 'h': fputs(generate_help, stdout); return 0;
		default:
			return cli_usage_error("generate", "unknown or incomplete option '%s'",
			                       argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error("generate", "unexpected argument '%s'", argv[optind]);
	if (!model_path)
		return cli_usage_error("generate", "--model is required");
	int rc = 0;
	struct model *m;
	struct tokenizer *t = open_tok(model_path, tok_path, true, &m, &rc);
	int32_t *ids = NULL;
	float *logits = NULL;
	if (!t)
		goto out;
	const struct model_config *cfg = model_config(m);
	if (steps == 0 || steps > cfg->n_ctx)
		steps = cfg->n_ctx;
	size_t len = strlen(prompt);
	int cap = (int)(len + 3 > (size_t)steps + 1 ? len + 3 : (size_t)steps + 1);
	int n_prompt = 0;
	ids = malloc((size_t)cap * sizeof *ids);
	logits = malloc((size_t)cfg->n_ctx * cfg->vocab_size * sizeof *logits);
	if (!ids || !logits) {
		rc = err_set(ERR_NOMEM, "out of memory");
		goto out;
	}
	if ((rc = tok_encode_ex(t, prompt, len, TOK_ADD_SPECIAL, ids, cap, &n_prompt)) != 0)
		goto out;
	if (n_prompt == 0) {
		rc = err_set(ERR_ARG, "the prompt is empty and the tokenizer adds no BOS: "
		             "give a --prompt");
		goto out;
	}
	if (!cfg->has_lm_head) {
		rc = err_set(ERR_UNSUPPORTED, "'%s' is an encoder without a language-model "
		             "head: it cannot generate", model_path);
		goto out;
	}
	if (n_prompt > cfg->n_ctx) {
		rc = err_set(ERR_RANGE, "the prompt has %d tokens, more than the context of %d",
		             n_prompt, cfg->n_ctx);
		goto out;
	}
	double t0 = 0;
	int pos = 0, token = ids[0];
	if (token != tok_bos(t)) { /* run.c never prints BOS; other prompts start with text */
		char piece[512];
		if (tok_decode(t, -1, token, piece, sizeof piece) >= 0)
			safe_print(piece);
	}
	while (pos < steps) {
		int next;
		if (pos < n_prompt - 1) {
			next = ids[pos + 1];
		} else {
			/* the whole prefix through the prefill pass; argmax of its last row */
			if ((rc = model_forward(m, ids, pos + 1, NULL, logits)) != 0)
				goto out;
			const float *row = logits + (size_t)pos * cfg->vocab_size;
			next = 0;
			for (int i = 1; i < cfg->vocab_size; i++)
				if (row[i] > row[next])
					next = i;
		}
		pos++;
		if (next == tok_bos(t))
			break;
		char piece[512];
		if (tok_decode(t, token, next, piece, sizeof piece) >= 0)
			safe_print(piece);
		fflush(stdout);
		if (pos < cap)
			ids[pos] = next;
		token = next;
		if (t0 == 0)
			t0 = util_now();
	}
	printf("\n");
	if (pos > 1 && t0 > 0)
		fprintf(stderr, "achieved tok/s: %f\n", (pos - 1) / (util_now() - t0 + 1e-9));
out:
	free(ids);
	free(logits);
	tok_free(t);
	model_close(m);
	return rc ? cli_fail(rc) : 0;
}

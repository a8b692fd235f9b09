/* cmd_record.c — `attnscope record`: run a model over samples into SQLite. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "../record/record.h"
#include "../util/util.h"
#include "cli.h"

static const char record_help[] =
"usage: attnscope record --model FILE [--tokenizer FILE] (--data FILE | --text STR)\n"
"                        --db FILE [options]\n"
"\n"
"Run a model over samples and record every head's attention (and the hook\n"
"points you choose) into a SQLite database, one transaction per sample.\n"
"\n"
"  --model PATH       a GGUF file (llama, qwen2, gpt2, bert; quantized tensors are\n"
"                     dequantized at load), a Hugging Face directory (config.json +\n"
"                     model.safetensors: Llama, Qwen2, Mistral, GPT-2, BERT, BART,\n"
"                     T5), or a llama2.c checkpoint (.bin)\n"
"  --tokenizer PATH   override the model's own tokenizer (a llama2.c checkpoint\n"
"                     uses tokenizer.bin, or the one tok*.bin, beside it)\n"
"  --bos yes|no       add BOS (or not) whatever the tokenizer's configuration says\n"
"  --generate N       decode N tokens greedily after each sample (the source of an\n"
"                     encoder–decoder, the prompt of a decoder) and record the\n"
"                     attention of every generated step (row t = step t)\n"
"  --data FILE        samples: .txt (one per line) or .jsonl (one JSON object per\n"
"                     line with a text field, or \"tokens\": [ids] used as given;\n"
"                     for BART/T5 \"source\" and \"target\", or \"source_tokens\" and\n"
"                     \"target_tokens\" (the decoder input, from its start token))\n"
"  --text STR         a single sample\n"
"  --db FILE          database to create or add a run to\n"
"  --field NAME       JSONL text field (default: text)\n"
"  --limit N          record at most N samples\n"
"  --max-tokens N     cut samples to N tokens (longer than the context is an error\n"
"                     otherwise)\n"
"  --capture GLOBS    comma-separated hook names to store, with * wildcards\n"
"                     (default: *attn.hook_pattern: every attention map, also\n"
"                     encoder/decoder/cross_attn of BART and T5). Per-head statistics\n"
"                     and per-token outputs are always stored. Hooks:\n"
"                     hook_embed, blocks.L.hook_resid_pre|resid_mid|resid_post,\n"
"                     blocks.L.attn.hook_q|k|v|z|attn_scores|pattern|norm_pattern,\n"
"                     blocks.L.hook_attn_out|mlp_out, blocks.L.mlp.hook_post,\n"
"                     blocks.L.ln1|ln2.hook_normalized, ln_final.hook_normalized,\n"
"                     logits; encoder.L.attn.hook_pattern|hook_resid_post,\n"
"                     decoder.L.attn.hook_pattern|cross_attn.hook_pattern|\n"
"                     hook_resid_post, encoder.ln_final.hook_normalized;\n"
"                     'none' stores no maps\n"
"  --encoding ENC     f16z (default: float16, lower triangle of causal maps, zstd),\n"
"                     f16 (the same without zstd) or f32 (exact float32)\n"
"  --resume           continue the unfinished run with the same model, data and\n"
"                     options from its last committed sample (or start it)\n"
"  -q, --quiet        no progress bar\n"
"  -h, --help         this help\n"
"\n"
"Text samples get the special tokens the model's tokenizer adds (BOS for\n"
"Llama and llama2.c, [CLS] ... [SEP] for BERT, none for GPT-2); the run records\n"
"the policy used. Samples are numbered from 0 within a run.\n";

static volatile sig_atomic_t stop_flag;

static void
on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void
on_progress(void *ctx, long done, long total, long tokens)
{
	progress_update(ctx, done, total, tokens);
}

int
cmd_record(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "model", required_argument, 0, 'm' },
		{ "tokenizer", required_argument, 0, 'k' },
		{ "data", required_argument, 0, 'd' },
		{ "text", required_argument, 0, 't' },
		{ "db", required_argument, 0, 'b' },
		{ "field", required_argument, 0, 'f' },
		{ "limit", required_argument, 0, 'l' },
		{ "max-tokens", required_argument, 0, 'x' },
		{ "capture", required_argument, 0, 'c' },
		{ "encoding", required_argument, 0, 'e' },
		{ "resume", no_argument, 0, 'r' },
		{ "bos", required_argument, 0, 'B' },
		{ "generate", required_argument, 0, 'g' },
		{ "quiet", no_argument, 0, 'q' },
		{ "help", no_argument, 0, 'h' },
		{ 0, 0, 0, 0 },
	};
	struct rec_options o = { .enc = REC_DEFAULT_ENC };
	bool quiet = false;
	long v;
	int c;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
		switch (c) {
		case 'm': o.model_path = optarg; break;
		case 'k': o.tokenizer_path = optarg; break;
		case 'd': o.data_path = optarg; break;
		case 't': o.text = optarg; break;
		case 'b': o.db_path = optarg; break;
		case 'f': o.field = optarg; break;
		case 'c': o.capture = optarg; break;
		case 'r': o.resume = true; break;
		case 'g':
			if (!cli_parse_long("record", "--generate", optarg, 1, 1 << 16, &v))
				return 2;
			o.generate = (int)v;
			break;
		case 'B':
			if (strcmp(optarg, "yes") == 0)
				o.bos = REC_BOS_YES;
			else if (strcmp(optarg, "no") == 0)
				o.bos = REC_BOS_NO;
			else
				return cli_usage_error("record", "--bos is yes or no, not '%s'", optarg);
			break;
		case 'q': quiet = true; break;
		case 'l':
			if (!cli_parse_long("record", "--limit", optarg, 1, 1L << 40, &v))
				return 2;
			o.limit = v;
			break;
		case 'x':
			if (!cli_parse_long("record", "--max-tokens", optarg, 1, 1 << 24, &v))
				return 2;
			o.max_tokens = (int)v;
			break;
		case 'e':
			if (store_enc_parse(optarg, &o.enc) != 0)
				return cli_usage_error("record", "--encoding is f16, f32 or f16z, not '%s'",
				                       optarg);
			break;
		case 'h': fputs(record_help, stdout); return 0;
		default:
			return cli_usage_error("record", "unknown or incomplete option '%s'",
			                       argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error("record", "unexpected argument '%s'", argv[optind]);
	if (!o.model_path)
		return cli_usage_error("record", "--model is required");
	if (!o.db_path)
		return cli_usage_error("record", "--db is required");
	if (!o.data_path == !o.text)
		return cli_usage_error("record", "give exactly one of --data and --text");

	struct progress pr;
	progress_init(&pr, "samples", quiet);
	o.progress = on_progress;
	o.progress_ctx = &pr;
	o.stop = &stop_flag;
	struct sigaction sa = { .sa_handler = on_signal };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	struct rec_result res;
	int rc = rec_run(&o, &res);
	progress_finish(&pr);
	if (rc)
		return cli_fail(rc);
	double tps = res.seconds > 0 ? res.n_tokens / res.seconds : 0;
	fprintf(stderr, "recorded %ld sample%s (%ld tokens) into run %lld of '%s' in %.2f s "
	        "(%.0f tokens/s)%s\n", res.n_samples, res.n_samples == 1 ? "" : "s",
	        res.n_tokens, (long long)res.run_id, o.db_path, res.seconds, tps,
	        res.n_skipped ? " after resuming" : "");
	if (res.interrupted) {
		fprintf(stderr, "attnscope: interrupted; continue with the same command and "
		        "--resume\n");
		return 130;
	}
	return 0;
}

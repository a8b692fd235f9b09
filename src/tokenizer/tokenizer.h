/*
 * tokenizer.h — text <-> token ids.
 *
 * Kinds:
 *   TOK_LLAMA2C   the llama2.c `tokenizer.bin` format (sentencepiece-style
 *                 BPE over scored pieces with byte fallback), encoding
 *                 exactly as llama2.c run.c's encode() does.
 *   TOK_SPM       SentencePiece BPE as llama.cpp's llm_tokenizer_spm runs
 *                 it (GGUF tokenizer.ggml.model "llama"): spaces become
 *                 U+2581 "▁", a "▁" is prefixed (add_space_prefix), the
 *                 highest-scoring adjacent pair merges first, bytes of
 *                 unknown characters fall back to <0xNN> pieces.
 *   TOK_BPE       byte-level BPE (GPT-2 and its descendants): GGUF model
 *                 "gpt2" with tokenizer.ggml.merges and the pre-tokenizer
 *                 named by tokenizer.ggml.pre; Hugging Face tokenizer.json
 *                 (model BPE, ByteLevel pre-tokenizer, optional Split
 *                 regex) or vocab.json + merges.txt. Pre-tokenizer regexes
 *                 run in PCRE2 (UTF, UCP, MATCH_INVALID_UTF: any bytes).
 *   TOK_WORDPIECE BERT's WordPiece: GGUF model "bert", tokenizer.json
 *                 model WordPiece with BertNormalizer/BertPreTokenizer,
 *                 or vocab.txt alone (BERT uncased defaults). "##"
 *                 continuation pieces, words over 100 characters -> [UNK].
 *   TOK_UNIGRAM   SentencePiece's unigram model as Hugging Face tokenizers
 *                 runs it (T5, ALBERT, XLNet tokenizer.json "Unigram"):
 *                 WhitespaceSplit and/or Metaspace pre-tokenizers ("▁",
 *                 prepend_scheme always/first/never or the older
 *                 add_prefix_space), then per pre-token the segmentation
 *                 with the highest total piece score (Viterbi; among equal
 *                 totals the one HF keeps); a character no piece covers
 *                 becomes unk_id at min score - 10, adjacent unknowns fuse
 *                 into one <unk>, or into <0xNN> byte pieces with
 *                 byte_fallback. No normalizer is supported yet (real T5
 *                 files carry a Precompiled nmt-NFKC map: ERR_UNSUPPORTED).
 * The encoders reproduce llama.cpp's test vectors (tokenizer.ggml.* files)
 * and Hugging Face tokenizers' ids, including merge order and ties.
 *
 * llama2.c tokenizer.bin layout (little-endian):
 *   1. int32 max_token_length
 *   2. vocab_size records: float32 score, int32 len, len bytes (no NUL)
 * vocab_size is not in the file: it comes from the model header. Ids:
 * 0 <unk>, 1 BOS, 2 EOS, 3..258 the byte pieces <0x00>..<0xFF>.
 *
 * Every loader treats its files as untrusted: lengths, counts and ids are
 * checked, and a malformed file gives NULL with a message, never a crash.
 * A tokenizer is immutable after loading except for tok_set_add_bos(), so
 * it may be shared by threads that only encode and decode.
 */
#ifndef ATTNSCOPE_TOKENIZER_H
#define ATTNSCOPE_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum tok_kind {
	TOK_LLAMA2C,
	TOK_SPM,
	TOK_BPE,
	TOK_WORDPIECE,
	TOK_UNIGRAM,
	TOK_KIND_COUNT
};

/* Flags of tok_encode_ex(). */
enum tok_encode_flags {
	/* Add the special tokens the tokenizer's configuration adds
	 * (tok_special_policy()): BOS for llama2c and SPM (add_bos_token,
	 * default true), nothing for GPT-2 BPE unless add_bos_token says so,
	 * [CLS] ... [SEP] for WordPiece. tok_set_add_bos() overrides BOS. */
	TOK_ADD_SPECIAL = 1u << 0,
	/* Recognise the text of control/special tokens ("<|endoftext|>",
	 * "[SEP]", "<s>") in the input and emit their ids, as Hugging Face
	 * does by default. Without it only user-defined (non-special added)
	 * tokens are matched, as llama.cpp does; llama.cpp's test vectors
	 * use no parsing. Ignored by TOK_LLAMA2C. */
	TOK_PARSE_SPECIAL = 1u << 1,
};

struct tokenizer;
struct gguf;

/*
 * Constructor: read a llama2.c tokenizer.bin with `vocab_size` records
 * (from the model header). Every length is checked against the file; a
 * short, truncated or oversized file gives NULL with ERR_FORMAT/ERR_IO in
 * *err and the message set:
 *   ERR_IO      the file cannot be opened or read
 *   ERR_FORMAT  fewer than vocab_size records ("truncated at record N"), a
 *               piece length < 0 or > 65536, a piece holding a NUL byte, or
 *               bytes left after the last record (a vocab size that does
 *               not belong to this file; run.c would ignore them)
 *   ERR_ARG     vocab_size < 3 (<unk>, BOS, EOS are fixed ids) or > 2^24
 * vocab_size 0 means "no model at hand": the records are counted to the
 * end of the file (used by `attnscope tokenize --tokenizer`).
 *   ERR_NOMEM
 * `err` may be NULL. Free the result with tok_free().
 */
struct tokenizer *tok_open_llama2c(const char *path, int vocab_size, int *err);

/*
 * Constructor: the tokenizer stored in an open GGUF file's
 * tokenizer.ggml.* metadata. Everything is copied: `g` may be closed
 * right after. Keys read:
 *   model (required)   "llama" -> TOK_SPM, "gpt2" -> TOK_BPE,
 *                      "bert" -> TOK_WORDPIECE; others ERR_UNSUPPORTED
 *   tokens (required)  string array, 1 .. 2^24 entries
 *   scores             float32 (or int32) array, one per token; required
 *                      for TOK_SPM
 *   token_type         int32 array, one per token (1 normal, 2 unknown,
 *                      3 control, 4 user-defined, 5 unused, 6 byte)
 *   merges             string array "left right", required for TOK_BPE;
 *                      an entry without a space is ERR_FORMAT
 *   pre                pre-tokenizer name (TOK_BPE; absent = "default"):
 *                      llama.cpp's names, e.g. "gpt-2", "llama-bpe",
 *                      "llama3", "qwen2", "default" (llama.cpp's default
 *                      regex set); an unknown name is ERR_UNSUPPORTED
 *   bos/eos/unknown/seperator (sic)/padding/cls/mask _token_id
 *                      ids out of range are ignored, as llama.cpp does
 *   add_bos_token, add_eos_token, add_sep_token, add_space_prefix
 * Array lengths that differ from the token count, wrong value types and
 * out-of-range values are ERR_FORMAT with a message naming the key.
 * BERT vocabularies converted by llama.cpp store pieces in "phantom space"
 * form ("▁the" for a word start, "s" for "##s"); they are turned back into
 * WordPiece form, so tok_piece() reads "##s" from GGUF and HF files alike.
 * `err` may be NULL. Free the result with tok_free().
 */
struct tokenizer *tok_open_gguf(const struct gguf *g, int *err);

/*
 * Constructor: a Hugging Face tokenizer directory. Tried in order:
 *   tokenizer.json     model BPE (with a ByteLevel pre-tokenizer, maybe
 *                      after a Split regex and NFC/NFKC/... normalizers),
 *                      WordPiece (BertNormalizer, BertPreTokenizer) or
 *                      Unigram (vocab [[piece, score], ...], unk_id,
 *                      byte_fallback; WhitespaceSplit / Metaspace; no
 *                      normalizer; Metaspace or no decoder);
 *                      added_tokens are recognised; the post_processor
 *                      (TemplateProcessing, BertProcessing,
 *                      RobertaProcessing, ByteLevel) says what
 *                      TOK_ADD_SPECIAL adds
 *   vocab.json + merges.txt   GPT-2 style byte-level BPE (adds nothing
 *                      unless tokenizer_config.json has add_bos_token)
 *   vocab.txt          BERT uncased defaults (do_lower_case from
 *                      tokenizer_config.json if present), [CLS] ... [SEP]
 * tokenizer_config.json, when present, names bos/eos/unk/... tokens.
 * ERR_IO when no tokenizer file is found, ERR_FORMAT for malformed JSON or
 * entries (the message names file and field), ERR_UNSUPPORTED for a model
 * or pre-tokenizer type this module does not implement.
 * `err` may be NULL. Free the result with tok_free().
 */
struct tokenizer *tok_open_hf(const char *dir, int *err);

/*
 * Constructor: pick the loader by path. A directory -> tok_open_hf; a
 * name ending in ".gguf" -> gguf_open + tok_open_gguf (vocab-only files
 * with 0 tensors are fine; the file is closed again); a file named
 * tokenizer.json, vocab.json (or merges.txt) or vocab.txt -> the Hugging
 * Face loader of its directory, using that very format even when the
 * directory holds others too (so ".../vocab.txt" gives the vocab.txt
 * tokenizer next to a tokenizer.json); anything else -> tok_open_llama2c
 * with `vocab_size` (0 = count the records). Errors as those functions.
 * `err` may be NULL. Free the result with tok_free().
 */
struct tokenizer *tok_open_path(const char *path, int vocab_size, int *err);

/* Destructor; accepts NULL. */
void tok_free(struct tokenizer *t);

/* The kind of a loaded tokenizer. */
enum tok_kind tok_kind(const struct tokenizer *t);

/* "llama2c", "spm", "bpe", "wordpiece", "unigram"; "?" for an unknown
 * value. */
const char *tok_kind_name(enum tok_kind kind);

/* The pre-tokenizer in use, for `attnscope info`: GGUF tokenizer.ggml.pre
 * ("gpt-2", "llama-bpe", ...), "hf-bytelevel", "hf-split+bytelevel",
 * "bert" for WordPiece, "spm" / "llama2c" for those kinds,
 * "hf-whitespacesplit+metaspace" (T5), "hf-metaspace" or
 * "hf-whitespacesplit" for Unigram. Valid until tok_free(). */
const char *tok_pre_name(const struct tokenizer *t);

/* Number of ids (pieces), including added and unused ones: every id in
 * 0 .. tok_vocab_size() - 1 has a piece (maybe empty). */
int tok_vocab_size(const struct tokenizer *t);

/* Special ids, -1 if the tokenizer has none. llama2c: BOS 1, EOS 2,
 * UNK 0. WordPiece: tok_cls()/tok_sep() are [CLS]/[SEP]; tok_bos() is -1
 * unless the file names a BOS. */
int tok_bos(const struct tokenizer *t);
int tok_eos(const struct tokenizer *t);
int tok_unk(const struct tokenizer *t);
int tok_cls(const struct tokenizer *t);
int tok_sep(const struct tokenizer *t);
int tok_pad(const struct tokenizer *t);

/* Is id a control or unknown-type token (<s>, </s>, <unk>,
 * <|endoftext|>, [CLS], [SEP], [UNK], [PAD], [MASK])? false for normal,
 * byte, unused and user-defined tokens and ids out of range. llama2c:
 * ids 0, 1, 2. */
bool tok_is_special(const struct tokenizer *t, int id);

/*
 * What TOK_ADD_SPECIAL adds, as a short name: "none", "bos", "bos+eos",
 * "cls+sep", ... (the names of the added ids joined by '+'; an id without
 * a name reads "id<N>"). Reflects tok_set_add_bos(). Valid until the next
 * tok_set_add_bos() or tok_free().
 */
const char *tok_special_policy(const struct tokenizer *t);

/*
 * Override the leading special token that TOK_ADD_SPECIAL adds (the
 * `--bos yes|no` option): mode -1 the model's default, 0 never, 1 always.
 * "Leading" means BOS, or [CLS] for WordPiece; with 1 and no such token
 * nothing changes. Trailing tokens (EOS, [SEP]) follow the model. Not
 * thread-safe against concurrent encodes on the same tokenizer.
 */
void tok_set_add_bos(struct tokenizer *t, int mode);

/*
 * Encode `len` bytes of `text` (need not be NUL-terminated, any bytes)
 * into ids. `flags`: TOK_ADD_SPECIAL, TOK_PARSE_SPECIAL. Writes at most
 * `cap` ids; *n_ids gets the count needed. Returns 0, or ERR_RANGE when
 * cap was too small (call again with *n_ids), ERR_NOMEM. ids may be NULL
 * when cap is 0. Thread-safe on a shared tokenizer. O(n log n) in len:
 * 100 KB take a few milliseconds.
 *
 * TOK_SPM, TOK_BPE and TOK_WORDPIECE give llama.cpp's / Hugging Face's ids
 * (see the file comment). Invalid UTF-8 never fails: SPM falls back to
 * byte pieces; byte-level BPE encodes every byte, so decoding gives the
 * input back; WordPiece drops invalid bytes as BertNormalizer drops
 * U+FFFD.
 */
int tok_encode_ex(const struct tokenizer *t, const char *text, size_t len,
                  unsigned flags, int32_t *ids, int cap, int *n_ids);

/*
 * tok_encode_ex(t, text, len, add_bos ? TOK_ADD_SPECIAL : 0, ...): kept
 * for compatibility.
 *
 * For TOK_LLAMA2C: llama2.c semantics: a dummy-prefix space when text is
 * non-empty, UTF-8 code points looked up as pieces, bytes of unknown
 * code points as byte-fallback ids (byte + 3), then greedy merges by
 * highest score. Invalid UTF-8 is encoded byte by byte, never rejected.
 * The ids equal run.c's encode(text, bos, 0) for any NUL-free text,
 * including its merge order: each step merges the adjacent pair (BOS
 * included) whose concatenation is a piece with the highest score above
 * -1e10, the leftmost one among equal scores. `len + 2` ids always
 * suffice. Where run.c has no defined behaviour this encoder chooses:
 * a NUL byte in text is encoded like any other byte (byte fallback
 * <0x00>); without a " " piece no dummy prefix is added; a byte-fallback
 * id beyond the vocabulary becomes 0 (<unk>); of duplicate pieces the
 * lowest id is used.
 */
int tok_encode(const struct tokenizer *t, const char *text, size_t len,
               bool add_bos, int32_t *ids, int cap, int *n_ids);

/* The raw vocabulary piece of an id, NUL-terminated: llama2.c "<0x0A>",
 * " the", "\n<s>\n"; SPM "▁the"; GPT-2 "Ġthe"; WordPiece "##ing" (also for
 * GGUF files, see tok_open_gguf). NULL when id is out of range. Valid
 * until tok_free(). */
const char *tok_piece(const struct tokenizer *t, int id);

/* Piece length in bytes (pieces may hold any bytes but NUL); 0 when id is
 * out of range. */
size_t tok_piece_len(const struct tokenizer *t, int id);

/*
 * The text a token contributes after `prev_id` (-1 at the start). Writes
 * a NUL-terminated string into buf (at most size bytes); returns its
 * length, or -1 if id is out of range. Like snprintf, the return value
 * is the full length even when it did not fit (then buf holds the first
 * size - 1 bytes); buf may be NULL when size is 0. The text may hold NUL
 * bytes (a byte piece "<0x00>"): use the returned length, not strlen.
 *
 *   TOK_LLAMA2C    as llama2.c's decode(): the leading space of a piece
 *                  is dropped right after BOS, and a byte piece "<0xNN>"
 *                  (exactly six bytes, hex digits in either case; run.c's
 *                  sscanf also accepts malformed variants such as "<0x4>")
 *                  becomes that one byte.
 *   TOK_SPM        "▁" -> space; the leading space is dropped at the start
 *                  (prev_id -1) and right after a control token such as
 *                  BOS, as llama.cpp / HF decode do; byte pieces -> bytes.
 *   TOK_BPE        the bytes behind the piece (GPT-2's inverse byte map),
 *                  so concatenating all pieces gives the exact input.
 *   TOK_WORDPIECE  "##" stripped from continuation pieces; other pieces
 *                  get a space before them unless first (prev_id -1) or
 *                  right after a special token such as [CLS].
 *   TOK_UNIGRAM    HF's Metaspace decoder: every "▁" -> space, except in
 *                  the first token (prev_id -1), where they are dropped
 *                  (unless prepend_scheme is "never"); special tokens go
 *                  through it too ("</s>" stays "</s>"). Without a decoder
 *                  tokens are joined with spaces, as HF does. Byte pieces
 *                  stay literal ("<0x41>"), as HF's Metaspace decoder
 *                  leaves them.
 * Control and user-defined tokens give their piece text as it is.
 */
int tok_decode(const struct tokenizer *t, int prev_id, int id, char *buf,
               size_t size);

#endif

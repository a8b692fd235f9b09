/*
 * tok_internal.h — what the files of src/tokenizer/ share and nothing
 * outside the folder may include: the one struct tokenizer behind every
 * kind, the vocabulary hash table, the merge heap, a growable id list, and
 * the per-kind encoders/decoders that load.c dispatches to.
 *
 * Naming: functions visible across the folder but not public carry the
 * double-underscore prefix tok__ (STYLE.md §4.3).
 */
#ifndef ATTNSCOPE_TOK_INTERNAL_H
#define ATTNSCOPE_TOK_INTERNAL_H

#include "tokenizer/tokenizer.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TOK__MAX_VOCAB (1 << 24)      /* ids fit an int32 and a float      */
#define TOK__MAX_PIECE (1 << 16)      /* longest piece accepted, in bytes  */
#define TOK__MAX_AFFIX 4              /* special ids added before / after  */

/* Token types: the values of GGUF tokenizer.ggml.token_type (llama.cpp's
 * LLAMA_TOKEN_TYPE_*). HF added tokens map to CONTROL (special: true) or
 * USER (special: false); a WordPiece/BPE unk_token becomes UNKNOWN. */
enum tok__type {
	TOK__UNDEFINED = 0,
	TOK__NORMAL = 1,
	TOK__UNKNOWN = 2,
	TOK__CONTROL = 3,
	TOK__USER = 4,
	TOK__UNUSED = 5,
	TOK__BYTE = 6,
};

/* Per-token attributes of added tokens (HF lstrip / rstrip). */
enum tok__attr {
	TOK__LSTRIP = 1 << 0,  /* swallow whitespace to the left of a match  */
	TOK__RSTRIP = 1 << 1,  /* swallow whitespace to the right            */
};

/* HF Split behaviours (tokenizers SplitDelimiterBehavior). */
enum tok__split_behavior {
	TOK__SPLIT_ISOLATED,
	TOK__SPLIT_REMOVED,
	TOK__SPLIT_MERGED_PREV,
	TOK__SPLIT_MERGED_NEXT,
	TOK__SPLIT_CONTIGUOUS,
};

/* One regex split step of a BPE pre-tokenizer (compiled pcre2_code). */
struct tok__split {
	void *re;                 /* pcre2_code_8 *, JIT-compiled when possible */
	enum tok__split_behavior behavior;
	bool invert;
};

/* Unicode normalizers applied before a BPE pre-tokenizer (HF). */
enum tok__norm { TOK__NFC, TOK__NFD, TOK__NFKC, TOK__NFKD, TOK__LOWER };
#define TOK__MAX_NORM 8
#define TOK__MAX_SPLIT 8

/* Metaspace prepend schemes (HF PrependScheme). */
enum tok__prepend { TOK__PREPEND_NEVER, TOK__PREPEND_ALWAYS, TOK__PREPEND_FIRST };

/* A BPE merge: ids of the left and right piece -> rank and result id. */
struct tok__merge {
	uint64_t key;             /* (uint64)left << 32 | right; ~0 = empty   */
	int32_t rank;
	int32_t id;
};

struct tokenizer {
	enum tok_kind kind;
	int vocab_size;

	/* vocabulary: piece i is blob[off[i] .. off[i] + len[i]), NUL-ended */
	char *blob;
	size_t blob_len, blob_cap;
	size_t *off;              /* (vocab_size)                              */
	uint32_t *len;            /* (vocab_size)                              */
	float *score;             /* (vocab_size) merge score (llama2c, SPM)   */
	uint64_t *hash;           /* (vocab_size) FNV-1a of the piece          */
	uint8_t *type;            /* (vocab_size) enum tok__type               */
	uint8_t *attr;            /* (vocab_size) enum tok__attr bits          */
	int32_t *table;           /* (table_mask + 1) piece ids, -1 = empty    */
	size_t table_mask;
	size_t max_piece_len;

	/* llama2.c */
	int max_token_length;     /* as stored in the file; not relied upon    */
	int space_id;             /* id of " " (the dummy prefix), -1 if none  */

	/* special ids, -1 when the tokenizer has none */
	int bos, eos, unk, sep, pad, cls, mask;
	/* what TOK_ADD_SPECIAL adds by the model's configuration */
	int32_t prefix[TOK__MAX_AFFIX], suffix[TOK__MAX_AFFIX];
	int n_prefix, n_suffix;
	int add_bos_mode;         /* -1 model default, 0 never, 1 always       */
	char policy[64];          /* tok_special_policy() for the current mode */
	char pre_name[48];        /* tok_pre_name()                            */

	/* tokens recognised in raw text (user-defined always; control and
	 * unknown with TOK_PARSE_SPECIAL), grouped by first byte, longest
	 * first within a group: spec[spec_start[b] .. spec_start[b + 1]) */
	int32_t *spec;
	int32_t spec_start[257];
	int n_spec_user;          /* how many of them are user-defined        */
	int n_spec_ctrl;          /* ... and control or unknown               */

	/* SPM */
	bool add_space_prefix;
	int32_t byte_id[256];     /* SPM: <0xNN>; BPE: the byte's own char     */

	/* byte-level BPE */
	struct tok__merge *merges;
	size_t merge_mask;
	int n_merges;
	struct tok__split split[TOK__MAX_SPLIT];
	int n_split;
	enum tok__norm norm[TOK__MAX_NORM];
	int n_norm;
	bool bl_add_prefix_space; /* HF ByteLevel add_prefix_space             */
	int bl_at;                /* ... applied to the pieces before split[bl_at] */
	bool ignore_merges;       /* a whole pre-token in the vocab wins       */
	uint16_t bl_char[256];    /* byte -> code point of GPT-2's byte map    */
	int16_t bl_byte[324];     /* code point -> byte, -1 if not in the map  */

	/* WordPiece */
	bool wp_lowercase, wp_strip_accents, wp_clean_text, wp_chinese;
	int wp_max_chars;         /* longer words become [UNK] (100)           */
	char wp_prefix[16];       /* continuation prefix, "##"                 */
	size_t wp_prefix_len;

	/* Unigram: ids 0 .. uni_n_model - 1 are the model's pieces, the only
	 * ones the lattice uses, looked up in their own table (the last id of
	 * a duplicated piece wins, as in HF's token_to_ids) */
	int uni_n_model;
	double *uni_score;        /* (uni_n_model) log-probabilities           */
	double uni_unk_score;     /* min score - 10 (HF's kUnkPenalty)         */
	size_t uni_max_len;       /* longest model piece, in bytes             */
	int32_t *uni_table;       /* (uni_mask + 1) model ids, -1 = empty      */
	size_t uni_mask;
	bool uni_byte_fallback;   /* unknown runs -> <0xNN> pieces if all exist */
	bool uni_ws_split;        /* a WhitespaceSplit pre-tokenizer           */
	bool uni_metaspace;       /* a Metaspace pre-tokenizer (after it)      */
	bool uni_meta_split;      /* ... cutting before each replacement       */
	enum tok__prepend uni_prepend;
	char uni_rep[8];          /* its replacement character (UTF-8), "▁"   */
	size_t uni_rep_len;
	int uni_decoder;          /* 0 none (join with " "), 1 Metaspace       */
	enum tok__prepend uni_dec_prepend;
	char uni_dec_rep[8];      /* the decoder's replacement character       */
	size_t uni_dec_rep_len;
};

/* ---- growable id list ---------------------------------------------------- */

struct tok__ids {
	int32_t *v;
	size_t n, cap;
};

/* Append one id; ERR_NOMEM (message set) on failure. */
int tok__ids_push(struct tok__ids *ids, int32_t id);

/* ---- vocabulary ------------------------------------------------------------ */

#define TOK__FNV_OFFSET 0xcbf29ce484222325ull
#define TOK__FNV_PRIME 0x100000001b3ull

static inline uint64_t
tok__fnv(uint64_t h, const void *data, size_t n)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= TOK__FNV_PRIME;
	}
	return h;
}

/* A fresh tokenizer of `kind` with room for n pieces (types NORMAL,
 * scores 0, no table yet, every special id -1). NULL on ERR_NOMEM. */
struct tokenizer *tok__create(enum tok_kind kind, size_t n);

/* Set piece `id` to the n bytes at s (copied). 0 or ERR_NOMEM. */
int tok__set_piece(struct tokenizer *t, int id, const char *s, size_t n);

/* Build the lookup table over pieces 0..vocab_size-1. Duplicate pieces:
 * the first id keeps the string when `first_wins`, else the last. Empty
 * pieces are not entered. 0 or ERR_NOMEM. */
int tok__build_table(struct tokenizer *t, bool first_wins);

/* Id of the piece a|b whose FNV hash is h, -1 if none. */
int tok__lookup2(const struct tokenizer *t, uint64_t h, const char *a,
                 size_t la, const char *b, size_t lb);

/* Id of the piece equal to s[0..n), -1 if none. */
int tok__lookup(const struct tokenizer *t, const char *s, size_t n);

/* Collect the special-text table (spec) from the token types. */
int tok__build_specials(struct tokenizer *t);

/* Recompute t->policy from prefix/suffix and add_bos_mode. */
void tok__update_policy(struct tokenizer *t);

/* ---- merge heap ------------------------------------------------------------ */

/* A candidate merge of two adjacent symbols. Ordered by score (higher
 * first), then by left position (leftmost first): llama2.c's and
 * llama.cpp's SPM rule; BPE uses score = -rank. */
struct tok__pair {
	float score;
	int32_t left, right;      /* positions of the two symbols             */
	int32_t a, b;             /* kind-specific: ids or sizes when pushed   */
	int32_t c;                /* kind-specific: merged id or byte size     */
};

struct tok__heap {
	struct tok__pair *v;      /* caller-allocated, capacity fixed          */
	size_t n;
};

/* Push (room must exist: callers size v for 3 entries per symbol) and
 * pop the best pair (h->n > 0). */
void tok__heap_push(struct tok__heap *h, struct tok__pair p);
struct tok__pair tok__heap_pop(struct tok__heap *h);

/* ---- UTF-8 ---------------------------------------------------------------- */

/* Byte length of the UTF-8 sequence a lead byte announces, as llama.cpp's
 * unicode_len_utf8 (stray continuation bytes count as 1). */
static inline size_t
tok__utf8_len(unsigned char c)
{
	static const unsigned char lookup[16] = { 1, 1, 1, 1, 1, 1, 1, 1,
	                                          1, 1, 1, 1, 2, 2, 3, 4 };
	return lookup[c >> 4];
}

/* Decode one code point from s[0..n) (n > 0). Invalid or truncated
 * sequences give -1 and *adv = 1. */
int32_t tok__utf8_decode(const unsigned char *s, size_t n, size_t *adv);

/* Encode a code point (< 0x110000) into out (4 bytes); returns length. */
size_t tok__utf8_encode(uint32_t cp, char *out);

/* ---- per-kind parts ------------------------------------------------------ */

/* llama2c.c: encode one text exactly as llama2.c run.c (BOS inside the
 * merge sequence when bos). */
int tok__llama2c_encode(const struct tokenizer *t, const char *text,
                        size_t len, bool bos, struct tok__ids *out);
/* llama2c.c: run.c's decode(): *p and *n the text (pointing into the piece,
 * or at *byte for a byte piece). Always 0; id must be valid. */
int tok__llama2c_decode(const struct tokenizer *t, int prev_id, int id,
                        const char **p, size_t *n, char *byte);

/* spm.c: one raw-text fragment; `prefix_space` adds the dummy "▁". */
int tok__spm_encode(const struct tokenizer *t, const char *text, size_t len,
                    bool prefix_space, struct tok__ids *out);
/* spm.c: the id of byte b as a token (<0xNN>, else the one-byte piece),
 * -1 if neither exists. */
int tok__spm_byte_token(const struct tokenizer *t, unsigned char b);

/* bpe.c: GPT-2's byte map (bl_char, bl_byte) and the id of each byte's
 * character (byte_id); needs the lookup table. */
void tok__bpe_init_bytemap(struct tokenizer *t);
/* Enter the rule "a b" with `rank`; *added = 0 (nothing entered, not an
 * error) when a, b or a|b is not a piece. Needs the lookup table and
 * tok__bpe_alloc_merges(); 0, ERR_RANGE (table full). */
int tok__bpe_add_merge(struct tokenizer *t, const char *a, size_t la,
                       const char *b, size_t lb, int rank, int *added);
/* An empty merge table with room for n rules. 0 or ERR_NOMEM. */
int tok__bpe_alloc_merges(struct tokenizer *t, size_t n);
/* Pre-tokenizer by llama.cpp's tokenizer.ggml.pre name; sets split steps,
 * ignore_merges and *add_bos (the name's default). ERR_UNSUPPORTED for an
 * unknown name (message set). */
int tok__bpe_set_pre(struct tokenizer *t, const char *name, bool *add_bos);
/* Compile a regex split step; ERR_FORMAT with the PCRE2 message. */
int tok__bpe_add_split(struct tokenizer *t, const char *pattern, size_t len,
                       enum tok__split_behavior behavior, bool invert);
/* bpe.c: normalize, pre-tokenize and BPE one raw-text fragment. */
int tok__bpe_encode(const struct tokenizer *t, const char *text, size_t len,
                    struct tok__ids *out);
/* The text of a normal BPE token: bytes through the inverse byte map into
 * buf (at least len(piece) bytes); returns the byte count, or -1 when a
 * character is outside the map (then the raw piece is the text). */
int tok__bpe_unmap(const struct tokenizer *t, int id, char *buf);
/* Free the compiled regexes (tok_free calls it). */
void tok__bpe_release(struct tokenizer *t);

/* unigram.c: the lattice's piece table and unk score, once pieces and
 * uni_score are set. 0 or ERR_NOMEM. */
int tok__uni_build(struct tokenizer *t);
/* unigram.c: pre-tokenize (WhitespaceSplit, Metaspace) and segment one
 * raw-text fragment by Viterbi; `at_start`: the fragment begins the text
 * (Metaspace prepend_scheme "first"). */
int tok__uni_encode(const struct tokenizer *t, const char *text, size_t len,
                    bool at_start, struct tok__ids *out);
/* Free the unigram arrays (tok_free calls it). */
void tok__uni_release(struct tokenizer *t);

/* wordpiece.c: BERT uncased defaults (BertNormalizer all on, "##",
 * 100 characters). */
void tok__wp_defaults(struct tokenizer *t);
/* Rewrite llama.cpp's phantom-space vocabulary ("▁the", "s" for "##s")
 * into WordPiece form when it is in that form. 0 or ERR_NOMEM. */
int tok__wp_from_phantom(struct tokenizer *t);
/* wordpiece.c: normalize, split and WordPiece one raw-text fragment. */
int tok__wp_encode(const struct tokenizer *t, const char *text, size_t len,
                   struct tok__ids *out);

#endif

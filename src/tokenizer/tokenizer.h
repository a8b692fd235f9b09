/*
 * tokenizer.h — text <-> token ids.
 *
 * Kinds so far: TOK_LLAMA2C, the llama2.c `tokenizer.bin` format
 * (sentencepiece-style BPE over scored pieces with byte fallback), encoding
 * exactly as llama2.c run.c's encode() does.
 *
 * llama2.c tokenizer.bin layout (little-endian):
 *   1. int32 max_token_length
 *   2. vocab_size records: float32 score, int32 len, len bytes (no NUL)
 * vocab_size is not in the file: it comes from the model header. Ids:
 * 0 <unk>, 1 BOS, 2 EOS, 3..258 the byte pieces <0x00>..<0xFF>.
 */
#ifndef ATTNSCOPE_TOKENIZER_H
#define ATTNSCOPE_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum tok_kind { TOK_LLAMA2C, TOK_KIND_COUNT };

struct tokenizer;

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

/* Destructor; accepts NULL. */
void tok_free(struct tokenizer *t);

enum tok_kind tok_kind(const struct tokenizer *t);
int tok_vocab_size(const struct tokenizer *t);
int tok_bos(const struct tokenizer *t);   /* BOS id, -1 if none (llama2c: 1) */
int tok_eos(const struct tokenizer *t);   /* EOS id, -1 if none (llama2c: 2) */

/*
 * Encode `len` bytes of `text` (need not be NUL-terminated) into ids.
 * add_bos: prepend BOS. llama2.c semantics: a dummy-prefix space when text
 * is non-empty, UTF-8 code points looked up as pieces, bytes of unknown
 * code points as byte-fallback ids (byte + 3), then greedy merges by
 * highest score. Invalid UTF-8 is encoded byte by byte, never rejected.
 * Writes at most `cap` ids; *n_ids gets the count needed. Returns 0, or
 * ERR_RANGE when cap was too small (call again with *n_ids), ERR_NOMEM.
 * Thread-safe on a shared tokenizer.
 *
 * The ids equal run.c's encode(text, bos, 0) for any NUL-free text,
 * including its merge order: each step merges the adjacent pair (BOS
 * included) whose concatenation is a piece with the highest score above
 * -1e10, the leftmost one among equal scores. O(n log n) in len, so long
 * samples are fine. `len + 2` ids always suffice; ids may be NULL when
 * cap is 0. Where run.c has no defined behaviour this encoder chooses:
 * a NUL byte in text is encoded like any other byte (byte fallback
 * <0x00>); without a " " piece no dummy prefix is added; a byte-fallback
 * id beyond the vocabulary becomes 0 (<unk>); of duplicate pieces the
 * lowest id is used.
 */
int tok_encode(const struct tokenizer *t, const char *text, size_t len,
               bool add_bos, int32_t *ids, int cap, int *n_ids);

/* The raw piece of an id, NUL-terminated (llama2.c: "<0x0A>", " the",
 * "\n<s>\n"); NULL when id is out of range. Valid until tok_free(). */
const char *tok_piece(const struct tokenizer *t, int id);

/* Piece length in bytes (pieces may hold any bytes but NUL); 0 when id is
 * out of range. */
size_t tok_piece_len(const struct tokenizer *t, int id);

/*
 * The text a token contributes after `prev_id`, as llama2.c's decode():
 * the leading space of a piece is dropped right after BOS, and a byte piece
 * "<0xNN>" becomes that one byte. Writes a NUL-terminated string into buf
 * (at most size bytes); returns its length, or -1 if id is out of range.
 *
 * Like snprintf, the return value is the full length even when it did not
 * fit (then buf holds the first size - 1 bytes); buf may be NULL when size
 * is 0. The text may be the single byte 0 (piece "<0x00>"): use the
 * returned length, not strlen. Only the exact six-byte form "<0xNN>" (hex
 * digits in either case) is a byte piece; run.c's sscanf also accepts
 * malformed variants such as "<0x4>".
 */
int tok_decode(const struct tokenizer *t, int prev_id, int id, char *buf,
               size_t size);

#endif

/*
 * formats.h — readers for the container formats model files come in:
 * GGUF (v2, v3) and safetensors (single file or a sharded
 * model.safetensors.index.json). Both are untrusted input: every count,
 * offset and size read from a file is checked against the file before it
 * is used, and nothing here exits or prints.
 *
 * GGUF layout (little-endian), https://github.com/ggml-org/ggml docs/gguf.md:
 *   1. magic "GGUF", uint32 version (2 or 3)
 *   2. uint64 n_tensors, uint64 n_kv
 *   3. n_kv key/values: gguf string key (uint64 len + bytes), uint32 type,
 *      value (arrays: uint32 elem type, uint64 n, elements)
 *   4. n_tensors infos: string name, uint32 n_dims (1..4), n_dims x uint64
 *      ne (ne[0] is the innermost, contiguous dimension), uint32 ggml type,
 *      uint64 offset relative to the data section
 *   5. padding to general.alignment (default 32), then the data section
 * safetensors layout: uint64 header length N, N bytes of JSON
 *   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]}, ...,
 *    "__metadata__": {...}}, then the data; offsets relative to its start.
 *
 * Shapes are reported outermost first, as PyTorch and numpy do, for both
 * formats: a GGUF tensor with ne = [64, 512] has shape [512, 64].
 */
#ifndef ATTNSCOPE_FORMATS_H
#define ATTNSCOPE_FORMATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- tensor element types ---------------------------------------------- */

/* Values equal ggml's enum ggml_type where ggml has the type. safetensors
 * dtypes ggml lacks (U8, BOOL, U16, U32, U64, F8_E4M3, F8_E5M2, F8_E8M0,
 * C64) are reported with values above FMT_TYPE_MAX: fmt_type_name() gives
 * their dtype name and fmt_tensor_to_f32() refuses them. */
enum fmt_type {
	FMT_F32 = 0,
	FMT_F16 = 1,
	FMT_Q4_0 = 2,
	FMT_Q4_1 = 3,
	FMT_Q5_0 = 6,
	FMT_Q5_1 = 7,
	FMT_Q8_0 = 8,
	FMT_Q8_1 = 9,
	FMT_Q2_K = 10,
	FMT_Q3_K = 11,
	FMT_Q4_K = 12,
	FMT_Q5_K = 13,
	FMT_Q6_K = 14,
	FMT_Q8_K = 15,
	FMT_I8 = 24,
	FMT_I16 = 25,
	FMT_I32 = 26,
	FMT_I64 = 27,
	FMT_F64 = 28,
	FMT_BF16 = 30,
	FMT_TYPE_MAX = 64
};

/* "F32", "Q4_K", ...; "?" for an unknown value. */
const char *fmt_type_name(enum fmt_type t);

/* Can fmt_tensor_to_f32 convert this type? F32, F16, BF16, Q4_0, Q4_1,
 * Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K; not Q8_1, the
 * integer types or F64. */
bool fmt_type_supported(enum fmt_type t);

/* One tensor of an open file. Borrowed: valid until the file is closed. */
struct fmt_tensor {
	const char *name;
	enum fmt_type type;
	int ndim;               /* 1..4 (0: a safetensors scalar, n = 1)  */
	int64_t shape[4];       /* outermost first; a dim may be 0        */
	int64_t n;              /* number of elements                     */
	const void *data;       /* mapped bytes (nbytes long)             */
	size_t nbytes;
};

/*
 * Convert (dequantize) a tensor to float32: out receives t->n values in
 * C order. Quantized types decode exactly as ggml's dequantize_row_*
 * functions do (bit for bit). Returns 0, or ERR_UNSUPPORTED for a type it
 * cannot convert, or ERR_FORMAT if n or nbytes does not match the shape
 * (checked before anything is read; messages start "formats: tensor 'x'").
 * The data needs no alignment.
 */
int fmt_tensor_to_f32(const struct fmt_tensor *t, float *out);

/* ---- GGUF ----------------------------------------------------------------- */

enum gguf_type {
	GGUF_UINT8 = 0, GGUF_INT8 = 1, GGUF_UINT16 = 2, GGUF_INT16 = 3,
	GGUF_UINT32 = 4, GGUF_INT32 = 5, GGUF_FLOAT32 = 6, GGUF_BOOL = 7,
	GGUF_STRING = 8, GGUF_ARRAY = 9, GGUF_UINT64 = 10, GGUF_INT64 = 11,
	GGUF_FLOAT64 = 12, GGUF_TYPE_COUNT
};

struct gguf;

/*
 * Constructor: map and parse a GGUF file (header, every key/value, every
 * tensor info; tensor data must lie inside the file, aligned, without
 * overlap beyond what the types imply). Returns NULL with the code in *err
 * and a message naming the file and what is wrong ("gguf: 'x.gguf':
 * tensor 'blk.0.attn_q.weight' extends past the end of the file").
 * Codes: ERR_IO (open/map), ERR_FORMAT (malformed: bad magic, truncation,
 * counts or lengths beyond the file, duplicate or empty keys, duplicate
 * tensor names, keys or tensor names containing a NUL byte, bad
 * general.alignment, bad shape or offset, an unknown type >= 64),
 * ERR_UNSUPPORTED (versions other than 2 and 3, big-endian files, ggml
 * types this reader does not know, e.g. the IQ family), ERR_NOMEM.
 * Dimensions of 0 are accepted (as ggml does); arrays of arrays are
 * parsed (8 levels at most) but their elements cannot be read.
 */
struct gguf *gguf_open(const char *path, int *err);

/* Same from a memory buffer (not copied: must outlive the object); used by
 * the fuzz target and tests. `name` is used in messages. */
struct gguf *gguf_open_mem(const void *data, size_t size, const char *name, int *err);

/* Destructor; accepts NULL. */
void gguf_close(struct gguf *g);

int gguf_version(const struct gguf *g);

/* Key/values. Index-based access (file order; NULL / GGUF_TYPE_COUNT
 * out of range) and lookup by key (-1 when absent). */
int64_t gguf_n_kv(const struct gguf *g);
const char *gguf_key(const struct gguf *g, int64_t i);
enum gguf_type gguf_kv_type(const struct gguf *g, int64_t i);
int64_t gguf_find_key(const struct gguf *g, const char *key);

/* Typed getters by key. Return 0, ERR_NOTFOUND (no such key) or
 * ERR_FORMAT (the value has another type; integers convert among
 * themselves and to int64 when they fit, bool reads as 0/1, floats of
 * either width read as double, integers read as double too; bool does not
 * read as a float). Every error sets a message. */
int gguf_get_int(const struct gguf *g, const char *key, int64_t *v);
int gguf_get_float(const struct gguf *g, const char *key, double *v);
int gguf_get_bool(const struct gguf *g, const char *key, bool *v);
/* String: not NUL-terminated in the file; *s points at len bytes. */
int gguf_get_str(const struct gguf *g, const char *key, const char **s, size_t *len);

/* Arrays: element type and count. */
int gguf_get_arr(const struct gguf *g, const char *key, enum gguf_type *elem,
                 uint64_t *n);
/* Element i of a string array. ERR_RANGE when i >= n (all array element
 * getters), ERR_FORMAT for another element type. */
int gguf_get_arr_str(const struct gguf *g, const char *key, uint64_t i,
                     const char **s, size_t *len);
/* Numeric array elements converted: to int64 (integer/bool elements) or
 * to double (float or integer elements). */
int gguf_get_arr_int(const struct gguf *g, const char *key, uint64_t i, int64_t *v);
int gguf_get_arr_float(const struct gguf *g, const char *key, uint64_t i, double *v);

/* Tensors. */
int64_t gguf_n_tensors(const struct gguf *g);
const struct fmt_tensor *gguf_tensor(const struct gguf *g, int64_t i);
const struct fmt_tensor *gguf_find_tensor(const struct gguf *g, const char *name);

/* ---- safetensors ---------------------------------------------------------- */

struct safetensors;

/*
 * Constructor: open a .safetensors file, or a sharded checkpoint through
 * its "*.safetensors.index.json" (weight_map: tensor name -> shard file,
 * shards resolved relative to the index's directory). dtypes F32, F16,
 * BF16 (others are listed but fmt_tensor_to_f32 refuses them). Offsets
 * must be in order, non-overlapping and inside the file; the header length
 * is bounded (100 MB). NULL with *err and a message on failure
 * ("safetensors: 'path': ..."): ERR_IO, ERR_FORMAT, ERR_UNSUPPORTED (an
 * unknown dtype, more than 4 dimensions), ERR_NOMEM. A path ending in
 * ".index.json" is a sharded checkpoint: shard names must be plain file
 * names (no '/', '\\' or ".."), every weight_map entry must exist in its
 * shard, and exactly the weight_map entries are exposed. Tensors are
 * listed sorted by name.
 */
struct safetensors *st_open(const char *path, int *err);
struct safetensors *st_open_mem(const void *data, size_t size, const char *name, int *err);

/* Destructor; accepts NULL. */
void st_close(struct safetensors *s);

int64_t st_n_tensors(const struct safetensors *s);
const struct fmt_tensor *st_tensor(const struct safetensors *s, int64_t i);
const struct fmt_tensor *st_find_tensor(const struct safetensors *s, const char *name);

/* The "__metadata__" string for a key, NULL if absent (valid until close).
 * Sharded: the index's "metadata" (string values) first, then each shard's
 * "__metadata__" in the order the shards were opened. */
const char *st_metadata(const struct safetensors *s, const char *key);

#endif

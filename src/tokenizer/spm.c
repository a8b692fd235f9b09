/*
 * spm.c — SentencePiece BPE as llama.cpp's llm_tokenizer_spm runs it on a
 * GGUF "llama" vocabulary: spaces escaped to U+2581, the text split into
 * UTF-8 characters, then, while possible, the adjacent pair whose
 * concatenation is a piece with the highest score merges (leftmost among
 * equal scores); a final symbol that is not a piece falls back to its
 * bytes' <0xNN> pieces.
 *
 * The merge loop is llama.cpp's: symbols in a linked list, candidate
 * bigrams in a heap, stale entries skipped when popped (their recorded
 * byte size no longer matches). O(n log n) in the text length.
 */
#include "tokenizer/tok_internal.h"
#include "util/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPACE_ESC "\xe2\x96\x81"     /* U+2581 LOWER ONE EIGHTH BLOCK */

int
tok__spm_byte_token(const struct tokenizer *t, unsigned char b)
{
	char buf[8];
	snprintf(buf, sizeof buf, "<0x%02X>", b);
	int id = tok__lookup(t, buf, 6);
	if (id < 0)  /* llama.cpp falls back to the byte as a one-byte piece */
		id = tok__lookup(t, (const char *)&b, 1);
	return id;
}

struct sym {
	int32_t start;   /* byte offset in the escaped text */
	int32_t n;       /* byte length, 0 once merged into its left neighbour */
	int32_t prev, next;
};

/* Push the bigram (left, right) if its text is a piece. */
static void
try_bigram(const struct tokenizer *t, const char *s, const struct sym *sym,
           struct tok__heap *h, int32_t left, int32_t right)
{
	if (left < 0 || right < 0)
		return;
	size_t la = (size_t)sym[left].n, lb = (size_t)sym[right].n;
	if (la + lb > t->max_piece_len)
		return;
	const char *a = s + sym[left].start, *b = s + sym[right].start;
	uint64_t hash = tok__fnv(tok__fnv(TOK__FNV_OFFSET, a, la), b, lb);
	int id = tok__lookup2(t, hash, a, la, b, lb);
	if (id < 0)
		return;
	/* a = size of the bigram in bytes: the stale test of llama.cpp */
	tok__heap_push(h, (struct tok__pair){ t->score[id], left, right,
	                                      (int32_t)(la + lb), 0, id });
}

int
tok__spm_encode(const struct tokenizer *t, const char *text, size_t len,
                bool prefix_space, struct tok__ids *out)
{
	char *s = NULL;
	struct sym *sym = NULL;
	struct tok__heap heap = { NULL, 0 };
	size_t n_sp = 0, slen, n_sym = 0, heap_bytes;
	int rc = 0;

	/* escape: every ' ' becomes "▁" (3 bytes), plus the dummy prefix */
	for (size_t i = 0; i < len; i++)
		n_sp += text[i] == ' ';
	slen = len + 2 * n_sp + (prefix_space ? 3 : 0);
	if (slen == 0)
		return 0;
	if (slen > (size_t)INT32_MAX / 4 ||
	    ckd_mul3_size(&heap_bytes, 3, slen, sizeof *heap.v))
		return err_set(ERR_RANGE, "tok_encode: text of %zu bytes is too long",
		               len);
	s = malloc(slen);
	sym = malloc(slen * sizeof *sym);
	heap.v = malloc(heap_bytes);
	if (!s || !sym || !heap.v) {
		rc = err_set(ERR_NOMEM, "tok_encode: out of memory");
		goto out;
	}
	{
		size_t k = 0;
		if (prefix_space) {
			memcpy(s, SPACE_ESC, 3);
			k = 3;
		}
		for (size_t i = 0; i < len; i++) {
			if (text[i] == ' ') {
				memcpy(s + k, SPACE_ESC, 3);
				k += 3;
			} else {
				s[k++] = text[i];
			}
		}
	}

	/* symbols: UTF-8 characters by their lead byte, as llama.cpp */
	for (size_t off = 0; off < slen;) {
		size_t n = tok__utf8_len((unsigned char)s[off]);
		if (n > slen - off)
			n = slen - off;
		sym[n_sym].start = (int32_t)off;
		sym[n_sym].n = (int32_t)n;
		sym[n_sym].prev = (int32_t)n_sym - 1;
		off += n;
		sym[n_sym].next = off == slen ? -1 : (int32_t)n_sym + 1;
		n_sym++;
	}
	for (size_t i = 1; i < n_sym; i++)
		try_bigram(t, s, sym, &heap, (int32_t)i - 1, (int32_t)i);

	while (heap.n > 0) {
		struct tok__pair p = tok__heap_pop(&heap);
		struct sym *l = &sym[p.left], *r = &sym[p.right];
		/* one of them already merged elsewhere */
		if (l->n == 0 || r->n == 0 || l->n + r->n != p.a)
			continue;
		l->n += r->n;
		r->n = 0;
		l->next = r->next;
		if (r->next >= 0)
			sym[r->next].prev = p.left;
		try_bigram(t, s, sym, &heap, l->prev, p.left);
		try_bigram(t, s, sym, &heap, p.left, l->next);
	}

	/* resegment: a merged symbol is always a piece; a lone character may
	 * not be, and then its bytes are emitted */
	for (int32_t i = n_sym > 0 ? 0 : -1; i >= 0 && !rc; i = sym[i].next) {
		int id = tok__lookup(t, s + sym[i].start, (size_t)sym[i].n);
		if (id >= 0) {
			rc = tok__ids_push(out, id);
			continue;
		}
		for (int32_t j = 0; j < sym[i].n && !rc; j++) {
			int b = t->byte_id[(unsigned char)s[sym[i].start + j]];
			rc = tok__ids_push(out, b >= 0 ? b : t->unk >= 0 ? t->unk : 0);
		}
	}
out:
	free(s);
	free(sym);
	free(heap.v);
	return rc;
}

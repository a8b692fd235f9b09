/*
 * demo.h — the built-in model, tokenizer and samples behind `attnscope demo`.
 *
 * The model is a 2-layer Llama (llama2.c format, unshared classifier) whose
 * weights are constructed, not trained, so that named heads have known
 * roles (see demo.c for the construction):
 *   layer 0 head 0  previous-token head  (attends to position i-1)
 *   layer 0 head 1  first-token sink     (attends to BOS)
 *   layer 0 head 2  self head            (attends to position i)
 *   layer 0 head 3  broad head           (uniform over the prefix)
 *   layer 1 head 0  induction head       (composes with L0H0: attends to the
 *                   token after an earlier occurrence of the current token,
 *                   to BOS when there is none, and predicts that token)
 *   layer 1 heads 1-3  seeded random query/key weights (no designed role)
 * The tokenizer is character level: 32 lower-case characters, punctuation
 * and space, with llama2.c byte fallback for everything else.
 */
#ifndef ATTNSCOPE_DEMO_H
#define ATTNSCOPE_DEMO_H

#include <stddef.h>

/* Roles by construction, for the README and the tests. */
#define DEMO_PREV_LAYER 0
#define DEMO_PREV_HEAD 0
#define DEMO_SINK_LAYER 0
#define DEMO_SINK_HEAD 1
#define DEMO_SELF_LAYER 0
#define DEMO_SELF_HEAD 2
#define DEMO_BROAD_LAYER 0
#define DEMO_BROAD_HEAD 3
#define DEMO_INDUCTION_LAYER 1
#define DEMO_INDUCTION_HEAD 0

/* Write the demo model (llama2.c .bin) and its tokenizer.bin. */
int demo_write_model(const char *model_path, const char *tokenizer_path);

/* The built-in samples (one per line), embedded from assets/demo/samples.txt. */
const char *demo_samples(void);

#endif

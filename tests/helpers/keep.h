/* keep.h — a capture sink for tests that keeps a copy of every tensor it
 * is offered, by hook point and layer. */
#ifndef ATTNSCOPE_TESTS_KEEP_H
#define ATTNSCOPE_TESTS_KEEP_H

#include "capture/capture.h"

#define KEEP_MAX_LAYER 16

struct keep {
	struct cap_sink sink;
	float *t[CAP_POINT_COUNT][KEEP_MAX_LAYER + 1]; /* [point][layer + 1] */
	int shape[CAP_POINT_COUNT][KEEP_MAX_LAYER + 1][4];
};

/* A ready sink: struct keep k; keep_init(&k); model_forward(.., &k.sink, ..) */
void keep_init(struct keep *k);
void keep_free(struct keep *k);
/* The copy of (point, layer), layer -1 for global points; NULL if none. */
const float *keep_get(const struct keep *k, enum cap_point p, int layer);

/* Largest |a - b| over n values (NaN counts as infinite). */
double max_abs_diff(const float *a, const float *b, size_t n);

#define EXPECT_CLOSE(what, a, b, n, tol)                                      \
	do {                                                                      \
		const float *a_ = (a), *b_ = (b);                                     \
		if (!a_ || !b_)                                                       \
			fail_msg("%s: missing data", what);                               \
		double d_ = max_abs_diff(a_, b_, n);                                  \
		if (!(d_ <= (tol)))                                                   \
			fail_msg("%s: max |diff| %.3g > %.1g (first values %.7g vs %.7g)", \
			         what, d_, (double)(tol), (double)a_[0], (double)b_[0]);  \
	} while (0)

#endif

/* keep.c — see keep.h. */
#include "keep.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static bool
keep_want(struct cap_sink *s, enum cap_point p, int layer)
{
	(void)s;
	(void)p;
	return layer < KEEP_MAX_LAYER;
}

static int
keep_emit(struct cap_sink *s, const struct cap_tensor *t)
{
	struct keep *k = cap_container_of(s, struct keep, sink);
	size_t n = 1;
	for (int i = 0; i < t->ndim; i++)
		n *= (size_t)t->shape[i];
	float *c = malloc(n * sizeof *c);
	if (!c)
		return -1;
	memcpy(c, t->data, n * sizeof *c);
	free(k->t[t->point][t->layer + 1]);
	k->t[t->point][t->layer + 1] = c;
	memcpy(k->shape[t->point][t->layer + 1], t->shape, sizeof t->shape);
	return 0;
}

static const struct cap_sink_ops keep_ops = { .want = keep_want, .emit = keep_emit };

void
keep_init(struct keep *k)
{
	memset(k, 0, sizeof *k);
	k->sink.ops = &keep_ops;
}

void
keep_free(struct keep *k)
{
	for (int p = 0; p < CAP_POINT_COUNT; p++)
		for (int l = 0; l <= KEEP_MAX_LAYER; l++) {
			free(k->t[p][l]);
			k->t[p][l] = NULL;
		}
}

const float *
keep_get(const struct keep *k, enum cap_point p, int layer)
{
	return layer + 1 >= 0 && layer < KEEP_MAX_LAYER ? k->t[p][layer + 1] : NULL;
}

double
max_abs_diff(const float *a, const float *b, size_t n)
{
	double m = 0;
	for (size_t i = 0; i < n; i++) {
		double d = fabs((double)a[i] - b[i]);
		if (!(d <= m))
			m = isnan(d) ? INFINITY : d;
	}
	return m;
}

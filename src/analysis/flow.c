/*
 * flow.c — attention rollout and attention flow (Abnar & Zuidema 2020),
 * and the max-flow solver behind the flow: Dinic's algorithm on a graph
 * with real capacities (definitions in analysis.h).
 */
#include "analysis.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

/* Residual capacities at or below this count as saturated. */
#define FLOW_EPS 1e-12

/* ==== rollout =========================================================== */

void
ana_graph_weights(const float *maps, int n_head, int n, double *W)
{
	const size_t nn = (size_t)n * n;

	for (size_t k = 0; k < nn; k++) {
		double s = 0;
		for (int h = 0; h < n_head; h++)
			s += maps[h * nn + k];
		W[k] = s / n_head;
	}
	/* + I, then rows to sum 1 (attention_graph_util.py's residual step) */
	for (int i = 0; i < n; i++) {
		double *row = W + (size_t)i * n; /* (n) */
		row[i] += 1;
		double s = 0;
		for (int j = 0; j < n; j++)
			s += row[j];
		for (int j = 0; j < n; j++)
			row[j] /= s;
	}
}

void
ana_rollout(const double *W, int n_layer, int n, double *R)
{
	const size_t nn = (size_t)n * n;

	if (n_layer < 1)
		return;
	memcpy(R, W, nn * sizeof *R);
	for (int l = 1; l < n_layer; l++) {
		const double *Wl = W + l * nn, *Rp = R + (l - 1) * nn; /* (n, n) */
		double *Rl = R + l * nn;                               /* (n, n) */
		for (int i = 0; i < n; i++) {
			double *out = Rl + (size_t)i * n;
			for (int j = 0; j < n; j++)
				out[j] = 0;
			for (int k = 0; k < n; k++) {
				double w = Wl[(size_t)i * n + k];
				if (w == 0)
					continue; /* causal zeros */
				const double *in = Rp + (size_t)k * n;
				for (int j = 0; j < n; j++)
					out[j] += w * in[j];
			}
		}
	}
}

/* ==== max flow (Dinic) ================================================== */

/*
 * Edges are stored in pairs: edge e and its reverse e ^ 1 (capacity 0).
 * After the first run the adjacency is frozen into CSR order.
 */
struct ana_maxflow {
	int n;
	int n_edges, cap_edges;
	int *from, *to;        /* [cap_edges]                          */
	double *cap0;          /* [cap_edges] capacity as added        */
	double *res;           /* [cap_edges] residual capacity        */
	int *adj_start;        /* [n + 1] CSR offsets into adj         */
	int *adj;              /* [n_edges] edge ids by source node    */
	int *level, *it, *queue, *stack; /* [n] work arrays            */
	int *touched;          /* [n_edges] edges whose residual moved */
	int n_touched;
	unsigned char *seen;   /* [n_edges] marks for touched          */
	bool frozen;
};

struct ana_maxflow *
ana_maxflow_create(int n_nodes)
{
	if (n_nodes < 2)
		return NULL;
	struct ana_maxflow *g = calloc(1, sizeof *g);
	if (!g)
		return NULL;
	g->n = n_nodes;
	g->level = malloc((size_t)n_nodes * sizeof *g->level);
	g->it = malloc((size_t)n_nodes * sizeof *g->it);
	g->queue = malloc((size_t)n_nodes * sizeof *g->queue);
	g->stack = malloc((size_t)n_nodes * sizeof *g->stack);
	g->adj_start = calloc((size_t)n_nodes + 1, sizeof *g->adj_start);
	if (!g->level || !g->it || !g->queue || !g->stack || !g->adj_start) {
		ana_maxflow_free(g);
		return NULL;
	}
	return g;
}

void
ana_maxflow_free(struct ana_maxflow *g)
{
	if (!g)
		return;
	free(g->from);
	free(g->to);
	free(g->cap0);
	free(g->res);
	free(g->adj_start);
	free(g->adj);
	free(g->level);
	free(g->it);
	free(g->queue);
	free(g->stack);
	free(g->touched);
	free(g->seen);
	free(g);
}

int
ana_maxflow_add_edge(struct ana_maxflow *g, int from, int to, double cap)
{
	if (!g || from < 0 || to < 0 || from >= g->n || to >= g->n || !(cap >= 0) ||
	    isinf(cap) || g->frozen)
		return err_set(ERR_ARG, "max flow: bad edge %d -> %d (capacity %g)", from, to, cap);
	if (g->n_edges + 2 > g->cap_edges) {
		if (g->cap_edges > INT32_MAX / 4)
			return err_set(ERR_NOMEM, "max flow: too many edges");
		int cap_e = g->cap_edges ? 2 * g->cap_edges : 64;
		int *f = realloc(g->from, (size_t)cap_e * sizeof *f);
		if (f)
			g->from = f;
		int *t = realloc(g->to, (size_t)cap_e * sizeof *t);
		if (t)
			g->to = t;
		double *c = realloc(g->cap0, (size_t)cap_e * sizeof *c);
		if (c)
			g->cap0 = c;
		if (!f || !t || !c)
			return err_set(ERR_NOMEM, "max flow: out of memory");
		g->cap_edges = cap_e;
	}
	int e = g->n_edges;
	g->from[e] = from;
	g->to[e] = to;
	g->cap0[e] = cap;
	g->from[e + 1] = to;
	g->to[e + 1] = from;
	g->cap0[e + 1] = 0;
	g->n_edges += 2;
	return 0;
}

/* Build the CSR adjacency and the residual arrays (once). */
static int
freeze(struct ana_maxflow *g)
{
	if (g->frozen)
		return 0;
	size_t m = (size_t)g->n_edges;
	g->adj = malloc((m ? m : 1) * sizeof *g->adj);
	g->res = malloc((m ? m : 1) * sizeof *g->res);
	g->touched = malloc((m ? m : 1) * sizeof *g->touched);
	g->seen = calloc(m ? m : 1, 1);
	if (!g->adj || !g->res || !g->touched || !g->seen)
		return err_set(ERR_NOMEM, "max flow: out of memory");
	for (int v = 0; v <= g->n; v++)
		g->adj_start[v] = 0;
	for (size_t e = 0; e < m; e++)
		g->adj_start[g->from[e] + 1]++;
	for (int v = 0; v < g->n; v++)
		g->adj_start[v + 1] += g->adj_start[v];
	int *fill = g->it; /* borrowed as a cursor */
	for (int v = 0; v < g->n; v++)
		fill[v] = g->adj_start[v];
	for (size_t e = 0; e < m; e++)
		g->adj[fill[g->from[e]]++] = (int)e;
	memcpy(g->res, g->cap0, m * sizeof *g->res);
	g->frozen = true;
	return 0;
}

static inline void
touch(struct ana_maxflow *g, int e)
{
	if (!g->seen[e]) {
		g->seen[e] = 1;
		g->touched[g->n_touched++] = e;
	}
}

/* Put back the residual capacities the last run changed. */
static void
restore(struct ana_maxflow *g)
{
	for (int k = 0; k < g->n_touched; k++) {
		int e = g->touched[k];
		g->res[e] = g->cap0[e];
		g->seen[e] = 0;
	}
	g->n_touched = 0;
}

/* BFS levels from s over residual edges; true if t is reached. Only nodes
 * it reaches get a level (others -1). */
static bool
bfs(struct ana_maxflow *g, int s, int t, int *visited, int *n_visited)
{
	int head = 0, tail = 0;
	g->level[s] = 0;
	g->queue[tail++] = s;
	visited[(*n_visited)++] = s;
	while (head < tail) {
		int u = g->queue[head++];
		for (int k = g->adj_start[u]; k < g->adj_start[u + 1]; k++) {
			int e = g->adj[k], v = g->to[e];
			if (g->res[e] > FLOW_EPS && g->level[v] < 0) {
				g->level[v] = g->level[u] + 1;
				g->queue[tail++] = v;
				visited[(*n_visited)++] = v;
			}
		}
	}
	return g->level[t] >= 0;
}

/* One blocking flow in the level graph (iterative DFS, current arcs). */
static double
blocking_flow(struct ana_maxflow *g, int s, int t)
{
	double total = 0;
	int depth = 0, u = s;
	int *path = g->stack; /* edges of the current path */

	for (;;) {
		if (u == t) {
			double f = INFINITY;
			for (int k = 0; k < depth; k++)
				f = g->res[path[k]] < f ? g->res[path[k]] : f;
			int cut = -1;
			for (int k = 0; k < depth; k++) {
				int e = path[k];
				touch(g, e);
				touch(g, e ^ 1);
				g->res[e] -= f;
				g->res[e ^ 1] += f;
				if (cut < 0 && g->res[e] <= FLOW_EPS)
					cut = k;
			}
			total += f;
			/* retreat to the tail of the first saturated edge */
			depth = cut < 0 ? 0 : cut;
			u = depth ? g->to[path[depth - 1]] : s;
			continue;
		}
		bool moved = false;
		for (; g->it[u] < g->adj_start[u + 1]; g->it[u]++) {
			int e = g->adj[g->it[u]], v = g->to[e];
			if (g->res[e] > FLOW_EPS && g->level[v] == g->level[u] + 1) {
				path[depth++] = e;
				u = v;
				moved = true;
				break;
			}
		}
		if (moved)
			continue;
		/* dead end: block u and step back */
		g->level[u] = -1;
		if (u == s)
			break;
		int e = path[--depth];
		u = g->from[e];
		g->it[u]++;
	}
	return total;
}

/* Max flow s -> t, restoring the capacities afterwards. `visited` has
 * room for n entries; every level is -1 on entry and on return. */
static double
dinic(struct ana_maxflow *g, int s, int t, int *visited)
{
	double flow = 0;
	for (;;) {
		int nv = 0;
		bool reached = bfs(g, s, t, visited, &nv);
		if (reached) {
			for (int k = 0; k < nv; k++)
				g->it[visited[k]] = g->adj_start[visited[k]];
			flow += blocking_flow(g, s, t);
		}
		for (int k = 0; k < nv; k++)
			g->level[visited[k]] = -1;
		if (!reached)
			break;
	}
	restore(g);
	return flow;
}

double
ana_maxflow_run(struct ana_maxflow *g, int s, int t)
{
	if (!g || s < 0 || t < 0 || s >= g->n || t >= g->n || s == t)
		return NAN;
	if (freeze(g) != 0)
		return NAN;
	int *visited = malloc((size_t)g->n * sizeof *visited);
	if (!visited)
		return NAN;
	for (int v = 0; v < g->n; v++)
		g->level[v] = -1;
	double f = dinic(g, s, t, visited);
	free(visited);
	return f;
}

/* ==== attention flow ==================================================== */

/*
 * Dinic's algorithm specialised to the layered attention graph, on dense
 * matrices. Node (m, p) is layer m (0 = input tokens), position p; the
 * edge (m+1, p) -> (m, q) has capacity W_m[p][q] and flow F_m[p][q]. For a
 * source s = (l+1, i) and a sink t = (0, j), flow can only use:
 *   - layers 1..l, and at layer l+1 only s, at layer 0 only t;
 *   - in a causal graph (W_m[p][q] = 0 for q > p), positions j..i: a node
 *     left of j cannot reach t, one right of i cannot be reached from s.
 * So every scan runs over the window [lo, hi] of positions, contiguous in
 * memory, instead of whole adjacency lists.
 */
struct lflow {
	int n;                  /* tokens                                   */
	bool causal;
	const double *W;        /* (L, n, n) capacities                     */
	double *F;              /* (L, n, n) flows; zero between runs       */
	int *level;             /* ((L+1) * n) BFS level, -1 = none         */
	int *arc;               /* ((L+1) * n) current arc of the DFS       */
	int *queue;             /* ((L+1) * n) BFS queue, then visited list */
	int *path;              /* (L + 2) nodes of the DFS path            */
	size_t *touched;        /* flow entries changed in this run         */
	size_t n_touched, cap_touched;
	/* the current run */
	int s, t, top, lo, hi;  /* top = l + 1, the source's layer          */
};

/* Residual arcs of node (m, p): down to (m-1, q) for q in [*d0, *d1],
 * up to (m+1, q) for q in [*u0, *u1] (empty ranges have d0 > d1). */
static inline void
arcs_of(const struct lflow *g, int m, int p, int *d0, int *d1, int *u0, int *u1)
{
	*d0 = 1;
	*d1 = 0;
	*u0 = 1;
	*u1 = 0;
	if (m >= 1) {
		if (m == 1) { /* layer 0: only the sink */
			*d0 = *d1 = g->t;
		} else {
			*d0 = g->lo;
			*d1 = g->causal && p < g->hi ? p : g->hi;
		}
	}
	if (m >= 1 && m + 1 < g->top) { /* never back up to the source layer */
		*u0 = g->causal && p > g->lo ? p : g->lo;
		*u1 = g->hi;
	}
}

/* residual capacity of (m, p) -> (m-1, q) and of (m, p) -> (m+1, q) */
static inline double
res_down(const struct lflow *g, int m, int p, int q)
{
	size_t k = ((size_t)(m - 1) * g->n + p) * g->n + q;
	return g->W[k] - g->F[k];
}

static inline double
res_up(const struct lflow *g, int m, int p, int q)
{
	return g->F[((size_t)m * g->n + q) * g->n + p];
}

static bool
lflow_bfs(struct lflow *g, int *n_visited)
{
	const int n = g->n, t = g->t;
	int head = 0, tail = 0;
	g->level[g->s] = 0;
	g->queue[tail++] = g->s;
	while (head < tail) {
		int u = g->queue[head++], m = u / n, p = u % n, lv = g->level[u];
		if (g->level[t] >= 0 && lv >= g->level[t])
			break; /* nodes this deep cannot lie on a shortest path */
		int d0, d1, u0, u1;
		arcs_of(g, m, p, &d0, &d1, &u0, &u1);
		for (int q = d0; q <= d1; q++) {
			int v = (m - 1) * n + q;
			if (g->level[v] < 0 && res_down(g, m, p, q) > FLOW_EPS) {
				g->level[v] = lv + 1;
				g->queue[tail++] = v;
			}
		}
		for (int q = u0; q <= u1; q++) {
			int v = (m + 1) * n + q;
			if (g->level[v] < 0 && res_up(g, m, p, q) > FLOW_EPS) {
				g->level[v] = lv + 1;
				g->queue[tail++] = v;
			}
		}
	}
	*n_visited = tail; /* queue[0..tail) are the nodes with a level */
	return g->level[t] >= 0;
}

static int
lflow_touch(struct lflow *g, size_t k)
{
	if (g->n_touched == g->cap_touched) {
		size_t cap = g->cap_touched ? 2 * g->cap_touched : 1024;
		size_t *p = realloc(g->touched, cap * sizeof *p);
		if (!p)
			return ERR_NOMEM;
		g->touched = p;
		g->cap_touched = cap;
	}
	g->touched[g->n_touched++] = k;
	return 0;
}

/* One blocking flow; *flow grows by what it pushes. */
static int
lflow_block(struct lflow *g, double *flow)
{
	const int n = g->n;
	int depth = 0, u = g->s;
	g->path[0] = u;

	for (;;) {
		if (u == g->t) {
			double f = INFINITY;
			for (int k = 0; k < depth; k++) {
				int a = g->path[k], b = g->path[k + 1];
				int m = a / n, p = a % n, q = b % n;
				double r = b / n < m ? res_down(g, m, p, q) : res_up(g, m, p, q);
				f = r < f ? r : f;
			}
			int cut = -1;
			for (int k = 0; k < depth; k++) {
				int a = g->path[k], b = g->path[k + 1];
				int m = a / n, p = a % n, q = b % n;
				size_t idx;
				if (b / n < m) { /* down: more flow on (m, p) -> (m-1, q) */
					idx = ((size_t)(m - 1) * n + p) * n + q;
					g->F[idx] += f;
					if (cut < 0 && g->W[idx] - g->F[idx] <= FLOW_EPS)
						cut = k;
				} else {         /* up: cancel flow on (m+1, q) -> (m, p) */
					idx = ((size_t)m * n + q) * n + p;
					g->F[idx] -= f;
					if (cut < 0 && g->F[idx] <= FLOW_EPS)
						cut = k;
				}
				if (lflow_touch(g, idx))
					return err_set(ERR_NOMEM, "attention flow: out of memory");
			}
			*flow += f;
			depth = cut < 0 ? 0 : cut; /* back to the first saturated arc */
			u = g->path[depth];
			continue;
		}
		int m = u / n, p = u % n, want = g->level[u] + 1;
		int d0, d1, u0, u1;
		arcs_of(g, m, p, &d0, &d1, &u0, &u1);
		int nd = d1 >= d0 ? d1 - d0 + 1 : 0, nu = u1 >= u0 ? u1 - u0 + 1 : 0;
		int v = -1;
		for (; g->arc[u] < nd + nu; g->arc[u]++) {
			int a = g->arc[u];
			if (a < nd) {
				int q = d0 + a, w = (m - 1) * n + q;
				if (g->level[w] == want && res_down(g, m, p, q) > FLOW_EPS) {
					v = w;
					break;
				}
			} else {
				int q = u0 + a - nd, w = (m + 1) * n + q;
				if (g->level[w] == want && res_up(g, m, p, q) > FLOW_EPS) {
					v = w;
					break;
				}
			}
		}
		if (v >= 0) {
			g->path[++depth] = v;
			u = v;
			continue;
		}
		g->level[u] = -1; /* dead end */
		if (depth == 0)
			return 0;
		u = g->path[--depth];
		g->arc[u]++;
	}
}

/* Max flow from (top, i) to (0, j). */
static int
lflow_run(struct lflow *g, int top, int i, int j, double *flow)
{
	const int n = g->n;
	int rc = 0;
	*flow = 0;
	g->top = top;
	g->s = top * n + i;
	g->t = j;
	g->lo = g->causal ? j : 0;
	g->hi = g->causal ? i : n - 1;
	for (int phase = 0;; phase++) {
		int nv = 0;
		bool reached;
		if (phase == 0) {
			/* with no flow yet every path has one arc per layer: the
			 * levels are known without a search */
			g->level[g->s] = 0;
			g->queue[nv++] = g->s;
			for (int m = top - 1; m >= 1; m--)
				for (int p = g->lo; p <= g->hi; p++) {
					g->level[m * n + p] = top - m;
					g->queue[nv++] = m * n + p;
				}
			g->level[g->t] = top;
			g->queue[nv++] = g->t;
			reached = true;
		} else {
			reached = lflow_bfs(g, &nv);
		}
		if (reached) {
			for (int k = 0; k < nv; k++)
				g->arc[g->queue[k]] = 0;
			rc = lflow_block(g, flow);
		}
		for (int k = 0; k < nv; k++)
			g->level[g->queue[k]] = -1;
		g->level[g->t] = -1;
		if (!reached || rc)
			break;
		/* done when the sink's inflow or the source's outflow is used up */
		double in = 0, out = 0;
		for (int p = g->lo; p <= g->hi; p++)
			in += res_down(g, 1, p, j);
		int d0, d1, u0, u1;
		arcs_of(g, top, i, &d0, &d1, &u0, &u1);
		for (int q = d0; q <= d1; q++)
			out += res_down(g, top, i, q);
		if (in <= FLOW_EPS || out <= FLOW_EPS)
			break;
	}
	for (size_t k = 0; k < g->n_touched; k++)
		g->F[g->touched[k]] = 0;
	g->n_touched = 0;
	return rc;
}

int
ana_flow(const double *W, int n_layer, int n, double *F)
{
	const size_t nn = (size_t)n * n;
	const int N = (n_layer + 1) * n;
	int rc = 0;

	if (n_layer < 1 || n < 1)
		return 0;
	struct lflow g = { .n = n, .W = W, .causal = true };
	for (int l = 0; l < n_layer && g.causal; l++)
		for (int p = 0; p < n && g.causal; p++)
			for (int q = p + 1; q < n; q++)
				if (W[l * nn + (size_t)p * n + q] > 0) {
					g.causal = false;
					break;
				}
	g.F = calloc((size_t)n_layer * nn, sizeof *g.F);
	g.level = malloc((size_t)N * sizeof *g.level);
	g.arc = malloc((size_t)N * sizeof *g.arc);
	g.queue = malloc((size_t)N * sizeof *g.queue);
	g.path = malloc((size_t)(n_layer + 2) * 2 * (size_t)n * sizeof *g.path);
	if (!g.F || !g.level || !g.arc || !g.queue || !g.path) {
		rc = err_set(ERR_NOMEM, "attention flow: out of memory (%d layers, %d tokens)",
		             n_layer, n);
		goto out;
	}
	for (int v = 0; v < N; v++)
		g.level[v] = -1;
	for (int l = 0; l < n_layer && !rc; l++)
		for (int i = 0; i < n && !rc; i++) {
			double *row = F + l * nn + (size_t)i * n; /* (n) */
			double total = 0;
			for (int j = 0; j < n && !rc; j++) {
				row[j] = 0;
				if (g.causal && j > i)
					continue; /* unreachable */
				rc = lflow_run(&g, l + 1, i, j, &row[j]);
				total += row[j];
			}
			for (int j = 0; j < n && total > 0; j++)
				row[j] /= total;
		}
out:
	free(g.F);
	free(g.level);
	free(g.arc);
	free(g.queue);
	free(g.path);
	free(g.touched);
	return rc;
}

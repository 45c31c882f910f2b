/* graph.c - tensors as graph nodes, inputs and views, and reverse-mode autodiff.
 *
 * An op's builder (ng_linear, ng_layernorm, ...; each in its file under src/ops/, beside its
 * kernels) checks shapes, records the op and its sources, allocates the output once, and
 * computes nothing. ng_graph_finalize orders the nodes the
 * output depends on and allocates their gradients; forward/backward then only run kernels
 * over memory that already exists: a training step allocates nothing. */
#include "graph/graph_internal.h"
#include <omp.h>

#include <stdlib.h>
#include <string.h>

static void noop(ng_graph *g, ng_tensor *t) { (void)g; (void)t; }
const ng_op_def ng_op_leaf = {"leaf", noop, noop};
const ng_op_def ng_op_view = {"view", noop, noop};

ng_graph *ng_graph_new(void) {
    ng_graph *g = calloc(1, sizeof *g);
    if (!g) { ng_set_error("out of memory creating a graph"); return NULL; }
    g->training = 1;
    return g;
}

void ng_graph_free(ng_graph *g) {
    if (!g) return;
    for (int i = 0; i < g->n_nodes; i++) {
        ng_tensor *t = g->nodes[i];
        if (t->op != &ng_op_view) {
            ng_free_aligned(t->data);
            ng_free_aligned(t->grad);
        }
        if (t->op != &ng_op_view) ng_free_aligned(t->idata);
        ng_free_aligned(t->aux);
        free(t);
    }
    free(g->nodes);
    free(g->order);
    free(g->params);
    free(g->parked);
    free(g);
}

void ng_graph_set_training(ng_graph *g, int training) { g->training = training; }

void ng_graph_set_dropout_seed(ng_graph *g, uint64_t seed, uint64_t step) {
    g->drop_seed = seed;
    g->drop_step = step;
}

void ng_graph_set_dropout_row0(ng_graph *g, int64_t row0) { g->drop_row0 = row0; }

/* Create a node owned by g with the given shape; allocates f32 data unless is_i32. */
static ng_tensor *new_node(ng_graph *g, const ng_op_def *op, const char *name, int ndim, const int64_t *ne, int is_i32) {
    if (ndim < 0 || ndim > NG_MAX_DIMS) { ng_set_error("%s: %d dimensions (at most %d)", name, ndim, NG_MAX_DIMS); return NULL; }
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (ne[i] <= 0 || n > INT64_MAX / ne[i]) { ng_set_error("%s: bad dimension %lld", name, (long long)ne[i]); return NULL; }
        n *= ne[i];
    }
    if (g->n_nodes == g->cap_nodes) {
        int cap = g->cap_nodes ? 2 * g->cap_nodes : 64;
        ng_tensor **nn = realloc(g->nodes, cap * sizeof *nn);
        if (!nn) { ng_set_error("out of memory growing a graph"); return NULL; }
        g->nodes = nn; g->cap_nodes = cap;
    }
    ng_tensor *t = calloc(1, sizeof *t);
    if (!t) { ng_set_error("out of memory for tensor %s", name); return NULL; }
    t->op = op; t->ndim = ndim; t->n = n;
    for (int i = 0; i < ndim; i++) t->ne[i] = ne[i];
    snprintf(t->name, sizeof t->name, "%s", name);
    if (op != &ng_op_view) {
        if (is_i32) t->idata = ng_alloc_aligned((size_t)n * sizeof(int32_t), name);
        else t->data = ng_alloc_aligned((size_t)n * sizeof(float), name);
        if (!t->idata && !t->data) { free(t); return NULL; }
    }
    t->id = g->n_nodes;
    g->nodes[g->n_nodes++] = t;
    return t;
}

ng_tensor *ng__op_node(ng_graph *g, const ng_op_def *op, int ndim, const int64_t *ne, ng_tensor *const *src, int nsrc) {
    ng_tensor *t = new_node(g, op, op->name, ndim, ne, 0);
    if (!t) return NULL;
    for (int i = 0; i < nsrc && i < NG_MAX_SRC; i++) t->src[i] = src[i];
    for (int i = 0; i < NG_MAX_SRC; i++)
        if (t->src[i] && t->src[i]->data && t->src[i]->requires_grad) t->requires_grad = 1;
    return t;
}

int ng__set_aux(ng_tensor *t, int64_t n) {
    t->aux = ng_alloc_aligned((size_t)n * sizeof(float), "op state");
    t->naux = n;
    return t->aux ? NG_OK : NG_ERR;
}

static void shape_str(const ng_tensor *t, char *buf, size_t cap) {
    int k = snprintf(buf, cap, "(");
    for (int i = 0; i < t->ndim && k < (int)cap; i++) k += snprintf(buf + k, cap - k, i ? ",%lld" : "%lld", (long long)t->ne[i]);
    if (k < (int)cap) snprintf(buf + k, cap - k, ")");
}
ng_tensor *ng__shape_error(const char *op, const ng_tensor *a, const ng_tensor *b) {
    char sa[64], sb[64] = "";
    shape_str(a, sa, sizeof sa);
    if (b) shape_str(b, sb, sizeof sb);
    ng_set_error("%s: incompatible shapes %s %s (%s, %s)", op, sa, sb, a->name, b ? b->name : "");
    return NULL;
}

ng_tensor *ng_input(ng_graph *g, const char *name, int ndim, const int64_t *ne) {
    return new_node(g, &ng_op_leaf, name, ndim, ne, 0);
}

ng_tensor *ng_input_i32(ng_graph *g, const char *name, int ndim, const int64_t *ne) {
    return new_node(g, &ng_op_leaf, name, ndim, ne, 1);
}

/* A view of n elements of x starting at element `offset`, with shape ne. */
static ng_tensor *view_of(ng_graph *g, ng_tensor *x, int64_t offset, int ndim, const int64_t *ne) {
    ng_tensor *t = new_node(g, &ng_op_view, "view", ndim, ne, 0);
    if (!t) return NULL;
    if (offset < 0 || t->n + offset > x->n) { g->n_nodes--; free(t); return ng__shape_error("view (sizes differ)", x, NULL); }
    t->src[0] = x;
    t->view_offset = offset;
    t->data = x->data ? x->data + offset : NULL;
    t->idata = x->idata ? x->idata + offset : NULL;
    t->requires_grad = x->requires_grad;
    return t;
}

ng_tensor *ng_reshape(ng_graph *g, ng_tensor *x, int ndim, const int64_t *ne) {
    NG_NEED(x);
    int64_t n = 1;
    for (int i = 0; i < ndim && i < NG_MAX_DIMS; i++) n *= ne[i];
    if (n != x->n) return ng__shape_error("reshape (sizes differ)", x, NULL);
    return view_of(g, x, 0, ndim, ne);
}

ng_tensor *ng_rows_view(ng_graph *g, ng_tensor *x, int64_t row0, int64_t nrows) {
    NG_NEED(x);
    int64_t C = ng_cols(x), ne[2] = {nrows, C};
    if (row0 < 0 || nrows < 1 || row0 + nrows > ng_rows(x)) return ng__shape_error("rows view (out of range)", x, NULL);
    return view_of(g, x, row0 * C, 2, ne);
}

/* ---------------------------------------------------------------- finalize / run */

/* Depth-first post-order from t: every source before its user. */
static int visit(ng_graph *g, ng_tensor *t, char *seen) {
    if (t->is_param) {   /* not a node of this graph: listed once for ng_graph_backward_inputs */
        for (int i = 0; i < g->n_params; i++) if (g->params[i] == t) return NG_OK;
        g->params[g->n_params++] = t;
        return NG_OK;
    }
    if (t->id < 0 || t->id >= g->n_nodes || g->nodes[t->id] != t)
        return ng_set_error("graph: tensor '%s' belongs to another graph", t->name);
    if (seen[t->id]) return NG_OK;
    seen[t->id] = 1;
    for (int i = 0; i < NG_MAX_SRC; i++)
        if (t->src[i] && visit(g, t->src[i], seen)) return NG_ERR;
    g->order[g->n_order++] = t;
    return NG_OK;
}

int ng_graph_finalize(ng_graph *g, ng_tensor *out) {
    if (!out) return ng_set_error("graph: no output to finalize");
    free(g->order); free(g->params); free(g->parked);
    const size_t nn = g->n_nodes ? (size_t)g->n_nodes : 1, np = nn * NG_MAX_SRC;   /* at most one per source */
    g->order = malloc(nn * sizeof *g->order);
    g->params = malloc(np * sizeof *g->params);
    g->parked = malloc(np * sizeof *g->parked);
    char *seen = calloc(nn, 1);
    g->n_order = g->n_params = 0;
    if (!g->order || !g->params || !g->parked || !seen) { free(seen); return ng_set_error("out of memory finalizing a graph"); }
    int rc = visit(g, out, seen);
    free(seen);
    if (rc) return rc;
    g->out = out;
    /* gradients for every node a gradient flows through (views share their source's) */
    for (int i = 0; i < g->n_order; i++) {
        ng_tensor *t = g->order[i];
        if (!t->requires_grad || t->grad) continue;
        if (t->op == &ng_op_view) { t->grad = t->src[0]->grad ? t->src[0]->grad + t->view_offset : NULL; continue; }
        t->grad = ng_alloc_aligned((size_t)t->n * sizeof(float), t->name);
        if (!t->grad) return NG_ERR;
    }
    return NG_OK;
}

/* NANOGEN_PROFILE=1: wall time per op kind, forward and backward, printed at exit (stderr).
 * Off by default: one getenv, then one branch per op. */
static int prof_on = -1, prof_paused;
#define PROF_MAX_OPS 64
static const ng_op_def *prof_op[PROF_MAX_OPS];   /* the ops seen, in order of first use */
static double prof_s[PROF_MAX_OPS][2];          /* forward, backward seconds */
static int prof_n_ops;
static double prof_zero_s;                       /* gradient zeroing */
static double prof_extra_s[8]; static const char *prof_extra_name[8]; static int prof_n_extra;

/* The profile slot of an op (the last slot collects any beyond PROF_MAX_OPS). */
static int prof_slot(const ng_op_def *op) {
    for (int i = 0; i < prof_n_ops; i++) if (prof_op[i] == op) return i;
    if (prof_n_ops == PROF_MAX_OPS) return PROF_MAX_OPS - 1;
    prof_op[prof_n_ops] = op;
    return prof_n_ops++;
}

static void prof_report(void) {
    double total = prof_zero_s;
    for (int i = 0; i < prof_n_ops; i++) total += prof_s[i][0] + prof_s[i][1];
    for (int i = 0; i < prof_n_extra; i++) total += prof_extra_s[i];
    if (total <= 0) return;
    fprintf(stderr, "profile (NANOGEN_PROFILE): %.3f s in ops\n%-14s %10s %10s %7s\n", total, "op", "fwd ms", "bwd ms", "share");
    for (int i = 0; i < prof_n_ops; i++) {
        double f = prof_s[i][0], b = prof_s[i][1];
        if (f + b <= 0) continue;
        fprintf(stderr, "%-14s %10.1f %10.1f %6.1f%%\n", prof_op[i]->name, f * 1e3, b * 1e3, 100 * (f + b) / total);
    }
    if (prof_zero_s > 0) fprintf(stderr, "%-14s %10s %10.1f %6.1f%%\n", "grad zeroing", "", prof_zero_s * 1e3, 100 * prof_zero_s / total);
    for (int i = 0; i < prof_n_extra; i++)
        fprintf(stderr, "%-14s %10.1f %10s %6.1f%%\n", prof_extra_name[i], prof_extra_s[i] * 1e3, "", 100 * prof_extra_s[i] / total);
}

int ng_profiling(void) {
    if (prof_on < 0) {
        const char *e = getenv("NANOGEN_PROFILE");
        prof_on = e && *e && strcmp(e, "0") != 0;
        if (prof_on) atexit(prof_report);
    }
    return prof_on && !prof_paused;
}

void ng_profile_pause(int paused) { prof_paused = paused; }

void ng_profile_add(const char *name, double seconds) {
    for (int i = 0; i < prof_n_extra; i++)
        if (!strcmp(prof_extra_name[i], name)) { prof_extra_s[i] += seconds; return; }
    if (prof_n_extra < 8) { prof_extra_name[prof_n_extra] = name; prof_extra_s[prof_n_extra++] = seconds; }
}

void ng_graph_forward(ng_graph *g) {
    ng_threads_tick();   /* the thread count follows a busy machine (threads.c); results do not change */
    g->anomaly = 0;
    if (g->detect_anomaly) {   /* check every op's output; stop at the first NaN/Inf (src/graph/anomaly.c) */
        for (int i = 0; i < g->n_order; i++) {
            ng_tensor *t = g->order[i];
            t->op->forward(g, t);
            if (ng__check_forward(g, i)) { g->anomaly = 1; return; }
        }
        return;
    }
    if (ng_profiling()) {
        for (int i = 0; i < g->n_order; i++) {
            ng_tensor *t = g->order[i];
            double t0 = omp_get_wtime();
            t->op->forward(g, t);
            const int k = prof_slot(t->op);
            prof_s[k][0] += omp_get_wtime() - t0;
        }
        return;
    }
    for (int i = 0; i < g->n_order; i++) {
        ng_tensor *t = g->order[i];
        t->op->forward(g, t);
    }
}

void ng_graph_backward(ng_graph *g) { ng_graph_backward_with(g, NULL); }

void ng_graph_backward_with(ng_graph *g, const float *dout) {
    if (!g->out || !g->out->requires_grad || g->anomaly) return;
    const int prof = ng_profiling();
    double t0 = prof ? omp_get_wtime() : 0;
    /* reset intermediate gradients (parameters accumulate until the optimizer zeroes them) */
    int64_t total = 0;
    for (int i = 0; i < g->n_order; i++) {
        ng_tensor *t = g->order[i];
        if (t->grad && t->op != &ng_op_view) total += t->n;
    }
    /* each thread clears its share of every gradient (memory-bound: both cores' bandwidth) */
    #pragma omp parallel if (total > (1 << 18))
    {
        const int tid = omp_get_thread_num(), nt = omp_get_num_threads();
        for (int i = 0; i < g->n_order; i++) {
            ng_tensor *t = g->order[i];
            if (!t->grad || t->op == &ng_op_view) continue;
            int64_t a = t->n * tid / nt, b = t->n * (tid + 1) / nt;
            if (b > a) memset(t->grad + a, 0, (size_t)(b - a) * sizeof(float));
        }
    }
    if (prof) prof_zero_s += omp_get_wtime() - t0;
    if (dout) memcpy(g->out->grad, dout, (size_t)g->out->n * sizeof(float));
    else for (int64_t i = 0; i < g->out->n; i++) g->out->grad[i] = 1.0f;
    for (int i = g->n_order - 1; i >= 0; i--) {
        ng_tensor *t = g->order[i];
        if (!t->requires_grad) continue;
        if (prof) {
            double t1 = omp_get_wtime();
            t->op->backward(g, t);
            const int k = prof_slot(t->op);
            prof_s[k][1] += omp_get_wtime() - t1;
        } else {
            t->op->backward(g, t);
        }
        if (g->detect_anomaly && ng__check_backward(g, i)) { g->anomaly = 1; return; }
    }
}

int ng_graph_backward_inputs(ng_graph *g, const float *dout) {
    if (!g->out) return ng_set_error("graph: backward before finalize");
    /* every op skips a gradient whose pointer is NULL (as for a leaf without requires_grad):
     * park the parameters' gradient pointers for the call */
    for (int i = 0; i < g->n_params; i++) { g->parked[i] = g->params[i]->grad; g->params[i]->grad = NULL; }
    ng_graph_backward_with(g, dout);
    for (int i = 0; i < g->n_params; i++) g->params[i]->grad = g->parked[i];
    return NG_OK;
}

int ng_graph_size(const ng_graph *g) { return g->n_order; }
ng_tensor *ng_graph_node(const ng_graph *g, int i) { return (i >= 0 && i < g->n_order) ? g->order[i] : NULL; }
const char *ng_tensor_op(const ng_tensor *t) { return t && t->op ? t->op->name : "?"; }

/* graph.c - tensors as graph nodes, op builders, and reverse-mode autodiff.
 *
 * A builder (ng_linear, ng_layernorm, ...) checks shapes, records the op and its sources,
 * allocates the output once, and computes nothing. ng_graph_finalize orders the nodes the
 * output depends on and allocates their gradients; forward/backward then only run kernels
 * over memory that already exists: a training step allocates nothing. */
#include "graph/graph_internal.h"
#include <omp.h>

#include <stdlib.h>
#include <string.h>

static void noop(ng_graph *g, ng_tensor *t) { (void)g; (void)t; }

const ng_op_info ng_ops[NG_OP_COUNT_] = {
    [NG_OP_LEAF] = {"leaf", noop, noop},
    [NG_OP_LINEAR] = {"linear", linear_forward, linear_backward},
    [NG_OP_MATMUL] = {"matmul", matmul_forward, matmul_backward},
    [NG_OP_EMBEDDING] = {"embedding", embedding_forward, embedding_backward},
    [NG_OP_ADD] = {"add", add_forward, add_backward},
    [NG_OP_MUL] = {"mul", mul_forward, mul_backward},
    [NG_OP_SCALE] = {"scale", scale_forward, scale_backward},
    [NG_OP_LAYERNORM] = {"layernorm", layernorm_forward, layernorm_backward},
    [NG_OP_GELU] = {"gelu", gelu_forward, gelu_backward},
    [NG_OP_RELU] = {"relu", relu_forward, relu_backward},
    [NG_OP_ATTENTION] = {"attention", attention_forward, attention_backward},
    [NG_OP_SOFTMAX_XENT] = {"softmax_xent", softmax_xent_forward, softmax_xent_backward},
    [NG_OP_DROPOUT] = {"dropout", dropout_forward, dropout_backward},
    [NG_OP_SUM] = {"sum", sum_forward, sum_backward},
    [NG_OP_MEAN] = {"mean", mean_forward, mean_backward},
    [NG_OP_VIEW] = {"view", noop, noop},
    [NG_OP_CONV2D] = {"conv2d", conv2d_forward, conv2d_backward},
    [NG_OP_CONV_T2D] = {"conv_transpose2d", conv_t2d_forward, conv_t2d_backward},
    [NG_OP_MAXPOOL2D] = {"maxpool2d", maxpool2d_forward, maxpool2d_backward},
    [NG_OP_AVGPOOL2D] = {"avgpool2d", avgpool2d_forward, avgpool2d_backward},
    [NG_OP_BATCHNORM] = {"batchnorm", batchnorm_forward, batchnorm_backward},
    [NG_OP_LEAKY_RELU] = {"leaky_relu", leaky_relu_forward, leaky_relu_backward},
    [NG_OP_SIGMOID] = {"sigmoid", sigmoid_forward, sigmoid_backward},
    [NG_OP_TANH] = {"tanh", tanh_forward, tanh_backward},
    [NG_OP_BCE_LOGITS] = {"bce_logits", bce_logits_forward, bce_logits_backward},
    [NG_OP_MSE] = {"mse", mse_forward, mse_backward},
    [NG_OP_GAUSS_KL] = {"gauss_kl", gauss_kl_forward, gauss_kl_backward},
    [NG_OP_REPARAM] = {"reparam", reparam_forward, reparam_backward},
};

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
        if (t->op != NG_OP_VIEW) {
            ng_free_aligned(t->data);
            ng_free_aligned(t->grad);
        }
        if (t->op != NG_OP_VIEW) ng_free_aligned(t->idata);
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

/* Create a node owned by g with the given shape; allocates f32 data unless is_i32. */
static ng_tensor *new_node(ng_graph *g, ng_op op, const char *name, int ndim, const int64_t *ne, int is_i32) {
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
    if (op != NG_OP_VIEW) {
        if (is_i32) t->idata = ng_alloc_aligned((size_t)n * sizeof(int32_t), name);
        else t->data = ng_alloc_aligned((size_t)n * sizeof(float), name);
        if (!t->idata && !t->data) { free(t); return NULL; }
    }
    t->id = g->n_nodes;
    g->nodes[g->n_nodes++] = t;
    return t;
}

ng_tensor *ng__op_node(ng_graph *g, ng_op op, int ndim, const int64_t *ne, ng_tensor *const *src, int nsrc) {
    ng_tensor *t = new_node(g, op, ng_ops[op].name, ndim, ne, 0);
    if (!t) return NULL;
    for (int i = 0; i < nsrc && i < NG_MAX_SRC; i++) t->src[i] = src[i];
    for (int i = 0; i < NG_MAX_SRC; i++)
        if (t->src[i] && t->src[i]->data && t->src[i]->requires_grad) t->requires_grad = 1;
    return t;
}

/* Record an op node with up to three sources. */
static ng_tensor *op_node(ng_graph *g, ng_op op, int ndim, const int64_t *ne, ng_tensor *a, ng_tensor *b, ng_tensor *c) {
    ng_tensor *src[3] = {a, b, c};
    return ng__op_node(g, op, ndim, ne, src, 3);
}

int ng__set_aux(ng_tensor *t, int64_t n) {
    t->aux = ng_alloc_aligned((size_t)n * sizeof(float), "op state");
    t->naux = n;
    return t->aux ? NG_OK : NG_ERR;
}
#define set_aux ng__set_aux

static int same_shape(const ng_tensor *a, const ng_tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++) if (a->ne[i] != b->ne[i]) return 0;
    return 1;
}

static void shape_str(const ng_tensor *t, char *buf, size_t cap) {
    int k = snprintf(buf, cap, "(");
    for (int i = 0; i < t->ndim && k < (int)cap; i++) k += snprintf(buf + k, cap - k, i ? ",%lld" : "%lld", (long long)t->ne[i]);
    if (k < (int)cap) snprintf(buf + k, cap - k, ")");
}

#define shape_error ng__shape_error
ng_tensor *ng__shape_error(const char *op, const ng_tensor *a, const ng_tensor *b) {
    char sa[64], sb[64] = "";
    shape_str(a, sa, sizeof sa);
    if (b) shape_str(b, sb, sizeof sb);
    ng_set_error("%s: incompatible shapes %s %s (%s, %s)", op, sa, sb, a->name, b ? b->name : "");
    return NULL;
}

/* A NULL operand means an earlier builder failed and already set the error: pass it on. */
#define NEED(x) do { if (!(x)) { if (!*ng_last_error()) ng_set_error("%s: missing operand", __func__); return NULL; } } while (0)

ng_tensor *ng_input(ng_graph *g, const char *name, int ndim, const int64_t *ne) {
    return new_node(g, NG_OP_LEAF, name, ndim, ne, 0);
}

ng_tensor *ng_input_i32(ng_graph *g, const char *name, int ndim, const int64_t *ne) {
    return new_node(g, NG_OP_LEAF, name, ndim, ne, 1);
}

ng_tensor *ng_linear(ng_graph *g, ng_tensor *x, ng_tensor *W, ng_tensor *b) {
    NEED(x && W && x->data);
    if (W->ndim != 2 || ng_cols(x) != W->ne[1]) return shape_error("linear", x, W);
    if (b && (b->ndim != 1 || b->ne[0] != W->ne[0])) return shape_error("linear bias", W, b);
    int64_t ne[NG_MAX_DIMS];
    memcpy(ne, x->ne, sizeof ne);
    ne[x->ndim - 1] = W->ne[0];
    return op_node(g, NG_OP_LINEAR, x->ndim, ne, x, W, b);
}

ng_tensor *ng_matmul(ng_graph *g, ng_tensor *a, ng_tensor *b, int trans_a, int trans_b) {
    NEED(a && b && a->data && b->data);
    if (a->ndim != 2 || b->ndim != 2) return shape_error("matmul (2-D only)", a, b);
    int64_t M = trans_a ? a->ne[1] : a->ne[0], K = trans_a ? a->ne[0] : a->ne[1];
    int64_t K2 = trans_b ? b->ne[1] : b->ne[0], N = trans_b ? b->ne[0] : b->ne[1];
    if (K != K2) return shape_error("matmul", a, b);
    int64_t ne[2] = {M, N};
    ng_tensor *t = op_node(g, NG_OP_MATMUL, 2, ne, a, b, NULL);
    if (t) { t->iarg[0] = trans_a; t->iarg[1] = trans_b; }
    return t;
}

ng_tensor *ng_embedding(ng_graph *g, ng_tensor *table, ng_tensor *idx) {
    NEED(table && idx && table->data && idx->idata);
    if (table->ndim != 2 || idx->ndim < 1 || idx->ndim > NG_MAX_DIMS - 1) return shape_error("embedding", table, idx);
    int64_t ne[NG_MAX_DIMS];
    memcpy(ne, idx->ne, sizeof ne);
    ne[idx->ndim] = table->ne[1];
    return op_node(g, NG_OP_EMBEDDING, idx->ndim + 1, ne, table, idx, NULL);
}

ng_tensor *ng_add(ng_graph *g, ng_tensor *a, ng_tensor *b) {
    NEED(a && b && a->data && b->data);
    /* b broadcasts over a's leading dims: its shape must be a suffix of a's */
    if (b->ndim > a->ndim) return shape_error("add", a, b);
    for (int i = 0; i < b->ndim; i++)
        if (b->ne[b->ndim - 1 - i] != a->ne[a->ndim - 1 - i]) return shape_error("add", a, b);
    return op_node(g, NG_OP_ADD, a->ndim, a->ne, a, b, NULL);
}

ng_tensor *ng_mul(ng_graph *g, ng_tensor *a, ng_tensor *b) {
    NEED(a && b && a->data && b->data);
    if (!same_shape(a, b)) return shape_error("mul", a, b);
    return op_node(g, NG_OP_MUL, a->ndim, a->ne, a, b, NULL);
}

ng_tensor *ng_scale(ng_graph *g, ng_tensor *a, float s) {
    NEED(a && a->data);
    ng_tensor *t = op_node(g, NG_OP_SCALE, a->ndim, a->ne, a, NULL, NULL);
    if (t) t->farg[0] = s;
    return t;
}

ng_tensor *ng_layernorm(ng_graph *g, ng_tensor *x, ng_tensor *w, ng_tensor *b, float eps) {
    NEED(x && w && b && x->data);
    int64_t C = ng_cols(x);
    if (w->ndim != 1 || w->ne[0] != C) return shape_error("layernorm weight", x, w);
    if (b->ndim != 1 || b->ne[0] != C) return shape_error("layernorm bias", x, b);
    ng_tensor *t = op_node(g, NG_OP_LAYERNORM, x->ndim, x->ne, x, w, b);
    if (t) { t->farg[0] = eps; if (set_aux(t, 2 * ng_rows(x))) return NULL; }
    return t;
}

ng_tensor *ng_gelu(ng_graph *g, ng_tensor *x) {
    NEED(x && x->data);
    return op_node(g, NG_OP_GELU, x->ndim, x->ne, x, NULL, NULL);
}

ng_tensor *ng_relu(ng_graph *g, ng_tensor *x) {
    NEED(x && x->data);
    return op_node(g, NG_OP_RELU, x->ndim, x->ne, x, NULL, NULL);
}

ng_tensor *ng_attention(ng_graph *g, ng_tensor *qkv, int n_head, float dropout) {
    NEED(qkv && qkv->data);
    if (qkv->ndim != 3 || qkv->ne[2] % 3 || n_head <= 0 || (qkv->ne[2] / 3) % n_head)
        return shape_error("attention (qkv must be (B,T,3C) with C divisible by n_head)", qkv, NULL);
    if (dropout < 0 || dropout >= 1) { ng_set_error("attention: dropout %g outside [0, 1)", dropout); return NULL; }
    int64_t B = qkv->ne[0], T = qkv->ne[1], C = qkv->ne[2] / 3;
    int64_t ne[3] = {B, T, C};
    ng_tensor *t = op_node(g, NG_OP_ATTENTION, 3, ne, qkv, NULL, NULL);
    if (!t) return NULL;
    t->iarg[0] = n_head;
    t->farg[0] = dropout;
    /* saved softmax probabilities (B, H, T, T) for backward */
    if (set_aux(t, B * n_head * T * T)) return NULL;
    return t;
}

ng_tensor *ng_softmax_xent(ng_graph *g, ng_tensor *logits, ng_tensor *targets) {
    NEED(logits && targets && logits->data && targets->idata);
    if (ng_rows(logits) != targets->n) return shape_error("softmax_xent", logits, targets);
    ng_tensor *t = op_node(g, NG_OP_SOFTMAX_XENT, 0, NULL, logits, targets, NULL);
    /* saved per row: log-sum-exp; aux[rows] = number of counted targets */
    if (t && set_aux(t, ng_rows(logits) + 1)) return NULL;
    return t;
}

ng_tensor *ng_dropout(ng_graph *g, ng_tensor *x, float p) {
    NEED(x && x->data);
    if (p < 0 || p >= 1) { ng_set_error("dropout: p=%g outside [0, 1)", p); return NULL; }
    if (p == 0) return x;   /* identity: no node, no copy */
    ng_tensor *t = op_node(g, NG_OP_DROPOUT, x->ndim, x->ne, x, NULL, NULL);
    if (t) t->farg[0] = p;
    return t;
}

ng_tensor *ng_sum(ng_graph *g, ng_tensor *x) {
    NEED(x && x->data);
    return op_node(g, NG_OP_SUM, 0, NULL, x, NULL, NULL);
}

ng_tensor *ng_mean(ng_graph *g, ng_tensor *x) {
    NEED(x && x->data);
    return op_node(g, NG_OP_MEAN, 0, NULL, x, NULL, NULL);
}

/* A view of n elements of x starting at element `offset`, with shape ne. */
static ng_tensor *view_of(ng_graph *g, ng_tensor *x, int64_t offset, int ndim, const int64_t *ne) {
    ng_tensor *t = new_node(g, NG_OP_VIEW, "view", ndim, ne, 0);
    if (!t) return NULL;
    if (offset < 0 || t->n + offset > x->n) { g->n_nodes--; free(t); return shape_error("view (sizes differ)", x, NULL); }
    t->src[0] = x;
    t->view_offset = offset;
    t->data = x->data ? x->data + offset : NULL;
    t->idata = x->idata ? x->idata + offset : NULL;
    t->requires_grad = x->requires_grad;
    return t;
}

ng_tensor *ng_reshape(ng_graph *g, ng_tensor *x, int ndim, const int64_t *ne) {
    NEED(x);
    int64_t n = 1;
    for (int i = 0; i < ndim && i < NG_MAX_DIMS; i++) n *= ne[i];
    if (n != x->n) return shape_error("reshape (sizes differ)", x, NULL);
    return view_of(g, x, 0, ndim, ne);
}

ng_tensor *ng_rows_view(ng_graph *g, ng_tensor *x, int64_t row0, int64_t nrows) {
    NEED(x);
    int64_t C = ng_cols(x), ne[2] = {nrows, C};
    if (row0 < 0 || nrows < 1 || row0 + nrows > ng_rows(x)) return shape_error("rows view (out of range)", x, NULL);
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
        if (t->op == NG_OP_VIEW) { t->grad = t->src[0]->grad ? t->src[0]->grad + t->view_offset : NULL; continue; }
        t->grad = ng_alloc_aligned((size_t)t->n * sizeof(float), t->name);
        if (!t->grad) return NG_ERR;
    }
    return NG_OK;
}

/* NANOGEN_PROFILE=1: wall time per op kind, forward and backward, printed at exit (stderr).
 * Off by default: one getenv, then one branch per op. */
static int prof_on = -1, prof_paused;
static double prof_s[NG_OP_COUNT_][3];   /* forward, backward, gradient zeroing (in [0][2]) */
static long prof_n[NG_OP_COUNT_][2];
static double prof_extra_s[8]; static const char *prof_extra_name[8]; static int prof_n_extra;

static void prof_report(void) {
    double total = 0;
    for (int i = 0; i < NG_OP_COUNT_; i++) total += prof_s[i][0] + prof_s[i][1] + prof_s[i][2];
    for (int i = 0; i < prof_n_extra; i++) total += prof_extra_s[i];
    if (total <= 0) return;
    fprintf(stderr, "profile (NANOGEN_PROFILE): %.3f s in ops\n%-14s %10s %10s %7s\n", total, "op", "fwd ms", "bwd ms", "share");
    for (int i = 0; i < NG_OP_COUNT_; i++) {
        double f = prof_s[i][0], b = prof_s[i][1];
        if (f + b <= 0) continue;
        fprintf(stderr, "%-14s %10.1f %10.1f %6.1f%%\n", ng_ops[i].name, f * 1e3, b * 1e3, 100 * (f + b) / total);
    }
    if (prof_s[0][2] > 0) fprintf(stderr, "%-14s %10s %10.1f %6.1f%%\n", "grad zeroing", "", prof_s[0][2] * 1e3, 100 * prof_s[0][2] / total);
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
            ng_ops[t->op].forward(g, t);
            if (ng__check_forward(g, i)) { g->anomaly = 1; return; }
        }
        return;
    }
    if (ng_profiling()) {
        for (int i = 0; i < g->n_order; i++) {
            ng_tensor *t = g->order[i];
            double t0 = omp_get_wtime();
            ng_ops[t->op].forward(g, t);
            prof_s[t->op][0] += omp_get_wtime() - t0; prof_n[t->op][0]++;
        }
        return;
    }
    for (int i = 0; i < g->n_order; i++) {
        ng_tensor *t = g->order[i];
        ng_ops[t->op].forward(g, t);
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
        if (t->grad && t->op != NG_OP_VIEW) total += t->n;
    }
    /* each thread clears its share of every gradient (memory-bound: both cores' bandwidth) */
    #pragma omp parallel if (total > (1 << 18))
    {
        const int tid = omp_get_thread_num(), nt = omp_get_num_threads();
        for (int i = 0; i < g->n_order; i++) {
            ng_tensor *t = g->order[i];
            if (!t->grad || t->op == NG_OP_VIEW) continue;
            int64_t a = t->n * tid / nt, b = t->n * (tid + 1) / nt;
            if (b > a) memset(t->grad + a, 0, (size_t)(b - a) * sizeof(float));
        }
    }
    if (prof) prof_s[0][2] += omp_get_wtime() - t0;
    if (dout) memcpy(g->out->grad, dout, (size_t)g->out->n * sizeof(float));
    else for (int64_t i = 0; i < g->out->n; i++) g->out->grad[i] = 1.0f;
    for (int i = g->n_order - 1; i >= 0; i--) {
        ng_tensor *t = g->order[i];
        if (!t->requires_grad) continue;
        if (prof) {
            double t1 = omp_get_wtime();
            ng_ops[t->op].backward(g, t);
            prof_s[t->op][1] += omp_get_wtime() - t1; prof_n[t->op][1]++;
        } else {
            ng_ops[t->op].backward(g, t);
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

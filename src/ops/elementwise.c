/* elementwise.c - embedding lookup, add (with broadcast), mul, scale, GELU, ReLU, dropout,
 * sum and mean. Each forward/backward pair is one flat loop, threaded with OpenMP when large. */
#include "graph/graph_internal.h"
#include "ops/kernels/fastmath.h"
#include "ops/kernels/kernels.h"

#include <math.h>
#include <string.h>

/* below this many elements a loop stays on one thread. 16384, not 65536: the VAE's ReLU over a
 * batch of 128 x 400 (51,200 elements) took 193 ms of backward an epoch on one thread and 11 ms
 * on two (NANOGEN_PROFILE=1, 2-core AMD EPYC): a loop on one thread runs beside the team's other
 * thread spinning, and is slower than the element count suggests. Per element, so the same bits. */
#define PAR_MIN 16384

/* y[i,:] = table[idx[i],:]  (idx already validated by the caller to be in [0, V)) */
static void embedding_forward(ng_graph *g, ng_tensor *t) {
    (void)g;
    ng_tensor *table = t->src[0], *idx = t->src[1];
    int64_t C = table->ne[1], V = table->ne[0];
    for (int64_t i = 0; i < idx->n; i++) {
        int32_t id = idx->idata[i];
        if (id < 0 || id >= V) id = 0;   /* defensive: callers check ids; never read out of bounds */
        memcpy(t->data + i * C, table->data + (int64_t)id * C, (size_t)C * sizeof(float));
    }
}

/* dtable[idx[i],:] += dy[i,:]  (sequential over rows: rows may repeat) */
static void embedding_backward(ng_graph *g, ng_tensor *t) {
    (void)g;
    ng_tensor *table = t->src[0], *idx = t->src[1];
    if (!table->grad) return;
    int64_t C = table->ne[1], V = table->ne[0];
    for (int64_t i = 0; i < idx->n; i++) {
        int32_t id = idx->idata[i];
        if (id < 0 || id >= V) continue;
        float *dst = table->grad + (int64_t)id * C;
        const float *src = t->grad + i * C;
        for (int64_t j = 0; j < C; j++) dst[j] += src[j];
    }
}

/* y = a + b, b repeated over a's leading dims */
static void add_forward(ng_graph *g, ng_tensor *t) {
    (void)g;
    const float *a = t->src[0]->data, *b = t->src[1]->data;
    float *y = t->data;
    int64_t n = t->n, m = t->src[1]->n;
    if (m == n) {
        #pragma omp parallel for simd if (n > PAR_MIN)
        for (int64_t i = 0; i < n; i++) y[i] = a[i] + b[i];
    } else {
        #pragma omp parallel for if (n > PAR_MIN)
        for (int64_t r = 0; r < n / m; r++) {
            #pragma omp simd
            for (int64_t j = 0; j < m; j++) y[r * m + j] = a[r * m + j] + b[j];
        }
    }
}

static void add_backward(ng_graph *g, ng_tensor *t) {
    (void)g;
    ng_tensor *a = t->src[0], *b = t->src[1];
    const float *dy = t->grad;
    int64_t n = t->n, m = b->n;
    if (a->grad) {
        float *da = a->grad;
        #pragma omp parallel for simd if (n > PAR_MIN)
        for (int64_t i = 0; i < n; i++) da[i] += dy[i];
    }
    if (b->grad) {
        float *db = b->grad;
        if (m == n) {
            #pragma omp parallel for simd if (n > PAR_MIN)
            for (int64_t i = 0; i < n; i++) db[i] += dy[i];
        } else {
            for (int64_t r = 0; r < n / m; r++) {
                #pragma omp simd
                for (int64_t j = 0; j < m; j++) db[j] += dy[r * m + j];
            }
        }
    }
}

static void mul_forward(ng_graph *g, ng_tensor *t) {
    (void)g;
    const float *a = t->src[0]->data, *b = t->src[1]->data;
    float *y = t->data;
    const int64_t n = t->n;
    #pragma omp parallel for simd if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = a[i] * b[i];
}

static void mul_backward(ng_graph *g, ng_tensor *t) {
    (void)g;
    ng_tensor *a = t->src[0], *b = t->src[1];
    const float *dy = t->grad, *av = a->data, *bv = b->data;
    float *da = a->grad, *db = b->grad;
    const int64_t n = t->n;
    if (da) {
        #pragma omp parallel for simd if (n > PAR_MIN)
        for (int64_t i = 0; i < n; i++) da[i] += dy[i] * bv[i];
    }
    if (db) {
        #pragma omp parallel for simd if (n > PAR_MIN)
        for (int64_t i = 0; i < n; i++) db[i] += dy[i] * av[i];
    }
}

static void scale_forward(ng_graph *g, ng_tensor *t) {
    (void)g;
    const float *a = t->src[0]->data;
    const float s = t->farg[0];
    float *y = t->data;
    const int64_t n = t->n;
    #pragma omp parallel for simd if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = s * a[i];
}

static void scale_backward(ng_graph *g, ng_tensor *t) {
    (void)g;
    const float s = t->farg[0], *dy = t->grad;
    float *dx = t->src[0]->grad;
    const int64_t n = t->n;
    if (!dx) return;
    #pragma omp parallel for simd if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) dx[i] += s * dy[i];
}

/* gelu(x) = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), see fastmath.h */
void ng_k_gelu(float *y, const float *x, int64_t n) {
    if (n > PAR_MIN) {
        #pragma omp parallel for simd
        for (int64_t i = 0; i < n; i++) y[i] = ng_gelu_f(x[i]);
    } else {   /* a sampling step: no thread team at all (and a plainer SIMD loop) */
        #pragma omp simd
        for (int64_t i = 0; i < n; i++) y[i] = ng_gelu_f(x[i]);
    }
}

static void gelu_forward(ng_graph *g, ng_tensor *t) {
    (void)g;
    ng_k_gelu(t->data, t->src[0]->data, t->n);
}

static void gelu_backward(ng_graph *g, ng_tensor *t) {
    (void)g;
    const float *x = t->src[0]->data, *dy = t->grad;
    float *dx = t->src[0]->grad;
    if (!dx) return;
    #pragma omp parallel for simd if (t->n > PAR_MIN)
    for (int64_t i = 0; i < t->n; i++) dx[i] += dy[i] * ng_gelu_grad_f(x[i]);
}

/* The exact GELU, 0.5 x (1 + erf(x / sqrt 2)) (PyTorch's nn.GELU(), nanoGPT's): libm's erff, a
 * plain loop (no fast twin to keep: its cost is a few percent of a GPT's step) */
#define NG_SQRT1_2 0.70710678118654752f
#define NG_INV_SQRT_2PI 0.39894228040143268f
static inline float gelu_exact_f(float x) { return 0.5f * x * (1.0f + erff(x * NG_SQRT1_2)); }
void ng_k_gelu_exact(float *y, const float *x, int64_t n) {
    if (n > PAR_MIN) {
        #pragma omp parallel for
        for (int64_t i = 0; i < n; i++) y[i] = gelu_exact_f(x[i]);
    } else {   /* a sampling step: no thread team */
        for (int64_t i = 0; i < n; i++) y[i] = gelu_exact_f(x[i]);
    }
}

static void gelu_exact_forward(ng_graph *g, ng_tensor *t) {
    (void)g;
    ng_k_gelu_exact(t->data, t->src[0]->data, t->n);
}

/* d/dx = 0.5 (1 + erf(x / sqrt 2)) + x phi(x), phi the standard normal density */
static void gelu_exact_backward(ng_graph *g, ng_tensor *t) {
    (void)g;
    const float *x = t->src[0]->data, *dy = t->grad;
    float *dx = t->src[0]->grad;
    if (!dx) return;
    #pragma omp parallel for if (t->n > PAR_MIN)
    for (int64_t i = 0; i < t->n; i++) {
        const float v = x[i];
        dx[i] += dy[i] * (0.5f * (1.0f + erff(v * NG_SQRT1_2)) + v * NG_INV_SQRT_2PI * expf(-0.5f * v * v));
    }
}

static void relu_forward(ng_graph *g, ng_tensor *t) {
    (void)g;
    const float *x = t->src[0]->data;
    float *y = t->data;
    const int64_t n = t->n;
    #pragma omp parallel for simd if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = x[i] > 0 ? x[i] : 0;
}

static void relu_backward(ng_graph *g, ng_tensor *t) {
    (void)g;
    const float *x = t->src[0]->data;
    float *dx = t->src[0]->grad;
    const float *dy = t->grad;
    const int64_t n = t->n;
    if (!dx) return;
    #pragma omp parallel for simd if (n > PAR_MIN)
    for (int64_t i = 0; i < n; i++) dx[i] += x[i] > 0 ? dy[i] : 0;
}

/* Inverted dropout: keep with probability 1-p and scale by 1/(1-p). The mask comes from a
 * counter-based hash of (seed, step, node, index), so backward recomputes it instead of storing it. */
static void dropout_forward(ng_graph *g, ng_tensor *t) {
    const float *x = t->src[0]->data;
    float p = t->farg[0];
    if (!g->training) { memcpy(t->data, x, (size_t)t->n * sizeof(float)); return; }
    const float scale = 1.0f / (1.0f - p);
    const uint64_t seed = g->drop_seed, stream = ng_drop_stream(g, t);
    const uint32_t thr = ng_drop_threshold(p);   /* drops where ng_hash_uniform(...) < p */
    float *y = t->data;
    const uint64_t off = (uint64_t)g->drop_row0 * (uint64_t)(t->n / t->ne[0]);   /* a shard of the batch: its rows' masks */
    #pragma omp parallel for simd if (t->n > PAR_MIN)
    for (int64_t i = 0; i < t->n; i++) y[i] = ng_hash24(seed, stream, off + (uint64_t)i) < thr ? 0.0f : x[i] * scale;
}

static void dropout_backward(ng_graph *g, ng_tensor *t) {
    float *dx = t->src[0]->grad;
    if (!dx) return;
    if (!g->training) { for (int64_t i = 0; i < t->n; i++) dx[i] += t->grad[i]; return; }
    const float p = t->farg[0], scale = 1.0f / (1.0f - p);
    const uint64_t seed = g->drop_seed, stream = ng_drop_stream(g, t);
    const uint32_t thr = ng_drop_threshold(p);
    const float *dy = t->grad;
    /* a dropped element adds -0, which leaves every dx bit-identical (even a -0) */
    const uint64_t off = (uint64_t)g->drop_row0 * (uint64_t)(t->n / t->ne[0]);
    #pragma omp parallel for simd if (t->n > PAR_MIN)
    for (int64_t i = 0; i < t->n; i++) dx[i] += ng_hash24(seed, stream, off + (uint64_t)i) < thr ? -0.0f : dy[i] * scale;
}

static void sum_forward(ng_graph *g, ng_tensor *t) {
    (void)g;
    double s = 0;
    for (int64_t i = 0; i < t->src[0]->n; i++) s += t->src[0]->data[i];
    t->data[0] = (float)s;
}

static void sum_backward(ng_graph *g, ng_tensor *t) {
    (void)g;
    ng_tensor *x = t->src[0];
    if (x->grad) for (int64_t i = 0; i < x->n; i++) x->grad[i] += t->grad[0];
}

static void mean_forward(ng_graph *g, ng_tensor *t) {
    sum_forward(g, t);
    t->data[0] /= (float)t->src[0]->n;
}

static void mean_backward(ng_graph *g, ng_tensor *t) {
    (void)g;
    ng_tensor *x = t->src[0];
    float d = t->grad[0] / (float)x->n;
    if (x->grad) for (int64_t i = 0; i < x->n; i++) x->grad[i] += d;
}

/* ---------------------------------------------------------------- the ops: definitions and builders */

static const ng_op_def embedding_op = {"embedding", embedding_forward, embedding_backward};   /* y[i,:] = table[idx[i],:]; src0 = table (V,C), src1 = idx (i32) */
static const ng_op_def add_op = {"add", add_forward, add_backward};   /* y = a + b; b may broadcast over a's leading dims (b.n divides a.n) */
static const ng_op_def mul_op = {"mul", mul_forward, mul_backward};   /* y = a * b elementwise, same shape */
static const ng_op_def scale_op = {"scale", scale_forward, scale_backward};   /* y = farg[0] * a */
static const ng_op_def gelu_op = {"gelu", gelu_forward, gelu_backward};   /* tanh approximation */
static const ng_op_def gelu_exact_op = {"gelu_exact", gelu_exact_forward, gelu_exact_backward};   /* erf */
static const ng_op_def relu_op = {"relu", relu_forward, relu_backward};
static const ng_op_def dropout_op = {"dropout", dropout_forward, dropout_backward};   /* farg[0]=p, inverted dropout, identity when the graph is not training */
static const ng_op_def sum_op = {"sum", sum_forward, sum_backward};   /* scalar sum of all elements */
static const ng_op_def mean_op = {"mean", mean_forward, mean_backward};   /* scalar mean of all elements */

ng_tensor *ng_embedding(ng_graph *g, ng_tensor *table, ng_tensor *idx) {
    NG_NEED(table && idx && table->data && idx->idata);
    if (table->ndim != 2 || idx->ndim < 1 || idx->ndim > NG_MAX_DIMS - 1) return ng__shape_error("embedding", table, idx);
    int64_t ne[NG_MAX_DIMS];
    memcpy(ne, idx->ne, sizeof ne);
    ne[idx->ndim] = table->ne[1];
    return ng__op_node3(g, &embedding_op, idx->ndim + 1, ne, table, idx, NULL);
}
ng_tensor *ng_add(ng_graph *g, ng_tensor *a, ng_tensor *b) {
    NG_NEED(a && b && a->data && b->data);
    /* b broadcasts over a's leading dims: its shape must be a suffix of a's */
    if (b->ndim > a->ndim) return ng__shape_error("add", a, b);
    for (int i = 0; i < b->ndim; i++)
        if (b->ne[b->ndim - 1 - i] != a->ne[a->ndim - 1 - i]) return ng__shape_error("add", a, b);
    return ng__op_node3(g, &add_op, a->ndim, a->ne, a, b, NULL);
}
ng_tensor *ng_mul(ng_graph *g, ng_tensor *a, ng_tensor *b) {
    NG_NEED(a && b && a->data && b->data);
    if (!ng__same_shape(a, b)) return ng__shape_error("mul", a, b);
    return ng__op_node3(g, &mul_op, a->ndim, a->ne, a, b, NULL);
}
ng_tensor *ng_scale(ng_graph *g, ng_tensor *a, float s) {
    NG_NEED(a && a->data);
    ng_tensor *t = ng__op_node3(g, &scale_op, a->ndim, a->ne, a, NULL, NULL);
    if (t) t->farg[0] = s;
    return t;
}
ng_tensor *ng_gelu(ng_graph *g, ng_tensor *x) {
    NG_NEED(x && x->data);
    return ng__op_node3(g, &gelu_op, x->ndim, x->ne, x, NULL, NULL);
}
ng_tensor *ng_gelu_exact(ng_graph *g, ng_tensor *x) {
    NG_NEED(x && x->data);
    return ng__op_node3(g, &gelu_exact_op, x->ndim, x->ne, x, NULL, NULL);
}
ng_tensor *ng_relu(ng_graph *g, ng_tensor *x) {
    NG_NEED(x && x->data);
    return ng__op_node3(g, &relu_op, x->ndim, x->ne, x, NULL, NULL);
}
ng_tensor *ng_dropout(ng_graph *g, ng_tensor *x, float p) {
    NG_NEED(x && x->data);
    if (p < 0 || p >= 1) { ng_set_error("dropout: p=%g outside [0, 1)", p); return NULL; }
    if (p == 0) return x;   /* identity: no node, no copy */
    ng_tensor *t = ng__op_node3(g, &dropout_op, x->ndim, x->ne, x, NULL, NULL);
    if (t) t->farg[0] = p;
    return t;
}
ng_tensor *ng_sum(ng_graph *g, ng_tensor *x) {
    NG_NEED(x && x->data);
    return ng__op_node3(g, &sum_op, 0, NULL, x, NULL, NULL);
}
ng_tensor *ng_mean(ng_graph *g, ng_tensor *x) {
    NG_NEED(x && x->data);
    return ng__op_node3(g, &mean_op, 0, NULL, x, NULL, NULL);
}

/* activations.c - LeakyReLU, sigmoid and tanh: one flat loop each, vectorised (fastmath.h's
 * exp), threaded when large. Sigmoid and tanh backward use the saved output. */
#include "graph/graph_internal.h"
#include "ops/kernels/fastmath.h"

#include <math.h>

#define PAR_MIN 65536  /* below this many elements a loop stays on one thread */

/* tanh, branch-free so loops vectorise (Cephes' tanhf): an odd polynomial for |x| < 0.625,
 * else 1 - 2/(e^{2|x|} + 1) with the sign of x. ng_expf clamps, so large |x| gives +-1. */
static inline float tanh_f(float x) {
    float z = x < 0 ? -x : x;
    float e = ng_expf(2.0f * z);
    float big = 1.0f - 2.0f / (e + 1.0f);
    big = x < 0 ? -big : big;
    float q = x * x;
    float small = ((((-5.70498872745e-3f * q + 2.06390887954e-2f) * q - 5.37397155531e-2f) * q + 1.33314422036e-1f) * q
                   - 3.33332819422e-1f) * q * x + x;
    return z < 0.625f ? small : big;
}

/* y = x > 0 ? x : slope x (farg[0] = slope) */
static void leaky_relu_forward(ng_graph *g, ng_tensor *t) {
    (void)g;
    const float *x = t->src[0]->data, a = t->farg[0];
    float *y = t->data;
    #pragma omp parallel for simd if (t->n > PAR_MIN)
    for (int64_t i = 0; i < t->n; i++) y[i] = x[i] > 0 ? x[i] : a * x[i];
}

static void leaky_relu_backward(ng_graph *g, ng_tensor *t) {
    (void)g;
    const float *x = t->src[0]->data, *dy = t->grad, a = t->farg[0];
    float *dx = t->src[0]->grad;
    if (!dx) return;
    #pragma omp parallel for simd if (t->n > PAR_MIN)
    for (int64_t i = 0; i < t->n; i++) dx[i] += x[i] > 0 ? dy[i] : a * dy[i];
}

static void sigmoid_forward(ng_graph *g, ng_tensor *t) {
    (void)g;
    const float *x = t->src[0]->data;
    float *y = t->data;
    #pragma omp parallel for simd if (t->n > PAR_MIN)
    for (int64_t i = 0; i < t->n; i++) y[i] = ng_sigmoidf(x[i]);
}

/* dx += dy y (1 - y) */
static void sigmoid_backward(ng_graph *g, ng_tensor *t) {
    (void)g;
    const float *y = t->data, *dy = t->grad;
    float *dx = t->src[0]->grad;
    if (!dx) return;
    #pragma omp parallel for simd if (t->n > PAR_MIN)
    for (int64_t i = 0; i < t->n; i++) dx[i] += dy[i] * y[i] * (1.0f - y[i]);
}

static void tanh_forward(ng_graph *g, ng_tensor *t) {
    (void)g;
    const float *x = t->src[0]->data;
    float *y = t->data;
    #pragma omp parallel for simd if (t->n > PAR_MIN)
    for (int64_t i = 0; i < t->n; i++) y[i] = tanh_f(x[i]);
}

/* dx += dy (1 - y^2) */
static void tanh_backward(ng_graph *g, ng_tensor *t) {
    (void)g;
    const float *y = t->data, *dy = t->grad;
    float *dx = t->src[0]->grad;
    if (!dx) return;
    #pragma omp parallel for simd if (t->n > PAR_MIN)
    for (int64_t i = 0; i < t->n; i++) dx[i] += dy[i] * (1.0f - y[i] * y[i]);
}

/* ---------------------------------------------------------------- the ops: definitions and builders */

static const ng_op_def leaky_relu_op = {"leaky_relu", leaky_relu_forward, leaky_relu_backward};   /* farg[0] = negative slope */
static const ng_op_def sigmoid_op = {"sigmoid", sigmoid_forward, sigmoid_backward};
static const ng_op_def tanh_op = {"tanh", tanh_forward, tanh_backward};

ng_tensor *ng_leaky_relu(ng_graph *g, ng_tensor *x, float slope) {
    NG_NEED(ng__is_f32(x));
    if (!isfinite(slope)) { ng_set_error("leaky_relu: slope %g is not finite", slope); return NULL; }
    ng_tensor *src[1] = {x};
    ng_tensor *t = ng__op_node(g, &leaky_relu_op, x->ndim, x->ne, src, 1);
    if (t) t->farg[0] = slope;
    return t;
}
ng_tensor *ng_sigmoid(ng_graph *g, ng_tensor *x) {
    NG_NEED(ng__is_f32(x));
    ng_tensor *src[1] = {x};
    return ng__op_node(g, &sigmoid_op, x->ndim, x->ne, src, 1);
}
ng_tensor *ng_tanh(ng_graph *g, ng_tensor *x) {
    NG_NEED(ng__is_f32(x));
    ng_tensor *src[1] = {x};
    return ng__op_node(g, &tanh_op, x->ndim, x->ne, src, 1);
}

/* pool.c - max and average pooling over k x k windows with a stride, no padding (PyTorch's
 * max_pool2d / avg_pool2d with padding 0, floor mode): Ho = (H - k) / stride + 1.
 * Max pooling keeps the index of each window's maximum (first one on ties; NaN wins, as in
 * PyTorch) in t->aux as int32, and backward routes the gradient there.
 * iarg: [0] k, [1] stride. Threads own (image, channel) planes, so overlapping windows
 * (k > stride) never race in backward. */
#include "graph/graph_internal.h"

#include <stdint.h>

#define PAR_MIN 32768

static void maxpool2d_forward(ng_graph *g, ng_tensor *t) {
    (void)g;
    const ng_tensor *x = t->src[0];
    const int k = t->iarg[0], s = t->iarg[1];
    const int64_t planes = x->ne[0] * x->ne[1], H = x->ne[2], W = x->ne[3], Ho = t->ne[2], Wo = t->ne[3];
    int32_t *arg = (int32_t *)t->aux;
    #pragma omp parallel for schedule(static) if (x->n > PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x->data + pl * H * W;
        float *yp = t->data + pl * Ho * Wo;
        int32_t *ap = arg + pl * Ho * Wo;
        for (int64_t oh = 0; oh < Ho; oh++)
            for (int64_t ow = 0; ow < Wo; ow++) {
                int64_t i0 = oh * s * W + ow * s, best_i = i0;
                float best = xp[i0];
                for (int ki = 0; ki < k; ki++)
                    for (int kj = 0; kj < k; kj++) {
                        int64_t i = i0 + ki * W + kj;
                        float v = xp[i];
                        if (v > best || (v != v && best == best)) { best = v; best_i = i; }
                    }
                yp[oh * Wo + ow] = best;
                ap[oh * Wo + ow] = (int32_t)best_i;
            }
    }
}

static void maxpool2d_backward(ng_graph *g, ng_tensor *t) {
    (void)g;
    ng_tensor *x = t->src[0];
    if (!x->grad) return;
    const int64_t planes = x->ne[0] * x->ne[1], HW = x->ne[2] * x->ne[3], P = t->ne[2] * t->ne[3];
    const int32_t *arg = (const int32_t *)t->aux;
    #pragma omp parallel for schedule(static) if (x->n > PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        float *dx = x->grad + pl * HW;
        const float *dy = t->grad + pl * P;
        const int32_t *ap = arg + pl * P;
        for (int64_t i = 0; i < P; i++) dx[ap[i]] += dy[i];
    }
}

static void avgpool2d_forward(ng_graph *g, ng_tensor *t) {
    (void)g;
    const ng_tensor *x = t->src[0];
    const int k = t->iarg[0], s = t->iarg[1];
    const int64_t planes = x->ne[0] * x->ne[1], H = x->ne[2], W = x->ne[3], Ho = t->ne[2], Wo = t->ne[3];
    const float inv = 1.0f / (float)(k * k);
    #pragma omp parallel for schedule(static) if (x->n > PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *xp = x->data + pl * H * W;
        float *yp = t->data + pl * Ho * Wo;
        for (int64_t oh = 0; oh < Ho; oh++)
            for (int64_t ow = 0; ow < Wo; ow++) {
                const float *w0 = xp + oh * s * W + ow * s;
                float acc = 0;
                for (int ki = 0; ki < k; ki++)
                    for (int kj = 0; kj < k; kj++) acc += w0[ki * W + kj];
                yp[oh * Wo + ow] = acc * inv;
            }
    }
}

static void avgpool2d_backward(ng_graph *g, ng_tensor *t) {
    (void)g;
    ng_tensor *x = t->src[0];
    if (!x->grad) return;
    const int k = t->iarg[0], s = t->iarg[1];
    const int64_t planes = x->ne[0] * x->ne[1], H = x->ne[2], W = x->ne[3], Ho = t->ne[2], Wo = t->ne[3];
    const float inv = 1.0f / (float)(k * k);
    #pragma omp parallel for schedule(static) if (x->n > PAR_MIN)
    for (int64_t pl = 0; pl < planes; pl++) {
        float *dx = x->grad + pl * H * W;
        const float *dy = t->grad + pl * Ho * Wo;
        for (int64_t oh = 0; oh < Ho; oh++)
            for (int64_t ow = 0; ow < Wo; ow++) {
                float d = dy[oh * Wo + ow] * inv;
                float *w0 = dx + oh * s * W + ow * s;
                for (int ki = 0; ki < k; ki++)
                    for (int kj = 0; kj < k; kj++) w0[ki * W + kj] += d;
            }
    }
}

/* ---------------------------------------------------------------- the ops: definitions and builders */

static const ng_op_def maxpool2d_op = {"maxpool2d", maxpool2d_forward, maxpool2d_backward};   /* (N,C,H,W) -> (N,C,H/s,W/s) windows k x k, iarg[0]=k, iarg[1]=stride */
static const ng_op_def avgpool2d_op = {"avgpool2d", avgpool2d_forward, avgpool2d_backward};

static ng_tensor *pool(ng_graph *g, const ng_op_def *op, const char *name, ng_tensor *x, int k, int stride) {
    if (x->ndim != 4) { ng__shape_error(name, x, NULL); ng_set_error("%s (x must be (N,C,H,W))", ng_last_error()); return NULL; }
    if (k <= 0 || stride <= 0) { ng_set_error("%s: window %d and stride %d must be >= 1", name, k, stride); return NULL; }
    int64_t H = x->ne[2], W = x->ne[3];
    if (k > H || k > W) {
        ng_set_error("%s: window %dx%d larger than the input %lldx%lld (%s)", name, k, k, (long long)H, (long long)W, x->name);
        return NULL;
    }
    if (H * W > INT32_MAX) { ng_set_error("%s: planes of %lld pixels are too large", name, (long long)(H * W)); return NULL; }
    int64_t ne[4] = {x->ne[0], x->ne[1], (H - k) / stride + 1, (W - k) / stride + 1};
    ng_tensor *src[1] = {x};
    ng_tensor *t = ng__op_node(g, op, 4, ne, src, 1);
    if (!t) return NULL;
    t->iarg[0] = k; t->iarg[1] = stride;
    /* max pooling: the argmax of each window, int32 in the float-sized aux slots */
    if (op == &maxpool2d_op && ng__set_aux(t, t->n)) return NULL;
    return t;
}
ng_tensor *ng_maxpool2d(ng_graph *g, ng_tensor *x, int k, int stride) {
    NG_NEED(ng__is_f32(x));
    return pool(g, &maxpool2d_op, "maxpool2d", x, k, stride);
}
ng_tensor *ng_avgpool2d(ng_graph *g, ng_tensor *x, int k, int stride) {
    NG_NEED(ng__is_f32(x));
    return pool(g, &avgpool2d_op, "avgpool2d", x, k, stride);
}

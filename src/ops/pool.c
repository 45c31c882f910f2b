/* pool.c - max and average pooling over k x k windows with a stride, no padding (PyTorch's
 * max_pool2d / avg_pool2d with padding 0, floor mode): Ho = (H - k) / stride + 1.
 * Max pooling keeps the index of each window's maximum (first one on ties; NaN wins, as in
 * PyTorch) in t->aux as int32, and backward routes the gradient there.
 * iarg: [0] k, [1] stride. Threads own (image, channel) planes, so overlapping windows
 * (k > stride) never race in backward. */
#include "graph/graph_internal.h"

#include <stdint.h>

#define PAR_MIN 32768

void maxpool2d_forward(ng_graph *g, ng_tensor *t) {
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

void maxpool2d_backward(ng_graph *g, ng_tensor *t) {
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

void avgpool2d_forward(ng_graph *g, ng_tensor *t) {
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

void avgpool2d_backward(ng_graph *g, ng_tensor *t) {
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

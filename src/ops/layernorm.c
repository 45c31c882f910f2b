/* layernorm.c - LayerNorm over the last dimension, with weight and bias.
 * y = (x - mean) * rstd * w + b, rstd = 1/sqrt(var + eps); aux keeps mean and rstd per row. */
#include "graph_internal.h"
#include "kernels.h"

#include <math.h>

void ng_k_layernorm(float *out, float *mean, float *rstd, const float *x, const float *w, const float *b,
                    int64_t N, int64_t C, float eps) {
    #pragma omp parallel for if (N * C > 65536)
    for (int64_t i = 0; i < N; i++) {
        const float *xi = x + i * C;
        float *yi = out + i * C;
        float m = 0;
        for (int64_t j = 0; j < C; j++) m += xi[j];
        m /= (float)C;
        float v = 0;
        for (int64_t j = 0; j < C; j++) { float d = xi[j] - m; v += d * d; }
        v /= (float)C;
        float r = 1.0f / sqrtf(v + eps);
        for (int64_t j = 0; j < C; j++) yi[j] = (xi[j] - m) * r * w[j] + b[j];
        if (mean) mean[i] = m;
        if (rstd) rstd[i] = r;
    }
}

void layernorm_forward(ng_graph *g, ng_tensor *t) {
    (void)g;
    ng_tensor *x = t->src[0], *w = t->src[1], *b = t->src[2];
    int64_t N = ng_rows(x), C = ng_cols(x);
    ng_k_layernorm(t->data, t->aux, t->aux + N, x->data, w->data, b->data, N, C, t->farg[0]);
}

void layernorm_backward(ng_graph *g, ng_tensor *t) {
    (void)g;
    ng_tensor *x = t->src[0], *w = t->src[1], *b = t->src[2];
    int64_t N = ng_rows(x), C = ng_cols(x);
    const float *mean = t->aux, *rstd = t->aux + N, *dy = t->grad;
    if (x->grad) {
        #pragma omp parallel for if (N * C > 65536)
        for (int64_t i = 0; i < N; i++) {
            const float *xi = x->data + i * C, *dyi = dy + i * C;
            float m = mean[i], r = rstd[i], s1 = 0, s2 = 0;
            for (int64_t j = 0; j < C; j++) {
                float dxh = dyi[j] * w->data[j];
                s1 += dxh;
                s2 += dxh * (xi[j] - m) * r;
            }
            s1 /= (float)C; s2 /= (float)C;
            float *dxi = x->grad + i * C;
            for (int64_t j = 0; j < C; j++) {
                float xh = (xi[j] - m) * r;
                dxi[j] += r * (dyi[j] * w->data[j] - s1 - xh * s2);
            }
        }
    }
    if (w->grad || b->grad) {
        #pragma omp parallel for if (N * C > 65536)
        for (int64_t j = 0; j < C; j++) {
            float sw = 0, sb = 0;
            for (int64_t i = 0; i < N; i++) {
                float d = dy[i * C + j];
                sw += d * (x->data[i * C + j] - mean[i]) * rstd[i];
                sb += d;
            }
            if (w->grad) w->grad[j] += sw;
            if (b->grad) b->grad[j] += sb;
        }
    }
}

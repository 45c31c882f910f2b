/* layernorm.c - LayerNorm over the last dimension, with weight and bias (or a weight only:
 * nanoGPT's bias=False, b NULL). y = (x - mean) * rstd * w + b, rstd = 1/sqrt(var + eps); aux keeps mean and rstd per row. */
#include "graph/graph_internal.h"
#include "ops/kernels/kernels.h"

#include <math.h>

static inline void layernorm_row(float *restrict yi, float *mean, float *rstd, const float *restrict xi,
                                 const float *restrict w, const float *restrict b, int64_t C, float eps) {
    float m = 0;
    #pragma omp simd reduction(+ : m)
    for (int64_t j = 0; j < C; j++) m += xi[j];
    m /= (float)C;
    float v = 0;
    #pragma omp simd reduction(+ : v)
    for (int64_t j = 0; j < C; j++) { float d = xi[j] - m; v += d * d; }
    v /= (float)C;
    float r = 1.0f / sqrtf(v + eps);
    if (b) {
        #pragma omp simd
        for (int64_t j = 0; j < C; j++) yi[j] = (xi[j] - m) * r * w[j] + b[j];
    } else {
        #pragma omp simd
        for (int64_t j = 0; j < C; j++) yi[j] = (xi[j] - m) * r * w[j];
    }
    if (mean) *mean = m;
    if (rstd) *rstd = r;
}

void ng_k_layernorm(float *out, float *mean, float *rstd, const float *x, const float *w, const float *b,
                    int64_t N, int64_t C, float eps) {
    if (N * C > 65536) {
        #pragma omp parallel for
        for (int64_t i = 0; i < N; i++)
            layernorm_row(out + i * C, mean ? mean + i : NULL, rstd ? rstd + i : NULL, x + i * C, w, b, C, eps);
    } else {   /* a sampling step: no thread team */
        for (int64_t i = 0; i < N; i++)
            layernorm_row(out + i * C, mean ? mean + i : NULL, rstd ? rstd + i : NULL, x + i * C, w, b, C, eps);
    }
}

static void layernorm_forward(ng_graph *g, ng_tensor *t) {
    (void)g;
    ng_tensor *x = t->src[0], *w = t->src[1], *b = t->src[2];
    int64_t N = ng_rows(x), C = ng_cols(x);
    ng_k_layernorm(t->data, t->aux, t->aux + N, x->data, w->data, b ? b->data : NULL, N, C, t->farg[0]);
}

static void layernorm_backward(ng_graph *g, ng_tensor *t) {
    (void)g;
    ng_tensor *x = t->src[0], *w = t->src[1], *b = t->src[2];
    const int64_t N = ng_rows(x), C = ng_cols(x);
    const float *mean = t->aux, *rstd = t->aux + N, *dy = t->grad;
    const float *restrict wd = w->data, *restrict xd = x->data;
    if (x->grad) {
        #pragma omp parallel for if (N * C > 65536)
        for (int64_t i = 0; i < N; i++) {
            const float *restrict xi = xd + i * C, *restrict dyi = dy + i * C;
            const float m = mean[i], r = rstd[i];
            float s1 = 0, s2 = 0;
            #pragma omp simd reduction(+ : s1, s2)
            for (int64_t j = 0; j < C; j++) {
                float dxh = dyi[j] * wd[j];
                s1 += dxh;
                s2 += dxh * (xi[j] - m) * r;
            }
            s1 /= (float)C; s2 /= (float)C;
            float *restrict dxi = x->grad + i * C;
            #pragma omp simd
            for (int64_t j = 0; j < C; j++) {
                float xh = (xi[j] - m) * r;
                dxi[j] += r * (dyi[j] * wd[j] - s1 - xh * s2);
            }
        }
    }
    float *bgrad = b ? b->grad : NULL;
    if (w->grad || bgrad) {
        /* column sums read row by row; threads split the columns in blocks of 64 (each sum runs
         * over the rows in order, whatever the thread count) */
        const int64_t nblk = (C + 63) / 64;
        #pragma omp parallel for schedule(static) if (N * C > 65536)
        for (int64_t blk = 0; blk < nblk; blk++) {
            const int64_t j0 = blk * 64, wdt = C - j0 < 64 ? C - j0 : 64;
            float sw[64], sb[64];
            for (int64_t j = 0; j < wdt; j++) { sw[j] = 0; sb[j] = 0; }
            for (int64_t i = 0; i < N; i++) {
                const float *restrict d = dy + i * C + j0, *restrict xi = xd + i * C + j0;
                const float m = mean[i], r = rstd[i];
                #pragma omp simd
                for (int64_t j = 0; j < wdt; j++) { sw[j] += d[j] * (xi[j] - m) * r; sb[j] += d[j]; }
            }
            for (int64_t j = 0; j < wdt; j++) {
                if (w->grad) w->grad[j0 + j] += sw[j];
                if (bgrad) bgrad[j0 + j] += sb[j];
            }
        }
    }
}

/* ---------------------------------------------------------------- the op: definition and builder */

static const ng_op_def layernorm_op = {"layernorm", layernorm_forward, layernorm_backward};   /* over the last dim; src1 = weight, src2 = bias; farg[0] = eps */

ng_tensor *ng_layernorm(ng_graph *g, ng_tensor *x, ng_tensor *w, ng_tensor *b, float eps) {
    NG_NEED(x && w && x->data);
    int64_t C = ng_cols(x);
    if (w->ndim != 1 || w->ne[0] != C) return ng__shape_error("layernorm weight", x, w);
    if (b && (b->ndim != 1 || b->ne[0] != C)) return ng__shape_error("layernorm bias", x, b);
    ng_tensor *t = ng__op_node3(g, &layernorm_op, x->ndim, x->ne, x, w, b);
    if (t) { t->farg[0] = eps; if (ng__set_aux(t, 2 * ng_rows(x))) return NULL; }
    return t;
}

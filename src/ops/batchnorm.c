/* batchnorm.c - BatchNorm over x (N,C) or (N,C,H,W), PyTorch's BatchNorm1d/2d.
 * Training: per-channel batch mean and biased variance normalise x; the running statistics
 * (src3, src4) become (1-momentum) r + momentum stat, with the UNBIASED variance (M/(M-1),
 * M = N*H*W values per channel). Eval: the running statistics normalise x.
 * y = (x - mean) rstd w + b, rstd = 1/sqrt(var + eps); w (src1) and b (src2) may be NULL
 * (weight 1, bias 0). farg: [0] eps, [1] momentum.
 * aux: mean (C), rstd (C), [2C] = 1 if the last forward used batch statistics, then scratch
 * of 2C doubles for the (N,C) layout. Running statistics never receive a gradient. */
#include "graph/graph_internal.h"

#include <math.h>

#define PAR_MIN 32768
#define CBLOCK 256      /* channels per thread task in the (N,C) layout */

typedef struct {
    int64_t N, C, HW, M;
    const float *x, *w, *b;
    float *mean, *rstd;
    double *scratch;
} bn_view;

static bn_view view_of(ng_tensor *t) {
    const ng_tensor *x = t->src[0];
    bn_view v;
    v.N = x->ne[0]; v.C = x->ne[1]; v.HW = x->n / (v.N * v.C); v.M = v.N * v.HW;
    v.x = x->data;
    v.w = t->src[1] ? t->src[1]->data : NULL;
    v.b = t->src[2] ? t->src[2]->data : NULL;
    v.mean = t->aux; v.rstd = t->aux + v.C;
    v.scratch = (double *)(t->aux + 2 * v.C + 2);
    return v;
}

/* Batch statistics into mean/rstd and the running update of channel range [c0, c1). */
static void batch_stats(const bn_view *v, int64_t c0, int64_t c1, float eps, float mom, float *rm, float *rv) {
    const int64_t C = v->C, HW = v->HW, M = v->M;
    if (HW == 1) {   /* (N,C): rows are contiguous over channels */
        double *s = v->scratch, *q = v->scratch + C;
        for (int64_t c = c0; c < c1; c++) s[c] = q[c] = 0;
        for (int64_t n = 0; n < v->N; n++) {
            const float *xr = v->x + n * C;
            #pragma omp simd
            for (int64_t c = c0; c < c1; c++) s[c] += xr[c];
        }
        for (int64_t c = c0; c < c1; c++) v->mean[c] = (float)(s[c] / (double)M);
        for (int64_t n = 0; n < v->N; n++) {
            const float *xr = v->x + n * C;
            #pragma omp simd
            for (int64_t c = c0; c < c1; c++) { float d = xr[c] - v->mean[c]; q[c] += (double)(d * d); }
        }
        for (int64_t c = c0; c < c1; c++) {
            double var = q[c] / (double)M;
            v->rstd[c] = (float)(1.0 / sqrt(var + (double)eps));
            rm[c] = (1.0f - mom) * rm[c] + mom * v->mean[c];
            rv[c] = (1.0f - mom) * rv[c] + mom * (float)(M > 1 ? var * (double)M / (double)(M - 1) : var);
        }
        return;
    }
    for (int64_t c = c0; c < c1; c++) {
        double s = 0, q = 0;
        for (int64_t n = 0; n < v->N; n++) {
            const float *xp = v->x + (n * C + c) * HW;
            float ps = 0;
            #pragma omp simd reduction(+:ps)
            for (int64_t j = 0; j < HW; j++) ps += xp[j];
            s += ps;
        }
        float m = (float)(s / (double)M);
        for (int64_t n = 0; n < v->N; n++) {
            const float *xp = v->x + (n * C + c) * HW;
            float pq = 0;
            #pragma omp simd reduction(+:pq)
            for (int64_t j = 0; j < HW; j++) { float d = xp[j] - m; pq += d * d; }
            q += pq;
        }
        double var = q / (double)M;
        v->mean[c] = m;
        v->rstd[c] = (float)(1.0 / sqrt(var + (double)eps));
        rm[c] = (1.0f - mom) * rm[c] + mom * m;
        rv[c] = (1.0f - mom) * rv[c] + mom * (float)(M > 1 ? var * (double)M / (double)(M - 1) : var);
    }
}

/* y = x a[c] + d[c] with a = rstd w, d = b - mean a, over channels [c0, c1) */
static void normalise(const bn_view *v, float *y, int64_t c0, int64_t c1) {
    const int64_t C = v->C, HW = v->HW;
    if (HW == 1) {
        for (int64_t n = 0; n < v->N; n++) {
            const float *xr = v->x + n * C;
            float *yr = y + n * C;
            #pragma omp simd
            for (int64_t c = c0; c < c1; c++) {
                float a = v->rstd[c] * (v->w ? v->w[c] : 1.0f);
                yr[c] = (xr[c] - v->mean[c]) * a + (v->b ? v->b[c] : 0.0f);
            }
        }
        return;
    }
    for (int64_t c = c0; c < c1; c++) {
        float a = v->rstd[c] * (v->w ? v->w[c] : 1.0f), d = (v->b ? v->b[c] : 0.0f) - v->mean[c] * a;
        for (int64_t n = 0; n < v->N; n++) {
            const float *xp = v->x + (n * C + c) * HW;
            float *yp = y + (n * C + c) * HW;
            #pragma omp simd
            for (int64_t j = 0; j < HW; j++) yp[j] = xp[j] * a + d;
        }
    }
}

static void batchnorm_forward(ng_graph *g, ng_tensor *t) {
    bn_view v = view_of(t);
    float *rm = t->src[3]->data, *rv = t->src[4]->data, eps = t->farg[0], mom = t->farg[1];
    const int training = g->training;
    t->aux[2 * v.C] = training ? 1.0f : 0.0f;
    const int64_t step = v.HW == 1 ? CBLOCK : 1, nblk = (v.C + step - 1) / step;
    #pragma omp parallel for schedule(static) if (v.N * v.C * v.HW > PAR_MIN)
    for (int64_t bk = 0; bk < nblk; bk++) {
        int64_t c0 = bk * step, c1 = c0 + step < v.C ? c0 + step : v.C;
        if (training) {
            batch_stats(&v, c0, c1, eps, mom, rm, rv);
        } else {
            for (int64_t c = c0; c < c1; c++) { v.mean[c] = rm[c]; v.rstd[c] = 1.0f / sqrtf(rv[c] + eps); }
        }
        normalise(&v, t->data, c0, c1);
    }
}

/* With xh = (x - mean) rstd: db += sum dy, dw += sum dy xh, and
 * training: dx += w rstd (dy - mean(dy) - xh mean(dy xh));  eval: dx += w rstd dy. */
static void batchnorm_backward(ng_graph *g, ng_tensor *t) {
    (void)g;
    bn_view v = view_of(t);
    ng_tensor *x = t->src[0], *w = t->src[1], *b = t->src[2];
    float *dx = x->grad, *dw = w ? w->grad : NULL, *db = b ? b->grad : NULL;
    const float *dy = t->grad;
    const int training = t->aux[2 * v.C] != 0.0f;
    const int64_t C = v.C, HW = v.HW, step = HW == 1 ? CBLOCK : 1, nblk = (C + step - 1) / step;
    const double invM = 1.0 / (double)v.M;
    #pragma omp parallel for schedule(static) if (v.N * v.C * v.HW > PAR_MIN)
    for (int64_t bk = 0; bk < nblk; bk++) {
        int64_t c0 = bk * step, c1 = c0 + step < C ? c0 + step : C;
        if (HW == 1) {
            double *s1 = v.scratch, *s2 = v.scratch + C;
            for (int64_t c = c0; c < c1; c++) s1[c] = s2[c] = 0;
            for (int64_t n = 0; n < v.N; n++) {
                const float *xr = v.x + n * C, *dr = dy + n * C;
                #pragma omp simd
                for (int64_t c = c0; c < c1; c++) {
                    s1[c] += dr[c];
                    s2[c] += (double)(dr[c] * (xr[c] - v.mean[c]) * v.rstd[c]);
                }
            }
            for (int64_t c = c0; c < c1; c++) {
                if (dw) dw[c] += (float)s2[c];
                if (db) db[c] += (float)s1[c];
            }
            if (!dx) continue;
            for (int64_t n = 0; n < v.N; n++) {
                const float *xr = v.x + n * C, *dr = dy + n * C;
                float *gr = dx + n * C;
                #pragma omp simd
                for (int64_t c = c0; c < c1; c++) {
                    float a = v.rstd[c] * (v.w ? v.w[c] : 1.0f);
                    float m1 = training ? (float)(s1[c] * invM) : 0.0f, m2 = training ? (float)(s2[c] * invM) : 0.0f;
                    float xh = (xr[c] - v.mean[c]) * v.rstd[c];
                    gr[c] += a * (dr[c] - m1 - xh * m2);
                }
            }
            continue;
        }
        for (int64_t c = c0; c < c1; c++) {
            const float m = v.mean[c], r = v.rstd[c];
            double s1 = 0, s2 = 0;
            for (int64_t n = 0; n < v.N; n++) {
                const float *xp = v.x + (n * C + c) * HW, *dp = dy + (n * C + c) * HW;
                float p1 = 0, p2 = 0;
                #pragma omp simd reduction(+:p1, p2)
                for (int64_t j = 0; j < HW; j++) { p1 += dp[j]; p2 += dp[j] * (xp[j] - m); }
                s1 += p1; s2 += p2;
            }
            s2 *= r;   /* sum dy xh */
            if (dw) dw[c] += (float)s2;
            if (db) db[c] += (float)s1;
            if (!dx) continue;
            const float a = r * (v.w ? v.w[c] : 1.0f);
            const float m1 = training ? (float)(s1 * invM) : 0.0f, m2 = training ? (float)(s2 * invM) : 0.0f;
            for (int64_t n = 0; n < v.N; n++) {
                const float *xp = v.x + (n * C + c) * HW, *dp = dy + (n * C + c) * HW;
                float *gp = dx + (n * C + c) * HW;
                #pragma omp simd
                for (int64_t j = 0; j < HW; j++) gp[j] += a * (dp[j] - m1 - (xp[j] - m) * r * m2);
            }
        }
    }
}

/* ---------------------------------------------------------------- the op: definition and builder */

static const ng_op_def batchnorm_op = {"batchnorm", batchnorm_forward, batchnorm_backward};

/* w and b may be NULL (no affine transform); running_mean and running_var are required and
 * are updated in place by training-mode forwards. Only x, w and b decide whether a gradient
 * flows: the running statistics are buffers, whatever their requires_grad says. (Training
 * with a single value per channel, which PyTorch refuses, normalises to b and takes 0 as the
 * variance for the running update.) */
ng_tensor *ng_batchnorm(ng_graph *g, ng_tensor *x, ng_tensor *w, ng_tensor *b, ng_tensor *running_mean,
                        ng_tensor *running_var, float eps, float momentum) {
    NG_NEED(ng__is_f32(x) && ng__is_f32(running_mean) && ng__is_f32(running_var));
    if (x->ndim != 2 && x->ndim != 4) {
        ng__shape_error("batchnorm", x, NULL);
        ng_set_error("%s (x must be (N,C) or (N,C,H,W))", ng_last_error());
        return NULL;
    }
    const int64_t C = x->ne[1];
    ng_tensor *chk[4] = {w, b, running_mean, running_var};
    const char *what[4] = {"weight", "bias", "running_mean", "running_var"};
    for (int i = 0; i < 4; i++) {
        if (!chk[i]) continue;
        if (!ng__is_f32(chk[i]) || chk[i]->ndim != 1 || chk[i]->ne[0] != C) {
            ng__shape_error("batchnorm", x, chk[i]);
            ng_set_error("%s (%s must be (C) = (%lld))", ng_last_error(), what[i], (long long)C);
            return NULL;
        }
    }
    if (!(eps >= 0) || !(momentum >= 0 && momentum <= 1)) {
        ng_set_error("batchnorm: eps %g must be >= 0 and momentum %g in [0, 1]", eps, momentum);
        return NULL;
    }
    ng_tensor *src[5] = {x, w, b, running_mean, running_var};
    ng_tensor *t = ng__op_node(g, &batchnorm_op, x->ndim, x->ne, src, 5);
    if (!t) return NULL;
    t->requires_grad = x->requires_grad || (w && w->requires_grad) || (b && b->requires_grad);
    t->farg[0] = eps; t->farg[1] = momentum;
    /* mean (C), rstd (C), mode flag + pad (2), scratch of 2C doubles */
    if (ng__set_aux(t, 2 * C + 2 + 4 * C)) return NULL;
    return t;
}

/* optim.c - AdamW (PyTorch's formulation) over the flat parameter block, the learning-rate
 * schedule (linear warmup, cosine decay to min_lr) and global-norm gradient clipping. */
#include "core/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct ng_adamw {
    ng_params *P;
    ng_adamw_cfg cfg;
    float *m, *v;
    float *wd_mask;   /* per float: weight decay factor (1 for decayed tensors, else 0) */
    int64_t t;
};

ng_adamw *ng_adamw_new(ng_params *P, const ng_adamw_cfg *cfg) {
    ng_adamw *o = calloc(1, sizeof *o);
    if (!o) { ng_set_error("out of memory creating the optimizer"); return NULL; }
    o->P = P; o->cfg = *cfg;
    int64_t n = ng_params_total(P);
    o->m = ng_alloc_aligned((size_t)n * sizeof(float), "AdamW first moments");
    o->v = ng_alloc_aligned((size_t)n * sizeof(float), "AdamW second moments");
    o->wd_mask = ng_alloc_aligned((size_t)n * sizeof(float), "AdamW decay mask");
    if (!o->m || !o->v || !o->wd_mask) { ng_adamw_free(o); return NULL; }
    float *base = ng_params_data(P);
    for (int i = 0; i < ng_params_count(P); i++) {
        ng_tensor *t = ng_params_get(P, i);
        if (!ng_params_decays(P, i)) continue;
        int64_t off = t->data - base;
        for (int64_t j = 0; j < t->n; j++) o->wd_mask[off + j] = 1.0f;
    }
    return o;
}

void ng_adamw_free(ng_adamw *o) {
    if (!o) return;
    ng_free_aligned(o->m); ng_free_aligned(o->v); ng_free_aligned(o->wd_mask);
    free(o);
}

float ng_lr_schedule(const ng_adamw_cfg *c, int step) {
    if (step < c->warmup) return c->lr * (float)(step + 1) / (float)c->warmup;
    int span = c->steps - c->warmup;
    double r = (double)(step - c->warmup) / (double)(span > 1 ? span : 1);
    if (r > 1) r = 1;
    return (float)(c->min_lr + 0.5 * (1.0 + cos(M_PI * r)) * (c->lr - c->min_lr));
}

/* sum of x[i]^2 in double over fixed blocks (at most 1024, a function of n only) added in
 * order: the same bits whatever the thread count */
static double sum_squares(const float *restrict x, int64_t n) {
    enum { MAX_BLOCKS = 1024 };
    double part[MAX_BLOCKS];
    int64_t nblk = (n + 4095) / 4096;
    if (nblk > MAX_BLOCKS) nblk = MAX_BLOCKS;
    if (nblk < 1) return 0;
    const int64_t per = (n + nblk - 1) / nblk;
    #pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t b = 0; b < nblk; b++) {
        const int64_t lo = b * per, hi = lo + per < n ? lo + per : n;
        double s = 0;
        #pragma omp simd reduction(+ : s)
        for (int64_t i = lo; i < hi; i++) s += (double)x[i] * x[i];
        part[b] = s;
    }
    double ss = 0;
    for (int64_t b = 0; b < nblk; b++) ss += part[b];
    return ss;
}

float ng_adamw_step(ng_adamw *o, float lr) {
    const int64_t n = ng_params_total(o->P);
    float *restrict p = ng_params_data(o->P), *restrict g = ng_params_grad(o->P), *restrict m = o->m, *restrict v = o->v;
    const float *restrict wd = o->wd_mask;
    float norm = (float)sqrt(sum_squares(g, n));
    if (!isfinite(norm)) return norm;   /* NaN/Inf gradient (or a norm beyond float): no update */
    float clip = 1.0f;
    if (o->cfg.grad_clip > 0 && norm > o->cfg.grad_clip) clip = o->cfg.grad_clip / (norm + 1e-6f);
    o->t++;
    const float b1 = o->cfg.beta1, b2 = o->cfg.beta2, eps = o->cfg.eps;
    const float bc1 = 1.0f - powf(b1, (float)o->t), bc2 = 1.0f - powf(b2, (float)o->t);
    const float step_size = lr / bc1, bc2_sqrt = sqrtf(bc2), decay = lr * o->cfg.weight_decay;
    /* one pass, SIMD: moments, decoupled decay, step, and the gradient zeroed for the next step */
    #pragma omp parallel for simd if (n > 65536)
    for (int64_t i = 0; i < n; i++) {
        float gi = g[i] * clip;
        float mi = b1 * m[i] + (1.0f - b1) * gi;
        float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
        float pi = p[i] - decay * wd[i] * p[i];
        p[i] = pi - step_size * mi / (sqrtf(vi) / bc2_sqrt + eps);
        m[i] = mi; v[i] = vi;
        g[i] = 0.0f;
    }
    return norm;
}

float *ng_adamw_m(ng_adamw *o) { return o->m; }
float *ng_adamw_v(ng_adamw *o) { return o->v; }
int64_t ng_adamw_t(const ng_adamw *o) { return o->t; }
void ng_adamw_set_t(ng_adamw *o, int64_t t) { o->t = t; }

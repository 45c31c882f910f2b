/* losses.c - binary cross-entropy with logits, squared error, the Gaussian KL term of a VAE,
 * and the reparameterisation z = mu + exp(logvar/2) eps.
 *
 * Scalar losses reduce deterministically: fixed blocks of BLOCK elements are summed (in
 * double) in parallel into t->aux, then the blocks are added in order, so the value does not
 * depend on the number of threads. iarg[0] = the reduction (NG_MEAN / NG_SUM). */
#include "graph/graph_internal.h"
#include "ops/kernels/fastmath.h"
#include "ops/image_ref.h"

#include <math.h>
#include <stdint.h>

#define PAR_MIN 65536
#define BLOCK NG_LOSS_BLOCK

static int64_t ng__loss_blocks(int64_t n) { return (n + BLOCK - 1) / BLOCK; }

/* log(w) for w in [1, 2] (Cephes' logf: w = 2^e m, m in [sqrt(1/2), sqrt(2)), a polynomial
 * in m - 1), branch-free. */
static inline float log_1_2(float w) {
    int hi = w > 1.41421356f;
    float m = hi ? 0.5f * w : w, e = hi ? 1.0f : 0.0f;
    float x = m - 1.0f, z = x * x;
    float y = ((((((((7.0376836292e-2f * x - 1.1514610310e-1f) * x + 1.1676998740e-1f) * x - 1.2420140846e-1f) * x
                   + 1.4249322787e-1f) * x - 1.6668057665e-1f) * x + 2.0000714765e-1f) * x - 2.4999993993e-1f) * x
              + 3.3333331174e-1f) * x * z;
    y += -2.12194440e-4f * e;
    y += -0.5f * z;
    return x + y + 0.693359375f * e;
}

/* log(1 + u) for u in [0, 1], accurate for tiny u too: log(w) u / (w - 1) with w = 1 + u
 * rounded (w - 1 is exact), and u itself when w rounds to 1. */
static inline float log1p_01(float u) {
    float w = 1.0f + u, d = w - 1.0f;
    float r = log_1_2(w) * (u / (d == 0.0f ? 1.0f : d));
    return d == 0.0f ? u : r;
}

/* Stable per-element BCE with logits: max(x,0) - x t + log(1 + e^-|x|). */
static inline float bce_f(float x, float t) {
    float ax = x < 0 ? -x : x;
    return (x > 0 ? x : 0.0f) - x * t + log1p_01(ng_expf(-ax));
}

/* Sum TERM (an expression of the element index i) over i in [0, n) into the double `sum`:
 * fixed blocks summed in parallel into t->aux, then added in order (thread-count independent). */
#define BLOCKED_SUM(t, n, sum, TERM) do {                                                  \
        const int64_t n_ = (n), nblk_ = ng__loss_blocks(n_);                                \
        double *part_ = (double *)(t)->aux;                                                 \
        _Pragma("omp parallel for schedule(static) if (n_ > PAR_MIN)")                      \
        for (int64_t b_ = 0; b_ < nblk_; b_++) {                                            \
            const int64_t lo_ = b_ * BLOCK, hi_ = lo_ + BLOCK < n_ ? lo_ + BLOCK : n_;       \
            double s_ = 0;                                                                  \
            _Pragma("omp simd reduction(+:s_)")                                             \
            for (int64_t i = lo_; i < hi_; i++) s_ += (TERM);                               \
            part_[b_] = s_;                                                                 \
        }                                                                                   \
        (sum) = 0;                                                                          \
        for (int64_t b_ = 0; b_ < nblk_; b_++) (sum) += part_[b_];                          \
    } while (0)

/* the reduction of a loss: NG_MEAN divides the sum by the element count */
static float reduce(const ng_tensor *t, double sum, int64_t n) {
    return (float)(t->iarg[0] == NG_MEAN ? sum / (double)n : sum);
}

/* ---------------------------------------------------------------- BCE with logits */

static void bce_logits_forward(ng_graph *g, ng_tensor *t) {
    (void)g;
    const float *x = t->src[0]->data, *y = t->src[1]->data;
    double sum;
    BLOCKED_SUM(t, t->src[0]->n, sum, bce_f(x[i], y[i]));
    t->data[0] = reduce(t, sum, t->src[0]->n);
}

/* dx += g (sigmoid(x) - t) ; dt += -g x  (g = upstream / n for the mean) */
static void bce_logits_backward(ng_graph *g, ng_tensor *t) {
    (void)g;
    ng_tensor *xl = t->src[0], *tg = t->src[1];
    const int64_t n = xl->n;
    const float gs = t->iarg[0] == NG_MEAN ? t->grad[0] / (float)n : t->grad[0];
    const float *x = xl->data, *y = tg->data;
    if (xl->grad) {
        float *dx = xl->grad;
        #pragma omp parallel for simd if (n > PAR_MIN)
        for (int64_t i = 0; i < n; i++) dx[i] += gs * (ng_sigmoidf(x[i]) - y[i]);
    }
    if (tg->grad) {
        float *dt = tg->grad;
        #pragma omp parallel for simd if (n > PAR_MIN)
        for (int64_t i = 0; i < n; i++) dt[i] -= gs * x[i];
    }
}

/* ---------------------------------------------------------------- squared error */

static void mse_forward(ng_graph *g, ng_tensor *t) {
    (void)g;
    const float *a = t->src[0]->data, *b = t->src[1]->data;
    double sum;
    BLOCKED_SUM(t, t->src[0]->n, sum, (a[i] - b[i]) * (a[i] - b[i]));
    t->data[0] = reduce(t, sum, t->src[0]->n);
}

/* da += 2 g (a - b), db -= 2 g (a - b) */
static void mse_backward(ng_graph *g, ng_tensor *t) {
    (void)g;
    ng_tensor *A = t->src[0], *B = t->src[1];
    const int64_t n = A->n;
    const float gs = 2.0f * (t->iarg[0] == NG_MEAN ? t->grad[0] / (float)n : t->grad[0]);
    const float *a = A->data, *b = B->data;
    if (A->grad) {
        float *da = A->grad;
        #pragma omp parallel for simd if (n > PAR_MIN)
        for (int64_t i = 0; i < n; i++) da[i] += gs * (a[i] - b[i]);
    }
    if (B->grad) {
        float *db = B->grad;
        #pragma omp parallel for simd if (n > PAR_MIN)
        for (int64_t i = 0; i < n; i++) db[i] -= gs * (a[i] - b[i]);
    }
}

/* ---------------------------------------------------------------- Gaussian KL */

/* KL(N(mu, e^logvar) || N(0, 1)) summed over all elements: -1/2 sum(1 + lv - mu^2 - e^lv).
 * NG_SUM: that sum; NG_MEAN: divided by the number of rows N = mu->ne[0] (per sample). */
static float kl_scale(const ng_tensor *t) {
    return t->iarg[0] == NG_MEAN ? 1.0f / (float)t->src[0]->ne[0] : 1.0f;
}

static void gauss_kl_forward(ng_graph *g, ng_tensor *t) {
    (void)g;
    const float *mu = t->src[0]->data, *lv = t->src[1]->data;
    double sum;
    BLOCKED_SUM(t, t->src[0]->n, sum, 1.0f + lv[i] - mu[i] * mu[i] - ng_expf(lv[i]));
    t->data[0] = (float)(-0.5 * sum * (double)kl_scale(t));
}

/* dmu += g mu ; dlogvar += g (e^lv - 1) / 2  (g includes the 1/N of NG_MEAN) */
static void gauss_kl_backward(ng_graph *g, ng_tensor *t) {
    (void)g;
    ng_tensor *M = t->src[0], *L = t->src[1];
    const int64_t n = M->n;
    const float gs = t->grad[0] * kl_scale(t);
    const float *mu = M->data, *lv = L->data;
    if (M->grad) {
        float *dm = M->grad;
        #pragma omp parallel for simd if (n > PAR_MIN)
        for (int64_t i = 0; i < n; i++) dm[i] += gs * mu[i];
    }
    if (L->grad) {
        float *dl = L->grad;
        #pragma omp parallel for simd if (n > PAR_MIN)
        for (int64_t i = 0; i < n; i++) dl[i] += 0.5f * gs * (ng_expf(lv[i]) - 1.0f);
    }
}

/* ---------------------------------------------------------------- reparameterisation */

/* z = mu + e^{lv/2} eps */
static void reparam_forward(ng_graph *g, ng_tensor *t) {
    (void)g;
    const float *mu = t->src[0]->data, *lv = t->src[1]->data, *eps = t->src[2]->data;
    float *z = t->data;
    #pragma omp parallel for simd if (t->n > PAR_MIN)
    for (int64_t i = 0; i < t->n; i++) z[i] = mu[i] + ng_expf(0.5f * lv[i]) * eps[i];
}

/* dmu += dz ; dlv += dz eps e^{lv/2} / 2 ; eps gets nothing (it is noise) */
static void reparam_backward(ng_graph *g, ng_tensor *t) {
    (void)g;
    ng_tensor *M = t->src[0], *L = t->src[1];
    const float *lv = L->data, *eps = t->src[2]->data, *dz = t->grad;
    if (M->grad) {
        float *dm = M->grad;
        #pragma omp parallel for simd if (t->n > PAR_MIN)
        for (int64_t i = 0; i < t->n; i++) dm[i] += dz[i];
    }
    if (L->grad) {
        float *dl = L->grad;
        #pragma omp parallel for simd if (t->n > PAR_MIN)
        for (int64_t i = 0; i < t->n; i++) dl[i] += 0.5f * dz[i] * eps[i] * ng_expf(0.5f * lv[i]);
    }
}

/* ---------------------------------------------------------------- the ops: definitions and builders */

static const ng_op_def bce_logits_op = {"bce_logits", bce_logits_forward, bce_logits_backward};   /* binary cross-entropy with logits: logits, targets (f32, same shape) -> scalar */
static const ng_op_def mse_op = {"mse", mse_forward, mse_backward};   /* squared error: a, b (same shape) -> scalar */
static const ng_op_def gauss_kl_op = {"gauss_kl", gauss_kl_forward, gauss_kl_backward};   /* mu, logvar (N,Z) -> scalar -1/2 sum(1 + logvar - mu^2 - exp(logvar)) */
static const ng_op_def reparam_op = {"reparam", reparam_forward, reparam_backward};   /* mu, logvar, eps -> mu + exp(logvar/2) * eps (eps: an input filled with N(0,1)) */

/* A scalar loss over two same-shape operands, with the block partial sums in aux. */
static ng_tensor *loss_node(ng_graph *g, const ng_op_def *op, const char *name, ng_tensor *a, ng_tensor *b, ng_reduction r) {
    if (!ng__same_shape(a, b)) return ng__shape_error(name, a, b);
    if (r != NG_MEAN && r != NG_SUM) { ng_set_error("%s: unknown reduction %d (NG_MEAN or NG_SUM)", name, (int)r); return NULL; }
    ng_tensor *src[2] = {a, b};
    ng_tensor *t = ng__op_node(g, op, 0, NULL, src, 2);
    if (!t) return NULL;
    t->iarg[0] = (int)r;
    if (ng__set_aux(t, 2 * ((a->n + NG_LOSS_BLOCK - 1) / NG_LOSS_BLOCK))) return NULL;
    return t;
}
/* Mean or sum over all elements of max(x,0) - x t + log(1 + e^-|x|) (targets t may carry a
 * gradient too: d/dt = -x). */
ng_tensor *ng_bce_logits(ng_graph *g, ng_tensor *logits, ng_tensor *targets, ng_reduction r) {
    NG_NEED(ng__is_f32(logits) && ng__is_f32(targets));
    return loss_node(g, &bce_logits_op, "bce_logits", logits, targets, r);
}
/* Mean or sum over all elements of (a - b)^2. */
ng_tensor *ng_mse(ng_graph *g, ng_tensor *a, ng_tensor *b, ng_reduction r) {
    NG_NEED(ng__is_f32(a) && ng__is_f32(b));
    return loss_node(g, &mse_op, "mse", a, b, r);
}
/* KL(N(mu, exp(logvar)) || N(0,1)) = -1/2 sum(1 + logvar - mu^2 - exp(logvar)) over all
 * elements of mu, logvar (same shape, (N,Z)). NG_SUM: that sum. NG_MEAN: that sum divided by
 * N = mu->ne[0], the number of rows, i.e. the mean KL PER SAMPLE (not per element). */
ng_tensor *ng_gauss_kl(ng_graph *g, ng_tensor *mu, ng_tensor *logvar, ng_reduction r) {
    NG_NEED(ng__is_f32(mu) && ng__is_f32(logvar));
    if (mu->ndim < 1) return ng__shape_error("gauss_kl (mu and logvar must be (N,Z))", mu, logvar);
    return loss_node(g, &gauss_kl_op, "gauss_kl", mu, logvar, r);
}
/* z = mu + exp(logvar/2) eps, all the same shape. eps is noise the caller draws each step
 * (an ng_input); gradients flow to mu and logvar only. */
ng_tensor *ng_reparam(ng_graph *g, ng_tensor *mu, ng_tensor *logvar, ng_tensor *eps) {
    NG_NEED(ng__is_f32(mu) && ng__is_f32(logvar) && ng__is_f32(eps));
    if (!ng__same_shape(mu, logvar)) return ng__shape_error("reparam (mu, logvar)", mu, logvar);
    if (!ng__same_shape(mu, eps)) return ng__shape_error("reparam (mu, eps)", mu, eps);
    ng_tensor *src[3] = {mu, logvar, eps};
    ng_tensor *t = ng__op_node(g, &reparam_op, mu->ndim, mu->ne, src, 3);
    if (t) t->requires_grad = mu->requires_grad || logvar->requires_grad;
    return t;
}

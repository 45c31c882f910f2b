/* graph_image.c - builders of the image ops (convolutions, pooling, BatchNorm, activations,
 * VAE/GAN losses). Like graph.c's builders they check shapes, record the op, allocate its
 * output and its saved state (t->aux) once, and compute nothing; the kernels are in
 * src/ops/conv.c, pool.c, batchnorm.c, activations.c and losses.c. */
#include "graph/graph_internal.h"
#include "ops/image_ref.h"

#include <limits.h>
#include <math.h>
#include <string.h>

int64_t ng__conv_chunk_floats = (int64_t)1 << 22;

/* A NULL operand means an earlier builder failed and already set the error: pass it on. */
#define NEED(x) do { if (!(x)) { if (!*ng_last_error()) ng_set_error("%s: missing operand", __func__); return NULL; } } while (0)

static int same_shape(const ng_tensor *a, const ng_tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++) if (a->ne[i] != b->ne[i]) return 0;
    return 1;
}

/* An f32 tensor (not an index tensor): every operand of these ops. */
static int is_f32(const ng_tensor *t) { return t && t->data; }

/* ---------------------------------------------------------------- convolutions */

/* Images per GEMM chunk: as many as fit in ng__conv_chunk_floats (at least one), balanced
 * over the chunks (100 images with room for 40 -> 3 chunks of 34). */
static int conv_chunk(int64_t N, int64_t per_image) {
    int64_t nb = ng__conv_chunk_floats / (per_image > 0 ? per_image : 1);
    if (nb < 1) nb = 1;
    if (nb > N) nb = N;
    int64_t chunks = (N + nb - 1) / nb;
    return (int)((N + chunks - 1) / chunks);
}

/* Shared checks of conv2d / conv_transpose2d. wc = the weight dim that must equal x's channels. */
static int conv_check(const char *op, const ng_tensor *x, const ng_tensor *w, const ng_tensor *b, int wc, int oc,
                      int stride, int pad) {
    if (x->ndim != 4) { ng__shape_error(op, x, w); return ng_set_error("%s (x must be (N,C,H,W))", ng_last_error()); }
    if (w->ndim != 4 || w->ne[2] != w->ne[3] || w->ne[wc] != x->ne[1]) {
        ng__shape_error(op, x, w);
        return ng_set_error("%s (weight must be %s with Ci = x's channels, square k x k)", ng_last_error(),
                            wc == 1 ? "(Co,Ci,k,k)" : "(Ci,Co,k,k)");
    }
    if (b && (!is_f32(b) || b->ndim != 1 || b->ne[0] != w->ne[oc])) {
        ng__shape_error(op, w, b);
        return ng_set_error("%s (bias must be (Co))", ng_last_error());
    }
    if (stride <= 0 || pad < 0) return ng_set_error("%s: stride %d must be >= 1 and padding %d >= 0", op, stride, pad);
    return NG_OK;
}

static ng_tensor *conv_node(ng_graph *g, ng_op op, const char *name, ng_tensor *x, ng_tensor *w, ng_tensor *b,
                            int stride, int pad, int64_t Co, int64_t Ho, int64_t Wo) {
    int64_t N = x->ne[0], Ci = x->ne[1], k = w->ne[2];
    /* GEMM sizes are ints */
    int64_t K = (op == NG_OP_CONV2D ? Ci : Co) * k * k, P = op == NG_OP_CONV2D ? Ho * Wo : x->ne[2] * x->ne[3];
    int64_t stage_c = op == NG_OP_CONV2D ? Co : Ci;
    if (K > INT_MAX / 2 || P > INT_MAX / 2 || Co * Ho * Wo > INT_MAX / 2) {
        ng_set_error("%s: sizes too large (%lld x %lld columns per image)", name, (long long)K, (long long)P);
        return NULL;
    }
    int64_t ne[4] = {N, Co, Ho, Wo};
    ng_tensor *src[3] = {x, w, b};
    ng_tensor *t = ng__op_node(g, op, 4, ne, src, 3);
    if (!t) return NULL;
    int nb = conv_chunk(N, (K + stage_c) * P);
    if ((int64_t)nb * P > INT_MAX) nb = (int)(INT_MAX / P);
    t->iarg[0] = stride; t->iarg[1] = pad; t->iarg[2] = (int)k; t->iarg[3] = nb;
    /* im2col columns of a chunk, a staging block for Y (conv2d) or x (transposed) when a
     * chunk holds several images, and the K-split blocks of a small weight gradient */
    int64_t wgrad = stage_c * K, split = wgrad <= NG_CONV_SPLIT_MAX ? NG_CONV_KSPLIT * wgrad : 0;
    if (ng__set_aux(t, K * nb * P + (nb > 1 ? stage_c * nb * P : 0) + split)) return NULL;
    return t;
}

ng_tensor *ng_conv2d(ng_graph *g, ng_tensor *x, ng_tensor *w, ng_tensor *b, int stride, int pad) {
    NEED(is_f32(x) && is_f32(w));
    if (conv_check("conv2d", x, w, b, 1, 0, stride, pad)) return NULL;
    int64_t k = w->ne[2], H = x->ne[2], W = x->ne[3];
    if (H + 2 * (int64_t)pad < k || W + 2 * (int64_t)pad < k) {
        ng_set_error("conv2d: kernel %lldx%lld larger than the padded input %lldx%lld (padding %d)",
                     (long long)k, (long long)k, (long long)(H + 2 * pad), (long long)(W + 2 * pad), pad);
        return NULL;
    }
    int64_t Ho = (H + 2 * pad - k) / stride + 1, Wo = (W + 2 * pad - k) / stride + 1;
    return conv_node(g, NG_OP_CONV2D, "conv2d", x, w, b, stride, pad, w->ne[0], Ho, Wo);
}

ng_tensor *ng_conv_transpose2d(ng_graph *g, ng_tensor *x, ng_tensor *w, ng_tensor *b, int stride, int pad) {
    NEED(is_f32(x) && is_f32(w));
    if (conv_check("conv_transpose2d", x, w, b, 0, 1, stride, pad)) return NULL;
    int64_t k = w->ne[2], H = x->ne[2], W = x->ne[3];
    int64_t Ho = (H - 1) * stride - 2 * (int64_t)pad + k, Wo = (W - 1) * stride - 2 * (int64_t)pad + k;
    if (Ho < 1 || Wo < 1) {
        ng_set_error("conv_transpose2d: output %lldx%lld is empty ((H-1)*stride - 2*pad + k with H=%lld W=%lld "
                     "stride %d pad %d k %lld)", (long long)Ho, (long long)Wo, (long long)H, (long long)W, stride, pad,
                     (long long)k);
        return NULL;
    }
    return conv_node(g, NG_OP_CONV_T2D, "conv_transpose2d", x, w, b, stride, pad, w->ne[1], Ho, Wo);
}

/* ---------------------------------------------------------------- pooling */

static ng_tensor *pool(ng_graph *g, ng_op op, const char *name, ng_tensor *x, int k, int stride) {
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
    if (op == NG_OP_MAXPOOL2D && ng__set_aux(t, t->n)) return NULL;
    return t;
}

ng_tensor *ng_maxpool2d(ng_graph *g, ng_tensor *x, int k, int stride) {
    NEED(is_f32(x));
    return pool(g, NG_OP_MAXPOOL2D, "maxpool2d", x, k, stride);
}

ng_tensor *ng_avgpool2d(ng_graph *g, ng_tensor *x, int k, int stride) {
    NEED(is_f32(x));
    return pool(g, NG_OP_AVGPOOL2D, "avgpool2d", x, k, stride);
}

/* ---------------------------------------------------------------- BatchNorm */

/* w and b may be NULL (no affine transform); running_mean and running_var are required and
 * are updated in place by training-mode forwards. Only x, w and b decide whether a gradient
 * flows: the running statistics are buffers, whatever their requires_grad says. (Training
 * with a single value per channel, which PyTorch refuses, normalises to b and takes 0 as the
 * variance for the running update.) */
ng_tensor *ng_batchnorm(ng_graph *g, ng_tensor *x, ng_tensor *w, ng_tensor *b, ng_tensor *running_mean,
                        ng_tensor *running_var, float eps, float momentum) {
    NEED(is_f32(x) && is_f32(running_mean) && is_f32(running_var));
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
        if (!is_f32(chk[i]) || chk[i]->ndim != 1 || chk[i]->ne[0] != C) {
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
    ng_tensor *t = ng__op_node(g, NG_OP_BATCHNORM, x->ndim, x->ne, src, 5);
    if (!t) return NULL;
    t->requires_grad = x->requires_grad || (w && w->requires_grad) || (b && b->requires_grad);
    t->farg[0] = eps; t->farg[1] = momentum;
    /* mean (C), rstd (C), mode flag + pad (2), scratch of 2C doubles */
    if (ng__set_aux(t, 2 * C + 2 + 4 * C)) return NULL;
    return t;
}

/* ---------------------------------------------------------------- activations */

ng_tensor *ng_leaky_relu(ng_graph *g, ng_tensor *x, float slope) {
    NEED(is_f32(x));
    if (!isfinite(slope)) { ng_set_error("leaky_relu: slope %g is not finite", slope); return NULL; }
    ng_tensor *src[1] = {x};
    ng_tensor *t = ng__op_node(g, NG_OP_LEAKY_RELU, x->ndim, x->ne, src, 1);
    if (t) t->farg[0] = slope;
    return t;
}

ng_tensor *ng_sigmoid(ng_graph *g, ng_tensor *x) {
    NEED(is_f32(x));
    ng_tensor *src[1] = {x};
    return ng__op_node(g, NG_OP_SIGMOID, x->ndim, x->ne, src, 1);
}

ng_tensor *ng_tanh(ng_graph *g, ng_tensor *x) {
    NEED(is_f32(x));
    ng_tensor *src[1] = {x};
    return ng__op_node(g, NG_OP_TANH, x->ndim, x->ne, src, 1);
}

/* ---------------------------------------------------------------- losses */

/* A scalar loss over two same-shape operands, with the block partial sums in aux. */
static ng_tensor *loss_node(ng_graph *g, ng_op op, const char *name, ng_tensor *a, ng_tensor *b, ng_reduction r) {
    if (!same_shape(a, b)) return ng__shape_error(name, a, b);
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
    NEED(is_f32(logits) && is_f32(targets));
    return loss_node(g, NG_OP_BCE_LOGITS, "bce_logits", logits, targets, r);
}

/* Mean or sum over all elements of (a - b)^2. */
ng_tensor *ng_mse(ng_graph *g, ng_tensor *a, ng_tensor *b, ng_reduction r) {
    NEED(is_f32(a) && is_f32(b));
    return loss_node(g, NG_OP_MSE, "mse", a, b, r);
}

/* KL(N(mu, exp(logvar)) || N(0,1)) = -1/2 sum(1 + logvar - mu^2 - exp(logvar)) over all
 * elements of mu, logvar (same shape, (N,Z)). NG_SUM: that sum. NG_MEAN: that sum divided by
 * N = mu->ne[0], the number of rows, i.e. the mean KL PER SAMPLE (not per element). */
ng_tensor *ng_gauss_kl(ng_graph *g, ng_tensor *mu, ng_tensor *logvar, ng_reduction r) {
    NEED(is_f32(mu) && is_f32(logvar));
    if (mu->ndim < 1) return ng__shape_error("gauss_kl (mu and logvar must be (N,Z))", mu, logvar);
    return loss_node(g, NG_OP_GAUSS_KL, "gauss_kl", mu, logvar, r);
}

/* z = mu + exp(logvar/2) eps, all the same shape. eps is noise the caller draws each step
 * (an ng_input); gradients flow to mu and logvar only. */
ng_tensor *ng_reparam(ng_graph *g, ng_tensor *mu, ng_tensor *logvar, ng_tensor *eps) {
    NEED(is_f32(mu) && is_f32(logvar) && is_f32(eps));
    if (!same_shape(mu, logvar)) return ng__shape_error("reparam (mu, logvar)", mu, logvar);
    if (!same_shape(mu, eps)) return ng__shape_error("reparam (mu, eps)", mu, eps);
    ng_tensor *src[3] = {mu, logvar, eps};
    ng_tensor *t = ng__op_node(g, NG_OP_REPARAM, mu->ndim, mu->ne, src, 3);
    if (t) t->requires_grad = mu->requires_grad || logvar->requires_grad;
    return t;
}

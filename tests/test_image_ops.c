/* test_image_ops.c - the image ops: every op's backward against central finite differences
 * (every source that takes a gradient, inputs and ng_params leaves), the im2col + GEMM
 * convolutions against their direct-loop twins (odd sizes, strides 1-2, padding 0-2, k 3-5,
 * one image / several chunks / the whole batch per GEMM), hand-computed values (known
 * kernels, output sizes, pooling, BatchNorm running statistics and eval mode, losses at
 * extreme logits), shape errors, and the thread count not changing results.
 * Prints the largest finite-difference error per op and the largest fast-vs-reference error. */
#include "nanogen.h"
#include "test.h"
#include "ops/image_ref.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"

/* A parameter block of n tensors of the given shapes (up to 4 dims), filled N(0, std). */
static ng_params *params_of(int n, const char **names, const int *ndims, const int64_t (*shapes)[4], ng_tensor **out, float std) {
    ng_params *P = ng_params_new();
    for (int i = 0; i < n; i++) out[i] = ng_param(P, names[i], ndims[i], shapes[i], 1);
    if (ng_params_alloc(P)) return NULL;
    for (int i = 0; i < n; i++) fill_normal(out[i]->data, out[i]->n, std);
    return P;
}

static double max_abs_diff(const float *a, const float *b, int64_t n) {
    double d = 0;
    for (int64_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}
static double max_abs(const float *a, int64_t n) {
    double d = 0;
    for (int64_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i]));
    return d;
}

/* ---------------------------------------------------------------- convolutions: gradients */

typedef struct { int N, Ci, H, W, Co, k, s, p, bias; } conv_cfg;

/* Floats of scratch per image of a convolution (what conv_chunk divides the budget by). */
static int64_t per_image(const conv_cfg *c, int transposed) {
    if (!transposed) {
        int64_t Ho = (c->H + 2 * c->p - c->k) / c->s + 1, Wo = (c->W + 2 * c->p - c->k) / c->s + 1;
        return ((int64_t)c->Ci * c->k * c->k + c->Co) * Ho * Wo;
    }
    return ((int64_t)c->Co * c->k * c->k + c->Ci) * c->H * c->W;
}

/* A convolution is linear in each single input, weight and bias element, so the stencil is
 * exact at any step: a large one (0.5) keeps float rounding of L out of the comparison. */
static void grad_conv(const conv_cfg *c, int transposed, int64_t chunk) {
    int64_t save = ng__conv_chunk_floats;
    if (chunk) ng__conv_chunk_floats = chunk;
    ng_graph *g = ng_graph_new();
    int64_t xs[4] = {c->N, c->Ci, c->H, c->W}, bs[1] = {c->Co};
    int64_t ws[4] = {transposed ? c->Ci : c->Co, transposed ? c->Co : c->Ci, c->k, c->k};
    ng_tensor *x = leaf(g, "x", 4, xs, 1), *w = leaf(g, "w", 4, ws, 0.5f), *b = c->bias ? leaf(g, "b", 1, bs, 1) : NULL;
    ng_tensor *y = transposed ? ng_conv_transpose2d(g, x, w, b, c->s, c->p) : ng_conv2d(g, x, w, b, c->s, c->p);
    ng_tensor *wrt[3] = {x, w, b};
    const char *name = transposed ? "conv_transpose2d" : "conv2d";
    if (gradcheck(name, g, y, wrt, c->bias ? 3 : 2, NULL, 0.5f))
        fprintf(stderr, "  (%s N=%d Ci=%d %dx%d Co=%d k=%d s=%d p=%d bias=%d chunk=%d)\n", name, c->N, c->Ci, c->H, c->W,
                c->Co, c->k, c->s, c->p, c->bias, y ? y->iarg[3] : -1);
    ng_graph_free(g);
    ng__conv_chunk_floats = save;
}

static void test_grad_conv2d(void) {
    const conv_cfg cf[] = {
        {2, 2, 5, 6, 3, 3, 1, 1, 1},
        {2, 3, 7, 7, 2, 4, 2, 1, 0},   /* DCGAN's k4 s2 p1 */
        {1, 2, 6, 5, 2, 5, 2, 2, 1},
        {3, 1, 4, 4, 2, 2, 2, 0, 1},
        {2, 2, 3, 3, 2, 1, 1, 0, 1},   /* 1x1 */
        {1, 1, 3, 4, 1, 3, 1, 2, 1},   /* padding 2 with k 3: edge outputs see one pixel */
    };
    for (size_t i = 0; i < sizeof cf / sizeof *cf; i++) grad_conv(&cf[i], 0, 0);
    /* N=3 one image per GEMM, then chunks of 2 + 1 */
    const conv_cfg c3 = {3, 2, 5, 5, 2, 3, 2, 1, 1};
    grad_conv(&c3, 0, 1);
    grad_conv(&c3, 0, 2 * per_image(&c3, 0));
    /* weight and bias as parameters (as the models hold them) */
    const char *names[2] = {"conv.weight", "conv.bias"};
    const int nd[2] = {4, 1};
    const int64_t shp[2][4] = {{3, 2, 3, 3}, {3}};
    ng_tensor *p[2];
    ng_params *P = params_of(2, names, nd, shp, p, 0.5f);
    ng_graph *g = ng_graph_new();
    int64_t xs[4] = {2, 2, 5, 4};
    ng_tensor *x = leaf(g, "x", 4, xs, 1);
    ng_tensor *wrt[3] = {x, p[0], p[1]};
    gradcheck("conv2d", g, ng_conv2d(g, x, p[0], p[1], 2, 1), wrt, 3, P, 0.5f);
    ng_graph_free(g);
    ng_params_free(P);
}

static void test_grad_conv_t2d(void) {
    const conv_cfg cf[] = {
        {2, 3, 3, 4, 2, 4, 2, 1, 1},   /* DCGAN's k4 s2 p1 */
        {2, 2, 4, 3, 3, 3, 1, 0, 0},
        {1, 2, 3, 3, 2, 5, 2, 2, 1},
        {3, 2, 2, 2, 1, 2, 2, 0, 1},
        {1, 1, 4, 4, 2, 3, 3, 1, 1},   /* stride > k - p: gaps */
        {2, 2, 3, 3, 2, 1, 1, 0, 1},
    };
    for (size_t i = 0; i < sizeof cf / sizeof *cf; i++) grad_conv(&cf[i], 1, 0);
    const conv_cfg c3 = {3, 2, 3, 3, 2, 4, 2, 1, 1};
    grad_conv(&c3, 1, 1);
    grad_conv(&c3, 1, 2 * per_image(&c3, 1));
    const char *names[2] = {"up.weight", "up.bias"};
    const int nd[2] = {4, 1};
    const int64_t shp[2][4] = {{2, 3, 4, 4}, {3}};
    ng_tensor *p[2];
    ng_params *P = params_of(2, names, nd, shp, p, 0.5f);
    ng_graph *g = ng_graph_new();
    int64_t xs[4] = {2, 2, 3, 3};
    ng_tensor *x = leaf(g, "x", 4, xs, 1);
    ng_tensor *wrt[3] = {x, p[0], p[1]};
    gradcheck("conv_transpose2d", g, ng_conv_transpose2d(g, x, p[0], p[1], 2, 1), wrt, 3, P, 0.5f);
    ng_graph_free(g);
    ng_params_free(P);
}

/* ---------------------------------------------------------------- convolutions vs reference */

static double g_twin_worst;   /* largest |fast - ref| / max(1, max|ref|) over the twin tests */

static int twin_close(const float *fast, const float *ref, int64_t n, const char *what, const conv_cfg *c, int tr) {
    double d = max_abs_diff(fast, ref, n), scale = fmax(1.0, max_abs(ref, n));
    g_twin_worst = fmax(g_twin_worst, d / scale);
    int ok = d <= 2e-5 * scale;
    if (!ok)
        CHECK(0, "%s %s vs reference off by %g (scale %g) N=%d Ci=%d %dx%d Co=%d k=%d s=%d p=%d", tr ? "conv_t2d" : "conv2d",
              what, d, scale, c->N, c->Ci, c->H, c->W, c->Co, c->k, c->s, c->p);
    return ok;
}

/* Forward and backward (with a random output gradient) of the graph op against the twins.
 * Weight and bias are parameters: a second backward must double their gradients (+=). */
static int twin_case(const conv_cfg *c, int tr, int64_t chunk, int *nb_seen) {
    int64_t save = ng__conv_chunk_floats;
    if (chunk) ng__conv_chunk_floats = chunk;
    const char *names[2] = {"w", "b"};
    const int nd[2] = {4, 1};
    const int64_t shp[2][4] = {{tr ? c->Ci : c->Co, tr ? c->Co : c->Ci, c->k, c->k}, {c->Co}};
    ng_tensor *p[2];
    ng_params *P = params_of(2, names, nd, shp, p, 0.3f);
    ng_graph *g = ng_graph_new();
    int64_t xs[4] = {c->N, c->Ci, c->H, c->W};
    ng_tensor *x = leaf(g, "x", 4, xs, 1);
    ng_tensor *b = c->bias ? p[1] : NULL;
    ng_tensor *y = tr ? ng_conv_transpose2d(g, x, p[0], b, c->s, c->p) : ng_conv2d(g, x, p[0], b, c->s, c->p);
    ng__conv_chunk_floats = save;
    int ok = y && ng_graph_finalize(g, y) == NG_OK;
    CHECK(ok, "twin build: %s", ng_last_error());
    if (!ok) { ng_graph_free(g); ng_params_free(P); return 0; }
    *nb_seen = y->iarg[3];
    float *dy = malloc(y->n * sizeof *dy), *ry = malloc(y->n * sizeof *ry);
    float *rdx = calloc(x->n, sizeof *rdx), *rdw = calloc(p[0]->n, sizeof *rdw), *rdb = calloc(c->Co, sizeof *rdb);
    fill_normal(dy, y->n, 1);
    ng_params_zero_grad(P);
    ng_graph_forward(g);
    ng_graph_backward_with(g, dy);
    (tr ? ng_ref_conv_t2d_forward : ng_ref_conv2d_forward)(ry, x->data, p[0]->data, b ? b->data : NULL, c->N, c->Ci, c->H, c->W,
                                                           c->Co, c->k, c->s, c->p);
    (tr ? ng_ref_conv_t2d_backward : ng_ref_conv2d_backward)(rdx, rdw, b ? rdb : NULL, dy, x->data, p[0]->data, c->N, c->Ci,
                                                             c->H, c->W, c->Co, c->k, c->s, c->p);
    ok = twin_close(y->data, ry, y->n, "forward", c, tr);
    ok &= twin_close(x->grad, rdx, x->n, "dx", c, tr);
    ok &= twin_close(p[0]->grad, rdw, p[0]->n, "dw", c, tr);
    if (b) ok &= twin_close(b->grad, rdb, c->Co, "db", c, tr);
    /* backward again: parameter gradients accumulate, the input's is recomputed */
    ng_graph_backward_with(g, dy);
    for (int64_t i = 0; i < p[0]->n; i++) rdw[i] *= 2;
    for (int i = 0; i < c->Co; i++) rdb[i] *= 2;
    ok &= twin_close(p[0]->grad, rdw, p[0]->n, "dw (2nd backward)", c, tr);
    if (b) ok &= twin_close(b->grad, rdb, c->Co, "db (2nd backward)", c, tr);
    ok &= twin_close(x->grad, rdx, x->n, "dx (2nd backward)", c, tr);
    free(dy); free(ry); free(rdx); free(rdw); free(rdb);
    ng_graph_free(g);
    ng_params_free(P);
    return ok;
}

static void test_conv_twins(void) {
    const int ks[3] = {3, 4, 5}, strides[3] = {1, 2, 3}, pads[3] = {0, 1, 2};
    const int sizes[3][2] = {{9, 7}, {7, 9}, {5, 6}};
    int cases = 0, ok_all = 1, nb_kinds[2][4] = {{0}};
    for (int tr = 0; tr < 2; tr++)
        for (int ki = 0; ki < 3; ki++)
            for (int si = 0; si < 3; si++)
                for (int pi = 0; pi < 3; pi++) {
                    int k = ks[ki], s = strides[si], p = pads[pi];
                    int v = (ki + si + pi) % 3;
                    conv_cfg c = {3, tr ? 4 : 3, sizes[v][0], sizes[v][1], tr ? 3 : 4, k, s, p, (ki + pi) % 2 == 0};
                    if (tr) { c.H = (c.H + 1) / 2; c.W = (c.W + 1) / 2; }   /* upsampling: smaller inputs */
                    if (!tr && (c.H + 2 * p < k || c.W + 2 * p < k)) continue;
                    if (tr && ((c.H - 1) * s - 2 * p + k < 1 || (c.W - 1) * s - 2 * p + k < 1)) continue;
                    /* the whole batch in one GEMM, one image per GEMM, and chunks of 2 + 1 */
                    const int64_t chunks[3] = {0, 1, 2 * per_image(&c, tr)};
                    for (int m = 0; m < 3; m++) {
                        int nb = 0;
                        ok_all &= twin_case(&c, tr, chunks[m], &nb);
                        if (nb >= 1 && nb <= 3) nb_kinds[tr][nb] = 1;
                        cases++;
                    }
                }
    /* planes too large for the kernels' padded stack copy (over 6144 floats): the bounds-checked loops */
    const conv_cfg big[4] = {{2, 1, 81, 79, 2, 3, 1, 1, 1}, {2, 2, 80, 83, 1, 4, 2, 2, 0},
                             {2, 1, 40, 41, 2, 4, 2, 1, 1}, {1, 2, 27, 29, 1, 5, 3, 0, 1}};
    for (int i = 0; i < 4; i++) {
        int nb = 0;
        ok_all &= twin_case(&big[i], i >= 2, 0, &nb);
        cases++;
    }
    CHECK(ok_all, "fast convolutions vs the direct loops");
    CHECK(nb_kinds[0][1] && nb_kinds[0][2] && nb_kinds[0][3] && nb_kinds[1][1] && nb_kinds[1][2] && nb_kinds[1][3],
          "chunk paths exercised (1, 2 and 3 images per GEMM)");
    printf("  conv twins: %d cases, worst |fast - ref| / max(1, max|ref|) = %.2e\n", cases, g_twin_worst);
}

/* One input feeding two convolutions: its gradient is the sum of both (backward uses +=). */
static void test_conv_accumulate(void) {
    for (int tr = 0; tr < 2; tr++) {
        ng_graph *g = ng_graph_new();
        /* 2 input and 3 output channels: conv weight (3,2,3,3), transposed (2,3,3,3) */
        int64_t xs[4] = {2, 2, 5, 5}, ws[4] = {tr ? 2 : 3, tr ? 3 : 2, 3, 3};
        ng_tensor *x = leaf(g, "x", 4, xs, 1), *w1 = leaf(g, "w1", 4, ws, 0.5f), *w2 = leaf(g, "w2", 4, ws, 0.5f);
        ng_tensor *y1 = tr ? ng_conv_transpose2d(g, x, w1, NULL, 2, 1) : ng_conv2d(g, x, w1, NULL, 1, 1);
        ng_tensor *y2 = tr ? ng_conv_transpose2d(g, x, w2, NULL, 2, 1) : ng_conv2d(g, x, w2, NULL, 1, 1);
        ng_tensor *y = ng_add(g, y1, y2);
        CHECK(y && ng_graph_finalize(g, y) == NG_OK, "%s", ng_last_error());
        if (!y) { ng_graph_free(g); continue; }
        float *dy = malloc(y->n * sizeof *dy), *rdx = calloc(x->n, sizeof *rdx);
        fill_normal(dy, y->n, 1);
        ng_graph_forward(g);
        ng_graph_backward_with(g, dy);
        void (*bw)(float *, float *, float *, const float *, const float *, const float *, int, int, int, int, int, int, int, int) =
            tr ? ng_ref_conv_t2d_backward : ng_ref_conv2d_backward;
        bw(rdx, NULL, NULL, dy, x->data, w1->data, 2, 2, 5, 5, 3, 3, tr ? 2 : 1, 1);
        bw(rdx, NULL, NULL, dy, x->data, w2->data, 2, 2, 5, 5, 3, 3, tr ? 2 : 1, 1);
        double d = max_abs_diff(x->grad, rdx, x->n);
        CHECK(d < 1e-4, "%s: gradient of an input used twice off by %g", tr ? "conv_t2d" : "conv2d", d);
        free(dy); free(rdx);
        ng_graph_free(g);
    }
}

/* ng_graph_backward_inputs (a GAN's generator step through D): on a small discriminator (conv,
 * LeakyReLU, conv, BatchNorm, linear, BCE) the input's gradient is bit-identical to a full
 * backward's, no parameter gradient changes, and the gradient pointers are back afterwards (a
 * full backward then adds to them again). */
static void test_backward_inputs(void) {
    const char *pn[9] = {"w1", "b1", "w2", "b2", "bw", "bb", "rm", "rv", "w3"};
    const int nd[9] = {4, 1, 4, 1, 1, 1, 1, 1, 2};
    const int64_t shp[9][4] = {{4, 1, 4, 4}, {4}, {6, 4, 4, 4}, {6}, {6}, {6}, {6}, {6}, {1, 24}};
    ng_tensor *p[9];
    ng_params *P = params_of(9, pn, nd, shp, p, 0.3f);
    for (int c = 0; c < 6; c++) { p[6]->data[c] = 0; p[7]->data[c] = 1; }
    ng_graph *g = ng_graph_new();
    int64_t xs[4] = {3, 1, 8, 8}, ts[2] = {3, 1}, fs[2] = {3, 24};
    ng_tensor *x = leaf(g, "x", 4, xs, 1), *tg = ng_input(g, "target", 2, ts);
    for (int i = 0; i < 3; i++) tg->data[i] = (float)(i & 1);
    ng_tensor *h = ng_leaky_relu(g, ng_conv2d(g, x, p[0], p[1], 2, 1), 0.2f);
    h = ng_leaky_relu(g, ng_batchnorm(g, ng_conv2d(g, h, p[2], p[3], 2, 1), p[4], p[5], p[6], p[7], 1e-5f, 0.1f), 0.2f);
    ng_tensor *loss = ng_bce_logits(g, ng_linear(g, ng_reshape(g, h, 2, fs), p[8], NULL), tg, NG_MEAN);
    CHECK(loss && ng_graph_finalize(g, loss) == NG_OK, "%s", ng_last_error());
    if (!loss) { ng_graph_free(g); ng_params_free(P); return; }
    const int64_t np = ng_params_total(P);
    float *g_full = malloc(np * sizeof(float)), *gx = malloc(x->n * sizeof(float)), *ptr[9];
    for (int i = 0; i < 9; i++) ptr[i] = p[i]->grad;
    ng_params_zero_grad(P);
    ng_graph_forward(g);
    ng_graph_backward(g);
    memcpy(g_full, ng_params_grad(P), np * sizeof(float));
    memcpy(gx, x->grad, x->n * sizeof(float));
    float *pg = ng_params_grad(P);
    for (int64_t i = 0; i < np; i++) pg[i] = 7.0f;
    ng_graph_forward(g);
    CHECK(ng_graph_backward_inputs(g, NULL) == NG_OK, "%s", ng_last_error());
    CHECK(memcmp(gx, x->grad, x->n * sizeof(float)) == 0, "backward_inputs: the input's gradient differs from a full backward's");
    int kept = 1, back = 1, nonzero = 0;
    for (int64_t i = 0; i < np; i++) kept &= pg[i] == 7.0f;
    for (int i = 0; i < 9; i++) back &= p[i]->grad == ptr[i];
    for (int64_t i = 0; i < x->n; i++) nonzero += x->grad[i] != 0;
    CHECK(kept, "backward_inputs changed a parameter gradient");
    CHECK(back, "backward_inputs left a parameter's gradient pointer changed");
    CHECK(nonzero > x->n / 2, "backward_inputs: the input's gradient is mostly 0 (%d of %lld)", nonzero, (long long)x->n);
    ng_graph_forward(g);
    ng_graph_backward(g);
    double d = 0;
    for (int i = 0; i < 9; i++)
        if (i != 6 && i != 7)   /* running statistics get no gradient */
            for (int64_t j = 0; j < p[i]->n; j++) d = fmax(d, fabs((p[i]->grad[j] - 7.0) - g_full[p[i]->grad - pg + j]));
    CHECK(d < 1e-5, "a full backward after it adds the same parameter gradients (off by %g)", d);
    free(g_full); free(gx);
    ng_graph_free(g);
    ng_params_free(P);
}

/* ---------------------------------------------------------------- pooling, BatchNorm, pointwise */

/* distinct values 0.5 apart (shuffled), so a 2h = 0.1 nudge never changes a window's argmax */
static void fill_distinct(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = 0.5f * (float)i - 0.25f * (float)n;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = ng_rng_below(&g_rng, (uint32_t)(i + 1));
        float t = x[i]; x[i] = x[j]; x[j] = t;
    }
}

static void test_grad_pool(void) {
    const int cf[][6] = {   /* N, C, H, W, k, stride */
        {2, 2, 4, 4, 2, 2}, {1, 2, 7, 5, 3, 2}, {2, 1, 5, 6, 3, 1}, {1, 3, 5, 5, 2, 3}, {2, 2, 3, 3, 3, 3},
    };
    for (int mx = 1; mx >= 0; mx--)
        for (size_t i = 0; i < sizeof cf / sizeof *cf; i++) {
            ng_graph *g = ng_graph_new();
            int64_t xs[4] = {cf[i][0], cf[i][1], cf[i][2], cf[i][3]};
            ng_tensor *x = leaf(g, "x", 4, xs, 1);
            if (mx) fill_distinct(x->data, x->n);
            ng_tensor *y = mx ? ng_maxpool2d(g, x, cf[i][4], cf[i][5]) : ng_avgpool2d(g, x, cf[i][4], cf[i][5]);
            CHECK(y && y->ne[2] == (cf[i][2] - cf[i][4]) / cf[i][5] + 1 && y->ne[3] == (cf[i][3] - cf[i][4]) / cf[i][5] + 1,
                  "pool output size");
            gradcheck(mx ? "maxpool2d" : "avgpool2d", g, y, &x, 1, NULL, 0.05f);   /* piecewise linear */
            ng_graph_free(g);
        }
}

/* BatchNorm: weight/bias in one block, running statistics in another (as the models do). */
static void grad_bn(int ndim, const int64_t *xs, int training, int affine) {
    const int64_t C = xs[1];
    const char *pn[2] = {"bn.weight", "bn.bias"}, *bn_[2] = {"bn.running_mean", "bn.running_var"};
    const int nd[2] = {1, 1};
    const int64_t shp[2][4] = {{C}, {C}};
    ng_tensor *p[2], *r[2];
    ng_params *P = params_of(2, pn, nd, shp, p, 1), *B = params_of(2, bn_, nd, shp, r, 1);
    for (int64_t c = 0; c < C; c++) { r[1]->data[c] = 0.5f + fabsf(r[1]->data[c]); p[0]->data[c] += 1.0f; }
    ng_graph *g = ng_graph_new();
    ng_graph_set_training(g, training);
    ng_tensor *x = leaf(g, "x", ndim, xs, 1);
    /* channels with different offsets and scales */
    int64_t HW = x->n / (xs[0] * C);
    for (int64_t i = 0; i < x->n; i++) {
        int64_t c = (i / HW) % C;
        x->data[i] = x->data[i] * (1.0f + 0.5f * (float)(c % 3)) + (float)(c % 4) - 1.5f;
    }
    ng_tensor *y = ng_batchnorm(g, x, affine ? p[0] : NULL, affine ? p[1] : NULL, r[0], r[1], 1e-5f, 0.1f);
    ng_tensor *wrt[3] = {x, p[0], p[1]};
    char label[40];
    snprintf(label, sizeof label, "batchnorm %dd (%s)", ndim == 2 ? 1 : 2, training ? "train" : "eval");
    ng_params_zero_grad(B);
    /* eval mode is affine in x, w and b (any step is exact; a large one beats float rounding
     * of L); training mode is smooth but not linear in x */
    gradcheck(label, g, y, wrt, affine ? 3 : 1, P, training ? 3e-2f : 0.5f);
    int zero = 1;
    for (int64_t i = 0; i < ng_params_total(B); i++) zero &= ng_params_grad(B)[i] == 0;
    CHECK(zero, "%s: running statistics got a gradient", label);
    ng_graph_free(g);
    ng_params_free(P);
    ng_params_free(B);
}

static void test_grad_batchnorm(void) {
    const int64_t a[2] = {6, 4}, b4[4] = {2, 3, 2, 3}, one[4] = {4, 2, 1, 1};
    for (int training = 1; training >= 0; training--) {
        grad_bn(2, a, training, 1);
        grad_bn(4, b4, training, 1);
    }
    grad_bn(4, one, 1, 1);    /* 1x1 planes */
    grad_bn(4, b4, 1, 0);     /* no weight, no bias */
}

/* The (N,C) layout has its own row-wise kernels (channel blocks of 256 per thread task):
 * with C = 300 > 256 they must agree with the per-channel (N,C,H,W) kernels on the same
 * numbers seen as (1, C, N, 1), which has the same statistics. (Finite differences over 1800
 * outputs would drown in float rounding.) */
static void test_batchnorm_layouts(void) {
    const int N = 6, C = 300;
    const char *pn[4] = {"w", "b", "rm", "rv"};
    const int nd[4] = {1, 1, 1, 1};
    const int64_t shp[4][4] = {{C}, {C}, {C}, {C}};
    ng_tensor *p[2][4];
    ng_params *P[2];
    float *y[2], *dx[2], *dy = malloc(sizeof(float) * N * C);
    fill_normal(dy, N * C, 1);
    for (int k = 0; k < 2; k++) {
        ng_rng_seed(&g_rng, 5);
        P[k] = params_of(4, pn, nd, shp, p[k], 1);
        for (int c = 0; c < C; c++) p[k][3]->data[c] = 1 + fabsf(p[k][3]->data[c]);
        ng_graph *g = ng_graph_new();
        int64_t s2[2] = {N, C}, s4[4] = {1, C, N, 1};
        ng_tensor *x = leaf(g, "x", k ? 4 : 2, k ? s4 : s2, 2);
        float *xt = malloc(sizeof(float) * N * C), *dyk = malloc(sizeof(float) * N * C);
        for (int n = 0; n < N; n++)
            for (int c = 0; c < C; c++) {   /* leaf() drew x as (N,C) for both: transpose the second */
                xt[c * N + n] = x->data[n * C + c] + 0.01f * (float)c;
                dyk[k ? c * N + n : n * C + c] = dy[n * C + c];
            }
        if (!k) for (int i = 0; i < N * C; i++) x->data[(i % N) * C + i / N] = xt[i];
        else memcpy(x->data, xt, sizeof(float) * N * C);
        ng_tensor *out = ng_batchnorm(g, x, p[k][0], p[k][1], p[k][2], p[k][3], 1e-5f, 0.1f);
        int ok = out && ng_graph_finalize(g, out) == NG_OK;
        CHECK(ok, "%s", ng_last_error());
        y[k] = malloc(sizeof(float) * N * C); dx[k] = malloc(sizeof(float) * N * C);
        if (ok) {
            ng_params_zero_grad(P[k]);
            ng_graph_forward(g);
            ng_graph_backward_with(g, dyk);
            for (int n = 0; n < N; n++)
                for (int c = 0; c < C; c++) {
                    y[k][n * C + c] = out->data[k ? c * N + n : n * C + c];
                    dx[k][n * C + c] = x->grad[k ? c * N + n : n * C + c];
                }
        }
        free(xt); free(dyk);
        ng_graph_free(g);
    }
    double e[5] = {max_abs_diff(y[0], y[1], N * C), max_abs_diff(dx[0], dx[1], N * C),
                   max_abs_diff(p[0][0]->grad, p[1][0]->grad, C), max_abs_diff(p[0][1]->grad, p[1][1]->grad, C),
                   fmax(max_abs_diff(p[0][2]->data, p[1][2]->data, C), max_abs_diff(p[0][3]->data, p[1][3]->data, C))};
    CHECK(e[0] < 1e-5 && e[1] < 1e-5 && e[2] < 1e-5 && e[3] < 1e-5 && e[4] < 1e-6,
          "(N,C) vs (1,C,N,1): y %g dx %g dw %g db %g running %g", e[0], e[1], e[2], e[3], e[4]);
    for (int k = 0; k < 2; k++) { free(y[k]); free(dx[k]); ng_params_free(P[k]); }
    free(dy);
}

static void test_grad_pointwise(void) {
    int64_t s[2] = {4, 7};
    {
        ng_graph *g = ng_graph_new();
        ng_tensor *x = leaf(g, "x", 2, s, 1);
        for (int64_t i = 0; i < x->n; i++) {   /* away from the kink at 0 */
            float u = 0.1f + 2.0f * ng_rng_uniform(&g_rng);
            x->data[i] = (i % 3 == 0) ? -u : u;
        }
        gradcheck("leaky_relu", g, ng_leaky_relu(g, x, 0.2f), &x, 1, NULL, 1e-2f);
        ng_graph_free(g);
    }
    {
        ng_graph *g = ng_graph_new();
        ng_tensor *x = leaf(g, "x", 2, s, 1);
        fill_uniform(x->data, x->n, -5, 5);
        gradcheck("sigmoid", g, ng_sigmoid(g, x), &x, 1, NULL, 1e-2f);
        ng_graph_free(g);
    }
    {
        ng_graph *g = ng_graph_new();
        ng_tensor *x = leaf(g, "x", 2, s, 1);
        fill_uniform(x->data, x->n, -3, 3);
        x->data[0] = 0.6f; x->data[1] = -0.65f; x->data[2] = 0.01f;   /* both sides of the 0.625 switch */
        gradcheck("tanh", g, ng_tanh(g, x), &x, 1, NULL, 1e-2f);
        ng_graph_free(g);
    }
}

static void test_grad_losses(void) {
    int64_t s[2] = {3, 5};
    for (int r = 0; r < 2; r++) {
        const char *red = r == NG_MEAN ? "mean" : "sum";
        char label[40];
        {
            ng_graph *g = ng_graph_new();
            ng_tensor *x = leaf(g, "logits", 2, s, 2), *t = leaf(g, "targets", 2, s, 1);
            fill_uniform(t->data, t->n, 0, 1);
            snprintf(label, sizeof label, "bce_logits (%s)", red);
            ng_tensor *wrt[2] = {x, t};
            gradcheck(label, g, ng_bce_logits(g, x, t, (ng_reduction)r), wrt, 2, NULL, 1e-2f);
            ng_graph_free(g);
        }
        {
            ng_graph *g = ng_graph_new();
            ng_tensor *a = leaf(g, "a", 2, s, 1), *b = leaf(g, "b", 2, s, 1);
            snprintf(label, sizeof label, "mse (%s)", red);
            ng_tensor *wrt[2] = {a, b};
            /* quadratic: the stencil is exact at any step, and a larger one beats float rounding of L */
            gradcheck(label, g, ng_mse(g, a, b, (ng_reduction)r), wrt, 2, NULL, 1e-1f);
            ng_graph_free(g);
        }
        {
            ng_graph *g = ng_graph_new();
            ng_tensor *mu = leaf(g, "mu", 2, s, 1), *lv = leaf(g, "logvar", 2, s, 1);
            snprintf(label, sizeof label, "gauss_kl (%s)", red);
            ng_tensor *wrt[2] = {mu, lv};
            gradcheck(label, g, ng_gauss_kl(g, mu, lv, (ng_reduction)r), wrt, 2, NULL, 1e-2f);
            ng_graph_free(g);
        }
    }
    {   /* reparam: eps is plain noise (no gradient) */
        ng_graph *g = ng_graph_new();
        ng_tensor *mu = leaf(g, "mu", 2, s, 1), *lv = leaf(g, "logvar", 2, s, 1), *eps = ng_input(g, "eps", 2, s);
        fill_normal(eps->data, eps->n, 1);
        ng_tensor *wrt[2] = {mu, lv};
        ng_tensor *z = ng_reparam(g, mu, lv, eps);
        gradcheck("reparam", g, z, wrt, 2, NULL, 1e-2f);
        CHECK(eps->grad == NULL, "eps got a gradient buffer");
        ng_graph_free(g);
    }
    {   /* a VAE-shaped composite: bce(sigmoid-free logits) + kl through reparam */
        ng_graph *g = ng_graph_new();
        int64_t zs[2] = {2, 3}, xs[2] = {2, 3};
        ng_tensor *mu = leaf(g, "mu", 2, zs, 1), *lv = leaf(g, "logvar", 2, zs, 0.5f), *eps = ng_input(g, "eps", 2, zs);
        ng_tensor *tg = ng_input(g, "pixels", 2, xs);
        fill_normal(eps->data, eps->n, 1);
        fill_uniform(tg->data, tg->n, 0, 1);
        ng_tensor *z = ng_reparam(g, mu, lv, eps);
        ng_tensor *loss = ng_add(g, ng_bce_logits(g, ng_tanh(g, z), tg, NG_SUM), ng_gauss_kl(g, mu, lv, NG_SUM));
        ng_tensor *wrt[2] = {mu, lv};
        gradcheck("vae composite", g, loss, wrt, 2, NULL, 1e-2f);
        ng_graph_free(g);
    }
}

/* ---------------------------------------------------------------- hand-computed values */

/* Build y from the leaves already in g, finalize, forward. */
static int run(ng_graph *g, ng_tensor *y) {
    int ok = y && ng_graph_finalize(g, y) == NG_OK;
    CHECK(ok, "build: %s", ng_last_error());
    if (ok) ng_graph_forward(g);
    return ok;
}

static void test_conv_values(void) {
    {   /* ones 2x2 kernel on 1..9: windows sums; with a bias; PyTorch's (Co,Ci,k,k) */
        ng_graph *g = ng_graph_new();
        int64_t xs[4] = {1, 1, 3, 3}, ws[4] = {1, 1, 2, 2}, bs[1] = {1};
        ng_tensor *x = ng_input(g, "x", 4, xs), *w = ng_input(g, "w", 4, ws), *b = ng_input(g, "b", 1, bs);
        for (int i = 0; i < 9; i++) x->data[i] = (float)(i + 1);
        for (int i = 0; i < 4; i++) w->data[i] = 1;
        b->data[0] = 0.5f;
        ng_tensor *y = ng_conv2d(g, x, w, b, 1, 0), *y2 = ng_conv2d(g, x, w, b, 2, 1);
        if (run(g, ng_add(g, ng_sum(g, y), ng_sum(g, y2)))) {
            const float want[4] = {12.5f, 16.5f, 24.5f, 28.5f}, want2[4] = {1.5f, 5.5f, 11.5f, 28.5f};
            CHECK(y->ne[2] == 2 && y->ne[3] == 2 && memcmp(y->data, want, sizeof want) == 0, "ones kernel: %g %g %g %g",
                  y->data[0], y->data[1], y->data[2], y->data[3]);
            CHECK(y2->ne[2] == 2 && memcmp(y2->data, want2, sizeof want2) == 0, "stride 2 pad 1: %g %g %g %g",
                  y2->data[0], y2->data[1], y2->data[2], y2->data[3]);
        }
        ng_graph_free(g);
    }
    {   /* cross-correlation, not convolution: a kernel with one tap at (1,2) reads x[i+1][j+2];
         * the discrete Laplacian of i^2 + j^2 is 4; two input and two output channels */
        ng_graph *g = ng_graph_new();
        int64_t xs[4] = {2, 2, 6, 7}, ws[4] = {2, 2, 3, 3};
        ng_tensor *x = ng_input(g, "x", 4, xs), *w = ng_input(g, "w", 4, ws);
        for (int n = 0; n < 2; n++)
            for (int i = 0; i < 6; i++)
                for (int j = 0; j < 7; j++) {
                    x->data[((n * 2 + 0) * 6 + i) * 7 + j] = (float)(i * i + j * j + n);
                    x->data[((n * 2 + 1) * 6 + i) * 7 + j] = (float)(10 * i + j + 100 * n);
                }
        /* out 0 = laplacian(channel 0); out 1 = shift of channel 1 minus shift of channel 0 */
        const float lap[9] = {0, 1, 0, 1, -4, 1, 0, 1, 0};
        memcpy(w->data + 0 * 9, lap, sizeof lap);          /* w[0][0] */
        w->data[(1 * 2 + 1) * 9 + 1 * 3 + 2] = 1.0f;       /* w[1][1] tap (1,2) */
        w->data[(1 * 2 + 0) * 9 + 0 * 3 + 0] = -1.0f;      /* w[1][0] tap (0,0) */
        ng_tensor *y = ng_conv2d(g, x, w, NULL, 1, 0);
        if (run(g, y)) {
            int ok = y->ne[1] == 2 && y->ne[2] == 4 && y->ne[3] == 5;
            for (int n = 0; n < 2 && ok; n++)
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 5; j++) {
                        ok &= y->data[((n * 2 + 0) * 4 + i) * 5 + j] == 4.0f;
                        float want = (float)(10 * (i + 1) + (j + 2) + 100 * n) - (float)(i * i + j * j + n);
                        ok &= y->data[((n * 2 + 1) * 4 + i) * 5 + j] == want;
                    }
            CHECK(ok, "known kernels (Laplacian = 4, shifted taps, cross-correlation orientation)");
        }
        ng_graph_free(g);
    }
    {   /* transposed: output size (H-1)*s - 2p + k = 14 for H=7, k=4, s=2, p=1 (DCGAN) */
        ng_graph *g = ng_graph_new();
        int64_t xs[4] = {2, 3, 7, 7}, ws[4] = {3, 5, 4, 4};
        ng_tensor *y = ng_conv_transpose2d(g, ng_input(g, "x", 4, xs), ng_input(g, "w", 4, ws), NULL, 2, 1);
        CHECK(y && y->ne[0] == 2 && y->ne[1] == 5 && y->ne[2] == 14 && y->ne[3] == 14, "conv_t2d output size");
        ng_graph_free(g);
    }
    {   /* transposed with a ones 2x2 kernel: stride 1 overlaps, stride 2 tiles 2x2 blocks */
        ng_graph *g = ng_graph_new();
        int64_t xs[4] = {1, 1, 2, 2}, ws[4] = {1, 1, 2, 2}, bs[1] = {1};
        ng_tensor *x = ng_input(g, "x", 4, xs), *w = ng_input(g, "w", 4, ws), *b = ng_input(g, "b", 1, bs);
        for (int i = 0; i < 4; i++) { x->data[i] = (float)(i + 1); w->data[i] = 1; }
        b->data[0] = 0.25f;
        ng_tensor *y1 = ng_conv_transpose2d(g, x, w, NULL, 1, 0), *y2 = ng_conv_transpose2d(g, x, w, b, 2, 0);
        if (run(g, ng_add(g, ng_sum(g, y1), ng_sum(g, y2)))) {
            const float w1[9] = {1, 3, 2, 4, 10, 6, 3, 7, 4};
            CHECK(y1->ne[2] == 3 && memcmp(y1->data, w1, sizeof w1) == 0, "conv_t2d stride 1 values");
            int ok = y2->ne[2] == 4 && y2->ne[3] == 4;
            for (int i = 0; i < 4 && ok; i++)
                for (int j = 0; j < 4; j++) ok &= y2->data[i * 4 + j] == x->data[(i / 2) * 2 + j / 2] + 0.25f;
            CHECK(ok, "conv_t2d stride 2 tiles the input");
        }
        ng_graph_free(g);
    }
}

static void test_pool_values(void) {
    ng_graph *g = ng_graph_new();
    int64_t xs[4] = {1, 2, 4, 4};
    ng_tensor *x = leaf(g, "x", 4, xs, 0);
    const float v[16] = {1, 5, 2, 0, -1, 3, 7, 7, 9, -2, 4, 4, 0, 8, 6, -5};
    memcpy(x->data, v, sizeof v);
    for (int i = 0; i < 16; i++) x->data[16 + i] = -v[i];
    ng_tensor *mp = ng_maxpool2d(g, x, 2, 2), *ap = ng_avgpool2d(g, x, 2, 2), *mp3 = ng_maxpool2d(g, x, 3, 1);
    ng_tensor *out = ng_add(g, ng_add(g, ng_sum(g, mp), ng_sum(g, ap)), ng_sum(g, mp3));
    if (run(g, out)) {
        const float m[4] = {5, 7, 9, 6}, a[4] = {2, 4, 3.75f, 2.25f}, mneg[4] = {1, 0, 2, 5}, m3[4] = {9, 7, 9, 8};
        CHECK(memcmp(mp->data, m, sizeof m) == 0, "maxpool 2x2: %g %g %g %g", mp->data[0], mp->data[1], mp->data[2], mp->data[3]);
        CHECK(mp->data[4] == mneg[0] && mp->data[5] == mneg[1] && mp->data[6] == mneg[2] && mp->data[7] == mneg[3],
              "maxpool of the negated plane");   /* == : one of them is -0 */
        CHECK(memcmp(ap->data, a, sizeof a) == 0, "avgpool 2x2: %g %g %g %g", ap->data[0], ap->data[1], ap->data[2], ap->data[3]);
        CHECK(memcmp(mp3->data, m3, sizeof m3) == 0, "maxpool 3x3 stride 1");
        ng_graph_backward(g);
        /* maxpool routes to the argmax (the first 7 of the tie in window (0,1)); overlapping
         * 3x3 windows send 9 twice; avgpool spreads 1/4 */
        CHECK(x->grad[1] == 1.25f && x->grad[6] == 2.25f && x->grad[7] == 0.25f && x->grad[8] == 3.25f && x->grad[13] == 1.25f,
              "pool gradients %g %g %g %g %g", x->grad[1], x->grad[6], x->grad[7], x->grad[8], x->grad[13]);
    }
    ng_graph_free(g);
}

static void test_batchnorm_values(void) {
    /* x (4, 2): channel 0 = 1,2,3,4 (mean 2.5, biased var 1.25, unbiased 5/3), channel 1 = 2,2,2,6 */
    const char *pn[4] = {"w", "b", "rm", "rv"};
    const int nd[4] = {1, 1, 1, 1};
    const int64_t shp[4][4] = {{2}, {2}, {2}, {2}};
    ng_tensor *p[4];
    ng_params *P = params_of(4, pn, nd, shp, p, 0);
    p[0]->data[0] = 2; p[0]->data[1] = 0.5f; p[1]->data[0] = 1; p[1]->data[1] = -1;
    p[2]->data[0] = 0.5f; p[2]->data[1] = -1; p[3]->data[0] = 2; p[3]->data[1] = 4;
    ng_graph *g = ng_graph_new();
    int64_t xs[2] = {4, 2};
    ng_tensor *x = ng_input(g, "x", 2, xs);
    const float xv[8] = {1, 2, 2, 2, 3, 2, 4, 6};
    memcpy(x->data, xv, sizeof xv);
    ng_tensor *y = ng_batchnorm(g, x, p[0], p[1], p[2], p[3], 1e-5f, 0.1f);
    if (run(g, y)) {
        double r0 = 1 / sqrt(1.25 + 1e-5), r1 = 1 / sqrt(3.0 + 1e-5);
        CHECK_NEAR(y->data[0], (1 - 2.5) * r0 * 2 + 1, 1e-5);
        CHECK_NEAR(y->data[6], (4 - 2.5) * r0 * 2 + 1, 1e-5);
        CHECK_NEAR(y->data[1], (2 - 3.0) * r1 * 0.5 - 1, 1e-5);
        CHECK_NEAR(y->data[7], (6 - 3.0) * r1 * 0.5 - 1, 1e-5);
        /* running stats: momentum 0.1, unbiased variance */
        CHECK_NEAR(p[2]->data[0], 0.9 * 0.5 + 0.1 * 2.5, 1e-6);
        CHECK_NEAR(p[2]->data[1], 0.9 * -1 + 0.1 * 3.0, 1e-6);
        CHECK_NEAR(p[3]->data[0], 0.9 * 2 + 0.1 * (5.0 / 3.0), 1e-6);
        CHECK_NEAR(p[3]->data[1], 0.9 * 4 + 0.1 * 4.0, 1e-6);   /* var of 2,2,2,6: biased 3, unbiased 4 */
        /* a second training forward updates them again */
        ng_graph_forward(g);
        CHECK_NEAR(p[2]->data[0], 0.9 * (0.9 * 0.5 + 0.25) + 0.25, 1e-6);
        /* eval: the running statistics normalise, nothing is updated */
        ng_graph_set_training(g, 0);
        float rm0 = p[2]->data[0], rv0 = p[3]->data[0], rm1 = p[2]->data[1], rv1 = p[3]->data[1];
        ng_graph_forward(g);
        CHECK_NEAR(y->data[0], (1 - rm0) / sqrt(rv0 + 1e-5) * 2 + 1, 1e-5);
        CHECK_NEAR(y->data[7], (6 - rm1) / sqrt(rv1 + 1e-5) * 0.5 - 1, 1e-5);
        CHECK(p[2]->data[0] == rm0 && p[3]->data[1] == rv1, "eval forward changed the running statistics");
    }
    ng_graph_free(g);
    ng_params_free(P);

    /* 2-D: statistics over N, H and W per channel; fresh running stats 0 / 1 */
    ng_params *Q = params_of(4, pn, nd, shp, p, 0);
    for (int c = 0; c < 2; c++) { p[0]->data[c] = 1; p[3]->data[c] = 1; }
    g = ng_graph_new();
    int64_t x4[4] = {2, 2, 2, 3};
    x = ng_input(g, "x", 4, x4);
    double sum[2] = {0}, sq[2] = {0};
    for (int64_t i = 0; i < x->n; i++) {
        int c = (int)((i / 6) % 2);
        x->data[i] = (float)((i * 7) % 11) * (c ? 0.5f : 2.0f) + (float)c;
        sum[c] += x->data[i];
    }
    for (int64_t i = 0; i < x->n; i++) { int c = (int)((i / 6) % 2); double d = x->data[i] - sum[c] / 12; sq[c] += d * d; }
    y = ng_batchnorm(g, x, p[0], p[1], p[2], p[3], 1e-5f, 0.1f);
    if (run(g, y)) {
        int ok = 1;
        for (int64_t i = 0; i < x->n; i++) {
            int c = (int)((i / 6) % 2);
            ok &= fabs(y->data[i] - (x->data[i] - sum[c] / 12) / sqrt(sq[c] / 12 + 1e-5)) < 1e-5;
        }
        CHECK(ok, "batchnorm 2d normalises per channel over N, H, W");
        for (int c = 0; c < 2; c++) {
            CHECK_NEAR(p[2]->data[c], 0.1 * sum[c] / 12, 1e-5);
            CHECK_NEAR(p[3]->data[c], 0.9 + 0.1 * sq[c] / 11, 1e-5);
        }
    }
    ng_graph_free(g);
    ng_params_free(Q);
}

/* exact BCE with logits in double */
static double bce_ref(double x, double t) { return fmax(x, 0) - x * t + log1p(exp(-fabs(x))); }

static void test_loss_values(void) {
    {   /* extreme logits stay finite and exact; gradients finite */
        ng_graph *g = ng_graph_new();
        int64_t s[1] = {8};
        ng_tensor *x = leaf(g, "x", 1, s, 0), *t = ng_input(g, "t", 1, s);
        const float xv[8] = {1000, -1000, 100, -100, 0, 20, -30, 1e-3f}, tv[8] = {0, 1, 1, 0, 0.5f, 0.3f, 1, 1};
        memcpy(x->data, xv, sizeof xv); memcpy(t->data, tv, sizeof tv);
        ng_tensor *ls = ng_bce_logits(g, x, t, NG_SUM), *lm = ng_bce_logits(g, x, t, NG_MEAN);
        if (run(g, ng_add(g, ls, lm))) {
            double want = 0;
            for (int i = 0; i < 8; i++) want += bce_ref(xv[i], tv[i]);
            CHECK(isfinite(ls->data[0]) && fabs(ls->data[0] - want) <= 1e-6 * want, "bce sum %.9g want %.9g", ls->data[0], want);
            CHECK_NEAR(lm->data[0], want / 8, 1e-6 * want);
            ng_graph_backward(g);
            int fin = 1;
            for (int i = 0; i < 8; i++) fin &= isfinite(x->grad[i]);
            CHECK(fin && fabs(x->grad[0] - 1.125) < 1e-6 && fabs(x->grad[1] + 1.125) < 1e-6, "bce gradients at +-1000: %g %g",
                  x->grad[0], x->grad[1]);
        }
        ng_graph_free(g);
    }
    {   /* the vectorised log1p over a range of logits: relative error of each element */
        ng_graph *g = ng_graph_new();
        int64_t s[1] = {1};
        ng_tensor *x = ng_input(g, "x", 1, s), *t = ng_input(g, "t", 1, s);
        ng_tensor *l = ng_bce_logits(g, x, t, NG_SUM);
        double worst = 0;
        if (run(g, l))
            for (int i = 0; i <= 4000; i++) {
                x->data[0] = -40.0f + 80.0f * (float)i / 4000.0f;
                t->data[0] = (i % 3) * 0.5f;
                ng_graph_forward(g);
                double want = bce_ref(x->data[0], t->data[0]);
                worst = fmax(worst, fabs(l->data[0] - want) / fmax(want, 1e-30));
            }
        printf("  bce_logits: worst relative error per element over [-40, 40] = %.1e\n", worst);
        CHECK(worst < 2e-6, "bce_logits element relative error %.2e", worst);
        ng_graph_free(g);
    }
    {   /* mse, kl (NG_MEAN = per row), reparam */
        ng_graph *g = ng_graph_new();
        int64_t s[2] = {2, 3};
        ng_tensor *a = ng_input(g, "a", 2, s), *b = ng_input(g, "b", 2, s), *e = ng_input(g, "eps", 2, s);
        const float av[6] = {1, 2, 3, 0, -1, 0.5f}, bv[6] = {0, 2, 1, 1, 1, 0};
        memcpy(a->data, av, sizeof av); memcpy(b->data, bv, sizeof bv);
        for (int i = 0; i < 6; i++) e->data[i] = (float)i - 2;
        ng_tensor *ms = ng_mse(g, a, b, NG_SUM), *mm = ng_mse(g, a, b, NG_MEAN);
        ng_tensor *ks = ng_gauss_kl(g, a, b, NG_SUM), *km = ng_gauss_kl(g, a, b, NG_MEAN);
        ng_tensor *z = ng_reparam(g, a, b, e);
        ng_tensor *out = ng_add(g, ng_add(g, ng_add(g, ms, mm), ng_add(g, ks, km)), ng_sum(g, z));
        if (run(g, out)) {
            double se = 0, kl = 0;
            for (int i = 0; i < 6; i++) {
                se += (av[i] - bv[i]) * (av[i] - bv[i]);
                kl += -0.5 * (1 + bv[i] - av[i] * av[i] - exp(bv[i]));
            }
            CHECK_NEAR(ms->data[0], se, 1e-5);
            CHECK_NEAR(mm->data[0], se / 6, 1e-6);
            CHECK_NEAR(ks->data[0], kl, 1e-5);
            CHECK_NEAR(km->data[0], kl / 2, 1e-5);   /* per sample: divided by N = 2 rows */
            int ok = 1;
            for (int i = 0; i < 6; i++) ok &= fabs(z->data[i] - (av[i] + exp(0.5 * bv[i]) * e->data[i])) < 1e-5;
            CHECK(ok, "reparam values");
        }
        ng_graph_free(g);
        /* KL of N(0,1) is 0 */
        g = ng_graph_new();
        ng_tensor *mu = ng_input(g, "mu", 2, s), *lv = ng_input(g, "lv", 2, s);
        ng_tensor *k0 = ng_gauss_kl(g, mu, lv, NG_SUM);
        if (run(g, k0)) CHECK(k0->data[0] == 0, "KL of a standard normal %g", k0->data[0]);
        ng_graph_free(g);
    }
}

static void test_pointwise_values(void) {
    ng_graph *g = ng_graph_new();
    const int n = 20001;
    int64_t s[1] = {n + 6};
    ng_tensor *x = ng_input(g, "x", 1, s);
    for (int i = 0; i < n; i++) x->data[i] = -20.0f + 40.0f * (float)i / (float)(n - 1);
    const float ext[6] = {1000, -1000, 88.7f, -88.7f, 1e-6f, -1e-6f};
    memcpy(x->data + n, ext, sizeof ext);
    ng_tensor *sg = ng_sigmoid(g, x), *th = ng_tanh(g, x), *lr = ng_leaky_relu(g, x, 0.2f);
    if (run(g, ng_add(g, ng_add(g, ng_sum(g, sg), ng_sum(g, th)), ng_sum(g, lr)))) {
        double es = 0, et = 0;
        int ok = 1;
        for (int i = 0; i < n + 6; i++) {
            double v = x->data[i], ws = 1 / (1 + exp(-v)), wt = tanh(v);
            es = fmax(es, fabs(sg->data[i] - ws) / fmax(ws, 1e-30) * (ws > 1e-30));
            et = fmax(et, fabs(th->data[i] - wt) / fmax(fabs(wt), 1e-30));
            ok &= isfinite(sg->data[i]) && sg->data[i] >= 0 && sg->data[i] <= 1 && th->data[i] >= -1 && th->data[i] <= 1;
            ok &= lr->data[i] == (v > 0 ? (float)v : 0.2f * (float)v);
        }
        printf("  sigmoid rel err %.1e, tanh rel err %.1e over [-20, 20] and extremes\n", es, et);
        CHECK(es < 1e-6 && et < 1e-6, "sigmoid %.2e tanh %.2e relative error", es, et);
        CHECK(ok, "finite, in range, leaky_relu exact");
        CHECK(th->data[n] == 1.0f && th->data[n + 1] == -1.0f && sg->data[n] == 1.0f && sg->data[n + 1] < 1e-37f, "saturation");
    }
    ng_graph_free(g);
}

/* ---------------------------------------------------------------- errors, threads */

static void test_shape_errors(void) {
    ng_graph *g = ng_graph_new();
    int64_t x4[4] = {2, 3, 8, 8}, w4[4] = {4, 3, 3, 3}, wbad[4] = {4, 2, 3, 3}, wrect[4] = {4, 3, 3, 2}, wbig[4] = {4, 3, 11, 11};
    int64_t c4[1] = {4}, c3[1] = {3}, x2[2] = {5, 3}, x3[3] = {2, 3, 4}, s23[2] = {2, 3}, s32[2] = {3, 2}, tw[4] = {3, 4, 4, 4};
    ng_tensor *x = ng_input(g, "x", 4, x4), *w = ng_input(g, "w", 4, w4), *wb = ng_input(g, "wbad", 4, wbad);
    ng_tensor *wr = ng_input(g, "wrect", 4, wrect), *wg = ng_input(g, "wbig", 4, wbig), *b4 = ng_input(g, "b4", 1, c4);
    ng_tensor *b3 = ng_input(g, "b3", 1, c3), *m2 = ng_input(g, "m2", 2, x2), *m3 = ng_input(g, "m3", 3, x3);
    ng_tensor *a = ng_input(g, "a", 2, s23), *at = ng_input(g, "at", 2, s32), *wt = ng_input(g, "wt", 4, tw);
    ng_tensor *idx = ng_input_i32(g, "idx", 2, s23);
    CHECK(ng_conv2d(g, x, w, b4, 1, 1) != NULL, "valid conv: %s", ng_last_error());
    CHECK(ng_conv2d(g, x, wb, NULL, 1, 1) == NULL && strstr(ng_last_error(), "conv2d"), "channel mismatch: %s", ng_last_error());
    CHECK(ng_conv2d(g, x, wr, NULL, 1, 1) == NULL, "non-square kernel");
    CHECK(ng_conv2d(g, x, w, b3, 1, 1) == NULL && strstr(ng_last_error(), "bias"), "bias size: %s", ng_last_error());
    CHECK(ng_conv2d(g, x, w, NULL, 0, 1) == NULL && strstr(ng_last_error(), "stride"), "stride 0: %s", ng_last_error());
    CHECK(ng_conv2d(g, x, w, NULL, 1, -1) == NULL && strstr(ng_last_error(), "padding"), "pad -1: %s", ng_last_error());
    CHECK(ng_conv2d(g, x, wg, NULL, 1, 1) == NULL && strstr(ng_last_error(), "larger"), "kernel > input: %s", ng_last_error());
    CHECK(ng_conv2d(g, m3, w, NULL, 1, 1) == NULL, "3-D input");
    CHECK(ng_conv2d(g, NULL, w, NULL, 1, 1) == NULL, "NULL input");
    CHECK(ng_conv_transpose2d(g, x, wt, b4, 2, 1) != NULL, "valid conv_t: %s", ng_last_error());
    CHECK(ng_conv_transpose2d(g, x, w, NULL, 2, 1) == NULL && strstr(ng_last_error(), "conv_transpose2d"),
          "conv_t wants (Ci,Co,k,k): %s", ng_last_error());
    CHECK(ng_conv_transpose2d(g, x, wt, b3, 2, 1) == NULL, "conv_t bias size");
    CHECK(ng_conv_transpose2d(g, x, wt, NULL, 1, 9) == NULL && strstr(ng_last_error(), "empty"), "conv_t empty output: %s",
          ng_last_error());
    CHECK(ng_conv_transpose2d(g, x, wt, NULL, -1, 0) == NULL, "conv_t stride -1");
    CHECK(ng_maxpool2d(g, x, 0, 2) == NULL && strstr(ng_last_error(), "maxpool2d"), "pool k 0: %s", ng_last_error());
    CHECK(ng_maxpool2d(g, x, 2, 0) == NULL, "pool stride 0");
    CHECK(ng_avgpool2d(g, x, 9, 1) == NULL && strstr(ng_last_error(), "larger"), "pool window > input: %s", ng_last_error());
    CHECK(ng_avgpool2d(g, m2, 2, 2) == NULL, "pool of a 2-D tensor");
    CHECK(ng_batchnorm(g, x, b3, b3, b3, b3, 1e-5f, 0.1f) != NULL, "valid batchnorm: %s", ng_last_error());
    CHECK(ng_batchnorm(g, x, b4, b3, b3, b3, 1e-5f, 0.1f) == NULL && strstr(ng_last_error(), "weight"), "bn weight size: %s",
          ng_last_error());
    CHECK(ng_batchnorm(g, x, b3, b3, b3, b4, 1e-5f, 0.1f) == NULL && strstr(ng_last_error(), "running_var"), "bn var: %s",
          ng_last_error());
    CHECK(ng_batchnorm(g, m3, b3, b3, b3, b3, 1e-5f, 0.1f) == NULL, "bn of a 3-D tensor");
    CHECK(ng_batchnorm(g, x, b3, b3, NULL, b3, 1e-5f, 0.1f) == NULL, "bn without running mean");
    CHECK(ng_batchnorm(g, x, b3, b3, b3, b3, 1e-5f, 1.5f) == NULL && strstr(ng_last_error(), "momentum"), "bn momentum 1.5");
    CHECK(ng_bce_logits(g, a, at, NG_MEAN) == NULL && strstr(ng_last_error(), "bce_logits"), "bce shapes: %s", ng_last_error());
    CHECK(ng_bce_logits(g, a, idx, NG_MEAN) == NULL, "bce with i32 targets");
    CHECK(ng_bce_logits(g, a, a, (ng_reduction)7) == NULL && strstr(ng_last_error(), "reduction"), "bad reduction");
    CHECK(ng_mse(g, a, at, NG_SUM) == NULL && strstr(ng_last_error(), "mse"), "mse shapes");
    CHECK(ng_gauss_kl(g, a, at, NG_SUM) == NULL && strstr(ng_last_error(), "gauss_kl"), "kl shapes");
    CHECK(ng_reparam(g, a, a, at) == NULL && strstr(ng_last_error(), "reparam"), "reparam eps shape");
    CHECK(ng_reparam(g, a, at, a) == NULL, "reparam logvar shape");
    CHECK(ng_leaky_relu(g, a, NAN) == NULL, "NaN slope");
    CHECK(ng_sigmoid(g, NULL) == NULL && ng_tanh(g, idx) == NULL, "NULL / i32 operand");
    ng_graph_free(g);
}

/* A DCGAN-sized slice (sizes above the threading thresholds) gives the same numbers with 1
 * and 2 threads. */
static void test_threads(void) {
    float *out[2], *gx[2], *gw[2];
    int64_t n_out = 0, n_x = 0, n_w = 0;
    for (int run_ = 0; run_ < 2; run_++) {
        ng_set_threads(run_ ? 2 : 1);
        ng_rng_seed(&g_rng, 99);
        const char *pn[6] = {"c1.w", "c1.b", "bn.w", "bn.b", "up.w", "up.b"}, *bn_[2] = {"rm", "rv"};
        const int nd[6] = {4, 1, 1, 1, 4, 1};
        const int64_t shp[6][4] = {{16, 3, 4, 4}, {16}, {16}, {16}, {16, 2, 4, 4}, {2}}, rs[2][4] = {{16}, {16}};
        ng_tensor *p[6], *r[2];
        const int nd1[2] = {1, 1};
        ng_params *P = params_of(6, pn, nd, shp, p, 0.2f), *B = params_of(2, bn_, nd1, rs, r, 0);
        for (int c = 0; c < 16; c++) r[1]->data[c] = 1;
        ng_graph *g = ng_graph_new();
        int64_t xs[4] = {8, 3, 28, 28};
        ng_tensor *x = leaf(g, "x", 4, xs, 1);
        ng_tensor *h = ng_leaky_relu(g, ng_batchnorm(g, ng_conv2d(g, x, p[0], p[1], 2, 1), p[2], p[3], r[0], r[1], 1e-5f, 0.1f), 0.2f);
        h = ng_maxpool2d(g, h, 2, 1);
        ng_tensor *y = ng_tanh(g, ng_conv_transpose2d(g, h, p[4], p[5], 2, 1));
        ng_tensor *tg = ng_input(g, "t", 4, y->ne);
        fill_uniform(tg->data, tg->n, 0, 1);
        ng_tensor *loss = ng_bce_logits(g, y, tg, NG_MEAN);
        ng_graph_finalize(g, loss);
        ng_graph_forward(g);
        ng_graph_backward(g);
        n_out = y->n; n_x = x->n; n_w = p[0]->n;
        out[run_] = malloc(n_out * sizeof(float)); gx[run_] = malloc(n_x * sizeof(float)); gw[run_] = malloc(n_w * sizeof(float));
        memcpy(out[run_], y->data, n_out * sizeof(float));
        memcpy(gx[run_], x->grad, n_x * sizeof(float));
        memcpy(gw[run_], p[0]->grad, n_w * sizeof(float));
        ng_graph_free(g);
        ng_params_free(P);
        ng_params_free(B);
    }
    ng_set_threads(0);
    double d0 = max_abs_diff(out[0], out[1], n_out), d1 = max_abs_diff(gx[0], gx[1], n_x), d2 = max_abs_diff(gw[0], gw[1], n_w);
    double s1 = max_abs(gx[0], n_x), s2 = max_abs(gw[0], n_w);
    CHECK(d0 < 1e-6 && d1 <= 1e-5 * s1 && d2 <= 1e-5 * s2, "1 vs 2 threads: forward %g, dx %g (of %g), dw %g (of %g)", d0, d1,
          s1, d2, s2);
    for (int k = 0; k < 2; k++) { free(out[k]); free(gx[k]); free(gw[k]); }
}

int main(void) {
    ng_rng_seed(&g_rng, 20240611);
    RUN(test_grad_conv2d);
    RUN(test_grad_conv_t2d);
    RUN(test_conv_twins);
    RUN(test_conv_accumulate);
    RUN(test_backward_inputs);
    RUN(test_grad_pool);
    RUN(test_grad_batchnorm);
    RUN(test_batchnorm_layouts);
    RUN(test_grad_pointwise);
    RUN(test_grad_losses);
    RUN(test_conv_values);
    RUN(test_pool_values);
    RUN(test_batchnorm_values);
    RUN(test_loss_values);
    RUN(test_pointwise_values);
    RUN(test_shape_errors);
    RUN(test_threads);
    printf("  finite differences (tolerance |a-n| <= %g max(|a|,|n|) + %g):\n", FD_RTOL, FD_ATOL);
    for (int i = 0; i < g_nstats; i++)
        printf("    %-24s %5ld elements  max abs err %.2e  max rel err %.2e  worst err/tol %.2f\n", g_stats[i].op,
               g_stats[i].n, g_stats[i].max_abs, g_stats[i].max_rel, g_stats[i].worst);
    TEST_MAIN_END();
}

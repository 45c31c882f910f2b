/* test_ops.c - the engine: every graph op's backward against central finite differences
 * (inputs and ng_params leaves), forward values against hand-computed results, the fast
 * GEMM against its reference twin, the learning-rate schedule and AdamW against PyTorch's
 * formulas, gradient clipping. Prints the largest finite-difference error seen per op. */
#include "nanogen.h"
#include "test.h"
#include "ops/kernels/fastmath.h"
#include "ops/kernels/kernels.h"
#include "graph/graph_internal.h"   /* ng_drop_stream: the dropout twin */

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gradcheck.h"
#include "ops/attention_ref.h"

/* A parameter block with the given tensors declared (ne rows of up to 2 dims), allocated,
 * filled N(0, std). */
static ng_params *params_of(int n, const char **names, const int64_t (*shapes)[2], const int *ndims,
                            ng_tensor **out, float std) {
    ng_params *P = ng_params_new();
    for (int i = 0; i < n; i++) out[i] = ng_param(P, names[i], ndims[i], shapes[i], 1);
    if (ng_params_alloc(P)) return NULL;
    for (int i = 0; i < n; i++) fill_normal(out[i]->data, out[i]->n, std);
    return P;
}

/* ---------------------------------------------------------------- gradient checks per op */

static void test_grad_linear(void) {
    /* inputs as leaves, with bias, 2-D */
    {
        ng_graph *g = ng_graph_new();
        int64_t xs[2] = {5, 4}, ws[2] = {3, 4}, bs[1] = {3};
        ng_tensor *x = leaf(g, "x", 2, xs, 1), *W = leaf(g, "W", 2, ws, 1), *b = leaf(g, "b", 1, bs, 1);
        ng_tensor *w[3] = {x, W, b};
        gradcheck("linear", g, ng_linear(g, x, W, b), w, 3, NULL, 1e-2f);
        ng_graph_free(g);
    }
    /* without bias, 3-D input */
    {
        ng_graph *g = ng_graph_new();
        int64_t xs[3] = {2, 3, 5}, ws[2] = {4, 5};
        ng_tensor *x = leaf(g, "x", 3, xs, 1), *W = leaf(g, "W", 2, ws, 1);
        ng_tensor *y = ng_linear(g, x, W, NULL);
        CHECK(y && y->ndim == 3 && y->ne[0] == 2 && y->ne[1] == 3 && y->ne[2] == 4, "3-D linear shape");
        ng_tensor *w[2] = {x, W};
        gradcheck("linear", g, y, w, 2, NULL, 1e-2f);
        ng_graph_free(g);
    }
    /* W and b as ng_params leaves, 3-D input with bias */
    {
        const char *names[2] = {"W", "b"};
        const int64_t shapes[2][2] = {{3, 4}, {3, 0}};
        const int ndims[2] = {2, 1};
        ng_tensor *p[2];
        ng_params *P = params_of(2, names, shapes, ndims, p, 1);
        ng_graph *g = ng_graph_new();
        int64_t xs[3] = {2, 2, 4};
        ng_tensor *x = leaf(g, "x", 3, xs, 1);
        ng_tensor *w[3] = {x, p[0], p[1]};
        gradcheck("linear", g, ng_linear(g, x, p[0], p[1]), w, 3, P, 1e-2f);
        ng_graph_free(g);
        ng_params_free(P);
    }
}

static void test_grad_matmul(void) {
    const int M = 3, K = 4, N = 5;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++) {
            ng_graph *g = ng_graph_new();
            int64_t as[2] = {ta ? K : M, ta ? M : K}, bs[2] = {tb ? N : K, tb ? K : N};
            ng_tensor *a = leaf(g, "a", 2, as, 1), *b = leaf(g, "b", 2, bs, 1);
            ng_tensor *y = ng_matmul(g, a, b, ta, tb);
            CHECK(y && y->ne[0] == M && y->ne[1] == N, "matmul shape ta=%d tb=%d", ta, tb);
            ng_tensor *w[2] = {a, b};
            gradcheck("matmul", g, y, w, 2, NULL, 1e-2f);
            /* forward against the plain triple loop */
            double maxd = 0;
            for (int i = 0; i < M; i++)
                for (int j = 0; j < N; j++) {
                    double s = 0;
                    for (int k = 0; k < K; k++)
                        s += (double)(ta ? a->data[k * M + i] : a->data[i * K + k]) * (tb ? b->data[j * K + k] : b->data[k * N + j]);
                    maxd = fmax(maxd, fabs(s - y->data[i * N + j]));
                }
            CHECK(maxd < 1e-5, "matmul forward ta=%d tb=%d off by %g", ta, tb, maxd);
            ng_graph_free(g);
        }
}

static void test_grad_embedding(void) {
    /* table as an input leaf; ids repeat (1 three times, 3 three times), 2-D ids */
    {
        ng_graph *g = ng_graph_new();
        int64_t ts[2] = {5, 3}, is[2] = {2, 4};
        ng_tensor *table = leaf(g, "table", 2, ts, 1), *idx = ng_input_i32(g, "idx", 2, is);
        const int32_t ids[8] = {1, 3, 1, 0, 4, 1, 3, 3};
        memcpy(idx->idata, ids, sizeof ids);
        ng_tensor *y = ng_embedding(g, table, idx);
        CHECK(y && y->ndim == 3 && y->ne[2] == 3, "embedding shape");
        ng_tensor *w[1] = {table};
        gradcheck("embedding", g, y, w, 1, NULL, 1e-2f);
        int same = 1;
        for (int i = 0; i < 8; i++)
            if (memcmp(y->data + i * 3, table->data + ids[i] * 3, 3 * sizeof(float))) same = 0;
        CHECK(same, "embedding rows are the table rows");
        /* row 2 is never used: zero gradient */
        CHECK(table->grad[6] == 0 && table->grad[7] == 0 && table->grad[8] == 0, "unused row has a gradient");
        ng_graph_free(g);
    }
    /* table as a parameter */
    {
        const char *names[1] = {"wte"};
        const int64_t shapes[1][2] = {{4, 2}};
        const int ndims[1] = {2};
        ng_tensor *p[1];
        ng_params *P = params_of(1, names, shapes, ndims, p, 1);
        ng_graph *g = ng_graph_new();
        int64_t is[1] = {6};
        ng_tensor *idx = ng_input_i32(g, "idx", 1, is);
        const int32_t ids[6] = {2, 2, 0, 3, 2, 0};
        memcpy(idx->idata, ids, sizeof ids);
        gradcheck("embedding", g, ng_embedding(g, p[0], idx), p, 1, P, 1e-2f);
        ng_graph_free(g);
        ng_params_free(P);
    }
}

static void test_grad_add_mul_scale(void) {
    {   /* same shape */
        ng_graph *g = ng_graph_new();
        int64_t s[2] = {3, 4};
        ng_tensor *a = leaf(g, "a", 2, s, 1), *b = leaf(g, "b", 2, s, 1);
        ng_tensor *w[2] = {a, b};
        gradcheck("add", g, ng_add(g, a, b), w, 2, NULL, 1e-2f);
        ng_graph_free(g);
    }
    {   /* broadcast of a vector and of a matrix over leading dims */
        ng_graph *g = ng_graph_new();
        int64_t s[3] = {2, 3, 4}, s1[1] = {4}, s2[2] = {3, 4};
        ng_tensor *a = leaf(g, "a", 3, s, 1), *b = leaf(g, "b", 1, s1, 1), *c = leaf(g, "c", 2, s2, 1);
        ng_tensor *y = ng_add(g, ng_add(g, a, b), c);
        ng_tensor *w[3] = {a, b, c};
        gradcheck("add", g, y, w, 3, NULL, 1e-2f);
        CHECK_NEAR(y->data[1 * 12 + 2 * 4 + 3], a->data[1 * 12 + 2 * 4 + 3] + b->data[3] + c->data[2 * 4 + 3], 1e-6);
        ng_graph_free(g);
    }
    {   /* broadcast of a parameter (as gpt.c does with wpe) */
        const char *names[1] = {"bias"};
        const int64_t shapes[1][2] = {{3, 2}};
        const int ndims[1] = {2};
        ng_tensor *p[1];
        ng_params *P = params_of(1, names, shapes, ndims, p, 1);
        ng_graph *g = ng_graph_new();
        int64_t s[3] = {4, 3, 2};
        ng_tensor *a = leaf(g, "a", 3, s, 1);
        ng_tensor *w[2] = {a, p[0]};
        gradcheck("add", g, ng_add(g, a, p[0]), w, 2, P, 1e-2f);
        ng_graph_free(g);
        ng_params_free(P);
    }
    {   /* mul, and the same tensor on both sides (y = a*a) */
        ng_graph *g = ng_graph_new();
        int64_t s[2] = {3, 5};
        ng_tensor *a = leaf(g, "a", 2, s, 1), *b = leaf(g, "b", 2, s, 1);
        ng_tensor *y = ng_add(g, ng_mul(g, a, b), ng_mul(g, a, a));
        ng_tensor *w[2] = {a, b};
        gradcheck("mul", g, y, w, 2, NULL, 1e-2f);
        ng_graph_free(g);
    }
    {
        ng_graph *g = ng_graph_new();
        int64_t s[2] = {2, 3};
        ng_tensor *a = leaf(g, "a", 2, s, 1);
        ng_tensor *y = ng_scale(g, a, -1.7f);
        gradcheck("scale", g, y, &a, 1, NULL, 1e-2f);
        CHECK_NEAR(y->data[4], -1.7 * a->data[4], 1e-6);
        ng_graph_free(g);
    }
}

static void test_grad_layernorm(void) {
    {   /* x, w, b as inputs; rows with different scales and offsets */
        ng_graph *g = ng_graph_new();
        int64_t xs[2] = {4, 6}, cs[1] = {6};
        ng_tensor *x = leaf(g, "x", 2, xs, 1), *w = leaf(g, "w", 1, cs, 1), *b = leaf(g, "b", 1, cs, 1);
        for (int i = 0; i < 6; i++) { x->data[6 + i] = 3.0f + 2.0f * x->data[6 + i]; x->data[12 + i] *= 0.5f; }
        ng_tensor *wrt[3] = {x, w, b};
        gradcheck("layernorm", g, ng_layernorm(g, x, w, b, 1e-5f), wrt, 3, NULL, 1e-2f);
        ng_graph_free(g);
    }
    {   /* a weight only (nanoGPT's bias=False): b NULL */
        ng_graph *g = ng_graph_new();
        int64_t xs[2] = {3, 7}, cs[1] = {7};
        ng_tensor *x = leaf(g, "x", 2, xs, 1), *w = leaf(g, "w", 1, cs, 1);
        for (int i = 0; i < 7; i++) x->data[7 + i] = 2.0f - 3.0f * x->data[7 + i];
        ng_tensor *wrt[2] = {x, w};
        ng_tensor *y = ng_layernorm(g, x, w, NULL, 1e-5f);
        gradcheck("layernorm (no bias)", g, y, wrt, 2, NULL, 1e-2f);
        ng_graph_free(g);
    }
    {   /* 3-D input, weight and bias as parameters */
        const char *names[2] = {"ln.weight", "ln.bias"};
        const int64_t shapes[2][2] = {{5, 0}, {5, 0}};
        const int ndims[2] = {1, 1};
        ng_tensor *p[2];
        ng_params *P = params_of(2, names, shapes, ndims, p, 1);
        ng_graph *g = ng_graph_new();
        int64_t xs[3] = {2, 3, 5};
        ng_tensor *x = leaf(g, "x", 3, xs, 1);
        ng_tensor *wrt[3] = {x, p[0], p[1]};
        gradcheck("layernorm", g, ng_layernorm(g, x, p[0], p[1], 1e-5f), wrt, 3, P, 1e-2f);
        ng_graph_free(g);
        ng_params_free(P);
    }
}

static void test_grad_gelu_relu(void) {
    {
        ng_graph *g = ng_graph_new();
        int64_t s[2] = {4, 5};
        ng_tensor *x = leaf(g, "x", 2, s, 1);
        fill_uniform(x->data, x->n, -3.5f, 3.5f);
        gradcheck("gelu", g, ng_gelu(g, x), &x, 1, NULL, 1e-2f);
        ng_graph_free(g);
    }
    {
        ng_graph *g = ng_graph_new();
        int64_t s[2] = {5, 7};
        ng_tensor *x = leaf(g, "x", 2, s, 1);
        fill_uniform(x->data, x->n, -4.0f, 4.0f);
        gradcheck("gelu_exact", g, ng_gelu_exact(g, x), &x, 1, NULL, 1e-2f);
        ng_graph_free(g);
    }
    {
        ng_graph *g = ng_graph_new();
        int64_t s[2] = {4, 5};
        ng_tensor *x = leaf(g, "x", 2, s, 1);
        for (int64_t i = 0; i < x->n; i++) {   /* away from the kink at 0 */
            float u = 0.1f + 2.0f * ng_rng_uniform(&g_rng);
            x->data[i] = (i % 3 == 0) ? -u : u;
        }
        ng_tensor *y = ng_relu(g, x);
        gradcheck("relu", g, y, &x, 1, NULL, 1e-2f);
        CHECK(y->data[0] == 0 && y->data[1] == x->data[1], "relu forward");
        ng_graph_free(g);
    }
}

/* Attention of (B,T,H,C) with dropout p (training mode, fixed seed) */
static void grad_attention(int B, int T, int H, int C, float p) {
    ng_graph *g = ng_graph_new();
    ng_graph_set_dropout_seed(g, 1234, 5);
    int64_t s[3] = {B, T, 3 * C};
    ng_tensor *qkv = leaf(g, "qkv", 3, s, 1);
    ng_tensor *y = ng_attention(g, qkv, H, p);
    char label[64];
    snprintf(label, sizeof label, "attention%s", p > 0 ? " (dropout)" : "");
    if (gradcheck(label, g, y, &qkv, 1, NULL, 1e-2f))
        fprintf(stderr, "  (attention B=%d T=%d H=%d C=%d p=%g)\n", B, T, H, C, p);
    ng_graph_free(g);
}

/* Each shape on a node that keeps P for backward and on one that recomputes it (from each
 * row's saved softmax max and sum, block by block of 32 rows): T = 37 and 35 have a second,
 * short block. */
static void test_grad_attention(void) {
    for (int keep = 0; keep < 2; keep++) {
        const int old = ng__attention_keep_p_max_t(keep ? 1 << 20 : 0);
        grad_attention(1, 1, 1, 4, 0);
        grad_attention(2, 1, 2, 4, 0);
        grad_attention(1, 4, 1, 2, 0);
        grad_attention(2, 3, 2, 4, 0);
        grad_attention(2, 5, 3, 6, 0);
        grad_attention(1, 6, 4, 8, 0);
        grad_attention(1, 4, 1, 2, 0.3f);
        grad_attention(2, 5, 3, 6, 0.3f);
        grad_attention(1, 7, 2, 4, 0.5f);
        grad_attention(1, 37, 2, 8, 0);
        grad_attention(1, 35, 1, 4, 0.3f);
        ng__attention_keep_p_max_t(old);
    }
}

static void test_grad_xent(void) {
    {
        ng_graph *g = ng_graph_new();
        int64_t ls[2] = {6, 5}, ts[1] = {6};
        ng_tensor *lg = leaf(g, "logits", 2, ls, 1.5f), *tg = ng_input_i32(g, "targets", 1, ts);
        const int32_t y[6] = {2, -1, 0, 4, -1, 2};   /* two ignored rows */
        memcpy(tg->idata, y, sizeof y);
        ng_tensor *loss = ng_softmax_xent(g, lg, tg);
        gradcheck("softmax_xent", g, loss, &lg, 1, NULL, 1e-2f);
        /* the ignored rows get no gradient; the value is the mean over the 4 counted rows */
        int zero = 1;
        for (int j = 0; j < 5; j++) zero &= lg->grad[5 + j] == 0 && lg->grad[20 + j] == 0;
        CHECK(zero, "ignored targets got a gradient");
        double want = 0;
        for (int i = 0; i < 6; i++) {
            if (y[i] < 0) continue;
            double s = 0;
            for (int j = 0; j < 5; j++) s += exp(lg->data[i * 5 + j]);
            want += log(s) - lg->data[i * 5 + y[i]];
        }
        CHECK_NEAR(loss->data[0], want / 4, 1e-5);
        ng_graph_free(g);
    }
    {   /* 3-D logits (B,T,V) with (B,T) targets; hand value: uniform logits give ln V */
        ng_graph *g = ng_graph_new();
        int64_t ls[3] = {2, 3, 7}, ts[2] = {2, 3};
        ng_tensor *lg = leaf(g, "logits", 3, ls, 1), *tg = ng_input_i32(g, "targets", 2, ts);
        for (int i = 0; i < 6; i++) tg->idata[i] = (i * 3) % 7;
        gradcheck("softmax_xent", g, ng_softmax_xent(g, lg, tg), &lg, 1, NULL, 1e-2f);
        ng_graph_free(g);
        g = ng_graph_new();
        lg = ng_input(g, "logits", 3, ls); tg = ng_input_i32(g, "targets", 2, ts);
        for (int64_t i = 0; i < lg->n; i++) lg->data[i] = 3.25f;
        ng_tensor *loss = ng_softmax_xent(g, lg, tg);
        ng_graph_finalize(g, loss);
        ng_graph_forward(g);
        CHECK_NEAR(loss->data[0], log(7.0), 1e-6);
        ng_graph_free(g);
    }
    {   /* every target ignored: loss 0, no gradient, no NaN */
        ng_graph *g = ng_graph_new();
        int64_t ls[2] = {3, 4}, ts[1] = {3};
        ng_tensor *lg = leaf(g, "logits", 2, ls, 1), *tg = ng_input_i32(g, "targets", 1, ts);
        for (int i = 0; i < 3; i++) tg->idata[i] = -1;
        ng_tensor *loss = ng_softmax_xent(g, lg, tg);
        ng_graph_finalize(g, loss);
        ng_graph_forward(g);
        ng_graph_backward(g);
        int zero = 1;
        for (int i = 0; i < 12; i++) zero &= lg->grad[i] == 0;
        CHECK(loss->data[0] == 0 && zero, "all-ignored loss %g", loss->data[0]);
        ng_graph_free(g);
    }
    {   /* large logits: no overflow */
        ng_graph *g = ng_graph_new();
        int64_t ls[2] = {1, 3}, ts[1] = {1};
        ng_tensor *lg = ng_input(g, "logits", 2, ls), *tg = ng_input_i32(g, "targets", 1, ts);
        lg->data[0] = 1000; lg->data[1] = 999; lg->data[2] = -1000; tg->idata[0] = 1;
        ng_tensor *loss = ng_softmax_xent(g, lg, tg);
        ng_graph_finalize(g, loss);
        ng_graph_forward(g);
        CHECK_NEAR(loss->data[0], 1.0 + log(1.0 + exp(-1.0)), 1e-4);
        ng_graph_free(g);
    }
}

static void test_grad_dropout(void) {
    for (int training = 1; training >= 0; training--) {
        ng_graph *g = ng_graph_new();
        ng_graph_set_training(g, training);
        ng_graph_set_dropout_seed(g, 99, 3);
        int64_t s[2] = {4, 6};
        ng_tensor *x = leaf(g, "x", 2, s, 1);
        ng_tensor *y = ng_dropout(g, x, 0.4f);
        gradcheck(training ? "dropout (train)" : "dropout (eval)", g, y, &x, 1, NULL, 1e-2f);
        int zeros = 0, ok = 1;
        for (int64_t i = 0; i < y->n; i++) {
            if (y->data[i] == 0) { zeros++; continue; }
            ok &= fabsf(y->data[i] - (training ? x->data[i] / 0.6f : x->data[i])) < 1e-6f;
        }
        CHECK(ok, "kept values are x/(1-p) in training, x in eval");
        CHECK(training ? zeros > 0 : zeros == 0, "training=%d: %d zeros", training, zeros);
        ng_graph_free(g);
    }
}

static void test_grad_sum_mean(void) {
    const char *names[2] = {"sum", "mean"};
    for (int k = 0; k < 2; k++) {
        ng_graph *g = ng_graph_new();
        int64_t s[2] = {3, 4};
        ng_tensor *x = leaf(g, "x", 2, s, 1);
        /* a nonlinear use of the scalar, so the check sees more than a constant */
        ng_tensor *r = k ? ng_mean(g, x) : ng_sum(g, x);
        ng_tensor *y = ng_mul(g, r, r);
        gradcheck(names[k], g, y, &x, 1, NULL, 1e-2f);
        double s_ = 0;
        for (int i = 0; i < 12; i++) s_ += x->data[i];
        CHECK_NEAR(r->data[0], k ? s_ / 12 : s_, 1e-5);
        ng_graph_free(g);
    }
}

static void test_grad_views(void) {
    {   /* reshape of a leaf and of an intermediate */
        ng_graph *g = ng_graph_new();
        int64_t s[2] = {2, 6}, s2[2] = {3, 4}, s3[3] = {2, 2, 3};
        ng_tensor *x = leaf(g, "x", 2, s, 1);
        ng_tensor *v = ng_reshape(g, x, 2, s2);
        CHECK(v && v->data == x->data, "reshape shares data");
        ng_tensor *h = ng_reshape(g, ng_gelu(g, x), 2, s2);
        ng_tensor *y = ng_reshape(g, ng_add(g, ng_mul(g, v, v), h), 3, s3);
        gradcheck("reshape", g, y, &x, 1, NULL, 1e-2f);
        int64_t bad[2] = {5, 5};
        CHECK(ng_reshape(g, x, 2, bad) == NULL && strstr(ng_last_error(), "reshape"), "reshape size check: %s", ng_last_error());
        ng_graph_free(g);
    }
    {   /* overlapping row views of a leaf, used twice */
        ng_graph *g = ng_graph_new();
        int64_t s[2] = {5, 3};
        ng_tensor *x = leaf(g, "x", 2, s, 1);
        ng_tensor *a = ng_rows_view(g, x, 0, 3), *b = ng_rows_view(g, x, 2, 3);
        CHECK(a && b && b->data == x->data + 6 && b->ne[0] == 3 && b->ne[1] == 3, "rows view");
        ng_tensor *y = ng_add(g, ng_mul(g, a, b), ng_gelu(g, b));
        gradcheck("rows_view", g, y, &x, 1, NULL, 1e-2f);
        CHECK(ng_rows_view(g, x, 3, 3) == NULL, "rows view out of range accepted");
        ng_graph_free(g);
    }
    {   /* row view of a parameter (gpt.c's wpe), broadcast-added */
        const char *names[1] = {"wpe"};
        const int64_t shapes[1][2] = {{6, 3}};
        const int ndims[1] = {2};
        ng_tensor *p[1];
        ng_params *P = params_of(1, names, shapes, ndims, p, 1);
        ng_graph *g = ng_graph_new();
        int64_t s[3] = {2, 4, 3};
        ng_tensor *x = leaf(g, "x", 3, s, 1);
        ng_tensor *w[2] = {x, p[0]};
        gradcheck("rows_view", g, ng_add(g, x, ng_rows_view(g, p[0], 1, 4)), w, 2, P, 1e-2f);
        CHECK(p[0]->grad[0] == 0 && p[0]->grad[15] == 0 && p[0]->grad[3] != 0, "rows outside the view get no gradient");
        ng_graph_free(g);
        ng_params_free(P);
    }
}

/* A small two-layer net over parameters: param gradients accumulate across backward calls,
 * input/intermediate gradients do not; ng_params_zero_grad clears them. */
static void test_grad_accumulation(void) {
    const char *names[4] = {"fc.weight", "fc.bias", "ln.weight", "ln.bias"};
    const int64_t shapes[4][2] = {{6, 4}, {6, 0}, {6, 0}, {6, 0}};
    const int ndims[4] = {2, 1, 1, 1};
    ng_tensor *p[4];
    ng_params *P = params_of(4, names, shapes, ndims, p, 0.7f);
    ng_graph *g = ng_graph_new();
    int64_t xs[2] = {3, 4}, ts[1] = {3};
    ng_tensor *x = leaf(g, "x", 2, xs, 1), *tg = ng_input_i32(g, "t", 1, ts);
    tg->idata[0] = 1; tg->idata[1] = 5; tg->idata[2] = 0;
    ng_tensor *h = ng_layernorm(g, ng_gelu(g, ng_linear(g, x, p[0], p[1])), p[2], p[3], 1e-5f);
    ng_tensor *loss = ng_softmax_xent(g, h, tg);
    ng_tensor *w[5] = {x, p[0], p[1], p[2], p[3]};
    gradcheck("composite", g, loss, w, 5, P, 1e-2f);
    /* order: every source before its user */
    int ok = 1;
    for (int i = 0; i < ng_graph_size(g); i++) {
        ng_tensor *t = ng_graph_node(g, i);
        for (int s = 0; s < NG_MAX_SRC; s++) {
            if (!t->src[s] || t->src[s]->is_param) continue;
            int found = 0;
            for (int j = 0; j < i; j++) found |= ng_graph_node(g, j) == t->src[s];
            ok &= found;
        }
    }
    CHECK(ok, "execution order puts sources first");
    int64_t nt = ng_params_total(P);
    float *g1 = malloc(nt * sizeof *g1), *gx = malloc(x->n * sizeof *gx);
    memcpy(g1, ng_params_grad(P), nt * sizeof *g1);
    memcpy(gx, x->grad, x->n * sizeof *gx);
    ng_graph_forward(g);
    ng_graph_backward(g);
    double d_param = 0, d_x = 0;
    for (int64_t i = 0; i < nt; i++) d_param = fmax(d_param, fabs(ng_params_grad(P)[i] - 2 * g1[i]));
    for (int64_t i = 0; i < x->n; i++) d_x = fmax(d_x, fabs(x->grad[i] - gx[i]));
    CHECK(d_param < 1e-6, "parameter gradients accumulate (off by %g)", d_param);
    CHECK(d_x < 1e-7, "input gradients are reset each backward (off by %g)", d_x);
    ng_params_zero_grad(P);
    int zero = 1;
    for (int64_t i = 0; i < nt; i++) zero &= ng_params_grad(P)[i] == 0;
    CHECK(zero, "zero_grad");
    free(g1); free(gx);
    ng_graph_free(g);
    ng_params_free(P);
}

/* ---------------------------------------------------------------- forward values */

static void test_forward_values(void) {
    ng_graph *g = ng_graph_new();
    int64_t s[1] = {5}, c4[1] = {4}, r4[2] = {2, 4};
    ng_tensor *x = ng_input(g, "x", 1, s);
    const float xv[5] = {1, 0, -1, 2, -3};
    memcpy(x->data, xv, sizeof xv);
    ng_tensor *ge = ng_gelu(g, x), *re = ng_relu(g, x), *gx = ng_gelu_exact(g, x);
    ng_tensor *lx = ng_input(g, "lx", 2, r4), *lw = ng_input(g, "lw", 1, c4), *lb = ng_input(g, "lb", 1, c4);
    const float lxv[8] = {1, 2, 3, 4, 10, 10, 10, 10}, lwv[4] = {1, 2, 0.5f, -1}, lbv[4] = {0, 1, 0, -2};
    memcpy(lx->data, lxv, sizeof lxv); memcpy(lw->data, lwv, sizeof lwv); memcpy(lb->data, lbv, sizeof lbv);
    ng_tensor *ln = ng_layernorm(g, lx, lw, lb, 1e-5f);
    ng_tensor *all = ng_add(g, ng_reshape(g, ln, 1, (int64_t[]){8}), ng_input(g, "zero", 1, (int64_t[]){8}));
    ng_tensor *out = ng_add(g, ng_add(g, ng_sum(g, all), ng_add(g, ng_sum(g, ge), ng_sum(g, re))), ng_sum(g, gx));
    CHECK(ng_graph_finalize(g, out) == NG_OK, "%s", ng_last_error());
    ng_graph_forward(g);
    CHECK_NEAR(ge->data[0], 0.841192, 2e-6);
    CHECK_NEAR(ge->data[1], 0.0, 0);
    CHECK_NEAR(ge->data[2], -0.158808, 2e-6);
    CHECK_NEAR(ge->data[3], 1.954598, 2e-6);
    /* the exact GELU, 0.5 x (1 + erf(x / sqrt 2)) (torch.nn.functional.gelu) */
    CHECK_NEAR(gx->data[0], 0.841344746, 2e-6);
    CHECK_NEAR(gx->data[1], 0.0, 0);
    CHECK_NEAR(gx->data[2], -0.158655254, 2e-6);
    CHECK_NEAR(gx->data[3], 1.954499736, 2e-6);
    CHECK_NEAR(gx->data[4], -0.004049694, 2e-6);
    CHECK_NEAR(ge->data[4], -0.003637392, 1e-6);
    CHECK(re->data[0] == 1 && re->data[1] == 0 && re->data[2] == 0 && re->data[3] == 2 && re->data[4] == 0, "relu");
    /* row [1,2,3,4]: mean 2.5, var 1.25 -> x_hat = (-1.5,-0.5,0.5,1.5)/sqrt(1.25+1e-5) */
    double r = 1.0 / sqrt(1.25 + 1e-5);
    CHECK_NEAR(ln->data[0], -1.5 * r * 1 + 0, 1e-5);
    CHECK_NEAR(ln->data[1], -0.5 * r * 2 + 1, 1e-5);
    CHECK_NEAR(ln->data[2], 0.5 * r * 0.5 + 0, 1e-5);
    CHECK_NEAR(ln->data[3], 1.5 * r * -1 - 2, 1e-5);
    CHECK_NEAR(ln->data[1], 1 - 0.894423, 1e-5);
    /* a constant row normalises to the bias */
    for (int j = 0; j < 4; j++) CHECK_NEAR(ln->data[4 + j], lbv[j], 1e-6);
    ng_graph_free(g);
}

/* Naive attention in double: y (B,T,C) from qkv (B,T,3C), no dropout. */
static void ref_attention(const float *qkv, int B, int T, int H, int C, double *y) {
    int hs = C / H;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < T; i++) {
                double sc[64], mx = -1e300, sum = 0;
                for (int s = 0; s <= i; s++) {
                    double d = 0;
                    for (int j = 0; j < hs; j++)
                        d += (double)qkv[((size_t)b * T + i) * 3 * C + h * hs + j] * qkv[((size_t)b * T + s) * 3 * C + C + h * hs + j];
                    sc[s] = d / sqrt((double)hs);
                    if (sc[s] > mx) mx = sc[s];
                }
                for (int s = 0; s <= i; s++) { sc[s] = exp(sc[s] - mx); sum += sc[s]; }
                for (int j = 0; j < hs; j++) {
                    double acc = 0;
                    for (int s = 0; s <= i; s++) acc += sc[s] / sum * qkv[((size_t)b * T + s) * 3 * C + 2 * C + h * hs + j];
                    y[((size_t)b * T + i) * C + h * hs + j] = acc;
                }
            }
}

static void test_attention_forward(void) {
    /* T = 1: the output is v, whatever q and k */
    {
        ng_graph *g = ng_graph_new();
        int64_t s[3] = {3, 1, 12};
        ng_tensor *qkv = ng_input(g, "qkv", 3, s);
        fill_normal(qkv->data, qkv->n, 2);
        ng_tensor *y = ng_attention(g, qkv, 2, 0);
        ng_graph_finalize(g, y);
        ng_graph_forward(g);
        int ok = 1;
        for (int b = 0; b < 3; b++) for (int j = 0; j < 4; j++) ok &= fabsf(y->data[b * 4 + j] - qkv->data[b * 12 + 8 + j]) < 1e-6f;
        CHECK(ok, "attention with T=1 is v");
        ng_graph_free(g);
    }
    /* against the naive reference; causality; eval mode ignores dropout */
    const int B = 2, T = 6, H = 3, C = 6;
    ng_graph *g = ng_graph_new();
    int64_t s[3] = {B, T, 3 * C};
    ng_tensor *qkv = ng_input(g, "qkv", 3, s);
    fill_normal(qkv->data, qkv->n, 1);
    ng_tensor *y = ng_attention(g, qkv, H, 0);
    ng_tensor *yd = ng_attention(g, qkv, H, 0.5f);
    ng_tensor *out = ng_add(g, ng_sum(g, y), ng_sum(g, yd));
    ng_graph_finalize(g, out);
    ng_graph_set_training(g, 0);
    ng_graph_forward(g);
    double ref[B * T * C], maxd = 0;
    ref_attention(qkv->data, B, T, H, C, ref);
    for (int i = 0; i < B * T * C; i++) maxd = fmax(maxd, fabs(ref[i] - y->data[i]));
    CHECK(maxd < 1e-5, "attention vs reference: %g", maxd);
    CHECK(memcmp(y->data, yd->data, sizeof(float) * B * T * C) == 0, "eval mode: dropout is the identity");
    float before[B * T * C];
    memcpy(before, y->data, sizeof before);
    for (int j = 0; j < 3 * C; j++) qkv->data[(1 * T + 4) * 3 * C + j] += 1.5f;   /* batch 1, position 4 */
    ng_graph_forward(g);
    CHECK(memcmp(before, y->data, sizeof(float) * (T + 4) * C) == 0, "changing position 4 changed earlier outputs");
    int later = 0;
    for (int i = (T + 4) * C; i < B * T * C; i++) later |= before[i] != y->data[i];
    CHECK(later, "changing position 4 changed nothing after it");
    /* training: inverted dropout is unbiased: the mean over many masks approaches y */
    ng_graph_set_training(g, 1);
    double acc[B * T * C];
    memset(acc, 0, sizeof acc);
    const int n_masks = 400;
    int differ = 0;
    for (int k = 0; k < n_masks; k++) {
        ng_graph_set_dropout_seed(g, 7, k);
        ng_graph_forward(g);
        for (int i = 0; i < B * T * C; i++) acc[i] += yd->data[i];
        differ |= memcmp(y->data, yd->data, sizeof(float) * B * T * C) != 0;
    }
    maxd = 0;
    for (int i = 0; i < B * T * C; i++) maxd = fmax(maxd, fabs(acc[i] / n_masks - y->data[i]));
    CHECK(differ && maxd < 0.25, "attention dropout mean over %d masks off by %g", n_masks, maxd);
    ng_graph_free(g);
}

/* The fast attention kernels against their plain twins: the same probabilities (or, for a node
 * that recomputes them in backward, the same saved max and inverse sum per row), outputs and
 * gradients, for head sizes compiled with a fixed size (16, 32, 64 and 128) and others, with
 * and without dropout, T = 1 to 256. Each case runs twice, on a node that keeps P and on one
 * that recomputes it block by block in backward: those two give the same outputs and gradients
 * (P is recomputed bit for bit; the tolerance only allows for a GEMM that sums differently on
 * differently aligned memory). */
static void attention_twin(int B, int T, int H, int C, float p) {
    const size_t nx = (size_t)B * T * 3 * C, ny = (size_t)B * T * C;
    float *x = malloc(nx * 4), *dy = malloc(ny * 4), *ym[2], *dxm[2];
    fill_normal(x, (int64_t)nx, 1);
    fill_normal(dy, (int64_t)ny, 1);
    for (int keep = 0; keep < 2; keep++) {
        const int old = ng__attention_keep_p_max_t(keep ? T : T - 1);
        ng_graph *g = ng_graph_new();
        ng_graph_set_dropout_seed(g, 99, 3);
        int64_t s[3] = {B, T, 3 * C};
        ng_tensor *qkv = leaf(g, "qkv", 3, s, 1);
        memcpy(qkv->data, x, nx * 4);
        ng_tensor *y = ng_attention(g, qkv, H, p);
        ng__attention_keep_p_max_t(old);
        ng_graph_finalize(g, y);
        ng_graph_set_training(g, 1);
        const size_t np = (size_t)y->naux;
        CHECK(np == (size_t)B * H * T * (keep ? T : 2), "attention saved state: %zu floats (keeps P: %d)", np, keep);
        float *p1 = malloc(np * 4);
        ym[keep] = malloc(ny * 4); dxm[keep] = malloc(nx * 4);
        ng_graph_forward(g);
        memcpy(ym[keep], y->data, ny * 4); memcpy(p1, y->aux, np * 4);
        ng_graph_backward_with(g, dy);
        memcpy(dxm[keep], qkv->grad, nx * 4);
        /* plain twins on the same node */
        ng_ref_attention_forward(g, y);
        memset(qkv->grad, 0, nx * 4);
        memcpy(y->grad, dy, ny * 4);
        ng_ref_attention_backward(g, y);
        double ey = 0, ep = 0, ex = 0, mx = 0;
        for (size_t i = 0; i < ny; i++) ey = fmax(ey, fabs(ym[keep][i] - y->data[i]));
        /* P, or the max and inverse sum (relative: a row's inverse sum can be large) */
        for (size_t i = 0; i < np; i++) ep = fmax(ep, fabs(p1[i] - y->aux[i]) / (keep ? 1 : 1 + fabs(y->aux[i])));
        for (size_t i = 0; i < nx; i++) { ex = fmax(ex, fabs(dxm[keep][i] - qkv->grad[i])); mx = fmax(mx, fabs(qkv->grad[i])); }
        CHECK(ey < 1e-5 && ep < 1e-6 * (keep ? 1 : 4) && ex < 1e-5 * (1 + mx),
              "attention fast vs plain (%s) B=%d T=%d H=%d C=%d p=%g: |dy| %.2e |dP| %.2e |dqkv| %.2e",
              keep ? "P kept" : "P recomputed", B, T, H, C, p, ey, ep, ex);
        free(p1);
        ng_graph_free(g);
    }
    double ey = 0, ex = 0, mx = 0;
    for (size_t i = 0; i < ny; i++) ey = fmax(ey, fabs(ym[0][i] - ym[1][i]));
    for (size_t i = 0; i < nx; i++) { ex = fmax(ex, fabs(dxm[0][i] - dxm[1][i])); mx = fmax(mx, fabs(dxm[1][i])); }
    CHECK(ey <= 1e-6 && ex <= 1e-6 * (1 + mx), "attention P kept vs recomputed B=%d T=%d H=%d C=%d p=%g: |dy| %.2e |dqkv| %.2e",
          B, T, H, C, p, ey, ex);
    if (getenv("NG_TEST_VERBOSE")) fprintf(stderr, "  attention kept vs recomputed T=%d p=%g: |dy| %.2e |dqkv| %.2e\n", T, p, ey, ex);
    for (int k = 0; k < 2; k++) { free(ym[k]); free(dxm[k]); }
    free(x); free(dy);
}

static void test_attention_twins(void) {
    attention_twin(2, 64, 4, 128, 0);      /* baby GPT: hs 32 */
    attention_twin(1, 70, 6, 384, 0);      /* shakespeare-char's hs 64, T not a multiple of 16 */
    attention_twin(2, 33, 2, 32, 0.2f);    /* hs 16 with dropout */
    attention_twin(1, 17, 1, 128, 0.1f);   /* hs 128 */
    attention_twin(3, 9, 3, 15, 0);        /* hs 5: the general path */
    attention_twin(2, 1, 2, 8, 0.3f);      /* T = 1 */
    attention_twin(1, 130, 2, 128, 0.2f);  /* several row blocks, the last one short, with dropout */
    attention_twin(1, 256, 6, 384, 0);     /* shakespeare-char's T */
    attention_twin(1, 97, 2, 128, 0);      /* T not a multiple of the 32-row block, hs 64 */
    attention_twin(1, 300, 2, 128, 0.1f);  /* GPT-2's hs 64, ten blocks, the last one short, with dropout */
}

/* The vectorised dropout masks test ng_hash24 against ng_drop_threshold(p); the plain twins test
 * ng_hash_uniform < p. Both must drop the same elements for every p, including p on and next to
 * the 2^-24 grid the hash's uniforms live on. */
static void test_drop_threshold(void) {
    const float ps[] = {0.2f, 0.1f, 0.5f, 0.3f, 1e-7f, 1e-30f, 0.999999f, 0.25f, 0.75f, 3.0f / 16777216.0f,
                        nextafterf(0.25f, 0.0f), nextafterf(0.25f, 1.0f), nextafterf(0.5f, 0.0f), 0.9999999f};
    int bad = 0, dropped_low = 0;
    for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) {
        const uint32_t thr = ng_drop_threshold(ps[k]);
        for (uint64_t i = 0; i < 20000; i++) {
            const uint32_t h = ng_hash24(7, k, i);
            bad += (h < thr) != (ng_hash_uniform(7, k, i) < ps[k]);
        }
        /* exhaustively around the threshold: h = thr - 2 .. thr + 1 as uniforms */
        for (int64_t h = (int64_t)thr - 2; h <= (int64_t)thr + 1; h++) {
            if (h < 0 || h >= 16777216) continue;
            bad += ((uint32_t)h < thr) != ((float)h * (1.0f / 16777216.0f) < ps[k]);
        }
        dropped_low += ps[k] == 1e-30f && thr == 1;   /* h = 0 (u = 0) is below any p > 0 */
    }
    CHECK(bad == 0, "ng_hash24 < ng_drop_threshold(p) disagrees with ng_hash_uniform < p in %d cases", bad);
    CHECK(dropped_low == 1, "a tiny p still drops u = 0");
}

/* The vectorised dropout kernels against their plain formula: y = x / (1-p) where
 * ng_hash_uniform(seed, stream, i) >= p, else 0, and dx = dy / (1-p) on the same elements. */
static void test_dropout_twin(void) {
    ng_graph *g = ng_graph_new();
    int64_t s[1] = {40011};   /* not a multiple of the vector width */
    ng_tensor *x = leaf(g, "x", 1, s, 1);
    ng_tensor *y = ng_dropout(g, x, 0.3f);
    ng_graph_finalize(g, y);
    ng_graph_set_dropout_seed(g, 11, 4);
    ng_graph_forward(g);
    float *dy = malloc((size_t)y->n * sizeof *dy);
    fill_normal(dy, y->n, 1);
    ng_graph_backward_with(g, dy);
    const uint64_t stream = ng_drop_stream(g, y);
    const float scale = 1.0f / (1.0f - 0.3f);
    int64_t bad_y = 0, bad_dx = 0;
    for (int64_t i = 0; i < x->n; i++) {
        const int keep = ng_hash_uniform(g->drop_seed, stream, (uint64_t)i) >= 0.3f;
        bad_y += y->data[i] != (keep ? x->data[i] * scale : 0.0f);
        bad_dx += x->grad[i] != (keep ? dy[i] * scale : 0.0f);
    }
    CHECK(bad_y == 0 && bad_dx == 0, "dropout fast vs plain: %lld outputs, %lld gradients differ", (long long)bad_y, (long long)bad_dx);
    free(dy);
    ng_graph_free(g);
}

static void test_dropout_forward(void) {
    ng_graph *g = ng_graph_new();
    int64_t s[1] = {100000};
    ng_tensor *x = ng_input(g, "x", 1, s);
    for (int64_t i = 0; i < x->n; i++) x->data[i] = 1.0f + (float)(i % 7);
    ng_tensor *y = ng_dropout(g, x, 0.25f);
    CHECK(ng_dropout(g, x, 0) == x, "dropout 0 is no node");
    CHECK(ng_dropout(g, x, 1.0f) == NULL, "dropout 1 accepted");
    ng_graph_finalize(g, y);
    ng_graph_set_dropout_seed(g, 5, 0);
    ng_graph_forward(g);
    int64_t zeros = 0;
    int ok = 1;
    for (int64_t i = 0; i < y->n; i++) {
        if (y->data[i] == 0) zeros++;
        else ok &= fabsf(y->data[i] - x->data[i] / 0.75f) < 1e-5f;
    }
    CHECK(ok, "kept values scaled by 1/(1-p)");
    CHECK_NEAR((double)zeros / y->n, 0.25, 0.01);
    float *m1 = malloc(y->n * sizeof *m1);
    memcpy(m1, y->data, y->n * sizeof *m1);
    ng_set_threads(1);
    ng_graph_forward(g);
    CHECK(memcmp(m1, y->data, y->n * sizeof *m1) == 0, "dropout mask depends on the thread count");
    ng_set_threads(0);
    ng_graph_set_dropout_seed(g, 5, 1);
    ng_graph_forward(g);
    CHECK(memcmp(m1, y->data, y->n * sizeof *m1) != 0, "a new step gives a new mask");
    ng_graph_set_dropout_seed(g, 5, 0);
    ng_graph_forward(g);
    CHECK(memcmp(m1, y->data, y->n * sizeof *m1) == 0, "same seed and step, same mask");
    ng_graph_set_training(g, 0);
    ng_graph_forward(g);
    CHECK(memcmp(x->data, y->data, y->n * sizeof *m1) == 0, "eval dropout is the identity");
    free(m1);
    ng_graph_free(g);
}

static void test_shape_errors(void) {
    ng_graph *g = ng_graph_new();
    int64_t a[2] = {3, 4}, b[2] = {5, 6}, q[3] = {1, 2, 9}, v3[1] = {3};
    ng_tensor *A = ng_input(g, "A", 2, a), *Bm = ng_input(g, "B", 2, b), *Q = ng_input(g, "qkv", 3, q);
    ng_tensor *c3 = ng_input(g, "c3", 1, v3);
    CHECK(ng_matmul(g, A, Bm, 0, 0) == NULL && strstr(ng_last_error(), "matmul"), "%s", ng_last_error());
    CHECK(ng_linear(g, A, Bm, NULL) == NULL, "linear shape");
    CHECK(ng_add(g, A, c3) == NULL, "add broadcast of a wrong suffix");
    CHECK(ng_mul(g, A, Bm) == NULL, "mul shape");
    CHECK(ng_attention(g, Q, 2, 0) == NULL, "C=3 with 2 heads");
    CHECK(ng_attention(g, Q, 1, 1.0f) == NULL, "attention dropout 1");
    CHECK(ng_gelu(g, NULL) == NULL, "NULL operand");
    ng_graph_free(g);
}

/* The threaded paths (sizes above the kernels' thresholds) give the same numbers as one thread. */
static void test_threads(void) {
    float *out[2], *grad[2];
    int64_t n_out = 0, n_in = 0;
    for (int run = 0; run < 2; run++) {
        ng_set_threads(run ? 2 : 1);
        ng_rng_seed(&g_rng, 77);
        ng_graph *g = ng_graph_new();
        ng_graph_set_dropout_seed(g, 3, 1);
        int64_t s[3] = {2, 64, 96}, c[1] = {32}, ts[1] = {2 * 64 * 8};
        ng_tensor *qkv = leaf(g, "qkv", 3, s, 1), *w = leaf(g, "w", 1, c, 1), *b = leaf(g, "b", 1, c, 1);
        ng_tensor *h = ng_gelu(g, ng_layernorm(g, ng_attention(g, qkv, 4, 0.1f), w, b, 1e-5f));
        int64_t r[2] = {2 * 64 * 8, 4};
        ng_tensor *tg = ng_input_i32(g, "t", 1, ts);
        for (int64_t i = 0; i < tg->n; i++) tg->idata[i] = (int32_t)(i % 5) - 1;
        ng_tensor *loss = ng_softmax_xent(g, ng_reshape(g, ng_dropout(g, h, 0.2f), 2, r), tg);
        ng_graph_finalize(g, loss);
        ng_graph_forward(g);
        ng_graph_backward(g);
        n_out = h->n; n_in = qkv->n;
        out[run] = malloc(n_out * sizeof(float)); grad[run] = malloc(n_in * sizeof(float));
        memcpy(out[run], h->data, n_out * sizeof(float));
        memcpy(grad[run], qkv->grad, n_in * sizeof(float));
        ng_graph_free(g);
    }
    ng_set_threads(0);
    CHECK(memcmp(out[0], out[1], n_out * sizeof(float)) == 0, "forward differs with 2 threads");
    double d = 0;
    for (int64_t i = 0; i < n_in; i++) d = fmax(d, fabs(grad[0][i] - grad[1][i]));
    CHECK(d < 1e-6, "backward differs with 2 threads by %g", d);
    for (int k = 0; k < 2; k++) { free(out[k]); free(grad[k]); }
}

/* ---------------------------------------------------------------- GEMM twin */

static void test_gemm(void) {
    /* 300 > the AVX-512 kernel's K block (256) and spans several row and column panels */
    const int sizes[5] = {1, 7, 33, 100, 300};
    const float alphas[3] = {1.0f, -0.5f, 2.0f}, betas[3] = {0.0f, 1.0f, 0.3f};
    double worst = 0;
    int n_cases = 0, ok_all = 1, pad_ok = 1;
    float *A = malloc(310 * 310 * sizeof *A), *B = malloc(310 * 310 * sizeof *B);
    float *C0 = malloc(310 * 310 * sizeof *C0), *C1 = malloc(310 * 310 * sizeof *C1), *C2 = malloc(310 * 310 * sizeof *C2);
    float *C3 = malloc(310 * 310 * sizeof *C3);
    int serial_same = 1;
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int mi = 0; mi < 5; mi++)
                for (int ni = 0; ni < 5; ni++)
                    for (int ki = 0; ki < 5; ki++) {
                        int M = sizes[mi], N = sizes[ni], K = sizes[ki];
                        int k = n_cases++;
                        float alpha = alphas[k % 3], beta = betas[(k / 3) % 3];
                        int pad = (k % 2) ? 3 : 0;   /* leading dims larger than the matrix */
                        int ra = ta ? K : M, ca = ta ? M : K, rb = tb ? N : K, cb = tb ? K : N;
                        int lda = ca + pad, ldb = cb + pad, ldc = N + pad;
                        fill_normal(A, (int64_t)ra * lda, 1);
                        fill_normal(B, (int64_t)rb * ldb, 1);
                        fill_normal(C0, (int64_t)M * ldc, 1);
                        memcpy(C1, C0, (size_t)M * ldc * sizeof *C0);
                        memcpy(C2, C0, (size_t)M * ldc * sizeof *C0);
                        ng_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C1, ldc);
                        ng_ref_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C2, ldc);
                        /* the one-thread driver (attention heads) gives the same bits as the threaded one */
                        memcpy(C3, C0, (size_t)M * ldc * sizeof *C0);
                        ng_sgemm_serial(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C3, ldc);
                        serial_same &= memcmp(C1, C3, (size_t)M * ldc * sizeof *C0) == 0;
                        for (int i = 0; i < M; i++)
                            for (int j = 0; j < ldc; j++) {
                                size_t o = (size_t)i * ldc + j;
                                if (j >= N) { pad_ok &= C1[o] == C0[o] && C2[o] == C0[o]; continue; }
                                /* bound: float rounding of a K-term dot product */
                                double mag = 0;
                                for (int kk = 0; kk < K; kk++)
                                    mag += fabs((double)(ta ? A[(size_t)kk * lda + i] : A[(size_t)i * lda + kk]) *
                                                (tb ? B[(size_t)j * ldb + kk] : B[(size_t)kk * ldb + j]));
                                mag = fabs(alpha) * mag + fabs(beta * C0[o]);
                                double err = fabs((double)C1[o] - C2[o]);
                                if (mag > 0) worst = fmax(worst, err / mag);
                                if (err > 1e-6 * mag + 1e-7) ok_all = 0;
                            }
                    }
    CHECK(ok_all, "ng_sgemm vs ng_ref_sgemm: worst relative error %g", worst);
    CHECK(pad_ok, "GEMM wrote outside the M x N block");
    CHECK(serial_same || strncmp(ng_gemm_name(), "nanogen-", 8) != 0, "ng_sgemm_serial differs from ng_sgemm");
    /* beta = 0 ignores C, even NaN */
    for (int i = 0; i < 49; i++) { C1[i] = NAN; C2[i] = NAN; }
    fill_normal(A, 49, 1); fill_normal(B, 49, 1);
    ng_sgemm(0, 0, 7, 7, 7, 1, A, 7, B, 7, 0, C1, 7);
    ng_ref_sgemm(0, 0, 7, 7, 7, 1, A, 7, B, 7, 0, C2, 7);
    int finite = 1;
    for (int i = 0; i < 49; i++) finite &= isfinite(C1[i]) && isfinite(C2[i]);
    CHECK(finite, "beta 0 with NaN in C");
    printf("  gemm (%s): %d cases, worst |fast - ref| / sum|a||b| = %.2e\n", ng_gemm_name(), n_cases, worst);
    free(A); free(B); free(C0); free(C1); free(C2); free(C3);
}

/* The sampler's kernels against ng_ref_sgemm: y = W x + b by ng_sgemv_rows (threads for big W)
 * and ng_sgemv_serial, a block of columns of a wider W by ng_sgemv_cols, and M rows at once with
 * weights packed by ng_pack_weights (ng_linear_packed; the tiles threaded for big products). */
static void test_gemv_packed(void) {
    const int shapes[][3] = {{1, 1, 1}, {5, 3, 2}, {16, 4, 4}, {17, 33, 5}, {128, 65, 13}, {130, 384, 4}, {1024, 1100, 7}};
    double worst = 0;
    int ok = 1, cols_zero = 1;
    for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++) {
        const int in = shapes[k][0], out = shapes[k][1], M = shapes[k][2], ldw = in + 3;
        float *W = malloc(sizeof(float) * out * ldw), *x = malloc(sizeof(float) * M * in), *b = malloc(sizeof(float) * out);
        float *want = malloc(sizeof(float) * M * out), *got = malloc(sizeof(float) * M * out);
        float *Wp = ng_alloc_aligned(sizeof(float) * ng_packed_size(out, in), "packed"), *Wc = malloc(sizeof(float) * out * in);
        fill_normal(W, (int64_t)out * ldw, 1); fill_normal(x, (int64_t)M * in, 1); fill_normal(b, out, 1);
        for (int j = 0; j < out; j++) memcpy(Wc + (size_t)j * in, W + (size_t)j * ldw, sizeof(float) * in);
        for (int i = 0; i < M; i++) memcpy(want + (size_t)i * out, b, sizeof(float) * out);
        ng_ref_sgemm(0, 1, M, out, in, 1.0f, x, in, Wc, in, 1.0f, want, out);
        /* |error| against the size of the sum's terms, per output */
        #define CMP(label, y, row, with_b) for (int j = 0; j < out; j++) { \
            double mag = (with_b) ? fabs(b[j]) : 0, ref = want[(size_t)(row) * out + j] - ((with_b) ? 0 : b[j]); \
            for (int q = 0; q < in; q++) mag += fabs((double)Wc[(size_t)j * in + q] * x[(size_t)(row) * in + q]); \
            double e = fabs((y)[j] - ref) / (mag + 1e-30); worst = fmax(worst, e); \
            if (e > 1e-6) { ok = 0; printf("  %s in=%d out=%d: y[%d] %g want %g\n", label, in, out, j, (y)[j], ref); } }
        for (int i = 0; i < M; i++) {
            ng_sgemv_rows(got, x + (size_t)i * in, Wc, b, in, out);
            CMP("ng_sgemv_rows", got, i, 1);
            ng_sgemv_serial(got, x + (size_t)i * in, Wc, b, in, out);
            CMP("ng_sgemv_serial", got, i, 1);
            ng_sgemv_cols(got, x + (size_t)i * in, W, ldw, in, out);
            CMP("ng_sgemv_cols", got, i, 0);
        }
        ng_pack_weights(Wp, Wc, out, in);
        ng_linear_packed(got, x, Wp, b, M, in, out);
        for (int i = 0; i < M; i++) CMP("ng_linear_packed", got + (size_t)i * out, i, 1);
        {   /* the same product in blocks: W's rows cut at a multiple of 32, then its inputs cut in two
             * (two partial sums, bias in the second) */
            const int jc = out > 32 ? 32 * ((out / 32 + 1) / 2) : out, kc = in / 3;
            float *part = malloc(sizeof(float) * M * out);
            for (int q = 0; q < M * out; q++) got[q] = part[q] = NAN;
            ng_linear_packed_part(got, out, x, in, Wp, b, M, in, out, 0, jc, 0, in);
            ng_linear_packed_part(got, out, x, in, Wp, b, M, in, out, jc, out, 0, in);
            for (int i = 0; i < M; i++) CMP("ng_linear_packed_part (rows of W)", got + (size_t)i * out, i, 1);
            ng_linear_packed_part(part, out, x, in, Wp, NULL, M, in, out, 0, out, 0, kc);
            ng_linear_packed_part(got, out, x, in, Wp, b, M, in, out, 0, out, kc, in);
            for (int q = 0; q < M * out; q++) got[q] += part[q];
            for (int i = 0; i < M; i++) CMP("ng_linear_packed_part (inputs)", got + (size_t)i * out, i, 1);
            free(part);
        }
        #undef CMP
        for (int j = 0; j < out; j++) got[j] = NAN;
        ng_sgemv_cols(got, x, W, ldw, 0, out);   /* no columns: zeros */
        for (int j = 0; j < out; j++) cols_zero &= got[j] == 0.0f;
        free(W); free(x); free(b); free(want); free(got); ng_free_aligned(Wp); free(Wc);
    }
    CHECK(ok, "sampler GEMV / packed kernels vs ng_ref_sgemm: worst relative error %g", worst);
    CHECK(cols_zero, "ng_sgemv_cols with no columns gives zeros");
    printf("  GEMV, column-block GEMV and packed-weight products vs the reference: worst %.1e\n", worst);
}

/* ---------------------------------------------------------------- optimizer */

static void test_lr_schedule(void) {
    ng_adamw_cfg c = {.lr = 1e-3f, .min_lr = 1e-4f, .warmup = 100, .steps = 2000};
    CHECK_NEAR(ng_lr_schedule(&c, 0), 1e-3 / 100, 1e-12);
    CHECK_NEAR(ng_lr_schedule(&c, 49), 1e-3 * 50 / 100, 1e-10);
    CHECK_NEAR(ng_lr_schedule(&c, 99), 1e-3, 1e-10);        /* end of warmup */
    CHECK_NEAR(ng_lr_schedule(&c, 100), 1e-3, 1e-10);       /* cosine starts at lr */
    CHECK_NEAR(ng_lr_schedule(&c, 1050), 5.5e-4, 1e-9);     /* half way: (lr + min_lr) / 2 */
    CHECK_NEAR(ng_lr_schedule(&c, 1999), 1e-4, 1e-9);       /* last step: min_lr */
    CHECK_NEAR(ng_lr_schedule(&c, 5000), 1e-4, 1e-10);      /* past the end: min_lr */
    /* the exact formula of shared/bench/torch_gpt.py's lr_at */
    double maxd = 0, prev = 1;
    int mono = 1;
    for (int s = 0; s < 2000; s++) {
        double want = s < 100 ? 1e-3 * (s + 1) / 100
                              : 1e-4 + 0.5 * (1 + cos(M_PI * fmin(1.0, (s - 100) / 1900.0))) * 9e-4;
        maxd = fmax(maxd, fabs(ng_lr_schedule(&c, s) - want));
        if (s > 100) mono &= ng_lr_schedule(&c, s) <= prev;
        prev = ng_lr_schedule(&c, s);
    }
    CHECK(maxd < 1e-9 && mono, "schedule vs the PyTorch reference: %g, monotone %d", maxd, mono);
    /* no warmup, constant lr (the bigram config) */
    ng_adamw_cfg k = {.lr = 1e-2f, .min_lr = 1e-2f, .warmup = 0, .steps = 3000};
    CHECK_NEAR(ng_lr_schedule(&k, 0), 1e-2, 1e-9);
    CHECK_NEAR(ng_lr_schedule(&k, 2999), 1e-2, 1e-9);
}

/* Hand AdamW in double (PyTorch): p *= 1 - lr*wd (decayed tensors); m, v; bias corrections. */
typedef struct { double p[16], m[16], v[16]; } ref_state;
static void ref_adamw(ref_state *s, const double *g, const int *dec, int n, int t, double lr,
                      double b1, double b2, double eps, double wd) {
    double bc1 = 1 - pow(b1, t), bc2 = 1 - pow(b2, t);
    for (int i = 0; i < n; i++) {
        s->m[i] = b1 * s->m[i] + (1 - b1) * g[i];
        s->v[i] = b2 * s->v[i] + (1 - b2) * g[i] * g[i];
        if (dec[i]) s->p[i] *= 1 - lr * wd;
        s->p[i] -= lr / bc1 * s->m[i] / (sqrt(s->v[i]) / sqrt(bc2) + eps);
    }
}

static void test_adamw(void) {
    /* w (2,3) decayed, b (3) not */
    ng_params *P = ng_params_new();
    ng_tensor *w = ng_param(P, "w", 2, (int64_t[]){2, 3}, 1), *b = ng_param(P, "b", 1, (int64_t[]){3}, 0);
    CHECK(ng_params_alloc(P) == NG_OK, "%s", ng_last_error());
    CHECK(ng_params_numel(P) == 9 && ng_params_count(P) == 2 && ng_params_decays(P, 0) && !ng_params_decays(P, 1), "params");
    CHECK(ng_params_find(P, "b") == b && ng_params_find(P, "nope") == NULL, "find");
    const float w0[6] = {0.5f, -1.0f, 2.0f, 0.0f, 0.25f, -0.75f}, b0[3] = {0.1f, -0.2f, 0.3f};
    memcpy(w->data, w0, sizeof w0); memcpy(b->data, b0, sizeof b0);
    ng_adamw_cfg cfg = {.lr = 1e-2f, .min_lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.99f, .eps = 1e-8f,
                        .weight_decay = 0.1f, .grad_clip = 0, .warmup = 0, .steps = 10};
    ng_adamw *o = ng_adamw_new(P, &cfg);
    ref_state rs = {0};
    int dec[9];
    for (int i = 0; i < 6; i++) { rs.p[i] = w0[i]; dec[i] = 1; }
    for (int i = 0; i < 3; i++) { rs.p[6 + i] = b0[i]; dec[6 + i] = 0; }
    double maxd = 0;
    int zeroed = 1;
    for (int t = 1; t <= 5; t++) {
        double g[9];
        for (int i = 0; i < 9; i++) g[i] = sin(1.3 * i + 0.7 * t) * (i % 2 ? 0.01 : 1.0);
        for (int i = 0; i < 6; i++) w->grad[i] = (float)g[i];
        for (int i = 0; i < 3; i++) b->grad[i] = (float)g[6 + i];
        float lr = ng_lr_schedule(&cfg, t - 1);
        float norm = ng_adamw_step(o, lr);
        double n2 = 0;
        for (int i = 0; i < 9; i++) n2 += (double)(float)g[i] * (float)g[i];
        CHECK_NEAR(norm, sqrt(n2), 1e-5);
        ref_adamw(&rs, g, dec, 9, t, lr, 0.9, 0.99, 1e-8, 0.1);
        for (int i = 0; i < 6; i++) maxd = fmax(maxd, fabs(w->data[i] - rs.p[i]));
        for (int i = 0; i < 3; i++) maxd = fmax(maxd, fabs(b->data[i] - rs.p[6 + i]));
        for (int64_t i = 0; i < ng_params_total(P); i++) zeroed &= ng_params_grad(P)[i] == 0;
    }
    CHECK(maxd < 2e-6, "AdamW vs hand-computed: %g", maxd);
    CHECK(zeroed, "gradients zeroed after a step");
    CHECK(ng_adamw_t(o) == 5, "step count %lld", (long long)ng_adamw_t(o));
    printf("  adamw: 5 steps, max |p - p_ref| = %.2e\n", maxd);
    ng_adamw_free(o);

    /* clipping: a gradient of norm 10 clipped to 1 */
    memcpy(w->data, w0, sizeof w0); memcpy(b->data, b0, sizeof b0);
    cfg.grad_clip = 1.0f;
    cfg.weight_decay = 0;
    o = ng_adamw_new(P, &cfg);
    const float gc[9] = {6, 0, 0, 0, 0, 0, 0, 8, 0};   /* norm 10 */
    memcpy(w->grad, gc, 6 * sizeof(float)); memcpy(b->grad, gc + 6, 3 * sizeof(float));
    float norm = ng_adamw_step(o, 0.1f);
    CHECK_NEAR(norm, 10.0, 1e-5);
    const float *m = ng_adamw_m(o), *v = ng_adamw_v(o);
    int64_t ob = b->data - ng_params_data(P);
    CHECK_NEAR(m[0], 0.1 * 0.6, 1e-6);          /* m = (1-b1) * clipped g */
    CHECK_NEAR(m[ob + 1], 0.1 * 0.8, 1e-6);
    CHECK_NEAR(v[0], 0.01 * 0.36, 1e-7);
    CHECK_NEAR(v[ob + 1], 0.01 * 0.64, 1e-7);
    CHECK_NEAR(w->data[0], w0[0] - 0.1, 1e-6);  /* first step: lr * sign(g) */
    CHECK_NEAR(b->data[1], b0[1] - 0.1, 1e-6);
    CHECK_NEAR(w->data[1], w0[1], 0);           /* zero gradient, no decay: unchanged */
    /* a gradient under the clip is not scaled */
    w->grad[0] = 0.5f;
    CHECK_NEAR(ng_adamw_step(o, 0.1f), 0.5, 1e-6);
    CHECK_NEAR(m[0], 0.9 * 0.06 + 0.1 * 0.5, 1e-6);
    ng_adamw_free(o);
    ng_params_free(P);
}

/* fastmath.h against libm (double): the vectorisable exp and GELU used by the kernels */
static void test_fastmath(void) {
    double worst_exp = 0, worst_gelu = 0, worst_dgelu = 0;
    for (int i = 0; i <= 200000; i++) {
        float x = -87.0f + 175.0f * (float)i / 200000.0f;
        double e = exp((double)x), r = fabs(ng_expf(x) - e) / e;
        if (r > worst_exp) worst_exp = r;
    }
    for (int i = 0; i <= 100000; i++) {
        float x = -12.0f + 24.0f * (float)i / 100000.0f;
        double u = 0.7978845608028654 * (x + 0.044715 * (double)x * x * x), th = tanh(u);
        double gl = 0.5 * x * (1 + th);
        double dg = 0.5 * (1 + th) + 0.5 * x * (1 - th * th) * 0.7978845608028654 * (1 + 3 * 0.044715 * (double)x * x);
        double eg = fabs(ng_gelu_f(x) - gl) / (fabs(gl) + 1e-6), ed = fabs(ng_gelu_grad_f(x) - dg) / (fabs(dg) + 1.0);   /* absolute near its zero */
        if (eg > worst_gelu) worst_gelu = eg;
        if (ed > worst_dgelu) worst_dgelu = ed;
    }
    printf("  fastmath: exp rel err %.1e, gelu %.1e, gelu' %.1e\n", worst_exp, worst_gelu, worst_dgelu);
    CHECK(worst_exp < 5e-7, "ng_expf relative error %.2e", worst_exp);
    CHECK(worst_gelu < 2e-6, "gelu error %.2e", worst_gelu);
    CHECK(worst_dgelu < 2e-6, "gelu grad error %.2e", worst_dgelu);
    CHECK(ng_expf(-1000.0f) >= 0 && ng_expf(-1000.0f) < 1e-37f, "exp of a very negative number is ~0");
    CHECK(isfinite(ng_expf(1000.0f)), "exp of a large number stays finite");
    /* NaN in, NaN out (no undefined float-to-int conversion on the way: make test SANITIZE=1),
     * so that a NaN reaching GELU, sigmoid or softmax is seen, not hidden */
    volatile float qnan = NAN;
    CHECK(isnan(ng_expf(qnan)) && isnan(ng_sigmoidf(qnan)) && isnan(ng_gelu_f(qnan)) && isnan(ng_gelu_grad_f(qnan)),
          "NaN propagates through ng_expf, ng_sigmoidf, ng_gelu_f, ng_gelu_grad_f");
    CHECK(ng_expf(-INFINITY) >= 0 && ng_expf(-INFINITY) < 1e-37f && isfinite(ng_expf(INFINITY)), "exp of -inf ~0, of +inf finite");
    CHECK(ng_gelu_f(-100.0f) == 0.0f || fabsf(ng_gelu_f(-100.0f)) < 1e-30f, "gelu(-100) ~ 0");
    CHECK(ng_gelu_f(100.0f) == 100.0f, "gelu(100) = 100");
}

int main(void) {
    ng_rng_seed(&g_rng, 20240607);
    RUN(test_grad_linear);
    RUN(test_grad_matmul);
    RUN(test_grad_embedding);
    RUN(test_grad_add_mul_scale);
    RUN(test_grad_layernorm);
    RUN(test_grad_gelu_relu);
    RUN(test_grad_attention);
    RUN(test_grad_xent);
    RUN(test_grad_dropout);
    RUN(test_grad_sum_mean);
    RUN(test_grad_views);
    RUN(test_grad_accumulation);
    RUN(test_forward_values);
    RUN(test_attention_forward);
    RUN(test_attention_twins);
    RUN(test_drop_threshold);
    RUN(test_dropout_twin);
    RUN(test_dropout_forward);
    RUN(test_shape_errors);
    RUN(test_threads);
    RUN(test_gemm);
    RUN(test_gemv_packed);
    RUN(test_lr_schedule);
    RUN(test_adamw);
    RUN(test_fastmath);
    printf("  finite differences (tolerance |a-n| <= %g max(|a|,|n|) + %g):\n", FD_RTOL, FD_ATOL);
    for (int i = 0; i < g_nstats; i++)
        printf("    %-20s %5ld elements  max abs err %.2e  max rel err %.2e  worst err/tol %.2f\n", g_stats[i].op,
               g_stats[i].n, g_stats[i].max_abs, g_stats[i].max_rel, g_stats[i].worst);
    TEST_MAIN_END();
}

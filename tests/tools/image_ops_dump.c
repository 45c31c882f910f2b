/* image_ops_dump.c - runs the image ops on fixed random inputs and writes inputs, weights,
 * outputs and gradients (for a given random output gradient "dy") to one safetensors file,
 * so tests/test_torch_image_ops.py can recompute them with torch.nn.functional and autograd.
 * usage: image_ops_dump OUT.safetensors
 * Names: "<case>.<tensor>", e.g. conv2d.x, conv2d.w, conv2d.y, conv2d.dy, conv2d.dx. */
#include "nanogen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_T 256
static ng_st_tensor g_t[MAX_T];
static char g_names[MAX_T][160];
static float *g_copies[MAX_T];
static int g_n;
static ng_rng g_rng;

/* Record a copy of n floats under "<case>.<what>" with the given shape. */
static void put(const char *cs, const char *what, int ndim, const int64_t *shape, const float *data) {
    if (g_n == MAX_T) { fprintf(stderr, "image_ops_dump: too many tensors\n"); exit(1); }
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    g_copies[g_n] = malloc((size_t)(n ? n : 1) * sizeof(float));
    memcpy(g_copies[g_n], data, (size_t)n * sizeof(float));
    snprintf(g_names[g_n], sizeof g_names[g_n], "%s.%s", cs, what);
    g_t[g_n].name = g_names[g_n];
    g_t[g_n].ndim = ndim;
    memcpy(g_t[g_n].shape, shape, sizeof(int64_t) * (size_t)ndim);
    g_t[g_n].data = g_copies[g_n];
    g_n++;
}
static void put_t(const char *cs, const char *what, const ng_tensor *t, const float *data) {
    int64_t one = 1;
    if (t->ndim == 0) put(cs, what, 1, &one, data);
    else put(cs, what, t->ndim, t->ne, data);
}

static ng_tensor *input(ng_graph *g, const char *name, int ndim, const int64_t *ne, float std, int grad) {
    ng_tensor *t = ng_input(g, name, ndim, ne);
    if (!t) { fprintf(stderr, "image_ops_dump: %s\n", ng_last_error()); exit(1); }
    t->requires_grad = grad;
    for (int64_t i = 0; i < t->n; i++) t->data[i] = std * ng_rng_normal(&g_rng);
    return t;
}

/* Finalize on y, forward, backward with a random dy; record the leaves (values and
 * gradients), y and dy. */
static void run(const char *cs, ng_graph *g, ng_tensor *y, ng_tensor **leaves, int n) {
    if (!y || ng_graph_finalize(g, y)) { fprintf(stderr, "image_ops_dump: %s: %s\n", cs, ng_last_error()); exit(1); }
    for (int i = 0; i < n; i++) put_t(cs, leaves[i]->name, leaves[i], leaves[i]->data);
    float *dy = malloc((size_t)y->n * sizeof *dy);
    for (int64_t i = 0; i < y->n; i++) dy[i] = ng_rng_normal(&g_rng);
    ng_graph_forward(g);
    ng_graph_backward_with(g, dy);
    put_t(cs, "y", y, y->data);
    put_t(cs, "dy", y, dy);
    for (int i = 0; i < n; i++) {
        if (!leaves[i]->grad) continue;
        char d[80];
        snprintf(d, sizeof d, "d%s", leaves[i]->name);
        put_t(cs, d, leaves[i], leaves[i]->grad);
    }
    free(dy);
}

static void conv_case(const char *cs, int transposed, int bias) {
    ng_graph *g = ng_graph_new();
    int64_t xs[4] = {2, 3, 8, 8}, ws[4] = {5, 3, 4, 4}, bs[1] = {5};
    if (transposed) { xs[1] = 4; xs[2] = 5; xs[3] = 6; ws[0] = 4; ws[1] = 3; bs[0] = 3; }
    ng_tensor *x = input(g, "x", 4, xs, 1, 1), *w = input(g, "w", 4, ws, 0.3f, 1), *b = bias ? input(g, "b", 1, bs, 1, 1) : NULL;
    ng_tensor *y = transposed ? ng_conv_transpose2d(g, x, w, b, 2, 1) : ng_conv2d(g, x, w, b, 2, 1);
    ng_tensor *lv[3] = {x, w, b};
    run(cs, g, y, lv, bias ? 3 : 2);
    ng_graph_free(g);
}

/* BatchNorm with running statistics as parameters; training updates them (recorded after). */
static void bn_case(const char *cs, int ndim, int training) {
    int64_t xs[4] = {3, 4, 5, 5}, cs1[1] = {4};
    if (ndim == 2) { xs[0] = 6; xs[1] = 4; }
    ng_params *P = ng_params_new();
    ng_tensor *rm = ng_param(P, "running_mean", 1, cs1, 0), *rv = ng_param(P, "running_var", 1, cs1, 0);
    if (ng_params_alloc(P)) { fprintf(stderr, "%s\n", ng_last_error()); exit(1); }
    for (int c = 0; c < 4; c++) { rm->data[c] = 0.2f * ng_rng_normal(&g_rng); rv->data[c] = 0.5f + ng_rng_uniform(&g_rng); }
    ng_graph *g = ng_graph_new();
    ng_graph_set_training(g, training);
    ng_tensor *x = input(g, "x", ndim, xs, 1.5f, 1), *w = input(g, "w", 1, cs1, 1, 1), *b = input(g, "b", 1, cs1, 1, 1);
    for (int64_t i = 0; i < x->n; i++) x->data[i] += 0.5f;   /* a mean to remove */
    put(cs, "running_mean0", 1, cs1, rm->data);
    put(cs, "running_var0", 1, cs1, rv->data);
    ng_tensor *y = ng_batchnorm(g, x, w, b, rm, rv, 1e-5f, 0.1f);
    ng_tensor *lv[3] = {x, w, b};
    run(cs, g, y, lv, 3);
    put(cs, "running_mean", 1, cs1, rm->data);
    put(cs, "running_var", 1, cs1, rv->data);
    ng_graph_free(g);
    ng_params_free(P);
}

static void pool_case(const char *cs, int max, int k, int s) {
    ng_graph *g = ng_graph_new();
    int64_t xs[4] = {2, 3, 9, 8};
    ng_tensor *x = input(g, "x", 4, xs, 1, 1);
    ng_tensor *lv[1] = {x};
    run(cs, g, max ? ng_maxpool2d(g, x, k, s) : ng_avgpool2d(g, x, k, s), lv, 1);
    ng_graph_free(g);
}

static void pointwise_case(const char *cs, int which) {
    ng_graph *g = ng_graph_new();
    int64_t xs[4] = {2, 3, 4, 5};
    ng_tensor *x = input(g, "x", 4, xs, 2.5f, 1);
    ng_tensor *y = which == 0 ? ng_leaky_relu(g, x, 0.2f) : which == 1 ? ng_sigmoid(g, x) : ng_tanh(g, x);
    ng_tensor *lv[1] = {x};
    run(cs, g, y, lv, 1);
    ng_graph_free(g);
}

static void loss_case(const char *cs, int which, ng_reduction r) {
    ng_graph *g = ng_graph_new();
    int64_t s[2] = {4, 7};
    ng_tensor *a = input(g, which == 2 ? "mu" : "a", 2, s, which == 0 ? 4.0f : 1.0f, 1);
    ng_tensor *b = input(g, which == 2 ? "logvar" : "b", 2, s, 1, 1);
    if (which == 0) for (int64_t i = 0; i < b->n; i++) b->data[i] = ng_rng_uniform(&g_rng);   /* targets in [0,1] */
    ng_tensor *y = which == 0 ? ng_bce_logits(g, a, b, r) : which == 1 ? ng_mse(g, a, b, r) : ng_gauss_kl(g, a, b, r);
    ng_tensor *lv[2] = {a, b};
    run(cs, g, y, lv, 2);
    ng_graph_free(g);
}

static void reparam_case(void) {
    ng_graph *g = ng_graph_new();
    int64_t s[2] = {4, 5};
    ng_tensor *mu = input(g, "mu", 2, s, 1, 1), *lv = input(g, "logvar", 2, s, 1, 1), *eps = input(g, "eps", 2, s, 1, 0);
    ng_tensor *leaves[3] = {mu, lv, eps};
    run("reparam", g, ng_reparam(g, mu, lv, eps), leaves, 3);
    ng_graph_free(g);
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: image_ops_dump OUT.safetensors\n"); return 2; }
    ng_rng_seed(&g_rng, 1234);
    conv_case("conv2d", 0, 1);
    conv_case("conv2d_nobias", 0, 0);
    conv_case("conv_transpose2d", 1, 1);
    bn_case("batchnorm2d", 4, 1);
    bn_case("batchnorm1d", 2, 1);
    bn_case("batchnorm2d_eval", 4, 0);
    pool_case("maxpool_k2s2", 1, 2, 2);
    pool_case("maxpool_k3s2", 1, 3, 2);
    pool_case("avgpool_k2s2", 0, 2, 2);
    pointwise_case("leaky_relu", 0);
    pointwise_case("sigmoid", 1);
    pointwise_case("tanh", 2);
    loss_case("bce_mean", 0, NG_MEAN);
    loss_case("bce_sum", 0, NG_SUM);
    loss_case("mse_mean", 1, NG_MEAN);
    loss_case("kl_sum", 2, NG_SUM);
    loss_case("kl_mean", 2, NG_MEAN);
    reparam_case();
    int rc = ng_safetensors_write(argv[1], g_t, g_n, NULL, NULL, 0);
    if (rc) fprintf(stderr, "image_ops_dump: %s\n", ng_last_error());
    for (int i = 0; i < g_n; i++) free(g_copies[i]);
    return rc ? 1 : 0;
}

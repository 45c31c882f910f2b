/* tests/gradcheck.h - finite-difference gradient checks shared by the op tests
 * (tests/test_ops.c, tests/test_image_ops.c): fill helpers, input leaves with gradients, and
 * gradcheck(), which compares every analytic gradient element with a five-point stencil and
 * keeps the largest error per op in g_stats. Include after test.h, in one test file each. */
#ifndef NG_GRADCHECK_H
#define NG_GRADCHECK_H
#include "nanogen.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static ng_rng g_rng;

static void fill_normal(float *x, int64_t n, float std) {
    for (int64_t i = 0; i < n; i++) x[i] = std * ng_rng_normal(&g_rng);
}
static void fill_uniform(float *x, int64_t n, float lo, float hi) {
    for (int64_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * ng_rng_uniform(&g_rng);
}

/* f32 input leaf with a gradient, filled with N(0, std) */
static ng_tensor *leaf(ng_graph *g, const char *name, int ndim, const int64_t *ne, float std) {
    ng_tensor *t = ng_input(g, name, ndim, ne);
    if (!t) return NULL;
    t->requires_grad = 1;
    fill_normal(t->data, t->n, std);
    return t;
}

/* ---------------------------------------------------------------- finite differences */

/* Largest error seen per op: |analytic - numeric| and that over max(|a|,|n|) where |.| > 1e-2. */
typedef struct { char op[40]; double max_abs, max_rel, worst; long n; } op_stat;
static op_stat g_stats[48];
static int g_nstats;

static op_stat *stat_for(const char *op) {
    for (int i = 0; i < g_nstats; i++) if (strcmp(g_stats[i].op, op) == 0) return &g_stats[i];
    op_stat *s = &g_stats[g_nstats++];
    snprintf(s->op, sizeof s->op, "%s", op);
    return s;
}

/* dL/dx by the five-point stencil (8 (L(x+h) - L(x-h)) - (L(x+2h) - L(x-2h))) / 12h: its
 * truncation error is O(h^4), so h can be large enough for float rounding not to matter. */
static double fd_slope(ng_graph *g, ng_tensor *L, float *x, float h) {
    float save = *x;
    double l[4];
    const float off[4] = {h, -h, 2 * h, -2 * h};
    for (int k = 0; k < 4; k++) { *x = save + off[k]; ng_graph_forward(g); l[k] = L->data[0]; }
    *x = save;
    return (8 * (l[0] - l[1]) - (l[2] - l[3])) / (12.0 * h);
}

#define FD_RTOL 2e-3
#define FD_ATOL 2e-4

/* Gradient check of y = op(...): L = sum(y * R) with a fixed random R. Finalizes g, runs
 * forward/backward once (params' gradients zeroed first), then compares the gradient of every
 * element of every tensor in wrt (ng_input leaves with requires_grad, or ng_params leaves) with
 * fd_slope at step eps. Pass: |a - n| <= FD_RTOL max(|a|,|n|) + FD_ATOL. Returns the number of
 * failing elements. */
static int gradcheck(const char *op, ng_graph *g, ng_tensor *y, ng_tensor **wrt, int nwrt, ng_params *P, float eps) {
    CHECK(y != NULL, "%s: builder failed: %s", op, ng_last_error());
    if (!y) return 1;
    ng_tensor *R = ng_input(g, "R", y->ndim, y->ne);
    fill_normal(R->data, R->n, 1.0f);
    ng_tensor *L = ng_sum(g, ng_mul(g, y, R));
    int rc = L ? ng_graph_finalize(g, L) : NG_ERR;
    CHECK(rc == NG_OK, "%s: finalize: %s", op, ng_last_error());
    if (rc) return 1;
    if (P) ng_params_zero_grad(P);
    ng_graph_forward(g);
    ng_graph_backward(g);
    op_stat *st = stat_for(op);
    int bad = 0;
    for (int k = 0; k < nwrt; k++) {
        ng_tensor *w = wrt[k];
        CHECK(w->grad != NULL, "%s: no gradient reaches %s", op, w->name);
        if (!w->grad) { bad++; continue; }
        float *ana = malloc((size_t)w->n * sizeof *ana);
        memcpy(ana, w->grad, (size_t)w->n * sizeof *ana);
        for (int64_t i = 0; i < w->n; i++) {
            double num = fd_slope(g, L, w->data + i, eps), a = ana[i];
            double err = fabs(a - num), mag = fmax(fabs(a), fabs(num));
            if (err > st->max_abs) st->max_abs = err;
            st->worst = fmax(st->worst, err / (FD_RTOL * mag + FD_ATOL));
            if (mag > 1e-2 && err / mag > st->max_rel) st->max_rel = err / mag;
            st->n++;
            if (err > FD_RTOL * mag + FD_ATOL) {
                if (bad < 5) CHECK(0, "%s: d/d%s[%lld] analytic %.6g numeric %.6g", op, w->name, (long long)i, a, num);
                else t_fail++;
                bad++;
            }
        }
        free(ana);
    }
    ng_graph_forward(g);   /* leave the graph's values as they were */
    if (!bad) t_pass++;
    return bad;
}

#endif

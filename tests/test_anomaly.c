/* tests/test_anomaly.c - numerical faults (src/graph/anomaly.c): counting NaN/Inf values and naming
 * them in a tensor's shape, the optimizer refusing a non-finite gradient without touching
 * anything, the parameter it names, and anomaly detection naming the first op whose output
 * (forward) or gradient (backward) went bad, while a graph without it runs as before. */
#include "nanogen.h"
#include "test.h"

#include <float.h>
#include <stdlib.h>

static int has(const char *s, const char *sub) { return strstr(s, sub) != NULL; }

static void test_count(void) {
    int64_t first = 7, nan = 7;
    CHECK(ng_count_nonfinite(NULL, 0, &first, &nan) == 0 && first == -1 && nan == 0, "empty");
    enum { N = 1003 };   /* not a multiple of any vector width */
    float *x = malloc(N * sizeof *x);
    for (int i = 0; i < N; i++) x[i] = (float)(i % 13) - 6.0f;
    x[5] = FLT_MAX; x[6] = -FLT_MAX; x[7] = FLT_MIN / 4; x[8] = -0.0f;
    CHECK(ng_count_nonfinite(x, N, &first, &nan) == 0 && first == -1 && nan == 0, "finite extremes are finite");
    /* a single bad value anywhere, the tail included, is found */
    int bad_at[] = {0, 1, 15, 16, 17, 63, 64, 500, N - 2, N - 1};
    int all = 1;
    for (size_t k = 0; k < sizeof bad_at / sizeof *bad_at; k++) {
        float keep = x[bad_at[k]];
        for (int v = 0; v < 3; v++) {
            x[bad_at[k]] = v == 0 ? NAN : v == 1 ? INFINITY : -INFINITY;
            int64_t c = ng_count_nonfinite(x, N, &first, &nan);
            all &= c == 1 && first == bad_at[k] && nan == (v == 0);
        }
        x[bad_at[k]] = keep;
    }
    CHECK(all, "one NaN, +Inf or -Inf at any position is counted and located");
    x[40] = INFINITY; x[3] = NAN; x[900] = NAN; x[901] = -INFINITY;
    CHECK(ng_count_nonfinite(x, N, &first, &nan) == 4 && first == 3 && nan == 2, "4 values, 2 NaN, first at 3");
    CHECK(ng_count_nonfinite(x, 3, &first, NULL) == 0 && first == -1, "only the first n values are looked at");
    CHECK(ng_count_nonfinite(x, N, NULL, NULL) == 4, "NULL out-pointers are fine");
    free(x);
}

static void test_describe(void) {
    ng_graph *g = ng_graph_new();
    int64_t ne[2] = {5, 20};
    ng_tensor *t = ng_input(g, "t", 2, ne);
    char buf[160];
    CHECK(ng_describe_nonfinite(t, 0, buf, sizeof buf) == 0 && buf[0] == 0, "finite: 0 and an empty text");
    t->data[3 * 20 + 17] = NAN;
    for (int i = 0; i < 11; i++) t->data[4 * 20 + i] = NAN;
    CHECK(ng_describe_nonfinite(t, 0, buf, sizeof buf) == 12 && !strcmp(buf, "12 NaN values (first at [3, 17])"), "'%s'", buf);
    for (int i = 0; i < 100; i++) t->data[i] = 0;
    t->data[19] = -INFINITY;
    CHECK(ng_describe_nonfinite(t, 0, buf, sizeof buf) == 1 && !strcmp(buf, "1 Inf value (first at [0, 19]: -inf)"), "'%s'", buf);
    t->data[99] = NAN;
    CHECK(ng_describe_nonfinite(t, 0, buf, sizeof buf) == 2 && !strcmp(buf, "1 NaN and 1 Inf values (first at [0, 19]: -inf)"),
          "'%s'", buf);
    CHECK(ng_describe_nonfinite(t, 1, buf, sizeof buf) == 0, "no gradient: nothing to count");
    ng_graph_free(g);
}

/* a 2-parameter model: y = sum(gelu(x W^T + b)) */
typedef struct { ng_params *P; ng_tensor *W, *b; ng_graph *g; ng_tensor *x, *h, *a, *y; } mini;

static void mini_new(mini *m) {
    m->P = ng_params_new();
    int64_t we[2] = {6, 4}, be[1] = {6}, xe[2] = {3, 4};
    m->W = ng_param(m->P, "layer.weight", 2, we, 1);
    m->b = ng_param(m->P, "layer.bias", 1, be, 0);
    ng_params_alloc(m->P);
    for (int i = 0; i < 24; i++) m->W->data[i] = 0.1f * (float)(i % 7) - 0.3f;
    for (int i = 0; i < 6; i++) m->b->data[i] = 0.01f * (float)i;
    m->g = ng_graph_new();
    m->x = ng_input(m->g, "x", 2, xe);
    m->x->requires_grad = 1;   /* so that the input's gradient is computed (and checked) too */
    for (int i = 0; i < 12; i++) m->x->data[i] = 0.2f * (float)i - 1.0f;
    m->h = ng_linear(m->g, m->x, m->W, m->b);
    m->a = ng_gelu(m->g, m->h);
    m->y = ng_sum(m->g, m->a);
    ng_graph_finalize(m->g, m->y);
}
static void mini_free(mini *m) { ng_graph_free(m->g); ng_params_free(m->P); }

static void test_adamw_refuses(void) {
    mini m;
    mini_new(&m);
    ng_adamw_cfg cfg = {1e-2f, 1e-2f, 0.9f, 0.99f, 1e-8f, 0.1f, 1.0f, 0, 10};
    ng_adamw *o = ng_adamw_new(m.P, &cfg);
    ng_graph_forward(m.g);
    ng_graph_backward(m.g);
    CHECK(ng_params_nonfinite_grad(m.P) == NULL, "healthy gradients: no tensor named");
    float n1 = ng_adamw_step(o, 1e-2f);
    CHECK(isfinite(n1) && n1 > 0 && ng_adamw_t(o) == 1, "a healthy step: norm %g", n1);
    /* a NaN in the bias gradient: the step returns a non-finite norm and changes nothing */
    ng_graph_forward(m.g);
    ng_graph_backward(m.g);
    int64_t tot = ng_params_total(m.P);
    float *p0 = malloc(tot * sizeof *p0), *g0 = malloc(tot * sizeof *g0), *m0 = malloc(tot * sizeof *m0), *v0 = malloc(tot * sizeof *v0);
    m.b->grad[4] = NAN;
    memcpy(p0, ng_params_data(m.P), tot * sizeof *p0);
    memcpy(g0, ng_params_grad(m.P), tot * sizeof *g0);
    memcpy(m0, ng_adamw_m(o), tot * sizeof *m0);
    memcpy(v0, ng_adamw_v(o), tot * sizeof *v0);
    float n2 = ng_adamw_step(o, 1e-2f);
    CHECK(isnan(n2), "NaN gradient: NaN norm (%g)", n2);
    CHECK(memcmp(p0, ng_params_data(m.P), tot * sizeof *p0) == 0, "weights untouched");
    CHECK(memcmp(m0, ng_adamw_m(o), tot * sizeof *m0) == 0 && memcmp(v0, ng_adamw_v(o), tot * sizeof *v0) == 0, "moments untouched");
    CHECK(ng_adamw_t(o) == 1, "step count untouched: %lld", (long long)ng_adamw_t(o));
    CHECK(memcmp(g0, ng_params_grad(m.P), tot * sizeof *g0) == 0, "gradients kept (to be named)");
    ng_tensor *bad = ng_params_nonfinite_grad(m.P);
    char buf[160];
    CHECK(bad == m.b, "the bias is named: %s", bad ? bad->name : "(none)");
    CHECK(bad && ng_describe_nonfinite(bad, 1, buf, sizeof buf) == 1 && !strcmp(buf, "1 NaN value (first at [4])"), "'%s'", buf);
    /* +Inf in the weight gradient: Inf norm, the weight named first (parameter order) */
    m.W->grad[5] = INFINITY;
    float n3 = ng_adamw_step(o, 1e-2f);
    CHECK(!isfinite(n3) && ng_params_nonfinite_grad(m.P) == m.W, "Inf gradient named: %s", ng_params_nonfinite_grad(m.P)->name);
    CHECK(memcmp(p0, ng_params_data(m.P), tot * sizeof *p0) == 0, "weights still untouched");
    free(p0); free(g0); free(m0); free(v0);
    ng_adamw_free(o);
    mini_free(&m);
}

static void test_forward_anomaly(void) {
    mini m;
    mini_new(&m);
    /* off (the default): a NaN weight runs through, nothing flagged */
    m.W->data[2 * 4 + 1] = NAN;
    ng_graph_forward(m.g);
    CHECK(isnan(m.y->data[0]) && !ng_graph_anomaly(m.g), "off: the loss is NaN, no anomaly flagged");
    /* after the fact: the first op with a non-finite output is the linear, its weight named */
    CHECK(ng_graph_find_nonfinite(m.g) == 1, "find_nonfinite finds it");
    const char *e = ng_last_error();
    CHECK(has(e, "forward pass: op 1 of 4 (linear of layer.weight, layer.bias) produced 3 NaN values (first at [0, 2]) in its output (3, 6)"),
          "'%s'", e);
    CHECK(has(e, "its operand layer.weight already has 1 NaN value (first at [2, 1])"), "'%s'", e);
    /* on: the forward stops at the linear (gelu and sum never run) */
    ng_graph_set_detect_anomaly(m.g, 1);
    m.a->data[0] = 12345.0f; m.y->data[0] = 12345.0f;
    ng_graph_forward(m.g);
    e = ng_last_error();
    CHECK(ng_graph_anomaly(m.g), "on: anomaly flagged");
    CHECK(has(e, "forward pass: op 1 of 4 (linear of layer.weight, layer.bias) produced 3 NaN values"), "'%s'", e);
    CHECK(m.a->data[0] == 12345.0f && m.y->data[0] == 12345.0f, "the ops after the bad one did not run");
    float gb = m.b->grad[0];
    ng_graph_backward(m.g);
    CHECK(m.b->grad[0] == gb, "no backward after a forward anomaly");
    /* the weight repaired: the next forward clears the flag and runs everything */
    m.W->data[2 * 4 + 1] = 0.5f;
    ng_graph_forward(m.g);
    CHECK(!ng_graph_anomaly(m.g) && isfinite(m.y->data[0]) && m.y->data[0] != 12345.0f, "a healthy forward clears it");
    /* an op that makes Inf from finite operands: the input has 1e30s, the linear overflows */
    for (int i = 0; i < 12; i++) m.x->data[i] = 3e38f;
    for (int i = 0; i < 24; i++) m.W->data[i] = 10.0f;
    ng_graph_forward(m.g);
    e = ng_last_error();
    CHECK(ng_graph_anomaly(m.g) && has(e, "op 1 of 4 (linear") && has(e, "Inf values") && has(e, "from finite operands"), "'%s'", e);
    /* a NaN input is named as the input */
    for (int i = 0; i < 12; i++) m.x->data[i] = 0.1f;
    m.x->data[7] = NAN;
    ng_graph_forward(m.g);
    e = ng_last_error();
    CHECK(ng_graph_anomaly(m.g) && has(e, "forward pass: input 'x' (3, 4) has 1 NaN value (first at [1, 3])"), "'%s'", e);
    mini_free(&m);
}

static void test_backward_anomaly(void) {
    mini m;
    mini_new(&m);
    ng_graph_set_detect_anomaly(m.g, 1);
    ng_graph_forward(m.g);
    CHECK(!ng_graph_anomaly(m.g), "healthy forward");
    ng_graph_backward(m.g);
    CHECK(!ng_graph_anomaly(m.g), "healthy backward");
    /* the same results as without detection */
    float y1 = m.y->data[0], gw1 = m.W->grad[3];
    ng_graph_set_detect_anomaly(m.g, 0);
    ng_params_zero_grad(m.P);
    ng_graph_forward(m.g);
    ng_graph_backward(m.g);
    CHECK(m.y->data[0] == y1 && m.W->grad[3] == gw1, "detection changes no number");
    /* a huge weight that x = 0 hides from the forward: the input's gradient dy W overflows to
     * Inf from a finite output gradient */
    ng_graph_set_detect_anomaly(m.g, 1);
    for (int i = 0; i < 24; i++) m.W->data[i] = 0;
    m.W->data[0] = 3e38f; m.W->data[4] = 3e38f;   /* column 0 of W: two rows at 3e38 */
    for (int i = 0; i < 12; i++) m.x->data[i] = 0;
    for (int i = 0; i < 6; i++) m.b->data[i] = 1.0f;   /* h = 1: gelu'(1) ~ 1.08, finite outputs */
    ng_params_zero_grad(m.P);
    ng_graph_forward(m.g);
    CHECK(!ng_graph_anomaly(m.g), "forward finite: %s", ng_last_error());
    ng_graph_backward(m.g);
    const char *e = ng_last_error();
    CHECK(ng_graph_anomaly(m.g), "backward anomaly flagged");
    CHECK(has(e, "backward pass: op 1 of 4 (linear of layer.weight, layer.bias) gave the gradient of input 'x' 3 Inf values (first at [0, 0]: inf) from a finite output gradient"),
          "'%s'", e);
    /* a NaN output gradient (backward_with) is reported with it */
    ng_graph_set_detect_anomaly(m.g, 1);
    for (int i = 0; i < 24; i++) m.W->data[i] = 0.1f;
    ng_graph_forward(m.g);
    float d[1] = {NAN};
    ng_graph_backward_with(m.g, d);
    e = ng_last_error();
    CHECK(ng_graph_anomaly(m.g) && has(e, "backward pass: op 3 of 4 (sum) gave the gradient of op 2 of 4 (gelu) 18 NaN values"),
          "'%s'", e);
    CHECK(has(e, "(its output gradient has 1 NaN value (first at [0]))"), "'%s'", e);
    mini_free(&m);
}

int main(void) {
    RUN(test_count);
    RUN(test_describe);
    RUN(test_adamw_refuses);
    RUN(test_forward_anomaly);
    RUN(test_backward_anomaly);
    TEST_MAIN_END();
}

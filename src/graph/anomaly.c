/* anomaly.c - numerical faults: counting NaN and Inf values, naming them in a tensor's shape,
 * finding the parameter whose gradient went bad, and the checks of anomaly detection that
 * ng_graph_forward / ng_graph_backward run after every op when it is on (train --detect-anomaly).
 * Nothing here runs on a healthy step without anomaly detection: the trainers only look here
 * after the loss or the gradient norm (computed anyway, src/optim/optim.c) came out non-finite. */
#include "graph/graph_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int64_t ng_count_nonfinite(const float *x, int64_t n, int64_t *first, int64_t *n_nan) {
    int64_t cnt = 0, nan = 0, f = -1;
    if (x && n > 0) {
        /* one vectorised pass: x*0 is 0 for every finite x and NaN for NaN and +-Inf */
        float acc = 0;
        #pragma omp simd reduction(+ : acc)
        for (int64_t i = 0; i < n; i++) acc += x[i] * 0.0f;
        if (acc != 0.0f || acc != acc) {
            for (int64_t i = 0; i < n; i++) {
                if (isfinite(x[i])) continue;
                if (f < 0) f = i;
                cnt++;
                nan += isnan(x[i]) != 0;
            }
        }
    }
    if (first) *first = f;
    if (n_nan) *n_nan = nan;
    return cnt;
}

/* "[3, 17]": flat index i in the shape of t */
static void index_str(const ng_tensor *t, int64_t i, char *buf, size_t cap) {
    int64_t c[NG_MAX_DIMS] = {0};
    int nd = t->ndim > 0 ? t->ndim : 1;
    if (t->ndim <= 0) c[0] = i;
    for (int d = t->ndim - 1; d >= 0; d--) {
        int64_t e = t->ne[d] > 0 ? t->ne[d] : 1;
        c[d] = i % e;
        i /= e;
    }
    size_t k = 0;
    k += (size_t)snprintf(buf + k, cap - k, "[");
    for (int d = 0; d < nd && k < cap; d++) k += (size_t)snprintf(buf + k, cap - k, d ? ", %lld" : "%lld", (long long)c[d]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
}

int64_t ng_describe_nonfinite(const ng_tensor *t, int grad, char *buf, size_t cap) {
    if (cap) buf[0] = 0;
    const float *x = grad ? t->grad : t->data;
    int64_t first, nan, cnt = ng_count_nonfinite(x, t->n, &first, &nan);
    if (!cnt || !cap) return cnt;
    char at[96];
    index_str(t, first, at, sizeof at);
    const char *v = isnan(x[first]) ? "nan" : x[first] > 0 ? "inf" : "-inf";
    if (nan == cnt)
        snprintf(buf, cap, "%lld NaN value%s (first at %s)", (long long)cnt, cnt > 1 ? "s" : "", at);
    else if (nan == 0)
        snprintf(buf, cap, "%lld Inf value%s (first at %s: %s)", (long long)cnt, cnt > 1 ? "s" : "", at, v);
    else
        snprintf(buf, cap, "%lld NaN and %lld Inf values (first at %s: %s)", (long long)nan, (long long)(cnt - nan), at, v);
    return cnt;
}

ng_tensor *ng_params_nonfinite_grad(const ng_params *P) {
    for (int i = 0; i < ng_params_count(P); i++) {
        ng_tensor *t = ng_params_get(P, i);
        if (ng_count_nonfinite(t->grad, t->n, NULL, NULL)) return t;
    }
    return NULL;
}

/* ---------------------------------------------------------------- anomaly detection */

void ng_graph_set_detect_anomaly(ng_graph *g, int on) { g->detect_anomaly = on != 0; g->anomaly = 0; }
int ng_graph_anomaly(const ng_graph *g) { return g->anomaly; }

static int order_index(const ng_graph *g, const ng_tensor *t) {
    for (int i = 0; i < g->n_order; i++) if (g->order[i] == t) return i;
    return -1;
}

static void shape_str(const ng_tensor *t, char *buf, size_t cap) {
    size_t k = (size_t)snprintf(buf, cap, "(");
    for (int d = 0; d < t->ndim && k < cap; d++) k += (size_t)snprintf(buf + k, cap - k, d ? ", %lld" : "%lld", (long long)t->ne[d]);
    if (k < cap) snprintf(buf + k, cap - k, ")");
}

/* A parameter by its name, an input by its name, an op as "op 7 of 52 (linear of
 * h.0.attn.c_attn.weight, h.0.attn.c_attn.bias)": index in execution order, kind, parameters. */
static void node_name(const ng_graph *g, const ng_tensor *t, char *buf, size_t cap) {
    if (t->is_param) { snprintf(buf, cap, "%s", t->name); return; }
    if (t->op == &ng_op_leaf) { snprintf(buf, cap, "input '%s'", t->name); return; }
    size_t k = (size_t)snprintf(buf, cap, "op %d of %d (%s", order_index(g, t), g->n_order, t->op->name);
    int np = 0;
    for (int s = 0; s < NG_MAX_SRC && k < cap; s++)
        if (t->src[s] && t->src[s]->is_param)
            k += (size_t)snprintf(buf + k, cap - k, "%s%s", np++ ? ", " : " of ", t->src[s]->name);
    if (k < cap) snprintf(buf + k, cap - k, ")");
}

int ng__check_forward(ng_graph *g, int i) {
    ng_tensor *t = g->order[i];
    if (!t->data || t->op == &ng_op_view) return NG_OK;   /* index tensors; views show their source's values */
    char what[160], who[256], shape[96];
    if (!ng_describe_nonfinite(t, 0, what, sizeof what)) return NG_OK;
    node_name(g, t, who, sizeof who);
    shape_str(t, shape, sizeof shape);
    if (t->op == &ng_op_leaf)
        return ng_set_error("forward pass: %s %s has %s", who, shape, what);
    /* which of its operands were already bad (parameters are not ops: a NaN weight shows here) */
    char srcs[512] = "";
    size_t k = 0;
    for (int s = 0; s < NG_MAX_SRC && k < sizeof srcs; s++) {
        const ng_tensor *x = t->src[s];
        char w2[160], n2[256];
        if (!x || !x->data || !ng_describe_nonfinite(x, 0, w2, sizeof w2)) continue;
        node_name(g, x, n2, sizeof n2);
        k += (size_t)snprintf(srcs + k, sizeof srcs - k, "; its operand %s already has %s", n2, w2);
    }
    return ng_set_error("forward pass: %s produced %s in its output %s%s%s", who, what, shape,
                        srcs, *srcs ? "" : " from finite operands");
}

int ng__check_backward(ng_graph *g, int i) {
    ng_tensor *t = g->order[i];
    for (int s = 0; s < NG_MAX_SRC; s++) {
        ng_tensor *x = t->src[s];
        char what[160], who[256], whose[256];
        if (!x || !x->grad || !x->requires_grad || !ng_describe_nonfinite(x, 1, what, sizeof what)) continue;
        node_name(g, t, who, sizeof who);
        node_name(g, x, whose, sizeof whose);
        char outg[200] = " from a finite output gradient";
        char w2[160];
        if (t->grad && ng_describe_nonfinite(t, 1, w2, sizeof w2)) snprintf(outg, sizeof outg, " (its output gradient has %s)", w2);
        return ng_set_error("backward pass: %s gave the gradient of %s %s%s", who, whose, what, outg);
    }
    return NG_OK;
}

int ng_graph_find_nonfinite(ng_graph *g) {
    for (int i = 0; i < g->n_order; i++)
        if (ng__check_forward(g, i)) return 1;
    return 0;
}

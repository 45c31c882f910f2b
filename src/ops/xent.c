/* xent.c - fused softmax + cross-entropy, mean over the counted rows (target >= 0).
 * aux[i] = log-sum-exp of row i, aux[N] = number of counted rows. */
#include "ops/kernels/fastmath.h"
#include "graph/graph_internal.h"

#include <math.h>

static void softmax_xent_forward(ng_graph *g, ng_tensor *t) {
    (void)g;
    ng_tensor *lg = t->src[0], *tg = t->src[1];
    int64_t N = ng_rows(lg), V = ng_cols(lg);
    #pragma omp parallel for if (N * V > 65536)
    for (int64_t i = 0; i < N; i++) {
        const float *row = lg->data + i * V;
        float mx = row[0];
        for (int64_t j = 1; j < V; j++) mx = row[j] > mx ? row[j] : mx;
        float s = 0;
        #pragma omp simd reduction(+ : s)
        for (int64_t j = 0; j < V; j++) s += ng_expf(row[j] - mx);
        t->aux[i] = mx + logf(s);
    }
    /* the mean over the rows in row order, on one thread: the same sum whatever the thread count */
    double loss = 0;
    int64_t count = 0;
    for (int64_t i = 0; i < N; i++) {
        const int32_t y = tg->idata[i];
        if (y >= 0 && y < V) { loss += t->aux[i] - lg->data[i * V + y]; count++; }
    }
    t->aux[N] = (float)count;
    t->data[0] = count ? (float)(loss / count) : 0.0f;
}

/* dlogits[i,j] += (softmax_ij - [j == y_i]) * dloss / count */
static void softmax_xent_backward(ng_graph *g, ng_tensor *t) {
    (void)g;
    ng_tensor *lg = t->src[0], *tg = t->src[1];
    if (!lg->grad) return;
    int64_t N = ng_rows(lg), V = ng_cols(lg);
    float count = t->aux[N];
    if (count <= 0) return;
    float scale = t->grad[0] / count;
    #pragma omp parallel for if (N * V > 65536)
    for (int64_t i = 0; i < N; i++) {
        int32_t y = tg->idata[i];
        if (y < 0 || y >= V) continue;
        const float *row = lg->data + i * V;
        float *drow = lg->grad + i * V, lse = t->aux[i];
        #pragma omp simd
        for (int64_t j = 0; j < V; j++) drow[j] += ng_expf(row[j] - lse) * scale;
        drow[y] -= scale;
    }
}

/* ---------------------------------------------------------------- the op: definition and builder */

static const ng_op_def softmax_xent_op = {"softmax_xent", softmax_xent_forward, softmax_xent_backward};   /* mean cross-entropy: logits (N,V), targets i32 (N), target<0 ignored -> scalar */

ng_tensor *ng_softmax_xent(ng_graph *g, ng_tensor *logits, ng_tensor *targets) {
    NG_NEED(logits && targets && logits->data && targets->idata);
    if (ng_rows(logits) != targets->n) return ng__shape_error("softmax_xent", logits, targets);
    ng_tensor *t = ng__op_node3(g, &softmax_xent_op, 0, NULL, logits, targets, NULL);
    /* saved per row: log-sum-exp; aux[rows] = number of counted targets */
    if (t && ng__set_aux(t, ng_rows(logits) + 1)) return NULL;
    return t;
}

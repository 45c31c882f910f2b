/* linear.c - y = x W^T + b (PyTorch's nn.Linear layout: W is (out, in)) and 2-D matmul. */
#include "graph/graph_internal.h"
#include "ops/kernels/kernels.h"

#include <cblas.h>
#include <string.h>

void ng_k_linear(float *y, const float *x, const float *W, const float *b, int N, int in, int out) {
    if (N < 4) {
        /* a few rows (sampling one stream): GEMV reads W in place; GEMM would first pack all of it */
        for (int i = 0; i < N; i++) ng_sgemv_rows(y + (size_t)i * out, x + (size_t)i * in, W, b, in, out);
        return;
    }
    float beta = 0.0f;
    if (b) {
        #pragma omp parallel for if ((int64_t)N * out > 32768)
        for (int i = 0; i < N; i++) memcpy(y + (size_t)i * out, b, (size_t)out * sizeof(float));
        beta = 1.0f;
    }
    ng_sgemm(0, 1, N, out, in, 1.0f, x, in, W, in, beta, y, out);
}

/* x (N,in), W (out,in), b (out) -> y (N,out) */
static void linear_forward(ng_graph *g, ng_tensor *t) {
    (void)g;
    ng_tensor *x = t->src[0], *W = t->src[1], *b = t->src[2];
    ng_k_linear(t->data, x->data, W->data, b ? b->data : NULL, (int)ng_rows(x), (int)W->ne[1], (int)W->ne[0]);
}

/* dx += dy W ; dW += dy^T x ; db += sum_rows dy */
static void linear_backward(ng_graph *g, ng_tensor *t) {
    (void)g;
    ng_tensor *x = t->src[0], *W = t->src[1], *b = t->src[2];
    int N = (int)ng_rows(x), in = (int)W->ne[1], out = (int)W->ne[0];
    const float *dy = t->grad;
    if (x->grad) ng_sgemm(0, 0, N, in, out, 1.0f, dy, out, W->data, in, 1.0f, x->grad, in);
    if (W->grad) ng_sgemm(1, 0, out, in, N, 1.0f, dy, out, x->data, in, 1.0f, W->grad, in);
    if (b && b->grad) {
        /* column sums, read row by row (contiguous); threads split the columns in blocks of 64, so
         * each sum runs over the rows in order whatever the thread count */
        float *db = b->grad;
        const int nblk = (out + 63) / 64;
        #pragma omp parallel for schedule(static) if ((int64_t)N * out > 32768)
        for (int blk = 0; blk < nblk; blk++) {
            const int j0 = blk * 64, w = out - j0 < 64 ? out - j0 : 64;
            float acc[64];
            for (int j = 0; j < w; j++) acc[j] = 0;
            for (int i = 0; i < N; i++) {
                const float *r = dy + (size_t)i * out + j0;
                #pragma omp simd
                for (int j = 0; j < w; j++) acc[j] += r[j];
            }
            for (int j = 0; j < w; j++) db[j0 + j] += acc[j];
        }
    }
}

/* C (M,N) = op(A) op(B) */
static void matmul_forward(ng_graph *g, ng_tensor *t) {
    (void)g;
    ng_tensor *a = t->src[0], *b = t->src[1];
    int ta = t->iarg[0], tb = t->iarg[1];
    int M = (int)t->ne[0], N = (int)t->ne[1], K = (int)(ta ? a->ne[0] : a->ne[1]);
    ng_sgemm(ta, tb, M, N, K, 1.0f, a->data, (int)a->ne[1], b->data, (int)b->ne[1], 0.0f, t->data, N);
}

/* d op(A) = dC op(B)^T ; d op(B) = op(A)^T dC, written for each storage orientation. */
static void matmul_backward(ng_graph *g, ng_tensor *t) {
    (void)g;
    ng_tensor *a = t->src[0], *b = t->src[1];
    int ta = t->iarg[0], tb = t->iarg[1];
    int M = (int)t->ne[0], N = (int)t->ne[1], K = (int)(ta ? a->ne[0] : a->ne[1]);
    int lda = (int)a->ne[1], ldb = (int)b->ne[1];
    const float *dC = t->grad;
    if (a->grad) {
        if (!ta) ng_sgemm(0, !tb, M, K, N, 1.0f, dC, N, b->data, ldb, 1.0f, a->grad, lda);      /* (M,K) */
        else     ng_sgemm(tb, 1, K, M, N, 1.0f, b->data, ldb, dC, N, 1.0f, a->grad, lda);       /* (K,M) */
    }
    if (b->grad) {
        if (!tb) ng_sgemm(!ta, 0, K, N, M, 1.0f, a->data, lda, dC, N, 1.0f, b->grad, ldb);      /* (K,N) */
        else     ng_sgemm(1, ta, N, K, M, 1.0f, dC, N, a->data, lda, 1.0f, b->grad, ldb);       /* (N,K) */
    }
}

/* ---------------------------------------------------------------- the ops: definitions and builders */

static const ng_op_def linear_op = {"linear", linear_forward, linear_backward};   /* y = x W^T (+ b): x (N,in), W (out,in), b (out) -> (N,out) */
static const ng_op_def matmul_op = {"matmul", matmul_forward, matmul_backward};   /* y = op(A) op(B), 2-D, iarg[0]=transA, iarg[1]=transB */

ng_tensor *ng_linear(ng_graph *g, ng_tensor *x, ng_tensor *W, ng_tensor *b) {
    NG_NEED(x && W && x->data);
    if (W->ndim != 2 || ng_cols(x) != W->ne[1]) return ng__shape_error("linear", x, W);
    if (b && (b->ndim != 1 || b->ne[0] != W->ne[0])) return ng__shape_error("linear bias", W, b);
    int64_t ne[NG_MAX_DIMS];
    memcpy(ne, x->ne, sizeof ne);
    ne[x->ndim - 1] = W->ne[0];
    return ng__op_node3(g, &linear_op, x->ndim, ne, x, W, b);
}
ng_tensor *ng_matmul(ng_graph *g, ng_tensor *a, ng_tensor *b, int trans_a, int trans_b) {
    NG_NEED(a && b && a->data && b->data);
    if (a->ndim != 2 || b->ndim != 2) return ng__shape_error("matmul (2-D only)", a, b);
    int64_t M = trans_a ? a->ne[1] : a->ne[0], K = trans_a ? a->ne[0] : a->ne[1];
    int64_t K2 = trans_b ? b->ne[1] : b->ne[0], N = trans_b ? b->ne[0] : b->ne[1];
    if (K != K2) return ng__shape_error("matmul", a, b);
    int64_t ne[2] = {M, N};
    ng_tensor *t = ng__op_node3(g, &matmul_op, 2, ne, a, b, NULL);
    if (t) { t->iarg[0] = trans_a; t->iarg[1] = trans_b; }
    return t;
}

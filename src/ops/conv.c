/* conv.c - 2-D convolution and transposed convolution (NCHW, PyTorch's weight layouts) by
 * im2col / col2im and one GEMM per chunk of images, plus the direct-loop reference twins.
 *
 * For a chunk of m images, conv2d lays the receptive fields out as columns:
 *   col (K = Ci*k*k, m*Ho*Wo), col[(ci,ki,kj)][n*Ho*Wo + oh*Wo + ow] = x[n][ci][oh*s-p+ki][ow*s-p+kj]
 * so that Y (Co, m*Ho*Wo) = W (Co,K) col is one GEMM; Y's rows are then copied out per image
 * (with the bias) to NCHW. Backward: dW += dY col^T, dcol = W^T dY, dx += col2im(dcol).
 * The transposed convolution is the adjoint: y = col2im(W^T x) (W seen as (Ci, Co*k*k)),
 * dx = W im2col(dy), dW += x im2col(dy)^T. Scratch (col and the staging block for Y / x)
 * comes from the builder (t->aux, sized for iarg[3] images, plus the K-split blocks of a
 * small weight gradient, see gemm_abt_acc); backward recomputes im2col
 * instead of keeping it, so forward/backward allocate nothing and backward can run twice.
 * iarg: [0] stride, [1] pad, [2] k, [3] images per chunk. */
#include "graph/graph_internal.h"
#include "ops/image_ref.h"

#include <string.h>
#include <limits.h>

#define PAR_MIN 32768   /* below this many floats touched, a loop stays on one thread */

/* ---------------------------------------------------------------- im2col / col2im */

/* Range [lo, hi) of output columns ow whose input column ow*s - p + kj lies in [0, W). */
static inline void valid_range(int kj, int s, int p, int W, int Wo, int *lo, int *hi) {
    int a = p - kj;                      /* ow*s >= a */
    int l = a > 0 ? (a + s - 1) / s : 0;
    int b = W - 1 + p - kj;              /* ow*s <= b */
    int h = b >= 0 ? b / s + 1 : 0;
    if (h > Wo) h = Wo;
    if (l > h) l = h;
    *lo = l; *hi = h;
}

/* Planes up to this many floats (with their padding) are handled through a zero-padded copy
 * on the stack: the window loops then need no bounds checks (most of DCGAN's planes). */
#define PAD_MAX 6144

/* One (image, channel) plane of im2col from its padded copy pad (Hp, Wp): k*k column rows of
 * Ho*Wo values. Inlined with a constant stride for s = 1 and 2. */
static inline __attribute__((always_inline)) void im2col_padded(float *dst0, int64_t ld, const float *pad, int Wp, int k,
                                                                int s, int Ho, int Wo) {
    for (int ki = 0; ki < k; ki++)
        for (int kj = 0; kj < k; kj++) {
            float *dst = dst0 + (int64_t)(ki * k + kj) * ld;
            for (int oh = 0; oh < Ho; oh++) {
                const float *src = pad + (oh * s + ki) * Wp + kj;
                float *d = dst + oh * Wo;
                for (int ow = 0; ow < Wo; ow++) d[ow] = src[ow * s];
            }
        }
}

/* The adjoint: the k*k column rows of one plane added into its padded copy. */
static inline __attribute__((always_inline)) void col2im_padded(float *pad, const float *src0, int64_t ld, int Wp, int k,
                                                                int s, int Ho, int Wo) {
    for (int ki = 0; ki < k; ki++)
        for (int kj = 0; kj < k; kj++) {
            const float *src = src0 + (int64_t)(ki * k + kj) * ld;
            for (int oh = 0; oh < Ho; oh++) {
                float *d = pad + (oh * s + ki) * Wp + kj;
                const float *sr = src + oh * Wo;
                for (int ow = 0; ow < Wo; ow++) d[ow * s] += sr[ow];
            }
        }
}

/* Rows of the padded plane a window of stride s, k taps and Ho outputs reaches: (Ho-1)s + k
 * (>= H + 2p when the last rows are cut off by the stride, <= H + 2p always). */
static inline int padded_extent(int Ho, int s, int k) { return (Ho - 1) * s + k; }

/* col (C*k*k, ld) <- receptive fields of the m images x (m,C,H,W); image n fills columns
 * [n*Ho*Wo, (n+1)*Ho*Wo). Zero where the window covers padding. */
static void im2col(float *col, int64_t ld, const float *x, int m, int C, int H, int W, int k, int s, int p, int Ho, int Wo) {
    const int64_t HW = (int64_t)H * W, P = (int64_t)Ho * Wo;
    const int Hp = padded_extent(Ho, s, k), Wp = padded_extent(Wo, s, k);
    const int use_pad = (int64_t)Hp * Wp <= PAD_MAX;
    /* channel-major: a thread's consecutive tasks fill each column row left to right */
    #pragma omp parallel for collapse(2) schedule(static) if ((int64_t)m * C * k * k * P > PAR_MIN)
    for (int c = 0; c < C; c++)
        for (int n = 0; n < m; n++) {
            const float *xc = x + ((int64_t)n * C + c) * HW;
            float *dst0 = col + (int64_t)c * k * k * ld + n * P;
            if (use_pad) {
                float pad[PAD_MAX];
                for (int i = 0; i < Hp; i++) {
                    float *pr = pad + i * Wp;
                    int ih = i - p;
                    if (ih < 0 || ih >= H) { memset(pr, 0, (size_t)Wp * sizeof(float)); continue; }
                    int j0 = p < Wp ? p : Wp, j1 = p + W < Wp ? p + W : Wp;   /* copied part [j0, j1) */
                    memset(pr, 0, (size_t)j0 * sizeof(float));
                    memcpy(pr + j0, xc + (int64_t)ih * W, (size_t)(j1 - j0) * sizeof(float));
                    memset(pr + j1, 0, (size_t)(Wp - j1) * sizeof(float));
                }
                if (s == 1) im2col_padded(dst0, ld, pad, Wp, k, 1, Ho, Wo);
                else if (s == 2) im2col_padded(dst0, ld, pad, Wp, k, 2, Ho, Wo);
                else im2col_padded(dst0, ld, pad, Wp, k, s, Ho, Wo);
                continue;
            }
            for (int ki = 0; ki < k; ki++)
                for (int kj = 0; kj < k; kj++) {
                    float *dst = dst0 + (int64_t)(ki * k + kj) * ld;
                    int lo, hi;
                    valid_range(kj, s, p, W, Wo, &lo, &hi);
                    for (int oh = 0; oh < Ho; oh++) {
                        float *d = dst + (int64_t)oh * Wo;
                        int ih = oh * s - p + ki;
                        if (ih < 0 || ih >= H || lo == hi) { memset(d, 0, (size_t)Wo * sizeof(float)); continue; }
                        const float *row = xc + (int64_t)ih * W;
                        int off = kj - p;        /* input column of ow is ow*s + off */
                        for (int ow = 0; ow < lo; ow++) d[ow] = 0;
                        if (s == 1) memcpy(d + lo, row + lo + off, (size_t)(hi - lo) * sizeof(float));
                        else for (int ow = lo; ow < hi; ow++) d[ow] = row[ow * s + off];
                        for (int ow = hi; ow < Wo; ow++) d[ow] = 0;
                    }
                }
        }
}

/* x (m,C,H,W) += col2im(col): the adjoint of im2col. Threads own (image, channel) planes,
 * so overlapping windows never race. */
static void col2im_add(float *x, const float *col, int64_t ld, int m, int C, int H, int W, int k, int s, int p, int Ho, int Wo) {
    const int64_t HW = (int64_t)H * W, P = (int64_t)Ho * Wo;
    const int Hp = padded_extent(Ho, s, k), Wp = padded_extent(Wo, s, k);
    const int use_pad = (int64_t)Hp * Wp <= PAD_MAX;
    #pragma omp parallel for collapse(2) schedule(static) if ((int64_t)m * C * k * k * P > PAR_MIN)
    for (int c = 0; c < C; c++)
        for (int n = 0; n < m; n++) {
            float *xc = x + ((int64_t)n * C + c) * HW;
            const float *src0 = col + (int64_t)c * k * k * ld + n * P;
            if (use_pad) {
                float pad[PAD_MAX];
                memset(pad, 0, (size_t)Hp * Wp * sizeof(float));
                if (s == 1) col2im_padded(pad, src0, ld, Wp, k, 1, Ho, Wo);
                else if (s == 2) col2im_padded(pad, src0, ld, Wp, k, 2, Ho, Wo);
                else col2im_padded(pad, src0, ld, Wp, k, s, Ho, Wo);
                /* the padded plane's interior [p, p+H) x [p, p+W), as far as windows reached */
                for (int ih = 0; ih < H && ih + p < Hp; ih++) {
                    float *xr = xc + (int64_t)ih * W;
                    const float *pr = pad + (ih + p) * Wp + p;
                    int w1 = W < Wp - p ? W : Wp - p;
                    #pragma omp simd
                    for (int iw = 0; iw < w1; iw++) xr[iw] += pr[iw];
                }
                continue;
            }
            for (int ki = 0; ki < k; ki++)
                for (int kj = 0; kj < k; kj++) {
                    const float *src = src0 + (int64_t)(ki * k + kj) * ld;
                    int lo, hi;
                    valid_range(kj, s, p, W, Wo, &lo, &hi);
                    int off = kj - p;
                    for (int oh = 0; oh < Ho; oh++) {
                        int ih = oh * s - p + ki;
                        if (ih < 0 || ih >= H) continue;
                        float *row = xc + (int64_t)ih * W;
                        const float *sr = src + (int64_t)oh * Wo;
                        if (s == 1) {
                            #pragma omp simd
                            for (int ow = lo; ow < hi; ow++) row[ow + off] += sr[ow];
                        } else {
                            for (int ow = lo; ow < hi; ow++) row[ow * s + off] += sr[ow];
                        }
                    }
                }
        }
}

/* ---------------------------------------------------------------- chunk staging */

/* dst (C, m*P) <- src (m, C, P) */
static void to_rows(float *dst, const float *src, int m, int C, int64_t P) {
    const int64_t ld = (int64_t)m * P;
    #pragma omp parallel for collapse(2) schedule(static) if ((int64_t)m * C * P > PAR_MIN)
    for (int n = 0; n < m; n++)
        for (int c = 0; c < C; c++)
            memcpy(dst + c * ld + n * P, src + ((int64_t)n * C + c) * P, (size_t)P * sizeof(float));
}

/* dst (m, C, P) = (accumulate ? dst : 0) + src (C, m*P) + bias[c] (bias may be NULL) */
static void from_rows(float *dst, const float *src, const float *bias, int accumulate, int m, int C, int64_t P) {
    const int64_t ld = (int64_t)m * P;
    #pragma omp parallel for collapse(2) schedule(static) if ((int64_t)m * C * P > PAR_MIN)
    for (int n = 0; n < m; n++)
        for (int c = 0; c < C; c++) {
            float *d = dst + ((int64_t)n * C + c) * P;
            const float *s = src + c * ld + n * P;
            float bc = bias ? bias[c] : 0.0f;
            if (accumulate) {
                #pragma omp simd
                for (int64_t j = 0; j < P; j++) d[j] += s[j] + bc;
            } else {
                #pragma omp simd
                for (int64_t j = 0; j < P; j++) d[j] = s[j] + bc;
            }
        }
}

/* y (N, C, P): y[n][c][:] = bias[c] (0 without bias) */
static void fill_bias(float *y, const float *bias, int N, int C, int64_t P) {
    #pragma omp parallel for collapse(2) schedule(static) if ((int64_t)N * C * P > PAR_MIN)
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            float *d = y + ((int64_t)n * C + c) * P, bc = bias ? bias[c] : 0.0f;
            for (int64_t j = 0; j < P; j++) d[j] = bc;
        }
}

/* db[c] += sum over n and the plane of dy (N, C, P) */
static void bias_grad(float *db, const float *dy, int N, int C, int64_t P) {
    #pragma omp parallel for schedule(static) if ((int64_t)N * C * P > PAR_MIN)
    for (int c = 0; c < C; c++) {
        double acc = 0;
        for (int n = 0; n < N; n++) {
            const float *d = dy + ((int64_t)n * C + c) * P;
            float s = 0;
            #pragma omp simd reduction(+:s)
            for (int64_t j = 0; j < P; j++) s += d[j];
            acc += s;
        }
        db[c] += (float)acc;
    }
}

/* ---------------------------------------------------------------- weight gradient GEMM */

/* The K-split scratch after the columns and the staging block, when the builder made one
 * (weight gradient of Mw x K floats, Mw = the staging block's channels). */
static float *split_scratch(const ng_tensor *t, int K, int64_t P, int Mw, int nb) {
    if ((int64_t)Mw * K > NG_CONV_SPLIT_MAX) return NULL;
    return t->aux + (int64_t)K * nb * P + (nb > 1 ? (int64_t)Mw * nb * P : 0);
}

/* C (M,N) += A (M,K) B (N,K)^T with row strides K. For a small C and a long K (a first
 * layer's 64 x 16 weight gradient over 128*196 positions) BLAS threads over M and N only and
 * runs on one core; then K is cut into NG_CONV_KSPLIT fixed slices, each a single-threaded
 * GEMM into its own block of `part` (the builder's scratch), added in order, so the result
 * does not depend on the thread count. part == NULL: plain GEMM. */
static void gemm_abt_acc(float *C, const float *A, const float *B, int M, int N, int K, float *part) {
    if (!part || K < NG_CONV_KSPLIT * 256) { ng_sgemm(0, 1, M, N, K, 1.0f, A, K, B, K, 1.0f, C, N); return; }
    const int S = NG_CONV_KSPLIT, MN = M * N;
    #pragma omp parallel for schedule(static)
    for (int sl = 0; sl < S; sl++) {
        int k0 = (int)((int64_t)K * sl / S), k1 = (int)((int64_t)K * (sl + 1) / S);
        ng_sgemm(0, 1, M, N, k1 - k0, 1.0f, A + k0, K, B + k0, K, 0.0f, part + (int64_t)sl * MN, N);
    }
    #pragma omp parallel for schedule(static) if (MN > 4096)
    for (int i = 0; i < MN; i++) {
        float acc = 0;
        for (int sl = 0; sl < S; sl++) acc += part[(int64_t)sl * MN + i];
        C[i] += acc;
    }
}

/* ---------------------------------------------------------------- conv2d */

typedef struct { int N, Ci, H, W, Co, Ho, Wo, k, s, p, nb; } geom;

static geom conv_geom(const ng_tensor *t) {
    const ng_tensor *x = t->src[0];
    geom q;
    q.N = (int)x->ne[0]; q.Ci = (int)x->ne[1]; q.H = (int)x->ne[2]; q.W = (int)x->ne[3];
    q.Co = (int)t->ne[1]; q.Ho = (int)t->ne[2]; q.Wo = (int)t->ne[3];
    q.s = t->iarg[0]; q.p = t->iarg[1]; q.k = t->iarg[2]; q.nb = t->iarg[3];
    return q;
}

static void conv2d_forward(ng_graph *g, ng_tensor *t) {
    (void)g;
    const ng_tensor *x = t->src[0], *w = t->src[1], *b = t->src[2];
    const geom q = conv_geom(t);
    const int K = q.Ci * q.k * q.k;
    const int64_t P = (int64_t)q.Ho * q.Wo, xs = (int64_t)q.Ci * q.H * q.W, ys = (int64_t)q.Co * P;
    float *col = t->aux, *stage = t->aux + (int64_t)K * q.nb * P;
    for (int n0 = 0; n0 < q.N; n0 += q.nb) {
        int m = q.N - n0 < q.nb ? q.N - n0 : q.nb;
        int cols = (int)(m * P);
        float *y = t->data + n0 * ys;
        im2col(col, cols, x->data + n0 * xs, m, q.Ci, q.H, q.W, q.k, q.s, q.p, q.Ho, q.Wo);
        if (m == 1) {   /* one image: the GEMM writes NCHW directly */
            fill_bias(y, b ? b->data : NULL, 1, q.Co, P);
            ng_sgemm(0, 0, q.Co, cols, K, 1.0f, w->data, K, col, cols, 1.0f, y, cols);
        } else {
            ng_sgemm(0, 0, q.Co, cols, K, 1.0f, w->data, K, col, cols, 0.0f, stage, cols);
            from_rows(y, stage, b ? b->data : NULL, 0, m, q.Co, P);
        }
    }
}

static void conv2d_backward(ng_graph *g, ng_tensor *t) {
    (void)g;
    ng_tensor *x = t->src[0], *w = t->src[1], *b = t->src[2];
    const geom q = conv_geom(t);
    const int K = q.Ci * q.k * q.k;
    const int64_t P = (int64_t)q.Ho * q.Wo, xs = (int64_t)q.Ci * q.H * q.W, ys = (int64_t)q.Co * P;
    if (b && b->grad) bias_grad(b->grad, t->grad, q.N, q.Co, P);
    if (!w->grad && !x->grad) return;
    float *col = t->aux, *stage = t->aux + (int64_t)K * q.nb * P, *part = split_scratch(t, K, P, q.Co, q.nb);
    for (int n0 = 0; n0 < q.N; n0 += q.nb) {
        int m = q.N - n0 < q.nb ? q.N - n0 : q.nb;
        int cols = (int)(m * P);
        const float *dY = t->grad + n0 * ys;
        if (m > 1) { to_rows(stage, dY, m, q.Co, P); dY = stage; }
        if (w->grad) {
            im2col(col, cols, x->data + n0 * xs, m, q.Ci, q.H, q.W, q.k, q.s, q.p, q.Ho, q.Wo);
            gemm_abt_acc(w->grad, dY, col, q.Co, K, cols, part);
        }
        if (x->grad) {
            ng_sgemm(1, 0, K, cols, q.Co, 1.0f, w->data, K, dY, cols, 0.0f, col, cols);
            col2im_add(x->grad + n0 * xs, col, cols, m, q.Ci, q.H, q.W, q.k, q.s, q.p, q.Ho, q.Wo);
        }
    }
}

/* ---------------------------------------------------------------- conv_transpose2d */

/* Here the "image" of im2col/col2im is the output (Co, Ho, Wo) and its "columns" are the
 * input positions (H, W): a transposed convolution is the adjoint of conv2d(Ho -> H). */
static void conv_t2d_forward(ng_graph *g, ng_tensor *t) {
    (void)g;
    const ng_tensor *x = t->src[0], *w = t->src[1], *b = t->src[2];
    const geom q = conv_geom(t);
    const int K = q.Co * q.k * q.k;
    const int64_t P = (int64_t)q.H * q.W, xs = (int64_t)q.Ci * P, ys = (int64_t)q.Co * q.Ho * q.Wo;
    float *col = t->aux, *stage = t->aux + (int64_t)K * q.nb * P;
    fill_bias(t->data, b ? b->data : NULL, q.N, q.Co, (int64_t)q.Ho * q.Wo);
    for (int n0 = 0; n0 < q.N; n0 += q.nb) {
        int m = q.N - n0 < q.nb ? q.N - n0 : q.nb;
        int cols = (int)(m * P);
        const float *X = x->data + n0 * xs;
        if (m > 1) { to_rows(stage, X, m, q.Ci, P); X = stage; }
        ng_sgemm(1, 0, K, cols, q.Ci, 1.0f, w->data, K, X, cols, 0.0f, col, cols);
        col2im_add(t->data + n0 * ys, col, cols, m, q.Co, q.Ho, q.Wo, q.k, q.s, q.p, q.H, q.W);
    }
}

static void conv_t2d_backward(ng_graph *g, ng_tensor *t) {
    (void)g;
    ng_tensor *x = t->src[0], *w = t->src[1], *b = t->src[2];
    const geom q = conv_geom(t);
    const int K = q.Co * q.k * q.k;
    const int64_t P = (int64_t)q.H * q.W, xs = (int64_t)q.Ci * P, ys = (int64_t)q.Co * q.Ho * q.Wo;
    if (b && b->grad) bias_grad(b->grad, t->grad, q.N, q.Co, (int64_t)q.Ho * q.Wo);
    if (!w->grad && !x->grad) return;
    float *col = t->aux, *stage = t->aux + (int64_t)K * q.nb * P, *part = split_scratch(t, K, P, q.Ci, q.nb);
    for (int n0 = 0; n0 < q.N; n0 += q.nb) {
        int m = q.N - n0 < q.nb ? q.N - n0 : q.nb;
        int cols = (int)(m * P);
        im2col(col, cols, t->grad + n0 * ys, m, q.Co, q.Ho, q.Wo, q.k, q.s, q.p, q.H, q.W);
        if (w->grad) {
            const float *X = x->data + n0 * xs;
            if (m > 1) { to_rows(stage, X, m, q.Ci, P); X = stage; }
            gemm_abt_acc(w->grad, X, col, q.Ci, K, cols, part);
        }
        if (x->grad) {
            if (m == 1) {
                ng_sgemm(0, 0, q.Ci, cols, K, 1.0f, w->data, K, col, cols, 1.0f, x->grad + n0 * xs, cols);
            } else {
                ng_sgemm(0, 0, q.Ci, cols, K, 1.0f, w->data, K, col, cols, 0.0f, stage, cols);
                from_rows(x->grad + n0 * xs, stage, NULL, 1, m, q.Ci, P);
            }
        }
    }
}

/* ---------------------------------------------------------------- reference twins */

void ng_ref_conv2d_forward(float *y, const float *x, const float *w, const float *b,
                           int N, int Ci, int H, int W, int Co, int k, int s, int p) {
    int Ho = (H + 2 * p - k) / s + 1, Wo = (W + 2 * p - k) / s + 1;
    for (int n = 0; n < N; n++)
        for (int co = 0; co < Co; co++)
            for (int oh = 0; oh < Ho; oh++)
                for (int ow = 0; ow < Wo; ow++) {
                    double acc = b ? b[co] : 0.0;
                    for (int ci = 0; ci < Ci; ci++)
                        for (int ki = 0; ki < k; ki++)
                            for (int kj = 0; kj < k; kj++) {
                                int ih = oh * s - p + ki, iw = ow * s - p + kj;
                                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                acc += (double)x[(((int64_t)n * Ci + ci) * H + ih) * W + iw] *
                                       w[(((int64_t)co * Ci + ci) * k + ki) * k + kj];
                            }
                    y[(((int64_t)n * Co + co) * Ho + oh) * Wo + ow] = (float)acc;
                }
}

/* db[c] += sum over images and positions of dy (N, C, P), in double */
static void ref_bias_grad(float *db, const float *dy, int N, int C, int P) {
    for (int c = 0; c < C; c++) {
        double acc = 0;
        for (int n = 0; n < N; n++)
            for (int i = 0; i < P; i++) acc += dy[((int64_t)n * C + c) * P + i];
        db[c] += (float)acc;
    }
}

void ng_ref_conv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                            int N, int Ci, int H, int W, int Co, int k, int s, int p) {
    int Ho = (H + 2 * p - k) / s + 1, Wo = (W + 2 * p - k) / s + 1;
#define DY(n, co, oh, ow) dy[(((int64_t)(n) * Co + (co)) * Ho + (oh)) * Wo + (ow)]
    if (db) ref_bias_grad(db, dy, N, Co, Ho * Wo);
    if (dw)
        for (int co = 0; co < Co; co++)
            for (int ci = 0; ci < Ci; ci++)
                for (int ki = 0; ki < k; ki++)
                    for (int kj = 0; kj < k; kj++) {
                        double acc = 0;
                        for (int n = 0; n < N; n++)
                            for (int oh = 0; oh < Ho; oh++)
                                for (int ow = 0; ow < Wo; ow++) {
                                    int ih = oh * s - p + ki, iw = ow * s - p + kj;
                                    if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                                    acc += (double)DY(n, co, oh, ow) * x[(((int64_t)n * Ci + ci) * H + ih) * W + iw];
                                }
                        dw[(((int64_t)co * Ci + ci) * k + ki) * k + kj] += (float)acc;
                    }
    if (dx)   /* gather form: output (oh, ow) sees input (ih, iw) through tap ki = ih - oh*s + p */
        for (int n = 0; n < N; n++)
            for (int ci = 0; ci < Ci; ci++)
                for (int ih = 0; ih < H; ih++)
                    for (int iw = 0; iw < W; iw++) {
                        double acc = 0;
                        for (int co = 0; co < Co; co++)
                            for (int ki = 0; ki < k; ki++)
                                for (int kj = 0; kj < k; kj++) {
                                    int a = ih + p - ki, c = iw + p - kj;
                                    if (a < 0 || c < 0 || a % s || c % s || a / s >= Ho || c / s >= Wo) continue;
                                    acc += (double)DY(n, co, a / s, c / s) * w[(((int64_t)co * Ci + ci) * k + ki) * k + kj];
                                }
                        dx[(((int64_t)n * Ci + ci) * H + ih) * W + iw] += (float)acc;
                    }
#undef DY
}

void ng_ref_conv_t2d_forward(float *y, const float *x, const float *w, const float *b,
                             int N, int Ci, int H, int W, int Co, int k, int s, int p) {
    int Ho = (H - 1) * s - 2 * p + k, Wo = (W - 1) * s - 2 * p + k;
    for (int n = 0; n < N; n++)
        for (int co = 0; co < Co; co++)
            for (int oh = 0; oh < Ho; oh++)
                for (int ow = 0; ow < Wo; ow++) {
                    /* y[oh][ow] gathers x[ih][iw] with ih*s - p + ki = oh */
                    double acc = b ? b[co] : 0.0;
                    for (int ci = 0; ci < Ci; ci++)
                        for (int ki = 0; ki < k; ki++)
                            for (int kj = 0; kj < k; kj++) {
                                int a = oh + p - ki, c = ow + p - kj;
                                if (a < 0 || c < 0 || a % s || c % s || a / s >= H || c / s >= W) continue;
                                acc += (double)x[(((int64_t)n * Ci + ci) * H + a / s) * W + c / s] *
                                       w[(((int64_t)ci * Co + co) * k + ki) * k + kj];
                            }
                    y[(((int64_t)n * Co + co) * Ho + oh) * Wo + ow] = (float)acc;
                }
}

void ng_ref_conv_t2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                              int N, int Ci, int H, int W, int Co, int k, int s, int p) {
    int Ho = (H - 1) * s - 2 * p + k, Wo = (W - 1) * s - 2 * p + k;
#define DY(n, co, oh, ow) dy[(((int64_t)(n) * Co + (co)) * Ho + (oh)) * Wo + (ow)]
    if (db) ref_bias_grad(db, dy, N, Co, Ho * Wo);
    if (dw)
        for (int ci = 0; ci < Ci; ci++)
            for (int co = 0; co < Co; co++)
                for (int ki = 0; ki < k; ki++)
                    for (int kj = 0; kj < k; kj++) {
                        double acc = 0;
                        for (int n = 0; n < N; n++)
                            for (int ih = 0; ih < H; ih++)
                                for (int iw = 0; iw < W; iw++) {
                                    int oh = ih * s - p + ki, ow = iw * s - p + kj;
                                    if (oh < 0 || oh >= Ho || ow < 0 || ow >= Wo) continue;
                                    acc += (double)x[(((int64_t)n * Ci + ci) * H + ih) * W + iw] * DY(n, co, oh, ow);
                                }
                        dw[(((int64_t)ci * Co + co) * k + ki) * k + kj] += (float)acc;
                    }
    if (dx)
        for (int n = 0; n < N; n++)
            for (int ci = 0; ci < Ci; ci++)
                for (int ih = 0; ih < H; ih++)
                    for (int iw = 0; iw < W; iw++) {
                        double acc = 0;
                        for (int co = 0; co < Co; co++)
                            for (int ki = 0; ki < k; ki++)
                                for (int kj = 0; kj < k; kj++) {
                                    int oh = ih * s - p + ki, ow = iw * s - p + kj;
                                    if (oh < 0 || oh >= Ho || ow < 0 || ow >= Wo) continue;
                                    acc += (double)DY(n, co, oh, ow) * w[(((int64_t)ci * Co + co) * k + ki) * k + kj];
                                }
                        dx[(((int64_t)n * Ci + ci) * H + ih) * W + iw] += (float)acc;
                    }
#undef DY
}

/* ---------------------------------------------------------------- the ops: definitions and builders */

static const ng_op_def conv2d_op = {"conv2d", conv2d_forward, conv2d_backward};   /* x (N,Ci,H,W), w (Co,Ci,k,k), b (Co) or NULL -> (N,Co,Ho,Wo); iarg[0]=stride, iarg[1]=pad */
static const ng_op_def conv_t2d_op = {"conv_transpose2d", conv_t2d_forward, conv_t2d_backward};   /* transposed: x (N,Ci,H,W), w (Ci,Co,k,k), b (Co) or NULL -> Ho = (H-1)*stride - 2*pad + k */

int64_t ng__conv_chunk_floats = (int64_t)1 << 22;
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
    if (b && (!ng__is_f32(b) || b->ndim != 1 || b->ne[0] != w->ne[oc])) {
        ng__shape_error(op, w, b);
        return ng_set_error("%s (bias must be (Co))", ng_last_error());
    }
    if (stride <= 0 || pad < 0) return ng_set_error("%s: stride %d must be >= 1 and padding %d >= 0", op, stride, pad);
    return NG_OK;
}
static ng_tensor *conv_node(ng_graph *g, const ng_op_def *op, const char *name, ng_tensor *x, ng_tensor *w, ng_tensor *b,
                            int stride, int pad, int64_t Co, int64_t Ho, int64_t Wo) {
    int64_t N = x->ne[0], Ci = x->ne[1], k = w->ne[2];
    /* GEMM sizes are ints */
    int64_t K = (op == &conv2d_op ? Ci : Co) * k * k, P = op == &conv2d_op ? Ho * Wo : x->ne[2] * x->ne[3];
    int64_t stage_c = op == &conv2d_op ? Co : Ci;
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
    NG_NEED(ng__is_f32(x) && ng__is_f32(w));
    if (conv_check("conv2d", x, w, b, 1, 0, stride, pad)) return NULL;
    int64_t k = w->ne[2], H = x->ne[2], W = x->ne[3];
    if (H + 2 * (int64_t)pad < k || W + 2 * (int64_t)pad < k) {
        ng_set_error("conv2d: kernel %lldx%lld larger than the padded input %lldx%lld (padding %d)",
                     (long long)k, (long long)k, (long long)(H + 2 * pad), (long long)(W + 2 * pad), pad);
        return NULL;
    }
    int64_t Ho = (H + 2 * pad - k) / stride + 1, Wo = (W + 2 * pad - k) / stride + 1;
    return conv_node(g, &conv2d_op, "conv2d", x, w, b, stride, pad, w->ne[0], Ho, Wo);
}
ng_tensor *ng_conv_transpose2d(ng_graph *g, ng_tensor *x, ng_tensor *w, ng_tensor *b, int stride, int pad) {
    NG_NEED(ng__is_f32(x) && ng__is_f32(w));
    if (conv_check("conv_transpose2d", x, w, b, 0, 1, stride, pad)) return NULL;
    int64_t k = w->ne[2], H = x->ne[2], W = x->ne[3];
    int64_t Ho = (H - 1) * stride - 2 * (int64_t)pad + k, Wo = (W - 1) * stride - 2 * (int64_t)pad + k;
    if (Ho < 1 || Wo < 1) {
        ng_set_error("conv_transpose2d: output %lldx%lld is empty ((H-1)*stride - 2*pad + k with H=%lld W=%lld "
                     "stride %d pad %d k %lld)", (long long)Ho, (long long)Wo, (long long)H, (long long)W, stride, pad,
                     (long long)k);
        return NULL;
    }
    return conv_node(g, &conv_t2d_op, "conv_transpose2d", x, w, b, stride, pad, w->ne[1], Ho, Wo);
}

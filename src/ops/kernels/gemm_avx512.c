/* gemm_avx512.c - nanogen's own single-precision GEMM for AVX-512 machines.
 *
 * C = alpha op(A) op(B) + beta C, row-major, the BLIS way: op(B) is packed into panels of
 * NR = 32 columns (k-major), op(A) into panels of MR = 12 rows, and a 12 x 32 register-blocked
 * micro-kernel (24 zmm accumulators, one broadcast of A and two loads of B per k) does the
 * multiply-adds. Edges are zero-padded in the packs and stored with masks, so every shape and
 * both transpositions go through the same kernel. Blocks: KC = 256 (a packed A panel of
 * 12 x 256 and a B panel of 256 x 32 stay in L1/L2), all of N's panels packed once per K block.
 *
 * Why not OpenBLAS: on this project's machine (Zen 5, AVX-512) OpenBLAS runs its AVX2 kernels
 * (OPENBLAS_CORETYPE=Haswell is set there); this kernel runs the GPT's shapes at about twice
 * their speed (build/bench/gemm, part of make bench, prints both). Threads split the M x N
 * tiles; each element of C is summed in the same order whatever the thread count, so results
 * do not depend on it.
 * ng_ref_sgemm is the plain twin that tests/test_ops.c compares this with. */
#include "core/internal.h"
#include "ops/kernels/kernels.h"

#ifdef __AVX512F__
#include <immintrin.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MR 12
#define NR 32
#define KC 256

/* pack buffers, one pair per thread */
static _Thread_local ng_scratch tl_a, tl_b;

/* Pack rows [i0, i0+mr) x k [k0, k0+kc) of op(A) as Ap[k*MR + r], zero rows beyond mr. */
static void pack_a(float *Ap, const float *A, int lda, int ta, int i0, int mr, int k0, int kc) {
    if (ta) {   /* op(A)[i,k] = A[k*lda + i]: MR consecutive floats per k */
        for (int k = 0; k < kc; k++) {
            const float *src = A + (size_t)(k0 + k) * lda + i0;
            float *dst = Ap + (size_t)k * MR;
            int r = 0;
            for (; r < mr; r++) dst[r] = src[r];
            for (; r < MR; r++) dst[r] = 0;
        }
    } else {    /* op(A)[i,k] = A[i*lda + k]: rows contiguous in k */
        for (int r = 0; r < MR; r++) {
            if (r < mr) {
                const float *src = A + (size_t)(i0 + r) * lda + k0;
                for (int k = 0; k < kc; k++) Ap[(size_t)k * MR + r] = src[k];
            } else {
                for (int k = 0; k < kc; k++) Ap[(size_t)k * MR + r] = 0;
            }
        }
    }
}

/* dst[k*ldd + c] = src[c*lds + k] for a 16 x 16 block: unpack pairs of rows, then pairs of
 * pairs, then gather 128-bit lanes. */
static inline void transpose16(const float *src, size_t lds, float *dst, size_t ldd) {
    __m512 r[16], t[16], u[16];
    for (int i = 0; i < 16; i++) r[i] = _mm512_loadu_ps(src + i * lds);
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int g = 0; g < 4; g++) {   /* rows 4g..4g+3: u[4g+j] holds k = j, j+4, j+8, j+12 */
        __m512d a = _mm512_castps_pd(t[4 * g]), b = _mm512_castps_pd(t[4 * g + 1]);
        __m512d c = _mm512_castps_pd(t[4 * g + 2]), d = _mm512_castps_pd(t[4 * g + 3]);
        u[4 * g + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        u[4 * g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        u[4 * g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        u[4 * g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    for (int j = 0; j < 4; j++) {
        __m512 v0 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0x88), v1 = _mm512_shuffle_f32x4(u[j], u[4 + j], 0xdd);
        __m512 v2 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0x88), v3 = _mm512_shuffle_f32x4(u[8 + j], u[12 + j], 0xdd);
        _mm512_storeu_ps(dst + (size_t)(j + 0) * ldd, _mm512_shuffle_f32x4(v0, v2, 0x88));
        _mm512_storeu_ps(dst + (size_t)(j + 8) * ldd, _mm512_shuffle_f32x4(v0, v2, 0xdd));
        _mm512_storeu_ps(dst + (size_t)(j + 4) * ldd, _mm512_shuffle_f32x4(v1, v3, 0x88));
        _mm512_storeu_ps(dst + (size_t)(j + 12) * ldd, _mm512_shuffle_f32x4(v1, v3, 0xdd));
    }
}

/* Pack columns [j0, j0+nr) x k [k0, k0+kc) of op(B) as Bp[k*NR + c], zero columns beyond nr. */
static void pack_b(float *Bp, const float *B, int ldb, int tb, int j0, int nr, int k0, int kc) {
    if (!tb) {  /* op(B)[k,j] = B[k*ldb + j] */
        for (int k = 0; k < kc; k++) {
            const float *src = B + (size_t)(k0 + k) * ldb + j0;
            float *dst = Bp + (size_t)k * NR;
            if (nr == NR) {
                _mm512_store_ps(dst, _mm512_loadu_ps(src));
                _mm512_store_ps(dst + 16, _mm512_loadu_ps(src + 16));
            } else {
                int c = 0;
                for (; c < nr; c++) dst[c] = src[c];
                for (; c < NR; c++) dst[c] = 0;
            }
        }
    } else {    /* op(B)[k,j] = B[j*ldb + k]: a transpose, in 16 x 16 blocks in registers */
        int c0 = 0;
        for (; c0 + 16 <= nr; c0 += 16) {
            int k = 0;
            for (; k + 16 <= kc; k += 16) transpose16(B + (size_t)(j0 + c0) * ldb + k0 + k, (size_t)ldb, Bp + (size_t)k * NR + c0, NR);
            for (; k < kc; k++)
                for (int c = c0; c < c0 + 16; c++) Bp[(size_t)k * NR + c] = B[(size_t)(j0 + c) * ldb + k0 + k];
        }
        for (int c = c0; c < NR; c++) {
            if (c < nr) {
                const float *src = B + (size_t)(j0 + c) * ldb + k0;
                for (int k = 0; k < kc; k++) Bp[(size_t)k * NR + c] = src[k];
            } else {
                for (int k = 0; k < kc; k++) Bp[(size_t)k * NR + c] = 0;
            }
        }
    }
}

static __mmask16 mask_of(int n) { return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1); }

/* The micro-kernel: C[0..mr, 0..32) (columns masked by m0, m1) = alpha * A Bp + beta C, with
 * Bp a packed panel (kc x 32) and A read through AEL(r) (element (r, k) of the current k),
 * advanced by ANEXT after each k. Generated twice: A packed or read in place with a k stride
 * (a(r,k) = a[r + k*ks]), and A read in place along 12 rows (a(r,k) = row_r[k]). */
#define KERNEL_BODY(AEL, ANEXT) \
    __m512 c00 = _mm512_setzero_ps(), c01 = _mm512_setzero_ps(), c10 = _mm512_setzero_ps(), c11 = _mm512_setzero_ps(); \
    __m512 c20 = _mm512_setzero_ps(), c21 = _mm512_setzero_ps(), c30 = _mm512_setzero_ps(), c31 = _mm512_setzero_ps(); \
    __m512 c40 = _mm512_setzero_ps(), c41 = _mm512_setzero_ps(), c50 = _mm512_setzero_ps(), c51 = _mm512_setzero_ps(); \
    __m512 c60 = _mm512_setzero_ps(), c61 = _mm512_setzero_ps(), c70 = _mm512_setzero_ps(), c71 = _mm512_setzero_ps(); \
    __m512 c80 = _mm512_setzero_ps(), c81 = _mm512_setzero_ps(), c90 = _mm512_setzero_ps(), c91 = _mm512_setzero_ps(); \
    __m512 ca0 = _mm512_setzero_ps(), ca1 = _mm512_setzero_ps(), cb0 = _mm512_setzero_ps(), cb1 = _mm512_setzero_ps(); \
    for (int k = 0; k < kc; k++) { \
        const __m512 b0 = _mm512_load_ps(Bp), b1 = _mm512_load_ps(Bp + 16); \
        __m512 a; \
        ROW(0, c00, c01) ROW(1, c10, c11) ROW(2, c20, c21) ROW(3, c30, c31) \
        ROW(4, c40, c41) ROW(5, c50, c51) ROW(6, c60, c61) ROW(7, c70, c71) \
        ROW(8, c80, c81) ROW(9, c90, c91) ROW(10, ca0, ca1) ROW(11, cb0, cb1) \
        ANEXT; Bp += NR; \
    } \
    const __m512 acc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}, \
                               {c60, c61}, {c70, c71}, {c80, c81}, {c90, c91}, {ca0, ca1}, {cb0, cb1}}; \
    store_tile(acc, C, ldc, mr, m0, m1, alpha, beta);
#define ROW(r, x0, x1) a = _mm512_set1_ps(AEL(r)); x0 = _mm512_fmadd_ps(a, b0, x0); x1 = _mm512_fmadd_ps(a, b1, x1);

static inline __attribute__((always_inline)) void store_tile(const __m512 acc[MR][2], float *C, int ldc, int mr,
                                                             __mmask16 m0, __mmask16 m1, float alpha, float beta) {
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    for (int r = 0; r < mr; r++) {
        float *c = C + (size_t)r * ldc;
        __m512 x0 = _mm512_mul_ps(va, acc[r][0]), x1 = _mm512_mul_ps(va, acc[r][1]);
        if (beta != 0.0f) {   /* beta = 0: C is not read (it may hold NaN) */
            x0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, c), x0);
            x1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, c + 16), x1);
        }
        _mm512_mask_storeu_ps(c, m0, x0);
        _mm512_mask_storeu_ps(c + 16, m1, x1);
    }
}

static void kernel_kstride(int kc, const float *restrict Ap, size_t ks, const float *restrict Bp, float *C, int ldc,
                           int mr, __mmask16 m0, __mmask16 m1, float alpha, float beta) {
#define AEL(r) Ap[r]
    KERNEL_BODY(AEL, Ap += ks)
#undef AEL
}

static void kernel_rows(int kc, const float *restrict A, size_t lda, const float *restrict Bp, float *C, int ldc, int mr,
                        __mmask16 m0, __mmask16 m1, float alpha, float beta) {
    /* rows past the matrix (r >= mr) read its first row again; their results are not stored */
    const float *r0 = A, *r1 = A + (mr > 1 ? lda : 0), *r2 = A + (mr > 2 ? 2 * lda : 0);
    const float *r3 = A + (mr > 3 ? 3 * lda : 0), *r4 = A + (mr > 4 ? 4 * lda : 0);
    const float *r5 = A + (mr > 5 ? 5 * lda : 0), *r6 = A + (mr > 6 ? 6 * lda : 0);
    const float *r7 = A + (mr > 7 ? 7 * lda : 0), *r8 = A + (mr > 8 ? 8 * lda : 0);
    const float *r9 = A + (mr > 9 ? 9 * lda : 0), *r10 = A + (mr > 10 ? 10 * lda : 0);
    const float *r11 = A + (mr > 11 ? 11 * lda : 0);
#define AEL(r) (r == 0 ? r0 : r == 1 ? r1 : r == 2 ? r2 : r == 3 ? r3 : r == 4 ? r4 : r == 5 ? r5 : r == 6 ? r6 : \
                r == 7 ? r7 : r == 8 ? r8 : r == 9 ? r9 : r == 10 ? r10 : r11)[k]
    KERNEL_BODY(AEL, (void)0)
}
#undef AEL
#undef ROW

/* one tile of 12 rows x the column panels [p0, p1) of the packed B (kc deep) */
static void run_tile(int transA, const float *A, int lda, int i0, int mr, int k0, int kc, float *Ap, int *packed_ip,
                     const float *Bp, int p0, int p1, int N, float *C, int ldc, float alpha, float beta) {
    const float *a = NULL;
    size_t ks = MR;
    int rows = 0;
    if (!transA) { a = A + (size_t)i0 * lda + k0; rows = 1; }
    else if (mr == MR) { a = A + (size_t)k0 * lda + i0; ks = (size_t)lda; }
    else {   /* the last, partial row panel of a transposed A: packed with zeros */
        if (*packed_ip != i0) { pack_a(Ap, A, lda, 1, i0, mr, k0, kc); *packed_ip = i0; }
        a = Ap;
    }
    for (int p = p0; p < p1; p++) {
        const int j0 = p * NR, nr = N - j0;
        const float *bp = Bp + (size_t)p * NR * kc;
        float *c = C + (size_t)i0 * ldc + j0;
        if (rows) kernel_rows(kc, a, (size_t)lda, bp, c, ldc, mr, mask_of(nr), mask_of(nr - 16), alpha, beta);
        else kernel_kstride(kc, a, ks, bp, c, ldc, mr, mask_of(nr), mask_of(nr - 16), alpha, beta);
    }
}


/* y (out) = W (out,in) x (in) + b (NULL: 0), W row-major: four rows of W at a time, SIMD along
 * in, one horizontal sum per output. Threads split the rows only when W is large (a sampling
 * step is many small GEMVs, for which waking threads costs more than it saves). */
static void gemv_ld(float *y, const float *x, const float *W, size_t ldw, const float *b, int in, int out) {
    const int nq = (out + 3) / 4;
    for (int q = 0; q < nq; q++) {
        const int j0 = q * 4, nj = out - j0 < 4 ? out - j0 : 4;
        const float *w0 = W + (size_t)j0 * ldw, *w1 = nj > 1 ? w0 + ldw : w0, *w2 = nj > 2 ? w0 + 2 * ldw : w0;
        const float *w3 = nj > 3 ? w0 + 3 * ldw : w0;
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
        for (int k = 0; k < in; k += 16) {
            const __mmask16 m = mask_of(in - k);
            const __m512 xv = _mm512_maskz_loadu_ps(m, x + k);
            a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w0 + k), xv, a0);
            a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w1 + k), xv, a1);
            a2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w2 + k), xv, a2);
            a3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, w3 + k), xv, a3);
        }
        const float r[4] = {_mm512_reduce_add_ps(a0), _mm512_reduce_add_ps(a1), _mm512_reduce_add_ps(a2), _mm512_reduce_add_ps(a3)};
        for (int j = 0; j < nj; j++) y[j0 + j] = r[j] + (b ? b[j0 + j] : 0.0f);
    }
}

void ng_sgemv_serial(float *y, const float *x, const float *W, const float *b, int in, int out) {
    gemv_ld(y, x, W, (size_t)in, b, in, out);
}

void ng_sgemv_cols(float *y, const float *x, const float *W, int ldw, int in, int out) {
    if (in <= 0) { memset(y, 0, (size_t)out * sizeof(float)); return; }
    gemv_ld(y, x, W, (size_t)ldw, NULL, in, out);
}

void ng_sgemv_rows(float *y, const float *x, const float *W, const float *b, int in, int out) {
    if ((int64_t)out * in < (1 << 20)) { ng_sgemv_serial(y, x, W, b, in, out); return; }
    const int nq = (out + 3) / 4, nth = omp_get_max_threads();
    #pragma omp parallel for schedule(static)
    for (int t = 0; t < nth; t++) {   /* each thread a run of whole quads of rows */
        const int q0 = (int)((int64_t)nq * t / nth), q1 = (int)((int64_t)nq * (t + 1) / nth);
        if (q1 > q0) ng_sgemv_serial(y + 4 * q0, x, W + (size_t)4 * q0 * in, b ? b + 4 * q0 : NULL, in, (q1 == nq ? out : 4 * q1) - 4 * q0);
    }
}

/* Weights packed once for repeated products (sampling): W (out,in) row-major becomes the
 * panels op(B) = W^T would be packed into, all of K in one panel: ceil(out/32) panels of in x 32
 * floats, zero-padded. ng_packed_size gives the floats needed. */
size_t ng_packed_size(int out, int in) { return (size_t)((out + NR - 1) / NR) * NR * in; }

void ng_pack_weights(float *dst, const float *W, int out, int in) {
    for (int p = 0; p * NR < out; p++)
        pack_b(dst + (size_t)p * NR * in, W, in, 1, p * NR, out - p * NR < NR ? out - p * NR : NR, 0, in);
}

/* y (M,out) = x (M,in) W^T + b with W packed by ng_pack_weights; threads split the tiles (12
 * rows x 32 columns) when the product is large enough (a cache rebuild); each tile is computed
 * the same way whatever thread runs it */
/* one tile of a product with packed weights: y[i0 .. i0+mr, panel p's 32 columns up to j1) =
 * x[rows, k0 .. k1) W[columns, k0 .. k1)^T + b (b may be NULL) */
static void packed_tile(float *y, int ldy, const float *x, int ldx, const float *Wp, const float *b, int in, int i0, int mr,
                        int p, int j1, int k0, int k1) {
    const int c0 = p * NR, nr = j1 - c0;
    float *c = y + (size_t)i0 * ldy + c0;
    kernel_rows(k1 - k0, x + (size_t)i0 * ldx + k0, (size_t)ldx, Wp + (size_t)p * NR * in + (size_t)k0 * NR, c, ldy, mr,
                mask_of(nr), mask_of(nr - 16), 1.0f, 0.0f);
    if (b)
        for (int r = 0; r < mr; r++) {
            float *cr = c + (size_t)r * ldy;
            const int w = nr < NR ? nr : NR;
            #pragma omp simd
            for (int j = 0; j < w; j++) cr[j] += b[c0 + j];
        }
}

void ng_linear_packed(float *y, const float *x, const float *Wp, const float *b, int M, int in, int out) {
    const int mp = (M + MR - 1) / MR, np = (out + NR - 1) / NR;
    #pragma omp parallel for collapse(2) schedule(static) if ((double)M * in * out > 1e6)
    for (int ip = 0; ip < mp; ip++)
        for (int p = 0; p < np; p++)
            packed_tile(y, out, x, in, Wp, b, in, ip * MR, M - ip * MR < MR ? M - ip * MR : MR, p, out, 0, in);
}

void ng_linear_packed_part(float *y, int ldy, const float *x, int ldx, const float *Wp, const float *b, int M, int in,
                           int out, int j0, int j1, int k0, int k1) {
    (void)out;
    for (int i0 = 0; i0 < M && j1 > j0; i0 += MR)
        for (int p = j0 / NR; p * NR < j1; p++) packed_tile(y, ldy, x, ldx, Wp, b, in, i0, M - i0 < MR ? M - i0 : MR, p, j1, k0, k1);
}

/* The same GEMM on the calling thread only (callers that are threads of a parallel region
 * themselves: the attention heads). */
/* Empty products: C = beta C (nothing to multiply). Returns 1 when it handled the call. */
static int gemm_trivial(int M, int N, int K, float alpha, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return 1;
    if (K > 0 && alpha != 0.0f) return 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[(size_t)i * ldc + j];
    return 1;
}

void ng_sgemm_serial(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc) {
    if (gemm_trivial(M, N, K, alpha, beta, C, ldc)) return;
    const int np = (N + NR - 1) / NR, kcmax = K < KC ? K : KC;
    float *Bp = ng_scratch_get(&tl_b, (size_t)np * NR * kcmax), *Ap = ng_scratch_get(&tl_a, (size_t)MR * kcmax);
    if (!Bp || !Ap) {
        ng_ref_sgemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    for (int k0 = 0; k0 < K; k0 += KC) {
        const int kc = K - k0 < KC ? K - k0 : KC;
        const float bk = k0 == 0 ? beta : 1.0f;
        for (int p = 0; p < np; p++) pack_b(Bp + (size_t)p * NR * kc, B, ldb, transB, p * NR, N - p * NR < NR ? N - p * NR : NR, k0, kc);
        int packed = -1;
        for (int i0 = 0; i0 < M; i0 += MR)
            run_tile(transA, A, lda, i0, M - i0 < MR ? M - i0 : MR, k0, kc, Ap, &packed, Bp, 0, np, N, C, ldc, alpha, bk);
    }
}

void ng_sgemm_avx512(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc) {
    if (gemm_trivial(M, N, K, alpha, beta, C, ldc)) return;
    /* small products stay on this thread: a thread team costs more than it saves */
    const int nth = 2.0 * M * N * K < 2e6 ? 1 : omp_get_max_threads();
    if (nth == 1) { ng_sgemm_serial(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc); return; }
    const int np = (N + NR - 1) / NR, mp = (M + MR - 1) / MR;
    const int kcmax = K < KC ? K : KC;
    float *Bp = ng_scratch_get(&tl_b, (size_t)np * NR * kcmax);
    if (!Bp) {   /* out of memory for the pack: the plain loop still gives the answer */
        ng_ref_sgemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    /* tiles: row panels x groups of column panels, enough of them for every thread */
    int ng = 1;   /* column groups */
    while (mp * ng < 4 * nth && ng < np) ng++;
    const int per_g = (np + ng - 1) / ng;
    ng = (np + per_g - 1) / per_g;
    const int tiles = mp * ng;
    int fail = 0;
    #pragma omp parallel num_threads(nth)
    {
        float *Ap = ng_scratch_get(&tl_a, (size_t)MR * kcmax);
        if (!Ap) {
            #pragma omp atomic write
            fail = 1;
        }
        #pragma omp barrier
        int failed;
        #pragma omp atomic read
        failed = fail;
        for (int k0 = 0; k0 < K && !failed; k0 += KC) {
            const int kc = K - k0 < KC ? K - k0 : KC;
            const float bk = k0 == 0 ? beta : 1.0f;
            #pragma omp for schedule(static)
            for (int p = 0; p < np; p++) {
                int nr = N - p * NR < NR ? N - p * NR : NR;
                pack_b(Bp + (size_t)p * NR * kc, B, ldb, transB, p * NR, nr, k0, kc);
            }
            /* implicit barrier: B packed */
            int packed = -1;   /* the row panel this thread's Ap holds (partial transposed panels) */
            #pragma omp for schedule(static)
            for (int t = 0; t < tiles; t++) {
                const int ip = t / ng, g = t % ng;
                const int i0 = ip * MR, mr = M - i0 < MR ? M - i0 : MR;
                const int p1 = (g + 1) * per_g < np ? (g + 1) * per_g : np;
                run_tile(transA, A, lda, i0, mr, k0, kc, Ap, &packed, Bp, g * per_g, p1, N, C, ldc, alpha, bk);
            }
            /* implicit barrier before the next K block repacks B */
        }
    }
    /* a thread could not get its A pack (nothing was written): the plain loop gives the answer */
    if (fail) ng_ref_sgemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
#elif !(defined(__AVX2__) && defined(__FMA__))   /* AVX2 + FMA: gemm_avx2.c */
#include <cblas.h>
#include <string.h>
/* without AVX-512 or AVX2 the "packed" weights are a plain copy and the product is OpenBLAS's */
size_t ng_packed_size(int out, int in) { return (size_t)out * in; }
void ng_pack_weights(float *dst, const float *W, int out, int in) { memcpy(dst, W, (size_t)out * in * sizeof(float)); }
void ng_linear_packed(float *y, const float *x, const float *Wp, const float *b, int M, int in, int out) {
    for (int i = 0; i < M; i++)
        if (b) memcpy(y + (size_t)i * out, b, (size_t)out * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, out, in, 1.0f, x, in, Wp, in, b ? 1.0f : 0.0f, y, out);
}
void ng_linear_packed_part(float *y, int ldy, const float *x, int ldx, const float *Wp, const float *b, int M, int in,
                           int out, int j0, int j1, int k0, int k1) {
    (void)out;
    if (j1 <= j0 || M <= 0) return;
    for (int i = 0; i < M; i++) {
        if (b) memcpy(y + (size_t)i * ldy + j0, b + j0, (size_t)(j1 - j0) * sizeof(float));
        else memset(y + (size_t)i * ldy + j0, 0, (size_t)(j1 - j0) * sizeof(float));
    }
    if (k1 > k0)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, j1 - j0, k1 - k0, 1.0f, x + k0, ldx, Wp + (size_t)j0 * in + k0, in,
                    1.0f, y + j0, ldy);
}
void ng_sgemv_rows(float *y, const float *x, const float *W, const float *b, int in, int out) {
    if (b) memcpy(y, b, (size_t)out * sizeof(float));
    cblas_sgemv(CblasRowMajor, CblasNoTrans, out, in, 1.0f, W, in, x, 1, b ? 1.0f : 0.0f, y, 1);
}
/* OpenBLAS runs on one thread when called inside a parallel region */
void ng_sgemv_serial(float *y, const float *x, const float *W, const float *b, int in, int out) {
    ng_sgemv_rows(y, x, W, b, in, out);
}
void ng_sgemv_cols(float *y, const float *x, const float *W, int ldw, int in, int out) {
    if (in <= 0) { memset(y, 0, (size_t)out * sizeof(float)); return; }
    cblas_sgemv(CblasRowMajor, CblasNoTrans, out, in, 1.0f, W, ldw, x, 1, 0.0f, y, 1);
}
/* without AVX-512: OpenBLAS, which runs on one thread when called inside a parallel region */
void ng_sgemm_serial(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc) {
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
#endif

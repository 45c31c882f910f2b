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
 * their speed (make bench prints both). Threads split the M x N tiles; each element of C is
 * summed in the same order whatever the thread count, so results do not depend on it.
 * ng_ref_sgemm is the plain twin that tests/test_ops.c compares this with. */
#include "nanogen.h"

#ifdef __AVX512F__
#include <immintrin.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MR 12
#define NR 32
#define KC 256

/* Grow-only 64-byte aligned scratch, one per thread (OpenMP threads live for the process). */
typedef struct { float *p; size_t n; } scratch;
static _Thread_local scratch tl_a, tl_b;

static float *scratch_get(scratch *s, size_t n) {
    if (n > s->n) {
        free(s->p);
        size_t bytes = (n * sizeof(float) + 63) & ~(size_t)63;
        s->p = aligned_alloc(64, bytes);
        s->n = s->p ? n : 0;
    }
    return s->p;
}

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
    } else {    /* op(B)[k,j] = B[j*ldb + k]: a transpose, column by column */
        for (int c = 0; c < NR; c++) {
            if (c < nr) {
                const float *src = B + (size_t)(j0 + c) * ldb + k0;
                for (int k = 0; k < kc; k++) Bp[(size_t)k * NR + c] = src[k];
            } else {
                for (int k = 0; k < kc; k++) Bp[(size_t)k * NR + c] = 0;
            }
        }
    }
}

/* C[0..mr, 0..32) (masked by m0, m1) = alpha * Ap Bp + (accumulate ? C : beta C) */
static void kernel_12x32(int kc, const float *restrict Ap, const float *restrict Bp, float *C, int ldc, int mr,
                         __mmask16 m0, __mmask16 m1, float alpha, float beta) {
    __m512 c00 = _mm512_setzero_ps(), c01 = _mm512_setzero_ps(), c10 = _mm512_setzero_ps(), c11 = _mm512_setzero_ps();
    __m512 c20 = _mm512_setzero_ps(), c21 = _mm512_setzero_ps(), c30 = _mm512_setzero_ps(), c31 = _mm512_setzero_ps();
    __m512 c40 = _mm512_setzero_ps(), c41 = _mm512_setzero_ps(), c50 = _mm512_setzero_ps(), c51 = _mm512_setzero_ps();
    __m512 c60 = _mm512_setzero_ps(), c61 = _mm512_setzero_ps(), c70 = _mm512_setzero_ps(), c71 = _mm512_setzero_ps();
    __m512 c80 = _mm512_setzero_ps(), c81 = _mm512_setzero_ps(), c90 = _mm512_setzero_ps(), c91 = _mm512_setzero_ps();
    __m512 ca0 = _mm512_setzero_ps(), ca1 = _mm512_setzero_ps(), cb0 = _mm512_setzero_ps(), cb1 = _mm512_setzero_ps();
    for (int k = 0; k < kc; k++) {
        const __m512 b0 = _mm512_load_ps(Bp), b1 = _mm512_load_ps(Bp + 16);
        __m512 a;
#define ROW(r, x0, x1) a = _mm512_set1_ps(Ap[r]); x0 = _mm512_fmadd_ps(a, b0, x0); x1 = _mm512_fmadd_ps(a, b1, x1);
        ROW(0, c00, c01) ROW(1, c10, c11) ROW(2, c20, c21) ROW(3, c30, c31)
        ROW(4, c40, c41) ROW(5, c50, c51) ROW(6, c60, c61) ROW(7, c70, c71)
        ROW(8, c80, c81) ROW(9, c90, c91) ROW(10, ca0, ca1) ROW(11, cb0, cb1)
#undef ROW
        Ap += MR; Bp += NR;
    }
    const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    __m512 acc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51},
                         {c60, c61}, {c70, c71}, {c80, c81}, {c90, c91}, {ca0, ca1}, {cb0, cb1}};
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

static __mmask16 mask_of(int n) { return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1); }

void ng_sgemm_avx512(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) {   /* C = beta C */
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[(size_t)i * ldc + j];
        return;
    }
    const int np = (N + NR - 1) / NR, mp = (M + MR - 1) / MR;
    const int kcmax = K < KC ? K : KC;
    float *Bp = scratch_get(&tl_b, (size_t)np * NR * kcmax);
    if (!Bp) {   /* out of memory for the pack: the plain loop still gives the answer */
        ng_ref_sgemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    /* tiles: row panels x groups of column panels, enough of them for every thread */
    const double flops = 2.0 * M * N * K;
    const int nth = flops < 2e6 ? 1 : omp_get_max_threads();
    int ng = 1;   /* column groups */
    while (mp * ng < 4 * nth && ng < np) ng++;
    const int per_g = (np + ng - 1) / ng;
    ng = (np + per_g - 1) / per_g;
    const int tiles = mp * ng;
    int fail = 0;
    #pragma omp parallel num_threads(nth)
    {
        float *Ap = scratch_get(&tl_a, (size_t)MR * kcmax);
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
            int packed = -1;   /* the row panel this thread's Ap holds */
            #pragma omp for schedule(static)
            for (int t = 0; t < tiles; t++) {
                const int ip = t / ng, g = t % ng;
                const int i0 = ip * MR, mr = M - i0 < MR ? M - i0 : MR;
                if (ip != packed) { pack_a(Ap, A, lda, transA, i0, mr, k0, kc); packed = ip; }
                const int p1 = (g + 1) * per_g < np ? (g + 1) * per_g : np;
                for (int p = g * per_g; p < p1; p++) {
                    const int j0 = p * NR, nr = N - j0;
                    kernel_12x32(kc, Ap, Bp + (size_t)p * NR * kc, C + (size_t)i0 * ldc + j0, ldc, mr,
                                 mask_of(nr), mask_of(nr - 16), alpha, bk);
                }
            }
            /* implicit barrier before the next K block repacks B */
        }
    }
    /* a thread could not get its A pack (nothing was written): the plain loop gives the answer */
    if (fail) ng_ref_sgemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
#endif

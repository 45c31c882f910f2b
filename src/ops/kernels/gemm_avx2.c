/* gemm_avx2.c - nanogen's own single-precision GEMM, GEMV and packed-weight products for
 * AVX2 + FMA machines without AVX-512 (Haswell .. Zen 3): the same design as gemm_avx512.c
 * with 256-bit registers.
 *
 * C = alpha op(A) op(B) + beta C, row-major, the BLIS way: op(B) is packed into panels of
 * NR = 16 columns (k-major), and a 6 x 16 register-blocked micro-kernel (12 ymm accumulators,
 * one broadcast of A and two loads of B per k) reads A's rows in place (a transposed A is packed
 * in panels of 6 rows) and runs along the column panels of B. Edges are zero-padded in the packs and stored with masks, so every shape
 * and both transpositions go through the same kernel. Blocks: KC = 256 (a B panel of 256 x 16
 * and six rows of A stay in L1), all of N's panels packed once per K block.
 *
 * Why our own and not OpenBLAS's: results that do not depend on the thread count. Threads
 * split the M x N tiles, and every element of C is summed by the same kernel in the same order
 * whatever the number of threads; OpenBLAS splits its work differently with each thread count
 * (and rounds differently: 1 and 2 threads differ in the last bits), so a run that changes its
 * thread count (nanogen does when other programs take the CPUs) would not be reproducible.
 * ng_ref_sgemm is the plain twin that tests/test_ops.c compares this with. */
#include "core/internal.h"
#include "ops/kernels/kernels.h"

#if defined(__AVX2__) && defined(__FMA__) && !defined(__AVX512F__)
#include <immintrin.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MR 6
#define NR 16
#define KC 256
#define MC 96   /* rows of a tile (16 row panels) at most, when threads split the rows */

/* pack buffers, one pair per thread */
static _Thread_local ng_scratch tl_a, tl_b;

/* Pack rows [i0, i0+mr) x k [k0, k0+kc) of op(A) as Ap[k*MR + r], zero rows beyond mr. */
static void pack_a(float *Ap, const float *A, int lda, int ta, int i0, int mr, int k0, int kc) {
    if (ta) {   /* op(A)[i,k] = A[k*lda + i]: MR consecutive floats per k */
        if (mr == MR) {
            for (int k = 0; k < kc; k++) memcpy(Ap + (size_t)k * MR, A + (size_t)(k0 + k) * lda + i0, MR * sizeof(float));
            return;
        }
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

/* dst[k*ldd + c] = src[c*lds + k] for an 8 x 8 block */
static inline void transpose8(const float *src, size_t lds, float *dst, size_t ldd) {
    __m256 r[8], t[8], u[8];
    for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(src + i * lds);
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int g = 0; g < 2; g++) {   /* rows 4g..4g+3 */
        u[4 * g + 0] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0x44);
        u[4 * g + 1] = _mm256_shuffle_ps(t[4 * g], t[4 * g + 2], 0xEE);
        u[4 * g + 2] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
        u[4 * g + 3] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
    }
    for (int j = 0; j < 4; j++) {
        _mm256_storeu_ps(dst + (size_t)j * ldd, _mm256_permute2f128_ps(u[j], u[4 + j], 0x20));
        _mm256_storeu_ps(dst + (size_t)(j + 4) * ldd, _mm256_permute2f128_ps(u[j], u[4 + j], 0x31));
    }
}

/* Pack columns [j0, j0+nr) x k [k0, k0+kc) of op(B) as Bp[k*NR + c], zero columns beyond nr. */
static void pack_b(float *Bp, const float *B, int ldb, int tb, int j0, int nr, int k0, int kc) {
    if (!tb) {  /* op(B)[k,j] = B[k*ldb + j] */
        for (int k = 0; k < kc; k++) {
            const float *src = B + (size_t)(k0 + k) * ldb + j0;
            float *dst = Bp + (size_t)k * NR;
            if (nr == NR) {
                _mm256_store_ps(dst, _mm256_loadu_ps(src));
                _mm256_store_ps(dst + 8, _mm256_loadu_ps(src + 8));
            } else {
                int c = 0;
                for (; c < nr; c++) dst[c] = src[c];
                for (; c < NR; c++) dst[c] = 0;
            }
        }
    } else {    /* op(B)[k,j] = B[j*ldb + k]: a transpose, in 8 x 8 blocks in registers */
        int c0 = 0;
        for (; c0 + 8 <= nr; c0 += 8) {
            int k = 0;
            for (; k + 8 <= kc; k += 8) transpose8(B + (size_t)(j0 + c0) * ldb + k0 + k, (size_t)ldb, Bp + (size_t)k * NR + c0, NR);
            for (; k < kc; k++)
                for (int c = c0; c < c0 + 8; c++) Bp[(size_t)k * NR + c] = B[(size_t)(j0 + c) * ldb + k0 + k];
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

/* lanes [0, n) of 8 set (n <= 0: none) */
static inline __m256i mask_of(int n) {
    const int k = n < 0 ? 0 : n > 8 ? 8 : n;
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(k), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static inline __attribute__((always_inline)) void store_tile(const __m256 acc[MR][2], float *C, int ldc, int mr, int nr,
                                                             float alpha, float beta) {
    const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    if (nr >= NR) {
        for (int r = 0; r < mr; r++) {
            float *c = C + (size_t)r * ldc;
            __m256 x0 = _mm256_mul_ps(va, acc[r][0]), x1 = _mm256_mul_ps(va, acc[r][1]);
            if (beta != 0.0f) {   /* beta = 0: C is not read (it may hold NaN) */
                x0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c), x0);
                x1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c + 8), x1);
            }
            _mm256_storeu_ps(c, x0);
            _mm256_storeu_ps(c + 8, x1);
        }
        return;
    }
    const __m256i m0 = mask_of(nr), m1 = mask_of(nr - 8);
    for (int r = 0; r < mr; r++) {
        float *c = C + (size_t)r * ldc;
        __m256 x0 = _mm256_mul_ps(va, acc[r][0]), x1 = _mm256_mul_ps(va, acc[r][1]);
        if (beta != 0.0f) {
            x0 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(c, m0), x0);
            x1 = _mm256_fmadd_ps(vb, _mm256_maskload_ps(c + 8, m1), x1);
        }
        _mm256_maskstore_ps(c, m0, x0);
        _mm256_maskstore_ps(c + 8, m1, x1);
    }
}

/* The micro-kernel: C[0..mr, 0..nr) = alpha * A Bp + beta C, with Bp a packed panel (kc x 16)
 * and A read through AEL(r) (element (r, k) of the current k), advanced by ANEXT after each k.
 * Generated twice: A packed or read in place with a k stride (a(r,k) = a[r + k*ks]), and A read
 * in place along 6 rows (a(r,k) = row_r[k]). */
#define KERNEL_BODY(AEL, ANEXT) \
    __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps(); \
    __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(), c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps(); \
    __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps(), c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps(); \
    for (int k = 0; k < kc; k++) { \
        const __m256 b0 = _mm256_load_ps(Bp), b1 = _mm256_load_ps(Bp + 8); \
        __m256 a; \
        ROW(0, c00, c01) ROW(1, c10, c11) ROW(2, c20, c21) ROW(3, c30, c31) ROW(4, c40, c41) ROW(5, c50, c51) \
        ANEXT; Bp += NR; \
    } \
    const __m256 acc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}}; \
    store_tile(acc, C, ldc, mr, nr, alpha, beta);
#define ROW(r, x0, x1) a = _mm256_broadcast_ss(&AEL(r)); x0 = _mm256_fmadd_ps(a, b0, x0); x1 = _mm256_fmadd_ps(a, b1, x1);

static void kernel_kstride(int kc, const float *restrict Ap, size_t ks, const float *restrict Bp, float *C, int ldc,
                           int mr, int nr, float alpha, float beta) {
#define AEL(r) Ap[r]
    KERNEL_BODY(AEL, Ap += ks)
#undef AEL
}

static void kernel_rows(int kc, const float *restrict A, size_t lda, const float *restrict Bp, float *C, int ldc, int mr,
                        int nr, float alpha, float beta) {
    /* rows past the matrix (r >= mr) read its first row again; their results are not stored */
    const float *r0 = A, *r1 = A + (mr > 1 ? lda : 0), *r2 = A + (mr > 2 ? 2 * lda : 0);
    const float *r3 = A + (mr > 3 ? 3 * lda : 0), *r4 = A + (mr > 4 ? 4 * lda : 0), *r5 = A + (mr > 5 ? 5 * lda : 0);
#define AEL(r) (r == 0 ? r0 : r == 1 ? r1 : r == 2 ? r2 : r == 3 ? r3 : r == 4 ? r4 : r5)[k]
    KERNEL_BODY(AEL, (void)0)
}
#undef AEL
#undef ROW

/* One block of C: the row panels [i0, i1) (MR rows each, the last one partial at M) times the
 * column panels [p0, p1) of the packed B (kc deep), a row panel at a time along the column
 * panels (its A stays in L1). A's rows are read in place; a transposed A is packed first (read
 * in place it would stride a page per k). */
static void run_block(int transA, const float *A, int lda, int M, int i0, int i1, int k0, int kc, float *Ap,
                      const float *Bp, int p0, int p1, int N, float *C, int ldc, float alpha, float beta) {
    for (int i = i0; i < i1; i += MR) {
        const int mr = M - i < MR ? M - i : MR;
        if (transA) pack_a(Ap, A, lda, 1, i, mr, k0, kc);
        for (int p = p0; p < p1; p++) {
            const int j0 = p * NR, nr = N - j0;
            const float *bp = Bp + (size_t)p * NR * kc;
            float *c = C + (size_t)i * ldc + j0;
            if (transA) kernel_kstride(kc, Ap, MR, bp, c, ldc, mr, nr, alpha, beta);
            else kernel_rows(kc, A + (size_t)i * lda + k0, (size_t)lda, bp, c, ldc, mr, nr, alpha, beta);
        }
    }
}

/* ---------------------------------------------------------------- GEMV (sampling) */

static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* y (out) = W (out,in; rows ldw apart) x (in) + b (NULL: 0): four rows of W at a time, SIMD
 * along in, one horizontal sum per output. Each output is computed the same way whatever rows
 * the call covers (a thread's share gives the same bits as the whole). */
static void gemv_ld(float *y, const float *x, const float *W, size_t ldw, const float *b, int in, int out) {
    const int nq = (out + 3) / 4;
    for (int q = 0; q < nq; q++) {
        const int j0 = q * 4, nj = out - j0 < 4 ? out - j0 : 4;
        const float *w0 = W + (size_t)j0 * ldw, *w1 = nj > 1 ? w0 + ldw : w0, *w2 = nj > 2 ? w0 + 2 * ldw : w0;
        const float *w3 = nj > 3 ? w0 + 3 * ldw : w0;
        __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
        int k = 0;
        for (; k + 8 <= in; k += 8) {
            const __m256 xv = _mm256_loadu_ps(x + k);
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + k), xv, a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(w1 + k), xv, a1);
            a2 = _mm256_fmadd_ps(_mm256_loadu_ps(w2 + k), xv, a2);
            a3 = _mm256_fmadd_ps(_mm256_loadu_ps(w3 + k), xv, a3);
        }
        if (k < in) {
            const __m256i m = mask_of(in - k);
            const __m256 xv = _mm256_maskload_ps(x + k, m);
            a0 = _mm256_fmadd_ps(_mm256_maskload_ps(w0 + k, m), xv, a0);
            a1 = _mm256_fmadd_ps(_mm256_maskload_ps(w1 + k, m), xv, a1);
            a2 = _mm256_fmadd_ps(_mm256_maskload_ps(w2 + k, m), xv, a2);
            a3 = _mm256_fmadd_ps(_mm256_maskload_ps(w3 + k, m), xv, a3);
        }
        const float r[4] = {hsum(a0), hsum(a1), hsum(a2), hsum(a3)};
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

/* ---------------------------------------------------------------- packed weights (sampling) */

/* W (out,in) row-major becomes the panels op(B) = W^T would be packed into, all of K in one
 * panel: ceil(out/16) panels of in x 16 floats, zero-padded. */
size_t ng_packed_size(int out, int in) { return (size_t)((out + NR - 1) / NR) * NR * in; }

void ng_pack_weights(float *dst, const float *W, int out, int in) {
    for (int p = 0; p * NR < out; p++)
        pack_b(dst + (size_t)p * NR * in, W, in, 1, p * NR, out - p * NR < NR ? out - p * NR : NR, 0, in);
}

/* one tile of a product with packed weights: y[i0 .. i0+mr, panel p's 16 columns up to j1) =
 * x[rows, k0 .. k1) W[columns, k0 .. k1)^T + b (b may be NULL) */
static void packed_tile(float *y, int ldy, const float *x, int ldx, const float *Wp, const float *b, int in, int i0, int mr,
                        int p, int j1, int k0, int k1) {
    const int c0 = p * NR, nr = j1 - c0;
    float *c = y + (size_t)i0 * ldy + c0;
    kernel_rows(k1 - k0, x + (size_t)i0 * ldx + k0, (size_t)ldx, Wp + (size_t)p * NR * in + (size_t)k0 * NR, c, ldy, mr, nr,
                1.0f, 0.0f);
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

/* ---------------------------------------------------------------- GEMM */

/* Empty products: C = beta C (nothing to multiply). Returns 1 when it handled the call. */
static int gemm_trivial(int M, int N, int K, float alpha, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return 1;
    if (K > 0 && alpha != 0.0f) return 0;
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[(size_t)i * ldc + j];
    return 1;
}

/* The same GEMM on the calling thread only (callers that are threads of a parallel region
 * themselves: the attention heads). */
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
        run_block(transA, A, lda, M, 0, M, k0, kc, Ap, Bp, 0, np, N, C, ldc, alpha, bk);
    }
}

void ng_sgemm_own(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc) {
    if (gemm_trivial(M, N, K, alpha, beta, C, ldc)) return;
    /* small products stay on this thread: a thread team costs more than it saves */
    const int nth = 2.0 * M * N * K < 2e6 || omp_in_parallel() ? 1 : omp_get_max_threads();
    if (nth == 1) { ng_sgemm_serial(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc); return; }
    const int np = (N + NR - 1) / NR;
    const int kcmax = K < KC ? K : KC;
    float *Bp = ng_scratch_get(&tl_b, (size_t)np * NR * kcmax);
    if (!Bp) {   /* out of memory for the pack: the plain loop still gives the answer */
        ng_ref_sgemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
    /* tiles: mb blocks of row panels (at most MC rows each) x ng groups of column panels, both
     * cut as evenly as whole panels allow, and as many tiles as a multiple of the thread count
     * (11 blocks on 2 threads leave one thread idle a twelfth of the time). Who computes an
     * element changes with the thread count, never how. */
    const int P = (M + MR - 1) / MR;   /* row panels */
    int mb = (M + MC - 1) / MC, ng = 1;
    if (mb >= nth) mb = (mb + nth - 1) / nth * nth;
    else
        while ((mb * ng < 2 * nth || (mb * ng) % nth) && ng < np) ng++;
    if (mb > P) mb = P;
    const int tiles = mb * ng;
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
            #pragma omp for schedule(static)
            for (int t = 0; t < tiles; t++) {
                const int ib = t / ng, g = t % ng;
                const int i0 = MR * (int)((int64_t)P * ib / mb), i1 = MR * (int)((int64_t)P * (ib + 1) / mb);
                run_block(transA, A, lda, M, i0, i1 < M ? i1 : M, k0, kc, Ap, Bp, (int)((int64_t)np * g / ng),
                          (int)((int64_t)np * (g + 1) / ng), N, C, ldc, alpha, bk);
            }
            /* implicit barrier before the next K block repacks B */
        }
    }
    /* a thread could not get its A pack (nothing was written): the plain loop gives the answer */
    if (fail) ng_ref_sgemm(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
#endif

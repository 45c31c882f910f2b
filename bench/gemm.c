/* bench/gemm.c - GFLOP/s of the GEMMs nanogen runs, nanogen's kernel against OpenBLAS's sgemm,
 * and the machine's sgemm peak (OpenBLAS, 2048^3, all threads). Part of `make bench`.
 *   build/bench/gemm [--threads N]     prints one line per shape, then "peak ..." */
#include "nanogen.h"
#include "core/internal.h"
#include "ops/kernels/kernels.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double gflops(ng_gemm_fn f, int ta, int tb, int M, int N, int K, float *A, float *B, float *C) {
    const double flop = 2.0 * M * N * K;
    int reps = (int)(3e9 / flop);
    if (reps < 3) reps = 3;
    int lda = ta ? M : K, ldb = tb ? K : N;
    for (int r = 0; r < 2; r++) f(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C, N);
    double best = 0;
    for (int round = 0; round < 3; round++) {   /* best of three rounds: the machine is shared */
        double t = omp_get_wtime();
        for (int r = 0; r < reps; r++) f(ta, tb, M, N, K, 1.0f, A, lda, B, ldb, 1.0f, C, N);
        t = omp_get_wtime() - t;
        double g = flop * reps / t / 1e9;
        if (g > best) best = g;
    }
    return best;
}

int main(int argc, char **argv) {
    int threads = 0;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
    if (threads > 0) ng_set_threads(threads);
    const size_t big = (size_t)2048 * 2048;
    float *A = malloc(big * 4), *B = malloc(big * 4), *C = malloc(big * 4);
    if (!A || !B || !C) return 1;
    for (size_t i = 0; i < big; i++) { A[i] = (float)(i % 7) * 0.1f; B[i] = (float)(i % 5) * 0.1f; C[i] = 0; }
    /* the baby GPT's GEMMs (B*T = 768 rows, C = 128): forward x W^T, backward dy W and dy^T x */
    static const struct { const char *what; int ta, tb, M, N, K; } shapes[] = {
        {"qkv   fwd  x W^T", 0, 1, 768, 384, 128}, {"proj  fwd  x W^T", 0, 1, 768, 128, 128},
        {"fc    fwd  x W^T", 0, 1, 768, 512, 128}, {"fc2   fwd  x W^T", 0, 1, 768, 128, 512},
        {"qkv   bwd  dy W ", 0, 0, 768, 128, 384}, {"fc2   bwd  dy W ", 0, 0, 768, 512, 128},
        {"qkv   bwd dy^T x", 1, 0, 384, 128, 768}, {"fc    bwd dy^T x", 1, 0, 512, 128, 768},
        {"head  fwd  x W^T", 0, 1, 768, 65, 128},
        {"shakespeare-char fc fwd", 0, 1, 16384, 1536, 384}, {"shakespeare-char fc bwd dy^T x", 1, 0, 1536, 384, 16384},
        /* the DCGAN's 64 -> 128 convolution over 64 images (W col; dY col^T; W^T dY) and the VAE's 784 -> 400 layer */
        {"dcgan conv2 fwd  W col", 0, 0, 128, 3136, 1024}, {"dcgan conv2 bwd dY col^T", 0, 1, 128, 1024, 3136},
        {"dcgan conv2 bwd W^T dY", 1, 0, 1024, 3136, 128},
        {"vae   fc1 fwd  x W^T", 0, 1, 128, 400, 784}, {"vae   fc1 bwd dy^T x", 1, 0, 400, 784, 128},
    };
    /* nanogen's kernel and OpenBLAS's, each called directly, and what ng_sgemm runs for the
     * shape (NANOGEN_GEMM; by default the faster of the two as measured on this machine) */
    ng_gemm_fn own_fn = ng_gemm_own();
    printf("GEMM GFLOP/s, %d thread%s (nanogen: %s; OpenBLAS %s kernels)\n", ng_get_threads(), ng_get_threads() == 1 ? "" : "s",
           ng_gemm_name(), ng_blas_core());
    printf("%-32s %6s %6s %6s %10s %10s %10s %s\n", "shape", "M", "N", "K", "own", "OpenBLAS", "runs", "(which)");
    for (size_t s = 0; s <= sizeof shapes / sizeof shapes[0]; s++) {
        const int sq = s == sizeof shapes / sizeof shapes[0];   /* last: the square peak shape */
        const char *what = sq ? "square" : shapes[s].what;
        const int M = sq ? 2048 : shapes[s].M, N = sq ? 2048 : shapes[s].N, K = sq ? 2048 : shapes[s].K;
        const int ta = sq ? 0 : shapes[s].ta, tb = sq ? 0 : shapes[s].tb;
        if ((size_t)M * K > big || (size_t)K * N > big || (size_t)M * N > big) continue;
        ng_sgemm(ta, tb, M, N, K, 1.0f, A, ta ? M : K, B, tb ? K : N, 0.0f, C, N);   /* the choice made (and cached) */
        const double a = own_fn ? gflops(own_fn, ta, tb, M, N, K, A, B, C) : 0;
        const double b = gflops(ng_sgemm_blas, ta, tb, M, N, K, A, B, C);
        const double r = gflops(ng_sgemm, ta, tb, M, N, K, A, B, C);
        const char *which = !own_fn || !strcmp(ng_gemm_name(), "openblas") ? "openblas"
                            : strncmp(ng_gemm_name(), "auto:", 5) ? "own" : ng_gemm_choose(ta, tb, M, N, K) ? "openblas" : "own";
        printf("%-32s %6d %6d %6d %10.1f %10.1f %10.1f %s\n", what, M, N, K, a, b, r, which);
        if (sq) {
            printf("peak: OpenBLAS sgemm 2048^3 = %.1f GFLOP/s; best of the two = %.1f GFLOP/s\n", b, a > b ? a : b);
        }
    }
    free(A); free(B); free(C);
    return 0;
}

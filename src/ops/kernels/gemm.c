/* gemm.c - C = alpha op(A) op(B) + beta C (row-major): CBLAS for speed, a plain twin for tests. */
#include "core/internal.h"

#include "ops/kernels/kernels.h"

#include <cblas.h>
#include <omp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* the scratch buffers this thread has allocated, freed by scratch_exit when it ends */
static _Thread_local ng_scratch *tl_scratch;
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_exit(void *unused) {
    (void)unused;
    for (ng_scratch *s = tl_scratch; s; s = s->next) {
        free(s->p);
        s->p = NULL;
        s->n = 0;
        s->listed = 0;
    }
    tl_scratch = NULL;
}

static void scratch_key_init(void) { pthread_key_create(&scratch_key, scratch_exit); }

float *ng_scratch_get(ng_scratch *s, size_t n) {
    if (n > s->n) {
        if (!s->listed) {   /* first use on this thread: listed, to be freed when the thread exits */
            pthread_once(&scratch_once, scratch_key_init);
            if (!tl_scratch) pthread_setspecific(scratch_key, &scratch_key);   /* non-NULL: the destructor runs */
            s->next = tl_scratch;
            s->listed = 1;
            tl_scratch = s;
        }
        free(s->p);
        s->p = aligned_alloc(64, (n * sizeof(float) + 63) & ~(size_t)63);
        s->n = s->p ? n : 0;
    }
    return s->p;
}

const char *ng_blas_core(void) { return openblas_get_corename(); }

const char *ng_blas_better_core(void) {
    if (getenv("OPENBLAS_CORETYPE")) return NULL;
    const char *core = openblas_get_corename();
    if (!core || (strcasecmp(core, "haswell") && strcasecmp(core, "zen"))) return NULL;
    __builtin_cpu_init();   /* libgcc also checks that the OS saves the AVX-512 registers (XCR0) */
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512cd"))
        return "SKYLAKEX";
    return NULL;
}

/* nanogen's own GEMM where the build has AVX-512 (gemm_avx512.c) or AVX2 + FMA (gemm_avx2.c);
 * elsewhere OpenBLAS. */
#if defined(__AVX512F__)
#define OWN_GEMM ng_sgemm_avx512
#define OWN_NAME "nanogen-avx512"
#elif defined(__AVX2__) && defined(__FMA__)
#define OWN_GEMM ng_sgemm_own
#define OWN_NAME "nanogen-avx2"
#endif
#ifdef OWN_GEMM
void OWN_GEMM(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);
/* NANOGEN_GEMM: auto (the default: per shape, the faster of the two on this machine,
 * gemm_choice.c), own, or openblas (make bench compares them) */
enum { AUTO, OWN, BLAS };
static int mode = -1;
static int gemm_mode(void) {
    if (mode < 0) {
        const char *e = getenv("NANOGEN_GEMM");
        mode = e && !strcmp(e, "openblas") ? BLAS : e && (!strcmp(e, "own") || !strcmp(e, "nanogen")) ? OWN : AUTO;
    }
    return mode;
}
#endif

const char *ng_gemm_name(void) {
#ifdef OWN_GEMM
    return gemm_mode() == BLAS ? "openblas" : gemm_mode() == OWN ? OWN_NAME : "auto:" OWN_NAME;
#else
    return "openblas";
#endif
}

/* The GEMM every op uses. */
void ng_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc) {
#ifdef OWN_GEMM
    const int m = gemm_mode();
    if (m == OWN || (m == AUTO && !ng_gemm_choose(transA, transB, M, N, K))) {
        OWN_GEMM(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        return;
    }
#endif
    /* NANOGEN_GEMM=openblas: OpenBLAS's bits depend on its thread count, so it runs on the run's
     * count (ng_threads_max), also while the busy-machine governor has lowered ours, and the load
     * changes no result. (In auto, a shape goes to OpenBLAS only where its bits are the same on
     * every count: gemm_choice.c.) */
#ifdef OWN_GEMM
    const int fixed = gemm_mode() == BLAS;
#else
    const int fixed = 1;
#endif
    const int want = ng_threads_max(), now = !fixed || omp_in_parallel() ? want : omp_get_max_threads();
    if (now != want) { omp_set_num_threads(want); openblas_set_num_threads(want); }
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    if (now != want) { omp_set_num_threads(now); openblas_set_num_threads(now); }
}

ng_gemm_fn ng_gemm_own(void) {
#ifdef OWN_GEMM
    return OWN_GEMM;
#else
    return NULL;
#endif
}

const char *ng_gemm_own_name(void) {
#ifdef OWN_GEMM
    return OWN_NAME;
#else
    return "none";
#endif
}

/* OpenBLAS's sgemm whatever ng_sgemm uses (for comparisons). */
void ng_sgemm_blas(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *B, int ldb, float beta, float *C, int ldc) {
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* Reference: triple loop with double accumulation. op(A) is (M,K), op(B) is (K,N). */
void ng_ref_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double acc = 0;
            for (int k = 0; k < K; k++) {
                float a = transA ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                float b = transB ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                acc += (double)a * b;
            }
            float *c = &C[(size_t)i * ldc + j];
            *c = (float)(alpha * acc + (beta == 0 ? 0.0 : (double)beta * *c));
        }
}

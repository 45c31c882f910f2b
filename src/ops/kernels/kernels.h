/* kernels.h - raw row kernels over float* shared by the graph ops and the KV-cache inference
 * path (llm.c style: outputs first, explicit sizes). Private to the library. */
#ifndef NG_KERNELS_H
#define NG_KERNELS_H
#include <stddef.h>
#include <stdint.h>

/* out (N,C) = layernorm(x (N,C)) * w + b (b may be NULL: none); mean/rstd (N) saved when non-NULL */
void ng_k_layernorm(float *out, float *mean, float *rstd, const float *x, const float *w, const float *b,
                    int64_t N, int64_t C, float eps);
/* y (N,out) = x (N,in) W^T (out,in) + b (out, may be NULL) */
void ng_k_linear(float *y, const float *x, const float *W, const float *b, int N, int in, int out);
/* y[i] = gelu_tanh(x[i]) */
void ng_k_gelu(float *y, const float *x, int64_t n);
/* y[i] = gelu_exact(x[i]) = 0.5 x (1 + erf(x / sqrt 2)) */
void ng_k_gelu_exact(float *y, const float *x, int64_t n);
/* y (out) = W (out,in) x (in) + b (may be NULL); W row-major (nanogen's GEMV for sampling) */
void ng_sgemv_rows(float *y, const float *x, const float *W, const float *b, int in, int out);
/* the same on the calling thread only, each output row computed exactly as ng_sgemv_rows does
 * (a thread of the sampler's parallel region computes its own rows) */
void ng_sgemv_serial(float *y, const float *x, const float *W, const float *b, int in, int out);
/* y (out) = W (out, in; rows ldw apart) x (in), on the calling thread: a block of columns of a
 * bigger matrix (a thread's share of a product split along its inputs); in = 0 gives zeros */
void ng_sgemv_cols(float *y, const float *x, const float *W, int ldw, int in, int out);
/* Weights packed once for repeated products (the sampler): ng_packed_size floats for W
 * (out,in), 64-byte aligned (ng_alloc_aligned: the kernel's aligned loads); y (M,out) = x (M,in)
 * W^T + b (may be NULL) with the packed copy. */
size_t ng_packed_size(int out, int in);
void ng_pack_weights(float *dst, const float *W, int out, int in);
void ng_linear_packed(float *y, const float *x, const float *Wp, const float *b, int M, int in, int out);
/* A block of that product on the calling thread: y[:, j0:j1) (rows ldy apart) = x[:, k0:k1) (rows
 * ldx apart) W[j0:j1, k0:k1)^T + b[j0:j1) (b may be NULL): a thread's share of a product split
 * by W's rows (j0 a multiple of 32, j1 one or out) or by its inputs (a partial sum over k0..k1;
 * an empty range gives b or zeros). */
void ng_linear_packed_part(float *y, int ldy, const float *x, int ldx, const float *Wp, const float *b, int M, int in,
                           int out, int j0, int j1, int k0, int k1);
/* Grow-only, 64-byte aligned scratch memory; declare one `static _Thread_local ng_scratch` per
 * use, so each OpenMP thread keeps its own. NULL when out of memory. A thread's buffers are
 * freed when it exits (libgomp ends threads when a team shrinks: the thread count follows a
 * busy machine, src/core/threads.c). */
typedef struct ng_scratch { float *p; size_t n; struct ng_scratch *next; int listed; } ng_scratch;
float *ng_scratch_get(ng_scratch *s, size_t n);
/* C = alpha op(A) op(B) + beta C on the calling thread only (src/ops/kernels/gemm_avx512.c): for
 * kernels that run inside their own parallel region, like the attention heads. */
void ng_sgemm_serial(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc);
/* Which GEMM runs a shape in NANOGEN_GEMM=auto (gemm_choice.c): 1 for OpenBLAS's sgemm, 0 for
 * nanogen's own kernel (ng_gemm_own; always 0 where there is none), measured once per shape and
 * run thread count (ng_threads_max) on this machine and cached (NANOGEN_GEMM_CACHE, NANOGEN_GEMM_TUNE=redo); 0 inside a parallel region. */
typedef void (*ng_gemm_fn)(int, int, int, int, int, float, const float *, int, const float *, int, float, float *, int);
/* nanogen's own GEMM kernel (NULL where the build has none), whatever ng_sgemm would choose,
 * and its name ("nanogen-avx2", "nanogen-avx512"; "none") */
ng_gemm_fn ng_gemm_own(void);
const char *ng_gemm_own_name(void);
int ng_gemm_choose(int ta, int tb, int M, int N, int K);
/* The choices in a cache file's text for machine `mach`: found(key = {ta, tb, M, N, K, threads},
 * blas, ctx) for each valid line; returns how many. Lines that do not parse are skipped. */
int ng_gemm_cache_parse(const char *text, size_t len, const char *mach, void (*found)(const int key[6], int blas, void *ctx), void *ctx);
/* The choices this process has used: ng_gemm_choice_get(i, key, &blas) for i < the count
 * (key = {ta, tb, M, N, K, cpus}); ng_gemm_choice_set makes one (over the cache's), as a resumed
 * run does with the choices its checkpoint's run made, so that it continues with the same bits. */
int ng_gemm_choice_get(int i, int key[6], int *blas);
void ng_gemm_choice_set(const int key[6], int blas);
/* The shapes this process has chosen for (own, OpenBLAS), and the cache file (NULL: off). */
int ng_gemm_choices(int *own, int *blas);
const char *ng_gemm_cache_path(void);
#endif

/* kernels.h - raw row kernels over float* shared by the graph ops and the KV-cache inference
 * path (llm.c style: outputs first, explicit sizes). Private to the library. */
#ifndef NG_KERNELS_H
#define NG_KERNELS_H
#include <stddef.h>
#include <stdint.h>

/* out (N,C) = layernorm(x (N,C)) * w + b; mean/rstd (N) saved when non-NULL */
void ng_k_layernorm(float *out, float *mean, float *rstd, const float *x, const float *w, const float *b,
                    int64_t N, int64_t C, float eps);
/* y (N,out) = x (N,in) W^T (out,in) + b (out, may be NULL) */
void ng_k_linear(float *y, const float *x, const float *W, const float *b, int N, int in, int out);
/* y[i] = gelu_tanh(x[i]) */
void ng_k_gelu(float *y, const float *x, int64_t n);
/* y (out) = W (out,in) x (in) + b (may be NULL); W row-major (nanogen's GEMV for sampling) */
void ng_sgemv_rows(float *y, const float *x, const float *W, const float *b, int in, int out);
/* Weights packed once for repeated products (the sampler): ng_packed_size floats for W
 * (out,in); y (M,out) = x (M,in) W^T + b (may be NULL) with the packed copy. */
size_t ng_packed_size(int out, int in);
void ng_pack_weights(float *dst, const float *W, int out, int in);
void ng_linear_packed(float *y, const float *x, const float *Wp, const float *b, int M, int in, int out);
/* C (M,N) = A (M,K) B (K,N) + bias (N, may be NULL), row-major, one thread, B not packed (few rows) */
void ng_sgemm_small(int M, int N, int K, const float *A, int lda, const float *B, int ldb, const float *bias, float *C, int ldc);
/* C = alpha op(A) op(B) + beta C on the calling thread only (src/ops/gemm_avx512.c): for
 * kernels that run inside their own parallel region, like the attention heads. */
void ng_sgemm_serial(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                     const float *B, int ldb, float beta, float *C, int ldc);
#endif

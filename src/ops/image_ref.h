/* image_ref.h - plain direct-loop twins of the convolution kernels (src/ops/conv.c), which
 * tests/test_image_ops.c compares the im2col + GEMM path against, and the chunk-size knob of
 * that path. Private to the library and its tests.
 *
 * Layouts are PyTorch's: x (N,Ci,H,W); conv2d weight (Co,Ci,k,k), output (N,Co,Ho,Wo) with
 * Ho = (H + 2 pad - k) / stride + 1; conv_transpose2d weight (Ci,Co,k,k), output (N,Co,Ho,Wo)
 * with Ho = (H - 1) stride - 2 pad + k. Bias (Co) may be NULL. Sums are done in double.
 * The forward functions overwrite y; the backward ones ADD into dx, dw, db (each may be NULL). */
#ifndef NG_IMAGE_REF_H
#define NG_IMAGE_REF_H
#include <stdint.h>

void ng_ref_conv2d_forward(float *y, const float *x, const float *w, const float *b,
                           int N, int Ci, int H, int W, int Co, int k, int stride, int pad);
void ng_ref_conv2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                            int N, int Ci, int H, int W, int Co, int k, int stride, int pad);
void ng_ref_conv_t2d_forward(float *y, const float *x, const float *w, const float *b,
                             int N, int Ci, int H, int W, int Co, int k, int stride, int pad);
void ng_ref_conv_t2d_backward(float *dx, float *dw, float *db, const float *dy, const float *x, const float *w,
                              int N, int Ci, int H, int W, int Co, int k, int stride, int pad);

/* The builders size each convolution's scratch (im2col columns + a GEMM staging block) for
 * as many images as fit in this many floats (at least one image; default 4M floats = 16 MiB).
 * Each chunk of images is one GEMM. Tests lower it to exercise the one-image and
 * several-chunk paths; it is read when a graph is built, not when it runs. */
extern int64_t ng__conv_chunk_floats;

/* A convolution whose weight gradient has at most NG_CONV_SPLIT_MAX floats computes it as
 * NG_CONV_KSPLIT GEMMs over slices of the positions, one per thread, added in a fixed order
 * (BLAS would not thread such a thin GEMM); the builder adds their scratch to t->aux. */
#define NG_CONV_KSPLIT 16
#define NG_CONV_SPLIT_MAX 16384

/* Scalar losses (src/ops/losses.c) sum blocks of this many elements into t->aux (one double
 * per block, so the builder allocates 2 floats per block) and add the blocks in order. */
#define NG_LOSS_BLOCK 4096
#endif

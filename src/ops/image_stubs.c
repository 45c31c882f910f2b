/* image_stubs.c - placeholders until the image kernels land (they abort if called). */
#include "graph_internal.h"
#include <stdlib.h>
#pragma GCC diagnostic ignored "-Wunused-parameter"

void conv2d_forward(ng_graph *g, ng_tensor *t) { (void)g; (void)t; abort(); }
void conv2d_backward(ng_graph *g, ng_tensor *t) { (void)g; (void)t; abort(); }
void conv_t2d_forward(ng_graph *g, ng_tensor *t) { (void)g; (void)t; abort(); }
void conv_t2d_backward(ng_graph *g, ng_tensor *t) { (void)g; (void)t; abort(); }
void maxpool2d_forward(ng_graph *g, ng_tensor *t) { (void)g; (void)t; abort(); }
void maxpool2d_backward(ng_graph *g, ng_tensor *t) { (void)g; (void)t; abort(); }
void avgpool2d_forward(ng_graph *g, ng_tensor *t) { (void)g; (void)t; abort(); }
void avgpool2d_backward(ng_graph *g, ng_tensor *t) { (void)g; (void)t; abort(); }
void batchnorm_forward(ng_graph *g, ng_tensor *t) { (void)g; (void)t; abort(); }
void batchnorm_backward(ng_graph *g, ng_tensor *t) { (void)g; (void)t; abort(); }
void leaky_relu_forward(ng_graph *g, ng_tensor *t) { (void)g; (void)t; abort(); }
void leaky_relu_backward(ng_graph *g, ng_tensor *t) { (void)g; (void)t; abort(); }
void sigmoid_forward(ng_graph *g, ng_tensor *t) { (void)g; (void)t; abort(); }
void sigmoid_backward(ng_graph *g, ng_tensor *t) { (void)g; (void)t; abort(); }
void tanh_forward(ng_graph *g, ng_tensor *t) { (void)g; (void)t; abort(); }
void tanh_backward(ng_graph *g, ng_tensor *t) { (void)g; (void)t; abort(); }
void bce_logits_forward(ng_graph *g, ng_tensor *t) { (void)g; (void)t; abort(); }
void bce_logits_backward(ng_graph *g, ng_tensor *t) { (void)g; (void)t; abort(); }
void mse_forward(ng_graph *g, ng_tensor *t) { (void)g; (void)t; abort(); }
void mse_backward(ng_graph *g, ng_tensor *t) { (void)g; (void)t; abort(); }
void gauss_kl_forward(ng_graph *g, ng_tensor *t) { (void)g; (void)t; abort(); }
void gauss_kl_backward(ng_graph *g, ng_tensor *t) { (void)g; (void)t; abort(); }
void reparam_forward(ng_graph *g, ng_tensor *t) { (void)g; (void)t; abort(); }
void reparam_backward(ng_graph *g, ng_tensor *t) { (void)g; (void)t; abort(); }
/* builder placeholders (the real ones go to src/graph_image.c; delete this file then) */
#define NG_STUB_BUILDER(sig) sig { ng_set_error("image ops are not built yet"); return NULL; }
NG_STUB_BUILDER(ng_tensor *ng_conv2d(ng_graph *g, ng_tensor *x, ng_tensor *w, ng_tensor *b, int stride, int pad))
NG_STUB_BUILDER(ng_tensor *ng_conv_transpose2d(ng_graph *g, ng_tensor *x, ng_tensor *w, ng_tensor *b, int stride, int pad))
NG_STUB_BUILDER(ng_tensor *ng_batchnorm(ng_graph *g, ng_tensor *x, ng_tensor *w, ng_tensor *b, ng_tensor *rm, ng_tensor *rv, float eps, float momentum))
NG_STUB_BUILDER(ng_tensor *ng_leaky_relu(ng_graph *g, ng_tensor *x, float slope))
NG_STUB_BUILDER(ng_tensor *ng_sigmoid(ng_graph *g, ng_tensor *x))
NG_STUB_BUILDER(ng_tensor *ng_tanh(ng_graph *g, ng_tensor *x))
NG_STUB_BUILDER(ng_tensor *ng_bce_logits(ng_graph *g, ng_tensor *logits, ng_tensor *targets, ng_reduction r))
NG_STUB_BUILDER(ng_tensor *ng_gauss_kl(ng_graph *g, ng_tensor *mu, ng_tensor *logvar, ng_reduction r))
NG_STUB_BUILDER(ng_tensor *ng_reparam(ng_graph *g, ng_tensor *mu, ng_tensor *logvar, ng_tensor *eps))

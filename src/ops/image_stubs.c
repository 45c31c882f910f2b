/* image_stubs.c - placeholders until the image kernels land (they abort if called). */
#include "graph_internal.h"
#include <stdlib.h>

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

/* attention_ref.h - the plain twins of the fused attention kernels (src/ops/attention.c):
 * one dot product per (query, key) pair. Private to the library and its tests, which compare
 * the fast kernels against them. Same contract as attention_forward / attention_backward. */
#ifndef NG_ATTENTION_REF_H
#define NG_ATTENTION_REF_H
#include "graph/graph_internal.h"

void ng_ref_attention_forward(ng_graph *g, ng_tensor *t);
void ng_ref_attention_backward(ng_graph *g, ng_tensor *t);
/* Attention nodes built from now on keep P (B,H,T,T) for backward when T <= max_t, else only
 * each row's softmax max and inverse sum (B,H,T,2) (a negative max_t changes nothing);
 * returns the previous value. */
int ng__attention_keep_p_max_t(int max_t);
#endif

/* attention_ref.h - the plain twins of the fused attention kernels (src/ops/attention.c):
 * one dot product per (query, key) pair. Private to the library and its tests, which compare
 * the fast kernels against them. Same contract as attention_forward / attention_backward. */
#ifndef NG_ATTENTION_REF_H
#define NG_ATTENTION_REF_H
#include "graph/graph_internal.h"

void ng_ref_attention_forward(ng_graph *g, ng_tensor *t);
void ng_ref_attention_backward(ng_graph *g, ng_tensor *t);
#endif

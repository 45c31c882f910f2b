/* graph_internal.h - the graph structure and the op kernel table, private to the library. */
#ifndef NG_GRAPH_INTERNAL_H
#define NG_GRAPH_INTERNAL_H
#include "core/internal.h"

struct ng_graph {
    ng_tensor **nodes;   /* every tensor this graph created (owned) */
    int n_nodes, cap_nodes;
    ng_tensor **order;   /* execution order after finalize */
    int n_order;
    ng_tensor *out;
    ng_tensor **params;  /* after finalize: the parameters the ops in order read, once each */
    float **parked;      /* (n_params) their gradient pointers while ng_graph_backward_inputs runs */
    int n_params;
    int training;
    uint64_t drop_seed, drop_step;
    int detect_anomaly;  /* check every op's output and gradients for NaN/Inf (src/graph/anomaly.c) */
    int anomaly;         /* the last forward/backward stopped at a non-finite value */
};

/* Per-op kernels: forward computes t from its sources; backward accumulates (+=) t->grad
 * into the gradients of the sources that require one. */
typedef void (*ng_kernel_fn)(ng_graph *g, ng_tensor *t);
typedef struct { const char *name; ng_kernel_fn forward, backward; } ng_op_info;
extern const ng_op_info ng_ops[NG_OP_COUNT_];

/* Rows and columns of a tensor seen as a matrix over its last dimension. */
static inline int64_t ng_cols(const ng_tensor *t) { return t->ndim ? t->ne[t->ndim - 1] : 1; }
static inline int64_t ng_rows(const ng_tensor *t) { return t->n / (ng_cols(t) ? ng_cols(t) : 1); }
/* Dropout stream id of a node for the current step (counter-based RNG). */
static inline uint64_t ng_drop_stream(const ng_graph *g, const ng_tensor *t) {
    return g->drop_step * 1000003ull + (uint64_t)t->id;
}

/* Builder plumbing shared by graph.c and graph_image.c: a new op node with up to five
 * sources (requires_grad flows from f32 sources), op-private state, and shape errors. */
ng_tensor *ng__op_node(ng_graph *g, ng_op op, int ndim, const int64_t *ne, ng_tensor *const *src, int nsrc);
int ng__set_aux(ng_tensor *t, int64_t n);
ng_tensor *ng__shape_error(const char *op, const ng_tensor *a, const ng_tensor *b);

/* Anomaly detection (src/graph/anomaly.c): 0, or NG_ERR with ng_last_error naming the op and the
 * tensor, after op number i (of g->order) ran forward / backward. */
int ng__check_forward(ng_graph *g, int i);
int ng__check_backward(ng_graph *g, int i);

#define NG_DECL_OP(name) void name##_forward(ng_graph *g, ng_tensor *t); void name##_backward(ng_graph *g, ng_tensor *t)
NG_DECL_OP(linear); NG_DECL_OP(matmul); NG_DECL_OP(embedding); NG_DECL_OP(add); NG_DECL_OP(mul);
NG_DECL_OP(scale); NG_DECL_OP(layernorm); NG_DECL_OP(gelu); NG_DECL_OP(relu); NG_DECL_OP(attention);
NG_DECL_OP(softmax_xent); NG_DECL_OP(dropout); NG_DECL_OP(sum); NG_DECL_OP(mean);
NG_DECL_OP(conv2d); NG_DECL_OP(conv_t2d); NG_DECL_OP(maxpool2d); NG_DECL_OP(avgpool2d); NG_DECL_OP(batchnorm);
NG_DECL_OP(leaky_relu); NG_DECL_OP(sigmoid); NG_DECL_OP(tanh); NG_DECL_OP(bce_logits); NG_DECL_OP(mse);
NG_DECL_OP(gauss_kl); NG_DECL_OP(reparam);
#endif

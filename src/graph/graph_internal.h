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
    int64_t drop_row0;       /* the batch's first row in the step's whole batch: a shard's masks are the whole batch's */
    int detect_anomaly;  /* check every op's output and gradients for NaN/Inf (src/graph/anomaly.c) */
    int anomaly;         /* the last forward/backward stopped at a non-finite value */
};

/* An op's definition, one per op, static in its file under src/ops/ beside its builder:
 * forward computes t from its sources; backward accumulates (+=) t->grad into the gradients
 * of the sources that require one. */
typedef void (*ng_kernel_fn)(ng_graph *g, ng_tensor *t);
struct ng_op_def { const char *name; ng_kernel_fn forward, backward; };
extern const ng_op_def ng_op_leaf;   /* a parameter or an input: no source, nothing to run */
extern const ng_op_def ng_op_view;   /* shares its source's data and gradient (graph.c) */

/* Rows and columns of a tensor seen as a matrix over its last dimension. */
static inline int64_t ng_cols(const ng_tensor *t) { return t->ndim ? t->ne[t->ndim - 1] : 1; }
static inline int64_t ng_rows(const ng_tensor *t) { return t->n / (ng_cols(t) ? ng_cols(t) : 1); }
/* Dropout stream id of a node for the current step (counter-based RNG). */
static inline uint64_t ng_drop_stream(const ng_graph *g, const ng_tensor *t) {
    return g->drop_step * 1000003ull + (uint64_t)t->id;
}

/* Builder plumbing for the op files: a new op node with up to five sources (requires_grad
 * flows from f32 sources), op-private state, and shape errors. A builder checks shapes,
 * records the op and allocates its output and saved state once; it computes nothing. */
ng_tensor *ng__op_node(ng_graph *g, const ng_op_def *op, int ndim, const int64_t *ne, ng_tensor *const *src, int nsrc);
static inline ng_tensor *ng__op_node3(ng_graph *g, const ng_op_def *op, int ndim, const int64_t *ne,
                                      ng_tensor *a, ng_tensor *b, ng_tensor *c) {
    ng_tensor *src[3] = {a, b, c};
    return ng__op_node(g, op, ndim, ne, src, 3);
}
int ng__set_aux(ng_tensor *t, int64_t n);
ng_tensor *ng__shape_error(const char *op, const ng_tensor *a, const ng_tensor *b);
static inline int ng__same_shape(const ng_tensor *a, const ng_tensor *b) {
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++) if (a->ne[i] != b->ne[i]) return 0;
    return 1;
}
/* An f32 tensor (not an index tensor). */
static inline int ng__is_f32(const ng_tensor *t) { return t && t->data; }
/* In a builder: a NULL operand means an earlier builder failed and already set the error. */
#define NG_NEED(x) do { if (!(x)) { if (!*ng_last_error()) ng_set_error("%s: missing operand", __func__); return NULL; } } while (0)

/* Anomaly detection (src/graph/anomaly.c): 0, or NG_ERR with ng_last_error naming the op and the
 * tensor, after op number i (of g->order) ran forward / backward. */
int ng__check_forward(ng_graph *g, int i);
int ng__check_backward(ng_graph *g, int i);

#endif

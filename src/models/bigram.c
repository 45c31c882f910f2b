/* bigram.c - the lecture's first model: one V x V table of logits; the logits for the next
 * token are the row of the current token. */
#include "model_internal.h"

int bigram_declare(ng_model *m) {
    int64_t V = m->cfg.vocab_size, ne[2] = {V, V};
    m->table = ng_param(m->P, "table.weight", 2, ne, 1);
    return m->table ? NG_OK : NG_ERR;
}

/* nn.Embedding's default init: N(0, 1) */
void bigram_init(ng_model *m, ng_rng *rng) {
    for (int64_t i = 0; i < m->table->n; i++) m->table->data[i] = ng_rng_normal(rng);
}

int bigram_build(ng_model *m, ng_graph *g, int B, int T, ng_lm_graph *o) {
    int64_t bt[2] = {B, T};
    o->idx = ng_input_i32(g, "idx", 2, bt);
    o->targets = ng_input_i32(g, "targets", 2, bt);
    if (!o->idx || !o->targets) return NG_ERR;
    ng_tensor *logits = ng_embedding(g, m->table, o->idx);            /* (B,T,V) */
    int64_t nv[2] = {(int64_t)B * T, m->cfg.vocab_size};
    o->logits = ng_reshape(g, logits, 2, nv);
    o->loss = ng_softmax_xent(g, o->logits, o->targets);
    return o->loss ? NG_OK : NG_ERR;
}

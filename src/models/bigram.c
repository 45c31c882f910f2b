/* bigram.c - the lecture's first model: one V x V table of logits; the logits for the next
 * token are the row of the current token. */
#include "models/model_internal.h"

#include <stdio.h>

static int bigram_check(const ng_model_config *c) {
    if ((int64_t)c->vocab_size * c->vocab_size > ((int64_t)1 << 31))
        return ng_set_error("a bigram table of %d x %d is too large (use --tokenizer char or a smaller --vocab-size)", c->vocab_size, c->vocab_size);
    return NG_OK;
}

static int bigram_declare(ng_model *m) {
    int64_t V = m->cfg.vocab_size, ne[2] = {V, V};
    m->w.bigram.table = ng_param(m->P[0], "table.weight", 2, ne, 1);
    return m->w.bigram.table ? NG_OK : NG_ERR;
}

/* nn.Embedding's default init: N(0, 1) */
static void bigram_init(ng_model *m, ng_rng *rng) {
    ng_tensor *t = m->w.bigram.table;
    for (int64_t i = 0; i < t->n; i++) t->data[i] = ng_rng_normal(rng);
}

int ng__bigram_build(ng_model *m, ng_graph *g, int B, int T, ng_lm_graph *o) {
    int64_t bt[2] = {B, T};
    o->idx = ng_input_i32(g, "idx", 2, bt);
    o->targets = ng_input_i32(g, "targets", 2, bt);
    if (!o->idx || !o->targets) return NG_ERR;
    ng_tensor *logits = ng_embedding(g, m->w.bigram.table, o->idx);            /* (B,T,V) */
    int64_t nv[2] = {(int64_t)B * T, m->cfg.vocab_size};
    o->logits = ng_reshape(g, logits, 2, nv);
    o->loss = ng_softmax_xent(g, o->logits, o->targets);
    return o->loss ? NG_OK : NG_ERR;
}

static int bigram_describe(const ng_model_config *c, char *buf, size_t cap) {
    return snprintf(buf, cap, "block_size %d", c->block_size);
}

const ng_kind_def ng_kind_bigram = {"bigram", NG_OBJ_LM, 1, bigram_check, bigram_declare, bigram_init, bigram_describe, ng__bigram_build};

/* gpt.c - the decoder-only transformer of SPEC.md (GPT-2 style, pre-LayerNorm, tied head).
 * Parameters carry the PyTorch reference's state_dict names; backward comes from the graph. */
#include "model_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Declare one parameter with a formatted name. */
static ng_tensor *param(ng_model *m, int decay, int ndim, int64_t d0, int64_t d1, const char *fmt, int l) {
    char name[64];
    snprintf(name, sizeof name, fmt, l);
    int64_t ne[2] = {d0, d1};
    return ng_param(m->P, name, ndim, ne, decay);
}

int gpt_declare(ng_model *m) {
    const int64_t V = m->cfg.vocab_size, T = m->cfg.block_size, C = m->cfg.n_embd;
    const int L = m->cfg.n_layer;
    m->h = calloc((size_t)L, sizeof *m->h);
    if (!m->h) return ng_set_error("out of memory declaring %d layers", L);
    m->wte = param(m, 1, 2, V, C, "wte.weight", 0);
    m->wpe = param(m, 1, 2, T, C, "wpe.weight", 0);
    for (int l = 0; l < L; l++) {
        gpt_block *b = &m->h[l];
        b->ln_1_w = param(m, 0, 1, C, 0, "h.%d.ln_1.weight", l);
        b->ln_1_b = param(m, 0, 1, C, 0, "h.%d.ln_1.bias", l);
        b->c_attn_w = param(m, 1, 2, 3 * C, C, "h.%d.c_attn.weight", l);
        b->c_attn_b = param(m, 0, 1, 3 * C, 0, "h.%d.c_attn.bias", l);
        b->c_proj_w = param(m, 1, 2, C, C, "h.%d.c_proj.weight", l);
        b->c_proj_b = param(m, 0, 1, C, 0, "h.%d.c_proj.bias", l);
        b->ln_2_w = param(m, 0, 1, C, 0, "h.%d.ln_2.weight", l);
        b->ln_2_b = param(m, 0, 1, C, 0, "h.%d.ln_2.bias", l);
        b->c_fc_w = param(m, 1, 2, 4 * C, C, "h.%d.c_fc.weight", l);
        b->c_fc_b = param(m, 0, 1, 4 * C, 0, "h.%d.c_fc.bias", l);
        b->mlp_proj_w = param(m, 1, 2, C, 4 * C, "h.%d.mlp_proj.weight", l);
        b->mlp_proj_b = param(m, 0, 1, C, 0, "h.%d.mlp_proj.bias", l);
        if (!b->mlp_proj_b) return NG_ERR;
    }
    m->ln_f_w = param(m, 0, 1, C, 0, "ln_f.weight", 0);
    m->ln_f_b = param(m, 0, 1, C, 0, "ln_f.bias", 0);
    return m->ln_f_b ? NG_OK : NG_ERR;
}

/* SPEC.md: weights N(0, 0.02), residual projections N(0, 0.02/sqrt(2L)), biases 0, LN weight 1. */
void gpt_init(ng_model *m, ng_rng *rng) {
    const float proj_std = 0.02f / sqrtf(2.0f * m->cfg.n_layer);
    for (int i = 0; i < ng_params_count(m->P); i++) {
        ng_tensor *t = ng_params_get(m->P, i);
        const char *name = t->name;
        size_t len = strlen(name);
        int is_ln = strstr(name, "ln_") != NULL;
        if (t->ndim == 2) {
            int proj = strstr(name, "c_proj.weight") || strstr(name, "mlp_proj.weight");
            float std = proj ? proj_std : 0.02f;
            for (int64_t j = 0; j < t->n; j++) t->data[j] = std * ng_rng_normal(rng);
        } else {
            float v = (is_ln && len > 7 && strcmp(name + len - 7, ".weight") == 0) ? 1.0f : 0.0f;
            for (int64_t j = 0; j < t->n; j++) t->data[j] = v;
        }
    }
}

int gpt_build(ng_model *m, ng_graph *g, int B, int T, ng_lm_graph *o) {
    const int C = m->cfg.n_embd, H = m->cfg.n_head;
    const float p = m->cfg.dropout;
    int64_t bt[2] = {B, T};
    o->idx = ng_input_i32(g, "idx", 2, bt);
    o->targets = ng_input_i32(g, "targets", 2, bt);
    if (!o->idx || !o->targets) return NG_ERR;

    ng_tensor *pos = ng_rows_view(g, m->wpe, 0, T);                      /* (T,C) */
    ng_tensor *x = ng_dropout(g, ng_add(g, ng_embedding(g, m->wte, o->idx), pos), p);   /* (B,T,C) */
    for (int l = 0; l < m->cfg.n_layer && x; l++) {
        gpt_block *b = &m->h[l];
        ng_tensor *qkv = ng_linear(g, ng_layernorm(g, x, b->ln_1_w, b->ln_1_b, 1e-5f), b->c_attn_w, b->c_attn_b);
        ng_tensor *att = ng_attention(g, qkv, H, p);                     /* (B,T,C) */
        x = ng_add(g, x, ng_dropout(g, ng_linear(g, att, b->c_proj_w, b->c_proj_b), p));
        ng_tensor *hid = ng_gelu(g, ng_linear(g, ng_layernorm(g, x, b->ln_2_w, b->ln_2_b, 1e-5f), b->c_fc_w, b->c_fc_b));
        x = ng_add(g, x, ng_dropout(g, ng_linear(g, hid, b->mlp_proj_w, b->mlp_proj_b), p));
    }
    if (!x) return NG_ERR;
    ng_tensor *xf = ng_layernorm(g, x, m->ln_f_w, m->ln_f_b, 1e-5f);
    int64_t nc[2] = {(int64_t)B * T, C};
    o->logits = ng_linear(g, ng_reshape(g, xf, 2, nc), m->wte, NULL);   /* tied head: (B*T, V) */
    o->loss = ng_softmax_xent(g, o->logits, o->targets);
    return o->loss ? NG_OK : NG_ERR;
}

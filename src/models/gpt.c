/* gpt.c - the decoder-only transformer of SPEC.md (GPT-2 style, pre-LayerNorm, tied head), with
 * two options of nanoGPT's: the exact GELU (cfg.gelu) and no biases (cfg.no_bias). Parameters
 * carry the PyTorch reference's state_dict names; backward comes from the graph. The same model
 * for generation: src/infer/kvcache.c. */
#include "models/model_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int gpt_check(const ng_model_config *c) {
    if (c->n_layer < 1 || c->n_layer > 1024) return ng_set_error("--n-layer %d out of range [1, 1024]", c->n_layer);
    if (c->n_head < 1 || c->n_head > 1024) return ng_set_error("--n-head %d out of range [1, 1024]", c->n_head);
    if (c->n_embd < 1 || c->n_embd > 65536) return ng_set_error("--n-embd %d out of range [1, 65536]", c->n_embd);
    if (c->n_embd % c->n_head) return ng_set_error("--n-embd %d is not divisible by --n-head %d", c->n_embd, c->n_head);
    if (c->gelu != NG_GELU_TANH && c->gelu != NG_GELU_EXACT) return ng_set_error("--gelu: unknown GELU %d (tanh or exact)", c->gelu);
    if (c->no_bias != 0 && c->no_bias != 1) return ng_set_error("no_bias %d is not 0 or 1", c->no_bias);
    return NG_OK;
}

/* Declare one parameter with a formatted name. */
static ng_tensor *param(ng_model *m, int decay, int ndim, int64_t d0, int64_t d1, const char *fmt, int l) {
    char name[64];
    snprintf(name, sizeof name, fmt, l);
    int64_t ne[2] = {d0, d1};
    return ng_param(m->P[0], name, ndim, ne, decay);
}

/* A bias: declared unless the model has none (no_bias: the pointer stays NULL, and every
 * linear and LayerNorm of the GPT, training graph and KV cache alike, adds nothing). */
static ng_tensor *bias(ng_model *m, int64_t d0, const char *fmt, int l) {
    return m->cfg.no_bias ? NULL : param(m, 0, 1, d0, 0, fmt, l);
}

static int gpt_declare(ng_model *m) {
    const int64_t V = m->cfg.vocab_size, T = m->cfg.block_size, C = m->cfg.n_embd;
    const int L = m->cfg.n_layer;
    gpt_weights *w = &m->w.gpt;
    w->h = calloc((size_t)L, sizeof *w->h);
    if (!w->h) return ng_set_error("out of memory declaring %d layers", L);
    w->wte = param(m, 1, 2, V, C, "wte.weight", 0);
    w->wpe = param(m, 1, 2, T, C, "wpe.weight", 0);
    for (int l = 0; l < L; l++) {
        gpt_block *b = &w->h[l];
        b->ln_1_w = param(m, 0, 1, C, 0, "h.%d.ln_1.weight", l);
        b->ln_1_b = bias(m, C, "h.%d.ln_1.bias", l);
        b->c_attn_w = param(m, 1, 2, 3 * C, C, "h.%d.c_attn.weight", l);
        b->c_attn_b = bias(m, 3 * C, "h.%d.c_attn.bias", l);
        b->c_proj_w = param(m, 1, 2, C, C, "h.%d.c_proj.weight", l);
        b->c_proj_b = bias(m, C, "h.%d.c_proj.bias", l);
        b->ln_2_w = param(m, 0, 1, C, 0, "h.%d.ln_2.weight", l);
        b->ln_2_b = bias(m, C, "h.%d.ln_2.bias", l);
        b->c_fc_w = param(m, 1, 2, 4 * C, C, "h.%d.c_fc.weight", l);
        b->c_fc_b = bias(m, 4 * C, "h.%d.c_fc.bias", l);
        b->mlp_proj_w = param(m, 1, 2, C, 4 * C, "h.%d.mlp_proj.weight", l);
        b->mlp_proj_b = bias(m, C, "h.%d.mlp_proj.bias", l);
        const int nb = m->cfg.no_bias;
        if (!b->ln_1_w || !b->c_attn_w || !b->c_proj_w || !b->ln_2_w || !b->c_fc_w || !b->mlp_proj_w ||
            (!nb && (!b->ln_1_b || !b->c_attn_b || !b->c_proj_b || !b->ln_2_b || !b->c_fc_b || !b->mlp_proj_b)))
            return NG_ERR;
    }
    w->ln_f_w = param(m, 0, 1, C, 0, "ln_f.weight", 0);
    w->ln_f_b = bias(m, C, "ln_f.bias", 0);
    return w->wte && w->wpe && w->ln_f_w && (m->cfg.no_bias || w->ln_f_b) ? NG_OK : NG_ERR;
}

/* SPEC.md: weights N(0, 0.02), residual projections N(0, 0.02/sqrt(2L)), biases 0, LN weight 1. */
static void gpt_init(ng_model *m, ng_rng *rng) {
    const float proj_std = 0.02f / sqrtf(2.0f * m->cfg.n_layer);
    for (int i = 0; i < ng_params_count(m->P[0]); i++) {
        ng_tensor *t = ng_params_get(m->P[0], i);
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

int ng__gpt_build(ng_model *m, ng_graph *g, int B, int T, ng_lm_graph *o) {
    const int C = m->cfg.n_embd, H = m->cfg.n_head;
    const gpt_weights *w = &m->w.gpt;
    const float p = m->cfg.dropout;
    int64_t bt[2] = {B, T};
    o->idx = ng_input_i32(g, "idx", 2, bt);
    o->targets = ng_input_i32(g, "targets", 2, bt);
    if (!o->idx || !o->targets) return NG_ERR;

    ng_tensor *pos = ng_rows_view(g, w->wpe, 0, T);                      /* (T,C) */
    ng_tensor *x = ng_dropout(g, ng_add(g, ng_embedding(g, w->wte, o->idx), pos), p);   /* (B,T,C) */
    for (int l = 0; l < m->cfg.n_layer && x; l++) {
        const gpt_block *b = &w->h[l];
        ng_tensor *qkv = ng_linear(g, ng_layernorm(g, x, b->ln_1_w, b->ln_1_b, 1e-5f), b->c_attn_w, b->c_attn_b);
        ng_tensor *att = ng_attention(g, qkv, H, p);                     /* (B,T,C) */
        x = ng_add(g, x, ng_dropout(g, ng_linear(g, att, b->c_proj_w, b->c_proj_b), p));
        ng_tensor *fc = ng_linear(g, ng_layernorm(g, x, b->ln_2_w, b->ln_2_b, 1e-5f), b->c_fc_w, b->c_fc_b);
        ng_tensor *hid = m->cfg.gelu == NG_GELU_EXACT ? ng_gelu_exact(g, fc) : ng_gelu(g, fc);
        x = ng_add(g, x, ng_dropout(g, ng_linear(g, hid, b->mlp_proj_w, b->mlp_proj_b), p));
    }
    if (!x) return NG_ERR;
    ng_tensor *xf = ng_layernorm(g, x, w->ln_f_w, w->ln_f_b, 1e-5f);
    int64_t nc[2] = {(int64_t)B * T, C};
    o->logits = ng_linear(g, ng_reshape(g, xf, 2, nc), w->wte, NULL);   /* tied head: (B*T, V) */
    o->loss = ng_softmax_xent(g, o->logits, o->targets);
    return o->loss ? NG_OK : NG_ERR;
}

static int gpt_describe(const ng_model_config *c, char *buf, size_t cap) {
    return snprintf(buf, cap, "block_size %d, n_layer %d, n_head %d, n_embd %d, dropout %g%s%s", c->block_size, c->n_layer,
                    c->n_head, c->n_embd, c->dropout, c->gelu == NG_GELU_EXACT ? ", exact GELU" : "", c->no_bias ? ", no biases" : "");
}

const ng_kind_def ng_kind_gpt = {"gpt", NG_OBJ_LM, 1, gpt_check, gpt_declare, gpt_init, gpt_describe, ng__gpt_build};

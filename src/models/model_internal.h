/* model_internal.h - the text model structure shared by model.c, gpt.c and bigram.c. */
#ifndef NG_MODEL_INTERNAL_H
#define NG_MODEL_INTERNAL_H
#include "nanogen.h"

typedef struct {
    ng_tensor *ln_1_w, *ln_1_b, *c_attn_w, *c_attn_b, *c_proj_w, *c_proj_b;
    ng_tensor *ln_2_w, *ln_2_b, *c_fc_w, *c_fc_b, *mlp_proj_w, *mlp_proj_b;
} gpt_block;

struct ng_model {
    ng_model_config cfg;
    ng_params *P;
    /* bigram */
    ng_tensor *table;                 /* (V,V) */
    /* gpt */
    ng_tensor *wte, *wpe;             /* (V,C), (T,C) */
    gpt_block *h;                     /* L blocks */
    ng_tensor *ln_f_w, *ln_f_b;
};

int gpt_declare(ng_model *m);
void gpt_init(ng_model *m, ng_rng *rng);
int gpt_build(ng_model *m, ng_graph *g, int B, int T, ng_lm_graph *out);
int bigram_declare(ng_model *m);
void bigram_init(ng_model *m, ng_rng *rng);
int bigram_build(ng_model *m, ng_graph *g, int B, int T, ng_lm_graph *out);
#endif

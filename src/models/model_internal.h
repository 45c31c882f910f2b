/* model_internal.h - the one model structure of every kind, and the kind table behind it
 * (model.c). Each kind's weights are its own struct (bigram.c, gpt.c, ae.c, gan.c,
 * classifier.c); struct ng_model holds the blocks of parameters and the one that is in use. */
#ifndef NG_MODEL_INTERNAL_H
#define NG_MODEL_INTERNAL_H
#include "core/internal.h"

typedef struct {
    ng_tensor *ln_1_w, *ln_1_b, *c_attn_w, *c_attn_b, *c_proj_w, *c_proj_b;
    ng_tensor *ln_2_w, *ln_2_b, *c_fc_w, *c_fc_b, *mlp_proj_w, *mlp_proj_b;
} gpt_block;

typedef struct { ng_tensor *table; } bigram_weights;               /* (V,V) */

typedef struct {
    ng_tensor *wte, *wpe;             /* (V,C), (T,C) */
    gpt_block *h;                     /* L blocks */
    ng_tensor *ln_f_w, *ln_f_b;
} gpt_weights;

/* AE / DAE / VAE: the MLP (fc1, mu + logvar or fc2, fc3, fc4) and, for arch conv, the encoder's
 * convolutions and the decoder's transposed ones */
typedef struct {
    ng_tensor *fc1_w, *fc1_b, *mu_w, *mu_b, *lv_w, *lv_b, *fc3_w, *fc3_b, *fc4_w, *fc4_b;
    ng_tensor *enc1_w, *enc1_b, *enc2_w, *enc2_b, *dec1_w, *dec1_b, *dec2_w, *dec2_b;
} ae_weights;

/* DCGAN with `stages` S (2 or 3) up/down-sampling stages.
 * generator: G.fc, G.bn<i> = g_bn[i] (i < S), G.up<i> = g_up_w[i-1], the last one's bias g_up_b;
 * discriminator: D.c<i> = d_c_w[i-1] (D.c1 with bias d_c1_b), D.bn<i> = d_bn[i-1] (i >= 2), D.fc */
typedef struct {
    int stages;
    ng_tensor *g_fc_w, *g_bn[3][4], *g_up_w[3], *g_up_b;
    ng_tensor *d_c_w[3], *d_c1_b, *d_bn[3][4], *d_fc_w, *d_fc_b;
} gan_weights;

/* classifier: conv1, conv2, fc1 (features), fc2 (logits) */
typedef struct { ng_tensor *c1_w, *c1_b, *c2_w, *c2_b, *fc1_w, *fc1_b, *fc2_w, *fc2_b; } classifier_weights;

/* A kind: what model.c needs to create, check and describe a model of it. */
typedef struct {
    const char *name;
    ng_objective objective;                            /* how it trains; NG_OBJ_LM: tokens (a tokenizer goes with it) */
    int n_blocks;                                      /* trainable blocks (a GAN: G and D) */
    int (*check)(const ng_model_config *c);            /* the kind's sizes (the modality's are checked first) */
    int (*declare)(ng_model *m);                       /* every tensor, named, in the blocks */
    void (*init)(ng_model *m, ng_rng *r);              /* from a seeded RNG */
    /* its sizes in words ("block_size 256, n_layer 6, ..."; `nanogen info`): snprintf's return */
    int (*describe)(const ng_model_config *c, char *buf, size_t cap);
    /* a text kind's training graph: B windows of T tokens -> logits, loss (NULL: an image kind,
     * whose objective's graphs are ng_ae_build, ng_classifier_build, or the GAN's
     * ng_decoder_build and ng_gan_discriminator; src/train/images.c builds and steps them) */
    int (*build_lm)(ng_model *m, ng_graph *g, int B, int T, ng_lm_graph *out);
} ng_kind_def;

struct ng_model {
    ng_model_config cfg;
    const ng_kind_def *def;
    int n_blocks;
    ng_params *P[2];      /* trainable: [0] (the model, or a GAN's generator), [1] a GAN's discriminator */
    ng_params *buf;       /* buffers: BatchNorm running statistics */
    union {
        bigram_weights bigram;
        gpt_weights gpt;
        ae_weights ae;
        gan_weights gan;
        classifier_weights clf;
    } w;
};

/* the kinds (their own files) */
extern const ng_kind_def ng_kind_bigram, ng_kind_gpt, ng_kind_ae, ng_kind_dae, ng_kind_vae, ng_kind_gan, ng_kind_classifier;

/* "pictures CxHxW" and the sizes every image kind has: the start of an image kind's description */
int ng__image_describe(const ng_model_config *c, char *buf, size_t cap, int hidden, int latent);

/* The language-model graphs (gpt.c, bigram.c) */
int ng__gpt_build(ng_model *m, ng_graph *g, int B, int T, ng_lm_graph *out);
int ng__bigram_build(ng_model *m, ng_graph *g, int B, int T, ng_lm_graph *out);

/* The DCGAN's stages and base size for h x w pictures (28: 2, 7; 32: 2, 8; 64: 3, 8), or NG_ERR
 * + an error naming the supported sizes. stages / base may be NULL. */
int ng__gan_shape(int h, int w, int *stages, int *base);
/* G: z (B,nz) -> images (B,c,h,w) in [-1,1] */
ng_tensor *ng__gan_generator(ng_model *m, ng_graph *g, ng_tensor *z);
/* D: images (B,c,h,w) -> logits (B,1) */
ng_tensor *ng__gan_discriminator(ng_model *m, ng_graph *g, ng_tensor *x);

/* Declaring and initialising parameters (model.c) */
/* Fill t with U(-bound, bound). */
void ng__init_uniform(ng_tensor *t, float bound, ng_rng *r);
/* PyTorch's default init of a block declared as weight, bias pairs: U(+-1/sqrt(fan_in)) with
 * fan_in = the weight's elements per row of dim 0 (Linear: in; Conv2d: in*k*k; ConvTranspose2d:
 * out*k*k, as weight.size(1)*k*k); a bias uses the fan_in of the weight declared before it. */
void ng__init_default(ng_params *P, ng_rng *r);
/* A parameter of shape (a[,b[,c[,d]]]) (no weight decay). */
ng_tensor *ng__decl(ng_params *P, const char *name, int ndim, int64_t a, int64_t b, int64_t c, int64_t d);
/* nn.Linear(in, out): NAME.weight (out, in) and NAME.bias (out), no weight decay */
int ng__linear_decl(ng_params *P, ng_tensor **w, ng_tensor **b, const char *name, int in, int out);
/* the default init of every kind whose parameters are nn defaults (block 0) */
void ng__init_block0(ng_model *m, ng_rng *r);
#endif

/* nanogen/model.h - one model type for every kind (bigram, GPT, AE, DAE, VAE, GAN, classifier):
 * kinds, configs, creating and initialising a model, its parameter blocks, and the graphs each
 * kind builds (the language model's, the auto-encoders', the decoder alone, the classifier's).
 * Part of <nanogen.h>. */
#ifndef NANOGEN_MODEL_H
#define NANOGEN_MODEL_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ models (every kind) */
/* One model type for every kind, text and images (src/models/model.c holds the kind table). */
typedef enum {
    NG_MODEL_BIGRAM = 0, NG_MODEL_GPT = 1,                /* text: tokens in, next-token logits out */
    NG_MODEL_AE, NG_MODEL_DAE, NG_MODEL_VAE, NG_MODEL_GAN,
    NG_MODEL_CLASSIFIER                                   /* images */
} ng_model_kind;
#define NG_MODEL_KINDS 7
/* Architecture of the AE/DAE/VAE: SPEC.md's MLP (default) or a small conv net (size divisible by 4). */
typedef enum { NG_ARCH_MLP = 0, NG_ARCH_CONV = 1 } ng_model_arch;
/* The GPT's GELU: the tanh approximation (GPT-2, SPEC.md; the default) or the exact one,
 * 0.5 x (1 + erf(x / sqrt 2)) (nanoGPT's nn.GELU()). */
typedef enum { NG_GELU_TANH = 0, NG_GELU_EXACT = 1 } ng_gelu_kind;
typedef struct {
    ng_model_kind kind;
    /* text kinds */
    int vocab_size;     /* V */
    int block_size;     /* T: the longest context (GPT) / the training window (bigram) */
    int n_layer, n_head, n_embd;   /* L, H, C (GPT only) */
    float dropout;
    int gelu;           /* GPT: ng_gelu_kind (JSON "gelu": "tanh" | "exact"; absent = tanh) */
    int no_bias;        /* GPT: linears without bias, LayerNorms with a weight only (nanoGPT's
                           bias=False; JSON "bias": false; absent = biases) */
    /* image kinds */
    int c, h, w;        /* image shape */
    int hidden;         /* MLP width (400 in SPEC.md's VAE; the classifier's features, 128) */
    int latent;         /* z size (20 for the VAE, 100 for the GAN's noise) */
    float beta;         /* VAE: weight of the KL term (1) */
    int arch;           /* ng_model_arch (AE/DAE/VAE; JSON "arch", absent = "mlp") */
    int n_classes;      /* classifier: number of classes (10; JSON "classes") */
} ng_model_config;
typedef struct ng_model ng_model;
/* "bigram", "gpt", "ae", "dae", "vae", "gan", "classifier" ("?" for no kind) */
NG_API const char *ng_model_kind_name(ng_model_kind k);
/* The kind named `name`: NG_OK, or NG_ERR (no error set) when there is none. */
NG_API int ng_model_kind_parse(const char *name, ng_model_kind *k);
/* 1 for a text kind (bigram, gpt: a tokenizer goes with it), 0 for an image kind. */
NG_API int ng_model_kind_is_text(ng_model_kind k);
/* Check a config: every size of the kind in range (text: n_embd divisible by n_head, dropout in
 * [0,1); images: 1 or 3 channels, the sizes the architecture allows). The error names the
 * offending flag (--n-head, --latent, ...). */
NG_API int ng_model_config_check(const ng_model_config *c);
/* Number of values a model of this config holds: every parameter block and the buffers (what
 * its checkpoint stores; SPEC.md: V*C + T*C + L*(12*C*C + 13*C) + 2*C for a GPT;
 * without biases V*C + T*C + L*(12*C*C + 2*C) + C). -1 + error
 * for an invalid config. Allocates nothing large: checkpoint loaders compare it with the file
 * before creating the model. */
NG_API int64_t ng_model_param_count(const ng_model_config *c);
/* JSON of a config (malloc'd) and back (validated): text kinds {"model": "gpt", "vocab_size",
 * "block_size", "n_layer", "n_head", "n_embd", "dropout"} (a GPT's "gelu": "exact" and "bias":
 * false written only when set: a config without them is SPEC.md's tanh GELU with biases), image kinds {"model": "vae",
 * "channels", "height", "width", "hidden", "latent", "beta", "arch" | "classes"}. */
NG_API char *ng_model_config_to_json(const ng_model_config *c);
NG_API int ng_model_config_from_json(const char *json, ng_model_config *c);

/* Create a model: its parameters named as the PyTorch reference's state_dict (GAN: "G." and "D."
 * prefixes), allocated, zero; NULL + error for an invalid config or no memory.
 * Text: SPEC.md's bigram (one V x V table) and GPT (src/models/gpt.c).
 * MLP AE/DAE/VAE: SPEC.md's VAE (fc1, mu/logvar or fc2, fc3, fc4).
 * Conv AE/DAE/VAE (arch NG_ARCH_CONV): enc1 Conv(c->32,k4,s2,p1) ReLU, enc2 Conv(32->64,k4,s2,p1)
 * ReLU, flatten, fc1 (64*h/4*w/4 -> hidden) ReLU, mu/logvar (VAE) or fc2 (AE) -> latent;
 * decoder fc3 (latent -> hidden) ReLU, fc4 (hidden -> 64*h/4*w/4) ReLU, dec1 ConvT(64->32,k4,s2,p1)
 * ReLU, dec2 ConvT(32->c,k4,s2,p1) -> logits.
 * Classifier: conv1 Conv(c->32,k3,p1) ReLU MaxPool2, conv2 Conv(32->64,k3,p1) ReLU MaxPool2,
 * flatten, fc1 (64*h/4*w/4 -> hidden, 128) ReLU = the features, fc2 (hidden -> n_classes).
 * GAN (DCGAN, src/models/gan.c): square pictures of 28 (SPEC.md's net: base 7x7, two stages),
 * 32 (base 8x8, two stages) or 64 pixels (base 8x8, three stages: G.up3, D.c3, D.bn3), c 1 or 3. */
NG_API ng_model *ng_model_new(const ng_model_config *cfg);
NG_API void ng_model_free(ng_model *m);
/* Initialise from a seed: SPEC.md's GPT init (N(0, 0.02), projections N(0, 0.02/sqrt(2L))), the
 * bigram's N(0, 1); image kinds as PyTorch does (nn.Linear / nn.Conv2d / nn.ConvTranspose2d
 * defaults U(+-1/sqrt(fan_in)); GAN weights N(0, 0.02), BatchNorm 1, 0). */
NG_API void ng_model_init(ng_model *m, uint64_t seed);
/* Trainable parameter blocks: 1, or 2 for a GAN (0 = generator, 1 = discriminator), each with
 * its own optimizer; ng_model_params is block 0. */
NG_API int ng_model_n_blocks(const ng_model *m);
NG_API ng_params *ng_model_block(ng_model *m, int block);
NG_API ng_params *ng_model_params(ng_model *m);
/* Non-trained state (BatchNorm running statistics), or NULL. */
NG_API ng_params *ng_model_buffers(ng_model *m);
NG_API const ng_model_config *ng_model_cfg(const ng_model *m);
/* The model's sizes in words, as `nanogen info` prints them ("block_size 256, n_layer 6, n_head 6,
 * n_embd 384, dropout 0.2"; "pictures 1x28x28, hidden 400, latent 20, beta 1"): snprintf's result. */
NG_API int ng_model_describe(const ng_model *m, char *buf, size_t cap);

/* The language-model graph of a model for B windows of T tokens. */
typedef struct {
    ng_tensor *idx;      /* (B,T) i32 inputs: fill before forward */
    ng_tensor *targets;  /* (B,T) i32 targets, -1 = ignored */
    ng_tensor *logits;   /* (B*T, V) */
    ng_tensor *loss;     /* scalar: mean cross-entropy over counted targets */
} ng_lm_graph;
NG_API int ng_model_build(ng_model *m, ng_graph *g, int B, int T, ng_lm_graph *out);

/* ------------------------------------------------------------------ image model graphs */
/* An auto-encoder / VAE graph over B images: fill x (B,c*h*w) (and, for a DAE, x_in with the
 * corrupted images; for a VAE, eps (B,latent) with N(0,1)); loss = summed over the batch
 * (divide by B for per image): reconstruction BCE (+ KL for a VAE). */
typedef struct {
    ng_tensor *x, *x_in, *eps;   /* inputs (x_in == x unless DAE) */
    ng_tensor *recon_logits;     /* (B, c*h*w) */
    ng_tensor *mu, *logvar;      /* VAE only */
    ng_tensor *rec, *kl, *loss;  /* scalars (kl NULL unless VAE) */
} ng_ae_graph;
NG_API int ng_ae_build(ng_model *m, ng_graph *g, int B, ng_ae_graph *out);
/* A GAN's discriminator over images x (B,c,h,w) -> logits (B,1), added to graph g. */
NG_API ng_tensor *ng_gan_discriminator(ng_model *m, ng_graph *g, ng_tensor *x);
/* The denoising AE's corruption of n pixels in [0,1]: Gaussian noise of std `level` clipped
 * to [0,1] (mask 0), or each pixel zeroed with probability `level` (mask 1). */
NG_API void ng_dae_corrupt(float *dst, const float *src, int64_t n, int mask, float level, ng_rng *r);
/* The decoder alone: z (B,latent) -> images (VAE/AE: in [0,1], (B, c*h*w); GAN: the
 * generator, in [-1,1], (B,c,h,w)). */
typedef struct { ng_tensor *z, *images; } ng_decoder_graph;
NG_API int ng_decoder_build(ng_model *m, ng_graph *g, int B, ng_decoder_graph *out);
/* A classifier's graph over B images: fill x (B,c,h,w) in [0,1] and labels (B) i32;
 * logits (B,n_classes), features (B,hidden) (the penultimate layer, after its ReLU),
 * loss = mean cross-entropy. Eval mode: ng_graph_set_training(g, 0). */
typedef struct {
    ng_tensor *x, *labels;
    ng_tensor *logits, *features, *loss;
} ng_classifier_graph;
NG_API int ng_classifier_build(ng_model *m, ng_graph *g, int B, ng_classifier_graph *out);

#ifdef __cplusplus
}
#endif
#endif

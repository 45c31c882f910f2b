/* ae.c - the auto-encoder family: AE, denoising AE and VAE (SPEC.md's MLP VAE, PyTorch's VAE
 * example), as an MLP or (arch conv) with a convolutional encoder and decoder; their graphs,
 * and the decoder graph of every image kind that generates (the GAN's generator too). */
#include "models/model_internal.h"

#include <stdio.h>
#include <string.h>

static int ae_check(const ng_model_config *c) {
    if (c->latent < 1 || c->latent > 65536) return ng_set_error("--latent %d out of range [1, 65536]", c->latent);
    if (c->hidden < 1 || c->hidden > 65536) return ng_set_error("--hidden %d out of range [1, 65536]", c->hidden);
    if (c->arch == NG_ARCH_CONV && (c->h % 4 || c->w % 4))
        return ng_set_error("the conv architecture needs an image size divisible by 4 (got %dx%d)", c->h, c->w);
    return NG_OK;
}

/* The MLP family: enc fc1 (D->H), [VAE: mu, logvar (H->Z) | AE: enc (H->Z)], dec fc3 (Z->H), fc4 (H->D). */
static int mlp_declare(ng_model *m) {
    const ng_model_config *c = &m->cfg;
    int D = c->c * c->h * c->w, H = c->hidden, Z = c->latent;
    ng_params *P = m->P[0];
    if (ng__linear_decl(P, &m->w.ae.fc1_w, &m->w.ae.fc1_b, "fc1", D, H)) return NG_ERR;
    if (c->kind == NG_MODEL_VAE) {
        if (ng__linear_decl(P, &m->w.ae.mu_w, &m->w.ae.mu_b, "mu", H, Z) || ng__linear_decl(P, &m->w.ae.lv_w, &m->w.ae.lv_b, "logvar", H, Z)) return NG_ERR;
    } else if (ng__linear_decl(P, &m->w.ae.mu_w, &m->w.ae.mu_b, "fc2", H, Z)) return NG_ERR;
    if (ng__linear_decl(P, &m->w.ae.fc3_w, &m->w.ae.fc3_b, "fc3", Z, H) || ng__linear_decl(P, &m->w.ae.fc4_w, &m->w.ae.fc4_b, "fc4", H, D)) return NG_ERR;
    return NG_OK;
}

/* A conv layer NAME.weight (d0,d1,k,k) and NAME.bias (nb). */
static int conv_decl(ng_params *P, ng_tensor **w, ng_tensor **b, const char *name, int d0, int d1, int k, int nb) {
    char n[64];
    snprintf(n, sizeof n, "%s.weight", name);
    *w = ng__decl(P, n, 4, d0, d1, k, k);
    snprintf(n, sizeof n, "%s.bias", name);
    *b = ng__decl(P, n, 1, nb, 0, 0, 0);
    return *w && *b ? NG_OK : NG_ERR;
}

/* The conv family (PyTorch module order): enc1, enc2, fc1, mu+logvar | fc2, fc3, fc4, dec1, dec2. */
static int conv_declare(ng_model *m) {
    const ng_model_config *c = &m->cfg;
    int F = 64 * (c->h / 4) * (c->w / 4), H = c->hidden, Z = c->latent;
    ng_params *P = m->P[0];
    if (conv_decl(P, &m->w.ae.enc1_w, &m->w.ae.enc1_b, "enc1", 32, c->c, 4, 32) ||
        conv_decl(P, &m->w.ae.enc2_w, &m->w.ae.enc2_b, "enc2", 64, 32, 4, 64) ||
        ng__linear_decl(P, &m->w.ae.fc1_w, &m->w.ae.fc1_b, "fc1", F, H)) return NG_ERR;
    if (c->kind == NG_MODEL_VAE) {
        if (ng__linear_decl(P, &m->w.ae.mu_w, &m->w.ae.mu_b, "mu", H, Z) || ng__linear_decl(P, &m->w.ae.lv_w, &m->w.ae.lv_b, "logvar", H, Z)) return NG_ERR;
    } else if (ng__linear_decl(P, &m->w.ae.mu_w, &m->w.ae.mu_b, "fc2", H, Z)) return NG_ERR;
    if (ng__linear_decl(P, &m->w.ae.fc3_w, &m->w.ae.fc3_b, "fc3", Z, H) || ng__linear_decl(P, &m->w.ae.fc4_w, &m->w.ae.fc4_b, "fc4", H, F)) return NG_ERR;
    /* ConvTranspose2d weights are (in, out, k, k) */
    if (conv_decl(P, &m->w.ae.dec1_w, &m->w.ae.dec1_b, "dec1", 64, 32, 4, 32) ||
        conv_decl(P, &m->w.ae.dec2_w, &m->w.ae.dec2_b, "dec2", 32, c->c, 4, c->c)) return NG_ERR;
    return NG_OK;
}

/* decoder: z -> fc3 -> relu -> fc4 -> logits (B, D); conv: fc4 -> relu -> (B,64,h/4,w/4) ->
 * dec1 -> relu -> dec2 -> logits (B,c,h,w) seen as (B, D) */
static ng_tensor *decode(ng_model *m, ng_graph *g, ng_tensor *z) {
    const ng_model_config *c = &m->cfg;
    ng_tensor *h = ng_linear(g, ng_relu(g, ng_linear(g, z, m->w.ae.fc3_w, m->w.ae.fc3_b)), m->w.ae.fc4_w, m->w.ae.fc4_b);
    if (c->arch != NG_ARCH_CONV || !h) return h;
    int64_t B = z->ne[0], e4[4] = {B, 64, c->h / 4, c->w / 4}, e2[2] = {B, (int64_t)c->c * c->h * c->w};
    h = ng_reshape(g, ng_relu(g, h), 4, e4);
    h = ng_relu(g, ng_conv_transpose2d(g, h, m->w.ae.dec1_w, m->w.ae.dec1_b, 2, 1));     /* (B,32,h/2,w/2) */
    h = ng_conv_transpose2d(g, h, m->w.ae.dec2_w, m->w.ae.dec2_b, 2, 1);                 /* (B,c,h,w) */
    return h ? ng_reshape(g, h, 2, e2) : NULL;
}

/* encoder trunk: x (B, D) -> relu(fc1(...)) (B, hidden); conv: enc1, enc2 first */
static ng_tensor *encode(ng_model *m, ng_graph *g, ng_tensor *x) {
    const ng_model_config *c = &m->cfg;
    if (c->arch == NG_ARCH_CONV) {
        int64_t B = x->ne[0], e4[4] = {B, c->c, c->h, c->w}, e2[2] = {B, 64 * (int64_t)(c->h / 4) * (c->w / 4)};
        ng_tensor *h = ng_relu(g, ng_conv2d(g, ng_reshape(g, x, 4, e4), m->w.ae.enc1_w, m->w.ae.enc1_b, 2, 1));   /* (B,32,h/2,w/2) */
        h = ng_relu(g, ng_conv2d(g, h, m->w.ae.enc2_w, m->w.ae.enc2_b, 2, 1));                                    /* (B,64,h/4,w/4) */
        if (!h) return NULL;
        x = ng_reshape(g, h, 2, e2);
    }
    return ng_relu(g, ng_linear(g, x, m->w.ae.fc1_w, m->w.ae.fc1_b));
}

int ng_ae_build(ng_model *m, ng_graph *g, int B, ng_ae_graph *o) {
    const ng_model_config *c = &m->cfg;
    if (c->kind != NG_MODEL_AE && c->kind != NG_MODEL_DAE && c->kind != NG_MODEL_VAE)
        return ng_set_error("a %s has no auto-encoder graph", ng_model_kind_name(c->kind));
    memset(o, 0, sizeof *o);
    int64_t D = (int64_t)c->c * c->h * c->w, xe[2] = {B, D}, ze[2] = {B, c->latent};
    o->x = ng_input(g, "x", 2, xe);
    o->x_in = c->kind == NG_MODEL_DAE ? ng_input(g, "x_noisy", 2, xe) : o->x;
    if (!o->x || !o->x_in) return NG_ERR;
    ng_tensor *h = encode(m, g, o->x_in), *z;
    if (!h) return NG_ERR;
    if (c->kind == NG_MODEL_VAE) {
        o->mu = ng_linear(g, h, m->w.ae.mu_w, m->w.ae.mu_b);
        o->logvar = ng_linear(g, h, m->w.ae.lv_w, m->w.ae.lv_b);
        o->eps = ng_input(g, "eps", 2, ze);
        z = ng_reparam(g, o->mu, o->logvar, o->eps);
    } else {
        z = ng_linear(g, h, m->w.ae.mu_w, m->w.ae.mu_b);
    }
    o->recon_logits = decode(m, g, z);
    o->rec = ng_bce_logits(g, o->recon_logits, o->x, NG_SUM);
    if (c->kind == NG_MODEL_VAE) {
        o->kl = ng_gauss_kl(g, o->mu, o->logvar, NG_SUM);
        o->loss = ng_add(g, o->rec, c->beta == 1.0f ? o->kl : ng_scale(g, o->kl, c->beta));
    } else {
        o->loss = o->rec;
    }
    if (!o->loss) return NG_ERR;
    return ng_graph_finalize(g, o->loss);
}

int ng_decoder_build(ng_model *m, ng_graph *g, int B, ng_decoder_graph *o) {
    const ng_model_config *c = &m->cfg;
    if (c->kind == NG_MODEL_CLASSIFIER || ng_model_kind_is_text(c->kind)) return ng_set_error("a %s has no decoder", ng_model_kind_name(c->kind));
    int64_t ze[2] = {B, c->latent};
    o->z = ng_input(g, "z", 2, ze);
    if (!o->z) return NG_ERR;
    if (c->kind == NG_MODEL_GAN) o->images = ng__gan_generator(m, g, o->z);
    else o->images = ng_sigmoid(g, decode(m, g, o->z));
    if (!o->images) return NG_ERR;
    return ng_graph_finalize(g, o->images);
}

void ng_dae_corrupt(float *dst, const float *src, int64_t n, int mask, float level, ng_rng *r) {
    for (int64_t i = 0; i < n; i++) {
        if (mask) dst[i] = ng_rng_uniform(r) < level ? 0.0f : src[i];
        else {
            float v = src[i] + level * ng_rng_normal(r);
            dst[i] = v < 0 ? 0 : v > 1 ? 1 : v;
        }
    }
}

static int ae_declare(ng_model *m) { return m->cfg.arch == NG_ARCH_CONV ? conv_declare(m) : mlp_declare(m); }

static int ae_describe(const ng_model_config *c, char *buf, size_t cap) { return ng__image_describe(c, buf, cap, 1, 1); }

static int vae_describe(const ng_model_config *c, char *buf, size_t cap) {
    int k = ng__image_describe(c, buf, cap, 1, 1);
    return k >= 0 && (size_t)k < cap ? k + snprintf(buf + k, cap - k, ", beta %g", c->beta) : k;
}

const ng_kind_def ng_kind_ae = {"ae", NG_OBJ_RECONSTRUCT, 1, ae_check, ae_declare, ng__init_block0, ae_describe, NULL};
const ng_kind_def ng_kind_dae = {"dae", NG_OBJ_RECONSTRUCT, 1, ae_check, ae_declare, ng__init_block0, ae_describe, NULL};
const ng_kind_def ng_kind_vae = {"vae", NG_OBJ_RECONSTRUCT, 1, ae_check, ae_declare, ng__init_block0, vae_describe, NULL};

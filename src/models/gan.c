/* gan.c - SPEC.md's DCGAN (PyTorch's DCGAN example, sized for MNIST), for c x 28x28 images, and
 * the same net one base size up for 32x32 and 64x64 pictures. With S up/down stages and the
 * base size b (28: S 2, b 7; 32: S 2, b 8; 64: S 3, b 8) and F = 64 * 2^(S-1) (128 or 256):
 *   G: z (100) -> linear F*b*b (no bias) -> BN -> ReLU -> (F,b,b) -> S-1 times [ConvT k4 s2 p1
 *      (no bias) halving the channels -> BN -> ReLU] -> ConvT 64->c k4 s2 p1 -> tanh
 *   D: Conv c->64 k4 s2 p1 -> LeakyReLU 0.2 -> S-1 times [Conv k4 s2 p1 (no bias) doubling the
 *      channels -> BN -> LeakyReLU 0.2] -> flatten -> linear F*b*b -> 1 logit
 * Names: G.fc, G.bn0, G.up1, G.bn1, ..., G.upS; D.c1, D.c2, D.bn2, ..., D.cS, D.bnS, D.fc.
 * 28x28x1 is SPEC.md's net exactly (910,658 parameters with D). */
#include "models/model_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* BatchNorm parameters (weight, bias) in P and running statistics in the buffer block. */
static int bn_decl(ng_model *m, ng_params *P, ng_tensor **bn, const char *name, int C) {
    char n[64];
    snprintf(n, sizeof n, "%s.weight", name); bn[0] = ng__decl(P, n, 1, C, 0, 0, 0);
    snprintf(n, sizeof n, "%s.bias", name); bn[1] = ng__decl(P, n, 1, C, 0, 0, 0);
    snprintf(n, sizeof n, "%s.running_mean", name); bn[2] = ng__decl(m->buf, n, 1, C, 0, 0, 0);
    snprintf(n, sizeof n, "%s.running_var", name); bn[3] = ng__decl(m->buf, n, 1, C, 0, 0, 0);
    return bn[0] && bn[1] && bn[2] && bn[3] ? NG_OK : NG_ERR;
}

int ng__gan_shape(int h, int w, int *stages, int *base) {
    int s = h == 64 ? 3 : 2;
    if (h != w || (h != 28 && h != 32 && h != 64))
        return ng_set_error("the DCGAN is for square pictures of 28, 32 or 64 pixels (--image-size 28|32|64), got %dx%d", h, w);
    if (stages) *stages = s;
    if (base) *base = h >> s;
    return NG_OK;
}

static int gan_declare(ng_model *m) {
    const int nz = m->cfg.latent, c = m->cfg.c;
    int S = 2, b = 7;
    if (ng__gan_shape(m->cfg.h, m->cfg.w, &S, &b)) return NG_ERR;
    const int F = 64 << (S - 1), FB = F * b * b;
    ng_params *G = m->P[0], *D = m->P[1];
    char n[64];
    m->w.gan.stages = S;
    m->w.gan.g_fc_w = ng__decl(G, "G.fc.weight", 2, FB, nz, 0, 0);
    if (bn_decl(m, G, m->w.gan.g_bn[0], "G.bn0", FB)) return NG_ERR;
    for (int i = 1; i <= S; i++) {      /* G.up<i>: ConvTranspose2d weight (in, out, k, k) */
        const int in = F >> (i - 1), out = i < S ? in / 2 : c;
        snprintf(n, sizeof n, "G.up%d.weight", i);
        if (!(m->w.gan.g_up_w[i - 1] = ng__decl(G, n, 4, in, out, 4, 4))) return NG_ERR;
        if (i < S) { snprintf(n, sizeof n, "G.bn%d", i); if (bn_decl(m, G, m->w.gan.g_bn[i], n, out)) return NG_ERR; }
    }
    snprintf(n, sizeof n, "G.up%d.bias", S);
    m->w.gan.g_up_b = ng__decl(G, n, 1, c, 0, 0, 0);
    m->w.gan.d_c_w[0] = ng__decl(D, "D.c1.weight", 4, 64, c, 4, 4);
    m->w.gan.d_c1_b = ng__decl(D, "D.c1.bias", 1, 64, 0, 0, 0);
    for (int i = 2; i <= S; i++) {      /* D.c<i> (no bias), D.bn<i> */
        const int out = 64 << (i - 1);
        snprintf(n, sizeof n, "D.c%d.weight", i);
        if (!(m->w.gan.d_c_w[i - 1] = ng__decl(D, n, 4, out, out / 2, 4, 4))) return NG_ERR;
        snprintf(n, sizeof n, "D.bn%d", i);
        if (bn_decl(m, D, m->w.gan.d_bn[i - 1], n, out)) return NG_ERR;
    }
    m->w.gan.d_fc_w = ng__decl(D, "D.fc.weight", 2, 1, FB, 0, 0);
    m->w.gan.d_fc_b = ng__decl(D, "D.fc.bias", 1, 1, 0, 0, 0);
    return m->w.gan.g_fc_w && m->w.gan.g_up_b && m->w.gan.d_c_w[0] && m->w.gan.d_c1_b && m->w.gan.d_fc_w && m->w.gan.d_fc_b ? NG_OK : NG_ERR;
}

static void normal(ng_tensor *t, float std, ng_rng *r) {
    for (int64_t i = 0; i < t->n; i++) t->data[i] = std * ng_rng_normal(r);
}
static void fill(ng_tensor *t, float v) {
    for (int64_t i = 0; i < t->n; i++) t->data[i] = v;
}
static void bn_init(ng_tensor **p) { fill(p[0], 1); fill(p[1], 0); fill(p[2], 0); fill(p[3], 1); }

/* Weights N(0, 0.02) (the reference re-initialises them), in the order G.fc, G.up1..S, D.c1..S,
 * D.fc; biases keep PyTorch's default U(+-1/sqrt(fan_in)); BatchNorm weight 1, bias 0, running
 * mean 0, running var 1. */
static void gan_init(ng_model *m, ng_rng *r) {
    const int S = m->w.gan.stages, c = m->cfg.c;
    normal(m->w.gan.g_fc_w, 0.02f, r);
    for (int i = 0; i < S; i++) normal(m->w.gan.g_up_w[i], 0.02f, r);
    for (int i = 0; i < S; i++) normal(m->w.gan.d_c_w[i], 0.02f, r);
    normal(m->w.gan.d_fc_w, 0.02f, r);
    ng__init_uniform(m->w.gan.g_up_b, 1.0f / sqrtf(c * 16.0f), r);    /* ConvT fan_in = weight.size(1) * k * k */
    ng__init_uniform(m->w.gan.d_c1_b, 1.0f / sqrtf(c * 16.0f), r);
    ng__init_uniform(m->w.gan.d_fc_b, 1.0f / sqrtf((float)m->w.gan.d_fc_w->ne[1]), r);
    for (int i = 0; i < S; i++) bn_init(m->w.gan.g_bn[i]);
    for (int i = 1; i < S; i++) bn_init(m->w.gan.d_bn[i]);
}

static ng_tensor *bn(ng_graph *g, ng_tensor *x, ng_tensor **p) { return ng_batchnorm(g, x, p[0], p[1], p[2], p[3], 1e-5f, 0.1f); }

ng_tensor *ng__gan_generator(ng_model *m, ng_graph *g, ng_tensor *z) {
    const int S = m->w.gan.stages;
    const int64_t B = z->ne[0], F = m->w.gan.g_up_w[0]->ne[0], b = m->cfg.h >> S, e4[4] = {B, F, b, b};
    ng_tensor *h = ng_relu(g, bn(g, ng_linear(g, z, m->w.gan.g_fc_w, NULL), m->w.gan.g_bn[0]));       /* (B,F*b*b) */
    h = ng_reshape(g, h, 4, e4);                                                            /* (B,F,b,b) */
    for (int i = 1; i < S; i++)                                                             /* (B,F/2^i,b*2^i,b*2^i) */
        h = ng_relu(g, bn(g, ng_conv_transpose2d(g, h, m->w.gan.g_up_w[i - 1], NULL, 2, 1), m->w.gan.g_bn[i]));
    return ng_tanh(g, ng_conv_transpose2d(g, h, m->w.gan.g_up_w[S - 1], m->w.gan.g_up_b, 2, 1));        /* (B,c,h,w) */
}

ng_tensor *ng__gan_discriminator(ng_model *m, ng_graph *g, ng_tensor *x) {
    const int S = m->w.gan.stages;
    const int64_t B = x->ne[0], e2[2] = {B, m->w.gan.d_fc_w->ne[1]};
    ng_tensor *h = ng_leaky_relu(g, ng_conv2d(g, x, m->w.gan.d_c_w[0], m->w.gan.d_c1_b, 2, 1), 0.2f);        /* (B,64,h/2,w/2) */
    for (int i = 1; i < S; i++)                                                                    /* (B,64*2^i,h/2^(i+1),..) */
        h = ng_leaky_relu(g, bn(g, ng_conv2d(g, h, m->w.gan.d_c_w[i], NULL, 2, 1), m->w.gan.d_bn[i]), 0.2f);
    return ng_linear(g, ng_reshape(g, h, 2, e2), m->w.gan.d_fc_w, m->w.gan.d_fc_b);                          /* (B,1) */
}

ng_tensor *ng_gan_discriminator(ng_model *m, ng_graph *g, ng_tensor *x) {
    if (m->cfg.kind != NG_MODEL_GAN) { ng_set_error("a %s is not a GAN", ng_model_kind_name(m->cfg.kind)); return NULL; }
    const ng_model_config *c = &m->cfg;
    if (!x || x->ndim != 4 || x->ne[1] != c->c || x->ne[2] != c->h || x->ne[3] != c->w) {
        ng_set_error("the discriminator takes (B,%d,%d,%d) images", c->c, c->h, c->w);
        return NULL;
    }
    return ng__gan_discriminator(m, g, x);
}

static int gan_check(const ng_model_config *c) {
    if (c->latent < 1 || c->latent > 65536) return ng_set_error("--latent %d out of range [1, 65536]", c->latent);
    if (c->arch == NG_ARCH_CONV) return ng_set_error("--arch conv is for ae, dae and vae (gan has its own architecture)");
    return ng__gan_shape(c->h, c->w, NULL, NULL);
}

/* the DCGAN's widths are fixed: no hidden size */
static int gan_describe(const ng_model_config *c, char *buf, size_t cap) { return ng__image_describe(c, buf, cap, 0, 1); }

const ng_kind_def ng_kind_gan = {"gan", NG_OBJ_ADVERSARIAL, 2, gan_check, gan_declare, gan_init, gan_describe, NULL};

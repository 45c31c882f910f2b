/* gan.c - SPEC.md's DCGAN for 28x28 grey images (PyTorch's DCGAN example, sized for MNIST).
 *   G: z (100) -> linear 6272 (no bias) -> BN -> ReLU -> (128,7,7) -> ConvT 128->64 k4 s2 p1
 *      (no bias) -> BN -> ReLU -> ConvT 64->1 k4 s2 p1 -> tanh
 *   D: Conv 1->64 k4 s2 p1 -> LeakyReLU 0.2 -> Conv 64->128 k4 s2 p1 (no bias) -> BN ->
 *      LeakyReLU 0.2 -> flatten -> linear 6272 -> 1 logit */
#include "imodel_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static ng_tensor *decl(ng_params *P, const char *name, int ndim, int64_t a, int64_t b, int64_t c, int64_t d) {
    int64_t ne[4] = {a, b, c, d};
    return ng_param(P, name, ndim, ne, 0);
}

/* BatchNorm parameters (weight, bias) in P and running statistics in the buffer block. */
static int bn_decl(ng_imodel *m, ng_params *P, ng_tensor **bn, const char *name, int C) {
    char n[64];
    snprintf(n, sizeof n, "%s.weight", name); bn[0] = decl(P, n, 1, C, 0, 0, 0);
    snprintf(n, sizeof n, "%s.bias", name); bn[1] = decl(P, n, 1, C, 0, 0, 0);
    snprintf(n, sizeof n, "%s.running_mean", name); bn[2] = decl(m->buf, n, 1, C, 0, 0, 0);
    snprintf(n, sizeof n, "%s.running_var", name); bn[3] = decl(m->buf, n, 1, C, 0, 0, 0);
    return bn[0] && bn[1] && bn[2] && bn[3] ? NG_OK : NG_ERR;
}

int gan_declare(ng_imodel *m) {
    const int nz = m->cfg.latent;
    ng_params *G = m->P[0], *D = m->P[1];
    m->g_fc_w = decl(G, "G.fc.weight", 2, 6272, nz, 0, 0);
    if (bn_decl(m, G, m->g_bn0, "G.bn0", 6272)) return NG_ERR;
    m->g_up1_w = decl(G, "G.up1.weight", 4, 128, 64, 4, 4);
    if (bn_decl(m, G, m->g_bn1, "G.bn1", 64)) return NG_ERR;
    m->g_up2_w = decl(G, "G.up2.weight", 4, 64, 1, 4, 4);
    m->g_up2_b = decl(G, "G.up2.bias", 1, 1, 0, 0, 0);
    m->d_c1_w = decl(D, "D.c1.weight", 4, 64, 1, 4, 4);
    m->d_c1_b = decl(D, "D.c1.bias", 1, 64, 0, 0, 0);
    m->d_c2_w = decl(D, "D.c2.weight", 4, 128, 64, 4, 4);
    if (bn_decl(m, D, m->d_bn2, "D.bn2", 128)) return NG_ERR;
    m->d_fc_w = decl(D, "D.fc.weight", 2, 1, 6272, 0, 0);
    m->d_fc_b = decl(D, "D.fc.bias", 1, 1, 0, 0, 0);
    return m->d_fc_b && m->g_up2_b ? NG_OK : NG_ERR;
}

static void normal(ng_tensor *t, float std, ng_rng *r) {
    for (int64_t i = 0; i < t->n; i++) t->data[i] = std * ng_rng_normal(r);
}
static void fill(ng_tensor *t, float v) {
    for (int64_t i = 0; i < t->n; i++) t->data[i] = v;
}

/* Weights N(0, 0.02) (the reference re-initialises them); biases keep PyTorch's default
 * U(+-1/sqrt(fan_in)); BatchNorm weight 1, bias 0, running mean 0, running var 1. */
void gan_init(ng_imodel *m, ng_rng *r) {
    ng_tensor *w[] = {m->g_fc_w, m->g_up1_w, m->g_up2_w, m->d_c1_w, m->d_c2_w, m->d_fc_w};
    for (size_t i = 0; i < sizeof w / sizeof *w; i++) normal(w[i], 0.02f, r);
    ng__init_uniform(m->g_up2_b, 1.0f / sqrtf(1 * 16.0f), r);    /* ConvT fan_in = weight.size(1) * k * k */
    ng__init_uniform(m->d_c1_b, 1.0f / sqrtf(1 * 16.0f), r);
    ng__init_uniform(m->d_fc_b, 1.0f / sqrtf(6272.0f), r);
    ng_tensor **bns[] = {m->g_bn0, m->g_bn1, m->d_bn2};
    for (int i = 0; i < 3; i++) { fill(bns[i][0], 1); fill(bns[i][1], 0); fill(bns[i][2], 0); fill(bns[i][3], 1); }
}

static ng_tensor *bn(ng_graph *g, ng_tensor *x, ng_tensor **p) { return ng_batchnorm(g, x, p[0], p[1], p[2], p[3], 1e-5f, 0.1f); }

ng_tensor *gan_generator(ng_imodel *m, ng_graph *g, ng_tensor *z) {
    int64_t B = z->ne[0], e4[4] = {B, 128, 7, 7};
    ng_tensor *h = ng_relu(g, bn(g, ng_linear(g, z, m->g_fc_w, NULL), m->g_bn0));     /* (B,6272) */
    h = ng_reshape(g, h, 4, e4);                                                         /* (B,128,7,7) */
    h = ng_relu(g, bn(g, ng_conv_transpose2d(g, h, m->g_up1_w, NULL, 2, 1), m->g_bn1)); /* (B,64,14,14) */
    return ng_tanh(g, ng_conv_transpose2d(g, h, m->g_up2_w, m->g_up2_b, 2, 1));        /* (B,1,28,28) */
}

ng_tensor *gan_discriminator(ng_imodel *m, ng_graph *g, ng_tensor *x) {
    int64_t B = x->ne[0], e2[2] = {B, 6272};
    ng_tensor *h = ng_leaky_relu(g, ng_conv2d(g, x, m->d_c1_w, m->d_c1_b, 2, 1), 0.2f);   /* (B,64,14,14) */
    h = ng_leaky_relu(g, bn(g, ng_conv2d(g, h, m->d_c2_w, NULL, 2, 1), m->d_bn2), 0.2f);  /* (B,128,7,7) */
    return ng_linear(g, ng_reshape(g, h, 2, e2), m->d_fc_w, m->d_fc_b);                   /* (B,1) */
}

ng_tensor *ng_gan_discriminator(ng_imodel *m, ng_graph *g, ng_tensor *x) {
    if (m->cfg.kind != NG_IMG_GAN) { ng_set_error("not a GAN"); return NULL; }
    return gan_discriminator(m, g, x);
}

/* imodel_internal.h - the image model structure shared by imodel.c and gan.c. */
#ifndef NG_IMODEL_INTERNAL_H
#define NG_IMODEL_INTERNAL_H
#include "nanogen.h"

struct ng_imodel {
    ng_imodel_config cfg;
    int n_blocks;
    ng_params *P[2];      /* trainable: [0] (AE/VAE or generator), [1] discriminator */
    ng_params *buf;       /* BatchNorm running statistics */
    /* MLP family */
    ng_tensor *fc1_w, *fc1_b, *mu_w, *mu_b, *lv_w, *lv_b, *fc3_w, *fc3_b, *fc4_w, *fc4_b;
    /* conv AE family (arch conv): encoder convs, decoder transposed convs */
    ng_tensor *enc1_w, *enc1_b, *enc2_w, *enc2_b, *dec1_w, *dec1_b, *dec2_w, *dec2_b;
    /* classifier: conv1, conv2, fc1 (features), fc2 (logits) */
    ng_tensor *cl_c1_w, *cl_c1_b, *cl_c2_w, *cl_c2_b, *cl_fc1_w, *cl_fc1_b, *cl_fc2_w, *cl_fc2_b;
    /* DCGAN (gan.c) with gan_stages S (2 or 3) up/down-sampling stages.
     * generator: G.fc, G.bn<i> = g_bn[i] (i < S), G.up<i> = g_up_w[i-1], the last one's bias g_up_b */
    int gan_stages;
    ng_tensor *g_fc_w, *g_bn[3][4], *g_up_w[3], *g_up_b;
    /* discriminator: D.c<i> = d_c_w[i-1] (D.c1 with bias d_c1_b), D.bn<i> = d_bn[i-1] (i >= 2), D.fc */
    ng_tensor *d_c_w[3], *d_c1_b, *d_bn[3][4], *d_fc_w, *d_fc_b;
};

/* The DCGAN's stages and base size for h x w pictures (28: 2, 7; 32: 2, 8; 64: 3, 8), or NG_ERR
 * + an error naming the supported sizes. stages / base may be NULL. */
int gan_shape(int h, int w, int *stages, int *base);
int gan_declare(ng_imodel *m);
void gan_init(ng_imodel *m, ng_rng *r);
/* G: z (B,nz) -> images (B,c,h,w) in [-1,1] */
ng_tensor *gan_generator(ng_imodel *m, ng_graph *g, ng_tensor *z);
/* D: images (B,c,h,w) -> logits (B,1) */
ng_tensor *gan_discriminator(ng_imodel *m, ng_graph *g, ng_tensor *x);
/* Fill t with U(-bound, bound). */
void ng__init_uniform(ng_tensor *t, float bound, ng_rng *r);
/* PyTorch's default init of a block declared as weight, bias pairs: U(+-1/sqrt(fan_in)) with
 * fan_in = the weight's elements per row of dim 0 (Linear: in; Conv2d: in*k*k; ConvTranspose2d:
 * out*k*k, as weight.size(1)*k*k); a bias uses the fan_in of the weight declared before it. */
void ng__init_default(ng_params *P, ng_rng *r);
/* A parameter of shape (a[,b[,c[,d]]]) (no weight decay). */
ng_tensor *ng__decl(ng_params *P, const char *name, int ndim, int64_t a, int64_t b, int64_t c, int64_t d);
int classifier_declare(ng_imodel *m);
#endif

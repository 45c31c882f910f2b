/* imodel.c - image models: configs, parameters, and the MLP auto-encoder family
 * (AE, denoising AE, VAE as in SPEC.md / PyTorch's VAE example). GAN: gan.c. */
#include "imodel_internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *KIND_NAMES[] = {"ae", "dae", "vae", "gan", "classifier"};
#define N_KINDS 5

const char *ng_imodel_kind_name(ng_imodel_kind k) { return (unsigned)k < N_KINDS ? KIND_NAMES[k] : "?"; }

int ng_imodel_config_check(const ng_imodel_config *c) {
    if ((unsigned)c->kind > NG_IMG_CLASSIFIER) return ng_set_error("unknown image model kind %d", c->kind);
    const int ae = c->kind == NG_IMG_AE || c->kind == NG_IMG_DAE || c->kind == NG_IMG_VAE;
    if (c->c != 1 && c->c != 3) return ng_set_error("--channels %d: images have 1 or 3 channels", c->c);
    if (c->h < 4 || c->w < 4 || c->h > 1024 || c->w > 1024) return ng_set_error("image size %dx%d out of range [4, 1024]", c->h, c->w);
    if (c->kind != NG_IMG_CLASSIFIER && (c->latent < 1 || c->latent > 65536)) return ng_set_error("--latent %d out of range [1, 65536]", c->latent);
    if (c->kind != NG_IMG_GAN && (c->hidden < 1 || c->hidden > 65536)) return ng_set_error("--hidden %d out of range [1, 65536]", c->hidden);
    if (!(c->beta >= 0 && c->beta <= 1e6)) return ng_set_error("--beta %g out of range [0, 1e6]", c->beta);
    if (c->kind == NG_IMG_GAN && gan_shape(c->h, c->w, NULL, NULL)) return NG_ERR;
    if (c->arch != NG_ARCH_MLP && c->arch != NG_ARCH_CONV) return ng_set_error("--arch: unknown architecture %d (mlp or conv)", c->arch);
    if (c->arch == NG_ARCH_CONV && !ae) return ng_set_error("--arch conv is for ae, dae and vae (%s has its own architecture)", ng_imodel_kind_name(c->kind));
    if ((c->arch == NG_ARCH_CONV || c->kind == NG_IMG_CLASSIFIER) && (c->h % 4 || c->w % 4))
        return ng_set_error("the %s needs an image size divisible by 4 (got %dx%d)", c->kind == NG_IMG_CLASSIFIER ? "classifier" : "conv architecture", c->h, c->w);
    if (c->kind == NG_IMG_CLASSIFIER && (c->n_classes < 2 || c->n_classes > 65536))
        return ng_set_error("classifier: %d classes, need 2 to 65536 (a labelled data set)", c->n_classes);
    return NG_OK;
}

char *ng_imodel_config_to_json(const ng_imodel_config *c) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", ng_imodel_kind_name(c->kind));
    cJSON_AddNumberToObject(o, "channels", c->c);
    cJSON_AddNumberToObject(o, "height", c->h);
    cJSON_AddNumberToObject(o, "width", c->w);
    cJSON_AddNumberToObject(o, "hidden", c->hidden);
    cJSON_AddNumberToObject(o, "latent", c->latent);
    cJSON_AddNumberToObject(o, "beta", c->beta);
    if (c->kind != NG_IMG_GAN && c->kind != NG_IMG_CLASSIFIER) cJSON_AddStringToObject(o, "arch", c->arch == NG_ARCH_CONV ? "conv" : "mlp");
    if (c->kind == NG_IMG_CLASSIFIER) cJSON_AddNumberToObject(o, "classes", c->n_classes);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

static int jint(const cJSON *o, const char *k, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    /* the range first: converting a double outside int's range (1e300, inf) is undefined */
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= -2147483648.0 && v->valuedouble <= 2147483647.0) ||
        v->valuedouble != (double)(int)v->valuedouble) return ng_set_error("image model config: '%s' missing or not an integer", k);
    *out = (int)v->valuedouble;
    return NG_OK;
}

int ng_imodel_config_from_json(const char *json, ng_imodel_config *c) {
    memset(c, 0, sizeof *c);
    cJSON *o = json ? cJSON_Parse(json) : NULL;
    int rc = NG_ERR;
    if (!cJSON_IsObject(o)) { ng_set_error("image model config is not a JSON object"); goto done; }
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(o, "model");
    int kind = -1;
    for (int i = 0; i < N_KINDS && cJSON_IsString(k); i++) if (!strcmp(k->valuestring, KIND_NAMES[i])) kind = i;
    if (kind < 0) { ng_set_error("image model config: unknown or missing 'model'"); goto done; }
    c->kind = (ng_imodel_kind)kind;
    if (jint(o, "channels", &c->c) || jint(o, "height", &c->h) || jint(o, "width", &c->w) || jint(o, "latent", &c->latent)) goto done;
    /* a GAN has no hidden layer size: nanogen writes --hidden's default, a PyTorch writer may leave it out */
    c->hidden = 400;
    if ((c->kind != NG_IMG_GAN || cJSON_GetObjectItemCaseSensitive(o, "hidden")) && jint(o, "hidden", &c->hidden)) goto done;
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(o, "beta");
    double bv = cJSON_IsNumber(b) ? b->valuedouble : 1.0;
    if (!(bv >= 0 && bv <= 1e6)) { ng_set_error("image model config: 'beta' %g out of range [0, 1e6]", bv); goto done; }
    c->beta = (float)bv;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "arch");
    if (a && !(cJSON_IsString(a) && (!strcmp(a->valuestring, "mlp") || !strcmp(a->valuestring, "conv")))) {
        ng_set_error("image model config: 'arch' is not \"mlp\" or \"conv\"");
        goto done;
    }
    c->arch = a && !strcmp(a->valuestring, "conv") ? NG_ARCH_CONV : NG_ARCH_MLP;
    if (c->kind == NG_IMG_CLASSIFIER && jint(o, "classes", &c->n_classes)) goto done;
    rc = ng_imodel_config_check(c);
done:
    cJSON_Delete(o);
    return rc;
}

/* nn.Linear(in, out) with PyTorch's default init: weight and bias U(-1/sqrt(in), 1/sqrt(in)). */
static int linear_decl(ng_params *P, ng_tensor **w, ng_tensor **b, const char *name, int in, int out) {
    char n[64];
    int64_t we[2] = {out, in}, be[1] = {out};
    snprintf(n, sizeof n, "%s.weight", name);
    *w = ng_param(P, n, 2, we, 0);
    snprintf(n, sizeof n, "%s.bias", name);
    *b = ng_param(P, n, 1, be, 0);
    return *w && *b ? NG_OK : NG_ERR;
}

void ng__init_uniform(ng_tensor *t, float bound, ng_rng *r) {
    for (int64_t i = 0; i < t->n; i++) t->data[i] = (2.0f * ng_rng_uniform(r) - 1.0f) * bound;
}

/* The MLP family: enc fc1 (D->H), [VAE: mu, logvar (H->Z) | AE: enc (H->Z)], dec fc3 (Z->H), fc4 (H->D). */
static int mlp_declare(ng_imodel *m) {
    const ng_imodel_config *c = &m->cfg;
    int D = c->c * c->h * c->w, H = c->hidden, Z = c->latent;
    ng_params *P = m->P[0];
    if (linear_decl(P, &m->fc1_w, &m->fc1_b, "fc1", D, H)) return NG_ERR;
    if (c->kind == NG_IMG_VAE) {
        if (linear_decl(P, &m->mu_w, &m->mu_b, "mu", H, Z) || linear_decl(P, &m->lv_w, &m->lv_b, "logvar", H, Z)) return NG_ERR;
    } else if (linear_decl(P, &m->mu_w, &m->mu_b, "fc2", H, Z)) return NG_ERR;
    if (linear_decl(P, &m->fc3_w, &m->fc3_b, "fc3", Z, H) || linear_decl(P, &m->fc4_w, &m->fc4_b, "fc4", H, D)) return NG_ERR;
    return NG_OK;
}

ng_tensor *ng__decl(ng_params *P, const char *name, int ndim, int64_t a, int64_t b, int64_t c, int64_t d) {
    int64_t ne[4] = {a, b, c, d};
    return ng_param(P, name, ndim, ne, 0);
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
static int conv_declare(ng_imodel *m) {
    const ng_imodel_config *c = &m->cfg;
    int F = 64 * (c->h / 4) * (c->w / 4), H = c->hidden, Z = c->latent;
    ng_params *P = m->P[0];
    if (conv_decl(P, &m->enc1_w, &m->enc1_b, "enc1", 32, c->c, 4, 32) ||
        conv_decl(P, &m->enc2_w, &m->enc2_b, "enc2", 64, 32, 4, 64) ||
        linear_decl(P, &m->fc1_w, &m->fc1_b, "fc1", F, H)) return NG_ERR;
    if (c->kind == NG_IMG_VAE) {
        if (linear_decl(P, &m->mu_w, &m->mu_b, "mu", H, Z) || linear_decl(P, &m->lv_w, &m->lv_b, "logvar", H, Z)) return NG_ERR;
    } else if (linear_decl(P, &m->mu_w, &m->mu_b, "fc2", H, Z)) return NG_ERR;
    if (linear_decl(P, &m->fc3_w, &m->fc3_b, "fc3", Z, H) || linear_decl(P, &m->fc4_w, &m->fc4_b, "fc4", H, F)) return NG_ERR;
    /* ConvTranspose2d weights are (in, out, k, k) */
    if (conv_decl(P, &m->dec1_w, &m->dec1_b, "dec1", 64, 32, 4, 32) ||
        conv_decl(P, &m->dec2_w, &m->dec2_b, "dec2", 32, c->c, 4, c->c)) return NG_ERR;
    return NG_OK;
}

void ng__init_default(ng_params *P, ng_rng *r) {
    int64_t fan_in = 1;
    for (int i = 0; i < ng_params_count(P); i++) {
        ng_tensor *t = ng_params_get(P, i);
        if (t->ndim >= 2) fan_in = t->n / t->ne[0];
        ng__init_uniform(t, 1.0f / sqrtf((float)fan_in), r);
    }
}

/* A model with every tensor declared (names, shapes) but no storage yet. */
static ng_imodel *imodel_declare(const ng_imodel_config *cfg) {
    if (ng_imodel_config_check(cfg)) return NULL;
    ng_imodel *m = calloc(1, sizeof *m);
    if (!m) { ng_set_error("out of memory creating a model"); return NULL; }
    m->cfg = *cfg;
    m->n_blocks = cfg->kind == NG_IMG_GAN ? 2 : 1;
    for (int i = 0; i < m->n_blocks; i++) if (!(m->P[i] = ng_params_new())) goto fail;
    if (!(m->buf = ng_params_new())) goto fail;
    int drc = cfg->kind == NG_IMG_GAN ? gan_declare(m) : cfg->kind == NG_IMG_CLASSIFIER ? classifier_declare(m)
            : cfg->arch == NG_ARCH_CONV ? conv_declare(m) : mlp_declare(m);
    if (drc) goto fail;
    return m;
fail:
    ng_imodel_free(m);
    return NULL;
}

int64_t ng_imodel_param_count(const ng_imodel_config *cfg) {
    ng_imodel *m = imodel_declare(cfg);
    if (!m) return -1;
    int64_t n = ng_params_numel(m->buf);
    for (int i = 0; i < m->n_blocks; i++) n += ng_params_numel(m->P[i]);
    ng_imodel_free(m);
    return n;
}

ng_imodel *ng_imodel_new(const ng_imodel_config *cfg, uint64_t seed) {
    ng_imodel *m = imodel_declare(cfg);
    if (!m) return NULL;
    for (int i = 0; i < m->n_blocks; i++) if (ng_params_alloc(m->P[i])) goto fail;
    if (ng_params_count(m->buf) && ng_params_alloc(m->buf)) goto fail;
    ng_rng r;
    ng_rng_seed(&r, seed);
    if (cfg->kind == NG_IMG_GAN) gan_init(m, &r);
    else ng__init_default(m->P[0], &r);
    return m;
fail:
    ng_imodel_free(m);
    return NULL;
}

void ng_imodel_free(ng_imodel *m) {
    if (!m) return;
    for (int i = 0; i < 2; i++) ng_params_free(m->P[i]);
    ng_params_free(m->buf);
    free(m);
}

int ng_imodel_n_blocks(const ng_imodel *m) { return m->n_blocks; }
ng_params *ng_imodel_params(ng_imodel *m, int block) { return block >= 0 && block < m->n_blocks ? m->P[block] : NULL; }
ng_params *ng_imodel_buffers(ng_imodel *m) { return ng_params_count(m->buf) ? m->buf : NULL; }
const ng_imodel_config *ng_imodel_cfg(const ng_imodel *m) { return &m->cfg; }

/* decoder: z -> fc3 -> relu -> fc4 -> logits (B, D); conv: fc4 -> relu -> (B,64,h/4,w/4) ->
 * dec1 -> relu -> dec2 -> logits (B,c,h,w) seen as (B, D) */
static ng_tensor *decode(ng_imodel *m, ng_graph *g, ng_tensor *z) {
    const ng_imodel_config *c = &m->cfg;
    ng_tensor *h = ng_linear(g, ng_relu(g, ng_linear(g, z, m->fc3_w, m->fc3_b)), m->fc4_w, m->fc4_b);
    if (c->arch != NG_ARCH_CONV || !h) return h;
    int64_t B = z->ne[0], e4[4] = {B, 64, c->h / 4, c->w / 4}, e2[2] = {B, (int64_t)c->c * c->h * c->w};
    h = ng_reshape(g, ng_relu(g, h), 4, e4);
    h = ng_relu(g, ng_conv_transpose2d(g, h, m->dec1_w, m->dec1_b, 2, 1));     /* (B,32,h/2,w/2) */
    h = ng_conv_transpose2d(g, h, m->dec2_w, m->dec2_b, 2, 1);                 /* (B,c,h,w) */
    return h ? ng_reshape(g, h, 2, e2) : NULL;
}

/* encoder trunk: x (B, D) -> relu(fc1(...)) (B, hidden); conv: enc1, enc2 first */
static ng_tensor *encode(ng_imodel *m, ng_graph *g, ng_tensor *x) {
    const ng_imodel_config *c = &m->cfg;
    if (c->arch == NG_ARCH_CONV) {
        int64_t B = x->ne[0], e4[4] = {B, c->c, c->h, c->w}, e2[2] = {B, 64 * (int64_t)(c->h / 4) * (c->w / 4)};
        ng_tensor *h = ng_relu(g, ng_conv2d(g, ng_reshape(g, x, 4, e4), m->enc1_w, m->enc1_b, 2, 1));   /* (B,32,h/2,w/2) */
        h = ng_relu(g, ng_conv2d(g, h, m->enc2_w, m->enc2_b, 2, 1));                                    /* (B,64,h/4,w/4) */
        if (!h) return NULL;
        x = ng_reshape(g, h, 2, e2);
    }
    return ng_relu(g, ng_linear(g, x, m->fc1_w, m->fc1_b));
}

int ng_ae_build(ng_imodel *m, ng_graph *g, int B, ng_ae_graph *o) {
    const ng_imodel_config *c = &m->cfg;
    if (c->kind == NG_IMG_GAN || c->kind == NG_IMG_CLASSIFIER) return ng_set_error("a %s has no auto-encoder graph", ng_imodel_kind_name(c->kind));
    memset(o, 0, sizeof *o);
    int64_t D = (int64_t)c->c * c->h * c->w, xe[2] = {B, D}, ze[2] = {B, c->latent};
    o->x = ng_input(g, "x", 2, xe);
    o->x_in = c->kind == NG_IMG_DAE ? ng_input(g, "x_noisy", 2, xe) : o->x;
    if (!o->x || !o->x_in) return NG_ERR;
    ng_tensor *h = encode(m, g, o->x_in), *z;
    if (!h) return NG_ERR;
    if (c->kind == NG_IMG_VAE) {
        o->mu = ng_linear(g, h, m->mu_w, m->mu_b);
        o->logvar = ng_linear(g, h, m->lv_w, m->lv_b);
        o->eps = ng_input(g, "eps", 2, ze);
        z = ng_reparam(g, o->mu, o->logvar, o->eps);
    } else {
        z = ng_linear(g, h, m->mu_w, m->mu_b);
    }
    o->recon_logits = decode(m, g, z);
    o->rec = ng_bce_logits(g, o->recon_logits, o->x, NG_SUM);
    if (c->kind == NG_IMG_VAE) {
        o->kl = ng_gauss_kl(g, o->mu, o->logvar, NG_SUM);
        o->loss = ng_add(g, o->rec, c->beta == 1.0f ? o->kl : ng_scale(g, o->kl, c->beta));
    } else {
        o->loss = o->rec;
    }
    if (!o->loss) return NG_ERR;
    return ng_graph_finalize(g, o->loss);
}

int ng_decoder_build(ng_imodel *m, ng_graph *g, int B, ng_decoder_graph *o) {
    const ng_imodel_config *c = &m->cfg;
    if (c->kind == NG_IMG_CLASSIFIER) return ng_set_error("a classifier has no decoder");
    int64_t ze[2] = {B, c->latent};
    o->z = ng_input(g, "z", 2, ze);
    if (!o->z) return NG_ERR;
    if (c->kind == NG_IMG_GAN) o->images = gan_generator(m, g, o->z);
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

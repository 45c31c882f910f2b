/* images.c - what a trained image model (ae, dae, vae, gan) makes: samples from the prior,
 * latents of images (the encoder), images of latents (the decoder), reconstructions,
 * linear walks in latent space, the 2-D latent manifold, test latents for a scatter by class,
 * and the test-set numbers of `nanogen eval` (loss per image; a GAN's discriminator outputs).
 * Every graph is built once for a fixed batch (the last batch is padded: in eval mode no
 * image depends on another, BatchNorm uses its running statistics). */
#include "core/internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const FASHION_NAMES[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                              "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
static const char *const DIGIT_NAMES[10] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};

const char *const *ng_dataset_class_names(const char *spec, int n_classes) {
    if (n_classes < 1 || n_classes > 10 || !spec) return NULL;
    if (strstr(spec, "fashion")) return FASHION_NAMES;
    if (strstr(spec, "mnist")) return DIGIT_NAMES;
    return NULL;
}

/* What the checkpoint's training state says about the data. */
static void parse_train(const char *json, ng_image_train_info *t) {
    memset(t, 0, sizeof *t);
    t->size = 28; t->noise = 0.3f; t->exclude_class = -1;
    cJSON *j = json ? cJSON_Parse(json) : NULL;
    const cJSON *v;
    if (cJSON_IsString(v = cJSON_GetObjectItem(j, "data")) && v->valuestring) snprintf(t->data, sizeof t->data, "%s", v->valuestring);
    if (cJSON_IsNumber(v = cJSON_GetObjectItem(j, "image_size")) && v->valueint > 0) t->size = v->valueint;
    if (cJSON_IsNumber(v = cJSON_GetObjectItem(j, "noise"))) t->noise = (float)v->valuedouble;
    if (cJSON_IsNumber(v = cJSON_GetObjectItem(j, "noise_mask"))) t->noise_mask = v->valueint;
    if (cJSON_IsNumber(v = cJSON_GetObjectItem(j, "exclude_class")) && v->valuedouble >= 0 && v->valuedouble <= 255) t->exclude_class = v->valueint;
    cJSON_Delete(j);
}

int ng_image_model_load(const char *dir, const char *what, ng_model **m, ng_image_train_info *t) {
    *m = NULL;
    char *file = ng_checkpoint_model_path(dir), *tj = NULL;
    if (!file) return NG_ERR;
    struct stat st;
    if (stat(file, &st) != 0) {
        ng_set_error("no checkpoint at '%s' (%s: %s)", dir, file, strerror(errno));
        free(file);
        return NG_ERR;
    }
    ng_st_file *f = ng_safetensors_open(file);
    const int image = f && ng_st_meta(f, "image_config") != NULL;
    const int text = f && ng_st_meta(f, "config") && ng_st_meta(f, "tokenizer");
    ng_safetensors_close(f);
    if (!image) {
        if (text && !strcmp(what, "eval")) ng_set_error("'%s' holds a text model: give --data FILE, the text to evaluate it on", dir);
        else if (text) ng_set_error("'%s' holds a text model: %s is for image models (train ae|dae|vae|gan)", dir, what);
        else ng_set_error("'%s' is not a nanogen image-model checkpoint (no image_config metadata)", file);
        free(file);
        return NG_ERR;
    }
    free(file);
    if (ng_checkpoint_load(dir, m, NULL, &tj)) return NG_ERR;
    if (ng_model_cfg(*m)->kind == NG_MODEL_CLASSIFIER) {
        ng_set_error("'%s' holds a classifier: %s is for the generative models ae, dae, vae and gan", dir, what);
        ng_model_free(*m); *m = NULL;
        free(tj);
        return NG_ERR;
    }
    if (t) parse_train(tj, t);
    free(tj);
    return NG_OK;
}

int ng_image_test_load(const ng_model *m, const ng_image_train_info *t, const char *data, ng_images *te, const char **spec) {
    const ng_model_config *c = ng_model_cfg(m);
    *spec = data ? data : t->data;
    if (!**spec) return ng_set_error("the checkpoint does not say which data it was trained on: give --data");
    if (ng_dataset_load(*spec, "test", t->size, c->c, te)) return NG_ERR;
    if (te->n < 1) return ng_set_error("'%s': the test split is empty", *spec);
    if (te->c != c->c || te->h != c->h || te->w != c->w)
        return ng_set_error("'%s' has %dx%dx%d images but the model was trained on %dx%dx%d", *spec, te->c, te->h, te->w, c->c, c->h, c->w);
    return NG_OK;
}

static int batch_for(int n) { return n < 256 ? n : 256; }

float *ng_image_decode(ng_model *m, const float *z, int n) {
    const ng_model_config *c = ng_model_cfg(m);
    if (n < 1) { ng_set_error("decode: %d latents", n); return NULL; }
    const size_t D = (size_t)c->c * c->h * c->w, Z = (size_t)c->latent;
    int B = batch_for(n);
    float *out = ng_malloc(sizeof(float) * D * (size_t)n, "decoded images");
    ng_graph *g = ng_graph_new();
    ng_decoder_graph dg;
    if (!out || !g || ng_decoder_build(m, g, B, &dg)) { free(out); ng_graph_free(g); return NULL; }
    ng_graph_set_training(g, 0);
    for (int s = 0; s < n; s += B) {
        int b = n - s < B ? n - s : B;
        memset(dg.z->data, 0, sizeof(float) * Z * B);
        memcpy(dg.z->data, z + (size_t)s * Z, sizeof(float) * Z * b);
        ng_graph_forward(g);
        memcpy(out + (size_t)s * D, dg.images->data, sizeof(float) * D * b);
    }
    ng_graph_free(g);
    return out;
}

float *ng_image_encode(ng_model *m, const float *x, int n) {
    const ng_model_config *c = ng_model_cfg(m);
    if (c->kind == NG_MODEL_GAN) { ng_set_error("a GAN has no encoder"); return NULL; }
    if (n < 1) { ng_set_error("encode: %d images", n); return NULL; }
    const size_t D = (size_t)c->c * c->h * c->w, Z = (size_t)c->latent;
    ng_params *P = ng_model_block(m, 0);
    const char *zn = c->kind == NG_MODEL_VAE ? "mu" : "fc2";
    char wn[32], bn[32];
    snprintf(wn, sizeof wn, "%s.weight", zn);
    snprintf(bn, sizeof bn, "%s.bias", zn);
    ng_tensor *w1 = ng_params_find(P, "fc1.weight"), *b1 = ng_params_find(P, "fc1.bias");
    ng_tensor *w2 = ng_params_find(P, wn), *b2 = ng_params_find(P, bn);
    if (!w1 || !b1 || !w2 || !b2) { ng_set_error("the model has no encoder parameters fc1/%s", zn); return NULL; }
    const int conv = c->arch == NG_ARCH_CONV;
    ng_tensor *e1w = ng_params_find(P, "enc1.weight"), *e1b = ng_params_find(P, "enc1.bias");
    ng_tensor *e2w = ng_params_find(P, "enc2.weight"), *e2b = ng_params_find(P, "enc2.bias");
    if (conv && (!e1w || !e1b || !e2w || !e2b)) { ng_set_error("the conv model has no encoder parameters enc1/enc2"); return NULL; }
    int B = batch_for(n);
    int64_t xe[2] = {B, (int64_t)D}, e4[4] = {B, c->c, c->h, c->w}, f2[2] = {B, 64 * (int64_t)(c->h / 4) * (c->w / 4)};
    float *out = ng_malloc(sizeof(float) * Z * (size_t)n, "latent codes");
    ng_graph *g = ng_graph_new();
    ng_tensor *xi = g ? ng_input(g, "x", 2, xe) : NULL, *h = xi;
    if (conv && h) {   /* enc1, enc2 (stride 2 convs + ReLU), flattened: as ng_ae_build's encoder */
        h = ng_relu(g, ng_conv2d(g, ng_reshape(g, h, 4, e4), e1w, e1b, 2, 1));
        h = ng_relu(g, ng_conv2d(g, h, e2w, e2b, 2, 1));
        h = h ? ng_reshape(g, h, 2, f2) : NULL;
    }
    ng_tensor *z = h ? ng_linear(g, ng_relu(g, ng_linear(g, h, w1, b1)), w2, b2) : NULL;
    if (!out || !z || ng_graph_finalize(g, z)) { free(out); ng_graph_free(g); return NULL; }
    ng_graph_set_training(g, 0);
    for (int s = 0; s < n; s += B) {
        int b = n - s < B ? n - s : B;
        memset(xi->data, 0, sizeof(float) * D * B);
        memcpy(xi->data, x + (size_t)s * D, sizeof(float) * D * b);
        ng_graph_forward(g);
        memcpy(out + (size_t)s * Z, z->data, sizeof(float) * Z * b);
    }
    ng_graph_free(g);
    return out;
}

float *ng_image_sample(ng_model *m, int n, uint64_t seed) {
    const ng_model_config *c = ng_model_cfg(m);
    if (c->kind != NG_MODEL_VAE && c->kind != NG_MODEL_GAN) {
        ng_set_error("sampling needs a model with a N(0,1) prior (vae or gan); an %s's codes have none", ng_model_kind_name(c->kind));
        return NULL;
    }
    if (n < 1) { ng_set_error("sample: %d images", n); return NULL; }
    float *z = malloc(sizeof(float) * (size_t)n * c->latent);
    if (!z) { ng_set_error("out of memory"); return NULL; }
    ng_rng rng;
    ng_rng_seed(&rng, seed);
    ng_rng_fill_normal(&rng, z, (int64_t)n * c->latent);
    float *imgs = ng_image_decode(m, z, n);
    free(z);
    return imgs;
}

float *ng_image_reconstruct(ng_model *m, const float *x, int n, const ng_image_train_info *t, uint64_t seed, float *noisy) {
    const ng_model_config *c = ng_model_cfg(m);
    const size_t D = (size_t)c->c * c->h * c->w;
    float *xin = NULL, *z = NULL, *imgs = NULL;
    if (c->kind == NG_MODEL_DAE) {   /* the encoder sees the corrupted copy, as in training */
        if (!(xin = noisy ? noisy : malloc(sizeof(float) * D * (size_t)n))) { ng_set_error("out of memory"); return NULL; }
        ng_rng rng;
        ng_rng_seed(&rng, seed);
        ng_dae_corrupt(xin, x, (int64_t)D * n, t ? t->noise_mask : 0, t ? t->noise : 0.3f, &rng);
    }
    if ((z = ng_image_encode(m, xin ? xin : x, n))) imgs = ng_image_decode(m, z, n);
    if (xin != noisy) free(xin);
    free(z);
    return imgs;
}

/* Inverse of the standard normal CDF (Acklam's rational approximation, relative error < 1.2e-9). */
static double norm_ppf(double p) {
    static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                               1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00};
    static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                               6.680131188771972e+01, -1.328068155288572e+01};
    static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                               -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00};
    static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00};
    const double plow = 0.02425;
    if (p <= 0) return -INFINITY;
    if (p >= 1) return INFINITY;
    if (p < plow || p > 1 - plow) {
        double q = sqrt(-2 * log(p < plow ? p : 1 - p));
        double x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
                   ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
        return p < plow ? x : -x;
    }
    double q = p - 0.5, r = q * q;
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
           (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

int ng_image_manifold_check(const ng_model *m) {
    const ng_model_config *c = ng_model_cfg(m);
    if (c->kind == NG_MODEL_AE || c->kind == NG_MODEL_DAE)
        return ng_set_error("--manifold needs a model with a N(0,1) prior (vae or gan); an %s's codes have none (try --scatter)", ng_model_kind_name(c->kind));
    if (c->latent != 2)
        return ng_set_error("--manifold needs a 2-D latent, but this %s has %d latent dimensions (train one with --latent 2)", ng_model_kind_name(c->kind), c->latent);
    return NG_OK;
}

float *ng_image_manifold(ng_model *m, int n) {
    if (ng_image_manifold_check(m)) return NULL;
    if (n < 1) { ng_set_error("manifold: a %d x %d grid", n, n); return NULL; }
    float *z = malloc(sizeof(float) * 2 * (size_t)n * n);
    if (!z) { ng_set_error("out of memory"); return NULL; }
    for (int i = 0; i < n; i++)           /* row i: z2 from high (top) to low */
        for (int j = 0; j < n; j++) {     /* column j: z1 from low to high */
            double pj = n > 1 ? 0.05 + 0.9 * j / (n - 1) : 0.5, pi = n > 1 ? 0.05 + 0.9 * (n - 1 - i) / (n - 1) : 0.5;
            z[((size_t)i * n + j) * 2] = (float)norm_ppf(pj);
            z[((size_t)i * n + j) * 2 + 1] = (float)norm_ppf(pi);
        }
    float *imgs = ng_image_decode(m, z, n * n);
    free(z);
    return imgs;
}

float *ng_image_interpolate(ng_model *m, const ng_images *te, int rows, int steps, uint64_t seed) {
    const ng_model_config *c = ng_model_cfg(m);
    const size_t D = (size_t)c->c * c->h * c->w, Z = (size_t)c->latent;
    if (rows < 1 || steps < 2) { ng_set_error("interpolate: %d rows of %d steps (at least 1 row of 2 steps)", rows, steps); return NULL; }
    if (te && c->kind == NG_MODEL_GAN) { ng_set_error("--from-test encodes test images: a GAN has no encoder"); return NULL; }
    if (!te && c->kind != NG_MODEL_VAE && c->kind != NG_MODEL_GAN) {
        ng_set_error("an %s has no prior to draw latents from: walk between test images", ng_model_kind_name(c->kind));
        return NULL;
    }
    if (te && te->n < 2) { ng_set_error("the test split needs at least 2 images to walk between"); return NULL; }
    ng_rng rng;
    ng_rng_seed(&rng, seed);
    const int cols = steps + (te ? 2 : 0);
    float *ends = malloc(sizeof(float) * 2 * rows * Z), *z = malloc(sizeof(float) * (size_t)rows * steps * Z);
    float *x = te ? malloc(sizeof(float) * D * 2 * rows) : NULL, *imgs = NULL, *grid = NULL;
    if (!ends || !z || (te && !x)) { ng_set_error("out of memory"); goto done; }
    if (te) {   /* two distinct random test images a row, their latent means / codes */
        for (int r = 0; r < rows; r++) {
            int a = (int)ng_rng_below(&rng, (uint32_t)te->n), b;
            do b = (int)ng_rng_below(&rng, (uint32_t)te->n); while (b == a);
            memcpy(x + (size_t)(2 * r) * D, te->pixels + (size_t)a * D, sizeof(float) * D);
            memcpy(x + (size_t)(2 * r + 1) * D, te->pixels + (size_t)b * D, sizeof(float) * D);
        }
        float *e = ng_image_encode(m, x, 2 * rows);
        if (!e) goto done;
        memcpy(ends, e, sizeof(float) * 2 * rows * Z);
        free(e);
    } else {
        ng_rng_fill_normal(&rng, ends, 2 * (int64_t)rows * (int64_t)Z);
    }
    for (int r = 0; r < rows; r++)
        for (int s = 0; s < steps; s++) {
            float t = (float)s / (float)(steps - 1);
            const float *a = ends + (size_t)(2 * r) * Z, *b = a + Z;
            float *d = z + ((size_t)r * steps + s) * Z;
            for (size_t k = 0; k < Z; k++) d[k] = (1 - t) * a[k] + t * b[k];
        }
    if (!(imgs = ng_image_decode(m, z, rows * steps))) goto done;
    if (!(grid = malloc(sizeof(float) * D * (size_t)rows * cols))) { ng_set_error("out of memory"); goto done; }
    for (int r = 0; r < rows; r++) {
        float *row = grid + (size_t)r * cols * D;
        if (te) {
            memcpy(row, x + (size_t)(2 * r) * D, sizeof(float) * D);
            memcpy(row + (size_t)(cols - 1) * D, x + (size_t)(2 * r + 1) * D, sizeof(float) * D);
            row += D;
        }
        memcpy(row, imgs + (size_t)r * steps * D, sizeof(float) * D * steps);
    }
done:
    free(ends); free(z); free(x); free(imgs);
    return grid;
}

int ng_image_latents_2d(ng_model *m, const float *x, int n, double *px, double *py, double var[2]) {
    const int Z = ng_model_cfg(m)->latent;
    float *z = ng_image_encode(m, x, n);
    if (!z) return NG_ERR;
    int rc = NG_OK;
    var[0] = var[1] = 0;
    if (Z == 2) for (int i = 0; i < n; i++) { px[i] = z[2 * i]; py[i] = z[2 * i + 1]; }
    else if (Z == 1) for (int i = 0; i < n; i++) { px[i] = z[i]; py[i] = 0; }
    else {   /* the first two principal components (ng_pca) */
        double *proj = ng_malloc(sizeof(double) * 2 * (size_t)n, "PCA");
        if (!proj || ng_pca(z, n, Z, 2, NULL, var, proj)) rc = NG_ERR;
        else for (int i = 0; i < n; i++) { px[i] = proj[2 * i]; py[i] = proj[2 * i + 1]; }
        free(proj);
    }
    free(z);
    return rc;
}

/* largest divisor of n that is <= cap (an eval batch that covers the set exactly) */
static int divisor_upto(int n, int cap) {
    for (int b = cap < n ? cap : n; b > 1; b--) if (n % b == 0) return b;
    return 1;
}

int ng_image_test_loss(ng_model *m, const ng_images *te, const ng_image_train_info *t, uint64_t seed, double *rec, double *kl) {
    const ng_model_config *c = ng_model_cfg(m);
    if (c->kind == NG_MODEL_GAN || c->kind == NG_MODEL_CLASSIFIER || ng_model_kind_is_text(c->kind))
        return ng_set_error("test loss per image: a %s has no reconstruction loss", ng_model_kind_name(c->kind));
    const size_t D = (size_t)c->c * c->h * c->w;
    ng_rng rng;
    ng_rng_seed(&rng, seed);
    int Be = divisor_upto(te->n, 1000);
    ng_ae_graph ag;
    ng_graph *g = ng_graph_new();
    if (!g || ng_ae_build(m, g, Be, &ag)) { ng_graph_free(g); return NG_ERR; }
    ng_graph_set_training(g, 0);
    *rec = 0; *kl = 0;
    for (int s = 0; s < te->n; s += Be) {
        memcpy(ag.x->data, te->pixels + (size_t)s * D, sizeof(float) * D * Be);
        if (c->kind == NG_MODEL_DAE) ng_dae_corrupt(ag.x_in->data, ag.x->data, (int64_t)Be * D, t->noise_mask, t->noise, &rng);
        if (ag.eps) ng_rng_fill_normal(&rng, ag.eps->data, ag.eps->n);
        ng_graph_forward(g);
        *rec += ag.rec->data[0];
        if (ag.kl) *kl += ag.kl->data[0];
    }
    *rec /= te->n; *kl /= te->n;
    ng_graph_free(g);
    return NG_OK;
}

static double sigmoid(double v) { return 1.0 / (1.0 + exp(-v)); }

int ng_gan_d_eval(ng_model *m, const ng_images *te, int n_fake, uint64_t seed, ng_gan_d_stats *st) {
    const ng_model_config *c = ng_model_cfg(m);
    if (c->kind != NG_MODEL_GAN) return ng_set_error("the discriminator's outputs: a %s is not a GAN", ng_model_kind_name(c->kind));
    if (n_fake < 1) return ng_set_error("the discriminator's outputs: %d samples", n_fake);
    memset(st, 0, sizeof *st);
    const size_t D = (size_t)c->c * c->h * c->w;
    const int B = 250;
    int64_t xe[4] = {B, c->c, c->h, c->w};
    float *fake = NULL;
    int rc = NG_ERR;
    ng_graph *g = ng_graph_new();
    ng_tensor *x = g ? ng_input(g, "x", 4, xe) : NULL, *logits = x ? ng_gan_discriminator(m, g, x) : NULL;
    if (!logits || ng_graph_finalize(g, logits)) goto done;
    ng_graph_set_training(g, 0);
    for (int s = 0; s < te->n; s += B) {
        int b = te->n - s < B ? te->n - s : B;
        memset(x->data, 0, sizeof(float) * D * B);
        for (size_t k = 0; k < D * (size_t)b; k++) x->data[k] = 2.0f * te->pixels[(size_t)s * D + k] - 1.0f;
        ng_graph_forward(g);
        for (int i = 0; i < b; i++) { double p = sigmoid(logits->data[i]); st->d_real += p; st->acc_real += p > 0.5; }
    }
    if (!(fake = ng_image_sample(m, n_fake, seed))) goto done;
    for (int s = 0; s < n_fake; s += B) {
        int b = n_fake - s < B ? n_fake - s : B;
        memset(x->data, 0, sizeof(float) * D * B);
        memcpy(x->data, fake + (size_t)s * D, sizeof(float) * D * b);
        ng_graph_forward(g);
        for (int i = 0; i < b; i++) { double p = sigmoid(logits->data[i]); st->d_fake += p; st->acc_fake += p < 0.5; }
    }
    st->n_real = te->n;
    st->n_fake = n_fake;
    rc = NG_OK;
done:
    ng_graph_free(g);
    free(fake);
    return rc;
}

int ng_noise_parse(const char *spec, ng_noise *nz) {
    char *end = NULL;
    const char *num = NULL;
    nz->mask = 0; nz->level = 0;
    if (spec && !strncmp(spec, "gaussian:", 9)) { nz->mask = 0; nz->level = strtof(num = spec + 9, &end); }
    else if (spec && !strncmp(spec, "mask:", 5)) { nz->mask = 1; nz->level = strtof(num = spec + 5, &end); }
    if (!end || end == num || *end || !(nz->level >= 0) || nz->level > (nz->mask ? 1.0f : 10.0f))
        return ng_set_error("'%s' is not gaussian:STD (0..10) or mask:P (0..1)", spec ? spec : "");
    return NG_OK;
}

int ng_image_load_pictures(const ng_model *m, const char *const *paths, int n, ng_images *out) {
    const ng_model_config *c = ng_model_cfg(m);
    memset(out, 0, sizeof *out);
    if (c->h != c->w) return ng_set_error("the model's pictures are %dx%d: only square models take pictures of any size", c->w, c->h);
    return ng_pictures_load(paths, n, c->h, c->c, out);
}

float *ng_image_reconstruct_panels(ng_model *m, const float *x, int n, const ng_noise *noise, uint64_t seed, int *cols) {
    const ng_model_config *c = ng_model_cfg(m);
    if (c->kind == NG_MODEL_GAN) { ng_set_error("a GAN has no encoder: reconstructing a picture needs an ae, dae or vae"); return NULL; }
    if (n < 1) { ng_set_error("reconstruct: %d pictures", n); return NULL; }
    const size_t D = (size_t)c->c * c->h * c->w;
    const int k = noise ? 3 : 2;
    float *in = noise ? ng_malloc(sizeof(float) * D * (size_t)n, "noisy pictures") : NULL, *z = NULL, *rec = NULL, *grid = NULL;
    if (noise && !in) return NULL;
    if (noise) {
        ng_rng rng;
        ng_rng_seed(&rng, seed);
        ng_dae_corrupt(in, x, (int64_t)D * n, noise->mask, noise->level, &rng);
    }
    if ((z = ng_image_encode(m, noise ? in : x, n)) && (rec = ng_image_decode(m, z, n)) &&
        (grid = ng_malloc(sizeof(float) * D * (size_t)n * k, "reconstruction panels"))) {
        for (int i = 0; i < n; i++) {   /* row i: the picture | its noisy copy | the reconstruction */
            float *row = grid + (size_t)i * k * D;
            memcpy(row, x + (size_t)i * D, sizeof(float) * D);
            if (noise) memcpy(row + D, in + (size_t)i * D, sizeof(float) * D);
            memcpy(row + (size_t)(k - 1) * D, rec + (size_t)i * D, sizeof(float) * D);
        }
        *cols = k;
    }
    free(in); free(z); free(rec);
    return grid;
}

int ng_image_encode_latents(ng_model *m, const float *x, int n, ng_latents *out) {
    const ng_model_config *c = ng_model_cfg(m);
    memset(out, 0, sizeof *out);
    if (c->kind == NG_MODEL_GAN) return ng_set_error("a GAN has no encoder: encoding pictures needs an ae, dae or vae");
    if (n > NG_LATENT_MAX_COUNT || (int64_t)n * c->latent > NG_LATENT_MAX_VALUES)
        return ng_set_error("%d pictures x %d latent values is more than a latent file holds (%d values)", n, c->latent, NG_LATENT_MAX_VALUES);
    if (!(out->z = ng_image_encode(m, x, n))) return NG_ERR;
    out->n = n; out->latent = c->latent; out->c = c->c; out->h = c->h; out->w = c->w;
    return NG_OK;
}

float *ng_image_decode_latents(ng_model *m, const ng_latents *l, const char *name) {
    const ng_model_config *c = ng_model_cfg(m);
    if (l->latent != c->latent) {
        ng_set_error("'%s' holds latents of %d values, but this %s's latent has %d", name, l->latent, ng_model_kind_name(c->kind), c->latent);
        return NULL;
    }
    if (l->c != c->c || l->h != c->h || l->w != c->w) {
        ng_set_error("'%s' was encoded from %dx%dx%d pictures, but this %s makes %dx%dx%d pictures", name, l->c, l->h, l->w,
                     ng_model_kind_name(c->kind), c->c, c->h, c->w);
        return NULL;
    }
    return ng_image_decode(m, l->z, l->n);
}

int ng_image_sample_save(ng_model *m, int n, uint64_t seed, const char *out_dir, const char *idx_path) {
    const ng_model_config *c = ng_model_cfg(m);
    if (c->kind != NG_MODEL_VAE && c->kind != NG_MODEL_GAN)
        return ng_set_error("a data set of samples needs a model with a N(0,1) prior (vae or gan); an %s's codes have none", ng_model_kind_name(c->kind));
    if (n < 1) return ng_set_error("sample: %d pictures", n);
    if (!out_dir == !idx_path) return ng_set_error("ng_image_sample_save: give a folder or an IDX file, one of them");
    if (idx_path && c->c != 1)
        return ng_set_error("IDX files hold grey pictures (n x h x w bytes), but this %s makes %d-channel pictures: write PNGs (--out-dir)", ng_model_kind_name(c->kind), c->c);
    const double D = (double)c->c * c->h * c->w;
    if (ng_memory_check(4.0 * D * n + 4.0 * (double)n * c->latent, "the samples", "ask for fewer pictures (--n)")) return NG_ERR;
    float *imgs = ng_image_sample(m, n, seed);
    if (!imgs) return NG_ERR;
    const float lo = c->kind == NG_MODEL_GAN ? -1.0f : 0.0f;
    int rc = out_dir ? ng_png_write_each(out_dir, imgs, n, c->c, c->h, c->w, lo, 1.0f, 0, n)
                     : ng_idx_write_images(idx_path, imgs, n, c->h, c->w, lo, 1.0f);
    free(imgs);
    return rc;
}

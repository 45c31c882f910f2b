/* image_cmds.c - the commands on a trained image model (ae, dae, vae, gan):
 *   nanogen sample DIR --out grid.png          VAE/GAN: samples from the prior N(0,1);
 *                                              AE/DAE: test images | (noisy) | reconstructions
 *   nanogen sample DIR --manifold --out m.png  2-D latent: the decoder over a grid of quantiles
 *   nanogen sample DIR --scatter --out z.svg   test-set latent means by class (PCA if not 2-D)
 *   nanogen interpolate DIR --out walk.png     linear walks between latents / test images
 *   nanogen eval DIR                           test loss per image (GAN: D's outputs)
 * Every graph is built once for a fixed batch (the last batch is padded: in eval mode no
 * image depends on another, BatchNorm uses its running statistics). */
#include "cli.h"
#include "io/svg.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *FASHION_NAMES[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
static const char *DIGIT_NAMES[10] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};

/* ------------------------------------------------------------------ shared helpers */

/* Load an image checkpoint with errors that say what DIR is when it is not one. */
static int load_imodel(const char *dir, const char *what, ng_model **m, char **train_json) {
    *m = NULL;
    if (train_json) *train_json = NULL;
    char *file = ng_checkpoint_model_path(dir);
    if (!file) return NG_ERR;
    struct stat st;
    if (stat(file, &st) != 0) {
        ng_set_error("no checkpoint at '%s' (%s: %s)", dir, file, strerror(errno));
        free(file);
        return NG_ERR;
    }
    if (!cli_is_image_checkpoint(dir)) {
        ng_st_file *f = ng_safetensors_open(file);
        int text = f && ng_st_meta(f, "config") && ng_st_meta(f, "tokenizer");
        ng_safetensors_close(f);
        if (text && !strcmp(what, "eval")) ng_set_error("'%s' holds a text model: give --data FILE, the text to evaluate it on", dir);
        else if (text) ng_set_error("'%s' holds a text model: %s is for image models (train ae|dae|vae|gan)", dir, what);
        else ng_set_error("'%s' is not a nanogen image-model checkpoint (no image_config metadata)", file);
        free(file);
        return NG_ERR;
    }
    free(file);
    if (ng_checkpoint_load(dir, m, NULL, train_json)) return NG_ERR;
    if (ng_model_cfg(*m)->kind == NG_MODEL_CLASSIFIER) {
        ng_set_error("'%s' holds a classifier: %s is for the generative models ae, dae, vae and gan", dir, what);
        ng_model_free(*m); *m = NULL;
        if (train_json) { free(*train_json); *train_json = NULL; }
        return NG_ERR;
    }
    return NG_OK;
}

/* What the checkpoint's training state says about the data. */
typedef struct { char data[4096]; int size; float noise; int noise_mask; } train_info;
static void parse_train(const char *json, train_info *t) {
    memset(t, 0, sizeof *t);
    t->size = 28; t->noise = 0.3f;
    cJSON *j = json ? cJSON_Parse(json) : NULL;
    const cJSON *v;
    if (cJSON_IsString(v = cJSON_GetObjectItem(j, "data")) && v->valuestring) snprintf(t->data, sizeof t->data, "%s", v->valuestring);
    if (cJSON_IsNumber(v = cJSON_GetObjectItem(j, "image_size")) && v->valueint > 0) t->size = v->valueint;
    if (cJSON_IsNumber(v = cJSON_GetObjectItem(j, "noise"))) t->noise = (float)v->valuedouble;
    if (cJSON_IsNumber(v = cJSON_GetObjectItem(j, "noise_mask"))) t->noise_mask = v->valueint;
    cJSON_Delete(j);
}

/* The test split the model was trained beside (or --data), checked against the model. */
static int load_test(const ng_model *m, const train_info *t, const char *data_flag, ng_images *te, const char **spec) {
    const ng_model_config *c = ng_model_cfg(m);
    *spec = data_flag ? data_flag : t->data;
    if (!**spec) return ng_set_error("the checkpoint does not say which data it was trained on: give --data");
    if (ng_dataset_load(*spec, "test", t->size, c->c, te)) return NG_ERR;
    if (te->n < 1) return ng_set_error("'%s': the test split is empty", *spec);
    if (te->c != c->c || te->h != c->h || te->w != c->w)
        return ng_set_error("'%s' has %dx%dx%d images but the model was trained on %dx%dx%d", *spec, te->c, te->h, te->w, c->c, c->h, c->w);
    return NG_OK;
}


static int batch_for(int n) { return n < 256 ? n : 256; }

/* The decoder (VAE/AE: sigmoid images in [0,1]; GAN: generator in [-1,1]) over n latents.
 * Returns malloc'd n*D floats. */
static float *decode_all(ng_model *m, const float *z, int n) {
    const ng_model_config *c = ng_model_cfg(m);
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

/* The encoder (AE/DAE: the code fc2(relu(fc1 x)); VAE: the mean mu(relu(fc1 x))) over n images
 * x (n, D) in [0,1]. Returns malloc'd n*latent floats. */
static float *encode_all(ng_model *m, const float *x, int n) {
    const ng_model_config *c = ng_model_cfg(m);
    if (c->kind == NG_MODEL_GAN) { ng_set_error("a GAN has no encoder"); return NULL; }
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

/* The 2-D PCA projections of x (n, d) (ng_pca) into px, py, and the fraction of the variance
 * each axis explains into var[2]. */
static int pca2(const float *x, int n, int d, double *px, double *py, double var[2]) {
    double *proj = ng_malloc(sizeof(double) * 2 * (size_t)n, "PCA");
    if (!proj || ng_pca(x, n, d, 2, NULL, var, proj)) { free(proj); return NG_ERR; }
    for (int i = 0; i < n; i++) { px[i] = proj[2 * i]; py[i] = proj[2 * i + 1]; }
    free(proj);
    return NG_OK;
}

static const char *const *class_names(const char *spec, const ng_images *te) {
    if (!te->labels || te->n_classes > 10) return NULL;
    if (strstr(spec, "fashion")) return FASHION_NAMES;
    if (strstr(spec, "mnist")) return DIGIT_NAMES;
    return NULL;
}

/* ------------------------------------------------------------------ sample */
static void sample_usage(void) {
    fprintf(stderr,
        "usage: nanogen sample DIR --out grid.png [--n 64] [--seed S] [--ncol 8] [--zoom 2]   (image model)\n"
        "       nanogen sample DIR --manifold --out manifold.png [--n 20] [--zoom 1]   (2-D latent)\n"
        "       nanogen sample DIR --scatter --out latents.svg [--n N]\n"
        "  vae, gan: n samples from the prior z ~ N(0,1); ae, dae: the first n test images (rounded\n"
        "  up to whole rows) as rows originals | noisy (dae) | reconstructions.\n"
        "  --manifold: the decoder over an n x n grid of Gaussian quantiles (5%%..95%%) of a 2-D latent.\n"
        "  --scatter: the latent means of the test images (the first n) coloured by class; a latent\n"
        "  that is not 2-D is projected to its first two principal components.\n"
        "  --data D overrides the data set the checkpoint names; --threads N\n");
}

int cmd_sample_images(int argc, char **argv) {
    const char *dir = NULL, *out = NULL, *data = NULL;
    int n = -1, ncol = 8, zoom = -1, manifold = 0, scatter = 0, threads = 0;
    uint64_t seed = 1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int rc = NG_OK;
        if (!strcmp(a, "--out")) rc = arg_str(argc, argv, &i, &out);
        else if (!strcmp(a, "--data")) rc = arg_str(argc, argv, &i, &data);
        else if (!strcmp(a, "--n")) rc = arg_int(argc, argv, &i, 1, 100000, &n);
        else if (!strcmp(a, "--ncol")) rc = arg_int(argc, argv, &i, 1, 1024, &ncol);
        else if (!strcmp(a, "--zoom")) rc = arg_int(argc, argv, &i, 1, 32, &zoom);
        else if (!strcmp(a, "--seed")) rc = arg_u64(argc, argv, &i, &seed);
        else if (!strcmp(a, "--threads")) rc = arg_int(argc, argv, &i, 0, 1024, &threads);
        else if (!strcmp(a, "--manifold")) manifold = 1;
        else if (!strcmp(a, "--scatter")) scatter = 1;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) { sample_usage(); return 0; }
        else if (a[0] == '-' && a[1]) rc = ng_set_error("unknown flag '%s' for sample (image model)", a);
        else if (!dir) dir = a;
        else rc = ng_set_error("unexpected argument '%s' (one checkpoint directory)", a);
        if (rc) { fprintf(stderr, "nanogen: %s\n", ng_last_error()); sample_usage(); return 2; }
    }
    if (!dir) { sample_usage(); return 2; }
    if (manifold && scatter) return cli_usage_error("--manifold and --scatter exclude each other");
    if (manifold && n > 100) return cli_usage_error("--manifold --n %d: at most 100 (an n x n grid)", n);
    if (cli_check_out(out, scatter ? ".svg" : ".png")) return cli_usage_error("%s", ng_last_error());
    if (cli_parse_only) return 0;   /* the fuzz harness: flags parsed and checked, nothing run */
    cli_set_threads(threads);
    const char *what = manifold ? "--manifold" : scatter ? "--scatter" : "sample --out";
    ng_model *m = NULL;
    char *tj = NULL;
    ng_images te = {0};
    float *z = NULL, *imgs = NULL, *x = NULL, *grid = NULL;
    double *px = NULL, *py = NULL;
    int *cls = NULL, code = 1;
    if (load_imodel(dir, what, &m, &tj)) goto fail;
    const ng_model_config *c = ng_model_cfg(m);
    const size_t D = (size_t)c->c * c->h * c->w;
    const int gan = c->kind == NG_MODEL_GAN, Z = c->latent;
    const float lo = gan ? -1.0f : 0.0f;
    train_info ti;
    parse_train(tj, &ti);
    ng_rng rng;
    ng_rng_seed(&rng, seed);
    if (manifold) {
        if (c->kind == NG_MODEL_AE || c->kind == NG_MODEL_DAE) {
            ng_set_error("--manifold needs a model with a N(0,1) prior (vae or gan); an %s's codes have none (try --scatter)", ng_model_kind_name(c->kind));
            goto fail;
        }
        if (Z != 2) {
            ng_set_error("--manifold needs a 2-D latent, but this %s has %d latent dimensions (train one with --latent 2)", ng_model_kind_name(c->kind), Z);
            goto fail;
        }
        if (n < 0) n = 20;
        if (zoom < 0) zoom = 1;
        if (ng_png_grid_check(out, n * n, c->c, c->h, c->w, n, zoom)) goto fail;
        z = malloc(sizeof(float) * 2 * (size_t)n * n);
        if (!z) { ng_set_error("out of memory"); goto fail; }
        for (int i = 0; i < n; i++)           /* row i: z2 from high (top) to low */
            for (int j = 0; j < n; j++) {     /* column j: z1 from low to high */
                double pj = n > 1 ? 0.05 + 0.9 * j / (n - 1) : 0.5, pi = n > 1 ? 0.05 + 0.9 * (n - 1 - i) / (n - 1) : 0.5;
                z[((size_t)i * n + j) * 2] = (float)norm_ppf(pj);
                z[((size_t)i * n + j) * 2 + 1] = (float)norm_ppf(pi);
            }
        if (!(imgs = decode_all(m, z, n * n))) goto fail;
        if (ng_png_grid(out, imgs, n * n, c->c, c->h, c->w, n, zoom, lo, 1)) goto fail;
        printf("%s: %dx%d manifold of the 2-D latent (quantiles 5%%..95%% of N(0,1)) -> %s\n", ng_model_kind_name(c->kind), n, n, out);
    } else if (scatter) {
        if (gan) { ng_set_error("--scatter shows the encoder's latents: a GAN has no encoder"); goto fail; }
        const char *spec;
        if (load_test(m, &ti, data, &te, &spec)) goto fail;
        int N = n > 0 && n < te.n ? n : te.n;
        if (!(z = encode_all(m, te.pixels, N))) goto fail;
        px = malloc(sizeof(double) * N); py = malloc(sizeof(double) * N); cls = malloc(sizeof(int) * N);
        if (!px || !py || !cls) { ng_set_error("out of memory"); goto fail; }
        char title[256], xl[64], yl[64];
        const char *means = c->kind == NG_MODEL_VAE ? "latent means" : "latent codes";
        if (Z == 2) {
            for (int i = 0; i < N; i++) { px[i] = z[2 * i]; py[i] = z[2 * i + 1]; }
            snprintf(title, sizeof title, "%s: %s of %d test images", ng_model_kind_name(c->kind), means, N);
            snprintf(xl, sizeof xl, "z1"); snprintf(yl, sizeof yl, "z2");
        } else if (Z == 1) {
            for (int i = 0; i < N; i++) { px[i] = z[i]; py[i] = 0; }
            snprintf(title, sizeof title, "%s: 1-D %s of %d test images", ng_model_kind_name(c->kind), means, N);
            snprintf(xl, sizeof xl, "z1"); snprintf(yl, sizeof yl, "(none)");
        } else {
            double var[2];
            if (pca2(z, N, Z, px, py, var)) goto fail;
            snprintf(title, sizeof title, "%s: %s of %d test images, PCA of %d-D to 2-D", ng_model_kind_name(c->kind), means, N, Z);
            snprintf(xl, sizeof xl, "PC1 (%.0f%% of the variance)", 100 * var[0]);
            snprintf(yl, sizeof yl, "PC2 (%.0f%%)", 100 * var[1]);
        }
        double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
        for (int i = 0; i < N; i++) {
            if (isfinite(px[i])) { x0 = fmin(x0, px[i]); x1 = fmax(x1, px[i]); }
            if (isfinite(py[i])) { y0 = fmin(y0, py[i]); y1 = fmax(y1, py[i]); }
            cls[i] = te.labels ? te.labels[i] : 0;
        }
        if (!(x0 < x1)) { x0 = (isfinite(x0) ? x0 : 0) - 1; x1 = x0 + 2; }
        if (!(y0 < y1)) { y0 = (isfinite(y0) ? y0 : 0) - 1; y1 = y0 + 2; }
        int nc = te.labels ? te.n_classes : 1;
        ng_svg_chart_spec s = {.width = 900, .height = 700, .title = title, .subtitle = spec, .xlabel = xl, .ylabel = yl,
                            .xmin = x0, .xmax = x1, .ymin = y0, .ymax = y1, .legend_right = te.labels ? 120 : 0};
        ng_svg_chart *ch = ng_svg_chart_begin(&s);
        if (!ch) goto fail;
        int rc = te.labels ? ng_svg_chart_scatter_classes(ch, px, py, cls, (size_t)N, nc, class_names(spec, &te))
                           : ng_svg_chart_scatter(ch, px, py, (size_t)N, &(ng_svg_style){.marker = SVG_MARK_CIRCLE, .marker_r = 2, .opacity = 0.6}, NULL);
        if (rc) { ng_svg_chart_free(ch); goto fail; }
        if (ng_svg_chart_write(ch, out)) goto fail;
        printf("%s: %s of %d test images%s -> %s\n", ng_model_kind_name(c->kind), means, N, Z > 2 ? " (PCA to 2-D)" : "", out);
    } else if (c->kind == NG_MODEL_VAE || gan) {
        if (n < 0) n = 64;
        if (zoom < 0) zoom = 2;
        if (ng_png_grid_check(out, n, c->c, c->h, c->w, ncol, zoom)) goto fail;
        z = malloc(sizeof(float) * (size_t)n * Z);
        if (!z) { ng_set_error("out of memory"); goto fail; }
        ng_rng_fill_normal(&rng, z, (int64_t)n * Z);
        if (!(imgs = decode_all(m, z, n))) goto fail;
        if (ng_png_grid(out, imgs, n, c->c, c->h, c->w, ncol, zoom, lo, 1)) goto fail;
        printf("%s: %d samples from the prior (seed %llu) -> %s\n", ng_model_kind_name(c->kind), n, (unsigned long long)seed, out);
    } else {   /* AE / DAE: reconstructions of the first test images */
        if (n < 0) n = 64;
        if (zoom < 0) zoom = 2;
        const char *spec;
        int cols = ncol < n ? ncol : n, groups = (n + cols - 1) / cols, N = groups * cols;
        if (ng_png_grid_check(out, N * (c->kind == NG_MODEL_DAE ? 3 : 2), c->c, c->h, c->w, cols, zoom)) goto fail;
        if (load_test(m, &ti, data, &te, &spec)) goto fail;
        if (N > te.n) { ng_set_error("--n %d: the test split has only %d images", N, te.n); goto fail; }
        const int dae = c->kind == NG_MODEL_DAE, rows = dae ? 3 : 2;
        x = malloc(sizeof(float) * D * N);
        grid = malloc(sizeof(float) * D * N * rows);
        if (!x || !grid) { ng_set_error("out of memory"); goto fail; }
        if (dae) ng_dae_corrupt(x, te.pixels, (int64_t)D * N, ti.noise_mask, ti.noise, &rng);
        else memcpy(x, te.pixels, sizeof(float) * D * N);
        if (!(z = encode_all(m, x, N)) || !(imgs = decode_all(m, z, N))) goto fail;
        for (int gi = 0; gi < groups; gi++)
            for (int k = 0; k < cols; k++) {
                size_t src = (size_t)gi * cols + k, row0 = (size_t)gi * rows;
                memcpy(grid + ((row0 + 0) * cols + k) * D, te.pixels + src * D, sizeof(float) * D);
                if (dae) memcpy(grid + ((row0 + 1) * cols + k) * D, x + src * D, sizeof(float) * D);
                memcpy(grid + ((row0 + rows - 1) * cols + k) * D, imgs + src * D, sizeof(float) * D);
            }
        if (ng_png_grid(out, grid, N * rows, c->c, c->h, c->w, cols, zoom, 0, 1)) goto fail;
        printf("%s: %d test images and their reconstructions (rows: originals | %sreconstructions) -> %s\n",
               ng_model_kind_name(c->kind), N, dae ? "noisy | " : "", out);
    }
    code = 0;
    goto done;
fail:
    fprintf(stderr, "nanogen: %s\n", ng_last_error());
done:
    free(z); free(imgs); free(x); free(grid); free(px); free(py); free(cls); free(tj);
    ng_images_free(&te);
    ng_model_free(m);
    return code;
}

/* ------------------------------------------------------------------ interpolate */
static void interp_usage(void) {
    fprintf(stderr,
        "usage: nanogen interpolate DIR --out walk.png [--steps 10] [--rows 8] [--seed S] [--from-test]\n"
        "                           [--zoom 2] [--data D] [--threads N]\n"
        "  each row is a linear walk in latent space decoded in --steps images:\n"
        "  vae, gan: between two random latents z ~ N(0,1);\n"
        "  vae --from-test, ae, dae: between the latent means / codes of two random test images,\n"
        "  shown at both ends of the row (steps + 2 columns)\n");
}

int cmd_interpolate(int argc, char **argv) {
    const char *dir = NULL, *out = NULL, *data = NULL;
    int steps = 10, rows = 8, zoom = 2, from_test = 0, threads = 0;
    uint64_t seed = 1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int rc = NG_OK;
        if (!strcmp(a, "--out")) rc = arg_str(argc, argv, &i, &out);
        else if (!strcmp(a, "--data")) rc = arg_str(argc, argv, &i, &data);
        else if (!strcmp(a, "--steps")) rc = arg_int(argc, argv, &i, 2, 1000, &steps);
        else if (!strcmp(a, "--rows")) rc = arg_int(argc, argv, &i, 1, 1000, &rows);
        else if (!strcmp(a, "--zoom")) rc = arg_int(argc, argv, &i, 1, 32, &zoom);
        else if (!strcmp(a, "--seed")) rc = arg_u64(argc, argv, &i, &seed);
        else if (!strcmp(a, "--threads")) rc = arg_int(argc, argv, &i, 0, 1024, &threads);
        else if (!strcmp(a, "--from-test")) from_test = 1;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) { interp_usage(); return 0; }
        else if (a[0] == '-' && a[1]) rc = ng_set_error("unknown flag '%s' for interpolate", a);
        else if (!dir) dir = a;
        else rc = ng_set_error("unexpected argument '%s' (one checkpoint directory)", a);
        if (rc) { fprintf(stderr, "nanogen: %s\n", ng_last_error()); interp_usage(); return 2; }
    }
    if (!dir) { interp_usage(); return 2; }
    if (cli_check_out(out, ".png")) return cli_usage_error("%s", ng_last_error());
    if (cli_parse_only) return 0;   /* the fuzz harness: flags parsed and checked, nothing run */
    cli_set_threads(threads);
    ng_model *m = NULL;
    char *tj = NULL;
    ng_images te = {0};
    float *ends = NULL, *z = NULL, *imgs = NULL, *grid = NULL, *x = NULL;
    int code = 1;
    if (load_imodel(dir, "interpolate", &m, &tj)) goto fail;
    const ng_model_config *c = ng_model_cfg(m);
    const size_t D = (size_t)c->c * c->h * c->w, Z = (size_t)c->latent;
    const int gan = c->kind == NG_MODEL_GAN;
    if (gan && from_test) { ng_set_error("--from-test encodes test images: a GAN has no encoder"); goto fail; }
    if (c->kind == NG_MODEL_AE || c->kind == NG_MODEL_DAE) from_test = 1;   /* an AE has no prior to draw from */
    if (ng_png_grid_check(out, rows * (steps + (from_test ? 2 : 0)), c->c, c->h, c->w, steps + (from_test ? 2 : 0), zoom)) goto fail;
    train_info ti;
    parse_train(tj, &ti);
    ng_rng rng;
    ng_rng_seed(&rng, seed);
    ends = malloc(sizeof(float) * 2 * rows * Z);
    z = malloc(sizeof(float) * (size_t)rows * steps * Z);
    if (!ends || !z) { ng_set_error("out of memory"); goto fail; }
    int *pick = NULL;
    if (from_test) {
        const char *spec;
        if (load_test(m, &ti, data, &te, &spec)) goto fail;
        if (te.n < 2) { ng_set_error("the test split needs at least 2 images to walk between"); goto fail; }
        x = malloc(sizeof(float) * D * 2 * rows);
        pick = malloc(sizeof(int) * 2 * rows);
        if (!x || !pick) { free(pick); ng_set_error("out of memory"); goto fail; }
        for (int r = 0; r < rows; r++) {
            int a = (int)ng_rng_below(&rng, (uint32_t)te.n), b;
            do b = (int)ng_rng_below(&rng, (uint32_t)te.n); while (b == a);
            pick[2 * r] = a; pick[2 * r + 1] = b;
            memcpy(x + (size_t)(2 * r) * D, te.pixels + (size_t)a * D, sizeof(float) * D);
            memcpy(x + (size_t)(2 * r + 1) * D, te.pixels + (size_t)b * D, sizeof(float) * D);
        }
        free(pick);
        float *e = encode_all(m, x, 2 * rows);
        if (!e) goto fail;
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
    if (!(imgs = decode_all(m, z, rows * steps))) goto fail;
    const int cols = steps + (from_test ? 2 : 0);
    grid = malloc(sizeof(float) * D * (size_t)rows * cols);
    if (!grid) { ng_set_error("out of memory"); goto fail; }
    for (int r = 0; r < rows; r++) {
        float *row = grid + (size_t)r * cols * D;
        if (from_test) {
            memcpy(row, x + (size_t)(2 * r) * D, sizeof(float) * D);
            memcpy(row + (size_t)(cols - 1) * D, x + (size_t)(2 * r + 1) * D, sizeof(float) * D);
            row += D;
        }
        memcpy(row, imgs + (size_t)r * steps * D, sizeof(float) * D * steps);
    }
    if (ng_png_grid(out, grid, rows * cols, c->c, c->h, c->w, cols, zoom, gan ? -1.0f : 0.0f, 1)) goto fail;
    printf("%s: %d linear walks of %d steps between %s -> %s\n", ng_model_kind_name(c->kind), rows, steps,
           from_test ? (c->kind == NG_MODEL_VAE ? "the latent means of test images (shown at both ends)" : "the codes of test images (shown at both ends)")
                     : "random latents z ~ N(0,1)", out);
    code = 0;
    goto done;
fail:
    fprintf(stderr, "nanogen: %s\n", ng_last_error());
done:
    free(ends); free(z); free(imgs); free(grid); free(x); free(tj);
    ng_images_free(&te);
    ng_model_free(m);
    return code;
}

/* ------------------------------------------------------------------ eval */
/* largest divisor of n that is <= cap (an eval batch that covers the set exactly) */
static int divisor_upto(int n, int cap) {
    for (int b = cap < n ? cap : n; b > 1; b--) if (n % b == 0) return b;
    return 1;
}

static double sigmoid(double v) { return 1.0 / (1.0 + exp(-v)); }

int cmd_eval_images(int argc, char **argv) {
    const char *dir = NULL, *data = NULL, *clf = NULL;
    int threads = 0, n_fake = 1000;
    uint64_t seed = 1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int rc = NG_OK;
        if (!strcmp(a, "--data")) rc = arg_str(argc, argv, &i, &data);
        else if (!strcmp(a, "--seed")) rc = arg_u64(argc, argv, &i, &seed);
        else if (!strcmp(a, "--threads")) rc = arg_int(argc, argv, &i, 0, 1024, &threads);
        else if (!strcmp(a, "--n")) rc = arg_int(argc, argv, &i, 1, 1000000, &n_fake);
        else if (!strcmp(a, "--classifier")) rc = arg_str(argc, argv, &i, &clf);
        else if (a[0] == '-') rc = ng_set_error("unknown flag '%s' for eval (image model)", a);
        else if (!dir) dir = a;
        else rc = ng_set_error("unexpected argument '%s'", a);
        if (rc) return cli_usage_error("%s\nusage: nanogen eval DIR [--data D] [--seed S] [--n 1000 (gan samples)] [--classifier CLF_DIR (gan: FID)] [--threads N]", ng_last_error());
    }
    if (!dir) return cli_usage_error("usage: nanogen eval DIR [--data D] [--seed S] [--n 1000 (gan samples)] [--threads N]");
    if (cli_parse_only) return 0;   /* the fuzz harness: flags parsed and checked, nothing run */
    cli_set_threads(threads);
    ng_model *m = NULL;
    char *tj = NULL;
    ng_images te = {0};
    ng_graph *g = NULL;
    float *fake = NULL, *z = NULL;
    int code = 1;
    if (load_imodel(dir, "eval", &m, &tj)) goto fail;
    const ng_model_config *c = ng_model_cfg(m);
    const size_t D = (size_t)c->c * c->h * c->w;
    train_info ti;
    parse_train(tj, &ti);
    const char *spec;
    if (load_test(m, &ti, data, &te, &spec)) goto fail;
    ng_rng rng;
    ng_rng_seed(&rng, seed);
    const char *kind = ng_model_kind_name(c->kind);
    if (clf && c->kind != NG_MODEL_GAN) { ng_set_error("--classifier measures a GAN's samples (FID); this is a %s", kind); goto fail; }
    if (clf && cli_gan_fid_check(c)) goto fail;
    if (c->kind != NG_MODEL_GAN) {
        /* test loss as train_images.c computes it: BCE summed over pixels (+ KL for the VAE) */
        int Be = divisor_upto(te.n, 1000);
        ng_ae_graph ag;
        if (!(g = ng_graph_new()) || ng_ae_build(m, g, Be, &ag)) goto fail;
        ng_graph_set_training(g, 0);
        double rec = 0, kl = 0;
        for (int s = 0; s < te.n; s += Be) {
            memcpy(ag.x->data, te.pixels + (size_t)s * D, sizeof(float) * D * Be);
            if (c->kind == NG_MODEL_DAE) ng_dae_corrupt(ag.x_in->data, ag.x->data, (int64_t)Be * D, ti.noise_mask, ti.noise, &rng);
            if (ag.eps) ng_rng_fill_normal(&rng, ag.eps->data, ag.eps->n);
            ng_graph_forward(g);
            rec += ag.rec->data[0];
            if (ag.kl) kl += ag.kl->data[0];
        }
        rec /= te.n; kl /= te.n;
        if (c->kind == NG_MODEL_VAE) {
            printf("vae: test loss %.2f nats per image (negative ELBO) on %d test images\n", rec + kl, te.n);
            printf("  reconstruction (BCE summed over %zu pixels) %.2f + KL %.2f (one draw of z per image, seed %llu)%s\n",
                   D, rec, kl, (unsigned long long)seed, c->beta != 1.0f ? "; the training loss weighted KL by --beta" : "");
        } else if (c->kind == NG_MODEL_DAE) {
            printf("dae: test loss %.2f nats per image (BCE summed over pixels, clean image from its %s copy) on %d test images\n",
                   rec, ti.noise_mask ? "masked" : "noisy", te.n);
            printf("  noise %s:%g as in training, seed %llu\n", ti.noise_mask ? "mask" : "gaussian", ti.noise, (unsigned long long)seed);
        } else {
            printf("%s: test loss %.2f nats per image (BCE summed over pixels) on %d test images\n", kind, rec, te.n);
        }
    } else {
        /* TODO(FID): the classifier-based FID belongs here as the GAN's main number. It is
         * cli_gan_quality (src/cli/fid.c), run below when --classifier CLF_DIR is given; without
         * one we only report what the discriminator says, which is no quality measure. */
        const int B = 250;
        int64_t xe[4] = {B, c->c, c->h, c->w};
        if (!(g = ng_graph_new())) goto fail;
        ng_tensor *x = ng_input(g, "x", 4, xe), *logits = x ? ng_gan_discriminator(m, g, x) : NULL;
        if (!logits || ng_graph_finalize(g, logits)) goto fail;
        ng_graph_set_training(g, 0);
        double d_real = 0, d_fake = 0, acc_real = 0, acc_fake = 0;
        for (int s = 0; s < te.n; s += B) {
            int b = te.n - s < B ? te.n - s : B;
            memset(x->data, 0, sizeof(float) * D * B);
            for (size_t k = 0; k < D * (size_t)b; k++) x->data[k] = 2.0f * te.pixels[(size_t)s * D + k] - 1.0f;
            ng_graph_forward(g);
            for (int i = 0; i < b; i++) { double p = sigmoid(logits->data[i]); d_real += p; acc_real += p > 0.5; }
        }
        z = malloc(sizeof(float) * (size_t)n_fake * c->latent);
        if (!z) { ng_set_error("out of memory"); goto fail; }
        ng_rng_fill_normal(&rng, z, (int64_t)n_fake * c->latent);
        if (!(fake = decode_all(m, z, n_fake))) goto fail;
        for (int s = 0; s < n_fake; s += B) {
            int b = n_fake - s < B ? n_fake - s : B;
            memset(x->data, 0, sizeof(float) * D * B);
            memcpy(x->data, fake + (size_t)s * D, sizeof(float) * D * b);
            ng_graph_forward(g);
            for (int i = 0; i < b; i++) { double p = sigmoid(logits->data[i]); d_fake += p; acc_fake += p < 0.5; }
        }
        printf("gan: mean D(x) %.4f on %d real test images, mean D(G(z)) %.4f on %d samples (seed %llu)\n",
               d_real / te.n, te.n, d_fake / n_fake, n_fake, (unsigned long long)seed);
        printf("  D calls %.1f%% of the real images real and %.1f%% of the samples fake%s\n",
               100 * acc_real / te.n, 100 * acc_fake / n_fake, clf ? "" : " (FID: give --classifier CLF_DIR)");
        if (clf) {
            fflush(stdout);
            code = cli_gan_quality(dir, clf, n_fake, seed);   /* prints its own report or error */
            goto done;
        }
    }
    code = 0;
    goto done;
fail:
    fprintf(stderr, "nanogen: %s\n", ng_last_error());
done:
    ng_graph_free(g);
    free(fake); free(z); free(tj);
    ng_images_free(&te);
    ng_model_free(m);
    return code;
}

/* Whether `sample`/`eval` arguments name an image checkpoint (or ask for image-only output):
 * then cmd_sample / cmd_eval hand over to the functions above. */
int cli_image_args(int argc, char **argv, int sample) {
    static const char *const bools[] = {"--batch", "--stats", "--exact-context", "--skip-unknown", "--manifold",
                                        "--scatter", "--from-test", "--show-probs", "--json", "-h", "--help"};
    int data = 0, positional = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *prev = i ? argv[i - 1] : "";
        int is_value = prev[0] == '-';   /* the value of the flag before it (--prompt runs/vae) */
        for (size_t k = 0; k < sizeof bools / sizeof *bools; k++) if (!strcmp(prev, bools[k])) is_value = 0;
        if (is_value) continue;
        if (sample && (!strcmp(a, "--manifold") || !strcmp(a, "--scatter") || !strcmp(a, "--out"))) return 1;
        if (!strcmp(a, "--data")) data = 1;
        if (a[0] != '-') {
            positional = 1;
            if (cli_is_image_checkpoint(a)) return 1;
        }
    }
    /* eval of a text model needs --data; without it, say what DIR is (missing, text, image) */
    return !sample && !data && positional;
}

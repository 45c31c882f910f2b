/* test_classifier.c - the conv architecture of the AE/DAE/VAE (--arch conv) and the CNN
 * classifier: configs (JSON round trip, old configs without "arch" are MLP, errors), parameter
 * names / shapes / counts as PyTorch's modules give them, PyTorch's default init bounds
 * (Conv2d fan_in = in*k*k, ConvTranspose2d fan_in = weight.size(1)*k*k), graph shapes, the
 * decoder (sampling) graph, learning on a fixed batch, and checkpoint round trips. */
#include "nanogen.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static ng_rng g_rng;
static char g_dir[64];

static ng_model_config conv_cfg(ng_model_kind kind) {
    ng_model_config c = {0};
    c.kind = kind; c.c = 1; c.h = 28; c.w = 28; c.hidden = 256; c.latent = 20; c.beta = 1; c.arch = NG_ARCH_CONV;
    return c;
}
static ng_model_config clf_cfg(void) {
    ng_model_config c = {0};
    c.kind = NG_MODEL_CLASSIFIER; c.c = 1; c.h = 28; c.w = 28; c.hidden = 128; c.n_classes = 10; c.beta = 1;
    return c;
}

static void test_config(void) {
    ng_model_config c = conv_cfg(NG_MODEL_VAE), d;
    char *j = ng_model_config_to_json(&c);
    CHECK(j && strstr(j, "\"arch\":\"conv\""), "conv config JSON: %s", j ? j : "(null)");
    CHECK(ng_model_config_from_json(j, &d) == NG_OK && d.arch == NG_ARCH_CONV && d.hidden == 256 && d.kind == NG_MODEL_VAE,
          "round trip: %s", ng_last_error());
    free(j);
    CHECK(ng_model_config_from_json("{\"model\":\"vae\",\"channels\":1,\"height\":28,\"width\":28,\"hidden\":400,\"latent\":20,\"beta\":1}", &d) == NG_OK &&
          d.arch == NG_ARCH_MLP, "a config without 'arch' is the MLP: %s", ng_last_error());
    CHECK(ng_model_config_from_json("{\"model\":\"vae\",\"channels\":1,\"height\":28,\"width\":28,\"hidden\":400,\"latent\":20,\"arch\":\"rnn\"}", &d) == NG_ERR &&
          strstr(ng_last_error(), "arch"), "unknown arch: %s", ng_last_error());
    ng_model_config k = clf_cfg();
    j = ng_model_config_to_json(&k);
    CHECK(j && strstr(j, "\"model\":\"classifier\"") && strstr(j, "\"classes\":10") && !strstr(j, "arch"), "classifier JSON: %s", j ? j : "(null)");
    CHECK(ng_model_config_from_json(j, &d) == NG_OK && d.kind == NG_MODEL_CLASSIFIER && d.n_classes == 10 && d.hidden == 128,
          "classifier round trip: %s", ng_last_error());
    free(j);
    CHECK(!strcmp(ng_model_kind_name(NG_MODEL_CLASSIFIER), "classifier"), "kind name");
    /* errors */
    c.h = 30;
    CHECK(ng_model_config_check(&c) == NG_ERR && strstr(ng_last_error(), "divisible by 4"), "conv 30x28: %s", ng_last_error());
    c = conv_cfg(NG_MODEL_GAN); c.latent = 100;
    CHECK(ng_model_config_check(&c) == NG_ERR && strstr(ng_last_error(), "--arch"), "conv GAN: %s", ng_last_error());
    k.n_classes = 1;
    CHECK(ng_model_config_check(&k) == NG_ERR && strstr(ng_last_error(), "classes"), "1 class: %s", ng_last_error());
    k = clf_cfg(); k.arch = NG_ARCH_CONV;
    CHECK(ng_model_config_check(&k) == NG_ERR, "classifier with --arch conv is an error");
    c = conv_cfg(NG_MODEL_AE); c.h = c.w = 32; c.c = 3;
    CHECK(ng_model_config_check(&c) == NG_OK, "conv AE on 32x32x3: %s", ng_last_error());
}

typedef struct { const char *name; int ndim; int64_t ne[4]; float bound; } pspec;

static void check_params(ng_params *P, const pspec *sp, int n, int64_t total, const char *what) {
    CHECK(ng_params_count(P) == n, "%s: %d tensors, want %d", what, ng_params_count(P), n);
    CHECK(ng_params_numel(P) == total, "%s: %lld parameters, want %lld", what, (long long)ng_params_numel(P), (long long)total);
    for (int i = 0; i < n && i < ng_params_count(P); i++) {
        ng_tensor *t = ng_params_get(P, i);
        CHECK(!strcmp(t->name, sp[i].name), "%s: tensor %d is %s, want %s", what, i, t->name, sp[i].name);
        int same = t->ndim == sp[i].ndim;
        for (int k = 0; same && k < t->ndim; k++) same = t->ne[k] == sp[i].ne[k];
        CHECK(same, "%s: %s has the wrong shape", what, sp[i].name);
        /* U(-b, b): all inside, the extremes near b, the variance near b^2/3 */
        double mx = 0, var = 0;
        for (int64_t e = 0; e < t->n; e++) { mx = fmax(mx, fabs(t->data[e])); var += (double)t->data[e] * t->data[e]; }
        var /= t->n;
        float b = sp[i].bound;
        CHECK(mx <= b * 1.0001 && (t->n < 30 || mx > b * 0.8), "%s: %s max |w| %g, bound %g", what, sp[i].name, mx, b);
        if (t->n >= 500) CHECK(fabs(var / (b * b / 3) - 1) < 0.15, "%s: %s variance %g, want %g", what, sp[i].name, var, b * b / 3);
    }
}

static void test_conv_params(void) {
    ng_model_config c = conv_cfg(NG_MODEL_VAE);
    ng_model *m = ng_model_new(&c);
    if (m) ng_model_init(m, 7);
    CHECK(m != NULL, "%s", ng_last_error());
    if (!m) return;
    const float b16 = 0.25f;
    const pspec vae[] = {
        {"enc1.weight", 4, {32, 1, 4, 4}, b16}, {"enc1.bias", 1, {32}, b16},
        {"enc2.weight", 4, {64, 32, 4, 4}, 1 / sqrtf(512)}, {"enc2.bias", 1, {64}, 1 / sqrtf(512)},
        {"fc1.weight", 2, {256, 3136}, 1 / sqrtf(3136)}, {"fc1.bias", 1, {256}, 1 / sqrtf(3136)},
        {"mu.weight", 2, {20, 256}, 1 / 16.0f}, {"mu.bias", 1, {20}, 1 / 16.0f},
        {"logvar.weight", 2, {20, 256}, 1 / 16.0f}, {"logvar.bias", 1, {20}, 1 / 16.0f},
        {"fc3.weight", 2, {256, 20}, 1 / sqrtf(20)}, {"fc3.bias", 1, {256}, 1 / sqrtf(20)},
        {"fc4.weight", 2, {3136, 256}, 1 / 16.0f}, {"fc4.bias", 1, {3136}, 1 / 16.0f},
        /* ConvTranspose2d(64, 32): weight (64, 32, 4, 4), fan_in = 32*16 */
        {"dec1.weight", 4, {64, 32, 4, 4}, 1 / sqrtf(512)}, {"dec1.bias", 1, {32}, 1 / sqrtf(512)},
        {"dec2.weight", 4, {32, 1, 4, 4}, b16}, {"dec2.bias", 1, {1}, b16},
    };
    check_params(ng_model_block(m, 0), vae, 18, 1691369, "conv vae");
    CHECK(ng_model_n_blocks(m) == 1 && ng_model_buffers(m) == NULL, "one block, no buffers");
    ng_model_free(m);
    c = conv_cfg(NG_MODEL_AE);
    m = ng_model_new(&c);
    if (m) ng_model_init(m, 7);
    CHECK(m && ng_params_find(ng_model_block(m, 0), "fc2.weight") && !ng_params_find(ng_model_block(m, 0), "mu.weight"),
          "conv AE has fc2 (the code), no mu");
    ng_model_free(m);

    ng_model_config k = clf_cfg();
    m = ng_model_new(&k);
    if (m) ng_model_init(m, 3);
    CHECK(m != NULL, "%s", ng_last_error());
    if (!m) return;
    const pspec clf[] = {
        {"conv1.weight", 4, {32, 1, 3, 3}, 1 / 3.0f}, {"conv1.bias", 1, {32}, 1 / 3.0f},
        {"conv2.weight", 4, {64, 32, 3, 3}, 1 / sqrtf(288)}, {"conv2.bias", 1, {64}, 1 / sqrtf(288)},
        {"fc1.weight", 2, {128, 3136}, 1 / sqrtf(3136)}, {"fc1.bias", 1, {128}, 1 / sqrtf(3136)},
        {"fc2.weight", 2, {10, 128}, 1 / sqrtf(128)}, {"fc2.bias", 1, {10}, 1 / sqrtf(128)},
    };
    /* 320 + 18496 + 401536 + 1290 (the PyTorch module's count) */
    check_params(ng_model_block(m, 0), clf, 8, 421642, "classifier");
    ng_model_free(m);
}

static void fill_images(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = ng_rng_uniform(&g_rng) < 0.3f ? ng_rng_uniform(&g_rng) : 0;
}

/* a few Adam steps on one fixed batch: the loss must fall */
static double train_steps(ng_model *m, ng_graph *g, ng_tensor *loss, ng_tensor *eps, int steps, float lr, double *first) {
    ng_adamw_cfg ac = {lr, lr, 0.9f, 0.999f, 1e-8f, 0, 0, 0, 1};
    ng_adamw *o = ng_adamw_new(ng_model_block(m, 0), &ac);
    double last = 0;
    for (int s = 0; s < steps; s++) {
        if (eps) for (int64_t i = 0; i < eps->n; i++) eps->data[i] = 0;   /* deterministic z = mu */
        ng_graph_forward(g);
        if (s == 0) *first = loss->data[0];
        last = loss->data[0];
        ng_graph_backward(g);
        ng_adamw_step(o, lr);
    }
    ng_adamw_free(o);
    return last;
}

static void test_conv_graphs(void) {
    const ng_model_kind kinds[] = {NG_MODEL_AE, NG_MODEL_DAE, NG_MODEL_VAE};
    for (int ki = 0; ki < 3; ki++) {
        ng_model_config c = conv_cfg(kinds[ki]);
        c.hidden = 64;
        ng_model *m = ng_model_new(&c);
    if (m) ng_model_init(m, 11);
        ng_graph *g = ng_graph_new();
        ng_ae_graph a;
        const int B = 6;
        CHECK(m && g && ng_ae_build(m, g, B, &a) == NG_OK, "%s conv graph: %s", ng_model_kind_name(kinds[ki]), ng_last_error());
        if (!m || !g || !a.loss) { ng_graph_free(g); ng_model_free(m); continue; }
        CHECK(a.recon_logits->n == B * 784 && a.x->ne[1] == 784, "recon logits (B, 784)");
        CHECK((kinds[ki] == NG_MODEL_DAE) == (a.x_in != a.x), "DAE has its own corrupted input");
        CHECK((kinds[ki] == NG_MODEL_VAE) == (a.mu != NULL && a.kl != NULL), "VAE has mu and KL");
        fill_images(a.x->data, a.x->n);
        if (a.x_in != a.x) memcpy(a.x_in->data, a.x->data, sizeof(float) * a.x->n);
        double first = 0, last = train_steps(m, g, a.loss, a.eps, 60, 2e-3f, &first);
        /* BCE at init is about B * 784 * log 2 */
        CHECK(first > B * 784 * 0.5 && first < B * 784 * 0.9, "%s: initial loss %g", ng_model_kind_name(kinds[ki]), first);
        CHECK(isfinite(last) && last < 0.8 * first, "%s conv learns a fixed batch: %g -> %g", ng_model_kind_name(kinds[ki]), first, last);
        ng_graph_free(g);
        /* the sampling graph: z -> images in [0,1], (B, c*h*w) */
        ng_graph *dg = ng_graph_new();
        ng_decoder_graph d;
        CHECK(dg && ng_decoder_build(m, dg, 5, &d) == NG_OK, "conv decoder graph: %s", ng_last_error());
        if (d.images) {
            CHECK(d.images->ndim == 2 && d.images->ne[0] == 5 && d.images->ne[1] == 784, "decoder images (5, 784)");
            for (int64_t i = 0; i < d.z->n; i++) d.z->data[i] = ng_rng_normal(&g_rng);
            ng_graph_forward(dg);
            float lo = 1, hi = 0;
            for (int64_t i = 0; i < d.images->n; i++) { lo = fminf(lo, d.images->data[i]); hi = fmaxf(hi, d.images->data[i]); }
            CHECK(lo >= 0 && hi <= 1 && hi > lo, "decoder images in [0,1]: [%g, %g]", lo, hi);
        }
        ng_graph_free(dg);
        ng_model_free(m);
    }
    /* a non-square colour image size divisible by 4 */
    ng_model_config c = conv_cfg(NG_MODEL_VAE);
    c.c = 3; c.h = 16; c.w = 24; c.hidden = 32; c.latent = 4;
    ng_model *m = ng_model_new(&c);
    if (m) ng_model_init(m, 1);
    ng_graph *g = ng_graph_new();
    ng_ae_graph a;
    CHECK(m && g && ng_ae_build(m, g, 2, &a) == NG_OK && a.recon_logits->ne[1] == 3 * 16 * 24, "3x16x24 conv VAE: %s", ng_last_error());
    ng_graph_free(g);
    ng_model_free(m);
}

static void test_classifier_graph(void) {
    ng_model_config k = clf_cfg();
    ng_model *m = ng_model_new(&k);
    if (m) ng_model_init(m, 5);
    ng_graph *g = ng_graph_new();
    ng_classifier_graph cg;
    const int B = 16;
    CHECK(m && g && ng_classifier_build(m, g, B, &cg) == NG_OK, "classifier graph: %s", ng_last_error());
    if (!m || !g || !cg.loss) { ng_graph_free(g); ng_model_free(m); return; }
    CHECK(cg.x->ndim == 4 && cg.x->ne[0] == B && cg.x->ne[1] == 1 && cg.x->ne[2] == 28, "x (B,1,28,28)");
    CHECK(cg.logits->ne[0] == B && cg.logits->ne[1] == 10 && cg.features->ne[1] == 128, "logits (B,10), features (B,128)");
    fill_images(cg.x->data, cg.x->n);
    for (int i = 0; i < B; i++) cg.labels->idata[i] = (int)ng_rng_below(&g_rng, 10);
    double first = 0, last = train_steps(m, g, cg.loss, NULL, 40, 1e-3f, &first);
    CHECK(fabs(first - log(10.0)) < 0.3, "initial loss %g near log 10", first);
    CHECK(last < 0.2, "the classifier learns 16 labelled images: %g -> %g", first, last);
    ng_graph_forward(g);
    int fneg = 0;
    for (int64_t i = 0; i < cg.features->n; i++) fneg += cg.features->data[i] < 0;
    CHECK(fneg == 0, "features are after the ReLU");
    /* an eval graph with another batch size gives the same logits for the same image */
    ng_graph *ge = ng_graph_new();
    ng_classifier_graph ce;
    CHECK(ng_classifier_build(m, ge, 3, &ce) == NG_OK, "%s", ng_last_error());
    ng_graph_set_training(ge, 0);
    memcpy(ce.x->data, cg.x->data, sizeof(float) * ce.x->n);
    for (int i = 0; i < 3; i++) ce.labels->idata[i] = 0;
    ng_graph_forward(ge);
    double dmax = 0;
    for (int i = 0; i < 30; i++) dmax = fmax(dmax, fabs(ce.logits->data[i] - cg.logits->data[i]));
    CHECK(dmax < 1e-4, "eval graph logits = training graph logits (%g)", dmax);
    /* checkpoint round trip */
    char path[128];
    snprintf(path, sizeof path, "%s/clf", g_dir);
    CHECK(ng_checkpoint_save(path, m, NULL, "{\"epoch\":1}", NULL) == NG_OK, "save: %s", ng_last_error());
    ng_model *m2 = NULL;
    char *tj = NULL;
    CHECK(ng_checkpoint_load(path, &m2, NULL, &tj) == NG_OK, "load: %s", ng_last_error());
    if (m2) {
        const ng_model_config *c2 = ng_model_cfg(m2);
        CHECK(c2->kind == NG_MODEL_CLASSIFIER && c2->n_classes == 10 && c2->hidden == 128, "loaded config");
        ng_params *P = ng_model_block(m, 0), *P2 = ng_model_block(m2, 0);
        int same = ng_params_count(P) == ng_params_count(P2);
        for (int i = 0; same && i < ng_params_count(P); i++)
            same = !memcmp(ng_params_get(P, i)->data, ng_params_get(P2, i)->data, sizeof(float) * ng_params_get(P, i)->n);
        CHECK(same, "loaded parameters equal the saved ones");
    }
    free(tj);
    ng_model_free(m2);
    /* wrong graphs for the kind */
    ng_graph *gx = ng_graph_new();
    ng_ae_graph a;
    ng_decoder_graph d;
    CHECK(ng_ae_build(m, gx, 2, &a) == NG_ERR, "a classifier has no AE graph");
    CHECK(ng_decoder_build(m, gx, 2, &d) == NG_ERR, "a classifier has no decoder");
    ng_graph_free(gx);
    ng_graph_free(ge);
    ng_graph_free(g);
    ng_model_free(m);
    ng_model_config c = conv_cfg(NG_MODEL_VAE);
    m = ng_model_new(&c);
    if (m) ng_model_init(m, 1);
    gx = ng_graph_new();
    CHECK(ng_classifier_build(m, gx, 2, &cg) == NG_ERR && strstr(ng_last_error(), "not a classifier"), "a VAE is not a classifier");
    ng_graph_free(gx);
    /* conv VAE checkpoint round trip keeps the architecture */
    snprintf(path, sizeof path, "%s/cvae", g_dir);
    CHECK(ng_checkpoint_save(path, m, NULL, NULL, NULL) == NG_OK, "save conv vae: %s", ng_last_error());
    ng_model *m3 = NULL;
    CHECK(ng_checkpoint_load(path, &m3, NULL, NULL) == NG_OK && ng_model_cfg(m3)->arch == NG_ARCH_CONV, "conv vae reloads as conv: %s", ng_last_error());
    ng_model_free(m3);
    ng_model_free(m);
}

int main(void) {
    ng_rng_seed(&g_rng, 9);
    strcpy(g_dir, "/tmp/ng_clf_XXXXXX");
    if (!mkdtemp(g_dir)) { perror("mkdtemp"); return 1; }
    ng_set_threads(2);
    RUN(test_config);
    RUN(test_conv_params);
    RUN(test_conv_graphs);
    RUN(test_classifier_graph);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", g_dir);
    TEST_MAIN_END();
}

/* test_threads.c - results do not depend on the thread count: every model's forward and
 * backward pass, and an AdamW step, give the same bits on 1, 2 and 3 threads (nanogen lowers
 * its thread count when other programs take the CPUs, so a run must not change with it).
 * The KV-cache sampler's version of this is test_infer_threads in test_model.c. */
#include "nanogen.h"
#include "core/internal.h"
#include "test.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define RUNS 3   /* 1, 2, 3 threads */

/* a snapshot: the concatenation of the floats a run produced */
typedef struct { float *v; size_t n, cap; } snap;

static void snap_add(snap *s, const float *x, size_t n) {
    if (s->n + n > s->cap) {
        s->cap = (s->n + n) * 2;
        s->v = realloc(s->v, s->cap * sizeof(float));
    }
    memcpy(s->v + s->n, x, n * sizeof(float));
    s->n += n;
}

static void snap_params(snap *s, ng_params *P, int grads) {
    for (int i = 0; i < ng_params_count(P); i++) {
        ng_tensor *t = ng_params_get(P, i);
        snap_add(s, grads ? t->grad : t->data, (size_t)t->n);
    }
}

/* runs f(k, &snaps[k]) with k + 1 threads and checks that every snapshot equals the first */
static void same_on_threads(const char *what, void (*f)(snap *)) {
    const int saved = omp_get_max_threads();
    snap s[RUNS] = {{0}};
    for (int k = 0; k < RUNS; k++) {
        omp_set_num_threads(k + 1);
        f(&s[k]);
    }
    omp_set_num_threads(saved);
    for (int k = 1; k < RUNS; k++) {
        size_t diff = 0;
        for (size_t i = 0; i < s[0].n && s[k].n == s[0].n; i++) diff += memcmp(&s[0].v[i], &s[k].v[i], sizeof(float)) != 0;
        CHECK(s[k].n == s[0].n && diff == 0, "%s: %zu of %zu values differ between 1 and %d threads", what, diff, s[0].n, k + 1);
    }
    printf("  %-34s %8zu values, bit-identical on 1, 2 and 3 threads\n", what, s[0].n);
    for (int k = 0; k < RUNS; k++) free(s[k].v);
}

/* ---------------------------------------------------------------- GPT */

static int g_dropout, g_options;   /* g_options: --gelu exact --no-bias */

static void gpt_run(snap *s) {
    ng_model_config c = {.kind = NG_MODEL_GPT, .vocab_size = 65, .block_size = 64, .n_layer = 2, .n_head = 4,
                         .n_embd = 128, .dropout = g_dropout ? 0.1f : 0.0f, .gelu = g_options ? NG_GELU_EXACT : NG_GELU_TANH,
                         .no_bias = g_options};
    const int B = 12, T = 64;
    ng_model *m = ng_model_new(&c);
    ng_model_init(m, 7);
    ng_graph *g = ng_graph_new();
    ng_lm_graph lg;
    CHECK(m && g && ng_model_build(m, g, B, T, &lg) == NG_OK, "%s", ng_last_error());
    ng_graph_set_training(g, 1);
    ng_graph_set_dropout_seed(g, 5, 3);
    ng_rng r;
    ng_rng_seed(&r, 3);
    for (int i = 0; i < B * T; i++) {
        lg.idx->idata[i] = (int32_t)ng_rng_below(&r, 65);
        lg.targets->idata[i] = (int32_t)ng_rng_below(&r, 65);
    }
    ng_params *P = ng_model_params(m);
    ng_adamw_cfg oc = {.lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.99f, .eps = 1e-8f, .weight_decay = 0.1f, .grad_clip = 1.0f,
                       .warmup = 0, .steps = 10, .min_lr = 1e-4f};
    ng_adamw *o = ng_adamw_new(P, &oc);
    ng_params_zero_grad(P);
    for (int step = 0; step < 2; step++) {
        ng_graph_forward(g);
        ng_graph_backward(g);
        if (step == 0) {
            snap_add(s, lg.loss->data, 1);
            snap_add(s, lg.logits->data, (size_t)lg.logits->n);
            snap_params(s, P, 1);
        }
        float norm = ng_adamw_step(o, 1e-3f);
        snap_add(s, &norm, 1);
    }
    snap_params(s, P, 0);
    snap_add(s, ng_adamw_m(o), (size_t)ng_params_total(P));
    snap_add(s, ng_adamw_v(o), (size_t)ng_params_total(P));
    ng_adamw_free(o);
    ng_graph_free(g);
    ng_model_free(m);
}

static void test_gpt(void) {
    g_dropout = 0;
    same_on_threads("GPT forward, backward, 2 AdamW steps", gpt_run);
    g_dropout = 1;
    same_on_threads("GPT with dropout 0.1", gpt_run);
    g_options = 1;
    same_on_threads("GPT with exact GELU, no biases, dropout 0.1", gpt_run);
    g_options = 0;
}

/* ---------------------------------------------------------------- image models */

static ng_model_config g_icfg;

static void fill_images(float *x, int64_t n, uint64_t seed) {
    ng_rng r;
    ng_rng_seed(&r, seed);
    for (int64_t i = 0; i < n; i++) x[i] = ng_rng_uniform(&r);
}

static void ae_run(snap *s) {
    const int B = 64;
    ng_model *m = ng_model_new(&g_icfg);
    if (m) ng_model_init(m, 11);
    ng_graph *g = ng_graph_new();
    ng_ae_graph ag;
    CHECK(m && g && ng_ae_build(m, g, B, &ag) == NG_OK, "%s", ng_last_error());
    fill_images(ag.x->data, ag.x->n, 1);
    if (ag.x_in != ag.x) fill_images(ag.x_in->data, ag.x_in->n, 2);
    if (ag.eps) { ng_rng r; ng_rng_seed(&r, 3); ng_rng_fill_normal(&r, ag.eps->data, ag.eps->n); }
    ng_graph_set_training(g, 1);
    ng_params *P = ng_model_block(m, 0);
    ng_params_zero_grad(P);
    ng_graph_forward(g);
    ng_graph_backward(g);
    snap_add(s, ag.loss->data, 1);
    snap_add(s, ag.recon_logits->data, (size_t)ag.recon_logits->n);
    snap_params(s, P, 1);
    ng_graph_free(g);
    ng_model_free(m);
}

static void test_autoencoders(void) {
    g_icfg = (ng_model_config){.kind = NG_MODEL_VAE, .c = 1, .h = 28, .w = 28, .hidden = 400, .latent = 20, .beta = 1};
    same_on_threads("VAE (MLP) forward, backward", ae_run);
    g_icfg.arch = NG_ARCH_CONV;
    same_on_threads("VAE (conv) forward, backward", ae_run);
    g_icfg = (ng_model_config){.kind = NG_MODEL_DAE, .c = 1, .h = 28, .w = 28, .hidden = 64, .latent = 8, .beta = 1, .arch = NG_ARCH_CONV};
    same_on_threads("DAE (conv) forward, backward", ae_run);
}

/* the DCGAN's two graphs: G's images with a fixed upstream gradient, D's BCE on real and fake */
static void gan_run(snap *s) {
    const int B = 32;
    ng_model_config c = {.kind = NG_MODEL_GAN, .c = 1, .h = 28, .w = 28, .latent = 100};
    ng_model *m = ng_model_new(&c);
    if (m) ng_model_init(m, 5);
    ng_graph *gg = ng_graph_new(), *gd = ng_graph_new();
    ng_decoder_graph dg;
    CHECK(m && gg && gd && ng_decoder_build(m, gg, B, &dg) == NG_OK, "%s", ng_last_error());
    ng_rng r;
    ng_rng_seed(&r, 9);
    ng_rng_fill_normal(&r, dg.z->data, dg.z->n);
    ng_graph_set_training(gg, 1);
    ng_params *PG = ng_model_block(m, 0), *PD = ng_model_block(m, 1);
    ng_params_zero_grad(PG);
    ng_graph_forward(gg);
    float *dout = malloc(sizeof(float) * (size_t)dg.images->n);
    ng_rng_fill_normal(&r, dout, dg.images->n);
    ng_graph_backward_with(gg, dout);
    snap_add(s, dg.images->data, (size_t)dg.images->n);
    snap_params(s, PG, 1);
    const int64_t xe[4] = {B, 1, 28, 28}, te[2] = {B, 1};
    ng_tensor *x = ng_input(gd, "x", 4, xe), *tg = ng_input(gd, "target", 2, te);
    ng_tensor *logits = ng_gan_discriminator(m, gd, x), *loss = ng_bce_logits(gd, logits, tg, NG_MEAN);
    CHECK(ng_graph_finalize(gd, loss) == NG_OK, "%s", ng_last_error());
    memcpy(x->data, dg.images->data, sizeof(float) * (size_t)x->n);
    for (int i = 0; i < B; i++) tg->data[i] = (float)(i % 2);
    ng_graph_set_training(gd, 1);
    ng_params_zero_grad(PD);
    ng_graph_forward(gd);
    ng_graph_backward(gd);
    snap_add(s, loss->data, 1);
    snap_params(s, PD, 1);
    ng_params *buf = ng_model_buffers(m);
    if (buf) snap_params(s, buf, 0);   /* BatchNorm's running statistics */
    free(dout);
    ng_graph_free(gg);
    ng_graph_free(gd);
    ng_model_free(m);
}

static void classifier_run(snap *s) {
    const int B = 64;
    ng_model_config c = {.kind = NG_MODEL_CLASSIFIER, .c = 1, .h = 28, .w = 28, .hidden = 128, .n_classes = 10};
    ng_model *m = ng_model_new(&c);
    if (m) ng_model_init(m, 3);
    ng_graph *g = ng_graph_new();
    ng_classifier_graph cg;
    CHECK(m && g && ng_classifier_build(m, g, B, &cg) == NG_OK, "%s", ng_last_error());
    fill_images(cg.x->data, cg.x->n, 4);
    for (int i = 0; i < B; i++) cg.labels->idata[i] = i % 10;
    ng_graph_set_training(g, 1);
    ng_params *P = ng_model_block(m, 0);
    ng_params_zero_grad(P);
    ng_graph_forward(g);
    ng_graph_backward(g);
    snap_add(s, cg.loss->data, 1);
    snap_add(s, cg.logits->data, (size_t)cg.logits->n);
    snap_params(s, P, 1);
    ng_graph_free(g);
    ng_model_free(m);
}

static void test_gan_classifier(void) {
    same_on_threads("DCGAN G and D forward, backward", gan_run);
    same_on_threads("classifier forward, backward", classifier_run);
}

/* ---------------------------------------------------------------- GEMM shapes */

/* ng_sgemm on shapes that split into many tiles and K blocks, both transpositions */
static int g_gemm_case;

static void gemm_run(snap *s) {
    static const int shapes[][5] = {{768, 384, 128, 0, 1}, {384, 128, 768, 1, 0}, {65, 128, 768, 1, 0}, {300, 500, 700, 1, 1}};
    const int *q = shapes[g_gemm_case];
    const int M = q[0], N = q[1], K = q[2], ta = q[3], tb = q[4];
    float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N), *C = malloc(sizeof(float) * M * N);
    fill_images(A, (int64_t)M * K, 1);
    fill_images(B, (int64_t)K * N, 2);
    fill_images(C, (int64_t)M * N, 3);
    ng_sgemm(ta, tb, M, N, K, 1.0f, A, ta ? M : K, B, tb ? K : N, 0.5f, C, N);
    snap_add(s, C, (size_t)M * N);
    free(A); free(B); free(C);
}

static void test_gemm(void) {
    for (g_gemm_case = 0; g_gemm_case < 4; g_gemm_case++) same_on_threads("ng_sgemm", gemm_run);
}

int main(void) {
    printf("  GEMM: %s\n", ng_gemm_name());
    RUN(test_gemm);
    RUN(test_gpt);
    RUN(test_autoencoders);
    RUN(test_gan_classifier);
    TEST_MAIN_END();
}

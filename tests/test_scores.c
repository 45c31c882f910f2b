/* test_scores.c - the anomaly tools' math and files (src/eval/scores.c, src/io/latent.c):
 * the ROC AUC on known inputs (perfect, reversed, all tied, sklearn's four-point example, ties
 * counted one half) and against an O(n^2) count of pairs on random scores with many ties; the
 * ranking; classes by name or number; the noise spec; anomaly scores equal to the test loss
 * per picture (ae), the excess to it less the pictures' entropy, and to D's outputs (gan); latent files written and read back bit for bit,
 * and every corruption of one refused with an error naming it. */
#include "nanogen.h"
#include "test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static double auc_of(const double *s, const uint8_t *p, int n) {
    double a = -1;
    if (ng_roc_auc(s, p, n, &a)) return -1;
    return a;
}

static void test_auc_known(void) {
    const double s1[] = {0.1, 0.4, 0.35, 0.8};
    const uint8_t p1[] = {0, 0, 1, 1};
    CHECK_NEAR(auc_of(s1, p1, 4), 0.75, 1e-12, "sklearn's example");
    const double s2[] = {1, 2, 3, 4, 5, 6};
    const uint8_t p2[] = {0, 0, 0, 1, 1, 1}, p3[] = {1, 1, 1, 0, 0, 0};
    CHECK_NEAR(auc_of(s2, p2, 6), 1.0, 0, "perfect");
    CHECK_NEAR(auc_of(s2, p3, 6), 0.0, 0, "reversed");
    const double s4[] = {7, 7, 7, 7, 7};
    const uint8_t p4[] = {1, 0, 0, 1, 0};
    CHECK_NEAR(auc_of(s4, p4, 5), 0.5, 0, "all tied");
    /* pairs (positive, negative): 2>1, 2=2 (half), 3>1, 3>2: 3.5 of 4 */
    const double s5[] = {1, 2, 2, 3};
    const uint8_t p5[] = {0, 1, 0, 1};
    CHECK_NEAR(auc_of(s5, p5, 4), 0.875, 1e-15, "a tie counted one half");
    double a;
    CHECK(ng_roc_auc(s2, p2, 1, &a) == NG_ERR, "one score");
    CHECK(ng_roc_auc(s4, p2, 3, &a) == NG_ERR && strstr(ng_last_error(), "both classes"), "%s", ng_last_error());
    const double s6[] = {1, NAN, 2};
    const uint8_t p6[] = {0, 1, 1};
    CHECK(ng_roc_auc(s6, p6, 3, &a) == NG_ERR && strstr(ng_last_error(), "NaN"), "%s", ng_last_error());
    const double s7[] = {-INFINITY, INFINITY, 0};
    const uint8_t p7[] = {0, 1, 0};
    CHECK_NEAR(auc_of(s7, p7, 3), 1.0, 0, "infinite scores rank");
}

static void test_auc_random(void) {
    ng_rng r;
    ng_rng_seed(&r, 42);
    for (int trial = 0; trial < 50; trial++) {
        const int n = 2 + (int)ng_rng_below(&r, 300);
        double *s = malloc(sizeof(double) * n);
        uint8_t *p = malloc(n);
        int npos = 0;
        for (int i = 0; i < n; i++) {
            s[i] = floor(ng_rng_normal(&r) * (trial % 3 == 0 ? 2 : 20));   /* many ties */
            p[i] = ng_rng_below(&r, 4) == 0;
            npos += p[i];
        }
        if (npos == 0) p[0] = 1, npos = 1;
        if (npos == n) p[0] = 0, npos--;
        double wins = 0;
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                if (p[i] && !p[j]) wins += s[i] > s[j] ? 1 : s[i] == s[j] ? 0.5 : 0;
        const double want = wins / ((double)npos * (n - npos)), got = auc_of(s, p, n);
        CHECK(fabs(got - want) <= 1e-12, "trial %d, n %d: %.15g vs %.15g", trial, n, got, want);
        free(s);
        free(p);
    }
}

static void test_rank(void) {
    const double s[] = {3, 5, 3, 9, -1};
    int *o = ng_scores_rank(s, 5);
    CHECK(o && o[0] == 3 && o[1] == 1 && o[2] == 0 && o[3] == 2 && o[4] == 4, "order");
    free(o);
    double mean[3];
    int count[3];
    const uint8_t lab[] = {0, 2, 0, 2, 2};
    CHECK(ng_scores_by_class(s, lab, 5, 3, mean, count) == NG_OK, "%s", ng_last_error());
    CHECK(count[0] == 2 && count[1] == 0 && count[2] == 3 && mean[0] == 3 && isnan(mean[1]) && fabs(mean[2] - 13.0 / 3) < 1e-12, "by class");
}

static void test_classes(void) {
    int c = -1;
    CHECK(ng_dataset_class_find("fashion-mnist", 10, "Sneaker", &c) == NG_OK && c == 7, "Sneaker");
    CHECK(ng_dataset_class_find("fashion-mnist", 10, "ankle BOOT", &c) == NG_OK && c == 9, "any case");
    CHECK(ng_dataset_class_find("fashion-mnist", 10, "3", &c) == NG_OK && c == 3, "a number");
    CHECK(ng_dataset_class_find("fashion-mnist", 10, "10", &c) == NG_ERR && strstr(ng_last_error(), "0..9"), "%s", ng_last_error());
    CHECK(ng_dataset_class_find("fashion-mnist", 10, "Shoe", &c) == NG_ERR && strstr(ng_last_error(), "7 Sneaker"), "%s", ng_last_error());
    CHECK(ng_dataset_class_find("pics", 3, "cat", &c) == NG_ERR && strstr(ng_last_error(), "no class names"), "%s", ng_last_error());
    CHECK(ng_dataset_class_find("pics", 3, "2", &c) == NG_OK && c == 2, "a folder's class by number");
    ng_noise nz;
    CHECK(ng_noise_parse("gaussian:0.3", &nz) == NG_OK && !nz.mask && fabsf(nz.level - 0.3f) < 1e-7f, "gaussian");
    CHECK(ng_noise_parse("mask:1", &nz) == NG_OK && nz.mask && nz.level == 1, "mask");
    const char *bad[] = {"mask:1.5", "gaussian:", "gaussian:-1", "gauss:0.3", "mask:0.5x", "", "gaussian:nan"};
    for (int i = 0; i < 7; i++) CHECK(ng_noise_parse(bad[i], &nz) == NG_ERR && *ng_last_error(), "'%s' accepted", bad[i]);
}

/* random pictures of a model's shape */
static void pictures(ng_images *x, int n, int c, int h, int w, uint64_t seed) {
    ng_rng r;
    ng_rng_seed(&r, seed);
    memset(x, 0, sizeof *x);
    x->n = n; x->c = c; x->h = h; x->w = w;
    x->pixels = malloc(sizeof(float) * n * c * h * w);
    for (int i = 0; i < n * c * h * w; i++) x->pixels[i] = ng_rng_below(&r, 3) ? ng_rng_uniform(&r) : 0;
}

static void test_scores_models(void) {
    ng_model_config ac = {.kind = NG_MODEL_AE, .c = 1, .h = 6, .w = 6, .hidden = 5, .latent = 3};
    ng_model *ae = ng_model_new(&ac);
    CHECK(ae != NULL, "%s", ng_last_error());
    if (!ae) return;
    ng_model_init(ae, 3);
    ng_images x;
    pictures(&x, 300, 1, 6, 6, 1);   /* more than one batch of 256, the last one short */
    double *s = malloc(sizeof(double) * x.n), rec = 0, kl = 0, sum = 0;
    ng_image_train_info ti = {.size = 6};
    CHECK(ng_image_scores(ae, &x, 0, s) == NG_OK, "%s", ng_last_error());
    CHECK(ng_image_test_loss(ae, &x, &ti, 1, &rec, &kl) == NG_OK, "%s", ng_last_error());
    for (int i = 0; i < x.n; i++) sum += s[i];
    CHECK_NEAR(sum / x.n, rec, 1e-4 * rec, "the ae's mean score is its test loss per picture");
    /* one picture scored alone scores the same as in a batch */
    ng_images one = x;
    one.n = 1;
    one.pixels = x.pixels + 299 * 36;
    double s1;
    CHECK(ng_image_scores(ae, &one, 0, &s1) == NG_OK && fabs(s1 - s[299]) <= 1e-5 * fabs(s1), "%g vs %g", s1, s[299]);
    /* the excess: the same less each picture's entropy, sum of H(x_i) */
    double *e = malloc(sizeof(double) * x.n), worst = 0;
    CHECK(ng_image_scores(ae, &x, 1, e) == NG_OK, "%s", ng_last_error());
    for (int i = 0; i < x.n; i++) {
        double h = 0;
        for (int k = 0; k < 36; k++) {
            const double t = x.pixels[i * 36 + k];
            h += (t > 0 ? -t * log(t) : 0) + (t < 1 ? -(1 - t) * log(1 - t) : 0);
        }
        worst = fmax(worst, fabs(s[i] - h - e[i]));
    }
    CHECK(worst < 1e-9, "excess = score - entropy: off by %g", worst);
    free(e);
    ng_images wrong = x;
    wrong.h = wrong.w = 5;
    CHECK(ng_image_scores(ae, &wrong, 0, s) == NG_ERR && strstr(ng_last_error(), "trained on"), "%s", ng_last_error());
    ng_model_free(ae);
    free(x.pixels);

    ng_model_config gc = {.kind = NG_MODEL_GAN, .c = 1, .h = 28, .w = 28, .latent = 100};
    ng_model *gan = ng_model_new(&gc);
    CHECK(gan != NULL, "%s", ng_last_error());
    if (gan) {
        ng_model_init(gan, 5);
        pictures(&x, 40, 1, 28, 28, 2);
        CHECK(ng_image_scores(gan, &x, 0, s) == NG_OK, "%s", ng_last_error());
        ng_gan_d_stats st;
        CHECK(ng_gan_d_eval(gan, &x, 2, 1, &st) == NG_OK, "%s", ng_last_error());
        double d = 0;
        for (int i = 0; i < x.n; i++) d += 1 / (1 + exp(s[i]));   /* D(x) = sigmoid(logit) = sigmoid(-score) */
        CHECK_NEAR(d, st.d_real, 1e-4, "the gan's score is minus D's logit");
        CHECK(ng_image_scores(gan, &x, 1, s) == NG_ERR && strstr(ng_last_error(), "reconstructs nothing"), "%s", ng_last_error());
        ng_model_free(gan);
        free(x.pixels);
    }
    free(s);
}

static void put(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (f) { fwrite(p, 1, n, f); fclose(f); }
}

static void test_latent_files(void) {
    char dir[] = "/tmp/nanogen-test-scores-XXXXXX", path[128], bad[128];
    if (!mkdtemp(dir)) { CHECK(0, "mkdtemp"); return; }
    snprintf(path, sizeof path, "%s/z.lat", dir);
    snprintf(bad, sizeof bad, "%s/bad.lat", dir);
    float z[6] = {1.5f, -0.0f, 3e-38f, -2.25f, 1e30f, 0.125f};
    ng_latents l = {.n = 2, .latent = 3, .c = 1, .h = 28, .w = 28, .z = z}, r;
    CHECK(ng_latents_write(path, &l) == NG_OK, "%s", ng_last_error());
    CHECK(ng_latents_read(path, &r) == NG_OK, "%s", ng_last_error());
    CHECK(r.n == 2 && r.latent == 3 && r.c == 1 && r.h == 28 && r.w == 28 && !memcmp(r.z, z, sizeof z), "read back bit for bit");
    ng_latents_free(&r);
    size_t n;
    unsigned char *b = (unsigned char *)ng_read_file(path, &n);
    CHECK(b && n == 32 + 24 && !memcmp(b, "NGLATENT", 8) && b[8] == 1 && b[12] == 2 && b[16] == 3 && b[24] == 28, "the header");
    if (!b) return;
    struct { const char *what, *expect; size_t at, len; int v; } cases[] = {
        {"truncated", "truncated", 0, 53, -1},
        {"empty", "shorter than the 32-byte header", 0, 0, -1},
        {"trailing", "trailing bytes", 0, 60, -1},
        {"magic", "not a latent file", 0, 56, 'X'},
        {"version", "version 2", 8, 56, 2},
        {"count 0", "count of 0 pictures", 12, 56, 0},
        {"absurd count", "count of", 15, 56, 0x7F},
        {"latent 0", "latent size of 0", 16, 56, 0},
        {"channels", "2 channels", 20, 56, 2},
        {"height", "picture size", 24, 56, 0},
        {"NaN", "NaN", 35, 56, 0x7F},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        unsigned char buf[64];
        memset(buf, 0, sizeof buf);
        memcpy(buf, b, n);
        if (cases[k].v >= 0) buf[cases[k].at] = (unsigned char)cases[k].v;
        if (!strcmp(cases[k].what, "NaN")) { buf[34] = 0xC0; buf[35] = 0x7F; }
        put(bad, buf, cases[k].len);
        r.z = (float *)1;
        CHECK(ng_latents_read(bad, &r) == NG_ERR && strstr(ng_last_error(), cases[k].expect) && strstr(ng_last_error(), "bad.lat") && !r.z,
              "%s: %s", cases[k].what, ng_last_error());
    }
    CHECK(ng_latents_read(dir, &r) == NG_ERR && strstr(ng_last_error(), "not a file"), "%s", ng_last_error());
    z[1] = NAN;
    CHECK(ng_latents_write(bad, &l) == NG_ERR && strstr(ng_last_error(), "not finite"), "%s", ng_last_error());
    free(b);
    unlink(path);
    unlink(bad);
    rmdir(dir);
}

int main(void) {
    ng_set_threads(1);
    RUN(test_auc_known);
    RUN(test_auc_random);
    RUN(test_rank);
    RUN(test_classes);
    RUN(test_scores_models);
    RUN(test_latent_files);
    TEST_MAIN_END();
}

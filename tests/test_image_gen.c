/* tests/test_image_gen.c - the library's image-model generation and the inspection helpers
 * the command is a front end to (src/infer/images.c, src/infer/inspect.c, src/io/checkpoint_kind.c):
 * reconstructions are decode(encode(x)) (a DAE's: of its corrupted copy), walks start and end
 * at the decoded endpoints, sampling with a seed is reproducible and is decode(N(0,1) from the
 * seed), the manifold's centre is decode(0), 2-D latents are the encoder's, a checkpoint's kind
 * is read from its metadata, the next-token table and the embeddings' token choice. Small
 * random models, no data set needed. */
#include "nanogen.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_dir[] = "/tmp/ng_test_image_gen_XXXXXX";

static ng_model *image_model(ng_model_kind kind, int latent) {
    ng_model_config c = {.kind = kind, .c = 1, .h = 8, .w = 8, .hidden = 16, .latent = latent, .beta = 1.0f};
    if (kind == NG_MODEL_GAN) { c.h = c.w = 28; c.hidden = 0; }
    ng_model *m = ng_model_new(&c);
    if (m) ng_model_init(m, 5);
    return m;
}

static float maxdiff(const float *a, const float *b, size_t n) {
    float d = 0;
    for (size_t i = 0; i < n; i++) d = fmaxf(d, fabsf(a[i] - b[i]));
    return d;
}

/* n pictures of D pixels in [0,1] from a fixed pattern */
static float *pictures(int n, size_t D) {
    float *x = malloc(sizeof(float) * D * n);
    for (size_t i = 0; i < D * (size_t)n; i++) x[i] = (float)((i * 37 % 101) / 100.0);
    return x;
}

static void test_reconstruct(void) {
    const ng_model_kind kinds[3] = {NG_MODEL_AE, NG_MODEL_VAE, NG_MODEL_DAE};
    for (int k = 0; k < 3; k++) {
        ng_model *m = image_model(kinds[k], 3);
        CHECK(m != NULL, "%s: %s", ng_model_kind_name(kinds[k]), ng_last_error());
        if (!m) continue;
        const size_t D = 64;
        const int n = 5;
        float *x = pictures(n, D), *noisy = malloc(sizeof(float) * D * n);
        ng_image_train_info t = {.size = 8, .noise = 0.5f, .noise_mask = 1};
        float *r = ng_image_reconstruct(m, x, n, &t, 3, noisy);
        float *z = ng_image_encode(m, kinds[k] == NG_MODEL_DAE ? noisy : x, n), *d = z ? ng_image_decode(m, z, n) : NULL;
        CHECK(r && d && maxdiff(r, d, D * n) == 0, "%s: reconstruct = decode(encode(x))", ng_model_kind_name(kinds[k]));
        if (kinds[k] == NG_MODEL_DAE) {
            int zeros = 0, same = 0;
            for (size_t i = 0; i < D * n; i++) { zeros += noisy[i] == 0 && x[i] != 0; same += noisy[i] == x[i]; }
            CHECK(zeros > 0 && same > 0 && zeros + same == (int)(D * n), "dae: mask noise zeroes some pixels, keeps the rest (%d, %d)", zeros, same);
        }
        float *r2 = ng_image_reconstruct(m, x, n, &t, 3, NULL);
        CHECK(r && r2 && memcmp(r, r2, sizeof(float) * D * n) == 0, "%s: same seed, same reconstruction", ng_model_kind_name(kinds[k]));
        for (size_t i = 0; r && i < D * n; i++) if (!(r[i] >= 0 && r[i] <= 1)) { CHECK(0, "pixel %zu = %g outside [0,1]", i, r[i]); break; }
        free(x); free(noisy); free(r); free(r2); free(z); free(d);
        ng_model_free(m);
    }
    ng_model *g = image_model(NG_MODEL_GAN, 4);
    float x[784] = {0};
    CHECK(g && !ng_image_encode(g, x, 1) && strstr(ng_last_error(), "no encoder"), "a GAN has no encoder: %s", ng_last_error());
    ng_model_free(g);
}

static void test_sample(void) {
    ng_model *v = image_model(NG_MODEL_VAE, 3);
    const size_t D = 64;
    float *a = ng_image_sample(v, 6, 11), *b = ng_image_sample(v, 6, 11), *c = ng_image_sample(v, 6, 12);
    CHECK(a && b && memcmp(a, b, sizeof(float) * D * 6) == 0, "same seed, same pictures");
    CHECK(a && c && memcmp(a, c, sizeof(float) * D * 6) != 0, "another seed, other pictures");
    float z[18];
    ng_rng r;
    ng_rng_seed(&r, 11);
    ng_rng_fill_normal(&r, z, 18);
    float *d = ng_image_decode(v, z, 6);
    CHECK(a && d && memcmp(a, d, sizeof(float) * D * 6) == 0, "sample = decode(z ~ N(0,1) from the seed)");
    free(a); free(b); free(c); free(d);
    ng_model *ae = image_model(NG_MODEL_AE, 3);
    CHECK(!ng_image_sample(ae, 2, 1) && strstr(ng_last_error(), "prior"), "an AE has no prior: %s", ng_last_error());
    ng_model_free(ae);
    ng_model *g = image_model(NG_MODEL_GAN, 4);
    float *s1 = g ? ng_image_sample(g, 3, 2) : NULL;
    int in = s1 != NULL;
    for (int i = 0; s1 && i < 3 * 784; i++) in &= s1[i] >= -1 && s1[i] <= 1;
    CHECK(in, "gan samples in [-1, 1]");
    free(s1);
    ng_model_free(g);
    ng_model_free(v);
}

static void test_interpolate(void) {
    ng_model *v = image_model(NG_MODEL_VAE, 3);
    const size_t D = 64;
    const int rows = 2, steps = 4;
    float *grid = ng_image_interpolate(v, NULL, rows, steps, 9);
    float ends[2 * 2 * 3];
    ng_rng r;
    ng_rng_seed(&r, 9);
    ng_rng_fill_normal(&r, ends, 12);
    float *de = ng_image_decode(v, ends, 4);
    for (int row = 0; grid && de && row < rows; row++) {
        CHECK(maxdiff(grid + (size_t)row * steps * D, de + (size_t)(2 * row) * D, D) < 1e-5, "prior walk %d starts at decode(z_a)", row);
        CHECK(maxdiff(grid + ((size_t)row * steps + steps - 1) * D, de + (size_t)(2 * row + 1) * D, D) < 1e-5, "prior walk %d ends at decode(z_b)", row);
    }
    free(grid); free(de);
    /* between test pictures: shown at both ends, the walk from decode(encode(a)) to decode(encode(b)) */
    ng_images te = {.n = 3, .c = 1, .h = 8, .w = 8, .pixels = pictures(3, D)};
    grid = ng_image_interpolate(v, &te, rows, steps, 9);
    const int cols = steps + 2;
    for (int row = 0; grid && row < rows; row++) {
        const float *first = grid + (size_t)row * cols * D, *last = first + (size_t)(cols - 1) * D;
        int a = -1, b = -1;
        for (int i = 0; i < 3; i++) {
            if (!memcmp(first, te.pixels + i * D, sizeof(float) * D)) a = i;
            if (!memcmp(last, te.pixels + i * D, sizeof(float) * D)) b = i;
        }
        CHECK(a >= 0 && b >= 0 && a != b, "row %d shows two distinct test pictures at its ends (%d, %d)", row, a, b);
        if (a < 0 || b < 0) continue;
        float *ra = ng_image_reconstruct(v, te.pixels + a * D, 1, NULL, 1, NULL), *rb = ng_image_reconstruct(v, te.pixels + b * D, 1, NULL, 1, NULL);
        CHECK(ra && rb && maxdiff(first + D, ra, D) < 1e-5 && maxdiff(last - D, rb, D) < 1e-5, "row %d walks from decode(encode(a)) to decode(encode(b))", row);
        free(ra); free(rb);
    }
    free(grid);
    te.n = 1;
    CHECK(!ng_image_interpolate(v, &te, 1, 3, 1) && strstr(ng_last_error(), "at least 2"), "one test picture: %s", ng_last_error());
    free(te.pixels);
    ng_model_free(v);
}

static void test_manifold_latents(void) {
    ng_model *v = image_model(NG_MODEL_VAE, 2), *v3 = image_model(NG_MODEL_VAE, 3);
    const size_t D = 64;
    float *grid = ng_image_manifold(v, 3), z0[2] = {0, 0}, *d0 = ng_image_decode(v, z0, 1);
    CHECK(grid && d0 && maxdiff(grid + 4 * D, d0, D) < 1e-5, "manifold centre = decode(0)");
    CHECK(ng_image_manifold_check(v3) == NG_ERR && strstr(ng_last_error(), "2-D latent"), "a 3-D latent: %s", ng_last_error());
    float *x = pictures(4, D), *z = ng_image_encode(v, x, 4);
    double px[4], py[4], var[2];
    CHECK(ng_image_latents_2d(v, x, 4, px, py, var) == NG_OK, "%s", ng_last_error());
    int same = z != NULL;
    for (int i = 0; z && i < 4; i++) same &= px[i] == z[2 * i] && py[i] == z[2 * i + 1];
    CHECK(same, "2-D latents are the encoder's means");
    CHECK(ng_image_latents_2d(v3, x, 4, px, py, var) == NG_OK && var[0] >= var[1] && var[0] + var[1] <= 1 + 1e-9, "3-D: PCA (%g, %g)", var[0], var[1]);
    free(grid); free(d0); free(x); free(z);
    ng_model_free(v); ng_model_free(v3);
}

static void test_eval(void) {
    const size_t D = 64;
    ng_images te = {.n = 6, .c = 1, .h = 8, .w = 8, .pixels = pictures(6, D)};
    ng_image_train_info t = {.size = 8, .noise = 0.3f};
    ng_model *v = image_model(NG_MODEL_VAE, 3);
    double rec, kl, rec2, kl2;
    CHECK(ng_image_test_loss(v, &te, &t, 4, &rec, &kl) == NG_OK && rec > 0 && kl >= 0, "vae test loss %g + %g", rec, kl);
    CHECK(ng_image_test_loss(v, &te, &t, 4, &rec2, &kl2) == NG_OK && rec == rec2 && kl == kl2, "same seed, same loss");
    ng_model_free(v);
    free(te.pixels);
    ng_model *g = image_model(NG_MODEL_GAN, 4);
    ng_images tg = {.n = 3, .c = 1, .h = 28, .w = 28, .pixels = pictures(3, 784)};
    ng_gan_d_stats st;
    CHECK(g && ng_gan_d_eval(g, &tg, 5, 1, &st) == NG_OK && st.n_real == 3 && st.n_fake == 5 && st.d_real >= 0 && st.d_real <= 3 &&
          st.acc_fake >= 0 && st.acc_fake <= 5, "gan D stats: %s", ng_last_error());
    CHECK(ng_image_test_loss(g, &tg, &t, 1, &rec, &kl) == NG_ERR, "a GAN has no test loss");
    free(tg.pixels);
    ng_model_free(g);
}

static void test_checkpoint_kind(void) {
    char path[128];
    snprintf(path, sizeof path, "%s/dae", g_dir);
    ng_model *m = image_model(NG_MODEL_DAE, 3);
    ng_model_kind k = NG_MODEL_GPT;
    CHECK(ng_checkpoint_save(path, m, NULL, "{\"data\":\"x\",\"noise\":0.25,\"noise_mask\":1,\"image_size\":8}", NULL) == NG_OK, "%s", ng_last_error());
    CHECK(ng_checkpoint_kind(path, &k) == NG_OK && k == NG_MODEL_DAE, "kind of a saved DAE: %s", ng_model_kind_name(k));
    ng_model *l = NULL;
    ng_image_train_info t;
    CHECK(ng_image_model_load(path, "test", &l, &t) == NG_OK && t.noise == 0.25f && t.noise_mask == 1 && t.size == 8 && !strcmp(t.data, "x"),
          "train info read back: %s", ng_last_error());
    ng_model_free(l);
    ng_model_free(m);
    snprintf(path, sizeof path, "%s/missing", g_dir);
    CHECK(ng_checkpoint_kind(path, &k) == NG_ERR && strstr(ng_last_error(), "no checkpoint"), "missing: %s", ng_last_error());
    const char *text = "to be or not to be, that is the question\n";
    ng_tokenizer *tok = ng_tokenizer_build(NG_TOK_CHAR, text, strlen(text), 0);
    ng_model_config gc = {.kind = NG_MODEL_GPT, .vocab_size = ng_tokenizer_vocab_size(tok), .block_size = 8, .n_layer = 1, .n_head = 2, .n_embd = 8};
    ng_model *gpt = ng_model_new(&gc);
    ng_model_init(gpt, 3);
    snprintf(path, sizeof path, "%s/gpt", g_dir);
    CHECK(ng_checkpoint_save(path, gpt, tok, NULL, NULL) == NG_OK && ng_checkpoint_kind(path, &k) == NG_OK && k == NG_MODEL_GPT, "kind of a GPT");
    CHECK(ng_image_model_load(path, "sample --out", &l, NULL) == NG_ERR && strstr(ng_last_error(), "holds a text model"), "%s", ng_last_error());
    /* the next-token table */
    int32_t ids[12];
    for (int i = 0; i < 12; i++) ids[i] = i % gc.vocab_size;
    const float temps[2] = {0.5f, 1.0f};
    ng_next_table tb;
    CHECK(ng_next_table_compute(gpt, ids, 12, temps, 2, 3, &tb) == NG_OK && tb.ctx == 8 && tb.top == 3, "table: %s", ng_last_error());
    for (int k2 = 0; k2 < 2 && tb.probs; k2++) {
        double sum = 0, top = 0;
        for (int i = 0; i < tb.V; i++) sum += tb.probs[k2 * tb.V + i];
        for (int r = 0; r < 3; r++) top += tb.probs[k2 * tb.V + tb.order[r]];
        CHECK(fabs(sum - 1) < 1e-5 && fabs(top + tb.other[k2] - 1) < 1e-5, "T=%g: probabilities sum to 1, top + other = 1", temps[k2]);
    }
    int sorted = tb.order != NULL;
    for (int r = 1; tb.order && r < tb.V; r++) sorted &= tb.logits[tb.order[r - 1]] >= tb.logits[tb.order[r]];
    CHECK(sorted && tb.entropy[0] < tb.entropy[1], "rows by logit; entropy grows with the temperature");
    ng_next_table_free(&tb);
    /* embeddings: every token when they fit, the most frequent of a text otherwise */
    ng_embeddings_view ev;
    CHECK(ng_embeddings_2d(gpt, tok, NULL, 0, 100, &ev) == NG_OK && ev.n == gc.vocab_size && ev.order == NG_EMB_ALL && ev.dim == 8, "all tokens");
    ng_embeddings_view_free(&ev);
    int32_t txt[5] = {3, 3, 3, 1, 1};
    CHECK(ng_embeddings_2d(gpt, tok, txt, 5, 4, &ev) == NG_OK && ev.n == 2 && ev.ids[0] == 3 && ev.ids[1] == 1, "counted: the tokens of the text, most frequent first");
    ng_embeddings_view_free(&ev);
    CHECK(ng_token_kind("a", 0) != ng_token_kind("b", 0) && ng_token_kind("\xC3\xA9", 0) == ng_token_kind("e", 0) && ng_token_is_space(" \n"),
          "token kinds: a vowel, a consonant, an accented vowel");
    ng_tokenizer_free(tok);
    ng_model_free(gpt);
}

int main(void) {
    if (!mkdtemp(g_dir)) { perror("mkdtemp"); return 1; }
    ng_set_threads(1);
    RUN(test_reconstruct);
    RUN(test_sample);
    RUN(test_interpolate);
    RUN(test_manifold_latents);
    RUN(test_eval);
    RUN(test_checkpoint_kind);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_dir);
    TEST_MAIN_END();
}

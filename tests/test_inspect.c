/* test_inspect.c - looking inside models: next-token probabilities (sum to 1 at any temperature,
 * temperature 0 = all the mass on the argmax, entropy), PCA (recovers the axes of a planted
 * cloud, agrees with a full eigendecomposition, deterministic signs, degenerate inputs), and
 * attention maps (rows sum to 1, causal, layer 0 equal to a direct computation, logits equal to
 * the full graph's, a bigram refused), and Unicode's classes of code points (ng_unicode_class:
 * accented Latin vowels are vowels, ç a consonant, other scripts' letters letters, the case kept). */
#include "nanogen.h"
#include "test.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static ng_rng g_rng;

/* ---------------------------------------------------------------- next-token probabilities */

static void test_next_probs(void) {
    enum { V = 50 };
    float logits[V], p[64];   /* 64: the uniform check below uses 64 logits */
    for (int i = 0; i < V; i++) logits[i] = 3 * ng_rng_normal(&g_rng);
    int best = 0;
    for (int i = 1; i < V; i++) if (logits[i] > logits[best]) best = i;
    const float temps[] = {0.05f, 0.5f, 1, 2, 10, 100};
    double prev_h = -1;
    for (size_t k = 0; k < sizeof temps / sizeof *temps; k++) {
        CHECK(ng_next_probs(logits, V, temps[k], p) == NG_OK, "%s", ng_last_error());
        double sum = 0;
        int nonneg = 1, order = 1;
        for (int i = 0; i < V; i++) {
            sum += p[i];
            nonneg &= p[i] >= 0 && p[i] <= 1;
            for (int j = 0; j < V; j++) if (logits[i] > logits[j] && p[i] < p[j]) order = 0;
        }
        CHECK(fabs(sum - 1) < 1e-5, "T=%g: probabilities sum to %.9f", temps[k], sum);
        CHECK(nonneg && order, "T=%g: probabilities in [0,1], in the logits' order", temps[k]);
        double h = ng_entropy_bits(p, V);
        CHECK(h > prev_h, "entropy grows with the temperature: %g at T=%g after %g", h, temps[k], prev_h);
        prev_h = h;
    }
    CHECK(prev_h < log2(V) + 1e-6 && prev_h > log2(V) - 0.01, "T=100 is almost uniform: %g bits of %g", prev_h, log2(V));
    /* temperature 1 is the plain softmax */
    ng_next_probs(logits, V, 1, p);
    double z = 0;
    for (int i = 0; i < V; i++) z += exp(logits[i]);
    double maxd = 0;
    for (int i = 0; i < V; i++) maxd = fmax(maxd, fabs(p[i] - exp(logits[i]) / z));
    CHECK(maxd < 1e-6, "T=1: softmax, max diff %g", maxd);
    /* temperature 0: all the mass on the argmax */
    CHECK(ng_next_probs(logits, V, 0, p) == NG_OK, "%s", ng_last_error());
    int onehot = 1;
    for (int i = 0; i < V; i++) onehot &= p[i] == (i == best ? 1.0f : 0.0f);
    CHECK(onehot, "T=0 puts probability 1 on the argmax %d", best);
    CHECK(ng_entropy_bits(p, V) == 0, "T=0: entropy 0");
    /* a tiny temperature tends to the same thing */
    ng_next_probs(logits, V, 1e-4f, p);
    CHECK(p[best] > 0.999f, "T=1e-4: p(argmax) = %g", p[best]);
    /* ties at temperature 0: the first; huge logits do not overflow */
    float tie[4] = {1, 5, 5, 2};
    ng_next_probs(tie, 4, 0, p);
    CHECK(p[1] == 1 && p[2] == 0, "T=0 with a tie: the lowest id");
    float huge[3] = {1e30f, -1e30f, 1e29f};
    CHECK(ng_next_probs(huge, 3, 1, p) == NG_OK && p[0] == 1 && isfinite(p[1]) && isfinite(p[2]), "huge logits stay finite");
    float withinf[3] = {-INFINITY, 0, 0};
    CHECK(ng_next_probs(withinf, 3, 1, p) == NG_OK && p[0] == 0 && fabs(p[1] - 0.5) < 1e-7, "-inf logit: probability 0");
    /* uniform: log2 V bits */
    float flat[64];
    for (int i = 0; i < 64; i++) flat[i] = 0.5f;
    ng_next_probs(flat, 64, 1, p);
    CHECK_NEAR(ng_entropy_bits(p, 64), 6.0, 1e-5, "64 equal logits: 6 bits");
    /* bad input */
    CHECK(ng_next_probs(logits, V, -1, p) == NG_ERR && strstr(ng_last_error(), "temperature"), "negative temperature refused");
    CHECK(ng_next_probs(logits, V, NAN, p) == NG_ERR, "NaN temperature refused");
    CHECK(ng_next_probs(logits, 0, 1, p) == NG_ERR, "empty vocabulary refused");
    float nanl[2] = {0, NAN};
    CHECK(ng_next_probs(nanl, 2, 1, p) == NG_ERR && strstr(ng_last_error(), "logit 1"), "NaN logit refused, named");
}

/* ---------------------------------------------------------------- PCA */

static double dot(const double *a, const double *b, int d) {
    double s = 0;
    for (int i = 0; i < d; i++) s += a[i] * b[i];
    return s;
}

/* n points: mean + 3 a u1 + 1.5 b u2 + 0.3 noise, with u1, u2 orthonormal random directions
 * (not coordinate axes) and a, b, noise ~ N(0,1). */
static void planted(float *x, int n, int d, double *u1, double *u2) {
    for (int j = 0; j < d; j++) { u1[j] = ng_rng_normal(&g_rng); u2[j] = ng_rng_normal(&g_rng); }
    double n1 = sqrt(dot(u1, u1, d));
    for (int j = 0; j < d; j++) u1[j] /= n1;
    double c = dot(u1, u2, d);
    for (int j = 0; j < d; j++) u2[j] -= c * u1[j];
    double n2 = sqrt(dot(u2, u2, d));
    for (int j = 0; j < d; j++) u2[j] /= n2;
    for (int i = 0; i < n; i++) {
        double a = ng_rng_normal(&g_rng), b = ng_rng_normal(&g_rng);
        for (int j = 0; j < d; j++)
            x[(size_t)i * d + j] = (float)(5.0 - 0.25 * j + 3 * a * u1[j] + 1.5 * b * u2[j] + 0.3 * ng_rng_normal(&g_rng));
    }
}

static void test_pca_planted(void) {
    enum { n = 600, d = 24, k = 3 };
    static float x[n * d], neg[n * d];
    double u1[d], u2[d], axes[k * d], ex[k], proj[n * k];
    planted(x, n, d, u1, u2);
    CHECK(ng_pca(x, n, d, k, axes, ex, proj) == NG_OK, "%s", ng_last_error());
    double c1 = dot(axes, u1, d), c2 = dot(axes + d, u2, d);
    CHECK(fabs(c1) > 0.999, "PC1 is the planted u1: |cos| = %.6f", fabs(c1));
    CHECK(fabs(c2) > 0.995, "PC2 is the planted u2: |cos| = %.6f", fabs(c2));
    printf("  planted 24-D cloud (std 3, 1.5 on two axes, 0.3 noise): |cos(PC1,u1)| %.6f, |cos(PC2,u2)| %.6f\n", fabs(c1), fabs(c2));
    /* orthonormal axes */
    double maxo = 0;
    for (int a = 0; a < k; a++)
        for (int b = 0; b < k; b++) maxo = fmax(maxo, fabs(dot(axes + a * d, axes + b * d, d) - (a == b)));
    CHECK(maxo < 1e-9, "axes orthonormal: %g", maxo);
    /* explained variance: 9 and 2.25 against 9 + 2.25 + 0.09 d */
    double tot = 9 + 2.25 + 0.09 * d;
    CHECK(fabs(ex[0] - 9 / tot) < 0.06 && fabs(ex[1] - 2.25 / tot) < 0.03 && ex[2] < 0.02,
          "explained %.3f %.3f %.3f, expected about %.3f %.3f %.3f", ex[0], ex[1], ex[2], 9 / tot, 2.25 / tot, 0.09 / tot);
    CHECK(ex[0] >= ex[1] && ex[1] >= ex[2], "explained fractions descending");
    /* sign convention: the largest component of each axis is positive */
    int signs = 1;
    for (int a = 0; a < k; a++) {
        int big = 0;
        for (int j = 1; j < d; j++) if (fabs(axes[a * d + j]) > fabs(axes[a * d + big])) big = j;
        signs &= axes[a * d + big] > 0;
    }
    CHECK(signs, "each axis has its largest component positive");
    /* projections are the centred rows' coordinates */
    double mean[d] = {0}, maxp = 0;
    for (int i = 0; i < n; i++) for (int j = 0; j < d; j++) mean[j] += x[i * d + j] / (double)n;
    for (int i = 0; i < n; i++)
        for (int a = 0; a < k; a++) {
            double s = 0;
            for (int j = 0; j < d; j++) s += (x[i * d + j] - mean[j]) * axes[a * d + j];
            maxp = fmax(maxp, fabs(s - proj[i * k + a]));
        }
    CHECK(maxp < 1e-4, "projections: max diff %g", maxp);
    /* deterministic, and the same axes for the mirrored cloud (covariance unchanged) */
    double axes2[k * d], axes3[k * d];
    ng_pca(x, n, d, k, axes2, NULL, NULL);
    CHECK(!memcmp(axes, axes2, sizeof axes), "the same input gives bit-identical axes");
    for (int i = 0; i < n * d; i++) neg[i] = -x[i];
    ng_pca(neg, n, d, k, axes3, NULL, NULL);
    double maxm = 0;
    for (int i = 0; i < k * d; i++) maxm = fmax(maxm, fabs(axes[i] - axes3[i]));
    CHECK(maxm < 1e-6, "-x gives the same (signed) axes: max diff %g", maxm);
}

/* Against the full covariance's eigendecomposition (Jacobi), on a cloud with distinct scales. */
static void test_pca_vs_eigen(void) {
    enum { n = 200, d = 12, k = 4 };
    static float x[n * d];
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) x[i * d + j] = (float)((1 + 0.5 * j) * ng_rng_normal(&g_rng) + (j == 3 ? x[i * d] : 0));
    double mu[d], S[d * d], w[d], V[d * d], axes[k * d], ex[k];
    ng_gaussian_fit(x, n, d, mu, S);
    ng_sym_eigen(S, d, w, V);
    double total = 0;
    for (int j = 0; j < d; j++) total += S[j * d + j];
    CHECK(ng_pca(x, n, d, k, axes, ex, NULL) == NG_OK, "%s", ng_last_error());
    int used[d] = {0}, ok = 1;
    for (int a = 0; a < k; a++) {
        int best = -1;
        for (int j = 0; j < d; j++) if (!used[j] && (best < 0 || w[j] > w[best])) best = j;
        used[best] = 1;
        double c = 0;
        for (int j = 0; j < d; j++) c += axes[a * d + j] * V[j * d + best];
        ok &= fabs(fabs(c) - 1) < 1e-6 && fabs(ex[a] - w[best] / total) < 1e-9;
        if (!ok) printf("  axis %d: cos %.9f, explained %.9f vs %.9f\n", a, c, ex[a], w[best] / total);
    }
    CHECK(ok, "PCA = the top eigenvectors and eigenvalue fractions of the covariance");
}

static void test_pca_edges(void) {
    /* fewer rows than dimensions (rank n-1), d = 2 (one round), equal rows, bad arguments */
    enum { n = 6, d = 40 };
    float x[n * d];
    for (int i = 0; i < n * d; i++) x[i] = ng_rng_normal(&g_rng);
    double axes[2 * d], ex[2], proj[n * 2];
    CHECK(ng_pca(x, n, d, 2, axes, ex, proj) == NG_OK, "n < d: %s", ng_last_error());
    CHECK(ex[0] >= ex[1] && ex[0] + ex[1] <= 1 + 1e-9 && ex[1] > 0, "n < d: explained %g %g", ex[0], ex[1]);
    float flat[2 * 5] = {1, 2, 3, 4, 5, 1, 2, 3, 4, 5};
    CHECK(ng_pca(flat, 2, 5, 2, axes, ex, proj) == NG_OK && ex[0] == 0 && proj[0] == 0, "equal rows: no variance, no error");
    float two[4 * 2] = {0, 0, 2, 1, 4, 2, 6, 3};   /* on the line y = x/2 */
    CHECK(ng_pca(two, 4, 2, 2, axes, ex, proj) == NG_OK, "%s", ng_last_error());
    CHECK(fabs(axes[0] - 2 / sqrt(5)) < 1e-9 && fabs(axes[1] - 1 / sqrt(5)) < 1e-9 && fabs(ex[0] - 1) < 1e-12,
          "points on a line: PC1 (%g, %g) explains %g", axes[0], axes[1], ex[0]);
    CHECK(ng_pca(x, 1, d, 2, axes, NULL, NULL) == NG_ERR, "one row refused");
    CHECK(ng_pca(x, n, 2, 3, axes, NULL, NULL) == NG_ERR, "k > d refused");
    x[7] = NAN;
    CHECK(ng_pca(x, n, d, 2, axes, NULL, NULL) == NG_ERR && strstr(ng_last_error(), "not finite"), "NaN refused");
}

/* ---------------------------------------------------------------- attention maps */

static ng_model *tiny_gpt(int V, int T, int L, int H, int C) {
    ng_model_config c = {.kind = NG_MODEL_GPT, .vocab_size = V, .block_size = T, .n_layer = L, .n_head = H, .n_embd = C};
    ng_model *m = ng_model_new(&c);
    ng_params *P = ng_model_params(m);
    for (int i = 0; i < ng_params_count(P); i++) {   /* sharp attention: weights well above init scale */
        ng_tensor *t = ng_params_get(P, i);
        int ln_w = strstr(t->name, "ln_") && strstr(t->name, ".weight");
        for (int64_t j = 0; j < t->n; j++) t->data[j] = ln_w ? 1 + 0.2f * ng_rng_normal(&g_rng) : (t->ndim == 2 ? 0.4f : 0.1f) * ng_rng_normal(&g_rng);
    }
    return m;
}

/* Layer 0's attention computed directly from the parameters: x = wte + wpe, ln_1, qkv, softmax. */
static void layer0_attention(ng_model *m, const int32_t *ids, int n, float *att) {
    const ng_model_config *c = ng_model_cfg(m);
    const int C = c->n_embd, H = c->n_head, hs = C / H;
    ng_params *P = ng_model_params(m);
    const float *wte = ng_params_find(P, "wte.weight")->data, *wpe = ng_params_find(P, "wpe.weight")->data;
    const float *lw = ng_params_find(P, "h.0.ln_1.weight")->data, *lb = ng_params_find(P, "h.0.ln_1.bias")->data;
    const float *W = ng_params_find(P, "h.0.c_attn.weight")->data, *b = ng_params_find(P, "h.0.c_attn.bias")->data;
    double *qkv = malloc(sizeof(double) * n * 3 * C), xn[256];
    for (int t = 0; t < n; t++) {
        double mean = 0, var = 0;
        for (int j = 0; j < C; j++) mean += wte[ids[t] * C + j] + wpe[t * C + j];
        mean /= C;
        for (int j = 0; j < C; j++) { double v = wte[ids[t] * C + j] + wpe[t * C + j] - mean; var += v * v; }
        var /= C;
        for (int j = 0; j < C; j++) xn[j] = (wte[ids[t] * C + j] + wpe[t * C + j] - mean) / sqrt(var + 1e-5) * lw[j] + lb[j];
        for (int o = 0; o < 3 * C; o++) {
            double s = b[o];
            for (int j = 0; j < C; j++) s += W[o * C + j] * xn[j];
            qkv[t * 3 * C + o] = s;
        }
    }
    for (int h = 0; h < H; h++)
        for (int i = 0; i < n; i++) {
            double sc[64], mx = -INFINITY, sum = 0;
            for (int j = 0; j <= i; j++) {
                double s = 0;
                for (int e = 0; e < hs; e++) s += qkv[i * 3 * C + h * hs + e] * qkv[j * 3 * C + C + h * hs + e];
                sc[j] = s / sqrt(hs);
                mx = fmax(mx, sc[j]);
            }
            for (int j = 0; j <= i; j++) { sc[j] = exp(sc[j] - mx); sum += sc[j]; }
            for (int j = 0; j < n; j++) att[((size_t)h * n + i) * n + j] = j <= i ? (float)(sc[j] / sum) : 0;
        }
    free(qkv);
}

static void test_attention_maps(void) {
    const int V = 13, T = 10, L = 3, H = 2, C = 16, n = 10;
    ng_model *m = tiny_gpt(V, T, L, H, C);
    int32_t ids[10];
    for (int i = 0; i < n; i++) ids[i] = (int32_t)ng_rng_below(&g_rng, V);
    float *att = malloc(sizeof(float) * L * H * n * n), logits[13], want[13], ref[2 * 10 * 10];
    CHECK(ng_model_attention(m, ids, n, att, logits) == NG_OK, "%s", ng_last_error());
    double max_row = 0, max_above = 0, spread = 0;
    int nonneg = 1;
    for (int l = 0; l < L; l++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < n; i++) {
                const float *row = att + (((size_t)l * H + h) * n + i) * n;
                double s = 0;
                for (int j = 0; j < n; j++) {
                    if (j <= i) { s += row[j]; nonneg &= row[j] >= 0; }
                    else max_above = fmax(max_above, fabs(row[j]));
                }
                max_row = fmax(max_row, fabs(s - 1));
                if (i == n - 1) for (int j = 0; j < n; j++) spread = fmax(spread, fabs(row[j] - 1.0 / n));
            }
    CHECK(max_row < 1e-5, "every attention row sums to 1: max |sum - 1| = %g", max_row);
    CHECK(nonneg, "no negative weight");
    CHECK(max_above == 0, "causal: every weight above the diagonal is 0 (max %g)", max_above);
    CHECK(att[0] == 1, "position 0 attends only to itself");
    CHECK(spread > 0.05, "the maps are not uniform (the test would be weak): %g", spread);
    printf("  attention of a random 3-layer GPT over 10 tokens: rows sum to 1 (max err %.1e), causal\n", max_row);
    /* layer 0 against a direct computation, and the logits against the full graph */
    layer0_attention(m, ids, n, ref);
    double maxd = 0;
    for (int i = 0; i < H * n * n; i++) maxd = fmax(maxd, fabs(att[i] - ref[i]));
    CHECK(maxd < 1e-4, "layer 0 maps = direct computation: max diff %g", maxd);
    ng_graph *g = ng_graph_new();
    ng_lm_graph lm;
    CHECK(ng_model_build(m, g, 1, n, &lm) == NG_OK, "%s", ng_last_error());
    memcpy(lm.idx->idata, ids, sizeof ids);
    for (int i = 0; i < n; i++) lm.targets->idata[i] = 0;
    ng_graph_set_training(g, 0);
    ng_graph_forward(g);
    memcpy(want, lm.logits->data + (size_t)(n - 1) * V, sizeof want);
    ng_graph_free(g);
    double maxl = 0;
    for (int i = 0; i < V; i++) maxl = fmax(maxl, fabs(logits[i] - want[i]));
    CHECK(maxl < 1e-4, "logits after the sequence = the graph's: max diff %g", maxl);
    float nl[13];
    CHECK(ng_model_next_logits(m, ids, n, nl) == NG_OK && !memcmp(nl, logits, sizeof nl), "ng_model_next_logits = the same logits");
    /* a longer sequence is cropped to its last block_size tokens */
    int32_t longer[13];
    for (int i = 0; i < 3; i++) longer[i] = (int32_t)ng_rng_below(&g_rng, V);
    memcpy(longer + 3, ids, sizeof ids);
    CHECK(ng_model_next_logits(m, longer, 13, nl) == NG_OK && !memcmp(nl, logits, sizeof nl), "cropped to the last block_size tokens");
    /* bad input */
    CHECK(ng_model_attention(m, longer, 13, att, NULL) == NG_ERR, "more than block_size tokens refused");
    ids[4] = V;
    CHECK(ng_model_attention(m, ids, n, att, NULL) == NG_ERR && strstr(ng_last_error(), "position 4"), "a token outside the vocabulary refused");
    CHECK(ng_model_next_logits(m, ids, 0, nl) == NG_ERR, "no tokens refused");
    ng_model_free(m);
    ng_model_config bc = {.kind = NG_MODEL_BIGRAM, .vocab_size = V, .block_size = 8};
    m = ng_model_new(&bc);
    ng_model_init(m, 3);
    CHECK(ng_model_attention(m, longer, 3, att, NULL) == NG_ERR && strstr(ng_last_error(), "no attention"), "bigram: no attention");
    CHECK(ng_model_next_logits(m, longer, 13, nl) == NG_OK, "bigram: next logits");
    ng_params *P = ng_model_params(m);
    CHECK(!memcmp(nl, ng_params_find(P, "table.weight")->data + (size_t)longer[12] * V, sizeof nl), "bigram: the table row of the last token");
    ng_model_free(m);
    free(att);
}

/* ---------------------------------------------------------------- Unicode classes (embeddings' colours) */

static void test_unicode_class(void) {
    static const struct { uint32_t cp; ng_uc_class k; char base; } cases[] = {
        /* Portuguese (and other Latin) vowels with accents are vowels of their case */
        {0xE1, NG_UC_LETTER, 'a'}, {0xE0, NG_UC_LETTER, 'a'}, {0xE2, NG_UC_LETTER, 'a'}, {0xE3, NG_UC_LETTER, 'a'},
        {0xE4, NG_UC_LETTER, 'a'}, {0xE9, NG_UC_LETTER, 'e'}, {0xEA, NG_UC_LETTER, 'e'}, {0xE8, NG_UC_LETTER, 'e'},
        {0xED, NG_UC_LETTER, 'i'}, {0xF3, NG_UC_LETTER, 'o'}, {0xF4, NG_UC_LETTER, 'o'}, {0xF5, NG_UC_LETTER, 'o'},
        {0xFA, NG_UC_LETTER, 'u'}, {0xFC, NG_UC_LETTER, 'u'}, {0xC1, NG_UC_LETTER, 'A'}, {0xC0, NG_UC_LETTER, 'A'},
        {0xC3, NG_UC_LETTER, 'A'}, {0xC9, NG_UC_LETTER, 'E'}, {0xCA, NG_UC_LETTER, 'E'}, {0xCD, NG_UC_LETTER, 'I'},
        {0xD3, NG_UC_LETTER, 'O'}, {0xD5, NG_UC_LETTER, 'O'}, {0xDA, NG_UC_LETTER, 'U'}, {0xDC, NG_UC_LETTER, 'U'},
        /* ç is a c; other letters with a base letter */
        {0xE7, NG_UC_LETTER, 'c'}, {0xC7, NG_UC_LETTER, 'C'}, {0xF1, NG_UC_LETTER, 'n'}, {0xDF, NG_UC_LETTER, 's'},
        {0xE6, NG_UC_LETTER, 'a'}, {0xF8, NG_UC_LETTER, 'o'}, {0xF0, NG_UC_LETTER, 'd'}, {0xFE, NG_UC_LETTER, 't'},
        {0x142, NG_UC_LETTER, 'l'}, {0x15F, NG_UC_LETTER, 's'}, {0x151, NG_UC_LETTER, 'o'}, {0x153, NG_UC_LETTER, 'o'},
        {0x1C4, NG_UC_LETTER, 'D'}, {0x1EA1, NG_UC_LETTER, 'a'}, {0x1EC7, NG_UC_LETTER, 'e'}, {0x1E9E, NG_UC_LETTER, 'S'},
        /* ASCII */
        {'a', NG_UC_LETTER, 'a'}, {'Z', NG_UC_LETTER, 'Z'}, {'7', NG_UC_DIGIT, 0}, {' ', NG_UC_SPACE, 0},
        {'\n', NG_UC_SPACE, 0}, {'\t', NG_UC_SPACE, 0}, {'!', NG_UC_PUNCT, 0}, {'~', NG_UC_PUNCT, 0},
        {0x01, NG_UC_OTHER, 0}, {0x7F, NG_UC_OTHER, 0},
        /* other scripts' letters: letters without a base letter */
        {0x436, NG_UC_LETTER, 0}, {0x416, NG_UC_LETTER, 0}, {0x3BB, NG_UC_LETTER, 0}, {0x5E9, NG_UC_LETTER, 0},
        {0x628, NG_UC_LETTER, 0}, {0x915, NG_UC_LETTER, 0}, {0x4E2D, NG_UC_LETTER, 0}, {0x3042, NG_UC_LETTER, 0},
        {0xD55C, NG_UC_LETTER, 0}, {0x1D400, NG_UC_LETTER, 0}, {0xAA, NG_UC_LETTER, 0}, {0xBA, NG_UC_LETTER, 0},
        /* digits, punctuation and symbols, spaces of other blocks */
        {0x663, NG_UC_DIGIT, 0}, {0x969, NG_UC_DIGIT, 0}, {0xFF17, NG_UC_DIGIT, 0},
        {0xAB, NG_UC_PUNCT, 0}, {0xBB, NG_UC_PUNCT, 0}, {0x2014, NG_UC_PUNCT, 0}, {0x201C, NG_UC_PUNCT, 0},
        {0x20AC, NG_UC_PUNCT, 0}, {0xBF, NG_UC_PUNCT, 0}, {0xD7, NG_UC_PUNCT, 0}, {0xF7, NG_UC_PUNCT, 0},
        {0x1F600, NG_UC_PUNCT, 0}, {0xA0, NG_UC_SPACE, 0}, {0x2003, NG_UC_SPACE, 0}, {0x3000, NG_UC_SPACE, 0},
        /* the rest: a combining accent, a soft hyphen, superscript two, private use, a tag, the last code point */
        {0x301, NG_UC_OTHER, 0}, {0xAD, NG_UC_OTHER, 0}, {0xB2, NG_UC_OTHER, 0}, {0xE000, NG_UC_OTHER, 0},
        {0xE0001, NG_UC_OTHER, 0}, {0x10FFFF, NG_UC_OTHER, 0}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char base = '?';
        ng_uc_class k = ng_unicode_class(cases[i].cp, &base);
        CHECK(k == cases[i].k && base == cases[i].base, "U+%04X: class %d, base '%c' (%d); expected class %d, base %d",
              (unsigned)cases[i].cp, (int)k, base ? base : '0', base, (int)cases[i].k, cases[i].base);
    }
    /* every Latin-1 letter has a base letter of its own case (capitals U+00C0..U+00DE) */
    int latin1 = 1;
    for (uint32_t cp = 0xC0; cp <= 0xFF; cp++) {
        if (cp == 0xD7 || cp == 0xF7) continue;
        char b = 0;
        latin1 &= ng_unicode_class(cp, &b) == NG_UC_LETTER && b && ((b >= 'A' && b <= 'Z') == (cp < 0xDF));
    }
    CHECK(latin1, "every letter of U+00C0..U+00FF has a base letter of its case");
    /* a base letter only for letters; NULL base allowed; every code point answers */
    int consistent = 1;
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        char b = 0;
        ng_uc_class k = ng_unicode_class(cp, &b);
        consistent &= k <= NG_UC_SPACE && k == ng_unicode_class(cp, NULL) && (!b || k == NG_UC_LETTER);
    }
    CHECK(consistent, "every code point: a class, a base letter only for letters");
}

int main(void) {
    ng_rng_seed(&g_rng, 2024);
    ng_set_threads(1);
    RUN(test_next_probs);
    RUN(test_pca_planted);
    RUN(test_pca_vs_eigen);
    RUN(test_pca_edges);
    RUN(test_attention_maps);
    RUN(test_unicode_class);
    TEST_MAIN_END();
}

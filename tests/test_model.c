/* test_model.c - the text models end to end: GPT parameter count and PyTorch state_dict names,
 * SPEC.md init, a finite-difference check of the whole GPT loss, loss at init ~ ln V, the GPT
 * and the bigram memorising a tiny sequence with AdamW, the KV-cache inference path against
 * the full graph (1 and 3 streams, context overflow), and ng_sample_logits. */
#include "nanogen.h"
#include "test.h"

#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static ng_rng g_rng;

static ng_model_config gpt_cfg(int V, int T, int L, int H, int C, float dropout) {
    ng_model_config c = {.kind = NG_MODEL_GPT, .vocab_size = V, .block_size = T, .n_layer = L,
                         .n_head = H, .n_embd = C, .dropout = dropout};
    return c;
}

/* Every parameter drawn at a scale where attention is sharp and context matters. */
static void randomize(ng_model *m, float std) {
    ng_params *P = ng_model_params(m);
    for (int i = 0; i < ng_params_count(P); i++) {
        ng_tensor *t = ng_params_get(P, i);
        int is_ln_w = strstr(t->name, "ln_") && strstr(t->name, ".weight");
        for (int64_t j = 0; j < t->n; j++)
            t->data[j] = is_ln_w ? 1.0f + 0.2f * ng_rng_normal(&g_rng)
                                 : (t->ndim == 2 ? std : 0.3f * std) * ng_rng_normal(&g_rng);
    }
}

/* ---------------------------------------------------------------- parameters */

/* Every kind describes its sizes through the kind table (what `nanogen info` prints). */
static void test_describe(void) {
    char d[256];
    ng_model_config c = gpt_cfg(65, 64, 4, 4, 128, 0);
    ng_model *m = ng_model_new(&c);
    CHECK(m && ng_model_describe(m, d, sizeof d) > 0 && !strcmp(d, "block_size 64, n_layer 4, n_head 4, n_embd 128, dropout 0"),
          "gpt: '%s'", m ? d : ng_last_error());
    ng_model_free(m);
    ng_model_config v = {.kind = NG_MODEL_VAE, .c = 1, .h = 28, .w = 28, .hidden = 400, .latent = 20, .beta = 1};
    m = ng_model_new(&v);
    CHECK(m && ng_model_describe(m, d, sizeof d) > 0 && !strcmp(d, "pictures 1x28x28, hidden 400, latent 20, beta 1"),
          "vae: '%s'", m ? d : ng_last_error());
    char small[8];   /* cut short like snprintf: the whole length returned, the text NUL-terminated */
    CHECK(m && ng_model_describe(m, small, sizeof small) == (int)strlen(d) && strlen(small) == 7, "vae into 8 bytes");
    ng_model_free(m);
}

static void test_param_count(void) {
    ng_model_config c = gpt_cfg(11, 8, 2, 2, 8, 0);
    ng_model *m = ng_model_new(&c);
    CHECK(m != NULL, "%s", ng_last_error());
    int64_t V = 11, T = 8, L = 2, C = 8;
    int64_t want = V * C + T * C + L * (12 * C * C + 13 * C) + 2 * C;
    CHECK(ng_params_numel(ng_model_params(m)) == want, "tiny GPT: %lld parameters, formula %lld",
          (long long)ng_params_numel(ng_model_params(m)), (long long)want);
    CHECK(ng_model_param_count(&c) == want, "ng_model_param_count");
    ng_model_free(m);

    ng_model_config baby = gpt_cfg(65, 64, 4, 4, 128, 0);
    m = ng_model_new(&baby);
    CHECK(m && ng_params_numel(ng_model_params(m)) == 809856, "baby GPT: %lld",
          m ? (long long)ng_params_numel(ng_model_params(m)) : -1LL);
    CHECK(ng_model_param_count(&baby) == 809856, "baby count");
    /* SPEC.md init: N(0, 0.02), projections N(0, 0.02/sqrt(2L)), biases 0, LN weights 1 */
    ng_model_init(m, 1337);
    ng_params *P = ng_model_params(m);
    const char *names[4] = {"wte.weight", "h.1.c_attn.weight", "h.2.c_proj.weight", "h.3.mlp_proj.weight"};
    const double stds[4] = {0.02, 0.02, 0.02 / sqrt(8.0), 0.02 / sqrt(8.0)};
    for (int k = 0; k < 4; k++) {
        ng_tensor *t = ng_params_find(P, names[k]);
        double s = 0, s2 = 0;
        for (int64_t j = 0; j < t->n; j++) { s += t->data[j]; s2 += (double)t->data[j] * t->data[j]; }
        double mean = s / t->n, sd = sqrt(s2 / t->n - mean * mean);
        CHECK(fabs(sd / stds[k] - 1) < 0.05 && fabs(mean) < 0.1 * stds[k], "%s: mean %g std %g (want %g)", names[k], mean, sd, stds[k]);
    }
    int ok = 1;
    for (int i = 0; i < ng_params_count(P); i++) {
        ng_tensor *t = ng_params_get(P, i);
        if (t->ndim != 1) continue;
        float want_v = strstr(t->name, "ln_") && strstr(t->name, ".weight") ? 1.0f : 0.0f;
        for (int64_t j = 0; j < t->n; j++) ok &= t->data[j] == want_v;
    }
    CHECK(ok, "biases 0 and LayerNorm weights 1");
    ng_model_free(m);

    ng_model_config bc = {.kind = NG_MODEL_BIGRAM, .vocab_size = 65, .block_size = 8};
    m = ng_model_new(&bc);
    CHECK(m && ng_params_numel(ng_model_params(m)) == 65 * 65 && ng_model_param_count(&bc) == 65 * 65, "bigram count");
    ng_model_free(m);

    ng_model_config bad = gpt_cfg(11, 8, 2, 3, 8, 0);
    CHECK(ng_model_new(&bad) == NULL && strstr(ng_last_error(), "--n-head"), "n_embd %% n_head: %s", ng_last_error());
}

/* --no-bias and --gelu exact: the parameters nanoGPT's bias=False has (no biases, LayerNorms
 * with a weight only), the count formula, the config's JSON round trip (the fields written only
 * when set: an old config without them reads as tanh GELU with biases), the description. */
static void test_gpt_options(void) {
    ng_model_config c = gpt_cfg(11, 8, 2, 2, 8, 0);
    c.no_bias = 1;
    c.gelu = NG_GELU_EXACT;
    ng_model *m = ng_model_new(&c);
    CHECK(m != NULL, "%s", ng_last_error());
    if (!m) return;
    const int64_t V = 11, T = 8, L = 2, C = 8, want = V * C + T * C + L * (12 * C * C + 2 * C) + C;
    CHECK(ng_params_numel(ng_model_params(m)) == want && ng_model_param_count(&c) == want, "no-bias GPT: %lld parameters, formula %lld",
          (long long)ng_params_numel(ng_model_params(m)), (long long)want);
    int biases = 0;
    for (int i = 0; i < ng_params_count(ng_model_params(m)); i++) biases += strstr(ng_params_get(ng_model_params(m), i)->name, ".bias") != NULL;
    CHECK(biases == 0 && ng_params_find(ng_model_params(m), "h.1.ln_2.weight"), "no-bias GPT: %d biases", biases);
    char d[256];
    ng_model_describe(m, d, sizeof d);
    CHECK(strstr(d, "exact GELU") && strstr(d, "no biases"), "describe: '%s'", d);
    ng_model_free(m);
    char *j = ng_model_config_to_json(&c);
    ng_model_config back;
    CHECK(j && strstr(j, "\"gelu\":\"exact\"") && strstr(j, "\"bias\":false") && !ng_model_config_from_json(j, &back) &&
          back.gelu == NG_GELU_EXACT && back.no_bias == 1, "config JSON round trip: %s", j ? j : "NULL");
    free(j);
    ng_model_config plain = gpt_cfg(11, 8, 2, 2, 8, 0);
    j = ng_model_config_to_json(&plain);
    CHECK(j && !strstr(j, "gelu") && !strstr(j, "bias"), "default options not written: %s", j ? j : "NULL");
    free(j);
    CHECK(!ng_model_config_from_json("{\"model\":\"gpt\",\"vocab_size\":5,\"block_size\":4,\"n_layer\":1,\"n_head\":1,\"n_embd\":4}", &back) &&
          back.gelu == NG_GELU_TANH && back.no_bias == 0, "an old config: tanh, biases");
    CHECK(ng_model_config_from_json("{\"model\":\"gpt\",\"vocab_size\":5,\"block_size\":4,\"n_layer\":1,\"n_head\":1,\"n_embd\":4,\"gelu\":\"relu\"}", &back) &&
          strstr(ng_last_error(), "'gelu'"), "bad gelu: %s", ng_last_error());
    CHECK(ng_model_config_from_json("{\"model\":\"gpt\",\"vocab_size\":5,\"block_size\":4,\"n_layer\":1,\"n_head\":1,\"n_embd\":4,\"bias\":0}", &back) &&
          strstr(ng_last_error(), "'bias'"), "bad bias: %s", ng_last_error());
}

static void test_param_names(void) {
    const int C = 8, L = 2;
    ng_model_config c = gpt_cfg(11, 8, L, 2, C, 0);
    ng_model *m = ng_model_new(&c);
    ng_params *P = ng_model_params(m);
    /* PyTorch's GPT(...).state_dict() order and shapes (tests/torch_ref.py) */
    struct { const char *name; int ndim; int64_t d0, d1; int decay; } want[2 + 12 * 2 + 2];
    int n = 0;
#define W(nm, nd, a, b, dec) do { want[n].name = nm; want[n].ndim = nd; want[n].d0 = a; want[n].d1 = b; want[n].decay = dec; n++; } while (0)
    W("wte.weight", 2, 11, C, 1);
    W("wpe.weight", 2, 8, C, 1);
    static char buf[2][12][40];
    const char *suffix[12] = {"ln_1.weight", "ln_1.bias", "c_attn.weight", "c_attn.bias", "c_proj.weight", "c_proj.bias",
                              "ln_2.weight", "ln_2.bias", "c_fc.weight", "c_fc.bias", "mlp_proj.weight", "mlp_proj.bias"};
    const int64_t d0[12] = {C, C, 3 * C, 3 * C, C, C, C, C, 4 * C, 4 * C, C, C};
    const int64_t d1[12] = {0, 0, C, 0, C, 0, 0, 0, C, 0, 4 * C, 0};
    for (int l = 0; l < L; l++)
        for (int k = 0; k < 12; k++) {
            snprintf(buf[l][k], sizeof buf[l][k], "h.%d.%s", l, suffix[k]);
            W(buf[l][k], d1[k] ? 2 : 1, d0[k], d1[k], d1[k] ? 1 : 0);
        }
    W("ln_f.weight", 1, C, 0, 0);
    W("ln_f.bias", 1, C, 0, 0);
#undef W
    CHECK(ng_params_count(P) == n, "%d tensors, want %d", ng_params_count(P), n);
    for (int i = 0; i < n && i < ng_params_count(P); i++) {
        ng_tensor *t = ng_params_get(P, i);
        int shape_ok = t->ndim == want[i].ndim && t->ne[0] == want[i].d0 && (t->ndim == 1 || t->ne[1] == want[i].d1);
        CHECK(strcmp(t->name, want[i].name) == 0 && shape_ok, "tensor %d: %s (%lld,%lld), want %s", i, t->name,
              (long long)t->ne[0], (long long)(t->ndim > 1 ? t->ne[1] : 0), want[i].name);
        CHECK(ng_params_decays(P, i) == want[i].decay, "%s: weight decay %d", t->name, ng_params_decays(P, i));
    }
    ng_model_free(m);
}

/* ---------------------------------------------------------------- gradients of the whole model */

#define GPT_FD_RTOL 1e-2
#define GPT_FD_ATOL 2e-5
/* Finite differences of a model's loss (B windows of T tokens, one target ignored) against
 * its backward, for n_pick parameters: 3 from every tensor, the rest uniform over all. */
static void model_gradcheck(ng_model *m, int B, int T, int n_pick, const char *label) {
    const int V = ng_model_cfg(m)->vocab_size;
    ng_params *P = ng_model_params(m);
    ng_graph *g = ng_graph_new();
    ng_lm_graph lm;
    CHECK(ng_model_build(m, g, B, T, &lm) == NG_OK, "%s", ng_last_error());
    for (int i = 0; i < B * T; i++) {
        lm.idx->idata[i] = (int32_t)ng_rng_below(&g_rng, V);
        lm.targets->idata[i] = (int32_t)ng_rng_below(&g_rng, V);
    }
    lm.targets->idata[B * T / 2] = -1;   /* an ignored position */
    ng_params_zero_grad(P);
    ng_graph_forward(g);
    ng_graph_backward(g);
    int64_t total = ng_params_total(P);
    float *ana = malloc(total * sizeof *ana);
    memcpy(ana, ng_params_grad(P), total * sizeof *ana);
    ng_tensor **pt = malloc(n_pick * sizeof *pt);
    int64_t *pj = malloc(n_pick * sizeof *pj);
    int np = 0;
    for (int i = 0; i < ng_params_count(P); i++)
        for (int k = 0; k < 3 && np < n_pick; k++) { pt[np] = ng_params_get(P, i); pj[np] = ng_rng_below(&g_rng, (uint32_t)pt[np]->n); np++; }
    int64_t numel = ng_params_numel(P);
    while (np < n_pick) {
        int64_t r = ng_rng_below(&g_rng, (uint32_t)numel);
        for (int i = 0; i < ng_params_count(P); i++) {
            ng_tensor *t = ng_params_get(P, i);
            if (r < t->n) { pt[np] = t; pj[np] = r; np++; break; }
            r -= t->n;
        }
    }
    const float eps = 3e-2f;
    double max_abs = 0, max_rel = 0, worst = 0;
    int bad = 0, nonzero = 0;
    for (int k = 0; k < np; k++) {
        /* five-point stencil: O(h^4) truncation error */
        float *x = pt[k]->data + pj[k], save = *x;
        const float off[4] = {eps, -eps, 2 * eps, -2 * eps};
        double l[4];
        for (int q = 0; q < 4; q++) { *x = save + off[q]; ng_graph_forward(g); l[q] = lm.loss->data[0]; }
        *x = save;
        double num = (8 * (l[0] - l[1]) - (l[2] - l[3])) / (12.0 * eps), a = ana[pt[k]->grad - ng_params_grad(P) + pj[k]];
        double err = fabs(a - num), mag = fmax(fabs(a), fabs(num));
        max_abs = fmax(max_abs, err);
        if (mag > 1e-3) { max_rel = fmax(max_rel, err / mag); nonzero++; }
        worst = fmax(worst, err / (GPT_FD_RTOL * mag + GPT_FD_ATOL));
        if (err > GPT_FD_RTOL * mag + GPT_FD_ATOL) {
            if (bad < 5) CHECK(0, "%s: d loss / d %s[%lld]: analytic %.6g numeric %.6g", label, pt[k]->name, (long long)pj[k], a, num);
            bad++;
        }
    }
    CHECK(bad == 0, "%s: %d of %d parameter gradients off", label, bad, np);
    CHECK(nonzero > np / 2, "%s: only %d of %d gradients are not tiny", label, nonzero, np);
    printf("  %s finite differences: %d parameters, max abs err %.2e, max rel err %.2e (|grad| > 1e-3), "
           "worst err / tolerance %.2f\n", label, np, max_abs, max_rel, worst);
    /* the wpe rows at positions >= T get nothing */
    ng_tensor *wpe = ng_params_find(P, "wpe.weight");
    int zero = 1;
    for (int64_t j = (int64_t)T * (wpe ? wpe->ne[1] : 0); wpe && j < wpe->n; j++) zero &= ana[wpe->grad - ng_params_grad(P) + j] == 0;
    CHECK(zero, "wpe rows beyond T have a gradient");
    free(ana); free(pt); free(pj);
    ng_graph_free(g);
}

static void test_gradcheck(void) {
    ng_model_config c = gpt_cfg(11, 8, 2, 2, 8, 0);
    ng_model *m = ng_model_new(&c);
    randomize(m, 0.3f);
    model_gradcheck(m, 2, 5, 320, "GPT");   /* T = 5 smaller than block_size */
    ng_model_free(m);
    ng_model_config bc = {.kind = NG_MODEL_BIGRAM, .vocab_size = 7, .block_size = 8};
    m = ng_model_new(&bc);
    ng_model_init(m, 4);
    model_gradcheck(m, 3, 6, 40, "bigram");
    ng_model_free(m);
}

/* Dropout in the model: eval mode gives the dropout-free loss; training mode differs. */
static void test_gpt_dropout(void) {
    ng_model_config c0 = gpt_cfg(11, 8, 2, 2, 8, 0), c1 = gpt_cfg(11, 8, 2, 2, 8, 0.3f);
    ng_model *m0 = ng_model_new(&c0), *m1 = ng_model_new(&c1);
    ng_model_init(m0, 5);
    ng_model_init(m1, 5);
    randomize(m0, 0.3f);
    memcpy(ng_params_data(ng_model_params(m1)), ng_params_data(ng_model_params(m0)),
           ng_params_total(ng_model_params(m0)) * sizeof(float));
    ng_graph *g0 = ng_graph_new(), *g1 = ng_graph_new();
    ng_lm_graph a, b;
    ng_model_build(m0, g0, 2, 8, &a);
    ng_model_build(m1, g1, 2, 8, &b);
    for (int i = 0; i < 16; i++) a.idx->idata[i] = b.idx->idata[i] = i % 11, a.targets->idata[i] = b.targets->idata[i] = (i * 7) % 11;
    ng_graph_forward(g0);
    ng_graph_set_training(g1, 0);
    ng_graph_forward(g1);
    CHECK(a.loss->data[0] == b.loss->data[0], "eval loss %g vs dropout-free %g", b.loss->data[0], a.loss->data[0]);
    ng_graph_set_training(g1, 1);
    ng_graph_set_dropout_seed(g1, 1, 0);
    ng_graph_forward(g1);
    CHECK(a.loss->data[0] != b.loss->data[0], "training loss with dropout equals the eval loss");
    ng_graph_free(g0); ng_graph_free(g1);
    ng_model_free(m0); ng_model_free(m1);
}

/* ---------------------------------------------------------------- loss and training */

static double loss_at_init(ng_model_config c, int B, uint64_t seed) {
    ng_model *m = ng_model_new(&c);
    ng_model_init(m, seed);
    ng_graph *g = ng_graph_new();
    ng_lm_graph lm;
    ng_model_build(m, g, B, c.block_size, &lm);
    for (int i = 0; i < B * c.block_size; i++) {
        lm.idx->idata[i] = (int32_t)ng_rng_below(&g_rng, c.vocab_size);
        lm.targets->idata[i] = (int32_t)ng_rng_below(&g_rng, c.vocab_size);
    }
    ng_graph_forward(g);
    double l = lm.loss->data[0];
    ng_graph_free(g);
    ng_model_free(m);
    return l;
}

static void test_loss_at_init(void) {
    CHECK_NEAR(loss_at_init(gpt_cfg(11, 8, 2, 2, 8, 0), 4, 1), log(11.0), 0.05);
    CHECK_NEAR(loss_at_init(gpt_cfg(65, 64, 4, 4, 128, 0), 1, 2), log(65.0), 0.1);
}

/* Train on one fixed batch; returns the last loss. */
static double train_fixed(ng_model *m, int B, int T, const int32_t *x, const int32_t *y, ng_adamw_cfg oc, int dropout_steps) {
    ng_graph *g = ng_graph_new();
    ng_lm_graph lm;
    ng_model_build(m, g, B, T, &lm);
    memcpy(lm.idx->idata, x, (size_t)B * T * sizeof *x);
    memcpy(lm.targets->idata, y, (size_t)B * T * sizeof *y);
    ng_adamw *o = ng_adamw_new(ng_model_params(m), &oc);
    double first = 0;
    for (int s = 0; s < oc.steps; s++) {
        ng_graph_set_dropout_seed(g, 11, s);
        ng_graph_set_training(g, s < dropout_steps);
        ng_graph_forward(g);
        if (s == 0) first = lm.loss->data[0];
        ng_graph_backward(g);
        ng_adamw_step(o, ng_lr_schedule(&oc, s));
    }
    ng_graph_set_training(g, 0);
    ng_graph_forward(g);
    double last = lm.loss->data[0];
    CHECK(last < first, "loss went from %g to %g", first, last);
    ng_adamw_free(o);
    ng_graph_free(g);
    return last;
}

static void test_memorise(void) {
    ng_adamw_cfg oc = {.lr = 1e-2f, .min_lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.99f, .eps = 1e-8f,
                       .weight_decay = 0.1f, .grad_clip = 1.0f, .warmup = 10, .steps = 300};
    const int32_t seq[17] = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2};
    int32_t x[16], y[16];
    for (int b = 0; b < 2; b++)
        for (int t = 0; t < 8; t++) { x[b * 8 + t] = seq[b * 8 + t]; y[b * 8 + t] = seq[b * 8 + t + 1]; }
    /* GPT, dropout 0 */
    ng_model_config c = gpt_cfg(11, 8, 2, 2, 8, 0);
    ng_model *m = ng_model_new(&c);
    ng_model_init(m, 42);
    double l = train_fixed(m, 2, 8, x, y, oc, 0);
    CHECK(l < 0.05, "GPT did not memorise: loss %g", l);
    printf("  GPT memorising 16 tokens: loss %.4f after %d steps\n", l, oc.steps);
    ng_model_free(m);
    /* GPT with dropout 0.1 during training: still learns */
    c.dropout = 0.1f;
    m = ng_model_new(&c);
    ng_model_init(m, 42);
    l = train_fixed(m, 2, 8, x, y, oc, oc.steps);
    CHECK(l < 0.3, "GPT with dropout: loss %g", l);
    ng_model_free(m);
    /* bigram on a deterministic successor map (i -> 3i+1 mod 11) */
    ng_model_config bc = {.kind = NG_MODEL_BIGRAM, .vocab_size = 11, .block_size = 8};
    m = ng_model_new(&bc);
    ng_model_init(m, 7);
    int32_t bx[32], by[32], tok = 0;
    for (int i = 0; i < 32; i++) { bx[i] = tok; tok = (3 * tok + 1) % 11; by[i] = tok; }
    oc.lr = 0.1f; oc.min_lr = 0.01f; oc.weight_decay = 0; oc.warmup = 0;
    l = train_fixed(m, 4, 8, bx, by, oc, 0);
    CHECK(l < 0.05, "bigram did not memorise: loss %g", l);
    printf("  bigram memorising a successor map: loss %.4f\n", l);
    ng_model_free(m);
}

/* ---------------------------------------------------------------- KV-cache inference */

/* Full-graph logits of the last position of each of B sequences of length T (tokens (B,T)). */
static void full_logits(ng_model *m, int B, int T, const int32_t *tokens, float *out) {
    const int V = ng_model_cfg(m)->vocab_size;
    ng_graph *g = ng_graph_new();
    ng_lm_graph lm;
    CHECK(ng_model_build(m, g, B, T, &lm) == NG_OK, "%s", ng_last_error());
    memcpy(lm.idx->idata, tokens, (size_t)B * T * sizeof *tokens);
    for (int i = 0; i < B * T; i++) lm.targets->idata[i] = 0;
    ng_graph_forward(g);
    for (int b = 0; b < B; b++) memcpy(out + (size_t)b * V, lm.logits->data + ((size_t)b * T + T - 1) * V, V * sizeof(float));
    ng_graph_free(g);
}

static void test_infer_prefixes(void) {
  for (int opt = 0; opt < 3; opt++) {   /* the GPT-2 default, --gelu exact --no-bias, --gelu exact */
    const int V = 11, T = 8;
    ng_model_config c = gpt_cfg(V, T, 2, 2, 8, 0);
    c.gelu = opt ? NG_GELU_EXACT : NG_GELU_TANH;
    c.no_bias = opt == 1;
    ng_model *m = ng_model_new(&c);
    randomize(m, 0.3f);
    for (int S = 1; S <= 5; S += 2) {   /* 5 streams: the packed-weight path of a batch */
        int32_t tok[5][8];
        for (int s = 0; s < S; s++) for (int t = 0; t < T; t++) tok[s][t] = (int32_t)ng_rng_below(&g_rng, V);
        ng_infer *inf = ng_infer_new(m, S);
        CHECK(inf != NULL, "%s", ng_last_error());
        double maxd = 0, spread = 0;
        int attn_ok = 1;
        for (int t = 1; t <= T; t++) {
            int32_t col[5], seqs[5 * 8];
            for (int s = 0; s < S; s++) col[s] = tok[s][t - 1];
            const float *lg = ng_infer_step(inf, col);
            for (int s = 0; s < S; s++) memcpy(seqs + s * t, tok[s], t * sizeof(int32_t));
            float want[5 * 11];
            full_logits(m, S, t, seqs, want);
            for (int i = 0; i < S * V; i++) maxd = fmax(maxd, fabs(lg[i] - want[i]));
            for (int i = 1; i < S; i++) spread = fmax(spread, fabs(lg[i * V] - lg[0]));
            for (int l = 0; l < 2; l++)
                for (int s = 0; s < S; s++) {
                    int n_ctx = 0;
                    const float *a = ng_infer_attention(inf, l, s, &n_ctx);
                    attn_ok &= a && n_ctx == t;
                    for (int h = 0; a && h < 2; h++) {
                        double sum = 0;
                        for (int j = 0; j < n_ctx; j++) sum += a[h * T + j];
                        attn_ok &= fabs(sum - 1) < 1e-5;
                    }
                }
        }
        CHECK(maxd < 1e-4, "KV cache vs full forward, %d streams: max diff %g", S, maxd);
        CHECK(attn_ok, "attention rows of the last step");
        if (S > 1) CHECK(spread > 1e-3, "streams gave the same logits");
        printf("  KV cache vs graph%s, %d stream(s), every prefix up to %d: max |diff| %.2e\n",
               opt == 1 ? " (exact GELU, no bias)" : opt == 2 ? " (exact GELU)" : "", S, T, maxd);
        ng_infer_free(inf);
    }
    ng_model_free(m);
  }
}

/* A wider model (threaded attention in the graph, BLAS-sized linears), 2 streams: the KV cache
 * against the graph at a few prefix lengths, up to block_size and past it (keep = T-1). */
static void test_infer_medium(void) {
  for (int opt = 0; opt < 4; opt++) {   /* 2 streams; then one stream split over threads (opt 1: the default; 2, 3: exact GELU, no bias) */
    const int V = 65, T = 64, S = opt ? 1 : 2, N = T + 6;
    ng_model_config c = gpt_cfg(V, T, 2, 4, 64, 0);
    c.gelu = opt >= 2 ? NG_GELU_EXACT : NG_GELU_TANH;
    c.no_bias = opt == 3 || opt == 0;
    ng_model *m = ng_model_new(&c);
    randomize(m, 0.1f);
    int32_t tok[S][N];
    for (int s = 0; s < S; s++) for (int n = 0; n < N; n++) tok[s][n] = (int32_t)ng_rng_below(&g_rng, V);
    ng_infer *inf = ng_infer_new(m, S);
    ng_infer_set_keep(inf, T - 1);
    double maxd = 0;
    int compared = 0;
    for (int n = 0; n < N; n++) {
        int32_t col[S];
        for (int s = 0; s < S; s++) col[s] = tok[s][n];
        const float *lg = ng_infer_step(inf, col);
        if (!(n < 2 || n == 16 || n == T - 1 || n == T || n == N - 1)) continue;
        int ctx = n + 1 < T ? n + 1 : T;
        int32_t win[S * T];
        float want[S * V];
        for (int s = 0; s < S; s++) memcpy(win + s * ctx, &tok[s][n + 1 - ctx], ctx * sizeof(int32_t));
        full_logits(m, S, ctx, win, want);
        for (int i = 0; i < S * V; i++) maxd = fmax(maxd, fabs(lg[i] - want[i]));
        compared++;
    }
    CHECK(compared == 6 && maxd < 1e-4, "KV cache vs graph (V=65 T=64 C=64, option set %d): max diff %g", opt, maxd);
    printf("  KV cache vs graph, C=64 T=64, %d stream(s)%s%s, prefixes 1..64 and past 64: max |diff| %.2e\n", S,
           c.gelu ? ", exact GELU" : "", c.no_bias ? ", no bias" : "", maxd);
    ng_infer_free(inf);
    ng_model_free(m);
  }
}

/* One stream with 1, 2 and 3 threads: the step split over threads (each thread its own heads,
 * rows of c_fc and the matching columns of c_proj / mlp_proj, partial sums added in thread
 * order) gives the one-thread logits up to rounding, and the same thread count gives the same
 * logits bit for bit, for even and uneven head counts and more threads than heads; past
 * block_size too (cache rebuilds). */
static void test_infer_threads(void) {
    const int cfgs[3][3] = {{64, 4, 2}, {96, 3, 2}, {48, 1, 3}};   /* C, H, L: >= 65536 weights per token */
    const int V = 65, T = 32, N = T + 10, saved = omp_get_max_threads();
    for (int k = 0; k < 3; k++) {
        ng_model_config c = gpt_cfg(V, T, cfgs[k][2], cfgs[k][1], cfgs[k][0], 0);
        ng_model *m = ng_model_new(&c);
        randomize(m, 0.1f);
        int32_t tok[N];
        for (int n = 0; n < N; n++) tok[n] = (int32_t)ng_rng_below(&g_rng, V);
        float *lg[5];
        /* 1, 2, 3 threads; made for 3 and run on 2; the count changed at every token (1, 2, 3, ...),
         * as nanogen does on a busy machine */
        for (int run = 0; run < 5; run++) {
            omp_set_num_threads(run < 3 ? run + 1 : 3);
            lg[run] = malloc((size_t)N * V * sizeof(float));
            ng_infer *inf = ng_infer_new(m, 1);
            CHECK(inf != NULL, "%s", ng_last_error());
            if (run == 3) omp_set_num_threads(2);
            for (int n = 0; inf && n < N; n++) {
                if (run == 4) omp_set_num_threads(1 + n % 3);
                memcpy(lg[run] + (size_t)n * V, ng_infer_step(inf, &tok[n]), V * sizeof(float));
            }
            ng_infer_free(inf);
        }
        omp_set_num_threads(saved);
        for (int run = 1; run < 5; run++)
            CHECK(memcmp(lg[0], lg[run], (size_t)N * V * sizeof(float)) == 0,
                  "one stream, C=%d H=%d: run %d (threads %s) differs from one thread", cfgs[k][0], cfgs[k][1], run,
                  run == 1 ? "2" : run == 2 ? "3" : run == 3 ? "made for 3, run on 2" : "changed every token");
        float want[65];
        full_logits(m, 1, T / 2 + 1 + (N - T - 1), tok + N - (T / 2 + 1 + (N - T - 1)), want);
        double dg = 0;
        for (int i = 0; i < V; i++) dg = fmax(dg, fabs(lg[1][(size_t)(N - 1) * V + i] - want[i]));
        CHECK(dg < 1e-4, "one stream, 2 threads, past block_size vs graph: %g", dg);
        printf("  one stream C=%d H=%d L=%d: 1, 2, 3 threads and a count changed every token bit-identical; vs graph past T: %.1e\n",
               cfgs[k][0], cfgs[k][1], cfgs[k][2], dg);
        for (int i = 0; i < 5; i++) free(lg[i]);
        /* a batch of streams: 1 and 2 threads */
        int32_t col[3];
        float *bl[2];
        for (int run = 0; run < 2; run++) {
            omp_set_num_threads(run + 1);
            bl[run] = malloc((size_t)N * 3 * V * sizeof(float));
            ng_infer *inf = ng_infer_new(m, 3);
            for (int n = 0; inf && n < N; n++) {
                for (int i = 0; i < 3; i++) col[i] = tok[(n + 7 * i) % N];
                memcpy(bl[run] + (size_t)n * 3 * V, ng_infer_step(inf, col), 3 * V * sizeof(float));
            }
            ng_infer_free(inf);
        }
        omp_set_num_threads(saved);
        CHECK(memcmp(bl[0], bl[1], (size_t)N * 3 * V * sizeof(float)) == 0, "3 streams, C=%d: 2 threads differ from 1", cfgs[k][0]);
        free(bl[0]); free(bl[1]);
        ng_model_free(m);
    }
}

/* Past block_size: the cache is rebuilt from the last `keep` tokens; with keep = T-1 that is
 * exactly a fresh forward over the last T tokens. */
static void infer_overflow(ng_model *m, int S, int keep, int n_tokens) {
    const int V = ng_model_cfg(m)->vocab_size, T = ng_model_cfg(m)->block_size;
    int32_t *tok = malloc((size_t)S * n_tokens * sizeof *tok);
    for (int i = 0; i < S * n_tokens; i++) tok[i] = (int32_t)ng_rng_below(&g_rng, V);
    ng_infer *inf = ng_infer_new(m, S);
    if (keep >= 0) ng_infer_set_keep(inf, keep);
    else keep = T / 2;   /* the default */
    int ctx = 0;
    double maxd = 0;
    int32_t *win = malloc((size_t)S * T * sizeof *win);
    float *want = malloc((size_t)S * V * sizeof *want);
    for (int n = 0; n < n_tokens; n++) {
        int32_t col[8];
        for (int s = 0; s < S; s++) col[s] = tok[s * n_tokens + n];
        const float *lg = ng_infer_step(inf, col);
        if (ctx == T) ctx = keep;
        ctx++;
        for (int s = 0; s < S; s++) memcpy(win + s * ctx, tok + s * n_tokens + n + 1 - ctx, ctx * sizeof(int32_t));
        full_logits(m, S, ctx, win, want);
        for (int i = 0; i < S * V; i++) maxd = fmax(maxd, fabs(lg[i] - want[i]));
    }
    CHECK(maxd < 1e-4, "overflow with keep=%d, %d streams: max diff %g", keep, S, maxd);
    /* reset starts over */
    ng_infer_reset(inf);
    int32_t col[8];
    for (int s = 0; s < S; s++) col[s] = tok[s * n_tokens];
    const float *lg = ng_infer_step(inf, col);
    for (int s = 0; s < S; s++) win[s] = tok[s * n_tokens];
    full_logits(m, S, 1, win, want);
    double d = 0;
    for (int i = 0; i < S * V; i++) d = fmax(d, fabs(lg[i] - want[i]));
    CHECK(d < 1e-4, "after reset: %g", d);
    free(tok); free(win); free(want);
    ng_infer_free(inf);
}

static void test_infer_overflow(void) {
    ng_model_config c = gpt_cfg(11, 8, 2, 2, 8, 0);
    ng_model *m = ng_model_new(&c);
    randomize(m, 0.3f);
    infer_overflow(m, 1, 7, 23);    /* keep = block_size - 1: crop to the last T tokens */
    infer_overflow(m, 3, 7, 19);
    infer_overflow(m, 2, -1, 21);   /* default keep */
    infer_overflow(m, 5, 7, 19);    /* a batch of streams: packed weights, GEMM cache rebuild */
    infer_overflow(m, 6, -1, 30);
    infer_overflow(m, 1, 0, 12);    /* keep nothing */
    ng_model_free(m);
    /* the bigram: logits are the table row of the token */
    ng_model_config bc = {.kind = NG_MODEL_BIGRAM, .vocab_size = 5, .block_size = 4};
    m = ng_model_new(&bc);
    ng_model_init(m, 3);
    ng_infer *inf = ng_infer_new(m, 2);
    const float *table = ng_params_find(ng_model_params(m), "table.weight")->data;
    int ok = 1;
    for (int n = 0; n < 9; n++) {
        int32_t col[2] = {n % 5, (n * 2 + 1) % 5};
        const float *lg = ng_infer_step(inf, col);
        ok &= memcmp(lg, table + col[0] * 5, 5 * sizeof(float)) == 0 && memcmp(lg + 5, table + col[1] * 5, 5 * sizeof(float)) == 0;
    }
    CHECK(ok, "bigram inference");
    CHECK(ng_infer_attention(inf, 0, 0, NULL) == NULL, "bigram has no attention");
    ng_infer_free(inf);
    ng_model_free(m);
}

/* ---------------------------------------------------------------- sampling */

static void test_sample(void) {
    enum { V = 6 };
    const float lg[V] = {1.0f, 2.5f, 0.3f, 2.4f, -1.0f, 0.0f};
    float work[2 * V], pd = 0;
    ng_rng r;
    ng_rng_seed(&r, 9);
    CHECK(ng_sample_logits(lg, V, 0, 0, 1, &r, work, &pd) == 1 && pd == 1, "temperature 0 is argmax");
    int all1 = 1;
    for (int i = 0; i < 200; i++) {
        all1 &= ng_sample_logits(lg, V, 1.0f, 1, 1, &r, work, &pd) == 1 && fabsf(pd - 1) < 1e-6f;
        all1 &= ng_sample_logits(lg, V, 1.5f, 0, 1e-4f, &r, work, NULL) == 1;
    }
    CHECK(all1, "top_k=1 and a tiny top_p are argmax");
    /* frequencies against the softmax, plain and with top_k / top_p / temperature */
    struct { float temp; int k; float p; } cases[4] = {{1, 0, 1}, {0.7f, 0, 1}, {1, 3, 1}, {1, 0, 0.8f}};
    for (int cidx = 0; cidx < 4; cidx++) {
        double p[V], sum = 0;
        for (int i = 0; i < V; i++) { p[i] = exp(lg[i] / cases[cidx].temp); sum += p[i]; }
        for (int i = 0; i < V; i++) p[i] /= sum;
        /* the kept set: ids sorted by probability */
        int order[V] = {1, 3, 0, 2, 5, 4}, keep[V] = {0};
        int n = V;
        if (cases[cidx].k > 0) n = cases[cidx].k;
        if (cases[cidx].p < 1) { double c = 0; int k = 0; while (k < n) { c += p[order[k]]; k++; if (c >= cases[cidx].p) break; } n = k; }
        double mass = 0;
        for (int k = 0; k < n; k++) { keep[order[k]] = 1; mass += p[order[k]]; }
        int count[V] = {0}, pd_ok = 1;
        const int draws = 20000;
        for (int d = 0; d < draws; d++) {
            int id = ng_sample_logits(lg, V, cases[cidx].temp, cases[cidx].k, cases[cidx].p, &r, work, &pd);
            count[id]++;
            pd_ok &= fabs(pd - p[id] / mass) < 1e-5;
        }
        double maxd = 0;
        for (int i = 0; i < V; i++) maxd = fmax(maxd, fabs((double)count[i] / draws - (keep[i] ? p[i] / mass : 0)));
        CHECK(maxd < 0.02, "temperature %g top_k %d top_p %g: frequencies off by %g", cases[cidx].temp, cases[cidx].k,
              cases[cidx].p, maxd);
        CHECK(pd_ok, "p_drawn");
        int outside = 0;
        for (int i = 0; i < V; i++) if (!keep[i]) outside += count[i];
        CHECK(outside == 0, "%d draws outside the kept set", outside);
    }
    /* same seed, same draws */
    ng_rng r1, r2;
    ng_rng_seed(&r1, 1234);
    ng_rng_seed(&r2, 1234);
    int same = 1;
    for (int i = 0; i < 500; i++)
        same &= ng_sample_logits(lg, V, 0.9f, 4, 0.95f, &r1, work, NULL) == ng_sample_logits(lg, V, 0.9f, 4, 0.95f, &r2, work, NULL);
    CHECK(same, "same seed, different draws");
}

int main(void) {
    ng_rng_seed(&g_rng, 31337);
    RUN(test_param_count);
    RUN(test_describe);
    RUN(test_gpt_options);
    RUN(test_param_names);
    RUN(test_gradcheck);
    RUN(test_gpt_dropout);
    RUN(test_loss_at_init);
    RUN(test_memorise);
    RUN(test_infer_prefixes);
    RUN(test_infer_medium);
    RUN(test_infer_threads);
    RUN(test_infer_overflow);
    RUN(test_sample);
    TEST_MAIN_END();
}

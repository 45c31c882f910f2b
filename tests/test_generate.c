/* test_generate.c - the library's text generator (ng_generator in nanogen.h): greedy decoding
 * follows the model's own next-token logits (ng_model_next_logits) token by token, past the
 * block size too; the same seed draws the same text and another seed another; a batch's stream
 * s equals round s of a single stream; probabilities are those the tokens were drawn with;
 * prompts are checked (UTF-8, unknown characters, the empty prompt's newline), and an image
 * model or a call before the start is refused. */
#include "nanogen.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

static const char *CHARS = "\n abcdefghijklmnopqrstuvwxyz.,";

static ng_model *tiny(const ng_tokenizer *tok, int T) {
    ng_model_config c = {.kind = NG_MODEL_GPT, .vocab_size = ng_tokenizer_vocab_size(tok), .block_size = T, .n_layer = 2, .n_head = 2,
                         .n_embd = 32};
    ng_model *m = ng_model_new(&c);
    if (!m) return NULL;
    ng_model_init(m, 5);
    /* weights large enough that the distribution is far from uniform */
    ng_params *P = ng_model_params(m);
    ng_rng r;
    ng_rng_seed(&r, 9);
    for (int i = 0; i < ng_params_count(P); i++) {
        ng_tensor *t = ng_params_get(P, i);
        if (t->ndim == 2) for (int64_t j = 0; j < t->n; j++) t->data[j] = 0.3f * ng_rng_normal(&r);
    }
    return m;
}

/* n tokens of a generator started from prompt at round r (malloc'd) */
static int32_t *draw(ng_generator *g, const char *prompt, int n, int round, int stream, float *p0) {
    size_t np = 0;
    int32_t *ids = ng_generator_encode(g, prompt, strlen(prompt), &np, NULL), *out = malloc(sizeof(int32_t) * n);
    if (!ids || !out || ng_generator_start(g, ids, np, round)) { free(ids); free(out); return NULL; }
    for (int k = 0; k < n; k++) {
        const float *probs;
        const int32_t *t = ng_generator_next(g, &probs);
        out[k] = t[stream];
        if (k == 0 && p0) *p0 = probs[stream];
    }
    free(ids);
    return out;
}

static void test_greedy(void) {
    ng_tokenizer *tok = ng_tokenizer_build(NG_TOK_CHAR, CHARS, strlen(CHARS), 0);
    const int T = 16, N = 40;   /* past the block size: the cache is rebuilt */
    ng_model *m = tiny(tok, T);
    ng_gen_settings gs;
    ng_gen_defaults(&gs);
    gs.temperature = 0;
    gs.exact_context = 1;   /* exactly the last T tokens every step, as ng_model_next_logits crops */
    ng_generator *g = ng_generator_new(m, tok, 1, &gs);
    CHECK(g != NULL, "%s", ng_last_error());
    float p0 = 0;
    int32_t *got = draw(g, "the cat", N, 0, 0, &p0);
    CHECK(got != NULL && p0 == 1.0f, "greedy draws with probability 1");
    int32_t seq[64];
    size_t np = 0;
    int32_t *pids = ng_generator_encode(g, "the cat", 7, &np, NULL);
    memcpy(seq, pids, np * sizeof(int32_t));
    int V = ng_tokenizer_vocab_size(tok), same = 1;
    float lg[64];
    for (int k = 0; got && k < N; k++) {
        ng_model_next_logits(m, seq, (int)np + k, lg);
        int best = 0;
        for (int i = 1; i < V; i++) if (lg[i] > lg[best]) best = i;
        same &= best == got[k];
        seq[np + k] = got[k];
    }
    CHECK(same, "greedy = the argmax of ng_model_next_logits at every step, past the block size");
    free(got); free(pids);
    ng_generator_free(g);
    ng_model_free(m);
    ng_tokenizer_free(tok);
}

static void test_seeds_and_batch(void) {
    ng_tokenizer *tok = ng_tokenizer_build(NG_TOK_CHAR, CHARS, strlen(CHARS), 0);
    ng_model *m = tiny(tok, 32);
    ng_gen_settings gs;
    ng_gen_defaults(&gs);
    gs.seed = 77;
    ng_generator *g1 = ng_generator_new(m, tok, 1, &gs), *g3 = ng_generator_new(m, tok, 3, &gs);
    CHECK(g1 && g3, "%s", ng_last_error());
    const int N = 50;
    float p = 0;
    int32_t *a = draw(g1, "a", N, 0, 0, &p), *b = draw(g1, "a", N, 0, 0, NULL), *c = draw(g1, "a", N, 1, 0, NULL);
    CHECK(a && b && memcmp(a, b, N * sizeof *a) == 0, "the same seed: the same tokens");
    CHECK(a && c && memcmp(a, c, N * sizeof *a) != 0, "round 1: other tokens");
    CHECK(p > 0 && p <= 1, "a probability: %g", p);
    for (int s = 0; s < 3; s++) {
        int32_t *single = draw(g1, "a", N, s, 0, NULL), *batch = draw(g3, "a", N, 0, s, NULL);
        CHECK(single && batch && memcmp(single, batch, N * sizeof *single) == 0, "stream %d of a batch = round %d of one stream", s, s);
        free(single); free(batch);
    }
    /* the text of the tokens, decoded in order */
    size_t np;
    int32_t *ids = ng_generator_encode(g1, "ab c", 4, &np, NULL);
    char buf[16], all[32] = "";
    ng_generator_start(g1, ids, np, 0);
    for (size_t i = 0; i < np; i++) { ng_generator_text(g1, 0, ids[i], buf, sizeof buf); strcat(all, buf); }
    CHECK(!strcmp(all, "ab c"), "the prompt's text back: '%s'", all);
    free(ids);
    free(a); free(b); free(c);
    ng_generator_free(g1); ng_generator_free(g3);
    ng_model_free(m);
    ng_tokenizer_free(tok);
}

static void test_errors(void) {
    ng_tokenizer *tok = ng_tokenizer_build(NG_TOK_CHAR, CHARS, strlen(CHARS), 0);
    ng_model *m = tiny(tok, 8);
    ng_generator *g = ng_generator_new(m, tok, 1, NULL);
    size_t n = 9;
    CHECK(ng_generator_next(g, NULL) == NULL && strstr(ng_last_error(), "before"), "next before start: %s", ng_last_error());
    CHECK(ng_generator_encode(g, "a\xff", 2, &n, NULL) == NULL && strstr(ng_last_error(), "UTF-8"), "bad UTF-8: %s", ng_last_error());
    CHECK(ng_generator_encode(g, "aQ", 2, &n, NULL) == NULL && strstr(ng_last_error(), "Q"), "unknown character named: %s", ng_last_error());
    int32_t *ids = ng_generator_encode(g, "", 0, &n, NULL);
    CHECK(ids && n == 1 && !strcmp(ng_tokenizer_token(tok, ids[0]), "\n"), "the empty prompt is a newline");
    free(ids);
    int32_t bad = 999;
    CHECK(ng_generator_start(g, &bad, 1, 0) == NG_ERR, "a token out of the vocabulary");
    ng_generator_free(g);
    ng_model_config ic = {.kind = NG_MODEL_VAE, .c = 1, .h = 8, .w = 8, .hidden = 8, .latent = 2, .beta = 1};
    ng_model *im = ng_model_new(&ic);
    CHECK(ng_generator_new(im, tok, 1, NULL) == NULL && strstr(ng_last_error(), "does not generate text"), "an image model: %s", ng_last_error());
    ng_model_free(im);
    ng_model_free(m);
    ng_tokenizer_free(tok);
}

int main(void) {
    ng_set_threads(1);
    RUN(test_greedy);
    RUN(test_seeds_and_batch);
    RUN(test_errors);
    TEST_MAIN_END();
}

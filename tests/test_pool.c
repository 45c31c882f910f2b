/* test_pool.c - the pool of streams (ng_pool in nanogen.h, src/infer/pool.c; what `nanogen serve`
 * schedules): (a) a pool stream draws exactly the tokens and text of stream 0 of a 4-stream
 * ng_generator with its seed and settings (greedy and sampled; prompts of 1 token, a few, and
 * longer than the block size; past the context, so the cache is rebuilt; GPT with a char and a
 * bpe tokenizer, bigram), and its log-probabilities are the model's; (b) a stream's tokens and
 * log-probabilities are bit for bit the same alone and among 8 streams that join at other steps
 * and leave (done or removed), on 1 and 2 threads, and when the prompts of a step fill more rows
 * than one pass holds; (c) a full pool, removal, the counts and bad requests (each named);
 * (d) a stream is done after max_tokens; the KV cache's feed under the pool refuses bad lists. */
#include "infer/kvcache.h"
#include "nanogen.h"
#include "test.h"

#include <stdlib.h>
#include <string.h>

static const char *CHARS = "\n abcdefghijklmnopqrstuvwxyz.,";
#define MAXN 256

/* a small random GPT whose weights are large enough that its distributions are far from uniform */
static ng_model *gpt(int V, int T, int L, int H, int C, uint64_t seed) {
    ng_model_config c = {.kind = NG_MODEL_GPT, .vocab_size = V, .block_size = T, .n_layer = L, .n_head = H, .n_embd = C};
    ng_model *m = ng_model_new(&c);
    if (!m) return NULL;
    ng_model_init(m, seed);
    ng_params *P = ng_model_params(m);
    ng_rng r;
    ng_rng_seed(&r, seed + 1);
    for (int i = 0; i < ng_params_count(P); i++) {
        ng_tensor *t = ng_params_get(P, i);
        if (t->ndim == 2) for (int64_t j = 0; j < t->n; j++) t->data[j] = 0.3f * ng_rng_normal(&r);
    }
    return m;
}

static ng_model *bigram(int V, uint64_t seed) {
    ng_model_config c = {.kind = NG_MODEL_BIGRAM, .vocab_size = V, .block_size = 8};
    ng_model *m = ng_model_new(&c);
    if (!m) return NULL;
    ng_params *P = ng_model_params(m);
    ng_rng r;
    ng_rng_seed(&r, seed);
    for (int i = 0; i < ng_params_count(P); i++) {
        ng_tensor *t = ng_params_get(P, i);
        for (int64_t j = 0; j < t->n; j++) t->data[j] = 2.0f * ng_rng_normal(&r);
    }
    return m;
}

/* n pseudo-random token ids below V */
static void prompt_ids(int32_t *ids, int n, int V, uint64_t seed) {
    ng_rng r;
    ng_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) ids[i] = (int32_t)(ng_rng_uniform(&r) * V) % V;
}

static ng_pool_request req(float temperature, int top_k, float top_p, uint64_t seed, int max_tokens, int top) {
    ng_pool_request r;
    memset(&r, 0, sizeof r);
    ng_gen_defaults(&r.gen);
    r.gen.temperature = temperature; r.gen.top_k = top_k; r.gen.top_p = top_p; r.gen.seed = seed;
    r.max_tokens = max_tokens;
    r.top_logprobs = top;
    return r;
}

/* what one stream drew: ids, log-probabilities, alternatives, its text, the step it ended */
typedef struct {
    int n, done_at, dones, slot;
    int32_t ids[MAXN], top_ids[MAXN][NG_POOL_MAX_TOP];
    float lp[MAXN], top_lp[MAXN][NG_POOL_MAX_TOP];
    int n_top[MAXN];
    char text[8192];
    size_t len;
} run_t;

static void take(run_t *o, const ng_pool_event *e, int step) {
    if (o->n < MAXN) {
        o->ids[o->n] = e->token;
        o->lp[o->n] = e->logprob;
        o->n_top[o->n] = e->n_top;
        memcpy(o->top_ids[o->n], e->top_ids, sizeof e->top_ids);
        memcpy(o->top_lp[o->n], e->top_logprobs, sizeof e->top_logprobs);
    }
    o->n++;
    if (o->len + e->text_len < sizeof o->text) { memcpy(o->text + o->len, e->text, e->text_len); o->len += e->text_len; }
    o->text[o->len] = 0;
    if (e->done) { o->dones++; o->done_at = step; }
}

/* stream 0 of a generator of 4 streams: the prompt's text pushed first (as `nanogen sample`
 * echoes it), then max_tokens tokens and the decoder's end */
static int gen_run(ng_model *m, const ng_tokenizer *tok, const int32_t *ids, size_t np, const ng_pool_request *r, run_t *o) {
    memset(o, 0, sizeof *o);
    ng_generator *g = ng_generator_new(m, tok, 4, &r->gen);
    if (!g || ng_generator_start(g, ids, np, 0)) { ng_generator_free(g); return NG_ERR; }
    char buf[512];
    for (size_t p = 0; p < np; p++) ng_generator_text(g, 0, ids[p], buf, sizeof buf);
    for (int k = 0; k < r->max_tokens && k < MAXN; k++) {
        const int32_t *t = ng_generator_next(g, NULL);
        if (!t) { ng_generator_free(g); return NG_ERR; }
        o->ids[o->n++] = t[0];
        size_t len = ng_generator_text(g, 0, t[0], buf, sizeof buf);
        if (o->len + len < sizeof o->text) { memcpy(o->text + o->len, buf, len); o->len += len; }
    }
    size_t len = ng_generator_text_end(g, 0, buf, sizeof buf);
    if (o->len + len < sizeof o->text) { memcpy(o->text + o->len, buf, len); o->len += len; }
    o->text[o->len] = 0;
    ng_generator_free(g);
    return NG_OK;
}

/* one stream alone in a pool of cap streams, stepped until done */
static int pool_alone(ng_model *m, const ng_tokenizer *tok, int cap, const int32_t *ids, size_t np, const ng_pool_request *r, run_t *o) {
    memset(o, 0, sizeof *o);
    ng_pool *p = ng_pool_new(m, tok, cap);
    if (!p) return NG_ERR;
    o->slot = ng_pool_add(p, ids, np, r);
    for (int step = 0; o->slot >= 0 && ng_pool_active(p) > 0 && step < 10 * MAXN; step++) {
        const ng_pool_event *ev;
        int n = 0;
        if (ng_pool_step(p, &ev, &n)) break;
        for (int e = 0; e < n; e++) take(o, &ev[e], step);
    }
    ng_pool_free(p);
    return o->slot >= 0 && o->dones == 1 ? NG_OK : NG_ERR;
}

static int same_run(const run_t *a, const run_t *b, int with_lp) {
    if (a->n != b->n || memcmp(a->ids, b->ids, sizeof(int32_t) * (size_t)(a->n < MAXN ? a->n : MAXN)) || strcmp(a->text, b->text)) return 0;
    if (!with_lp) return 1;
    const int n = a->n < MAXN ? a->n : MAXN;
    return !memcmp(a->lp, b->lp, sizeof(float) * (size_t)n) && !memcmp(a->n_top, b->n_top, sizeof(int) * (size_t)n) &&
           !memcmp(a->top_ids, b->top_ids, sizeof a->top_ids[0] * (size_t)n) && !memcmp(a->top_lp, b->top_lp, sizeof a->top_lp[0] * (size_t)n);
}

/* (a) a pool stream = stream 0 of a 4-stream generator: prompts of 1, 5 and 40 tokens (T = 16),
 * greedy and sampled, 50 tokens (past the context), the generator's exact context too */
static void test_matches_generator(void) {
    ng_tokenizer *tok = ng_tokenizer_build(NG_TOK_CHAR, CHARS, strlen(CHARS), 0);
    const int V = ng_tokenizer_vocab_size(tok), T = 16;
    ng_model *m = gpt(V, T, 2, 3, 36, 5);
    CHECK(m != NULL, "%s", ng_last_error());
    int32_t ids[40];
    prompt_ids(ids, 40, V, 3);
    const int lens[3] = {1, 5, 40};
    int differ = 0;   /* the runs are not all alike (the comparison can tell them apart) */
    run_t *a = malloc(sizeof *a), *b = malloc(sizeof *b), *first = calloc(1, sizeof *first);
    for (int li = 0; li < 3; li++)
        for (int mode = 0; mode < 3; mode++) {
            ng_pool_request r = mode == 0 ? req(0, 0, 1, 1234, 50, 3) : req(0.8f, 5, 0.9f, 1234 + (uint64_t)li, 50, 3);
            if (mode == 2) r.gen.exact_context = 1;
            int ok = gen_run(m, tok, ids, (size_t)lens[li], &r, a) == NG_OK;
            ok = ok && pool_alone(m, tok, 3, ids, (size_t)lens[li], &r, b) == NG_OK;
            CHECK(ok, "prompt %d tokens mode %d: %s", lens[li], mode, ng_last_error());
            CHECK(ok && b->n == 50 && same_run(a, b, 0), "prompt of %d tokens, %s: the pool's stream = the generator's stream 0 (%d tokens; '%s' vs '%s')",
                  lens[li], mode == 0 ? "greedy" : mode == 1 ? "sampled" : "sampled, exact context", b->n, b->text, a->text);
            if (li == 0 && mode == 0) *first = *a;
            else differ |= !same_run(first, a, 0);
        }
    CHECK(differ, "the prompts and settings give other tokens");
    /* the log-probabilities are the model's (temperature 1): greedy with the exact context sees
     * the last T tokens, as ng_model_next_logits crops */
    ng_pool_request r = req(0, 0, 1, 9, 40, 4);
    r.gen.exact_context = 1;
    CHECK(pool_alone(m, tok, 2, ids, 7, &r, b) == NG_OK, "%s", ng_last_error());
    int32_t seq[64];
    memcpy(seq, ids, 7 * sizeof *seq);
    double worst = 0;
    int order = 1, argmax = 1;
    float lg[64];
    for (int k = 0; k < b->n && 7 + k < 64; k++) {
        ng_model_next_logits(m, seq, 7 + k, lg);
        double mx = lg[0], sum = 0;
        for (int i = 1; i < V; i++) mx = lg[i] > mx ? lg[i] : mx;
        for (int i = 0; i < V; i++) sum += exp(lg[i] - mx);
        const double lse = mx + log(sum);
        double d = fabs(b->lp[k] - (lg[b->ids[k]] - lse));
        for (int j = 0; j < b->n_top[k]; j++) d = fmax(d, fabs(b->top_lp[k][j] - (lg[b->top_ids[k][j]] - lse)));
        worst = fmax(worst, d);
        argmax &= b->n_top[k] == 4 && b->top_ids[k][0] == b->ids[k] && b->top_lp[k][0] == b->lp[k];
        for (int j = 1; j < b->n_top[k]; j++) order &= b->top_lp[k][j] <= b->top_lp[k][j - 1];
        seq[7 + k] = b->ids[k];
    }
    CHECK(worst < 2e-4, "log-probabilities = log softmax of the model's logits: worst difference %g", worst);
    CHECK(argmax, "greedy: the best alternative is the token drawn, with its log-probability");
    CHECK(order, "the alternatives best first");
    free(a); free(b); free(first);
    ng_model_free(m);
    ng_tokenizer_free(tok);
}

/* (a) the same with a bpe tokenizer (a token may end inside a character: the texts carry it, and
 * the decoder's end) and a bigram */
static void test_bpe_and_bigram(void) {
    const char *text = "h\xc3\xa9llo w\xc3\xb6rld, \xc3\xbc\xc3\xb1\xc3\xaf c\xc3\xb6" "d\xc3\xa9 \xe2\x82\xac \xe6\x97\xa5\xe6\x9c\xac h\xc3\xa9llo h\xc3\xa9llo w\xc3\xb6rld \xe2\x82\xac\xe2\x82\xac";
    ng_tokenizer *bpe = ng_tokenizer_build(NG_TOK_BPE, text, strlen(text), 270);
    CHECK(bpe != NULL, "%s", ng_last_error());
    if (!bpe) return;
    const int V = ng_tokenizer_vocab_size(bpe);
    ng_model *m = gpt(V, 16, 2, 2, 32, 11);
    int32_t ids[30];
    prompt_ids(ids, 30, V - 1, 8);
    run_t *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    int fffd = 0;
    for (int k = 0; k < 3; k++) {
        const size_t np = k == 0 ? 1 : k == 1 ? 4 : 30;
        ng_pool_request r = req(1.5f, 0, 1, 50 + (uint64_t)k, 40, 0);
        int ok = gen_run(m, bpe, ids, np, &r, a) == NG_OK && pool_alone(m, bpe, 4, ids, np, &r, b) == NG_OK;
        CHECK(ok && b->n == 40 && same_run(a, b, 0), "bpe, prompt of %zu tokens: the pool's tokens and text = the generator's", np);
        fffd |= strstr(b->text, "\xef\xbf\xbd") != NULL;
    }
    CHECK(fffd, "the bpe texts hold a U+FFFD (bytes that make no character: the decoder's paths are exercised)");
    ng_model_free(m);
    ng_tokenizer_free(bpe);

    ng_tokenizer *tok = ng_tokenizer_build(NG_TOK_CHAR, CHARS, strlen(CHARS), 0);
    ng_model *bg = bigram(ng_tokenizer_vocab_size(tok), 3);
    prompt_ids(ids, 30, ng_tokenizer_vocab_size(tok), 9);
    int32_t greedy[30];
    int differ = 0;
    for (int k = 0; k < 3; k++) {
        const size_t np = k == 0 ? 1 : k == 1 ? 3 : 20;   /* past its block size (8) too */
        ng_pool_request r = k == 0 ? req(0, 0, 1, 1, 30, 2) : req(0.8f, 5, 0.9f, 60 + (uint64_t)k, 30, 2);
        int ok = gen_run(bg, tok, ids, np, &r, a) == NG_OK && pool_alone(bg, tok, 1, ids, np, &r, b) == NG_OK;
        CHECK(ok && b->n == 30 && same_run(a, b, 0), "bigram, prompt of %zu tokens: the pool's tokens and text = the generator's", np);
        if (k == 0) memcpy(greedy, b->ids, sizeof greedy);
        else differ |= memcmp(greedy, b->ids, sizeof greedy) != 0;
    }
    CHECK(differ, "bigram: sampling draws other tokens than greedy");
    free(a); free(b);
    ng_model_free(bg);
    ng_tokenizer_free(tok);
}

/* (b) one stream X among others that join at other steps, leave (done or removed) and reuse the
 * freed slots, with prompts longer than the context and their own settings */
typedef struct { int join, plen, max_tokens, remove_at; float temperature; int top_k, exact; } other_t;
static const other_t OTHERS[] = {
    {0, 5, 200, -1, 1.0f, 0, 0},  {0, 70, 10, -1, 0.5f, 3, 0}, {1, 1, 40, 20, 0, 0, 0},  {2, 100, 30, -1, 1.2f, 0, 0},
    {5, 64, 80, -1, 0.9f, 4, 1},  {12, 33, 5, -1, 0, 0, 0},    {20, 3, 100, 60, 1.0f, 0, 0}, {25, 130, 60, -1, 0.7f, 0, 0},
};
#define N_OTHERS (int)(sizeof OTHERS / sizeof *OTHERS)

static int crowd(ng_model *m, const ng_tokenizer *tok, const int32_t *xp, size_t xn, const ng_pool_request *xr, int x_join, run_t *o) {
    memset(o, 0, sizeof *o);
    const int V = ng_tokenizer_vocab_size(tok);
    ng_pool *p = ng_pool_new(m, tok, 8);
    if (!p) return NG_ERR;
    int slot[N_OTHERS], x = -1, ok = 1, most = 0;
    int32_t ids[200];
    for (int step = 0; ok && step < 10 * MAXN; step++) {
        for (int k = 0; k < N_OTHERS; k++) {
            if (OTHERS[k].remove_at == step && slot[k] >= 0) ng_pool_remove(p, slot[k]);
            if (OTHERS[k].join != step) continue;
            prompt_ids(ids, OTHERS[k].plen, V, 100 + (uint64_t)k);
            ng_pool_request r = req(OTHERS[k].temperature, OTHERS[k].top_k, 1, 7 + (uint64_t)k, OTHERS[k].max_tokens, k % 3);
            r.gen.exact_context = OTHERS[k].exact;
            slot[k] = ng_pool_add(p, ids, (size_t)OTHERS[k].plen, &r);
            ok &= slot[k] >= 0;
        }
        if (step == x_join) { o->slot = x = ng_pool_add(p, xp, xn, xr); ok &= x >= 0; }
        if (ng_pool_active(p) > most) most = ng_pool_active(p);
        const ng_pool_event *ev;
        int n = 0;
        ok &= ng_pool_step(p, &ev, &n) == NG_OK;
        for (int e = 0; e < n; e++) {
            for (int k = 0; k < N_OTHERS; k++)
                if (ev[e].done && ev[e].slot == slot[k] && OTHERS[k].join <= step) slot[k] = -1;   /* gone: not removed later */
            if (ev[e].slot == x && step >= x_join && o->dones == 0) take(o, &ev[e], step);
        }
        if (step >= x_join && o->dones) break;
    }
    ng_pool_free(p);
    return ok && o->dones == 1 && most >= 5 ? NG_OK : NG_ERR;
}

static void test_independence(void) {
    ng_tokenizer *tok = ng_tokenizer_build(NG_TOK_CHAR, CHARS, strlen(CHARS), 0);
    const int V = ng_tokenizer_vocab_size(tok);
    ng_model *m = gpt(V, 64, 2, 4, 40, 21);   /* 40 floats a row: rows at every alignment */
    int32_t xp[20];
    prompt_ids(xp, 20, V, 77);
    ng_pool_request xr = req(0.8f, 5, 0.9f, 4242, 150, 5);   /* past the context: rebuilds */
    run_t *alone = malloc(sizeof *alone), *got = malloc(sizeof *got), *other = malloc(sizeof *other);
    ng_set_threads(1);
    CHECK(pool_alone(m, tok, 8, xp, 20, &xr, alone) == NG_OK && alone->n == 150, "alone: %s", ng_last_error());
    for (int th = 1; th <= 2; th++) {
        ng_set_threads(th);
        for (int join = 0; join <= 3; join += 3) {
            CHECK(crowd(m, tok, xp, 20, &xr, join, got) == NG_OK, "%d threads: the crowd ran (%s)", th, ng_last_error());
            CHECK(same_run(alone, got, 1), "%d threads, joining at step %d: the same tokens, text and log-probabilities (bit for bit) as alone (%d tokens)",
                  th, join, got->n);
        }
    }
    ng_set_threads(1);
    /* the comparison can tell: another seed draws other tokens */
    ng_pool_request yr = xr;
    yr.gen.seed = 4243;
    CHECK(pool_alone(m, tok, 8, xp, 20, &yr, other) == NG_OK && !same_run(alone, other, 0), "another seed: other tokens");
    ng_model_free(m);

    /* one step's prompts fill more rows than a pass holds (1024): 20 prompts of 60 tokens, one
     * of them cut between two passes; each stream = itself alone */
    m = gpt(V, 64, 1, 2, 16, 31);
    ng_pool *p = ng_pool_new(m, tok, 20);
    int32_t ids[20][60];
    int slots[20], ok = p != NULL;
    run_t *runs = calloc(20, sizeof *runs);
    for (int k = 0; ok && k < 20; k++) {
        prompt_ids(ids[k], 60, V, 500 + (uint64_t)k);
        ng_pool_request r = req(0.9f, 0, 1, 900 + (uint64_t)k, 12, 2);
        ok &= (slots[k] = ng_pool_add(p, ids[k], 60, &r)) == k;
    }
    for (int step = 0; ok && ng_pool_active(p) > 0 && step < 20; step++) {
        const ng_pool_event *ev;
        int n = 0;
        ok &= ng_pool_step(p, &ev, &n) == NG_OK;
        for (int e = 0; e < n; e++) take(&runs[ev[e].slot], &ev[e], step);
    }
    CHECK(ok, "twenty long prompts at once: %s", ng_last_error());
    const int which[3] = {0, 17, 19};
    for (int w = 0; w < 3; w++) {
        const int k = which[w];
        ng_pool_request r = req(0.9f, 0, 1, 900 + (uint64_t)k, 12, 2);
        CHECK(pool_alone(m, tok, 2, ids[k], 60, &r, alone) == NG_OK && same_run(alone, &runs[k], 1),
              "stream %d of twenty long prompts (rows %d..%d of the first step) = alone", k, 60 * k, 60 * k + 59);
    }
    ng_pool_free(p);
    free(runs);
    free(alone); free(got); free(other);
    ng_model_free(m);
    ng_tokenizer_free(tok);
}

/* (c) full, removal, counts, bad requests; (d) done at max_tokens */
static void test_slots_and_errors(void) {
    ng_tokenizer *tok = ng_tokenizer_build(NG_TOK_CHAR, CHARS, strlen(CHARS), 0);
    const int V = ng_tokenizer_vocab_size(tok);
    ng_model *m = gpt(V, 16, 1, 2, 16, 41);
    ng_pool *p = ng_pool_new(m, tok, 3);
    CHECK(p && ng_pool_capacity(p) == 3 && ng_pool_active(p) == 0, "a pool of 3, empty");
    int32_t ids[4] = {1, 2, 3, 4};
    ng_pool_request r = req(1, 0, 1, 5, 3, 0);
    int a = ng_pool_add(p, ids, 4, &r), b = ng_pool_add(p, ids, 1, &r), c = ng_pool_add(p, ids, 2, &r);
    CHECK(a == 0 && b == 1 && c == 2 && ng_pool_active(p) == 3, "three streams in slots 0, 1, 2 (%d %d %d)", a, b, c);
    CHECK(ng_pool_add(p, ids, 4, &r) == -1 && !strcmp(ng_last_error(), "the pool is full (3 streams)"), "full: %s", ng_last_error());
    ng_pool_remove(p, 1);
    CHECK(ng_pool_active(p) == 2, "removed: two active");
    ng_pool_remove(p, 1);
    ng_pool_remove(p, 7);
    CHECK(ng_pool_active(p) == 2, "removing a free or unknown slot changes nothing");
    r.max_tokens = 1;
    int d = ng_pool_add(p, ids, 3, &r);
    CHECK(d == 1 && ng_pool_active(p) == 3, "the removed slot at once: %d", d);
    /* (d) slot 1 draws one token, slots 0 and 2 three */
    const ng_pool_event *ev;
    int n = 0, counts[3] = {0, 0, 0}, done[3] = {-1, -1, -1}, early = 0;
    for (int step = 0; step < 5; step++) {
        CHECK(ng_pool_step(p, &ev, &n) == NG_OK, "%s", ng_last_error());
        for (int e = 0; e < n; e++) {
            counts[ev[e].slot]++;
            if (ev[e].done) done[ev[e].slot] = step;
            early |= ev[e].done && counts[ev[e].slot] < (ev[e].slot == 1 ? 1 : 3);
        }
        if (step == 0) CHECK(n == 3 && ng_pool_active(p) == 2, "step 0: three events, one stream done after it (%d events, %d active)", n, ng_pool_active(p));
    }
    CHECK(counts[0] == 3 && counts[1] == 1 && counts[2] == 3 && !early, "max_tokens tokens each: %d %d %d", counts[0], counts[1], counts[2]);
    CHECK(done[0] == 2 && done[1] == 0 && done[2] == 2, "done with the last token: steps %d %d %d", done[0], done[1], done[2]);
    CHECK(ng_pool_active(p) == 0 && ng_pool_step(p, &ev, &n) == NG_OK && n == 0, "then the pool is empty: no events");
    /* a stream removed before its first step never reports */
    int e0 = ng_pool_add(p, ids, 2, &r);
    ng_pool_remove(p, e0);
    CHECK(ng_pool_step(p, &ev, &n) == NG_OK && n == 0 && ng_pool_active(p) == 0, "removed before its first step: nothing");

    /* bad requests, each naming its field */
    struct { const char *field; ng_pool_request r; } bad[9];
    for (int k = 0; k < 9; k++) bad[k].r = req(1, 0, 1, 5, 3, 0);
    bad[0].field = "temperature"; bad[0].r.gen.temperature = -0.5f;
    bad[1].field = "temperature"; bad[1].r.gen.temperature = NAN;
    bad[2].field = "temperature"; bad[2].r.gen.temperature = INFINITY;
    bad[3].field = "top_k"; bad[3].r.gen.top_k = -1;
    bad[4].field = "top_p"; bad[4].r.gen.top_p = 1.5f;
    bad[5].field = "top_p"; bad[5].r.gen.top_p = NAN;
    bad[6].field = "max_tokens"; bad[6].r.max_tokens = 0;
    bad[7].field = "top_logprobs"; bad[7].r.top_logprobs = NG_POOL_MAX_TOP + 1;
    bad[8].field = "top_logprobs"; bad[8].r.top_logprobs = -1;
    for (int k = 0; k < 9; k++)
        CHECK(ng_pool_add(p, ids, 4, &bad[k].r) == -1 && strstr(ng_last_error(), bad[k].field), "bad %s refused: %s", bad[k].field, ng_last_error());
    int32_t out[2] = {1, V};
    CHECK(ng_pool_add(p, out, 2, &r) == -1 && strstr(ng_last_error(), "vocabulary") && strstr(ng_last_error(), "prompt"), "a token out of the vocabulary: %s",
          ng_last_error());
    out[1] = -1;
    CHECK(ng_pool_add(p, out, 2, &r) == -1 && strstr(ng_last_error(), "vocabulary"), "a negative token: %s", ng_last_error());
    CHECK(ng_pool_add(p, ids, 0, &r) == -1 && strstr(ng_last_error(), "prompt"), "an empty prompt: %s", ng_last_error());
    r.top_logprobs = NG_POOL_MAX_TOP;
    r.gen.temperature = 0; r.gen.top_p = 0;
    CHECK(ng_pool_add(p, ids, 4, &r) >= 0 && ng_pool_active(p) == 1, "the limits themselves are fine: %s", ng_last_error());
    CHECK(ng_pool_add(p, ids, 4, NULL) == -1 && strstr(ng_last_error(), "request"), "no request: %s", ng_last_error());
    ng_pool_free(p);
    CHECK(ng_pool_new(m, tok, 0) == NULL && strstr(ng_last_error(), "0 streams"), "a pool of no streams: %s", ng_last_error());
    ng_model_config ic = {.kind = NG_MODEL_VAE, .c = 1, .h = 8, .w = 8, .hidden = 8, .latent = 2, .beta = 1};
    ng_model *im = ng_model_new(&ic);
    CHECK(ng_pool_new(im, tok, 2) == NULL && strstr(ng_last_error(), "does not generate text"), "an image model: %s", ng_last_error());
    ng_model_free(im);
    /* ng__infer_feed (src/infer/kvcache.h) */
    ng_infer *inf = ng_infer_new(m, 3);
    const int32_t *tk[2] = {ids, ids};
    int st[2] = {1, 1}, nn[2] = {2, 1};
    CHECK(inf && !ng__infer_feed(inf, 2, st, tk, nn) && strstr(ng_last_error(), "twice"), "a stream listed twice: %s", ng_last_error());
    st[1] = 3;
    CHECK(!ng__infer_feed(inf, 2, st, tk, nn) && strstr(ng_last_error(), "stream 3"), "a stream out of range: %s", ng_last_error());
    st[1] = 2;
    CHECK(ng__infer_feed(inf, 2, st, tk, nn) && ng__infer_pos(inf, 1) == 2 && ng__infer_pos(inf, 2) == 1 && ng__infer_pos(inf, 0) == 0,
          "streams at their own positions: %d %d %d", ng__infer_pos(inf, 0), ng__infer_pos(inf, 1), ng__infer_pos(inf, 2));
    ng_infer_free(inf);
    ng_model_free(m);
    ng_tokenizer_free(tok);
}

int main(void) {
    ng_set_threads(1);
    RUN(test_matches_generator);
    RUN(test_bpe_and_bigram);
    RUN(test_independence);
    RUN(test_slots_and_errors);
    TEST_MAIN_END();
}

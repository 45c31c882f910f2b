/* generate.c - text from a text model: a prompt in, tokens out, one per stream per call, with
 * the KV cache (src/infer/kvcache.c), temperature / top-k / top-p (src/infer/sample.c), each stream its
 * own RNG and streaming decoder. `nanogen sample` is a loop over ng_generator_next. */
#include "core/internal.h"
#include "infer/kvcache.h"

#include <stdlib.h>
#include <string.h>

struct ng_generator {
    ng_model *m;
    const ng_tokenizer *tok;
    ng_gen_settings s;
    int S, V;
    ng_infer *inf;
    const float *logits;      /* the next-token logits of every stream (owned by inf), NULL before a start */
    int pending;              /* the tokens in cur were drawn but not yet fed to the model */
    ng_rng *rng;              /* (S) */
    ng_decoder *dec;          /* (S) */
    int32_t *cur;             /* (S) the tokens just drawn */
    float *probs;             /* (S) their probabilities */
    float *work;              /* (2V) ng_sample_logits' scratch */
};

void ng_gen_defaults(ng_gen_settings *s) {
    memset(s, 0, sizeof *s);
    s->temperature = 1.0f;
    s->top_p = 1.0f;
    s->seed = 1337;
}

ng_generator *ng_generator_new(ng_model *m, const ng_tokenizer *tok, int n_streams, const ng_gen_settings *s) {
    const ng_model_config *c = ng_model_cfg(m);
    if (!ng_model_kind_is_text(c->kind) || !tok) { ng_set_error("a %s does not generate text", ng_model_kind_name(c->kind)); return NULL; }
    if (n_streams < 1 || n_streams > 65536) { ng_set_error("%d streams: 1 to 65536", n_streams); return NULL; }
    /* the KV cache and buffers of the streams must fit in memory: refuse up front */
    double need, avail;
    if (!ng__infer_fits(c, n_streams, &need, &avail)) {
        ng_set_error("%d parallel streams need about %.1f GiB for their caches but %.1f GiB is available: lower --num-samples or drop --batch",
                     n_streams, need / 1073741824.0, avail / 1073741824.0);
        return NULL;
    }
    ng_generator *g = calloc(1, sizeof *g);
    if (!g) { ng_set_error("out of memory"); return NULL; }
    g->m = m; g->tok = tok; g->S = n_streams; g->V = c->vocab_size;
    if (s) g->s = *s;
    else ng_gen_defaults(&g->s);
    g->inf = ng_infer_new(m, n_streams);
    g->rng = calloc((size_t)n_streams, sizeof *g->rng);
    g->dec = calloc((size_t)n_streams, sizeof *g->dec);
    g->cur = calloc((size_t)n_streams, sizeof *g->cur);
    g->probs = calloc((size_t)n_streams, sizeof *g->probs);
    g->work = malloc(sizeof(float) * 2 * (size_t)g->V);
    if (!g->inf || !g->rng || !g->dec || !g->cur || !g->probs || !g->work) {
        if (g->inf) ng_set_error("out of memory");
        ng_generator_free(g);
        return NULL;
    }
    if (g->s.exact_context) ng_infer_set_keep(g->inf, c->block_size - 1);
    return g;
}

void ng_generator_free(ng_generator *g) {
    if (!g) return;
    ng_infer_free(g->inf);
    free(g->rng); free(g->dec); free(g->cur); free(g->probs); free(g->work);
    free(g);
}

int ng_generator_streams(const ng_generator *g) { return g->S; }

int32_t *ng_generator_encode(const ng_generator *g, const char *text, size_t len, size_t *n, size_t *n_unknown) {
    int32_t *ids = NULL;
    *n = 0;
    if (n_unknown) *n_unknown = 0;
    if (text && len) {
        const long long bad = ng_utf8_validate(text, len);
        if (bad >= 0) { ng_set_error("the prompt is not valid UTF-8 (bad byte 0x%02X at byte offset %lld)", (unsigned char)text[bad], bad); return NULL; }
        if (ng_tokenizer_encode(g->tok, text, len, 0, &ids, n, NULL)) { ng_set_error("prompt: %s", ng_last_error()); return NULL; }
        if (n_unknown && ng_tokenizer_kind(g->tok) == NG_TOK_WORD)
            for (size_t i = 0; i < *n; i++) *n_unknown += !strcmp(ng_tokenizer_token(g->tok, ids[i]), "<unk>");
    }
    if (*n == 0) {   /* no prompt: start from a newline, as nanoGPT does, else token 0 */
        free(ids);
        if (!(ids = malloc(sizeof *ids))) { ng_set_error("out of memory"); return NULL; }
        ids[0] = 0;
        for (int i = 0; i < g->V; i++) if (!strcmp(ng_tokenizer_token(g->tok, i), "\n")) { ids[0] = i; break; }
        *n = 1;
    }
    return ids;
}

int ng_generator_start(ng_generator *g, const int32_t *ids, size_t n, int round) {
    if (n == 0) return ng_set_error("a generator starts from at least one token");
    for (size_t p = 0; p < n; p++)
        if (ids[p] < 0 || ids[p] >= g->V) return ng_set_error("token %d of the prompt is not in the vocabulary (%d tokens)", (int)ids[p], g->V);
    for (int s = 0; s < g->S; s++) {
        ng_rng_seed(&g->rng[s], g->s.seed + 0x9E3779B97F4A7C15ull * (uint64_t)(round + s));
        ng_decoder_init(&g->dec[s], g->tok);
    }
    ng_infer_reset(g->inf);
    g->pending = 0;
    for (size_t p = 0; p < n; p++) {
        for (int s = 0; s < g->S; s++) g->cur[s] = ids[p];
        g->logits = ng_infer_step(g->inf, g->cur);
    }
    return NG_OK;
}

const int32_t *ng_generator_next(ng_generator *g, const float **probs) {
    if (!g->logits) { ng_set_error("ng_generator_next before ng_generator_start"); return NULL; }
    /* the tokens drawn last time are fed now, when a next one is wanted: the last token of a
     * sample never costs a step */
    if (g->pending) g->logits = ng_infer_step(g->inf, g->cur);
    for (int s = 0; s < g->S; s++)
        g->cur[s] = ng_sample_logits(g->logits + (size_t)s * g->V, g->V, g->s.temperature, g->s.top_k, g->s.top_p, &g->rng[s], g->work,
                                     &g->probs[s]);
    g->pending = 1;
    if (probs) *probs = g->probs;
    return g->cur;
}

size_t ng_generator_text(ng_generator *g, int s, int32_t id, char *buf, size_t cap) {
    return s >= 0 && s < g->S ? ng_decoder_push(&g->dec[s], id, buf, cap) : 0;
}

size_t ng_generator_text_end(ng_generator *g, int s, char *buf, size_t cap) {
    return s >= 0 && s < g->S ? ng_decoder_flush(&g->dec[s], buf, cap) : 0;
}

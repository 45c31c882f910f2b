/* pool.c - a pool of streams for a server's scheduler (`nanogen serve`): streams join and leave
 * between tokens, each with its own prompt, settings, seed and length, and every ng_pool_step
 * runs one batched pass over the active ones (ng__infer_feed, src/infer/kvcache.c: a new
 * stream's prompt rows beside one row of each decoding stream). The KV cache's ALL pass computes
 * each row on its own (the packed GEMM's rows do not depend on each other; attention per stream
 * at its own position), so a stream draws the tokens of stream 0 of an ng_generator of two or
 * more streams with its seed, whatever else runs in the pool. */
#include "infer/kvcache.h"
#include "ops/kernels/fastmath.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { FREE, NEW, RUN };   /* a slot: unused; its prompt not fed yet; decoding */

typedef struct {
    int state;
    ng_pool_request r;
    ng_rng rng;
    ng_decoder dec;
    int32_t *prompt;          /* NEW: the prompt (malloc'd), np tokens */
    size_t np;
    int32_t last;             /* RUN: the token drawn last, fed at the next step */
    int drawn;                /* tokens drawn so far */
} pool_slot;

struct ng_pool {
    ng_model *m;
    const ng_tokenizer *tok;
    int cap, V, active;
    ng_infer *inf;            /* max(cap, 2) streams: stream i is slot i */
    pool_slot *sl;            /* (cap) */
    ng_pool_event *ev;        /* (cap) the last step's events */
    char *text;               /* (cap * tcap) the events' texts */
    size_t tcap;              /* room for one event's text: the longest token's decoding, the decoder's end */
    float *work;              /* (2V) ng_sample_logits' scratch */
    int *streams, *n;         /* (cap) a step's feed: the slots, their token counts, their tokens */
    const int32_t **toks;
};

ng_pool *ng_pool_new(ng_model *m, const ng_tokenizer *tok, int max_streams) {
    const ng_model_config *c = ng_model_cfg(m);
    if (!ng_model_kind_is_text(c->kind) || !tok) { ng_set_error("a %s does not generate text", ng_model_kind_name(c->kind)); return NULL; }
    if (max_streams < 1 || max_streams > 65536) { ng_set_error("a pool of %d streams: 1 to 65536", max_streams); return NULL; }
    if (ng_tokenizer_vocab_size(tok) != c->vocab_size) {
        ng_set_error("the tokenizer has %d tokens, the model %d", ng_tokenizer_vocab_size(tok), c->vocab_size);
        return NULL;
    }
    const int S = max_streams < 2 ? 2 : max_streams;   /* the batched arithmetic even for one stream */
    /* the KV caches and buffers of the streams must fit in memory: refused up front */
    double need, avail;
    if (!ng__infer_fits(c, S, &need, &avail)) {
        ng_set_error("a pool of %d streams needs about %.1f GiB for their caches but %.1f GiB is available: fewer streams",
                     max_streams, need / 1073741824.0, avail / 1073741824.0);
        return NULL;
    }
    ng_pool *p = calloc(1, sizeof *p);
    if (!p) { ng_set_error("out of memory"); return NULL; }
    p->m = m; p->tok = tok; p->cap = max_streams; p->V = c->vocab_size;
    size_t longest = 0;
    for (int i = 0; i < p->V; i++) {
        size_t len = 0;
        if (ng_tokenizer_token_bytes(tok, i, &len) && len > longest) longest = len;
    }
    /* a token's text: a space, up to 3 bytes held from the previous token, its bytes (each
     * possibly a 3-byte U+FFFD), the decoder's end (3), the NUL */
    p->tcap = 3 * longest + 16;
    p->inf = ng_infer_new(m, S);
    p->sl = calloc((size_t)p->cap, sizeof *p->sl);
    p->ev = calloc((size_t)p->cap, sizeof *p->ev);
    p->text = malloc((size_t)p->cap * p->tcap);
    p->work = malloc(sizeof(float) * 2 * (size_t)p->V);
    p->streams = malloc(sizeof(int) * (size_t)p->cap);
    p->n = malloc(sizeof(int) * (size_t)p->cap);
    p->toks = malloc(sizeof *p->toks * (size_t)p->cap);
    if (!p->inf || !p->sl || !p->ev || !p->text || !p->work || !p->streams || !p->n || !p->toks) {
        if (p->inf) ng_set_error("out of memory");
        ng_pool_free(p);
        return NULL;
    }
    return p;
}

void ng_pool_free(ng_pool *p) {
    if (!p) return;
    for (int i = 0; p->sl && i < p->cap; i++) free(p->sl[i].prompt);
    ng_infer_free(p->inf);
    free(p->sl); free(p->ev); free(p->text); free(p->work); free(p->streams); free(p->n); free(p->toks);
    free(p);
}

int ng_pool_capacity(const ng_pool *p) { return p ? p->cap : 0; }
int ng_pool_active(const ng_pool *p) { return p ? p->active : 0; }

int ng_pool_add(ng_pool *p, const int32_t *ids, size_t n, const ng_pool_request *r) {
    if (!r) return ng_set_error("no request (ng_pool_request NULL)"), -1;
    const ng_gen_settings *g = &r->gen;
    if (!isfinite(g->temperature) || g->temperature < 0) return ng_set_error("temperature %g: a finite number >= 0", g->temperature), -1;
    if (g->top_k < 0) return ng_set_error("top_k %d: >= 0 (0: every token)", g->top_k), -1;
    if (!(g->top_p >= 0 && g->top_p <= 1)) return ng_set_error("top_p %g: between 0 and 1", g->top_p), -1;
    if (r->max_tokens < 1) return ng_set_error("max_tokens %d: at least 1", r->max_tokens), -1;
    if (r->top_logprobs < 0 || r->top_logprobs > NG_POOL_MAX_TOP)
        return ng_set_error("top_logprobs %d: 0 to %d", r->top_logprobs, NG_POOL_MAX_TOP), -1;
    if (n < 1 || !ids) return ng_set_error("the prompt is empty: a stream starts from at least one token"), -1;
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= p->V)
            return ng_set_error("prompt token %d (at %zu) is not in the vocabulary (%d tokens)", (int)ids[i], i, p->V), -1;
    int k = 0;
    while (k < p->cap && p->sl[k].state != FREE) k++;
    if (k == p->cap) return ng_set_error("the pool is full (%d streams)", p->cap), -1;
    pool_slot *s = &p->sl[k];
    memset(s, 0, sizeof *s);
    if (!(s->prompt = malloc(n * sizeof *ids))) return ng_set_error("out of memory"), -1;
    memcpy(s->prompt, ids, n * sizeof *ids);
    s->np = n;
    s->r = *r;
    ng_rng_seed(&s->rng, g->seed);   /* stream 0 of round 0 of a generator: seed + 0 */
    ng_decoder_init(&s->dec, p->tok);
    /* past the block size the cache keeps the last T/2 tokens, or T-1 (the generator's exact context) */
    ng__infer_start(p->inf, k, g->exact_context ? ng_model_cfg(p->m)->block_size - 1 : ng_model_cfg(p->m)->block_size / 2);
    s->state = NEW;
    p->active++;
    return k;
}

void ng_pool_remove(ng_pool *p, int slot) {
    if (!p || slot < 0 || slot >= p->cap || p->sl[slot].state == FREE) return;
    free(p->sl[slot].prompt);
    p->sl[slot].prompt = NULL;
    p->sl[slot].state = FREE;
    p->active--;
}

/* the natural log-probability of token `id` and the k best tokens (ties: the lower id first)
 * with theirs, under softmax(logits) (temperature 1); one SIMD pass of exponentials (a GPT-2
 * vocabulary costs little beside the step) */
static float log_probs(const float *logits, int V, int id, int k, int32_t *top_ids, float *top_lp) {
    float mx = logits[0], sum = 0;
    #pragma omp simd reduction(max : mx)
    for (int i = 0; i < V; i++) mx = logits[i] > mx ? logits[i] : mx;
    #pragma omp simd reduction(+ : sum)
    for (int i = 0; i < V; i++) sum += ng_expf(logits[i] - mx);
    const double lse = (double)mx + log((double)sum);
    int n = 0;   /* insertion into the k best so far, by logit descending */
    for (int i = 0; i < V && k > 0; i++) {
        if (n == k && !(logits[i] > logits[top_ids[k - 1]])) continue;
        int j = n < k ? n++ : k - 1;
        while (j > 0 && logits[i] > logits[top_ids[j - 1]]) { top_ids[j] = top_ids[j - 1]; j--; }
        top_ids[j] = i;
    }
    for (int j = 0; j < n; j++) top_lp[j] = (float)(logits[top_ids[j]] - lse);
    return (float)(logits[id] - lse);
}

int ng_pool_step(ng_pool *p, const ng_pool_event **ev, int *n_ev) {
    *ev = p->ev;
    *n_ev = 0;
    if (p->active == 0) return NG_OK;
    /* one pass: a new stream's prompt, the token each other stream drew last */
    int ns = 0;
    for (int k = 0; k < p->cap; k++) {
        pool_slot *s = &p->sl[k];
        if (s->state == FREE) continue;
        p->streams[ns] = k;
        p->toks[ns] = s->state == NEW ? s->prompt : &s->last;
        p->n[ns] = s->state == NEW ? (int)s->np : 1;
        ns++;
    }
    const float *logits = ng__infer_feed(p->inf, ns, p->streams, p->toks, p->n);
    if (!logits) return NG_ERR;
    size_t used = 0;
    for (int e = 0; e < ns; e++) {
        const int k = p->streams[e];
        pool_slot *s = &p->sl[k];
        ng_pool_event *v = &p->ev[e];
        char *buf = p->text + used;
        size_t len = 0;
        if (s->state == NEW) {   /* the prompt's text, not reported: the decoder sees what comes before */
            for (size_t i = 0; i < s->np; i++) ng_decoder_push(&s->dec, s->prompt[i], buf, p->tcap);
            free(s->prompt);
            s->prompt = NULL;
            s->state = RUN;
        }
        const float *lg = logits + (size_t)e * p->V;
        const ng_gen_settings *g = &s->r.gen;
        const int id = ng_sample_logits(lg, p->V, g->temperature, g->top_k, g->top_p, &s->rng, p->work, NULL);
        memset(v, 0, sizeof *v);
        v->slot = k;
        v->token = id;
        v->n_top = s->r.top_logprobs < p->V ? s->r.top_logprobs : p->V;
        v->logprob = log_probs(lg, p->V, id, v->n_top, v->top_ids, v->top_logprobs);
        len = ng_decoder_push(&s->dec, id, buf, p->tcap);
        s->last = id;
        if (++s->drawn >= s->r.max_tokens) {
            len += ng_decoder_flush(&s->dec, buf + len, p->tcap - len);
            v->done = 1;
            s->state = FREE;
            p->active--;
        }
        v->text = buf;
        v->text_len = len;
        used += len + 1;
    }
    *n_ev = ns;
    return NG_OK;
}

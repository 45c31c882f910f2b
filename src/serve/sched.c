/* sched.c - one scheduler per text model: it owns the model's ng_pool (capacity --max-streams),
 * a queue of completions (--queue), and turns the pool's events into what each request reads.
 *
 * A completion of n choices takes n pool streams (choice i: seed S+i), admitted together when n
 * slots are free, first come first served. Between steps the scheduler removes the streams of
 * requests whose client went away or whose time (--timeout) ran out, admits queued requests,
 * then runs one ng_pool_step for every active stream (under the compute lock) and hands each
 * event to its request: the token's text is appended to its choice; a stop sequence ends the
 * choice at once (its text cut before the stop, finish_reason "stop", the stream removed from
 * the pool); text that could still be the start of a stop sequence is held back from the
 * stream until it cannot. A streamed request's SSE bytes are formatted here, under the
 * scheduler's mutex, into the request's buffer; its connection thread reads them
 * (srv_stream_read, a condvar per request). One mutex per scheduler guards its queue and its
 * requests. */
#include "serve/serve.h"
#include "core/internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    size_t off, len;          /* the token's text in its choice's text */
    float lp;
    int n_top;
    int32_t top_ids[NG_POOL_MAX_TOP];
    float top_lps[NG_POOL_MAX_TOP];
} srv_tok;

typedef struct {
    int slot;                 /* pool slot while active, else -1 */
    int state;                /* 0 waiting, 1 active, 2 done */
    char *text;
    size_t len, cap, end;     /* end: the final text length (done) */
    srv_tok *tok;
    int n_tok, cap_tok, emitted, drawn;
    const char *finish;
} srv_choice;

struct srv_job {
    srv_sched *s;
    srv_job_settings st;
    int refs;
    pthread_cond_t cv;
    srv_choice ch[SRV_MAX_N];
    int n_done, cancelled, finished, in_queue, first_seen;
    int err_code;
    const char *err_errcode;
    char err_msg[256];
    double t0, deadline;
    char *out;                /* SSE bytes not yet read */
    size_t out_len, out_cap, out_pos;
    int out_end;
    srv_job *next;
};

typedef struct { srv_job *j; int c; } srv_slot;

struct srv_sched {
    srv_ctx *ctx;
    srv_model *m;
    ng_pool *pool;
    int cap, used, qlen, queued_n, threaded, quit, stopping;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t th;
    srv_job *qhead, *qtail;
    srv_slot *slot;
};

double srv_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ------------------------------------------------------------------ JSON pieces */
/* x with 7 significant digits, so that JSON shows -0.3791234 rather than -0.37912338972091675 */
static double num7(double x) {
    char b[32];
    if (!isfinite(x)) return x > 0 ? 1e30 : -1e30;   /* JSON has no infinity: -inf logprob (p = 0) */
    snprintf(b, sizeof b, "%.7g", x);
    return strtod(b, NULL);
}

/* A token's text as a JSON key: its bytes, a byte that is not part of valid UTF-8 as U+FFFD. */
static void token_string(const ng_tokenizer *tok, int32_t id, char *buf, size_t cap) {
    size_t n = 0, o = 0;
    const char *b = ng_tokenizer_token_bytes(tok, id, &n);
    if (!b) { snprintf(buf, cap, "<%d>", (int)id); return; }
    for (size_t i = 0; i < n && o + 4 < cap;) {
        const unsigned char c = (unsigned char)b[i];
        size_t l = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (l && i + l <= n && ng_utf8_validate(b + i, l) < 0) { memcpy(buf + o, b + i, l); o += l; i += l; }
        else { memcpy(buf + o, "\xEF\xBF\xBD", 3); o += 3; i++; }
    }
    buf[o] = 0;
}

/* A NUL-terminated copy of text[off, off+len) as a cJSON string */
static cJSON *str_n(const char *text, size_t len) {
    char stack[256], *s = len < sizeof stack ? stack : malloc(len + 1);
    if (!s) return cJSON_CreateString("");
    memcpy(s, text, len);
    s[len] = 0;
    cJSON *r = cJSON_CreateString(s);
    if (s != stack) free(s);
    return r;
}

/* The logprobs object of tokens [a, b) of a choice whose text ends at end. */
static cJSON *logprobs_json(const srv_job *j, const srv_choice *ch, int a, int b, size_t end) {
    cJSON *o = cJSON_CreateObject(), *toks = cJSON_AddArrayToObject(o, "tokens"), *lps = cJSON_AddArrayToObject(o, "token_logprobs");
    cJSON *tops = cJSON_AddArrayToObject(o, "top_logprobs"), *offs = cJSON_AddArrayToObject(o, "text_offset");
    char key[256];
    for (int k = a; k < b; k++) {
        const srv_tok *t = &ch->tok[k];
        size_t len = t->off + t->len > end ? (t->off < end ? end - t->off : 0) : t->len;
        cJSON_AddItemToArray(toks, str_n(ch->text + t->off, len));
        cJSON_AddItemToArray(lps, cJSON_CreateNumber(num7(t->lp)));
        cJSON *top = cJSON_CreateObject();
        for (int i = 0; i < t->n_top; i++) {
            token_string(j->s->m->tok, t->top_ids[i], key, sizeof key);
            if (!cJSON_GetObjectItemCaseSensitive(top, key)) cJSON_AddNumberToObject(top, key, num7(t->top_lps[i]));
        }
        cJSON_AddItemToArray(tops, top);
        cJSON_AddItemToArray(offs, cJSON_CreateNumber((double)t->off));
    }
    return o;
}

static void job_out(srv_job *j, const char *s, size_t n) {
    if (j->out_len + n > j->out_cap) {
        size_t cap = j->out_cap ? j->out_cap : 1024;
        while (cap < j->out_len + n) cap *= 2;
        char *o = realloc(j->out, cap);
        if (!o) return;   /* out of memory: the chunk is lost, the stream goes on */
        j->out = o;
        j->out_cap = cap;
    }
    memcpy(j->out + j->out_len, s, n);
    j->out_len += n;
}

static void job_out_json(srv_job *j, cJSON *o) {
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) return;
    job_out(j, "data: ", 6);
    job_out(j, s, strlen(s));
    job_out(j, "\n\n", 2);
    free(s);
}

static cJSON *chunk_head(const srv_job *j) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", j->st.id);
    cJSON_AddStringToObject(o, "object", "text_completion");
    cJSON_AddNumberToObject(o, "created", (double)j->st.created);
    cJSON_AddStringToObject(o, "model", j->s->m->name);
    return o;
}

static cJSON *usage_json(const srv_job *j) {
    int k = 0;
    for (int c = 0; c < j->st.n; c++) k += j->ch[c].drawn;
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", (double)j->st.n_ids);
    cJSON_AddNumberToObject(u, "completion_tokens", k);
    cJSON_AddNumberToObject(u, "total_tokens", (double)j->st.n_ids + k);
    return u;
}

/* SSE: one chunk per token of choice c in [emitted, upto) (text cut at end) */
static void stream_tokens(srv_job *j, int c, int upto, size_t end) {
    srv_choice *ch = &j->ch[c];
    for (; ch->emitted < upto; ch->emitted++) {
        const srv_tok *t = &ch->tok[ch->emitted];
        if (t->off >= end && t->len) break;
        size_t len = t->off + t->len > end ? end - t->off : t->len;
        cJSON *o = chunk_head(j), *arr = cJSON_AddArrayToObject(o, "choices"), *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "index", c);
        cJSON_AddItemToObject(e, "text", str_n(ch->text + t->off, len));
        if (j->st.logprobs >= 0) cJSON_AddItemToObject(e, "logprobs", logprobs_json(j, ch, ch->emitted, ch->emitted + 1, end));
        else cJSON_AddNullToObject(e, "logprobs");
        cJSON_AddNullToObject(e, "finish_reason");
        cJSON_AddItemToArray(arr, e);
        job_out_json(j, o);
    }
}

static void add_nanogen(cJSON *o, const srv_job *j) {
    cJSON *ng = cJSON_AddObjectToObject(o, "nanogen");
    char seed[32];   /* an integer as written (cJSON would print 2^52 as 4.5e+15) */
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)j->st.seed);
    cJSON_AddRawToObject(ng, "seed", seed);
    cJSON_AddNumberToObject(ng, "prompt_cropped", (double)j->st.cropped);
}

static void stream_end(srv_job *j) {
    if (j->err_code) {
        cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");
        cJSON_AddStringToObject(e, "message", j->err_msg);
        cJSON_AddStringToObject(e, "type", j->err_code == 429 ? "rate_limit_error" : j->err_code >= 500 ? "server_error" : "invalid_request_error");
        cJSON_AddStringToObject(e, "code", j->err_errcode ? j->err_errcode : "error");
        job_out_json(j, o);
    } else {
        cJSON *o = chunk_head(j);
        cJSON_AddArrayToObject(o, "choices");
        cJSON_AddItemToObject(o, "usage", usage_json(j));
        add_nanogen(o, j);
        job_out_json(j, o);
    }
    job_out(j, "data: [DONE]\n\n", 14);
    j->out_end = 1;
}

/* ------------------------------------------------------------------ jobs */
static void job_free(srv_job *j) {
    for (int c = 0; c < SRV_MAX_N; c++) { free(j->ch[c].text); free(j->ch[c].tok); }
    free(j->st.ids);
    free(j->out);
    pthread_cond_destroy(&j->cv);
    free(j);
}

/* drop one reference (s->mu held) */
static void job_unref(srv_job *j) {
    if (--j->refs == 0) job_free(j);
}

/* The job is over (every choice done, or an error): wake its reader, drop the scheduler's ref. */
static void job_finished(srv_sched *s, srv_job *j) {
    if (j->finished) return;
    j->finished = 1;
    if (j->st.stream) stream_end(j);
    (void)s;
    pthread_cond_broadcast(&j->cv);
    job_unref(j);
}

/* Choice c ends with its text cut at end. */
static void choice_done(srv_sched *s, srv_job *j, int c, const char *reason, size_t end) {
    srv_choice *ch = &j->ch[c];
    if (ch->state == 2) return;
    if (ch->slot >= 0) { s->slot[ch->slot].j = NULL; s->used--; }
    ch->slot = -1;
    ch->state = 2;
    ch->end = end;
    ch->finish = reason;
    if (j->st.stream && !j->err_code && reason) {
        stream_tokens(j, c, ch->n_tok, end);
        cJSON *o = chunk_head(j), *arr = cJSON_AddArrayToObject(o, "choices"), *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "index", c);
        cJSON_AddStringToObject(e, "text", "");
        cJSON_AddNullToObject(e, "logprobs");
        cJSON_AddStringToObject(e, "finish_reason", reason);
        cJSON_AddItemToArray(arr, e);
        job_out_json(j, o);
        pthread_cond_broadcast(&j->cv);
    }
    if (++j->n_done == j->st.n) job_finished(s, j);
}

/* End every choice of j now, removing its streams from the pool (scheduler thread). */
static void job_abort(srv_sched *s, srv_job *j, const char *reason) {
    j->refs++;   /* the last choice_done may drop the scheduler's reference */
    for (int c = 0; c < j->st.n; c++) {
        srv_choice *ch = &j->ch[c];
        if (ch->state == 2) continue;
        if (ch->slot >= 0) ng_pool_remove(s->pool, ch->slot);
        choice_done(s, j, c, reason, ch->len);
    }
    job_unref(j);
}

static void job_error(srv_sched *s, srv_job *j, int code, const char *errcode, const char *msg) {
    if (!j->err_code) {
        j->err_code = code;
        j->err_errcode = errcode;
        snprintf(j->err_msg, sizeof j->err_msg, "%s", msg);
    }
    job_abort(s, j, NULL);
}

static void queue_remove(srv_sched *s, srv_job *j) {
    srv_job **p = &s->qhead, *prev = NULL;
    while (*p && *p != j) { prev = *p; p = &(*p)->next; }
    if (!*p) return;
    *p = j->next;
    if (s->qtail == j) s->qtail = prev;
    j->next = NULL;
    j->in_queue = 0;
    s->qlen--;
    s->queued_n -= j->st.n;
}

/* the longest suffix of text that is a proper prefix of a stop sequence */
static size_t holdback(const srv_job *j, const char *text, size_t len) {
    size_t h = 0;
    for (int i = 0; i < j->st.n_stop; i++) {
        const size_t L = strlen(j->st.stop[i]);
        for (size_t k = L - 1 < len ? L - 1 : len; k > h; k--)
            if (!memcmp(text + len - k, j->st.stop[i], k)) { h = k; break; }
    }
    return h;
}

/* One pool event for choice c of j. */
static void on_event(srv_sched *s, srv_job *j, int c, const ng_pool_event *ev) {
    srv_choice *ch = &j->ch[c];
    if (j->cancelled || ch->state != 1) return;
    if (ch->len + ev->text_len + 1 > ch->cap) {
        size_t cap = ch->cap ? ch->cap : 256;
        while (cap < ch->len + ev->text_len + 1) cap *= 2;
        char *t = realloc(ch->text, cap);
        if (!t) { job_error(s, j, 500, "out_of_memory", "out of memory"); return; }
        ch->text = t;
        ch->cap = cap;
    }
    if (ch->n_tok == ch->cap_tok) {
        int cap = ch->cap_tok ? 2 * ch->cap_tok : 16;
        srv_tok *t = realloc(ch->tok, (size_t)cap * sizeof *t);
        if (!t) { job_error(s, j, 500, "out_of_memory", "out of memory"); return; }
        ch->tok = t;
        ch->cap_tok = cap;
    }
    const size_t old = ch->len;
    memcpy(ch->text + ch->len, ev->text, ev->text_len);
    ch->len += ev->text_len;
    ch->text[ch->len] = 0;
    srv_tok *t = &ch->tok[ch->n_tok++];
    t->off = old;
    t->len = ev->text_len;
    t->lp = ev->logprob;
    t->n_top = ev->n_top < 0 ? 0 : ev->n_top > NG_POOL_MAX_TOP ? NG_POOL_MAX_TOP : ev->n_top;
    memcpy(t->top_ids, ev->top_ids, sizeof t->top_ids);
    memcpy(t->top_lps, ev->top_logprobs, sizeof t->top_lps);
    ch->drawn++;
    srv_metrics_tokens(&s->ctx->metrics, 1);
    if (!j->first_seen) { j->first_seen = 1; srv_metrics_first_token(&s->ctx->metrics, srv_now() - j->t0); }
    /* a stop sequence: the earliest match in the text that could hold a new one */
    size_t stop_at = (size_t)-1;
    for (int i = 0; i < j->st.n_stop; i++) {
        const size_t L = strlen(j->st.stop[i]), from = old + 1 > L ? old + 1 - L : 0;
        const char *p = memmem(ch->text + from, ch->len - from, j->st.stop[i], L);
        if (p && (size_t)(p - ch->text) < stop_at) stop_at = (size_t)(p - ch->text);
    }
    if (stop_at != (size_t)-1) {
        if (!ev->done) ng_pool_remove(s->pool, ch->slot);
        choice_done(s, j, c, "stop", stop_at);
    } else if (ev->done || ch->drawn >= j->st.max_tokens) {
        if (!ev->done) ng_pool_remove(s->pool, ch->slot);
        choice_done(s, j, c, "length", ch->len);
    } else if (j->st.stream) {
        const size_t safe = ch->len - holdback(j, ch->text, ch->len);
        int upto = ch->emitted;
        while (upto < ch->n_tok && ch->tok[upto].off + ch->tok[upto].len <= safe) upto++;
        if (upto > ch->emitted) { stream_tokens(j, c, upto, safe); pthread_cond_broadcast(&j->cv); }
    }
}

/* ------------------------------------------------------------------ the loop */
/* One round (s->mu held): cancellations and deadlines, admissions, then one pool step (the
 * mutex released around it). wait: sleep on the condvar when there is nothing to do. */
static void sched_iter(srv_sched *s, int wait) {
    const double now = srv_now();
    for (int k = 0; k < s->cap; k++) {   /* clients gone, time run out */
        srv_job *j = s->slot[k].j;
        if (!j) continue;
        if (j->cancelled) job_abort(s, j, NULL);
        else if (now > j->deadline) {
            char msg[128];
            snprintf(msg, sizeof msg, "the request ran out of time (--timeout %d s)", s->ctx->cfg.timeout);
            job_error(s, j, 503, "timeout", msg);
        } else if (s->stopping) job_abort(s, j, "length");
    }
    for (srv_job *j = s->qhead, *nx; j; j = nx) {
        nx = j->next;
        if (now > j->deadline || s->stopping) {
            queue_remove(s, j);
            if (s->stopping) job_abort(s, j, "length");
            else {
                char msg[128];
                snprintf(msg, sizeof msg, "the request waited in the queue past its time (--timeout %d s)", s->ctx->cfg.timeout);
                job_error(s, j, 503, "timeout", msg);
            }
        }
    }
    while (s->qhead && s->cap - s->used >= s->qhead->st.n) {
        srv_job *j = s->qhead;
        queue_remove(s, j);
        for (int c = 0; c < j->st.n; c++) {
            ng_pool_request r;
            memset(&r, 0, sizeof r);
            ng_gen_defaults(&r.gen);
            r.gen.temperature = j->st.temperature;
            r.gen.top_k = j->st.top_k;
            r.gen.top_p = j->st.top_p;
            r.gen.seed = j->st.seed + (uint64_t)c;
            r.max_tokens = j->st.max_tokens;
            r.top_logprobs = j->st.logprobs > 0 ? j->st.logprobs : 0;
            const int slot = ng_pool_add(s->pool, j->st.ids, j->st.n_ids, &r);
            if (slot < 0 || slot >= s->cap || s->slot[slot].j) {
                char msg[256];
                snprintf(msg, sizeof msg, "%s", slot < 0 ? ng_last_error() : "the pool gave a slot already in use");
                if (slot >= 0 && slot < s->cap && !s->slot[slot].j) ng_pool_remove(s->pool, slot);
                job_error(s, j, 500, "pool_error", msg);
                break;
            }
            s->slot[slot].j = j;
            s->slot[slot].c = c;
            j->ch[c].slot = slot;
            j->ch[c].state = 1;
            s->used++;
        }
    }
    if (s->used == 0) {
        if (wait && !s->quit) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 200 * 1000000L;
            if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
            pthread_cond_timedwait(&s->cv, &s->mu, &ts);
        }
        return;
    }
    pthread_mutex_unlock(&s->mu);
    const ng_pool_event *ev = NULL;
    int n_ev = 0;
    srv_compute_lock(s->ctx);
    const int rc = ng_pool_step(s->pool, &ev, &n_ev);
    char err[256] = "";
    if (rc) snprintf(err, sizeof err, "%s", ng_last_error());
    srv_compute_unlock(s->ctx);
    pthread_mutex_lock(&s->mu);
    if (rc) {
        for (int k = 0; k < s->cap; k++)
            if (s->slot[k].j) job_error(s, s->slot[k].j, 500, "generation_failed", err);
        return;
    }
    for (int e = 0; e < n_ev; e++) {
        const int k = ev[e].slot;
        if (k < 0 || k >= s->cap || !s->slot[k].j) continue;
        srv_job *j = s->slot[k].j;
        const int c = s->slot[k].c;
        if (j->cancelled && ev[e].done) {   /* the pool freed the slot itself */
            j->ch[c].slot = -1;
            s->slot[k].j = NULL;
            s->used--;
            choice_done(s, j, c, NULL, j->ch[c].len);
            continue;
        }
        on_event(s, j, c, &ev[e]);
    }
}

static void *sched_main(void *arg) {
    srv_sched *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->quit) sched_iter(s, 1);
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

srv_sched *srv_sched_new(srv_ctx *ctx, srv_model *m, int threaded) {
    srv_sched *s = calloc(1, sizeof *s);
    if (!s) { ng_set_error("out of memory"); return NULL; }
    s->ctx = ctx;
    s->m = m;
    s->cap = ctx->cfg.max_streams;
    s->threaded = threaded;
    if (!(s->pool = ng_pool_new(m->m, m->tok, s->cap))) { free(s); return NULL; }
    if (!(s->slot = calloc((size_t)s->cap, sizeof *s->slot))) { ng_pool_free(s->pool); free(s); ng_set_error("out of memory"); return NULL; }
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    if (threaded && pthread_create(&s->th, NULL, sched_main, s)) {
        ng_set_error("cannot start the scheduler thread of model %s: %s", m->name, strerror(errno));
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv);
        ng_pool_free(s->pool);
        free(s->slot);
        free(s);
        return NULL;
    }
    return s;
}

void srv_sched_stop(srv_sched *s) {
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    if (!s->threaded) sched_iter(s, 0);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void srv_sched_free(srv_sched *s) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    s->quit = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (s->threaded) pthread_join(s->th, NULL);
    pthread_mutex_lock(&s->mu);
    for (srv_job *j = s->qhead, *nx; j; j = nx) { nx = j->next; queue_remove(s, j); job_abort(s, j, "length"); }
    for (int k = 0; k < s->cap; k++)
        if (s->slot[k].j) job_abort(s, s->slot[k].j, "length");
    pthread_mutex_unlock(&s->mu);
    ng_pool_free(s->pool);
    free(s->slot);
    /* jobs still held by connections keep pointing here: the daemon is stopped before this */
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

int srv_sched_queue_length(srv_sched *s) {
    pthread_mutex_lock(&s->mu);
    int n = s->qlen;
    pthread_mutex_unlock(&s->mu);
    return n;
}

int srv_sched_active(srv_sched *s) {
    pthread_mutex_lock(&s->mu);
    int n = s->used;
    pthread_mutex_unlock(&s->mu);
    return n;
}

srv_job *srv_job_submit(srv_sched *s, srv_job_settings *st, int *code, char *msg, size_t cap, const char **errcode) {
    if (st->n > s->cap) {
        *code = 400; *errcode = "too_many_choices";
        snprintf(msg, cap, "n is %d but the server runs at most %d streams at once (--max-streams)", st->n, s->cap);
        return NULL;
    }
    srv_job *j = calloc(1, sizeof *j);
    if (!j) { *code = 500; *errcode = "out_of_memory"; snprintf(msg, cap, "out of memory"); return NULL; }
    pthread_mutex_lock(&s->mu);
    const int room = s->cap - s->used - s->queued_n >= st->n && !s->qhead;
    if (s->stopping || s->ctx->stopping) {
        pthread_mutex_unlock(&s->mu);
        free(j);
        *code = 503; *errcode = "shutting_down"; snprintf(msg, cap, "the server is shutting down");
        return NULL;
    }
    if (!room && s->qlen >= s->ctx->cfg.queue) {
        pthread_mutex_unlock(&s->mu);
        free(j);
        *code = 429; *errcode = "queue_full";
        snprintf(msg, cap, "the queue of model %s is full (%d request%s waiting, --queue %d): try again later", s->m->name,
                 s->qlen, s->qlen == 1 ? "" : "s", s->ctx->cfg.queue);
        return NULL;
    }
    j->s = s;
    j->st = *st;
    st->ids = NULL;   /* taken over */
    j->refs = 2;
    pthread_cond_init(&j->cv, NULL);
    for (int c = 0; c < SRV_MAX_N; c++) j->ch[c].slot = -1;
    j->t0 = srv_now();
    j->deadline = j->t0 + s->ctx->cfg.timeout;
    j->in_queue = 1;
    if (s->qtail) s->qtail->next = j; else s->qhead = j;
    s->qtail = j;
    s->qlen++;
    s->queued_n += st->n;
    if (s->threaded) pthread_cond_signal(&s->cv);
    else while (!j->finished) sched_iter(s, 0);
    pthread_mutex_unlock(&s->mu);
    return j;
}

char *srv_job_result(srv_job *j, int (*gone)(void *), void *gone_cls, int *code, const char **errcode, char *msg, size_t cap) {
    srv_sched *s = j->s;
    pthread_mutex_lock(&s->mu);
    while (!j->finished) {
        if (!gone) { pthread_cond_wait(&j->cv, &s->mu); continue; }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 250000000L;
        if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
        if (pthread_cond_timedwait(&j->cv, &s->mu, &ts) == ETIMEDOUT && !j->finished && gone(gone_cls)) {
            pthread_mutex_unlock(&s->mu);
            *code = 499; *errcode = "client_closed_request";
            snprintf(msg, cap, "the client closed the connection before the completion was done");
            return NULL;
        }
    }
    char *out = NULL;
    if (j->err_code) {
        *code = j->err_code;
        *errcode = j->err_errcode ? j->err_errcode : "error";
        snprintf(msg, cap, "%s", j->err_msg);
    } else {
        cJSON *o = chunk_head(j), *arr = cJSON_AddArrayToObject(o, "choices");
        for (int c = 0; c < j->st.n; c++) {
            const srv_choice *ch = &j->ch[c];
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "index", c);
            cJSON_AddItemToObject(e, "text", str_n(ch->text ? ch->text : "", ch->end));
            if (j->st.logprobs >= 0) {
                int b = 0;
                while (b < ch->n_tok && (ch->tok[b].off < ch->end || (ch->tok[b].off == ch->end && !ch->tok[b].len))) b++;
                cJSON_AddItemToObject(e, "logprobs", logprobs_json(j, ch, 0, b, ch->end));
            } else cJSON_AddNullToObject(e, "logprobs");
            cJSON_AddStringToObject(e, "finish_reason", ch->finish ? ch->finish : "length");
            cJSON_AddItemToArray(arr, e);
        }
        cJSON_AddItemToObject(o, "usage", usage_json(j));
        add_nanogen(o, j);
        out = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        if (!out) { *code = 500; *errcode = "out_of_memory"; snprintf(msg, cap, "out of memory"); }
        else *code = 200;
    }
    pthread_mutex_unlock(&s->mu);
    return out;
}

long srv_stream_read(srv_job *j, char *buf, size_t cap, int wait_ms) {
    srv_sched *s = j->s;
    pthread_mutex_lock(&s->mu);
    if (j->out_pos == j->out_len && !j->out_end && wait_ms > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += wait_ms / 1000;
        ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
        if (ts.tv_nsec >= 1000000000L) { ts.tv_sec++; ts.tv_nsec -= 1000000000L; }
        while (j->out_pos == j->out_len && !j->out_end)
            if (pthread_cond_timedwait(&j->cv, &s->mu, &ts) == ETIMEDOUT) break;
    }
    long n;
    if (j->out_pos < j->out_len) {
        size_t k = j->out_len - j->out_pos < cap ? j->out_len - j->out_pos : cap;
        memcpy(buf, j->out + j->out_pos, k);
        j->out_pos += k;
        if (j->out_pos == j->out_len) j->out_pos = j->out_len = 0;
        n = (long)k;
    } else n = j->out_end ? 0 : -1;
    pthread_mutex_unlock(&s->mu);
    return n;
}

void srv_job_release(srv_job *j) {
    if (!j) return;
    srv_sched *s = j->s;
    pthread_mutex_lock(&s->mu);
    if (!j->finished) {
        j->cancelled = 1;
        if (j->in_queue) {   /* never started: gone now */
            queue_remove(s, j);
            j->finished = 1;
            job_unref(j);
        }
        pthread_cond_signal(&s->cv);
    }
    job_unref(j);
    pthread_mutex_unlock(&s->mu);
}

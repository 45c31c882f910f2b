/* metrics.c - the server's counters and latency histograms, and GET /metrics in Prometheus'
 * text format (version 0.0.4): requests by HTTP code, tokens generated, queue length and
 * active streams (summed over the text models), request and first-token seconds. */
#include "serve/serve.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double BUCKETS[SRV_HIST_N] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300};

void srv_metrics_init(srv_metrics *m) {
    memset(m, 0, sizeof *m);
    pthread_mutex_init(&m->mu, NULL);
}

void srv_metrics_free(srv_metrics *m) { pthread_mutex_destroy(&m->mu); }

static void observe(unsigned long long *hist, double *sum, unsigned long long *count, double v) {
    int b = 0;
    while (b < SRV_HIST_N && v > BUCKETS[b]) b++;
    hist[b]++;
    *sum += v;
    (*count)++;
}

void srv_metrics_request(srv_metrics *m, int code, double seconds) {
    pthread_mutex_lock(&m->mu);
    if (code >= 100 && code < 600) m->by_code[code]++;
    observe(m->req_hist, &m->req_sum, &m->req_count, seconds);
    pthread_mutex_unlock(&m->mu);
}

void srv_metrics_first_token(srv_metrics *m, double seconds) {
    pthread_mutex_lock(&m->mu);
    observe(m->ttft_hist, &m->ttft_sum, &m->ttft_count, seconds);
    pthread_mutex_unlock(&m->mu);
}

void srv_metrics_tokens(srv_metrics *m, unsigned long long n) {
    pthread_mutex_lock(&m->mu);
    m->tokens += n;
    pthread_mutex_unlock(&m->mu);
}

typedef struct { char *s; size_t n, cap; int oom; } sbuf;

static void add(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(sbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(b->s + b->n, b->cap - b->n, fmt, ap);
        va_end(ap);
        if (k < 0) { b->oom = 1; return; }
        if ((size_t)k < b->cap - b->n) { b->n += (size_t)k; return; }
        size_t cap = 2 * b->cap + (size_t)k;
        char *s = realloc(b->s, cap);
        if (!s) { b->oom = 1; return; }
        b->s = s;
        b->cap = cap;
    }
}

static void hist(sbuf *b, const char *name, const char *help, const unsigned long long *h, double sum, unsigned long long count) {
    add(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
    unsigned long long acc = 0;
    for (int i = 0; i < SRV_HIST_N; i++) {
        acc += h[i];
        add(b, "%s_bucket{le=\"%g\"} %llu\n", name, BUCKETS[i], acc);
    }
    add(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.6f\n%s_count %llu\n", name, count, name, sum, name, count);
}

char *srv_metrics_text(srv_ctx *ctx, size_t *len) {
    sbuf b = {malloc(4096), 0, 4096, 0};
    if (!b.s) return NULL;
    b.s[0] = 0;
    int queued = 0, active = 0;
    for (int i = 0; i < ctx->n_models; i++)
        if (ctx->models[i].sched) {
            queued += srv_sched_queue_length(ctx->models[i].sched);
            active += srv_sched_active(ctx->models[i].sched);
        }
    srv_metrics *m = &ctx->metrics;
    pthread_mutex_lock(&m->mu);
    add(&b, "# HELP nanogen_requests_total HTTP requests answered, by status code.\n# TYPE nanogen_requests_total counter\n");
    for (int c = 100; c < 600; c++)
        if (m->by_code[c]) add(&b, "nanogen_requests_total{code=\"%d\"} %llu\n", c, m->by_code[c]);
    add(&b, "# HELP nanogen_tokens_generated_total Tokens drawn for completions.\n# TYPE nanogen_tokens_generated_total counter\n"
            "nanogen_tokens_generated_total %llu\n", m->tokens);
    add(&b, "# HELP nanogen_queue_length Completions waiting for pool streams.\n# TYPE nanogen_queue_length gauge\nnanogen_queue_length %d\n", queued);
    add(&b, "# HELP nanogen_active_streams Pool streams generating now.\n# TYPE nanogen_active_streams gauge\nnanogen_active_streams %d\n", active);
    hist(&b, "nanogen_request_seconds", "Time from a request to the end of its answer.", m->req_hist, m->req_sum, m->req_count);
    hist(&b, "nanogen_first_token_seconds", "Time from a completion request to its first token.", m->ttft_hist, m->ttft_sum, m->ttft_count);
    pthread_mutex_unlock(&m->mu);
    if (b.oom) { free(b.s); return NULL; }
    *len = b.n;
    return b.s;
}

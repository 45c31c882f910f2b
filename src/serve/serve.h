/* serve.h - `nanogen serve`: an OpenAI-compatible HTTP server over the library (linked into the
 * command only; the library stays free of libmicrohttpd).
 *
 *   handler.c  routing, request parsing (cJSON, every field's type checked), JSON and PNG
 *              answers: a pure function from (method, url, headers, body) to (code, content
 *              type, body or a stream), fuzzed without sockets (fuzz/fuzz_serve.c)
 *   sched.c    one scheduler thread per text model owning an ng_pool: a queue, the streams'
 *              tokens, stop sequences, the events each request reads (mutex + condvar)
 *   metrics.c  counters and histograms, Prometheus text
 *   server.c   the libmicrohttpd daemon: connections, bodies, SSE streaming, shutdown
 *
 * Every library computation (pool steps, next-token tables, attention, images) runs under one
 * fair lock (srv_compute_lock), so the scheduler threads and the request threads never run the
 * library at the same time; the pool is driven by its scheduler thread alone. */
#ifndef NG_SERVE_H
#define NG_SERVE_H
#include "nanogen.h"

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define SRV_MAX_BODY (1u << 20)   /* request bodies: 1 MiB */
#define SRV_MAX_DEPTH 32          /* JSON nesting */
#define SRV_MAX_N 8               /* choices per completion */
#define SRV_MAX_STOP 4            /* stop sequences */
#define SRV_MAX_STOP_LEN 256      /* bytes of one stop sequence */

typedef struct srv_sched srv_sched;
typedef struct srv_job srv_job;

typedef struct {
    char name[256];
    ng_model_kind kind;
    int text;                 /* gpt, bigram: a tokenizer and a scheduler */
    ng_model *m;
    ng_tokenizer *tok;
    srv_sched *sched;
    int32_t newline;          /* the token an empty prompt starts from */
} srv_model;

typedef struct {
    int max_streams, queue, max_tokens, timeout;
    const char *api_key, *cors;
} srv_config;

/* Metrics (metrics.c) */
#define SRV_HIST_N 14
typedef struct {
    pthread_mutex_t mu;
    unsigned long long by_code[600];
    unsigned long long tokens;
    unsigned long long req_hist[SRV_HIST_N + 1], ttft_hist[SRV_HIST_N + 1];
    double req_sum, ttft_sum;
    unsigned long long req_count, ttft_count;
} srv_metrics;

typedef struct srv_ctx {
    srv_model *models;
    int n_models;
    srv_config cfg;
    int sync;                 /* no scheduler threads: a completion runs in the caller (the fuzzer) */
    volatile int stopping;    /* SIGINT/SIGTERM: no new work, streams end */
    long long started;        /* the server's start (UNIX time): the models' "created" */
    srv_metrics metrics;
    /* the compute lock: a ticket lock, served in order */
    pthread_mutex_t cmu;
    pthread_cond_t ccv;
    unsigned long long ticket_next, ticket_serving;
} srv_ctx;

/* Set up ctx over models (the caller's; text models get a scheduler: threads unless sync).
 * NG_OK, or NG_ERR + error. srv_ctx_free stops the schedulers and frees them (not the models). */
int srv_ctx_init(srv_ctx *ctx, srv_model *models, int n_models, const srv_config *cfg, int sync);
void srv_ctx_free(srv_ctx *ctx);
/* SIGINT/SIGTERM: refuse new work, end every queued and active stream (finish chunks, [DONE]). */
void srv_ctx_stop(srv_ctx *ctx);
void srv_compute_lock(srv_ctx *ctx);
void srv_compute_unlock(srv_ctx *ctx);
double srv_now(void);

/* ------------------------------------------------------------------ the handler */
typedef struct {
    const char *method, *url;
    /* a request header by name (case-insensitive), or NULL */
    const char *(*header)(void *cls, const char *name);
    void *header_cls;
    const char *body;
    size_t body_len;
    int body_too_large;       /* more than SRV_MAX_BODY bytes came (the body is cut) */
    /* whether the client has hung up (NULL: never asked): a non-streamed completion waiting for
     * its tokens looks every 250 ms and is cancelled, its pool slots freed, when it has */
    int (*gone)(void *cls);
} srv_request;

typedef struct {
    int code;
    const char *ctype;        /* static string */
    char *body;               /* malloc'd (or static when !owned) */
    size_t len;
    int owned;
    const char *allow;        /* 405: the Allow header */
    srv_job *stream;          /* text/event-stream: read with srv_stream_read */
    int cors;                 /* add the CORS headers (--cors) */
    int preflight;            /* OPTIONS: the preflight headers too */
} srv_response;

/* Answer one request (every failure is an answer: an HTTP code and an OpenAI-shaped error). */
void srv_handle(srv_ctx *ctx, const srv_request *rq, srv_response *rs);
/* Free what rs holds; a stream not read to its end is cancelled (its pool slots freed). */
void srv_response_free(srv_ctx *ctx, srv_response *rs);

/* ------------------------------------------------------------------ the scheduler (sched.c) */
typedef struct {
    int32_t *ids;
    size_t n_ids;
    size_t cropped;
    int n, max_tokens, top_k, logprobs, stream, n_stop;
    float temperature, top_p;
    uint64_t seed;
    char stop[SRV_MAX_STOP][SRV_MAX_STOP_LEN + 1];
    char id[40];
    long long created;
} srv_job_settings;

srv_sched *srv_sched_new(srv_ctx *ctx, srv_model *m, int threaded);
void srv_sched_free(srv_sched *s);
void srv_sched_stop(srv_sched *s);
int srv_sched_queue_length(srv_sched *s);
int srv_sched_active(srv_sched *s);
/* Queue a completion (the settings are copied, ids taken over): the job, or NULL with *code
 * and msg/errcode set (429 queue_full, 503 shutting_down, 400 too many choices). In sync mode
 * the job has run to its end when this returns. */
srv_job *srv_job_submit(srv_sched *s, srv_job_settings *st, int *code, char *msg, size_t cap, const char **errcode);
/* Wait for the job's end and write its OpenAI response (a JSON text_completion), or an error
 * (*code != 200: msg, errcode). Malloc'd. gone (may be NULL) is asked every 250 ms whether the
 * client has hung up (gone_cls): then NULL, *code 499 (client_closed_request), and the caller's
 * srv_job_release cancels the job. */
char *srv_job_result(srv_job *j, int (*gone)(void *), void *gone_cls, int *code, const char **errcode, char *msg, size_t cap);
/* The next bytes of a job's event stream into buf (at most cap): > 0 bytes; 0 at the end of the
 * stream; -1 when no bytes came within wait_ms (call again). */
long srv_stream_read(srv_job *j, char *buf, size_t cap, int wait_ms);
/* The connection is done with the job (any time): cancelled if not finished, freed when the
 * scheduler is done with it too. */
void srv_job_release(srv_job *j);

/* ------------------------------------------------------------------ metrics (metrics.c) */
void srv_metrics_init(srv_metrics *m);
void srv_metrics_free(srv_metrics *m);
void srv_metrics_request(srv_metrics *m, int code, double seconds);
void srv_metrics_first_token(srv_metrics *m, double seconds);
void srv_metrics_tokens(srv_metrics *m, unsigned long long n);
/* Prometheus text (malloc'd) */
char *srv_metrics_text(srv_ctx *ctx, size_t *len);

/* ------------------------------------------------------------------ the daemon (server.c) */
typedef struct srv_daemon srv_daemon;
/* Listen on host:port (0: a free port); *port_out the port bound. NULL + error. */
srv_daemon *srv_daemon_start(srv_ctx *ctx, const char *host, int port, int *port_out);
void srv_daemon_quiesce(srv_daemon *d);   /* stop accepting */
/* wait (at most seconds) until every request begun has been answered to its end */
void srv_daemon_drain(srv_daemon *d, double seconds);
void srv_daemon_stop(srv_daemon *d);      /* close everything and free */

/* The playground, embedded (web/index.html, web/app.js, web/style.css; Makefile) */
extern const unsigned char srv_web_index_html[], srv_web_app_js[], srv_web_style_css[];
extern const unsigned int srv_web_index_html_len, srv_web_app_js_len, srv_web_style_css_len;
#endif

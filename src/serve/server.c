/* server.c - the HTTP side of `nanogen serve` on libmicrohttpd: a thread per connection (a
 * slow reader or a byte-by-byte sender holds only its own thread), a connection limit, an idle
 * timeout per connection, bodies gathered up to 1 MiB (a larger Content-Length is answered 413
 * at once), then handler.c's answer. A stream is a content-reader callback that waits on its
 * request's condvar (in steps of 250 ms, looking whether the client hung up meanwhile); when the
 * client is gone the response is freed and the request cancelled, which frees its pool slots
 * before the next token. Shutdown: MHD_quiesce_daemon stops accepting, the schedulers end the
 * open streams (finish chunks, [DONE]), then the daemon stops. */
#include "serve/serve.h"
#include "core/internal.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct srv_daemon {
    srv_ctx *ctx;
    struct MHD_Daemon *d;
    pthread_mutex_t mu;
    int inflight;             /* requests begun and not completed (shutdown waits for them) */
};

typedef struct {
    char *body;
    size_t len, cap;
    int too_large, answered, code;
    double t0;
} srv_conn;

typedef struct {
    srv_ctx *ctx;
    srv_job *job;
    struct MHD_Connection *conn;
    double t0;
} srv_stream;

static const char *lookup_header(void *cls, const char *name) {
    return MHD_lookup_connection_value((struct MHD_Connection *)cls, MHD_HEADER_KIND, name);
}

/* whether the peer has closed its side (nothing more will be read from it) */
static int peer_gone(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return 0;
    struct pollfd p = {.fd = ci->connect_fd, .events = POLLIN | POLLRDHUP};
    if (poll(&p, 1, 0) <= 0) return 0;
    if (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) return 1;
    char b;
    return recv(ci->connect_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

static int conn_gone(void *cls) { return peer_gone((struct MHD_Connection *)cls); }

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    srv_stream *st = cls;
    for (;;) {
        const long n = srv_stream_read(st->job, buf, max, 250);
        if (n > 0) return (ssize_t)n;
        if (n == 0) return MHD_CONTENT_READER_END_OF_STREAM;
        if (peer_gone(st->conn)) return MHD_CONTENT_READER_END_WITH_ERROR;
    }
}

static void stream_free(void *cls) {
    srv_stream *st = cls;
    srv_job_release(st->job);   /* cancels it when the client left early */
    srv_metrics_request(&st->ctx->metrics, 200, srv_now() - st->t0);
    free(st);
}

static enum MHD_Result answer(srv_daemon *dm, struct MHD_Connection *c, srv_conn *sc, const char *method, const char *url) {
    srv_ctx *ctx = dm->ctx;
    srv_request rq = {method, url, lookup_header, c, sc->body, sc->len, sc->too_large, conn_gone};
    srv_response rs;
    srv_handle(ctx, &rq, &rs);
    struct MHD_Response *r;
    if (rs.stream) {
        srv_stream *st = calloc(1, sizeof *st);
        if (!st) { srv_response_free(ctx, &rs); return MHD_NO; }
        st->ctx = ctx;
        st->job = rs.stream;
        st->conn = c;
        st->t0 = sc->t0;
        rs.stream = NULL;
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, st, stream_free);
        if (!r) { srv_job_release(st->job); free(st); return MHD_NO; }
        MHD_add_response_header(r, "Cache-Control", "no-cache");
        MHD_add_response_header(r, "X-Accel-Buffering", "no");
        sc->code = -1;   /* counted when the stream ends */
    } else {
        if (rs.owned) {
            r = MHD_create_response_from_buffer(rs.len, rs.body, MHD_RESPMEM_MUST_FREE);
            if (r) rs.body = NULL, rs.owned = 0;
        } else r = MHD_create_response_from_buffer(rs.len, rs.body, MHD_RESPMEM_PERSISTENT);
        if (!r) { srv_response_free(ctx, &rs); return MHD_NO; }
        sc->code = rs.code;
    }
    if (rs.ctype) MHD_add_response_header(r, "Content-Type", rs.ctype);
    if (rs.allow) MHD_add_response_header(r, "Allow", rs.allow);
    if (rs.code == 401) MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (rs.cors && ctx->cfg.cors) {
        MHD_add_response_header(r, "Access-Control-Allow-Origin", ctx->cfg.cors);
        MHD_add_response_header(r, "Vary", "Origin");
        if (rs.preflight) {
            MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
            MHD_add_response_header(r, "Access-Control-Allow-Headers", "Authorization, Content-Type");
            MHD_add_response_header(r, "Access-Control-Max-Age", "600");
        }
    }
    const enum MHD_Result ok = MHD_queue_response(c, (unsigned)rs.code, r);
    MHD_destroy_response(r);
    srv_response_free(ctx, &rs);
    sc->answered = 1;
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size, void **con_cls) {
    (void)version;
    srv_daemon *dm = cls;
    srv_conn *sc = *con_cls;
    if (!sc) {
        if (!(sc = calloc(1, sizeof *sc))) return MHD_NO;
        sc->t0 = srv_now();
        *con_cls = sc;
        pthread_mutex_lock(&dm->mu);
        dm->inflight++;
        pthread_mutex_unlock(&dm->mu);
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > SRV_MAX_BODY) {   /* refused before reading it */
            sc->too_large = 1;
            return answer(dm, c, sc, method, url);
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (!sc->answered && !sc->too_large) {
            if (sc->len + *upload_data_size > SRV_MAX_BODY) sc->too_large = 1;
            else {
                if (sc->len + *upload_data_size + 1 > sc->cap) {
                    size_t cap = sc->cap ? sc->cap : 4096;
                    while (cap < sc->len + *upload_data_size + 1) cap *= 2;
                    char *b = realloc(sc->body, cap);
                    if (!b) return MHD_NO;
                    sc->body = b;
                    sc->cap = cap;
                }
                memcpy(sc->body + sc->len, upload_data, *upload_data_size);
                sc->len += *upload_data_size;
                sc->body[sc->len] = 0;
            }
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (sc->answered) return MHD_YES;
    return answer(dm, c, sc, method, url);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe) {
    (void)c; (void)toe;
    srv_daemon *dm = cls;
    srv_conn *sc = *con_cls;
    if (!sc) return;
    if (sc->code > 0) srv_metrics_request(&dm->ctx->metrics, sc->code, srv_now() - sc->t0);
    free(sc->body);
    free(sc);
    *con_cls = NULL;
    pthread_mutex_lock(&dm->mu);
    dm->inflight--;
    pthread_mutex_unlock(&dm->mu);
}

srv_daemon *srv_daemon_start(srv_ctx *ctx, const char *host, int port, int *port_out) {
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    const int gai = getaddrinfo(host, ps, &hints, &ai);
    if (gai) { ng_set_error("--host %s: %s", host, gai_strerror(gai)); return NULL; }
    srv_daemon *dm = calloc(1, sizeof *dm);
    if (!dm) { freeaddrinfo(ai); ng_set_error("out of memory"); return NULL; }
    dm->ctx = ctx;
    pthread_mutex_init(&dm->mu, NULL);
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6) flags |= MHD_USE_IPv6;
    const unsigned conn_limit = (unsigned)(ctx->cfg.max_streams + ctx->cfg.queue + 64);
    dm->d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, dm,
                             MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                             MHD_OPTION_NOTIFY_COMPLETED, on_completed, dm,
                             MHD_OPTION_CONNECTION_LIMIT, conn_limit,
                             MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                             MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
                             MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!dm->d) { pthread_mutex_destroy(&dm->mu); free(dm); ng_set_error("cannot listen on %s port %d (in use? another --port, or --port 0 for a free one)", host, port); return NULL; }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(dm->d, MHD_DAEMON_INFO_BIND_PORT);
    *port_out = di ? di->port : port;
    return dm;
}

void srv_daemon_quiesce(srv_daemon *d) {
    const MHD_socket s = MHD_quiesce_daemon(d->d);
    if (s != MHD_INVALID_SOCKET) close(s);
}

void srv_daemon_drain(srv_daemon *d, double seconds) {
    const double until = srv_now() + seconds;
    for (;;) {
        pthread_mutex_lock(&d->mu);
        const int n = d->inflight;
        pthread_mutex_unlock(&d->mu);
        if (n <= 0 || srv_now() > until) return;
        const struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

void srv_daemon_stop(srv_daemon *d) {
    if (!d) return;
    MHD_stop_daemon(d->d);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

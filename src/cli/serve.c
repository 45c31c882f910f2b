/* serve.c - `nanogen serve DIR [DIR ...]`: flags, loading the models, the signals; the server
 * itself is src/serve/ (built with libmicrohttpd: the Makefile defines NG_SERVE when
 * `pkg-config --exists libmicrohttpd`). */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#ifdef NG_SERVE
#include "serve/serve.h"

#include <pthread.h>
#include <signal.h>
#endif

typedef struct {
    cli_strs names;
    const char *host, *api_key, *cors;
    int port, max_streams, queue, max_tokens, timeout, threads;
} serve_opts;
static const cli_flagdef def_name = {"--name", CLI_STRS, 0, 0, "NAME", "the name of the next model, in order (repeat it; default: the directory's last component)"};
static const cli_flagdef def_host = {"--host", CLI_STR, 0, 0, "HOST", "the address to listen on (another than 127.0.0.1, localhost or ::1 is reachable from other machines)"};
static const cli_flagdef def_port = {"--port", CLI_INT, 0, 65535, "P", "the TCP port (0: a free one, printed)"};
static const cli_flagdef def_api_key = {"--api-key", CLI_STR, 0, 0, "KEY", "require Authorization: Bearer KEY on every /v1/ route (or env NANOGEN_API_KEY)"};
static const cli_flagdef def_cors = {"--cors", CLI_STR, 0, 0, "ORIGIN", "allow browser pages from ORIGIN to call the API (CORS headers; off by default)"};
static const cli_flagdef def_max_streams = {"--max-streams", CLI_INT, 1, 1024, "N", "streams generated at once per text model (the pool's size)"};
static const cli_flagdef def_queue = {"--queue", CLI_INT, 0, 100000, "N", "completions waiting per text model; more are answered 429"};
static const cli_flagdef def_max_tokens = {"--max-tokens", CLI_INT, 1, 1 << 20, "N", "the largest max_tokens a request may ask"};
static const cli_flagdef def_timeout = {"--timeout", CLI_INT, 1, 86400, "S", "seconds a completion may take, queue included"};
static const cli_flag SERVE_FLAGS[] = {
    CLI_F(def_name, serve_opts, names, NULL, NULL),
    CLI_F(def_host, serve_opts, host, "127.0.0.1", NULL),
    CLI_F(def_port, serve_opts, port, "8080", NULL),
    CLI_F(def_api_key, serve_opts, api_key, NULL, NULL),
    CLI_F(def_cors, serve_opts, cors, NULL, NULL),
    CLI_F(def_max_streams, serve_opts, max_streams, "32", NULL),
    CLI_F(def_queue, serve_opts, queue, "64", NULL),
    CLI_F(def_max_tokens, serve_opts, max_tokens, "2048", NULL),
    CLI_F(def_timeout, serve_opts, timeout, "300", NULL),
    CLI_F(cli_def_threads, serve_opts, threads, "0", NULL),
    {0}};
static const cli_cmd SERVE = {"serve",
    "usage: nanogen serve DIR [DIR ...] [--name NAME ...] [--host 127.0.0.1] [--port 8080] [--api-key KEY]\n"
    "                     [--cors ORIGIN] [--max-streams 32] [--queue 64] [--max-tokens 2048] [--timeout 300]",
    "  serve text models (gpt, bigram) and image models (ae, dae, vae, gan) over HTTP: an\n"
    "  OpenAI-compatible API (/v1/models, /v1/completions with streaming), nanogen's own routes\n"
    "  (/v1/nanogen/next, attention, images/...), /healthz, /metrics, and a playground at /.\n"
    "  Concurrent completions are batched into one forward step per token; each one's text\n"
    "  depends only on its own seed and settings. Ctrl-C ends open streams cleanly.",
    SERVE_FLAGS, CLI_MAX_STRS};

#ifdef NG_SERVE
/* DIR's last component */
static void dir_name(const char *dir, char *buf, size_t cap) {
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && dir[b - 1] != '/') b--;
    snprintf(buf, cap, "%.*s", (int)(n - b), dir + b);
}

/* the last error, naming dir when it does not yet */
static int name_dir(const char *dir) {
    if (!strstr(ng_last_error(), dir)) return ng_set_error("'%s': %s", dir, ng_last_error());
    return NG_ERR;
}

static int load_model(const char *dir, srv_model *sm) {
    ng_model_kind kind;
    if (ng_checkpoint_kind(dir, &kind)) return name_dir(dir);
    sm->kind = kind;
    if (kind == NG_MODEL_CLASSIFIER)
        return ng_set_error("'%s' is a classifier: nanogen serve serves text models (gpt, bigram) and image models (ae, dae, vae, gan)", dir);
    sm->text = ng_model_kind_is_text(kind);
    if (sm->text ? ng_checkpoint_load(dir, &sm->m, &sm->tok, NULL) : ng_image_model_load(dir, "serve", &sm->m, NULL)) return name_dir(dir);
    return NG_OK;
}

/* the server over the parsed command line: runs until SIGINT / SIGTERM */
static int serve_run(serve_opts *o, cli_args *a) {
    if (cli_missing_pos(&SERVE, a)) return 2;
    if (o->names.n > a->npos) {
        ng_set_error("--name given %d times for %d model director%s", o->names.n, a->npos, a->npos == 1 ? "y" : "ies");
        return cli_usage_fail("serve");
    }
    if (!o->api_key) {
        const char *env = getenv("NANOGEN_API_KEY");
        if (env && *env) o->api_key = env;
    } else if (!*o->api_key) { ng_set_error("--api-key is empty"); return cli_usage_fail("serve"); }
    if (o->cors && !*o->cors) { ng_set_error("--cors is empty: give the origin allowed (https://example.org, or *)"); return cli_usage_fail("serve"); }
    srv_model models[CLI_MAX_STRS];
    memset(models, 0, sizeof models);
    for (int i = 0; i < a->npos; i++) {
        if (i < o->names.n) snprintf(models[i].name, sizeof models[i].name, "%s", o->names.v[i]);
        else dir_name(a->pos[i], models[i].name, sizeof models[i].name);
        if (!models[i].name[0]) { ng_set_error("model %d ('%s') has an empty name: give it one with --name", i + 1, a->pos[i]); return cli_usage_fail("serve"); }
        for (int k = 0; k < i; k++)
            if (!strcmp(models[k].name, models[i].name)) {
                ng_set_error("two models are named '%s' ('%s' and '%s'): tell them apart with --name", models[i].name, a->pos[k], a->pos[i]);
                return cli_usage_fail("serve");
            }
    }
    if (cli_parse_only) return 0;
    cli_set_threads(o->threads);
    const int local = !strcmp(o->host, "127.0.0.1") || !strcmp(o->host, "localhost") || !strcmp(o->host, "::1");
    if (!local)
        fprintf(stderr, "nanogen serve: warning: listening on %s: other machines can reach this server%s\n", o->host,
                o->api_key ? "" : " and it has no --api-key");

    int code = 1, n = 0;
    srv_ctx ctx;
    int ctx_ok = 0;
    srv_daemon *d = NULL;
    for (; n < a->npos; n++)
        if (load_model(a->pos[n], &models[n])) goto fail;
    /* every thread started from here on (schedulers, libmicrohttpd) leaves the stop signals to sigwait */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    srv_config cfg = {o->max_streams, o->queue, o->max_tokens, o->timeout, o->api_key, o->cors};
    if (srv_ctx_init(&ctx, models, n, &cfg, 0)) goto fail;
    ctx_ok = 1;
    int port = 0;
    if (!(d = srv_daemon_start(&ctx, o->host, o->port, &port))) goto fail;
    const int v6 = strchr(o->host, ':') != NULL;
    printf("nanogen serve: http://%s%s%s:%d/ (%d model%s)\n", v6 ? "[" : "", o->host, v6 ? "]" : "", port, n, n == 1 ? "" : "s");
    fflush(stdout);
    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "nanogen serve: %s: stopping (open streams end now)\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    srv_daemon_quiesce(d);
    srv_ctx_stop(&ctx);
    srv_daemon_drain(d, 10);
    srv_daemon_stop(d);
    code = 0;
    goto out;
fail:
    fprintf(stderr, "nanogen: %s\n", ng_last_error());
    srv_daemon_stop(d);
out:
    if (ctx_ok) srv_ctx_free(&ctx);
    for (int i = 0; i < n + (code != 0 && n < a->npos); i++) { ng_model_free(models[i].m); ng_tokenizer_free(models[i].tok); }
    return code;
}
#endif

int cmd_serve(int argc, char **argv) {
    serve_opts o;
    memset(&o, 0, sizeof o);
    cli_args a;
    const int prc = cli_parse(&SERVE, argc, argv, &o, &a);
    if (prc) return prc == 1 ? 0 : prc;
#ifdef NG_SERVE
    return serve_run(&o, &a);
#else
    if (cli_parse_only) return 0;
    fprintf(stderr, "nanogen serve needs libmicrohttpd: apt-get install libmicrohttpd-dev, then make\n");
    return 2;
#endif
}

/* handler.c - the routes of `nanogen serve`: a pure function from a request (method, url,
 * headers, body) to a response (code, content type, body or a stream); server.c moves the
 * bytes, fuzz/fuzz_serve.c calls it directly.
 *
 * Order of checks: OPTIONS preflight (only with --cors), the API key on every /v1/ route
 * (constant-time compare), the route (404), the method (405 + Allow), then for POST the body
 * size (413), Content-Type JSON (415), the JSON itself (nesting <= 32, parsed by cJSON; 400),
 * then each field's type and range (400 naming the field), the model (404 model_not_found) and
 * its kind (400). Errors are OpenAI's {"error": {"message", "type", "code"}}. No request field
 * is ever used as a file path: models are looked up by name among those loaded at start. */
#include "serve/serve.h"
#include "core/internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* ------------------------------------------------------------------ the context */
void srv_compute_lock(srv_ctx *ctx) {
    pthread_mutex_lock(&ctx->cmu);
    const unsigned long long me = ctx->ticket_next++;
    while (ctx->ticket_serving != me) pthread_cond_wait(&ctx->ccv, &ctx->cmu);
    pthread_mutex_unlock(&ctx->cmu);
    /* the thread count (--threads, or following a busy machine) is OpenMP's per thread: the
     * scheduler and connection threads take the process's count before they compute */
    ng_threads_tick();
    const int n = ng_get_threads();
    if (omp_get_max_threads() != n) omp_set_num_threads(n);
}

void srv_compute_unlock(srv_ctx *ctx) {
    pthread_mutex_lock(&ctx->cmu);
    ctx->ticket_serving++;
    pthread_cond_broadcast(&ctx->ccv);
    pthread_mutex_unlock(&ctx->cmu);
}

int srv_ctx_init(srv_ctx *ctx, srv_model *models, int n_models, const srv_config *cfg, int sync) {
    memset(ctx, 0, sizeof *ctx);
    ctx->models = models;
    ctx->n_models = n_models;
    ctx->cfg = *cfg;
    ctx->sync = sync;
    ctx->started = (long long)time(NULL);
    srv_metrics_init(&ctx->metrics);
    pthread_mutex_init(&ctx->cmu, NULL);
    pthread_cond_init(&ctx->ccv, NULL);
    for (int i = 0; i < n_models; i++) {
        srv_model *m = &models[i];
        m->sched = NULL;
        if (!m->text) continue;
        m->newline = 0;
        for (int t = 0; t < ng_tokenizer_vocab_size(m->tok); t++)
            if (!strcmp(ng_tokenizer_token(m->tok, t), "\n")) { m->newline = t; break; }
        if (!(m->sched = srv_sched_new(ctx, m, !sync))) {
            ng_set_error("model %s: %s", m->name, ng_last_error());
            srv_ctx_free(ctx);
            return NG_ERR;
        }
    }
    return NG_OK;
}

void srv_ctx_stop(srv_ctx *ctx) {
    ctx->stopping = 1;
    for (int i = 0; i < ctx->n_models; i++)
        if (ctx->models[i].sched) srv_sched_stop(ctx->models[i].sched);
}

void srv_ctx_free(srv_ctx *ctx) {
    for (int i = 0; i < ctx->n_models; i++) { srv_sched_free(ctx->models[i].sched); ctx->models[i].sched = NULL; }
    srv_metrics_free(&ctx->metrics);
    pthread_mutex_destroy(&ctx->cmu);
    pthread_cond_destroy(&ctx->ccv);
}

/* ------------------------------------------------------------------ responses */
static void set_body(srv_response *rs, int code, const char *ctype, char *body, size_t len) {
    rs->code = code;
    rs->ctype = ctype;
    rs->body = body;
    rs->len = len;
    rs->owned = 1;
}

static const char *err_type(int code) {
    return code == 401 ? "authentication_error" : code == 429 ? "rate_limit_error" : code >= 500 ? "server_error" : "invalid_request_error";
}

static void error_json(srv_response *rs, int code, const char *errcode, const char *msg) {
    cJSON *o = cJSON_CreateObject(), *e = cJSON_AddObjectToObject(o, "error");
    cJSON_AddStringToObject(e, "message", msg);
    cJSON_AddStringToObject(e, "type", err_type(code));
    cJSON_AddStringToObject(e, "code", errcode);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) {
        static char oom[] = "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"code\":\"out_of_memory\"}}";
        rs->code = 500; rs->ctype = "application/json"; rs->body = oom; rs->len = sizeof oom - 1; rs->owned = 0;
        return;
    }
    set_body(rs, code, "application/json", s, strlen(s));
}

static int fail(srv_response *rs, int code, const char *errcode, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(srv_response *rs, int code, const char *errcode, const char *fmt, ...) {
    char msg[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    error_json(rs, code, errcode, msg);
    return -1;
}

static void json_reply(srv_response *rs, cJSON *o) {
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) { fail(rs, 500, "out_of_memory", "out of memory"); return; }
    set_body(rs, 200, "application/json", s, strlen(s));
}

void srv_response_free(srv_ctx *ctx, srv_response *rs) {
    (void)ctx;
    if (rs->owned) free(rs->body);
    rs->body = NULL;
    if (rs->stream) srv_job_release(rs->stream);
    rs->stream = NULL;
}

/* ------------------------------------------------------------------ request fields */
/* JSON nesting deeper than SRV_MAX_DEPTH (brackets outside strings), checked before cJSON */
static int too_deep(const char *s, size_t n) {
    int depth = 0, in_str = 0;
    for (size_t i = 0; i < n; i++) {
        const char c = s[i];
        if (in_str) {
            if (c == '\\') i++;
            else if (c == '"') in_str = 0;
        } else if (c == '"') in_str = 1;
        else if (c == '[' || c == '{') { if (++depth > SRV_MAX_DEPTH) return 1; }
        else if (c == ']' || c == '}') depth--;
    }
    return 0;
}

/* a number field: absent or null gives dflt; wrong type or range: 400 naming it */
static int get_num(srv_response *rs, const cJSON *o, const char *name, double dflt, double lo, double hi, int integer, double *out) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!it || cJSON_IsNull(it)) { *out = dflt; return 0; }
    if (!cJSON_IsNumber(it)) return fail(rs, 400, "invalid_type", "%s must be %s", name, integer ? "an integer" : "a number");
    const double v = it->valuedouble;
    if (integer && (!isfinite(v) || v != floor(v))) return fail(rs, 400, "invalid_type", "%s must be an integer", name);
    if (!(v >= lo && v <= hi)) return fail(rs, 400, "invalid_value", "%s must be between %.17g and %.17g (it is %g)", name, lo, hi, v);
    *out = v;
    return 0;
}

static int get_bool(srv_response *rs, const cJSON *o, const char *name, int dflt, int *out) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, name);
    if (!it || cJSON_IsNull(it)) { *out = dflt; return 0; }
    if (!cJSON_IsBool(it)) return fail(rs, 400, "invalid_type", "%s must be true or false", name);
    *out = cJSON_IsTrue(it);
    return 0;
}

/* prompt: a string, or an array of one string; absent: "" */
static int get_prompt(srv_response *rs, const cJSON *o, const char **text) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, "prompt");
    *text = "";
    if (!it || cJSON_IsNull(it)) return 0;
    if (cJSON_IsArray(it)) {
        if (cJSON_GetArraySize(it) != 1) return fail(rs, 400, "invalid_value", "prompt must be a string or an array of one string (batches of prompts: use n, or one request each)");
        it = cJSON_GetArrayItem(it, 0);
    }
    if (!cJSON_IsString(it)) return fail(rs, 400, "invalid_type", "prompt must be a string");
    *text = it->valuestring;
    return 0;
}

static srv_model *find_model(srv_ctx *ctx, srv_response *rs, const cJSON *o) {
    const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, "model");
    if (!it) { fail(rs, 400, "missing_field", "model is required (GET /v1/models lists them)"); return NULL; }
    if (!cJSON_IsString(it)) { fail(rs, 400, "invalid_type", "model must be a string"); return NULL; }
    for (int i = 0; i < ctx->n_models; i++)
        if (!strcmp(ctx->models[i].name, it->valuestring)) return &ctx->models[i];
    char shown[80];
    snprintf(shown, sizeof shown, "%s", it->valuestring);
    fail(rs, 404, "model_not_found", "the model '%s' does not exist (GET /v1/models lists them)", shown);
    return NULL;
}

static srv_model *text_model(srv_ctx *ctx, srv_response *rs, const cJSON *o, const char *route) {
    srv_model *m = find_model(ctx, rs, o);
    if (m && !m->text) {
        fail(rs, 400, "wrong_model_kind", "model %s is an image model (%s): %s needs a text model", m->name, ng_model_kind_name(m->kind), route);
        return NULL;
    }
    return m;
}

static srv_model *image_model(srv_ctx *ctx, srv_response *rs, const cJSON *o, const char *route) {
    srv_model *m = find_model(ctx, rs, o);
    if (m && m->text) {
        fail(rs, 400, "wrong_model_kind", "model %s is a text model (%s): %s needs an image model (ae, dae, vae, gan)", m->name,
             ng_model_kind_name(m->kind), route);
        return NULL;
    }
    return m;
}

/* The prompt as token ids (malloc'd, *n >= 1): valid UTF-8, every character known to a char
 * vocabulary; empty: the newline token (as `nanogen sample` starts). */
static int32_t *encode_prompt(srv_response *rs, const srv_model *m, const char *text, size_t *n) {
    const size_t len = strlen(text);
    int32_t *ids = NULL;
    *n = 0;
    if (len) {
        const long long bad = ng_utf8_validate(text, len);
        if (bad >= 0) { fail(rs, 400, "invalid_prompt", "prompt is not valid UTF-8 (bad byte 0x%02X at byte offset %lld)", (unsigned char)text[bad], bad); return NULL; }
        if (ng_tokenizer_encode(m->tok, text, len, 0, &ids, n, NULL)) { fail(rs, 400, "invalid_prompt", "prompt: %s", ng_last_error()); return NULL; }
    }
    if (*n == 0) {
        free(ids);
        if (!(ids = malloc(sizeof *ids))) { fail(rs, 500, "out_of_memory", "out of memory"); return NULL; }
        ids[0] = m->newline;
        *n = 1;
    }
    return ids;
}

static double num7(double x) {
    char b[32];
    if (!isfinite(x)) return x > 0 ? 1e30 : -1e30;
    snprintf(b, sizeof b, "%.7g", x);
    return strtod(b, NULL);
}

static double num5(double x) {
    char b[32];
    if (!isfinite(x)) return 0;
    snprintf(b, sizeof b, "%.5g", x);
    return strtod(b, NULL);
}

/* a token's text for JSON: its bytes, invalid UTF-8 as U+FFFD */
static cJSON *token_json(const ng_tokenizer *tok, int32_t id) {
    size_t n = 0;
    const char *b = ng_tokenizer_token_bytes(tok, id, &n);
    char buf[512];
    size_t o = 0;
    for (size_t i = 0; b && i < n && o + 4 < sizeof buf;) {
        const unsigned char c = (unsigned char)b[i];
        size_t l = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
        if (l && i + l <= n && ng_utf8_validate(b + i, l) < 0 && c) { memcpy(buf + o, b + i, l); o += l; i += l; }
        else { memcpy(buf + o, "\xEF\xBF\xBD", 3); o += 3; i++; }
    }
    buf[o] = 0;
    return cJSON_CreateString(buf);
}

static uint64_t random_u64(void) {
    static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    static uint64_t state;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    pthread_mutex_lock(&mu);
    state += 0x9E3779B97F4A7C15ull ^ ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec;
    uint64_t z = state;
    pthread_mutex_unlock(&mu);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* ------------------------------------------------------------------ /v1/models */
static cJSON *model_json(const srv_ctx *ctx, const srv_model *m) {
    const ng_model_config *c = ng_model_cfg(m->m);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", m->name);
    cJSON_AddStringToObject(o, "object", "model");
    cJSON_AddNumberToObject(o, "created", (double)ctx->started);
    cJSON_AddStringToObject(o, "owned_by", "nanogen");
    cJSON *ng = cJSON_AddObjectToObject(o, "nanogen");
    cJSON_AddStringToObject(ng, "kind", ng_model_kind_name(m->kind));
    cJSON_AddBoolToObject(ng, "text", m->text);
    if (m->text) {
        cJSON_AddNumberToObject(ng, "vocab_size", c->vocab_size);
        cJSON_AddNumberToObject(ng, "block_size", c->block_size);
        if (m->kind == NG_MODEL_GPT) {
            cJSON_AddNumberToObject(ng, "n_layer", c->n_layer);
            cJSON_AddNumberToObject(ng, "n_head", c->n_head);
            cJSON_AddNumberToObject(ng, "n_embd", c->n_embd);
        }
        cJSON_AddStringToObject(ng, "tokenizer", ng_tok_kind_name(ng_tokenizer_kind(m->tok)));
        cJSON_AddBoolToObject(ng, "chat_template", 0);
    } else {
        cJSON_AddNumberToObject(ng, "latent", c->latent);
        cJSON *im = cJSON_AddObjectToObject(ng, "image");
        cJSON_AddNumberToObject(im, "c", c->c);
        cJSON_AddNumberToObject(im, "h", c->h);
        cJSON_AddNumberToObject(im, "w", c->w);
    }
    return o;
}

static void route_models(srv_ctx *ctx, srv_response *rs) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON *arr = cJSON_AddArrayToObject(o, "data");
    for (int i = 0; i < ctx->n_models; i++) cJSON_AddItemToArray(arr, model_json(ctx, &ctx->models[i]));
    json_reply(rs, o);
}

static void route_model(srv_ctx *ctx, srv_response *rs, const char *name) {
    for (int i = 0; i < ctx->n_models; i++)
        if (!strcmp(ctx->models[i].name, name)) { json_reply(rs, model_json(ctx, &ctx->models[i])); return; }
    char shown[80];
    snprintf(shown, sizeof shown, "%s", name);
    fail(rs, 404, "model_not_found", "the model '%s' does not exist (GET /v1/models lists them)", shown);
}

/* ------------------------------------------------------------------ /v1/completions */
static void route_completions(srv_ctx *ctx, const srv_request *rq, srv_response *rs, const cJSON *o) {
    srv_model *m = text_model(ctx, rs, o, "/v1/completions");
    if (!m) return;
    srv_job_settings st;
    memset(&st, 0, sizeof st);
    double max_tokens, temperature, top_p, n, top_k, logprobs, seed;
    int stream, echo;
    const char *prompt;
    if (get_prompt(rs, o, &prompt)) return;
    if (get_num(rs, o, "max_tokens", ctx->cfg.max_tokens < 16 ? ctx->cfg.max_tokens : 16, 1, ctx->cfg.max_tokens, 1, &max_tokens) || get_num(rs, o, "temperature", 1, 0, 100, 0, &temperature) ||
        get_num(rs, o, "top_p", 1, 0, 1, 0, &top_p) || get_num(rs, o, "n", 1, 1, SRV_MAX_N, 1, &n) ||
        get_num(rs, o, "top_k", 0, 0, 1 << 30, 1, &top_k) || get_num(rs, o, "logprobs", -1, 0, NG_POOL_MAX_TOP, 1, &logprobs) ||
        get_num(rs, o, "seed", -1, 0, 9007199254740991.0, 1, &seed) || get_bool(rs, o, "stream", 0, &stream) || get_bool(rs, o, "echo", 0, &echo))
        return;
    if (echo) { fail(rs, 400, "unsupported", "echo is not supported (only false)"); return; }
    const cJSON *stop = cJSON_GetObjectItemCaseSensitive(o, "stop");
    if (stop && !cJSON_IsNull(stop)) {
        if (cJSON_IsString(stop)) stop = NULL, st.n_stop = 1;
        else if (!cJSON_IsArray(stop)) { fail(rs, 400, "invalid_type", "stop must be a string or an array of strings"); return; }
        else if (cJSON_GetArraySize(stop) > SRV_MAX_STOP) { fail(rs, 400, "invalid_value", "stop must hold at most %d strings", SRV_MAX_STOP); return; }
        else st.n_stop = cJSON_GetArraySize(stop);
        const cJSON *one = cJSON_GetObjectItemCaseSensitive(o, "stop");
        for (int i = 0; i < st.n_stop; i++) {
            const cJSON *s = stop ? cJSON_GetArrayItem(stop, i) : one;
            if (!cJSON_IsString(s)) { fail(rs, 400, "invalid_type", "stop[%d] must be a string", i); return; }
            const size_t L = strlen(s->valuestring);
            if (L == 0) { fail(rs, 400, "invalid_value", "stop sequences must not be empty"); return; }
            if (L > SRV_MAX_STOP_LEN) { fail(rs, 400, "invalid_value", "a stop sequence is at most %d bytes", SRV_MAX_STOP_LEN); return; }
            if (ng_utf8_validate(s->valuestring, L) >= 0) { fail(rs, 400, "invalid_value", "stop sequences must be valid UTF-8"); return; }
            memcpy(st.stop[i], s->valuestring, L + 1);
        }
    }
    size_t n_ids;
    int32_t *ids = encode_prompt(rs, m, prompt, &n_ids);
    if (!ids) return;
    const int T = ng_model_cfg(m->m)->block_size;
    st.ids = ids;
    st.n_ids = n_ids;
    st.cropped = n_ids > (size_t)T ? n_ids - (size_t)T : 0;
    st.n = (int)n;
    st.max_tokens = (int)max_tokens;
    st.temperature = (float)temperature;
    st.top_p = (float)top_p;
    st.top_k = (int)top_k;
    st.logprobs = (int)logprobs;
    st.stream = stream;
    st.seed = seed >= 0 ? (uint64_t)seed : random_u64() >> 11;   /* JSON integers are exact below 2^53 */
    st.created = (long long)time(NULL);
    snprintf(st.id, sizeof st.id, "cmpl-%016llx", (unsigned long long)random_u64());
    int code = 0;
    char msg[512];
    const char *errcode = "error";
    srv_job *j = srv_job_submit(m->sched, &st, &code, msg, sizeof msg, &errcode);
    free(st.ids);   /* NULL when taken over */
    if (!j) { fail(rs, code, errcode, "%s", msg); return; }
    if (stream) {
        rs->code = 200;
        rs->ctype = "text/event-stream";
        rs->stream = j;
        return;
    }
    char *body = srv_job_result(j, rq->gone, rq->header_cls, &code, &errcode, msg, sizeof msg);
    srv_job_release(j);
    if (!body) { fail(rs, code, errcode, "%s", msg); return; }
    set_body(rs, 200, "application/json", body, strlen(body));
}

static void route_chat(srv_ctx *ctx, srv_response *rs, const cJSON *o) {
    srv_model *m = text_model(ctx, rs, o, "/v1/chat/completions");
    if (m) fail(rs, 400, "no_chat_template", "model %s has no chat template (use /v1/completions)", m->name);
}

/* ------------------------------------------------------------------ /v1/nanogen/next, attention */
static void route_next(srv_ctx *ctx, srv_response *rs, const cJSON *o) {
    srv_model *m = text_model(ctx, rs, o, "/v1/nanogen/next");
    if (!m) return;
    const char *prompt;
    double top;
    if (get_prompt(rs, o, &prompt) || get_num(rs, o, "top", 10, 1, 50, 1, &top)) return;
    float temps[NG_NEXT_MAX_TEMPS] = {1};
    int nt = 1;
    const cJSON *jt = cJSON_GetObjectItemCaseSensitive(o, "temperatures");
    if (jt && !cJSON_IsNull(jt)) {
        if (!cJSON_IsArray(jt)) { fail(rs, 400, "invalid_type", "temperatures must be an array of numbers"); return; }
        nt = cJSON_GetArraySize(jt);
        if (nt < 1 || nt > NG_NEXT_MAX_TEMPS) { fail(rs, 400, "invalid_value", "temperatures must hold 1 to %d numbers", NG_NEXT_MAX_TEMPS); return; }
        for (int k = 0; k < nt; k++) {
            const cJSON *t = cJSON_GetArrayItem(jt, k);
            if (!cJSON_IsNumber(t)) { fail(rs, 400, "invalid_type", "temperatures[%d] must be a number", k); return; }
            if (!(t->valuedouble >= 0 && t->valuedouble <= 100)) { fail(rs, 400, "invalid_value", "temperatures[%d] must be between 0 and 100", k); return; }
            temps[k] = (float)t->valuedouble;
        }
    }
    size_t n;
    int32_t *ids = encode_prompt(rs, m, prompt, &n);
    if (!ids) return;
    ng_next_table tb;
    memset(&tb, 0, sizeof tb);
    srv_compute_lock(ctx);
    const int rc = ng_next_table_compute(m->m, ids, n, temps, nt, (int)top, &tb);
    char err[512];
    if (rc) snprintf(err, sizeof err, "%s", ng_last_error());
    srv_compute_unlock(ctx);
    free(ids);
    if (rc) { ng_next_table_free(&tb); fail(rs, 500, "compute_failed", "%s", err); return; }
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "model", m->name);
    cJSON_AddNumberToObject(r, "context_tokens", tb.ctx);
    cJSON *a = cJSON_AddArrayToObject(r, "temperatures");
    for (int k = 0; k < nt; k++) cJSON_AddItemToArray(a, cJSON_CreateNumber(num7(temps[k])));
    cJSON *rows = cJSON_AddArrayToObject(r, "tokens");
    for (int i = 0; i < tb.top; i++) {
        const int id = tb.order[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "id", id);
        cJSON_AddItemToObject(e, "text", token_json(m->tok, id));
        cJSON_AddNumberToObject(e, "logit", num7(tb.logits[id]));
        cJSON *p = cJSON_AddArrayToObject(e, "probs");
        for (int k = 0; k < nt; k++) cJSON_AddItemToArray(p, cJSON_CreateNumber(num7(tb.probs[(size_t)k * tb.V + id])));
        cJSON_AddItemToArray(rows, e);
    }
    cJSON *h = cJSON_AddArrayToObject(r, "entropy_bits"), *ot = cJSON_AddArrayToObject(r, "other");
    for (int k = 0; k < nt; k++) {
        cJSON_AddItemToArray(h, cJSON_CreateNumber(num7(tb.entropy[k])));
        cJSON_AddItemToArray(ot, cJSON_CreateNumber(num7(tb.other[k])));
    }
    ng_next_table_free(&tb);
    json_reply(rs, r);
}

#define SRV_ATT_MAX 64
static void route_attention(srv_ctx *ctx, srv_response *rs, const cJSON *o) {
    srv_model *m = text_model(ctx, rs, o, "/v1/nanogen/attention");
    if (!m) return;
    if (m->kind != NG_MODEL_GPT) { fail(rs, 400, "wrong_model_kind", "model %s is a %s: it has no attention", m->name, ng_model_kind_name(m->kind)); return; }
    const char *prompt;
    if (get_prompt(rs, o, &prompt)) return;
    size_t n_all;
    int32_t *ids = encode_prompt(rs, m, prompt, &n_all);
    if (!ids) return;
    const ng_model_config *c = ng_model_cfg(m->m);
    const int keep = c->block_size < SRV_ATT_MAX ? c->block_size : SRV_ATT_MAX;
    const int n = n_all > (size_t)keep ? keep : (int)n_all;
    const int32_t *seq = ids + (n_all - (size_t)n);
    const int L = c->n_layer, H = c->n_head;
    float *att = malloc((size_t)L * H * n * n * sizeof *att);
    if (!att) { free(ids); fail(rs, 500, "out_of_memory", "out of memory"); return; }
    srv_compute_lock(ctx);
    const int rc = ng_model_attention(m->m, seq, n, att, NULL);
    char err[512];
    if (rc) snprintf(err, sizeof err, "%s", ng_last_error());
    srv_compute_unlock(ctx);
    if (rc) { free(att); free(ids); fail(rs, 500, "compute_failed", "%s", err); return; }
    cJSON *r = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "model", m->name);
    cJSON *toks = cJSON_AddArrayToObject(r, "tokens");
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(toks, token_json(m->tok, seq[i]));
    cJSON_AddNumberToObject(r, "n_layer", L);
    cJSON_AddNumberToObject(r, "n_head", H);
    cJSON_AddNumberToObject(r, "prompt_cropped", (double)(n_all - (size_t)n));
    cJSON *al = cJSON_AddArrayToObject(r, "attention");
    for (int l = 0; l < L; l++) {
        cJSON *ah = cJSON_CreateArray();
        for (int h = 0; h < H; h++) {
            cJSON *ai = cJSON_CreateArray();
            for (int i = 0; i < n; i++) {
                cJSON *aj = cJSON_CreateArray();
                for (int j = 0; j < n; j++) cJSON_AddItemToArray(aj, cJSON_CreateNumber(num5(att[(((size_t)l * H + h) * n + i) * n + j])));
                cJSON_AddItemToArray(ai, aj);
            }
            cJSON_AddItemToArray(ah, ai);
        }
        cJSON_AddItemToArray(al, ah);
    }
    free(att);
    free(ids);
    json_reply(rs, r);
}

/* ------------------------------------------------------------------ /v1/nanogen/images/ */
/* pictures (n x c*h*w, freed here) as a PNG grid answer */
static void png_reply(srv_response *rs, const srv_model *m, float *imgs, int n, int ncol, int zoom) {
    const ng_model_config *c = ng_model_cfg(m->m);
    const float lo = m->kind == NG_MODEL_GAN ? -1.0f : 0.0f;
    size_t len = 0;
    uint8_t *png = ng_png_grid_encode(imgs, n, c->c, c->h, c->w, ncol, zoom, lo, 1.0f, &len);
    free(imgs);
    if (!png) { fail(rs, 500, "png_failed", "%s", ng_last_error()); return; }
    set_body(rs, 200, "image/png", (char *)png, len);
}

static void route_images(srv_ctx *ctx, srv_response *rs, const cJSON *o, const char *what) {
    char route[64];
    snprintf(route, sizeof route, "/v1/nanogen/images/%s", what);
    srv_model *m = image_model(ctx, rs, o, route);
    if (!m) return;
    const ng_model_config *c = ng_model_cfg(m->m);
    const int vae_gan = m->kind == NG_MODEL_VAE || m->kind == NG_MODEL_GAN;
    double n, seed;
    float *imgs = NULL;
    int count = 0, ncol = 1, zoom = 2;
    char err[512] = "";
    if (!strcmp(what, "sample") || !strcmp(what, "interpolate")) {
        const int sample = what[0] == 's';
        if (sample ? get_num(rs, o, "n", 16, 1, 64, 1, &n) : get_num(rs, o, "steps", 8, 2, 16, 1, &n)) return;
        if (get_num(rs, o, "seed", -1, 0, 9007199254740991.0, 1, &seed)) return;
        if (!vae_gan) { fail(rs, 400, "wrong_model_kind", "model %s is an %s: only a vae or a gan draws from a prior (%s)", m->name, ng_model_kind_name(m->kind), route); return; }
        const uint64_t s = seed >= 0 ? (uint64_t)seed : random_u64() >> 11;
        count = (int)n;
        srv_compute_lock(ctx);
        imgs = sample ? ng_image_sample(m->m, count, s) : ng_image_interpolate(m->m, NULL, 1, count, s);
        if (!imgs) snprintf(err, sizeof err, "%s", ng_last_error());
        srv_compute_unlock(ctx);
        ncol = sample ? (count < 8 ? count : 8) : count;
    } else if (!strcmp(what, "decode")) {
        const cJSON *z = cJSON_GetObjectItemCaseSensitive(o, "z");
        if (!z) { fail(rs, 400, "missing_field", "z is required: an array of %d numbers (the latent)", c->latent); return; }
        if (!cJSON_IsArray(z)) { fail(rs, 400, "invalid_type", "z must be an array of numbers"); return; }
        if (cJSON_GetArraySize(z) != c->latent) { fail(rs, 400, "invalid_value", "z must hold %d numbers (model %s's latent), not %d", c->latent, m->name, cJSON_GetArraySize(z)); return; }
        float *zv = malloc((size_t)c->latent * sizeof *zv);
        if (!zv) { fail(rs, 500, "out_of_memory", "out of memory"); return; }
        for (int i = 0; i < c->latent; i++) {
            const cJSON *v = cJSON_GetArrayItem(z, i);
            if (!cJSON_IsNumber(v)) { free(zv); fail(rs, 400, "invalid_type", "z[%d] must be a number", i); return; }
            if (!(fabs(v->valuedouble) <= 1e6)) { free(zv); fail(rs, 400, "invalid_value", "z[%d] must be between -1e6 and 1e6", i); return; }
            zv[i] = (float)v->valuedouble;
        }
        count = 1;
        zoom = 4;
        srv_compute_lock(ctx);
        imgs = ng_image_decode(m->m, zv, 1);
        if (!imgs) snprintf(err, sizeof err, "%s", ng_last_error());
        srv_compute_unlock(ctx);
        free(zv);
    } else {   /* manifold */
        if (get_num(rs, o, "n", 10, 2, 20, 1, &n)) return;
        if (!vae_gan || c->latent != 2) {
            fail(rs, 400, "wrong_model_kind", "model %s (%s, latent %d): the manifold needs a vae or gan with a 2-D latent", m->name, ng_model_kind_name(m->kind), c->latent);
            return;
        }
        srv_compute_lock(ctx);
        if (ng_image_manifold_check(m->m)) snprintf(err, sizeof err, "%s", ng_last_error());
        else if (!(imgs = ng_image_manifold(m->m, (int)n))) snprintf(err, sizeof err, "%s", ng_last_error());
        srv_compute_unlock(ctx);
        count = (int)n * (int)n;
        ncol = (int)n;
        zoom = 1;
        if (!imgs && err[0]) { fail(rs, 400, "wrong_model_kind", "%s", err); return; }
    }
    if (!imgs) { fail(rs, 500, "compute_failed", "%s", err); return; }
    png_reply(rs, m, imgs, count, ncol, zoom);
}

/* ------------------------------------------------------------------ routing */
enum { R_MODELS, R_MODEL, R_COMPL, R_CHAT, R_NEXT, R_ATT, R_IMG, R_HEALTH, R_METRICS, R_STATIC };
typedef struct { const char *path; int prefix, id, post; } srv_route;
static const srv_route ROUTES[] = {
    {"/v1/models", 0, R_MODELS, 0}, {"/v1/models/", 1, R_MODEL, 0}, {"/v1/completions", 0, R_COMPL, 1},
    {"/v1/chat/completions", 0, R_CHAT, 1}, {"/v1/nanogen/next", 0, R_NEXT, 1}, {"/v1/nanogen/attention", 0, R_ATT, 1},
    {"/v1/nanogen/images/sample", 0, R_IMG, 1}, {"/v1/nanogen/images/decode", 0, R_IMG, 1},
    {"/v1/nanogen/images/interpolate", 0, R_IMG, 1}, {"/v1/nanogen/images/manifold", 0, R_IMG, 1},
    {"/healthz", 0, R_HEALTH, 0}, {"/metrics", 0, R_METRICS, 0}, {"/", 0, R_STATIC, 0}, {"/index.html", 0, R_STATIC, 0},
    {"/app.js", 0, R_STATIC, 0}, {"/style.css", 0, R_STATIC, 0}};

/* constant-time: the time does not depend on where a wrong key differs */
static int key_ok(const char *given, const char *key) {
    const size_t a = strlen(given), b = strlen(key);
    unsigned char d = a != b;
    for (size_t i = 0; i < b; i++) d |= (unsigned char)(key[i] ^ (i < a ? given[i] : 0));
    return d == 0;
}

static void route_static(srv_response *rs, const char *url) {
    if (!strcmp(url, "/app.js")) { rs->ctype = "text/javascript; charset=utf-8"; rs->body = (char *)srv_web_app_js; rs->len = srv_web_app_js_len; }
    else if (!strcmp(url, "/style.css")) { rs->ctype = "text/css; charset=utf-8"; rs->body = (char *)srv_web_style_css; rs->len = srv_web_style_css_len; }
    else { rs->ctype = "text/html; charset=utf-8"; rs->body = (char *)srv_web_index_html; rs->len = srv_web_index_html_len; }
    rs->code = 200;
    rs->owned = 0;
}

void srv_handle(srv_ctx *ctx, const srv_request *rq, srv_response *rs) {
    memset(rs, 0, sizeof *rs);
    const char *method = rq->method ? rq->method : "", *url = rq->url ? rq->url : "";
    rs->cors = ctx->cfg.cors != NULL;
    if (!strcmp(method, "OPTIONS") && ctx->cfg.cors) {
        rs->preflight = 1;
        rs->code = 204;
        rs->ctype = NULL;
        return;
    }
    if (!strncmp(url, "/v1/", 4) && ctx->cfg.api_key) {
        const char *auth = rq->header ? rq->header(rq->header_cls, "Authorization") : NULL;
        if (!auth || strncasecmp(auth, "Bearer ", 7) || !key_ok(auth + 7, ctx->cfg.api_key)) {
            fail(rs, 401, auth ? "invalid_api_key" : "missing_api_key",
                 auth ? "the API key is not right (Authorization: Bearer KEY)" : "an API key is needed: send Authorization: Bearer KEY");
            return;
        }
    }
    const srv_route *r = NULL;
    for (size_t i = 0; i < sizeof ROUTES / sizeof *ROUTES && !r; i++)
        if (ROUTES[i].prefix ? !strncmp(url, ROUTES[i].path, strlen(ROUTES[i].path)) && url[strlen(ROUTES[i].path)] : !strcmp(url, ROUTES[i].path))
            r = &ROUTES[i];
    if (!r) {
        char shown[96];
        snprintf(shown, sizeof shown, "%s", url);
        fail(rs, 404, "unknown_route", "no route %s (see the README's Serving section)", shown);
        return;
    }
    const int is_get = !strcmp(method, "GET") || !strcmp(method, "HEAD"), is_post = !strcmp(method, "POST");
    if (r->post ? !is_post : !is_get) {
        rs->allow = r->post ? "POST" : "GET, HEAD";
        char shown[24];
        snprintf(shown, sizeof shown, "%s", method);
        fail(rs, 405, "method_not_allowed", "%s takes %s, not %s", r->path, r->post ? "POST" : "GET", shown);
        return;
    }
    switch (r->id) {
    case R_MODELS: route_models(ctx, rs); return;
    case R_MODEL: route_model(ctx, rs, url + strlen("/v1/models/")); return;
    case R_HEALTH: {
        char *s = malloc(64);
        if (!s) { fail(rs, 500, "out_of_memory", "out of memory"); return; }
        snprintf(s, 64, "{\"status\":\"%s\",\"models\":%d}", ctx->stopping ? "stopping" : "ok", ctx->n_models);
        set_body(rs, ctx->stopping ? 503 : 200, "application/json", s, strlen(s));
        return;
    }
    case R_METRICS: {
        size_t len = 0;
        char *s = srv_metrics_text(ctx, &len);
        if (!s) { fail(rs, 500, "out_of_memory", "out of memory"); return; }
        set_body(rs, 200, "text/plain; version=0.0.4; charset=utf-8", s, len);
        return;
    }
    case R_STATIC: route_static(rs, url); return;
    default: break;
    }
    /* POST: a JSON object */
    if (rq->body_too_large || rq->body_len > SRV_MAX_BODY) { fail(rs, 413, "body_too_large", "the body is larger than %u bytes", SRV_MAX_BODY); return; }
    const char *ct = rq->header ? rq->header(rq->header_cls, "Content-Type") : NULL;
    if (!ct || strncasecmp(ct, "application/json", 16) || (ct[16] && ct[16] != ';' && ct[16] != ' ')) {
        fail(rs, 415, "unsupported_media_type", "the body must be JSON (Content-Type: application/json)");
        return;
    }
    if (ctx->stopping) { fail(rs, 503, "shutting_down", "the server is shutting down"); return; }
    if (!rq->body || !rq->body_len) { fail(rs, 400, "invalid_json", "the body is empty: send a JSON object"); return; }
    if (too_deep(rq->body, rq->body_len)) { fail(rs, 400, "too_deep", "the JSON is nested deeper than %d levels", SRV_MAX_DEPTH); return; }
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithLengthOpts(rq->body, rq->body_len, &end, 0);
    if (!o) {
        const long at = end && end >= rq->body ? (long)(end - rq->body) : 0;
        fail(rs, 400, "invalid_json", "the body is not valid JSON (at byte %ld)", at);
        return;
    }
    if (!cJSON_IsObject(o)) { cJSON_Delete(o); fail(rs, 400, "invalid_json", "the body must be a JSON object"); return; }
    switch (r->id) {
    case R_COMPL: route_completions(ctx, rq, rs, o); break;
    case R_CHAT: route_chat(ctx, rs, o); break;
    case R_NEXT: route_next(ctx, rs, o); break;
    case R_ATT: route_attention(ctx, rs, o); break;
    case R_IMG: route_images(ctx, rs, o, url + strlen("/v1/nanogen/images/")); break;
    default: fail(rs, 500, "internal", "internal: route %s", r->path); break;
    }
    cJSON_Delete(o);
}

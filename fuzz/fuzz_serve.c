/* fuzz_serve.c - the HTTP handler of `nanogen serve` (src/serve/handler.c) without sockets: the
 * input split on its first three NUL bytes is the method, the URL, the headers ("Name: value"
 * lines) and the body (the rest, NULs and all). Each request goes to two servers over the same
 * tiny models made here (a 1-layer GPT of a char vocabulary, and a VAE of 8x8 pictures with a
 * 2-D latent): one as it starts by default, one with --api-key and --cors. Both run without
 * threads (a completion runs to its end inside the handler) and at most 4 tokens a completion.
 * The handler must answer every request with a code in 200..599, an OpenAI-shaped JSON error
 * for every code >= 400, JSON that parses for every JSON answer, a PNG for every picture, and
 * a stream that reads to its end with "data: [DONE]". */
#include "fuzz.h"
#include "serve/serve.h"

#include <cjson/cJSON.h>
#include <strings.h>

static ng_model *fz_gpt, *fz_vae;
static ng_tokenizer *fz_tok;
static srv_model fz_models[2][2];
static srv_ctx fz_ctx[2];
static int fz_ready;

static void fz_setup(void) {
    if (fz_ready) return;
    fz_ready = 1;
    const char *text = "ROMEO: hello world, and the rest.\nJULIET: what?\n";
    fz_tok = ng_tokenizer_build(NG_TOK_CHAR, text, strlen(text), 0);
    FZ_CHECK(fz_tok, "tokenizer: %s", ng_last_error());
    ng_model_config g;
    memset(&g, 0, sizeof g);
    g.kind = NG_MODEL_GPT;
    g.vocab_size = ng_tokenizer_vocab_size(fz_tok);
    g.block_size = 8;
    g.n_layer = 1; g.n_head = 2; g.n_embd = 8;
    fz_gpt = ng_model_new(&g);
    FZ_CHECK(fz_gpt, "gpt: %s", ng_last_error());
    ng_model_init(fz_gpt, 1);
    ng_model_config v;
    memset(&v, 0, sizeof v);
    v.kind = NG_MODEL_VAE;
    v.c = 1; v.h = 8; v.w = 8; v.hidden = 8; v.latent = 2; v.beta = 1;
    fz_vae = ng_model_new(&v);
    FZ_CHECK(fz_vae, "vae: %s", ng_last_error());
    ng_model_init(fz_vae, 1);
    for (int k = 0; k < 2; k++) {
        srv_model *m = fz_models[k];
        memset(m, 0, 2 * sizeof *m);
        snprintf(m[0].name, sizeof m[0].name, "tiny");
        m[0].kind = NG_MODEL_GPT; m[0].text = 1; m[0].m = fz_gpt; m[0].tok = fz_tok;
        snprintf(m[1].name, sizeof m[1].name, "vae");
        m[1].kind = NG_MODEL_VAE; m[1].m = fz_vae;
        srv_config cfg = {4, 4, 4, 60, k ? "key" : NULL, k ? "https://example.org" : NULL};
        FZ_CHECK(!srv_ctx_init(&fz_ctx[k], m, 2, &cfg, 1), "server: %s", ng_last_error());
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    ng_set_threads(1);
    fz_setup();
    return 0;
}

typedef struct { const char *text; size_t len; } fz_headers;

/* the value of header name in "Name: value\n" lines (a static copy), or NULL */
static const char *fz_header(void *cls, const char *name) {
    static char val[512];
    const fz_headers *h = cls;
    const size_t nl = strlen(name);
    for (size_t i = 0; i < h->len;) {
        size_t e = i;
        while (e < h->len && h->text[e] != '\n') e++;
        if (e - i > nl && !strncasecmp(h->text + i, name, nl) && h->text[i + nl] == ':') {
            size_t a = i + nl + 1;
            while (a < e && h->text[a] == ' ') a++;
            size_t n = e - a < sizeof val - 1 ? e - a : sizeof val - 1;
            memcpy(val, h->text + a, n);
            val[n] = 0;
            return val;
        }
        i = e + 1;
    }
    return NULL;
}

static void fz_check_error(const srv_response *rs) {
    cJSON *o = cJSON_ParseWithLength(rs->body, rs->len);
    FZ_CHECK(o, "code %d with a body that is not JSON: %.*s", rs->code, (int)rs->len, rs->body);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(o, "error");
    FZ_CHECK(cJSON_IsObject(e), "code %d without an error object", rs->code);
    FZ_CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "message")), "error without a message");
    FZ_CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "type")), "error without a type");
    FZ_CHECK(cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "code")), "error without a code");
    cJSON_Delete(o);
}

static void fz_one(srv_ctx *ctx, const srv_request *rq) {
    srv_response rs;
    srv_handle(ctx, rq, &rs);
    FZ_CHECK(rs.code >= 200 && rs.code < 600, "code %d", rs.code);
    if (getenv("FZ_SERVE_VERBOSE"))   /* what each answer was, to look at the seeds by hand */
        fprintf(stderr, "%s %s -> %d %s %.*s\n", rq->method, rq->url, rs.code, rs.ctype ? rs.ctype : "-",
                rs.ctype && !strncmp(rs.ctype, "image/", 6) ? 0 : (int)(rs.len < 200 ? rs.len : 200), rs.body ? rs.body : "");
    if (rs.stream) {
        FZ_CHECK(rs.code == 200, "a stream with code %d", rs.code);
        char buf[4096], tail[16] = "";
        size_t total = 0;
        for (long n; (n = srv_stream_read(rs.stream, buf, sizeof buf, 0)) != 0;) {
            FZ_CHECK(n > 0, "a finished stream that waits for more");
            const size_t k = (size_t)n < sizeof tail - 1 ? (size_t)n : sizeof tail - 1;
            memcpy(tail, buf + n - (long)k, k);
            tail[k] = 0;
            total += (size_t)n;
        }
        FZ_CHECK(total >= 14 && strstr(tail, "data: [DONE]\n\n"), "a stream that does not end with [DONE]: ...%s", tail);
    } else if (rs.code >= 400) fz_check_error(&rs);
    else if (rs.ctype && !strcmp(rs.ctype, "application/json")) {
        cJSON *o = cJSON_ParseWithLength(rs.body, rs.len);
        FZ_CHECK(o, "a 200 JSON answer that does not parse: %.*s", (int)rs.len, rs.body);
        cJSON_Delete(o);
    } else if (rs.ctype && !strcmp(rs.ctype, "image/png"))
        FZ_CHECK(rs.len > 8 && !memcmp(rs.body, "\x89PNG", 4), "a PNG answer that is no PNG");
    srv_response_free(ctx, &rs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_setup();
    /* method, url, headers: up to the first three NULs (exact-size copies); the body: the rest */
    char *part[3] = {NULL, NULL, NULL};
    size_t plen[3] = {0, 0, 0}, i = 0;
    for (int k = 0; k < 3; k++) {
        size_t e = i;
        while (e < size && data[e]) e++;
        plen[k] = e - i;
        part[k] = malloc(plen[k] + 1);
        if (!part[k]) goto out;
        memcpy(part[k], data + i, plen[k]);
        part[k][plen[k]] = 0;
        i = e < size ? e + 1 : size;
    }
    char *body = malloc(size - i + 1);
    if (!body) goto out;
    memcpy(body, data + i, size - i);
    body[size - i] = 0;
    fz_headers h = {part[2], plen[2]};
    srv_request rq = {part[0], part[1], fz_header, &h, body, size - i, 0, NULL};
    for (int k = 0; k < 2; k++) fz_one(&fz_ctx[k], &rq);
    free(body);
out:
    for (int k = 0; k < 3; k++) free(part[k]);
    return 0;
}

/* args.c - strict flag parsing and shared helpers of the nanogen command. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *value_of(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) { ng_set_error("%s needs a value", argv[*i]); return NULL; }
    return argv[++*i];
}

int arg_int(int argc, char **argv, int *i, long long lo, long long hi, int *out) {
    const char *flag = argv[*i], *v = value_of(argc, argv, i);
    if (!v) return NG_ERR;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end) return ng_set_error("%s: '%s' is not an integer", flag, v);
    if (x < lo || x > hi) return ng_set_error("%s: %lld is out of range [%lld, %lld]", flag, x, lo, hi);
    *out = (int)x;
    return NG_OK;
}

int arg_u64(int argc, char **argv, int *i, uint64_t *out) {
    const char *flag = argv[*i], *v = value_of(argc, argv, i);
    if (!v) return NG_ERR;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || end == v || *end || v[0] == '-') return ng_set_error("%s: '%s' is not a non-negative integer", flag, v);
    *out = x;
    return NG_OK;
}

int arg_float(int argc, char **argv, int *i, double lo, double hi, float *out) {
    const char *flag = argv[*i], *v = value_of(argc, argv, i);
    if (!v) return NG_ERR;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(x)) return ng_set_error("%s: '%s' is not a number", flag, v);
    if (x < lo || x > hi) return ng_set_error("%s: %g is out of range [%g, %g]", flag, x, lo, hi);
    *out = (float)x;
    return NG_OK;
}

int arg_str(int argc, char **argv, int *i, const char **out) {
    const char *v = value_of(argc, argv, i);
    if (!v) return NG_ERR;
    *out = v;
    return NG_OK;
}

int cli_fail(void) {
    fprintf(stderr, "nanogen: %s\n", ng_last_error());
    return 1;
}

int cli_usage_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "nanogen: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return 2;
}

void cli_note_unknown_words(const ng_tokenizer *tok, const int32_t *ids, size_t n) {
    if (ng_tokenizer_kind(tok) != NG_TOK_WORD) return;
    size_t unk = 0;
    for (size_t i = 0; i < n; i++) unk += !strcmp(ng_tokenizer_token(tok, ids[i]), "<unk>");
    if (unk) fprintf(stderr, "nanogen: note: %zu word%s of the prompt %s not in the vocabulary and read%s as <unk>\n",
                     unk, unk == 1 ? "" : "s", unk == 1 ? "is" : "are", unk == 1 ? "s" : "");
}

int32_t *cli_encode_file(const char *path, const ng_tokenizer *tok, int skip_unknown, size_t *n) {
    size_t len;
    char *text = ng_read_file(path, &len);
    if (!text) return NULL;
    if (len == 0) { free(text); ng_set_error("'%s' is empty", path); return NULL; }
    long long bad = ng_utf8_validate(text, len);
    if (bad >= 0) {
        ng_set_error("'%s' is not valid UTF-8: bad byte 0x%02X at byte offset %lld (convert it, e.g. iconv -f latin1 -t utf-8)",
                     path, (unsigned char)text[bad], bad);
        free(text);
        return NULL;
    }
    int32_t *ids = NULL;
    size_t unknown = 0;
    if (ng_tokenizer_encode(tok, text, len, skip_unknown, &ids, n, &unknown)) {
        ng_set_error("'%s': %s", path, ng_last_error());
        free(text);
        return NULL;
    }
    if (unknown) fprintf(stderr, "nanogen: skipped %zu characters of '%s' that the vocabulary lacks\n", unknown, path);
    free(text);
    return ids;
}

double cli_full_loss(ng_lm_graph *lg, ng_graph *g, int B, int T, const int32_t *ids, size_t n, size_t *count) {
    double total = 0;
    size_t counted = 0;
    ng_graph_set_training(g, 0);
    size_t n_pred = n > 0 ? n - 1 : 0;   /* positions that have a next token */
    for (size_t start = 0; start < n_pred;) {
        for (int b = 0; b < B; b++) {
            for (int t = 0; t < T; t++) {
                size_t p = start + (size_t)b * T + t;
                int ok = p < n_pred;
                lg->idx->idata[b * T + t] = ok ? ids[p] : 0;
                lg->targets->idata[b * T + t] = ok ? ids[p + 1] : -1;
            }
        }
        ng_graph_forward(g);
        float c = lg->loss->aux[lg->logits->ne[0]];   /* counted targets (softmax_xent state) */
        total += (double)lg->loss->data[0] * c;
        counted += (size_t)c;
        start += (size_t)B * T;
    }
    ng_graph_set_training(g, 1);
    if (count) *count = counted;
    return counted ? total / counted : 0.0;
}

size_t cli_count_chars(const ng_tokenizer *tok, const int32_t *ids, size_t n) {
    if (ng_tokenizer_kind(tok) == NG_TOK_CHAR) return n;
    char *s = ng_tokenizer_decode(tok, ids, n);
    if (!s) return n;
    size_t chars = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) chars += (*p & 0xC0) != 0x80;
    free(s);
    return chars;
}

static int anomaly_found(ng_graph *g) {
    return ng_graph_anomaly(g) ? ng_set_error("anomaly (--detect-anomaly) in the %s", ng_last_error()) : NG_OK;
}

int cli_forward(ng_graph *g) {
    ng_graph_forward(g);
    return anomaly_found(g);
}

int cli_backward(ng_graph *g, const float *dout) {
    if (dout) ng_graph_backward_with(g, dout);
    else ng_graph_backward(g);
    return anomaly_found(g);
}

int cli_backward_inputs(ng_graph *g) {
    return ng_graph_backward_inputs(g, NULL) ? NG_ERR : anomaly_found(g);
}

int cli_finite_loss(ng_graph *g, const char *what, double loss) {
    if (isfinite(loss)) return NG_OK;
    const char *v = isnan(loss) ? "nan" : loss > 0 ? "inf" : "-inf";
    if (ng_graph_find_nonfinite(g))
        return ng_set_error("%s is %s: training diverged (lower --lr); the first non-finite value, in the %s", what, v, ng_last_error());
    return ng_set_error("%s is %s: training diverged (lower --lr)", what, v);
}

int cli_adamw_step(ng_adamw *opt, ng_params *P, float lr, const char *block) {
    const double t0 = ng_profiling() ? cli_now() : 0;
    const float norm = ng_adamw_step(opt, lr);   /* its norm pass sees every gradient */
    if (ng_profiling()) ng_profile_add("adamw+clip", cli_now() - t0);
    if (isfinite(norm)) return NG_OK;
    ng_tensor *t = ng_params_nonfinite_grad(P);
    if (!t)
        return ng_set_error("the %sgradient norm is %g: every gradient is finite but their norm overflows a float "
                            "(training diverged: lower --lr)", block, norm);
    char what[160];
    ng_describe_nonfinite(t, 1, what, sizeof what);
    return ng_set_error("the gradient of %s%s has %s (training diverged: lower --lr, or find the op with --detect-anomaly)",
                        block, t->name, what);
}

long cli_test_stop_at(void) {
    const char *e = getenv("NANOGEN_TEST_STOP_AT");
    return e ? strtol(e, NULL, 10) : 0;
}

void cli_fault_stop(const char *where, const char *kept) {
    char *w = strdup(ng_last_error());
    const char *what = w ? w : "a numerical fault";
    if (kept) ng_set_error("%s: %s; stopped without saving: %s is kept", where, what, kept);
    else ng_set_error("%s: %s; stopped (no checkpoint was saved yet)", where, what);
    free(w);
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int cli_is_image_checkpoint(const char *path) {
    char *file = ng_checkpoint_model_path(path);
    ng_st_file *f = file ? ng_safetensors_open(file) : NULL;
    int yes = f && ng_st_meta(f, "image_config") != NULL;
    ng_safetensors_close(f);
    free(file);
    return yes;
}

int cli_parse_only = 0;

volatile sig_atomic_t cli_stop = 0;
static void on_stop_signal(int sig) { cli_stop = sig; }

void cli_catch_stop_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int cli_stop_code(void) { return cli_stop == SIGTERM ? 143 : 130; }

void cli_metrics_line(FILE *f, cJSON *j, int echo) {
    char *s = cJSON_PrintUnformatted(j);
    if (s && f) { fprintf(f, "%s\n", s); fflush(f); }
    if (s && echo) { printf("%s\n", s); fflush(stdout); }
    free(s);
    cJSON_Delete(j);
}

int cli_metrics_trim(const char *path, const char *key, double last) {
    struct stat st;
    if (stat(path, &st) != 0) return NG_OK;   /* nothing logged yet */
    size_t len = 0;
    char *text = ng_read_file(path, &len);
    if (!text) return NG_ERR;
    char *keep = malloc(len + 1);
    if (!keep) { free(text); return ng_set_error("out of memory reading '%s'", path); }
    size_t k = 0, dropped = 0;
    for (char *line = text; line < text + len;) {
        char *nl = memchr(line, '\n', (size_t)(text + len - line));
        if (!nl) { dropped++; break; }   /* torn last line: the run died while writing it */
        *nl = 0;
        cJSON *j = cJSON_Parse(line);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
        int ok = j && !(cJSON_IsNumber(v) && v->valuedouble > last);
        cJSON_Delete(j);
        if (ok) { size_t n = (size_t)(nl - line); memcpy(keep + k, line, n); keep[k + n] = '\n'; k += n + 1; }
        else dropped++;
        line = nl + 1;
    }
    int rc = NG_OK;
    if (dropped) {
        ng_atomic_file af;
        rc = ng_atomic_open(&af, path);
        if (!rc) rc = ng_atomic_commit(&af, fwrite(keep, 1, k, af.fp) == k);
        if (!rc) fprintf(stderr, "nanogen: note: dropped %zu line%s of %s logged after the checkpoint\n", dropped, dropped == 1 ? "" : "s", path);
    }
    free(keep); free(text);
    return rc;
}

int cli_state_range(const char *key, double v, double lo, double hi) {
    if (v >= lo && v <= hi) return NG_OK;
    return ng_set_error("the checkpoint's training state is invalid: %s = %.10g is outside [%.10g, %.10g] (was the file edited?)", key, v, lo, hi);
}

/* the first time the thread count drops because other programs use the CPUs, say so (once) */
static void threads_note(int now, int max, double others) {
    static int said = 0;
    if (said || now >= max) return;
    said = 1;
    fprintf(stderr, "nanogen: note: other programs are using about %.1f of the %d CPUs: running on %d thread%s while they do "
            "(the results are the same on any number of threads; --threads N keeps N)\n", others, max, now, now == 1 ? "" : "s");
}

void cli_set_threads(int n) {
    const int cpus = ng_cpu_count();
    if (n > cpus) {
        fprintf(stderr, "nanogen: note: --threads %d, but this process may run on %d CPU%s: using %d\n", n, cpus, cpus == 1 ? "" : "s", cpus);
        n = cpus;
    }
    ng_threads_set_note(threads_note);
    ng_set_threads(n);
}

int cli_memory_check(double need, const char *what, const char *hint) {
    uint64_t avail = ng_memory_available();
    if (avail && need > 0.9 * (double)avail)
        return ng_set_error("%s needs about %.1f GiB but only %.1f GiB of memory is available: %s", what,
                            need / 1073741824.0, avail / 1073741824.0, hint);
    return NG_OK;
}

double cli_text_activations(const ng_model_config *c, int B, int T) {
    return c->kind == NG_MODEL_GPT
        ? 2.0 * B * T * ((double)c->n_layer * (22.0 * c->n_embd + (double)c->n_head * T) + 2.0 * c->vocab_size + 4.0 * c->n_embd)
        : 2.0 * B * T * 2.0 * c->vocab_size;
}

int cli_metrics_has(const char *path, const char *key, double value, const char *field) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[4096];
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
        found = cJSON_IsNumber(v) && v->valuedouble == value && cJSON_GetObjectItemCaseSensitive(j, field);
        cJSON_Delete(j);
    }
    fclose(f);
    return found;
}

int cli_prepare_out(const char *out, const char *subdir, int resume, int force) {
    char *mp = ng_checkpoint_model_path(out);
    struct stat st;
    int exists = mp && stat(mp, &st) == 0;
    free(mp);
    if (exists && !resume && !force)
        return ng_set_error("'%s' already holds a checkpoint: continue it with --resume %s, or pass --force to overwrite it", out, out);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s%s%s", out, subdir ? "/" : "", subdir ? subdir : "");
    if (ng_mkdir_p(dir)) return ng_set_error("--out: %s", ng_last_error());
    if (access(out, W_OK) != 0) return ng_set_error("--out '%s' is not writable: %s", out, strerror(errno));
    return NG_OK;
}

int cli_check_out(const char *out, const char *ext) {
    if (!out || !*out) return ng_set_error("--out FILE is required (the %s to write)", ext + 1);
    struct stat st;
    if (stat(out, &st) == 0 && S_ISDIR(st.st_mode)) return ng_set_error("--out '%s' is a directory: give a file name", out);
    size_t n = strlen(out), e = strlen(ext);
    if (n <= e || strcasecmp(out + n - e, ext)) return ng_set_error("--out '%s': this writes a %s file, give a name ending in %s", out, ext + 1, ext);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", out);
    char *slash = strrchr(dir, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else if (slash == dir) dir[1] = 0;
    else *slash = 0;
    if (stat(dir, &st) != 0) return ng_set_error("--out '%s': cannot write there: '%s': %s", out, dir, strerror(errno));
    if (!S_ISDIR(st.st_mode)) return ng_set_error("--out '%s': cannot write there: '%s' is not a directory", out, dir);
    if (access(dir, W_OK) != 0) return ng_set_error("--out '%s': cannot write there: '%s': %s", out, dir, strerror(errno));
    return NG_OK;
}

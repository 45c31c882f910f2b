/* args.c - shared helpers of the nanogen command (flags: flags.c). */
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

int cli_fail(void) {
    fprintf(stderr, "nanogen: %s\n", ng_last_error());
    return 1;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "nanogen: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (nanogen %s --help)\n", cmd);
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
    size_t unknown = 0;
    int32_t *ids = ng_text_encode_file(path, tok, skip_unknown, n, &unknown);
    if (ids && unknown) fprintf(stderr, "nanogen: skipped %zu characters of '%s' that the vocabulary lacks\n", unknown, path);
    return ids;
}

long cli_test_stop_at(void) {
    const char *e = getenv("NANOGEN_TEST_STOP_AT");
    return e ? strtol(e, NULL, 10) : 0;
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

void cli_train_note(int tty, const char *msg) {
    if (tty) fprintf(stderr, "\r\033[K");
    fprintf(stderr, "nanogen: %s\n", msg);
}

int cli_train_failed(void) {
    if (isatty(STDERR_FILENO)) fprintf(stderr, "\r\033[K");
    const int N = ng_dist_size(), R = ng_dist_rank();
    if (N == 1) { fprintf(stderr, "nanogen: %s\n", ng_last_error()); return 1; }
    /* several ranks: a failure every rank found at once is reported by rank 0 alone, and the
     * ranks end together; one rank's own failure is said with its rank, and ends the job */
    if (ng_dist_error_shared()) {
        if (R == 0) fprintf(stderr, "nanogen: %s\n", ng_last_error());
        return 1;
    }
    fprintf(stderr, "nanogen: rank %d of %d: %s\n", R, N, ng_last_error());
    fflush(stderr);
    ng_dist_abort(1);
    return 1;
}

int cli_stop_code(void) { return cli_stop == SIGTERM ? 143 : 130; }

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

double cli_text_activations(const ng_model_config *c, int B, int T) {
    return c->kind == NG_MODEL_GPT
        ? 2.0 * B * T * ((double)c->n_layer * (22.0 * c->n_embd + (double)c->n_head * T) + 2.0 * c->vocab_size + 4.0 * c->n_embd)
        : 2.0 * B * T * 2.0 * c->vocab_size;
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

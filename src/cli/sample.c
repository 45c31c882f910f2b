/* sample.c - `nanogen sample DIR`: streams text from a trained text model (the library's
 * generator, src/infer/generate.c). */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(void) {
    fprintf(stderr,
        "usage: nanogen sample DIR [--prompt TEXT | --prompt-file F] [--tokens N] [--temperature T]\n"
        "                          [--top-k K] [--top-p P] [--seed S] [--num-samples N] [--batch]\n"
        "                          [--exact-context] [--stats] [--show-probs] [--threads N]\n"
        "  temperature 0 is greedy; the same seed gives the same text; --batch runs the samples\n"
        "  as parallel streams and prints them at the end\n"
        "  --show-probs marks each generated token with the probability it was drawn with: on a\n"
        "  terminal, dim below 0.2, normal up to 0.8, bold from 0.8 (plain text if NO_COLOR is set);\n"
        "  piped, as token[0.42] (a newline token's mark comes just before the line break)\n");
}

/* --show-probs: the text of one generated token marked with the probability p it was drawn with,
 * into out (NUL-terminated). ansi: dim (p < 0.2) / normal / bold (p >= 0.8), then a reset; plain:
 * "text[0.42]" (three decimals below 0.01), the mark before a trailing newline. Returns the length. */
static size_t mark_token(const char *text, size_t len, float p, int ansi, char *out, size_t cap) {
    size_t body = len && text[len - 1] == '\n' ? len - 1 : len;
    if (ansi) {
        const char *on = p < 0.2f ? "\033[2m" : p >= 0.8f ? "\033[1m" : "";
        int k = snprintf(out, cap, "%s%.*s%s%s", on, (int)body, text, *on ? "\033[0m" : "", body < len ? "\n" : "");
        return k < 0 ? 0 : (size_t)k >= cap ? cap - 1 : (size_t)k;
    }
    int k = snprintf(out, cap, p < 0.01f ? "%.*s[%.3f]%s" : "%.*s[%.2f]%s", (int)body, text, p, body < len ? "\n" : "");
    return k < 0 ? 0 : (size_t)k >= cap ? cap - 1 : (size_t)k;
}

int cmd_sample(int argc, char **argv) {
    if (cli_image_args(argc, argv, 1)) return cmd_sample_images(argc, argv);   /* image_cmds.c */
    const char *dir = NULL, *prompt = NULL, *prompt_file = NULL;
    int tokens = 500, top_k = 0, num = 1, batch = 0, exact = 0, threads = 0, stats = 0, show_probs = 0;
    float temperature = 1.0f, top_p = 1.0f;
    uint64_t seed = 1337;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int rc = NG_OK;
        if (!strcmp(a, "--prompt")) rc = arg_str(argc, argv, &i, &prompt);
        else if (!strcmp(a, "--prompt-file")) rc = arg_str(argc, argv, &i, &prompt_file);
        else if (!strcmp(a, "--tokens")) rc = arg_int(argc, argv, &i, 0, 100000000, &tokens);
        else if (!strcmp(a, "--temperature")) rc = arg_float(argc, argv, &i, 0, 100, &temperature);
        else if (!strcmp(a, "--top-k")) rc = arg_int(argc, argv, &i, 0, 1 << 30, &top_k);
        else if (!strcmp(a, "--top-p")) rc = arg_float(argc, argv, &i, 0, 1, &top_p);
        else if (!strcmp(a, "--seed")) rc = arg_u64(argc, argv, &i, &seed);
        else if (!strcmp(a, "--num-samples")) rc = arg_int(argc, argv, &i, 1, 65536, &num);
        else if (!strcmp(a, "--threads")) rc = arg_int(argc, argv, &i, 0, 1024, &threads);
        else if (!strcmp(a, "--batch")) batch = 1;
        else if (!strcmp(a, "--stats")) stats = 1;
        else if (!strcmp(a, "--show-probs")) show_probs = 1;
        else if (!strcmp(a, "--exact-context")) exact = 1;
        else if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(); return 0; }
        else if (a[0] == '-' && a[1]) rc = ng_set_error("unknown flag '%s' for sample", a);
        else if (!dir) dir = a;
        else rc = ng_set_error("unexpected argument '%s' (one checkpoint directory)", a);
        if (rc) { fprintf(stderr, "nanogen: %s\n", ng_last_error()); usage(); return 2; }
    }
    if (!dir) { usage(); return 2; }
    if (prompt && prompt_file) return cli_usage_error("--prompt and --prompt-file exclude each other");
    if (cli_parse_only) return 0;   /* the fuzz harness: flags parsed and checked, nothing run */
    cli_set_threads(threads);

    ng_model *m = NULL;
    ng_tokenizer *tok = NULL;
    char *ptext = NULL;
    int32_t *pids = NULL;
    ng_generator *gen = NULL;
    char **outs = NULL;
    size_t *out_len = NULL;
    int code = 1;
    if (ng_checkpoint_load(dir, &m, &tok, NULL)) goto fail;
    if (!tok) { ng_set_error("'%s' is an image model: `nanogen sample` draws text from text models here", dir); goto fail; }
    const int S = batch ? num : 1, rounds = batch ? 1 : num;
    ng_gen_settings gs;
    ng_gen_defaults(&gs);
    gs.temperature = temperature; gs.top_k = top_k; gs.top_p = top_p; gs.seed = seed; gs.exact_context = exact;
    if (!(gen = ng_generator_new(m, tok, S, &gs))) goto fail;
    size_t plen = 0, np = 0, unknown = 0;
    if (prompt_file) { ptext = ng_read_file(prompt_file, &plen); if (!ptext) goto fail; }
    else if (prompt) { ptext = strdup(prompt); plen = strlen(prompt); }
    if (!(pids = ng_generator_encode(gen, ptext, plen, &np, &unknown))) goto fail;
    if (unknown) cli_note_unknown_words(tok, pids, np);
    outs = calloc((size_t)S, sizeof *outs);
    out_len = calloc((size_t)S, sizeof *out_len);
    if (!outs || !out_len) { ng_set_error("out of memory"); goto fail; }
    char buf[256], marked[320];
    const char *no_color = getenv("NO_COLOR");
    const int ansi = show_probs && !batch && isatty(STDOUT_FILENO) && !(no_color && *no_color);
    double t_start = ng_seconds();
    /* the text streams as it is drawn: every token to a terminal; to a pipe or a file at most
     * every 50 ms (a write per token would cost as much as a sixth of a small model's step) */
    const int stream_tty = isatty(STDOUT_FILENO);
    double t_flush = t_start;
    for (int r = 0; r < rounds; r++) {
        if (ng_generator_start(gen, pids, np, r)) goto fail;
        if (rounds > 1 || S > 1) { if (!batch) printf("--- sample %d\n", r + 1); }
        /* the prompt, echoed as the model sees it, then the continuation */
        for (size_t p = 0; ptext && plen && p < np; p++)
            for (int s = 0; s < S; s++) {
                size_t k = ng_generator_text(gen, s, pids[p], buf, sizeof buf);
                if (batch) {
                    char *no = realloc(outs[s], out_len[s] + k + 1);
                    if (!no) { ng_set_error("out of memory"); goto fail; }
                    outs[s] = no; memcpy(outs[s] + out_len[s], buf, k + 1); out_len[s] += k;
                } else fwrite(buf, 1, k, stdout);
            }
        for (int k = 0; k < tokens; k++) {
            const float *probs;
            const int32_t *ids = ng_generator_next(gen, &probs);
            if (!ids) goto fail;
            for (int s = 0; s < S; s++) {
                size_t len = ng_generator_text(gen, s, ids[s], buf, sizeof buf);
                const char *piece = buf;
                if (show_probs) { len = mark_token(buf, len, probs[s], ansi, marked, sizeof marked); piece = marked; }
                if (batch) {
                    char *no = realloc(outs[s], out_len[s] + len + 1);
                    if (!no) { ng_set_error("out of memory"); goto fail; }
                    outs[s] = no; memcpy(outs[s] + out_len[s], piece, len); out_len[s] += len; outs[s][out_len[s]] = 0;
                } else {
                    fwrite(piece, 1, len, stdout);
                    if (stream_tty) fflush(stdout);
                    else if (ng_seconds() - t_flush > 0.05) { fflush(stdout); t_flush = ng_seconds(); }
                }
            }
        }
        if (!batch) printf("\n");
    }
    if (batch)
        for (int s = 0; s < S; s++) printf("--- sample %d\n%s\n", s + 1, outs[s] ? outs[s] : "");
    if (stats) {
        double dt = ng_seconds() - t_start;
        long long total = (long long)num * (tokens + (long long)np);
        fprintf(stderr, "nanogen: %lld tokens (prompt included) in %.3f s: %.0f tok/s\n", total, dt, total / dt);
    }
    code = 0;
    goto out;
fail:
    fprintf(stderr, "nanogen: %s\n", ng_last_error());
out:
    if (outs) for (int s = 0; s < (batch ? num : 1); s++) free(outs[s]);
    free(outs); free(out_len); free(pids); free(ptext);
    ng_generator_free(gen);
    ng_tokenizer_free(tok);
    ng_model_free(m);
    return code;
}

/* sample.c - `nanogen sample DIR`: streams text from a trained text model (the library's
 * generator, src/infer/generate.c), and the one `sample` command: its flags, and the dispatch on
 * the checkpoint's kind (an image model's pictures: image_cmds.c). */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const cli_flagdef def_tokens = {"--tokens", CLI_INT, 0, 100000000, "N", "tokens to generate"};
static const cli_flagdef def_num = {"--num-samples", CLI_INT, 1, 65536, "N", "samples"};
static const cli_flagdef def_batch = {"--batch", CLI_FLAG, 0, 0, NULL, "run the samples as parallel streams and print them at the end"};
static const cli_flagdef def_exact = {"--exact-context", CLI_FLAG, 0, 0, NULL, "recompute the whole window past block_size (no KV-cache shift)"};
static const cli_flagdef def_stats = {"--stats", CLI_FLAG, 0, 0, NULL, "tokens per second on stderr"};
static const cli_flagdef def_probs = {"--show-probs", CLI_FLAG, 0, 0, NULL,
    "mark each token with the probability it was drawn with (terminal: dim < 0.2, bold >= 0.8; piped: token[0.42])"};
static const cli_flagdef def_ncol = {"--ncol", CLI_INT, 1, 1024, "N", "image models: pictures per row"};
static const cli_flagdef def_manifold = {"--manifold", CLI_FLAG, 0, 0, NULL, "image models, 2-D latent: the decoder over a grid of Gaussian quantiles (5%..95%)"};
static const cli_flagdef def_scatter = {"--scatter", CLI_FLAG, 0, 0, NULL,
    "image models: the latent means of the test images by class (PCA to 2-D if wider)"};

static const cli_flagdef def_out_dir = {"--out-dir", CLI_STR, 0, 0, "DIR", "image models (vae, gan): a data set, one PNG a picture (DIR/0000.png ...)"};
static const cli_flagdef def_idx = {"--idx", CLI_STR, 0, 0, "PREFIX", "image models (vae, gan): a data set as IDX, PREFIX-images-idx3-ubyte (grey pictures)"};

static const cli_flag FLAGS[] = {
    CLI_F(cli_def_prompt, cli_sample_opts, prompt, NULL, NULL),
    CLI_F(cli_def_prompt_file, cli_sample_opts, prompt_file, NULL, NULL),
    CLI_F(def_tokens, cli_sample_opts, tokens, "500", NULL),
    CLI_F(cli_def_temperature, cli_sample_opts, temperature, "1", NULL),
    CLI_F(cli_def_top_k, cli_sample_opts, top_k, "0", NULL),
    CLI_F(cli_def_top_p, cli_sample_opts, top_p, "1", NULL),
    CLI_F(cli_def_seed, cli_sample_opts, seed, NULL, "random seed (default 1337 for text, 1 for pictures)"),
    CLI_F(def_num, cli_sample_opts, num, "1", NULL),
    CLI_F(def_batch, cli_sample_opts, batch, NULL, NULL),
    CLI_F(def_exact, cli_sample_opts, exact, NULL, NULL),
    CLI_F(def_stats, cli_sample_opts, stats, NULL, NULL),
    CLI_F(def_probs, cli_sample_opts, show_probs, NULL, NULL),
    CLI_F(cli_def_threads, cli_sample_opts, threads, "0", NULL),
    CLI_F(cli_def_out_file, cli_sample_opts, out, NULL, "image models: the picture to write (.png; --scatter: .svg)"),
    CLI_F(cli_def_data, cli_sample_opts, data, NULL, "image models: the data set whose test images to use (default: the checkpoint's)"),
    CLI_F(cli_def_n, cli_sample_opts, n, NULL, "image models: pictures (64; --manifold: an N x N grid, 20; --scatter: test images, all)"),
    CLI_F(def_ncol, cli_sample_opts, ncol, "8", NULL),
    CLI_F(cli_def_zoom, cli_sample_opts, zoom, NULL, "pixels per picture pixel (2; --manifold: 1)"),
    CLI_F(def_manifold, cli_sample_opts, manifold, NULL, NULL),
    CLI_F(def_scatter, cli_sample_opts, scatter, NULL, NULL),
    CLI_F(def_out_dir, cli_sample_opts, out_dir, NULL, NULL),
    CLI_F(def_idx, cli_sample_opts, idx, NULL, NULL),
    {0}};
static const cli_cmd CMD = {"sample",
    "usage: nanogen sample DIR [--prompt TEXT | --prompt-file F] [--tokens N] [--temperature T[,T...]] [--top-k K] [--top-p P]\n"
    "                          [--seed S] [--num-samples N] [--batch] [--exact-context] [--stats] [--show-probs]   (text model)\n"
    "       nanogen sample DIR --out grid.png [--n 64] [--seed S] [--ncol 8] [--zoom 2]   (image model)\n"
    "       nanogen sample DIR --manifold --out manifold.png [--n 20] [--zoom 1]   (2-D latent)\n"
    "       nanogen sample DIR --scatter --out latents.svg [--n N]\n"
    "       nanogen sample DIR --n 1000 --out-dir gen/ | --idx gen   (a synthetic data set: vae, gan)",
    "  text: temperature 0 is greedy; the same seed gives the same text; several temperatures give\n"
    "  one sample each, labelled. Pictures: vae, gan: samples from the prior z ~ N(0,1); ae, dae: the\n"
    "  first n test images (rounded up to whole rows) as rows originals | noisy (dae) | reconstructions.",
    FLAGS, 1};

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

static int sample_text(const cli_sample_opts *o, float temperature);

int cmd_sample(int argc, char **argv) {
    cli_sample_opts o = {.n = -1, .zoom = -1};
    cli_args a;
    int rc = cli_parse_dir(&CMD, argc, argv, &o, &a);
    if (rc >= 0) return rc;
    o.dir = a.pos[0];
    o.seed_given = cli_given(&CMD, &a, "--seed");
    const int image = o.out || o.manifold || o.scatter || o.out_dir || o.idx;
    if (o.prompt && o.prompt_file) { ng_set_error("--prompt and --prompt-file exclude each other"); return cli_usage_fail("sample"); }
    if (o.manifold && o.scatter) { ng_set_error("--manifold and --scatter exclude each other"); return cli_usage_fail("sample"); }
    if (o.manifold && o.n > 100) { ng_set_error("--manifold --n %d: at most 100 (an n x n grid)", o.n); return cli_usage_fail("sample"); }
    if ((o.out_dir || o.idx) && (o.out || o.manifold || o.scatter || (o.out_dir && o.idx))) {
        ng_set_error("%s writes a data set: it goes with none of --out, --manifold, --scatter%s", o.out_dir ? "--out-dir" : "--idx",
                     o.out_dir && o.idx ? ", --idx" : "");
        return cli_usage_fail("sample");
    }
    if (image && !o.out_dir && !o.idx && cli_check_out(o.out, o.scatter ? ".svg" : ".png")) return cli_usage_fail("sample");
    if (cli_parse_only) return 0;   /* the fuzz harness: flags parsed and checked, nothing run */
    ng_model_kind kind;
    if (ng_checkpoint_kind(o.dir, &kind)) return cli_fail();
    if (!ng_model_kind_is_text(kind)) return cli_sample_images(&o, &CMD, &a);   /* image_cmds.c */
    if (image) {
        ng_set_error("'%s' holds a text model: %s is for image models (train ae|dae|vae|gan)", o.dir,
                     o.manifold ? "--manifold" : o.scatter ? "--scatter" : o.out_dir ? "--out-dir" : o.idx ? "--idx" : "sample --out");
        return cli_fail();
    }
    static const char *const image_only[] = {"--data", "--n", "--ncol", "--zoom"};
    for (int k = 0; k < 4; k++)
        if (cli_given(&CMD, &a, image_only[k])) {
            ng_set_error("%s is for image models: '%s' holds a text model", image_only[k], o.dir);
            return cli_usage_fail("sample");
        }
    cli_set_threads(o.threads);
    if (!o.seed_given) o.seed = 1337;
    for (int k = 0; k < o.temperature.n; k++) {
        if (o.temperature.n > 1) printf("%s--- temperature %g ---\n", k ? "\n" : "", o.temperature.v[k]);
        if ((rc = sample_text(&o, o.temperature.v[k]))) return rc;
        fflush(stdout);
    }
    return 0;
}

/* one run of o's samples at one temperature: the prompt echoed, then the streamed text */
static int sample_text(const cli_sample_opts *o, float temperature) {
    const int batch = o->batch, num = o->num, tokens = o->tokens, show_probs = o->show_probs;
    const char *dir = o->dir, *prompt = o->prompt, *prompt_file = o->prompt_file;
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
    gs.temperature = temperature; gs.top_k = o->top_k; gs.top_p = o->top_p; gs.seed = o->seed; gs.exact_context = o->exact;
    if (!(gen = ng_generator_new(m, tok, S, &gs))) goto fail;
    size_t plen = 0, np = 0, unknown = 0;
    if (prompt_file) { ptext = ng_read_file(prompt_file, &plen); if (!ptext) goto fail; }
    else if (prompt) { ptext = strdup(prompt); plen = strlen(prompt); }
    if (!(pids = ng_generator_encode(gen, ptext, plen, &np, &unknown))) goto fail;
    if (unknown) cli_note_unknown_words(tok, pids, np);
    outs = calloc((size_t)S, sizeof *outs);
    out_len = calloc((size_t)S, sizeof *out_len);
    if (!outs || !out_len) { ng_set_error("out of memory"); goto fail; }
    char buf[4096], marked[4160];   /* a token's text (a bpe token may be long; longer ones are cut at a character) */
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
        for (int s = 0; s < S; s++) {   /* half a character left by the last bpe token */
            size_t k = ng_generator_text_end(gen, s, buf, sizeof buf);
            if (!k) continue;
            if (batch) {
                char *no = realloc(outs[s], out_len[s] + k + 1);
                if (!no) { ng_set_error("out of memory"); goto fail; }
                outs[s] = no; memcpy(outs[s] + out_len[s], buf, k + 1); out_len[s] += k;
            } else fwrite(buf, 1, k, stdout);
        }
        if (!batch) printf("\n");
    }
    if (batch)
        for (int s = 0; s < S; s++) printf("--- sample %d\n%s\n", s + 1, outs[s] ? outs[s] : "");
    if (o->stats) {
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

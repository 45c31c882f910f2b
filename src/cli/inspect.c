/* inspect.c - looking inside a trained text model (char or word level):
 *   nanogen next DIR --prompt TEXT [--top N] [--temperature T ...] [--json]
 *       the N most likely next tokens and their probabilities at one or more temperatures,
 *       with the entropy of each distribution;
 *   nanogen embeddings DIR --out emb.svg [--points N] [--data FILE]
 *       the token embedding table projected to 2-D with PCA, each point labelled with its token;
 *   nanogen attention DIR --prompt TEXT --out attn.png [--layer L|all] [--head H]
 *       the attention weights of a prompt as heat maps, one per head, tokens as axis labels.
 * The numbers come from the library (ng_next_table_compute, ng_embeddings_2d, ng_model_attention,
 * ng_attention_head_summary); this file parses flags, formats tables and lays out the pictures. */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ shared */

/* Load a text model; an image checkpoint is refused with a message naming the command. */
static int load_text_model(const char *dir, const char *cmd, ng_model **m, ng_tokenizer **tok, char **train_json) {
    ng_model_kind kind;
    if (!ng_checkpoint_kind(dir, &kind) && !ng_model_kind_is_text(kind))
        return ng_set_error("'%s' is an image model: `nanogen %s` looks inside text models (gpt, bigram)", dir, cmd);
    return ng_checkpoint_load(dir, m, tok, train_json);
}

/* The prompt (--prompt TEXT or --prompt-file F) as token ids: valid UTF-8, every character in a
 * char vocabulary (the error names the first that is not), at least one token. Word models:
 * words outside the vocabulary read as <unk>, said on stderr. */
static int encode_prompt(const ng_tokenizer *tok, const char *prompt, const char *prompt_file, char **text_out,
                         int32_t **ids, size_t *n) {
    size_t len = 0;
    char *text = prompt_file ? ng_read_file(prompt_file, &len) : strdup(prompt);
    if (!text) return prompt_file ? NG_ERR : ng_set_error("out of memory");
    if (!prompt_file) len = strlen(text);
    if (len == 0) { free(text); return ng_set_error("the prompt is empty: give the text whose continuation to look at"); }
    long long bad = ng_utf8_validate(text, len);
    if (bad >= 0) {
        ng_set_error("the prompt is not valid UTF-8 (bad byte 0x%02X at byte offset %lld)", (unsigned char)text[bad], bad);
        free(text);
        return NG_ERR;
    }
    if (ng_tokenizer_encode(tok, text, len, 0, ids, n, NULL)) {
        ng_set_error("prompt: %s", ng_last_error());
        free(text);
        return NG_ERR;
    }
    if (*n == 0) { free(text); free(*ids); *ids = NULL; return ng_set_error("the prompt gives no tokens"); }
    cli_note_unknown_words(tok, *ids, *n);
    *text_out = text;
    return NG_OK;
}

/* Number of code points of a UTF-8 string. */
static int u8len(const char *s) {
    int n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) n += (*p & 0xC0) != 0x80;
    return n;
}

/* A token as shown in tables and plots: newline as \n (ascii) or ↵, space as _ (ascii) or ␣,
 * tab as \t, other control characters as \xNN, at most max_cp code points (then "…" or "."). */
static void token_label(const char *t, char *buf, size_t cap, int ascii, int max_cp) {
    size_t o = 0;
    int cps = 0;
    buf[0] = 0;
    for (const unsigned char *p = (const unsigned char *)t; *p && o + 8 < cap; p++) {
        if ((*p & 0xC0) != 0x80 && cps == max_cp) {
            const char *ell = ascii ? "." : "\xE2\x80\xA6";
            if (o + strlen(ell) < cap) { strcpy(buf + o, ell); o += strlen(ell); }
            break;
        }
        if (*p == '\n') o += (size_t)snprintf(buf + o, cap - o, "%s", ascii ? "\\n" : "\xE2\x86\xB5");
        else if (*p == ' ') o += (size_t)snprintf(buf + o, cap - o, "%s", ascii ? "_" : "\xE2\x90\xA3");
        else if (*p == '\t') o += (size_t)snprintf(buf + o, cap - o, "\\t");
        else if (*p < 0x20 || *p == 0x7f) o += (size_t)snprintf(buf + o, cap - o, "\\x%02X", *p);
        else buf[o++] = (char)*p;
        if ((*p & 0xC0) != 0x80) cps++;
        buf[o] = 0;
    }
}

static const char *tok_kind_name(const ng_tokenizer *tok) { return ng_tok_kind_name(ng_tokenizer_kind(tok)); }

/* ------------------------------------------------------------------ next */
/* A probability as a percentage in 6 columns: exact zeros as 0.0%, tiny ones as <0.1%. */
static void pct(char *buf, size_t cap, double p) {
    if (p > 0 && p < 0.0005) snprintf(buf, cap, "<0.1%%");
    else snprintf(buf, cap, "%.1f%%", 100 * p);
}

/* x with 7 significant digits, so that JSON shows 0.3791234 rather than 0.37912338972091675. */
static double num7(double x) {
    char b[32];
    snprintf(b, sizeof b, "%.7g", x);
    return strtod(b, NULL);
}

typedef struct { const char *prompt, *prompt_file; int top, json, threads; cli_floats temps; } next_opts;
static const cli_flagdef def_top = {"--top", CLI_INT, 1, 1 << 20, "N", "rows: the N most likely next tokens"};
static const cli_flagdef def_json = {"--json", CLI_FLAG, 0, 0, NULL, "print one JSON object (every row's id, token, logit, probabilities)"};
static const cli_flag NEXT_FLAGS[] = {
    CLI_F(cli_def_prompt, next_opts, prompt, NULL, "the text whose next token to look at"),
    CLI_F(cli_def_prompt_file, next_opts, prompt_file, NULL, NULL),
    CLI_F(def_top, next_opts, top, "10", NULL),
    CLI_F(cli_def_temperature, next_opts, temps, "1", "one column per temperature (0.5 1 2, or 0.5,1,2, or repeated; 0: all on the first row)"),
    CLI_F(def_json, next_opts, json, NULL, NULL),
    CLI_F(cli_def_threads, next_opts, threads, "0", NULL),
    {0}};
static const cli_cmd NEXT = {"next",
    "usage: nanogen next DIR --prompt TEXT | --prompt-file F [--top N] [--temperature T [T ...]] [--json]",
    "  the N most likely next tokens after the prompt with their probabilities, one column per\n"
    "  temperature, and the entropy of each distribution in bits. Low temperatures sharpen the list,\n"
    "  high ones flatten it. A prompt longer than the model's context is cropped to its last\n"
    "  block_size tokens.",
    NEXT_FLAGS, 1};

int cmd_next(int argc, char **argv) {
    next_opts o = {0};
    cli_args a;
    int prc = cli_parse_dir(&NEXT, argc, argv, &o, &a);
    if (prc >= 0) return prc;
    const char *dir = a.pos[0], *prompt = o.prompt, *prompt_file = o.prompt_file;
    const int json = o.json, nt = o.temps.n;
    const float *temps = o.temps.v;
    if (!prompt && !prompt_file) { ng_set_error("next: --prompt TEXT (or --prompt-file F) is required: the text whose next token to look at"); return cli_usage_fail("next"); }
    if (prompt && prompt_file) { ng_set_error("--prompt and --prompt-file exclude each other"); return cli_usage_fail("next"); }
    if (prompt && !*prompt) { ng_set_error("--prompt is empty: give the text whose next token to look at"); return cli_usage_fail("next"); }
    if (cli_parse_only) return 0;   /* the fuzz harness: flags parsed and checked, nothing run */
    cli_set_threads(o.threads);

    ng_model *m = NULL;
    ng_tokenizer *tok = NULL;
    char *text = NULL;
    int32_t *ids = NULL;
    ng_next_table tb = {0};
    int code = 1;
    cJSON *root = NULL;
    if (load_text_model(dir, "next", &m, &tok, NULL)) goto fail;
    size_t n = 0;
    if (encode_prompt(tok, prompt, prompt_file, &text, &ids, &n)) goto fail;
    const ng_model_config *c = ng_model_cfg(m);
    const int gpt = c->kind == NG_MODEL_GPT;
    if (gpt && n > (size_t)c->block_size)
        fprintf(stderr, "nanogen: note: the prompt has %zu tokens; the model sees the last %d (its block_size)\n", n, c->block_size);
    if (ng_next_table_compute(m, ids, n, temps, nt, o.top, &tb)) goto fail;
    const int V = tb.V, ctx = tb.ctx, top = tb.top, *order = tb.order;
    const float *logits = tb.logits, *probs = tb.probs;
    const double *H = tb.entropy, *other = tb.other;
    if (json) {
        root = cJSON_CreateObject();
        cJSON_AddStringToObject(root, "model", ng_model_kind_name(c->kind));
        cJSON_AddStringToObject(root, "tokenizer", tok_kind_name(tok));
        cJSON_AddNumberToObject(root, "vocab_size", V);
        cJSON_AddNumberToObject(root, "block_size", c->block_size);
        cJSON_AddStringToObject(root, "prompt", text);
        cJSON_AddNumberToObject(root, "prompt_tokens", (double)n);
        cJSON_AddNumberToObject(root, "context_tokens", ctx);
        cJSON *jt = cJSON_AddArrayToObject(root, "temperatures"), *je = cJSON_AddArrayToObject(root, "entropy_bits");
        cJSON *jo = cJSON_AddArrayToObject(root, "other");
        for (int k = 0; k < nt; k++) {
            cJSON_AddItemToArray(jt, cJSON_CreateNumber(num7(temps[k])));
            cJSON_AddItemToArray(je, cJSON_CreateNumber(num7(H[k])));
            cJSON_AddItemToArray(jo, cJSON_CreateNumber(num7(other[k])));
        }
        cJSON *arr = cJSON_AddArrayToObject(root, "top");
        for (int r = 0; r < top; r++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "rank", r + 1);
            cJSON_AddNumberToObject(e, "id", order[r]);
            cJSON_AddStringToObject(e, "token", ng_tokenizer_token(tok, order[r]));
            cJSON_AddNumberToObject(e, "logit", num7(logits[order[r]]));
            cJSON *pp = cJSON_AddArrayToObject(e, "probs");
            for (int k = 0; k < nt; k++) cJSON_AddItemToArray(pp, cJSON_CreateNumber(num7(probs[(size_t)k * V + order[r]])));
            cJSON_AddItemToArray(arr, e);
        }
        char *s = cJSON_Print(root);
        if (!s) { ng_set_error("out of memory (JSON)"); goto fail; }
        printf("%s\n", s);
        free(s);
    } else {
        /* header: the end of the prompt as the model sees it */
        char shown[256] = "", lab[64];
        int from = n > 40 ? (int)n - 40 : 0;
        size_t o = 0;
        for (size_t i = from; i < n && o < sizeof shown - 64; i++) {
            const char *t = ng_tokenizer_token(tok, ids[i]);
            if (ng_tokenizer_kind(tok) == NG_TOK_WORD && i > (size_t)from && o + 1 < sizeof shown) shown[o++] = ' ';
            if (!strcmp(t, "\n")) o += (size_t)snprintf(shown + o, sizeof shown - o, "\\n");
            else o += (size_t)snprintf(shown + o, sizeof shown - o, "%s", t);
        }
        printf("next token after \"%s%s\"\n", from > 0 ? "..." : "", shown);
        printf("(%s, %s-level, vocab %d; %d token%s of context%s)\n\n", ng_model_kind_name(c->kind), tok_kind_name(tok), V, ctx,
               ctx == 1 ? "" : "s", gpt ? "" : ": a bigram sees only the last token");
        int tw = 10;   /* wide enough for "(other NN)" and, with the rank, the summary rows */
        for (int r = 0; r < top; r++) {
            token_label(ng_tokenizer_token(tok, order[r]), lab, sizeof lab, 0, 20);
            if (u8len(lab) > tw) tw = u8len(lab);
        }
        printf("rank  %-*s", tw, "token");
        char h[32];
        for (int k = 0; k < nt; k++) { snprintf(h, sizeof h, "T=%g", temps[k]); printf("  %7s", h); }
        printf("\n");
        for (int r = 0; r < top; r++) {
            token_label(ng_tokenizer_token(tok, order[r]), lab, sizeof lab, 0, 20);
            printf("%4d  %s%*s", r + 1, lab, tw - u8len(lab), "");
            for (int k = 0; k < nt; k++) { pct(h, sizeof h, probs[(size_t)k * V + order[r]]); printf("  %7s", h); }
            if (nt == 1) {   /* a bar: 30 columns = probability 1, in eighths of a column */
                static const char *const part[8] = {"", "\xE2\x96\x8F", "\xE2\x96\x8E", "\xE2\x96\x8D", "\xE2\x96\x8C",
                                                    "\xE2\x96\x8B", "\xE2\x96\x8A", "\xE2\x96\x89"};
                int eighths = (int)lround(probs[order[r]] * 30 * 8);
                printf("  ");
                for (int b = 0; b < eighths / 8; b++) printf("\xE2\x96\x88");
                printf("%s", part[eighths % 8]);
            }
            printf("\n");
        }
        if (top < V) {
            snprintf(lab, sizeof lab, "(other %d)", V - top);
            printf("      %-*s", tw, lab);   /* tokens are few beyond 10^6: the label fits */
            for (int k = 0; k < nt; k++) { pct(h, sizeof h, other[k]); printf("  %7s", h); }
            printf("\n");
        }
        printf("%-*s", tw + 6, "entropy (bits)");
        for (int k = 0; k < nt; k++) printf("  %7.2f", H[k]);
        printf("\n%-*s", tw + 6, "~ choices (2^H)");
        for (int k = 0; k < nt; k++) printf("  %7.1f", pow(2, H[k]));
        printf("\n");
    }
    code = 0;
    goto out;
fail:
    fprintf(stderr, "nanogen: %s\n", ng_last_error());
out:
    cJSON_Delete(root);
    ng_next_table_free(&tb);
    free(ids); free(text);
    ng_tokenizer_free(tok);
    ng_model_free(m);
    return code;
}

/* ------------------------------------------------------------------ embeddings */
typedef struct { const char *out, *data; int points, threads; } emb_opts;
static const cli_flagdef def_points = {"--points", CLI_INT, 2, 2000, "N", "tokens to show"};
static const cli_flag EMB_FLAGS[] = {
    CLI_F(cli_def_out_file, emb_opts, out, NULL, "the chart to write (.svg)"),
    CLI_F(def_points, emb_opts, points, "100", NULL),
    CLI_F(cli_def_data, emb_opts, data, NULL, "a text: show its N most frequent tokens"),
    CLI_F(cli_def_threads, emb_opts, threads, "0", NULL),
    {0}};
static const cli_cmd EMB = {"embeddings", "usage: nanogen embeddings DIR --out emb.svg [--tokens N] [--data FILE]",
    "  the token embedding table (gpt: wte; bigram: the rows of its logit table) projected to\n"
    "  2-D by PCA (computed over the tokens shown), one labelled point per token, coloured by\n"
    "  kind (vowels, consonants, capitals, other scripts' letters, digits, punctuation, spaces;\n"
    "  accented letters are the vowels or consonants of their base letter). A word model shows\n"
    "  its N most frequent words; a char model all its tokens when they fit, else its N most\n"
    "  frequent in the training text its checkpoint names (else, with no text to count in,\n"
    "  letters first: a à á â ã b c ç ...).",
    EMB_FLAGS, 1};

int cmd_embeddings(int argc, char **argv) {
    emb_opts o = {0};
    cli_args a;
    int prc = cli_parse_dir(&EMB, argc, argv, &o, &a);
    if (prc >= 0) return prc;
    const char *dir = a.pos[0], *out = o.out, *data = o.data;
    const int N = o.points;
    if (cli_check_out(out, ".svg")) return cli_usage_fail("embeddings");
    if (cli_parse_only) return 0;   /* the fuzz harness: flags parsed and checked, nothing run */
    cli_set_threads(o.threads);

    ng_model *m = NULL;
    ng_tokenizer *tok = NULL;
    char *state = NULL, *train_data = NULL;
    int32_t *data_ids = NULL;
    size_t nd = 0;
    int code = 1, n = 0;
    char **labels = NULL;
    ng_embeddings_view v = {0};
    if (load_text_model(dir, "embeddings", &m, &tok, &state)) goto fail;
    const ng_model_config *c = ng_model_cfg(m);
    const int V = c->vocab_size, word = ng_tokenizer_kind(tok) == NG_TOK_WORD;
    /* the text to count tokens in: --data FILE, else a char model's training text (the path its
     * checkpoint names) when its vocabulary does not fit */
    if (!data && !word && V > N && state) {
        cJSON *st = cJSON_Parse(state);
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(st, "data");
        if (cJSON_IsString(d) && d->valuestring[0] && !(train_data = strdup(d->valuestring))) { cJSON_Delete(st); ng_set_error("out of memory"); goto fail; }
        cJSON_Delete(st);
    }
    if (train_data && !(data_ids = cli_encode_file(train_data, tok, 1, &nd)))
        fprintf(stderr, "nanogen: note: the training text cannot be counted (%s)\n", ng_last_error());
    if (data && !(data_ids = cli_encode_file(data, tok, 1, &nd))) goto fail;
    if (ng_embeddings_2d(m, tok, data_ids, nd, N, &v)) goto fail;
    n = v.n;
    const int D = v.dim;
    const char *chosen = v.order == NG_EMB_BY_COUNT ? (data ? "the most frequent in the data" : "the most frequent in the training data")
                       : v.order == NG_EMB_WORDS ? "the most frequent words" : v.order == NG_EMB_ALL ? "every token"
                       : "letters first, accents beside their letter";
    if (v.order == NG_EMB_LETTERS_FIRST)
        fprintf(stderr, "nanogen: note: showing %d of %d tokens, letters first (a à á â ã b c ç ...), with no text to count "
                        "them in; --data FILE shows the most frequent\n", n, V);
    labels = calloc((size_t)n, sizeof *labels);
    if (!labels) { ng_set_error("out of memory"); goto fail; }
    for (int i = 0; i < n; i++) {
        char lab[64];
        token_label(ng_tokenizer_token(tok, v.ids[i]), lab, sizeof lab, 0, 16);
        if (!(labels[i] = strdup(lab))) { ng_set_error("out of memory"); goto fail; }
    }
    char title[256], sub[256];
    snprintf(title, sizeof title, "%s: %s, PCA to 2-D", dir, c->kind == NG_MODEL_GPT ? "token embeddings (wte)" : "bigram logit table rows");
    snprintf(sub, sizeof sub, "%d of %d %s-level tokens (%s), %d-D; nearby points: tokens the model treats alike",
             n, V, tok_kind_name(tok), chosen, D);
    if (ng_embeddings_svg(out, &v, (const char *const *)labels, word, title, sub)) goto fail;
    const double *ex = v.explained;
    printf("%s: %d %s-level tokens of a %d-D %s, PCA to 2-D: PC1 %.1f%%, PC2 %.1f%% of the variance -> %s\n",
           ng_model_kind_name(c->kind), n, tok_kind_name(tok), D, c->kind == NG_MODEL_GPT ? "embedding table (wte)" : "logit table",
           100 * ex[0], 100 * ex[1], out);
    code = 0;
    goto out;
fail:
    fprintf(stderr, "nanogen: %s\n", ng_last_error());
out:
    if (labels) for (int i = 0; i < n; i++) free(labels[i]);
    free(labels);
    ng_embeddings_view_free(&v);
    free(data_ids);
    free(state); free(train_data);
    ng_tokenizer_free(tok);
    ng_model_free(m);
    return code;
}

/* ------------------------------------------------------------------ attention */

typedef struct { const char *prompt, *prompt_file, *out, *layer; int head, threads; } att_opts;
static const cli_flagdef def_layer = {"--layer", CLI_STR, 0, 0, "L|all", "the layer (0, 1, ...) or every layer"};
static const cli_flagdef def_head = {"--head", CLI_INT, 0, 1 << 20, "H", "one head (default: every head)"};
static const cli_flag ATT_FLAGS[] = {
    CLI_F(cli_def_prompt, att_opts, prompt, NULL, "the tokens whose attention to show"),
    CLI_F(cli_def_prompt_file, att_opts, prompt_file, NULL, NULL),
    CLI_F(cli_def_out_file, att_opts, out, NULL, "the picture to write (.png)"),
    CLI_F(def_layer, att_opts, layer, "0", NULL),
    CLI_F(def_head, att_opts, head, NULL, NULL),
    CLI_F(cli_def_threads, att_opts, threads, "0", NULL),
    {0}};
static const cli_cmd ATT = {"attention",
    "usage: nanogen attention DIR --prompt TEXT | --prompt-file F --out attn.png [--layer L|all] [--head H]",
    "  the attention weights of the prompt as heat maps, one per head: row i = the token at\n"
    "  position i, column j = how much it attends to position j (each row sums to 1; the grey\n"
    "  triangle above the diagonal is masked: a token sees only itself and earlier tokens).\n"
    "  A prompt longer than block_size is cropped to its last block_size tokens. Also prints, per\n"
    "  head, the mean weight on the token itself, the previous token and the first token, and the\n"
    "  mean distance attended back.",
    ATT_FLAGS, 1};

int cmd_attention(int argc, char **argv) {
    att_opts opt = {.head = -1};
    cli_args a;
    int prc = cli_parse_dir(&ATT, argc, argv, &opt, &a);
    if (prc >= 0) return prc;
    const char *dir = a.pos[0], *prompt = opt.prompt, *prompt_file = opt.prompt_file, *out = opt.out, *layer_s = opt.layer;
    const int head = opt.head;
    if (!prompt && !prompt_file) return cli_usage_error("attention", "attention: --prompt TEXT (or --prompt-file F) is required: the tokens whose attention to show");
    if (prompt && prompt_file) return cli_usage_error("attention", "--prompt and --prompt-file exclude each other");
    if (prompt && !*prompt) return cli_usage_error("attention", "--prompt is empty: give the tokens whose attention to show");
    int layer = 0, all_layers = 0;
    if (layer_s) {
        char *end;
        long v = strtol(layer_s, &end, 10);
        if (!strcmp(layer_s, "all")) all_layers = 1;
        else if (end == layer_s || *end || v < 0 || v > (1 << 20))
            return cli_usage_error("attention", "--layer: '%s' is not a layer number (0, 1, ...) or 'all'", layer_s);
        else layer = (int)v;
    }
    if (cli_check_out(out, ".png")) return cli_usage_error("attention", "%s", ng_last_error());
    if (cli_parse_only) return 0;   /* the fuzz harness: flags parsed and checked, nothing run */
    cli_set_threads(opt.threads);

    ng_model *m = NULL;
    ng_tokenizer *tok = NULL;
    char *text = NULL;
    int32_t *ids = NULL;
    float *att = NULL;
    char **labels = NULL;
    int code = 1, n = 0;
    if (load_text_model(dir, "attention", &m, &tok, NULL)) goto fail;
    const ng_model_config *c = ng_model_cfg(m);
    if (c->kind != NG_MODEL_GPT) {
        ng_set_error("'%s' is a %s model: it has no attention (its next token depends only on the last one, through a table); `nanogen next` works on it",
                     dir, ng_model_kind_name(c->kind));
        goto fail;
    }
    const int L = c->n_layer, H = c->n_head;
    if (layer >= L) { code = cli_usage_error("attention", "--layer %d is out of range: the model has %d layer%s (0..%d)", layer, L, L == 1 ? "" : "s", L - 1); goto out; }
    if (head >= H) { code = cli_usage_error("attention", "--head %d is out of range: the model has %d head%s per layer (0..%d)", head, H, H == 1 ? "" : "s", H - 1); goto out; }
    size_t np = 0;
    if (encode_prompt(tok, prompt, prompt_file, &text, &ids, &np)) goto fail;
    n = np > (size_t)c->block_size ? c->block_size : (int)np;
    if (np > (size_t)n) fprintf(stderr, "nanogen: note: the prompt has %zu tokens; showing the last %d (the model's block_size)\n", np, n);
    const int32_t *seq = ids + (np - n);
    att = malloc(sizeof(float) * (size_t)L * H * n * n);
    labels = calloc((size_t)n, sizeof *labels);
    if (!att || !labels) { ng_set_error("out of memory"); goto fail; }
    if (ng_model_attention(m, seq, n, att, NULL)) goto fail;

    /* which maps: rows of panels (layers) x columns (heads) */
    const int l0 = all_layers ? 0 : layer, l1 = all_layers ? L : layer + 1;
    const int h0 = head >= 0 ? head : 0, h1 = head >= 0 ? head + 1 : H;
    /* per-head summary on stdout */
    char which[64];
    if (all_layers) snprintf(which, sizeof which, "all %d layers", L);
    else snprintf(which, sizeof which, "layer %d of %d", layer, L);
    printf("attention of %s (%s-level), %d tokens, %s:\n", dir, tok_kind_name(tok), n, which);
    for (int l = l0; l < l1; l++)
        for (int h = h0; h < h1; h++) {
            const float *a = att + ((size_t)l * H + h) * n * n;
            double sm[4];
            ng_attention_head_summary(a, n, sm);
            printf("  layer %d head %d: self %.2f  previous %.2f  first %.2f  mean distance back %.1f tokens\n", l, h,
                   sm[0], sm[1], sm[2], sm[3]);
        }

    const int one_glyph = ng_tokenizer_kind(tok) == NG_TOK_CHAR;   /* column labels upright, else rotated */
    const char **texts = calloc((size_t)n, sizeof *texts);
    if (!texts) { ng_set_error("out of memory"); goto fail; }
    for (int i = 0; i < n; i++) {
        char lab[64];
        texts[i] = ng_tokenizer_token(tok, seq[i]);
        token_label(texts[i], lab, sizeof lab, 1, 12);
        if (!(labels[i] = strdup(lab))) { free(texts); ng_set_error("out of memory"); goto fail; }
    }
    /* title: the prompt as the model sees it (cropped) */
    char head_s[512], ptext[200], sub1[256];
    size_t o = 0;
    for (int i = 0; i < n && o < sizeof ptext - 16; i++) {
        if (ng_tokenizer_kind(tok) == NG_TOK_WORD && i) ptext[o++] = ' ';
        o += (size_t)snprintf(ptext + o, sizeof ptext - o, "%s", !strcmp(texts[i], "\n") ? "\\n" : texts[i]);
    }
    ptext[o < sizeof ptext ? o : sizeof ptext - 1] = 0;
    if (o > 60) strcpy(ptext + 57, "...");
    snprintf(head_s, sizeof head_s, "attention: \"%s\"", ptext);
    snprintf(sub1, sizeof sub1, "%s, %s-level, %d tokens, %s", dir, tok_kind_name(tok), n, which);
    ng_attention_plot ap = {.att = att, .n_layer = L, .n_head = H, .n = n, .l0 = l0, .l1 = l1, .h0 = h0, .h1 = h1,
                            .tokens = texts, .labels = (const char *const *)labels, .upright = one_glyph, .title = head_s, .subtitle = sub1};
    int pw = 0, ph = 0, wrc = ng_attention_png(out, &ap, &pw, &ph);
    free(texts);
    if (wrc) goto fail;
    printf("-> %s (%dx%d)\n", out, pw, ph);
    code = 0;
    goto out;
fail:
    fprintf(stderr, "nanogen: %s\n", ng_last_error());
out:
    if (labels) for (int i = 0; i < n; i++) free(labels[i]);
    free(labels); free(att); free(ids); free(text);
    ng_tokenizer_free(tok);
    ng_model_free(m);
    return code;
}


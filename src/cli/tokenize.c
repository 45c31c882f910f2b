/* tokenize.c - `nanogen tokenize`: a tokenizer (a checkpoint's, GPT-2's from its files, or one
 * built from --data) on standard input: the ids (--ids), the text of ids (--decode), or a
 * readable view of the tokens. The tokenizers are the library's (src/data/). */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *kind, *vocab, *merges, *data;
    int vocab_size, ids, decode;
} tok_opts;

static const cli_flagdef def_kind = {"--tokenizer", CLI_STR, 0, 0, "gpt2|bpe|char|word",
                                     "gpt2: GPT-2's (--vocab, --merges); bpe, char, word: built from --data"},
    def_vocab = {"--vocab", CLI_STR, 0, 0, "FILE", "GPT-2's encoder.json or vocab.json"},
    def_merges = {"--merges", CLI_STR, 0, 0, "FILE", "GPT-2's vocab.bpe or merges.txt"},
    def_vsize = {"--vocab-size", CLI_INT, 2, 1 << 22, "N", "bpe: the vocabulary's size; word: the words kept (8192)"},
    def_ids = {"--ids", CLI_FLAG, 0, 0, NULL, "print the token ids of the text, on one line"},
    def_decode = {"--decode", CLI_FLAG, 0, 0, NULL, "read token ids and print their text"};
static const cli_flag FLAGS[] = {
    CLI_F(def_kind, tok_opts, kind, NULL, NULL),
    CLI_F(def_vocab, tok_opts, vocab, NULL, NULL),
    CLI_F(def_merges, tok_opts, merges, NULL, NULL),
    CLI_F(cli_def_data, tok_opts, data, NULL, "the text to build a bpe, char or word tokenizer from"),
    CLI_F(def_vsize, tok_opts, vocab_size, NULL, NULL),
    CLI_F(def_ids, tok_opts, ids, NULL, NULL),
    CLI_F(def_decode, tok_opts, decode, NULL, NULL),
    {0}};
static const cli_cmd CMD = {"tokenize",
    "usage: nanogen tokenize DIR [--ids | --decode] < TEXT   (a checkpoint's tokenizer)\n"
    "       nanogen tokenize --tokenizer gpt2 --vocab encoder.json --merges vocab.bpe [--ids | --decode]\n"
    "       nanogen tokenize --tokenizer bpe|char|word --data FILE [--vocab-size N] [--ids | --decode]",
    "  Reads standard input. --ids: its token ids; --decode: ids (separated by spaces or newlines) back to\n"
    "  text; neither: the vocabulary size, the text cut into tokens (|), the token count and bytes per token.",
    FLAGS, 1};

/* The tokenizer the flags name (NULL + error). */
static ng_tokenizer *open_tokenizer(const tok_opts *o, const char *dir) {
    if (dir) {
        ng_model *m = NULL;
        ng_tokenizer *tok = NULL;
        if (ng_checkpoint_load(dir, &m, &tok, NULL)) return NULL;
        ng_model_free(m);
        if (!tok) ng_set_error("'%s' is an image model: it has no tokenizer", dir);
        return tok;
    }
    if (!strcmp(o->kind, "gpt2")) return ng_tokenizer_load_gpt2(o->vocab, o->merges);
    size_t len = 0;
    char *text = ng_read_file(o->data, &len);
    if (!text) return NULL;
    ng_tok_kind k = !strcmp(o->kind, "bpe") ? NG_TOK_BPE : !strcmp(o->kind, "word") ? NG_TOK_WORD : NG_TOK_CHAR;
    ng_tokenizer *t = ng_tokenizer_build(k, text, len, o->vocab_size);
    if (!t) ng_set_error("'%s': %s", o->data, ng_last_error());
    free(text);
    return t;
}

/* A token's text, readable on one line: \n, \r, \t and the separator | escaped (a bpe token's
 * stray bytes come as \xNN from the library). */
static void put_token(const char *s) {
    for (; *s; s++) {
        if (*s == '\n') fputs("\\n", stdout);
        else if (*s == '\r') fputs("\\r", stdout);
        else if (*s == '\t') fputs("\\t", stdout);
        else if (*s == '|') fputs("\\|", stdout);
        else putchar(*s);
    }
}

/* --decode: the ids on standard input, as text (exit code). */
static int decode_ids(const ng_tokenizer *t, const char *in, size_t len) {
    size_t n = 0, cap = 1024;
    int32_t *ids = malloc(cap * sizeof *ids);
    if (!ids) { ng_set_error("out of memory"); return cli_fail(); }
    const int V = ng_tokenizer_vocab_size(t);
    for (size_t i = 0; i < len;) {
        if (strchr(" \t\r\n,", in[i])) { i++; continue; }
        size_t j = i;
        while (j < len && !strchr(" \t\r\n,", in[j])) j++;
        char word[32];
        snprintf(word, sizeof word, "%.*s", (int)(j - i < 24 ? j - i : 24), in + i);
        char *end;
        long long v = strtoll(word, &end, 10);
        if (*end || j - i > 20 || end == word) {
            free(ids);
            ng_set_error("standard input: '%s%s' (token %zu) is not a token id", word, j - i > 24 ? "..." : "", n + 1);
            return cli_fail();
        }
        if (v < 0 || v >= V) {
            free(ids);
            ng_set_error("standard input: id %lld (token %zu) is not in the vocabulary (%d tokens: 0..%d)", v, n + 1, V, V - 1);
            return cli_fail();
        }
        if (n == cap) {
            int32_t *ni = realloc(ids, 2 * cap * sizeof *ni);
            if (!ni) { free(ids); ng_set_error("out of memory"); return cli_fail(); }
            ids = ni;
            cap *= 2;
        }
        ids[n++] = (int32_t)v;
        i = j;
    }
    size_t out_len = 0;
    char *text = ng_tokenizer_decode_bytes(t, ids, n, &out_len);
    free(ids);
    if (!text) return cli_fail();
    fwrite(text, 1, out_len, stdout);
    free(text);
    return 0;
}

int cmd_tokenize(int argc, char **argv) {
    tok_opts o = {0};
    cli_args a;
    int rc = cli_parse(&CMD, argc, argv, &o, &a);
    if (rc) return rc == 1 ? 0 : rc;
    const char *dir = a.npos ? a.pos[0] : NULL;
    const int gpt2 = o.kind && !strcmp(o.kind, "gpt2"), built = o.kind && !gpt2;
    if (o.kind && !gpt2 && strcmp(o.kind, "bpe") && strcmp(o.kind, "char") && strcmp(o.kind, "word"))
        return cli_usage_error("tokenize", "--tokenizer: '%s' is not gpt2, bpe, char or word", o.kind);
    if (dir && o.kind) return cli_usage_error("tokenize", "give a checkpoint DIR or --tokenizer, not both");
    if (!dir && !o.kind) return cli_usage_error("tokenize", "which tokenizer? a checkpoint DIR, or --tokenizer gpt2|bpe|char|word");
    if (gpt2 && (!o.vocab || !o.merges)) return cli_usage_error("tokenize", "--tokenizer gpt2 needs --vocab FILE and --merges FILE");
    if (!gpt2 && (o.vocab || o.merges)) return cli_usage_error("tokenize", "--vocab and --merges are for --tokenizer gpt2");
    if (built && !o.data) return cli_usage_error("tokenize", "--tokenizer %s needs --data FILE (the text to build it from)", o.kind);
    if (!built && o.data) return cli_usage_error("tokenize", "--data is for --tokenizer bpe, char or word");
    if (o.vocab_size && !(built && strcmp(o.kind, "char")))
        return cli_usage_error("tokenize", "--vocab-size is for --tokenizer bpe or word");
    if (o.ids && o.decode) return cli_usage_error("tokenize", "--ids and --decode exclude each other");
    if (cli_parse_only) return 0;   /* the fuzz harness: flags parsed and checked, nothing run */
    ng_tokenizer *t = open_tokenizer(&o, dir);
    if (!t) return cli_fail();
    size_t len = 0;
    char *in = ng_read_file("/dev/stdin", &len);
    if (!in) { ng_tokenizer_free(t); return cli_fail(); }
    int code = 0;
    if (o.decode) code = decode_ids(t, in, len);
    else {
        int32_t *ids = NULL;
        size_t n = 0;
        if (ng_tokenizer_encode(t, in, len, 0, &ids, &n, NULL)) {
            ng_set_error("standard input: %s", ng_last_error());
            code = cli_fail();
        } else if (o.ids) {
            for (size_t i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
            printf("\n");
        } else {
            printf("tokenizer: %s, %d tokens\n", ng_tok_kind_name(ng_tokenizer_kind(t)), ng_tokenizer_vocab_size(t));
            for (size_t i = 0; i < n; i++) {
                if (i) putchar('|');
                put_token(ng_tokenizer_token(t, ids[i]));
            }
            printf("\n%zu tokens, %zu bytes: %.2f bytes per token\n", n, len, n ? (double)len / n : 0.0);
        }
        free(ids);
    }
    free(in);
    ng_tokenizer_free(t);
    return code;
}

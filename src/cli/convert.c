/* convert.c - `nanogen import` and `nanogen export`: a GPT from or to Hugging Face's GPT-2 and
 * nanoGPT layouts. The conversion is the library's (src/io/convert.c: ng_model_import,
 * ng_model_export); this reads flags, loads or saves the checkpoint and prints. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    const char *format, *out, *vocab, *merges, *chars;
    int n_head, force;
} convert_opts;

static const cli_flagdef
    def_format = {"--format", CLI_STR, 0, 0, "hf-gpt2|nanogpt", "the layout: a Hugging Face GPT2LMHeadModel directory, or nanoGPT's state_dict as safetensors"},
    def_vocab = {"--vocab", CLI_STR, 0, 0, "FILE", "GPT-2's vocab.json (with --merges)"},
    def_merges = {"--merges", CLI_STR, 0, 0, "FILE", "GPT-2's merges.txt (with --vocab)"},
    def_chars = {"--chars", CLI_STR, 0, 0, "FILE", "a char model's vocabulary: the sorted characters of FILE (nanoGPT's char models: their training text)"};
static const cli_flag IMPORT_FLAGS[] = {
    CLI_F(def_format, convert_opts, format, NULL, NULL),
    CLI_F(cli_def_out_dir, convert_opts, out, NULL, NULL),
    CLI_F(def_vocab, convert_opts, vocab, NULL, NULL),
    CLI_F(def_merges, convert_opts, merges, NULL, NULL),
    CLI_F(def_chars, convert_opts, chars, NULL, NULL),
    CLI_F(cli_def_n_head, convert_opts, n_head, NULL, "attention heads, when no config.json gives n_head"),
    CLI_F(cli_def_force, convert_opts, force, NULL, NULL),
    {0}};
static const cli_cmd IMPORT = {"import",
    "usage: nanogen import DIR|FILE.safetensors --format hf-gpt2|nanogpt --out DIR [--vocab F --merges F | --chars F] [--n-head H]",
    "  a GPT from a Hugging Face GPT-2 directory or a nanoGPT model saved as safetensors, as a nanogen checkpoint\n"
    "  (pickles, .pt / .bin, are refused: see README \"Import and export\")",
    IMPORT_FLAGS, 1};
static const cli_flag EXPORT_FLAGS[] = {
    CLI_F(def_format, convert_opts, format, NULL, NULL),
    CLI_F(cli_def_out_dir, convert_opts, out, NULL, "where the exported files go (existing files there are replaced)"),
    {0}};
static const cli_cmd EXPORT = {"export", "usage: nanogen export DIR --format hf-gpt2|nanogpt --out D",
    "  a GPT checkpoint as model.safetensors + config.json + tokenizer files in the layout of Hugging Face's GPT-2 or nanoGPT",
    EXPORT_FLAGS, 1};

static void print_note(const char *msg, void *ctx) {
    (void)ctx;
    fprintf(stderr, "nanogen: note: %s\n", msg);
}

int cmd_import(int argc, char **argv) {
    convert_opts o = {0};
    cli_args a;
    int rc = cli_parse_dir(&IMPORT, argc, argv, &o, &a);
    if (rc >= 0) return rc;
    ng_convert_settings s = {.vocab = o.vocab, .merges = o.merges, .chars = o.chars, .n_head = o.n_head, .note = print_note};
    if (!o.format) return cli_usage_error("import", "--format hf-gpt2|nanogpt is required");
    if (ng_model_format_parse(o.format, &s.format)) return cli_usage_fail("import");
    if (!o.out) return cli_usage_error("import", "--out DIR is required (where the checkpoint goes)");
    if (cli_parse_only) return 0;
    char *mp = ng_checkpoint_model_path(o.out);
    struct stat st;
    const int exists = mp && stat(mp, &st) == 0;
    free(mp);
    if (exists && !o.force) {
        ng_set_error("'%s' already holds a checkpoint: pass --force to overwrite it", o.out);
        return cli_fail();
    }
    ng_model *m = NULL;
    ng_tokenizer *tok = NULL;
    if (ng_model_import(a.pos[0], &s, &m, &tok) || ng_checkpoint_save(o.out, m, tok, NULL, NULL)) {
        ng_model_free(m);
        ng_tokenizer_free(tok);
        return cli_fail();
    }
    char d[256];
    ng_model_describe(m, d, sizeof d);
    printf("imported %s (%s): gpt, %lld parameters, vocab %d; %s\n-> %s/model.safetensors\n", a.pos[0], o.format,
           (long long)ng_params_numel(ng_model_params(m)), ng_model_cfg(m)->vocab_size, d, o.out);
    ng_model_free(m);
    ng_tokenizer_free(tok);
    return 0;
}

int cmd_export(int argc, char **argv) {
    convert_opts o = {0};
    cli_args a;
    int rc = cli_parse_dir(&EXPORT, argc, argv, &o, &a);
    if (rc >= 0) return rc;
    ng_convert_settings s = {.note = print_note};
    if (!o.format) return cli_usage_error("export", "--format hf-gpt2|nanogpt is required");
    if (ng_model_format_parse(o.format, &s.format)) return cli_usage_fail("export");
    if (!o.out) return cli_usage_error("export", "--out D is required (where the files go)");
    if (cli_parse_only) return 0;
    ng_model *m = NULL;
    ng_tokenizer *tok = NULL;
    if (ng_checkpoint_load(a.pos[0], &m, &tok, NULL) || ng_model_export(o.out, m, tok, s.format, &s)) {
        ng_model_free(m);
        ng_tokenizer_free(tok);
        return cli_fail();
    }
    printf("exported %s as %s -> %s (model.safetensors, config.json, tokenizer)\n", a.pos[0], o.format, o.out);
    ng_model_free(m);
    ng_tokenizer_free(tok);
    return 0;
}

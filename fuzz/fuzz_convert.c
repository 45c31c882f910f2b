/* fuzz_convert.c - any bytes as a model to import (src/io/convert.c, `nanogen import`): byte 0
 * picks the layout (bit 0: hf-gpt2 / nanogpt) and whether --n-head 2 is given (bit 1), bytes
 * 1-2 (little-endian) the length of config.json, which follows; the rest is model.safetensors.
 * The tokenizer is a fixed char vocabulary (--chars). An import either fails with a message or
 * gives a GPT whose config is valid, whose tokenizer matches it and which computes logits; that
 * model exported in the same layout imports back with the same tensors and config. */
#include "fuzz.h"

static const char CHARS[] = "abcdefgh ij\n";   /* 12 tokens */

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    ng_set_threads(1);
    return 0;
}

static void drop_export(const char *dir) {
    static const char *const files[] = {"model.safetensors", "config.json", "nanogen_tokenizer.json", "vocab.json", "merges.txt"};
    char p[512];
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
}

/* export m in layout s->format, import it back: the same tensors and config */
static void round_trip(ng_model *m, const ng_tokenizer *tok, const ng_convert_settings *s) {
    char dir[320];
    snprintf(dir, sizeof dir, "%s/export", fz_dir());
    ng_convert_settings back = {.format = s->format};
    FZ_CHECK(ng_model_export(dir, m, tok, s->format, NULL) == NG_OK, "export: %s", ng_last_error());
    ng_model *m2 = NULL;
    ng_tokenizer *t2 = NULL;
    FZ_CHECK(ng_model_import(dir, &back, &m2, &t2) == NG_OK, "import of the export: %s", ng_last_error());
    const ng_model_config *a = ng_model_cfg(m), *b = ng_model_cfg(m2);
    FZ_CHECK(a->vocab_size == b->vocab_size && a->block_size == b->block_size && a->n_layer == b->n_layer && a->n_head == b->n_head &&
             a->n_embd == b->n_embd && a->gelu == b->gelu && (a->no_bias == b->no_bias || s->format == NG_FORMAT_HF_GPT2) &&
             a->dropout == b->dropout, "the config changed in an export and import");
    ng_params *P = ng_model_params(m), *Q = ng_model_params(m2);
    if (a->no_bias == b->no_bias) {
        FZ_CHECK(ng_params_numel(P) == ng_params_numel(Q), "parameter counts differ");
        FZ_CHECK(!memcmp(ng_params_data(P), ng_params_data(Q), (size_t)ng_params_numel(P) * sizeof(float)), "weights changed in a round trip");
    }
    FZ_CHECK(ng_tokenizer_vocab_size(t2) == ng_tokenizer_vocab_size(tok), "tokenizer changed in a round trip");
    ng_model_free(m2);
    ng_tokenizer_free(t2);
    drop_export(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    const int opt = data[0];
    size_t clen = (size_t)data[1] | (size_t)data[2] << 8;
    if (clen > size - 3) clen = size - 3;
    fz_write("config.json", data + 3, clen);
    fz_write("model.safetensors", data + 3 + clen, size - 3 - clen);
    const char *chars = fz_write("chars.txt", (const uint8_t *)CHARS, sizeof CHARS - 1);
    ng_convert_settings s = {.format = opt & 1 ? NG_FORMAT_NANOGPT : NG_FORMAT_HF_GPT2, .chars = chars, .n_head = opt & 2 ? 2 : 0};
    ng_model *m = NULL;
    ng_tokenizer *tok = NULL;
    if (ng_model_import(fz_dir(), &s, &m, &tok)) {
        FZ_CHECK_ERROR();
        FZ_CHECK(!m && !tok, "a failed import left a model behind");
        return 0;
    }
    const ng_model_config *c = ng_model_cfg(m);
    FZ_CHECK(c->kind == NG_MODEL_GPT && ng_model_config_check(c) == NG_OK, "imported an invalid config: %s", ng_last_error());
    FZ_CHECK(ng_tokenizer_vocab_size(tok) == c->vocab_size, "tokenizer %d vs config %d", ng_tokenizer_vocab_size(tok), c->vocab_size);
    ng_params *P = ng_model_params(m);
    fz_floats_ok(ng_params_data(P), ng_params_numel(P), 1, 0);
    int32_t ids[2] = {0, c->vocab_size - 1};
    float logits[sizeof CHARS];
    FZ_CHECK(ng_model_next_logits(m, ids, c->block_size > 1 ? 2 : 1, logits) == NG_OK, "%s", ng_last_error());
    fz_floats_ok(logits, c->vocab_size, 1, 0);
    round_trip(m, tok, &s);
    ng_model_free(m);
    ng_tokenizer_free(tok);
    return 0;
}

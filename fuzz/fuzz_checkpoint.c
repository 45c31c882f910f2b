/* fuzz_checkpoint.c - any bytes as a checkpoint folder's model.safetensors (and, the same
 * bytes, its optim.safetensors): the whole model load, safetensors + config / tokenizer /
 * image_config metadata -> a model of any kind (bigram, GPT, AE, DAE, VAE, GAN, classifier). A
 * load either fails with a message or gives a model that works: a text model's tokenizer
 * matches its config and it computes next-token logits. */
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    ng_set_threads(1);
    return 0;
}

/* a loaded text model: its tokenizer matches its config, its weights are finite or not but
 * readable, and it computes next-token logits */
static void text_model(ng_model *m, const ng_tokenizer *tok) {
    const ng_model_config *c = ng_model_cfg(m);
    FZ_CHECK(tok != NULL, "a %s loaded without its tokenizer", ng_model_kind_name(c->kind));
    FZ_CHECK(ng_tokenizer_vocab_size(tok) == c->vocab_size, "tokenizer %d vs config %d", ng_tokenizer_vocab_size(tok), c->vocab_size);
    ng_params *P = ng_model_params(m);
    fz_floats_ok(ng_params_data(P), ng_params_numel(P), 1, 0);
    /* the model runs: next-token logits after two tokens */
    int32_t ids[2] = {0, c->vocab_size - 1};
    float *logits = malloc(sizeof(float) * (size_t)c->vocab_size);
    FZ_CHECK(logits != NULL, "out of memory");
    FZ_CHECK(ng_model_next_logits(m, ids, c->block_size > 1 ? 2 : 1, logits) == NG_OK, "%s", ng_last_error());
    fz_floats_ok(logits, c->vocab_size, 1, 0);
    free(logits);
}

/* any kind: a load either fails with a message, or gives a model of a valid config whose
 * blocks are readable and whose optimizer moments load or fail with a message (optim.safetensors
 * holds the same bytes: usually refused) */
static void any_model(const char *dir) {
    ng_model *m = NULL;
    ng_tokenizer *tok = NULL;
    char *train = NULL;
    if (ng_checkpoint_load(dir, &m, &tok, &train)) {
        FZ_CHECK_ERROR();
        FZ_CHECK(!m && !tok && !train, "a failed load left a model behind");
        return;
    }
    FZ_CHECK(ng_model_config_check(ng_model_cfg(m)) == NG_OK, "loaded an invalid config: %s", ng_last_error());
    if (ng_model_kind_is_text(ng_model_cfg(m)->kind)) text_model(m, tok);
    else FZ_CHECK(tok == NULL, "an image model loaded with a tokenizer");
    const int nb = ng_model_n_blocks(m);
    ng_adamw_cfg oc = {1e-3f, 1e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, 1.0f, 0, 10};
    ng_adamw *opts[2] = {NULL, NULL};
    for (int b = 0; b < nb; b++) {
        ng_params *P = ng_model_block(m, b);
        fz_floats_ok(ng_params_data(P), ng_params_numel(P), 1, 0);
        opts[b] = ng_adamw_new(P, &oc);
        FZ_CHECK(opts[b] != NULL, "%s", ng_last_error());
    }
    if (ng_checkpoint_load_optim(dir, m, opts)) FZ_CHECK_ERROR();
    for (int b = 0; b < nb; b++) ng_adamw_free(opts[b]);
    free(train);
    ng_tokenizer_free(tok);
    ng_model_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fz_write("model.safetensors", data, size);
    fz_write("optim.safetensors", data, size);
    any_model(fz_dir());
    return 0;
}

/* gpt_dump.c - writes a small GPT checkpoint and, for fixed batches, nanogen's logits, loss
 * and every parameter gradient, so tests/test_torch.py can compare them with PyTorch.
 * usage: gpt_dump OUTDIR [exact] [nobias]   -> OUTDIR/model.safetensors, OUTDIR/ref_T16.safetensors, ref_T10
 * (exact: the exact GELU; nobias: no biases, nanoGPT's bias=False) */
#include "nanogen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int dump(ng_model *m, const char *dir, int B, int T, uint64_t seed) {
    ng_graph *g = ng_graph_new();
    ng_lm_graph lg;
    if (!g || ng_model_build(m, g, B, T, &lg)) return NG_ERR;
    const ng_model_config *c = ng_model_cfg(m);
    ng_rng r;
    ng_rng_seed(&r, seed);
    float *idxf = malloc(sizeof(float) * B * T), *tgtf = malloc(sizeof(float) * B * T);
    for (int i = 0; i < B * T; i++) {
        lg.idx->idata[i] = (int32_t)ng_rng_below(&r, (uint32_t)c->vocab_size);
        lg.targets->idata[i] = (int32_t)ng_rng_below(&r, (uint32_t)c->vocab_size);
        idxf[i] = (float)lg.idx->idata[i];
        tgtf[i] = (float)lg.targets->idata[i];
    }
    ng_params *P = ng_model_params(m);
    ng_params_zero_grad(P);
    ng_graph_forward(g);
    ng_graph_backward(g);
    int n = ng_params_count(P);
    ng_st_tensor *ts = calloc((size_t)n + 4, sizeof *ts);
    char (*names)[80] = calloc((size_t)n, sizeof *names);
    ts[0] = (ng_st_tensor){"idx", 2, {B, T}, idxf};
    ts[1] = (ng_st_tensor){"targets", 2, {B, T}, tgtf};
    ts[2] = (ng_st_tensor){"logits", 3, {B, T, c->vocab_size}, lg.logits->data};
    ts[3] = (ng_st_tensor){"loss", 1, {1}, lg.loss->data};
    for (int i = 0; i < n; i++) {
        ng_tensor *t = ng_params_get(P, i);
        snprintf(names[i], sizeof names[i], "grad.%s", t->name);
        ts[4 + i].name = names[i];
        ts[4 + i].ndim = t->ndim;
        memcpy(ts[4 + i].shape, t->ne, sizeof t->ne);
        ts[4 + i].data = t->grad;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/ref_T%d.safetensors", dir, T);
    int rc = ng_safetensors_write(path, ts, n + 4, NULL, NULL, 0);
    free(ts); free(names); free(idxf); free(tgtf);
    ng_graph_free(g);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: gpt_dump OUTDIR [exact] [nobias]\n"); return 2; }
    int exact = 0, nobias = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "exact")) exact = 1;
        else if (!strcmp(argv[i], "nobias")) nobias = 1;
        else { fprintf(stderr, "gpt_dump: unknown option '%s'\n", argv[i]); return 2; }
    }
    const char *chars = "\n !',.:;?ABCDEFabcdefghij";
    ng_tokenizer *tok = ng_tokenizer_build(NG_TOK_CHAR, chars, strlen(chars), 0);
    if (!tok) { fprintf(stderr, "%s\n", ng_last_error()); return 1; }
    ng_model_config cfg = {.kind = NG_MODEL_GPT, .vocab_size = ng_tokenizer_vocab_size(tok), .block_size = 16, .n_layer = 2, .n_head = 4, .n_embd = 32,
                           .gelu = exact ? NG_GELU_EXACT : NG_GELU_TANH, .no_bias = nobias};
    ng_model *m = ng_model_new(&cfg);
    if (!m) { fprintf(stderr, "%s\n", ng_last_error()); return 1; }
    ng_model_init(m, 42);
    /* move biases and LayerNorm parameters off their init values so their gradients are tested */
    ng_params *P = ng_model_params(m);
    ng_rng r;
    ng_rng_seed(&r, 7);
    for (int i = 0; i < ng_params_count(P); i++) {
        ng_tensor *t = ng_params_get(P, i);
        if (t->ndim == 1) for (int64_t j = 0; j < t->n; j++) t->data[j] += 0.1f * ng_rng_normal(&r);
        else for (int64_t j = 0; j < t->n; j++) t->data[j] *= 5.0f;   /* larger activations */
    }
    if (ng_checkpoint_save(argv[1], m, tok, "{}", NULL) || dump(m, argv[1], 3, 16, 1) || dump(m, argv[1], 2, 10, 2)) {
        fprintf(stderr, "gpt_dump: %s\n", ng_last_error());
        return 1;
    }
    ng_model_free(m);
    ng_tokenizer_free(tok);
    return 0;
}

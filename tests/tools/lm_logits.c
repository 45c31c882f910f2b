/* lm_logits.c - a text checkpoint's logits for one sequence of token ids, for the PyTorch tests
 * of imported models (tests/test_convert.py).
 * usage: lm_logits CKPT OUT.safetensors ID...   -> OUT: "logits" (T, V) for the T ids */
#include "nanogen.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: lm_logits CKPT OUT.safetensors ID...\n"); return 2; }
    ng_model *m = NULL;
    ng_tokenizer *tok = NULL;
    if (ng_checkpoint_load(argv[1], &m, &tok, NULL)) { fprintf(stderr, "lm_logits: %s\n", ng_last_error()); return 1; }
    const int T = argc - 3, V = ng_model_cfg(m)->vocab_size;
    ng_graph *g = ng_graph_new();
    ng_lm_graph lg;
    if (!g || ng_model_build(m, g, 1, T, &lg)) { fprintf(stderr, "lm_logits: %s\n", ng_last_error()); return 1; }
    ng_graph_set_training(g, 0);
    for (int t = 0; t < T; t++) {
        lg.idx->idata[t] = atoi(argv[3 + t]);
        lg.targets->idata[t] = 0;
        if (lg.idx->idata[t] < 0 || lg.idx->idata[t] >= V) { fprintf(stderr, "lm_logits: id %s out of range\n", argv[3 + t]); return 1; }
    }
    ng_graph_forward(g);
    ng_st_tensor ts = {"logits", 2, {T, V}, lg.logits->data};
    int rc = ng_safetensors_write(argv[2], &ts, 1, NULL, NULL, 0);
    if (rc) fprintf(stderr, "lm_logits: %s\n", ng_last_error());
    ng_graph_free(g);
    ng_model_free(m);
    ng_tokenizer_free(tok);
    return rc ? 1 : 0;
}

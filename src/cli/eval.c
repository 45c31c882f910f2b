/* eval.c - `nanogen eval DIR --data FILE`: loss and bits per character on the full splits. */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int cmd_eval(int argc, char **argv) {
    if (cli_image_args(argc, argv, 0)) return cmd_eval_images(argc, argv);   /* image_cmds.c */
    const char *dir = NULL, *data = NULL;
    int B = 16, threads = 0, skip = 0, T = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int rc = NG_OK;
        if (!strcmp(a, "--data")) rc = arg_str(argc, argv, &i, &data);
        else if (!strcmp(a, "--batch-size")) rc = arg_int(argc, argv, &i, 1, 4096, &B);
        else if (!strcmp(a, "--block-size")) rc = arg_int(argc, argv, &i, 1, 1 << 20, &T);
        else if (!strcmp(a, "--threads")) rc = arg_int(argc, argv, &i, 0, 1024, &threads);
        else if (!strcmp(a, "--skip-unknown")) skip = 1;
        else if (a[0] == '-') rc = ng_set_error("unknown flag '%s' for eval", a);
        else if (!dir) dir = a;
        else rc = ng_set_error("unexpected argument '%s'", a);
        if (rc) return cli_usage_error("%s\nusage: nanogen eval DIR --data FILE [--batch-size B] [--skip-unknown]", ng_last_error());
    }
    if (!dir || !data) return cli_usage_error("usage: nanogen eval DIR --data FILE [--batch-size B] [--skip-unknown]");
    if (cli_parse_only) return 0;   /* the fuzz harness: flags parsed and checked, nothing run */
    cli_set_threads(threads);
    ng_model *m = NULL;
    ng_tokenizer *tok = NULL;
    int32_t *ids = NULL;
    ng_graph *g = NULL;
    int code = 1;
    if (ng_checkpoint_load(dir, &m, &tok, NULL)) goto fail;
    size_t n = 0;
    ids = cli_encode_file(data, tok, skip, &n);
    if (!ids) goto fail;
    const ng_model_config *c = ng_model_cfg(m);
    if (T == 0) T = c->block_size;
    if (c->kind == NG_MODEL_GPT && T > c->block_size) { ng_set_error("--block-size %d exceeds the model's %d", T, c->block_size); goto fail; }
    size_t n_train = (size_t)(0.9 * (double)n);
    if (n - n_train < 2) {
        ng_set_error("'%s' is too small: %zu tokens leave %zu for the val split, which needs at least 2", data, n, n - n_train);
        goto fail;
    }
    {
        char what[160];
        snprintf(what, sizeof what, "evaluating with batch %d x block %d", B, T);
        double need = 4.0 * (2.0 * (double)ng_model_param_count(c) + cli_text_activations(c, B, T));
        if (ng_memory_check(need, what, "lower --batch-size or --block-size")) goto fail;
    }
    g = ng_graph_new();
    ng_lm_graph lg;
    if (!g || ng_model_build(m, g, B, T, &lg)) goto fail;
    const char *names[2] = {"train", "val"};
    const int32_t *parts[2] = {ids, ids + n_train};
    size_t lens[2] = {n_train, n - n_train};
    printf("%s (%s tokenizer, vocab %d), %zu tokens in '%s', windows of %d\n", ng_model_kind_name(c->kind),
           ng_tokenizer_kind(tok) == NG_TOK_CHAR ? "char" : "word", c->vocab_size, n, data, T);
    for (int s = 0; s < 2; s++) {
        size_t cnt = 0;
        double loss = ng_lm_full_loss(&lg, g, B, T, parts[s], lens[s], &cnt);
        size_t chars = ng_text_count_chars(tok, parts[s], lens[s]);
        double bpc = chars ? loss * cnt / log(2.0) / chars : 0;
        printf("%s loss %.4f (%zu tokens), perplexity %.2f, %.4f bits per character\n", names[s], loss, cnt, exp(loss), bpc);
    }
    code = 0;
    goto out;
fail:
    fprintf(stderr, "nanogen: %s\n", ng_last_error());
out:
    ng_graph_free(g);
    free(ids);
    ng_tokenizer_free(tok);
    ng_model_free(m);
    return code;
}

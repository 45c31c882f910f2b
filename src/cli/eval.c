/* eval.c - `nanogen eval DIR`: a text model's loss and bits per character on the full splits of
 * --data FILE; an image model's test loss (image_cmds.c). One flag table for both. */
#include "cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const cli_flagdef def_skip = {"--skip-unknown", CLI_FLAG, 0, 0, NULL, "text: skip the characters the vocabulary lacks (else an error naming the first)"};
static const cli_flagdef def_clf = {"--classifier", CLI_STR, 0, 0, "CLF_DIR", "gan: the classifier FID of the samples (nanogen train classifier)"};
static const cli_flag FLAGS[] = {
    CLI_F(cli_def_data, cli_eval_opts, data, NULL, "text: the text to evaluate on (required); images: the data set (default: the checkpoint's)"),
    CLI_F(cli_def_batch_size, cli_eval_opts, batch_size, "16", "text: windows a batch"),
    CLI_F(cli_def_block_size, cli_eval_opts, block_size, NULL, "text: the window (default: the model's block_size)"),
    CLI_F(def_skip, cli_eval_opts, skip_unknown, NULL, NULL),
    CLI_F(cli_def_seed, cli_eval_opts, seed, "1", "images: the seed of the VAE's z draws, the DAE's noise, the GAN's samples"),
    CLI_F(cli_def_n, cli_eval_opts, n, "1000", "gan: samples to judge"),
    CLI_F(def_clf, cli_eval_opts, classifier, NULL, NULL),
    CLI_F(cli_def_threads, cli_eval_opts, threads, "0", NULL),
    {0}};
static const cli_cmd CMD = {"eval",
    "usage: nanogen eval DIR --data FILE [--batch-size B] [--block-size T] [--skip-unknown]   (text model)\n"
    "       nanogen eval DIR [--data D] [--seed S] [--n 1000 (gan samples)] [--classifier CLF_DIR (gan: FID)]   (image model)",
    "  text: loss, perplexity, bits per character and bits per byte on the train and val splits (90/10) of FILE;\n"
    "  images: test loss per image (gan: the discriminator's outputs, and the FID with --classifier)",
    FLAGS, 1};

int cmd_eval(int argc, char **argv) {
    cli_eval_opts o = {0};
    cli_args a;
    int rc = cli_parse_dir(&CMD, argc, argv, &o, &a);
    if (rc >= 0) return rc;
    o.dir = a.pos[0];
    if (cli_parse_only) return 0;   /* the fuzz harness: flags parsed and checked, nothing run */
    ng_model_kind kind;
    if (ng_checkpoint_kind(o.dir, &kind)) return cli_fail();
    if (!ng_model_kind_is_text(kind)) return cli_eval_images(&o, &CMD, &a);   /* image_cmds.c */
    static const char *const image_only[] = {"--seed", "--n", "--classifier"};
    for (int k = 0; k < 3; k++)
        if (cli_given(&CMD, &a, image_only[k])) {
            ng_set_error("%s is for image models: '%s' holds a text model", image_only[k], o.dir);
            return cli_usage_fail("eval");
        }
    if (!o.data) { ng_set_error("'%s' holds a text model: give --data FILE, the text to evaluate it on", o.dir); return cli_usage_fail("eval"); }
    const char *dir = o.dir, *data = o.data;
    int B = o.batch_size, T = o.block_size;
    cli_set_threads(o.threads);
    ng_model *m = NULL;
    ng_tokenizer *tok = NULL;
    int32_t *ids = NULL;
    ng_graph *g = NULL;
    int code = 1;
    if (ng_checkpoint_load(dir, &m, &tok, NULL)) goto fail;
    size_t n = 0;
    ids = cli_encode_file(data, tok, o.skip_unknown, &n);
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
           ng_tok_kind_name(ng_tokenizer_kind(tok)), c->vocab_size, n, data, T);
    for (int s = 0; s < 2; s++) {
        size_t cnt = 0;
        double loss = ng_lm_full_loss(&lg, g, B, T, parts[s], lens[s], &cnt);
        /* the bits of the predicted tokens (all but the first), over the characters and bytes of the
         * whole split: comparable across tokenizers (a char, a word and a bpe model of one text) */
        size_t chars = ng_text_count_chars(tok, parts[s], lens[s]), bytes = ng_text_count_bytes(tok, parts[s], lens[s]);
        double bpc = chars ? loss * cnt / log(2.0) / chars : 0, bpb = bytes ? loss * cnt / log(2.0) / bytes : 0;
        printf("%s loss %.4f (%zu tokens), perplexity %.2f, %.4f bits per character, %.4f bits per byte\n", names[s], loss, cnt, exp(loss),
               bpc, bpb);
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

/* nanogen.h - generative models from scratch, in C: bigram and GPT language models, AE, DAE,
 * VAE, DCGAN and a classifier for pictures, trained and sampled on the CPU.
 *
 * The API in four nouns:
 *   ng_model      any kind of model: a config (ng_model_config) makes one; a checkpoint
 *                 (a directory, ng_checkpoint_save / ng_checkpoint_load) holds one.
 *   ng_trainer    a training run: ng_train_defaults fills the settings, ng_trainer_create starts
 *                 a new model (ng_trainer_new fine-tunes one, ng_trainer_resume continues a
 *                 saved run), ng_trainer_run trains to the end, saving checkpoints; a callback
 *                 hears every step, log line, evaluation and save.
 *   ng_generator  text from a text model: a prompt in, one token per stream per call out.
 *   io            tokenizers, safetensors, data sets (text, IDX, picture folders), PNG grids.
 *
 * Topic headers (each included here; every declaration says what it does and who owns what it
 * returns):
 *   nanogen/core.h      errors, threads, allocation, RNG, tensors, the graph and its op
 *                       builders, parameters, the AdamW optimizer
 *   nanogen/model.h     ng_model of every kind, configs, kinds, the graphs each kind builds
 *   nanogen/train.h     ng_trainer: settings, presets, callback events, the training state
 *   nanogen/generate.h  ng_generator, sampling, KV-cache inference (ng_infer_*), inspection
 *   nanogen/io.h        checkpoints, safetensors, PNG, tokenizers, text, IDX, image data sets
 *   nanogen/eval.h      FID (Frechet distance), a text's full loss, PCA
 *
 * Conventions: a fallible call returns NG_OK (0) or NG_ERR (-1) / NULL and leaves a message
 * naming the file, offset, tensor or setting in ng_last_error(). An object from *_new /
 * *_create / *_open / *_load is the caller's, freed by the matching *_free / *_close; strings
 * returned as `char *` are malloc'd, the caller frees them. Results are the same bits on any
 * number of threads.
 *
 * Build a program: cc prog.c $(pkg-config --cflags --libs nanogen)   (examples/ has two more).
 * Example: train a tiny GPT on a text for 200 steps (a checkpoint in tiny-run/), load the
 * checkpoint and sample from it (tests/test_api.sh compiles and runs exactly this):
 *
 * example begin
 *   #include <nanogen.h>
 *   #include <stdio.h>
 *   #include <stdlib.h>
 *
 *   int main(void) {
 *       FILE *f = fopen("tiny.txt", "w");   // the trainer reads its text from a file
 *       for (int i = 0; i < 100; i++) fputs("the cat sat on the mat. the dog sat on the log.\n", f);
 *       fclose(f);
 *
 *       ng_model_config cfg = {.kind = NG_MODEL_GPT, .block_size = 16, .n_layer = 1, .n_head = 2, .n_embd = 32};
 *       ng_train_settings s;
 *       ng_train_defaults(NG_MODEL_GPT, &s);
 *       s.data = "tiny.txt";
 *       s.steps = 200; s.batch_size = 8; s.lr = 1e-2f; s.warmup = 10;
 *       s.eval_iters = 2; s.no_final_eval = 1;   // a quick estimate of the loss, none at the end
 *       ng_trainer *t = ng_trainer_create(&cfg, &s, "tiny-run", 1);   // 1: overwrite an old run
 *       if (!t || ng_trainer_run(t) != NG_OK) { fprintf(stderr, "%s\n", ng_last_error()); return 1; }
 *       ng_trainer_free(t);
 *
 *       ng_model *m; ng_tokenizer *tok;
 *       if (ng_checkpoint_load("tiny-run", &m, &tok, NULL)) { fprintf(stderr, "%s\n", ng_last_error()); return 1; }
 *       ng_generator *g = ng_generator_new(m, tok, 1, NULL);   // 1 stream, default settings
 *       size_t n;
 *       int32_t *prompt = g ? ng_generator_encode(g, "the ", 4, &n, NULL) : NULL;
 *       if (!prompt || ng_generator_start(g, prompt, n, 0)) { fprintf(stderr, "%s\n", ng_last_error()); return 1; }
 *       char text[64];
 *       for (size_t i = 0; i < n; i++) { ng_generator_text(g, 0, prompt[i], text, sizeof text); fputs(text, stdout); }
 *       for (int i = 0; i < 60; i++) {
 *           const int32_t *next = ng_generator_next(g, NULL);   // one token per stream
 *           if (!next) { fprintf(stderr, "%s\n", ng_last_error()); return 1; }
 *           ng_generator_text(g, 0, next[0], text, sizeof text);
 *           fputs(text, stdout);
 *       }
 *       putchar('\n');
 *       free(prompt);
 *       ng_generator_free(g); ng_model_free(m); ng_tokenizer_free(tok);
 *       return 0;
 *   }
 * example end
 */
#ifndef NANOGEN_H
#define NANOGEN_H

#define NANOGEN_VERSION "0.1.0"

#include "nanogen/core.h"
#include "nanogen/model.h"
#include "nanogen/io.h"
#include "nanogen/train.h"
#include "nanogen/generate.h"
#include "nanogen/eval.h"

#endif

/* examples/tiny_gpt.c - train a tiny GPT on a few lines of text, then write some text with it.
 *
 * The whole life of a language model with nanogen's library, in four steps:
 *   1. data:     the trainer reads its text from a file, so we write one;
 *   2. a model:  a config says what kind of model (a GPT) and how big;
 *   3. training: a trainer runs the steps, saving a checkpoint (a directory) at the end;
 *   4. sampling: a generator draws text from the trained model, one token at a time.
 *
 * Build and run (after make install):
 *   cc tiny_gpt.c $(pkg-config --cflags --libs nanogen) -o tiny_gpt && ./tiny_gpt
 * It writes tiny_gpt.txt and the checkpoint tiny_gpt-run/ in the current directory, and takes
 * about a second. Every call that can fail returns NG_ERR (or NULL) and leaves a message in
 * ng_last_error().
 */
#include <nanogen.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The text the model learns: a tiny corpus of its own (a character-level model learns the
 * characters it sees, so the prompt below may only use these). */
static const char *TEXT =
    "the cat sat on the mat.\n"
    "the dog sat on the log.\n"
    "the cat saw the dog.\n"
    "the dog saw the cat on the mat.\n";

static int fail(const char *what) {
    fprintf(stderr, "tiny_gpt: %s: %s\n", what, ng_last_error());
    return 1;
}

/* The trainer tells us what it is doing through a callback; we print a line every 50 steps. */
static void on_event(const ng_train_event *e, void *ctx) {
    (void)ctx;
    if (e->kind == NG_TRAIN_STEP && e->step % 50 == 0)
        printf("step %4ld of %ld: loss %.3f\n", e->step, e->steps, e->loss);
}

int main(void) {
    /* 1. data: the text, repeated so that there are enough windows to draw batches from (the
     * trainer keeps the last 10% apart to estimate the loss on text it does not train on) */
    FILE *f = fopen("tiny_gpt.txt", "w");
    if (!f) { perror("tiny_gpt.txt"); return 1; }
    for (int i = 0; i < 50; i++) fputs(TEXT, f);
    fclose(f);

    /* 2. a model: a GPT with one layer of two attention heads, 32 numbers per token, looking
     * at most 16 characters back. Its vocabulary size is filled in by the trainer, from the
     * characters of the data. */
    ng_model_config cfg = {.kind = NG_MODEL_GPT, .block_size = 16, .n_layer = 1, .n_head = 2, .n_embd = 32};

    /* 3. training: start from the defaults of a GPT run and change what we need */
    ng_train_settings s;
    ng_train_defaults(NG_MODEL_GPT, &s);
    s.data = "tiny_gpt.txt";
    s.steps = 200;            /* AdamW steps */
    s.batch_size = 8;         /* windows of 16 characters per step */
    s.lr = 1e-2f;             /* a tiny model can take a large learning rate */
    s.warmup = 10;
    s.eval_every = 100;       /* estimate the train and val losses every 100 steps ... */
    s.eval_iters = 2;         /* ... on 2 batches each (quick) */
    s.no_final_eval = 1;      /* and skip the loss over the whole val split at the end */
    /* a new run in tiny_gpt-run/ (force = 1: replace the checkpoint an earlier run left there) */
    ng_trainer *t = ng_trainer_create(&cfg, &s, "tiny_gpt-run", 1);
    if (!t) return fail("create the run");
    ng_trainer_set_callback(t, on_event, NULL);
    ng_train_info info;
    ng_trainer_info(t, &info);
    printf("training %lld parameters on %lld characters\n", (long long)info.n_params, (long long)info.n_train);
    if (ng_trainer_run(t) != NG_OK) { ng_trainer_free(t); return fail("train"); }
    ng_trainer_free(t);   /* the model is saved in tiny_gpt-run/ */

    /* 4. sampling: load the checkpoint (model + tokenizer) and draw 120 characters */
    ng_model *m;
    ng_tokenizer *tok;
    if (ng_checkpoint_load("tiny_gpt-run", &m, &tok, NULL)) return fail("load the checkpoint");
    ng_gen_settings gs;
    ng_gen_defaults(&gs);
    gs.temperature = 0.8f;    /* below 1: more likely characters, less variety */
    gs.seed = 7;              /* the same seed draws the same text */
    ng_generator *g = ng_generator_new(m, tok, 1, &gs);   /* one stream */
    if (!g) return fail("generator");
    const char *prompt = "the ";
    size_t n;
    int32_t *ids = ng_generator_encode(g, prompt, strlen(prompt), &n, NULL);   /* text -> token ids */
    if (!ids || ng_generator_start(g, ids, n, 0)) return fail("prompt");
    printf("--- sample\n");
    char piece[64];
    /* the generator turns ids back into text: first the prompt's, then each new one */
    for (size_t i = 0; i < n; i++) {
        ng_generator_text(g, 0, ids[i], piece, sizeof piece);
        fputs(piece, stdout);
    }
    for (int i = 0; i < 120; i++) {
        const int32_t *next = ng_generator_next(g, NULL);   /* one new token per stream */
        if (!next) return fail("sample");
        ng_generator_text(g, 0, next[0], piece, sizeof piece);
        fputs(piece, stdout);
    }
    printf("\n");

    free(ids);
    ng_generator_free(g);
    ng_model_free(m);
    ng_tokenizer_free(tok);
    return 0;
}

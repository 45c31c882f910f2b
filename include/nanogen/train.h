/* nanogen/train.h - the trainer: a training run of any kind (settings, presets, a new run, a
 * fine-tuning run or a resumed one, the callback's events, stopping on request), and a char
 * vocabulary extended for fine-tuning. Part of <nanogen.h>. */
#ifndef NANOGEN_TRAIN_H
#define NANOGEN_TRAIN_H

#include "core.h"
#include "model.h"
#include "io.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ training (src/train/) */
/* A trainer runs one training run of a model: the loop (steps of a text kind, epochs of an image
 * kind, a GAN's alternating D and G steps), evaluation, metrics (DIR/metrics.jsonl), atomic
 * checkpoints with the training state (ng_checkpoint_save's "train" metadata, versioned and
 * checked when resumed), sample pictures of image kinds (DIR/samples/), a numerical fault stop
 * (a NaN/Inf loss or gradient stops the run before anything is saved, naming the tensor) and a
 * stop on request (a checkpoint is saved; the run resumes exactly where it stopped). */
typedef struct ng_trainer ng_trainer;
enum { NG_STOPPED = 1 };   /* ng_trainer_run: stopped on request, the checkpoint saved */

/* What a run trains on and with. ng_train_defaults fills a kind's defaults (SPEC.md); set the
 * fields you change and mark them in `given`: a resumed run takes those over its saved ones. */
typedef struct {
    const char *data;         /* text kinds: a UTF-8 file; image kinds: fashion-mnist, mnist, a
                                 folder of IDX files or of pictures. A resumed run: NULL = the saved one */
    uint64_t seed;            /* initialisation (by the caller), batches, dropout, noise */
    int batch_size;
    float lr;
    int detect_anomaly;       /* check every op's output and gradients for NaN/Inf (slower) */
    /* text kinds: a run of `steps` AdamW steps, linear warmup then cosine decay to min_lr */
    int steps, warmup, eval_every, eval_iters, log_every;
    int no_final_eval;        /* skip the loss on the whole val split at the end */
    float min_lr, weight_decay, grad_clip, dropout;   /* dropout: the model's, for this run (NG_SET_DROPOUT) */
    /* image kinds: a run of `epochs` (Adam) */
    int epochs, max_batches;  /* max_batches: at most this many batches an epoch (0: all) */
    int image_size;           /* folders of pictures: brought to image_size x image_size */
    float beta1, beta2;
    float noise; int noise_mask;   /* DAE: gaussian noise of std `noise` (0) or pixels masked with probability `noise` (1) */
    const char *exclude_class;     /* labelled data: a class (number or name, ng_dataset_class_find) left out of the
                                      train split (the test split keeps it); NULL: none. Saved as its number */
    /* a new text model (ng_trainer_create): its tokenizer, built from the data */
    int tokenizer;            /* ng_tok_kind: NG_TOK_CHAR (default), NG_TOK_WORD or NG_TOK_BPE */
    int vocab_size;           /* word tokenizer: the most frequent words kept; bpe: the vocabulary's size (8192) */
    /* several processes (mpirun) or one: the batch is cut into grad_shards equal shards, each
     * rank computes grad_shards / ranks of them, and their gradients are summed in a fixed
     * order, so that the same grad_shards gives the same bits on any number of ranks (0: one
     * shard per rank; 1 process: the whole batch at once, as without MPI) */
    int grad_shards;
    unsigned given;           /* NG_SET_* */
} ng_train_settings;
enum {
    NG_SET_STEPS = 1 << 0, NG_SET_BATCH = 1 << 1, NG_SET_LR = 1 << 2, NG_SET_MIN_LR = 1 << 3, NG_SET_WARMUP = 1 << 4,
    NG_SET_WEIGHT_DECAY = 1 << 5, NG_SET_GRAD_CLIP = 1 << 6, NG_SET_EVAL_EVERY = 1 << 7, NG_SET_EVAL_ITERS = 1 << 8,
    NG_SET_LOG_EVERY = 1 << 9, NG_SET_SEED = 1 << 10, NG_SET_DROPOUT = 1 << 11, NG_SET_EPOCHS = 1 << 12,
    NG_SET_GRAD_SHARDS = 1 << 13
};
NG_API void ng_train_defaults(ng_model_kind kind, ng_train_settings *s);
/* SPEC.md's named configurations of text models ("baby", "shakespeare-char", "bigram") and two
 * GPT-2-class ones ("gpt2": GPT-2 small's shape, T 1024, L 12, H 12, C 768, nanoGPT's
 * train_gpt2.py recipe; "bpe-small": T 256, L 4, H 4, C 256): the model's kind, block size,
 * layers, heads, width and dropout into c (other fields kept) and the run's batch, learning
 * rates, warmup, steps and evaluation into s; gpt2 and bpe-small also the vocabulary size a word
 * (or BPE) tokenizer keeps, s->vocab_size (50257, 4096). NG_ERR + error for another name. */
NG_API int ng_train_preset(const char *name, ng_model_config *c, ng_train_settings *s);
/* The preset a kind starts from (gpt: "baby", bigram: "bigram"), NULL for image kinds. */
NG_API const char *ng_train_default_preset(ng_model_kind kind);

/* A new run of a new model of config cfg on s->data, written to the directory out (a checkpoint
 * there is refused unless force): a text kind's tokenizer is built from the data (s->tokenizer,
 * s->vocab_size; cfg's vocab_size is set from it), an image kind takes the data's picture shape
 * (cfg's c, h, w; a classifier its classes); the model is initialised from s->seed, and refused
 * before it is allocated when the run would not fit in memory. The trainer owns the model and
 * tokenizer. NULL + error. */
NG_API ng_trainer *ng_trainer_create(const ng_model_config *cfg, const ng_train_settings *s, const char *out, int force);
/* A new run of m (initialised, or pre-trained: fine-tuning) with tok (text kinds; both stay the
 * caller's) on s->data, written to the directory out (a checkpoint there is refused unless
 * force). Reads the data, checks the settings and that the run fits in memory, prepares out,
 * builds the graphs and optimizers; NULL + error. */
NG_API ng_trainer *ng_trainer_new(ng_model *m, ng_tokenizer *tok, const ng_train_settings *s, const char *out, int force);
/* The run saved in dir, continued into out (NULL: dir): its model, tokenizer, settings (the
 * fields of s marked given override the saved ones; s may be NULL), position, RNG and optimizer
 * moments. The trainer owns the model and tokenizer it loads. NULL + error (the saved state is
 * checked as a flag would be: a setting out of its range names its key). */
NG_API ng_trainer *ng_trainer_resume(const char *dir, const ng_train_settings *s, const char *out);
NG_API void ng_trainer_free(ng_trainer *t);
NG_API ng_model *ng_trainer_model(ng_trainer *t);
NG_API const ng_tokenizer *ng_trainer_tokenizer(const ng_trainer *t);
NG_API const ng_train_settings *ng_trainer_settings(const ng_trainer *t);

/* What the callback is told (record: the metrics.jsonl line written, as JSON). */
typedef enum {
    NG_TRAIN_STEP,      /* a step (text) or a batch (images) is done: step, steps, loss, lr, items, seconds */
    NG_TRAIN_LOG,       /* text: the mean loss of the last log_every steps was logged (record) */
    NG_TRAIN_EVAL,      /* text: train and val loss estimates (record) */
    NG_TRAIN_EPOCH,     /* images: an epoch's losses (record) */
    NG_TRAIN_SAVED,     /* a checkpoint was written (step: the step, or epoch: the epochs done) */
    NG_TRAIN_NOTE       /* something the user should know (message): a warning, data skipped */
} ng_train_event_kind;
typedef struct {
    ng_train_event_kind kind;
    long step, steps;         /* text: steps done (this step's number), of all; images: batches
                                 done in this epoch, of the epoch's */
    int epoch, epochs;        /* images: the epoch (0-based), of all */
    double loss, lr;          /* STEP: the step's loss (the GAN: G's), its learning rate */
    double seconds;           /* STEP: the step's time */
    long items;               /* STEP: tokens or images of the step */
    const char *record;       /* LOG, EVAL, EPOCH */
    const char *message;      /* NOTE */
} ng_train_event;
typedef void (*ng_train_callback)(const ng_train_event *e, void *ctx);
NG_API void ng_trainer_set_callback(ng_trainer *t, ng_train_callback cb, void *ctx);
/* The run stops after the step that sees *flag non-zero (a signal handler may set it), saving a
 * checkpoint; ng_trainer_run then returns NG_STOPPED. */
NG_API void ng_trainer_set_stop_flag(ng_trainer *t, volatile int *flag);

/* About a run, before (and after) ng_trainer_run. */
typedef struct {
    int64_t n_params;         /* every trainable block */
    int64_t n_train, n_val;   /* text: tokens of the train and val splits; images: train and test images */
    int batch_size, block_size;   /* images: block_size 0 */
    int start;                /* the step (text) or epochs done (images) the run starts from */
    int start_batch;          /* images: resumed inside an epoch, the batch (1-based) it continues at; else 0 */
    /* after ng_trainer_run */
    long steps_run;           /* steps or batches this call ran */
    double seconds;           /* this call's time */
    double full_val_loss;     /* text: the loss on the whole val split at the end; NaN when not computed */
    size_t full_val_count;    /* its positions */
    int nothing_to_do;        /* the run was already at its end */
} ng_train_info;
NG_API void ng_trainer_info(const ng_trainer *t, ng_train_info *info);
/* Train to the end: NG_OK; NG_STOPPED (see ng_trainer_set_stop_flag); NG_ERR + error: a failed
 * write, or a numerical fault ("step 8 of 60: the gradient of wte.weight has 864 NaN values ...;
 * stopped without saving: the checkpoint in DIR (step 5) is kept"). */
NG_API int ng_trainer_run(ng_trainer *t);
/* The checks a resumed run makes of a checkpoint's training state (its "train" metadata), for
 * a text (text = 1) or image kind: NG_OK, or NG_ERR naming the first key out of range. */
NG_API int ng_train_state_check(const char *json, int text);

/* ------------------------------------------------------------------ fine-tuning */
/* Fine-tuning a char model on a new text: the characters of text the vocabulary of *tok lacks.
 * mode 0: added to it (a new tokenizer, and a new model whose embedding rows of them are drawn
 * like at init from seed; *m and *tok are replaced), 1: left (the trainer then drops them from
 * the text), 2: an error naming them. Returns the number of such characters (-1 + error);
 * listed (may be NULL) receives up to 40 of them, quoted ('x' or U+0001). */
NG_API int ng_vocab_extend(ng_model **m, ng_tokenizer **tok, const char *text, size_t len, int mode, uint64_t seed, char *listed, size_t cap);

#ifdef __cplusplus
}
#endif
#endif

/* trainer.h - the trainer's private pieces, shared by trainer.c (what every kind does: the run's
 * directory, metrics.jsonl, numerical faults, events), text.c (the steps of a text kind) and
 * images.c (the epochs of an image kind, the GAN's D and G steps). */
#ifndef NG_TRAINER_H
#define NG_TRAINER_H
#include "core/internal.h"

#include <cjson/cJSON.h>

struct ng_trainer {
    ng_model *m;
    ng_tokenizer *tok;
    int owns;                 /* the model and tokenizer were loaded by ng_trainer_resume */
    int text;                 /* a text kind (steps) or an image kind (epochs) */
    ng_train_settings s;
    char *data, *out;         /* owned copies of s.data and the run's directory */
    int resumed;              /* continuing a saved run */
    int saved;                /* a checkpoint of this run is in out: a fault stop keeps it */
    ng_rng rng;               /* the data's RNG (batches, dropout steps, noise) */
    ng_adamw *opts[2];        /* one optimizer per block */
    FILE *metrics;            /* out/metrics.jsonl */
    char *mpath;
    ng_train_callback cb;
    void *ctx;
    volatile int *stop;
    char *notes[8];           /* said at the start of ng_trainer_run */
    int n_notes;
    int running;              /* inside ng_trainer_run: notes are told at once */
    ng_images *pre;           /* images: the train and test sets ng__image_create loaded (taken by ng__image_open) */
    ng_train_info info;
    void *k;                  /* the kind's own state: text.c / images.c */
};

/* ---- trainer.c */
/* Tell the callback (if any). */
void ng__train_emit(ng_trainer *t, const ng_train_event *e);
/* A note for the user: told at once when running, else kept for the start of the run. */
void ng__train_note(ng_trainer *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prepare the run's directory (and its subdir, may be NULL): refuse to overwrite a checkpoint
 * unless resuming or forced, create it, check it is writable; then open out/metrics.jsonl
 * (appending when resuming, after dropping the lines whose `key` is above `last`). */
int ng__train_open_dir(ng_trainer *t, const char *subdir, int force, const char *key, double last);
/* On a resume: drop the lines of metrics.jsonl whose number `key` is above `last` (logged after
 * the checkpoint by a run killed later) and a torn last line. */
int ng__metrics_trim(ng_trainer *t, const char *key, double last);
/* Append one JSON object as a line of metrics.jsonl and return its text (owned by the trainer
 * until the next call, for the event); frees j. */
const char *ng__train_record(ng_trainer *t, cJSON *j);
/* Whether metrics.jsonl has a line whose number `key` is `value` and that has `field`. */
int ng__metrics_has(const char *path, const char *key, double value, const char *field);
/* A restored setting must lie where its flag may: NG_OK, or an error naming it. */
int ng__state_range(const char *key, double v, double lo, double hi);
/* One training step's parts, each NG_OK or NG_ERR with the fault in ng_last_error(): forward
 * and backward (NG_ERR when --detect-anomaly stopped them), a non-finite loss (naming the first
 * op whose output went non-finite), the AdamW step of block P (naming the gradient: "the
 * discriminator's " + its name, when the norm is not finite: then the step changed nothing). */
/* The gradient shards of a run (t->s.grad_shards, 0: one per rank) into *S, this rank's share
 * into *L, and S back into t->s (saved with the run); checks that the ranks share them evenly
 * (S/ranks a power of two) and that they cut the batch evenly. A resumed run whose saved count
 * does not fit the ranks it has now takes one per rank, with a note. */
int ng__train_shards(ng_trainer *t, int resumed, int *S, int *L);
/* Several ranks agree: v[i] = the largest over the ranks (in place); an error means a rank is gone. */
int ng__train_agree(int *v, int n);
/* A batch cut into shards, this rank's L of them run one after the other (text.c, images.c):
 * after each shard's backward pass, ng__train_shard_done (L > 1) puts P's gradients into the
 * fixed-order tree and clears them; after the last (last != 0) the tree's sum is left in P's
 * gradients. Then ng__train_shards_finish: every rank learns whether one failed (failed: this one
 * did, its message set; the others' error says so and is shared), P's gradients are summed across
 * the ranks and scaled by scale, and, with mine != NULL, the shards' losses (L a rank) summed in
 * shard order into *loss_sum. wait_s / sum_s (may be NULL) gain the seconds spent waiting for the
 * slowest rank and summing. ng__train_shards_loss is that last sum alone. */
int ng__train_shard_done(ng_params *P, ng_dist_tree *tr, int L, int last);
int ng__train_shards_finish(ng_params *P, float *tmp, int failed, float scale, const float *mine, int L, double *loss_sum,
                            double *wait_s, double *sum_s);
int ng__train_shards_loss(const float *mine, int L, double *sum);
/* A failure all ranks know of (agreed): the other ranks' command stays quiet about it. */
void ng__train_shared_error(void);
int ng__train_forward(ng_graph *g);
int ng__train_backward(ng_graph *g, const float *dout);
int ng__train_backward_inputs(ng_graph *g);
int ng__train_finite_loss(ng_graph *g, const char *what, double loss);
int ng__train_adamw(ng_adamw *opt, ng_params *P, float lr, const char *block);
/* After one of them failed: ng_last_error() becomes "<where>: <the fault>; stopped without
 * saving: <kept> is kept", or with kept NULL "...; stopped (no checkpoint was saved yet)". */
void ng__train_fault(const char *where, const char *kept);
/* the 4 words of an RNG as JSON strings under key, and back */
void ng__state_add_rng(cJSON *j, const char *key, const ng_rng *rng);
int ng__state_get_rng(const cJSON *j, const char *key, ng_rng *rng);
/* The GEMM kernel chosen for each shape so far (src/ops/kernels/gemm_choice.c), saved with the
 * training state as "gemm": [[ta, tb, M, N, K, cpus, openblas], ...] (only in NANOGEN_GEMM=auto);
 * a resumed run takes them over the cache's (apply = 1), so that it continues with the same bits
 * whatever the cache measured meanwhile. Returns the valid entries; bad ones are skipped. */
void ng__state_add_gemm(cJSON *j);
int ng__state_get_gemm(const cJSON *j, int apply);

/* ---- text.c and images.c: set up a run (state: the saved training state of a resumed run,
 * else NULL; it was already checked by *_state), run it, free the kind's state */
int ng__text_open(ng_trainer *t, const char *state, int force);
int ng__text_run(ng_trainer *t);
void ng__text_free(ng_trainer *t);
int ng__text_state(const char *json, ng_train_settings *s, int *step);
/* a fresh model of cfg for a new run: text kinds build their tokenizer from the data, image
 * kinds take the data's picture shape (and a classifier its classes); NG_ERR + error */
int ng__text_create(const ng_model_config *cfg, const ng_train_settings *s, ng_model **m, ng_tokenizer **tok);
int ng__image_create(const ng_model_config *cfg, const ng_train_settings *s, ng_model **m, ng_images pre[2]);
int ng__image_open(ng_trainer *t, const char *state, int force);
int ng__image_run(ng_trainer *t);
void ng__image_free(ng_trainer *t);
int ng__image_state(const char *json, ng_train_settings *s, int *epoch);
#endif

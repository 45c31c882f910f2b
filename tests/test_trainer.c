/* test_trainer.c - the library's trainer through its API (nanogen.h "training"): a GPT run on
 * a text the repository holds, its events and files; a run stopped on request and resumed
 * equals one never stopped, bit for bit (weights and AdamW moments), for a GPT, a VAE and the
 * DCGAN's alternating steps; a numerical fault stops before saving and names where; settings a
 * resumed run is given override its saved ones; a saved state out of range is refused naming
 * its key. (tests/test_resume.sh, test_kill.sh, test_numerics.sh do the same through the command.) */
#include "nanogen.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char g_tmp[256];
static const char *TEXT = "tests/data/portugues.txt";
static const char *FASHION = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz";

static const char *dir(const char *name) {
    static char buf[4][512];
    static int k;
    char *b = buf[k++ % 4];
    snprintf(b, 512, "%s/%s", g_tmp, name);
    return b;
}

/* events seen, and a stop request after `stop_at` steps */
typedef struct { int steps, logs, evals, epochs, saved, notes; long stop_at; volatile int stop; } counts;

static void on_event(const ng_train_event *e, void *ctx) {
    counts *c = ctx;
    switch (e->kind) {
    case NG_TRAIN_STEP:
        c->steps++;
        if (c->stop_at > 0 && c->steps == c->stop_at) c->stop = 1;
        break;
    case NG_TRAIN_LOG: c->logs++; break;
    case NG_TRAIN_EVAL: c->evals++; break;
    case NG_TRAIN_EPOCH: c->epochs++; break;
    case NG_TRAIN_SAVED: c->saved++; break;
    case NG_TRAIN_NOTE: c->notes++; break;
    }
}

static int run(ng_trainer *t, counts *c) {
    ng_trainer_set_callback(t, on_event, c);
    ng_trainer_set_stop_flag(t, &c->stop);
    return ng_trainer_run(t);
}

/* every tensor of two checkpoints' files (model, optimizer) equal, bit for bit */
static int same_checkpoints(const char *a, const char *b) {
    const char *files[2] = {"model.safetensors", "optim.safetensors"};
    for (int f = 0; f < 2; f++) {
        char pa[600], pb[600];
        snprintf(pa, sizeof pa, "%s/%s", a, files[f]);
        snprintf(pb, sizeof pb, "%s/%s", b, files[f]);
        ng_st_file *x = ng_safetensors_open(pa), *y = ng_safetensors_open(pb);
        int ok = x && y && ng_st_count(x) == ng_st_count(y);
        for (int i = 0; ok && i < ng_st_count(x); i++) {
            int nx = 0, ny = 0;
            int64_t sx[NG_MAX_DIMS], sy[NG_MAX_DIMS];
            const float *dx = ng_st_find(x, ng_st_name(x, i), &nx, sx), *dy = ng_st_find(y, ng_st_name(x, i), &ny, sy);
            int64_t n = 1;
            for (int d = 0; d < nx; d++) n *= sx[d];
            ok = dx && dy && nx == ny && memcmp(sx, sy, sizeof(int64_t) * nx) == 0 && memcmp(dx, dy, sizeof(float) * n) == 0;
        }
        ng_safetensors_close(x);
        ng_safetensors_close(y);
        if (!ok) return 0;
    }
    return 1;
}

static ng_train_settings text_settings(void) {
    ng_train_settings s;
    ng_train_defaults(NG_MODEL_GPT, &s);
    s.data = TEXT;
    s.batch_size = 4; s.steps = 20; s.warmup = 5; s.eval_every = 10; s.eval_iters = 2; s.log_every = 5;
    s.no_final_eval = 1;
    return s;
}

static ng_model_config tiny_gpt(void) {
    ng_model_config c = {.kind = NG_MODEL_GPT, .block_size = 16, .n_layer = 2, .n_head = 2, .n_embd = 32, .dropout = 0.1f};
    return c;
}

static void test_text(void) {
    ng_model_config c = tiny_gpt();
    ng_train_settings s = text_settings();
    ng_trainer *t = ng_trainer_create(&c, &s, dir("gpt-a"), 0);
    CHECK(t != NULL, "create: %s", ng_last_error());
    if (!t) return;
    ng_train_info in;
    ng_trainer_info(t, &in);
    CHECK(in.n_params > 0 && in.n_train > 0 && in.n_val > 0 && in.batch_size == 4 && in.block_size == 16 && in.start == 0,
          "info: %lld parameters, %lld / %lld tokens", (long long)in.n_params, (long long)in.n_train, (long long)in.n_val);
    CHECK(ng_model_cfg(ng_trainer_model(t))->vocab_size == ng_tokenizer_vocab_size(ng_trainer_tokenizer(t)), "the vocabulary comes from the data");
    counts a = {0};
    CHECK(run(t, &a) == NG_OK, "run: %s", ng_last_error());
    ng_trainer_info(t, &in);
    CHECK(a.steps == 20 && in.steps_run == 20, "20 steps: %d events, %ld run", a.steps, in.steps_run);
    CHECK(a.evals == 3 && a.logs == 4 && a.saved == 2, "events: %d evaluations (steps 0, 10, 20), %d logs, %d saves", a.evals, a.logs, a.saved);
    ng_trainer_free(t);
    char path[600];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir("gpt-a"));
    CHECK(access(path, R_OK) == 0, "metrics.jsonl written");

    /* stopped after 7 steps (a save), resumed to the end: the same run */
    t = ng_trainer_create(&c, &s, dir("gpt-b"), 0);
    counts b = {.stop_at = 7};
    CHECK(t && run(t, &b) == NG_STOPPED && b.steps == 7, "stopped on request after 7 steps: %d", b.steps);
    ng_trainer_free(t);
    t = ng_trainer_resume(dir("gpt-b"), NULL, NULL);
    CHECK(t != NULL, "resume: %s", ng_last_error());
    if (t) {
        ng_trainer_info(t, &in);
        CHECK(in.start == 7, "resumed at step %d", in.start);
        counts r = {0};
        CHECK(run(t, &r) == NG_OK && r.steps == 13, "resumed to the end: %d more steps", r.steps);
        ng_trainer_free(t);
    }
    CHECK(same_checkpoints(dir("gpt-a"), dir("gpt-b")), "stopped and resumed = never stopped (weights and moments)");

    /* a resumed run takes the settings it is given over its saved ones */
    ng_train_settings more = text_settings();
    more.steps = 26;
    more.given = NG_SET_STEPS;
    t = ng_trainer_resume(dir("gpt-b"), &more, NULL);
    counts m = {0};
    CHECK(t && ng_trainer_settings(t)->steps == 26 && run(t, &m) == NG_OK && m.steps == 6, "--steps 26 given on resume: %d more", m.steps);
    ng_trainer_free(t);
    /* at its end: nothing to do (without no_final_eval, the loss on the whole val split, once) */
    ng_train_settings same = text_settings();
    same.given = 0;
    t = ng_trainer_resume(dir("gpt-b"), &same, NULL);
    counts z = {0};
    CHECK(t && run(t, &z) == NG_OK && z.steps == 0, "at its end: no step");
    if (t) { ng_trainer_info(t, &in); CHECK(in.nothing_to_do && isnan(in.full_val_loss), "nothing to do"); }
    ng_trainer_free(t);
    t = ng_trainer_resume(dir("gpt-b"), NULL, NULL);
    CHECK(t && run(t, &z) == NG_OK, "at its end, with the final evaluation: %s", ng_last_error());
    if (t) { ng_trainer_info(t, &in); CHECK(!in.nothing_to_do && in.full_val_loss > 0 && in.full_val_count > 0, "the full val loss: %g", in.full_val_loss); }
    ng_trainer_free(t);

    /* a checkpoint in out is not overwritten unless forced */
    CHECK(ng_trainer_create(&c, &s, dir("gpt-a"), 0) == NULL && strstr(ng_last_error(), "already holds a checkpoint"),
          "refuses to overwrite: %s", ng_last_error());
}

static void test_fault(void) {
    ng_model_config c = tiny_gpt();
    ng_train_settings s = text_settings();
    ng_trainer *t = ng_trainer_create(&c, &s, dir("gpt-nan"), 0);
    CHECK(t != NULL, "%s", ng_last_error());
    if (!t) return;
    ng_params *P = ng_model_params(ng_trainer_model(t));
    ng_params_find(P, "h.0.c_attn.weight")->data[3] = NAN;
    counts k = {0};
    CHECK(run(t, &k) == NG_ERR, "a NaN weight stops the run");
    const char *e = ng_last_error();
    CHECK(strstr(e, "step 0 of 20") && strstr(e, "nan") && strstr(e, "no checkpoint was saved yet"), "names where: %s", e);
    ng_trainer_free(t);
    char path[600];
    snprintf(path, sizeof path, "%s/model.safetensors", dir("gpt-nan"));
    CHECK(access(path, F_OK) != 0, "nothing saved");
}

static void test_state_check(void) {
    CHECK(ng_train_state_check("{\"epoch\":1,\"rng\":[\"1\",\"2\",\"3\",\"4\"],\"beta2\":1}", 0) == NG_ERR &&
          strstr(ng_last_error(), "beta2"), "image state with beta2 = 1: %s", ng_last_error());
    CHECK(ng_train_state_check("{\"step\":3,\"rng\":[\"1\",\"2\",\"3\",\"4\"],\"warmup\":-5}", 1) == NG_ERR &&
          strstr(ng_last_error(), "warmup"), "text state with warmup = -5: %s", ng_last_error());
    CHECK(ng_train_state_check("{\"step\":3,\"rng\":[\"1\",\"2\",\"3\",\"4\"]}", 1) == NG_OK, "a plain text state: %s", ng_last_error());
    CHECK(ng_train_state_check("not json", 1) == NG_ERR, "not JSON");
}

/* an image kind: one run of `batches` batches against one stopped after `stop` and resumed */
static void image_resume(ng_model_kind kind, const char *name, int batches, int stop) {
    ng_model_config c = {.kind = kind, .hidden = 64, .latent = kind == NG_MODEL_GAN ? 100 : 8, .beta = 1};
    ng_train_settings s;
    ng_train_defaults(kind, &s);
    s.data = "fashion-mnist";
    s.epochs = 2; s.max_batches = batches; s.batch_size = 32;
    char a[300], b[300];
    snprintf(a, sizeof a, "%s-a", name);
    snprintf(b, sizeof b, "%s-b", name);
    ng_trainer *t = ng_trainer_create(&c, &s, dir(a), 0);
    CHECK(t != NULL, "%s: %s", name, ng_last_error());
    if (!t) return;
    counts x = {0};
    CHECK(run(t, &x) == NG_OK && x.steps == 2 * batches && x.epochs == 2 && x.saved == 2, "%s: 2 epochs of %d batches: %d, %d epochs",
          name, batches, x.steps, x.epochs);
    ng_trainer_free(t);
    t = ng_trainer_create(&c, &s, dir(b), 0);
    counts y = {.stop_at = stop};
    CHECK(t && run(t, &y) == NG_STOPPED, "%s: stopped inside epoch 1", name);
    ng_trainer_free(t);
    t = ng_trainer_resume(dir(b), NULL, NULL);
    CHECK(t != NULL, "%s: resume: %s", name, ng_last_error());
    if (!t) return;
    ng_train_info in;
    ng_trainer_info(t, &in);
    CHECK(in.start == 0 && in.start_batch == stop + 1, "%s: continues in epoch 1 at batch %d", name, in.start_batch);
    counts z = {0};
    CHECK(run(t, &z) == NG_OK && z.steps == 2 * batches - stop, "%s: the remaining %d batches: %d", name, 2 * batches - stop, z.steps);
    ng_trainer_free(t);
    CHECK(same_checkpoints(dir(a), dir(b)), "%s: stopped inside an epoch and resumed = never stopped", name);
}

static void test_images(void) {
    if (access(FASHION, R_OK) != 0) {
        SKIP(4, "dataset-fashion-mnist is not installed");
        return;
    }
    image_resume(NG_MODEL_VAE, "vae", 5, 3);
    image_resume(NG_MODEL_GAN, "gan", 4, 2);
}

int main(void) {
    snprintf(g_tmp, sizeof g_tmp, "%s/nanogen-test_trainer.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(g_tmp)) { perror("mkdtemp"); return 1; }
    ng_set_threads(1);
    RUN(test_text);
    RUN(test_fault);
    RUN(test_state_check);
    RUN(test_images);
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", g_tmp);
    TEST_MAIN_END();
}

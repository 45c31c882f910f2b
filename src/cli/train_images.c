/* train_images.c - `nanogen train ae|dae|vae|gan|classifier --data fashion-mnist --out DIR`:
 * the flags of an image model's training run (AE/DAE/VAE as MLP or --arch conv, the DCGAN, the
 * CNN classifier whose features the GAN's FID uses), and what it prints; the run itself is the
 * library's trainer (src/train/images.c: epochs, pictures in DIR/samples/, checkpoints). */
#include "cli.h"
#include "core/progress.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    ng_model_config mc;
    const char *data, *out, *resume;
    int epochs, B, threads, force, size, max_batches, log_every, detect_anomaly;
    float lr, beta1, beta2, noise;
    int noise_mask;       /* DAE: 0 gaussian noise of std `noise`, 1 masking with probability `noise` */
    uint64_t seed;
} itrain_opts;


/* Ranges of the settings that a checkpoint's training state also holds: a flag and a restored
 * setting are checked against the same numbers (parse, load_state). */
#define R_EPOCHS 0, 100000
#define R_BATCH 1, 65536
#define R_LR 0, 10
#define R_BETA1 0, 0.9999
#define R_BETA2 0, 0.99999
#define R_SIZE 4, 1024
#define R_MAX_BATCHES 0, 1 << 30
#define NOISE_MAX(mask) ((mask) ? 1.0f : 10.0f)   /* mask:P is a probability, gaussian:STD up to 10 */

static void usage(void) {
    fprintf(stderr,
        "usage: nanogen train ae|dae|vae|gan|classifier --data fashion-mnist|mnist|DIR --out DIR [options]\n"
        "       nanogen train --resume DIR [--epochs N]\n"
        "  --epochs N (10; gan 5; classifier 5)  --batch-size B (128)  --lr X (1e-3; gan 2e-4)  --beta1 X --beta2 X\n"
        "  --arch mlp|conv (ae, dae, vae: SPEC.md's MLP, or a conv encoder/decoder; size divisible by 4)\n"
        "  --latent N (20; gan 100)  --hidden N (400; conv 256; classifier 128)  --beta X (VAE KL weight, 1)\n"
        "  --noise gaussian:S | mask:P (dae, default gaussian:0.3)\n"
        "  --image-size N --channels 1|3 (folders of PNG/JPEG)  --max-batches N  --seed S --threads N --force\n"
        "  --detect-anomaly (check every op's output and gradients for NaN/Inf; slower)\n");
}

/* NG_OK, NG_ERR + error, or 1 after printing the usage for --help. */
static int parse(int argc, char **argv, itrain_opts *o) {
    memset(o, 0, sizeof *o);
    int i = 0, kind = -1;
    if (argc > 0 && argv[0][0] != '-') {
        const char *k = argv[0];
        kind = !strcmp(k, "ae") ? NG_MODEL_AE : !strcmp(k, "dae") ? NG_MODEL_DAE : !strcmp(k, "vae") ? NG_MODEL_VAE
             : !strcmp(k, "classifier") ? NG_MODEL_CLASSIFIER : NG_MODEL_GAN;
        i = 1;
    }
    o->mc.kind = (ng_model_kind)(kind < 0 ? NG_MODEL_VAE : kind);
    int gan = o->mc.kind == NG_MODEL_GAN;
    o->epochs = gan ? 5 : 10; o->B = 128; o->lr = gan ? 2e-4f : 1e-3f; o->beta1 = gan ? 0.5f : 0.9f; o->beta2 = 0.999f;
    const int clf = o->mc.kind == NG_MODEL_CLASSIFIER;
    if (clf) o->epochs = 5;
    o->mc.latent = gan ? 100 : 20; o->mc.hidden = clf ? 128 : 400; o->mc.beta = 1.0f; o->noise = 0.3f;
    int hidden_given = 0;
    o->seed = 1; o->size = 28; o->mc.c = 1; o->log_every = 50;
    for (; i < argc; i++) {
        const char *a = argv[i];
        int rc = NG_OK;
        if (!strcmp(a, "--data")) rc = arg_str(argc, argv, &i, &o->data);
        else if (!strcmp(a, "--out")) rc = arg_str(argc, argv, &i, &o->out);
        else if (!strcmp(a, "--resume")) rc = arg_str(argc, argv, &i, &o->resume);
        else if (!strcmp(a, "--epochs")) rc = arg_int(argc, argv, &i, R_EPOCHS, &o->epochs);
        else if (!strcmp(a, "--batch-size")) rc = arg_int(argc, argv, &i, R_BATCH, &o->B);
        else if (!strcmp(a, "--lr")) rc = arg_float(argc, argv, &i, R_LR, &o->lr);
        else if (!strcmp(a, "--beta1")) rc = arg_float(argc, argv, &i, R_BETA1, &o->beta1);
        else if (!strcmp(a, "--beta2")) rc = arg_float(argc, argv, &i, R_BETA2, &o->beta2);
        else if (!strcmp(a, "--latent")) rc = arg_int(argc, argv, &i, 1, 65536, &o->mc.latent);
        else if (!strcmp(a, "--hidden")) { rc = arg_int(argc, argv, &i, 1, 65536, &o->mc.hidden); hidden_given = 1; }
        else if (!strcmp(a, "--arch")) {
            const char *v;
            rc = arg_str(argc, argv, &i, &v);
            if (!rc && !strcmp(v, "mlp")) o->mc.arch = NG_ARCH_MLP;
            else if (!rc && !strcmp(v, "conv")) o->mc.arch = NG_ARCH_CONV;
            else if (!rc) rc = ng_set_error("--arch: '%s' is not mlp or conv", v);
        }
        else if (!strcmp(a, "--beta")) rc = arg_float(argc, argv, &i, 0, 1e6, &o->mc.beta);
        else if (!strcmp(a, "--image-size")) rc = arg_int(argc, argv, &i, R_SIZE, &o->size);
        else if (!strcmp(a, "--channels")) rc = arg_int(argc, argv, &i, 1, 3, &o->mc.c);
        else if (!strcmp(a, "--max-batches")) rc = arg_int(argc, argv, &i, R_MAX_BATCHES, &o->max_batches);
        else if (!strcmp(a, "--log-every")) rc = arg_int(argc, argv, &i, 1, 1 << 30, &o->log_every);
        else if (!strcmp(a, "--seed")) rc = arg_u64(argc, argv, &i, &o->seed);
        else if (!strcmp(a, "--threads")) rc = arg_int(argc, argv, &i, 0, 1024, &o->threads);
        else if (!strcmp(a, "--force")) o->force = 1;
        else if (!strcmp(a, "--detect-anomaly")) o->detect_anomaly = 1;
        else if (!strcmp(a, "--noise")) {
            const char *v;
            rc = arg_str(argc, argv, &i, &v);
            char *end = NULL;
            if (!rc && !strncmp(v, "gaussian:", 9)) { o->noise_mask = 0; o->noise = strtof(v + 9, &end); }
            else if (!rc && !strncmp(v, "mask:", 5)) { o->noise_mask = 1; o->noise = strtof(v + 5, &end); }
            if (!rc && (!end || *end || !(o->noise >= 0) || o->noise > NOISE_MAX(o->noise_mask)))
                rc = ng_set_error("--noise: '%s' is not gaussian:STD (0..10) or mask:P (0..1)", v);
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(); return 1; }
        else rc = ng_set_error("unknown flag '%s' for train %s", a, ng_model_kind_name(o->mc.kind));
        if (rc) return rc;
    }
    if (o->mc.c != 1 && o->mc.c != 3) return ng_set_error("--channels must be 1 or 3");
    if (o->mc.arch == NG_ARCH_CONV && (gan || clf))
        return ng_set_error("--arch conv is for ae, dae and vae (the %s has its own architecture)", ng_model_kind_name(o->mc.kind));
    if (o->mc.arch == NG_ARCH_CONV && !hidden_given) o->mc.hidden = 256;
    if (!o->resume) {
        if (!o->data) return ng_set_error("--data is required: fashion-mnist, mnist, or a folder of IDX files or images");
        if (!o->out) return ng_set_error("--out DIR is required (where the checkpoint goes)");
    }
    return NG_OK;
}

/* The per-epoch line on stdout, readable, with the numbers of the epoch's metrics.jsonl record j:
 * "epoch 2/10: train loss 260.123, test loss 258.456 (3.1 s, 19355 img/s)". */
static void print_epoch_line(const cJSON *j, int epochs) {
    static const struct { const char *key, *name; } shown[] = {
        {"train_loss", "train loss"}, {"test_loss", "test loss"}, {"test_acc", "test accuracy"},
        {"d_loss", "D loss"}, {"g_loss", "G loss"}, {"d_real", "D(x)"}, {"d_fake", "D(G(z))"}};
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(j, "epoch"), *t = cJSON_GetObjectItemCaseSensitive(j, "epoch_s"),
                *r = cJSON_GetObjectItemCaseSensitive(j, "img_per_s");
    printf("epoch %d/%d:", cJSON_IsNumber(e) ? e->valueint : 0, epochs);
    const char *sep = " ";
    for (size_t k = 0; k < sizeof shown / sizeof *shown; k++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, shown[k].key);
        if (!cJSON_IsNumber(v)) continue;
        if (!strcmp(shown[k].key, "test_acc")) printf("%s%s %.2f%%", sep, shown[k].name, 100 * v->valuedouble);
        else printf("%s%s %g", sep, shown[k].name, v->valuedouble);
        sep = ", ";
    }
    printf(" (%.1f s, %.0f img/s)\n", cJSON_IsNumber(t) ? t->valuedouble : 0.0, cJSON_IsNumber(r) ? r->valuedouble : 0.0);
    fflush(stdout);
}


typedef struct {
    int tty, epochs;
    long stop_at, run;        /* NANOGEN_TEST_STOP_AT: a Ctrl-C after that many batches of this run */
    int epoch;                /* the last batch's epoch (0-based) and number (1-based) */
    long batch;
    long seen;                /* images of this epoch so far, and their seconds */
    double seconds;
    ng_pace pace;             /* the progress line's smoothed batch time (its ETA) */
} view;

static void on_event(const ng_train_event *e, void *ctx) {
    view *v = ctx;
    switch (e->kind) {
    case NG_TRAIN_STEP:
        if (e->epoch != v->epoch || e->step <= v->batch) v->seen = 0, v->seconds = 0;   /* a new epoch */
        v->epoch = e->epoch; v->batch = e->step;
        v->seen += e->items; v->seconds += e->seconds;
        ng_pace_add(&v->pace, e->seconds);
        if (v->tty) {
            char eta[32];   /* the batches left in this epoch and the next ones */
            ng_pace_eta(&v->pace, (e->steps - e->step) + (long)(e->epochs - e->epoch - 1) * e->steps, eta, sizeof eta);
            fprintf(stderr, "\r\033[Kepoch %d/%d | batch %ld/%ld | %.0f img/s | ETA %s", e->epoch + 1, e->epochs, e->step, e->steps,
                    v->seconds > 0 ? v->seen / v->seconds : 0.0, eta);
        }
        if (v->stop_at > 0 && ++v->run == v->stop_at) cli_stop = SIGINT;   /* test hook: a Ctrl-C at a known batch */
        break;
    case NG_TRAIN_EPOCH: {
        if (v->tty) fprintf(stderr, "\r\033[K");
        cJSON *j = cJSON_Parse(e->record);
        if (j) print_epoch_line(j, e->epochs);
        cJSON_Delete(j);
        break;
    }
    case NG_TRAIN_NOTE:
        if (v->tty) fprintf(stderr, "\r\033[K");
        fprintf(stderr, "nanogen: %s\n", e->message);
        break;
    default:
        break;
    }
}

int cmd_train_images(int argc, char **argv) {
    itrain_opts o;
    int prc = parse(argc, argv, &o);
    if (prc > 0) return 0;   /* --help */
    if (prc) { fprintf(stderr, "nanogen: %s\n", ng_last_error()); usage(); return 2; }
    if (cli_parse_only) return 0;   /* the fuzz harness: flags parsed and checked, nothing run */
    cli_set_threads(o.threads);
    ng_train_settings s;
    ng_train_defaults(o.mc.kind, &s);
    s.data = o.data; s.seed = o.seed; s.batch_size = o.B; s.lr = o.lr; s.beta1 = o.beta1; s.beta2 = o.beta2;
    s.epochs = o.epochs; s.max_batches = o.max_batches; s.image_size = o.size; s.noise = o.noise; s.noise_mask = o.noise_mask;
    s.detect_anomaly = o.detect_anomaly;
    for (int i = 0; i < argc; i++) if (!strcmp(argv[i], "--epochs")) s.given |= NG_SET_EPOCHS;   /* a resumed run keeps the rest */
    ng_trainer *t = o.resume ? ng_trainer_resume(o.resume, &s, o.out) : ng_trainer_create(&o.mc, &s, o.out, o.force);
    if (!t) { fprintf(stderr, "nanogen: %s\n", ng_last_error()); return 1; }
    const ng_train_settings *ts = ng_trainer_settings(t);
    const ng_model_config *c = ng_model_cfg(ng_trainer_model(t));
    const char *out = o.out ? o.out : o.resume;
    ng_train_info in;
    ng_trainer_info(t, &in);
    if (o.resume && in.start_batch) printf("resuming %s in epoch %d of %d at batch %d\n", o.resume, in.start + 1, ts->epochs, in.start_batch);
    else if (o.resume) printf("resuming %s from epoch %d of %d\n", o.resume, in.start, ts->epochs);
    printf("%s: %" PRId64 " parameters, %" PRId64 " train / %" PRId64 " test images %dx%dx%d, batch %d, %d thread%s\n",
           ng_model_kind_name(c->kind), in.n_params, in.n_train, in.n_val, c->c, c->h, c->w, in.batch_size, ng_get_threads(),
           ng_get_threads() == 1 ? "" : "s");
    fflush(stdout);
    view v = {.tty = isatty(STDERR_FILENO), .stop_at = cli_test_stop_at(), .epoch = -1};
    ng_trainer_set_callback(t, on_event, &v);
    ng_trainer_set_stop_flag(t, (volatile int *)&cli_stop);
    cli_catch_stop_signals();
    const int rc = ng_trainer_run(t);
    if (v.tty) fprintf(stderr, "\r\033[K");
    int code = 0;
    if (rc == NG_STOPPED) {
        printf("interrupted in epoch %d after batch %ld: checkpoint saved in %s (continue with: nanogen train --resume %s)\n", v.epoch + 1,
               v.batch, out, out);
        code = cli_stop_code();
    } else if (rc) {
        fprintf(stderr, "nanogen: %s\n", ng_last_error());
        code = 1;
    } else if (c->kind == NG_MODEL_CLASSIFIER) {
        printf("checkpoint: %s/model.safetensors\n", out);
    } else {
        printf("checkpoint: %s/model.safetensors, pictures in %s/samples/\n", out, out);
    }
    ng_trainer_free(t);
    return code;
}

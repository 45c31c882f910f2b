/* train_images.c - `nanogen train ae|dae|vae|gan|classifier --data fashion-mnist --out DIR`:
 * the flags of an image model's training run (AE/DAE/VAE as MLP or --arch conv, the DCGAN, the
 * CNN classifier whose features the GAN's FID uses), and what it prints; the run itself is the
 * library's trainer (src/train/images.c: epochs, pictures in DIR/samples/, checkpoints). */
#include "cli.h"
#include "core/progress.h"
#include "train/ranges.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    ng_model_config mc;
    const char *data, *out, *resume, *arch, *noise_s, *exclude;
    int epochs, B, threads, force, size, max_batches, log_every, detect_anomaly, grad_shards;
    float lr, beta1, beta2, noise;
    int noise_mask;       /* DAE: 0 gaussian noise of std `noise`, 1 masking with probability `noise` */
    uint64_t seed;
} itrain_opts;


static const cli_flagdef
    def_epochs = {"--epochs", CLI_INT, R_EPOCHS, "N", "epochs (with --resume: the new total)"},
    def_beta1 = {"--beta1", CLI_FLOAT, R_BETA1, "X", "Adam's beta1"},
    def_beta2 = {"--beta2", CLI_FLOAT, R_BETA2, "X", "Adam's beta2"},
    def_latent = {"--latent", CLI_INT, 1, 65536, "N", "latent size (ae, dae, vae, gan)"},
    def_hidden = {"--hidden", CLI_INT, 1, 65536, "N", "hidden width (400; conv 256; classifier 128)"},
    def_arch = {"--arch", CLI_STR, 0, 0, "mlp|conv", "ae, dae, vae: SPEC.md's MLP, or a conv encoder/decoder (size divisible by 4)"},
    def_beta = {"--beta", CLI_FLOAT, 0, 1e6, "X", "the VAE's KL weight"},
    def_exclude = {"--exclude-class", CLI_STR, 0, 0, "NAME|N", "labelled data: leave this class out of the train split (anomaly studies: nanogen score)"},
    def_size = {"--image-size", CLI_INT, R_SIZE, "N", "pictures of a folder: resized and centre-cropped to N x N"},
    def_channels = {"--channels", CLI_INT, 1, 3, "1|3", "pictures of a folder: grey or RGB"},
    def_max_batches = {"--max-batches", CLI_INT, R_MAX_BATCHES, "N", "batches an epoch at most (0: all)"};
static const cli_flag FLAGS[] = {
    CLI_F(cli_def_data, itrain_opts, data, NULL, "fashion-mnist | mnist | a folder of IDX files | a folder of pictures"),
    CLI_F(cli_def_out_dir, itrain_opts, out, NULL, NULL),
    CLI_F(cli_def_resume, itrain_opts, resume, NULL, NULL),
    CLI_F(def_epochs, itrain_opts, epochs, NULL, "epochs (10; gan, classifier 5; with --resume: the new total)"),
    CLI_F(cli_def_batch_size, itrain_opts, B, "128", "pictures a batch"),
    CLI_F(cli_def_lr, itrain_opts, lr, NULL, "learning rate (1e-3; gan 2e-4)"),
    CLI_F(def_beta1, itrain_opts, beta1, NULL, "Adam's beta1 (0.9; gan 0.5)"),
    CLI_F(def_beta2, itrain_opts, beta2, "0.999", NULL),
    CLI_F(def_latent, itrain_opts, mc.latent, NULL, "latent size (20; gan 100)"),
    CLI_F(def_hidden, itrain_opts, mc.hidden, NULL, NULL),
    CLI_F(def_arch, itrain_opts, arch, NULL, NULL),
    CLI_F(def_beta, itrain_opts, mc.beta, "1", NULL),
    CLI_F(cli_def_noise, itrain_opts, noise_s, NULL, "the DAE's corruption (gaussian:0.3)"),
    CLI_F(def_exclude, itrain_opts, exclude, NULL, NULL),
    CLI_F(def_size, itrain_opts, size, "28", NULL),
    CLI_F(def_channels, itrain_opts, mc.c, "1", NULL),
    CLI_F(def_max_batches, itrain_opts, max_batches, "0", NULL),
    CLI_F(cli_def_log_every, itrain_opts, log_every, "50", NULL),
    CLI_F(cli_def_seed, itrain_opts, seed, "1", NULL),
    CLI_F(cli_def_threads, itrain_opts, threads, "0", NULL),
    CLI_F(cli_def_force, itrain_opts, force, NULL, NULL),
    CLI_F(cli_def_anomaly, itrain_opts, detect_anomaly, NULL, NULL),
    CLI_F(cli_def_grad_shards, itrain_opts, grad_shards, "0", NULL),
    {0}};

/* 0, or the exit code: 0 after --help (*help set), 2 after a usage error */
static int parse(int argc, char **argv, itrain_opts *o, unsigned *given, int *help) {
    memset(o, 0, sizeof *o);
    ng_model_kind kind = NG_MODEL_VAE;
    if (argc > 0 && argv[0][0] != '-') ng_model_kind_parse(argv[0], &kind);   /* cmd_train: an image kind */
    char name[32];
    snprintf(name, sizeof name, "train %s", argc > 0 && argv[0][0] != '-' ? ng_model_kind_name(kind) : "vae");
    const cli_cmd cmd = {name,
        "usage: nanogen train ae|dae|vae|gan|classifier --data fashion-mnist|mnist|DIR --out DIR [options]\n"
        "       nanogen train --resume DIR [--epochs N]", NULL, FLAGS, 1};
    o->mc.kind = kind;
    const int gan = kind == NG_MODEL_GAN, clf = kind == NG_MODEL_CLASSIFIER;
    o->epochs = gan || clf ? 5 : 10; o->lr = gan ? 2e-4f : 1e-3f; o->beta1 = gan ? 0.5f : 0.9f;
    o->mc.latent = gan ? 100 : 20; o->mc.hidden = clf ? 128 : 400; o->noise = 0.3f;
    cli_args a;
    int rc = cli_parse(&cmd, argc, argv, o, &a);
    *help = rc == 1;
    if (rc) return rc == 1 ? 0 : rc;
    *given = cli_given(&cmd, &a, "--epochs") ? NG_SET_EPOCHS : 0;   /* a resumed run keeps the rest */
    if (cli_given(&cmd, &a, "--grad-shards")) *given |= NG_SET_GRAD_SHARDS;
    if (o->arch && !strcmp(o->arch, "mlp")) o->mc.arch = NG_ARCH_MLP;
    else if (o->arch && !strcmp(o->arch, "conv")) o->mc.arch = NG_ARCH_CONV;
    else if (o->arch) { ng_set_error("--arch: '%s' is not mlp or conv", o->arch); return cli_usage_fail(name); }
    if (o->noise_s) {
        ng_noise nz;
        if (ng_noise_parse(o->noise_s, &nz)) { ng_set_error("--noise: %s", ng_last_error()); return cli_usage_fail(name); }
        o->noise_mask = nz.mask; o->noise = nz.level;
    }
    if (o->mc.c != 1 && o->mc.c != 3) ng_set_error("--channels must be 1 or 3");
    else if (o->mc.arch == NG_ARCH_CONV && (gan || clf))
        ng_set_error("--arch conv is for ae, dae and vae (the %s has its own architecture)", ng_model_kind_name(o->mc.kind));
    else if (!o->resume && !o->data) ng_set_error("--data is required: fashion-mnist, mnist, or a folder of IDX files or images");
    else if (!o->resume && !o->out) ng_set_error("--out DIR is required (where the checkpoint goes)");
    else {
        if (o->mc.arch == NG_ARCH_CONV && !cli_given(&cmd, &a, "--hidden")) o->mc.hidden = 256;
        return 0;
    }
    return cli_usage_fail(name);
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
    case NG_TRAIN_NOTE: cli_train_note(v->tty, e->message); break;
    default: break;
    }
}

int cmd_train_images(int argc, char **argv) {
    itrain_opts o;
    unsigned given;
    int help, prc = parse(argc, argv, &o, &given, &help);
    if (prc || help) return prc;
    if (cli_parse_only) return 0;   /* the fuzz harness: flags parsed and checked, nothing run */
    cli_set_threads(o.threads);
    ng_train_settings s;
    ng_train_defaults(o.mc.kind, &s);
    s.data = o.data; s.seed = o.seed; s.batch_size = o.B; s.lr = o.lr; s.beta1 = o.beta1; s.beta2 = o.beta2;
    s.epochs = o.epochs; s.max_batches = o.max_batches; s.image_size = o.size; s.noise = o.noise; s.noise_mask = o.noise_mask;
    s.exclude_class = o.exclude;
    s.detect_anomaly = o.detect_anomaly; s.grad_shards = o.grad_shards;
    s.given |= given;
    ng_trainer *t = o.resume ? ng_trainer_resume(o.resume, &s, o.out) : ng_trainer_create(&o.mc, &s, o.out, o.force);
    if (!t) return cli_train_failed();
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
        code = cli_train_failed();
    } else if (c->kind == NG_MODEL_CLASSIFIER) {
        printf("checkpoint: %s/model.safetensors\n", out);
    } else {
        printf("checkpoint: %s/model.safetensors, pictures in %s/samples/\n", out, out);
    }
    ng_trainer_free(t);
    return code;
}

/* train_images.c - `nanogen train ae|dae|vae|gan|classifier --data fashion-mnist --out DIR`:
 * the image models of SPEC.md (AE/DAE/VAE as MLP or --arch conv) and the CNN classifier whose
 * features the GAN's FID uses, trained per epoch, with metrics.jsonl, a sample grid per epoch
 * in DIR/samples/, checkpoints each epoch, --resume, and a clean Ctrl-C. */
#include "cli.h"
#include "io/jsonnum.h"
#include "progress.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

static int is_image_kind(const char *s) {
    return !strcmp(s, "ae") || !strcmp(s, "dae") || !strcmp(s, "vae") || !strcmp(s, "gan") || !strcmp(s, "classifier");
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

/* Where a run stopped inside an epoch (Ctrl-C): the next batch, the RNG as the epoch began
 * (it regenerates the shuffle), and the epoch's running sums, so a resume continues exactly. */
typedef struct {
    int batch, seen;
    ng_rng rng_epoch;
    double acc[6];   /* loss sums (tot, d, g, D(x), D(G(z)), correct) */
    double elapsed;
} epoch_pos;

static void add_rng(cJSON *j, const char *key, const ng_rng *rng) {
    char buf[32];
    cJSON *r = cJSON_AddArrayToObject(j, key);
    for (int i = 0; i < 4; i++) {
        snprintf(buf, sizeof buf, "%016" PRIx64, rng->s[i]);
        cJSON_AddItemToArray(r, cJSON_CreateString(buf));
    }
}

static int get_rng(const cJSON *j, const char *key, ng_rng *rng) {
    const cJSON *r = cJSON_GetObjectItem(j, key);
    if (!cJSON_IsArray(r) || cJSON_GetArraySize(r) != 4) return NG_ERR;
    for (int i = 0; i < 4; i++) {
        const cJSON *x = cJSON_GetArrayItem(r, i);
        if (!cJSON_IsString(x)) return NG_ERR;
        rng->s[i] = strtoull(x->valuestring, NULL, 16);
    }
    return NG_OK;
}

static char *state_json(const itrain_opts *o, int epoch, const ng_rng *rng, const epoch_pos *pos) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "epoch", epoch);
    if (pos && pos->batch > 0) {
        cJSON_AddNumberToObject(j, "batch", pos->batch);
        cJSON_AddNumberToObject(j, "seen", pos->seen);
        cJSON_AddNumberToObject(j, "elapsed_s", pos->elapsed);
        cJSON *a = cJSON_AddArrayToObject(j, "sums");
        for (int i = 0; i < 6; i++) cJSON_AddItemToArray(a, ng_json_exact(pos->acc[i]));   /* exact, as they will be summed on */
        add_rng(j, "rng_epoch", &pos->rng_epoch);
    }
    cJSON_AddNumberToObject(j, "epochs", o->epochs);
    cJSON_AddNumberToObject(j, "batch_size", o->B);
    cJSON_AddNumberToObject(j, "lr", o->lr);
    cJSON_AddNumberToObject(j, "beta1", o->beta1);
    cJSON_AddNumberToObject(j, "beta2", o->beta2);
    cJSON_AddNumberToObject(j, "noise", o->noise);
    cJSON_AddNumberToObject(j, "noise_mask", o->noise_mask);
    cJSON_AddNumberToObject(j, "image_size", o->size);
    cJSON_AddNumberToObject(j, "max_batches", o->max_batches);
    cJSON_AddStringToObject(j, "data", o->data ? o->data : "");
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRIu64, o->seed);
    cJSON_AddStringToObject(j, "seed", buf);
    add_rng(j, "rng", rng);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

/* A float setting of the saved state: v as a float when it is a number that fits (converting a
 * double outside float's range, a crafted 1e300, is undefined behaviour), else dflt. */
static float jfloat(const cJSON *v, float dflt) {
    return cJSON_IsNumber(v) && isfinite(v->valuedouble) && fabs(v->valuedouble) <= 1e30 ? (float)v->valuedouble : dflt;
}

static int load_state(const char *json, itrain_opts *o, int *epoch, ng_rng *rng, int epochs_given, epoch_pos *pos) {
    cJSON *j = json ? cJSON_Parse(json) : NULL;
    int ok = cJSON_IsObject(j);
    const cJSON *e = cJSON_GetObjectItem(j, "epoch"), *r = cJSON_GetObjectItem(j, "rng");
    ok = ok && cJSON_IsNumber(e) && e->valuedouble >= 0 && cJSON_IsArray(r) && cJSON_GetArraySize(r) == 4;
    if (ok) {
        *epoch = e->valueint;
        const cJSON *v;
        if (!epochs_given && cJSON_IsNumber(v = cJSON_GetObjectItem(j, "epochs"))) o->epochs = v->valueint;
        if (cJSON_IsNumber(v = cJSON_GetObjectItem(j, "batch_size")) && v->valueint > 0) o->B = v->valueint;
        o->lr = jfloat(cJSON_GetObjectItem(j, "lr"), o->lr);
        o->beta1 = jfloat(cJSON_GetObjectItem(j, "beta1"), o->beta1);
        o->beta2 = jfloat(cJSON_GetObjectItem(j, "beta2"), o->beta2);
        o->noise = jfloat(cJSON_GetObjectItem(j, "noise"), o->noise);
        if (cJSON_IsNumber(v = cJSON_GetObjectItem(j, "noise_mask"))) o->noise_mask = v->valueint;
        if (cJSON_IsNumber(v = cJSON_GetObjectItem(j, "image_size"))) o->size = v->valueint;
        if (cJSON_IsNumber(v = cJSON_GetObjectItem(j, "max_batches")) && v->valueint >= 0) o->max_batches = v->valueint;
        static char data[4096];
        if (!o->data && cJSON_IsString(v = cJSON_GetObjectItem(j, "data")) && v->valuestring[0]) {
            snprintf(data, sizeof data, "%s", v->valuestring);
            o->data = data;
        }
        if (cJSON_IsString(v = cJSON_GetObjectItem(j, "seed"))) o->seed = strtoull(v->valuestring, NULL, 10);
        ok = get_rng(j, "rng", rng) == NG_OK;
        memset(pos, 0, sizeof *pos);
        const cJSON *bt = cJSON_GetObjectItem(j, "batch"), *sm = cJSON_GetObjectItem(j, "sums");
        if (ok && cJSON_IsNumber(bt) && bt->valueint > 0) {   /* stopped inside an epoch */
            ok = cJSON_IsArray(sm) && cJSON_GetArraySize(sm) == 6 && get_rng(j, "rng_epoch", &pos->rng_epoch) == NG_OK;
            pos->batch = bt->valueint;
            if (cJSON_IsNumber(v = cJSON_GetObjectItem(j, "seen"))) pos->seen = v->valueint;
            if (cJSON_IsNumber(v = cJSON_GetObjectItem(j, "elapsed_s"))) pos->elapsed = v->valuedouble;
            for (int i = 0; ok && i < 6; i++) pos->acc[i] = cJSON_GetArrayItem(sm, i)->valuedouble;
        }
    }
    cJSON_Delete(j);
    if (!ok) return ng_set_error("the checkpoint has no valid training state to resume");
    /* what was restored must lie where the flags may (the R_ ranges) */
    int bad = 0;
    for (int i = 0; i < 6; i++) bad |= !isfinite(pos->acc[i]);
    if (bad || !isfinite(pos->elapsed)) return ng_set_error("the checkpoint's training state is invalid: its running sums are not finite");
    if (cli_state_range("epoch", *epoch, R_EPOCHS) || cli_state_range("epochs", o->epochs, R_EPOCHS) ||
        cli_state_range("batch_size", o->B, R_BATCH) || cli_state_range("lr", o->lr, R_LR) ||
        cli_state_range("beta1", o->beta1, R_BETA1) || cli_state_range("beta2", o->beta2, R_BETA2) ||
        cli_state_range("noise_mask", o->noise_mask, 0, 1) || cli_state_range("noise", o->noise, 0, NOISE_MAX(o->noise_mask)) ||
        cli_state_range("image_size", o->size, R_SIZE) || cli_state_range("max_batches", o->max_batches, R_MAX_BATCHES) ||
        cli_state_range("batch", pos->batch, 0, 1 << 30) || cli_state_range("seen", pos->seen, 0, 1 << 30))
        return NG_ERR;
    return NG_OK;
}

/* Shuffle 0..n-1 (Fisher-Yates). */
static void permute(int *p, int n, ng_rng *r) {
    for (int i = 0; i < n; i++) p[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)ng_rng_below(r, (uint32_t)(i + 1)), t = p[i];
        p[i] = p[j]; p[j] = t;
    }
}

/* Copy the images idx[0..b) of `im` into dst, mapping [0,1] to [lo, hi]. */
static void gather(float *dst, const ng_images *im, const int *idx, int b, float lo, float hi) {
    const size_t D = (size_t)im->c * im->h * im->w;
    for (int i = 0; i < b; i++) {
        const float *s = im->pixels + (size_t)idx[i] * D;
        float *d = dst + (size_t)i * D;
        if (lo == 0 && hi == 1) memcpy(d, s, D * sizeof(float));
        else for (size_t j = 0; j < D; j++) d[j] = lo + (hi - lo) * s[j];
    }
}

/* largest divisor of n that is <= cap (an eval batch that covers the set exactly) */
static int divisor_upto(int n, int cap) {
    for (int b = cap < n ? cap : n; b > 1; b--) if (n % b == 0) return b;
    return 1;
}

/* DIR/samples/<name>_NNN.png */
static void sample_path(char *buf, size_t cap, const char *out, const char *name, int epoch) {
    snprintf(buf, cap, "%s/samples/%s_%03d.png", out, name, epoch);
}

/* A numerical fault (cli_forward, cli_finite_loss, cli_backward, cli_adamw_step) stops the loop
 * before anything is saved, the last checkpoint staying as it was: the error gains where. */
static void numeric_stop(const itrain_opts *o, int epoch, int batch, int n_batches, int saved) {
    char where[96], kept[4200];
    if (batch >= 0) snprintf(where, sizeof where, "epoch %d of %d, batch %d of %d", epoch + 1, o->epochs, batch + 1, n_batches);
    else snprintf(where, sizeof where, "epoch %d of %d (evaluation)", epoch + 1, o->epochs);
    snprintf(kept, sizeof kept, "the last checkpoint in %s", o->out);
    cli_fault_stop(where, saved ? kept : NULL);
}

/* An epoch of n pictures in batches of B: n_batches whole batches and a last one of rem pictures
 * (none for the GAN: its BatchNorm statistics want equal batches), at most max_batches (0: all). */
static void epoch_batches(int n, int B, int max_batches, int gan, int *n_batches, int *rem) {
    *n_batches = n / B; *rem = n % B;
    if (max_batches && max_batches < *n_batches) { *n_batches = max_batches; *rem = 0; }
    if (gan) *rem = 0;
}

int cli_image_state_check(const char *json) {
    itrain_opts o;
    char *argv[] = {"vae", "--resume", "x", NULL};
    if (parse(3, argv, &o)) return NG_ERR;
    int epoch = 0;
    ng_rng rng;
    epoch_pos pos;
    return load_state(json, &o, &epoch, &rng, 0, &pos);
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

int cmd_train_images(int argc, char **argv) {
    itrain_opts o;
    int prc = parse(argc, argv, &o);
    if (prc > 0) return 0;   /* --help */
    if (prc) { fprintf(stderr, "nanogen: %s\n", ng_last_error()); usage(); return 2; }
    if (cli_parse_only) return 0;   /* the fuzz harness: flags parsed and checked, nothing run */
    int epochs_given = 0;
    for (int i = 0; i < argc; i++) if (!strcmp(argv[i], "--epochs")) epochs_given = 1;
    cli_set_threads(o.threads);
    ng_model *m = NULL;
    ng_images tr = {0}, te = {0};
    ng_graph *gs[6] = {0};
    ng_adamw *opts[2] = {0};
    char *state = NULL;
    int *perm = NULL, code = 1, epoch0 = 0;
    epoch_pos pos0 = {0};
    FILE *metrics = NULL;
    ng_rng rng;
    ng_rng_seed(&rng, o.seed);
    if (o.resume) {
        if (ng_checkpoint_load(o.resume, &m, NULL, &state) || load_state(state, &o, &epoch0, &rng, epochs_given, &pos0)) goto fail;
        o.mc = *ng_model_cfg(m);
        if (!o.out) o.out = o.resume;
        if (!o.data) { ng_set_error("the checkpoint does not say which data it trained on: give --data"); goto fail; }
        if (pos0.batch) printf("resuming %s in epoch %d of %d at batch %d\n", o.resume, epoch0 + 1, o.epochs, pos0.batch + 1);
        else printf("resuming %s from epoch %d of %d\n", o.resume, epoch0, o.epochs);
    }
    if (ng_dataset_load(o.data, "train", o.size, o.mc.c, &tr) || ng_dataset_load(o.data, "test", o.size, o.mc.c, &te)) goto fail;
    if (tr.n < 1 || te.n < 1) { ng_set_error("'%s': the train or test split is empty", o.data); goto fail; }
    if (o.mc.kind == NG_MODEL_CLASSIFIER && (!tr.labels || !te.labels || tr.n_classes < 2)) {
        ng_set_error("'%s': the classifier needs labelled images of 2 classes or more", o.data);
        goto fail;
    }
    if (o.mc.kind == NG_MODEL_CLASSIFIER && m && (tr.n_classes > o.mc.n_classes || te.n_classes > o.mc.n_classes)) {
        ng_set_error("'%s' has %d classes but the classifier was trained on %d", o.data, tr.n_classes, o.mc.n_classes);
        goto fail;
    }
    if (!m) {
        o.mc.c = tr.c; o.mc.h = tr.h; o.mc.w = tr.w;
        if (o.mc.kind == NG_MODEL_CLASSIFIER) o.mc.n_classes = tr.n_classes;
        /* refuse up front what cannot fit: weights, gradients, two moments, activations */
        int64_t np = ng_model_param_count(&o.mc);
        if (np < 0) goto fail;
        const double D = (double)tr.c * tr.h * tr.w, acts = 16.0 * D + 8.0 * (o.mc.hidden + o.mc.latent) + 64.0 * tr.h * tr.w;
        char what[160];
        snprintf(what, sizeof what, "this %s (%.0fM parameters, batch %d, %dx%dx%d pictures)", ng_model_kind_name(o.mc.kind),
                 np / 1e6, o.B, tr.c, tr.h, tr.w);
        if (cli_memory_check(4.0 * (4.0 * (double)np + 2.0 * (o.B < tr.n ? o.B : tr.n) * acts), what,
                             "lower --hidden, --latent or --batch-size")) goto fail;
        if (!(m = ng_model_new(&o.mc))) goto fail;
        ng_model_init(m, o.seed);
    } else if (tr.c != o.mc.c || tr.h != o.mc.h || tr.w != o.mc.w) {
        ng_set_error("'%s' has %dx%dx%d images but the model was trained on %dx%dx%d", o.data, tr.c, tr.h, tr.w, o.mc.c, o.mc.h, o.mc.w);
        goto fail;
    }
    if (pos0.batch > 0) {   /* stopped inside an epoch: that position must exist in an epoch of this data */
        int nb, r;
        epoch_batches(tr.n, o.B < tr.n ? o.B : tr.n, o.max_batches, ng_model_cfg(m)->kind == NG_MODEL_GAN, &nb, &r);
        if (pos0.batch > nb + (r ? 1 : 0)) {
            ng_set_error("the checkpoint stopped before batch %d of epoch %d, but an epoch has %d batches here "
                         "(were --batch-size, --max-batches or the data changed?)", pos0.batch + 1, epoch0 + 1, nb + (r ? 1 : 0));
            goto fail;
        }
    }
    {   /* never overwrite a checkpoint by accident; find out now that --out is writable */
        int pictures = ng_model_cfg(m)->kind != NG_MODEL_CLASSIFIER;
        if (cli_prepare_out(o.out, pictures ? "samples" : NULL, o.resume != NULL, o.force)) goto fail;
        char sdir[4096];
        snprintf(sdir, sizeof sdir, "%s/metrics.jsonl", o.out);
        if (o.resume && cli_metrics_trim(sdir, "epoch", epoch0)) goto fail;
        metrics = fopen(sdir, o.resume ? "a" : "w");
        if (!metrics) { ng_set_error("cannot write %s: %s", sdir, strerror(errno)); goto fail; }
    }
    const ng_model_config *c = ng_model_cfg(m);
    const int gan = c->kind == NG_MODEL_GAN, clf = c->kind == NG_MODEL_CLASSIFIER, B = o.B < tr.n ? o.B : tr.n;
    const int64_t D = (int64_t)c->c * c->h * c->w;
    int n_batches, rem;
    epoch_batches(tr.n, B, o.max_batches, gan, &n_batches, &rem);
    for (int b = 0; b < ng_model_n_blocks(m); b++) {
        ng_adamw_cfg ac = {o.lr, o.lr, o.beta1, o.beta2, 1e-8f, 0.0f, 0.0f, 0, 1};
        if (!(opts[b] = ng_adamw_new(ng_model_block(m, b), &ac))) goto fail;
    }
    if (o.resume && (epoch0 > 0 || pos0.batch > 0) && ng_checkpoint_load_optim(o.resume, m, opts))
        fprintf(stderr, "nanogen: warning: %s; the optimizer restarts from zero moments\n", ng_last_error());
    perm = malloc(sizeof(int) * tr.n);
    if (!perm) { ng_set_error("out of memory"); goto fail; }
    printf("%s: %" PRId64 " parameters, %d train / %d test images %dx%dx%d, batch %d, %d thread%s\n", ng_model_kind_name(c->kind),
           ng_params_numel(ng_model_block(m, 0)) + (gan ? ng_params_numel(ng_model_block(m, 1)) : 0), tr.n, te.n, c->c, c->h, c->w, B,
           ng_get_threads(), ng_get_threads() == 1 ? "" : "s");
    fflush(stdout);
    cli_catch_stop_signals();

    /* graphs: shapes are fixed, so one per batch size; they share the parameters */
    ng_ae_graph ag[3];           /* train B, train remainder, eval */
    ng_classifier_graph cg[3];   /* the same for a classifier */
    ng_decoder_graph dg;         /* samples: 64 from the prior (VAE/GAN) */
    ng_tensor *dr_x = NULL, *dr_t = NULL, *dr_l = NULL, *df_x = NULL, *df_t = NULL, *df_l = NULL, *df_logits = NULL, *dr_logits = NULL;
    int Be = divisor_upto(te.n, 1000);
    if (clf) {
        if (!(gs[0] = ng_graph_new()) || ng_classifier_build(m, gs[0], B, &cg[0])) goto fail;
        if (rem && (!(gs[1] = ng_graph_new()) || ng_classifier_build(m, gs[1], rem, &cg[1]))) goto fail;
        if (!(gs[2] = ng_graph_new()) || ng_classifier_build(m, gs[2], Be, &cg[2])) goto fail;
        ng_graph_set_training(gs[2], 0);
    } else if (!gan) {
        if (!(gs[0] = ng_graph_new()) || ng_ae_build(m, gs[0], B, &ag[0])) goto fail;
        if (rem && (!(gs[1] = ng_graph_new()) || ng_ae_build(m, gs[1], rem, &ag[1]))) goto fail;
        if (!(gs[2] = ng_graph_new()) || ng_ae_build(m, gs[2], Be, &ag[2])) goto fail;
        ng_graph_set_training(gs[2], 0);
    } else {
        int64_t xe[4] = {B, c->c, c->h, c->w}, te1[2] = {B, 1};
        if (!(gs[3] = ng_graph_new()) || ng_decoder_build(m, gs[3], B, &dg)) goto fail;     /* G (training) */
        gs[4] = ng_graph_new();   /* D on real images */
        gs[5] = ng_graph_new();   /* D on generated images, gradient flows to its input */
        if (!gs[4] || !gs[5]) goto fail;
        dr_x = ng_input(gs[4], "real", 4, xe); dr_t = ng_input(gs[4], "target", 2, te1);
        df_x = ng_input(gs[5], "fake", 4, xe); df_t = ng_input(gs[5], "target", 2, te1);
        if (!dr_x || !dr_t || !df_x || !df_t) goto fail;
        df_x->requires_grad = 1;
        dr_logits = ng_gan_discriminator(m, gs[4], dr_x);
        df_logits = ng_gan_discriminator(m, gs[5], df_x);
        dr_l = ng_bce_logits(gs[4], dr_logits, dr_t, NG_MEAN);
        df_l = ng_bce_logits(gs[5], df_logits, df_t, NG_MEAN);
        if (!dr_l || !df_l || ng_graph_finalize(gs[4], dr_l) || ng_graph_finalize(gs[5], df_l)) goto fail;
        for (int i = 0; i < B; i++) dr_t->data[i] = 1.0f;
    }
    ng_graph *sg = NULL;   /* samples from the prior, eval mode (not for a classifier) */
    ng_decoder_graph sdg;
    float *zfix = NULL;
    if (!clf) {
        sg = ng_graph_new();
        if (!sg || ng_decoder_build(m, sg, 64, &sdg)) { ng_graph_free(sg); goto fail; }
        ng_graph_set_training(sg, 0);
        ng_rng fixed;   /* the same 64 latents every epoch, so the grids show progress */
        ng_rng_seed(&fixed, o.seed ^ 0xF1DEDull);
        zfix = malloc(sizeof(float) * 64 * c->latent);
        if (!zfix) { ng_graph_free(sg); ng_set_error("out of memory"); goto fail; }
        ng_rng_fill_normal(&fixed, zfix, 64 * (int64_t)c->latent);
    }

    for (int i = 0; i < 6; i++) if (gs[i]) ng_graph_set_detect_anomaly(gs[i], o.detect_anomaly);
    if (sg) ng_graph_set_detect_anomaly(sg, o.detect_anomaly);
    /* the checkpoint in o.out that a numerical fault keeps: one exists after a resume there or a save */
    int saved = o.resume && !strcmp(o.resume, o.out);
    const int nb_all = n_batches + (rem ? 1 : 0);
#define NUMCHECK(expr, batch) do { if (expr) { numeric_stop(&o, epoch, (batch), nb_all, saved); ng_graph_free(sg); free(zfix); goto fail; } } while (0)

    const long stop_at = cli_test_stop_at();
    long batches_run = 0;
    ng_pace pace = {0};   /* the progress line's smoothed batch time (its ETA) */
    for (int epoch = epoch0; epoch < o.epochs; epoch++) {
        double t0 = cli_now(), tot = 0, d_tot = 0, g_tot = 0, dx_tot = 0, dgz_tot = 0;
        int seen = 0, first = 0;
        ng_rng rng_epoch = rng;
        if (epoch == epoch0 && pos0.batch > 0) {   /* resume inside this epoch */
            rng_epoch = pos0.rng_epoch;
            ng_rng shuffle = rng_epoch;
            permute(perm, tr.n, &shuffle);
            first = pos0.batch; seen = pos0.seen; t0 -= pos0.elapsed;
            tot = pos0.acc[0]; d_tot = pos0.acc[1]; g_tot = pos0.acc[2]; dx_tot = pos0.acc[3]; dgz_tot = pos0.acc[4];
        } else {
            permute(perm, tr.n, &rng);
        }
        int bi;
        for (bi = first; bi < n_batches + (rem ? 1 : 0); bi++) {
            const double tb = cli_now();
            int b = bi < n_batches ? B : rem;
            const int *idx = perm + (size_t)bi * B;
            if (clf) {
                ng_classifier_graph *a = &cg[bi < n_batches ? 0 : 1];
                ng_graph *g = gs[bi < n_batches ? 0 : 1];
                gather(a->x->data, &tr, idx, b, 0, 1);
                for (int i = 0; i < b; i++) a->labels->idata[i] = tr.labels[idx[i]];
                NUMCHECK(cli_forward(g) || cli_finite_loss(g, "the loss", a->loss->data[0]) || cli_backward(g, NULL) ||
                         cli_adamw_step(opts[0], ng_model_block(m, 0), o.lr, ""), bi);
                tot += (double)a->loss->data[0] * b;   /* mean over the batch -> sum */
            } else if (!gan) {
                ng_ae_graph *a = &ag[bi < n_batches ? 0 : 1];
                ng_graph *g = gs[bi < n_batches ? 0 : 1];
                gather(a->x->data, &tr, idx, b, 0, 1);
                if (c->kind == NG_MODEL_DAE) ng_dae_corrupt(a->x_in->data, a->x->data, (int64_t)b * D, o.noise_mask, o.noise, &rng);
                if (a->eps) ng_rng_fill_normal(&rng, a->eps->data, a->eps->n);
                NUMCHECK(cli_forward(g) || cli_finite_loss(g, "the loss", a->loss->data[0]) || cli_backward(g, NULL) ||
                         cli_adamw_step(opts[0], ng_model_block(m, 0), o.lr, ""), bi);
                tot += a->loss->data[0];
            } else {
                /* D: real -> 1, G(z) -> 0 ; then G: D(G(z)) -> 1 (non-saturating) */
                ng_rng_fill_normal(&rng, dg.z->data, dg.z->n);
                NUMCHECK(cli_forward(gs[3]), bi);
                gather(dr_x->data, &tr, idx, b, -1, 1);
                memcpy(df_x->data, dg.images->data, (size_t)df_x->n * sizeof(float));
                for (int i = 0; i < B; i++) df_t->data[i] = 0.0f;
                NUMCHECK(cli_forward(gs[4]) || cli_finite_loss(gs[4], "D's loss on real images", dr_l->data[0]) || cli_backward(gs[4], NULL), bi);
                NUMCHECK(cli_forward(gs[5]) || cli_finite_loss(gs[5], "D's loss on generated images", df_l->data[0]) || cli_backward(gs[5], NULL), bi);
                double dx = 0;
                for (int i = 0; i < B; i++) dx += 1.0 / (1.0 + exp(-dr_logits->data[i]));
                d_tot += dr_l->data[0] + df_l->data[0];
                dx_tot += dx / B;
                NUMCHECK(cli_adamw_step(opts[1], ng_model_block(m, 1), o.lr, "the discriminator's "), bi);
                for (int i = 0; i < B; i++) df_t->data[i] = 1.0f;
                /* through D to its input images only: D's weight gradients are not used here */
                NUMCHECK(cli_forward(gs[5]) || cli_finite_loss(gs[5], "G's loss", df_l->data[0]) || cli_backward_inputs(gs[5]), bi);
                double dgz = 0;
                for (int i = 0; i < B; i++) dgz += 1.0 / (1.0 + exp(-df_logits->data[i]));
                dgz_tot += dgz / B;
                g_tot += df_l->data[0];
                NUMCHECK(cli_backward(gs[3], df_x->grad) || cli_adamw_step(opts[0], ng_model_block(m, 0), o.lr, "the generator's "), bi);
            }
            seen += b;
            ng_pace_add(&pace, cli_now() - tb);
            if (isatty(STDERR_FILENO)) {
                double el = cli_now() - t0;
                char eta[32];   /* the batches left in this epoch and the next ones */
                ng_pace_eta(&pace, (long)(nb_all - bi - 1) + (long)(o.epochs - epoch - 1) * nb_all, eta, sizeof eta);
                fprintf(stderr, "\r\033[Kepoch %d/%d | batch %d/%d | %.0f img/s | ETA %s", epoch + 1, o.epochs, bi + 1, nb_all, seen / el, eta);
            }
            if (stop_at > 0 && ++batches_run == stop_at) cli_stop = SIGINT;   /* test hook: a Ctrl-C at a known batch */
            if (cli_stop) break;
        }
        if (isatty(STDERR_FILENO)) fprintf(stderr, "\r\033[K");
        double dt = cli_now() - t0;
        if (cli_stop) {
            /* save where we are inside the epoch: a resume continues with the next batch */
            epoch_pos pos = {bi + 1, seen, rng_epoch, {tot, d_tot, g_tot, dx_tot, dgz_tot, 0}, dt};
            if (bi + 1 >= n_batches + (rem ? 1 : 0)) pos.batch = n_batches + (rem ? 1 : 0);
            char *sj = state_json(&o, epoch, &rng, &pos);
            int rc = ng_checkpoint_save(o.out, m, NULL, sj, opts);
            free(sj);
            if (rc) { ng_graph_free(sg); free(zfix); goto fail; }
            saved = 1;
            printf("interrupted in epoch %d after batch %d: checkpoint saved in %s (continue with: nanogen train --resume %s)\n",
                   epoch + 1, bi + 1, o.out, o.out);
            code = cli_stop_code();
            ng_graph_free(sg); free(zfix);
            goto out;
        }
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "epoch", epoch + 1);
        char name[4096];
        if (clf) {
            double test = 0;
            long correct = 0;
            const int K = c->n_classes;
            for (int s = 0; s < te.n; s += Be) {
                int idx[Be];
                for (int i = 0; i < Be; i++) idx[i] = s + i;
                gather(cg[2].x->data, &te, idx, Be, 0, 1);
                for (int i = 0; i < Be; i++) cg[2].labels->idata[i] = te.labels[s + i];
                NUMCHECK(cli_forward(gs[2]) || cli_finite_loss(gs[2], "the test loss", cg[2].loss->data[0]), -1);
                test += (double)cg[2].loss->data[0] * Be;
                for (int i = 0; i < Be; i++) {
                    const float *l = cg[2].logits->data + (size_t)i * K;
                    int best = 0;
                    for (int k = 1; k < K; k++) if (l[k] > l[best]) best = k;
                    correct += best == te.labels[s + i];
                }
            }
            cJSON_AddNumberToObject(j, "train_loss", round(tot / seen * 10000) / 10000);
            cJSON_AddNumberToObject(j, "test_loss", round(test / te.n * 10000) / 10000);
            cJSON_AddNumberToObject(j, "test_acc", round((double)correct / te.n * 10000) / 10000);
        } else if (!gan) {
            /* pictures: reconstructions of the first n test images (rows: originals | noisy | output),
             * one column each, taken from the test batches that hold them */
            const int rows = c->kind == NG_MODEL_DAE ? 3 : 2, n = te.n < 8 ? te.n : 8;
            float *grid = malloc(sizeof(float) * (size_t)rows * n * D);
            double test = 0;
            for (int s = 0; s < te.n; s += Be) {
                int idx[Be];
                for (int i = 0; i < Be; i++) idx[i] = s + i;
                gather(ag[2].x->data, &te, idx, Be, 0, 1);
                if (c->kind == NG_MODEL_DAE) ng_dae_corrupt(ag[2].x_in->data, ag[2].x->data, (int64_t)Be * D, o.noise_mask, o.noise, &rng);
                if (ag[2].eps) ng_rng_fill_normal(&rng, ag[2].eps->data, ag[2].eps->n);
                int bad = cli_forward(gs[2]) || cli_finite_loss(gs[2], "the test loss", ag[2].loss->data[0]);
                if (bad) free(grid);
                NUMCHECK(bad, -1);
                test += ag[2].loss->data[0];
                for (int i = 0; grid && i < Be && s + i < n; i++) {
                    const int col = s + i;
                    memcpy(grid + (size_t)col * D, ag[2].x->data + (size_t)i * D, D * sizeof(float));
                    if (rows == 3) memcpy(grid + (size_t)(n + col) * D, ag[2].x_in->data + (size_t)i * D, D * sizeof(float));
                    for (int64_t k = 0; k < D; k++)
                        grid[(size_t)((rows - 1) * n + col) * D + k] = 1.0f / (1.0f + expf(-ag[2].recon_logits->data[(size_t)i * D + k]));
                }
            }
            cJSON_AddNumberToObject(j, "train_loss", round(tot / seen * 1000) / 1000);
            cJSON_AddNumberToObject(j, "test_loss", round(test / te.n * 1000) / 1000);
            if (grid) {
                sample_path(name, sizeof name, o.out, "reconstructions", epoch + 1);
                if (ng_png_grid(name, grid, rows * n, c->c, c->h, c->w, n, 2, 0, 1))
                    fprintf(stderr, "nanogen: warning: %s\n", ng_last_error());
                free(grid);
            }
        } else {
            cJSON_AddNumberToObject(j, "d_loss", round(d_tot / n_batches * 10000) / 10000);
            cJSON_AddNumberToObject(j, "g_loss", round(g_tot / n_batches * 10000) / 10000);
            cJSON_AddNumberToObject(j, "d_real", round(dx_tot / n_batches * 10000) / 10000);
            cJSON_AddNumberToObject(j, "d_fake", round(dgz_tot / n_batches * 10000) / 10000);
        }
        if (c->kind == NG_MODEL_VAE || gan) {
            memcpy(sdg.z->data, zfix, sizeof(float) * 64 * c->latent);
            NUMCHECK(cli_forward(sg), -1);
            sample_path(name, sizeof name, o.out, "samples", epoch + 1);
            if (ng_png_grid(name, sdg.images->data, 64, c->c, c->h, c->w, 8, 2, gan ? -1 : 0, 1))
                fprintf(stderr, "nanogen: warning: %s\n", ng_last_error());
        }
        cJSON_AddNumberToObject(j, "epoch_s", round(dt * 100) / 100);
        cJSON_AddNumberToObject(j, "img_per_s", round(seen / dt * 10) / 10);
        print_epoch_line(j, o.epochs);
        cli_metrics_line(metrics, j, 0);
        char *sj = state_json(&o, epoch + 1, &rng, NULL);
        int rc = ng_checkpoint_save(o.out, m, NULL, sj, opts);
        free(sj);
        if (rc) { ng_graph_free(sg); free(zfix); goto fail; }
        saved = 1;
    }
#undef NUMCHECK
    ng_graph_free(sg);
    free(zfix);
    if (clf) printf("checkpoint: %s/model.safetensors\n", o.out);
    else printf("checkpoint: %s/model.safetensors, pictures in %s/samples/\n", o.out, o.out);
    code = 0;
    goto out;
fail:
    fprintf(stderr, "nanogen: %s\n", ng_last_error());
    code = 1;
out:
    if (metrics) fclose(metrics);
    for (int i = 0; i < 6; i++) ng_graph_free(gs[i]);
    for (int i = 0; i < 2; i++) ng_adamw_free(opts[i]);
    free(perm); free(state);
    ng_images_free(&tr); ng_images_free(&te);
    ng_model_free(m);
    return code;
}

int cli_is_image_model(const char *name) { return is_image_kind(name); }

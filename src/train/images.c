/* images.c - training an image kind, an epoch at a time: the AE / DAE / VAE and the classifier
 * one Adam step a batch, the DCGAN's alternating steps (D on real and generated images, then G
 * through D); per epoch the test loss (and the classifier's accuracy), a metrics.jsonl line,
 * pictures in DIR/samples/ (samples from fixed latents, reconstructions of the first test
 * images) and a checkpoint. A stop inside an epoch saves the position (batch, the epoch's RNG
 * and running sums): the resumed run continues with the next batch, exactly. */
#include "train/trainer.h"

#include "io/jsonnum.h"
#include "train/ranges.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOISE_MAX(mask) ((mask) ? 1.0f : 10.0f)   /* mask:P is a probability, gaussian:STD up to 10 */

/* Where a run stopped inside an epoch: the next batch, the RNG as the epoch began (it
 * regenerates the shuffle), and the epoch's running sums, so a resume continues exactly. */
typedef struct {
    int batch, seen;
    ng_rng rng_epoch;
    double acc[6];   /* loss sums (tot, d, g, D(x), D(G(z)), correct) */
    double elapsed;
} epoch_pos;

typedef struct image_run image_run;

/* How an objective trains, epoch by epoch (the kind table says which objective a kind has):
 * its graphs, one batch (its Adam steps; acc gains the epoch's running sums, *loss the batch's
 * loss for the progress line) and the end of an epoch (the test figures into j, pictures). */
typedef struct {
    int (*graphs)(ng_trainer *t, image_run *r);
    int (*batch)(ng_trainer *t, image_run *r, int bi, const int *idx, int b, double *acc, double *loss);
    int (*epoch_end)(ng_trainer *t, image_run *r, int epoch, const double *acc, int seen, cJSON *j);
} image_objective;

struct image_run {
    const image_objective *obj;
    ng_images tr, te;
    int epoch0;
    epoch_pos pos0;
    int B, Be, n_batches, rem;
    int excluded;                /* --exclude-class: the class left out of tr, or -1 */
    int *perm;
    ng_graph *gs[6];             /* train B, train remainder, eval (AE/classifier); G, D real, D fake (GAN) */
    ng_ae_graph ag[3];
    ng_classifier_graph cg[3];
    ng_decoder_graph dg;         /* the GAN's generator (training) */
    ng_tensor *dr_x, *dr_t, *dr_l, *df_x, *df_t, *df_l, *df_logits, *dr_logits;
    ng_graph *sg;                /* samples from fixed latents, eval mode (not for a classifier) */
    ng_decoder_graph sdg;
    float *zfix;
    /* gradient shards (ng_train_settings.grad_shards): S of each batch, this rank's L; the graphs
     * hold a shard (gB rows, grem of the last batch); the whole batch's inputs and draws */
    int S, L, gB, grem;
    float *xb, *xinb, *epsb, *gtmp;
    int32_t *lab;
    ng_dist_tree tree;
};

/* ---------------------------------------------------------------- the training state */

static char *state_json(const ng_trainer *t, int epoch, const epoch_pos *pos) {
    const ng_train_settings *s = &t->s;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "epoch", epoch);
    if (pos && pos->batch > 0) {
        cJSON_AddNumberToObject(j, "batch", pos->batch);
        cJSON_AddNumberToObject(j, "seen", pos->seen);
        cJSON_AddNumberToObject(j, "elapsed_s", pos->elapsed);
        cJSON *a = cJSON_AddArrayToObject(j, "sums");
        for (int i = 0; i < 6; i++) cJSON_AddItemToArray(a, ng_json_exact(pos->acc[i]));   /* exact, as they will be summed on */
        ng__state_add_rng(j, "rng_epoch", &pos->rng_epoch);
    }
    cJSON_AddNumberToObject(j, "epochs", s->epochs);
    cJSON_AddNumberToObject(j, "batch_size", s->batch_size);
    cJSON_AddNumberToObject(j, "lr", s->lr);
    cJSON_AddNumberToObject(j, "beta1", s->beta1);
    cJSON_AddNumberToObject(j, "beta2", s->beta2);
    cJSON_AddNumberToObject(j, "noise", s->noise);
    cJSON_AddNumberToObject(j, "noise_mask", s->noise_mask);
    cJSON_AddNumberToObject(j, "image_size", s->image_size);
    cJSON_AddNumberToObject(j, "max_batches", s->max_batches);
    cJSON_AddNumberToObject(j, "grad_shards", s->grad_shards);
    cJSON_AddStringToObject(j, "data", s->data ? s->data : "");
    if (t->k && ((const image_run *)t->k)->excluded >= 0) cJSON_AddNumberToObject(j, "exclude_class", ((const image_run *)t->k)->excluded);
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRIu64, s->seed);
    cJSON_AddStringToObject(j, "seed", buf);
    ng__state_add_rng(j, "rng", &t->rng);
    ng__state_add_gemm(j);
    char *out = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return out;
}

/* A float setting of the saved state: v as a float when it is a number that fits (converting a
 * double outside float's range, a crafted 1e300, is undefined behaviour), else dflt. */
static float jfloat(const cJSON *v, float dflt) {
    return cJSON_IsNumber(v) && isfinite(v->valuedouble) && fabs(v->valuedouble) <= 1e30 ? (float)v->valuedouble : dflt;
}

/* every setting in its range, through range (key, value, lo, hi) */
static int check_ranges(const ng_train_settings *s, int (*range)(const char *, double, double, double)) {
    return range("epochs", s->epochs, R_EPOCHS) || range("batch_size", s->batch_size, R_BATCH) || range("lr", s->lr, R_LR) ||
           range("beta1", s->beta1, R_BETA1) || range("beta2", s->beta2, R_BETA2) || range("noise_mask", s->noise_mask, 0, 1) ||
           range("noise", s->noise, 0, NOISE_MAX(s->noise_mask)) || range("image_size", s->image_size, R_SIZE) ||
           range("max_batches", s->max_batches, R_MAX_BATCHES) ? NG_ERR : NG_OK;
}

static int setting_range(const char *key, double v, double lo, double hi) {
    if (v >= lo && v <= hi) return NG_OK;
    return ng_set_error("training setting %s = %.10g is outside [%.10g, %.10g]", key, v, lo, hi);
}

/* The saved settings into s, the epochs done, the RNG and the position inside an epoch. */
static int load_state(const char *json, ng_train_settings *s, int *epoch, ng_rng *rng, epoch_pos *pos) {
    cJSON *j = json ? cJSON_Parse(json) : NULL;
    int ok = cJSON_IsObject(j);
    const cJSON *e = cJSON_GetObjectItem(j, "epoch"), *r = cJSON_GetObjectItem(j, "rng");
    ok = ok && cJSON_IsNumber(e) && e->valuedouble >= 0 && cJSON_IsArray(r) && cJSON_GetArraySize(r) == 4;
    memset(pos, 0, sizeof *pos);
    int excl_bad = 0;
    if (ok) {
        *epoch = e->valueint;
        const cJSON *v;
        if (cJSON_IsNumber(v = cJSON_GetObjectItem(j, "epochs"))) s->epochs = v->valueint;
        if (cJSON_IsNumber(v = cJSON_GetObjectItem(j, "batch_size")) && v->valueint > 0) s->batch_size = v->valueint;
        s->lr = jfloat(cJSON_GetObjectItem(j, "lr"), s->lr);
        s->beta1 = jfloat(cJSON_GetObjectItem(j, "beta1"), s->beta1);
        s->beta2 = jfloat(cJSON_GetObjectItem(j, "beta2"), s->beta2);
        s->noise = jfloat(cJSON_GetObjectItem(j, "noise"), s->noise);
        if (cJSON_IsNumber(v = cJSON_GetObjectItem(j, "noise_mask"))) s->noise_mask = v->valueint;
        if (cJSON_IsNumber(v = cJSON_GetObjectItem(j, "image_size"))) s->image_size = v->valueint;
        if (cJSON_IsNumber(v = cJSON_GetObjectItem(j, "max_batches")) && v->valueint >= 0) s->max_batches = v->valueint;
        if (cJSON_IsNumber(v = cJSON_GetObjectItem(j, "grad_shards")) && v->valueint >= 0 && v->valueint <= (1 << 16)) s->grad_shards = v->valueint;
        static char data[4096];
        if (cJSON_IsString(v = cJSON_GetObjectItem(j, "data")) && v->valuestring[0]) {
            snprintf(data, sizeof data, "%s", v->valuestring);
            s->data = data;
        }
        if (cJSON_IsString(v = cJSON_GetObjectItem(j, "seed"))) s->seed = strtoull(v->valuestring, NULL, 10);
        static char excl[16];
        if ((v = cJSON_GetObjectItem(j, "exclude_class"))) {   /* a class left out of the train split: its id */
            excl_bad = !(cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble <= 255 && v->valuedouble == (int)v->valuedouble);
            if (!excl_bad) { snprintf(excl, sizeof excl, "%d", (int)v->valuedouble); s->exclude_class = excl; }
        }
        ok = ng__state_get_rng(j, "rng", rng) == NG_OK;
        const cJSON *bt = cJSON_GetObjectItem(j, "batch"), *sm = cJSON_GetObjectItem(j, "sums");
        if (ok && cJSON_IsNumber(bt) && bt->valueint > 0) {   /* stopped inside an epoch */
            ok = cJSON_IsArray(sm) && cJSON_GetArraySize(sm) == 6 && ng__state_get_rng(j, "rng_epoch", &pos->rng_epoch) == NG_OK;
            pos->batch = bt->valueint;
            if (cJSON_IsNumber(v = cJSON_GetObjectItem(j, "seen"))) pos->seen = v->valueint;
            if (cJSON_IsNumber(v = cJSON_GetObjectItem(j, "elapsed_s"))) pos->elapsed = v->valuedouble;
            for (int i = 0; ok && i < 6; i++) pos->acc[i] = cJSON_GetArrayItem(sm, i)->valuedouble;
        }
    }
    cJSON_Delete(j);
    if (!ok) return ng_set_error("the checkpoint has no valid training state to resume");
    if (excl_bad) return ng_set_error("the checkpoint's training state is invalid: exclude_class is not a class number 0..255");
    /* what was restored must lie where the flags may (the R_ ranges) */
    int bad = 0;
    for (int i = 0; i < 6; i++) bad |= !isfinite(pos->acc[i]);
    if (bad || !isfinite(pos->elapsed)) return ng_set_error("the checkpoint's training state is invalid: its running sums are not finite");
    if (ng__state_range("epoch", *epoch, R_EPOCHS) || check_ranges(s, ng__state_range) ||
        ng__state_range("batch", pos->batch, 0, 1 << 30) || ng__state_range("seen", pos->seen, 0, 1 << 30))
        return NG_ERR;
    return NG_OK;
}

int ng__image_state(const char *json, ng_train_settings *s, int *epoch) {
    ng_rng rng;
    epoch_pos pos;
    return load_state(json, s, epoch, &rng, &pos);
}

/* ---------------------------------------------------------------- helpers */

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

/* An epoch of n pictures in batches of B: n_batches whole batches and a last one of rem pictures
 * (none for the GAN: its BatchNorm statistics want equal batches), at most max_batches (0: all). */
static void epoch_batches(int n, int B, int max_batches, int gan, int *n_batches, int *rem) {
    *n_batches = n / B; *rem = n % B;
    if (max_batches && max_batches < *n_batches) { *n_batches = max_batches; *rem = 0; }
    if (gan) *rem = 0;
}

/* DIR/samples/<name>_NNN.png */
static void sample_path(char *buf, size_t cap, const char *out, const char *name, int epoch) {
    snprintf(buf, cap, "%s/samples/%s_%03d.png", out, name, epoch);
}

/* DIR/samples/samples_NNN.png: the decoder on the run's 64 fixed latents (eval mode); a GAN's
 * pictures are in [-1, 1] */
static int samples_grid(ng_trainer *t, image_run *r, int epoch, int gan) {
    const ng_model_config *c = ng_model_cfg(t->m);
    char name[4096];
    memcpy(r->sdg.z->data, r->zfix, sizeof(float) * 64 * c->latent);
    if (ng__train_forward(r->sg)) return NG_ERR;
    sample_path(name, sizeof name, t->out, "samples", epoch + 1);
    if (ng_dist_rank() == 0 && ng_png_grid(name, r->sdg.images->data, 64, c->c, c->h, c->w, 8, 2, gan ? -1 : 0, 1))
        ng__train_note(t, "warning: %s", ng_last_error());
    return NG_OK;
}

/* ---------------------------------------------------------------- the objectives */

/* one training graph per batch size (B; the epoch's last, smaller batch; the evaluation's Be,
 * in eval mode), each built by build into slots 0, 1, 2 of gs and out */
#define THREE_GRAPHS(build, out)                                                                    \
    do {                                                                                            \
        ng_graph **gs = r->gs;                                                                      \
        if (!(gs[0] = ng_graph_new()) || build(t->m, gs[0], r->gB, &(out)[0])) return NG_ERR;       \
        if (r->rem && (!(gs[1] = ng_graph_new()) || build(t->m, gs[1], r->grem, &(out)[1]))) return NG_ERR; \
        if (!(gs[2] = ng_graph_new()) || build(t->m, gs[2], r->Be, &(out)[2])) return NG_ERR;       \
        ng_graph_set_training(gs[2], 0);                                                            \
    } while (0)

/* One Adam step of a single-graph objective on graph g, whose loss is `loss`. */
static int plain_step(ng_trainer *t, ng_graph *g, const ng_tensor *loss) {
    return ng__train_forward(g) || ng__train_finite_loss(g, "the loss", loss->data[0]) || ng__train_backward(g, NULL) ||
                   ng__train_adamw(t->opts[0], ng_model_block(t->m, 0), t->s.lr, "")
               ? NG_ERR : NG_OK;
}

/* ---- a batch cut into shards (S > 1; several ranks, or --grad-shards): this rank's shards one
 * after the other, their gradients summed in the fixed tree, then across the ranks (dist.c). The
 * whole batch's inputs and random draws are made first, exactly as one process makes them. */

typedef void (*shard_fill)(ng_trainer *t, image_run *r, int k, int row0, int rows);

/* One Adam step of a single-graph objective (graph k, loss `loss`) over shards of a batch of b;
 * *total = the losses of the shards summed (a mean objective scales the gradient by 1/S). */
static int sharded_plain(ng_trainer *t, image_run *r, int k, int b, const ng_tensor *loss, int mean, shard_fill fill, double *total) {
    ng_graph *g = r->gs[k];
    const int rows = b / r->S, L = r->L;
    ng_params *P = ng_model_block(t->m, 0);
    float small[64], *m = L <= 64 ? small : malloc(sizeof(float) * (size_t)L);
    if (!m) return ng_set_error("out of memory");
    int failed = 0;
    for (int j = 0; j < L && !failed; j++) {
        const int shard = ng_dist_rank() * L + j;
        fill(t, r, k, shard * rows, rows);
        ng_graph_set_dropout_row0(g, (int64_t)shard * rows);
        failed = ng__train_forward(g) || ng__train_finite_loss(g, "the loss", loss->data[0]) || ng__train_backward(g, NULL) ||
                 ng__train_shard_done(P, &r->tree, L, j == L - 1);
        m[j] = loss->data[0];
    }
    ng_graph_set_dropout_row0(g, 0);
    const int rc = ng__train_shards_finish(P, r->gtmp, failed, mean ? 1.0f / (float)r->S : 1.0f, m, L, total, NULL, NULL);
    if (m != small) free(m);
    if (rc) return NG_ERR;
    if (ng__train_adamw(t->opts[0], P, t->s.lr, "")) { ng__train_shared_error(); return NG_ERR; }
    return NG_OK;
}

/* rows [row0, row0 + rows) of the whole batch's buffers into graph k's inputs */
static void copy_rows(float *dst, const float *src, int row0, int rows, int64_t per_row) {
    memcpy(dst, src + (size_t)row0 * per_row, sizeof(float) * (size_t)rows * per_row);
}

/* The test split's batches of Be are shared by the ranks (batch c to rank c mod N); the sums
 * of each rank gathered in rank order. mine: n doubles of this rank, into *all summed. */
static int ranks_sum(const double *mine, int n, double *sum) {
    const int N = ng_dist_size();
    double *all = malloc(sizeof(double) * (size_t)n * N);
    if (!all) return ng_set_error("out of memory");
    if (ng__dist_allgather_double(mine, n, all)) { free(all); return NG_ERR; }
    for (int i = 0; i < n; i++) {
        sum[i] = 0;
        for (int q = 0; q < N; q++) sum[i] += all[(size_t)q * n + i];
    }
    free(all);
    return NG_OK;
}

/* ---- reconstruction (AE, DAE, VAE): the loss summed over the batch; a DAE sees a corrupted copy,
 * a VAE draws eps */

static int recon_graphs(ng_trainer *t, image_run *r) {
    THREE_GRAPHS(ng_ae_build, r->ag);
    return NG_OK;
}

/* the pictures of ag->x corrupted into ag->x_in (a DAE) and the VAE's eps drawn */
static void recon_inputs(ng_trainer *t, ng_ae_graph *a, int b) {
    const ng_model_config *c = ng_model_cfg(t->m);
    if (c->kind == NG_MODEL_DAE) ng_dae_corrupt(a->x_in->data, a->x->data, (int64_t)b * c->c * c->h * c->w, t->s.noise_mask, t->s.noise, &t->rng);
    if (a->eps) ng_rng_fill_normal(&t->rng, a->eps->data, a->eps->n);
}

static void recon_fill(ng_trainer *t, image_run *r, int k, int row0, int rows) {
    const ng_model_config *c = ng_model_cfg(t->m);
    ng_ae_graph *a = &r->ag[k];
    const int64_t D = (int64_t)c->c * c->h * c->w;
    copy_rows(a->x->data, r->xb, row0, rows, D);
    if (c->kind == NG_MODEL_DAE) copy_rows(a->x_in->data, r->xinb, row0, rows, D);
    if (a->eps) copy_rows(a->eps->data, r->epsb, row0, rows, c->latent);
}

static int recon_batch(ng_trainer *t, image_run *r, int bi, const int *idx, int b, double *acc, double *loss) {
    const int k = bi < r->n_batches ? 0 : 1;
    ng_ae_graph *a = &r->ag[k];
    if (r->S > 1) {   /* the whole batch's pictures, corruption and eps, in the order of recon_inputs */
        const ng_model_config *c = ng_model_cfg(t->m);
        const int64_t D = (int64_t)c->c * c->h * c->w;
        gather(r->xb, &r->tr, idx, b, 0, 1);
        if (c->kind == NG_MODEL_DAE) ng_dae_corrupt(r->xinb, r->xb, (int64_t)b * D, t->s.noise_mask, t->s.noise, &t->rng);
        if (a->eps) ng_rng_fill_normal(&t->rng, r->epsb, (int64_t)b * c->latent);
        double total;
        if (sharded_plain(t, r, k, b, a->loss, 0, recon_fill, &total)) return NG_ERR;
        *loss = total / b;
        acc[0] += total;
        return NG_OK;
    }
    gather(a->x->data, &r->tr, idx, b, 0, 1);
    recon_inputs(t, a, b);
    if (plain_step(t, r->gs[k], a->loss)) return NG_ERR;
    *loss = a->loss->data[0] / b;
    acc[0] += a->loss->data[0];
    return NG_OK;
}

/* the test loss; reconstructions of the first n test images (rows: originals | noisy | output),
 * one column each, taken from the test batches that hold them */
static int recon_end(ng_trainer *t, image_run *r, int epoch, const double *acc, int seen, cJSON *j) {
    const ng_model_config *c = ng_model_cfg(t->m);
    const ng_images *te = &r->te;
    const int Be = r->Be, rows = c->kind == NG_MODEL_DAE ? 3 : 2, n = te->n < 8 ? te->n : 8;
    const int64_t D = (int64_t)c->c * c->h * c->w;
    float *grid = malloc(sizeof(float) * (size_t)rows * n * D);
    double test = 0;
    ng_ae_graph *ag = &r->ag[2];
    const int N = ng_dist_size();
    for (int s = 0; s < te->n; s += Be) {
        int idx[Be];
        for (int i = 0; i < Be; i++) idx[i] = s + i;
        gather(ag->x->data, te, idx, Be, 0, 1);
        recon_inputs(t, ag, Be);   /* every rank draws every batch's noise: the same RNG as one process */
        if ((s / Be) % N != ng_dist_rank()) continue;   /* several ranks: batch c is rank c mod N's */
        if (ng__train_forward(r->gs[2]) || ng__train_finite_loss(r->gs[2], "the test loss", ag->loss->data[0])) { free(grid); return NG_ERR; }
        test += ag->loss->data[0];
        for (int i = 0; grid && i < Be && s + i < n; i++) {
            const int col = s + i;
            memcpy(grid + (size_t)col * D, ag->x->data + (size_t)i * D, D * sizeof(float));
            if (rows == 3) memcpy(grid + (size_t)(n + col) * D, ag->x_in->data + (size_t)i * D, D * sizeof(float));
            for (int64_t k = 0; k < D; k++)
                grid[(size_t)((rows - 1) * n + col) * D + k] = 1.0f / (1.0f + expf(-ag->recon_logits->data[(size_t)i * D + k]));
        }
    }
    if (N > 1 && ranks_sum(&test, 1, &test)) { free(grid); return NG_ERR; }
    cJSON_AddNumberToObject(j, "train_loss", round(acc[0] / seen * 1000) / 1000);
    cJSON_AddNumberToObject(j, "test_loss", round(test / te->n * 1000) / 1000);
    if (grid && ng_dist_rank() == 0) {
        char name[4096];
        sample_path(name, sizeof name, t->out, "reconstructions", epoch + 1);
        if (ng_png_grid(name, grid, rows * n, c->c, c->h, c->w, n, 2, 0, 1)) ng__train_note(t, "warning: %s", ng_last_error());
    }
    free(grid);
    return c->kind == NG_MODEL_VAE ? samples_grid(t, r, epoch, 0) : NG_OK;
}

/* ---- classification: cross-entropy (the mean over the batch); test loss and accuracy */

static int clf_graphs(ng_trainer *t, image_run *r) {
    THREE_GRAPHS(ng_classifier_build, r->cg);
    return NG_OK;
}

static void clf_fill(ng_trainer *t, image_run *r, int k, int row0, int rows) {
    const ng_model_config *c = ng_model_cfg(t->m);
    ng_classifier_graph *a = &r->cg[k];
    copy_rows(a->x->data, r->xb, row0, rows, (int64_t)c->c * c->h * c->w);
    memcpy(a->labels->idata, r->lab + row0, sizeof(int32_t) * (size_t)rows);
}

static int clf_batch(ng_trainer *t, image_run *r, int bi, const int *idx, int b, double *acc, double *loss) {
    const int k = bi < r->n_batches ? 0 : 1;
    ng_classifier_graph *a = &r->cg[k];
    if (r->S > 1) {
        gather(r->xb, &r->tr, idx, b, 0, 1);
        for (int i = 0; i < b; i++) r->lab[i] = r->tr.labels[idx[i]];
        double total;
        if (sharded_plain(t, r, k, b, a->loss, 1, clf_fill, &total)) return NG_ERR;
        *loss = total / r->S;
        acc[0] += total / r->S * b;
        return NG_OK;
    }
    gather(a->x->data, &r->tr, idx, b, 0, 1);
    for (int i = 0; i < b; i++) a->labels->idata[i] = r->tr.labels[idx[i]];
    if (plain_step(t, r->gs[k], a->loss)) return NG_ERR;
    *loss = a->loss->data[0];
    acc[0] += (double)a->loss->data[0] * b;   /* mean over the batch -> sum */
    return NG_OK;
}

static int clf_end(ng_trainer *t, image_run *r, int epoch, const double *acc, int seen, cJSON *j) {
    (void)epoch;
    const ng_model_config *c = ng_model_cfg(t->m);
    const ng_images *te = &r->te;
    const int Be = r->Be, K = c->n_classes;
    double test = 0;
    long correct = 0;
    for (int s = 0; s < te->n; s += Be) {
        if ((s / Be) % ng_dist_size() != ng_dist_rank()) continue;   /* several ranks: batch c is rank c mod N's */
        int idx[Be];
        for (int i = 0; i < Be; i++) idx[i] = s + i;
        gather(r->cg[2].x->data, te, idx, Be, 0, 1);
        for (int i = 0; i < Be; i++) r->cg[2].labels->idata[i] = te->labels[s + i];
        if (ng__train_forward(r->gs[2]) || ng__train_finite_loss(r->gs[2], "the test loss", r->cg[2].loss->data[0])) return NG_ERR;
        test += (double)r->cg[2].loss->data[0] * Be;
        for (int i = 0; i < Be; i++) {
            const float *l = r->cg[2].logits->data + (size_t)i * K;
            int best = 0;
            for (int k = 1; k < K; k++) if (l[k] > l[best]) best = k;
            correct += best == te->labels[s + i];
        }
    }
    if (ng_dist_size() > 1) {
        double v[2] = {test, (double)correct};
        if (ranks_sum(v, 2, v)) return NG_ERR;
        test = v[0]; correct = (long)v[1];
    }
    cJSON_AddNumberToObject(j, "train_loss", round(acc[0] / seen * 10000) / 10000);
    cJSON_AddNumberToObject(j, "test_loss", round(test / te->n * 10000) / 10000);
    cJSON_AddNumberToObject(j, "test_acc", round((double)correct / te->n * 10000) / 10000);
    return NG_OK;
}

/* ---- the GAN's game: G (training) in gs[3], D on real images in gs[4], D on G's images in gs[5]
 * (the gradient flows to its input) */

static int gan_graphs(ng_trainer *t, image_run *r) {
    ng_model *m = t->m;
    const ng_model_config *mc = ng_model_cfg(m);
    ng_graph **gs = r->gs;
    const int B = r->gB;   /* a rank's shard of the batch (the batch in one process) */
    int64_t xe[4] = {B, mc->c, mc->h, mc->w}, te1[2] = {B, 1};
    if (!(gs[3] = ng_graph_new()) || ng_decoder_build(m, gs[3], B, &r->dg)) return NG_ERR;
    gs[4] = ng_graph_new();
    gs[5] = ng_graph_new();
    if (!gs[4] || !gs[5]) return ng_set_error("out of memory");
    r->dr_x = ng_input(gs[4], "real", 4, xe); r->dr_t = ng_input(gs[4], "target", 2, te1);
    r->df_x = ng_input(gs[5], "fake", 4, xe); r->df_t = ng_input(gs[5], "target", 2, te1);
    if (!r->dr_x || !r->dr_t || !r->df_x || !r->df_t) return NG_ERR;
    r->df_x->requires_grad = 1;
    r->dr_logits = ng_gan_discriminator(m, gs[4], r->dr_x);
    r->df_logits = ng_gan_discriminator(m, gs[5], r->df_x);
    r->dr_l = ng_bce_logits(gs[4], r->dr_logits, r->dr_t, NG_MEAN);
    r->df_l = ng_bce_logits(gs[5], r->df_logits, r->df_t, NG_MEAN);
    if (!r->dr_l || !r->df_l || ng_graph_finalize(gs[4], r->dr_l) || ng_graph_finalize(gs[5], r->df_l)) return NG_ERR;
    for (int i = 0; i < B; i++) r->dr_t->data[i] = 1.0f;
    return NG_OK;
}

/* One batch of the GAN: D on real images (target 1) and on G(z) (target 0), its Adam step; then
 * G through D to D's input only (D's weight gradients are not used), target 1 (non-saturating).
 * Adds D's loss, G's loss, mean D(x) and D(G(z)) to acc[1..4]. */
/* The same over several ranks, one shard each: G's and D's BatchNorm see the rank's shard (as
 * PyTorch's DDP without SyncBatchNorm), the gradients of each player are summed across the ranks
 * (and scaled by 1/S: its losses are means) before its Adam step, and rank 0's BatchNorm
 * statistics are given to every rank after the batch (DDP's broadcast_buffers). */
static int gan_batch_sharded(ng_trainer *t, image_run *r, const int *idx, double *acc, double *loss) {
    ng_model *m = t->m;
    const ng_model_config *c = ng_model_cfg(m);
    const int Bs = r->gB, B = r->B, row0 = ng_dist_rank() * Bs, lat = c->latent;
    const float lr = t->s.lr, inv = 1.0f / (float)r->S;
    ng_rng_fill_normal(&t->rng, r->epsb, (int64_t)B * lat);   /* the whole batch's z, as one process draws it */
    copy_rows(r->dg.z->data, r->epsb, row0, Bs, lat);
    int failed = ng__train_forward(r->gs[3]);
    gather(r->dr_x->data, &r->tr, idx + row0, Bs, -1, 1);
    memcpy(r->df_x->data, r->dg.images->data, (size_t)r->df_x->n * sizeof(float));
    for (int i = 0; i < Bs; i++) r->df_t->data[i] = 0.0f;
    failed = failed || ng__train_forward(r->gs[4]) || ng__train_finite_loss(r->gs[4], "D's loss on real images", r->dr_l->data[0]) ||
             ng__train_backward(r->gs[4], NULL) || ng__train_forward(r->gs[5]) ||
             ng__train_finite_loss(r->gs[5], "D's loss on generated images", r->df_l->data[0]) || ng__train_backward(r->gs[5], NULL);
    float mine[3] = {0, 0, 0};
    if (!failed) {
        double dx = 0;
        for (int i = 0; i < Bs; i++) dx += 1.0 / (1.0 + exp(-r->dr_logits->data[i]));
        mine[0] = r->dr_l->data[0] + r->df_l->data[0];
        mine[1] = (float)(dx / Bs);
    }
    ng_params *Dp = ng_model_block(m, 1), *Gp = ng_model_block(m, 0);
    double sum;
    if (ng__train_shards_finish(Dp, r->gtmp, failed, inv, mine, 1, &sum, NULL, NULL)) return NG_ERR;
    acc[1] += sum / r->S;
    if (ng__train_shards_loss(mine + 1, 1, &sum)) return NG_ERR;
    acc[3] += sum / r->S;
    if (ng__train_adamw(t->opts[1], Dp, lr, "the discriminator's ")) { ng__train_shared_error(); return NG_ERR; }
    for (int i = 0; i < Bs; i++) r->df_t->data[i] = 1.0f;
    failed = ng__train_forward(r->gs[5]) || ng__train_finite_loss(r->gs[5], "G's loss", r->df_l->data[0]) ||
             ng__train_backward_inputs(r->gs[5]);
    if (!failed) {
        double dgz = 0;
        for (int i = 0; i < Bs; i++) dgz += 1.0 / (1.0 + exp(-r->df_logits->data[i]));
        mine[0] = r->df_l->data[0];
        mine[1] = (float)(dgz / Bs);
        failed = ng__train_backward(r->gs[3], r->df_x->grad);
    }
    if (ng__train_shards_finish(Gp, r->gtmp, failed, inv, mine, 1, &sum, NULL, NULL)) return NG_ERR;
    acc[2] += sum / r->S;
    *loss = sum / r->S;
    if (ng__train_shards_loss(mine + 1, 1, &sum)) return NG_ERR;
    acc[4] += sum / r->S;
    if (ng__train_adamw(t->opts[0], Gp, lr, "the generator's ")) { ng__train_shared_error(); return NG_ERR; }
    ng_params *buf = ng_model_buffers(m);
    return buf ? ng__dist_bcast_float(ng_params_data(buf), ng_params_total(buf)) : NG_OK;
}

static int gan_batch(ng_trainer *t, image_run *r, int bi, const int *idx, int b, double *acc, double *loss) {
    (void)bi; (void)b;
    if (r->S > 1) return gan_batch_sharded(t, r, idx, acc, loss);
    ng_model *m = t->m;
    const int B = r->B;
    const float lr = t->s.lr;
    ng_rng_fill_normal(&t->rng, r->dg.z->data, r->dg.z->n);
    if (ng__train_forward(r->gs[3])) return NG_ERR;
    gather(r->dr_x->data, &r->tr, idx, B, -1, 1);
    memcpy(r->df_x->data, r->dg.images->data, (size_t)r->df_x->n * sizeof(float));
    for (int i = 0; i < B; i++) r->df_t->data[i] = 0.0f;
    if (ng__train_forward(r->gs[4]) || ng__train_finite_loss(r->gs[4], "D's loss on real images", r->dr_l->data[0]) ||
        ng__train_backward(r->gs[4], NULL) ||
        ng__train_forward(r->gs[5]) || ng__train_finite_loss(r->gs[5], "D's loss on generated images", r->df_l->data[0]) ||
        ng__train_backward(r->gs[5], NULL)) return NG_ERR;
    double dx = 0;
    for (int i = 0; i < B; i++) dx += 1.0 / (1.0 + exp(-r->dr_logits->data[i]));
    acc[1] += r->dr_l->data[0] + r->df_l->data[0];
    acc[3] += dx / B;
    if (ng__train_adamw(t->opts[1], ng_model_block(m, 1), lr, "the discriminator's ")) return NG_ERR;
    for (int i = 0; i < B; i++) r->df_t->data[i] = 1.0f;
    if (ng__train_forward(r->gs[5]) || ng__train_finite_loss(r->gs[5], "G's loss", r->df_l->data[0]) ||
        ng__train_backward_inputs(r->gs[5])) return NG_ERR;
    double dgz = 0;
    for (int i = 0; i < B; i++) dgz += 1.0 / (1.0 + exp(-r->df_logits->data[i]));
    acc[4] += dgz / B;
    acc[2] += r->df_l->data[0];
    *loss = r->df_l->data[0];
    return ng__train_backward(r->gs[3], r->df_x->grad) || ng__train_adamw(t->opts[0], ng_model_block(m, 0), lr, "the generator's ")
               ? NG_ERR : NG_OK;
}

/* the epoch's running means of D's and G's losses and of D's outputs; samples */
static int gan_end(ng_trainer *t, image_run *r, int epoch, const double *acc, int seen, cJSON *j) {
    (void)seen;
    const int nb = r->n_batches;
    cJSON_AddNumberToObject(j, "d_loss", round(acc[1] / nb * 10000) / 10000);
    cJSON_AddNumberToObject(j, "g_loss", round(acc[2] / nb * 10000) / 10000);
    cJSON_AddNumberToObject(j, "d_real", round(acc[3] / nb * 10000) / 10000);
    cJSON_AddNumberToObject(j, "d_fake", round(acc[4] / nb * 10000) / 10000);
    return samples_grid(t, r, epoch, 1);
}

static const image_objective RECONSTRUCT = {recon_graphs, recon_batch, recon_end};
static const image_objective CLASSIFY = {clf_graphs, clf_batch, clf_end};
static const image_objective ADVERSARIAL = {gan_graphs, gan_batch, gan_end};

/* ---------------------------------------------------------------- setting up a run */

int ng__image_create(const ng_model_config *cfg, const ng_train_settings *s, ng_model **mp, ng_images pre[2]) {
    if (check_ranges(s, setting_range)) return NG_ERR;
    if (!s->data) return ng_set_error("--data is required: fashion-mnist, mnist, or a folder of IDX files or images");
    if (ng_dataset_load(s->data, "train", s->image_size, cfg->c, &pre[0]) || ng_dataset_load(s->data, "test", s->image_size, cfg->c, &pre[1]))
        return NG_ERR;
    const ng_images *tr = &pre[0], *te = &pre[1];
    if (tr->n < 1 || te->n < 1) return ng_set_error("'%s': the train or test split is empty", s->data);
    if (cfg->kind == NG_MODEL_CLASSIFIER && (!tr->labels || !te->labels || tr->n_classes < 2))
        return ng_set_error("'%s': the classifier needs labelled images of 2 classes or more", s->data);
    ng_model_config c = *cfg;
    c.c = tr->c; c.h = tr->h; c.w = tr->w;
    if (c.kind == NG_MODEL_CLASSIFIER) c.n_classes = tr->n_classes;
    /* refuse up front what cannot fit: weights, gradients, two moments, activations */
    const int64_t np = ng_model_param_count(&c);
    if (np < 0) return NG_ERR;
    const int B = s->batch_size < tr->n ? s->batch_size : tr->n;
    const double D = (double)tr->c * tr->h * tr->w, acts = 16.0 * D + 8.0 * (c.hidden + c.latent) + 64.0 * tr->h * tr->w;
    char what[160];
    snprintf(what, sizeof what, "this %s (%.0fM parameters, batch %d, %dx%dx%d pictures)", ng_model_kind_name(c.kind), np / 1e6, s->batch_size,
             tr->c, tr->h, tr->w);
    if (ng_memory_check(4.0 * (4.0 * (double)np + 2.0 * B * acts), what, "lower --hidden, --latent or --batch-size")) return NG_ERR;
    if (!(*mp = ng_model_new(&c))) return NG_ERR;
    ng_model_init(*mp, s->seed);
    return NG_OK;
}

/* --exclude-class: the class s->exclude_class (a number or a name) out of the train split tr,
 * its id into *cls; the test split keeps it (what `nanogen score` looks for). */
static int exclude_class(const ng_train_settings *s, ng_images *tr, int *cls) {
    if (!tr->labels || tr->n_classes < 2)
        return ng_set_error("--exclude-class %s: '%s' has no labels (IDX label files, or a picture folder's class subfolders)", s->exclude_class, s->data);
    if (ng_dataset_class_find(s->data, tr->n_classes, s->exclude_class, cls)) return ng_set_error("--exclude-class: %s", ng_last_error());
    const size_t D = (size_t)tr->c * tr->h * tr->w;
    int k = 0;
    for (int i = 0; i < tr->n; i++)
        if (tr->labels[i] != *cls) {
            if (k != i) { memcpy(tr->pixels + (size_t)k * D, tr->pixels + (size_t)i * D, sizeof(float) * D); tr->labels[k] = tr->labels[i]; }
            k++;
        }
    if (k == tr->n) return ng_set_error("--exclude-class %s: the train split of '%s' has no picture of class %d", s->exclude_class, s->data, *cls);
    if (k == 0) return ng_set_error("--exclude-class %s: every train picture of '%s' is of that class", s->exclude_class, s->data);
    tr->n = k;
    return NG_OK;
}

int ng__image_open(ng_trainer *t, const char *state, int force) {
    image_run *r = calloc(1, sizeof *r);
    if (!r) return ng_set_error("out of memory");
    t->k = r;
    ng_train_settings *s = &t->s;
    ng_train_settings copy = *s;   /* the position of a resumed run (its settings are in s already) */
    if (state && load_state(state, &copy, &r->epoch0, &t->rng, &r->pos0)) return NG_ERR;
    if (check_ranges(s, setting_range)) return NG_ERR;
    ng_model *m = t->m;
    ng_model_config *mc = (ng_model_config *)ng_model_cfg(m);
    if (t->pre) { r->tr = t->pre[0]; r->te = t->pre[1]; memset(t->pre, 0, 2 * sizeof *t->pre); }   /* loaded by ng__image_create */
    else if (ng_dataset_load(s->data, "train", s->image_size, mc->c, &r->tr) || ng_dataset_load(s->data, "test", s->image_size, mc->c, &r->te))
        return NG_ERR;
    r->excluded = -1;
    if (s->exclude_class && exclude_class(s, &r->tr, &r->excluded)) return NG_ERR;
    const ng_images *tr = &r->tr, *te = &r->te;
    if (tr->n < 1 || te->n < 1) return ng_set_error("'%s': the train or test split is empty", s->data);
    if (mc->kind == NG_MODEL_CLASSIFIER && (!tr->labels || !te->labels || tr->n_classes < 2))
        return ng_set_error("'%s': the classifier needs labelled images of 2 classes or more", s->data);
    if (mc->kind == NG_MODEL_CLASSIFIER && (tr->n_classes > mc->n_classes || te->n_classes > mc->n_classes))
        return ng_set_error("'%s' has %d classes but the classifier was trained on %d", s->data, tr->n_classes, mc->n_classes);
    if (tr->c != mc->c || tr->h != mc->h || tr->w != mc->w)
        return ng_set_error("'%s' has %dx%dx%d images but the model was trained on %dx%dx%d", s->data, tr->c, tr->h, tr->w, mc->c, mc->h, mc->w);
    const ng_objective obj = ng__model_objective(m);
    r->obj = obj == NG_OBJ_CLASSIFY ? &CLASSIFY : obj == NG_OBJ_ADVERSARIAL ? &ADVERSARIAL : &RECONSTRUCT;
    const int gan = obj == NG_OBJ_ADVERSARIAL, clf = obj == NG_OBJ_CLASSIFY;
    const int B = r->B = s->batch_size < tr->n ? s->batch_size : tr->n;
    epoch_batches(tr->n, B, s->max_batches, gan, &r->n_batches, &r->rem);
    if (B != s->batch_size) s->batch_size = B;
    if (ng__train_shards(t, state != NULL, &r->S, &r->L)) return NG_ERR;
    if (gan && r->L > 1)
        return ng_set_error("a GAN takes one gradient shard per rank (its BatchNorm statistics are each rank's): --grad-shards %d "
                            "on %d rank%s", r->S, ng_dist_size(), ng_dist_size() == 1 ? "" : "s");
    if (r->rem % r->S) {
        ng__train_note(t, "note: the last %d pictures of each epoch are left out: %d gradient shards cannot share them evenly", r->rem, r->S);
        r->rem = 0;
    }
    r->gB = B / r->S; r->grem = r->rem / r->S;
    if (r->S > 1) {
        const int64_t D = (int64_t)mc->c * mc->h * mc->w, lat = mc->latent > 0 ? mc->latent : 1;
        int64_t gmax = 0;
        for (int b = 0; b < ng_model_n_blocks(m); b++)
            if (ng_params_total(ng_model_block(m, b)) > gmax) gmax = ng_params_total(ng_model_block(m, b));
        r->xb = malloc(sizeof(float) * (size_t)B * D);
        r->xinb = mc->kind == NG_MODEL_DAE ? malloc(sizeof(float) * (size_t)B * D) : NULL;
        r->epsb = malloc(sizeof(float) * (size_t)B * lat);
        r->lab = malloc(sizeof(int32_t) * (size_t)B);
        r->gtmp = malloc(sizeof(float) * (size_t)gmax);
        r->tree.n = ng_params_total(ng_model_block(m, 0));
        if (!r->xb || (mc->kind == NG_MODEL_DAE && !r->xinb) || !r->epsb || !r->lab || !r->gtmp)
            return ng_set_error("out of memory for the batch's shards");
    }
    if (r->pos0.batch > 0 && r->pos0.batch > r->n_batches + (r->rem ? 1 : 0))   /* stopped inside an epoch: that position must exist here */
        return ng_set_error("the checkpoint stopped before batch %d of epoch %d, but an epoch has %d batches here "
                            "(were --batch-size, --max-batches or the data changed?)", r->pos0.batch + 1, r->epoch0 + 1,
                            r->n_batches + (r->rem ? 1 : 0));
    /* never overwrite a checkpoint by accident; find out now that out is writable */
    if (ng__train_open_dir(t, clf ? NULL : "samples", force, "epoch", r->epoch0)) return NG_ERR;
    for (int b = 0; b < ng_model_n_blocks(m); b++) {
        ng_adamw_cfg ac = {s->lr, s->lr, s->beta1, s->beta2, 1e-8f, 0.0f, 0.0f, 0, 1};
        if (!(t->opts[b] = ng_adamw_new(ng_model_block(m, b), &ac))) return NG_ERR;
    }
    if (state && (r->epoch0 > 0 || r->pos0.batch > 0) && ng_checkpoint_load_optim(t->out, m, t->opts))
        ng__train_note(t, "warning: %s; the optimizer restarts from zero moments", ng_last_error());
    if (!(r->perm = malloc(sizeof(int) * tr->n))) return ng_set_error("out of memory");
    /* graphs: shapes are fixed, so one per batch size; they share the parameters */
    r->Be = divisor_upto(te->n, 1000);
    if (r->obj->graphs(t, r)) return NG_ERR;
    if (!clf) {
        if (!(r->sg = ng_graph_new()) || ng_decoder_build(m, r->sg, 64, &r->sdg)) return NG_ERR;
        ng_graph_set_training(r->sg, 0);
        ng_rng fixed;   /* the same 64 latents every epoch, so the grids show progress */
        ng_rng_seed(&fixed, s->seed ^ 0xF1DEDull);
        if (!(r->zfix = malloc(sizeof(float) * 64 * mc->latent))) return ng_set_error("out of memory");
        ng_rng_fill_normal(&fixed, r->zfix, 64 * (int64_t)mc->latent);
    }
    for (int i = 0; i < 6; i++) if (r->gs[i]) ng_graph_set_detect_anomaly(r->gs[i], s->detect_anomaly);
    if (r->sg) ng_graph_set_detect_anomaly(r->sg, s->detect_anomaly);
    ng_train_info *in = &t->info;
    in->n_params = 0;
    for (int b = 0; b < ng_model_n_blocks(m); b++) in->n_params += ng_params_numel(ng_model_block(m, b));
    in->n_train = tr->n; in->n_val = te->n;
    in->batch_size = B;
    in->start = r->epoch0;
    in->start_batch = r->pos0.batch ? r->pos0.batch + 1 : 0;
    return NG_OK;
}

void ng__image_free(ng_trainer *t) {
    image_run *r = t->k;
    if (!r) return;
    for (int i = 0; i < 6; i++) ng_graph_free(r->gs[i]);
    ng_graph_free(r->sg);
    free(r->zfix);
    free(r->xb); free(r->xinb); free(r->epsb); free(r->lab); free(r->gtmp);
    ng__dist_tree_free(&r->tree);
    free(r->perm);
    ng_images_free(&r->tr); ng_images_free(&r->te);
    free(r);
    t->k = NULL;
}

/* ---------------------------------------------------------------- the loop */

/* A numerical fault stops the loop before anything is saved, the last checkpoint staying as it
 * was: the error gains where. */
static void numeric_stop(const ng_trainer *t, int epoch, int batch, int n_batches) {
    char where[96], kept[4200];
    if (batch >= 0) snprintf(where, sizeof where, "epoch %d of %d, batch %d of %d", epoch + 1, t->s.epochs, batch + 1, n_batches);
    else snprintf(where, sizeof where, "epoch %d of %d (evaluation)", epoch + 1, t->s.epochs);
    snprintf(kept, sizeof kept, "the last checkpoint in %s", t->out);
    ng__train_fault(where, t->saved ? kept : NULL);
}

static int save(ng_trainer *t, int epoch, const epoch_pos *pos) {
    char *sj = state_json(t, epoch, pos);
    if (!sj) return ng_set_error("out of memory saving a checkpoint");
    const int rc = ng_dist_rank() > 0 ? NG_OK : ng_checkpoint_save(t->out, t->m, NULL, sj, t->opts);   /* rank 0 writes */
    free(sj);
    if (!rc) {
        t->saved = 1;
        ng_train_event e = {.kind = NG_TRAIN_SAVED, .epoch = epoch, .epochs = t->s.epochs};
        ng__train_emit(t, &e);
    }
    return rc;
}

int ng__image_run(ng_trainer *t) {
    image_run *r = t->k;
    const ng_train_settings *s = &t->s;
    const int B = r->B, n_batches = r->n_batches, rem = r->rem, nb_all = n_batches + (rem ? 1 : 0);
    for (int epoch = r->epoch0; epoch < s->epochs; epoch++) {
        double t0 = ng_seconds(), acc[6] = {0};
        int seen = 0, first = 0;
        ng_rng rng_epoch = t->rng;
        if (epoch == r->epoch0 && r->pos0.batch > 0) {   /* resume inside this epoch */
            rng_epoch = r->pos0.rng_epoch;
            ng_rng shuffle = rng_epoch;
            permute(r->perm, r->tr.n, &shuffle);
            first = r->pos0.batch; seen = r->pos0.seen; t0 -= r->pos0.elapsed;
            for (int i = 0; i < 5; i++) acc[i] = r->pos0.acc[i];
        } else {
            permute(r->perm, r->tr.n, &t->rng);
        }
        int bi, stopped = 0;
        for (bi = first; bi < nb_all; bi++) {
            const double tb = ng_seconds();
            const int b = bi < n_batches ? B : rem;
            const int *idx = r->perm + (size_t)bi * B;
            double loss = 0;
            const int bad = r->obj->batch(t, r, bi, idx, b, acc, &loss);
            if (bad) { numeric_stop(t, epoch, bi, nb_all); return NG_ERR; }
            seen += b;
            t->info.steps_run++;
            ng_train_event e = {.kind = NG_TRAIN_STEP, .step = bi + 1, .steps = nb_all, .epoch = epoch, .epochs = s->epochs,
                                .loss = loss, .lr = s->lr, .seconds = ng_seconds() - tb, .items = b};
            ng__train_emit(t, &e);
            int stop = t->stop && *t->stop;
            if (ng_dist_size() > 1 && ng__train_agree(&stop, 1)) return NG_ERR;   /* every rank stops after the same batch */
            if (stop) { stopped = 1; break; }
        }
        const double dt = ng_seconds() - t0;
        if (stopped) {
            /* save where we are inside the epoch: a resume continues with the next batch */
            epoch_pos pos = {bi + 1, seen, rng_epoch, {acc[0], acc[1], acc[2], acc[3], acc[4], 0}, dt};
            if (bi + 1 >= nb_all) pos.batch = nb_all;
            if (save(t, epoch, &pos)) return NG_ERR;
            return NG_STOPPED;
        }
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "epoch", epoch + 1);
        if (r->obj->epoch_end(t, r, epoch, acc, seen, j)) { cJSON_Delete(j); numeric_stop(t, epoch, -1, nb_all); return NG_ERR; }
        cJSON_AddNumberToObject(j, "epoch_s", round(dt * 100) / 100);
        cJSON_AddNumberToObject(j, "img_per_s", round(seen / dt * 10) / 10);
        ng_train_event e = {.kind = NG_TRAIN_EPOCH, .epoch = epoch, .epochs = s->epochs};
        e.record = ng__train_record(t, j);
        ng__train_emit(t, &e);
        if (save(t, epoch + 1, NULL)) return NG_ERR;
    }
    return NG_OK;
}

/* quality.c - a GAN's quality measured with a small classifier (`nanogen train classifier`):
 * the Frechet distance between Gaussians fitted to the classifier's penultimate features of
 * n generated and n real test images ("FID" with our classifier instead of Inception, so the
 * numbers compare only among themselves), with two references: the same distance for an
 * untrained generator (fresh init from the GAN's seed) and the floor, real train vs real test
 * images. Also the classes the classifier sees in the samples (mode collapse shows as missing
 * classes). The distance itself: src/eval/fid.c. */
#include "core/internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A string field of a checkpoint's training-state JSON (malloc'd), or NULL. */
static char *train_field(const char *train_json, const char *key) {
    cJSON *j = train_json ? cJSON_Parse(train_json) : NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    char *out = cJSON_IsString(v) && v->valuestring[0] ? strdup(v->valuestring) : NULL;
    cJSON_Delete(j);
    return out;
}

/* Features (n x hidden) and predicted classes (n) of n images (c,h,w in [0,1]), B at a time
 * through the classifier's eval graph cg (the last batch padded with its first image). */
static void classify(ng_graph *g, ng_classifier_graph *cg, int B, const float *imgs, int n, int64_t D,
                     float *feats, int *pred) {
    const int H = (int)cg->features->ne[1], K = (int)cg->logits->ne[1];
    for (int s = 0; s < n; s += B) {
        int b = n - s < B ? n - s : B;
        memcpy(cg->x->data, imgs + (size_t)s * D, sizeof(float) * (size_t)b * D);
        for (int i = b; i < B; i++) memcpy(cg->x->data + (size_t)i * D, imgs, sizeof(float) * D);
        for (int i = 0; i < B; i++) cg->labels->idata[i] = 0;
        ng_graph_forward(g);
        memcpy(feats + (size_t)s * H, cg->features->data, sizeof(float) * (size_t)b * H);
        for (int i = 0; i < b; i++) {
            const float *l = cg->logits->data + (size_t)i * K;
            int best = 0;
            for (int k = 1; k < K; k++) if (l[k] > l[best]) best = k;
            pred[s + i] = best;
        }
    }
}

/* n images from generator G (eval mode) with z ~ N(0,1) from seed, mapped [-1,1] -> [0,1]. */
static int generate(ng_model *G, int n, int B, uint64_t seed, float *out, int64_t D) {
    ng_graph *g = ng_graph_new();
    ng_decoder_graph dg;
    if (!g || ng_decoder_build(G, g, B, &dg)) { ng_graph_free(g); return NG_ERR; }
    ng_graph_set_training(g, 0);
    ng_rng r;
    ng_rng_seed(&r, seed);
    for (int s = 0; s < n; s += B) {
        ng_rng_fill_normal(&r, dg.z->data, dg.z->n);
        ng_graph_forward(g);
        int b = n - s < B ? n - s : B;
        for (int64_t i = 0; i < (int64_t)b * D; i++) {
            float v = 0.5f * (dg.images->data[i] + 1.0f);
            out[(size_t)s * D + i] = v < 0 ? 0 : v > 1 ? 1 : v;
        }
    }
    ng_graph_free(g);
    return NG_OK;
}

/* n distinct random images of a set (a seeded partial Fisher-Yates), copied to out; labels to lab. */
static int pick(const ng_images *im, int n, uint64_t seed, float *out, int *lab, int64_t D) {
    int *p = malloc(sizeof(int) * (size_t)im->n);
    if (!p) return ng_set_error("out of memory");
    for (int i = 0; i < im->n; i++) p[i] = i;
    ng_rng r;
    ng_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) {
        int j = i + (int)ng_rng_below(&r, (uint32_t)(im->n - i)), t = p[i];
        p[i] = p[j]; p[j] = t;
        memcpy(out + (size_t)i * D, im->pixels + (size_t)p[i] * D, sizeof(float) * D);
        lab[i] = im->labels ? im->labels[p[i]] : -1;
    }
    free(p);
    return NG_OK;
}

int ng_gan_fid_check(const ng_model_config *gc) {
    if (gc->c == 1 && gc->h == 28 && gc->w == 28) return NG_OK;
    return ng_set_error("--classifier: the classifier FID is for 28x28 grey GANs (Fashion-MNIST, MNIST); this GAN makes %dx%dx%d pictures",
                        gc->c, gc->h, gc->w);
}

int ng_gan_quality(const char *gan_dir, const char *clf_dir, int n, uint64_t seed, ng_gan_quality_report *r) {
    memset(r, 0, sizeof *r);
    ng_model *G = NULL, *G0 = NULL, *C = NULL;
    char *gtrain = NULL, *ctrain = NULL, *data = NULL, *gseed = NULL;
    ng_images tr = {0}, te = {0};
    ng_graph *cgraph = NULL;
    float *imgs = NULL, *feats[4] = {0};
    int *pred[4] = {0}, *lab = NULL, code = NG_ERR;
    double *mu[4] = {0}, *S[4] = {0};
    if (ng_checkpoint_load(gan_dir, &G, NULL, &gtrain)) goto fail;
    if (ng_model_cfg(G)->kind != NG_MODEL_GAN) { ng_set_error("'%s' is a %s, not a GAN", gan_dir, ng_model_kind_name(ng_model_cfg(G)->kind)); goto fail; }
    if (ng_gan_fid_check(ng_model_cfg(G))) goto fail;
    if (ng_checkpoint_load(clf_dir, &C, NULL, &ctrain)) { ng_set_error("--classifier: %s", ng_last_error()); goto fail; }
    const ng_model_config *gc = ng_model_cfg(G), *cc = ng_model_cfg(C);
    if (cc->kind != NG_MODEL_CLASSIFIER) {
        ng_set_error("--classifier '%s' is a %s, not a classifier (train one with: nanogen train classifier --data fashion-mnist --out DIR)",
                     clf_dir, ng_model_kind_name(cc->kind));
        goto fail;
    }
    if (cc->c != gc->c || cc->h != gc->h || cc->w != gc->w) {
        ng_set_error("the classifier takes %dx%dx%d images but the GAN makes %dx%dx%d", cc->c, cc->h, cc->w, gc->c, gc->h, gc->w);
        goto fail;
    }
    /* the real images: the classifier's data set (else the GAN's, else Fashion-MNIST) */
    if (!(data = train_field(ctrain, "data")) && !(data = train_field(gtrain, "data")) && !(data = strdup("fashion-mnist"))) {
        ng_set_error("out of memory"); goto fail;
    }
    if (ng_dataset_load(data, "train", gc->h, gc->c, &tr) || ng_dataset_load(data, "test", gc->h, gc->c, &te)) goto fail;
    int nmax = te.n < tr.n ? te.n : tr.n;
    if (n < 2 || n > nmax) { ng_set_error("--n %d: between 2 and %d (the real images of '%s')", n, nmax, data); goto fail; }
    gseed = train_field(gtrain, "seed");
    uint64_t g_seed = gseed ? strtoull(gseed, NULL, 10) : 1;
    if (!(G0 = ng_model_new(gc))) goto fail;
    ng_model_init(G0, g_seed);

    const int64_t D = (int64_t)gc->c * gc->h * gc->w;
    const int H = cc->hidden, K = cc->n_classes, B = n < 200 ? n : 200;
    imgs = malloc(sizeof(float) * (size_t)n * D);
    lab = malloc(sizeof(int) * (size_t)n);
    for (int k = 0; k < 4; k++) {
        feats[k] = malloc(sizeof(float) * (size_t)n * H);
        pred[k] = malloc(sizeof(int) * (size_t)n);
        mu[k] = malloc(sizeof(double) * (size_t)H);
        S[k] = malloc(sizeof(double) * (size_t)H * H);
        if (!feats[k] || !pred[k] || !mu[k] || !S[k]) break;
    }
    if (!imgs || !lab || !feats[3] || !pred[3] || !mu[3] || !S[3]) { ng_set_error("out of memory"); goto fail; }
    ng_classifier_graph cg;
    if (!(cgraph = ng_graph_new()) || ng_classifier_build(C, cgraph, B, &cg)) goto fail;
    ng_graph_set_training(cgraph, 0);

    double t0 = ng_seconds();
    /* 0: GAN samples, 1: untrained generator, 2: real train, 3: real test (the same z for 0 and 1) */
    long correct = 0;
    if (generate(G, n, B, seed, imgs, D)) goto fail;
    classify(cgraph, &cg, B, imgs, n, D, feats[0], pred[0]);
    if (generate(G0, n, B, seed, imgs, D)) goto fail;
    classify(cgraph, &cg, B, imgs, n, D, feats[1], pred[1]);
    if (pick(&tr, n, seed ^ 0x7a11ull, imgs, lab, D)) goto fail;
    classify(cgraph, &cg, B, imgs, n, D, feats[2], pred[2]);
    if (pick(&te, n, seed ^ 0x7e57ull, imgs, lab, D)) goto fail;
    classify(cgraph, &cg, B, imgs, n, D, feats[3], pred[3]);
    for (int i = 0; i < n; i++) correct += pred[3][i] == lab[i];
    for (int k = 0; k < 4; k++) if (ng_gaussian_fit(feats[k], n, H, mu[k], S[k])) goto fail;
    double fid = r->fid = ng_frechet_distance(mu[0], S[0], mu[3], S[3], H);
    double fid0 = r->fid_untrained = ng_frechet_distance(mu[1], S[1], mu[3], S[3], H);
    double floor_ = r->fid_floor = ng_frechet_distance(mu[2], S[2], mu[3], S[3], H);
    double fid_tr = r->fid_train = ng_frechet_distance(mu[0], S[0], mu[2], S[2], H);
    if (isnan(fid) || isnan(fid0) || isnan(floor_) || isnan(fid_tr)) goto fail;

    r->n = n;
    r->features = H;
    r->n_classes = K;
    r->untrained_seed = g_seed;
    r->n_correct = (int)correct;
    snprintf(r->data, sizeof r->data, "%s", data);
    if (!(r->hist = calloc((size_t)K * 2, sizeof(int)))) { ng_set_error("out of memory"); goto fail; }
    for (int i = 0; i < n; i++) { r->hist[pred[0][i]]++; r->hist[K + pred[3][i]]++; }
    r->seconds = ng_seconds() - t0;
    code = NG_OK;
    goto out;
fail:
    code = NG_ERR;
out:
    ng_graph_free(cgraph);
    for (int k = 0; k < 4; k++) { free(feats[k]); free(pred[k]); free(mu[k]); free(S[k]); }
    free(imgs); free(lab);
    free(gtrain); free(ctrain); free(data); free(gseed);
    ng_images_free(&tr); ng_images_free(&te);
    ng_model_free(G); ng_model_free(G0); ng_model_free(C);
    return code;
}

void ng_gan_quality_free(ng_gan_quality_report *r) {
    free(r->hist);
    r->hist = NULL;
}

/* scores.c - anomaly scores of pictures under a trained image model (`nanogen score`), the
 * ROC AUC of finding a class by them, the most anomalous pictures and a CSV of the scores.
 * A score is larger for a picture the model finds less typical:
 *   ae, dae: the reconstruction error, BCE summed over the pixels (the training loss; a DAE
 *            gets the clean picture);
 *   vae:     the negative ELBO, reconstruction BCE + KL(q(z|x) || N(0,1)), with the
 *            reconstruction term at z = the encoder's mean (deterministic);
 *   gan:     minus the discriminator's logit, -log(D(x) / (1 - D(x))): the same order as
 *            1 - D(x), without its saturation at 0 and 1.
 * excess (ae, dae, vae): the reconstruction term less the picture's own entropy (the BCE of
 * the picture against itself, sum of H(x_i)): the KL between the pixels and their
 * reconstruction, 0 for a perfect one. The plain BCE favours pictures with few grey pixels
 * (a sneaker has less to get wrong than a patterned shirt); the excess does not. */
#include "core/internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *ng_image_score_name(ng_model_kind kind, int excess) {
    switch (kind) {
    case NG_MODEL_AE: case NG_MODEL_DAE: return excess ? "reconstruction excess (BCE summed over the pixels less the picture's own entropy)"
                                                       : "reconstruction error (BCE summed over the pixels)";
    case NG_MODEL_VAE: return excess ? "negative ELBO less the picture's own entropy (BCE at z = mu - entropy + KL, nats)"
                                     : "negative ELBO (BCE at z = mu + KL, nats)";
    case NG_MODEL_GAN: return "minus the discriminator's logit (the order of 1 - D(x))";
    default: return "none";
    }
}

/* BCE of target t against the sigmoid of logit l, stable: max(l, 0) - l t + log(1 + e^-|l|) */
static double bce_logit(double l, double t) { return (l > 0 ? l : 0) - l * t + log1p(exp(-fabs(l))); }

/* the binary entropy of a pixel value (0 at 0 and 1) */
static double entropy(double t) { return (t > 0 ? -t * log(t) : 0) + (t < 1 ? -(1 - t) * log1p(-t) : 0); }

int ng_image_scores(ng_model *m, const ng_images *x, int excess, double *scores) {
    const ng_model_config *c = ng_model_cfg(m);
    if (c->kind != NG_MODEL_AE && c->kind != NG_MODEL_DAE && c->kind != NG_MODEL_VAE && c->kind != NG_MODEL_GAN)
        return ng_set_error("anomaly scores need an ae, dae, vae or gan, not a %s", ng_model_kind_name(c->kind));
    if (excess && c->kind == NG_MODEL_GAN) return ng_set_error("the reconstruction excess is for ae, dae and vae: a GAN reconstructs nothing");
    if (x->n < 1) return ng_set_error("anomaly scores: no pictures");
    if (x->c != c->c || x->h != c->h || x->w != c->w)
        return ng_set_error("the pictures are %dx%dx%d but the model was trained on %dx%dx%d", x->c, x->h, x->w, c->c, c->h, c->w);
    const size_t D = (size_t)c->c * c->h * c->w;
    const int B = x->n < 256 ? x->n : 256;
    ng_graph *g = ng_graph_new();
    if (!g) return NG_ERR;
    int rc = NG_ERR;
    if (c->kind == NG_MODEL_GAN) {
        int64_t xe[4] = {B, c->c, c->h, c->w};
        ng_tensor *in = ng_input(g, "x", 4, xe), *logits = in ? ng_gan_discriminator(m, g, in) : NULL;
        if (!logits || ng_graph_finalize(g, logits)) goto done;
        ng_graph_set_training(g, 0);
        for (int s = 0; s < x->n; s += B) {
            const int b = x->n - s < B ? x->n - s : B;
            memset(in->data, 0, sizeof(float) * D * B);
            for (size_t k = 0; k < D * (size_t)b; k++) in->data[k] = 2.0f * x->pixels[(size_t)s * D + k] - 1.0f;
            ng_graph_forward(g);
            for (int i = 0; i < b; i++) scores[s + i] = -(double)logits->data[i];
        }
    } else {
        ng_ae_graph ag;
        if (ng_ae_build(m, g, B, &ag)) goto done;
        ng_graph_set_training(g, 0);
        const int Z = c->latent;
        for (int s = 0; s < x->n; s += B) {
            const int b = x->n - s < B ? x->n - s : B;
            memset(ag.x->data, 0, sizeof(float) * D * B);
            memcpy(ag.x->data, x->pixels + (size_t)s * D, sizeof(float) * D * b);
            if (ag.x_in != ag.x) memcpy(ag.x_in->data, ag.x->data, sizeof(float) * D * B);   /* a DAE: the clean picture */
            if (ag.eps) memset(ag.eps->data, 0, sizeof(float) * (size_t)ag.eps->n);        /* a VAE: z = mu */
            ng_graph_forward(g);
            for (int i = 0; i < b; i++) {
                const float *l = ag.recon_logits->data + (size_t)i * D, *t = ag.x->data + (size_t)i * D;
                double sum = 0;
                for (size_t k = 0; k < D; k++) sum += bce_logit(l[k], t[k]) - (excess ? entropy(t[k]) : 0);
                if (ag.mu && ag.logvar) {
                    const float *mu = ag.mu->data + (size_t)i * Z, *lv = ag.logvar->data + (size_t)i * Z;
                    for (int k = 0; k < Z; k++) sum += 0.5 * ((double)mu[k] * mu[k] + exp(lv[k]) - 1.0 - lv[k]);
                }
                scores[s + i] = sum;
            }
        }
    }
    rc = NG_OK;
    for (int i = 0; i < x->n; i++)
        if (!isfinite(scores[i])) { rc = ng_set_error("the score of picture %d is not finite (%g): the model's outputs overflowed", i, scores[i]); break; }
done:
    ng_graph_free(g);
    return rc;
}

/* sort (score, index) pairs: descending score, then ascending index */
typedef struct { double s; int i; } scored;
static int by_score_desc(const void *a, const void *b) {
    const scored *x = a, *y = b;
    if (x->s != y->s) return x->s < y->s ? 1 : -1;
    return (x->i > y->i) - (x->i < y->i);
}

int *ng_scores_rank(const double *scores, int n) {
    if (n < 1) { ng_set_error("ranking: %d scores", n); return NULL; }
    scored *p = ng_malloc(sizeof *p * (size_t)n, "ranking");
    int *order = ng_malloc(sizeof(int) * (size_t)n, "ranking");
    if (!p || !order) { free(p); free(order); return NULL; }
    for (int i = 0; i < n; i++) { p[i].s = scores[i]; p[i].i = i; }
    qsort(p, (size_t)n, sizeof *p, by_score_desc);
    for (int i = 0; i < n; i++) order[i] = p[i].i;
    free(p);
    return order;
}

int ng_roc_auc(const double *scores, const uint8_t *positive, int n, double *auc) {
    if (n < 2) return ng_set_error("ROC AUC: %d scores (2 or more needed)", n);
    for (int i = 0; i < n; i++)
        if (isnan(scores[i])) return ng_set_error("ROC AUC: score %d is NaN", i);
    scored *p = ng_malloc(sizeof *p * (size_t)n, "ROC AUC");
    if (!p) return NG_ERR;
    for (int i = 0; i < n; i++) { p[i].s = scores[i]; p[i].i = i; }
    qsort(p, (size_t)n, sizeof *p, by_score_desc);
    /* Mann-Whitney: the positives' ranks in ascending order, ties sharing their mean rank */
    double rank_sum = 0;
    long long npos = 0;
    for (int a = 0; a < n;) {
        int b = a;
        while (b < n && p[b].s == p[a].s) b++;
        /* descending positions a..b-1 are ascending ranks n-b+1 .. n-a: their mean */
        const double mean = ((double)(n - b + 1) + (double)(n - a)) / 2;
        for (int k = a; k < b; k++)
            if (positive[p[k].i]) { rank_sum += mean; npos++; }
        a = b;
    }
    free(p);
    const long long nneg = n - npos;
    if (npos == 0 || nneg == 0)
        return ng_set_error("ROC AUC: the pictures are all %s: both classes are needed", npos ? "positive" : "negative");
    *auc = (rank_sum - (double)npos * (npos + 1) / 2) / ((double)npos * nneg);
    return NG_OK;
}

int ng_dataset_class_find(const char *spec, int n_classes, const char *name, int *cls) {
    if (!name || !*name) return ng_set_error("no class given");
    char *end;
    errno = 0;
    long v = strtol(name, &end, 10);
    if (!*end && end != name && !errno) {
        if (v < 0 || v >= n_classes)
            return ng_set_error("class %ld: '%s' has classes 0..%d", v, spec ? spec : "the data", n_classes - 1);
        *cls = (int)v;
        return NG_OK;
    }
    const char *const *names = ng_dataset_class_names(spec, n_classes);
    for (int i = 0; names && i < n_classes; i++)
        if (!strcasecmp(names[i], name)) { *cls = i; return NG_OK; }
    if (!names) return ng_set_error("class '%s': '%s' has no class names: give a number 0..%d", name, spec ? spec : "the data", n_classes - 1);
    char list[512] = "";
    for (int i = 0; i < n_classes; i++) {
        size_t k = strlen(list);
        snprintf(list + k, sizeof list - k, "%s%d %s", i ? ", " : "", i, names[i]);
    }
    return ng_set_error("class '%s' is not one of %s's: %s", name, spec, list);
}

int ng_scores_csv(const char *path, const double *scores, const uint8_t *labels, int n, const char *const *names) {
    ng_atomic_file af;
    if (ng_atomic_open(&af, path)) return NG_ERR;
    int ok = fprintf(af.fp, labels ? "index,label,score\n" : "index,score\n") > 0;
    for (int i = 0; ok && i < n; i++) {
        if (labels && names) ok = fprintf(af.fp, "%d,%s,%.9g\n", i, names[labels[i]], scores[i]) > 0;
        else if (labels) ok = fprintf(af.fp, "%d,%d,%.9g\n", i, labels[i], scores[i]) > 0;
        else ok = fprintf(af.fp, "%d,%.9g\n", i, scores[i]) > 0;
    }
    if (!ok) ng_set_error("cannot write '%s' (via '%s'): %s", path, af.tmp, strerror(errno));
    return ng_atomic_commit(&af, ok) || !ok ? NG_ERR : NG_OK;
}

int ng_scores_by_class(const double *scores, const uint8_t *labels, int n, int n_classes, double *mean, int *count) {
    if (n_classes < 1 || n_classes > 256) return ng_set_error("scores by class: %d classes", n_classes);
    for (int k = 0; k < n_classes; k++) { mean[k] = 0; count[k] = 0; }
    for (int i = 0; i < n; i++) {
        if (labels[i] >= n_classes) return ng_set_error("scores by class: picture %d has label %d of %d classes", i, labels[i], n_classes);
        mean[labels[i]] += scores[i];
        count[labels[i]]++;
    }
    for (int k = 0; k < n_classes; k++) mean[k] = count[k] ? mean[k] / count[k] : NAN;
    return NG_OK;
}

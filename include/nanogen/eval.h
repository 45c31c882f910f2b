/* nanogen/eval.h - measuring models: the Frechet distance of features (FID), a language model's
 * loss over a whole text, principal component analysis. Part of <nanogen.h>. */
#ifndef NANOGEN_EVAL_H
#define NANOGEN_EVAL_H

#include "core.h"
#include "model.h"
#include "io.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ FID */
/* Frechet distance between Gaussians (FID with a classifier's features).
 * ng_gaussian_fit: mean (d) and covariance (d x d, divided by n-1) of n feature rows of d
 * floats (n >= 2). ng_frechet_distance: ||mu1-mu2||^2 + Tr(S1 + S2 - 2 sqrt(S1 S2)), with
 * Tr sqrt(S1 S2) from the eigenvalues of the symmetric sqrt(S1) S2 sqrt(S1) (Jacobi);
 * NAN + error if d < 1 or out of memory. ng_sym_eigen: eigenvalues (w, d) and eigenvectors
 * (columns of V, d x d row-major; may be NULL) of the symmetric d x d matrix A (not changed)
 * by cyclic Jacobi rotations. */
NG_API int ng_gaussian_fit(const float *feats, int n, int d, double *mu, double *S);
NG_API double ng_frechet_distance(const double *mu1, const double *S1, const double *mu2, const double *S2, int d);
NG_API int ng_sym_eigen(const double *A, int d, double *w, double *V);
/* ------------------------------------------------------------------ language models */
/* The mean loss (nats per token) over every position of ids[0..n) that has a next token, each
 * predicted once: non-overlapping windows of T, B at a time, through the language-model graph
 * lg (B,T) of g in eval mode. *count (may be NULL): the positions counted. */
NG_API double ng_lm_full_loss(ng_lm_graph *lg, ng_graph *g, int B, int T, const int32_t *ids, size_t n, size_t *count);

/* ------------------------------------------------------------------ PCA */
/* Principal component analysis of n rows of d floats (n >= 2, 1 <= k <= d): the k leading
 * principal axes of the centred rows, by subspace iteration (deterministic; each axis signed so
 * that its largest component is positive). Outputs, each may be NULL: axes (k x d unit vectors,
 * row j = axis j), explained (k: fraction of the total variance along each axis), proj (n x k:
 * the centred rows' coordinates on the axes). */
NG_API int ng_pca(const float *x, int n, int d, int k, double *axes, double *explained, double *proj);

/* A GAN's quality through a classifier's penultimate features (src/eval/quality.c; `nanogen
 * eval GAN_DIR --classifier CLF_DIR`): FID of n generated pictures (eval mode, [-1,1] -> [0,1])
 * vs n real test pictures of the classifier's data set (else the GAN's, else fashion-mnist),
 * vs n real train pictures, the untrained generator's FID (fresh init from the GAN's seed),
 * the real train/test floor; the classes the classifier sees in the samples. */
typedef struct {
    int n, features, n_classes, n_correct;   /* n_correct: of the n real test pictures */
    double fid, fid_train, fid_untrained, fid_floor, seconds;
    uint64_t untrained_seed;
    char data[4096];                          /* the data set of the real pictures */
    int *hist;   /* 2 x n_classes: the samples' predicted classes, then the real test pictures' */
} ng_gan_quality_report;
NG_API int ng_gan_quality(const char *gan_dir, const char *clf_dir, int n, uint64_t seed, ng_gan_quality_report *r);
NG_API void ng_gan_quality_free(ng_gan_quality_report *r);
/* NG_OK when the classifier FID applies to a GAN of this shape (28x28x1), else NG_ERR + why. */
NG_API int ng_gan_fid_check(const ng_model_config *gc);

/* ------------------------------------------------------------------ anomaly scores */
/* Anomaly scores of pictures (src/eval/scores.c, `nanogen score`): scores[i] (x->n doubles) is
 * larger for a picture the model finds less typical: ae, dae: the reconstruction error (BCE
 * summed over the pixels; a DAE gets the clean picture); vae: the negative ELBO, BCE at z = the
 * encoder's mean + KL; gan: minus the discriminator's logit (the order of 1 - D(x), not
 * saturated). excess (not a gan): the BCE less the picture's own entropy (sum of H(x_i), its
 * BCE against itself), i.e. the KL between the pixels and their reconstruction, which does not
 * favour pictures with few grey pixels. ng_image_score_name: that, in words. */
NG_API int ng_image_scores(ng_model *m, const ng_images *x, int excess, double *scores);
NG_API const char *ng_image_score_name(ng_model_kind kind, int excess);
/* The mean score of each class (mean[k], count[k] pictures; NaN for a class without any). */
NG_API int ng_scores_by_class(const double *scores, const uint8_t *labels, int n, int n_classes, double *mean, int *count);
/* The indices 0..n-1 by score, largest first (ties: lower index first); malloc'd. */
NG_API int *ng_scores_rank(const double *scores, int n);
/* The exact ROC AUC of telling positives (positive[i] != 0) by a larger score: the Mann-Whitney
 * statistic, ties counted one half. NG_ERR + error without both classes or with a NaN score. */
NG_API int ng_roc_auc(const double *scores, const uint8_t *positive, int n, double *auc);
/* The scores as CSV (index,label,score; index,score without labels; label: names[label] when
 * names is given), atomically. */
NG_API int ng_scores_csv(const char *path, const double *scores, const uint8_t *labels, int n, const char *const *names);

#ifdef __cplusplus
}
#endif
#endif

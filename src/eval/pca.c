/* pca.c - principal component analysis of a set of rows (token embeddings, latent codes).
 *
 * The top k eigenvectors of A = Xc^T Xc (Xc: the rows minus their mean) by subspace iteration
 * with a Rayleigh-Ritz step each round: p = min(d, 2k + 6) orthonormal vectors Q, Y = A Q
 * computed as Xc^T (Xc Q) (A is never formed: O(n d p) per round, whatever d), the p x p
 * matrix Q^T A Q diagonalised by Jacobi (ng_sym_eigen), Q <- the Ritz vectors, until the top
 * k residuals |A q - lambda q| fall below 1e-10 lambda_1 (at most 2000 rounds). Deterministic:
 * the start vectors come from a fixed seed, and each axis is signed so that its largest
 * component (the first of equals) is positive. Everything in double. */
#include "core/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PCA_MAX_ROUNDS 2000
#define PCA_TOL 1e-10

/* Orthonormalise the p columns of Q (d x p, column j at Q[i*p + j]) in order, by modified
 * Gram-Schmidt applied twice; a column that vanishes (rank deficiency) is replaced by a fresh
 * random vector and orthonormalised again. */
static void orthonormalise(double *Q, int d, int p, ng_rng *r) {
    for (int j = 0; j < p; j++) {
        for (int attempt = 0; attempt < 8; attempt++) {
            double before = 0;
            for (int i = 0; i < d; i++) before += Q[(size_t)i * p + j] * Q[(size_t)i * p + j];
            for (int pass = 0; pass < 2; pass++)
                for (int k = 0; k < j; k++) {
                    double dot = 0;
                    for (int i = 0; i < d; i++) dot += Q[(size_t)i * p + j] * Q[(size_t)i * p + k];
                    for (int i = 0; i < d; i++) Q[(size_t)i * p + j] -= dot * Q[(size_t)i * p + k];
                }
            double nn = 0;
            for (int i = 0; i < d; i++) nn += Q[(size_t)i * p + j] * Q[(size_t)i * p + j];
            if (nn > 1e-20 * before && nn > 0) {
                nn = 1 / sqrt(nn);
                for (int i = 0; i < d; i++) Q[(size_t)i * p + j] *= nn;
                break;
            }
            for (int i = 0; i < d; i++) Q[(size_t)i * p + j] = ng_rng_normal(r);
        }
    }
}

int ng_pca(const float *x, int n, int d, int k, double *axes, double *explained, double *proj) {
    if (!x || n < 2 || d < 1) return ng_set_error("PCA: need at least 2 rows of at least 1 value (got %d x %d)", n, d);
    if (k < 1 || k > d) return ng_set_error("PCA: %d components asked of %d-D rows (1..%d)", k, d, d);
    const int p = d < 2 * k + 6 ? d : 2 * k + 6;
    const size_t nd = (size_t)n * d, dp = (size_t)d * p;
    double *X = ng_malloc(sizeof(double) * nd, "PCA data"), *mean = ng_malloc(sizeof(double) * d, "PCA");
    double *Q = ng_malloc(sizeof(double) * dp, "PCA"), *Y = ng_malloc(sizeof(double) * dp, "PCA");
    double *Z = ng_malloc(sizeof(double) * (size_t)n * p, "PCA"), *B = ng_malloc(sizeof(double) * p * p, "PCA");
    double *W = ng_malloc(sizeof(double) * p * p, "PCA"), *lam = ng_malloc(sizeof(double) * p, "PCA");
    double *T = ng_malloc(sizeof(double) * dp, "PCA"), *row = ng_malloc(sizeof(double) * p, "PCA");
    int *ord = ng_malloc(sizeof(int) * p, "PCA");
    int rc = NG_ERR;
    if (!X || !mean || !Q || !Y || !Z || !B || !W || !lam || !T || !row || !ord) goto done;
    for (int j = 0; j < d; j++) mean[j] = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) mean[j] += x[(size_t)i * d + j];
    for (int j = 0; j < d; j++) mean[j] /= n;
    double total = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) {
            double t = (double)x[(size_t)i * d + j] - mean[j];
            if (!isfinite(t)) { ng_set_error("PCA: row %d, value %d is not finite", i, j); goto done; }
            X[(size_t)i * d + j] = t;
            total += t * t;
        }
    ng_rng r;
    ng_rng_seed(&r, 0x5eed9ca);
    for (size_t i = 0; i < dp; i++) Q[i] = ng_rng_normal(&r);
    orthonormalise(Q, d, p, &r);
    for (int round = 0; round < PCA_MAX_ROUNDS && total > 0; round++) {
        /* Z = X Q (n x p), Y = X^T Z (d x p) */
        memset(Z, 0, sizeof(double) * (size_t)n * p);
        for (int i = 0; i < n; i++) {
            const double *xi = X + (size_t)i * d;
            double *zi = Z + (size_t)i * p;
            for (int a = 0; a < d; a++) {
                double xa = xi[a];
                const double *qa = Q + (size_t)a * p;
                for (int j = 0; j < p; j++) zi[j] += xa * qa[j];
            }
        }
        memset(Y, 0, sizeof(double) * dp);
        for (int i = 0; i < n; i++) {
            const double *xi = X + (size_t)i * d, *zi = Z + (size_t)i * p;
            for (int a = 0; a < d; a++) {
                double xa = xi[a];
                double *ya = Y + (size_t)a * p;
                for (int j = 0; j < p; j++) ya[j] += xa * zi[j];
            }
        }
        /* Rayleigh-Ritz: B = Q^T Y = W diag(lam) W^T */
        for (int a = 0; a < p; a++)
            for (int b = a; b < p; b++) {
                double s = 0;
                for (int i = 0; i < d; i++) s += Q[(size_t)i * p + a] * Y[(size_t)i * p + b];
                B[a * p + b] = s;
            }
        for (int a = 0; a < p; a++)
            for (int b = 0; b < a; b++) B[a * p + b] = B[b * p + a];
        if (ng_sym_eigen(B, p, lam, W)) goto done;
        for (int j = 0; j < p; j++) ord[j] = j;
        for (int j = 1; j < p; j++)   /* eigenvalues descending (insertion sort; p is small) */
            for (int m = j; m > 0 && lam[ord[m]] > lam[ord[m - 1]]; m--) { int t = ord[m]; ord[m] = ord[m - 1]; ord[m - 1] = t; }
        /* Ritz vectors Q W and their images Y W, columns in descending order */
        double res = 0;
        for (int i = 0; i < d; i++) {
            double *ti = T + (size_t)i * p;
            for (int j = 0; j < p; j++) {
                double sq = 0, sy = 0;
                for (int m = 0; m < p; m++) {
                    sq += Q[(size_t)i * p + m] * W[m * p + ord[j]];
                    sy += Y[(size_t)i * p + m] * W[m * p + ord[j]];
                }
                ti[j] = sq;
                row[j] = sy;
            }
            memcpy(Y + (size_t)i * p, row, sizeof(double) * p);
        }
        for (int j = 0; j < k; j++) {
            double rr = 0;
            for (int i = 0; i < d; i++) {
                double t = Y[(size_t)i * p + j] - lam[ord[j]] * T[(size_t)i * p + j];
                rr += t * t;
            }
            if (sqrt(rr) > res) res = sqrt(rr);
        }
        double top = lam[ord[0]];
        memcpy(Q, T, sizeof(double) * dp);
        if (res <= PCA_TOL * top) break;
        /* next subspace: A times the Ritz vectors, orthonormalised in descending order */
        memcpy(Q, Y, sizeof(double) * dp);
        orthonormalise(Q, d, p, &r);
    }
    if (!(total > 0)) {   /* all rows equal: no variance; the first k unit vectors */
        for (size_t i = 0; i < dp; i++) Q[i] = 0;
        for (int j = 0; j < p; j++) Q[(size_t)j * p + j] = 1;
    }
    /* the top k: fixed signs, eigenvalues from the Rayleigh quotients, projections */
    for (int j = 0; j < k; j++) {
        int big = 0;
        for (int i = 1; i < d; i++)
            if (fabs(Q[(size_t)i * p + j]) > fabs(Q[(size_t)big * p + j]) * (1 + 1e-9)) big = i;
        double sgn = Q[(size_t)big * p + j] < 0 ? -1 : 1, lj = 0;
        for (int i = 0; i < d; i++) Q[(size_t)i * p + j] *= sgn;
        for (int i = 0; i < n; i++) {
            double s = 0;
            for (int a = 0; a < d; a++) s += X[(size_t)i * d + a] * Q[(size_t)a * p + j];
            if (proj) proj[(size_t)i * k + j] = s;
            lj += s * s;
        }
        if (axes)
            for (int a = 0; a < d; a++) axes[(size_t)j * d + a] = Q[(size_t)a * p + j];
        if (explained) explained[j] = total > 0 ? lj / total : 0;
    }
    rc = NG_OK;
done:
    free(X); free(mean); free(Q); free(Y); free(Z); free(B); free(W); free(lam); free(T); free(row); free(ord);
    return rc;
}

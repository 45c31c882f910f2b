/* fid.c - Gaussian statistics of feature vectors and the Frechet distance between two
 * Gaussians (the FID, here over a small classifier's features), with a cyclic Jacobi
 * eigenvalue routine for the matrix square roots. Everything in double. */
#include "core/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int ng_gaussian_fit(const float *feats, int n, int d, double *mu, double *S) {
    if (n < 2 || d < 1) return ng_set_error("gaussian fit: need n >= 2 rows and d >= 1 (got n=%d, d=%d)", n, d);
    double *x = ng_malloc(sizeof(double) * (size_t)d, "gaussian fit");
    if (!x) return NG_ERR;
    memset(mu, 0, sizeof(double) * (size_t)d);
    memset(S, 0, sizeof(double) * (size_t)d * d);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < d; j++) mu[j] += feats[(size_t)i * d + j];
    for (int j = 0; j < d; j++) mu[j] /= n;
    /* S = sum (x - mu)(x - mu)^T / (n - 1): upper triangle, then mirrored */
    for (int i = 0; i < n; i++) {
        for (int j = 0; j < d; j++) x[j] = feats[(size_t)i * d + j] - mu[j];
        for (int a = 0; a < d; a++) {
            if (x[a] == 0) continue;
            double xa = x[a], *row = S + (size_t)a * d;
            for (int b = a; b < d; b++) row[b] += xa * x[b];
        }
    }
    for (int a = 0; a < d; a++)
        for (int b = a; b < d; b++) {
            S[(size_t)a * d + b] /= (n - 1);
            S[(size_t)b * d + a] = S[(size_t)a * d + b];
        }
    free(x);
    return NG_OK;
}

int ng_sym_eigen(const double *A0, int d, double *w, double *V) {
    if (d < 1) return ng_set_error("eigen: size %d < 1", d);
    const size_t dd = (size_t)d * d;
    double *A = ng_malloc(sizeof(double) * dd, "eigen"), *Vw = V ? V : ng_malloc(sizeof(double) * dd, "eigen");
    if (!A || !Vw) { free(A); if (!V) free(Vw); return NG_ERR; }
    memcpy(A, A0, sizeof(double) * dd);
    for (size_t i = 0; i < dd; i++) Vw[i] = 0;
    for (int i = 0; i < d; i++) Vw[(size_t)i * d + i] = 1;
    double total = 0;
    for (size_t i = 0; i < dd; i++) total += A[i] * A[i];
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0;
        for (int p = 0; p < d; p++)
            for (int q = p + 1; q < d; q++) off += A[(size_t)p * d + q] * A[(size_t)p * d + q];
        if (off <= 1e-26 * total || off == 0) break;   /* off-diagonal ~1e-13 of the norm */
        for (int p = 0; p < d; p++)
            for (int q = p + 1; q < d; q++) {
                double apq = A[(size_t)p * d + q];
                if (apq == 0) continue;
                double app = A[(size_t)p * d + p], aqq = A[(size_t)q * d + q];
                /* rotation that zeroes A[p][q]: tan = t, theta = (aqq - app) / (2 apq) */
                double theta = (aqq - app) / (2 * apq);
                double t = (theta >= 0 ? 1.0 : -1.0) / (fabs(theta) + sqrt(theta * theta + 1));
                double c = 1 / sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < d; k++) {   /* columns p, q: A = A J */
                    double akp = A[(size_t)k * d + p], akq = A[(size_t)k * d + q];
                    A[(size_t)k * d + p] = c * akp - s * akq;
                    A[(size_t)k * d + q] = s * akp + c * akq;
                }
                for (int k = 0; k < d; k++) {   /* rows p, q: A = J^T A */
                    double apk = A[(size_t)p * d + k], aqk = A[(size_t)q * d + k];
                    A[(size_t)p * d + k] = c * apk - s * aqk;
                    A[(size_t)q * d + k] = s * apk + c * aqk;
                }
                A[(size_t)p * d + q] = A[(size_t)q * d + p] = 0;
                for (int k = 0; k < d; k++) {   /* V = V J */
                    double vkp = Vw[(size_t)k * d + p], vkq = Vw[(size_t)k * d + q];
                    Vw[(size_t)k * d + p] = c * vkp - s * vkq;
                    Vw[(size_t)k * d + q] = s * vkp + c * vkq;
                }
            }
    }
    for (int i = 0; i < d; i++) w[i] = A[(size_t)i * d + i];
    free(A);
    if (!V) free(Vw);
    return NG_OK;
}

/* sqrt of a symmetric PSD matrix: V diag(sqrt(max(w, 0))) V^T */
static int sym_sqrt(const double *S, int d, double *R) {
    const size_t dd = (size_t)d * d;
    double *V = ng_malloc(sizeof(double) * dd, "matrix sqrt"), *w = ng_malloc(sizeof(double) * (size_t)d, "matrix sqrt");
    int rc = NG_ERR;
    if (V && w && !ng_sym_eigen(S, d, w, V)) {
        for (int i = 0; i < d; i++) w[i] = w[i] > 0 ? sqrt(w[i]) : 0;
        for (int a = 0; a < d; a++)
            for (int b = a; b < d; b++) {
                double acc = 0;
                for (int k = 0; k < d; k++) acc += V[(size_t)a * d + k] * w[k] * V[(size_t)b * d + k];
                R[(size_t)a * d + b] = R[(size_t)b * d + a] = acc;
            }
        rc = NG_OK;
    }
    free(V); free(w);
    return rc;
}

double ng_frechet_distance(const double *mu1, const double *S1, const double *mu2, const double *S2, int d) {
    if (d < 1) { ng_set_error("frechet distance: d = %d < 1", d); return NAN; }
    const size_t dd = (size_t)d * d;
    double *R = ng_malloc(sizeof(double) * dd, "frechet distance"), *T = ng_malloc(sizeof(double) * dd, "frechet distance"),
           *M = ng_malloc(sizeof(double) * dd, "frechet distance"), *w = ng_malloc(sizeof(double) * (size_t)d, "frechet distance");
    double out = NAN;
    if (!R || !T || !M || !w || sym_sqrt(S1, d, R)) goto done;
    /* M = R S2 R (R = sqrt(S1), symmetric): T = S2 R, M = R T, then symmetrised */
    for (int a = 0; a < d; a++)
        for (int b = 0; b < d; b++) {
            double acc = 0;
            for (int k = 0; k < d; k++) acc += S2[(size_t)a * d + k] * R[(size_t)k * d + b];
            T[(size_t)a * d + b] = acc;
        }
    for (int a = 0; a < d; a++)
        for (int b = 0; b < d; b++) {
            double acc = 0;
            for (int k = 0; k < d; k++) acc += R[(size_t)a * d + k] * T[(size_t)k * d + b];
            M[(size_t)a * d + b] = acc;
        }
    for (int a = 0; a < d; a++)
        for (int b = a + 1; b < d; b++)
            M[(size_t)a * d + b] = M[(size_t)b * d + a] = 0.5 * (M[(size_t)a * d + b] + M[(size_t)b * d + a]);
    if (ng_sym_eigen(M, d, w, NULL)) goto done;
    double diff = 0, tr = 0, trs = 0;
    for (int i = 0; i < d; i++) {
        double e = mu1[i] - mu2[i];
        diff += e * e;
        tr += S1[(size_t)i * d + i] + S2[(size_t)i * d + i];
        trs += w[i] > 0 ? sqrt(w[i]) : 0;
    }
    out = diff + tr - 2 * trs;
    if (out < 0 && out > -1e-9 * (tr + diff + 1)) out = 0;   /* rounding of identical Gaussians */
done:
    free(R); free(T); free(M); free(w);
    return out;
}

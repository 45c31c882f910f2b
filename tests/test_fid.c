/* test_fid.c - the Frechet distance and its pieces: Jacobi eigen-decomposition (A V = V diag(w),
 * V orthogonal), Gaussian fits of known data, FID of identical Gaussians = 0, the diagonal case
 * against sum((sqrt(a)-sqrt(b))^2) + ||mu1-mu2||^2, the 2x2 case against the closed form
 * Tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)), symmetry in the two Gaussians, translation invariance. */
#include "nanogen.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static ng_rng g_rng;

/* a random SPD matrix S = A A^T / d + eps I */
static void random_spd(double *S, int d, double eps) {
    double *A = malloc(sizeof(double) * d * d);
    for (int i = 0; i < d * d; i++) A[i] = ng_rng_normal(&g_rng);
    for (int a = 0; a < d; a++)
        for (int b = 0; b < d; b++) {
            double acc = 0;
            for (int k = 0; k < d; k++) acc += A[a * d + k] * A[b * d + k];
            S[a * d + b] = acc / d + (a == b ? eps : 0);
        }
    free(A);
}

static void test_eigen(void) {
    const int sizes[] = {1, 2, 5, 20, 128};
    for (int si = 0; si < 5; si++) {
        int d = sizes[si];
        double *A = malloc(sizeof(double) * d * d), *V = malloc(sizeof(double) * d * d), *w = malloc(sizeof(double) * d);
        for (int a = 0; a < d; a++)
            for (int b = a; b < d; b++) A[a * d + b] = A[b * d + a] = ng_rng_normal(&g_rng);
        CHECK(ng_sym_eigen(A, d, w, V) == NG_OK, "%s", ng_last_error());
        double res = 0, orth = 0, scale = 0;
        for (int i = 0; i < d * d; i++) scale = fmax(scale, fabs(A[i]));
        for (int a = 0; a < d; a++)
            for (int k = 0; k < d; k++) {
                double av = 0, vv = 0;
                for (int j = 0; j < d; j++) { av += A[a * d + j] * V[j * d + k]; vv += V[j * d + a] * V[j * d + k]; }
                res = fmax(res, fabs(av - V[a * d + k] * w[k]));
                orth = fmax(orth, fabs(vv - (a == k)));
            }
        CHECK(res < 1e-9 * scale * d, "d=%d: |A V - V diag(w)| = %g", d, res);
        CHECK(orth < 1e-10 * d, "d=%d: |V^T V - I| = %g", d, orth);
        double tr = 0, sw = 0;
        for (int i = 0; i < d; i++) { tr += A[i * d + i]; sw += w[i]; }
        CHECK(fabs(sw - tr) < 1e-9 * d * scale, "d=%d: sum of eigenvalues %g vs trace %g", d, sw, tr);
        free(A); free(V); free(w);
    }
    double z = 0, w0;
    CHECK(ng_sym_eigen(&z, 0, &w0, NULL) == NG_ERR, "d = 0 is an error");
}

static void test_fit(void) {
    /* rows (1,2), (3,6), (5,4): mean (3,4); cov with n-1: [[4, 2], [2, 4]] */
    const float x[] = {1, 2, 3, 6, 5, 4};
    double mu[2], S[4];
    CHECK(ng_gaussian_fit(x, 3, 2, mu, S) == NG_OK, "%s", ng_last_error());
    CHECK_NEAR(mu[0], 3, 1e-12); CHECK_NEAR(mu[1], 4, 1e-12);
    CHECK_NEAR(S[0], 4, 1e-12); CHECK_NEAR(S[1], 2, 1e-12); CHECK_NEAR(S[2], 2, 1e-12); CHECK_NEAR(S[3], 4, 1e-12);
    CHECK(ng_gaussian_fit(x, 1, 2, mu, S) == NG_ERR, "one row is an error");
}

static void test_identical(void) {
    const int sizes[] = {1, 3, 16, 128};
    for (int si = 0; si < 4; si++) {
        int d = sizes[si];
        /* features of n random rows, then the fitted Gaussian against itself */
        int n = 2 * d + 50;
        float *f = malloc(sizeof(float) * n * d);
        for (int i = 0; i < n * d; i++) f[i] = ng_rng_normal(&g_rng) * (1 + (i % d) * 0.1f) + (i % 7);
        double *mu = malloc(sizeof(double) * d), *S = malloc(sizeof(double) * d * d);
        CHECK(ng_gaussian_fit(f, n, d, mu, S) == NG_OK, "%s", ng_last_error());
        double tr = 0;
        for (int i = 0; i < d; i++) tr += S[i * d + i];
        double fd = ng_frechet_distance(mu, S, mu, S, d);
        CHECK(fabs(fd) < 1e-8 * tr, "d=%d: FID of a Gaussian with itself = %g (trace %g)", d, fd, tr);
        free(f); free(mu); free(S);
    }
    /* a singular covariance (rank 1) too */
    double mu[3] = {1, 2, 3}, S[9] = {1, 2, 3, 2, 4, 6, 3, 6, 9};
    CHECK(fabs(ng_frechet_distance(mu, S, mu, S, 3)) < 1e-6, "rank-1 covariance with itself: %g", ng_frechet_distance(mu, S, mu, S, 3));
}

static void test_diagonal(void) {
    const int d = 12;
    double mu1[12], mu2[12], S1[144] = {0}, S2[144] = {0}, want = 0;
    for (int i = 0; i < d; i++) {
        mu1[i] = ng_rng_normal(&g_rng); mu2[i] = ng_rng_normal(&g_rng);
        double a = 0.1 + 3 * ng_rng_uniform(&g_rng), b = i == 3 ? 0 : 0.1 + 3 * ng_rng_uniform(&g_rng);
        S1[i * d + i] = a; S2[i * d + i] = b;
        want += (sqrt(a) - sqrt(b)) * (sqrt(a) - sqrt(b)) + (mu1[i] - mu2[i]) * (mu1[i] - mu2[i]);
    }
    CHECK_NEAR(ng_frechet_distance(mu1, S1, mu2, S2, d), want, 1e-10 * want, "(diagonal closed form)");
    CHECK_NEAR(ng_frechet_distance(mu2, S2, mu1, S1, d), want, 1e-10 * want, "(diagonal, swapped)");
}

/* 2x2: Tr sqrt(S1 S2) = sqrt(tr(S1 S2) + 2 sqrt(det S1 det S2)) (S1 S2 has positive eigenvalues) */
static void test_2x2(void) {
    for (int it = 0; it < 20; it++) {
        double S1[4], S2[4], mu1[2] = {0.5, -1}, mu2[2] = {0, 2};
        random_spd(S1, 2, 0.05); random_spd(S2, 2, 0.05);
        double trp = S1[0] * S2[0] + S1[1] * S2[2] + S1[2] * S2[1] + S1[3] * S2[3];
        double det = (S1[0] * S1[3] - S1[1] * S1[2]) * (S2[0] * S2[3] - S2[1] * S2[2]);
        double want = 0.25 + 9 + S1[0] + S1[3] + S2[0] + S2[3] - 2 * sqrt(trp + 2 * sqrt(det));
        { double got = ng_frechet_distance(mu1, S1, mu2, S2, 2);
          CHECK(fabs(got - want) < 1e-10 * (1 + fabs(want)), "2x2 closed form, draw %d: %.12g vs %.12g", it, got, want); }
    }
}

static void test_symmetry_translation(void) {
    const int d = 40;
    double *S1 = malloc(sizeof(double) * d * d), *S2 = malloc(sizeof(double) * d * d);
    double mu1[40], mu2[40], m1s[40], m2s[40];
    random_spd(S1, d, 0.01); random_spd(S2, d, 0.3);
    for (int i = 0; i < d; i++) {
        mu1[i] = ng_rng_normal(&g_rng); mu2[i] = ng_rng_normal(&g_rng);
        double t = 10 * ng_rng_normal(&g_rng);
        m1s[i] = mu1[i] + t; m2s[i] = mu2[i] + t;
    }
    double a = ng_frechet_distance(mu1, S1, mu2, S2, d), b = ng_frechet_distance(mu2, S2, mu1, S1, d);
    double c = ng_frechet_distance(m1s, S1, m2s, S2, d);
    CHECK(a > 0 && isfinite(a), "FID of different Gaussians = %g", a);
    CHECK_NEAR(a, b, 1e-9 * a, "(symmetric in its arguments)");
    CHECK_NEAR(a, c, 1e-9 * a, "(translating both means changes nothing)");
    /* the trace term alone (equal means) is the same under translation, and positive */
    double t0 = ng_frechet_distance(mu1, S1, mu1, S2, d), t1 = ng_frechet_distance(m1s, S1, m1s, S2, d);
    CHECK(t0 > 0, "trace term %g > 0", t0);
    CHECK_NEAR(t0, t1, 1e-9 * t0, "(trace term translation invariant)");
    /* mean term: moving one mean by v adds ||v||^2 */
    double v2 = 0;
    for (int i = 0; i < d; i++) { m1s[i] = mu1[i] + 0.5 * (i % 3); v2 += 0.25 * (i % 3) * (i % 3); }
    CHECK_NEAR(ng_frechet_distance(m1s, S1, mu1, S2, d), t0 + v2, 1e-9 * (t0 + v2), "(mean term = ||mu1-mu2||^2)");
    /* scaling both covariances by k scales the trace term by k */
    for (int i = 0; i < d * d; i++) { S1[i] *= 4; S2[i] *= 4; }
    CHECK_NEAR(ng_frechet_distance(mu1, S1, mu1, S2, d), 4 * t0, 1e-9 * t0, "(homogeneous in the covariances)");
    free(S1); free(S2);
}

int main(void) {
    ng_rng_seed(&g_rng, 42);
    RUN(test_eigen);
    RUN(test_fit);
    RUN(test_identical);
    RUN(test_diagonal);
    RUN(test_2x2);
    RUN(test_symmetry_translation);
    TEST_MAIN_END();
}

/* tests/test_gemm_choice.c - the GEMM chosen per shape by measurement (src/ops/kernels/gemm_choice.c):
 * a shape met for the first time is timed once and recorded in the cache file, never timed again
 * in the process; a later process takes the recorded choice without timing (a line saying
 * openblas makes it run OpenBLAS); every choice computes the right product; NANOGEN_GEMM=own and
 * =openblas skip the measurement; the cache parser skips lines that are not for this machine or
 * do not parse. The rest of the suite runs with NANOGEN_GEMM=own (tests/run.sh): fixed choices. */
#include "nanogen.h"
#include "core/internal.h"
#include "ops/kernels/kernels.h"
#include "test.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char cache[256];

static int count_lines(void) {
    FILE *f = fopen(cache, "r");
    int n = 0, c;
    while (f && (c = fgetc(f)) != EOF) n += c == '\n';
    if (f) fclose(f);
    return n;
}

/* C = A B^T on an M x N x K shape through ng_sgemm, against the reference: the worst error */
static double product_error(int M, int N, int K) {
    float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * N * K), *C = malloc(sizeof(float) * M * N),
          *R = malloc(sizeof(float) * M * N);
    for (int i = 0; i < M * K; i++) A[i] = (float)((i * 37) % 19) / 19.0f - 0.5f;
    for (int i = 0; i < N * K; i++) B[i] = (float)((i * 11) % 23) / 23.0f - 0.5f;
    ng_sgemm(0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, C, N);
    ng_ref_sgemm(0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, R, N);
    double worst = 0;
    for (int i = 0; i < M * N; i++) worst = fmax(worst, fabs(C[i] - R[i]));
    free(A); free(B); free(C); free(R);
    return worst;
}

static void found(const int key[6], int blas, void *c) {
    (void)key;
    int *ctx = c;
    ctx[0]++;
    ctx[1] += blas;
}

static void test_parse(void) {
    const char *text = "m|x|own 0 1 8 8 8 2 own 10 5\n"
                       "m|x|own 1 0 16 8 4 1 openblas 5 10\n"
                       "other 0 1 8 8 8 2 openblas 1 2\n"   /* another machine */
                       "m|x|own 0 1 -8 8 8 2 own 1 2\n"     /* not a size */
                       "m|x|own 2 1 8 8 8 2 own 1 2\n"      /* not a transpose */
                       "m|x|own 0 1 8 8 8 2 maybe 1 2\n"    /* not a choice */
                       "m|x|own 0 1 8 8\n"                  /* cut short */
                       "\n\x01\xff garbage\n";
    int ctx[2] = {0, 0};   /* lines, of which openblas */
    const int n = ng_gemm_cache_parse(text, strlen(text), "m|x|own", found, ctx);
    CHECK(n == 2 && ctx[0] == 2, "%d valid lines, expected 2", n);
    CHECK(ctx[1] == 1, "%d lines say openblas, expected 1", ctx[1]);
    CHECK(ng_gemm_cache_parse("", 0, "m", found, ctx) == 0, "an empty file has no choices");
}

/* a measurement made while other programs used the CPUs is not recorded: nanogen's kernel for
 * the shape in this process, and a later run measures again */
static void test_busy_not_recorded(void) {
    if (strncmp(ng_gemm_name(), "auto:", 5)) { SKIP(2, "this build has no own GEMM to choose from"); return; }
    const int before = count_lines();
    setenv("NANOGEN_GEMM_TEST_LOAD", "1.0", 1);
    CHECK(product_error(41, 13, 27) < 1e-4, "the product of a shape measured on a busy machine");
    setenv("NANOGEN_GEMM_TEST_LOAD", "0", 1);
    CHECK(count_lines() == before, "a busy machine's measurement was recorded (%d lines, %d before)", count_lines(), before);
}

static void test_measured_once(void) {
    CHECK(!strncmp(ng_gemm_name(), "auto:", 5) || !strcmp(ng_gemm_name(), "openblas"), "mode: %s", ng_gemm_name());
    if (strncmp(ng_gemm_name(), "auto:", 5)) { SKIP(4, "this build has no own GEMM to choose from"); return; }
    CHECK(product_error(33, 17, 40) < 1e-4, "the product of the first shape");
    CHECK(count_lines() == 1, "%d lines in the cache after one new shape, expected 1", count_lines());
    product_error(33, 17, 40);
    product_error(33, 17, 40);
    CHECK(count_lines() == 1, "a shape met again is timed again: %d lines", count_lines());
    CHECK(product_error(20, 30, 10) < 1e-4 && count_lines() == 2, "a second shape: %d lines", count_lines());
}

/* a fresh process (the cache holds this machine's line for 33x17x40, and one saying openblas for
 * 5x7x9 written by the parent): no timing, and the openblas line is obeyed */
static int child(void) {
    CHECK(product_error(33, 17, 40) < 1e-4, "33x17x40 in the child");
    CHECK(product_error(5, 7, 9) < 1e-4, "5x7x9 in the child");
    int own = 0, blas = 0;
    ng_gemm_choices(&own, &blas);
    CHECK(blas >= 1, "the cache's openblas line was not used (%d own, %d openblas)", own, blas);
    CHECK(count_lines() == 3, "the child timed a cached shape: %d lines", count_lines());
    return t_fail ? 1 : 0;
}

static const char *self_path;

static void test_next_process(void) {
    const char *self = self_path;
    if (strncmp(ng_gemm_name(), "auto:", 5)) { SKIP(3, "this build has no own GEMM to choose from"); return; }
    /* this machine's id is the first field of the parent's lines */
    FILE *f = fopen(cache, "r");
    char mach[200] = "";
    if (f && fscanf(f, "%199s", mach) != 1) mach[0] = 0;
    if (f) fclose(f);
    CHECK(mach[0], "no machine in the cache");
    f = fopen(cache, "a");
    if (f) { fprintf(f, "%s 0 1 5 7 9 %d openblas 1.0 2.0\n", mach, ng_cpu_count()); fclose(f); }
    pid_t p = fork();
    if (p == 0) { execl(self, self, "child", (char *)NULL); _exit(127); }
    int st = 0;
    waitpid(p, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child process failed (status %d)", st);
    CHECK(count_lines() == 3, "%d lines after the child, expected 3", count_lines());
}

/* A shape that runs OpenBLAS gives the same bits twice, and the same while the busy-machine
 * governor runs fewer threads (omp_set_num_threads lowered under the run's count): ng_sgemm
 * runs OpenBLAS on the run's count. (OpenBLAS's own bits depend on its count: 1 and 3 threads
 * differ on 768x384x128, so the count is what must hold.) */
static void test_blas_fixed_count(void) {
    static const int shapes[][5] = {{0, 1, 768, 384, 128}, {0, 0, 768, 128, 384}, {1, 0, 384, 128, 768}, {0, 1, 768, 65, 128},
                                    {0, 0, 301, 257, 129}, {1, 1, 64, 2000, 70}};
    ng_set_threads(3);
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
        const int ta = shapes[s][0], tb = shapes[s][1], M = shapes[s][2], N = shapes[s][3], K = shapes[s][4];
        float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * K * N), *C[3];
        for (int i = 0; i < M * K; i++) A[i] = (float)((i * 37) % 19) / 19.0f - 0.5f;
        for (int i = 0; i < K * N; i++) B[i] = (float)((i * 11) % 23) / 23.0f - 0.5f;
        for (int t = 0; t < 3; t++) {
            C[t] = calloc((size_t)M * N, sizeof(float));
            if (t == 2) omp_set_num_threads(1);   /* what the governor does on a busy machine */
            ng_sgemm(ta, tb, M, N, K, 1.0f, A, ta ? M : K, B, tb ? K : N, 0.0f, C[t], N);
            if (t == 2) omp_set_num_threads(3);
        }
        CHECK(!memcmp(C[0], C[1], sizeof(float) * M * N), "OpenBLAS %dx%dx%d (%d%d): two runs differ", M, N, K, ta, tb);
        CHECK(!memcmp(C[0], C[2], sizeof(float) * M * N), "OpenBLAS %dx%dx%d (%d%d): the governor's lower count changed the bits", M, N, K,
              ta, tb);
        for (int t = 0; t < 3; t++) free(C[t]);
        free(A); free(B);
    }
    ng_set_threads(2);
}

/* OpenBLAS taken for a shape (as if faster: NANOGEN_GEMM_TEST_PREFER) only where its bits are
 * the same on every thread count from 1 to the machine's CPUs: the line the choice writes agrees
 * with what the counts give, for shapes where they agree and (if the machine has one) where not */
static void test_invariance_checked(void) {
    if (strncmp(ng_gemm_name(), "auto:", 5)) { SKIP(4, "this build has no own GEMM to choose from"); return; }
    static const int shapes[][3] = {{768, 384, 128}, {301, 257, 129}};
    setenv("NANOGEN_GEMM_TEST_PREFER", "openblas", 1);
    for (int s = 0; s < 2; s++) {
        const int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        product_error(M, N, K);   /* A B^T: measured, checked, recorded */
        FILE *f = fopen(cache, "r");
        char line[512], last[512] = "";
        while (f && fgets(line, sizeof line, f)) snprintf(last, sizeof last, "%s", line);
        if (f) fclose(f);
        const int said_blas = strstr(last, " openblas ") != NULL;
        float *A = malloc(sizeof(float) * M * K), *B = malloc(sizeof(float) * N * K), *C0 = malloc(sizeof(float) * M * N),
              *C = malloc(sizeof(float) * M * N);
        for (int i = 0; i < M * K; i++) A[i] = (float)(i % 13) * 0.01f;
        for (int i = 0; i < N * K; i++) B[i] = (float)(i % 11) * 0.01f;
        int same = 1;
        for (int n = 1; n <= ng_cpu_count() && n <= 16; n++) {
            ng_set_threads(n);
            ng_sgemm_blas(0, 1, M, N, K, 1.0f, A, K, B, K, 0.0f, n == 1 ? C0 : C, N);
            if (n > 1 && memcmp(C0, C, sizeof(float) * M * N)) same = 0;
        }
        ng_set_threads(2);
        CHECK(said_blas == same, "%dx%dx%d: the cache says %s but OpenBLAS's bits are %s on 1..%d threads", M, N, K,
              said_blas ? "openblas" : "own", same ? "the same" : "not the same", ng_cpu_count());
        free(A); free(B); free(C0); free(C);
    }
    unsetenv("NANOGEN_GEMM_TEST_PREFER");
}

/* the test above in a process of its own with NANOGEN_GEMM=openblas (this one is fixed at auto) */
static void test_blas_process(void) {
    pid_t p = fork();
    if (p == 0) {
        setenv("NANOGEN_GEMM", "openblas", 1);
        execl(self_path, self_path, "blas", (char *)NULL);
        _exit(127);
    }
    int st = 0;
    waitpid(p, &st, 0);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the OpenBLAS process failed (status %d)", st);
}

int main(int argc, char **argv) {
    const char *tmp = getenv("TMPDIR");
    if (argc > 1 && !strcmp(argv[1], "blas")) {
        RUN(test_blas_fixed_count);
        return t_fail ? 1 : 0;
    }
    if (argc > 1 && !strcmp(argv[1], "child")) {   /* the environment is the parent's */
        snprintf(cache, sizeof cache, "%s", getenv("NANOGEN_GEMM_CACHE"));
        ng_set_threads(2);
        return child();
    }
    snprintf(cache, sizeof cache, "%s/ng_gemm_choice_%d/gemm.txt", tmp ? tmp : "/tmp", (int)getpid());
    setenv("NANOGEN_GEMM", "auto", 1);
    setenv("NANOGEN_GEMM_CACHE", cache, 1);
    unsetenv("NANOGEN_GEMM_TUNE");
    setenv("NANOGEN_GEMM_TEST_LOAD", "0", 1);   /* a quiet machine, whatever runs beside the test */
    ng_set_threads(2);
    self_path = argv[0];
    RUN(test_parse);
    RUN(test_measured_once);
    RUN(test_next_process);
    RUN(test_busy_not_recorded);
    RUN(test_invariance_checked);
    RUN(test_blas_process);
    CHECK(!strcmp(ng_gemm_cache_path(), cache), "the cache path: %s", ng_gemm_cache_path());
    unlink(cache);
    char dir[256];
    snprintf(dir, sizeof dir, "%s", cache);
    *strrchr(dir, '/') = 0;
    rmdir(dir);
    TEST_MAIN_END();
}

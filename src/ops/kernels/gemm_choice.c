/* gemm_choice.c - which GEMM runs each shape: nanogen's own kernel or OpenBLAS's sgemm, chosen
 * by measuring both on this machine, not by the CPU's name.
 *
 * The first time a process meets a shape (transposes, M, N, K), it looks the shape up in the
 * cache file; a shape not there is timed once with both kernels (on scratch copies: the caller's
 * C is never touched) and the faster one recorded in the cache, where every later run finds it;
 * unless other programs were using the CPUs then (our threads got less than 85% of their CPU
 * time while timed, or the busy-machine governor had lowered the count): the process runs
 * nanogen's kernel for the shape and records nothing. A shape is never re-timed in a process, so
 * a run uses one kernel per shape from start to end, and the same machine and seed give the same bits. OpenBLAS is taken only
 * when it is faster by a clear margin (MARGIN) and gives the same bits on every thread count
 * from 1 to the machine's CPUs (checked when measured: it does not always, 1 and 3 threads
 * differ on 768x384x128), so that, as with nanogen's own kernel, no result depends on
 * --threads or on the busy-machine governor's count. The choice is made for the machine
 * (measured on all its CPUs), not for a thread count.
 *
 *   NANOGEN_GEMM=auto (the default) | own | openblas   own and openblas skip the measurement
 *   NANOGEN_GEMM_TUNE=redo          time every shape again and record the new choices
 *   NANOGEN_GEMM_TEST_LOAD=X        tests: other programs' load during a measurement is X CPUs
 *   NANOGEN_GEMM_TEST_PREFER=openblas  tests: take OpenBLAS as the faster (its bits still checked)
 *   NANOGEN_GEMM_CACHE=FILE | off   where the choices live (default
 *                                   $XDG_CACHE_HOME/nanogen/gemm.txt, else ~/.cache/nanogen/gemm.txt);
 *                                   off: measured in the process only
 *
 * The cache is a text file, one line per shape and machine:
 *   MACHINE TA TB M N K CPUS own|openblas GFLOPS_OWN GFLOPS_OPENBLAS
 * MACHINE names the rules' version, the CPU, the OpenBLAS kernels and nanogen's kernel
 * (machine_id: "v2|AMD_EPYC|Zen|nanogen-avx2"), so that a line measured under older rules or on
 * another machine sharing the home directory is not taken; one home
 * directory shared by several machines keeps each one's choices apart. Lines that do not parse
 * are ignored (ng_gemm_cache_parse; fuzz/fuzz_gemm_cache.c). */
#include "core/internal.h"

#include "ops/kernels/kernels.h"

#include <cblas.h>
#include <errno.h>
#include <fcntl.h>
#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MARGIN 1.05    /* OpenBLAS must be 5% faster to be chosen */
#define MAX_SHAPES 1024

typedef struct { int ta, tb, M, N, K, threads; } shape_key;
typedef struct { shape_key k; int blas, used; } shape_choice;   /* used: by this process (saved with a run's state) */

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static shape_choice table[MAX_SHAPES];
static int n_table = -1;            /* -1: the cache not read yet */
static char machine[160];
static char cache_path[4096];

static int same(const shape_key *a, const shape_key *b) {
    return a->ta == b->ta && a->tb == b->tb && a->M == b->M && a->N == b->N && a->K == b->K && a->threads == b->threads;
}

/* The CPU's model name, OpenBLAS's kernels and nanogen's GEMM, with no blanks. */
static void machine_id(char *buf, size_t cap, const char *own) {
    char model[96] = "unknown-cpu";
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "model name", 10)) {
            const char *v = strchr(line, ':');
            if (v) snprintf(model, sizeof model, "%s", v + 1 + (v[1] == ' '));
            break;
        }
    if (f) fclose(f);
    for (size_t n = strlen(model); n > 0 && (model[n - 1] == ' ' || model[n - 1] == '\n' || model[n - 1] == '\t'); n--) model[n - 1] = 0;
    snprintf(buf, cap, "v2|%s|%s|%s", model, ng_blas_core(), own);   /* v2: OpenBLAS only where thread-count invariant */
    for (char *p = buf; *p; p++)
        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') *p = '_';
}

int ng_gemm_cache_parse(const char *text, size_t len, const char *mach, void (*found)(const int key[6], int blas, void *ctx), void *ctx) {
    int n = 0;
    size_t i = 0;
    while (i < len) {
        size_t e = i;
        while (e < len && text[e] != '\n') e++;
        char line[512];
        const size_t l = e - i;
        if (l > 0 && l < sizeof line) {
            memcpy(line, text + i, l);
            line[l] = 0;
            char m[200], which[16];
            int key[6];
            double g1, g2;
            if (!memchr(line, 0, l) &&
                sscanf(line, "%199s %d %d %d %d %d %d %15s %lf %lf", m, &key[0], &key[1], &key[2], &key[3], &key[4], &key[5], which, &g1, &g2) == 10 &&
                !strcmp(m, mach) && (key[0] == 0 || key[0] == 1) && (key[1] == 0 || key[1] == 1) && key[2] > 0 && key[3] > 0 && key[4] > 0 &&
                key[5] > 0 && (!strcmp(which, "own") || !strcmp(which, "openblas"))) {
                found(key, !strcmp(which, "openblas"), ctx);
                n++;
            }
        }
        i = e + 1;
    }
    return n;
}

static void remember(const int key[6], int blas, void *ctx) {
    (void)ctx;
    const shape_key k = {key[0], key[1], key[2], key[3], key[4], key[5]};
    for (int i = 0; i < n_table; i++)
        if (same(&table[i].k, &k)) { table[i].blas = blas; return; }   /* a later line wins */
    if (n_table < MAX_SHAPES) table[n_table++] = (shape_choice){k, blas, 0};
}

/* The last shapes this thread looked up, read without the lock: a GEMM call (a convolution makes
 * one per picture) costs a few comparisons, not the lock and a scan of every cached shape. Only
 * ng_gemm_choice_set (a resumed run taking its checkpoint's choices) changes a choice once made;
 * it bumps `generation`, and a thread whose copies are older drops them. */
#define RECENT 8
static _Thread_local shape_choice recent[RECENT];
static _Thread_local int n_recent, next_recent;
static _Thread_local unsigned recent_gen;
static unsigned generation;

static int redo(void) {
    const char *e = getenv("NANOGEN_GEMM_TUNE");
    return e && !strcmp(e, "redo");
}

/* the cache file's path into cache_path (empty: off) */
static void resolve_path(void) {
    const char *e = getenv("NANOGEN_GEMM_CACHE"), *x = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (e && !strcmp(e, "off")) cache_path[0] = 0;
    else if (e && *e) snprintf(cache_path, sizeof cache_path, "%s", e);
    else if (x && *x == '/') snprintf(cache_path, sizeof cache_path, "%s/nanogen/gemm.txt", x);
    else if (home && *home) snprintf(cache_path, sizeof cache_path, "%s/.cache/nanogen/gemm.txt", home);
    else cache_path[0] = 0;
}

/* the cache file's choices for this machine into the table */
static void load(const char *own) {
    n_table = 0;
    machine_id(machine, sizeof machine, own);
    resolve_path();
    if (!cache_path[0] || redo()) return;
    FILE *f = fopen(cache_path, "rb");
    if (!f) return;
    char *buf = malloc(1 << 20);
    const size_t n = buf ? fread(buf, 1, 1 << 20, f) : 0;
    fclose(f);
    if (buf) ng_gemm_cache_parse(buf, n, machine, remember, NULL);
    free(buf);
}

/* mkdir -p the directory of path */
static void make_parent(const char *path) {
    char d[4096];
    snprintf(d, sizeof d, "%s", path);
    for (char *p = d + 1; *p; p++)
        if (*p == '/') {
            *p = 0;
            if (mkdir(d, 0755) && errno != EEXIST) return;
            *p = '/';
        }
}

/* one line appended (O_APPEND: a short write lands whole even with other processes writing) */
static void record(const shape_key *k, int blas, double g_own, double g_blas) {
    if (!cache_path[0]) return;
    make_parent(cache_path);
    const int fd = open(cache_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return;   /* a read-only home: the choice holds for this process */
    char line[400];
    const int n = snprintf(line, sizeof line, "%s %d %d %d %d %d %d %s %.1f %.1f\n", machine, k->ta, k->tb, k->M, k->N, k->K,
                           k->threads, blas ? "openblas" : "own", g_own, g_blas);
    if (n > 0 && n < (int)sizeof line && write(fd, line, (size_t)n) < 0) { /* best effort */ }
    close(fd);
}

/* seconds of `reps` calls of f on the shape */
static double time_calls(ng_gemm_fn f, const shape_key *k, const float *A, const float *B, float *C, int reps) {
    const int lda = k->ta ? k->M : k->K, ldb = k->tb ? k->K : k->N;
    const double t0 = omp_get_wtime();
    for (int r = 0; r < reps; r++) f(k->ta, k->tb, k->M, k->N, k->K, 1.0f, A, lda, B, ldb, 1.0f, C, k->N);
    return omp_get_wtime() - t0;
}

/* Whether OpenBLAS gives the same bits on the shape on every thread count from 1 to k->threads
 * (all of them up to 16, then 16 spread over the rest): only then may it run the shape at
 * whatever count the busy-machine governor picks, and no result depends on the count. It does
 * not always (1 and 3 threads differ on 768x384x128 here). */
static int same_bits_on_every_count(const shape_key *k, const float *A, const float *B, float *C) {
    const size_t nc = (size_t)k->M * k->N;
    float *ref = malloc(nc * sizeof(float));
    const int lda = k->ta ? k->M : k->K, ldb = k->tb ? k->K : k->N;
    int same = ref != NULL;
    for (int i = 0, prev = 0; same && i < 32; i++) {
        const int n = k->threads <= 16 ? i + 1 : i < 16 ? i + 1 : 16 + (int)((int64_t)(k->threads - 16) * (i - 15) / 16);
        if (n > k->threads) break;
        if (n == prev) continue;
        prev = n;
        omp_set_num_threads(n);
        openblas_set_num_threads(n);
        ng_sgemm_blas(k->ta, k->tb, k->M, k->N, k->K, 1.0f, A, lda, B, ldb, 0.0f, n == 1 ? ref : C, k->N);
        if (n > 1) same = !memcmp(ref, C, nc * sizeof(float));
    }
    omp_set_num_threads(k->threads);
    openblas_set_num_threads(k->threads);
    free(ref);
    return same;
}

/* Both kernels on scratch matrices of the shape, in alternated rounds (own, OpenBLAS, own, ...;
 * about 4 ms of work a round), the best round of each: 1 when OpenBLAS is faster by MARGIN.
 * *trust = 0 when our threads got less than 85% of their CPU time meanwhile (other programs
 * took the rest): threads that meet
 * at every tile then run at the speed of the one the scheduler parks, and the figures say
 * nothing about the quiet machine (the choice is then nanogen's kernel, for this process only).
 * OpenBLAS also has to give the same bits on every thread count (same_bits_on_every_count). */
static int measure(const shape_key *k, double *g_own, double *g_blas, int *trust) {
    const ng_gemm_fn own = ng_gemm_own();
    const size_t na = (size_t)k->M * k->K, nb = (size_t)k->K * k->N, nc = (size_t)k->M * k->N;
    float *A = malloc(na * sizeof(float)), *B = malloc(nb * sizeof(float)), *C = malloc(nc * sizeof(float));
    int blas = 0;
    *g_own = *g_blas = 0;
    *trust = 0;
    if (A && B && C) {
        /* on every CPU, whatever the governor's count is now (restored after) */
        const int was = omp_get_max_threads();
        omp_set_num_threads(k->threads);
        openblas_set_num_threads(k->threads);
        for (size_t i = 0; i < na; i++) A[i] = (float)(i % 13) * 0.01f;
        for (size_t i = 0; i < nb; i++) B[i] = (float)(i % 11) * 0.01f;
        memset(C, 0, nc * sizeof(float));
        const double flop = 2.0 * k->M * k->N * k->K;
        int reps = (int)(4e8 / flop);   /* ~4 ms at 100 GFLOP/s */
        reps = reps < 1 ? 1 : reps > 4000 ? 4000 : reps;
        time_calls(own, k, A, B, C, 1);   /* warm-up: pages, caches, the thread team */
        time_calls(ng_sgemm_blas, k, A, B, C, 1);
        double t_own = 1e30, t_blas = 1e30;
        struct timespec c0, c1;
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
        const double w0 = omp_get_wtime();
        for (int round = 0; round < 4; round++) {
            const double a = time_calls(own, k, A, B, C, reps), b = time_calls(ng_sgemm_blas, k, A, B, C, reps);
            if (a < t_own) t_own = a;
            if (b < t_blas) t_blas = b;
        }
        /* the CPU time our threads got against the time they had: below 85%, the scheduler gave
         * their CPUs to other programs part of the time */
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
        const double wall = omp_get_wtime() - w0, cpu = (double)(c1.tv_sec - c0.tv_sec) + 1e-9 * (double)(c1.tv_nsec - c0.tv_nsec);
        const char *test_load = getenv("NANOGEN_GEMM_TEST_LOAD");   /* tests: the load, instead of measuring it */
        const double others = test_load ? atof(test_load) : k->threads * (1.0 - cpu / (wall * k->threads + 1e-12));
        *trust = others < 0.15 * k->threads;
        *g_own = flop * reps / (t_own > 1e-9 ? t_own : 1e-9) / 1e9;
        *g_blas = flop * reps / (t_blas > 1e-9 ? t_blas : 1e-9) / 1e9;
        const char *prefer = getenv("NANOGEN_GEMM_TEST_PREFER");   /* tests: as if OpenBLAS were faster */
        blas = *trust && (*g_blas > MARGIN * *g_own || (prefer && !strcmp(prefer, "openblas")));
        if (blas && !same_bits_on_every_count(k, A, B, C)) blas = 0;
        omp_set_num_threads(was);
        openblas_set_num_threads(was);
    }
    free(A); free(B); free(C);
    return blas;
}

int ng_gemm_choose(int ta, int tb, int M, int N, int K) {
    if (omp_in_parallel() || !ng_gemm_own()) return 0;   /* a thread's own slice (conv.c): one core, nanogen's kernel, never timed */
    const shape_key k = {ta != 0, tb != 0, M, N, K, ng_cpu_count()};
    unsigned gen;
    __atomic_load(&generation, &gen, __ATOMIC_ACQUIRE);
    if (gen != recent_gen) { n_recent = next_recent = 0; recent_gen = gen; }
    for (int i = 0; i < n_recent; i++)
        if (same(&recent[i].k, &k)) return recent[i].blas;
    pthread_mutex_lock(&lock);
    if (n_table < 0) load(ng_gemm_own_name());
    int blas = -1;
    for (int i = 0; i < n_table; i++)
        if (same(&table[i].k, &k)) { blas = table[i].blas; table[i].used = 1; break; }
    if (blas < 0 && n_table >= MAX_SHAPES) blas = 0;   /* no room to remember: never time it twice */
    /* other programs are using the CPUs (the governor has lowered the count, or measured them):
     * a measurement now says nothing (and would crawl); nanogen's kernel, measured by a later run */
    if (blas < 0 && (omp_get_max_threads() < ng_threads_max() || ng_threads_others() >= 0.2) && !getenv("NANOGEN_GEMM_TEST_LOAD")) {
        const int key[6] = {k.ta, k.tb, k.M, k.N, k.K, k.threads};
        remember(key, 0, NULL);
        blas = 0;
    }
    if (blas < 0) {
        double g_own, g_blas;
        int trust;
        blas = measure(&k, &g_own, &g_blas, &trust);
        const int key[6] = {k.ta, k.tb, k.M, k.N, k.K, k.threads};
        remember(key, blas, NULL);
        if (trust) record(&k, blas, g_own, g_blas);   /* a busy machine's figures are not kept: a later run measures again */
    }
    for (int i = 0; i < n_table; i++)
        if (same(&table[i].k, &k)) table[i].used = 1;
    pthread_mutex_unlock(&lock);
    recent[next_recent] = (shape_choice){k, blas, 1};
    next_recent = (next_recent + 1) % RECENT;
    if (n_recent < RECENT) n_recent++;
    return blas;
}

int ng_gemm_choice_get(int i, int key[6], int *blas) {
    pthread_mutex_lock(&lock);
    int n = 0;   /* the i-th shape this process used, and how many it used */
    for (int j = 0; j < (n_table > 0 ? n_table : 0); j++) {
        if (!table[j].used) continue;
        if (n++ != i) continue;
        const shape_key *k = &table[j].k;
        key[0] = k->ta; key[1] = k->tb; key[2] = k->M; key[3] = k->N; key[4] = k->K; key[5] = k->threads;
        *blas = table[j].blas;
    }
    pthread_mutex_unlock(&lock);
    return n;
}

void ng_gemm_choice_set(const int key[6], int blas) {
    if ((key[0] != 0 && key[0] != 1) || (key[1] != 0 && key[1] != 1) || key[2] < 1 || key[3] < 1 || key[4] < 1 || key[5] < 1 ||
        (blas != 0 && blas != 1) || !ng_gemm_own())
        return;
    pthread_mutex_lock(&lock);
    if (n_table < 0) load(ng_gemm_own_name());
    remember(key, blas, NULL);
    __atomic_add_fetch(&generation, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&lock);
}

int ng_gemm_choices(int *own, int *blas) {
    pthread_mutex_lock(&lock);
    int o = 0, b = 0;
    for (int i = 0; i < (n_table > 0 ? n_table : 0); i++) table[i].blas ? b++ : o++;
    pthread_mutex_unlock(&lock);
    if (own) *own = o;
    if (blas) *blas = b;
    return o + b;
}

const char *ng_gemm_cache_path(void) {
    pthread_mutex_lock(&lock);
    resolve_path();
    pthread_mutex_unlock(&lock);
    return cache_path[0] ? cache_path : NULL;
}

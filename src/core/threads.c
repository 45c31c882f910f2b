/* threads.c - how many threads nanogen runs, and how that number follows a busy machine.
 *
 * Two threads that meet at every op (a barrier, a GEMM's tiles, the sampler's partial sums)
 * run at the speed of the slower one. When a third program wants a CPU, the kernel's scheduler
 * deschedules one of them for milliseconds at a time, and the other waits, spinning on a CPU
 * the first one needs: 60 baby-GPT steps took 30.5 s with two threads beside one busy program,
 * 3.1 s with one. So by default (ng_set_threads(0), `nanogen` without --threads or
 * OMP_NUM_THREADS) the count follows the machine: ng_threads_tick, called between steps,
 * measures about twice a second how much CPU time other programs took on this process's CPUs
 * (/proc/stat's busy time of those CPUs minus this process's own CPU time) and runs on the CPUs
 * they leave free, one at least, all again when they are done. Every kernel gives the same bits
 * whatever the thread count (tests/test_threads.c), so this changes the speed, never a result.
 * A count set explicitly is kept as it is. */
#include "core/internal.h"

#include <cblas.h>
#include <omp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- CPUs */

/* The CPU quota of this process's cgroup in CPUs (cgroup v2 cpu.max, v1 cfs_quota_us), 0 if none. */
static double cgroup_cpus(void) {
    double best = 0;
    char path[640], line[512];
    const char *files[2] = {"/sys/fs/cgroup/cpu.max", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us"};
    /* cgroup v2: the process's own group (/proc/self/cgroup "0::/path") and the root view */
    FILE *f = fopen("/proc/self/cgroup", "r");
    char own[512] = "";
    if (f) {
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "0::", 3)) {
                line[strcspn(line, "\n")] = 0;
                snprintf(own, sizeof own, "%s", line + 3);
            }
        fclose(f);
    }
    for (int k = 0; k < 3; k++) {
        double quota = -1, period = 0;
        if (k == 2) {
            if (!own[0] || !strcmp(own, "/")) break;
            snprintf(path, sizeof path, "/sys/fs/cgroup%s/cpu.max", own);
        } else {
            snprintf(path, sizeof path, "%s", files[k]);
        }
        f = fopen(path, "r");
        if (!f) continue;
        if (k == 1) {   /* v1: quota in one file (-1: none), period in another */
            long q;
            if (fscanf(f, "%ld", &q) == 1 && q > 0) quota = (double)q;
            fclose(f);
            f = fopen("/sys/fs/cgroup/cpu/cpu.cfs_period_us", "r");
            long p;
            if (f && fscanf(f, "%ld", &p) == 1 && p > 0) period = (double)p;
        } else {        /* v2: "max 100000" or "200000 100000" */
            char q[32];
            long p;
            if (fscanf(f, "%31s %ld", q, &p) == 2 && strcmp(q, "max") && p > 0) { quota = atof(q); period = (double)p; }
        }
        if (f) fclose(f);
        if (quota > 0 && period > 0 && (best == 0 || quota / period < best)) best = quota / period;
    }
    return best;
}

int ng_cpu_count(void) {
    static int cached = 0;
    if (cached > 0) return cached;
    int n;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) n = CPU_COUNT(&set);
    else {
        long k = sysconf(_SC_NPROCESSORS_ONLN);
        n = k > 0 ? (int)k : 1;
    }
    const double quota = cgroup_cpus();   /* a container limited to 1.5 CPUs runs 2 threads */
    if (quota > 0 && quota < n) n = (int)(quota + 0.999);
    return cached = n < 1 ? 1 : n;
}

/* ---------------------------------------------------------------- the count */

static int g_max = 0;       /* the most threads: set by ng_set_threads, 0 before */
static int g_now = 0;       /* threads in use now (<= g_max) */
static int g_auto = 0;      /* the count follows the machine (the default) */

static void apply(int n) {
    g_now = n;
    omp_set_num_threads(n);
    /* OpenBLAS (the GEMM without AVX2, NANOGEN_GEMM=openblas) runs the same count: our loops
     * and its calls never run at the same time, so the two never fight over the cores */
    openblas_set_num_threads(n);
}

static void governor_start(void);

/* the default count: OMP_NUM_THREADS (its first number) when set, else every CPU */
static int default_threads(int *from_env) {
    const char *e = getenv("OMP_NUM_THREADS");
    *from_env = 0;
    if (e) {
        char *end;
        long v = strtol(e, &end, 10);
        if (end != e && v > 0 && (*end == 0 || *end == ',')) { *from_env = 1; return v > 4096 ? 4096 : (int)v; }
    }
    /* ranks of a job on one machine share its CPUs (the governor stays off: it would count the
     * other ranks as programs to make way for) */
    if (ng__dist_local_size() > 1) {
        *from_env = 1;
        const int n = ng_cpu_count() / ng__dist_local_size();
        return n > 1 ? n : 1;
    }
    return ng_cpu_count();
}

int ng_set_threads(int n) {
    int from_env = 0;
    g_auto = n <= 0;
    if (n <= 0) {
        n = default_threads(&from_env);
        g_auto = !from_env;   /* OMP_NUM_THREADS is a count set explicitly */
    }
    g_max = n;
    apply(n);
    if (g_auto) governor_start();
    return n;
}

int ng_get_threads(void) {
    if (g_max <= 0) ng_set_threads(0);
    return g_now;
}

int ng_threads_max(void) {
    if (g_max <= 0) ng_set_threads(0);
    return g_max;
}

int ng_threads_auto(void) {
    if (g_max <= 0) ng_set_threads(0);
    return g_auto;
}

/* ---------------------------------------------------------------- following the machine */

typedef struct {
    double wall;      /* seconds, monotonic */
    double own;       /* this process's CPU seconds */
    double busy;      /* busy seconds of this process's CPUs, everyone's (/proc/stat) */
} sample;

static struct {
    int ok;           /* /proc/stat could be read for our CPUs */
    double test[64];  /* NANOGEN_TEST_OTHERS=a,b,...: the CPUs other programs use, one value a
                         tick (cycling), instead of measuring: tests/test_threads.sh */
    int n_test, i_test;
    sample last;
    double others;    /* CPUs other programs used in the last window */
    int changes;      /* times the count was changed */
    cpu_set_t cpus;
} gv;

static double now_s(clockid_t c) {
    struct timespec ts;
    clock_gettime(c, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* busy seconds (user, nice, system, irq, softirq, steal) of the CPUs in gv.cpus, from /proc/stat */
static int read_busy(double *busy) {
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return 0;
    static long hz = 0;
    if (!hz) hz = sysconf(_SC_CLK_TCK) > 0 ? sysconf(_SC_CLK_TCK) : 100;
    char line[512];
    unsigned long long sum = 0;
    int found = 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "cpu", 3) || line[3] < '0' || line[3] > '9') {
            if (found) break;   /* the per-CPU lines come together, after "cpu " */
            continue;
        }
        int cpu;
        unsigned long long us, ni, sy, id, io, irq, sirq, st = 0;
        if (sscanf(line + 3, "%d %llu %llu %llu %llu %llu %llu %llu %llu", &cpu, &us, &ni, &sy, &id, &io, &irq, &sirq, &st) < 8)
            continue;
        if (cpu < 0 || cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &gv.cpus)) continue;
        sum += us + ni + sy + irq + sirq + st;
        found++;
    }
    fclose(f);
    *busy = (double)sum / (double)hz;
    return found > 0;
}

static int take(sample *s) {
    s->wall = now_s(CLOCK_MONOTONIC);
    s->own = now_s(CLOCK_PROCESS_CPUTIME_ID);
    return read_busy(&s->busy);
}

static void governor_start(void) {
    gv.ok = g_max > 1 && sched_getaffinity(0, sizeof gv.cpus, &gv.cpus) == 0 && take(&gv.last);
    gv.others = 0;
    gv.n_test = gv.i_test = 0;
    const char *e = getenv("NANOGEN_TEST_OTHERS");
    for (char *end; e && *e && gv.n_test < 64; e = *end == ',' ? end + 1 : end) {
        const double v = strtod(e, &end);
        if (end == e) break;
        gv.test[gv.n_test++] = v;
    }
    if (gv.n_test) gv.ok = g_max > 1;
}

/* the count for `others` CPUs taken by other programs: the CPUs left, rounded (another program
 * using half a CPU or more takes one), at least one */
static int count_for(double others) {
    int want = (int)((double)g_max - others + 0.5 - 1e-9);
    return want < 1 ? 1 : want > g_max ? g_max : want;
}

/* the first window may be short (the setup before the first step); later ones about 0.5 s */
#define WINDOW_FIRST 0.1
#define WINDOW 0.5

static ng_threads_note_fn g_note;

void ng_threads_set_note(ng_threads_note_fn fn) { g_note = fn; }

int ng_threads_tick(void) {
    if (g_max <= 0) ng_set_threads(0);
    if (!g_auto || !gv.ok || omp_in_parallel()) return g_now;
    double others;
    if (gv.n_test) {
        others = gv.test[gv.i_test++ % gv.n_test];
    } else {
        const double wall = now_s(CLOCK_MONOTONIC);
        if (wall - gv.last.wall < (gv.changes || gv.others > 0 ? WINDOW : WINDOW_FIRST)) return g_now;
        sample s;
        if (!take(&s)) { gv.ok = 0; return g_now; }
        /* CPUs other programs used: /proc/stat counts in clock ticks (10 ms), so a window of
         * 0.5 s on two CPUs is good to a few percent */
        others = ((s.busy - gv.last.busy) - (s.own - gv.last.own)) / (s.wall - gv.last.wall);
        if (others < 0) others = 0;
        gv.last = s;
    }
    gv.others = others > 1e-6 ? others : 1e-6;   /* a window has been measured */
    const int want = count_for(others);
    if (want != g_now) {
        apply(want);
        gv.changes++;
        if (g_note) g_note(g_now, g_max, others);
    }
    return g_now;
}

double ng_threads_others(void) { return gv.others; }

/* bench/pingpong.c - the round trip of a cache line between two cores: two threads take turns
 * writing a counter the other waits for. The one-stream sampler meets its threads ten times
 * per token, so its speed follows this latency; on a VM it changes with where the host places
 * the virtual CPUs (bench.py prints it beside each sampling run). Prints nanoseconds. */
#include <omp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static _Alignas(64) atomic_long ping;
static _Alignas(64) atomic_long pong;

int main(void) {
    const long n = 200000;
    double t0 = 0, t1 = 0;
    int team = 0;
    #pragma omp parallel num_threads(2)
    {
        const int t = omp_get_thread_num();
        #pragma omp single
        team = omp_get_num_threads();
        if (team == 2) {
            if (t == 0) t0 = now();
            for (long i = 1; i <= n; i++) {
                if (t == 0) {
                    atomic_store(&ping, i);
                    while (atomic_load(&pong) < i) {}
                } else {
                    while (atomic_load(&ping) < i) {}
                    atomic_store(&pong, i);
                }
            }
            if (t == 0) t1 = now();
        }
    }
    if (team != 2) { fprintf(stderr, "pingpong: needs two threads\n"); return 1; }
    printf("%.0f\n", (t1 - t0) / n * 1e9);
    return 0;
}

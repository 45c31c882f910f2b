/* bench/allreduce.c - the time of nanogen's fixed-order gradient sum across ranks
 * (ng__dist_sum_tree: recursive halving and doubling) at message sizes from 1 KB to 256 MB.
 * Built with make MPI=1; part of `make bench`:
 *   mpirun -np 2 build-mpi/bench/allreduce [--max-mb 256]
 * prints one line per size: bytes, median seconds of the sum, and the bus bandwidth it reaches
 * (2 (N-1)/N x bytes / seconds: what each rank sends and receives). */
#include "nanogen.h"
#include "core/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_d(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (ng_dist_init(&argc, &argv)) { fprintf(stderr, "allreduce: %s\n", ng_last_error()); return 1; }
    if (!ng_dist_built() || ng_dist_size() < 2) {
        fprintf(stderr, "allreduce: run it with several ranks of an MPI build: mpirun -np 2 build-mpi/bench/allreduce\n");
        return 1;
    }
    double max_mb = 256;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--max-mb") && i + 1 < argc) max_mb = atof(argv[++i]);
    ng_set_threads(1);
    const int64_t max_n = (int64_t)(max_mb * 1048576 / 4);
    float *buf = malloc((size_t)max_n * sizeof(float)), *tmp = malloc((size_t)max_n * sizeof(float));
    if (!buf || !tmp) { fprintf(stderr, "allreduce: out of memory\n"); return 1; }
    for (int64_t i = 0; i < max_n; i++) buf[i] = (float)(i % 97) * 1e-3f;
    const int N = ng_dist_size();
    if (ng_dist_rank() == 0) printf("fixed-order sum across %d ranks (recursive halving/doubling), median of the runs\n%12s %12s %10s\n",
                                    N, "bytes", "seconds", "GB/s bus");
    for (int64_t n = 256; n <= max_n; n *= 4) {
        const int reps = n <= 65536 ? 50 : n <= 4194304 ? 10 : 4;
        double t[50];
        for (int r = 0; r < reps; r++) {
            int sync[1] = {0};
            ng__dist_max_int(sync, 1);   /* start together */
            const double t0 = ng_seconds();
            if (ng__dist_sum_tree(buf, n, tmp)) { fprintf(stderr, "allreduce: %s\n", ng_last_error()); return 1; }
            t[r] = ng_seconds() - t0;
        }
        qsort(t, (size_t)reps, sizeof *t, cmp_d);
        const double sec = t[reps / 2], bytes = 4.0 * (double)n;
        if (ng_dist_rank() == 0) printf("%12.0f %12.6f %10.2f\n", bytes, sec, 2.0 * (N - 1) / N * bytes / sec / 1e9);
    }
    free(buf); free(tmp);
    return 0;
}

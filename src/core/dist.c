/* dist.c - training with several processes (data parallel, Open MPI; built with `make MPI=1`).
 *
 * A process started by mpirun is one rank of the job; without MPI built in, or started on its
 * own, nanogen is rank 0 of 1 and every function here is a no-op.
 *
 * Gradients are summed in a fixed order whatever the number of ranks: the global batch is cut
 * into S shards (leaves 0..S-1, S a multiple of the ranks), and the sum is the pairwise tree
 * over the leaves: at each level, leaf pairs (2i, 2i+1) are added as left + right and an odd one
 * out goes up as it is. A rank holds L = S/N consecutive leaves (L a power of two), so its
 * leaves form whole subtrees (ng__dist_tree_push sums them locally), and the levels above are
 * summed across ranks with the same pairing (ng__dist_sum_tree): recursive halving and doubling
 * when the number of ranks is a power of two (each pair of ranks swaps halves of what they hold
 * and adds left + right, then the sums travel back: 2 (N-1)/N of the buffer sent by each rank),
 * a reduction to rank 0 along the same tree and a broadcast otherwise. Float addition is commutative, so every rank computes the same bits,
 * and a single process that runs the S shards one after the other (`--grad-shards S`) gets the
 * same bits as S ranks. */
#include "core/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef NG_MPI
#include <mpi.h>
#endif

static int d_rank = 0, d_size = 1, d_local = 1;
#ifdef NG_MPI
static int d_on = 0;
#endif

int ng_dist_built(void) {
#ifdef NG_MPI
    return 1;
#else
    return 0;
#endif
}

#ifdef NG_MPI
static void finalize_at_exit(void) {
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin) MPI_Finalize();
}
#endif

int ng_dist_init(int *argc, char ***argv) {
#ifdef NG_MPI
    /* only under a launcher (mpirun sets these): a plain `nanogen` never starts MPI */
    if (!getenv("OMPI_COMM_WORLD_SIZE") && !getenv("PMIX_RANK") && !getenv("PMI_RANK")) return NG_OK;
    if (MPI_Init(argc, argv) != MPI_SUCCESS) return ng_set_error("MPI_Init failed");
    MPI_Comm_rank(MPI_COMM_WORLD, &d_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d_size);
    /* errors come back as codes: a rank that dies is reported, not a hang in an error handler */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    const char *ls = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    d_local = ls && atoi(ls) > 0 ? atoi(ls) : 1;
    d_on = 1;
    atexit(finalize_at_exit);
#else
    (void)argc; (void)argv;
#endif
    return NG_OK;
}

int ng_dist_rank(void) { return d_rank; }
int ng_dist_size(void) { return d_size; }
int ng__dist_local_size(void) { return d_local; }

#ifdef NG_MPI
static int mpi_fail(int rc, const char *what) {
    char msg[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    MPI_Error_string(rc, msg, &len);
    return ng_set_error("%s between the ranks failed (%s): another rank has probably died", what, msg);
}
#endif

void ng_dist_abort(int code) { ng__dist_abort(code); }

void ng__dist_abort(int code) {
#ifdef NG_MPI
    if (d_on && d_size > 1) MPI_Abort(MPI_COMM_WORLD, code);
#endif
    (void)code;
}

int ng__dist_max_int(int *v, int n) {
#ifdef NG_MPI
    if (d_size > 1) {
        int rc = MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_fail(rc, "an agreement");
    }
#else
    (void)v; (void)n;
#endif
    return NG_OK;
}

/* every rank's n_each values of `size` bytes (a float or a double), rank r's at all + r * n_each */
static int allgather(const void *mine, int n_each, void *all, size_t size) {
    if (d_size == 1) { memmove(all, mine, (size_t)n_each * size); return NG_OK; }
#ifdef NG_MPI
    const MPI_Datatype t = size == sizeof(double) ? MPI_DOUBLE : MPI_FLOAT;
    int rc = MPI_Allgather(mine, n_each, t, all, n_each, t, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) return mpi_fail(rc, "gathering the losses");
#endif
    return NG_OK;
}

int ng__dist_allgather_float(const float *mine, int n_each, float *all) { return allgather(mine, n_each, all, sizeof(float)); }
int ng__dist_allgather_double(const double *mine, int n_each, double *all) { return allgather(mine, n_each, all, sizeof(double)); }

/* ---------------------------------------------------------------- the fixed-order sum */

static void add_into(float *restrict a, const float *restrict b, int64_t n, int b_is_right) {
    /* a = left + right: the same bits whichever side a is (commutative), written out for clarity */
    if (b_is_right) {
        #pragma omp parallel for simd schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++) a[i] = a[i] + b[i];
    } else {
        #pragma omp parallel for simd schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++) a[i] = b[i] + a[i];
    }
}

int ng__dist_tree_push(ng_dist_tree *tr, const float *leaf) {
    /* a binary counter: slot k holds the sum of a complete subtree of 2^k leaves; a new leaf
     * carries up through the full slots (left = the older subtree) */
    int k = 0;
    float *cur = NULL;
    for (; k < NG_DIST_TREE_MAX && tr->full[k]; k++) {
        float *s = tr->slot[k];
        if (!cur) { add_into(s, leaf, tr->n, 1); }
        else { add_into(s, cur, tr->n, 1); }
        tr->full[k] = 0;
        cur = s;
    }
    if (k == NG_DIST_TREE_MAX) return ng_set_error("too many gradient shards on one rank");
    if (!tr->slot[k] && !(tr->slot[k] = malloc((size_t)tr->n * sizeof(float)))) return ng_set_error("out of memory summing gradient shards");
    memcpy(tr->slot[k], cur ? cur : leaf, (size_t)tr->n * sizeof(float));
    tr->full[k] = 1;
    return NG_OK;
}

int ng__dist_tree_result(ng_dist_tree *tr, float *out) {
    /* one full slot when the leaves were a power of two; otherwise the subtrees are joined from
     * the smallest up, the older (bigger) one on the left: 7 leaves give (0123) + ((45) + 6) */
    int have = 0;
    for (int k = 0; k < NG_DIST_TREE_MAX; k++) {
        if (!tr->full[k]) continue;
        if (!have) memcpy(out, tr->slot[k], (size_t)tr->n * sizeof(float));
        else add_into(out, tr->slot[k], tr->n, 0);   /* out = slot (left) + out (right) */
        tr->full[k] = 0;
        have = 1;
    }
    return have ? NG_OK : ng_set_error("no gradient shard was summed");
}

void ng__dist_tree_free(ng_dist_tree *tr) {
    for (int k = 0; k < NG_DIST_TREE_MAX; k++) free(tr->slot[k]);
    memset(tr, 0, sizeof *tr);
}

#ifdef NG_MPI
/* MPI counts are ints: long buffers go in pieces */
#define PIECE (1 << 28)
/* sends n_out floats to peer and receives n_in from it */
static int sendrecv_f(const float *out, int64_t n_out, float *in, int64_t n_in, int peer) {
    for (int64_t o = 0; o < n_out || o < n_in; o += PIECE) {
        int co = (int)(n_out - o > PIECE ? PIECE : n_out - o > 0 ? n_out - o : 0);
        int ci = (int)(n_in - o > PIECE ? PIECE : n_in - o > 0 ? n_in - o : 0);
        int rc = MPI_Sendrecv(out + (co ? o : 0), co, MPI_FLOAT, peer, 7, in + (ci ? o : 0), ci, MPI_FLOAT, peer, 7, MPI_COMM_WORLD,
                              MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) return mpi_fail(rc, "summing the gradients");
    }
    return NG_OK;
}
static int send_f(const float *out, int64_t n, int peer) {
    for (int64_t o = 0; o < n; o += PIECE) {
        int c = (int)(n - o < PIECE ? n - o : PIECE);
        int rc = MPI_Send(out + o, c, MPI_FLOAT, peer, 8, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_fail(rc, "summing the gradients");
    }
    return NG_OK;
}
static int recv_f(float *in, int64_t n, int peer) {
    for (int64_t o = 0; o < n; o += PIECE) {
        int c = (int)(n - o < PIECE ? n - o : PIECE);
        int rc = MPI_Recv(in + o, c, MPI_FLOAT, peer, 8, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) return mpi_fail(rc, "summing the gradients");
    }
    return NG_OK;
}
static int bcast_f(float *buf, int64_t n) {
    for (int64_t o = 0; o < n; o += PIECE) {
        int c = (int)(n - o < PIECE ? n - o : PIECE);
        int rc = MPI_Bcast(buf + o, c, MPI_FLOAT, 0, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) return mpi_fail(rc, "sharing the gradients");
    }
    return NG_OK;
}
#endif

int ng__dist_bcast_float(float *buf, int64_t n) {
    if (d_size == 1) return NG_OK;
#ifdef NG_MPI
    return bcast_f(buf, n);
#else
    (void)buf; (void)n;
    return NG_OK;
#endif
}

int ng__dist_sum_tree(float *buf, int64_t n, float *tmp) {
    if (d_size == 1) return NG_OK;
#ifdef NG_MPI
    const int pow2 = (d_size & (d_size - 1)) == 0;
    if (pow2) {
        /* recursive halving, then doubling (Rabenseifner): at distance d = 1, 2, 4, ... a rank and
         * rank ^ d split the part they hold, each keeps one half (the lower rank the lower half)
         * and adds the partner's copy of it, lower rank's on the left; then the halves travel back
         * the same way. Each element is summed along the same pairwise tree as the leaves, and
         * each rank sends 2 (N-1)/N of the buffer in all, not log2 N times all of it. */
        int64_t lo = 0, len = n;
        int64_t los[32], lens[32];
        int lv = 0;
        for (int d = 1; d < d_size; d <<= 1, lv++) {
            const int peer = d_rank ^ d, lower = (d_rank & d) == 0;
            const int64_t h = len / 2, keep_lo = lower ? lo : lo + h, keep_n = lower ? h : len - h;
            const int64_t give_lo = lower ? lo + h : lo, give_n = len - keep_n;
            los[lv] = lo; lens[lv] = len;
            if (sendrecv_f(buf + give_lo, give_n, tmp, keep_n, peer)) return NG_ERR;
            add_into(buf + keep_lo, tmp, keep_n, lower);   /* left = the lower rank's partial sum */
            lo = keep_lo; len = keep_n;
        }
        for (int d = d_size >> 1; d >= 1; d >>= 1) {
            lv--;
            const int peer = d_rank ^ d;
            const int64_t plo = los[lv], plen = lens[lv];
            /* the partner holds the other half of [plo, plo + plen) */
            const int64_t other_lo = (d_rank & d) == 0 ? plo + plen / 2 : plo, other_n = plen - len;
            if (sendrecv_f(buf + lo, len, buf + other_lo, other_n, peer)) return NG_ERR;
            lo = plo; len = plen;
        }
        return NG_OK;
    }
    /* the same pairwise tree, reduced to rank 0, then broadcast */
    for (int step = 1; step < d_size; step <<= 1) {
        if (d_rank % (2 * step) == 0) {
            const int peer = d_rank + step;
            if (peer < d_size) {
                if (recv_f(tmp, n, peer)) return NG_ERR;
                add_into(buf, tmp, n, 1);
            }
        } else {
            if (send_f(buf, n, d_rank - step)) return NG_ERR;
            break;
        }
    }
    return bcast_f(buf, n);
#else
    (void)buf; (void)n; (void)tmp;
    return NG_OK;
#endif
}

/* core/internal.h - what the library shares inside itself and does not export (not installed):
 * setting the error message, the GEMMs the ops call, the dropout hash, atomic file writes,
 * profiling. Library sources include it (by path from src/, like every private header) in
 * place of nanogen.h; tests, tools, fuzz harnesses and the command may include it too. */
#ifndef NG_CORE_INTERNAL_H
#define NG_CORE_INTERNAL_H
#include "nanogen.h"

#include <stdio.h>

/* Set the thread's last error message (printf-style). Always returns NG_ERR. */
int ng_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Counter-based uniform in [0,1) from (seed, stream, index): same value whatever the thread. */
float ng_hash_uniform(uint64_t seed, uint64_t stream, uint64_t index);
/* Profiling: with NANOGEN_PROFILE=1 in the environment, the wall time of every op kind
 * (forward, backward) and of the named phases given to ng_profile_add is printed to stderr at
 * exit. ng_profiling() says whether it is on. */
int ng_profiling(void);
void ng_profile_add(const char *name, double seconds);
void ng_profile_pause(int paused);   /* 1: stop counting (evaluation), 0: count again */
/* Plain reference twins of the fast kernels (tests compare them). */
void ng_ref_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc);
/* The fast GEMM used by the ops (CBLAS): C = alpha op(A) op(B) + beta C, row-major. */
void ng_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);
/* OpenBLAS's sgemm, whatever ng_sgemm uses (ng_gemm_name says which ng_sgemm uses;
 * NANOGEN_GEMM=openblas in the environment makes it OpenBLAS). */
void ng_sgemm_blas(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *B, int ldb, float beta, float *C, int ldc);
/* Atomic file writing: ng_atomic_open creates "<path>.tmp" (f->fp is yours to write);
 * ng_atomic_commit(f, ok) flushes, fsyncs, closes and renames it over path, then fsyncs the
 * directory; with ok == 0, or on any failure, the .tmp is removed and an old file at path is
 * left as it was. Both return NG_OK or NG_ERR + an error naming the file. */
typedef struct { FILE *fp; char *tmp; const char *path; } ng_atomic_file;
int ng_atomic_open(ng_atomic_file *f, const char *path);
int ng_atomic_commit(ng_atomic_file *f, int ok);
/* fsync the directory that holds path, so that a rename into it is durable. */
int ng_sync_parent_dir(const char *path);
/* How a model kind trains (its kind table entry, src/models/model.c; the trainer steps it):
 * next-token prediction, reconstruction (AE, DAE, VAE), classification, or a GAN's game. */
typedef enum { NG_OBJ_LM, NG_OBJ_RECONSTRUCT, NG_OBJ_CLASSIFY, NG_OBJ_ADVERSARIAL } ng_objective;
ng_objective ng__model_objective(const ng_model *m);

/* Several processes (src/core/dist.c): the fixed-order sum of the ranks' gradient shards.
 * ng_dist_tree sums a rank's own shards (push each leaf in order, then take the result);
 * ng__dist_sum_tree sums the ranks' results across ranks (tmp: n floats of scratch), in place,
 * the same bits on every rank and for any number of ranks given the same shards. */
#define NG_DIST_TREE_MAX 32
typedef struct { int64_t n; float *slot[NG_DIST_TREE_MAX]; int full[NG_DIST_TREE_MAX]; } ng_dist_tree;
int ng__dist_tree_push(ng_dist_tree *tr, const float *leaf);
int ng__dist_tree_result(ng_dist_tree *tr, float *out);
void ng__dist_tree_free(ng_dist_tree *tr);
int ng__dist_sum_tree(float *buf, int64_t n, float *tmp);
int ng__dist_bcast_float(float *buf, int64_t n);                       /* rank 0's values to every rank */
int ng__dist_max_int(int *v, int n);                                   /* in place, over the ranks */
int ng__dist_allgather_float(const float *mine, int n_each, float *all);   /* rank r's at all + r*n_each */
int ng__dist_allgather_double(const double *mine, int n_each, double *all);
int ng__dist_local_size(void);                                         /* ranks on this machine */
void ng__dist_abort(int code);                                         /* ends every rank (MPI_Abort) */

/* An open-addressing table (linear probing, -1 = empty) of mask + 1 slots over n items of `size`
 * bytes, each placed by the uint64_t hash at byte hash_off of it: the tables of the word and BPE
 * tokenizers' counts, rebuilt when they grow. malloc'd; NULL when out of memory. */
int32_t *ng__hash_slots(const void *items, size_t n, size_t size, size_t hash_off, size_t mask);

#endif

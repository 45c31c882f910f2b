/* nanogen/core.h - the ground floor: errors, allocation, threads, the RNG, tensors and the graph
 * (op builders, forward, backward), parameter blocks, the AdamW optimizer, numerical faults.
 * Part of <nanogen.h>; include that. Every other topic header includes this one. */
#ifndef NANOGEN_CORE_H
#define NANOGEN_CORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* NG_API marks the library's public functions. libnanogen.so is built with -fvisibility=hidden,
 * so it exports exactly what carries this mark (every name starts with ng_). */
#if defined(__GNUC__) || defined(__clang__)
#define NG_API __attribute__((visibility("default")))
#else
#define NG_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ errors */
enum { NG_OK = 0, NG_ERR = -1 };
/* The thread's last error message ("" if none). */
NG_API const char *ng_last_error(void);
/* malloc that never returns NULL on success paths: returns NULL and sets an error naming `what`. */
NG_API void *ng_malloc(size_t bytes, const char *what);
/* 64-byte aligned, zeroed allocation; free with ng_free_aligned. NULL + error on failure. */
NG_API void *ng_alloc_aligned(size_t bytes, const char *what);
NG_API void ng_free_aligned(void *p);
/* Bytes of memory this process can use: MemAvailable (else physical RAM), capped by RLIMIT_AS.
 * Used to refuse, up front and with a clear message, work that would not fit. */
NG_API uint64_t ng_memory_available(void);
/* Refuse up front a job that needs about `need` bytes when less memory is available (90% of
 * ng_memory_available()): NG_ERR + "<what> needs about X GiB but only Y GiB of memory is
 * available: <hint>". */
NG_API int ng_memory_check(double need, const char *what, const char *hint);
/* Seconds of a monotonic clock. */
NG_API double ng_seconds(void);

/* ------------------------------------------------------------------ threads */
/* Threads (src/core/threads.c). Results never depend on the thread count: every kernel gives the
 * same bits on 1 or 64 threads (tests/test_threads.c; except with NANOGEN_GEMM=openblas or on
 * CPUs without AVX2, where the GEMM is OpenBLAS's).
 * ng_set_threads(n): run on n threads, kept as they are; n <= 0: the default, OMP_NUM_THREADS
 * (its first number) when set, kept as well, else every CPU this process may use, following the
 * machine: ng_threads_tick then lowers the count while other programs take CPUs and raises it
 * again when they stop. Returns the count in use. */
NG_API int ng_set_threads(int n);
NG_API int ng_get_threads(void);       /* threads in use now */
/* Several processes (data-parallel training; Open MPI, `make MPI=1`). ng_dist_init starts MPI
 * when the process was launched by mpirun (call it first thing in main); otherwise, and without
 * MPI built in, the process is rank 0 of 1. The trainer then splits each step's batch over the
 * ranks by itself; rank 0 alone writes files and reports. */
NG_API int ng_dist_init(int *argc, char ***argv);
NG_API int ng_dist_rank(void);
NG_API int ng_dist_size(void);
NG_API int ng_dist_built(void);          /* 1 when built with MPI (make MPI=1) */
/* 1 when the last training error was one every rank found at once (rank 0 reports it, the
 * others need not); 0 for a failure of this rank alone (end the job: ng_dist_abort). */
NG_API int ng_dist_error_shared(void);
NG_API void ng_dist_abort(int code);
NG_API int ng_threads_max(void);       /* the count set (or the default), the most the ticks go up to */
NG_API int ng_threads_auto(void);      /* 1 when the count follows the machine */
/* Call between units of work (a training step, a sampled token; from one thread): about twice
 * a second it measures the CPU time other programs took on this process's CPUs and runs on the
 * CPUs they left (at least one). Costs a clock read between measurements. Returns the count now. */
NG_API int ng_threads_tick(void);
/* CPUs other programs used in the last measured window (0 before the first) */
NG_API double ng_threads_others(void);
/* fn(now, max, others) is called each time a tick changes the count (NULL: nothing) */
typedef void (*ng_threads_note_fn)(int now, int max, double others);
NG_API void ng_threads_set_note(ng_threads_note_fn fn);
/* CPUs this process may run on: its affinity mask (else the online CPUs), lowered to its
 * cgroup's CPU quota (a container given 1.5 CPUs: 2). */
NG_API int ng_cpu_count(void);

/* ------------------------------------------------------------------ rng */
typedef struct { uint64_t s[4]; } ng_rng;
NG_API void ng_rng_seed(ng_rng *r, uint64_t seed);
NG_API uint64_t ng_rng_u64(ng_rng *r);
NG_API uint32_t ng_rng_below(ng_rng *r, uint32_t n);   /* uniform in [0, n) without bias */
NG_API float ng_rng_uniform(ng_rng *r);                /* uniform in [0, 1) */
NG_API float ng_rng_normal(ng_rng *r);                 /* standard normal */
NG_API void ng_rng_fill_normal(ng_rng *r, float *x, int64_t n);   /* x[0..n) ~ N(0,1) */

/* ------------------------------------------------------------------ tensors & graph */
/* An op (linear, layernorm, conv2d, ...) is defined once, in its file under src/ops/: its
 * builder below (ng_linear, ...), its forward and backward kernels and its reference twin. A
 * tensor points at the definition of the op that computes it; ng_tensor_op names it. */
typedef struct ng_op_def ng_op_def;

#define NG_MAX_DIMS 4
#define NG_MAX_SRC 5

typedef struct ng_tensor ng_tensor;
struct ng_tensor {
    const ng_op_def *op;      /* what computes it: "leaf" for a parameter or an input, "view" */
    int ndim;
    int64_t ne[NG_MAX_DIMS];  /* shape, row-major: ne[ndim-1] is contiguous */
    int64_t n;                /* number of elements */
    float *data;              /* f32 values (NULL for an i32 tensor) */
    float *grad;              /* same size as data, NULL if no gradient flows here */
    int32_t *idata;           /* i32 values for index tensors (token ids, targets) */
    ng_tensor *src[NG_MAX_SRC];
    int iarg[4];
    float farg[2];
    float *aux;               /* op-private saved state for backward (mean/rstd, probs, ...) */
    int64_t naux;
    int requires_grad;        /* a gradient flows into this tensor */
    int is_param;             /* data/grad belong to an ng_params block, not the graph */
    int id;                   /* index in its graph (for per-op RNG streams) */
    int64_t view_offset;      /* a view (ng_reshape, ng_rows_view): first element of the view inside src0 */
    char name[64];
};

typedef struct ng_graph ng_graph;

/* Create an empty graph. Free with ng_graph_free (frees everything the graph allocated). */
NG_API ng_graph *ng_graph_new(void);
NG_API void ng_graph_free(ng_graph *g);
/* Training mode switches dropout on; eval mode makes it the identity. Default: training. */
NG_API void ng_graph_set_training(ng_graph *g, int training);
/* Seed and step for dropout masks (counter-based, reproducible whatever the thread count). */
NG_API void ng_graph_set_dropout_seed(ng_graph *g, uint64_t seed, uint64_t step);
/* The graph's batch is rows [row0, row0 + B) of a larger batch (a shard of it, another rank's
 * or another pass's): its dropout masks are those rows' masks of the larger batch (0: its own). */
NG_API void ng_graph_set_dropout_row0(ng_graph *g, int64_t row0);

/* Leaves. ng_input allocates an f32 input, ng_input_i32 an index input. */
NG_API ng_tensor *ng_input(ng_graph *g, const char *name, int ndim, const int64_t *ne);
NG_API ng_tensor *ng_input_i32(ng_graph *g, const char *name, int ndim, const int64_t *ne);

/* Op builders: record the op, allocate the output, compute nothing yet. NULL + error on shape mismatch. */
NG_API ng_tensor *ng_linear(ng_graph *g, ng_tensor *x, ng_tensor *W, ng_tensor *b /* may be NULL */);
NG_API ng_tensor *ng_matmul(ng_graph *g, ng_tensor *a, ng_tensor *b, int trans_a, int trans_b);
NG_API ng_tensor *ng_embedding(ng_graph *g, ng_tensor *table, ng_tensor *idx);
NG_API ng_tensor *ng_add(ng_graph *g, ng_tensor *a, ng_tensor *b);
NG_API ng_tensor *ng_mul(ng_graph *g, ng_tensor *a, ng_tensor *b);
NG_API ng_tensor *ng_scale(ng_graph *g, ng_tensor *a, float s);
NG_API ng_tensor *ng_layernorm(ng_graph *g, ng_tensor *x, ng_tensor *w, ng_tensor *b /* may be NULL */, float eps);
NG_API ng_tensor *ng_gelu(ng_graph *g, ng_tensor *x);         /* the tanh approximation (GPT-2) */
NG_API ng_tensor *ng_gelu_exact(ng_graph *g, ng_tensor *x);   /* 0.5 x (1 + erf(x / sqrt 2)) (nn.GELU()) */
NG_API ng_tensor *ng_relu(ng_graph *g, ng_tensor *x);
NG_API ng_tensor *ng_attention(ng_graph *g, ng_tensor *qkv, int n_head, float dropout);
NG_API ng_tensor *ng_softmax_xent(ng_graph *g, ng_tensor *logits, ng_tensor *targets);
NG_API ng_tensor *ng_dropout(ng_graph *g, ng_tensor *x, float p);
NG_API ng_tensor *ng_sum(ng_graph *g, ng_tensor *x);
NG_API ng_tensor *ng_mean(ng_graph *g, ng_tensor *x);
/* Image ops (see the enum for shapes). Losses reduce with NG_MEAN (over all elements) or
 * NG_SUM (over all elements; e.g. the VAE's per-image sums added over the batch). */
typedef enum { NG_MEAN = 0, NG_SUM = 1 } ng_reduction;
NG_API ng_tensor *ng_conv2d(ng_graph *g, ng_tensor *x, ng_tensor *w, ng_tensor *b, int stride, int pad);
NG_API ng_tensor *ng_conv_transpose2d(ng_graph *g, ng_tensor *x, ng_tensor *w, ng_tensor *b, int stride, int pad);
NG_API ng_tensor *ng_maxpool2d(ng_graph *g, ng_tensor *x, int k, int stride);
NG_API ng_tensor *ng_avgpool2d(ng_graph *g, ng_tensor *x, int k, int stride);
NG_API ng_tensor *ng_batchnorm(ng_graph *g, ng_tensor *x, ng_tensor *w, ng_tensor *b, ng_tensor *running_mean,
                               ng_tensor *running_var, float eps, float momentum);
NG_API ng_tensor *ng_leaky_relu(ng_graph *g, ng_tensor *x, float slope);
NG_API ng_tensor *ng_sigmoid(ng_graph *g, ng_tensor *x);
NG_API ng_tensor *ng_tanh(ng_graph *g, ng_tensor *x);
NG_API ng_tensor *ng_bce_logits(ng_graph *g, ng_tensor *logits, ng_tensor *targets, ng_reduction r);
NG_API ng_tensor *ng_mse(ng_graph *g, ng_tensor *a, ng_tensor *b, ng_reduction r);
NG_API ng_tensor *ng_gauss_kl(ng_graph *g, ng_tensor *mu, ng_tensor *logvar, ng_reduction r);
NG_API ng_tensor *ng_reparam(ng_graph *g, ng_tensor *mu, ng_tensor *logvar, ng_tensor *eps);

/* View x with another shape of the same size (shares data and grad; no copy, no work). */
NG_API ng_tensor *ng_reshape(ng_graph *g, ng_tensor *x, int ndim, const int64_t *ne);
/* View rows [row0, row0+nrows) of x seen as (rows, last dim) (shares data and grad). */
NG_API ng_tensor *ng_rows_view(ng_graph *g, ng_tensor *x, int64_t row0, int64_t nrows);

/* Fix the execution order (everything `out` depends on) and allocate gradients. */
NG_API int ng_graph_finalize(ng_graph *g, ng_tensor *out);
/* Run the recorded ops in order. */
NG_API void ng_graph_forward(ng_graph *g);
/* Backward from the finalized output (its gradient is set to 1). Parameter gradients
 * accumulate (+=) into their ng_params block; intermediate gradients are reset each call. */
NG_API void ng_graph_backward(ng_graph *g);
/* Backward with a given gradient of the (non-scalar) output, e.g. the gradient a GAN's
 * discriminator sends back into the generator's images. dout has out->n floats. */
NG_API void ng_graph_backward_with(ng_graph *g, const float *dout);
/* Backward that leaves the parameters out: only the gradients of the graph's other inputs (and
 * of its intermediate tensors) are computed, and every parameter gradient stays as it was. A
 * GAN's generator step needs the discriminator's gradient with respect to its input images,
 * not its weight gradients (a third of its backward work). dout as in ng_graph_backward_with.
 * NG_ERR (graph not finalized) before any work. The parameters are listed at finalize, so the
 * call allocates nothing. */
NG_API int ng_graph_backward_inputs(ng_graph *g, const float *dout);
/* Number of nodes, and node i in execution order (for tests and tools). */
NG_API int ng_graph_size(const ng_graph *g);
NG_API ng_tensor *ng_graph_node(const ng_graph *g, int i);
/* The name of the op that computes t ("linear", "conv2d", ...; "leaf", "view"). */
NG_API const char *ng_tensor_op(const ng_tensor *t);

/* The GEMM the ops use: "auto:nanogen-avx512" / "auto:nanogen-avx2" (the default where the build
 * has nanogen's own kernel: for each shape, the faster of it and OpenBLAS's sgemm, measured once
 * on this machine and cached; NANOGEN_GEMM=auto), "nanogen-avx512" / "nanogen-avx2" (always
 * nanogen's own, the same bits on any number of threads; NANOGEN_GEMM=own) or "openblas"
 * (NANOGEN_GEMM=openblas, or a build without its own kernel). */
NG_API const char *ng_gemm_name(void);
/* The OpenBLAS kernel set in use ("Haswell", "SkylakeX", ...). */
NG_API const char *ng_blas_core(void);
/* OpenBLAS 0.3.21 (Debian 12) does not know AMD's AVX-512 CPUs (Zen 4, Zen 5) and runs its AVX2
 * kernels there, at about half the speed of its SkylakeX kernels (sgemm 2048^3 on this project's
 * 2-core Zen 5: 245 vs 464 GFLOP/s; `OPENBLAS_CORETYPE=Haswell build/bench/gemm` against
 * `OPENBLAS_CORETYPE=SKYLAKEX build/bench/gemm`). The kernels are chosen when the library loads,
 * from OPENBLAS_CORETYPE. This returns the core to ask for ("SKYLAKEX") when the CPU and the OS
 * support AVX-512 and OpenBLAS picked an AVX2 core; NULL when the choice is right already or
 * OPENBLAS_CORETYPE is set. */
NG_API const char *ng_blas_better_core(void);

/* ------------------------------------------------------------------ params */
/* A flat block of named parameters with their gradients (one allocation each). */
typedef struct ng_params ng_params;
NG_API ng_params *ng_params_new(void);
NG_API void ng_params_free(ng_params *P);
/* Declare a parameter (before ng_params_alloc). decay: whether AdamW weight decay applies. */
NG_API ng_tensor *ng_param(ng_params *P, const char *name, int ndim, const int64_t *ne, int decay);
/* Allocate the storage of every declared parameter (zeroed). */
NG_API int ng_params_alloc(ng_params *P);
NG_API int ng_params_count(const ng_params *P);                 /* number of tensors */
NG_API ng_tensor *ng_params_get(const ng_params *P, int i);
NG_API ng_tensor *ng_params_find(const ng_params *P, const char *name);
NG_API int ng_params_decays(const ng_params *P, int i);
NG_API int64_t ng_params_numel(const ng_params *P);             /* number of parameters */
NG_API int64_t ng_params_total(const ng_params *P);             /* floats in the flat blocks (with padding) */
NG_API float *ng_params_data(ng_params *P);                     /* the flat blocks */
NG_API float *ng_params_grad(ng_params *P);
NG_API void ng_params_zero_grad(ng_params *P);

/* ------------------------------------------------------------------ optim */
typedef struct {
    float lr, min_lr, beta1, beta2, eps, weight_decay, grad_clip;
    int warmup, steps;
} ng_adamw_cfg;
typedef struct ng_adamw ng_adamw;
NG_API ng_adamw *ng_adamw_new(ng_params *P, const ng_adamw_cfg *cfg);
NG_API void ng_adamw_free(ng_adamw *o);
/* lr of step `step` (0-based): lr*(step+1)/warmup during warmup, then cosine from lr to
 * min_lr, reached at step == steps (the PyTorch reference's formula, number for number). */
NG_API float ng_lr_schedule(const ng_adamw_cfg *cfg, int step);
/* Clip gradients by global norm (if cfg->grad_clip > 0), update with lr, zero the gradients.
 * Returns the gradient norm before clipping. A NaN or Inf norm (some gradient is NaN or Inf,
 * found by the norm's own pass) changes nothing: weights, moments, step count and gradients
 * stay as they were, so the caller can name the tensor (ng_params_nonfinite_grad) and stop. */
NG_API float ng_adamw_step(ng_adamw *o, float lr);
/* Moments and step count, for checkpoints. */
NG_API float *ng_adamw_m(ng_adamw *o);
NG_API float *ng_adamw_v(ng_adamw *o);
NG_API int64_t ng_adamw_t(const ng_adamw *o);
NG_API void ng_adamw_set_t(ng_adamw *o, int64_t t);

/* Numerical faults (src/graph/anomaly.c).
 * ng_count_nonfinite: how many of x[0..n) are NaN or +-Inf; *first = the index of the first
 * (-1 if none), *n_nan = how many are NaN (either pointer may be NULL).
 * ng_describe_nonfinite: the same for t's values (grad = 0) or gradient (grad = 1) as text,
 * "12 NaN values (first at [3, 17])" or "1 NaN and 2 Inf values (first at [0, 4])", with the
 * index in t's shape; returns the count (0: buf is "").
 * ng_params_nonfinite_grad: the first parameter of P whose gradient has NaN or Inf values,
 * NULL when every gradient is finite (after ng_adamw_step returned a non-finite norm).
 * Anomaly detection (off by default, free when off): once on, ng_graph_forward checks the
 * output of every op and ng_graph_backward every gradient an op wrote; at the first NaN or Inf
 * the pass stops and ng_graph_anomaly() returns 1 with a message in ng_last_error() naming
 * the pass, the op (index, kind and its parameters) and the tensor. The next forward clears it.
 * ng_graph_find_nonfinite: after a forward that gave a non-finite loss without anomaly
 * detection, names the first op whose output has NaN or Inf values (ng_last_error); returns 1
 * if one was found, else 0. */
NG_API int64_t ng_count_nonfinite(const float *x, int64_t n, int64_t *first, int64_t *n_nan);
NG_API int64_t ng_describe_nonfinite(const ng_tensor *t, int grad, char *buf, size_t cap);
NG_API ng_tensor *ng_params_nonfinite_grad(const ng_params *P);
NG_API void ng_graph_set_detect_anomaly(ng_graph *g, int on);
NG_API int ng_graph_anomaly(const ng_graph *g);
NG_API int ng_graph_find_nonfinite(ng_graph *g);

#ifdef __cplusplus
}
#endif
#endif

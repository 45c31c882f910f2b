/* nanogen.h - generative models from scratch, in C.
 *
 * One public header. The library is organised in rooms:
 *   errors      every fallible call returns NG_OK (0) or NG_ERR (-1) / NULL and leaves a
 *               message naming the file, offset or flag in ng_last_error().
 *   rng         a small deterministic PRNG (xoshiro256**) with normal draws.
 *   tensors     f32 (or i32 index) tensors that are also graph nodes (ggml style): builder
 *   & graph     functions record an op and allocate its output once; ng_graph_forward /
 *               ng_graph_backward run the recorded ops; nothing is allocated per step.
 *   params      a flat block of named parameters + gradients (llm.c style), shared by graphs.
 *   optim       AdamW with warmup + cosine schedule and global-norm clipping.
 *   tokenizers  char (one token per Unicode code point) and word level.
 *   safetensors checkpoint reader/writer (standard format, F32, metadata strings).
 *   models      bigram and GPT (see src/models/), built on the graph.
 *
 * Typical use (see src/cli/train.c):
 *   ng_params *P = ng_params_new();  gpt_model *m = gpt_new(P, &cfg, seed);
 *   ng_graph *g = ng_graph_new();    ng_tensor *loss = gpt_build_loss(m, g, B, T);
 *   ng_graph_finalize(g, loss);
 *   loop { fill inputs; ng_graph_forward(g); ng_graph_backward(g); ng_adamw_step(...); }
 *
 * Ownership: a *_new / *_open / *_build returns an object the caller frees with the
 * matching *_free / *_close. Strings returned as `char *` are malloc'd, caller frees.
 */
#ifndef NANOGEN_H
#define NANOGEN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NANOGEN_VERSION "0.1.0"

/* ------------------------------------------------------------------ errors */
enum { NG_OK = 0, NG_ERR = -1 };
/* Set the thread's last error message (printf-style). Always returns NG_ERR. */
int ng_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The thread's last error message ("" if none). */
const char *ng_last_error(void);
/* malloc that never returns NULL on success paths: returns NULL and sets an error naming `what`. */
void *ng_malloc(size_t bytes, const char *what);
/* 64-byte aligned, zeroed allocation; free with ng_free_aligned. NULL + error on failure. */
void *ng_alloc_aligned(size_t bytes, const char *what);
void ng_free_aligned(void *p);
/* Bytes of memory this process can use: MemAvailable (else physical RAM), capped by RLIMIT_AS.
 * Used to refuse, up front and with a clear message, work that would not fit. */
uint64_t ng_memory_available(void);
/* Refuse up front a job that needs about `need` bytes when less memory is available (90% of
 * ng_memory_available()): NG_ERR + "<what> needs about X GiB but only Y GiB of memory is
 * available: <hint>". */
int ng_memory_check(double need, const char *what, const char *hint);
/* Seconds of a monotonic clock. */
double ng_seconds(void);

/* ------------------------------------------------------------------ threads */
/* Threads (src/core/threads.c). Results never depend on the thread count: every kernel gives the
 * same bits on 1 or 64 threads (tests/test_threads.c; except with NANOGEN_GEMM=openblas or on
 * CPUs without AVX2, where the GEMM is OpenBLAS's).
 * ng_set_threads(n): run on n threads, kept as they are; n <= 0: the default, OMP_NUM_THREADS
 * (its first number) when set, kept as well, else every CPU this process may use, following the
 * machine: ng_threads_tick then lowers the count while other programs take CPUs and raises it
 * again when they stop. Returns the count in use. */
int ng_set_threads(int n);
int ng_get_threads(void);       /* threads in use now */
int ng_threads_max(void);       /* the count set (or the default), the most the ticks go up to */
int ng_threads_auto(void);      /* 1 when the count follows the machine */
/* Call between units of work (a training step, a sampled token; from one thread): about twice
 * a second it measures the CPU time other programs took on this process's CPUs and runs on the
 * CPUs they left (at least one). Costs a clock read between measurements. Returns the count now. */
int ng_threads_tick(void);
/* CPUs other programs used in the last measured window (0 before the first) */
double ng_threads_others(void);
/* fn(now, max, others) is called each time a tick changes the count (NULL: nothing) */
typedef void (*ng_threads_note_fn)(int now, int max, double others);
void ng_threads_set_note(ng_threads_note_fn fn);
/* CPUs this process may run on: its affinity mask (else the online CPUs), lowered to its
 * cgroup's CPU quota (a container given 1.5 CPUs: 2). */
int ng_cpu_count(void);

/* ------------------------------------------------------------------ rng */
typedef struct { uint64_t s[4]; } ng_rng;
void ng_rng_seed(ng_rng *r, uint64_t seed);
uint64_t ng_rng_u64(ng_rng *r);
uint32_t ng_rng_below(ng_rng *r, uint32_t n);   /* uniform in [0, n) without bias */
float ng_rng_uniform(ng_rng *r);                /* uniform in [0, 1) */
float ng_rng_normal(ng_rng *r);                 /* standard normal */
void ng_rng_fill_normal(ng_rng *r, float *x, int64_t n);   /* x[0..n) ~ N(0,1) */
/* Counter-based uniform in [0,1) from (seed, stream, index): same value whatever the thread. */
float ng_hash_uniform(uint64_t seed, uint64_t stream, uint64_t index);

/* ------------------------------------------------------------------ tensors & graph */
typedef enum {
    NG_OP_LEAF = 0,    /* parameter or input: no source */
    NG_OP_LINEAR,      /* y = x W^T (+ b): x (N,in), W (out,in), b (out) -> (N,out) */
    NG_OP_MATMUL,      /* y = op(A) op(B), 2-D, iarg[0]=transA, iarg[1]=transB */
    NG_OP_EMBEDDING,   /* y[i,:] = table[idx[i],:]; src0 = table (V,C), src1 = idx (i32) */
    NG_OP_ADD,         /* y = a + b; b may broadcast over a's leading dims (b.n divides a.n) */
    NG_OP_MUL,         /* y = a * b elementwise, same shape */
    NG_OP_SCALE,       /* y = farg[0] * a */
    NG_OP_LAYERNORM,   /* over the last dim; src1 = weight, src2 = bias; farg[0] = eps */
    NG_OP_GELU,        /* tanh approximation */
    NG_OP_RELU,
    NG_OP_ATTENTION,   /* fused causal MHA: qkv (B,T,3C) -> (B,T,C); iarg[0]=n_head; farg[0]=dropout */
    NG_OP_SOFTMAX_XENT,/* mean cross-entropy: logits (N,V), targets i32 (N), target<0 ignored -> scalar */
    NG_OP_DROPOUT,     /* farg[0]=p, inverted dropout, identity when the graph is not training */
    NG_OP_SUM,         /* scalar sum of all elements */
    NG_OP_MEAN,        /* scalar mean of all elements */
    NG_OP_VIEW,        /* same data and gradient as src0, another shape (ng_reshape) */
    /* images (NCHW, PyTorch's layouts) */
    NG_OP_CONV2D,      /* x (N,Ci,H,W), w (Co,Ci,k,k), b (Co) or NULL -> (N,Co,Ho,Wo); iarg[0]=stride, iarg[1]=pad */
    NG_OP_CONV_T2D,    /* transposed: x (N,Ci,H,W), w (Ci,Co,k,k), b (Co) or NULL -> Ho = (H-1)*stride - 2*pad + k */
    NG_OP_MAXPOOL2D,   /* (N,C,H,W) -> (N,C,H/s,W/s) windows k x k, iarg[0]=k, iarg[1]=stride */
    NG_OP_AVGPOOL2D,
    NG_OP_BATCHNORM,   /* x (N,C) or (N,C,H,W); src1 w, src2 b, src3 running mean, src4 running var (C);
                          farg[0]=eps, farg[1]=momentum; training: batch statistics + running update */
    NG_OP_LEAKY_RELU,  /* farg[0] = negative slope */
    NG_OP_SIGMOID,
    NG_OP_TANH,
    NG_OP_BCE_LOGITS,  /* binary cross-entropy with logits: logits, targets (f32, same shape) -> scalar */
    NG_OP_MSE,         /* squared error: a, b (same shape) -> scalar */
    NG_OP_GAUSS_KL,    /* mu, logvar (N,Z) -> scalar -1/2 sum(1 + logvar - mu^2 - exp(logvar)) */
    NG_OP_REPARAM,     /* mu, logvar, eps -> mu + exp(logvar/2) * eps (eps: an input filled with N(0,1)) */
    NG_OP_COUNT_
} ng_op;

#define NG_MAX_DIMS 4
#define NG_MAX_SRC 5

typedef struct ng_tensor ng_tensor;
struct ng_tensor {
    ng_op op;
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
    int64_t view_offset;      /* NG_OP_VIEW: first element of the view inside src0 */
    char name[64];
};

typedef struct ng_graph ng_graph;

/* Create an empty graph. Free with ng_graph_free (frees everything the graph allocated). */
ng_graph *ng_graph_new(void);
void ng_graph_free(ng_graph *g);
/* Training mode switches dropout on; eval mode makes it the identity. Default: training. */
void ng_graph_set_training(ng_graph *g, int training);
/* Seed and step for dropout masks (counter-based, reproducible whatever the thread count). */
void ng_graph_set_dropout_seed(ng_graph *g, uint64_t seed, uint64_t step);

/* Leaves. ng_input allocates an f32 input, ng_input_i32 an index input. */
ng_tensor *ng_input(ng_graph *g, const char *name, int ndim, const int64_t *ne);
ng_tensor *ng_input_i32(ng_graph *g, const char *name, int ndim, const int64_t *ne);

/* Op builders: record the op, allocate the output, compute nothing yet. NULL + error on shape mismatch. */
ng_tensor *ng_linear(ng_graph *g, ng_tensor *x, ng_tensor *W, ng_tensor *b /* may be NULL */);
ng_tensor *ng_matmul(ng_graph *g, ng_tensor *a, ng_tensor *b, int trans_a, int trans_b);
ng_tensor *ng_embedding(ng_graph *g, ng_tensor *table, ng_tensor *idx);
ng_tensor *ng_add(ng_graph *g, ng_tensor *a, ng_tensor *b);
ng_tensor *ng_mul(ng_graph *g, ng_tensor *a, ng_tensor *b);
ng_tensor *ng_scale(ng_graph *g, ng_tensor *a, float s);
ng_tensor *ng_layernorm(ng_graph *g, ng_tensor *x, ng_tensor *w, ng_tensor *b, float eps);
ng_tensor *ng_gelu(ng_graph *g, ng_tensor *x);
ng_tensor *ng_relu(ng_graph *g, ng_tensor *x);
ng_tensor *ng_attention(ng_graph *g, ng_tensor *qkv, int n_head, float dropout);
ng_tensor *ng_softmax_xent(ng_graph *g, ng_tensor *logits, ng_tensor *targets);
ng_tensor *ng_dropout(ng_graph *g, ng_tensor *x, float p);
ng_tensor *ng_sum(ng_graph *g, ng_tensor *x);
ng_tensor *ng_mean(ng_graph *g, ng_tensor *x);
/* Image ops (see the enum for shapes). Losses reduce with NG_MEAN (over all elements) or
 * NG_SUM (over all elements; e.g. the VAE's per-image sums added over the batch). */
typedef enum { NG_MEAN = 0, NG_SUM = 1 } ng_reduction;
ng_tensor *ng_conv2d(ng_graph *g, ng_tensor *x, ng_tensor *w, ng_tensor *b, int stride, int pad);
ng_tensor *ng_conv_transpose2d(ng_graph *g, ng_tensor *x, ng_tensor *w, ng_tensor *b, int stride, int pad);
ng_tensor *ng_maxpool2d(ng_graph *g, ng_tensor *x, int k, int stride);
ng_tensor *ng_avgpool2d(ng_graph *g, ng_tensor *x, int k, int stride);
ng_tensor *ng_batchnorm(ng_graph *g, ng_tensor *x, ng_tensor *w, ng_tensor *b, ng_tensor *running_mean,
                        ng_tensor *running_var, float eps, float momentum);
ng_tensor *ng_leaky_relu(ng_graph *g, ng_tensor *x, float slope);
ng_tensor *ng_sigmoid(ng_graph *g, ng_tensor *x);
ng_tensor *ng_tanh(ng_graph *g, ng_tensor *x);
ng_tensor *ng_bce_logits(ng_graph *g, ng_tensor *logits, ng_tensor *targets, ng_reduction r);
ng_tensor *ng_mse(ng_graph *g, ng_tensor *a, ng_tensor *b, ng_reduction r);
ng_tensor *ng_gauss_kl(ng_graph *g, ng_tensor *mu, ng_tensor *logvar, ng_reduction r);
ng_tensor *ng_reparam(ng_graph *g, ng_tensor *mu, ng_tensor *logvar, ng_tensor *eps);

/* View x with another shape of the same size (shares data and grad; no copy, no work). */
ng_tensor *ng_reshape(ng_graph *g, ng_tensor *x, int ndim, const int64_t *ne);
/* View rows [row0, row0+nrows) of x seen as (rows, last dim) (shares data and grad). */
ng_tensor *ng_rows_view(ng_graph *g, ng_tensor *x, int64_t row0, int64_t nrows);

/* Fix the execution order (everything `out` depends on) and allocate gradients. */
int ng_graph_finalize(ng_graph *g, ng_tensor *out);
/* Run the recorded ops in order. */
void ng_graph_forward(ng_graph *g);
/* Backward from the finalized output (its gradient is set to 1). Parameter gradients
 * accumulate (+=) into their ng_params block; intermediate gradients are reset each call. */
void ng_graph_backward(ng_graph *g);
/* Backward with a given gradient of the (non-scalar) output, e.g. the gradient a GAN's
 * discriminator sends back into the generator's images. dout has out->n floats. */
void ng_graph_backward_with(ng_graph *g, const float *dout);
/* Backward that leaves the parameters out: only the gradients of the graph's other inputs (and
 * of its intermediate tensors) are computed, and every parameter gradient stays as it was. A
 * GAN's generator step needs the discriminator's gradient with respect to its input images,
 * not its weight gradients (a third of its backward work). dout as in ng_graph_backward_with.
 * NG_ERR (graph not finalized) before any work. The parameters are listed at finalize, so the
 * call allocates nothing. */
int ng_graph_backward_inputs(ng_graph *g, const float *dout);
/* Profiling: with NANOGEN_PROFILE=1 in the environment, the wall time of every op kind
 * (forward, backward) and of the named phases given to ng_profile_add is printed to stderr at
 * exit. ng_profiling() says whether it is on. */
int ng_profiling(void);
void ng_profile_add(const char *name, double seconds);
void ng_profile_pause(int paused);   /* 1: stop counting (evaluation), 0: count again */
/* Number of nodes, and node i in execution order (for tests and tools). */
int ng_graph_size(const ng_graph *g);
ng_tensor *ng_graph_node(const ng_graph *g, int i);

/* Plain reference twins of the fast kernels (tests compare them). */
void ng_ref_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, float *C, int ldc);
/* The fast GEMM used by the ops (CBLAS): C = alpha op(A) op(B) + beta C, row-major. */
void ng_sgemm(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
              const float *B, int ldb, float beta, float *C, int ldc);
/* OpenBLAS's sgemm, whatever ng_sgemm uses; and the name of the GEMM ng_sgemm uses
 * ("nanogen-avx512" or "openblas"; NANOGEN_GEMM=openblas in the environment forces OpenBLAS). */
void ng_sgemm_blas(int transA, int transB, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *B, int ldb, float beta, float *C, int ldc);
const char *ng_gemm_name(void);
/* The OpenBLAS kernel set in use ("Haswell", "SkylakeX", ...). */
const char *ng_blas_core(void);
/* OpenBLAS 0.3.21 (Debian 12) does not know AMD's AVX-512 CPUs (Zen 4, Zen 5) and runs its AVX2
 * kernels there, at about half the speed of its SkylakeX kernels (sgemm 2048^3 on this project's
 * 2-core Zen 5: 245 vs 464 GFLOP/s; `OPENBLAS_CORETYPE=Haswell build/bench/gemm` against
 * `OPENBLAS_CORETYPE=SKYLAKEX build/bench/gemm`). The kernels are chosen when the library loads,
 * from OPENBLAS_CORETYPE. This returns the core to ask for ("SKYLAKEX") when the CPU and the OS
 * support AVX-512 and OpenBLAS picked an AVX2 core; NULL when the choice is right already or
 * OPENBLAS_CORETYPE is set. */
const char *ng_blas_better_core(void);

/* ------------------------------------------------------------------ params */
/* A flat block of named parameters with their gradients (one allocation each). */
typedef struct ng_params ng_params;
ng_params *ng_params_new(void);
void ng_params_free(ng_params *P);
/* Declare a parameter (before ng_params_alloc). decay: whether AdamW weight decay applies. */
ng_tensor *ng_param(ng_params *P, const char *name, int ndim, const int64_t *ne, int decay);
/* Allocate the storage of every declared parameter (zeroed). */
int ng_params_alloc(ng_params *P);
int ng_params_count(const ng_params *P);                 /* number of tensors */
ng_tensor *ng_params_get(const ng_params *P, int i);
ng_tensor *ng_params_find(const ng_params *P, const char *name);
int ng_params_decays(const ng_params *P, int i);
int64_t ng_params_numel(const ng_params *P);             /* number of parameters */
int64_t ng_params_total(const ng_params *P);             /* floats in the flat blocks (with padding) */
float *ng_params_data(ng_params *P);                     /* the flat blocks */
float *ng_params_grad(ng_params *P);
void ng_params_zero_grad(ng_params *P);

/* ------------------------------------------------------------------ optim */
typedef struct {
    float lr, min_lr, beta1, beta2, eps, weight_decay, grad_clip;
    int warmup, steps;
} ng_adamw_cfg;
typedef struct ng_adamw ng_adamw;
ng_adamw *ng_adamw_new(ng_params *P, const ng_adamw_cfg *cfg);
void ng_adamw_free(ng_adamw *o);
/* lr of step `step` (0-based): lr*(step+1)/warmup during warmup, then cosine from lr to
 * min_lr, reached at step == steps (the PyTorch reference's formula, number for number). */
float ng_lr_schedule(const ng_adamw_cfg *cfg, int step);
/* Clip gradients by global norm (if cfg->grad_clip > 0), update with lr, zero the gradients.
 * Returns the gradient norm before clipping. A NaN or Inf norm (some gradient is NaN or Inf,
 * found by the norm's own pass) changes nothing: weights, moments, step count and gradients
 * stay as they were, so the caller can name the tensor (ng_params_nonfinite_grad) and stop. */
float ng_adamw_step(ng_adamw *o, float lr);
/* Moments and step count, for checkpoints. */
float *ng_adamw_m(ng_adamw *o);
float *ng_adamw_v(ng_adamw *o);
int64_t ng_adamw_t(const ng_adamw *o);
void ng_adamw_set_t(ng_adamw *o, int64_t t);

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
int64_t ng_count_nonfinite(const float *x, int64_t n, int64_t *first, int64_t *n_nan);
int64_t ng_describe_nonfinite(const ng_tensor *t, int grad, char *buf, size_t cap);
ng_tensor *ng_params_nonfinite_grad(const ng_params *P);
void ng_graph_set_detect_anomaly(ng_graph *g, int on);
int ng_graph_anomaly(const ng_graph *g);
int ng_graph_find_nonfinite(ng_graph *g);

/* ------------------------------------------------------------------ utf-8 */
/* Decode one UTF-8 code point at s[0..len). Returns its length (1..4) and stores it in *cp,
 * or 0 for an invalid sequence (bad lead/continuation byte, overlong, surrogate, > U+10FFFF,
 * truncated). */
int ng_utf8_decode(const unsigned char *s, size_t len, uint32_t *cp);
/* Encode cp into out (>= 4 bytes); returns the length. */
int ng_utf8_encode(uint32_t cp, char *out);
/* Check a whole buffer; returns the byte offset of the first invalid sequence, or -1 if valid. */
long long ng_utf8_validate(const char *s, size_t len);
/* What a code point is, by Unicode's general categories (src/data/unicode_tables.h, generated by
 * scripts/unicode_tables.py from Unicode 14.0): NG_UC_LETTER (L*), NG_UC_DIGIT (Nd),
 * NG_UC_PUNCT (P*, S*), NG_UC_SPACE (Z*, and \t \n \v \f \r), NG_UC_OTHER (marks, controls,
 * other numbers; an unassigned code point between two of one class has theirs). If base is non-NULL, *base is the base letter of a Latin letter,
 * 'a'..'z' or 'A'..'Z' in its case (ASCII, Latin-1, Latin Extended-A/B, Latin Extended
 * Additional: 'ã' -> 'a', 'É' -> 'E', 'ç' -> 'c', 'ß' -> 's', 'æ' -> 'a'), else 0 (other
 * scripts' letters, and everything else). */
typedef enum { NG_UC_OTHER = 0, NG_UC_LETTER, NG_UC_DIGIT, NG_UC_PUNCT, NG_UC_SPACE } ng_uc_class;
ng_uc_class ng_unicode_class(uint32_t cp, char *base);

/* ------------------------------------------------------------------ tokenizers */
typedef enum { NG_TOK_CHAR = 0, NG_TOK_WORD = 1 } ng_tok_kind;
typedef struct ng_tokenizer ng_tokenizer;

/* Build a tokenizer from a corpus. char: vocabulary = sorted distinct code points.
 * word: words and punctuation, the vocab_cap-1 most frequent kept, the rest -> "<unk>"
 * (vocab_cap <= 0: 8192). NULL + error naming the byte offset on invalid UTF-8, or for an
 * empty corpus. */
ng_tokenizer *ng_tokenizer_build(ng_tok_kind kind, const char *text, size_t len, int vocab_cap);
void ng_tokenizer_free(ng_tokenizer *t);
ng_tok_kind ng_tokenizer_kind(const ng_tokenizer *t);
int ng_tokenizer_vocab_size(const ng_tokenizer *t);
/* Token text of id (NUL-terminated UTF-8, owned by the tokenizer). */
const char *ng_tokenizer_token(const ng_tokenizer *t, int id);
/* Encode text into ids (*out malloc'd, caller frees). Unknown pieces: for char, an error
 * naming the character (U+XXXX and the character) and its byte offset, unless allow_unknown
 * (then they are skipped and counted in *n_unknown if non-NULL); for word, they map to <unk>. */
int ng_tokenizer_encode(const ng_tokenizer *t, const char *text, size_t len, int allow_unknown,
                        int32_t **out, size_t *n_out, size_t *n_unknown);
/* Streaming decoder: feed ids one at a time; writes the UTF-8 text that id adds (including
 * spacing for word models) into buf (NUL-terminated) and returns its length. */
typedef struct { const ng_tokenizer *t; int prev; int quote_open; int at_start; } ng_decoder;
void ng_decoder_init(ng_decoder *d, const ng_tokenizer *t);
size_t ng_decoder_push(ng_decoder *d, int id, char *buf, size_t cap);
/* Decode a whole sequence (malloc'd string, caller frees). */
char *ng_tokenizer_decode(const ng_tokenizer *t, const int32_t *ids, size_t n);
/* Serialize to a JSON string (malloc'd) and back; from_json validates everything. */
char *ng_tokenizer_to_json(const ng_tokenizer *t);
ng_tokenizer *ng_tokenizer_from_json(const char *json);

/* ------------------------------------------------------------------ safetensors */
/* One tensor to write: name, shape, little-endian F32 data. */
typedef struct { const char *name; int ndim; int64_t shape[NG_MAX_DIMS]; const float *data; } ng_st_tensor;
/* Write a standard safetensors file atomically (path.tmp, fsync, rename): on any error the old
 * file at path is untouched. meta: n_meta key/value string pairs for "__metadata__". */
int ng_safetensors_write(const char *path, const ng_st_tensor *tensors, int n_tensors,
                         const char *const *meta_keys, const char *const *meta_vals, int n_meta);
typedef struct ng_st_file ng_st_file;
/* Read and validate a file: header length, JSON, dtypes (F32; F16/BF16 converted to F32; I64
 * checked but not loaded: PyTorch's integer buffers such as BatchNorm's num_batches_tracked),
 * shapes against data_offsets, offsets inside the file and not overlapping. NULL + error. */
ng_st_file *ng_safetensors_open(const char *path);
void ng_safetensors_close(ng_st_file *f);
int ng_st_count(const ng_st_file *f);
const char *ng_st_name(const ng_st_file *f, int i);
/* Find a tensor by name: its shape and F32 data (owned by f). NULL if absent or I64 (no error set). */
const float *ng_st_find(const ng_st_file *f, const char *name, int *ndim, int64_t *shape);
/* A tensor's dtype in the file ("F32", "F16", "BF16", "I64") and its shape, or NULL if absent. */
const char *ng_st_dtype(const ng_st_file *f, const char *name, int *ndim, int64_t *shape);
/* A metadata value, or NULL if absent. */
const char *ng_st_meta(const ng_st_file *f, const char *key);

/* ------------------------------------------------------------------ models (every kind) */
/* One model type for every kind, text and images (src/models/model.c holds the kind table). */
typedef enum {
    NG_MODEL_BIGRAM = 0, NG_MODEL_GPT = 1,                /* text: tokens in, next-token logits out */
    NG_MODEL_AE, NG_MODEL_DAE, NG_MODEL_VAE, NG_MODEL_GAN,
    NG_MODEL_CLASSIFIER                                   /* images */
} ng_model_kind;
#define NG_MODEL_KINDS 7
/* Architecture of the AE/DAE/VAE: SPEC.md's MLP (default) or a small conv net (size divisible by 4). */
typedef enum { NG_ARCH_MLP = 0, NG_ARCH_CONV = 1 } ng_model_arch;
typedef struct {
    ng_model_kind kind;
    /* text kinds */
    int vocab_size;     /* V */
    int block_size;     /* T: the longest context (GPT) / the training window (bigram) */
    int n_layer, n_head, n_embd;   /* L, H, C (GPT only) */
    float dropout;
    /* image kinds */
    int c, h, w;        /* image shape */
    int hidden;         /* MLP width (400 in SPEC.md's VAE; the classifier's features, 128) */
    int latent;         /* z size (20 for the VAE, 100 for the GAN's noise) */
    float beta;         /* VAE: weight of the KL term (1) */
    int arch;           /* ng_model_arch (AE/DAE/VAE; JSON "arch", absent = "mlp") */
    int n_classes;      /* classifier: number of classes (10; JSON "classes") */
} ng_model_config;
typedef struct ng_model ng_model;
/* "bigram", "gpt", "ae", "dae", "vae", "gan", "classifier" ("?" for no kind) */
const char *ng_model_kind_name(ng_model_kind k);
/* The kind named `name`: NG_OK, or NG_ERR (no error set) when there is none. */
int ng_model_kind_parse(const char *name, ng_model_kind *k);
/* 1 for a text kind (bigram, gpt: a tokenizer goes with it), 0 for an image kind. */
int ng_model_kind_is_text(ng_model_kind k);
/* Check a config: every size of the kind in range (text: n_embd divisible by n_head, dropout in
 * [0,1); images: 1 or 3 channels, the sizes the architecture allows). The error names the
 * offending flag (--n-head, --latent, ...). */
int ng_model_config_check(const ng_model_config *c);
/* Number of values a model of this config holds: every parameter block and the buffers (what
 * its checkpoint stores; SPEC.md: V*C + T*C + L*(12*C*C + 13*C) + 2*C for a GPT). -1 + error
 * for an invalid config. Allocates nothing large: checkpoint loaders compare it with the file
 * before creating the model. */
int64_t ng_model_param_count(const ng_model_config *c);
/* JSON of a config (malloc'd) and back (validated): text kinds {"model": "gpt", "vocab_size",
 * "block_size", "n_layer", "n_head", "n_embd", "dropout"}, image kinds {"model": "vae",
 * "channels", "height", "width", "hidden", "latent", "beta", "arch" | "classes"}. */
char *ng_model_config_to_json(const ng_model_config *c);
int ng_model_config_from_json(const char *json, ng_model_config *c);

/* Create a model: its parameters named as the PyTorch reference's state_dict (GAN: "G." and "D."
 * prefixes), allocated, zero; NULL + error for an invalid config or no memory.
 * Text: SPEC.md's bigram (one V x V table) and GPT (src/models/gpt.c).
 * MLP AE/DAE/VAE: SPEC.md's VAE (fc1, mu/logvar or fc2, fc3, fc4).
 * Conv AE/DAE/VAE (arch NG_ARCH_CONV): enc1 Conv(c->32,k4,s2,p1) ReLU, enc2 Conv(32->64,k4,s2,p1)
 * ReLU, flatten, fc1 (64*h/4*w/4 -> hidden) ReLU, mu/logvar (VAE) or fc2 (AE) -> latent;
 * decoder fc3 (latent -> hidden) ReLU, fc4 (hidden -> 64*h/4*w/4) ReLU, dec1 ConvT(64->32,k4,s2,p1)
 * ReLU, dec2 ConvT(32->c,k4,s2,p1) -> logits.
 * Classifier: conv1 Conv(c->32,k3,p1) ReLU MaxPool2, conv2 Conv(32->64,k3,p1) ReLU MaxPool2,
 * flatten, fc1 (64*h/4*w/4 -> hidden, 128) ReLU = the features, fc2 (hidden -> n_classes).
 * GAN (DCGAN, src/models/gan.c): square pictures of 28 (SPEC.md's net: base 7x7, two stages),
 * 32 (base 8x8, two stages) or 64 pixels (base 8x8, three stages: G.up3, D.c3, D.bn3), c 1 or 3. */
ng_model *ng_model_new(const ng_model_config *cfg);
void ng_model_free(ng_model *m);
/* Initialise from a seed: SPEC.md's GPT init (N(0, 0.02), projections N(0, 0.02/sqrt(2L))), the
 * bigram's N(0, 1); image kinds as PyTorch does (nn.Linear / nn.Conv2d / nn.ConvTranspose2d
 * defaults U(+-1/sqrt(fan_in)); GAN weights N(0, 0.02), BatchNorm 1, 0). */
void ng_model_init(ng_model *m, uint64_t seed);
/* Trainable parameter blocks: 1, or 2 for a GAN (0 = generator, 1 = discriminator), each with
 * its own optimizer; ng_model_params is block 0. */
int ng_model_n_blocks(const ng_model *m);
ng_params *ng_model_block(ng_model *m, int block);
ng_params *ng_model_params(ng_model *m);
/* Non-trained state (BatchNorm running statistics), or NULL. */
ng_params *ng_model_buffers(ng_model *m);
const ng_model_config *ng_model_cfg(const ng_model *m);

/* The language-model graph of a model for B windows of T tokens. */
typedef struct {
    ng_tensor *idx;      /* (B,T) i32 inputs: fill before forward */
    ng_tensor *targets;  /* (B,T) i32 targets, -1 = ignored */
    ng_tensor *logits;   /* (B*T, V) */
    ng_tensor *loss;     /* scalar: mean cross-entropy over counted targets */
} ng_lm_graph;
int ng_model_build(ng_model *m, ng_graph *g, int B, int T, ng_lm_graph *out);

/* Incremental inference with a KV cache for n_streams independent streams that advance
 * together. ng_infer_step feeds one token per stream and returns the next-token logits
 * (n_streams x V, owned by the ng_infer). When the context is full (block_size tokens), the
 * cache is rebuilt from the last `keep` tokens (default block_size/2; block_size-1 gives
 * exactly "crop to the last T tokens" at the price of a rebuild per token). */
typedef struct ng_infer ng_infer;
ng_infer *ng_infer_new(ng_model *m, int n_streams);
void ng_infer_free(ng_infer *s);
void ng_infer_reset(ng_infer *s);
void ng_infer_set_keep(ng_infer *s, int keep);
const float *ng_infer_step(ng_infer *s, const int32_t *tokens);
/* Attention probabilities of the last step for one layer and stream: H rows of block_size
 * floats, of which the first *n_ctx are used; NULL for a bigram or before the first step. */
const float *ng_infer_attention(const ng_infer *s, int layer, int stream, int *n_ctx);

/* Draw the next token from logits (V): divide by temperature (0: argmax), keep the top_k
 * largest (<=0: all), then the smallest set with probability >= top_p (>=1: all; 0: the
 * most likely token), softmax,
 * one draw. work: scratch of 2*V floats. If p_drawn is non-NULL it receives the probability
 * the drawn token had in the distribution it was drawn from. */
int ng_sample_logits(const float *logits, int V, float temperature, int top_k, float top_p,
                     ng_rng *rng, float *work, float *p_drawn);

/* ------------------------------------------------------------------ generating text (src/infer/generate.c) */
/* A generator draws text from a text model, one token per stream per call, with the KV cache:
 * n_streams streams advance together (a batch), each with its own RNG and streaming decoder. */
typedef struct {
    float temperature;        /* 1 (0: greedy) */
    int top_k;                /* 0: every token */
    float top_p;              /* 1: every token */
    uint64_t seed;            /* stream s of round r draws from seed + 0x9E3779B97F4A7C15 * (r + s) */
    int exact_context;        /* past the block size, rebuild from the last T-1 tokens at every token
                                 (nanoGPT's crop, slower); else from the last T/2 when the context is full */
} ng_gen_settings;
void ng_gen_defaults(ng_gen_settings *s);
typedef struct ng_generator ng_generator;
/* A generator of n_streams streams of m (a text kind) and its tokenizer (both stay the
 * caller's); refused up front, naming what it needs, when their caches do not fit in memory.
 * NULL + error. */
ng_generator *ng_generator_new(ng_model *m, const ng_tokenizer *tok, int n_streams, const ng_gen_settings *s);
void ng_generator_free(ng_generator *g);
/* A prompt as token ids (malloc'd, *n of them): valid UTF-8 (else an error naming the offset),
 * a character a char vocabulary lacks is an error naming it; *n_unknown (may be NULL): words a
 * word vocabulary reads as <unk>. An empty prompt is the model's newline token (as nanoGPT
 * starts), else token 0. NULL + error. */
int32_t *ng_generator_encode(const ng_generator *g, const char *text, size_t len, size_t *n, size_t *n_unknown);
/* Start round `round` (0, 1, ...: the RNGs' seeds) of every stream from ids[0..n). */
int ng_generator_start(ng_generator *g, const int32_t *ids, size_t n, int round);
/* The next token of every stream (n_streams ids, owned by g); *probs (may be NULL) receives the
 * probability each was drawn with (after temperature, top-k and top-p). */
const int32_t *ng_generator_next(ng_generator *g, const float **probs);
/* Stream s's text for its next token id (the prompt's, then the drawn ones, in order): whole
 * UTF-8 characters, words spaced naturally, into buf (NUL-terminated); its length. */
size_t ng_generator_text(ng_generator *g, int s, int32_t id, char *buf, size_t cap);
int ng_generator_streams(const ng_generator *g);

/* ------------------------------------------------------------------ text data */
/* Fill x,y (B*T each) with B random windows of T+1 tokens from ids[0..n): x = first T, y = last T.
 * Requires n > T. */
void ng_text_batch(const int32_t *ids, size_t n, int B, int T, ng_rng *rng, int32_t *x, int32_t *y);
/* A UTF-8 text file as tok's ids (malloc'd, *n of them): an empty file or one that is not UTF-8
 * is an error naming it (and the offset of the first bad byte); characters a char vocabulary
 * lacks are an error naming the first one, or dropped when skip_unknown (counted in *n_unknown,
 * may be NULL); a word vocabulary reads unknown words as <unk>. NULL + error. */
int32_t *ng_text_encode_file(const char *path, const ng_tokenizer *tok, int skip_unknown, size_t *n, size_t *n_unknown);
/* The mean loss (nats per token) over every position of ids[0..n) that has a next token, each
 * predicted once: non-overlapping windows of T, B at a time, through the language-model graph
 * lg (B,T) of g in eval mode. *count (may be NULL): the positions counted. */
double ng_lm_full_loss(ng_lm_graph *lg, ng_graph *g, int B, int T, const int32_t *ids, size_t n, size_t *count);
/* Code points that ids encode (for bits per character): n for a char tokenizer. */
size_t ng_text_count_chars(const ng_tokenizer *tok, const int32_t *ids, size_t n);
/* Fine-tuning a char model on a new text: the characters of text the vocabulary of *tok lacks.
 * mode 0: added to it (a new tokenizer, and a new model whose embedding rows of them are drawn
 * like at init from seed; *m and *tok are replaced), 1: left (the trainer then drops them from
 * the text), 2: an error naming them. Returns the number of such characters (-1 + error);
 * listed (may be NULL) receives up to 40 of them, quoted ('x' or U+0001). */
int ng_vocab_extend(ng_model **m, ng_tokenizer **tok, const char *text, size_t len, int mode, uint64_t seed, char *listed, size_t cap);

/* ------------------------------------------------------------------ training (src/train/) */
/* A trainer runs one training run of a model: the loop (steps of a text kind, epochs of an image
 * kind, a GAN's alternating D and G steps), evaluation, metrics (DIR/metrics.jsonl), atomic
 * checkpoints with the training state (ng_checkpoint_save's "train" metadata, versioned and
 * checked when resumed), sample pictures of image kinds (DIR/samples/), a numerical fault stop
 * (a NaN/Inf loss or gradient stops the run before anything is saved, naming the tensor) and a
 * stop on request (a checkpoint is saved; the run resumes exactly where it stopped). */
typedef struct ng_trainer ng_trainer;
enum { NG_STOPPED = 1 };   /* ng_trainer_run: stopped on request, the checkpoint saved */

/* What a run trains on and with. ng_train_defaults fills a kind's defaults (SPEC.md); set the
 * fields you change and mark them in `given`: a resumed run takes those over its saved ones. */
typedef struct {
    const char *data;         /* text kinds: a UTF-8 file; image kinds: fashion-mnist, mnist, a
                                 folder of IDX files or of pictures. A resumed run: NULL = the saved one */
    uint64_t seed;            /* initialisation (by the caller), batches, dropout, noise */
    int batch_size;
    float lr;
    int detect_anomaly;       /* check every op's output and gradients for NaN/Inf (slower) */
    /* text kinds: a run of `steps` AdamW steps, linear warmup then cosine decay to min_lr */
    int steps, warmup, eval_every, eval_iters, log_every;
    int no_final_eval;        /* skip the loss on the whole val split at the end */
    float min_lr, weight_decay, grad_clip, dropout;   /* dropout: the model's, for this run (NG_SET_DROPOUT) */
    /* image kinds: a run of `epochs` (Adam) */
    int epochs, max_batches;  /* max_batches: at most this many batches an epoch (0: all) */
    int image_size;           /* folders of pictures: brought to image_size x image_size */
    float beta1, beta2;
    float noise; int noise_mask;   /* DAE: gaussian noise of std `noise` (0) or pixels masked with probability `noise` (1) */
    /* a new text model (ng_trainer_create): its tokenizer, built from the data */
    int tokenizer;            /* ng_tok_kind: NG_TOK_CHAR (default) or NG_TOK_WORD */
    int vocab_size;           /* word tokenizer: the most frequent words kept (8192) */
    unsigned given;           /* NG_SET_* */
} ng_train_settings;
enum {
    NG_SET_STEPS = 1 << 0, NG_SET_BATCH = 1 << 1, NG_SET_LR = 1 << 2, NG_SET_MIN_LR = 1 << 3, NG_SET_WARMUP = 1 << 4,
    NG_SET_WEIGHT_DECAY = 1 << 5, NG_SET_GRAD_CLIP = 1 << 6, NG_SET_EVAL_EVERY = 1 << 7, NG_SET_EVAL_ITERS = 1 << 8,
    NG_SET_LOG_EVERY = 1 << 9, NG_SET_SEED = 1 << 10, NG_SET_DROPOUT = 1 << 11, NG_SET_EPOCHS = 1 << 12
};
void ng_train_defaults(ng_model_kind kind, ng_train_settings *s);
/* SPEC.md's named configurations of text models ("baby", "shakespeare-char", "bigram"): the
 * model's kind, block size, layers, heads, width and dropout into c (other fields kept) and the
 * run's batch, learning rates, warmup, steps and evaluation into s. NG_ERR + error for another name. */
int ng_train_preset(const char *name, ng_model_config *c, ng_train_settings *s);
/* The preset a kind starts from (gpt: "baby", bigram: "bigram"), NULL for image kinds. */
const char *ng_train_default_preset(ng_model_kind kind);

/* A new run of a new model of config cfg on s->data, written to the directory out (a checkpoint
 * there is refused unless force): a text kind's tokenizer is built from the data (s->tokenizer,
 * s->vocab_size; cfg's vocab_size is set from it), an image kind takes the data's picture shape
 * (cfg's c, h, w; a classifier its classes); the model is initialised from s->seed, and refused
 * before it is allocated when the run would not fit in memory. The trainer owns the model and
 * tokenizer. NULL + error. */
ng_trainer *ng_trainer_create(const ng_model_config *cfg, const ng_train_settings *s, const char *out, int force);
/* A new run of m (initialised, or pre-trained: fine-tuning) with tok (text kinds; both stay the
 * caller's) on s->data, written to the directory out (a checkpoint there is refused unless
 * force). Reads the data, checks the settings and that the run fits in memory, prepares out,
 * builds the graphs and optimizers; NULL + error. */
ng_trainer *ng_trainer_new(ng_model *m, ng_tokenizer *tok, const ng_train_settings *s, const char *out, int force);
/* The run saved in dir, continued into out (NULL: dir): its model, tokenizer, settings (the
 * fields of s marked given override the saved ones; s may be NULL), position, RNG and optimizer
 * moments. The trainer owns the model and tokenizer it loads. NULL + error (the saved state is
 * checked as a flag would be: a setting out of its range names its key). */
ng_trainer *ng_trainer_resume(const char *dir, const ng_train_settings *s, const char *out);
void ng_trainer_free(ng_trainer *t);
ng_model *ng_trainer_model(ng_trainer *t);
const ng_tokenizer *ng_trainer_tokenizer(const ng_trainer *t);
const ng_train_settings *ng_trainer_settings(const ng_trainer *t);

/* What the callback is told (record: the metrics.jsonl line written, as JSON). */
typedef enum {
    NG_TRAIN_STEP,      /* a step (text) or a batch (images) is done: step, steps, loss, lr, items, seconds */
    NG_TRAIN_LOG,       /* text: the mean loss of the last log_every steps was logged (record) */
    NG_TRAIN_EVAL,      /* text: train and val loss estimates (record) */
    NG_TRAIN_EPOCH,     /* images: an epoch's losses (record) */
    NG_TRAIN_SAVED,     /* a checkpoint was written (step: the step, or epoch: the epochs done) */
    NG_TRAIN_NOTE       /* something the user should know (message): a warning, data skipped */
} ng_train_event_kind;
typedef struct {
    ng_train_event_kind kind;
    long step, steps;         /* text: steps done (this step's number), of all; images: batches
                                 done in this epoch, of the epoch's */
    int epoch, epochs;        /* images: the epoch (0-based), of all */
    double loss, lr;          /* STEP: the step's loss (the GAN: G's), its learning rate */
    double seconds;           /* STEP: the step's time */
    long items;               /* STEP: tokens or images of the step */
    const char *record;       /* LOG, EVAL, EPOCH */
    const char *message;      /* NOTE */
} ng_train_event;
typedef void (*ng_train_callback)(const ng_train_event *e, void *ctx);
void ng_trainer_set_callback(ng_trainer *t, ng_train_callback cb, void *ctx);
/* The run stops after the step that sees *flag non-zero (a signal handler may set it), saving a
 * checkpoint; ng_trainer_run then returns NG_STOPPED. */
void ng_trainer_set_stop_flag(ng_trainer *t, volatile int *flag);

/* About a run, before (and after) ng_trainer_run. */
typedef struct {
    int64_t n_params;         /* every trainable block */
    int64_t n_train, n_val;   /* text: tokens of the train and val splits; images: train and test images */
    int batch_size, block_size;   /* images: block_size 0 */
    int start;                /* the step (text) or epochs done (images) the run starts from */
    int start_batch;          /* images: resumed inside an epoch, the batch (1-based) it continues at; else 0 */
    /* after ng_trainer_run */
    long steps_run;           /* steps or batches this call ran */
    double seconds;           /* this call's time */
    double full_val_loss;     /* text: the loss on the whole val split at the end; NaN when not computed */
    size_t full_val_count;    /* its positions */
    int nothing_to_do;        /* the run was already at its end */
} ng_train_info;
void ng_trainer_info(const ng_trainer *t, ng_train_info *info);
/* Train to the end: NG_OK; NG_STOPPED (see ng_trainer_set_stop_flag); NG_ERR + error: a failed
 * write, or a numerical fault ("step 8 of 60: the gradient of wte.weight has 864 NaN values ...;
 * stopped without saving: the checkpoint in DIR (step 5) is kept"). */
int ng_trainer_run(ng_trainer *t);
/* The checks a resumed run makes of a checkpoint's training state (its "train" metadata), for
 * a text (text = 1) or image kind: NG_OK, or NG_ERR naming the first key out of range. */
int ng_train_state_check(const char *json, int text);

/* ------------------------------------------------------------------ image data and pictures */
/* A set of images, pixels as floats in [0, 1], layout (n, c, h, w); labels optional. */
typedef struct {
    int n, c, h, w;
    float *pixels;       /* n*c*h*w floats (64-byte aligned; free with ng_images_free) */
    uint8_t *labels;     /* n class ids, or NULL */
    int n_classes;       /* 0 when unlabelled */
} ng_images;
void ng_images_free(ng_images *im);
/* An IDX image file (idx3-ubyte, raw or .gz): magic, dimensions and size checked against the
 * file; pixels scaled to [0,1]. Error names the file and what is wrong. */
int ng_idx_load_images(const char *path, ng_images *out);
/* The matching IDX label file (idx1-ubyte): count must equal im->n; labels < 256. */
int ng_idx_load_labels(const char *path, ng_images *im);
/* A data set by name: "fashion-mnist" or "mnist" (Debian's /usr/share/datasets/<name>/), a
 * folder with the standard IDX names (train-images-idx3-ubyte[.gz], t10k-..., labels), or a
 * folder of PNG/JPEG images (then size and channels apply: each image is resized so its
 * shorter side is `size`, centre-cropped to size x size, converted to `channels` 1 or 3; the
 * files, sorted by name, are split 90% train / 10% test). split: "train" or "test". */
int ng_dataset_load(const char *spec, const char *split, int size, int channels, ng_images *out);
/* Write an 8-bit PNG (channels 1, 3 or 4), atomically. */
int ng_png_write(const char *path, const uint8_t *pix, int w, int h, int channels);
/* Write n images (c, h, w) with values in [lo, hi] as a grid PNG of ncol columns with a
 * 2-pixel border, each image scaled up by `zoom`. */
int ng_png_grid(const char *path, const float *imgs, int n, int c, int h, int w, int ncol, int zoom, float lo, float hi);
/* The checks of ng_png_grid that need no pixels (sizes, and the grid's size limit), to refuse a
 * picture that cannot be written before computing it. NG_OK or NG_ERR + error. */
int ng_png_grid_check(const char *path, int n, int c, int h, int w, int ncol, int zoom);

/* ------------------------------------------------------------------ image model graphs */
/* An auto-encoder / VAE graph over B images: fill x (B,c*h*w) (and, for a DAE, x_in with the
 * corrupted images; for a VAE, eps (B,latent) with N(0,1)); loss = summed over the batch
 * (divide by B for per image): reconstruction BCE (+ KL for a VAE). */
typedef struct {
    ng_tensor *x, *x_in, *eps;   /* inputs (x_in == x unless DAE) */
    ng_tensor *recon_logits;     /* (B, c*h*w) */
    ng_tensor *mu, *logvar;      /* VAE only */
    ng_tensor *rec, *kl, *loss;  /* scalars (kl NULL unless VAE) */
} ng_ae_graph;
int ng_ae_build(ng_model *m, ng_graph *g, int B, ng_ae_graph *out);
/* A GAN's discriminator over images x (B,c,h,w) -> logits (B,1), added to graph g. */
ng_tensor *ng_gan_discriminator(ng_model *m, ng_graph *g, ng_tensor *x);
/* The denoising AE's corruption of n pixels in [0,1]: Gaussian noise of std `level` clipped
 * to [0,1] (mask 0), or each pixel zeroed with probability `level` (mask 1). */
void ng_dae_corrupt(float *dst, const float *src, int64_t n, int mask, float level, ng_rng *r);
/* The decoder alone: z (B,latent) -> images (VAE/AE: in [0,1], (B, c*h*w); GAN: the
 * generator, in [-1,1], (B,c,h,w)). */
typedef struct { ng_tensor *z, *images; } ng_decoder_graph;
int ng_decoder_build(ng_model *m, ng_graph *g, int B, ng_decoder_graph *out);
/* A classifier's graph over B images: fill x (B,c,h,w) in [0,1] and labels (B) i32;
 * logits (B,n_classes), features (B,hidden) (the penultimate layer, after its ReLU),
 * loss = mean cross-entropy. Eval mode: ng_graph_set_training(g, 0). */
typedef struct {
    ng_tensor *x, *labels;
    ng_tensor *logits, *features, *loss;
} ng_classifier_graph;
int ng_classifier_build(ng_model *m, ng_graph *g, int B, ng_classifier_graph *out);

/* Frechet distance between Gaussians (FID with a classifier's features).
 * ng_gaussian_fit: mean (d) and covariance (d x d, divided by n-1) of n feature rows of d
 * floats (n >= 2). ng_frechet_distance: ||mu1-mu2||^2 + Tr(S1 + S2 - 2 sqrt(S1 S2)), with
 * Tr sqrt(S1 S2) from the eigenvalues of the symmetric sqrt(S1) S2 sqrt(S1) (Jacobi);
 * NAN + error if d < 1 or out of memory. ng_sym_eigen: eigenvalues (w, d) and eigenvectors
 * (columns of V, d x d row-major; may be NULL) of the symmetric d x d matrix A (not changed)
 * by cyclic Jacobi rotations. */
int ng_gaussian_fit(const float *feats, int n, int d, double *mu, double *S);
double ng_frechet_distance(const double *mu1, const double *S1, const double *mu2, const double *S2, int d);
int ng_sym_eigen(const double *A, int d, double *w, double *V);

/* ------------------------------------------------------------------ checkpoints */
/* One checkpoint format for every kind. DIR/model.safetensors: every parameter block and the
 * buffers (BatchNorm running statistics) under their state_dict names; __metadata__ holds
 * "format" = "nanogen", the config JSON (key "config" for a text kind, with "tokenizer" (the
 * tokenizer JSON); key "image_config" for an image kind), "train" (the training state JSON,
 * opaque here), and with optimizers "optim_t" (their step count).
 * DIR/optim.safetensors: the AdamW moments of each block's optimizer as "m.<name>" /
 * "v.<name>", metadata "t" (the step count). Both written atomically, the optimizer first; the
 * optimizer file it replaces is kept as DIR/optim.prev.safetensors, so that a run killed
 * between the two writes still has the moments that match the model (the loaders pick the file
 * whose "t" equals "optim_t"). Loaders compare the parameter count a config needs with the
 * tensors in the file before allocating anything (a hostile config cannot make them allocate
 * gigabytes). */
/* Save model m (tok: its tokenizer, required for a text kind, NULL for an image kind) with the
 * training state train_json (may be NULL) and the optimizers opts (one per block, NULL to save
 * none, or an entry NULL to skip that block). */
int ng_checkpoint_save(const char *dir, ng_model *m, const ng_tokenizer *tok, const char *train_json, ng_adamw *const *opts);
/* Load DIR/model.safetensors (or a .safetensors path) of any kind: a new model (caller frees),
 * its tokenizer when tok is non-NULL (NULL for an image kind), and the "train" metadata when
 * train_json is non-NULL (malloc'd, NULL if absent). Every tensor is checked against the
 * config's shapes. */
int ng_checkpoint_load(const char *path, ng_model **m, ng_tokenizer **tok, char **train_json);
/* Load the AdamW moments saved beside a model into opts (one per block of the same layout, an
 * entry NULL to skip): from optim.safetensors, or optim.prev.safetensors when only that one
 * matches the model's "optim_t". On failure the moments are zero and t is 0 (NG_ERR + error). */
int ng_checkpoint_load_optim(const char *path, ng_model *m, ng_adamw *const *opts);
/* The model file of a checkpoint path (DIR -> DIR/model.safetensors), malloc'd. */
char *ng_checkpoint_model_path(const char *path);

/* ------------------------------------------------------------------ files */
/* Atomic file writing: ng_atomic_open creates "<path>.tmp" (f->fp is yours to write);
 * ng_atomic_commit(f, ok) flushes, fsyncs, closes and renames it over path, then fsyncs the
 * directory; with ok == 0, or on any failure, the .tmp is removed and an old file at path is
 * left as it was. Both return NG_OK or NG_ERR + an error naming the file. */
typedef struct { FILE *fp; char *tmp; const char *path; } ng_atomic_file;
int ng_atomic_open(ng_atomic_file *f, const char *path);
int ng_atomic_commit(ng_atomic_file *f, int ok);
/* fsync the directory that holds path, so that a rename into it is durable. */
int ng_sync_parent_dir(const char *path);
/* Create a directory and its missing parents (like mkdir -p). Error if a part is not a directory. */
int ng_mkdir_p(const char *dir);
/* Read a whole file (malloc'd, NUL-terminated; *len without the NUL). NULL + error. */
char *ng_read_file(const char *path, size_t *len);


/* ------------------------------------------------------------------ inspecting models */
/* (src/infer/inspect.c, src/eval/pca.c: what `nanogen next|embeddings|attention` show.)
 * Next-token probabilities: softmax(logits / temperature) into probs (V floats); temperature 0
 * puts all the mass (1) on the argmax (the lowest id of equals). NG_ERR + error for V < 1, a
 * negative / NaN / infinite temperature, or a NaN / +inf logit. */
int ng_next_probs(const float *logits, int V, float temperature, float *probs);
/* Shannon entropy of a distribution of V probabilities, in bits (0 log 0 = 0). */
double ng_entropy_bits(const float *p, int V);
/* The next-token logits (V floats into logits) after the tokens ids[0..n), run from an empty
 * KV cache; a sequence longer than block_size is cropped to its last block_size tokens. */
int ng_model_next_logits(ng_model *m, const int32_t *ids, int n, float *logits);
/* The attention probabilities of a GPT over ids[0..n), 1 <= n <= block_size: att receives
 * L*H*n*n floats, att[((l*H + h)*n + i)*n + j] = how much position i attends to position j in
 * head h of layer l (each row sums to 1; zero above the diagonal: causal). logits (V floats,
 * may be NULL) receives the next-token logits after the last token. NG_ERR for a bigram. */
int ng_model_attention(ng_model *m, const int32_t *ids, int n, float *att, float *logits);
/* Principal component analysis of n rows of d floats (n >= 2, 1 <= k <= d): the k leading
 * principal axes of the centred rows, by subspace iteration (deterministic; each axis signed so
 * that its largest component is positive). Outputs, each may be NULL: axes (k x d unit vectors,
 * row j = axis j), explained (k: fraction of the total variance along each axis), proj (n x k:
 * the centred rows' coordinates on the axes). */
int ng_pca(const float *x, int n, int d, int k, double *axes, double *explained, double *proj);

/* ---- cli branch: library functions moved out of src/cli ---- */

/* Plotting a run's metrics (src/io/plot.c, `nanogen plot`): the curves of metrics.jsonl (one
 * JSON object a line) as an SVG chart. x: "step" when the file has it, else "epoch" (or x).
 * Series: the loss-like keys (loss, train_loss, val_loss, full_val_loss, test_loss, d_loss,
 * g_loss, any other *_loss) and the GAN's d_real, d_fake (on a right axis [0, 1], dashed), or
 * exactly the comma-separated keys. Lines that are not JSON objects are skipped with a warning
 * (through warn, when given); a step logged again (a resumed run) replaces what followed it. */
typedef struct {
    const char *path;    /* a run directory (its metrics.jsonl) or the .jsonl file itself */
    const char *out;     /* the SVG to write; NULL: <run directory>/loss.svg */
    const char *keys;    /* "k1,k2": exactly these numeric keys; NULL: the default series */
    const char *x;       /* "step", "epoch", or NULL (step when the file has it) */
    const char *title;   /* NULL: the run directory's name */
    int log_y;           /* logarithmic y axis (values <= 0 left out, with a warning) */
    void (*warn)(const char *msg, void *ctx);   /* "warning: ..." lines; may be NULL */
    void *ctx;
} ng_plot_settings;
typedef struct {
    char out[4096];      /* the file written */
    char xkey[16];       /* the x axis */
    int n_series;
    char keys[1024];     /* the series drawn, "loss, val_loss" */
} ng_plot_result;
int ng_plot_metrics(const ng_plot_settings *s, ng_plot_result *r);

/* Which kind of model the checkpoint at path (DIR or its model.safetensors) holds, from its
 * metadata alone (src/io/checkpoint_kind.c): NG_OK, or NG_ERR + error (no checkpoint there,
 * not a nanogen checkpoint, a config that does not parse). */
int ng_checkpoint_kind(const char *path, ng_model_kind *kind);

/* Image models (ae, dae, vae, gan): generation and inspection (src/infer/images.c). Pictures
 * are n x (c*h*w) floats, a VAE's / AE's in [0,1], a GAN's in [-1,1]; what returns a pointer
 * returns a malloc'd array (the caller frees it), or NULL + error. */
/* What a checkpoint's training state says about its data (defaults: size 28, noise 0.3). */
typedef struct { char data[4096]; int size; float noise; int noise_mask; } ng_image_train_info;
/* Load an ae, dae, vae or gan checkpoint; errors say what DIR is when it is not one (missing,
 * a text model, a classifier), naming `what` (the command or flag asking). t may be NULL. */
int ng_image_model_load(const char *dir, const char *what, ng_model **m, ng_image_train_info *t);
/* The test split the model was trained beside (data: another data set, or NULL), checked
 * against the model's picture shape; *spec: the data set used. */
int ng_image_test_load(const ng_model *m, const ng_image_train_info *t, const char *data, ng_images *te, const char **spec);
/* Fashion-MNIST's / MNIST's class names for a data set spec (n_classes <= 10), else NULL. */
const char *const *ng_dataset_class_names(const char *spec, int n_classes);
/* The decoder over n latents z (n x latent): n pictures (eval mode). */
float *ng_image_decode(ng_model *m, const float *z, int n);
/* The encoder over n pictures x in [0,1]: n x latent codes (AE/DAE: the code; VAE: the mean). */
float *ng_image_encode(ng_model *m, const float *x, int n);
/* n pictures from the prior: z ~ N(0,1) from seed, decoded (vae, gan). */
float *ng_image_sample(ng_model *m, int n, uint64_t seed);
/* Reconstructions of n pictures x: decode(encode(x)); a DAE encodes a corrupted copy (t's
 * noise, from seed), written to noisy (n pictures) when given. */
float *ng_image_reconstruct(ng_model *m, const float *x, int n, const ng_image_train_info *t, uint64_t seed, float *noisy);
/* The decoder over an n x n grid of Gaussian quantiles (5%..95%) of a 2-D latent (vae or gan):
 * row i from high z2 (top) to low, column j from low z1 to high. ng_image_manifold_check: the
 * model's part of that check alone (kind and latent size). */
int ng_image_manifold_check(const ng_model *m);
float *ng_image_manifold(ng_model *m, int n);
/* rows linear walks of steps >= 2 pictures in latent space, as a grid of rows x cols
 * pictures: te NULL: between two latents z ~ N(0,1) from seed (vae, gan; cols = steps); else
 * between the latents of two distinct random test pictures of te (not a gan), shown at both
 * ends of the row (cols = steps + 2). */
float *ng_image_interpolate(ng_model *m, const ng_images *te, int rows, int steps, uint64_t seed);
/* The latents of n pictures x as 2-D points (px, py, n each): a 2-D latent as is, a 1-D one
 * with y = 0, a wider one projected to its first two principal components (var: the fraction
 * of the variance each explains; 0 otherwise). */
int ng_image_latents_2d(ng_model *m, const float *x, int n, double *px, double *py, double var[2]);
/* The test loss per image of an ae, dae or vae as training computes it: reconstruction BCE
 * summed over the pixels (*rec) and the VAE's KL (*kl; one draw of z per picture from seed; a
 * DAE's corruption as in training, from seed). */
int ng_image_test_loss(ng_model *m, const ng_images *te, const ng_image_train_info *t, uint64_t seed, double *rec, double *kl);
/* A GAN's discriminator on the test pictures of te and on n_fake samples (ng_image_sample's
 * from seed): sums of D's probabilities and of its right calls (real > 0.5, fake < 0.5). */
typedef struct { double d_real, d_fake, acc_real, acc_fake; int n_real, n_fake; } ng_gan_d_stats;
int ng_gan_d_eval(ng_model *m, const ng_images *te, int n_fake, uint64_t seed, ng_gan_d_stats *st);

/* A GAN's quality through a classifier's penultimate features (src/eval/quality.c; `nanogen
 * eval GAN_DIR --classifier CLF_DIR`): FID of n generated pictures (eval mode, [-1,1] -> [0,1])
 * vs n real test pictures of the classifier's data set (else the GAN's, else fashion-mnist),
 * vs n real train pictures, the untrained generator's FID (fresh init from the GAN's seed),
 * the real train/test floor; the classes the classifier sees in the samples. */
typedef struct {
    int n, features, n_classes, n_correct;   /* n_correct: of the n real test pictures */
    double fid, fid_train, fid_untrained, fid_floor, seconds;
    uint64_t untrained_seed;
    char data[4096];                          /* the data set of the real pictures */
    int *hist;   /* 2 x n_classes: the samples' predicted classes, then the real test pictures' */
} ng_gan_quality_report;
int ng_gan_quality(const char *gan_dir, const char *clf_dir, int n, uint64_t seed, ng_gan_quality_report *r);
void ng_gan_quality_free(ng_gan_quality_report *r);
/* NG_OK when the classifier FID applies to a GAN of this shape (28x28x1), else NG_ERR + why. */
int ng_gan_fid_check(const ng_model_config *gc);

/* Inspecting a text model (src/infer/inspect.c; `nanogen next`, `embeddings`, `attention`).
 * The next-token table after ids[0..n): the context the model sees (a GPT: the last
 * block_size tokens; a bigram: the last one), the logits, the probabilities at each of nt
 * temperatures (probs[k*V + id]), the ids by logit descending (order; ties: lower id
 * first), the entropy in bits and the mass outside the first `top` rows at each temperature. */
#define NG_NEXT_MAX_TEMPS 8
typedef struct {
    int V, ctx, nt, top;
    float temps[NG_NEXT_MAX_TEMPS];
    float *logits, *probs;
    int *order;
    double entropy[NG_NEXT_MAX_TEMPS], other[NG_NEXT_MAX_TEMPS];
} ng_next_table;
int ng_next_table_compute(ng_model *m, const int32_t *ids, size_t n, const float *temps, int nt, int top, ng_next_table *t);
void ng_next_table_free(ng_next_table *t);
/* A token's kind for colouring (Unicode classes of its first code point): a char model's
 * (vowels, consonants, capital vowels, capital consonants, other scripts' letters, digits,
 * punctuation, spaces, other: an accented letter is a vowel or consonant of its base letter)
 * or a word model's (word = 1: lowercase, capitalised, other scripts, numbers, punctuation,
 * <unk>/newline, other); ng_token_kind_names: their names (*n of them). */
int ng_token_kind(const char *token, int word);
const char *const *ng_token_kind_names(int word, int *n);
/* Whether a token is whitespace only. */
int ng_token_is_space(const char *token);
/* The token embedding table (gpt: wte; bigram: its logit table's rows) of up to N tokens
 * projected to 2-D by PCA. Which tokens: given a text (ids, n_text), its N most frequent;
 * else a word model's N most frequent words (ids 1..N); a char model's whole vocabulary when
 * it fits, else N tokens letters first (a à á â ã b c ç ...). */
typedef enum { NG_EMB_BY_COUNT, NG_EMB_WORDS, NG_EMB_ALL, NG_EMB_LETTERS_FIRST } ng_emb_order;
typedef struct {
    int n, dim;
    ng_emb_order order;
    int *ids, *kind;          /* n tokens and their ng_token_kind */
    double *x, *y;            /* their coordinates on the two principal axes */
    double explained[2];      /* the fraction of the variance along each */
} ng_embeddings_view;
int ng_embeddings_2d(ng_model *m, const ng_tokenizer *tok, const int32_t *text, size_t n_text, int N, ng_embeddings_view *v);
void ng_embeddings_view_free(ng_embeddings_view *v);
/* One head's n x n attention map (ng_model_attention) summed up: out[0] the mean weight on
 * the token itself, out[1] on the previous token, out[2] on the first token (both over
 * positions 1..n-1), out[3] the mean distance looked back, in tokens. */
void ng_attention_head_summary(const float *att, int n, double out[4]);

/* Attention maps as a PNG (src/io/attention_png.c, `nanogen attention`): the panels of layers
 * [l0, l1) x heads [h0, h1) of ng_model_attention's maps (att: n_layer x n_head x n x n), one
 * heat map each (row = a token, column = the token it attends to; masked above the diagonal),
 * labelled with the n tokens' labels (a token "\n" drawn as a return arrow, whitespace in
 * blue; column labels upright when each is one glyph, else rotated), a title, subtitle and a
 * colour bar. *width, *height: the picture's size. */
typedef struct {
    const float *att;
    int n_layer, n_head, n, l0, l1, h0, h1;
    const char *const *tokens, *const *labels;
    int upright;
    const char *title, *subtitle;
} ng_attention_plot;
int ng_attention_png(const char *path, const ng_attention_plot *p, int *width, int *height);

/* The tokens of ng_embeddings_2d as an SVG scatter (src/io/embeddings_svg.c, `nanogen
 * embeddings`): a point per token with its label (labels: n strings), coloured by kind
 * (ng_token_kind of a char or word model), axes the two principal components with their
 * share of the variance, a title and subtitle. */
int ng_embeddings_svg(const char *path, const ng_embeddings_view *v, const char *const *labels, int word, const char *title, const char *subtitle);

/* The latents of the first n test pictures of te (all for n <= 0) as an SVG scatter coloured by
 * class (src/io/latents_svg.c, `nanogen sample --scatter`; Fashion-MNIST / MNIST class names
 * from spec, the data set), titled with the model's kind. */
int ng_image_scatter_svg(const char *path, ng_model *m, const ng_images *te, const char *spec, int n);

#ifdef __cplusplus
}
#endif
#endif

/* kvcache.c - incremental inference with a KV cache, llama2.c style: one token per stream per
 * step, keys and values of earlier positions kept, so a token costs O(context) not O(context^2).
 * Streams advance together (same position), so each linear is one small GEMM over streams; or
 * (ng__infer_feed, the pool of src/infer/pool.c) each stream at its own position, several
 * positions of some streams and one of others in one pass. */
#include "infer/kvcache.h"
#include "ops/kernels/fastmath.h"
#include "ops/kernels/kernels.h"
#include "models/model_internal.h"

#include <math.h>
#include <omp.h>
#include <sched.h>
#include <stdatomic.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif
#include <stdlib.h>
#include <string.h>

/* one thread's arrival count at the one-stream step's meeting points, alone on its cache line */
typedef struct { _Alignas(64) atomic_ulong n; } sync_slot;

struct ng_infer {
    ng_model *m;
    int S, pos, keep;
    int rows;               /* rows the activation buffers hold: positions x streams per block */
    int32_t *hist;          /* (S, T) tokens at positions 0..pos-1 */
    float *kc, *vc;         /* key cache (L, S, H, hs, T): transposed, so that the scores of a query
                               against all positions are one SIMD loop; value cache (L, S, T, C) */
    float *x, *xn, *qkv, *y, *f, *logits;  /* (rows,C) (rows,C) (rows,3C) (rows,C) (rows,4C) (S,V) */
    float *att;             /* (L, S, H, T) attention probabilities of the last position */
    float *wt;              /* the weights packed for the GEMM kernel, copied at creation: per
                               layer c_attn, c_proj, c_fc, mlp_proj, then the head */
    int32_t *blk;           /* (rows) tokens of one block of a cache rebuild */
    float *xt;              /* (nthreads, 2C) each thread's own x and LayerNorm output (one stream) */
    int nthreads;           /* threads the one-stream step may use (xt's rows) */
    int split;              /* one stream whose step and rebuilds are split over the threads: S = 1
                               and weights worth splitting (NG_DECODE_SPLIT_MIN), whatever the
                               thread count (one thread runs the same arithmetic) */
    float *part;            /* (rows, C) the projections' outputs in a one-stream cache rebuild */
    float *dw;              /* one stream: each head's share of every weight (its unit, see
                               the STEP pass), copied in the order the STEP pass reads them */
    size_t *dw_at;          /* (H + 1) where unit u's share starts in dw */
    float *tree;            /* (2, 4H, C) the units' partial sums and the nodes of their summation
                               tree that one thread computes (the STEP pass): attention, then MLP */
    float *tree_own;        /* (nthreads, 4H, C) each thread's copies of the nodes above its own */
    int *leaf;              /* (H) the tree node of unit u */
    sync_slot *sync;        /* (nthreads) the one-stream step's barrier (meet) */
    int cpus;               /* CPUs this process may run on: meet spins only when every thread has one */
    unsigned long met;      /* meeting points passed so far */
    /* streams at their own positions (ng__infer_feed) */
    int own_pos;            /* fed by ng__infer_feed: spos holds the positions, not pos */
    int *spos, *skeep;      /* (S) each stream's position and the tokens it keeps when its context is full */
    int *sfrom;             /* (S) the first position a feed computes, per listed stream */
    unsigned *smark;        /* (S) the feed that last listed each stream (a stream listed twice is refused) */
    unsigned feeds;         /* feeds so far */
    int *rst, *rpos, *rout; /* (rows) an ALL pass's rows: stream, position, output row of the
                               logits (-1: none; each stream's last row in the pass has one) */
    int32_t *rtok;          /* (rows) their tokens (a feed) */
};

/* a bias's values, or NULL for a model without biases (cfg.no_bias): every kernel below takes
 * NULL as "add nothing" */
static inline const float *bias_of(const ng_tensor *b) { return b ? b->data : NULL; }
static inline const float *bias_at(const ng_tensor *b, size_t at) { return b ? b->data + at : NULL; }

/* the model's GELU (cfg.gelu) over n values, in place or not */
static inline void gelu(const ng_infer *s, float *y, const float *x, int64_t n) {
    if (s->m->cfg.gelu == NG_GELU_EXACT) ng_k_gelu_exact(y, x, n);
    else ng_k_gelu(y, x, n);
}

/* weights per token from which the one-stream step is split over threads */
#define NG_DECODE_SPLIT_MIN 65536

static int decode_weights(ng_infer *s);
static void tree_leaves(int *leaf, int id, int a, int b);

/* the packed copy of weight `which` (0 c_attn, 1 c_proj, 2 c_fc, 3 mlp_proj) of layer l; l = L: the head */
static const float *packed(const ng_infer *s, int l, int which) {
    const int C = s->m->cfg.n_embd;
    const size_t sz[4] = {ng_packed_size(3 * C, C), ng_packed_size(C, C), ng_packed_size(4 * C, C), ng_packed_size(C, 4 * C)};
    const float *p = s->wt + (size_t)l * (sz[0] + sz[1] + sz[2] + sz[3]);
    for (int w = 0; w < which; w++) p += sz[w];
    return p;
}

/* packs weight w (out, in) at dst; returns the next free float */
static float *pack_into(float *dst, const float *w, int out, int in) {
    ng_pack_weights(dst, w, out, in);
    return dst + ng_packed_size(out, in);
}

int ng__infer_fits(const ng_model_config *c, int n_streams, double *need, double *avail) {
    const double per = 4.0 * (2.0 * c->n_layer * c->block_size * c->n_embd + (double)c->n_layer * c->n_head * c->block_size +
                              10.0 * c->n_embd + c->vocab_size + c->block_size);
    *need = per * n_streams;
    *avail = (double)ng_memory_available();
    return !(*avail > 0 && *need > 0.8 * *avail);
}

ng_infer *ng_infer_new(ng_model *m, int n_streams) {
    if (n_streams < 1 || n_streams > 65536) { ng_set_error("--batch %d out of range [1, 65536]", n_streams); return NULL; }
    ng_infer *s = calloc(1, sizeof *s);
    if (!s) { ng_set_error("out of memory creating a sampler"); return NULL; }
    const ng_model_config *c = &m->cfg;
    const size_t S = n_streams, T = c->block_size, C = c->n_embd, L = c->n_layer, V = c->vocab_size, H = c->n_head;
    s->m = m; s->S = n_streams; s->keep = c->block_size / 2;
    /* a cache rebuild runs several positions per block as GEMMs: up to 1024 rows, at least S */
    size_t rows = S * T < 1024 ? S * T : (S > 1024 ? S : 1024);
    s->rows = (int)rows;
    s->hist = ng_alloc_aligned(S * T * sizeof(int32_t), "sampling history");
    s->logits = ng_alloc_aligned(S * V * sizeof(float), "logits");
    s->spos = calloc(S, sizeof(int));
    s->skeep = malloc(S * sizeof(int));
    s->sfrom = malloc(S * sizeof(int));
    s->smark = calloc(S, sizeof(unsigned));
    int ok = s->hist && s->logits && s->spos && s->skeep && s->sfrom && s->smark;
    for (size_t i = 0; ok && i < S; i++) s->skeep[i] = s->keep;
    if (c->kind == NG_MODEL_GPT && ok) {
        s->kc = ng_alloc_aligned(L * S * T * C * sizeof(float), "key cache");
        s->vc = ng_alloc_aligned(L * S * T * C * sizeof(float), "value cache");
        s->x = ng_alloc_aligned(rows * C * sizeof(float), "activations");
        s->xn = ng_alloc_aligned(rows * C * sizeof(float), "activations");
        s->qkv = ng_alloc_aligned(rows * 3 * C * sizeof(float), "activations");
        s->y = ng_alloc_aligned(rows * C * sizeof(float), "activations");
        s->f = ng_alloc_aligned(rows * 4 * C * sizeof(float), "activations");
        s->att = ng_alloc_aligned(L * S * H * T * sizeof(float), "attention");
        s->blk = ng_alloc_aligned(rows * sizeof(int32_t), "token block");
        s->rtok = ng_alloc_aligned(rows * sizeof(int32_t), "token block");
        s->rst = malloc(rows * sizeof(int));
        s->rpos = malloc(rows * sizeof(int));
        s->rout = malloc(rows * sizeof(int));
        s->nthreads = omp_get_max_threads();
        s->cpus = ng_cpu_count();
        s->xt = ng_alloc_aligned((size_t)s->nthreads * 2 * C * sizeof(float), "activations");
        s->sync = ng_alloc_aligned((size_t)s->nthreads * sizeof(sync_slot), "thread sync");   /* zeroed: counts 0 */
        s->split = S == 1 && 12.0 * C * C * L >= NG_DECODE_SPLIT_MIN;
        if (s->split) {
            s->part = ng_alloc_aligned(rows * C * sizeof(float), "activations");
            s->tree = ng_alloc_aligned(2 * 4 * H * C * sizeof(float), "partial sums");
            s->tree_own = ng_alloc_aligned((size_t)s->nthreads * 4 * H * C * sizeof(float), "partial sums");
            s->leaf = malloc(H * sizeof(int));
            if (s->leaf) tree_leaves(s->leaf, 1, 0, (int)H);
            if (decode_weights(s)) {
                ng_free_aligned(s->dw);   /* not worth failing for: the step reads the model's weights */
                s->dw = NULL;
            }
        }
        ok = s->kc && s->vc && s->x && s->xn && s->qkv && s->y && s->f && s->att && s->blk && s->xt && s->sync &&
             s->rtok && s->rst && s->rpos && s->rout &&
             (!s->split || (s->part && s->tree && s->tree_own && s->leaf));
        /* a batch of streams and a cache rebuild multiply several rows by each weight: the
         * weights packed once for the GEMM kernel are read as they lie, once for all rows (one
         * stream needs them for its rebuilds only, at the cost of a second copy of the weights) */
        if (ok) {
            const int c = (int)C, v = (int)V;
            size_t n = ng_packed_size(v, c);
            for (size_t l = 0; l < L; l++)
                n += ng_packed_size(3 * c, c) + ng_packed_size(c, c) + ng_packed_size(4 * c, c) + ng_packed_size(c, 4 * c);
            s->wt = ng_alloc_aligned(n * sizeof(float), "packed weights");
            ok = s->wt != NULL;
            float *d = s->wt;
            for (size_t l = 0; ok && l < L; l++) {
                const gpt_block *b = &m->w.gpt.h[l];
                d = pack_into(d, b->c_attn_w->data, 3 * c, c);
                d = pack_into(d, b->c_proj_w->data, c, c);
                d = pack_into(d, b->c_fc_w->data, 4 * c, c);
                d = pack_into(d, b->mlp_proj_w->data, c, 4 * c);
            }
            if (ok) pack_into(d, m->w.gpt.wte->data, v, c);
        }
    }
    if (!ok) { ng_infer_free(s); return NULL; }
    return s;
}

void ng_infer_free(ng_infer *s) {
    if (!s) return;
    float *bufs[] = {s->kc, s->vc, s->x, s->xn, s->qkv, s->y, s->f, s->logits, s->att, s->wt, s->xt, s->part, s->dw,
                     s->tree, s->tree_own};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) ng_free_aligned(bufs[i]);
    ng_free_aligned(s->hist);
    ng_free_aligned(s->blk);
    ng_free_aligned(s->rtok);
    free(s->rst); free(s->rpos); free(s->rout);
    free(s->spos); free(s->skeep); free(s->sfrom); free(s->smark);
    free(s->dw_at);
    free(s->leaf);
    ng_free_aligned(s->sync);
    free(s);
}

void ng_infer_reset(ng_infer *s) {
    s->pos = 0;
    s->own_pos = 0;
    for (int i = 0; i < s->S; i++) s->spos[i] = 0;
}

void ng_infer_set_keep(ng_infer *s, int keep) {
    int T = s->m->cfg.block_size;
    s->keep = keep < 0 ? 0 : keep > T - 1 ? T - 1 : keep;
}

/* y (R,out) = x (R,in) W^T + b with the packed copy of W (a batch of streams, a cache rebuild),
 * whose rows do not depend on each other nor on how many there are (gemm_avx512.c, gemm_avx2.c:
 * threads split the tiles, never the sum over `in`), so a stream's arithmetic is the same whatever
 * runs beside it. One stream (S = 1) takes the GEMV for one to three rows. */
static void linear(const ng_infer *s, float *y, const float *x, int R, const float *W, const float *Wp, const float *b, int in,
                   int out) {
    if (R >= 4 || s->S >= 2) ng_linear_packed(y, x, Wp, b, R, in, out);
    else ng_k_linear(y, x, W, b, R, in, out);
}

/* x[i] += d[i] */
static void add_inplace(float *restrict x, const float *restrict d, int64_t n) {
    #pragma omp simd
    for (int64_t i = 0; i < n; i++) x[i] += d[i];
}

#ifdef __AVX512F__
/* the first n of 16 lanes (n <= 0: none) */
static inline __mmask16 lanes(int n) { return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1); }
#endif

/* one head h of stream i in layer l: the query q against the cached positions 0..nu-1; the
 * probabilities go to p (nu), the output (hs) to y. With AVX-512 the scores of 64 positions and
 * the output's 16-wide slices stay in registers (the sums over positions in four interleaved
 * partial sums); the plain loops are the same arithmetic in memory. Both are checked against
 * the graph's attention (tests/test_model.c: KV cache vs graph). */
static void attend_head(const ng_infer *s, int l, int i, int h, const float *q, int nu, float *restrict p, float *restrict y) {
    const ng_model_config *c = &s->m->cfg;
    const int T = c->block_size, C = c->n_embd, hs = C / c->n_head;
    const float scale = 1.0f / sqrtf((float)hs);
    const size_t lane = ((size_t)l * s->S + i) * T * C;   /* stream i of layer l in the caches */
    const float *kt = s->kc + lane + (size_t)h * hs * T, *vi = s->vc + lane + (size_t)h * hs;
#ifdef __AVX512F__
    for (int u0 = 0; u0 < nu; u0 += 64) {
        const __mmask16 m0 = lanes(nu - u0), m1 = lanes(nu - u0 - 16), m2 = lanes(nu - u0 - 32), m3 = lanes(nu - u0 - 48);
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
        for (int d = 0; d < hs; d++) {
            const __m512 qd = _mm512_set1_ps(q[d] * scale);
            const float *kd = kt + (size_t)d * T + u0;
            a0 = _mm512_fmadd_ps(qd, _mm512_maskz_loadu_ps(m0, kd), a0);
            a1 = _mm512_fmadd_ps(qd, _mm512_maskz_loadu_ps(m1, kd + 16), a1);
            a2 = _mm512_fmadd_ps(qd, _mm512_maskz_loadu_ps(m2, kd + 32), a2);
            a3 = _mm512_fmadd_ps(qd, _mm512_maskz_loadu_ps(m3, kd + 48), a3);
        }
        _mm512_mask_storeu_ps(p + u0, m0, a0);
        _mm512_mask_storeu_ps(p + u0 + 16, m1, a1);
        _mm512_mask_storeu_ps(p + u0 + 32, m2, a2);
        _mm512_mask_storeu_ps(p + u0 + 48, m3, a3);
    }
#else
    #pragma omp simd
    for (int u = 0; u < nu; u++) p[u] = 0;
    for (int d = 0; d < hs; d++) {
        const float qd = q[d] * scale, *kd = kt + (size_t)d * T;
        #pragma omp simd
        for (int u = 0; u < nu; u++) p[u] += qd * kd[u];
    }
#endif
    float mx = -INFINITY, sum = 0;
    #pragma omp simd reduction(max : mx)
    for (int u = 0; u < nu; u++) mx = p[u] > mx ? p[u] : mx;
    #pragma omp simd reduction(+ : sum)
    for (int u = 0; u < nu; u++) { p[u] = ng_expf(p[u] - mx); sum += p[u]; }
    const float inv = 1.0f / sum;
    #pragma omp simd
    for (int u = 0; u < nu; u++) p[u] *= inv;
#ifdef __AVX512F__
    for (int j0 = 0; j0 < hs; j0 += 16) {
        const __mmask16 mj = lanes(hs - j0);
        __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
        const float *v = vi + j0;
        int u = 0;
        for (; u + 4 <= nu; u += 4) {
            a0 = _mm512_fmadd_ps(_mm512_set1_ps(p[u]), _mm512_maskz_loadu_ps(mj, v + (size_t)u * C), a0);
            a1 = _mm512_fmadd_ps(_mm512_set1_ps(p[u + 1]), _mm512_maskz_loadu_ps(mj, v + (size_t)(u + 1) * C), a1);
            a2 = _mm512_fmadd_ps(_mm512_set1_ps(p[u + 2]), _mm512_maskz_loadu_ps(mj, v + (size_t)(u + 2) * C), a2);
            a3 = _mm512_fmadd_ps(_mm512_set1_ps(p[u + 3]), _mm512_maskz_loadu_ps(mj, v + (size_t)(u + 3) * C), a3);
        }
        for (; u < nu; u++) a0 = _mm512_fmadd_ps(_mm512_set1_ps(p[u]), _mm512_maskz_loadu_ps(mj, v + (size_t)u * C), a0);
        _mm512_mask_storeu_ps(y + j0, mj, _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
    }
#else
    #pragma omp simd
    for (int j = 0; j < hs; j++) y[j] = 0;
    for (int u = 0; u < nu; u++) {
        const float pu = p[u], *v = vi + (size_t)u * C;
        #pragma omp simd
        for (int j = 0; j < hs; j++) y[j] += pu * v[j];
    }
#endif
}

/* [*a, *b): thread t's share of n items among nth, cut at multiples of `align` (outputs of
 * different threads do not share a cache line) */
static void share(int n, int t, int nth, int align, int *a, int *b) {
    int x0 = (int)((int64_t)n * t / nth), x1 = (int)((int64_t)n * (t + 1) / nth);
    *a = x0 - x0 % align;
    *b = t + 1 == nth ? n : x1 - x1 % align;
}

/* the key and value of columns [j0, j1) of position t of stream i in layer l into the caches,
 * from that position's q|k|v row (3C) */
static void cache_put(ng_infer *s, int l, int i, int t, const float *qkv, int j0, int j1) {
    const int T = s->m->cfg.block_size, C = s->m->cfg.n_embd;
    const size_t lane = ((size_t)l * s->S + i) * T * C;
    float *kt = s->kc + lane;   /* (H, hs, T) of stream i */
    for (int j = j0; j < j1; j++) kt[(size_t)j * T + t] = qkv[C + j];
    if (j1 > j0) memcpy(s->vc + lane + (size_t)t * C + j0, qkv + 2 * C + j0, (size_t)(j1 - j0) * sizeof(float));
}

/* ---------------------------------------------------------------- one stream over threads
 *
 * One stream is bound by reading the weights, so its step is split over the threads by
 * "units": unit u is head u with its rows of c_attn, its columns of c_proj, the rows
 * [4 hs u, 4 hs (u+1)) of c_fc and the same columns of mlp_proj, and a share of the rows of the
 * head (wte). A unit's c_proj and mlp_proj products are partial sums over its columns; the H
 * partial sums are added along a fixed binary tree over the units. Each thread owns a run of
 * units and adds up the subtrees that lie inside its run; the threads then meet and every
 * thread adds the subtrees the others published. The units, the tree and every addition are the
 * same whatever the thread count, so one stream gives the same bits on 1, 2 or 8 threads (and
 * when nanogen lowers its thread count on a busy machine), while each thread still reads one
 * partial sum of each other thread per meeting when the runs follow the tree (two threads, an
 * even number of heads). */

/* the child node ids of tree node id over units [a, b): 2 id over [a, mid), 2 id + 1 over [mid, b) */
static inline int tree_mid(int a, int b) { return a + (b - a + 1) / 2; }

/* leaf[u] = the node id of unit u in the tree over [a, b) rooted at id (ids < 4H) */
static void tree_leaves(int *leaf, int id, int a, int b) {
    if (b - a == 1) { leaf[a] = id; return; }
    const int mid = tree_mid(a, b);
    tree_leaves(leaf, 2 * id, a, mid);
    tree_leaves(leaf, 2 * id + 1, mid, b);
}

/* the thread (of n) whose run of the U units holds unit u (the runs of share(U, t, n, 1)) */
static inline int unit_owner(int u, int U, int n) {
    int t = (int)((int64_t)u * n / U);
    while (t + 1 < n && (int64_t)U * (t + 1) / n <= u) t++;
    while (t > 0 && (int64_t)U * t / n > u) t--;
    return t;
}

/* dst = a + b (C floats) */
static inline void vadd(float *restrict dst, const float *a, const float *b, int C) {
    #pragma omp simd
    for (int j = 0; j < C; j++) dst[j] = a[j] + b[j];
}

/* Thread t (of n): the nodes of the tree over units [a, b) (node id) that lie inside its own run,
 * into the shared nodes `sh` (C floats each; the leaves hold the units' partial sums). */
static void tree_publish(float *sh, int id, int a, int b, int t, int n, int U, int C) {
    const int oa = unit_owner(a, U, n), ob = unit_owner(b - 1, U, n);
    if (oa == ob && oa != t) return;   /* another thread's */
    if (b - a == 1) return;            /* my leaf: written by my unit */
    const int mid = tree_mid(a, b);
    tree_publish(sh, 2 * id, a, mid, t, n, U, C);
    tree_publish(sh, 2 * id + 1, mid, b, t, n, U, C);
    if (oa == ob) vadd(sh + (size_t)id * C, sh + (size_t)2 * id * C, sh + (size_t)(2 * id + 1) * C, C);
}

/* The sum of node id over [a, b) as thread t sees it after the meeting: a node inside one
 * thread's run is that thread's published value; a node across runs is added here, in `own`. */
static const float *tree_sum(const float *sh, float *own, int id, int a, int b, int n, int U, int C) {
    if (unit_owner(a, U, n) == unit_owner(b - 1, U, n)) return sh + (size_t)id * C;
    const int mid = tree_mid(a, b);
    const float *l = tree_sum(sh, own, 2 * id, a, mid, n, U, C), *r = tree_sum(sh, own, 2 * id + 1, mid, b, n, U, C);
    vadd(own + (size_t)id * C, l, r, C);
    return own + (size_t)id * C;
}

/* x[j] += b[j] + sum[j] (b NULL: x[j] += sum[j]) */
static inline void add_sum(float *restrict x, const float *restrict b, const float *restrict sum, int C) {
    if (!b) {
        #pragma omp simd
        for (int j = 0; j < C; j++) x[j] += sum[j];
        return;
    }
    #pragma omp simd
    for (int j = 0; j < C; j++) x[j] += b[j] + sum[j];
}

/* the rows of the head (wte) that unit u computes */
static void unit_vocab(const ng_model_config *c, int u, int *v0, int *v1) { share(c->vocab_size, u, c->n_head, 16, v0, v1); }

/* copies rows [r0, r1) of columns [k0, k1) of W (ld floats a row) to dst, packed; returns the end */
static float *copy_block(float *dst, const float *W, size_t ld, int r0, int r1, int k0, int k1) {
    for (int r = r0; r < r1; r++, dst += k1 - k0) memcpy(dst, W + (size_t)r * ld + k0, (size_t)(k1 - k0) * sizeof(float));
    return dst;
}

/* The weights of the one-stream step laid out per unit in the order it reads them: per layer
 * the q, k and v rows of its head, its columns of c_proj, its rows of c_fc and its columns of
 * mlp_proj, then its rows of the head (wte). A thread streams its units' blocks, one contiguous
 * run per unit per token. NG_OK, or NG_ERR when out of memory (the step then reads the model's
 * own weights, with the same arithmetic). */
static int decode_weights(ng_infer *s) {
    const ng_model *m = s->m;
    const ng_model_config *c = &m->cfg;
    const int C = c->n_embd, L = c->n_layer, U = c->n_head, hs = C / U;
    s->dw_at = calloc((size_t)U + 1, sizeof *s->dw_at);
    if (!s->dw_at) return NG_ERR;
    for (int u = 0; u < U; u++) {
        int v0, v1;
        unit_vocab(c, u, &v0, &v1);
        s->dw_at[u + 1] = s->dw_at[u] + (size_t)L * C * 12 * hs + (size_t)(v1 - v0) * C;
    }
    s->dw = ng_alloc_aligned(s->dw_at[U] * sizeof(float), "sampling weights");
    if (!s->dw) return NG_ERR;
    for (int u = 0; u < U; u++) {
        const int c0 = u * hs, c1 = c0 + hs, f0 = 4 * c0, f1 = 4 * c1;
        int v0, v1;
        unit_vocab(c, u, &v0, &v1);
        float *w = s->dw + s->dw_at[u];
        for (int l = 0; l < L; l++) {
            const gpt_block *b = &m->w.gpt.h[l];
            for (int part = 0; part < 3; part++) w = copy_block(w, b->c_attn_w->data, C, part * C + c0, part * C + c1, 0, C);
            w = copy_block(w, b->c_proj_w->data, C, 0, C, c0, c1);
            w = copy_block(w, b->c_fc_w->data, C, f0, f1, 0, C);
            w = copy_block(w, b->mlp_proj_w->data, 4 * C, 0, C, f0, f1);
        }
        copy_block(w, m->w.gpt.wte->data, C, v0, v1, 0, C);
    }
    return NG_OK;
}

/* The barrier of the one-stream step: thread t (of n) has reached meeting point `k`; returns
 * once all n have. Each thread publishes its count on its own cache line and reads the others'
 * (one line transfer per thread, where a shared counter takes a locked add from each thread
 * and a second line for the release): two of these per layer, per token. The release store
 * and acquire loads make every write before the meeting visible after it. With more threads
 * than CPUs it is libgomp's barrier, which sleeps: a spinning thread would hold the CPU the
 * thread it waits for needs (65 tok/s instead of 2,160 with 8 threads on 2 CPUs). */
static void meet(const ng_infer *s, int t, int n, unsigned long k) {
    if (n > s->cpus) {
        #pragma omp barrier
        return;
    }
    sync_slot *sl = s->sync;
    atomic_store_explicit(&sl[t].n, k, memory_order_release);
    for (int j = 0; j < n; j++)
        for (unsigned spin = 0; j != t && atomic_load_explicit(&sl[j].n, memory_order_acquire) < k; spin++) {
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
            if (spin > 20000) sched_yield();
        }
}

/* ---------------------------------------------------------------- the GPT, for generation
 *
 * src/models/gpt.c builds the model as a training graph; forward() and block() below are the
 * same model over the KV cache, written once for the three ways a pass runs:
 *   ALL      rows of any streams at any positions, each row its stream, position and token:
 *            S streams x n positions (a batch of streams, or a cache rebuild that is not split),
 *            rows stream-major (row = i*n + t), or what ng__infer_feed lists (the pool: a new
 *            stream's prompt beside one position of each other stream); each product is one
 *            multi-threaded linear over all rows (the packed weights' GEMM, rows independent;
 *            one stream: GEMVs below 4 rows);
 *   STEP     one stream, one position, every thread inside one parallel region running its
 *            units (see "one stream over threads" above) and meeting the others twice a layer;
 *   REBUILD  one stream, n positions, inside one parallel region: products split by their
 *            outputs (packed panels of 32), residuals and LayerNorms by rows, cache writes and
 *            attention by heads, a barrier wherever the next step reads other threads' rows.
 * Each step of the model is one helper below that does it the way its pass runs, with the
 * same arithmetic for every thread count. tests/test_model.c checks every path against the
 * training graph's logits (KV cache vs graph), tests/test_threads.c on 1, 2 and 3 threads. */
typedef enum { ALL, STEP, REBUILD } pass_kind;
enum { ATTN, PROJ, FC, MLP };   /* the block's products: c_attn, c_proj, c_fc (+ GELU), mlp_proj */

typedef struct {
    ng_infer *s;
    pass_kind kind;
    const int32_t *tok;          /* (S, n) tokens; ALL: (R) */
    int n, R, pos;               /* positions per stream, rows (S n), the first position (STEP, REBUILD) */
    /* ALL: row r is position rpos[r] of stream rst[r], its logits row rout[r] (-1: none); the
     * logits rows are o0 .. o0 + n_out - 1, in row order; ctx: the longest context (max rpos + 1) */
    const int *rst, *rpos, *rout;
    int n_out, o0, ctx;
    int want_logits;             /* logits of every stream's last position (ALL, STEP) */
    int kv_last;                 /* the last layer computes keys and values only */
    float *x, *xn;               /* residual stream and LayerNorm output (STEP: this thread's copy) */
    int r0, r1;                  /* the rows this thread computes the residuals and LayerNorms of */
    int t, nt;                   /* STEP, REBUILD: this thread of the team */
    /* STEP */
    int u0, u1;                  /* this thread's units */
    const float **w;             /* each unit's weights, in reading order (NULL: the model's) */
    float *own;                  /* this thread's nodes of the summation trees */
    unsigned long k;             /* meeting points passed */
    /* REBUILD: this thread's outputs of c_attn, c_proj/mlp_proj, c_fc, and its heads */
    int a0, a1, p0, p1, f0, f1, h0, h1;
    float *scratch;              /* (T) attention probabilities not kept */
} pass;

static void barrier_if_rebuild(const pass *p) {
    if (p->kind == REBUILD) {
        #pragma omp barrier
    }
}

/* x = wte[token] + wpe[position], rows [r0, r1) */
static void embed(pass *p) {
    const ng_model *m = p->s->m;
    const int C = m->cfg.n_embd;
    for (int r = p->r0; r < p->r1; r++) {
        const int t = p->rpos ? p->rpos[r] : p->pos + r % p->n;
        const float *te = m->w.gpt.wte->data + (size_t)p->tok[r] * C, *pe = m->w.gpt.wpe->data + (size_t)t * C;
        float *x = p->x + (size_t)r * C;
        #pragma omp simd
        for (int j = 0; j < C; j++) x[j] = te[j] + pe[j];
    }
}

/* xn = LayerNorm(x) (w, b), rows [r0, r1) */
static void norm(pass *p, const ng_tensor *w, const ng_tensor *b) {
    const int C = p->s->m->cfg.n_embd;
    if (p->r1 > p->r0)
        ng_k_layernorm(p->xn + (size_t)p->r0 * C, NULL, NULL, p->x + (size_t)p->r0 * C, w->data, bias_of(b), p->r1 - p->r0, C, 1e-5f);
    barrier_if_rebuild(p);
}

/* One of the block's products of layer l. ALL: into s->qkv, s->xn (c_proj, mlp_proj: added to x
 * by residual), s->f. STEP: each unit's rows of c_attn and c_fc, and its partial sums of c_proj
 * and mlp_proj at its leaf of the tree. REBUILD: this thread's outputs, c_proj and mlp_proj into
 * s->part. kv_only: c_attn's key and value outputs only. */
static void product(pass *p, int l, int which, int kv_only) {
    ng_infer *s = p->s;
    const ng_model *m = s->m;
    const gpt_block *b = &m->w.gpt.h[l];
    const int C = m->cfg.n_embd, H = m->cfg.n_head, hs = C / H, R = p->R;
    if (p->kind == ALL) {
        switch (which) {
        case ATTN:
            if (kv_only) {
                const int k0 = C - C % 32;   /* c_attn's packed panels are 32 of its rows wide */
                #pragma omp parallel if ((double)R * C * C > 5e5)
                {
                    int a0, a1;
                    share(3 * C - k0, omp_get_thread_num(), omp_get_num_threads(), 32, &a0, &a1);
                    ng_linear_packed_part(s->qkv, 3 * C, s->xn, C, packed(s, l, 0), bias_of(b->c_attn_b), R, C, 3 * C, k0 + a0, k0 + a1, 0, C);
                }
            } else linear(s, s->qkv, s->xn, R, b->c_attn_w->data, packed(s, l, 0), bias_of(b->c_attn_b), C, 3 * C);
            break;
        case PROJ: linear(s, s->xn, s->y, R, b->c_proj_w->data, packed(s, l, 1), bias_of(b->c_proj_b), C, C); break;
        case FC:
            linear(s, s->f, s->xn, R, b->c_fc_w->data, packed(s, l, 2), bias_of(b->c_fc_b), C, 4 * C);
            gelu(s, s->f, s->f, (int64_t)R * 4 * C);
            break;
        case MLP: linear(s, s->xn, s->f, R, b->mlp_proj_w->data, packed(s, l, 3), bias_of(b->mlp_proj_b), 4 * C, C); break;
        }
        return;
    }
    if (p->kind == STEP) {
        const size_t nodes = (size_t)4 * H * C;
        float *tree = s->tree + (which == MLP ? nodes : 0);
        for (int u = p->u0; u < p->u1; u++) {
            const int c0 = u * hs, f0 = 4 * c0, nf = 4 * hs;
            const float **w = &p->w[u];
            switch (which) {
            case ATTN:
                for (int part = 0; part < 3; part++) {   /* q, k and v of head u */
                    const float *wq = *w ? *w : b->c_attn_w->data + ((size_t)part * C + c0) * C;
                    ng_sgemv_serial(s->qkv + part * C + c0, p->xn, wq, bias_at(b->c_attn_b, part * C + c0), C, hs);
                    if (*w) *w += (size_t)hs * C;
                }
                break;
            case PROJ:
                if (*w) { ng_sgemv_cols(tree + (size_t)s->leaf[u] * C, s->y + c0, *w, hs, hs, C); *w += (size_t)C * hs; }
                else ng_sgemv_cols(tree + (size_t)s->leaf[u] * C, s->y + c0, b->c_proj_w->data + c0, C, hs, C);
                break;
            case FC:
                ng_sgemv_serial(s->f + f0, p->xn, *w ? *w : b->c_fc_w->data + (size_t)f0 * C, bias_at(b->c_fc_b, f0), C, nf);
                if (*w) *w += (size_t)nf * C;
                gelu(s, s->f + f0, s->f + f0, nf);
                break;
            case MLP:
                if (*w) { ng_sgemv_cols(tree + (size_t)s->leaf[u] * C, s->f + f0, *w, nf, nf, C); *w += (size_t)C * nf; }
                else ng_sgemv_cols(tree + (size_t)s->leaf[u] * C, s->f + f0, b->mlp_proj_w->data + f0, 4 * C, nf, C);
                break;
            }
        }
        return;
    }
    /* REBUILD */
    const int n = p->n;
    switch (which) {
    case ATTN: {
        int a0 = p->a0, a1 = p->a1;
        if (kv_only) {   /* c_attn's packed panels are 32 of its rows wide (or 16) */
            const int k0 = C - C % 32;
            share(3 * C - k0, p->t, p->nt, 32, &a0, &a1);
            a0 += k0; a1 += k0;
        }
        ng_linear_packed_part(s->qkv, 3 * C, p->xn, C, packed(s, l, 0), bias_of(b->c_attn_b), n, C, 3 * C, a0, a1, 0, C);
        break;
    }
    case PROJ: ng_linear_packed_part(s->part, C, s->y, C, packed(s, l, 1), bias_of(b->c_proj_b), n, C, C, p->p0, p->p1, 0, C); break;
    case FC:
        ng_linear_packed_part(s->f, 4 * C, p->xn, C, packed(s, l, 2), bias_of(b->c_fc_b), n, C, 4 * C, p->f0, p->f1, 0, C);
        for (int r = 0; r < n && p->f1 > p->f0; r++)
            gelu(s, s->f + (size_t)r * 4 * C + p->f0, s->f + (size_t)r * 4 * C + p->f0, p->f1 - p->f0);
        break;
    case MLP: ng_linear_packed_part(s->part, C, s->f, 4 * C, packed(s, l, 3), bias_of(b->mlp_proj_b), n, 4 * C, C, p->p0, p->p1, 0, 4 * C); break;
    }
    #pragma omp barrier
}

/* The keys and values of layer l into the cache, then (unless kv_only) the attention of every
 * head into s->y, the probabilities of each stream's last position kept in s->att. */
static void attention(pass *p, int l, int kv_only) {
    ng_infer *s = p->s;
    const ng_model_config *c = &s->m->cfg;
    const int S = s->S, T = c->block_size, C = c->n_embd, H = c->n_head, hs = C / H, n = p->n, pos = p->pos;
    if (p->kind == STEP) {
        for (int u = p->u0; u < p->u1; u++) {
            cache_put(s, l, 0, pos, s->qkv, u * hs, (u + 1) * hs);
            attend_head(s, l, 0, u, s->qkv + u * hs, pos + 1, s->att + ((size_t)l * H + u) * T, s->y + u * hs);
        }
        return;
    }
    if (p->kind == REBUILD) {
        for (int r = 0; r < n; r++) cache_put(s, l, 0, pos + r, s->qkv + (size_t)r * 3 * C, p->h0 * hs, p->h1 * hs);
        if (kv_only) return;
        for (int r = 0; r < n; r++)
            for (int h = p->h0; h < p->h1; h++)
                attend_head(s, l, 0, h, s->qkv + (size_t)r * 3 * C + h * hs, pos + r + 1,
                            r == n - 1 ? s->att + ((size_t)l * H + h) * T : p->scratch, s->y + (size_t)r * C + h * hs);
        #pragma omp barrier
        return;
    }
    const int R = p->R;
    for (int r = 0; r < R; r++) cache_put(s, l, p->rst[r], p->rpos[r], s->qkv + (size_t)r * 3 * C, 0, C);
    if (kv_only) return;
    #pragma omp parallel for schedule(static) if ((int64_t)R * H * p->ctx * hs > 65536)
    for (int r = 0; r < R; r++) {
        const int i = p->rst[r], t = p->rpos[r], last = p->rout[r] >= 0;
        float scratch[T];
        for (int h = 0; h < H; h++)
            attend_head(s, l, i, h, s->qkv + (size_t)r * 3 * C + h * hs, t + 1,
                        last ? s->att + (((size_t)l * S + i) * H + h) * T : scratch, s->y + (size_t)r * C + h * hs);
    }
}

/* x += the output of product `which` (c_proj or mlp_proj) of layer l, with its bias: ALL adds
 * s->xn; STEP adds the units' partial sums along the tree after meeting the other threads;
 * REBUILD adds this thread's rows of s->part. */
static void residual(pass *p, int l, int which) {
    ng_infer *s = p->s;
    const ng_model_config *c = &s->m->cfg;
    const int C = c->n_embd, U = c->n_head;
    if (p->kind == ALL) { add_inplace(s->x, s->xn, (int64_t)p->R * C); return; }
    if (p->kind == REBUILD) {
        if (p->r1 > p->r0) add_inplace(s->x + (size_t)p->r0 * C, s->part + (size_t)p->r0 * C, (int64_t)(p->r1 - p->r0) * C);
        return;
    }
    const gpt_block *b = &s->m->w.gpt.h[l];
    float *tree = s->tree + (which == MLP ? (size_t)4 * U * C : 0);
    tree_publish(tree, 1, 0, U, p->t, p->nt, U, C);
    meet(s, p->t, p->nt, ++p->k);
    add_sum(p->x, bias_of(which == MLP ? b->mlp_proj_b : b->c_proj_b), tree_sum(tree, p->own, 1, 0, U, p->nt, U, C), C);
}

/* The final LayerNorm and the tied head: the logits (S, V) of each stream's last position. */
static void head(pass *p) {
    ng_infer *s = p->s;
    const ng_model *m = s->m;
    const int C = m->cfg.n_embd, V = m->cfg.vocab_size, L = m->cfg.n_layer;
    if (p->kind == STEP) {
        ng_k_layernorm(p->xn, NULL, NULL, p->x, m->w.gpt.ln_f_w->data, bias_of(m->w.gpt.ln_f_b), 1, C, 1e-5f);
        for (int u = p->u0; u < p->u1; u++) {
            int v0, v1;
            unit_vocab(&m->cfg, u, &v0, &v1);
            if (v1 > v0) ng_sgemv_serial(s->logits + v0, p->xn, p->w[u] ? p->w[u] : m->w.gpt.wte->data + (size_t)v0 * C, NULL, C, v1 - v0);
        }
        if (p->t == 0) memcpy(s->x, p->x, (size_t)C * sizeof(float));
        return;
    }
    /* the rows that have logits (each stream's last position), gathered unless they are all */
    const int no = p->n_out;
    const float *xl = s->x;
    if (no < p->R) {
        for (int r = 0, k = 0; r < p->R; r++)
            if (p->rout[r] >= 0) memcpy(s->y + (size_t)k++ * C, s->x + (size_t)r * C, (size_t)C * sizeof(float));
        xl = s->y;
    }
    ng_k_layernorm(s->xn, NULL, NULL, xl, m->w.gpt.ln_f_w->data, bias_of(m->w.gpt.ln_f_b), no, C, 1e-5f);
    linear(s, s->logits + (size_t)p->o0 * V, s->xn, no, m->w.gpt.wte->data, packed(s, L, 0), NULL, C, V);
}

/* A transformer block at inference: x += c_proj(attention(c_attn(ln_1(x)))), then
 * x += mlp_proj(gelu(c_fc(ln_2(x)))); the keys and values go to the cache. kv_only: the cache
 * entries only (the last layer of a rebuild: its output is not needed). */
static void block(pass *p, int l, int kv_only) {
    const gpt_block *b = &p->s->m->w.gpt.h[l];
    norm(p, b->ln_1_w, b->ln_1_b);
    product(p, l, ATTN, kv_only);
    attention(p, l, kv_only);
    if (kv_only) return;
    product(p, l, PROJ, 0);
    residual(p, l, PROJ);
    norm(p, b->ln_2_w, b->ln_2_b);
    product(p, l, FC, 0);
    product(p, l, MLP, 0);
    residual(p, l, MLP);
}

/* The GPT over n positions of every stream, from the token embeddings to the logits. */
static void forward(pass *p) {
    const int L = p->s->m->cfg.n_layer;
    embed(p);
    for (int l = 0; l < L; l++) block(p, l, l == L - 1 && p->kv_last);
    if (p->want_logits) head(p);
}

/* positions pos .. pos+n-1 of every stream done: their tokens into the history */
static void advance(ng_infer *s, const int32_t *tok, int n) {
    const int T = s->m->cfg.block_size;
    for (int r = 0; r < s->S * n; r++) s->hist[(size_t)(r / n) * T + s->pos + r % n] = tok[r];
    s->pos += n;
}

/* ALL over the R rows described in s->rst, s->rpos, s->rout, tokens tok (R): n_out logits rows
 * from o0 (none: a cache rebuild's block, whose last layer computes keys and values only) */
static void run_rows(ng_infer *s, const int32_t *tok, int R, int o0, int n_out, int ctx) {
    pass p = {.s = s, .kind = ALL, .tok = tok, .n = 1, .R = R, .rst = s->rst, .rpos = s->rpos, .rout = s->rout,
              .n_out = n_out, .o0 = o0, .ctx = ctx, .want_logits = n_out > 0, .kv_last = n_out == 0 && (R >= 4 || s->S >= 2),
              .x = s->x, .xn = s->xn, .r0 = 0, .r1 = R, .nt = 1};
    forward(&p);
}

/* ALL: n positions (pos .. pos+n-1) of every stream, tok (S, n); logits of the last position
 * when want_logits (the sampling step: n = 1; a cache rebuild: several, no logits) */
static void run_all(ng_infer *s, const int32_t *tok, int n, int want_logits) {
    const int R = s->S * n;
    for (int r = 0; r < R; r++) {
        s->rst[r] = r / n;
        s->rpos[r] = s->pos + r % n;
        s->rout[r] = want_logits && r % n == n - 1 ? r / n : -1;
    }
    run_rows(s, tok, R, 0, want_logits ? s->S : 0, s->pos + n);
    advance(s, tok, n);
}

/* STEP: one position of one stream on nth threads */
static void run_step(ng_infer *s, int32_t tok, int nth) {
    const ng_model_config *c = &s->m->cfg;
    const int C = c->n_embd, H = c->n_head;
    const size_t nodes = (size_t)4 * H * C;
    #pragma omp parallel num_threads(nth)
    {
        pass p = {.s = s, .kind = STEP, .tok = &tok, .n = 1, .R = 1, .pos = s->pos, .want_logits = 1,
                  .t = omp_get_thread_num(), .nt = omp_get_num_threads(), .r0 = 0, .r1 = 1, .k = s->met};
        const float *w[H > 0 ? H : 1];
        p.x = s->xt + (size_t)p.t * 2 * C;
        p.xn = p.x + C;
        p.own = s->tree_own + (size_t)p.t * nodes;
        share(H, p.t, p.nt, 1, &p.u0, &p.u1);
        for (int u = p.u0; u < p.u1; u++) w[u] = s->dw ? s->dw + s->dw_at[u] : NULL;
        p.w = w;
        forward(&p);
    }
    s->met += 2 * (unsigned long)c->n_layer;
    advance(s, &tok, 1);
}

/* REBUILD: n positions of one stream on nth threads, keys and values only at the last layer */
static void run_rebuild(ng_infer *s, const int32_t *tok, int n, int nth) {
    const ng_model_config *c = &s->m->cfg;
    const int T = c->block_size, C = c->n_embd, H = c->n_head;
    #pragma omp parallel num_threads(nth)
    {
        float scratch[T];
        pass p = {.s = s, .kind = REBUILD, .tok = tok, .n = n, .R = n, .pos = s->pos, .kv_last = 1,
                  .x = s->x, .xn = s->xn, .t = omp_get_thread_num(), .nt = omp_get_num_threads(), .scratch = scratch};
        share(n, p.t, p.nt, 1, &p.r0, &p.r1);
        share(H, p.t, p.nt, 1, &p.h0, &p.h1);
        share(3 * C, p.t, p.nt, 32, &p.a0, &p.a1);
        share(C, p.t, p.nt, 32, &p.p0, &p.p1);
        share(4 * C, p.t, p.nt, 32, &p.f0, &p.f1);
        forward(&p);
    }
    advance(s, tok, n);
}

const float *ng_infer_step(ng_infer *s, const int32_t *tokens) {
    const ng_model *m = s->m;
    const int S = s->S, T = m->cfg.block_size, V = m->cfg.vocab_size;
    if (m->cfg.kind == NG_MODEL_BIGRAM) {
        for (int i = 0; i < S; i++)
            memcpy(s->logits + (size_t)i * V, m->w.bigram.table->data + (size_t)tokens[i] * V, (size_t)V * sizeof(float));
        return s->logits;
    }
    ng_threads_tick();   /* the thread count follows a busy machine (threads.c); results do not change */
    /* one stream: every thread works on the one position (fewer if the caller lowered them) */
    const int nth = s->nthreads < omp_get_max_threads() ? s->nthreads : omp_get_max_threads();
    const int split = s->split;
    if (s->pos == T) {
        /* context full: rebuild the cache from the last `keep` tokens at positions 0..keep-1,
         * several positions per block (GEMMs) */
        const int keep = s->keep;
        for (int i = 0; i < S; i++)
            memmove(s->hist + (size_t)i * T, s->hist + (size_t)i * T + (T - keep), (size_t)keep * sizeof(int32_t));
        s->pos = 0;
        const int per = s->rows / S;   /* rows >= S */
        for (int p0 = 0; p0 < keep; ) {
            const int n = keep - p0 < per ? keep - p0 : per;
            for (int i = 0; i < S; i++)
                for (int t = 0; t < n; t++) s->blk[(size_t)i * n + t] = s->hist[(size_t)i * T + p0 + t];
            if (split) run_rebuild(s, s->blk, n, nth);
            else run_all(s, s->blk, n, 0);
            p0 += n;
        }
    }
    if (split) run_step(s, tokens[0], nth);
    else run_all(s, tokens, 1, 1);
    return s->logits;
}

/* ---------------------------------------------------------------- streams at their own positions */

int ng__infer_streams(const ng_infer *s) { return s->S; }

void ng__infer_start(ng_infer *s, int stream, int keep) {
    const int T = s->m->cfg.block_size;
    if (stream < 0 || stream >= s->S) return;
    s->spos[stream] = 0;
    s->skeep[stream] = keep < 0 ? s->keep : keep > T - 1 ? T - 1 : keep;
}

int ng__infer_pos(const ng_infer *s, int stream) { return stream >= 0 && stream < s->S ? s->spos[stream] : -1; }

const float *ng__infer_feed(ng_infer *s, int ns, const int *streams, const int32_t *const *tok, const int *n) {
    const ng_model *m = s->m;
    const int S = s->S, T = m->cfg.block_size, V = m->cfg.vocab_size;
    if (ns < 1 || ns > S) { ng_set_error("ng__infer_feed: %d streams listed, 1 to %d", ns, S); return NULL; }
    if (s->split) { ng_set_error("ng__infer_feed: an ng_infer of one stream runs ng_infer_step only"); return NULL; }
    if (++s->feeds == 0) {   /* the marks wrapped around: start them again */
        memset(s->smark, 0, (size_t)S * sizeof(unsigned));
        s->feeds = 1;
    }
    for (int k = 0; k < ns; k++) {
        if (streams[k] < 0 || streams[k] >= S || n[k] < 1) {
            ng_set_error("ng__infer_feed: listed stream %d of %d tokens (streams 0 to %d, at least one token)", streams[k], n[k], S - 1);
            return NULL;
        }
        if (s->smark[streams[k]] == s->feeds) { ng_set_error("ng__infer_feed: stream %d listed twice", streams[k]); return NULL; }
        s->smark[streams[k]] = s->feeds;
        for (int j = 0; j < n[k]; j++)
            if (tok[k][j] < 0 || tok[k][j] >= V) { ng_set_error("ng__infer_feed: token %d is not in the vocabulary (%d tokens)", (int)tok[k][j], V); return NULL; }
    }
    s->own_pos = 1;
    if (m->cfg.kind == NG_MODEL_BIGRAM) {   /* the table's row of each stream's last token */
        for (int k = 0; k < ns; k++)
            memcpy(s->logits + (size_t)k * V, m->w.bigram.table->data + (size_t)tok[k][n[k] - 1] * V, (size_t)V * sizeof(float));
        return s->logits;
    }
    ng_threads_tick();
    /* Each stream's window after its tokens, as ng_infer_step would leave it feeding them one
     * at a time: full (T tokens) when one more comes, it keeps its last `keep`. The cache of a
     * window is that of its tokens run from position 0, so a feed computes the positions past
     * what the cache holds, or after a rebuild the whole window. */
    for (int k = 0; k < ns; k++) {
        const int i = streams[k], keep = s->skeep[i];
        int32_t *h = s->hist + (size_t)i * T;
        int pos = s->spos[i], from = pos;
        for (int j = 0; j < n[k]; j++) {
            if (pos == T) {
                memmove(h, h + (T - keep), (size_t)keep * sizeof(int32_t));
                pos = keep;
                from = 0;
            }
            h[pos++] = tok[k][j];
        }
        s->spos[i] = pos;
        s->sfrom[k] = from;
    }
    /* the rows, stream after stream in list order, in passes of at most s->rows rows; a stream's
     * logits come from the pass that holds its last row (earlier passes put its first positions
     * into the cache) */
    int k = 0, t = s->sfrom[0];
    while (k < ns) {
        int R = 0, o0 = k, no = 0, ctx = 0;
        while (k < ns && R < s->rows) {
            const int i = streams[k], end = s->spos[i];
            const int take = end - t < s->rows - R ? end - t : s->rows - R;
            for (int j = 0; j < take; j++, R++) {
                s->rst[R] = i;
                s->rpos[R] = t + j;
                s->rtok[R] = s->hist[(size_t)i * T + t + j];
                s->rout[R] = -1;
            }
            t += take;
            if (t > ctx) ctx = t;
            if (t == end) {
                s->rout[R - 1] = k;
                no++;
                if (++k < ns) t = s->sfrom[k];
            }
        }
        run_rows(s, s->rtok, R, o0, no, ctx);
    }
    return s->logits;
}

const float *ng_infer_attention(const ng_infer *s, int layer, int stream, int *n_ctx) {
    const ng_model_config *c = &s->m->cfg;
    if (c->kind != NG_MODEL_GPT || layer < 0 || layer >= c->n_layer || stream < 0 || stream >= s->S) return NULL;
    const int pos = s->own_pos ? s->spos[stream] : s->pos;
    if (pos == 0) return NULL;
    if (n_ctx) *n_ctx = pos;
    return s->att + ((size_t)layer * s->S + stream) * c->n_head * c->block_size;
}

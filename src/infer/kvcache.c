/* infer.c - incremental inference with a KV cache, llama2.c style: one token per stream per
 * step, keys and values of earlier positions kept, so a token costs O(context) not O(context^2).
 * Streams advance together (same position), so each linear is one small GEMM over streams. */
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
                               decode_one), copied in the order decode_one reads them */
    size_t *dw_at;          /* (H + 1) where unit u's share starts in dw */
    float *tree;            /* (2, 4H, C) the units' partial sums and the nodes of their summation
                               tree that one thread computes (decode_one): attention, then MLP */
    float *tree_own;        /* (nthreads, 4H, C) each thread's copies of the nodes above its own */
    int *leaf;              /* (H) the tree node of unit u */
    sync_slot *sync;        /* (nthreads) the one-stream step's barrier (meet) */
    int cpus;               /* CPUs this process may run on: meet spins only when every thread has one */
    unsigned long met;      /* meeting points passed so far */
};

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
    int ok = s->hist && s->logits;
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
    free(s->dw_at);
    free(s->leaf);
    ng_free_aligned(s->sync);
    free(s);
}

void ng_infer_reset(ng_infer *s) { s->pos = 0; }

void ng_infer_set_keep(ng_infer *s, int keep) {
    int T = s->m->cfg.block_size;
    s->keep = keep < 0 ? 0 : keep > T - 1 ? T - 1 : keep;
}

/* y (R,out) = x (R,in) W^T + b: GEMV for one to three rows, else the packed copy of W (a batch
 * of streams, a cache rebuild) */
static void linear(float *y, const float *x, int R, const float *W, const float *Wp, const float *b, int in, int out) {
    if (R >= 4) ng_linear_packed(y, x, Wp, b, R, in, out);
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

/* n positions (pos .. pos+n-1) for every stream: tok (S, n) tokens, rows ordered stream-major
 * (row = i*n + t). Keys and values go to the cache; logits (S,V) are those of the last position
 * when want_logits. One position for all streams is the sampling step; several are a cache
 * rebuild, where each linear becomes a GEMM over S*n rows. */
static void forward_positions(ng_infer *s, const int32_t *tok, int n, int want_logits) {
    const ng_model *m = s->m;
    const int S = s->S, T = m->cfg.block_size, C = m->cfg.n_embd, H = m->cfg.n_head, hs = C / H;
    const int L = m->cfg.n_layer, V = m->cfg.vocab_size, pos = s->pos, R = S * n;
    for (int r = 0; r < R; r++) {
        const float *te = m->w.gpt.wte->data + (size_t)tok[r] * C, *pe = m->w.gpt.wpe->data + (size_t)(pos + r % n) * C;
        float *x = s->x + (size_t)r * C;
        #pragma omp simd
        for (int j = 0; j < C; j++) x[j] = te[j] + pe[j];
    }
    for (int l = 0; l < L; l++) {
        const gpt_block *b = &m->w.gpt.h[l];
        /* a cache rebuild needs only the keys and values of the last layer: no queries,
         * attention or MLP there (a fifth of its work with four layers) */
        const int kv_only = l == L - 1 && !want_logits && R >= 4;
        ng_k_layernorm(s->xn, NULL, NULL, s->x, b->ln_1_w->data, b->ln_1_b->data, R, C, 1e-5f);
        if (kv_only) {
            const int k0 = C - C % 32;   /* c_attn's packed panels are 32 of its rows wide */
            #pragma omp parallel if ((double)R * C * C > 5e5)
            {
                int a0, a1;
                share(3 * C - k0, omp_get_thread_num(), omp_get_num_threads(), 32, &a0, &a1);
                ng_linear_packed_part(s->qkv, 3 * C, s->xn, C, packed(s, l, 0), b->c_attn_b->data, R, C, 3 * C, k0 + a0, k0 + a1, 0, C);
            }
        } else linear(s->qkv, s->xn, R, b->c_attn_w->data, packed(s, l, 0), b->c_attn_b->data, C, 3 * C);
        for (int r = 0; r < R; r++) cache_put(s, l, r / n, pos + r % n, s->qkv + (size_t)r * 3 * C, 0, C);
        if (kv_only) break;
        #pragma omp parallel for schedule(static) if ((int64_t)R * H * (pos + n) * hs > 65536)
        for (int r = 0; r < R; r++) {
            const int i = r / n, t = pos + r % n, last = r % n == n - 1;
            float scratch[T];
            for (int h = 0; h < H; h++)
                attend_head(s, l, i, h, s->qkv + (size_t)r * 3 * C + h * hs, t + 1,
                            last ? s->att + (((size_t)l * S + i) * H + h) * T : scratch, s->y + (size_t)r * C + h * hs);
        }
        /* x += proj(y); x += mlp_proj(gelu(fc(ln_2(x)))) */
        linear(s->xn, s->y, R, b->c_proj_w->data, packed(s, l, 1), b->c_proj_b->data, C, C);
        add_inplace(s->x, s->xn, (int64_t)R * C);
        ng_k_layernorm(s->xn, NULL, NULL, s->x, b->ln_2_w->data, b->ln_2_b->data, R, C, 1e-5f);
        linear(s->f, s->xn, R, b->c_fc_w->data, packed(s, l, 2), b->c_fc_b->data, C, 4 * C);
        ng_k_gelu(s->f, s->f, (int64_t)R * 4 * C);
        linear(s->xn, s->f, R, b->mlp_proj_w->data, packed(s, l, 3), b->mlp_proj_b->data, 4 * C, C);
        add_inplace(s->x, s->xn, (int64_t)R * C);
    }
    for (int r = 0; r < R; r++) s->hist[(size_t)(r / n) * T + pos + r % n] = tok[r];
    s->pos += n;
    if (!want_logits) return;
    /* the last position of each stream: gather its rows, final LayerNorm, tied head */
    for (int i = 0; i < S; i++)
        if (n > 1) memmove(s->y + (size_t)i * C, s->x + ((size_t)i * n + n - 1) * C, (size_t)C * sizeof(float));
    const float *xl = n > 1 ? s->y : s->x;
    ng_k_layernorm(s->xn, NULL, NULL, xl, m->w.gpt.ln_f_w->data, m->w.gpt.ln_f_b->data, S, C, 1e-5f);
    linear(s->logits, s->xn, S, m->w.gpt.wte->data, packed(s, L, 0), NULL, C, V);
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

/* x[j] += b[j] + sum[j] */
static inline void add_sum(float *restrict x, const float *restrict b, const float *restrict sum, int C) {
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

/* One position of one stream, split over the threads inside one parallel region: thread t
 * runs its units (see above). Every thread keeps its own copy of the residual stream x and
 * computes the LayerNorms itself; per layer, a unit computes the q, k, v rows of its head,
 * writes its cache entries, runs its attention and multiplies its output by its columns of
 * c_proj (a partial sum), then, after the first meeting and the residual, its rows of c_fc
 * (and GELU) times its columns of mlp_proj (a second partial sum, a second meeting). */
static void decode_one(ng_infer *s, int32_t tok, int nth) {
    const ng_model *m = s->m;
    const int T = m->cfg.block_size, C = m->cfg.n_embd, H = m->cfg.n_head, hs = C / H, U = H;
    const int L = m->cfg.n_layer, pos = s->pos;
    const float *te = m->w.gpt.wte->data + (size_t)tok * C, *pe = m->w.gpt.wpe->data + (size_t)pos * C;
    const size_t nodes = (size_t)4 * U * C;   /* one tree's nodes */
    #pragma omp parallel num_threads(nth)
    {
        const int t = omp_get_thread_num(), n = omp_get_num_threads();
        float *x = s->xt + (size_t)t * 2 * C, *xn = x + C, *own = s->tree_own + (size_t)t * nodes;
        int u0, u1;   /* my units */
        share(U, t, n, 1, &u0, &u1);
        const float *w[H > 0 ? H : 1];   /* each unit's weights, in reading order */
        for (int u = u0; u < u1; u++) w[u] = s->dw ? s->dw + s->dw_at[u] : NULL;
        unsigned long k = s->met;   /* meeting points, counted on from the last step's */
        #pragma omp simd
        for (int j = 0; j < C; j++) x[j] = te[j] + pe[j];
        for (int l = 0; l < L; l++) {
            const gpt_block *b = &m->w.gpt.h[l];
            float *ta = s->tree, *tm = s->tree + nodes;   /* attention's and the MLP's partial sums */
            ng_k_layernorm(xn, NULL, NULL, x, b->ln_1_w->data, b->ln_1_b->data, 1, C, 1e-5f);
            for (int u = u0; u < u1; u++) {
                const int c0 = u * hs;
                for (int part = 0; part < 3; part++) {   /* q, k and v of head u */
                    const float *wq = w[u] ? w[u] : b->c_attn_w->data + ((size_t)part * C + c0) * C;
                    ng_sgemv_serial(s->qkv + part * C + c0, xn, wq, b->c_attn_b->data + part * C + c0, C, hs);
                    if (w[u]) w[u] += (size_t)hs * C;
                }
                cache_put(s, l, 0, pos, s->qkv, c0, c0 + hs);
                attend_head(s, l, 0, u, s->qkv + c0, pos + 1, s->att + ((size_t)l * H + u) * T, s->y + c0);
                float *pu = ta + (size_t)s->leaf[u] * C;
                if (w[u]) { ng_sgemv_cols(pu, s->y + c0, w[u], hs, hs, C); w[u] += (size_t)C * hs; }
                else ng_sgemv_cols(pu, s->y + c0, b->c_proj_w->data + c0, C, hs, C);
            }
            tree_publish(ta, 1, 0, U, t, n, U, C);
            meet(s, t, n, ++k);
            add_sum(x, b->c_proj_b->data, tree_sum(ta, own, 1, 0, U, n, U, C), C);
            ng_k_layernorm(xn, NULL, NULL, x, b->ln_2_w->data, b->ln_2_b->data, 1, C, 1e-5f);
            for (int u = u0; u < u1; u++) {
                const int f0 = 4 * u * hs, nf = 4 * hs;
                ng_sgemv_serial(s->f + f0, xn, w[u] ? w[u] : b->c_fc_w->data + (size_t)f0 * C, b->c_fc_b->data + f0, C, nf);
                if (w[u]) w[u] += (size_t)nf * C;
                ng_k_gelu(s->f + f0, s->f + f0, nf);
                float *pu = tm + (size_t)s->leaf[u] * C;
                if (w[u]) { ng_sgemv_cols(pu, s->f + f0, w[u], nf, nf, C); w[u] += (size_t)C * nf; }
                else ng_sgemv_cols(pu, s->f + f0, b->mlp_proj_w->data + f0, 4 * C, nf, C);
            }
            tree_publish(tm, 1, 0, U, t, n, U, C);
            meet(s, t, n, ++k);
            add_sum(x, b->mlp_proj_b->data, tree_sum(tm, own, 1, 0, U, n, U, C), C);
        }
        ng_k_layernorm(xn, NULL, NULL, x, m->w.gpt.ln_f_w->data, m->w.gpt.ln_f_b->data, 1, C, 1e-5f);
        for (int u = u0; u < u1; u++) {
            int v0, v1;
            unit_vocab(&m->cfg, u, &v0, &v1);
            if (v1 > v0) ng_sgemv_serial(s->logits + v0, xn, w[u] ? w[u] : m->w.gpt.wte->data + (size_t)v0 * C, NULL, C, v1 - v0);
        }
        if (t == 0) memcpy(s->x, x, (size_t)C * sizeof(float));
    }
    s->met += 2 * (unsigned long)L;
    s->hist[pos] = tok;
    s->pos++;
}

/* rows [r0, r1) of x += d, then their LayerNorm (w, b) into xn (skipped when w is NULL) */
static void add_rows(float *x, float *xn, const float *d, int C, int r0, int r1, const float *w, const float *b) {
    if (r1 <= r0) return;
    add_inplace(x + (size_t)r0 * C, d + (size_t)r0 * C, (int64_t)(r1 - r0) * C);
    if (w) ng_k_layernorm(xn + (size_t)r0 * C, NULL, NULL, x + (size_t)r0 * C, w, b, r1 - r0, C, 1e-5f);
}

/* A cache rebuild of one stream: n positions from pos, split over the threads inside one
 * parallel region with the packed weights' GEMM kernel (the generic path would open a team per
 * product and run the LayerNorms, GELU and sums on one thread). Every product is split by its
 * outputs (the packed panels of its weight, 32 columns or a multiple), so each output is one
 * kernel's sum over all the inputs whatever the thread count; the threads split the rows for
 * the residuals and LayerNorms and the heads for the cache writes and attention. Seven
 * barriers per layer. The last layer computes its keys and values only (its output is not
 * needed: the next token runs through decode_one). */
static void rebuild_one(ng_infer *s, const int32_t *tok, int n, int nth) {
    const ng_model *m = s->m;
    const int T = m->cfg.block_size, C = m->cfg.n_embd, H = m->cfg.n_head, hs = C / H, L = m->cfg.n_layer, pos = s->pos;
    float *x = s->x, *xn = s->xn, *qkv = s->qkv, *y = s->y, *f = s->f, *d = s->part;
    #pragma omp parallel num_threads(nth)
    {
        const int t = omp_get_thread_num(), nt = omp_get_num_threads();
        int r0, r1, h0, h1, a0, a1, p0, p1, f0, f1;
        share(n, t, nt, 1, &r0, &r1);
        share(H, t, nt, 1, &h0, &h1);
        share(3 * C, t, nt, 32, &a0, &a1);
        share(C, t, nt, 32, &p0, &p1);
        share(4 * C, t, nt, 32, &f0, &f1);
        const int c0 = h0 * hs, c1 = h1 * hs;
        float scratch[T];
        for (int r = r0; r < r1; r++) {
            const float *te = m->w.gpt.wte->data + (size_t)tok[r] * C, *pe = m->w.gpt.wpe->data + (size_t)(pos + r) * C;
            float *xr = x + (size_t)r * C;
            #pragma omp simd
            for (int j = 0; j < C; j++) xr[j] = te[j] + pe[j];
        }
        if (r1 > r0) ng_k_layernorm(xn + (size_t)r0 * C, NULL, NULL, x + (size_t)r0 * C, m->w.gpt.h[0].ln_1_w->data, m->w.gpt.h[0].ln_1_b->data, r1 - r0, C, 1e-5f);
        #pragma omp barrier
        for (int l = 0; l < L; l++) {
            const gpt_block *b = &m->w.gpt.h[l];
            if (l == L - 1) {   /* the last layer: its keys and values only (no queries) */
                const int k0 = C - C % 32;   /* c_attn's packed panels are 32 of its rows wide (or 16) */
                share(3 * C - k0, t, nt, 32, &a0, &a1);
                a0 += k0; a1 += k0;
            }
            ng_linear_packed_part(qkv, 3 * C, xn, C, packed(s, l, 0), b->c_attn_b->data, n, C, 3 * C, a0, a1, 0, C);
            #pragma omp barrier
            for (int r = 0; r < n; r++) cache_put(s, l, 0, pos + r, qkv + (size_t)r * 3 * C, c0, c1);
            if (l == L - 1) break;
            for (int r = 0; r < n; r++)
                for (int h = h0; h < h1; h++)
                    attend_head(s, l, 0, h, qkv + (size_t)r * 3 * C + h * hs, pos + r + 1,
                                r == n - 1 ? s->att + ((size_t)l * H + h) * T : scratch, y + (size_t)r * C + h * hs);
            #pragma omp barrier
            ng_linear_packed_part(d, C, y, C, packed(s, l, 1), b->c_proj_b->data, n, C, C, p0, p1, 0, C);
            #pragma omp barrier
            add_rows(x, xn, d, C, r0, r1, b->ln_2_w->data, b->ln_2_b->data);
            #pragma omp barrier
            ng_linear_packed_part(f, 4 * C, xn, C, packed(s, l, 2), b->c_fc_b->data, n, C, 4 * C, f0, f1, 0, C);
            for (int r = 0; r < n && f1 > f0; r++) ng_k_gelu(f + (size_t)r * 4 * C + f0, f + (size_t)r * 4 * C + f0, f1 - f0);
            #pragma omp barrier
            ng_linear_packed_part(d, C, f, 4 * C, packed(s, l, 3), b->mlp_proj_b->data, n, 4 * C, C, p0, p1, 0, 4 * C);
            #pragma omp barrier
            add_rows(x, xn, d, C, r0, r1, l + 1 < L ? m->w.gpt.h[l + 1].ln_1_w->data : NULL, l + 1 < L ? m->w.gpt.h[l + 1].ln_1_b->data : NULL);
            #pragma omp barrier
        }
    }
    for (int r = 0; r < n; r++) s->hist[pos + r] = tok[r];
    s->pos += n;
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
            if (split) rebuild_one(s, s->blk, n, nth);
            else forward_positions(s, s->blk, n, 0);
            p0 += n;
        }
    }
    if (split) decode_one(s, tokens[0], nth);
    else
        forward_positions(s, tokens, 1, 1);
    return s->logits;
}

const float *ng_infer_attention(const ng_infer *s, int layer, int stream, int *n_ctx) {
    const ng_model_config *c = &s->m->cfg;
    if (c->kind != NG_MODEL_GPT || s->pos == 0 || layer < 0 || layer >= c->n_layer || stream < 0 || stream >= s->S) return NULL;
    if (n_ctx) *n_ctx = s->pos;
    return s->att + ((size_t)layer * s->S + stream) * c->n_head * c->block_size;
}

/* infer.c - incremental inference with a KV cache, llama2.c style: one token per stream per
 * step, keys and values of earlier positions kept, so a token costs O(context) not O(context^2).
 * Streams advance together (same position), so each linear is one small GEMM over streams. */
#include "fastmath.h"
#include "kernels.h"
#include "model_internal.h"

#include <math.h>
#include <omp.h>
#ifdef __AVX512F__
#include <immintrin.h>
#endif
#include <stdlib.h>
#include <string.h>

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
    float *xt;              /* (nthreads, 4C) each thread's own x, LayerNorm output and two partial
                               sums (one stream) */
    int nthreads;           /* threads the one-stream step may use (xt's rows) */
};

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
        s->xt = ng_alloc_aligned((size_t)s->nthreads * 4 * C * sizeof(float), "activations");
        ok = s->kc && s->vc && s->x && s->xn && s->qkv && s->y && s->f && s->att && s->blk && s->xt;
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
                const gpt_block *b = &m->h[l];
                d = pack_into(d, b->c_attn_w->data, 3 * c, c);
                d = pack_into(d, b->c_proj_w->data, c, c);
                d = pack_into(d, b->c_fc_w->data, 4 * c, c);
                d = pack_into(d, b->mlp_proj_w->data, c, 4 * c);
            }
            if (ok) pack_into(d, m->wte->data, v, c);
        }
    }
    if (!ok) { ng_infer_free(s); return NULL; }
    return s;
}

void ng_infer_free(ng_infer *s) {
    if (!s) return;
    float *bufs[] = {s->kc, s->vc, s->x, s->xn, s->qkv, s->y, s->f, s->logits, s->att, s->wt, s->xt};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) ng_free_aligned(bufs[i]);
    ng_free_aligned(s->hist);
    ng_free_aligned(s->blk);
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

/* n positions (pos .. pos+n-1) for every stream: tok (S, n) tokens, rows ordered stream-major
 * (row = i*n + t). Keys and values go to the cache; logits (S,V) are those of the last position
 * when want_logits. One position for all streams is the sampling step; several are a cache
 * rebuild, where each linear becomes a GEMM over S*n rows. */
static void forward_positions(ng_infer *s, const int32_t *tok, int n, int want_logits) {
    const ng_model *m = s->m;
    const int S = s->S, T = m->cfg.block_size, C = m->cfg.n_embd, H = m->cfg.n_head, hs = C / H;
    const int L = m->cfg.n_layer, V = m->cfg.vocab_size, pos = s->pos, R = S * n;
    for (int r = 0; r < R; r++) {
        const float *te = m->wte->data + (size_t)tok[r] * C, *pe = m->wpe->data + (size_t)(pos + r % n) * C;
        float *x = s->x + (size_t)r * C;
        #pragma omp simd
        for (int j = 0; j < C; j++) x[j] = te[j] + pe[j];
    }
    for (int l = 0; l < L; l++) {
        const gpt_block *b = &m->h[l];
        ng_k_layernorm(s->xn, NULL, NULL, s->x, b->ln_1_w->data, b->ln_1_b->data, R, C, 1e-5f);
        linear(s->qkv, s->xn, R, b->c_attn_w->data, packed(s, l, 0), b->c_attn_b->data, C, 3 * C);
        float *kc = s->kc + (size_t)l * S * T * C, *vc = s->vc + (size_t)l * S * T * C;
        for (int r = 0; r < R; r++) {
            const int i = r / n, t = pos + r % n;
            const float *k = s->qkv + (size_t)r * 3 * C + C;
            float *kt = kc + (size_t)i * T * C;   /* (H, hs, T) of stream i */
            for (int j = 0; j < C; j++) kt[(size_t)j * T + t] = k[j];
            memcpy(vc + ((size_t)i * T + t) * C, s->qkv + (size_t)r * 3 * C + 2 * C, (size_t)C * sizeof(float));
        }
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
    ng_k_layernorm(s->xn, NULL, NULL, xl, m->ln_f_w->data, m->ln_f_b->data, S, C, 1e-5f);
    linear(s->logits, s->xn, S, m->wte->data, packed(s, L, 0), NULL, C, V);
}

/* weights per token from which the one-stream step is split over threads */
#define NG_DECODE_SPLIT_MIN 65536

/* [*a, *b): thread t's share of n items among nth, cut at multiples of `align` (outputs of
 * different threads do not share a cache line) */
static void share(int n, int t, int nth, int align, int *a, int *b) {
    int x0 = (int)((int64_t)n * t / nth), x1 = (int)((int64_t)n * (t + 1) / nth);
    *a = x0 - x0 % align;
    *b = t + 1 == nth ? n : x1 - x1 % align;
}

/* rows [r0, r1) of y = x W^T + b */
static void rows_of(float *y, const float *x, const float *W, const float *b, int in, int r0, int r1) {
    if (r1 > r0) ng_sgemv_serial(y + r0, x, W + (size_t)r0 * in, b ? b + r0 : NULL, in, r1 - r0);
}

/* x[j] += b[j] + parts[0][j] + ... + parts[n-1][j] (parts C apart, threads' partial sums) */
static void add_parts(float *restrict x, const float *restrict b, const float *restrict parts, int n, size_t stride, int C) {
    #pragma omp simd
    for (int j = 0; j < C; j++) {
        float d = b[j];
        for (int t = 0; t < n; t++) d += parts[(size_t)t * stride + j];
        x[j] += d;
    }
}

/* One position of one stream, split over the threads inside one parallel region (sampling one
 * stream is bound by reading the weights: each thread reads its own share of every matrix).
 * Every thread keeps its own copy of the residual stream x and computes the LayerNorms itself.
 * Thread t owns heads [h0, h1): it computes their q, k, v rows, writes their cache entries, runs
 * their attention and multiplies their outputs by their columns of c_proj, a partial sum of the
 * projection. Likewise it owns the rows [f0, f1) of c_fc (and GELU) and multiplies them by the
 * same columns of mlp_proj. One barrier after each partial sum; every thread then adds all of
 * them, in thread order, to its x: two barriers per layer. With one thread this is exactly the
 * one-stream path of forward_positions; with n threads the sums are grouped by thread (a
 * rounding-level difference, the same for a given thread count every time). */
static void decode_one(ng_infer *s, int32_t tok, int nth) {
    const ng_model *m = s->m;
    const int T = m->cfg.block_size, C = m->cfg.n_embd, H = m->cfg.n_head, hs = C / H;
    const int L = m->cfg.n_layer, V = m->cfg.vocab_size, pos = s->pos;
    const float *te = m->wte->data + (size_t)tok * C, *pe = m->wpe->data + (size_t)pos * C;
    const size_t stride = (size_t)4 * C;   /* per thread in xt: x, LayerNorm output, two partial sums */
    #pragma omp parallel num_threads(nth)
    {
        const int t = omp_get_thread_num(), n = omp_get_num_threads();
        float *x = s->xt + t * stride, *xn = x + C, *pa = xn + C, *pb = pa + C;
        const float *pa0 = s->xt + 2 * C, *pb0 = s->xt + 3 * C;   /* thread 0's partial sums */
        int h0, h1, f0, f1, v0, v1;
        share(H, t, n, 1, &h0, &h1);
        share(4 * C, t, n, 16, &f0, &f1);
        share(V, t, n, 16, &v0, &v1);
        const int c0 = h0 * hs, c1 = h1 * hs;   /* my columns of y */
        #pragma omp simd
        for (int j = 0; j < C; j++) x[j] = te[j] + pe[j];
        for (int l = 0; l < L; l++) {
            const gpt_block *b = &m->h[l];
            ng_k_layernorm(xn, NULL, NULL, x, b->ln_1_w->data, b->ln_1_b->data, 1, C, 1e-5f);
            for (int part = 0; part < 3; part++)   /* q, k and v of my heads */
                rows_of(s->qkv + part * C, xn, b->c_attn_w->data + (size_t)part * C * C, b->c_attn_b->data + part * C, C, c0, c1);
            const size_t lane = (size_t)l * T * C;
            float *kt = s->kc + lane, *vc = s->vc + lane + (size_t)pos * C;
            for (int j = c0; j < c1; j++) { kt[(size_t)j * T + pos] = s->qkv[C + j]; vc[j] = s->qkv[2 * C + j]; }
            for (int h = h0; h < h1; h++)
                attend_head(s, l, 0, h, s->qkv + h * hs, pos + 1, s->att + ((size_t)l * H + h) * T, s->y + h * hs);
            ng_sgemv_cols(pa, s->y + c0, b->c_proj_w->data + c0, C, c1 - c0, C);
            #pragma omp barrier
            add_parts(x, b->c_proj_b->data, pa0, n, stride, C);
            ng_k_layernorm(xn, NULL, NULL, x, b->ln_2_w->data, b->ln_2_b->data, 1, C, 1e-5f);
            rows_of(s->f, xn, b->c_fc_w->data, b->c_fc_b->data, C, f0, f1);
            ng_k_gelu(s->f + f0, s->f + f0, f1 - f0);
            ng_sgemv_cols(pb, s->f + f0, b->mlp_proj_w->data + f0, 4 * C, f1 - f0, C);
            #pragma omp barrier
            add_parts(x, b->mlp_proj_b->data, pb0, n, stride, C);
        }
        ng_k_layernorm(xn, NULL, NULL, x, m->ln_f_w->data, m->ln_f_b->data, 1, C, 1e-5f);
        rows_of(s->logits, xn, m->wte->data, NULL, C, v0, v1);
        if (t == 0) memcpy(s->x, x, (size_t)C * sizeof(float));
    }
    s->hist[pos] = tok;
    s->pos++;
}

const float *ng_infer_step(ng_infer *s, const int32_t *tokens) {
    const ng_model *m = s->m;
    const int S = s->S, T = m->cfg.block_size, V = m->cfg.vocab_size;
    if (m->cfg.kind == NG_MODEL_BIGRAM) {
        for (int i = 0; i < S; i++)
            memcpy(s->logits + (size_t)i * V, m->table->data + (size_t)tokens[i] * V, (size_t)V * sizeof(float));
        return s->logits;
    }
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
            forward_positions(s, s->blk, n, 0);
            p0 += n;
        }
    }
    /* one stream: every thread works on the one position once the weights are worth splitting */
    const int nth = s->nthreads < omp_get_max_threads() ? s->nthreads : omp_get_max_threads();
    if (S == 1 && nth > 1 && 12LL * m->cfg.n_embd * m->cfg.n_embd * m->cfg.n_layer >= NG_DECODE_SPLIT_MIN)
        decode_one(s, tokens[0], nth);
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

/* attention.c - fused causal multi-head self-attention.
 * qkv (B,T,3C) holds q | k | v; head h uses columns [h*hs, (h+1)*hs) of each, hs = C/H.
 *   S = q k^T / sqrt(hs) (causal: s <= t), P = softmax(S), P' = dropout(P), y = P' v -> (B,T,C)
 * aux keeps P (B,H,T,T) for backward; the dropout mask is recomputed from the hash RNG.
 *
 * The fast kernels (attention_forward/backward) take one (batch, head) at a time per thread:
 * the head's q, k, v (and dy) are gathered into contiguous per-thread blocks, k and v also
 * transposed, so that every inner loop is a SIMD multiply-add along a row (over keys s, or
 * over the head dimension d) with no horizontal sums; head sizes 16, 32, 64 and 128 are
 * compiled with the size fixed so the accumulators stay in registers. Each (b, h) is summed in
 * the same order whatever the thread count. The plain twins ng_ref_attention_* (one dot product
 * per pair) are what tests/test_ops.c compares them with. */
#include "ops/kernels/fastmath.h"
#include "graph/graph_internal.h"
#include "ops/kernels/kernels.h"
#include "ops/attention_ref.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* dot product of two rows of n floats */
static inline float dot(const float *a, const float *b, int n) {
    float d = 0;
    #pragma omp simd reduction(+ : d)
    for (int j = 0; j < n; j++) d += a[j] * b[j];
    return d;
}

/* y += a * x over n floats */
static inline void axpy(float *y, float a, const float *x, int n) {
    #pragma omp simd
    for (int j = 0; j < n; j++) y[j] += a * x[j];
}

void ng_ref_attention_forward(ng_graph *g, ng_tensor *t) {
    ng_tensor *qkv = t->src[0];
    const int B = (int)t->ne[0], T = (int)t->ne[1], C = (int)t->ne[2], H = t->iarg[0], hs = C / H;
    const float scale = 1.0f / sqrtf((float)hs), pd = g->training ? t->farg[0] : 0.0f;
    const float keep_scale = 1.0f / (1.0f - pd);
    const uint64_t stream = ng_drop_stream(g, t);
    const float *X = qkv->data;
    const size_t row = 3 * (size_t)C;
    /* small problems stay on one thread: a thread team costs more than it saves */
    #pragma omp parallel for collapse(2) schedule(static) if ((int64_t)B * H * T * T * hs > 32768)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const float *Xb = X + (size_t)b * T * row;
            for (int i = 0; i < T; i++) {
                const float *q = Xb + i * row + h * hs;
                float *P = t->aux + (((size_t)b * H + h) * T + i) * T;
                float mx = -INFINITY;
                for (int s = 0; s <= i; s++) {
                    P[s] = dot(q, Xb + s * row + C + h * hs, hs) * scale;
                    mx = P[s] > mx ? P[s] : mx;
                }
                float sum = 0;
                #pragma omp simd reduction(+ : sum)
                for (int s = 0; s <= i; s++) { P[s] = ng_expf(P[s] - mx); sum += P[s]; }
                float inv = 1.0f / sum;
                #pragma omp simd
                for (int s = 0; s <= i; s++) P[s] *= inv;
                for (int s = i + 1; s < T; s++) P[s] = 0;
                float *y = t->data + ((size_t)b * T + i) * C + h * hs;
                memset(y, 0, (size_t)hs * sizeof(float));
                size_t base = (((size_t)(b + g->drop_row0) * H + h) * T + i) * T;
                for (int s = 0; s <= i; s++) {
                    float p = P[s];
                    if (pd > 0) p = ng_hash_uniform(g->drop_seed, stream, base + s) < pd ? 0.0f : p * keep_scale;
                    axpy(y, p, Xb + s * row + 2 * C + h * hs, hs);
                }
            }
        }
}

void ng_ref_attention_backward(ng_graph *g, ng_tensor *t) {
    ng_tensor *qkv = t->src[0];
    if (!qkv->grad) return;
    const int B = (int)t->ne[0], T = (int)t->ne[1], C = (int)t->ne[2], H = t->iarg[0], hs = C / H;
    const float scale = 1.0f / sqrtf((float)hs), pd = g->training ? t->farg[0] : 0.0f;
    const float keep_scale = 1.0f / (1.0f - pd);
    const uint64_t stream = ng_drop_stream(g, t);
    const size_t row = 3 * (size_t)C;
    #pragma omp parallel for collapse(2) schedule(static) if ((int64_t)B * H * T * T * hs > 32768)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const float *Xb = qkv->data + (size_t)b * T * row;
            float *dXb = qkv->grad + (size_t)b * T * row;
            float dP[T];
            for (int i = 0; i < T; i++) {
                const float *dy = t->grad + ((size_t)b * T + i) * C + h * hs;
                const float *P = t->aux + (((size_t)b * H + h) * T + i) * T;
                const float *q = Xb + i * row + h * hs;
                float *dq = dXb + i * row + h * hs;
                size_t base = (((size_t)(b + g->drop_row0) * H + h) * T + i) * T;
                /* dP' = dy . v_s ; dv_s += P' dy ; dP = dP' * mask */
                for (int s = 0; s <= i; s++) {
                    float m = 1.0f;   /* dropout factor of this probability */
                    if (pd > 0) m = ng_hash_uniform(g->drop_seed, stream, base + s) < pd ? 0.0f : keep_scale;
                    dP[s] = dot(dy, Xb + s * row + 2 * C + h * hs, hs) * m;
                    axpy(dXb + s * row + 2 * C + h * hs, P[s] * m, dy, hs);
                }
                /* softmax backward: dS = P (dP - sum P dP), then dq += dS k, dk += dS q */
                float sum = 0;
                #pragma omp simd reduction(+ : sum)
                for (int s = 0; s <= i; s++) sum += P[s] * dP[s];
                for (int s = 0; s <= i; s++) {
                    float dS = P[s] * (dP[s] - sum) * scale;
                    axpy(dq, dS, Xb + s * row + C + h * hs, hs);
                    axpy(dXb + s * row + C + h * hs, dS, q, hs);
                }
            }
        }
}

/* ------------------------------------------------------------------ fast kernels */

/* per-thread scratch (dropout-masked probabilities, dS) */
static _Thread_local ng_scratch tl_attn;
static float *attn_scratch(size_t n) { return ng_scratch_get(&tl_attn, n); }

/* rows per block of the causal GEMMs: each block stops at its own last key */
enum { AB = 32 };
static inline int block_end(int i0, int T) { return i0 + AB < T ? i0 + AB : T; }

typedef struct {
    int T, C, hs;
    float scale, pd, keep_scale;
    uint64_t seed, stream;
} attn_args;

static attn_args attn_setup(const ng_graph *g, const ng_tensor *t) {
    attn_args a;
    a.T = (int)t->ne[1]; a.C = (int)t->ne[2];
    a.hs = a.C / t->iarg[0];
    a.scale = 1.0f / sqrtf((float)a.hs);
    a.pd = g->training ? t->farg[0] : 0.0f;
    a.keep_scale = 1.0f / (1.0f - a.pd);
    a.seed = g->drop_seed;
    a.stream = ng_drop_stream(g, t);
    return a;
}

/* P' = P with the dropout mask of head (pbase) applied, into out (T,T) */
static void apply_dropout(const attn_args *a, const float *P, float *out, size_t pbase) {
    const int T = a->T;
    const uint64_t seed = a->seed, stream = a->stream;
    const uint32_t thr = ng_drop_threshold(a->pd);   /* drops where ng_hash_uniform(...) < pd */
    const float keep = a->keep_scale;
    for (int i = 0; i < T; i++) {
        const size_t row = (size_t)i * T;
        const float *p = P + row;
        float *o = out + row;
        #pragma omp simd
        for (int s = 0; s <= i; s++) o[s] = ng_hash24(seed, stream, pbase + row + (size_t)s) < thr ? 0.0f : p[s] * keep;
        memset(o + i + 1, 0, (size_t)(T - i - 1) * sizeof(float));
    }
}

/* One head. X: the batch's qkv rows (T, 3C) at column h*hs (q; k at +C, v at +2C). */
static void head_forward(const attn_args *a, const float *X, float *P, float *Y, float *w, size_t pbase) {
    const int T = a->T, C = a->C, hs = a->hs, ld = 3 * C;
    /* S = q k^T scale, by blocks of AB rows, each up to its last column: the masked upper half
     * is mostly skipped (at T = 256, 5/8 of the square is computed) */
    for (int i0 = 0; i0 < T; i0 += AB) {
        const int i1 = block_end(i0, T);
        ng_sgemm_serial(0, 1, i1 - i0, i1, hs, a->scale, X + (size_t)i0 * ld, ld, X + C, ld, 0.0f, P + (size_t)i0 * T, T);
    }
    for (int i = 0; i < T; i++) {
        float *p = P + (size_t)i * T;
        const int n = i + 1;
        float mx = -INFINITY;
        for (int s = 0; s < n; s++) mx = p[s] > mx ? p[s] : mx;
        float sum = 0;
        #pragma omp simd reduction(+ : sum)
        for (int s = 0; s < n; s++) { p[s] = ng_expf(p[s] - mx); sum += p[s]; }
        const float inv = 1.0f / sum;
        #pragma omp simd
        for (int s = 0; s < n; s++) p[s] *= inv;
        for (int s = n; s < T; s++) p[s] = 0;
    }
    const float *Pv = P;
    if (a->pd > 0) { apply_dropout(a, P, w, pbase); Pv = w; }
    /* y = P' v: a block of rows needs the columns (keys) up to its last row only */
    for (int i0 = 0; i0 < T; i0 += AB) {
        const int i1 = block_end(i0, T);
        ng_sgemm_serial(0, 0, i1 - i0, hs, i1, 1.0f, Pv + (size_t)i0 * T, T, X + 2 * C, ld, 0.0f, Y + (size_t)i0 * C, C);
    }
}

static void head_backward(const attn_args *a, const float *X, const float *P, const float *DY, float *dX, float *w, size_t pbase) {
    const int T = a->T, C = a->C, hs = a->hs, ld = 3 * C;
    float *dS = w, *Pd = w + (size_t)T * T;
    const float *Pv = P;
    if (a->pd > 0) { apply_dropout(a, P, Pd, pbase); Pv = Pd; }
    /* dv += P'^T dy (key s gets the rows i >= s); dP' = dy v^T (row i needs the columns s <= i) */
    for (int i0 = 0; i0 < T; i0 += AB) {
        const int i1 = block_end(i0, T);
        ng_sgemm_serial(1, 0, i1 - i0, hs, T - i0, 1.0f, Pv + (size_t)i0 * T + i0, T, DY + (size_t)i0 * C, C, 1.0f,
                        dX + 2 * C + (size_t)i0 * ld, ld);
        ng_sgemm_serial(0, 1, i1 - i0, i1, hs, 1.0f, DY + (size_t)i0 * C, C, X + 2 * C, ld, 0.0f, dS + (size_t)i0 * T, T);
    }
    /* through the dropout mask, then the softmax: dS = P (dP - sum_s P dP) scale, causal */
    for (int i = 0; i < T; i++) {
        const float *p = P + (size_t)i * T;
        float *ds = dS + (size_t)i * T;
        const int n = i + 1;
        if (a->pd > 0) {   /* the mask is in P' already: a dropped probability is 0 there (where P
                             * itself is 0, dS below is 0 whatever the factor) */
            const float *pd = Pd + (size_t)i * T;
            for (int s = 0; s < n; s++) ds[s] *= pd[s] != 0.0f ? a->keep_scale : 0.0f;
        }
        float dot = 0;
        #pragma omp simd reduction(+ : dot)
        for (int s = 0; s < n; s++) dot += p[s] * ds[s];
        #pragma omp simd
        for (int s = 0; s < n; s++) ds[s] = p[s] * (ds[s] - dot) * a->scale;
        for (int s = n; s < T; s++) ds[s] = 0;
    }
    /* dq += dS k (row i: keys s <= i); dk += dS^T q (key s: rows i >= s); dS is 0 above the diagonal */
    for (int i0 = 0; i0 < T; i0 += AB) {
        const int i1 = block_end(i0, T);
        ng_sgemm_serial(0, 0, i1 - i0, hs, i1, 1.0f, dS + (size_t)i0 * T, T, X + C, ld, 1.0f, dX + (size_t)i0 * ld, ld);
        ng_sgemm_serial(1, 0, i1 - i0, hs, T - i0, 1.0f, dS + (size_t)i0 * T + i0, T, X + (size_t)i0 * ld, ld, 1.0f,
                        dX + C + (size_t)i0 * ld, ld);
    }
}

static void attention_forward(ng_graph *g, ng_tensor *t) {
    const attn_args a = attn_setup(g, t);
    const int B = (int)t->ne[0], H = t->iarg[0], T = a.T, C = a.C, hs = a.hs;
    const int64_t row0 = g->drop_row0;   /* a shard of the batch: its rows' dropout masks */
    const float *X = t->src[0]->data;
    const size_t need = a.pd > 0 ? (size_t)T * T : 1;
    int fail = 0;
    #pragma omp parallel for collapse(2) schedule(static) if ((int64_t)B * H * T * T * hs > 32768)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            float *w = attn_scratch(need);
            if (!w) {
                #pragma omp atomic write
                fail = 1;
                continue;
            }
            head_forward(&a, X + (size_t)b * T * 3 * C + h * hs, t->aux + ((size_t)b * H + h) * T * T,
                         t->data + (size_t)b * T * C + h * hs, w, ((size_t)(b + row0) * H + h) * T * T);
        }
    if (fail) ng_ref_attention_forward(g, t);   /* no scratch memory: the plain kernel needs none */
}

static void attention_backward(ng_graph *g, ng_tensor *t) {
    ng_tensor *qkv = t->src[0];
    if (!qkv->grad) return;
    const attn_args a = attn_setup(g, t);
    const int B = (int)t->ne[0], H = t->iarg[0], T = a.T, C = a.C, hs = a.hs;
    const int64_t row0 = g->drop_row0;
    const size_t need = 2 * (size_t)T * T;
    /* scratch first, so that a failure leaves the gradients untouched for the plain kernel */
    int fail = 0;
    #pragma omp parallel if ((int64_t)B * H * T * T * hs > 32768)
    {
        if (!attn_scratch(need)) {
            #pragma omp atomic write
            fail = 1;
        }
    }
    if (fail) { ng_ref_attention_backward(g, t); return; }
    #pragma omp parallel for collapse(2) schedule(static) if ((int64_t)B * H * T * T * hs > 32768)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            head_backward(&a, qkv->data + (size_t)b * T * 3 * C + h * hs, t->aux + ((size_t)b * H + h) * T * T,
                          t->grad + (size_t)b * T * C + h * hs, qkv->grad + (size_t)b * T * 3 * C + h * hs,
                          attn_scratch(need), ((size_t)(b + row0) * H + h) * T * T);
}

/* ---------------------------------------------------------------- the op: definition and builder */

static const ng_op_def attention_op = {"attention", attention_forward, attention_backward};

ng_tensor *ng_attention(ng_graph *g, ng_tensor *qkv, int n_head, float dropout) {
    NG_NEED(qkv && qkv->data);
    if (qkv->ndim != 3 || qkv->ne[2] % 3 || n_head <= 0 || (qkv->ne[2] / 3) % n_head)
        return ng__shape_error("attention (qkv must be (B,T,3C) with C divisible by n_head)", qkv, NULL);
    if (dropout < 0 || dropout >= 1) { ng_set_error("attention: dropout %g outside [0, 1)", dropout); return NULL; }
    int64_t B = qkv->ne[0], T = qkv->ne[1], C = qkv->ne[2] / 3;
    int64_t ne[3] = {B, T, C};
    ng_tensor *t = ng__op_node3(g, &attention_op, 3, ne, qkv, NULL, NULL);
    if (!t) return NULL;
    t->iarg[0] = n_head;
    t->farg[0] = dropout;
    /* saved softmax probabilities (B, H, T, T) for backward */
    if (ng__set_aux(t, B * n_head * T * T)) return NULL;
    return t;
}

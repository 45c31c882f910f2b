/* attention.c - fused causal multi-head self-attention.
 * qkv (B,T,3C) holds q | k | v; head h uses columns [h*hs, (h+1)*hs) of each, hs = C/H.
 *   S = q k^T / sqrt(hs) (causal: s <= t), P = softmax(S), P' = dropout(P), y = P' v -> (B,T,C)
 * For backward, aux keeps either P (B,H,T,T) or, above a context length (keep_p_max_t), only
 * each row's softmax max and inverse sum (B,H,T,2), from which backward recomputes P block by
 * block, as FlashAttention's backward does; the dropout mask is recomputed from the hash RNG.
 *
 * The fast kernels (attention_forward/backward) take one (batch, head) at a time per thread and
 * walk it by blocks of AB query rows: a block's scores are one GEMM over the keys up to its last
 * row (the causal mask skips the rest), its softmax rows are whole inside the block, and y, dv,
 * dP, dq and dk are GEMMs on the block (ng_sgemm_serial). Backward reads the block's P from aux
 * or recomputes it by the forward's own GEMM and arithmetic from the saved max and inverse sum,
 * so both give the same P bit for bit and run the same code after it; since each block holds
 * whole rows, sum_s P dP is taken over the row directly (FlashAttention-2's D = rowsum(dy * y)
 * is only needed when a row is split over key blocks). Each (b, h) is summed in the same order
 * whatever the thread count. The plain twins ng_ref_attention_* (one dot product
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

/* The saved state of a node: P (B,H,T,T) when it keeps the probabilities, else per row
 * (B,H,T) the maximum score m and the inverse sum 1/l of its softmax (B,H,T,2: m, 1/l), from
 * which backward recomputes P = exp(S - m) / l exactly as forward computed it. */
static inline int keeps_p(const ng_tensor *t) { return t->iarg[1]; }

void ng_ref_attention_forward(ng_graph *g, ng_tensor *t) {
    ng_tensor *qkv = t->src[0];
    const int B = (int)t->ne[0], T = (int)t->ne[1], C = (int)t->ne[2], H = t->iarg[0], hs = C / H;
    const float scale = 1.0f / sqrtf((float)hs), pd = g->training ? t->farg[0] : 0.0f;
    const float keep_scale = 1.0f / (1.0f - pd);
    const uint64_t stream = ng_drop_stream(g, t);
    const float *X = qkv->data;
    const size_t row = 3 * (size_t)C;
    const int keep = keeps_p(t);
    /* small problems stay on one thread: a thread team costs more than it saves */
    #pragma omp parallel for collapse(2) schedule(static) if ((int64_t)B * H * T * T * hs > 32768)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const float *Xb = X + (size_t)b * T * row;
            float prow[keep ? 1 : T];   /* the row's probabilities when the node does not keep them */
            for (int i = 0; i < T; i++) {
                const float *q = Xb + i * row + h * hs;
                const size_t r = ((size_t)b * H + h) * T + i;
                float *P = keep ? t->aux + r * T : prow;
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
                if (keep) for (int s = i + 1; s < T; s++) P[s] = 0;
                else { t->aux[2 * r] = mx; t->aux[2 * r + 1] = inv; }
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
    const int keep = keeps_p(t);
    #pragma omp parallel for collapse(2) schedule(static) if ((int64_t)B * H * T * T * hs > 32768)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            const float *Xb = qkv->data + (size_t)b * T * row;
            float *dXb = qkv->grad + (size_t)b * T * row;
            float dP[T], prow[keep ? 1 : T];
            for (int i = 0; i < T; i++) {
                const float *dy = t->grad + ((size_t)b * T + i) * C + h * hs;
                const size_t r = ((size_t)b * H + h) * T + i;
                const float *q = Xb + i * row + h * hs;
                const float *P = prow;
                if (keep) P = t->aux + r * T;
                else {   /* recompute the row's probabilities from its saved max and sum */
                    const float mx = t->aux[2 * r], inv = t->aux[2 * r + 1];
                    for (int s = 0; s <= i; s++) prow[s] = dot(q, Xb + s * row + C + h * hs, hs) * scale;
                    for (int s = 0; s <= i; s++) prow[s] = ng_expf(prow[s] - mx);
                    for (int s = 0; s <= i; s++) prow[s] *= inv;
                }
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

/* per-thread scratch (a block of probabilities, dropout-masked probabilities, dS) */
static _Thread_local ng_scratch tl_attn;
static float *attn_scratch(size_t n) { return ng_scratch_get(&tl_attn, n); }

/* rows per block: each block of query rows i0..i1-1 is computed whole, over its keys 0..i1-1
 * (the causal mask skips the rest), so every row's softmax is complete inside its block */
enum { AB = 32 };
static inline int block_end(int i0, int T) { return i0 + AB < T ? i0 + AB : T; }

/* Above this context length a new attention node saves the softmax's max and sum per row
 * (B*H*T*2 floats) and backward recomputes P block by block; up to it, the node keeps P
 * (B*H*T*T floats). The two give the same P bit for bit, and both backward passes run the
 * same code on it (tests/test_ops.c checks one against the other). Recomputing costs one more
 * GEMM and the exponentials in backward: measured on 2 AMD EPYC cores, attention backward took
 * +35% at the baby preset's T = 64 and +10-30% at shakespeare-char's T = 256, so those keep P
 * (a few MB, and 600 MB for shakespeare-char's batch of 64); GPT-2's T = 1024 recomputes
 * (P would be 2.4 GB at batch 4). */
static int keep_p_max_t = 256;
int ng__attention_keep_p_max_t(int max_t) {
    const int old = keep_p_max_t;
    if (max_t >= 0) keep_p_max_t = max_t;
    return old;
}

typedef struct {
    int T, C, hs, keep;
    float scale, pd, keep_scale;
    uint64_t seed, stream;
} attn_args;

static attn_args attn_setup(const ng_graph *g, const ng_tensor *t) {
    attn_args a;
    a.T = (int)t->ne[1]; a.C = (int)t->ne[2];
    a.hs = a.C / t->iarg[0];
    a.keep = keeps_p(t);
    a.scale = 1.0f / sqrtf((float)a.hs);
    a.pd = g->training ? t->farg[0] : 0.0f;
    a.keep_scale = 1.0f / (1.0f - a.pd);
    a.seed = g->drop_seed;
    a.stream = ng_drop_stream(g, t);
    return a;
}

/* P' = P with the dropout mask of head (pbase) applied, rows i0..i1-1 (P and out: that block,
 * leading dimension T, columns 0..i1-1) */
static void apply_dropout(const attn_args *a, const float *P, float *out, int i0, int i1, size_t pbase) {
    const int T = a->T;
    const uint64_t seed = a->seed, stream = a->stream;
    const uint32_t thr = ng_drop_threshold(a->pd);   /* drops where ng_hash_uniform(...) < pd */
    const float keep = a->keep_scale;
    for (int i = i0; i < i1; i++) {
        const size_t row = (size_t)i * T;
        const float *p = P + (size_t)(i - i0) * T;
        float *o = out + (size_t)(i - i0) * T;
        #pragma omp simd
        for (int s = 0; s <= i; s++) o[s] = ng_hash24(seed, stream, pbase + row + (size_t)s) < thr ? 0.0f : p[s] * keep;
        memset(o + i + 1, 0, (size_t)(i1 - i - 1) * sizeof(float));
    }
}

/* One head. X: the batch's qkv rows (T, 3C) at column h*hs (q; k at +C, v at +2C). P: the
 * head's kept (T,T) probabilities, or NULL; st: its (T,2) max and inverse sum otherwise.
 * w: scratch, 2*AB*T floats. */
static void head_forward(const attn_args *a, const float *X, float *P, float *st, float *Y, float *w, size_t pbase) {
    const int T = a->T, C = a->C, hs = a->hs, ld = 3 * C;
    for (int i0 = 0; i0 < T; i0 += AB) {
        const int i1 = block_end(i0, T);
        float *pb = P ? P + (size_t)i0 * T : w;   /* the block's rows (T apart) */
        /* S = q k^T scale over the keys up to the block's last row: the masked upper half is
         * mostly skipped (at T = 256, 5/8 of the square is computed) */
        ng_sgemm_serial(0, 1, i1 - i0, i1, hs, a->scale, X + (size_t)i0 * ld, ld, X + C, ld, 0.0f, pb, T);
        for (int i = i0; i < i1; i++) {
            float *p = pb + (size_t)(i - i0) * T;
            const int n = i + 1;
            float mx = -INFINITY;
            for (int s = 0; s < n; s++) mx = p[s] > mx ? p[s] : mx;
            float sum = 0;
            #pragma omp simd reduction(+ : sum)
            for (int s = 0; s < n; s++) { p[s] = ng_expf(p[s] - mx); sum += p[s]; }
            const float inv = 1.0f / sum;
            #pragma omp simd
            for (int s = 0; s < n; s++) p[s] *= inv;
            for (int s = n; s < (P ? T : i1); s++) p[s] = 0;
            if (!P) { st[2 * i] = mx; st[2 * i + 1] = inv; }
        }
        const float *pv = pb;
        if (a->pd > 0) { apply_dropout(a, pb, w + (size_t)AB * T, i0, i1, pbase); pv = w + (size_t)AB * T; }
        /* y = P' v: the block's rows need the keys up to its last row only */
        ng_sgemm_serial(0, 0, i1 - i0, hs, i1, 1.0f, pv, T, X + 2 * C, ld, 0.0f, Y + (size_t)i0 * C, C);
    }
}

/* One head's backward, block of rows by block of rows: the block's P (kept, or recomputed
 * from the saved max and sum by the forward's own GEMM and arithmetic, so bit for bit the
 * same), then dP' = dy v^T, dv += P'^T dy, dS = P (dP - sum_s P dP) scale (dP: dP' through the
 * dropout mask), dq += dS k, dk += dS^T q. w: scratch, 3*AB*T floats. */
static void head_backward(const attn_args *a, const float *X, const float *P, const float *st, const float *DY, float *dX,
                          float *w, size_t pbase) {
    const int T = a->T, C = a->C, hs = a->hs, ld = 3 * C;
    float *dS = w, *Pd = w + (size_t)AB * T, *Pr = w + 2 * (size_t)AB * T;
    for (int i0 = 0; i0 < T; i0 += AB) {
        const int i1 = block_end(i0, T);
        const float *pb = P + (size_t)i0 * T;   /* the block's probabilities (rows T apart) */
        if (!P) {
            ng_sgemm_serial(0, 1, i1 - i0, i1, hs, a->scale, X + (size_t)i0 * ld, ld, X + C, ld, 0.0f, Pr, T);
            for (int i = i0; i < i1; i++) {
                float *p = Pr + (size_t)(i - i0) * T;
                const int n = i + 1;
                const float mx = st[2 * i], inv = st[2 * i + 1];
                #pragma omp simd
                for (int s = 0; s < n; s++) p[s] = ng_expf(p[s] - mx);
                #pragma omp simd
                for (int s = 0; s < n; s++) p[s] *= inv;
                for (int s = n; s < i1; s++) p[s] = 0;
            }
            pb = Pr;
        }
        const float *pv = pb;
        if (a->pd > 0) { apply_dropout(a, pb, Pd, i0, i1, pbase); pv = Pd; }
        /* dv (keys 0..i1-1) += P'^T dy; dP' = dy v^T (row i needs the keys s <= i) */
        ng_sgemm_serial(1, 0, i1, hs, i1 - i0, 1.0f, pv, T, DY + (size_t)i0 * C, C, 1.0f, dX + 2 * C, ld);
        ng_sgemm_serial(0, 1, i1 - i0, i1, hs, 1.0f, DY + (size_t)i0 * C, C, X + 2 * C, ld, 0.0f, dS, T);
        /* through the dropout mask, then the softmax: dS = P (dP - sum_s P dP) scale, causal */
        for (int i = i0; i < i1; i++) {
            const float *p = pb + (size_t)(i - i0) * T;
            float *ds = dS + (size_t)(i - i0) * T;
            const int n = i + 1;
            if (a->pd > 0) {   /* the mask is in P' already: a dropped probability is 0 there (where P
                                 * itself is 0, dS below is 0 whatever the factor) */
                const float *pd = Pd + (size_t)(i - i0) * T;
                for (int s = 0; s < n; s++) ds[s] *= pd[s] != 0.0f ? a->keep_scale : 0.0f;
            }
            float dot = 0;
            #pragma omp simd reduction(+ : dot)
            for (int s = 0; s < n; s++) dot += p[s] * ds[s];
            #pragma omp simd
            for (int s = 0; s < n; s++) ds[s] = p[s] * (ds[s] - dot) * a->scale;
            for (int s = n; s < i1; s++) ds[s] = 0;
        }
        /* dq += dS k (the block's rows, keys 0..i1-1); dk (keys 0..i1-1) += dS^T q */
        ng_sgemm_serial(0, 0, i1 - i0, hs, i1, 1.0f, dS, T, X + C, ld, 1.0f, dX + (size_t)i0 * ld, ld);
        ng_sgemm_serial(1, 0, i1, hs, i1 - i0, 1.0f, dS, T, X + (size_t)i0 * ld, ld, 1.0f, dX + C, ld);
    }
}

static void attention_forward(ng_graph *g, ng_tensor *t) {
    const attn_args a = attn_setup(g, t);
    const int B = (int)t->ne[0], H = t->iarg[0], T = a.T, C = a.C, hs = a.hs;
    const int64_t row0 = g->drop_row0;   /* a shard of the batch: its rows' dropout masks */
    const float *X = t->src[0]->data;
    const size_t need = 2 * (size_t)AB * T;
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
            const size_t bh = (size_t)b * H + h;
            head_forward(&a, X + (size_t)b * T * 3 * C + h * hs, a.keep ? t->aux + bh * T * T : NULL,
                         a.keep ? NULL : t->aux + bh * T * 2, t->data + (size_t)b * T * C + h * hs, w,
                         ((size_t)(b + row0) * H + h) * T * T);
        }
    if (fail) ng_ref_attention_forward(g, t);   /* no scratch memory: the plain kernel needs none */
}

static void attention_backward(ng_graph *g, ng_tensor *t) {
    ng_tensor *qkv = t->src[0];
    if (!qkv->grad) return;
    const attn_args a = attn_setup(g, t);
    const int B = (int)t->ne[0], H = t->iarg[0], T = a.T, C = a.C, hs = a.hs;
    const int64_t row0 = g->drop_row0;
    const size_t need = 3 * (size_t)AB * T;
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
        for (int h = 0; h < H; h++) {
            const size_t bh = (size_t)b * H + h;
            head_backward(&a, qkv->data + (size_t)b * T * 3 * C + h * hs, a.keep ? t->aux + bh * T * T : NULL,
                          a.keep ? NULL : t->aux + bh * T * 2, t->grad + (size_t)b * T * C + h * hs,
                          qkv->grad + (size_t)b * T * 3 * C + h * hs, attn_scratch(need), ((size_t)(b + row0) * H + h) * T * T);
        }
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
    /* saved for backward: the softmax probabilities (B,H,T,T), or their rows' max and inverse
     * sum (B,H,T,2), from which backward recomputes them (keep_p_max_t above) */
    t->iarg[1] = T <= keep_p_max_t;
    if (ng__set_aux(t, B * n_head * T * (t->iarg[1] ? T : 2))) return NULL;
    return t;
}

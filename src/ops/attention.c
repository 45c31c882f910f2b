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
#include "fastmath.h"
#include "graph_internal.h"
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
                size_t base = (((size_t)b * H + h) * T + i) * T;
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
                size_t base = (((size_t)b * H + h) * T + i) * T;
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

/* per-thread scratch, grown as needed (OpenMP threads live for the process) */
static _Thread_local float *tl_buf;
static _Thread_local size_t tl_cap;
static float *attn_scratch(size_t n) {
    if (n > tl_cap) {
        free(tl_buf);
        tl_buf = aligned_alloc(64, ((n * sizeof(float)) + 63) & ~(size_t)63);
        tl_cap = tl_buf ? n : 0;
    }
    return tl_buf;
}

typedef struct {
    int T, C, hs;
    float scale, pd, keep_scale;
    uint64_t seed, stream;
} attn_args;

/* dropout factor of probability (i, s) of head bh: 0 or 1/(1-p) */
static inline float drop_factor(const attn_args *a, size_t base, int s) {
    return ng_hash_uniform(a->seed, a->stream, base + (size_t)s) < a->pd ? 0.0f : a->keep_scale;
}

/* One head forward. X: the batch's qkv rows (T, 3C) at column h*hs; P: (T,T) probabilities out;
 * Y: (T, C) output at column h*hs; w: scratch of 3*T*hs + T floats. */
static inline __attribute__((always_inline)) void head_forward(const attn_args *a, const int hs, const float *X, float *P,
                                                               float *Y, float *w, size_t pbase) {
    const int T = a->T, C = a->C;
    const size_t row = 3 * (size_t)C;
    float *Q = w, *KT = w + (size_t)T * hs, *V = KT + (size_t)T * hs, *pr = V + (size_t)T * hs;
    for (int s = 0; s < T; s++) {
        const float *x = X + s * row;
        for (int d = 0; d < hs; d++) {
            Q[s * hs + d] = x[d] * a->scale;
            KT[d * T + s] = x[C + d];
            V[s * hs + d] = x[2 * C + d];
        }
    }
    for (int i = 0; i < T; i++) {
        const int n = i + 1;
        float *p = P + (size_t)i * T;
        /* scores s < n: p[s] = sum_d q[d] kT[d][s], SIMD over s */
        #pragma omp simd
        for (int s = 0; s < n; s++) p[s] = 0;
        for (int d = 0; d < hs; d++) {
            const float qd = Q[i * hs + d];
            const float *kt = KT + (size_t)d * T;
            #pragma omp simd
            for (int s = 0; s < n; s++) p[s] += qd * kt[s];
        }
        float mx = -INFINITY;
        for (int s = 0; s < n; s++) mx = p[s] > mx ? p[s] : mx;
        float sum = 0;
        #pragma omp simd reduction(+ : sum)
        for (int s = 0; s < n; s++) { p[s] = ng_expf(p[s] - mx); sum += p[s]; }
        const float inv = 1.0f / sum;
        #pragma omp simd
        for (int s = 0; s < n; s++) p[s] *= inv;
        for (int s = n; s < T; s++) p[s] = 0;
        /* y = sum_s p'[s] v[s], SIMD over d */
        const float *pp = p;
        if (a->pd > 0) {
            for (int s = 0; s < n; s++) pr[s] = p[s] * drop_factor(a, pbase + (size_t)i * T, s);
            pp = pr;
        }
        float acc[hs];
        #pragma omp simd
        for (int d = 0; d < hs; d++) acc[d] = 0;
        for (int s = 0; s < n; s++) {
            const float ps = pp[s];
            const float *v = V + (size_t)s * hs;
            #pragma omp simd
            for (int d = 0; d < hs; d++) acc[d] += ps * v[d];
        }
        float *y = Y + (size_t)i * C;
        #pragma omp simd
        for (int d = 0; d < hs; d++) y[d] = acc[d];
    }
}

/* One head backward: adds into dX (the batch's qkv gradient rows at column h*hs).
 * w: scratch of 8*T*hs + 2*T*T floats. */
static inline __attribute__((always_inline)) void head_backward(const attn_args *a, const int hs, const float *X, const float *P,
                                                                const float *DY, float *dX, float *w, size_t pbase) {
    const int T = a->T, C = a->C;
    const size_t row = 3 * (size_t)C;
    const size_t th = (size_t)T * hs;
    float *Q = w, *K = Q + th, *VT = K + th, *dy = VT + th, *dQ = dy + th, *dK = dQ + th, *dV = dK + th;
    float *dS = dV + th, *Pd = dS + (size_t)T * T;   /* dS (T,T); Pd: P' when dropout is on */
    for (int s = 0; s < T; s++) {
        const float *x = X + s * row;
        const float *g = DY + (size_t)s * C;
        for (int d = 0; d < hs; d++) {
            Q[s * hs + d] = x[d];
            K[s * hs + d] = x[C + d];
            VT[d * T + s] = x[2 * C + d];
            dy[s * hs + d] = g[d];
        }
    }
    const float *Pv = P;   /* the probabilities v was weighted with */
    if (a->pd > 0) {
        for (int i = 0; i < T; i++)
            for (int s = 0; s <= i; s++) Pd[(size_t)i * T + s] = P[(size_t)i * T + s] * drop_factor(a, pbase + (size_t)i * T, s);
        Pv = Pd;
    }
    for (int i = 0; i < T; i++) {
        const int n = i + 1;
        const float *p = P + (size_t)i * T;
        float *ds = dS + (size_t)i * T;
        /* dP'[s] = dy[i] . v[s], SIMD over s */
        #pragma omp simd
        for (int s = 0; s < n; s++) ds[s] = 0;
        for (int d = 0; d < hs; d++) {
            const float g = dy[i * hs + d];
            const float *vt = VT + (size_t)d * T;
            #pragma omp simd
            for (int s = 0; s < n; s++) ds[s] += g * vt[s];
        }
        if (a->pd > 0)
            for (int s = 0; s < n; s++) ds[s] *= drop_factor(a, pbase + (size_t)i * T, s);
        /* softmax backward: dS = P (dP - sum P dP) scale */
        float dot = 0;
        #pragma omp simd reduction(+ : dot)
        for (int s = 0; s < n; s++) dot += p[s] * ds[s];
        #pragma omp simd
        for (int s = 0; s < n; s++) ds[s] = p[s] * (ds[s] - dot) * a->scale;
        /* dq[i] = sum_s dS[i][s] k[s] */
        float acc[hs];
        #pragma omp simd
        for (int d = 0; d < hs; d++) acc[d] = 0;
        for (int s = 0; s < n; s++) {
            const float v = ds[s];
            const float *k = K + (size_t)s * hs;
            #pragma omp simd
            for (int d = 0; d < hs; d++) acc[d] += v * k[d];
        }
        #pragma omp simd
        for (int d = 0; d < hs; d++) dQ[i * hs + d] = acc[d];
    }
    /* dk[s] = sum_{i>=s} dS[i][s] q[i];  dv[s] = sum_{i>=s} P'[i][s] dy[i] */
    for (int s = 0; s < T; s++) {
        float ak[hs], av[hs];
        #pragma omp simd
        for (int d = 0; d < hs; d++) { ak[d] = 0; av[d] = 0; }
        for (int i = s; i < T; i++) {
            const float gs = dS[(size_t)i * T + s], pv = Pv[(size_t)i * T + s];
            const float *q = Q + (size_t)i * hs, *g = dy + (size_t)i * hs;
            #pragma omp simd
            for (int d = 0; d < hs; d++) { ak[d] += gs * q[d]; av[d] += pv * g[d]; }
        }
        #pragma omp simd
        for (int d = 0; d < hs; d++) { dK[s * hs + d] = ak[d]; dV[s * hs + d] = av[d]; }
    }
    for (int s = 0; s < T; s++) {
        float *x = dX + s * row;
        #pragma omp simd
        for (int d = 0; d < hs; d++) {
            x[d] += dQ[s * hs + d];
            x[C + d] += dK[s * hs + d];
            x[2 * C + d] += dV[s * hs + d];
        }
    }
}

/* head sizes compiled with hs fixed (registers), and the general one */
#define HEAD_DISPATCH(fn, hs, ...) \
    switch (hs) { \
    case 16: fn(__VA_ARGS__, 16); break; case 32: fn(__VA_ARGS__, 32); break; \
    case 64: fn(__VA_ARGS__, 64); break; case 128: fn(__VA_ARGS__, 128); break; \
    default: fn(__VA_ARGS__, hs); break; }

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

#define FWD_CALL(a, X, P, Y, w, pbase, HS) head_forward(a, HS, X, P, Y, w, pbase)
#define BWD_CALL(a, X, P, DY, dX, w, pbase, HS) head_backward(a, HS, X, P, DY, dX, w, pbase)

void attention_forward(ng_graph *g, ng_tensor *t) {
    const attn_args a = attn_setup(g, t);
    const int B = (int)t->ne[0], H = t->iarg[0], T = a.T, C = a.C, hs = a.hs;
    const float *X = t->src[0]->data;
    int fail = 0;
    #pragma omp parallel for collapse(2) schedule(static) if ((int64_t)B * H * T * T * hs > 32768)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            float *w = attn_scratch(3 * (size_t)T * hs + T);
            if (!w) {
                #pragma omp atomic write
                fail = 1;
                continue;
            }
            const float *Xb = X + (size_t)b * T * 3 * C + h * hs;
            float *P = t->aux + ((size_t)b * H + h) * T * T;
            float *Y = t->data + (size_t)b * T * C + h * hs;
            size_t pbase = ((size_t)b * H + h) * T * T;
            HEAD_DISPATCH(FWD_CALL, hs, &a, Xb, P, Y, w, pbase)
        }
    if (fail) ng_ref_attention_forward(g, t);   /* no scratch memory: the plain kernel needs none */
}

void attention_backward(ng_graph *g, ng_tensor *t) {
    ng_tensor *qkv = t->src[0];
    if (!qkv->grad) return;
    const attn_args a = attn_setup(g, t);
    const int B = (int)t->ne[0], H = t->iarg[0], T = a.T, C = a.C, hs = a.hs;
    /* scratch first, so that a failure leaves the gradients untouched for the plain kernel */
    int fail = 0;
    #pragma omp parallel if ((int64_t)B * H * T * T * hs > 32768)
    {
        if (!attn_scratch(8 * (size_t)T * hs + 2 * (size_t)T * T)) {
            #pragma omp atomic write
            fail = 1;
        }
    }
    if (fail) { ng_ref_attention_backward(g, t); return; }
    #pragma omp parallel for collapse(2) schedule(static) if ((int64_t)B * H * T * T * hs > 32768)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            float *w = attn_scratch(8 * (size_t)T * hs + 2 * (size_t)T * T);
            const float *Xb = qkv->data + (size_t)b * T * 3 * C + h * hs;
            float *dXb = qkv->grad + (size_t)b * T * 3 * C + h * hs;
            const float *P = t->aux + ((size_t)b * H + h) * T * T;
            const float *DY = t->grad + (size_t)b * T * C + h * hs;
            size_t pbase = ((size_t)b * H + h) * T * T;
            HEAD_DISPATCH(BWD_CALL, hs, &a, Xb, P, DY, dXb, w, pbase)
        }
}

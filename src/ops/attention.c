/* attention.c - fused causal multi-head self-attention.
 * qkv (B,T,3C) holds q | k | v; head h uses columns [h*hs, (h+1)*hs) of each, hs = C/H.
 *   S = q k^T / sqrt(hs) (causal: s <= t), P = softmax(S), P' = dropout(P), y = P' v -> (B,T,C)
 * aux keeps P (B,H,T,T) for backward; the dropout mask is recomputed from the hash RNG.
 * Threads take (batch, head) pairs; the inner loops over the head dimension are SIMD. */
#include "fastmath.h"
#include "graph_internal.h"

#include <math.h>
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

void attention_forward(ng_graph *g, ng_tensor *t) {
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

void attention_backward(ng_graph *g, ng_tensor *t) {
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

/* attention.c - fused causal multi-head self-attention.
 * qkv (B,T,3C) holds q | k | v; head h uses columns [h*hs, (h+1)*hs) of each, hs = C/H.
 *   S = q k^T / sqrt(hs) (causal: s <= t), P = softmax(S), P' = dropout(P), y = P' v -> (B,T,C)
 * aux keeps P (B,H,T,T) for backward; the dropout mask is recomputed from the hash RNG. */
#include "graph_internal.h"

#include <math.h>
#include <string.h>

void attention_forward(ng_graph *g, ng_tensor *t) {
    ng_tensor *qkv = t->src[0];
    const int B = (int)t->ne[0], T = (int)t->ne[1], C = (int)t->ne[2], H = t->iarg[0], hs = C / H;
    const float scale = 1.0f / sqrtf((float)hs), pd = g->training ? t->farg[0] : 0.0f;
    const float keep_scale = 1.0f / (1.0f - pd);
    const uint64_t stream = ng_drop_stream(g, t);
    const float *X = qkv->data;
    /* threads only when there is work enough: a team per tiny call stalls on a busy machine */
    #pragma omp parallel for collapse(2) schedule(static) if ((int64_t)B * H * T * T * hs > 32768)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            for (int i = 0; i < T; i++) {
                const float *q = X + ((size_t)b * T + i) * 3 * C + h * hs;
                float *P = t->aux + (((size_t)b * H + h) * T + i) * T;
                float mx = -INFINITY;
                for (int s = 0; s <= i; s++) {
                    const float *k = X + ((size_t)b * T + s) * 3 * C + C + h * hs;
                    float d = 0;
                    for (int j = 0; j < hs; j++) d += q[j] * k[j];
                    P[s] = d * scale;
                    if (P[s] > mx) mx = P[s];
                }
                float sum = 0;
                for (int s = 0; s <= i; s++) { P[s] = expf(P[s] - mx); sum += P[s]; }
                float inv = 1.0f / sum;
                for (int s = 0; s <= i; s++) P[s] *= inv;
                for (int s = i + 1; s < T; s++) P[s] = 0;
                float *y = t->data + ((size_t)b * T + i) * C + h * hs;
                memset(y, 0, (size_t)hs * sizeof(float));
                size_t base = (((size_t)b * H + h) * T + i) * T;
                for (int s = 0; s <= i; s++) {
                    float p = P[s];
                    if (pd > 0) p = ng_hash_uniform(g->drop_seed, stream, base + s) < pd ? 0.0f : p * keep_scale;
                    const float *v = X + ((size_t)b * T + s) * 3 * C + 2 * C + h * hs;
                    for (int j = 0; j < hs; j++) y[j] += p * v[j];
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
    const float *X = qkv->data;
    float *dX = qkv->grad;
    #pragma omp parallel for collapse(2) schedule(static) if ((int64_t)B * H * T * T * hs > 32768)
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++) {
            float dP[T];
            for (int i = 0; i < T; i++) {
                const float *dy = t->grad + ((size_t)b * T + i) * C + h * hs;
                const float *P = t->aux + (((size_t)b * H + h) * T + i) * T;
                const float *q = X + ((size_t)b * T + i) * 3 * C + h * hs;
                float *dq = dX + ((size_t)b * T + i) * 3 * C + h * hs;
                size_t base = (((size_t)b * H + h) * T + i) * T;
                float dot = 0;
                for (int s = 0; s <= i; s++) {
                    const float *v = X + ((size_t)b * T + s) * 3 * C + 2 * C + h * hs;
                    float *dv = dX + ((size_t)b * T + s) * 3 * C + 2 * C + h * hs;
                    float m = 1.0f;   /* dropout factor of this probability */
                    if (pd > 0) m = ng_hash_uniform(g->drop_seed, stream, base + s) < pd ? 0.0f : keep_scale;
                    float d = 0, pm = P[s] * m;
                    for (int j = 0; j < hs; j++) { d += dy[j] * v[j]; dv[j] += pm * dy[j]; }
                    dP[s] = d * m;
                    dot += P[s] * dP[s];
                }
                for (int s = 0; s <= i; s++) {
                    float dS = P[s] * (dP[s] - dot) * scale;
                    const float *k = X + ((size_t)b * T + s) * 3 * C + C + h * hs;
                    float *dk = dX + ((size_t)b * T + s) * 3 * C + C + h * hs;
                    for (int j = 0; j < hs; j++) { dq[j] += dS * k[j]; dk[j] += dS * q[j]; }
                }
            }
        }
}

/* sample.c - next-token sampling: temperature, top-k, top-p (nucleus), multinomial draw. */
#include "core/internal.h"

#include <math.h>
#include <stdlib.h>

/* Descending order of values through an index array (work holds values, idx the order). */
static const float *g_sort_vals;
static int by_value_desc(const void *a, const void *b) {
    float x = g_sort_vals[*(const int *)a], y = g_sort_vals[*(const int *)b];
    return x < y ? 1 : x > y ? -1 : (*(const int *)a - *(const int *)b);
}

int ng_sample_logits(const float *logits, int V, float temperature, int top_k, float top_p,
                     ng_rng *rng, float *work, float *p_drawn) {
    int best = 0;
    for (int i = 1; i < V; i++) if (logits[i] > logits[best]) best = i;
    if (!(temperature > 0)) {       /* greedy (also for NaN temperature) */
        if (p_drawn) *p_drawn = 1.0f;
        return best;
    }
    float *p = work;                 /* probabilities (V) */
    int *idx = (int *)(work + V);    /* candidate ids (V) */
    float mx = logits[best] / temperature;
    double sum = 0;
    for (int i = 0; i < V; i++) { p[i] = expf(logits[i] / temperature - mx); sum += p[i]; }
    for (int i = 0; i < V; i++) p[i] = (float)(p[i] / sum);
    int n = V;
    for (int i = 0; i < V; i++) idx[i] = i;
    int need_sort = (top_k > 0 && top_k < V) || top_p < 1;
    if (need_sort) {
        g_sort_vals = p;   /* not reentrant across threads; sampling runs on one thread */
        qsort(idx, (size_t)V, sizeof *idx, by_value_desc);
        if (top_k > 0 && top_k < n) n = top_k;
        if (top_p < 1) {   /* nucleus of what top-k kept, renormalised (top_p <= 0: the argmax) */
            double kept = 0, c = 0;
            for (int k = 0; k < n; k++) kept += p[idx[k]];
            int k = 0;
            while (k < n) { c += p[idx[k]]; k++; if (c >= top_p * kept) break; }
            n = k;
        }
    }
    double mass = 0;
    for (int k = 0; k < n; k++) mass += p[idx[k]];
    double r = ng_rng_uniform(rng) * mass, c = 0;
    int pick = idx[n - 1];
    for (int k = 0; k < n; k++) {
        c += p[idx[k]];
        if (r < c) { pick = idx[k]; break; }
    }
    if (p_drawn) *p_drawn = (float)(p[pick] / mass);
    return pick;
}

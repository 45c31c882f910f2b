/* inspect.c - looking inside a text model: next-token probabilities at a temperature, their
 * entropy, and the attention maps of a token sequence (collected from the KV-cache inference,
 * one row per position). */
#include "core/internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int ng_next_probs(const float *logits, int V, float temperature, float *probs) {
    if (V < 1) return ng_set_error("next-token probabilities: vocabulary of %d tokens", V);
    if (!(temperature >= 0) || isinf(temperature)) return ng_set_error("temperature %g: must be a number >= 0", temperature);
    int best = -1;
    for (int i = 0; i < V; i++) {
        if (isnan(logits[i]) || logits[i] == INFINITY) return ng_set_error("logit %d is %g: the model gives no distribution", i, logits[i]);
        if (best < 0 || logits[i] > logits[best]) best = i;
    }
    if (logits[best] == -INFINITY) return ng_set_error("every logit is -inf: the model gives no distribution");
    if (temperature == 0) {   /* the limit T -> 0: all the mass on the argmax (the first of equals) */
        for (int i = 0; i < V; i++) probs[i] = 0;
        probs[best] = 1;
        return NG_OK;
    }
    const double mx = logits[best];
    double sum = 0;
    for (int i = 0; i < V; i++) {
        double e = exp(((double)logits[i] - mx) / temperature);
        probs[i] = (float)e;
        sum += e;
    }
    for (int i = 0; i < V; i++) probs[i] = (float)(probs[i] / sum);
    return NG_OK;
}

double ng_entropy_bits(const float *p, int V) {
    double h = 0;
    for (int i = 0; i < V; i++)
        if (p[i] > 0) h -= p[i] * log2(p[i]);
    return h > 0 ? h : 0;
}

/* ids must be valid tokens of m */
static int check_ids(const ng_model *m, const int32_t *ids, int n) {
    const int V = ng_model_cfg(m)->vocab_size;
    for (int i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= V) return ng_set_error("token %d (position %d) is not in the model's vocabulary of %d", ids[i], i, V);
    return NG_OK;
}

int ng_model_next_logits(ng_model *m, const int32_t *ids, int n, float *logits) {
    if (n < 1) return ng_set_error("next-token logits: no context tokens");
    if (check_ids(m, ids, n)) return NG_ERR;
    const ng_model_config *c = ng_model_cfg(m);
    int start = n > c->block_size ? n - c->block_size : 0;
    ng_infer *s = ng_infer_new(m, 1);
    if (!s) return NG_ERR;
    const float *l = NULL;
    for (int t = start; t < n; t++) l = ng_infer_step(s, ids + t);
    memcpy(logits, l, sizeof(float) * (size_t)c->vocab_size);
    ng_infer_free(s);
    return NG_OK;
}

int ng_model_attention(ng_model *m, const int32_t *ids, int n, float *att, float *logits) {
    const ng_model_config *c = ng_model_cfg(m);
    if (c->kind != NG_MODEL_GPT) return ng_set_error("a %s model has no attention", ng_model_kind_name(c->kind));
    if (n < 1 || n > c->block_size) return ng_set_error("attention maps: %d tokens, the model takes 1..%d", n, c->block_size);
    if (check_ids(m, ids, n)) return NG_ERR;
    const int L = c->n_layer, H = c->n_head;
    ng_infer *s = ng_infer_new(m, 1);
    if (!s) return NG_ERR;
    memset(att, 0, sizeof(float) * (size_t)L * H * n * n);
    const float *l = NULL;
    for (int t = 0; t < n; t++) {
        l = ng_infer_step(s, ids + t);
        for (int layer = 0; layer < L; layer++) {
            int n_ctx = 0;
            const float *rows = ng_infer_attention(s, layer, 0, &n_ctx);
            if (!rows || n_ctx != t + 1) {
                ng_infer_free(s);
                return ng_set_error("attention maps: no attention for layer %d at position %d", layer, t);
            }
            for (int h = 0; h < H; h++)
                memcpy(att + (((size_t)layer * H + h) * n + t) * n, rows + (size_t)h * c->block_size, sizeof(float) * (size_t)(t + 1));
        }
    }
    if (logits) memcpy(logits, l, sizeof(float) * (size_t)c->vocab_size);
    ng_infer_free(s);
    return NG_OK;
}

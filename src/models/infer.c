/* infer.c - incremental inference with a KV cache, llama2.c style: one token per stream per
 * step, keys and values of earlier positions kept, so a token costs O(context) not O(context^2).
 * Streams advance together (same position), so each linear is one small GEMM over streams. */
#include "kernels.h"
#include "model_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct ng_infer {
    ng_model *m;
    int S, pos, keep;
    int32_t *hist;          /* (S, T) tokens at positions 0..pos-1 */
    float *kc, *vc;         /* (L, S, T, C) key and value caches */
    float *x, *xn, *qkv, *y, *f, *logits;  /* (S,C) (S,C) (S,3C) (S,C) (S,4C) (S,V) */
    float *att;             /* (L, S, H, T) attention probabilities of the last step */
};

ng_infer *ng_infer_new(ng_model *m, int n_streams) {
    if (n_streams < 1 || n_streams > 65536) { ng_set_error("--batch %d out of range [1, 65536]", n_streams); return NULL; }
    ng_infer *s = calloc(1, sizeof *s);
    if (!s) { ng_set_error("out of memory creating a sampler"); return NULL; }
    const ng_model_config *c = &m->cfg;
    const size_t S = n_streams, T = c->block_size, C = c->n_embd, L = c->n_layer, V = c->vocab_size, H = c->n_head;
    s->m = m; s->S = n_streams; s->keep = c->block_size / 2;
    s->hist = ng_alloc_aligned(S * T * sizeof(int32_t), "sampling history");
    s->logits = ng_alloc_aligned(S * V * sizeof(float), "logits");
    int ok = s->hist && s->logits;
    if (c->kind == NG_MODEL_GPT && ok) {
        s->kc = ng_alloc_aligned(L * S * T * C * sizeof(float), "key cache");
        s->vc = ng_alloc_aligned(L * S * T * C * sizeof(float), "value cache");
        s->x = ng_alloc_aligned(S * C * sizeof(float), "activations");
        s->xn = ng_alloc_aligned(S * C * sizeof(float), "activations");
        s->qkv = ng_alloc_aligned(S * 3 * C * sizeof(float), "activations");
        s->y = ng_alloc_aligned(S * C * sizeof(float), "activations");
        s->f = ng_alloc_aligned(S * 4 * C * sizeof(float), "activations");
        s->att = ng_alloc_aligned(L * S * H * T * sizeof(float), "attention");
        ok = s->kc && s->vc && s->x && s->xn && s->qkv && s->y && s->f && s->att;
    }
    if (!ok) { ng_infer_free(s); return NULL; }
    return s;
}

void ng_infer_free(ng_infer *s) {
    if (!s) return;
    float *bufs[] = {s->kc, s->vc, s->x, s->xn, s->qkv, s->y, s->f, s->logits, s->att};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) ng_free_aligned(bufs[i]);
    ng_free_aligned(s->hist);
    free(s);
}

void ng_infer_reset(ng_infer *s) { s->pos = 0; }

void ng_infer_set_keep(ng_infer *s, int keep) {
    int T = s->m->cfg.block_size;
    s->keep = keep < 0 ? 0 : keep > T - 1 ? T - 1 : keep;
}

/* One GPT position for every stream: tokens (S) at position s->pos -> logits (S,V). */
static void gpt_step(ng_infer *s, const int32_t *tokens) {
    const ng_model *m = s->m;
    const int S = s->S, T = m->cfg.block_size, C = m->cfg.n_embd, H = m->cfg.n_head, hs = C / H;
    const int L = m->cfg.n_layer, V = m->cfg.vocab_size, pos = s->pos;
    const float scale = 1.0f / sqrtf((float)hs);
    for (int i = 0; i < S; i++) {
        const float *te = m->wte->data + (size_t)tokens[i] * C, *pe = m->wpe->data + (size_t)pos * C;
        for (int j = 0; j < C; j++) s->x[(size_t)i * C + j] = te[j] + pe[j];
    }
    for (int l = 0; l < L; l++) {
        const gpt_block *b = &m->h[l];
        ng_k_layernorm(s->xn, NULL, NULL, s->x, b->ln_1_w->data, b->ln_1_b->data, S, C, 1e-5f);
        ng_k_linear(s->qkv, s->xn, b->c_attn_w->data, b->c_attn_b->data, S, C, 3 * C);
        float *kc = s->kc + (size_t)l * S * T * C, *vc = s->vc + (size_t)l * S * T * C;
        #pragma omp parallel for if (S * H * (pos + 1) * hs > 32768)
        for (int i = 0; i < S; i++) {
            float *ki = kc + (size_t)i * T * C, *vi = vc + (size_t)i * T * C;
            memcpy(ki + (size_t)pos * C, s->qkv + (size_t)i * 3 * C + C, (size_t)C * sizeof(float));
            memcpy(vi + (size_t)pos * C, s->qkv + (size_t)i * 3 * C + 2 * C, (size_t)C * sizeof(float));
            for (int h = 0; h < H; h++) {
                const float *q = s->qkv + (size_t)i * 3 * C + h * hs;
                float *p = s->att + (((size_t)l * S + i) * H + h) * T;
                float mx = -INFINITY, sum = 0;
                for (int t = 0; t <= pos; t++) {
                    const float *k = ki + (size_t)t * C + h * hs;
                    float d = 0;
                    for (int j = 0; j < hs; j++) d += q[j] * k[j];
                    p[t] = d * scale;
                    if (p[t] > mx) mx = p[t];
                }
                for (int t = 0; t <= pos; t++) { p[t] = expf(p[t] - mx); sum += p[t]; }
                float *y = s->y + (size_t)i * C + h * hs;
                memset(y, 0, (size_t)hs * sizeof(float));
                for (int t = 0; t <= pos; t++) {
                    p[t] /= sum;
                    const float *v = vi + (size_t)t * C + h * hs;
                    for (int j = 0; j < hs; j++) y[j] += p[t] * v[j];
                }
            }
        }
        /* x += proj(y); x += mlp_proj(gelu(fc(ln_2(x)))) */
        ng_k_linear(s->xn, s->y, b->c_proj_w->data, b->c_proj_b->data, S, C, C);
        for (int64_t i = 0; i < (int64_t)S * C; i++) s->x[i] += s->xn[i];
        ng_k_layernorm(s->xn, NULL, NULL, s->x, b->ln_2_w->data, b->ln_2_b->data, S, C, 1e-5f);
        ng_k_linear(s->f, s->xn, b->c_fc_w->data, b->c_fc_b->data, S, C, 4 * C);
        ng_k_gelu(s->f, s->f, (int64_t)S * 4 * C);
        ng_k_linear(s->xn, s->f, b->mlp_proj_w->data, b->mlp_proj_b->data, S, 4 * C, C);
        for (int64_t i = 0; i < (int64_t)S * C; i++) s->x[i] += s->xn[i];
    }
    ng_k_layernorm(s->xn, NULL, NULL, s->x, m->ln_f_w->data, m->ln_f_b->data, S, C, 1e-5f);
    ng_k_linear(s->logits, s->xn, m->wte->data, NULL, S, C, V);
    for (int i = 0; i < S; i++) s->hist[(size_t)i * T + pos] = tokens[i];
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
        /* context full: rebuild the cache from the last `keep` tokens at positions 0..keep-1 */
        int keep = s->keep;
        for (int i = 0; i < S; i++)
            memmove(s->hist + (size_t)i * T, s->hist + (size_t)i * T + (T - keep), (size_t)keep * sizeof(int32_t));
        s->pos = 0;
        int32_t col[S];
        for (int p = 0; p < keep; p++) {
            for (int i = 0; i < S; i++) col[i] = s->hist[(size_t)i * T + p];
            gpt_step(s, col);
        }
    }
    gpt_step(s, tokens);
    return s->logits;
}

const float *ng_infer_attention(const ng_infer *s, int layer, int stream, int *n_ctx) {
    const ng_model_config *c = &s->m->cfg;
    if (c->kind != NG_MODEL_GPT || s->pos == 0 || layer < 0 || layer >= c->n_layer || stream < 0 || stream >= s->S) return NULL;
    if (n_ctx) *n_ctx = s->pos;
    return s->att + ((size_t)layer * s->S + stream) * c->n_head * c->block_size;
}

/* model.c - text model configs (checks, JSON) and dispatch to bigram.c / gpt.c. */
#include "model_internal.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

const char *ng_model_kind_name(ng_model_kind k) { return k == NG_MODEL_GPT ? "gpt" : "bigram"; }

int ng_model_config_check(const ng_model_config *c) {
    const int64_t big = 1 << 20;
    if (c->kind != NG_MODEL_GPT && c->kind != NG_MODEL_BIGRAM) return ng_set_error("unknown model kind %d", c->kind);
    if (c->vocab_size < 1 || c->vocab_size > (1 << 22)) return ng_set_error("vocabulary size %d out of range [1, %d]", c->vocab_size, 1 << 22);
    if (c->block_size < 1 || c->block_size > big) return ng_set_error("--block-size %d out of range [1, %lld]", c->block_size, (long long)big);
    if (c->dropout < 0 || c->dropout >= 1 || c->dropout != c->dropout) return ng_set_error("--dropout %g outside [0, 1)", c->dropout);
    if (c->kind == NG_MODEL_BIGRAM) {
        if ((int64_t)c->vocab_size * c->vocab_size > ((int64_t)1 << 31))
            return ng_set_error("a bigram table of %d x %d is too large (use --tokenizer char or a smaller --vocab-size)", c->vocab_size, c->vocab_size);
        return NG_OK;
    }
    if (c->n_layer < 1 || c->n_layer > 1024) return ng_set_error("--n-layer %d out of range [1, 1024]", c->n_layer);
    if (c->n_head < 1 || c->n_head > 1024) return ng_set_error("--n-head %d out of range [1, 1024]", c->n_head);
    if (c->n_embd < 1 || c->n_embd > 65536) return ng_set_error("--n-embd %d out of range [1, 65536]", c->n_embd);
    if (c->n_embd % c->n_head) return ng_set_error("--n-embd %d is not divisible by --n-head %d", c->n_embd, c->n_head);
    return NG_OK;
}

int64_t ng_model_param_count(const ng_model_config *c) {
    int64_t V = c->vocab_size, T = c->block_size, L = c->n_layer, C = c->n_embd;
    if (c->kind == NG_MODEL_BIGRAM) return V * V;
    return V * C + T * C + L * (12 * C * C + 13 * C) + 2 * C;
}

char *ng_model_config_to_json(const ng_model_config *c) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", ng_model_kind_name(c->kind));
    cJSON_AddNumberToObject(o, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(o, "block_size", c->block_size);
    if (c->kind == NG_MODEL_GPT) {
        cJSON_AddNumberToObject(o, "n_layer", c->n_layer);
        cJSON_AddNumberToObject(o, "n_head", c->n_head);
        cJSON_AddNumberToObject(o, "n_embd", c->n_embd);
        cJSON_AddNumberToObject(o, "dropout", c->dropout);
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* Read an integer field in [lo, hi]; error names the field. */
static int get_int(const cJSON *o, const char *key, int lo, int hi, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    /* the range first: converting a double outside int's range (1e300, inf) is undefined */
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi) || v->valuedouble != (double)(int)v->valuedouble)
        return ng_set_error("model config: '%s' missing or not an integer in [%d, %d]", key, lo, hi);
    *out = (int)v->valuedouble;
    return NG_OK;
}

int ng_model_config_from_json(const char *json, ng_model_config *c) {
    memset(c, 0, sizeof *c);
    cJSON *o = json ? cJSON_Parse(json) : NULL;
    if (!cJSON_IsObject(o)) { cJSON_Delete(o); return ng_set_error("model config is not a JSON object"); }
    int rc = NG_ERR;
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(o, "model");
    if (!cJSON_IsString(k)) { ng_set_error("model config: 'model' missing"); goto done; }
    if (strcmp(k->valuestring, "gpt") == 0) c->kind = NG_MODEL_GPT;
    else if (strcmp(k->valuestring, "bigram") == 0) c->kind = NG_MODEL_BIGRAM;
    else { ng_set_error("model config: unknown model '%.40s'", k->valuestring); goto done; }
    if (get_int(o, "vocab_size", 1, 1 << 22, &c->vocab_size) || get_int(o, "block_size", 1, 1 << 20, &c->block_size)) goto done;
    if (c->kind == NG_MODEL_GPT) {
        if (get_int(o, "n_layer", 1, 1024, &c->n_layer) || get_int(o, "n_head", 1, 1024, &c->n_head) ||
            get_int(o, "n_embd", 1, 65536, &c->n_embd)) goto done;
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "dropout");
        double dv = cJSON_IsNumber(d) ? d->valuedouble : 0.0;
        if (!(dv >= 0 && dv < 1)) { ng_set_error("model config: 'dropout' %g outside [0, 1)", dv); goto done; }
        c->dropout = (float)dv;
    }
    rc = ng_model_config_check(c);
done:
    cJSON_Delete(o);
    return rc;
}

ng_model *ng_model_new(const ng_model_config *cfg) {
    if (ng_model_config_check(cfg)) return NULL;
    ng_model *m = calloc(1, sizeof *m);
    if (!m) { ng_set_error("out of memory creating a model"); return NULL; }
    m->cfg = *cfg;
    m->P = ng_params_new();
    if (!m->P) { free(m); return NULL; }
    int rc = cfg->kind == NG_MODEL_GPT ? gpt_declare(m) : bigram_declare(m);
    if (rc || ng_params_alloc(m->P)) { ng_model_free(m); return NULL; }
    return m;
}

void ng_model_free(ng_model *m) {
    if (!m) return;
    ng_params_free(m->P);
    free(m->h);
    free(m);
}

void ng_model_init(ng_model *m, uint64_t seed) {
    ng_rng rng;
    ng_rng_seed(&rng, seed);
    if (m->cfg.kind == NG_MODEL_GPT) gpt_init(m, &rng);
    else bigram_init(m, &rng);
}

ng_params *ng_model_params(ng_model *m) { return m->P; }
const ng_model_config *ng_model_cfg(const ng_model *m) { return &m->cfg; }

int ng_model_build(ng_model *m, ng_graph *g, int B, int T, ng_lm_graph *out) {
    if (B < 1 || T < 1) return ng_set_error("batch %d x block %d: sizes must be positive", B, T);
    if (m->cfg.kind == NG_MODEL_GPT && T > m->cfg.block_size)
        return ng_set_error("block size %d exceeds the model's %d", T, m->cfg.block_size);
    memset(out, 0, sizeof *out);
    int rc = m->cfg.kind == NG_MODEL_GPT ? gpt_build(m, g, B, T, out) : bigram_build(m, g, B, T, out);
    if (rc) return rc;
    return ng_graph_finalize(g, out->loss);
}

void ng_text_batch(const int32_t *ids, size_t n, int B, int T, ng_rng *rng, int32_t *x, int32_t *y) {
    for (int b = 0; b < B; b++) {
        size_t start = ng_rng_below(rng, (uint32_t)(n - T));
        memcpy(x + (size_t)b * T, ids + start, (size_t)T * sizeof(int32_t));
        memcpy(y + (size_t)b * T, ids + start + 1, (size_t)T * sizeof(int32_t));
    }
}

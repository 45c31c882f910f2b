/* model.c - one model type for every kind: the kind table, configs (checks and JSON), creating,
 * initialising and freeing a model, and the language-model graph and batches of text kinds.
 * Each kind's own file declares, initialises and builds it: bigram.c, gpt.c (text), ae.c
 * (AE, DAE, VAE), gan.c, classifier.c (images). */
#include "models/model_internal.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const ng_kind_def *const KINDS[NG_MODEL_KINDS] = {
    [NG_MODEL_BIGRAM] = &ng_kind_bigram, [NG_MODEL_GPT] = &ng_kind_gpt, [NG_MODEL_AE] = &ng_kind_ae,
    [NG_MODEL_DAE] = &ng_kind_dae, [NG_MODEL_VAE] = &ng_kind_vae, [NG_MODEL_GAN] = &ng_kind_gan,
    [NG_MODEL_CLASSIFIER] = &ng_kind_classifier,
};

static const ng_kind_def *kind_def(ng_model_kind k) { return (unsigned)k < NG_MODEL_KINDS ? KINDS[k] : NULL; }

const char *ng_model_kind_name(ng_model_kind k) { return kind_def(k) ? kind_def(k)->name : "?"; }

int ng_model_kind_parse(const char *name, ng_model_kind *k) {
    for (int i = 0; name && i < NG_MODEL_KINDS; i++)
        if (!strcmp(name, KINDS[i]->name)) { *k = (ng_model_kind)i; return NG_OK; }
    return NG_ERR;
}

int ng_model_kind_is_text(ng_model_kind k) { return kind_def(k) && kind_def(k)->objective == NG_OBJ_LM; }

ng_objective ng__model_objective(const ng_model *m) { return m->def->objective; }

/* ---------------------------------------------------------------- configs */

static int text_check(const ng_model_config *c) {
    const int64_t big = 1 << 20;
    if (c->vocab_size < 1 || c->vocab_size > (1 << 22)) return ng_set_error("vocabulary size %d out of range [1, %d]", c->vocab_size, 1 << 22);
    if (c->block_size < 1 || c->block_size > big) return ng_set_error("--block-size %d out of range [1, %lld]", c->block_size, (long long)big);
    if (c->dropout < 0 || c->dropout >= 1 || c->dropout != c->dropout) return ng_set_error("--dropout %g outside [0, 1)", c->dropout);
    return NG_OK;
}

static int image_check(const ng_model_config *c) {
    if (c->c != 1 && c->c != 3) return ng_set_error("--channels %d: images have 1 or 3 channels", c->c);
    if (c->h < 4 || c->w < 4 || c->h > 1024 || c->w > 1024) return ng_set_error("image size %dx%d out of range [4, 1024]", c->h, c->w);
    if (!(c->beta >= 0 && c->beta <= 1e6)) return ng_set_error("--beta %g out of range [0, 1e6]", c->beta);
    if (c->arch != NG_ARCH_MLP && c->arch != NG_ARCH_CONV) return ng_set_error("--arch: unknown architecture %d (mlp or conv)", c->arch);
    return NG_OK;
}

int ng_model_config_check(const ng_model_config *c) {
    const ng_kind_def *d = kind_def(c->kind);
    if (!d) return ng_set_error("unknown model kind %d", c->kind);
    if (d->objective == NG_OBJ_LM ? text_check(c) : image_check(c)) return NG_ERR;
    return d->check(c);
}

char *ng_model_config_to_json(const ng_model_config *c) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", ng_model_kind_name(c->kind));
    if (ng_model_kind_is_text(c->kind)) {
        cJSON_AddNumberToObject(o, "vocab_size", c->vocab_size);
        cJSON_AddNumberToObject(o, "block_size", c->block_size);
        if (c->kind == NG_MODEL_GPT) {
            cJSON_AddNumberToObject(o, "n_layer", c->n_layer);
            cJSON_AddNumberToObject(o, "n_head", c->n_head);
            cJSON_AddNumberToObject(o, "n_embd", c->n_embd);
            cJSON_AddNumberToObject(o, "dropout", c->dropout);
            if (c->gelu == NG_GELU_EXACT) cJSON_AddStringToObject(o, "gelu", "exact");
            if (c->no_bias) cJSON_AddBoolToObject(o, "bias", 0);
        }
    } else {
        cJSON_AddNumberToObject(o, "channels", c->c);
        cJSON_AddNumberToObject(o, "height", c->h);
        cJSON_AddNumberToObject(o, "width", c->w);
        cJSON_AddNumberToObject(o, "hidden", c->hidden);
        cJSON_AddNumberToObject(o, "latent", c->latent);
        cJSON_AddNumberToObject(o, "beta", c->beta);
        if (c->kind != NG_MODEL_GAN && c->kind != NG_MODEL_CLASSIFIER) cJSON_AddStringToObject(o, "arch", c->arch == NG_ARCH_CONV ? "conv" : "mlp");
        if (c->kind == NG_MODEL_CLASSIFIER) cJSON_AddNumberToObject(o, "classes", c->n_classes);
    }
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return s;
}

/* Read an integer field in [lo, hi]; the error names the field (`what`: "model config", ...). */
static int get_int(const cJSON *o, const char *what, const char *key, double lo, double hi, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    /* the range first: converting a double outside int's range (1e300, inf) is undefined */
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= lo && v->valuedouble <= hi) || v->valuedouble != (double)(int)v->valuedouble) {
        if (lo <= -2147483648.0) return ng_set_error("%s: '%s' missing or not an integer", what, key);
        return ng_set_error("%s: '%s' missing or not an integer in [%.0f, %.0f]", what, key, lo, hi);
    }
    *out = (int)v->valuedouble;
    return NG_OK;
}

static int text_from_json(const cJSON *o, ng_model_config *c) {
    static const char W[] = "model config";
    if (get_int(o, W, "vocab_size", 1, 1 << 22, &c->vocab_size) || get_int(o, W, "block_size", 1, 1 << 20, &c->block_size)) return NG_ERR;
    if (c->kind == NG_MODEL_GPT) {
        if (get_int(o, W, "n_layer", 1, 1024, &c->n_layer) || get_int(o, W, "n_head", 1, 1024, &c->n_head) ||
            get_int(o, W, "n_embd", 1, 65536, &c->n_embd)) return NG_ERR;
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(o, "dropout");
        double dv = cJSON_IsNumber(d) ? d->valuedouble : 0.0;
        if (!(dv >= 0 && dv < 1)) return ng_set_error("model config: 'dropout' %g outside [0, 1)", dv);
        c->dropout = (float)dv;
        const cJSON *ge = cJSON_GetObjectItemCaseSensitive(o, "gelu"), *bi = cJSON_GetObjectItemCaseSensitive(o, "bias");
        if (ge && !(cJSON_IsString(ge) && (!strcmp(ge->valuestring, "tanh") || !strcmp(ge->valuestring, "exact"))))
            return ng_set_error("model config: 'gelu' is not \"tanh\" or \"exact\"");
        c->gelu = ge && !strcmp(ge->valuestring, "exact") ? NG_GELU_EXACT : NG_GELU_TANH;
        if (bi && !cJSON_IsBool(bi)) return ng_set_error("model config: 'bias' is not true or false");
        c->no_bias = bi && cJSON_IsFalse(bi);
    }
    return NG_OK;
}

static int image_from_json(const cJSON *o, ng_model_config *c) {
    static const char W[] = "image model config";
    const double lo = -2147483648.0, hi = 2147483647.0;
    if (get_int(o, W, "channels", lo, hi, &c->c) || get_int(o, W, "height", lo, hi, &c->h) || get_int(o, W, "width", lo, hi, &c->w) ||
        get_int(o, W, "latent", lo, hi, &c->latent)) return NG_ERR;
    /* a GAN has no hidden layer size: nanogen writes --hidden's default, a PyTorch writer may leave it out */
    c->hidden = 400;
    if ((c->kind != NG_MODEL_GAN || cJSON_GetObjectItemCaseSensitive(o, "hidden")) && get_int(o, W, "hidden", lo, hi, &c->hidden)) return NG_ERR;
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(o, "beta");
    double bv = cJSON_IsNumber(b) ? b->valuedouble : 1.0;
    if (!(bv >= 0 && bv <= 1e6)) return ng_set_error("image model config: 'beta' %g out of range [0, 1e6]", bv);
    c->beta = (float)bv;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, "arch");
    if (a && !(cJSON_IsString(a) && (!strcmp(a->valuestring, "mlp") || !strcmp(a->valuestring, "conv"))))
        return ng_set_error("image model config: 'arch' is not \"mlp\" or \"conv\"");
    c->arch = a && !strcmp(a->valuestring, "conv") ? NG_ARCH_CONV : NG_ARCH_MLP;
    if (c->kind == NG_MODEL_CLASSIFIER && get_int(o, W, "classes", lo, hi, &c->n_classes)) return NG_ERR;
    return NG_OK;
}

int ng_model_config_from_json(const char *json, ng_model_config *c) {
    memset(c, 0, sizeof *c);
    cJSON *o = json ? cJSON_Parse(json) : NULL;
    int rc = NG_ERR;
    if (!cJSON_IsObject(o)) { ng_set_error("model config is not a JSON object"); goto done; }
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(o, "model");
    if (!cJSON_IsString(k)) { ng_set_error("model config: 'model' missing"); goto done; }
    if (ng_model_kind_parse(k->valuestring, &c->kind)) { ng_set_error("model config: unknown model '%.40s'", k->valuestring); goto done; }
    if (ng_model_kind_is_text(c->kind) ? text_from_json(o, c) : image_from_json(o, c)) goto done;
    rc = ng_model_config_check(c);
done:
    cJSON_Delete(o);
    return rc;
}

/* ---------------------------------------------------------------- creating a model */

/* A model with every tensor declared (names, shapes) but no storage yet. */
static ng_model *model_declare(const ng_model_config *cfg) {
    if (ng_model_config_check(cfg)) return NULL;
    ng_model *m = calloc(1, sizeof *m);
    if (!m) { ng_set_error("out of memory creating a model"); return NULL; }
    m->cfg = *cfg;
    m->def = kind_def(cfg->kind);
    m->n_blocks = m->def->n_blocks;
    for (int i = 0; i < m->n_blocks; i++) if (!(m->P[i] = ng_params_new())) goto fail;
    if (!(m->buf = ng_params_new()) || m->def->declare(m)) goto fail;
    return m;
fail:
    ng_model_free(m);
    return NULL;
}

int64_t ng_model_param_count(const ng_model_config *cfg) {
    if (cfg->kind == NG_MODEL_GPT && !ng_model_config_check(cfg)) {   /* counted without declaring L blocks */
        const int64_t V = cfg->vocab_size, T = cfg->block_size, L = cfg->n_layer, C = cfg->n_embd;
        return cfg->no_bias ? V * C + T * C + L * (12 * C * C + 2 * C) + C : V * C + T * C + L * (12 * C * C + 13 * C) + 2 * C;
    }
    ng_model *m = model_declare(cfg);
    if (!m) return -1;
    int64_t n = ng_params_numel(m->buf);
    for (int i = 0; i < m->n_blocks; i++) n += ng_params_numel(m->P[i]);
    ng_model_free(m);
    return n;
}

ng_model *ng_model_new(const ng_model_config *cfg) {
    ng_model *m = model_declare(cfg);
    if (!m) return NULL;
    for (int i = 0; i < m->n_blocks; i++) if (ng_params_alloc(m->P[i])) goto fail;
    if (ng_params_count(m->buf) && ng_params_alloc(m->buf)) goto fail;
    return m;
fail:
    ng_model_free(m);
    return NULL;
}

void ng_model_free(ng_model *m) {
    if (!m) return;
    for (int i = 0; i < 2; i++) ng_params_free(m->P[i]);
    ng_params_free(m->buf);
    if (m->cfg.kind == NG_MODEL_GPT) free(m->w.gpt.h);
    free(m);
}

void ng_model_init(ng_model *m, uint64_t seed) {
    ng_rng rng;
    ng_rng_seed(&rng, seed);
    m->def->init(m, &rng);
}

int ng_model_n_blocks(const ng_model *m) { return m->n_blocks; }
ng_params *ng_model_block(ng_model *m, int block) { return block >= 0 && block < m->n_blocks ? m->P[block] : NULL; }
ng_params *ng_model_params(ng_model *m) { return m->P[0]; }
ng_params *ng_model_buffers(ng_model *m) { return ng_params_count(m->buf) ? m->buf : NULL; }
const ng_model_config *ng_model_cfg(const ng_model *m) { return &m->cfg; }

/* ---------------------------------------------------------------- declaring parameters */

ng_tensor *ng__decl(ng_params *P, const char *name, int ndim, int64_t a, int64_t b, int64_t c, int64_t d) {
    int64_t ne[4] = {a, b, c, d};
    return ng_param(P, name, ndim, ne, 0);
}

int ng__linear_decl(ng_params *P, ng_tensor **w, ng_tensor **b, const char *name, int in, int out) {
    char n[64];
    snprintf(n, sizeof n, "%s.weight", name);
    *w = ng__decl(P, n, 2, out, in, 0, 0);
    snprintf(n, sizeof n, "%s.bias", name);
    *b = ng__decl(P, n, 1, out, 0, 0, 0);
    return *w && *b ? NG_OK : NG_ERR;
}

void ng__init_uniform(ng_tensor *t, float bound, ng_rng *r) {
    for (int64_t i = 0; i < t->n; i++) t->data[i] = (2.0f * ng_rng_uniform(r) - 1.0f) * bound;
}

void ng__init_default(ng_params *P, ng_rng *r) {
    int64_t fan_in = 1;
    for (int i = 0; i < ng_params_count(P); i++) {
        ng_tensor *t = ng_params_get(P, i);
        if (t->ndim >= 2) fan_in = t->n / t->ne[0];
        ng__init_uniform(t, 1.0f / sqrtf((float)fan_in), r);
    }
}

void ng__init_block0(ng_model *m, ng_rng *r) { ng__init_default(m->P[0], r); }

/* ---------------------------------------------------------------- text kinds: graph and batches */

int ng_model_build(ng_model *m, ng_graph *g, int B, int T, ng_lm_graph *out) {
    if (m->def->objective != NG_OBJ_LM) return ng_set_error("a %s has no language-model graph", m->def->name);
    if (B < 1 || T < 1) return ng_set_error("batch %d x block %d: sizes must be positive", B, T);
    if (m->cfg.kind == NG_MODEL_GPT && T > m->cfg.block_size)
        return ng_set_error("block size %d exceeds the model's %d", T, m->cfg.block_size);
    memset(out, 0, sizeof *out);
    int rc = m->def->build_lm(m, g, B, T, out);
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

int ng_model_describe(const ng_model *m, char *buf, size_t cap) {
    char whole[512];   /* the kinds write into room enough; the caller gets snprintf's answer */
    m->def->describe(&m->cfg, whole, sizeof whole);
    return snprintf(buf, cap, "%s", whole);
}

int ng__image_describe(const ng_model_config *c, char *buf, size_t cap, int hidden, int latent) {
    int k = snprintf(buf, cap, "pictures %dx%dx%d", c->c, c->h, c->w);
    if (hidden && k >= 0 && (size_t)k < cap) k += snprintf(buf + k, cap - k, ", hidden %d", c->hidden);
    if (latent && k >= 0 && (size_t)k < cap) k += snprintf(buf + k, cap - k, ", latent %d", c->latent);
    return k;
}

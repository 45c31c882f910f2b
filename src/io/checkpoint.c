/* checkpoint.c - models, tokenizers and optimizer state in safetensors files. */
#include "nanogen.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

char *ng_checkpoint_model_path(const char *path) {
    struct stat st;
    size_t n = strlen(path);
    char *out = ng_malloc(n + 32, "a path");
    if (!out) return NULL;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) snprintf(out, n + 32, "%s/model.safetensors", path);
    else if (n > 12 && strcmp(path + n - 12, ".safetensors") == 0) snprintf(out, n + 32, "%s", path);
    else snprintf(out, n + 32, "%s/model.safetensors", path);
    return out;
}

/* The directory that holds a checkpoint path (DIR or DIR/x.safetensors), malloc'd. */
static char *checkpoint_dir(const char *path) {
    char *mp = ng_checkpoint_model_path(path);
    if (!mp) return NULL;
    char *slash = strrchr(mp, '/');
    if (slash) *slash = 0; else strcpy(mp, ".");
    return mp;
}

int ng_checkpoint_save(const char *dir, ng_model *m, const ng_tokenizer *tok, const char *train_json, ng_adamw *opt) {
    if (ng_mkdir_p(dir)) return NG_ERR;
    ng_params *P = ng_model_params(m);
    int n = ng_params_count(P), rc = NG_ERR;
    size_t plen = strlen(dir) + 32;
    char *path = malloc(plen);
    ng_st_tensor *ts = calloc((size_t)2 * n + 1, sizeof *ts);
    char **names = calloc((size_t)2 * n + 1, sizeof *names);
    char *cfg = ng_model_config_to_json(ng_model_cfg(m));
    char *tj = ng_tokenizer_to_json(tok);
    char tbuf[32];
    if (!path || !ts || !names || !cfg || !tj) { ng_set_error("out of memory saving a checkpoint"); goto done; }
    if (opt) {
        /* the optimizer first: a crash between the two files leaves an older model with a
         * newer optimizer, which resume detects through the step counts */
        float *base = ng_params_data(P);
        for (int i = 0; i < n; i++) {
            ng_tensor *t = ng_params_get(P, i);
            for (int k = 0; k < 2; k++) {
                ng_st_tensor *s = &ts[2 * i + k];
                size_t len = strlen(t->name) + 3;
                names[2 * i + k] = malloc(len);
                if (!names[2 * i + k]) { ng_set_error("out of memory saving a checkpoint"); goto done; }
                snprintf(names[2 * i + k], len, "%c.%s", k ? 'v' : 'm', t->name);
                s->name = names[2 * i + k];
                s->ndim = t->ndim;
                memcpy(s->shape, t->ne, sizeof s->shape);
                s->data = (k ? ng_adamw_v(opt) : ng_adamw_m(opt)) + (t->data - base);
            }
        }
        snprintf(tbuf, sizeof tbuf, "%" PRId64, ng_adamw_t(opt));
        const char *keys[] = {"format", "t"}, *vals[] = {"nanogen-optim", tbuf};
        snprintf(path, plen, "%s/optim.safetensors", dir);
        if (ng_safetensors_write(path, ts, 2 * n, keys, vals, 2)) goto done;
    }
    for (int i = 0; i < n; i++) {
        ng_tensor *t = ng_params_get(P, i);
        ts[i].name = t->name; ts[i].ndim = t->ndim; ts[i].data = t->data;
        memcpy(ts[i].shape, t->ne, sizeof ts[i].shape);
    }
    const char *keys[] = {"format", "nanogen_version", "config", "tokenizer", "train"};
    const char *vals[] = {"nanogen", NANOGEN_VERSION, cfg, tj, train_json ? train_json : "{}"};
    snprintf(path, plen, "%s/model.safetensors", dir);
    rc = ng_safetensors_write(path, ts, n, keys, vals, 5);
done:
    if (names) for (int i = 0; i < 2 * n; i++) free(names[i]);
    free(names); free(ts); free(path); free(cfg); free(tj);
    return rc;
}

/* Copy a named tensor of f into t, checking its shape. */
static int load_tensor(ng_st_file *f, const char *file, const char *name, ng_tensor *t, float *dst) {
    int ndim = 0;
    int64_t shape[NG_MAX_DIMS];
    const float *d = ng_st_find(f, name, &ndim, shape);
    if (!d) return ng_set_error("%s: tensor '%s' is missing", file, name);
    int ok = ndim == t->ndim;
    for (int i = 0; ok && i < ndim; i++) ok = shape[i] == t->ne[i];
    if (!ok) {
        char want[64] = "", got[64] = "";
        for (int i = 0; i < t->ndim; i++) snprintf(want + strlen(want), sizeof want - strlen(want), i ? "x%lld" : "%lld", (long long)t->ne[i]);
        for (int i = 0; i < ndim && i < NG_MAX_DIMS; i++) snprintf(got + strlen(got), sizeof got - strlen(got), i ? "x%lld" : "%lld", (long long)shape[i]);
        return ng_set_error("%s: tensor '%s' has shape %s, the model's config needs %s", file, name, got, want);
    }
    memcpy(dst, d, (size_t)t->n * sizeof(float));
    return NG_OK;
}

int ng_checkpoint_load(const char *path, ng_model **mp, ng_tokenizer **tp, char **train_json) {
    *mp = NULL; *tp = NULL;
    if (train_json) *train_json = NULL;
    char *file = ng_checkpoint_model_path(path);
    if (!file) return NG_ERR;
    ng_st_file *f = ng_safetensors_open(file);
    if (!f) { free(file); return NG_ERR; }
    int rc = NG_ERR;
    ng_model *m = NULL;
    ng_tokenizer *tok = NULL;
    ng_model_config cfg;
    const char *cj = ng_st_meta(f, "config"), *tj = ng_st_meta(f, "tokenizer");
    if (!cj || !tj) { ng_set_error("%s: not a nanogen text checkpoint (no config/tokenizer metadata)", file); goto done; }
    if (ng_model_config_from_json(cj, &cfg)) { ng_set_error("%s: %s", file, ng_last_error()); goto done; }
    tok = ng_tokenizer_from_json(tj);
    if (!tok) { ng_set_error("%s: tokenizer: %s", file, ng_last_error()); goto done; }
    if (ng_tokenizer_vocab_size(tok) != cfg.vocab_size) {
        ng_set_error("%s: the tokenizer has %d tokens but the model %d", file, ng_tokenizer_vocab_size(tok), cfg.vocab_size);
        goto done;
    }
    m = ng_model_new(&cfg);
    if (!m) goto done;
    ng_params *P = ng_model_params(m);
    for (int i = 0; i < ng_params_count(P); i++) {
        ng_tensor *t = ng_params_get(P, i);
        if (load_tensor(f, file, t->name, t, t->data)) goto done;
    }
    if (ng_st_count(f) != ng_params_count(P)) {
        for (int i = 0; i < ng_st_count(f); i++)
            if (!ng_params_find(P, ng_st_name(f, i))) { ng_set_error("%s: unexpected tensor '%s' for this config", file, ng_st_name(f, i)); goto done; }
    }
    if (train_json) {
        const char *tr = ng_st_meta(f, "train");
        if (tr) *train_json = strdup(tr);
    }
    *mp = m; *tp = tok; m = NULL; tok = NULL;
    rc = NG_OK;
done:
    ng_model_free(m);
    ng_tokenizer_free(tok);
    ng_safetensors_close(f);
    free(file);
    return rc;
}

int ng_checkpoint_load_optim(const char *path, ng_model *m, ng_adamw *opt) {
    char *dir = checkpoint_dir(path);
    if (!dir) return NG_ERR;
    size_t len = strlen(dir) + 32;
    char *file = malloc(len);
    if (!file) { free(dir); return ng_set_error("out of memory"); }
    snprintf(file, len, "%s/optim.safetensors", dir);
    free(dir);
    ng_st_file *f = ng_safetensors_open(file);
    int rc = NG_ERR;
    if (!f) goto done;
    const char *t = ng_st_meta(f, "t");
    char *end = NULL;
    long long tv = t ? strtoll(t, &end, 10) : -1;
    if (!t || *end || tv < 0) { ng_set_error("%s: missing or bad step count 't'", file); goto done; }
    ng_params *P = ng_model_params(m);
    float *base = ng_params_data(P);
    char name[80];
    for (int i = 0; i < ng_params_count(P); i++) {
        ng_tensor *pt = ng_params_get(P, i);
        snprintf(name, sizeof name, "m.%s", pt->name);
        if (load_tensor(f, file, name, pt, ng_adamw_m(opt) + (pt->data - base))) goto done;
        snprintf(name, sizeof name, "v.%s", pt->name);
        if (load_tensor(f, file, name, pt, ng_adamw_v(opt) + (pt->data - base))) goto done;
    }
    ng_adamw_set_t(opt, tv);
    rc = NG_OK;
done:
    ng_safetensors_close(f);
    free(file);
    return rc;
}

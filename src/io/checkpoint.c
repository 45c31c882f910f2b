/* checkpoint.c - models, tokenizers and optimizer state in safetensors files.
 * Text and image models share the same pieces: a list of parameter blocks is written as one
 * file (weights) and, for training, a second file (AdamW moments "m.<name>" / "v.<name>"). */
#include "core/internal.h"

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

/* DIR/<file> for the directory that holds a checkpoint path (DIR or DIR/x.safetensors), malloc'd. */
static char *sibling_path(const char *path, const char *file) {
    char *mp = ng_checkpoint_model_path(path);
    if (!mp) return NULL;
    char *slash = strrchr(mp, '/');
    const char *dir = slash ? (*slash = 0, mp) : ".";
    size_t len = strlen(dir) + strlen(file) + 2;
    char *out = ng_malloc(len, "a path");
    if (out) snprintf(out, len, "%s/%s", dir, file);
    free(mp);
    return out;
}

/* ---------------------------------------------------------------- writing */

/* A growing list of tensors to write, with the names it owns. */
typedef struct { ng_st_tensor *t; char **names; int n, cap; } st_list;

static void st_list_free(st_list *l) {
    for (int i = 0; i < l->n; i++) free(l->names[i]);
    free(l->names); free(l->t);
}

/* Add every tensor of P as "<prefix><name>", with values from `values` (same layout as P's
 * flat block: optimizer moments) or from the parameters themselves when NULL. */
static int st_list_add(st_list *l, ng_params *P, const char *prefix, const float *values) {
    const float *base = ng_params_data(P);
    for (int i = 0; i < ng_params_count(P); i++) {
        if (l->n == l->cap) {
            int cap = l->cap ? 2 * l->cap : 64;
            ng_st_tensor *t = realloc(l->t, cap * sizeof *t);
            if (t) l->t = t;
            char **nm = realloc(l->names, cap * sizeof *nm);
            if (nm) l->names = nm;
            if (!t || !nm) return ng_set_error("out of memory saving a checkpoint");
            l->cap = cap;
        }
        ng_tensor *p = ng_params_get(P, i);
        size_t len = strlen(prefix) + strlen(p->name) + 1;
        char *name = malloc(len);
        if (!name) return ng_set_error("out of memory saving a checkpoint");
        snprintf(name, len, "%s%s", prefix, p->name);
        ng_st_tensor *s = &l->t[l->n];
        memset(s, 0, sizeof *s);
        s->name = name;
        s->ndim = p->ndim;
        memcpy(s->shape, p->ne, sizeof s->shape);
        s->data = values ? values + (p->data - base) : p->data;
        l->names[l->n++] = name;
    }
    return NG_OK;
}

/* an optimizer's step count as metadata text ("t" of optim.safetensors, "optim_t" of the model) */
static const char *step_text(char buf[32], const ng_adamw *opt) {
    snprintf(buf, 32, "%" PRId64, opt ? ng_adamw_t(opt) : 0);
    return buf;
}

/* Write DIR/optim.safetensors: the moments of each optimizer over its block, and the step count. */
static int save_optim(const char *dir, ng_params *const *blocks, ng_adamw *const *opts, int nb) {
    st_list l = {0};
    int rc = NG_OK;
    for (int b = 0; b < nb && !rc; b++) {
        if (!opts[b]) continue;
        rc = st_list_add(&l, blocks[b], "m.", ng_adamw_m(opts[b]));
        if (!rc) rc = st_list_add(&l, blocks[b], "v.", ng_adamw_v(opts[b]));
    }
    char tbuf[32], *path = NULL, *prev = NULL;
    const char *keys[] = {"format", "t"}, *vals[] = {"nanogen-optim", step_text(tbuf, opts[0])};
    if (!rc && (!(path = sibling_path(dir, "optim.safetensors")) || !(prev = sibling_path(dir, "optim.prev.safetensors")))) rc = NG_ERR;
    /* keep the moments that match the model file still on disk until the new model is written */
    int kept = 0;
    if (!rc) {
        struct stat st;
        if (stat(path, &st) == 0) {
            if (rename(path, prev) != 0) rc = ng_set_error("cannot write '%s': keeping the old one as '%s' failed: %s", path, prev, strerror(errno));
            else kept = 1;
        }
    }
    if (!rc) rc = ng_safetensors_write(path, l.t, l.n, keys, vals, 2);
    if (rc && kept) rename(prev, path);   /* the write failed (disk full...): put the old file back */
    free(path); free(prev);
    st_list_free(&l);
    return rc;
}

/* A step count kept as metadata (a model file's "optim_t", an optimizer file's "t"), or -1 when
 * it is absent or not a non-negative integer. */
static int64_t meta_count(ng_st_file *f, const char *key) {
    const char *t = f ? ng_st_meta(f, key) : NULL;
    char *end = NULL;
    errno = 0;
    long long v = t ? strtoll(t, &end, 10) : -1;
    return t && *t && !*end && !errno && v >= 0 ? v : -1;
}

/* Elements of every tensor of f (as loaded: F32). */
static int64_t file_numel(ng_st_file *f) {
    int64_t total = 0, shape[NG_MAX_DIMS];
    for (int i = 0; i < ng_st_count(f); i++) {
        int nd = 0;
        ng_st_find(f, ng_st_name(f, i), &nd, shape);
        int64_t n = 1;
        for (int d = 0; d < nd; d++) n *= shape[d];
        total += n;
    }
    return total;
}

/* Before allocating a model of `need` floats for file f: refuse a config that needs far more
 * than the file holds (it cannot match, and a hostile one could ask for terabytes). A small
 * excess is left to the tensor-by-tensor checks, whose errors name the tensor. */
static int check_size(ng_st_file *f, const char *file, int64_t need) {
    if (need < 0) return ng_set_error("%s: %s", file, ng_last_error());   /* the config is invalid */
    int64_t have = file_numel(f);
    if (need > have && need - have > (1 << 24))
        return ng_set_error("%s: the config needs %" PRId64 " parameters but the file's tensors hold %" PRId64 ": "
                            "the config does not match the tensor shapes", file, need, have);
    return NG_OK;
}

/* Write DIR/model.safetensors from blocks (a NULL block is skipped) and metadata pairs. */
static int save_model(const char *dir, ng_params *const *blocks, int nb, const char *const *keys, const char *const *vals, int nm) {
    st_list l = {0};
    int rc = NG_OK;
    for (int b = 0; b < nb && !rc; b++)
        if (blocks[b]) rc = st_list_add(&l, blocks[b], "", NULL);
    char *path = NULL;
    if (!rc && !(path = sibling_path(dir, "model.safetensors"))) rc = NG_ERR;
    if (!rc) rc = ng_safetensors_write(path, l.t, l.n, keys, vals, nm);
    free(path);
    st_list_free(&l);
    return rc;
}

/* ---------------------------------------------------------------- reading */

/* Copy the named tensor of f into dst, checking its shape against t. */
static int load_tensor(ng_st_file *f, const char *file, const char *name, const ng_tensor *t, float *dst) {
    int ndim = 0;
    int64_t shape[NG_MAX_DIMS];
    const float *d = ng_st_find(f, name, &ndim, shape);
    const char *dt = d ? NULL : ng_st_dtype(f, name, NULL, NULL);
    if (dt) return ng_set_error("%s: tensor '%s' has dtype %s: weights must be F32, F16 or BF16", file, name, dt);
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

/* Load every tensor of P ("<prefix><name>") into P's data, or into `dst` laid out like P. */
static int load_block(ng_st_file *f, const char *file, ng_params *P, const char *prefix, float *dst) {
    const float *base = ng_params_data(P);
    char name[160];
    for (int i = 0; i < ng_params_count(P); i++) {
        ng_tensor *t = ng_params_get(P, i);
        snprintf(name, sizeof name, "%s%s", prefix, t->name);
        if (load_tensor(f, file, name, t, dst ? dst + (t->data - base) : t->data)) return NG_ERR;
    }
    return NG_OK;
}

static int in_blocks(ng_params *const *blocks, int nb, const char *name) {
    for (int b = 0; b < nb; b++) if (blocks[b] && ng_params_find(blocks[b], name)) return 1;
    return 0;
}

/* PyTorch's BatchNorm counter "<bn>.num_batches_tracked" (one number, I64 as torch writes it,
 * or a float) beside a BatchNorm "<bn>.running_mean" of the model: 1 (it is ignored, which is
 * faithful: nanogen's BatchNorm, like torch's with momentum 0.1, never reads it), -1 with an
 * error naming the tensor when it has another shape, 0 for any other name. */
static int bn_counter(ng_st_file *f, const char *file, ng_params *const *blocks, int nb, const char *name) {
    static const char suffix[] = ".num_batches_tracked";
    size_t n = strlen(name), ns = sizeof suffix - 1;
    char rm[192];
    if (n <= ns || n - ns + sizeof ".running_mean" > sizeof rm || strcmp(name + n - ns, suffix)) return 0;
    snprintf(rm, sizeof rm, "%.*s.running_mean", (int)(n - ns), name);
    if (!in_blocks(blocks, nb, rm)) return 0;
    int nd = 0;
    int64_t sh[NG_MAX_DIMS];
    ng_st_dtype(f, name, &nd, sh);
    if (nd > 1 || (nd == 1 && sh[0] != 1)) {
        ng_set_error("%s: tensor '%s' (BatchNorm's batch counter) should hold one number", file, name);
        return -1;
    }
    return 1;
}

/* Every tensor of f must belong to one of the blocks (or be a BatchNorm counter). */
static int check_no_extra(ng_st_file *f, const char *file, ng_params *const *blocks, int nb) {
    for (int i = 0; i < ng_st_count(f); i++) {
        const char *name = ng_st_name(f, i);
        if (in_blocks(blocks, nb, name)) continue;
        int c = bn_counter(f, file, blocks, nb, name);
        if (c < 0) return NG_ERR;
        if (!c) return ng_set_error("%s: unexpected tensor '%s' for this config", file, name);
    }
    return NG_OK;
}

/* Load one optimizer file into the optimizers of the blocks, if its "t" is want_t (any t when
 * want_t < 0). */
static int load_optim_file(const char *file, ng_params *const *blocks, ng_adamw *const *opts, int nb, int64_t want_t) {
    ng_st_file *f = ng_safetensors_open(file);
    int rc = NG_ERR;
    if (!f) goto done;
    const int64_t tv = meta_count(f, "t");
    if (tv < 0) { ng_set_error("%s: missing or bad step count 't'", file); goto done; }
    if (want_t >= 0 && tv != want_t) {
        ng_set_error("%s: optimizer state is from step %" PRId64 " but the model from step %" PRId64, file, tv, want_t);
        goto done;
    }
    for (int b = 0; b < nb; b++) {
        if (!opts[b]) continue;
        if (load_block(f, file, blocks[b], "m.", ng_adamw_m(opts[b])) || load_block(f, file, blocks[b], "v.", ng_adamw_v(opts[b]))) goto done;
        ng_adamw_set_t(opts[b], tv);
    }
    rc = NG_OK;
done:
    ng_safetensors_close(f);
    return rc;
}

/* Load the optimizer state beside the model at path: optim.safetensors, or the previous one
 * (optim.prev.safetensors) when only that one matches the model's "optim_t". */
static int load_optim(const char *path, ng_params *const *blocks, ng_adamw *const *opts, int nb) {
    char *mfile = ng_checkpoint_model_path(path), *file = sibling_path(path, "optim.safetensors"),
         *prev = sibling_path(path, "optim.prev.safetensors");
    int rc = NG_ERR;
    if (mfile && file && prev) {
        ng_st_file *mf = ng_safetensors_open(mfile);
        int64_t want = meta_count(mf, "optim_t");
        ng_safetensors_close(mf);
        rc = load_optim_file(file, blocks, opts, nb, want);
        if (rc && want >= 0) {
            char first[512];
            snprintf(first, sizeof first, "%s", ng_last_error());
            struct stat st;
            if (stat(prev, &st) == 0) rc = load_optim_file(prev, blocks, opts, nb, want);
            if (rc) ng_set_error("%s", first);
        }
    }
    if (rc)   /* never half-loaded moments */
        for (int b = 0; b < nb; b++) {
            if (!opts[b]) continue;
            int64_t n = ng_params_total(blocks[b]);
            memset(ng_adamw_m(opts[b]), 0, (size_t)n * sizeof(float));
            memset(ng_adamw_v(opts[b]), 0, (size_t)n * sizeof(float));
            ng_adamw_set_t(opts[b], 0);
        }
    free(mfile); free(file); free(prev);
    return rc;
}

/* ---------------------------------------------------------------- any kind */

/* the model's trainable blocks, then its buffers (or NULL); returns the number of trainable blocks */
static int model_blocks(ng_model *m, ng_params *blocks[3]) {
    const int nb = ng_model_n_blocks(m);
    for (int b = 0; b < 3; b++) blocks[b] = b < nb ? ng_model_block(m, b) : NULL;
    blocks[nb] = ng_model_buffers(m);
    return nb;
}

int ng_checkpoint_save(const char *dir, ng_model *m, const ng_tokenizer *tok, const char *train_json, ng_adamw *const *opts) {
    const ng_model_config *c = ng_model_cfg(m);
    const int text = ng_model_kind_is_text(c->kind);
    if (text && !tok) return ng_set_error("saving a %s checkpoint needs its tokenizer", ng_model_kind_name(c->kind));
    if (ng_mkdir_p(dir)) return NG_ERR;
    ng_params *blocks[3];
    const int nb = model_blocks(m, blocks);
    /* the optimizer first: a crash between the two files leaves an older model with a
     * newer optimizer, which resume detects through the step counts */
    if (opts && save_optim(dir, blocks, opts, nb)) return NG_ERR;
    char *cfg = ng_model_config_to_json(c), *tj = text ? ng_tokenizer_to_json(tok) : NULL;
    int rc = NG_ERR;
    if (!cfg || (text && !tj)) ng_set_error("out of memory saving a checkpoint");
    else {
        char tbuf[32];
        const char *keys[6] = {"format", "nanogen_version", text ? "config" : "image_config"}, *vals[6] = {"nanogen", NANOGEN_VERSION, cfg};
        int nm = 3;
        if (text) { keys[nm] = "tokenizer"; vals[nm++] = tj; }
        keys[nm] = "train"; vals[nm++] = train_json ? train_json : "{}";
        if (opts && opts[0]) { keys[nm] = "optim_t"; vals[nm++] = step_text(tbuf, opts[0]); }
        rc = save_model(dir, blocks, nb + 1, keys, vals, nm);
    }
    free(cfg); free(tj);
    return rc;
}

int ng_checkpoint_load(const char *path, ng_model **mp, ng_tokenizer **tp, char **train_json) {
    *mp = NULL;
    if (tp) *tp = NULL;
    if (train_json) *train_json = NULL;
    char *file = ng_checkpoint_model_path(path);
    if (!file) return NG_ERR;
    ng_st_file *f = ng_safetensors_open(file);
    if (!f) { free(file); return NG_ERR; }
    int rc = NG_ERR;
    ng_model *m = NULL;
    ng_tokenizer *tok = NULL;
    ng_model_config cfg;
    const char *cj = ng_st_meta(f, "config"), *tj = ng_st_meta(f, "tokenizer"), *ij = ng_st_meta(f, "image_config");
    if ((cj || tj) && ij) {
        ng_set_error("%s: both a text model's config and an image model's image_config in its metadata: which is it?", file);
        goto done;
    }
    if (cj && tj) {   /* a text model */
        if (ng_model_config_from_json(cj, &cfg) || !ng_model_kind_is_text(cfg.kind)) {
            if (!ng_model_kind_is_text(cfg.kind)) ng_set_error("'config' describes an image model (%s)", ng_model_kind_name(cfg.kind));
            ng_set_error("%s: %s", file, ng_last_error());
            goto done;
        }
        tok = ng_tokenizer_from_json(tj);
        if (!tok) { ng_set_error("%s: tokenizer: %s", file, ng_last_error()); goto done; }
        if (ng_tokenizer_vocab_size(tok) != cfg.vocab_size) {
            ng_set_error("%s: the tokenizer has %d tokens but the model %d", file, ng_tokenizer_vocab_size(tok), cfg.vocab_size);
            goto done;
        }
    } else if (ij) {   /* an image model */
        if (ng_model_config_from_json(ij, &cfg) || ng_model_kind_is_text(cfg.kind)) {
            if (ng_model_kind_is_text(cfg.kind)) ng_set_error("'image_config' describes a text model (%s)", ng_model_kind_name(cfg.kind));
            ng_set_error("%s: %s", file, ng_last_error());
            goto done;
        }
    } else {
        ng_set_error("%s: not a nanogen checkpoint (no config and tokenizer, or image_config, metadata)", file);
        goto done;
    }
    if (check_size(f, file, ng_model_param_count(&cfg))) goto done;
    m = ng_model_new(&cfg);
    if (!m) goto done;
    ng_params *blocks[3];
    const int nb = model_blocks(m, blocks);
    for (int b = 0; b <= nb; b++)
        if (blocks[b] && load_block(f, file, blocks[b], "", NULL)) goto done;
    if (check_no_extra(f, file, blocks, nb + 1)) goto done;
    if (train_json) {
        const char *tr = ng_st_meta(f, "train");
        if (tr && !(*train_json = strdup(tr))) { ng_set_error("out of memory loading %s", file); goto done; }
    }
    *mp = m; m = NULL;
    if (tp) { *tp = tok; tok = NULL; }
    rc = NG_OK;
done:
    if (rc && train_json) { free(*train_json); *train_json = NULL; }
    ng_model_free(m);
    ng_tokenizer_free(tok);
    ng_safetensors_close(f);
    free(file);
    return rc;
}

int ng_checkpoint_load_optim(const char *path, ng_model *m, ng_adamw *const *opts) {
    ng_params *blocks[3];
    const int nb = model_blocks(m, blocks);
    return load_optim(path, blocks, opts, nb);
}

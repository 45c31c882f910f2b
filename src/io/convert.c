/* convert.c - GPT weights in and out of other projects' layouts: a Hugging Face GPT2LMHeadModel
 * directory (model.safetensors + config.json + vocab.json/merges.txt) and a nanoGPT model saved
 * as safetensors (+ config.json as nanoGPT's GPTConfig). Pickles (.pt, .bin) are never read.
 *
 * One table maps nanogen's parameter names to the outside names: NAMES below. A Hugging Face
 * GPT-2 keeps its block weights as Conv1D, (in, out): transposed from and to nanogen's (out, in);
 * nanoGPT keeps nn.Linear's (out, in) as nanogen does. */
#include "core/internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---------------------------------------------------------------- names and formats */

int ng_model_format_parse(const char *name, ng_model_format *f) {
    if (name && !strcmp(name, "hf-gpt2")) { *f = NG_FORMAT_HF_GPT2; return NG_OK; }
    if (name && !strcmp(name, "nanogpt")) { *f = NG_FORMAT_NANOGPT; return NG_OK; }
    return ng_set_error("--format: '%s' is not hf-gpt2 or nanogpt", name ? name : "(none)");
}

const char *ng_model_format_name(ng_model_format f) { return f == NG_FORMAT_HF_GPT2 ? "hf-gpt2" : f == NG_FORMAT_NANOGPT ? "nanogpt" : "?"; }

/* a block's parameter: nanogen's part name, Hugging Face's / nanoGPT's (the same), transposed in HF */
static const struct { const char *ng, *ext; int conv1d; } NAMES[] = {
    {"ln_1", "ln_1", 0}, {"c_attn", "attn.c_attn", 1}, {"c_proj", "attn.c_proj", 1},
    {"ln_2", "ln_2", 0}, {"c_fc", "mlp.c_fc", 1}, {"mlp_proj", "mlp.c_proj", 1},
};

/* The outside name of nanogen parameter `name` ("h.3.c_fc.weight" -> "h.3.mlp.c_fc.weight" with
 * prefix "transformer." in nanoGPT), and whether its data is transposed (HF's Conv1D weights). */
static int ext_name(const char *name, ng_model_format f, const char *prefix, char *out, size_t cap, int *transpose) {
    *transpose = 0;
    int l = -1, n = 0;
    char part[32] = "", leaf[16] = "";
    if (sscanf(name, "h.%d.%31[a-z_0-9].%15[a-z]%n", &l, part, leaf, &n) == 3 && name[n] == 0) {
        for (size_t i = 0; i < sizeof NAMES / sizeof *NAMES; i++)
            if (!strcmp(part, NAMES[i].ng)) {
                *transpose = f == NG_FORMAT_HF_GPT2 && NAMES[i].conv1d && !strcmp(leaf, "weight");
                snprintf(out, cap, "%sh.%d.%s.%s", prefix, l, NAMES[i].ext, leaf);
                return NG_OK;
            }
        return ng_set_error("no %s name for parameter '%s'", ng_model_format_name(f), name);
    }
    snprintf(out, cap, "%s%s", prefix, name);   /* wte.weight, wpe.weight, ln_f.* */
    return NG_OK;
}

/* ---------------------------------------------------------------- small helpers */

static void note(const ng_convert_settings *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(const ng_convert_settings *s, const char *fmt, ...) {
    if (!s || !s->note) return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    s->note(buf, s->ctx);
}

static int is_dir(const char *p) { struct stat st; return stat(p, &st) == 0 && S_ISDIR(st.st_mode); }
static int is_file(const char *p) { struct stat st; return stat(p, &st) == 0 && S_ISREG(st.st_mode); }

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* "dir/file" into out */
static int join(char *out, size_t cap, const char *dir, const char *file) {
    if (snprintf(out, cap, "%s/%s", dir, file) >= (int)cap) return ng_set_error("path too long: '%s/%s'", dir, file);
    return NG_OK;
}

/* A pickle (PyTorch's .pt / .bin: a zip archive or a bare pickle) is refused by name: nanogen
 * never unpickles (a pickle can run any code). */
static int refuse_pickle(const char *path) {
    FILE *fp = fopen(path, "rb");
    unsigned char m[4] = {0};
    size_t n = fp ? fread(m, 1, 4, fp) : 0;
    if (fp) fclose(fp);
    const int zip = n >= 4 && m[0] == 'P' && m[1] == 'K' && m[2] == 3 && m[3] == 4, pickle = n >= 2 && m[0] == 0x80 && m[1] <= 5;
    if (ends_with(path, ".pt") || ends_with(path, ".pth") || ends_with(path, ".bin") || ends_with(path, ".ckpt") || zip || pickle)
        return ng_set_error("%s: a PyTorch pickle, which nanogen never unpickles (loading one can run any code): save the "
                            "weights as model.safetensors (and the config as config.json) with PyTorch first, see README "
                            "\"Import and export\"", path);
    return NG_OK;
}

/* ---------------------------------------------------------------- reading config.json */

typedef struct {
    cJSON *j;
    char path[4096];
} json_file;

/* config.json at path, or none (j NULL) when absent */
static int read_config(const char *path, json_file *c) {
    c->j = NULL;
    snprintf(c->path, sizeof c->path, "%s", path);
    if (!is_file(path)) return NG_OK;
    size_t len = 0;
    char *text = ng_read_file(path, &len);
    if (!text) return NG_ERR;
    c->j = cJSON_ParseWithLength(text, len);
    free(text);
    if (!cJSON_IsObject(c->j)) {
        cJSON_Delete(c->j);
        c->j = NULL;
        return ng_set_error("%s: not a JSON object", path);
    }
    return NG_OK;
}

/* An integer entry: 1 and *v when present, 0 when absent or null, -1 + error when not an
 * integer in [lo, hi]. */
static int cfg_int(const json_file *c, const char *key, int lo, int hi, int *v) {
    const cJSON *e = c->j ? cJSON_GetObjectItemCaseSensitive(c->j, key) : NULL;
    if (!e || cJSON_IsNull(e)) return 0;
    if (!cJSON_IsNumber(e) || !(e->valuedouble >= lo && e->valuedouble <= hi) || e->valuedouble != (double)(int)e->valuedouble) {
        ng_set_error("%s: '%s' is not an integer in [%d, %d]", c->path, key, lo, hi);
        return -1;
    }
    *v = (int)e->valuedouble;
    return 1;
}

/* A config number that the tensors also give: the tensors' value; an error naming both when
 * the config says otherwise. */
static int cfg_agree(const json_file *c, const char *key, int lo, int hi, int have, const char *evidence) {
    int v = 0, r = cfg_int(c, key, lo, hi, &v);
    if (r < 0) return NG_ERR;
    if (r && v != have) return ng_set_error("%s: '%s' is %d but %s says %d", c->path, key, v, evidence, have);
    return NG_OK;
}

/* ---------------------------------------------------------------- the tokenizer */

/* The GPT-2 tokenizer (vocab.json + merges.txt). TEMPORARY: ng_tokenizer_load_gpt2 is being
 * written on the bpe branch (src/data/, declared in nanogen/io.h); until both branches are
 * merged, src/io/gpt2_tokenizer_stub.c gives a weak definition that says so. */
static ng_tokenizer *load_gpt2(const char *vocab, const char *merges) { return ng_tokenizer_load_gpt2(vocab, merges); }

/* A char vocabulary: the sorted set of the code points of a text (what nanoGPT's char
 * prepare.py keeps in meta.pkl: give it the training text itself). */
static ng_tokenizer *load_chars(const char *path) {
    size_t len = 0;
    char *text = ng_read_file(path, &len);
    if (!text) return NULL;
    ng_tokenizer *t = NULL;
    long long bad = len ? ng_utf8_validate(text, len) : -1;
    if (!len) ng_set_error("--chars %s: the file is empty", path);
    else if (bad >= 0) ng_set_error("--chars %s: not valid UTF-8 (bad byte at offset %lld)", path, bad);
    else if (!(t = ng_tokenizer_build(NG_TOK_CHAR, text, len, 0))) ng_set_error("--chars %s: %s", path, ng_last_error());
    free(text);
    return t;
}

/* nanogen's own tokenizer JSON (nanogen_tokenizer.json, written by ng_model_export) */
static ng_tokenizer *load_nanogen_json(const char *path) {
    size_t len = 0;
    char *text = ng_read_file(path, &len);
    if (!text) return NULL;
    ng_tokenizer *t = ng_tokenizer_from_json(text);
    if (!t) ng_set_error("%s: %s", path, ng_last_error());
    free(text);
    return t;
}

/* The tokenizer an import names: --vocab + --merges, --chars, else in the model's directory
 * nanogen_tokenizer.json (nanogen's export) or vocab.json + merges.txt (Hugging Face's). */
static ng_tokenizer *import_tokenizer(const char *dir, const ng_convert_settings *s) {
    char p1[4096], p2[4096];
    if ((s->vocab != NULL) != (s->merges != NULL)) {
        ng_set_error("GPT-2's tokenizer needs both files: --vocab vocab.json and --merges merges.txt");
        return NULL;
    }
    if (s->vocab && s->chars) { ng_set_error("--chars and --vocab/--merges exclude each other"); return NULL; }
    if (s->vocab) return load_gpt2(s->vocab, s->merges);
    if (s->chars) return load_chars(s->chars);
    if (join(p1, sizeof p1, dir, "nanogen_tokenizer.json")) return NULL;
    if (is_file(p1)) return load_nanogen_json(p1);
    if (join(p1, sizeof p1, dir, "vocab.json") || join(p2, sizeof p2, dir, "merges.txt")) return NULL;
    if (is_file(p1) && is_file(p2)) return load_gpt2(p1, p2);
    ng_set_error("%s: no tokenizer (vocab.json + merges.txt or nanogen_tokenizer.json): give GPT-2's files with "
                 "--vocab FILE --merges FILE, or a char model's vocabulary with --chars FILE (its training text)", dir);
    return NULL;
}

/* ---------------------------------------------------------------- import */

/* The safetensors file of an import path: DIR/model.safetensors or the file itself; the
 * directory it lies in. */
static int model_file(const char *path, char *file, size_t cap, char *dir, size_t dcap) {
    if (!path) return ng_set_error("import: no path given");
    if (is_dir(path)) {
        if (join(file, cap, path, "model.safetensors")) return NG_ERR;
        if (!is_file(file)) {
            char pt[4096];
            const char *pickles[] = {"pytorch_model.bin", "ckpt.pt"};
            for (int i = 0; i < 2; i++)
                if (!join(pt, sizeof pt, path, pickles[i]) && is_file(pt)) return refuse_pickle(pt);
            return ng_set_error("%s: no model.safetensors in this directory", path);
        }
        snprintf(dir, dcap, "%s", path);
        return NG_OK;
    }
    if (!is_file(path)) return ng_set_error("cannot open '%s': %s", path, strerror(errno ? errno : ENOENT));
    if (refuse_pickle(path)) return NG_ERR;
    snprintf(file, cap, "%s", path);
    const char *slash = strrchr(path, '/');
    if (slash) snprintf(dir, dcap, "%.*s", (int)(slash - path), path);
    else snprintf(dir, dcap, ".");
    return NG_OK;
}

/* A tensor's shape as "AxB" */
static void shape_text(char *buf, size_t cap, int nd, const int64_t *sh) {
    buf[0] = 0;
    for (int i = 0; i < nd; i++) snprintf(buf + strlen(buf), cap - strlen(buf), i ? "x%lld" : "%lld", (long long)sh[i]);
    if (!nd) snprintf(buf, cap, "a scalar");
}

/* A tensor of the file as F32 (F16 / BF16 converted by the reader), or an error naming the
 * tensor when it is absent or of another dtype. */
static const float *need_tensor(ng_st_file *f, const char *file, const char *name, int *nd, int64_t *sh) {
    const float *d = ng_st_find(f, name, nd, sh);
    if (d) return d;
    const char *dt = ng_st_dtype(f, name, NULL, NULL);
    if (dt) ng_set_error("%s: tensor '%s' has dtype %s: weights must be F32, F16 or BF16", file, name, dt);
    else ng_set_error("%s: tensor '%s' is missing", file, name);
    return NULL;
}

/* Whether name (an outside name, prefix stripped) is a tensor the import reads or knowingly
 * ignores: HF's attention buffers attn.bias / attn.masked_bias and nanoGPT's causal mask
 * attn.bias, and the tied lm_head.weight (checked apart). */
static int ignorable(const char *rest) {
    int l, n = 0;
    char leaf[32] = "";
    return sscanf(rest, "h.%d.attn.%31[a-z_]%n", &l, leaf, &n) == 2 && rest[n] == 0 && (!strcmp(leaf, "bias") || !strcmp(leaf, "masked_bias"));
}

int ng_model_import(const char *path, const ng_convert_settings *s, ng_model **mp, ng_tokenizer **tp) {
    *mp = NULL;
    *tp = NULL;
    char file[4096], dir[4096], cpath[4096];
    errno = 0;
    if (model_file(path, file, sizeof file, dir, sizeof dir)) return NG_ERR;
    const ng_model_format fmt = s->format;
    if (fmt != NG_FORMAT_HF_GPT2 && fmt != NG_FORMAT_NANOGPT) return ng_set_error("import: unknown format %d", (int)fmt);
    ng_st_file *f = ng_safetensors_open(file);
    if (!f) return NG_ERR;
    json_file cj = {0};
    ng_model *m = NULL;
    ng_tokenizer *tok = NULL;
    int rc = NG_ERR;
    if (join(cpath, sizeof cpath, dir, "config.json") || read_config(cpath, &cj)) goto done;

    /* the prefix: "transformer." (nanoGPT always; HF's GPT2LMHeadModel) or none (HF's GPT2Model),
     * after torch.compile's "_orig_mod." */
    const char *pre = "";
    static const char *const prefixes[] = {"", "transformer.", "_orig_mod.", "_orig_mod.transformer."};
    for (int i = 0; i < 4; i++) {
        char nm[64];
        snprintf(nm, sizeof nm, "%swte.weight", prefixes[i]);
        if (ng_st_dtype(f, nm, NULL, NULL)) { pre = prefixes[i]; break; }
    }
    char name[256];
    int nd = 0;
    int64_t sh[NG_MAX_DIMS];
    snprintf(name, sizeof name, "%swte.weight", pre);
    const float *wte = need_tensor(f, file, name, &nd, sh);
    if (!wte) goto done;
    if (nd != 2 || sh[0] < 1 || sh[1] < 1 || sh[0] > (1 << 22) || sh[1] > 65536) {
        char t[64];
        shape_text(t, sizeof t, nd, sh);
        ng_set_error("%s: tensor '%s' has shape %s: the token embedding is (vocab, n_embd)", file, name, t);
        goto done;
    }
    ng_model_config c = {.kind = NG_MODEL_GPT, .vocab_size = (int)sh[0], .n_embd = (int)sh[1]};
    snprintf(name, sizeof name, "%swpe.weight", pre);
    const float *wpe = need_tensor(f, file, name, &nd, sh);
    if (!wpe) goto done;
    if (nd != 2 || sh[0] < 1 || sh[0] > (1 << 20) || sh[1] != c.n_embd) {
        char t[64];
        shape_text(t, sizeof t, nd, sh);
        ng_set_error("%s: tensor '%s' has shape %s: the position embedding is (block_size, %d)", file, name, t, c.n_embd);
        goto done;
    }
    c.block_size = (int)sh[0];
    /* layers: h.0 .. h.(L-1), each with ln_1.weight */
    for (c.n_layer = 0; c.n_layer < 1024; c.n_layer++) {
        snprintf(name, sizeof name, "%sh.%d.ln_1.weight", pre, c.n_layer);
        if (!ng_st_dtype(f, name, NULL, NULL)) break;
    }
    if (c.n_layer == 0) { ng_set_error("%s: tensor '%sh.0.ln_1.weight' is missing (no transformer blocks)", file, pre); goto done; }
    snprintf(name, sizeof name, "%sh.0.attn.c_attn.bias", pre);
    c.no_bias = fmt == NG_FORMAT_NANOGPT && !ng_st_dtype(f, name, NULL, NULL);
    c.gelu = fmt == NG_FORMAT_NANOGPT ? NG_GELU_EXACT : NG_GELU_TANH;

    /* the config: what the tensors say must agree; heads and the options come from it */
    char ev[320];
    snprintf(ev, sizeof ev, "'%swte.weight' (%d x %d)", pre, c.vocab_size, c.n_embd);
    if (cfg_agree(&cj, "vocab_size", 1, 1 << 22, c.vocab_size, ev) || cfg_agree(&cj, "n_embd", 1, 65536, c.n_embd, ev)) goto done;
    snprintf(ev, sizeof ev, "'%swpe.weight' (%d positions)", pre, c.block_size);
    if (cfg_agree(&cj, fmt == NG_FORMAT_HF_GPT2 ? "n_positions" : "block_size", 1, 1 << 20, c.block_size, ev)) goto done;
    if (fmt == NG_FORMAT_HF_GPT2 && cfg_agree(&cj, "n_ctx", 1, 1 << 20, c.block_size, ev)) goto done;
    snprintf(ev, sizeof ev, "the file, with blocks %sh.0 .. %sh.%d,", pre, pre, c.n_layer - 1);
    if (cfg_agree(&cj, "n_layer", 1, 1024, c.n_layer, ev)) goto done;
    int r = cfg_int(&cj, "n_head", 1, 1024, &c.n_head);
    if (r < 0) goto done;
    if (s->n_head > 0) {
        if (r && c.n_head != s->n_head) { ng_set_error("--n-head %d but %s says %d", s->n_head, cj.path, c.n_head); goto done; }
        c.n_head = s->n_head;
    } else if (!r) {
        ng_set_error("%s: the number of heads is not in the tensors: give it with --n-head H (or a config.json with \"n_head\")",
                     cj.j ? cj.path : dir);
        goto done;
    }
    if (c.n_embd % c.n_head) { ng_set_error("%s: n_embd %d is not divisible by n_head %d", cj.j ? cj.path : file, c.n_embd, c.n_head); goto done; }
    if (fmt == NG_FORMAT_HF_GPT2 && cj.j) {
        const cJSON *act = cJSON_GetObjectItemCaseSensitive(cj.j, "activation_function");
        if (act && !cJSON_IsString(act)) { ng_set_error("%s: 'activation_function' is not a string", cj.path); goto done; }
        const char *a = act ? act->valuestring : "gelu_new";
        if (!strcmp(a, "gelu")) c.gelu = NG_GELU_EXACT;
        else if (strcmp(a, "gelu_new") && strcmp(a, "gelu_pytorch_tanh") && strcmp(a, "gelu_fast")) {
            ng_set_error("%s: activation_function '%.40s' is not one nanogen has (gelu_new, gelu_pytorch_tanh, gelu_fast: the tanh "
                         "GELU; gelu: the exact one)", cj.path, a);
            goto done;
        }
        const cJSON *eps = cJSON_GetObjectItemCaseSensitive(cj.j, "layer_norm_epsilon");
        if (eps && !(cJSON_IsNumber(eps) && eps->valuedouble > 0.99e-5 && eps->valuedouble < 1.01e-5)) {
            ng_set_error("%s: layer_norm_epsilon must be 1e-05 (nanogen's LayerNorm)", cj.path);
            goto done;
        }
        int inner = 0;
        if ((r = cfg_int(&cj, "n_inner", 1, 1 << 26, &inner)) < 0) goto done;
        if (r && inner != 4 * c.n_embd) { ng_set_error("%s: n_inner %d: nanogen's MLP is 4 x n_embd = %d", cj.path, inner, 4 * c.n_embd); goto done; }
        static const char *const off[] = {"scale_attn_by_inverse_layer_idx", "add_cross_attention"};
        for (int i = 0; i < 2; i++)
            if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(cj.j, off[i]))) { ng_set_error("%s: '%s' true is not supported", cj.path, off[i]); goto done; }
        const cJSON *sc = cJSON_GetObjectItemCaseSensitive(cj.j, "scale_attn_weights");
        if (cJSON_IsFalse(sc)) { ng_set_error("%s: 'scale_attn_weights' false is not supported", cj.path); goto done; }
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(cj.j, "resid_pdrop");
        c.dropout = cJSON_IsNumber(d) && d->valuedouble >= 0 && d->valuedouble < 1 ? (float)d->valuedouble : 0.0f;
    }
    if (fmt == NG_FORMAT_NANOGPT && cj.j) {
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(cj.j, "bias");
        if (b && !cJSON_IsBool(b)) { ng_set_error("%s: 'bias' is not true or false", cj.path); goto done; }
        if (b && cJSON_IsTrue(b) == c.no_bias) {
            ng_set_error("%s: 'bias' is %s but '%sh.0.attn.c_attn.bias' is %s", cj.path, cJSON_IsTrue(b) ? "true" : "false", pre,
                         c.no_bias ? "missing" : "there");
            goto done;
        }
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(cj.j, "gelu");   /* nanogen's export of a tanh-GELU model */
        if (g && !(cJSON_IsString(g) && (!strcmp(g->valuestring, "tanh") || !strcmp(g->valuestring, "exact")))) {
            ng_set_error("%s: 'gelu' is not \"tanh\" or \"exact\"", cj.path);
            goto done;
        }
        if (g && !strcmp(g->valuestring, "tanh")) c.gelu = NG_GELU_TANH;
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(cj.j, "dropout");
        if (d && !(cJSON_IsNumber(d) && d->valuedouble >= 0 && d->valuedouble < 1)) { ng_set_error("%s: 'dropout' is not in [0, 1)", cj.path); goto done; }
        c.dropout = d ? (float)d->valuedouble : 0.0f;
    }

    /* the tokenizer: its vocabulary must cover the model's (nanoGPT pads GPT-2's 50257 to 50304:
     * the padding rows, never a token, are dropped) */
    if (!(tok = import_tokenizer(dir, s))) goto done;
    const int Vt = ng_tokenizer_vocab_size(tok), Vm = c.vocab_size;
    if (Vt > Vm) { ng_set_error("the tokenizer has %d tokens but the model's embedding '%swte.weight' only %d rows", Vt, pre, Vm); goto done; }
    if (Vt < Vm) {
        note(s, "the model's vocabulary has %d rows and the tokenizer %d tokens: the last %d rows of wte (padding, never a token) are dropped",
             Vm, Vt, Vm - Vt);
        c.vocab_size = Vt;
    }
    if (ng_model_config_check(&c)) { ng_set_error("%s: %s", file, ng_last_error()); goto done; }
    if (!(m = ng_model_new(&c))) goto done;

    /* every parameter from its outside name, transposed where HF keeps Conv1D */
    ng_params *P = ng_model_params(m);
    int converted = 0;
    for (int i = 0; i < ng_params_count(P); i++) {
        ng_tensor *t = ng_params_get(P, i);
        int tr = 0;
        if (ext_name(t->name, fmt, pre, name, sizeof name, &tr)) goto done;
        const float *d = need_tensor(f, file, name, &nd, sh);
        if (!d) goto done;
        const char *dt = ng_st_dtype(f, name, NULL, NULL);
        converted |= dt && strcmp(dt, "F32");
        const int vocab_rows = t->ndim == 2 && !strcmp(t->name, "wte.weight") && sh[0] == Vm && Vm > c.vocab_size;
        int64_t want[2] = {tr ? t->ne[1] : t->ne[0], tr ? t->ne[0] : t->ne[1]};
        if (vocab_rows) want[0] = Vm;
        int ok = nd == t->ndim && sh[0] == want[0] && (nd == 1 || sh[1] == want[1]);
        if (!ok) {
            char got[64], w[64];
            shape_text(got, sizeof got, nd, sh);
            shape_text(w, sizeof w, t->ndim, want);
            ng_set_error("%s: tensor '%s' has shape %s, a GPT of this config needs %s%s", file, name, got, w,
                         tr ? " (Conv1D: in x out)" : "");
            goto done;
        }
        if (tr) {
            const int64_t out = t->ne[0], in = t->ne[1];
            for (int64_t o = 0; o < out; o++)
                for (int64_t k = 0; k < in; k++) t->data[o * in + k] = d[k * out + o];
        } else memcpy(t->data, d, (size_t)t->n * sizeof(float));
    }
    if (converted) note(s, "%s: F16/BF16 weights converted to F32", file);

    /* nothing else in the file: buffers ignored, lm_head tied */
    for (int i = 0; i < ng_st_count(f); i++) {
        const char *n = ng_st_name(f, i);
        const char *rest = !strncmp(n, pre, strlen(pre)) ? n + strlen(pre) : NULL;
        if (rest && ignorable(rest)) continue;
        if (!strcmp(n, "lm_head.weight") || !strcmp(n, "_orig_mod.lm_head.weight")) {
            const float *h = need_tensor(f, file, n, &nd, sh);
            if (!h) goto done;
            if (nd != 2 || sh[0] != Vm || sh[1] != c.n_embd || memcmp(h, wte, (size_t)Vm * c.n_embd * sizeof(float))) {
                ng_set_error("%s: tensor '%s' is not tied to '%swte.weight' (equal to it): nanogen's GPT ties its output head", file, n, pre);
                goto done;
            }
            continue;
        }
        int known = 0;
        for (int k = 0; rest && k < ng_params_count(P) && !known; k++) {
            int tr;
            char en[256];
            if (!ext_name(ng_params_get(P, k)->name, fmt, pre, en, sizeof en, &tr)) known = !strcmp(en, n);
        }
        if (!known) { ng_set_error("%s: unexpected tensor '%s' for a %s GPT of this config", file, n, ng_model_format_name(fmt)); goto done; }
    }
    *mp = m; m = NULL;
    *tp = tok; tok = NULL;
    rc = NG_OK;
done:
    ng_model_free(m);
    ng_tokenizer_free(tok);
    cJSON_Delete(cj.j);
    ng_safetensors_close(f);
    return rc;
}

/* ---------------------------------------------------------------- export */

/* Write a JSON object to path atomically. */
static int write_json(const char *path, cJSON *o) {
    char *text = cJSON_Print(o);
    if (!text) return ng_set_error("out of memory writing %s", path);
    ng_atomic_file af;
    int rc = ng_atomic_open(&af, path);
    if (!rc) {
        const int ok = fputs(text, af.fp) >= 0 && fputc('\n', af.fp) != EOF;
        rc = ng_atomic_commit(&af, ok);
    }
    free(text);
    return rc;
}

/* The GPT-2 tokenizer's files (vocab.json + merges.txt) of a byte-level BPE tokenizer.
 * TEMPORARY: the bpe branch exposes the accessor this needs (ng_tokenizer_save_gpt2, asked for
 * in the merge notes); until then no tokenizer can be written this way. */
static int export_gpt2_tokenizer(const ng_tokenizer *tok, const char *dir) {
    char v[4096], m[4096];
    if (snprintf(v, sizeof v, "%s/vocab.json", dir) >= (int)sizeof v || snprintf(m, sizeof m, "%s/merges.txt", dir) >= (int)sizeof m)
        return ng_set_error("'%s' is too long a path", dir);
    return ng_tokenizer_save_gpt2(tok, v, m);
}

int ng_model_export(const char *out, ng_model *m, const ng_tokenizer *tok, ng_model_format fmt, const ng_convert_settings *s) {
    const ng_model_config *c = ng_model_cfg(m);
    if (c->kind != NG_MODEL_GPT) return ng_set_error("export: a %s model: only a GPT has the hf-gpt2 and nanogpt layouts", ng_model_kind_name(c->kind));
    if (fmt != NG_FORMAT_HF_GPT2 && fmt != NG_FORMAT_NANOGPT) return ng_set_error("export: unknown format %d", (int)fmt);
    if (!tok) return ng_set_error("export: the model's tokenizer is needed");
    if (ng_mkdir_p(out)) return NG_ERR;
    ng_params *P = ng_model_params(m);
    const int np = ng_params_count(P), hf = fmt == NG_FORMAT_HF_GPT2, zero_bias = hf && c->no_bias;
    const int64_t C = c->n_embd;
    /* tensors: the parameters (HF: Conv1D transposed; a model without biases gets zero biases, the
     * same function), nanoGPT's tied lm_head */
    const int cap = np + 8 * c->n_layer + 4;
    ng_st_tensor *ts = calloc((size_t)cap, sizeof *ts);
    char (*names)[160] = calloc((size_t)cap, sizeof *names);
    float **owned = calloc((size_t)cap, sizeof *owned);
    int n = 0, rc = NG_ERR;
    char path[4096];
    cJSON *cfg = NULL;
    if (!ts || !names || !owned) { ng_set_error("out of memory exporting"); goto done; }
    const char *pre = hf ? "" : "transformer.";
    for (int i = 0; i < np; i++) {
        const ng_tensor *t = ng_params_get(P, i);
        int tr = 0;
        if (ext_name(t->name, fmt, pre, names[n], sizeof names[n], &tr)) goto done;
        ts[n].name = names[n];
        ts[n].ndim = t->ndim;
        ts[n].shape[0] = tr ? t->ne[1] : t->ne[0];
        ts[n].shape[1] = tr ? t->ne[0] : t->ne[1];
        ts[n].data = t->data;
        if (tr) {
            const int64_t o = t->ne[0], in = t->ne[1];
            float *d = owned[n] = malloc((size_t)t->n * sizeof(float));
            if (!d) { ng_set_error("out of memory exporting"); goto done; }
            for (int64_t a = 0; a < o; a++)
                for (int64_t k = 0; k < in; k++) d[k * o + a] = t->data[a * in + k];
            ts[n].data = d;
        }
        n++;
    }
    if (zero_bias) {   /* HF's GPT2 always has biases */
        static const struct { const char *part; int mult; } B[] = {{"ln_1", 1}, {"attn.c_attn", 3}, {"attn.c_proj", 1}, {"ln_2", 1}, {"mlp.c_fc", 4}, {"mlp.c_proj", 1}};
        for (int l = 0; l <= c->n_layer; l++)
            for (int k = 0; k < (l < c->n_layer ? 6 : 1); k++) {
                const int64_t len = l < c->n_layer ? B[k].mult * C : C;
                if (l < c->n_layer) snprintf(names[n], sizeof names[n], "h.%d.%s.bias", l, B[k].part);
                else snprintf(names[n], sizeof names[n], "ln_f.bias");
                float *z = owned[n] = calloc((size_t)len, sizeof(float));
                if (!z) { ng_set_error("out of memory exporting"); goto done; }
                ts[n] = (ng_st_tensor){names[n], 1, {len}, z};
                n++;
            }
        note(s, "hf-gpt2 has biases everywhere: this model has none, so they are written as zeros (the same function)");
    }
    if (!hf) {
        const ng_tensor *wte = ng_params_find(P, "wte.weight");
        snprintf(names[n], sizeof names[n], "lm_head.weight");
        ts[n] = (ng_st_tensor){names[n], 2, {wte->ne[0], wte->ne[1]}, wte->data};
        n++;
    }
    const char *mk[1] = {"format"}, *mv[1] = {"pt"};
    if (join(path, sizeof path, out, "model.safetensors") || ng_safetensors_write(path, ts, n, mk, mv, 1)) goto done;

    /* config.json */
    cfg = cJSON_CreateObject();
    if (hf) {
        cJSON *arch = cJSON_AddArrayToObject(cfg, "architectures");
        cJSON_AddItemToArray(arch, cJSON_CreateString("GPT2LMHeadModel"));
        cJSON_AddStringToObject(cfg, "model_type", "gpt2");
        cJSON_AddNumberToObject(cfg, "vocab_size", c->vocab_size);
        cJSON_AddNumberToObject(cfg, "n_positions", c->block_size);
        cJSON_AddNumberToObject(cfg, "n_ctx", c->block_size);
        cJSON_AddNumberToObject(cfg, "n_embd", c->n_embd);
        cJSON_AddNumberToObject(cfg, "n_layer", c->n_layer);
        cJSON_AddNumberToObject(cfg, "n_head", c->n_head);
        cJSON_AddNullToObject(cfg, "n_inner");
        cJSON_AddStringToObject(cfg, "activation_function", c->gelu == NG_GELU_EXACT ? "gelu" : "gelu_new");
        cJSON_AddNumberToObject(cfg, "layer_norm_epsilon", 1e-5);
        cJSON_AddNumberToObject(cfg, "resid_pdrop", c->dropout);
        cJSON_AddNumberToObject(cfg, "embd_pdrop", c->dropout);
        cJSON_AddNumberToObject(cfg, "attn_pdrop", c->dropout);
        cJSON_AddNumberToObject(cfg, "initializer_range", 0.02);
        cJSON_AddBoolToObject(cfg, "scale_attn_weights", 1);
        cJSON_AddBoolToObject(cfg, "tie_word_embeddings", 1);
    } else {
        cJSON_AddNumberToObject(cfg, "block_size", c->block_size);
        cJSON_AddNumberToObject(cfg, "vocab_size", c->vocab_size);
        cJSON_AddNumberToObject(cfg, "n_layer", c->n_layer);
        cJSON_AddNumberToObject(cfg, "n_head", c->n_head);
        cJSON_AddNumberToObject(cfg, "n_embd", c->n_embd);
        cJSON_AddNumberToObject(cfg, "dropout", c->dropout);
        cJSON_AddBoolToObject(cfg, "bias", !c->no_bias);
        if (c->gelu == NG_GELU_TANH) {
            cJSON_AddStringToObject(cfg, "gelu", "tanh");
            note(s, "nanoGPT's MLP is the exact GELU and this model's the tanh one: config.json says \"gelu\": \"tanh\" "
                    "(remove the key before GPTConfig(**config), and use nn.GELU(approximate='tanh') for the same function)");
        }
    }
    if (join(path, sizeof path, out, "config.json") || write_json(path, cfg)) goto done;

    /* the tokenizer: nanogen's own JSON always (exact round trip); GPT-2's files when it is GPT-2 style */
    char *tj = ng_tokenizer_to_json(tok);
    if (!tj) { ng_set_error("out of memory exporting the tokenizer"); goto done; }
    ng_atomic_file af;
    int wrc = join(path, sizeof path, out, "nanogen_tokenizer.json") || ng_atomic_open(&af, path);
    if (!wrc) wrc = ng_atomic_commit(&af, fputs(tj, af.fp) >= 0);
    free(tj);
    if (wrc) goto done;
    const ng_tok_kind k = ng_tokenizer_kind(tok);
    if (k == NG_TOK_CHAR || k == NG_TOK_WORD)
        note(s, "the tokenizer is %s-level, not GPT-2's BPE: no vocab.json / merges.txt written; nanogen_tokenizer.json holds it "
                "(nanogen import reads it back)", k == NG_TOK_CHAR ? "char" : "word");
    else if (export_gpt2_tokenizer(tok, out))
        note(s, "%s; nanogen_tokenizer.json holds the tokenizer", ng_last_error());
    rc = NG_OK;
done:
    for (int i = 0; owned && i < cap; i++) free(owned[i]);
    free(owned); free(names); free(ts);
    cJSON_Delete(cfg);
    return rc;
}

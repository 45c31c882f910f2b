/* trainer.c - a training run of any kind: defaults and presets, creating a run (new or resumed),
 * the run's directory and metrics.jsonl, events, numerical faults. The steps themselves: text.c
 * (text kinds) and images.c (image kinds). */
#include "train/trainer.h"

#include "ops/kernels/kernels.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- settings */

/* SPEC.md's named configurations (evaluation settings as in nanoGPT / the lecture), and two
 * GPT-2-class ones: gpt2 is GPT-2 small's shape (124M with GPT-2's 50257 tokens) with nanoGPT's
 * train_gpt2.py recipe (batch 12 without its gradient accumulation); bpe-small a subword model
 * trainable on a CPU in minutes. V: the vocabulary a word tokenizer keeps (and a BPE tokenizer
 * is trained to); a char tokenizer's vocabulary always comes from the data. */
static const struct {
    const char *name;
    ng_model_kind kind;
    int T, B, L, H, C;
    float dropout, lr, min_lr;
    int warmup, steps, eval_every, eval_iters, V;
    int bpe;   /* the preset's tokenizer is byte-level BPE (of V tokens), not char */
} PRESETS[] = {
    {"baby", NG_MODEL_GPT, 64, 12, 4, 4, 128, 0.0f, 1e-3f, 1e-4f, 100, 2000, 250, 20, 0, 0},
    {"shakespeare-char", NG_MODEL_GPT, 256, 64, 6, 6, 384, 0.2f, 1e-3f, 1e-4f, 100, 5000, 250, 200, 0, 0},
    {"bigram", NG_MODEL_BIGRAM, 8, 32, 0, 0, 0, 0.0f, 1e-2f, 1e-2f, 0, 3000, 300, 200, 0, 0},
    {"gpt2", NG_MODEL_GPT, 1024, 12, 12, 12, 768, 0.0f, 6e-4f, 6e-5f, 2000, 600000, 1000, 200, 50257, 1},
    {"bpe-small", NG_MODEL_GPT, 256, 12, 4, 4, 256, 0.1f, 1e-3f, 1e-4f, 100, 1000, 250, 20, 4096, 1},
};

const char *ng_train_default_preset(ng_model_kind kind) {
    return kind == NG_MODEL_GPT ? "baby" : kind == NG_MODEL_BIGRAM ? "bigram" : NULL;
}

int ng_train_preset(const char *name, ng_model_config *c, ng_train_settings *s) {
    for (size_t k = 0; k < sizeof PRESETS / sizeof *PRESETS; k++) {
        if (strcmp(name, PRESETS[k].name)) continue;
        c->kind = PRESETS[k].kind;
        c->block_size = PRESETS[k].T;
        c->n_layer = PRESETS[k].L; c->n_head = PRESETS[k].H; c->n_embd = PRESETS[k].C;
        c->dropout = PRESETS[k].dropout;
        s->batch_size = PRESETS[k].B;
        s->lr = PRESETS[k].lr; s->min_lr = PRESETS[k].min_lr;
        s->warmup = PRESETS[k].warmup; s->steps = PRESETS[k].steps;
        s->eval_every = PRESETS[k].eval_every; s->eval_iters = PRESETS[k].eval_iters;
        s->dropout = PRESETS[k].dropout;
        if (PRESETS[k].V) s->vocab_size = PRESETS[k].V;
        if (PRESETS[k].bpe) s->tokenizer = NG_TOK_BPE;
        return NG_OK;
    }
    return ng_set_error("--preset: unknown preset '%s' (baby, shakespeare-char, bigram, gpt2, bpe-small)", name);
}

void ng_train_defaults(ng_model_kind kind, ng_train_settings *s) {
    memset(s, 0, sizeof *s);
    if (ng_model_kind_is_text(kind)) {
        ng_model_config c = {0};
        ng_train_preset(ng_train_default_preset(kind), &c, s);
        s->log_every = 10; s->seed = 1337; s->weight_decay = 0.1f; s->grad_clip = 1.0f;
        s->tokenizer = NG_TOK_CHAR; s->vocab_size = 8192;
        return;
    }
    const int gan = kind == NG_MODEL_GAN;
    s->epochs = gan || kind == NG_MODEL_CLASSIFIER ? 5 : 10;
    s->batch_size = 128;
    s->lr = gan ? 2e-4f : 1e-3f;
    s->beta1 = gan ? 0.5f : 0.9f; s->beta2 = 0.999f;
    s->noise = 0.3f; s->image_size = 28; s->seed = 1;
}

/* ---------------------------------------------------------------- events */

void ng__train_emit(ng_trainer *t, const ng_train_event *e) {
    if (t->cb && ng_dist_rank() == 0) t->cb(e, t->ctx);   /* several ranks: rank 0 reports */
}

void ng__train_note(ng_trainer *t, const char *fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (t->running) {
        ng_train_event e = {.kind = NG_TRAIN_NOTE, .message = buf};
        ng__train_emit(t, &e);
    } else if (t->n_notes < (int)(sizeof t->notes / sizeof *t->notes)) {
        t->notes[t->n_notes++] = strdup(buf);
    }
}

void ng_trainer_set_callback(ng_trainer *t, ng_train_callback cb, void *ctx) { t->cb = cb; t->ctx = ctx; }
void ng_trainer_set_stop_flag(ng_trainer *t, volatile int *flag) { t->stop = flag; }
ng_model *ng_trainer_model(ng_trainer *t) { return t->m; }
const ng_tokenizer *ng_trainer_tokenizer(const ng_trainer *t) { return t->tok; }
const ng_train_settings *ng_trainer_settings(const ng_trainer *t) { return &t->s; }
void ng_trainer_info(const ng_trainer *t, ng_train_info *info) { *info = t->info; }

/* ---------------------------------------------------------------- the run's directory */

int ng__train_open_dir(ng_trainer *t, const char *subdir, int force, const char *key, double last) {
    if (ng_dist_rank() > 0) {   /* rank 0 alone writes the run's files */
        size_t len = strlen(t->out) + 32;
        if (!(t->mpath = malloc(len))) return ng_set_error("out of memory");
        snprintf(t->mpath, len, "%s/metrics.jsonl", t->out);
        return NG_OK;
    }
    char *mp = ng_checkpoint_model_path(t->out);
    struct stat st;
    const int exists = mp && stat(mp, &st) == 0;
    free(mp);
    if (exists && !t->resumed && !force)
        return ng_set_error("'%s' already holds a checkpoint: continue it with --resume %s, or pass --force to overwrite it", t->out, t->out);
    char dir[4096];
    if (snprintf(dir, sizeof dir, "%s%s%s", t->out, subdir ? "/" : "", subdir ? subdir : "") >= (int)sizeof dir)
        return ng_set_error("--out '%s' is too long a path", t->out);
    if (ng_mkdir_p(dir)) return ng_set_error("--out: %s", ng_last_error());
    if (access(t->out, W_OK) != 0) return ng_set_error("--out '%s' is not writable: %s", t->out, strerror(errno));
    size_t len = strlen(t->out) + 32;
    if (!(t->mpath = malloc(len))) return ng_set_error("out of memory");
    snprintf(t->mpath, len, "%s/metrics.jsonl", t->out);
    if (t->resumed && ng__metrics_trim(t, key, last)) return NG_ERR;
    t->metrics = fopen(t->mpath, t->resumed ? "a" : "w");
    if (!t->metrics) return ng_set_error("cannot write %s: %s", t->mpath, strerror(errno));
    return NG_OK;
}

static char *g_record;   /* the last record's text (single-threaded: one run at a time) */

const char *ng__train_record(ng_trainer *t, cJSON *j) {
    free(g_record);
    g_record = cJSON_PrintUnformatted(j);
    if (g_record && t->metrics) { fprintf(t->metrics, "%s\n", g_record); fflush(t->metrics); }
    cJSON_Delete(j);
    return g_record ? g_record : "{}";
}

/* On a resume: drop the lines of metrics.jsonl whose number `key` is above `last` (logged after
 * the checkpoint by a run killed later) and a torn last line, so that the log continues exactly;
 * rewritten atomically, and only if needed. */
int ng__metrics_trim(ng_trainer *t, const char *key, double last) {
    const char *path = t->mpath;
    struct stat st;
    if (stat(path, &st) != 0) return NG_OK;   /* nothing logged yet */
    size_t len = 0;
    char *text = ng_read_file(path, &len);
    if (!text) return NG_ERR;
    char *keep = malloc(len + 1);
    if (!keep) { free(text); return ng_set_error("out of memory reading '%s'", path); }
    size_t k = 0, dropped = 0;
    for (char *line = text; line < text + len;) {
        char *nl = memchr(line, '\n', (size_t)(text + len - line));
        if (!nl) { dropped++; break; }   /* torn last line: the run died while writing it */
        *nl = 0;
        cJSON *j = cJSON_Parse(line);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
        int ok = j && !(cJSON_IsNumber(v) && v->valuedouble > last);
        cJSON_Delete(j);
        if (ok) { size_t n = (size_t)(nl - line); memcpy(keep + k, line, n); keep[k + n] = '\n'; k += n + 1; }
        else dropped++;
        line = nl + 1;
    }
    int rc = NG_OK;
    if (dropped) {
        ng_atomic_file af;
        rc = ng_atomic_open(&af, path);
        if (!rc) rc = ng_atomic_commit(&af, fwrite(keep, 1, k, af.fp) == k);
        if (!rc) ng__train_note(t, "note: dropped %zu line%s of %s logged after the checkpoint", dropped, dropped == 1 ? "" : "s", path);
    }
    free(keep); free(text);
    return rc;
}

int ng__metrics_has(const char *path, const char *key, double value, const char *field) {
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    char line[4096];
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
        found = cJSON_IsNumber(v) && v->valuedouble == value && cJSON_GetObjectItemCaseSensitive(j, field);
        cJSON_Delete(j);
    }
    fclose(f);
    return found;
}

int ng__state_range(const char *key, double v, double lo, double hi) {
    if (v >= lo && v <= hi) return NG_OK;
    return ng_set_error("the checkpoint's training state is invalid: %s = %.10g is outside [%.10g, %.10g] (was the file edited?)", key, v, lo, hi);
}

void ng__state_add_rng(cJSON *j, const char *key, const ng_rng *rng) {
    char buf[32];
    cJSON *r = cJSON_AddArrayToObject(j, key);
    for (int i = 0; i < 4; i++) {
        snprintf(buf, sizeof buf, "%016" PRIx64, rng->s[i]);
        cJSON_AddItemToArray(r, cJSON_CreateString(buf));
    }
}

void ng__state_add_gemm(cJSON *j) {
    if (strncmp(ng_gemm_name(), "auto:", 5)) return;   /* a fixed GEMM: nothing was chosen */
    int key[6], blas;
    const int n = ng_gemm_choice_get(0, key, &blas);
    if (n <= 0) return;
    cJSON *a = cJSON_AddArrayToObject(j, "gemm");
    for (int i = 0; i < n; i++) {
        ng_gemm_choice_get(i, key, &blas);
        const int v[7] = {key[0], key[1], key[2], key[3], key[4], key[5], blas};
        cJSON_AddItemToArray(a, cJSON_CreateIntArray(v, 7));
    }
}

int ng__state_get_gemm(const cJSON *j, int apply) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "gemm");
    int n = 0;
    if (!cJSON_IsArray(a)) return 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a) {
        if (n >= 4096 || !cJSON_IsArray(e) || cJSON_GetArraySize(e) != 7) continue;
        int v[7], ok = 1;
        for (int i = 0; i < 7; i++) {
            const cJSON *x = cJSON_GetArrayItem(e, i);
            ok = ok && cJSON_IsNumber(x) && x->valuedouble >= 0 && x->valuedouble <= (1 << 30);
            v[i] = ok ? (int)x->valuedouble : 0;
        }
        if (!ok) continue;   /* a choice only picks a kernel (both are right): a bad entry is skipped */
        if (apply) ng_gemm_choice_set(v, v[6]);
        n++;
    }
    return n;
}

int ng__state_get_rng(const cJSON *j, const char *key, ng_rng *rng) {
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, key);
    if (!cJSON_IsArray(r) || cJSON_GetArraySize(r) != 4) return NG_ERR;
    for (int i = 0; i < 4; i++) {
        const cJSON *x = cJSON_GetArrayItem(r, i);
        if (!cJSON_IsString(x)) return NG_ERR;
        rng->s[i] = strtoull(x->valuestring, NULL, 16);
    }
    return NG_OK;
}

/* ---------------------------------------------------------------- several ranks */

int ng__train_shards(ng_trainer *t, int resumed, int *S, int *L) {
    ng_train_settings *s = &t->s;
    const int N = ng_dist_size(), B = s->batch_size;
    int n = s->grad_shards > 0 ? s->grad_shards : N;
    /* one process sums any number of shards; ranks share them in whole subtrees of the sum */
    const int fits = n % N == 0 && (N == 1 || ((n / N) & (n / N - 1)) == 0);
    if (!fits && resumed && !(s->given & NG_SET_GRAD_SHARDS)) {
        ng__train_note(t, "note: the run was cut into %d gradient shards, which %d ranks cannot share evenly: it goes on with %d "
                       "(one per rank), so its sums change order (--grad-shards %d keeps them)", n, N, N, n);
        n = N;
    } else if (!fits) {
        return ng_set_error("--grad-shards %d: with %d ranks each rank would take %d/%d of the shards; that must be a whole power "
                            "of two (e.g. --grad-shards %d)", n, N, n, N, N);
    }
    if (B % n)
        return ng_set_error("--batch-size %d is not a multiple of the %d gradient shards (%s): each shard takes the same number of rows",
                            B, n, s->grad_shards > 0 ? "--grad-shards" : "one per rank");
    s->grad_shards = *S = n;
    *L = n / N;
    return NG_OK;
}

static int g_shared_error;
void ng__train_shared_error(void) { g_shared_error = 1; }
int ng_dist_error_shared(void) { return g_shared_error; }

int ng__train_agree(int *v, int n) { return ng__dist_max_int(v, n); }

int ng__train_shard_done(ng_params *P, ng_dist_tree *tr, int L, int last) {
    if (L == 1) return NG_OK;   /* one shard a rank: its gradients are the rank's */
    float *g = ng_params_grad(P);
    if (ng__dist_tree_push(tr, g)) return NG_ERR;
    ng_params_zero_grad(P);
    return last ? ng__dist_tree_result(tr, g) : NG_OK;
}

int ng__train_shards_loss(const float *mine, int L, double *sum) {
    const int N = ng_dist_size();
    float small[256], *all = (size_t)L * N <= 256 ? small : malloc(sizeof(float) * (size_t)L * N);   /* no allocation a step, usually */
    if (!all) return ng_set_error("out of memory");
    const int rc = ng__dist_allgather_float(mine, L, all);
    *sum = 0;
    for (int i = 0; !rc && i < L * N; i++) *sum += all[i];
    if (all != small) free(all);
    return rc;
}

int ng__train_shards_finish(ng_params *P, float *tmp, int failed, float scale, const float *mine, int L, double *loss_sum,
                            double *wait_s, double *sum_s) {
    char own[1024] = "";
    if (failed) snprintf(own, sizeof own, "%s", ng_last_error());
    int flags[1] = {failed};
    const double t0 = ng_seconds();
    if (ng__train_agree(flags, 1)) return NG_ERR;
    const double t1 = ng_seconds();   /* the agreement waits for the slowest rank; the sum starts here */
    if (wait_s) *wait_s += t1 - t0;
    if (flags[0]) {
        if (failed) return ng_set_error("%s", own);
        ng__train_shared_error();
        return ng_set_error("another rank stopped the run (its error is above)");
    }
    float *g = ng_params_grad(P);
    const int64_t n = ng_params_total(P);
    if (ng__dist_sum_tree(g, n, tmp) || (mine && ng__train_shards_loss(mine, L, loss_sum))) return NG_ERR;
    if (sum_s) *sum_s += ng_seconds() - t1;
    if (scale != 1.0f) {
        #pragma omp parallel for simd schedule(static) if (n > 65536)
        for (int64_t i = 0; i < n; i++) g[i] *= scale;
    }
    return NG_OK;
}

/* ---------------------------------------------------------------- a step's parts */

static int anomaly_found(ng_graph *g) {
    return ng_graph_anomaly(g) ? ng_set_error("anomaly (--detect-anomaly) in the %s", ng_last_error()) : NG_OK;
}

int ng__train_forward(ng_graph *g) {
    ng_graph_forward(g);
    return anomaly_found(g);
}

int ng__train_backward(ng_graph *g, const float *dout) {
    if (dout) ng_graph_backward_with(g, dout);
    else ng_graph_backward(g);
    return anomaly_found(g);
}

int ng__train_backward_inputs(ng_graph *g) {
    return ng_graph_backward_inputs(g, NULL) ? NG_ERR : anomaly_found(g);
}

int ng__train_finite_loss(ng_graph *g, const char *what, double loss) {
    if (isfinite(loss)) return NG_OK;
    const char *v = isnan(loss) ? "nan" : loss > 0 ? "inf" : "-inf";
    if (ng_graph_find_nonfinite(g))
        return ng_set_error("%s is %s: training diverged (lower --lr); the first non-finite value, in the %s", what, v, ng_last_error());
    return ng_set_error("%s is %s: training diverged (lower --lr)", what, v);
}

int ng__train_adamw(ng_adamw *opt, ng_params *P, float lr, const char *block) {
    const double t0 = ng_profiling() ? ng_seconds() : 0;
    const float norm = ng_adamw_step(opt, lr);   /* its norm pass sees every gradient */
    if (ng_profiling()) ng_profile_add("adamw+clip", ng_seconds() - t0);
    if (isfinite(norm)) return NG_OK;
    ng_tensor *t = ng_params_nonfinite_grad(P);
    if (!t)
        return ng_set_error("the %sgradient norm is %g: every gradient is finite but their norm overflows a float "
                            "(training diverged: lower --lr)", block, norm);
    char what[160];
    ng_describe_nonfinite(t, 1, what, sizeof what);
    return ng_set_error("the gradient of %s%s has %s (training diverged: lower --lr, or find the op with --detect-anomaly)",
                        block, t->name, what);
}

void ng__train_fault(const char *where, const char *kept) {
    char *w = strdup(ng_last_error());
    const char *what = w ? w : "a numerical fault";
    if (kept) ng_set_error("%s: %s; stopped without saving: %s is kept", where, what, kept);
    else ng_set_error("%s: %s; stopped (no checkpoint was saved yet)", where, what);
    free(w);
}

/* ---------------------------------------------------------------- a run */

static ng_trainer *trainer_alloc(ng_model *m, ng_tokenizer *tok, const ng_train_settings *s, const char *out) {
    ng_trainer *t = calloc(1, sizeof *t);
    if (!t) { ng_set_error("out of memory creating a trainer"); return NULL; }
    t->m = m; t->tok = tok; t->s = *s;
    t->text = ng_model_kind_is_text(ng_model_cfg(m)->kind);
    t->data = s->data ? strdup(s->data) : NULL;
    t->out = out ? strdup(out) : NULL;
    t->s.data = t->data;
    t->info.full_val_loss = NAN;
    if ((s->data && !t->data) || (out && !t->out)) { ng_set_error("out of memory"); free(t->data); free(t->out); free(t); return NULL; }
    return t;
}

ng_trainer *ng_trainer_new(ng_model *m, ng_tokenizer *tok, const ng_train_settings *s, const char *out, int force) {
    if (!m || !s) { ng_set_error("a trainer needs a model and settings"); return NULL; }
    const int text = ng_model_kind_is_text(ng_model_cfg(m)->kind);
    if (text && !tok) { ng_set_error("training a %s needs its tokenizer", ng_model_kind_name(ng_model_cfg(m)->kind)); return NULL; }
    if (!s->data) { ng_set_error(text ? "--data FILE is required (a UTF-8 text file)" : "--data is required: fashion-mnist, mnist, or a folder of IDX files or images"); return NULL; }
    if (!out) { ng_set_error("--out DIR is required (where the checkpoint goes)"); return NULL; }
    ng_trainer *t = trainer_alloc(m, tok, s, out);
    if (!t) return NULL;
    ng_rng_seed(&t->rng, s->seed);
    if (text ? ng__text_open(t, NULL, force) : ng__image_open(t, NULL, force)) { ng_trainer_free(t); return NULL; }
    return t;
}

ng_trainer *ng_trainer_create(const ng_model_config *cfg, const ng_train_settings *s, const char *out, int force) {
    if (!cfg || !s) { ng_set_error("a trainer needs a model config and settings"); return NULL; }
    if (!out) { ng_set_error("--out DIR is required (where the checkpoint goes)"); return NULL; }
    const int text = ng_model_kind_is_text(cfg->kind);
    ng_model *m = NULL;
    ng_tokenizer *tok = NULL;
    ng_images pre[2] = {{0}};
    if (text ? ng__text_create(cfg, s, &m, &tok) : ng__image_create(cfg, s, &m, pre)) {
        ng_images_free(&pre[0]); ng_images_free(&pre[1]);
        return NULL;
    }
    ng_trainer *t = trainer_alloc(m, tok, s, out);
    if (!t) { ng_model_free(m); ng_tokenizer_free(tok); ng_images_free(&pre[0]); ng_images_free(&pre[1]); return NULL; }
    t->owns = 1;
    t->pre = pre;
    ng_rng_seed(&t->rng, s->seed);
    const int rc = text ? ng__text_open(t, NULL, force) : ng__image_open(t, NULL, force);
    t->pre = NULL;
    ng_images_free(&pre[0]); ng_images_free(&pre[1]);
    if (rc) { ng_trainer_free(t); return NULL; }
    return t;
}

ng_trainer *ng_trainer_resume(const char *dir, const ng_train_settings *s, const char *out) {
    ng_model *m = NULL;
    ng_tokenizer *tok = NULL;
    char *state = NULL;
    if (ng_checkpoint_load(dir, &m, &tok, &state)) return NULL;
    const ng_model_kind kind = ng_model_cfg(m)->kind;
    const int text = ng_model_kind_is_text(kind);
    /* the saved settings, over the kind's defaults; then the ones the caller gave */
    ng_train_settings saved;
    ng_train_defaults(kind, &saved);
    int pos = 0;
    ng_trainer *t = NULL;
    if (text ? ng__text_state(state, &saved, &pos) : ng__image_state(state, &saved, &pos)) goto fail;
    {   /* the GEMM kernels the run chose, over what the cache says now: the same bits from here on */
        cJSON *j = cJSON_Parse(state);
        ng__state_get_gemm(j, 1);
        cJSON_Delete(j);
    }
    if (s) {
        const unsigned g = s->given;
        if (g & NG_SET_STEPS) saved.steps = s->steps;
        if (g & NG_SET_BATCH) saved.batch_size = s->batch_size;
        if (g & NG_SET_LR) saved.lr = s->lr;
        if (g & NG_SET_MIN_LR) saved.min_lr = s->min_lr;
        if (g & NG_SET_WARMUP) saved.warmup = s->warmup;
        if (g & NG_SET_WEIGHT_DECAY) saved.weight_decay = s->weight_decay;
        if (g & NG_SET_GRAD_CLIP) saved.grad_clip = s->grad_clip;
        if (g & NG_SET_EVAL_EVERY) saved.eval_every = s->eval_every;
        if (g & NG_SET_EVAL_ITERS) saved.eval_iters = s->eval_iters;
        if (g & NG_SET_LOG_EVERY) saved.log_every = s->log_every;
        if (g & NG_SET_SEED) saved.seed = s->seed;
        if (g & NG_SET_EPOCHS) saved.epochs = s->epochs;
        if (g & NG_SET_GRAD_SHARDS) saved.grad_shards = s->grad_shards;
        if (g & NG_SET_DROPOUT) { saved.dropout = s->dropout; ((ng_model_config *)ng_model_cfg(m))->dropout = s->dropout; }
        if (s->data) saved.data = s->data;
        saved.detect_anomaly = s->detect_anomaly;
        saved.no_final_eval = s->no_final_eval;
        saved.given = g;
    }
    if (!saved.data) { ng_set_error(text ? "the checkpoint does not say which data it trained on: give --data FILE"
                                         : "the checkpoint does not say which data it trained on: give --data"); goto fail; }
    if (saved.min_lr > saved.lr) { ng_set_error("--min-lr %g is larger than --lr %g", saved.min_lr, saved.lr); goto fail; }
    t = trainer_alloc(m, tok, &saved, out ? out : dir);
    if (!t) goto fail;
    t->owns = 1;
    t->resumed = 1;
    t->saved = !out || !strcmp(out, dir);   /* continuing in its own directory: that checkpoint is kept on a fault */
    m = NULL; tok = NULL;
    if (text ? ng__text_open(t, state, 0) : ng__image_open(t, state, 0)) goto fail;
    free(state);
    return t;
fail:
    free(state);
    ng_model_free(m);
    ng_tokenizer_free(tok);
    ng_trainer_free(t);
    return NULL;
}

void ng_trainer_free(ng_trainer *t) {
    if (!t) return;
    if (t->text) ng__text_free(t);
    else ng__image_free(t);
    if (t->metrics) fclose(t->metrics);
    for (int b = 0; b < 2; b++) ng_adamw_free(t->opts[b]);
    for (int i = 0; i < t->n_notes; i++) free(t->notes[i]);
    if (t->owns) { ng_model_free(t->m); ng_tokenizer_free(t->tok); }
    free(t->data); free(t->out); free(t->mpath);
    free(t);
}

int ng_trainer_run(ng_trainer *t) {
    for (int i = 0; i < t->n_notes; i++) {   /* what creating the run found */
        ng_train_event e = {.kind = NG_TRAIN_NOTE, .message = t->notes[i]};
        ng__train_emit(t, &e);
        free(t->notes[i]);
    }
    t->n_notes = 0;
    t->info.steps_run = 0;
    t->running = 1;
    const double t0 = ng_seconds();
    const int rc = t->text ? ng__text_run(t) : ng__image_run(t);
    t->info.seconds = ng_seconds() - t0;
    t->running = 0;
    return rc;
}

int ng_train_state_check(const char *json, int text) {
    ng_train_settings s;
    ng_train_defaults(text ? NG_MODEL_GPT : NG_MODEL_VAE, &s);
    int pos = 0;
    if (text ? ng__text_state(json, &s, &pos) : ng__image_state(json, &s, &pos)) return NG_ERR;
    cJSON *j = cJSON_Parse(json);
    ng__state_get_gemm(j, 0);   /* its GEMM choices read (bad entries are skipped), not applied */
    cJSON_Delete(j);
    return NG_OK;
}

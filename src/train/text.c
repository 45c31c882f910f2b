/* text.c - training a text kind (bigram, GPT): random windows of the train split, AdamW with
 * warmup and cosine decay, dropout keyed on the step, loss estimates every eval_every steps (a
 * checkpoint each time), the running loss logged every log_every steps, the loss on the whole
 * val split at the end; the training state that makes a resume exact. Also the text helpers
 * the commands share: reading a corpus as ids, the full-split loss, fine-tuning's vocabulary. */
#include "train/trainer.h"

#include "io/jsonnum.h"
#include "train/ranges.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int32_t *ids;
    size_t n_train, n_val;
    ng_graph *g;
    ng_lm_graph lg;
    ng_adamw_cfg acfg;
    int step0;                /* the step the run starts from */
    int saved_step;           /* the checkpoint in out that a fault keeps (its step), -1: none yet */
    double elapsed0, log_sum0;
    int log_n0;
    double last_train, last_val;
    /* gradient shards (ng_train_settings.grad_shards): S shards of Bs rows, this rank's L of them */
    int S, L, Bs;
    int32_t *bx, *by;         /* the step's whole batch when it is cut into shards */
    float *gtmp;              /* scratch of the sum across ranks */
    ng_dist_tree tree;
    double comm_s, wait_s;    /* seconds in the sum across ranks, and waiting for the slowest rank, since the last log line */
} text_run;

/* ---------------------------------------------------------------- text helpers */

int32_t *ng_text_encode_file(const char *path, const ng_tokenizer *tok, int skip_unknown, size_t *n, size_t *n_unknown) {
    size_t len;
    char *text = ng_read_file(path, &len);
    if (!text) return NULL;
    if (len == 0) { free(text); ng_set_error("'%s' is empty", path); return NULL; }
    long long bad = ng_tokenizer_kind(tok) == NG_TOK_BPE ? -1 : ng_utf8_validate(text, len);
    if (bad >= 0) {
        ng_set_error("'%s' is not valid UTF-8: bad byte 0x%02X at byte offset %lld (convert it, e.g. iconv -f latin1 -t utf-8)",
                     path, (unsigned char)text[bad], bad);
        free(text);
        return NULL;
    }
    int32_t *ids = NULL;
    size_t unknown = 0;
    if (ng_tokenizer_encode(tok, text, len, skip_unknown, &ids, n, &unknown)) {
        ng_set_error("'%s': %s", path, ng_last_error());
        free(text);
        return NULL;
    }
    if (n_unknown) *n_unknown = unknown;
    free(text);
    return ids;
}

/* The summed loss and the counted targets of the chunks c = part, part + parts, ... of B*T
 * positions (a rank's share of the split). */
static double full_loss_part(ng_lm_graph *lg, ng_graph *g, int B, int T, const int32_t *ids, size_t n, int part, int parts,
                             size_t *count) {
    double total = 0;
    size_t counted = 0;
    ng_graph_set_training(g, 0);
    size_t n_pred = n > 0 ? n - 1 : 0;   /* positions that have a next token */
    for (size_t start = (size_t)part * B * T; start < n_pred; start += (size_t)parts * B * T) {
        for (int b = 0; b < B; b++) {
            for (int t = 0; t < T; t++) {
                size_t p = start + (size_t)b * T + t;
                int ok = p < n_pred;
                lg->idx->idata[b * T + t] = ok ? ids[p] : 0;
                lg->targets->idata[b * T + t] = ok ? ids[p + 1] : -1;
            }
        }
        ng_graph_forward(g);
        float c = lg->loss->aux[lg->logits->ne[0]];   /* counted targets (softmax_xent state) */
        total += (double)lg->loss->data[0] * c;
        counted += (size_t)c;
    }
    ng_graph_set_training(g, 1);
    *count = counted;
    return total;
}

double ng_lm_full_loss(ng_lm_graph *lg, ng_graph *g, int B, int T, const int32_t *ids, size_t n, size_t *count) {
    size_t counted = 0;
    const double total = full_loss_part(lg, g, B, T, ids, n, 0, 1, &counted);
    if (count) *count = counted;
    return counted ? total / counted : 0.0;
}

/* The same over several ranks: each its share of the chunks, the sums gathered in rank order. */
static int full_loss_ranks(ng_lm_graph *lg, ng_graph *g, int B, int T, const int32_t *ids, size_t n, double *loss, size_t *count) {
    const int N = ng_dist_size();
    if (N == 1) { *loss = ng_lm_full_loss(lg, g, B, T, ids, n, count); return NG_OK; }
    size_t c = 0;
    double mine[2], *all = malloc(sizeof(double) * 2 * N);
    if (!all) return ng_set_error("out of memory");
    mine[0] = full_loss_part(lg, g, B, T, ids, n, ng_dist_rank(), N, &c);
    mine[1] = (double)c;
    if (ng__dist_allgather_double(mine, 2, all)) { free(all); return NG_ERR; }
    double total = 0, counted = 0;
    for (int q = 0; q < N; q++) { total += all[2 * q]; counted += all[2 * q + 1]; }
    free(all);
    *count = (size_t)counted;
    *loss = counted > 0 ? total / counted : 0.0;
    return NG_OK;
}

size_t ng_text_count_chars(const ng_tokenizer *tok, const int32_t *ids, size_t n) {
    if (ng_tokenizer_kind(tok) == NG_TOK_CHAR) return n;
    size_t len = 0;
    char *s = ng_tokenizer_decode_bytes(tok, ids, n, &len);
    if (!s) return n;
    size_t chars = 0;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len; chars++) {   /* a byte that is not part of a valid character counts as one */
        uint32_t cp;
        int k = u[i] < 0x80 ? 1 : ng_utf8_decode(u + i, len - i, &cp);
        i += k ? (size_t)k : 1;
    }
    free(s);
    return chars;
}

size_t ng_text_count_bytes(const ng_tokenizer *tok, const int32_t *ids, size_t n) {
    if (ng_tokenizer_kind(tok) != NG_TOK_WORD) {   /* char, bpe: the tokens' bytes, no spacing */
        size_t bytes = 0;
        for (size_t i = 0; i < n; i++) {
            size_t l;
            ng_tokenizer_token_bytes(tok, ids[i], &l);
            bytes += l;
        }
        return bytes;
    }
    size_t len = 0;
    char *s = ng_tokenizer_decode_bytes(tok, ids, n, &len);
    if (!s) return n;
    free(s);
    return len;
}

int ng_vocab_extend(ng_model **mp, ng_tokenizer **tp, const char *text, size_t len, int mode, uint64_t seed, char *listed, size_t cap) {
    ng_tokenizer *old = *tp, *fresh = ng_tokenizer_build(NG_TOK_CHAR, text, len, 0);
    if (!fresh) return -1;
    if (listed && cap) listed[0] = 0;
    int Vo = ng_tokenizer_vocab_size(old), Vn = ng_tokenizer_vocab_size(fresh);
    /* the union of both vocabularies as one string; a char tokenizer of it sorts them */
    size_t acap = (size_t)(Vo + Vn) * 4 + 1, used = 0, n_new = 0, shown_len = 0;
    char *all = malloc(acap), shown[1024] = "";
    if (!all) { ng_tokenizer_free(fresh); ng_set_error("out of memory"); return -1; }
    for (int i = 0; i < Vo; i++) { const char *s = ng_tokenizer_token(old, i); memcpy(all + used, s, strlen(s)); used += strlen(s); }
    for (int i = 0; i < Vn; i++) {
        const char *s = ng_tokenizer_token(fresh, i);
        int found = 0;
        for (int k = 0; k < Vo && !found; k++) found = strcmp(s, ng_tokenizer_token(old, k)) == 0;
        if (found) continue;
        memcpy(all + used, s, strlen(s)); used += strlen(s);
        if (n_new < 40) {
            uint32_t cp = 0;
            ng_utf8_decode((const unsigned char *)s, strlen(s), &cp);
            if (cp >= 0x20 && cp != 0x7F) shown_len += snprintf(shown + shown_len, sizeof shown - shown_len, "%s'%s'", n_new ? " " : "", s);
            else shown_len += snprintf(shown + shown_len, sizeof shown - shown_len, "%sU+%04X", n_new ? " " : "", cp);
            if (shown_len >= sizeof shown) shown_len = sizeof shown - 1;
        }
        n_new++;
    }
    ng_tokenizer_free(fresh);
    if (listed && cap) snprintf(listed, cap, "%s%s", shown, n_new > 40 ? " ..." : "");
    int rc = (int)n_new;
    if (n_new == 0 || mode == 1) goto done;
    if (mode == 2) {
        ng_set_error("the new text has %zu characters the pre-trained vocabulary lacks: %s%s "
                     "(--unknown extend adds them, --unknown skip drops them)", n_new, shown, n_new > 40 ? " ..." : "");
        rc = -1;
        goto done;
    }
    ng_tokenizer *merged = ng_tokenizer_build(NG_TOK_CHAR, all, used, 0);
    if (!merged) { rc = -1; goto done; }
    ng_model *m = *mp;
    ng_model_config cfg = *ng_model_cfg(m);
    cfg.vocab_size = ng_tokenizer_vocab_size(merged);
    ng_model *nm = ng_model_new(&cfg);
    if (!nm) { ng_tokenizer_free(merged); rc = -1; goto done; }
    ng_model_init(nm, seed);   /* new rows keep their init draws */
    ng_params *Po = ng_model_params(m), *Pn = ng_model_params(nm);
    /* old id of each new id, or -1 */
    int *map = malloc(sizeof(int) * cfg.vocab_size);
    if (!map) { ng_model_free(nm); ng_tokenizer_free(merged); ng_set_error("out of memory"); rc = -1; goto done; }
    for (int i = 0; i < cfg.vocab_size; i++) {
        map[i] = -1;
        for (int k = 0; k < Vo; k++)
            if (strcmp(ng_tokenizer_token(merged, i), ng_tokenizer_token(old, k)) == 0) { map[i] = k; break; }
    }
    for (int p = 0; p < ng_params_count(Pn); p++) {
        ng_tensor *tn = ng_params_get(Pn, p), *to = ng_params_find(Po, tn->name);
        if (!strcmp(tn->name, "wte.weight")) {
            for (int i = 0; i < cfg.vocab_size; i++)
                if (map[i] >= 0) memcpy(tn->data + (size_t)i * tn->ne[1], to->data + (size_t)map[i] * to->ne[1], tn->ne[1] * sizeof(float));
        } else if (!strcmp(tn->name, "table.weight")) {
            for (int i = 0; i < cfg.vocab_size; i++)
                for (int k = 0; k < cfg.vocab_size; k++)
                    if (map[i] >= 0 && map[k] >= 0) tn->data[(size_t)i * cfg.vocab_size + k] = to->data[(size_t)map[i] * Vo + map[k]];
        } else {
            memcpy(tn->data, to->data, tn->n * sizeof(float));
        }
    }
    free(map);
    ng_model_free(m);
    ng_tokenizer_free(old);
    *mp = nm; *tp = merged;
done:
    free(all);
    return rc;
}

/* ---------------------------------------------------------------- the training state */

/* log_sum / log_n: the losses of the steps since the last "step" line of metrics.jsonl, so that a
 * resumed run logs the same averages as an uninterrupted one. */
static char *state_json(const ng_trainer *t, int step, double elapsed, double log_sum, int log_n) {
    const ng_train_settings *s = &t->s;
    const text_run *r = t->k;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "step", step);
    cJSON_AddNumberToObject(j, "steps", s->steps);
    cJSON_AddNumberToObject(j, "batch_size", s->batch_size);
    cJSON_AddNumberToObject(j, "lr", s->lr);
    cJSON_AddNumberToObject(j, "min_lr", s->min_lr);
    cJSON_AddNumberToObject(j, "warmup", s->warmup);
    cJSON_AddNumberToObject(j, "weight_decay", s->weight_decay);
    cJSON_AddNumberToObject(j, "grad_clip", s->grad_clip);
    cJSON_AddNumberToObject(j, "eval_every", s->eval_every);
    cJSON_AddNumberToObject(j, "eval_iters", s->eval_iters);
    cJSON_AddNumberToObject(j, "log_every", s->log_every);
    cJSON_AddNumberToObject(j, "grad_shards", r->S);
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRIu64, s->seed);
    cJSON_AddStringToObject(j, "seed", buf);
    cJSON_AddStringToObject(j, "data", s->data ? s->data : "");
    ng__state_add_rng(j, "rng", &t->rng);
    ng__state_add_gemm(j);
    if (r->last_train >= 0) cJSON_AddNumberToObject(j, "train_loss", r->last_train);
    if (r->last_val >= 0) cJSON_AddNumberToObject(j, "val_loss", r->last_val);
    cJSON_AddNumberToObject(j, "elapsed_s", elapsed);
    cJSON_AddItemToObject(j, "log_sum", ng_json_exact(log_sum));   /* exact: cJSON's own printing may drop the last bit */
    cJSON_AddNumberToObject(j, "log_n", log_n);
    char *out = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return out;
}

/* every setting in its range (the R_ ranges), through range (key, value, lo, hi) */
static int check_ranges(const ng_train_settings *s, int (*range)(const char *, double, double, double)) {
    return range("steps", s->steps, R_STEPS) || range("batch_size", s->batch_size, R_BATCH) || range("lr", s->lr, R_LR) ||
           range("min_lr", s->min_lr, R_LR) || range("warmup", s->warmup, R_WARMUP) ||
           range("weight_decay", s->weight_decay, R_WD) || range("grad_clip", s->grad_clip, R_CLIP) ||
           range("eval_every", s->eval_every, R_EVAL_EVERY) || range("eval_iters", s->eval_iters, R_EVAL_ITERS) ||
           range("log_every", s->log_every, R_LOG_EVERY) || range("grad_shards", s->grad_shards, R_SHARDS) ? NG_ERR : NG_OK;
}

/* a setting given to a new run */
static int setting_range(const char *key, double v, double lo, double hi) {
    if (v >= lo && v <= hi) return NG_OK;
    return ng_set_error("training setting %s = %.10g is outside [%.10g, %.10g]", key, v, lo, hi);
}

static double jnum(const cJSON *j, const char *k, double dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    /* at most 1e9 in size: the settings are ints and floats, and converting a double outside
     * their range (a crafted "steps": 1e300) is undefined behaviour */
    return cJSON_IsNumber(v) && isfinite(v->valuedouble) && fabs(v->valuedouble) <= 1e9 ? v->valuedouble : dflt;
}

/* The saved settings into s (over what it holds), and the position: step, RNG, elapsed seconds,
 * the open logging window. Every restored setting must lie in its flag's range. */
static int load_state(const char *json, ng_train_settings *s, int *step, ng_rng *rng, double *elapsed, double *log_sum, int *log_n) {
    cJSON *j = json ? cJSON_Parse(json) : NULL;
    if (!cJSON_IsObject(j)) { cJSON_Delete(j); return ng_set_error("the checkpoint has no training state to resume"); }
    double st = jnum(j, "step", -1);
    if (st < 0 || st > (1 << 30)) { cJSON_Delete(j); return ng_set_error("the checkpoint's training state has no valid step"); }
    *step = (int)st;
    s->steps = (int)jnum(j, "steps", s->steps);
    s->batch_size = (int)jnum(j, "batch_size", s->batch_size);
    s->lr = (float)jnum(j, "lr", s->lr);
    s->min_lr = (float)jnum(j, "min_lr", s->min_lr);
    s->warmup = (int)jnum(j, "warmup", s->warmup);
    s->weight_decay = (float)jnum(j, "weight_decay", s->weight_decay);
    s->grad_clip = (float)jnum(j, "grad_clip", s->grad_clip);
    s->eval_every = (int)jnum(j, "eval_every", s->eval_every);
    s->eval_iters = (int)jnum(j, "eval_iters", s->eval_iters);
    s->log_every = (int)jnum(j, "log_every", s->log_every);
    s->grad_shards = (int)jnum(j, "grad_shards", s->grad_shards);
    *elapsed = jnum(j, "elapsed_s", 0);
    *log_sum = jnum(j, "log_sum", 0);
    *log_n = (int)jnum(j, "log_n", 0);
    if (*log_n < 0 || *log_n > *step) *log_sum = 0, *log_n = 0;
    const cJSON *sd = cJSON_GetObjectItemCaseSensitive(j, "seed");
    if (cJSON_IsString(sd)) s->seed = strtoull(sd->valuestring, NULL, 10);
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "data");
    static char data_path[4096];
    if (cJSON_IsString(d) && d->valuestring[0]) {
        snprintf(data_path, sizeof data_path, "%s", d->valuestring);
        s->data = data_path;
    }
    const int ok = ng__state_get_rng(j, "rng", rng) == NG_OK;
    cJSON_Delete(j);
    if (!ok) return ng_set_error("the checkpoint's training state has no valid RNG state");
    /* what was restored must lie where the flags may (the R_ ranges) */
    return check_ranges(s, ng__state_range);
}

int ng__text_state(const char *json, ng_train_settings *s, int *step) {
    ng_rng rng;
    double elapsed, log_sum;
    int log_n;
    return load_state(json, s, step, &rng, &elapsed, &log_sum, &log_n);
}

/* ---------------------------------------------------------------- setting up a run */

/* memory: parameters x4 (weights, grads, two moments) + activations with their grads, refused
 * before anything of that size is allocated */
static int memory_check(const ng_model_config *c, int B) {
    const int T = c->block_size;
    const double acts = c->kind == NG_MODEL_GPT
        ? (double)B * T * ((double)c->n_layer * (22.0 * c->n_embd + (double)c->n_head * T) + 2.0 * c->vocab_size + 4.0 * c->n_embd)
        : (double)B * T * 2.0 * c->vocab_size;
    const double need = 4.0 * (4.0 * (double)ng_model_param_count(c) + 2.0 * acts);
    const uint64_t avail = ng_memory_available();
    if (avail && need > 0.9 * (double)avail)
        return ng_set_error("this configuration needs about %.1f GiB (%.0fM parameters, batch %d x block %d) but only %.1f GiB "
                            "of memory is available: lower --batch-size, --block-size, --n-embd or --n-layer",
                            need / 1073741824.0, ng_model_param_count(c) / 1e6, B, T, avail / 1073741824.0);
    return NG_OK;
}

int ng__text_create(const ng_model_config *cfg, const ng_train_settings *s, ng_model **mp, ng_tokenizer **tp) {
    if (check_ranges(s, setting_range)) return NG_ERR;
    if (!s->data) return ng_set_error("--data FILE is required (a UTF-8 text file)");
    size_t len = 0;
    char *text = ng_read_file(s->data, &len);
    if (!text) return NG_ERR;
    int rc = NG_ERR;
    if (len == 0) { ng_set_error("'%s' is empty: nothing to train on", s->data); goto done; }
    const long long bad = s->tokenizer == NG_TOK_BPE ? -1 : ng_utf8_validate(text, len);   /* bpe: any bytes */
    if (bad >= 0) {
        ng_set_error("'%s' is not valid UTF-8: bad byte 0x%02X at byte offset %lld (convert it first, e.g. iconv -f latin1 -t utf-8)",
                     s->data, (unsigned char)text[bad], bad);
        goto done;
    }
    ng_tokenizer *tok = ng_tokenizer_build(s->tokenizer, text, len, s->vocab_size);
    if (!tok) { ng_set_error("'%s': %s", s->data, ng_last_error()); goto done; }
    ng_model_config c = *cfg;
    c.vocab_size = ng_tokenizer_vocab_size(tok);
    if (c.kind == NG_MODEL_BIGRAM) c.n_layer = c.n_head = c.n_embd = 0;
    if (ng_model_config_check(&c) || memory_check(&c, s->batch_size) || !(*mp = ng_model_new(&c))) { ng_tokenizer_free(tok); goto done; }
    ng_model_init(*mp, s->seed);
    *tp = tok;
    rc = NG_OK;
done:
    free(text);
    return rc;
}

int ng__text_open(ng_trainer *t, const char *state, int force) {
    text_run *r = calloc(1, sizeof *r);
    if (!r) return ng_set_error("out of memory");
    t->k = r;
    r->last_train = r->last_val = -1;
    r->saved_step = -1;
    ng_train_settings *s = &t->s;
    /* the position of a resumed run (its settings are in s already, with the caller's on top) */
    ng_train_settings copy = *s;
    if (state && load_state(state, &copy, &r->step0, &t->rng, &r->elapsed0, &r->log_sum0, &r->log_n0)) return NG_ERR;
    if (check_ranges(s, setting_range)) return NG_ERR;
    r->saved_step = t->saved ? r->step0 : -1;   /* resumed in its own directory: that checkpoint is kept on a fault */
    const ng_model_config *c = ng_model_cfg(t->m);
    size_t n = 0, n_unknown = 0;
    r->ids = ng_text_encode_file(s->data, t->tok, 1, &n, &n_unknown);
    if (!r->ids) {   /* the messages of the training command: "is empty: nothing to train on" */
        if (strstr(ng_last_error(), "' is empty")) ng_set_error("'%s' is empty: nothing to train on", s->data);
        return NG_ERR;
    }
    if (n_unknown && ng_tokenizer_kind(t->tok) == NG_TOK_CHAR)
        ng__train_note(t, "%zu characters of '%s' are not in the vocabulary and were skipped", n_unknown, s->data);
    const int T = c->block_size, B = s->batch_size;
    r->n_train = (size_t)(0.9 * (double)n); r->n_val = n - r->n_train;
    if (r->n_train <= (size_t)T || r->n_val <= (size_t)T)
        return ng_set_error("'%s' is too small: %zu tokens give a train split of %zu and a val split of %zu, and each "
                            "needs more than --block-size %d (use a bigger file or a smaller --block-size)", s->data, n, r->n_train, r->n_val, T);
    if (r->n_train > UINT32_MAX) return ng_set_error("'%s' has too many tokens (%zu)", s->data, n);
    if (memory_check(c, B)) return NG_ERR;
    if (ng__train_shards(t, state != NULL, &r->S, &r->L)) return NG_ERR;
    r->Bs = B / r->S;
    /* never overwrite a checkpoint by accident; find out now, not after hours, that out works */
    if (ng__train_open_dir(t, NULL, force, "step", r->step0)) return NG_ERR;
    r->g = ng_graph_new();
    if (!r->g || ng_model_build(t->m, r->g, r->Bs, T, &r->lg)) return NG_ERR;
    if (r->S > 1) {
        const int64_t P = ng_params_total(ng_model_params(t->m));
        r->bx = malloc((size_t)B * T * sizeof(int32_t));
        r->by = malloc((size_t)B * T * sizeof(int32_t));
        r->gtmp = ng_dist_size() > 1 ? malloc((size_t)P * sizeof(float)) : NULL;
        r->tree.n = P;
        if (!r->bx || !r->by || (ng_dist_size() > 1 && !r->gtmp)) return ng_set_error("out of memory for the batch's shards");
    }
    ng_graph_set_detect_anomaly(r->g, s->detect_anomaly);
    r->acfg = (ng_adamw_cfg){s->lr, s->min_lr, 0.9f, 0.99f, 1e-8f, s->weight_decay, s->grad_clip, s->warmup, s->steps};
    if (!(t->opts[0] = ng_adamw_new(ng_model_params(t->m), &r->acfg))) return NG_ERR;
    if (state && r->step0 > 0) {
        ng_adamw *opt = t->opts[0];
        if (ng_checkpoint_load_optim(t->out, t->m, t->opts)) {
            ng__train_note(t, "warning: %s; the optimizer restarts from zero moments", ng_last_error());
            ng_adamw_set_t(opt, 0);
        } else if (ng_adamw_t(opt) != r->step0) {
            ng__train_note(t, "warning: optimizer state is from step %" PRId64 " but the model from step %d; "
                           "the optimizer restarts from zero moments", ng_adamw_t(opt), r->step0);
            memset(ng_adamw_m(opt), 0, ng_params_total(ng_model_params(t->m)) * sizeof(float));
            memset(ng_adamw_v(opt), 0, ng_params_total(ng_model_params(t->m)) * sizeof(float));
            ng_adamw_set_t(opt, 0);
        }
    }
    ng_train_info *in = &t->info;
    in->n_params = ng_params_numel(ng_model_params(t->m));
    in->n_train = (int64_t)r->n_train; in->n_val = (int64_t)r->n_val;
    in->batch_size = B; in->block_size = T;
    in->start = r->step0;
    return NG_OK;
}

void ng__text_free(ng_trainer *t) {
    text_run *r = t->k;
    if (!r) return;
    ng_graph_free(r->g);
    free(r->ids);
    free(r->bx); free(r->by); free(r->gtmp);
    ng__dist_tree_free(&r->tree);
    free(r);
    t->k = NULL;
}

/* ---------------------------------------------------------------- the loop */

/* *loss = mean loss of n random batches of a split, in eval mode, from an RNG of its own; NG_ERR
 * with the fault when an anomaly stops a pass or the mean (`what`) is not finite. */
static int estimate(text_run *r, const int32_t *ids, size_t n, int B, int T, int iters, uint64_t seed, const char *what, double *loss) {
    ng_rng rng;
    ng_rng_seed(&rng, seed);
    ng_graph_set_training(r->g, 0);
    double s = 0;
    int rc = NG_OK;
    if (r->S == 1) {
        for (int k = 0; k < iters && !rc; k++) {
            ng_text_batch(ids, n, B, T, &rng, r->lg.idx->idata, r->lg.targets->idata);
            rc = ng__train_forward(r->g);
            s += r->lg.loss->data[0];
        }
        ng_graph_set_training(r->g, 1);
        *loss = s / iters;
        return rc ? rc : ng__train_finite_loss(r->g, what, *loss);
    }
    /* shards: each rank its own of every batch, the losses gathered and summed in shard order */
    const int N = ng_dist_size(), L = r->L;
    float *mine = malloc((size_t)iters * L * sizeof(float)), *all = malloc((size_t)iters * L * N * sizeof(float));
    if (!mine || !all) { free(mine); free(all); return ng_set_error("out of memory for an evaluation"); }
    int err[1] = {0};
    for (int k = 0; k < iters; k++) {
        ng_text_batch(ids, n, B, T, &rng, r->bx, r->by);
        for (int j = 0; j < L; j++) {
            const size_t off = (size_t)(ng_dist_rank() * L + j) * r->Bs * T;
            memcpy(r->lg.idx->idata, r->bx + off, (size_t)r->Bs * T * sizeof(int32_t));
            memcpy(r->lg.targets->idata, r->by + off, (size_t)r->Bs * T * sizeof(int32_t));
            if (!err[0] && ng__train_forward(r->g)) err[0] = 1;
            mine[k * L + j] = r->lg.loss->data[0];
        }
    }
    ng_graph_set_training(r->g, 1);
    rc = ng__train_agree(err, 1);
    if (!rc && err[0]) { ng__train_shared_error(); rc = ng_set_error("%s: a rank stopped the evaluation", what); }
    if (!rc) rc = ng__dist_allgather_float(mine, iters * L, all);
    if (!rc) {
        for (int k = 0; k < iters; k++)
            for (int q = 0; q < N; q++)
                for (int j = 0; j < L; j++) s += all[(size_t)q * iters * L + k * L + j];
        *loss = s / ((double)iters * r->S);
        if (!isfinite(*loss)) { ng__train_shared_error(); rc = ng__train_finite_loss(r->g, what, *loss); }
    }
    free(mine); free(all);
    return rc;
}

/* One training step over shards: this rank's shards of the whole batch one after the other,
 * their gradients summed (fixed tree), then across the ranks, scaled by 1/S; *loss = the
 * batch's mean loss (the shards' means summed in shard order / S). */
static int sharded_step(ng_trainer *t, int step, float *loss) {
    text_run *r = t->k;
    const ng_train_settings *s = &t->s;
    const int B = s->batch_size, T = r->lg.idx->ne[1], L = r->L, rank = ng_dist_rank();
    ng_params *P = ng_model_params(t->m);
    float small[64], *m = L <= 64 ? small : malloc((size_t)L * sizeof(float));
    if (!m) return ng_set_error("out of memory for the shards' losses");
    ng_text_batch(r->ids, r->n_train, B, T, &t->rng, r->bx, r->by);
    ng_graph_set_dropout_seed(r->g, s->seed, (uint64_t)step);
    int failed = 0;
    for (int j = 0; j < L && !failed; j++) {
        const int shard = rank * L + j;
        const size_t off = (size_t)shard * r->Bs * T;
        memcpy(r->lg.idx->idata, r->bx + off, (size_t)r->Bs * T * sizeof(int32_t));
        memcpy(r->lg.targets->idata, r->by + off, (size_t)r->Bs * T * sizeof(int32_t));
        ng_graph_set_dropout_row0(r->g, (int64_t)shard * r->Bs);
        failed = ng__train_forward(r->g) || ng__train_finite_loss(r->g, "the loss", r->lg.loss->data[0]) ||
                 ng__train_backward(r->g, NULL) || ng__train_shard_done(P, &r->tree, L, j == L - 1);
        m[j] = r->lg.loss->data[0];
    }
    ng_graph_set_dropout_row0(r->g, 0);
    double sum = 0;
    const int rc = ng__train_shards_finish(P, r->gtmp, failed, 1.0f / (float)r->S, m, L, &sum, &r->wait_s, &r->comm_s);
    if (m != small) free(m);
    if (!rc) *loss = (float)(sum / r->S);
    return rc;
}

/* A numerical fault stops the run before anything is saved, so the weights on disk stay those of
 * the last good checkpoint. The error gains "step S of N: ...". */
static void numeric_fault(const ng_trainer *t, int step) {
    const text_run *r = t->k;
    char where[64], kept[4200];
    snprintf(where, sizeof where, "step %d of %d", step, t->s.steps);
    snprintf(kept, sizeof kept, "the checkpoint in %s (step %d)", t->out, r->saved_step);
    ng__train_fault(where, r->saved_step >= 0 ? kept : NULL);
}

static int save(ng_trainer *t, int step, double elapsed, double log_sum, int log_n) {
    char *sj = state_json(t, step, elapsed, log_sum, log_n);
    if (!sj) return ng_set_error("out of memory saving a checkpoint");
    const int rc = ng_dist_rank() > 0 ? NG_OK : ng_checkpoint_save(t->out, t->m, t->tok, sj, t->opts);   /* rank 0 writes */
    free(sj);
    if (!rc) {
        ((text_run *)t->k)->saved_step = step;
        ng_train_event e = {.kind = NG_TRAIN_SAVED, .step = step, .steps = t->s.steps};
        ng__train_emit(t, &e);
    }
    return rc;
}

int ng__text_run(ng_trainer *t) {
    text_run *r = t->k;
    const ng_train_settings *s = &t->s;
    const int T = r->lg.idx->ne[1], B = s->batch_size, step0 = r->step0;
    const int32_t *train_ids = r->ids, *val_ids = r->ids + r->n_train;
    double t_start = ng_seconds(), win_t = 0;
    int win_n = 0, step = step0;
    double loss_sum = r->log_sum0;
    int loss_n = r->log_n0;
    for (;; step++) {
        const int last = step == s->steps;
        if ((s->eval_every > 0 && step % s->eval_every == 0 && (step > step0 || step == 0)) || (last && step > step0)) {
            ng_profile_pause(1);
            /* never save weights that give NaN */
            const int bad = estimate(r, train_ids, r->n_train, B, T, s->eval_iters, s->seed ^ (0x5EED0000ull + step),
                                     "the evaluation's train loss", &r->last_train) ||
                            estimate(r, val_ids, r->n_val, B, T, s->eval_iters, s->seed ^ (0xE7A10000ull + step),
                                     "the evaluation's val loss", &r->last_val);
            ng_profile_pause(0);
            if (bad) { numeric_fault(t, step); return NG_ERR; }
            cJSON *j = cJSON_CreateObject();
            cJSON_AddNumberToObject(j, "step", step);
            cJSON_AddNumberToObject(j, "train_loss", r->last_train);
            cJSON_AddNumberToObject(j, "val_loss", r->last_val);
            ng_train_event e = {.kind = NG_TRAIN_EVAL, .step = step, .steps = s->steps};
            e.record = ng__train_record(t, j);
            ng__train_emit(t, &e);
            if (step > step0 && save(t, step, r->elapsed0 + ng_seconds() - t_start, loss_sum, loss_n)) return NG_ERR;
        }
        if (last || step > s->steps) break;
        const double t0 = ng_seconds();
        const float lr = ng_lr_schedule(&r->acfg, step);
        float loss = 0;
        if (r->S == 1) {
            ng_text_batch(train_ids, r->n_train, B, T, &t->rng, r->lg.idx->idata, r->lg.targets->idata);
            ng_graph_set_dropout_seed(r->g, s->seed, (uint64_t)step);
            if (ng__train_forward(r->g) || ng__train_finite_loss(r->g, "the loss", r->lg.loss->data[0]) || ng__train_backward(r->g, NULL) ||
                ng__train_adamw(t->opts[0], ng_model_params(t->m), lr, "")) {
                numeric_fault(t, step + 1);
                return NG_ERR;
            }
            loss = r->lg.loss->data[0];
        } else if (sharded_step(t, step, &loss)) {
            numeric_fault(t, step + 1);
            return NG_ERR;
        } else if (ng__train_adamw(t->opts[0], ng_model_params(t->m), lr, "")) {
            ng__train_shared_error();   /* the same summed gradients on every rank: all fail here */
            numeric_fault(t, step + 1);
            return NG_ERR;
        }
        const double dt = ng_seconds() - t0;
        win_t += dt; win_n++; loss_sum += loss; loss_n++;
        t->info.steps_run++;
        ng_train_event e = {.kind = NG_TRAIN_STEP, .step = step + 1, .steps = s->steps, .loss = loss, .lr = lr,
                            .seconds = dt, .items = (long)B * T};
        ng__train_emit(t, &e);
        if ((step + 1) % s->log_every == 0 || step + 1 == s->steps) {
            const double ms = 1e3 * win_t / win_n, tps = B * T / (win_t / win_n);
            cJSON *j = cJSON_CreateObject();
            cJSON_AddNumberToObject(j, "step", step + 1);
            cJSON_AddNumberToObject(j, "loss", loss_sum / loss_n);
            cJSON_AddNumberToObject(j, "lr", lr);
            cJSON_AddNumberToObject(j, "tok_per_s", tps);
            cJSON_AddNumberToObject(j, "ms_per_step", ms);
            if (ng_dist_size() > 1) {
                cJSON_AddNumberToObject(j, "allreduce_ms", 1e3 * r->comm_s / win_n);
                cJSON_AddNumberToObject(j, "wait_ms", 1e3 * r->wait_s / win_n);
            }
            r->comm_s = r->wait_s = 0;
            ng_train_event le = {.kind = NG_TRAIN_LOG, .step = step + 1, .steps = s->steps, .loss = loss_sum / loss_n, .lr = lr};
            le.record = ng__train_record(t, j);
            ng__train_emit(t, &le);
            win_t = 0; win_n = 0; loss_sum = 0; loss_n = 0;
        }
        int stop = t->stop && *t->stop;
        if (ng_dist_size() > 1) {   /* a rank asked to stop (its signal, or rank 0's): all stop after this step */
            if (ng__train_agree(&stop, 1)) return NG_ERR;
        }
        if (stop) {
            if (save(t, step + 1, r->elapsed0 + ng_seconds() - t_start, loss_sum, loss_n)) return NG_ERR;
            return NG_STOPPED;
        }
    }
    /* a run killed during its final evaluation finishes it on resume */
    const int final_missing = t->resumed && step == step0 && step0 == s->steps && step0 > 0 && !s->no_final_eval &&
                              !ng__metrics_has(t->mpath, "step", step0, "full_val_loss");
    if (step == step0 && t->resumed && !final_missing) {
        t->info.nothing_to_do = 1;
    } else if (step == 0) {   /* steps 0: save the initialised (or fine-tuning start) model */
        if (save(t, 0, 0, 0, 0)) return NG_ERR;
    } else if (!s->no_final_eval) {
        ng_profile_pause(1);
        if (full_loss_ranks(&r->lg, r->g, r->Bs, T, val_ids, r->n_val, &t->info.full_val_loss, &t->info.full_val_count)) return NG_ERR;
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "step", step);
        cJSON_AddNumberToObject(j, "full_val_loss", t->info.full_val_loss);
        ng__train_record(t, j);
    }
    return NG_OK;
}

/* train.c - `nanogen train gpt|bigram`: presets, flags, the training loop, evaluation,
 * metrics.jsonl, atomic checkpoints, --resume, --init-from, and a clean Ctrl-C. */
#include "cli.h"
#include "io/jsonnum.h"
#include "progress.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    const char *name;
    ng_model_kind kind;
    int T, B, L, H, C;
    float dropout, lr, min_lr;
    int warmup, steps, eval_every, eval_iters;
} preset;

/* SPEC.md's named configurations (eval settings as in nanoGPT / the lecture). */
static const preset PRESETS[] = {
    {"baby", NG_MODEL_GPT, 64, 12, 4, 4, 128, 0.0f, 1e-3f, 1e-4f, 100, 2000, 250, 20},
    {"shakespeare-char", NG_MODEL_GPT, 256, 64, 6, 6, 384, 0.2f, 1e-3f, 1e-4f, 100, 5000, 250, 200},
    {"bigram", NG_MODEL_BIGRAM, 8, 32, 0, 0, 0, 0.0f, 1e-2f, 1e-2f, 0, 3000, 300, 200},
};

typedef struct {
    ng_model_config mc;
    const char *data, *out, *resume, *init_from;
    ng_tok_kind tok_kind;
    int vocab_cap, B, steps, warmup, eval_every, eval_iters, log_every, threads, force, no_final_eval, detect_anomaly;
    float lr, min_lr, wd, clip;
    uint64_t seed;
    int unknown;          /* for --init-from: 0 extend, 1 skip, 2 error */
} train_opts;

/* Which flags the user gave, so that --resume keeps the saved value of the others. */
typedef struct { int T, B, L, H, C, dropout, lr, min_lr, warmup, steps, eval_every, eval_iters, seed, wd, clip, tok, vocab, log_every; } given_flags;


/* Ranges of the settings that a checkpoint's training state also holds: a flag and a restored
 * setting are checked against the same numbers (parse, load_state). */
#define R_STEPS 0, 1 << 30
#define R_BATCH 1, 1 << 20
#define R_LR 0, 10
#define R_WARMUP 0, 1 << 30
#define R_WD 0, 10
#define R_CLIP 0, 1e9
#define R_EVAL_EVERY 0, 1 << 30
#define R_EVAL_ITERS 1, 1 << 20
#define R_LOG_EVERY 1, 1 << 30

static void usage(void) {
    fprintf(stderr,
        "usage: nanogen train gpt|bigram --data FILE --out DIR [options]\n"
        "       nanogen train --resume DIR [--steps N] [--data FILE]\n"
        "       nanogen train gpt --init-from DIR --data FILE --out DIR2   (fine-tune)\n"
        "       nanogen train ae|dae|vae|gan --data fashion-mnist --out DIR   (images: see --help there)\n"
        "model:    --preset baby|shakespeare-char|bigram  --block-size T --n-layer L --n-head H\n"
        "          --n-embd C --dropout P --tokenizer char|word --vocab-size N\n"
        "training: --batch-size B --lr X --min-lr X --warmup N --steps N --weight-decay X\n"
        "          --grad-clip X --seed S --threads N\n"
        "logging:  --eval-every N --eval-iters N --log-every N\n"
        "          --no-final-eval (skip the loss on the whole val split at the end: benchmarks)\n"
        "debug:    --detect-anomaly (check every op's output and gradients for NaN/Inf; slower)\n"
        "other:    --force (overwrite a checkpoint in --out)  --unknown extend|skip|error\n");
}

static void apply_preset(train_opts *o, const preset *p) {
    o->mc.kind = p->kind;
    o->mc.block_size = p->T; o->B = p->B;
    o->mc.n_layer = p->L; o->mc.n_head = p->H; o->mc.n_embd = p->C;
    o->mc.dropout = p->dropout; o->lr = p->lr; o->min_lr = p->min_lr;
    o->warmup = p->warmup; o->steps = p->steps; o->eval_every = p->eval_every; o->eval_iters = p->eval_iters;
}

/* NG_OK, NG_ERR + error, or 1 after printing the usage for --help. */
static int parse(int argc, char **argv, train_opts *o, given_flags *gv) {
    memset(o, 0, sizeof *o);
    memset(gv, 0, sizeof *gv);
    const preset *pre = NULL;
    int i = 0, kind = -1;
    if (argc > 0 && argv[0][0] != '-') {
        if (strcmp(argv[0], "gpt") == 0) kind = NG_MODEL_GPT;
        else if (strcmp(argv[0], "bigram") == 0) kind = NG_MODEL_BIGRAM;
        else return ng_set_error("unknown model '%s' (text models: gpt, bigram)", argv[0]);
        i = 1;
    }
    /* first pass: the preset, so that explicit flags override it wherever they stand */
    for (int j = i; j < argc; j++)
        if (strcmp(argv[j], "--preset") == 0 && j + 1 < argc) {
            for (size_t k = 0; k < sizeof PRESETS / sizeof *PRESETS; k++)
                if (strcmp(argv[j + 1], PRESETS[k].name) == 0) pre = &PRESETS[k];
            if (!pre) return ng_set_error("--preset: unknown preset '%s' (baby, shakespeare-char, bigram)", argv[j + 1]);
        }
    if (!pre) pre = kind == NG_MODEL_BIGRAM ? &PRESETS[2] : &PRESETS[0];
    if (kind >= 0 && (int)pre->kind != kind)
        return ng_set_error("--preset %s is for a %s model, not %s", pre->name, ng_model_kind_name(pre->kind), argv[0]);
    apply_preset(o, pre);
    o->tok_kind = NG_TOK_CHAR; o->vocab_cap = 8192; o->log_every = 10; o->seed = 1337;
    o->wd = 0.1f; o->clip = 1.0f; o->threads = 0;
    for (; i < argc; i++) {
        const char *a = argv[i];
        int rc = NG_OK;
        if (!strcmp(a, "--preset")) i++;
        else if (!strcmp(a, "--data")) rc = arg_str(argc, argv, &i, &o->data);
        else if (!strcmp(a, "--out")) rc = arg_str(argc, argv, &i, &o->out);
        else if (!strcmp(a, "--resume")) rc = arg_str(argc, argv, &i, &o->resume);
        else if (!strcmp(a, "--init-from")) rc = arg_str(argc, argv, &i, &o->init_from);
        else if (!strcmp(a, "--block-size")) { rc = arg_int(argc, argv, &i, 1, 1 << 20, &o->mc.block_size); gv->T = 1; }
        else if (!strcmp(a, "--batch-size")) { rc = arg_int(argc, argv, &i, R_BATCH, &o->B); gv->B = 1; }
        else if (!strcmp(a, "--n-layer")) { rc = arg_int(argc, argv, &i, 1, 1024, &o->mc.n_layer); gv->L = 1; }
        else if (!strcmp(a, "--n-head")) { rc = arg_int(argc, argv, &i, 1, 1024, &o->mc.n_head); gv->H = 1; }
        else if (!strcmp(a, "--n-embd")) { rc = arg_int(argc, argv, &i, 1, 65536, &o->mc.n_embd); gv->C = 1; }
        else if (!strcmp(a, "--dropout")) { rc = arg_float(argc, argv, &i, 0, 0.99, &o->mc.dropout); gv->dropout = 1; }
        else if (!strcmp(a, "--lr")) { rc = arg_float(argc, argv, &i, R_LR, &o->lr); gv->lr = 1; }
        else if (!strcmp(a, "--min-lr")) { rc = arg_float(argc, argv, &i, R_LR, &o->min_lr); gv->min_lr = 1; }
        else if (!strcmp(a, "--warmup")) { rc = arg_int(argc, argv, &i, R_WARMUP, &o->warmup); gv->warmup = 1; }
        else if (!strcmp(a, "--steps")) { rc = arg_int(argc, argv, &i, R_STEPS, &o->steps); gv->steps = 1; }
        else if (!strcmp(a, "--eval-every")) { rc = arg_int(argc, argv, &i, R_EVAL_EVERY, &o->eval_every); gv->eval_every = 1; }
        else if (!strcmp(a, "--eval-iters")) { rc = arg_int(argc, argv, &i, R_EVAL_ITERS, &o->eval_iters); gv->eval_iters = 1; }
        else if (!strcmp(a, "--log-every")) { rc = arg_int(argc, argv, &i, R_LOG_EVERY, &o->log_every); gv->log_every = 1; }
        else if (!strcmp(a, "--weight-decay")) { rc = arg_float(argc, argv, &i, R_WD, &o->wd); gv->wd = 1; }
        else if (!strcmp(a, "--grad-clip")) { rc = arg_float(argc, argv, &i, R_CLIP, &o->clip); gv->clip = 1; }
        else if (!strcmp(a, "--seed")) { rc = arg_u64(argc, argv, &i, &o->seed); gv->seed = 1; }
        else if (!strcmp(a, "--threads")) rc = arg_int(argc, argv, &i, 0, 1024, &o->threads);
        else if (!strcmp(a, "--vocab-size")) { rc = arg_int(argc, argv, &i, 2, 1 << 22, &o->vocab_cap); gv->vocab = 1; }
        else if (!strcmp(a, "--force")) o->force = 1;
        else if (!strcmp(a, "--no-final-eval")) o->no_final_eval = 1;
        else if (!strcmp(a, "--detect-anomaly")) o->detect_anomaly = 1;
        else if (!strcmp(a, "--tokenizer")) {
            const char *v;
            rc = arg_str(argc, argv, &i, &v);
            if (!rc) {
                if (!strcmp(v, "char")) o->tok_kind = NG_TOK_CHAR;
                else if (!strcmp(v, "word")) o->tok_kind = NG_TOK_WORD;
                else rc = ng_set_error("--tokenizer: '%s' is not char or word", v);
            }
            gv->tok = 1;
        } else if (!strcmp(a, "--unknown")) {
            const char *v;
            rc = arg_str(argc, argv, &i, &v);
            if (!rc) {
                if (!strcmp(v, "extend")) o->unknown = 0;
                else if (!strcmp(v, "skip")) o->unknown = 1;
                else if (!strcmp(v, "error")) o->unknown = 2;
                else rc = ng_set_error("--unknown: '%s' is not extend, skip or error", v);
            }
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) { usage(); return 1; }
        else rc = ng_set_error("unknown flag '%s' for train (see nanogen train --help)", a);
        if (rc) return rc;
    }
    if (o->resume && o->init_from) return ng_set_error("--resume and --init-from exclude each other");
    if (!o->resume) {
        if (kind < 0 && !o->init_from) return ng_set_error("which model? nanogen train gpt|bigram ...");
        if (!o->data) return ng_set_error("--data FILE is required (a UTF-8 text file)");
        if (!o->out) return ng_set_error("--out DIR is required (where the checkpoint goes)");
    }
    if (o->min_lr > o->lr) return ng_set_error("--min-lr %g is larger than --lr %g", o->min_lr, o->lr);
    return NG_OK;
}

/* ---------------------------------------------------------------- training state JSON */

/* log_sum / log_n: the losses of the steps since the last "step" line of metrics.jsonl, so that a
 * resumed run logs the same averages as an uninterrupted one. */
static char *state_json(const train_opts *o, int step, const ng_rng *rng, double train_loss, double val_loss, double elapsed,
                        double log_sum, int log_n) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "step", step);
    cJSON_AddNumberToObject(j, "steps", o->steps);
    cJSON_AddNumberToObject(j, "batch_size", o->B);
    cJSON_AddNumberToObject(j, "lr", o->lr);
    cJSON_AddNumberToObject(j, "min_lr", o->min_lr);
    cJSON_AddNumberToObject(j, "warmup", o->warmup);
    cJSON_AddNumberToObject(j, "weight_decay", o->wd);
    cJSON_AddNumberToObject(j, "grad_clip", o->clip);
    cJSON_AddNumberToObject(j, "eval_every", o->eval_every);
    cJSON_AddNumberToObject(j, "eval_iters", o->eval_iters);
    cJSON_AddNumberToObject(j, "log_every", o->log_every);
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRIu64, o->seed);
    cJSON_AddStringToObject(j, "seed", buf);
    cJSON_AddStringToObject(j, "data", o->data ? o->data : "");
    cJSON *r = cJSON_AddArrayToObject(j, "rng");
    for (int i = 0; i < 4; i++) {
        snprintf(buf, sizeof buf, "%016" PRIx64, rng->s[i]);
        cJSON_AddItemToArray(r, cJSON_CreateString(buf));
    }
    if (train_loss >= 0) cJSON_AddNumberToObject(j, "train_loss", train_loss);
    if (val_loss >= 0) cJSON_AddNumberToObject(j, "val_loss", val_loss);
    cJSON_AddNumberToObject(j, "elapsed_s", elapsed);
    cJSON_AddItemToObject(j, "log_sum", ng_json_exact(log_sum));   /* exact: cJSON's own printing may drop the last bit */
    cJSON_AddNumberToObject(j, "log_n", log_n);
    char *s = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    return s;
}

static double jnum(const cJSON *j, const char *k, double dflt) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, k);
    /* at most 1e9 in size: the settings are ints and floats, and converting a double outside
     * their range (a crafted "steps": 1e300) is undefined behaviour */
    return cJSON_IsNumber(v) && isfinite(v->valuedouble) && fabs(v->valuedouble) <= 1e9 ? v->valuedouble : dflt;
}

/* Restore the saved training settings (flags given now take precedence) and the RNG. */
static int load_state(const char *json, train_opts *o, const given_flags *gv, int *step, ng_rng *rng, double *elapsed,
                      double *log_sum, int *log_n) {
    cJSON *j = json ? cJSON_Parse(json) : NULL;
    if (!cJSON_IsObject(j)) { cJSON_Delete(j); return ng_set_error("the checkpoint has no training state to resume"); }
    double s = jnum(j, "step", -1);
    if (s < 0 || s > (1 << 30)) { cJSON_Delete(j); return ng_set_error("the checkpoint's training state has no valid step"); }
    *step = (int)s;
    if (!gv->steps) o->steps = (int)jnum(j, "steps", o->steps);
    if (!gv->B) o->B = (int)jnum(j, "batch_size", o->B);
    if (!gv->lr) o->lr = (float)jnum(j, "lr", o->lr);
    if (!gv->min_lr) o->min_lr = (float)jnum(j, "min_lr", o->min_lr);
    if (!gv->warmup) o->warmup = (int)jnum(j, "warmup", o->warmup);
    if (!gv->wd) o->wd = (float)jnum(j, "weight_decay", o->wd);
    if (!gv->clip) o->clip = (float)jnum(j, "grad_clip", o->clip);
    if (!gv->eval_every) o->eval_every = (int)jnum(j, "eval_every", o->eval_every);
    if (!gv->eval_iters) o->eval_iters = (int)jnum(j, "eval_iters", o->eval_iters);
    if (!gv->log_every) o->log_every = (int)jnum(j, "log_every", o->log_every);
    *elapsed = jnum(j, "elapsed_s", 0);
    *log_sum = jnum(j, "log_sum", 0);
    *log_n = (int)jnum(j, "log_n", 0);
    if (*log_n < 0 || *log_n > *step) *log_sum = 0, *log_n = 0;
    const cJSON *sd = cJSON_GetObjectItemCaseSensitive(j, "seed");
    if (!gv->seed && cJSON_IsString(sd)) o->seed = strtoull(sd->valuestring, NULL, 10);
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(j, "data");
    static char data_path[4096];
    if (!o->data && cJSON_IsString(d) && d->valuestring[0]) {
        snprintf(data_path, sizeof data_path, "%s", d->valuestring);
        o->data = data_path;
    }
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "rng");
    int ok = cJSON_IsArray(r) && cJSON_GetArraySize(r) == 4;
    for (int i = 0; ok && i < 4; i++) {
        const cJSON *x = cJSON_GetArrayItem(r, i);
        ok = cJSON_IsString(x);
        if (ok) rng->s[i] = strtoull(x->valuestring, NULL, 16);
    }
    cJSON_Delete(j);
    if (!ok) return ng_set_error("the checkpoint's training state has no valid RNG state");
    /* what was restored must lie where the flags may (the R_ ranges) */
    if (cli_state_range("steps", o->steps, R_STEPS) || cli_state_range("batch_size", o->B, R_BATCH) ||
        cli_state_range("lr", o->lr, R_LR) || cli_state_range("min_lr", o->min_lr, R_LR) ||
        cli_state_range("warmup", o->warmup, R_WARMUP) || cli_state_range("weight_decay", o->wd, R_WD) ||
        cli_state_range("grad_clip", o->clip, R_CLIP) || cli_state_range("eval_every", o->eval_every, R_EVAL_EVERY) ||
        cli_state_range("eval_iters", o->eval_iters, R_EVAL_ITERS) || cli_state_range("log_every", o->log_every, R_LOG_EVERY))
        return NG_ERR;
    return NG_OK;
}

/* ---------------------------------------------------------------- fine-tuning vocabulary */

/* For --init-from with a char model: characters of the new text that the pre-trained
 * vocabulary lacks are added (new embedding rows drawn like at init), skipped, or refused. */
static int extend_vocab(ng_model **mp, ng_tokenizer **tp, const char *text, size_t len, int mode, uint64_t seed) {
    ng_tokenizer *old = *tp, *fresh = ng_tokenizer_build(NG_TOK_CHAR, text, len, 0);
    if (!fresh) return NG_ERR;
    int Vo = ng_tokenizer_vocab_size(old), Vn = ng_tokenizer_vocab_size(fresh);
    /* the union of both vocabularies as one string; a char tokenizer of it sorts them */
    size_t cap = (size_t)(Vo + Vn) * 4 + 1, used = 0, n_new = 0;
    char *all = malloc(cap), *listed = malloc(cap + 64);
    if (!all || !listed) { free(all); free(listed); ng_tokenizer_free(fresh); return ng_set_error("out of memory"); }
    listed[0] = 0;
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
            size_t l = strlen(listed);
            if (cp >= 0x20 && cp != 0x7F) snprintf(listed + l, cap + 64 - l, "%s'%s'", n_new ? " " : "", s);
            else snprintf(listed + l, cap + 64 - l, "%sU+%04X", n_new ? " " : "", cp);
        }
        n_new++;
    }
    ng_tokenizer_free(fresh);
    int rc = NG_OK;
    if (n_new == 0) goto done;
    if (mode == 2) {
        rc = ng_set_error("the new text has %zu characters the pre-trained vocabulary lacks: %s%s "
                          "(--unknown extend adds them, --unknown skip drops them)", n_new, listed, n_new > 40 ? " ..." : "");
        goto done;
    }
    if (mode == 1) {
        fprintf(stderr, "nanogen: skipping %zu characters the pre-trained vocabulary lacks: %s%s\n", n_new, listed, n_new > 40 ? " ..." : "");
        goto done;
    }
    ng_tokenizer *merged = ng_tokenizer_build(NG_TOK_CHAR, all, used, 0);
    if (!merged) { rc = NG_ERR; goto done; }
    ng_model *m = *mp;
    ng_model_config cfg = *ng_model_cfg(m);
    cfg.vocab_size = ng_tokenizer_vocab_size(merged);
    ng_model *nm = ng_model_new(&cfg);
    if (!nm) { ng_tokenizer_free(merged); rc = NG_ERR; goto done; }
    ng_model_init(nm, seed);   /* new rows keep their init draws */
    ng_params *Po = ng_model_params(m), *Pn = ng_model_params(nm);
    /* old id of each new id, or -1 */
    int *map = malloc(sizeof(int) * cfg.vocab_size);
    if (!map) { ng_model_free(nm); ng_tokenizer_free(merged); rc = ng_set_error("out of memory"); goto done; }
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
    printf("vocabulary extended from %d to %d tokens with %zu new characters: %s%s (their embeddings start random)\n",
           Vo, cfg.vocab_size, n_new, listed, n_new > 40 ? " ..." : "");
    ng_model_free(m);
    ng_tokenizer_free(old);
    *mp = nm; *tp = merged;
done:
    free(all); free(listed);
    return rc;
}

/* ---------------------------------------------------------------- the loop */

/* *loss = mean loss of n random batches of a split, in eval mode, from an RNG of its own; NG_ERR
 * with the fault when an anomaly stops a pass or the mean (`what`) is not finite. */
static int estimate(ng_graph *g, ng_lm_graph *lg, const int32_t *ids, size_t n, int B, int T, int iters, uint64_t seed,
                    const char *what, double *loss) {
    ng_rng r;
    ng_rng_seed(&r, seed);
    ng_graph_set_training(g, 0);
    double s = 0;
    int rc = NG_OK;
    for (int k = 0; k < iters && !rc; k++) {
        ng_text_batch(ids, n, B, T, &r, lg->idx->idata, lg->targets->idata);
        rc = cli_forward(g);
        s += lg->loss->data[0];
    }
    ng_graph_set_training(g, 1);
    *loss = s / iters;
    return rc ? rc : cli_finite_loss(g, what, *loss);
}

/* A numerical fault (the error names it: a NaN or Inf in the loss or a gradient, or any op's
 * output or gradient with --detect-anomaly) stops the run before anything is saved, so the
 * weights on disk stay those of the last good checkpoint. The error gains "step S of N: ...". */
static void numeric_fault(int step, int steps, const char *out, int saved_step) {
    char where[64], kept[4200];
    snprintf(where, sizeof where, "step %d of %d", step, steps);
    snprintf(kept, sizeof kept, "the checkpoint in %s (step %d)", out, saved_step);
    cli_fault_stop(where, saved_step >= 0 ? kept : NULL);
}

int cli_text_state_check(const char *json) {
    train_opts o;
    given_flags gv;
    char *argv[] = {"gpt", "--resume", "x", NULL};
    if (parse(3, argv, &o, &gv)) return NG_ERR;
    int step = 0, log_n = 0;
    ng_rng rng;
    double elapsed = 0, log_sum = 0;
    return load_state(json, &o, &gv, &step, &rng, &elapsed, &log_sum, &log_n);
}

int cmd_train(int argc, char **argv) {
    if (argc > 0 && cli_is_image_model(argv[0])) return cmd_train_images(argc, argv);
    for (int i = 0; i + 1 < argc; i++)
        if (!strcmp(argv[i], "--resume") && cli_is_image_checkpoint(argv[i + 1])) return cmd_train_images(argc, argv);
    train_opts o;
    given_flags gv;
    int prc = parse(argc, argv, &o, &gv);
    if (prc > 0) return 0;   /* --help */
    if (prc) { fprintf(stderr, "nanogen: %s\n", ng_last_error()); usage(); return 2; }
    if (cli_parse_only) return 0;   /* the fuzz harness: flags parsed and checked, nothing run */
    cli_set_threads(o.threads);

    ng_model *m = NULL;
    ng_tokenizer *tok = NULL;
    char *state = NULL, *text = NULL;
    int32_t *ids = NULL;
    ng_graph *g = NULL;
    ng_adamw *opt = NULL;
    FILE *metrics = NULL;
    int exit_code = 1, step0 = 0;
    char mpath[4096];   /* OUT/metrics.jsonl */
    double elapsed0 = 0, log_sum0 = 0;
    int log_n0 = 0;
    ng_rng rng;
    ng_rng_seed(&rng, o.seed);

    if (o.resume) {
        if (ng_checkpoint_load(o.resume, &m, &tok, &state)) goto fail;
        if (load_state(state, &o, &gv, &step0, &rng, &elapsed0, &log_sum0, &log_n0)) goto fail;
        if (gv.T || gv.L || gv.H || gv.C || gv.tok || gv.vocab)
            fprintf(stderr, "nanogen: note: --resume keeps the checkpoint's model shape and tokenizer; shape flags are ignored\n");
        if (gv.dropout) ((ng_model_config *)ng_model_cfg(m))->dropout = o.mc.dropout;
        if (!o.out) o.out = o.resume;
        if (!o.data) { ng_set_error("the checkpoint does not say which data it trained on: give --data FILE"); goto fail; }
        o.mc = *ng_model_cfg(m);
        printf("resuming %s from step %d of %d\n", o.resume, step0, o.steps);
    }
    size_t len = 0;
    text = ng_read_file(o.data, &len);
    if (!text) goto fail;
    if (len == 0) { ng_set_error("'%s' is empty: nothing to train on", o.data); goto fail; }
    long long bad = ng_utf8_validate(text, len);
    if (bad >= 0) {
        ng_set_error("'%s' is not valid UTF-8: bad byte 0x%02X at byte offset %lld (convert it first, e.g. iconv -f latin1 -t utf-8)",
                     o.data, (unsigned char)text[bad], bad);
        goto fail;
    }
    if (o.init_from) {
        if (ng_checkpoint_load(o.init_from, &m, &tok, NULL)) goto fail;
        if (gv.T || gv.L || gv.H || gv.C || gv.tok || gv.vocab)
            fprintf(stderr, "nanogen: note: --init-from keeps the pre-trained model's shape and tokenizer; shape flags are ignored\n");
        float dropout = gv.dropout ? o.mc.dropout : ng_model_cfg(m)->dropout;
        if (ng_tokenizer_kind(tok) == NG_TOK_CHAR) {
            if (extend_vocab(&m, &tok, text, len, o.unknown, o.seed)) goto fail;
        }
        ((ng_model_config *)ng_model_cfg(m))->dropout = dropout;
        o.mc = *ng_model_cfg(m);
        printf("fine-tuning %s (%s, %d tokens) on %s\n", o.init_from, ng_model_kind_name(o.mc.kind), o.mc.vocab_size, o.data);
    } else if (!o.resume) {
        tok = ng_tokenizer_build(o.tok_kind, text, len, o.vocab_cap);
        if (!tok) { ng_set_error("'%s': %s", o.data, ng_last_error()); goto fail; }
        o.mc.vocab_size = ng_tokenizer_vocab_size(tok);
        if (o.mc.kind == NG_MODEL_BIGRAM) o.mc.n_layer = o.mc.n_head = o.mc.n_embd = 0;
        if (ng_model_config_check(&o.mc)) goto fail;
    }
    size_t n = 0, n_unknown = 0;
    if (ng_tokenizer_encode(tok, text, len, 1, &ids, &n, &n_unknown)) goto fail;
    if (n_unknown && ng_tokenizer_kind(tok) == NG_TOK_CHAR)
        fprintf(stderr, "nanogen: %zu characters of '%s' are not in the vocabulary and were skipped\n", n_unknown, o.data);
    free(text); text = NULL;
    const int T = o.mc.block_size, B = o.B;
    size_t n_train = (size_t)(0.9 * (double)n), n_val = n - n_train;
    if (n_train <= (size_t)T || n_val <= (size_t)T) {
        ng_set_error("'%s' is too small: %zu tokens give a train split of %zu and a val split of %zu, and each "
                     "needs more than --block-size %d (use a bigger file or a smaller --block-size)", o.data, n, n_train, n_val, T);
        goto fail;
    }
    if (n_train > UINT32_MAX) { ng_set_error("'%s' has too many tokens (%zu)", o.data, n); goto fail; }

    /* memory: parameters x4 (weights, grads, two moments) + activations with their grads */
    {
        const ng_model_config *c = &o.mc;
        double acts = c->kind == NG_MODEL_GPT
            ? (double)B * T * ((double)c->n_layer * (22.0 * c->n_embd + (double)c->n_head * T) + 2.0 * c->vocab_size + 4.0 * c->n_embd)
            : (double)B * T * 2.0 * c->vocab_size;
        double need = 4.0 * (4.0 * (double)ng_model_param_count(c) + 2.0 * acts);
        uint64_t avail = ng_memory_available();
        if (avail && need > 0.9 * (double)avail) {
            ng_set_error("this configuration needs about %.1f GiB (%.0fM parameters, batch %d x block %d) but only %.1f GiB "
                         "of memory is available: lower --batch-size, --block-size, --n-embd or --n-layer",
                         need / 1073741824.0, ng_model_param_count(c) / 1e6, B, T, avail / 1073741824.0);
            goto fail;
        }
    }
    if (!m) {
        m = ng_model_new(&o.mc);
        if (!m) goto fail;
        ng_model_init(m, o.seed);
    }
    /* never overwrite a checkpoint by accident; find out now, not after hours, that --out works */
    if (cli_prepare_out(o.out, NULL, o.resume != NULL, o.force)) goto fail;
    g = ng_graph_new();
    ng_lm_graph lg;
    if (!g || ng_model_build(m, g, B, T, &lg)) goto fail;
    ng_graph_set_detect_anomaly(g, o.detect_anomaly);
    /* the checkpoint in o.out that a numerical fault keeps (step), -1: none yet */
    int saved_step = o.resume && !strcmp(o.resume, o.out) ? step0 : -1;
    ng_adamw_cfg acfg = {o.lr, o.min_lr, 0.9f, 0.99f, 1e-8f, o.wd, o.clip, o.warmup, o.steps};
    opt = ng_adamw_new(ng_model_params(m), &acfg);
    if (!opt) goto fail;
    if (o.resume && step0 > 0) {
        if (ng_checkpoint_load_optim(o.resume, m, &opt)) {
            fprintf(stderr, "nanogen: warning: %s; the optimizer restarts from zero moments\n", ng_last_error());
            ng_adamw_set_t(opt, 0);
        } else if (ng_adamw_t(opt) != step0) {
            fprintf(stderr, "nanogen: warning: optimizer state is from step %" PRId64 " but the model from step %d; "
                    "the optimizer restarts from zero moments\n", ng_adamw_t(opt), step0);
            memset(ng_adamw_m(opt), 0, ng_params_total(ng_model_params(m)) * sizeof(float));
            memset(ng_adamw_v(opt), 0, ng_params_total(ng_model_params(m)) * sizeof(float));
            ng_adamw_set_t(opt, 0);
        }
    }
    if (snprintf(mpath, sizeof mpath, "%s/metrics.jsonl", o.out) >= (int)sizeof mpath) {
        ng_set_error("--out '%s' is too long a path", o.out);
        goto fail;
    }
    if (o.resume && cli_metrics_trim(mpath, "step", step0)) goto fail;
    metrics = fopen(mpath, o.resume ? "a" : "w");
    if (!metrics) { ng_set_error("cannot write %s: %s", mpath, strerror(errno)); goto fail; }
    printf("%s: %" PRId64 " parameters, vocab %d (%s), %zu train / %zu val tokens, batch %d x block %d, %d thread%s\n",
           ng_model_kind_name(o.mc.kind), ng_params_numel(ng_model_params(m)), o.mc.vocab_size,
           ng_tokenizer_kind(tok) == NG_TOK_CHAR ? "char" : "word", n_train, n_val, B, T, ng_get_threads(), ng_get_threads() == 1 ? "" : "s");
    fflush(stdout);

    cli_catch_stop_signals();

    const int tty = isatty(STDERR_FILENO);
    const int32_t *train_ids = ids, *val_ids = ids + n_train;
    double t_start = cli_now(), win_t = 0, last_train = -1, last_val = -1;
    int win_n = 0, step = step0;
    ng_pace pace = {0};   /* the progress line's smoothed step time (its ETA) */
    double loss_sum = log_sum0;
    int loss_n = log_n0;
    const long stop_at = cli_test_stop_at();
    for (;; step++) {
        int last = step == o.steps;
        if ((o.eval_every > 0 && step % o.eval_every == 0 && (step > step0 || step == 0)) || (last && step > step0)) {
            ng_profile_pause(1);
            /* never save weights that give NaN */
            int bad = estimate(g, &lg, train_ids, n_train, B, T, o.eval_iters, o.seed ^ (0x5EED0000ull + step),
                               "the evaluation's train loss", &last_train) ||
                      estimate(g, &lg, val_ids, n_val, B, T, o.eval_iters, o.seed ^ (0xE7A10000ull + step),
                               "the evaluation's val loss", &last_val);
            ng_profile_pause(0);
            if (bad) { numeric_fault(step, o.steps, o.out, saved_step); goto fail; }
            if (tty) fprintf(stderr, "\r\033[K");
            printf("step %d: train loss %.4f, val loss %.4f\n", step, last_train, last_val);
            fflush(stdout);
            cJSON *j = cJSON_CreateObject();
            cJSON_AddNumberToObject(j, "step", step);
            cJSON_AddNumberToObject(j, "train_loss", last_train);
            cJSON_AddNumberToObject(j, "val_loss", last_val);
            cli_metrics_line(metrics, j, 0);
            if (step > step0) {
                char *sj = state_json(&o, step, &rng, last_train, last_val, elapsed0 + cli_now() - t_start, loss_sum, loss_n);
                int rc = ng_checkpoint_save(o.out, m, tok, sj, &opt);
                free(sj);
                if (rc) goto fail;
                saved_step = step;
            }
        }
        if (last || step > o.steps) break;
        double t0 = cli_now();
        float lr = ng_lr_schedule(&acfg, step);
        ng_text_batch(train_ids, n_train, B, T, &rng, lg.idx->idata, lg.targets->idata);
        ng_graph_set_dropout_seed(g, o.seed, (uint64_t)step);
        if (cli_forward(g) || cli_finite_loss(g, "the loss", lg.loss->data[0]) || cli_backward(g, NULL) ||
            cli_adamw_step(opt, ng_model_params(m), lr, "")) {
            numeric_fault(step + 1, o.steps, o.out, saved_step);
            goto fail;
        }
        const float loss = lg.loss->data[0];
        double dt = cli_now() - t0;
        win_t += dt; win_n++; loss_sum += loss; loss_n++;
        ng_pace_add(&pace, dt);
        if (tty) {
            char eta[32];
            ng_pace_eta(&pace, o.steps - step - 1, eta, sizeof eta);
            fprintf(stderr, "\r\033[Kstep %d/%d | loss %.4f | lr %.2e | %.0f tok/s | %.1f ms/step | ETA %s",
                    step + 1, o.steps, loss, lr, pace.avg > 0 ? B * T / pace.avg : 0.0, 1e3 * pace.avg, eta);
        }
        if ((step + 1) % o.log_every == 0 || step + 1 == o.steps) {
            double ms = 1e3 * win_t / win_n, tps = B * T / (win_t / win_n);
            if (!tty) {
                printf("step %d/%d: loss %.4f, lr %.2e, %.0f tok/s, %.1f ms/step\n", step + 1, o.steps, loss_sum / loss_n, lr, tps, ms);
                fflush(stdout);
            }
            cJSON *j = cJSON_CreateObject();
            cJSON_AddNumberToObject(j, "step", step + 1);
            cJSON_AddNumberToObject(j, "loss", loss_sum / loss_n);
            cJSON_AddNumberToObject(j, "lr", lr);
            cJSON_AddNumberToObject(j, "tok_per_s", tps);
            cJSON_AddNumberToObject(j, "ms_per_step", ms);
            cli_metrics_line(metrics, j, 0);
            win_t = 0; win_n = 0; loss_sum = 0; loss_n = 0;
        }
        if (stop_at > 0 && step + 1 - step0 == stop_at) cli_stop = SIGINT;   /* test hook: a Ctrl-C at a known step */
        if (cli_stop) {
            if (tty) fprintf(stderr, "\r\033[K");
            char *sj = state_json(&o, step + 1, &rng, last_train, last_val, elapsed0 + cli_now() - t_start, loss_sum, loss_n);
            int rc = ng_checkpoint_save(o.out, m, tok, sj, &opt);
            free(sj);
            if (rc) goto fail;
            printf("interrupted at step %d: checkpoint saved in %s (continue with: nanogen train --resume %s)\n", step + 1, o.out, o.out);
            exit_code = cli_stop_code();
            goto out;
        }
    }
    if (tty) fprintf(stderr, "\r\033[K");
    /* a run killed during its final evaluation finishes it on --resume */
    const int final_missing = o.resume && step == step0 && step0 == o.steps && step0 > 0 && !o.no_final_eval &&
                              !cli_metrics_has(mpath, "step", step0, "full_val_loss");
    if (step == step0 && o.resume && !final_missing) {
        printf("nothing to do: the checkpoint is already at step %d of %d (raise --steps to train more)\n", step0, o.steps);
    } else if (step == 0) {   /* --steps 0: save the initialised (or fine-tuning start) model */
        char *sj = state_json(&o, 0, &rng, last_train, last_val, 0, 0, 0);
        int rc = ng_checkpoint_save(o.out, m, tok, sj, &opt);
        free(sj);
        if (rc) goto fail;
        printf("--steps 0: saved the untrained model in %s/model.safetensors\n", o.out);
    } else if (o.no_final_eval) {
        printf("trained in %.1f s (--no-final-eval)\ncheckpoint: %s/model.safetensors\n", cli_now() - t_start, o.out);
    } else {
        size_t cnt = 0;
        ng_profile_pause(1);
        double full_val = cli_full_loss(&lg, g, B, T, val_ids, n_val, &cnt);
        printf("final: val loss %.4f on the full val split (%zu tokens), %.2f bits per token; trained in %.1f s\n",
               full_val, cnt, full_val / log(2.0), cli_now() - t_start);
        cJSON *j = cJSON_CreateObject();
        cJSON_AddNumberToObject(j, "step", step);
        cJSON_AddNumberToObject(j, "full_val_loss", full_val);
        cli_metrics_line(metrics, j, 0);
        printf("checkpoint: %s/model.safetensors\n", o.out);
    }
    exit_code = 0;
    goto out;
fail:
    if (isatty(STDERR_FILENO)) fprintf(stderr, "\r\033[K");
    fprintf(stderr, "nanogen: %s\n", ng_last_error());
    exit_code = 1;
out:
    if (metrics) fclose(metrics);
    ng_adamw_free(opt);
    ng_graph_free(g);
    free(ids); free(text); free(state);
    ng_tokenizer_free(tok);
    ng_model_free(m);
    return exit_code;
}

/* train.c - `nanogen train gpt|bigram`: the flags of a text model's training run, and what it
 * prints; the run itself is the library's trainer (src/train/: ng_trainer_create, ng_trainer_new
 * for --init-from, ng_trainer_resume, ng_trainer_run). Image kinds: train_images.c. */
#include "cli.h"
#include "core/progress.h"

#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    ng_model_config mc;
    ng_train_settings s;
    const char *out, *resume, *init_from;
    int threads, force;
    int unknown;          /* for --init-from: 0 extend, 1 skip, 2 error */
} train_opts;

/* Which shape flags the user gave (--resume and --init-from keep the checkpoint's shape). */
typedef struct { int T, L, H, C, tok, vocab; } given_flags;

/* The flags' ranges (the trainer checks a restored setting against the same numbers). */
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

/* NG_OK, NG_ERR + error, or 1 after printing the usage for --help. */
static int parse(int argc, char **argv, train_opts *o, given_flags *gv) {
    memset(o, 0, sizeof *o);
    memset(gv, 0, sizeof *gv);
    int i = 0, kind = -1;
    if (argc > 0 && argv[0][0] != '-') {
        if (strcmp(argv[0], "gpt") == 0) kind = NG_MODEL_GPT;
        else if (strcmp(argv[0], "bigram") == 0) kind = NG_MODEL_BIGRAM;
        else return ng_set_error("unknown model '%s' (text models: gpt, bigram)", argv[0]);
        i = 1;
    }
    ng_train_settings *s = &o->s;
    ng_train_defaults(kind == NG_MODEL_BIGRAM ? NG_MODEL_BIGRAM : NG_MODEL_GPT, s);
    /* first pass: the preset, so that explicit flags override it wherever they stand */
    const char *pre = ng_train_default_preset(kind == NG_MODEL_BIGRAM ? NG_MODEL_BIGRAM : NG_MODEL_GPT);
    for (int j = i; j < argc; j++)
        if (strcmp(argv[j], "--preset") == 0 && j + 1 < argc) pre = argv[j + 1];
    if (ng_train_preset(pre, &o->mc, s)) return NG_ERR;
    if (kind >= 0 && (int)o->mc.kind != kind)
        return ng_set_error("--preset %s is for a %s model, not %s", pre, ng_model_kind_name(o->mc.kind), argv[0]);
    for (; i < argc; i++) {
        const char *a = argv[i];
        int rc = NG_OK;
        if (!strcmp(a, "--preset")) i++;
        else if (!strcmp(a, "--data")) rc = arg_str(argc, argv, &i, &s->data);
        else if (!strcmp(a, "--out")) rc = arg_str(argc, argv, &i, &o->out);
        else if (!strcmp(a, "--resume")) rc = arg_str(argc, argv, &i, &o->resume);
        else if (!strcmp(a, "--init-from")) rc = arg_str(argc, argv, &i, &o->init_from);
        else if (!strcmp(a, "--block-size")) { rc = arg_int(argc, argv, &i, 1, 1 << 20, &o->mc.block_size); gv->T = 1; }
        else if (!strcmp(a, "--batch-size")) { rc = arg_int(argc, argv, &i, R_BATCH, &s->batch_size); s->given |= NG_SET_BATCH; }
        else if (!strcmp(a, "--n-layer")) { rc = arg_int(argc, argv, &i, 1, 1024, &o->mc.n_layer); gv->L = 1; }
        else if (!strcmp(a, "--n-head")) { rc = arg_int(argc, argv, &i, 1, 1024, &o->mc.n_head); gv->H = 1; }
        else if (!strcmp(a, "--n-embd")) { rc = arg_int(argc, argv, &i, 1, 65536, &o->mc.n_embd); gv->C = 1; }
        else if (!strcmp(a, "--dropout")) { rc = arg_float(argc, argv, &i, 0, 0.99, &o->mc.dropout); s->dropout = o->mc.dropout; s->given |= NG_SET_DROPOUT; }
        else if (!strcmp(a, "--lr")) { rc = arg_float(argc, argv, &i, R_LR, &s->lr); s->given |= NG_SET_LR; }
        else if (!strcmp(a, "--min-lr")) { rc = arg_float(argc, argv, &i, R_LR, &s->min_lr); s->given |= NG_SET_MIN_LR; }
        else if (!strcmp(a, "--warmup")) { rc = arg_int(argc, argv, &i, R_WARMUP, &s->warmup); s->given |= NG_SET_WARMUP; }
        else if (!strcmp(a, "--steps")) { rc = arg_int(argc, argv, &i, R_STEPS, &s->steps); s->given |= NG_SET_STEPS; }
        else if (!strcmp(a, "--eval-every")) { rc = arg_int(argc, argv, &i, R_EVAL_EVERY, &s->eval_every); s->given |= NG_SET_EVAL_EVERY; }
        else if (!strcmp(a, "--eval-iters")) { rc = arg_int(argc, argv, &i, R_EVAL_ITERS, &s->eval_iters); s->given |= NG_SET_EVAL_ITERS; }
        else if (!strcmp(a, "--log-every")) { rc = arg_int(argc, argv, &i, R_LOG_EVERY, &s->log_every); s->given |= NG_SET_LOG_EVERY; }
        else if (!strcmp(a, "--weight-decay")) { rc = arg_float(argc, argv, &i, R_WD, &s->weight_decay); s->given |= NG_SET_WEIGHT_DECAY; }
        else if (!strcmp(a, "--grad-clip")) { rc = arg_float(argc, argv, &i, R_CLIP, &s->grad_clip); s->given |= NG_SET_GRAD_CLIP; }
        else if (!strcmp(a, "--seed")) { rc = arg_u64(argc, argv, &i, &s->seed); s->given |= NG_SET_SEED; }
        else if (!strcmp(a, "--threads")) rc = arg_int(argc, argv, &i, 0, 1024, &o->threads);
        else if (!strcmp(a, "--vocab-size")) { rc = arg_int(argc, argv, &i, 2, 1 << 22, &s->vocab_size); gv->vocab = 1; }
        else if (!strcmp(a, "--force")) o->force = 1;
        else if (!strcmp(a, "--no-final-eval")) s->no_final_eval = 1;
        else if (!strcmp(a, "--detect-anomaly")) s->detect_anomaly = 1;
        else if (!strcmp(a, "--tokenizer")) {
            const char *v;
            rc = arg_str(argc, argv, &i, &v);
            if (!rc) {
                if (!strcmp(v, "char")) s->tokenizer = NG_TOK_CHAR;
                else if (!strcmp(v, "word")) s->tokenizer = NG_TOK_WORD;
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
        if (!s->data) return ng_set_error("--data FILE is required (a UTF-8 text file)");
        if (!o->out) return ng_set_error("--out DIR is required (where the checkpoint goes)");
    }
    if (s->min_lr > s->lr) return ng_set_error("--min-lr %g is larger than --lr %g", s->min_lr, s->lr);
    return NG_OK;
}

/* ---------------------------------------------------------------- what a run prints */

typedef struct {
    int tty;
    long stop_at, run;        /* NANOGEN_TEST_STOP_AT: a Ctrl-C after that many steps of this run */
    long last_step;
    ng_pace pace;             /* the progress line's smoothed step time (its ETA) */
} view;

static void on_event(const ng_train_event *e, void *ctx) {
    view *v = ctx;
    switch (e->kind) {
    case NG_TRAIN_STEP: {
        v->last_step = e->step;
        ng_pace_add(&v->pace, e->seconds);
        if (v->tty) {
            char eta[32];
            ng_pace_eta(&v->pace, e->steps - e->step, eta, sizeof eta);
            fprintf(stderr, "\r\033[Kstep %ld/%ld | loss %.4f | lr %.2e | %.0f tok/s | %.1f ms/step | ETA %s", e->step, e->steps, e->loss,
                    e->lr, v->pace.avg > 0 ? e->items / v->pace.avg : 0.0, 1e3 * v->pace.avg, eta);
        }
        if (v->stop_at > 0 && ++v->run == v->stop_at) cli_stop = SIGINT;   /* test hook: a Ctrl-C at a known step */
        break;
    }
    case NG_TRAIN_LOG:
        if (!v->tty) {
            cJSON *j = cJSON_Parse(e->record);
            const cJSON *tps = cJSON_GetObjectItem(j, "tok_per_s"), *ms = cJSON_GetObjectItem(j, "ms_per_step");
            printf("step %ld/%ld: loss %.4f, lr %.2e, %.0f tok/s, %.1f ms/step\n", e->step, e->steps, e->loss, e->lr,
                   cJSON_IsNumber(tps) ? tps->valuedouble : 0.0, cJSON_IsNumber(ms) ? ms->valuedouble : 0.0);
            fflush(stdout);
            cJSON_Delete(j);
        }
        break;
    case NG_TRAIN_EVAL: {
        cJSON *j = cJSON_Parse(e->record);
        const cJSON *tl = cJSON_GetObjectItem(j, "train_loss"), *vl = cJSON_GetObjectItem(j, "val_loss");
        if (v->tty) fprintf(stderr, "\r\033[K");
        printf("step %ld: train loss %.4f, val loss %.4f\n", e->step, cJSON_IsNumber(tl) ? tl->valuedouble : NAN,
               cJSON_IsNumber(vl) ? vl->valuedouble : NAN);
        fflush(stdout);
        cJSON_Delete(j);
        break;
    }
    case NG_TRAIN_NOTE:
        if (v->tty) fprintf(stderr, "\r\033[K");
        fprintf(stderr, "nanogen: %s\n", e->message);
        break;
    default:
        break;
    }
}

/* --init-from: the pre-trained model and tokenizer, a char vocabulary extended with the new
 * text's characters (or those dropped, or refused) */
static int fine_tune_start(const train_opts *o, const given_flags *gv, ng_model **m, ng_tokenizer **tok) {
    if (ng_checkpoint_load(o->init_from, m, tok, NULL)) return NG_ERR;
    if (!*tok) return ng_set_error("--init-from '%s' is an image model: fine-tuning here is for text models (gpt, bigram)", o->init_from);
    if (gv->T || gv->L || gv->H || gv->C || gv->tok || gv->vocab)
        fprintf(stderr, "nanogen: note: --init-from keeps the pre-trained model's shape and tokenizer; shape flags are ignored\n");
    const float dropout = o->s.given & NG_SET_DROPOUT ? o->mc.dropout : ng_model_cfg(*m)->dropout;
    if (ng_tokenizer_kind(*tok) == NG_TOK_CHAR) {
        size_t len = 0;
        char *text = ng_read_file(o->s.data, &len);
        if (!text) return NG_ERR;
        long long bad = len ? ng_utf8_validate(text, len) : -1;
        if (!len) { free(text); return ng_set_error("'%s' is empty: nothing to train on", o->s.data); }
        if (bad >= 0) {
            ng_set_error("'%s' is not valid UTF-8: bad byte 0x%02X at byte offset %lld (convert it first, e.g. iconv -f latin1 -t utf-8)",
                         o->s.data, (unsigned char)text[bad], bad);
            free(text);
            return NG_ERR;
        }
        const int Vo = ng_tokenizer_vocab_size(*tok);
        char listed[1200];
        const int n_new = ng_vocab_extend(m, tok, text, len, o->unknown, o->s.seed, listed, sizeof listed);
        free(text);
        if (n_new < 0) return NG_ERR;
        if (n_new && o->unknown == 1) fprintf(stderr, "nanogen: skipping %d characters the pre-trained vocabulary lacks: %s\n", n_new, listed);
        else if (n_new)
            printf("vocabulary extended from %d to %d tokens with %d new characters: %s (their embeddings start random)\n", Vo,
                   ng_tokenizer_vocab_size(*tok), n_new, listed);
    }
    ((ng_model_config *)ng_model_cfg(*m))->dropout = dropout;
    printf("fine-tuning %s (%s, %d tokens) on %s\n", o->init_from, ng_model_kind_name(ng_model_cfg(*m)->kind),
           ng_model_cfg(*m)->vocab_size, o->s.data);
    return NG_OK;
}

int cmd_train(int argc, char **argv) {
    ng_model_kind kind;
    if (argc > 0 && !ng_model_kind_parse(argv[0], &kind) && !ng_model_kind_is_text(kind)) return cmd_train_images(argc, argv);
    for (int i = 0; i + 1 < argc; i++)   /* --resume DIR: the kind of the checkpoint there */
        if (!strcmp(argv[i], "--resume") && !ng_checkpoint_kind(argv[i + 1], &kind) && !ng_model_kind_is_text(kind))
            return cmd_train_images(argc, argv);
    train_opts o;
    given_flags gv;
    int prc = parse(argc, argv, &o, &gv);
    if (prc > 0) return 0;   /* --help */
    if (prc) { fprintf(stderr, "nanogen: %s\n", ng_last_error()); usage(); return 2; }
    if (cli_parse_only) return 0;   /* the fuzz harness: flags parsed and checked, nothing run */
    cli_set_threads(o.threads);

    ng_trainer *t = NULL;
    ng_model *m = NULL;          /* --init-from: the pre-trained model (ours) */
    ng_tokenizer *tok = NULL;
    int code = 1;
    if (o.resume) {
        if (!(t = ng_trainer_resume(o.resume, &o.s, o.out))) goto fail;
        if (gv.T || gv.L || gv.H || gv.C || gv.tok || gv.vocab)
            fprintf(stderr, "nanogen: note: --resume keeps the checkpoint's model shape and tokenizer; shape flags are ignored\n");
    } else if (o.init_from) {
        if (fine_tune_start(&o, &gv, &m, &tok) || !(t = ng_trainer_new(m, tok, &o.s, o.out, o.force))) goto fail;
    } else {
        o.mc.dropout = o.s.dropout;
        if (!(t = ng_trainer_create(&o.mc, &o.s, o.out, o.force))) goto fail;
    }
    const ng_train_settings *s = ng_trainer_settings(t);
    const ng_model_config *c = ng_model_cfg(ng_trainer_model(t));
    const char *out = o.out ? o.out : o.resume;
    ng_train_info in;
    ng_trainer_info(t, &in);
    if (o.resume) printf("resuming %s from step %d of %d\n", o.resume, in.start, s->steps);
    printf("%s: %" PRId64 " parameters, vocab %d (%s), %" PRId64 " train / %" PRId64 " val tokens, batch %d x block %d, %d thread%s\n",
           ng_model_kind_name(c->kind), in.n_params, c->vocab_size,
           ng_tokenizer_kind(ng_trainer_tokenizer(t)) == NG_TOK_CHAR ? "char" : "word", in.n_train, in.n_val, in.batch_size, in.block_size,
           ng_get_threads(), ng_get_threads() == 1 ? "" : "s");
    fflush(stdout);

    view v = {.tty = isatty(STDERR_FILENO), .stop_at = cli_test_stop_at()};
    ng_trainer_set_callback(t, on_event, &v);
    ng_trainer_set_stop_flag(t, (volatile int *)&cli_stop);
    cli_catch_stop_signals();
    const int rc = ng_trainer_run(t);
    if (v.tty) fprintf(stderr, "\r\033[K");
    ng_trainer_info(t, &in);
    if (rc == NG_STOPPED) {
        printf("interrupted at step %ld: checkpoint saved in %s (continue with: nanogen train --resume %s)\n", v.last_step, out, out);
        code = cli_stop_code();
        goto done;
    }
    if (rc) goto fail;
    if (in.nothing_to_do)
        printf("nothing to do: the checkpoint is already at step %d of %d (raise --steps to train more)\n", in.start, s->steps);
    else if (s->steps == 0)
        printf("--steps 0: saved the untrained model in %s/model.safetensors\n", out);
    else if (s->no_final_eval)
        printf("trained in %.1f s (--no-final-eval)\ncheckpoint: %s/model.safetensors\n", in.seconds, out);
    else {
        printf("final: val loss %.4f on the full val split (%zu tokens), %.2f bits per token; trained in %.1f s\n", in.full_val_loss,
               in.full_val_count, in.full_val_loss / log(2.0), in.seconds);
        printf("checkpoint: %s/model.safetensors\n", out);
    }
    code = 0;
    goto done;
fail:
    if (isatty(STDERR_FILENO)) fprintf(stderr, "\r\033[K");
    fprintf(stderr, "nanogen: %s\n", ng_last_error());
    code = 1;
done:
    ng_trainer_free(t);
    ng_model_free(m);
    ng_tokenizer_free(tok);
    return code;
}

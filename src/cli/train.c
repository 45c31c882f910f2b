/* train.c - `nanogen train gpt|bigram`: the flags of a text model's training run, and what it
 * prints; the run itself is the library's trainer (src/train/: ng_trainer_create, ng_trainer_new
 * for --init-from, ng_trainer_resume, ng_trainer_run). Image kinds: train_images.c. */
#include "cli.h"
#include "core/progress.h"
#include "train/ranges.h"

#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    ng_model_config mc;
    ng_train_settings s;
    const char *out, *resume, *init_from, *preset, *tokenizer, *unknown_s, *gelu;
    int threads, force;
    int unknown;          /* for --init-from: 0 extend, 1 skip, 2 error */
} train_opts;

/* Which shape flags the user gave (--resume and --init-from keep the checkpoint's shape). */
typedef struct { int T, L, H, C, tok, vocab, gelu, bias; } given_flags;

/* flags the image trainer shares (train_images.c) */
const cli_flagdef cli_def_out_dir = {"--out", CLI_STR, 0, 0, "DIR", "where the checkpoint goes (a checkpoint there is kept unless --force)"};
const cli_flagdef cli_def_resume = {"--resume", CLI_STR, 0, 0, "DIR", "continue the run in DIR where it stopped (given flags override its settings)"};
const cli_flagdef cli_def_lr = {"--lr", CLI_FLOAT, R_LR, "X", "learning rate"};
const cli_flagdef cli_def_log_every = {"--log-every", CLI_INT, R_LOG_EVERY, "N", "print a progress line every N steps / batches"};
const cli_flagdef cli_def_force = {"--force", CLI_FLAG, 0, 0, NULL, "overwrite a checkpoint in --out"};
const cli_flagdef cli_def_anomaly = {"--detect-anomaly", CLI_FLAG, 0, 0, NULL, "check every op's output and gradients for NaN/Inf (slower)"};
const cli_flagdef cli_def_grad_shards = {"--grad-shards", CLI_INT, R_SHARDS, "S",
                                         "cut each batch into S shards whose gradients are summed in a fixed order (default: one per "
                                         "MPI rank): the same S gives the same bits on any number of ranks"};
static const cli_flagdef
    def_preset = {"--preset", CLI_STR, 0, 0, "NAME", "baby | shakespeare-char | bigram | gpt2 | bpe-small: a model and its settings (flags override it)"},
    def_init = {"--init-from", CLI_STR, 0, 0, "DIR", "fine-tune the text model in DIR"},
    def_layer = {"--n-layer", CLI_INT, 1, 1024, "L", "transformer blocks"},
    def_embd = {"--n-embd", CLI_INT, 1, 65536, "C", "embedding width"},
    def_gelu = {"--gelu", CLI_STR, 0, 0, "tanh|exact", "the MLP's GELU: tanh approximation (GPT-2, default) or exact erf (nanoGPT)"},
    def_no_bias = {"--no-bias", CLI_FLAG, 0, 0, NULL, "linears without bias, LayerNorms with a weight only (nanoGPT's bias=False)"},
    def_dropout = {"--dropout", CLI_FLOAT, 0, 0.99, "P", "dropout"},
    def_tok = {"--tokenizer", CLI_STR, 0, 0, "char|word|bpe", "the tokenizer built from --data (bpe: byte-level BPE, any bytes)"},
    def_vocab = {"--vocab-size", CLI_INT, 2, 1 << 22, "N", "a word tokenizer's vocabulary (8192), or a bpe tokenizer's (8192; 257..1048576)"},
    def_min_lr = {"--min-lr", CLI_FLOAT, R_LR, "X", "the cosine schedule's final learning rate (<= --lr)"},
    def_warmup = {"--warmup", CLI_INT, R_WARMUP, "N", "linear warmup steps"},
    def_steps = {"--steps", CLI_INT, R_STEPS, "N", "training steps (with --resume: the new total)"},
    def_wd = {"--weight-decay", CLI_FLOAT, R_WD, "X", "AdamW weight decay"},
    def_clip = {"--grad-clip", CLI_FLOAT, R_CLIP, "X", "clip the gradient norm (0: off)"},
    def_eval_every = {"--eval-every", CLI_INT, R_EVAL_EVERY, "N", "estimate the train/val loss every N steps (0: never) and save"},
    def_eval_iters = {"--eval-iters", CLI_INT, R_EVAL_ITERS, "N", "batches an estimate"},
    def_no_final = {"--no-final-eval", CLI_FLAG, 0, 0, NULL, "skip the loss on the whole val split at the end (benchmarks)"},
    def_unknown = {"--unknown", CLI_STR, 0, 0, "extend|skip|error", "--init-from: characters the vocabulary lacks"};
static const cli_flag FLAGS[] = {
    CLI_F(def_preset, train_opts, preset, NULL, NULL),
    CLI_F(cli_def_data, train_opts, s.data, NULL, "the UTF-8 text to train on"),
    CLI_F(cli_def_out_dir, train_opts, out, NULL, NULL),
    CLI_F(cli_def_resume, train_opts, resume, NULL, NULL),
    CLI_F(def_init, train_opts, init_from, NULL, NULL),
    CLI_F(cli_def_block_size, train_opts, mc.block_size, NULL, NULL),
    CLI_F(def_layer, train_opts, mc.n_layer, NULL, NULL),
    CLI_F(cli_def_n_head, train_opts, mc.n_head, NULL, NULL),
    CLI_F(def_embd, train_opts, mc.n_embd, NULL, NULL),
    CLI_FB(def_dropout, train_opts, mc.dropout, NULL, NULL, NG_SET_DROPOUT),
    CLI_F(def_gelu, train_opts, gelu, NULL, NULL),
    CLI_F(def_no_bias, train_opts, mc.no_bias, NULL, NULL),
    CLI_F(def_tok, train_opts, tokenizer, NULL, NULL),
    CLI_F(def_vocab, train_opts, s.vocab_size, NULL, NULL),
    CLI_FB(cli_def_batch_size, train_opts, s.batch_size, NULL, NULL, NG_SET_BATCH),
    CLI_FB(cli_def_lr, train_opts, s.lr, NULL, NULL, NG_SET_LR),
    CLI_FB(def_min_lr, train_opts, s.min_lr, NULL, NULL, NG_SET_MIN_LR),
    CLI_FB(def_warmup, train_opts, s.warmup, NULL, NULL, NG_SET_WARMUP),
    CLI_FB(def_steps, train_opts, s.steps, NULL, NULL, NG_SET_STEPS),
    CLI_FB(def_wd, train_opts, s.weight_decay, NULL, NULL, NG_SET_WEIGHT_DECAY),
    CLI_FB(def_clip, train_opts, s.grad_clip, NULL, NULL, NG_SET_GRAD_CLIP),
    CLI_FB(cli_def_seed, train_opts, s.seed, NULL, NULL, NG_SET_SEED),
    CLI_F(cli_def_threads, train_opts, threads, NULL, NULL),
    CLI_FB(def_eval_every, train_opts, s.eval_every, NULL, NULL, NG_SET_EVAL_EVERY),
    CLI_FB(def_eval_iters, train_opts, s.eval_iters, NULL, NULL, NG_SET_EVAL_ITERS),
    CLI_FB(cli_def_log_every, train_opts, s.log_every, NULL, NULL, NG_SET_LOG_EVERY),
    CLI_F(def_no_final, train_opts, s.no_final_eval, NULL, NULL),
    CLI_F(cli_def_anomaly, train_opts, s.detect_anomaly, NULL, NULL),
    CLI_FB(cli_def_grad_shards, train_opts, s.grad_shards, NULL, NULL, NG_SET_GRAD_SHARDS),
    CLI_F(cli_def_force, train_opts, force, NULL, NULL),
    CLI_F(def_unknown, train_opts, unknown_s, NULL, NULL),
    {0}};
static const cli_cmd CMD = {"train",
    "usage: nanogen train gpt|bigram --data FILE --out DIR [options]\n"
    "       nanogen train --resume DIR [--steps N] [--data FILE]\n"
    "       nanogen train gpt --init-from DIR --data FILE --out DIR2   (fine-tune)\n"
    "       nanogen train ae|dae|vae|gan|classifier --data fashion-mnist --out DIR   (images: nanogen train vae --help)",
    "  defaults: the preset's (gpt: baby, bigram: bigram); explicit flags override it wherever they stand",
    FLAGS, 1};

/* 0, or the exit code: 0 after --help (*help set), 2 after a usage error */
static int parse(int argc, char **argv, train_opts *o, given_flags *gv, int *help) {
    cli_args a;
    train_opts first = {0};
    *help = 0;
    int rc = cli_parse(&CMD, argc, argv, &first, &a);   /* the model and the preset: the base the flags override */
    if (rc) { *help = rc == 1; return rc == 1 ? 0 : rc; }
    ng_model_kind kind = NG_MODEL_GPT;
    const char *k = a.npos ? a.pos[0] : NULL;
    if (k && (ng_model_kind_parse(k, &kind) || !ng_model_kind_is_text(kind))) {
        ng_set_error("unknown model '%s' (text models: gpt, bigram; images: ae, dae, vae, gan, classifier)", k);
        return cli_usage_fail("train");
    }
    memset(o, 0, sizeof *o);
    memset(gv, 0, sizeof *gv);
    ng_train_settings *s = &o->s;
    ng_train_defaults(kind, s);
    const char *pre = first.preset ? first.preset : ng_train_default_preset(kind);
    if (ng_train_preset(pre, &o->mc, s)) return cli_usage_fail("train");
    if (k && o->mc.kind != kind) { ng_set_error("--preset %s is for a %s model, not %s", pre, ng_model_kind_name(o->mc.kind), k); return cli_usage_fail("train"); }
    cli_parse(&CMD, argc, argv, o, &a);   /* the flags over the preset (parsed once already: no error) */
    s->given |= cli_given_bits(&CMD, &a);
    if (s->given & NG_SET_DROPOUT) s->dropout = o->mc.dropout;
    gv->T = cli_given(&CMD, &a, "--block-size"); gv->L = cli_given(&CMD, &a, "--n-layer"); gv->H = cli_given(&CMD, &a, "--n-head");
    gv->C = cli_given(&CMD, &a, "--n-embd"); gv->tok = cli_given(&CMD, &a, "--tokenizer"); gv->vocab = cli_given(&CMD, &a, "--vocab-size");
    gv->gelu = cli_given(&CMD, &a, "--gelu"); gv->bias = cli_given(&CMD, &a, "--no-bias");
    const int gelu_ok = !o->gelu || !strcmp(o->gelu, "tanh") || !strcmp(o->gelu, "exact");
    if (o->gelu && gelu_ok) o->mc.gelu = !strcmp(o->gelu, "exact") ? NG_GELU_EXACT : NG_GELU_TANH;
    int tok_ok = !o->tokenizer;
    for (int k = NG_TOK_CHAR; k <= NG_TOK_BPE && !tok_ok; k++)
        if (!strcmp(o->tokenizer, ng_tok_kind_name((ng_tok_kind)k))) { s->tokenizer = k; tok_ok = 1; }
    if (o->unknown_s) o->unknown = !strcmp(o->unknown_s, "extend") ? 0 : !strcmp(o->unknown_s, "skip") ? 1 : !strcmp(o->unknown_s, "error") ? 2 : -1;
    if (!tok_ok) ng_set_error("--tokenizer: '%s' is not char, word or bpe", o->tokenizer);
    else if (!gelu_ok) ng_set_error("--gelu: '%s' is not tanh or exact", o->gelu);
    else if ((gv->gelu || gv->bias) && o->mc.kind != NG_MODEL_GPT) ng_set_error("--gelu and --no-bias are options of the gpt model");
    else if (o->unknown < 0) ng_set_error("--unknown: '%s' is not extend, skip or error", o->unknown_s);
    else if (o->resume && o->init_from) ng_set_error("--resume and --init-from exclude each other");
    else if (!o->resume && !k && !o->init_from) ng_set_error("which model? nanogen train gpt|bigram ...");
    else if (!o->resume && !s->data) ng_set_error("--data FILE is required (a UTF-8 text file)");
    else if (!o->resume && !o->out) ng_set_error("--out DIR is required (where the checkpoint goes)");
    else if (s->min_lr > s->lr) ng_set_error("--min-lr %g is larger than --lr %g", s->min_lr, s->lr);
    else return 0;
    return cli_usage_fail("train");
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
    case NG_TRAIN_NOTE: cli_train_note(v->tty, e->message); break;
    default: break;
    }
}

/* --init-from: the pre-trained model and tokenizer, a char vocabulary extended with the new
 * text's characters (or those dropped, or refused) */
static int fine_tune_start(const train_opts *o, const given_flags *gv, ng_model **m, ng_tokenizer **tok) {
    if (ng_checkpoint_load(o->init_from, m, tok, NULL)) return NG_ERR;
    if (!*tok) return ng_set_error("--init-from '%s' is an image model: fine-tuning here is for text models (gpt, bigram)", o->init_from);
    if (gv->T || gv->L || gv->H || gv->C || gv->tok || gv->vocab || gv->gelu || gv->bias)
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
    int help, prc = parse(argc, argv, &o, &gv, &help);
    if (prc || help) return prc;
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
           ng_tok_kind_name(ng_tokenizer_kind(ng_trainer_tokenizer(t))), in.n_train, in.n_val, in.batch_size, in.block_size,
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
    code = cli_train_failed();
done:
    ng_trainer_free(t);
    ng_model_free(m);
    ng_tokenizer_free(tok);
    return code;
}

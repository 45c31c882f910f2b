/* cli.h - shared pieces of the nanogen command: flag parsing with errors that name the flag. */
#ifndef NG_CLI_H
#define NG_CLI_H
#include "nanogen.h"
#include "core/internal.h"   /* ng_set_error and the other private pieces */

#include <cjson/cJSON.h>
#include <signal.h>
#include <stddef.h>

/* The whole command line (argv[0] = "nanogen", argv[1] = the command): dispatch to cmd_*.
 * Returns the exit code. */
int cli_main(int argc, char **argv);
/* When non-zero (fuzz/fuzz_cli.c), every command returns 0 as soon as its flags are parsed and
 * checked, before it reads a checkpoint or data, writes anything or trains. (train --resume
 * DIR still reads the kind of the checkpoint there, to pick the flags of a text or image run.) */
extern int cli_parse_only;
/* Command entry points: argc/argv start after the command name. Return the exit code. */
int cmd_train(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_plot(int argc, char **argv);
/* tokenize.c: a tokenizer on standard input */
int cmd_tokenize(int argc, char **argv);
/* inspect.c: looking inside text models */
int cmd_next(int argc, char **argv);
int cmd_embeddings(int argc, char **argv);
int cmd_attention(int argc, char **argv);
int cmd_train_images(int argc, char **argv);
/* image_cmds.c: interpolate (image models) */
int cmd_interpolate(int argc, char **argv);
/* image_tools.c: your own pictures through an image model, latent files, anomaly scores */
int cmd_reconstruct(int argc, char **argv);
int cmd_encode(int argc, char **argv);
int cmd_decode(int argc, char **argv);
int cmd_score(int argc, char **argv);
/* convert.c: GPT weights from and to Hugging Face's GPT-2 and nanoGPT layouts */
int cmd_import(int argc, char **argv);
int cmd_export(int argc, char **argv);
/* serve.c: the HTTP server (src/serve/; needs libmicrohttpd) */
int cmd_serve(int argc, char **argv);

/* Print "nanogen: <last error>" to stderr and return exit code 1; cli_usage_error: one line
 * "nanogen: <message> (nanogen <cmd> --help)" and exit code 2. */
int cli_fail(void);
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Tokenize a text file with a model's tokenizer; unknown characters are an error naming the
 * first one unless skip_unknown. Returns malloc'd ids. */
int32_t *cli_encode_file(const char *path, const ng_tokenizer *tok, int skip_unknown, size_t *n);
/* A word model reads the words of a prompt that its vocabulary lacks as <unk>: say how many on
 * stderr ("nanogen: note: 2 words of the prompt are not in the vocabulary and read as <unk>");
 * nothing for a char model (its unknown characters are an error) or when every word is known. */
void cli_note_unknown_words(const ng_tokenizer *tok, const int32_t *ids, size_t n);
/* Training runs stop cleanly on SIGINT/SIGTERM: cli_catch_stop_signals() installs a handler
 * that sets cli_stop to the signal; the loop saves a checkpoint and exits cli_stop_code(). */
extern volatile sig_atomic_t cli_stop;
/* A trainer's note (NG_TRAIN_NOTE) on stderr, on a line of its own (tty: after clearing the
 * progress line), for the text and the image trainers alike. */
void cli_train_note(int tty, const char *msg);
/* A training run failed: print the error (several ranks: rank 0 only for a failure all found,
 * else with the rank, ending the job); returns the exit code, 1. */
int cli_train_failed(void);
void cli_catch_stop_signals(void);
int cli_stop_code(void);   /* 130 for SIGINT, 143 for SIGTERM */
/* --threads N for a command: N (0: every CPU), at most the CPUs the process may run on (more
 * threads than CPUs only wait for each other: training ran 2.8x slower with 8 on 2), said once
 * on stderr when capped */
void cli_set_threads(int n);
/* Floats of the activations (and their gradients) of a text model's graph for B x T tokens. */
double cli_text_activations(const ng_model_config *c, int B, int T);
/* Refuse an --out we cannot write before doing any work: missing, a directory, a missing or
 * read-only parent, or a name not ending in ext (".png", ".svg"; any case). */
int cli_check_out(const char *out, const char *ext);
/* NANOGEN_TEST_STOP_AT=N (tests of exact resume): the trainers behave as if Ctrl-C came after N
 * steps or batches of this run; 0 when unset. */
long cli_test_stop_at(void);
/* fid.c: a GAN's quality through a classifier's penultimate features (`nanogen eval GAN_DIR
 * --classifier CLF_DIR [--n N]`): FID of n generated images (eval mode, [-1,1] -> [0,1]) vs n
 * real test images, the untrained generator's FID and the real train/test floor, the classes
 * of the samples. Prints the report (or "nanogen: <error>"); returns the exit code (0 or 1). */
int cli_gan_quality(const char *gan_dir, const char *clf_dir, int n, uint64_t seed);

/* ---- flags.c: one declarative flag table per command, one parser */
typedef enum { CLI_FLAG, CLI_INT, CLI_U64, CLI_FLOAT, CLI_STR, CLI_FLOATS, CLI_STRS, CLI_STRLIST } cli_type;
#define CLI_MAX_LIST 8
typedef struct { float v[CLI_MAX_LIST]; int n; } cli_floats;   /* a CLI_FLOATS value */
#define CLI_MAX_STRS 16
typedef struct { const char *v[CLI_MAX_STRS]; int n; } cli_strs;   /* a CLI_STRS value: the flag repeated, in order */
typedef struct { char **v; int n; } cli_strlist;   /* a CLI_STRLIST value: the n arguments after the flag (in argv), given once */
/* A flag's definition: name, value type (int, float: [lo, hi]), its value's name and help. */
typedef struct { const char *name; cli_type type; double lo, hi; const char *arg, *help; } cli_flagdef;
/* A command's flag: the definition, where the value goes in the command's options struct
 * (offsetof; int for CLI_FLAG and CLI_INT, uint64_t, float, const char *, cli_floats, cli_strs, cli_strlist), the
 * default it starts from (parsed as a value; NULL: what the struct holds) and, when the
 * command means more than the definition says, its own help; bit: a flag of the command's own
 * (e.g. the trainer's NG_SET_* "given" bits; cli_given_bits ORs those of the flags given).
 * Tables end with {0}. */
typedef struct { const cli_flagdef *def; size_t off; const char *dflt, *help; unsigned bit; } cli_flag;
typedef struct {
    const char *name;    /* "sample", "train vae" */
    const char *usage;   /* the usage lines */
    const char *about;   /* what it does (may be NULL) */
    const cli_flag *flags;
    int max_pos;         /* positional arguments it takes */
} cli_cmd;
typedef struct { const char *pos[CLI_MAX_STRS]; int npos; unsigned char given[64]; } cli_args;
/* Parse argv against the command's table into opts: 0, 1 after printing --help (exit 0), or
 * 2 after printing a one-line usage error with a pointer to --help (exit 2). */
int cli_parse(const cli_cmd *c, int argc, char **argv, void *opts, cli_args *a);
/* A command on a checkpoint DIR: cli_parse, then DIR required. -1 when the command goes on (DIR
 * in a->pos[0]), else the exit code (0 after --help, 2 after a usage error). */
int cli_parse_dir(const cli_cmd *c, int argc, char **argv, void *opts, cli_args *a);
/* 0 when the command line has its positional argument, else a one-line usage error (returns 2). */
int cli_missing_pos(const cli_cmd *c, const cli_args *a);
/* Whether the flag was on the command line. */
int cli_given(const cli_cmd *c, const cli_args *a, const char *name);
/* The bits of the flags on the command line, ORed. */
unsigned cli_given_bits(const cli_cmd *c, const cli_args *a);
/* The command's --help, from its table, on stdout. */
void cli_help(const cli_cmd *c);
/* "nanogen: <last error> (nanogen <cmd> --help)" on stderr; returns 2. */
int cli_usage_fail(const char *cmd);
/* The name of names nearest to word by edit distance, when near enough to be a typo; else NULL. */
const char *cli_did_you_mean(const char *word, const char *const *names, int n);
extern const cli_flagdef cli_def_seed, cli_def_threads, cli_def_temperature, cli_def_top_k, cli_def_top_p, cli_def_data,
    cli_def_prompt, cli_def_prompt_file, cli_def_batch_size, cli_def_zoom, cli_def_out_file,
    cli_def_block_size, cli_def_n, cli_def_n_head, cli_def_noise;
/* train.c: flags the image trainer shares */
extern const cli_flagdef cli_def_out_dir, cli_def_resume, cli_def_lr, cli_def_log_every, cli_def_force, cli_def_anomaly,
    cli_def_grad_shards;
#define CLI_F(d, type, field, dflt_, help_) {.def = &(d), .off = offsetof(type, field), .dflt = (dflt_), .help = (help_)}
#define CLI_FB(d, type, field, dflt_, help_, bit_) {.def = &(d), .off = offsetof(type, field), .dflt = (dflt_), .help = (help_), .bit = (bit_)}

/* sample's options (sample.c): text and image models, one flag table */
typedef struct {
    const char *dir, *prompt, *prompt_file, *out, *data, *out_dir, *idx;
    int tokens, top_k, num, batch, exact, stats, show_probs, threads, n, ncol, zoom, manifold, scatter, seed_given;
    float top_p;
    cli_floats temperature;
    uint64_t seed;
} cli_sample_opts;
/* image_cmds.c: sample of an image model (the flags parsed by cmd_sample: c, a) */
int cli_sample_images(cli_sample_opts *o, const cli_cmd *c, const cli_args *a);
/* eval's options (eval.c): text and image models, one flag table */
typedef struct {
    const char *dir, *data, *classifier;
    int batch_size, block_size, threads, skip_unknown, n;
    uint64_t seed;
} cli_eval_opts;
int cli_eval_images(const cli_eval_opts *o, const cli_cmd *c, const cli_args *a);
#endif

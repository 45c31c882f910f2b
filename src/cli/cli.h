/* cli.h - shared pieces of the nanogen command: flag parsing with errors that name the flag. */
#ifndef NG_CLI_H
#define NG_CLI_H
#include "nanogen.h"
#include "core/internal.h"   /* ng_set_error and the other private pieces */

#include <cjson/cJSON.h>
#include <signal.h>

/* The whole command line (argv[0] = "nanogen", argv[1] = the command): dispatch to cmd_*.
 * Returns the exit code. */
int cli_main(int argc, char **argv);
/* When non-zero (fuzz/fuzz_cli.c), every command returns 0 as soon as its flags are parsed and
 * checked, before it reads a checkpoint or data, writes anything or trains. (Deciding whether
 * a positional argument is an image checkpoint still reads that file.) */
extern int cli_parse_only;
/* Command entry points: argc/argv start after the command name. Return the exit code. */
int cmd_train(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_plot(int argc, char **argv);
/* inspect.c: looking inside text models */
int cmd_next(int argc, char **argv);
int cmd_embeddings(int argc, char **argv);
int cmd_attention(int argc, char **argv);
int cmd_train_images(int argc, char **argv);
/* image_cmds.c: sample / eval of image models, and interpolate */
int cmd_sample_images(int argc, char **argv);
int cmd_eval_images(int argc, char **argv);
int cmd_interpolate(int argc, char **argv);
/* Whether sample (sample = 1) or eval arguments are for an image model: a positional argument
 * that is an image checkpoint, or (sample) --out, --manifold, --scatter. */
int cli_image_args(int argc, char **argv, int sample);
/* ae, dae, vae, gan */
int cli_is_image_model(const char *name);
/* Whether the checkpoint at path (DIR or file) is an image model's. */
int cli_is_image_checkpoint(const char *path);

/* Flag parsing: argv[*i] is the flag; its value is argv[*i+1]. Each returns NG_ERR with a
 * message naming the flag when the value is missing, not a number, or outside [lo, hi]. */
int arg_int(int argc, char **argv, int *i, long long lo, long long hi, int *out);
int arg_u64(int argc, char **argv, int *i, uint64_t *out);
int arg_float(int argc, char **argv, int *i, double lo, double hi, float *out);
int arg_str(int argc, char **argv, int *i, const char **out);
/* Print "nanogen: <message>" to stderr and return exit code 1 (2 for usage errors). */
int cli_fail(void);
int cli_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

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
/* Seconds of a monotonic clock. */
double cli_now(void);
/* NANOGEN_TEST_STOP_AT=N (tests of exact resume): the trainers behave as if Ctrl-C came after N
 * steps or batches of this run; 0 when unset. */
long cli_test_stop_at(void);
/* fid.c: a GAN's quality through a classifier's penultimate features (`nanogen eval GAN_DIR
 * --classifier CLF_DIR [--n N]`): FID of n generated images (eval mode, [-1,1] -> [0,1]) vs n
 * real test images, the untrained generator's FID and the real train/test floor, the classes
 * of the samples. Prints the report (or "nanogen: <error>"); returns the exit code (0 or 1). */
int cli_gan_quality(const char *gan_dir, const char *clf_dir, int n, uint64_t seed);
/* NG_OK when the classifier FID applies to a GAN of this shape (28x28x1), else NG_ERR + why. */
int cli_gan_fid_check(const ng_model_config *gc);
#endif

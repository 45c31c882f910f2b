/* cli.h - shared pieces of the nanogen command: flag parsing with errors that name the flag. */
#ifndef NG_CLI_H
#define NG_CLI_H
#include "nanogen.h"

#include <cjson/cJSON.h>
#include <signal.h>

/* The whole command line (argv[0] = "nanogen", argv[1] = the command): dispatch to cmd_*.
 * Returns the exit code. */
int cli_main(int argc, char **argv);
/* When non-zero (fuzz/fuzz_cli.c), every command returns 0 as soon as its flags are parsed and
 * checked, before it reads a checkpoint or data, writes anything or trains. (Deciding whether
 * a positional argument is an image checkpoint still reads that file.) */
extern int cli_parse_only;
/* fuzz/fuzz_state.c: a checkpoint's saved training state (its "train" metadata, any bytes) read
 * as `train --resume` reads it, for a text model and for an image model: NG_OK (every restored
 * setting in its flag's range) or NG_ERR with a message. */
int cli_text_state_check(const char *json);
int cli_image_state_check(const char *json);
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
/* Loss over every position of ids[0..n): non-overlapping windows of T, B at a time, using an
 * eval graph (B,T). Returns the mean loss (nats per token). */
double cli_full_loss(ng_lm_graph *lg, ng_graph *g, int B, int T, const int32_t *ids, size_t n, size_t *count);
/* A word model reads the words of a prompt that its vocabulary lacks as <unk>: say how many on
 * stderr ("nanogen: note: 2 words of the prompt are not in the vocabulary and read as <unk>");
 * nothing for a char model (its unknown characters are an error) or when every word is known. */
void cli_note_unknown_words(const ng_tokenizer *tok, const int32_t *ids, size_t n);
/* Number of Unicode code points encoded by ids (for bits per character). */
size_t cli_count_chars(const ng_tokenizer *tok, const int32_t *ids, size_t n);
/* Training runs stop cleanly on SIGINT/SIGTERM: cli_catch_stop_signals() installs a handler
 * that sets cli_stop to the signal; the loop saves a checkpoint and exits cli_stop_code(). */
extern volatile sig_atomic_t cli_stop;
void cli_catch_stop_signals(void);
int cli_stop_code(void);   /* 130 for SIGINT, 143 for SIGTERM */
/* Append one JSON object as a line of metrics.jsonl (f may be NULL) and, if echo, to stdout;
 * frees j. */
void cli_metrics_line(FILE *f, cJSON *j, int echo);
/* On --resume: drop the lines of the metrics file at path whose number `key` is above `last`
 * (logged after the checkpoint by a run killed later, e.g. by SIGKILL) and a torn last line,
 * so the resumed run's log continues exactly; rewritten atomically, and only if needed. */
int cli_metrics_trim(const char *path, const char *key, double last);
/* Whether the metrics file at path has a line whose number `key` is `value` and that has `field`. */
int cli_metrics_has(const char *path, const char *key, double value, const char *field);
/* A setting restored from a checkpoint's training state must lie where its flag may: NG_OK, or
 * an error naming it (the file was edited or damaged; nothing is trusted that a flag would refuse). */
int cli_state_range(const char *key, double v, double lo, double hi);
/* Refuse up front a job that needs about `need` bytes when less memory is available (90% of
 * ng_memory_available(), which honours ulimit -v): NG_ERR + "<what> needs about X GiB but only
 * Y GiB of memory is available: <hint>". */
int cli_memory_check(double need, const char *what, const char *hint);
/* --threads N for a command: N (0: every CPU), at most the CPUs the process may run on (more
 * threads than CPUs only wait for each other: training ran 2.8x slower with 8 on 2), said once
 * on stderr when capped */
void cli_set_threads(int n);
/* Floats of the activations (and their gradients) of a text model's graph for B x T tokens. */
double cli_text_activations(const ng_model_config *c, int B, int T);
/* Prepare a training run's --out directory before any work: refuse to overwrite a checkpoint
 * unless resuming or forced, create it (and subdir, if non-NULL) and check it is writable. */
int cli_prepare_out(const char *out, const char *subdir, int resume, int force);
/* Refuse an --out we cannot write before doing any work: missing, a directory, a missing or
 * read-only parent, or a name not ending in ext (".png", ".svg"; any case). */
int cli_check_out(const char *out, const char *ext);
/* Seconds of a monotonic clock. */
double cli_now(void);
/* One training step's parts, each NG_OK or NG_ERR with a numerical fault in ng_last_error(),
 * shared by the text and image trainers (which then stop before saving anything):
 * cli_forward / cli_backward: the pass (backward from dout, or from the loss when NULL), NG_ERR
 * when --detect-anomaly stopped it ("anomaly (--detect-anomaly) in the <op>");
 * cli_finite_loss: NG_ERR when loss is NaN or Inf ("<what> is nan: training diverged ...", with
 * the first op whose output went non-finite); cli_adamw_step: the AdamW step of the parameters P
 * (timed as "adamw+clip" under NANOGEN_PROFILE), NG_ERR naming the gradient (of `block` + its
 * name) when the gradient norm is not finite, in which case the step changed nothing. */
int cli_forward(ng_graph *g);
int cli_backward(ng_graph *g, const float *dout);
/* The same without the parameter gradients (ng_graph_backward_inputs): a GAN generator step through D. */
int cli_backward_inputs(ng_graph *g);
int cli_finite_loss(ng_graph *g, const char *what, double loss);
int cli_adamw_step(ng_adamw *opt, ng_params *P, float lr, const char *block);
/* After one of them failed: the run stops before anything is saved, and ng_last_error() becomes
 * "<where>: <the fault>; stopped without saving: <kept> is kept" (kept: the checkpoint left as it
 * was) or, with kept NULL, "...; stopped (no checkpoint was saved yet)". */
void cli_fault_stop(const char *where, const char *kept);
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

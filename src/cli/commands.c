/* commands.c - the usage text and the dispatch of `nanogen <command>` to its cmd_* function
 * (main.c calls cli_main; the command-line fuzz harness calls it too, with cli_parse_only set). */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
        "nanogen " NANOGEN_VERSION " - generative models from scratch, in C\n\n"
        "usage: nanogen <command> [options]   (nanogen <command> --help for its flags)\n\n"
        "  train gpt|bigram --data FILE --out DIR   train a text model (--preset baby|shakespeare-char|bigram|gpt2|bpe-small)\n"
        "  train ae|dae|vae|gan --data D --out DIR  train an image model (D: fashion-mnist, mnist, a folder)\n"
        "  train classifier --data D --out DIR      train the classifier whose features measure a GAN (FID)\n"
        "  train --resume DIR                       continue a run where it stopped (any kind)\n"
        "  sample DIR [--prompt TEXT]               generate text (temperature, top-k, top-p)\n"
        "  eval DIR --data FILE                     loss, bits per character and per byte on the full splits\n"
        "  tokenize [DIR] [--ids|--decode]          a tokenizer on standard input (GPT-2's, or built from --data)\n"
        "  info DIR                                 config, parameters, training history (any kind)\n"
        "  plot DIR --out loss.svg                  the loss curves of a run\n"
        "  import PATH --format hf-gpt2|nanogpt --out DIR   a GPT from Hugging Face's GPT-2 or nanoGPT (safetensors)\n"
        "  export DIR --format hf-gpt2|nanogpt --out D      a GPT checkpoint in those layouts\n"
        "  serve DIR [DIR ...] [--port 8080]        an OpenAI-compatible HTTP server and a playground at /\n"
        "\nlooking inside a text model:\n"
        "  next DIR --prompt TEXT                   the most likely next tokens (--top N, --temperature T ...)\n"
        "  embeddings DIR --out emb.svg             the token embeddings in 2-D (PCA), labelled\n"
        "  attention DIR --prompt TEXT --out a.png  attention weights as heat maps, one per head\n"
        "  sample DIR --show-probs                  mark each sampled token with its probability\n"
        "\nimage models (ae, dae, vae, gan):\n"
        "  sample DIR --out grid.png                samples (vae, gan) or reconstructions (ae, dae)\n"
        "  sample DIR --manifold|--scatter --out F  the decoder over a 2-D latent grid / test latents by class\n"
        "  interpolate DIR --out walk.png           linear walks in latent space\n"
        "  eval DIR                                 test loss per image (gan: D's outputs)\n"
        "  eval GAN_DIR --classifier CLF_DIR        a GAN's quality: FID through the classifier's features\n"
        "  reconstruct DIR --in PIC --out r.png     your pictures through an ae/dae/vae (--noise gaussian:0.3)\n"
        "  encode DIR --in PICS... --out z.lat      pictures to a latent file; decode DIR --in z.lat --out p.png back\n"
        "  score DIR [--out worst.png] [--csv F]    anomaly score of each test picture, the ROC AUC of a class\n"
        "  sample DIR --n 1000 --out-dir gen/       a synthetic data set (PNGs; --idx gen: IDX files)\n"
        "\nmodel kinds: bigram gpt (text); ae dae vae gan classifier (images)\n");
}

static const struct { const char *name; int (*run)(int, char **); } COMMANDS[] = {
    {"train", cmd_train}, {"sample", cmd_sample}, {"eval", cmd_eval}, {"interpolate", cmd_interpolate}, {"info", cmd_info},
    {"plot", cmd_plot}, {"import", cmd_import}, {"export", cmd_export}, {"next", cmd_next}, {"embeddings", cmd_embeddings},
    {"attention", cmd_attention}, {"tokenize", cmd_tokenize}, {"serve", cmd_serve},
    {"reconstruct", cmd_reconstruct}, {"encode", cmd_encode}, {"decode", cmd_decode}, {"score", cmd_score}};
#define N_COMMANDS (int)(sizeof COMMANDS / sizeof *COMMANDS)

int cli_main(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return 2; }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) { usage(stdout); return 0; }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) { printf("nanogen %s (GEMM: %s; OpenBLAS kernels: %s; MPI: %s)\n", NANOGEN_VERSION, ng_gemm_name(), ng_blas_core(),
                                                                     ng_dist_built() ? "built in" : "not built in (make MPI=1)"); return 0; }
    if (ng_dist_size() > 1) {   /* mpirun: the ranks train together; other commands run on rank 0 alone */
        if (strcmp(cmd, "train")) { if (ng_dist_rank() > 0) return 0; }
        else if (ng_dist_rank() > 0 && !freopen("/dev/null", "w", stdout)) return 1;   /* rank 0 reports */
    }
    const char *names[N_COMMANDS + 2];
    for (int i = 0; i < N_COMMANDS; i++) {
        if (!strcmp(cmd, COMMANDS[i].name)) return COMMANDS[i].run(argc - 2, argv + 2);
        names[i] = COMMANDS[i].name;
    }
    names[N_COMMANDS] = "help"; names[N_COMMANDS + 1] = "version";
    const char *near = cli_did_you_mean(cmd, names, N_COMMANDS + 2);
    if (near) fprintf(stderr, "nanogen: unknown command '%s'; did you mean '%s'? (nanogen --help)\n", cmd, near);
    else fprintf(stderr, "nanogen: unknown command '%s' (nanogen --help lists the commands)\n", cmd);
    return 2;
}

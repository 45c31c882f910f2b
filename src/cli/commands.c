/* commands.c - the usage text and the dispatch of `nanogen <command>` to its cmd_* function
 * (main.c calls cli_main; the command-line fuzz harness calls it too, with cli_parse_only set). */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
        "nanogen " NANOGEN_VERSION " - generative models from scratch, in C\n\n"
        "usage: nanogen <command> [options]   (nanogen <command> --help for its flags)\n\n"
        "  train gpt|bigram --data FILE --out DIR   train a text model (--preset baby|shakespeare-char|bigram)\n"
        "  train --resume DIR                       continue a run where it stopped\n"
        "  sample DIR [--prompt TEXT]               generate text (temperature, top-k, top-p)\n"
        "  eval DIR --data FILE                     loss and bits per character on the full splits\n"
        "  info DIR                                 config, parameters, training history\n"
        "  plot DIR --out loss.svg                  the loss curves of a run\n"
        "\nlooking inside a text model:\n"
        "  next DIR --prompt TEXT                   the most likely next tokens (--top N, --temperature T ...)\n"
        "  embeddings DIR --out emb.svg             the token embeddings in 2-D (PCA), labelled\n"
        "  attention DIR --prompt TEXT --out a.png  attention weights as heat maps, one per head\n"
        "  sample DIR --show-probs                  mark each sampled token with its probability\n"
        "\nimage models (train ae|dae|vae|gan --data fashion-mnist --out DIR):\n"
        "  sample DIR --out grid.png                samples (vae, gan) or reconstructions (ae, dae)\n"
        "  sample DIR --manifold|--scatter --out F  the decoder over a 2-D latent grid / test latents by class\n"
        "  interpolate DIR --out walk.png           linear walks in latent space\n"
        "  eval DIR                                 test loss per image (gan: D's outputs)\n");
}

int cli_main(int argc, char **argv) {
    if (argc < 2) { usage(stderr); return 2; }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) { usage(stdout); return 0; }
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) { printf("nanogen %s (OpenBLAS kernels: %s)\n", NANOGEN_VERSION, ng_blas_core()); return 0; }
    if (!strcmp(cmd, "train")) return cmd_train(argc - 2, argv + 2);
    if (!strcmp(cmd, "sample")) return cmd_sample(argc - 2, argv + 2);
    if (!strcmp(cmd, "eval")) return cmd_eval(argc - 2, argv + 2);
    if (!strcmp(cmd, "interpolate")) return cmd_interpolate(argc - 2, argv + 2);
    if (!strcmp(cmd, "info")) return cmd_info(argc - 2, argv + 2);
    if (!strcmp(cmd, "plot")) return cmd_plot(argc - 2, argv + 2);
    if (!strcmp(cmd, "next")) return cmd_next(argc - 2, argv + 2);
    if (!strcmp(cmd, "embeddings")) return cmd_embeddings(argc - 2, argv + 2);
    if (!strcmp(cmd, "attention")) return cmd_attention(argc - 2, argv + 2);
    fprintf(stderr, "nanogen: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 2;
}

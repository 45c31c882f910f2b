/* plot.c - `nanogen plot DIR --out loss.svg` (placeholder until it lands). */
#include "cli.h"

int cmd_plot(int argc, char **argv) {
    (void)argc; (void)argv;
    return cli_usage_error("plot: not implemented yet");
}

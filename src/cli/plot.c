/* plot.c - `nanogen plot DIR`: the loss curves of a run (DIR/metrics.jsonl) as an SVG chart
 * (the library's ng_plot_metrics, src/io/plot.c); this file reads the flags and prints. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#define USAGE "usage: nanogen plot DIR [--out FILE.svg] [--keys k1,k2,...] [--x step|epoch] [--log-y] [--title T]"

static void print_warning(const char *msg, void *ctx) { (void)ctx; fprintf(stderr, "nanogen: %s\n", msg); }

int cmd_plot(int argc, char **argv) {
    const char *dir = NULL, *out = NULL, *keys_arg = NULL, *xarg = NULL, *title_arg = NULL;
    int log_y = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int rc = NG_OK;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            printf("%s\n\n"
                   "Draws the curves of DIR/metrics.jsonl (DIR may also be the .jsonl file) as an SVG chart:\n"
                   "  --out FILE.svg   where to write it (default DIR/loss.svg; a name ending in .svg)\n"
                   "  --keys k1,k2     exactly these numeric keys (default: loss, train_loss, val_loss,\n"
                   "                   full_val_loss, test_loss, d_loss, g_loss, d_real, d_fake, any *_loss)\n"
                   "  --x step|epoch   the x axis (default step when the file has it, else epoch)\n"
                   "  --log-y          logarithmic y axis\n"
                   "  --title T        chart title (default: the run directory's name)\n", USAGE);
            return 0;
        }
        if (!strcmp(a, "--out")) rc = arg_str(argc, argv, &i, &out);
        else if (!strcmp(a, "--keys")) rc = arg_str(argc, argv, &i, &keys_arg);
        else if (!strcmp(a, "--x")) rc = arg_str(argc, argv, &i, &xarg);
        else if (!strcmp(a, "--title")) rc = arg_str(argc, argv, &i, &title_arg);
        else if (!strcmp(a, "--log-y")) log_y = 1;
        else if (a[0] == '-' && a[1]) rc = ng_set_error("unknown flag '%s' for plot", a);
        else if (!dir) dir = a;
        else rc = ng_set_error("unexpected argument '%s'", a);
        if (rc) return cli_usage_error("%s\n" USAGE, ng_last_error());
    }
    if (!dir) return cli_usage_error(USAGE);
    if (xarg && strcmp(xarg, "step") && strcmp(xarg, "epoch"))
        return cli_usage_error("--x: '%s' is not step or epoch\n" USAGE, xarg);
    if (out && !*out) return cli_usage_error("--out: empty file name\n" USAGE);
    if (out && cli_check_out(out, ".svg")) return cli_usage_error("%s", ng_last_error());   /* an SVG, as embeddings and sample --scatter */

    if (cli_parse_only) return 0;   /* the fuzz harness: flags parsed and checked, nothing run */
    ng_plot_settings s = {.path = dir, .out = out, .keys = keys_arg, .x = xarg, .title = title_arg, .log_y = log_y,
                          .warn = print_warning};
    ng_plot_result r;
    if (ng_plot_metrics(&s, &r)) return cli_fail();
    printf("wrote %s: %d series against %s (%s)\n", r.out, r.n_series, r.xkey, r.keys);
    return 0;
}

/* plot.c - `nanogen plot DIR`: the loss curves of a run (DIR/metrics.jsonl) as an SVG chart
 * (the library's ng_plot_metrics, src/io/plot.c); this file reads the flags and prints. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

typedef struct { const char *out, *keys, *x, *title; int log_y; } plot_opts;
static const cli_flagdef def_keys = {"--keys", CLI_STR, 0, 0, "k1,k2", "exactly these numeric keys (default: loss, train_loss, val_loss, full_val_loss, test_loss, d_loss, g_loss, d_real, d_fake, any *_loss)"};
static const cli_flagdef def_x = {"--x", CLI_STR, 0, 0, "step|epoch", "the x axis (default step when the file has it, else epoch)"};
static const cli_flagdef def_log_y = {"--log-y", CLI_FLAG, 0, 0, NULL, "logarithmic y axis"};
static const cli_flagdef def_title = {"--title", CLI_STR, 0, 0, "T", "chart title (default: the run directory's name)"};
static const cli_flag FLAGS[] = {
    CLI_F(cli_def_out_file, plot_opts, out, NULL, "the chart to write (default DIR/loss.svg; a name ending in .svg)"), CLI_F(def_keys, plot_opts, keys, NULL, NULL), CLI_F(def_x, plot_opts, x, NULL, NULL),
    CLI_F(def_log_y, plot_opts, log_y, NULL, NULL), CLI_F(def_title, plot_opts, title, NULL, NULL), {0}};
static const cli_cmd CMD = {"plot", "usage: nanogen plot DIR [--out FILE.svg] [--keys k1,k2,...] [--x step|epoch] [--log-y] [--title T]",
    "Draws the curves of DIR/metrics.jsonl (DIR may also be the .jsonl file) as an SVG chart.", FLAGS, 1};

static void print_warning(const char *msg, void *ctx) { (void)ctx; fprintf(stderr, "nanogen: %s\n", msg); }

int cmd_plot(int argc, char **argv) {
    plot_opts o = {0};
    cli_args a;
    int rc = cli_parse_dir(&CMD, argc, argv, &o, &a);
    if (rc >= 0) return rc;
    const char *dir = a.pos[0], *out = o.out, *keys_arg = o.keys, *xarg = o.x, *title_arg = o.title;
    if (xarg && strcmp(xarg, "step") && strcmp(xarg, "epoch")) return cli_usage_error("plot", "--x: '%s' is not step or epoch", xarg);
    if (out && !*out) return cli_usage_error("plot", "--out: empty file name");
    if (out && cli_check_out(out, ".svg")) return cli_usage_fail("plot");   /* an SVG, as embeddings and sample --scatter */
    if (cli_parse_only) return 0;   /* the fuzz harness: flags parsed and checked, nothing run */
    ng_plot_settings s = {.path = dir, .out = out, .keys = keys_arg, .x = xarg, .title = title_arg, .log_y = o.log_y,
                          .warn = print_warning};
    ng_plot_result r;
    if (ng_plot_metrics(&s, &r)) return cli_fail();
    printf("wrote %s: %d series against %s (%s)\n", r.out, r.n_series, r.xkey, r.keys);
    return 0;
}

/* image_tools.c - your own pictures through a trained image model, latent files and anomaly
 * scores: flags and printing; the work is the library's (src/infer/images.c, src/io/latent.c,
 * src/eval/scores.c).
 *   nanogen reconstruct DIR --in photo.png [--noise gaussian:0.3] --out rec.png   ae, dae, vae
 *   nanogen encode DIR --in PICS... --out z.lat                                     ae, dae, vae
 *   nanogen decode DIR --in z.lat --out pics.png                                    ae, dae, vae (gan)
 *   nanogen score DIR [--data D] [--out worst.png] [--csv scores.csv]               ae, dae, vae, gan */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const cli_flagdef def_in_pics = {"--in", CLI_STRLIST, 0, 0, "PIC...", "pictures (PNG, JPEG, BMP, GIF): resized and converted as the training data"};
static const cli_flagdef def_in_lat = {"--in", CLI_STR, 0, 0, "FILE", "a latent file (nanogen encode)"};
static const cli_flagdef def_out_lat = {"--out", CLI_STR, 0, 0, "FILE", "the latent file to write (.lat)"};
static const cli_flagdef def_ncol = {"--ncol", CLI_INT, 1, 1024, "N", "pictures per row"};

/* the model, or the exit code after printing why not */
static int load(const char *dir, const char *what, ng_model **m, ng_image_train_info *ti) {
    if (ng_image_model_load(dir, what, m, ti)) return cli_fail();
    return 0;
}

/* ------------------------------------------------------------------ reconstruct */
typedef struct { cli_strlist in; const char *out, *noise; int zoom, threads; uint64_t seed; } rec_opts;
static const cli_flag REC_FLAGS[] = {
    CLI_F(def_in_pics, rec_opts, in, NULL, NULL),
    CLI_F(cli_def_out_file, rec_opts, out, NULL, "the picture to write (.png): a row a picture"),
    CLI_F(cli_def_noise, rec_opts, noise, NULL, "corrupt the pictures first (the corrupted copy is shown too)"),
    CLI_F(cli_def_seed, rec_opts, seed, "1", NULL),
    CLI_F(cli_def_zoom, rec_opts, zoom, "4", NULL),
    CLI_F(cli_def_threads, rec_opts, threads, "0", NULL),
    {0}};
static const cli_cmd REC = {"reconstruct",
    "usage: nanogen reconstruct DIR --in PIC... --out rec.png [--noise gaussian:S|mask:P] [--seed S] [--zoom 4]",
    "  your pictures through an ae, dae or vae: each brought to the model's size and channels as the\n"
    "  training pictures were (shorter side resized, centre crop, grey as luma), then a row of the\n"
    "  picture | its corrupted copy (with --noise) | the reconstruction (a vae: decoded at the mean)",
    REC_FLAGS, 1};

int cmd_reconstruct(int argc, char **argv) {
    rec_opts o = {0};
    cli_args a;
    int rc = cli_parse_dir(&REC, argc, argv, &o, &a);
    if (rc >= 0) return rc;
    ng_noise nz;
    if (!o.in.n) { ng_set_error("--in PIC is required: the pictures to reconstruct"); return cli_usage_fail(REC.name); }
    if (o.noise && ng_noise_parse(o.noise, &nz)) { ng_set_error("--noise: %s", ng_last_error()); return cli_usage_fail(REC.name); }
    if (cli_check_out(o.out, ".png")) return cli_usage_fail(REC.name);
    if (cli_parse_only) return 0;   /* the fuzz harness: flags parsed and checked, nothing run */
    cli_set_threads(o.threads);
    ng_model *m = NULL;
    ng_images x = {0};
    float *grid = NULL;
    int cols = 0, code = 1;
    if ((rc = load(a.pos[0], "reconstruct", &m, NULL))) return rc;
    const ng_model_config *c = ng_model_cfg(m);
    if (c->kind == NG_MODEL_GAN) { ng_set_error("'%s' holds a GAN: it has no encoder to reconstruct pictures with (ae, dae, vae)", a.pos[0]); goto fail; }
    if (ng_png_grid_check(o.out, o.in.n * (o.noise ? 3 : 2), c->c, c->h, c->w, o.noise ? 3 : 2, o.zoom)) goto fail;
    if (ng_image_load_pictures(m, (const char *const *)o.in.v, o.in.n, &x)) goto fail;
    if (!(grid = ng_image_reconstruct_panels(m, x.pixels, x.n, o.noise ? &nz : NULL, o.seed, &cols))) goto fail;
    if (ng_png_grid(o.out, grid, x.n * cols, c->c, c->h, c->w, cols, o.zoom, 0, 1)) goto fail;
    printf("%s: %d picture%s at %dx%dx%d, a row each: the picture | %sthe reconstruction -> %s\n", ng_model_kind_name(c->kind), x.n,
           x.n == 1 ? "" : "s", c->c, c->h, c->w, o.noise ? (nz.mask ? "masked copy | " : "noisy copy | ") : "", o.out);
    code = 0;
    goto done;
fail:
    cli_fail();
done:
    free(grid);
    ng_images_free(&x);
    ng_model_free(m);
    return code;
}

/* ------------------------------------------------------------------ encode */
typedef struct { cli_strlist in; const char *out; int threads; } enc_opts;
static const cli_flag ENC_FLAGS[] = {
    CLI_F(def_in_pics, enc_opts, in, NULL, NULL),
    CLI_F(def_out_lat, enc_opts, out, NULL, NULL),
    CLI_F(cli_def_threads, enc_opts, threads, "0", NULL),
    {0}};
static const cli_cmd ENC = {"encode",
    "usage: nanogen encode DIR --in PIC... --out z.lat",
    "  the encoder's codes of your pictures (an ae's, dae's code; a vae's mean) as a latent file\n"
    "  (README: \"Latent files\"); prints how much smaller the latents are than the pictures",
    ENC_FLAGS, 1};

int cmd_encode(int argc, char **argv) {
    enc_opts o = {0};
    cli_args a;
    int rc = cli_parse_dir(&ENC, argc, argv, &o, &a);
    if (rc >= 0) return rc;
    if (!o.in.n) { ng_set_error("--in PIC... is required: the pictures to encode"); return cli_usage_fail(ENC.name); }
    if (cli_check_out(o.out, ".lat")) return cli_usage_fail(ENC.name);
    if (cli_parse_only) return 0;
    cli_set_threads(o.threads);
    ng_model *m = NULL;
    ng_images x = {0};
    ng_latents l = {0};
    int code = 1;
    if ((rc = load(a.pos[0], "encode", &m, NULL))) return rc;
    const ng_model_config *c = ng_model_cfg(m);
    if (c->kind == NG_MODEL_GAN) { ng_set_error("'%s' holds a GAN: it has no encoder (ae, dae, vae)", a.pos[0]); goto fail; }
    if (ng_image_load_pictures(m, (const char *const *)o.in.v, o.in.n, &x) || ng_image_encode_latents(m, x.pixels, x.n, &l) ||
        ng_latents_write(o.out, &l))
        goto fail;
    long long files = 0;
    for (int i = 0; i < o.in.n; i++) {
        struct stat st;
        if (stat(o.in.v[i], &st) == 0) files += st.st_size;
    }
    const long long pixels = (long long)x.n * c->c * c->h * c->w, lat = ng_latents_file_bytes(l.n, l.latent);
    printf("%s: %d picture%s -> %s: %d x %d latent values, %lld bytes\n", ng_model_kind_name(c->kind), x.n, x.n == 1 ? "" : "s", o.out,
           l.n, l.latent, lat);
    printf("  compression: %lld bytes of pictures at %dx%dx%d (8-bit pixels) / %lld bytes of latents = %.1fx; the files read: %lld bytes (%.1fx)\n",
           pixels, c->c, c->h, c->w, lat, (double)pixels / lat, files, (double)files / lat);
    code = 0;
    goto done;
fail:
    cli_fail();
done:
    ng_latents_free(&l);
    ng_images_free(&x);
    ng_model_free(m);
    return code;
}

/* ------------------------------------------------------------------ decode */
typedef struct { const char *in, *out; int ncol, zoom, threads; } dec_opts;
static const cli_flag DEC_FLAGS[] = {
    CLI_F(def_in_lat, dec_opts, in, NULL, NULL),
    CLI_F(cli_def_out_file, dec_opts, out, NULL, "the picture to write (.png)"),
    CLI_F(def_ncol, dec_opts, ncol, "8", NULL),
    CLI_F(cli_def_zoom, dec_opts, zoom, "2", NULL),
    CLI_F(cli_def_threads, dec_opts, threads, "0", NULL),
    {0}};
static const cli_cmd DEC = {"decode",
    "usage: nanogen decode DIR --in z.lat --out pics.png [--ncol 8] [--zoom 2]",
    "  the decoder over a latent file's codes (of the same latent size and picture shape), as a grid",
    DEC_FLAGS, 1};

int cmd_decode(int argc, char **argv) {
    dec_opts o = {0};
    cli_args a;
    int rc = cli_parse_dir(&DEC, argc, argv, &o, &a);
    if (rc >= 0) return rc;
    if (!o.in) { ng_set_error("--in FILE is required: a latent file (nanogen encode)"); return cli_usage_fail(DEC.name); }
    if (cli_check_out(o.out, ".png")) return cli_usage_fail(DEC.name);
    if (cli_parse_only) return 0;
    cli_set_threads(o.threads);
    ng_model *m = NULL;
    ng_latents l = {0};
    float *imgs = NULL;
    int code = 1;
    if ((rc = load(a.pos[0], "decode", &m, NULL))) return rc;
    const ng_model_config *c = ng_model_cfg(m);
    if (ng_latents_read(o.in, &l) || ng_png_grid_check(o.out, l.n, c->c, c->h, c->w, o.ncol, o.zoom) ||
        !(imgs = ng_image_decode_latents(m, &l, o.in)) ||
        ng_png_grid(o.out, imgs, l.n, c->c, c->h, c->w, o.ncol, o.zoom, c->kind == NG_MODEL_GAN ? -1.0f : 0.0f, 1))
        goto fail;
    printf("%s: %d picture%s decoded from %s (%d latent values each) -> %s\n", ng_model_kind_name(c->kind), l.n, l.n == 1 ? "" : "s",
           o.in, l.latent, o.out);
    code = 0;
    goto done;
fail:
    cli_fail();
done:
    free(imgs);
    ng_latents_free(&l);
    ng_model_free(m);
    return code;
}

/* ------------------------------------------------------------------ score */
typedef struct { const char *data, *out, *csv, *positive; int n_worst, ncol, zoom, threads, excess; } score_opts;
static const cli_flagdef def_excess = {"--excess", CLI_FLAG, 0, 0, NULL,
    "ae, dae, vae: the reconstruction term less each picture's own entropy (the KL to its reconstruction: simple pictures are not favoured)"};
static const cli_flagdef def_csv = {"--csv", CLI_STR, 0, 0, "FILE", "every picture's score: index,label,score (index,score without labels)"};
static const cli_flagdef def_n_worst = {"--n-worst", CLI_INT, 1, 100000, "N", "pictures in --out, the most anomalous first"};
static const cli_flagdef def_positive = {"--positive-class", CLI_STR, 0, 0, "NAME|N",
    "the ROC AUC of finding this class by the score (default: the class the model was trained without, --exclude-class)"};
static const cli_flag SCORE_FLAGS[] = {
    CLI_F(cli_def_data, score_opts, data, NULL, "the data set whose test split to score (default: the checkpoint's)"),
    CLI_F(cli_def_out_file, score_opts, out, NULL, "the most anomalous pictures as a grid (.png)"),
    CLI_F(def_csv, score_opts, csv, NULL, NULL),
    CLI_F(def_n_worst, score_opts, n_worst, "64", NULL),
    CLI_F(def_positive, score_opts, positive, NULL, NULL),
    CLI_F(def_excess, score_opts, excess, NULL, NULL),
    CLI_F(def_ncol, score_opts, ncol, "8", NULL),
    CLI_F(cli_def_zoom, score_opts, zoom, "2", NULL),
    CLI_F(cli_def_threads, score_opts, threads, "0", NULL),
    {0}};
static const cli_cmd SCORE = {"score",
    "usage: nanogen score DIR [--data D] [--out worst.png] [--n-worst 64] [--csv scores.csv] [--positive-class NAME|N] [--excess]",
    "  an anomaly score for every test picture, larger for the less typical: ae, dae: the reconstruction\n"
    "  error (BCE summed over the pixels); vae: the negative ELBO (BCE at z = mu, + KL); gan: minus the\n"
    "  discriminator's logit (the order of 1 - D(x)). With labels: the mean score per class, and the ROC AUC\n"
    "  of finding --positive-class (or the class left out of training by --exclude-class) by the score",
    SCORE_FLAGS, 1};

int cmd_score(int argc, char **argv) {
    score_opts o = {0};
    cli_args a;
    int rc = cli_parse_dir(&SCORE, argc, argv, &o, &a);
    if (rc >= 0) return rc;
    if (o.out && cli_check_out(o.out, ".png")) return cli_usage_fail(SCORE.name);
    if (o.csv && cli_check_out(o.csv, ".csv")) return cli_usage_fail(SCORE.name);
    if (cli_parse_only) return 0;
    cli_set_threads(o.threads);
    ng_model *m = NULL;
    ng_image_train_info ti;
    ng_images te = {0};
    double *scores = NULL, *mean = NULL;
    int *order = NULL, *count = NULL, code = 1;
    float *worst = NULL;
    uint8_t *pos = NULL;
    const char *spec;
    if ((rc = load(a.pos[0], "score", &m, &ti))) return rc;
    const ng_model_config *c = ng_model_cfg(m);
    const char *kind = ng_model_kind_name(c->kind);
    if (ng_image_test_load(m, &ti, o.data, &te, &spec)) goto fail;
    const size_t D = (size_t)c->c * c->h * c->w;
    const int nw = o.n_worst < te.n ? o.n_worst : te.n;
    if (o.out && ng_png_grid_check(o.out, nw, c->c, c->h, c->w, o.ncol, o.zoom)) goto fail;
    int positive = -1;
    if (o.positive) {
        if (!te.labels) { ng_set_error("--positive-class: '%s' has no labels", spec); goto fail; }
        if (ng_dataset_class_find(spec, te.n_classes, o.positive, &positive)) { ng_set_error("--positive-class: %s", ng_last_error()); goto fail; }
    } else if (te.labels && ti.exclude_class >= 0 && ti.exclude_class < te.n_classes) {
        positive = ti.exclude_class;
    }
    if (!(scores = ng_malloc(sizeof(double) * (size_t)te.n, "scores")) || ng_image_scores(m, &te, o.excess, scores) || !(order = ng_scores_rank(scores, te.n)))
        goto fail;
    printf("%s: anomaly score = %s, on the %d test pictures of %s\n", kind, ng_image_score_name(c->kind, o.excess), te.n, spec);
    printf("  median %.4g, the largest %.4g, the smallest %.4g\n", scores[order[te.n / 2]], scores[order[0]], scores[order[te.n - 1]]);
    const char *const *names = te.labels ? ng_dataset_class_names(spec, te.n_classes) : NULL;
    if (te.labels) {
        mean = ng_malloc(sizeof(double) * (size_t)te.n_classes, "class means");
        count = ng_malloc(sizeof(int) * (size_t)te.n_classes, "class counts");
        if (!mean || !count || ng_scores_by_class(scores, te.labels, te.n, te.n_classes, mean, count)) goto fail;
        printf("  mean score by class:%s\n", ti.exclude_class >= 0 ? " (* left out of training)" : "");
        for (int k = 0; k < te.n_classes; k++)
            printf("    %c %-3d %-12s %10.4g  (%d pictures)\n", k == ti.exclude_class ? '*' : ' ', k, names ? names[k] : "", mean[k], count[k]);
    }
    if (positive >= 0) {
        double auc;
        if (!(pos = ng_malloc((size_t)te.n, "classes"))) goto fail;
        for (int i = 0; i < te.n; i++) pos[i] = te.labels[i] == positive;
        if (ng_roc_auc(scores, pos, te.n, &auc)) goto fail;
        printf("ROC AUC %.4f: finding class %d%s%s%s by its larger score (%d of %d test pictures%s)\n", auc, positive, names ? " (" : "",
               names ? names[positive] : "", names ? ")" : "", count ? count[positive] : 0, te.n,
               positive == ti.exclude_class ? "; the class left out of training" : "");
    }
    if (o.csv) {
        if (ng_scores_csv(o.csv, scores, te.labels, te.n, names)) goto fail;
        printf("the %d scores -> %s\n", te.n, o.csv);
    }
    if (o.out) {
        if (!(worst = ng_malloc(sizeof(float) * D * (size_t)nw, "pictures"))) goto fail;
        for (int i = 0; i < nw; i++) memcpy(worst + (size_t)i * D, te.pixels + (size_t)order[i] * D, sizeof(float) * D);
        if (ng_png_grid(o.out, worst, nw, c->c, c->h, c->w, o.ncol, o.zoom, 0, 1)) goto fail;
        printf("the %d most anomalous pictures, the largest score first -> %s", nw, o.out);
        if (te.labels) {   /* which classes they are */
            int *h = calloc((size_t)te.n_classes, sizeof(int));
            if (h) {
                for (int i = 0; i < nw; i++) h[te.labels[order[i]]]++;
                const char *sep = " (";
                for (int k = 0; k < te.n_classes; k++)
                    if (h[k]) { printf("%s%d %s", sep, h[k], names ? names[k] : ""); if (!names) printf("class %d", k); sep = ", "; }
                printf(")");
                free(h);
            }
        }
        printf("\n");
    }
    code = 0;
    goto done;
fail:
    cli_fail();
done:
    free(scores); free(order); free(mean); free(count); free(worst); free(pos);
    ng_images_free(&te);
    ng_model_free(m);
    return code;
}

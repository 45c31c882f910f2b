/* image_cmds.c - the commands on a trained image model (ae, dae, vae, gan): flags and pictures;
 * the pictures' contents come from the library (src/infer/images.c, src/eval/quality.c).
 *   nanogen sample DIR --out grid.png          VAE/GAN: samples from the prior N(0,1);
 *                                              AE/DAE: test images | (noisy) | reconstructions
 *   nanogen sample DIR --manifold --out m.png  2-D latent: the decoder over a grid of quantiles
 *   nanogen sample DIR --scatter --out z.svg   test-set latent means by class (PCA if not 2-D)
 *   nanogen interpolate DIR --out walk.png     linear walks between latents / test images
 *   nanogen sample DIR --out-dir D | --idx P   VAE/GAN: a synthetic data set (PNGs, or IDX images)
 *   nanogen eval DIR                           test loss per image (GAN: D's outputs) */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

/* a text-model flag given to an image model */
static int text_flag_given(const cli_cmd *c, const cli_args *a, const char *const *names, int n, const char *dir) {
    for (int k = 0; k < n; k++)
        if (cli_given(c, a, names[k])) {
            ng_set_error("%s is for text models: '%s' holds an image model", names[k], dir);
            return cli_usage_fail(c->name);
        }
    return 0;
}

/* ------------------------------------------------------------------ sample */
/* --out-dir DIR / --idx PREFIX: a synthetic data set of --n pictures (1000) */
static int sample_dataset(const cli_sample_opts *o) {
    ng_model *m = NULL;
    const int n = o->n > 0 ? o->n : 1000;
    const uint64_t seed = o->seed_given ? o->seed : 1;
    char path[4096];
    if (o->idx) snprintf(path, sizeof path, "%s-images-idx3-ubyte", o->idx);
    if (ng_image_model_load(o->dir, o->out_dir ? "--out-dir" : "--idx", &m, NULL) ||
        ng_image_sample_save(m, n, seed, o->out_dir, o->idx ? path : NULL)) {
        ng_model_free(m);
        return cli_fail();
    }
    const ng_model_config *c = ng_model_cfg(m);
    printf("%s: %d samples from the prior (seed %llu), %dx%dx%d -> %s%s\n", ng_model_kind_name(c->kind), n, (unsigned long long)seed, c->c, c->h, c->w,
           o->out_dir ? o->out_dir : path, o->out_dir ? " (one PNG a picture, zero-padded numbers)" : " (IDX)");
    ng_model_free(m);
    return 0;
}

int cli_sample_images(cli_sample_opts *o, const cli_cmd *cmd, const cli_args *a) {
    static const char *const text_only[] = {"--prompt", "--prompt-file", "--tokens", "--temperature", "--top-k", "--top-p",
                                            "--num-samples", "--batch", "--exact-context", "--stats", "--show-probs"};
    int rc = text_flag_given(cmd, a, text_only, 11, o->dir);
    if (rc) return rc;
    if (!o->out_dir && !o->idx && cli_check_out(o->out, o->scatter ? ".svg" : ".png")) return cli_usage_fail("sample");
    cli_set_threads(o->threads);
    if (o->out_dir || o->idx) return sample_dataset(o);
    const char *what = o->manifold ? "--manifold" : o->scatter ? "--scatter" : "sample --out", *out = o->out;
    const uint64_t seed = o->seed_given ? o->seed : 1;
    int n = o->n, zoom = o->zoom;
    ng_model *m = NULL;
    ng_image_train_info ti;
    ng_images te = {0};
    float *imgs = NULL, *grid = NULL, *noisy = NULL;
    int code = 1;
    if (ng_image_model_load(o->dir, what, &m, &ti)) goto fail;
    const ng_model_config *c = ng_model_cfg(m);
    const size_t D = (size_t)c->c * c->h * c->w;
    const int gan = c->kind == NG_MODEL_GAN;
    const char *kind = ng_model_kind_name(c->kind), *spec;
    if (o->manifold) {
        if (ng_image_manifold_check(m)) goto fail;
        if (n < 0) n = 20;
        if (zoom < 0) zoom = 1;
        if (ng_png_grid_check(out, n * n, c->c, c->h, c->w, n, zoom)) goto fail;
        if (!(imgs = ng_image_manifold(m, n))) goto fail;
        if (ng_png_grid(out, imgs, n * n, c->c, c->h, c->w, n, zoom, gan ? -1.0f : 0.0f, 1)) goto fail;
        printf("%s: %dx%d manifold of the 2-D latent (quantiles 5%%..95%% of N(0,1)) -> %s\n", kind, n, n, out);
    } else if (o->scatter) {
        if (gan) { ng_set_error("--scatter shows the encoder's latents: a GAN has no encoder"); goto fail; }
        if (ng_image_test_load(m, &ti, o->data, &te, &spec) || ng_image_scatter_svg(out, m, &te, spec, n)) goto fail;
        const int N = n > 0 && n < te.n ? n : te.n;
        printf("%s: %s of %d test images%s -> %s\n", kind, c->kind == NG_MODEL_VAE ? "latent means" : "latent codes", N, c->latent > 2 ? " (PCA to 2-D)" : "", out);
    } else if (c->kind == NG_MODEL_VAE || gan) {
        if (n < 0) n = 64;
        if (zoom < 0) zoom = 2;
        if (ng_png_grid_check(out, n, c->c, c->h, c->w, o->ncol, zoom)) goto fail;
        if (!(imgs = ng_image_sample(m, n, seed))) goto fail;
        if (ng_png_grid(out, imgs, n, c->c, c->h, c->w, o->ncol, zoom, gan ? -1.0f : 0.0f, 1)) goto fail;
        printf("%s: %d samples from the prior (seed %llu) -> %s\n", kind, n, (unsigned long long)seed, out);
    } else {   /* AE / DAE: reconstructions of the first test images */
        if (n < 0) n = 64;
        if (zoom < 0) zoom = 2;
        const int dae = c->kind == NG_MODEL_DAE, rows = dae ? 3 : 2;
        int cols = o->ncol < n ? o->ncol : n, groups = (n + cols - 1) / cols, N = groups * cols;
        if (ng_png_grid_check(out, N * rows, c->c, c->h, c->w, cols, zoom)) goto fail;
        if (ng_image_test_load(m, &ti, o->data, &te, &spec)) goto fail;
        if (N > te.n) { ng_set_error("--n %d: the test split has only %d images", N, te.n); goto fail; }
        grid = malloc(sizeof(float) * D * N * rows);
        noisy = dae ? malloc(sizeof(float) * D * N) : NULL;
        if (!grid || (dae && !noisy)) { ng_set_error("out of memory"); goto fail; }
        if (!(imgs = ng_image_reconstruct(m, te.pixels, N, &ti, seed, noisy))) goto fail;
        for (int gi = 0; gi < groups; gi++)   /* each group of cols: originals | noisy | reconstructions */
            for (int k = 0; k < cols; k++) {
                size_t src = (size_t)gi * cols + k, row0 = (size_t)gi * rows;
                memcpy(grid + ((row0 + 0) * cols + k) * D, te.pixels + src * D, sizeof(float) * D);
                if (dae) memcpy(grid + ((row0 + 1) * cols + k) * D, noisy + src * D, sizeof(float) * D);
                memcpy(grid + ((row0 + rows - 1) * cols + k) * D, imgs + src * D, sizeof(float) * D);
            }
        if (ng_png_grid(out, grid, N * rows, c->c, c->h, c->w, cols, zoom, 0, 1)) goto fail;
        printf("%s: %d test images and their reconstructions (rows: originals | %sreconstructions) -> %s\n",
               kind, N, dae ? "noisy | " : "", out);
    }
    code = 0;
    goto done;
fail:
    fprintf(stderr, "nanogen: %s\n", ng_last_error());
done:
    free(imgs); free(grid); free(noisy);
    ng_images_free(&te);
    ng_model_free(m);
    return code;
}

/* ------------------------------------------------------------------ interpolate */
typedef struct { const char *out, *data; int frames, rows, zoom, from_test, threads; uint64_t seed; } interp_opts;
static const cli_flagdef def_frames = {"--frames", CLI_INT, 2, 1000, "N", "pictures a walk"};
static const cli_flagdef def_rows = {"--rows", CLI_INT, 1, 1000, "N", "walks (rows)"};
static const cli_flagdef def_from_test = {"--from-test", CLI_FLAG, 0, 0, NULL, "vae: walk between the latent means of two random test images (ae, dae: always)"};
static const cli_flag INTERP_FLAGS[] = {
    CLI_F(cli_def_out_file, interp_opts, out, NULL, "the picture to write (.png)"),
    CLI_F(def_frames, interp_opts, frames, "10", NULL),
    CLI_F(def_rows, interp_opts, rows, "8", NULL),
    CLI_F(cli_def_seed, interp_opts, seed, "1", NULL),
    CLI_F(def_from_test, interp_opts, from_test, NULL, NULL),
    CLI_F(cli_def_zoom, interp_opts, zoom, "2", NULL),
    CLI_F(cli_def_data, interp_opts, data, NULL, "the data set whose test images to use (default: the checkpoint's)"),
    CLI_F(cli_def_threads, interp_opts, threads, "0", NULL),
    {0}};
static const cli_cmd INTERP = {"interpolate",
    "usage: nanogen interpolate DIR --out walk.png [--frames 10] [--rows 8] [--seed S] [--from-test]\n"
    "                           [--zoom 2] [--data D] [--threads N]",
    "  each row is a linear walk in latent space decoded in --frames images:\n"
    "  vae, gan: between two random latents z ~ N(0,1);\n"
    "  vae --from-test, ae, dae: between the latent means / codes of two random test images,\n"
    "  shown at both ends of the row (frames + 2 columns)",
    INTERP_FLAGS, 1};

int cmd_interpolate(int argc, char **argv) {
    interp_opts o = {0};
    cli_args a;
    int rc = cli_parse_dir(&INTERP, argc, argv, &o, &a);
    if (rc >= 0) return rc;
    const char *dir = a.pos[0];
    if (cli_check_out(o.out, ".png")) return cli_usage_fail("interpolate");
    if (cli_parse_only) return 0;   /* the fuzz harness: flags parsed and checked, nothing run */
    cli_set_threads(o.threads);
    ng_model *m = NULL;
    ng_image_train_info ti;
    ng_images te = {0};
    float *grid = NULL;
    int code = 1, from_test = o.from_test;
    if (ng_image_model_load(dir, "interpolate", &m, &ti)) goto fail;
    const ng_model_config *c = ng_model_cfg(m);
    const int gan = c->kind == NG_MODEL_GAN;
    if (gan && from_test) { ng_set_error("--from-test encodes test images: a GAN has no encoder"); goto fail; }
    if (c->kind == NG_MODEL_AE || c->kind == NG_MODEL_DAE) from_test = 1;   /* an AE has no prior to draw from */
    const int cols = o.frames + (from_test ? 2 : 0);
    if (ng_png_grid_check(o.out, o.rows * cols, c->c, c->h, c->w, cols, o.zoom)) goto fail;
    const char *spec;
    if (from_test && ng_image_test_load(m, &ti, o.data, &te, &spec)) goto fail;
    if (!(grid = ng_image_interpolate(m, from_test ? &te : NULL, o.rows, o.frames, o.seed))) goto fail;
    if (ng_png_grid(o.out, grid, o.rows * cols, c->c, c->h, c->w, cols, o.zoom, gan ? -1.0f : 0.0f, 1)) goto fail;
    printf("%s: %d linear walks of %d frames between %s -> %s\n", ng_model_kind_name(c->kind), o.rows, o.frames,
           from_test ? (c->kind == NG_MODEL_VAE ? "the latent means of test images (shown at both ends)" : "the codes of test images (shown at both ends)")
                     : "random latents z ~ N(0,1)", o.out);
    code = 0;
    goto done;
fail:
    fprintf(stderr, "nanogen: %s\n", ng_last_error());
done:
    free(grid);
    ng_images_free(&te);
    ng_model_free(m);
    return code;
}

/* ------------------------------------------------------------------ eval */
int cli_eval_images(const cli_eval_opts *o, const cli_cmd *cmd, const cli_args *a) {
    static const char *const text_only[] = {"--batch-size", "--block-size", "--skip-unknown"};
    int rc = text_flag_given(cmd, a, text_only, 3, o->dir);
    if (rc) return rc;
    cli_set_threads(o->threads);
    ng_model *m = NULL;
    ng_image_train_info ti;
    ng_images te = {0};
    int code = 1;
    const uint64_t seed = o->seed;
    if (ng_image_model_load(o->dir, "eval", &m, &ti)) goto fail;
    const ng_model_config *c = ng_model_cfg(m);
    const size_t D = (size_t)c->c * c->h * c->w;
    const char *spec, *kind = ng_model_kind_name(c->kind);
    if (ng_image_test_load(m, &ti, o->data, &te, &spec)) goto fail;
    if (o->classifier && c->kind != NG_MODEL_GAN) { ng_set_error("--classifier measures a GAN's samples (FID); this is a %s", kind); goto fail; }
    if (o->classifier && ng_gan_fid_check(c)) goto fail;
    if (c->kind != NG_MODEL_GAN) {   /* test loss as training computes it: BCE summed over pixels (+ KL for the VAE) */
        double rec, kl;
        if (ng_image_test_loss(m, &te, &ti, seed, &rec, &kl)) goto fail;
        if (c->kind == NG_MODEL_VAE) {
            printf("vae: test loss %.2f nats per image (negative ELBO) on %d test images\n", rec + kl, te.n);
            printf("  reconstruction (BCE summed over %zu pixels) %.2f + KL %.2f (one draw of z per image, seed %llu)%s\n",
                   D, rec, kl, (unsigned long long)seed, c->beta != 1.0f ? "; the training loss weighted KL by --beta" : "");
        } else if (c->kind == NG_MODEL_DAE) {
            printf("dae: test loss %.2f nats per image (BCE summed over pixels, clean image from its %s copy) on %d test images\n",
                   rec, ti.noise_mask ? "masked" : "noisy", te.n);
            printf("  noise %s:%g as in training, seed %llu\n", ti.noise_mask ? "mask" : "gaussian", ti.noise, (unsigned long long)seed);
        } else {
            printf("%s: test loss %.2f nats per image (BCE summed over pixels) on %d test images\n", kind, rec, te.n);
        }
    } else {   /* what the discriminator says (no quality measure), then the classifier FID when asked */
        ng_gan_d_stats st;
        if (ng_gan_d_eval(m, &te, o->n, seed, &st)) goto fail;
        printf("gan: mean D(x) %.4f on %d real test images, mean D(G(z)) %.4f on %d samples (seed %llu)\n",
               st.d_real / st.n_real, st.n_real, st.d_fake / st.n_fake, st.n_fake, (unsigned long long)seed);
        printf("  D calls %.1f%% of the real images real and %.1f%% of the samples fake%s\n",
               100 * st.acc_real / st.n_real, 100 * st.acc_fake / st.n_fake, o->classifier ? "" : " (FID: give --classifier CLF_DIR)");
        if (o->classifier) {
            fflush(stdout);
            code = cli_gan_quality(o->dir, o->classifier, o->n, seed);   /* prints its own report or error */
            goto done;
        }
    }
    code = 0;
    goto done;
fail:
    fprintf(stderr, "nanogen: %s\n", ng_last_error());
done:
    ng_images_free(&te);
    ng_model_free(m);
    return code;
}

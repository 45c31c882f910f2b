/* examples/vae_grid.c - train a variational auto-encoder (VAE) on Fashion-MNIST for one short
 * epoch, then draw new pictures with it and save them as a grid in a PNG.
 *
 * A VAE learns to squeeze each 28x28 picture into a few numbers (its latent code, here 20) and
 * to rebuild the picture from them; trained so that codes drawn at random from N(0, 1) also
 * decode into plausible pictures. So after training, new pictures are just: draw z ~ N(0, 1),
 * run the decoder.
 *
 * Build and run (after make install; the data is Debian's dataset-fashion-mnist package,
 * /usr/share/datasets/fashion-mnist, or a folder of IDX files given as the first argument):
 *   cc vae_grid.c $(pkg-config --cflags --libs nanogen) -o vae_grid && ./vae_grid
 * It writes the checkpoint vae_grid-run/ and the picture vae_grid.png (8 x 8 samples, each
 * drawn twice as large: 466 x 466 pixels) in the current directory, in a few seconds.
 */
#include <nanogen.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what) {
    fprintf(stderr, "vae_grid: %s: %s\n", what, ng_last_error());
    return 1;
}

/* An image run reports every batch (NG_TRAIN_STEP) and each epoch's losses (NG_TRAIN_EPOCH,
 * as the JSON line it adds to vae_grid-run/metrics.jsonl). */
static void on_event(const ng_train_event *e, void *ctx) {
    (void)ctx;
    if (e->kind == NG_TRAIN_STEP && e->step % 10 == 0)
        printf("batch %3ld of %ld: loss %.1f per picture\n", e->step, e->steps, e->loss);
    if (e->kind == NG_TRAIN_EPOCH) printf("epoch %d: %s\n", e->epoch + 1, e->record);
}

int main(int argc, char **argv) {
    enum { N = 64, COLS = 8, ZOOM = 2 };   /* the grid: 64 pictures, 8 a row, twice as large */

    /* the model: SPEC.md's MLP VAE, 784 -> 400 -> 20 (mean and log-variance) -> 400 -> 784.
     * The picture size (1 x 28 x 28) is filled in by the trainer from the data. */
    ng_model_config cfg = {.kind = NG_MODEL_VAE, .hidden = 400, .latent = 20, .beta = 1};

    /* the run: one epoch, cut short to 40 batches of 64 pictures so that it takes seconds */
    ng_train_settings s;
    ng_train_defaults(NG_MODEL_VAE, &s);
    s.data = argc > 1 ? argv[1] : "fashion-mnist";
    s.epochs = 1;
    s.max_batches = 40;
    s.batch_size = 64;
    ng_trainer *t = ng_trainer_create(&cfg, &s, "vae_grid-run", 1);   /* 1: replace an old run */
    if (!t) return fail("create the run");
    ng_trainer_set_callback(t, on_event, NULL);
    if (ng_trainer_run(t) != NG_OK) { ng_trainer_free(t); return fail("train"); }

    /* the trained model stays the trainer's until ng_trainer_free */
    ng_model *m = ng_trainer_model(t);
    const ng_model_config *c = ng_model_cfg(m);

    /* the decoder alone, as a graph over a batch of N codes: fill z, run forward, read images */
    ng_graph *g = ng_graph_new();
    ng_decoder_graph dec;
    if (!g || ng_decoder_build(m, g, N, &dec)) { ng_graph_free(g); ng_trainer_free(t); return fail("decoder"); }
    ng_graph_set_training(g, 0);                     /* evaluation mode */
    ng_rng rng;
    ng_rng_seed(&rng, 1);
    ng_rng_fill_normal(&rng, dec.z->data, dec.z->n);   /* z ~ N(0, 1): N x 20 numbers */
    ng_graph_forward(g);                             /* dec.images: N x (1*28*28), in [0, 1] */

    /* the grid: values in [0, 1] map to black .. white */
    int rc = ng_png_grid("vae_grid.png", dec.images->data, N, c->c, c->h, c->w, COLS, ZOOM, 0.0f, 1.0f);
    if (rc == NG_OK) printf("wrote vae_grid.png: %d samples of %dx%d\n", N, c->w, c->h);
    else fail("write the grid");

    ng_graph_free(g);
    ng_trainer_free(t);
    return rc == NG_OK ? 0 : 1;
}

/* image_dump.c - an image checkpoint's outputs for given inputs, for tests/test_interop_images.py
 * (which compares them with the PyTorch reference models on the same weights).
 * usage: image_dump CKPT IN.safetensors OUT.safetensors
 * IN holds "z" (N, latent) and optionally "x" (M, c*h*w), images in [0,1] (VAE/AE) or [-1,1] (GAN).
 * The model is loaded with ng_checkpoint_load, as every command does, and run in eval mode
 * (BatchNorm with its running statistics). OUT holds:
 *   "images" (N, c, h, w): the decoder / generator at z (VAE/AE: sigmoid of the logits; GAN: tanh);
 *   with x, VAE: "mu" (M, latent), the encoder's mean; VAE/AE: "recon_logits" (M, c*h*w), the
 *   decoder's logits at mu / the code (eps = 0); with x, GAN: "d_logits" (M, 1), the discriminator. */
#include "nanogen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *what) {
    fprintf(stderr, "image_dump: %s: %s\n", what, ng_last_error());
    exit(1);
}

/* Graph of batch B built by build(); fill `in` from src rows, run, copy `out` rows to dst. */
static void run_rows(ng_graph *g, ng_tensor *in, ng_tensor *out, const float *src, float *dst, int n, int B) {
    const int64_t din = in->n / B, dout = out->n / B;
    for (int s = 0; s < n; s += B) {
        int b = n - s < B ? n - s : B;
        memset(in->data, 0, sizeof(float) * (size_t)in->n);
        memcpy(in->data, src + (size_t)s * din, sizeof(float) * (size_t)(din * b));
        ng_graph_forward(g);
        memcpy(dst + (size_t)s * dout, out->data, sizeof(float) * (size_t)(dout * b));
    }
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: image_dump CKPT IN.safetensors OUT.safetensors\n");
        return 2;
    }
    ng_set_threads(1);
    ng_model *m = NULL;
    if (ng_checkpoint_load(argv[1], &m, NULL, NULL)) die(argv[1]);
    const ng_model_config *c = ng_model_cfg(m);
    const int64_t D = (int64_t)c->c * c->h * c->w, Z = c->latent;
    ng_st_file *in = ng_safetensors_open(argv[2]);
    if (!in) die(argv[2]);
    int nd = 0;
    int64_t sh[NG_MAX_DIMS];
    const float *z = ng_st_find(in, "z", &nd, sh);
    if (!z || nd != 2 || sh[1] != Z || sh[0] < 1) { fprintf(stderr, "image_dump: need z (N, %lld)\n", (long long)Z); return 1; }
    const int N = (int)sh[0];
    const float *x = ng_st_find(in, "x", &nd, sh);
    if (x && (nd != 2 || sh[1] != D || sh[0] < 1)) { fprintf(stderr, "image_dump: x must be (M, %lld)\n", (long long)D); return 1; }
    const int M = x ? (int)sh[0] : 0;

    ng_st_tensor outs[3];
    int n_out = 0;
    /* decoder / generator */
    float *img = malloc(sizeof(float) * (size_t)(N * D));
    ng_graph *g = ng_graph_new();
    ng_decoder_graph dg;
    if (!img || !g || ng_decoder_build(m, g, N, &dg)) die("decoder");
    ng_graph_set_training(g, 0);
    run_rows(g, dg.z, dg.images, z, img, N, N);
    ng_graph_free(g);
    outs[n_out++] = (ng_st_tensor){"images", 4, {N, c->c, c->h, c->w}, img};

    float *mu = NULL, *rec = NULL, *dl = NULL;
    if (M && c->kind == NG_MODEL_GAN) {
        dl = malloc(sizeof(float) * (size_t)M);
        int64_t xe[4] = {M, c->c, c->h, c->w};
        g = ng_graph_new();
        ng_tensor *xi = g ? ng_input(g, "x", 4, xe) : NULL, *y = xi ? ng_gan_discriminator(m, g, xi) : NULL;
        if (!dl || !y || ng_graph_finalize(g, y)) die("discriminator");
        ng_graph_set_training(g, 0);
        run_rows(g, xi, y, x, dl, M, M);
        ng_graph_free(g);
        outs[n_out++] = (ng_st_tensor){"d_logits", 2, {M, 1}, dl};
    } else if (M) {
        mu = malloc(sizeof(float) * (size_t)(M * Z));
        rec = malloc(sizeof(float) * (size_t)(M * D));
        g = ng_graph_new();
        ng_ae_graph ag;
        if (!mu || !rec || !g || ng_ae_build(m, g, M, &ag)) die("auto-encoder");
        ng_graph_set_training(g, 0);
        memcpy(ag.x->data, x, sizeof(float) * (size_t)(M * D));
        if (ag.x_in != ag.x) memcpy(ag.x_in->data, x, sizeof(float) * (size_t)(M * D));
        if (ag.eps) memset(ag.eps->data, 0, sizeof(float) * (size_t)ag.eps->n);
        ng_graph_forward(g);
        if (ag.mu) memcpy(mu, ag.mu->data, sizeof(float) * (size_t)(M * Z));
        memcpy(rec, ag.recon_logits->data, sizeof(float) * (size_t)(M * D));
        ng_graph_free(g);
        if (ag.mu) outs[n_out++] = (ng_st_tensor){"mu", 2, {M, Z}, mu};
        outs[n_out++] = (ng_st_tensor){"recon_logits", 2, {M, D}, rec};
    }
    if (ng_safetensors_write(argv[3], outs, n_out, NULL, NULL, 0)) die(argv[3]);
    free(img); free(mu); free(rec); free(dl);
    ng_safetensors_close(in);
    ng_model_free(m);
    return 0;
}

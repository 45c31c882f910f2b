/* fuzz_latent.c - any bytes as a latent file (`nanogen decode --in`, src/io/latent.c): read
 * from a file and parsed from memory (the two must agree); a file that loads has every field
 * in its range and finite values, is written back byte for byte the same, and is decoded by a
 * small AE (latent 2, 1x4x4 pictures) when its shape is that one, refused with a message
 * otherwise. */
#include "fuzz.h"

#include <math.h>

static ng_model *ae;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    ng_set_threads(1);
    ng_model_config c = {.kind = NG_MODEL_AE, .c = 1, .h = 4, .w = 4, .hidden = 3, .latent = 2};
    if (!(ae = ng_model_new(&c))) { fprintf(stderr, "fuzz_latent: %s\n", ng_last_error()); abort(); }
    ng_model_init(ae, 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fz_write("z.lat", data, size);
    ng_latents l, m;
    const int rc = ng_latents_read(path, &l);
    if (rc) FZ_CHECK_ERROR();
    const int rm = ng_latents_parse(data, size, "z.lat", &m);
    if (rm) FZ_CHECK_ERROR();
    FZ_CHECK(rc == rm, "read %d, parsed %d", rc, rm);
    if (rc) {
        FZ_CHECK(!l.z && l.n == 0 && !m.z, "a failed load left latents behind");
        return 0;
    }
    FZ_CHECK(l.n >= 1 && l.n <= NG_LATENT_MAX_COUNT && l.latent >= 1 && l.latent <= 65536 && (int64_t)l.n * l.latent <= NG_LATENT_MAX_VALUES,
             "%d x %d values", l.n, l.latent);
    FZ_CHECK((l.c == 1 || l.c == 3) && l.h >= 1 && l.h <= 4096 && l.w >= 1 && l.w <= 4096, "pictures %dx%dx%d", l.c, l.h, l.w);
    FZ_CHECK((int64_t)size == ng_latents_file_bytes(l.n, l.latent), "%zu bytes for %d x %d values", size, l.n, l.latent);
    for (int64_t i = 0; i < (int64_t)l.n * l.latent; i++) FZ_CHECK(isfinite(l.z[i]), "value %lld is not finite", (long long)i);
    FZ_CHECK(m.n == l.n && m.latent == l.latent && !memcmp(m.z, l.z, sizeof(float) * (size_t)l.n * l.latent), "read and parse differ");
    ng_latents_free(&m);
    /* written back: the same bytes */
    const char *out = fz_write("back.lat", NULL, 0);
    FZ_CHECK(ng_latents_write(out, &l) == NG_OK, "writing back failed: %s", ng_last_error());
    size_t n2 = 0;
    char *back = ng_read_file(out, &n2);
    FZ_CHECK(back && n2 == size && !memcmp(back, data, size), "written back as %zu different bytes", n2);
    free(back);
    /* decoded by the AE when it fits, else refused with a message */
    const int fits = l.latent == 2 && l.c == 1 && l.h == 4 && l.w == 4;
    if (l.n <= 4096 || !fits) {
        float *img = ng_image_decode_latents(ae, &l, "z.lat");
        if (fits) {
            FZ_CHECK(img != NULL, "decoding failed: %s", ng_last_error());
            FZ_CHECK(fz_floats_ok(img, (int64_t)l.n * 16, 0.0f, 1.0f), "decoded pixels outside [0, 1]");
        } else {
            FZ_CHECK(img == NULL, "latents of another shape decoded");
            FZ_CHECK_ERROR();
        }
        free(img);
    }
    ng_latents_free(&l);
    return 0;
}

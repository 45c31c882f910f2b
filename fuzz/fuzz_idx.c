/* fuzz_idx.c - any bytes as an IDX file (raw or gzip, told by its first bytes): the image
 * loader (idx3-ubyte), or the label loader (idx1-ubyte) for a set of images. Input: byte 0
 * picks the loader (bit 0: labels), bytes 1-2 the number of images the labels are for
 * (big-endian, labels only), the rest is the file. A load either fails with a message or
 * gives what the header said, pixels in [0, 1]. */
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    ng_set_threads(1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 3) return 0;
    int labels = data[0] & 1;
    int n_images = (data[1] << 8 | data[2]) + 1;
    const char *path = fz_write("data.idx", data + 3, size - 3);
    if (!labels) {
        ng_images im;
        if (ng_idx_load_images(path, &im)) {
            FZ_CHECK_ERROR();
            FZ_CHECK(!im.pixels && im.n == 0, "a failed load left images behind");
            return 0;
        }
        FZ_CHECK(im.n > 0 && im.c == 1 && im.h > 0 && im.w > 0 && im.pixels, "%d images of %dx%dx%d", im.n, im.c, im.h, im.w);
        int64_t count = (int64_t)im.n * im.h * im.w;
        FZ_CHECK(count <= (int64_t)size * 1100, "%lld pixels from %zu bytes", (long long)count, size);
        FZ_CHECK(fz_floats_ok(im.pixels, count, 0.0f, 1.0f), "pixels outside [0, 1]");
        ng_images_free(&im);
        return 0;
    }
    float pix[1] = {0};
    ng_images im = {0};
    im.n = n_images; im.c = 1; im.h = 1; im.w = 1;
    im.pixels = pix;
    if (ng_idx_load_labels(path, &im)) {
        FZ_CHECK_ERROR();
        FZ_CHECK(im.labels == NULL, "a failed load left labels behind");
        return 0;
    }
    FZ_CHECK(im.labels && im.n_classes >= 1 && im.n_classes <= 256, "%d classes", im.n_classes);
    for (int i = 0; i < im.n; i++) FZ_CHECK(im.labels[i] < im.n_classes, "label %d of %d classes", im.labels[i], im.n_classes);
    free(im.labels);
    return 0;
}

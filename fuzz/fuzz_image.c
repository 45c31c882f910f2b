/* fuzz_image.c - any bytes as a picture in a folder given to the image-folder loader
 * (ng_dataset_load on a folder of PNG/JPEG/BMP/GIF: stb_image decoding, resize, centre crop,
 * grey or RGB). Input: byte 0 = the size asked for (1 + bits 0-5) and the channels (bit 7:
 * RGB), byte 1 picks the file name's extension, the rest is the file. The load either fails
 * with a message naming the file or gives one picture of size x size, values in [0, 1]. */
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    ng_set_threads(1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const char *const names[] = {"pictures/a.png", "pictures/a.jpg", "pictures/a.bmp", "pictures/a.gif"};
    if (size < 2) return 0;
    int px = 1 + (data[0] & 63), channels = data[0] & 0x80 ? 3 : 1;
    int which = data[1] & 3;
    for (int k = 0; k < 4; k++) if (k != which) fz_remove(names[k]);
    fz_write(names[which], data + 2, size - 2);
    char dir[300];
    snprintf(dir, sizeof dir, "%s/pictures", fz_dir());
    ng_images im;
    if (ng_dataset_load(dir, "train", px, channels, &im)) {
        FZ_CHECK_ERROR();
        FZ_CHECK(!im.pixels && im.n == 0, "a failed load left images behind");
        return 0;
    }
    FZ_CHECK(im.n == 1 && im.c == channels && im.h == px && im.w == px && im.pixels && !im.labels,
             "%d pictures of %dx%dx%d", im.n, im.c, im.h, im.w);
    FZ_CHECK(fz_floats_ok(im.pixels, (int64_t)channels * px * px, 0.0f, 1.0f), "pixels outside [0, 1] (or NaN)");
    ng_images_free(&im);
    return 0;
}

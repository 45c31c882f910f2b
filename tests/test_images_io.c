/* test_images_io.c - image data and pictures: Fashion-MNIST through ng_dataset_load (sizes,
 * labels and pixels checked against the raw files), small hand-made IDX files raw and
 * gzipped, a battery of bad IDX files each rejected with a message naming the file and the
 * problem, picture folders (flat and class subfolders; sizes, aspect ratios, crops, colours,
 * the 90/10 split, corrupt pictures, the memory check), and PNG writing and grids read back
 * with stb_image. SHOWERR=1 prints each expected error message. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "nanogen.h"
#include "test.h"

#include <ftw.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#define FMNIST "/usr/share/datasets/fashion-mnist"

static char g_dir[64]; /* scratch directory for this run */

/* Full path of name inside the scratch directory (into out, 512 bytes). */
static char *pth(char *out, const char *name) {
    snprintf(out, 512, "%s/%s", g_dir, name);
    return out;
}

/* Write len raw bytes to path. Returns 0 on success. */
static int write_bytes(const char *path, const void *buf, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = len ? fwrite(buf, 1, len, f) : 0;
    return (fclose(f) == 0 && w == len) ? 0 : -1;
}

/* Write len bytes gzip-compressed (zlib's gzopen). Returns 0 on success. */
static int write_gz(const char *path, const void *buf, size_t len) {
    gzFile g = gzopen(path, "wb");
    if (!g) return -1;
    int w = len ? gzwrite(g, buf, (unsigned)len) : 0;
    return (gzclose(g) == Z_OK && w == (int)len) ? 0 : -1;
}

/* Build an IDX file in memory: magic 00 00 type ndim, dims, then ndata bytes (data, or a
 * pattern when NULL). Returns a malloc'd buffer, its length in *len. */
static unsigned char *make_idx(int type, int ndim, const uint32_t *dims, const unsigned char *data, size_t ndata, size_t *len) {
    *len = 4 + 4 * (size_t)ndim + ndata;
    unsigned char *b = malloc(*len), *p = b;
    *p++ = 0; *p++ = 0; *p++ = (unsigned char)type; *p++ = (unsigned char)ndim;
    for (int i = 0; i < ndim; i++) {
        *p++ = (unsigned char)(dims[i] >> 24); *p++ = (unsigned char)(dims[i] >> 16);
        *p++ = (unsigned char)(dims[i] >> 8); *p++ = (unsigned char)dims[i];
    }
    for (size_t i = 0; i < ndata; i++) p[i] = data ? data[i] : (unsigned char)(i * 7 + 3);
    return b;
}

/* Write an IDX file (raw, or gzipped when gz). Returns 0 on success. */
static int write_idx(const char *path, int gz, int type, int ndim, const uint32_t *dims, const unsigned char *data, size_t ndata) {
    size_t len;
    unsigned char *b = make_idx(type, ndim, dims, data, ndata, &len);
    int rc = gz ? write_gz(path, b, len) : write_bytes(path, b, len);
    free(b);
    return rc;
}

/* Loading images must fail, the error must name the file and contain `expect`, and the
 * output must be left empty. */
static void expect_img_reject(const char *path, const char *expect, const char *label) {
    ng_images im;
    memset(&im, 0x5a, sizeof im);
    int rc = ng_idx_load_images(path, &im);
    const char *e = ng_last_error();
    if (getenv("SHOWERR")) fprintf(stderr, "  %s\n", e);
    CHECK(rc == NG_ERR, "%s: bad file was accepted", label);
    CHECK(strstr(e, path) != NULL, "%s: error does not name the file: %s", label, e);
    CHECK(strstr(e, expect) != NULL, "%s: error '%s' lacks '%s'", label, e, expect);
    CHECK(im.pixels == NULL && im.n == 0, "%s: output not left empty", label);
    ng_images_free(&im);
}

/* ng_dataset_load must fail with an error containing `name` and `expect`. */
static void expect_ds_reject(const char *spec, const char *split, int size, int ch, const char *name,
                             const char *expect, const char *label) {
    ng_images im;
    int rc = ng_dataset_load(spec, split, size, ch, &im);
    const char *e = ng_last_error();
    if (getenv("SHOWERR")) fprintf(stderr, "  %s\n", e);
    CHECK(rc == NG_ERR, "%s: accepted", label);
    CHECK(!name || strstr(e, name) != NULL, "%s: error does not name '%s': %s", label, name, e);
    CHECK(strstr(e, expect) != NULL, "%s: error '%s' lacks '%s'", label, e, expect);
    CHECK(im.pixels == NULL && im.labels == NULL && im.n == 0, "%s: output not left empty", label);
    ng_images_free(&im);
}

/* Smallest and largest of n floats. */
static void minmax(const float *x, size_t n, float *lo, float *hi) {
    *lo = INFINITY; *hi = -INFINITY;
    for (size_t i = 0; i < n; i++) { if (x[i] < *lo) *lo = x[i]; if (x[i] > *hi) *hi = x[i]; }
}

/* ------------------------------------------------------------------ Fashion-MNIST */

/* Compare the first `count` pixels of im with the raw bytes of a gzipped IDX file. */
static int same_as_raw(const char *gzpath, const ng_images *im, size_t skip_images, size_t count) {
    gzFile g = gzopen(gzpath, "rb");
    if (!g) return 0;
    unsigned char *b = malloc(count);
    gzseek(g, 16 + (z_off_t)(skip_images * 784), SEEK_SET);
    int ok = gzread(g, b, (unsigned)count) == (int)count;
    for (size_t i = 0; ok && i < count; i++) ok = im->pixels[skip_images * 784 + i] == b[i] / 255.0f;
    free(b);
    gzclose(g);
    return ok;
}

static void test_fashion_mnist(void) {
    struct stat st;
    if (stat(FMNIST, &st) != 0) {
        SKIP(18, "dataset-fashion-mnist is not installed (/usr/share/datasets/fashion-mnist)");   /* the CHECKs below */
        return;
    }
    ng_images tr, te;
    CHECK(ng_dataset_load("fashion-mnist", "train", 0, 0, &tr) == NG_OK, "%s", ng_last_error());
    CHECK(tr.n == 60000 && tr.c == 1 && tr.h == 28 && tr.w == 28, "train shape %d %d %d %d", tr.n, tr.c, tr.h, tr.w);
    CHECK(tr.n_classes == 10 && tr.labels != NULL, "train classes %d", tr.n_classes);
    if (tr.labels && tr.n == 60000) {
        /* first labels of train-labels-idx1-ubyte (zcat | od): 9 0 0 3 0 2 7 2 5 5 */
        static const uint8_t first[10] = {9, 0, 0, 3, 0, 2, 7, 2, 5, 5};
        CHECK(memcmp(tr.labels, first, 10) == 0, "first train labels %d %d %d %d", tr.labels[0], tr.labels[1], tr.labels[2], tr.labels[3]);
        int hist[10] = {0};
        for (int i = 0; i < tr.n; i++) hist[tr.labels[i] < 10 ? tr.labels[i] : 0]++;
        int balanced = 1;
        for (int k = 0; k < 10; k++) balanced &= hist[k] == 6000;
        CHECK(balanced, "train classes are not 6000 each (class 0: %d)", hist[0]);
        float lo, hi;
        minmax(tr.pixels, (size_t)tr.n * 784, &lo, &hi);
        CHECK(lo == 0.0f && hi == 1.0f, "train pixel range [%g, %g]", lo, hi);
        CHECK(same_as_raw(FMNIST "/train-images-idx3-ubyte.gz", &tr, 0, 784 * 3), "first train images differ from the raw bytes");
        CHECK(same_as_raw(FMNIST "/train-images-idx3-ubyte.gz", &tr, 59999, 784), "last train image differs from the raw bytes");
        CHECK(((uintptr_t)tr.pixels & 63) == 0, "pixels not 64-byte aligned");
    }
    ng_images_free(&tr);
    CHECK(tr.pixels == NULL && tr.labels == NULL && tr.n == 0, "ng_images_free does not clear");
    ng_images_free(&tr); /* twice is fine */
    ng_images_free(NULL);

    CHECK(ng_dataset_load("fashion-mnist", "test", 0, 0, &te) == NG_OK, "%s", ng_last_error());
    CHECK(te.n == 10000 && te.c == 1 && te.h == 28 && te.w == 28 && te.n_classes == 10, "test shape %d", te.n);
    if (te.labels && te.n == 10000) {
        static const uint8_t first[4] = {9, 2, 1, 1};
        CHECK(memcmp(te.labels, first, 4) == 0, "first test labels %d %d %d %d", te.labels[0], te.labels[1], te.labels[2], te.labels[3]);
        float lo, hi;
        minmax(te.pixels, (size_t)te.n * 784, &lo, &hi);
        CHECK(lo >= 0.0f && hi <= 1.0f, "test pixel range [%g, %g]", lo, hi);
    }
    ng_images_free(&te);
    /* the folder itself works too, as does a single file */
    ng_images a;
    CHECK(ng_dataset_load(FMNIST "/", "test", 0, 0, &a) == NG_OK && a.n == 10000, "folder path: %s", ng_last_error());
    ng_images_free(&a);
    CHECK(ng_idx_load_images(FMNIST "/t10k-images-idx3-ubyte.gz", &a) == NG_OK && a.n == 10000 && !a.labels, "%s", ng_last_error());
    /* labels of the wrong split: count mismatch, images kept */
    int rc = ng_idx_load_labels(FMNIST "/train-labels-idx1-ubyte.gz", &a);
    CHECK(rc == NG_ERR && strstr(ng_last_error(), "60000 labels for 10000 images") && strstr(ng_last_error(), "train-labels"),
          "%s", ng_last_error());
    CHECK(a.pixels && !a.labels && a.n == 10000, "failed label load changed the images");
    ng_images_free(&a);
}

static void test_mnist_name(void) {
    struct stat st;
    /* 2 x 4 checks, which need MNIST to be absent */
    if (stat("/usr/share/datasets/mnist", &st) == 0 || stat("mnist", &st) == 0) {
        SKIP(8, "MNIST is installed (/usr/share/datasets/mnist or ./mnist): the error for a missing dataset is not checked");
        return;
    }
    expect_ds_reject("mnist", "train", 0, 0, "mnist", "not package", "mnist missing");
    expect_ds_reject("mnist", "train", 0, 0, NULL, "dataset-fashion-mnist", "mnist hint");
}

/* ------------------------------------------------------------------ small IDX files */

static void test_idx_small(void) {
    char p[512], q[512], d[512];
    const uint32_t dims[3] = {5, 3, 4};
    unsigned char px[60];
    for (int i = 0; i < 60; i++) px[i] = (unsigned char)(i * 37 % 256);
    px[7] = 255; px[8] = 0;
    const unsigned char lab[5] = {3, 1, 4, 1, 5};
    const uint32_t ldim[1] = {5};
    for (int gz = 0; gz < 2; gz++) {
        /* names deliberately lie about the compression: detection is by content */
        pth(p, gz ? "small-images.raw" : "small-images.gz");
        pth(q, gz ? "small-labels" : "small-labels.gz");
        CHECK(write_idx(p, gz, 8, 3, dims, px, 60) == 0 && write_idx(q, gz, 8, 1, ldim, lab, 5) == 0, "writing");
        ng_images im;
        CHECK(ng_idx_load_images(p, &im) == NG_OK, "gz=%d: %s", gz, ng_last_error());
        CHECK(im.n == 5 && im.c == 1 && im.h == 3 && im.w == 4 && !im.labels && im.n_classes == 0, "gz=%d shape", gz);
        int same = im.pixels != NULL;
        for (int i = 0; same && i < 60; i++) same = im.pixels[i] == px[i] / 255.0f;
        CHECK(same, "gz=%d: pixels differ", gz);
        CHECK(ng_idx_load_labels(q, &im) == NG_OK, "gz=%d: %s", gz, ng_last_error());
        CHECK(im.labels && memcmp(im.labels, lab, 5) == 0 && im.n_classes == 6, "gz=%d labels, classes %d", gz, im.n_classes);
        ng_images_free(&im);
    }
    /* an IDX folder: gzipped train images, raw train labels, raw test images without labels */
    pth(d, "idxdir");
    mkdir(d, 0755);
    pth(p, "idxdir/train-images-idx3-ubyte.gz");
    CHECK(write_idx(p, 1, 8, 3, dims, px, 60) == 0, "writing");
    pth(p, "idxdir/train-labels-idx1-ubyte");
    CHECK(write_idx(p, 0, 8, 1, ldim, lab, 5) == 0, "writing");
    const uint32_t tdims[3] = {2, 3, 4};
    pth(p, "idxdir/t10k-images-idx3-ubyte");
    CHECK(write_idx(p, 0, 8, 3, tdims, px, 24) == 0, "writing");
    ng_images im;
    CHECK(ng_dataset_load(d, "train", 16, 3, &im) == NG_OK, "%s", ng_last_error());
    CHECK(im.n == 5 && im.c == 1 && im.h == 3 && im.w == 4 && im.n_classes == 6 && im.labels && im.labels[4] == 5,
          "idx folder train: n %d c %d classes %d", im.n, im.c, im.n_classes);
    ng_images_free(&im);
    CHECK(ng_dataset_load(d, "test", 16, 3, &im) == NG_OK, "%s", ng_last_error());
    CHECK(im.n == 2 && !im.labels && im.n_classes == 0 && im.pixels[23] == px[23] / 255.0f, "idx folder test: n %d", im.n);
    ng_images_free(&im);
    /* a folder with train files only: the test split is missing */
    pth(d, "idxtrain");
    mkdir(d, 0755);
    pth(p, "idxtrain/train-images-idx3-ubyte");
    CHECK(write_idx(p, 0, 8, 3, dims, px, 60) == 0, "writing");
    expect_ds_reject(d, "test", 16, 1, d, "t10k-images-idx3-ubyte", "idx folder without test files");
    /* bad labels in an IDX folder: the whole load fails */
    pth(p, "idxtrain/train-labels-idx1-ubyte");
    const uint32_t l4[1] = {4};
    CHECK(write_idx(p, 0, 8, 1, l4, lab, 4) == 0, "writing");
    expect_ds_reject(d, "train", 16, 1, p, "4 labels for 5 images", "idx folder with a short label file");
}

/* ------------------------------------------------------------------ bad IDX files */

static void test_idx_bad(void) {
    char p[512], q[512];
    const uint32_t dims[3] = {5, 3, 4};
    size_t len;
    unsigned char *good = make_idx(8, 3, dims, NULL, 60, &len);
    unsigned char buf[256];

    memcpy(buf, good, len); buf[0] = 0x12; buf[1] = 0x34;
    write_bytes(pth(p, "bad_magic"), buf, len);
    expect_img_reject(p, "not an IDX file", "wrong magic");
    memcpy(buf, good, len); buf[2] = 0x0D;
    write_bytes(pth(p, "bad_dtype"), buf, len);
    expect_img_reject(p, "data type 0x0d (float)", "wrong dtype byte");
    const uint32_t one[1] = {60};
    write_idx(pth(p, "bad_ndim"), 0, 8, 1, one, NULL, 60);
    expect_img_reject(p, "has 1 dimension ", "labels given as images");
    const uint32_t zero[3] = {5, 0, 4};
    write_idx(pth(p, "zero_dim"), 0, 8, 3, zero, NULL, 0);
    expect_img_reject(p, "dimension 1 of 3 is 0", "0 dims");
    const uint32_t huge[3] = {4000000000u, 4000000000u, 4000000000u};
    write_idx(pth(p, "huge_dims"), 0, 8, 3, huge, NULL, 16);
    expect_img_reject(p, "absurd", "absurd dims");
    write_idx(pth(p, "huge_dims.gz"), 1, 8, 3, huge, NULL, 16);
    expect_img_reject(p, "absurd", "absurd dims, gzip");
    write_bytes(pth(p, "truncated"), good, len - 10);
    expect_img_reject(p, "truncated: expected 60 bytes of pixels, found 50", "truncated pixels");
    write_gz(pth(p, "truncated.gz"), good, len - 10);
    expect_img_reject(p, "truncated: expected 60 bytes of pixels, found 50", "truncated pixels, gzip");
    write_bytes(pth(p, "header_only"), good, 16);
    expect_img_reject(p, "found 0", "header only");
    write_bytes(pth(p, "short_header"), good, 10);
    expect_img_reject(p, "truncated header", "dims cut off");
    memcpy(buf, good, len); memcpy(buf + len, "xyz", 3);
    write_bytes(pth(p, "trailing"), buf, len + 3);
    expect_img_reject(p, "trailing data: expected 60 bytes of pixels, found 63 (3 extra bytes)", "trailing bytes");
    write_gz(pth(p, "trailing.gz"), buf, len + 3);
    expect_img_reject(p, "trailing data", "trailing bytes, gzip");
    write_bytes(pth(p, "empty"), "", 0);
    expect_img_reject(p, "empty", "empty file");
    write_bytes(pth(p, "three"), good, 3);
    expect_img_reject(p, "too short", "3 bytes");
    expect_img_reject(pth(p, "no_such_file"), "cannot open", "missing file");
    expect_img_reject(g_dir, "not a regular file", "a directory");

    /* corrupt gzip: flipped bytes in the compressed data, a cut-off stream, a bare magic */
    write_gz(pth(q, "good.gz"), good, len);
    size_t glen;
    unsigned char *gz = (unsigned char *)ng_read_file(q, &glen);
    unsigned char *bad = malloc(glen);
    memcpy(bad, gz, glen);
    for (size_t i = 12; i < glen - 8; i += 3) bad[i] ^= 0x5a;
    write_bytes(pth(p, "flipped.gz"), bad, glen);
    expect_img_reject(p, "corrupt gzip data", "corrupt gzip");
    memcpy(bad, gz, glen);
    bad[glen - 6] ^= 0xff; /* the CRC-32 at the end */
    write_bytes(pth(p, "badcrc.gz"), bad, glen);
    expect_img_reject(p, "corrupt gzip data", "gzip checksum");
    write_bytes(pth(p, "cut.gz"), gz, glen / 2);
    expect_img_reject(p, "corrupt gzip data", "cut-off gzip");
    write_bytes(pth(p, "bare.gz"), "\x1f\x8b", 2);
    expect_img_reject(p, "gzip", "gzip magic only");
    write_bytes(pth(p, "garbage.gz"), "\x1f\x8b\x08\x00garbagegarbagegarbage", 25);
    expect_img_reject(p, "gzip", "gzip header then garbage");
    free(bad);
    free(gz);
    free(good);

    /* labels: count mismatch, wrong kind, trailing data; a failure leaves the images alone */
    ng_images im;
    write_idx(pth(p, "imgs"), 0, 8, 3, dims, NULL, 60);
    CHECK(ng_idx_load_images(p, &im) == NG_OK, "%s", ng_last_error());
    const uint32_t six[1] = {6}, five[1] = {5};
    struct { const char *name; int type, ndim; const uint32_t *d; size_t nd; const char *expect; } lb[] = {
        {"lab_count", 8, 1, six, 6, "6 labels for 5 images"},
        {"lab_kind", 8, 3, dims, 60, "label file (idx1-ubyte) has 1"},
        {"lab_type", 0x0C, 1, five, 20, "data type 0x0c (int)"},
        {"lab_short", 8, 1, five, 4, "truncated: expected 5 bytes of labels, found 4"},
        {"lab_long", 8, 1, five, 9, "trailing data"},
    };
    for (size_t i = 0; i < sizeof lb / sizeof lb[0]; i++) {
        write_idx(pth(q, lb[i].name), 0, lb[i].type, lb[i].ndim, lb[i].d, NULL, lb[i].nd);
        int rc = ng_idx_load_labels(q, &im);
        const char *e = ng_last_error();
    if (getenv("SHOWERR")) fprintf(stderr, "  %s\n", e);
        CHECK(rc == NG_ERR && strstr(e, q) && strstr(e, lb[i].expect), "%s: '%s' lacks '%s'", lb[i].name, e, lb[i].expect);
        CHECK(im.labels == NULL && im.n == 5 && im.pixels, "%s: images changed", lb[i].name);
    }
    ng_images_free(&im);
    CHECK(ng_idx_load_labels(q, &im) == NG_ERR && strstr(ng_last_error(), "images before"), "labels without images");

    /* data sets that are not there */
    pth(p, "emptydir");
    mkdir(p, 0755);
    expect_ds_reject(p, "train", 16, 1, p, "no IDX files", "empty folder");
    pth(q, "emptydir/readme.txt");
    write_bytes(q, "hello", 5);
    expect_ds_reject(p, "train", 16, 1, p, "no pictures", "folder with no IDX and no images");
    expect_ds_reject(pth(p, "nowhere"), "train", 16, 1, p, "not found", "missing folder");
    expect_ds_reject(q, "train", 16, 1, q, "is a file", "a file as data set");
    expect_ds_reject(g_dir, "val", 16, 1, "val", "'train' or 'test'", "bad split");
    expect_ds_reject("", "train", 16, 1, NULL, "no data set", "empty spec");
}

/* ------------------------------------------------------------------ picture folders */

/* A w x h RGB picture of one colour, or split in two halves (a|b, along the longer side). */
static unsigned char *picture(int w, int h, const unsigned char a[3], const unsigned char b[3]) {
    unsigned char *px = malloc((size_t)w * h * 3);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            int second = b && (w >= h ? x >= w / 2 : y >= h / 2);
            memcpy(px + ((size_t)y * w + x) * 3, second ? b : a, 3);
        }
    return px;
}

/* Write a solid or two-part picture as PNG (or JPEG when the name says so). 0 on success. */
static int write_picture(const char *path, int w, int h, const unsigned char a[3], const unsigned char b[3]) {
    unsigned char *px = picture(w, h, a, b);
    const char *dot = strrchr(path, '.');
    int ok = (dot && (strcmp(dot, ".jpg") == 0 || strcmp(dot, ".JPG") == 0)) ? stbi_write_jpg(path, w, h, 3, px, 95)
           : (dot && strcmp(dot, ".bmp") == 0) ? stbi_write_bmp(path, w, h, 3, px)
           : stbi_write_png(path, w, h, 3, px, w * 3);
    free(px);
    return ok ? 0 : -1;
}

/* Largest |pixel - want| over the image plane(s) of im's image i, channel k (-1: all c channels
 * against want[c]). */
static float max_dev(const ng_images *im, int i, const float *want) {
    size_t plane = (size_t)im->h * im->w;
    float worst = 0;
    for (int k = 0; k < im->c; k++)
        for (size_t j = 0; j < plane; j++) {
            float d = fabsf(im->pixels[((size_t)i * im->c + k) * plane + j] - want[k]);
            if (d > worst) worst = d;
        }
    return worst;
}

/* Pixel (y, x) of image i, channel k. */
static float px_at(const ng_images *im, int i, int k, int y, int x) {
    return im->pixels[(((size_t)i * im->c + k) * im->h + y) * im->w + x];
}

static void test_picture_folder(void) {
    char d[512], p[512];
    static const unsigned char red[3] = {200, 30, 60}, green[3] = {20, 180, 40}, blue[3] = {10, 20, 230},
        black[3] = {0, 0, 0}, white[3] = {255, 255, 255}, grey[3] = {90, 90, 90};
    pth(d, "flat");
    mkdir(d, 0755);
    /* 12 pictures: names sorted give this order; index 9 is the one test picture */
    struct { const char *name; int w, h; const unsigned char *a, *b; } pics[] = {
        {"a_red.png", 20, 20, red, NULL},         /* 0: solid, resized down */
        {"b_wide.png", 64, 32, black, white},     /* 1: left half black, right white */
        {"c_tall.png", 32, 64, black, white},     /* 2: top half black, bottom white */
        {"d_thirds.png", 48, 16, NULL, NULL},     /* 3: red|green|blue thirds, no resize: crop = green */
        {"e_photo.jpg", 17, 33, blue, NULL},      /* 4: JPEG, odd size, upsampled */
        {"f_grey.png", 16, 16, grey, NULL},       /* 5: grey (written 1-channel below) */
        {"g_rgba.png", 10, 30, NULL, NULL},       /* 6: RGBA (written below) */
        {"h_small.bmp", 5, 7, green, NULL},       /* 7: BMP, upsampled a lot */
        {"i_big.PNG", 300, 200, red, NULL},       /* 8: upper-case extension, large */
        {"j_test.png", 16, 24, green, NULL},      /* 9: the test picture */
        {"k_last.JPG", 40, 40, white, NULL},      /* 10 */
        {"l_last.png", 33, 18, blue, NULL},       /* 11 */
    };
    int np = sizeof pics / sizeof pics[0];
    for (int i = 0; i < np; i++) {
        char rel[64];
        snprintf(rel, sizeof rel, "flat/%s", pics[i].name);
        pth(p, rel);
        if (i == 3) {
            unsigned char *px = picture(48, 16, red, NULL);
            for (int y = 0; y < 16; y++)
                for (int x = 16; x < 48; x++) memcpy(px + (y * 48 + x) * 3, x < 32 ? green : blue, 3);
            CHECK(stbi_write_png(p, 48, 16, 3, px, 48 * 3), "writing %s", p);
            free(px);
        } else if (i == 5) {
            unsigned char g1[256];
            memset(g1, 90, sizeof g1);
            CHECK(stbi_write_png(p, 16, 16, 1, g1, 16), "writing %s", p);
        } else if (i == 6) {
            unsigned char rgba[10 * 30 * 4];
            for (int j = 0; j < 300; j++) { rgba[4 * j] = 200; rgba[4 * j + 1] = 30; rgba[4 * j + 2] = 60; rgba[4 * j + 3] = (unsigned char)j; }
            CHECK(stbi_write_png(p, 10, 30, 4, rgba, 40), "writing %s", p);
        } else {
            CHECK(write_picture(p, pics[i].w, pics[i].h, pics[i].a, pics[i].b) == 0, "writing %s", p);
        }
    }
    write_bytes(pth(p, "flat/notes.txt"), "not a picture", 13);
    write_bytes(pth(p, "flat/.hidden.png"), "junk", 4);
    mkdir(pth(p, "flat/empty_sub"), 0755); /* a subfolder without pictures is no class */

    ng_images im;
    CHECK(ng_dataset_load(d, "train", 16, 3, &im) == NG_OK, "%s", ng_last_error());
    CHECK(im.n == 11 && im.c == 3 && im.h == 16 && im.w == 16 && !im.labels && im.n_classes == 0,
          "flat train: n %d c %d %dx%d", im.n, im.c, im.h, im.w);
    if (im.n == 11) {
        float lo, hi;
        minmax(im.pixels, (size_t)11 * 3 * 256, &lo, &hi);
        CHECK(lo >= 0 && hi <= 1, "range [%g, %g]", lo, hi);
        const float fr[3] = {200 / 255.f, 30 / 255.f, 60 / 255.f}, fg[3] = {20 / 255.f, 180 / 255.f, 40 / 255.f},
                    fb[3] = {10 / 255.f, 20 / 255.f, 230 / 255.f}, fgr[3] = {90 / 255.f, 90 / 255.f, 90 / 255.f},
                    fw[3] = {1, 1, 1};
        CHECK(max_dev(&im, 0, fr) < 1e-3f, "solid red resized: dev %g", max_dev(&im, 0, fr));
        /* wide: resized to 32x16, crop columns 8..23: left half black, right half white */
        CHECK(px_at(&im, 1, 0, 8, 2) < 0.02f && px_at(&im, 1, 1, 8, 13) > 0.98f, "wide crop: %g %g", px_at(&im, 1, 0, 8, 2), px_at(&im, 1, 1, 8, 13));
        CHECK(px_at(&im, 2, 0, 2, 8) < 0.02f && px_at(&im, 2, 2, 13, 8) > 0.98f, "tall crop: %g %g", px_at(&im, 2, 0, 2, 8), px_at(&im, 2, 2, 13, 8));
        CHECK(max_dev(&im, 3, fg) < 1e-6f, "centre third is not green: dev %g", max_dev(&im, 3, fg));
        CHECK(max_dev(&im, 4, fb) < 4 / 255.f, "JPEG blue: dev %g", max_dev(&im, 4, fb));
        CHECK(max_dev(&im, 5, fgr) < 1e-6f, "grey PNG: dev %g", max_dev(&im, 5, fgr));
        CHECK(max_dev(&im, 6, fr) < 1e-3f, "RGBA (alpha dropped): dev %g", max_dev(&im, 6, fr));
        CHECK(max_dev(&im, 7, fg) < 1e-3f, "BMP upsampled: dev %g", max_dev(&im, 7, fg));
        CHECK(max_dev(&im, 8, fr) < 1e-3f, "big .PNG: dev %g", max_dev(&im, 8, fr));
        CHECK(max_dev(&im, 9, fw) < 4 / 255.f, "index 10 (k_last.JPG) is train image 9: dev %g", max_dev(&im, 9, fw));
        CHECK(max_dev(&im, 10, fb) < 1e-3f, "l_last: dev %g", max_dev(&im, 10, fb));
    }
    ng_images_free(&im);
    CHECK(ng_dataset_load(d, "test", 16, 3, &im) == NG_OK, "%s", ng_last_error());
    const float fg[3] = {20 / 255.f, 180 / 255.f, 40 / 255.f};
    CHECK(im.n == 1 && max_dev(&im, 0, fg) < 1e-3f, "flat test: n %d (should be j_test.png, green)", im.n);
    ng_images_free(&im);
    /* grey: luma of the colour */
    CHECK(ng_dataset_load(d, "train", 16, 1, &im) == NG_OK, "%s", ng_last_error());
    CHECK(im.n == 11 && im.c == 1 && im.h == 16, "grey shape");
    if (im.n == 11) {
        const float luma = (0.299f * 200 + 0.587f * 30 + 0.114f * 60) / 255.f, g = 90 / 255.f;
        CHECK(max_dev(&im, 0, &luma) < 1e-3f, "luma of red: dev %g", max_dev(&im, 0, &luma));
        CHECK(max_dev(&im, 5, &g) < 1e-5f, "grey stays grey: dev %g", max_dev(&im, 5, &g));
    }
    ng_images_free(&im);
    /* sizes: 7 (everything downsampled or upsampled), 64 */
    CHECK(ng_dataset_load(d, "train", 7, 3, &im) == NG_OK && im.h == 7 && im.w == 7 && max_dev(&im, 0, fg) > 0.1f &&
          max_dev(&im, 7, fg) < 1e-3f, "size 7: %s", ng_last_error());
    ng_images_free(&im);
    expect_ds_reject(d, "train", 0, 3, d, "size must be", "size 0");
    expect_ds_reject(d, "train", 16, 2, d, "channels must be", "channels 2");

    /* class subfolders: cat (5, dark), dog (6, light), empty (skipped), a nested folder ignored */
    pth(d, "classes");
    mkdir(d, 0755);
    mkdir(pth(p, "classes/cat"), 0755);
    mkdir(pth(p, "classes/dog"), 0755);
    mkdir(pth(p, "classes/empty"), 0755);
    mkdir(pth(p, "classes/cat/nested"), 0755);
    CHECK(write_picture(pth(p, "classes/cat/nested/deep.png"), 8, 8, white, NULL) == 0, "writing");
    for (int i = 0; i < 5; i++) {
        char name[64];
        snprintf(name, sizeof name, "classes/cat/%d.%s", i, i % 2 ? "png" : "jpg");
        CHECK(write_picture(pth(p, name), 20 + i, 30 - i, black, NULL) == 0, "writing");
    }
    for (int i = 0; i < 6; i++) {
        char name[64];
        snprintf(name, sizeof name, "classes/dog/%02d.png", i);
        CHECK(write_picture(pth(p, name), 12 + 3 * i, 16, white, NULL) == 0, "writing");
    }
    CHECK(ng_dataset_load(d, "train", 16, 1, &im) == NG_OK, "%s", ng_last_error());
    CHECK(im.n == 10 && im.n_classes == 2 && im.labels, "classes train: n %d classes %d", im.n, im.n_classes);
    if (im.n == 10 && im.labels) {
        int right = 1;
        for (int i = 0; i < 10; i++) {
            float v = px_at(&im, i, 0, 8, 8);
            right &= im.labels[i] == (i < 5 ? 0 : 1) && (im.labels[i] ? v > 0.97f : v < 0.03f);
        }
        CHECK(right, "labels or pixels do not follow the class folders");
    }
    ng_images_free(&im);
    CHECK(ng_dataset_load(d, "test", 16, 3, &im) == NG_OK, "%s", ng_last_error());
    CHECK(im.n == 1 && im.n_classes == 2 && im.labels && im.labels[0] == 1 && px_at(&im, 0, 1, 3, 3) > 0.97f,
          "classes test: index 9 is dog/04.png");
    ng_images_free(&im);
    /* a loose picture beside class folders */
    CHECK(write_picture(pth(p, "classes/loose.png"), 8, 8, white, NULL) == 0, "writing");
    expect_ds_reject(d, "train", 16, 1, "loose.png", "mixes pictures", "loose picture and classes");
    remove(p);

    /* a GIF (stb_image_write has no GIF writer: a hand-made 1x1 red one), upsampled to 4x4 */
    static const unsigned char gif[] = {
        'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0x80, 0, 0, 0xff, 0, 0, 0, 0, 0,   /* screen, 2-colour table */
        0x2c, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 0x01, 0, 0x3b};                /* image: index 0; end */
    pth(d, "gif");
    mkdir(d, 0755);
    write_bytes(pth(p, "gif/one.GIF"), gif, sizeof gif);
    const float fred[3] = {1, 0, 0};
    CHECK(ng_dataset_load(d, "train", 4, 3, &im) == NG_OK && im.n == 1 && im.h == 4 && max_dev(&im, 0, fred) < 1e-5f,
          "GIF: %s", ng_last_error());
    ng_images_free(&im);

    /* unreadable pictures: random bytes, an empty .jpg; the error names the file */
    pth(d, "broken");
    mkdir(d, 0755);
    for (int i = 0; i < 4; i++) {
        char name[64];
        snprintf(name, sizeof name, "broken/ok%d.png", i);
        CHECK(write_picture(pth(p, name), 8, 8, red, NULL) == 0, "writing");
    }
    unsigned char junk[300];
    for (int i = 0; i < 300; i++) junk[i] = (unsigned char)(i * 131 + 7);
    write_bytes(pth(p, "broken/ok2_random.png"), junk, sizeof junk);
    expect_ds_reject(d, "train", 16, 3, "ok2_random.png", "cannot read image", "random bytes as .png");
    remove(p);
    write_bytes(pth(p, "broken/ok1_empty.jpg"), "", 0);
    expect_ds_reject(d, "train", 16, 3, "ok1_empty.jpg", "cannot read image", "empty .jpg");
    remove(p);
    /* 4 pictures: no test split */
    expect_ds_reject(d, "test", 16, 3, d, "too few for a test split", "4 pictures, test split");
    CHECK(ng_dataset_load(d, "train", 16, 3, &im) == NG_OK && im.n == 4, "4 pictures train: %s", ng_last_error());
    ng_images_free(&im);

    /* the memory check: in a child process, an address-space limit of what is mapped now plus
     * 512 MB; the 11 train pictures of "flat" at 4096x4096x3 need 2.2 GB of floats, more than
     * half of that, so they are refused before anything is decoded. (Skipped where the mapped
     * size is already huge, e.g. under AddressSanitizer.) */
    unsigned long vm_pages = 0;
    FILE *statm = fopen("/proc/self/statm", "r");
    if (statm) { if (fscanf(statm, "%lu", &vm_pages) != 1) vm_pages = 0; fclose(statm); }
    uint64_t vm = (uint64_t)vm_pages * (uint64_t)sysconf(_SC_PAGESIZE);
    if (vm == 0 || vm > (3ull << 30)) {
        printf("mapped size %llu MB\n", (unsigned long long)(vm >> 20));
        SKIP(1, "the mapped size is already over 3 GB (AddressSanitizer?): pictures too large for memory are not checked");
        return;
    }
    pth(d, "flat");
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit rl = {(rlim_t)(vm + (512ull << 20)), (rlim_t)(vm + (512ull << 20))};
        setrlimit(RLIMIT_AS, &rl);
        ng_images big;
        int rc = ng_dataset_load(d, "train", 4096, 3, &big);
        if (getenv("SHOWERR")) fprintf(stderr, "  %s\n", ng_last_error());
        _exit(rc == NG_ERR && strstr(ng_last_error(), "more than half of the memory") && strstr(ng_last_error(), d) ? 0 : 1);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "memory check not hit (status %d)", status);
}

/* ------------------------------------------------------------------ PNG writing */

static void test_png(void) {
    char p[512];
    uint8_t px[2 * 3 * 4];
    for (int i = 0; i < 24; i++) px[i] = (uint8_t)(i * 11);
    static const int chans[3] = {1, 3, 4};
    for (int t = 0; t < 3; t++) {
        int c = chans[t], w = 3, h = 2, gw, gh, gc;
        pth(p, "out.png");
        CHECK(ng_png_write(p, px, w, h, c) == NG_OK, "c=%d: %s", c, ng_last_error());
        unsigned char *back = stbi_load(p, &gw, &gh, &gc, 0);
        CHECK(back && gw == w && gh == h && gc == c && memcmp(back, px, (size_t)w * h * c) == 0, "c=%d: read back differs", c);
        stbi_image_free(back);
    }
    struct stat st;
    CHECK(stat(pth(p, "out.png.tmp"), &st) != 0, "temporary file left behind");
    CHECK(ng_png_write(p, px, 3, 2, 2) == NG_ERR && strstr(ng_last_error(), p), "channels 2: %s", ng_last_error());
    CHECK(ng_png_write(p, px, 0, 2, 3) == NG_ERR && strstr(ng_last_error(), p), "width 0: %s", ng_last_error());
    CHECK(ng_png_write(p, NULL, 3, 2, 3) == NG_ERR, "no pixels");
    const char *nodir = "/nonexistent_dir_ng/x.png";
    CHECK(ng_png_write(nodir, px, 3, 2, 3) == NG_ERR && strstr(ng_last_error(), nodir), "missing folder: %s", ng_last_error());
    CHECK(ng_png_write(g_dir, px, 3, 2, 3) == NG_ERR && strstr(ng_last_error(), g_dir), "a folder as file: %s", ng_last_error());

    /* grid: 8 images 1x28x28, 4 columns, zoom 2 -> 4*56+5*2 = 234 by 2*56+3*2 = 118 */
    enum { N = 8, H = 28, W = 28, Z = 2 };
    float *imgs = malloc(sizeof(float) * N * H * W);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < H * W; j++) imgs[i * H * W + j] = -1.0f + 0.25f * i; /* -1 .. 0.75 */
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) imgs[y * W + x] = (float)(x + y) / (H + W - 2) * 2 - 1; /* image 0: ramp */
    imgs[7 * H * W + 0] = 5.0f;      /* above hi */
    imgs[7 * H * W + 1] = NAN;       /* NaN: lo */
    imgs[6 * H * W + 0] = -3.0f;     /* below lo */
    pth(p, "grid.png");
    CHECK(ng_png_grid(p, imgs, N, 1, H, W, 4, Z, -1.0f, 1.0f) == NG_OK, "%s", ng_last_error());
    int gw = 0, gh = 0, gc = 0;
    unsigned char *g = stbi_load(p, &gw, &gh, &gc, 0);
    CHECK(g && gw == 234 && gh == 118 && gc == 1, "grid %dx%dx%d", gw, gh, gc);
    if (g && gw == 234 && gh == 118 && gc == 1) {
        int ok = 1;
        for (int i = 1; i < N; i++) { /* centre of each constant cell */
            int cx = 2 + (i % 4) * (W * Z + 2) + W, cy = 2 + (i / 4) * (H * Z + 2) + H;
            int want = (int)((0.25f * i) / 2 * 255 + 0.5f);
            ok &= g[cy * gw + cx] == want;
        }
        CHECK(ok, "cell values");
        CHECK(g[0] == 64 && g[gw * 60 + 58] == 64 && g[gw * 117 + 233] == 64 && g[gw * 58 + 100] == 64, "border is not dark grey");
        /* zoom: image 0 pixel (y, x) covers grid (2 + 2y .. +1, 2 + 2x .. +1) */
        int zok = 1;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                int want = (int)(((float)(x + y) / (H + W - 2) * 2 - 1 + 1) / 2 * 255 + 0.5f);
                for (int dy = 0; dy < Z; dy++)
                    for (int dx = 0; dx < Z; dx++) zok &= abs(g[(2 + Z * y + dy) * gw + 2 + Z * x + dx] - want) <= 1;
            }
        CHECK(zok, "ramp image not zoomed correctly");
        int c7x = 2 + 3 * (W * Z + 2), c7y = 2 + (H * Z + 2), c6x = 2 + 2 * (W * Z + 2);
        CHECK(g[c7y * gw + c7x] == 255 && g[c7y * gw + c7x + 2] == 0 && g[c7y * gw + c6x] == 0, "clamping / NaN: %d %d %d",
              g[c7y * gw + c7x], g[c7y * gw + c7x + 2], g[c7y * gw + c6x]);
    }
    stbi_image_free(g);
    /* RGB grid: 3 images, ncol 5 -> 3 columns, 1 row, zoom 1 */
    float rgb[3 * 3 * 4 * 5];
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 3; k++)
            for (int j = 0; j < 20; j++) rgb[(i * 3 + k) * 20 + j] = (k == i) ? 1.0f : 0.0f;
    CHECK(ng_png_grid(p, rgb, 3, 3, 4, 5, 5, 1, 0.0f, 1.0f) == NG_OK, "%s", ng_last_error());
    g = stbi_load(p, &gw, &gh, &gc, 0);
    CHECK(g && gw == 3 * 5 + 4 * 2 && gh == 4 + 2 * 2 && gc == 3, "rgb grid %dx%dx%d", gw, gh, gc);
    if (g && gw == 23 && gh == 8 && gc == 3) {
        const unsigned char *c1 = g + (3 * gw + 2 + 7 + 2) * 3; /* image 1, (1, 2): green */
        CHECK(c1[0] == 0 && c1[1] == 255 && c1[2] == 0, "rgb grid: image 1 is not green");
    }
    stbi_image_free(g);
    CHECK(ng_png_grid(p, imgs, N, 2, H, W, 4, 2, 0, 1) == NG_ERR && strstr(ng_last_error(), p), "c=2: %s", ng_last_error());
    CHECK(ng_png_grid(p, imgs, N, 1, H, W, 4, 2, 1, 1) == NG_ERR && strstr(ng_last_error(), "lo < hi"), "lo == hi: %s", ng_last_error());
    CHECK(ng_png_grid(p, imgs, 0, 1, H, W, 4, 2, 0, 1) == NG_ERR, "n = 0");
    CHECK(ng_png_grid(p, imgs, N, 1, H, W, 0, 2, 0, 1) == NG_ERR, "ncol = 0");
    CHECK(ng_png_grid(p, imgs, N, 1, H, W, 4, 100000, 0, 1) == NG_ERR && strstr(ng_last_error(), "too large"), "huge zoom: %s", ng_last_error());
    free(imgs);
}

/* ------------------------------------------------------------------ main */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st; (void)flag; (void)ftw;
    return remove(path);
}

int main(void) {
    strcpy(g_dir, "/tmp/ng_img_XXXXXX");
    if (!mkdtemp(g_dir)) { perror("mkdtemp"); return 1; }
    RUN(test_fashion_mnist);
    RUN(test_mnist_name);
    RUN(test_idx_small);
    RUN(test_idx_bad);
    RUN(test_picture_folder);
    RUN(test_png);
    nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    TEST_MAIN_END();
}

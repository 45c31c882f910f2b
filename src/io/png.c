/* png.c - writing PNG pictures (stb_image_write) and grids of generated images.
 *
 * Writes are atomic like the checkpoints': the PNG goes to "<path>.tmp", is flushed and
 * fsync'd, then renamed over path (and the directory synced), so a failed write never leaves
 * a half-written picture or damages an old one.
 *
 * Grids: n images (c, h, w), values mapped linearly from [lo, hi] to 0..255 (clamped; NaN
 * counts as lo), laid out row by row in min(ncol, n) columns, every pixel repeated zoom x
 * zoom, with a 2-pixel dark-grey (64) border around and between the cells; cells left over in
 * the last row are border colour.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "core/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stb/stb_image_write.h>

#define PNG_MAX_BYTES (1u << 28)   /* largest raw picture written (stb encodes it all in memory) */
#define GRID_BORDER 2
#define GRID_GREY 64

/* Where stb's encoder writes to: a FILE, and whether every write succeeded. */
typedef struct { FILE *fp; int ok, err; } png_sink;

/* stb_image_write callback: append the encoded bytes to the file, remember failures. */
static void png_put(void *ctx, void *data, int size) {
    png_sink *s = ctx;
    if (!s->ok || size <= 0) return;
    if (fwrite(data, 1, (size_t)size, s->fp) != (size_t)size) { s->ok = 0; s->err = errno; }
}


/* Write w x h pixels of `channels` interleaved bytes as an 8-bit PNG at path, atomically.
 * NG_OK, or NG_ERR + error naming the file (an old file at path is left as it was). */
int ng_png_write(const char *path, const uint8_t *pix, int w, int h, int channels) {
    if (!path || !*path) return ng_set_error("ng_png_write: empty file name");
    if (!pix) return ng_set_error("'%s': no pixels to write", path);
    if (channels != 1 && channels != 3 && channels != 4)
        return ng_set_error("'%s': a PNG is written with 1, 3 or 4 channels, not %d", path, channels);
    if (w <= 0 || h <= 0) return ng_set_error("'%s': bad picture size %dx%d", path, w, h);
    if ((uint64_t)w * (uint64_t)h * (uint64_t)channels > PNG_MAX_BYTES)
        return ng_set_error("'%s': picture too large (%dx%dx%d, more than %u bytes)", path, w, h, channels, PNG_MAX_BYTES);
    ng_atomic_file af;
    if (ng_atomic_open(&af, path)) return NG_ERR;
    png_sink s = {af.fp, 1, 0};
    int ok = 1;
    if (!stbi_write_png_to_func(png_put, &s, w, h, channels, pix, w * channels)) {
        ng_set_error("cannot write '%s': PNG encoding failed (out of memory?)", path);
        ok = 0;
    } else if (!s.ok) {
        ng_set_error("cannot write '%s' (via '%s'): %s", path, af.tmp, strerror(s.err));
        ok = 0;
    }
    return ng_atomic_commit(&af, ok);
}

/* Write n images (c, h, w) as a grid PNG (see the top of the file). NG_OK or NG_ERR + error. */
int ng_png_grid_check(const char *path, int n, int c, int h, int w, int ncol, int zoom) {
    if (!path || !*path) return ng_set_error("ng_png_grid: empty file name");
    if (n <= 0) return ng_set_error("'%s': no images for the grid", path);
    if (c != 1 && c != 3) return ng_set_error("'%s': grid images need 1 or 3 channels, not %d", path, c);
    if (h <= 0 || w <= 0) return ng_set_error("'%s': bad image size %dx%d", path, w, h);
    if (ncol <= 0 || zoom <= 0) return ng_set_error("'%s': columns (%d) and zoom (%d) must be positive", path, ncol, zoom);
    int cols = ncol < n ? ncol : n, rows = (n + cols - 1) / cols;
    int64_t cw = (int64_t)w * zoom, ch = (int64_t)h * zoom;
    int64_t W = cols * (cw + GRID_BORDER) + GRID_BORDER, H = rows * (ch + GRID_BORDER) + GRID_BORDER;
    if (cw > PNG_MAX_BYTES || ch > PNG_MAX_BYTES || W * H * c > PNG_MAX_BYTES)
        return ng_set_error("'%s': grid too large: %d pictures of %dx%d at zoom %d in %d columns would be %lldx%lld pixels, more than "
                            "the %u bytes a picture may have (fewer pictures, a smaller --zoom)", path, n, w, h, zoom, cols,
                            (long long)W, (long long)H, PNG_MAX_BYTES);
    return NG_OK;
}

/* The grid's pixels (W x H x c bytes, malloc'd) after the checks of ng_png_grid_check. */
static uint8_t *grid_pixels(const char *what, const float *imgs, int n, int c, int h, int w, int ncol, int zoom, float lo, float hi,
                            int *Wp, int *Hp) {
    if (ng_png_grid_check(what, n, c, h, w, ncol, zoom)) return NULL;
    if (!imgs) { ng_set_error("'%s': no images for the grid", what); return NULL; }
    if (!isfinite(lo) || !isfinite(hi) || !(lo < hi)) {
        ng_set_error("'%s': value range [%g, %g] must be finite with lo < hi", what, lo, hi);
        return NULL;
    }
    int cols = ncol < n ? ncol : n, rows = (n + cols - 1) / cols;
    int64_t cw = (int64_t)w * zoom, ch = (int64_t)h * zoom;
    int64_t W = cols * (cw + GRID_BORDER) + GRID_BORDER, H = rows * (ch + GRID_BORDER) + GRID_BORDER;
    uint8_t *buf = ng_malloc((size_t)(W * H * c), "grid picture");
    if (!buf) return NULL;
    memset(buf, GRID_GREY, (size_t)(W * H * c));
    float scale = 255.0f / (hi - lo);
    size_t plane = (size_t)h * w;
    for (int i = 0; i < n; i++) {
        const float *im = imgs + (size_t)i * c * plane;
        int64_t ox = GRID_BORDER + (i % cols) * (cw + GRID_BORDER), oy = GRID_BORDER + (i / cols) * (ch + GRID_BORDER);
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int k = 0; k < c; k++) {
                    float v = (im[k * plane + (size_t)y * w + x] - lo) * scale;
                    if (!(v > 0)) v = 0;   /* NaN too */
                    if (v > 255) v = 255;
                    uint8_t b = (uint8_t)(v + 0.5f);
                    for (int dy = 0; dy < zoom; dy++) {
                        uint8_t *row = buf + ((oy + (int64_t)y * zoom + dy) * W + ox + (int64_t)x * zoom) * c + k;
                        for (int dx = 0; dx < zoom; dx++) row[(size_t)dx * c] = b;
                    }
                }
    }
    *Wp = (int)W;
    *Hp = (int)H;
    return buf;
}

int ng_png_grid(const char *path, const float *imgs, int n, int c, int h, int w, int ncol, int zoom, float lo, float hi) {
    int W, H;
    uint8_t *buf = grid_pixels(path, imgs, n, c, h, w, ncol, zoom, lo, hi, &W, &H);
    if (!buf) return NG_ERR;
    int rc = ng_png_write(path, buf, W, H, c);
    free(buf);
    return rc;
}

/* stb_image_write callback: append the encoded bytes to a growing buffer */
typedef struct { uint8_t *p; size_t n, cap; int oom; } png_mem;
static void png_mem_put(void *ctx, void *data, int size) {
    png_mem *m = ctx;
    if (m->oom || size <= 0) return;
    if (m->n + (size_t)size > m->cap) {
        size_t cap = m->cap ? m->cap : 4096;
        while (cap < m->n + (size_t)size) cap *= 2;
        uint8_t *p = realloc(m->p, cap);
        if (!p) { m->oom = 1; return; }
        m->p = p;
        m->cap = cap;
    }
    memcpy(m->p + m->n, data, (size_t)size);
    m->n += (size_t)size;
}

uint8_t *ng_png_grid_encode(const float *imgs, int n, int c, int h, int w, int ncol, int zoom, float lo, float hi, size_t *len) {
    int W, H;
    uint8_t *buf = grid_pixels("picture grid", imgs, n, c, h, w, ncol, zoom, lo, hi, &W, &H);
    if (!buf) return NULL;
    png_mem m = {0};
    int ok = stbi_write_png_to_func(png_mem_put, &m, W, H, c, buf, W * c);
    free(buf);
    if (!ok || m.oom) {
        free(m.p);
        ng_set_error("PNG encoding of a %dx%d picture failed (out of memory?)", W, H);
        return NULL;
    }
    *len = m.n;
    return m.p;
}

/* one byte of a value in [lo, hi] (NaN: 0) */
static uint8_t to_byte(float v, float lo, float scale) {
    float b = (v - lo) * scale;
    if (!(b > 0)) b = 0;
    if (b > 255) b = 255;
    return (uint8_t)(b + 0.5f);
}

int ng_png_write_each(const char *dir, const float *imgs, int n, int c, int h, int w, float lo, float hi, int first, int total) {
    if (!dir || !*dir) return ng_set_error("ng_png_write_each: no folder given");
    if (n < 1 || first < 0 || total < first + n) return ng_set_error("'%s': pictures %d..%d of %d", dir, first, first + n - 1, total);
    if (c != 1 && c != 3) return ng_set_error("'%s': pictures need 1 or 3 channels, not %d", dir, c);
    if (h <= 0 || w <= 0 || (int64_t)h * w * c > PNG_MAX_BYTES) return ng_set_error("'%s': bad picture size %dx%d", dir, w, h);
    if (!isfinite(lo) || !isfinite(hi) || !(lo < hi)) return ng_set_error("'%s': value range [%g, %g] must be finite with lo < hi", dir, lo, hi);
    if (ng_mkdir_p(dir)) return NG_ERR;
    int digits = 4;   /* at most 10: total is an int */
    for (long long t = 10000; t <= total - 1LL && digits < 10; t *= 10) digits++;
    const size_t plane = (size_t)h * w;
    const float scale = 255.0f / (hi - lo);
    uint8_t *buf = ng_malloc(plane * c, "picture");
    size_t len = strlen(dir) + 32;
    char *path = ng_malloc(len, "path");
    int rc = buf && path ? NG_OK : NG_ERR;
    for (int i = 0; rc == NG_OK && i < n; i++) {
        const float *im = imgs + (size_t)i * c * plane;
        for (size_t p = 0; p < plane; p++)
            for (int k = 0; k < c; k++) buf[p * c + k] = to_byte(im[k * plane + p], lo, scale);
        char num[16];
        for (int k = digits - 1, v = first + i; k >= 0; k--, v /= 10) num[k] = (char)('0' + v % 10);
        num[digits] = 0;
        snprintf(path, len, "%s%s%s.png", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", num);
        rc = ng_png_write(path, buf, w, h, c);
    }
    free(buf);
    free(path);
    return rc;
}

/* idx.c - the IDX format of MNIST and Fashion-MNIST, raw or gzip-compressed.
 *
 * Layout: a 4-byte magic 00 00 TT DD (TT = element type, 0x08 for unsigned bytes; DD = number
 * of dimensions), DD big-endian u32 dimensions, then the elements in row-major order. Images
 * are idx3-ubyte (n, h, w); labels are idx1-ubyte (n).
 *
 * Compression is told by the first two bytes (1f 8b), never by the file name. Nothing in the
 * file is trusted: the magic, the type, the number of dimensions, every dimension (non-zero,
 * product at most IDX_MAX_BYTES, computed without overflow) and the data size (exactly the
 * product: short data and trailing bytes are both errors; for gzip, the product must fit in
 * what the compressed size can hold, before anything is allocated) are checked, and zlib's errors
 * (corrupt or cut-off streams, bad checksums) are reported. Every error names the file.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "core/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define IDX_MAX_BYTES 1000000000ull  /* largest data block accepted (1e9 elements) */
#define IDX_CHUNK (1 << 16)          /* bytes read and converted at a time */
#define IDX_TRAIL_CAP (1ull << 26)   /* trailing bytes counted at most in a gzip stream */

/* An open IDX file: either a plain FILE or a zlib stream. */
typedef struct {
    const char *path;  /* borrowed */
    FILE *fp;          /* raw file, or NULL */
    gzFile gz;         /* gzip stream, or NULL */
    uint64_t size;     /* the file's size in bytes (compressed, for gzip) */
    uint64_t pos;      /* bytes of IDX data read so far (decompressed) */
} idx_reader;

/* Open path and find out whether it is gzip. NG_OK, or NG_ERR + error naming the file. */
static int reader_open(idx_reader *r, const char *path) {
    memset(r, 0, sizeof *r);
    r->path = path;
    FILE *fp = fopen(path, "rb");
    if (!fp) return ng_set_error("cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(fp);
        return ng_set_error("'%s' is not a regular file", path);
    }
    if (st.st_size == 0) {
        fclose(fp);
        return ng_set_error("'%s' is empty (an IDX file starts with a 4-byte magic number)", path);
    }
    unsigned char m[2] = {0, 0};
    size_t got = fread(m, 1, 2, fp);
    if (got == 2 && m[0] == 0x1f && m[1] == 0x8b) {
        fclose(fp);
        errno = 0;
        r->gz = gzopen(path, "rb");
        if (!r->gz) return ng_set_error("cannot open '%s' as gzip: %s", path, errno ? strerror(errno) : "out of memory");
        gzbuffer(r->gz, 1 << 17);
        r->size = (uint64_t)st.st_size;
        return NG_OK;
    }
    rewind(fp);
    r->fp = fp;
    r->size = (uint64_t)st.st_size;
    return NG_OK;
}

/* Close the file or stream (safe to call twice). */
static void reader_close(idx_reader *r) {
    if (r->fp) fclose(r->fp);
    if (r->gz) gzclose(r->gz);
    r->fp = NULL;
    r->gz = NULL;
}

/* Read up to n bytes (fewer only at the end of the data). The count, or -1 + error when the
 * file cannot be read or the gzip stream is corrupt or cut off. */
static long long reader_read(idx_reader *r, void *buf, size_t n) {
    if (r->fp) {
        size_t got = fread(buf, 1, n, r->fp);
        if (got < n && ferror(r->fp)) {
            ng_set_error("error reading '%s': %s", r->path, strerror(errno));
            return -1;
        }
        r->pos += got;
        return (long long)got;
    }
    size_t total = 0;
    while (total < n) {
        size_t want = n - total > (1u << 30) ? (1u << 30) : n - total;
        int got = gzread(r->gz, (char *)buf + total, (unsigned)want);
        int err = Z_OK;
        const char *msg = gzerror(r->gz, &err);
        /* a cut-off stream gives a short count plus Z_BUF_ERROR; corruption gives -1 */
        if (got < 0 || (err != Z_OK && err != Z_STREAM_END)) {
            /* zlib's message starts with "<path>: ": drop it, the path comes first anyway */
            size_t pl = strlen(r->path);
            if (msg && strncmp(msg, r->path, pl) == 0 && msg[pl] == ':') msg += pl + 1 + (msg[pl + 1] == ' ');
            if (err == Z_ERRNO) ng_set_error("error reading '%s': %s", r->path, strerror(errno));
            else ng_set_error("'%s': corrupt gzip data (%s) after %llu bytes of IDX data were decompressed",
                              r->path, msg && *msg ? msg : "zlib error",
                              (unsigned long long)(r->pos + total + (got > 0 ? (size_t)got : 0)));
            return -1;
        }
        if (got == 0) break;
        total += (size_t)got;
    }
    r->pos += total;
    return (long long)total;
}

/* Read and check the IDX header: element type 0x08, exactly `want_ndim` dimensions, each
 * non-zero, product <= IDX_MAX_BYTES. Fills dims[] and *count (the product). `kind` names
 * the expected file ("an image file (idx3-ubyte)"). NG_OK or NG_ERR + error. */
static int read_header(idx_reader *r, int want_ndim, const char *kind, uint32_t dims[3], uint64_t *count) {
    unsigned char m[4];
    long long got = reader_read(r, m, 4);
    if (got < 0) return NG_ERR;
    if (got == 0) return ng_set_error("'%s' is empty (an IDX file starts with a 4-byte magic number)", r->path);
    if (got < 4)
        return ng_set_error("'%s': too short to be an IDX file (%lld bytes; the magic number alone is 4)", r->path, got);
    if (m[0] != 0 || m[1] != 0)
        return ng_set_error("'%s' is not an IDX file: bad magic number %02x %02x %02x %02x (%s starts with 00 00 08 %02x)",
                            r->path, m[0], m[1], m[2], m[3], kind, want_ndim);
    if (m[2] != 0x08) {
        const char *tn = m[2] == 0x09 ? "signed byte" : m[2] == 0x0B ? "short" : m[2] == 0x0C ? "int"
                       : m[2] == 0x0D ? "float" : m[2] == 0x0E ? "double" : "unknown";
        return ng_set_error("'%s': unsupported IDX data type 0x%02x (%s); only 0x08 (unsigned byte) is supported",
                            r->path, m[2], tn);
    }
    if (m[3] != want_ndim)
        return ng_set_error("'%s': has %d dimension%s (magic 00 00 08 %02x), but %s has %d",
                            r->path, m[3], m[3] == 1 ? "" : "s", m[3], kind, want_ndim);
    unsigned char d[12];
    got = reader_read(r, d, 4 * (size_t)want_ndim);
    if (got < 0) return NG_ERR;
    if (got < 4 * want_ndim)
        return ng_set_error("'%s': truncated header: expected %d bytes of dimensions, found %lld",
                            r->path, 4 * want_ndim, got);
    for (int i = 0; i < want_ndim; i++) {
        dims[i] = (uint32_t)d[4 * i] << 24 | (uint32_t)d[4 * i + 1] << 16 | (uint32_t)d[4 * i + 2] << 8 | d[4 * i + 3];
        if (dims[i] == 0) return ng_set_error("'%s': dimension %d of %d is 0", r->path, i, want_ndim);
    }
    uint64_t prod = 1;
    for (int i = 0; i < want_ndim; i++) {
        if (prod > IDX_MAX_BYTES / dims[i]) {
            if (want_ndim == 3)
                return ng_set_error("'%s': dimensions %u x %u x %u are absurd (more than the limit of %llu bytes of data)",
                                    r->path, dims[0], dims[1], dims[2], (unsigned long long)IDX_MAX_BYTES);
            return ng_set_error("'%s': %u elements are absurd (more than the limit of %llu)", r->path, dims[0],
                                (unsigned long long)IDX_MAX_BYTES);
        }
        prod *= dims[i];
    }
    *count = prod;
    return NG_OK;
}

/* For a raw file, compare the bytes after the header with `count` before reading anything.
 * what: "pixels" or "labels". NG_OK or NG_ERR + error. */
static int check_raw_size(idx_reader *r, int ndim, uint64_t count, const char *what) {
    if (!r->fp) {
        /* gzip: deflate packs at most 1032 bytes into one, so the compressed size bounds the
         * data; a few bytes claiming a billion pixels are refused before anything is
         * allocated (found by fuzz/fuzz_idx.c) */
        uint64_t most = r->size * 1032 + 1024;
        if (count > most)
            return ng_set_error("'%s': the header claims %llu bytes of %s, more than %llu bytes of gzip data can hold "
                                "(truncated or corrupt file)", r->path, (unsigned long long)count, what,
                                (unsigned long long)r->size);
        return NG_OK;
    }
    uint64_t header = 4 + 4 * (uint64_t)ndim, have = r->size - header;
    if (have < count)
        return ng_set_error("'%s': truncated: expected %llu bytes of %s, found %llu", r->path,
                            (unsigned long long)count, what, (unsigned long long)have);
    if (have > count)
        return ng_set_error("'%s': trailing data: expected %llu bytes of %s, found %llu (%llu extra bytes)", r->path,
                            (unsigned long long)count, what, (unsigned long long)have,
                            (unsigned long long)(have - count));
    return NG_OK;
}

/* Stream exactly `count` data bytes through `sink` in chunks, then make sure nothing follows.
 * sink(ctx, bytes, offset, len) consumes one chunk. NG_OK or NG_ERR + error. */
static int read_data(idx_reader *r, uint64_t count, const char *what,
                     void (*sink)(void *ctx, const unsigned char *b, uint64_t off, size_t len), void *ctx) {
    unsigned char *buf = ng_malloc(IDX_CHUNK, "IDX read buffer");
    if (!buf) return NG_ERR;
    uint64_t done = 0;
    int rc = NG_OK;
    while (done < count) {
        size_t want = count - done < IDX_CHUNK ? (size_t)(count - done) : IDX_CHUNK;
        long long got = reader_read(r, buf, want);
        if (got < 0) { rc = NG_ERR; break; }
        if (got > 0) sink(ctx, buf, done, (size_t)got);
        done += (uint64_t)got;
        if ((size_t)got < want) break;
    }
    if (rc == NG_OK && done < count)
        rc = ng_set_error("'%s': truncated: expected %llu bytes of %s, found %llu", r->path,
                          (unsigned long long)count, what, (unsigned long long)done);
    if (rc == NG_OK) {
        /* anything after the data is an error too: count it (up to a cap for gzip streams) */
        uint64_t extra = 0;
        long long got;
        while (extra < IDX_TRAIL_CAP && (got = reader_read(r, buf, IDX_CHUNK)) > 0) extra += (uint64_t)got;
        if (got < 0) rc = NG_ERR;
        else if (extra > 0)
            rc = ng_set_error("'%s': trailing data: expected %llu bytes of %s, found %s%llu more bytes after them", r->path,
                              (unsigned long long)count, what, extra >= IDX_TRAIL_CAP ? "at least " : "",
                              (unsigned long long)extra);
    }
    free(buf);
    return rc;
}

/* sink for pixels: bytes -> floats in [0, 1] (ctx = the float array). */
static void sink_pixels(void *ctx, const unsigned char *b, uint64_t off, size_t len) {
    float lut[256];   /* b / 255.0f, correctly rounded (a multiply by 1/255 is not) */
    for (int v = 0; v < 256; v++) lut[v] = (float)v / 255.0f;
    float *dst = (float *)ctx + off;
    for (size_t i = 0; i < len; i++) dst[i] = lut[b[i]];
}

/* sink for labels: bytes copied (ctx = the label array). */
static void sink_labels(void *ctx, const unsigned char *b, uint64_t off, size_t len) {
    memcpy((uint8_t *)ctx + off, b, len);
}

/* Load an idx3-ubyte image file into *out (pixels owned by out: ng_images_free). On error
 * *out is left empty (all zero). */
int ng_idx_load_images(const char *path, ng_images *out) {
    if (!out) return ng_set_error("ng_idx_load_images: no output given");
    memset(out, 0, sizeof *out);
    if (!path || !*path) return ng_set_error("ng_idx_load_images: empty file name");
    idx_reader r;
    if (reader_open(&r, path)) return NG_ERR;
    uint32_t d[3];
    uint64_t count = 0;
    int rc = read_header(&r, 3, "an image file (idx3-ubyte)", d, &count);
    if (rc == NG_OK) rc = check_raw_size(&r, 3, count, "pixels");
    if (rc == NG_OK) {
        uint64_t need = count * sizeof(float), avail = ng_memory_available();
        if (need > avail / 2)
            rc = ng_set_error("'%s': %u images of %ux%u need %.1f MB as floats, more than half of the memory available (%.1f MB)",
                              path, d[0], d[1], d[2], need / 1e6, avail / 1e6);
    }
    float *pix = NULL;
    if (rc == NG_OK && !(pix = ng_alloc_aligned(count * sizeof(float), path))) rc = NG_ERR;
    if (rc == NG_OK) rc = read_data(&r, count, "pixels", sink_pixels, pix);
    reader_close(&r);
    if (rc != NG_OK) {
        ng_free_aligned(pix);
        return NG_ERR;
    }
    out->n = (int)d[0];
    out->c = 1;
    out->h = (int)d[1];
    out->w = (int)d[2];
    out->pixels = pix;
    return NG_OK;
}

/* Load the idx1-ubyte labels of the images in *im (im->labels, malloc'd and owned by im;
 * im->n_classes = largest label + 1). On error *im is unchanged. */
int ng_idx_load_labels(const char *path, ng_images *im) {
    if (!im || !im->pixels || im->n <= 0)
        return ng_set_error("ng_idx_load_labels: load the images before their labels ('%s')", path ? path : "");
    if (!path || !*path) return ng_set_error("ng_idx_load_labels: empty file name");
    idx_reader r;
    if (reader_open(&r, path)) return NG_ERR;
    uint32_t d[3];
    uint64_t count = 0;
    int rc = read_header(&r, 1, "a label file (idx1-ubyte)", d, &count);
    if (rc == NG_OK && count != (uint64_t)im->n)
        rc = ng_set_error("'%s': %llu labels for %d images (the counts must match)", path,
                          (unsigned long long)count, im->n);
    if (rc == NG_OK) rc = check_raw_size(&r, 1, count, "labels");
    uint8_t *lab = NULL;
    if (rc == NG_OK && !(lab = ng_malloc(count, path))) rc = NG_ERR;
    if (rc == NG_OK) rc = read_data(&r, count, "labels", sink_labels, lab);
    reader_close(&r);
    if (rc != NG_OK) {
        free(lab);
        return NG_ERR;
    }
    int maxl = 0;
    for (uint64_t i = 0; i < count; i++) if (lab[i] > maxl) maxl = lab[i];
    free(im->labels);
    im->labels = lab;
    im->n_classes = maxl + 1;
    return NG_OK;
}

/* Write n grey pictures (h, w) with values in [lo, hi] as an idx3-ubyte file, atomically. */
int ng_idx_write_images(const char *path, const float *imgs, int n, int h, int w, float lo, float hi) {
    if (!path || !*path) return ng_set_error("ng_idx_write_images: empty file name");
    if (!imgs || n < 1 || h < 1 || w < 1) return ng_set_error("'%s': %d pictures of %dx%d to write", path, n, h, w);
    if (!(lo < hi) || hi - lo > 1e30f) return ng_set_error("'%s': value range [%g, %g] must be finite with lo < hi", path, lo, hi);
    const uint32_t dims[3] = {(uint32_t)n, (uint32_t)h, (uint32_t)w};
    uint8_t head[16] = {0, 0, 0x08, 3};
    for (int k = 0; k < 3; k++) {
        head[4 + 4 * k] = (uint8_t)(dims[k] >> 24); head[5 + 4 * k] = (uint8_t)(dims[k] >> 16);
        head[6 + 4 * k] = (uint8_t)(dims[k] >> 8); head[7 + 4 * k] = (uint8_t)dims[k];
    }
    const size_t plane = (size_t)h * w;
    uint8_t *row = ng_malloc(plane, "IDX picture");
    if (!row) return NG_ERR;
    ng_atomic_file af;
    if (ng_atomic_open(&af, path)) { free(row); return NG_ERR; }
    int ok = fwrite(head, 1, sizeof head, af.fp) == sizeof head;
    const float scale = 255.0f / (hi - lo);
    for (int i = 0; ok && i < n; i++) {
        for (size_t p = 0; p < plane; p++) {
            float b = (imgs[(size_t)i * plane + p] - lo) * scale;
            row[p] = !(b > 0) ? 0 : b >= 255 ? 255 : (uint8_t)(b + 0.5f);
        }
        ok = fwrite(row, 1, plane, af.fp) == plane;
    }
    if (!ok) ng_set_error("cannot write '%s' (via '%s'): %s", path, af.tmp, strerror(errno));
    free(row);
    return ng_atomic_commit(&af, ok) || !ok ? NG_ERR : NG_OK;
}

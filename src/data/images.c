/* images.c - image data sets: by name (Debian's packaged ones), a folder of IDX files, or a
 * folder of ordinary pictures.
 *
 * Picture folders work like torchvision's ImageFolder: either the pictures lie directly in
 * the folder (unlabelled), or each subfolder is a class (labels 0.. in subfolder name order;
 * subfolders without pictures are skipped, deeper folders ignored). Pictures are .png .jpg
 * .jpeg .bmp .gif (any case); other files and names starting with '.' are skipped. Files are
 * sorted by name (bytewise; by class first); every 10th (index 9, 19, ...) is a test picture,
 * the rest train. A file must be a PNG, JPEG, BMP or GIF by its first bytes, and claim no more
 * pixels than its size can encode; PNG chunk lengths and JPEG Huffman tables are checked
 * before stb_image sees them (picture_check: Debian's stb_image 2.27 trusts them; each check
 * came from fuzz/fuzz_image.c). Each picture is decoded by stb_image (as RGB, alpha dropped), resized in
 * float so its shorter side is `size` (stb_image_resize's default filters), centre-cropped to
 * size x size, and kept as RGB or turned into luma 0.299 R + 0.587 G + 0.114 B; pixels are
 * floats in [0, 1], layout (n, c, h, w). Decoding runs on all cores (OpenMP).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "core/internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stb/stb_image.h>
#include <stb/stb_image_resize.h>

#define DATASETS_DIR "/usr/share/datasets"
#define MAX_SIZE 4096      /* largest side accepted for pictures resized from a folder */
#define MAX_CLASSES 256    /* labels are bytes */
#define MAX_PIXELS (1 << 27) /* largest picture decoded (128 Mpixels: 1.5 GB as float RGB) */
#define PIXELS_PER_BYTE 8448 /* most pixels a byte of any picture file can hold (> 1032 x 8) */

/* ================================================================ helpers */

/* Release what *im owns and zero it. NULL is fine. */
void ng_images_free(ng_images *im) {
    if (!im) return;
    ng_free_aligned(im->pixels);
    free(im->labels);
    memset(im, 0, sizeof *im);
}

/* "a/b" (malloc'd, caller frees), or NULL + error. */
static char *join(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    char *p = ng_malloc(la + lb + 2, "path");
    if (!p) return NULL;
    memcpy(p, a, la);
    size_t k = la;
    if (k == 0 || p[k - 1] != '/') p[k++] = '/';
    memcpy(p + k, b, lb + 1);
    return p;
}

/* 1 if path exists and is a directory / a regular file (following links). */
static int is_dir(const char *path) { struct stat st; return stat(path, &st) == 0 && S_ISDIR(st.st_mode); }
static int is_file(const char *path) { struct stat st; return stat(path, &st) == 0 && S_ISREG(st.st_mode); }

/* 1 if the name ends in a picture extension we decode (case-insensitive). */
static int is_picture_name(const char *name) {
    static const char *const ext[] = {"png", "jpg", "jpeg", "bmp", "gif"};
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name) return 0;
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
        if (strcasecmp(dot + 1, ext[i]) == 0) return 1;
    return 0;
}

/* A growable list of malloc'd strings. */
typedef struct { char **s; int n, cap; } strlist;

static void strlist_free(strlist *l) {
    for (int i = 0; i < l->n; i++) free(l->s[i]);
    free(l->s);
    memset(l, 0, sizeof *l);
}

/* Append a copy of s. NG_OK or NG_ERR + error. */
static int strlist_add(strlist *l, const char *s) {
    if (l->n == l->cap) {
        if (l->cap >= (1 << 29)) return ng_set_error("too many files (more than %d)", l->cap);
        int cap = l->cap ? l->cap * 2 : 64;
        char **ns = realloc(l->s, (size_t)cap * sizeof *ns);
        if (!ns) return ng_set_error("out of memory listing files");
        l->s = ns;
        l->cap = cap;
    }
    if (!(l->s[l->n] = strdup(s))) return ng_set_error("out of memory listing files");
    l->n++;
    return NG_OK;
}

/* qsort comparator: bytewise order of two strings. */
static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* List dir: picture names into pics, subfolder names into dirs (either may be NULL), sorted
 * by name; hidden names skipped. NG_OK or NG_ERR + error naming dir. */
static int list_dir(const char *dir, strlist *pics, strlist *dirs) {
    DIR *d = opendir(dir);
    if (!d) return ng_set_error("cannot open folder '%s': %s", dir, strerror(errno));
    int rc = NG_OK;
    struct dirent *e;
    while (rc == NG_OK && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *full = join(dir, e->d_name);
        if (!full) { rc = NG_ERR; break; }
        if (dirs && is_dir(full)) rc = strlist_add(dirs, e->d_name);
        else if (pics && is_picture_name(e->d_name) && is_file(full)) rc = strlist_add(pics, e->d_name);
        free(full);
    }
    closedir(d);
    if (rc != NG_OK) return rc;
    if (pics && pics->n > 1) qsort(pics->s, (size_t)pics->n, sizeof(char *), cmp_str);
    if (dirs && dirs->n > 1) qsort(dirs->s, (size_t)dirs->n, sizeof(char *), cmp_str);
    return NG_OK;
}

/* ================================================================ IDX folders */

/* The first existing file of DIR/<prefix>-<kind>-idx<d>-ubyte[.gz] (or the "<kind>.idx" spelling
 * some mirrors use), malloc'd; NULL if none (no error set unless out of memory). */
static char *find_idx(const char *dir, const char *prefix, const char *kind, int ndim) {
    static const char *const fmt[] = {"%s-%s-idx%d-ubyte", "%s-%s-idx%d-ubyte.gz", "%s-%s.idx%d-ubyte", "%s-%s.idx%d-ubyte.gz"};
    for (size_t i = 0; i < sizeof fmt / sizeof fmt[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, fmt[i], prefix, kind, ndim);
        char *p = join(dir, name);
        if (!p) return NULL;
        if (is_file(p)) return p;
        free(p);
    }
    return NULL;
}

/* Load split ("train" / "t10k" files) of an IDX folder; labels when their file is there. */
static int load_idx_dir(const char *dir, const char *split, ng_images *out) {
    const char *prefix = strcmp(split, "train") == 0 ? "train" : "t10k";
    char *img = find_idx(dir, prefix, "images", 3);
    if (!img)
        return ng_set_error("'%s' has IDX files but no %s-images-idx3-ubyte[.gz] for the %s split", dir, prefix, split);
    int rc = ng_idx_load_images(img, out);
    free(img);
    if (rc != NG_OK) return rc;
    char *lab = find_idx(dir, prefix, "labels", 1);
    if (lab) {
        rc = ng_idx_load_labels(lab, out);
        free(lab);
        if (rc != NG_OK) ng_images_free(out);
    }
    return rc;
}

/* ================================================================ picture folders */

/* Debian's stb_image (2.27) trusts the symbol counts of a JPEG's Huffman tables: a DHT segment
 * whose 16 counts add up to more than 256 makes it write past its tables (a heap overflow;
 * upstream checks this since 2.28). Found by fuzz/fuzz_image.c. This walks the markers of a
 * JPEG the way stb_image does (segments by their length, entropy-coded data up to the next
 * marker) and checks every DHT segment as stb would read it (bytes past the end read as 0).
 * NULL when the file is safe to hand to stb, else what is wrong. */
static const char *jpeg_check(const unsigned char *p, size_t n) {
    /* a JPEG for stb: FF, any number of FF fill bytes, D8 (SOI) */
    size_t i = 0;
    if (n < 2 || p[0] != 0xFF) return NULL;
    while (i < n && p[i] == 0xFF) i++;
    if (i >= n || p[i] != 0xD8) return NULL;
    i++;
    while (i + 1 < n) {
        if (p[i] != 0xFF) { i++; continue; }            /* stb skips junk between markers */
        unsigned m = p[i + 1];
        if (m == 0xFF) { i++; continue; }               /* fill bytes */
        if (m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD9)) { i += 2; continue; }
        if (i + 3 >= n) break;
        size_t L = (size_t)p[i + 2] << 8 | p[i + 3];
        if (L < 2) return "bad marker segment length";
        if (m == 0xC4) {
            /* as stb: L - 2 bytes of tables, each 1 + 16 counts + that many symbols */
            long long rem = (long long)L - 2;
            size_t q = i + 4;
            while (rem > 0) {
                unsigned sum = 0;
                for (size_t k = 1; k <= 16; k++) sum += q + k < n ? p[q + k] : 0;
                if (sum > 256) return "corrupt JPEG: a Huffman table (DHT) with more than 256 symbols";
                rem -= 17 + (long long)sum;
                q += 17 + sum;
            }
        }
        i += 2 + L;
        if (m == 0xDA) {                                /* entropy-coded data: up to the next marker */
            while (i + 1 < n && !(p[i] == 0xFF && p[i + 1] != 0x00 && !(p[i + 1] >= 0xD0 && p[i + 1] <= 0xD7))) i++;
        }
    }
    return NULL;
}

/* Debian's stb_image (2.27) also trusts a PNG chunk's length: it grows its buffer to hold an
 * IDAT chunk before reading it, so 136 bytes claiming a 1.4 GB chunk made it allocate 2 GB
 * (fuzz/fuzz_image.c). Every chunk up to IEND must fit in the file (stb fails on a chunk cut
 * short anyway, so no picture it can decode is refused). NULL, or what is wrong. */
static const char *png_check(const unsigned char *p, size_t n) {
    size_t i = 8;   /* after the signature */
    while (n - i >= 8) {
        uint32_t len = (uint32_t)p[i] << 24 | (uint32_t)p[i + 1] << 16 | (uint32_t)p[i + 2] << 8 | p[i + 3];
        if (len > n - i - 8) return "corrupt PNG: a chunk claims more bytes than the file holds";
        if (!memcmp(p + i + 4, "IEND", 4)) break;
        i += 8 + (size_t)len;
        if (n - i < 4) break;
        i += 4;   /* CRC */
    }
    return NULL;
}

/* The formats we decode, told by their first bytes (the name's extension only selects files):
 * the rest of stb_image (PSD, TGA, HDR, PIC, PNM) is never reached. NULL when the file is one of
 * them and passes its check, else what is wrong. */
static const char *picture_check(const unsigned char *p, size_t n) {
    static const unsigned char png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    if (n >= 8 && !memcmp(p, png_sig, 8)) return png_check(p, n);
    if (n >= 2 && p[0] == 0xFF) {
        size_t i = 0;
        while (i < n && p[i] == 0xFF) i++;
        if (i < n && p[i] == 0xD8) return jpeg_check(p, n);
    }
    if (n >= 2 && p[0] == 'B' && p[1] == 'M') return NULL;
    if (n >= 6 && !memcmp(p, "GIF8", 4) && (p[4] == '7' || p[4] == '9') && p[5] == 'a') return NULL;
    return n ? "not a PNG, JPEG, BMP or GIF file" : "empty file";
}

/* Decode one picture, resize its shorter side to `size`, centre-crop, write c planes of
 * size*size floats to dst. 0, or -1 with a message (naming the file) in err. */
static int load_picture(const char *path, int size, int c, int min_side, float *dst, char *err, size_t errlen) {
    int w = 0, h = 0, comp = 0;
    size_t len = 0;
    unsigned char *file = (unsigned char *)ng_read_file(path, &len);
    if (!file) {
        snprintf(err, errlen, "%s", ng_last_error());
        return -1;
    }
    const char *bad = len > INT32_MAX ? "file too large" : picture_check(file, len);
    if (bad) {
        snprintf(err, errlen, "cannot read image '%s': %s", path, bad);
        free(file);
        return -1;
    }
    /* refuse decompression bombs before decoding: the header gives the size. No format packs
     * more than PIXELS_PER_BYTE pixels into a byte (1-bit PNG at deflate's best, 1032 x 8), so a
     * small file claiming a large picture is refused too: stb_image allocates the whole picture
     * before it finds the data missing, and a 60-byte BMP of 11000x11000 decoded "successfully"
     * into 2 GB of zeros (fuzz/fuzz_image.c) */
    if (stbi_info_from_memory(file, (int)len, &w, &h, &comp) &&
        ((int64_t)w * h > MAX_PIXELS || (int64_t)w * h > (int64_t)len * PIXELS_PER_BYTE)) {
        snprintf(err, errlen, "image '%s' is too large (%dx%d, more than %lld pixels for a %zu-byte file)", path, w, h,
                 (long long)((int64_t)len * PIXELS_PER_BYTE < MAX_PIXELS ? (int64_t)len * PIXELS_PER_BYTE : MAX_PIXELS), len);
        free(file);
        return -1;
    }
    unsigned char *rgb8 = stbi_load_from_memory(file, (int)len, &w, &h, &comp, 3);
    free(file);
    if (!rgb8) {
        const char *why = stbi_failure_reason();
        snprintf(err, errlen, "cannot read image '%s': %s", path, why ? why : "unknown error");
        return -1;
    }
    if (w < 1 || h < 1) {   /* stb_image decodes a BMP of height 0 (found by fuzz/fuzz_image.c: SIGFPE below) */
        snprintf(err, errlen, "cannot read image '%s': it has no pixels (%dx%d)", path, w, h);
        stbi_image_free(rgb8);
        return -1;
    }
    if (w < min_side || h < min_side) {
        snprintf(err, errlen, "image '%s' is %dx%d: too small (a side under %d pixels; it would be resized to %dx%d)", path, w, h, min_side, size, size);
        stbi_image_free(rgb8);
        return -1;
    }
    /* resized size: shorter side = size, the other in proportion (rounded, at least size) */
    int64_t lw, lh;
    if (w <= h) { lw = size; lh = ((int64_t)h * size + w / 2) / w; if (lh < size) lh = size; }
    else        { lh = size; lw = ((int64_t)w * size + h / 2) / h; if (lw < size) lw = size; }
    if (lw > MAX_SIZE || lh > MAX_SIZE) {   /* a 133-byte 327680x3 BMP resized to 3M x 28 took 22 s (fuzz/fuzz_image.c) */
        snprintf(err, errlen, "image '%s' is %dx%d: too elongated (its longer side would be resized to %lld pixels, over %d)",
                 path, w, h, (long long)(lw > lh ? lw : lh), MAX_SIZE);
        stbi_image_free(rgb8);
        return -1;
    }
    const int rw = (int)lw, rh = (int)lh;
    size_t in_n = (size_t)w * h * 3, out_n = (size_t)rw * rh * 3;
    float *in = malloc(in_n * sizeof(float));
    float *rs = (rw == w && rh == h) ? in : malloc(out_n * sizeof(float));
    if (!in || !rs) {
        snprintf(err, errlen, "out of memory resizing image '%s' (%dx%d)", path, w, h);
        stbi_image_free(rgb8);
        free(in);
        return -1;
    }
    for (size_t i = 0; i < in_n; i++) in[i] = (float)rgb8[i] / 255.0f;
    stbi_image_free(rgb8);
    if (rs != in && !stbir_resize_float(in, w, h, 0, rs, rw, rh, 0, 3)) {
        snprintf(err, errlen, "cannot resize image '%s' (%dx%d to %dx%d)", path, w, h, rw, rh);
        free(in);
        free(rs);
        return -1;
    }
    /* centre crop, planar output; resampling filters may overshoot, so clamp to [0, 1] */
    int x0 = (rw - size) / 2, y0 = (rh - size) / 2;
    size_t plane = (size_t)size * size;
    for (int y = 0; y < size; y++) {
        const float *row = rs + ((size_t)(y0 + y) * rw + x0) * 3;
        for (int x = 0; x < size; x++) {
            const float *p = row + 3 * x;
            if (c == 1) {
                float v = 0.299f * p[0] + 0.587f * p[1] + 0.114f * p[2];
                dst[(size_t)y * size + x] = v < 0 ? 0 : v > 1 ? 1 : v;
            } else {
                for (int k = 0; k < 3; k++) {
                    float v = p[k];
                    dst[k * plane + (size_t)y * size + x] = v < 0 ? 0 : v > 1 ? 1 : v;
                }
            }
        }
    }
    if (rs != in) free(rs);
    free(in);
    return 0;
}

/* Load the split of a picture folder (see the top of the file). NG_OK or NG_ERR + error. */
static int load_picture_dir(const char *dir, const char *split, int size, int channels, ng_images *out) {
    if (size < 1 || size > MAX_SIZE)
        return ng_set_error("'%s': image size must be 1..%d for a folder of pictures, not %d", dir, MAX_SIZE, size);
    if (channels != 1 && channels != 3)
        return ng_set_error("'%s': channels must be 1 (grey) or 3 (RGB) for a folder of pictures, not %d", dir, channels);
    strlist top = {0}, subs = {0}, paths = {0}, classes = {0};
    uint8_t *cls = NULL;       /* class of each entry of paths (labelled folders) */
    int *pick = NULL;          /* indices into paths of the split's pictures */
    int rc = list_dir(dir, &top, &subs);
    /* class subfolders: those holding at least one picture */
    int ncls_cap = 0;
    for (int s = 0; rc == NG_OK && s < subs.n; s++) {
        char *sub = join(dir, subs.s[s]);
        strlist pics = {0};
        if (!sub) { rc = NG_ERR; break; }
        rc = list_dir(sub, &pics, NULL);
        if (rc == NG_OK && pics.n > 0) {
            if (classes.n >= MAX_CLASSES)
                rc = ng_set_error("'%s': more than %d class subfolders hold pictures (labels are bytes)", dir, MAX_CLASSES);
            if (rc == NG_OK) rc = strlist_add(&classes, subs.s[s]);
            for (int i = 0; rc == NG_OK && i < pics.n; i++) {
                char *rel = join(subs.s[s], pics.s[i]);
                if (!rel) { rc = NG_ERR; break; }
                rc = strlist_add(&paths, rel);
                free(rel);
                if (rc == NG_OK && paths.n > ncls_cap) {
                    ncls_cap = paths.cap;
                    uint8_t *nc = realloc(cls, (size_t)ncls_cap);
                    if (!nc) rc = ng_set_error("out of memory listing '%s'", dir);
                    else cls = nc;
                }
                if (rc == NG_OK) cls[paths.n - 1] = (uint8_t)(classes.n - 1);
            }
        }
        strlist_free(&pics);
        free(sub);
    }
    int labelled = classes.n > 0;
    if (rc == NG_OK && labelled && top.n > 0)
        rc = ng_set_error("'%s' mixes pictures ('%s') with class subfolders ('%s/'): put every picture in a class "
                          "subfolder, or none", dir, top.s[0], classes.s[0]);
    for (int i = 0; rc == NG_OK && !labelled && i < top.n; i++) rc = strlist_add(&paths, top.s[i]);
    if (rc == NG_OK && paths.n == 0)
        rc = ng_set_error("'%s' holds no IDX files (train-images-idx3-ubyte[.gz], t10k-images-idx3-ubyte[.gz], ...) and "
                          "no pictures (.png .jpg .jpeg .bmp .gif, directly or in class subfolders)", dir);
    /* the split: every 10th picture is a test picture */
    int test = strcmp(split, "test") == 0, n = 0;
    if (rc == NG_OK && !(pick = ng_malloc((size_t)paths.n * sizeof(int), "picture list"))) rc = NG_ERR;
    for (int i = 0; rc == NG_OK && i < paths.n; i++)
        if ((i % 10 == 9) == test) pick[n++] = i;
    if (rc == NG_OK && n == 0)
        rc = ng_set_error("'%s': %d pictures are too few for a test split (every 10th picture is a test picture)",
                          dir, paths.n);
    size_t per = (size_t)channels * size * size;
    if (rc == NG_OK) {
        uint64_t need = (uint64_t)n * per * sizeof(float), avail = ng_memory_available();
        if (need > avail / 2)
            rc = ng_set_error("'%s': %d pictures of %dx%dx%d need %.1f MB as floats, more than half of the memory "
                              "available (%.1f MB); use a smaller size or fewer pictures",
                              dir, n, channels, size, size, need / 1e6, avail / 1e6);
    }
    if (rc == NG_OK) {
        out->pixels = ng_alloc_aligned((size_t)n * per * sizeof(float), dir);
        if (!out->pixels) rc = NG_ERR;
    }
    if (rc == NG_OK && labelled && !(out->labels = ng_malloc((size_t)n, "labels"))) rc = NG_ERR;
    if (rc == NG_OK) {
        /* decode in parallel; of several failures, report the one first in name order */
        int bad = n;
        char bad_msg[1024] = "";
        #pragma omp parallel for schedule(dynamic)
        for (int j = 0; j < n; j++) {
            char err[1024];
            char *full = join(dir, paths.s[pick[j]]);
            int ok = full && load_picture(full, size, channels, 0, out->pixels + (size_t)j * per, err, sizeof err) == 0;
            if (!full) snprintf(err, sizeof err, "out of memory");
            free(full);
            if (!ok) {
                #pragma omp critical   /* unnamed: a named one would define a global symbol (.gomp_critical_user_NAME) */
                if (j < bad) { bad = j; memcpy(bad_msg, err, sizeof bad_msg); }
            }
        }
        if (bad < n) rc = ng_set_error("%s", bad_msg);
    }
    if (rc == NG_OK) {
        out->n = n;
        out->c = channels;
        out->h = out->w = size;
        if (labelled) {
            for (int j = 0; j < n; j++) out->labels[j] = cls[pick[j]];
            out->n_classes = classes.n;
        }
    } else {
        ng_images_free(out);
    }
    free(pick);
    free(cls);
    strlist_free(&top);
    strlist_free(&subs);
    strlist_free(&paths);
    strlist_free(&classes);
    return rc;
}

int ng_pictures_load(const char *const *paths, int n, int size, int channels, ng_images *out) {
    if (!out) return ng_set_error("ng_pictures_load: no output given");
    memset(out, 0, sizeof *out);
    if (n < 1 || !paths) return ng_set_error("no pictures given");
    if (size < 1 || size > MAX_SIZE) return ng_set_error("pictures: size must be 1..%d, not %d", MAX_SIZE, size);
    if (channels != 1 && channels != 3) return ng_set_error("pictures: channels must be 1 (grey) or 3 (RGB), not %d", channels);
    const size_t per = (size_t)channels * size * size;
    if (ng_memory_check(4.0 * (double)per * n, "the pictures", "give fewer pictures")) return NG_ERR;
    if (!(out->pixels = ng_alloc_aligned((size_t)n * per * sizeof(float), "pictures"))) return NG_ERR;
    const int min_side = size < 8 ? size : 8;
    for (int i = 0; i < n; i++) {
        char err[1024];
        struct stat st;
        if (stat(paths[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            ng_images_free(out);
            return ng_set_error("'%s' is a folder: give picture files (a shell pattern such as '%s/*.png' lists them)", paths[i], paths[i]);
        }
        if (load_picture(paths[i], size, channels, min_side, out->pixels + (size_t)i * per, err, sizeof err)) {
            ng_images_free(out);
            return ng_set_error("%s", err);
        }
    }
    out->n = n; out->c = channels; out->h = out->w = size;
    return NG_OK;
}

/* ================================================================ data sets */

/* Load a data set (see nanogen.h) into *out (owned by out: ng_images_free). On error *out is
 * left empty. */
int ng_dataset_load(const char *spec, const char *split, int size, int channels, ng_images *out) {
    if (!out) return ng_set_error("ng_dataset_load: no output given");
    memset(out, 0, sizeof *out);
    if (!spec || !*spec) return ng_set_error("no data set given (a name such as fashion-mnist, or a folder)");
    if (!split || (strcmp(split, "train") != 0 && strcmp(split, "test") != 0))
        return ng_set_error("data set split must be 'train' or 'test', not '%s'", split ? split : "(null)");
    /* a known name is Debian's packaged copy; otherwise (or if that is not installed) a folder */
    int known = strcmp(spec, "fashion-mnist") == 0 || strcmp(spec, "mnist") == 0;
    char *dir = NULL;
    if (known) {
        char *deb = join(DATASETS_DIR, spec);
        if (!deb) return NG_ERR;
        if (is_dir(deb)) dir = deb;
        else free(deb);
    }
    if (!dir) {
        if (!is_dir(spec)) {
            struct stat st;
            if (strcmp(spec, "fashion-mnist") == 0)
                return ng_set_error("data set 'fashion-mnist' is not installed (no " DATASETS_DIR "/fashion-mnist): "
                                    "install it with `apt-get install dataset-fashion-mnist`");
            if (strcmp(spec, "mnist") == 0)
                return ng_set_error("data set 'mnist' is not installed (no " DATASETS_DIR "/mnist) and Debian does not "
                                    "package it: put the four IDX files (train-images-idx3-ubyte.gz, "
                                    "train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) "
                                    "in a folder and give that folder, or use fashion-mnist "
                                    "(`apt-get install dataset-fashion-mnist`)");
            if (stat(spec, &st) == 0)
                return ng_set_error("data set '%s' is a file: give the folder holding the IDX files or pictures", spec);
            return ng_set_error("data set '%s' not found: not a known name (fashion-mnist, mnist) nor a folder: %s",
                                spec, strerror(errno));
        }
        if (!(dir = strdup(spec))) return ng_set_error("out of memory");
    }
    char *tr = find_idx(dir, "train", "images", 3), *te = find_idx(dir, "t10k", "images", 3);
    int idx = tr || te;
    free(tr);
    free(te);
    int rc = idx ? load_idx_dir(dir, split, out) : load_picture_dir(dir, split, size, channels, out);
    free(dir);
    return rc;
}

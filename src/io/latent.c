/* latent.c - latent files (`nanogen encode` / `decode`): the codes an image model's encoder
 * gives a set of pictures, with the picture shape they decode to. The format (README.md,
 * "Latent files"): a 32-byte header of little-endian fields, then the values:
 *   0  8 bytes  magic "NGLATENT"
 *   8  u32      version (1)
 *  12  u32      count n (pictures, 1 .. 2^24; n x Z at most 2^28 values)
 *  16  u32      latent size Z (1 .. 65536)
 *  20  u32      channels (1 or 3), 24 u32 height, 28 u32 width (1 .. 4096 each)
 *  32  n x Z float32 little-endian, picture after picture; every value finite.
 * The file is exactly 32 + 4 n Z bytes: anything shorter is truncated, anything longer has
 * trailing bytes; both are errors, as is every other field out of its range. */
#include "core/internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define HEADER 32
static const char MAGIC[8] = {'N', 'G', 'L', 'A', 'T', 'E', 'N', 'T'};

void ng_latents_free(ng_latents *l) {
    if (!l) return;
    free(l->z);
    memset(l, 0, sizeof *l);
}

int64_t ng_latents_file_bytes(int n, int latent) { return HEADER + 4 * (int64_t)n * latent; }

static uint32_t get_u32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static void put_u32(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24); }

/* the header's fields in their ranges; NG_OK or NG_ERR + error naming name and the field */
static int check_shape(const char *name, int64_t n, int64_t Z, int64_t c, int64_t h, int64_t w) {
    if (n < 1 || n > NG_LATENT_MAX_COUNT)
        return ng_set_error("'%s': a count of %lld pictures is outside [1, %d]", name, (long long)n, NG_LATENT_MAX_COUNT);
    if (Z < 1 || Z > 65536) return ng_set_error("'%s': a latent size of %lld is outside [1, 65536]", name, (long long)Z);
    if (c != 1 && c != 3) return ng_set_error("'%s': pictures of %lld channels (1 or 3 expected)", name, (long long)c);
    if (h < 1 || h > 4096 || w < 1 || w > 4096)
        return ng_set_error("'%s': a picture size of %lldx%lld is outside 1..4096", name, (long long)h, (long long)w);
    if (n * Z > NG_LATENT_MAX_VALUES)
        return ng_set_error("'%s': %lld pictures x %lld values is more than the %d values a latent file may hold", name,
                            (long long)n, (long long)Z, NG_LATENT_MAX_VALUES);
    return NG_OK;
}

int ng_latents_parse(const uint8_t *p, size_t size, const char *name, ng_latents *out) {
    memset(out, 0, sizeof *out);
    if (size < HEADER)
        return ng_set_error("'%s' is not a latent file: %zu bytes, shorter than the %d-byte header", name, size, HEADER);
    if (memcmp(p, MAGIC, 8))
        return ng_set_error("'%s' is not a latent file (it does not start with \"NGLATENT\"; `nanogen encode` writes them)", name);
    const uint32_t version = get_u32(p + 8);
    if (version != 1) return ng_set_error("'%s': latent file version %u (this nanogen reads version 1)", name, version);
    const int64_t n = get_u32(p + 12), Z = get_u32(p + 16), c = get_u32(p + 20), h = get_u32(p + 24), w = get_u32(p + 28);
    if (check_shape(name, n, Z, c, h, w)) return NG_ERR;
    const int64_t need = ng_latents_file_bytes((int)n, (int)Z);
    if ((uint64_t)size < (uint64_t)need)
        return ng_set_error("'%s' is truncated: %zu bytes, but its header's %lld pictures x %lld values need %lld",
                            name, size, (long long)n, (long long)Z, (long long)need);
    if ((uint64_t)size > (uint64_t)need)
        return ng_set_error("'%s' has %llu trailing bytes after its %lld pictures x %lld values", name,
                            (unsigned long long)(size - (uint64_t)need), (long long)n, (long long)Z);
    float *z = ng_malloc(sizeof(float) * (size_t)(n * Z), "latents");
    if (!z) return NG_ERR;
    for (int64_t i = 0; i < n * Z; i++) {
        const uint32_t u = get_u32(p + HEADER + 4 * i);
        float v;
        memcpy(&v, &u, 4);
        if (!isfinite(v)) {
            free(z);
            return ng_set_error("'%s': value %lld of picture %lld is %s (offset %lld)", name, (long long)(i % Z), (long long)(i / Z),
                                isnan(v) ? "NaN" : "infinite", (long long)(HEADER + 4 * i));
        }
        z[i] = v;
    }
    out->n = (int)n; out->latent = (int)Z; out->c = (int)c; out->h = (int)h; out->w = (int)w;
    out->z = z;
    return NG_OK;
}

int ng_latents_read(const char *path, ng_latents *out) {
    memset(out, 0, sizeof *out);
    struct stat st;
    if (stat(path, &st) != 0) return ng_set_error("cannot open latent file '%s': %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode)) return ng_set_error("'%s' is not a file (a latent file from `nanogen encode` expected)", path);
    const int64_t most = HEADER + 4 * (int64_t)NG_LATENT_MAX_VALUES;
    if ((int64_t)st.st_size > most)
        return ng_set_error("'%s' is %lld bytes: larger than any latent file nanogen reads (%lld)", path, (long long)st.st_size, (long long)most);
    size_t len = 0;
    char *buf = ng_read_file(path, &len);
    if (!buf) return NG_ERR;
    int rc = ng_latents_parse((const uint8_t *)buf, len, path, out);
    free(buf);
    return rc;
}

int ng_latents_write(const char *path, const ng_latents *l) {
    if (!l || !l->z) return ng_set_error("'%s': no latents to write", path);
    if (check_shape(path, l->n, l->latent, l->c, l->h, l->w)) return NG_ERR;
    const size_t nv = (size_t)l->n * l->latent;
    for (size_t i = 0; i < nv; i++)
        if (!isfinite(l->z[i])) return ng_set_error("'%s': latent value %zu of picture %zu is not finite", path, i % l->latent, i / l->latent);
    uint8_t head[HEADER];
    memcpy(head, MAGIC, 8);
    put_u32(head + 8, 1); put_u32(head + 12, (uint32_t)l->n); put_u32(head + 16, (uint32_t)l->latent);
    put_u32(head + 20, (uint32_t)l->c); put_u32(head + 24, (uint32_t)l->h); put_u32(head + 28, (uint32_t)l->w);
    ng_atomic_file af;
    if (ng_atomic_open(&af, path)) return NG_ERR;
    int ok = fwrite(head, 1, HEADER, af.fp) == HEADER;
    uint8_t buf[4096];
    for (size_t i = 0; ok && i < nv;) {
        size_t k = 0;
        for (; k < sizeof buf / 4 && i < nv; k++, i++) {
            uint32_t u;
            memcpy(&u, &l->z[i], 4);
            put_u32(buf + 4 * k, u);
        }
        ok = fwrite(buf, 4, k, af.fp) == k;
    }
    if (!ok) ng_set_error("cannot write '%s' (via '%s'): %s", path, af.tmp, strerror(errno));
    return ng_atomic_commit(&af, ok) || !ok ? NG_ERR : NG_OK;
}

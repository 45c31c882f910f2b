/* safetensors.c - checkpoints in the standard safetensors format.
 *
 * Layout: an 8-byte little-endian u64 header size N, N bytes of UTF-8 JSON (padded with
 * spaces to an 8-byte boundary), then the data buffer. The JSON maps each tensor name to
 * {"dtype": "F32", "shape": [d0, ...], "data_offsets": [begin, end]} (offsets relative to
 * the start of the data buffer), plus an optional "__metadata__" object of string values.
 *
 * Writing: F32 only, tensors contiguous in the order given, atomically (path.tmp, fflush,
 * fsync, rename, fsync of the directory), so a failed write never damages the old file.
 * Reading: nothing in the file is trusted. Sizes, JSON types, dtypes, shapes against
 * data_offsets, bounds, overlaps and duplicate names are all checked before any data is
 * used, with 64-bit arithmetic; F16 and BF16 are converted to F32; I64 (PyTorch's integer
 * buffers) is checked but not loaded.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "core/internal.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ST_MAX_HEADER 100000000ull       /* 100 MB, the reference implementation's limit */
#define ST_MAX_EXACT 9007199254740992.0  /* 2^53: larger JSON numbers are not exact doubles */

/* I64 is read for PyTorch's integer buffers (BatchNorm's num_batches_tracked): it is checked
 * like any tensor but holds no F32 data (ng_st_find gives NULL, ng_st_dtype says "I64"). */
typedef enum { DT_F32 = 0, DT_F16, DT_BF16, DT_I64, DT_COUNT } st_dtype;
static const char *const dtype_name[] = {"F32", "F16", "BF16", "I64"};
static const uint64_t dtype_size[] = {4, 2, 2, 8};

/* One tensor of an open file. */
typedef struct {
    char *name;                    /* malloc'd */
    int ndim;
    int64_t shape[NG_MAX_DIMS];
    int64_t numel;
    st_dtype dtype;                /* dtype in the file (float data is always F32 once loaded) */
    uint64_t begin, end;           /* byte range in the file's data buffer */
    const float *data;             /* F32 values inside ng_st_file.block (NULL for I64) */
} st_entry;

/* One "__metadata__" pair (both malloc'd). */
typedef struct { char *key, *val; } st_kv;

struct ng_st_file {
    int n;                         /* tensors, in header order */
    st_entry *t;
    st_entry **by_name;            /* the same tensors sorted by name, for ng_st_find */
    int n_meta;
    st_kv *meta;                   /* sorted by key */
    float *block;                  /* 64-byte aligned F32 storage of every tensor */
};

/* ================================================================ helpers */

/* 1 when the host is little-endian (then F32 data is copied byte for byte). */
static int host_is_le(void) {
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

/* Byte offset of the first byte of s[0..len) that is not valid UTF-8 or is an ASCII control
 * byte other than tab/newline/carriage return (never allowed raw in JSON); -1 if all fine. */
static long long header_text_check(const unsigned char *s, size_t len) {
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c < 0x80) {
            if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return (long long)i;
            i++;
            continue;
        }
        size_t n;
        uint32_t cp, min;
        if (c >= 0xC2 && c <= 0xDF) { n = 2; cp = c & 0x1F; min = 0x80; }
        else if ((c & 0xF0) == 0xE0) { n = 3; cp = c & 0x0F; min = 0x800; }
        else if (c >= 0xF0 && c <= 0xF4) { n = 4; cp = c & 0x07; min = 0x10000; }
        else return (long long)i;
        if (len - i < n) return (long long)i;
        for (size_t k = 1; k < n; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return (long long)i;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return (long long)i;
        i += n;
    }
    return -1;
}

/* Write "[d0, d1, ...]" into buf (for error messages). */
static void shape_str(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t k = (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < ndim && k < cap; d++)
        k += (size_t)snprintf(buf + k, cap - k, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (k < cap) snprintf(buf + k, cap - k, "]");
}

/* qsort comparators: entries by name, entries by data range, metadata by key. */
static int cmp_entry_name(const void *a, const void *b) {
    return strcmp((*(st_entry *const *)a)->name, (*(st_entry *const *)b)->name);
}
static int cmp_entry_range(const void *a, const void *b) {
    const st_entry *x = *(st_entry *const *)a, *y = *(st_entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}
static int cmp_kv(const void *a, const void *b) {
    return strcmp(((const st_kv *)a)->key, ((const st_kv *)b)->key);
}
static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* strdup that sets an error on failure. Result malloc'd, caller frees. */
static char *st_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = ng_malloc(n, "safetensors string");
    if (p) memcpy(p, s, n);
    return p;
}

/* ================================================================ writing */

/* Append item to obj under key; on failure item is deleted. Returns 1 on success. */
static int add_item(cJSON *obj, const char *key, cJSON *item) {
    if (item && obj && cJSON_AddItemToObject(obj, key, item)) return 1;
    cJSON_Delete(item);
    return 0;
}

/* A cJSON array of exact unsigned integers (raw numbers, so values above 2^31 print as plain
 * integers, never in exponent form). Returns a new array (caller owns) or NULL. */
static cJSON *u64_array(const uint64_t *v, int n) {
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; arr && i < n; i++) {
        char num[24];
        snprintf(num, sizeof num, "%llu", (unsigned long long)v[i]);
        cJSON *item = cJSON_CreateRaw(num);
        if (!item || !cJSON_AddItemToArray(arr, item)) {
            cJSON_Delete(item);
            cJSON_Delete(arr);
            return NULL;
        }
    }
    return arr;
}

/* Check the arguments of ng_safetensors_write before touching the disk. NG_OK or NG_ERR + error. */
static int check_write_args(const char *path, const ng_st_tensor *ts, int n,
                            const char *const *keys, const char *const *vals, int n_meta) {
    if (!path || !*path) return ng_set_error("ng_safetensors_write: empty path");
    if (n < 0 || n_meta < 0 || (n > 0 && !ts) || (n_meta > 0 && (!keys || !vals)))
        return ng_set_error("%s: invalid tensor or metadata list", path);
    for (int i = 0; i < n; i++) {
        const ng_st_tensor *t = &ts[i];
        if (!t->name) return ng_set_error("%s: tensor %d has no name", path, i);
        if (header_text_check((const unsigned char *)t->name, strlen(t->name)) >= 0)
            return ng_set_error("%s: tensor %d: name is not valid UTF-8 text", path, i);
        if (strcmp(t->name, "__metadata__") == 0)
            return ng_set_error("%s: '__metadata__' is reserved and cannot name a tensor", path);
        if (t->ndim < 0 || t->ndim > NG_MAX_DIMS)
            return ng_set_error("%s: tensor '%s': ndim %d outside 0..%d", path, t->name, t->ndim,
                                NG_MAX_DIMS);
        int64_t numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            int64_t v = t->shape[d];
            if (v < 0) return ng_set_error("%s: tensor '%s': negative dim %lld", path, t->name, (long long)v);
            if (v != 0 && numel > INT64_MAX / 4 / v)
                return ng_set_error("%s: tensor '%s': shape too large", path, t->name);
            numel *= v;
        }
        if (numel > 0 && !t->data) return ng_set_error("%s: tensor '%s': data is NULL", path, t->name);
    }
    for (int i = 0; i < n_meta; i++) {
        if (!keys[i] || !vals[i]) return ng_set_error("%s: metadata entry %d is NULL", path, i);
        if (header_text_check((const unsigned char *)keys[i], strlen(keys[i])) >= 0 ||
            header_text_check((const unsigned char *)vals[i], strlen(vals[i])) >= 0)
            return ng_set_error("%s: metadata '%s' is not valid UTF-8 text", path, keys[i]);
    }
    /* duplicate tensor names, then duplicate metadata keys: sort copies of the pointers */
    int most = n > n_meta ? n : n_meta;
    const char **names = ng_malloc((size_t)most * sizeof *names, "name check");
    if (!names) return NG_ERR;
    for (int pass = 0; pass < 2; pass++) {
        int m = pass == 0 ? n : n_meta;
        for (int i = 0; i < m; i++) names[i] = pass == 0 ? ts[i].name : keys[i];
        qsort(names, (size_t)m, sizeof *names, cmp_str);
        for (int i = 1; i < m; i++)
            if (strcmp(names[i - 1], names[i]) == 0) {
                ng_set_error("%s: %s '%s' appears twice", path, pass == 0 ? "tensor" : "metadata key",
                             names[i]);
                free(names);
                return NG_ERR;
            }
    }
    free(names);
    return NG_OK;
}

/* Build the JSON header, padded with spaces to a multiple of 8 bytes. Returns a malloc'd
 * string (caller frees) with its padded length in *len, or NULL + error. */
static char *build_header(const char *path, const ng_st_tensor *ts, int n, const char *const *keys,
                          const char *const *vals, int n_meta, size_t *len) {
    cJSON *root = cJSON_CreateObject();
    int ok = root != NULL;
    if (ok && n_meta > 0) {
        cJSON *meta = cJSON_CreateObject();
        for (int i = 0; meta && i < n_meta; i++)
            if (!cJSON_AddStringToObject(meta, keys[i], vals[i])) { cJSON_Delete(meta); meta = NULL; }
        ok = add_item(root, "__metadata__", meta);
    }
    uint64_t offset = 0;
    for (int i = 0; ok && i < n; i++) {
        const ng_st_tensor *t = &ts[i];
        uint64_t dims[NG_MAX_DIMS], range[2], numel = 1;
        for (int d = 0; d < t->ndim; d++) {
            dims[d] = (uint64_t)t->shape[d];
            numel *= dims[d];
        }
        range[0] = offset;          /* contiguous, in the order given */
        offset += numel * 4;
        range[1] = offset;
        cJSON *e = cJSON_CreateObject();
        ok = e && cJSON_AddStringToObject(e, "dtype", "F32") && add_item(e, "shape", u64_array(dims, t->ndim)) &&
             add_item(e, "data_offsets", u64_array(range, 2));
        if (!ok) cJSON_Delete(e);
        else ok = add_item(root, t->name, e);
    }
    char *json = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (!json) {
        ng_set_error("%s: out of memory building the header", path);
        return NULL;
    }
    size_t jlen = strlen(json), padded = (jlen + 7) / 8 * 8;
    if (padded > ST_MAX_HEADER) {
        ng_set_error("%s: header would be %zu bytes, over the %llu byte limit", path, padded, ST_MAX_HEADER);
        cJSON_free(json);
        return NULL;
    }
    char *header = ng_malloc(padded + 1, "safetensors header");
    if (header) {
        memcpy(header, json, jlen);
        memset(header + jlen, ' ', padded - jlen);
        header[padded] = 0;
        *len = padded;
    }
    cJSON_free(json);
    return header;
}

/* Write n floats as little-endian F32. Returns 0, or -1 with errno set by stdio. */
static int write_f32_le(FILE *fp, const float *x, int64_t n) {
    if (n == 0) return 0;
    if (host_is_le()) return fwrite(x, 4, (size_t)n, fp) == (size_t)n ? 0 : -1;
    unsigned char buf[4096];
    for (int64_t i = 0; i < n;) {
        int64_t m = n - i < 1024 ? n - i : 1024;
        for (int64_t k = 0; k < m; k++) {
            uint32_t u;
            memcpy(&u, &x[i + k], 4);
            for (int b = 0; b < 4; b++) buf[4 * k + b] = (unsigned char)(u >> (8 * b));
        }
        if (fwrite(buf, 4, (size_t)m, fp) != (size_t)m) return -1;
        i += m;
    }
    return 0;
}


/* Write tensors + metadata to path atomically. NG_OK, or NG_ERR + error (old file untouched). */
int ng_safetensors_write(const char *path, const ng_st_tensor *tensors, int n_tensors,
                         const char *const *meta_keys, const char *const *meta_vals, int n_meta) {
    if (check_write_args(path, tensors, n_tensors, meta_keys, meta_vals, n_meta)) return NG_ERR;
    size_t hlen = 0;
    char *header = build_header(path, tensors, n_tensors, meta_keys, meta_vals, n_meta, &hlen);
    if (!header) return NG_ERR;
    ng_atomic_file af;
    if (ng_atomic_open(&af, path)) { free(header); return NG_ERR; }
    FILE *fp = af.fp;
    unsigned char prefix[8];
    for (int b = 0; b < 8; b++) prefix[b] = (unsigned char)((uint64_t)hlen >> (8 * b));
    int ok = fwrite(prefix, 1, 8, fp) == 8 && fwrite(header, 1, hlen, fp) == hlen;
    for (int i = 0; ok && i < n_tensors; i++) {
        int64_t numel = 1;
        for (int d = 0; d < tensors[i].ndim; d++) numel *= tensors[i].shape[d];
        ok = write_f32_le(fp, tensors[i].data, numel) == 0;
    }
    if (!ok) ng_set_error("cannot write '%s' (via '%s'): %s", path, af.tmp, strerror(errno));
    free(header);
    return ng_atomic_commit(&af, ok);
}

/* ================================================================ reading */

/* Read exactly n bytes. NG_OK or NG_ERR + error naming path and what. */
static int read_exact(FILE *fp, void *buf, uint64_t n, const char *path, const char *what) {
    unsigned char *p = buf;
    while (n > 0) {
        size_t want = n > (1u << 30) ? (1u << 30) : (size_t)n;
        size_t got = fread(p, 1, want, fp);
        if (got == 0) {
            if (ferror(fp)) return ng_set_error("%s: error reading the %s: %s", path, what, strerror(errno));
            return ng_set_error("%s: unexpected end of file reading the %s (file changed while reading?)",
                                path, what);
        }
        p += got;
        n -= got;
    }
    return NG_OK;
}

/* Read a JSON number that is an exact non-negative integer (at most 2^53) into *v.
 * Returns 1, or 0 if it is anything else (string, negative, fraction, NaN, huge). */
static int get_uint(const cJSON *item, uint64_t *v) {
    if (!cJSON_IsNumber(item)) return 0;
    double d = item->valuedouble;
    if (!(d >= 0.0 && d <= ST_MAX_EXACT)) return 0;
    uint64_t u = (uint64_t)d;
    if ((double)u != d) return 0;
    *v = u;
    return 1;
}

/* Parse "__metadata__" (an object of string values) into f->meta. NG_OK or NG_ERR + error. */
static int parse_meta(ng_st_file *f, const char *path, const cJSON *m) {
    if (!cJSON_IsObject(m)) return ng_set_error("%s: __metadata__ is not an object", path);
    int n = cJSON_GetArraySize(m);
    f->meta = ng_malloc((size_t)n * sizeof *f->meta, "safetensors metadata");
    if (!f->meta) return NG_ERR;
    for (const cJSON *c = m->child; c; c = c->next) {
        if (!c->string) return ng_set_error("%s: __metadata__ has an entry without a key", path);
        if (!cJSON_IsString(c) || !c->valuestring)
            return ng_set_error("%s: __metadata__ value for '%s' is not a string", path, c->string);
        st_kv *kv = &f->meta[f->n_meta];
        kv->key = st_strdup(c->string);
        kv->val = kv->key ? st_strdup(c->valuestring) : NULL;
        if (!kv->val) { free(kv->key); return NG_ERR; }
        f->n_meta++;
    }
    qsort(f->meta, (size_t)f->n_meta, sizeof *f->meta, cmp_kv);
    for (int i = 1; i < f->n_meta; i++)
        if (strcmp(f->meta[i - 1].key, f->meta[i].key) == 0)
            return ng_set_error("%s: __metadata__ key '%s' appears twice", path, f->meta[i].key);
    return NG_OK;
}

/* Parse one tensor entry e named name into *t, checking it against a data buffer of dsize
 * bytes. NG_OK or NG_ERR + error naming the file, the tensor and the field. */
static int parse_tensor(st_entry *t, const char *path, const char *name, const cJSON *e, uint64_t dsize) {
    if (!cJSON_IsObject(e))
        return ng_set_error("%s: tensor '%s': entry is not an object with dtype, shape and data_offsets",
                            path, name);
    const cJSON *dtype = NULL, *shape = NULL, *offs = NULL;
    for (const cJSON *c = e->child; c; c = c->next) {
        const cJSON **slot = !c->string ? NULL
                           : strcmp(c->string, "dtype") == 0 ? &dtype
                           : strcmp(c->string, "shape") == 0 ? &shape
                           : strcmp(c->string, "data_offsets") == 0 ? &offs : NULL;
        if (!slot) continue; /* unknown fields are ignored, as the reference reader does */
        if (*slot) return ng_set_error("%s: tensor '%s': field \"%s\" appears twice", path, name, c->string);
        *slot = c;
    }
    /* dtype */
    if (!dtype) return ng_set_error("%s: tensor '%s': missing \"dtype\"", path, name);
    if (!cJSON_IsString(dtype) || !dtype->valuestring)
        return ng_set_error("%s: tensor '%s': \"dtype\" is not a string", path, name);
    int dt = -1;
    for (int k = 0; k < DT_COUNT; k++)
        if (strcmp(dtype->valuestring, dtype_name[k]) == 0) dt = k;
    if (dt < 0)
        return ng_set_error("%s: tensor '%s': unsupported dtype '%.32s' (only F32, F16, BF16 and I64 can be read)",
                            path, name, dtype->valuestring);
    t->dtype = (st_dtype)dt;
    /* shape */
    if (!shape) return ng_set_error("%s: tensor '%s': missing \"shape\"", path, name);
    if (!cJSON_IsArray(shape)) return ng_set_error("%s: tensor '%s': \"shape\" is not an array", path, name);
    int nd = cJSON_GetArraySize(shape);
    if (nd > NG_MAX_DIMS)
        return ng_set_error("%s: tensor '%s': shape has %d dims, at most %d are supported", path, name, nd,
                            NG_MAX_DIMS);
    t->ndim = nd;
    t->numel = 1;
    int d = 0;
    for (const cJSON *c = shape->child; c; c = c->next, d++) {
        uint64_t v;
        if (!get_uint(c, &v))
            return ng_set_error("%s: tensor '%s': shape[%d] is not a non-negative integer", path, name, d);
        if (v != 0 && (uint64_t)t->numel > (uint64_t)INT64_MAX / dtype_size[dt] / v)
            return ng_set_error("%s: tensor '%s': shape overflows a 64-bit element count", path, name);
        t->shape[d] = (int64_t)v;
        t->numel *= (int64_t)v;
    }
    char sh[128];
    shape_str(sh, sizeof sh, t->ndim, t->shape);
    /* data_offsets */
    if (!offs) return ng_set_error("%s: tensor '%s': missing \"data_offsets\"", path, name);
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2)
        return ng_set_error("%s: tensor '%s': \"data_offsets\" is not an array of two integers", path, name);
    if (!get_uint(offs->child, &t->begin) || !get_uint(offs->child->next, &t->end))
        return ng_set_error("%s: tensor '%s': \"data_offsets\" are not non-negative integers", path, name);
    unsigned long long b = t->begin, en = t->end, need = (uint64_t)t->numel * dtype_size[dt];
    if (b > en)
        return ng_set_error("%s: tensor '%s': data_offsets [%llu, %llu] end before they begin", path, name, b, en);
    if (en > dsize)
        return ng_set_error("%s: tensor '%s': data_offsets [%llu, %llu] exceed the data size %llu (file truncated?)",
                            path, name, b, en, (unsigned long long)dsize);
    if (en - b != need)
        return ng_set_error("%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes but %s shape %s needs %llu",
                            path, name, b, en, en - b, dtype_name[dt], sh, need);
    t->name = st_strdup(name);
    return t->name ? NG_OK : NG_ERR;
}

/* Parse and validate the whole header (hdr[0..hsize), NUL-terminated) into f, for a data
 * buffer of dsize bytes. NG_OK or NG_ERR + error. */
static int parse_header(ng_st_file *f, const char *path, const char *hdr, size_t hsize, uint64_t dsize) {
    long long bad = header_text_check((const unsigned char *)hdr, hsize);
    if (bad >= 0)
        return ng_set_error("%s: header is not valid UTF-8 JSON text (bad byte 0x%02x at header byte %lld)",
                            path, (unsigned char)hdr[bad], bad);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(hdr, hsize, &end, 0);
    if (!root) {
        size_t at = end && end >= hdr && end <= hdr + hsize ? (size_t)(end - hdr) : 0;
        return ng_set_error("%s: header is not valid JSON (error near header byte %zu of %zu)", path, at, hsize);
    }
    int rc = NG_OK;
    for (const char *p = end; p && p < hdr + hsize; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            rc = ng_set_error("%s: header has unexpected bytes after the JSON (header byte %zu)", path,
                              (size_t)(p - hdr));
            goto done;
        }
    if (!cJSON_IsObject(root)) {
        rc = ng_set_error("%s: header is not a JSON object", path);
        goto done;
    }
    int n = cJSON_GetArraySize(root), seen_meta = 0;
    f->t = ng_malloc((size_t)n * sizeof *f->t, "safetensors tensors");
    f->by_name = ng_malloc((size_t)n * sizeof *f->by_name, "safetensors index");
    if (!f->t || !f->by_name) { rc = NG_ERR; goto done; }
    for (const cJSON *c = root->child; c; c = c->next) {
        if (!c->string) { rc = ng_set_error("%s: header entry without a name", path); goto done; }
        if (strcmp(c->string, "__metadata__") == 0) {
            if (seen_meta++) { rc = ng_set_error("%s: '__metadata__' appears twice", path); goto done; }
            if ((rc = parse_meta(f, path, c)) != NG_OK) goto done;
            continue;
        }
        st_entry *t = &f->t[f->n];
        memset(t, 0, sizeof *t);
        if ((rc = parse_tensor(t, path, c->string, c, dsize)) != NG_OK) goto done;
        f->by_name[f->n] = t;
        f->n++;
    }
    /* duplicate names: adjacent once sorted */
    qsort(f->by_name, (size_t)f->n, sizeof *f->by_name, cmp_entry_name);
    for (int i = 1; i < f->n; i++)
        if (strcmp(f->by_name[i - 1]->name, f->by_name[i]->name) == 0) {
            rc = ng_set_error("%s: tensor '%s' appears twice in the header", path, f->by_name[i]->name);
            goto done;
        }
    /* overlaps: sort the non-empty tensors by range; each must start at or after the end of
     * the previous one (empty tensors hold no bytes and cannot overlap anything) */
    if (f->n > 1) {
        st_entry **r = ng_malloc((size_t)f->n * sizeof *r, "safetensors ranges");
        if (!r) { rc = NG_ERR; goto done; }
        int m = 0;
        for (int i = 0; i < f->n; i++)
            if (f->t[i].end > f->t[i].begin) r[m++] = &f->t[i];
        qsort(r, (size_t)m, sizeof *r, cmp_entry_range);
        for (int i = 1; i < m && rc == NG_OK; i++)
            if (r[i]->begin < r[i - 1]->end)
                rc = ng_set_error("%s: tensors '%s' [%llu, %llu] and '%s' [%llu, %llu] overlap", path, r[i - 1]->name,
                                  (unsigned long long)r[i - 1]->begin, (unsigned long long)r[i - 1]->end, r[i]->name,
                                  (unsigned long long)r[i]->begin, (unsigned long long)r[i]->end);
        free(r);
    }
done:
    cJSON_Delete(root);
    return rc;
}

/* IEEE half (binary16) bits to float, exact (subnormals, infinities and NaN included). */
static float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1Fu, man = h & 0x3FFu, bits;
    if (exp == 0x1F) bits = sign | 0x7F800000u | (man << 13);            /* inf / NaN */
    else if (exp != 0) bits = sign | ((exp + 112) << 23) | (man << 13);   /* normal: bias 15 -> 127 */
    else if (man == 0) bits = sign;                                       /* +-0 */
    else {                                                                /* subnormal: normalise */
        uint32_t e = 113;
        while (!(man & 0x400u)) { man <<= 1; e--; }
        bits = sign | (e << 23) | ((man & 0x3FFu) << 13);
    }
    float x;
    memcpy(&x, &bits, 4);
    return x;
}

/* Convert one tensor's raw little-endian bytes (any alignment) to F32 in out. */
static void convert_to_f32(const st_entry *t, const unsigned char *src, float *out) {
    for (int64_t i = 0; i < t->numel; i++) {
        uint32_t bits;
        if (t->dtype == DT_F32) {
            const unsigned char *p = src + 4 * i;
            bits = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        } else {
            uint16_t h = (uint16_t)(src[2 * i] | src[2 * i + 1] << 8);
            if (t->dtype == DT_F16) { out[i] = f16_to_f32(h); continue; }
            bits = (uint32_t)h << 16; /* BF16 is the top half of an F32 */
        }
        memcpy(&out[i], &bits, 4);
    }
}

/* Read the data of every tensor (dsize bytes follow the header in fp) into f->block.
 * NG_OK or NG_ERR + error. */
static int load_data(ng_st_file *f, const char *path, FILE *fp) {
    uint64_t used = 0, total = 0; /* bytes of the data buffer in use; F32 bytes once loaded */
    int direct = host_is_le();    /* F32 at 4-aligned offsets on a little-endian host: no copy */
    for (int i = 0; i < f->n; i++) {
        if (f->t[i].end > used) used = f->t[i].end;
        if (f->t[i].dtype != DT_I64) total += (uint64_t)f->t[i].numel * 4;
        if (f->t[i].dtype != DT_F32 || f->t[i].begin % 4) direct = 0;
    }
    if (used > SIZE_MAX - 64 || total > SIZE_MAX - 64) return ng_set_error("%s: data too large for memory", path);
    if (direct) {
        f->block = ng_alloc_aligned((size_t)used, path);
        if (!f->block || read_exact(fp, f->block, used, path, "tensor data")) return NG_ERR;
        for (int i = 0; i < f->n; i++) f->t[i].data = (const float *)((const char *)f->block + f->t[i].begin);
        return NG_OK;
    }
    unsigned char *raw = ng_malloc((size_t)used, path);
    if (!raw) return NG_ERR;
    int rc = read_exact(fp, raw, used, path, "tensor data");
    if (rc == NG_OK) f->block = ng_alloc_aligned((size_t)total, path);
    if (rc == NG_OK && !f->block) rc = NG_ERR;
    float *out = f->block;
    for (int i = 0; rc == NG_OK && i < f->n; i++) {
        if (f->t[i].dtype == DT_I64) continue;   /* no F32 data: data stays NULL */
        convert_to_f32(&f->t[i], raw + f->t[i].begin, out);
        f->t[i].data = out;
        out += f->t[i].numel;
    }
    free(raw);
    return rc;
}

/* Open, validate and load a safetensors file. Returns a file the caller closes with
 * ng_safetensors_close, or NULL + error naming the file and the offending tensor/field. */
ng_st_file *ng_safetensors_open(const char *path) {
    if (!path) { ng_set_error("ng_safetensors_open: path is NULL"); return NULL; }
    FILE *fp = fopen(path, "rb");
    if (!fp) { ng_set_error("cannot open '%s': %s", path, strerror(errno)); return NULL; }
    ng_st_file *f = NULL;
    char *hdr = NULL;
    struct stat st;
    if (fstat(fileno(fp), &st) != 0 || !S_ISREG(st.st_mode)) {
        ng_set_error("'%s' is not a regular file", path);
        goto fail;
    }
    uint64_t fsize = (uint64_t)st.st_size;
    if (fsize == 0) { ng_set_error("%s: file is empty, not a safetensors file", path); goto fail; }
    if (fsize < 8) {
        ng_set_error("%s: file is only %llu bytes, too short for the 8-byte header size", path,
                     (unsigned long long)fsize);
        goto fail;
    }
    unsigned char pre[8];
    if (read_exact(fp, pre, 8, path, "header size")) goto fail;
    uint64_t hsize = 0;
    for (int b = 7; b >= 0; b--) hsize = hsize << 8 | pre[b];
    if (hsize > fsize - 8) {
        ng_set_error("%s: header size %llu exceeds the %llu bytes after it (file truncated, or not a safetensors file?)",
                     path, (unsigned long long)hsize, (unsigned long long)(fsize - 8));
        goto fail;
    }
    if (hsize > ST_MAX_HEADER) {
        ng_set_error("%s: header size %llu exceeds the limit of %llu bytes (100 MB)", path,
                     (unsigned long long)hsize, ST_MAX_HEADER);
        goto fail;
    }
    hdr = ng_malloc((size_t)hsize + 1, "safetensors header");
    if (!hdr || read_exact(fp, hdr, hsize, path, "header")) goto fail;
    hdr[hsize] = 0;
    f = ng_malloc(sizeof *f, "safetensors file");
    if (!f) goto fail;
    memset(f, 0, sizeof *f);
    if (parse_header(f, path, hdr, (size_t)hsize, fsize - 8 - hsize)) goto fail;
    if (load_data(f, path, fp)) goto fail;
    free(hdr);
    fclose(fp);
    return f;
fail:
    ng_safetensors_close(f);
    free(hdr);
    fclose(fp);
    return NULL;
}

/* Free everything the file owns (tensor data included). NULL is fine. */
void ng_safetensors_close(ng_st_file *f) {
    if (!f) return;
    if (f->t)
        for (int i = 0; i < f->n; i++) free(f->t[i].name);
    for (int i = 0; i < f->n_meta; i++) { free(f->meta[i].key); free(f->meta[i].val); }
    free(f->t);
    free(f->by_name);
    free(f->meta);
    ng_free_aligned(f->block);
    free(f);
}

/* Number of tensors (0 for NULL). */
int ng_st_count(const ng_st_file *f) { return f ? f->n : 0; }

/* Name of tensor i in header order (owned by f), NULL if out of range. */
const char *ng_st_name(const ng_st_file *f, int i) { return f && i >= 0 && i < f->n ? f->t[i].name : NULL; }

/* Find a tensor by name (binary search): F32 data owned by f (4-byte aligned at least),
 * shape copied to ndim/shape when non-NULL. NULL if absent, without setting an error. */
static const st_entry *st_lookup(const ng_st_file *f, const char *name) {
    if (!f || !name) return NULL;
    int lo = 0, hi = f->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(name, f->by_name[mid]->name);
        if (c == 0) return f->by_name[mid];
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return NULL;
}

const float *ng_st_find(const ng_st_file *f, const char *name, int *ndim, int64_t *shape) {
    const st_entry *t = st_lookup(f, name);
    if (!t || t->dtype == DT_I64) return NULL;
    if (ndim) *ndim = t->ndim;
    if (shape) memcpy(shape, t->shape, (size_t)t->ndim * sizeof *shape);
    return t->data;
}

const char *ng_st_dtype(const ng_st_file *f, const char *name, int *ndim, int64_t *shape) {
    const st_entry *t = st_lookup(f, name);
    if (!t) return NULL;
    if (ndim) *ndim = t->ndim;
    if (shape) memcpy(shape, t->shape, (size_t)t->ndim * sizeof *shape);
    return dtype_name[t->dtype];
}

/* A "__metadata__" value (owned by f), or NULL if absent. */
const char *ng_st_meta(const ng_st_file *f, const char *key) {
    if (!f || !key) return NULL;
    int lo = 0, hi = f->n_meta - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2, c = strcmp(key, f->meta[mid].key);
        if (c == 0) return f->meta[mid].val;
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return NULL;
}

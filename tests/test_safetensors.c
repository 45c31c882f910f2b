/* test_safetensors.c - safetensors writer/reader: bit-exact round trips, scalars and empty
 * tensors, F16/BF16 loading, atomic writes (the old file survives a failed write), a battery
 * of corrupt files each rejected with a message naming the file and the problem, truncation
 * and byte-flip fuzzing, and (when /usr/bin/python3 exists) a cross-check with a plain
 * json+struct reader/writer in Python. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "nanogen.h"
#include "test.h"
#include "io/jsonnum.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* Write a hand-made safetensors file: u64 header size, the header text as given (no padding),
 * then dlen data bytes (copied from data, or 0x11 filler when data is NULL). */
static int write_st(const char *path, const char *json, const void *data, size_t dlen) {
    size_t hl = strlen(json);
    unsigned char *buf = malloc(8 + hl + dlen + 1);
    for (int b = 0; b < 8; b++) buf[b] = (unsigned char)((uint64_t)hl >> (8 * b));
    memcpy(buf + 8, json, hl);
    if (data) memcpy(buf + 8 + hl, data, dlen);
    else memset(buf + 8 + hl, 0x11, dlen);
    int rc = write_bytes(path, buf, 8 + hl + dlen);
    free(buf);
    return rc;
}

/* Read a whole file into a malloc'd buffer (caller frees); NULL if unreadable. */
static unsigned char *slurp(const char *path, size_t *len) {
    return (unsigned char *)ng_read_file(path, len);
}

static int exists(const char *path) { struct stat st; return lstat(path, &st) == 0; }

/* Open must fail, and the error must name the file and contain `expect`. */
static void expect_reject(const char *path, const char *expect, const char *label) {
    ng_st_file *f = ng_safetensors_open(path);
    const char *e = ng_last_error();
    CHECK(f == NULL, "%s: corrupt file was accepted", label);
    CHECK(strstr(e, path) != NULL, "%s: error does not name the file: %s", label, e);
    CHECK(strstr(e, expect) != NULL, "%s: error '%s' lacks '%s'", label, e, expect);
    ng_safetensors_close(f);
}

/* Bit-level equality of two float arrays (NaN payloads and -0 included). */
static int same_bits(const float *a, const float *b, int64_t n) {
    return n == 0 || memcmp(a, b, (size_t)n * sizeof(float)) == 0;
}

/* ------------------------------------------------------------------ round trips */

static void test_roundtrip(void) {
    char p[512], tmp[512];
    pth(p, "model.safetensors");
    /* values with awkward bit patterns: -0, subnormal, inf, NaN with payload, extremes */
    float a[12], b[5], c[2 * 1 * 3 * 2];
    uint32_t nan_bits = 0x7FC12345u, sub_bits = 0x00000001u;
    memcpy(&a[0], &nan_bits, 4);
    memcpy(&a[1], &sub_bits, 4);
    a[2] = -0.0f; a[3] = INFINITY; a[4] = -INFINITY; a[5] = 3.4028235e38f;
    for (int i = 6; i < 12; i++) a[i] = (float)i * 0.1f - 0.3f;
    for (int i = 0; i < 5; i++) b[i] = 1.0f / (float)(i + 3);
    for (int i = 0; i < 12; i++) c[i] = (float)(i * i) - 7.5f;
    ng_st_tensor ts[3] = {
        {"wte.weight", 2, {3, 4}, a},
        {"ln_f.bias", 1, {5}, b},
        {"h.0.attn", 4, {2, 1, 3, 2}, c},
    };
    const char *keys[] = {"step", "config", "quote"};
    const char *vals[] = {"1200", "{\"n_layer\": 2}", "caf\xc3\xa9 \\ \"x\"\n\ttab"};
    CHECK(ng_safetensors_write(p, ts, 3, keys, vals, 3) == NG_OK, "%s", ng_last_error());
    CHECK(!exists(strcat(strcpy(tmp, p), ".tmp")), "temporary file left behind");

    /* the header is padded to 8 bytes with spaces and is plain JSON in the order given */
    size_t len = 0;
    unsigned char *raw = slurp(p, &len);
    CHECK(raw && len >= 8, "cannot read back %s", p);
    if (raw && len >= 8) {
        uint64_t n = 0;
        for (int i = 7; i >= 0; i--) n = n << 8 | raw[i];
        CHECK(n % 8 == 0 && 8 + n + (12 + 5 + 12) * 4 == len, "header size %llu, file size %zu",
              (unsigned long long)n, len);
        CHECK(raw[8] == '{', "header starts with %c", raw[8]);
        const char *want = "\"wte.weight\":{\"dtype\":\"F32\",\"shape\":[3,4],\"data_offsets\":[0,48]}";
        CHECK(strstr((char *)raw + 8, want) != NULL, "header lacks %s", want);
        CHECK(memcmp(raw + 8, "{\"__metadata__\":{\"step\":\"1200\"", 30) == 0, "metadata not first");
        CHECK(same_bits((const float *)(raw + 8 + n), a, 12), "data of the first tensor not at offset 0");
    }
    free(raw);

    ng_st_file *f = ng_safetensors_open(p);
    CHECK(f != NULL, "%s", ng_last_error());
    if (!f) return;
    CHECK(ng_st_count(f) == 3, "count %d", ng_st_count(f));
    for (int i = 0; i < 3; i++) {
        const char *nm = ng_st_name(f, i);
        CHECK(nm && strcmp(nm, ts[i].name) == 0, "name %d is %s", i, nm ? nm : "(null)");
        int nd = -1;
        int64_t sh[NG_MAX_DIMS] = {0};
        const float *d = ng_st_find(f, ts[i].name, &nd, sh);
        CHECK(d != NULL, "tensor %s not found", ts[i].name);
        if (!d) continue;
        int64_t numel = 1;
        for (int k = 0; k < ts[i].ndim; k++) numel *= ts[i].shape[k];
        CHECK(nd == ts[i].ndim && memcmp(sh, ts[i].shape, (size_t)nd * sizeof *sh) == 0, "shape of %s", ts[i].name);
        CHECK(same_bits(d, ts[i].data, numel), "values of %s not bit-exact", ts[i].name);
        CHECK((uintptr_t)d % 4 == 0, "data of %s misaligned", ts[i].name);
    }
    CHECK(ng_st_name(f, 3) == NULL && ng_st_name(f, -1) == NULL, "out-of-range names");
    CHECK(ng_st_find(f, "missing", NULL, NULL) == NULL, "absent tensor found");
    for (int i = 0; i < 3; i++) {
        const char *v = ng_st_meta(f, keys[i]);
        CHECK(v && strcmp(v, vals[i]) == 0, "meta %s = %s", keys[i], v ? v : "(null)");
    }
    CHECK(ng_st_meta(f, "absent") == NULL, "absent metadata found");
    ng_safetensors_close(f);

    /* overwriting an existing file replaces it */
    float one = 1.5f;
    ng_st_tensor t1 = {"only", 1, {1}, &one};
    CHECK(ng_safetensors_write(p, &t1, 1, NULL, NULL, 0) == NG_OK, "%s", ng_last_error());
    f = ng_safetensors_open(p);
    CHECK(f && ng_st_count(f) == 1 && ng_st_meta(f, "step") == NULL, "overwrite did not replace the file");
    const float *d = ng_st_find(f, "only", NULL, NULL);
    CHECK(d && *d == 1.5f, "overwritten value");
    ng_safetensors_close(f);
}

static void test_scalar_and_empty(void) {
    char p[512];
    pth(p, "shapes.safetensors");
    float s = -2.25f;
    ng_st_tensor ts[4] = {
        {"scalar", 0, {0}, &s},
        {"empty", 1, {0}, NULL},
        {"empty2d", 2, {3, 0}, NULL},
        {"huge_empty", 2, {0, 3000000000LL}, NULL}, /* dims above 2^31 print exactly */
    };
    CHECK(ng_safetensors_write(p, ts, 4, NULL, NULL, 0) == NG_OK, "%s", ng_last_error());
    size_t len = 0;
    char *raw = (char *)slurp(p, &len);
    CHECK(raw && strstr(raw + 8, "\"scalar\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}"),
          "scalar header");
    CHECK(raw && strstr(raw + 8, "[0,3000000000]") && !strstr(raw + 8, "__metadata__"), "huge dim / no metadata");
    CHECK(len % 8 == 4, "file size %zu (header padded, 4 data bytes)", len);
    free(raw);
    ng_st_file *f = ng_safetensors_open(p);
    CHECK(f != NULL, "%s", ng_last_error());
    if (!f) return;
    int nd = -1;
    int64_t sh[NG_MAX_DIMS];
    const float *d = ng_st_find(f, "scalar", &nd, sh);
    CHECK(d && nd == 0 && *d == -2.25f, "scalar: nd %d", nd);
    d = ng_st_find(f, "empty", &nd, sh);
    CHECK(d != NULL && nd == 1 && sh[0] == 0, "empty tensor must be found (non-NULL) with shape [0]");
    d = ng_st_find(f, "empty2d", &nd, sh);
    CHECK(d != NULL && nd == 2 && sh[0] == 3 && sh[1] == 0, "empty 2-D tensor");
    d = ng_st_find(f, "huge_empty", &nd, sh);
    CHECK(d != NULL && nd == 2 && sh[1] == 3000000000LL, "huge empty dim");
    ng_safetensors_close(f);

    /* no tensors at all: "{}" padded to 8 */
    CHECK(ng_safetensors_write(p, NULL, 0, NULL, NULL, 0) == NG_OK, "%s", ng_last_error());
    f = ng_safetensors_open(p);
    CHECK(f && ng_st_count(f) == 0 && ng_st_find(f, "scalar", NULL, NULL) == NULL, "empty file list");
    ng_safetensors_close(f);
}

/* F16 and BF16 are converted to F32; tensors at unaligned offsets come back aligned. */
static void test_f16_bf16(void) {
    char p[512];
    pth(p, "half.safetensors");
    /* F16: 1, -2, 0.5, smallest subnormal 2^-24, largest subnormal, 65504, inf, NaN; BF16: 1, -3.5;
     * F32 at offset 20 (4-aligned) and F32 at offset 26 (not 4-aligned) */
    uint16_t h[8] = {0x3C00, 0xC000, 0x3800, 0x0001, 0x03FF, 0x7BFF, 0x7C00, 0x7E00};
    uint16_t bf[2] = {0x3F80, 0xC060};
    float f1 = 0.1f, f2 = -7.0f;
    unsigned char data[30];
    for (int i = 0; i < 8; i++) { data[2 * i] = (unsigned char)h[i]; data[2 * i + 1] = (unsigned char)(h[i] >> 8); }
    for (int i = 0; i < 2; i++) { data[16 + 2 * i] = (unsigned char)bf[i]; data[17 + 2 * i] = (unsigned char)(bf[i] >> 8); }
    memcpy(data + 20, &f1, 4); /* the test host is little-endian, like every file */
    memcpy(data + 26, &f2, 4);
    const char *json = "{\"h\":{\"dtype\":\"F16\",\"shape\":[2,4],\"data_offsets\":[0,16]},"
                       "\"bf\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[16,20]},"
                       "\"f\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[20,24]},"
                       "\"odd\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[26,30]}}";
    write_st(p, json, data, sizeof data);
    ng_st_file *f = ng_safetensors_open(p);
    CHECK(f != NULL, "%s", ng_last_error());
    if (!f) return;
    const float *x = ng_st_find(f, "h", NULL, NULL);
    CHECK(x && (uintptr_t)x % 4 == 0, "F16 data");
    if (x) {
        CHECK(x[0] == 1.0f && x[1] == -2.0f && x[2] == 0.5f, "F16 normals %g %g %g", x[0], x[1], x[2]);
        CHECK(x[3] == ldexpf(1.0f, -24), "F16 smallest subnormal %g", x[3]);
        CHECK(x[4] == ldexpf(1023.0f, -24), "F16 largest subnormal %g", x[4]);
        CHECK(x[5] == 65504.0f && isinf(x[6]) && x[6] > 0 && isnan(x[7]), "F16 max/inf/nan");
    }
    x = ng_st_find(f, "bf", NULL, NULL);
    CHECK(x && x[0] == 1.0f && x[1] == -3.5f, "BF16 values");
    x = ng_st_find(f, "f", NULL, NULL);
    CHECK(x && x[0] == 0.1f && (uintptr_t)x % 4 == 0, "F32 after half tensors");
    x = ng_st_find(f, "odd", NULL, NULL);
    CHECK(x && x[0] == -7.0f && (uintptr_t)x % 4 == 0, "F32 at an unaligned offset comes back aligned");
    ng_safetensors_close(f);
}

/* I64 (PyTorch's num_batches_tracked): checked and listed, with no F32 data; the float
 * tensors around it load as usual. */
static void test_i64(void) {
    char p[512];
    pth(p, "i64.safetensors");
    unsigned char data[20] = {0};
    float a = 2.5f, b = -1.0f;
    memcpy(data, &a, 4);
    data[4] = 7;                 /* I64 scalar 7 at offset 4 (not 8-aligned) */
    memcpy(data + 12, &b, 4);
    const char *json = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                       "\"n\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[4,12]},"
                       "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]}}";
    write_st(p, json, data, 16);
    ng_st_file *f = ng_safetensors_open(p);
    CHECK(f != NULL, "%s", ng_last_error());
    if (!f) return;
    int nd = -1;
    int64_t sh[NG_MAX_DIMS];
    const float *x = ng_st_find(f, "a", NULL, NULL), *y = ng_st_find(f, "b", NULL, NULL);
    CHECK(x && y && x[0] == 2.5f && y[0] == -1.0f, "F32 tensors around an I64 one");
    CHECK(ng_st_count(f) == 3 && ng_st_find(f, "n", NULL, NULL) == NULL, "an I64 tensor is listed but has no F32 data");
    const char *dt = ng_st_dtype(f, "n", &nd, sh);
    CHECK(dt && !strcmp(dt, "I64") && nd == 0, "ng_st_dtype of the I64 scalar: %s, %d dims", dt ? dt : "NULL", nd);
    dt = ng_st_dtype(f, "a", &nd, sh);
    CHECK(dt && !strcmp(dt, "F32") && nd == 1 && sh[0] == 1, "ng_st_dtype of an F32 tensor");
    CHECK(ng_st_dtype(f, "missing", NULL, NULL) == NULL, "ng_st_dtype of an absent tensor");
    ng_safetensors_close(f);
}

/* Things a standard file may do that our writer does not: any header order, gaps, unknown
 * fields, whitespace padding, pretty-printed JSON, trailing bytes after the last tensor. */
static void test_reader_lenient(void) {
    char p[512];
    pth(p, "lenient.safetensors");
    float v[5] = {1, 2, 3, 4, 5};
    const char *json = "{\n  \"second\": {\"shape\": [2], \"dtype\": \"F32\", \"data_offsets\": [12, 20], \"x\": [1]},\n"
                       "  \"first\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}\n}\n   ";
    write_st(p, json, v, sizeof v);
    ng_st_file *f = ng_safetensors_open(p);
    CHECK(f != NULL, "%s", ng_last_error());
    if (!f) return;
    CHECK(ng_st_count(f) == 2 && strcmp(ng_st_name(f, 0), "second") == 0, "header order kept");
    const float *a = ng_st_find(f, "first", NULL, NULL), *b = ng_st_find(f, "second", NULL, NULL);
    CHECK(a && b && a[0] == 1 && a[1] == 2 && b[0] == 4 && b[1] == 5, "values with a gap");
    ng_safetensors_close(f);
}

/* ------------------------------------------------------------------ writer errors */

static void test_write_args(void) {
    char p[512];
    pth(p, "bad_args.safetensors");
    float x[4] = {0};
    struct { ng_st_tensor t[2]; int n; const char *expect; } cases[] = {
        {{{"a", 1, {4}, x}, {"a", 1, {4}, x}}, 2, "tensor 'a' appears twice"},
        {{{"a", 5, {1, 1, 1, 1}, x}}, 1, "ndim 5"},
        {{{"a", 2, {2, -2}, x}}, 1, "negative dim"},
        {{{"a", 1, {4}, NULL}}, 1, "data is NULL"},
        {{{"__metadata__", 1, {4}, x}}, 1, "reserved"},
        {{{NULL, 1, {4}, x}}, 1, "no name"},
        {{{"bad\xff", 1, {4}, x}}, 1, "UTF-8"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = ng_safetensors_write(p, cases[i].t, cases[i].n, NULL, NULL, 0);
        CHECK(rc == NG_ERR && strstr(ng_last_error(), cases[i].expect), "case %zu: %s", i, ng_last_error());
    }
    const char *k2[] = {"k", "k"}, *v2[] = {"1", "2"}, *vn[] = {"1", NULL};
    CHECK(ng_safetensors_write(p, NULL, 0, k2, v2, 2) == NG_ERR && strstr(ng_last_error(), "metadata key 'k' appears twice"),
          "%s", ng_last_error());
    CHECK(ng_safetensors_write(p, NULL, 0, k2, vn, 2) == NG_ERR && strstr(ng_last_error(), "NULL"), "%s", ng_last_error());
    CHECK(!exists(p), "a failed write created the file");
}

/* ------------------------------------------------------------------ atomic writes */

/* Write a small "old" checkpoint to path and return its bytes (caller frees). */
static unsigned char *make_old(const char *path, size_t *len) {
    float old[3] = {7, 8, 9};
    ng_st_tensor t = {"old", 1, {3}, old};
    const char *k[] = {"v"}, *v[] = {"old"};
    if (ng_safetensors_write(path, &t, 1, k, v, 1) != NG_OK) return NULL;
    return slurp(path, len);
}

/* The file at path still holds exactly the bytes old[0..len). */
static int unchanged(const char *path, const unsigned char *old, size_t len) {
    size_t now_len = 0;
    unsigned char *now = slurp(path, &now_len);
    int same = now && old && now_len == len && memcmp(now, old, len) == 0;
    free(now);
    return same;
}

static void test_atomic(void) {
    char p[512], tmp[512], missing[512];
    float big[100000];
    for (int i = 0; i < 100000; i++) big[i] = (float)i;
    ng_st_tensor nt = {"new", 1, {100000}, big};

    /* into a directory that does not exist: error naming the file, nothing created */
    pth(missing, "no/such/dir/model.safetensors");
    CHECK(ng_safetensors_write(missing, &nt, 1, NULL, NULL, 0) == NG_ERR, "write into a missing directory succeeded");
    CHECK(strstr(ng_last_error(), missing) && strstr(ng_last_error(), "No such file"), "%s", ng_last_error());

    /* a full disk: the temporary file is /dev/full, every write fails with ENOSPC */
    pth(p, "atomic.safetensors");
    strcat(strcpy(tmp, p), ".tmp");
    size_t old_len = 0;
    unsigned char *old = make_old(p, &old_len);
    CHECK(old != NULL, "cannot create the old file: %s", ng_last_error());
    if (access("/dev/full", W_OK) == 0 && symlink("/dev/full", tmp) == 0) {
        int rc = ng_safetensors_write(p, &nt, 1, NULL, NULL, 0);
        CHECK(rc == NG_ERR, "write to a full disk succeeded");
        CHECK(strstr(ng_last_error(), p) && strstr(ng_last_error(), "No space left"), "%s", ng_last_error());
        CHECK(unchanged(p, old, old_len), "old file damaged by a failed write");
        CHECK(!exists(tmp), "temporary file left after a failed write");
    } else {
        SKIP(4, "/dev/full is not usable: a write to a full disk is not checked");
    }

    /* a real file that hits the file-size limit mid-write (EFBIG) */
    struct rlimit saved;
    if (getrlimit(RLIMIT_FSIZE, &saved) == 0) {
        struct rlimit lim = saved;
        lim.rlim_cur = 64 * 1024;
        void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
        int set = setrlimit(RLIMIT_FSIZE, &lim) == 0;
        int rc = ng_safetensors_write(p, &nt, 1, NULL, NULL, 0);
        if (set) setrlimit(RLIMIT_FSIZE, &saved);
        signal(SIGXFSZ, prev);
        if (set) {
            CHECK(rc == NG_ERR && strstr(ng_last_error(), p), "write past the size limit: rc %d, %s", rc, ng_last_error());
            CHECK(unchanged(p, old, old_len), "old file damaged by a truncated write");
            CHECK(!exists(tmp), "temporary file left after a truncated write");
        }
    }

    /* rename fails (path is a non-empty directory): error, temporary removed */
    char dir[512], inner[512];
    pth(dir, "is_a_dir");
    mkdir(dir, 0755);
    write_bytes(pth(inner, "is_a_dir/x"), "x", 1);
    strcat(strcpy(tmp, dir), ".tmp");
    CHECK(ng_safetensors_write(dir, &nt, 1, NULL, NULL, 0) == NG_ERR && strstr(ng_last_error(), "renaming"),
          "%s", ng_last_error());
    CHECK(!exists(tmp), "temporary file left after a failed rename");

    /* and a normal write still replaces the old file */
    CHECK(ng_safetensors_write(p, &nt, 1, NULL, NULL, 0) == NG_OK, "%s", ng_last_error());
    ng_st_file *f = ng_safetensors_open(p);
    const float *d = f ? ng_st_find(f, "new", NULL, NULL) : NULL;
    CHECK(d && d[99999] == 99999.0f && !ng_st_find(f, "old", NULL, NULL), "new file content");
    ng_safetensors_close(f);
    free(old);
}

/* ------------------------------------------------------------------ corrupt files */

static void test_corrupt_headers(void) {
    static const struct { const char *json; size_t dlen; const char *expect; } cases[] = {
        {"", 0, "not valid JSON"},
        {"{\"w\": {\"dtype\": \"F32\"", 0, "not valid JSON"},
        {"{} x", 0, "unexpected bytes after the JSON"},
        {"{\"\xff\": 1}", 0, "not valid UTF-8"},
        {"{\"a\x01\": 1}", 0, "bad byte 0x01"},
        {"[1, 2]", 0, "not a JSON object"},
        {"null", 0, "not a JSON object"},
        {"\"text\"", 0, "not a JSON object"},
        {"{\"w\": 5}", 0, "tensor 'w': entry is not an object"},
        {"{\"w\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "tensor 'w': missing \"dtype\""},
        {"{\"w\": {\"dtype\": 3, \"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "tensor 'w': \"dtype\" is not a string"},
        {"{\"w\": {\"dtype\": \"I64\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 8, "tensor 'w': data_offsets [0, 4] hold 4 bytes but I64 shape [1] needs 8"},
        {"{\"w\": {\"dtype\": \"I32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "tensor 'w': unsupported dtype 'I32'"},
        {"{\"w\": {\"dtype\": \"F64\", \"shape\": [1], \"data_offsets\": [0, 8]}}", 8, "tensor 'w': unsupported dtype 'F64'"},
        {"{\"w\": {\"dtype\": \"f32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", 4, "unsupported dtype 'f32'"},
        {"{\"w\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", 4, "tensor 'w': missing \"shape\""},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": 4, \"data_offsets\": [0, 16]}}", 16, "tensor 'w': \"shape\" is not an array"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [2, -1], \"data_offsets\": [0, 0]}}", 0, "tensor 'w': shape[1] is not a non-negative integer"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [2.5], \"data_offsets\": [0, 8]}}", 8, "shape[0] is not a non-negative integer"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [\"2\"], \"data_offsets\": [0, 8]}}", 8, "shape[0] is not a non-negative integer"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [1, 1, 1, 1, 1], \"data_offsets\": [0, 4]}}", 4, "shape has 5 dims, at most 4"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296], \"data_offsets\": [0, 4]}}", 4, "tensor 'w': shape overflows"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [1]}}", 4, "tensor 'w': missing \"data_offsets\""},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0]}}", 4, "\"data_offsets\" is not an array of two integers"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4, 8]}}", 8, "\"data_offsets\" is not an array of two integers"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": {\"a\": 0, \"b\": 4}}}", 4, "not an array of two integers"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [-4, 0]}}", 4, "are not non-negative integers"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 1e20]}}", 4, "are not non-negative integers"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [8, 4]}}", 8, "data_offsets [8, 4] end before they begin"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [100], \"data_offsets\": [0, 400]}}", 200,
         ": tensor 'w': data_offsets [0, 400] exceed the data size 200 (file truncated?)"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 20]}}", 24,
         "tensor 'w': data_offsets [0, 20] hold 20 bytes but F32 shape [2, 3] needs 24"},
        {"{\"w\": {\"dtype\": \"F16\", \"shape\": [4], \"data_offsets\": [0, 16]}}", 16, "F16 shape [4] needs 8"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]},"
         " \"b\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [8, 24]}}", 24, "tensors 'a' [0, 16] and 'b' [8, 24] overlap"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
         " \"b\": {\"dtype\": \"BF16\", \"shape\": [4], \"data_offsets\": [0, 8]}}", 8, "overlap"},
        {"{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]},"
         " \"c\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [12, 16]},"
         " \"b\": {\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 12]}}", 16, "overlap"},
        {"{\"__metadata__\": [\"x\"]}", 0, "__metadata__ is not an object"},
        {"{\"__metadata__\": \"x\"}", 0, "__metadata__ is not an object"},
        {"{\"__metadata__\": {\"step\": 5}}", 0, "__metadata__ value for 'step' is not a string"},
        {"{\"__metadata__\": {\"a\": \"1\", \"b\": null}}", 0, "__metadata__ value for 'b' is not a string"},
        {"{\"__metadata__\": {\"k\": \"1\", \"k\": \"2\"}}", 0, "__metadata__ key 'k' appears twice"},
        {"{\"__metadata__\": {}, \"__metadata__\": {}}", 0, "'__metadata__' appears twice"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
         " \"w\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}", 8, "tensor 'w' appears twice"},
        {"{\"w\": {\"dtype\": \"F32\", \"shape\": [1], \"shape\": [2], \"data_offsets\": [0, 4]}}", 8,
         "tensor 'w': field \"shape\" appears twice"},
    };
    char p[512];
    pth(p, "corrupt.safetensors");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char label[32];
        snprintf(label, sizeof label, "case %zu", i);
        write_st(p, cases[i].json, NULL, cases[i].dlen);
        expect_reject(p, cases[i].expect, label);
    }
}

static void test_corrupt_files(void) {
    char p[512];
    unsigned char b[64] = {0};
    pth(p, "bad.safetensors");

    expect_reject(pth(p, "does_not_exist.safetensors"), "No such file", "missing file");
    expect_reject(g_dir, "not a regular file", "directory");

    pth(p, "bad.safetensors");
    write_bytes(p, b, 0);
    expect_reject(p, "file is empty", "empty file");
    write_bytes(p, b, 7);
    expect_reject(p, "only 7 bytes, too short", "7 bytes");

    /* header size 1000 but only "{}" follows */
    memcpy(b, "\xe8\x03\0\0\0\0\0\0{}", 10);
    write_bytes(p, b, 10);
    expect_reject(p, "header size 1000 exceeds the 2 bytes after it", "header larger than file");
    /* header size 2^64 - 1: no wrap-around in the size checks */
    memcpy(b, "\xff\xff\xff\xff\xff\xff\xff\xff{}", 10);
    write_bytes(p, b, 10);
    expect_reject(p, "header size 18446744073709551615 exceeds", "huge header size");
    /* header size 150 MB in a (sparse) file big enough to hold it: over the 100 MB limit */
    uint64_t big = 150000000;
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(big >> (8 * i));
    write_bytes(p, b, 8);
    if (truncate(p, (off_t)(big + 8)) == 0) expect_reject(p, "100 MB", "header over 100 MB");
    unlink(p);

    /* a valid file cut short inside its data, then inside its header */
    float v[16] = {0};
    ng_st_tensor t = {"wte.weight", 2, {4, 4}, v};
    CHECK(ng_safetensors_write(p, &t, 1, NULL, NULL, 0) == NG_OK, "%s", ng_last_error());
    struct stat st;
    stat(p, &st);
    CHECK(truncate(p, st.st_size - 4) == 0, "truncate");
    expect_reject(p, "tensor 'wte.weight': data_offsets [0, 64] exceed the data size 60 (file truncated?)", "truncated data");
    CHECK(truncate(p, 20) == 0, "truncate");
    expect_reject(p, "exceeds the 12 bytes after it", "truncated header");
}

/* Every truncation of a valid file is rejected; random byte flips never crash the reader
 * (run under -fsanitize=address,undefined to make this test bite). */
static void test_fuzz(void) {
    char p[512], q[512];
    pth(p, "fuzz_src.safetensors");
    pth(q, "fuzz.safetensors");
    float a[6] = {1, 2, 3, 4, 5, 6}, s = 9;
    ng_st_tensor ts[3] = {{"a", 2, {2, 3}, a}, {"s", 0, {0}, &s}, {"e", 1, {0}, NULL}};
    const char *k[] = {"step"}, *v[] = {"10"};
    CHECK(ng_safetensors_write(p, ts, 3, k, v, 1) == NG_OK, "%s", ng_last_error());
    size_t len = 0;
    unsigned char *good = slurp(p, &len);
    if (!good) return;
    int accepted = 0;
    for (size_t cut = 0; cut < len; cut++) {
        write_bytes(q, good, cut);
        ng_st_file *f = ng_safetensors_open(q);
        if (f) accepted++;
        ng_safetensors_close(f);
    }
    CHECK(accepted == 0, "%d truncated copies accepted", accepted);

    ng_rng r;
    ng_rng_seed(&r, 1234);
    unsigned char *buf = malloc(len);
    int opened = 0, unnamed = 0;
    for (int iter = 0; iter < 3000; iter++) {
        memcpy(buf, good, len);
        int flips = 1 + (int)ng_rng_below(&r, 3);
        for (int j = 0; j < flips; j++) {
            size_t at = ng_rng_below(&r, (uint32_t)len);
            /* mostly bytes that matter in JSON, sometimes anything */
            static const char pick[] = "{}[]\":,0123456789- e.xFB";
            buf[at] = ng_rng_below(&r, 4) ? (unsigned char)pick[ng_rng_below(&r, sizeof pick - 1)]
                                          : (unsigned char)ng_rng_below(&r, 256);
        }
        write_bytes(q, buf, len);
        ng_st_file *f = ng_safetensors_open(q);
        if (f) {
            opened++;
            double sum = 0; /* touch every value so a bad pointer would show */
            for (int i = 0; i < ng_st_count(f); i++) {
                int nd = 0;
                int64_t sh[NG_MAX_DIMS];
                const float *d = ng_st_find(f, ng_st_name(f, i), &nd, sh);
                int64_t n = 1;
                for (int dd = 0; dd < nd; dd++) n *= sh[dd];
                for (int64_t e = 0; d && e < n; e++) sum += d[e];
            }
            (void)sum;
        } else if (!strstr(ng_last_error(), q)) {
            unnamed++;
            fprintf(stderr, "error without the file name: %s\n", ng_last_error());
        }
        ng_safetensors_close(f);
    }
    CHECK(unnamed == 0, "%d rejections did not name the file", unnamed);
    CHECK(opened < 3000, "every mutation accepted?");
    free(buf);
    free(good);
}

/* ------------------------------------------------------------------ Python cross-check */

static const char *PY =
    "import json, struct, sys\n"
    "path, out = sys.argv[1], sys.argv[2]\n"
    "b = open(path, 'rb').read()\n"
    "n = struct.unpack('<Q', b[:8])[0]\n"
    "assert (8 + n) % 8 == 0, 'header not padded'\n"
    "h = json.loads(b[8:8 + n].decode('utf-8'))\n"
    "data = b[8 + n:]\n"
    "assert h.pop('__metadata__') == {'model': 'gpt', 'note': 'caf\\u00e9 \"q\"'}\n"
    "assert list(h) == ['a', 'b'], list(h)\n"
    "assert h['a'] == {'dtype': 'F32', 'shape': [2, 3], 'data_offsets': [0, 24]}, h['a']\n"
    "assert h['b'] == {'dtype': 'F32', 'shape': [], 'data_offsets': [24, 28]}, h['b']\n"
    "assert struct.unpack('<7f', data) == (0.5, -1.25, 3.0, 0.0, 1024.0, -7.75, 42.0)\n"
    "hdr = {'__metadata__': {'by': 'python'},\n"
    "       'h': {'dtype': 'F16', 'shape': [3], 'data_offsets': [0, 6]},\n"
    "       'f': {'dtype': 'F32', 'shape': [2], 'data_offsets': [6, 14]},\n"
    "       'z': {'dtype': 'BF16', 'shape': [1, 2], 'data_offsets': [14, 18]}}\n"
    "j = json.dumps(hdr).encode()\n"
    "j += b' ' * (-len(j) % 8)\n"
    "payload = struct.pack('<3e', 1.0, -2.5, 65504.0) + struct.pack('<2f', 0.1, -3.0) + struct.pack('<2H', 0x3F80, 0xC060)\n"
    "open(out, 'wb').write(struct.pack('<Q', len(j)) + j + payload)\n";

static void test_python(void) {
    if (access("/usr/bin/python3", X_OK) != 0) {
        SKIP(7, "no /usr/bin/python3: files written by Python's struct are not checked");   /* the CHECKs below */
        return;
    }
    char p[512], q[512], script[512], cmd[2048];
    pth(p, "for_python.safetensors");
    pth(q, "from_python.safetensors");
    pth(script, "check.py");
    float a[6] = {0.5f, -1.25f, 3.0f, 0.0f, 1024.0f, -7.75f}, s = 42.0f;
    ng_st_tensor ts[2] = {{"a", 2, {2, 3}, a}, {"b", 0, {0}, &s}};
    const char *k[] = {"model", "note"}, *v[] = {"gpt", "caf\xc3\xa9 \"q\""};
    CHECK(ng_safetensors_write(p, ts, 2, k, v, 2) == NG_OK, "%s", ng_last_error());
    write_bytes(script, PY, strlen(PY));
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s %s", script, p, q);
    int rc = system(cmd);
    CHECK(rc != -1 && WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "python could not read our file (rc %d)", rc);
    ng_st_file *f = ng_safetensors_open(q);
    CHECK(f != NULL, "python's file: %s", ng_last_error());
    if (!f) return;
    const float *h = ng_st_find(f, "h", NULL, NULL), *x = ng_st_find(f, "f", NULL, NULL), *z = ng_st_find(f, "z", NULL, NULL);
    CHECK(h && h[0] == 1.0f && h[1] == -2.5f && h[2] == 65504.0f, "python F16");
    CHECK(x && x[0] == 0.1f && x[1] == -3.0f, "python F32");
    CHECK(z && z[0] == 1.0f && z[1] == -3.5f, "python BF16");
    CHECK(ng_st_meta(f, "by") && strcmp(ng_st_meta(f, "by"), "python") == 0, "python metadata");
    ng_safetensors_close(f);
}

/* ------------------------------------------------------------------ main */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st; (void)flag; (void)ftw;
    return remove(path);
}

/* Doubles saved in a checkpoint's training state (a resumed run's running loss sums) read back
 * bit-identical; cJSON's own printing gives 0.1 + 0.2 back as 0.3 (found by tests/test_kill.sh:
 * a resumed run's logged loss differed in its 17th digit). */
static void test_json_exact(void) {
    double vals[64] = {0.1 + 0.2, 3.2895770072937016, 1.0 / 3.0, 1e-310, -2.5e300, 0, 1};
    uint64_t r = 0x9E3779B97F4A7C15ull;
    for (int i = 7; i < 64; i++) {   /* random bit patterns that are finite doubles */
        r ^= r << 13; r ^= r >> 7; r ^= r << 17;
        uint64_t bits = r & ~(0x7FFull << 52) ? r : r ^ 1;
        if (((bits >> 52) & 0x7FF) == 0x7FF) bits ^= 1ull << 62;
        memcpy(&vals[i], &bits, sizeof bits);
    }
    int exact = 1, lossy = 0;
    for (int i = 0; i < 64; i++) {
        cJSON *o = cJSON_CreateObject(), *o2 = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "v", ng_json_exact(vals[i]));
        cJSON_AddNumberToObject(o2, "v", vals[i]);
        char *t = cJSON_PrintUnformatted(o), *t2 = cJSON_PrintUnformatted(o2);
        cJSON *back = cJSON_Parse(t), *back2 = cJSON_Parse(t2);
        double v = cJSON_GetObjectItem(back, "v")->valuedouble, v2 = cJSON_GetObjectItem(back2, "v")->valuedouble;
        if (memcmp(&v, &vals[i], sizeof v)) { exact = 0; printf("  %.17g came back as %.17g (%s)\n", vals[i], v, t); }
        lossy += memcmp(&v2, &vals[i], sizeof v2) != 0;
        cJSON_Delete(o); cJSON_Delete(o2); cJSON_Delete(back); cJSON_Delete(back2); free(t); free(t2);
    }
    CHECK(exact, "ng_json_exact: 64 doubles read back bit-identical");
    cJSON *n = ng_json_exact(NAN);
    CHECK(cJSON_IsNull(n), "ng_json_exact(NaN) is null");
    cJSON_Delete(n);
    printf("  64 doubles exact through ng_json_exact; cJSON's own printing changed %d of them\n", lossy);
}

int main(void) {
    strcpy(g_dir, "/tmp/ng_st_XXXXXX");
    if (!mkdtemp(g_dir)) { perror("mkdtemp"); return 1; }
    RUN(test_roundtrip);
    RUN(test_scalar_and_empty);
    RUN(test_f16_bf16);
    RUN(test_i64);
    RUN(test_reader_lenient);
    RUN(test_write_args);
    RUN(test_atomic);
    RUN(test_corrupt_headers);
    RUN(test_corrupt_files);
    RUN(test_fuzz);
    RUN(test_python);
    RUN(test_json_exact);
    nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    TEST_MAIN_END();
}

/* fuzz_safetensors.c - any bytes as a .safetensors file: ng_safetensors_open must either fail
 * with a message or return tensors whose shapes, data and metadata can all be read. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fz_write("t.safetensors", data, size);
    ng_st_file *f = ng_safetensors_open(path);
    if (!f) {
        FZ_CHECK_ERROR();
        return 0;
    }
    int n = ng_st_count(f);
    FZ_CHECK(n >= 0, "%d tensors", n);
    int64_t total = 0;
    for (int i = 0; i < n; i++) {
        const char *name = ng_st_name(f, i);
        FZ_CHECK(name != NULL, "tensor %d has no name", i);
        int ndim = -1;
        int64_t shape[NG_MAX_DIMS];
        const char *dtype = ng_st_dtype(f, name, &ndim, shape);
        FZ_CHECK(dtype != NULL, "tensor '%s' listed but has no dtype", name);
        const int i64 = !strcmp(dtype, "I64");   /* listed and checked, no float data (BatchNorm counters) */
        const float *d = ng_st_find(f, name, &ndim, shape);
        FZ_CHECK(i64 ? d == NULL : d != NULL, "tensor '%s' (%s) listed but %s", name, dtype, i64 ? "has float data" : "not found");
        FZ_CHECK(ndim >= 0 && ndim <= NG_MAX_DIMS, "tensor '%s': ndim %d", name, ndim);
        int64_t numel = 1;
        for (int k = 0; k < ndim; k++) {
            FZ_CHECK(shape[k] >= 0, "tensor '%s': dim %lld", name, (long long)shape[k]);
            numel *= shape[k];
        }
        /* every value lies in the file: F16/BF16 take 2 bytes, F32 4 */
        FZ_CHECK(numel <= (int64_t)size / 2, "tensor '%s': %lld values in a %zu-byte file", name, (long long)numel, size);
        total += numel;
        FZ_CHECK(total <= (int64_t)size / 2, "%lld values in a %zu-byte file", (long long)total, size);
        if (!i64) fz_floats_ok(d, numel, 1, 0);
    }
    FZ_CHECK(ng_st_find(f, "__metadata__", NULL, NULL) == NULL, "__metadata__ found as a tensor");
    static const char *const keys[] = {"format", "config", "tokenizer", "image_config", "train", "t", ""};
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
        const char *v = ng_st_meta(f, keys[k]);
        if (v) fz_sink = (float)strlen(v);
    }
    ng_safetensors_close(f);
    return 0;
}

/* fuzz_gemm_cache.c - any bytes as the GEMM choice cache (src/ops/kernels/gemm_choice.c): the
 * parser takes the lines that name this machine and a valid shape and skips the rest. Every
 * shape it reports is one a line could hold: transposes 0 or 1, sizes and threads positive. */
#include "fuzz.h"

#include "ops/kernels/kernels.h"

static void found(const int key[6], int blas, void *ctx) {
    int *n = ctx;
    FZ_CHECK((key[0] == 0 || key[0] == 1) && (key[1] == 0 || key[1] == 1), "transposes %d %d", key[0], key[1]);
    FZ_CHECK(key[2] > 0 && key[3] > 0 && key[4] > 0 && key[5] > 0, "shape %d %d %d threads %d", key[2], key[3], key[4], key[5]);
    FZ_CHECK(blas == 0 || blas == 1, "choice %d", blas);
    (*n)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int n = 0;
    const int r = ng_gemm_cache_parse((const char *)data, size, "cpu|Haswell|nanogen-avx2", found, &n);
    FZ_CHECK(r == n && r >= 0, "%d lines reported, %d counted", r, n);
    FZ_CHECK((size_t)r <= size / 20 + 1, "%d lines from %zu bytes", r, size);
    return 0;
}

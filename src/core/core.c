/* core.c - errors, allocation and the PRNG shared by the whole library (threads: threads.c). */
#include "ops/kernels/fastmath.h"
#include "core/internal.h"

#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- errors */
static _Thread_local char g_err[1024];

int ng_set_error(const char *fmt, ...) {
    /* format into a scratch buffer first: callers often pass ng_last_error() as an argument
     * to prefix it ("file: %s"), which must not read the buffer being written */
    char tmp[sizeof g_err];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    memcpy(g_err, tmp, sizeof g_err);
    return NG_ERR;
}

const char *ng_last_error(void) { return g_err; }

void *ng_malloc(size_t bytes, const char *what) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) ng_set_error("out of memory allocating %zu bytes for %s", bytes, what);
    return p;
}

void *ng_alloc_aligned(size_t bytes, const char *what) {
    size_t rounded = (bytes + 63) / 64 * 64;
    void *p = aligned_alloc(64, rounded ? rounded : 64);
    if (!p) {
        ng_set_error("out of memory allocating %zu bytes for %s", bytes, what);
        return NULL;
    }
    memset(p, 0, rounded ? rounded : 64);
    return p;
}

void ng_free_aligned(void *p) { free(p); }

int ng_memory_check(double need, const char *what, const char *hint) {
    const uint64_t avail = ng_memory_available();
    if (avail && need > 0.9 * (double)avail)
        return ng_set_error("%s needs about %.1f GiB but only %.1f GiB of memory is available: %s", what,
                            need / 1073741824.0, avail / 1073741824.0, hint);
    return NG_OK;
}

double ng_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

uint64_t ng_memory_available(void) {
    /* MemAvailable (what can be had without swapping), else physical RAM */
    uint64_t avail = 0;
    FILE *f = fopen("/proc/meminfo", "r");
    if (f) {
        char line[256];
        unsigned long long kb;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) { avail = (uint64_t)kb * 1024; break; }
        fclose(f);
    }
    if (!avail) {
        long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
        avail = (pages > 0 && page > 0) ? (uint64_t)pages * (uint64_t)page : (uint64_t)1 << 34;
    }
    struct rlimit rl;   /* an address-space limit (ulimit -v) may be lower */
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && (uint64_t)rl.rlim_cur < avail)
        avail = (uint64_t)rl.rlim_cur;
    return avail;
}

/* ---------------------------------------------------------------- rng (xoshiro256**) */
void ng_rng_seed(ng_rng *r, uint64_t seed) {
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = ng_splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t ng_rng_u64(ng_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t; s[3] = rotl(s[3], 45);
    return result;
}

uint32_t ng_rng_below(ng_rng *r, uint32_t n) {
    /* Lemire's multiply-shift with rejection: unbiased */
    uint64_t m = (uint64_t)(uint32_t)(ng_rng_u64(r) >> 32) * n;
    uint32_t lo = (uint32_t)m;
    if (lo < n) {
        uint32_t thresh = (uint32_t)(-n) % n;
        while (lo < thresh) {
            m = (uint64_t)(uint32_t)(ng_rng_u64(r) >> 32) * n;
            lo = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

float ng_rng_uniform(ng_rng *r) { return (float)(ng_rng_u64(r) >> 40) * (1.0f / 16777216.0f); }

float ng_rng_normal(ng_rng *r) {
    /* Box-Muller on doubles; u1 in (0,1] so log is finite */
    double u1 = ((ng_rng_u64(r) >> 11) + 1) * (1.0 / 9007199254740992.0);
    double u2 = (ng_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2));
}

void ng_rng_fill_normal(ng_rng *r, float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) x[i] = ng_rng_normal(r);
}

float ng_hash_uniform(uint64_t seed, uint64_t stream, uint64_t index) {
    return (float)ng_hash24(seed, stream, index) * (1.0f / 16777216.0f);
}

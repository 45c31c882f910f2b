/* fuzz.h - what the libFuzzer harnesses of fuzz/ share (see DEVELOPERS.md, "Fuzzing").
 *
 * Each harness defines LLVMFuzzerTestOneInput (and may define LLVMFuzzerInitialize). The same
 * source builds two ways: with clang -fsanitize=fuzzer,address,undefined (make fuzz), and with
 * gcc against fuzz/replay.c, a plain main() that feeds it files (make test replays the seed
 * corpus and every crash found so far).
 *
 * The loaders take paths, so an input is written to a file in a private folder of this process
 * (fz_write). FZ_CHECK turns a broken promise of the library (a loader that succeeds with
 * inconsistent results, fails without a message, ...) into an abort that the fuzzer reports. */
#ifndef NG_FUZZ_H
#define NG_FUZZ_H
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "nanogen.h"
#include "core/internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FZ_CHECK(cond, ...)                                                     \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "fuzz check failed at %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                       \
            fprintf(stderr, "\n");                                              \
            abort();                                                            \
        }                                                                       \
    } while (0)

/* A failure must come with a message (what the command prints after "nanogen: "). */
#define FZ_CHECK_ERROR() FZ_CHECK(*ng_last_error(), "a failure without an error message")

static char fz_root[256];
static char fz_files[8][320];
static int fz_nfiles;

static void fz_cleanup(void) {
    for (int i = 0; i < fz_nfiles; i++) unlink(fz_files[i]);
    char sub[320];
    snprintf(sub, sizeof sub, "%s/pictures", fz_root);
    rmdir(sub);
    if (fz_root[0]) rmdir(fz_root);
}

/* The private folder of this process (created on first use, removed at exit). */
__attribute__((unused)) static const char *fz_dir(void) {
    if (fz_root[0]) return fz_root;
    const char *tmp = getenv("TMPDIR");
    snprintf(fz_root, sizeof fz_root, "%s/nanogen-fuzz-%d", tmp && *tmp ? tmp : "/tmp", (int)getpid());
    if (mkdir(fz_root, 0700) != 0) {
        struct stat st;
        if (stat(fz_root, &st) != 0 || !S_ISDIR(st.st_mode)) { perror(fz_root); abort(); }
    }
    atexit(fz_cleanup);
    return fz_root;
}

/* Write data to <private folder>/<name> (name may have one folder level, created here) and
 * return the path (static storage, one slot per name). */
__attribute__((unused)) static const char *fz_write(const char *name, const uint8_t *data, size_t size) {
    char path[320];
    snprintf(path, sizeof path, "%s/%s", fz_dir(), name);
    const char *slash = strrchr(name, '/');
    if (slash) {
        char sub[320];
        snprintf(sub, sizeof sub, "%s/%.*s", fz_root, (int)(slash - name), name);
        mkdir(sub, 0700);
    }
    int slot = -1;
    for (int i = 0; i < fz_nfiles; i++) if (!strcmp(fz_files[i], path)) slot = i;
    if (slot < 0) {
        if (fz_nfiles == 8) abort();
        slot = fz_nfiles++;
        memcpy(fz_files[slot], path, sizeof path);
    }
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) { perror(path); abort(); }
    return fz_files[slot];
}

/* Forget a file written before (so that a loader that looks for it does not find it). */
__attribute__((unused)) static void fz_remove(const char *name) {
    char path[320];
    snprintf(path, sizeof path, "%s/%s", fz_dir(), name);
    unlink(path);
}

/* Read every float (so that the sanitizers see a bad buffer) and say whether all are finite
 * or inside [lo, hi] when lo <= hi. */
static volatile float fz_sink;
__attribute__((unused)) static int fz_floats_ok(const float *x, int64_t n, float lo, float hi) {
    int ok = 1;
    float acc = 0;
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        acc += v;
        if (lo <= hi && !(v >= lo && v <= hi)) ok = 0;
    }
    fz_sink = acc;
    return ok;
}

#endif

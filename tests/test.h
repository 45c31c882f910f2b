/* tests/test.h - a tiny test harness: CHECK macros count passes and failures; SKIP counts
 * checks not made and says why; TEST_MAIN_END prints one "skipped: N x REASON" line per
 * distinct reason, then "<file>: N passed, N failed, N skipped", and exits non-zero on failure. */
#ifndef NG_TEST_H
#define NG_TEST_H
#include <math.h>
#include <stdio.h>
#include <string.h>

static int t_pass, t_fail, t_skip;
static const char *t_current = "";
static struct { const char *reason; int n; } t_skips[32];   /* distinct reasons, in order */

#define CHECK(cond, ...) do { if (cond) t_pass++; else { t_fail++; \
    fprintf(stderr, "FAIL %s:%d [%s] %s: ", __FILE__, __LINE__, t_current, #cond); \
    fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)
#define CHECK_NEAR(a, b, tol, ...) do { double a_ = (a), b_ = (b); \
    CHECK(fabs(a_ - b_) <= (tol), "%s=%.8g vs %s=%.8g (tol %.3g) " __VA_ARGS__, #a, a_, #b, b_, (double)(tol)); } while (0)
#define RUN(fn) do { t_current = #fn; fn(); } while (0)

/* SKIP(n, reason): n checks of the current test were not made because of `reason` (a string
 * literal or one that outlives the test: the runner lists each distinct reason once). */
static inline void t_skipped(int n, const char *reason) {
    t_skip += n;
    printf("skip %s: %d check%s: %s\n", t_current, n, n == 1 ? "" : "s", reason);
    for (size_t i = 0; i < sizeof t_skips / sizeof *t_skips; i++) {
        if (!t_skips[i].reason) { t_skips[i].reason = reason; t_skips[i].n = n; return; }
        if (!strcmp(t_skips[i].reason, reason)) { t_skips[i].n += n; return; }
    }
}
#define SKIP(n, reason) t_skipped((n), (reason))

static inline int t_end(const char *file) {
    for (size_t i = 0; i < sizeof t_skips / sizeof *t_skips && t_skips[i].reason; i++)
        printf("skipped: %d x %s\n", t_skips[i].n, t_skips[i].reason);
    printf("%s: %d passed, %d failed, %d skipped\n", file, t_pass, t_fail, t_skip);
    return t_fail ? 1 : 0;
}
#define TEST_MAIN_END() return t_end(__FILE__)
#endif

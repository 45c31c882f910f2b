/* tests/test.h - a tiny test harness: CHECK macros count passes and failures;
 * TEST_MAIN_END prints "<file>: N passed, N failed" and exits non-zero on failure. */
#ifndef NG_TEST_H
#define NG_TEST_H
#include <math.h>
#include <stdio.h>
#include <string.h>

static int t_pass, t_fail;
static const char *t_current = "";

#define CHECK(cond, ...) do { if (cond) t_pass++; else { t_fail++; \
    fprintf(stderr, "FAIL %s:%d [%s] %s: ", __FILE__, __LINE__, t_current, #cond); \
    fprintf(stderr, __VA_ARGS__); fputc('\n', stderr); } } while (0)
#define CHECK_NEAR(a, b, tol, ...) do { double a_ = (a), b_ = (b); \
    CHECK(fabs(a_ - b_) <= (tol), "%s=%.8g vs %s=%.8g (tol %.3g) " __VA_ARGS__, #a, a_, #b, b_, (double)(tol)); } while (0)
#define RUN(fn) do { t_current = #fn; fn(); } while (0)
#define TEST_MAIN_END() do { printf("%s: %d passed, %d failed\n", __FILE__, t_pass, t_fail); \
    return t_fail ? 1 : 0; } while (0)
#endif

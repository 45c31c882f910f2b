/* test_progress.c - the trainers' progress lines (src/core/progress.h): the smoothed step time behind
 * their ETA (steady steps give their own time; one step slowed 40x, as by another process, moves
 * the ETA by under 10% where taking the last step alone multiplied it by 40; a lasting slowdown
 * or speed-up is followed; the first steps are a plain mean; bad times are ignored) and the
 * duration format ("42s", "3m32s", "1h05m", "?"). No clock: every time is given. */
#include "nanogen.h"
#include "core/progress.h"
#include "test.h"

#include <math.h>
#include <string.h>

static double eta_seconds(const ng_pace *p, long left) { return left * p->avg; }

static void test_steady(void) {
    ng_pace p = {0};
    char buf[32];
    ng_pace_eta(&p, 100, buf, sizeof buf);
    CHECK(!strcmp(buf, "?"), "no step yet: '%s'", buf);
    for (int i = 0; i < 500; i++) ng_pace_add(&p, 0.030);
    CHECK_NEAR(p.avg, 0.030, 1e-12);
    CHECK(p.n == 500, "%ld steps", p.n);
    ng_pace_eta(&p, 7000, buf, sizeof buf);   /* 7000 x 30 ms = 210 s */
    CHECK(!strcmp(buf, "3m30s"), "7000 steps of 30 ms: '%s'", buf);
    ng_pace_eta(&p, 0, buf, sizeof buf);
    CHECK(!strcmp(buf, "0s"), "nothing left: '%s'", buf);
}

/* The bug: 9 steps of 30 ms, one of 1.2 s (another process took the CPU), then the ETA. */
static void test_one_slow_step(void) {
    ng_pace p = {0};
    for (int i = 0; i < 200; i++) ng_pace_add(&p, 0.030);
    const double before = eta_seconds(&p, 1000);
    ng_pace_add(&p, 1.2);
    const double after = eta_seconds(&p, 1000);
    CHECK(after < 1.10 * before, "one 40x step moved the ETA from %.1f s to %.1f s (the last step alone: %.1f s)", before, after,
          1000 * 1.2);
    CHECK(after > before, "... but it does count: %.2f s after %.2f s", after, before);
    for (int i = 0; i < 10; i++) ng_pace_add(&p, 0.030);
    CHECK(fabs(eta_seconds(&p, 1000) - before) < 0.1 * before, "ten normal steps later: %.1f s, before %.1f s", eta_seconds(&p, 1000),
          before);
    /* one very fast step neither */
    ng_pace q = {0};
    for (int i = 0; i < 200; i++) ng_pace_add(&q, 0.030);
    ng_pace_add(&q, 0.0001);
    CHECK(q.avg > 0.95 * 0.030, "one 300x faster step: %.4f s a step", q.avg);
}

/* A lasting change of pace is followed: within 150 steps the average is within 5% of it. */
static void test_lasting_change(void) {
    ng_pace p = {0};
    for (int i = 0; i < 200; i++) ng_pace_add(&p, 0.030);
    for (int i = 0; i < 150; i++) ng_pace_add(&p, 1.2);   /* 40x slower for good */
    CHECK(fabs(p.avg - 1.2) < 0.05 * 1.2, "40x slower for 150 steps: %.3f s a step", p.avg);
    for (int i = 0; i < 150; i++) ng_pace_add(&p, 0.3);   /* 4x faster */
    CHECK(fabs(p.avg - 0.3) < 0.05 * 0.3, "then 4x faster for 150 steps: %.3f s a step", p.avg);
}

/* The first NG_PACE_WINDOW steps: their plain mean (a slow first step, the warm-up, fades as 1/n). */
static void test_first_steps(void) {
    ng_pace p = {0};
    ng_pace_add(&p, 0.5);
    CHECK_NEAR(p.avg, 0.5, 1e-12, "(one step)");
    ng_pace_add(&p, 0.1);
    ng_pace_add(&p, 0.3);
    CHECK_NEAR(p.avg, 0.3, 1e-12, "(the mean of 0.5, 0.1, 0.3)");
    ng_pace_add(&p, -1);
    ng_pace_add(&p, NAN);
    ng_pace_add(&p, INFINITY);
    CHECK(p.n == 3 && fabs(p.avg - 0.3) < 1e-12, "negative, NaN and infinite times are ignored: %ld steps, %.3f s", p.n, p.avg);
    ng_pace z = {0};
    ng_pace_add(&z, 0);   /* a clock too coarse for the first step */
    ng_pace_add(&z, 0.02);
    CHECK(z.avg > 0, "a first step of 0 s does not freeze the average at 0: %.4f", z.avg);
}

static void test_format(void) {
    static const struct { double s; const char *want; } cases[] = {
        {0, "0s"}, {5, "5s"}, {5.99, "5s"}, {59.9, "59s"}, {60, "1m00s"}, {212, "3m32s"}, {3599, "59m59s"},
        {3600, "1h00m"}, {3725, "1h02m"}, {90061, "25h01m"}, {-1, "?"}, {NAN, "?"}, {INFINITY, "?"}, {1e300, "?"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char buf[32];
        ng_fmt_duration(cases[i].s, buf, sizeof buf);
        CHECK(!strcmp(buf, cases[i].want), "%g s: '%s', expected '%s'", cases[i].s, buf, cases[i].want);
    }
    char small[4];
    ng_fmt_duration(3725, small, sizeof small);
    CHECK(strlen(small) == 3, "a short buffer is cut, not overrun: '%s'", small);
}

int main(void) {
    RUN(test_steady);
    RUN(test_one_slow_step);
    RUN(test_lasting_change);
    RUN(test_first_steps);
    RUN(test_format);
    TEST_MAIN_END();
}

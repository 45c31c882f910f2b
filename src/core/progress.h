/* progress.h - what the trainers' progress lines show (src/cli/train.c, train_images.c): a time
 * per step that one slow step does not throw off, the time left at that pace, and durations
 * as "3m32s". Private to nanogen (not in nanogen.h); tests/test_progress.c checks it. */
#ifndef NG_PROGRESS_H
#define NG_PROGRESS_H
#include <stddef.h>

/* The smoothed time of a step (a training step, or a batch of images): the mean of the first
 * NG_PACE_WINDOW steps, then an exponential moving average giving the newest step the weight
 * 1/NG_PACE_WINDOW; a step counts as at most NG_PACE_CAP times the average so far. So one step
 * slowed 40x by another process moves the average by under 10% (taken alone it made the ETA
 * jump from 5 s to 3m32s), while a lasting slowdown is followed within a few dozen steps. */
#define NG_PACE_WINDOW 32
#define NG_PACE_CAP 4.0
typedef struct {
    double avg;   /* seconds per step; 0 before the first */
    long n;       /* steps seen */
} ng_pace;

/* Count one step of `seconds` (negative or non-finite ones are ignored). */
void ng_pace_add(ng_pace *p, double seconds);
/* The time left for steps_left more steps at the smoothed pace, as ng_fmt_duration writes it;
 * "?" before the first step. */
void ng_pace_eta(const ng_pace *p, long steps_left, char *buf, size_t cap);
/* seconds as "1h05m", "3m32s" or "42s" (rounded down); "?" when negative or not finite. */
void ng_fmt_duration(double seconds, char *buf, size_t cap);
#endif

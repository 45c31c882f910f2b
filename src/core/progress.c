/* progress.c - the smoothed step time and the ETA of the trainers' progress lines (progress.h). */
#include "core/progress.h"

#include <math.h>
#include <stdio.h>

void ng_pace_add(ng_pace *p, double seconds) {
    if (!(seconds >= 0) || !isfinite(seconds)) return;
    if (p->n > 0 && p->avg > 0 && seconds > NG_PACE_CAP * p->avg) seconds = NG_PACE_CAP * p->avg;
    p->n++;
    const double w = p->n < NG_PACE_WINDOW ? 1.0 / p->n : 1.0 / NG_PACE_WINDOW;
    p->avg += w * (seconds - p->avg);
}

void ng_fmt_duration(double s, char *buf, size_t cap) {
    if (!(s >= 0) || !isfinite(s) || s >= 1e9) { snprintf(buf, cap, "?"); return; }
    const long t = (long)s, h = t / 3600, m = t % 3600 / 60, sec = t % 60;
    if (h) snprintf(buf, cap, "%ldh%02ldm", h, m);
    else if (m) snprintf(buf, cap, "%ldm%02lds", m, sec);
    else snprintf(buf, cap, "%lds", sec);
}

void ng_pace_eta(const ng_pace *p, long steps_left, char *buf, size_t cap) {
    if (p->n == 0) { snprintf(buf, cap, "?"); return; }
    ng_fmt_duration((steps_left > 0 ? steps_left : 0) * p->avg, buf, cap);
}

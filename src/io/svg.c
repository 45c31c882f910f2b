/* svg.c - hand-written SVG charts: axes with 1-2-5 ticks, grid, polylines, scatter points,
 * legend. See svg.h. The document is built as text in memory and written atomically. */
#include "io/svg.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------ text buffer */
typedef struct { char *p; size_t n, cap; int oom; } sbuf;

static void sb_grow(sbuf *b, size_t extra) {
    if (b->oom || b->n + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + extra + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) { b->oom = 1; return; }
    b->p = p;
    b->cap = cap;
}

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    if (b->oom) return;
    va_list ap;
    va_start(ap, fmt);
    char tmp[512];
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0) { b->oom = 1; return; }
    sb_grow(b, (size_t)k);
    if (b->oom) return;
    if ((size_t)k < sizeof tmp) memcpy(b->p + b->n, tmp, (size_t)k + 1);
    else { va_start(ap, fmt); vsnprintf(b->p + b->n, (size_t)k + 1, fmt, ap); va_end(ap); }
    b->n += (size_t)k;
}

/* Text or attribute value with &, <, >, " and ' escaped; control characters dropped. */
static void sb_esc(sbuf *b, const char *s) {
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '&') sb_printf(b, "&amp;");
        else if (c == '<') sb_printf(b, "&lt;");
        else if (c == '>') sb_printf(b, "&gt;");
        else if (c == '"') sb_printf(b, "&quot;");
        else if (c == '\'') sb_printf(b, "&#39;");
        else if (c < 0x20 || c == 0x7f) continue;
        else { sb_grow(b, 1); if (!b->oom) { b->p[b->n++] = (char)c; b->p[b->n] = 0; } }
    }
}

/* Approximate rendered width of s at font size fs (sans-serif: ~0.6 em a character). */
static double text_w(const char *s, double fs) {
    size_t chars = 0;
    for (const unsigned char *p = (const unsigned char *)s; p && *p; p++) chars += (*p & 0xC0) != 0x80;
    return (double)chars * fs * 0.6;
}

static char *dupstr(const char *s) { return s ? strdup(s) : NULL; }

/* ------------------------------------------------------------------ palette */
const char *ng_svg_palette(int i) {
    static const char *pal[10] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                  "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
    if (i < 0) i = -i;
    return pal[i % 10];
}

/* ------------------------------------------------------------------ ticks */
#define MAX_TICKS 64
typedef struct {
    double lo, hi, step;   /* step: linear tick step (formatting); 0 for decade ticks */
    int log, n;
    double t[MAX_TICKS];
} axis;

/* Smallest value m * 10^k (m in {1, 2, 5}) >= x > 0. */
static double nice_ge(double x) {
    double e = pow(10, floor(log10(x)));
    double f = x / e;
    double m = f <= 1 + 1e-9 ? 1 : f <= 2 + 1e-9 ? 2 : f <= 5 + 1e-9 ? 5 : 10;
    return m * e;
}

static double next_nice(double step) {   /* 1 -> 2 -> 5 -> 10 */
    double e = pow(10, floor(log10(step) + 1e-9));
    double f = step / e;
    return f < 1.5 ? 2 * e : f < 3.5 ? 5 * e : 10 * e;
}

static int nice_ticks_min(double lo, double hi, int max_ticks, double min_step, double *nlo, double *nhi, double *step);
int ng_svg_nice_ticks(double lo, double hi, int max_ticks, double *nlo, double *nhi, double *step) {
    return nice_ticks_min(lo, hi, max_ticks, 0, nlo, nhi, step);
}

static int nice_ticks_min(double lo, double hi, int max_ticks, double min_step, double *nlo, double *nhi, double *step) {
    if (max_ticks < 2) max_ticks = 2;
    if (max_ticks > MAX_TICKS) max_ticks = MAX_TICKS;
    if (hi < lo) { double t = lo; lo = hi; hi = t; }
    if (hi - lo <= 1e-12 * fmax(fabs(lo), fabs(hi))) {   /* one value: a range around it */
        double d = fabs(lo) * 0.1;
        if (d == 0) d = 1;
        lo -= d; hi += d;
    }
    double s = nice_ge((hi - lo) / (max_ticks - 1));
    if (s < min_step) s = nice_ge(min_step);
    for (;;) {
        double a = floor(lo / s + 1e-9) * s, b = ceil(hi / s - 1e-9) * s;
        int n = (int)llround((b - a) / s) + 1;
        if (n <= max_ticks) {
            *nlo = a; *nhi = b; *step = s;
            return n;
        }
        s = next_nice(s);
    }
}

static void axis_linear(axis *a, double lo, double hi, int max_ticks, double min_step) {
    a->log = 0;
    a->n = nice_ticks_min(lo, hi, max_ticks, min_step, &a->lo, &a->hi, &a->step);
    for (int i = 0; i < a->n; i++) {
        double v = a->lo + i * a->step;
        a->t[i] = fabs(v) < a->step * 1e-9 ? 0 : v;
    }
}

/* Log axis over [lo, hi] (> 0): ticks at 10^k, 1-2-5 x 10^k or 1..9 x 10^k: of those that
 * widen the range little and keep ticks apart, the one with the most ticks (<= max_ticks).
 * A range too narrow for any of them gets linear 1-2-5 ticks at log positions. */
static void axis_log(axis *a, double lo, double hi, int max_ticks) {
    a->log = 1;
    if (hi <= lo) { lo /= 1.5; hi *= 1.5; }
    if (max_ticks > MAX_TICKS) max_ticks = MAX_TICKS;
    double dec = log10(hi) - log10(lo);
    static const double sets[3][9] = {{1}, {1, 2, 5}, {1, 2, 3, 4, 5, 6, 7, 8, 9}};
    static const int nset[3] = {1, 3, 9};
    int best_n = 0;
    for (int si = 0; si < 3; si++) {
        double cand[256];
        int nc = 0;
        int k0 = (int)floor(log10(lo)) - 1, k1 = (int)ceil(log10(hi)) + 1;
        if ((k1 - k0 + 1) * nset[si] > (int)(sizeof cand / sizeof *cand)) continue;
        for (int k = k0; k <= k1; k++)
            for (int j = 0; j < nset[si]; j++) cand[nc++] = sets[si][j] * pow(10, k);
        double a_lo = 0, a_hi = 0;
        for (int i = 0; i < nc; i++) if (cand[i] <= lo * (1 + 1e-9)) a_lo = cand[i];
        for (int i = nc - 1; i >= 0; i--) if (cand[i] >= hi * (1 - 1e-9)) a_hi = cand[i];
        if (a_lo <= 0 || a_hi <= 0) continue;
        double t[256], span = log10(a_hi) - log10(a_lo), gap = 1;
        int n = 0;
        for (int i = 0; i < nc; i++)
            if (cand[i] >= a_lo * (1 - 1e-9) && cand[i] <= a_hi * (1 + 1e-9)) {
                if (n) gap = fmin(gap, (log10(cand[i]) - log10(t[n - 1])) / span);
                t[n++] = cand[i];
            }
        if (si == 0 && n > max_ticks) {   /* many decades: every m-th one */
            int m = (n + max_ticks - 1) / max_ticks, kept = 0;
            for (int i = 0; i < n; i += m) t[kept++] = t[i];
            n = kept;
            gap = 1.0 / n;
        }
        if (n < 3 || n > max_ticks || dec / span < 0.6 || gap < 0.5 / (max_ticks - 1) || n <= best_n) continue;
        best_n = n;
        a->lo = a_lo; a->hi = a_hi; a->step = 0; a->n = n;
        memcpy(a->t, t, n * sizeof *t);
    }
    if (best_n) return;
    /* narrow: linear 1-2-5 ticks at log positions */
    double nlo, nhi, s;
    int n = ng_svg_nice_ticks(lo, hi, max_ticks, &nlo, &nhi, &s);
    if (nlo <= 0) nlo = lo;
    a->lo = nlo; a->hi = nhi; a->step = s; a->n = 0;
    for (int i = 0; i < n + 1 && a->n < MAX_TICKS; i++) {
        double v = floor(nlo / s + 1e-9) * s + i * s;
        if (v > 0 && v >= nlo * (1 - 1e-9) && v <= nhi * (1 + 1e-9)) a->t[a->n++] = v;
    }
}

/* Tick label: as many decimals as the step needs; k / M for large round values. */
static void fmt_tick(char *buf, size_t cap, double v, double step) {
    if (v == 0) { snprintf(buf, cap, "0"); return; }
    double av = fabs(v);
    if (step <= 0) {   /* log-axis ticks: the shortest exact form */
        if (av >= 1e6 || av < 1e-4) snprintf(buf, cap, "%.0e", v);
        else snprintf(buf, cap, "%.6g", v);
        return;
    }
    const char *suffix = "";
    double scale = 1;
    if (av >= 1e6 && step >= 1e5) { scale = 1e6; suffix = "M"; }
    else if (av >= 1e4 && step >= 1e3) { scale = 1e3; suffix = "k"; }
    double s = step / scale;
    int dec = s >= 1 ? 0 : (int)ceil(-log10(s) - 1e-9);
    if (dec > 6) { snprintf(buf, cap, "%.3g", v); return; }
    snprintf(buf, cap, "%.*f%s", dec, v / scale, suffix);
}

/* ------------------------------------------------------------------ chart */
#define GX 40
#define GY 25

typedef struct {
    char *label, *note, *color, *dash;
    double width, opacity, r;
    int marker, scatter;
} legend_entry;

struct ng_svg_chart {
    int W, H;
    char *title, *subtitle, *xlabel, *ylabel, *y2label;
    double L, R, T, B;       /* plot area: left, right, top, bottom (px) */
    axis ax, ay, ay2;
    int has_y2, legend_right;
    sbuf body;
    legend_entry *leg;
    int n_leg, cap_leg, n_series;
    unsigned short occ[GY][GX];
    /* scatter points (for label placement) and point labels, placed at the end */
    struct { double x, y, r; } *pts;
    size_t n_pts, cap_pts;
    struct { char *text, *color; double x, y, r, fs; } *labs;
    size_t n_labs, cap_labs;
};

static double map_v(const axis *a, double v, double p0, double p1) {
    double t = a->log ? (log10(v) - log10(a->lo)) / (log10(a->hi) - log10(a->lo)) : (v - a->lo) / (a->hi - a->lo);
    return p0 + t * (p1 - p0);
}
static double px_x(const ng_svg_chart *c, double x) { return map_v(&c->ax, x, c->L, c->R); }
static double px_y(const ng_svg_chart *c, double y, int right) { return map_v(right ? &c->ay2 : &c->ay, y, c->B, c->T); }

static int point_ok(const ng_svg_chart *c, double x, double y, int right) {
    const axis *a = right ? &c->ay2 : &c->ay;
    return isfinite(x) && isfinite(y) && (!a->log || y > 0);
}

static void occ_mark(ng_svg_chart *c, double px, double py) {
    int gx = (int)((px - c->L) / (c->R - c->L) * GX), gy = (int)((py - c->T) / (c->B - c->T) * GY);
    if (gx >= 0 && gx < GX && gy >= 0 && gy < GY && c->occ[gy][gx] < 65535) c->occ[gy][gx]++;
}
static void occ_segment(ng_svg_chart *c, double x0, double y0, double x1, double y1) {
    double cw = (c->R - c->L) / GX, ch = (c->B - c->T) / GY;
    int steps = (int)fmax(fabs(x1 - x0) / cw, fabs(y1 - y0) / ch) * 2 + 1;
    if (steps > 4 * (GX + GY)) steps = 4 * (GX + GY);
    for (int i = 1; i <= steps; i++) occ_mark(c, x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps);
}

static int longest_label(const axis *a, double *w, double fs) {
    char buf[64];
    *w = 0;
    for (int i = 0; i < a->n; i++) {
        fmt_tick(buf, sizeof buf, a->t[i], a->step);
        double tw = text_w(buf, fs);
        if (tw > *w) *w = tw;
    }
    return 0;
}

ng_svg_chart *ng_svg_chart_begin(const ng_svg_chart_spec *s) {
    if (!isfinite(s->xmin) || !isfinite(s->xmax) || !isfinite(s->ymin) || !isfinite(s->ymax) || s->xmin > s->xmax || s->ymin > s->ymax) {
        ng_set_error("svg chart: bad axis ranges x [%g, %g], y [%g, %g]", s->xmin, s->xmax, s->ymin, s->ymax);
        return NULL;
    }
    if (s->log_y && s->ymin <= 0) { ng_set_error("svg chart: a log y axis needs positive values (min %g)", s->ymin); return NULL; }
    if (s->y2 && (!isfinite(s->y2min) || !isfinite(s->y2max) || s->y2min > s->y2max)) {
        ng_set_error("svg chart: bad right axis range [%g, %g]", s->y2min, s->y2max);
        return NULL;
    }
    ng_svg_chart *c = calloc(1, sizeof *c);
    if (!c) { ng_set_error("out of memory (svg chart)"); return NULL; }
    c->W = s->width > 0 ? s->width : 800;
    c->H = s->height > 0 ? s->height : 500;
    if (c->W < 200) c->W = 200;
    if (c->H < 150) c->H = 150;
    c->title = dupstr(s->title); c->subtitle = dupstr(s->subtitle);
    c->xlabel = dupstr(s->xlabel); c->ylabel = dupstr(s->ylabel); c->y2label = dupstr(s->y2label);
    c->has_y2 = s->y2;
    c->legend_right = s->legend_right > 0 ? s->legend_right : 0;
    /* vertical layout first: the y tick count depends on the plot height */
    c->T = 18 + (c->title ? 24 : 0) + (c->subtitle ? 16 : 0) + (c->title || c->subtitle ? 8 : 0);
    c->B = c->H - (20 + (c->xlabel ? 22 : 0) + 8);
    int ny = (int)((c->B - c->T) / 40) + 1;
    if (ny < 3) ny = 3;
    if (s->log_y) axis_log(&c->ay, s->ymin, s->ymax, ny);
    else axis_linear(&c->ay, s->ymin, s->ymax, ny, 0);
    if (c->has_y2) axis_linear(&c->ay2, s->y2min, s->y2max, ny, 0);
    double wl, wr = 0;
    longest_label(&c->ay, &wl, 12);
    if (c->has_y2) longest_label(&c->ay2, &wr, 12);
    c->L = 10 + (c->ylabel ? 22 : 0) + wl + 8;
    c->R = c->W - c->legend_right - (c->has_y2 ? 10 + (c->y2label ? 22 : 0) + wr + 8 : 28);
    if (c->R - c->L < 60) { ng_set_error("svg chart: %d px wide leaves no room for the plot", c->W); ng_svg_chart_free(c); return NULL; }
    int nx = (int)((c->R - c->L) / 90) + 1;
    if (nx < 3) nx = 3;
    axis_linear(&c->ax, s->xmin, s->xmax, nx, s->x_integer ? 1 : 0);
    return c;
}

static int add_legend(ng_svg_chart *c, const ng_svg_style *st, const char *color, int scatter) {
    if (!st->label) return NG_OK;
    if (c->n_leg == c->cap_leg) {
        int cap = c->cap_leg ? 2 * c->cap_leg : 8;
        legend_entry *p = realloc(c->leg, cap * sizeof *p);
        if (!p) return ng_set_error("out of memory (svg legend)");
        c->leg = p; c->cap_leg = cap;
    }
    legend_entry *e = &c->leg[c->n_leg++];
    memset(e, 0, sizeof *e);
    e->label = dupstr(st->label); e->note = dupstr(st->note); e->color = dupstr(color); e->dash = dupstr(st->dash);
    e->width = st->width > 0 ? st->width : 1.5;
    e->opacity = st->opacity > 0 ? st->opacity : 1;
    e->marker = scatter && st->marker == SVG_MARK_NONE ? SVG_MARK_CIRCLE : st->marker;
    e->r = st->marker_r > 0 ? st->marker_r : 3;
    e->scatter = scatter;
    return NG_OK;
}

static void marker_at(sbuf *b, int shape, double x, double y, double r) {
    if (shape == SVG_MARK_SQUARE)
        sb_printf(b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\"/>", x - r, y - r, 2 * r, 2 * r);
    else if (shape == SVG_MARK_DIAMOND)
        sb_printf(b, "<polygon points=\"%.2f,%.2f %.2f,%.2f %.2f,%.2f %.2f,%.2f\"/>", x, y - r * 1.3, x + r * 1.3, y, x, y + r * 1.3, x - r * 1.3, y);
    else
        sb_printf(b, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"%.2f\"/>", x, y, r);
}

int ng_svg_chart_line(ng_svg_chart *c, const double *x, const double *y, size_t n, const ng_svg_style *st) {
    ng_svg_style d = {0};
    if (!st) st = &d;
    const char *color = st->color ? st->color : ng_svg_palette(c->n_series);
    c->n_series++;
    double w = st->width > 0 ? st->width : 1.5, op = st->opacity > 0 ? st->opacity : 1;
    size_t valid = 0;
    for (size_t i = 0; i < n; i++) valid += point_ok(c, x[i], y[i], st->right);
    if (valid == 0) return add_legend(c, st, color, 0);
    sbuf *b = &c->body;
    sb_printf(b, "<polyline fill=\"none\" stroke=\"");
    sb_esc(b, color);
    sb_printf(b, "\" stroke-width=\"%.2f\"", w);
    if (op < 1) sb_printf(b, " stroke-opacity=\"%.2f\"", op);
    if (st->dash) { sb_printf(b, " stroke-dasharray=\""); sb_esc(b, st->dash); sb_printf(b, "\""); }
    sb_printf(b, " stroke-linejoin=\"round\" stroke-linecap=\"round\" points=\"");
    /* thin long series to the first/min/max/last point of each pixel column */
    int thin = valid > (size_t)(4 * (c->R - c->L));
    long col = -1;
    size_t f0 = 0, lo = 0, hi = 0, last = 0;
    int have = 0, first = 1;
    double lx = 0, ly = 0;
    for (size_t i = 0; i <= n; i++) {
        int ok = i < n && point_ok(c, x[i], y[i], st->right);
        if (i < n && !ok) continue;
        long k = ok ? (long)floor(px_x(c, x[i])) : -2;
        if (have && thin && ok && k == col) {
            if (y[i] < y[lo]) lo = i;
            if (y[i] > y[hi]) hi = i;
            last = i;
            continue;
        }
        if (have) {   /* flush the column: its points in order, without repeats */
            size_t q[4] = {f0, lo < hi ? lo : hi, lo < hi ? hi : lo, last};
            for (int a = 0; a < 4; a++) {
                if (a > 0 && q[a] == q[a - 1]) continue;
                double qx = px_x(c, x[q[a]]), qy = px_y(c, y[q[a]], st->right);
                sb_printf(b, first ? "%.2f,%.2f" : " %.2f,%.2f", qx, qy);
                if (first) occ_mark(c, qx, qy); else occ_segment(c, lx, ly, qx, qy);
                lx = qx; ly = qy; first = 0;
            }
        }
        if (!ok) break;
        f0 = lo = hi = last = i;
        col = k;
        have = 1;
    }
    sb_printf(b, "\">");
    if (st->label) { sb_printf(b, "<title>"); sb_esc(b, st->label); sb_printf(b, "</title>"); }
    sb_printf(b, "</polyline>\n");
    if (st->marker != SVG_MARK_NONE) {
        double r = st->marker_r > 0 ? st->marker_r : 3;
        sb_printf(b, "<g fill=\"");
        sb_esc(b, color);
        sb_printf(b, "\" stroke=\"white\" stroke-width=\"%.2f\">", r > 3.5 ? 1.5 : 1.0);
        for (size_t i = 0; i < n; i++)
            if (point_ok(c, x[i], y[i], st->right)) marker_at(b, st->marker, px_x(c, x[i]), px_y(c, y[i], st->right), r);
        sb_printf(b, "</g>\n");
    }
    if (b->oom) return ng_set_error("out of memory (svg chart)");
    return add_legend(c, st, color, 0);
}

int ng_svg_chart_scatter(ng_svg_chart *c, const double *x, const double *y, size_t n, const ng_svg_style *st, const char *const *labels) {
    ng_svg_style d = {0};
    if (!st) st = &d;
    const char *color = st->color ? st->color : ng_svg_palette(c->n_series);
    c->n_series++;
    double r = st->marker_r > 0 ? st->marker_r : 3, op = st->opacity > 0 ? st->opacity : 1;
    int shape = st->marker == SVG_MARK_NONE ? SVG_MARK_CIRCLE : st->marker;
    sbuf *b = &c->body;
    sb_printf(b, "<g fill=\"");
    sb_esc(b, color);
    sb_printf(b, "\"");
    if (op < 1) sb_printf(b, " fill-opacity=\"%.2f\"", op);
    sb_printf(b, ">");
    if (st->label) { sb_printf(b, "<title>"); sb_esc(b, st->label); sb_printf(b, "</title>"); }
    for (size_t i = 0; i < n; i++) {
        if (!point_ok(c, x[i], y[i], st->right)) continue;
        double px = px_x(c, x[i]), py = px_y(c, y[i], st->right);
        marker_at(b, shape, px, py, r);
        occ_mark(c, px, py);
    }
    sb_printf(b, "</g>\n");
    for (size_t i = 0; i < n; i++) {   /* remembered for label placement */
        if (!point_ok(c, x[i], y[i], st->right)) continue;
        if (c->n_pts == c->cap_pts) {
            size_t cap = c->cap_pts ? 2 * c->cap_pts : 256;
            void *np = realloc(c->pts, cap * sizeof *c->pts);
            if (!np) return ng_set_error("out of memory (svg scatter)");
            c->pts = np;
            c->cap_pts = cap;
        }
        c->pts[c->n_pts].x = px_x(c, x[i]);
        c->pts[c->n_pts].y = px_y(c, y[i], st->right);
        c->pts[c->n_pts++].r = r;
    }
    if (labels) {   /* placed in ng_svg_chart_end, once every point is known */
        double fs = st->label_size > 0 ? st->label_size : 10;
        for (size_t i = 0; i < n; i++) {
            if (!labels[i] || !point_ok(c, x[i], y[i], st->right)) continue;
            if (c->n_labs == c->cap_labs) {
                size_t cap = c->cap_labs ? 2 * c->cap_labs : 64;
                void *nl = realloc(c->labs, cap * sizeof *c->labs);
                if (!nl) return ng_set_error("out of memory (svg scatter)");
                c->labs = nl;
                c->cap_labs = cap;
            }
            double px = px_x(c, x[i]), py = px_y(c, y[i], st->right);
            char *t = strdup(labels[i]), *col = strdup(st->label_in_color ? color : "#333");
            if (!t || !col) { free(t); free(col); return ng_set_error("out of memory (svg scatter)"); }
            c->labs[c->n_labs].text = t;
            c->labs[c->n_labs].color = col;
            c->labs[c->n_labs].x = px;
            c->labs[c->n_labs].y = py;
            c->labs[c->n_labs].r = r;
            c->labs[c->n_labs++].fs = fs;
            occ_mark(c, px + r + 2 + text_w(labels[i], fs) / 2, py - r - fs * 0.4);
        }
    }
    if (b->oom) return ng_set_error("out of memory (svg chart)");
    return add_legend(c, st, color, 1);
}

int ng_svg_chart_scatter_classes(ng_svg_chart *c, const double *x, const double *y, const int *cls, size_t n,
                              int n_classes, const char *const *names) {
    double *bx = malloc((n ? n : 1) * sizeof *bx), *by = malloc((n ? n : 1) * sizeof *by);
    if (!bx || !by) { free(bx); free(by); return ng_set_error("out of memory (svg scatter)"); }
    int rc = NG_OK;
    for (int k = 0; k < n_classes && rc == NG_OK; k++) {
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (cls[i] == k) { bx[m] = x[i]; by[m] = y[i]; m++; }
        if (!m) continue;
        char name[32];
        snprintf(name, sizeof name, "class %d", k);
        ng_svg_style st = {.label = names && names[k] ? names[k] : name, .color = ng_svg_palette(k),
                        .marker = SVG_MARK_CIRCLE, .marker_r = n > 2000 ? 1.6 : 2.5, .opacity = 0.75};
        rc = ng_svg_chart_scatter(c, bx, by, m, &st, NULL);
    }
    free(bx);
    free(by);
    return rc;
}

void ng_svg_chart_free(ng_svg_chart *c) {
    if (!c) return;
    free(c->title); free(c->subtitle); free(c->xlabel); free(c->ylabel); free(c->y2label);
    for (int i = 0; i < c->n_leg; i++) {
        free(c->leg[i].label); free(c->leg[i].note); free(c->leg[i].color); free(c->leg[i].dash);
    }
    free(c->leg);
    for (size_t i = 0; i < c->n_labs; i++) { free(c->labs[i].text); free(c->labs[i].color); }
    free(c->labs);
    free(c->pts);
    free(c->body.p);
    free(c);
}

static double overlap(double ax0, double ay0, double ax1, double ay1, double bx0, double by0, double bx1, double by1) {
    double w = fmin(ax1, bx1) - fmax(ax0, bx0), h = fmin(ay1, by1) - fmax(ay0, by0);
    return w > 0 && h > 0 ? w * h : 0;
}

/* Point labels, each beside its point where it covers the least of the labels already placed,
 * the other points and the outside of the plot area (greedy, in order; right and up first). */
static void draw_point_labels(ng_svg_chart *c, sbuf *b) {
    if (!c->n_labs) return;
    double *box = malloc(sizeof(double) * 4 * c->n_labs);
    if (!box) { b->oom = 1; return; }
    sb_printf(b, "<g>\n");
    for (size_t i = 0; i < c->n_labs; i++) {
        const double px = c->labs[i].x, py = c->labs[i].y, r = c->labs[i].r, fs = c->labs[i].fs;
        const double w = text_w(c->labs[i].text, fs), asc = 0.75 * fs, desc = 0.2 * fs;
        /* candidate baselines-left corners: right, left, above, below, then farther out */
        double best_cost = INFINITY, bx = px + r + 2, by = py - r - 1;
        for (int far = 0; far < 3; far++) {
            const double g = 2 + far * 0.6 * fs;
            const double cx[8] = {px + r + g, px + r + g, px + r + g, px - r - g - w, px - r - g - w, px - r - g - w, px - w / 2, px - w / 2};
            const double cy[8] = {py - r - g + desc + 1, py + asc / 2, py + r + g + asc - 1, py - r - g + desc + 1, py + asc / 2,
                                  py + r + g + asc - 1, py - r - g, py + r + g + asc};
            for (int k = 0; k < 8; k++) {
                double x0 = cx[k], y0 = cy[k] - asc, x1 = cx[k] + w, y1 = cy[k] + desc;
                double cost = 0.05 * far * w * fs;   /* farther: a little worse */
                for (size_t j = 0; j < i; j++) cost += 3 * overlap(x0, y0, x1, y1, box[4 * j], box[4 * j + 1], box[4 * j + 2], box[4 * j + 3]);
                for (size_t j = 0; j < c->n_pts; j++) {
                    const double qr = c->pts[j].r + 1;
                    cost += overlap(x0, y0, x1, y1, c->pts[j].x - qr, c->pts[j].y - qr, c->pts[j].x + qr, c->pts[j].y + qr);
                }
                double inside = overlap(x0, y0, x1, y1, c->L, c->T, c->R, c->B);
                cost += 4 * ((x1 - x0) * (y1 - y0) - inside);
                if (cost < best_cost - 1e-9) { best_cost = cost; bx = cx[k]; by = cy[k]; }
            }
            if (best_cost <= 0.05 * far * w * fs + 1e-9) break;   /* a free place: stop looking */
        }
        box[4 * i] = bx; box[4 * i + 1] = by - asc; box[4 * i + 2] = bx + w; box[4 * i + 3] = by + desc;
        sb_printf(b, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"%g\" fill=\"", bx, by, fs);
        sb_esc(b, c->labs[i].color);
        sb_printf(b, "\">");
        sb_esc(b, c->labs[i].text);
        sb_printf(b, "</text>\n");
    }
    sb_printf(b, "</g>\n");
    free(box);
}

static void draw_legend(ng_svg_chart *c, sbuf *b) {
    if (c->n_leg == 0) return;
    const double fs = 12, row = 18, sw = 26;
    double tw = 0;
    for (int i = 0; i < c->n_leg; i++) {
        double w = text_w(c->leg[i].label, fs) + (c->leg[i].note ? 8 + text_w(c->leg[i].note, 11) : 0);
        if (w > tw) tw = w;
    }
    double bw = 10 + sw + 8 + tw + 10, bh = 8 + c->n_leg * row + 4;
    /* the corner whose box covers the fewest drawn cells (top right first on ties) */
    double inset = 10;
    double cx[4] = {c->R - inset - bw, c->L + inset, c->R - inset - bw, c->L + inset};
    double cy[4] = {c->T + inset, c->T + inset, c->B - inset - bh, c->B - inset - bh};
    int best = 0;
    long best_cost = -1;
    for (int k = 0; k < 4; k++) {
        long cost = 0;
        int gx0 = (int)floor((cx[k] - c->L) / (c->R - c->L) * GX), gx1 = (int)ceil((cx[k] + bw - c->L) / (c->R - c->L) * GX);
        int gy0 = (int)floor((cy[k] - c->T) / (c->B - c->T) * GY), gy1 = (int)ceil((cy[k] + bh - c->T) / (c->B - c->T) * GY);
        for (int gy = gy0 < 0 ? 0 : gy0; gy < gy1 && gy < GY; gy++)
            for (int gx = gx0 < 0 ? 0 : gx0; gx < gx1 && gx < GX; gx++) cost += c->occ[gy][gx];
        if (best_cost < 0 || cost < best_cost) { best_cost = cost; best = k; }
    }
    double x0 = cx[best], y0 = cy[best];
    if (c->legend_right) {   /* outside, right of the plot (and of the right axis) */
        x0 = fmin(c->W - c->legend_right + 4, c->W - bw - 2);
        y0 = c->T;
    }
    sb_printf(b, "<g class=\"legend\">\n<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" rx=\"4\" fill=\"white\" fill-opacity=\"0.9\" stroke=\"#bbbbbb\"/>\n",
              x0, y0, bw, bh);
    for (int i = 0; i < c->n_leg; i++) {
        const legend_entry *e = &c->leg[i];
        double ym = y0 + 8 + i * row + row / 2, xs = x0 + 10;
        if (!e->scatter) {
            sb_printf(b, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"", xs, ym, xs + sw, ym);
            sb_esc(b, e->color);
            sb_printf(b, "\" stroke-width=\"%.2f\"", e->width < 2 ? 2.0 : e->width);
            if (e->opacity < 1) sb_printf(b, " stroke-opacity=\"%.2f\"", e->opacity < 0.5 ? 0.5 : e->opacity);
            if (e->dash) { sb_printf(b, " stroke-dasharray=\""); sb_esc(b, e->dash); sb_printf(b, "\""); }
            sb_printf(b, "/>");
        }
        if (e->marker != SVG_MARK_NONE) {
            sb_printf(b, "<g fill=\"");
            sb_esc(b, e->color);
            sb_printf(b, "\" stroke=\"white\" stroke-width=\"1\">");
            marker_at(b, e->marker, xs + sw / 2, ym, e->scatter ? 4 : (e->r > 4 ? 4 : e->r));
            sb_printf(b, "</g>");
        }
        sb_printf(b, "<text x=\"%.1f\" y=\"%.1f\" fill=\"#222222\">", xs + sw + 8, ym + 4);
        sb_esc(b, e->label);
        if (e->note) { sb_printf(b, "<tspan dx=\"8\" fill=\"#777777\" font-size=\"11\">"); sb_esc(b, e->note); sb_printf(b, "</tspan>"); }
        sb_printf(b, "</text>\n");
    }
    sb_printf(b, "</g>\n");
}

char *ng_svg_chart_end(ng_svg_chart *c, size_t *len) {
    if (!c) { ng_set_error("svg chart: NULL"); return NULL; }
    sbuf o = {0};
    const double W = c->W, H = c->H;
    sb_printf(&o, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    sb_printf(&o, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                  "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"12\">\n", c->W, c->H, c->W, c->H);
    if (c->title) { sb_printf(&o, "<title>"); sb_esc(&o, c->title); sb_printf(&o, "</title>\n"); }
    sb_printf(&o, "<rect width=\"%g\" height=\"%g\" fill=\"white\"/>\n", W, H);
    double mid = (c->L + c->R) / 2, ty = 8;
    if (c->title) {
        ty += 22;
        sb_printf(&o, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"16\" font-weight=\"bold\" fill=\"#222222\">", mid, ty);
        sb_esc(&o, c->title);
        sb_printf(&o, "</text>\n");
    }
    if (c->subtitle) {
        ty += 17;
        sb_printf(&o, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"11\" fill=\"#666666\">", mid, ty);
        sb_esc(&o, c->subtitle);
        sb_printf(&o, "</text>\n");
    }
    /* grid */
    sb_printf(&o, "<g stroke=\"#e8e8e8\" stroke-width=\"1\" shape-rendering=\"crispEdges\">\n");
    for (int i = 0; i < c->ax.n; i++) {
        double x = px_x(c, c->ax.t[i]);
        sb_printf(&o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", x, c->T, x, c->B);
    }
    for (int i = 0; i < c->ay.n; i++) {
        double y = px_y(c, c->ay.t[i], 0);
        sb_printf(&o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", c->L, y, c->R, y);
    }
    sb_printf(&o, "\n</g>\n");
    /* series, clipped a few pixels beyond the plot area (markers on the edge stay whole) */
    sb_printf(&o, "<defs><clipPath id=\"plot-area\"><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/></clipPath></defs>\n",
              c->L - 6, c->T - 6, c->R - c->L + 12, c->B - c->T + 12);
    sb_printf(&o, "<g clip-path=\"url(#plot-area)\">\n");
    if (c->body.p) { sb_grow(&o, c->body.n); if (!o.oom) { memcpy(o.p + o.n, c->body.p, c->body.n + 1); o.n += c->body.n; } }
    sb_printf(&o, "</g>\n");
    /* frame, ticks and tick labels */
    sb_printf(&o, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#888888\" shape-rendering=\"crispEdges\"/>\n",
              c->L, c->T, c->R - c->L, c->B - c->T);
    char buf[64];
    sb_printf(&o, "<g fill=\"#444444\">\n");
    for (int i = 0; i < c->ax.n; i++) {
        double x = px_x(c, c->ax.t[i]);
        fmt_tick(buf, sizeof buf, c->ax.t[i], c->ax.step);
        sb_printf(&o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888888\"/>", x, c->B, x, c->B + 4);
        sb_printf(&o, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n", x, c->B + 17, buf);
    }
    for (int i = 0; i < c->ay.n; i++) {
        double y = px_y(c, c->ay.t[i], 0);
        fmt_tick(buf, sizeof buf, c->ay.t[i], c->ay.step);
        sb_printf(&o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888888\"/>", c->L - 4, y, c->L, y);
        sb_printf(&o, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n", c->L - 7, y + 4, buf);
    }
    if (c->has_y2)
        for (int i = 0; i < c->ay2.n; i++) {
            double y = px_y(c, c->ay2.t[i], 1);
            fmt_tick(buf, sizeof buf, c->ay2.t[i], c->ay2.step);
            sb_printf(&o, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#888888\"/>", c->R, y, c->R + 4, y);
            sb_printf(&o, "<text x=\"%.1f\" y=\"%.1f\">%s</text>\n", c->R + 7, y + 4, buf);
        }
    sb_printf(&o, "</g>\n");
    /* axis titles */
    if (c->xlabel) {
        sb_printf(&o, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" font-size=\"13\" fill=\"#333333\">", mid, c->B + 38);
        sb_esc(&o, c->xlabel);
        sb_printf(&o, "</text>\n");
    }
    if (c->ylabel) {
        double x = 20, y = (c->T + c->B) / 2;
        sb_printf(&o, "<text transform=\"translate(%.1f,%.1f) rotate(-90)\" text-anchor=\"middle\" font-size=\"13\" fill=\"#333333\">", x, y);
        sb_esc(&o, c->ylabel);
        sb_printf(&o, "</text>\n");
    }
    if (c->has_y2 && c->y2label) {
        double x = W - c->legend_right - 14, y = (c->T + c->B) / 2;
        sb_printf(&o, "<text transform=\"translate(%.1f,%.1f) rotate(90)\" text-anchor=\"middle\" font-size=\"13\" fill=\"#333333\">", x, y);
        sb_esc(&o, c->y2label);
        sb_printf(&o, "</text>\n");
    }
    draw_point_labels(c, &o);
    draw_legend(c, &o);
    sb_printf(&o, "</svg>\n");
    int oom = o.oom || c->body.oom;
    ng_svg_chart_free(c);
    if (oom) { free(o.p); ng_set_error("out of memory (svg chart)"); return NULL; }
    if (len) *len = o.n;
    return o.p;
}

int ng_svg_write_file_atomic(const char *path, const char *data, size_t len) {
    ng_atomic_file af;
    if (ng_atomic_open(&af, path)) return NG_ERR;
    int ok = fwrite(data, 1, len, af.fp) == len;
    if (!ok) ng_set_error("cannot write '%s': %s", path, strerror(errno ? errno : EIO));
    return ng_atomic_commit(&af, ok);
}

int ng_svg_chart_write(ng_svg_chart *c, const char *path) {
    size_t len = 0;
    char *doc = ng_svg_chart_end(c, &len);
    if (!doc) return NG_ERR;
    int rc = ng_svg_write_file_atomic(path, doc, len);
    free(doc);
    return rc;
}

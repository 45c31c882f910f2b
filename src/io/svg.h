/* svg.h - hand-written SVG charts, private to nanogen (not part of the public header).
 *
 * One chart = a title (and optional subtitle), a plot area with a bottom x axis, a left y axis
 * (linear or log) and an optional right y axis, grid lines at 1-2-5 tick values, any number of
 * polylines and scatter point sets, and a legend placed in the emptiest corner of the plot area.
 * The document is self-contained (no external fonts, CSS or images) and every label is escaped.
 *
 *   ng_svg_chart_spec s = {.title = "run", .xlabel = "step", .ylabel = "loss",
 *                       .xmin = 0, .xmax = 2000, .ymin = 1.5, .ymax = 4.2};
 *   ng_svg_chart *c = ng_svg_chart_begin(&s);
 *   ng_svg_chart_line(c, x, y, n, &(ng_svg_style){.label = "val_loss", .width = 2, .marker = SVG_MARK_CIRCLE});
 *   ng_svg_chart_scatter_classes(c, zx, zy, cls, n, 10, NULL);   // 2-D latents coloured by class
 *   if (ng_svg_chart_write(c, "loss.svg")) ...;                  // atomic; frees c
 *
 * Errors follow the library: NG_OK / NG_ERR (or NULL) with a message in ng_last_error(). */
#ifndef NG_SVG_H
#define NG_SVG_H
#include "core/internal.h"

typedef struct ng_svg_chart ng_svg_chart;

typedef struct {
    int width, height;               /* pixels; 0 -> 800 x 500 */
    const char *title, *subtitle;    /* NULL: none */
    const char *xlabel, *ylabel;     /* axis titles; NULL: none */
    double xmin, xmax;               /* data ranges; widened to nice tick values */
    int x_integer;                   /* x ticks at whole numbers only (steps, epochs) */
    double ymin, ymax;               /* left axis */
    int log_y;                       /* left axis logarithmic (needs ymin > 0) */
    int y2;                          /* draw a right axis over [y2min, y2max] */
    double y2min, y2max;
    const char *y2label;
    int legend_right;                /* > 0: reserve this many px right of the plot for the legend
                                      * (many entries, e.g. classes); 0: inside, emptiest corner */
} ng_svg_chart_spec;

enum { SVG_MARK_NONE, SVG_MARK_CIRCLE, SVG_MARK_SQUARE, SVG_MARK_DIAMOND };

typedef struct {
    const char *label;     /* legend text; NULL: no legend entry */
    const char *note;      /* grey text after the label in the legend (e.g. the last value) */
    const char *color;     /* "#rrggbb" or an SVG colour name; NULL: palette by series index */
    double width;          /* line width (px); 0 -> 1.5 */
    double opacity;        /* 0 -> 1 */
    const char *dash;      /* stroke-dasharray, e.g. "6 3"; NULL: solid */
    int marker;            /* SVG_MARK_*: drawn at every point of a line; scatter default circle */
    double marker_r;       /* marker radius (px); 0 -> 3 */
    int right;             /* against the right y axis */
    double label_size;     /* scatter point labels: font size (px); 0 -> 10 */
    int label_in_color;    /* scatter point labels in the series colour (else dark grey) */
} ng_svg_style;

/* The i-th colour of a 10-colour qualitative palette (cycles). */
const char *ng_svg_palette(int i);

/* Start a chart: lays out the axes from the data ranges. NULL + error on bad ranges/memory. */
ng_svg_chart *ng_svg_chart_begin(const ng_svg_chart_spec *spec);
/* A polyline through n points (x[i], y[i]); non-finite points (and y <= 0 on a log axis) break
 * nothing: they are skipped. Long series are thinned to a min/max envelope per pixel column. */
int ng_svg_chart_line(ng_svg_chart *c, const double *x, const double *y, size_t n, const ng_svg_style *st);
/* n points with one style; labels (NULL or n strings, NULL entries skipped) are written beside them. */
int ng_svg_chart_scatter(ng_svg_chart *c, const double *x, const double *y, size_t n, const ng_svg_style *st,
                      const char *const *labels);
/* n points coloured by class cls[i] in [0, n_classes) (others skipped), one legend entry per
 * class present: names[k], or "class k" when names is NULL. */
int ng_svg_chart_scatter_classes(ng_svg_chart *c, const double *x, const double *y, const int *cls, size_t n,
                              int n_classes, const char *const *names);
/* The finished document (malloc'd, NUL-terminated, *len without the NUL); frees c. NULL + error. */
char *ng_svg_chart_end(ng_svg_chart *c, size_t *len);
/* ng_svg_chart_end, then write it to path atomically (path.tmp, fsync, rename); frees c. */
int ng_svg_chart_write(ng_svg_chart *c, const char *path);
/* Free a chart that will not be ended (NULL is fine). */
void ng_svg_chart_free(ng_svg_chart *c);

/* Write bytes to path atomically: path.tmp, fsync, rename; the tmp file is removed on error. */
int ng_svg_write_file_atomic(const char *path, const char *data, size_t len);
/* Nice axis ticks: at most max_ticks values covering [lo, hi] with a 1-2-5 step. Writes the
 * widened range to *nlo, *nhi, the step to *step; returns the tick count. */
int ng_svg_nice_ticks(double lo, double hi, int max_ticks, double *nlo, double *nhi, double *step);
#endif

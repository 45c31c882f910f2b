/* embeddings_svg.c - token embeddings in 2-D (ng_embeddings_2d) as an SVG scatter (`nanogen
 * embeddings`): one labelled point per token, coloured and grouped in the legend by kind. */
#include "core/internal.h"
#include "io/svg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int ng_embeddings_svg(const char *out, const ng_embeddings_view *v, const char *const *labels, int word, const char *title, const char *sub) {
    const double *px = v->x, *py = v->y, *ex = v->explained;
    const int n = v->n;
    double *bx = malloc(sizeof(double) * n), *by = malloc(sizeof(double) * n);
    const char **blabels = calloc((size_t)n, sizeof *blabels);
    ng_svg_chart *ch = NULL;
    int rc = NG_ERR;
    if (!bx || !by || !blabels) { ng_set_error("out of memory"); goto done; }
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int i = 0; i < n; i++) {
        x0 = fmin(x0, px[i]); x1 = fmax(x1, px[i]); y0 = fmin(y0, py[i]); y1 = fmax(y1, py[i]);
    }
    if (!(x0 < x1)) { x0 -= 1; x1 += 1; }
    if (!(y0 < y1)) { y0 -= 1; y1 += 1; }
    /* room for the labels right of the points */
    x1 += 0.06 * (x1 - x0);
    char xl[64], yl[64];
    snprintf(xl, sizeof xl, "PC1 (%.1f%% of the variance)", 100 * ex[0]);
    snprintf(yl, sizeof yl, "PC2 (%.1f%%)", 100 * ex[1]);
    ng_svg_chart_spec s = {.width = 960, .height = 720, .title = title, .subtitle = sub, .xlabel = xl, .ylabel = yl,
                        .xmin = x0, .xmax = x1, .ymin = y0, .ymax = y1, .legend_right = 170};
    if (!(ch = ng_svg_chart_begin(&s))) goto done;
    int nk;
    const char *const *kinds = ng_token_kind_names(word, &nk);
    const double fs = word ? (n > 150 ? 10 : 12) : 16;
    for (int k = 0; k < nk; k++) {
        int m2 = 0;
        for (int i = 0; i < n; i++)
            if (v->kind[i] == k) { bx[m2] = px[i]; by[m2] = py[i]; blabels[m2] = labels[i]; m2++; }
        if (!m2) continue;
        ng_svg_style st = {.label = kinds[k], .color = ng_svg_palette(k), .marker = SVG_MARK_CIRCLE, .marker_r = 3,
                        .opacity = 0.9, .label_size = fs, .label_in_color = 1};
        if (ng_svg_chart_scatter(ch, bx, by, (size_t)m2, &st, blabels)) goto done;
    }
    ng_svg_chart *c = ch;
    ch = NULL;
    if (ng_svg_chart_write(c, out)) goto done;
    rc = NG_OK;
done:
    ng_svg_chart_free(ch);
    free(bx); free(by); free(blabels);
    return rc;
}

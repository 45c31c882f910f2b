/* latents_svg.c - an image model's latents of test images as an SVG scatter coloured by class
 * (`nanogen sample DIR --scatter`): a 2-D latent as is, a wider one by PCA (ng_image_latents_2d). */
#include "core/internal.h"
#include "io/svg.h"

#include <math.h>
#include <stdlib.h>

int ng_image_scatter_svg(const char *out, ng_model *m, const ng_images *te, const char *spec, int n) {
    const ng_model_config *c = ng_model_cfg(m);
    const int N = n > 0 && n < te->n ? n : te->n, Z = c->latent;
    double *px = malloc(sizeof(double) * N), *py = malloc(sizeof(double) * N), var[2];
    int *cls = malloc(sizeof(int) * N), rc = NG_ERR;
    if (!px || !py || !cls) { ng_set_error("out of memory"); goto done; }
    if (ng_image_latents_2d(m, te->pixels, N, px, py, var)) goto done;
    char title[256], xl[64], yl[64];
    const char *means = c->kind == NG_MODEL_VAE ? "latent means" : "latent codes", *kind = ng_model_kind_name(c->kind);
    if (Z == 2) {
        snprintf(title, sizeof title, "%s: %s of %d test images", kind, means, N);
        snprintf(xl, sizeof xl, "z1"); snprintf(yl, sizeof yl, "z2");
    } else if (Z == 1) {
        snprintf(title, sizeof title, "%s: 1-D %s of %d test images", kind, means, N);
        snprintf(xl, sizeof xl, "z1"); snprintf(yl, sizeof yl, "(none)");
    } else {
        snprintf(title, sizeof title, "%s: %s of %d test images, PCA of %d-D to 2-D", kind, means, N, Z);
        snprintf(xl, sizeof xl, "PC1 (%.0f%% of the variance)", 100 * var[0]);
        snprintf(yl, sizeof yl, "PC2 (%.0f%%)", 100 * var[1]);
    }
    double x0 = INFINITY, x1 = -INFINITY, y0 = INFINITY, y1 = -INFINITY;
    for (int i = 0; i < N; i++) {
        if (isfinite(px[i])) { x0 = fmin(x0, px[i]); x1 = fmax(x1, px[i]); }
        if (isfinite(py[i])) { y0 = fmin(y0, py[i]); y1 = fmax(y1, py[i]); }
        cls[i] = te->labels ? te->labels[i] : 0;
    }
    if (!(x0 < x1)) { x0 = (isfinite(x0) ? x0 : 0) - 1; x1 = x0 + 2; }
    if (!(y0 < y1)) { y0 = (isfinite(y0) ? y0 : 0) - 1; y1 = y0 + 2; }
    ng_svg_chart_spec s = {.width = 900, .height = 700, .title = title, .subtitle = spec, .xlabel = xl, .ylabel = yl,
                        .xmin = x0, .xmax = x1, .ymin = y0, .ymax = y1, .legend_right = te->labels ? 120 : 0};
    ng_svg_chart *ch = ng_svg_chart_begin(&s);
    if (!ch) goto done;
    int r = te->labels ? ng_svg_chart_scatter_classes(ch, px, py, cls, (size_t)N, te->n_classes, ng_dataset_class_names(spec, te->n_classes))
                       : ng_svg_chart_scatter(ch, px, py, (size_t)N, &(ng_svg_style){.marker = SVG_MARK_CIRCLE, .marker_r = 2, .opacity = 0.6}, NULL);
    if (r) { ng_svg_chart_free(ch); goto done; }
    if (ng_svg_chart_write(ch, out)) goto done;
    rc = NG_OK;
done:
    free(px); free(py); free(cls);
    return rc;
}


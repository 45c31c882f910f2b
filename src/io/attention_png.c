/* attention_png.c - attention maps as a PNG of heat maps (`nanogen attention`): one panel per
 * layer and head (rows of panels: layers; one layer: its heads in a near-square grid), each
 * row i = a token, column j = how much it attends to token j (viridis; masked above the
 * diagonal), the tokens as axis labels, a colour bar. */
#include "core/internal.h"
#include "io/canvas.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One heat map of n x n weights at (x, y), z pixels a cell; above the diagonal: masked. */
static void draw_map(ng_canvas *cv, int x, int y, int z, const float *a, int n) {
    static const uint8_t masked[3] = {232, 232, 232};
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            uint8_t rgb[3];
            if (j > i) memcpy(rgb, masked, 3);
            else ng_canvas_viridis(a[(size_t)i * n + j], rgb);
            ng_canvas_fill(cv, x + j * z, y + i * z, z, z, rgb);
        }
}

/* A token label on the canvas: a newline as a small return arrow (the width of a glyph),
 * whitespace symbols in blue; up: rotated (read upwards from (x, y)). Returns the width. */
static int label_width(const char *tok_text, const char *label) {
    return !strcmp(tok_text, "\n") ? 6 : ng_canvas_text_width(label, 1);
}
static void draw_label(ng_canvas *cv, int x, int y, const char *tok_text, const char *label, int up) {
    static const uint8_t ink[3] = {20, 20, 20}, sym[3] = {40, 110, 200};
    if (!strcmp(tok_text, "\n")) {   /* a 5 x 7 return arrow: down the right side, left along the bottom */
        static const char *const rows[7] = {"....#", "....#", "....#", ".#..#", "##..#", "#####", ".#..."};
        for (int r = 0; r < 7; r++)
            for (int k = 0; k < 5; k++)
                if (rows[r][k] == '#') {
                    if (!up) ng_canvas_fill(cv, x + k, y + r, 1, 1, sym);
                    else ng_canvas_fill(cv, x + r, y - 1 - k, 1, 1, sym);
                }
        return;
    }
    const uint8_t *col = ng_token_is_space(tok_text) ? sym : ink;
    if (up) ng_canvas_text_up(cv, x, y, label, 1, col);
    else ng_canvas_text(cv, x, y, label, 1, col);
}

int ng_attention_png(const char *out, const ng_attention_plot *p, int *width, int *height) {
    const float *att = p->att;
    const int n = p->n, H = p->n_head, l0 = p->l0, l1 = p->l1, h0 = p->h0, h1 = p->h1, one_glyph = p->upright;
    if (n < 1 || l0 < 0 || l1 > p->n_layer || l0 >= l1 || h0 < 0 || h1 > H || h0 >= h1)
        return ng_set_error("attention picture: layers [%d, %d) of %d, heads [%d, %d) of %d, %d tokens", l0, l1, p->n_layer, h0, h1, H, n);
    const char *const *labels = p->labels;
    const int nl = l1 - l0, nh = h1 - h0, panels = nl * nh;
    int cols = nh, prow = nl;
    if (nl == 1 && nh > 1) {   /* one layer: the heads in a near-square grid */
        cols = (int)ceil(sqrt((double)nh));
        prow = (nh + cols - 1) / cols;
    }
    /* layout: z pixels a cell; labels at scale 1 (7 px glyphs) on every row / column, or every k-th when cells are under 8 px */
    const int big = panels == 1 ? 640 : panels <= 4 ? 360 : 240;
    int z = big / n;
    if (z > 24) z = 24;
    if (z < 2) z = 2;
    const int every = z >= 8 ? 1 : (8 + z - 1) / z;
    int lab_w = 0;
    for (int i = 0; i < n; i++) {
        int w = label_width(p->tokens[i], labels[i]);
        if (w > lab_w) lab_w = w;
    }
    const int map = n * z, pad = 14, title_h = 16;
    const int left = lab_w + 6, below = one_glyph ? 12 : lab_w + 6;
    const int pw = left + map + pad, ph = title_h + map + below + pad;
    /* the title and subtitle, and a line saying how to read the maps */
    const char *head_s = p->title ? p->title : "attention", *sub1 = p->subtitle ? p->subtitle : "";
    char sub2[256];
    snprintf(sub2, sizeof sub2, "row = a token; columns = the tokens it attends to (each row sums to 1); grey = masked (later tokens)");
    const int top = 62, bar_w = 90;
    int W = pad + cols * pw + bar_w;
    const int Himg = top + prow * ph + 24;
    const int tw = ng_canvas_text_width(head_s, 2), sw = ng_canvas_text_width(sub2, 1);
    if (W < 2 * pad + tw) W = 2 * pad + tw;
    if (W < 2 * pad + sw) W = 2 * pad + sw;
    ng_canvas cv = {0};
    if (ng_canvas_new(&cv, W, Himg, CANVAS_WHITE)) return NG_ERR;
    static const uint8_t ink[3] = {20, 20, 20}, grey[3] = {110, 110, 110};
    ng_canvas_text(&cv, pad, 8, head_s, 2, ink);
    ng_canvas_text(&cv, pad, 32, sub1, 1, grey);
    ng_canvas_text(&cv, pad, 44, sub2, 1, grey);
    int pi = 0;
    for (int l = l0; l < l1; l++)
        for (int h = h0; h < h1; h++, pi++) {
            const int gx = pad + (pi % cols) * pw, gy = top + (pi / cols) * ph;
            const int mx = gx + left, my = gy + title_h;
            char pt[64];
            snprintf(pt, sizeof pt, "layer %d, head %d", l, h);
            ng_canvas_text(&cv, mx, gy + 2, pt, 1, ink);
            draw_map(&cv, mx, my, z, att + ((size_t)l * H + h) * n * n, n);
            for (int i = 0; i < n; i++) {
                if (i % every && i != n - 1) continue;
                const char *t = p->tokens[i];
                int w = label_width(t, labels[i]);
                draw_label(&cv, mx - 4 - w, my + i * z + (z - 7) / 2, t, labels[i], 0);   /* row: the token */
                if (one_glyph) draw_label(&cv, mx + i * z + (z - w + 1) / 2, my + map + 3, t, labels[i], 0);
                else draw_label(&cv, mx + i * z + (z - 7) / 2, my + map + 3 + w, t, labels[i], 1);
            }
        }
    /* colour bar */
    {
        const int bx = pad + cols * pw + 10, by = top + title_h, bh = prow == 1 ? map : 200, bw = 14;
        for (int y = 0; y < bh; y++) {
            uint8_t rgb[3];
            ng_canvas_viridis(1.0 - (double)y / (bh - 1), rgb);
            ng_canvas_fill(&cv, bx, by + y, bw, 1, rgb);
        }
        static const double ticks[5] = {0, 0.25, 0.5, 0.75, 1};
        for (int k = 0; k < 5; k++) {
            int y = by + (int)lround((1 - ticks[k]) * (bh - 1));
            char t[16];
            snprintf(t, sizeof t, "%.2g", ticks[k]);
            ng_canvas_fill(&cv, bx + bw, y, 4, 1, ink);
            ng_canvas_text(&cv, bx + bw + 7, y - 3, t, 1, ink);
        }
        ng_canvas_text(&cv, bx - 2, by - 14, "weight", 1, ink);
    }
    int rc = ng_canvas_write_png(&cv, out);
    if (!rc) { *width = cv.w; *height = cv.h; }
    ng_canvas_free(&cv);
    return rc;
}

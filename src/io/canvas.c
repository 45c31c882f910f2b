/* canvas.c - an RGB canvas with rectangles and stb_easy_font text, saved as PNG (see canvas.h). */
#include "io/canvas.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include <stb/stb_easy_font.h>
#pragma GCC diagnostic pop

#define CANVAS_MAX_PIXELS (1 << 26)

int ng_canvas_new(ng_canvas *c, int w, int h, const uint8_t bg[3]) {
    c->w = c->h = 0;
    c->px = NULL;
    if (w <= 0 || h <= 0 || (int64_t)w * h > CANVAS_MAX_PIXELS)
        return ng_set_error("picture of %d x %d pixels: too large or empty (at most %d pixels)", w, h, CANVAS_MAX_PIXELS);
    c->px = ng_malloc((size_t)w * h * 3, "picture");
    if (!c->px) return NG_ERR;
    c->w = w;
    c->h = h;
    for (size_t i = 0; i < (size_t)w * h; i++) memcpy(c->px + 3 * i, bg, 3);
    return NG_OK;
}

void ng_canvas_free(ng_canvas *c) {
    free(c->px);
    c->px = NULL;
    c->w = c->h = 0;
}

void ng_canvas_fill(ng_canvas *c, int x, int y, int w, int h, const uint8_t rgb[3]) {
    int x0 = x < 0 ? 0 : x, y0 = y < 0 ? 0 : y;
    int x1 = x + w > c->w ? c->w : x + w, y1 = y + h > c->h ? c->h : y + h;
    for (int j = y0; j < y1; j++)
        for (int i = x0; i < x1; i++) memcpy(c->px + ((size_t)j * c->w + i) * 3, rgb, 3);
}

/* s as printable ASCII: each code point outside 32..126 becomes '?' (malloc'd). */
static char *ascii_of(const char *s) {
    size_t n = strlen(s);
    char *o = malloc(n + 1), *q = o;
    if (!o) return NULL;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p & 0xC0) == 0x80) continue;   /* continuation byte: already counted */
        *q++ = *p >= 32 && *p < 127 ? (char)*p : '?';
    }
    *q = 0;
    return o;
}

int ng_canvas_text_width(const char *s, int scale) {
    char *a = ascii_of(s);
    if (!a) return 0;
    int w = *a ? stb_easy_font_width(a) : 0;
    free(a);
    return w * scale;
}

static void draw_text(ng_canvas *c, int x, int y, const char *s, int scale, const uint8_t rgb[3], int up) {
    char *a = ascii_of(s);
    if (!a || !*a) { free(a); return; }
    size_t cap = 300 * (strlen(a) + 1);   /* stb: ~270 bytes a character */
    float *v = malloc(cap);
    if (!v) { free(a); return; }
    int quads = stb_easy_font_print(0, 0, a, NULL, v, (int)cap);
    for (int q = 0; q < quads; q++) {
        const float *v0 = v + q * 16, *v2 = v + q * 16 + 8;   /* 4 vertices of 4 floats; corners 0 and 2 */
        int qx = (int)lroundf(v0[0]), qy = (int)lroundf(v0[1]);
        int qw = (int)lroundf(v2[0]) - qx, qh = (int)lroundf(v2[1]) - qy;
        if (!up) ng_canvas_fill(c, x + qx * scale, y + qy * scale, qw * scale, qh * scale, rgb);
        else ng_canvas_fill(c, x + qy * scale, y - (qx + qw) * scale, qh * scale, qw * scale, rgb);
    }
    free(v);
    free(a);
}

void ng_canvas_text(ng_canvas *c, int x, int y, const char *s, int scale, const uint8_t rgb[3]) { draw_text(c, x, y, s, scale, rgb, 0); }
void ng_canvas_text_up(ng_canvas *c, int x, int y, const char *s, int scale, const uint8_t rgb[3]) { draw_text(c, x, y, s, scale, rgb, 1); }

int ng_canvas_write_png(const ng_canvas *c, const char *path) { return ng_png_write(path, c->px, c->w, c->h, 3); }

void ng_canvas_viridis(double t, uint8_t rgb[3]) {
    /* matplotlib's viridis at t = 0, 0.1, ..., 1, linearly interpolated */
    static const uint8_t stops[11][3] = {{68, 1, 84},    {72, 36, 117},  {65, 68, 135},  {53, 95, 141},
                                         {42, 120, 142}, {33, 145, 140}, {34, 168, 132}, {68, 191, 112},
                                         {122, 209, 81}, {189, 223, 38}, {253, 231, 37}};
    if (!(t > 0)) t = 0;
    if (t > 1) t = 1;
    double f = t * 10;
    int i = (int)f;
    if (i >= 10) i = 9;
    f -= i;
    for (int k = 0; k < 3; k++) rgb[k] = (uint8_t)lround(stops[i][k] + f * (stops[i + 1][k] - stops[i][k]));
}

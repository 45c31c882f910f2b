/* canvas.h - an RGB pixel canvas with filled rectangles and text, written as PNG (ng_png_write);
 * private to nanogen (not part of the public header). Used for figures that are pictures, such
 * as attention heat maps with their tokens as axis labels.
 *
 * Text uses stb_easy_font (public domain, Debian's libstb-dev): an ASCII font built from
 * rectangles, about 5 x 7 pixels a glyph (12 a line) at scale 1, drawn at any integer scale.
 * A code point outside printable ASCII is drawn as '?'.
 *
 *   ng_canvas cv;
 *   if (ng_canvas_new(&cv, 400, 300, CANVAS_WHITE)) ...;
 *   ng_canvas_fill(&cv, 10, 10, 50, 20, (const uint8_t[3]){200, 0, 0});
 *   ng_canvas_text(&cv, 10, 40, "hello", 2, CANVAS_BLACK);
 *   ng_canvas_write_png(&cv, "x.png");   // atomic
 *   ng_canvas_free(&cv);
 */
#ifndef NG_CANVAS_H
#define NG_CANVAS_H
#include "core/internal.h"

typedef struct { int w, h; uint8_t *px; } ng_canvas;   /* px: w*h*3 bytes, row-major RGB */

#define CANVAS_WHITE ((const uint8_t[3]){255, 255, 255})
#define CANVAS_BLACK ((const uint8_t[3]){0, 0, 0})
#define CANVAS_LINE_H 12   /* height of a line of text at scale 1 (glyphs: 7, descenders: 9) */

/* A w x h canvas filled with bg. NG_ERR + error if too large or out of memory. */
int ng_canvas_new(ng_canvas *c, int w, int h, const uint8_t bg[3]);
void ng_canvas_free(ng_canvas *c);
/* Fill the rectangle [x, x+w) x [y, y+h), clipped to the canvas. */
void ng_canvas_fill(ng_canvas *c, int x, int y, int w, int h, const uint8_t rgb[3]);
/* Width in pixels of text at an integer scale (UTF-8; one '?' per non-ASCII code point). */
int ng_canvas_text_width(const char *s, int scale);
/* Draw text with its top-left corner at (x, y); rotated: turned 90 degrees counter-clockwise,
 * read upwards, starting at (x, y) = its bottom-left corner (the line's top edge is at x). */
void ng_canvas_text(ng_canvas *c, int x, int y, const char *s, int scale, const uint8_t rgb[3]);
void ng_canvas_text_up(ng_canvas *c, int x, int y, const char *s, int scale, const uint8_t rgb[3]);
/* The canvas as a PNG at path (atomic: see ng_png_write). */
int ng_canvas_write_png(const ng_canvas *c, const char *path);
/* The viridis colour map (perceptually uniform, dark purple at 0 to yellow at 1); t clamped. */
void ng_canvas_viridis(double t, uint8_t rgb[3]);
#endif

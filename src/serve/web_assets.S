/* web_assets.S - the playground (web/index.html, web/app.js, web/style.css) inside the binary,
 * for `nanogen serve` (src/serve/serve.h declares the symbols). Assembled from the repository's
 * root (the Makefile), so .incbin finds web/; each file gets a NUL after it and its length. */
#define ASSET(sym, file)               \
    .section .rodata;                  \
    .global sym;                       \
    .type sym, @object;                \
    .balign 16;                        \
sym:;                                  \
    .incbin file;                      \
sym##_end:;                            \
    .byte 0;                           \
    .global sym##_len;                 \
    .type sym##_len, @object;          \
    .balign 4;                         \
sym##_len:;                            \
    .int sym##_end - sym

ASSET(srv_web_index_html, "web/index.html")
ASSET(srv_web_app_js, "web/app.js")
ASSET(srv_web_style_css, "web/style.css")

    .section .note.GNU-stack,"",@progbits

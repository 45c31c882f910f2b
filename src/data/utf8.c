/* utf8.c - strict UTF-8 decoding, encoding and validation (RFC 3629).
 *
 * Strict means: no overlong forms, no surrogates (U+D800..U+DFFF), nothing above U+10FFFF,
 * every continuation byte present and of the form 10xxxxxx. These are exactly the byte
 * sequences that ng_utf8_encode can produce. */
#include "core/internal.h"

/* Decode one code point at s[0..len): its length (1..4) and *cp, or 0 if invalid. */
int ng_utf8_decode(const unsigned char *s, size_t len, uint32_t *cp) {
    if (!s || len == 0) return 0;
    unsigned b0 = s[0];
    if (b0 < 0x80) {                       /* ASCII */
        if (cp) *cp = b0;
        return 1;
    }
    int n;                                  /* total length of the sequence */
    uint32_t c, min;                        /* value so far, smallest non-overlong value */
    if (b0 >= 0xC2 && b0 <= 0xDF) { n = 2; c = b0 & 0x1F; min = 0x80; }
    else if (b0 >= 0xE0 && b0 <= 0xEF) { n = 3; c = b0 & 0x0F; min = 0x800; }
    else if (b0 >= 0xF0 && b0 <= 0xF4) { n = 4; c = b0 & 0x07; min = 0x10000; }
    else return 0;                          /* continuation byte, C0/C1 (always overlong), F5..FF */
    if (len < (size_t)n) {
        /* truncated: still 0, whatever the bytes that are there */
        return 0;
    }
    for (int i = 1; i < n; i++) {
        unsigned b = s[i];
        if ((b & 0xC0) != 0x80) return 0;   /* not a continuation byte */
        c = (c << 6) | (b & 0x3F);
    }
    if (c < min) return 0;                  /* overlong */
    if (c > 0x10FFFF) return 0;             /* beyond Unicode */
    if (c >= 0xD800 && c <= 0xDFFF) return 0; /* UTF-16 surrogate */
    if (cp) *cp = c;
    return n;
}

/* Encode cp into out (room for 4 bytes); returns the length, or 0 for a surrogate or > U+10FFFF. */
int ng_utf8_encode(uint32_t cp, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp >= 0xD800 && cp <= 0xDFFF) return 0;
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    if (cp > 0x10FFFF) return 0;
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Check a whole buffer: the byte offset of the first invalid sequence, or -1 if all valid. */
long long ng_utf8_validate(const char *s, size_t len) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        if (u[i] < 0x80) {                  /* fast path for ASCII runs */
            i++;
            continue;
        }
        uint32_t cp;
        int n = ng_utf8_decode(u + i, len - i, &cp);
        if (n == 0) return (long long)i;
        i += (size_t)n;
    }
    return -1;
}

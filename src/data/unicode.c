/* unicode.c - what a code point is (ng_unicode_class): its class by Unicode's general category
 * and, for a Latin letter, its base letter, from the tables that scripts/unicode_tables.py
 * generates into unicode_tables.h. nanogen embeddings colours tokens with it. Also the classes of
 * GPT-2's pre-split pattern, for the byte-level BPE tokenizer (ng__gpt2_class, src/data/bpe.h). */
#include "core/internal.h"

#include <stdint.h>

#include "data/unicode_tables.h"

static ng_uc_class from_table_char(char c) {
    return c == 'L' ? NG_UC_LETTER : c == 'D' ? NG_UC_DIGIT : c == 'P' ? NG_UC_PUNCT : c == 'Z' ? NG_UC_SPACE : NG_UC_OTHER;
}

ng_uc_class ng_unicode_class(uint32_t cp, char *base) {
    char b = 0;
    ng_uc_class k = NG_UC_OTHER;
    if (cp < 0x80) {
        const uint32_t lower = cp | 0x20;
        if (lower >= 'a' && lower <= 'z') { k = NG_UC_LETTER; b = (char)cp; }
        else if (cp >= '0' && cp <= '9') k = NG_UC_DIGIT;
        else if (cp == ' ' || (cp >= '\t' && cp <= '\r')) k = NG_UC_SPACE;
        else if (cp > ' ' && cp < 0x7F) k = NG_UC_PUNCT;
    } else {
        size_t lo = 0, hi = sizeof uc_ranges / sizeof *uc_ranges;   /* the first range with hi >= cp */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (uc_ranges[mid].hi < cp) lo = mid + 1;
            else hi = mid;
        }
        if (lo < sizeof uc_ranges / sizeof *uc_ranges && uc_ranges[lo].lo <= cp) k = from_table_char(uc_ranges[lo].cls);
        const char *latin = cp >= 0x00C0 && cp <= 0x024F ? &uc_latin_00C0[cp - 0x00C0]
                           : cp >= 0x1E00 && cp <= 0x1EFF ? &uc_latin_1E00[cp - 0x1E00] : NULL;
        if (k == NG_UC_LETTER && latin && ((*latin >= 'a' && *latin <= 'z') || (*latin >= 'A' && *latin <= 'Z'))) b = *latin;
    }
    if (base) *base = b;
    return k;
}

/* The class of a code point in GPT-2's pre-split pattern (src/data/bpe.h): 'L' (\p{L}), 'N'
 * (\p{N}: Nd, Nl, No), 'S' (JavaScript's \s, which the reference encoder gpt-3-encoder runs:
 * \t \n \v \f \r, space, U+00A0, U+1680, U+2000..U+200A, U+2028, U+2029, U+202F, U+205F,
 * U+3000, U+FEFF; Python's regex module differs on U+0085 and U+FEFF), else 'O'. */
char ng__gpt2_class(uint32_t cp) {
    if (cp < 0x80) {
        const uint32_t lower = cp | 0x20;
        if (lower >= 'a' && lower <= 'z') return 'L';
        if (cp >= '0' && cp <= '9') return 'N';
        return cp == ' ' || (cp >= '\t' && cp <= '\r') ? 'S' : 'O';
    }
    if (cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
        cp == 0x205F || cp == 0x3000 || cp == 0xFEFF)
        return 'S';
    size_t lo = 0, hi = sizeof uc_gpt2_ranges / sizeof *uc_gpt2_ranges;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (uc_gpt2_ranges[mid].hi < cp) lo = mid + 1;
        else hi = mid;
    }
    return lo < sizeof uc_gpt2_ranges / sizeof *uc_gpt2_ranges && uc_gpt2_ranges[lo].lo <= cp ? uc_gpt2_ranges[lo].cls : 'O';
}

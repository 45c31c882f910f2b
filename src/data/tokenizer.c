/* tokenizer.c - char-level and word-level tokenizers, the streaming decoder, and JSON.
 *
 * char: one token per Unicode code point; the vocabulary is the sorted set of code points
 *       of the corpus. Lookup: a direct 64K table for the BMP, binary search beyond.
 * word: words, punctuation marks and newlines (see split_next for the exact rules); id 0 is
 *       "<unk>", then the vocab_cap-1 most frequent tokens (ties: first occurrence first).
 *       Decoding puts the spaces back with the rules of decoder_step.
 * bpe:  byte-level BPE (src/data/bpe.c); here only what every kind shares: the token texts
 *       (a readable form: ng_tokenizer_token), the decoder (whole UTF-8 characters only), JSON.
 * JSON: {"kind":"char"|"word","vocab":["tok0","tok1",...]} (the id is the index);
 *       {"kind":"bpe","vocab":[...],"merges":[[a,b],...]}: the tokens written as GPT-2's files do
 *       (bytes_to_unicode), the merges as pairs of ids in rank order. */
#include "core/internal.h"
#include "data/bpe.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define MAX_VOCAB (1 << 20)       /* largest vocabulary we build or accept */
#define DEFAULT_WORD_CAP 8192
#define UNK_TEXT "<unk>"
static const char REPLACEMENT[] = "\xEF\xBF\xBD"; /* U+FFFD, shown for out-of-range ids */

/* spacing classes of word tokens (flags[id]) */
enum {
    F_NEWLINE = 1,  /* "\n": no space before, none after */
    F_CLOSER = 2,   /* no space before: , . ; : ! ? ) ] } » … ” ’ % */
    F_OPENER = 4,   /* no space after: ( [ { « ¿ ¡ “ ‘ */
    F_DQUOTE = 8,   /* straight double quote: alternates opener/closer */
    F_SQUOTE = 16   /* lone straight single quote: alternates likewise */
};

struct ng_tokenizer {
    ng_tok_kind kind;
    int n;              /* vocabulary size */
    char *pool;         /* all token texts, each NUL-terminated */
    size_t *off;        /* token i is pool + off[i]; its length is off[i+1] - off[i] - 1 */
    /* char models */
    uint32_t *cps;      /* the code point of each id, ascending */
    int32_t *bmp;       /* 65536 entries: id of a BMP code point, or -1 */
    /* word models */
    int32_t *slots;     /* open-addressing hash table of ids (-1 = empty) */
    size_t mask;        /* number of slots - 1 (a power of two minus one) */
    unsigned char *flags; /* spacing class of each id */
    /* bpe models (pool then holds each token's readable form) */
    ng__bpe *bpe;
};

/* ================================================================ helpers */

int32_t *ng__hash_slots(const void *items, size_t n, size_t size, size_t hash_off, size_t mask) {
    int32_t *ns = malloc((mask + 1) * sizeof *ns);
    if (!ns) return NULL;
    memset(ns, 0xFF, (mask + 1) * sizeof *ns);
    for (size_t j = 0; j < n; j++) {
        uint64_t h;
        memcpy(&h, (const char *)items + j * size + hash_off, sizeof h);
        size_t q = h & mask;
        while (ns[q] >= 0) q = (q + 1) & mask;
        ns[q] = (int32_t)j;
    }
    return ns;
}

/* FNV-1a hash of n bytes. */
static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* Code point at s[i] of a buffer already known to be valid UTF-8 (*n = its length; 0 at the end). */
static uint32_t cp_at(const unsigned char *s, size_t len, size_t i, int *n) {
    if (i >= len) { *n = 0; return 0; }
    if (s[i] < 0x80) { *n = 1; return s[i]; }
    uint32_t cp;
    int k = ng_utf8_decode(s + i, len - i, &cp);
    if (k == 0) { *n = 1; return 0xFFFD; }   /* cannot happen on validated input */
    *n = k;
    return cp;
}

/* Copy of a possibly hostile string made safe for an error message (printable ASCII, cut). */
static const char *snip(const char *s, char *out, size_t cap) {
    size_t k = 0;
    for (; s && s[k] && k + 4 < cap; k++)
        out[k] = (s[k] >= 0x20 && s[k] < 0x7F) ? s[k] : '?';
    if (s && s[k]) { out[k++] = '.'; out[k++] = '.'; out[k++] = '.'; }
    out[k] = 0;
    return out;
}

/* Error for invalid UTF-8 at offset off of a buffer (names the offset and the byte). */
static int utf8_error(const char *what, const char *s, long long off) {
    return ng_set_error("%s: invalid UTF-8 at byte offset %lld (byte 0x%02X)", what, off,
                        (unsigned)(unsigned char)s[off]);
}

/* ================================================================ word splitting */

/* Whitespace other than newlines (dropped by the word splitter). */
static int is_space_cp(uint32_t c) {
    if (c == ' ' || c == '\t' || c == '\v' || c == '\f') return 1;
    if (c < 0x80) return 0;
    return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200B) ||
           c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x2060 ||
           c == 0x3000 || c == 0xFEFF;
}

/* Non-ASCII punctuation and symbols: each is a token of its own. */
static int is_punct_cp(uint32_t c) {
    if (c >= 0x80 && c <= 0xBF) {
        /* Latin-1 punctuation, except the letter-like ª ² ³ µ ¹ º (as in "1º", "2ª") */
        return !(c == 0xAA || c == 0xB2 || c == 0xB3 || c == 0xB5 || c == 0xB9 || c == 0xBA);
    }
    return c == 0xD7 || c == 0xF7 ||                      /* × ÷ */
           (c >= 0x2000 && c <= 0x206F && c != 0x200C && c != 0x200D) || /* general punct. */
           (c >= 0x20A0 && c <= 0x20CF) ||                /* currency */
           (c >= 0x2190 && c <= 0x2BFF) ||                /* arrows, math, shapes, dingbats */
           (c >= 0x3000 && c <= 0x303F) ||                /* CJK punctuation */
           (c >= 0xFE10 && c <= 0xFE1F) || (c >= 0xFE30 && c <= 0xFE6F) ||
           (c >= 0xFF01 && c <= 0xFF0F) || (c >= 0xFF1A && c <= 0xFF20) ||
           (c >= 0xFF3B && c <= 0xFF40) || (c >= 0xFF5B && c <= 0xFF65) ||
           (c >= 0xFFF0 && c <= 0xFFFF) ||                /* specials, U+FFFD */
           (c >= 0x1F000 && c <= 0x1FAFF);                /* emoji and pictographs */
}

/* Word characters: ASCII letters and digits, and every other non-ASCII code point. */
static int is_word_cp(uint32_t c) {
    if (c < 0x80)
        return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
    return !is_space_cp(c) && !is_punct_cp(c);
}

/* ASCII digit. */
static int is_digit_cp(uint32_t c) { return c >= '0' && c <= '9'; }

/* Cursor of the word splitter over a text. */
typedef struct {
    const unsigned char *s;
    size_t len, pos;
} splitter;

/* Next token of valid UTF-8 text: 1 with its bytes [*tok, *tok + *n), or 0 at the end.
 * Rules: a newline ("\n", "\r\n" or a lone "\r") is the token "\n"; other whitespace is
 * dropped; a word is a maximal run of word characters, which also keeps
 *   - an apostrophe (' or ’) or a hyphen between two word characters: don't, d'água, disse-lhe
 *   - '.', ',', ':', '/' or '–' between two digits: 3.14, 1.000,50, 10:30, 1/2, 1931–2009
 *   - a straight ' or a ’ just before a word that follows a non-word: 'tis, ’em
 *   - a straight ' just after a word that is not followed by a word character: o', soldiers'
 *   - a single '-' just after a word, likewise: "pre- and post-war", "pack-" at a line end
 * a run of two or more '-' is one token ("--", an ASCII dash); every other code point is a
 * token of its own. */
static int split_next(splitter *sp, const char **tok, size_t *n) {
    const unsigned char *s = sp->s;
    size_t len = sp->len;
    for (;;) {
        if (sp->pos >= len) return 0;
        int cn, dn, en;
        size_t begin = sp->pos;
        uint32_t c = cp_at(s, len, begin, &cn);
        if (c == '\n' || c == '\r') {
            sp->pos += 1;
            if (c == '\r' && sp->pos < len && s[sp->pos] == '\n') sp->pos += 1;
            *tok = "\n";
            *n = 1;
            return 1;
        }
        if (is_space_cp(c)) {
            sp->pos += (size_t)cn;
            continue;
        }
        uint32_t d = cp_at(s, len, begin + (size_t)cn, &dn);
        int lead_apos = (c == '\'' || c == 0x2019) && dn > 0 && is_word_cp(d);
        if (is_word_cp(c) || lead_apos) {
            size_t i = begin + (size_t)cn;
            uint32_t prev = c;
            for (;;) {
                d = cp_at(s, len, i, &dn);
                if (dn == 0) break;
                if (is_word_cp(d)) { i += (size_t)dn; prev = d; continue; }
                uint32_t e = cp_at(s, len, i + (size_t)dn, &en);
                int next_word = en > 0 && is_word_cp(e);
                int inner = (d == '\'' || d == 0x2019 || d == '-' || d == 0x2010) &&
                            is_word_cp(prev) && next_word;
                int numeric = (d == '.' || d == ',' || d == ':' || d == '/' || d == 0x2013) &&
                              is_digit_cp(prev) &&
                              en > 0 && is_digit_cp(e);
                if (inner || numeric) { i += (size_t)dn; prev = d; continue; }
                if ((d == '\'' || (d == '-' && e != '-')) && is_word_cp(prev))
                    i += (size_t)dn;                         /* trailing apostrophe or hyphen */
                break;
            }
            *tok = (const char *)s + begin;
            *n = i - begin;
            sp->pos = i;
            return 1;
        }
        size_t i = begin + (size_t)cn;
        if (c == '-')
            while (i < len && s[i] == '-') i++;  /* "--", "---": one dash token */
        *tok = (const char *)s + begin;
        *n = i - begin;
        sp->pos = i;
        return 1;
    }
}

/* Spacing class of a word-model token text. */
static unsigned char word_flags(const char *s, size_t n) {
    static const char *const closers[] = {",", ".", ";", ":", "!", "?", ")", "]", "}", "%",
                                          "\xC2\xBB", "\xE2\x80\xA6", "\xE2\x80\x9D", "\xE2\x80\x99"};
    static const char *const openers[] = {"(", "[", "{", "\xC2\xAB", "\xC2\xBF", "\xC2\xA1",
                                          "\xE2\x80\x9C", "\xE2\x80\x98"};
    if (n == 1 && s[0] == '\n') return F_NEWLINE;
    if (n == 1 && s[0] == '"') return F_DQUOTE;
    if (n == 1 && s[0] == '\'') return F_SQUOTE;
    if (n >= 2) {                                   /* "--": joins both sides */
        size_t k = 0;
        while (k < n && s[k] == '-') k++;
        if (k == n) return F_CLOSER | F_OPENER;
    }
    for (size_t i = 0; i < sizeof closers / sizeof *closers; i++)
        if (strlen(closers[i]) == n && memcmp(closers[i], s, n) == 0) return F_CLOSER;
    for (size_t i = 0; i < sizeof openers / sizeof *openers; i++)
        if (strlen(openers[i]) == n && memcmp(openers[i], s, n) == 0) return F_OPENER;
    return 0;
}

/* ================================================================ construction */

/* Free a tokenizer and everything it owns (NULL is fine). */
void ng_tokenizer_free(ng_tokenizer *t) {
    if (!t) return;
    free(t->pool);
    free(t->off);
    free(t->cps);
    free(t->bmp);
    free(t->slots);
    free(t->flags);
    ng__bpe_free(t->bpe);
    free(t);
}

/* Id of the word token s[0..n) with hash h, or -1. */
static int32_t word_lookup(const ng_tokenizer *t, const char *s, size_t n, uint64_t h) {
    for (size_t k = h & t->mask;; k = (k + 1) & t->mask) {
        int32_t id = t->slots[k];
        if (id < 0) return -1;
        size_t tl = t->off[id + 1] - t->off[id] - 1;
        if (tl == n && memcmp(t->pool + t->off[id], s, n) == 0) return id;
    }
}

/* Build a tokenizer from its token texts (id = index). Checks what the construction relies
 * on: char entries one code point each, strictly ascending; word entries distinct. */
static ng_tokenizer *tok_create(ng_tok_kind kind, const char *const *strs, const size_t *lens, int n) {
    ng_tokenizer *t = ng_malloc(sizeof *t, "tokenizer");
    if (!t) return NULL;
    memset(t, 0, sizeof *t);
    t->kind = kind;
    t->n = n;
    size_t total = 0;
    for (int i = 0; i < n; i++) total += lens[i] + 1;
    t->pool = ng_malloc(total, "tokenizer vocabulary");
    t->off = ng_malloc(((size_t)n + 1) * sizeof *t->off, "tokenizer vocabulary");
    if (!t->pool || !t->off) goto fail;
    size_t p = 0;
    for (int i = 0; i < n; i++) {
        t->off[i] = p;
        memcpy(t->pool + p, strs[i], lens[i]);
        p += lens[i];
        t->pool[p++] = 0;
    }
    t->off[n] = p;

    if (kind == NG_TOK_CHAR) {
        t->cps = ng_malloc((size_t)n * sizeof *t->cps, "char vocabulary");
        t->bmp = ng_malloc(65536 * sizeof *t->bmp, "char lookup table");
        if (!t->cps || !t->bmp) goto fail;
        memset(t->bmp, 0xFF, 65536 * sizeof *t->bmp);   /* all -1 */
        for (int i = 0; i < n; i++) {
            uint32_t cp;
            int k = ng_utf8_decode((const unsigned char *)strs[i], lens[i], &cp);
            if (k == 0 || (size_t)k != lens[i] || cp == 0) {
                ng_set_error("char vocabulary entry %d is not exactly one valid code point", i);
                goto fail;
            }
            if (i > 0 && cp <= t->cps[i - 1]) {
                ng_set_error("char vocabulary entry %d (U+%04X) %s", i, (unsigned)cp,
                             cp == t->cps[i - 1] ? "is a duplicate" : "is out of order (must be sorted)");
                goto fail;
            }
            t->cps[i] = cp;
            if (cp < 65536) t->bmp[cp] = i;
        }
    } else {
        size_t cap = 16;
        while (cap < 2 * (size_t)n) cap *= 2;
        t->mask = cap - 1;
        t->slots = ng_malloc(cap * sizeof *t->slots, "word lookup table");
        t->flags = ng_malloc((size_t)n, "word vocabulary");
        if (!t->slots || !t->flags) goto fail;
        memset(t->slots, 0xFF, cap * sizeof *t->slots);
        for (int i = 0; i < n; i++) {
            uint64_t h = hash_bytes(strs[i], lens[i]);
            if (word_lookup(t, strs[i], lens[i], h) >= 0) {
                char sn[48];
                ng_set_error("word vocabulary entry %d ('%s') is a duplicate", i, snip(strs[i], sn, sizeof sn));
                goto fail;
            }
            size_t k = h & t->mask;
            while (t->slots[k] >= 0) k = (k + 1) & t->mask;
            t->slots[k] = i;
            t->flags[i] = word_flags(strs[i], lens[i]);
        }
    }
    return t;
fail:
    ng_tokenizer_free(t);
    return NULL;
}

/* Char vocabulary of a validated corpus: its sorted distinct code points. */
static ng_tokenizer *build_char(const char *text, size_t len) {
    const unsigned char *u = (const unsigned char *)text;
    unsigned char *seen = calloc(0x110000 / 8, 1);
    if (!seen) { ng_set_error("out of memory building the char vocabulary"); return NULL; }
    size_t i = 0;
    while (i < len) {
        int k;
        uint32_t cp = cp_at(u, len, i, &k);
        seen[cp >> 3] |= (unsigned char)(1u << (cp & 7));
        i += (size_t)k;
    }
    int n = 0;
    for (uint32_t cp = 0; cp < 0x110000; cp++) n += (seen[cp >> 3] >> (cp & 7)) & 1;
    if (n > MAX_VOCAB) {
        free(seen);
        ng_set_error("corpus has %d distinct characters, more than the %d a vocabulary may hold", n, MAX_VOCAB);
        return NULL;
    }
    char *buf = ng_malloc((size_t)n * 4 + 1, "char vocabulary");
    const char **strs = ng_malloc((size_t)n * sizeof *strs, "char vocabulary");
    size_t *lens = ng_malloc((size_t)n * sizeof *lens, "char vocabulary");
    ng_tokenizer *t = NULL;
    if (buf && strs && lens) {
        int id = 0;
        for (uint32_t cp = 0; cp < 0x110000; cp++) {
            if (!((seen[cp >> 3] >> (cp & 7)) & 1)) continue;
            strs[id] = buf + (size_t)id * 4;
            lens[id] = (size_t)ng_utf8_encode(cp, buf + (size_t)id * 4);
            id++;
        }
        t = tok_create(NG_TOK_CHAR, strs, lens, n);
    }
    free(seen); free(buf); free(strs); free(lens);
    return t;
}

/* One distinct token while counting a corpus. */
typedef struct {
    const char *s;
    size_t n;
    uint64_t hash;
    long long count;
    size_t first;   /* index of its first occurrence */
} wcount;

/* Order: most frequent first, then first occurrence first. */
static int wcount_cmp(const void *a, const void *b) {
    const wcount *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return x->first < y->first ? -1 : x->first > y->first;
}

/* Word vocabulary of a validated corpus: "<unk>" then the cap-1 most frequent tokens. */
static ng_tokenizer *build_word(const char *text, size_t len, int cap) {
    size_t ent_cap = 1024, n_ent = 0, mask = 4095, n_tok = 0;
    wcount *ent = ng_malloc(ent_cap * sizeof *ent, "word counts");
    int32_t *slots = ng_malloc((mask + 1) * sizeof *slots, "word counts");
    ng_tokenizer *t = NULL;
    const char **strs = NULL;
    size_t *lens = NULL;
    if (!ent || !slots) goto done;
    memset(slots, 0xFF, (mask + 1) * sizeof *slots);
    splitter sp = {(const unsigned char *)text, len, 0};
    const char *s;
    size_t n;
    while (split_next(&sp, &s, &n)) {
        uint64_t h = hash_bytes(s, n);
        size_t k = h & mask;
        while (slots[k] >= 0) {
            wcount *e = &ent[slots[k]];
            if (e->hash == h && e->n == n && memcmp(e->s, s, n) == 0) break;
            k = (k + 1) & mask;
        }
        if (slots[k] >= 0) {
            ent[slots[k]].count++;
        } else {
            if (n_ent >= 0x7FFFFFF0u) { ng_set_error("corpus has too many distinct words"); goto done; }
            if (n_ent == ent_cap) {
                wcount *ne = realloc(ent, 2 * ent_cap * sizeof *ent);
                if (!ne) { ng_set_error("out of memory counting words"); goto done; }
                ent = ne;
                ent_cap *= 2;
            }
            ent[n_ent] = (wcount){s, n, h, 1, n_tok};
            slots[k] = (int32_t)n_ent++;
            if (2 * n_ent > mask + 1) {               /* keep the load under 1/2 */
                size_t nmask = 2 * mask + 1;
                int32_t *ns = ng__hash_slots(ent, n_ent, sizeof *ent, offsetof(wcount, hash), nmask);
                if (!ns) { ng_set_error("out of memory counting words"); goto done; }
                free(slots);
                slots = ns;
                mask = nmask;
            }
        }
        n_tok++;
    }
    if (n_ent == 0) {
        ng_set_error("corpus has no words or punctuation (only whitespace)");
        goto done;
    }
    qsort(ent, n_ent, sizeof *ent, wcount_cmp);
    size_t keep = n_ent < (size_t)cap - 1 ? n_ent : (size_t)cap - 1;
    strs = ng_malloc((keep + 1) * sizeof *strs, "word vocabulary");
    lens = ng_malloc((keep + 1) * sizeof *lens, "word vocabulary");
    if (!strs || !lens) goto done;
    strs[0] = UNK_TEXT;
    lens[0] = strlen(UNK_TEXT);
    for (size_t i = 0; i < keep; i++) {
        strs[i + 1] = ent[i].s;
        lens[i + 1] = ent[i].n;
    }
    t = tok_create(NG_TOK_WORD, strs, lens, (int)keep + 1);
done:
    free(ent); free(slots); free(strs); free(lens);
    return t;
}

/* A tokenizer of kind bpe around b (taken over, freed on failure); its token texts are the
 * tokens' readable forms. */
static ng_tokenizer *wrap_bpe(ng__bpe *b) {
    if (!b) return NULL;
    const int n = ng__bpe_size(b);
    ng_tokenizer *t = ng_malloc(sizeof *t, "tokenizer");
    char **shown = ng_malloc((size_t)n * sizeof *shown, "BPE vocabulary");
    if (!t || !shown) { free(t); free(shown); ng__bpe_free(b); return NULL; }
    memset(t, 0, sizeof *t);
    t->kind = NG_TOK_BPE;
    t->n = n;
    t->bpe = b;
    size_t total = 0;
    int ok = 1;
    for (int i = 0; i < n; i++) {
        shown[i] = ok ? ng__bpe_display(b, i) : NULL;
        if (!shown[i]) ok = 0;
        else total += strlen(shown[i]) + 1;
    }
    t->pool = ok ? ng_malloc(total, "BPE vocabulary") : NULL;
    t->off = ok ? ng_malloc(((size_t)n + 1) * sizeof *t->off, "BPE vocabulary") : NULL;
    if (t->pool && t->off) {
        size_t p = 0;
        for (int i = 0; i < n; i++) {
            size_t l = strlen(shown[i]) + 1;
            t->off[i] = p;
            memcpy(t->pool + p, shown[i], l);
            p += l;
        }
        t->off[n] = p;
    }
    for (int i = 0; i < n; i++) free(shown[i]);
    free(shown);
    if (!t->pool || !t->off) { ng_tokenizer_free(t); return NULL; }
    return t;
}

ng_tokenizer *ng_tokenizer_load_gpt2(const char *vocab_path, const char *merges_path) {
    return wrap_bpe(ng__bpe_load_gpt2(vocab_path, merges_path));
}

int ng_tokenizer_save_gpt2(const ng_tokenizer *t, const char *vocab_path, const char *merges_path) {
    if (!t->bpe) return ng_set_error("a %s tokenizer has no GPT-2 files (vocab.json + merges.txt): only a BPE one", ng_tok_kind_name(t->kind));
    return ng__bpe_save_gpt2(t->bpe, vocab_path, merges_path);
}

const char *ng_tok_kind_name(ng_tok_kind kind) {
    return kind == NG_TOK_CHAR ? "char" : kind == NG_TOK_WORD ? "word" : kind == NG_TOK_BPE ? "bpe" : "?";
}

/* Build a tokenizer of the given kind from a corpus (see nanogen.h). */
ng_tokenizer *ng_tokenizer_build(ng_tok_kind kind, const char *text, size_t len, int vocab_cap) {
    if (kind == NG_TOK_BPE && text && len > 0) {
        if (vocab_cap <= 0) vocab_cap = DEFAULT_WORD_CAP;
        if (vocab_cap < 257 || vocab_cap > MAX_VOCAB) {
            ng_set_error("BPE vocabulary size %d out of range (257..%d: 256 bytes, the merges, <|endoftext|>)", vocab_cap, MAX_VOCAB);
            return NULL;
        }
        return wrap_bpe(ng__bpe_train(text, len, vocab_cap));
    }
    if (kind != NG_TOK_CHAR && kind != NG_TOK_WORD && kind != NG_TOK_BPE) {
        ng_set_error("unknown tokenizer kind %d", (int)kind);
        return NULL;
    }
    if (!text || len == 0) {
        ng_set_error("cannot build a tokenizer from an empty corpus");
        return NULL;
    }
    long long bad = ng_utf8_validate(text, len);
    if (bad >= 0) {
        utf8_error("corpus", text, bad);
        return NULL;
    }
    const char *nul = memchr(text, 0, len);
    if (nul) {
        ng_set_error("corpus: NUL byte at byte offset %lld (not a text file?)", (long long)(nul - text));
        return NULL;
    }
    if (kind == NG_TOK_CHAR) return build_char(text, len);
    if (vocab_cap <= 0) vocab_cap = DEFAULT_WORD_CAP;
    if (vocab_cap < 2 || vocab_cap > MAX_VOCAB) {
        ng_set_error("word vocabulary size %d out of range (2..%d)", vocab_cap, MAX_VOCAB);
        return NULL;
    }
    return build_word(text, len, vocab_cap);
}

/* Kind of the tokenizer (char or word). */
ng_tok_kind ng_tokenizer_kind(const ng_tokenizer *t) { return t ? t->kind : NG_TOK_CHAR; }

/* Number of tokens in the vocabulary. */
int ng_tokenizer_vocab_size(const ng_tokenizer *t) { return t ? t->n : 0; }

/* Token text of id; U+FFFD for an id out of range. */
const char *ng_tokenizer_token(const ng_tokenizer *t, int id) {
    if (!t || id < 0 || id >= t->n) return REPLACEMENT;
    return t->pool + t->off[id];
}

/* The exact bytes of token id. */
static const char *token_bytes(const ng_tokenizer *t, int id, size_t *len) {
    if (!t || id < 0 || id >= t->n) { *len = strlen(REPLACEMENT); return REPLACEMENT; }
    if (t->bpe) return ng__bpe_bytes(t->bpe, id, len);
    *len = t->off[id + 1] - t->off[id] - 1;
    return t->pool + t->off[id];
}

const char *ng_tokenizer_token_bytes(const ng_tokenizer *t, int id, size_t *len) {
    size_t l;
    const char *s = token_bytes(t, id, &l);
    if (len) *len = l;
    return s;
}

/* ================================================================ encoding */

/* Id of code point cp in a char model, or -1. */
static int32_t char_lookup(const ng_tokenizer *t, uint32_t cp) {
    if (cp < 65536) return t->bmp[cp];
    int lo = 0, hi = t->n - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (t->cps[mid] == cp) return mid;
        if (t->cps[mid] < cp) lo = mid + 1; else hi = mid - 1;
    }
    return -1;
}

/* Error for a character missing from a char model's vocabulary. */
static int unknown_char_error(uint32_t cp, const char *bytes, int nb, size_t off) {
    if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0))   /* control: show only its number */
        return ng_set_error("character U+%04X at byte offset %zu is not in the model's vocabulary",
                            (unsigned)cp, off);
    return ng_set_error("character '%.*s' (U+%04X) at byte offset %zu is not in the model's vocabulary",
                        nb, bytes, (unsigned)cp, off);
}

/* Encode text into ids (see nanogen.h). */
int ng_tokenizer_encode(const ng_tokenizer *t, const char *text, size_t len, int allow_unknown,
                        int32_t **out, size_t *n_out, size_t *n_unknown) {
    if (out) *out = NULL;
    if (n_out) *n_out = 0;
    if (n_unknown) *n_unknown = 0;
    if (!t || !out || !n_out) return ng_set_error("ng_tokenizer_encode: NULL argument");
    if (!text && len > 0) return ng_set_error("ng_tokenizer_encode: NULL text");
    int32_t *ids = ng_malloc((len + 1) * sizeof *ids, "token ids");
    if (!ids) return NG_ERR;
    const unsigned char *u = (const unsigned char *)text;
    size_t k = 0, unk = 0;
    if (t->kind == NG_TOK_BPE) {
        if (ng__bpe_encode(t->bpe, text, len, ids, &k)) { free(ids); return NG_ERR; }
    } else if (t->kind == NG_TOK_CHAR) {
        size_t i = 0;
        while (i < len) {
            uint32_t cp;
            int nb;
            if (u[i] < 0x80) {
                cp = u[i];
                nb = 1;
            } else {
                nb = ng_utf8_decode(u + i, len - i, &cp);
                if (nb == 0) {
                    free(ids);
                    return utf8_error("text", text, (long long)i);
                }
            }
            int32_t id = char_lookup(t, cp);
            if (id < 0) {
                if (!allow_unknown) {
                    free(ids);
                    return unknown_char_error(cp, text + i, nb, i);
                }
                unk++;
            } else {
                ids[k++] = id;
            }
            i += (size_t)nb;
        }
    } else {
        long long bad = ng_utf8_validate(text, len);
        if (bad >= 0) {
            free(ids);
            return utf8_error("text", text, bad);
        }
        splitter sp = {u, len, 0};
        const char *s;
        size_t n;
        while (split_next(&sp, &s, &n)) {
            int32_t id = word_lookup(t, s, n, hash_bytes(s, n));
            if (id < 0) { id = 0; unk++; }   /* "<unk>" */
            ids[k++] = id;
        }
    }
    *out = ids;
    *n_out = k;
    if (n_unknown) *n_unknown = unk;
    return NG_OK;
}

/* ================================================================ decoding */

/* Start decoding a new text with t. */
void ng_decoder_init(ng_decoder *d, const ng_tokenizer *t) {
    d->t = t;
    d->prev = -1;
    d->quote_open = 0;   /* bit 0: a " is open, bit 1: a lone ' is open */
    d->at_start = 1;     /* the next token attaches without a space */
    d->npend = 0;
}

/* Advance the decoder by one id: the token text (*n bytes) and whether a space goes before it.
 * Word spacing: a space between tokens, except none at the start, after a newline or an
 * opener, and none before a closer or a newline. " and a lone ' alternate opener/closer
 * (a lone ' after closing punctuation always closes); a blank line closes any open quote.
 * Char models: the text alone. */
static const char *decoder_step(ng_decoder *d, int id, int *space, size_t *n) {
    const ng_tokenizer *t = d->t;
    int valid = t && id >= 0 && id < t->n;
    const char *s = token_bytes(t, id, n);
    *space = 0;
    if (!t || t->kind != NG_TOK_WORD) {
        d->prev = id;
        d->at_start = 0;
        return s;
    }
    unsigned f = valid ? t->flags[id] : 0;
    if (f & F_NEWLINE) {
        int prev_newline = d->prev >= 0 && d->prev < t->n && (t->flags[d->prev] & F_NEWLINE);
        if (prev_newline) d->quote_open = 0;
        d->at_start = 1;
        d->prev = id;
        return s;
    }
    int closer = (f & F_CLOSER) != 0, opener = (f & F_OPENER) != 0;
    int after_closer = d->prev >= 0 && d->prev < t->n && (t->flags[d->prev] & F_CLOSER);
    for (int q = 0; q < 2; q++) {
        if (!(f & (q ? F_SQUOTE : F_DQUOTE))) continue;
        int bit = 1 << q;
        /* a lone ' right after , . ! ? etc. closes ('Tis true,' he said): the opening one
         * was most likely glued to its word by the splitter */
        if ((d->quote_open & bit) || (q == 1 && after_closer)) { closer = 1; d->quote_open &= ~bit; }
        else { opener = 1; d->quote_open |= bit; }
    }
    *space = !d->at_start && !closer;
    d->at_start = opener;
    d->prev = id;
    return s;
}

/* Length of the longest prefix of s[0..n) (n >= 1, s[0] >= 0x80) that can begin a valid UTF-8
 * sequence (the "maximal subpart"), at least 1; *whole: it is a whole code point. */
static size_t utf8_prefix(const unsigned char *s, size_t n, int *whole) {
    const unsigned char c = s[0];
    size_t need = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
    *whole = 0;
    if (!need) return 1;
    size_t k = 1;
    for (; k < need && k < n; k++) {
        unsigned char lo = 0x80, hi = 0xBF;
        if (k == 1) {
            if (c == 0xE0) lo = 0xA0;
            else if (c == 0xED) hi = 0x9F;
            else if (c == 0xF0) lo = 0x90;
            else if (c == 0xF4) hi = 0x8F;
        }
        if (s[k] < lo || s[k] > hi) return k;
    }
    *whole = k == need;
    return k;
}

/* Append s[0..n) to buf (k used of room) if it fits; returns the new k. */
static size_t put(char *buf, size_t k, size_t room, const char *s, size_t n, int *full) {
    if (*full || k + n > room) { *full = 1; return k; }
    memcpy(buf + k, s, n);
    return k + n;
}

/* A BPE token's bytes into buf: whole UTF-8 characters, an incomplete one kept for the next
 * token, invalid bytes as U+FFFD (one per maximal subpart, as Python's errors="replace" and
 * the WHATWG decoder do). */
static size_t push_bytes(ng_decoder *d, const unsigned char *s, size_t n, char *buf, size_t room) {
    unsigned char tmp[8];
    size_t k = 0, i = 0;
    int full = 0;
    /* finish the pending character first: its bytes and up to 3 of the new ones */
    while (d->npend > 0) {
        size_t m = 0;
        for (int j = 0; j < d->npend; j++) tmp[m++] = d->pend[j];
        size_t take = n - i < 4 ? n - i : 4;
        memcpy(tmp + m, s + i, take);
        int whole;
        size_t p = utf8_prefix(tmp, m + take, &whole);
        if (!whole && p == m + take) {   /* still incomplete: keep it all */
            for (size_t j = 0; j < take; j++) d->pend[d->npend++] = s[i + j];
            return k;
        }
        if (whole) k = put(buf, k, room, (const char *)tmp, p, &full);
        else k = put(buf, k, room, REPLACEMENT, 3, &full);
        /* p bytes of tmp are used: those of the pending ones first */
        if (p >= (size_t)d->npend) { i += p - (size_t)d->npend; d->npend = 0; }
        else { memmove(d->pend, d->pend + p, (size_t)d->npend - p); d->npend -= (int)p; }
    }
    while (i < n) {
        if (s[i] < 0x80) { k = put(buf, k, room, (const char *)s + i, 1, &full); i++; continue; }
        int whole;
        size_t p = utf8_prefix(s + i, n - i, &whole);
        if (whole) k = put(buf, k, room, (const char *)s + i, p, &full);
        else if (i + p == n) {   /* the start of a character the next token may finish */
            memcpy(d->pend, s + i, p);
            d->npend = (int)p;
        } else k = put(buf, k, room, REPLACEMENT, 3, &full);
        i += p;
    }
    return k;
}

size_t ng_decoder_flush(ng_decoder *d, char *buf, size_t cap) {
    const int had = d->npend > 0;
    d->npend = 0;
    if (!buf || cap == 0) return 0;
    size_t k = had && cap > 3 ? 3 : 0;
    memcpy(buf, REPLACEMENT, k);
    buf[k] = 0;
    return k;
}

/* Feed one id; write its text (with a leading space if due) into buf, cut to whole code points. */
size_t ng_decoder_push(ng_decoder *d, int id, char *buf, size_t cap) {
    int space;
    size_t n;
    const char *s = decoder_step(d, id, &space, &n);
    if (d->t && d->t->kind == NG_TOK_BPE) {
        if (!buf || cap == 0) { d->npend = 0; return 0; }
        size_t k = push_bytes(d, (const unsigned char *)s, n, buf, cap - 1);
        buf[k] = 0;
        return k;
    }
    if (!buf || cap == 0) return 0;
    size_t k = 0, room = cap - 1;
    if (space && room > 0) buf[k++] = ' ';
    size_t take = n <= room - k ? n : room - k;
    if (take < n)   /* do not cut a code point in half */
        while (take > 0 && ((unsigned char)s[take] & 0xC0) == 0x80) take--;
    memcpy(buf + k, s, take);
    k += take;
    buf[k] = 0;
    return k;
}

/* Decode a whole sequence of ids into a malloc'd string. */
char *ng_tokenizer_decode(const ng_tokenizer *t, const int32_t *ids, size_t n) {
    return ng_tokenizer_decode_bytes(t, ids, n, NULL);
}

char *ng_tokenizer_decode_bytes(const ng_tokenizer *t, const int32_t *ids, size_t n, size_t *len) {
    if (len) *len = 0;
    if (!t || (!ids && n > 0)) {
        ng_set_error("ng_tokenizer_decode: NULL argument");
        return NULL;
    }
    size_t bound = 1;
    for (size_t i = 0; i < n; i++) {
        size_t l;
        token_bytes(t, ids[i], &l);
        bound += 1 + l;
    }
    char *out = ng_malloc(bound, "decoded text");
    if (!out) return NULL;
    ng_decoder d;
    ng_decoder_init(&d, t);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int space;
        size_t tl;
        const char *s = decoder_step(&d, ids[i], &space, &tl);
        if (space) out[k++] = ' ';
        memcpy(out + k, s, tl);
        k += tl;
    }
    out[k] = 0;
    if (len) *len = k;
    return out;
}

/* ================================================================ JSON */

/* Serialize as {"kind":"char"|"word","vocab":[...]} (malloc'd string). */
char *ng_tokenizer_to_json(const ng_tokenizer *t) {
    if (!t) { ng_set_error("ng_tokenizer_to_json: NULL tokenizer"); return NULL; }
    cJSON *root = cJSON_CreateObject();
    cJSON *vocab = cJSON_CreateArray();
    char *res = NULL, *s = NULL;
    if (!root || !vocab) { cJSON_Delete(vocab); goto done; }
    if (!cJSON_AddStringToObject(root, "kind", ng_tok_kind_name(t->kind))) {
        cJSON_Delete(vocab);
        goto done;
    }
    cJSON_AddItemToObject(root, "vocab", vocab);   /* root owns it from here */
    if (t->bpe) {
        if (ng__bpe_to_json(t->bpe, root, vocab)) goto done;
    } else for (int i = 0; i < t->n; i++) {
        cJSON *str = cJSON_CreateString(t->pool + t->off[i]);
        if (!str) goto done;
        cJSON_AddItemToArray(vocab, str);
    }
    s = cJSON_PrintUnformatted(root);
    if (!s) goto done;
    res = ng_malloc(strlen(s) + 1, "tokenizer JSON");
    if (res) memcpy(res, s, strlen(s) + 1);
done:
    if (!res && !s) ng_set_error("out of memory writing the tokenizer JSON");
    if (s) cJSON_free(s);
    cJSON_Delete(root);
    return res;
}

/* Parse and validate a tokenizer JSON; NULL + an error naming the problem. */
ng_tokenizer *ng_tokenizer_from_json(const char *json) {
    if (!json) { ng_set_error("tokenizer JSON: NULL input"); return NULL; }
    cJSON *root = cJSON_Parse(json);
    if (!root) {
        const char *e = cJSON_GetErrorPtr();
        size_t jl = strlen(json);
        if (e && e >= json && e <= json + jl)
            ng_set_error("tokenizer JSON: parse error at byte offset %zu", (size_t)(e - json));
        else
            ng_set_error("tokenizer JSON: parse error");
        return NULL;
    }
    ng_tokenizer *t = NULL;
    const char **strs = NULL;
    size_t *lens = NULL;
    char sn[48];
    if (!cJSON_IsObject(root)) { ng_set_error("tokenizer JSON: expected an object"); goto done; }
    cJSON *kind = cJSON_GetObjectItemCaseSensitive(root, "kind");
    if (!cJSON_IsString(kind) || !kind->valuestring) {
        ng_set_error("tokenizer JSON: missing string field \"kind\"");
        goto done;
    }
    ng_tok_kind k;
    if (strcmp(kind->valuestring, "char") == 0) k = NG_TOK_CHAR;
    else if (strcmp(kind->valuestring, "word") == 0) k = NG_TOK_WORD;
    else if (strcmp(kind->valuestring, "bpe") == 0) {
        t = wrap_bpe(ng__bpe_from_json(root));
        goto done;
    } else {
        ng_set_error("tokenizer JSON: unknown kind '%s' (expected \"char\", \"word\" or \"bpe\")",
                     snip(kind->valuestring, sn, sizeof sn));
        goto done;
    }
    cJSON *vocab = cJSON_GetObjectItemCaseSensitive(root, "vocab");
    if (!cJSON_IsArray(vocab)) { ng_set_error("tokenizer JSON: missing array field \"vocab\""); goto done; }
    size_t n = 0;
    cJSON *it;
    cJSON_ArrayForEach(it, vocab) {
        if (++n > MAX_VOCAB) {
            ng_set_error("tokenizer JSON: vocab has more than %d entries", MAX_VOCAB);
            goto done;
        }
    }
    if (n == 0) { ng_set_error("tokenizer JSON: vocab is empty"); goto done; }
    strs = ng_malloc(n * sizeof *strs, "tokenizer vocabulary");
    lens = ng_malloc(n * sizeof *lens, "tokenizer vocabulary");
    if (!strs || !lens) goto done;
    size_t i = 0;
    cJSON_ArrayForEach(it, vocab) {
        if (!cJSON_IsString(it) || !it->valuestring) {
            ng_set_error("tokenizer JSON: vocab[%zu] is not a string", i);
            goto done;
        }
        const char *s = it->valuestring;
        size_t len = strlen(s);
        long long bad = ng_utf8_validate(s, len);
        if (bad >= 0) {
            ng_set_error("tokenizer JSON: vocab[%zu] is not valid UTF-8 (byte offset %lld)", i, bad);
            goto done;
        }
        if (len == 0) { ng_set_error("tokenizer JSON: vocab[%zu] is empty", i); goto done; }
        if (k == NG_TOK_CHAR) {
            uint32_t cp;
            if ((size_t)ng_utf8_decode((const unsigned char *)s, len, &cp) != len) {
                ng_set_error("tokenizer JSON: char vocab[%zu] ('%s') is not exactly one character",
                             i, snip(s, sn, sizeof sn));
                goto done;
            }
        } else if (i == 0) {
            if (strcmp(s, UNK_TEXT) != 0) {
                ng_set_error("tokenizer JSON: word vocab[0] must be \"%s\"", UNK_TEXT);
                goto done;
            }
        } else {
            /* each word entry must be exactly one token of the splitter */
            splitter sp = {(const unsigned char *)s, len, 0};
            const char *tok;
            size_t tn;
            int one = split_next(&sp, &tok, &tn) && tn == len && memcmp(tok, s, len) == 0 &&
                      !split_next(&sp, &tok, &tn);
            if (!one) {
                ng_set_error("tokenizer JSON: word vocab[%zu] ('%s') is not a single word, "
                             "punctuation mark or newline", i, snip(s, sn, sizeof sn));
                goto done;
            }
        }
        strs[i] = s;
        lens[i] = len;
        i++;
    }
    t = tok_create(k, strs, lens, (int)n);
    if (!t) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", ng_last_error());
        ng_set_error("tokenizer JSON: %s", msg);
    }
done:
    free(strs);
    free(lens);
    cJSON_Delete(root);
    return t;
}

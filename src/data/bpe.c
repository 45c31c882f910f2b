/* bpe.c - the byte-level BPE tokenizer (the kind NG_TOK_BPE; src/data/bpe.h): GPT-2's pre-split
 * pattern written out by hand, training on a corpus, encoding by merge rank, and GPT-2's
 * bytes_to_unicode.
 *
 * Training: the corpus is pre-split and the distinct pieces ("words") counted; each word is a
 * list of token ids, first its bytes. The count of a pair of adjacent ids is the sum of the
 * counts of the words where it occurs (once per occurrence). The pair with the largest count is
 * merged; ties go to the pair of smaller ids (first id, then second id), so training is
 * deterministic. Each pair keeps the list of words it occurs in (words are added, never removed:
 * a stale entry is skipped), so a merge visits only the words that hold it; the counts change
 * there only around the merged occurrences. The largest count comes from a lazy max-heap: an
 * entry is pushed when a count grows; a popped entry whose count has since shrunk goes back
 * with the new count. Training stops at vocab_size - 1 tokens or when no pair occurs twice; the
 * last token is <|endoftext|>. A merge whose bytes are already a token (a "bc" made once from
 * "b"+"c" and "ab"+"c" vs "a"+"bc") makes no new token.
 *
 * Encoding (GPT-2's bpe()): within a pre-split piece, repeatedly take the pair of adjacent tokens
 * of lowest merge rank and merge all its occurrences, left to right, until no pair is a merge.
 * Positions sit in a linked list and the candidate pairs in a min-heap keyed (rank, position),
 * so a long piece costs O(n log n), not O(n^2). A piece seen before in the same call is taken
 * from a cache. */
#include "data/bpe.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_VOCAB (1 << 20)

struct ng__bpe {
    int n, n_merges;
    char *bytes;            /* the tokens' bytes, each followed by a NUL */
    size_t *off;            /* token i: bytes + off[i], length off[i+1] - off[i] - 1 */
    int32_t byte_id[256];
    int32_t *ma, *mb, *mz;  /* merge r: (ma[r], mb[r]) -> mz[r] */
    uint64_t *pkey;         /* pair -> rank: open addressing, key (a << 32 | b) + 1, 0 empty */
    int32_t *prank;
    size_t pmask;
    int32_t *slots;         /* bytes -> id: open addressing, -1 empty */
    size_t smask;
};

/* ================================================================ helpers */

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) { h ^= (unsigned char)s[i]; h *= 1099511628211ull; }
    return h;
}

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33; x *= 0xff51afd7ed558ccdull; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ull; x ^= x >> 33;
    return x;
}

static uint64_t pair_key(int32_t a, int32_t b) { return ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) + 1; }

static size_t pow2_at_least(size_t n) {
    size_t c = 16;
    while (c < n) c *= 2;
    return c;
}

/* ================================================================ bytes_to_unicode */

/* GPT-2: the printable bytes '!'..'~', 0xA1..0xAC, 0xAE..0xFF stand for themselves; the others,
 * in order, for U+0100, U+0101, ... */
static int printable_byte(int x) { return (x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF); }

uint32_t ng__bpe_byte_char(unsigned char x) {
    if (printable_byte(x)) return x;
    uint32_t k = 0;
    for (int y = 0; y < x; y++) k += !printable_byte(y);
    return 256 + k;
}

int ng__bpe_char_byte(uint32_t cp) {
    if (cp < 256) return printable_byte((int)cp) ? (int)cp : -1;
    if (cp >= 256 + 68) return -1;   /* 68 bytes are not printable */
    uint32_t k = 0;
    for (int y = 0; y < 256; y++)
        if (!printable_byte(y) && k++ == cp - 256) return y;
    return -1;
}

/* ================================================================ pre-split */

/* Code point at s[i] and its length; an invalid byte is one code point of class 'O'. */
static char class_at(const unsigned char *s, size_t len, size_t i, int *n) {
    if (s[i] < 0x80) { *n = 1; return ng__gpt2_class(s[i]); }
    uint32_t cp;
    int k = ng_utf8_decode(s + i, len - i, &cp);
    if (k == 0) { *n = 1; return 'O'; }
    *n = k;
    return ng__gpt2_class(cp);
}

/* The end of a run of class c (c 'O': not L, N or S) from i. */
static size_t run_end(const unsigned char *s, size_t len, size_t i, char c) {
    while (i < len) {
        int n;
        if (class_at(s, len, i, &n) != c) break;
        i += (size_t)n;
    }
    return i;
}

size_t ng__bpe_split(const unsigned char *s, size_t len, size_t pos) {
    if (s[pos] == '\'' && pos + 1 < len) {   /* 's 't 're 've 'm 'll 'd */
        unsigned char c = s[pos + 1], d = pos + 2 < len ? s[pos + 2] : 0;
        if (c == 's' || c == 't' || c == 'm' || c == 'd') return pos + 2;
        if ((c == 'r' && d == 'e') || (c == 'v' && d == 'e') || (c == 'l' && d == 'l')) return pos + 3;
    }
    int n;
    char c = class_at(s, len, pos, &n);
    size_t start = pos;
    if (s[pos] == ' ' && pos + 1 < len) {   /* " ?" before letters, numbers or other */
        int m;
        char d = class_at(s, len, pos + 1, &m);
        if (d != 'S') return run_end(s, len, pos + 1 + (size_t)m, d);
    }
    if (c != 'S') return run_end(s, len, start + (size_t)n, c);
    /* \s+(?!\S) then \s+: a whitespace run ending the text is whole; one followed by other
     * text leaves its last character to that text (" word"), unless the run is one character */
    size_t end = run_end(s, len, start + (size_t)n, 'S');
    if (end == len) return end;
    size_t last = end - 1;   /* the start of the run's last code point */
    while (last > start && (s[last] & 0xC0) == 0x80) last--;
    return last > start ? last : end;
}

/* ================================================================ the vocabulary */

void ng__bpe_free(ng__bpe *b) {
    if (!b) return;
    free(b->bytes); free(b->off);
    free(b->ma); free(b->mb); free(b->mz);
    free(b->pkey); free(b->prank); free(b->slots);
    free(b);
}

int ng__bpe_size(const ng__bpe *b) { return b->n; }
int ng__bpe_n_merges(const ng__bpe *b) { return b->n_merges; }
void ng__bpe_merge(const ng__bpe *b, int r, int32_t *a, int32_t *bb) { *a = b->ma[r]; *bb = b->mb[r]; }

const char *ng__bpe_bytes(const ng__bpe *b, int id, size_t *len) {
    *len = b->off[id + 1] - b->off[id] - 1;
    return b->bytes + b->off[id];
}

int32_t ng__bpe_lookup(const ng__bpe *b, const char *s, size_t n) {
    for (size_t k = hash_bytes(s, n) & b->smask;; k = (k + 1) & b->smask) {
        int32_t id = b->slots[k];
        if (id < 0) return -1;
        if (b->off[id + 1] - b->off[id] - 1 == n && memcmp(b->bytes + b->off[id], s, n) == 0) return id;
    }
}

/* Rank of the merge (a, b), or -1. */
static int32_t pair_rank(const ng__bpe *b, int32_t x, int32_t y) {
    if (!b->pkey) return -1;
    const uint64_t key = pair_key(x, y);
    for (size_t k = mix64(key) & b->pmask;; k = (k + 1) & b->pmask) {
        if (b->pkey[k] == key) return b->prank[k];
        if (b->pkey[k] == 0) return -1;
    }
}

char *ng__bpe_display(const ng__bpe *b, int id) {
    size_t n;
    const unsigned char *s = (const unsigned char *)ng__bpe_bytes(b, id, &n);
    char *out = ng_malloc(4 * n + 1, "token text");
    if (!out) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int m = s[i] < 0x80 ? 1 : ng_utf8_decode(s + i, n - i, &cp);
        if (m == 0 || s[i] == 0) {
            k += (size_t)snprintf(out + k, 5, "\\x%02X", s[i]);
            i++;
        } else {
            memcpy(out + k, s + i, (size_t)m);
            k += (size_t)m;
            i += (size_t)m;
        }
    }
    out[k] = 0;
    return out;
}

/* A token for an error message: its display, cut. */
static const char *shown(const ng__bpe *b, int id, char *buf, size_t cap) {
    char *d = ng__bpe_display(b, id);
    snprintf(buf, cap, "%s", d ? d : "?");
    if (d && strlen(d) >= cap && cap > 4) memcpy(buf + cap - 4, "...", 4);
    free(d);
    return buf;
}

ng__bpe *ng__bpe_create(const char *what, const char *const *toks, const size_t *lens, int n,
                        const int32_t *merges, int n_merges, const int *lines) {
    if (n < 256 || n > MAX_VOCAB) {
        ng_set_error("%s: %d tokens (a byte-level vocabulary has 256 to %d)", what, n, MAX_VOCAB);
        return NULL;
    }
    if (n_merges < 0 || n_merges > MAX_VOCAB) {
        ng_set_error("%s: %d merges (at most %d)", what, n_merges, MAX_VOCAB);
        return NULL;
    }
    ng__bpe *b = ng_malloc(sizeof *b, "BPE tokenizer");
    if (!b) return NULL;
    memset(b, 0, sizeof *b);
    b->n = n;
    size_t total = 0;
    for (int i = 0; i < n; i++) total += lens[i] + 1;
    b->bytes = ng_malloc(total, "BPE vocabulary");
    b->off = ng_malloc(((size_t)n + 1) * sizeof *b->off, "BPE vocabulary");
    b->smask = pow2_at_least(2 * (size_t)n) - 1;
    b->slots = ng_malloc((b->smask + 1) * sizeof *b->slots, "BPE vocabulary");
    if (!b->bytes || !b->off || !b->slots) goto fail;
    memset(b->slots, 0xFF, (b->smask + 1) * sizeof *b->slots);
    for (int i = 0; i < 256; i++) b->byte_id[i] = -1;
    size_t p = 0;
    char sn[64];
    for (int i = 0; i < n; i++) {
        b->off[i] = p;
        memcpy(b->bytes + p, toks[i], lens[i]);
        p += lens[i];
        b->bytes[p++] = 0;
        b->off[i + 1] = p;
        if (lens[i] == 0) { ng_set_error("%s: vocabulary entry %d is empty", what, i); goto fail; }
        int32_t dup = ng__bpe_lookup(b, toks[i], lens[i]);
        if (dup >= 0) {
            ng_set_error("%s: vocabulary entries %d and %d are the same token '%s'", what, dup, i, shown(b, i, sn, sizeof sn));
            goto fail;
        }
        size_t k = hash_bytes(toks[i], lens[i]) & b->smask;
        while (b->slots[k] >= 0) k = (k + 1) & b->smask;
        b->slots[k] = i;
        if (lens[i] == 1) b->byte_id[(unsigned char)toks[i][0]] = i;
    }
    for (int x = 0; x < 256; x++)
        if (b->byte_id[x] < 0) { ng_set_error("%s: the vocabulary has no token for the byte 0x%02X", what, x); goto fail; }
    b->n_merges = n_merges;
    b->ma = ng_malloc((size_t)n_merges * sizeof *b->ma + 1, "BPE merges");
    b->mb = ng_malloc((size_t)n_merges * sizeof *b->mb + 1, "BPE merges");
    b->mz = ng_malloc((size_t)n_merges * sizeof *b->mz + 1, "BPE merges");
    b->pmask = pow2_at_least(2 * (size_t)n_merges) - 1;
    b->pkey = calloc(b->pmask + 1, sizeof *b->pkey);
    b->prank = ng_malloc((b->pmask + 1) * sizeof *b->prank, "BPE merges");
    if (!b->ma || !b->mb || !b->mz || !b->pkey || !b->prank) { if (!b->pkey) ng_set_error("out of memory for the BPE merges"); goto fail; }
    char *cat = NULL;
    size_t cat_cap = 0;
    for (int r = 0; r < n_merges; r++) {
        char where[48];
        if (lines) snprintf(where, sizeof where, "line %d", lines[r]);
        else snprintf(where, sizeof where, "merge %d", r);
        int32_t x = merges[2 * r], y = merges[2 * r + 1];
        if (x < 0 || x >= n || y < 0 || y >= n) {
            ng_set_error("%s: %s: token id %d is out of range (the vocabulary has %d)", what, where, x < 0 || x >= n ? x : y, n);
            free(cat);
            goto fail;
        }
        size_t lx, ly;
        const char *sx = ng__bpe_bytes(b, x, &lx), *sy = ng__bpe_bytes(b, y, &ly);
        if (lx + ly > cat_cap) {
            char *nc = realloc(cat, 2 * (lx + ly));
            if (!nc) { free(cat); ng_set_error("out of memory"); goto fail; }
            cat = nc;
            cat_cap = 2 * (lx + ly);
        }
        memcpy(cat, sx, lx);
        memcpy(cat + lx, sy, ly);
        int32_t z = ng__bpe_lookup(b, cat, lx + ly);
        if (z < 0) {
            char s1[64], s2[64];
            ng_set_error("%s: %s: the merge of '%s' and '%s' makes a token that is not in the vocabulary", what, where,
                         shown(b, x, s1, sizeof s1), shown(b, y, s2, sizeof s2));
            free(cat);
            goto fail;
        }
        const uint64_t key = pair_key(x, y);
        size_t k = mix64(key) & b->pmask;
        while (b->pkey[k] && b->pkey[k] != key) k = (k + 1) & b->pmask;
        if (b->pkey[k] == key) {
            char s1[64], s2[64], first[48];
            const int r0 = b->prank[k];
            if (lines) snprintf(first, sizeof first, "line %d", lines[r0]);
            else snprintf(first, sizeof first, "merge %d", r0);
            ng_set_error("%s: %s: the merge of '%s' and '%s' is already at %s (a duplicate rank)", what, where,
                         shown(b, x, s1, sizeof s1), shown(b, y, s2, sizeof s2), first);
            free(cat);
            goto fail;
        }
        b->pkey[k] = key;
        b->prank[k] = r;
        b->ma[r] = x; b->mb[r] = y; b->mz[r] = z;
    }
    free(cat);
    return b;
fail:
    ng__bpe_free(b);
    return NULL;
}

/* ================================================================ encoding */

/* Scratch space of one encode call: the piece's linked list, the heap, the cache. */
typedef struct {
    int32_t *tok, *nxt, *prv;
    uint64_t *heap;
    size_t cap, nheap;
    /* cache: piece bytes -> ids (in cids) */
    struct centry { uint64_t h; size_t pos, len; size_t ids, nids; } *ce;
    size_t cmask, cn;
    int32_t *cids;
    size_t ncids, capids;
    const char *text;
} scratch;

static void heap_push(scratch *sc, uint64_t v) {
    size_t i = sc->nheap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (sc->heap[p] <= v) break;
        sc->heap[i] = sc->heap[p];
        i = p;
    }
    sc->heap[i] = v;
}

static uint64_t heap_pop(scratch *sc) {
    uint64_t top = sc->heap[0], v = sc->heap[--sc->nheap];
    size_t i = 0, n = sc->nheap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && sc->heap[c + 1] < sc->heap[c]) c++;
        if (v <= sc->heap[c]) break;
        sc->heap[i] = sc->heap[c];
        i = c;
    }
    if (n) sc->heap[i] = v;
    return top;
}

static int scratch_reserve(scratch *sc, size_t n) {
    if (n <= sc->cap) return NG_OK;
    if (n > INT32_MAX) return ng_set_error("a piece of %zu bytes without a break is too long to encode", n);
    size_t c = pow2_at_least(n);
    int32_t *t = realloc(sc->tok, c * sizeof *t), *x, *p;
    if (t) sc->tok = t;
    x = realloc(sc->nxt, c * sizeof *x);
    if (x) sc->nxt = x;
    p = realloc(sc->prv, c * sizeof *p);
    if (p) sc->prv = p;
    /* the heap holds at most n - 1 pairs and 2 more a merge (popped ones included), so 3n */
    uint64_t *h = realloc(sc->heap, 3 * c * sizeof *h);
    if (h) sc->heap = h;
    if (!t || !x || !p || !h) return ng_set_error("out of memory encoding a piece of %zu bytes", n);
    sc->cap = c;
    return NG_OK;
}

static void try_push(const ng__bpe *b, scratch *sc, int32_t i) {
    int32_t j = sc->nxt[i];
    if (j < 0) return;
    int32_t r = pair_rank(b, sc->tok[i], sc->tok[j]);
    if (r >= 0) heap_push(sc, (uint64_t)r << 32 | (uint32_t)i);
}

/* Encode one piece w[0..n) into out (n ids at most); returns the count. */
static size_t encode_piece(const ng__bpe *b, scratch *sc, const unsigned char *w, size_t n, int32_t *out) {
    for (size_t i = 0; i < n; i++) {
        sc->tok[i] = b->byte_id[w[i]];
        sc->nxt[i] = i + 1 < n ? (int32_t)(i + 1) : -1;
        sc->prv[i] = (int32_t)i - 1;
    }
    sc->nheap = 0;
    for (size_t i = 0; i + 1 < n; i++) try_push(b, sc, (int32_t)i);
    while (sc->nheap) {
        const uint64_t r = sc->heap[0] >> 32;
        const int32_t A = b->ma[r], B = b->mb[r], Z = b->mz[r];
        /* every occurrence of this rank, left to right (the heap orders them by position) */
        while (sc->nheap && sc->heap[0] >> 32 == r) {
            int32_t i = (int32_t)(uint32_t)heap_pop(sc);
            int32_t j = sc->nxt[i];
            if (sc->tok[i] != A || j < 0 || sc->tok[j] != B) continue;   /* stale, or taken by a merge on its left */
            sc->tok[i] = Z;
            sc->tok[j] = -1;
            sc->nxt[i] = sc->nxt[j];
            if (sc->nxt[j] >= 0) sc->prv[sc->nxt[j]] = i;
            /* the new pairs never have rank r (Z is longer than A and B): they wait for later rounds */
            if (sc->prv[i] >= 0) try_push(b, sc, sc->prv[i]);
            try_push(b, sc, i);
        }
    }
    size_t k = 0;
    for (int32_t i = 0; i >= 0; i = sc->nxt[i]) out[k++] = sc->tok[i];
    return k;
}

#define CACHE_MAX_PIECE 256
#define CACHE_MAX_ENTRIES (1u << 20)

/* The cached ids of piece w[0..n) (hash h), or NULL. */
static struct centry *cache_find(scratch *sc, const unsigned char *w, size_t n, uint64_t h, size_t *slot) {
    for (size_t k = h & sc->cmask;; k = (k + 1) & sc->cmask) {
        struct centry *e = &sc->ce[k];
        if (e->len == 0) { *slot = k; return NULL; }
        if (e->h == h && e->len == n && memcmp(sc->text + e->pos, w, n) == 0) return e;
    }
}

static void cache_add(scratch *sc, size_t slot, uint64_t h, size_t pos, size_t n, const int32_t *ids, size_t nids) {
    if (sc->cn >= CACHE_MAX_ENTRIES) return;
    if (2 * (sc->cn + 1) > sc->cmask + 1) {   /* grow (load under 1/2) */
        size_t nm = 2 * (sc->cmask + 1) - 1;
        struct centry *ne = calloc(nm + 1, sizeof *ne);
        if (!ne) return;
        for (size_t k = 0; k <= sc->cmask; k++) {
            if (!sc->ce[k].len) continue;
            size_t q = sc->ce[k].h & nm;
            while (ne[q].len) q = (q + 1) & nm;
            ne[q] = sc->ce[k];
        }
        free(sc->ce);
        sc->ce = ne;
        sc->cmask = nm;
        slot = h & nm;
        while (ne[slot].len) slot = (slot + 1) & nm;
    }
    if (sc->ncids + nids > sc->capids) {
        size_t c = 2 * (sc->ncids + nids) + 1024;
        int32_t *ni = realloc(sc->cids, c * sizeof *ni);
        if (!ni) return;
        sc->cids = ni;
        sc->capids = c;
    }
    memcpy(sc->cids + sc->ncids, ids, nids * sizeof *ids);
    sc->ce[slot] = (struct centry){h, pos, n, sc->ncids, nids};
    sc->ncids += nids;
    sc->cn++;
}

int ng__bpe_encode(const ng__bpe *b, const char *text, size_t len, int32_t *ids, size_t *n) {
    const unsigned char *s = (const unsigned char *)text;
    scratch sc = {0};
    sc.text = text;
    sc.cmask = 4095;
    sc.ce = calloc(sc.cmask + 1, sizeof *sc.ce);
    int rc = sc.ce ? NG_OK : ng_set_error("out of memory encoding text");
    size_t k = 0;
    for (size_t pos = 0; pos < len && rc == NG_OK;) {
        size_t end = ng__bpe_split(s, len, pos), m = end - pos;
        if (m == 1) {
            ids[k++] = b->byte_id[s[pos]];
        } else {
            size_t slot = 0;
            const uint64_t h = hash_bytes(text + pos, m);
            struct centry *e = m <= CACHE_MAX_PIECE ? cache_find(&sc, s + pos, m, h, &slot) : NULL;
            if (e) {
                memcpy(ids + k, sc.cids + e->ids, e->nids * sizeof *ids);
                k += e->nids;
            } else if ((rc = scratch_reserve(&sc, m)) == NG_OK) {
                size_t got = encode_piece(b, &sc, s + pos, m, ids + k);
                if (m <= CACHE_MAX_PIECE) cache_add(&sc, slot, h, pos, m, ids + k, got);
                k += got;
            }
        }
        pos = end;
    }
    free(sc.tok); free(sc.nxt); free(sc.prv); free(sc.heap); free(sc.ce); free(sc.cids);
    *n = k;
    return rc;
}

/* ================================================================ training */

typedef struct {
    int32_t a, b;
    int64_t count;
    int32_t *words, nw, cw;   /* the words it occurs in (may repeat or be stale) */
    int32_t stamp;            /* the merge that last changed its count */
} pair_t;

typedef struct { int64_t count; int32_t p; } hentry;

typedef struct {
    pair_t *pairs;
    size_t np, cp;
    uint64_t *keys;    /* pair table: (a<<32|b)+1 -> index in idx */
    int32_t *idx;
    size_t mask;
    hentry *heap;
    size_t nh, ch;
} trainer;

/* a before b in the max-heap: larger count, then smaller ids */
static int hbefore(const trainer *t, hentry x, hentry y) {
    if (x.count != y.count) return x.count > y.count;
    const pair_t *px = &t->pairs[x.p], *py = &t->pairs[y.p];
    if (px->a != py->a) return px->a < py->a;
    return px->b < py->b;
}

static int hpush(trainer *t, hentry v) {
    if (t->nh == t->ch) {
        size_t c = t->ch ? 2 * t->ch : 4096;
        hentry *nh = realloc(t->heap, c * sizeof *nh);
        if (!nh) return ng_set_error("out of memory training BPE");
        t->heap = nh;
        t->ch = c;
    }
    size_t i = t->nh++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!hbefore(t, v, t->heap[p])) break;
        t->heap[i] = t->heap[p];
        i = p;
    }
    t->heap[i] = v;
    return NG_OK;
}

static hentry hpop(trainer *t) {
    hentry top = t->heap[0], v = t->heap[--t->nh];
    size_t i = 0, n = t->nh;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && hbefore(t, t->heap[c + 1], t->heap[c])) c++;
        if (!hbefore(t, t->heap[c], v)) break;
        t->heap[i] = t->heap[c];
        i = c;
    }
    if (n) t->heap[i] = v;
    return top;
}

/* Index of pair (a, b), created with count 0 if new; -1 when out of memory. */
static int32_t pair_get(trainer *t, int32_t a, int32_t b) {
    if (2 * (t->np + 1) > t->mask + 1) {
        size_t nm = 2 * (t->mask + 1) - 1;
        uint64_t *nk = calloc(nm + 1, sizeof *nk);
        int32_t *ni = malloc((nm + 1) * sizeof *ni);
        if (!nk || !ni) { free(nk); free(ni); ng_set_error("out of memory training BPE"); return -1; }
        for (size_t k = 0; k <= t->mask; k++) {
            if (!t->keys[k]) continue;
            size_t q = mix64(t->keys[k]) & nm;
            while (nk[q]) q = (q + 1) & nm;
            nk[q] = t->keys[k];
            ni[q] = t->idx[k];
        }
        free(t->keys); free(t->idx);
        t->keys = nk; t->idx = ni; t->mask = nm;
    }
    const uint64_t key = pair_key(a, b);
    size_t k = mix64(key) & t->mask;
    for (; t->keys[k]; k = (k + 1) & t->mask)
        if (t->keys[k] == key) return t->idx[k];
    if (t->np == t->cp) {
        size_t c = t->cp ? 2 * t->cp : 4096;
        pair_t *np = realloc(t->pairs, c * sizeof *np);
        if (!np) { ng_set_error("out of memory training BPE"); return -1; }
        t->pairs = np;
        t->cp = c;
    }
    t->pairs[t->np] = (pair_t){a, b, 0, NULL, 0, 0, -1};
    t->keys[k] = key;
    t->idx[k] = (int32_t)t->np;
    return (int32_t)t->np++;
}

static int pair_add_word(pair_t *p, int32_t w) {
    if (p->nw && p->words[p->nw - 1] == w) return NG_OK;
    if (p->nw == p->cw) {
        int32_t c = p->cw ? 2 * p->cw : 4;
        int32_t *nw = realloc(p->words, (size_t)c * sizeof *nw);
        if (!nw) return ng_set_error("out of memory training BPE");
        p->words = nw;
        p->cw = c;
    }
    p->words[p->nw++] = w;
    return NG_OK;
}

/* One distinct piece of the corpus while counting. */
typedef struct { size_t pos, len; uint64_t h; int64_t count; } wpiece;

ng__bpe *ng__bpe_train(const char *text, size_t len, int vocab_size) {
    const unsigned char *s = (const unsigned char *)text;
    ng__bpe *res = NULL;
    trainer t = {0};
    wpiece *wp = NULL;
    int32_t *wslot = NULL, *sym = NULL, *stamp = NULL, *tmp = NULL, *touched = NULL, *merges = NULL;
    size_t *woff = NULL, *wlen = NULL;
    unsigned char *mark = NULL, *fresh = NULL;
    char *pool = NULL, **toks = NULL;
    size_t *tlens = NULL, *toff = NULL;
    int32_t *tslot = NULL;    /* the tokens made by merges, by their bytes */
    size_t nwp = 0, cwp = 1024, wmask = 4095, maxlen = 0, tmask = 0;
    /* ---- count the distinct pieces */
    wp = malloc(cwp * sizeof *wp);
    wslot = malloc((wmask + 1) * sizeof *wslot);
    if (!wp || !wslot) { ng_set_error("out of memory training BPE"); goto done; }
    memset(wslot, 0xFF, (wmask + 1) * sizeof *wslot);
    for (size_t pos = 0; pos < len;) {
        size_t end = ng__bpe_split(s, len, pos), m = end - pos;
        uint64_t h = hash_bytes(text + pos, m);
        size_t k = h & wmask;
        for (; wslot[k] >= 0; k = (k + 1) & wmask) {
            wpiece *e = &wp[wslot[k]];
            if (e->h == h && e->len == m && memcmp(text + e->pos, text + pos, m) == 0) break;
        }
        if (wslot[k] >= 0) wp[wslot[k]].count++;
        else {
            if (nwp == cwp || nwp >= INT32_MAX - 1) {
                wpiece *nw = nwp < INT32_MAX - 1 ? realloc(wp, 2 * cwp * sizeof *nw) : NULL;
                if (!nw) { ng_set_error("out of memory training BPE"); goto done; }
                wp = nw;
                cwp *= 2;
            }
            wp[nwp] = (wpiece){pos, m, h, 1};
            wslot[k] = (int32_t)nwp++;
            if (m > maxlen) maxlen = m;
            if (2 * nwp > wmask + 1) {
                size_t nm = 2 * (wmask + 1) - 1;
                int32_t *ns = ng__hash_slots(wp, nwp, sizeof *wp, offsetof(wpiece, h), nm);
                if (!ns) { ng_set_error("out of memory training BPE"); goto done; }
                free(wslot);
                wslot = ns;
                wmask = nm;
            }
        }
        pos = end;
    }
    free(wslot);
    wslot = NULL;
    /* ---- the words as ids (their bytes first), the pairs and their words */
    size_t total = 0;
    for (size_t w = 0; w < nwp; w++) total += wp[w].len;
    sym = malloc((total + 1) * sizeof *sym);
    woff = malloc((nwp + 1) * sizeof *woff);
    wlen = malloc((nwp + 1) * sizeof *wlen);
    stamp = malloc((nwp + 1) * sizeof *stamp);
    tmp = malloc((maxlen + 1) * sizeof *tmp);
    mark = malloc(maxlen + 1);
    fresh = malloc(maxlen + 1);
    const int n_target = vocab_size - 1;   /* the last one is <|endoftext|> */
    const int max_merges = n_target > 256 ? n_target - 256 : 0;
    merges = malloc(((size_t)max_merges * 2 + 1) * sizeof *merges);
    toks = malloc(((size_t)vocab_size + 1) * sizeof *toks);
    tlens = malloc(((size_t)vocab_size + 1) * sizeof *tlens);
    toff = malloc(((size_t)vocab_size + 1) * sizeof *toff);
    tmask = pow2_at_least(2 * (size_t)vocab_size) - 1;
    tslot = malloc((tmask + 1) * sizeof *tslot);
    t.mask = 65535;
    t.keys = calloc(t.mask + 1, sizeof *t.keys);
    t.idx = malloc((t.mask + 1) * sizeof *t.idx);
    if (!sym || !woff || !wlen || !stamp || !tmp || !mark || !fresh || !merges || !toks || !tlens || !toff || !tslot || !t.keys || !t.idx) {
        ng_set_error("out of memory training BPE");
        goto done;
    }
    size_t o = 0;
    for (size_t w = 0; w < nwp; w++) {
        woff[w] = o;
        wlen[w] = wp[w].len;
        stamp[w] = -1;
        for (size_t i = 0; i < wp[w].len; i++) sym[o + i] = s[wp[w].pos + i];
        for (size_t i = 0; i + 1 < wp[w].len; i++) {
            int32_t p = pair_get(&t, sym[o + i], sym[o + i + 1]);
            if (p < 0 || pair_add_word(&t.pairs[p], (int32_t)w)) goto done;
            t.pairs[p].count += wp[w].count;
        }
        o += wp[w].len;
    }
    for (size_t p = 0; p < t.np; p++)
        if (hpush(&t, (hentry){t.pairs[p].count, (int32_t)p})) goto done;
    /* the vocabulary's bytes: a pool that grows */
    size_t pcap = 4096, pused = 0;
    pool = malloc(pcap);
    if (!pool) { ng_set_error("out of memory training BPE"); goto done; }
    for (int x = 0; x < 256; x++) { toff[x] = pused; pool[pused++] = (char)x; tlens[x] = 1; }
    memset(tslot, 0xFF, (tmask + 1) * sizeof *tslot);
    int n_tok = 256, n_merges = 0;
    size_t ntouched = 0, ctouched = 0;
    /* ---- merge */
    while (n_tok < n_target && n_merges < max_merges && t.nh) {
        hentry top = hpop(&t);
        pair_t *P = &t.pairs[top.p];
        if (top.count != P->count) {   /* stale: back with its count */
            if (P->count > 0 && hpush(&t, (hentry){P->count, top.p})) goto done;
            continue;
        }
        if (top.count < 2) break;
        const int32_t A = P->a, B = P->b;
        /* the merged token: new, or one that has these bytes already */
        size_t la = tlens[A], lb = tlens[B];
        if (pused + la + lb > pcap) {
            size_t c = 2 * (pused + la + lb);
            char *np = realloc(pool, c);
            if (!np) { ng_set_error("out of memory training BPE"); goto done; }
            pool = np;
            pcap = c;
        }
        memcpy(pool + pused, pool + toff[A], la);
        memcpy(pool + pused + la, pool + toff[B], lb);
        int32_t Z = -1;
        size_t ts = hash_bytes(pool + pused, la + lb) & tmask;
        for (; tslot[ts] >= 0; ts = (ts + 1) & tmask)
            if (tlens[tslot[ts]] == la + lb && memcmp(pool + toff[tslot[ts]], pool + pused, la + lb) == 0) { Z = tslot[ts]; break; }
        if (Z < 0) {
            Z = n_tok++;
            tslot[ts] = Z;
            toff[Z] = pused;
            tlens[Z] = la + lb;
            pused += la + lb;
        }
        const int32_t r = n_merges++;
        merges[2 * r] = A;
        merges[2 * r + 1] = B;
        ntouched = 0;
        for (int32_t wi = 0; wi < t.pairs[top.p].nw; wi++) {
            const int32_t w = t.pairs[top.p].words[wi];
            if (stamp[w] == r) continue;
            stamp[w] = r;
            int32_t *ws = sym + woff[w];
            const size_t L = wlen[w];
            const int64_t f = wp[w].count;
            int any = 0;
            for (size_t i = 0; i < L;) {
                if (i + 1 < L && ws[i] == A && ws[i + 1] == B) { mark[i] = 2; mark[i + 1] = 1; i += 2; any = 1; }
                else mark[i++] = 0;
            }
            if (!any) continue;   /* stale entry */
            for (size_t i = 0; i + 1 < L; i++) {
                if (!mark[i] && !mark[i + 1]) continue;
                int32_t p = pair_get(&t, ws[i], ws[i + 1]);
                if (p < 0) goto done;
                t.pairs[p].count -= f;
            }
            size_t k = 0;
            for (size_t i = 0; i < L;) {
                if (mark[i] == 2) { fresh[k] = 1; tmp[k++] = Z; i += 2; }
                else { fresh[k] = 0; tmp[k++] = ws[i++]; }
            }
            for (size_t i = 0; i + 1 < k; i++) {
                if (!fresh[i] && !fresh[i + 1]) continue;
                int32_t p = pair_get(&t, tmp[i], tmp[i + 1]);
                if (p < 0 || pair_add_word(&t.pairs[p], w)) goto done;
                t.pairs[p].count += f;
                if (t.pairs[p].stamp != r) {
                    t.pairs[p].stamp = r;
                    if (ntouched == ctouched) {
                        size_t c = ctouched ? 2 * ctouched : 1024;
                        int32_t *nt = realloc(touched, c * sizeof *nt);
                        if (!nt) { ng_set_error("out of memory training BPE"); goto done; }
                        touched = nt;
                        ctouched = c;
                    }
                    touched[ntouched++] = p;
                }
            }
            memcpy(ws, tmp, k * sizeof *ws);
            wlen[w] = k;
        }
        for (size_t i = 0; i < ntouched; i++)
            if (t.pairs[touched[i]].count > 0 && hpush(&t, (hentry){t.pairs[touched[i]].count, touched[i]})) goto done;
    }
    /* ---- the vocabulary: bytes, merges' tokens, <|endoftext|> */
    const size_t le = strlen(NG_BPE_EOT);
    if (pused + le > pcap) {
        char *np = realloc(pool, pused + le);
        if (!np) { ng_set_error("out of memory training BPE"); goto done; }
        pool = np;
    }
    memcpy(pool + pused, NG_BPE_EOT, le);   /* no merge makes it: the pre-split cuts "<|", "endoftext", "|>" */
    toff[n_tok] = pused;
    tlens[n_tok] = le;
    for (int i = 0; i <= n_tok; i++) toks[i] = pool + toff[i];
    res = ng__bpe_create("trained BPE", (const char *const *)toks, tlens, n_tok + 1, merges, n_merges, NULL);
done:
    for (size_t p = 0; p < t.np; p++) free(t.pairs[p].words);
    free(t.pairs); free(t.keys); free(t.idx); free(t.heap);
    free(wp); free(wslot); free(sym); free(woff); free(wlen); free(stamp); free(tmp); free(mark); free(fresh);
    free(touched); free(tslot); free(merges); free(pool); free(toks); free(tlens); free(toff);
    return res;
}

/* ================================================================ GPT-2's files */

#define GPT2_MAX_FILE (64u << 20)   /* GPT-2's encoder.json is 1 MB, vocab.bpe 0.5 MB */

/* An integer-valued JSON number (no conversion of a huge one to an integer). */
static int is_int(double v) { return v >= -9e15 && v <= 9e15 && v == (double)(long long)v; }

/* A vocabulary file's text, size-checked first. */
static char *read_small(const char *path, size_t *len) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size > GPT2_MAX_FILE) {
        ng_set_error("'%s' is %lld bytes, more than a vocabulary file may be (%u MiB)", path, (long long)st.st_size, GPT2_MAX_FILE >> 20);
        return NULL;
    }
    char *s = ng_read_file(path, len);
    if (s && *len == 0) { ng_set_error("'%s' is empty", path); free(s); return NULL; }
    return s;
}

/* A token as written in GPT-2's files (bytes_to_unicode characters, UTF-8) -> its bytes in out
 * (room for n); returns the byte count, or -1 at a character that stands for no byte (*bad). */
static long gpt2_unmap(const char *s, size_t n, char *out, uint32_t *bad) {
    long k = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int m = ng_utf8_decode((const unsigned char *)s + i, n - i, &cp);
        int x = m ? ng__bpe_char_byte(cp) : -1;
        if (x < 0) { *bad = m ? cp : 0xFFFD; return -1; }
        out[k++] = (char)x;
        i += (size_t)m;
    }
    return k;
}

/* A hostile string cut and made printable for an error message. */
static const char *snip(const char *s, size_t n, char *out, size_t cap) {
    size_t k = 0;
    for (size_t i = 0; i < n && k + 4 < cap; i++) out[k++] = ((unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7F) ? s[i] : '?';
    if (k < n && k + 3 < cap) { memcpy(out + k, "...", 3); k += 3; }
    out[k] = 0;
    return out;
}

ng__bpe *ng__bpe_load_gpt2(const char *vocab_path, const char *merges_path) {
    size_t vlen = 0, mlen = 0;
    char *vtext = NULL, *mtext = NULL, *bytes = NULL;
    const char **toks = NULL, **kname = NULL;
    size_t *lens = NULL;
    int32_t *merges = NULL;
    int *lines = NULL;
    int *seen = NULL;
    ng__bpe *res = NULL, *vocab = NULL;
    cJSON *root = NULL;
    char sn[64];
    if (!vocab_path || !merges_path) { ng_set_error("GPT-2 tokenizer: a vocabulary file and a merges file are needed"); return NULL; }
    if (!(vtext = read_small(vocab_path, &vlen))) goto done;
    root = cJSON_ParseWithLength(vtext, vlen);
    if (!root) {
        const char *e = cJSON_GetErrorPtr();
        if (e && e >= vtext && e <= vtext + vlen) ng_set_error("'%s': not JSON: parse error at byte offset %zu", vocab_path, (size_t)(e - vtext));
        else ng_set_error("'%s': not JSON", vocab_path);
        goto done;
    }
    if (!cJSON_IsObject(root)) { ng_set_error("'%s': expected a JSON object {token: id, ...}", vocab_path); goto done; }
    int n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, root) {
        if (++n > MAX_VOCAB) { ng_set_error("'%s': more than %d tokens", vocab_path, MAX_VOCAB); goto done; }
    }
    if (n < 256) { ng_set_error("'%s': %d tokens; a byte-level vocabulary has at least 256", vocab_path, n); goto done; }
    toks = calloc((size_t)n, sizeof *toks);
    lens = calloc((size_t)n, sizeof *lens);
    seen = malloc((size_t)n * sizeof *seen);
    kname = calloc((size_t)n, sizeof *kname);
    bytes = malloc(vlen + 1);   /* every token's bytes: no more than its text */
    if (!toks || !lens || !seen || !kname || !bytes) { ng_set_error("out of memory reading '%s'", vocab_path); goto done; }
    for (int i = 0; i < n; i++) seen[i] = -1;
    size_t used = 0;
    int entry = 0;
    cJSON_ArrayForEach(it, root) {
        const char *key = it->string ? it->string : "";
        size_t kl = strlen(key);
        if (!cJSON_IsNumber(it) || !is_int(it->valuedouble)) {
            ng_set_error("'%s': entry %d ('%s'): the id is not an integer", vocab_path, entry, snip(key, kl, sn, sizeof sn));
            goto done;
        }
        const double v = it->valuedouble;
        if (v < 0 || v >= n) {
            ng_set_error("'%s': entry %d ('%s'): id %.0f is out of range (%d tokens: ids 0..%d)", vocab_path, entry, snip(key, kl, sn, sizeof sn), v, n, n - 1);
            goto done;
        }
        const int id = (int)v;
        if (seen[id] >= 0) {
            char s2[64];
            ng_set_error("'%s': entry %d ('%s'): id %d is also entry %d's ('%s')", vocab_path, entry, snip(key, kl, sn, sizeof sn), id, seen[id],
                         snip(kname[id], strlen(kname[id]), s2, sizeof s2));
            goto done;
        }
        uint32_t bad = 0;
        long bl = gpt2_unmap(key, kl, bytes + used, &bad);
        if (bl < 0) {
            ng_set_error("'%s': entry %d ('%s', id %d): character U+%04X stands for no byte (GPT-2's bytes_to_unicode)", vocab_path, entry,
                         snip(key, kl, sn, sizeof sn), id, (unsigned)bad);
            goto done;
        }
        if (bl == 0) { ng_set_error("'%s': entry %d (id %d) is an empty token", vocab_path, entry, id); goto done; }
        seen[id] = entry;
        kname[id] = key;
        toks[id] = bytes + used;
        lens[id] = (size_t)bl;
        used += (size_t)bl;
        entry++;
    }
    /* the vocabulary alone (no merges) to look tokens up by their bytes; duplicates named there */
    if (!(vocab = ng__bpe_create(vocab_path, toks, lens, n, NULL, 0, NULL))) goto done;
    if (!(mtext = read_small(merges_path, &mlen))) goto done;
    int cap = 1024, nm = 0;
    merges = malloc((size_t)cap * 2 * sizeof *merges);
    lines = malloc((size_t)cap * sizeof *lines);
    char *buf = malloc(mlen + 1);
    if (!merges || !lines || !buf) { free(buf); ng_set_error("out of memory reading '%s'", merges_path); goto done; }
    int line = 0;
    for (size_t pos = 0; pos < mlen;) {
        line++;
        const char *ls = mtext + pos, *nl = memchr(ls, '\n', mlen - pos);
        size_t ll = nl ? (size_t)(nl - ls) : mlen - pos;
        pos += ll + (nl != NULL);
        if (ll && ls[ll - 1] == '\r') ll--;
        if (line == 1 && ll >= 8 && !memcmp(ls, "#version", 8)) continue;
        if (ll == 0) {
            if (pos >= mlen) break;   /* the final newline */
            ng_set_error("'%s': line %d is empty (a merge is two tokens separated by a space)", merges_path, line);
            free(buf);
            goto done;
        }
        const char *sp = memchr(ls, ' ', ll);
        if (!sp || sp == ls || sp == ls + ll - 1 || memchr(sp + 1, ' ', ll - (size_t)(sp + 1 - ls))) {
            ng_set_error("'%s': line %d ('%s') is not two tokens separated by one space", merges_path, line, snip(ls, ll, sn, sizeof sn));
            free(buf);
            goto done;
        }
        if (nm == MAX_VOCAB) { ng_set_error("'%s': more than %d merges", merges_path, MAX_VOCAB); free(buf); goto done; }
        if (nm == cap) {
            cap *= 2;
            int32_t *m2 = realloc(merges, (size_t)cap * 2 * sizeof *m2);
            if (m2) merges = m2;
            int *l2 = realloc(lines, (size_t)cap * sizeof *l2);
            if (l2) lines = l2;
            if (!m2 || !l2) { ng_set_error("out of memory reading '%s'", merges_path); free(buf); goto done; }
        }
        const char *part[2] = {ls, sp + 1};
        const size_t plen[2] = {(size_t)(sp - ls), ll - (size_t)(sp + 1 - ls)};
        for (int q = 0; q < 2; q++) {
            uint32_t bad = 0;
            long bl = gpt2_unmap(part[q], plen[q], buf, &bad);
            int32_t id = bl > 0 ? ng__bpe_lookup(vocab, buf, (size_t)bl) : -1;
            if (id < 0) {
                if (bl < 0)
                    ng_set_error("'%s': line %d: '%s': character U+%04X stands for no byte (GPT-2's bytes_to_unicode)", merges_path, line,
                                 snip(part[q], plen[q], sn, sizeof sn), (unsigned)bad);
                else
                    ng_set_error("'%s': line %d: '%s' is not in the vocabulary ('%s')", merges_path, line, snip(part[q], plen[q], sn, sizeof sn), vocab_path);
                free(buf);
                goto done;
            }
            merges[2 * nm + q] = id;
        }
        lines[nm++] = line;
    }
    free(buf);
    res = ng__bpe_create(merges_path, toks, lens, n, merges, nm, lines);
done:
    cJSON_Delete(root);
    ng__bpe_free(vocab);
    free(vtext); free(mtext); free(bytes); free(toks); free(lens); free(merges); free(lines); free(seen); free(kname);
    return res;
}

/* ================================================================ tokenizer JSON */

/* token id written as GPT-2's files write it (bytes_to_unicode, UTF-8) into *buf (grown) */
static const char *b2u_text(const ng__bpe *b, int id, char **buf, size_t *cap) {
    size_t n;
    const unsigned char *s = (const unsigned char *)ng__bpe_bytes(b, id, &n);
    if (2 * n + 1 > *cap) {
        size_t nc = 2 * (2 * n + 1);
        char *nb = realloc(*buf, nc);
        if (!nb) return NULL;
        *buf = nb; *cap = nc;
    }
    size_t k = 0;
    for (size_t j = 0; j < n; j++) k += (size_t)ng_utf8_encode(ng__bpe_byte_char(s[j]), *buf + k);
    (*buf)[k] = 0;
    return *buf;
}

int ng__bpe_save_gpt2(const ng__bpe *b, const char *vocab_path, const char *merges_path) {
    cJSON *v = cJSON_CreateObject();
    char *buf = NULL, *json = NULL, *buf2 = NULL;
    size_t cap = 0, cap2 = 0;
    int rc = NG_ERR;
    if (!v) return ng_set_error("out of memory writing '%s'", vocab_path);
    for (int i = 0; i < b->n; i++) {
        const char *t = b2u_text(b, i, &buf, &cap);
        if (!t || !cJSON_AddNumberToObject(v, t, i)) { ng_set_error("out of memory writing '%s'", vocab_path); goto done; }
    }
    if (!(json = cJSON_PrintUnformatted(v))) { ng_set_error("out of memory writing '%s'", vocab_path); goto done; }
    ng_atomic_file f;
    if (ng_atomic_open(&f, vocab_path)) goto done;
    if (ng_atomic_commit(&f, fputs(json, f.fp) >= 0)) goto done;
    if (ng_atomic_open(&f, merges_path)) goto done;
    int ok = fputs("#version: 0.2\n", f.fp) >= 0;
    for (int r = 0; ok && r < b->n_merges; r++) {
        const char *x = b2u_text(b, b->ma[r], &buf, &cap), *y = b2u_text(b, b->mb[r], &buf2, &cap2);
        ok = x && y && fprintf(f.fp, "%s %s\n", x, y) > 0;
    }
    if (ng_atomic_commit(&f, ok)) goto done;
    rc = ok ? NG_OK : ng_set_error("out of memory writing '%s'", merges_path);
done:
    free(json); free(buf); free(buf2);
    cJSON_Delete(v);
    return rc;
}

int ng__bpe_to_json(const ng__bpe *b, cJSON *root, cJSON *vocab) {
    char *buf = NULL;
    size_t cap = 0;
    for (int i = 0; i < b->n; i++) {
        size_t n;
        const unsigned char *s = (const unsigned char *)ng__bpe_bytes(b, i, &n);
        if (2 * n + 1 > cap) {
            cap = 2 * (2 * n + 1);
            char *nb = realloc(buf, cap);
            if (!nb) { free(buf); return ng_set_error("out of memory writing the tokenizer JSON"); }
            buf = nb;
        }
        size_t k = 0;
        for (size_t j = 0; j < n; j++) k += (size_t)ng_utf8_encode(ng__bpe_byte_char(s[j]), buf + k);
        buf[k] = 0;
        cJSON *str = cJSON_CreateString(buf);
        if (!str) { free(buf); return ng_set_error("out of memory writing the tokenizer JSON"); }
        cJSON_AddItemToArray(vocab, str);
    }
    free(buf);
    cJSON *m = cJSON_AddArrayToObject(root, "merges");
    if (!m) return ng_set_error("out of memory writing the tokenizer JSON");
    for (int r = 0; r < b->n_merges; r++) {
        const int pair[2] = {b->ma[r], b->mb[r]};
        cJSON *p = cJSON_CreateIntArray(pair, 2);
        if (!p) return ng_set_error("out of memory writing the tokenizer JSON");
        cJSON_AddItemToArray(m, p);
    }
    return NG_OK;
}

ng__bpe *ng__bpe_from_json(const cJSON *root) {
    const cJSON *vocab = cJSON_GetObjectItemCaseSensitive(root, "vocab"), *merges = cJSON_GetObjectItemCaseSensitive(root, "merges");
    if (!cJSON_IsArray(vocab)) { ng_set_error("tokenizer JSON: missing array field \"vocab\""); return NULL; }
    if (!cJSON_IsArray(merges)) { ng_set_error("tokenizer JSON: a bpe tokenizer needs the array field \"merges\""); return NULL; }
    int n = 0, nm = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, vocab) if (++n > MAX_VOCAB) { ng_set_error("tokenizer JSON: vocab has more than %d entries", MAX_VOCAB); return NULL; }
    cJSON_ArrayForEach(it, merges) if (++nm > MAX_VOCAB) { ng_set_error("tokenizer JSON: more than %d merges", MAX_VOCAB); return NULL; }
    size_t total = 0;
    cJSON_ArrayForEach(it, vocab) total += cJSON_IsString(it) && it->valuestring ? strlen(it->valuestring) : 0;
    const char **toks = malloc(((size_t)n + 1) * sizeof *toks);
    size_t *lens = malloc(((size_t)n + 1) * sizeof *lens);
    int32_t *pairs = malloc(((size_t)nm * 2 + 1) * sizeof *pairs);
    char *bytes = malloc(total + 1);
    ng__bpe *res = NULL;
    char sn[64];
    if (!toks || !lens || !pairs || !bytes) { ng_set_error("out of memory reading the tokenizer JSON"); goto done; }
    size_t used = 0;
    int i = 0;
    cJSON_ArrayForEach(it, vocab) {
        if (!cJSON_IsString(it) || !it->valuestring) { ng_set_error("tokenizer JSON: vocab[%d] is not a string", i); goto done; }
        const char *s = it->valuestring;
        uint32_t bad = 0;
        long bl = gpt2_unmap(s, strlen(s), bytes + used, &bad);
        if (bl < 0) {
            ng_set_error("tokenizer JSON: vocab[%d] ('%s'): character U+%04X stands for no byte (GPT-2's bytes_to_unicode)", i,
                         snip(s, strlen(s), sn, sizeof sn), (unsigned)bad);
            goto done;
        }
        toks[i] = bytes + used;
        lens[i] = (size_t)bl;
        used += (size_t)bl;
        i++;
    }
    int r = 0;
    cJSON_ArrayForEach(it, merges) {
        const cJSON *a = cJSON_GetArrayItem(it, 0), *b = cJSON_GetArrayItem(it, 1);
        if (!cJSON_IsArray(it) || cJSON_GetArraySize(it) != 2 || !cJSON_IsNumber(a) || !cJSON_IsNumber(b) ||
            !is_int(a->valuedouble) || !is_int(b->valuedouble)) {
            ng_set_error("tokenizer JSON: merges[%d] is not a pair of token ids [a, b]", r);
            goto done;
        }
        /* out of range: named by ng__bpe_create (a value beyond int32 becomes -1) */
        pairs[2 * r] = a->valuedouble >= 0 && a->valuedouble < MAX_VOCAB ? (int32_t)a->valuedouble : -1;
        pairs[2 * r + 1] = b->valuedouble >= 0 && b->valuedouble < MAX_VOCAB ? (int32_t)b->valuedouble : -1;
        r++;
    }
    res = ng__bpe_create("tokenizer JSON", toks, lens, n, pairs, nm, NULL);
done:
    free(toks); free(lens); free(pairs); free(bytes);
    return res;
}

/* test_tokenizer.c - UTF-8 edge cases, char and word tokenizers, the decoder, JSON. */
#include "nanogen.h"
#include "core/internal.h"
#include "test.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


/* ---------------------------------------------------------------- helpers */

/* Read a test data file, looking in tests/data/ from the repository root or from tests/. */
static char *read_data(const char *name, size_t *len) {
    const char *dirs[] = {"tests/data/", "data/", "../tests/data/"};
    char path[512];
    for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        snprintf(path, sizeof path, "%s%s", dirs[i], name);
        char *s = ng_read_file(path, len);
        if (s) return s;
    }
    return NULL;
}

/* The tests' text corpus, as tests/lib.sh finds it: $NG_SHAKESPEARE, else the file that
 * scripts/corpus.sh names (Tiny Shakespeare when a copy is in data/ or ../shared/data/, else
 * nanogen's own sources as ASCII text, always there), run from the repository root or tests/.
 * *canonical: 1 when it is Tiny Shakespeare (a file of that name), whose figures (65 characters,
 * the word round-trip rate) some checks compare against. NULL with the error set when none. */
#define NO_SHAKESPEARE "Tiny Shakespeare is not here (data/tinyshakespeare.txt): figures measured on it are not checked"
static char *read_corpus(size_t *len, int *canonical) {
    char path[1024] = "";
    const char *env = getenv("NG_SHAKESPEARE");
    if (env && *env) snprintf(path, sizeof path, "%s", env);
    else {
        const char *roots[] = {".", ".."};
        for (size_t i = 0; i < sizeof roots / sizeof *roots && !*path; i++) {
            char cmd[64], line[1000] = "";
            snprintf(cmd, sizeof cmd, "%s/scripts/corpus.sh", roots[i]);
            FILE *probe = fopen(cmd, "r");
            if (!probe) continue;
            fclose(probe);
            snprintf(cmd, sizeof cmd, "sh %s/scripts/corpus.sh", roots[i]);
            FILE *p = popen(cmd, "r");
            if (!p) continue;
            if (fgets(line, sizeof line, p)) line[strcspn(line, "\n")] = 0;
            pclose(p);
            if (*line) snprintf(path, sizeof path, "%s/%s", roots[i], line);
        }
    }
    if (!*path) { ng_set_error("no text corpus: scripts/corpus.sh not found or printed nothing"); return NULL; }
    size_t n = strlen(path), k = strlen("tinyshakespeare.txt");
    *canonical = n >= k && strcmp(path + n - k, "tinyshakespeare.txt") == 0;
    printf("corpus: %s\n", path);
    return ng_read_file(path, len);
}

/* Seconds on a monotonic clock. */
static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Encode then decode a NUL-terminated text (NULL if encoding fails). */
static char *roundtrip(const ng_tokenizer *t, const char *text) {
    int32_t *ids;
    size_t n;
    if (ng_tokenizer_encode(t, text, strlen(text), 0, &ids, &n, NULL) != NG_OK) return NULL;
    char *s = ng_tokenizer_decode(t, ids, n);
    free(ids);
    return s;
}

/* The text "up to whitespace runs": "\r\n" -> "\n", spaces and tabs trimmed at line ends and
 * runs of them collapsed to one space. */
static char *normalize_ws(const char *s) {
    size_t n = strlen(s), k = 0;
    char *o = malloc(n + 1);
    int pending = 0, line_start = 1;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '\r' && s[i + 1] == '\n') continue;
        if (c == ' ' || c == '\t') { pending = 1; continue; }
        if (c == '\n') { o[k++] = '\n'; pending = 0; line_start = 1; continue; }
        if (pending && !line_start) o[k++] = ' ';
        pending = 0;
        line_start = 0;
        o[k++] = c;
    }
    o[k] = 0;
    return o;
}

/* Does encoding text with t give exactly the token texts in want[0..n)? */
static int tokens_are(const ng_tokenizer *t, const char *text, const char *const *want, size_t n) {
    int32_t *ids;
    size_t m;
    if (ng_tokenizer_encode(t, text, strlen(text), 0, &ids, &m, NULL) != NG_OK) return 0;
    int ok = m == n;
    for (size_t i = 0; ok && i < n; i++) ok = strcmp(ng_tokenizer_token(t, ids[i]), want[i]) == 0;
    if (!ok) {
        fprintf(stderr, "  tokens of \"%s\":", text);
        for (size_t i = 0; i < m; i++) fprintf(stderr, " [%s]", ng_tokenizer_token(t, ids[i]));
        fputc('\n', stderr);
    }
    free(ids);
    return ok;
}

/* Is token text s in t's vocabulary (as one id)? */
static int has_token(const ng_tokenizer *t, const char *s) {
    for (int i = 0; i < ng_tokenizer_vocab_size(t); i++)
        if (strcmp(ng_tokenizer_token(t, i), s) == 0) return 1;
    return 0;
}

/* ---------------------------------------------------------------- utf-8 */

/* Valid sequences of each length, at the range boundaries. */
static void test_utf8_decode_valid(void) {
    struct { const char *s; uint32_t cp; int n; } cases[] = {
        {"A", 0x41, 1}, {"\x7F", 0x7F, 1}, {"\xC2\x80", 0x80, 2}, {"\xC3\xA7", 0xE7, 2},
        {"\xDF\xBF", 0x7FF, 2}, {"\xE0\xA0\x80", 0x800, 3}, {"\xE2\x82\xAC", 0x20AC, 3},
        {"\xED\x9F\xBF", 0xD7FF, 3}, {"\xEE\x80\x80", 0xE000, 3}, {"\xEF\xBF\xBD", 0xFFFD, 3},
        {"\xEF\xBF\xBF", 0xFFFF, 3}, {"\xF0\x90\x80\x80", 0x10000, 4},
        {"\xF0\x9F\x98\x80", 0x1F600, 4}, {"\xF4\x8F\xBF\xBF", 0x10FFFF, 4},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        uint32_t cp = 0xDEAD;
        int n = ng_utf8_decode((const unsigned char *)cases[i].s, strlen(cases[i].s), &cp);
        CHECK(n == cases[i].n && cp == cases[i].cp, "case %zu: n=%d cp=U+%04X", i, n, (unsigned)cp);
    }
    uint32_t cp;
    CHECK(ng_utf8_decode((const unsigned char *)"", 1, &cp) == 1 && cp == 0, "NUL is one byte");
    CHECK(ng_utf8_decode((const unsigned char *)"ab", 2, &cp) == 1 && cp == 'a', "reads only one");
}

/* Every kind of invalid sequence is rejected. */
static void test_utf8_decode_invalid(void) {
    struct { const char *what; const char *s; size_t n; } cases[] = {
        {"empty", "", 0},
        {"lone continuation 0x80", "\x80", 1},
        {"lone continuation 0xBF", "\xBF", 1},
        {"overlong lead 0xC0", "\xC0\x80", 2},
        {"overlong lead 0xC1", "\xC1\xBF", 2},
        {"overlong 2-byte '/'", "\xC0\xAF", 2},
        {"overlong 3-byte", "\xE0\x80\xAF", 3},
        {"overlong 3-byte U+07FF", "\xE0\x9F\xBF", 3},
        {"overlong 4-byte", "\xF0\x80\x80\xAF", 4},
        {"overlong 4-byte U+FFFF", "\xF0\x8F\xBF\xBF", 4},
        {"surrogate D800", "\xED\xA0\x80", 3},
        {"surrogate DBFF", "\xED\xAF\xBF", 3},
        {"surrogate DC00", "\xED\xB0\x80", 3},
        {"surrogate DFFF", "\xED\xBF\xBF", 3},
        {"above 10FFFF", "\xF4\x90\x80\x80", 4},
        {"lead F5", "\xF5\x80\x80\x80", 4},
        {"lead F8", "\xF8\x88\x80\x80\x80", 5},
        {"lead FE", "\xFE", 1},
        {"lead FF", "\xFF", 1},
        {"truncated 2", "\xC3", 1},
        {"truncated 3/1", "\xE2", 1},
        {"truncated 3/2", "\xE2\x82", 2},
        {"truncated 4/3", "\xF0\x9F\x98", 3},
        {"truncated by len", "\xC3\xA7", 1},
        {"bad continuation 2", "\xC3\x28", 2},
        {"bad continuation 3a", "\xE2\x28\xA1", 3},
        {"bad continuation 3b", "\xE2\x82\x28", 3},
        {"bad continuation 4", "\xF0\x9F\x98\x28", 4},
        {"continuation is a lead", "\xC3\xC3\xA7", 3},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        uint32_t cp = 0xBEEF;
        int n = ng_utf8_decode((const unsigned char *)cases[i].s, cases[i].n, &cp);
        CHECK(n == 0, "%s: got length %d", cases[i].what, n);
        CHECK(ng_utf8_validate(cases[i].s, cases[i].n) == (cases[i].n ? 0 : -1), "%s: validate", cases[i].what);
    }
}

/* Exhaustive over 1-3 byte sequences: accepted ones are exactly the encodings of scalar values. */
static void test_utf8_exhaustive(void) {
    long counts[5] = {0};
    int bad = 0;
    unsigned char b[4];
    char enc[4];
    for (int b0 = 0; b0 < 256; b0++)
        for (int b1 = 0; b1 < 256; b1++)
            for (int b2 = 0; b2 < 256; b2++) {
                b[0] = (unsigned char)b0; b[1] = (unsigned char)b1; b[2] = (unsigned char)b2;
                uint32_t cp;
                int n = ng_utf8_decode(b, 3, &cp);
                if (n == 0) continue;
                if (n == 1 && (b1 || b2)) continue;     /* count each 1-byte sequence once */
                if (n == 2 && b2) continue;
                counts[n]++;
                int m = ng_utf8_encode(cp, enc);
                if (m != n || memcmp(enc, b, (size_t)n) != 0 || (cp >= 0xD800 && cp <= 0xDFFF)) bad++;
            }
    CHECK(counts[1] == 128, "%ld 1-byte", counts[1]);
    CHECK(counts[2] == 0x800 - 0x80, "%ld 2-byte", counts[2]);
    CHECK(counts[3] == 0x10000 - 0x800 - 0x800, "%ld 3-byte", counts[3]);
    CHECK(bad == 0, "%d sequences do not re-encode to themselves", bad);
    /* 4-byte: all leads and two middle bytes, last byte at its edges and outside them */
    long four = 0, four_bad_tail = 0;
    const int tails[] = {0x80, 0xBF, 0x00, 0x7F, 0xC0, 0xFF};
    for (int b0 = 0xF0; b0 < 0x100; b0++)
        for (int b1 = 0; b1 < 256; b1++)
            for (int b2 = 0; b2 < 256; b2++)
                for (int ti = 0; ti < 6; ti++) {
                    unsigned char q[4] = {(unsigned char)b0, (unsigned char)b1, (unsigned char)b2, (unsigned char)tails[ti]};
                    uint32_t cp;
                    int n = ng_utf8_decode(q, 4, &cp);
                    if (n == 4) { four++; if (ti >= 2) four_bad_tail++; }
                    else if (n != 0) four_bad_tail++;
                }
    CHECK(four == 2 * (0x100000 / 64), "%ld 4-byte accepted", four);
    CHECK(four_bad_tail == 0, "%ld bad tails accepted", four_bad_tail);
}

/* Encoding: lengths at the boundaries, refusals, round trip through decode. */
static void test_utf8_encode(void) {
    char b[4];
    CHECK(ng_utf8_encode(0x7F, b) == 1, "U+007F");
    CHECK(ng_utf8_encode(0x80, b) == 2, "U+0080");
    CHECK(ng_utf8_encode(0x7FF, b) == 2, "U+07FF");
    CHECK(ng_utf8_encode(0x800, b) == 3, "U+0800");
    CHECK(ng_utf8_encode(0xFFFF, b) == 3, "U+FFFF");
    CHECK(ng_utf8_encode(0x10000, b) == 4, "U+10000");
    CHECK(ng_utf8_encode(0x10FFFF, b) == 4 && memcmp(b, "\xF4\x8F\xBF\xBF", 4) == 0, "U+10FFFF");
    CHECK(ng_utf8_encode(0xE7, b) == 2 && memcmp(b, "\xC3\xA7", 2) == 0, "ç");
    CHECK(ng_utf8_encode(0xD800, b) == 0, "surrogate refused");
    CHECK(ng_utf8_encode(0xDFFF, b) == 0, "surrogate refused");
    CHECK(ng_utf8_encode(0x110000, b) == 0, "beyond U+10FFFF refused");
    CHECK(ng_utf8_encode(0xFFFFFFFF, b) == 0, "huge refused");
    int bad = 0;
    for (uint32_t cp = 0; cp < 0x110000; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        int n = ng_utf8_encode(cp, b);
        uint32_t back;
        if (n < 1 || ng_utf8_decode((const unsigned char *)b, (size_t)n, &back) != n || back != cp) bad++;
    }
    CHECK(bad == 0, "%d code points fail encode/decode", bad);
}

/* Validation reports the offset of the first bad sequence. */
static void test_utf8_validate(void) {
    CHECK(ng_utf8_validate("", 0) == -1, "empty is valid");
    const char *ok = "coração, d'água, 😀 €";
    CHECK(ng_utf8_validate(ok, strlen(ok)) == -1, "valid text");
    CHECK(ng_utf8_validate("abc\xC3", 4) == 3, "truncated at 3");
    CHECK(ng_utf8_validate("h\xC3\xA9llo\xED\xA0\x80!", 10) == 6, "surrogate at 6");
    CHECK(ng_utf8_validate("\xC3\xA7\xC3\xA3o\x80", 6) == 5, "stray continuation at 5");
    CHECK(ng_utf8_validate("ab\xC0\xAF", 4) == 2, "overlong at 2");
    CHECK(ng_utf8_validate("ab\xF4\x90\x80\x80", 6) == 2, "beyond at 2");
    CHECK(ng_utf8_validate("ab\0cd", 5) == -1, "NUL is valid UTF-8");
}

/* ---------------------------------------------------------------- char tokenizer */

/* Small corpus: sorted vocabulary, encode/decode, tokens, kind. */
static void test_char_basic(void) {
    const char *corpus = "hello world\n";
    ng_tokenizer *t = ng_tokenizer_build(NG_TOK_CHAR, corpus, strlen(corpus), 0);
    CHECK(t != NULL, "%s", ng_last_error());
    if (!t) return;
    CHECK(ng_tokenizer_kind(t) == NG_TOK_CHAR, "kind");
    CHECK(ng_tokenizer_vocab_size(t) == 9, "vocab %d", ng_tokenizer_vocab_size(t)); /* \n sp d e h l o r w */
    const char *want[] = {"\n", " ", "d", "e", "h", "l", "o", "r", "w"};
    for (int i = 0; i < 9; i++) CHECK(strcmp(ng_tokenizer_token(t, i), want[i]) == 0, "token %d", i);
    int32_t *ids;
    size_t n, unk = 99;
    CHECK(ng_tokenizer_encode(t, "hole", 4, 0, &ids, &n, &unk) == NG_OK, "%s", ng_last_error());
    CHECK(n == 4 && ids[0] == 4 && ids[1] == 6 && ids[2] == 5 && ids[3] == 3 && unk == 0, "ids of hole");
    free(ids);
    CHECK(ng_tokenizer_encode(t, "", 0, 0, &ids, &n, NULL) == NG_OK && n == 0, "empty text encodes");
    free(ids);
    char *s = roundtrip(t, "world hello\n");
    CHECK(s && strcmp(s, "world hello\n") == 0, "round trip");
    free(s);
    CHECK(strcmp(ng_tokenizer_token(t, 9), "\xEF\xBF\xBD") == 0, "out of range token is U+FFFD");
    CHECK(strcmp(ng_tokenizer_token(t, -1), "\xEF\xBF\xBD") == 0, "negative token is U+FFFD");
    ng_tokenizer_free(t);
}

/* Corpus errors, unknown characters, invalid UTF-8 in text to encode. */
static void test_char_errors(void) {
    ng_tokenizer *t = ng_tokenizer_build(NG_TOK_CHAR, "", 0, 0);
    CHECK(t == NULL && strstr(ng_last_error(), "empty"), "empty corpus: %s", ng_last_error());
    t = ng_tokenizer_build(NG_TOK_CHAR, "abc\xC3(d", 6, 0);
    CHECK(t == NULL && strstr(ng_last_error(), "invalid UTF-8 at byte offset 3 (byte 0xC3)"),
          "bad corpus: %s", ng_last_error());
    t = ng_tokenizer_build(NG_TOK_CHAR, "ação\xED\xA0\x80", 9, 0);
    CHECK(t == NULL && strstr(ng_last_error(), "byte offset 6 (byte 0xED)"), "surrogate corpus: %s", ng_last_error());
    t = ng_tokenizer_build(NG_TOK_CHAR, "ab\0c", 4, 0);
    CHECK(t == NULL && strstr(ng_last_error(), "NUL byte at byte offset 2"), "NUL corpus: %s", ng_last_error());
    t = ng_tokenizer_build((ng_tok_kind)7, "abc", 3, 0);
    CHECK(t == NULL && strstr(ng_last_error(), "kind"), "bad kind: %s", ng_last_error());

    const char *corpus = "abc ção";
    t = ng_tokenizer_build(NG_TOK_CHAR, corpus, strlen(corpus), 0);
    CHECK(t != NULL, "%s", ng_last_error());
    if (!t) return;
    int32_t *ids = (int32_t *)1;
    size_t n = 5, unk = 0;
    CHECK(ng_tokenizer_encode(t, "cab X", 5, 0, &ids, &n, NULL) == NG_ERR, "X unknown");
    CHECK(strstr(ng_last_error(), "character 'X' (U+0058) at byte offset 4 is not in the model's vocabulary") != NULL,
          "message: %s", ng_last_error());
    CHECK(ids == NULL && n == 0, "outputs cleared on error");
    CHECK(ng_tokenizer_encode(t, "ça é", strlen("ça é"), 0, &ids, &n, NULL) == NG_ERR, "é unknown");
    CHECK(strstr(ng_last_error(), "'é' (U+00E9) at byte offset 4") != NULL, "message: %s", ng_last_error());
    CHECK(ng_tokenizer_encode(t, "a😀", strlen("a😀"), 0, &ids, &n, NULL) == NG_ERR, "emoji unknown");
    CHECK(strstr(ng_last_error(), "'😀' (U+1F600) at byte offset 1") != NULL, "message: %s", ng_last_error());
    CHECK(ng_tokenizer_encode(t, "a\tb", 3, 0, &ids, &n, NULL) == NG_ERR, "tab unknown");
    CHECK(strstr(ng_last_error(), "character U+0009 at byte offset 1") != NULL, "message: %s", ng_last_error());
    /* allow_unknown: skipped and counted */
    CHECK(ng_tokenizer_encode(t, "aXbéc😀", strlen("aXbéc😀"), 1, &ids, &n, &unk) == NG_OK, "%s", ng_last_error());
    CHECK(n == 3 && unk == 3, "n=%zu unk=%zu", n, unk);
    char *s = ng_tokenizer_decode(t, ids, n);
    CHECK(s && strcmp(s, "abc") == 0, "kept the known ones: %s", s ? s : "(null)");
    free(s);
    free(ids);
    /* invalid UTF-8 in the text to encode is always an error */
    CHECK(ng_tokenizer_encode(t, "ab\xFF", 3, 1, &ids, &n, &unk) == NG_ERR, "bad text");
    CHECK(strstr(ng_last_error(), "invalid UTF-8 at byte offset 2 (byte 0xFF)") != NULL, "message: %s", ng_last_error());
    ng_tokenizer_free(t);
}

/* Code points beyond the BMP go through the sorted list (binary search). */
static void test_char_astral(void) {
    const char *corpus = "z😀a𝄞\xF4\x8F\xBF\xBF€";
    ng_tokenizer *t = ng_tokenizer_build(NG_TOK_CHAR, corpus, strlen(corpus), 0);
    CHECK(t && ng_tokenizer_vocab_size(t) == 6, "vocab");
    if (!t) return;
    CHECK(strcmp(ng_tokenizer_token(t, 0), "a") == 0 && strcmp(ng_tokenizer_token(t, 2), "€") == 0 &&
          strcmp(ng_tokenizer_token(t, 3), "𝄞") == 0 && strcmp(ng_tokenizer_token(t, 4), "😀") == 0,
          "sorted by code point");
    char *s = roundtrip(t, "😀𝄞a\xF4\x8F\xBF\xBFz€😀");
    CHECK(s && strcmp(s, "😀𝄞a\xF4\x8F\xBF\xBFz€😀") == 0, "astral round trip");
    free(s);
    int32_t *ids;
    size_t n;
    CHECK(ng_tokenizer_encode(t, "😁", 4, 0, &ids, &n, NULL) == NG_ERR && strstr(ng_last_error(), "U+1F601"),
          "absent astral: %s", ng_last_error());
    ng_tokenizer_free(t);
}

/* The corpus (Tiny Shakespeare: 65 characters) by characters: one token per distinct code point,
 * exact round trip. */
static void test_char_corpus(void) {
    size_t len;
    int canonical;
    char *text = read_corpus(&len, &canonical);
    CHECK(text != NULL, "%s", ng_last_error());
    if (!text) return;
    /* the distinct code points, counted here (UTF-8 lead byte + continuation bytes) */
    size_t cps = 0, distinct = 0, cap = 256;
    uint32_t *seen = malloc(cap * sizeof *seen);
    for (size_t i = 0; i < len && seen;) {
        uint32_t c = (unsigned char)text[i++];
        int more = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
        if (more) c &= 0x3F >> more;
        for (; more && i < len; more--) c = c << 6 | ((unsigned char)text[i++] & 0x3F);
        cps++;
        size_t j = 0;
        while (j < distinct && seen[j] != c) j++;
        if (j < distinct) continue;
        if (distinct == cap) {
            uint32_t *bigger = realloc(seen, 2 * cap * sizeof *seen);
            if (!bigger) { free(seen); seen = NULL; break; }
            seen = bigger; cap *= 2;
        }
        seen[distinct++] = c;
    }
    free(seen);
    double t0 = now_s();
    ng_tokenizer *t = ng_tokenizer_build(NG_TOK_CHAR, text, len, 0);
    double t1 = now_s();
    CHECK(t != NULL, "%s", ng_last_error());
    if (!t) { free(text); return; }
    CHECK(ng_tokenizer_vocab_size(t) == (int)distinct, "vocab %d, %zu distinct code points", ng_tokenizer_vocab_size(t), distinct);
    if (canonical) CHECK(ng_tokenizer_vocab_size(t) == 65, "Tiny Shakespeare: vocab %d, not 65", ng_tokenizer_vocab_size(t));
    else SKIP(1, NO_SHAKESPEARE);
    int32_t *ids;
    size_t n;
    double t2 = now_s();
    int rc = ng_tokenizer_encode(t, text, len, 0, &ids, &n, NULL);
    double t3 = now_s();
    CHECK(rc == NG_OK && n == cps, "encode: %s (n=%zu, %zu code points)", ng_last_error(), n, cps);
    if (rc == NG_OK) {
        char *back = ng_tokenizer_decode(t, ids, n);
        CHECK(back && strlen(back) == len && memcmp(back, text, len) == 0, "exact round trip");
        free(back);
        free(ids);
    }
    printf("corpus (%zu bytes, %d characters): char build %.1f ms, encode %.1f ms\n", len,
           ng_tokenizer_vocab_size(t), (t1 - t0) * 1e3, (t3 - t2) * 1e3);
    ng_tokenizer_free(t);
    free(text);
}

/* Portuguese: accented letters are single tokens and the corpus round-trips exactly. */
static void test_char_portuguese(void) {
    size_t len;
    char *text = read_data("portugues.txt", &len);
    CHECK(text != NULL, "tests/data/portugues.txt: %s", ng_last_error());
    if (!text) return;
    CHECK(len > 6000, "corpus is %zu bytes", len);
    ng_tokenizer *t = ng_tokenizer_build(NG_TOK_CHAR, text, len, 0);
    CHECK(t != NULL, "%s", ng_last_error());
    if (!t) { free(text); return; }
    const char *acc[] = {"ç", "ã", "õ", "á", "é", "í", "ó", "ú", "â", "ê", "ô", "à", "—"};
    for (size_t i = 0; i < sizeof acc / sizeof *acc; i++) CHECK(has_token(t, acc[i]), "%s in vocab", acc[i]);
    int32_t *ids;
    size_t n;
    CHECK(ng_tokenizer_encode(t, "ção", strlen("ção"), 0, &ids, &n, NULL) == NG_OK && n == 3, "ção is 3 tokens");
    if (n == 3) CHECK(strcmp(ng_tokenizer_token(t, ids[0]), "ç") == 0 && strcmp(ng_tokenizer_token(t, ids[1]), "ã") == 0,
                      "ç and ã");
    free(ids);
    CHECK(ng_tokenizer_encode(t, text, len, 0, &ids, &n, NULL) == NG_OK, "%s", ng_last_error());
    size_t cps = 0;
    for (size_t i = 0; i < len; i++) cps += ((unsigned char)text[i] & 0xC0) != 0x80;
    CHECK(n == cps && n < len, "one token per code point: %zu tokens, %zu code points, %zu bytes", n, cps, len);
    char *back = ng_tokenizer_decode(t, ids, n);
    CHECK(back && strcmp(back, text) == 0, "exact round trip");
    free(back);
    free(ids);
    ng_tokenizer_free(t);
    free(text);
}

/* ---------------------------------------------------------------- word tokenizer */

/* Splitting rules: words, apostrophes, hyphens, numbers, punctuation, newlines, spaces. */
static void test_word_split(void) {
    const char *corpus =
        "Don't stop, coração! d'água\r\nNext line\rthird\n"
        "disse-lhe — «Olá», ¿Qué? ¡Sí! 3.14 1.000,50 10:30 1931–2009 (ok) [x] {y}\n"
        "Wait... what… \"quoted\" 'tis o' soldiers' arms ’em -- a - b 1º 2ª x\u00A0y\tz  w\n"
        "50% × 2 😀 e/ou 1/2";
    ng_tokenizer *t = ng_tokenizer_build(NG_TOK_WORD, corpus, strlen(corpus), 0);
    CHECK(t != NULL, "%s", ng_last_error());
    if (!t) return;
    CHECK(ng_tokenizer_kind(t) == NG_TOK_WORD && strcmp(ng_tokenizer_token(t, 0), "<unk>") == 0, "<unk> is id 0");
    const char *a[] = {"Don't", "stop", ",", "coração", "!", "d'água", "\n", "Next", "line", "\n", "third", "\n"};
    CHECK(tokens_are(t, "Don't stop, coração! d'água\r\nNext line\rthird\n", a, 12), "line 1");
    const char *b[] = {"disse-lhe", "—", "«", "Olá", "»", ",", "¿", "Qué", "?", "¡", "Sí", "!",
                       "3.14", "1.000,50", "10:30", "1931–2009", "(", "ok", ")", "[", "x", "]", "{", "y", "}"};
    CHECK(tokens_are(t, "disse-lhe — «Olá», ¿Qué? ¡Sí! 3.14 1.000,50 10:30 1931–2009 (ok) [x] {y}",
                     b, sizeof b / sizeof *b), "line 2");
    const char *c[] = {"Wait", ".", ".", ".", "what", "…", "\"", "quoted", "\"", "'tis", "o'", "soldiers'",
                       "arms", "’em", "--", "a", "-", "b", "1º", "2ª", "x", "y", "z", "w"};
    CHECK(tokens_are(t, "Wait... what… \"quoted\" 'tis o' soldiers' arms ’em -- a - b 1º 2ª x\u00A0y\tz  w",
                     c, sizeof c / sizeof *c), "line 3");
    const char *d[] = {"50", "%", "×", "2", "😀", "e", "/", "ou", "1/2"};
    CHECK(tokens_are(t, "50% × 2 😀 e/ou 1/2", d, sizeof d / sizeof *d), "line 4");
    const char *e[] = {"\n", "\n", "x"};
    CHECK(tokens_are(t, " \t\n\r\n   x  ", e, 3), "whitespace dropped, newlines kept");
    ng_tokenizer_free(t);
}

/* Vocabulary order (frequency, then first occurrence), the cap, and <unk>. */
static void test_word_vocab(void) {
    const char *corpus = "b a b c a b d . d\n";
    /* counts: b 3, a 2, d 2, c 1, . 1, \n 1 ; ties by first occurrence: a before d, c . \n */
    ng_tokenizer *t = ng_tokenizer_build(NG_TOK_WORD, corpus, strlen(corpus), 0);
    CHECK(t && ng_tokenizer_vocab_size(t) == 7, "vocab %d", t ? ng_tokenizer_vocab_size(t) : -1);
    if (t) {
        const char *want[] = {"<unk>", "b", "a", "d", "c", ".", "\n"};
        for (int i = 0; i < 7; i++) CHECK(strcmp(ng_tokenizer_token(t, i), want[i]) == 0, "id %d is '%s'", i, ng_tokenizer_token(t, i));
    }
    ng_tokenizer_free(t);
    t = ng_tokenizer_build(NG_TOK_WORD, corpus, strlen(corpus), 4);
    CHECK(t && ng_tokenizer_vocab_size(t) == 4, "capped vocab");
    if (t) {
        int32_t *ids;
        size_t n, unk = 0;
        CHECK(ng_tokenizer_encode(t, "c b z a d", 9, 0, &ids, &n, &unk) == NG_OK, "%s", ng_last_error());
        CHECK(n == 5 && ids[0] == 0 && ids[1] == 1 && ids[2] == 0 && ids[3] == 2 && ids[4] == 3 && unk == 2,
              "c and z map to <unk> (unk=%zu)", unk);
        char *s = ng_tokenizer_decode(t, ids, n);
        CHECK(s && strcmp(s, "<unk> b <unk> a d") == 0, "decoded: %s", s ? s : "(null)");
        free(s);
        free(ids);
        CHECK(ng_tokenizer_encode(t, "a\xC3", 2, 1, &ids, &n, &unk) == NG_ERR &&
              strstr(ng_last_error(), "invalid UTF-8 at byte offset 1 (byte 0xC3)"), "bad text: %s", ng_last_error());
    }
    ng_tokenizer_free(t);
    /* the same corpus gives the same vocabulary (deterministic) */
    ng_tokenizer *t1 = ng_tokenizer_build(NG_TOK_WORD, corpus, strlen(corpus), 5);
    ng_tokenizer *t2 = ng_tokenizer_build(NG_TOK_WORD, corpus, strlen(corpus), 5);
    char *j1 = ng_tokenizer_to_json(t1), *j2 = ng_tokenizer_to_json(t2);
    CHECK(j1 && j2 && strcmp(j1, j2) == 0, "deterministic");
    free(j1); free(j2);
    ng_tokenizer_free(t1); ng_tokenizer_free(t2);
    /* errors */
    t = ng_tokenizer_build(NG_TOK_WORD, " \t \n", 0, 0);
    CHECK(t == NULL && strstr(ng_last_error(), "empty"), "empty: %s", ng_last_error());
    t = ng_tokenizer_build(NG_TOK_WORD, " \t  ", 4, 0);
    CHECK(t == NULL && strstr(ng_last_error(), "no words"), "blank: %s", ng_last_error());
    t = ng_tokenizer_build(NG_TOK_WORD, "ab", 2, 1);
    CHECK(t == NULL && strstr(ng_last_error(), "out of range"), "cap 1: %s", ng_last_error());
    t = ng_tokenizer_build(NG_TOK_WORD, "ab", 2, (1 << 20) + 1);
    CHECK(t == NULL && strstr(ng_last_error(), "out of range"), "cap too big: %s", ng_last_error());
    t = ng_tokenizer_build(NG_TOK_WORD, "olá \xE9t\xE9", 8, 0);
    CHECK(t == NULL && strstr(ng_last_error(), "byte offset 5 (byte 0xE9)"), "latin-1: %s", ng_last_error());
    /* a large vocabulary: many distinct words, capped by frequency */
    size_t cap = 200000, k = 0;
    char *big = malloc(cap);
    for (int i = 0; i < 20000; i++) k += (size_t)snprintf(big + k, cap - k, "w%d%s", i % 5000, i % 10 == 9 ? "\n" : " ");
    t = ng_tokenizer_build(NG_TOK_WORD, big, k, 0);
    CHECK(t && ng_tokenizer_vocab_size(t) == 5002, "5000 words + newline + <unk>: %d", t ? ng_tokenizer_vocab_size(t) : -1);
    if (t) {
        char *s = roundtrip(t, big);
        CHECK(s && strcmp(s, big) == 0, "big round trip");
        free(s);
    }
    ng_tokenizer_free(t);
    t = ng_tokenizer_build(NG_TOK_WORD, big, k, 100);
    CHECK(t && ng_tokenizer_vocab_size(t) == 100, "capped at 100");
    if (t) CHECK(strcmp(ng_tokenizer_token(t, 1), "\n") == 0 && strcmp(ng_tokenizer_token(t, 2), "w0") == 0, "most frequent first");
    ng_tokenizer_free(t);
    free(big);
}

/* Spacing: sentences that must decode back to exactly themselves. */
static void test_word_spacing(void) {
    const char *cases[] = {
        "Hello, world. How are you?",
        "He said \"hello, world\" and left.",
        "\"Quoted at the start,\" she said.",
        "She whispered: \"Come here.\" Then \"go.\"",
        "A (parenthetical) remark [with brackets] and {braces}.",
        "¿Qué tal? ¡Muy bien!",
        "«Olá», disse ela. «Tudo bem?»",
        "Wait... what… really?!",
        "“Curly quotes”, he said, ‘and single ones’.",
        "It's 'tis o' the soldiers' arms, rock 'n' roll.",
        "— Bom dia, Joana — disse o avô.\n— Bom dia!",
        "Line one.\n\nLine three after a blank line.\n",
        "\n\nStarts with newlines",
        "Taxa de 50% em 1.000,50 euros, às 10:30.",
        "The belly answer'd--\nWhich ne'er came--it tauntingly replied.",
        "disse-lhe que a pôr-do-sol d'água era bonito; não é?",
        "An emoji 😀 and × sign.",
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ng_tokenizer *t = ng_tokenizer_build(NG_TOK_WORD, cases[i], strlen(cases[i]), 0);
        CHECK(t != NULL, "%s", ng_last_error());
        if (!t) continue;
        char *s = roundtrip(t, cases[i]);
        CHECK(s && strcmp(s, cases[i]) == 0, "\n  in:  %s\n  out: %s", cases[i], s ? s : "(null)");
        free(s);
        ng_tokenizer_free(t);
    }
    /* whitespace runs are not kept, but everything else is */
    const char *messy = "  Spaces   and\ttabs ,here .\r\n  indented line  \n";
    ng_tokenizer *t = ng_tokenizer_build(NG_TOK_WORD, messy, strlen(messy), 0);
    char *s = t ? roundtrip(t, messy) : NULL;
    CHECK(s && strcmp(s, "Spaces and tabs, here.\nindented line\n") == 0, "messy: [%s]", s ? s : "(null)");
    free(s);
    ng_tokenizer_free(t);
}

/* The Portuguese corpus round-trips up to whitespace runs, accents inside words. */
static void test_word_portuguese(void) {
    size_t len;
    char *text = read_data("portugues.txt", &len);
    CHECK(text != NULL, "tests/data/portugues.txt: %s", ng_last_error());
    if (!text) return;
    ng_tokenizer *t = ng_tokenizer_build(NG_TOK_WORD, text, len, 0);
    CHECK(t != NULL, "%s", ng_last_error());
    if (!t) { free(text); return; }
    const char *words[] = {"coração", "Conceição", "não", "avô", "lâmpada", "disse", "à", "é", "d'água",
                           "—", "\n", "chávena", "pôr"};
    for (size_t i = 0; i < sizeof words / sizeof *words; i++) CHECK(has_token(t, words[i]), "'%s' in vocab", words[i]);
    char *back = roundtrip(t, text);
    char *norm = normalize_ws(text);
    CHECK(back && strcmp(back, norm) == 0, "round trip up to whitespace");
    if (back && strcmp(back, norm) != 0) {
        size_t i = 0;
        while (back[i] && back[i] == norm[i]) i++;
        size_t from = i > 40 ? i - 40 : 0;
        fprintf(stderr, "  differs at %zu:\n  got:  %.80s\n  want: %.80s\n", i, back + from, norm + from);
    }
    free(back);
    free(norm);
    /* a small cap: rare words become <unk>, frequent ones survive */
    ng_tokenizer *small = ng_tokenizer_build(NG_TOK_WORD, text, len, 64);
    CHECK(small && ng_tokenizer_vocab_size(small) == 64, "cap 64");
    if (small) {
        int32_t *ids;
        size_t n, unk;
        CHECK(ng_tokenizer_encode(small, text, len, 0, &ids, &n, &unk) == NG_OK, "%s", ng_last_error());
        CHECK(unk > 0 && unk < n, "some unknown: %zu of %zu", unk, n);
        CHECK(has_token(small, "o") && has_token(small, ",") && has_token(small, "\n"), "frequent kept");
        free(ids);
    }
    ng_tokenizer_free(small);
    ng_tokenizer_free(t);
    free(text);
}

/* The corpus by words: encodes and decodes; on Tiny Shakespeare the vocabulary is full (8192)
 * and nearly every line without <unk> comes back identical up to whitespace runs. */
static void test_word_corpus(void) {
    size_t len;
    int canonical;
    char *text = read_corpus(&len, &canonical);
    CHECK(text != NULL, "%s", ng_last_error());
    if (!text) return;
    double t0 = now_s();
    ng_tokenizer *t = ng_tokenizer_build(NG_TOK_WORD, text, len, 0);
    double t1 = now_s();
    CHECK(t && ng_tokenizer_vocab_size(t) > 1 && ng_tokenizer_vocab_size(t) <= 8192, "vocab %d: %s",
          t ? ng_tokenizer_vocab_size(t) : -1, ng_last_error());
    if (!t) { free(text); return; }
    int32_t *ids = NULL;
    size_t n = 0, unk = 0;
    double t2 = now_s();
    CHECK(ng_tokenizer_encode(t, text, len, 0, &ids, &n, &unk) == NG_OK && n > 0, "%s", ng_last_error());
    double t3 = now_s();
    char *back = ng_tokenizer_decode(t, ids, n);
    CHECK(back != NULL, "decode: %s", ng_last_error());
    CHECK(ng_tokenizer_vocab_size(t) == 8192 || unk == 0, "a vocabulary under the cap (%d) leaves no word unknown (%zu)",
          ng_tokenizer_vocab_size(t), unk);
    /* line by line, skipping lines holding <unk>: how many come back identical */
    char *norm = normalize_ws(text);
    size_t lines = 0, same = 0, unk_lines = 0;
    char *p = back, *q = norm;
    while (p && *p && *q) {
        char *pe = strchr(p, '\n'), *qe = strchr(q, '\n');
        if (!pe || !qe) break;
        *pe = 0; *qe = 0;
        if (strstr(p, "<unk>")) unk_lines++;
        else { lines++; same += strcmp(p, q) == 0; }
        p = pe + 1; q = qe + 1;
    }
    printf("corpus words: vocab %d, %zu tokens, %zu unknown, build %.0f ms, encode %.0f ms; "
           "%zu of %zu lines without <unk> round-trip (%.2f%%)\n", ng_tokenizer_vocab_size(t), n, unk,
           (t1 - t0) * 1e3, (t3 - t2) * 1e3, same, lines, lines ? 100.0 * same / lines : 0.0);
    if (canonical) {
        CHECK(ng_tokenizer_vocab_size(t) == 8192, "Tiny Shakespeare: vocab %d, not 8192", ng_tokenizer_vocab_size(t));
        CHECK(lines > 20000 && same >= lines * 99 / 100, "Tiny Shakespeare: %zu of %zu lines", same, lines);
    } else {
        SKIP(2, NO_SHAKESPEARE);
    }
    free(norm);
    free(back);
    free(ids);
    ng_tokenizer_free(t);
    free(text);
}

/* ---------------------------------------------------------------- decoder */

/* Streaming pushes give the same text as a whole decode; small buffers cut cleanly. */
static void test_decoder(void) {
    const char *text = "«Olá», disse ela. \"Tudo bem?\" — Sim!\n\nAção: (1) coração…";
    ng_tokenizer *t = ng_tokenizer_build(NG_TOK_WORD, text, strlen(text), 0);
    CHECK(t != NULL, "%s", ng_last_error());
    if (!t) return;
    int32_t *ids;
    size_t n;
    CHECK(ng_tokenizer_encode(t, text, strlen(text), 0, &ids, &n, NULL) == NG_OK, "%s", ng_last_error());
    char *whole = ng_tokenizer_decode(t, ids, n);
    char acc[512] = "", buf[64];
    ng_decoder d;
    ng_decoder_init(&d, t);
    for (size_t i = 0; i < n; i++) {
        size_t k = ng_decoder_push(&d, ids[i], buf, sizeof buf);
        CHECK(k == strlen(buf), "returned length");
        strcat(acc, buf);
    }
    CHECK(whole && strcmp(acc, whole) == 0 && strcmp(whole, text) == 0, "stream == whole == text: [%s]", acc);
    /* a buffer too small: cut at a code point boundary, NUL-terminated */
    ng_decoder_init(&d, t);
    int id_cor = -1;
    for (int i = 0; i < ng_tokenizer_vocab_size(t); i++)
        if (strcmp(ng_tokenizer_token(t, i), "coração") == 0) id_cor = i;
    CHECK(id_cor > 0, "coração in vocab");
    size_t k = ng_decoder_push(&d, id_cor, buf, 6);   /* "coraç" is 6 bytes: only "cora" fits in 5 */
    CHECK(k == 4 && strcmp(buf, "cora") == 0, "cut: %zu [%s]", k, buf);
    CHECK(ng_decoder_push(&d, id_cor, buf, 0) == 0, "cap 0");
    /* out-of-range ids render as U+FFFD, never crash */
    int32_t bad[] = {ids[0], -5, 1 << 30, ng_tokenizer_vocab_size(t), ids[1]};
    char *s = ng_tokenizer_decode(t, bad, 5);
    CHECK(s && strstr(s, "\xEF\xBF\xBD \xEF\xBF\xBD \xEF\xBF\xBD") != NULL, "U+FFFD: %s", s ? s : "(null)");
    free(s);
    ng_decoder_init(&d, t);
    k = ng_decoder_push(&d, -1, buf, sizeof buf);
    CHECK(k == 3 && strcmp(buf, "\xEF\xBF\xBD") == 0, "push out of range");
    s = ng_tokenizer_decode(t, ids, 0);
    CHECK(s && s[0] == 0, "empty decode");
    free(s);
    free(whole);
    free(ids);
    ng_tokenizer_free(t);
    /* char models: out of range too */
    t = ng_tokenizer_build(NG_TOK_CHAR, "ab", 2, 0);
    int32_t cids[] = {0, 7, 1, -1};
    s = t ? ng_tokenizer_decode(t, cids, 4) : NULL;
    CHECK(s && strcmp(s, "a\xEF\xBF\xBD" "b\xEF\xBF\xBD") == 0, "char out of range");
    free(s);
    ng_tokenizer_free(t);
}

/* ---------------------------------------------------------------- JSON */

/* Tokenizers survive JSON: same kind, vocabulary and encodings. */
static void test_json_roundtrip(void) {
    const char *corpus = "Olá, \"mundo\"!\n\tç ã 😀 \\ / \x01 d'água";
    for (int kind = 0; kind < 2; kind++) {
        ng_tokenizer *t = ng_tokenizer_build((ng_tok_kind)kind, corpus, strlen(corpus), 0);
        CHECK(t != NULL, "%s", ng_last_error());
        if (!t) continue;
        char *js = ng_tokenizer_to_json(t);
        CHECK(js != NULL, "%s", ng_last_error());
        CHECK(js && strstr(js, kind ? "\"kind\":\"word\"" : "\"kind\":\"char\"") && strstr(js, "\"vocab\":["),
              "format: %s", js ? js : "(null)");
        ng_tokenizer *u = js ? ng_tokenizer_from_json(js) : NULL;
        CHECK(u != NULL, "from_json: %s", ng_last_error());
        if (u) {
            CHECK(ng_tokenizer_kind(u) == ng_tokenizer_kind(t) && ng_tokenizer_vocab_size(u) == ng_tokenizer_vocab_size(t), "same");
            int same = 1;
            for (int i = 0; i < ng_tokenizer_vocab_size(t); i++)
                same &= strcmp(ng_tokenizer_token(t, i), ng_tokenizer_token(u, i)) == 0;
            CHECK(same, "same tokens");
            char *s = roundtrip(u, corpus);
            char *r = roundtrip(t, corpus);
            CHECK(s && r && strcmp(s, r) == 0, "same round trip");
            free(s); free(r);
            char *js2 = ng_tokenizer_to_json(u);
            CHECK(js2 && strcmp(js, js2) == 0, "stable JSON");
            free(js2);
        }
        ng_tokenizer_free(u);
        free(js);
        ng_tokenizer_free(t);
    }
    /* a hand-written file, with escapes and extra fields */
    ng_tokenizer *t = ng_tokenizer_from_json("{ \"kind\" : \"char\", \"vocab\": [\"\\n\", \" \", \"a\", \"\\u00e7\", \"\\ud83d\\ude00\"], \"note\": 1 }");
    CHECK(t && ng_tokenizer_vocab_size(t) == 5 && strcmp(ng_tokenizer_token(t, 3), "ç") == 0 &&
          strcmp(ng_tokenizer_token(t, 4), "😀") == 0, "hand-written: %s", ng_last_error());
    ng_tokenizer_free(t);
}

/* Hostile or corrupt JSON: NULL and an error, never a crash. */
static void test_json_corrupt(void) {
    struct { const char *json; const char *err; } cases[] = {
        {"", "parse error"},
        {"{", "parse error"},
        {"{\"kind\":\"char\",\"vocab\":[\"a\"", "parse error"},
        {"nonsense", "parse error"},
        {"[]", "expected an object"},
        {"42", "expected an object"},
        {"\"char\"", "expected an object"},
        {"{}", "kind"},
        {"{\"vocab\":[\"a\"]}", "kind"},
        {"{\"kind\":5,\"vocab\":[\"a\"]}", "kind"},
        {"{\"kind\":null,\"vocab\":[\"a\"]}", "kind"},
        {"{\"kind\":\"unigram\",\"vocab\":[\"a\"]}", "unknown kind 'unigram'"},
        {"{\"kind\":\"bpe\",\"vocab\":[\"a\"]}", "needs the array field \"merges\""},
        {"{\"kind\":\"CHAR\",\"vocab\":[\"a\"]}", "unknown kind"},
        {"{\"kind\":\"char\"}", "vocab"},
        {"{\"kind\":\"char\",\"vocab\":\"abc\"}", "vocab"},
        {"{\"kind\":\"char\",\"vocab\":{\"a\":1}}", "vocab"},
        {"{\"kind\":\"char\",\"vocab\":[]}", "empty"},
        {"{\"kind\":\"char\",\"vocab\":[\"a\",1]}", "vocab[1] is not a string"},
        {"{\"kind\":\"char\",\"vocab\":[\"a\",null]}", "vocab[1] is not a string"},
        {"{\"kind\":\"char\",\"vocab\":[\"a\",[\"b\"]]}", "vocab[1] is not a string"},
        {"{\"kind\":\"char\",\"vocab\":[\"a\",\"bc\"]}", "not exactly one character"},
        {"{\"kind\":\"char\",\"vocab\":[\"\"]}", "vocab[0] is empty"},
        {"{\"kind\":\"char\",\"vocab\":[\"b\",\"a\"]}", "out of order"},
        {"{\"kind\":\"char\",\"vocab\":[\"a\",\"a\"]}", "duplicate"},
        {"{\"kind\":\"char\",\"vocab\":[\"a\",\"\xC3\"]}", "not valid UTF-8"},
        {"{\"kind\":\"char\",\"vocab\":[\"a\",\"\xED\xA0\x80\"]}", "not valid UTF-8"},
        {"{\"kind\":\"char\",\"vocab\":[\"a\",\"\\ud800\"]}", ""},
        {"{\"kind\":\"char\",\"vocab\":[\"a\",\"\\u0000\"]}", ""},
        {"{\"kind\":\"word\",\"vocab\":[\"the\"]}", "must be \"<unk>\""},
        {"{\"kind\":\"word\",\"vocab\":[\"<unk>\",\"a\",\"a\"]}", "duplicate"},
        {"{\"kind\":\"word\",\"vocab\":[\"<unk>\",\"<unk>\"]}", "not a single word"},
        {"{\"kind\":\"word\",\"vocab\":[\"<unk>\",\"a b\"]}", "not a single word"},
        {"{\"kind\":\"word\",\"vocab\":[\"<unk>\",\" \"]}", "not a single word"},
        {"{\"kind\":\"word\",\"vocab\":[\"<unk>\",\"a,\"]}", "not a single word"},
        {"{\"kind\":\"word\",\"vocab\":[\"<unk>\",\"\\r\"]}", "not a single word"},
        {"{\"kind\":\"word\",\"vocab\":[\"<unk>\",\"\"]}", "empty"},
        {"{\"kind\":\"word\",\"vocab\":[\"<unk>\",\"ok\",\"\xFF\"]}", "vocab[2] is not valid UTF-8"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ng_set_error("%s", "");
        ng_tokenizer *t = ng_tokenizer_from_json(cases[i].json);
        CHECK(t == NULL && ng_last_error()[0] && strstr(ng_last_error(), cases[i].err),
              "case %zu (%s): error '%s'", i, cases[i].json, ng_last_error());
        ng_tokenizer_free(t);
    }
    CHECK(ng_tokenizer_from_json(NULL) == NULL && ng_last_error()[0], "NULL input");
    /* deep nesting */
    size_t depth = 100000;
    char *deep = malloc(2 * depth + 1);
    memset(deep, '[', depth);
    memset(deep + depth, ']', depth);
    deep[2 * depth] = 0;
    CHECK(ng_tokenizer_from_json(deep) == NULL, "deep nesting");
    free(deep);
    /* too many entries: every code point below U+110000 except surrogates (> 1<<20) */
    size_t cap = 0x110000 * 8 + 64, k = 0;
    char *big = malloc(cap);
    k += (size_t)snprintf(big, cap, "{\"kind\":\"char\",\"vocab\":[");
    for (uint32_t cp = 1; cp < 0x110000; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF) continue;
        if (cp > 1) big[k++] = ',';
        k += (size_t)snprintf(big + k, cap - k, cp < 0x10000 ? "\"\\u%04x\"" : "\"x\"", (unsigned)cp);
    }
    snprintf(big + k, cap - k, "]}");
    CHECK(ng_tokenizer_from_json(big) == NULL && strstr(ng_last_error(), "more than"), "too large: %s", ng_last_error());
    free(big);
}

/* Random corruptions of valid JSON: either rejected or a usable tokenizer, never a crash. */
static void test_json_fuzz(void) {
    const char *corpus = "O avô disse: \"Olá!\" — e a neta riu-se.\n";
    ng_tokenizer *w = ng_tokenizer_build(NG_TOK_WORD, corpus, strlen(corpus), 0);
    ng_tokenizer *c = ng_tokenizer_build(NG_TOK_CHAR, corpus, strlen(corpus), 0);
    char *src[2] = {ng_tokenizer_to_json(w), ng_tokenizer_to_json(c)};
    ng_rng r;
    ng_rng_seed(&r, 1234);
    int accepted = 0, rejected = 0, consistent = 1;
    const char pool[] = "\"\\[]{},:0 a\xC3\xA7\xFF\x80u";
    for (int it = 0; it < 4000; it++) {
        const char *base = src[it & 1];
        size_t n = strlen(base);
        char *m = malloc(n + 16);
        memcpy(m, base, n + 1);
        int edits = 1 + (int)ng_rng_below(&r, 4);
        for (int e = 0; e < edits; e++) {
            size_t pos = ng_rng_below(&r, (uint32_t)n);
            switch (ng_rng_below(&r, 3)) {
            case 0: m[pos] = pool[ng_rng_below(&r, sizeof pool - 1)]; break;  /* replace */
            case 1: memmove(m + pos, m + pos + 1, n - pos); n--; break;        /* delete */
            default: m[pos] = 0; n = pos; break;                               /* truncate */
            }
            if (n == 0) break;
        }
        ng_tokenizer *t = ng_tokenizer_from_json(m);
        if (t) {
            accepted++;
            /* whatever was accepted must work */
            int32_t ids[4] = {0, 1, ng_tokenizer_vocab_size(t) - 1, 99999};
            char *s = ng_tokenizer_decode(t, ids, 4);
            consistent &= s != NULL && ng_utf8_validate(s, strlen(s)) < 0;
            free(s);
            ng_tokenizer_free(t);
        } else {
            rejected++;
            consistent &= ng_last_error()[0] != 0;
        }
        free(m);
    }
    printf("json fuzz: %d accepted, %d rejected\n", accepted, rejected);
    CHECK(rejected > 1000 && consistent, "fuzz consistent");
    free(src[0]); free(src[1]);
    ng_tokenizer_free(w); ng_tokenizer_free(c);
}

int main(void) {
    RUN(test_utf8_decode_valid);
    RUN(test_utf8_decode_invalid);
    RUN(test_utf8_exhaustive);
    RUN(test_utf8_encode);
    RUN(test_utf8_validate);
    RUN(test_char_basic);
    RUN(test_char_errors);
    RUN(test_char_astral);
    RUN(test_char_corpus);
    RUN(test_char_portuguese);
    RUN(test_word_split);
    RUN(test_word_vocab);
    RUN(test_word_spacing);
    RUN(test_word_portuguese);
    RUN(test_word_corpus);
    RUN(test_decoder);
    RUN(test_json_roundtrip);
    RUN(test_json_corrupt);
    RUN(test_json_fuzz);
    TEST_MAIN_END();
}

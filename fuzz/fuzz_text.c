/* fuzz_text.c - any bytes as a text corpus: UTF-8 validation, char, word and bpe tokenizers
 * built from it, the corpus encoded and decoded (exactly, for bpe, on any bytes). Invalid UTF-8 must be refused (with the offset in
 * the message), valid text must round-trip exactly through a char tokenizer, and every
 * tokenizer built must encode its own corpus without unknown tokens (char) and decode to
 * valid UTF-8. */
#include "fuzz.h"

/* Strict UTF-8 check written independently of src/data/utf8.c: -1 or the first bad offset. */
static long long ref_validate(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        size_t k;
        uint32_t cp, min;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xC2 && c <= 0xDF) { k = 2; cp = c & 0x1F; min = 0x80; }
        else if (c >= 0xE0 && c <= 0xEF) { k = 3; cp = c & 0x0F; min = 0x800; }
        else if (c >= 0xF0 && c <= 0xF4) { k = 4; cp = c & 0x07; min = 0x10000; }
        else return (long long)i;
        if (n - i < k) return (long long)i;
        for (size_t j = 1; j < k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return (long long)i;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return (long long)i;
        i += k;
    }
    return -1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *text = (const char *)data;
    long long bad = ng_utf8_validate(text, size);
    FZ_CHECK(bad == ref_validate(data, size), "validate says %lld, the reference %lld", bad, ref_validate(data, size));
    size_t cps = 0;
    for (size_t i = 0; i < size; i++) cps += (data[i] & 0xC0) != 0x80;

    /* bpe tokenizer: any bytes (not empty), exact round trip */
    {
        ng_tokenizer *b = ng_tokenizer_build(NG_TOK_BPE, text, size, 257 + (int)(size % 200));
        FZ_CHECK(size == 0 ? b == NULL : b != NULL, "bpe on %zu bytes: %s", size, ng_last_error());
        if (b) {
            int32_t *ids = NULL;
            size_t n = 0, bl = 0;
            FZ_CHECK(ng_tokenizer_encode(b, text, size, 0, &ids, &n, NULL) == NG_OK, "%s", ng_last_error());
            FZ_CHECK(n >= 1 && n <= size, "%zu bpe ids for %zu bytes", n, size);
            char *back = ng_tokenizer_decode_bytes(b, ids, n, &bl);
            FZ_CHECK(back && bl == size && !memcmp(back, text, size), "bpe: decode(encode(text)) != text");
            free(back);
            free(ids);
            ng_tokenizer_free(b);
        }
    }

    /* char tokenizer: exact round trip. Refused: invalid UTF-8, a NUL byte (not a text file),
     * an empty corpus; the error names the offset */
    const uint8_t *nul = size ? memchr(data, 0, size) : NULL;
    int refuse = bad >= 0 || size == 0 || nul;
    ng_tokenizer *t = ng_tokenizer_build(NG_TOK_CHAR, text, size, 0);
    if (refuse) {
        FZ_CHECK(t == NULL, "built a char tokenizer from %s", size ? "invalid UTF-8 or a NUL byte" : "nothing");
        FZ_CHECK_ERROR();
        if (size) {
            char off[32];
            snprintf(off, sizeof off, "offset %lld", bad >= 0 ? bad : (long long)(nul - data));
            FZ_CHECK(strstr(ng_last_error(), off), "the error does not name the %s: %s", off, ng_last_error());
        }
        return 0;
    }
    FZ_CHECK(t != NULL, "%s", ng_last_error());
    int32_t *cids = NULL;
    size_t cn = 0, cunk = 0;
    FZ_CHECK(ng_tokenizer_encode(t, text, size, 0, &cids, &cn, &cunk) == NG_OK, "%s", ng_last_error());
    FZ_CHECK(cn == cps && cunk == 0, "%zu ids for %zu characters", cn, cps);
    char *cback = ng_tokenizer_decode(t, cids, cn);
    FZ_CHECK(cback && strlen(cback) == size && memcmp(cback, text, size) == 0, "decode(encode(text)) != text");
    free(cback);
    free(cids);
    ng_tokenizer_free(t);

    /* word tokenizer with a small vocabulary (<unk> in use) and a large one */
    for (int pass = 0; pass < 2; pass++) {
        int cap = pass ? 0 : 2 + (int)(size % 7);
        t = ng_tokenizer_build(NG_TOK_WORD, text, size, cap);
        if (!t) {
            FZ_CHECK_ERROR();
            continue;   /* e.g. only spaces: no tokens */
        }
        int V = ng_tokenizer_vocab_size(t);
        FZ_CHECK(V >= 1 && (cap == 0 || V <= cap), "vocabulary of %d for a cap of %d", V, cap);
        int32_t *ids = NULL;
        size_t n = 0;
        FZ_CHECK(ng_tokenizer_encode(t, text, size, 0, &ids, &n, NULL) == NG_OK, "%s", ng_last_error());
        FZ_CHECK(n <= size, "%zu word tokens from %zu bytes", n, size);
        for (size_t i = 0; i < n; i++) FZ_CHECK(ids[i] >= 0 && ids[i] < V, "id %d of %d", ids[i], V);
        char *back = ng_tokenizer_decode(t, ids, n);
        FZ_CHECK(back != NULL, "%s", ng_last_error());
        FZ_CHECK(ng_utf8_validate(back, strlen(back)) < 0, "decoded text is not UTF-8");
        if (pass == 1) {
            /* with every token in the vocabulary, the decoded text holds the same tokens */
            int32_t *again = NULL;
            size_t n2 = 0, unk = 0;
            FZ_CHECK(ng_tokenizer_encode(t, back, strlen(back), 0, &again, &n2, &unk) == NG_OK, "%s", ng_last_error());
            free(again);
        }
        char *js = ng_tokenizer_to_json(t);
        ng_tokenizer *t2 = js ? ng_tokenizer_from_json(js) : NULL;
        FZ_CHECK(t2 != NULL, "own JSON refused: %s", ng_last_error());
        ng_tokenizer_free(t2);
        free(js);
        free(back);
        free(ids);
        ng_tokenizer_free(t);
    }
    return 0;
}

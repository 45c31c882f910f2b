/* fuzz_tokenizer.c - any bytes as the "tokenizer" metadata of a checkpoint (JSON:
 * {"kind":"char"|"word","vocab":[...]} or {"kind":"bpe","vocab":[...],"merges":[[a,b],...]}): ng_tokenizer_from_json either fails with a message
 * or gives a tokenizer that survives a JSON round trip and decodes and encodes every id. */
#include "fuzz.h"

#define MAX_IDS 2048   /* ids decoded per input (bounds the work on large vocabularies) */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *json = malloc(size + 1);
    if (!json) return 0;
    memcpy(json, data, size);
    json[size] = 0;
    ng_tokenizer *t = ng_tokenizer_from_json(json);
    free(json);
    if (!t) {
        FZ_CHECK_ERROR();
        return 0;
    }
    int V = ng_tokenizer_vocab_size(t);
    FZ_CHECK(V >= 1, "vocabulary of %d", V);
    /* round trip: the JSON of the tokenizer parses into the same vocabulary */
    char *j1 = ng_tokenizer_to_json(t);
    FZ_CHECK(j1 != NULL, "%s", ng_last_error());
    ng_tokenizer *t2 = ng_tokenizer_from_json(j1);
    FZ_CHECK(t2 != NULL, "own JSON refused: %s", ng_last_error());
    char *j2 = ng_tokenizer_to_json(t2);
    FZ_CHECK(j2 && !strcmp(j1, j2), "JSON round trip changed the tokenizer");
    FZ_CHECK(ng_tokenizer_kind(t) == ng_tokenizer_kind(t2), "kind changed");
    free(j1);
    free(j2);
    ng_tokenizer_free(t2);
    /* decode every id (and out-of-range ones), then encode the text back */
    int n = V < MAX_IDS ? V : MAX_IDS;
    int32_t *ids = malloc(sizeof(int32_t) * (size_t)(n + 2));
    FZ_CHECK(ids != NULL, "out of memory");
    for (int i = 0; i < n; i++) {
        ids[i] = i;
        const char *s = ng_tokenizer_token(t, i);
        FZ_CHECK(s && *s && ng_utf8_validate(s, strlen(s)) < 0, "token %d is empty or not UTF-8", i);
    }
    ids[n] = -1;
    ids[n + 1] = V;
    size_t len = 0;
    char *text = ng_tokenizer_decode_bytes(t, ids, (size_t)n + 2, &len);
    FZ_CHECK(text != NULL, "%s", ng_last_error());
    const int bpe = ng_tokenizer_kind(t) == NG_TOK_BPE;   /* its text is any bytes, given back exactly */
    FZ_CHECK(bpe || ng_utf8_validate(text, len) < 0, "decoded text is not UTF-8");
    ng_decoder d;
    ng_decoder_init(&d, t);
    char small[5];
    for (int i = 0; i < n + 2; i++) {
        size_t k = ng_decoder_push(&d, ids[i], small, sizeof small);
        FZ_CHECK(k < sizeof small && small[k] == 0, "decoder_push overflow");
        FZ_CHECK(ng_utf8_validate(small, k) < 0, "decoder_push cut a character");
    }
    int32_t *enc = NULL;
    size_t ne = 0, unk = 0;
    FZ_CHECK(ng_tokenizer_encode(t, text, len, 1, &enc, &ne, &unk) == NG_OK, "%s", ng_last_error());
    if (ng_tokenizer_kind(t) == NG_TOK_CHAR) {
        /* a char model decodes id i to its character: encoding gives the ids back (the
         * U+FFFD of the two bad ids is skipped as unknown unless it is in the vocabulary) */
        FZ_CHECK(ne >= (size_t)n && ne <= (size_t)n + 2, "%zu ids for %d characters", ne, n);
        for (int i = 0; i < n; i++) FZ_CHECK(enc[i] == i, "id %d came back as %d", i, enc[i]);
    }
    for (size_t i = 0; i < ne; i++) FZ_CHECK(enc[i] >= 0 && enc[i] < V, "encode gave id %d of %d", enc[i], V);
    if (bpe) {
        size_t bl = 0;
        char *back = ng_tokenizer_decode_bytes(t, enc, ne, &bl);
        FZ_CHECK(back && bl == len && !memcmp(back, text, len), "bpe: decode(encode(x)) != x");
        free(back);
    }
    free(enc);
    free(text);
    free(ids);
    ng_tokenizer_free(t);
    return 0;
}

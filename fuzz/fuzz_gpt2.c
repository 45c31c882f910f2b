/* fuzz_gpt2.c - GPT-2's tokenizer files (ng_tokenizer_load_gpt2): the input up to its first NUL
 * byte is the vocabulary (encoder.json), the rest the merges (vocab.bpe). A load either fails
 * with a message or gives a tokenizer whose JSON round-trips and that encodes a fixed text and
 * the input itself to ids in range that decode back to the exact bytes. */
#include "fuzz.h"

static void round_trip(const ng_tokenizer *t, const char *s, size_t n) {
    int32_t *ids = NULL;
    size_t k = 0, dl = 0;
    FZ_CHECK(ng_tokenizer_encode(t, s, n, 0, &ids, &k, NULL) == NG_OK, "%s", ng_last_error());
    const int V = ng_tokenizer_vocab_size(t);
    for (size_t i = 0; i < k; i++) FZ_CHECK(ids[i] >= 0 && ids[i] < V, "id %d of %d", ids[i], V);
    char *back = ng_tokenizer_decode_bytes(t, ids, k, &dl);
    FZ_CHECK(back && dl == n && memcmp(back, s, n) == 0, "decode(encode(x)) != x");
    free(back);
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = size ? memchr(data, 0, size) : NULL;
    size_t vn = nul ? (size_t)(nul - data) : size;
    const char *vp = fz_write("vocab.json", data, vn);
    const char *mp = fz_write("merges.txt", nul ? nul + 1 : data, nul ? size - vn - 1 : 0);
    ng_tokenizer *t = ng_tokenizer_load_gpt2(vp, mp);
    if (!t) {
        FZ_CHECK_ERROR();
        FZ_CHECK(strstr(ng_last_error(), "vocab.json") || strstr(ng_last_error(), "merges.txt") || strstr(ng_last_error(), "memory"),
                 "the error names no file: %s", ng_last_error());
        return 0;
    }
    FZ_CHECK(ng_tokenizer_kind(t) == NG_TOK_BPE && ng_tokenizer_vocab_size(t) >= 256, "a bpe vocabulary of %d", ng_tokenizer_vocab_size(t));
    char *j1 = ng_tokenizer_to_json(t);
    FZ_CHECK(j1 != NULL, "%s", ng_last_error());
    ng_tokenizer *t2 = ng_tokenizer_from_json(j1);
    FZ_CHECK(t2 != NULL, "own JSON refused: %s", ng_last_error());
    char *j2 = ng_tokenizer_to_json(t2);
    FZ_CHECK(j2 && !strcmp(j1, j2), "JSON round trip changed the tokenizer");
    free(j1); free(j2);
    ng_tokenizer_free(t2);
    static const char sample[] = "Hello world, it's 2024!  Ol\xC3\xA1 \xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\x98\x80\n\n\xFF\x00z";
    round_trip(t, sample, sizeof sample - 1);
    round_trip(t, (const char *)data, size);
    ng_tokenizer_free(t);
    return 0;
}

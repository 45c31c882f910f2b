/* bpe_ids.c - GPT-2's tokenizer (ng_tokenizer_load_gpt2) over many texts at once, for
 * tests/test_gpt2_tokenizer.sh, which compares the ids with the reference encoder's.
 * usage: bpe_ids VOCAB MERGES TEXTS   TEXTS: texts separated by NUL bytes; prints one line of
 * space-separated ids per text, and exits 1 (naming the text) if one does not decode back to
 * its exact bytes. */
#include "nanogen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc != 4) { fprintf(stderr, "usage: bpe_ids VOCAB MERGES TEXTS\n"); return 2; }
    ng_tokenizer *t = ng_tokenizer_load_gpt2(argv[1], argv[2]);
    if (!t) { fprintf(stderr, "bpe_ids: %s\n", ng_last_error()); return 1; }
    size_t len = 0;
    char *all = ng_read_file(argv[3], &len);
    if (!all) { fprintf(stderr, "bpe_ids: %s\n", ng_last_error()); return 1; }
    int bad = 0;
    size_t rec = 0;
    for (size_t pos = 0; pos < len; rec++) {
        const char *s = all + pos, *z = memchr(s, 0, len - pos);
        size_t n = z ? (size_t)(z - s) : len - pos;
        pos += n + 1;
        int32_t *ids = NULL;
        size_t nid = 0;
        if (ng_tokenizer_encode(t, s, n, 0, &ids, &nid, NULL)) { fprintf(stderr, "bpe_ids: text %zu: %s\n", rec, ng_last_error()); return 1; }
        for (size_t i = 0; i < nid; i++) printf(i ? " %d" : "%d", ids[i]);
        printf("\n");
        size_t dl = 0;
        char *back = ng_tokenizer_decode_bytes(t, ids, nid, &dl);
        if (!back || dl != n || memcmp(back, s, n)) {
            if (bad++ < 5) fprintf(stderr, "bpe_ids: text %zu does not decode back to its bytes\n", rec);
        }
        free(back);
        free(ids);
    }
    free(all);
    ng_tokenizer_free(t);
    return bad ? 1 : 0;
}

/* bench/bpe.c - the byte-level BPE tokenizer's speed: seconds to train on 1 MB and 10 MB of text
 * at vocabularies of 4096 and 32768, and encoding speed (MB/s) with a trained tokenizer and with
 * GPT-2's. `make bench-bpe` runs it on Tiny Shakespeare, the licences in /usr/share/common-licenses
 * and the copyright files under /usr/share/doc (the files given, concatenated in order and
 * repeated if short, cut at 1 MB and 10 MB).
 * usage: bpe [--gpt2 VOCAB MERGES] FILE... */
#include "nanogen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    const char *gv = NULL, *gm = NULL;
    int a = 1;
    if (argc > 3 && !strcmp(argv[1], "--gpt2")) { gv = argv[2]; gm = argv[3]; a = 4; }
    if (a >= argc) { fprintf(stderr, "usage: bpe [--gpt2 VOCAB MERGES] FILE...\n"); return 2; }
    const size_t want = 10000000;
    char *text = malloc(want);
    size_t have = 0;
    for (int round = 0; have < want && round < 100; round++)
        for (int i = a; i < argc && have < want; i++) {
            size_t n = 0;
            char *s = ng_read_file(argv[i], &n);
            if (!s) continue;
            size_t take = n < want - have ? n : want - have;
            memcpy(text + have, s, take);
            have += take;
            free(s);
        }
    if (have < want) { fprintf(stderr, "bpe: only %zu bytes of text\n", have); return 1; }
    printf("BPE training (seconds)   vocab 4096   vocab 32768\n");
    ng_tokenizer *enc_tok = NULL;
    const size_t sizes[2] = {1000000, 10000000};
    for (int s = 0; s < 2; s++) {
        printf("%-24s", s ? "10 MB" : "1 MB");
        const int vocabs[2] = {4096, 32768};
        for (int v = 0; v < 2; v++) {
            double t0 = ng_seconds();
            ng_tokenizer *t = ng_tokenizer_build(NG_TOK_BPE, text, sizes[s], vocabs[v]);
            double dt = ng_seconds() - t0;
            if (!t) { fprintf(stderr, "bpe: %s\n", ng_last_error()); return 1; }
            printf(" %9.2f s (%d)", dt, ng_tokenizer_vocab_size(t));
            if (s == 1 && v == 0) enc_tok = t;
            else ng_tokenizer_free(t);
        }
        printf("\n");
    }
    ng_tokenizer *gpt2 = gv ? ng_tokenizer_load_gpt2(gv, gm) : NULL;
    if (gv && !gpt2) fprintf(stderr, "bpe: %s\n", ng_last_error());
    const ng_tokenizer *toks[2] = {enc_tok, gpt2};
    const char *names[2] = {"trained (10 MB, 4096)", "GPT-2 (50257)"};
    for (int k = 0; k < 2; k++) {
        if (!toks[k]) continue;
        int32_t *ids = NULL;
        size_t n = 0;
        double t0 = ng_seconds();
        if (ng_tokenizer_encode(toks[k], text, want, 0, &ids, &n, NULL)) { fprintf(stderr, "bpe: %s\n", ng_last_error()); return 1; }
        double dt = ng_seconds() - t0;
        printf("encode 10 MB, %-22s %.2f s: %.1f MB/s, %zu tokens (%.2f bytes per token)\n", names[k], dt, want / 1e6 / dt, n, (double)want / n);
        free(ids);
    }
    ng_tokenizer_free(enc_tok);
    ng_tokenizer_free(gpt2);
    free(text);
    return 0;
}

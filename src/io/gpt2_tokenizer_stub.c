/* gpt2_tokenizer_stub.c - TEMPORARY, delete when merging the bpe branch: a weak stand-in for
 * ng_tokenizer_load_gpt2 (the byte-level BPE tokenizer's GPT-2 loader, written on that branch),
 * so that this branch builds and `nanogen import` says what is missing. The bpe branch's
 * definition replaces it. */
#include "core/internal.h"

__attribute__((weak)) ng_tokenizer *ng_tokenizer_load_gpt2(const char *vocab_path, const char *merges_path) {
    (void)merges_path;
    ng_set_error("%s: GPT-2's tokenizer (vocab.json + merges.txt) is not in this build yet: use --chars FILE for a char "
                 "vocabulary", vocab_path ? vocab_path : "vocab.json");
    return NULL;
}

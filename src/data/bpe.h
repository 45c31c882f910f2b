/* data/bpe.h - the byte-level BPE tokenizer's private interface (src/data/bpe.c): what
 * tokenizer.c calls for the kind NG_TOK_BPE, and what the tests reach directly.
 *
 * A BPE vocabulary is a list of byte strings (id = index) that holds every single byte, and a
 * list of merges in rank order, each a pair of ids (a, b) whose concatenation is the token
 * id z of the vocabulary. Tokens that are neither a byte nor a merge's result (GPT-2's
 * <|endoftext|>) are special: encoding never produces them, decoding gives their text. */
#ifndef NG_DATA_BPE_H
#define NG_DATA_BPE_H
#include "core/internal.h"

#include <stddef.h>
#include <stdint.h>

typedef struct ng__bpe ng__bpe;

/* The end-of-text token that a trained vocabulary ends with. */
#define NG_BPE_EOT "<|endoftext|>"

/* The class of cp in GPT-2's pre-split pattern: 'L', 'N', 'S' (whitespace) or 'O' (src/data/unicode.c). */
char ng__gpt2_class(uint32_t cp);
/* The end of the pre-split piece of text that starts at pos (< len): GPT-2's pattern
 * 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ over code points; a
 * byte that is not part of valid UTF-8 counts as one code point of class 'O'. */
size_t ng__bpe_split(const unsigned char *s, size_t len, size_t pos);

/* A vocabulary from its parts (see above), validated: every token non-empty and distinct,
 * every byte present, each merge's ids in range, its result in the vocabulary, no pair twice.
 * what names the source in errors ("tokenizer JSON", a file); lines (may be NULL) gives each
 * merge's line in it. NULL + an error naming the entry. */
ng__bpe *ng__bpe_create(const char *what, const char *const *toks, const size_t *lens, int n,
                        const int32_t *merges, int n_merges, const int *lines);
void ng__bpe_free(ng__bpe *b);
/* Train on a corpus (any bytes): 256 byte tokens, merges by pair count until vocab_size - 1
 * tokens or no pair occurs twice, then NG_BPE_EOT. */
ng__bpe *ng__bpe_train(const char *text, size_t len, int vocab_size);
int ng__bpe_size(const ng__bpe *b);
int ng__bpe_n_merges(const ng__bpe *b);
/* Merge r's pair of ids. */
void ng__bpe_merge(const ng__bpe *b, int r, int32_t *a, int32_t *bb);
/* Token id's bytes (*len of them; NUL-terminated too). */
const char *ng__bpe_bytes(const ng__bpe *b, int id, size_t *len);
/* Token id as readable UTF-8: its bytes, with NUL and bytes that are not part of valid UTF-8
 * written \xNN; malloc'd. */
char *ng__bpe_display(const ng__bpe *b, int id);
/* Id of a token by its bytes, or -1. */
int32_t ng__bpe_lookup(const ng__bpe *b, const char *s, size_t n);
/* Encode text (any bytes) into ids (room for len + 1); *n ids. NG_OK or NG_ERR (out of memory). */
int ng__bpe_encode(const ng__bpe *b, const char *text, size_t len, int32_t *ids, size_t *n);
/* GPT-2's files: vocab (encoder.json / vocab.json: {"token": id, ...}, tokens written with
 * bytes_to_unicode; ids 0..n-1, each once) and merges (vocab.bpe / merges.txt: an optional
 * "#version" first line, then "A B" a line, rank = order). NULL + an error naming the file and
 * the entry or line. */
ng__bpe *ng__bpe_load_gpt2(const char *vocab_path, const char *merges_path);
/* The same files written (atomically): ng__bpe_load_gpt2 reads them back to the same vocabulary. */
int ng__bpe_save_gpt2(const ng__bpe *b, const char *vocab_path, const char *merges_path);
/* The tokenizer JSON's parts of a BPE vocabulary: to_json fills vocab (an array, in root) with
 * the tokens written with bytes_to_unicode and adds "merges": [[a, b], ...] to root (NG_ERR when
 * out of memory); from_json reads them back from root, validated (NULL + an error naming the
 * entry). */
struct cJSON;
int ng__bpe_to_json(const ng__bpe *b, struct cJSON *root, struct cJSON *vocab);
ng__bpe *ng__bpe_from_json(const struct cJSON *root);
/* GPT-2's bytes_to_unicode: the code point that stands for byte x in its vocabulary files, and
 * back (-1 for a code point that stands for no byte). */
uint32_t ng__bpe_byte_char(unsigned char x);
int ng__bpe_char_byte(uint32_t cp);
#endif

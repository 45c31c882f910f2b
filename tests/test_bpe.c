/* test_bpe.c - the byte-level BPE tokenizer (src/data/bpe.c): GPT-2's pre-split, training
 * (deterministic, ties, the vocabulary's layout), exact round trips on any bytes, the
 * streaming decoder (never half a character), JSON round trip and corrupt JSON, and GPT-2's
 * file loader on bad files (each error names the file and the entry or line). GPT-2's real
 * files against the reference encoder: tests/test_gpt2_tokenizer.sh. */
#include "nanogen.h"
#include "core/internal.h"
#include "data/bpe.h"
#include "test.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char tmpdir[256];

/* ---------------------------------------------------------------- pre-split */

static void test_split(void) {
    static const struct { const char *text; const char *pieces[8]; } cases[] = {
        {"Hello world", {"Hello", " world"}},
        {"a\n\nb", {"a", "\n", "\n", "b"}},
        {"  x", {" ", " x"}},
        {"x  ", {"x", "  "}},
        {"it's I'LL they're", {"it", "'s", " I", "'", "LL", " they", "'re"}},
        {"!'s", {"!'", "s"}},
        {" 123abc", {" 123", "abc"}},
        {"a\t b", {"a", "\t", " b"}},
        {"x \n y", {"x", " \n", " y"}},
        {"\xC3\xA9\xC2\xBD\xC2\xB2z", {"\xC3\xA9", "\xC2\xBD\xC2\xB2", "z"}},   /* é ½² z: L, N, L */
        {"a\xFF\xFE b", {"a", "\xFF\xFE", " b"}},                              /* invalid bytes: other */
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        const char *s = cases[c].text;
        size_t len = strlen(s), pos = 0;
        int k = 0, same = 1;
        while (pos < len && k < 8) {
            size_t end = ng__bpe_split((const unsigned char *)s, len, pos);
            const char *want = cases[c].pieces[k++];
            if (!want || strlen(want) != end - pos || memcmp(want, s + pos, end - pos)) same = 0;
            pos = end;
        }
        CHECK(same && pos == len && (k == 8 || !cases[c].pieces[k]), "case %zu: pieces differ from GPT-2's pattern", c);
    }
}

/* ---------------------------------------------------------------- training */

static char *corpus(size_t *len) {
    const char *paths[] = {"tests/data/bpe_corpus.txt", "../tests/data/bpe_corpus.txt"};
    for (int i = 0; i < 2; i++) {
        char *s = ng_read_file(paths[i], len);
        if (s) return s;
    }
    return NULL;
}

/* Encode and decode back: the exact bytes? */
static int round_trip(const ng_tokenizer *t, const char *s, size_t n, size_t *n_ids) {
    int32_t *ids = NULL;
    size_t k = 0, dl = 0;
    if (ng_tokenizer_encode(t, s, n, 0, &ids, &k, NULL)) return 0;
    char *back = ng_tokenizer_decode_bytes(t, ids, k, &dl);
    int ok = back && dl == n && memcmp(back, s, n) == 0;
    for (size_t i = 0; i < k; i++) ok &= ids[i] >= 0 && ids[i] < ng_tokenizer_vocab_size(t);
    if (n_ids) *n_ids = k;
    free(back);
    free(ids);
    return ok;
}

static void test_train(void) {
    size_t len = 0;
    char *text = corpus(&len);
    CHECK(text != NULL, "tests/data/bpe_corpus.txt: %s", ng_last_error());
    if (!text) return;
    ng_tokenizer *t = ng_tokenizer_build(NG_TOK_BPE, text, len, 400);
    CHECK(t != NULL, "%s", ng_last_error());
    if (!t) { free(text); return; }
    const int V = ng_tokenizer_vocab_size(t);
    CHECK(ng_tokenizer_kind(t) == NG_TOK_BPE && !strcmp(ng_tok_kind_name(NG_TOK_BPE), "bpe"), "kind");
    CHECK(V > 257 && V <= 400, "vocabulary of %d (asked 400; fewer when no pair occurs twice)", V);
    int bytes_first = 1;
    for (int i = 0; i < 256; i++) {
        size_t l;
        const char *s = ng_tokenizer_token_bytes(t, i, &l);
        bytes_first &= l == 1 && (unsigned char)s[0] == i;
    }
    CHECK(bytes_first, "ids 0..255 are the bytes");
    CHECK(!strcmp(ng_tokenizer_token(t, V - 1), "<|endoftext|>"), "the last token is <|endoftext|>: '%s'", ng_tokenizer_token(t, V - 1));
    size_t n_ids = 0;
    CHECK(round_trip(t, text, len, &n_ids), "the corpus round-trips");
    CHECK(n_ids * 10 < len * 7, "%zu ids for %zu bytes: merges compress", n_ids, len);
    /* deterministic: the same vocabulary again */
    ng_tokenizer *t2 = ng_tokenizer_build(NG_TOK_BPE, text, len, 400);
    char *j1 = ng_tokenizer_to_json(t), *j2 = t2 ? ng_tokenizer_to_json(t2) : NULL;
    CHECK(j1 && j2 && !strcmp(j1, j2), "training twice gives the same tokenizer");
    /* JSON round trip: the same tokenizer, the same ids */
    ng_tokenizer *t3 = j1 ? ng_tokenizer_from_json(j1) : NULL;
    CHECK(t3 != NULL, "own JSON: %s", ng_last_error());
    if (t3) {
        char *j3 = ng_tokenizer_to_json(t3);
        CHECK(j3 && !strcmp(j1, j3), "JSON round trip");
        free(j3);
        int32_t *a = NULL, *b = NULL;
        size_t na = 0, nb = 0;
        ng_tokenizer_encode(t, text, len, 0, &a, &na, NULL);
        ng_tokenizer_encode(t3, text, len, 0, &b, &nb, NULL);
        CHECK(na == nb && a && b && !memcmp(a, b, na * sizeof *a), "the reloaded tokenizer encodes the same");
        free(a); free(b);
    }
    /* any bytes: NUL, invalid UTF-8, random */
    static const char odd[] = "a\0b\xFF\xFE\xC3(\xE4\xBD \xF0\x9F\x98\x80\xED\xA0\x80 caf\xC3\xA9\n";
    CHECK(round_trip(t, odd, sizeof odd - 1, NULL), "NUL and invalid UTF-8 round-trip");
    CHECK(round_trip(t, "", 0, &n_ids) && n_ids == 0, "the empty text is no ids");
    uint64_t x = 42;
    char rnd[4096];
    int all = 1;
    for (int r = 0; r < 50; r++) {
        size_t n = (size_t)(r * 81 % 4096);
        for (size_t i = 0; i < n; i++) { x = x * 6364136223846793005ull + 1442695040888963407ull; rnd[i] = (char)(x >> 56); }
        all &= round_trip(t, rnd, n, NULL);
    }
    CHECK(all, "50 random byte strings round-trip");
    /* counting for bits per character / byte */
    int32_t *ids = NULL;
    size_t k = 0;
    ng_tokenizer_encode(t, "ol\xC3\xA1 \xE4\xBD\xA0", 8, 0, &ids, &k, NULL);
    CHECK(ng_text_count_bytes(t, ids, k) == 8 && ng_text_count_chars(t, ids, k) == 5, "8 bytes, 5 characters");
    free(ids);
    ng_tokenizer_free(t); ng_tokenizer_free(t2); ng_tokenizer_free(t3);
    free(j1); free(j2);
    free(text);
}

static void test_ties_and_limits(void) {
    /* "ab" and "cd" both occur twice: the tie goes to the smaller ids, 'a' < 'c' */
    const char *s = "cd\ncd\nab\nab";
    ng_tokenizer *t = ng_tokenizer_build(NG_TOK_BPE, s, strlen(s), 1000);
    CHECK(t && ng_tokenizer_vocab_size(t) == 259, "two merges (no other pair occurs twice), then <|endoftext|>: %d",
          t ? ng_tokenizer_vocab_size(t) : -1);
    if (t) CHECK(!strcmp(ng_tokenizer_token(t, 256), "ab") && !strcmp(ng_tokenizer_token(t, 257), "cd"), "ab first, then cd");
    ng_tokenizer_free(t);
    t = ng_tokenizer_build(NG_TOK_BPE, s, strlen(s), 256);
    CHECK(!t && strstr(ng_last_error(), "257"), "vocabulary 256 refused: %s", ng_last_error());
    t = ng_tokenizer_build(NG_TOK_BPE, "", 0, 300);
    CHECK(!t && strstr(ng_last_error(), "empty"), "empty corpus: %s", ng_last_error());
    /* long pieces: one letter 200,000 times, spaces 100,000 times (no O(n^2) merging) */
    size_t n = 300000;
    char *big = malloc(n);
    memset(big, 'a', 200000);
    memset(big + 200000, ' ', 100000);
    t = ng_tokenizer_build(NG_TOK_BPE, big, n, 300);
    CHECK(t && round_trip(t, big, n, NULL), "a 200 kB word and a 100 kB run of spaces round-trip");
    ng_tokenizer_free(t);
    /* pieces whose every pair is a merge: each merge adds up to two pairs to the encoder's heap
     * before the stale ones are popped (the heap once outgrew its piece's length: an overflow
     * seen only by make bench-bpe's 10 MB under ASan, not reproduced by these small cases) */
    for (size_t i = 0; i < 4000; i++) big[i] = "abcdefghijklmnop "[i % 17];
    t = ng_tokenizer_build(NG_TOK_BPE, big, 4000, 400);
    CHECK(t && round_trip(t, big, 4000, NULL) && round_trip(t, big + 1, 3001, NULL), "a 16-letter word merged whole round-trips");
    for (size_t i = 0; i < 4000; i++) big[i] = "ab"[i % 2];
    ng_tokenizer_free(t);
    t = ng_tokenizer_build(NG_TOK_BPE, big, 4000, 300);
    CHECK(t && round_trip(t, big, 4000, NULL) && round_trip(t, big + 1, 3001, NULL), "'abab...' round-trips");
    ng_tokenizer_free(t);
    free(big);
}

/* ---------------------------------------------------------------- streaming decoder */

static void test_decoder(void) {
    const char *s = "Ol\xC3\xA1 \xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\x98\x80!";
    ng_tokenizer *t = ng_tokenizer_build(NG_TOK_BPE, s, strlen(s), 257);   /* bytes only: every character split */
    CHECK(t != NULL, "%s", ng_last_error());
    if (!t) return;
    int32_t *ids = NULL;
    size_t n = 0;
    ng_tokenizer_encode(t, s, strlen(s), 0, &ids, &n, NULL);
    CHECK(n == strlen(s), "one id a byte");
    ng_decoder d;
    ng_decoder_init(&d, t);
    char out[256] = "", buf[16];
    int whole = 1;
    for (size_t i = 0; i < n; i++) {
        size_t k = ng_decoder_push(&d, ids[i], buf, sizeof buf);
        whole &= ng_utf8_validate(buf, k) < 0 && strlen(buf) == k;
        strcat(out, buf);
    }
    CHECK(whole, "every push is whole UTF-8 characters");
    CHECK(ng_decoder_flush(&d, buf, sizeof buf) == 0, "nothing held at the end");
    CHECK(!strcmp(out, s), "the pushes make the text: '%s'", out);
    /* invalid bytes: U+FFFD, one per maximal subpart; an unfinished character at the end too */
    const char *bad = "a\xE4\xBD" "b\xFF" "c\xF0\x9F\x98";
    free(ids);
    ng_tokenizer_encode(t, bad, strlen(bad), 0, &ids, &n, NULL);
    ng_decoder_init(&d, t);
    out[0] = 0;
    for (size_t i = 0; i < n; i++) { ng_decoder_push(&d, ids[i], buf, sizeof buf); strcat(out, buf); }
    size_t k = ng_decoder_flush(&d, buf, sizeof buf);
    strcat(out, buf);
    CHECK(k == 3 && !strcmp(out, "a\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c\xEF\xBF\xBD"), "invalid bytes as U+FFFD: '%s'", out);
    free(ids);
    ng_tokenizer_free(t);
}

/* ---------------------------------------------------------------- corrupt JSON */

static void test_json_corrupt(void) {
    /* a valid vocabulary of the 256 bytes written as GPT-2 does, then "ab" */
    char vocab[8192];
    size_t k = 0;
    k += (size_t)snprintf(vocab + k, sizeof vocab - k, "[");
    for (int x = 0; x < 256; x++) {
        char u[8];
        int m = ng_utf8_encode(ng__bpe_byte_char((unsigned char)x), u);
        k += (size_t)snprintf(vocab + k, sizeof vocab - k, "%s\"%s%.*s\"", x ? "," : "", x == '"' || x == '\\' ? "\\" : "", m, u);
    }
    snprintf(vocab + k, sizeof vocab - k, ",\"ab\"]");
    static const struct { const char *merges; const char *err; } cases[] = {
        {"[[97,98]]", NULL},
        {"[[97,98],[97,98]]", "merge 1: the merge of 'a' and 'b' is already at merge 0"},
        {"[[97,99]]", "merge 0: the merge of 'a' and 'c' makes a token that is not in the vocabulary"},
        {"[[97,999]]", "merge 0: token id 999 is out of range"},
        {"[[97]]", "merges[0] is not a pair"},
        {"[[97,1.5]]", "merges[0] is not a pair"},
        {"{}", "needs the array field \"merges\""},
    };
    char json[9000];
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        snprintf(json, sizeof json, "{\"kind\":\"bpe\",\"vocab\":%s,\"merges\":%s}", vocab, cases[c].merges);
        ng_tokenizer *t = ng_tokenizer_from_json(json);
        if (!cases[c].err) CHECK(t != NULL, "valid: %s", ng_last_error());
        else CHECK(!t && strstr(ng_last_error(), cases[c].err), "case %zu: '%s'", c, ng_last_error());
        ng_tokenizer_free(t);
    }
    static const struct { const char *json, *err; } more[] = {
        {"{\"kind\":\"bpe\",\"vocab\":[\"a\",\"b\"],\"merges\":[]}", "2 tokens"},
        {"{\"kind\":\"bpe\",\"vocab\":[\"\\u0000\"],\"merges\":[]}", "1 tokens"},
        {"{\"kind\":\"bpe\",\"vocab\":[\"\\u4e2d\"],\"merges\":[]}", "U+4E2D stands for no byte"},
        {"{\"kind\":\"bpe\",\"vocab\":[1],\"merges\":[]}", "vocab[0] is not a string"},
        {"{\"kind\":\"bpe\",\"vocab\":{},\"merges\":[]}", "missing array field \"vocab\""},
    };
    for (size_t c = 0; c < sizeof more / sizeof *more; c++) {
        ng_tokenizer *t = ng_tokenizer_from_json(more[c].json);
        CHECK(!t && strstr(ng_last_error(), more[c].err), "more %zu: '%s'", c, ng_last_error());
        ng_tokenizer_free(t);
    }
    /* a duplicate token, a byte missing */
    char dup[9000];
    snprintf(dup, sizeof dup, "{\"kind\":\"bpe\",\"vocab\":%.*s,\"a\"],\"merges\":[]}", (int)(strrchr(vocab, ',') - vocab), vocab);
    ng_tokenizer *t = ng_tokenizer_from_json(dup);
    CHECK(!t && strstr(ng_last_error(), "vocabulary entries 97 and 256 are the same token 'a'"), "duplicate: '%s'", ng_last_error());
    ng_tokenizer_free(t);
}

/* ---------------------------------------------------------------- GPT-2's files */

static const char *write_file(const char *name, const char *text) {
    static char path[8][512];
    static int slot;
    char *p = path[slot++ % 8];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "wb");
    if (f) { fputs(text, f); fclose(f); }
    return p;
}

/* encoder.json-style text: the 256 bytes (ids 0..255, written with bytes_to_unicode), then extra
 * entries (JSON members, may be ""), into buf. */
static void vocab_json(char *buf, size_t cap, const char *extra) {
    size_t k = (size_t)snprintf(buf, cap, "{");
    for (int x = 0; x < 256; x++) {
        char u[8];
        int m = ng_utf8_encode(ng__bpe_byte_char((unsigned char)x), u);
        k += (size_t)snprintf(buf + k, cap - k, "%s\"%s%.*s\": %d", x ? ", " : "", x == '"' || x == '\\' ? "\\" : "", m, u, x);
    }
    snprintf(buf + k, cap - k, "%s}", extra);
}

static void test_gpt2_files(void) {
    char vj[16384];
    vocab_json(vj, sizeof vj, ", \"he\": 256, \"ll\": 257, \"hell\": 258, \"\\u0120h\": 259, \"<|endoftext|>\": 260");
    const char *V = write_file("vocab.json", vj);
    const char *M = write_file("merges.txt", "#version: 0.2\nh e\nl l\nhe ll\n\xC4\xA0 h\n");
    ng_tokenizer *t = ng_tokenizer_load_gpt2(V, M);
    CHECK(t != NULL, "a small vocabulary loads: %s", ng_last_error());
    if (t) {
        int32_t *ids = NULL;
        size_t n = 0;
        ng_tokenizer_encode(t, "hello hell", 10, 0, &ids, &n, NULL);
        int want[] = {258, 'o', ' ', 258};   /* "hell" "o", " " "hell": (he, ll) comes before (" ", h) could */
        CHECK(n == 4 && ids && !memcmp(ids, want, sizeof want), "merged by rank (%zu ids)", n);
        free(ids);
        CHECK(!strcmp(ng_tokenizer_token(t, 260), "<|endoftext|>"), "the special token");
        ng_tokenizer_free(t);
    }
    /* without a #version line, and with CRLF */
    t = ng_tokenizer_load_gpt2(V, write_file("m2.txt", "h e\r\nl l\r\n"));
    CHECK(t != NULL, "merges without #version: %s", ng_last_error());
    ng_tokenizer_free(t);

    char big[16384];
    static const struct { const char *what, *vocab_extra, *merges, *err; int vocab_raw; } cases[] = {
        {"truncated vocabulary", NULL, "", "vocab.json': not JSON: parse error at byte offset", 1},
        {"not an object", "[1, 2]", "", "expected a JSON object", 2},
        {"an id out of range", ", \"he\": 300", "", "entry 256 ('he'): id 300 is out of range (257 tokens", 0},
        {"a duplicate id", ", \"he\": 5", "", "entry 256 ('he'): id 5 is also entry 5's", 0},
        {"an id that is no integer", ", \"he\": \"x\"", "", "entry 256 ('he'): the id is not an integer", 0},
        {"a character that is no byte", ", \"\\u4e2d\": 256", "", "character U+4E2D stands for no byte", 0},
        {"a duplicate token", ", \"a\\u0000\": 256", "", "vocab.json", 0},
        {"truncated merges", ", \"he\": 256", "#version: 0.2\nh e\nl", "line 3 ('l') is not two tokens", 0},
        {"a merge of unknown tokens", ", \"he\": 256", "#version: 0.2\nh e\nhe zz\n", "line 3: 'zz' is not in the vocabulary", 0},
        {"a merge whose result is not in the vocabulary", ", \"he\": 256", "h e\nl l\n", "line 2: the merge of 'l' and 'l' makes a token that is not in the vocabulary", 0},
        {"a duplicate rank", ", \"he\": 256", "#version: 0.2\nh e\nh e\n", "line 3: the merge of 'h' and 'e' is already at line 2 (a duplicate rank)", 0},
        {"an empty line", ", \"he\": 256", "h e\n\nh e\n", "line 2 is empty", 0},
        {"an empty merges file", ", \"he\": 256", "", "merges.bad' is empty", 0},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        if (cases[c].vocab_raw == 1) { vocab_json(big, sizeof big, ""); big[strlen(big) / 2] = 0; }
        else if (cases[c].vocab_raw == 2) snprintf(big, sizeof big, "%s", cases[c].vocab_extra);
        else vocab_json(big, sizeof big, cases[c].vocab_extra);
        const char *vp = write_file("vocab.json", big), *mp = write_file("merges.bad", cases[c].merges);
        t = ng_tokenizer_load_gpt2(vp, mp);
        CHECK(!t && strstr(ng_last_error(), cases[c].err) && (strstr(ng_last_error(), "vocab.json") || strstr(ng_last_error(), "merges.bad")),
              "%s: '%s'", cases[c].what, ng_last_error());
        ng_tokenizer_free(t);
    }
    /* a missing byte: 255 tokens and "he" */
    vocab_json(big, sizeof big, "");
    char *last = strrchr(big, ',');
    snprintf(last, 64, ", \"he\": 255}");
    t = ng_tokenizer_load_gpt2(write_file("vocab.json", big), write_file("m.txt", "h e\n"));
    CHECK(!t && strstr(ng_last_error(), "no token for the byte 0xFF"), "a missing byte: '%s'", ng_last_error());
    /* a huge file: refused by its size before reading */
    char huge[600];
    snprintf(huge, sizeof huge, "%s/huge.json", tmpdir);
    FILE *f = fopen(huge, "wb");
    int made = f && fseek(f, 65L << 20, SEEK_SET) == 0 && fputc('}', f) != EOF;
    if (f) fclose(f);
    t = made ? ng_tokenizer_load_gpt2(huge, M) : NULL;
    CHECK(made && !t && strstr(ng_last_error(), "huge.json' is") && strstr(ng_last_error(), "more than a vocabulary file may be"),
          "a 65 MiB vocabulary: '%s'", ng_last_error());
    unlink(huge);
    t = ng_tokenizer_load_gpt2("/nonexistent/vocab.json", M);
    CHECK(!t && strstr(ng_last_error(), "/nonexistent/vocab.json"), "a missing file: '%s'", ng_last_error());
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "%s/nanogen-test-bpe-XXXXXX", getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir)) { perror("mkdtemp"); return 1; }
    RUN(test_split);
    RUN(test_train);
    RUN(test_ties_and_limits);
    RUN(test_decoder);
    RUN(test_json_corrupt);
    RUN(test_gpt2_files);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", tmpdir);
    TEST_MAIN_END();
}

/* make_seeds.c - writes the seed corpus of every fuzz target into DIR/<target>/ (make
 * fuzz-seeds writes fuzz/corpus): tiny valid checkpoints saved by the library itself (bigram,
 * GPT with char and word tokenizers, AE / DAE / VAE / classifier), their optimizer files,
 * safetensors files with F16 / BF16 / empty tensors, tokenizer JSON, IDX files raw and gzip,
 * PNG / JPEG / BMP / GIF pictures, text in English and Portuguese plus invalid UTF-8, and
 * command lines. Deterministic: the same files every time. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "nanogen.h"
#include "data/bpe.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>
#include <stb/stb_image_write.h>

static const char *root;

static void die(const char *what) {
    fprintf(stderr, "make_seeds: %s: %s\n", what, ng_last_error());
    exit(1);
}

/* Write DIR/target/name with a prefix (the harness's option bytes) and data. */
static void put(const char *target, const char *name, const void *prefix, size_t np, const void *data, size_t n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", root, target);
    if (ng_mkdir_p(path)) die(path);
    snprintf(path, sizeof path, "%s/%s/%s", root, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || (np && fwrite(prefix, 1, np, f) != np) || (n && fwrite(data, 1, n, f) != n) || fclose(f)) die(path);
}

/* Copy a file into the corpus (with a prefix). */
static void put_file(const char *target, const char *name, const void *prefix, size_t np, const char *src) {
    size_t n;
    char *d = ng_read_file(src, &n);
    if (!d) die(src);
    put(target, name, prefix, np, d, n);
    free(d);
}

static const char *TEXT_EN =
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n"
    "First Citizen:\nYou are all resolved rather to die than to famish?\n";
static const char *TEXT_PT =
    "Ol\xC3\xA1, mundo! A cora\xC3\xA7\xC3\xA3o da na\xC3\xA7\xC3\xA3o \xE2\x80\x94 \xC2\xAB" "disse-lhe\xC2\xBB: "
    "n\xC3\xA3o h\xC3\xA1 p\xC3\xA3o, s\xC3\xB3 \xC3\xA1gua e a\xC3\xA7\xC3\xBA" "car (1.000,50 \xE2\x82\xAC).\n"
    "\xE2\x80\x9C" "D'\xC3\xA1gua\xE2\x80\x9D, 1\xC2\xBA e 2\xC2\xAA vez\xE2\x80\xA6 \xC2\xBFQu\xC3\xA9?\r\n";

/* Save a text model trained on nothing (initialised weights) under DIR/name. */
static void text_model(const char *tmp, const char *name, ng_model_kind kind, ng_tok_kind tk, const char *text, int T, int L, int H, int C) {
    ng_tokenizer *tok = ng_tokenizer_build(tk, text, strlen(text), tk == NG_TOK_WORD ? 12 : 0);
    if (!tok) die("tokenizer");
    ng_model_config c = {.kind = kind, .vocab_size = ng_tokenizer_vocab_size(tok), .block_size = T, .n_layer = L, .n_head = H, .n_embd = C};
    ng_model *m = ng_model_new(&c);
    if (!m) die("model");
    ng_model_init(m, 7);
    ng_adamw_cfg oc = {1e-3f, 1e-4f, 0.9f, 0.95f, 1e-8f, 0.1f, 1.0f, 0, 10};
    ng_adamw *opt = ng_adamw_new(ng_model_params(m), &oc);
    char dir[1024], file[1100], *tj = ng_tokenizer_to_json(tok);
    snprintf(dir, sizeof dir, "%s/%s", tmp, name);
    const char *train = "{\"step\":3,\"steps\":10,\"batch_size\":2,\"lr\":0.001,\"seed\":\"1337\",\"data\":\"data/x.txt\"}";
    if (ng_checkpoint_save(dir, m, tok, train, &opt)) die("save");
    snprintf(file, sizeof file, "%s/model.safetensors", dir);
    char out[256];
    snprintf(out, sizeof out, "%s.safetensors", name);
    put_file("checkpoint", out, NULL, 0, file);
    if (!strcmp(name, "bigram")) {
        put_file("safetensors", "bigram_model.safetensors", NULL, 0, file);
        snprintf(file, sizeof file, "%s/optim.safetensors", dir);
        put_file("safetensors", "bigram_optim.safetensors", NULL, 0, file);
    }
    snprintf(out, sizeof out, "%s.json", name);
    put("tokenizer", out, NULL, 0, tj, strlen(tj));
    free(tj);
    ng_adamw_free(opt);
    ng_model_free(m);
    ng_tokenizer_free(tok);
}

static void image_model(const char *tmp, const char *name, ng_model_kind kind, int hidden, int latent) {
    ng_model_config c = {.kind = kind, .c = 1, .h = 4, .w = 4, .hidden = hidden, .latent = latent, .beta = 1.0f, .arch = NG_ARCH_MLP,
                         .n_classes = kind == NG_MODEL_CLASSIFIER ? 2 : 0};
    ng_model *m = ng_model_new(&c);
    if (m) ng_model_init(m, 3);
    if (!m) die("image model");
    char dir[1024], file[1100], out[256];
    snprintf(dir, sizeof dir, "%s/%s", tmp, name);
    if (ng_checkpoint_save(dir, m, NULL, "{\"epoch\":1,\"epochs\":2,\"data\":\"fashion-mnist\"}", NULL)) die("save");
    snprintf(file, sizeof file, "%s/model.safetensors", dir);
    snprintf(out, sizeof out, "%s.safetensors", name);
    put_file("checkpoint", out, NULL, 0, file);
    ng_model_free(m);
}

/* A safetensors file by hand: header JSON + data. */
static void st_raw(const char *name, const char *json, const void *data, size_t n) {
    size_t hl = strlen(json), padded = (hl + 7) / 8 * 8;
    unsigned char *buf = calloc(1, 8 + padded + n);
    for (int b = 0; b < 8; b++) buf[b] = (unsigned char)((uint64_t)padded >> (8 * b));
    memcpy(buf + 8, json, hl);
    memset(buf + 8 + hl, ' ', padded - hl);
    memcpy(buf + 8 + padded, data, n);
    put("safetensors", name, NULL, 0, buf, 8 + padded + n);
    free(buf);
}

/* IDX: magic 00 00 08 ndim, big-endian dims, bytes. */
static size_t idx_bytes(unsigned char *out, int ndim, const uint32_t *dims, const unsigned char *data, size_t n) {
    size_t k = 0;
    out[k++] = 0; out[k++] = 0; out[k++] = 8; out[k++] = (unsigned char)ndim;
    for (int i = 0; i < ndim; i++) for (int b = 3; b >= 0; b--) out[k++] = (unsigned char)(dims[i] >> (8 * b));
    memcpy(out + k, data, n);
    return k + n;
}

static size_t gzip_bytes(const unsigned char *in, size_t n, unsigned char *out, size_t cap) {
    z_stream z = {0};
    if (deflateInit2(&z, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) die("deflate");
    z.next_in = (unsigned char *)in; z.avail_in = (unsigned)n;
    z.next_out = out; z.avail_out = (unsigned)cap;
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) die("deflate");
    size_t k = z.total_out;
    deflateEnd(&z);
    return k;
}

typedef struct { unsigned char *p; size_t n; } membuf;
static void mem_put(void *ctx, void *data, int size) {
    membuf *m = ctx;
    m->p = realloc(m->p, m->n + (size_t)size);
    memcpy(m->p + m->n, data, (size_t)size);
    m->n += (size_t)size;
}

/* A model to import (fuzz_convert.c): a tiny GPT over its char vocabulary exported in a layout,
 * packed as option byte, config.json's length (2 bytes, little-endian), config.json, model.safetensors. */
static void convert_seed(const char *tmp, const char *name, ng_model_format fmt, int no_bias, int gelu, int opt, int drop_config) {
    static const char chars[] = "abcdefgh ij\n";
    ng_tokenizer *tok = ng_tokenizer_build(NG_TOK_CHAR, chars, strlen(chars), 0);
    ng_model_config c = {.kind = NG_MODEL_GPT, .vocab_size = ng_tokenizer_vocab_size(tok), .block_size = 4, .n_layer = 1, .n_head = 2,
                         .n_embd = 4, .no_bias = no_bias, .gelu = gelu};
    ng_model *m = ng_model_new(&c);
    if (!tok || !m) die("convert model");
    ng_model_init(m, 3);
    char dir[1024], file[1100];
    snprintf(dir, sizeof dir, "%s/%s", tmp, name);
    if (ng_model_export(dir, m, tok, fmt, NULL)) die(ng_last_error());
    size_t nc = 0, nm = 0;
    snprintf(file, sizeof file, "%s/config.json", dir);
    char *cj = ng_read_file(file, &nc);
    snprintf(file, sizeof file, "%s/model.safetensors", dir);
    char *mj = ng_read_file(file, &nm);
    if (!cj || !mj) die("convert files");
    if (drop_config) nc = 0;
    unsigned char pre[3] = {(unsigned char)opt, (unsigned char)(nc & 255), (unsigned char)(nc >> 8)};
    char *both = malloc(nc + nm);
    if (!both) die("memory");
    memcpy(both, cj, nc);
    memcpy(both + nc, mj, nm);
    put("convert", name, pre, 3, both, nc + nm);
    free(both); free(cj); free(mj);
    ng_model_free(m);
    ng_tokenizer_free(tok);
}

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: make_seeds DIR\n"); return 2; }
    root = argv[1];
    char tmp[] = "/tmp/nanogen-seeds-XXXXXX";
    if (!mkdtemp(tmp)) die("mkdtemp");

    /* ---- checkpoints (and tokenizer JSON, safetensors) */
    text_model(tmp, "bigram", NG_MODEL_BIGRAM, NG_TOK_CHAR, "abcab\nba c\n", 8, 0, 0, 0);
    text_model(tmp, "gpt_char", NG_MODEL_GPT, NG_TOK_CHAR, "hello world\n", 4, 1, 2, 4);
    text_model(tmp, "gpt_word", NG_MODEL_GPT, NG_TOK_WORD, TEXT_EN, 4, 1, 1, 2);
    text_model(tmp, "gpt_pt", NG_MODEL_GPT, NG_TOK_CHAR, "n\xC3\xA3o \xC3\xA1gua \xE2\x82\xAC\xF0\x9F\x98\x80\n", 3, 1, 1, 2);
    text_model(tmp, "gpt_bpe", NG_MODEL_GPT, NG_TOK_BPE, "the the then, they'll then\n\xE4\xBD\xA0\xE5\xA5\xBD \xE4\xBD\xA0\xE5\xA5\xBD\xFF\n", 4, 1, 1, 2);

    /* ---- GPT-2's files: encoder.json, a NUL byte, vocab.bpe (the 256 bytes written with
     * bytes_to_unicode, a few merges, <|endoftext|>) */
    {
        static char g[16384];
        size_t k = (size_t)snprintf(g, sizeof g, "{");
        for (int x = 0; x < 256; x++) {
            char u[8];
            int m = ng_utf8_encode(ng__bpe_byte_char((unsigned char)x), u);
            k += (size_t)snprintf(g + k, sizeof g - k, "%s\"%s%.*s\": %d", x ? ", " : "", x == '"' || x == '\\' ? "\\" : "", m, u, x);
        }
        const char *tail = ", \"he\": 256, \"ll\": 257, \"hell\": 258, \"\\u0120h\": 259, \"<|endoftext|>\": 260}";
        const char *merges[] = {"#version: 0.2\nh e\nl l\nhe ll\n\xC4\xA0 h\n", "h e\nl l\nhe ll\n", "h e\nh e\n", "h e\nzz q\n"};
        const char *names[] = {"small.txt", "no_version.txt", "duplicate.txt", "unknown.txt"};
        k += (size_t)snprintf(g + k, sizeof g - k, "%s", tail);
        for (int i = 0; i < 4; i++) {
            size_t ml = strlen(merges[i]);
            char *buf = malloc(k + 1 + ml);
            if (!buf) die("malloc");
            memcpy(buf, g, k);
            buf[k] = 0;
            memcpy(buf + k + 1, merges[i], ml);
            put("gpt2", names[i], NULL, 0, buf, k + 1 + ml);
            free(buf);
        }
    }
    image_model(tmp, "ae", NG_MODEL_AE, 2, 1);
    image_model(tmp, "dae", NG_MODEL_DAE, 2, 2);
    image_model(tmp, "vae", NG_MODEL_VAE, 3, 2);
    image_model(tmp, "classifier", NG_MODEL_CLASSIFIER, 2, 1);

    /* ---- models to import (hf-gpt2, nanogpt; with and without biases, config.json) */
    convert_seed(tmp, "hf_gpt2", NG_FORMAT_HF_GPT2, 0, NG_GELU_TANH, 0, 0);
    convert_seed(tmp, "hf_gpt2_exact", NG_FORMAT_HF_GPT2, 0, NG_GELU_EXACT, 0, 0);
    convert_seed(tmp, "nanogpt", NG_FORMAT_NANOGPT, 0, NG_GELU_EXACT, 1, 0);
    convert_seed(tmp, "nanogpt_nobias", NG_FORMAT_NANOGPT, 1, NG_GELU_EXACT, 1, 0);
    convert_seed(tmp, "nanogpt_noconfig", NG_FORMAT_NANOGPT, 1, NG_GELU_EXACT, 3, 1);

    /* ---- safetensors by hand: F16, BF16, empty and scalar tensors, metadata */
    const unsigned char half[] = {0x00, 0x3C, 0x00, 0xC0, 0xFF, 0x7B, 0x01, 0x00,   /* F16: 1, -2, 65504, tiny */
                                  0x80, 0x3F, 0x00, 0x40};                           /* BF16: 1, 2 */
    st_raw("f16_bf16.safetensors",
           "{\"__metadata__\":{\"format\":\"pt\"},\"a\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[0,8]},"
           "\"b\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[8,12]}}", half, sizeof half);
    const float f[3] = {1.5f, -0.25f, 3.0f};
    st_raw("empty_scalar.safetensors",
           "{\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[0,0]},"
           "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
           "\"v\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", f, sizeof f);
    st_raw("unaligned.safetensors",
           "{\"x\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2]},"
           "\"y\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[2,10]}}", "\x00\x3C" "\x00\x00\x80\x3F\x00\x00\x00\x40", 10);
    st_raw("nothing.safetensors", "{}", NULL, 0);

    /* ---- tokenizer JSON by hand */
    const char *toks[] = {
        "{\"kind\":\"char\",\"vocab\":[\"\\n\",\" \",\"a\",\"\\u00e9\",\"\\u20ac\",\"\\ud83d\\ude00\"]}",
        "{\"kind\":\"word\",\"vocab\":[\"<unk>\",\"\\n\",\"the\",\",\",\"\\\"\",\"'\",\"don't\",\"(\",\")\",\"--\",\"3.14\",\"\\u00ab\",\"\\u00bb\"]}",
        "{\"kind\":\"char\",\"vocab\":[]}",
        "{\"kind\":\"word\",\"vocab\":[\"<unk>\",\"two words\"]}",
    };
    for (size_t i = 0; i < sizeof toks / sizeof *toks; i++) {
        char nm[32];
        snprintf(nm, sizeof nm, "hand%zu.json", i);
        put("tokenizer", nm, NULL, 0, toks[i], strlen(toks[i]));
    }

    /* ---- saved training states ("train" metadata), as the trainers write them */
    const char *states[][2] = {
        {"text.json", "{\"step\":2000,\"steps\":2000,\"batch_size\":12,\"lr\":0.0010000000474974513,\"min_lr\":0.0001,"
                      "\"warmup\":100,\"weight_decay\":0.1,\"grad_clip\":1,\"eval_every\":100,\"eval_iters\":20,\"log_every\":10,"
                      "\"seed\":\"1337\",\"data\":\"data/tinyshakespeare.txt\",\"rng\":[\"cbb7a1c2d0f3e9a1\",\"0f1e2d3c4b5a6978\","
                      "\"1122334455667788\",\"99aabbccddeeff00\"],\"train_loss\":1.7,\"val_loss\":1.9,\"elapsed_s\":37.5,"
                      "\"log_sum\":0.30000000000000004,\"log_n\":3}"},
        {"image.json", "{\"epoch\":10,\"epochs\":10,\"batch_size\":128,\"lr\":0.0010000000474974513,\"beta1\":0.899999976158142,"
                       "\"beta2\":0.9990000128746033,\"noise\":0.300000011920929,\"noise_mask\":0,\"image_size\":28,"
                       "\"data\":\"fashion-mnist\",\"seed\":\"1\",\"rng\":[\"de69f170af8501ec\",\"c8f44f98c93988cc\","
                       "\"d9e7b03b8a9aff66\",\"86b551d7d9474b8d\"]}"},
        {"image_mid_epoch.json", "{\"epoch\":2,\"batch\":17,\"seen\":2176,\"elapsed_s\":1.25,\"sums\":[512.5,0,0,0,0,0],"
                                 "\"rng_epoch\":[\"1\",\"2\",\"3\",\"4\"],\"epochs\":5,\"batch_size\":128,\"lr\":0.0002,"
                                 "\"beta1\":0.5,\"beta2\":0.999,\"noise\":0.5,\"noise_mask\":1,\"image_size\":32,\"max_batches\":40,"
                                 "\"data\":\"pics\",\"seed\":\"7\",\"rng\":[\"a\",\"b\",\"c\",\"d\"]}"},
        {"bad_values.json", "{\"step\":-1,\"epoch\":1e300,\"steps\":\"x\",\"lr\":-5,\"beta2\":1,\"rng\":[1,2,3],\"sums\":[1e999]}"},
    };
    for (size_t i = 0; i < sizeof states / sizeof *states; i++) put("state", states[i][0], NULL, 0, states[i][1], strlen(states[i][1]));

    /* ---- IDX: images (option byte 0) and labels (option byte 1, then the image count - 1) */
    unsigned char pix[2 * 3 * 4], buf[256], gz[512];
    for (size_t i = 0; i < sizeof pix; i++) pix[i] = (unsigned char)(i * 11);
    uint32_t d3[3] = {2, 3, 4}, d1[1] = {5};
    const unsigned char img_opt[3] = {0, 0, 0}, lab_opt[3] = {1, 0, 4};
    size_t n = idx_bytes(buf, 3, d3, pix, sizeof pix);
    put("idx", "images.idx3", img_opt, 3, buf, n);
    size_t g = gzip_bytes(buf, n, gz, sizeof gz);
    put("idx", "images.idx3.gz", img_opt, 3, gz, g);
    const unsigned char labs[5] = {0, 9, 3, 3, 1};
    n = idx_bytes(buf, 1, d1, labs, sizeof labs);
    put("idx", "labels.idx1", lab_opt, 3, buf, n);
    g = gzip_bytes(buf, n, gz, sizeof gz);
    put("idx", "labels.idx1.gz", lab_opt, 3, gz, g);
    uint32_t big[3] = {0x7FFFFFFF, 28, 28};
    n = idx_bytes(buf, 3, big, pix, 4);
    put("idx", "absurd_header.idx3", img_opt, 3, buf, n);

    /* ---- latent files (src/io/latent.c): one the AE decodes (latent 2, 1x4x4), a wider one, a
     * truncated one, a NaN, a wrong magic */
    {
        float z[6] = {0.5f, -1.25f, 3.0f, 0.0f, -0.0f, 1e-3f};
        ng_latents l = {.n = 3, .latent = 2, .c = 1, .h = 4, .w = 4, .z = z};
        char lp[1024];
        snprintf(lp, sizeof lp, "%s/z.lat", tmp);
        if (ng_latents_write(lp, &l)) die("latents");
        put_file("latent", "ae_3x2.lat", NULL, 0, lp);
        l.n = 1; l.latent = 6; l.c = 3; l.h = 28; l.w = 28;
        if (ng_latents_write(lp, &l)) die("latents");
        put_file("latent", "rgb_1x6.lat", NULL, 0, lp);
        size_t ln;
        char *lb = ng_read_file(lp, &ln);
        if (!lb) die(lp);
        put("latent", "truncated.lat", NULL, 0, lb, ln - 3);
        const float nan = NAN;
        memcpy(lb + 32 + 8, &nan, 4);
        put("latent", "nan.lat", NULL, 0, lb, ln);
        lb[0] = 'X';
        put("latent", "bad_magic.lat", NULL, 0, lb, ln);
        free(lb);
    }

    /* ---- pictures: option byte 0 (size 1 + bits 0-5, bit 7 RGB), byte 1 (extension) */
    unsigned char rgb[5 * 3 * 3];
    for (size_t i = 0; i < sizeof rgb; i++) rgb[i] = (unsigned char)(i * 37);
    struct { const char *name; int kind; unsigned char opt[2]; } pics[] = {
        {"grey.png", 0, {3, 0}}, {"rgb.png", 1, {0x80 | 4, 0}}, {"rgb.jpg", 2, {0x80 | 2, 1}}, {"grey.bmp", 3, {1, 2}},
    };
    for (size_t i = 0; i < sizeof pics / sizeof *pics; i++) {
        membuf m = {0};
        int ok = pics[i].kind == 0 ? stbi_write_png_to_func(mem_put, &m, 5, 3, 1, rgb, 5)
               : pics[i].kind == 1 ? stbi_write_png_to_func(mem_put, &m, 5, 3, 3, rgb, 15)
               : pics[i].kind == 2 ? stbi_write_jpg_to_func(mem_put, &m, 5, 3, 3, rgb, 80)
               : stbi_write_bmp_to_func(mem_put, &m, 5, 3, 1, rgb);
        if (!ok) die("picture");
        put("image", pics[i].name, pics[i].opt, 2, m.p, m.n);
        free(m.p);
    }
    /* the smallest GIF: 1x1, one colour */
    const unsigned char gif[] = {'G', 'I', 'F', '8', '9', 'a', 1, 0, 1, 0, 0x80, 0, 0, 0xFF, 0xFF, 0xFF, 0, 0, 0,
                                 0x21, 0xF9, 4, 1, 0, 0, 0, 0, 0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0, 2, 2, 0x44, 1, 0, 0x3B};
    const unsigned char gif_opt[2] = {0x80 | 1, 3};
    put("image", "one.gif", gif_opt, 2, gif, sizeof gif);

    /* ---- text corpora */
    put("text", "english.txt", NULL, 0, TEXT_EN, strlen(TEXT_EN));
    put("text", "portuguese.txt", NULL, 0, TEXT_PT, strlen(TEXT_PT));
    const char *texts[][2] = {
        {"quotes.txt", "\"Tis true,' he said -- 'tis (so) [true]; pre- and post-war o' soldiers' 10:30 1/2 1931\xE2\x80\x93" "2009\n"},
        {"emoji.txt", "\xF0\x9F\x98\x80 caf\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87 \xE2\x80\x8B\xC2\xA0tab\there\r\nend"},
        {"latin1.txt", "ol\xE1 cora\xE7\xE3o\n"},                            /* Latin-1, not UTF-8 */
        {"overlong.txt", "a\xC0\xAF" "b"},
        {"surrogate.txt", "x\xED\xA0\x80y"},
        {"truncated.txt", "abc\xE2\x82"},
        {"beyond.txt", "\xF4\x90\x80\x80"},
    };
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) put("text", texts[i][0], NULL, 0, texts[i][1], strlen(texts[i][1]));
    put("text", "nul.txt", NULL, 0, "a\0b\n", 4);

    /* ---- command lines: arguments after "nanogen", NUL-separated */
    const char *cmds[][2] = {
        {"train_gpt", "train\0gpt\0--data\0data/x.txt\0--out\0runs/x\0--preset\0baby\0--steps\0100\0--lr\0" "3e-4\0--n-head\0" "4\0--n-embd\0" "128\0"},
        {"train_bigram", "train\0bigram\0--data\0x\0--out\0y\0--tokenizer\0word\0--vocab-size\0" "500\0--seed\0" "18446744073709551615\0"},
        {"train_resume", "train\0--resume\0runs/x\0--steps\0" "200\0--unknown\0skip\0--init-from\0z\0"},
        {"train_vae", "train\0vae\0--data\0fashion-mnist\0--out\0r\0--arch\0conv\0--latent\0" "2\0--noise\0gaussian:0.3\0--epochs\0" "1\0"},
        {"train_dae", "train\0dae\0--data\0d\0--out\0o\0--noise\0mask:0.5\0--image-size\0" "32\0--channels\0" "3\0"},
        {"sample", "sample\0runs/x\0--prompt\0ROMEO:\0--tokens\0" "50\0--temperature\0" "0.8\0--top-k\0" "40\0--top-p\0" "0.9\0--num-samples\0" "3\0--batch\0"},
        {"sample_img", "sample\0runs/vae\0--out\0grid.png\0--n\0" "16\0--manifold\0--zoom\0" "2\0"},
        {"eval", "eval\0runs/x\0--data\0x.txt\0--batch-size\0" "8\0--skip-unknown\0"},
        {"next", "next\0runs/x\0--prompt\0the \0--temperature\0" "0.5,1\0" "2\0--top\0" "5\0--json\0"},
        {"attention", "attention\0runs/x\0--prompt\0abc\0--layer\0all\0--head\0" "1\0--out\0a.png\0"},
        {"embeddings", "embeddings\0runs/x\0--out\0e.svg\0--points\0" "50\0"},
        {"plot", "plot\0runs/x\0--keys\0train_loss,val_loss\0--x\0step\0--log-y\0--title\0T\0"},
        {"interpolate", "interpolate\0runs/vae\0--out\0w.png\0--frames\0" "5\0--rows\0" "2\0--from-test\0"},
        {"info", "info\0runs/x\0"},
        {"reconstruct", "reconstruct\0runs/vae\0--in\0a.png\0b.jpg\0--out\0r.png\0--noise\0mask:0.5\0"},
        {"encode", "encode\0runs/ae\0--in\0a.png\0b.png\0c.png\0--out\0z.lat\0"},
        {"decode", "decode\0runs/ae\0--in\0z.lat\0--out\0p.png\0--ncol\0" "4\0"},
        {"score", "score\0runs/vae\0--data\0fashion-mnist\0--out\0w.png\0--csv\0s.csv\0--n-worst\0" "16\0--positive-class\0Sneaker\0"},
        {"sample_idx", "sample\0runs/gan\0--n\0" "1000\0--idx\0gen\0"},
        {"train_exclude", "train\0ae\0--data\0fashion-mnist\0--out\0o\0--exclude-class\0" "7\0"},
        {"help", "train\0--help\0"},
        {"bad_number", "train\0gpt\0--data\0x\0--out\0y\0--steps\0-5\0--lr\0nan\0"},
        {"serve", "serve\0runs/x\0runs/vae\0--name\0a\0--name\0b\0--port\0" "0\0--max-streams\0" "4\0--api-key\0k\0"},
    };
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        /* the length: up to the double NUL that ends the literal (each ends with an explicit \0
         * before the compiler's, so the scan never reads past it) */
        const char *s = cmds[i][1];
        size_t len = 0;
        while (s[len] || s[len + 1]) len++;
        put("cli", cmds[i][0], NULL, 0, s, len);
    }
    /* serve: method NUL url NUL headers ("Name: value" lines) NUL body (fuzz/fuzz_serve.c) */
#define JSON_HDR "Content-Type: application/json\nAuthorization: Bearer key"
    static const char *const reqs[][5] = {
        {"models", "GET", "/v1/models", "Authorization: Bearer key", ""},
        {"model_one", "GET", "/v1/models/tiny", "", ""},
        {"healthz", "GET", "/healthz", "", ""},
        {"metrics", "GET", "/metrics", "", ""},
        {"index", "GET", "/", "", ""},
        {"app_js", "GET", "/app.js", "", ""},
        {"options", "OPTIONS", "/v1/completions", "Origin: https://example.org", ""},
        {"completion", "POST", "/v1/completions", JSON_HDR, "{\"model\":\"tiny\",\"prompt\":\"ROMEO:\",\"max_tokens\":4,\"seed\":1}"},
        {"completion_all", "POST", "/v1/completions", JSON_HDR, "{\"model\":\"tiny\",\"prompt\":[\"hello\"],\"max_tokens\":3,\"temperature\":0.5,"
            "\"top_p\":0.9,\"top_k\":5,\"n\":2,\"stop\":[\"e\",\"o \"],\"logprobs\":3,\"seed\":7,\"echo\":false}"},
        {"completion_stream", "POST", "/v1/completions", JSON_HDR, "{\"model\":\"tiny\",\"prompt\":\"the \",\"stream\":true,\"n\":2,\"logprobs\":1,\"stop\":\"a\"}"},
        {"completion_greedy", "POST", "/v1/completions", JSON_HDR, "{\"model\":\"tiny\",\"prompt\":\"ROMEO: hello world, and the\",\"temperature\":0}"},
        {"completion_bad_type", "POST", "/v1/completions", JSON_HDR, "{\"model\":\"tiny\",\"temperature\":\"hot\",\"stop\":[1]}"},
        {"completion_image_model", "POST", "/v1/completions", JSON_HDR, "{\"model\":\"vae\"}"},
        {"chat", "POST", "/v1/chat/completions", JSON_HDR, "{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"},
        {"next", "POST", "/v1/nanogen/next", JSON_HDR, "{\"model\":\"tiny\",\"prompt\":\"ROM\",\"temperatures\":[0,0.5,1,2],\"top\":5}"},
        {"attention", "POST", "/v1/nanogen/attention", JSON_HDR, "{\"model\":\"tiny\",\"prompt\":\"hello world\"}"},
        {"img_sample", "POST", "/v1/nanogen/images/sample", JSON_HDR, "{\"model\":\"vae\",\"n\":4,\"seed\":3}"},
        {"img_decode", "POST", "/v1/nanogen/images/decode", JSON_HDR, "{\"model\":\"vae\",\"z\":[0.5,-1]}"},
        {"img_interpolate", "POST", "/v1/nanogen/images/interpolate", JSON_HDR, "{\"model\":\"vae\",\"steps\":3}"},
        {"img_manifold", "POST", "/v1/nanogen/images/manifold", JSON_HDR, "{\"model\":\"vae\",\"n\":3}"},
        {"deep", "POST", "/v1/completions", JSON_HDR, "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"},
        {"not_json", "POST", "/v1/nanogen/next", "Content-Type: text/plain", "{}"},
        {"wrong_method", "DELETE", "/v1/models", "", ""},
    };
    for (size_t i = 0; i < sizeof reqs / sizeof *reqs; i++) {
        const size_t lm = strlen(reqs[i][1]), lu = strlen(reqs[i][2]);
        const char *h = reqs[i][3], *body = reqs[i][4];
        const size_t lh = strlen(h), lb = strlen(body);
        size_t n = lm + 1 + lu + 1 + lh + 1 + lb;
        char *b = malloc(n);
        if (!b) die("serve seed");
        memcpy(b, reqs[i][1], lm + 1);
        memcpy(b + lm + 1, reqs[i][2], lu + 1);
        memcpy(b + lm + lu + 2, h, lh + 1);
        memcpy(b + lm + lu + lh + 3, body, lb);
        put("serve", reqs[i][0], NULL, 0, b, n);
        free(b);
    }
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd) != 0) fprintf(stderr, "make_seeds: could not remove %s\n", tmp);
    printf("seeds written to %s\n", root);
    return 0;
}

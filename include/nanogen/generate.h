/* nanogen/generate.h - using a trained text model: the text generator (ng_generator: prompt,
 * streams, temperature, top-k, top-p), the KV-cache inference under it (ng_infer_*), drawing a
 * token from logits, and inspecting a model (next-token probabilities, attention).
 * Part of <nanogen.h>. */
#ifndef NANOGEN_GENERATE_H
#define NANOGEN_GENERATE_H

#include "core.h"
#include "model.h"
#include "io.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ KV-cache inference, sampling (src/infer/) */
/* Incremental inference with a KV cache for n_streams independent streams that advance
 * together. ng_infer_step feeds one token per stream and returns the next-token logits
 * (n_streams x V, owned by the ng_infer). When the context is full (block_size tokens), the
 * cache is rebuilt from the last `keep` tokens (default block_size/2; block_size-1 gives
 * exactly "crop to the last T tokens" at the price of a rebuild per token). */
typedef struct ng_infer ng_infer;
NG_API ng_infer *ng_infer_new(ng_model *m, int n_streams);
NG_API void ng_infer_free(ng_infer *s);
NG_API void ng_infer_reset(ng_infer *s);
NG_API void ng_infer_set_keep(ng_infer *s, int keep);
NG_API const float *ng_infer_step(ng_infer *s, const int32_t *tokens);
/* Attention probabilities of the last step for one layer and stream: H rows of block_size
 * floats, of which the first *n_ctx are used; NULL for a bigram or before the first step. */
NG_API const float *ng_infer_attention(const ng_infer *s, int layer, int stream, int *n_ctx);

/* Draw the next token from logits (V): divide by temperature (0: argmax), keep the top_k
 * largest (<=0: all), then the smallest set with probability >= top_p (>=1: all; 0: the
 * most likely token), softmax,
 * one draw. work: scratch of 2*V floats. If p_drawn is non-NULL it receives the probability
 * the drawn token had in the distribution it was drawn from. */
NG_API int ng_sample_logits(const float *logits, int V, float temperature, int top_k, float top_p,
                            ng_rng *rng, float *work, float *p_drawn);

/* ------------------------------------------------------------------ generating text (src/infer/generate.c) */
/* A generator draws text from a text model, one token per stream per call, with the KV cache:
 * n_streams streams advance together (a batch), each with its own RNG and streaming decoder. */
typedef struct {
    float temperature;        /* 1 (0: greedy) */
    int top_k;                /* 0: every token */
    float top_p;              /* 1: every token */
    uint64_t seed;            /* stream s of round r draws from seed + 0x9E3779B97F4A7C15 * (r + s) */
    int exact_context;        /* past the block size, rebuild from the last T-1 tokens at every token
                                 (nanoGPT's crop, slower); else from the last T/2 when the context is full */
} ng_gen_settings;
NG_API void ng_gen_defaults(ng_gen_settings *s);
typedef struct ng_generator ng_generator;
/* A generator of n_streams streams of m (a text kind) and its tokenizer (both stay the
 * caller's); refused up front, naming what it needs, when their caches do not fit in memory.
 * NULL + error. */
NG_API ng_generator *ng_generator_new(ng_model *m, const ng_tokenizer *tok, int n_streams, const ng_gen_settings *s);
NG_API void ng_generator_free(ng_generator *g);
/* A prompt as token ids (malloc'd, *n of them): valid UTF-8 (else an error naming the offset),
 * a character a char vocabulary lacks is an error naming it; *n_unknown (may be NULL): words a
 * word vocabulary reads as <unk>. An empty prompt is the model's newline token (as nanoGPT
 * starts), else token 0. NULL + error. */
NG_API int32_t *ng_generator_encode(const ng_generator *g, const char *text, size_t len, size_t *n, size_t *n_unknown);
/* Start round `round` (0, 1, ...: the RNGs' seeds) of every stream from ids[0..n). */
NG_API int ng_generator_start(ng_generator *g, const int32_t *ids, size_t n, int round);
/* The next token of every stream (n_streams ids, owned by g); *probs (may be NULL) receives the
 * probability each was drawn with (after temperature, top-k and top-p). */
NG_API const int32_t *ng_generator_next(ng_generator *g, const float **probs);
/* Stream s's text for its next token id (the prompt's, then the drawn ones, in order): whole
 * UTF-8 characters, words spaced naturally, into buf (NUL-terminated); its length. */
NG_API size_t ng_generator_text(ng_generator *g, int s, int32_t id, char *buf, size_t cap);
NG_API int ng_generator_streams(const ng_generator *g);

/* ------------------------------------------------------------------ inspecting models */
/* (src/infer/inspect.c: what `nanogen next|attention` show; `embeddings` adds ng_pca, eval.h.)
 * Next-token probabilities: softmax(logits / temperature) into probs (V floats); temperature 0
 * puts all the mass (1) on the argmax (the lowest id of equals). NG_ERR + error for V < 1, a
 * negative / NaN / infinite temperature, or a NaN / +inf logit. */
NG_API int ng_next_probs(const float *logits, int V, float temperature, float *probs);
/* Shannon entropy of a distribution of V probabilities, in bits (0 log 0 = 0). */
NG_API double ng_entropy_bits(const float *p, int V);
/* The next-token logits (V floats into logits) after the tokens ids[0..n), run from an empty
 * KV cache; a sequence longer than block_size is cropped to its last block_size tokens. */
NG_API int ng_model_next_logits(ng_model *m, const int32_t *ids, int n, float *logits);
/* The attention probabilities of a GPT over ids[0..n), 1 <= n <= block_size: att receives
 * L*H*n*n floats, att[((l*H + h)*n + i)*n + j] = how much position i attends to position j in
 * head h of layer l (each row sums to 1; zero above the diagonal: causal). logits (V floats,
 * may be NULL) receives the next-token logits after the last token. NG_ERR for a bigram. */
NG_API int ng_model_attention(ng_model *m, const int32_t *ids, int n, float *att, float *logits);

#ifdef __cplusplus
}
#endif
#endif

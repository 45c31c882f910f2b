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
/* The end of stream s's text (a bpe token may have left half a character: U+FFFD); its length. */
NG_API size_t ng_generator_text_end(ng_generator *g, int s, char *buf, size_t cap);
NG_API int ng_generator_streams(const ng_generator *g);

/* ------------------------------------------------------------------ a pool of streams (src/infer/pool.c) */
/* Streams that join and leave between tokens, each with its own prompt, settings, seed and
 * length, advanced together one token per ng_pool_step in one batched forward pass over the
 * active streams (the server's scheduler: `nanogen serve`). A stream's tokens depend only on its
 * own prompt, settings and seed, never on the other streams (which, how many, when they joined,
 * the thread count): every product runs the batched kernels, whose rows do not depend on each
 * other, and each stream attends at its own position (bit for bit with nanogen's own GEMM, on
 * CPUs with AVX2 or AVX-512; elsewhere OpenBLAS's, which may round rows differently). A stream
 * with seed S draws exactly the tokens of stream 0 of an ng_generator of two or more streams
 * with seed S (`nanogen sample --batch`), whatever the prompt's length (past the block size the
 * cache is rebuilt as the generator's is). Not thread-safe: one thread drives a pool. */
typedef struct ng_pool ng_pool;
#define NG_POOL_MAX_TOP 20
typedef struct {
    ng_gen_settings gen;      /* temperature, top_k, top_p, seed (exact_context: as the generator's) */
    int max_tokens;           /* tokens to draw, >= 1 */
    int top_logprobs;         /* alternatives reported per token, 0..NG_POOL_MAX_TOP */
} ng_pool_request;
/* What one stream did in one step. */
typedef struct {
    int slot;                 /* the stream (ng_pool_add's return) */
    int32_t token;            /* the token drawn */
    float logprob;            /* its natural log-probability under the model (temperature 1) */
    int n_top;                /* the most likely alternatives (temperature 1), best first */
    int32_t top_ids[NG_POOL_MAX_TOP];
    float top_logprobs[NG_POOL_MAX_TOP];
    const char *text;         /* the token's text: whole UTF-8 characters (may be empty; a stream's last
                                 event also carries the decoder's end), owned by the pool until the next step */
    size_t text_len;
    int done;                 /* max_tokens reached: the slot is free again after this step */
} ng_pool_event;
/* A pool of up to max_streams streams of a text model m with its tokenizer (both stay the
 * caller's); refused up front when the caches do not fit in memory. NULL + error. */
NG_API ng_pool *ng_pool_new(ng_model *m, const ng_tokenizer *tok, int max_streams);
NG_API void ng_pool_free(ng_pool *p);
NG_API int ng_pool_capacity(const ng_pool *p);
NG_API int ng_pool_active(const ng_pool *p);
/* A new stream from the prompt ids[0..n) (n >= 1; a prompt longer than the context is fed as
 * the generator feeds it): its slot (>= 0, the lowest free one), or -1 + error when the pool is
 * full ("the pool is full (N streams)") or the request is invalid, naming the field: temperature
 * finite and >= 0, top_k >= 0, top_p in [0, 1], max_tokens >= 1, top_logprobs 0..NG_POOL_MAX_TOP,
 * every id in the vocabulary. The prompt (copied) is fed at the stream's first step, and its ids
 * go through the stream's decoder unreported, so that the events' texts continue the prompt's
 * text exactly as `nanogen sample` prints the continuation. */
NG_API int ng_pool_add(ng_pool *p, const int32_t *ids, size_t n, const ng_pool_request *r);
/* Ends a stream now (a client gone, a stop sequence seen): its slot is free at once. */
NG_API void ng_pool_remove(ng_pool *p, int slot);
/* One token for every active stream (a new stream's prompt is fed first, in the same pass; the
 * last token a stream draws is never fed): *ev receives *n_ev events (owned by the pool until
 * the next call), one per active stream, in slot order; none when no stream is active. A
 * stream's alternatives are its top_logprobs most likely tokens (ties: the lower id first). A
 * stream done after this step (max_tokens drawn) has left: its slot is free. NG_OK, or NG_ERR +
 * error. */
NG_API int ng_pool_step(ng_pool *p, const ng_pool_event **ev, int *n_ev);

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

/* Image models (ae, dae, vae, gan): generation and inspection (src/infer/images.c). Pictures
 * are n x (c*h*w) floats, a VAE's / AE's in [0,1], a GAN's in [-1,1]; what returns a pointer
 * returns a malloc'd array (the caller frees it), or NULL + error. */
/* What a checkpoint's training state says about its data (defaults: size 28, noise 0.3; the
 * class --exclude-class left out of the train split, or -1). */
typedef struct { char data[4096]; int size; float noise; int noise_mask; int exclude_class; /* -1: none */ } ng_image_train_info;
/* Load an ae, dae, vae or gan checkpoint; errors say what DIR is when it is not one (missing,
 * a text model, a classifier), naming `what` (the command or flag asking). t may be NULL. */
NG_API int ng_image_model_load(const char *dir, const char *what, ng_model **m, ng_image_train_info *t);
/* The test split the model was trained beside (data: another data set, or NULL), checked
 * against the model's picture shape; *spec: the data set used. */
NG_API int ng_image_test_load(const ng_model *m, const ng_image_train_info *t, const char *data, ng_images *te, const char **spec);
/* Fashion-MNIST's / MNIST's class names for a data set spec (n_classes <= 10), else NULL. */
NG_API const char *const *ng_dataset_class_names(const char *spec, int n_classes);
/* A class of a data set of n_classes by its number (0..n_classes-1) or its name (those of
 * ng_dataset_class_names, any case) into *cls; NG_ERR + an error listing the classes. */
NG_API int ng_dataset_class_find(const char *spec, int n_classes, const char *name, int *cls);
/* The decoder over n latents z (n x latent): n pictures (eval mode). */
NG_API float *ng_image_decode(ng_model *m, const float *z, int n);
/* The encoder over n pictures x in [0,1]: n x latent codes (AE/DAE: the code; VAE: the mean). */
NG_API float *ng_image_encode(ng_model *m, const float *x, int n);
/* n pictures from the prior: z ~ N(0,1) from seed, decoded (vae, gan). */
NG_API float *ng_image_sample(ng_model *m, int n, uint64_t seed);
/* A synthetic data set: n pictures from the prior (ng_image_sample's, from seed; vae, gan),
 * written either as one PNG each in out_dir (ng_png_write_each) or as an IDX image file at
 * idx_path (grey models only; ng_idx_load_images reads it). The other argument is NULL. */
NG_API int ng_image_sample_save(ng_model *m, int n, uint64_t seed, const char *out_dir, const char *idx_path);
/* Reconstructions of n pictures x: decode(encode(x)); a DAE encodes a corrupted copy (t's
 * noise, from seed), written to noisy (n pictures) when given. */
NG_API float *ng_image_reconstruct(ng_model *m, const float *x, int n, const ng_image_train_info *t, uint64_t seed, float *noisy);
/* The decoder over an n x n grid of Gaussian quantiles (5%..95%) of a 2-D latent (vae or gan):
 * row i from high z2 (top) to low, column j from low z1 to high. ng_image_manifold_check: the
 * model's part of that check alone (kind and latent size). */
NG_API int ng_image_manifold_check(const ng_model *m);
NG_API float *ng_image_manifold(ng_model *m, int n);
/* rows linear walks of steps >= 2 pictures in latent space, as a grid of rows x cols
 * pictures: te NULL: between two latents z ~ N(0,1) from seed (vae, gan; cols = steps); else
 * between the latents of two distinct random test pictures of te (not a gan), shown at both
 * ends of the row (cols = steps + 2). */
NG_API float *ng_image_interpolate(ng_model *m, const ng_images *te, int rows, int steps, uint64_t seed);
/* The latents of n pictures x as 2-D points (px, py, n each): a 2-D latent as is, a 1-D one
 * with y = 0, a wider one projected to its first two principal components (var: the fraction
 * of the variance each explains; 0 otherwise). */
NG_API int ng_image_latents_2d(ng_model *m, const float *x, int n, double *px, double *py, double var[2]);
/* The test loss per image of an ae, dae or vae as training computes it: reconstruction BCE
 * summed over the pixels (*rec) and the VAE's KL (*kl; one draw of z per picture from seed; a
 * DAE's corruption as in training, from seed). */
NG_API int ng_image_test_loss(ng_model *m, const ng_images *te, const ng_image_train_info *t, uint64_t seed, double *rec, double *kl);
/* A GAN's discriminator on the test pictures of te and on n_fake samples (ng_image_sample's
 * from seed): sums of D's probabilities and of its right calls (real > 0.5, fake < 0.5). */
typedef struct { double d_real, d_fake, acc_real, acc_fake; int n_real, n_fake; } ng_gan_d_stats;
NG_API int ng_gan_d_eval(ng_model *m, const ng_images *te, int n_fake, uint64_t seed, ng_gan_d_stats *st);
/* A corruption of pictures (the DAE's, ng_dae_corrupt): Gaussian noise of std `level` (mask 0)
 * or pixels zeroed with probability `level` (mask 1). ng_noise_parse reads "gaussian:S"
 * (0..10) or "mask:P" (0..1); NG_ERR + error naming the text otherwise. */
typedef struct { int mask; float level; } ng_noise;
NG_API int ng_noise_parse(const char *spec, ng_noise *nz);
/* The user's own pictures for a model: ng_pictures_load at the model's size and channels
 * (resized and converted as a picture folder is for training). */
NG_API int ng_image_load_pictures(const ng_model *m, const char *const *paths, int n, ng_images *out);
/* n pictures x through an ae, dae or vae (noise NULL: as they are; else a corrupted copy from
 * seed goes in): a grid of n rows of *cols pictures, the picture | the corrupted copy (with
 * noise) | the reconstruction (*cols 2 or 3). */
NG_API float *ng_image_reconstruct_panels(ng_model *m, const float *x, int n, const ng_noise *noise, uint64_t seed, int *cols);
/* The encoder's codes of n pictures x (ng_image_encode) as latents with the model's picture
 * shape (*out owned by out: ng_latents_free). */
NG_API int ng_image_encode_latents(ng_model *m, const float *x, int n, ng_latents *out);
/* The decoder over a latent file's codes: NULL + error (naming `name`) when their size or
 * picture shape is not the model's. */
NG_API float *ng_image_decode_latents(ng_model *m, const ng_latents *l, const char *name);

/* Inspecting a text model (src/infer/inspect.c; `nanogen next`, `embeddings`, `attention`).
 * The next-token table after ids[0..n): the context the model sees (a GPT: the last
 * block_size tokens; a bigram: the last one), the logits, the probabilities at each of nt
 * temperatures (probs[k*V + id]), the ids by logit descending (order; ties: lower id
 * first), the entropy in bits and the mass outside the first `top` rows at each temperature. */
#define NG_NEXT_MAX_TEMPS 8
typedef struct {
    int V, ctx, nt, top;
    float temps[NG_NEXT_MAX_TEMPS];
    float *logits, *probs;
    int *order;
    double entropy[NG_NEXT_MAX_TEMPS], other[NG_NEXT_MAX_TEMPS];
} ng_next_table;
NG_API int ng_next_table_compute(ng_model *m, const int32_t *ids, size_t n, const float *temps, int nt, int top, ng_next_table *t);
NG_API void ng_next_table_free(ng_next_table *t);
/* A token's kind for colouring (Unicode classes of its first code point): a char model's
 * (vowels, consonants, capital vowels, capital consonants, other scripts' letters, digits,
 * punctuation, spaces, other: an accented letter is a vowel or consonant of its base letter)
 * or a word model's (word = 1: lowercase, capitalised, other scripts, numbers, punctuation,
 * <unk>/newline, other); ng_token_kind_names: their names (*n of them). */
NG_API int ng_token_kind(const char *token, int word);
NG_API const char *const *ng_token_kind_names(int word, int *n);
/* Whether a token is whitespace only. */
NG_API int ng_token_is_space(const char *token);
/* The token embedding table (gpt: wte; bigram: its logit table's rows) of up to N tokens
 * projected to 2-D by PCA. Which tokens: given a text (ids, n_text), its N most frequent;
 * else a word model's N most frequent words (ids 1..N); a char model's whole vocabulary when
 * it fits, else N tokens letters first (a à á â ã b c ç ...). */
typedef enum { NG_EMB_BY_COUNT, NG_EMB_WORDS, NG_EMB_ALL, NG_EMB_LETTERS_FIRST } ng_emb_order;
typedef struct {
    int n, dim;
    ng_emb_order order;
    int *ids, *kind;          /* n tokens and their ng_token_kind */
    double *x, *y;            /* their coordinates on the two principal axes */
    double explained[2];      /* the fraction of the variance along each */
} ng_embeddings_view;
NG_API int ng_embeddings_2d(ng_model *m, const ng_tokenizer *tok, const int32_t *text, size_t n_text, int N, ng_embeddings_view *v);
NG_API void ng_embeddings_view_free(ng_embeddings_view *v);
/* One head's n x n attention map (ng_model_attention) summed up: out[0] the mean weight on
 * the token itself, out[1] on the previous token, out[2] on the first token (both over
 * positions 1..n-1), out[3] the mean distance looked back, in tokens. */
NG_API void ng_attention_head_summary(const float *att, int n, double out[4]);

/* The tokens of ng_embeddings_2d as an SVG scatter (src/io/embeddings_svg.c, `nanogen
 * embeddings`): a point per token with its label (labels: n strings), coloured by kind
 * (ng_token_kind of a char or word model), axes the two principal components with their
 * share of the variance, a title and subtitle. */
NG_API int ng_embeddings_svg(const char *path, const ng_embeddings_view *v, const char *const *labels, int word, const char *title, const char *subtitle);

#ifdef __cplusplus
}
#endif
#endif

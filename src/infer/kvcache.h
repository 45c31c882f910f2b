/* kvcache.h - what the KV cache (src/infer/kvcache.c) offers the pool of streams
 * (src/infer/pool.c) beside its public ng_infer_* (include/nanogen/generate.h): streams at their
 * own positions. Private to the library. */
#ifndef NG_INFER_KVCACHE_H
#define NG_INFER_KVCACHE_H
#include "core/internal.h"

/* Whether the KV caches and buffers of n_streams streams of a model of config c fit in memory
 * (80% of what is available): 1, else 0 with *need and *avail (bytes) for the caller's error. */
int ng__infer_fits(const ng_model_config *c, int n_streams, double *need, double *avail);
/* An ng_infer's streams (its n_streams). */
int ng__infer_streams(const ng_infer *s);
/* Stream `stream` starts again from an empty context; when its context is full it keeps its last
 * `keep` tokens (< 0: the ng_infer's, ng_infer_set_keep; clamped to 0 .. block_size-1). */
void ng__infer_start(ng_infer *s, int stream, int keep);
/* The tokens stream `stream` holds in its context (-1: no such stream). */
int ng__infer_pos(const ng_infer *s, int stream);
/* One pass over ns distinct streams, each at its own position: stream streams[k] takes its next
 * n[k] >= 1 tokens tok[k][0 .. n[k]) (a prompt: several; a decoding step: one), exactly as
 * ng_infer_step feeding them one at a time would, context rebuilds included (the window that
 * step would leave, its positions past what the cache holds computed as rows of one pass).
 * Returns the next-token logits after each stream's last token: ns x V floats in list order,
 * owned by s until its next call. Every product runs the packed GEMM, whose rows do not depend on
 * each other, and each row attends over its own stream: a stream's logits are bit for bit the
 * same whatever streams are listed with it, and the same as an ng_infer_step of an ng_infer of
 * n_streams >= 2 gives. Needs n_streams >= 2 (one stream: ng_infer_step); a stream fed here
 * must not be fed by ng_infer_step. NULL + error for a bad list. */
const float *ng__infer_feed(ng_infer *s, int ns, const int *streams, const int32_t *const *tok, const int *n);

#endif

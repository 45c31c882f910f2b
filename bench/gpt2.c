/* gpt2.c - make bench's GPT-2-small rows, nanogen's side (bench/bench.py runs it beside
 * bench/torch_gpt2.py): a GPT of GPT-2 small's shape (vocab 50257, context 1024, 12 layers, 12
 * heads, 768; random weights, SPEC.md's init, no tokenizer needed) made through the library.
 *   gpt2 train B STEPS [THREADS]   AdamW steps on random tokens: ms of each step after the first
 *   gpt2 sample N [THREADS]        one stream of N greedy tokens through the KV cache: tok/s,
 *                                  the weight bytes read per token and this machine's read bandwidth
 * Prints one JSON line. */
#include "nanogen.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static ng_model *gpt2(void) {
    ng_model_config c = {.kind = NG_MODEL_GPT, .vocab_size = 50257, .block_size = 1024, .n_layer = 12, .n_head = 12, .n_embd = 768};
    ng_model *m = ng_model_new(&c);
    if (!m) { fprintf(stderr, "gpt2: %s\n", ng_last_error()); exit(1); }
    ng_model_init(m, 1337);
    return m;
}

/* GB/s of reading a buffer much larger than the caches with every thread (the best of 5 passes):
 * what streaming the weights once per token can reach */
static double read_bandwidth(void) {
    const size_t n = (size_t)1 << 28;   /* 1 GiB of floats */
    float *a = malloc(n * sizeof *a);
    if (!a) return 0;
    #pragma omp parallel for
    for (size_t i = 0; i < n; i++) a[i] = (float)(i & 7);
    double best = 0;
    volatile float sink = 0;
    for (int r = 0; r < 5; r++) {
        double t0 = now();
        float s = 0;
        #pragma omp parallel for simd reduction(+ : s)
        for (size_t i = 0; i < n; i++) s += a[i];
        double gbs = n * sizeof *a / (now() - t0) / 1e9;
        sink += s;
        if (gbs > best) best = gbs;
    }
    (void)sink;
    free(a);
    return best;
}

int main(int argc, char **argv) {
    if (argc < 3 || (strcmp(argv[1], "train") && strcmp(argv[1], "sample"))) {
        fprintf(stderr, "usage: gpt2 train B STEPS [THREADS] | gpt2 sample N [THREADS]\n");
        return 2;
    }
    const int train = !strcmp(argv[1], "train");
    const int threads = argc > (train ? 4 : 3) ? atoi(argv[train ? 4 : 3]) : 0;
    if (threads > 0) ng_set_threads(threads);
    ng_model *m = gpt2();
    const ng_model_config *c = ng_model_cfg(m);
    ng_rng r;
    ng_rng_seed(&r, 1);
    if (train) {
        const int B = atoi(argv[2]), steps = atoi(argv[3]), T = c->block_size;
        ng_graph *g = ng_graph_new();
        ng_lm_graph lg;
        if (!g || ng_model_build(m, g, B, T, &lg)) { fprintf(stderr, "gpt2: %s\n", ng_last_error()); return 1; }
        ng_graph_set_training(g, 1);
        ng_params *P = ng_model_params(m);
        ng_adamw_cfg oc = {.lr = 6e-4f, .beta1 = 0.9f, .beta2 = 0.99f, .eps = 1e-8f, .weight_decay = 0.1f, .grad_clip = 1.0f,
                           .warmup = 0, .steps = steps, .min_lr = 6e-5f};
        ng_adamw *o = ng_adamw_new(P, &oc);
        double total = 0;
        float loss = 0;
        for (int s = 0; s <= steps; s++) {   /* step 0: warm-up (first touch of the memory, GEMM choices), not counted */
            for (int i = 0; i < B * T; i++) {
                lg.idx->idata[i] = (int32_t)ng_rng_below(&r, (uint32_t)c->vocab_size);
                lg.targets->idata[i] = (int32_t)ng_rng_below(&r, (uint32_t)c->vocab_size);
            }
            double t0 = now();
            ng_params_zero_grad(P);
            ng_graph_forward(g);
            ng_graph_backward(g);
            ng_adamw_step(o, 6e-4f);
            double dt = now() - t0;
            if (s > 0) total += dt;
            loss = lg.loss->data[0];
            fprintf(stderr, "gpt2: step %d: loss %.4f, %.0f ms\n", s, loss, dt * 1e3);
        }
        printf("{\"ms_per_step\": %.1f, \"tok_per_s\": %.1f, \"B\": %d, \"T\": %d, \"threads\": %d, \"loss\": %.4f}\n",
               total / steps * 1e3, (double)steps * B * T / total, B, T, ng_get_threads(), loss);
        ng_adamw_free(o);
        ng_graph_free(g);
    } else {
        const int N = atoi(argv[2]);
        ng_infer *inf = ng_infer_new(m, 1);
        if (!inf) { fprintf(stderr, "gpt2: %s\n", ng_last_error()); return 1; }
        int32_t tok = 50256;
        ng_infer_step(inf, &tok);   /* warm-up: the sampler's copies of the weights are read once */
        double t0 = now();
        for (int i = 0; i < N; i++) {
            const float *lg = ng_infer_step(inf, &tok);
            int best = 0;
            for (int v = 1; v < c->vocab_size; v++) if (lg[v] > lg[best]) best = v;
            tok = best;
        }
        const double dt = now() - t0;
        /* weights read per token: every matrix of the blocks and the head (wte), biases and norms */
        const double C = c->n_embd, L = c->n_layer, V = c->vocab_size;
        const double bytes = 4.0 * (L * (12 * C * C + 13 * C) + V * C + 2 * C);
        const double bw = read_bandwidth();
        printf("{\"tok_per_s\": %.2f, \"tokens\": %d, \"threads\": %d, \"weight_bytes_per_token\": %.0f, \"read_GB_per_s\": %.2f, "
               "\"bound_tok_per_s\": %.2f}\n", N / dt, N, ng_get_threads(), bytes, bw, bw * 1e9 / bytes);
        ng_infer_free(inf);
    }
    ng_model_free(m);
    return 0;
}

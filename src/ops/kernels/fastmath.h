/* fastmath.h - exp and friends written so that loops over them vectorise (AVX2/FMA), with a
 * relative error of about 2e-7 (1-2 ulp) in the range used. libm's expf/tanhf are scalar calls
 * and took a third of a training step. tests/test_ops.c compares them against libm. */
#ifndef NG_FASTMATH_H
#define NG_FASTMATH_H
#include <stdint.h>

/* e^x: x = n ln2 + r with |r| <= ln2/2 (Cody-Waite), e^r by a degree-7 polynomial (Cephes'
 * coefficients), 2^n through the exponent bits. Clamped to [-87.3, 88.3]: below, the result
 * is ~1e-38 instead of a denormal or 0. NaN gives NaN: the clamp sends it to -87.3 first, so
 * that n stays a number (converting NaN to an integer is undefined behaviour, and it gave a
 * left shift of a negative value: found both by fuzz/fuzz_checkpoint.c, a checkpoint holding a
 * NaN weight, and by UBSan in the suite), and the NaN is returned at the end. Branch-free
 * (selects), so `#pragma omp simd` loops vectorise. */
static inline float ng_expf(float x0) {
    float x = x0 > -87.3f ? x0 : -87.3f;
    x = x > 88.3f ? 88.3f : x;
    /* round x/ln2 to the nearest integer with the 1.5*2^23 trick (pure arithmetic) */
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union { int32_t i; float f; } s;
    s.i = ((int32_t)n + 127) << 23;
    return x0 != x0 ? x0 : p * s.f;
}

/* 1 / (1 + e^-x) */
static inline float ng_sigmoidf(float x) { return 1.0f / (1.0f + ng_expf(-x)); }

/* tanh-approximation GELU as x * sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3), which equals
 * 0.5 x (1 + tanh(u)). */
#define NG_GELU_K 0.7978845608028654f
static inline float ng_gelu_f(float x) {
    float u = NG_GELU_K * (x + 0.044715f * x * x * x);
    return x * ng_sigmoidf(2.0f * u);
}
/* d gelu / dx = s + 2 x s (1 - s) du/dx with s = sigmoid(2u) */
static inline float ng_gelu_grad_f(float x) {
    float u = NG_GELU_K * (x + 0.044715f * x * x * x);
    float s = ng_sigmoidf(2.0f * u);
    float du = NG_GELU_K * (1.0f + 3.0f * 0.044715f * x * x);
    return s + 2.0f * x * s * (1.0f - s) * du;
}
/* splitmix64: advance the state x by the golden-ratio step and return its mixed value (the
 * seeding of ng_rng, core.c, and the dropout hash below) */
static inline uint64_t ng_splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
/* The dropout hash: 24 uniform bits from (seed, stream, index), splitmix64 of a mix of the
 * three. ng_hash_uniform (core.c) is this / 2^24; inline here so that the dropout loops
 * vectorise (64-bit multiplies: vpmullq on AVX-512, emulated on AVX2) instead of calling it per
 * element. */
static inline uint32_t ng_hash24(uint64_t seed, uint64_t stream, uint64_t index) {
    uint64_t x = seed ^ (stream * 0xD1B54A32D192ED03ull) ^ (index * 0x9E3779B97F4A7C15ull);
    return (uint32_t)(ng_splitmix64(&x) >> 40);
}
/* The threshold for ng_hash24 that keeps an element with probability 1 - p: u = h / 2^24 < p
 * exactly when h < ceil(p 2^24) (h and p 2^24 are exact in float), so that integer test drops the
 * same elements as ng_hash_uniform(...) < p. */
static inline uint32_t ng_drop_threshold(float p) {
    float t = p * 16777216.0f;
    uint32_t k = (uint32_t)t;
    return (float)k < t ? k + 1 : k;
}

#endif

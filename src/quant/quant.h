/* Quantized kernels: one row per type in a traits table.
 *
 * For every weight type W hypura computes with, the activations are first converted to
 * W's partner type (llama.cpp's vec_dot_type) and dotted with W's rows:
 *   F32 -> F32, F16 -> F16, BF16 -> BF16, Q4_0/Q5_0/Q8_0 -> Q8_0, Q4_1/Q5_1 -> Q8_1,
 *   Q2_K..Q6_K -> Q8_K.
 * The scalar _ref functions (quant_ref.c) are the specification; the AVX2, AVX-512 and
 * NEON files are optimisations that must agree with them (tests/test_quant.c).
 * quant_kernels() picks the best level for this CPU at run time.
 *
 * Not owned here: threading and tiling over whole matrices (ops/). */
#ifndef HY_QUANT_H
#define HY_QUANT_H

#include "quant/blocks.h"
#include "quant/types.h"
#include "util/cpu.h"

#include <stddef.h>
#include <stdint.h>

struct quant_kernels {
    enum qtype type;
    enum qtype vec_dot_type;   /* the activations' partner type */
    /* Dequantize n elements (n a multiple of the block size). */
    void (*to_float)(const void *x, float *y, int64_t n);
    /* Quantize n floats into this type (n a multiple of the block size). Set for the
     * partner types (must be bit-exact with the reference: results depend on it) and
     * F32/F16/BF16; may be NULL for weight-only types. */
    void (*from_float)(const float *x, void *y, int64_t n);
    /* *s = dot(row w of this type, row a of vec_dot_type), n elements. */
    void (*vec_dot)(int n, float *s, const void *w, const void *a);
    /* A tile: s[c * s_stride + r] = dot(w + r * w_stride, a + c * a_stride) for r < nr,
     * c < nc (strides in bytes for w and a, in floats for s). Fast versions reuse each
     * decoded weight block across several activation rows; used for prompts. */
    void (*gemm)(int n, int nr, int nc, const void *w, size_t w_stride, const void *a,
                 size_t a_stride, float *s, size_t s_stride);
};

/* The best kernels for this CPU, or NULL when t has none. */
const struct quant_kernels *quant_kernels(enum qtype t);
/* The kernels of one level (tests and benchmarks); missing ones fall back to the
 * reference. NULL when t has none or the level is not built for this architecture. */
const struct quant_kernels *quant_kernels_at(enum qtype t, enum simd_level level);

/* Fill n elements' worth of blocks of type t with random but sane values: dequantized
 * weights roughly uniform with standard deviation ~scale, scales in a realistic range,
 * no NaN/Inf. Deterministic for a given *rng state (advanced). Used by synth and tests. */
int quant_random_blocks(enum qtype t, void *dst, int64_t n, uint64_t *rng, float scale);

/* Scalar conversions (the reference; round to nearest even like F16C / ggml). */
float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);
float bf16_to_fp32(uint16_t h);
uint16_t fp32_to_bf16(float f);

#endif

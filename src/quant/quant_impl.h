/* Private to src/quant: the per-level kernel tables and the small helpers that the
 * reference and the SIMD files share (fp16 bits, K-quant scale unpacking, rounding).
 *
 * Each level file (quant_ref.c, quant_avx2.c, quant_avx512.c, quant_neon.c) defines one
 * designated-initializer table indexed by type. In a SIMD table a NULL function means
 * "use the level below" (AVX-512 -> AVX2 -> reference); quant.c merges the tables once.
 *
 * Contract of the activation (partner) blocks the dot kernels read: they come from
 * from_float, so their quants lie in [-127, 127] (never -128; the sign tricks of the
 * SIMD kernels rely on it) and Q8_1's s and Q8_K's bsums agree with their quants.
 * Lengths are whole blocks; pointers need only the natural alignment of their block
 * struct (2 bytes; 4 for F32 and Q8_K), which GGUF data and row buffers always have.
 * Inputs are finite: NaN handling of the quantizers follows no particular rule. */
#ifndef HY_QUANT_IMPL_H
#define HY_QUANT_IMPL_H

#include "quant/quant.h"

#include <string.h>

typedef void (*quant_dot_fn)(int n, float *s, const void *w, const void *a);

extern const struct quant_kernels quant_table_ref[HY_TYPE_COUNT];
#if defined(__x86_64__)
extern const struct quant_kernels quant_table_avx2[HY_TYPE_COUNT];
extern const struct quant_kernels quant_table_avx512[HY_TYPE_COUNT];
#elif defined(__aarch64__)
extern const struct quant_kernels quant_table_neon[HY_TYPE_COUNT];
#endif

/* A gemm tile made of dot products: for types without a dedicated tile kernel. */
static inline void quant_gemm_by_dot(quant_dot_fn dot, int n, int nr, int nc, const void *w,
                                     size_t w_stride, const void *a, size_t a_stride, float *s,
                                     size_t s_stride)
{
    for (int c = 0; c < nc; c++)
        for (int r = 0; r < nr; r++)
            dot(n, &s[(size_t)c * s_stride + (size_t)r],
                (const char *)w + (size_t)r * w_stride, (const char *)a + (size_t)c * a_stride);
}

/* fp16 -> fp32, exact (every binary16 value is a binary32 value). */
static inline float quant_h2f(fp16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);            /* inf, NaN (payload kept, */
        if (man)                                            /* quieted as F16C does) */
            bits |= 0x400000u;
    } else if (exp) {
        bits = sign | ((exp + 112) << 23) | (man << 13);    /* normal: rebias 15 -> 127 */
    } else if (man) {
        float f = (float)man * 0x1p-24f;                    /* subnormal: man * 2^-24 */
        return sign ? -f : f;
    } else {
        bits = sign;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* Round to nearest, ties to even, for |v| < 2^22: what ggml's nearest_int() and the
 * SSE/AVX round instructions compute in the default rounding mode. Adding 1.5 * 2^23
 * moves the fraction out of the mantissa; C's float arithmetic (no fast-math, no excess
 * precision on the targets we build for) rounds that addition to even. */
static inline int quant_round_even(float v)
{
    float t = v + 12582912.0f;
    int32_t i;
    memcpy(&i, &t, 4);
    return (i & 0x007fffff) - 0x00400000;
}

/* Q4_K / Q5_K: 8 six-bit scales and 8 six-bit mins packed in 12 bytes:
 *   j < 4: scale = q[j] & 63, min = q[j + 4] & 63
 *   j >= 4: scale = (q[j + 4] & 15) | (q[j - 4] >> 6) << 4, min = (q[j + 4] >> 4) | (q[j] >> 6) << 4 */
static inline void quant_k4_scales(const uint8_t q[12], uint8_t sc[8], uint8_t mn[8])
{
    for (int j = 0; j < 4; j++) {
        sc[j] = q[j] & 63;
        mn[j] = q[j + 4] & 63;
    }
    for (int j = 4; j < 8; j++) {
        sc[j] = (uint8_t)((q[j + 4] & 15) | ((q[j - 4] >> 6) << 4));
        mn[j] = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* Q3_K: 16 six-bit scales (stored + 32) in 12 bytes: the low 4 bits of scale j are the
 * low (j < 8) or high (j >= 8) nibble of byte j % 8; its high 2 bits are bits 2*(j/4)
 * of byte 8 + j % 4. Returns the signed scales (-32..31). */
static inline void quant_k3_scales(const uint8_t q[12], int8_t sc[16])
{
    for (int j = 0; j < 16; j++) {
        int lo = j < 8 ? q[j] & 15 : q[j - 8] >> 4;
        int hi = (q[8 + j % 4] >> (2 * (j / 4))) & 3;
        sc[j] = (int8_t)((lo | hi << 4) - 32);
    }
}

#endif

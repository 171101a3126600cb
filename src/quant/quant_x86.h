/* Helpers shared by the x86 kernel files (quant_avx2.c, quant_avx512.c); needs at
 * least AVX2 + FMA + F16C, so include it only from files built with those flags. */
#ifndef HY_QUANT_X86_H
#define HY_QUANT_X86_H

#include "quant/quant_impl.h"

#include <immintrin.h>

#define X86_INLINE static inline __attribute__((always_inline))

/* Software prefetch of the weight stream: this VM's hardware prefetcher leaves a
 * compute-bound dot far below the memory bandwidth (measured: Q4_K 3-4 GB/s without,
 * 8-10 GB/s with a lookahead of 1-4 KiB). Prefetching past the end of a row is harmless. */
#ifndef X86_PF_DIST
#define X86_PF_DIST 2048
#endif

X86_INLINE void x86_prefetch(const void *p, size_t bytes)
{
    const char *c = (const char *)p + X86_PF_DIST;
    for (size_t o = 0; o < bytes; o += 64)
        _mm_prefetch(c + o, _MM_HINT_T0);
}

X86_INLINE float x86_h2f(fp16_t h)
{
    return _cvtsh_ss(h);
}

X86_INLINE float x86_hsum_ps(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

X86_INLINE int x86_hsum_epi32(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

X86_INLINE __m256i x86_loadu256(const void *p)
{
    return _mm256_loadu_si256((const __m256i *)p);
}

X86_INLINE __m128i x86_loadu128(const void *p)
{
    return _mm_loadu_si128((const __m128i *)p);
}

/* 32 bits (little-endian u32 at p) -> 32 bytes: 0xff where the bit is set, byte i <- bit i. */
X86_INLINE __m256i x86_bits_to_bytes(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    /* byte i gets source byte i / 8; then test bit i % 8 of it */
    const __m256i spread = _mm256_shuffle_epi8(
        _mm256_set1_epi32((int)v),
        _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0));
    const __m256i bit = _mm256_set1_epi64x((int64_t)0x8040201008040201ull);
    return _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
}

/* 32 nibbles of 16 bytes -> 32 bytes: the low nibbles (elements 0-15), then the high ones. */
X86_INLINE __m256i x86_nibbles(const uint8_t *p)
{
    const __m128i b = x86_loadu128(p);
    const __m256i both = _mm256_set_m128i(_mm_srli_epi16(b, 4), b);
    return _mm256_and_si256(both, _mm256_set1_epi8(15));
}

/* Q4_K / Q5_K: the 12 packed bytes -> 16 bytes: 8 scales then 8 mins (see quant_k4_scales). */
X86_INLINE __m128i x86_k4_scales(const uint8_t *q)
{
    uint32_t u[4];
    memcpy(u, q, 12);
    const uint32_t m6 = 0x3f3f3f3f, m4 = 0x0f0f0f0f, m2 = 0x03030303;
    const uint32_t sc_lo = u[0] & m6;                                    /* scales 0-3 */
    const uint32_t sc_hi = (u[2] & m4) | ((u[0] >> 6) & m2) << 4;        /* scales 4-7 */
    const uint32_t mn_lo = u[1] & m6;                                    /* mins 0-3 */
    const uint32_t mn_hi = ((u[2] >> 4) & m4) | ((u[1] >> 6) & m2) << 4; /* mins 4-7 */
    return _mm_set_epi32((int)mn_hi, (int)mn_lo, (int)sc_hi, (int)sc_lo);
}

/* Q3_K: the 12 packed bytes -> 16 signed scales (-32..31) as bytes. */
X86_INLINE __m128i x86_k3_scales(const uint8_t *q)
{
    uint32_t u[3];
    memcpy(u, q, 12);
    const uint32_t m4 = 0x0f0f0f0f, m2 = 0x03030303;
    const uint32_t s0 = (u[0] & m4) | ((u[2] >> 0) & m2) << 4;
    const uint32_t s1 = (u[1] & m4) | ((u[2] >> 2) & m2) << 4;
    const uint32_t s2 = ((u[0] >> 4) & m4) | ((u[2] >> 4) & m2) << 4;
    const uint32_t s3 = ((u[1] >> 4) & m4) | ((u[2] >> 6) & m2) << 4;
    return _mm_sub_epi8(_mm_set_epi32((int)s3, (int)s2, (int)s1, (int)s0), _mm_set1_epi8(32));
}

/* A byte shuffle that broadcasts 16-bit lane j of each 128-bit half. */
X86_INLINE __m256i x86_word_bcast(int j)
{
    return _mm256_set1_epi16((short)((2 * j) | (2 * j + 1) << 8));
}

#endif

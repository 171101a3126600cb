/* Helpers shared by the AVX-512 kernel files (quant_avx512.c, quant_gemm_avx512.c): code
 * decoding into zmm registers and scale-lane patterns. Include only from files built with
 * the AVX-512 flags (*_avx512.c). */
#ifndef HY_QUANT_AVX512_H
#define HY_QUANT_AVX512_H

#include "quant/quant_x86.h"

/* The gemm tiles (quant_gemm_avx512.c), entered from the AVX-512 table. */
void av5_q4_K_gemm(int n, int nr, int nc, const void *w, size_t ws, const void *a, size_t as,
                   float *s, size_t ss);
void av5_q5_K_gemm(int n, int nr, int nc, const void *w, size_t ws, const void *a, size_t as,
                   float *s, size_t ss);
void av5_q6_K_gemm(int n, int nr, int nc, const void *w, size_t ws, const void *a, size_t as,
                   float *s, size_t ss);
void av5_q8_0_gemm(int n, int nr, int nc, const void *w, size_t ws, const void *a, size_t as,
                   float *s, size_t ss);
void av5_q4_0_gemm(int n, int nr, int nc, const void *w, size_t ws, const void *a, size_t as,
                   float *s, size_t ss);

/* Two 32-byte pieces -> one zmm (low half p0). */
X86_INLINE __m512i av5_load2x32(const void *p0, const void *p1)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(x86_loadu256(p0)), x86_loadu256(p1), 1);
}

/* Two 16-byte pieces -> one ymm (low half p0). */
X86_INLINE __m256i av5_load2x16(const void *p0, const void *p1)
{
    return _mm256_inserti128_si256(_mm256_castsi128_si256(x86_loadu128(p0)), x86_loadu128(p1), 1);
}

/* The fp16 scales of 8 consecutive 34-byte blocks (words 0, 17, ..., 119 from p) as 8
 * floats, from four 64-byte loads and three word permutes: cheaper than 8 scalar
 * conversions. Reads 256 bytes from p. */
X86_INLINE __m256 av5_q8_0_scales8(const void *p)
{
    const char *c = p;
    const __m512i z0 = _mm512_loadu_si512(c), z1 = _mm512_loadu_si512(c + 64);
    const __m512i z2 = _mm512_loadu_si512(c + 128), z3 = _mm512_loadu_si512(c + 192);
    const __m512i i01 = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                         0, 0, 0, 0, 0, 0, 0, 0, 0, 51, 34, 17, 0);
    const __m512i i23 = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                         0, 0, 0, 0, 0, 55, 38, 21, 4, 0, 0, 0, 0);
    const __m512i lo = _mm512_permutex2var_epi16(z0, i01, z1);
    const __m512i hi = _mm512_permutex2var_epi16(z2, i23, z3);
    const __m512i h = _mm512_mask_blend_epi16(0xf0, lo, hi);
    return _mm256_cvtph_ps(_mm512_castsi512_si128(h));
}

/* The same for 8 consecutive 18-byte Q4_0 blocks (words 0, 9, ..., 63): reads 128 bytes. */
X86_INLINE __m256 av5_q4_0_scales8(const void *p)
{
    const char *c = p;
    const __m512i idx = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                         0, 0, 0, 0, 0, 63, 54, 45, 36, 27, 18, 9, 0);
    const __m512i h = _mm512_permutex2var_epi16(_mm512_loadu_si512(c), idx, _mm512_loadu_si512(c + 64));
    return _mm256_cvtph_ps(_mm512_castsi512_si128(h));
}

/* acc + signed x signed byte products (4 per int32 lane). vpdpbusd wants an unsigned
 * operand: |w| and a negated where w < 0 (a is never -128: activation contract). */
X86_INLINE __m512i av5_dot_s8(__m512i acc, __m512i w, __m512i a)
{
    const __mmask64 neg = _mm512_movepi8_mask(w);
    const __m512i sa = _mm512_mask_sub_epi8(a, neg, _mm512_setzero_si512(), a);
    return _mm512_dpbusd_epi32(acc, _mm512_abs_epi8(w), sa);
}

/* 32 bytes of nibbles -> 64 codes: low nibbles (32), then high nibbles (32). */
X86_INLINE __m512i av5_nibbles64(const uint8_t *p)
{
    const __m256i b = x86_loadu256(p);
    const __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(b), _mm256_srli_epi16(b, 4), 1);
    return _mm512_and_si512(z, _mm512_set1_epi8(15));
}

/* vpermw indices: lanes 0-15 <- word j, lanes 16-31 <- word j + 1 (a zmm of maddubs pair
 * sums covering two 32-element sub-blocks j, j + 1). */
X86_INLINE __m512i av5_idx_pair(int j)
{
    return _mm512_mask_blend_epi16(0xffff0000u, _mm512_set1_epi16((short)j),
                                   _mm512_set1_epi16((short)(j + 1)));
}

/* vpermw indices: lane l <- word 4 q + l / 8 (four 16-element sub-blocks per zmm). */
X86_INLINE __m512i av5_idx_quad(int q)
{
    const __m512i a = _mm512_mask_blend_epi16(0xff00ff00u, _mm512_set1_epi16((short)(4 * q)),
                                              _mm512_set1_epi16((short)(4 * q + 1)));
    const __m512i b = _mm512_mask_blend_epi16(0xff00ff00u, _mm512_set1_epi16((short)(4 * q + 2)),
                                              _mm512_set1_epi16((short)(4 * q + 3)));
    return _mm512_mask_blend_epi16(0xffff0000u, a, b);
}

/* Q4_K / Q5_K: the 12 packed scale bytes -> 16 bytes, 8 scales then 8 mins (as
 * x86_k4_scales, with vector ops instead of scalar ones). Reads 16 bytes at q. */
X86_INLINE __m128i av5_k4_scales(const uint8_t *q)
{
    const __m128i A = x86_loadu128(q);
    /* bytes: q0-3 (scales 0-3), q8-11 (low bits of scales 4-7), q4-7 (mins 0-3),
     * q8-11 (high nibbles: low bits of mins 4-7) */
    const __m128i X = _mm_shuffle_epi8(A, _mm_setr_epi8(0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11));
    const __m128i lo = _mm_and_si128(_mm_mask_blend_epi8(0xf000, X, _mm_srli_epi16(X, 4)),
                                     _mm_setr_epi8(63, 63, 63, 63, 15, 15, 15, 15, 63, 63, 63, 63, 15, 15, 15, 15));
    /* bits 4-5 of scales/mins 4-7: the top 2 bits of q0-3 / q4-7 */
    const __m128i Y = _mm_shuffle_epi8(A, _mm_setr_epi8(-1, -1, -1, -1, 0, 1, 2, 3, -1, -1, -1, -1, 4, 5, 6, 7));
    return _mm_or_si128(lo, _mm_and_si128(_mm_srli_epi16(Y, 2), _mm_set1_epi8(0x30)));
}

/* 64 bytes of nibbles (two 32-byte groups g, g + 1) -> the codes of 2 x 64 elements:
 * *c0 = low then high nibbles of the first 32 bytes, *c1 the same for the second. */
X86_INLINE void av5_nibbles128(const uint8_t *p, __m512i *c0, __m512i *c1)
{
    const __m512i q = _mm512_loadu_si512(p), m4 = _mm512_set1_epi8(15);
    const __m512i L = _mm512_and_si512(q, m4), H = _mm512_and_si512(_mm512_srli_epi16(q, 4), m4);
    *c0 = _mm512_shuffle_i64x2(L, H, 0x44);   /* L.lo256, H.lo256 */
    *c1 = _mm512_shuffle_i64x2(L, H, 0xee);   /* L.hi256, H.hi256 */
}

/* Q5_K codes of the 64 elements 64 g .. 64 g + 63: nibbles plus bit 2g (low half) or
 * 2g + 1 (high half) of qh[l] as bit 4. */
X86_INLINE __m512i av5_q5k_codes(const uint8_t *qs, __m256i qh, int g)
{
    const __m512i h = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_srli_epi16(qh, 2 * g)),
                                         _mm256_srli_epi16(qh, 2 * g + 1), 1);
    const __m512i hb = _mm512_slli_epi16(_mm512_and_si512(h, _mm512_set1_epi8(1)), 4);
    return _mm512_or_si512(av5_nibbles64(qs), hb);
}

/* Q6_K codes (0..63; the value is code - 32) of one 128-element half: cA the elements
 * 0..63 (k = 0, 1), cB 64..127 (k = 2, 3). ql: 64 bytes, qh: 32 bytes of that half. */
X86_INLINE void av5_q6k_codes(const uint8_t *ql, const uint8_t *qh, __m512i *cA, __m512i *cB)
{
    const __m512i L = _mm512_loadu_si512(ql);
    const __m256i h = x86_loadu256(qh);
    /* low half: qh, high half: qh >> 2, so bits 0-1 / 4-5 serve k = 0, 1 / 2, 3 */
    const __m512i H = _mm512_inserti64x4(_mm512_castsi256_si512(h), _mm256_srli_epi16(h, 2), 1);
    const __m512i m4 = _mm512_set1_epi8(15);
    *cA = _mm512_or_si512(_mm512_and_si512(L, m4),
                          _mm512_slli_epi16(_mm512_and_si512(H, _mm512_set1_epi8(3)), 4));
    *cB = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(L, 4), m4),
                          _mm512_and_si512(H, _mm512_set1_epi8(0x30)));
}

/* 16 int32 vectors -> one vector whose lane k is the sum of the lanes of v[k]. */
X86_INLINE __m512i av5_reduce16(const __m512i v[16])
{
    __m512i a[8], b[4], c[2];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++)   /* per 128-bit lane: v2i[0]+v2i[2], v2i+1[0]+.., v2i[1]+.. */
        a[i] = _mm512_add_epi32(_mm512_unpacklo_epi32(v[2 * i], v[2 * i + 1]),
                                _mm512_unpackhi_epi32(v[2 * i], v[2 * i + 1]));
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++)   /* per 128-bit lane: one partial sum of each of 4 vectors */
        b[i] = _mm512_add_epi32(_mm512_unpacklo_epi64(a[2 * i], a[2 * i + 1]),
                                _mm512_unpackhi_epi64(a[2 * i], a[2 * i + 1]));
#pragma GCC unroll 2
    for (int i = 0; i < 2; i++)
        c[i] = _mm512_add_epi32(_mm512_shuffle_i32x4(b[2 * i], b[2 * i + 1], 0x88),
                                _mm512_shuffle_i32x4(b[2 * i], b[2 * i + 1], 0xdd));
    return _mm512_add_epi32(_mm512_shuffle_i32x4(c[0], c[1], 0x88),
                            _mm512_shuffle_i32x4(c[0], c[1], 0xdd));
}

X86_INLINE float av5_hsum128(__m128 v)
{
    v = _mm_add_ps(v, _mm_movehl_ps(v, v));
    v = _mm_add_ss(v, _mm_movehdup_ps(v));
    return _mm_cvtss_f32(v);
}

#endif

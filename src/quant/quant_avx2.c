/* AVX2 kernels (with FMA, F16C, BMI2): dequantize, activation quantizers and dots.
 *
 * Dots multiply unsigned weight codes by signed activation quants with vpmaddubsw
 * (pair sums fit int16: |code| <= 63, |a| <= 127), weight them by the sub-block scales
 * with vpmaddwd, and turn the per-block int32 sums into floats once per block. Code
 * offsets (Q3_K's -4, Q6_K's -32) and K-quant mins are applied through the activation
 * block sums (bsums), in integers. to_float does exactly the reference's float operations
 * (a multiply, then an add or subtract; never fused), so its output is bit-identical.
 * The gemm tiles of this level are the dots (quant_gemm_by_dot).
 *
 * Not here: AVX-512 (quant_avx512.c). */
#include "quant/quant_x86.h"

#define NB(n, qk) ((int)((n) / (qk)))

/* ---- float rows --------------------------------------------------------------------------- */

static void f32_dot_avx2(int n, float *s, const void *w, const void *a)
{
    const float *x = w, *y = a;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        x86_prefetch(x + i, 128);
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), acc1);
        acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), acc2);
        acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), acc3);
    }
    for (; i + 8 <= n; i += 8)
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), acc0);
    float sum = x86_hsum_ps(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (; i < n; i++)
        sum += x[i] * y[i];
    *s = sum;
}

static void f16_to_float_avx2(const void *x, float *y, int64_t n)
{
    const fp16_t *h = x;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_cvtph_ps(x86_loadu128(h + i)));
    for (; i < n; i++)
        y[i] = x86_h2f(h[i]);
}

static void f16_from_float_avx2(const float *x, void *y, int64_t n)
{
    fp16_t *h = y;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(h + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        h[i] = (fp16_t)_cvtss_sh(x[i], 0);
}

static void f16_dot_avx2(int n, float *s, const void *w, const void *a)
{
    const fp16_t *x = w, *y = a;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        x86_prefetch(x + i, 32);
        acc0 = _mm256_fmadd_ps(_mm256_cvtph_ps(x86_loadu128(x + i)),
                               _mm256_cvtph_ps(x86_loadu128(y + i)), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_cvtph_ps(x86_loadu128(x + i + 8)),
                               _mm256_cvtph_ps(x86_loadu128(y + i + 8)), acc1);
    }
    for (; i + 8 <= n; i += 8)
        acc0 = _mm256_fmadd_ps(_mm256_cvtph_ps(x86_loadu128(x + i)),
                               _mm256_cvtph_ps(x86_loadu128(y + i)), acc0);
    float sum = x86_hsum_ps(_mm256_add_ps(acc0, acc1));
    for (; i < n; i++)
        sum += x86_h2f(x[i]) * x86_h2f(y[i]);
    *s = sum;
}

static inline __m256 bf16x8_to_ps(const uint16_t *p)
{
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(x86_loadu128(p)), 16));
}

static void bf16_to_float_avx2(const void *x, float *y, int64_t n)
{
    const uint16_t *h = x;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, bf16x8_to_ps(h + i));
    for (; i < n; i++)
        y[i] = bf16_to_fp32(h[i]);
}

/* ggml's scalar rounding, 8 at a time: NaN -> (bits >> 16) | 64, else round to nearest even */
static void bf16_from_float_avx2(const float *x, void *y, int64_t n)
{
    uint16_t *h = y;
    int64_t i = 0;
    const __m256i one = _mm256_set1_epi32(1), bias = _mm256_set1_epi32(0x7fff);
    const __m256i absmask = _mm256_set1_epi32(0x7fffffff), inf = _mm256_set1_epi32(0x7f800000);
    for (; i + 8 <= n; i += 8) {
        const __m256i u = _mm256_castps_si256(_mm256_loadu_ps(x + i));
        const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(u, 16), one);
        const __m256i r = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(bias, odd)), 16);
        const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, absmask), inf);
        const __m256i q = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(64));
        const __m256i v = _mm256_blendv_epi8(r, q, nan);
        /* 8 u32 (values < 65536) -> 8 u16 */
        const __m128i p = _mm_packus_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        _mm_storeu_si128((__m128i *)(h + i), p);
    }
    for (; i < n; i++)
        h[i] = fp32_to_bf16(x[i]);
}

static void bf16_dot_avx2(int n, float *s, const void *w, const void *a)
{
    const uint16_t *x = w, *y = a;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        x86_prefetch(x + i, 32);
        acc0 = _mm256_fmadd_ps(bf16x8_to_ps(x + i), bf16x8_to_ps(y + i), acc0);
        acc1 = _mm256_fmadd_ps(bf16x8_to_ps(x + i + 8), bf16x8_to_ps(y + i + 8), acc1);
    }
    for (; i + 8 <= n; i += 8)
        acc0 = _mm256_fmadd_ps(bf16x8_to_ps(x + i), bf16x8_to_ps(y + i), acc0);
    float sum = x86_hsum_ps(_mm256_add_ps(acc0, acc1));
    for (; i < n; i++)
        sum += bf16_to_fp32(x[i]) * bf16_to_fp32(y[i]);
    *s = sum;
}

/* ---- activation quantizers ------------------------------------------------------------ */

X86_INLINE float amax32(const float *x, __m256 v[4])
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_setzero_ps();
    for (int j = 0; j < 4; j++) {
        v[j] = _mm256_loadu_ps(x + 8 * j);
        m = _mm256_max_ps(m, _mm256_andnot_ps(sign, v[j]));
    }
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

/* round(v * id) for 32 values -> 32 int8 in order; returns the four int32 vectors too */
X86_INLINE __m256i round_pack32(const __m256 v[4], __m256 id, __m256i q[4])
{
    for (int j = 0; j < 4; j++)
        q[j] = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v[j], id),
                                                  _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    const __m256i p01 = _mm256_packs_epi32(q[0], q[1]), p23 = _mm256_packs_epi32(q[2], q[3]);
    const __m256i p = _mm256_packs_epi16(p01, p23);
    /* the packs interleave 128-bit lanes: dwords 0 4 1 5 2 6 3 7 restore the order */
    return _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

static void q8_0_from_float_avx2(const float *x, void *vy, int64_t n)
{
    block_q8_0 *y = vy;
    for (int i = 0; i < NB(n, QK8_0); i++, x += QK8_0) {
        __m256 v[4];
        __m256i q[4];
        const float amax = amax32(x, v);
        const float d = amax / 127.0f, id = amax != 0.0f ? 127.0f / amax : 0.0f;
        y[i].d = (fp16_t)_cvtss_sh(d, 0);
        _mm256_storeu_si256((__m256i *)y[i].qs, round_pack32(v, _mm256_set1_ps(id), q));
    }
}

static void q8_1_from_float_avx2(const float *x, void *vy, int64_t n)
{
    block_q8_1 *y = vy;
    for (int i = 0; i < NB(n, QK8_1); i++, x += QK8_1) {
        __m256 v[4];
        __m256i q[4];
        const float amax = amax32(x, v);
        const float d = amax / 127.0f, id = amax != 0.0f ? 127.0f / amax : 0.0f;
        _mm256_storeu_si256((__m256i *)y[i].qs, round_pack32(v, _mm256_set1_ps(id), q));
        const int sum = x86_hsum_epi32(
            _mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
        y[i].d = (fp16_t)_cvtss_sh(d, 0);
        y[i].s = (fp16_t)_cvtss_sh(d * (float)sum, 0);
    }
}

static void q8_K_from_float_avx2(const float *x, void *vy, int64_t n)
{
    block_q8_K *y = vy;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int i = 0; i < NB(n, QK_K); i++, x += QK_K) {
        __m256 m = _mm256_setzero_ps();
        for (int j = 0; j < QK_K; j += 8)
            m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)));
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_movehdup_ps(h));
        const float amax = _mm_cvtss_f32(h);
        memset(&y[i], 0, sizeof(y[i]));
        if (amax == 0.0f)
            continue;
        /* the first element of that magnitude gives the sign */
        const __m256 am = _mm256_set1_ps(amax);
        float max = amax;
        for (int j = 0; j < QK_K; j += 8) {
            const int hit = _mm256_movemask_ps(
                _mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)), am, _CMP_EQ_OQ));
            if (hit) {
                max = x[j + __builtin_ctz((unsigned)hit)];
                break;
            }
        }
        const float iscale = -127.0f / max;
        const __m256 is = _mm256_set1_ps(iscale);
        for (int j = 0; j < QK_K; j += 32) {
            __m256 v[4];
            __m256i q[4];
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++)
                v[k] = _mm256_loadu_ps(x + j + 8 * k);
            const __m256i p = round_pack32(v, is, q);
            _mm256_storeu_si256((__m256i *)(y[i].qs + j), p);
            /* bsums of the two 16-element groups: bytes -> int16 pair sums -> int32 */
            const __m256i s16 = _mm256_maddubs_epi16(_mm256_set1_epi8(1), p);
            const __m256i s32 = _mm256_madd_epi16(s16, _mm256_set1_epi16(1));
            /* s32 dwords 0-3: group j/16, 4-7: group j/16 + 1 */
            const __m128i lo = _mm256_castsi256_si128(s32), hi = _mm256_extracti128_si256(s32, 1);
            const __m128i t = _mm_hadd_epi32(lo, hi);            /* a0+a1 a2+a3 b0+b1 b2+b3 */
            const __m128i u = _mm_hadd_epi32(t, t);              /* a b a b */
            y[i].bsums[j / 16] = (int16_t)_mm_cvtsi128_si32(u);
            y[i].bsums[j / 16 + 1] = (int16_t)_mm_extract_epi32(u, 1);
        }
        y[i].d = 1.0f / iscale;
    }
}

/* ---- dequantize --------------------------------------------------------------------------- */

/* 8 codes (uint8) -> floats, times d, minus m: exactly the reference's d * q - m */
X86_INLINE void store8_mul_sub(float *y, __m128i codes8, __m256 d, __m256 m)
{
    const __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(codes8));
    _mm256_storeu_ps(y, _mm256_sub_ps(_mm256_mul_ps(d, q), m));
}

/* 8 signed codes (int8) -> floats times d */
X86_INLINE void store8_mul_s(float *y, __m128i codes8, __m256 d)
{
    _mm256_storeu_ps(y, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(codes8)), d));
}

/* 32 int8 codes in a register -> 32 floats times d */
X86_INLINE void store32_mul_s(float *y, __m256i c, __m256 d)
{
    const __m128i lo = _mm256_castsi256_si128(c), hi = _mm256_extracti128_si256(c, 1);
    store8_mul_s(y, lo, d);
    store8_mul_s(y + 8, _mm_srli_si128(lo, 8), d);
    store8_mul_s(y + 16, hi, d);
    store8_mul_s(y + 24, _mm_srli_si128(hi, 8), d);
}

/* 32 uint8 codes -> 32 floats: d * q + m (Q4_1 / Q5_1: add, not subtract) */
X86_INLINE void store32_mul_add(float *y, __m256i c, __m256 d, __m256 m)
{
    const __m128i h[2] = {_mm256_castsi256_si128(c), _mm256_extracti128_si256(c, 1)};
#pragma GCC unroll 2
    for (int k = 0; k < 2; k++) {
        for (int j = 0; j < 2; j++) {
            const __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(h[k], 8 * j)));
            _mm256_storeu_ps(y + 16 * k + 8 * j, _mm256_add_ps(_mm256_mul_ps(q, d), m));
        }
    }
}

/* 32 uint8 codes -> 32 floats: d * q - m (K-quants) */
X86_INLINE void store32_mul_sub(float *y, __m256i c, __m256 d, __m256 m)
{
    const __m128i lo = _mm256_castsi256_si128(c), hi = _mm256_extracti128_si256(c, 1);
    store8_mul_sub(y, lo, d, m);
    store8_mul_sub(y + 8, _mm_srli_si128(lo, 8), d, m);
    store8_mul_sub(y + 16, hi, d, m);
    store8_mul_sub(y + 24, _mm_srli_si128(hi, 8), d, m);
}

static void q4_0_to_float_avx2(const void *vx, float *y, int64_t n)
{
    const block_q4_0 *x = vx;
    for (int i = 0; i < NB(n, QK4_0); i++, y += 32) {
        const __m256i c = _mm256_sub_epi8(x86_nibbles(x[i].qs), _mm256_set1_epi8(8));
        store32_mul_s(y, c, _mm256_set1_ps(x86_h2f(x[i].d)));
    }
}

static void q4_1_to_float_avx2(const void *vx, float *y, int64_t n)
{
    const block_q4_1 *x = vx;
    for (int i = 0; i < NB(n, QK4_1); i++, y += 32)
        store32_mul_add(y, x86_nibbles(x[i].qs), _mm256_set1_ps(x86_h2f(x[i].d)),
                        _mm256_set1_ps(x86_h2f(x[i].m)));
}

/* Q5: nibbles with bit 4 from qh */
X86_INLINE __m256i q5_codes(const uint8_t *qs, const uint8_t *qh)
{
    const __m256i hb = _mm256_and_si256(x86_bits_to_bytes(qh), _mm256_set1_epi8(16));
    return _mm256_or_si256(x86_nibbles(qs), hb);
}

static void q5_0_to_float_avx2(const void *vx, float *y, int64_t n)
{
    const block_q5_0 *x = vx;
    for (int i = 0; i < NB(n, QK5_0); i++, y += 32) {
        const __m256i c = _mm256_sub_epi8(q5_codes(x[i].qs, x[i].qh), _mm256_set1_epi8(16));
        store32_mul_s(y, c, _mm256_set1_ps(x86_h2f(x[i].d)));
    }
}

static void q5_1_to_float_avx2(const void *vx, float *y, int64_t n)
{
    const block_q5_1 *x = vx;
    for (int i = 0; i < NB(n, QK5_1); i++, y += 32)
        store32_mul_add(y, q5_codes(x[i].qs, x[i].qh), _mm256_set1_ps(x86_h2f(x[i].d)),
                        _mm256_set1_ps(x86_h2f(x[i].m)));
}

static void q8_0_to_float_avx2(const void *vx, float *y, int64_t n)
{
    const block_q8_0 *x = vx;
    for (int i = 0; i < NB(n, QK8_0); i++, y += 32)
        store32_mul_s(y, x86_loadu256(x[i].qs), _mm256_set1_ps(x86_h2f(x[i].d)));
}

static void q2_K_to_float_avx2(const void *vx, float *y, int64_t n)
{
    const block_q2_K *x = vx;
    const __m256i m3 = _mm256_set1_epi8(3);
    for (int i = 0; i < NB(n, QK_K); i++) {
        const float d = x86_h2f(x[i].d), dmin = x86_h2f(x[i].dmin);
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const __m256i qs = x86_loadu256(x[i].qs + 32 * h);
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++, y += 32) {
                const __m256i c = _mm256_and_si256(_mm256_srli_epi16(qs, 2 * k), m3);
                const __m128i lo = _mm256_castsi256_si128(c), hi = _mm256_extracti128_si256(c, 1);
#pragma GCC unroll 2
                for (int t = 0; t < 2; t++) {   /* two sub-blocks of 16 */
                    const uint8_t sc = x[i].scales[8 * h + 2 * k + t];
                    const __m256 dl = _mm256_set1_ps(d * (sc & 15)), ml = _mm256_set1_ps(dmin * (sc >> 4));
                    const __m128i c16 = t ? hi : lo;
                    store8_mul_sub(y + 16 * t, c16, dl, ml);
                    store8_mul_sub(y + 16 * t + 8, _mm_srli_si128(c16, 8), dl, ml);
                }
            }
        }
    }
}

/* Q3_K codes 0..7 = 2 low bits | high bit << 2 (the value is code - 4) for the 32
 * elements 128 h + 32 k + 0..31 */
X86_INLINE __m256i q3_codes(__m256i qs, __m256i hm, int h, int k)
{
    const __m256i lo = _mm256_and_si256(_mm256_srli_epi16(qs, 2 * k), _mm256_set1_epi8(3));
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(hm, 4 * h + k), _mm256_set1_epi8(1));
    return _mm256_or_si256(lo, _mm256_slli_epi16(hi, 2));
}

static void q3_K_to_float_avx2(const void *vx, float *y, int64_t n)
{
    const block_q3_K *x = vx;
    for (int i = 0; i < NB(n, QK_K); i++) {
        const float d = x86_h2f(x[i].d);
        int8_t sc[16];
        _mm_storeu_si128((__m128i *)sc, x86_k3_scales(x[i].scales));
        const __m256i hm = x86_loadu256(x[i].hmask);
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const __m256i qs = x86_loadu256(x[i].qs + 32 * h);
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++, y += 32) {
                const __m256i c = _mm256_sub_epi8(q3_codes(qs, hm, h, k), _mm256_set1_epi8(4));
                const __m128i lo = _mm256_castsi256_si128(c), hi = _mm256_extracti128_si256(c, 1);
                const __m256 d0 = _mm256_set1_ps(d * sc[8 * h + 2 * k]);
                const __m256 d1 = _mm256_set1_ps(d * sc[8 * h + 2 * k + 1]);
                store8_mul_s(y, lo, d0);
                store8_mul_s(y + 8, _mm_srli_si128(lo, 8), d0);
                store8_mul_s(y + 16, hi, d1);
                store8_mul_s(y + 24, _mm_srli_si128(hi, 8), d1);
            }
        }
    }
}

static void q4_K_to_float_avx2(const void *vx, float *y, int64_t n)
{
    const block_q4_K *x = vx;
    const __m256i m4 = _mm256_set1_epi8(15);
    for (int i = 0; i < NB(n, QK_K); i++) {
        const float d = x86_h2f(x[i].d), dmin = x86_h2f(x[i].dmin);
        uint8_t sm[16];
        _mm_storeu_si128((__m128i *)sm, x86_k4_scales(x[i].scales));
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++, y += 64) {
            const __m256i q = x86_loadu256(x[i].qs + 32 * g);
            store32_mul_sub(y, _mm256_and_si256(q, m4), _mm256_set1_ps(d * sm[2 * g]),
                            _mm256_set1_ps(dmin * sm[8 + 2 * g]));
            store32_mul_sub(y + 32, _mm256_and_si256(_mm256_srli_epi16(q, 4), m4),
                            _mm256_set1_ps(d * sm[2 * g + 1]), _mm256_set1_ps(dmin * sm[9 + 2 * g]));
        }
    }
}

static void q5_K_to_float_avx2(const void *vx, float *y, int64_t n)
{
    const block_q5_K *x = vx;
    const __m256i m4 = _mm256_set1_epi8(15), one = _mm256_set1_epi8(1);
    for (int i = 0; i < NB(n, QK_K); i++) {
        const float d = x86_h2f(x[i].d), dmin = x86_h2f(x[i].dmin);
        uint8_t sm[16];
        _mm_storeu_si128((__m128i *)sm, x86_k4_scales(x[i].scales));
        const __m256i qh = x86_loadu256(x[i].qh);
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++, y += 64) {
            const __m256i q = x86_loadu256(x[i].qs + 32 * g);
            const __m256i h0 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * g), one), 4);
            const __m256i h1 = _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * g + 1), one), 4);
            store32_mul_sub(y, _mm256_or_si256(_mm256_and_si256(q, m4), h0),
                            _mm256_set1_ps(d * sm[2 * g]), _mm256_set1_ps(dmin * sm[8 + 2 * g]));
            store32_mul_sub(y + 32, _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 4), m4), h1),
                            _mm256_set1_ps(d * sm[2 * g + 1]), _mm256_set1_ps(dmin * sm[9 + 2 * g]));
        }
    }
}

/* Q6_K codes 0..63 (value = code - 32) of the 32 elements 128 h + 32 k + 0..31 */
X86_INLINE __m256i q6_codes(__m256i ql0, __m256i ql1, __m256i qh, int k)
{
    const __m256i m4 = _mm256_set1_epi8(15), m2 = _mm256_set1_epi8(3);
    const __m256i ql = k % 2 ? ql1 : ql0;
    const __m256i lo = _mm256_and_si256(k < 2 ? ql : _mm256_srli_epi16(ql, 4), m4);
    const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), m2);
    return _mm256_or_si256(lo, _mm256_slli_epi16(hi, 4));
}

static void q6_K_to_float_avx2(const void *vx, float *y, int64_t n)
{
    const block_q6_K *x = vx;
    for (int i = 0; i < NB(n, QK_K); i++) {
        const float d = x86_h2f(x[i].d);
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const __m256i ql0 = x86_loadu256(x[i].ql + 64 * h), ql1 = x86_loadu256(x[i].ql + 64 * h + 32);
            const __m256i qh = x86_loadu256(x[i].qh + 32 * h);
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++, y += 32) {
                const __m256i c = _mm256_sub_epi8(q6_codes(ql0, ql1, qh, k), _mm256_set1_epi8(32));
                const __m128i lo = _mm256_castsi256_si128(c), hi = _mm256_extracti128_si256(c, 1);
                const __m256 d0 = _mm256_set1_ps(d * x[i].scales[8 * h + 2 * k]);
                const __m256 d1 = _mm256_set1_ps(d * x[i].scales[8 * h + 2 * k + 1]);
                store8_mul_s(y, lo, d0);
                store8_mul_s(y + 8, _mm_srli_si128(lo, 8), d0);
                store8_mul_s(y + 16, hi, d1);
                store8_mul_s(y + 24, _mm_srli_si128(hi, 8), d1);
            }
        }
    }
}

/* ---- dots, 32-element blocks ------------------------------------------------------------ */

/* signed x signed bytes -> 8 int32 sums of 4 products */
X86_INLINE __m256i dot_s8(__m256i x, __m256i y)
{
    const __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
    return _mm256_madd_epi16(p16, _mm256_set1_epi16(1));
}

/* unsigned codes x signed bytes -> 8 int32 */
X86_INLINE __m256i dot_u8(__m256i u, __m256i y)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(u, y), _mm256_set1_epi16(1));
}

static void q8_0_dot_avx2(int n, float *s, const void *vw, const void *va)
{
    const block_q8_0 *w = vw;
    const block_q8_0 *a = va;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int i = 0, nb = NB(n, QK8_0);
    for (; i + 2 <= nb; i += 2) {
        x86_prefetch(&w[i], 2 * sizeof w[i]);
        const __m256i p0 = dot_s8(x86_loadu256(w[i].qs), x86_loadu256(a[i].qs));
        const __m256i p1 = dot_s8(x86_loadu256(w[i + 1].qs), x86_loadu256(a[i + 1].qs));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(x86_h2f(w[i].d) * x86_h2f(a[i].d)), _mm256_cvtepi32_ps(p0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(x86_h2f(w[i + 1].d) * x86_h2f(a[i + 1].d)), _mm256_cvtepi32_ps(p1), acc1);
    }
    for (; i < nb; i++) {
        const __m256i p = dot_s8(x86_loadu256(w[i].qs), x86_loadu256(a[i].qs));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(x86_h2f(w[i].d) * x86_h2f(a[i].d)), _mm256_cvtepi32_ps(p), acc0);
    }
    *s = x86_hsum_ps(_mm256_add_ps(acc0, acc1));
}

static void q4_0_dot_avx2(int n, float *s, const void *vw, const void *va)
{
    const block_q4_0 *w = vw;
    const block_q8_0 *a = va;
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < NB(n, QK8_0); i++) {
        x86_prefetch(&w[i], sizeof w[i]);
        const __m256i q = _mm256_sub_epi8(x86_nibbles(w[i].qs), _mm256_set1_epi8(8));
        const __m256i p = dot_s8(q, x86_loadu256(a[i].qs));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(x86_h2f(w[i].d) * x86_h2f(a[i].d)), _mm256_cvtepi32_ps(p), acc);
    }
    *s = x86_hsum_ps(acc);
}

static void q5_0_dot_avx2(int n, float *s, const void *vw, const void *va)
{
    const block_q5_0 *w = vw;
    const block_q8_0 *a = va;
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < NB(n, QK8_0); i++) {
        x86_prefetch(&w[i], sizeof w[i]);
        const __m256i q = _mm256_sub_epi8(q5_codes(w[i].qs, w[i].qh), _mm256_set1_epi8(16));
        const __m256i p = dot_s8(q, x86_loadu256(a[i].qs));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(x86_h2f(w[i].d) * x86_h2f(a[i].d)), _mm256_cvtepi32_ps(p), acc);
    }
    *s = x86_hsum_ps(acc);
}

static void q4_1_dot_avx2(int n, float *s, const void *vw, const void *va)
{
    const block_q4_1 *w = vw;
    const block_q8_1 *a = va;
    __m256 acc = _mm256_setzero_ps();
    float msum = 0;
    for (int i = 0; i < NB(n, QK8_1); i++) {
        x86_prefetch(&w[i], sizeof w[i]);
        const __m256i p = dot_u8(x86_nibbles(w[i].qs), x86_loadu256(a[i].qs));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(x86_h2f(w[i].d) * x86_h2f(a[i].d)), _mm256_cvtepi32_ps(p), acc);
        msum += x86_h2f(w[i].m) * x86_h2f(a[i].s);
    }
    *s = x86_hsum_ps(acc) + msum;
}

static void q5_1_dot_avx2(int n, float *s, const void *vw, const void *va)
{
    const block_q5_1 *w = vw;
    const block_q8_1 *a = va;
    __m256 acc = _mm256_setzero_ps();
    float msum = 0;
    for (int i = 0; i < NB(n, QK8_1); i++) {
        x86_prefetch(&w[i], sizeof w[i]);
        const __m256i p = dot_u8(q5_codes(w[i].qs, w[i].qh), x86_loadu256(a[i].qs));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(x86_h2f(w[i].d) * x86_h2f(a[i].d)), _mm256_cvtepi32_ps(p), acc);
        msum += x86_h2f(w[i].m) * x86_h2f(a[i].s);
    }
    *s = x86_hsum_ps(acc) + msum;
}

/* ---- dots, K-quants --------------------------------------------------------------------- */

/* 16 int8 scales -> a 256-bit vector of 16 int16 */
X86_INLINE __m256i scales16(__m128i sc8)
{
    return _mm256_cvtepi8_epi16(sc8);
}

/* Scales for a vpmaddubsw result of 32 elements = two 16-element sub-blocks: lanes 0-7
 * (low half) <- word i, lanes 8-15 (high half) <- word i + 1 of sc8x2, which holds the
 * same 8 int16 scales in both halves. */
X86_INLINE __m256i sub16_scales(__m256i sc8x2, int i)
{
    return _mm256_shuffle_epi8(sc8x2, _mm256_set_m128i(
        _mm_set1_epi16((short)((2 * (i + 1)) | (2 * (i + 1) + 1) << 8)),
        _mm_set1_epi16((short)((2 * i) | (2 * i + 1) << 8))));
}

static void q2_K_dot_avx2(int n, float *s, const void *vw, const void *va)
{
    const block_q2_K *w = vw;
    const block_q8_K *a = va;
    const __m256i m3 = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < NB(n, QK_K); i++) {
        x86_prefetch(&w[i], sizeof w[i]);
        const __m128i sc8 = x86_loadu128(w[i].scales);
        const __m256i sc = _mm256_cvtepu8_epi16(_mm_and_si128(sc8, _mm_set1_epi8(15)));
        const __m256i mn = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc8, 4), _mm_set1_epi8(15)));
        const __m256i msum = _mm256_madd_epi16(mn, x86_loadu256(a[i].bsums));
        /* scales of sub-blocks 0-7 in both halves, and of 8-15 in both halves */
        const __m256i sc_a = _mm256_permute2x128_si256(sc, sc, 0x00);
        const __m256i sc_b = _mm256_permute2x128_si256(sc, sc, 0x11);
        __m256i isum = _mm256_setzero_si256();
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const __m256i qs = x86_loadu256(w[i].qs + 32 * h);
            const __m256i scv = h ? sc_b : sc_a;
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) {
                const __m256i c = _mm256_and_si256(_mm256_srli_epi16(qs, 2 * k), m3);
                const __m256i p = _mm256_maddubs_epi16(c, x86_loadu256(a[i].qs + 128 * h + 32 * k));
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, sub16_scales(scv, 2 * k)));
            }
        }
        const float d = a[i].d * x86_h2f(w[i].d), dmin = a[i].d * x86_h2f(w[i].dmin);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum), acc);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(-dmin), _mm256_cvtepi32_ps(msum), acc);
    }
    *s = x86_hsum_ps(acc);
}

static void q3_K_dot_avx2(int n, float *s, const void *vw, const void *va)
{
    const block_q3_K *w = vw;
    const block_q8_K *a = va;
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < NB(n, QK_K); i++) {
        x86_prefetch(&w[i], sizeof w[i]);
        const __m256i sc = scales16(x86_k3_scales(w[i].scales));
        /* code - 4: the offset through the bsums */
        const __m256i off = _mm256_slli_epi32(_mm256_madd_epi16(sc, x86_loadu256(a[i].bsums)), 2);
        const __m256i sc_a = _mm256_permute2x128_si256(sc, sc, 0x00);
        const __m256i sc_b = _mm256_permute2x128_si256(sc, sc, 0x11);
        const __m256i hm = x86_loadu256(w[i].hmask);
        __m256i isum = _mm256_setzero_si256();
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const __m256i qs = x86_loadu256(w[i].qs + 32 * h);
            const __m256i scv = h ? sc_b : sc_a;
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) {
                const __m256i c = q3_codes(qs, hm, h, k);
                const __m256i p = _mm256_maddubs_epi16(c, x86_loadu256(a[i].qs + 128 * h + 32 * k));
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, sub16_scales(scv, 2 * k)));
            }
        }
        isum = _mm256_sub_epi32(isum, off);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(a[i].d * x86_h2f(w[i].d)), _mm256_cvtepi32_ps(isum), acc);
    }
    *s = x86_hsum_ps(acc);
}

/* Q4_K / Q5_K share everything but the codes */
X86_INLINE void k4_dot_block(const uint8_t *scales, const uint8_t *qs, const uint8_t *qh,
                             const block_q8_K *a, float d, float dmin, __m256 *acc)
{
    const __m256i m4 = _mm256_set1_epi8(15), one = _mm256_set1_epi8(1);
    const __m128i sm = x86_k4_scales(scales);
    /* mins x bsum pairs */
    const __m256i bs = x86_loadu256(a->bsums);
    const __m128i pairs = _mm_hadd_epi16(_mm256_castsi256_si128(bs), _mm256_extracti128_si256(bs, 1));
    const __m128i mn16 = _mm_cvtepu8_epi16(_mm_srli_si128(sm, 8));
    const __m128i msum = _mm_madd_epi16(mn16, pairs);
    const __m128i sc16 = _mm_cvtepu8_epi16(sm);
    const __m256i scv = _mm256_set_m128i(sc16, sc16);
    const __m256i hb = qh ? x86_loadu256(qh) : _mm256_setzero_si256();
    __m256i isum = _mm256_setzero_si256();
#pragma GCC unroll 4
    for (int g = 0; g < 4; g++) {
        const __m256i q = x86_loadu256(qs + 32 * g);
        __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
        if (qh) {
            lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * g), one), 4));
            hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2 * g + 1), one), 4));
        }
        const __m256i pl = _mm256_maddubs_epi16(lo, x86_loadu256(a->qs + 64 * g));
        const __m256i ph = _mm256_maddubs_epi16(hi, x86_loadu256(a->qs + 64 * g + 32));
        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(pl, _mm256_shuffle_epi8(scv, x86_word_bcast(2 * g))));
        isum = _mm256_add_epi32(isum, _mm256_madd_epi16(ph, _mm256_shuffle_epi8(scv, x86_word_bcast(2 * g + 1))));
    }
    *acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(isum), *acc);
    const __m256 mf = _mm256_castps128_ps256(_mm_cvtepi32_ps(msum));
    *acc = _mm256_fmadd_ps(_mm256_set1_ps(-dmin), _mm256_insertf128_ps(mf, _mm_setzero_ps(), 1), *acc);
}

static void q4_K_dot_avx2(int n, float *s, const void *vw, const void *va)
{
    const block_q4_K *w = vw;
    const block_q8_K *a = va;
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < NB(n, QK_K); i++) {
        x86_prefetch(&w[i], sizeof w[i]);
        k4_dot_block(w[i].scales, w[i].qs, NULL, &a[i], a[i].d * x86_h2f(w[i].d),
                     a[i].d * x86_h2f(w[i].dmin), &acc);
    }
    *s = x86_hsum_ps(acc);
}

static void q5_K_dot_avx2(int n, float *s, const void *vw, const void *va)
{
    const block_q5_K *w = vw;
    const block_q8_K *a = va;
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < NB(n, QK_K); i++) {
        x86_prefetch(&w[i], sizeof w[i]);
        k4_dot_block(w[i].scales, w[i].qs, w[i].qh, &a[i], a[i].d * x86_h2f(w[i].d),
                     a[i].d * x86_h2f(w[i].dmin), &acc);
    }
    *s = x86_hsum_ps(acc);
}

static void q6_K_dot_avx2(int n, float *s, const void *vw, const void *va)
{
    const block_q6_K *w = vw;
    const block_q8_K *a = va;
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < NB(n, QK_K); i++) {
        x86_prefetch(&w[i], sizeof w[i]);
        const __m256i sc = scales16(x86_loadu128(w[i].scales));
        /* code - 32: the offset through the bsums */
        const __m256i off = _mm256_slli_epi32(_mm256_madd_epi16(sc, x86_loadu256(a[i].bsums)), 5);
        const __m256i sc_a = _mm256_permute2x128_si256(sc, sc, 0x00);
        const __m256i sc_b = _mm256_permute2x128_si256(sc, sc, 0x11);
        __m256i isum = _mm256_setzero_si256();
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const __m256i ql0 = x86_loadu256(w[i].ql + 64 * h), ql1 = x86_loadu256(w[i].ql + 64 * h + 32);
            const __m256i qh = x86_loadu256(w[i].qh + 32 * h);
            const __m256i scv = h ? sc_b : sc_a;
#pragma GCC unroll 4
            for (int k = 0; k < 4; k++) {
                const __m256i p = _mm256_maddubs_epi16(q6_codes(ql0, ql1, qh, k),
                                                       x86_loadu256(a[i].qs + 128 * h + 32 * k));
                isum = _mm256_add_epi32(isum, _mm256_madd_epi16(p, sub16_scales(scv, 2 * k)));
            }
        }
        isum = _mm256_sub_epi32(isum, off);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(a[i].d * x86_h2f(w[i].d)), _mm256_cvtepi32_ps(isum), acc);
    }
    *s = x86_hsum_ps(acc);
}

/* ---- the table ---------------------------------------------------------------------------- */

#define GEMM_BY_DOT(name)                                                                   \
    static void name##_gemm_avx2(int n, int nr, int nc, const void *w, size_t ws,           \
                                 const void *a, size_t as, float *s, size_t ss)             \
    {                                                                                       \
        quant_gemm_by_dot(name##_dot_avx2, n, nr, nc, w, ws, a, as, s, ss);                 \
    }
GEMM_BY_DOT(f32)
GEMM_BY_DOT(f16)
GEMM_BY_DOT(bf16)
GEMM_BY_DOT(q4_0)
GEMM_BY_DOT(q4_1)
GEMM_BY_DOT(q5_0)
GEMM_BY_DOT(q5_1)
GEMM_BY_DOT(q8_0)
GEMM_BY_DOT(q2_K)
GEMM_BY_DOT(q3_K)
GEMM_BY_DOT(q4_K)
GEMM_BY_DOT(q5_K)
GEMM_BY_DOT(q6_K)

#define K(T, t) [HY_TYPE_##T] = {.vec_dot = t##_dot_avx2, .gemm = t##_gemm_avx2, .to_float = t##_to_float_avx2}

const struct quant_kernels quant_table_avx2[HY_TYPE_COUNT] = {
    [HY_TYPE_F32] = {.vec_dot = f32_dot_avx2, .gemm = f32_gemm_avx2},
    [HY_TYPE_F16] = {.vec_dot = f16_dot_avx2, .gemm = f16_gemm_avx2, .to_float = f16_to_float_avx2,
                     .from_float = f16_from_float_avx2},
    [HY_TYPE_BF16] = {.vec_dot = bf16_dot_avx2, .gemm = bf16_gemm_avx2,
                      .to_float = bf16_to_float_avx2, .from_float = bf16_from_float_avx2},
    K(Q4_0, q4_0),
    K(Q4_1, q4_1),
    K(Q5_0, q5_0),
    K(Q5_1, q5_1),
    [HY_TYPE_Q8_0] = {.vec_dot = q8_0_dot_avx2, .gemm = q8_0_gemm_avx2,
                      .to_float = q8_0_to_float_avx2, .from_float = q8_0_from_float_avx2},
    K(Q2_K, q2_K),
    K(Q3_K, q3_K),
    K(Q4_K, q4_K),
    K(Q5_K, q5_K),
    K(Q6_K, q6_K),
    [HY_TYPE_Q8_1] = {.from_float = q8_1_from_float_avx2},
    [HY_TYPE_Q8_K] = {.from_float = q8_K_from_float_avx2},
};

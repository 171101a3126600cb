/* AVX2 + F16C versions of ops_simd.h (compiled with -mavx2 -mfma -mf16c). */
#include "ops/ops_simd.h"

#include <immintrin.h>

void vec_scale_f16_avx2(fp16_t *y, float s, int n)
{
    __m256 vs = _mm256_set1_ps(s);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 a = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(y + i)));
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_mul_ps(a, vs), 0));
    }
    if (i < n)
        vec_scale_f16_ref(y + i, s, n - i);
}

void vec_mad_f16_avx2(fp16_t *y, const fp16_t *x, float s, int n)
{
    __m256 vs = _mm256_set1_ps(s);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 a = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(y + i)));
        __m256 b = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i)));
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_fmadd_ps(b, vs, a), 0));
    }
    if (i < n)
        vec_mad_f16_ref(y + i, x + i, s, n - i);
}

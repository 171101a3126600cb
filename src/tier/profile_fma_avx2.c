/* FMA throughput kernel for AVX2 (compiled with -mavx2 -mfma). See profile_kernels.h. */
#include "tier/profile_kernels.h"

#include <immintrin.h>

double profile_fma_avx2(uint64_t iters, float *sink)
{
    /* 12 independent chains cover the FMA latency (4-5 cycles) on two ports */
    __m256 a[12];
    const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++)
        a[i] = _mm256_set1_ps((float)i);
    for (uint64_t it = 0; it < iters; it++)
        for (int i = 0; i < 12; i++)
            a[i] = _mm256_fmadd_ps(a[i], m, c);
    __m256 s = a[0];
    for (int i = 1; i < 12; i++)
        s = _mm256_add_ps(s, a[i]);
    float out[8];
    _mm256_storeu_ps(out, s);
    *sink += out[0] + out[7];
    return (double)iters * 12 * 8 * 2;
}

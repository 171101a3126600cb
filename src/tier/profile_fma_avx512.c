/* FMA throughput kernel for AVX-512 (compiled with the AVX-512 flags). See
 * profile_kernels.h. */
#include "tier/profile_kernels.h"

#include <immintrin.h>

double profile_fma_avx512(uint64_t iters, float *sink)
{
    __m512 a[12];
    const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < 12; i++)
        a[i] = _mm512_set1_ps((float)i);
    for (uint64_t it = 0; it < iters; it++)
        for (int i = 0; i < 12; i++)
            a[i] = _mm512_fmadd_ps(a[i], m, c);
    __m512 s = a[0];
    for (int i = 1; i < 12; i++)
        s = _mm512_add_ps(s, a[i]);
    *sink += _mm512_reduce_add_ps(s);
    return (double)iters * 12 * 16 * 2;
}

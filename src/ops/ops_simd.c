/* Reference vector helpers and their dispatch. See ops_simd.h. */
#include "ops/ops_simd.h"
#include "quant/quant.h"
#include "util/cpu.h"

#include <math.h>

void vec_scale_f16_ref(fp16_t *y, float s, int n)
{
    for (int i = 0; i < n; i++)
        y[i] = fp32_to_fp16(fp16_to_fp32(y[i]) * s);
}

void vec_mad_f16_ref(fp16_t *y, const fp16_t *x, float s, int n)
{
    for (int i = 0; i < n; i++)
        y[i] = fp32_to_fp16(fmaf(fp16_to_fp32(x[i]), s, fp16_to_fp32(y[i])));
}

void vec_scale_f16(fp16_t *y, float s, int n)
{
#if defined(__x86_64__)
    if (cpu_features()->level >= HY_SIMD_AVX2) {
        vec_scale_f16_avx2(y, s, n);
        return;
    }
#endif
    vec_scale_f16_ref(y, s, n);
}

void vec_mad_f16(fp16_t *y, const fp16_t *x, float s, int n)
{
#if defined(__x86_64__)
    if (cpu_features()->level >= HY_SIMD_AVX2) {
        vec_mad_f16_avx2(y, x, s, n);
        return;
    }
#endif
    vec_mad_f16_ref(y, x, s, n);
}

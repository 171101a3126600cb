/* Small vector helpers of the attention with per-ISA versions (ops_avx2.c), chosen at
 * run time. The scalar forms are the reference: F16 values are widened to float,
 * combined with one fused multiply-add and rounded back to F16 (round to nearest even),
 * which is what llama.cpp's F16C path does for its F16 V accumulator. */
#ifndef HY_OPS_SIMD_H
#define HY_OPS_SIMD_H

#include "quant/blocks.h"

/* y[i] = f16(f32(y[i]) * s) */
void vec_scale_f16(fp16_t *y, float s, int n);
/* y[i] = f16(fma(f32(x[i]), s, f32(y[i]))) */
void vec_mad_f16(fp16_t *y, const fp16_t *x, float s, int n);

void vec_scale_f16_ref(fp16_t *y, float s, int n);
void vec_mad_f16_ref(fp16_t *y, const fp16_t *x, float s, int n);
#if defined(__x86_64__)
void vec_scale_f16_avx2(fp16_t *y, float s, int n);
void vec_mad_f16_avx2(fp16_t *y, const fp16_t *x, float s, int n);
#endif

#endif

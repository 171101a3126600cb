/* Measurement kernels of the hardware profile, one per instruction set (the _avx2 and
 * _avx512 files are compiled with those flags and called only after the runtime CPU
 * check). Internal to src/tier. */
#ifndef HY_TIER_PROFILE_KERNELS_H
#define HY_TIER_PROFILE_KERNELS_H

#include <stdint.h>

/* Run `iters` rounds of independent fused multiply-adds; returns the FLOPs done (the
 * result is kept live through *sink). */
double profile_fma_scalar(uint64_t iters, float *sink);
double profile_fma_avx2(uint64_t iters, float *sink);
double profile_fma_avx512(uint64_t iters, float *sink);

#endif

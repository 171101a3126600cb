/* CPU features, detected once (the only other process-wide state besides the log
 * callback). HYPURA_SIMD=scalar|avx2|avx512 in the environment caps the level used,
 * so tests and benchmarks can run each code path on one machine. */
#ifndef HY_UTIL_CPU_H
#define HY_UTIL_CPU_H

#include <stdbool.h>

enum hy_simd { HY_SIMD_SCALAR = 0, HY_SIMD_AVX2, HY_SIMD_AVX512, HY_SIMD_NEON };

struct hy_cpu {
    bool avx2, fma, f16c, bmi2;                       /* the AVX2 level needs all four */
    bool avx512f, avx512bw, avx512vl, avx512dq, avx512vnni, avx512bf16; /* AVX-512 level */
    bool neon, dotprod;
    enum hy_simd level;                               /* best usable level, after the cap */
    int n_cpus;                                       /* online CPUs */
};

const struct hy_cpu *hy_cpu(void);
const char *hy_simd_name(enum hy_simd s);

#endif

/* CPU features, detected once (the only other process-wide state besides the log
 * callback). HYPURA_SIMD=scalar|avx2|avx512 in the environment caps the level used,
 * so tests and benchmarks can run each code path on one machine. */
#ifndef HY_UTIL_CPU_H
#define HY_UTIL_CPU_H

#include <stdbool.h>

enum simd_level { HY_SIMD_SCALAR = 0, HY_SIMD_AVX2, HY_SIMD_AVX512, HY_SIMD_NEON };

struct cpu_features {
    bool avx2, fma, f16c, bmi2;                       /* the AVX2 level needs all four */
    bool avx512f, avx512bw, avx512vl, avx512dq, avx512vnni, avx512bf16; /* AVX-512 level */
    bool neon, dotprod;
    enum simd_level level;                               /* best usable level, after the cap */
    int n_cpus;                                       /* online CPUs */
};

const struct cpu_features *cpu_features(void);
const char *simd_name(enum simd_level s);

#endif

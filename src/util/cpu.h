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
    int n_cores;    /* physical cores among the CPUs this process may run on (its affinity
                       mask when detected): the default number of compute threads */
};

const struct cpu_features *cpu_features(void);
const char *simd_name(enum simd_level s);

/* Physical cores among the CPUs marked in allowed[0 .. n-1], from the sysfs tree at dir
 * (normally /sys/devices/system/cpu): CPUs whose cpuN/topology/thread_siblings_list
 * starts with the same CPU are SMT siblings of one core. A CPU whose list is missing or
 * unreadable counts as a core of its own. Returns at least 1. */
int cpu_count_cores(const char *dir, const unsigned char *allowed, int n);

#endif

/* CPU feature detection. See cpu.h. */
#include "util/cpu.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct cpu_features g_cpu;
static pthread_once_t g_cpu_once = PTHREAD_ONCE_INIT;

static void cpu_detect(void)
{
    struct cpu_features *c = &g_cpu;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    c->n_cpus = n > 0 ? (int)n : 1;
    c->level = HY_SIMD_SCALAR;
#if defined(__x86_64__)
    __builtin_cpu_init();
    c->avx2 = __builtin_cpu_supports("avx2");
    c->fma = __builtin_cpu_supports("fma");
    c->bmi2 = __builtin_cpu_supports("bmi2");
    c->f16c = __builtin_cpu_supports("f16c");
    c->avx512f = __builtin_cpu_supports("avx512f");
    c->avx512bw = __builtin_cpu_supports("avx512bw");
    c->avx512vl = __builtin_cpu_supports("avx512vl");
    c->avx512dq = __builtin_cpu_supports("avx512dq");
    c->avx512vnni = __builtin_cpu_supports("avx512vnni");
    c->avx512bf16 = __builtin_cpu_supports("avx512bf16");
    if (c->avx2 && c->fma && c->f16c && c->bmi2)
        c->level = HY_SIMD_AVX2;
    if (c->level == HY_SIMD_AVX2 && c->avx512f && c->avx512bw && c->avx512vl && c->avx512dq &&
        c->avx512vnni && c->avx512bf16)
        c->level = HY_SIMD_AVX512;
#elif defined(__aarch64__)
    c->neon = true;
#if defined(__ARM_FEATURE_DOTPROD)
    c->dotprod = true;
#endif
    c->level = HY_SIMD_NEON;
#endif
    const char *cap = getenv("HYPURA_SIMD");
    if (cap) {
        enum simd_level want = c->level;
        if (!strcmp(cap, "scalar"))
            want = HY_SIMD_SCALAR;
        else if (!strcmp(cap, "avx2"))
            want = HY_SIMD_AVX2;
        else if (!strcmp(cap, "avx512"))
            want = HY_SIMD_AVX512;
        if (want < c->level)
            c->level = want;
    }
}

const struct cpu_features *cpu_features(void)
{
    pthread_once(&g_cpu_once, cpu_detect);
    return &g_cpu;
}

const char *simd_name(enum simd_level s)
{
    switch (s) {
    case HY_SIMD_SCALAR: return "scalar";
    case HY_SIMD_AVX2: return "avx2";
    case HY_SIMD_AVX512: return "avx512";
    case HY_SIMD_NEON: return "neon";
    }
    return "?";
}

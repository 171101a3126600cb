/* CPU feature detection. See cpu.h. */
#include "util/cpu.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct cpu_features g_cpu;
static pthread_once_t g_cpu_once = PTHREAD_ONCE_INIT;

int cpu_count_cores(const char *dir, const unsigned char *allowed, int n)
{
    unsigned char *seen = calloc(n > 0 ? (size_t)n : 1, 1);
    if (!seen)
        return 1;
    int cores = 0;
    for (int i = 0; i < n; i++) {
        if (!allowed[i])
            continue;
        /* the core's key: the first CPU of its siblings list ("0,64", "0-1", "3") */
        int key = i;
        char path[512], buf[64];
        snprintf(path, sizeof path, "%s/cpu%d/topology/thread_siblings_list", dir, i);
        FILE *f = fopen(path, "r");
        if (f) {
            char *end;
            if (fgets(buf, sizeof buf, f)) {
                long first = strtol(buf, &end, 10);
                if (end != buf && first >= 0 && first < n)
                    key = (int)first;
            }
            fclose(f);
        }
        if (!seen[key]) {
            seen[key] = 1;
            cores++;
        }
    }
    free(seen);
    return cores > 0 ? cores : 1;
}

/* Physical cores this process may run on; SMT siblings share a core's execution units,
 * so a second compute thread on one buys little and competes with the first. */
static int detect_cores(int n_cpus)
{
#ifdef __linux__
    cpu_set_t set;
    unsigned char allowed[CPU_SETSIZE];
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return n_cpus;
    for (int i = 0; i < CPU_SETSIZE; i++)
        allowed[i] = CPU_ISSET(i, &set) ? 1 : 0;
    return cpu_count_cores("/sys/devices/system/cpu", allowed, CPU_SETSIZE);
#else
    return n_cpus;
#endif
}

static void cpu_detect(void)
{
    struct cpu_features *c = &g_cpu;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    c->n_cpus = n > 0 ? (int)n : 1;
    c->n_cores = detect_cores(c->n_cpus);
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

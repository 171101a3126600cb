/* Measuring the CPU and memory part of the hardware profile: the f32 FMA rate on one core
 * and on all usable cores (~0.5 s), and the memory read bandwidth over a buffer well
 * beyond the caches, one thread and all (~1 s). Each figure is the best of a few timed
 * runs of a team of threads released together.
 *
 * Not owned here: the per-ISA FMA kernels (profile_fma_avx2.c, profile_fma_avx512.c),
 * the CPU model and core count (sysinfo.c), the rest of the profile (profile.c). */
#include "tier/profile.h"
#include "tier/profile_kernels.h"
#include "tier/sysinfo.h"
#include "util/common.h"
#include "util/cpu.h"
#include "util/log.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

double profile_fma_scalar(uint64_t iters, float *sink)
{
    float a[8];
    for (int i = 0; i < 8; i++)
        a[i] = (float)i;
    for (uint64_t it = 0; it < iters; it++)
        for (int i = 0; i < 8; i++)
            a[i] = fmaf(a[i], 0.999999f, 1e-7f);
    float s = 0;
    for (int i = 0; i < 8; i++)
        s += a[i];
    *sink += s;
    return (double)iters * 8 * 2;
}

/* A team of threads released together, each running fn; reports the wall time from the
 * first start to the last finish. */
struct team_arg {
    _Atomic int *go;        /* 0 wait, 1 run, -1 give up */
    void (*fn)(void *ctx, int i);
    void *ctx;
    int i;
    double t0, t1;
};

static void *team_main(void *p)
{
    struct team_arg *a = p;
    int g;
    while ((g = atomic_load(a->go)) == 0)
        sched_yield();
    if (g < 0)
        return NULL;
    a->t0 = now_seconds();
    a->fn(a->ctx, a->i);
    a->t1 = now_seconds();
    return NULL;
}

static int run_team(int n, void (*fn)(void *, int), void *ctx, double *seconds)
{
    pthread_t th[256];
    struct team_arg args[256];
    _Atomic int go = 0;
    if (n > 256)
        n = 256;
    int started = 1;
    for (int i = 0; i < n; i++)
        args[i] = (struct team_arg){.go = &go, .fn = fn, .ctx = ctx, .i = i};
    for (int i = 1; i < n; i++, started++)
        if (pthread_create(&th[i], NULL, team_main, &args[i]))
            break;
    atomic_store(&go, started == n ? 1 : -1);
    if (started == n)
        team_main(&args[0]);
    for (int i = 1; i < started; i++)
        pthread_join(th[i], NULL);
    if (started < n) {
        set_error("cannot start %d measuring threads", n);
        return -EAGAIN;
    }
    double t0 = args[0].t0, t1 = args[0].t1;
    for (int i = 1; i < n; i++) {
        t0 = fmin(t0, args[i].t0);
        t1 = fmax(t1, args[i].t1);
    }
    *seconds = t1 - t0;
    return 0;
}

struct fma_ctx {
    uint64_t iters;
    double flops[256];
    float sink[256];
};

static void fma_fn(void *p, int i)
{
    struct fma_ctx *c = p;
    float s = 0;
#if defined(__x86_64__)
    enum simd_level level = cpu_features()->level;
    if (level == HY_SIMD_AVX512)
        c->flops[i] = profile_fma_avx512(c->iters, &s);
    else if (level == HY_SIMD_AVX2)
        c->flops[i] = profile_fma_avx2(c->iters, &s);
    else
#endif
        c->flops[i] = profile_fma_scalar(c->iters * 4, &s);
    c->sink[i] = s;
}

static double measure_fma(int n_threads)
{
    struct fma_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return 0;
    /* calibrate on one thread to about 50 ms, then run ~0.2 s */
    c->iters = 1 << 16;
    double secs = 0;
    for (;;) {
        if (run_team(1, fma_fn, c, &secs))
            break;
        if (secs > 0.05 || c->iters > (1ull << 40))
            break;
        c->iters *= 2;
    }
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        if (run_team(n_threads, fma_fn, c, &secs) || secs <= 0)
            break;
        double fl = 0;
        for (int i = 0; i < n_threads && i < 256; i++)
            fl += c->flops[i];
        best = fmax(best, fl / secs);
    }
    free(c);
    return best;
}

struct bw_ctx {
    const uint64_t *buf;
    size_t n_words;     /* whole buffer */
    int n_threads;
    uint64_t sum[256];
};

static void bw_fn(void *p, int i)
{
    struct bw_ctx *c = p;
    size_t per = c->n_words / (size_t)c->n_threads;
    const uint64_t *w = c->buf + per * (size_t)i;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    for (size_t k = 0; k + 8 <= per; k += 8) {
        s0 += w[k];
        s1 += w[k + 1];
        s2 += w[k + 2];
        s3 += w[k + 3];
        s4 += w[k + 4];
        s5 += w[k + 5];
        s6 += w[k + 6];
        s7 += w[k + 7];
    }
    c->sum[i] = s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7;
}

static double measure_bw(struct bw_ctx *c, int n_threads)
{
    c->n_threads = n_threads;
    double best = 0, secs;
    for (int rep = 0; rep < 4; rep++) {
        if (run_team(n_threads, bw_fn, c, &secs) || secs <= 0)
            break;
        size_t per = c->n_words / (size_t)n_threads / 8 * 8;
        best = fmax(best, (double)per * 8 * n_threads / secs);
    }
    return best;
}

int profile_measure_cpu(struct hy_profile *prof, hy_progress_fn pfn, void *user)
{
    const struct cpu_features *cpu = cpu_features();
    sysinfo_cpu_model(prof->cpu_model, sizeof prof->cpu_model);
    prof->n_cores = sysinfo_n_cpus();
    snprintf(prof->simd, sizeof prof->simd, "%s", simd_name(cpu->level));
    int nt = HY_MIN(prof->n_cores, 256);

    profile_progress(pfn, user, "cpu: FMA rate", 0.0);
    prof->cpu_flops_1t = measure_fma(1);
    profile_progress(pfn, user, "cpu: FMA rate", 0.5);
    prof->cpu_flops = nt > 1 ? measure_fma(nt) : prof->cpu_flops_1t;
    profile_progress(pfn, user, "cpu: FMA rate", 1.0);
    if (!(prof->cpu_flops > 0)) {
        set_error("could not measure the CPU's compute rate");
        return -EIO;
    }

    /* memory bandwidth: a buffer well beyond the caches (256 MiB, or an eighth of
     * what is available on small machines) */
    profile_progress(pfn, user, "memory bandwidth", 0.0);
    size_t bytes = 256u << 20;
    if (prof->ram_available && bytes > prof->ram_available / 8)
        bytes = (size_t)(prof->ram_available / 8) & ~(size_t)4095;
    if (bytes < (32u << 20))
        bytes = 32u << 20;
    uint64_t *buf = aligned_malloc(4096, bytes);
    if (!buf) {
        set_error("out of memory for the bandwidth buffer");
        return -ENOMEM;
    }
    for (size_t i = 0; i < bytes / 8; i++)
        buf[i] = i * 0x9e3779b97f4a7c15ull;
    struct bw_ctx *c = calloc(1, sizeof *c);
    if (!c) {
        free(buf);
        return -ENOMEM;
    }
    c->buf = buf;
    c->n_words = bytes / 8;
    prof->mem_bw_1t = measure_bw(c, 1);
    profile_progress(pfn, user, "memory bandwidth", 0.5);
    prof->mem_bw = nt > 1 ? measure_bw(c, nt) : prof->mem_bw_1t;
    if (prof->mem_bw < prof->mem_bw_1t)
        prof->mem_bw = prof->mem_bw_1t;
    profile_progress(pfn, user, "memory bandwidth", 1.0);
    free(c);
    free(buf);
    if (!(prof->mem_bw > 0)) {
        set_error("could not measure the memory bandwidth");
        return -EIO;
    }
    return 0;
}

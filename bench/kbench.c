/* kbench: single-thread speed of the quantized kernels, for each type and SIMD level,
 * against this machine's memory bandwidth measured in the same program.
 *
 *   vec_dot  GB/s of weight bytes over a 2048 x 8192 matrix (8192 rows of 2048: a decode
 *            matrix-vector product), streamed from RAM (copies cycled through > 512 MiB,
 *            so no cache holds them) and hot (one copy, cache-resident)
 *   gemm     GFLOP/s (2 flops per weight per token) of gemm tiles over 512 tokens
 *            (a 2048 x 2048 weight matrix in panels of 64 rows x 512 tokens)
 *   quant    GB/s of float input for the activation quantizers (from_float)
 *   random   GB/s written by quant_random_blocks (what synth runs at per core)
 * Every figure is the median of --reps runs (default 5). Not a test: no assertions.
 * The program pins itself to the CPU it starts on: on this VM an unpinned run migrates
 * and its "hot" figures halve at random.
 *
 *   build/kbench [--reps N] [--type Q4_K,...] [--level scalar,avx2,avx512,neon]
 *                [--no-stream] [--no-gemm] */
#include "quant/quant.h"
#include "util/common.h"

#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_reps = 5;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ---- memory bandwidth -------------------------------------------------------------------- */

static uint64_t g_sink;

static double bw_read_scalar(const uint64_t *p, size_t words)
{
    double t0 = now_seconds();
    uint64_t a = 0, b = 0, c = 0, d = 0;
    for (size_t i = 0; i + 4 <= words; i += 4) {
        a += p[i];
        b ^= p[i + 1];
        c += p[i + 2];
        d ^= p[i + 3];
    }
    double t = now_seconds() - t0;
    g_sink += a + b + c + d;
    return (double)words * 8 / t / 1e9;
}

#if defined(__x86_64__)
#include <immintrin.h>
/* the widest loads this CPU has: a plain C loop does not reach the bandwidth */
__attribute__((target("avx2"))) static double bw_read_avx2(const uint64_t *p, size_t words)
{
    double t0 = now_seconds();
    __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
    for (size_t i = 0; i + 16 <= words; i += 16) {
        a = _mm256_add_epi64(a, _mm256_load_si256((const __m256i *)(p + i)));
        b = _mm256_xor_si256(b, _mm256_load_si256((const __m256i *)(p + i + 4)));
        c = _mm256_add_epi64(c, _mm256_load_si256((const __m256i *)(p + i + 8)));
        d = _mm256_xor_si256(d, _mm256_load_si256((const __m256i *)(p + i + 12)));
    }
    double t = now_seconds() - t0;
    uint64_t v[4];
    _mm256_storeu_si256((__m256i *)v, _mm256_add_epi64(_mm256_add_epi64(a, b), _mm256_add_epi64(c, d)));
    g_sink += v[0] + v[1] + v[2] + v[3];
    return (double)words * 8 / t / 1e9;
}

__attribute__((target("avx512f"))) static double bw_read_avx512(const uint64_t *p, size_t words)
{
    double t0 = now_seconds();
    __m512i a = _mm512_setzero_si512(), b = a, c = a, d = a;
    for (size_t i = 0; i + 32 <= words; i += 32) {
        a = _mm512_add_epi64(a, _mm512_load_si512(p + i));
        b = _mm512_xor_si512(b, _mm512_load_si512(p + i + 8));
        c = _mm512_add_epi64(c, _mm512_load_si512(p + i + 16));
        d = _mm512_xor_si512(d, _mm512_load_si512(p + i + 24));
    }
    double t = now_seconds() - t0;
    g_sink += (uint64_t)_mm512_reduce_add_epi64(_mm512_add_epi64(_mm512_add_epi64(a, b), _mm512_add_epi64(c, d)));
    return (double)words * 8 / t / 1e9;
}
#endif

static double bw_read(const uint64_t *p, size_t words)
{
#if defined(__x86_64__)
    const struct cpu_features *c = cpu_features();
    if (c->avx512f)
        return bw_read_avx512(p, words);
    if (c->avx2)
        return bw_read_avx2(p, words);
#endif
    return bw_read_scalar(p, words);
}

static void bench_memory(void)
{
    const size_t bytes = 512u << 20;
    uint64_t *src = aligned_malloc(64, bytes), *dst = aligned_malloc(64, bytes);
    if (!src || !dst) {
        fprintf(stderr, "kbench: out of memory\n");
        exit(1);
    }
    memset(src, 1, bytes);
    memset(dst, 2, bytes);
    double r[32], c[32];
    for (int i = 0; i < g_reps; i++) {
        r[i] = bw_read(src, bytes / 8);
        double t0 = now_seconds();
        memcpy(dst, src, bytes);
        c[i] = (double)bytes / (now_seconds() - t0) / 1e9;
    }
    printf("memory (1 thread, 512 MiB): read %.2f GB/s, memcpy %.2f GB/s (bytes copied)\n",
           median(r, g_reps), median(c, g_reps));
    free(src);
    free(dst);
}

/* ---- kernels ------------------------------------------------------------------------------ */

struct buf {
    void *p;
    size_t bytes;
};

static void *xalloc(size_t n)
{
    void *p = aligned_malloc(64, n);
    if (!p) {
        fprintf(stderr, "kbench: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

static void bench_type(enum qtype t, const enum simd_level *levels, int nl, bool stream, bool gemm)
{
    const int n = 2048, rows = 8192, tokens = 512, grows = 2048, panel = 64;
    const struct type_info *ti = type_info(t);
    const size_t rb = (size_t)type_row_bytes(ti, n), mb = rb * rows;
    /* enough copies that the stream never hits a cache */
    int copies = stream ? (int)((768ull << 20) / mb + 1) : 1;
    uint8_t *w = xalloc(mb * (size_t)copies);
    uint64_t rng = 1;
    for (int c = 0; c < copies; c++)
        quant_random_blocks(t, w + mb * (size_t)c, (int64_t)n * rows, &rng, 0.02f);
    const struct quant_kernels *k0 = quant_kernels_at(t, HY_SIMD_SCALAR);
    const enum qtype pt = k0->vec_dot_type;
    const size_t ab = (size_t)type_row_bytes(type_info(pt), n);
    float *x = xalloc((size_t)n * tokens * sizeof(float));
    for (size_t i = 0; i < (size_t)n * tokens; i++)
        x[i] = (float)((int)(i * 2654435761u % 2001) - 1000) * 0.001f;
    uint8_t *a = xalloc(ab * tokens);
    float *out = xalloc((size_t)rows * tokens * sizeof(float));

    for (int l = 0; l < nl; l++) {
        const struct quant_kernels *k = quant_kernels_at(t, levels[l]);
        const struct quant_kernels *p = quant_kernels_at(pt, levels[l]);
        if (!k || !p)
            continue;
        for (int c = 0; c < tokens; c++)
            p->from_float(x + (size_t)c * n, a + ab * c, n);
        double vs[32], vh[32], vg[32];
        /* streamed: each rep reads every copy once */
        double gbs_stream = 0;
        if (stream) {
            for (int r = 0; r < g_reps; r++) {
                double t0 = now_seconds();
                for (int c = 0; c < copies; c++) {
                    const uint8_t *m = w + mb * (size_t)c;
                    for (int i = 0; i < rows; i++)
                        k->vec_dot(n, &out[i], m + rb * i, a);
                }
                vs[r] = (double)mb * copies / (now_seconds() - t0) / 1e9;
            }
            gbs_stream = median(vs, g_reps);
        }
        /* hot: 1 MiB of rows, repeated */
        int hot_rows = (int)((1u << 20) / rb);
        if (hot_rows < 1)
            hot_rows = 1;
        int passes = (int)(((size_t)64 << 20) / (rb * hot_rows)) + 1;
        for (int r = 0; r < g_reps; r++) {
            double t0 = now_seconds();
            for (int q = 0; q < passes; q++)
                for (int i = 0; i < hot_rows; i++)
                    k->vec_dot(n, &out[i], w + rb * i, a);
            vh[r] = (double)rb * hot_rows * passes / (now_seconds() - t0) / 1e9;
        }
        double gf = 0;
        if (gemm) {
            const int reps = levels[l] == HY_SIMD_SCALAR ? 1 : g_reps;
            for (int r = 0; r < reps; r++) {
                double t0 = now_seconds();
                for (int r0 = 0; r0 < grows; r0 += panel)
                    k->gemm(n, panel, tokens, w + rb * r0, rb, a, ab, out + r0, grows);
                vg[r] = 2.0 * n * grows * tokens / (now_seconds() - t0) / 1e9;
            }
            gf = median(vg, reps);
        }
        printf("%-5s %-7s vec_dot stream %6.2f GB/s  hot %6.2f GB/s   gemm %7.1f GFLOP/s\n",
               ti->name, simd_name(levels[l]), gbs_stream, median(vh, g_reps), gf);
        fflush(stdout);
    }
    free(w);
    free(x);
    free(a);
    free(out);
}

static void bench_quantizers(const enum simd_level *levels, int nl)
{
    const enum qtype pts[] = {HY_TYPE_F16, HY_TYPE_BF16, HY_TYPE_Q8_0, HY_TYPE_Q8_1, HY_TYPE_Q8_K};
    const int n = 1 << 20;
    float *x = xalloc((size_t)n * sizeof(float));
    for (int i = 0; i < n; i++)
        x[i] = (float)((int)((unsigned)i * 2654435761u % 2001) - 1000) * 0.001f;
    void *y = xalloc((size_t)n * 4);
    for (size_t i = 0; i < HY_ARRAY_LEN(pts); i++) {
        for (int l = 0; l < nl; l++) {
            const struct quant_kernels *k = quant_kernels_at(pts[i], levels[l]);
            double v[32];
            for (int r = 0; r < g_reps; r++) {
                double t0 = now_seconds();
                for (int q = 0; q < 8; q++)
                    k->from_float(x, y, n);
                v[r] = 8.0 * n * sizeof(float) / (now_seconds() - t0) / 1e9;
            }
            printf("%-5s %-7s from_float %6.2f GB/s of floats\n", type_name(pts[i]),
                   simd_name(levels[l]), median(v, g_reps));
        }
    }
    free(x);
    free(y);
}

static void bench_random(const enum qtype *types, int nt)
{
    const int64_t n = 64 << 20;   /* elements */
    void *y = xalloc((size_t)n * 4);
    for (int i = 0; i < nt; i++) {
        const struct type_info *ti = type_info(types[i]);
        double v[32];
        uint64_t rng = 5;
        for (int r = 0; r < g_reps; r++) {
            double t0 = now_seconds();
            quant_random_blocks(types[i], y, n, &rng, 0.02f);
            v[r] = (double)type_row_bytes(ti, (uint64_t)n) / (now_seconds() - t0) / 1e9;
        }
        printf("%-5s random blocks %6.2f GB/s written\n", ti->name, median(v, g_reps));
    }
    free(y);
}

static bool in_list(const char *list, const char *name)
{
    if (!list)
        return true;
    size_t len = strlen(name);
    for (const char *p = list; (p = strstr(p, name)); p += len)
        if ((p == list || p[-1] == ',') && (p[len] == 0 || p[len] == ','))
            return true;
    return false;
}

int main(int argc, char **argv)
{
    const char *types = NULL, *lvls = NULL;
    bool stream = true, gemm = true;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            g_reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--type") && i + 1 < argc)
            types = argv[++i];
        else if (!strcmp(argv[i], "--level") && i + 1 < argc)
            lvls = argv[++i];
        else if (!strcmp(argv[i], "--no-stream"))
            stream = false;
        else if (!strcmp(argv[i], "--no-gemm"))
            gemm = false;
        else {
            fprintf(stderr, "usage: kbench [--reps N] [--type T,..] [--level L,..] [--no-stream] [--no-gemm]\n");
            return 2;
        }
    }
    if (g_reps < 1 || g_reps > 32)
        g_reps = 5;
    int me = sched_getcpu();
    if (me >= 0) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(me, &set);
        sched_setaffinity(0, sizeof set, &set);
    }
    const struct cpu_features *cpu = cpu_features();
    enum simd_level all[4], levels[4];
    int na = 0, nl = 0;
    all[na++] = HY_SIMD_SCALAR;
#if defined(__x86_64__)
    if (cpu->level >= HY_SIMD_AVX2)
        all[na++] = HY_SIMD_AVX2;
    if (cpu->level >= HY_SIMD_AVX512)
        all[na++] = HY_SIMD_AVX512;
#elif defined(__aarch64__)
    all[na++] = HY_SIMD_NEON;
#endif
    for (int i = 0; i < na; i++)
        if (in_list(lvls, simd_name(all[i])))
            levels[nl++] = all[i];
    printf("kbench: %d CPUs (pinned to cpu %d), best level %s, medians of %d runs\n",
           cpu->n_cpus, me, simd_name(cpu->level), g_reps);
    bench_memory();
    const enum qtype wt[] = {HY_TYPE_Q4_K, HY_TYPE_Q6_K, HY_TYPE_Q8_0, HY_TYPE_F16,
                               HY_TYPE_Q5_K, HY_TYPE_Q4_0, HY_TYPE_Q3_K, HY_TYPE_Q2_K,
                               HY_TYPE_Q4_1, HY_TYPE_Q5_0, HY_TYPE_Q5_1, HY_TYPE_BF16,
                               HY_TYPE_F32};
    enum qtype sel[HY_ARRAY_LEN(wt)];
    int ns = 0;
    for (size_t i = 0; i < HY_ARRAY_LEN(wt); i++)
        if (in_list(types, type_name(wt[i])))
            sel[ns++] = wt[i];
    for (int i = 0; i < ns; i++)
        bench_type(sel[i], levels, nl, stream, gemm);
    bench_quantizers(levels, nl);
    bench_random(sel, ns);
    return (int)(g_sink & 0);
}

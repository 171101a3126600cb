/* Kernel dispatch, scalar fp16/bf16 conversions and random blocks.
 *
 * Dispatch: every level's table (quant_impl.h) is merged once over the level below it
 * (AVX-512 over AVX2 over the reference): a SIMD table leaves NULL what it does not speed
 * up, and that kernel comes from the best level under it. The merged tables are the module's
 * one init-once registry, filled under pthread_once and read-only afterwards.
 *
 * Not here: the kernels themselves (quant_ref.c and the per-ISA files). */
#include "quant/quant_impl.h"

#include <errno.h>
#include <pthread.h>

/* ---- dispatch ------------------------------------------------------------------------ */

#define N_LEVELS (HY_SIMD_NEON + 1)

static struct quant_kernels g_merged[N_LEVELS][HY_TYPE_COUNT];
static bool g_built[N_LEVELS];
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* level's table = base (the reference, or the level below) with fast's non-NULL kernels */
static void merge(enum simd_level level, const struct quant_kernels *base,
                  const struct quant_kernels *fast)
{
    for (int t = 0; t < HY_TYPE_COUNT; t++) {
        struct quant_kernels k = base[t];
        if (k.to_float && fast) {
            const struct quant_kernels *f = &fast[t];
            if (f->to_float)
                k.to_float = f->to_float;
            if (f->from_float)
                k.from_float = f->from_float;
            if (f->vec_dot)
                k.vec_dot = f->vec_dot;
            if (f->gemm)
                k.gemm = f->gemm;
        }
        g_merged[level][t] = k;
    }
    g_built[level] = true;
}

static void build_tables(void)
{
    merge(HY_SIMD_SCALAR, quant_table_ref, NULL);
#if defined(__x86_64__)
    merge(HY_SIMD_AVX2, quant_table_ref, quant_table_avx2);
    merge(HY_SIMD_AVX512, g_merged[HY_SIMD_AVX2], quant_table_avx512);   /* AVX-512 has AVX2 */
#elif defined(__aarch64__)
    merge(HY_SIMD_NEON, quant_table_ref, quant_table_neon);
#endif
}

const struct quant_kernels *quant_kernels_at(enum qtype t, enum simd_level level)
{
    if ((unsigned)t >= HY_TYPE_COUNT || (unsigned)level >= N_LEVELS)
        return NULL;
    pthread_once(&g_once, build_tables);
    if (!g_built[level] || !g_merged[level][t].to_float)
        return NULL;
    return &g_merged[level][t];
}

const struct quant_kernels *quant_kernels(enum qtype t)
{
    return quant_kernels_at(t, cpu_features()->level);
}

/* ---- fp16 / bf16 ---------------------------------------------------------------------- */

float fp16_to_fp32(uint16_t h)
{
    return quant_h2f(h);
}

/* Round to nearest even, like F16C's vcvtps2ph (imm 0) and ggml: overflow gives inf,
 * subnormal results are kept, NaN stays NaN (quiet bit set, top payload bits kept). */
uint16_t fp32_to_fp16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    const uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    const uint32_t ax = x & 0x7fffffffu;
    if (ax > 0x7f800000u)
        return sign | 0x7e00u | (uint16_t)((ax >> 13) & 0x3ffu);
    if (ax >= 0x477ff000u)   /* >= 65520 = 65504 + half an ulp: the tie goes to inf (even) */
        return sign | 0x7c00u;
    if (ax < 0x38800000u) {  /* below 2^-14: an fp16 subnormal (or zero) */
        if (ax <= 0x33000000u)   /* <= 2^-25: rounds to zero (2^-25 is a tie, 0 is even) */
            return sign;
        const uint32_t e = ax >> 23, m = (ax & 0x7fffffu) | 0x800000u;
        const uint32_t shift = 126 - e;   /* value = m * 2^(e-150), unit 2^-24 */
        uint32_t q = m >> shift;
        const uint32_t rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        q += rem > half || (rem == half && (q & 1));
        return sign | (uint16_t)q;
    }
    /* normal: rebias the exponent (127 -> 15) and round away 13 mantissa bits */
    return sign | (uint16_t)((ax - 0x38000000u + 0xfffu + ((ax >> 13) & 1)) >> 13);
}

float bf16_to_fp32(uint16_t h)
{
    uint32_t x = (uint32_t)h << 16;
    float f;
    memcpy(&f, &x, 4);
    return f;
}

/* ggml's GGML_FP32_TO_BF16: NaN quieted (bit 6), else round to nearest even. */
uint16_t fp32_to_bf16(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((x >> 16) | 64);
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1)) >> 16);
}

/* ---- random blocks ---------------------------------------------------------------------- */
/* Quants come straight from 64-bit PRNG words (every bit pattern of a quant field is a
 * valid quant, uniform over its range); only the per-block scales use float math. The
 * scale of each block is drawn around the value that gives the requested standard
 * deviation (x0.75 .. x1.25), sub-block scales over the upper half of their range, and
 * the mins of the affine types are set so that the weights are centred on zero. */

static inline uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* uniform in [lo, hi) from 24 random bits */
static inline float rand_range(uint64_t *s, float lo, float hi)
{
    return lo + (hi - lo) * (float)(splitmix64(s) >> 40) * 0x1p-24f;
}

static void fill_random(uint64_t *s, void *dst, size_t len)
{
    uint8_t *p = dst;
    for (; len >= 8; len -= 8, p += 8) {
        uint64_t r = splitmix64(s);
        memcpy(p, &r, 8);
    }
    if (len) {
        uint64_t r = splitmix64(s);
        memcpy(p, &r, len);
    }
}

/* Standard deviations of a quant uniform over its codes: sqrt((k^2 - 1) / 12). */
#define SD4 4.6098f    /* 16 codes */
#define SD5 9.2331f    /* 32 */
#define SD6 18.4752f   /* 64 */
#define SD8 73.9003f   /* 256 */
#define SD2 1.1180f    /* 4 */
#define SD3 2.2913f    /* 8 */

/* Float rows: values from a 4096-entry table spanning the uniform distribution of the
 * requested deviation (+-sqrt(3) sd), indexed with 12 random bits. */
static void random_float_rows(enum qtype t, void *dst, int64_t n, uint64_t *s, float scale)
{
    float tab[4096];
    for (int i = 0; i < 4096; i++)
        tab[i] = ((float)i + 0.5f - 2048.0f) * (1.7320508f * scale / 2048.0f);
    uint16_t htab[4096];
    if (t != HY_TYPE_F32)
        for (int i = 0; i < 4096; i++)
            htab[i] = t == HY_TYPE_F16 ? fp32_to_fp16(tab[i]) : fp32_to_bf16(tab[i]);
    float *f = dst;
    uint16_t *h = dst;
    int64_t i = 0;
    while (i < n) {
        uint64_t r = splitmix64(s);
        for (int k = 0; k < 5 && i < n; k++, i++, r >>= 12) {
            if (t == HY_TYPE_F32)
                f[i] = tab[r & 4095];
            else
                h[i] = htab[r & 4095];
        }
    }
}

static inline void set_half(fp16_t *h, float v)
{
    *h = fp32_to_fp16(v);
}

int quant_random_blocks(enum qtype t, void *dst, int64_t n, uint64_t *rng, float scale)
{
    const struct type_info *ti = type_info((uint32_t)t);
    if (!ti || !quant_table_ref[t].to_float || n < 0 || n % ti->blck || !(scale >= 0) ||
        !(scale < 1e30f))
        return -EINVAL;
    uint64_t s = *rng;
    const int64_t nb = n / ti->blck;
    if (ti->blck == 1) {
        random_float_rows(t, dst, n, &s, scale);
        *rng = s;
        return 0;
    }
    /* each block: random bytes (the quants), then its scales over them, while it is in L1 */
    for (int64_t i = 0; i < nb; i++) {
        fill_random(&s, (uint8_t *)dst + (size_t)i * ti->bytes, ti->bytes);
        const float jit = rand_range(&s, 0.75f, 1.25f);
        switch (t) {
        case HY_TYPE_Q4_0: {   /* codes -8..7: a random sign of d centres them */
            block_q4_0 *b = (block_q4_0 *)dst + i;
            set_half(&b->d, (b->qs[0] & 1 ? jit : -jit) * scale / SD4);
            break;
        }
        case HY_TYPE_Q4_1: {
            block_q4_1 *b = (block_q4_1 *)dst + i;
            const float d = jit * scale / SD4;
            set_half(&b->d, d);
            set_half(&b->m, -7.5f * d);
            break;
        }
        case HY_TYPE_Q5_0: {
            block_q5_0 *b = (block_q5_0 *)dst + i;
            set_half(&b->d, (b->qs[0] & 1 ? jit : -jit) * scale / SD5);
            break;
        }
        case HY_TYPE_Q5_1: {
            block_q5_1 *b = (block_q5_1 *)dst + i;
            const float d = jit * scale / SD5;
            set_half(&b->d, d);
            set_half(&b->m, -15.5f * d);
            break;
        }
        case HY_TYPE_Q8_0: {
            block_q8_0 *b = (block_q8_0 *)dst + i;
            set_half(&b->d, jit * scale / SD8);
            break;
        }
        case HY_TYPE_Q8_1: {
            block_q8_1 *b = (block_q8_1 *)dst + i;
            int sum = 0;
            for (int j = 0; j < QK8_1; j++) {
                b->qs[j] = b->qs[j] == -128 ? -127 : b->qs[j];
                sum += b->qs[j];
            }
            const float d = jit * scale / SD8;
            set_half(&b->d, d);
            set_half(&b->s, d * (float)sum);
            break;
        }
        case HY_TYPE_Q2_K: {
            /* scales byte: low nibble scale, high nibble min; equal nibbles with
             * dmin = 1.5 d centre the 0..3 codes */
            block_q2_K *b = (block_q2_K *)dst + i;
            for (int j = 0; j < 16; j++) {
                uint8_t v = (uint8_t)(8 | (b->scales[j] & 7));
                b->scales[j] = (uint8_t)(v | v << 4);
            }
            const float d = jit * scale / (SD2 * 11.5f);
            set_half(&b->d, d);
            set_half(&b->dmin, 1.5f * d);
            break;
        }
        case HY_TYPE_Q3_K: {
            /* 6-bit scales stored + 32, with a random sign (codes -4..3 are not
             * centred): the low nibbles stay random and the high 2 bits are 3 (stored
             * 48..63: +16..+31) or 0 (stored 1..15: -31..-17; a zero nibble becomes 1) */
            block_q3_K *b = (block_q3_K *)dst + i;
            const uint32_t signs = (uint32_t)(b->hmask[0] | b->hmask[1] << 8);
            uint32_t hi = 0;   /* the 4 high-bit bytes, little-endian */
            for (int j = 0; j < 16; j++) {
                const uint32_t pos = (signs >> j) & 1;
                hi |= (pos * 3u) << (8 * (j % 4) + 2 * (j / 4));
                /* a negative scale's low nibble must not be 0 (-32 is not a scale we want) */
                const int sh = j < 8 ? 0 : 4;
                const uint8_t lo = (uint8_t)((b->scales[j % 8] >> sh) & 15);
                b->scales[j % 8] |= (uint8_t)((!pos && !lo) << sh);
            }
            memcpy(b->scales + 8, &hi, 4);
            set_half(&b->d, jit * scale / (SD3 * 23.5f));
            break;
        }
        case HY_TYPE_Q4_K:
        case HY_TYPE_Q5_K: {
            /* scales 32..63 and mins equal to them; dmin = 7.5 d (15.5 d) centres */
            uint8_t *sc = t == HY_TYPE_Q4_K ? ((block_q4_K *)dst + i)->scales
                                            : ((block_q5_K *)dst + i)->scales;
            fp16_t *hd = t == HY_TYPE_Q4_K ? &((block_q4_K *)dst + i)->d : &((block_q5_K *)dst + i)->d;
            fp16_t *hm = t == HY_TYPE_Q4_K ? &((block_q4_K *)dst + i)->dmin : &((block_q5_K *)dst + i)->dmin;
            for (int j = 0; j < 4; j++) {
                sc[j] |= 0x20;                                /* bit 5 set: >= 32 */
                sc[j + 4] = sc[j];                            /* min j = scale j */
            }
            for (int j = 8; j < 12; j++) {   /* scale and min j - 4: low nibbles equal */
                sc[j] = (uint8_t)((sc[j] & 0x0f) | (sc[j] & 0x0f) << 4);
                sc[j - 8] |= 0x80;           /* bit 5 of scale j - 4 ... */
                sc[j - 4] |= 0x80;           /* ... and of min j - 4 (bit 4 already equal) */
            }
            const float sd = t == HY_TYPE_Q4_K ? SD4 : SD5;
            const float d = jit * scale / (sd * 47.5f);
            set_half(hd, d);
            set_half(hm, (t == HY_TYPE_Q4_K ? 7.5f : 15.5f) * d);
            break;
        }
        case HY_TYPE_Q6_K: {
            block_q6_K *b = (block_q6_K *)dst + i;
            for (int j = 0; j < 16; j++)   /* |scale| 64..127, random sign */
                b->scales[j] = (int8_t)(b->scales[j] < 0 ? -(64 | (b->scales[j] & 63))
                                                         : (64 | (b->scales[j] & 63)));
            set_half(&b->d, jit * scale / (SD6 * 95.5f));
            break;
        }
        case HY_TYPE_Q8_K: {
            block_q8_K *b = (block_q8_K *)dst + i;
            for (int j = 0; j < QK_K; j++)
                b->qs[j] = b->qs[j] == -128 ? -127 : b->qs[j];
            for (int j = 0; j < QK_K / 16; j++) {
                int sum = 0;
                for (int l = 0; l < 16; l++)
                    sum += b->qs[16 * j + l];
                b->bsums[j] = (int16_t)sum;
            }
            b->d = jit * scale / SD8;
            break;
        }
        default:
            return -EINVAL;
        }
    }
    *rng = s;
    return 0;
}

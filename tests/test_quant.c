/* Quantized kernels: the reference against values worked out by hand from the formats,
 * then every SIMD level this CPU runs against the reference, for every type: to_float
 * exact, from_float bit-exact, vec_dot and gemm within float rounding, on awkward
 * lengths, pointers off the vector alignment and extreme blocks.
 * Pointers keep the natural alignment of their block struct (2 bytes, 4 for F32 and Q8_K):
 * GGUF data and activation buffers always have it. */
#include "quant/quant.h"
#include "test.h"
#include "util/common.h"

#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

static const enum qtype k_weights[] = {
    HY_TYPE_F32, HY_TYPE_F16, HY_TYPE_BF16, HY_TYPE_Q4_0, HY_TYPE_Q4_1, HY_TYPE_Q5_0,
    HY_TYPE_Q5_1, HY_TYPE_Q8_0, HY_TYPE_Q2_K, HY_TYPE_Q3_K, HY_TYPE_Q4_K, HY_TYPE_Q5_K,
    HY_TYPE_Q6_K,
};
static const enum qtype k_partners[] = {
    HY_TYPE_F32, HY_TYPE_F16, HY_TYPE_BF16, HY_TYPE_Q8_0, HY_TYPE_Q8_1, HY_TYPE_Q8_K,
};

/* The SIMD levels this CPU can run (whatever HYPURA_SIMD caps the default to). */
static int simd_levels(enum simd_level out[4])
{
    const struct cpu_features *c = cpu_features();
    int n = 0;
#if defined(__x86_64__)
    bool avx2 = c->avx2 && c->fma && c->f16c && c->bmi2;
    if (avx2)
        out[n++] = HY_SIMD_AVX2;
    if (avx2 && c->avx512f && c->avx512bw && c->avx512vl && c->avx512dq && c->avx512vnni &&
        c->avx512bf16)
        out[n++] = HY_SIMD_AVX512;
#elif defined(__aarch64__)
    (void)c;
    out[n++] = HY_SIMD_NEON;
#else
    (void)c;
#endif
    return n;
}

static size_t row_bytes(enum qtype t, int64_t n)
{
    return (size_t)type_row_bytes(type_info(t), (uint64_t)n);
}

static bool same_bits(const void *a, const void *b, size_t n)
{
    return memcmp(a, b, n) == 0;
}

/* ---- fp16 / bf16 ------------------------------------------------------------------------ */

static void test_fp16_known(void)
{
    static const struct { float f; uint16_t h; } cases[] = {
        {0.0f, 0x0000},          {-0.0f, 0x8000},        {1.0f, 0x3c00},
        {-2.0f, 0xc000},         {65504.0f, 0x7bff},     {65519.0f, 0x7bff},
        {65520.0f, 0x7c00},      {1e10f, 0x7c00},        {0x1p-14f, 0x0400},
        {0x1p-24f, 0x0001},      {0x1p-25f, 0x0000},     {0x1.8p-25f, 0x0001},
        {0x1.8p-24f, 0x0002},    {0x1.4p-24f, 0x0001},   {1.0f + 0x1p-11f, 0x3c00},
        {1.0f + 0x1p-11f + 0x1p-20f, 0x3c01}, {1.0f + 3 * 0x1p-11f, 0x3c02},
        {0.1f, 0x2e66},          {-0.333333f, 0xb555},
    };
    for (size_t i = 0; i < HY_ARRAY_LEN(cases); i++) {
        CHECKF(fp32_to_fp16(cases[i].f) == cases[i].h, "%a -> %04x, want %04x", cases[i].f,
               fp32_to_fp16(cases[i].f), cases[i].h);
    }
    /* every non-NaN half survives the round trip; NaN stays NaN */
    for (uint32_t h = 0; h < 65536; h++) {
        float f = fp16_to_fp32((uint16_t)h);
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) {
            CHECK(f != f);
            continue;
        }
        CHECKF(fp32_to_fp16(f) == h, "%04x", h);
    }
    CHECK(fp16_to_fp32(0x0001) == 0x1p-24f);
    CHECK(fp16_to_fp32(0x83ff) == -0x1.ff8p-15f);
    CHECK(fp16_to_fp32(0x7c00) == INFINITY);
}

#if defined(__x86_64__)
__attribute__((target("f16c"))) static uint16_t f16c_round(float f)
{
    return (uint16_t)_cvtss_sh(f, 0);
}
#elif defined(__aarch64__)
static uint16_t f16c_round(float f)   /* the hardware's conversion (fcvt) */
{
    __fp16 h = (__fp16)f;
    uint16_t u;
    memcpy(&u, &h, 2);
    return u;
}
#endif

/* The scalar conversion agrees with the hardware's (F16C, or fcvt on arm64) on a sweep of
 * 2^24 floats covering every exponent (exhaustive on x86: see the report). */
static void test_fp16_vs_f16c(void)
{
#if defined(__x86_64__) || defined(__aarch64__)
#if defined(__x86_64__)
    if (!cpu_features()->f16c) {
        TEST_SKIP("no F16C");
        return;
    }
#endif
    uint64_t rng = 7;
    for (uint32_t u = 0; u < (1u << 24); u++) {
        uint32_t bits = (u << 8) | (uint32_t)(test_rand(&rng) & 0xff);
        float f;
        memcpy(&f, &bits, 4);
        uint16_t a = fp32_to_fp16(f), b = f16c_round(f);
        if (a != b) {
            CHECKF(a == b, "%08x: %04x vs f16c %04x", bits, a, b);
            break;
        }
    }
#else
    TEST_SKIP("no hardware fp16 conversion to compare with");
#endif
}

static void test_bf16_known(void)
{
    CHECK(fp32_to_bf16(1.0f) == 0x3f80);
    CHECK(fp32_to_bf16(-2.0f) == 0xc000);
    CHECK(fp32_to_bf16(1.0f + 0x1p-8f) == 0x3f80);             /* tie, to even */
    CHECK(fp32_to_bf16(1.0f + 0x1p-8f + 0x1p-20f) == 0x3f81);
    CHECK(fp32_to_bf16(1.0f + 3 * 0x1p-8f) == 0x3f82);         /* tie, to even (up) */
    CHECK(fp32_to_bf16(0x1p-130f) == 0x0008);                   /* subnormals kept */
    CHECK(fp32_to_bf16(3.4e38f) == 0x7f80);                      /* rounds to inf */
    CHECK(fp32_to_bf16(NAN) != 0x7f80 && (fp32_to_bf16(NAN) & 0x7f80) == 0x7f80);
    CHECK(bf16_to_fp32(0x3f80) == 1.0f);
    CHECK(bf16_to_fp32(0xc0a0) == -5.0f);
}

/* ---- the reference against hand-worked values ----------------------------------------- */

static void check_floats(const char *what, const float *got, const float *want, int n)
{
    for (int i = 0; i < n; i++) {
        if (got[i] != want[i]) {
            CHECKF(got[i] == want[i], "%s[%d] = %g, want %g", what, i, got[i], want[i]);
            return;
        }
    }
}

static void dequant_ref(enum qtype t, const void *x, float *y, int n)
{
    quant_kernels_at(t, HY_SIMD_SCALAR)->to_float(x, y, n);
}

static void test_ref_known_32(void)
{
    float y[32], want[32];
    {   /* Q4_0: element j = (nibble - 8) * d; j < 16 low nibbles, j >= 16 high nibbles */
        block_q4_0 b = {.d = 0x3800};   /* 0.5 */
        for (int j = 0; j < 16; j++)
            b.qs[j] = (uint8_t)(j | (15 - j) << 4);
        for (int j = 0; j < 16; j++) {
            want[j] = (j - 8) * 0.5f;
            want[j + 16] = (15 - j - 8) * 0.5f;
        }
        dequant_ref(HY_TYPE_Q4_0, &b, y, 32);
        check_floats("q4_0", y, want, 32);
    }
    {   /* Q4_1: nibble * d + m */
        block_q4_1 b = {.d = 0x3400, .m = 0xbc00};   /* 0.25, -1 */
        for (int j = 0; j < 16; j++)
            b.qs[j] = (uint8_t)(j | (15 - j) << 4);
        for (int j = 0; j < 16; j++) {
            want[j] = j * 0.25f - 1;
            want[j + 16] = (15 - j) * 0.25f - 1;
        }
        dequant_ref(HY_TYPE_Q4_1, &b, y, 32);
        check_floats("q4_1", y, want, 32);
    }
    {   /* Q5_0: bit j of qh is bit 4 of element j; minus 16 */
        block_q5_0 b = {.d = 0x3c00, .qh = {0x01, 0x00, 0x02, 0x80}};  /* bits 0, 17, 31 */
        for (int j = 0; j < 16; j++)
            b.qs[j] = (uint8_t)(j | (15 - j) << 4);
        for (int j = 0; j < 16; j++) {
            want[j] = (float)(j - 16);
            want[j + 16] = (float)(15 - j - 16);
        }
        want[0] += 16;
        want[17] += 16;
        want[31] += 16;
        dequant_ref(HY_TYPE_Q5_0, &b, y, 32);
        check_floats("q5_0", y, want, 32);
    }
    {   /* Q5_1: (5-bit q) * d + m */
        block_q5_1 b = {.d = 0x3800, .m = 0x4000, .qh = {0xff, 0x00, 0x00, 0xff}};
        for (int j = 0; j < 16; j++)
            b.qs[j] = (uint8_t)(j | j << 4);
        for (int j = 0; j < 32; j++) {
            int q = (j % 16) + ((j < 8 || j >= 24) ? 16 : 0);
            want[j] = q * 0.5f + 2;
        }
        dequant_ref(HY_TYPE_Q5_1, &b, y, 32);
        check_floats("q5_1", y, want, 32);
    }
    {   /* Q8_0: q * d */
        block_q8_0 b = {.d = 0x4000};   /* 2 */
        for (int j = 0; j < 32; j++) {
            b.qs[j] = (int8_t)(j - 16);
            want[j] = 2.0f * (j - 16);
        }
        b.qs[0] = -128;
        want[0] = -256;
        dequant_ref(HY_TYPE_Q8_0, &b, y, 32);
        check_floats("q8_0", y, want, 32);
    }
}

static void test_ref_known_k(void)
{
    float y[256], want[256];
    {   /* Q2_K: qs bytes 0xe4 hold codes 0,1,2,3 at shifts 0,2,4,6, so element
         * 128 h + 32 k + l has q = k; sub-block s = element / 16 has scale s % 16 (low
         * nibble) and min 15 - s (high nibble); value = d * sc * q - dmin * min. */
        block_q2_K b = {.d = 0x3c00, .dmin = 0x3800};   /* 1, 0.5 */
        memset(b.qs, 0xe4, sizeof b.qs);
        for (int s = 0; s < 16; s++)
            b.scales[s] = (uint8_t)(s | (15 - s) << 4);
        for (int e = 0; e < 256; e++) {
            int s = e / 16, k = (e / 32) % 4;
            want[e] = (1.0f * s) * k - 0.5f * (15 - s);
        }
        dequant_ref(HY_TYPE_Q2_K, &b, y, 256);
        check_floats("q2_K", y, want, 256);
    }
    {   /* Q3_K: scale bytes 0..7 = 0x21 give low bits 1 (scales 0-7) and 2 (scales 8-15);
         * bytes 8..11 = 0xe4 give high bits j / 4; stored - 32:
         * scales 0-3: 1 - 32, 4-7: 17 - 32, 8-11: 34 - 32, 12-15: 50 - 32.
         * hmask bytes 0x0f: the high bit is set for the first 128 elements (q = k), clear
         * for the last 128 (q = k - 4). */
        block_q3_K b = {.d = 0x3800};   /* 0.5 */
        memset(b.qs, 0xe4, sizeof b.qs);
        memset(b.hmask, 0x0f, sizeof b.hmask);
        memset(b.scales, 0x21, 8);
        memset(b.scales + 8, 0xe4, 4);
        static const int sc[4] = {-31, -15, 2, 18};
        for (int e = 0; e < 256; e++) {
            int s = e / 16, k = (e / 32) % 4, q = e < 128 ? k : k - 4;
            want[e] = (0.5f * sc[s / 4]) * q;
        }
        dequant_ref(HY_TYPE_Q3_K, &b, y, 256);
        check_floats("q3_K", y, want, 256);
    }
    /* Q4_K / Q5_K scales: bytes 0-3 = (j + 1) | 1 << 6: scales 0-3 = 1..4 and bit 4 of
     * scales 4-7; bytes 4-7 = (10 + j) | 2 << 6: mins 0-3 = 10..13 and bit 5 of mins 4-7;
     * bytes 8-11 = j | (15 - j) << 4 (j = 0..3): low bits of scale 4+j = j, of min 4+j = 15-j.
     * So scales = 1 2 3 4 16 17 18 19, mins = 10 11 12 13 47 46 45 44. */
    static const int k4sc[8] = {1, 2, 3, 4, 16, 17, 18, 19};
    static const int k4mn[8] = {10, 11, 12, 13, 47, 46, 45, 44};
    uint8_t k4bytes[12];
    for (int j = 0; j < 4; j++) {
        k4bytes[j] = (uint8_t)((j + 1) | 1 << 6);
        k4bytes[j + 4] = (uint8_t)((10 + j) | 2 << 6);
        k4bytes[j + 8] = (uint8_t)(j | (15 - j) << 4);
    }
    {   /* Q4_K: element 64 g + 32 t + l is nibble t of qs[32 g + l]; qs[i] = i%16 | (15-i%16)<<4 */
        block_q4_K b = {.d = 0x3c00, .dmin = 0x4000};   /* 1, 2 */
        memcpy(b.scales, k4bytes, 12);
        for (int i = 0; i < 128; i++)
            b.qs[i] = (uint8_t)(i % 16 | (15 - i % 16) << 4);
        for (int e = 0; e < 256; e++) {
            int g = e / 64, t = (e / 32) % 2, l = e % 32, s = e / 32;
            int q = t == 0 ? (32 * g + l) % 16 : 15 - (32 * g + l) % 16;
            want[e] = (1.0f * k4sc[s]) * q - 2.0f * k4mn[s];
        }
        dequant_ref(HY_TYPE_Q4_K, &b, y, 256);
        check_floats("q4_K", y, want, 256);
    }
    {   /* Q5_K: as Q4_K plus 16 when bit 2 g + t of qh[l]: 0x55 (even bits) for even l,
         * 0xaa (odd bits) for odd l */
        block_q5_K b = {.d = 0x3800, .dmin = 0x3c00};   /* 0.5, 1 */
        memcpy(b.scales, k4bytes, 12);
        for (int i = 0; i < 128; i++)
            b.qs[i] = (uint8_t)(i % 16 | (15 - i % 16) << 4);
        for (int l = 0; l < 32; l++)
            b.qh[l] = l % 2 ? 0xaa : 0x55;
        for (int e = 0; e < 256; e++) {
            int g = e / 64, t = (e / 32) % 2, l = e % 32, s = e / 32;
            int q = t == 0 ? (32 * g + l) % 16 : 15 - (32 * g + l) % 16;
            q += (l % 2) == t ? 16 : 0;
            want[e] = (0.5f * k4sc[s]) * q - 1.0f * k4mn[s];
        }
        dequant_ref(HY_TYPE_Q5_K, &b, y, 256);
        check_floats("q5_K", y, want, 256);
    }
    {   /* Q6_K: element 128 h + 32 k + l: low 4 bits from nibble k / 2 of
         * ql[64 h + 32 (k % 2) + l], high 2 bits = bits 2k of qh[32 h + l]; minus 32.
         * ql[i] = i % 16 | (i / 16 % 16) << 4, qh = 0xe4 (bits 2k = k), scales s - 8. */
        block_q6_K b = {.d = 0x3400};   /* 0.25 */
        for (int i = 0; i < 128; i++)
            b.ql[i] = (uint8_t)(i % 16 | (i / 16 % 16) << 4);
        memset(b.qh, 0xe4, sizeof b.qh);
        for (int s = 0; s < 16; s++)
            b.scales[s] = (int8_t)(s - 8);
        for (int e = 0; e < 256; e++) {
            int h = e / 128, k = (e / 32) % 4, l = e % 32;
            int i = 64 * h + 32 * (k % 2) + l;
            int lo = k < 2 ? i % 16 : i / 16 % 16;
            want[e] = (0.25f * (e / 16 - 8)) * ((lo | k << 4) - 32);
        }
        dequant_ref(HY_TYPE_Q6_K, &b, y, 256);
        check_floats("q6_K", y, want, 256);
    }
}

/* Activation quantizers on vectors whose results are known. */
static void test_ref_quantizers(void)
{
    const struct quant_kernels *q80 = quant_kernels_at(HY_TYPE_Q8_0, HY_SIMD_SCALAR);
    const struct quant_kernels *q81 = quant_kernels_at(HY_TYPE_Q8_1, HY_SIMD_SCALAR);
    const struct quant_kernels *q8k = quant_kernels_at(HY_TYPE_Q8_K, HY_SIMD_SCALAR);
    /* amax 127 makes id = 1: x * id = x, so halves show the rounding (to even, unlike
     * roundf: 0.5 -> 0, 1.5 -> 2, 2.5 -> 2, -2.5 -> -2) */
    float x[64] = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 3.49f, -126.5f, 127.0f, -3.5f};
    static const int8_t want[10] = {0, 2, 2, 0, -2, -2, 3, -126, 127, -4};
    block_q8_0 b0[2];
    q80->from_float(x, b0, 32);
    CHECK(b0[0].d == 0x3c00);
    for (int j = 0; j < 32; j++)
        CHECKF(b0[0].qs[j] == (j < 10 ? want[j] : 0), "q8_0 qs[%d] = %d", j, b0[0].qs[j]);
    block_q8_1 b1;
    q81->from_float(x, &b1, 32);
    CHECK(b1.d == 0x3c00);
    CHECK(same_bits(b1.qs, b0[0].qs, 32));
    CHECK(b1.s == fp32_to_fp16(0 + 2 + 2 + 0 - 2 - 2 + 3 - 126 + 127 - 4));
    /* amax 16: id = 127/16 = 7.9375 exactly, d = 16/127 rounded to fp16 */
    for (int j = 0; j < 32; j++)
        x[j] = (float)(j - 16);
    q80->from_float(x, b0, 32);
    CHECK(b0[0].d == fp32_to_fp16(16.0f / 127.0f));
    CHECK(b0[0].qs[0] == -127 && b0[0].qs[1] == -119 && b0[0].qs[17] == 8 && b0[0].qs[18] == 16);
    /* all zero: d = 0, q = 0 */
    memset(x, 0, sizeof x);
    q80->from_float(x, b0, 32);
    CHECK(b0[0].d == 0 && b0[0].qs[5] == 0);

    /* Q8_K: the first element of largest magnitude is +127 (index 5; -127 at 9 comes
     * later), so iscale = -1, q = -x rounded to even, d = -1 */
    float xk[256] = {0};
    xk[0] = 0.5f;
    xk[1] = 1.5f;
    xk[2] = 2.5f;
    xk[3] = -3.5f;
    xk[5] = 127.0f;
    xk[9] = -127.0f;
    xk[16] = 100.25f;
    xk[255] = -0.75f;
    block_q8_K bk[2];
    q8k->from_float(xk, bk, 256);
    CHECK(bk[0].d == -1.0f);
    CHECK(bk[0].qs[0] == 0 && bk[0].qs[1] == -2 && bk[0].qs[2] == -2 && bk[0].qs[3] == 4);
    CHECK(bk[0].qs[5] == -127 && bk[0].qs[9] == 127 && bk[0].qs[16] == -100 && bk[0].qs[255] == 1);
    CHECK_EQ(bk[0].bsums[0], 0 - 2 - 2 + 4 - 127 + 127);
    CHECK_EQ(bk[0].bsums[1], -100);
    CHECK_EQ(bk[0].bsums[15], 1);
    /* a negative extreme first: iscale = 127 / 20 */
    memset(xk, 0, sizeof xk);
    xk[7] = -20.0f;
    xk[8] = 10.0f;
    q8k->from_float(xk, bk, 256);
    CHECK(bk[0].qs[7] == -127 && bk[0].qs[8] == 64);   /* 63.5 -> 64 (even) */
    CHECK(bk[0].d == 1.0f / (127.0f / 20.0f));
    /* zero block */
    memset(xk, 0, sizeof xk);
    q8k->from_float(xk, bk, 256);
    CHECK(bk[0].d == 0 && bk[0].qs[100] == 0 && bk[0].bsums[3] == 0);
}

/* ---- helpers for the level tests ------------------------------------------------------- */

/* Random activations of varied magnitude, with a zero block and an outlier. */
static void random_acts(float *x, int n, uint64_t *rng)
{
    float mag = 1.0f;
    for (int i = 0; i < n; i++) {
        if (i % 256 == 0)
            mag = (float)(1 + test_rand(rng) % 100) * 0.01f;
        x[i] = test_randn(rng) * mag;
    }
    if (n >= 512)
        memset(x + 256, 0, 32 * sizeof(float));
    if (n >= 64)
        x[40] = 37.0f;
}

/* Offsets of a block's fp16 scale fields, for building extreme blocks. */
static int half_fields(enum qtype t, int off[2])
{
    switch (t) {
    case HY_TYPE_Q4_0: case HY_TYPE_Q5_0: case HY_TYPE_Q8_0:
        off[0] = 0;
        return 1;
    case HY_TYPE_Q4_1: case HY_TYPE_Q5_1:
        off[0] = 0, off[1] = 2;
        return 2;
    case HY_TYPE_Q2_K:
        off[0] = 80, off[1] = 82;
        return 2;
    case HY_TYPE_Q3_K:
        off[0] = 108;
        return 1;
    case HY_TYPE_Q4_K: case HY_TYPE_Q5_K:
        off[0] = 0, off[1] = 2;
        return 2;
    case HY_TYPE_Q6_K:
        off[0] = 208;
        return 1;
    default:
        return 0;
    }
}

/* Weights for variant v: 0 random blocks; 1.. extreme: every quant byte 0x00, 0xff,
 * 0x80 or 0x7f, with scales zero, negative, fp16 subnormal, or large. */
#define N_VARIANTS 9
static void make_weights(enum qtype t, void *w, int n, int v, uint64_t *rng)
{
    CHECK(quant_random_blocks(t, w, n, rng, 0.05f) == 0);
    const struct type_info *ti = type_info(t);
    if (v == 0 || ti->blck == 1) {
        if (v != 0 && t != HY_TYPE_F32) {   /* float rows: subnormal / large halves */
            uint16_t *h = w;
            for (int i = 0; i < n; i++)
                h[i] = (uint16_t)(v % 2 ? (h[i] & 0x83ff) : (h[i] | 0x3000));
        }
        return;
    }
    static const uint8_t fill[N_VARIANTS] = {0, 0x00, 0xff, 0x80, 0x7f, 0xff, 0x00, 0x55, 0xaa};
    static const uint16_t halves[N_VARIANTS] = {0, 0x3c00, 0x3800, 0xbc00, 0x0001, 0x03ff,
                                                0x6000, 0x0000, 0xb400};
    int off[2];
    int nf = half_fields(t, off);
    uint8_t *p = w;
    for (int b = 0; b < n / (int)ti->blck; b++, p += ti->bytes) {
        if (b % 3 != 2)   /* leave some random blocks in between */
            memset(p, fill[v], ti->bytes);
        for (int f = 0; f < nf; f++) {
            uint16_t h = halves[v];
            if (f == 1 && v == 3)
                h = 0x3c00;   /* negative d with positive dmin */
            memcpy(p + off[f], &h, 2);
        }
    }
}

static double abs_dot(enum qtype wt, enum qtype at, const void *w, const void *a, int n)
{
    float *x = malloc((size_t)n * sizeof(float)), *y = malloc((size_t)n * sizeof(float));
    quant_kernels_at(wt, HY_SIMD_SCALAR)->to_float(w, x, n);
    quant_kernels_at(at, HY_SIMD_SCALAR)->to_float(a, y, n);
    double s = 0;
    for (int i = 0; i < n; i++)
        s += fabs((double)x[i] * (double)y[i]);
    free(x);
    free(y);
    return s;
}

static bool close_enough(float got, float want, double abs_terms)
{
    return fabs((double)got - (double)want) <= 1e-5 * abs_terms + 1e-30;
}

/* The reference dot agrees with the dot of its own dequantized rows (in double). */
static void test_ref_dot_vs_dequant(void)
{
    uint64_t rng = 42;
    const int n = 1024;
    float *x = malloc(n * sizeof(float)), *wf = malloc(n * sizeof(float)), *af = malloc(n * sizeof(float));
    void *w = malloc(row_bytes(HY_TYPE_F32, n)), *a = malloc(row_bytes(HY_TYPE_F32, n));
    for (size_t i = 0; i < HY_ARRAY_LEN(k_weights); i++) {
        enum qtype t = k_weights[i];
        const struct quant_kernels *k = quant_kernels_at(t, HY_SIMD_SCALAR);
        const struct quant_kernels *p = quant_kernels_at(k->vec_dot_type, HY_SIMD_SCALAR);
        for (int v = 0; v < N_VARIANTS; v++) {
            make_weights(t, w, n, v, &rng);
            random_acts(x, n, &rng);
            p->from_float(x, a, n);
            k->to_float(w, wf, n);
            p->to_float(a, af, n);
            double exact = 0, terms = 0;
            for (int j = 0; j < n; j++) {
                exact += (double)wf[j] * af[j];
                terms += fabs((double)wf[j] * af[j]);
            }
            if (k->vec_dot_type == HY_TYPE_Q8_1) {
                /* the format's own approximation: a weight block's min m meets the
                 * activation block's stored s = fp16(d * sum q), not sum of its values */
                const char *wb = w;
                const block_q8_1 *ab = a;
                const size_t wbytes = type_info(t)->bytes;
                for (int b = 0; b < n / 32; b++) {
                    fp16_t mh;
                    memcpy(&mh, wb + (size_t)b * wbytes + 2, 2);
                    double asum = 0;
                    for (int j = 0; j < 32; j++)
                        asum += af[32 * b + j];
                    exact += fp16_to_fp32(mh) * (fp16_to_fp32(ab[b].s) - asum);
                }
            }
            float s;
            k->vec_dot(n, &s, w, a);
            CHECKF(fabs(s - exact) <= 1e-5 * terms + 1e-30, "%s v%d: %g vs %g", type_name(t), v,
                   s, exact);
        }
    }
    free(x), free(wf), free(af), free(w), free(a);
}

/* ---- every level against the reference ------------------------------------------------ */

static void test_levels_to_float(void)
{
    enum simd_level lv[4];
    int nl = simd_levels(lv);
    if (!nl) {
        TEST_SKIP("no SIMD level on this CPU");
        return;
    }
    uint64_t rng = 1;
    const int nmax = 17 * 256;
    char *w = malloc(row_bytes(HY_TYPE_F32, nmax) + 16);
    float *y0 = malloc(nmax * sizeof(float)), *y1 = malloc(nmax * sizeof(float));
    const enum qtype all[] = {HY_TYPE_F32, HY_TYPE_F16, HY_TYPE_BF16, HY_TYPE_Q4_0,
                                HY_TYPE_Q4_1, HY_TYPE_Q5_0, HY_TYPE_Q5_1, HY_TYPE_Q8_0,
                                HY_TYPE_Q8_1, HY_TYPE_Q2_K, HY_TYPE_Q3_K, HY_TYPE_Q4_K,
                                HY_TYPE_Q5_K, HY_TYPE_Q6_K, HY_TYPE_Q8_K};
    for (int l = 0; l < nl; l++) {
        for (size_t i = 0; i < HY_ARRAY_LEN(all); i++) {
            enum qtype t = all[i];
            const struct quant_kernels *r = quant_kernels_at(t, HY_SIMD_SCALAR);
            const struct quant_kernels *k = quant_kernels_at(t, lv[l]);
            CHECK(k && k->type == t && k->vec_dot_type == r->vec_dot_type);
            int blck = (int)type_info(t)->blck;
            static const int nbs[] = {1, 2, 3, 5, 7, 17};
            for (size_t j = 0; j < HY_ARRAY_LEN(nbs); j++) {
                int n = nbs[j] * (blck == 1 ? 64 : blck) + (blck == 1 ? (int)j : 0);
                for (int v = 0; v < N_VARIANTS; v += (blck == 1 ? 4 : 1)) {
                    char *wp = w + 4 + 4 * (j % 4);   /* not 32-byte aligned */
                    if (t == HY_TYPE_Q8_1 || t == HY_TYPE_Q8_K)
                        CHECK(quant_random_blocks(t, wp, n, &rng, 1.0f) == 0);
                    else
                        make_weights(t, wp, n, v, &rng);
                    r->to_float(wp, y0, n);
                    k->to_float(wp, y1, n);
                    CHECKF(same_bits(y0, y1, (size_t)n * sizeof(float)), "%s %s n=%d v=%d",
                           simd_name(lv[l]), type_name(t), n, v);
                }
            }
        }
    }
    free(w), free(y0), free(y1);
}

static void test_levels_from_float(void)
{
    enum simd_level lv[4];
    int nl = simd_levels(lv);
    if (!nl) {
        TEST_SKIP("no SIMD level on this CPU");
        return;
    }
    uint64_t rng = 2;
    const int nmax = 17 * 256;
    float *x = malloc((nmax + 4) * sizeof(float));
    char *b0 = malloc(row_bytes(HY_TYPE_F32, nmax) + 16), *b1 = malloc(row_bytes(HY_TYPE_F32, nmax) + 16);
    for (int l = 0; l < nl; l++) {
        for (size_t i = 0; i < HY_ARRAY_LEN(k_partners); i++) {
            enum qtype t = k_partners[i];
            const struct quant_kernels *r = quant_kernels_at(t, HY_SIMD_SCALAR);
            const struct quant_kernels *k = quant_kernels_at(t, lv[l]);
            int blck = (int)type_info(t)->blck;
            static const int nbs[] = {1, 2, 3, 5, 7, 17};
            for (size_t j = 0; j < HY_ARRAY_LEN(nbs); j++) {
                int n = nbs[j] * (blck == 1 ? 32 : blck) + (blck == 1 ? (int)j : 0);
                for (int v = 0; v < 6; v++) {
                    float *xp = x + (j % 3);   /* misaligned inputs too */
                    random_acts(xp, n, &rng);
                    if (v == 1)   /* exact halves: the rounding ties */
                        for (int e = 0; e < n; e++)
                            xp[e] = (float)((int)(test_randf(&rng) * 254)) * 0.5f;
                    if (v == 2)   /* tiny and huge */
                        for (int e = 0; e < n; e++)
                            xp[e] *= e % 2 ? 1e-30f : 1e4f;
                    if (v == 3)   /* the extreme repeated, both signs */
                        for (int e = 0; e < n; e++)
                            xp[e] = e % 3 ? 5.0f : -5.0f;
                    if (v == 4)   /* fp16 range edges: subnormals, overflow */
                        for (int e = 0; e < n; e++)
                            xp[e] = e % 2 ? xp[e] * 1e-6f : xp[e] * 7e4f;
                    if (v == 5)
                        memset(xp, 0, (size_t)n * sizeof(float));
                    size_t bytes = row_bytes(t, n);
                    char *p0 = b0 + 4 * (1 + j % 2), *p1 = b1 + 4 * (3 - j % 2);
                    memset(p0, 0xa5, bytes);
                    memset(p1, 0x5a, bytes);
                    r->from_float(xp, p0, n);
                    k->from_float(xp, p1, n);
                    CHECKF(same_bits(p0, p1, bytes), "%s %s n=%d v=%d", simd_name(lv[l]),
                           type_name(t), n, v);
                }
            }
        }
    }
    free(x), free(b0), free(b1);
}

static void test_levels_vec_dot(void)
{
    enum simd_level lv[4];
    int nl = simd_levels(lv);
    if (!nl) {
        TEST_SKIP("no SIMD level on this CPU");
        return;
    }
    uint64_t rng = 3;
    const int nmax = 33 * 256;
    float *x = malloc(nmax * sizeof(float));
    char *w = malloc(row_bytes(HY_TYPE_F32, nmax) + 16), *a = malloc(row_bytes(HY_TYPE_F32, nmax) + 16);
    for (int l = 0; l < nl; l++) {
        for (size_t i = 0; i < HY_ARRAY_LEN(k_weights); i++) {
            enum qtype t = k_weights[i];
            const struct quant_kernels *r = quant_kernels_at(t, HY_SIMD_SCALAR);
            const struct quant_kernels *k = quant_kernels_at(t, lv[l]);
            const struct quant_kernels *p = quant_kernels_at(k->vec_dot_type, HY_SIMD_SCALAR);
            int blck = (int)type_info(t)->blck;
            static const int nbs[] = {1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 33};
            for (size_t j = 0; j < HY_ARRAY_LEN(nbs); j++) {
                int n = blck == 1 ? nbs[j] * 16 + (int)j : nbs[j] * blck;
                for (int v = 0; v < N_VARIANTS; v++) {
                    char *wp = w + 4 * (j % 5), *ap = a + 4 * ((j + v) % 3);
                    make_weights(t, wp, n, v, &rng);
                    random_acts(x, n, &rng);
                    p->from_float(x, ap, n);
                    float s0, s1;
                    r->vec_dot(n, &s0, wp, ap);
                    k->vec_dot(n, &s1, wp, ap);
                    double terms = abs_dot(t, k->vec_dot_type, wp, ap, n);
                    CHECKF(close_enough(s1, s0, terms), "%s %s n=%d v=%d: %.9g vs ref %.9g (terms %g)",
                           simd_name(lv[l]), type_name(t), n, v, s1, s0, terms);
                }
            }
        }
    }
    free(x), free(w), free(a);
}

/* gemm tiles against the level's own vec_dot (and so the reference), on awkward shapes,
 * strides and misalignment; nothing outside the tile is written. */
static void gemm_case(enum simd_level level, enum qtype t, int n, int nr, int nc, uint64_t *rng)
{
    const struct quant_kernels *k = quant_kernels_at(t, level);
    const struct quant_kernels *p = quant_kernels_at(k->vec_dot_type, level);
    size_t wrow = row_bytes(t, n), arow = row_bytes(k->vec_dot_type, n);
    size_t ws = wrow + (size_t)(nr % 3) * 4, as = arow + (size_t)(nc % 4) * 4;
    size_t ss = (size_t)nr + (size_t)(nc % 3);
    char *w = malloc(ws * (size_t)nr + 16), *a = malloc(as * (size_t)nc + 16);
    float *x = malloc((size_t)n * sizeof(float));
    float *s = malloc((ss * (size_t)nc + 1) * sizeof(float));
    char *w0 = w + 4 * (nr % 4), *a0 = a + 4 * (1 + nc % 2);
    for (int r = 0; r < nr; r++)
        make_weights(t, w0 + (size_t)r * ws, n, (r * 7 + nc) % N_VARIANTS == 3 ? 3 : 0, rng);
    for (int c = 0; c < nc; c++) {
        random_acts(x, n, rng);
        p->from_float(x, a0 + (size_t)c * as, n);
    }
    for (size_t i = 0; i < ss * (size_t)nc + 1; i++)
        s[i] = -12345.0f;
    k->gemm(n, nr, nc, w0, ws, a0, as, s, ss);
    for (int c = 0; c < nc; c++) {
        for (int r = 0; r < (int)ss; r++) {
            float got = s[(size_t)c * ss + (size_t)r];
            if (r >= nr) {
                CHECKF(got == -12345.0f, "%s %s gemm wrote outside the tile", simd_name(level),
                       type_name(t));
                continue;
            }
            const void *wr = w0 + (size_t)r * ws, *ac = a0 + (size_t)c * as;
            float want;
            k->vec_dot(n, &want, wr, ac);
            double terms = abs_dot(t, k->vec_dot_type, wr, ac, n);
            if (!close_enough(got, want, terms)) {
                CHECKF(0, "%s %s gemm n=%d nr=%d nc=%d at r=%d c=%d: %.9g vs %.9g",
                       simd_name(level), type_name(t), n, nr, nc, r, c, got, want);
                goto out;
            }
        }
    }
    CHECK(s[ss * (size_t)nc] == -12345.0f);
out:
    free(w), free(a), free(x), free(s);
}

static void test_levels_gemm(void)
{
    enum simd_level lv[5];
    int nl = simd_levels(lv);
    lv[nl++] = HY_SIMD_SCALAR;   /* the reference tile too */
    uint64_t rng = 4;
    for (int l = 0; l < nl; l++) {
        for (size_t i = 0; i < HY_ARRAY_LEN(k_weights); i++) {
            enum qtype t = k_weights[i];
            int blck = (int)type_info(t)->blck;
            /* lengths of 1, 3, 8, 9 and 17 blocks: the tiles step 8 blocks at a time */
            static const int nbs[] = {1, 3, 8, 9, 17};
            for (int nr = 1; nr <= 9; nr++)
                for (int nc = 1; nc <= 9; nc++) {
                    const int nb = nbs[(nr * 3 + nc) % 5];
                    gemm_case(lv[l], t, blck == 1 ? 16 * nb + nr : nb * blck, nr, nc, &rng);
                }
            static const int big[][2] = {{16, 16}, {13, 17}, {32, 5}, {4, 31}, {24, 12}, {8, 70}};
            for (size_t j = 0; j < HY_ARRAY_LEN(big); j++)
                gemm_case(lv[l], t, blck == 1 ? 272 : 9 * blck, big[j][0], big[j][1], &rng);
        }
    }
}

/* Every kernel on buffers of exactly the bytes it may touch: under
 * make test SANITIZE=address any read past a row (or a tile's last row/column) fails. */
static void test_levels_bounds(void)
{
    enum simd_level lv[5];
    int nl = simd_levels(lv);
    lv[nl++] = HY_SIMD_SCALAR;
    uint64_t rng = 5;
    for (int l = 0; l < nl; l++) {
        for (size_t i = 0; i < HY_ARRAY_LEN(k_weights); i++) {
            enum qtype t = k_weights[i];
            const struct quant_kernels *k = quant_kernels_at(t, lv[l]);
            const struct quant_kernels *p = quant_kernels_at(k->vec_dot_type, lv[l]);
            const int blck = (int)type_info(t)->blck;
            static const int nbs[] = {1, 8, 9};
            for (size_t j = 0; j < HY_ARRAY_LEN(nbs); j++) {
                const int n = blck == 1 ? 16 * nbs[j] + 1 : nbs[j] * blck;
                const size_t wr = row_bytes(t, n), ar = row_bytes(k->vec_dot_type, n);
                char *w = malloc(4 * wr), *a = malloc(4 * ar);
                float *x = malloc((size_t)n * sizeof(float)), *y = malloc((size_t)n * sizeof(float));
                float s[16], d;
                for (int r = 0; r < 4; r++)
                    make_weights(t, w + r * wr, n, 0, &rng);
                for (int c = 0; c < 4; c++) {
                    random_acts(x, n, &rng);
                    p->from_float(x, a + c * ar, n);
                }
                k->to_float(w + 3 * wr, y, n);
                p->to_float(a + 3 * ar, y, n);
                k->vec_dot(n, &d, w + 3 * wr, a + 3 * ar);
                k->gemm(n, 4, 4, w, wr, a, ar, s, 4);
                k->gemm(n, 3, 2, w + wr, wr, a + 2 * ar, ar, s, 3);
                CHECK(isfinite(d) && isfinite(s[0]));
                free(w), free(a), free(x), free(y);
            }
        }
    }
}

/* ---- tables and random blocks ----------------------------------------------------------- */

static void test_tables(void)
{
    static const struct { enum qtype w, p; } pairs[] = {
        {HY_TYPE_F32, HY_TYPE_F32},   {HY_TYPE_F16, HY_TYPE_F16},   {HY_TYPE_BF16, HY_TYPE_BF16},
        {HY_TYPE_Q4_0, HY_TYPE_Q8_0}, {HY_TYPE_Q5_0, HY_TYPE_Q8_0}, {HY_TYPE_Q8_0, HY_TYPE_Q8_0},
        {HY_TYPE_Q4_1, HY_TYPE_Q8_1}, {HY_TYPE_Q5_1, HY_TYPE_Q8_1}, {HY_TYPE_Q2_K, HY_TYPE_Q8_K},
        {HY_TYPE_Q3_K, HY_TYPE_Q8_K}, {HY_TYPE_Q4_K, HY_TYPE_Q8_K}, {HY_TYPE_Q5_K, HY_TYPE_Q8_K},
        {HY_TYPE_Q6_K, HY_TYPE_Q8_K},
    };
    for (size_t i = 0; i < HY_ARRAY_LEN(pairs); i++) {
        const struct quant_kernels *k = quant_kernels(pairs[i].w);
        CHECK(k && k->type == pairs[i].w && k->vec_dot_type == pairs[i].p);
        CHECK(k && k->to_float && k->vec_dot && k->gemm);
        CHECK(type_info(pairs[i].w)->compute);
        const struct quant_kernels *p = quant_kernels(pairs[i].p);
        CHECK(p && p->from_float && p->to_float);
    }
    CHECK(quant_kernels(HY_TYPE_IQ2_XXS) == NULL);
    CHECK(quant_kernels(HY_TYPE_COUNT) == NULL);
    CHECK(quant_kernels((enum qtype)4) == NULL);
    CHECK(quant_kernels_at(HY_TYPE_Q4_K, HY_SIMD_SCALAR)->vec_dot != NULL);
    CHECK(quant_kernels_at(HY_TYPE_Q8_K, HY_SIMD_SCALAR)->vec_dot == NULL);
#if defined(__x86_64__)
    CHECK(quant_kernels_at(HY_TYPE_Q4_K, HY_SIMD_NEON) == NULL);
#elif defined(__aarch64__)
    CHECK(quant_kernels_at(HY_TYPE_Q4_K, HY_SIMD_AVX2) == NULL);
#endif
    printf("  level in use: %s\n", simd_name(cpu_features()->level));
}

static void test_random_blocks(void)
{
    const int n = 64 * 256;
    float *y = malloc(n * sizeof(float));
    void *b = malloc(row_bytes(HY_TYPE_F32, n)), *b2 = malloc(row_bytes(HY_TYPE_F32, n));
    const enum qtype all[] = {HY_TYPE_F32, HY_TYPE_F16, HY_TYPE_BF16, HY_TYPE_Q4_0,
                                HY_TYPE_Q4_1, HY_TYPE_Q5_0, HY_TYPE_Q5_1, HY_TYPE_Q8_0,
                                HY_TYPE_Q8_1, HY_TYPE_Q2_K, HY_TYPE_Q3_K, HY_TYPE_Q4_K,
                                HY_TYPE_Q5_K, HY_TYPE_Q6_K, HY_TYPE_Q8_K};
    for (size_t i = 0; i < HY_ARRAY_LEN(all); i++) {
        enum qtype t = all[i];
        uint64_t s1 = 99, s2 = 99;
        CHECK(quant_random_blocks(t, b, n, &s1, 0.02f) == 0);
        CHECK(quant_random_blocks(t, b2, n, &s2, 0.02f) == 0);
        CHECK(s1 == s2 && s1 != 99);
        CHECK(same_bits(b, b2, row_bytes(t, n)));
        quant_kernels_at(t, HY_SIMD_SCALAR)->to_float(b, y, n);
        double sum = 0, sq = 0;
        bool finite = true;
        for (int j = 0; j < n; j++) {
            finite &= isfinite(y[j]);
            sum += y[j];
            sq += (double)y[j] * y[j];
        }
        double mean = sum / n, sd = sqrt(sq / n - mean * mean);
        CHECKF(finite, "%s", type_name(t));
        CHECKF(sd > 0.02 * 0.7 && sd < 0.02 * 1.3, "%s sd %g", type_name(t), sd);
        CHECKF(fabs(mean) < 0.02 * 0.06, "%s mean %g", type_name(t), mean);
    }
    uint64_t s = 1;
    CHECK(quant_random_blocks(HY_TYPE_Q4_K, b, 100, &s, 1.0f) < 0);
    CHECK(quant_random_blocks(HY_TYPE_IQ2_XS, b, 256, &s, 1.0f) < 0);
    CHECK(quant_random_blocks(HY_TYPE_Q4_0, b, 64, &s, NAN) < 0);
    free(y), free(b), free(b2);
}

int main(void)
{
    RUN(test_fp16_known);
    RUN(test_fp16_vs_f16c);
    RUN(test_bf16_known);
    RUN(test_ref_known_32);
    RUN(test_ref_known_k);
    RUN(test_ref_quantizers);
    RUN(test_ref_dot_vs_dequant);
    RUN(test_tables);
    RUN(test_random_blocks);
    RUN(test_levels_to_float);
    RUN(test_levels_from_float);
    RUN(test_levels_vec_dot);
    RUN(test_levels_gemm);
    RUN(test_levels_bounds);
    return test_finish();
}

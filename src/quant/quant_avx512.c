/* AVX-512 kernels (F, BW, VL, DQ, VNNI, BF16): the dots of the types decode and prompt
 * processing spend their time in. Everything this file leaves NULL comes from the AVX2
 * table (quant.c merges AVX-512 over AVX2).
 *
 * A zmm holds 64 codes: for the K-quants the low and high nibbles of 32 bytes, which are
 * two 32-element sub-blocks next to each other in the activation row. vpmaddubsw
 * (unsigned codes x signed activations, int16 pair sums) then vpdpwssd with the sub-block
 * scales as int16 lanes accumulates int32 exactly; offsets and mins go through the
 * activation bsums. Weights are prefetched 2 KiB ahead (see quant_x86.h).
 *
 * Not here: the gemm tiles (quant_gemm_avx512.c). */
#include "quant/quant_avx512.h"

#define NB(n, qk) ((int)((n) / (qk)))

/* ---- float rows ----------------------------------------------------------------------- */

static void f32_dot_avx512(int n, float *s, const void *w, const void *a)
{
    const float *x = w, *y = a;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        x86_prefetch(x + i, 128);
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), acc0);
        acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(y + i + 16), acc1);
    }
    if (i + 16 <= n) {
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), acc0);
        i += 16;
    }
    if (i < n) {
        const __mmask16 m = (__mmask16)((1u << (n - i)) - 1);
        acc1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i), acc1);
    }
    *s = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

static void f16_dot_avx512(int n, float *s, const void *w, const void *a)
{
    const fp16_t *x = w, *y = a;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        x86_prefetch(x + i, 64);
        acc0 = _mm512_fmadd_ps(_mm512_cvtph_ps(x86_loadu256(x + i)), _mm512_cvtph_ps(x86_loadu256(y + i)), acc0);
        acc1 = _mm512_fmadd_ps(_mm512_cvtph_ps(x86_loadu256(x + i + 16)),
                               _mm512_cvtph_ps(x86_loadu256(y + i + 16)), acc1);
    }
    for (; i < n; i += 16) {
        const int k = n - i < 16 ? n - i : 16;
        const __mmask16 m = (__mmask16)((1u << k) - 1);
        acc0 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, x + i)),
                               _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, y + i)), acc0);
    }
    *s = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

/* bf16 -> fp32 exactly (a shift; vdpbf16ps would flush subnormals, the reference does not) */
X86_INLINE __m512 bf16x16(__m256i h)
{
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

static void bf16_dot_avx512(int n, float *s, const void *w, const void *a)
{
    const uint16_t *x = w, *y = a;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        x86_prefetch(x + i, 64);
        acc0 = _mm512_fmadd_ps(bf16x16(x86_loadu256(x + i)), bf16x16(x86_loadu256(y + i)), acc0);
        acc1 = _mm512_fmadd_ps(bf16x16(x86_loadu256(x + i + 16)), bf16x16(x86_loadu256(y + i + 16)), acc1);
    }
    for (; i < n; i += 16) {
        const int k = n - i < 16 ? n - i : 16;
        const __mmask16 m = (__mmask16)((1u << k) - 1);
        acc0 = _mm512_fmadd_ps(bf16x16(_mm256_maskz_loadu_epi16(m, x + i)),
                               bf16x16(_mm256_maskz_loadu_epi16(m, y + i)), acc0);
    }
    *s = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

/* ---- activation quantizer for the K-quants ----------------------------------------------- */

/* As the reference: the first element of largest magnitude sets iscale = -127 / max,
 * q = round-half-even(iscale * x) (never beyond +-127), d = 1 / iscale, bsums per 16. */
static void q8_K_from_float_avx512(const float *x, void *vy, int64_t n)
{
    block_q8_K *y = vy;
    for (int i = 0; i < NB(n, QK_K); i++, x += QK_K) {
        __m512 v[16], m = _mm512_setzero_ps();
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++) {
            v[j] = _mm512_loadu_ps(x + 16 * j);
            m = _mm512_max_ps(m, _mm512_abs_ps(v[j]));
        }
        const float amax = _mm512_reduce_max_ps(m);
        if (amax == 0.0f) {
            memset(&y[i], 0, sizeof(y[i]));
            continue;
        }
        const __m512 am = _mm512_set1_ps(amax);
        float max = amax;
        for (int j = 0; j < 16; j++) {
            const __mmask16 hit = _mm512_cmp_ps_mask(_mm512_abs_ps(v[j]), am, _CMP_EQ_OQ);
            if (hit) {
                max = x[16 * j + __builtin_ctz(hit)];
                break;
            }
        }
        const float iscale = -127.0f / max;
        const __m512 is = _mm512_set1_ps(iscale);
        __m512i q[16];
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++) {
            q[j] = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v[j], is), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
            _mm_storeu_si128((__m128i *)(y[i].qs + 16 * j), _mm512_cvtsepi32_epi8(q[j]));
        }
        _mm256_storeu_si256((__m256i *)y[i].bsums, _mm512_cvtepi32_epi16(av5_reduce16(q)));
        y[i].d = 1.0f / iscale;
    }
}

/* ---- 32-element blocks -------------------------------------------------------------------- */

/* Scales of two consecutive blocks (i, i + 1) as a zmm: lanes 0-7 <- s0, 8-15 <- s1. */
X86_INLINE __m512 pair_scale(float s0, float s1)
{
    return _mm512_insertf32x8(_mm512_set1_ps(s0), _mm256_set1_ps(s1), 1);
}

static void q8_0_dot_avx512(int n, float *s, const void *vw, const void *va)
{
    const block_q8_0 *w = vw;
    const block_q8_0 *a = va;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    const int nb = NB(n, QK8_0);
    int i = 0;
    for (; i + 8 <= nb; i += 8) {
        x86_prefetch(&w[i], 8 * sizeof w[i]);
        const __m256 dd = _mm256_mul_ps(av5_q8_0_scales8(&w[i]), av5_q8_0_scales8(&a[i]));
        const __m512 dd2 = _mm512_castps256_ps512(dd);
#pragma GCC unroll 4
        for (int k = 0; k < 4; k++) {
            const int j = i + 2 * k;
            const __m512i p = av5_dot_s8(_mm512_setzero_si512(), av5_load2x32(w[j].qs, w[j + 1].qs),
                                         av5_load2x32(a[j].qs, a[j + 1].qs));
            /* lanes 0-7 <- dd[2k], 8-15 <- dd[2k + 1] */
            const __m512 d = _mm512_permutexvar_ps(
                _mm512_mask_blend_epi32(0xff00, _mm512_set1_epi32(2 * k), _mm512_set1_epi32(2 * k + 1)), dd2);
            if (k % 2)
                acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), d, acc1);
            else
                acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), d, acc0);
        }
    }
    for (; i + 2 <= nb; i += 2) {
        const __m512i p = av5_dot_s8(_mm512_setzero_si512(), av5_load2x32(w[i].qs, w[i + 1].qs),
                                     av5_load2x32(a[i].qs, a[i + 1].qs));
        const __m512 d = pair_scale(x86_h2f(w[i].d) * x86_h2f(a[i].d),
                                    x86_h2f(w[i + 1].d) * x86_h2f(a[i + 1].d));
        acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), d, acc0);
    }
    float sum = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
    if (i < nb) {
        const __m256i wq = x86_loadu256(w[i].qs);
        const __m256i p = _mm256_dpbusd_epi32(_mm256_setzero_si256(), _mm256_abs_epi8(wq),
                                              _mm256_sign_epi8(x86_loadu256(a[i].qs), wq));
        sum += x86_h2f(w[i].d) * x86_h2f(a[i].d) * (float)x86_hsum_epi32(p);
    }
    *s = sum;
}

/* ---- K-quants ------------------------------------------------------------------------------ */
/* The four 64-element chunks of a super-block go to two int32 accumulators, so that the
 * vpdpwssd latency chains stay short; the float accumulator takes one block at a time. */

/* The per-block scale work of a Q4_K / Q5_K block, done one block ahead so that its long
 * dependency chain (unpack, widen, permute) overlaps the previous block's products. */
struct k4_prep {
    __m512i sc[4];   /* int16 scales per 64-element group: lanes 0-15 sub 2g, 16-31 sub 2g+1 */
    __m256i mins;    /* each min twice, int16, against the 16 bsums */
    __m128 dm;       /* d, dmin as floats (not yet times the activation scale) */
};

X86_INLINE void k4_prepare(const uint8_t *w, struct k4_prep *p)
{
    const __m128i sm = av5_k4_scales(w + 4);
    const __m512i sc = _mm512_castsi256_si512(_mm256_cvtepu8_epi16(sm));
#pragma GCC unroll 4
    for (int g = 0; g < 4; g++)
        p->sc[g] = _mm512_permutexvar_epi16(av5_idx_pair(2 * g), sc);
    p->mins = _mm256_cvtepu8_epi16(
        _mm_shuffle_epi8(sm, _mm_setr_epi8(8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15)));
    uint32_t v;
    memcpy(&v, w, 4);
    p->dm = _mm_cvtph_ps(_mm_cvtsi32_si128((int)v));
}

X86_INLINE __m512i k4_block_isum(const uint8_t *qs, const uint8_t *qh, const int8_t *aq,
                                 const struct k4_prep *pr)
{
    __m512i c[4];
    if (qh) {
        const __m256i h = x86_loadu256(qh);
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++)
            c[g] = av5_q5k_codes(qs + 32 * g, h, g);
    } else {
        av5_nibbles128(qs, &c[0], &c[1]);
        av5_nibbles128(qs + 64, &c[2], &c[3]);
    }
    __m512i acc[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
#pragma GCC unroll 4
    for (int g = 0; g < 4; g++)
        acc[g % 2] = _mm512_dpwssd_epi32(acc[g % 2], _mm512_maddubs_epi16(c[g], _mm512_loadu_si512(aq + 64 * g)),
                                         pr->sc[g]);
    return _mm512_add_epi32(acc[0], acc[1]);
}

X86_INLINE void k4_dot(int n, float *s, const uint8_t *w, size_t bytes, bool five, const block_q8_K *a)
{
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    __m256 accm = _mm256_setzero_ps();
    const int nb = NB(n, QK_K);
    struct k4_prep cur, next;
    k4_prepare(w, &next);
    for (int i = 0; i < nb; i++, w += bytes) {
        x86_prefetch(w, bytes);
        cur = next;
        if (i + 1 < nb)
            k4_prepare(w + bytes, &next);
        /* Q4_K: d, dmin, scales[12], qs[128]; Q5_K: d, dmin, scales[12], qh[32], qs[128] */
        const __m512i isum = five ? k4_block_isum(w + 48, w + 16, a[i].qs, &cur)
                                  : k4_block_isum(w + 16, NULL, a[i].qs, &cur);
        const __m128 dm = _mm_mul_ps(cur.dm, _mm_set1_ps(a[i].d));
        const __m512 fi = _mm512_cvtepi32_ps(isum);
        if (i % 2)
            acc1 = _mm512_fmadd_ps(fi, _mm512_broadcastss_ps(dm), acc1);
        else
            acc0 = _mm512_fmadd_ps(fi, _mm512_broadcastss_ps(dm), acc0);
        const __m256i ms = _mm256_madd_epi16(cur.mins, x86_loadu256(a[i].bsums));
        accm = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ms), _mm256_broadcastss_ps(_mm_movehdup_ps(dm)), accm);
    }
    *s = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1)) - x86_hsum_ps(accm);
}

static void q4_K_dot_avx512(int n, float *s, const void *vw, const void *va)
{
    k4_dot(n, s, vw, sizeof(block_q4_K), false, va);
}

static void q5_K_dot_avx512(int n, float *s, const void *vw, const void *va)
{
    k4_dot(n, s, vw, sizeof(block_q5_K), true, va);
}

static void q6_K_dot_avx512(int n, float *s, const void *vw, const void *va)
{
    const block_q6_K *w = vw;
    const block_q8_K *a = va;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    for (int i = 0; i < NB(n, QK_K); i++) {
        x86_prefetch(&w[i], sizeof w[i]);
        const __m256i sc16 = _mm256_cvtepi8_epi16(x86_loadu128(w[i].scales));
        const __m512i sc = _mm512_castsi256_si512(sc16);
        /* code - 32: 32 * sum(scale * bsum), in the same int32 lanes */
        const __m256i off = _mm256_slli_epi32(_mm256_madd_epi16(sc16, x86_loadu256(a[i].bsums)), 5);
        __m512i i0 = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_zextsi256_si512(off));
        __m512i i1 = _mm512_setzero_si512();
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m512i cA, cB;
            av5_q6k_codes(w[i].ql + 64 * h, w[i].qh + 32 * h, &cA, &cB);
            const __m512i pA = _mm512_maddubs_epi16(cA, _mm512_loadu_si512(a[i].qs + 128 * h));
            const __m512i pB = _mm512_maddubs_epi16(cB, _mm512_loadu_si512(a[i].qs + 128 * h + 64));
            i0 = _mm512_dpwssd_epi32(i0, pA, _mm512_permutexvar_epi16(av5_idx_quad(2 * h), sc));
            i1 = _mm512_dpwssd_epi32(i1, pB, _mm512_permutexvar_epi16(av5_idx_quad(2 * h + 1), sc));
        }
        const __m512 f = _mm512_cvtepi32_ps(_mm512_add_epi32(i0, i1));
        const __m512 d = _mm512_set1_ps(a[i].d * x86_h2f(w[i].d));
        if (i % 2)
            acc1 = _mm512_fmadd_ps(f, d, acc1);
        else
            acc0 = _mm512_fmadd_ps(f, d, acc0);
    }
    *s = _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

/* ---- the table -------------------------------------------------------------------------------- */

#define GEMM_BY_DOT(name)                                                                   \
    static void name##_gemm_avx512(int n, int nr, int nc, const void *w, size_t ws,         \
                                   const void *a, size_t as, float *s, size_t ss)           \
    {                                                                                       \
        quant_gemm_by_dot(name##_dot_avx512, n, nr, nc, w, ws, a, as, s, ss);               \
    }
GEMM_BY_DOT(f32)
GEMM_BY_DOT(f16)
GEMM_BY_DOT(bf16)

#define D(T, t) [HY_TYPE_##T] = {.vec_dot = t##_dot_avx512, .gemm = t##_gemm_avx512}

const struct quant_kernels quant_table_avx512[HY_TYPE_COUNT] = {
    [HY_TYPE_Q8_K] = {.from_float = q8_K_from_float_avx512},
    D(F32, f32),
    D(F16, f16),
    D(BF16, bf16),
    [HY_TYPE_Q8_0] = {.vec_dot = q8_0_dot_avx512, .gemm = av5_q8_0_gemm},
    [HY_TYPE_Q4_0] = {.gemm = av5_q4_0_gemm},
    [HY_TYPE_Q4_K] = {.vec_dot = q4_K_dot_avx512, .gemm = av5_q4_K_gemm},
    [HY_TYPE_Q5_K] = {.vec_dot = q5_K_dot_avx512, .gemm = av5_q5_K_gemm},
    [HY_TYPE_Q6_K] = {.vec_dot = q6_K_dot_avx512, .gemm = av5_q6_K_gemm},
};

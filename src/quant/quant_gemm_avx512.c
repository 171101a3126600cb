/* AVX-512 VNNI gemm tiles for prompt processing: s[c][r] = dot(w row r, activation c).
 *
 * Each decoded weight block is reused across 4 activation columns and each activation
 * block across 4 weight rows (a 4 x 4 register tile of int32 accumulators), so the decode
 * and scale work of a block is paid once per 4 products instead of once per product.
 *
 * K-quants (Q4_K, Q5_K, Q6_K): per super-block, vpmaddubsw + vpdpwssd accumulate exact
 * int32 sums per (row, column); a transpose-and-add tree reduces the 16 accumulators to
 * one vector whose lane r*4+c is that pair's sum, so the block's float scales
 * (d_w * d_a, and dmin_w * d_a for the mins) are applied to all 16 pairs with one
 * multiply-add. Q4_K/Q5_K mins meet the activation bsums in a small 16-lane integer
 * product; Q6_K's code offset goes through the bsums into each pair's int32 sum.
 *
 * 32-element types (Q8_0, Q4_0): vpdpbusd per pair of blocks with one operand made
 * unsigned (activation + 128, or the 4-bit codes), the offset removed per row or column,
 * and a float multiply-add per pair of blocks.
 *
 * Ragged edges reuse a valid row or column and store only the real ones; tiles of a single
 * row or column are plain dots. Not here: threading and the choice of tile ranges (ops/). */
/* -O3 here (its loop and scheduling passes) measured 9-13% faster tiles than -O2; not in
 * unoptimized (debug) builds, and not for clang, which has no such pragma. */
#if defined(__OPTIMIZE__) && !defined(__clang__)
#pragma GCC optimize("O3")
#endif

#include "quant/quant_avx512.h"

#define NB(n, qk) ((int)((n) / (qk)))

/* ---- shared tile plumbing ------------------------------------------------------------------ */

typedef void (*tile_fn)(int n, const uint8_t *const w[4], const uint8_t *const a[4], float out[16]);

/* Run a 4 x 4 tile kernel over an nr x nc range: rows and columns in groups of 4, columns
 * in chunks so the activations of a chunk stay in L2 while the rows go by. */
static void gemm_tiles(tile_fn tile, quant_dot_fn dot, int n, int nr, int nc, const void *w,
                       size_t ws, const void *a, size_t as, float *s, size_t ss)
{
    if (nr == 1 || nc == 1) {
        quant_gemm_by_dot(dot, n, nr, nc, w, ws, a, as, s, ss);
        return;
    }
    const int chunk = 64;
    for (int c0 = 0; c0 < nc; c0 += chunk) {
        const int c1 = c0 + chunk < nc ? c0 + chunk : nc;
        for (int r0 = 0; r0 < nr; r0 += 4) {
            const uint8_t *wr[4];
            const int rn = nr - r0 < 4 ? nr - r0 : 4;
            for (int r = 0; r < 4; r++)
                wr[r] = (const uint8_t *)w + (size_t)(r0 + (r < rn ? r : 0)) * ws;
            for (int c = c0; c < c1; c += 4) {
                const uint8_t *ac[4];
                const int cn = c1 - c < 4 ? c1 - c : 4;
                for (int k = 0; k < 4; k++)
                    ac[k] = (const uint8_t *)a + (size_t)(c + (k < cn ? k : 0)) * as;
                float out[16];
                tile(n, wr, ac, out);
                for (int k = 0; k < cn; k++)
                    for (int r = 0; r < rn; r++)
                        s[(size_t)(c + k) * ss + (size_t)(r0 + r)] = out[r * 4 + k];
            }
        }
    }
}

/* Lane k of the result: v[k / 4] (a row's value) or v[k % 4] (a column's value). */
X86_INLINE __m512 per_row(__m128 v)
{
    return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3),
                                 _mm512_castps128_ps512(v));
}

X86_INLINE __m512 per_col(__m128 v)
{
    return _mm512_broadcast_f32x4(v);
}

/* The activation scales of 4 Q8_K blocks */
X86_INLINE __m128 q8k_d4(const uint8_t *const a[4], size_t off)
{
    float d[4];
    for (int c = 0; c < 4; c++)
        memcpy(&d[c], a[c] + off, 4);
    return _mm_loadu_ps(d);
}

/* Two fp16 at the start of 4 blocks (d, dmin) -> 8 floats d0 m0 d1 m1 ... */
X86_INLINE __m256 halves2x4(const uint8_t *const w[4], size_t off)
{
    uint32_t v[4];
    for (int r = 0; r < 4; r++)
        memcpy(&v[r], w[r] + off, 4);
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)v));
}

/* ---- Q4_K and Q5_K ------------------------------------------------------------------------- */

X86_INLINE void k4_tile(int n, const uint8_t *const w[4], const uint8_t *const a[4], float out[16],
                        bool five)
{
    const size_t wb = five ? sizeof(block_q5_K) : sizeof(block_q4_K);
    const size_t ab = sizeof(block_q8_K);
    __m512 facc = _mm512_setzero_ps();
    for (int b = 0; b < NB(n, QK_K); b++) {
        const uint8_t *wb_[4], *ab_[4];
        for (int r = 0; r < 4; r++) {
            wb_[r] = w[r] + (size_t)b * wb;
            ab_[r] = a[r] + (size_t)b * ab;
        }
        /* rows: scales (4 x 16 bytes: 8 scales, 8 mins) -> int16, rows 0-1 in w01, 2-3 in w23 */
        __m512i sm4 = _mm512_castsi128_si512(av5_k4_scales(wb_[0] + 4));
        sm4 = _mm512_inserti32x4(sm4, av5_k4_scales(wb_[1] + 4), 1);
        sm4 = _mm512_inserti32x4(sm4, av5_k4_scales(wb_[2] + 4), 2);
        sm4 = _mm512_inserti32x4(sm4, av5_k4_scales(wb_[3] + 4), 3);
        const __m512i w01 = _mm512_cvtepu8_epi16(_mm512_castsi512_si256(sm4));
        const __m512i w23 = _mm512_cvtepu8_epi16(_mm512_extracti64x4_epi64(sm4, 1));
        __m512i sc[4][4];   /* [row][group]: int16 lanes 0-15 sub 2g, 16-31 sub 2g+1 */
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++)
#pragma GCC unroll 4
            for (int g = 0; g < 4; g++)
                sc[r][g] = _mm512_permutexvar_epi16(av5_idx_pair(16 * (r % 2) + 2 * g), r < 2 ? w01 : w23);

        __m512i acc[16];
#pragma GCC unroll 16
        for (int k = 0; k < 16; k++)
            acc[k] = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int g = 0; g < 4; g++) {
            __m512i codes[4];
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++)
                codes[r] = five ? av5_q5k_codes(wb_[r] + 48 + 32 * g, x86_loadu256(wb_[r] + 16), g)
                                : av5_nibbles64(wb_[r] + 16 + 32 * g);
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++) {
                const __m512i act = _mm512_loadu_si512(ab_[c] + 4 + 64 * g);
#pragma GCC unroll 4
                for (int r = 0; r < 4; r++)
                    acc[r * 4 + c] = _mm512_dpwssd_epi32(acc[r * 4 + c], _mm512_maddubs_epi16(codes[r], act),
                                                         sc[r][g]);
            }
        }
        const __m512i isum = av5_reduce16(acc);

        /* mins: lane r*4+c = sum_t (min[r][2t], min[r][2t+1]) . (bp[c][2t], bp[c][2t+1]),
         * bp = sums of bsum pairs; row r's mins are words 8..15 of its 16 in w01/w23 */
        const __m512i bs01 = av5_load2x32(ab_[0] + 260, ab_[1] + 260);
        const __m512i bs23 = av5_load2x32(ab_[2] + 260, ab_[3] + 260);
        const __m512i ones = _mm512_set1_epi16(1);
        const __m512i bp = _mm512_inserti64x4(
            _mm512_castsi256_si512(_mm512_cvtepi32_epi16(_mm512_madd_epi16(bs01, ones))),
            _mm512_cvtepi32_epi16(_mm512_madd_epi16(bs23, ones)), 1);   /* col c: dwords 4c..4c+3 */
        __m512i msum = _mm512_setzero_si512();
#pragma GCC unroll 4
        for (int t = 0; t < 4; t++) {
            /* row r: dword 4 + t of its 8-dword half (rows 0, 1 in w01, rows 2, 3 in w23 = 16 + ..) */
            const __m512i ir = _mm512_setr_epi32(4 + t, 4 + t, 4 + t, 4 + t, 12 + t, 12 + t, 12 + t, 12 + t,
                                                 20 + t, 20 + t, 20 + t, 20 + t, 28 + t, 28 + t, 28 + t, 28 + t);
            const __m512i ic = _mm512_setr_epi32(t, 4 + t, 8 + t, 12 + t, t, 4 + t, 8 + t, 12 + t,
                                                 t, 4 + t, 8 + t, 12 + t, t, 4 + t, 8 + t, 12 + t);
            msum = _mm512_dpwssd_epi32(msum, _mm512_permutex2var_epi32(w01, ir, w23),
                                       _mm512_permutexvar_epi32(ic, bp));
        }

        const __m256 dm = halves2x4(wb_, 0);   /* d0 m0 d1 m1 d2 m2 d3 m3 */
        const __m512 da = per_col(q8k_d4(ab_, 0));
        const __m512 dd = _mm512_mul_ps(_mm512_permutexvar_ps(
            _mm512_setr_epi32(0, 0, 0, 0, 2, 2, 2, 2, 4, 4, 4, 4, 6, 6, 6, 6), _mm512_castps256_ps512(dm)), da);
        const __m512 dmn = _mm512_mul_ps(_mm512_permutexvar_ps(
            _mm512_setr_epi32(1, 1, 1, 1, 3, 3, 3, 3, 5, 5, 5, 5, 7, 7, 7, 7), _mm512_castps256_ps512(dm)), da);
        facc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), dd, facc);
        facc = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(msum), dmn, facc);
    }
    _mm512_storeu_ps(out, facc);
}

static void q4_K_tile(int n, const uint8_t *const w[4], const uint8_t *const a[4], float out[16])
{
    k4_tile(n, w, a, out, false);
}

static void q5_K_tile(int n, const uint8_t *const w[4], const uint8_t *const a[4], float out[16])
{
    k4_tile(n, w, a, out, true);
}

/* ---- Q6_K -------------------------------------------------------------------------------- */

static void q6_K_tile(int n, const uint8_t *const w[4], const uint8_t *const a[4], float out[16])
{
    const size_t wb = sizeof(block_q6_K), ab = sizeof(block_q8_K);
    __m512 facc = _mm512_setzero_ps();
    for (int b = 0; b < NB(n, QK_K); b++) {
        const uint8_t *wb_[4], *ab_[4];
        for (int r = 0; r < 4; r++) {
            wb_[r] = w[r] + (size_t)b * wb;
            ab_[r] = a[r] + (size_t)b * ab;
        }
        /* rows: 16 int8 scales each (at 192) -> int16: rows 0, 1 in w01, rows 2, 3 in w23 */
        const __m512i w01 = _mm512_cvtepi8_epi16(av5_load2x16(wb_[0] + 192, wb_[1] + 192));
        const __m512i w23 = _mm512_cvtepi8_epi16(av5_load2x16(wb_[2] + 192, wb_[3] + 192));
        __m512i sc[4][4];   /* [row][quarter]: lanes 8j..8j+7 <- scale 4q + j */
#pragma GCC unroll 4
        for (int r = 0; r < 4; r++)
#pragma GCC unroll 4
            for (int q = 0; q < 4; q++)
                sc[r][q] = _mm512_permutexvar_epi16(
                    _mm512_add_epi16(av5_idx_quad(q), _mm512_set1_epi16((short)(16 * (r % 2)))),
                    r < 2 ? w01 : w23);
        /* code - 32: each pair's sum starts at -32 * sum_j scale_j * bsum_j */
        const __m512i m32 = _mm512_set1_epi16(-32);
        const __m512i s01 = _mm512_mullo_epi16(w01, m32), s23 = _mm512_mullo_epi16(w23, m32);
        const __m512i sneg[4] = {
            _mm512_maskz_mov_epi16(0x0000ffffu, s01), _mm512_maskz_shuffle_i64x2(0x0f, s01, s01, 0xee),
            _mm512_maskz_mov_epi16(0x0000ffffu, s23), _mm512_maskz_shuffle_i64x2(0x0f, s23, s23, 0xee)};
        __m512i acc[16];
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            const __m512i bs = _mm512_zextsi256_si512(x86_loadu256(ab_[c] + 260));
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++)
                acc[r * 4 + c] = _mm512_dpwssd_epi32(_mm512_setzero_si512(), bs, sneg[r]);
        }
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            __m512i codes[4][2];
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++)
                av5_q6k_codes(wb_[r] + 64 * h, wb_[r] + 128 + 32 * h, &codes[r][0], &codes[r][1]);
#pragma GCC unroll 2
            for (int k = 0; k < 2; k++) {
#pragma GCC unroll 4
                for (int c = 0; c < 4; c++) {
                    const __m512i act = _mm512_loadu_si512(ab_[c] + 4 + 128 * h + 64 * k);
#pragma GCC unroll 4
                    for (int r = 0; r < 4; r++)
                        acc[r * 4 + c] = _mm512_dpwssd_epi32(
                            acc[r * 4 + c], _mm512_maddubs_epi16(codes[r][k], act), sc[r][2 * h + k]);
                }
            }
        }
        const __m512i isum = av5_reduce16(acc);
        fp16_t hd[4];
        for (int r = 0; r < 4; r++)
            memcpy(&hd[r], wb_[r] + 208, 2);
        const __m128 d4 = _mm_cvtph_ps(_mm_loadl_epi64((const __m128i *)hd));
        const __m512 dd = _mm512_mul_ps(per_row(d4), per_col(q8k_d4(ab_, 0)));
        facc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), dd, facc);
    }
    _mm512_storeu_ps(out, facc);
}

/* ---- Q8_0 and Q4_0 ---------------------------------------------------------------------------- */

/* 16 float vectors -> lane k = sum of v[k] */
X86_INLINE __m512 reduce16_ps(const __m512 v[16])
{
    __m512i t[16];
#pragma GCC unroll 16
    for (int k = 0; k < 16; k++)
        t[k] = _mm512_castps_si512(v[k]);
    __m512 a[8], b[4], c[2];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++)
        a[i] = _mm512_add_ps(_mm512_castsi512_ps(_mm512_unpacklo_epi32(t[2 * i], t[2 * i + 1])),
                             _mm512_castsi512_ps(_mm512_unpackhi_epi32(t[2 * i], t[2 * i + 1])));
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++)
        b[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a[2 * i]), _mm512_castps_pd(a[2 * i + 1]))),
                             _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a[2 * i]), _mm512_castps_pd(a[2 * i + 1]))));
#pragma GCC unroll 2
    for (int i = 0; i < 2; i++)
        c[i] = _mm512_add_ps(_mm512_shuffle_f32x4(b[2 * i], b[2 * i + 1], 0x88),
                             _mm512_shuffle_f32x4(b[2 * i], b[2 * i + 1], 0xdd));
    return _mm512_add_ps(_mm512_shuffle_f32x4(c[0], c[1], 0x88), _mm512_shuffle_f32x4(c[0], c[1], 0xdd));
}

/* lanes 0-7 <- v[2k], 8-15 <- v[2k + 1] (the scales of the block pair k of 8 blocks) */
X86_INLINE __m512 pair_of(__m256 v, int k)
{
    return _mm512_permutexvar_ps(_mm512_mask_blend_epi32(0xff00, _mm512_set1_epi32(2 * k),
                                                         _mm512_set1_epi32(2 * k + 1)),
                                 _mm512_castps256_ps512(v));
}

/* Q8_0 x Q8_0 (four4 = false): activation + 128 as the unsigned operand, the weights
 * signed; each row's sum(w) * 128 removed through the accumulator's start value.
 * Q4_0 x Q8_0 (four4 = true): the 4-bit codes unsigned, the activations signed; each
 * column's 8 * sum(a) removed the same way. */
X86_INLINE void b32_tile(int n, const uint8_t *const w[4], const uint8_t *const a[4], float out[16],
                         bool four4)
{
    const size_t wb = four4 ? sizeof(block_q4_0) : sizeof(block_q8_0), ab = sizeof(block_q8_0);
    __m512 facc[16];
#pragma GCC unroll 16
    for (int k = 0; k < 16; k++)
        facc[k] = _mm512_setzero_ps();
    const int nb = NB(n, QK8_0);
    int i = 0;
    for (; i + 8 <= nb; i += 8) {
        __m256 dw8[4], da8[4];
        for (int r = 0; r < 4; r++) {
            dw8[r] = four4 ? av5_q4_0_scales8(w[r] + (size_t)i * wb)
                           : av5_q8_0_scales8(w[r] + (size_t)i * wb);
            da8[r] = av5_q8_0_scales8(a[r] + (size_t)i * ab);
        }
#pragma GCC unroll 1
        for (int k = 0; k < 4; k++) {
            const int j = i + 2 * k;
            __m512i act[4], cfix[4];
            __m512 da[4];
#pragma GCC unroll 4
            for (int c = 0; c < 4; c++) {
                const uint8_t *p = a[c] + (size_t)j * ab + 2;
                const __m512i q = av5_load2x32(p, p + ab);
                if (four4) {
                    act[c] = q;
                    cfix[c] = _mm512_sub_epi32(_mm512_setzero_si512(),
                                               _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_set1_epi8(8), q));
                } else {
                    act[c] = _mm512_xor_si512(q, _mm512_set1_epi8((char)0x80));
                }
                da[c] = pair_of(da8[c], k);
            }
#pragma GCC unroll 4
            for (int r = 0; r < 4; r++) {
                const uint8_t *p = w[r] + (size_t)j * wb + 2;
                __m512i wq, rfix = _mm512_setzero_si512();
                if (four4) {
                    wq = _mm512_inserti64x4(_mm512_castsi256_si512(x86_nibbles(p)), x86_nibbles(p + wb), 1);
                } else {
                    wq = av5_load2x32(p, p + wb);
                    rfix = _mm512_sub_epi32(rfix, _mm512_dpbusd_epi32(_mm512_setzero_si512(),
                                                                      _mm512_set1_epi8((char)0x80), wq));
                }
                const __m512 dw = pair_of(dw8[r], k);
#pragma GCC unroll 4
                for (int c = 0; c < 4; c++) {
                    const __m512i is = four4 ? _mm512_dpbusd_epi32(cfix[c], wq, act[c])
                                             : _mm512_dpbusd_epi32(rfix, act[c], wq);
                    facc[r * 4 + c] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is), _mm512_mul_ps(dw, da[c]),
                                                      facc[r * 4 + c]);
                }
            }
        }
    }
    __m512 sum = reduce16_ps(facc);
    _mm512_storeu_ps(out, sum);
    /* the blocks left over: plain dots */
    if (i < nb) {
        const struct quant_kernels *k = quant_kernels_at(four4 ? HY_TYPE_Q4_0 : HY_TYPE_Q8_0, HY_SIMD_AVX512);
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 4; c++) {
                float t;
                k->vec_dot((nb - i) * QK8_0, &t, w[r] + (size_t)i * wb, a[c] + (size_t)i * ab);
                out[r * 4 + c] += t;
            }
    }
}

static void q8_0_tile(int n, const uint8_t *const w[4], const uint8_t *const a[4], float out[16])
{
    b32_tile(n, w, a, out, false);
}

static void q4_0_tile(int n, const uint8_t *const w[4], const uint8_t *const a[4], float out[16])
{
    b32_tile(n, w, a, out, true);
}

/* ---- entry points ------------------------------------------------------------------------- */

#define GEMM(t, T)                                                                               \
    void av5_##t##_gemm(int n, int nr, int nc, const void *w, size_t ws, const void *a,          \
                        size_t as, float *s, size_t ss)                                          \
    {                                                                                            \
        gemm_tiles(t##_tile, quant_kernels_at(HY_TYPE_##T, HY_SIMD_AVX512)->vec_dot, n, nr, nc,  \
                   w, ws, a, as, s, ss);                                                         \
    }
GEMM(q4_K, Q4_K)
GEMM(q5_K, Q5_K)
GEMM(q6_K, Q6_K)
GEMM(q8_0, Q8_0)
GEMM(q4_0, Q4_0)

/* The scalar reference kernels: the specification every SIMD kernel is tested against.
 *
 * Written for reading, not speed. Element order inside each block is the on-disk layout
 * of ggml (blocks.h); each to_float computes exactly what ggml's dequantize_row_* does,
 * in the same floating-point operations (a multiply, then a subtract; never fused), so
 * the floats are bit-identical. The activation quantizers reproduce what llama.cpp's CPU
 * backend does on x86 (see the comment at each), because the logits depend on them.
 *
 * Dot products: integer sums inside a block are exact; the block's float scales are
 * applied once per block (per sub-block sums weighted by integer sub-block scales stay
 * integers). Float rows (F32, F16, BF16) accumulate in double.
 *
 * Not here: tiling, threading, weight quantizers (weights arrive quantized). */
/* No auto-vectorization in the specification: GCC 12.2 with AVX512-VNNI enabled (NATIVE=1
 * on this machine) turns the Q4_0 dot's sum(((q & 15) - 8) * a) into vpdpbusd with the
 * wrong signedness, and the reference came out wrong (tests/test_quant.c caught it). */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-tree-vectorize")
#endif

#include "quant/quant_impl.h"

#include <math.h>

#define NB(n, qk) ((int)((n) / (qk)))

/* ---- float types ------------------------------------------------------------------- */

static void f32_to_float(const void *x, float *y, int64_t n)
{
    memcpy(y, x, (size_t)n * sizeof(float));
}

static void f32_from_float(const float *x, void *y, int64_t n)
{
    memcpy(y, x, (size_t)n * sizeof(float));
}

static void f32_dot(int n, float *s, const void *w, const void *a)
{
    const float *x = w, *y = a;
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += (double)x[i] * (double)y[i];
    *s = (float)sum;
}

static void f16_to_float(const void *x, float *y, int64_t n)
{
    const fp16_t *h = x;
    for (int64_t i = 0; i < n; i++)
        y[i] = quant_h2f(h[i]);
}

/* llama.cpp: F16C vcvtps2ph with round-to-nearest-even (ggml_cpu_fp32_to_fp16). */
static void f16_from_float(const float *x, void *y, int64_t n)
{
    fp16_t *h = y;
    for (int64_t i = 0; i < n; i++)
        h[i] = fp32_to_fp16(x[i]);
}

static void f16_dot(int n, float *s, const void *w, const void *a)
{
    const fp16_t *x = w, *y = a;
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += (double)quant_h2f(x[i]) * (double)quant_h2f(y[i]);
    *s = (float)sum;
}

static void bf16_to_float(const void *x, float *y, int64_t n)
{
    const uint16_t *h = x;
    for (int64_t i = 0; i < n; i++)
        y[i] = bf16_to_fp32(h[i]);
}

/* llama.cpp: ggml_cpu_fp32_to_bf16, the scalar GGML_FP32_TO_BF16 (round to nearest even,
 * subnormals kept, NaN quieted) even on AVX512-BF16 machines. */
static void bf16_from_float(const float *x, void *y, int64_t n)
{
    uint16_t *h = y;
    for (int64_t i = 0; i < n; i++)
        h[i] = fp32_to_bf16(x[i]);
}

static void bf16_dot(int n, float *s, const void *w, const void *a)
{
    const uint16_t *x = w, *y = a;
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += (double)bf16_to_fp32(x[i]) * (double)bf16_to_fp32(y[i]);
    *s = (float)sum;
}

/* ---- activation quantizers (partner types) ----------------------------------------- */

/* Q8_0 as llama.cpp computes it on AVX/AVX2/AVX-512 (quantize_row_q8_0 in
 * ggml-cpu/arch/x86/quants.c, and the same in its repacked 4x8 variant):
 *   amax = max |x|, d = amax / 127, id = amax ? 127 / amax : 0 (not 1 / d),
 *   q = round-half-even(x * id) (not roundf), stored d = fp16(d). */
static void q8_0_from_float(const float *x, void *vy, int64_t n)
{
    block_q8_0 *y = vy;
    for (int i = 0; i < NB(n, QK8_0); i++, x += QK8_0) {
        float amax = 0;
        for (int j = 0; j < QK8_0; j++)
            amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        y[i].d = fp32_to_fp16(d);
        for (int j = 0; j < QK8_0; j++)
            y[i].qs[j] = (int8_t)quant_round_even(x[j] * id);
    }
}

/* Q8_1: as Q8_0, plus s = fp16(d * sum(q)) with the float d (not the fp16 one), as the
 * AVX2 quantize_row_q8_1 computes it. */
static void q8_1_from_float(const float *x, void *vy, int64_t n)
{
    block_q8_1 *y = vy;
    for (int i = 0; i < NB(n, QK8_1); i++, x += QK8_1) {
        float amax = 0;
        for (int j = 0; j < QK8_1; j++)
            amax = fmaxf(amax, fabsf(x[j]));
        const float d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        int sum = 0;
        for (int j = 0; j < QK8_1; j++) {
            y[i].qs[j] = (int8_t)quant_round_even(x[j] * id);
            sum += y[i].qs[j];
        }
        y[i].d = fp32_to_fp16(d);
        y[i].s = fp32_to_fp16(d * (float)sum);
    }
}

/* Q8_K: llama.cpp's x86 build uses quantize_row_q8_K_ref: max = the first element of
 * largest magnitude (with its sign), iscale = -127 / max, q = min(127, nearest(iscale*x)),
 * d = 1 / iscale (a float; so d is negative when max is positive, and d * q is x's sign),
 * bsums = sums of 16 quants. An all-zero block gives d = 0, q = 0 and (unlike ggml, which
 * leaves them unset) bsums = 0. The repacked path's quantizer may pick the opposite sign
 * for both d and q when +amax and -amax both occur: the products are the same. */
static void q8_K_from_float(const float *x, void *vy, int64_t n)
{
    block_q8_K *y = vy;
    for (int i = 0; i < NB(n, QK_K); i++, x += QK_K) {
        float amax = 0, max = 0;
        for (int j = 0; j < QK_K; j++) {
            if (fabsf(x[j]) > amax) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        }
        memset(&y[i], 0, sizeof(y[i]));
        if (amax == 0.0f)
            continue;
        const float iscale = -127.0f / max;
        for (int j = 0; j < QK_K; j++) {
            int v = quant_round_even(iscale * x[j]);
            y[i].qs[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int j = 0; j < QK_K / 16; j++) {
            int sum = 0;
            for (int l = 0; l < 16; l++)
                sum += y[i].qs[16 * j + l];
            y[i].bsums[j] = (int16_t)sum;
        }
        y[i].d = 1.0f / iscale;
    }
}

static void q8_1_to_float(const void *vx, float *y, int64_t n)
{
    const block_q8_1 *x = vx;
    for (int i = 0; i < NB(n, QK8_1); i++) {
        const float d = quant_h2f(x[i].d);
        for (int j = 0; j < QK8_1; j++)
            *y++ = x[i].qs[j] * d;
    }
}

static void q8_K_to_float(const void *vx, float *y, int64_t n)
{
    const block_q8_K *x = vx;
    for (int i = 0; i < NB(n, QK_K); i++)
        for (int j = 0; j < QK_K; j++)
            *y++ = x[i].d * x[i].qs[j];
}

/* ---- 32-element block types --------------------------------------------------------- */
/* Element j < 16 of a 4-bit block is the low nibble of qs[j]; element j + 16 the high one.
 * Q5 types add bit j of qh (little-endian u32) as bit 4 of element j. */

static inline uint32_t load_u32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline int q4_elem(const uint8_t *qs, int j)
{
    return j < 16 ? qs[j] & 15 : qs[j - 16] >> 4;
}

static inline int q5_elem(const uint8_t *qs, uint32_t qh, int j)
{
    return q4_elem(qs, j) | (int)((qh >> j) & 1) << 4;
}

static void q4_0_to_float(const void *vx, float *y, int64_t n)
{
    const block_q4_0 *x = vx;
    for (int i = 0; i < NB(n, QK4_0); i++) {
        const float d = quant_h2f(x[i].d);
        for (int j = 0; j < QK4_0; j++)
            *y++ = (q4_elem(x[i].qs, j) - 8) * d;
    }
}

static void q4_1_to_float(const void *vx, float *y, int64_t n)
{
    const block_q4_1 *x = vx;
    for (int i = 0; i < NB(n, QK4_1); i++) {
        const float d = quant_h2f(x[i].d), m = quant_h2f(x[i].m);
        for (int j = 0; j < QK4_1; j++)
            *y++ = q4_elem(x[i].qs, j) * d + m;
    }
}

static void q5_0_to_float(const void *vx, float *y, int64_t n)
{
    const block_q5_0 *x = vx;
    for (int i = 0; i < NB(n, QK5_0); i++) {
        const float d = quant_h2f(x[i].d);
        const uint32_t qh = load_u32(x[i].qh);
        for (int j = 0; j < QK5_0; j++)
            *y++ = (q5_elem(x[i].qs, qh, j) - 16) * d;
    }
}

static void q5_1_to_float(const void *vx, float *y, int64_t n)
{
    const block_q5_1 *x = vx;
    for (int i = 0; i < NB(n, QK5_1); i++) {
        const float d = quant_h2f(x[i].d), m = quant_h2f(x[i].m);
        const uint32_t qh = load_u32(x[i].qh);
        for (int j = 0; j < QK5_1; j++)
            *y++ = q5_elem(x[i].qs, qh, j) * d + m;
    }
}

static void q8_0_to_float(const void *vx, float *y, int64_t n)
{
    const block_q8_0 *x = vx;
    for (int i = 0; i < NB(n, QK8_0); i++) {
        const float d = quant_h2f(x[i].d);
        for (int j = 0; j < QK8_0; j++)
            *y++ = x[i].qs[j] * d;
    }
}

static void q4_0_dot(int n, float *s, const void *vw, const void *va)
{
    const block_q4_0 *w = vw;
    const block_q8_0 *a = va;
    float sum = 0;
    for (int i = 0; i < NB(n, QK8_0); i++) {
        int isum = 0;
        for (int j = 0; j < QK8_0; j++)
            isum += (q4_elem(w[i].qs, j) - 8) * a[i].qs[j];
        sum += (quant_h2f(w[i].d) * quant_h2f(a[i].d)) * (float)isum;
    }
    *s = sum;
}

/* Q4_1 x Q8_1: sum (d_w q_w + m_w) d_a q_a = d_w d_a sum(q_w q_a) + m_w (d_a sum(q_a)),
 * and the last factor is the activation block's s. */
static void q4_1_dot(int n, float *s, const void *vw, const void *va)
{
    const block_q4_1 *w = vw;
    const block_q8_1 *a = va;
    float sum = 0;
    for (int i = 0; i < NB(n, QK8_1); i++) {
        int isum = 0;
        for (int j = 0; j < QK8_1; j++)
            isum += q4_elem(w[i].qs, j) * a[i].qs[j];
        sum += (quant_h2f(w[i].d) * quant_h2f(a[i].d)) * (float)isum +
               quant_h2f(w[i].m) * quant_h2f(a[i].s);
    }
    *s = sum;
}

static void q5_0_dot(int n, float *s, const void *vw, const void *va)
{
    const block_q5_0 *w = vw;
    const block_q8_0 *a = va;
    float sum = 0;
    for (int i = 0; i < NB(n, QK8_0); i++) {
        const uint32_t qh = load_u32(w[i].qh);
        int isum = 0;
        for (int j = 0; j < QK8_0; j++)
            isum += (q5_elem(w[i].qs, qh, j) - 16) * a[i].qs[j];
        sum += (quant_h2f(w[i].d) * quant_h2f(a[i].d)) * (float)isum;
    }
    *s = sum;
}

static void q5_1_dot(int n, float *s, const void *vw, const void *va)
{
    const block_q5_1 *w = vw;
    const block_q8_1 *a = va;
    float sum = 0;
    for (int i = 0; i < NB(n, QK8_1); i++) {
        const uint32_t qh = load_u32(w[i].qh);
        int isum = 0;
        for (int j = 0; j < QK8_1; j++)
            isum += q5_elem(w[i].qs, qh, j) * a[i].qs[j];
        sum += (quant_h2f(w[i].d) * quant_h2f(a[i].d)) * (float)isum +
               quant_h2f(w[i].m) * quant_h2f(a[i].s);
    }
    *s = sum;
}

static void q8_0_dot(int n, float *s, const void *vw, const void *va)
{
    const block_q8_0 *w = vw;
    const block_q8_0 *a = va;
    float sum = 0;
    for (int i = 0; i < NB(n, QK8_0); i++) {
        int isum = 0;
        for (int j = 0; j < QK8_0; j++)
            isum += w[i].qs[j] * a[i].qs[j];
        sum += (quant_h2f(w[i].d) * quant_h2f(a[i].d)) * (float)isum;
    }
    *s = sum;
}

/* ---- K-quants (256-element super-blocks) --------------------------------------------- */
/* Element e of a super-block, in each type's layout (ggml's dequantize_row_*):
 *   Q2_K, Q3_K: e = 128 h + 32 k + l (h < 2, k < 4, l < 32): 2 bits at shift 2k of
 *               qs[32 h + l]; sub-block (16 elements) 8 h + 2 k + l / 16.
 *               Q3_K subtracts 4 unless bit 4 h + k of hmask[l] is set.
 *   Q4_K, Q5_K: e = 64 g + 32 t + l (g < 4, t < 2): nibble t of qs[32 g + l];
 *               sub-block (32 elements) 2 g + t. Q5_K adds 16 when bit 2 g + t of qh[l].
 *   Q6_K:       e = 128 h + 32 k + l: low 4 bits = nibble k / 2 of ql[64 h + 32 (k % 2) + l],
 *               high 2 bits = bits 2k of qh[32 h + l]; minus 32; sub-block 8 h + 2 k + l / 16. */

static inline int q2k_elem(const block_q2_K *b, int e)
{
    int h = e / 128, k = (e / 32) % 4, l = e % 32;
    return (b->qs[32 * h + l] >> (2 * k)) & 3;
}

static inline int q3k_elem(const block_q3_K *b, int e)
{
    int h = e / 128, k = (e / 32) % 4, l = e % 32;
    int q = (b->qs[32 * h + l] >> (2 * k)) & 3;
    return (b->hmask[l] >> (4 * h + k)) & 1 ? q : q - 4;
}

static inline int q4k_elem(const block_q4_K *b, int e)
{
    int g = e / 64, t = (e / 32) % 2, l = e % 32;
    return (b->qs[32 * g + l] >> (4 * t)) & 15;
}

static inline int q5k_elem(const block_q5_K *b, int e)
{
    int g = e / 64, t = (e / 32) % 2, l = e % 32;
    int hi = (b->qh[l] >> (2 * g + t)) & 1;
    return ((b->qs[32 * g + l] >> (4 * t)) & 15) | hi << 4;
}

static inline int q6k_elem(const block_q6_K *b, int e)
{
    int h = e / 128, k = (e / 32) % 4, l = e % 32;
    int lo = (b->ql[64 * h + 32 * (k % 2) + l] >> (4 * (k / 2))) & 15;
    int hi = (b->qh[32 * h + l] >> (2 * k)) & 3;
    return (lo | hi << 4) - 32;
}

static inline int k16_sub(int e) /* Q2_K, Q3_K, Q6_K sub-block of element e */
{
    return e / 16;
}

static void q2_K_to_float(const void *vx, float *y, int64_t n)
{
    const block_q2_K *x = vx;
    for (int i = 0; i < NB(n, QK_K); i++) {
        const float d = quant_h2f(x[i].d), dmin = quant_h2f(x[i].dmin);
        for (int e = 0; e < QK_K; e++) {
            const uint8_t sc = x[i].scales[k16_sub(e)];
            const float dl = d * (sc & 15), ml = dmin * (sc >> 4);
            *y++ = dl * q2k_elem(&x[i], e) - ml;
        }
    }
}

static void q3_K_to_float(const void *vx, float *y, int64_t n)
{
    const block_q3_K *x = vx;
    for (int i = 0; i < NB(n, QK_K); i++) {
        const float d = quant_h2f(x[i].d);
        int8_t sc[16];
        quant_k3_scales(x[i].scales, sc);
        for (int e = 0; e < QK_K; e++)
            *y++ = (d * sc[k16_sub(e)]) * q3k_elem(&x[i], e);
    }
}

static void q4_K_to_float(const void *vx, float *y, int64_t n)
{
    const block_q4_K *x = vx;
    for (int i = 0; i < NB(n, QK_K); i++) {
        const float d = quant_h2f(x[i].d), dmin = quant_h2f(x[i].dmin);
        uint8_t sc[8], mn[8];
        quant_k4_scales(x[i].scales, sc, mn);
        for (int e = 0; e < QK_K; e++)
            *y++ = (d * sc[e / 32]) * q4k_elem(&x[i], e) - dmin * mn[e / 32];
    }
}

static void q5_K_to_float(const void *vx, float *y, int64_t n)
{
    const block_q5_K *x = vx;
    for (int i = 0; i < NB(n, QK_K); i++) {
        const float d = quant_h2f(x[i].d), dmin = quant_h2f(x[i].dmin);
        uint8_t sc[8], mn[8];
        quant_k4_scales(x[i].scales, sc, mn);
        for (int e = 0; e < QK_K; e++)
            *y++ = (d * sc[e / 32]) * q5k_elem(&x[i], e) - dmin * mn[e / 32];
    }
}

static void q6_K_to_float(const void *vx, float *y, int64_t n)
{
    const block_q6_K *x = vx;
    for (int i = 0; i < NB(n, QK_K); i++) {
        const float d = quant_h2f(x[i].d);
        for (int e = 0; e < QK_K; e++)
            *y++ = (d * x[i].scales[k16_sub(e)]) * q6k_elem(&x[i], e);
    }
}

/* K-quant dots: with Q8_K activations (d_a, q_a, bsums),
 *   sum_e w_e a_e = d_a * (d * sum_s sc_s * sum_{e in s} q_e q_a,e - dmin * sum_s m_s * bsum_s)
 * where a min covering 32 elements meets two 16-element bsums. */

static void q2_K_dot(int n, float *s, const void *vw, const void *va)
{
    const block_q2_K *w = vw;
    const block_q8_K *a = va;
    float sum = 0;
    for (int i = 0; i < NB(n, QK_K); i++) {
        int isum = 0, msum = 0;
        for (int sb = 0; sb < 16; sb++) {
            int t = 0;
            for (int e = 16 * sb; e < 16 * sb + 16; e++)
                t += q2k_elem(&w[i], e) * a[i].qs[e];
            isum += (w[i].scales[sb] & 15) * t;
            msum += (w[i].scales[sb] >> 4) * a[i].bsums[sb];
        }
        sum += (a[i].d * quant_h2f(w[i].d)) * (float)isum -
               (a[i].d * quant_h2f(w[i].dmin)) * (float)msum;
    }
    *s = sum;
}

static void q3_K_dot(int n, float *s, const void *vw, const void *va)
{
    const block_q3_K *w = vw;
    const block_q8_K *a = va;
    float sum = 0;
    for (int i = 0; i < NB(n, QK_K); i++) {
        int8_t sc[16];
        quant_k3_scales(w[i].scales, sc);
        int isum = 0;
        for (int sb = 0; sb < 16; sb++) {
            int t = 0;
            for (int e = 16 * sb; e < 16 * sb + 16; e++)
                t += q3k_elem(&w[i], e) * a[i].qs[e];
            isum += sc[sb] * t;
        }
        sum += (a[i].d * quant_h2f(w[i].d)) * (float)isum;
    }
    *s = sum;
}

static void q4_K_dot(int n, float *s, const void *vw, const void *va)
{
    const block_q4_K *w = vw;
    const block_q8_K *a = va;
    float sum = 0;
    for (int i = 0; i < NB(n, QK_K); i++) {
        uint8_t sc[8], mn[8];
        quant_k4_scales(w[i].scales, sc, mn);
        int isum = 0, msum = 0;
        for (int sb = 0; sb < 8; sb++) {
            int t = 0;
            for (int e = 32 * sb; e < 32 * sb + 32; e++)
                t += q4k_elem(&w[i], e) * a[i].qs[e];
            isum += sc[sb] * t;
            msum += mn[sb] * (a[i].bsums[2 * sb] + a[i].bsums[2 * sb + 1]);
        }
        sum += (a[i].d * quant_h2f(w[i].d)) * (float)isum -
               (a[i].d * quant_h2f(w[i].dmin)) * (float)msum;
    }
    *s = sum;
}

static void q5_K_dot(int n, float *s, const void *vw, const void *va)
{
    const block_q5_K *w = vw;
    const block_q8_K *a = va;
    float sum = 0;
    for (int i = 0; i < NB(n, QK_K); i++) {
        uint8_t sc[8], mn[8];
        quant_k4_scales(w[i].scales, sc, mn);
        int isum = 0, msum = 0;
        for (int sb = 0; sb < 8; sb++) {
            int t = 0;
            for (int e = 32 * sb; e < 32 * sb + 32; e++)
                t += q5k_elem(&w[i], e) * a[i].qs[e];
            isum += sc[sb] * t;
            msum += mn[sb] * (a[i].bsums[2 * sb] + a[i].bsums[2 * sb + 1]);
        }
        sum += (a[i].d * quant_h2f(w[i].d)) * (float)isum -
               (a[i].d * quant_h2f(w[i].dmin)) * (float)msum;
    }
    *s = sum;
}

static void q6_K_dot(int n, float *s, const void *vw, const void *va)
{
    const block_q6_K *w = vw;
    const block_q8_K *a = va;
    float sum = 0;
    for (int i = 0; i < NB(n, QK_K); i++) {
        int isum = 0;
        for (int sb = 0; sb < 16; sb++) {
            int t = 0;
            for (int e = 16 * sb; e < 16 * sb + 16; e++)
                t += q6k_elem(&w[i], e) * a[i].qs[e];
            isum += w[i].scales[sb] * t;
        }
        sum += (a[i].d * quant_h2f(w[i].d)) * (float)isum;
    }
    *s = sum;
}

/* ---- the table ---------------------------------------------------------------------- */

#define GEMM_BY_DOT(name)                                                                  \
    static void name##_gemm(int n, int nr, int nc, const void *w, size_t ws, const void *a, \
                            size_t as, float *s, size_t ss)                                \
    {                                                                                      \
        quant_gemm_by_dot(name##_dot, n, nr, nc, w, ws, a, as, s, ss);                     \
    }
GEMM_BY_DOT(f32)
GEMM_BY_DOT(f16)
GEMM_BY_DOT(bf16)
GEMM_BY_DOT(q4_0)
GEMM_BY_DOT(q4_1)
GEMM_BY_DOT(q5_0)
GEMM_BY_DOT(q5_1)
GEMM_BY_DOT(q8_0)
GEMM_BY_DOT(q2_K)
GEMM_BY_DOT(q3_K)
GEMM_BY_DOT(q4_K)
GEMM_BY_DOT(q5_K)
GEMM_BY_DOT(q6_K)

#define WEIGHT(T, t, P, ff)                                                                \
    [HY_TYPE_##T] = {.type = HY_TYPE_##T, .vec_dot_type = HY_TYPE_##P, .to_float = t##_to_float, \
                     .from_float = ff, .vec_dot = t##_dot, .gemm = t##_gemm}
#define PARTNER(T, t)                                                                      \
    [HY_TYPE_##T] = {.type = HY_TYPE_##T, .vec_dot_type = HY_TYPE_##T,                     \
                     .to_float = t##_to_float, .from_float = t##_from_float}

const struct quant_kernels quant_table_ref[HY_TYPE_COUNT] = {
    WEIGHT(F32, f32, F32, f32_from_float),
    WEIGHT(F16, f16, F16, f16_from_float),
    WEIGHT(BF16, bf16, BF16, bf16_from_float),
    WEIGHT(Q4_0, q4_0, Q8_0, NULL),
    WEIGHT(Q4_1, q4_1, Q8_1, NULL),
    WEIGHT(Q5_0, q5_0, Q8_0, NULL),
    WEIGHT(Q5_1, q5_1, Q8_1, NULL),
    WEIGHT(Q8_0, q8_0, Q8_0, q8_0_from_float),
    WEIGHT(Q2_K, q2_K, Q8_K, NULL),
    WEIGHT(Q3_K, q3_K, Q8_K, NULL),
    WEIGHT(Q4_K, q4_K, Q8_K, NULL),
    WEIGHT(Q5_K, q5_K, Q8_K, NULL),
    WEIGHT(Q6_K, q6_K, Q8_K, NULL),
    PARTNER(Q8_1, q8_1),
    PARTNER(Q8_K, q8_K),
};

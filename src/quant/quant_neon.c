/* NEON kernels (arm64): dequantize, activation quantizers, dots. The dot product
 * extension (SDOT) is used when the compiler targets it (__ARM_FEATURE_DOTPROD, e.g.
 * -march=armv8.2-a+dotprod); otherwise widening multiplies and pairwise adds do the same
 * sums. Integer sums are exact either way; each sub-block's sum is reduced across lanes
 * and weighted by its integer scale, the block's float scales applied once per block.
 * to_float does the reference's float operations (multiply, then add or subtract; never
 * fused: the build is ISO C, so no contraction), hence bit-identical output.
 * The gemm tiles of this level are dots (quant_gemm_by_dot).
 *
 * Tested under qemu-user (make test-arm), not tuned on hardware. */
#include "quant/quant_impl.h"

#include <arm_neon.h>

#define NB(n, qk) ((int)((n) / (qk)))

/* acc + the products of 16 signed bytes, 4 per lane (or 2 + 2 without SDOT: only the total
 * of the lanes is meaningful) */
static inline int32x4_t dot16(int32x4_t acc, int8x16_t a, int8x16_t b)
{
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(acc, a, b);
#else
    const int16x8_t lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    const int16x8_t hi = vmull_high_s8(a, b);
    return vpadalq_s16(vpadalq_s16(acc, lo), hi);
#endif
}

/* sum of 32 products */
static inline int dot32(const int8x16_t a[2], const int8_t *b)
{
    return vaddvq_s32(dot16(dot16(vdupq_n_s32(0), a[0], vld1q_s8(b)), a[1], vld1q_s8(b + 16)));
}

static inline int dot16s(int8x16_t a, const int8_t *b)
{
    return vaddvq_s32(dot16(vdupq_n_s32(0), a, vld1q_s8(b)));
}

/* ---- float rows ------------------------------------------------------------------------------ */

static void f32_dot_neon(int n, float *s, const void *w, const void *a)
{
    const float *x = w, *y = a;
    float32x4_t acc[4] = {vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0), vdupq_n_f32(0)};
    int i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 4; k++)
            acc[k] = vfmaq_f32(acc[k], vld1q_f32(x + i + 4 * k), vld1q_f32(y + i + 4 * k));
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3])));
    for (; i < n; i++)
        sum += x[i] * y[i];
    *s = sum;
}

static inline float32x4_t h4(const fp16_t *p)
{
    return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p)));
}

static void f16_to_float_neon(const void *x, float *y, int64_t n)
{
    const fp16_t *h = x;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, h4(h + i));
    for (; i < n; i++)
        y[i] = quant_h2f(h[i]);
}

/* IEEE conversion in the default rounding mode (to nearest even), subnormals kept */
static void f16_from_float_neon(const float *x, void *y, int64_t n)
{
    fp16_t *h = y;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1_u16(h + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(x + i))));
    for (; i < n; i++)
        h[i] = fp32_to_fp16(x[i]);
}

static void f16_dot_neon(int n, float *s, const void *w, const void *a)
{
    const fp16_t *x = w, *y = a;
    float32x4_t acc0 = vdupq_n_f32(0), acc1 = vdupq_n_f32(0);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        acc0 = vfmaq_f32(acc0, h4(x + i), h4(y + i));
        acc1 = vfmaq_f32(acc1, h4(x + i + 4), h4(y + i + 4));
    }
    float sum = vaddvq_f32(vaddq_f32(acc0, acc1));
    for (; i < n; i++)
        sum += quant_h2f(x[i]) * quant_h2f(y[i]);
    *s = sum;
}

static inline float32x4_t bf4(const uint16_t *p)
{
    return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16));
}

static void bf16_to_float_neon(const void *x, float *y, int64_t n)
{
    const uint16_t *h = x;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, bf4(h + i));
    for (; i < n; i++)
        y[i] = bf16_to_fp32(h[i]);
}

static void bf16_from_float_neon(const float *x, void *y, int64_t n)
{
    uint16_t *h = y;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const uint32x4_t u = vreinterpretq_u32_f32(vld1q_f32(x + i));
        const uint32x4_t odd = vandq_u32(vshrq_n_u32(u, 16), vdupq_n_u32(1));
        const uint32x4_t r = vshrq_n_u32(vaddq_u32(u, vaddq_u32(vdupq_n_u32(0x7fff), odd)), 16);
        const uint32x4_t nan = vcgtq_u32(vandq_u32(u, vdupq_n_u32(0x7fffffff)), vdupq_n_u32(0x7f800000));
        const uint32x4_t q = vorrq_u32(vshrq_n_u32(u, 16), vdupq_n_u32(64));
        vst1_u16(h + i, vmovn_u32(vbslq_u32(nan, q, r)));
    }
    for (; i < n; i++)
        h[i] = fp32_to_bf16(x[i]);
}

static void bf16_dot_neon(int n, float *s, const void *w, const void *a)
{
    const uint16_t *x = w, *y = a;
    float32x4_t acc0 = vdupq_n_f32(0), acc1 = vdupq_n_f32(0);
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        acc0 = vfmaq_f32(acc0, bf4(x + i), bf4(y + i));
        acc1 = vfmaq_f32(acc1, bf4(x + i + 4), bf4(y + i + 4));
    }
    float sum = vaddvq_f32(vaddq_f32(acc0, acc1));
    for (; i < n; i++)
        sum += bf16_to_fp32(x[i]) * bf16_to_fp32(y[i]);
    *s = sum;
}

/* ---- activation quantizers --------------------------------------------------------------------- */

static inline float amax_n(const float *x, int n)
{
    float32x4_t m = vdupq_n_f32(0);
    for (int j = 0; j < n; j += 4)
        m = vmaxq_f32(m, vabsq_f32(vld1q_f32(x + j)));
    return vmaxvq_f32(m);
}

/* 16 values times s, rounded to nearest even, narrowed to int8 */
static inline int8x16_t round16(const float *x, float32x4_t s)
{
    int32x4_t q[4];
    for (int k = 0; k < 4; k++)
        q[k] = vcvtnq_s32_f32(vmulq_f32(vld1q_f32(x + 4 * k), s));
    const int16x8_t a = vcombine_s16(vmovn_s32(q[0]), vmovn_s32(q[1]));
    const int16x8_t b = vcombine_s16(vmovn_s32(q[2]), vmovn_s32(q[3]));
    return vcombine_s8(vmovn_s16(a), vmovn_s16(b));
}

static void q8_0_from_float_neon(const float *x, void *vy, int64_t n)
{
    block_q8_0 *y = vy;
    for (int i = 0; i < NB(n, QK8_0); i++, x += QK8_0) {
        const float amax = amax_n(x, QK8_0);
        const float d = amax / 127.0f, id = amax != 0.0f ? 127.0f / amax : 0.0f;
        y[i].d = fp32_to_fp16(d);
        vst1q_s8(y[i].qs, round16(x, vdupq_n_f32(id)));
        vst1q_s8(y[i].qs + 16, round16(x + 16, vdupq_n_f32(id)));
    }
}

static void q8_1_from_float_neon(const float *x, void *vy, int64_t n)
{
    block_q8_1 *y = vy;
    for (int i = 0; i < NB(n, QK8_1); i++, x += QK8_1) {
        const float amax = amax_n(x, QK8_1);
        const float d = amax / 127.0f, id = amax != 0.0f ? 127.0f / amax : 0.0f;
        const int8x16_t q0 = round16(x, vdupq_n_f32(id)), q1 = round16(x + 16, vdupq_n_f32(id));
        vst1q_s8(y[i].qs, q0);
        vst1q_s8(y[i].qs + 16, q1);
        const int sum = vaddlvq_s8(q0) + vaddlvq_s8(q1);
        y[i].d = fp32_to_fp16(d);
        y[i].s = fp32_to_fp16(d * (float)sum);
    }
}

static void q8_K_from_float_neon(const float *x, void *vy, int64_t n)
{
    block_q8_K *y = vy;
    for (int i = 0; i < NB(n, QK_K); i++, x += QK_K) {
        const float amax = amax_n(x, QK_K);
        memset(&y[i], 0, sizeof(y[i]));
        if (amax == 0.0f)
            continue;
        float max = amax;
        for (int j = 0; j < QK_K; j++) {
            if (x[j] == amax || x[j] == -amax) {
                max = x[j];
                break;
            }
        }
        const float iscale = -127.0f / max;
        for (int j = 0; j < QK_K; j += 16) {
            /* |iscale * x| <= 127 (+ rounding): the reference's min(127) never bites */
            const int8x16_t q = round16(x + j, vdupq_n_f32(iscale));
            vst1q_s8(y[i].qs + j, q);
            y[i].bsums[j / 16] = vaddlvq_s8(q);
        }
        y[i].d = 1.0f / iscale;
    }
}

/* ---- 32-element blocks ----------------------------------------------------------------------- */

/* 16 bytes of nibbles -> codes of elements 0-15 (low) and 16-31 (high) */
static inline void nibbles(const uint8_t *qs, int8x16_t c[2])
{
    const uint8x16_t v = vld1q_u8(qs);
    c[0] = vreinterpretq_s8_u8(vandq_u8(v, vdupq_n_u8(15)));
    c[1] = vreinterpretq_s8_u8(vshrq_n_u8(v, 4));
}

/* Q5: bit 4 of element j from bit j of qh (little-endian u32) */
static inline void q5_codes(const uint8_t *qs, const uint8_t *qh, int8x16_t c[2])
{
    static const uint8_t bits[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t m = vld1q_u8(bits);
    nibbles(qs, c);
    for (int k = 0; k < 2; k++) {
        /* bytes qh[2k] (elements 16k + 0..7) and qh[2k + 1] (16k + 8..15) */
        const uint8x16_t b = vcombine_u8(vdup_n_u8(qh[2 * k]), vdup_n_u8(qh[2 * k + 1]));
        const uint8x16_t h = vandq_u8(vtstq_u8(b, m), vdupq_n_u8(16));
        c[k] = vreinterpretq_s8_u8(vorrq_u8(vreinterpretq_u8_s8(c[k]), h));
    }
}

static inline void sub_all(int8x16_t c[2], int v)
{
    c[0] = vsubq_s8(c[0], vdupq_n_s8((int8_t)v));
    c[1] = vsubq_s8(c[1], vdupq_n_s8((int8_t)v));
}

static void q4_0_dot_neon(int n, float *s, const void *vw, const void *va)
{
    const block_q4_0 *w = vw;
    const block_q8_0 *a = va;
    float sum = 0;
    for (int i = 0; i < NB(n, QK8_0); i++) {
        int8x16_t c[2];
        nibbles(w[i].qs, c);
        sub_all(c, 8);
        sum += (quant_h2f(w[i].d) * quant_h2f(a[i].d)) * (float)dot32(c, a[i].qs);
    }
    *s = sum;
}

static void q4_1_dot_neon(int n, float *s, const void *vw, const void *va)
{
    const block_q4_1 *w = vw;
    const block_q8_1 *a = va;
    float sum = 0;
    for (int i = 0; i < NB(n, QK8_1); i++) {
        int8x16_t c[2];
        nibbles(w[i].qs, c);
        sum += (quant_h2f(w[i].d) * quant_h2f(a[i].d)) * (float)dot32(c, a[i].qs) +
               quant_h2f(w[i].m) * quant_h2f(a[i].s);
    }
    *s = sum;
}

static void q5_0_dot_neon(int n, float *s, const void *vw, const void *va)
{
    const block_q5_0 *w = vw;
    const block_q8_0 *a = va;
    float sum = 0;
    for (int i = 0; i < NB(n, QK8_0); i++) {
        int8x16_t c[2];
        q5_codes(w[i].qs, w[i].qh, c);
        sub_all(c, 16);
        sum += (quant_h2f(w[i].d) * quant_h2f(a[i].d)) * (float)dot32(c, a[i].qs);
    }
    *s = sum;
}

static void q5_1_dot_neon(int n, float *s, const void *vw, const void *va)
{
    const block_q5_1 *w = vw;
    const block_q8_1 *a = va;
    float sum = 0;
    for (int i = 0; i < NB(n, QK8_1); i++) {
        int8x16_t c[2];
        q5_codes(w[i].qs, w[i].qh, c);
        sum += (quant_h2f(w[i].d) * quant_h2f(a[i].d)) * (float)dot32(c, a[i].qs) +
               quant_h2f(w[i].m) * quant_h2f(a[i].s);
    }
    *s = sum;
}

static void q8_0_dot_neon(int n, float *s, const void *vw, const void *va)
{
    const block_q8_0 *w = vw;
    const block_q8_0 *a = va;
    float sum = 0;
    for (int i = 0; i < NB(n, QK8_0); i++) {
        const int8x16_t c[2] = {vld1q_s8(w[i].qs), vld1q_s8(w[i].qs + 16)};
        sum += (quant_h2f(w[i].d) * quant_h2f(a[i].d)) * (float)dot32(c, a[i].qs);
    }
    *s = sum;
}

/* codes (int8) -> floats times d, 16 at a time: exactly the reference's q * d */
static inline void store16_mul(float *y, int8x16_t c, float d)
{
    const int16x8_t lo = vmovl_s8(vget_low_s8(c)), hi = vmovl_high_s8(c);
    const float32x4_t dv = vdupq_n_f32(d);
    vst1q_f32(y, vmulq_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo))), dv));
    vst1q_f32(y + 4, vmulq_f32(vcvtq_f32_s32(vmovl_high_s16(lo)), dv));
    vst1q_f32(y + 8, vmulq_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi))), dv));
    vst1q_f32(y + 12, vmulq_f32(vcvtq_f32_s32(vmovl_high_s16(hi)), dv));
}

/* unsigned codes -> d * q - m (K-quants) */
static inline void store16_mul_sub(float *y, uint8x16_t c, float d, float m)
{
    const uint16x8_t lo = vmovl_u8(vget_low_u8(c)), hi = vmovl_high_u8(c);
    const float32x4_t dv = vdupq_n_f32(d), mv = vdupq_n_f32(m);
    vst1q_f32(y, vsubq_f32(vmulq_f32(dv, vcvtq_f32_u32(vmovl_u16(vget_low_u16(lo)))), mv));
    vst1q_f32(y + 4, vsubq_f32(vmulq_f32(dv, vcvtq_f32_u32(vmovl_high_u16(lo))), mv));
    vst1q_f32(y + 8, vsubq_f32(vmulq_f32(dv, vcvtq_f32_u32(vmovl_u16(vget_low_u16(hi)))), mv));
    vst1q_f32(y + 12, vsubq_f32(vmulq_f32(dv, vcvtq_f32_u32(vmovl_high_u16(hi))), mv));
}

static void q4_0_to_float_neon(const void *vx, float *y, int64_t n)
{
    const block_q4_0 *x = vx;
    for (int i = 0; i < NB(n, QK4_0); i++, y += 32) {
        int8x16_t c[2];
        nibbles(x[i].qs, c);
        sub_all(c, 8);
        store16_mul(y, c[0], quant_h2f(x[i].d));
        store16_mul(y + 16, c[1], quant_h2f(x[i].d));
    }
}

static void q8_0_to_float_neon(const void *vx, float *y, int64_t n)
{
    const block_q8_0 *x = vx;
    for (int i = 0; i < NB(n, QK8_0); i++, y += 32) {
        store16_mul(y, vld1q_s8(x[i].qs), quant_h2f(x[i].d));
        store16_mul(y + 16, vld1q_s8(x[i].qs + 16), quant_h2f(x[i].d));
    }
}

/* ---- K-quants --------------------------------------------------------------------------------- */

static void q2_K_dot_neon(int n, float *s, const void *vw, const void *va)
{
    const block_q2_K *w = vw;
    const block_q8_K *a = va;
    float sum = 0;
    for (int i = 0; i < NB(n, QK_K); i++) {
        int isum = 0, msum = 0;
        for (int j = 0; j < 16; j++)
            msum += (w[i].scales[j] >> 4) * a[i].bsums[j];
        for (int h = 0; h < 2; h++) {
            const uint8x16_t q0 = vld1q_u8(w[i].qs + 32 * h), q1 = vld1q_u8(w[i].qs + 32 * h + 16);
            for (int k = 0; k < 4; k++) {
                const int8x16_t shift = vdupq_n_s8((int8_t)(-2 * k));
                const int8x16_t c0 = vreinterpretq_s8_u8(vandq_u8(vshlq_u8(q0, shift), vdupq_n_u8(3)));
                const int8x16_t c1 = vreinterpretq_s8_u8(vandq_u8(vshlq_u8(q1, shift), vdupq_n_u8(3)));
                const int8_t *q8 = a[i].qs + 128 * h + 32 * k;
                isum += (w[i].scales[8 * h + 2 * k] & 15) * dot16s(c0, q8) +
                        (w[i].scales[8 * h + 2 * k + 1] & 15) * dot16s(c1, q8 + 16);
            }
        }
        sum += (a[i].d * quant_h2f(w[i].d)) * (float)isum - (a[i].d * quant_h2f(w[i].dmin)) * (float)msum;
    }
    *s = sum;
}

static void q3_K_dot_neon(int n, float *s, const void *vw, const void *va)
{
    const block_q3_K *w = vw;
    const block_q8_K *a = va;
    float sum = 0;
    for (int i = 0; i < NB(n, QK_K); i++) {
        int8_t sc[16];
        quant_k3_scales(w[i].scales, sc);
        const uint8x16_t m0 = vld1q_u8(w[i].hmask), m1 = vld1q_u8(w[i].hmask + 16);
        int isum = 0;
        for (int h = 0; h < 2; h++) {
            const uint8x16_t q0 = vld1q_u8(w[i].qs + 32 * h), q1 = vld1q_u8(w[i].qs + 32 * h + 16);
            for (int k = 0; k < 4; k++) {
                const int8x16_t shift = vdupq_n_s8((int8_t)(-2 * k));
                const uint8x16_t bit = vdupq_n_u8((uint8_t)(1 << (4 * h + k)));
                /* code - 4 unless the high bit is set */
                const int8x16_t c0 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(vshlq_u8(q0, shift), vdupq_n_u8(3))),
                                              vreinterpretq_s8_u8(vbicq_u8(vdupq_n_u8(4), vtstq_u8(m0, bit))));
                const int8x16_t c1 = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(vshlq_u8(q1, shift), vdupq_n_u8(3))),
                                              vreinterpretq_s8_u8(vbicq_u8(vdupq_n_u8(4), vtstq_u8(m1, bit))));
                const int8_t *q8 = a[i].qs + 128 * h + 32 * k;
                isum += sc[8 * h + 2 * k] * dot16s(c0, q8) + sc[8 * h + 2 * k + 1] * dot16s(c1, q8 + 16);
            }
        }
        sum += (a[i].d * quant_h2f(w[i].d)) * (float)isum;
    }
    *s = sum;
}

/* Q4_K / Q5_K: one super-block's integer sums */
static inline void k4_block(const uint8_t *scales, const uint8_t *qs, const uint8_t *qh,
                            const block_q8_K *a, int *isum, int *msum)
{
    uint8_t sc[8], mn[8];
    quant_k4_scales(scales, sc, mn);
    int is = 0, ms = 0;
    for (int j = 0; j < 8; j++)
        ms += mn[j] * (a->bsums[2 * j] + a->bsums[2 * j + 1]);
    uint8x16_t h[2] = {vdupq_n_u8(0), vdupq_n_u8(0)};
    if (qh) {
        h[0] = vld1q_u8(qh);
        h[1] = vld1q_u8(qh + 16);
    }
    for (int g = 0; g < 4; g++) {
        const uint8x16_t v0 = vld1q_u8(qs + 32 * g), v1 = vld1q_u8(qs + 32 * g + 16);
        uint8x16_t lo[2] = {vandq_u8(v0, vdupq_n_u8(15)), vandq_u8(v1, vdupq_n_u8(15))};
        uint8x16_t hi[2] = {vshrq_n_u8(v0, 4), vshrq_n_u8(v1, 4)};
        if (qh) {
            for (int k = 0; k < 2; k++) {
                lo[k] = vorrq_u8(lo[k], vshlq_n_u8(vandq_u8(vshlq_u8(h[k], vdupq_n_s8((int8_t)(-2 * g))), vdupq_n_u8(1)), 4));
                hi[k] = vorrq_u8(hi[k], vshlq_n_u8(vandq_u8(vshlq_u8(h[k], vdupq_n_s8((int8_t)(-2 * g - 1))), vdupq_n_u8(1)), 4));
            }
        }
        const int8x16_t cl[2] = {vreinterpretq_s8_u8(lo[0]), vreinterpretq_s8_u8(lo[1])};
        const int8x16_t ch[2] = {vreinterpretq_s8_u8(hi[0]), vreinterpretq_s8_u8(hi[1])};
        is += sc[2 * g] * dot32(cl, a->qs + 64 * g) + sc[2 * g + 1] * dot32(ch, a->qs + 64 * g + 32);
    }
    *isum = is;
    *msum = ms;
}

static void q4_K_dot_neon(int n, float *s, const void *vw, const void *va)
{
    const block_q4_K *w = vw;
    const block_q8_K *a = va;
    float sum = 0;
    for (int i = 0; i < NB(n, QK_K); i++) {
        int isum, msum;
        k4_block(w[i].scales, w[i].qs, NULL, &a[i], &isum, &msum);
        sum += (a[i].d * quant_h2f(w[i].d)) * (float)isum - (a[i].d * quant_h2f(w[i].dmin)) * (float)msum;
    }
    *s = sum;
}

static void q5_K_dot_neon(int n, float *s, const void *vw, const void *va)
{
    const block_q5_K *w = vw;
    const block_q8_K *a = va;
    float sum = 0;
    for (int i = 0; i < NB(n, QK_K); i++) {
        int isum, msum;
        k4_block(w[i].scales, w[i].qs, w[i].qh, &a[i], &isum, &msum);
        sum += (a[i].d * quant_h2f(w[i].d)) * (float)isum - (a[i].d * quant_h2f(w[i].dmin)) * (float)msum;
    }
    *s = sum;
}

/* Q6_K codes - 32 of the 16 elements 128 h + 32 k + 16 p + 0..15 */
static inline int8x16_t q6_codes(const block_q6_K *b, int h, int k, int p)
{
    const uint8x16_t ql = vld1q_u8(b->ql + 64 * h + 32 * (k % 2) + 16 * p);
    const uint8x16_t qh = vld1q_u8(b->qh + 32 * h + 16 * p);
    const uint8x16_t lo = k < 2 ? vandq_u8(ql, vdupq_n_u8(15)) : vshrq_n_u8(ql, 4);
    const uint8x16_t hi = vandq_u8(vshlq_u8(qh, vdupq_n_s8((int8_t)(-2 * k))), vdupq_n_u8(3));
    return vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(lo, vshlq_n_u8(hi, 4))), vdupq_n_s8(32));
}

static void q6_K_dot_neon(int n, float *s, const void *vw, const void *va)
{
    const block_q6_K *w = vw;
    const block_q8_K *a = va;
    float sum = 0;
    for (int i = 0; i < NB(n, QK_K); i++) {
        int isum = 0;
        for (int h = 0; h < 2; h++)
            for (int k = 0; k < 4; k++)
                for (int p = 0; p < 2; p++)
                    isum += w[i].scales[8 * h + 2 * k + p] *
                            dot16s(q6_codes(&w[i], h, k, p), a[i].qs + 128 * h + 32 * k + 16 * p);
        sum += (a[i].d * quant_h2f(w[i].d)) * (float)isum;
    }
    *s = sum;
}

static void q4_K_to_float_neon(const void *vx, float *y, int64_t n)
{
    const block_q4_K *x = vx;
    for (int i = 0; i < NB(n, QK_K); i++) {
        const float d = quant_h2f(x[i].d), dmin = quant_h2f(x[i].dmin);
        uint8_t sc[8], mn[8];
        quant_k4_scales(x[i].scales, sc, mn);
        for (int g = 0; g < 4; g++, y += 64) {
            const uint8x16_t v0 = vld1q_u8(x[i].qs + 32 * g), v1 = vld1q_u8(x[i].qs + 32 * g + 16);
            const float d1 = d * sc[2 * g], m1 = dmin * mn[2 * g];
            const float d2 = d * sc[2 * g + 1], m2 = dmin * mn[2 * g + 1];
            store16_mul_sub(y, vandq_u8(v0, vdupq_n_u8(15)), d1, m1);
            store16_mul_sub(y + 16, vandq_u8(v1, vdupq_n_u8(15)), d1, m1);
            store16_mul_sub(y + 32, vshrq_n_u8(v0, 4), d2, m2);
            store16_mul_sub(y + 48, vshrq_n_u8(v1, 4), d2, m2);
        }
    }
}

static void q6_K_to_float_neon(const void *vx, float *y, int64_t n)
{
    const block_q6_K *x = vx;
    for (int i = 0; i < NB(n, QK_K); i++) {
        const float d = quant_h2f(x[i].d);
        for (int h = 0; h < 2; h++)
            for (int k = 0; k < 4; k++)
                for (int p = 0; p < 2; p++, y += 16)
                    store16_mul(y, q6_codes(&x[i], h, k, p), d * x[i].scales[8 * h + 2 * k + p]);
    }
}

/* ---- the table ---------------------------------------------------------------------------------- */

#define GEMM_BY_DOT(name)                                                                   \
    static void name##_gemm_neon(int n, int nr, int nc, const void *w, size_t ws,           \
                                 const void *a, size_t as, float *s, size_t ss)             \
    {                                                                                       \
        quant_gemm_by_dot(name##_dot_neon, n, nr, nc, w, ws, a, as, s, ss);                 \
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

#define D(T, t) [HY_TYPE_##T] = {.vec_dot = t##_dot_neon, .gemm = t##_gemm_neon}

const struct quant_kernels quant_table_neon[HY_TYPE_COUNT] = {
    D(F32, f32),
    [HY_TYPE_F16] = {.vec_dot = f16_dot_neon, .gemm = f16_gemm_neon, .to_float = f16_to_float_neon,
                     .from_float = f16_from_float_neon},
    [HY_TYPE_BF16] = {.vec_dot = bf16_dot_neon, .gemm = bf16_gemm_neon,
                      .to_float = bf16_to_float_neon, .from_float = bf16_from_float_neon},
    [HY_TYPE_Q4_0] = {.vec_dot = q4_0_dot_neon, .gemm = q4_0_gemm_neon, .to_float = q4_0_to_float_neon},
    D(Q4_1, q4_1),
    D(Q5_0, q5_0),
    D(Q5_1, q5_1),
    [HY_TYPE_Q8_0] = {.vec_dot = q8_0_dot_neon, .gemm = q8_0_gemm_neon, .to_float = q8_0_to_float_neon,
                      .from_float = q8_0_from_float_neon},
    D(Q2_K, q2_K),
    D(Q3_K, q3_K),
    [HY_TYPE_Q4_K] = {.vec_dot = q4_K_dot_neon, .gemm = q4_K_gemm_neon, .to_float = q4_K_to_float_neon},
    D(Q5_K, q5_K),
    [HY_TYPE_Q6_K] = {.vec_dot = q6_K_dot_neon, .gemm = q6_K_gemm_neon, .to_float = q6_K_to_float_neon},
    [HY_TYPE_Q8_1] = {.from_float = q8_1_from_float_neon},
    [HY_TYPE_Q8_K] = {.from_float = q8_K_from_float_neon},
};

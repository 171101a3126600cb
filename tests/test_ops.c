/* src/ops against slow twins, with no model files: the F16 vector helpers at every SIMD
 * level against their scalar _ref (bit-exact), and RMSNorm, RoPE (normal and NeoX, with
 * and without llama3 frequency factors, linear scaling), SwiGLU and attention over an F16
 * KV cache against references written here from the definitions, in double, on awkward
 * sizes. Each tolerance is a bound derived in the comment above its check, in the unit
 * roundoffs of float (U_F32 = 2^-24) and half (U_F16 = 2^-11), so a wrong index, a missing
 * factor or a lost term shows up as an error many times larger. The attention's bound
 * grows with the number of keys (its F16 accumulator); cases built so that no rounding
 * happens check it exactly as well.
 *
 * op_attention picks its F16 kernels at the level the process detected once; to run the
 * lower levels too, the program runs itself again with HYPURA_SIMD capped
 * (test_attention_levels; `test_ops --attention` runs only the attention tests).
 *
 * The thread pool: every slot of every job runs exactly once, with workers spinning,
 * asleep, or held up inside a job (test_tpool_slots). */
#include "ops/ops.h"
#include "ops/ops_simd.h"
#include "ops/tpool.h"
#include "quant/quant.h"
#include "test.h"
#include "util/common.h"
#include "util/cpu.h"

#include <stdatomic.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define U_F32 0x1p-24   /* float unit roundoff */
#define U_F16 0x1p-11   /* half unit roundoff */

/* lengths that hit the 8-wide loop, its tail, both, and neither */
static const int k_lens[] = {0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 64, 4096, 4097};

static bool half_is_nan(fp16_t h)
{
    return (h & 0x7fff) > 0x7c00;
}

/* ---- F16 helpers: every level against the reference, bit for bit ------------------------ */

struct f16_helpers {
    const char *name;
    void (*scale)(fp16_t *y, float s, int n);
    void (*mad)(fp16_t *y, const fp16_t *x, float s, int n);
};

/* The versions to hold against the _ref: the dispatcher (whatever level is in use) and
 * each per-ISA version this CPU can run, whatever HYPURA_SIMD caps the dispatch to. */
static int f16_helper_levels(struct f16_helpers out[2])
{
    int n = 0;
    out[n++] = (struct f16_helpers){"dispatch", vec_scale_f16, vec_mad_f16};
#if defined(__x86_64__)
    const struct cpu_features *c = cpu_features();
    if (c->avx2 && c->fma && c->f16c && c->bmi2)   /* what the AVX2 level requires */
        out[n++] = (struct f16_helpers){"avx2", vec_scale_f16_avx2, vec_mad_f16_avx2};
#endif
    return n;
}

/* Halves of every kind: ordinary values, zeros, subnormals, the largest finite, infinities,
 * NaNs, and random bit patterns (every exponent). */
static void fill_halves(fp16_t *h, int n, uint64_t *rng)
{
    static const fp16_t special[] = {0x0000, 0x8000, 0x0001, 0x8001, 0x03ff, 0x0400, 0x7bff,
                                     0xfbff, 0x7c00, 0xfc00, 0x7e00, 0x7c01, 0x3c00, 0xbc00};
    for (int i = 0; i < n; i++) {
        uint64_t r = test_rand(rng);
        if (r % 4 == 0)
            h[i] = (fp16_t)(r >> 16);
        else if (r % 4 == 1)
            h[i] = special[(r >> 8) % HY_ARRAY_LEN(special)];
        else
            h[i] = fp32_to_fp16(4.0f * test_randn(rng));
    }
}

/* The same halves, NaN matching any NaN (the payload a NaN keeps is not the point). */
static bool same_halves(const fp16_t *a, const fp16_t *b, int n, int *where)
{
    for (int i = 0; i < n; i++) {
        if (a[i] != b[i] && !(half_is_nan(a[i]) && half_is_nan(b[i]))) {
            *where = i;
            return false;
        }
    }
    return true;
}

/* The reference rounds as documented, and so does every level: one float product or
 * fused multiply-add, then to the nearest half, ties to even. (Random data rarely tells a
 * fused multiply-add from a product rounded to float first; the last case does.) */
static void test_f16_known(void)
{
    static const struct { fp16_t y; float s; fp16_t want; } sc[] = {
        {0x3c00, 0.5f, 0x3800},     /* 1 * 0.5 */
        {0x7bff, 2.0f, 0x7c00},     /* 65504 * 2 overflows to inf */
        {0x0001, 0.5f, 0x0000},     /* 2^-25 is a tie between 0 and 2^-24: to even, 0 */
        {0x0001, 0.75f, 0x0001},
        {0xbc00, 0.0f, 0x8000},     /* -1 * 0 = -0 */
        {0x3c01, 1.0f + 0x1p-11f, 0x3c02}, /* (1 + 2^-10)(1 + 2^-11) rounds up */
    };
    static const struct { fp16_t y, x; float s; fp16_t want; } md[] = {
        {0x3c00, 0x3c00, 0x1p-11f, 0x3c00},      /* 1 + 2^-11: a tie, to even (1) */
        {0x3c00, 0x3c00, 0x1.8p-10f, 0x3c02},    /* 1 + 3 * 2^-11: a tie, to even (up) */
        {0x0000, 0x3c00, 65520.0f, 0x7c00},      /* 65520 rounds to inf */
        /* fused: -1025 + (1 + 2^-10)(1024 + 2^-13) = 2^-13 + 2^-23 exactly, a half
         * (0x0801); the product rounded to float first would give 2^-13 (0x0800) */
        {0xe401, 0x3c01, 1024.0f + 0x1p-13f, 0x0801},
    };
    struct f16_helpers hl[3] = {{"ref", vec_scale_f16_ref, vec_mad_f16_ref}};
    int nh = 1 + f16_helper_levels(hl + 1);
    for (int l = 0; l < nh; l++) {
        /* 9 copies, so the SIMD loop (8 wide) handles 8 of them and its tail the last */
        fp16_t y[9], x[9];
        for (size_t i = 0; i < HY_ARRAY_LEN(sc); i++) {
            for (int j = 0; j < 9; j++)
                y[j] = sc[i].y;
            hl[l].scale(y, sc[i].s, 9);
            for (int j = 0; j < 9; j++)
                CHECKF(y[j] == sc[i].want, "%s scale %04x * %a = %04x, want %04x", hl[l].name,
                       sc[i].y, sc[i].s, y[j], sc[i].want);
        }
        for (size_t i = 0; i < HY_ARRAY_LEN(md); i++) {
            for (int j = 0; j < 9; j++)
                y[j] = md[i].y, x[j] = md[i].x;
            hl[l].mad(y, x, md[i].s, 9);
            for (int j = 0; j < 9; j++)
                CHECKF(y[j] == md[i].want, "%s mad %04x + %04x * %a = %04x, want %04x", hl[l].name,
                       md[i].y, md[i].x, md[i].s, y[j], md[i].want);
        }
    }
}

/* One length at one offset: the level and the reference on copies of the same buffer,
 * compared whole, so a write outside [off, off + n) is caught as well. */
static void f16_helpers_case(const struct f16_helpers *hl, int n, int off, float s, uint64_t *rng)
{
    enum { PAD = 19 };
    int total = off + n + PAD, at = 0;
    fp16_t *x = malloc(sizeof(fp16_t) * (size_t)total), *y0 = malloc(sizeof(fp16_t) * (size_t)total);
    fp16_t *yr = malloc(sizeof(fp16_t) * (size_t)total), *yl = malloc(sizeof(fp16_t) * (size_t)total);
    fill_halves(x, total, rng);
    fill_halves(y0, total, rng);

    memcpy(yr, y0, sizeof(fp16_t) * (size_t)total);
    memcpy(yl, y0, sizeof(fp16_t) * (size_t)total);
    vec_scale_f16_ref(yr + off, s, n);
    hl->scale(yl + off, s, n);
    CHECKF(same_halves(yl, yr, total, &at), "%s scale n=%d off=%d s=%a: [%d] %04x, ref %04x",
           hl->name, n, off, s, at - off, yl[at], yr[at]);

    memcpy(yr, y0, sizeof(fp16_t) * (size_t)total);
    memcpy(yl, y0, sizeof(fp16_t) * (size_t)total);
    vec_mad_f16_ref(yr + off, x + off, s, n);
    hl->mad(yl + off, x + off, s, n);
    CHECKF(same_halves(yl, yr, total, &at), "%s mad n=%d off=%d s=%a: [%d] %04x, ref %04x",
           hl->name, n, off, s, at - off, yl[at], yr[at]);
    free(x), free(y0), free(yr), free(yl);
}

/* Every level must give the reference's halves exactly: widening is exact, and one float
 * multiply (or one fused multiply-add) and one round-to-nearest-even to F16 leave no
 * freedom. The factors include the attention's (0 on the first key, 1, a fraction, one
 * that flushes to subnormals) and ones that overflow or flip the sign. */
static void test_f16_helpers_levels(void)
{
    static const float k_scales[] = {1.0f, 0.0f, 0.5f, 0.1234567f, 1e-4f, 1e-8f, 3.0f, -1.5f, 65504.0f};
    struct f16_helpers hl[2];
    int nh = f16_helper_levels(hl);
    uint64_t rng = 11;
    for (int l = 0; l < nh; l++)
        for (size_t i = 0; i < HY_ARRAY_LEN(k_lens); i++)
            for (int off = 0; off < 2; off++)
                for (size_t j = 0; j < HY_ARRAY_LEN(k_scales); j++)
                    f16_helpers_case(&hl[l], k_lens[i], off, k_scales[j], &rng);
    printf("  checked:");
    for (int l = 0; l < nh; l++)
        printf(" %s", hl[l].name);
    printf(" (dispatch is %s)\n", simd_name(cpu_features()->level));
}

/* ---- RMSNorm, SwiGLU -------------------------------------------------------------------- */

/* y = x / sqrt(mean(x^2) + eps) * w, in double from the same floats.
 * Bound, relative per element: each square rounded to float (u; the terms are positive,
 * so the double sum keeps relative error u, n 2^-53 more for the double additions), the
 * mean to float (u), + eps (u), sqrtf (u, and halves the 3u before it), 1/ (u), x * scale
 * (u), * w (u): 5.5u. Checked at 8u. */
static void rmsnorm_case(int n, float xscale, bool with_w, bool in_place, float eps, uint64_t *rng)
{
    float *x = malloc(sizeof(float) * (size_t)n), *w = malloc(sizeof(float) * (size_t)n);
    float *y = malloc(sizeof(float) * (size_t)n), *x0 = malloc(sizeof(float) * (size_t)n);
    for (int i = 0; i < n; i++) {
        x0[i] = xscale * test_randn(rng);
        w[i] = 1.0f + 0.5f * test_randn(rng);
    }
    memcpy(x, x0, sizeof(float) * (size_t)n);
    float *out = in_place ? x : y;
    op_rmsnorm(out, x, with_w ? w : NULL, n, eps);
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += (double)x0[i] * x0[i];
    double r = 1.0 / sqrt(sum / n + (double)eps);
    for (int i = 0; i < n; i++) {
        double want = x0[i] * r * (with_w ? w[i] : 1.0);
        double err = fabs(out[i] - want), tol = 8 * U_F32 * fabs(want);
        if (!(err <= tol)) {
            CHECKF(err <= tol, "n=%d xscale=%g w=%d in_place=%d: y[%d] = %.9g, want %.9g",
                   n, xscale, with_w, in_place, i, out[i], want);
            break;
        }
    }
    free(x), free(w), free(y), free(x0);
}

static void test_rmsnorm(void)
{
    static const int lens[] = {1, 7, 33, 64, 4096, 4097};
    static const float xscales[] = {1.0f, 1e-3f, 1e3f};   /* 1e-3: eps is 10% of the mean */
    uint64_t rng = 5;
    for (size_t i = 0; i < HY_ARRAY_LEN(lens); i++)
        for (size_t j = 0; j < HY_ARRAY_LEN(xscales); j++)
            for (int m = 0; m < 4; m++)
                rmsnorm_case(lens[i], xscales[j], m & 1, m & 2, i & 1 ? 1e-6f : 1e-5f, &rng);
    /* zeros stay zeros (eps keeps the scale finite) */
    float z[7] = {0}, y[7];
    op_rmsnorm(y, z, NULL, 7, 1e-6f);
    for (int i = 0; i < 7; i++)
        CHECK(y[i] == 0.0f);
}

/* silu(g) * up against double. Bound, relative: expf (u), 1 + e (u; and the e term's u
 * at most), the division (u), the product (u): 4u; checked at 8u. Large |g| included:
 * expf(100) overflows to inf and g / inf = -0, the right limit. */
static void test_swiglu(void)
{
    static const int lens[] = {1, 7, 33, 4097};
    uint64_t rng = 9;
    for (size_t l = 0; l < HY_ARRAY_LEN(lens); l++) {
        int n = lens[l];
        float *g = malloc(sizeof(float) * (size_t)n), *u = malloc(sizeof(float) * (size_t)n);
        float *o = malloc(sizeof(float) * (size_t)n);
        for (int i = 0; i < n; i++) {
            g[i] = (i % 13 == 12 ? 30.0f : 3.0f) * test_randn(&rng);
            u[i] = test_randn(&rng);
        }
        op_swiglu(o, g, u, n);
        for (int i = 0; i < n; i++) {
            double want = (double)g[i] / (1.0 + exp(-(double)g[i])) * u[i];
            double err = fabs(o[i] - want), tol = 8 * U_F32 * fabs(want);
            if (!(err <= tol)) {
                CHECKF(err <= tol, "n=%d [%d]: silu(%g) * %g = %.9g, want %.9g", n, i, g[i],
                       u[i], o[i], want);
                break;
            }
        }
        free(g), free(u), free(o);
    }
}

/* ---- MoE routing ------------------------------------------------------------------------ */

struct idx_p {
    int i;
    double p;
};

static int cmp_idx_p(const void *a, const void *b)
{
    const struct idx_p *x = a, *y = b;
    if (x->p != y->p)
        return x->p > y->p ? -1 : 1;
    return x->i - y->i;
}

/* op_moe_route against the definition in double with a full sort: the same experts in the
 * same order, weights within a few ulps (plus the rounding of x - max, scaled by exp). Expert counts 2 .. 512, k up to 16, logits from
 * flat to peaked, ties included (equal logits: the lower index first). */
static void test_moe_route(void)
{
    static const int ns[] = {2, 8, 16, 60, 128, 512};
    static const int ks[] = {1, 2, 4, 8, 16};
    uint64_t rng = 11;
    float lg[512], w[16];
    int sel[16];
    struct idx_p ref[512];
    for (size_t a = 0; a < HY_ARRAY_LEN(ns); a++)
        for (size_t b = 0; b < HY_ARRAY_LEN(ks); b++) {
            int n = ns[a], k = ks[b];
            if (k > n)
                continue;
            for (int rep = 0; rep < 6; rep++) {
                float spread = rep < 2 ? 0.1f : rep < 4 ? 3.0f : 30.0f;
                for (int i = 0; i < n; i++)
                    lg[i] = spread * test_randn(&rng);
                if (rep % 2)
                    lg[n - 1] = lg[0]; /* a tie */
                for (int norm = 0; norm < 2; norm++) {
                    op_moe_route(lg, n, k, norm, sel, w);
                    double mx = -INFINITY, sum = 0, wsum = 0;
                    for (int i = 0; i < n; i++)
                        mx = fmax(mx, lg[i]);
                    for (int i = 0; i < n; i++)
                        sum += exp((double)lg[i] - mx);
                    for (int i = 0; i < n; i++)
                        ref[i] = (struct idx_p){i, exp((double)lg[i] - mx) / sum};
                    qsort(ref, (size_t)n, sizeof *ref, cmp_idx_p);
                    for (int r = 0; r < k; r++)
                        wsum += ref[r].p;
                    for (int r = 0; r < k; r++) {
                        double want = norm ? ref[r].p / fmax(wsum, 6.103515625e-5) : ref[r].p;
                        /* x - max rounds by |x - max| u, which exp turns into a relative
                         * error; below the normal floats, underflow */
                        double tol = (8 + fabs((double)lg[ref[r].i] - mx)) * U_F32 * want + 0x1p-126;
                        bool ok = sel[r] == ref[r].i && fabs(w[r] - want) <= tol;
                        CHECKF(ok, "n=%d k=%d rep=%d norm=%d rank %d: expert %d weight %.9g, want %d %.9g",
                               n, k, rep, norm, r, sel[r], w[r], ref[r].i, want);
                        if (!ok)
                            return;
                    }
                }
            }
        }
}

/* ---- RoPE ------------------------------------------------------------------------------- */

struct rope_case {
    int head_dim, n_rot;
};

/* One configuration on n_head heads at position pos, against the definition in double:
 *   t_i = freq_scale * pos * base^(-2i / n_rot) / ff_i, i < n_rot / 2,
 *   normal: pairs (2i, 2i + 1); neox: pairs (i, i + n_rot / 2); dims >= n_rot untouched.
 * Bound: op_rope builds r = base^(-2/n_rot) with powf (2u, and 2 ln(base) u / n_rot from
 * the rounded exponent), then theta_i = pos r^i by i float multiplications (u each),
 * then divides by ff and multiplies by freq_scale (2u): relative error in t_i below
 * e_i = (i (3 + 2 ln(base) / n_rot) + 2) u. cosf/sinf add u, the two products and the
 * sum 2u: per pair, |dy| <= (|x0| + |x1|) (|t_i| e_i + 3u). Checked at twice that. */
static void rope_case(const struct rope_case *rc, int neox, float base, float fscale,
                      const float *ff, int pos, uint64_t *rng)
{
    const int n_head = 3, hd = rc->head_dim, half = rc->n_rot / 2;
    size_t nx = (size_t)(n_head * hd);
    float *x = malloc(sizeof(float) * nx), *x0 = malloc(sizeof(float) * nx);
    for (size_t i = 0; i < nx; i++)
        x0[i] = test_randn(rng);
    memcpy(x, x0, sizeof(float) * nx);
    struct rope_cfg c = {.n_rot = rc->n_rot, .neox = neox, .freq_base = base, .freq_scale = fscale,
                         .freq_factors = ff};
    op_rope(x, n_head, hd, pos, &c);
    int bad = 0;
    for (int h = 0; h < n_head && !bad; h++) {
        const float *v0 = x0 + h * hd, *v = x + h * hd;
        for (int i = 0; i < half && !bad; i++) {
            int a = neox ? i : 2 * i, b = neox ? i + half : 2 * i + 1;
            double t = (double)fscale * pos * pow(base, -2.0 * i / rc->n_rot) / (ff ? ff[i] : 1.0);
            double ya = v0[a] * cos(t) - v0[b] * sin(t), yb = v0[a] * sin(t) + v0[b] * cos(t);
            double tol = 2 * (fabs(v0[a]) + fabs(v0[b])) *
                         (fabs(t) * (i * (3 + 2 * log(base) / rc->n_rot) + 2) * U_F32 + 3 * U_F32);
            if (pos == 0)
                tol = 0;   /* cos 0 = 1, sin 0 = 0: the rotation by zero is exact */
            if (!(fabs(v[a] - ya) <= tol && fabs(v[b] - yb) <= tol)) {
                CHECKF(0, "hd=%d n_rot=%d neox=%d base=%g scale=%g ff=%d pos=%d head %d pair %d: "
                       "(%.9g, %.9g), want (%.9g, %.9g) +- %.3g", hd, rc->n_rot, neox, base, fscale,
                       ff != NULL, pos, h, i, v[a], v[b], ya, yb, tol);
                bad = 1;
            }
        }
        for (int d = rc->n_rot; d < hd && !bad; d++) {
            if (v[d] != v0[d]) {
                CHECKF(v[d] == v0[d], "hd=%d n_rot=%d: dim %d was touched", hd, rc->n_rot, d);
                bad = 1;
            }
        }
    }
    free(x), free(x0);
}

/* Shapes: one pair, 7 and 33 pairs (odd halves), partial rotation (n_rot < head_dim, an
 * odd head_dim too), the usual 64 and 128, and the largest head a model may have (1024).
 * Positions 0 .. 100000; bases of llama 2, llama 3 and qwen; linear scaling 1/4; llama3's
 * frequency factors (between 1 and 8 as in its rope_freqs, and below 1 to be sure the
 * factor divides). */
static void test_rope(void)
{
    static const struct rope_case shapes[] = {
        {2, 2}, {14, 14}, {66, 66}, {64, 32}, {33, 14}, {64, 64}, {128, 128}, {1024, 1024},
    };
    static const int positions[] = {0, 1, 7, 33, 4097, 100000};
    static const struct { float base, scale; } cfgs[] = {
        {10000.0f, 1.0f}, {500000.0f, 1.0f}, {10000.0f, 0.25f}, {1000000.0f, 1.0f},
    };
    float ff[512];
    uint64_t rng = 3;
    for (int i = 0; i < 512; i++)
        ff[i] = i % 5 == 4 ? 0.5f + 0.5f * (float)(i % 3) : 1.0f + 3.5f * (1.0f + test_randf(&rng));
    for (size_t s = 0; s < HY_ARRAY_LEN(shapes); s++)
        for (size_t c = 0; c < HY_ARRAY_LEN(cfgs); c++)
            for (size_t p = 0; p < HY_ARRAY_LEN(positions); p++)
                for (int m = 0; m < 4; m++)
                    rope_case(&shapes[s], m & 1, cfgs[c].base, cfgs[c].scale, m & 2 ? ff : NULL,
                              positions[p], &rng);
}

/* ---- attention -------------------------------------------------------------------------- */

struct attn_case {
    int n_head, n_head_kv, dk, dv;
    int pos0, n_tok;
    float scale_mul;      /* times 1/sqrt(dk): 1 gives flat softmaxes, 8 peaked ones */
    bool zero_q;          /* all scores equal: the running maximum never moves */
};

/* Naive attention in double for row t, head h, over the float q, k, v (before any F16
 * rounding), and a bound on how far op_attention may be from it per output element,
 * first order in u = U_F32 and uh = U_F16:
 *  - scores: q, k rounded to F16 (uh each, relative, or 2^-25 absolute below the normal
 *    range), the dot product in float (dk u), times the scale (u):
 *      |ds_p| <= a_p (2uh + uh^2 + dk u) + 2^-24 scale sum_d (|q_d| + |k_pd|) + u |s_p|,
 *    a_p = scale sum_d |q_d k_pd|; then expf(s_p - M) in float: u (|s_p| + |M|) + 2u.
 *    D is the largest. Weights then move by factors within e^{+-2D}, so out_d moves by
 *    at most (e^{2D} - 1) sum_p w_p |v_pd - out_d|.
 *  - v rounded to F16: uh sum_p w_p |v_pd| + 2^-25.
 *  - the F16 accumulator, rounded after each key's multiply-add and each rescale: key
 *    p's roundings are at most 2uh |acc_p|, and in the final normalised units |acc_p| <=
 *    sum_{j<=p} w_j |v_jd|; over all keys, 2uh sum_j (n_kv - j) w_j |v_jd|. Flushes to
 *    subnormals: 2^-25 absolute per step (S >= 1 is in the same units).
 *  - the float sum S (n_kv u), 1/S, the last product: (n_kv + 3) u |out_d|.
 * The terms after the first are multiplied by e^{2D}, and the whole by 1.25 for the
 * second-order terms. */
static void attn_ref_row(const struct attn_args *a, const float *kf, const float *vf, int t, int h,
                         double *out, double *tol)
{
    int dk = a->head_dim_k, dv = a->head_dim_v, n_kv = a->pos0 + t + 1;
    int hk = h / (a->n_head / a->n_head_kv);
    const float *q = a->q + ((int64_t)t * a->n_head + h) * dk;
    double *s = malloc(sizeof(double) * (size_t)n_kv), *ds = malloc(sizeof(double) * (size_t)n_kv);
    double *w = malloc(sizeof(double) * (size_t)n_kv);
    double M = -INFINITY, S = 0, D = 0;
    for (int p = 0; p < n_kv; p++) {
        const float *k = kf + p * a->k_stride + (int64_t)hk * dk;
        double dot = 0, ab = 0, sum_abs = 0;
        for (int d = 0; d < dk; d++) {
            dot += (double)q[d] * k[d];
            ab += fabs((double)q[d] * k[d]);
            sum_abs += fabs(q[d]) + fabs(k[d]);
        }
        s[p] = a->scale * dot;
        ds[p] = a->scale * (ab * (2 * U_F16 + U_F16 * U_F16 + dk * U_F32) + 0x1p-24 * sum_abs) +
                U_F32 * fabs(s[p]);
        M = fmax(M, s[p]);
    }
    for (int p = 0; p < n_kv; p++) {
        D = fmax(D, ds[p] + U_F32 * (fabs(s[p]) + fabs(M)) + 2 * U_F32);
        w[p] = exp(s[p] - M);
        S += w[p];
    }
    for (int p = 0; p < n_kv; p++)
        w[p] /= S;
    for (int d = 0; d < dv; d++) {
        const float *v = vf + (int64_t)hk * dv + d;   /* v[p * v_stride]: key p's */
        double o = 0, spread = 0, wv = 0, acc = 0;
        for (int p = 0; p < n_kv; p++)
            o += w[p] * v[p * a->v_stride];
        for (int p = 0; p < n_kv; p++) {
            spread += w[p] * fabs(v[p * a->v_stride] - o);
            wv += w[p] * fabs(v[p * a->v_stride]);
            acc += (double)(n_kv - p) * w[p] * fabs(v[p * a->v_stride]);
        }
        out[d] = o;
        tol[d] = 1.25 * ((exp(2 * D) - 1) * spread +
                         exp(2 * D) * (U_F16 * wv + 0x1p-25 + 2 * U_F16 * acc + 2 * n_kv * 0x1p-25 +
                                       (n_kv + 3) * U_F32 * fabs(o)));
    }
    free(s), free(ds), free(w);
}

/* Compare out with the reference over every row and head; returns the largest err/tol. */
static double attn_check(const struct attn_case *ac, const struct attn_args *a, const float *kf,
                         const float *vf)
{
    int dv = a->head_dim_v;
    double *want = malloc(sizeof(double) * (size_t)dv), *tol = malloc(sizeof(double) * (size_t)dv);
    double worst = 0;
    for (int t = 0; t < a->n_tok; t++) {
        for (int h = 0; h < a->n_head; h++) {
            attn_ref_row(a, kf, vf, t, h, want, tol);
            const float *got = a->out + ((int64_t)t * a->n_head + h) * dv;
            for (int d = 0; d < dv; d++) {
                double err = fabs(got[d] - want[d]);
                if (!(err <= tol[d])) {
                    CHECKF(err <= tol[d], "heads %d/%d dk %d dv %d pos0 %d n_tok %d x%g%s: "
                           "row %d head %d [%d] = %.7g, want %.7g +- %.3g", ac->n_head,
                           ac->n_head_kv, ac->dk, ac->dv, ac->pos0, ac->n_tok, ac->scale_mul,
                           ac->zero_q ? " q=0" : "", t, h, d, got[d], want[d], tol[d]);
                    free(want), free(tol);
                    return INFINITY;
                }
                worst = fmax(worst, err / fmax(tol[d], 1e-300));
            }
        }
    }
    free(want), free(tol);
    return worst;
}

/* One case: float q, k, v; k and v stored into an F16 cache as the forward pass does, in
 * rows padded past n_head_kv heads and with positions after the last one, both filled
 * with NaN (read by mistake, they poison the output); an output buffer with a canary
 * after it. Run on 1 and 3 threads (bit-identical: each row is computed by one thread
 * the same way), then against the naive attention. */
static double attn_case(const struct attn_case *ac, struct tpool *tp1, struct tpool *tp3, uint64_t *rng)
{
    int dk = ac->dk, dv = ac->dv, n_kv = ac->pos0 + ac->n_tok, n_ctx = n_kv + 2;
    /* the caches' rows differ in length as a model's do when dk != dv */
    int64_t kst = (int64_t)ac->n_head_kv * dk + 3, vst = (int64_t)ac->n_head_kv * dv + 5;
    int64_t stride = HY_MAX(kst, vst);
    size_t nq = (size_t)ac->n_tok * ac->n_head * dk, no = (size_t)ac->n_tok * ac->n_head * dv;
    size_t nc = (size_t)(n_ctx * stride);
    float *q = malloc(sizeof(float) * nq);
    float *kf = malloc(sizeof(float) * nc), *vf = malloc(sizeof(float) * nc);
    fp16_t *kc = malloc(sizeof(fp16_t) * nc), *vc = malloc(sizeof(fp16_t) * nc);
    float *o1 = malloc(sizeof(float) * (no + 1)), *o3 = malloc(sizeof(float) * (no + 1));
    for (size_t i = 0; i < nq; i++)
        q[i] = ac->zero_q ? 0.0f : test_randn(rng);
    for (size_t i = 0; i < nc; i++) {
        kf[i] = test_randn(rng);
        vf[i] = test_randn(rng);
        kc[i] = vc[i] = 0x7e00;
    }
    for (int p = 0; p < n_kv; p++) {
        fp16_t *kr = kc + p * kst, *vr = vc + p * vst;
        for (int i = 0; i < ac->n_head_kv * dk; i++)
            kr[i] = fp32_to_fp16(kf[p * kst + i]);
        for (int i = 0; i < ac->n_head_kv * dv; i++)
            vr[i] = fp32_to_fp16(vf[p * vst + i]);
    }
    o1[no] = o3[no] = -12345.0f;
    struct attn_args a = {
        .out = o1, .q = q, .k = kc, .v = vc, .n_tok = ac->n_tok, .pos0 = ac->pos0,
        .n_head = ac->n_head, .n_head_kv = ac->n_head_kv, .head_dim_k = dk, .head_dim_v = dv,
        .k_stride = kst, .v_stride = vst, .scale = ac->scale_mul / sqrtf((float)dk),
    };
    op_attention(tp1, &a);
    a.out = o3;
    op_attention(tp3, &a);
    CHECKF(memcmp(o1, o3, sizeof(float) * no) == 0, "1 and 3 threads differ (dk %d dv %d)", dk, dv);
    CHECKF(o1[no] == -12345.0f && o3[no] == -12345.0f, "wrote past the output (dv %d)", dv);
    double worst = attn_check(ac, &a, kf, vf);
    free(q), free(kf), free(vf), free(kc), free(vc), free(o1), free(o3);
    return worst;
}

/* Head dims 1, 7, 33 and the usual ones up to the largest a model may have (1024);
 * dk != dv both ways; GQA ratios 1, 2, 3, 4, 8; decode (one query) and prompts (several,
 * causal within the batch) at pos0 = 0 and later; up to 300 keys. */
static void test_attention(void)
{
    static const struct attn_case cases[] = {
        {1, 1, 1, 1, 0, 1, 1, false},      {1, 1, 1, 1, 4, 3, 1, false},
        {1, 1, 7, 7, 0, 7, 1, false},      {2, 1, 33, 33, 3, 4, 1, false},
        {6, 2, 64, 64, 0, 17, 1, false},   {8, 1, 80, 80, 40, 1, 1, false},
        {4, 4, 128, 128, 100, 3, 1, false}, {3, 1, 64, 32, 5, 6, 1, false},
        {2, 2, 7, 33, 2, 3, 1, false},     {2, 1, 1024, 1024, 2, 2, 1, false},
        {8, 2, 16, 16, 290, 9, 1, false},  {4, 2, 64, 64, 0, 33, 8, false},
        {3, 3, 33, 7, 7, 9, 8, false},     {2, 1, 64, 64, 10, 5, 1, true},
    };
    struct tpool *tp1 = NULL, *tp3 = NULL;
    CHECK(tpool_new(&tp1, 1) == 0 && tpool_new(&tp3, 3) == 0);
    if (!tp1 || !tp3) {
        tpool_free(tp1), tpool_free(tp3);
        return;
    }
    uint64_t rng = 17;
    double worst = 0;
    for (size_t i = 0; i < HY_ARRAY_LEN(cases); i++)
        worst = fmax(worst, attn_case(&cases[i], tp1, tp3, &rng));
    printf("  level %s: largest error / bound %.3f\n", simd_name(cpu_features()->level), worst);
    tpool_free(tp1), tpool_free(tp3);
}

/* One key: the output is that key's value as the cache holds it, exactly (the accumulator
 * takes 0 * 0 + 1 * v, and 1 / S = 1). */
static void test_attention_one_key(void)
{
    enum { DV = 37 };
    float q[DV], out[DV];
    fp16_t k[DV], v[DV];
    uint64_t rng = 23;
    for (int i = 0; i < DV; i++) {
        q[i] = test_randn(&rng);
        k[i] = fp32_to_fp16(test_randn(&rng));
        v[i] = fp32_to_fp16(test_randn(&rng));
    }
    struct tpool *tp = NULL;
    CHECK(tpool_new(&tp, 2) == 0);
    if (!tp)
        return;
    struct attn_args a = {.out = out, .q = q, .k = k, .v = v, .n_tok = 1, .pos0 = 0, .n_head = 1,
                          .n_head_kv = 1, .head_dim_k = DV, .head_dim_v = DV, .k_stride = DV, .v_stride = DV,
                          .scale = 0.3f};
    op_attention(tp, &a);
    for (int i = 0; i < DV; i++)
        CHECKF(out[i] == fp16_to_fp32(v[i]), "[%d] = %.9g, want %.9g", i, out[i], fp16_to_fp32(v[i]));
    tpool_free(tp);
}

/* Cases where F16 rounding vanishes, so the check can be tight: keys one-hot (key p along
 * dimension p), values multiples of 1/8 in [-4, 4] (every partial sum of up to 32 of
 * them is a half). GQA 3, dk != dv, a prompt of 12 rows at pos0 20.
 *  - q = 0: every score is 0, every weight exactly 1, the accumulator holds the exact sum
 *    and S the count: out is the mean over the causal window within 1/S and the last
 *    product, 2u. Checked at 3u.
 *  - a needle: q picks one visible key with a score of 300 (the others score 0), whose
 *    weight 1 makes every other weight exp(-300) = 0 in float and the rescale at the
 *    needle zeroes what came before: out is that key's value, exactly. */
static void test_attention_exact(void)
{
    enum { NH = 6, NKV = 2, DK = 40, DV = 24, POS0 = 20, NT = 12, NCTX = POS0 + NT };
    static float q[NT * NH * DK], out[NT * NH * DV];
    static fp16_t k[NCTX * NKV * DK], v[NCTX * NKV * DK];   /* rows of stride NKV * DK */
    const int64_t stride = NKV * DK;
    uint64_t rng = 29;
    memset(k, 0, sizeof k);
    for (int p = 0; p < NCTX; p++)
        for (int i = 0; i < NKV; i++) {
            k[p * stride + i * DK + p] = 0x3c00;
            for (int d = 0; d < DV; d++)
                v[p * stride + i * DV + d] = fp32_to_fp16((float)((int)(test_rand(&rng) % 65) - 32) / 8);
        }
    struct tpool *tp = NULL;
    CHECK(tpool_new(&tp, 2) == 0);
    if (!tp)
        return;
    struct attn_args a = {.out = out, .q = q, .k = k, .v = v, .n_tok = NT, .pos0 = POS0, .n_head = NH,
                          .n_head_kv = NKV, .head_dim_k = DK, .head_dim_v = DV, .k_stride = stride, .v_stride = stride,
                          .scale = 1.0f / sqrtf((float)DK)};
    for (int needle = 0; needle < 2; needle++) {
        memset(q, 0, sizeof q);
        for (int t = 0; t < NT && needle; t++)
            for (int h = 0; h < NH; h++)
                q[(t * NH + h) * DK + (t * 7 + h * 3) % (POS0 + t + 1)] = 300.0f * sqrtf((float)DK);
        op_attention(tp, &a);
        int bad = 0;
        for (int t = 0; t < NT && !bad; t++)
            for (int h = 0; h < NH && !bad; h++)
                for (int d = 0; d < DV && !bad; d++) {
                    const fp16_t *vc = v + (h / (NH / NKV)) * DV + d;   /* vc[p * stride] */
                    double want = 0;
                    for (int p = 0; p <= POS0 + t; p++)
                        want += fp16_to_fp32(vc[p * stride]);
                    want /= POS0 + t + 1;
                    if (needle)
                        want = fp16_to_fp32(vc[(t * 7 + h * 3) % (POS0 + t + 1) * stride]);
                    float got = out[(t * NH + h) * DV + d];
                    if (!(fabs(got - want) <= (needle ? 0 : 3 * U_F32 * fabs(want)))) {
                        CHECKF(0, "%s: row %d head %d [%d] = %.9g, want %.9g",
                               needle ? "needle" : "q = 0", t, h, d, got, want);
                        bad = 1;
                    }
                }
    }
    tpool_free(tp);
}

/* The attention tests again, in this program run with HYPURA_SIMD capped to each level
 * below the one in use, so op_attention's scalar (and AVX2) paths run here too. */
static void test_attention_levels(void)
{
#if defined(__x86_64__)
    static const enum simd_level levels[] = {HY_SIMD_SCALAR, HY_SIMD_AVX2};
#else
    static const enum simd_level levels[] = {HY_SIMD_SCALAR};
#endif
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0 || memchr(self, '\'', (size_t)len)) {
        TEST_SKIP("cannot name this program to run it again");
        return;
    }
    self[len] = 0;
    int ran = 0;
    for (size_t i = 0; i < HY_ARRAY_LEN(levels); i++) {
        if (levels[i] >= cpu_features()->level)
            continue;
        char cmd[4200], line[1024];
        snprintf(cmd, sizeof cmd, "HYPURA_SIMD=%s '%s' --attention 2>&1", simd_name(levels[i]), self);
        fflush(stdout);
        FILE *p = popen(cmd, "r");
        CHECKF(p != NULL, "popen %s", cmd);
        if (!p)
            continue;
        while (fgets(line, sizeof line, p))
            printf("  [%s] %s", simd_name(levels[i]), line);
        int st = pclose(p);
        CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "HYPURA_SIMD=%s: status %d",
               simd_name(levels[i]), st);
        ran++;
    }
    if (!ran)
        TEST_SKIP("no level below %s", simd_name(cpu_features()->level));
}

/* ---- the thread pool ------------------------------------------------------------------ */

/* Each call records which ith ran; a job checks that every ith in 0..nth-1 ran exactly
 * once, whichever thread ran it (the caller takes over slots no worker picked up). */
struct slots_job {
    _Atomic int hits[8];
    _Atomic int bad;
    int delay_us;            /* ith 1 sleeps this long: its worker holds the job up */
};

static void slots_run(void *ctx, int ith, int nth)
{
    struct slots_job *j = ctx;
    if (ith < 0 || ith >= nth || nth > 8) {
        atomic_store(&j->bad, 1);
        return;
    }
    if (ith == 1 && j->delay_us)
        usleep((useconds_t)j->delay_us);
    atomic_fetch_add(&j->hits[ith], 1);
}

static int slots_check(struct slots_job *j, int nth)
{
    int wrong = atomic_load(&j->bad);
    for (int i = 0; i < 8; i++)
        wrong += atomic_load(&j->hits[i]) != (i < nth);
    return wrong;
}

/* Many short jobs back to back (workers spinning), jobs after a pause longer than the
 * spin (workers asleep on the futex), and a slot that sleeps inside the job (the caller
 * sleeps waiting for it), for 1 to 4 threads; then pools freed while their workers spin,
 * sleep, or never ran a job. */
static void test_tpool_slots(void)
{
    for (int nth = 1; nth <= 4; nth++) {
        struct tpool *tp = NULL;
        CHECK(tpool_new(&tp, nth) == 0);
        if (!tp)
            return;
        CHECK_EQ(tpool_size(tp), nth);
        int wrong = 0;
        for (int it = 0; it < 3000; it++) {
            struct slots_job j = {.delay_us = 0};
            if (it % 500 == 499)
                usleep(2000);        /* past the workers' spin: they park */
            if (it % 1000 == 999)
                j.delay_us = 3000;   /* past the caller's spin: it parks */
            tpool_run(tp, slots_run, &j);
            wrong += slots_check(&j, nth);
        }
        CHECKF(wrong == 0, "%d threads: %d slots ran a wrong number of times", nth, wrong);
        tpool_free(tp);
    }
    for (int k = 0; k < 20; k++) {
        struct tpool *tp = NULL;
        CHECK(tpool_new(&tp, 3) == 0);
        if (k % 2) {
            struct slots_job j = {.delay_us = 0};
            tpool_run(tp, slots_run, &j);
            CHECK(slots_check(&j, 3) == 0);
        }
        if (k % 4 == 3)
            usleep(1000);
        tpool_free(tp);
    }
    tpool_free(NULL);
}

int main(int argc, char **argv)
{
    if (argc == 2 && !strcmp(argv[1], "--attention")) {
        RUN(test_attention_one_key);
        RUN(test_attention_exact);
        RUN(test_attention);
        return test_finish();
    }
    RUN(test_f16_known);
    RUN(test_f16_helpers_levels);
    RUN(test_rmsnorm);
    RUN(test_swiglu);
    RUN(test_moe_route);
    RUN(test_rope);
    RUN(test_attention_one_key);
    RUN(test_attention_exact);
    RUN(test_attention);
    RUN(test_attention_levels);
    RUN(test_tpool_slots);
    return test_finish();
}

/* CPU operations. See ops.h. */
#include "ops/ops.h"
#include "ops/ops_simd.h"
#include "quant/quant.h"
#include "util/common.h"
#include "util/log.h"

#include <errno.h>
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* ---- matmul -------------------------------------------------------------------------- */

/* Rows per work item: small enough to balance two threads on decode, large enough that
 * a prompt's gemm tile reuses each activation block across many weight rows. */
#define MM_ROWS_DECODE 16
#define MM_ROWS_PROMPT 64
#define MM_TOKS_PROMPT 64

struct mm_job {
    const struct mm_out *outs;
    int n_outs;
    const struct quant_kernels *k[8];     /* per product */
    int part[8];                          /* per product: index into prep->part */
    int64_t first_item[9];                /* prefix sums of work items per product */
    int rows_per_item;
    const struct mm_prep *prep;
    _Atomic int64_t next;
    /* conversion phase */
    const float *x;
    int64_t ldx;
};

void mm_scratch_free(struct mm_scratch *s)
{
    if (!s)
        return;
    free(s->buf);
    s->buf = NULL;
    s->cap = 0;
}

static void mm_convert_job(void *ctx, int ith, int nth)
{
    struct mm_job *j = ctx;
    const struct mm_prep *p = j->prep;
    for (int k = 0; k < p->n_parts; k++) {
        const struct quant_kernels *qk = quant_kernels(p->part[k].type);
        for (int t = ith; t < p->n_tok; t += nth)
            qk->from_float(j->x + t * j->ldx, (uint8_t *)p->part[k].xq + t * p->part[k].stride, p->n_in);
    }
}

static void mm_job_run(void *ctx, int ith, int nth)
{
    (void)ith;
    (void)nth;
    struct mm_job *j = ctx;
    const struct mm_prep *p = j->prep;
    int64_t total = j->first_item[j->n_outs];
    for (;;) {
        int64_t item = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (item >= total)
            break;
        int o = 0;
        while (item >= j->first_item[o + 1])
            o++;
        const struct mm_out *mo = &j->outs[o];
        const struct quant_kernels *k = j->k[o];
        const uint8_t *xq = p->part[j->part[o]].xq;
        size_t stride = p->part[j->part[o]].stride;
        int64_t r0 = (item - j->first_item[o]) * j->rows_per_item;
        int nr = (int)HY_MIN((int64_t)j->rows_per_item, mo->w.n_out - r0);
        const uint8_t *w = (const uint8_t *)mo->w.data + r0 * mo->w.row_bytes;
        int n = (int)mo->w.n_in;
        if (p->n_tok == 1) {
            for (int r = 0; r < nr; r++)
                k->vec_dot(n, &mo->out[r0 + r], w + r * mo->w.row_bytes, xq);
            continue;
        }
        for (int t0 = 0; t0 < p->n_tok; t0 += MM_TOKS_PROMPT) {
            int nc = HY_MIN(MM_TOKS_PROMPT, p->n_tok - t0);
            k->gemm(n, nr, nc, w, mo->w.row_bytes, xq + t0 * stride, stride, mo->out + t0 * mo->ldo + r0,
                    (size_t)mo->ldo);
        }
    }
}

int op_matmul_prepare(struct tpool *tp, struct mm_scratch *s, const float *x, int64_t ldx,
                      int n_tok, int64_t n_in, const uint32_t *wtypes, int n_types,
                      struct mm_prep *out)
{
    memset(out, 0, sizeof *out);
    out->n_tok = n_tok;
    out->n_in = n_in;
    if (n_tok < 1) {
        set_error("no tokens");
        return -EINVAL;
    }
    size_t need = 0;
    for (int i = 0; i < n_types; i++) {
        const struct quant_kernels *k = quant_kernels(wtypes[i]);
        if (!k) {
            set_error("no kernels for weight type %s", type_name(wtypes[i]));
            return -EINVAL;
        }
        int p = 0;
        while (p < out->n_parts && out->part[p].type != k->vec_dot_type)
            p++;
        if (p < out->n_parts)
            continue;
        const struct type_info *ti = type_info(k->vec_dot_type);
        if (n_in % ti->blck || p == MM_MAX_PARTS) {
            set_error("row of %lld elements does not suit %s", (long long)n_in, ti->name);
            return -EINVAL;
        }
        out->part[p].type = k->vec_dot_type;
        out->part[p].stride = HY_ALIGN_UP((size_t)type_row_bytes(ti, (uint64_t)n_in), 64);
        need += out->part[p].stride * (size_t)n_tok;
        out->n_parts++;
    }
    if (need > s->cap) {
        void *b = aligned_malloc(64, need);
        if (!b) {
            set_error("out of memory for activation scratch (%zu bytes)", need);
            return -ENOMEM;
        }
        free(s->buf);
        s->buf = b;
        s->cap = need;
    }
    size_t off = 0;
    for (int p = 0; p < out->n_parts; p++) {
        out->part[p].xq = (uint8_t *)s->buf + off;
        off += out->part[p].stride * (size_t)n_tok;
    }
    struct mm_job j = {.prep = out, .x = x, .ldx = ldx};
    if (n_tok == 1)
        mm_convert_job(&j, 0, 1);
    else
        tpool_run(tp, mm_convert_job, &j);
    return 0;
}

int op_matmul_run(struct tpool *tp, const struct mm_prep *p, const struct mm_out *outs, int n_outs)
{
    if (n_outs < 1 || n_outs > 8)
        return -EINVAL;
    struct mm_job j = {.outs = outs, .n_outs = n_outs, .prep = p};
    j.rows_per_item = p->n_tok == 1 ? MM_ROWS_DECODE : MM_ROWS_PROMPT;
    for (int o = 0; o < n_outs; o++) {
        const struct quant_kernels *k = quant_kernels(outs[o].w.type);
        int q = 0;
        while (k && q < p->n_parts && p->part[q].type != k->vec_dot_type)
            q++;
        if (!k || q == p->n_parts || outs[o].w.n_in != p->n_in) {
            set_error("a %s product was not prepared for", type_name(outs[o].w.type));
            return -EINVAL;
        }
        j.k[o] = k;
        j.part[o] = q;
        j.first_item[o + 1] = j.first_item[o] + (outs[o].w.n_out + j.rows_per_item - 1) / j.rows_per_item;
    }
    atomic_store(&j.next, 0);
    tpool_run(tp, mm_job_run, &j);
    return 0;
}

/* ---- element-wise -------------------------------------------------------------------- */

void op_rmsnorm(float *y, const float *x, const float *w, int n, float eps)
{
    /* llama.cpp sums the float squares in double */
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += (double)(x[i] * x[i]);
    float mean = (float)(sum / n);
    float scale = 1.0f / sqrtf(mean + eps);
    if (w)
        for (int i = 0; i < n; i++)
            y[i] = (x[i] * scale) * w[i];
    else
        for (int i = 0; i < n; i++)
            y[i] = x[i] * scale;
}

void op_rope(float *x, int n_head, int head_dim, int pos, const struct rope_cfg *c)
{
    /* angles built as llama.cpp does: theta_i = pos * base^(-2i/n_rot), by repeated
     * multiplication in float, divided by the frequency factor, times freq_scale */
    float cs[2048];
    int half = c->n_rot / 2;
    float theta_scale = powf(c->freq_base, -2.0f / (float)c->n_rot);
    float theta = (float)pos;
    for (int i = 0; i < half && i < 1024; i++) {
        float ff = c->freq_factors ? c->freq_factors[i] : 1.0f;
        float t = c->freq_scale * (theta / ff);
        cs[2 * i] = cosf(t);
        cs[2 * i + 1] = sinf(t);
        theta *= theta_scale;
    }
    for (int h = 0; h < n_head; h++) {
        float *v = x + (int64_t)h * head_dim;
        for (int i = 0; i < half; i++) {
            int a = c->neox ? i : 2 * i;
            int b = c->neox ? i + half : 2 * i + 1;
            float x0 = v[a], x1 = v[b];
            v[a] = x0 * cs[2 * i] - x1 * cs[2 * i + 1];
            v[b] = x0 * cs[2 * i + 1] + x1 * cs[2 * i];
        }
    }
}

void op_swiglu(float *out, const float *gate, const float *up, int n)
{
    for (int i = 0; i < n; i++) {
        float g = gate[i];
        out[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

void op_moe_route(const float *logits, int n, int k, bool norm, int *sel, float *w)
{
    /* softmax as ggml's CPU backend: exponentials in float, their sum in double, one
     * scale factor */
    float mx = -INFINITY, p[MOE_ROUTE_MAX];
    for (int i = 0; i < n; i++)
        mx = fmaxf(mx, logits[i]);
    double sum = 0;
    for (int i = 0; i < n; i++) {
        p[i] = expf(logits[i] - mx);
        sum += (double)p[i];
    }
    float scale = (float)(1.0 / sum);
    for (int i = 0; i < n; i++)
        p[i] *= scale;
    /* the k largest, largest first; on a tie the lower index */
    bool taken[MOE_ROUTE_MAX] = {0};
    for (int r = 0; r < k; r++) {
        int best = -1;
        for (int i = 0; i < n; i++)
            if (!taken[i] && (best < 0 || p[i] > p[best]))
                best = i;
        taken[best] = true;
        sel[r] = best;
        w[r] = p[best];
    }
    if (!norm)
        return;
    double ws = 0;
    for (int r = 0; r < k; r++)
        ws += (double)w[r];
    float d = fmaxf((float)ws, 6.103515625e-5f); /* llama.cpp clamps to the smallest F16 */
    for (int r = 0; r < k; r++)
        w[r] /= d;
}

int op_get_row(const struct wmat *w, int64_t row, float *y)
{
    const struct quant_kernels *k = quant_kernels(w->type);
    if (!k || row < 0 || row >= w->n_out) {
        set_error("cannot read row %lld of a %s matrix", (long long)row, type_name(w->type));
        return -EINVAL;
    }
    k->to_float((const uint8_t *)w->data + row * w->row_bytes, y, w->n_in);
    return 0;
}

/* ---- attention ----------------------------------------------------------------------- */

struct attn_job {
    const struct attn_args *a;
    _Atomic int next;
};

static void attn_row(const struct attn_args *a, int t, int h, fp16_t *qh, fp16_t *acc, float *tmp)
{
    const struct quant_kernels *f16 = quant_kernels(HY_TYPE_F16);
    int dk = a->head_dim_k, dv = a->head_dim_v;
    int hk = h / (a->n_head / a->n_head_kv);
    const float *q = a->q + (int64_t)t * a->n_head * dk + (int64_t)h * dk;
    f16->from_float(q, qh, dk);
    memset(acc, 0, sizeof(fp16_t) * (size_t)dv);
    float S = 0, M = -INFINITY;
    int n_kv = a->pos0 + t + 1; /* causal: positions 0 .. pos0 + t */
    for (int p = 0; p < n_kv; p++) {
        float s;
        f16->vec_dot(dk, &s, a->k + p * a->k_stride + (int64_t)hk * dk, qh);
        s *= a->scale;
        float ms = 1.0f, vs = 1.0f;
        if (s > M) {
            float old = M;
            M = s;
            ms = expf(old - M);
            vec_scale_f16(acc, ms, dv);
        } else {
            vs = expf(s - M);
        }
        vec_mad_f16(acc, a->v + p * a->v_stride + (int64_t)hk * dv, vs, dv);
        S = S * ms + vs;
    }
    float *o = a->out + (int64_t)t * a->n_head * dv + (int64_t)h * dv;
    float inv = S == 0.0f ? 0.0f : 1.0f / S;
    f16->to_float(acc, tmp, dv);
    for (int d = 0; d < dv; d++)
        o[d] = tmp[d] * inv;
}

static void attn_job_run(void *ctx, int ith, int nth)
{
    (void)ith;
    (void)nth;
    struct attn_job *j = ctx;
    const struct attn_args *a = j->a;
    fp16_t qh[1024], acc[1024];
    float tmp[1024];
    int total = a->n_tok * a->n_head;
    for (;;) {
        int i = atomic_fetch_add_explicit(&j->next, 1, memory_order_relaxed);
        if (i >= total)
            break;
        attn_row(a, i / a->n_head, i % a->n_head, qh, acc, tmp);
    }
}

void op_attention(struct tpool *tp, const struct attn_args *a)
{
    struct attn_job j = {.a = a};
    atomic_store(&j.next, 0);
    tpool_run(tp, attn_job_run, &j);
}

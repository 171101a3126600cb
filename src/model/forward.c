/* The forward pass of the llama family (llama, qwen2, qwen3, and with experts Mixtral,
 * qwen2moe, qwen3moe): a batch of tokens through every layer, prompt and decode alike (a
 * prompt is the same code with n > 1: its matrix products are matrix-matrix). The
 * architectures differ in q/k/v biases (qwen2*), per-head q/k RMSNorm (qwen3*), the rope
 * pairing (neox for qwen), and the FFN: dense, or routed experts (plus qwen2moe's shared
 * expert), computed as llama.cpp's build_moe_ffn does.
 *
 * Matrix products go through mm_w(), which takes resident weights from memory and
 * streamed ones (the plan's disk tier) chunk by chunk from the streamer, so this file
 * does not care where the bytes come from. */
#include "io/file.h"
#include "io/stream.h"
#include "model/session.h"
#include "quant/quant.h"
#include "util/common.h"
#include "util/log.h"

#include <errno.h>
#include <math.h>
#include <string.h>

struct fwd {
    hy_session *s;
    const hy_model *m;
    const struct hparams *hp;
    int n;                 /* tokens in this batch */
    int pos0;              /* position of the first */
    const struct layer *L; /* current layer */
    struct rope_cfg rope;
    fp16_t *kc, *vc;      /* this layer's KV cache */
    int n_out;             /* rows that need logits */
    int out0;              /* first of them */
    int64_t ff;            /* width of the FFN being computed (dense or shared expert) */
};

/* A product of one weight tensor with a block's input. */
struct mmw {
    const struct tensor *t;
    float *out;
    int64_t ldo;
};

/* Products sharing the input x: x is converted once; resident weights run together;
 * streamed ones chunk by chunk, each chunk released as soon as its rows are computed,
 * so the streamer can refill its slot while the next is used. */
static int mm_w(struct fwd *f, const float *x, int64_t ldx, const struct mmw *w, int k)
{
    hy_session *s = f->s;
    uint32_t types[8] = {0};
    for (int i = 0; i < k; i++)
        types[i] = w[i].t->type;
    struct mm_prep p;
    int rc = op_matmul_prepare(s->tp, &s->mm, x, ldx, f->n, w[0].t->ne[0], types, k, &p);
    if (rc)
        return rc;
    struct mm_out res[8];
    int nr = 0;
    for (int i = 0; i < k; i++)
        if (w[i].t->data)
            res[nr++] = (struct mm_out){w[i].out, w[i].ldo, tensor_wmat(w[i].t, w[i].t->data)};
    if (nr && (rc = op_matmul_run(s->tp, &p, res, nr)))
        return rc;
    for (int i = 0; i < k; i++) {
        const struct tensor *t = w[i].t;
        if (t->data)
            continue;
        if (t->unit < 0) {
            set_error("tensor %s has no data in memory", t->name);
            return -EIO;
        }
        for (int c = 0; c < t->n_chunks; c++) {
            int u = t->unit + c;
            const uint8_t *base = stream_acquire(f->m->stream, u);
            if (!base)
                return -EIO;
            int64_t r0 = (int64_t)c * t->chunk_rows;
            struct mm_out o = {w[i].out + r0, w[i].ldo, tensor_wmat(t, base + f->m->unit_off[u])};
            o.w.n_out = HY_MIN(t->chunk_rows, t->ne[1] - r0);
            rc = op_matmul_run(s->tp, &p, &o, 1);
            stream_release(f->m->stream, u);
            if (rc)
                return rc;
        }
    }
    return 0;
}

/* ---- the weight schedule ---- */

/* A layer's matrix products, in the order layer_forward runs them; products in one group
 * share their input. This table is the one place the order is written: the streamer's
 * units are numbered from it (forward_weight_order), and layer_forward runs group by
 * group. A pass that strays from it shows up as out-of-schedule acquires.
 * A layer has either the dense FFN groups or the MoE ones (the others' tensors are NULL,
 * and skipped). MM_EXPERTS is not a product with the whole tensors: each expert's three
 * slices (tensor_wmat of a fused tensor at the expert's slice: its ne[1] rows) are one
 * streaming unit, read only when the router's choice names it (a hint), and computed in
 * the order of the hints. */
enum {
    MM_QKV, MM_O, MM_GATE_UP, MM_DOWN,
    MM_ROUTER, MM_EXPERTS, MM_SHEXP_GATE_UP, MM_SHEXP_DOWN, MM_N_GROUPS
};
static const struct {
    uint8_t w[3];
    uint8_t n;
} layer_mm[MM_N_GROUPS] = {
    [MM_QKV] = {{W_Q, W_K, W_V}, 3},
    [MM_O] = {{W_O}, 1},
    [MM_GATE_UP] = {{W_GATE, W_UP}, 2},
    [MM_DOWN] = {{W_DOWN}, 1},
    [MM_ROUTER] = {{W_ROUTER}, 1},
    [MM_EXPERTS] = {{W_GATE_EXPS, W_UP_EXPS, W_DOWN_EXPS}, 3},
    [MM_SHEXP_GATE_UP] = {{W_GATE_SHEXP, W_UP_SHEXP, W_SHEXP_INP}, 3},
    [MM_SHEXP_DOWN] = {{W_DOWN_SHEXP}, 1},
};

struct tensor *layer_weight(const struct layer *L, enum wstep w)
{
    switch (w) {
    case W_Q: return L->wq;
    case W_K: return L->wk;
    case W_V: return L->wv;
    case W_O: return L->wo;
    case W_GATE: return L->ffn_gate;
    case W_UP: return L->ffn_up;
    case W_DOWN: return L->ffn_down;
    case W_ROUTER: return L->gate_inp;
    case W_GATE_EXPS: return L->gate_exps;
    case W_UP_EXPS: return L->up_exps;
    case W_DOWN_EXPS: return L->down_exps;
    case W_GATE_SHEXP: return L->gate_shexp;
    case W_UP_SHEXP: return L->up_shexp;
    case W_SHEXP_INP: return L->gate_inp_shexp;
    case W_DOWN_SHEXP: return L->down_shexp;
    default: return NULL;
    }
}

int forward_weight_order(const hy_model *m, struct tensor **out, int cap)
{
    int n = 0;
    for (uint32_t l = 0; l < m->hp.n_layer; l++)
        for (int g = 0; g < MM_N_GROUPS; g++)
            for (int i = 0; i < layer_mm[g].n; i++) {
                struct tensor *t = layer_weight(&m->layers[l], (enum wstep)layer_mm[g].w[i]);
                if (t && n < cap)
                    out[n] = t;
                n += t != NULL;
            }
    if (n < cap)
        out[n] = m->output;
    return n + 1;
}

/* Where one product of a group writes: out, rows ldo floats apart. */
struct mm_dst {
    float *out;
    int64_t ldo;
};

/* Group g of the current layer's products, on input x. */
static int mm_group(struct fwd *f, int g, const float *x, int64_t ldx, const struct mm_dst *dst)
{
    struct mmw w[3];
    for (int i = 0; i < layer_mm[g].n; i++)
        w[i] = (struct mmw){layer_weight(f->L, (enum wstep)layer_mm[g].w[i]), dst[i].out, dst[i].ldo};
    return mm_w(f, x, ldx, w, layer_mm[g].n);
}

/* ---- per-token steps, run in parallel over the batch ---- */

typedef void (*row_fn)(struct fwd *f, int t);
struct rows_job {
    struct fwd *f;
    row_fn fn;
    int t0, n;
};

static void rows_run(void *ctx, int ith, int nth)
{
    struct rows_job *j = ctx;
    for (int t = j->t0 + ith; t < j->t0 + j->n; t += nth)
        j->fn(j->f, t);
}

static void par_rows(struct fwd *f, row_fn fn, int t0, int n)
{
    struct rows_job j = {.f = f, .fn = fn, .t0 = t0, .n = n};
    if (n == 1)
        fn(f, t0);
    else
        tpool_run(f->s->tp, rows_run, &j);
}

static inline float *row(float *base, int t, int64_t width)
{
    return base + (int64_t)t * width;
}

static void step_attn_norm(struct fwd *f, int t)
{
    const struct hparams *hp = f->hp;
    op_rmsnorm(row(f->s->xb, t, hp->n_embd), row(f->s->x, t, hp->n_embd), f->L->attn_norm->data,
               (int)hp->n_embd, hp->norm_eps);
}

static void add_bias(float *x, const struct tensor *b, int64_t n)
{
    if (!b)
        return;
    const float *v = b->data;
    for (int64_t i = 0; i < n; i++)
        x[i] += v[i];
}

static void head_norm(float *x, const struct tensor *w, int n_head, int hd, float eps)
{
    for (int h = 0; h < n_head; h++)
        op_rmsnorm(x + (int64_t)h * hd, x + (int64_t)h * hd, w->data, hd, eps);
}

/* biases, q/k norms, rope, and the new keys and values into the cache */
static void step_qkv_post(struct fwd *f, int t)
{
    const struct hparams *hp = f->hp;
    hy_session *s = f->s;
    int64_t qd = (int64_t)hp->n_head * hp->head_dim_k;
    float *q = row(s->q, t, qd), *k = row(s->k, t, s->kv_dim_k), *v = row(s->v, t, s->kv_dim_v);
    add_bias(q, f->L->bq, qd);
    add_bias(k, f->L->bk, s->kv_dim_k);
    add_bias(v, f->L->bv, s->kv_dim_v);
    if (f->L->q_norm) {
        head_norm(q, f->L->q_norm, (int)hp->n_head, (int)hp->head_dim_k, hp->norm_eps);
        head_norm(k, f->L->k_norm, (int)hp->n_head_kv, (int)hp->head_dim_k, hp->norm_eps);
    }
    int pos = f->pos0 + t;
    op_rope(q, (int)hp->n_head, (int)hp->head_dim_k, pos, &f->rope);
    op_rope(k, (int)hp->n_head_kv, (int)hp->head_dim_k, pos, &f->rope);
    const struct quant_kernels *f16 = quant_kernels(HY_TYPE_F16);
    f16->from_float(k, f->kc + (int64_t)pos * s->kv_dim_k, s->kv_dim_k);
    f16->from_float(v, f->vc + (int64_t)pos * s->kv_dim_v, s->kv_dim_v);
}

static void step_ffn_norm(struct fwd *f, int t)
{
    const struct hparams *hp = f->hp;
    float *x = row(f->s->x, t, hp->n_embd), *o = row(f->s->xb2, t, hp->n_embd);
    for (uint32_t i = 0; i < hp->n_embd; i++)
        x[i] += o[i];
    op_rmsnorm(row(f->s->xb, t, hp->n_embd), x, f->L->ffn_norm->data, (int)hp->n_embd,
               hp->norm_eps);
}

static void step_swiglu(struct fwd *f, int t)
{
    int64_t ff = f->ff;
    op_swiglu(row(f->s->hb, t, ff), row(f->s->hb, t, ff), row(f->s->hb2, t, ff), (int)ff);
}

static void step_residual(struct fwd *f, int t)
{
    const struct hparams *hp = f->hp;
    float *x = row(f->s->x, t, hp->n_embd), *o = row(f->s->xb2, t, hp->n_embd);
    for (uint32_t i = 0; i < hp->n_embd; i++)
        x[i] += o[i];
}

static void step_out_norm(struct fwd *f, int t)
{
    const struct hparams *hp = f->hp;
    op_rmsnorm(row(f->s->xb, t - f->out0, hp->n_embd), row(f->s->x, t, hp->n_embd),
               f->m->output_norm->data, (int)hp->n_embd, hp->norm_eps);
}

/* ---- mixture of experts ---- */

static void step_route(struct fwd *f, int t)
{
    const struct hparams *hp = f->hp;
    hy_session *s = f->s;
    int k = (int)hp->n_expert_used;
    op_moe_route(row(s->router, t, hp->n_expert), (int)hp->n_expert, k, hp->expert_weights_norm,
                 s->sel + (int64_t)t * k, s->selw + (int64_t)t * k);
}

/* The batch's token-rank pairs p = t * k + r grouped by expert (a counting sort, tokens in
 * order within an expert): expert e's pairs are pairs[first[e] .. first[e + 1]). used[]
 * lists the experts chosen, by first use (token by token, in router rank: for one token,
 * the router's order). Returns how many. */
static int group_by_expert(struct fwd *f)
{
    hy_session *s = f->s;
    int X = (int)f->hp->n_expert, np = f->n * (int)f->hp->n_expert_used, n_used = 0;
    memset(s->first, 0, sizeof *s->first * (size_t)(X + 1));
    for (int p = 0; p < np; p++)
        if (s->first[s->sel[p] + 1]++ == 0)
            s->used[n_used++] = s->sel[p];
    for (int e = 0; e < X; e++)
        s->first[e + 1] += s->first[e];
    /* place each pair, first[] moving one expert along as it fills, then shifted back */
    for (int p = 0; p < np; p++)
        s->pairs[s->first[s->sel[p]]++] = p;
    for (int e = X; e > 0; e--)
        s->first[e] = s->first[e - 1];
    s->first[0] = 0;
    return n_used;
}

/* Expert e on all of its tokens at once (its weights used once per batch): gather their
 * inputs, gate and up, SwiGLU, down, and each output row times the token's router weight
 * into its (token, rank) row of s->moe. w: the expert's gate, up and down slices. */
static int expert_run(struct fwd *f, int e, const void *const w[X_PARTS])
{
    hy_session *s = f->s;
    const struct layer *L = f->L;
    int64_t E = f->hp->n_embd, F = f->hp->n_ff_exp;
    int k = (int)f->hp->n_expert_used, n = s->first[e + 1] - s->first[e];
    const int *pairs = s->pairs + s->first[e];
    for (int i = 0; i < n; i++)
        memcpy(row(s->xe, i, E), row(s->xb, pairs[i] / k, E), sizeof(float) * (size_t)E);
    uint32_t types[2] = {L->gate_exps->type, L->up_exps->type};
    struct mm_prep p;
    int rc = op_matmul_prepare(s->tp, &s->mm, s->xe, E, n, E, types, 2, &p);
    struct mm_out gu[2] = {{s->hb, F, tensor_wmat(L->gate_exps, w[X_GATE])},
                           {s->hb2, F, tensor_wmat(L->up_exps, w[X_UP])}};
    if (rc || (rc = op_matmul_run(s->tp, &p, gu, 2)))
        return rc;
    for (int i = 0; i < n; i++)
        op_swiglu(row(s->hb, i, F), row(s->hb, i, F), row(s->hb2, i, F), (int)F);
    struct mm_out d = {s->ye, E, tensor_wmat(L->down_exps, w[X_DOWN])};
    if ((rc = op_matmul_prepare(s->tp, &s->mm, s->hb, F, n, F, &L->down_exps->type, 1, &p)) ||
        (rc = op_matmul_run(s->tp, &p, &d, 1)))
        return rc;
    for (int i = 0; i < n; i++) {
        float wt = s->selw[pairs[i]], *dst = row(s->moe, pairs[i], E);
        const float *y = row(s->ye, i, E);
        for (int64_t j = 0; j < E; j++)
            dst[j] = y[j] * wt;
    }
    return 0;
}

/* The routed experts' outputs summed in router rank order, as llama.cpp adds them: the
 * result does not depend on the order the experts were computed in. */
static void step_moe_sum(struct fwd *f, int t)
{
    int64_t E = f->hp->n_embd;
    int k = (int)f->hp->n_expert_used;
    float *o = row(f->s->xb2, t, E);
    memcpy(o, row(f->s->moe, (int64_t)t * k, E), sizeof(float) * (size_t)E);
    for (int r = 1; r < k; r++) {
        const float *y = row(f->s->moe, (int64_t)t * k + r, E);
        for (int64_t j = 0; j < E; j++)
            o[j] += y[j];
    }
}

/* qwen2moe's shared expert, added behind its gate: sigmoid, computed as llama.cpp does
 * (silu(x) / x). */
static void step_shexp_add(struct fwd *f, int t)
{
    int64_t E = f->hp->n_embd;
    float x = f->s->shgate[t];
    float g = x == 0 ? 0.5f : x / (1.0f + expf(-x)) / x;
    float *o = row(f->s->xb2, t, E);
    const float *y = row(f->s->ye, t, E);
    for (int64_t j = 0; j < E; j++)
        o[j] += y[j] * g;
}

static int shared_expert(struct fwd *f)
{
    hy_session *s = f->s;
    int64_t E = f->hp->n_embd, F = f->hp->n_ff_shexp;
    struct mm_dst gu[3] = {{s->hb, F}, {s->hb2, F}, {s->shgate, 1}};
    int rc = mm_group(f, MM_SHEXP_GATE_UP, s->xb, E, gu);
    if (rc)
        return rc;
    f->ff = F;
    par_rows(f, step_swiglu, 0, f->n);
    struct mm_dst d = {s->ye, E};
    if ((rc = mm_group(f, MM_SHEXP_DOWN, s->hb, F, &d)))
        return rc;
    par_rows(f, step_shexp_add, 0, f->n);
    return 0;
}

/* The MoE FFN of the current layer on s->xb into s->xb2: the router's top-k per token,
 * then each chosen expert once for all its tokens. The streamed experts are named to the
 * streamer first (read together while the experts in memory are computed), then computed
 * in that order. */
static int moe_ffn(struct fwd *f)
{
    hy_session *s = f->s;
    const struct layer *L = f->L;
    int64_t E = f->hp->n_embd;
    struct mm_dst r = {s->router, f->hp->n_expert};
    int rc = mm_group(f, MM_ROUTER, s->xb, E, &r);
    if (rc)
        return rc;
    par_rows(f, step_route, 0, f->n);
    int n_used = group_by_expert(f), units[MOE_MAX_EXPERTS], streamed[MOE_MAX_EXPERTS], n_st = 0;
    for (int i = 0; i < n_used; i++)
        if (L->experts[s->used[i]].unit >= 0) {
            streamed[n_st] = s->used[i];
            units[n_st++] = L->experts[s->used[i]].unit;
        }
    bool ready[MOE_MAX_EXPERTS];
    if (n_st && (rc = stream_hint(f->m->stream, units, n_st, ready)))
        return rc;
    /* the cache's statistics: an expert served from RAM is held, or was in its slot with
     * the read complete when named */
    uint64_t xb = expert_slice_bytes(L->gate_exps) + expert_slice_bytes(L->up_exps) +
                  expert_slice_bytes(L->down_exps);
    int n_ram = n_used - n_st;
    for (int i = 0; i < n_st; i++)
        n_ram += ready[i];
    s->stats.expert_bytes += (uint64_t)n_used * xb;
    s->stats.expert_ram_bytes += (uint64_t)n_ram * xb;
    for (int i = 0; i < n_used; i++) {
        const struct expert *x = &L->experts[s->used[i]];
        if (x->unit < 0 && (rc = expert_run(f, s->used[i], x->data)))
            return rc;
    }
    for (int i = 0; i < n_st; i++) {
        const struct expert *x = &L->experts[streamed[i]];
        const uint8_t *base = stream_acquire(f->m->stream, x->unit);
        if (!base)
            return -EIO;
        const void *w[X_PARTS] = {base + x->off[X_GATE], base + x->off[X_UP], base + x->off[X_DOWN]};
        rc = expert_run(f, streamed[i], w);
        stream_release(f->m->stream, x->unit);
        if (rc)
            return rc;
    }
    par_rows(f, step_moe_sum, 0, f->n);
    return L->gate_shexp ? shared_expert(f) : 0;
}

static int dense_ffn(struct fwd *f)
{
    hy_session *s = f->s;
    int64_t E = f->hp->n_embd, ff = f->hp->n_ff;
    struct mm_dst gu[2] = {{s->hb, ff}, {s->hb2, ff}};
    int rc = mm_group(f, MM_GATE_UP, s->xb, E, gu);
    if (rc)
        return rc;
    f->ff = ff;
    par_rows(f, step_swiglu, 0, f->n);
    struct mm_dst d = {s->xb2, E};
    return mm_group(f, MM_DOWN, s->hb, ff, &d);
}

/* ---- the pass ---- */

static int embed(struct fwd *f, const hy_token *toks)
{
    const struct tensor *e = f->m->tok_embd;
    hy_session *s = f->s;
    int64_t E = f->hp->n_embd;
    for (int t = 0; t < f->n; t++) {
        if (toks[t] < 0 || toks[t] >= (hy_token)e->ne[1]) {
            set_error("token id %d is out of range (vocabulary of %lld)", toks[t], (long long)e->ne[1]);
            return -EINVAL;
        }
        struct wmat w = tensor_wmat(e, e->data);
        if (e->data) {
            op_get_row(&w, toks[t], row(s->x, t, E));
            continue;
        }
        /* the embedding stays on disk: read just this row */
        uint8_t *buf = s->rowbuf;
        int rc = file_read_at(f->m->file, buf, e->row_bytes, e->file_off + (uint64_t)toks[t] * e->row_bytes);
        if (rc)
            return rc;
        w.data = buf;
        op_get_row(&w, 0, row(s->x, t, E));
    }
    return 0;
}

static int layer_forward(struct fwd *f)
{
    hy_session *s = f->s;
    const struct hparams *hp = f->hp;
    int n = f->n, rc;
    int64_t E = hp->n_embd, qd = (int64_t)hp->n_head * hp->head_dim_k;
    int64_t od = (int64_t)hp->n_head * hp->head_dim_v;

    par_rows(f, step_attn_norm, 0, n);
    struct mm_dst qkv[3] = {{s->q, qd}, {s->k, s->kv_dim_k}, {s->v, s->kv_dim_v}};
    if ((rc = mm_group(f, MM_QKV, s->xb, E, qkv)))
        return rc;
    par_rows(f, step_qkv_post, 0, n);
    struct attn_args aa = {
        .out = s->att, .q = s->q, .k = f->kc, .v = f->vc, .n_tok = n, .pos0 = f->pos0,
        .n_head = (int)hp->n_head, .n_head_kv = (int)hp->n_head_kv,
        .head_dim_k = (int)hp->head_dim_k, .head_dim_v = (int)hp->head_dim_v,
        .k_stride = s->kv_dim_k, .v_stride = s->kv_dim_v, .scale = 1.0f / sqrtf((float)hp->head_dim_k),
    };
    op_attention(s->tp, &aa);
    struct mm_dst o = {s->xb2, E};
    if ((rc = mm_group(f, MM_O, s->att, od, &o)))
        return rc;
    par_rows(f, step_ffn_norm, 0, n);
    if ((rc = f->L->gate_inp ? moe_ffn(f) : dense_ffn(f)))
        return rc;
    par_rows(f, step_residual, 0, n);
    return 0;
}

int forward_batch(hy_session *s, const hy_token *toks, int n, bool want_all)
{
    const hy_model *m = s->m;
    const struct hparams *hp = &m->hp;
    if (n < 1 || (uint32_t)n > s->n_batch) {
        set_error("batch of %d tokens (1 to %u allowed)", n, s->n_batch);
        return -EINVAL;
    }
    if ((uint32_t)(s->n_past + n) > s->n_ctx) {
        set_error("context full: %d + %d tokens exceed the context of %u", s->n_past, n, s->n_ctx);
        return -ENOSPC;
    }
    struct fwd f = {.s = s, .m = m, .hp = hp, .n = n, .pos0 = s->n_past};
    f.rope = (struct rope_cfg){.n_rot = (int)hp->n_rot, .neox = hp->rope_type == HY_ROPE_NEOX,
                               .freq_base = hp->rope_freq_base, .freq_scale = hp->rope_freq_scale,
                               .freq_factors = m->rope_factors};
    int rc = embed(&f, toks);
    if (rc)
        return rc;
    for (uint32_t l = 0; l < hp->n_layer; l++) {
        f.L = &m->layers[l];
        f.kc = s->k_cache + (int64_t)l * s->n_ctx * s->kv_dim_k;
        f.vc = s->v_cache + (int64_t)l * s->n_ctx * s->kv_dim_v;
        rc = layer_forward(&f);
        if (rc)
            return rc;
    }
    f.n_out = want_all ? n : 1;
    f.out0 = n - f.n_out;
    par_rows(&f, step_out_norm, f.out0, f.n_out);
    f.n = f.n_out; /* only the rows that need logits go through the head */
    struct mmw lo = {m->output, s->logits, hp->n_vocab};
    if ((rc = mm_w(&f, s->xb, hp->n_embd, &lo, 1)))
        return rc;
    s->n_logits = f.n_out;
    s->n_past += n;
    s->stats.n_eval_tokens += (uint64_t)n;
    return 0;
}

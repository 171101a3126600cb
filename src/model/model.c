/* Model loading: open the GGUF, read hyper-parameters and tokenizer, bind and check every
 * tensor the architecture needs, then place the weights as the plan says (RAM arena,
 * mapped file, or the streamer). See model.h. */
#include "model/model.h"
#include "gguf/gguf.h"
#include "io/file.h"
#include "io/ioq.h"
#include "io/stream.h"
#include "quant/quant.h"
#include "tier/plan_file.h"
#include "tier/roles.h"
#include "tokenizer/tokenizer.h"
#include "util/common.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct hy_model_params hy_model_default_params(void)
{
    struct hy_model_params p = {0};
    p.io = HY_IO_AUTO;
    return p;
}

/* ---- binding tensors ----------------------------------------------------------------- */

static struct tensor *find(hy_model *m, const char *name)
{
    int64_t i = gguf_find_tensor(m->gguf, name);
    return i < 0 ? NULL : &m->tensors[i];
}

/* Look up "blk.L.suffix" (or a global name when layer < 0) and check its shape; ne
 * entries of 0 are not checked, trailing dims must be 1. */
static int bind(hy_model *m, struct tensor **out, int layer, const char *suffix, bool required,
                int64_t ne0, int64_t ne1, int64_t ne2)
{
    char name[128];
    if (layer >= 0)
        snprintf(name, sizeof name, "blk.%d.%s", layer, suffix);
    else
        snprintf(name, sizeof name, "%s", suffix);
    struct tensor *t = find(m, name);
    *out = t;
    if (t)
        t->layer = (int16_t)layer;
    if (!t) {
        if (required) {
            set_error("missing tensor %s", name);
            return -EINVAL;
        }
        return 0;
    }
    if (ne0 <= 0) {
        /* an expected size of 0 would accept any width: the buffers are sized by it */
        set_error("tensor %s: the hyper-parameters give it no size", name);
        return -EINVAL;
    }
    int64_t want[4] = {ne0, ne1 ? ne1 : 1, ne2 ? ne2 : 1, 1};
    for (int d = 0; d < 4; d++)
        if ((want[d] && t->ne[d] != want[d]) || (!want[d] && d > 0 && t->ne[d] != 1)) {
            set_error("tensor %s has shape [%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64
                   "], expected [%" PRId64 ", %" PRId64 ", %" PRId64 "]",
                   name, t->ne[0], t->ne[1], t->ne[2], t->ne[3], ne0, ne1, ne2);
            return -EINVAL;
        }
    const struct type_info *ti = type_info(t->type);
    bool vec = t->ne[1] == 1 && t->ne[2] == 1;
    if (vec && t->type != HY_TYPE_F32) {
        set_error("tensor %s: 1-D tensors must be F32 (got %s)", name, ti->name);
        return -EINVAL;
    }
    if (!vec && !quant_kernels(t->type)) {
        set_error("tensor %s: type %s is not supported for compute", name, ti->name);
        return -EINVAL;
    }
    return 0;
}

/* The FFN of layer l: dense, or (when it has a router) experts as fused 3-D tensors plus,
 * for qwen2moe, a shared expert behind a sigmoid gate. */
static int bind_ffn(hy_model *m, int l)
{
    const struct hparams *hp = &m->hp;
    struct layer *L = &m->layers[l];
    int64_t E = hp->n_embd, X = hp->n_expert, fx = hp->n_ff_exp, fs = hp->n_ff_shexp;
    int rc;
    if (X && (rc = bind(m, &L->gate_inp, l, "ffn_gate_inp.weight", false, E, X, 0)))
        return rc;
    if (!L->gate_inp)
        return (rc = bind(m, &L->ffn_gate, l, "ffn_gate.weight", true, E, hp->n_ff, 0)) ||
               (rc = bind(m, &L->ffn_up, l, "ffn_up.weight", true, E, hp->n_ff, 0)) ||
               (rc = bind(m, &L->ffn_down, l, "ffn_down.weight", true, hp->n_ff, E, 0)) ? rc : 0;
    bool shared = hp->arch == HY_ARCH_QWEN2MOE;
    if ((rc = bind(m, &L->gate_exps, l, "ffn_gate_exps.weight", true, E, fx, X)) ||
        (rc = bind(m, &L->up_exps, l, "ffn_up_exps.weight", true, E, fx, X)) ||
        (rc = bind(m, &L->down_exps, l, "ffn_down_exps.weight", true, fx, E, X)) ||
        (rc = bind(m, &L->gate_inp_shexp, l, "ffn_gate_inp_shexp.weight", shared, E, 0, 0)) ||
        (rc = bind(m, &L->gate_shexp, l, "ffn_gate_shexp.weight", shared, E, fs, 0)) ||
        (rc = bind(m, &L->up_shexp, l, "ffn_up_shexp.weight", shared, E, fs, 0)) ||
        (rc = bind(m, &L->down_shexp, l, "ffn_down_shexp.weight", shared, fs, E, 0)))
        return rc;
    L->gate_exps->xpart = X_GATE;
    L->up_exps->xpart = X_UP;
    L->down_exps->xpart = X_DOWN;
    return 0;
}

static int bind_all(hy_model *m)
{
    const struct hparams *hp = &m->hp;
    int64_t E = hp->n_embd, V = hp->n_vocab, q = (int64_t)hp->n_head * hp->head_dim_k;
    int64_t kd = (int64_t)hp->n_head_kv * hp->head_dim_k, vd = (int64_t)hp->n_head_kv * hp->head_dim_v;
    int64_t od = (int64_t)hp->n_head * hp->head_dim_v;
    int rc;
    if (hp->arch == HY_ARCH_UNKNOWN) {
        set_error("architecture '%s' is not supported (llama, qwen2, qwen3, qwen2moe, qwen3moe are)",
                  hp->arch_name);
        return -ENOTSUP;
    }
    if (hp->n_expert > MOE_MAX_EXPERTS || hp->n_expert_used > MOE_MAX_USED) {
        set_error("%u experts, %u used per token: at most %d and %d are supported", hp->n_expert,
               hp->n_expert_used, MOE_MAX_EXPERTS, MOE_MAX_USED);
        return -ENOTSUP;
    }
    if (hp->head_dim_k > 1024 || hp->head_dim_v > 1024) {
        set_error("head dimension %u is larger than 1024", HY_MAX(hp->head_dim_k, hp->head_dim_v));
        return -EINVAL;
    }
    if ((rc = bind(m, &m->tok_embd, -1, "token_embd.weight", true, E, V, 0)) ||
        (rc = bind(m, &m->output_norm, -1, "output_norm.weight", true, E, 0, 0)) ||
        (rc = bind(m, &m->output, -1, "output.weight", false, E, V, 0)) ||
        (rc = bind(m, &m->rope_freqs, -1, "rope_freqs.weight", false, hp->n_rot / 2, 0, 0)))
        return rc;
    if (!m->output)
        m->output = m->tok_embd; /* tied embeddings */
    bool bias = hp->arch == HY_ARCH_QWEN2 || hp->arch == HY_ARCH_QWEN2MOE;
    bool qk_norm = hp->arch == HY_ARCH_QWEN3 || hp->arch == HY_ARCH_QWEN3MOE;
    for (uint32_t l = 0; l < hp->n_layer; l++) {
        struct layer *L = &m->layers[l];
        int i = (int)l;
        if ((rc = bind(m, &L->attn_norm, i, "attn_norm.weight", true, E, 0, 0)) ||
            (rc = bind(m, &L->wq, i, "attn_q.weight", true, E, q, 0)) ||
            (rc = bind(m, &L->wk, i, "attn_k.weight", true, E, kd, 0)) ||
            (rc = bind(m, &L->wv, i, "attn_v.weight", true, E, vd, 0)) ||
            (rc = bind(m, &L->wo, i, "attn_output.weight", true, od, E, 0)) ||
            (rc = bind(m, &L->bq, i, "attn_q.bias", bias, q, 0, 0)) ||
            (rc = bind(m, &L->bk, i, "attn_k.bias", bias, kd, 0, 0)) ||
            (rc = bind(m, &L->bv, i, "attn_v.bias", bias, vd, 0, 0)) ||
            (rc = bind(m, &L->q_norm, i, "attn_q_norm.weight", qk_norm, hp->head_dim_k, 0, 0)) ||
            (rc = bind(m, &L->k_norm, i, "attn_k_norm.weight", qk_norm, hp->head_dim_k, 0, 0)) ||
            (rc = bind(m, &L->ffn_norm, i, "ffn_norm.weight", true, E, 0, 0)) ||
            (rc = bind_ffn(m, i)))
            return rc;
    }
    return experts_init(m);
}

static int tensors_init(hy_model *m)
{
    int64_t n = gguf_n_tensors(m->gguf);
    m->n_tensors = (int)n;
    m->tensors = calloc(n ? (size_t)n : 1, sizeof *m->tensors);
    if (!m->tensors) {
        set_error("out of memory");
        return -ENOMEM;
    }
    for (int64_t i = 0; i < n; i++) {
        const struct gguf_tensor *g = gguf_tensor(m->gguf, i);
        struct tensor *t = &m->tensors[i];
        const struct type_info *ti = type_info(g->type);
        t->name = g->name;
        t->type = g->type;
        for (int d = 0; d < 4; d++)
            t->ne[d] = (int64_t)g->ne[d];
        t->nbytes = g->nbytes;
        t->file_off = g->offset;
        t->row_bytes = (size_t)type_row_bytes(ti, g->ne[0]);
        t->unit = -1;
        t->layer = -1;
        t->xpart = -1;
        m->weight_bytes += g->nbytes;
    }
    return 0;
}

/* ---- placing weights ----------------------------------------------------------------- */

/* A run of RAM-tier tensors read with one widened direct read. */
struct run {
    uint64_t off, end;       /* wanted bytes in the file */
    struct file_span span;
    size_t arena_off;        /* where span.off lands in the arena */
};

static int cmp_by_off(const void *a, const void *b)
{
    const struct load_piece *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* Tensors closer than this are read as one run (the gap, padding, is read along; the
 * planner reserves it). */
#define LOAD_GAP_MAX PLAN_LAYOUT_GAP
#define LOAD_CHUNK (8u << 20)

/* Read every RAM-tier tensor (and the held experts of fused tensors on disk) into one
 * anonymous arena (not the page cache: memory pressure cannot evict it, and a budgeted
 * run does not grow the cache), by runs of adjacent pieces, with direct I/O at queue
 * depth. */
static int load_arena(hy_model *m)
{
    int n = 0;
    size_t cap = (size_t)m->n_tensors + (size_t)experts_held_pieces(m, NULL) + 1;
    struct load_piece *order = malloc(sizeof *order * cap);
    struct run *runs = malloc(sizeof *runs * cap);
    struct ioq *q = NULL;
    int rc = -ENOMEM, n_runs = 0;
    if (!order || !runs) {
        set_error("out of memory");
        goto out;
    }
    for (int i = 0; i < m->n_tensors; i++) {
        struct tensor *t = &m->tensors[i];
        if (t->tier == TIER_RAM || t->tier == TIER_GPU)
            order[n++] = (struct load_piece){t->file_off, t->nbytes, &t->data};
    }
    n += experts_held_pieces(m, order + n);
    qsort(order, (size_t)n, sizeof *order, cmp_by_off);
    uint32_t align = m->dfile->align ? m->dfile->align : 1;
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        const struct load_piece *t = &order[i];
        struct run *r = n_runs ? &runs[n_runs - 1] : NULL;
        if (r && t->off >= r->off && t->off <= r->end + LOAD_GAP_MAX) {
            r->end = HY_MAX(r->end, t->off + t->len);
            continue;
        }
        runs[n_runs++] = (struct run){.off = t->off, .end = t->off + t->len};
    }
    for (int i = 0; i < n_runs; i++) {
        if ((rc = file_widen(runs[i].off, runs[i].end - runs[i].off, align, &runs[i].span)))
            goto out;
        runs[i].arena_off = total;
        total += HY_ALIGN_UP((size_t)runs[i].span.len, 4096);
    }
    /* the promise, checked before anything is read: what the plan counted is what we
     * hold (the streamer's pool is already laid out) */
    const struct plan *pl = m->plan->pl;
    uint64_t held = total + (m->stream ? stream_pool_bytes(m->stream) : 0) + pl->kv_bytes +
                    pl->compute_bytes;
    if (held > pl->ram_budget) {
        char a[32], b[32];
        set_error("the plan does not fit its budget once laid out (%s needed, budget %s)",
               hy_format_size(held, a, sizeof a), hy_format_size(pl->ram_budget, b, sizeof b));
        rc = -ENOMEM;
        goto out;
    }
    rc = 0;
    if (!total)
        goto out;
    void *a = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (a == MAP_FAILED) {
        char b[32];
        set_error("cannot allocate %s for resident weights", hy_format_size(total, b, sizeof b));
        rc = -ENOMEM;
        goto out;
    }
#ifdef MADV_HUGEPAGE
    madvise(a, total, MADV_HUGEPAGE);
#endif
    m->arena = a;
    m->arena_len = total;
    struct ioq_params qp = ioq_default_params();
    qp.depth = 8;
    if ((rc = ioq_new(&qp, &q)))
        goto out;
    uint64_t file_size = m->dfile->size;
    for (int i = 0; i < n_runs; i++) {
        const struct run *r = &runs[i];
        uint64_t need_end = r->span.skip + (r->end - r->off);
        for (uint64_t o = 0; o < r->span.len; o += LOAD_CHUNK) {
            uint64_t len = HY_MIN((uint64_t)LOAD_CHUNK, r->span.len - o);
            uint64_t need = need_end > o ? HY_MIN(len, need_end - o) : 0;
            if (r->span.off + o >= file_size)
                break; /* widened past the end of the file: nothing there to read */
            struct ioq_req req = {.file = m->dfile, .buf = (uint8_t *)a + r->arena_off + o,
                                  .len = (size_t)len, .need = (size_t)need, .off = r->span.off + o,
                                  .tag = (uint64_t)i, .prio = IOQ_DEMAND};
            if ((rc = ioq_submit(q, &req)))
                goto out;
        }
    }
    struct ioq_cqe cq[32];
    while (ioq_outstanding(q) > 0) {
        int k = ioq_reap(q, cq, 32, 1);
        if (k < 0) {
            rc = k;
            goto out;
        }
        for (int j = 0; j < k; j++)
            if (cq[j].status && !rc) {
                char why[256]; /* set_error must not format its own buffer into itself */
                snprintf(why, sizeof why, "%s", hy_last_error());
                rc = cq[j].status;
                set_error("loading weights: %s", why);
            }
    }
    if (rc)
        goto out;
    /* point every piece into its run */
    for (int i = 0, r = 0; i < n; i++) {
        const struct load_piece *t = &order[i];
        while (!(t->off >= runs[r].off && t->off + t->len <= runs[r].end))
            r++;
        *t->dst = (uint8_t *)a + runs[r].arena_off + runs[r].span.skip + (t->off - runs[r].off);
    }
    if (m->params.mlock && mlock(a, total) != 0)
        LOG_WARN("mlock of %zu bytes failed: resident weights may be swapped", total);
out:
    ioq_free(q);
    free(order);
    free(runs);
    return rc;
}

static int map_file(hy_model *m)
{
    size_t len = (size_t)m->file->size;
    void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, m->file->fd, 0);
    if (p == MAP_FAILED) {
        int e = errno;
        set_error("cannot map the model file: %s", strerror(e));
        return -e;
    }
    m->map = p;
    m->map_len = len;
    for (int i = 0; i < m->n_tensors; i++) {
        m->tensors[i].data = (const uint8_t *)p + m->tensors[i].file_off;
        m->tensors[i].tier = TIER_DISK;
    }
    return 0;
}

/* Disk-tier matrices are streamed in chunks of whole rows, each chunk a unit, numbered by
 * the weight schedule (forward_weight_order), so the streamer reads ahead exactly what
 * comes next. Experts on disk are one unit each (their three slices), read only when the
 * router names them, in hint slots of their own (the plan's expert slots); they are
 * numbered where the schedule puts a layer's experts. The embedding stays on disk and is
 * read by row, unless the output head shares it. */
static int start_streamer(hy_model *m, const struct place_hooks *hooks)
{
    const struct plan *pl = m->plan->pl;
    uint64_t chunk = pl->slot_bytes ? pl->slot_bytes : (16u << 20);
    int cap = forward_weight_order(m, NULL, 0), n_order = 0;
    struct tensor **order = malloc(sizeof *order * (size_t)cap);
    struct stream_tensor *st = NULL;
    uint64_t **dst = NULL;   /* (n) where each stream tensor's place in its slot goes */
    int rc = -ENOMEM, n = 0, n_dense = 0, n_x = 0;
    if (!order)
        goto out;
    forward_weight_order(m, order, cap);
    for (int i = 0; i < cap; i++)
        if (order[i]->tier == TIER_DISK)
            order[n_order++] = order[i];
    if (hooks && hooks->reorder)
        hooks->reorder(m, order, n_order, hooks->user);
    for (int i = 0; i < n_order; i++) {
        struct tensor *t = order[i];
        if (t->xpart >= 0) {
            n_x += t->xpart == X_GATE ? experts_units(m, t->layer, NULL, NULL, 0) : 0;
            continue;
        }
        t->chunk_rows = HY_MAX((int64_t)1, (int64_t)(chunk / t->row_bytes));
        t->n_chunks = (int)((t->ne[1] + t->chunk_rows - 1) / t->chunk_rows);
        n_dense += t->n_chunks;
    }
    rc = 0;
    if (!n_dense && !n_x)
        goto out;
    rc = -ENOMEM;
    size_t n_st = (size_t)n_dense + (size_t)X_PARTS * n_x;
    st = malloc(sizeof *st * n_st);
    dst = malloc(sizeof *dst * n_st);
    m->unit_off = calloc((size_t)(n_dense + n_x), sizeof *m->unit_off);
    if (!st || !dst || !m->unit_off)
        goto out;
    for (int i = 0, u = 0; i < n_order; i++) {
        struct tensor *t = order[i];
        if (t->xpart >= 0) {
            int k = t->xpart == X_GATE ? experts_units(m, t->layer, st + n, dst + n, u) : 0;
            n += X_PARTS * k;
            u += k;
            continue;
        }
        t->unit = u;
        for (int c = 0; c < t->n_chunks; c++, u++, n++) {
            int64_t r0 = (int64_t)c * t->chunk_rows, rows = HY_MIN(t->chunk_rows, t->ne[1] - r0);
            st[n] = (struct stream_tensor){.off = t->file_off + (uint64_t)r0 * t->row_bytes,
                                           .len = (uint64_t)rows * t->row_bytes, .unit = u};
            dst[n] = &m->unit_off[u];
        }
    }
    struct stream_params sp = stream_default_params();
    sp.n_slots = n_dense ? (int)HY_MAX(pl->n_slots, 2u) : 0;
    /* the experts' landing slots, and the memory the plan gives held experts as a cache */
    sp.n_hint_slots = n_x ? (int)HY_MAX(pl->n_expert_slots, 1u) + experts_cache_slots(m, m->dfile->align) : 0;
    sp.prefetch_depth = (int)(pl->prefetch_depth ? pl->prefetch_depth : (uint32_t)sp.n_slots - 1);
    if (pl->io_depth)
        sp.io_depth = pl->io_depth;
    if (pl->io_block)
        sp.chunk_bytes = pl->io_block;
    rc = stream_new_file(&m->stream, m->dfile, st, n, &sp);
    for (int k = 0; !rc && k < n; k++)
        *dst[k] = st[k].unit_off;
out:
    if (rc == -ENOMEM)
        set_error("out of memory");
    free(order);
    free(st);
    free(dst);
    return rc;
}

/* Whether this build computes on a GPU: until the GPU tier runs a forward pass, a plan
 * must not count on one (hy_plan_file still plans with it, for estimates). */
static bool engine_has_gpu(void)
{
    return false;
}

/* The plan for this model with the caller's budgets. A model that fits is planned from
 * the cached (or default) profile; only one that must stream measures the hardware. */
static int make_plan(hy_model *m)
{
    struct hy_plan_params pp = m->params.plan;
    pp.no_gpu |= !engine_has_gpu();
    bool may_measure = !pp.no_measure && !pp.profile;
    struct plan_params plp;
    for (int pass = 0; pass < (may_measure ? 2 : 1); pass++) {
        pp.no_measure = pass == 0;
        int rc = plan_resolve(m->path, &pp, &m->prof, &plp);
        if (!rc) {
            hy_plan_free(m->plan);
            m->plan = NULL;
            /* resolved once for the model: what its sessions get and compute with */
            plp.n_ctx = m->n_ctx;
            plp.n_batch = m->n_batch;
            plp.n_threads = m->n_threads;
            rc = plan_gguf(m->gguf, &m->hp, &plp, &m->prof, &m->plan);
        }
        if (rc)
            return rc;
        bool measured = m->prof.measured && m->prof.disk_measured;
        if (measured || m->plan->pl->mode == PLAN_RESIDENT)
            break;
    }
    return 0;
}

static int place_weights(hy_model *m, const struct place_hooks *hooks)
{
    int rc = make_plan(m);
    if (rc)
        return rc;
    if (m->params.io == HY_IO_MMAP)
        return (rc = map_file(m)) ? rc : experts_finish(m);
    const struct plan *pl = m->plan->pl;
    for (int i = 0; i < m->n_tensors; i++) {
        struct tensor *t = &m->tensors[i];
        t->tier = pl->place[i].tier;
        if (t->tier == TIER_GPU)
            t->tier = TIER_RAM; /* no GPU tier in this build */
        /* vectors (norms, biases, rope factors) are read directly by the forward pass:
         * they stay resident whatever the plan says (they are tiny) */
        if (t->ne[1] == 1 && t->ne[2] == 1)
            t->tier = TIER_RAM;
    }
    if (!m->dfile && (rc = file_open_direct(&m->dfile, m->path)))
        return rc;
    /* the streamer first: its pool's size is part of the budget check before loading */
    if ((rc = start_streamer(m, hooks)) || (rc = load_arena(m)))
        return rc;
    return experts_finish(m);
}

static int load_rope_factors(hy_model *m)
{
    if (!m->rope_freqs)
        return 0;
    size_t n = (size_t)m->rope_freqs->ne[0];
    m->rope_factors = malloc(n * sizeof(float));
    if (!m->rope_factors)
        return -ENOMEM;
    return file_read_at(m->file, m->rope_factors, n * sizeof(float), m->rope_freqs->file_off);
}

/* Undo a placing that failed part way: the model is opened again, nothing else. */
static void unplace(hy_model *m)
{
    stream_free(m->stream);
    m->stream = NULL;
    free(m->unit_off);
    m->unit_off = NULL;
    if (m->arena)
        munmap(m->arena, m->arena_len);
    m->arena = NULL;
    if (m->map)
        munmap(m->map, m->map_len);
    m->map = NULL;
    free(m->rope_factors);
    m->rope_factors = NULL;
    free(m->layers);
    m->layers = NULL;
    free(m->experts);
    m->experts = NULL;
    file_close(m->dfile);
    m->dfile = NULL;
    hy_plan_free(m->plan);
    m->plan = NULL;
    for (int i = 0; i < m->n_tensors; i++) {
        struct tensor *t = &m->tensors[i];
        t->data = NULL;
        t->unit = -1;
        t->n_chunks = 0;
        t->tier = 0;
    }
    m->tok_embd = m->output_norm = m->output = m->rope_freqs = NULL;
}

/* ---- public -------------------------------------------------------------------------- */

int hy_model_open(const char *path, const struct hy_model_params *params, hy_model **out)
{
    *out = NULL;
    hy_clear_error();
    struct hy_model_params dflt = hy_model_default_params();
    const struct hy_model_params *p = params ? params : &dflt;
    hy_model *m = calloc(1, sizeof *m);
    if (!m) {
        set_error("out of memory");
        return -ENOMEM;
    }
    pthread_mutex_init(&m->stream_mu, NULL);
    m->params = *p;
    int rc = -ENOMEM;
    if (!(m->path = strdup(path)))
        goto fail;
    if ((rc = file_open(&m->file, path)) || (rc = gguf_open(&m->gguf, m->file)))
        goto fail;
    /* an unknown architecture still opens for inspection; placing it fails */
    m->hp_rc = hparams_load(&m->hp, m->gguf);
    if (m->hp_rc && !p->header_only) {
        rc = m->hp_rc;
        goto fail;
    }
    if ((rc = tensors_init(m)))
        goto fail;
    /* a file without a vocabulary still runs from token ids (logits) */
    if (!p->header_only && gguf_find_key(m->gguf, "tokenizer.ggml.model") >= 0 &&
        (rc = tokenizer_load(&m->tok, m->gguf)))
        goto fail;
    *out = m;
    return 0;
fail:
    hy_model_free(m);
    return rc ? rc : -EINVAL;
}

int model_place(hy_model *m, const struct hy_model_params *params, const struct place_hooks *hooks)
{
    hy_clear_error();
    struct file *dfile = hooks ? hooks->dfile : NULL;
    if (m->plan || m->map) {
        file_close(dfile);
        set_error("the model is placed already");
        return -EINVAL;
    }
    if (m->hp_rc) {
        file_close(dfile);
        set_error("%s: cannot run it: its hyper-parameters could not be read", m->path);
        return m->hp_rc;
    }
    m->params = params ? *params : hy_model_default_params();
    const struct hy_plan_params *pp = &m->params.plan;
    int rc = experts_check_params(&m->params);
    if (rc) {
        file_close(dfile);
        return rc;
    }
    m->dfile = dfile; /* the model's now, also on failure */
    m->n_threads = pp->n_threads > 0 ? pp->n_threads : cpu_features()->n_cores;
    if (!(m->layers = calloc(m->hp.n_layer, sizeof *m->layers))) {
        set_error("out of memory");
        rc = -ENOMEM;
        goto fail;
    }
    if ((rc = bind_all(m)))
        goto fail;
    uint32_t train = m->hp.n_ctx_train ? m->hp.n_ctx_train : 4096;
    m->n_ctx = pp->n_ctx ? pp->n_ctx : HY_MIN(train, 4096u);
    m->n_batch = HY_MIN(pp->n_batch ? pp->n_batch : 512u, m->n_ctx);
    if ((rc = place_weights(m, hooks)) || (rc = load_rope_factors(m)))
        goto fail;
    return 0;
fail:
    unplace(m);
    return rc ? rc : -EINVAL;
}

int hy_model_place(hy_model *m, const struct hy_model_params *p)
{
    return model_place(m, p, NULL);
}

bool hy_model_is_placed(const hy_model *m)
{
    return m->plan != NULL || m->map != NULL;
}

int hy_model_load(const char *path, const struct hy_model_params *params, hy_model **out)
{
    return model_load_file(path, params, NULL, out);
}

int model_load_file(const char *path, const struct hy_model_params *params,
                    const struct place_hooks *hooks, hy_model **out)
{
    *out = NULL;
    hy_model *m;
    int rc = hy_model_open(path, params, &m);
    if (rc) {
        if (hooks)
            file_close(hooks->dfile);
        return rc;
    }
    if ((rc = model_place(m, params, hooks))) {
        hy_model_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

void hy_model_free(hy_model *m)
{
    if (!m)
        return;
    unplace(m);
    tokenizer_free(m->tok);
    free(m->tensors);
    gguf_free(m->gguf);
    file_close(m->file);
    free(m->path);
    pthread_mutex_destroy(&m->stream_mu);
    free(m);
}

void hy_model_describe(const hy_model *m, struct hy_model_desc *d)
{
    const struct hparams *hp = &m->hp;
    memset(d, 0, sizeof *d);
    d->arch = hp->arch_name;
    const char *name = gguf_get_str(m->gguf, "general.name", NULL);
    d->name = name ? name : "";
    d->n_vocab = (int)hp->n_vocab;
    d->n_layer = (int)hp->n_layer;
    d->n_embd = (int)hp->n_embd;
    d->n_head = (int)hp->n_head;
    d->n_head_kv = (int)hp->n_head_kv;
    d->head_dim = (int)hp->head_dim_k;
    d->n_ff = (int)hp->n_ff;
    d->n_expert = (int)hp->n_expert;
    d->n_expert_used = (int)hp->n_expert_used;
    d->n_ctx_train = hp->n_ctx_train;
    for (int i = 0; i < m->n_tensors; i++) {
        const struct tensor *t = &m->tensors[i];
        d->n_params += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
    }
    d->weight_bytes = m->weight_bytes;
}

uint64_t hy_model_ram_budget(const hy_model *m)
{
    return m->plan ? m->plan->pl->ram_budget : m->params.plan.ram_budget;
}

const struct hy_plan *hy_model_plan(const hy_model *m)
{
    return m->plan;
}

void hy_model_predicted(const hy_model *m, double *prompt_tps, double *decode_tps)
{
    *prompt_tps = m->plan ? m->plan->pl->pred.prompt_tps : 0;
    *decode_tps = m->plan ? m->plan->pl->pred.decode_tps : 0;
}

void hy_model_disk_ceiling(const hy_model *m, double *must_bytes, double *disk_bw)
{
    *must_bytes = *disk_bw = 0;
    if (!m->plan)
        return;
    const struct plan *pl = m->plan->pl;
    uint64_t per_token = 0;
    for (int i = 0; i < m->n_tensors; i++)
        if (&m->tensors[i] != m->tok_embd || m->output == m->tok_embd)
            per_token += m->tensors[i].nbytes;
    uint64_t room = pl->ram_budget > pl->kv_bytes + pl->compute_bytes
                        ? pl->ram_budget - pl->kv_bytes - pl->compute_bytes : 0;
    *must_bytes = per_token > room ? (double)(per_token - room) : 0;
    *disk_bw = m->prof.disk_bw;
}

int hy_drop_page_cache(const char *path)
{
    return file_drop_cache(path);
}

int64_t hy_model_meta_count(const hy_model *m)
{
    return gguf_n_kv(m->gguf);
}

const char *hy_model_meta(const hy_model *m, int64_t i, char *val, size_t cap)
{
    const char *k = gguf_kv_key(m->gguf, i);
    if (k && val)
        gguf_kv_format(m->gguf, i, val, cap);
    return k;
}

const char *hy_model_meta_str(const hy_model *m, const char *key)
{
    return gguf_get_str(m->gguf, key, NULL);
}

int hy_model_tensor_count(const hy_model *m)
{
    return m->n_tensors;
}

int hy_model_tensor_info(const hy_model *m, int i, struct hy_tensor_info *out)
{
    if (i < 0 || i >= m->n_tensors)
        return -EINVAL;
    const struct gguf_tensor *g = gguf_tensor(m->gguf, i);
    memset(out, 0, sizeof *out);
    out->name = g->name;
    out->type = type_name(g->type);
    out->n_dims = (int)g->n_dims;
    for (int d = 0; d < 4; d++)
        out->ne[d] = (int64_t)g->ne[d];
    out->bytes = g->nbytes;
    out->offset = g->offset;
    struct tensor_role r;
    /* hyper-parameters may be missing (a header-only load of an unknown architecture):
     * classify by name and shape alone then */
    if (role_classify(g->name, g->ne, g->nbytes, m->hp.n_layer ? &m->hp : NULL, &r) == 0) {
        out->role = role_name(r.role);
        out->layer = r.layer;
    } else {
        out->role = "?";
        out->layer = -1;
    }
    return 0;
}

uint64_t hy_model_bytes_read(const hy_model *m)
{
    return m->file->bytes_read + (m->dfile ? m->dfile->bytes_read : 0);
}

/* ---- tokens ---- */

static int need_tok(const hy_model *m)
{
    if (m->tok)
        return 0;
    set_error("the model has no tokenizer");
    return -EINVAL;
}

int hy_tokenize(const hy_model *m, const char *text, size_t len, bool add_special,
                bool parse_special, hy_token *out, int n_max)
{
    int rc = need_tok(m);
    return rc ? rc : tokenizer_encode(m->tok, text, len, add_special, parse_special, out, n_max);
}

int hy_token_to_piece(const hy_model *m, hy_token t, bool render_special, char *buf, int cap)
{
    int rc = need_tok(m);
    return rc ? rc : tokenizer_piece(m->tok, t, render_special, buf, cap);
}

bool hy_token_is_eog(const hy_model *m, hy_token t)
{
    return m->tok && tokenizer_is_eog(m->tok, t);
}

hy_token hy_token_bos(const hy_model *m)
{
    return m->tok ? tokenizer_bos(m->tok) : -1;
}

hy_token hy_token_eos(const hy_model *m)
{
    return m->tok ? tokenizer_eos(m->tok) : -1;
}

int hy_detok_new(const hy_model *m, bool render_special, hy_detok **out)
{
    *out = NULL;
    int rc = need_tok(m);
    return rc ? rc : detok_new((struct detok **)out, m->tok, render_special);
}

void hy_detok_free(hy_detok *d)
{
    detok_free((struct detok *)d);
}

int hy_detok_push(hy_detok *d, hy_token t, const char **text, size_t *len)
{
    return detok_push((struct detok *)d, t, text, len);
}

void hy_detok_flush(hy_detok *d, const char **text, size_t *len)
{
    detok_flush((struct detok *)d, text, len);
}

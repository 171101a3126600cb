/* The estimator: the planner's cost model evaluated on a placement. See cost.h.
 *
 * Per token the layers run in order; each step's compute takes max(bytes / memory
 * bandwidth, FLOPs / compute rate) on its device. Streamed units (a layer's FFN, a whole
 * layer, the output head) are read from disk into a pool of slots in consumption order,
 * each read starting as soon as a slot is free (the unit n_slots earlier has been
 * computed), so prefetch overlaps the compute of earlier layers; compute waits (stalls)
 * when its unit has not arrived. Expert slices are known only after the router, so
 * missed slices are demand reads that go ahead of prefetch reads; the experts already
 * held are computed while they arrive. The pipeline is simulated over a few tokens and
 * the steady-state period is the time per token. Prompt batches are the same pipeline
 * with matrix-matrix costs, weights read once per batch.
 *
 * Not modelled (said here so nobody trusts it further than this): speculative expert
 * prefetch (no credit taken), shipping streamed weights to the GPU (streamed units are
 * computed by the CPU from their slot), contention between prefetch reads and compute
 * for memory bandwidth. */
#include "tier/cost.h"
#include "arch/hparams.h"
#include "quant/types.h"
#include "tier/profile.h"
#include "util/common.h"
#include "util/log.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Fixed per-operation overheads (thread barrier on the CPU, kernel launch on the GPU),
 * and the latency of handing activations between CPU and GPU. */
#define CPU_OP_S 1e-6
#define GPU_OP_S 5e-6
#define XFER_LAT_S 10e-6

static double elements(const struct plan_tensor_in *t)
{
    double n = 1;
    for (int d = 0; d < 4; d++)
        n *= (double)(t->ne[d] ? t->ne[d] : 1);
    if (n <= 1 && t->bytes > 64)
        n = (double)t->bytes * 2; /* shape not given: about 4 bits per weight */
    return n;
}

/* Compute time of reading `bytes` of weights for `flops` of work, on each device. */
static void cost_add(struct cost_time *ct, const struct hy_profile *prof, double bytes_dec,
                     double flops_dec, double bytes_pp, double flops_pp)
{
    double mv = profile_cpu_matvec_flops(prof), mm = profile_cpu_matmul_flops(prof);
    ct->cpu_dec += fmax(bytes_dec / prof->mem_bw, flops_dec / mv) + CPU_OP_S;
    ct->cpu_pp += fmax(bytes_pp / prof->mem_bw, flops_pp / mm) + CPU_OP_S;
    if (prof->has_gpu && prof->gpu_mem_bw > 0 && prof->gpu_flops > 0) {
        ct->gpu_dec += fmax(bytes_dec / prof->gpu_mem_bw, flops_dec / prof->gpu_flops) + GPU_OP_S;
        ct->gpu_pp += fmax(bytes_pp / prof->gpu_mem_bw, flops_pp / prof->gpu_flops) + GPU_OP_S;
    } else {
        ct->gpu_dec = ct->gpu_pp = INFINITY;
    }
}

uint64_t plan_compute_bytes(const struct hparams *hp, uint32_t n_ctx, uint32_t n_batch,
                            int n_threads)
{
    uint64_t n = n_batch ? n_batch : 1;
    uint64_t q = (uint64_t)hp->n_head * hp->head_dim_k;
    uint64_t kv = (uint64_t)hp->n_head_kv * (hp->head_dim_k + hp->head_dim_v);
    uint64_t o = (uint64_t)hp->n_head * hp->head_dim_v;
    uint64_t ff = HY_MAX(hp->n_ff, HY_MAX(hp->n_ff_exp, hp->n_ff_shexp));
    uint64_t wide = HY_MAX((uint64_t)hp->n_embd, ff);
    /* f32 activations per token: residual, normed input, q, k, v, attention output,
     * gate and up (or one expert's), router logits */
    uint64_t act = n * (3ull * hp->n_embd + q + kv + o + 2 * ff + hp->n_expert) * 4;
    /* experts: per token the k choices, weights and weighted outputs, one expert's tokens
     * in and out, the shared expert's gate; per expert its place in the grouping */
    if (hp->n_expert)
        act += n * ((uint64_t)hp->n_expert_used * (hp->n_embd + 3) + 2ull * hp->n_embd + 1) * 4 +
               (hp->n_expert + 1ull) * 8;
    /* activations quantized to the weights' partner type (at most ~1.1 bytes/value,
     * two buffers) */
    uint64_t quant = n * wide * 2 + n * 64;
    /* attention scores: per thread one tile of 8 query rows over the context */
    uint64_t th = n_threads > 0 ? (uint64_t)n_threads : 1;
    uint64_t att = th * ((uint64_t)n_ctx + n) * 4 * 8;
    /* logits of the last token and the sampler's scratch */
    uint64_t logits = (uint64_t)hp->n_vocab * 4 * 3;
    return act + quant + att + logits + (16ull << 20);
}

void cost_model_free(struct cost_model *cm)
{
    if (!cm)
        return;
    free(cm->layer);
    free(cm->freq_store);
    free(cm->t_kind);
    free(cm->t_layer);
    memset(cm, 0, sizeof *cm);
}

/* An expert tensor of layer L: one expert's own (its slice is the whole tensor, counted
 * once, from expert 0) or all of the layer's experts fused (a slice is expert_bytes of
 * it). A slice's prompt cost reads its weights once per batch: that part is kept apart
 * in slice_pp_read_*. */
static int add_expert_tensor(struct cost_model *cm, struct cost_layer *L,
                             const struct plan_tensor_in *t, double el)
{
    const struct hy_profile *prof = cm->prof;
    const struct tensor_role *r = &t->role;
    double b = (double)t->bytes;
    uint32_t ne = r->n_expert ? r->n_expert : 1;
    if (r->expert >= 0) {
        /* one tensor per expert: its slice is the whole tensor */
        if (!cm->n_expert) {
            set_error("tensor '%s' is an expert tensor in a model without experts", t->name);
            return -EINVAL;
        }
        L->exp_bytes += t->bytes;
        if (r->expert == 0) {
            L->slice_bytes += t->bytes;
            cost_add(&L->slice, prof, b, 2 * el, 0, 2 * el);
            L->slice_pp_read_cpu += b / prof->mem_bw;
            L->slice_pp_read_gpu += prof->has_gpu && prof->gpu_mem_bw > 0 ? b / prof->gpu_mem_bw : INFINITY;
        }
        L->n_expert = cm->n_expert;
        return 0;
    }
    if (cm->n_expert && ne != cm->n_expert) {
        set_error("tensor '%s' holds %u experts, the model %u", t->name, ne, cm->n_expert);
        return -EINVAL;
    }
    if (!cm->n_expert) {
        set_error("tensor '%s' is an expert tensor in a model without experts", t->name);
        return -EINVAL;
    }
    double sb = (double)r->expert_bytes, sel = el / ne;
    L->n_expert = ne;
    L->exp_bytes += t->bytes;
    L->slice_bytes += r->expert_bytes;
    cost_add(&L->slice, prof, sb, 2 * sel, 0, 2 * sel);
    L->slice_pp_read_cpu += sb / prof->mem_bw;
    L->slice_pp_read_gpu += prof->has_gpu && prof->gpu_mem_bw > 0 ? sb / prof->gpu_mem_bw : INFINITY;
    return 0;
}

/* Tensor i joins its group (enum cost_kind): its bytes to the group's total, its compute
 * to the group's cost on each device. */
static int add_tensor(struct cost_model *cm, int i)
{
    const struct hparams *hp = cm->hp;
    const struct hy_profile *prof = cm->prof;
    const uint32_t nb = cm->n_batch;
    const struct plan_tensor_in *t = &cm->t[i];
    const struct tensor_role *r = &t->role;
    int l = r->layer;
    if (l >= cm->n_layer) {
        set_error("tensor '%s' belongs to layer %d but the model has %d", t->name ? t->name : "?",
               l, cm->n_layer);
        return -EINVAL;
    }
    cm->t_layer[i] = l;
    double el = elements(t), b = (double)t->bytes;
    enum role_group g = role_group(r->role);
    if (r->role == ROLE_TOKEN_EMBD) {
        uint64_t rows = t->ne[1] ? t->ne[1] : (hp->n_vocab ? hp->n_vocab : 1);
        cm->embd_row_bytes = t->bytes / rows;
        if (cm->tied) {
            cm->t_kind[i] = CK_HEAD;
            cm->head_bytes += t->bytes;
            cost_add(&cm->head, prof, b, 2 * el, b, 2 * el);
        } else {
            cm->t_kind[i] = CK_EMBD;
            cm->embd_bytes += t->bytes;
        }
        return 0;
    }
    if (role_is_vector(r->role) || (r->role == ROLE_OTHER && t->ne[1] <= 1 && t->bytes < (1u << 20))) {
        cm->t_kind[i] = CK_VEC;
        if (l >= 0)
            cm->layer[l].vec_bytes += t->bytes;
        else
            cm->glob_vec_bytes += t->bytes;
        return 0;
    }
    if (l < 0) {
        /* output head and any other global matrix: read by every token once */
        cm->t_kind[i] = CK_HEAD;
        cm->head_bytes += t->bytes;
        cost_add(&cm->head, prof, b, 2 * el, b, 2 * el);
        return 0;
    }
    struct cost_layer *L = &cm->layer[l];
    if (g == RGROUP_EXPERT) {
        cm->t_kind[i] = CK_EXPERT;
        return add_expert_tensor(cm, L, t, el);
    }
    if (g == RGROUP_FFN) {
        cm->t_kind[i] = CK_FFN;
        L->ffn_bytes += t->bytes;
        cost_add(&L->ffn, prof, b, 2 * el, b, 2 * el * nb);
    } else {
        cm->t_kind[i] = CK_ATTN;
        L->attn_bytes += t->bytes;
        cost_add(&L->attn, prof, b, 2 * el, b, 2 * el * nb);
    }
    return 0;
}

/* What the context costs: attention over the KV cache per layer (on the device of the
 * attention), the KV cache itself, the compute buffers, the run layout, and handing the
 * activations between CPU and GPU. */
static void add_context(struct cost_model *cm, const struct plan_params *p)
{
    const struct hparams *hp = cm->hp;
    const struct hy_profile *prof = cm->prof;
    const uint32_t nb = cm->n_batch;
    const double pos = p->pred_pos ? p->pred_pos : 256;
    /* attention over the KV cache, per layer, on the device of the attention */
    uint64_t kv_tok = hparams_kv_bytes_per_token(hp) / hp->n_layer;
    double att_fl = 2.0 * hp->n_head * (hp->head_dim_k + hp->head_dim_v);
    /* every sequence the plan serves (hy_plan_params.n_seq) has its own KV cache and
     * compute buffers; the speed predicted is one sequence's */
    const uint64_t n_seq = p->n_seq ? p->n_seq : 1;
    for (int l = 0; l < cm->n_layer; l++) {
        struct cost_layer *L = &cm->layer[l];
        L->kv_bytes = kv_tok * cm->n_ctx * n_seq;
        cost_add(&L->attn, prof, (double)kv_tok * pos, att_fl * pos, (double)kv_tok * nb,
                 att_fl * nb * (nb / 2.0));
    }
    cm->kv_bytes = hparams_kv_bytes_per_token(hp) * cm->n_ctx * n_seq;
    cm->compute_bytes = plan_compute_bytes(hp, cm->n_ctx, nb, p->n_threads) * n_seq;
    /* every tensor may be a run of its own; slots: the pool's and the experts' */
    cm->layout_bytes = ((uint64_t)cm->n_tensors + 16 + hp->n_expert_used) * PLAN_LAYOUT_PER_RUN;
    cm->gpu_compute_bytes = prof->has_gpu ? cm->compute_bytes : 0;
    double h2d = prof->has_gpu && prof->gpu_h2d_bw > 0 ? prof->gpu_h2d_bw : 1e10;
    cm->xfer_s_dec = XFER_LAT_S + (double)hp->n_embd * 4 / h2d;
    cm->xfer_s_pp = XFER_LAT_S + (double)hp->n_embd * 4 * nb / h2d;
}

/* Expert routing frequencies per layer: measured ((n_layer, n_expert), each clamped to
 * [0, 1]), or uniform k/E when measured is NULL. Nothing to do without experts. */
static int set_expert_freq(struct cost_model *cm, const float *measured)
{
    if (!cm->n_expert)
        return 0;
    if (!cm->n_expert_used) {
        set_error("the model has %u experts but uses none per token", cm->n_expert);
        return -EINVAL;
    }
    cm->freq_store = malloc((size_t)cm->n_layer * cm->n_expert * sizeof(float));
    if (!cm->freq_store) {
        set_error("out of memory");
        return -ENOMEM;
    }
    for (int l = 0; l < cm->n_layer; l++) {
        float *f = cm->freq_store + (size_t)l * cm->n_expert;
        for (uint32_t e = 0; e < cm->n_expert; e++) {
            float v = (float)cm->n_expert_used / (float)cm->n_expert;
            if (measured) {
                v = measured[(size_t)l * cm->n_expert + e];
                if (!(v >= 0))
                    v = 0;
                if (v > 1)
                    v = 1;
            }
            f[e] = v;
        }
        cm->layer[l].freq = f;
    }
    return 0;
}

int cost_model_init(struct cost_model *cm, const struct plan_input *in,
                    const struct hy_profile *prof, const struct plan_params *p)
{
    memset(cm, 0, sizeof *cm);
    const struct hparams *hp = in->hp;
    if (!hp || hp->n_layer == 0 || hp->n_layer > 4096 || in->n_tensors <= 0 || !in->t) {
        set_error("no model to plan (no hyper-parameters or no tensors)");
        return -EINVAL;
    }
    if (!(prof->mem_bw > 0) || !(prof->cpu_flops > 0) || !(prof->disk_bw > 0) ||
        !(prof->disk_iops_qd1 > 0)) {
        set_error("the hardware profile lacks memory, compute or disk figures");
        return -EINVAL;
    }
    if (prof->has_gpu && !(prof->gpu_mem_bw > 0 && prof->gpu_flops > 0)) {
        set_error("the hardware profile has a GPU without memory bandwidth or compute figures");
        return -EINVAL;
    }
    cm->hp = hp;
    cm->prof = prof;
    cm->n_layer = (int)hp->n_layer;
    cm->n_expert = hp->n_expert;
    cm->n_expert_used = hp->n_expert_used;
    cm->n_ctx = p->n_ctx ? p->n_ctx : HY_MIN(hp->n_ctx_train ? hp->n_ctx_train : 4096, 4096);
    cm->n_batch = p->n_batch ? p->n_batch : 512;
    cm->io_block = prof->disk_block ? prof->disk_block : (1u << 20);
    cm->io_depth = prof->disk_depth ? prof->disk_depth : 8;
    /* chunks several times the bytes the disk keeps in flight, so reads stay long and
     * few; small enough that the pool costs little of the budget */
    cm->chunk_bytes = HY_MAX((uint64_t)16 << 20, 4ull * cm->io_block * cm->io_depth);
    cm->n_tensors = in->n_tensors;
    cm->t = in->t;
    cm->layer = calloc(hp->n_layer, sizeof *cm->layer);
    cm->t_kind = calloc((size_t)in->n_tensors, sizeof *cm->t_kind);
    cm->t_layer = calloc((size_t)in->n_tensors, sizeof *cm->t_layer);
    if (!cm->layer || !cm->t_kind || !cm->t_layer) {
        set_error("out of memory");
        cost_model_free(cm);
        return -ENOMEM;
    }

    bool have_output = false;
    for (int i = 0; i < in->n_tensors; i++)
        if (in->t[i].role.role == ROLE_OUTPUT)
            have_output = true;
    cm->tied = !have_output;

    int rc = 0;
    for (int i = 0; i < in->n_tensors && !rc; i++)
        rc = add_tensor(cm, i);
    if (!rc) {
        add_context(cm, p);
        rc = set_expert_freq(cm, in->expert_freq);
    }
    if (rc)
        cost_model_free(cm);
    return rc;
}

int placement_alloc(struct placement *pc, const struct cost_model *cm)
{
    memset(pc, 0, sizeof *pc);
    size_t nx = (size_t)cm->n_layer * (cm->n_expert ? cm->n_expert : 1);
    pc->attn_tier = calloc((size_t)cm->n_layer, 1);
    pc->ffn_tier = calloc((size_t)cm->n_layer, 1);
    pc->x_tier = calloc(nx, 1);
    pc->t_keep = calloc((size_t)cm->n_tensors + 1, 1);
    pc->ffn_kept = calloc((size_t)cm->n_layer, sizeof *pc->ffn_kept);
    if (!pc->attn_tier || !pc->ffn_tier || !pc->x_tier || !pc->t_keep || !pc->ffn_kept) {
        placement_free(pc);
        set_error("out of memory");
        return -ENOMEM;
    }
    return 0;
}

void placement_free(struct placement *pc)
{
    if (!pc)
        return;
    free(pc->attn_tier);
    free(pc->ffn_tier);
    free(pc->x_tier);
    free(pc->t_keep);
    free(pc->ffn_kept);
    memset(pc, 0, sizeof *pc);
}

void placement_copy(struct placement *dst, const struct placement *src, const struct cost_model *cm)
{
    size_t nx = (size_t)cm->n_layer * (cm->n_expert ? cm->n_expert : 1);
    memcpy(dst->attn_tier, src->attn_tier, (size_t)cm->n_layer);
    memcpy(dst->ffn_tier, src->ffn_tier, (size_t)cm->n_layer);
    memcpy(dst->x_tier, src->x_tier, nx);
    memcpy(dst->t_keep, src->t_keep, (size_t)cm->n_tensors);
    memcpy(dst->ffn_kept, src->ffn_kept, (size_t)cm->n_layer * sizeof *dst->ffn_kept);
    dst->head_tier = src->head_tier;
    dst->embd_tier = src->embd_tier;
    dst->n_slots = src->n_slots;
    dst->slot_bytes = src->slot_bytes;
    dst->n_xslots = src->n_xslots;
    dst->xslot_bytes = src->xslot_bytes;
}

static bool layer_on_gpu(const struct placement *pc, int l)
{
    return pc->attn_tier[l] == TIER_GPU;
}

void cost_tier_bytes(const struct cost_model *cm, const struct placement *pc, uint64_t out[3])
{
    out[0] = out[1] = out[2] = 0;
    for (int l = 0; l < cm->n_layer; l++) {
        const struct cost_layer *L = &cm->layer[l];
        out[layer_on_gpu(pc, l) ? TIER_GPU : TIER_RAM] += L->vec_bytes;
        out[pc->attn_tier[l]] += L->attn_bytes;
        out[pc->ffn_tier[l]] += L->ffn_bytes - pc->ffn_kept[l];
        out[TIER_RAM] += pc->ffn_kept[l];
        for (uint32_t e = 0; e < L->n_expert; e++)
            out[pc->x_tier[(size_t)l * cm->n_expert + e]] += L->exp_bytes / L->n_expert;
        if (L->n_expert)
            out[TIER_DISK] += L->exp_bytes % L->n_expert; /* rounding: never happens for real files */
    }
    out[TIER_RAM] += cm->glob_vec_bytes;
    out[pc->head_tier] += cm->head_bytes;
    out[pc->embd_tier] += cm->embd_bytes;
}

void cost_usage(const struct cost_model *cm, const struct placement *pc, uint64_t *ram,
                uint64_t *vram)
{
    uint64_t tb[3];
    cost_tier_bytes(cm, pc, tb);
    uint64_t r = tb[TIER_RAM] + cm->compute_bytes + cm->layout_bytes, v = tb[TIER_GPU];
    bool gpu_used = tb[TIER_GPU] > 0;
    for (int l = 0; l < cm->n_layer; l++) {
        if (layer_on_gpu(pc, l))
            v += cm->layer[l].kv_bytes;
        else
            r += cm->layer[l].kv_bytes;
    }
    if (gpu_used)
        v += cm->gpu_compute_bytes;
    r += (uint64_t)pc->n_slots * pc->slot_bytes + (uint64_t)pc->n_xslots * pc->xslot_bytes;
    *ram = r;
    *vram = v;
}

/* ---- the pipeline simulation ---------------------------------------------------------- */

struct sim_step {
    double c_pre;       /* compute before the demand point (router) */
    double dem_d;       /* demand read seconds after c_pre (0: none) */
    double c_ovl;       /* compute that overlaps the demand read */
    double c_post;      /* compute that needs the demand read */
    int need;           /* unit (index within a cycle) that must be loaded first, or -1 */
    int release;        /* unit whose slot is free after this step, or -1 */
    int dev;            /* enum plan_device */
};

struct sim {
    struct sim_step *st;
    int n_st, cap_st;
    double *unit_d;     /* (n_unit) read seconds of each unit */
    uint64_t *unit_b;
    int n_unit, cap_unit;
    double dem_bytes;   /* expected demand-read bytes per cycle */
};

static int sim_step_add(struct sim *s, struct sim_step st)
{
    if (s->n_st == s->cap_st) {
        int nc = s->cap_st ? 2 * s->cap_st : 64;
        struct sim_step *p = realloc(s->st, (size_t)nc * sizeof *p);
        if (!p)
            return -ENOMEM;
        s->st = p;
        s->cap_st = nc;
    }
    s->st[s->n_st++] = st;
    return 0;
}

static int sim_unit_add(struct sim *s, double d, uint64_t bytes)
{
    if (s->n_unit == s->cap_unit) {
        int nc = s->cap_unit ? 2 * s->cap_unit : 64;
        double *p = realloc(s->unit_d, (size_t)nc * sizeof *p);
        if (!p)
            return -ENOMEM;
        s->unit_d = p;
        uint64_t *q = realloc(s->unit_b, (size_t)nc * sizeof *q);
        if (!q)
            return -ENOMEM;
        s->unit_b = q;
        s->cap_unit = nc;
    }
    s->unit_d[s->n_unit] = d;
    s->unit_b[s->n_unit] = bytes;
    return s->n_unit++;
}

static void sim_free(struct sim *s)
{
    free(s->st);
    free(s->unit_d);
    free(s->unit_b);
}

struct sim_result {
    double period;      /* seconds per cycle, steady state */
    double stall;       /* seconds per cycle compute waited on reads */
    double cpu, gpu;    /* compute seconds per cycle on each device */
    double xfer;        /* activation hand-overs per cycle */
    double disk;        /* seconds per cycle the disk is busy */
};

/* Run n_cycles of the step sequence; report the average of the last two. */
static int sim_run(const struct sim *s, uint32_t n_slots, double xfer_s, struct sim_result *res)
{
    enum { N_CYC = 4 };
    memset(res, 0, sizeof *res);
    int U = s->n_unit;
    if (U > 0 && n_slots == 0)
        n_slots = 1;
    if (n_slots > (uint32_t)U)
        n_slots = (uint32_t)U;
    int total = U * N_CYC;
    double *done = NULL;
    if (total > 0) {
        done = malloc((size_t)total * sizeof *done);
        if (!done)
            return -ENOMEM;
    }
    double disk_free = 0;
    int next = 0;           /* next unit to schedule */
    int first_pending = 0;  /* units before this one have been consumed */
    for (; next < (int)n_slots && next < total; next++) {
        done[next] = disk_free + s->unit_d[next % U];
        disk_free = done[next];
    }
    double ct = 0, cyc_end[N_CYC], stall[N_CYC], cpu = 0, gpu = 0, xfer = 0;
    int prev_dev = -1;
    for (int c = 0; c < N_CYC; c++) {
        stall[c] = 0;
        for (int i = 0; i < s->n_st; i++) {
            const struct sim_step *st = &s->st[i];
            if (st->need >= 0) {
                int j = c * U + st->need;
                if (done[j] > ct) {
                    stall[c] += done[j] - ct;
                    ct = done[j];
                }
            }
            if (prev_dev >= 0 && st->dev != prev_dev) {
                ct += xfer_s;
                if (c >= N_CYC - 2)
                    xfer += xfer_s;
            }
            prev_dev = st->dev;
            double comp = st->c_pre + st->c_ovl + st->c_post;
            if (c >= N_CYC - 2) {
                if (st->dev == DEVICE_GPU)
                    gpu += comp;
                else
                    cpu += comp;
            }
            ct += st->c_pre;
            if (st->dem_d > 0) {
                /* a demand read goes first: reads of the prefetch queue still in
                 * flight finish that much later */
                for (int j = first_pending; j < next; j++)
                    if (done[j] > ct)
                        done[j] += st->dem_d;
                disk_free = disk_free > ct ? disk_free + st->dem_d : ct + st->dem_d;
                double dem_done = ct + st->dem_d, t = ct + st->c_ovl;
                if (dem_done > t)
                    stall[c] += dem_done - t;
                ct = fmax(t, dem_done) + st->c_post;
            } else {
                ct += st->c_ovl + st->c_post;
            }
            if (st->release >= 0) {
                int j = c * U + st->release;
                if (j + 1 > first_pending)
                    first_pending = j + 1;
                int k = j + (int)n_slots;
                if (k < total && k == next) {
                    double start = fmax(ct, disk_free);
                    done[k] = start + s->unit_d[k % U];
                    disk_free = done[k];
                    next++;
                }
            }
        }
        cyc_end[c] = ct;
    }
    free(done);
    res->period = (cyc_end[N_CYC - 1] - cyc_end[N_CYC - 3]) / 2;
    res->stall = (stall[N_CYC - 1] + stall[N_CYC - 2]) / 2;
    res->cpu = cpu / 2;
    res->gpu = gpu / 2;
    res->xfer = xfer / 2;
    double dsum = 0;
    for (int u = 0; u < U; u++)
        dsum += s->unit_d[u];
    for (int i = 0; i < s->n_st; i++)
        dsum += s->st[i].dem_d;
    res->disk = dsum;
    return 0;
}

/* Seconds for the expected `m` demand reads of slices of `slice` bytes (each in three
 * parts: gate, up, down), all submitted at once. */
static double demand_read_s(const struct cost_model *cm, double m, uint64_t slice)
{
    if (m <= 0)
        return 0;
    const struct hy_profile *prof = cm->prof;
    uint64_t part = slice / 3 ? slice / 3 : slice;
    uint64_t blk = HY_MIN((uint64_t)cm->io_block, HY_ALIGN_UP(part, 4096));
    double reqs = 3 * m * (double)HY_ALIGN_UP(part, 4096) / (double)blk;
    double depth = fmax(1.0, fmin((double)cm->io_depth, reqs));
    double bw = profile_seq_bw(prof, blk, depth);
    return fmin(1.0, m) / prof->disk_iops_qd1 + m * (double)slice / bw;
}

static int dev_of(uint8_t tier)
{
    return tier == TIER_GPU ? DEVICE_GPU : DEVICE_CPU;
}

static double pick(const struct cost_time *t, int dev, bool pp)
{
    if (dev == DEVICE_GPU)
        return pp ? t->gpu_pp : t->gpu_dec;
    return pp ? t->cpu_pp : t->cpu_dec;
}

/* Compute of `comp` seconds with `bytes` of streamed weights (0: resident): the bytes
 * move in chunks, each a unit read ahead and released once its share is computed. */
static int sim_streamed(const struct cost_model *cm, struct sim *s, uint64_t bytes, double comp,
                        int dev)
{
    if (!bytes) {
        struct sim_step st = {.c_ovl = comp, .need = -1, .release = -1, .dev = dev};
        return sim_step_add(s, st);
    }
    uint64_t n = (bytes + cm->chunk_bytes - 1) / cm->chunk_bytes;
    for (uint64_t k = 0; k < n; k++) {
        uint64_t b = k + 1 < n ? cm->chunk_bytes : bytes - (n - 1) * cm->chunk_bytes;
        int u = sim_unit_add(s, profile_read_seconds(cm->prof, 1, b), b);
        if (u < 0)
            return -ENOMEM;
        struct sim_step st = {.c_ovl = comp / (double)n, .need = u, .release = u, .dev = dev};
        int rc = sim_step_add(s, st);
        if (rc)
            return rc;
    }
    return 0;
}

/* Build the step sequence of one token (pp false) or one prompt batch (pp true). */
static int sim_build(const struct cost_model *cm, const struct placement *pc, bool pp,
                     struct sim *s)
{
    memset(s, 0, sizeof *s);
    const uint32_t nb = pp ? cm->n_batch : 1;
    int rc = 0;
    /* the token embedding: rows read from disk on demand, or from RAM */
    if (!cm->tied && cm->embd_bytes) {
        struct sim_step st = {.need = -1, .release = -1, .dev = DEVICE_CPU};
        if (pc->embd_tier == TIER_DISK) {
            uint64_t row = HY_ALIGN_UP(cm->embd_row_bytes + 4096, 4096);
            double m = nb;
            double depth = fmax(1.0, fmin((double)cm->io_depth, m));
            st.dem_d = fmax(1.0 / cm->prof->disk_iops_qd1, m * (double)row / profile_seq_bw(cm->prof, row, depth));
            s->dem_bytes += m * (double)cm->embd_row_bytes;
        }
        st.c_post = (double)cm->embd_row_bytes * nb / cm->prof->mem_bw;
        if ((rc = sim_step_add(s, st)))
            return rc;
    }
    for (int l = 0; l < cm->n_layer; l++) {
        const struct cost_layer *L = &cm->layer[l];
        bool a_disk = pc->attn_tier[l] == TIER_DISK, f_disk = pc->ffn_tier[l] == TIER_DISK;
        int adev = a_disk ? DEVICE_CPU : dev_of(pc->attn_tier[l]);
        int fdev = f_disk ? DEVICE_CPU : dev_of(pc->ffn_tier[l]);
        if ((rc = sim_streamed(cm, s, a_disk ? L->attn_bytes : 0, pick(&L->attn, adev, pp), adev)))
            return rc;
        struct sim_step sf = {.need = -1, .release = -1, .dev = fdev};
        if (f_disk) {
            /* matrices kept in RAM first, then the streamed rest, compute in proportion */
            double comp = pick(&L->ffn, fdev, pp);
            double kept = L->ffn_bytes ? (double)pc->ffn_kept[l] / (double)L->ffn_bytes : 0;
            if ((kept > 0 && (rc = sim_streamed(cm, s, 0, comp * kept, fdev))) ||
                (rc = sim_streamed(cm, s, L->ffn_bytes - pc->ffn_kept[l], comp * (1 - kept), fdev)))
                return rc;
        } else {
            sf.c_pre = pick(&L->ffn, fdev, pp);
        }
        if (L->n_expert && L->slice_bytes) {
            /* experts: held ones computed while the missing ones are read */
            double miss = 0, hold_c = 0, miss_c = 0, gpu_c = 0;
            for (uint32_t e = 0; e < L->n_expert; e++) {
                double f = L->freq[e];
                uint8_t t = pc->x_tier[(size_t)l * cm->n_expert + e];
                if (pp) {
                    /* a batch touches expert e with probability 1-(1-f)^n; its weights are
                     * read once, its FLOPs scale with the tokens routed to it */
                    double touch = 1 - pow(1 - f, nb);
                    double c = t == TIER_GPU
                                   ? fmax(touch * L->slice_pp_read_gpu, f * nb * L->slice.gpu_pp)
                                   : fmax(touch * L->slice_pp_read_cpu, f * nb * L->slice.cpu_pp);
                    if (t == TIER_DISK) {
                        miss += touch;
                        miss_c += c;
                    } else if (t == TIER_GPU) {
                        gpu_c += c;
                    } else {
                        hold_c += c;
                    }
                } else {
                    double c = t == TIER_GPU ? f * L->slice.gpu_dec : f * L->slice.cpu_dec;
                    if (t == TIER_DISK) {
                        miss += f;
                        miss_c += c;
                    } else if (t == TIER_GPU) {
                        gpu_c += c;
                    } else {
                        hold_c += c;
                    }
                }
            }
            /* experts in VRAM run on the GPU alongside; count them with the held ones
             * (one hand-over each way is in the GPU time) */
            if (gpu_c > 0)
                hold_c += gpu_c + 2 * (pp ? cm->xfer_s_pp : cm->xfer_s_dec);
            sf.c_ovl = hold_c;
            sf.c_post = miss_c;
            sf.dem_d = demand_read_s(cm, miss, L->slice_bytes);
            s->dem_bytes += miss * (double)L->slice_bytes;
        }
        if ((rc = sim_step_add(s, sf)))
            return rc;
    }
    if (cm->head_bytes) {
        int hdev = pc->head_tier == TIER_DISK ? DEVICE_CPU : dev_of(pc->head_tier);
        /* prompt batches need the logits of their last token only */
        if ((rc = sim_streamed(cm, s, pc->head_tier == TIER_DISK ? cm->head_bytes : 0,
                               pick(&cm->head, hdev, false), hdev)))
            return rc;
    }
    return 0;
}

void cost_evaluate(const struct cost_model *cm, const struct placement *pc,
                   struct plan_prediction *out)
{
    memset(out, 0, sizeof *out);
    struct sim s;
    struct sim_result r;
    if (sim_build(cm, pc, false, &s) == 0 && sim_run(&s, pc->n_slots, cm->xfer_s_dec, &r) == 0) {
        out->decode_tps = r.period > 0 ? 1.0 / r.period : 0;
        out->cpu_compute_s = r.cpu;
        out->gpu_compute_s = r.gpu;
        out->disk_transfer_s = r.disk;
        out->pcie_transfer_s = r.xfer;
        out->stall_s = r.stall;
        double b = s.dem_bytes;
        for (int u = 0; u < s.n_unit; u++)
            b += (double)s.unit_b[u];
        out->disk_bytes_per_token = b;
    }
    sim_free(&s);
    if (sim_build(cm, pc, true, &s) == 0 && sim_run(&s, pc->n_slots, cm->xfer_s_pp, &r) == 0)
        out->prompt_tps = r.period > 0 ? cm->n_batch / r.period : 0;
    sim_free(&s);
}

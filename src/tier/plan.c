/* The placement planner: a search over placements scored by the cost model. See plan.h.
 *
 * What can be streamed, and in what unit, is the structural choice ("class"): nothing
 * (resident), a layer's dense FFN (ffn-stream), whole layers (layer-stream), whole
 * layers or the output head (for budgets below one head); expert slices stream on their
 * own whenever the experts do not all fit. For each class and each pool size (2 slots
 * and up) the budget is filled greedily by benefit per byte, which is the same for every
 * dense matrix (each byte held saves reading it once per token) and lower for expert
 * slices (a byte saves k/E of a read, or its measured frequency) and for the token
 * embedding (a row per token): GPU first (whole layers, then the head, then experts),
 * then RAM (attention, head, FFN, expert slices by frequency, embedding). Streamed units
 * are spread evenly over the layers so that each read overlaps the compute of resident
 * layers before it. Each candidate is scored by simulating the pipeline (estimate.c);
 * the fastest wins, ties going to fewer bytes read from disk.
 *
 * Not owned here: measuring the machine (profile.h), executing the plan (runtime). */
#include "tier/plan.h"
#include "gguf/gguf.h"
#include "arch/hparams.h"
#include "quant/types.h"
#include "tier/cost.h"
#include "tier/profile.h"
#include "util/common.h"
#include "util/log.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SLOTS 12

static const char *const g_mode_names[] = {"resident", "ffn-stream", "layer-stream", "expert-stream"};

const char *plan_mode_name(enum plan_mode m)
{
    return (unsigned)m < HY_ARRAY_LEN(g_mode_names) ? g_mode_names[m] : "?";
}

int plan_mode_from_name(const char *s)
{
    for (size_t i = 0; s && i < HY_ARRAY_LEN(g_mode_names); i++)
        if (!strcmp(s, g_mode_names[i]))
            return (int)i;
    return -1;
}

const char *plan_tier_name(enum plan_tier t)
{
    switch (t) {
    case TIER_GPU: return "gpu";
    case TIER_RAM: return "ram";
    case TIER_DISK: return "disk";
    }
    return "?";
}

const char *plan_device_name(enum plan_device d)
{
    return d == DEVICE_GPU ? "gpu" : "cpu";
}

struct plan_params plan_default_params(void)
{
    struct plan_params p = {0};
    p.n_batch = 512;
    return p;
}

void plan_free(struct plan *pl)
{
    if (!pl)
        return;
    free(pl->place);
    free(pl->layers);
    free(pl->expert_tier);
    free(pl);
}

/* ---- the search ----------------------------------------------------------------------- */

enum pclass {
    PC_NONE = 0,    /* everything resident (experts may still stream) */
    PC_FFN,         /* units: a layer's dense FFN */
    PC_LAYER,       /* units: a layer's FFN or the whole layer; the head if it fits a slot */
    PC_HEAD,        /* as PC_LAYER with the head streamed even when it fits (only when
                       streaming is forced: otherwise it is PC_LAYER again) */
    PC_COUNT
};

struct search {
    const struct cost_model *cm;
    const struct plan_params *p;
    uint64_t ram_budget, gpu_budget;
    bool force_experts;      /* expert-stream forced: every expert slice streamed */
    bool force_all;          /* ffn-/layer-stream forced: every unit of the class streamed */
    uint32_t *x_order;       /* (n_layer * n_expert) slice indices, most useful first */
    unsigned char *mark;     /* (n_layer) scratch for spread_pick */
    uint64_t max_slice;
};

/* Which k of n positions are streamed: evenly spaced, so every streamed unit has
 * resident compute before it to hide its read. Marks mark[i] = 1. */
static void spread_pick(int n, int k, unsigned char *mark)
{
    memset(mark, 0, (size_t)n);
    for (int i = 0; i < k; i++) {
        int idx = (int)(((double)i + 0.5) * n / k);
        if (idx >= n)
            idx = n - 1;
        while (mark[idx])      /* collisions only when k is close to n */
            idx = (idx + 1) % n;
        mark[idx] = 1;
    }
}

/* The fewest of the n layers idx[] to stream, evenly spread, that let the others' attention
 * (or FFN) bytes fit in *left: marks them in mark[] and takes the rest from *left.
 * false when even streaming all of them does not fit. */
static bool stream_fewest(const struct cost_model *cm, const int *idx, int n, bool ffn,
                          unsigned char *mark, uint64_t *left)
{
    for (int m = 1; m <= n; m++) {
        spread_pick(n, m, mark);
        uint64_t keep = 0;
        for (int i = 0; i < n; i++)
            if (!mark[i])
                keep += ffn ? cm->layer[idx[i]].ffn_bytes : cm->layer[idx[i]].attn_bytes;
        if (keep <= *left) {
            *left -= keep;
            return true;
        }
    }
    return false;
}

struct x_key {
    double use;     /* fraction of tokens using the slice: each byte held saves that
                       fraction of a byte read per token, whatever the slice's size */
    uint32_t e, l;
};

static int x_cmp(const void *a, const void *b)
{
    const struct x_key *x = a, *y = b;
    if (x->use != y->use)
        return x->use > y->use ? -1 : 1;
    /* equal use: expert index first, so a partial cache spreads over the layers */
    if (x->e != y->e)
        return x->e < y->e ? -1 : 1;
    return x->l < y->l ? -1 : x->l > y->l;
}

static int make_x_order(struct search *S)
{
    const struct cost_model *cm = S->cm;
    if (!cm->n_expert)
        return 0;
    size_t n = (size_t)cm->n_layer * cm->n_expert;
    S->x_order = malloc(n * sizeof *S->x_order);
    struct x_key *keys = malloc(n * sizeof *keys);
    if (!S->x_order || !keys) {
        free(keys);
        return -ENOMEM;
    }
    size_t k = 0;
    for (int l = 0; l < cm->n_layer; l++) {
        const struct cost_layer *L = &cm->layer[l];
        S->max_slice = HY_MAX(S->max_slice, L->slice_bytes);
        /* slices of layers without experts are never used: leave them out */
        if (!L->n_expert || !L->slice_bytes)
            continue;
        for (uint32_t e = 0; e < cm->n_expert; e++)
            keys[k++] = (struct x_key){L->freq[e], e, (uint32_t)l};
    }
    qsort(keys, k, sizeof *keys, x_cmp);
    for (size_t i = 0; i < k; i++)
        S->x_order[i] = keys[i].l * cm->n_expert + keys[i].e;
    for (size_t i = k; i < n; i++)
        S->x_order[i] = UINT32_MAX;
    free(keys);
    return 0;
}

/* Largest streamed unit a class allows, over layers not on the GPU. */
static uint64_t class_slot(const struct cost_model *cm, const struct placement *pc, enum pclass c)
{
    uint64_t s = 0;
    for (int l = 0; l < cm->n_layer; l++) {
        if (pc->attn_tier[l] == TIER_GPU)
            continue;
        const struct cost_layer *L = &cm->layer[l];
        if (c == PC_FFN)
            s = HY_MAX(s, L->ffn_bytes);
        else
            s = HY_MAX(s, L->attn_bytes + L->ffn_bytes);
    }
    /* streamed units move in chunks: the head streams in any layer class */
    if (c >= PC_LAYER && pc->head_tier != TIER_GPU)
        s = HY_MAX(s, cm->head_bytes);
    return cost_slot(cm, s);
}

/* Put what fits of the model in VRAM: whole layers in order, the head, expert slices. */
static void fill_gpu(const struct search *S, struct placement *pc)
{
    const struct cost_model *cm = S->cm;
    if (!S->gpu_budget || !cm->prof->has_gpu || S->gpu_budget <= cm->gpu_compute_bytes)
        return;
    uint64_t left = S->gpu_budget - cm->gpu_compute_bytes;
    for (int l = 0; l < cm->n_layer; l++) {
        const struct cost_layer *L = &cm->layer[l];
        uint64_t need = L->vec_bytes + L->attn_bytes + L->ffn_bytes + L->kv_bytes;
        if (need > left)
            break;
        left -= need;
        pc->attn_tier[l] = pc->ffn_tier[l] = TIER_GPU;
    }
    if (cm->head_bytes && cm->head_bytes <= left) {
        left -= cm->head_bytes;
        pc->head_tier = TIER_GPU;
    }
    if (cm->n_expert && !S->force_experts)
        for (size_t i = 0; i < (size_t)cm->n_layer * cm->n_expert; i++) {
            uint32_t x = S->x_order[i];
            if (x == UINT32_MAX)
                break;
            uint64_t sb = cm->layer[x / cm->n_expert].slice_bytes;
            if (sb > left)
                continue;
            left -= sb;
            pc->x_tier[x] = TIER_GPU;
        }
}

/* (bytes, tensor) pairs, largest first, ties by tensor order (plain qsort: qsort_r's
 * argument order differs between glibc and the BSDs) */
struct sized {
    uint64_t bytes;
    int i;
};

static int cmp_sized_desc(const void *a, const void *b)
{
    const struct sized *x = a, *y = b;
    return x->bytes > y->bytes ? -1 : x->bytes < y->bytes ? 1 : (x->i > y->i) - (x->i < y->i);
}

static void keep_matrices(const struct cost_model *cm, struct placement *pc, uint64_t *left)
{
    struct sized *idx = malloc(sizeof *idx * (size_t)(cm->n_tensors ? cm->n_tensors : 1));
    if (!idx)
        return; /* keeping nothing is a valid plan */
    int n = 0;
    for (int i = 0; i < cm->n_tensors; i++) {
        int l = cm->t_layer[i];
        if (cm->t_kind[i] == CK_FFN && l >= 0 && pc->ffn_tier[l] == TIER_DISK &&
            pc->attn_tier[l] == TIER_RAM)
            idx[n++] = (struct sized){cm->t[i].bytes, i};
    }
    qsort(idx, (size_t)n, sizeof *idx, cmp_sized_desc);
    for (int k = 0; k < n; k++) {
        uint64_t b = idx[k].bytes;
        int l = cm->t_layer[idx[k].i];
        /* a layer must keep something to stream, else it should have been resident */
        if (b <= *left && pc->ffn_kept[l] + b < cm->layer[l].ffn_bytes) {
            *left -= b;
            pc->t_keep[idx[k].i] = 1;
            pc->ffn_kept[l] += b;
        }
    }
    free(idx);
}

/* Every aggregate in RAM, nothing kept apart, no pool: where each candidate starts. */
static void placement_reset(const struct cost_model *cm, struct placement *pc)
{
    const int L = cm->n_layer;
    memset(pc->attn_tier, TIER_RAM, (size_t)L);
    memset(pc->ffn_tier, TIER_RAM, (size_t)L);
    memset(pc->x_tier, TIER_RAM, (size_t)L * (cm->n_expert ? cm->n_expert : 1));
    pc->head_tier = TIER_RAM;
    pc->embd_tier = TIER_RAM;
    memset(pc->t_keep, 0, (size_t)cm->n_tensors);
    memset(pc->ffn_kept, 0, (size_t)L * sizeof *pc->ffn_kept);
    pc->n_slots = 0;
    pc->slot_bytes = 0;
    pc->n_xslots = 0;
    pc->xslot_bytes = 0;
}

/* RAM a candidate needs whatever it streams: buffers, the run layout, global vectors,
 * and the KV cache and vectors of the layers not on the GPU. */
static uint64_t fixed_ram(const struct cost_model *cm, const struct placement *pc)
{
    uint64_t fixed = cm->compute_bytes + cm->layout_bytes + cm->glob_vec_bytes;
    for (int l = 0; l < cm->n_layer; l++)
        if (pc->attn_tier[l] != TIER_GPU)
            fixed += cm->layer[l].kv_bytes + cm->layer[l].vec_bytes;
    return fixed;
}

/* Expert slices come last by value, but when they stream their landing slots are a
 * must: reserve them (*xpool) from *left now, to be given back if every slice ends up
 * fitting. *xtotal: bytes of the slices not on the GPU. false when the slots do not
 * fit. */
static bool reserve_expert_slots(const struct search *S, const struct placement *pc,
                                 uint64_t *left, uint64_t *xtotal, uint64_t *xpool)
{
    const struct cost_model *cm = S->cm;
    size_t nx = (size_t)cm->n_layer * (cm->n_expert ? cm->n_expert : 1);
    *xtotal = *xpool = 0;
    if (!cm->n_expert)
        return true;
    for (size_t i = 0; i < nx && S->x_order[i] != UINT32_MAX; i++) {
        uint32_t x = S->x_order[i];
        if (pc->x_tier[x] != TIER_GPU)
            *xtotal += cm->layer[x / cm->n_expert].slice_bytes;
    }
    if (*xtotal) {
        /* slices that all fit in the landing slots' room need no more than that */
        *xpool = (uint64_t)cm->n_expert_used * S->max_slice;
        if (!S->force_experts)
            *xpool = HY_MIN(*xpool, *xtotal);
        if (*xpool > *left)
            return false;
        *left -= *xpool;
    }
    return true;
}

/* Attention of the layers not on the GPU: resident when it all fits, every layer streamed
 * when a layer class is forced, else (layer classes only) the fewest whole layers
 * streamed, spread out, that let the rest fit. false when the class cannot fit. */
static bool place_attention(const struct search *S, enum pclass c, struct placement *pc,
                            uint64_t *left)
{
    const struct cost_model *cm = S->cm;
    const int L = cm->n_layer;
    unsigned char *mark = S->mark;
    uint64_t attn_total = 0;
    for (int l = 0; l < L; l++)
        if (pc->attn_tier[l] != TIER_GPU)
            attn_total += cm->layer[l].attn_bytes;
    if (S->force_all && c >= PC_LAYER) {
        for (int l = 0; l < L; l++)
            if (pc->attn_tier[l] != TIER_GPU)
                pc->attn_tier[l] = pc->ffn_tier[l] = TIER_DISK;
    } else if (attn_total <= *left) {
        *left -= attn_total;
    } else {
        if (c < PC_LAYER)
            return false;
        /* stream whole layers: the fewest, spread out, that let the rest fit */
        int idx[4096];
        int n = 0;
        for (int l = 0; l < L && n < 4096; l++)
            if (pc->attn_tier[l] != TIER_GPU)
                idx[n++] = l;
        if (!stream_fewest(cm, idx, n, false, mark, left))
            return false;
        for (int i = 0; i < n; i++)
            if (mark[i])
                pc->attn_tier[idx[i]] = pc->ffn_tier[idx[i]] = TIER_DISK;
    }
    return true;
}

/* Dense FFN of the layers whose attention stays in RAM: resident when it all fits, all
 * streamed when a streaming class is forced, else (streaming classes only) the fewest
 * streamed, spread out. false when the class cannot fit. */
static bool place_ffn(const struct search *S, enum pclass c, struct placement *pc, uint64_t *left)
{
    const struct cost_model *cm = S->cm;
    unsigned char *mark = S->mark;
    int idx[4096];
    int n = 0;
    uint64_t total = 0;
    for (int l = 0; l < cm->n_layer && n < 4096; l++)
        if (pc->attn_tier[l] == TIER_RAM && pc->ffn_tier[l] == TIER_RAM && cm->layer[l].ffn_bytes) {
            idx[n++] = l;
            total += cm->layer[l].ffn_bytes;
        }
    if (S->force_all && c != PC_NONE) {
        for (int i = 0; i < n; i++)
            pc->ffn_tier[idx[i]] = TIER_DISK;
    } else if (total <= *left) {
        *left -= total;
    } else {
        if (c == PC_NONE)
            return false;
        if (!stream_fewest(cm, idx, n, true, mark, left))
            return false;
        for (int i = 0; i < n; i++)
            if (mark[i])
                pc->ffn_tier[idx[i]] = TIER_DISK;
    }
    return true;
}

/* The pool of a streaming class, ns slots of `slot` bytes reserved: false when nothing
 * dense streams (that is the resident class with a useless pool). Else the slots need
 * only hold the largest unit actually streamed; the rest of the reserve goes back to
 * *left. */
static bool size_pool(const struct cost_model *cm, uint32_t ns, uint64_t slot,
                      struct placement *pc, uint64_t *left)
{
    bool any = pc->head_tier == TIER_DISK;
    uint64_t unit_max = pc->head_tier == TIER_DISK ? cm->head_bytes : 0;
    for (int l = 0; l < cm->n_layer; l++) {
        const struct cost_layer *Ly = &cm->layer[l];
        bool a = pc->attn_tier[l] == TIER_DISK, f = pc->ffn_tier[l] == TIER_DISK;
        if (a || f)
            any = true;
        uint64_t u = HY_MAX(a ? Ly->attn_bytes : 0, f ? Ly->ffn_bytes : 0);
        unit_max = HY_MAX(unit_max, u);
    }
    unit_max = cost_slot(cm, unit_max);
    if (!any)
        return false;
    *left += (uint64_t)ns * (slot - unit_max);
    pc->n_slots = ns;
    pc->slot_bytes = unit_max;
    return true;
}

/* Expert slices (xtotal bytes of them off the GPU, xpool reserved for landing slots):
 * all resident when they fit in what is left with the reserve given back; else the
 * landing slots and an expert cache of the most used slices that fit, the rest on
 * disk. */
static void place_experts(const struct search *S, struct placement *pc, uint64_t xtotal,
                          uint64_t xpool, uint64_t *left)
{
    const struct cost_model *cm = S->cm;
    size_t nx = (size_t)cm->n_layer * (cm->n_expert ? cm->n_expert : 1);
    if (xtotal <= *left + xpool && !S->force_experts) {
        *left = *left + xpool - xtotal;
        return;
    }
    pc->n_xslots = cm->n_expert_used;
    pc->xslot_bytes = S->max_slice;
    for (size_t i = 0; i < nx && S->x_order[i] != UINT32_MAX; i++) {
        uint32_t x = S->x_order[i];
        if (pc->x_tier[x] == TIER_GPU)
            continue;
        uint64_t sb = cm->layer[x / cm->n_expert].slice_bytes;
        if (sb <= *left && !S->force_experts)
            *left -= sb;
        else
            pc->x_tier[x] = TIER_DISK;
    }
}

/* Fill one candidate of class c with ns pool slots: the GPU first, then RAM in order of
 * benefit per byte (see the top of this file). Returns false when the class does not
 * fit the budget. */
static bool fill(const struct search *S, enum pclass c, uint32_t ns, struct placement *pc)
{
    const struct cost_model *cm = S->cm;
    placement_reset(cm, pc);
    fill_gpu(S, pc);

    uint64_t fixed = fixed_ram(cm, pc);
    uint64_t slot = c == PC_NONE ? 0 : class_slot(cm, pc, c);
    if (c != PC_NONE && slot == 0)
        return false;     /* nothing left to stream in this class */
    uint64_t pool = (uint64_t)ns * slot;
    if (fixed + pool > S->ram_budget)
        return false;
    uint64_t left = S->ram_budget - fixed - pool;

    uint64_t xtotal, xpool;
    if (!reserve_expert_slots(S, pc, &left, &xtotal, &xpool))
        return false;

    /* an output head this class does not stream must be resident: it goes first, before
     * attention that could stream */
    bool head_must = cm->head_bytes && pc->head_tier != TIER_GPU && c < PC_LAYER;
    if (head_must) {
        if (cm->head_bytes > left)
            return false;
        left -= cm->head_bytes;
    }

    if (!place_attention(S, c, pc, &left))
        return false;

    /* output head, when it can stream in this class (else it was placed first) */
    if (!head_must && pc->head_tier != TIER_GPU && cm->head_bytes) {
        if (cm->head_bytes <= left && !(S->force_all && c == PC_HEAD))
            left -= cm->head_bytes;
        else
            pc->head_tier = TIER_DISK;
    }

    if (!place_ffn(S, c, pc, &left))
        return false;
    if (c != PC_NONE && !size_pool(cm, ns, slot, pc, &left))
        return false;

    /* whole layers leave a remainder of the budget: keep single FFN matrices of the
     * streamed layers in it, largest first (each byte kept is a byte not read per token) */
    if (c != PC_NONE && !S->force_all)
        keep_matrices(cm, pc, &left);

    if (xtotal)
        place_experts(S, pc, xtotal, xpool, &left);

    /* the token embedding last: it costs one row read per token when left on disk */
    if (cm->embd_bytes && !cm->tied) {
        if (cm->embd_bytes <= left)
            left -= cm->embd_bytes;
        else
            pc->embd_tier = TIER_DISK;
    }
    return true;
}

/* The smallest RAM budget any allowed class could run in: everything streamable
 * streamed, two slots (or the expert landing slots). */
static uint64_t min_budget(const struct search *S, const bool allowed[PC_COUNT], struct placement *pc,
                           enum pclass *which)
{
    const struct cost_model *cm = S->cm;
    uint64_t best = UINT64_MAX;
    for (int c = 0; c < PC_COUNT; c++) {
        if (!allowed[c])
            continue;
        struct search T = *S;
        T.ram_budget = UINT64_MAX / 4;
        memset(pc->attn_tier, TIER_RAM, (size_t)cm->n_layer);
        memset(pc->ffn_tier, TIER_RAM, (size_t)cm->n_layer);
        memset(pc->x_tier, TIER_RAM, (size_t)cm->n_layer * (cm->n_expert ? cm->n_expert : 1));
        pc->head_tier = TIER_RAM;
        fill_gpu(&T, pc);
        uint64_t need = cm->compute_bytes + cm->layout_bytes + cm->glob_vec_bytes;
        uint64_t attn = 0, ffn = 0, xs = 0;
        for (int l = 0; l < cm->n_layer; l++) {
            const struct cost_layer *L = &cm->layer[l];
            /* a layer on the GPU may still have experts in RAM */
            for (uint32_t e = 0; e < L->n_expert && L->slice_bytes; e++)
                if (pc->x_tier[(size_t)l * cm->n_expert + e] != TIER_GPU)
                    xs += L->slice_bytes;
            if (pc->attn_tier[l] == TIER_GPU)
                continue;
            need += L->kv_bytes + L->vec_bytes;
            attn += L->attn_bytes;
            ffn += L->ffn_bytes;
        }
        uint64_t head = pc->head_tier == TIER_GPU ? 0 : cm->head_bytes;
        uint64_t slot = c == PC_NONE ? 0 : class_slot(cm, pc, (enum pclass)c);
        switch (c) {
        case PC_NONE: need += attn + ffn + head; break;
        case PC_FFN: need += attn + head + 2 * slot; break;
        case PC_LAYER: need += 2 * slot; break;
        case PC_HEAD: need += 2 * slot; break;
        }
        if (xs) {
            uint64_t xpool = (uint64_t)cm->n_expert_used * S->max_slice;
            need += S->force_experts ? xpool : HY_MIN(xs, xpool);
        }
        if (need < best) {
            best = need;
            *which = (enum pclass)c;
        }
    }
    return best;
}

static enum plan_mode mode_of(const struct cost_model *cm, const struct placement *pc)
{
    bool layer = false, ffn = false, exp = false;
    for (int l = 0; l < cm->n_layer; l++) {
        if (pc->attn_tier[l] == TIER_DISK)
            layer = true;
        if (pc->ffn_tier[l] == TIER_DISK)
            ffn = true;
    }
    if (pc->head_tier == TIER_DISK)
        layer = true;
    for (size_t i = 0; cm->n_expert && i < (size_t)cm->n_layer * cm->n_expert; i++)
        if (pc->x_tier[i] == TIER_DISK)
            exp = true;
    return layer ? PLAN_LAYER_STREAM : ffn ? PLAN_FFN_STREAM : exp ? PLAN_EXPERT_STREAM : PLAN_RESIDENT;
}

/* Fill the plan's per-tensor and per-layer records from a placement. */
static int plan_from_placement(const struct cost_model *cm, const struct plan_input *in,
                               const struct placement *pc, struct plan *pl)
{
    const int L = cm->n_layer;
    pl->n_tensors = in->n_tensors;
    pl->n_layer = L;
    pl->n_expert = cm->n_expert;
    pl->place = calloc((size_t)in->n_tensors, sizeof *pl->place);
    pl->layers = calloc((size_t)L, sizeof *pl->layers);
    if (cm->n_expert)
        pl->expert_tier = malloc((size_t)L * cm->n_expert);
    if (!pl->place || !pl->layers || (cm->n_expert && !pl->expert_tier)) {
        set_error("out of memory");
        return -ENOMEM;
    }
    if (cm->n_expert)
        memcpy(pl->expert_tier, pc->x_tier, (size_t)L * cm->n_expert);
    for (int l = 0; l < L; l++) {
        struct plan_layer *ly = &pl->layers[l];
        const struct cost_layer *cl = &cm->layer[l];
        ly->attn_tier = pc->attn_tier[l];
        ly->ffn_tier = pc->ffn_tier[l];
        ly->device = pc->attn_tier[l] == TIER_GPU ? DEVICE_GPU : DEVICE_CPU;
        bool a = pc->attn_tier[l] == TIER_DISK, f = pc->ffn_tier[l] == TIER_DISK;
        ly->streamed = a && f ? 2 : f ? 1 : a ? 3 : 0;
        ly->stream_bytes = (a ? cl->attn_bytes : 0) + (f ? cl->ffn_bytes - pc->ffn_kept[l] : 0);
        for (uint32_t e = 0; e < cl->n_expert && cm->n_expert; e++)
            if (pc->x_tier[(size_t)l * cm->n_expert + e] != TIER_DISK)
                ly->n_expert_held++;
    }
    for (int i = 0; i < in->n_tensors; i++) {
        int l = cm->t_layer[i];
        uint8_t tier = TIER_RAM;
        switch ((enum cost_kind)cm->t_kind[i]) {
        case CK_VEC:
            /* global vectors (output norm, rope factors) stay in RAM; the runtime
             * mirrors such tiny tensors to the GPU where it needs them */
            tier = l >= 0 && pc->attn_tier[l] == TIER_GPU ? TIER_GPU : TIER_RAM;
            break;
        case CK_ATTN: tier = pc->attn_tier[l]; break;
        case CK_FFN: tier = pc->t_keep[i] ? TIER_RAM : pc->ffn_tier[l]; break;
        case CK_HEAD: tier = pc->head_tier; break;
        case CK_EMBD: tier = pc->embd_tier; break;
        case CK_EXPERT: {
            const struct tensor_role *r = &in->t[i].role;
            const uint8_t *xt = pc->x_tier + (size_t)l * cm->n_expert;
            if (r->expert >= 0) {
                tier = xt[r->expert];
            } else {
                bool all_gpu = true, any_disk = false;
                for (uint32_t e = 0; e < cm->n_expert; e++) {
                    all_gpu &= xt[e] == TIER_GPU;
                    any_disk |= xt[e] == TIER_DISK;
                }
                tier = any_disk ? TIER_DISK : all_gpu ? TIER_GPU : TIER_RAM;
            }
            break;
        }
        }
        pl->place[i].tier = tier;
        pl->place[i].device = tier == TIER_GPU ? DEVICE_GPU : DEVICE_CPU;
    }
    return 0;
}

/* Which structural classes the search may try when a mode is forced (forced: enum
 * plan_mode, or -1 for none). PC_HEAD only when streaming is forced: otherwise it is
 * PC_LAYER again. */
static void allowed_classes(int forced, bool force_all, bool allowed[PC_COUNT])
{
    for (int c = 0; c < PC_COUNT; c++)
        allowed[c] = true;
    if (forced == PLAN_RESIDENT || forced == PLAN_EXPERT_STREAM)
        allowed[PC_FFN] = allowed[PC_LAYER] = allowed[PC_HEAD] = false;
    else if (forced == PLAN_FFN_STREAM)
        allowed[PC_NONE] = allowed[PC_LAYER] = allowed[PC_HEAD] = false;
    else if (forced == PLAN_LAYER_STREAM)
        allowed[PC_NONE] = allowed[PC_FFN] = false;
    if (!force_all)
        allowed[PC_HEAD] = false;
}

/* Fill and score every candidate (each allowed class, each pool size) and keep the best
 * in *best with its prediction: the fastest decode, ties going to fewer bytes read from
 * disk, then to less RAM. cur is scratch. Returns the best's seconds per token, INFINITY
 * when no candidate fits the budgets. */
static double search_best(const struct search *S, const bool allowed[PC_COUNT], int forced,
                          struct placement *cur, struct placement *best,
                          struct plan_prediction *best_pred)
{
    const struct cost_model *cm = S->cm;
    double best_t = INFINITY, best_disk = INFINITY;
    uint64_t best_ram = UINT64_MAX;
    for (int c = 0; c < PC_COUNT; c++) {
        if (!allowed[c])
            continue;
        uint32_t ns_lo = c == PC_NONE ? 0 : 2, ns_hi = c == PC_NONE ? 0 : MAX_SLOTS;
        for (uint32_t ns = ns_lo; ns <= ns_hi; ns++) {
            if (!fill(S, (enum pclass)c, ns, cur))
                continue;
            if (forced == PLAN_RESIDENT && mode_of(cm, cur) != PLAN_RESIDENT)
                continue;
            uint64_t ram, vram;
            cost_usage(cm, cur, &ram, &vram);
            if (ram > S->ram_budget || vram > S->gpu_budget)
                continue;  /* cannot happen when fill is right; refuse it anyway */
            struct plan_prediction pr;
            cost_evaluate(cm, cur, &pr);
            double t = pr.decode_tps > 0 ? 1.0 / pr.decode_tps : INFINITY;
            bool better = t < best_t ||
                          (t == best_t && (pr.disk_bytes_per_token < best_disk ||
                                           (pr.disk_bytes_per_token == best_disk && ram < best_ram)));
            if (better) {
                best_t = t;
                best_disk = pr.disk_bytes_per_token;
                best_ram = ram;
                *best_pred = pr;
                placement_copy(best, cur, cm);
            }
        }
    }
    return best_t;
}

/* The plan's pool (the dense slots, or in expert-stream the expert landing slots) and
 * its expert cache (the slices held in RAM), from the chosen placement; pl->mode is
 * already set. */
static void plan_set_pool(const struct cost_model *cm, const struct placement *best, struct plan *pl)
{
    pl->n_expert_slots = best->n_xslots;
    pl->expert_slot_bytes = best->xslot_bytes;
    if (best->n_slots) {
        pl->n_slots = best->n_slots;
        pl->slot_bytes = best->slot_bytes;
        pl->prefetch_depth = best->n_slots - 1;
    } else if (best->n_xslots) {
        /* expert-stream: the landing slots are the pool; slices are read on demand
         * (speculative next-layer reads go into the expert cache) */
        pl->n_slots = best->n_xslots;
        pl->slot_bytes = best->xslot_bytes;
        pl->prefetch_depth = 0;
    }
    pl->pool_bytes = (uint64_t)best->n_slots * best->slot_bytes + (uint64_t)best->n_xslots * best->xslot_bytes;
    if (cm->n_expert) {
        for (int l = 0; l < cm->n_layer; l++)
            for (uint32_t e = 0; e < cm->layer[l].n_expert && cm->layer[l].slice_bytes; e++)
                if (best->x_tier[(size_t)l * cm->n_expert + e] == TIER_RAM) {
                    pl->expert_cache_slices++;
                    pl->expert_cache_bytes += cm->layer[l].slice_bytes;
                }
        if (pl->mode == PLAN_RESIDENT) {
            /* everything resident: no cache as such */
            pl->expert_cache_slices = 0;
            pl->expert_cache_bytes = 0;
        }
    }
}

int plan_build(const struct plan_input *in, const struct hy_profile *prof,
               const struct plan_params *p, struct plan **out)
{
    *out = NULL;
    if (!p->ram_budget) {
        set_error("no RAM budget given");
        return -EINVAL;
    }
    int forced = -1;
    if (p->force_mode) {
        forced = plan_mode_from_name(p->force_mode);
        if (forced < 0) {
            set_error("unknown plan mode '%s' (resident, ffn-stream, layer-stream, expert-stream)",
                   p->force_mode);
            return -EINVAL;
        }
    }
    struct cost_model cm;
    int rc = cost_model_init(&cm, in, prof, p);
    if (rc)
        return rc;
    if (forced == PLAN_EXPERT_STREAM && !cm.n_expert) {
        set_error("expert-stream needs a model with experts");
        cost_model_free(&cm);
        return -EINVAL;
    }
    struct search S = {.cm = &cm, .p = p, .ram_budget = p->ram_budget, .gpu_budget = p->gpu_budget};
    S.force_experts = forced == PLAN_EXPERT_STREAM;
    S.force_all = forced == PLAN_FFN_STREAM || forced == PLAN_LAYER_STREAM;
    bool allowed[PC_COUNT];
    allowed_classes(forced, S.force_all, allowed);

    struct placement cur = {0}, best = {0};
    struct plan *pl = NULL;
    S.mark = calloc((size_t)cm.n_layer + 1, 1);
    if (!S.mark || make_x_order(&S) || placement_alloc(&cur, &cm) || placement_alloc(&best, &cm)) {
        set_error("out of memory");
        rc = -ENOMEM;
        goto done;
    }

    struct plan_prediction best_pred = {0};
    double best_t = search_best(&S, allowed, forced, &cur, &best, &best_pred);
    enum pclass minc = PC_NONE;
    uint64_t min_ram = min_budget(&S, allowed, &cur, &minc);
    if (best_t == INFINITY) {
        char b1[32], b2[32];
        hy_format_size(p->ram_budget, b1, sizeof b1);
        hy_format_size(min_ram, b2, sizeof b2);
        static const char *const cname[] = {"resident", "ffn-stream", "layer-stream", "layer-stream"};
        set_error("RAM budget %s is too small: the smallest plan (%s%s) needs %s (%" PRIu64 " bytes)",
               b1, cname[minc], forced >= 0 ? ", as forced" : "", b2, min_ram);
        rc = -ENOMEM;
        goto done;
    }

    pl = calloc(1, sizeof *pl);
    if (!pl) {
        set_error("out of memory");
        rc = -ENOMEM;
        goto done;
    }
    if ((rc = plan_from_placement(&cm, in, &best, pl)))
        goto done;
    pl->mode = mode_of(&cm, &best);
    pl->ram_budget = p->ram_budget;
    pl->gpu_budget = prof->has_gpu ? p->gpu_budget : 0;
    cost_tier_bytes(&cm, &best, pl->tier_bytes);
    cost_usage(&cm, &best, &pl->ram_used, &pl->gpu_used);
    plan_set_pool(&cm, &best, pl);
    pl->kv_bytes = cm.kv_bytes;
    pl->compute_bytes = cm.compute_bytes;
    pl->n_ctx = cm.n_ctx;
    pl->n_batch = cm.n_batch;
    pl->io_block = cm.io_block;
    pl->io_depth = cm.io_depth;
    pl->chunk_bytes = cm.chunk_bytes;
    pl->min_ram_budget = min_ram;
    pl->pred = best_pred;
    *out = pl;
    pl = NULL;
    rc = 0;
done:
    plan_free(pl);
    placement_free(&cur);
    placement_free(&best);
    free(S.mark);
    free(S.x_order);
    cost_model_free(&cm);
    return rc;
}

/* ---- the estimator on a finished plan ------------------------------------------------- */

int plan_estimate(const struct plan_input *in, const struct hy_profile *prof,
                  const struct plan_params *p, struct plan *pl)
{
    if (pl->n_tensors != in->n_tensors) {
        set_error("the plan has %d tensors, the model %d", pl->n_tensors, in->n_tensors);
        return -EINVAL;
    }
    struct cost_model cm;
    int rc = cost_model_init(&cm, in, prof, p);
    if (rc)
        return rc;
    struct placement pc;
    if ((rc = placement_alloc(&pc, &cm))) {
        cost_model_free(&cm);
        return rc;
    }
    /* recover the aggregate placement from the per-tensor one */
    memset(pc.attn_tier, TIER_RAM, (size_t)cm.n_layer);
    memset(pc.ffn_tier, TIER_RAM, (size_t)cm.n_layer);
    pc.head_tier = pc.embd_tier = TIER_RAM;
    for (int i = 0; i < in->n_tensors; i++) {
        int l = cm.t_layer[i];
        uint8_t t = pl->place[i].tier;
        switch ((enum cost_kind)cm.t_kind[i]) {
        case CK_ATTN: pc.attn_tier[l] = t; break;
        case CK_FFN:
            /* a layer whose FFN streams may keep some matrices in RAM */
            if (t == TIER_DISK)
                pc.ffn_tier[l] = TIER_DISK;
            break;
        case CK_HEAD: pc.head_tier = t; break;
        case CK_EMBD: pc.embd_tier = t; break;
        default: break;
        }
    }
    for (int i = 0; i < in->n_tensors; i++) {
        int l = cm.t_layer[i];
        if (cm.t_kind[i] == CK_FFN && pc.ffn_tier[l] == TIER_DISK && pl->place[i].tier == TIER_RAM) {
            pc.t_keep[i] = 1;
            pc.ffn_kept[l] += in->t[i].bytes;
        } else if (cm.t_kind[i] == CK_FFN && pc.ffn_tier[l] != TIER_DISK) {
            pc.ffn_tier[l] = pl->place[i].tier;
        }
    }
    if (cm.n_expert && pl->expert_tier && pl->n_expert == cm.n_expert)
        memcpy(pc.x_tier, pl->expert_tier, (size_t)cm.n_layer * cm.n_expert);
    pc.n_slots = pl->n_slots;
    pc.slot_bytes = pl->slot_bytes;
    pc.n_xslots = pl->n_expert_slots;
    pc.xslot_bytes = pl->expert_slot_bytes;
    if (!pl->prefetch_depth && pl->n_expert_slots && pl->n_slots == pl->n_expert_slots) {
        pc.n_slots = 0;  /* expert-stream: the pool fields mirror the expert slots */
        pc.slot_bytes = 0;
    }
    cost_evaluate(&cm, &pc, &pl->pred);
    placement_free(&pc);
    cost_model_free(&cm);
    return 0;
}

/* ---- from a GGUF header --------------------------------------------------------------- */

int plan_input_from_gguf(const struct gguf *g, const struct hparams *hp,
                         struct plan_tensor_in **out, int *n)
{
    *out = NULL;
    *n = 0;
    int64_t nt = gguf_n_tensors(g);
    if (nt <= 0 || nt > (1 << 24)) {
        set_error("the model has %" PRId64 " tensors", nt);
        return -EINVAL;
    }
    struct plan_tensor_in *t = calloc((size_t)nt, sizeof *t);
    if (!t) {
        set_error("out of memory");
        return -ENOMEM;
    }
    for (int64_t i = 0; i < nt; i++) {
        const struct gguf_tensor *gt = gguf_tensor(g, i);
        struct plan_tensor_in *x = &t[i];
        x->name = gt->name;
        x->type = gt->type;
        for (int d = 0; d < 4; d++)
            x->ne[d] = gt->ne[d];
        x->bytes = gt->nbytes;
        int rc = role_classify(gt->name, gt->ne, gt->nbytes, hp, &x->role);
        if (rc) {
            free(t);
            return rc;
        }
        if (x->role.layer >= (int)hp->n_layer) {
            set_error("tensor '%s' names layer %d but the model has %u layers", gt->name,
                   x->role.layer, hp->n_layer);
            free(t);
            return -EINVAL;
        }
        x->freq = role_default_freq(&x->role, hp);
    }
    *out = t;
    *n = (int)nt;
    return 0;
}

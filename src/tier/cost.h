/* The planner's cost model, shared by the search (plan.c) and the estimator
 * (estimate.c): per-layer aggregates of a model's tensors with their compute cost on each
 * device, a placement expressed in those aggregates, and its evaluation by simulating the
 * streaming pipeline (disk reads into slots, prefetch ahead of compute, demand reads of
 * expert slices) over a few tokens; and the lookups it makes in a measured hardware
 * profile (cost.c).
 *
 * Internal to src/tier. */
#ifndef HY_TIER_COST_H
#define HY_TIER_COST_H

#include "tier/plan.h"

#include <stdbool.h>
#include <stdint.h>

/* What a tensor belongs to, as the cost model groups it. */
enum cost_kind {
    CK_VEC = 0,     /* 1-D tensors of a layer or global: pinned in RAM (tiny) */
    CK_ATTN,        /* a layer's attention matrices (and unknown per-layer tensors) */
    CK_FFN,         /* a layer's dense FFN, router, shared expert */
    CK_EXPERT,      /* a layer's expert tensors (fused or per expert) */
    CK_HEAD,        /* output head (or token_embd when tied) */
    CK_EMBD,        /* token_embd (not tied): row reads */
};

/* Seconds of compute for one group on each device, per decoded token (dec) and per
 * prompt batch (pp). */
struct cost_time {
    double cpu_dec, gpu_dec, cpu_pp, gpu_pp;
};

struct cost_layer {
    uint64_t vec_bytes;
    uint64_t attn_bytes, ffn_bytes;
    struct cost_time attn, ffn;           /* attention includes reading the KV cache */
    uint64_t kv_bytes;                    /* this layer's KV cache for n_ctx */
    /* experts */
    uint32_t n_expert;
    uint64_t slice_bytes;                 /* one expert's gate+up+down */
    uint64_t exp_bytes;                   /* all experts */
    struct cost_time slice;               /* one slice for one token (dec) / per routed
                                             token in a batch, weights read once (pp: the
                                             read part is in slice_pp_read) */
    double slice_pp_read_cpu, slice_pp_read_gpu;
    const float *freq;                    /* (n_expert) fraction of tokens using e */
};

struct cost_model {
    const struct hparams *hp;
    const struct hy_profile *prof;
    int n_layer;
    struct cost_layer *layer;             /* (n_layer) */
    float *freq_store;                    /* (n_layer, n_expert) when uniform */
    uint32_t n_expert, n_expert_used;
    int *t_kind;                          /* (n_tensors) enum cost_kind */
    int *t_layer;                         /* (n_tensors) */
    uint64_t glob_vec_bytes;
    uint64_t head_bytes;
    struct cost_time head;
    bool tied;                            /* token_embd doubles as the output head */
    uint64_t embd_bytes, embd_row_bytes;
    uint64_t kv_bytes, compute_bytes, gpu_compute_bytes;
    uint64_t layout_bytes;                /* RAM: PLAN_LAYOUT_PER_RUN per tensor and slot */
    uint32_t n_ctx, n_batch;
    double xfer_s_dec, xfer_s_pp;         /* one CPU<->GPU activation hand-over */
    uint32_t io_block, io_depth;
    int n_tensors;
    const struct plan_tensor_in *t;       /* (n_tensors) borrowed from the input */
    uint64_t chunk_bytes;                 /* streamed tensors move in pieces of at most this
                                             (whole rows): the slot size, so the pool is a
                                             few chunks, not a few layers */
};
/* A streaming slot for units of `bytes`: the unit, or a chunk of it. */
static inline uint64_t cost_slot(const struct cost_model *cm, uint64_t bytes)
{
    return bytes < cm->chunk_bytes ? bytes : cm->chunk_bytes;
}

/* Where each aggregate lives. Tiers are enum plan_tier. */
struct placement {
    uint8_t *attn_tier, *ffn_tier;        /* (n_layer) */
    uint8_t *x_tier;                      /* (n_layer, n_expert) */
    uint8_t head_tier, embd_tier;
    uint8_t *t_keep;                      /* (n_tensors) 1: a matrix of a layer whose FFN
                                             streams, kept in RAM with what the budget had
                                             left (whole layers leave a remainder) */
    uint64_t *ffn_kept;                   /* (n_layer) bytes of such matrices per layer */
    uint32_t n_slots;                     /* dense streaming slots */
    uint64_t slot_bytes;
    uint32_t n_xslots;                    /* expert landing slots */
    uint64_t xslot_bytes;
};

int cost_model_init(struct cost_model *cm, const struct plan_input *in,
                    const struct hy_profile *prof, const struct plan_params *p);
void cost_model_free(struct cost_model *cm);

int placement_alloc(struct placement *pc, const struct cost_model *cm);
void placement_free(struct placement *pc);
void placement_copy(struct placement *dst, const struct placement *src, const struct cost_model *cm);

/* Memory the placement uses in RAM and VRAM (weights, pool, KV, buffers). */
void cost_usage(const struct cost_model *cm, const struct placement *pc, uint64_t *ram,
                uint64_t *vram);
/* Weight bytes held in each tier. */
void cost_tier_bytes(const struct cost_model *cm, const struct placement *pc, uint64_t out[3]);
/* Predict speed: simulate decode and prompt over a few tokens. */
void cost_evaluate(const struct cost_model *cm, const struct placement *pc,
                   struct plan_prediction *out);

/* Lookups in a measured profile (cost.c): pure functions of its figures, with fallbacks
 * for a profile nothing was measured on. */
/* Sequential direct-read bandwidth at this request size and queue depth (bytes/s),
 * interpolated between measured points (time per request linear in the size, bandwidth
 * linear in the depth), latency-bound below the smallest size. */
double profile_seq_bw(const struct hy_profile *prof, uint64_t block, double depth);
/* Seconds to read n requests of `bytes` each, all submitted at once. */
double profile_read_seconds(const struct hy_profile *prof, uint64_t n, uint64_t bytes);
/* CPU FLOP/s in matrix-vector (decode) and matrix-matrix (prompt) products. */
double profile_cpu_matvec_flops(const struct hy_profile *prof);
double profile_cpu_matmul_flops(const struct hy_profile *prof);

#endif

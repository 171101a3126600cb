/* The placement planner: a pure function from (tensor table with roles and access
 * frequencies, hardware profile, budgets, context length) to a plan saying, for every
 * tensor, which tier holds it and which device computes with it, plus the pool, prefetch
 * depth, expert cache and the predicted speed. It reads no file and touches no hardware:
 * unit tests build inputs in memory.
 *
 * Not owned here: measuring the hardware (profile.h), carrying the plan out (the loader
 * and the streamer in model/ and io/). */
#ifndef HY_TIER_PLAN_H
#define HY_TIER_PLAN_H

#include "arch/hparams.h"
#include "tier/profile.h"
#include "tier/roles.h"

#include <stdbool.h>
#include <stdint.h>

enum plan_tier { TIER_GPU = 0, TIER_RAM = 1, TIER_DISK = 2 };
enum plan_device { DEVICE_CPU = 0, DEVICE_GPU = 1 };

enum plan_mode {
    PLAN_RESIDENT = 0,    /* every weight in RAM/VRAM (the token embedding may stay on
                             disk: it is read a row per token, not streamed) */
    PLAN_FFN_STREAM,      /* attention + norms resident; some FFN weights streamed */
    PLAN_LAYER_STREAM,    /* whole layers streamed */
    PLAN_EXPERT_STREAM,   /* expert slices streamed through an expert cache */
};

/* One tensor as the planner sees it (no data). */
struct plan_tensor_in {
    const char *name;
    uint32_t type;          /* enum qtype */
    uint64_t ne[4];
    uint64_t bytes;
    struct tensor_role role;/* role, layer, expert geometry (roles.h) */
    double freq;            /* expected fraction of its bytes touched per token (1 dense,
                               k/E for a fused expert tensor, or measured) */
};

struct plan_input {
    const struct hparams *hp;
    const struct plan_tensor_in *t;
    int n_tensors;
    /* Added: measured routing statistics, or NULL for uniform k/E. (n_layer, n_expert):
     * the fraction of tokens that use expert e of layer l (a row sums to about k). */
    const float *expert_freq;
};

struct plan_params {
    uint64_t ram_budget;    /* bytes the plan may use in RAM (weights + pool + KV + buffers) */
    uint64_t gpu_budget;    /* bytes of VRAM (0 = no GPU tier) */
    uint32_t n_ctx;         /* context length the KV cache is sized for */
    uint32_t n_batch;       /* prompt tokens per forward pass (compute buffer size) */
    int n_threads;
    const char *force_mode; /* NULL or a plan_mode name: plan in that mode if it fits */
    /* Added: */
    uint32_t pred_pos;      /* context position the decode speed is predicted at (0 = 256) */
    uint32_t n_seq;         /* sequences (sessions) the KV caches and compute buffers are
                               counted for; 0 = 1 */
};
struct plan_params plan_default_params(void);

/* Per tensor, in input order. */
struct plan_place {
    uint8_t tier;           /* enum plan_tier where the bytes live between uses */
    uint8_t device;         /* enum plan_device that computes with it */
};

struct plan_prediction {
    double prompt_tps, decode_tps;
    double disk_bytes_per_token;      /* bytes read from storage per decoded token */
    /* per decoded token, seconds: */
    double cpu_compute_s, gpu_compute_s, disk_transfer_s, pcie_transfer_s, stall_s;
};

struct plan {
    enum plan_mode mode;
    int n_tensors;
    struct plan_place *place;         /* (n_tensors) */
    uint64_t ram_budget, gpu_budget;
    uint64_t tier_bytes[3];           /* weight bytes held in each tier (enum plan_tier) */
    uint64_t pool_bytes;              /* streaming slots: n_slots x slot_bytes */
    uint32_t n_slots;
    uint64_t slot_bytes;
    uint32_t prefetch_depth;          /* streamed units read ahead of compute */
    uint64_t expert_cache_bytes;
    uint64_t kv_bytes;
    uint64_t compute_bytes;           /* activations, logits, scratch */
    struct plan_prediction pred;

    /* ---- added by the planner (not in the first contract) ---- */
    uint32_t n_ctx, n_batch;
    uint64_t ram_used, gpu_used;      /* everything planned in each budget */
    uint64_t min_ram_budget;          /* the smallest RAM budget a plan fits in */
    uint32_t n_expert_slots;          /* landing slots for demand-read expert slices */
    uint64_t expert_slot_bytes;       /* one expert's gate+up+down (largest layer) */
    uint32_t expert_cache_slices;     /* slices held in the expert cache (RAM) */
    uint32_t io_block, io_depth;      /* read size and queue depth the prediction assumes */
    uint64_t chunk_bytes;             /* streamed tensors are read in pieces of whole rows of
                                         at most this; slot_bytes is min(this, largest unit) */
    int n_layer;
    struct plan_layer *layers;        /* (n_layer) */
    uint32_t n_expert;                /* experts per layer (0 dense) */
    uint8_t *expert_tier;             /* (n_layer, n_expert) enum plan_tier of each expert's
                                         slice: gpu/ram = held (cache or resident), disk =
                                         read on demand; NULL for dense models */
};

/* Per layer (added). Units are what the streamer reads as one: a layer's streamed FFN
 * tensors, or the whole layer. */
struct plan_layer {
    uint8_t attn_tier;                /* enum plan_tier of the attention tensors */
    uint8_t ffn_tier;                 /* of the dense FFN / router / shared expert */
    uint8_t device;                   /* enum plan_device computing the layer */
    uint8_t streamed;                 /* 0 none, 1 FFN unit, 2 whole layer unit, 3 attention only */
    uint64_t stream_bytes;            /* bytes of its streamed unit (0 if none) */
    uint32_t n_expert_held;           /* expert slices held in RAM/VRAM */
};

/* Build a plan. Fails with -ENOMEM and a message naming the minimum budget when even
 * the smallest plan does not fit. */
int plan_build(const struct plan_input *in, const struct hy_profile *prof,
               const struct plan_params *p, struct plan **out);
void plan_free(struct plan *pl);
const char *plan_mode_name(enum plan_mode m);
const char *plan_tier_name(enum plan_tier t);

/* ---- added ---- */
const char *plan_device_name(enum plan_device d);
/* The mode named s ("ffn-stream", ...), or -1. */
int plan_mode_from_name(const char *s);
/* Re-evaluate the cost model on an existing plan's placement (for example with another
 * profile): fills pl->pred. The planner uses this same function on every candidate. */
int plan_estimate(const struct plan_input *in, const struct hy_profile *prof,
                  const struct plan_params *p, struct plan *pl);
/* What laying weights out for direct I/O may add, per run of adjacent resident tensors
 * and per streaming slot: the widening to the device's blocks (at most two of 4 KiB),
 * rounding to pages, and padding between tensors read along (at most PLAN_LAYOUT_GAP).
 * The planner reserves it for every tensor and slot. */
#define PLAN_LAYOUT_GAP (4u << 10)
#define PLAN_LAYOUT_PER_RUN (16u << 10)

/* Bytes of compute buffers (activations, scratch, logits) the runtime may use for a
 * context of n_ctx and prompt batches of n_batch; the plan reserves this much. */
uint64_t plan_compute_bytes(const struct hparams *hp, uint32_t n_ctx, uint32_t n_batch,
                            int n_threads);

struct gguf;
/* The planner's view of a GGUF header: one plan_tensor_in per tensor (names borrowed
 * from g), roles classified, default frequencies. *out is malloc'ed. */
int plan_input_from_gguf(const struct gguf *g, const struct hparams *hp,
                         struct plan_tensor_in **out, int *n);

#endif

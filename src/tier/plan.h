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

#include "model/hparams.h"
#include "tier/profile.h"
#include "tier/roles.h"

#include <stdbool.h>
#include <stdint.h>

enum plan_tier { TIER_GPU = 0, TIER_RAM = 1, TIER_DISK = 2 };
enum plan_device { DEVICE_CPU = 0, DEVICE_GPU = 1 };

enum plan_mode {
    PLAN_RESIDENT = 0,    /* every weight in RAM/VRAM */
    PLAN_FFN_STREAM,      /* attention + norms resident; some FFN weights streamed */
    PLAN_LAYER_STREAM,    /* whole layers streamed */
    PLAN_EXPERT_STREAM,   /* expert slices streamed through an expert cache */
};

/* One tensor as the planner sees it (no data). */
struct plan_tensor_in {
    const char *name;
    uint32_t type;          /* enum hy_type */
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
};

struct plan_params {
    uint64_t ram_budget;    /* bytes the plan may use in RAM (weights + pool + KV + buffers) */
    uint64_t gpu_budget;    /* bytes of VRAM (0 = no GPU tier) */
    uint32_t n_ctx;         /* context length the KV cache is sized for */
    uint32_t n_batch;       /* prompt tokens per forward pass (compute buffer size) */
    int n_threads;
    const char *force_mode; /* NULL or a plan_mode name: plan in that mode if it fits */
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
};

/* Build a plan. Fails with -ENOMEM and a message naming the minimum budget when even
 * the smallest plan does not fit. */
int plan_build(const struct plan_input *in, const struct hy_profile *prof,
               const struct plan_params *p, struct plan **out);
void plan_free(struct plan *pl);
const char *plan_mode_name(enum plan_mode m);
const char *plan_tier_name(enum plan_tier t);

#endif

/* A loaded model: the GGUF header, hyper-parameters, tokenizer, the tensor table bound to
 * the roles a forward pass needs, and where each tensor's bytes are (RAM, mapped file, or
 * disk through the streamer), as the plan decided. Immutable after hy_model_load.
 *
 * Not owned here: the decision where tensors go (tier/plan.h), the reading of streamed
 * weights (io/stream.h), per-conversation state (session.h). */
#ifndef HY_MODEL_MODEL_H
#define HY_MODEL_MODEL_H

#include "hypura.h"
#include "arch/hparams.h"
#include "ops/ops.h"

#include <stdbool.h>
#include <pthread.h>
#include <stdint.h>

struct gguf;
struct file;
struct tokenizer;
struct hy_plan;
struct streamer;
struct stream_tensor;

struct tensor {
    const char *name;        /* owned by the gguf */
    uint32_t type;           /* enum qtype */
    int64_t ne[4];           /* elements per dimension, innermost first */
    uint64_t nbytes;
    uint64_t file_off;       /* absolute offset of the data in the model file */
    size_t row_bytes;        /* bytes of one row (ne[0] elements) */
    const void *data;        /* in RAM (or the mapped file); NULL when on disk */
    int unit;                /* first streaming unit (chunk) holding it, -1 if none */
    int n_chunks;            /* streamed: its rows come in this many units, unit + c */
    int64_t chunk_rows;      /* rows per chunk (the last may have fewer) */
    uint8_t tier;            /* enum plan_tier */
    int16_t layer;           /* the layer it belongs to, -1 for global tensors */
    int8_t xpart;            /* a fused expert tensor: X_GATE, X_UP or X_DOWN; else -1 */
};

/* Mixture-of-experts limits: experts per layer, experts used per token. */
#define MOE_MAX_EXPERTS 512
#define MOE_MAX_USED 16

/* The three parts of an expert, as they lie in the fused tensors ffn_{gate,up,down}_exps. */
enum { X_GATE, X_UP, X_DOWN, X_PARTS };

/* Expert e of a MoE layer: its gate, up and down slices, byte ranges of the three fused
 * tensors (expert e's rows of each, viewed as 2-D: [e * ne1, (e + 1) * ne1)), held in
 * memory or streamed together as one unit. */
struct expert {
    const void *data[X_PARTS];    /* the slices in memory; NULL when streamed */
    int unit;                     /* the streaming unit holding all three, -1 in memory */
    uint64_t off[X_PARTS];        /* streamed: where each slice lies in the unit's slot */
};

struct layer {
    struct tensor *attn_norm;                       /* (n_embd) */
    struct tensor *wq, *wk, *wv, *wo;               /* (n_embd, n_head*hd) ... */
    struct tensor *bq, *bk, *bv;                    /* qwen2: (n_head*hd) ... */
    struct tensor *q_norm, *k_norm;                 /* qwen3: (head_dim) */
    struct tensor *ffn_norm;                        /* (n_embd) */
    struct tensor *ffn_gate, *ffn_up, *ffn_down;    /* dense: (n_embd, n_ff), (n_ff, n_embd) */
    struct tensor *gate_inp;                        /* MoE router (n_embd, n_expert) */
    struct tensor *gate_exps, *up_exps, *down_exps; /* (n_embd, n_ff_exp, n_expert) ... */
    struct tensor *gate_inp_shexp;                  /* qwen2moe shared-expert gate (n_embd) */
    struct tensor *gate_shexp, *up_shexp, *down_shexp; /* (n_embd, n_ff_shexp) ... */
    struct expert *experts;                         /* (n_expert) MoE layers, else NULL */
};

struct hy_model {
    char *path;
    struct file *file;          /* buffered: header, embedding rows, resident loads */
    struct gguf *gguf;
    struct hparams hp;
    int hp_rc;                     /* why hp could not be read (opened header-only), or 0 */
    struct tokenizer *tok;
    struct hy_model_params params;
    int n_threads;
    uint32_t n_ctx;                /* context sessions get by default (and at most) */
    uint32_t n_batch;              /* tokens per forward pass the plan has buffers for */

    int n_tensors;
    struct tensor *tensors;        /* (n_tensors) in file order */
    struct tensor *tok_embd, *output_norm, *output, *rope_freqs;
    struct layer *layers;          /* (n_layer) */
    struct expert *experts;        /* (n_layer, n_expert) slices of the fused expert tensors */
    float *rope_factors;           /* (n_rot / 2) dequantized rope_freqs, or NULL */

    struct hy_plan *plan;          /* NULL for vocab-only models */
    struct hy_profile prof;        /* the hardware figures the plan was made with */
    struct file *dfile;         /* direct reads: resident loads and streaming */
    struct streamer *stream;       /* NULL when nothing is streamed */
    pthread_mutex_t stream_mu;     /* one forward pass at a time walks the streamer */
    uint64_t *unit_off;            /* (streaming units) where a unit's rows start in its slot */
    void *arena;                   /* anonymous memory holding the RAM-tier tensors */
    size_t arena_len;
    void *map;                     /* HY_IO_MMAP: the mapped file */
    size_t map_len;
    uint64_t weight_bytes;
};

/* The matrices of one layer, named for the weight schedule: attention, the dense FFN,
 * and a MoE layer's router, routed experts (fused) and shared expert (qwen2moe). */
enum wstep {
    W_Q, W_K, W_V, W_O, W_GATE, W_UP, W_DOWN,
    W_ROUTER, W_GATE_EXPS, W_UP_EXPS, W_DOWN_EXPS,
    W_GATE_SHEXP, W_UP_SHEXP, W_SHEXP_INP, W_DOWN_SHEXP, W_N_STEPS
};
struct tensor *layer_weight(const struct layer *L, enum wstep w);

/* The weight schedule: every weight matrix in the order one forward pass multiplies by it
 * (layer by layer, then the output head), as forward.c declares it. The streamer numbers
 * its units in this order, so what it reads ahead is what the pass needs next. Writes up
 * to cap tensors to out; returns how many there are. */
int forward_weight_order(const hy_model *m, struct tensor **out, int cap);

/* What tests may change about placing: the file weights are read from (fault-injecting;
 * ownership passes to the model, also on failure), and the order the streamer is built
 * in (to see an order that differs from the forward pass's reported). */
struct place_hooks {
    struct file *dfile;
    void (*reorder)(const hy_model *m, struct tensor **order, int n, void *user);
    void *user;
};
/* hy_model_place and hy_model_load with hooks (NULL = none). */
int model_place(hy_model *m, const struct hy_model_params *params, const struct place_hooks *hooks);
int model_load_file(const char *path, const struct hy_model_params *params,
                    const struct place_hooks *hooks, hy_model **out);

/* Bytes of one expert's slice of a fused expert tensor. */
static inline uint64_t expert_slice_bytes(const struct tensor *t)
{
    return (uint64_t)t->ne[1] * t->row_bytes;
}

/* Bytes the loader reads into memory: a tensor, or a held expert's slice of a fused
 * tensor on disk; *dst is pointed at them. */
struct load_piece {
    uint64_t off, len;       /* in the file */
    const void **dst;
};

/* Placing experts (experts.c): the slices a layer's fused tensors hold, once binding
 * found them; where each lives once the tensors are placed. */
int experts_init(hy_model *m);
/* The slices of held experts whose fused tensors are on disk (the plan streams some of
 * the layer's experts, not these): written to out unless NULL; returns how many. */
int experts_held_pieces(hy_model *m, struct load_piece *out);
/* The streamed experts of layer l, one unit each (numbered from u0): their three slices
 * as stream tensors read on hint, and where each slice's place in the slot goes (dst).
 * Written to st and dst unless NULL (which only counts); returns the number of units. */
int experts_units(hy_model *m, int l, struct stream_tensor *st, uint64_t **dst, int u0);
/* The expert cache (hy_model_params.expert_cache) is lru, static or unset (lru). */
int experts_check_params(const struct hy_model_params *p);
/* Slots the expert cache gets: with the lru cache, the memory the plan gave held experts
 * of layers that stream some, in slots of the largest expert unit (slices widened to
 * blocks of align bytes); 0 with the static one. Call once the tiers are set. */
int experts_cache_slots(const hy_model *m, uint32_t align);
/* After loading: point every expert of a fused tensor held whole into it, and check that
 * each expert is in memory or streamed, all three parts alike. */
int experts_finish(hy_model *m);

/* A weight matrix view of t with its data pointer p. */
static inline struct wmat tensor_wmat(const struct tensor *t, const void *p)
{
    struct wmat w = {.type = t->type, .data = p, .n_in = t->ne[0], .n_out = t->ne[1],
                     .row_bytes = t->row_bytes};
    return w;
}

#endif

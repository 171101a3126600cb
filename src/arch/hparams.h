/* Architecture hyper-parameters read from GGUF metadata ("{arch}.block_count", ...).
 * Shared by the forward passes, the planner (KV cache and buffer sizes) and inspect.
 *
 * Not owned here: the tensors themselves (model.h). */
#ifndef HY_ARCH_HPARAMS_H
#define HY_ARCH_HPARAMS_H

#include <stdbool.h>
#include <stdint.h>

struct gguf;

enum model_arch {
    HY_ARCH_UNKNOWN = 0,
    HY_ARCH_LLAMA,      /* Llama 2/3, Mistral, TinyLlama, SmolLM; Mixtral when n_expert > 0 */
    HY_ARCH_QWEN2,      /* q/k/v bias, neox rope */
    HY_ARCH_QWEN3,      /* per-head q/k RMSNorm, neox rope */
    HY_ARCH_QWEN2MOE,   /* experts + shared expert behind a sigmoid gate */
    HY_ARCH_QWEN3MOE,   /* experts, q/k norms */
};

enum rope_type { HY_ROPE_NORM = 0, HY_ROPE_NEOX = 2 };
enum rope_scaling { HY_ROPE_SCALING_NONE = 0, HY_ROPE_SCALING_LINEAR, HY_ROPE_SCALING_YARN };

struct hparams {
    enum model_arch arch;
    char arch_name[32];
    uint32_t n_vocab;        /* from the token list or "{arch}.vocab_size" */
    uint32_t n_ctx_train;
    uint32_t n_embd;
    uint32_t n_layer;
    uint32_t n_head;
    uint32_t n_head_kv;
    uint32_t head_dim_k;     /* attention.key_length, default n_embd / n_head */
    uint32_t head_dim_v;     /* attention.value_length */
    uint32_t n_ff;           /* dense FFN width */
    uint32_t n_expert, n_expert_used;
    uint32_t n_ff_exp;       /* expert FFN width (qwen*moe), else n_ff */
    uint32_t n_ff_shexp;     /* shared expert width (qwen2moe) */
    bool expert_weights_norm;/* renormalise the top-k router weights (qwen3moe: norm_topk_prob) */
    float norm_eps;          /* RMSNorm epsilon */
    uint32_t n_rot;          /* rope.dimension_count, default head_dim_k */
    enum rope_type rope_type;
    float rope_freq_base;
    float rope_freq_scale;   /* 1 / rope.scaling.factor for linear scaling, else 1 */
    enum rope_scaling rope_scaling;
    uint32_t n_ctx_orig;     /* rope.scaling.original_context_length */
};

/* Read and check hyper-parameters (every count checked for sanity). Returns 0 or a
 * negative status with set_error set. */
int hparams_load(struct hparams *hp, const struct gguf *g);
const char *arch_to_name(enum model_arch a);

/* Bytes of F16 KV cache per token of context. */
uint64_t hparams_kv_bytes_per_token(const struct hparams *hp);

#endif

/* Tensor roles: what each tensor of a GGUF model is for, from the names llama.cpp gives
 * them ("blk.N.attn_q.weight", "ffn_gate_exps", ...), and how often a token touches it.
 * The planner groups tensors by role and layer; inspect shows the role column.
 *
 * Not owned here: the tensor table itself (gguf.h), where tensors go (plan.h). */
#ifndef HY_TIER_ROLES_H
#define HY_TIER_ROLES_H

#include <stdbool.h>
#include <stdint.h>

struct hparams;

/* Never renumber: roles are stored in plans and statistics. New roles go at the end. */
enum role {
    ROLE_OTHER = 0,         /* anything not recognised (kept with its layer, or global) */
    ROLE_TOKEN_EMBD,        /* token_embd: read one row per token */
    ROLE_OUTPUT,            /* output head (lm_head) */
    ROLE_OUTPUT_NORM,
    ROLE_ROPE_FREQS,        /* llama3 rope frequency factors */
    ROLE_ATTN_NORM,
    ROLE_ATTN_Q,
    ROLE_ATTN_K,
    ROLE_ATTN_V,
    ROLE_ATTN_O,
    ROLE_ATTN_QKV,          /* fused q/k/v (phi3 and others) */
    ROLE_ATTN_Q_BIAS,
    ROLE_ATTN_K_BIAS,
    ROLE_ATTN_V_BIAS,
    ROLE_ATTN_Q_NORM,       /* per-head RMSNorm (qwen3) */
    ROLE_ATTN_K_NORM,
    ROLE_FFN_NORM,
    ROLE_FFN_GATE,          /* dense FFN */
    ROLE_FFN_UP,
    ROLE_FFN_DOWN,
    ROLE_FFN_ROUTER,        /* ffn_gate_inp: expert router */
    ROLE_FFN_GATE_EXPS,     /* fused expert tensors: n_expert slices of expert_bytes */
    ROLE_FFN_UP_EXPS,
    ROLE_FFN_DOWN_EXPS,
    ROLE_FFN_GATE_SHEXP,    /* shared expert */
    ROLE_FFN_UP_SHEXP,
    ROLE_FFN_DOWN_SHEXP,
    ROLE_FFN_SHEXP_GATE,    /* ffn_gate_inp_shexp: the shared expert's sigmoid gate */
    ROLE_FFN_GATE_UP_EXPS,  /* gate and up of every expert fused in one tensor */
    ROLE_COUNT
};

/* Coarse groups the planner reasons with. */
enum role_group {
    RGROUP_GLOBAL = 0,      /* output head, output norm, rope_freqs, global others */
    RGROUP_EMBD,            /* token embedding (row reads) */
    RGROUP_ATTN,            /* a layer's attention tensors and its norms/others */
    RGROUP_FFN,             /* a layer's dense FFN, router and shared expert */
    RGROUP_EXPERT,          /* a layer's fused (or per-expert) expert tensors */
};

struct tensor_role {
    enum role role;
    int layer;              /* block index, -1 for global tensors */
    uint32_t n_expert;      /* fused expert tensors: experts in the tensor; else 0 */
    int expert;             /* old per-expert layout (ffn_gate.E): E; else -1 */
    uint64_t expert_bytes;  /* bytes of one expert's slice (bytes / n_expert); else 0 */
};

/* Classify a tensor by name. ne: its shape (innermost first) and bytes: its size; for
 * fused expert tensors the expert count is ne[2] (checked against hp->n_expert when
 * hp is not NULL). Unknown names give ROLE_OTHER (with the layer when the name has
 * one); a fused expert tensor whose bytes do not split evenly is -EINVAL. */
int role_classify(const char *name, const uint64_t ne[4], uint64_t bytes,
                  const struct hparams *hp, struct tensor_role *out);

const char *role_name(enum role r);    /* "attn_q", "ffn_gate_exps", ... ("?" if unknown) */
enum role_group role_group(enum role r);
bool role_is_expert(enum role r);      /* fused or per-expert expert weights */
/* 1-D tensors: norms, biases (tiny, read by every token). */
bool role_is_vector(enum role r);

/* Expected fraction of the tensor's bytes read per decoded token, with no measured
 * statistics: 1 for dense tensors, n_expert_used / n_expert for expert tensors, and
 * the row fraction 1 / n_vocab for the token embedding. */
double role_default_freq(const struct tensor_role *r, const struct hparams *hp);

#endif

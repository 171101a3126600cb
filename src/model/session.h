/* A session: one conversation's state over a shared model: the F16 KV cache, the number
 * of positions filled, activation buffers sized for a batch, the thread pool, logits.
 *
 * Not owned here: weights (model.h). */
#ifndef HY_MODEL_SESSION_H
#define HY_MODEL_SESSION_H

#include "model/model.h"
#include "ops/ops.h"

struct hy_session {
    hy_model *m;
    struct tpool *tp;
    uint32_t n_ctx;          /* positions the KV cache holds */
    uint32_t n_batch;        /* tokens per forward pass */
    int n_past;              /* positions filled */

    fp16_t *k_cache;        /* (layer, n_ctx, n_head_kv * head_dim_k) */
    fp16_t *v_cache;        /* (layer, n_ctx, n_head_kv * head_dim_v) */
    int64_t kv_dim_k, kv_dim_v;

    /* activations, (n_batch, width) each */
    float *x;                /* residual stream (n_embd) */
    float *xb;               /* normed input of a block (n_embd) */
    float *xb2;              /* block output (n_embd) */
    float *q;                /* (n_head * head_dim_k) */
    float *k, *v;            /* (kv_dim_k), (kv_dim_v) */
    float *att;              /* attention output (n_head * head_dim_v) */
    float *hb, *hb2;         /* FFN hidden (max of n_ff, n_ff_exp, n_ff_shexp) */
    struct mm_scratch mm;

    /* mixture of experts (NULL for dense models) */
    float *router;           /* router logits (n_batch, n_expert) */
    int *sel;                /* chosen experts, in router rank (n_batch, n_expert_used) */
    float *selw;             /* their weights (n_batch, n_expert_used) */
    float *moe;              /* weighted expert outputs (n_batch, n_expert_used, n_embd) */
    float *xe, *ye;          /* one expert's tokens: gathered input, output (n_batch, n_embd) */
    float *shgate;           /* shared expert's gate logit (n_batch) */
    int *pairs;              /* token-rank pairs t * n_expert_used + r, grouped by expert
                                (n_batch * n_expert_used) */
    int *first;              /* (n_expert + 1) where each expert's pairs start in pairs */
    int *used;               /* (n_expert) the experts a batch uses, by first use */

    float *logits;           /* (n_logits, n_vocab) */
    uint8_t *rowbuf;         /* one embedding row read from disk */
    int n_logits;            /* rows of logits of the last eval */
    int logits_cap;          /* rows allocated */

    struct hy_session_stats stats;
};

/* Run n tokens at positions n_past .. n_past + n - 1 (n <= n_batch) and write logits for
 * the last token (want_all: for every token) into s->logits. */
int forward_batch(hy_session *s, const hy_token *toks, int n, bool want_all);

#endif

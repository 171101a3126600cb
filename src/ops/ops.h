/* The operations a forward pass is made of, on the CPU: matrix products over quantized
 * weights (activations converted to the weight type's partner first, as llama.cpp does),
 * RMSNorm, RoPE, attention over an F16 KV cache, SwiGLU. Kernels are small functions
 * (out, in, weights, sizes); the ones that are worth it run on the thread pool.
 *
 * Numerics follow llama.cpp's CPU backend where it matters for matching its logits:
 * RMSNorm sums squares in double; RoPE builds its angles by repeated multiplication;
 * attention is its flash-attention path (Q rounded to F16, online softmax, V accumulated
 * in F16).
 *
 * Not owned here: per-type dot kernels (quant/), which weights to use (model/). */
#ifndef HY_OPS_H
#define HY_OPS_H

#include "ops/tpool.h"
#include "quant/blocks.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A 2-D weight matrix: n_out rows of n_in elements of `type`, rows row_bytes apart. */
struct wmat {
    uint32_t type;
    const void *data;
    int64_t n_in, n_out;
    size_t row_bytes;
};

/* One product of a batched matmul: out[t * ldo + r] = dot(w row r, x row t). */
struct mm_out {
    float *out;
    int64_t ldo;          /* floats between tokens' output rows */
    struct wmat w;
};

/* Scratch for activations converted to partner types; owned by a session. */
struct mm_scratch {
    void *buf;
    size_t cap;
};
void mm_scratch_free(struct mm_scratch *s);

/* Matrix products in two steps, so weights may arrive in pieces: convert the input x
 * (n_tok rows of n_in floats, ldx apart) once per partner type of the weight types
 * given, then run products (any rows of those types) against it as often as needed;
 * each run is one parallel job over all its products. The conversion lives in s until
 * the next prepare. Both return 0, or -ENOMEM when scratch cannot grow, -EINVAL for a
 * type without kernels or a product that was not prepared for. */
#define MM_MAX_PARTS 4
struct mm_prep {
    int n_tok;
    int64_t n_in;
    int n_parts;
    struct {
        uint32_t type;          /* partner type */
        const void *xq;         /* (n_tok, stride bytes) */
        size_t stride;
    } part[MM_MAX_PARTS];
};
int op_matmul_prepare(struct tpool *tp, struct mm_scratch *s, const float *x, int64_t ldx,
                      int n_tok, int64_t n_in, const uint32_t *wtypes, int n_types,
                      struct mm_prep *out);
int op_matmul_run(struct tpool *tp, const struct mm_prep *p, const struct mm_out *outs, int n_outs);

/* y = x / sqrt(mean(x^2) + eps) * w (w may be NULL). n elements, one row. */
void op_rmsnorm(float *y, const float *x, const float *w, int n, float eps);

struct rope_cfg {
    int n_rot;            /* dimensions rotated per head (even) */
    int neox;             /* 0: pairs (2i, 2i+1); 1: pairs (i, i + n_rot/2) */
    float freq_base, freq_scale;
    const float *freq_factors;   /* (n_rot / 2) llama3 rope_freqs, or NULL */
};
/* Rotate n_head heads of head_dim floats (contiguous) for position pos, in place. */
void op_rope(float *x, int n_head, int head_dim, int pos, const struct rope_cfg *c);

/* out = silu(gate) * up, n elements */
void op_swiglu(float *out, const float *gate, const float *up, int n);

/* Causal attention for n_tok query rows at positions pos0 .. pos0 + n_tok - 1 against a
 * KV cache holding positions 0 .. pos0 + n_tok - 1 (F16; head h's key at position p at
 * k + p * k_stride + h * head_dim_k, its value at v + p * v_stride + h * head_dim_v). q: (n_tok, n_head * head_dim_k),
 * out: (n_tok, n_head * head_dim_v). */
struct attn_args {
    float *out;
    const float *q;
    const fp16_t *k, *v;
    int n_tok, pos0;
    int n_head, n_head_kv, head_dim_k, head_dim_v;
    int64_t k_stride;     /* halves between positions in k */
    int64_t v_stride;     /* and in v */
    float scale;
};
void op_attention(struct tpool *tp, const struct attn_args *a);

/* Mixture-of-experts routing of one token, as llama.cpp computes it: a softmax over the
 * n router logits (n <= MOE_ROUTE_MAX), the k largest probabilities chosen, largest first
 * (the router rank; ties to the lower index), and those k as the experts' weights, divided
 * by their sum when norm. sel: (k) expert indices, w: (k) weights. */
#define MOE_ROUTE_MAX 512
void op_moe_route(const float *logits, int n, int k, bool norm, int *sel, float *w);

/* Dequantize row `row` of w into y (n_in floats). */
int op_get_row(const struct wmat *w, int64_t row, float *y);

#endif

/* Tensor roles from llama.cpp's tensor names. See roles.h. */
#include "tier/roles.h"
#include "arch/hparams.h"
#include "util/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    enum role role;
    const char *name;       /* the name's stem, without "blk.N." and ".weight"/".bias" */
    bool bias;              /* the stem ends in ".bias" */
} g_roles[] = {
    {ROLE_OTHER, "other", false},
    {ROLE_TOKEN_EMBD, "token_embd", false},
    {ROLE_OUTPUT, "output", false},
    {ROLE_OUTPUT_NORM, "output_norm", false},
    {ROLE_ROPE_FREQS, "rope_freqs", false},
    {ROLE_ATTN_NORM, "attn_norm", false},
    {ROLE_ATTN_Q, "attn_q", false},
    {ROLE_ATTN_K, "attn_k", false},
    {ROLE_ATTN_V, "attn_v", false},
    {ROLE_ATTN_O, "attn_output", false},
    {ROLE_ATTN_QKV, "attn_qkv", false},
    {ROLE_ATTN_Q_BIAS, "attn_q", true},
    {ROLE_ATTN_K_BIAS, "attn_k", true},
    {ROLE_ATTN_V_BIAS, "attn_v", true},
    {ROLE_ATTN_Q_NORM, "attn_q_norm", false},
    {ROLE_ATTN_K_NORM, "attn_k_norm", false},
    {ROLE_FFN_NORM, "ffn_norm", false},
    {ROLE_FFN_GATE, "ffn_gate", false},
    {ROLE_FFN_UP, "ffn_up", false},
    {ROLE_FFN_DOWN, "ffn_down", false},
    {ROLE_FFN_ROUTER, "ffn_gate_inp", false},
    {ROLE_FFN_GATE_EXPS, "ffn_gate_exps", false},
    {ROLE_FFN_UP_EXPS, "ffn_up_exps", false},
    {ROLE_FFN_DOWN_EXPS, "ffn_down_exps", false},
    {ROLE_FFN_GATE_SHEXP, "ffn_gate_shexp", false},
    {ROLE_FFN_UP_SHEXP, "ffn_up_shexp", false},
    {ROLE_FFN_DOWN_SHEXP, "ffn_down_shexp", false},
    {ROLE_FFN_SHEXP_GATE, "ffn_gate_inp_shexp", false},
    {ROLE_FFN_GATE_UP_EXPS, "ffn_gate_up_exps", false},
};
_Static_assert(sizeof g_roles / sizeof g_roles[0] == ROLE_COUNT, "one row per role");

const char *role_name(enum role r)
{
    if ((unsigned)r >= ROLE_COUNT)
        return "?";
    if (g_roles[r].bias) {
        /* the table's stem is shared with the weight; spell biases out */
        switch (r) {
        case ROLE_ATTN_Q_BIAS: return "attn_q_bias";
        case ROLE_ATTN_K_BIAS: return "attn_k_bias";
        case ROLE_ATTN_V_BIAS: return "attn_v_bias";
        default: break;
        }
    }
    return g_roles[r].name;
}

enum role_group role_group(enum role r)
{
    switch (r) {
    case ROLE_TOKEN_EMBD:
        return RGROUP_EMBD;
    case ROLE_OUTPUT:
    case ROLE_OUTPUT_NORM:
    case ROLE_ROPE_FREQS:
        return RGROUP_GLOBAL;
    case ROLE_FFN_NORM:
    case ROLE_FFN_GATE:
    case ROLE_FFN_UP:
    case ROLE_FFN_DOWN:
    case ROLE_FFN_ROUTER:
    case ROLE_FFN_GATE_SHEXP:
    case ROLE_FFN_UP_SHEXP:
    case ROLE_FFN_DOWN_SHEXP:
    case ROLE_FFN_SHEXP_GATE:
        return RGROUP_FFN;
    case ROLE_FFN_GATE_EXPS:
    case ROLE_FFN_UP_EXPS:
    case ROLE_FFN_DOWN_EXPS:
    case ROLE_FFN_GATE_UP_EXPS:
        return RGROUP_EXPERT;
    default:
        /* attention, and unknown per-layer tensors: read by every token with the layer */
        return RGROUP_ATTN;
    }
}

bool role_is_expert(enum role r)
{
    return role_group(r) == RGROUP_EXPERT;
}

bool role_is_vector(enum role r)
{
    switch (r) {
    case ROLE_OUTPUT_NORM:
    case ROLE_ROPE_FREQS:
    case ROLE_ATTN_NORM:
    case ROLE_ATTN_Q_BIAS:
    case ROLE_ATTN_K_BIAS:
    case ROLE_ATTN_V_BIAS:
    case ROLE_ATTN_Q_NORM:
    case ROLE_ATTN_K_NORM:
    case ROLE_FFN_NORM:
        return true;
    default:
        return false;
    }
}

/* Parse "blk.N." at the start of name: the layer and the rest. */
static bool parse_block(const char *name, int *layer, const char **rest)
{
    if (strncmp(name, "blk.", 4) != 0)
        return false;
    const char *p = name + 4;
    if (*p < '0' || *p > '9')
        return false;
    long v = 0;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (*p - '0');
        if (v > 1000000)
            return false;
        p++;
    }
    if (*p != '.')
        return false;
    *layer = (int)v;
    *rest = p + 1;
    return true;
}

int role_classify(const char *name, const uint64_t ne[4], uint64_t bytes,
                  const struct hparams *hp, struct tensor_role *out)
{
    memset(out, 0, sizeof *out);
    out->role = ROLE_OTHER;
    out->layer = -1;
    out->expert = -1;

    const char *stem = name;
    int layer = -1;
    if (parse_block(name, &layer, &stem))
        out->layer = layer;

    /* split off the suffix: ".weight", ".bias", and the old per-expert ".E" before it */
    size_t n = strlen(stem);
    bool bias = false;
    if (n > 7 && !strcmp(stem + n - 7, ".weight"))
        n -= 7;
    else if (n > 5 && !strcmp(stem + n - 5, ".bias")) {
        n -= 5;
        bias = true;
    }
    int expert = -1;
    {
        size_t k = n;
        while (k > 0 && stem[k - 1] >= '0' && stem[k - 1] <= '9')
            k--;
        if (k < n && k > 1 && stem[k - 1] == '.' && n - k <= 6 && layer >= 0) {
            expert = atoi(stem + k);
            n = k - 1;
        }
    }

    enum role found = ROLE_OTHER;
    for (int r = 1; r < ROLE_COUNT; r++)
        if (g_roles[r].bias == bias && strlen(g_roles[r].name) == n &&
            !memcmp(g_roles[r].name, stem, n)) {
            found = (enum role)r;
            break;
        }
    /* global roles only outside blocks, per-layer roles only inside */
    bool global = found == ROLE_TOKEN_EMBD || found == ROLE_OUTPUT || found == ROLE_OUTPUT_NORM ||
                  found == ROLE_ROPE_FREQS;
    if ((layer >= 0) == global)
        found = ROLE_OTHER;
    /* rope_freqs is global, but some converters store it once per block */
    if (layer >= 0 && n == 10 && !memcmp(stem, "rope_freqs", 10))
        found = ROLE_ROPE_FREQS;

    if (expert >= 0) {
        /* old Mixtral layout: blk.N.ffn_gate.E.weight, one tensor per expert */
        enum role fused = found == ROLE_FFN_GATE   ? ROLE_FFN_GATE_EXPS
                          : found == ROLE_FFN_UP   ? ROLE_FFN_UP_EXPS
                          : found == ROLE_FFN_DOWN ? ROLE_FFN_DOWN_EXPS
                                                   : ROLE_OTHER;
        if (fused == ROLE_OTHER) {
            out->role = ROLE_OTHER;
            return 0;
        }
        if (hp && hp->n_expert && (uint32_t)expert >= hp->n_expert) {
            set_error("%s: expert %d but the model has %u experts", name, expert, hp->n_expert);
            return -EINVAL;
        }
        out->role = fused;
        out->expert = expert;
        out->n_expert = 1;
        out->expert_bytes = bytes;
        return 0;
    }
    out->role = found;

    if (role_is_expert(found)) {
        uint64_t ne2 = ne ? ne[2] : 0;
        if (ne2 == 0 || ne2 > UINT32_MAX) {
            set_error("%s: a fused expert tensor needs the expert count as its third dimension", name);
            return -EINVAL;
        }
        if (hp && hp->n_expert && ne2 != hp->n_expert) {
            set_error("%s: %" PRIu64 " experts in the tensor, %u in the metadata", name, ne2,
                   hp->n_expert);
            return -EINVAL;
        }
        if (bytes % ne2) {
            set_error("%s: %" PRIu64 " bytes do not split into %" PRIu64 " experts", name, bytes, ne2);
            return -EINVAL;
        }
        out->n_expert = (uint32_t)ne2;
        out->expert_bytes = bytes / ne2;
    }
    return 0;
}

double role_default_freq(const struct tensor_role *r, const struct hparams *hp)
{
    if (role_is_expert(r->role)) {
        if (!hp || !hp->n_expert)
            return 1.0;
        return (double)hp->n_expert_used / (double)hp->n_expert;
    }
    if (r->role == ROLE_TOKEN_EMBD && hp && hp->n_vocab)
        return 1.0 / (double)hp->n_vocab;
    return 1.0;
}

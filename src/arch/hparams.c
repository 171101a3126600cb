/* Hyper-parameters from GGUF metadata. See hparams.h. */
#include "arch/hparams.h"
#include "gguf/gguf.h"
#include "util/log.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    enum model_arch arch;
    enum rope_type rope;
} g_archs[] = {
    {"llama", HY_ARCH_LLAMA, HY_ROPE_NORM},
    {"qwen2", HY_ARCH_QWEN2, HY_ROPE_NEOX},
    {"qwen3", HY_ARCH_QWEN3, HY_ROPE_NEOX},
    {"qwen2moe", HY_ARCH_QWEN2MOE, HY_ROPE_NEOX},
    {"qwen3moe", HY_ARCH_QWEN3MOE, HY_ROPE_NEOX},
};

const char *arch_to_name(enum model_arch a)
{
    for (size_t i = 0; i < sizeof g_archs / sizeof g_archs[0]; i++)
        if (g_archs[i].arch == a)
            return g_archs[i].name;
    return "unknown";
}

/* "{arch}.suffix" */
static const char *akey(const struct hparams *hp, const char *suffix, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s.%s", hp->arch_name, suffix);
    return buf;
}

/* A u32 that may also be stored as an array of per-layer values (all equal here). */
static int get_u32(const struct gguf *g, const struct hparams *hp, const char *suffix, uint32_t *out,
                   bool required)
{
    char key[128];
    akey(hp, suffix, key, sizeof key);
    int rc = gguf_get_u32(g, key, out);
    if (rc == -EINVAL) {
        enum gguf_vtype et;
        uint64_t n;
        if (gguf_get_arr(g, key, &et, &n) == 0 && n > 0 && (et == GGUF_U32 || et == GGUF_I32)) {
            const uint32_t *v = gguf_get_arr_data(g, key);
            if (et == GGUF_I32 && (int32_t)v[0] < 0) {
                set_error("%s: negative value %d", key, (int32_t)v[0]);
                return -EINVAL;
            }
            for (uint64_t i = 1; i < n; i++)
                if (v[i] != v[0]) {
                    set_error("%s: per-layer values differ (unsupported)", key);
                    return -EINVAL;
                }
            *out = v[0];
            return 0;
        }
        set_error("%s: not an unsigned integer", key);
        return rc;
    }
    if (rc == -ENOENT && required) {
        set_error("missing metadata key %s", key);
        return rc;
    }
    return rc == -ENOENT ? 0 : rc;
}

static int get_f32(const struct gguf *g, const struct hparams *hp, const char *suffix, float *out)
{
    char key[128];
    int rc = gguf_get_f32(g, akey(hp, suffix, key, sizeof key), out);
    if (rc == -EINVAL) {
        set_error("%s: not a number", key);
        return rc;
    }
    return 0;
}

int hparams_load(struct hparams *hp, const struct gguf *g)
{
    memset(hp, 0, sizeof *hp);
    const char *arch = gguf_get_str(g, "general.architecture", NULL);
    if (!arch) {
        set_error("missing general.architecture");
        return -EINVAL;
    }
    snprintf(hp->arch_name, sizeof hp->arch_name, "%s", arch);
    for (size_t i = 0; i < sizeof g_archs / sizeof g_archs[0]; i++)
        if (!strcmp(arch, g_archs[i].name)) {
            hp->arch = g_archs[i].arch;
            hp->rope_type = g_archs[i].rope;
        }
    int rc;
    if ((rc = get_u32(g, hp, "context_length", &hp->n_ctx_train, false)) ||
        (rc = get_u32(g, hp, "embedding_length", &hp->n_embd, true)) ||
        (rc = get_u32(g, hp, "block_count", &hp->n_layer, true)) ||
        (rc = get_u32(g, hp, "feed_forward_length", &hp->n_ff, false)) ||
        (rc = get_u32(g, hp, "attention.head_count", &hp->n_head, true)) ||
        (rc = get_u32(g, hp, "attention.head_count_kv", &hp->n_head_kv, false)) ||
        (rc = get_u32(g, hp, "attention.key_length", &hp->head_dim_k, false)) ||
        (rc = get_u32(g, hp, "attention.value_length", &hp->head_dim_v, false)) ||
        (rc = get_u32(g, hp, "rope.dimension_count", &hp->n_rot, false)) ||
        (rc = get_u32(g, hp, "expert_count", &hp->n_expert, false)) ||
        (rc = get_u32(g, hp, "expert_used_count", &hp->n_expert_used, false)) ||
        (rc = get_u32(g, hp, "expert_feed_forward_length", &hp->n_ff_exp, false)) ||
        (rc = get_u32(g, hp, "expert_shared_feed_forward_length", &hp->n_ff_shexp, false)) ||
        (rc = get_u32(g, hp, "vocab_size", &hp->n_vocab, false)) ||
        (rc = get_u32(g, hp, "rope.scaling.original_context_length", &hp->n_ctx_orig, false)))
        return rc;
    hp->norm_eps = 1e-5f;
    hp->rope_freq_base = 10000.0f;
    hp->rope_freq_scale = 1.0f;
    if ((rc = get_f32(g, hp, "attention.layer_norm_rms_epsilon", &hp->norm_eps)) ||
        (rc = get_f32(g, hp, "rope.freq_base", &hp->rope_freq_base)))
        return rc;
    /* rope scaling: "rope.scaling.type" + "rope.scaling.factor", or the older
     * "rope.scale_linear" */
    char key[128];
    const char *st = gguf_get_str(g, akey(hp, "rope.scaling.type", key, sizeof key), NULL);
    float factor = 0;
    if ((rc = get_f32(g, hp, "rope.scaling.factor", &factor)))
        return rc;
    if (factor == 0 && (rc = get_f32(g, hp, "rope.scale_linear", &factor)))
        return rc;
    if (st && !strcmp(st, "yarn"))
        hp->rope_scaling = HY_ROPE_SCALING_YARN;
    else if ((st && !strcmp(st, "linear")) || (!st && factor > 0 && factor != 1))
        hp->rope_scaling = HY_ROPE_SCALING_LINEAR;
    else if (st && strcmp(st, "none")) {
        set_error("rope scaling type '%s' is not supported", st);
        return -EINVAL;
    }
    if (hp->rope_scaling == HY_ROPE_SCALING_YARN) {
        set_error("YaRN rope scaling is not supported yet");
        return -EINVAL;
    }
    if (hp->rope_scaling == HY_ROPE_SCALING_LINEAR && factor > 0)
        hp->rope_freq_scale = 1.0f / factor;
    if (hp->n_vocab == 0) {
        uint64_t n;
        if (gguf_get_arr(g, "tokenizer.ggml.tokens", NULL, &n) == 0 && n <= UINT32_MAX)
            hp->n_vocab = (uint32_t)n;
    }
    if (!hp->n_head_kv)
        hp->n_head_kv = hp->n_head;
    if (!hp->n_head || hp->n_head % hp->n_head_kv) {
        set_error("head_count %u is not a multiple of head_count_kv %u", hp->n_head, hp->n_head_kv);
        return -EINVAL;
    }
    if (!hp->head_dim_k) {
        if (hp->n_embd % hp->n_head) {
            set_error("embedding_length %u is not a multiple of head_count %u", hp->n_embd, hp->n_head);
            return -EINVAL;
        }
        hp->head_dim_k = hp->n_embd / hp->n_head;
    }
    if (!hp->head_dim_v)
        hp->head_dim_v = hp->head_dim_k;
    if (!hp->n_rot)
        hp->n_rot = hp->head_dim_k;
    bool qwen_moe = hp->arch == HY_ARCH_QWEN2MOE || hp->arch == HY_ARCH_QWEN3MOE;
    if (!hp->n_ff_exp) /* as llama.cpp defaults it */
        hp->n_ff_exp = qwen_moe && hp->n_expert_used ? hp->n_ff / hp->n_expert_used : hp->n_ff;
    if (!hp->n_ff_shexp && hp->arch == HY_ARCH_QWEN2MOE)
        hp->n_ff_shexp = hp->n_ff; /* as llama.cpp: the shared expert is n_ff wide */
    if (hp->n_expert)
        hp->expert_weights_norm = hp->arch != HY_ARCH_QWEN2MOE;
    bool norm;
    if (gguf_get_bool(g, akey(hp, "expert_weights_norm", key, sizeof key), &norm) == 0)
        hp->expert_weights_norm = norm;
    /* sanity: sizes a real model could have (they drive allocations later) */
    if (hp->n_embd == 0 || hp->n_embd > (1u << 20) || hp->n_layer == 0 || hp->n_layer > 4096 ||
        hp->n_head > 4096 || hp->head_dim_k > 4096 || hp->head_dim_v > 4096 ||
        hp->n_rot > hp->head_dim_k || (hp->n_rot & 1) || hp->n_ff > (1u << 24) ||
        hp->n_expert > 4096 || hp->n_expert_used > hp->n_expert || hp->n_vocab > (1u << 24) ||
        (hp->n_expert && !hp->n_expert_used) || hp->n_ff_exp > (1u << 24) ||
        /* the forward pass sizes its buffers by these: none may be missing */
        hp->n_vocab == 0 || (hp->n_expert ? hp->n_ff_exp == 0 : hp->n_ff == 0) ||
        !(hp->norm_eps > 0) || !isfinite(hp->rope_freq_base) || hp->rope_freq_base <= 0) {
        set_error("implausible hyper-parameters (n_embd %u, n_layer %u, n_head %u, head_dim %u, "
               "n_rot %u, n_ff %u, experts %u/%u, n_vocab %u)",
               hp->n_embd, hp->n_layer, hp->n_head, hp->head_dim_k, hp->n_rot, hp->n_ff,
               hp->n_expert_used, hp->n_expert, hp->n_vocab);
        return -EINVAL;
    }
    return 0;
}

uint64_t hparams_kv_bytes_per_token(const struct hparams *hp)
{
    return (uint64_t)hp->n_layer * hp->n_head_kv * (hp->head_dim_k + hp->head_dim_v) * 2;
}

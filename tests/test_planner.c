/* The planner and the estimator on synthetic profiles and in-memory tensor tables (no
 * files, no hardware): the bar of issue 4. Also tensor roles, and the GGUF header path
 * (hy_plan_file's internals) counting the bytes read through the file layer on every
 * fixture and on synthetic headers of real model shapes. */
#include "gguf/gguf.h"
#include "io/file.h"
#include "arch/hparams.h"
#include "quant/types.h"
#include "test.h"
#include "tier/plan.h"
#include "tier/plan_file.h"
#include "tier/profile.h"
#include "tier/roles.h"
#include "util/common.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <sys/wait.h>

#define GiB (1024ull * 1024 * 1024)
#define MiB (1024ull * 1024)

/* ---- synthetic models ----------------------------------------------------------------- */

struct synth {
    struct hparams hp;
    struct plan_tensor_in *t;
    char (*names)[64];
    int n, cap;
    uint64_t total;
    bool tied;
};

/* llama.cpp's Q4_K_M rule for attn_v / ffn_down: more bits in the first and last eighth
 * and every third layer in between */
static bool more_bits(uint32_t i, uint32_t n)
{
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

static uint64_t type_bytes(uint32_t type, uint64_t n)
{
    const struct type_info *ti = type_info(type);
    return n / ti->blck * ti->bytes;
}

static void add(struct synth *m, const char *name, uint32_t type, uint64_t ne0, uint64_t ne1,
                uint64_t ne2)
{
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 64;
        m->t = realloc(m->t, (size_t)m->cap * sizeof *m->t);
        m->names = realloc(m->names, (size_t)m->cap * sizeof *m->names);
    }
    struct plan_tensor_in *t = &m->t[m->n];
    memset(t, 0, sizeof *t);
    snprintf(m->names[m->n], sizeof m->names[m->n], "%s", name);
    t->type = type;
    t->ne[0] = ne0;
    t->ne[1] = ne1 ? ne1 : 1;
    t->ne[2] = ne2 ? ne2 : 1;
    t->ne[3] = 1;
    t->bytes = type_bytes(type, ne0 * t->ne[1] * t->ne[2]);
    m->total += t->bytes;
    m->n++;
}

/* A Q4_K_M-like tensor table for hp. */
static void synth_build(struct synth *m, const struct hparams *hp, bool tied)
{
    memset(m, 0, sizeof *m);
    m->hp = *hp;
    m->tied = tied;
    struct hparams *h = &m->hp;
    if (!h->head_dim_k)
        h->head_dim_k = h->head_dim_v = h->n_embd / h->n_head;
    if (!h->n_head_kv)
        h->n_head_kv = h->n_head;
    if (!h->n_ff_exp)
        h->n_ff_exp = h->n_ff;
    if (!h->n_ctx_train)
        h->n_ctx_train = 8192;
    uint64_t E = h->n_embd, qd = (uint64_t)h->n_head * h->head_dim_k,
             kvd = (uint64_t)h->n_head_kv * h->head_dim_k;
    char nm[64];
    add(m, "token_embd.weight", HY_TYPE_Q4_K, E, h->n_vocab, 0);
    add(m, "output_norm.weight", HY_TYPE_F32, E, 0, 0);
    if (!tied)
        add(m, "output.weight", HY_TYPE_Q6_K, E, h->n_vocab, 0);
    for (uint32_t l = 0; l < h->n_layer; l++) {
        bool mb = more_bits(l, h->n_layer);
#define T(suffix, type, a, b, c)                                   \
    do {                                                           \
        snprintf(nm, sizeof nm, "blk.%u." suffix ".weight", l);    \
        add(m, nm, type, a, b, c);                                 \
    } while (0)
        T("attn_norm", HY_TYPE_F32, E, 0, 0);
        T("attn_q", HY_TYPE_Q4_K, E, qd, 0);
        T("attn_k", HY_TYPE_Q4_K, E, kvd, 0);
        T("attn_v", mb ? HY_TYPE_Q6_K : HY_TYPE_Q4_K, E, kvd, 0);
        T("attn_output", HY_TYPE_Q4_K, qd, E, 0);
        T("ffn_norm", HY_TYPE_F32, E, 0, 0);
        if (h->n_expert) {
            T("ffn_gate_inp", HY_TYPE_F32, E, h->n_expert, 0);
            T("ffn_gate_exps", HY_TYPE_Q4_K, E, h->n_ff_exp, h->n_expert);
            T("ffn_up_exps", HY_TYPE_Q4_K, E, h->n_ff_exp, h->n_expert);
            T("ffn_down_exps", mb ? HY_TYPE_Q6_K : HY_TYPE_Q4_K, h->n_ff_exp, E, h->n_expert);
        } else {
            T("ffn_gate", HY_TYPE_Q4_K, E, h->n_ff, 0);
            T("ffn_up", HY_TYPE_Q4_K, E, h->n_ff, 0);
            T("ffn_down", mb ? HY_TYPE_Q6_K : HY_TYPE_Q4_K, h->n_ff, E, 0);
        }
#undef T
    }
    for (int i = 0; i < m->n; i++) {
        m->t[i].name = m->names[i];
        CHECK(role_classify(m->t[i].name, m->t[i].ne, m->t[i].bytes, h, &m->t[i].role) == 0);
        m->t[i].freq = role_default_freq(&m->t[i].role, h);
    }
}

static void synth_free(struct synth *m)
{
    free(m->t);
    free(m->names);
}

static struct plan_input synth_input(const struct synth *m)
{
    return (struct plan_input){.hp = &m->hp, .t = m->t, .n_tensors = m->n};
}

static struct hparams hp_llama(uint32_t n_layer, uint32_t n_embd, uint32_t n_ff, uint32_t n_head,
                               uint32_t n_head_kv, uint32_t n_vocab)
{
    struct hparams hp = {0};
    hp.arch = HY_ARCH_LLAMA;
    snprintf(hp.arch_name, sizeof hp.arch_name, "llama");
    hp.n_layer = n_layer;
    hp.n_embd = n_embd;
    hp.n_ff = n_ff;
    hp.n_head = n_head;
    hp.n_head_kv = n_head_kv;
    hp.n_vocab = n_vocab;
    hp.n_ctx_train = 8192;
    return hp;
}

static struct hparams hp_70b(void) { return hp_llama(80, 8192, 28672, 64, 8, 128256); }
static struct hparams hp_8b(void) { return hp_llama(32, 4096, 14336, 32, 8, 128256); }

static struct hparams hp_mixtral(void)
{
    struct hparams hp = hp_llama(32, 4096, 14336, 32, 8, 32000);
    hp.n_expert = 8;
    hp.n_expert_used = 2;
    return hp;
}

/* 512 experts, top-10 (Qwen3-Next-like shape) */
static struct hparams hp_512(void)
{
    struct hparams hp = hp_llama(48, 2048, 5120, 16, 2, 151936);
    hp.arch = HY_ARCH_QWEN3MOE;
    snprintf(hp.arch_name, sizeof hp.arch_name, "qwen3moe");
    hp.n_expert = 512;
    hp.n_expert_used = 10;
    hp.n_ff_exp = 512;
    hp.head_dim_k = hp.head_dim_v = 256;
    return hp;
}

/* A machine like this one, with an NVMe-class disk. */
static struct hy_profile prof_cpu(double disk_scale)
{
    struct hy_profile p;
    profile_defaults(&p);
    snprintf(p.cpu_model, sizeof p.cpu_model, "synthetic");
    p.measured = p.disk_measured = true;
    p.n_cores = 8;
    p.cpu_flops = 400e9;
    p.cpu_flops_1t = 50e9;
    p.mem_bw = 40e9;
    p.mem_bw_1t = 15e9;
    static const uint32_t blocks[] = {64u << 10, 256u << 10, 1u << 20, 4u << 20};
    static const uint32_t depths[] = {1, 4, 16};
    static const double bw[4][3] = {{0.4e9, 1.2e9, 2.4e9}, {0.9e9, 2.5e9, 3.2e9},
                                    {1.6e9, 3.2e9, 3.4e9}, {2.2e9, 3.4e9, 3.4e9}};
    p.n_disk = 0;
    p.disk_bw = 0;
    for (int b = 0; b < 4; b++)
        for (int d = 0; d < 3; d++) {
            p.disk[p.n_disk++] = (struct hy_disk_point){blocks[b], depths[d], bw[b][d] * disk_scale};
            if (bw[b][d] * disk_scale > p.disk_bw) {
                p.disk_bw = bw[b][d] * disk_scale;
                p.disk_block = blocks[b];
                p.disk_depth = depths[d];
            }
        }
    p.disk_iops_qd1 = 12000 * disk_scale;
    p.disk_iops = 400000 * disk_scale;
    p.disk_iops_depth = 32;
    return p;
}

static struct hy_profile prof_gpu(void)
{
    struct hy_profile p = prof_cpu(1.0);
    p.has_gpu = true;
    snprintf(p.gpu_name, sizeof p.gpu_name, "synthetic GPU");
    p.vram_total = 24 * GiB;
    p.vram_free = 23 * GiB;
    p.gpu_mem_bw = 900e9;
    p.gpu_h2d_bw = 24e9;
    p.gpu_flops = 40e12;
    return p;
}

static struct plan_params params(uint64_t ram, uint64_t gpu)
{
    struct plan_params p = plan_default_params();
    p.ram_budget = ram;
    p.gpu_budget = gpu;
    p.n_ctx = 4096;
    p.n_threads = 8;
    return p;
}

/* Invariants every plan keeps. */
static void check_plan(const struct synth *m, const struct plan *pl, const struct plan_params *p,
                       const char *what)
{
    CHECKF(pl->ram_used <= p->ram_budget, "%s: RAM %" PRIu64 " > budget %" PRIu64, what, pl->ram_used,
           p->ram_budget);
    CHECKF(pl->gpu_used <= p->gpu_budget, "%s: VRAM %" PRIu64 " > budget %" PRIu64, what, pl->gpu_used,
           p->gpu_budget);
    uint64_t sum = pl->tier_bytes[0] + pl->tier_bytes[1] + pl->tier_bytes[2];
    CHECKF(sum == m->total, "%s: tiers hold %" PRIu64 " of %" PRIu64 " bytes", what, sum, m->total);
    uint64_t by_tier[3] = {0};
    for (int i = 0; i < m->n; i++) {
        CHECK(pl->place[i].tier <= TIER_DISK);
        by_tier[pl->place[i].tier] += m->t[i].bytes;
        if (pl->place[i].tier == TIER_GPU)
            CHECK(pl->place[i].device == DEVICE_GPU);
    }
    if (!m->hp.n_expert)
        for (int k = 0; k < 3; k++)
            CHECKF(by_tier[k] == pl->tier_bytes[k], "%s: tier %d: %" PRIu64 " vs %" PRIu64, what, k,
                   by_tier[k], pl->tier_bytes[k]);
    CHECK(pl->pool_bytes >= (uint64_t)pl->n_slots * pl->slot_bytes || pl->n_expert_slots);
    if (pl->mode == PLAN_FFN_STREAM || pl->mode == PLAN_LAYER_STREAM) {
        CHECK(pl->n_slots >= pl->prefetch_depth + 1);
        /* streamed units move in chunks of at most a slot: the slot is the chunk size,
         * or the largest unit when units are smaller */
        CHECKF(pl->slot_bytes > 0 && pl->slot_bytes <= pl->chunk_bytes,
               "%s: slot %" PRIu64 ", chunk %" PRIu64, what, pl->slot_bytes, pl->chunk_bytes);
    }
    CHECK(pl->pred.decode_tps > 0 && pl->pred.prompt_tps > 0);
}

/* The minimum budget named in the last error ("... needs X (N bytes)"), or 0. */
static uint64_t error_minimum(void)
{
    const char *e = hy_last_error();
    const char *b = strstr(e, "needs");
    b = b ? strstr(b, "(") : NULL;
    return b ? strtoull(b + 1, NULL, 10) : 0;
}

/* ---- the bar -------------------------------------------------------------------------- */

static void test_fits_all_resident(void)
{
    struct hparams hp = hp_8b();
    struct synth m;
    synth_build(&m, &hp, false);
    struct hy_profile prof = prof_cpu(1);
    struct plan_params p = params(32 * GiB, 0);
    struct plan *pl;
    CHECK(plan_build(&(struct plan_input){.hp = &m.hp, .t = m.t, .n_tensors = m.n}, &prof, &p, &pl) == 0);
    if (!pl)
        goto out;
    check_plan(&m, pl, &p, "8b/32G");
    CHECK_EQ(pl->mode, PLAN_RESIDENT);
    for (int i = 0; i < m.n; i++)
        CHECKF(pl->place[i].tier == TIER_RAM && pl->place[i].device == DEVICE_CPU, "%s", m.t[i].name);
    CHECK_EQ(pl->tier_bytes[TIER_RAM], m.total);
    CHECK_EQ(pl->pool_bytes, 0);
    CHECK(pl->pred.disk_bytes_per_token == 0);
    CHECK(pl->pred.stall_s == 0);
    /* memory-bound decode: about total bytes / bandwidth */
    /* (the token embedding is read one row per token) */
    double t = 1 / pl->pred.decode_tps, bound = (double)(m.total - m.t[0].bytes) / prof.mem_bw;
    CHECKF(t >= bound && t < bound * 1.3, "decode %.4f s vs %.4f s", t, bound);
    printf("  8B Q4_K_M-like %.2f GiB: resident, decode %.1f tok/s, prompt %.1f tok/s\n",
           (double)m.total / GiB, pl->pred.decode_tps, pl->pred.prompt_tps);
    plan_free(pl);
out:
    synth_free(&m);
}

static void test_70b_streams_ffn(void)
{
    struct hparams hp = hp_70b();
    struct synth m;
    synth_build(&m, &hp, false);
    struct hy_profile prof = prof_cpu(1);
    struct plan_params p = params(32 * GiB, 0);
    struct plan *pl;
    struct plan_input in = synth_input(&m);
    CHECK(plan_build(&in, &prof, &p, &pl) == 0);
    if (!pl)
        goto out;
    check_plan(&m, pl, &p, "70b/32G");
    CHECK_EQ(pl->mode, PLAN_FFN_STREAM);
    int n_ffn_disk = 0, n_ffn_ram = 0;
    for (int i = 0; i < m.n; i++) {
        enum role_group g = role_group(m.t[i].role.role);
        if (role_is_vector(m.t[i].role.role) || g == RGROUP_ATTN || m.t[i].role.role == ROLE_OUTPUT)
            CHECKF(pl->place[i].tier == TIER_RAM, "%s should be resident", m.t[i].name);
        if (m.t[i].role.role == ROLE_FFN_GATE || m.t[i].role.role == ROLE_FFN_UP ||
            m.t[i].role.role == ROLE_FFN_DOWN) {
            if (pl->place[i].tier == TIER_DISK)
                n_ffn_disk++;
            else
                n_ffn_ram++;
        }
        if (m.t[i].role.role == ROLE_TOKEN_EMBD)
            CHECKF(pl->place[i].tier == TIER_DISK, "token_embd: row reads, never resident when short");
    }
    CHECK(n_ffn_disk > 0);
    CHECK(n_ffn_ram > 0); /* as much resident as the budget allows */
    CHECK(pl->prefetch_depth >= 1);
    /* the budget is used: less than one FFN unit plus a slot of slack left */
    uint64_t unit = pl->slot_bytes;
    CHECKF(p.ram_budget - pl->ram_used < 2 * unit, "left %" PRIu64 " MiB unused",
           (uint64_t)((p.ram_budget - pl->ram_used) / MiB));
    /* streamed bytes per token = the FFN units on disk (+ an embedding row) */
    CHECK(pl->pred.disk_bytes_per_token >= (double)pl->tier_bytes[TIER_DISK] - (double)m.t[0].bytes);
    printf("  70B %.1f GiB on 32 GiB: %s, %d/%d FFN tensors streamed, %u slots x %.0f MiB, depth %u, "
           "decode %.2f tok/s (%.1f MiB/token from disk, stall %.0f ms)\n",
           (double)m.total / GiB, plan_mode_name(pl->mode), n_ffn_disk, n_ffn_disk + n_ffn_ram, pl->n_slots,
           (double)pl->slot_bytes / MiB, pl->prefetch_depth, pl->pred.decode_tps,
           pl->pred.disk_bytes_per_token / MiB, pl->pred.stall_s * 1e3);
    plan_free(pl);
out:
    synth_free(&m);
}

static void test_mixtral_streams_experts(void)
{
    struct hparams hp = hp_mixtral();
    struct synth m;
    synth_build(&m, &hp, false);
    struct hy_profile prof = prof_cpu(1);
    struct plan_params p = params(16 * GiB, 0);
    struct plan *pl;
    struct plan_input in = synth_input(&m);
    CHECK(plan_build(&in, &prof, &p, &pl) == 0);
    if (!pl)
        goto out;
    check_plan(&m, pl, &p, "mixtral/16G");
    CHECK_EQ(pl->mode, PLAN_EXPERT_STREAM);
    int n_exp_disk = 0;
    for (int i = 0; i < m.n; i++) {
        enum role r = m.t[i].role.role;
        if (role_is_expert(r)) {
            n_exp_disk += pl->place[i].tier == TIER_DISK;
            continue;
        }
        if (r == ROLE_TOKEN_EMBD)
            continue; /* row reads: resident only when nothing better uses the bytes */
        CHECKF(pl->place[i].tier == TIER_RAM, "%s should be resident", m.t[i].name);
    }
    CHECK(n_exp_disk > 0);
    /* the pool holds expert slices (gate+up+down of one expert), k at least */
    uint64_t slice = 0;
    for (int i = 0; i < m.n; i++)
        if (m.t[i].role.layer == 0 && role_is_expert(m.t[i].role.role))
            slice += m.t[i].role.expert_bytes;
    CHECK(pl->expert_slot_bytes >= slice);
    CHECK(pl->slot_bytes >= slice);
    CHECK(pl->n_expert_slots >= hp.n_expert_used);
    CHECK(pl->n_slots >= pl->prefetch_depth + 1);
    CHECK(pl->expert_cache_slices > 0);
    CHECK(pl->expert_cache_bytes >= (uint64_t)pl->expert_cache_slices * (slice - slice / 8));
    CHECK(pl->expert_tier != NULL && pl->n_expert == 8);
    /* the cache is spread over layers */
    uint32_t lo = UINT32_MAX, hi = 0;
    for (int l = 0; l < pl->n_layer; l++) {
        lo = HY_MIN(lo, pl->layers[l].n_expert_held);
        hi = HY_MAX(hi, pl->layers[l].n_expert_held);
    }
    CHECKF(hi - lo <= 1, "held experts per layer %u..%u", lo, hi);
    printf("  Mixtral %.1f GiB on 16 GiB: %s, cache %u slices (%.1f GiB), %u slots x %.0f MiB, decode "
           "%.2f tok/s (%.0f MiB/token)\n",
           (double)m.total / GiB, plan_mode_name(pl->mode), pl->expert_cache_slices,
           (double)pl->expert_cache_bytes / GiB, pl->n_expert_slots, (double)pl->expert_slot_bytes / MiB,
           pl->pred.decode_tps, pl->pred.disk_bytes_per_token / MiB);
    plan_free(pl);
out:
    synth_free(&m);
}

static void test_512_experts_per_expert_plan(void)
{
    struct hparams hp = hp_512();
    struct synth m;
    synth_build(&m, &hp, false);
    struct hy_profile prof = prof_cpu(1);
    struct plan_params p = params(8 * GiB, 0);
    struct plan *pl;
    struct plan_input in = synth_input(&m);
    CHECK(plan_build(&in, &prof, &p, &pl) == 0);
    if (!pl)
        goto out;
    check_plan(&m, pl, &p, "512x10/8G");
    CHECK_EQ(pl->mode, PLAN_EXPERT_STREAM);
    CHECK_EQ(pl->n_expert, 512);
    uint64_t slice = 0;
    for (int i = 0; i < m.n; i++)
        if (m.t[i].role.layer == 0 && role_is_expert(m.t[i].role.role))
            slice += m.t[i].role.expert_bytes;
    /* the unit is one expert, not a fused tensor */
    CHECKF(pl->expert_slot_bytes == slice, "slot %" PRIu64 " vs slice %" PRIu64, pl->expert_slot_bytes, slice);
    CHECK(pl->n_expert_slots >= 10);
    uint32_t held = 0, lo = UINT32_MAX, hi = 0;
    for (int l = 0; l < pl->n_layer; l++) {
        uint32_t n = 0;
        for (uint32_t e = 0; e < 512; e++)
            n += pl->expert_tier[(size_t)l * 512 + e] != TIER_DISK;
        CHECK_EQ(n, pl->layers[l].n_expert_held);
        held += n;
        lo = HY_MIN(lo, n);
        hi = HY_MAX(hi, n);
    }
    CHECK_EQ(held, pl->expert_cache_slices);
    CHECK(held > 0 && held < 48 * 512);
    CHECKF(hi - lo <= 1, "held per layer %u..%u", lo, hi);
    CHECK((double)pl->expert_cache_bytes + (double)pl->tier_bytes[TIER_RAM] > 0);
    printf("  512 experts top-10 %.1f GiB on 8 GiB: %s, %u of %u slices held, slice %.2f MiB, decode "
           "%.2f tok/s\n",
           (double)m.total / GiB, plan_mode_name(pl->mode), held, 48 * 512, (double)slice / MiB,
           pl->pred.decode_tps);
    plan_free(pl);
out:
    synth_free(&m);
}

/* Measured routing statistics: the hottest experts are the ones held. */
static void test_measured_expert_freq(void)
{
    struct hparams hp = hp_mixtral();
    hp.n_layer = 4;
    struct synth m;
    synth_build(&m, &hp, false);
    float freq[4 * 8];
    for (int l = 0; l < 4; l++)
        for (int e = 0; e < 8; e++)
            freq[l * 8 + e] = e == (l % 8) ? 0.9f : 1.1f / 7; /* sums to 2 */
    struct hy_profile prof = prof_cpu(1);
    struct plan_input in = synth_input(&m);
    in.expert_freq = freq;
    /* room for about one slice per layer beyond the rest */
    uint64_t slice = 0, nonexp = 0;
    for (int i = 0; i < m.n; i++) {
        if (role_is_expert(m.t[i].role.role)) {
            if (m.t[i].role.layer == 0)
                slice += m.t[i].role.expert_bytes;
        } else {
            nonexp += m.t[i].bytes;
        }
    }
    struct plan_params p = params(0, 0);
    p.n_ctx = 512;
    p.ram_budget = nonexp + plan_compute_bytes(&m.hp, 512, 512, 8) + 4 * 512 * 1024ull * 4 + 2 * slice + 4 * slice +
                   slice / 2 + 64 * MiB;
    struct plan *pl;
    CHECK(plan_build(&in, &prof, &p, &pl) == 0);
    if (pl) {
        check_plan(&m, pl, &p, "mixtral4/freq");
        CHECK_EQ(pl->mode, PLAN_EXPERT_STREAM);
        for (int l = 0; l < 4; l++)
            CHECKF(pl->expert_tier[l * 8 + l % 8] == TIER_RAM, "layer %d: hot expert %d not held", l, l % 8);
        plan_free(pl);
    }
    synth_free(&m);
}

static void test_too_small_budget(void)
{
    struct hparams hp = hp_70b();
    struct synth m;
    synth_build(&m, &hp, false);
    struct hy_profile prof = prof_cpu(1);
    struct plan_params p = params(512 * MiB, 0);
    struct plan *pl = (struct plan *)1;
    struct plan_input in = synth_input(&m);
    int rc = plan_build(&in, &prof, &p, &pl);
    CHECK_EQ(rc, -ENOMEM);
    CHECK(pl == NULL);
    const char *e = hy_last_error();
    CHECKF(strstr(e, "too small") && strstr(e, "needs"), "message: %s", e);
    uint64_t min = error_minimum();
    CHECKF(min > p.ram_budget, "minimum %" PRIu64 " from '%s'", min, e);
    /* the minimum it names is enough */
    p.ram_budget = min;
    CHECK(plan_build(&in, &prof, &p, &pl) == 0);
    if (pl) {
        check_plan(&m, pl, &p, "70b/min");
        CHECK_EQ(pl->mode, PLAN_LAYER_STREAM);
        CHECK_EQ(pl->min_ram_budget, min);
        printf("  70B minimum RAM budget %.2f GiB: %s, decode %.3f tok/s\n", (double)min / GiB,
               plan_mode_name(pl->mode), pl->pred.decode_tps);
        plan_free(pl);
    }
    p.ram_budget = min - 1;
    CHECK(plan_build(&in, &prof, &p, &pl) == -ENOMEM);
    synth_free(&m);
}

/* A server's sequence slots: n_seq KV caches and compute buffers inside the budget, so
 * fewer weights stay resident for the same budget; one sequence plans as before. */
static void test_n_seq_kv_in_budget(void)
{
    struct hparams hp = hp_70b();
    struct synth m;
    synth_build(&m, &hp, false);
    struct hy_profile prof = prof_cpu(1);
    struct plan_input in = synth_input(&m);
    struct plan_params p = params(32 * GiB, 0);
    p.n_ctx = 4096;
    struct plan *one = NULL, *four = NULL, *dflt = NULL;
    CHECK(plan_build(&in, &prof, &p, &dflt) == 0);
    p.n_seq = 1;
    CHECK(plan_build(&in, &prof, &p, &one) == 0);
    p.n_seq = 4;
    CHECK(plan_build(&in, &prof, &p, &four) == 0);
    if (one && four && dflt) {
        CHECK_EQ(dflt->kv_bytes, one->kv_bytes);
        CHECK_EQ(dflt->tier_bytes[TIER_RAM], one->tier_bytes[TIER_RAM]);
        CHECK_EQ(four->kv_bytes, 4 * one->kv_bytes);
        CHECK_EQ(four->compute_bytes, 4 * one->compute_bytes);
        CHECK(four->ram_used <= p.ram_budget);
        /* the three more caches push weights out to disk */
        CHECKF(four->tier_bytes[TIER_RAM] + 3 * one->kv_bytes <= one->tier_bytes[TIER_RAM] + one->slot_bytes * 2,
               "resident %.0f MiB with 4 sequences, %.0f MiB with one",
               (double)four->tier_bytes[TIER_RAM] / MiB, (double)one->tier_bytes[TIER_RAM] / MiB);
        printf("  70B on 32 GiB, 4096 context: 1 sequence %.2f GiB KV, 4 sequences %.2f GiB KV\n",
               (double)one->kv_bytes / GiB, (double)four->kv_bytes / GiB);
    }
    plan_free(one);
    plan_free(four);
    plan_free(dflt);
    synth_free(&m);
}

/* ---- properties ----------------------------------------------------------------------- */

static struct hparams random_hp(uint64_t *rs)
{
    static const uint32_t embd[] = {256, 512, 1024, 2048, 4096, 8192};
    uint32_t ne = embd[test_rand(rs) % 6];
    uint32_t nh = ne / 128 ? ne / 128 : 2;
    struct hparams hp = hp_llama(1 + (uint32_t)(test_rand(rs) % 60), ne, ne * (2 + (uint32_t)(test_rand(rs) % 3)),
                                 nh, nh / (1 + (uint32_t)(test_rand(rs) % 2)) ? nh / (1 + (uint32_t)(test_rand(rs) % 2)) : 1,
                                 256 * (1 + (uint32_t)(test_rand(rs) % 500)));
    if (hp.n_head % hp.n_head_kv)
        hp.n_head_kv = hp.n_head;
    if (test_rand(rs) % 3 == 0) {
        static const uint32_t ex[] = {4, 8, 16, 64, 128};
        hp.n_expert = ex[test_rand(rs) % 5];
        hp.n_expert_used = 1 + (uint32_t)(test_rand(rs) % HY_MIN(hp.n_expert, 8));
        hp.n_ff_exp = 256 * (1 + (uint32_t)(test_rand(rs) % 8));
    }
    return hp;
}

static void test_property_budgets(void)
{
    uint64_t rs = 42;
    int n_ok = 0, n_nomem = 0, n_modes[4] = {0};
    for (int it = 0; it < 300; it++) {
        struct hparams hp = random_hp(&rs);
        struct synth m;
        synth_build(&m, &hp, test_rand(&rs) % 4 == 0);
        bool gpu = test_rand(&rs) % 3 == 0;
        struct hy_profile prof = gpu ? prof_gpu() : prof_cpu(0.2 + test_randf(&rs) + 1);
        double frac = 0.02 + (test_randf(&rs) + 1) * 0.7; /* 2% .. 142% of the model */
        struct plan_params p = params((uint64_t)(frac * (double)m.total) + (uint64_t)(test_rand(&rs) % (256 * MiB)),
                                      gpu ? (uint64_t)((test_randf(&rs) + 1) * 0.3 * (double)m.total) : 0);
        p.n_ctx = 256 << (test_rand(&rs) % 5);
        struct plan *pl;
        struct plan_input in = synth_input(&m);
        int rc = plan_build(&in, &prof, &p, &pl);
        char what[96];
        snprintf(what, sizeof what, "case %d (L%u E%u x%u, %.2f)", it, hp.n_layer, hp.n_embd, hp.n_expert, frac);
        if (rc == 0) {
            check_plan(&m, pl, &p, what);
            n_ok++;
            n_modes[pl->mode]++;
            CHECKF(pl->min_ram_budget <= p.ram_budget, "%s: min %" PRIu64 " > budget", what, pl->min_ram_budget);
            plan_free(pl);
        } else {
            CHECKF(rc == -ENOMEM, "%s: rc %d (%s)", what, rc, hy_last_error());
            n_nomem++;
            /* the minimum named is above this budget, and enough */
            uint64_t min = error_minimum();
            CHECKF(min > p.ram_budget, "%s: minimum %" PRIu64 " <= budget %" PRIu64, what, min, p.ram_budget);
            p.ram_budget = min;
            rc = plan_build(&in, &prof, &p, &pl);
            CHECKF(rc == 0, "%s: the minimum budget named fails: %s", what, hy_last_error());
            if (rc == 0) {
                check_plan(&m, pl, &p, what);
                plan_free(pl);
            }
        }
        synth_free(&m);
    }
    printf("  300 random cases: %d planned (resident %d, ffn %d, layer %d, expert %d), %d too small\n", n_ok,
           n_modes[0], n_modes[1], n_modes[2], n_modes[3], n_nomem);
    CHECK(n_ok > 100 && n_nomem > 0);
}

/* A faster disk never predicts a slower plan: the planner's choice (it minimises decode
 * time) is never slower, and any fixed plan re-estimated on the faster disk is never
 * slower at decode or prompt. (The prompt speed of the *chosen* plan may dip by a hair
 * when a faster disk makes a plan with better decode and marginally worse prompt win.) */
static void test_property_faster_disk(void)
{
    uint64_t rs = 7;
    int n = 0;
    for (int it = 0; it < 150; it++) {
        struct hparams hp = random_hp(&rs);
        struct synth m;
        synth_build(&m, &hp, false);
        double frac = 0.05 + (test_randf(&rs) + 1) * 0.5;
        struct plan_params p = params((uint64_t)(frac * (double)m.total) + 512 * MiB, 0);
        struct plan_input in = synth_input(&m);
        double prev_dec = 0;
        for (double s = 0.25; s <= 16; s *= 2) {
            struct hy_profile prof = prof_cpu(s);
            struct plan *pl;
            if (plan_build(&in, &prof, &p, &pl) != 0)
                break;
            CHECKF(pl->pred.decode_tps >= prev_dec * (1 - 1e-12), "case %d: disk x%.2f decode %.6f < %.6f", it, s,
                   pl->pred.decode_tps, prev_dec);
            prev_dec = pl->pred.decode_tps;
            struct plan_prediction a = pl->pred;
            struct hy_profile fast = prof_cpu(s * 1.7);
            CHECK(plan_estimate(&in, &fast, &p, pl) == 0);
            CHECKF(pl->pred.decode_tps >= a.decode_tps * (1 - 1e-12), "case %d: same plan, faster disk: decode %.6f < %.6f",
                   it, pl->pred.decode_tps, a.decode_tps);
            CHECKF(pl->pred.prompt_tps >= a.prompt_tps * (1 - 1e-12), "case %d: same plan, faster disk: prompt %.6f < %.6f",
                   it, pl->pred.prompt_tps, a.prompt_tps);
            n++;
            plan_free(pl);
        }
        synth_free(&m);
    }
    CHECK(n > 300);
}

/* ---- GPU, estimator, forcing ---------------------------------------------------------- */

static void test_gpu_tier(void)
{
    struct hparams hp = hp_8b();
    struct synth m;
    synth_build(&m, &hp, false);
    struct hy_profile prof = prof_gpu();
    struct plan_params p = params(32 * GiB, 3 * GiB);
    struct plan *pl;
    struct plan_input in = synth_input(&m);
    CHECK(plan_build(&in, &prof, &p, &pl) == 0);
    if (pl) {
        check_plan(&m, pl, &p, "8b/gpu3G");
        CHECK(pl->tier_bytes[TIER_GPU] > 0 && pl->tier_bytes[TIER_GPU] < 3 * GiB);
        CHECK(pl->layers[0].device == DEVICE_GPU);
        CHECK(pl->layers[pl->n_layer - 1].device == DEVICE_CPU);
        double cpu_only_tps = 0;
        struct plan *pc;
        struct plan_params q = params(32 * GiB, 0);
        if (plan_build(&in, &prof, &q, &pc) == 0) {
            CHECK_EQ(pc->tier_bytes[TIER_GPU], 0);
            cpu_only_tps = pc->pred.decode_tps;
            plan_free(pc);
        }
        CHECK(pl->pred.decode_tps > cpu_only_tps);
        CHECK(pl->pred.gpu_compute_s > 0);
        plan_free(pl);
    }
    synth_free(&m);
}

static void estimate_matches(struct hparams hp, uint64_t budget);

static void test_estimate_matches_plan(void)
{
    struct hparams hp = hp_70b();
    hp.n_layer = 20;
    estimate_matches(hp, 6 * GiB);          /* ffn-stream */
    estimate_matches(hp, 3 * GiB);          /* layer-stream */
    estimate_matches(hp_mixtral(), 12 * GiB); /* expert-stream */
    estimate_matches(hp_8b(), 12 * GiB);    /* resident */
}

static void estimate_matches(struct hparams hp, uint64_t budget)
{
    struct synth m;
    synth_build(&m, &hp, false);
    struct hy_profile prof = prof_cpu(1);
    struct plan_params p = params(budget, 0);
    struct plan *pl;
    struct plan_input in = synth_input(&m);
    CHECK(plan_build(&in, &prof, &p, &pl) == 0);
    if (pl) {
        struct plan_prediction a = pl->pred;
        CHECK(plan_estimate(&in, &prof, &p, pl) == 0);
        CHECKF(fabs(a.decode_tps - pl->pred.decode_tps) <= 1e-9 * a.decode_tps, "%g vs %g", a.decode_tps,
               pl->pred.decode_tps);
        CHECK(fabs(a.prompt_tps - pl->pred.prompt_tps) <= 1e-9 * a.prompt_tps);
        CHECK(a.disk_bytes_per_token == pl->pred.disk_bytes_per_token);
        /* the same plan on a disk twice as fast predicts no slower */
        struct hy_profile fast = prof_cpu(2);
        CHECK(plan_estimate(&in, &fast, &p, pl) == 0);
        CHECK(pl->pred.decode_tps >= a.decode_tps);
        plan_free(pl);
    }
    synth_free(&m);
}

static void test_forced_modes(void)
{
    struct hparams hp = hp_8b();
    hp.n_layer = 8;
    struct synth m;
    synth_build(&m, &hp, false);
    struct hy_profile prof = prof_cpu(1);
    struct plan_input in = synth_input(&m);
    static const char *const modes[] = {"resident", "ffn-stream", "layer-stream"};
    for (int k = 0; k < 3; k++) {
        struct plan_params p = params(16 * GiB, 0);
        p.force_mode = modes[k];
        struct plan *pl;
        CHECK(plan_build(&in, &prof, &p, &pl) == 0);
        if (!pl)
            continue;
        check_plan(&m, pl, &p, modes[k]);
        CHECKF(!strcmp(plan_mode_name(pl->mode), modes[k]), "forced %s got %s", modes[k], plan_mode_name(pl->mode));
        for (int l = 0; l < pl->n_layer; l++)
            CHECK_EQ(pl->layers[l].streamed, k == 0 ? 0 : k == 1 ? 1 : 2);
        plan_free(pl);
    }
    struct plan_params p = params(16 * GiB, 0);
    p.force_mode = "expert-stream";
    struct plan *pl;
    CHECK(plan_build(&in, &prof, &p, &pl) == -EINVAL);
    p.force_mode = "bogus";
    CHECK(plan_build(&in, &prof, &p, &pl) == -EINVAL);
    p.force_mode = "resident";
    p.ram_budget = 1 * GiB;
    CHECK(plan_build(&in, &prof, &p, &pl) == -ENOMEM);
    synth_free(&m);
}

static void test_tied_embedding(void)
{
    struct hparams hp = hp_llama(16, 2048, 8192, 32, 8, 128256);
    struct synth m;
    synth_build(&m, &hp, true);
    struct hy_profile prof = prof_cpu(1);
    struct plan_input in = synth_input(&m);
    struct plan_params p = params((uint64_t)((double)m.total * 0.8), 0);
    struct plan *pl;
    int rc = plan_build(&in, &prof, &p, &pl);
    CHECKF(rc == 0, "%s", hy_last_error());
    if (pl) {
        check_plan(&m, pl, &p, "tied");
        /* token_embd is the output head: read whole every token, so resident */
        CHECK(pl->place[0].tier == TIER_RAM);
        CHECK_EQ(pl->mode, PLAN_FFN_STREAM);
        plan_free(pl);
    }
    synth_free(&m);
}

/* ---- roles ---------------------------------------------------------------------------- */

static void test_roles(void)
{
    struct hparams hp = hp_mixtral();
    struct tensor_role r;
    uint64_t ne[4] = {4096, 14336, 8, 1};
    static const struct {
        const char *name;
        enum role role;
        int layer;
    } cases[] = {
        {"token_embd.weight", ROLE_TOKEN_EMBD, -1},
        {"output.weight", ROLE_OUTPUT, -1},
        {"output_norm.weight", ROLE_OUTPUT_NORM, -1},
        {"rope_freqs.weight", ROLE_ROPE_FREQS, -1},
        {"blk.0.attn_norm.weight", ROLE_ATTN_NORM, 0},
        {"blk.12.attn_q.weight", ROLE_ATTN_Q, 12},
        {"blk.3.attn_k.weight", ROLE_ATTN_K, 3},
        {"blk.3.attn_v.weight", ROLE_ATTN_V, 3},
        {"blk.3.attn_output.weight", ROLE_ATTN_O, 3},
        {"blk.3.attn_qkv.weight", ROLE_ATTN_QKV, 3},
        {"blk.3.attn_q.bias", ROLE_ATTN_Q_BIAS, 3},
        {"blk.3.attn_k.bias", ROLE_ATTN_K_BIAS, 3},
        {"blk.3.attn_v.bias", ROLE_ATTN_V_BIAS, 3},
        {"blk.3.attn_q_norm.weight", ROLE_ATTN_Q_NORM, 3},
        {"blk.3.attn_k_norm.weight", ROLE_ATTN_K_NORM, 3},
        {"blk.3.ffn_norm.weight", ROLE_FFN_NORM, 3},
        {"blk.3.ffn_gate.weight", ROLE_FFN_GATE, 3},
        {"blk.3.ffn_up.weight", ROLE_FFN_UP, 3},
        {"blk.3.ffn_down.weight", ROLE_FFN_DOWN, 3},
        {"blk.3.ffn_gate_inp.weight", ROLE_FFN_ROUTER, 3},
        {"blk.3.ffn_gate_shexp.weight", ROLE_FFN_GATE_SHEXP, 3},
        {"blk.3.ffn_up_shexp.weight", ROLE_FFN_UP_SHEXP, 3},
        {"blk.3.ffn_down_shexp.weight", ROLE_FFN_DOWN_SHEXP, 3},
        {"blk.3.ffn_gate_inp_shexp.weight", ROLE_FFN_SHEXP_GATE, 3},
        {"blk.3.post_attention_norm.weight", ROLE_OTHER, 3},
        {"blk.3.rope_freqs.weight", ROLE_ROPE_FREQS, 3},
        {"blk.x.attn_q.weight", ROLE_OTHER, -1},
        {"blk.3attn_q.weight", ROLE_OTHER, -1},
        {"blk.3.token_embd.weight", ROLE_OTHER, 3},
        {"attn_q.weight", ROLE_OTHER, -1},
        {"weird", ROLE_OTHER, -1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK(role_classify(cases[i].name, ne, 1000, &hp, &r) == 0);
        CHECKF(r.role == cases[i].role && r.layer == cases[i].layer, "%s: %s layer %d", cases[i].name,
               role_name(r.role), r.layer);
    }
    CHECK(role_classify("blk.5.ffn_gate_exps.weight", ne, 8 * 1000, &hp, &r) == 0);
    CHECK(r.role == ROLE_FFN_GATE_EXPS && r.layer == 5 && r.n_expert == 8 && r.expert_bytes == 1000);
    CHECK(role_default_freq(&r, &hp) == 0.25);
    CHECK(role_classify("blk.5.ffn_down_exps.weight", ne, 8 * 1000 + 3, &hp, &r) == -EINVAL);
    uint64_t ne7[4] = {4096, 14336, 7, 1};
    CHECK(role_classify("blk.5.ffn_up_exps.weight", ne7, 7000, &hp, &r) == -EINVAL);
    /* old Mixtral layout: one tensor per expert */
    CHECK(role_classify("blk.1.ffn_up.6.weight", ne, 500, &hp, &r) == 0);
    CHECK(r.role == ROLE_FFN_UP_EXPS && r.expert == 6 && r.layer == 1 && r.expert_bytes == 500);
    CHECK(role_classify("blk.1.ffn_up.9.weight", ne, 500, &hp, &r) == -EINVAL);
    CHECK(!strcmp(role_name(ROLE_ATTN_Q_BIAS), "attn_q_bias"));
    CHECK(!strcmp(role_name(ROLE_FFN_DOWN_EXPS), "ffn_down_exps"));
    CHECK(!strcmp(role_name((enum role)999), "?"));
    struct tensor_role d = {.role = ROLE_ATTN_Q, .layer = 0, .expert = -1};
    CHECK(role_default_freq(&d, &hp) == 1.0);
}

/* ---- GGUF headers: the planner reads no tensor data ------------------------------------ */

/* A file of header bytes followed by `data` bytes that are never stored: reads of the
 * data section return zeros and are counted separately. */
struct virt_file {
    struct file base;
    const uint8_t *hdr;
    uint64_t hdr_len;
    uint64_t data_reads;   /* bytes read at or past the data offset */
};

static int64_t virt_pread(struct file *f, void *buf, size_t n, uint64_t off)
{
    struct virt_file *v = (struct virt_file *)f;
    if (off >= f->size)
        return 0;
    if (n > f->size - off)
        n = (size_t)(f->size - off);
    for (size_t i = 0; i < n; i++) {
        uint64_t o = off + i;
        ((uint8_t *)buf)[i] = o < v->hdr_len ? v->hdr[o] : 0;
        if (o >= v->hdr_len)
            v->data_reads++;
    }
    return (int64_t)n;
}

static void virt_close(struct file *f) { (void)f; }

static const struct file_ops virt_ops = {.pread = virt_pread, .close = virt_close};

/* A header for hp written by our writer: the synthetic tensor table, a small vocab. */
static int write_header(const struct synth *m, uint8_t **hdr, uint64_t *hlen, uint64_t *fsize)
{
    struct gguf_writer *w = gguf_writer_new();
    const struct hparams *h = &m->hp;
    char key[96];
    gguf_writer_set_str(w, "general.architecture", h->arch_name);
#define KEY(s) (snprintf(key, sizeof key, "%s." s, h->arch_name), key)
    gguf_writer_set_u32(w, KEY("block_count"), h->n_layer);
    gguf_writer_set_u32(w, KEY("embedding_length"), h->n_embd);
    gguf_writer_set_u32(w, KEY("feed_forward_length"), h->n_ff);
    gguf_writer_set_u32(w, KEY("attention.head_count"), h->n_head);
    gguf_writer_set_u32(w, KEY("attention.head_count_kv"), h->n_head_kv);
    gguf_writer_set_u32(w, KEY("context_length"), 8192);
    gguf_writer_set_u32(w, KEY("vocab_size"), h->n_vocab);
    if (h->n_expert) {
        gguf_writer_set_u32(w, KEY("expert_count"), h->n_expert);
        gguf_writer_set_u32(w, KEY("expert_used_count"), h->n_expert_used);
    }
#undef KEY
    for (int i = 0; i < m->n; i++) {
        uint32_t nd = m->t[i].ne[2] > 1 ? 3 : m->t[i].ne[1] > 1 ? 2 : 1;
        if (gguf_writer_add_tensor(w, m->t[i].name, m->t[i].type, nd, m->t[i].ne) < 0) {
            gguf_writer_free(w);
            return -1;
        }
    }
    int rc = gguf_writer_header(w, hdr, hlen);
    *fsize = gguf_writer_file_size(w);
    gguf_writer_free(w);
    return rc;
}

static void check_header_plan(struct file *f, const char *what, uint64_t *data_reads)
{
    struct hy_profile prof = prof_cpu(1);
    struct plan_params fp = plan_default_params();
    fp.ram_budget = 2 * GiB;
    fp.n_ctx = 512;
    struct hy_plan *pf = NULL;
    uint64_t before = atomic_load(&f->bytes_read);
    int rc = plan_file_open(f, &fp, &prof, &pf);
    CHECKF(rc == 0, "%s: %s", what, hy_last_error());
    if (!pf)
        return;
    uint64_t data_off = gguf_data_offset(pf->g);
    uint64_t got = atomic_load(&f->bytes_read) - before;
    /* the reader reads ahead only as far as the header must still go, and the planner
     * reads nothing: not one byte of tensor data */
    CHECKF(got <= data_off, "%s: read %" PRIu64 " bytes, header %" PRIu64, what, got, data_off);
    if (data_reads)
        CHECKF(*data_reads == 0, "%s: %" PRIu64 " bytes of tensor data read", what, *data_reads);
    CHECK(pf->pl->n_tensors == gguf_n_tensors(pf->g));
    hy_plan_free(pf);
}

static void test_header_synthetic_shapes(void)
{
    struct hparams shapes[3] = {hp_8b(), hp_70b(), hp_mixtral()};
    const char *names[3] = {"llama3-8b", "llama3-70b", "mixtral-8x7b"};
    for (int s = 0; s < 3; s++) {
        shapes[s].n_layer = 2;
        struct synth m;
        synth_build(&m, &shapes[s], false);
        uint8_t *hdr = NULL;
        uint64_t hlen = 0, fsize = 0;
        CHECK(write_header(&m, &hdr, &hlen, &fsize) == 0);
        struct virt_file v = {.hdr = hdr, .hdr_len = hlen};
        v.base.ops = &virt_ops;
        v.base.size = fsize;
        v.base.fd = -1;
        v.base.path = (char *)names[s];
        check_header_plan(&v.base, names[s], &v.data_reads);
        printf("  %s --layers 2 (%.2f GiB file, %.0f KiB header): %" PRIu64 " bytes read, %" PRIu64
               " of them tensor data\n",
               names[s], (double)fsize / GiB, (double)hlen / 1024, (uint64_t)atomic_load(&v.base.bytes_read),
               v.data_reads);
        free(hdr);
        synth_free(&m);
    }
}

static void test_header_fixtures(void)
{
    const char *dirs[] = {"fixtures/real", "fixtures/synth"};
    int n = 0;
    for (int d = 0; d < 2; d++) {
        char *dir = test_shared_path(dirs[d]);
        if (!dir)
            continue;
        DIR *dh = opendir(dir);
        struct dirent *de;
        while (dh && (de = readdir(dh))) {
            size_t len = strlen(de->d_name);
            if (len < 5 || strcmp(de->d_name + len - 5, ".gguf"))
                continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            struct file *f;
            if (file_open(&f, path) != 0) {
                CHECKF(0, "%s: %s", path, hy_last_error());
                continue;
            }
            check_header_plan(f, de->d_name, NULL);
            file_close(f);
            n++;
        }
        if (dh)
            closedir(dh);
        free(dir);
    }
    if (!n) {
        TEST_SKIP("no fixtures under %s/fixtures (set HYPURA_FIXTURES)", test_shared_dir());
        return;
    }
    printf("  planned %d fixture headers\n", n);
}

/* The CLI: `estimate --plan --json` (the JSON `inspect --plan --json` prints) on a
 * fixture, with default hardware figures so nothing is measured. */
static void test_cli_plan_json(void)
{
    char *model = test_shared_path("fixtures/synth/mixtral-s7-Q4_K_M.gguf");
    if (!model) {
        TEST_SKIP("no fixtures under %s (set HYPURA_FIXTURES)", test_shared_dir());
        return;
    }
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' estimate '%s' --no-measure --ram-budget 64M --ctx-size 256 --plan --json",
             test_hypura_bin(), model);
    FILE *f = popen(cmd, "r");
    CHECK(f != NULL);
    if (!f) {
        free(model);
        return;
    }
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    CHECK(pclose(f) == 0);
    /* the keys issue 4 names, budgets and bytes in bytes */
    cJSON *o = cJSON_Parse(buf);
    CHECKF(o != NULL, "not JSON: %.200s", buf);
    if (o) {
        const cJSON *bu = cJSON_GetObjectItem(o, "budgets"), *ti = cJSON_GetObjectItem(o, "tiers");
        const cJSON *pr = cJSON_GetObjectItem(o, "predicted"), *ts = cJSON_GetObjectItem(o, "tensors");
        CHECK(cJSON_IsString(cJSON_GetObjectItem(o, "mode")));
        CHECK(cJSON_GetObjectItem(bu, "ram") && cJSON_GetObjectItem(bu, "ram")->valuedouble == 67108864.0);
        CHECK(cJSON_IsNumber(cJSON_GetObjectItem(bu, "gpu")));
        static const char *const tk[] = {"gpu", "ram", "disk"};
        double wsum = 0;
        for (int k = 0; k < 3; k++) {
            CHECK(cJSON_IsNumber(cJSON_GetObjectItem(ti, tk[k])));
            wsum += cJSON_GetNumberValue(cJSON_GetObjectItem(ti, tk[k]));
        }
        CHECK(cJSON_IsNumber(cJSON_GetObjectItem(o, "pool_bytes")));
        CHECK(cJSON_IsNumber(cJSON_GetObjectItem(o, "kv_bytes")));
        CHECK(cJSON_IsNumber(cJSON_GetObjectItem(o, "prefetch_depth")));
        CHECK(cJSON_IsNumber(cJSON_GetObjectItem(pr, "prompt_tps")));
        CHECK(cJSON_IsNumber(cJSON_GetObjectItem(pr, "decode_tps")));
        CHECK(cJSON_IsNumber(cJSON_GetObjectItem(pr, "disk_bytes_per_token")));
        CHECK(cJSON_IsArray(ts) && cJSON_GetArraySize(ts) > 0);
        double tsum = 0;
        bool saw_exps = false;
        const cJSON *t;
        cJSON_ArrayForEach(t, ts)
        {
            CHECK(cJSON_IsString(cJSON_GetObjectItem(t, "name")) && cJSON_IsString(cJSON_GetObjectItem(t, "role")));
            const char *tier = cJSON_GetStringValue(cJSON_GetObjectItem(t, "tier"));
            const char *dev = cJSON_GetStringValue(cJSON_GetObjectItem(t, "device"));
            CHECK(tier && (!strcmp(tier, "gpu") || !strcmp(tier, "ram") || !strcmp(tier, "disk")));
            CHECK(dev && (!strcmp(dev, "gpu") || !strcmp(dev, "cpu")));
            tsum += cJSON_GetNumberValue(cJSON_GetObjectItem(t, "bytes"));
            saw_exps |= !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(t, "role")), "ffn_gate_exps");
        }
        CHECK(tsum == wsum && wsum > 0);
        CHECK(saw_exps);
        cJSON_Delete(o);
    }
    /* a budget above nothing sensible: a clear error, exit status 1 */
    snprintf(cmd, sizeof cmd, "'%s' estimate '%s' --no-measure --ram-budget 1M 2>&1", test_hypura_bin(), model);
    f = popen(cmd, "r");
    n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    buf[n] = 0;
    CHECK(f && WEXITSTATUS(pclose(f)) == 1);
    CHECKF(strstr(buf, "too small") && strstr(buf, "needs"), "%s", buf);
    free(model);
}

int main(void)
{
    RUN(test_roles);
    RUN(test_fits_all_resident);
    RUN(test_70b_streams_ffn);
    RUN(test_mixtral_streams_experts);
    RUN(test_512_experts_per_expert_plan);
    RUN(test_measured_expert_freq);
    RUN(test_too_small_budget);
    RUN(test_n_seq_kv_in_budget);
    RUN(test_property_budgets);
    RUN(test_property_faster_disk);
    RUN(test_gpu_tier);
    RUN(test_estimate_matches_plan);
    RUN(test_forced_modes);
    RUN(test_tied_embedding);
    RUN(test_header_synthetic_shapes);
    RUN(test_header_fixtures);
    RUN(test_cli_plan_json);
    return test_finish();
}

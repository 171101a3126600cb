/* synth: write a GGUF with random weights in a real model's shape, for benchmarks and
 * planner tests. Quantized blocks are produced directly (quant_random_blocks: sane
 * scales, no F32 intermediate), generated on one thread while another writes, so a
 * multi-gigabyte model is written about as fast as the disk takes it.
 *
 * The tokenizer is copied from a vocabulary GGUF (--vocab, or the preset's vocabulary
 * from the shared fixtures when present); without one, a byte-fallback SentencePiece
 * vocabulary is made up so the model still tokenizes any text. */
#include "gguf/gguf.h"
#include "hypura.h"
#include "io/file.h"
#include "arch/hparams.h"
#include "quant/quant.h"
#include "util/common.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct preset {
    const char *name, *arch, *vocab;   /* vocab: file under $HYPURA_FIXTURES/vocab */
    uint32_t n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_vocab, n_ctx;
    uint32_t n_expert, n_expert_used, n_ff_exp;
    float rope_base;
    bool tied, bias, llama3_rope;
};

static const struct preset g_presets[] = {
    {"llama3-1b", "llama", "ggml-vocab-llama-bpe.gguf", 2048, 16, 32, 8, 64, 8192, 128256, 131072,
     0, 0, 0, 500000.0f, true, false, true},
    {"llama3-8b", "llama", "ggml-vocab-llama-bpe.gguf", 4096, 32, 32, 8, 128, 14336, 128256, 131072,
     0, 0, 0, 500000.0f, false, false, true},
    {"llama3-70b", "llama", "ggml-vocab-llama-bpe.gguf", 8192, 80, 64, 8, 128, 28672, 128256, 131072,
     0, 0, 0, 500000.0f, false, false, true},
    {"qwen2.5-7b", "qwen2", "ggml-vocab-qwen2.gguf", 3584, 28, 28, 4, 128, 18944, 152064, 32768,
     0, 0, 0, 1000000.0f, false, true, false},
    {"mixtral-8x7b", "llama", "ggml-vocab-llama-spm.gguf", 4096, 32, 32, 8, 128, 14336, 32000, 32768,
     8, 2, 14336, 1000000.0f, false, false, false},
    {"qwen3-30b-a3b", "qwen3moe", "ggml-vocab-qwen2.gguf", 2048, 48, 32, 4, 128, 6144, 151936, 40960,
     128, 8, 768, 1000000.0f, false, false, false},
};

const char *hy_synth_preset_name(int i)
{
    return i >= 0 && i < (int)HY_ARRAY_LEN(g_presets) ? g_presets[i].name : NULL;
}

struct hy_synth_params hy_synth_default_params(void)
{
    struct hy_synth_params p = {.type = "Q4_K_M", .seed = 1};
    return p;
}

/* ---- the type mix of llama.cpp's quantization schemes ---- */

enum role { R_EMBD, R_OUT, R_ATTN_V, R_FFN_DOWN, R_OTHER };

struct scheme {
    const char *name;
    uint32_t base, more, out, embd;   /* more: attn_v / ffn_down in the "more bits" layers */
};

static const struct scheme g_schemes[] = {
    {"F32", HY_TYPE_F32, HY_TYPE_F32, HY_TYPE_F32, HY_TYPE_F32},
    {"F16", HY_TYPE_F16, HY_TYPE_F16, HY_TYPE_F16, HY_TYPE_F16},
    {"BF16", HY_TYPE_BF16, HY_TYPE_BF16, HY_TYPE_BF16, HY_TYPE_BF16},
    {"Q8_0", HY_TYPE_Q8_0, HY_TYPE_Q8_0, HY_TYPE_Q8_0, HY_TYPE_Q8_0},
    {"Q4_0", HY_TYPE_Q4_0, HY_TYPE_Q4_0, HY_TYPE_Q6_K, HY_TYPE_Q4_0},
    {"Q4_1", HY_TYPE_Q4_1, HY_TYPE_Q4_1, HY_TYPE_Q6_K, HY_TYPE_Q4_1},
    {"Q5_0", HY_TYPE_Q5_0, HY_TYPE_Q5_0, HY_TYPE_Q6_K, HY_TYPE_Q5_0},
    {"Q5_1", HY_TYPE_Q5_1, HY_TYPE_Q5_1, HY_TYPE_Q6_K, HY_TYPE_Q5_1},
    {"Q2_K", HY_TYPE_Q2_K, HY_TYPE_Q3_K, HY_TYPE_Q6_K, HY_TYPE_Q2_K},
    {"Q3_K_M", HY_TYPE_Q3_K, HY_TYPE_Q4_K, HY_TYPE_Q6_K, HY_TYPE_Q3_K},
    {"Q4_K_M", HY_TYPE_Q4_K, HY_TYPE_Q6_K, HY_TYPE_Q6_K, HY_TYPE_Q4_K},
    {"Q4_K_S", HY_TYPE_Q4_K, HY_TYPE_Q4_K, HY_TYPE_Q6_K, HY_TYPE_Q4_K},
    {"Q5_K_M", HY_TYPE_Q5_K, HY_TYPE_Q6_K, HY_TYPE_Q6_K, HY_TYPE_Q5_K},
    {"Q6_K", HY_TYPE_Q6_K, HY_TYPE_Q6_K, HY_TYPE_Q6_K, HY_TYPE_Q6_K},
};

const char *hy_synth_type_name(int i)
{
    return i >= 0 && i < (int)HY_ARRAY_LEN(g_schemes) ? g_schemes[i].name : NULL;
}

/* llama.cpp gives some layers' attn_v and ffn_down more bits: the first and last eighth
 * and every third layer between. */
static bool more_bits(int i, int n)
{
    return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

static uint32_t pick_type(const struct scheme *s, enum role r, int layer, int n_layer, uint64_t ne0)
{
    uint32_t t = s->base;
    if (r == R_OUT)
        t = s->out;
    else if (r == R_EMBD)
        t = s->embd;
    else if ((r == R_ATTN_V || r == R_FFN_DOWN) && more_bits(layer, n_layer))
        t = s->more;
    /* rows that are not a multiple of the block fall back, as llama.cpp does */
    const struct type_info *ti = type_info(t);
    if (ne0 % ti->blck)
        t = ne0 % 32 == 0 ? HY_TYPE_Q8_0 : HY_TYPE_F16;
    return t;
}

/* ---- the tensor list ---- */

struct stensor {
    char name[96];
    uint32_t type, n_dims;
    uint64_t ne[3];
    float scale;             /* std of the values; 0 = a norm (1 + small noise) */
    int special;             /* 1: rope_freqs */
};

struct tlist {
    struct stensor *t;
    int n, cap;
};

static int add(struct tlist *l, const struct scheme *sc, const struct preset *p, int layer,
               const char *suffix, enum role r, int n_dims, uint64_t ne0, uint64_t ne1, uint64_t ne2,
               float scale)
{
    if (l->n == l->cap) {
        int cap = l->cap ? l->cap * 2 : 256;
        struct stensor *t = realloc(l->t, sizeof *t * (size_t)cap);
        if (!t)
            return -ENOMEM;
        l->t = t;
        l->cap = cap;
    }
    struct stensor *t = &l->t[l->n++];
    memset(t, 0, sizeof *t);
    if (layer >= 0)
        snprintf(t->name, sizeof t->name, "blk.%d.%s", layer, suffix);
    else
        snprintf(t->name, sizeof t->name, "%s", suffix);
    t->n_dims = (uint32_t)n_dims;
    t->ne[0] = ne0;
    t->ne[1] = ne1;
    t->ne[2] = ne2;
    t->scale = scale;
    t->type = n_dims == 1 ? HY_TYPE_F32 : pick_type(sc, r, layer, (int)p->n_layer, ne0);
    return 0;
}

static int build_tensors(struct tlist *l, const struct preset *p, const struct scheme *sc,
                         uint32_t n_layer, uint32_t n_vocab)
{
    uint64_t E = p->n_embd, hd = p->head_dim, q = p->n_head * hd, kv = p->n_head_kv * hd;
    int rc = 0;
    rc |= add(l, sc, p, -1, "token_embd.weight", p->tied ? R_OUT : R_EMBD, 2, E, n_vocab, 1, 1.0f);
    if (p->llama3_rope) {
        rc |= add(l, sc, p, -1, "rope_freqs.weight", R_OTHER, 1, hd / 2, 1, 1, 0);
        l->t[l->n - 1].special = 1;
    }
    for (uint32_t i = 0; i < n_layer && !rc; i++) {
        int b = (int)i;
        float se = 1.0f / sqrtf((float)E);
        rc |= add(l, sc, p, b, "attn_norm.weight", R_OTHER, 1, E, 1, 1, 0);
        rc |= add(l, sc, p, b, "attn_q.weight", R_OTHER, 2, E, q, 1, se);
        rc |= add(l, sc, p, b, "attn_k.weight", R_OTHER, 2, E, kv, 1, se);
        rc |= add(l, sc, p, b, "attn_v.weight", R_ATTN_V, 2, E, kv, 1, se);
        rc |= add(l, sc, p, b, "attn_output.weight", R_OTHER, 2, q, E, 1, 1.0f / sqrtf((float)q));
        if (p->bias) {
            rc |= add(l, sc, p, b, "attn_q.bias", R_OTHER, 1, q, 1, 1, 0.1f);
            rc |= add(l, sc, p, b, "attn_k.bias", R_OTHER, 1, kv, 1, 1, 0.1f);
            rc |= add(l, sc, p, b, "attn_v.bias", R_OTHER, 1, kv, 1, 1, 0.1f);
        }
        if (!strcmp(p->arch, "qwen3") || !strcmp(p->arch, "qwen3moe")) {
            rc |= add(l, sc, p, b, "attn_q_norm.weight", R_OTHER, 1, hd, 1, 1, 0);
            rc |= add(l, sc, p, b, "attn_k_norm.weight", R_OTHER, 1, hd, 1, 1, 0);
        }
        rc |= add(l, sc, p, b, "ffn_norm.weight", R_OTHER, 1, E, 1, 1, 0);
        if (p->n_expert) {
            uint64_t ff = p->n_ff_exp, ne = p->n_expert;
            rc |= add(l, sc, p, b, "ffn_gate_inp.weight", R_OTHER, 2, E, ne, 1, 2 * se);
            l->t[l->n - 1].type = HY_TYPE_F32; /* routers stay F32, as llama.cpp keeps them */
            rc |= add(l, sc, p, b, "ffn_gate_exps.weight", R_OTHER, 3, E, ff, ne, se);
            rc |= add(l, sc, p, b, "ffn_up_exps.weight", R_OTHER, 3, E, ff, ne, se);
            rc |= add(l, sc, p, b, "ffn_down_exps.weight", R_FFN_DOWN, 3, ff, E, ne,
                      1.0f / sqrtf((float)ff));
        } else {
            rc |= add(l, sc, p, b, "ffn_gate.weight", R_OTHER, 2, E, p->n_ff, 1, se);
            rc |= add(l, sc, p, b, "ffn_up.weight", R_OTHER, 2, E, p->n_ff, 1, se);
            rc |= add(l, sc, p, b, "ffn_down.weight", R_FFN_DOWN, 2, p->n_ff, E, 1,
                      1.0f / sqrtf((float)p->n_ff));
        }
    }
    rc |= add(l, sc, p, -1, "output_norm.weight", R_OTHER, 1, E, 1, 1, 0);
    if (!p->tied)
        rc |= add(l, sc, p, -1, "output.weight", R_OUT, 2, E, n_vocab, 1, 3.0f / sqrtf((float)E));
    return rc ? -ENOMEM : 0;
}

/* ---- metadata ---- */

static int set_hparams(struct gguf_writer *w, const struct preset *p, uint32_t n_layer)
{
    char k[128];
#define KEY(s) (snprintf(k, sizeof k, "%s.%s", p->arch, s), k)
    gguf_writer_set_str(w, "general.architecture", p->arch);
    char name[64];
    snprintf(name, sizeof name, "synthetic %s", p->name);
    gguf_writer_set_str(w, "general.name", name);
    gguf_writer_set_u32(w, "general.alignment", 32);
    gguf_writer_set_u32(w, KEY("context_length"), p->n_ctx);
    gguf_writer_set_u32(w, KEY("embedding_length"), p->n_embd);
    gguf_writer_set_u32(w, KEY("block_count"), n_layer);
    gguf_writer_set_u32(w, KEY("feed_forward_length"), p->n_ff);
    gguf_writer_set_u32(w, KEY("attention.head_count"), p->n_head);
    gguf_writer_set_u32(w, KEY("attention.head_count_kv"), p->n_head_kv);
    gguf_writer_set_f32(w, KEY("rope.freq_base"), p->rope_base);
    gguf_writer_set_f32(w, KEY("attention.layer_norm_rms_epsilon"), 1e-5f);
    if (p->head_dim != p->n_embd / p->n_head) {
        gguf_writer_set_u32(w, KEY("attention.key_length"), p->head_dim);
        gguf_writer_set_u32(w, KEY("attention.value_length"), p->head_dim);
    }
    if (!strcmp(p->arch, "llama"))
        gguf_writer_set_u32(w, KEY("rope.dimension_count"), p->head_dim);
    if (p->n_expert) {
        gguf_writer_set_u32(w, KEY("expert_count"), p->n_expert);
        gguf_writer_set_u32(w, KEY("expert_used_count"), p->n_expert_used);
        if (strcmp(p->arch, "llama"))
            gguf_writer_set_u32(w, KEY("expert_feed_forward_length"), p->n_ff_exp);
    }
#undef KEY
    return 0;
}

/* A byte-fallback SentencePiece vocabulary of n tokens: <unk>, <s>, </s>, the 256 byte
 * tokens, then filler. Any text tokenizes (as bytes). */
static int set_fallback_vocab(struct gguf_writer *w, uint32_t n)
{
    char **tok = calloc(n, sizeof *tok);
    float *score = calloc(n, sizeof *score);
    int32_t *type = calloc(n, sizeof *type);
    int rc = -ENOMEM;
    if (!tok || !score || !type)
        goto out;
    for (uint32_t i = 0; i < n; i++) {
        char b[32];
        if (i == 0)
            snprintf(b, sizeof b, "<unk>");
        else if (i == 1)
            snprintf(b, sizeof b, "<s>");
        else if (i == 2)
            snprintf(b, sizeof b, "</s>");
        else if (i < 3 + 256)
            snprintf(b, sizeof b, "<0x%02X>", i - 3);
        else
            snprintf(b, sizeof b, "<unused%u>", i);
        if (!(tok[i] = strdup(b)))
            goto out;
        type[i] = i == 0 ? 2 : i < 3 ? 3 : i < 259 ? 6 : 5; /* unknown, control, byte, unused */
    }
    gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tok, n);
    gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_F32, score, n);
    gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_I32, type, n);
    gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1);
    gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2);
    gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    rc = 0;
out:
    for (uint32_t i = 0; tok && i < n; i++)
        free(tok[i]);
    free(tok);
    free(score);
    free(type);
    return rc;
}

/* Copy tokenizer.* keys from a vocabulary file; *n_vocab gets its token count. */
static int copy_vocab(struct gguf_writer *w, const char *path, uint32_t *n_vocab)
{
    struct file *f;
    struct gguf *g;
    int rc = file_open(&f, path);
    if (rc)
        return rc;
    rc = gguf_open(&g, f);
    if (rc) {
        file_close(f);
        return rc;
    }
    uint64_t n = 0;
    if (gguf_get_arr(g, "tokenizer.ggml.tokens", NULL, &n) || n == 0 || n > INT32_MAX) {
        set_error("%s has no token list", path);
        rc = -EINVAL;
    }
    for (int64_t i = 0; !rc && i < gguf_n_kv(g); i++)
        if (!strncmp(gguf_kv_key(g, i), "tokenizer.", 10))
            rc = gguf_writer_copy_kv(w, g, i);
    *n_vocab = (uint32_t)n;
    gguf_free(g);
    file_close(f);
    return rc;
}

/* ---- data: generate on this thread, write on another ---- */

#define SYNTH_CHUNK (16u << 20)

struct writer {
    int fd;
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint8_t *buf[2];
    size_t len[2];
    uint64_t off[2];
    int full[2];           /* 1: waiting to be written */
    int err;
    bool stop;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    int i = 0;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->full[i] && !w->stop)
            pthread_cond_wait(&w->cv, &w->mu);
        if (!w->full[i] && w->stop)
            break;
        pthread_mutex_unlock(&w->mu);
        size_t done = 0;
        int err = 0;
        while (done < w->len[i]) {
            ssize_t r = pwrite(w->fd, w->buf[i] + done, w->len[i] - done, (off_t)(w->off[i] + done));
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                err = r < 0 ? errno : EIO;
                break;
            }
            done += (size_t)r;
        }
        pthread_mutex_lock(&w->mu);
        if (err && !w->err)
            w->err = err;
        w->full[i] = 0;
        pthread_cond_broadcast(&w->cv);
        i ^= 1;
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Hand buffer i to the writer; returns the next buffer to fill (waits until free). */
static int writer_push(struct writer *w, int i, size_t len, uint64_t off)
{
    pthread_mutex_lock(&w->mu);
    w->len[i] = len;
    w->off[i] = off;
    w->full[i] = 1;
    pthread_cond_broadcast(&w->cv);
    while (w->full[i ^ 1])
        pthread_cond_wait(&w->cv, &w->mu);
    int err = w->err;
    pthread_mutex_unlock(&w->mu);
    return err ? -err : (i ^ 1);
}

static void fill_norm(float *v, uint64_t n, uint64_t *rng)
{
    for (uint64_t i = 0; i < n; i++) {
        uint64_t z = (*rng += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 31)) * 0xbf58476d1ce4e5b9ull;
        v[i] = 1.0f + 0.1f * ((float)(z >> 40) / 16777216.0f * 2.0f - 1.0f);
    }
}

/* llama3's rope frequency factors (factor 32, low 1, high 4, original context 8192). */
static void fill_rope_freqs(float *v, uint64_t n, float base, uint32_t head_dim)
{
    const float factor = 32, low = 1, high = 4, orig = 8192;
    float low_wl = orig / low, high_wl = orig / high;
    for (uint64_t i = 0; i < n; i++) {
        float freq = 1.0f / powf(base, (float)(2 * i) / (float)head_dim);
        float wl = 2 * (float)M_PI / freq;
        if (wl < high_wl)
            v[i] = 1;
        else if (wl > low_wl)
            v[i] = factor;
        else {
            float smooth = (orig / wl - low) / (high - low);
            v[i] = 1.0f / ((1 - smooth) / factor + smooth);
        }
    }
}

/* Every tensor's random bytes through the writer thread, row-aligned chunks after the
 * header. Returns the writer's cursor: a buffer index, or negative on failure. */
static int write_tensors(struct writer *wr, int cur, const struct hy_synth_params *sp,
                         const struct preset *p, const struct tlist *tl,
                         const struct gguf_writer *w, uint64_t hlen, uint64_t total)
{
    uint64_t rng = sp->seed * 0x9e3779b97f4a7c15ull + 12345;
    for (int i = 0; i < tl->n && cur >= 0; i++) {
        const struct stensor *t = &tl->t[i];
        const struct type_info *ti = type_info(t->type);
        uint64_t base = hlen + gguf_writer_tensor_offset(w, i);
        uint64_t bytes = gguf_writer_tensor_bytes(w, i);
        uint64_t row = type_row_bytes(ti, t->ne[0]);
        uint64_t n_rows = bytes / row;
        /* whole rows per chunk (at least one) */
        uint64_t rows_per = HY_MAX((uint64_t)1, SYNTH_CHUNK / row);
        if (row > SYNTH_CHUNK) {
            set_error("tensor %s: row too large", t->name);
            return -EINVAL;
        }
        for (uint64_t r0 = 0; r0 < n_rows && cur >= 0; r0 += rows_per) {
            uint64_t nr = HY_MIN(rows_per, n_rows - r0);
            uint8_t *dst = wr->buf[cur];
            int rc;
            if (t->special)
                fill_rope_freqs((float *)dst, t->ne[0], p->rope_base, p->head_dim);
            else if (t->scale == 0)
                fill_norm((float *)dst, nr * t->ne[0], &rng);
            else if ((rc = quant_random_blocks(t->type, dst, (int64_t)(nr * t->ne[0]), &rng, t->scale)))
                return rc;
            cur = writer_push(wr, cur, (size_t)(nr * row), base + r0 * row);
        }
        if (sp->progress && cur >= 0)
            sp->progress((double)(base + bytes) / (double)total, sp->user);
    }
    return cur;
}

/* The preset and quantization scheme sp names, or -EINVAL. */
static int synth_lookup(const struct hy_synth_params *sp, const struct preset **pp,
                        const struct scheme **scp)
{
    const struct preset *p = NULL;
    for (size_t i = 0; i < HY_ARRAY_LEN(g_presets); i++)
        if (!strcmp(sp->preset, g_presets[i].name))
            p = &g_presets[i];
    if (!p) {
        set_error("unknown preset '%s'", sp->preset);
        return -EINVAL;
    }
    const struct scheme *sc = NULL;
    for (size_t i = 0; i < HY_ARRAY_LEN(g_schemes); i++)
        if (!strcmp(sp->type ? sp->type : "Q4_K_M", g_schemes[i].name))
            sc = &g_schemes[i];
    if (!sc) {
        set_error("unknown type '%s'", sp->type);
        return -EINVAL;
    }
    *pp = p;
    *scp = sc;
    return 0;
}

int hy_synth(const struct hy_synth_params *sp, const char *out_path)
{
    hy_clear_error();
    const struct preset *p;
    const struct scheme *sc;
    if (synth_lookup(sp, &p, &sc))
        return -EINVAL;
    uint32_t n_layer = sp->n_layers > 0 ? (uint32_t)sp->n_layers : p->n_layer;
    struct gguf_writer *w = gguf_writer_new();
    struct tlist tl = {0};
    struct writer wr = {.fd = -1};
    uint8_t *hdr = NULL;
    int rc = w ? 0 : -ENOMEM;
    uint32_t n_vocab = p->n_vocab;
    if (!rc)
        rc = set_hparams(w, p, n_layer);
    char vpath[4096];
    const char *vocab = sp->vocab_path;
    if (!vocab && p->vocab) {
        const char *dir = getenv("HYPURA_FIXTURES");
        snprintf(vpath, sizeof vpath, "%s/vocab/%s", dir && *dir ? dir : "../shared", p->vocab);
        if (access(vpath, R_OK) == 0)
            vocab = vpath;
    }
    if (!rc)
        rc = vocab ? copy_vocab(w, vocab, &n_vocab) : set_fallback_vocab(w, n_vocab);
    if (!rc)
        rc = build_tensors(&tl, p, sc, n_layer, n_vocab);
    for (int i = 0; !rc && i < tl.n; i++) {
        int r = gguf_writer_add_tensor(w, tl.t[i].name, tl.t[i].type, tl.t[i].n_dims, tl.t[i].ne);
        rc = r < 0 ? r : 0;
    }
    uint64_t hlen = 0;
    if (!rc)
        rc = gguf_writer_header(w, &hdr, &hlen);
    if (rc) {
        if (rc == -ENOMEM)
            set_error("out of memory");
        goto out;
    }
    wr.fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (wr.fd < 0) {
        rc = -errno;
        set_error("cannot create %s: %s", out_path, strerror(errno));
        goto out;
    }
    uint64_t total = gguf_writer_file_size(w);
    if (ftruncate(wr.fd, (off_t)total) != 0 && errno != EINVAL) {
        rc = -errno;
        set_error("cannot size %s to %llu bytes: %s", out_path, (unsigned long long)total, strerror(errno));
        goto out;
    }
    if (sp->sparse) {
        /* header, then holes to the full size */
        if (pwrite(wr.fd, hdr, (size_t)hlen, 0) != (ssize_t)hlen || ftruncate(wr.fd, (off_t)total) != 0) {
            rc = -errno;
            set_error("writing %s: %s", out_path, strerror(errno));
        }
        goto out;
    }
    pthread_mutex_init(&wr.mu, NULL);
    pthread_cond_init(&wr.cv, NULL);
    wr.buf[0] = aligned_malloc(4096, SYNTH_CHUNK);
    wr.buf[1] = aligned_malloc(4096, SYNTH_CHUNK);
    if (!wr.buf[0] || !wr.buf[1]) {
        rc = -ENOMEM;
        set_error("out of memory");
        goto out;
    }
    if ((rc = pthread_create(&wr.th, NULL, writer_main, &wr))) {
        rc = -rc;
        set_error("cannot start the writer thread");
        goto out;
    }
    int cur = 0;
    /* the header first */
    for (uint64_t o = 0; o < hlen && cur >= 0; o += SYNTH_CHUNK) {
        size_t k = (size_t)HY_MIN((uint64_t)SYNTH_CHUNK, hlen - o);
        memcpy(wr.buf[cur], hdr + o, k);
        cur = writer_push(&wr, cur, k, o);
    }
    cur = write_tensors(&wr, cur, sp, p, &tl, w, hlen, total);
    pthread_mutex_lock(&wr.mu);
    wr.stop = true;
    pthread_cond_broadcast(&wr.cv);
    pthread_mutex_unlock(&wr.mu);
    pthread_join(wr.th, NULL);
    if (cur < 0 || wr.err) {
        rc = cur < 0 ? cur : -wr.err;
        if (wr.err)
            set_error("writing %s: %s", out_path, strerror(wr.err));
        goto out;
    }
    if (fsync(wr.fd) != 0 && errno != EINVAL) {
        rc = -errno;
        set_error("writing %s: %s", out_path, strerror(errno));
    }
out:
    if (wr.fd >= 0) {
        close(wr.fd);
        if (rc)
            unlink(out_path); /* never leave a half-written model behind */
    }
    free(wr.buf[0]);
    free(wr.buf[1]);
    free(hdr);
    free(tl.t);
    gguf_writer_free(w);
    return rc;
}

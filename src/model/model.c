/* Model loading: open the GGUF, read hyper-parameters and tokenizer, bind and check every
 * tensor the architecture needs, then place the weights as the plan says (RAM arena,
 * mapped file, or the streamer). See model.h. */
#include "model/model.h"
#include "gguf/gguf.h"
#include "io/file.h"
#include "quant/quant.h"
#include "tokenizer/tokenizer.h"
#include "util/common.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct hy_model_params hy_model_default_params(void)
{
    struct hy_model_params p = {0};
    p.io = HY_IO_AUTO;
    return p;
}

/* ---- binding tensors ----------------------------------------------------------------- */

static struct tensor *find(hy_model *m, const char *name)
{
    int64_t i = gguf_find_tensor(m->gguf, name);
    return i < 0 ? NULL : &m->tensors[i];
}

/* Look up "blk.L.suffix" (or a global name when layer < 0) and check its shape; ne
 * entries of 0 are not checked, trailing dims must be 1. */
static int bind(hy_model *m, struct tensor **out, int layer, const char *suffix, bool required,
                int64_t ne0, int64_t ne1, int64_t ne2)
{
    char name[128];
    if (layer >= 0)
        snprintf(name, sizeof name, "blk.%d.%s", layer, suffix);
    else
        snprintf(name, sizeof name, "%s", suffix);
    struct tensor *t = find(m, name);
    *out = t;
    if (!t) {
        if (required) {
            hy_err("missing tensor %s", name);
            return -EINVAL;
        }
        return 0;
    }
    int64_t want[4] = {ne0, ne1 ? ne1 : 1, ne2 ? ne2 : 1, 1};
    for (int d = 0; d < 4; d++)
        if ((want[d] && t->ne[d] != want[d]) || (!want[d] && d > 0 && t->ne[d] != 1)) {
            hy_err("tensor %s has shape [%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64
                   "], expected [%" PRId64 ", %" PRId64 ", %" PRId64 "]",
                   name, t->ne[0], t->ne[1], t->ne[2], t->ne[3], ne0, ne1, ne2);
            return -EINVAL;
        }
    const struct hy_type_info *ti = type_info(t->type);
    bool vec = t->ne[1] == 1 && t->ne[2] == 1;
    if (vec && t->type != HY_TYPE_F32) {
        hy_err("tensor %s: 1-D tensors must be F32 (got %s)", name, ti->name);
        return -EINVAL;
    }
    if (!vec && !quant_kernels(t->type)) {
        hy_err("tensor %s: type %s is not supported for compute", name, ti->name);
        return -EINVAL;
    }
    return 0;
}

static int bind_all(hy_model *m)
{
    const struct hparams *hp = &m->hp;
    int64_t E = hp->n_embd, V = hp->n_vocab, q = (int64_t)hp->n_head * hp->head_dim_k;
    int64_t kd = (int64_t)hp->n_head_kv * hp->head_dim_k, vd = (int64_t)hp->n_head_kv * hp->head_dim_v;
    int64_t od = (int64_t)hp->n_head * hp->head_dim_v;
    int rc;
    if (hp->arch == HY_ARCH_UNKNOWN) {
        hy_err("architecture '%s' is not supported (llama, qwen2, qwen3 are)", hp->arch_name);
        return -ENOTSUP;
    }
    if (hp->n_expert) {
        hy_err("mixture-of-experts models (%u experts) are not supported yet", hp->n_expert);
        return -ENOTSUP;
    }
    if (hp->head_dim_k > 1024 || hp->head_dim_v > 1024) {
        hy_err("head dimension %u is larger than 1024", HY_MAX(hp->head_dim_k, hp->head_dim_v));
        return -EINVAL;
    }
    if ((rc = bind(m, &m->tok_embd, -1, "token_embd.weight", true, E, V, 0)) ||
        (rc = bind(m, &m->output_norm, -1, "output_norm.weight", true, E, 0, 0)) ||
        (rc = bind(m, &m->output, -1, "output.weight", false, E, V, 0)) ||
        (rc = bind(m, &m->rope_freqs, -1, "rope_freqs.weight", false, hp->n_rot / 2, 0, 0)))
        return rc;
    if (!m->output)
        m->output = m->tok_embd; /* tied embeddings */
    bool bias = hp->arch == HY_ARCH_QWEN2;
    bool qk_norm = hp->arch == HY_ARCH_QWEN3;
    for (uint32_t l = 0; l < hp->n_layer; l++) {
        struct layer *L = &m->layers[l];
        int i = (int)l;
        if ((rc = bind(m, &L->attn_norm, i, "attn_norm.weight", true, E, 0, 0)) ||
            (rc = bind(m, &L->wq, i, "attn_q.weight", true, E, q, 0)) ||
            (rc = bind(m, &L->wk, i, "attn_k.weight", true, E, kd, 0)) ||
            (rc = bind(m, &L->wv, i, "attn_v.weight", true, E, vd, 0)) ||
            (rc = bind(m, &L->wo, i, "attn_output.weight", true, od, E, 0)) ||
            (rc = bind(m, &L->bq, i, "attn_q.bias", bias, q, 0, 0)) ||
            (rc = bind(m, &L->bk, i, "attn_k.bias", bias, kd, 0, 0)) ||
            (rc = bind(m, &L->bv, i, "attn_v.bias", bias, vd, 0, 0)) ||
            (rc = bind(m, &L->q_norm, i, "attn_q_norm.weight", qk_norm, hp->head_dim_k, 0, 0)) ||
            (rc = bind(m, &L->k_norm, i, "attn_k_norm.weight", qk_norm, hp->head_dim_k, 0, 0)) ||
            (rc = bind(m, &L->ffn_norm, i, "ffn_norm.weight", true, E, 0, 0)) ||
            (rc = bind(m, &L->ffn_gate, i, "ffn_gate.weight", true, E, hp->n_ff, 0)) ||
            (rc = bind(m, &L->ffn_up, i, "ffn_up.weight", true, E, hp->n_ff, 0)) ||
            (rc = bind(m, &L->ffn_down, i, "ffn_down.weight", true, hp->n_ff, E, 0)))
            return rc;
    }
    return 0;
}

static int tensors_init(hy_model *m)
{
    int64_t n = gguf_n_tensors(m->gguf);
    m->n_tensors = (int)n;
    m->tensors = calloc(n ? (size_t)n : 1, sizeof *m->tensors);
    if (!m->tensors) {
        hy_err("out of memory");
        return -ENOMEM;
    }
    for (int64_t i = 0; i < n; i++) {
        const struct gguf_tensor *g = gguf_tensor(m->gguf, i);
        struct tensor *t = &m->tensors[i];
        const struct hy_type_info *ti = type_info(g->type);
        t->name = g->name;
        t->type = g->type;
        for (int d = 0; d < 4; d++)
            t->ne[d] = (int64_t)g->ne[d];
        t->nbytes = g->nbytes;
        t->file_off = g->offset;
        t->row_bytes = (size_t)type_row_bytes(ti, g->ne[0]);
        t->unit = -1;
        m->weight_bytes += g->nbytes;
    }
    return 0;
}

/* ---- placing weights ----------------------------------------------------------------- */

/* Read every RAM-tier tensor into one anonymous arena (not the page cache: memory
 * pressure cannot evict it). Adjacent tensors are read together. */
static int load_arena(hy_model *m)
{
    size_t total = 0;
    for (int i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].tier == 1 /* TIER_RAM */)
            total += HY_ALIGN_UP((size_t)m->tensors[i].nbytes, 64);
    if (!total)
        return 0;
    void *a = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (a == MAP_FAILED) {
        char b[32];
        hy_err("cannot allocate %s for resident weights", hy_format_size(total, b, sizeof b));
        return -ENOMEM;
    }
#ifdef MADV_HUGEPAGE
    madvise(a, total, MADV_HUGEPAGE);
#endif
    m->arena = a;
    m->arena_len = total;
    size_t off = 0;
    for (int i = 0; i < m->n_tensors; i++) {
        struct tensor *t = &m->tensors[i];
        if (t->tier != 1)
            continue;
        int rc = file_read_at(m->file, (uint8_t *)a + off, (size_t)t->nbytes, t->file_off);
        if (rc) {
            hy_err("reading tensor %s: %s", t->name, hy_last_error());
            return rc;
        }
        t->data = (uint8_t *)a + off;
        off += HY_ALIGN_UP((size_t)t->nbytes, 64);
    }
    if (m->params.mlock && mlock(a, total) != 0)
        LOG_WARN("mlock of %zu bytes failed: resident weights may be swapped", total);
    return 0;
}

static int map_file(hy_model *m)
{
    size_t len = (size_t)m->file->size;
    void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, m->file->fd, 0);
    if (p == MAP_FAILED) {
        hy_err("cannot map the model file");
        return -errno;
    }
    m->map = p;
    m->map_len = len;
    for (int i = 0; i < m->n_tensors; i++)
        m->tensors[i].data = (const uint8_t *)p + m->tensors[i].file_off;
    return 0;
}

static int place_weights(hy_model *m)
{
    if (m->params.io == HY_IO_MMAP)
        return map_file(m);
    for (int i = 0; i < m->n_tensors; i++)
        m->tensors[i].tier = 1; /* TIER_RAM */
    return load_arena(m);
}

static int load_rope_factors(hy_model *m)
{
    if (!m->rope_freqs)
        return 0;
    size_t n = (size_t)m->rope_freqs->ne[0];
    m->rope_factors = malloc(n * sizeof(float));
    if (!m->rope_factors)
        return -ENOMEM;
    return file_read_at(m->file, m->rope_factors, n * sizeof(float), m->rope_freqs->file_off);
}

/* ---- public -------------------------------------------------------------------------- */

int hy_model_load(const char *path, const struct hy_model_params *params, hy_model **out)
{
    *out = NULL;
    hy_clear_error();
    hy_model *m = calloc(1, sizeof *m);
    if (!m) {
        hy_err("out of memory");
        return -ENOMEM;
    }
    m->params = params ? *params : hy_model_default_params();
    m->n_threads = m->params.n_threads > 0 ? m->params.n_threads : hy_cpu()->n_cpus;
    int rc = -ENOMEM;
    if (!(m->path = strdup(path)))
        goto fail;
    if ((rc = file_open(&m->file, path)) || (rc = gguf_open(&m->gguf, m->file)))
        goto fail;
    rc = hparams_load(&m->hp, m->gguf);
    if (rc && !m->params.vocab_only && !m->params.header_only)
        goto fail;
    if ((rc = tensors_init(m)))
        goto fail;
    /* a file without a vocabulary still runs from token ids (logits) */
    if (!m->params.header_only && gguf_find_key(m->gguf, "tokenizer.ggml.model") >= 0 &&
        (rc = tokenizer_load(&m->tok, m->gguf)))
        goto fail;
    if (m->params.vocab_only && !m->tok) {
        hy_err("the file has no tokenizer (tokenizer.ggml.model)");
        rc = -EINVAL;
        goto fail;
    }
    if (m->params.vocab_only || m->params.header_only) {
        *out = m;
        return 0;
    }
    m->layers = calloc(m->hp.n_layer, sizeof *m->layers);
    if (!m->layers) {
        rc = -ENOMEM;
        goto fail;
    }
    if ((rc = bind_all(m)))
        goto fail;
    uint32_t ctx = m->params.n_ctx ? m->params.n_ctx : HY_MIN(m->hp.n_ctx_train ? m->hp.n_ctx_train : 4096, 4096u);
    m->n_ctx = ctx;
    if ((rc = place_weights(m)) || (rc = load_rope_factors(m)))
        goto fail;
    *out = m;
    return 0;
fail:
    hy_model_free(m);
    return rc ? rc : -EINVAL;
}

void hy_model_free(hy_model *m)
{
    if (!m)
        return;
    if (m->arena)
        munmap(m->arena, m->arena_len);
    if (m->map)
        munmap(m->map, m->map_len);
    free(m->rope_factors);
    tokenizer_free(m->tok);
    free(m->layers);
    free(m->tensors);
    gguf_free(m->gguf);
    file_close(m->file);
    free(m->path);
    free(m);
}

void hy_model_describe(const hy_model *m, struct hy_model_desc *d)
{
    const struct hparams *hp = &m->hp;
    memset(d, 0, sizeof *d);
    d->arch = hp->arch_name;
    const char *name = gguf_get_str(m->gguf, "general.name", NULL);
    d->name = name ? name : "";
    d->n_vocab = (int)hp->n_vocab;
    d->n_layer = (int)hp->n_layer;
    d->n_embd = (int)hp->n_embd;
    d->n_head = (int)hp->n_head;
    d->n_head_kv = (int)hp->n_head_kv;
    d->head_dim = (int)hp->head_dim_k;
    d->n_ff = (int)hp->n_ff;
    d->n_expert = (int)hp->n_expert;
    d->n_expert_used = (int)hp->n_expert_used;
    d->n_ctx_train = hp->n_ctx_train;
    for (int i = 0; i < m->n_tensors; i++) {
        const struct tensor *t = &m->tensors[i];
        d->n_params += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
    }
    d->weight_bytes = m->weight_bytes;
}

uint64_t hy_model_ram_budget(const hy_model *m)
{
    return m->params.ram_budget;
}

int64_t hy_model_meta_count(const hy_model *m)
{
    return gguf_n_kv(m->gguf);
}

const char *hy_model_meta(const hy_model *m, int64_t i, char *val, size_t cap)
{
    const char *k = gguf_kv_key(m->gguf, i);
    if (k && val)
        gguf_kv_format(m->gguf, i, val, cap);
    return k;
}

const char *hy_model_meta_str(const hy_model *m, const char *key)
{
    return gguf_get_str(m->gguf, key, NULL);
}

int hy_model_tensor_count(const hy_model *m)
{
    return m->n_tensors;
}

int hy_model_tensor_info(const hy_model *m, int i, struct hy_tensor_info *out)
{
    if (i < 0 || i >= m->n_tensors)
        return -EINVAL;
    const struct gguf_tensor *g = gguf_tensor(m->gguf, i);
    memset(out, 0, sizeof *out);
    out->name = g->name;
    out->type = type_name(g->type);
    out->n_dims = (int)g->n_dims;
    for (int d = 0; d < 4; d++)
        out->ne[d] = (int64_t)g->ne[d];
    out->bytes = g->nbytes;
    out->offset = g->offset;
    out->role = "?";
    out->layer = -1;
    return 0;
}

uint64_t hy_model_bytes_read(const hy_model *m)
{
    return m->file->bytes_read;
}

/* ---- tokens ---- */

static int need_tok(const hy_model *m)
{
    if (m->tok)
        return 0;
    hy_err("the model has no tokenizer");
    return -EINVAL;
}

int hy_tokenize(const hy_model *m, const char *text, size_t len, bool add_special,
                bool parse_special, hy_token *out, int n_max)
{
    int rc = need_tok(m);
    return rc ? rc : tokenizer_encode(m->tok, text, len, add_special, parse_special, out, n_max);
}

int hy_token_to_piece(const hy_model *m, hy_token t, bool render_special, char *buf, int cap)
{
    int rc = need_tok(m);
    return rc ? rc : tokenizer_piece(m->tok, t, render_special, buf, cap);
}

bool hy_token_is_eog(const hy_model *m, hy_token t)
{
    return m->tok && tokenizer_is_eog(m->tok, t);
}

hy_token hy_token_bos(const hy_model *m)
{
    return m->tok ? tokenizer_bos(m->tok) : -1;
}

hy_token hy_token_eos(const hy_model *m)
{
    return m->tok ? tokenizer_eos(m->tok) : -1;
}

int hy_detok_new(const hy_model *m, bool render_special, hy_detok **out)
{
    *out = NULL;
    int rc = need_tok(m);
    return rc ? rc : detok_new((struct detok **)out, m->tok, render_special);
}

void hy_detok_free(hy_detok *d)
{
    detok_free((struct detok *)d);
}

int hy_detok_push(hy_detok *d, hy_token t, const char **text, size_t *len)
{
    return detok_push((struct detok *)d, t, text, len);
}

void hy_detok_flush(hy_detok *d, const char **text, size_t *len)
{
    detok_flush((struct detok *)d, text, len);
}

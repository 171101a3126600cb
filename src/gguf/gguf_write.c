/* GGUF v3 writer: metadata is serialised as it is set; the tensor table is laid out
 * with each tensor's data aligned. The caller writes the header, then each tensor's
 * bytes at gguf_data_offset + gguf_writer_tensor_offset(i). */
#include "gguf/gguf.h"
#include "quant/types.h"
#include "util/common.h"
#include "util/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct wtensor {
    char *name;
    uint32_t type, n_dims;
    uint64_t ne[GGUF_MAX_DIMS];
    uint64_t offset, nbytes;
};

struct gguf_writer {
    uint8_t *kv;          /* serialised metadata */
    size_t kv_len, kv_cap;
    uint64_t n_kv;
    struct wtensor *t;
    int n_t, cap_t;
    uint32_t alignment;
    uint64_t data_size;   /* bytes of the data section so far (aligned) */
    int err;              /* first failure: every later call is a no-op */
};

struct gguf_writer *gguf_writer_new(void)
{
    struct gguf_writer *w = calloc(1, sizeof *w);
    if (w)
        w->alignment = GGUF_DEFAULT_ALIGNMENT;
    return w;
}

void gguf_writer_free(struct gguf_writer *w)
{
    if (!w)
        return;
    for (int i = 0; i < w->n_t; i++)
        free(w->t[i].name);
    free(w->t);
    free(w->kv);
    free(w);
}

static int put(struct gguf_writer *w, const void *p, size_t n)
{
    if (w->err)
        return w->err;
    if (w->kv_len + n > w->kv_cap) {
        size_t cap = w->kv_cap ? w->kv_cap : 4096;
        while (cap < w->kv_len + n)
            cap *= 2;
        uint8_t *q = realloc(w->kv, cap);
        if (!q) {
            set_error("out of memory");
            return w->err = -ENOMEM;
        }
        w->kv = q;
        w->kv_cap = cap;
    }
    memcpy(w->kv + w->kv_len, p, n);
    w->kv_len += n;
    return 0;
}

static int put_u32(struct gguf_writer *w, uint32_t v) { return put(w, &v, 4); }
static int put_u64(struct gguf_writer *w, uint64_t v) { return put(w, &v, 8); }

static int put_str(struct gguf_writer *w, const char *s, size_t n)
{
    put_u64(w, n);
    return put(w, s, n);
}

static int put_key(struct gguf_writer *w, const char *key, enum gguf_vtype t)
{
    w->n_kv++;
    put_str(w, key, strlen(key));
    return put_u32(w, (uint32_t)t);
}

int gguf_writer_set_u32(struct gguf_writer *w, const char *key, uint32_t v)
{
    if (!strcmp(key, "general.alignment")) {
        if (v == 0 || (v & (v - 1)))
            return -EINVAL;
        w->alignment = v;
    }
    put_key(w, key, GGUF_U32);
    return put_u32(w, v);
}

int gguf_writer_set_f32(struct gguf_writer *w, const char *key, float v)
{
    put_key(w, key, GGUF_F32);
    return put(w, &v, 4);
}

int gguf_writer_set_bool(struct gguf_writer *w, const char *key, bool v)
{
    uint8_t b = v;
    put_key(w, key, GGUF_BOOL);
    return put(w, &b, 1);
}

int gguf_writer_set_str(struct gguf_writer *w, const char *key, const char *v)
{
    put_key(w, key, GGUF_STR);
    return put_str(w, v, strlen(v));
}

int gguf_writer_set_arr(struct gguf_writer *w, const char *key, enum gguf_vtype etype,
                        const void *data, uint64_t n)
{
    size_t es = gguf_vtype_size(etype);
    if (!es)
        return -EINVAL;
    put_key(w, key, GGUF_ARR);
    put_u32(w, (uint32_t)etype);
    put_u64(w, n);
    return put(w, data, (size_t)(n * es));
}

int gguf_writer_set_arr_str(struct gguf_writer *w, const char *key, const char *const *v, uint64_t n)
{
    put_key(w, key, GGUF_ARR);
    put_u32(w, GGUF_STR);
    put_u64(w, n);
    for (uint64_t i = 0; i < n; i++)
        put_str(w, v[i], strlen(v[i]));
    return w->err;
}

int gguf_writer_copy_kv(struct gguf_writer *w, const struct gguf *g, int64_t i)
{
    const char *key = gguf_kv_key(g, i);
    if (!key)
        return -EINVAL;
    enum gguf_vtype t = gguf_kv_type(g, i);
    if (t == GGUF_STR)
        return gguf_writer_set_str(w, key, gguf_get_str(g, key, NULL));
    if (t == GGUF_ARR) {
        enum gguf_vtype et;
        uint64_t n;
        gguf_kv_arr(g, i, &et, &n);
        if (et != GGUF_STR)
            return gguf_writer_set_arr(w, key, et, gguf_kv_arr_data(g, i), n);
        put_key(w, key, GGUF_ARR);
        put_u32(w, GGUF_STR);
        put_u64(w, n);
        for (uint64_t j = 0; j < n; j++) {
            size_t len;
            const char *s = gguf_kv_arr_str(g, i, j, &len);
            put_str(w, s, len);
        }
        return w->err;
    }
    /* scalars: the stored bytes, in the stored type */
    uint8_t raw[8];
    if (gguf_kv_scalar(g, i, raw))
        return w->err = -EINVAL;
    put_key(w, key, t);
    return put(w, raw, gguf_vtype_size(t));
}

int gguf_writer_add_tensor(struct gguf_writer *w, const char *name, uint32_t type, uint32_t n_dims,
                           const uint64_t *ne)
{
    const struct type_info *ti = type_info(type);
    if (w->err)
        return w->err;
    if (!ti || n_dims < 1 || n_dims > GGUF_MAX_DIMS || ne[0] % ti->blck) {
        set_error("tensor '%s': bad type or shape", name);
        return -EINVAL;
    }
    if (w->n_t == w->cap_t) {
        int cap = w->cap_t ? w->cap_t * 2 : 64;
        struct wtensor *p = realloc(w->t, (size_t)cap * sizeof *p);
        if (!p)
            return w->err = -ENOMEM;
        w->t = p;
        w->cap_t = cap;
    }
    struct wtensor *t = &w->t[w->n_t];
    memset(t, 0, sizeof *t);
    t->name = strdup(name);
    if (!t->name)
        return w->err = -ENOMEM;
    t->type = type;
    t->n_dims = n_dims;
    uint64_t nel = 1;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
        t->ne[d] = d < n_dims ? ne[d] : 1;
        nel *= t->ne[d];
    }
    t->nbytes = nel / ti->blck * ti->bytes;
    t->offset = w->data_size;
    w->data_size = HY_ALIGN_UP(t->offset + t->nbytes, (uint64_t)w->alignment);
    return w->n_t++;
}

static uint64_t info_size(const struct gguf_writer *w)
{
    uint64_t n = 0;
    for (int i = 0; i < w->n_t; i++)
        n += 8 + strlen(w->t[i].name) + 4 + 8 * (uint64_t)w->t[i].n_dims + 4 + 8;
    return n;
}

uint64_t gguf_writer_header_size(const struct gguf_writer *w)
{
    return HY_ALIGN_UP(4 + 4 + 8 + 8 + w->kv_len + info_size(w), (uint64_t)w->alignment);
}

uint64_t gguf_writer_tensor_offset(const struct gguf_writer *w, int i) { return w->t[i].offset; }
uint64_t gguf_writer_tensor_bytes(const struct gguf_writer *w, int i) { return w->t[i].nbytes; }

uint64_t gguf_writer_file_size(const struct gguf_writer *w)
{
    return gguf_writer_header_size(w) + w->data_size;
}

int gguf_writer_header(const struct gguf_writer *w, uint8_t **out, uint64_t *len)
{
    if (w->err)
        return w->err;
    uint64_t n = gguf_writer_header_size(w);
    uint8_t *b = calloc(1, (size_t)n), *p = b;
    if (!b)
        return -ENOMEM;
    uint32_t version = 3;
    uint64_t nt = (uint64_t)w->n_t;
#define EMIT(src, k) (memcpy(p, (src), (k)), p += (k))
    EMIT("GGUF", 4);
    EMIT(&version, 4);
    EMIT(&nt, 8);
    EMIT(&w->n_kv, 8);
    EMIT(w->kv, w->kv_len);
    for (int i = 0; i < w->n_t; i++) {
        const struct wtensor *t = &w->t[i];
        uint64_t nl = strlen(t->name);
        EMIT(&nl, 8);
        EMIT(t->name, nl);
        EMIT(&t->n_dims, 4);
        EMIT(t->ne, 8 * (size_t)t->n_dims);
        EMIT(&t->type, 4);
        EMIT(&t->offset, 8);
    }
#undef EMIT
    *out = b;
    *len = n;
    return 0;
}

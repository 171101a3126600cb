/* GGUF reader. See gguf.h. Every failure records "reason" with set_error and returns a
 * negative status; nothing read from the file is used before it is checked. */
#include "gguf/gguf.h"
#include "io/file.h"
#include "quant/types.h"
#include "util/common.h"
#include "util/log.h"
#include "util/strmap.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GGUF_MAGIC "GGUF"
/* Keys and tensor names longer than this are refused: no real file comes close, and it
 * bounds what a hostile header can make us allocate per entry. */
#define GGUF_MAX_NAME 65535
/* One metadata value (a string, or an array's payload) is held in memory whole: a
 * hostile header must not make us allocate gigabytes. Real ones stay under 10 MiB (a
 * vocabulary's merges); chat templates are kilobytes. */
#define GGUF_MAX_VALUE (256ull << 20)

struct gguf_kv {
    char *key;
    enum gguf_vtype type;
    union {
        uint64_t u;
        int64_t i;
        double f;
    } v;                     /* scalars, widened */
    char *str;               /* GGUF_STR: NUL-terminated */
    uint64_t slen;
    enum gguf_vtype atype;   /* GGUF_ARR: element type */
    uint64_t n;              /* GGUF_ARR: element count */
    void *adata;             /* numeric arrays: n packed elements */
    uint64_t *soff;          /* string arrays: (n + 1) offsets into sdata */
    char *sdata;             /* string arrays: the strings, each NUL-terminated */
};

struct gguf {
    uint32_t version;
    uint32_t alignment;
    uint64_t file_size;
    uint64_t data_offset;
    int64_t n_kv;
    struct gguf_kv *kv;        /* (n_kv) */
    int64_t n_tensors;
    struct gguf_tensor *tensors; /* (n_tensors) */
    struct strmap kmap, tmap;  /* key -> kv index, tensor name -> index */
};

/* ---- a bounded sequential reader over the file layer ---- */
struct rd {
    struct file *f;
    uint64_t off;        /* file offset of buf[0] */
    uint64_t pos;        /* current file offset */
    uint64_t min_end;    /* the header ends at or after this offset: read-ahead stops here,
                            so parsing a header never reads tensor data */
    uint64_t tail;       /* least bytes of header after the entry being read */
    size_t grow;         /* next read-ahead size: doubles while the header goes on */
    uint8_t *buf;
    size_t len;          /* valid bytes in buf */
    size_t cap;
};

static uint64_t rd_left(const struct rd *r)
{
    return r->f->size - r->pos;
}

static int rd_bytes(struct rd *r, void *dst, uint64_t n, const char *what)
{
    if (n > rd_left(r)) {
        set_error("truncated file: %s at offset %" PRIu64 " needs %" PRIu64 " bytes, %" PRIu64 " left",
               what, r->pos, n, rd_left(r));
        return -EBADMSG;
    }
    uint8_t *d = dst;
    while (n > 0) {
        if (r->pos >= r->off && r->pos < r->off + r->len) {
            size_t k = (size_t)HY_MIN(n, r->off + r->len - r->pos);
            memcpy(d, r->buf + (r->pos - r->off), k);
            d += k;
            n -= k;
            r->pos += k;
            continue;
        }
        /* grow the read size as the header proves long: a small header costs a small
         * read, so reading a header barely touches the tensor data after it */
        size_t chunk = r->grow;
        r->grow = HY_MIN(r->cap, r->grow * 2);
        uint64_t ahead = r->min_end > r->pos ? r->min_end - r->pos : 0;
        size_t want = (size_t)HY_MIN((uint64_t)chunk, HY_MAX(ahead, n));
        want = (size_t)HY_MIN((uint64_t)want, r->f->size - r->pos);
        int rc = file_read_at(r->f, r->buf, want, r->pos);
        if (rc)
            return rc;
        r->off = r->pos;
        r->len = want;
    }
    return 0;
}

/* The header has at least `bytes` more after the current position. */
static void rd_at_least(struct rd *r, uint64_t bytes)
{
    if (r->pos + bytes > r->min_end)
        r->min_end = r->pos + bytes;
}

static int rd_u32(struct rd *r, uint32_t *v, const char *what)
{
    return rd_bytes(r, v, 4, what);
}

static int rd_u64(struct rd *r, uint64_t *v, const char *what)
{
    return rd_bytes(r, v, 8, what);
}

/* A length-prefixed string into a fresh NUL-terminated buffer. */
static int rd_str(struct rd *r, char **out, uint64_t *len, uint64_t max, const char *what)
{
    uint64_t n;
    int rc = rd_u64(r, &n, what);
    if (rc)
        return rc;
    if (n > rd_left(r) || n > max) {
        set_error("%s: string length %" PRIu64 " at offset %" PRIu64 " exceeds %s", what, n,
               r->pos - 8, n > rd_left(r) ? "the file" : "the limit");
        return -EBADMSG;
    }
    char *s = malloc((size_t)n + 1);
    if (!s) {
        set_error("out of memory");
        return -ENOMEM;
    }
    rc = rd_bytes(r, s, n, what);
    if (rc) {
        free(s);
        return rc;
    }
    s[n] = 0;
    *out = s;
    if (len)
        *len = n;
    return 0;
}

/* ---- value types ---- */
static const struct {
    const char *name;
    size_t size;
} g_vtypes[GGUF_VTYPE_COUNT] = {
    [GGUF_U8] = {"u8", 1},     [GGUF_I8] = {"i8", 1},     [GGUF_U16] = {"u16", 2},
    [GGUF_I16] = {"i16", 2},   [GGUF_U32] = {"u32", 4},   [GGUF_I32] = {"i32", 4},
    [GGUF_F32] = {"f32", 4},   [GGUF_BOOL] = {"bool", 1}, [GGUF_STR] = {"str", 0},
    [GGUF_ARR] = {"arr", 0},   [GGUF_U64] = {"u64", 8},   [GGUF_I64] = {"i64", 8},
    [GGUF_F64] = {"f64", 8},
};

size_t gguf_vtype_size(enum gguf_vtype t)
{
    return (unsigned)t < GGUF_VTYPE_COUNT ? g_vtypes[t].size : 0;
}

const char *gguf_vtype_name(enum gguf_vtype t)
{
    return (unsigned)t < GGUF_VTYPE_COUNT ? g_vtypes[t].name : "?";
}

/* Read a scalar of type t widened into kv->v. */
static int rd_scalar(struct rd *r, enum gguf_vtype t, struct gguf_kv *kv)
{
    uint8_t raw[8] = {0};
    int rc = rd_bytes(r, raw, gguf_vtype_size(t), kv->key);
    if (rc)
        return rc;
    switch (t) {
    case GGUF_U8: kv->v.u = raw[0]; break;
    case GGUF_BOOL:
        if (raw[0] > 1) {
            set_error("%s: bool value %u is neither 0 nor 1", kv->key, raw[0]);
            return -EBADMSG;
        }
        kv->v.u = raw[0];
        break;
    case GGUF_I8: kv->v.i = (int8_t)raw[0]; break;
    case GGUF_U16: { uint16_t x; memcpy(&x, raw, 2); kv->v.u = x; break; }
    case GGUF_I16: { int16_t x; memcpy(&x, raw, 2); kv->v.i = x; break; }
    case GGUF_U32: { uint32_t x; memcpy(&x, raw, 4); kv->v.u = x; break; }
    case GGUF_I32: { int32_t x; memcpy(&x, raw, 4); kv->v.i = x; break; }
    case GGUF_F32: { float x; memcpy(&x, raw, 4); kv->v.f = x; break; }
    case GGUF_U64: memcpy(&kv->v.u, raw, 8); break;
    case GGUF_I64: memcpy(&kv->v.i, raw, 8); break;
    case GGUF_F64: memcpy(&kv->v.f, raw, 8); break;
    default: return -EINVAL;
    }
    return 0;
}

static int rd_array(struct rd *r, struct gguf_kv *kv)
{
    uint32_t at;
    uint64_t n;
    int rc = rd_u32(r, &at, kv->key);
    if (!rc)
        rc = rd_u64(r, &n, kv->key);
    if (rc)
        return rc;
    if (at >= GGUF_VTYPE_COUNT || at == GGUF_ARR) {
        set_error("%s: array element type %u is %s", kv->key, at,
               at == GGUF_ARR ? "a nested array (unsupported)" : "not a GGUF type");
        return -EBADMSG;
    }
    kv->atype = (enum gguf_vtype)at;
    /* Every element takes at least min bytes in the file: bound n before allocating. */
    uint64_t min = at == GGUF_STR ? 8 : gguf_vtype_size(kv->atype), need;
    if (mul_overflow_u64(n, min, &need) || need > rd_left(r) || need > GGUF_MAX_VALUE) {
        set_error("%s: array of %" PRIu64 " %s elements at offset %" PRIu64 " exceeds %s",
               kv->key, n, gguf_vtype_name(kv->atype), r->pos,
               need > rd_left(r) ? "the file" : "the limit of 256 MiB per value");
        return -EBADMSG;
    }
    kv->n = n;
    if (at != GGUF_STR) {
        rd_at_least(r, need + r->tail);
        kv->adata = malloc(need ? (size_t)need : 1);
        if (!kv->adata) {
            set_error("out of memory");
            return -ENOMEM;
        }
        rc = rd_bytes(r, kv->adata, need, kv->key);
        if (!rc && at == GGUF_BOOL)
            for (uint64_t j = 0; j < n; j++)
                if (((uint8_t *)kv->adata)[j] > 1) {
                    set_error("%s: bool element %" PRIu64 " is neither 0 nor 1", kv->key, j);
                    return -EBADMSG;
                }
        return rc;
    }
    /* strings: lengths first checked against the file, then packed into one arena */
    kv->soff = malloc((size_t)(n + 1) * sizeof *kv->soff);
    size_t cap = 4096, used = 0;
    kv->sdata = malloc(cap);
    if (!kv->soff || !kv->sdata) {
        set_error("out of memory");
        return -ENOMEM;
    }
    for (uint64_t j = 0; j < n; j++) {
        uint64_t len;
        rd_at_least(r, 8 * (n - j) + r->tail);
        rc = rd_u64(r, &len, kv->key);
        if (rc)
            return rc;
        if (len > rd_left(r) || used + len > GGUF_MAX_VALUE) {
            set_error("%s: string %" PRIu64 " of length %" PRIu64 " at offset %" PRIu64 " exceeds %s",
                   kv->key, j, len, r->pos - 8,
                   len > rd_left(r) ? "the file" : "the limit of 256 MiB per value");
            return -EBADMSG;
        }
        rd_at_least(r, len + 8 * (n - j - 1) + r->tail);
        if (used + len + 1 > cap) {
            while (used + len + 1 > cap)
                cap *= 2;
            char *p = realloc(kv->sdata, cap);
            if (!p) {
                set_error("out of memory");
                return -ENOMEM;
            }
            kv->sdata = p;
        }
        kv->soff[j] = used;
        rc = rd_bytes(r, kv->sdata + used, len, kv->key);
        if (rc)
            return rc;
        used += len;
        kv->sdata[used++] = 0;
    }
    kv->soff[n] = used;
    return 0;
}

static int rd_kv(struct rd *r, struct gguf_kv *kv)
{
    int rc = rd_str(r, &kv->key, NULL, GGUF_MAX_NAME, "metadata key");
    if (rc)
        return rc;
    uint32_t t;
    rc = rd_u32(r, &t, kv->key);
    if (rc)
        return rc;
    if (t >= GGUF_VTYPE_COUNT) {
        set_error("metadata '%s': value type %u is not a GGUF type", kv->key, t);
        return -EBADMSG;
    }
    kv->type = (enum gguf_vtype)t;
    if (t == GGUF_STR)
        return rd_str(r, &kv->str, &kv->slen, GGUF_MAX_VALUE, kv->key);
    if (t == GGUF_ARR)
        return rd_array(r, kv);
    return rd_scalar(r, kv->type, kv);
}

static int rd_tensor_info(struct rd *r, struct gguf_tensor *t, char **name)
{
    int rc = rd_str(r, name, NULL, GGUF_MAX_NAME, "tensor name");
    if (rc)
        return rc;
    t->name = *name;
    rc = rd_u32(r, &t->n_dims, t->name);
    if (rc)
        return rc;
    if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS) {
        set_error("tensor '%s': %u dimensions (1 to %d allowed)", t->name, t->n_dims, GGUF_MAX_DIMS);
        return -EBADMSG;
    }
    uint64_t nel = 1;
    for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
        t->ne[d] = 1;
        if (d < t->n_dims) {
            rc = rd_u64(r, &t->ne[d], t->name);
            if (rc)
                return rc;
        }
        if (t->ne[d] > (uint64_t)INT64_MAX || mul_overflow_u64(nel, t->ne[d], &nel) ||
            nel > (uint64_t)INT64_MAX) {
            set_error("tensor '%s': dimensions overflow", t->name);
            return -EBADMSG;
        }
    }
    t->n_elements = nel;
    rc = rd_u32(r, &t->type, t->name);
    if (!rc)
        rc = rd_u64(r, &t->offset, t->name);
    if (rc)
        return rc;
    const struct type_info *ti = type_info(t->type);
    if (!ti) {
        set_error("tensor '%s': unknown type id %u", t->name, t->type);
        return -EBADMSG;
    }
    if (t->ne[0] % ti->blck) {
        set_error("tensor '%s': row of %" PRIu64 " elements is not a multiple of %s's block of %u",
               t->name, t->ne[0], ti->name, ti->blck);
        return -EBADMSG;
    }
    if (mul_overflow_u64(nel / ti->blck, ti->bytes, &t->nbytes)) {
        set_error("tensor '%s': size overflows", t->name);
        return -EBADMSG;
    }
    return 0;
}

static int gguf_index(struct gguf *g)
{
    if (strmap_init(&g->kmap, (size_t)g->n_kv) || strmap_init(&g->tmap, (size_t)g->n_tensors)) {
        set_error("out of memory");
        return -ENOMEM;
    }
    for (int64_t i = 0; i < g->n_kv; i++) {
        int rc = strmap_put(&g->kmap, g->kv[i].key, strlen(g->kv[i].key), (int32_t)i);
        if (rc == -EEXIST) {
            set_error("duplicate metadata key '%s'", g->kv[i].key);
            return -EBADMSG;
        }
        if (rc)
            return rc;
    }
    for (int64_t i = 0; i < g->n_tensors; i++) {
        int rc = strmap_put(&g->tmap, g->tensors[i].name, strlen(g->tensors[i].name), (int32_t)i);
        if (rc == -EEXIST) {
            set_error("duplicate tensor name '%s'", g->tensors[i].name);
            return -EBADMSG;
        }
        if (rc)
            return rc;
    }
    return 0;
}

int gguf_open(struct gguf **out, struct file *f)
{
    *out = NULL;
    struct gguf *g = calloc(1, sizeof *g);
    struct rd r = {.f = f, .cap = 1 << 20, .grow = 16384, .min_end = 24};
    r.buf = malloc(r.cap);
    int rc = -ENOMEM;
    if (!g || !r.buf) {
        set_error("out of memory");
        goto fail;
    }
    g->file_size = f->size;
    char magic[4];
    uint64_t n_tensors, n_kv;
    if ((rc = rd_bytes(&r, magic, 4, "magic")))
        goto fail;
    if (memcmp(magic, GGUF_MAGIC, 4) != 0) {
        set_error("not a GGUF file (bad magic)");
        rc = -EBADMSG;
        goto fail;
    }
    if ((rc = rd_u32(&r, &g->version, "version")))
        goto fail;
    if (g->version != 2 && g->version != 3) {
        if ((g->version & 0xffff) == 0 && g->version)
            set_error("big-endian GGUF files are not supported");
        else
            set_error("GGUF version %u is not supported (2 and 3 are)", g->version);
        rc = -EBADMSG;
        goto fail;
    }
    if ((rc = rd_u64(&r, &n_tensors, "tensor count")) || (rc = rd_u64(&r, &n_kv, "metadata count")))
        goto fail;
    /* a kv takes >= 8 + 4 + 1 bytes, a tensor info >= 8 + 4 + 8 + 4 + 8 */
    if (n_kv > rd_left(&r) / 13 || n_tensors > rd_left(&r) / 32 || n_kv > INT32_MAX ||
        n_tensors > INT32_MAX) {
        set_error("header claims %" PRIu64 " metadata entries and %" PRIu64
               " tensors: more than the file can hold", n_kv, n_tensors);
        rc = -EBADMSG;
        goto fail;
    }
    g->kv = calloc(n_kv ? n_kv : 1, sizeof *g->kv);
    g->tensors = calloc(n_tensors ? n_tensors : 1, sizeof *g->tensors);
    if (!g->kv || !g->tensors) {
        rc = -ENOMEM;
        set_error("out of memory");
        goto fail;
    }
    for (uint64_t i = 0; i < n_kv; i++) {
        g->n_kv = (int64_t)i + 1; /* so gguf_free releases the partial entry */
        /* every kv takes >= 13 bytes, every tensor info >= 32: the header goes on at
         * least that far, and read-ahead may go that far */
        r.tail = 13 * (n_kv - i - 1) + 32 * n_tensors;
        rd_at_least(&r, 13 + r.tail);
        if ((rc = rd_kv(&r, &g->kv[i])))
            goto fail;
    }
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    for (int64_t i = 0; i < g->n_kv; i++)
        if (!strcmp(g->kv[i].key, "general.alignment")) {
            uint64_t a = g->kv[i].v.u;
            if (g->kv[i].type != GGUF_U32 || a == 0 || (a & (a - 1)) || a > (1u << 24)) {
                set_error("general.alignment must be a power of two u32 (got %s %" PRIu64 ")",
                       gguf_vtype_name(g->kv[i].type), a);
                rc = -EBADMSG;
                goto fail;
            }
            g->alignment = (uint32_t)a;
        }
    for (uint64_t i = 0; i < n_tensors; i++) {
        char *name = NULL;
        g->n_tensors = (int64_t)i + 1;
        rd_at_least(&r, 32 * (n_tensors - i));
        rc = rd_tensor_info(&r, &g->tensors[i], &name);
        g->tensors[i].name = name;
        if (rc)
            goto fail;
    }
    uint64_t data = HY_ALIGN_UP(r.pos, (uint64_t)g->alignment);
    if (data > f->size && n_tensors > 0) {
        set_error("truncated file: no room for tensor data after the header");
        rc = -EBADMSG;
        goto fail;
    }
    g->data_offset = data;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        struct gguf_tensor *t = &g->tensors[i];
        uint64_t rel = t->offset, end;
        if (rel % g->alignment) {
            set_error("tensor '%s': data offset %" PRIu64 " is not a multiple of the alignment %u",
                   t->name, rel, g->alignment);
            rc = -EBADMSG;
            goto fail;
        }
        if (add_overflow_u64(data, rel, &t->offset) || add_overflow_u64(t->offset, t->nbytes, &end) ||
            end > f->size) {
            set_error("truncated file: tensor '%s' (%" PRIu64 " bytes at offset %" PRIu64
                   ") ends past the end of the file (%" PRIu64 " bytes)",
                   t->name, t->nbytes, rel, f->size);
            rc = -EBADMSG;
            goto fail;
        }
    }
    if ((rc = gguf_index(g)))
        goto fail;
    free(r.buf);
    file_note_header(f);
    *out = g;
    return 0;
fail:
    free(r.buf);
    gguf_free(g);
    return rc;
}

void gguf_free(struct gguf *g)
{
    if (!g)
        return;
    for (int64_t i = 0; i < g->n_kv; i++) {
        struct gguf_kv *kv = &g->kv[i];
        free(kv->key);
        free(kv->str);
        free(kv->adata);
        free(kv->soff);
        free(kv->sdata);
    }
    for (int64_t i = 0; i < g->n_tensors; i++)
        free((char *)g->tensors[i].name);
    free(g->kv);
    free(g->tensors);
    strmap_free(&g->kmap);
    strmap_free(&g->tmap);
    free(g);
}

uint32_t gguf_version(const struct gguf *g) { return g->version; }
uint32_t gguf_alignment(const struct gguf *g) { return g->alignment; }
uint64_t gguf_data_offset(const struct gguf *g) { return g->data_offset; }
uint64_t gguf_file_size(const struct gguf *g) { return g->file_size; }
int64_t gguf_n_kv(const struct gguf *g) { return g->n_kv; }
int64_t gguf_n_tensors(const struct gguf *g) { return g->n_tensors; }

int64_t gguf_find_key(const struct gguf *g, const char *key)
{
    return strmap_get(&g->kmap, key, strlen(key));
}

int64_t gguf_find_tensor(const struct gguf *g, const char *name)
{
    return strmap_get(&g->tmap, name, strlen(name));
}

const struct gguf_tensor *gguf_tensor(const struct gguf *g, int64_t i)
{
    return i >= 0 && i < g->n_tensors ? &g->tensors[i] : NULL;
}

const char *gguf_kv_key(const struct gguf *g, int64_t i)
{
    return i >= 0 && i < g->n_kv ? g->kv[i].key : NULL;
}

enum gguf_vtype gguf_kv_type(const struct gguf *g, int64_t i)
{
    return i >= 0 && i < g->n_kv ? g->kv[i].type : GGUF_VTYPE_COUNT;
}

int gguf_kv_arr(const struct gguf *g, int64_t i, enum gguf_vtype *etype, uint64_t *n)
{
    if (i < 0 || i >= g->n_kv || g->kv[i].type != GGUF_ARR)
        return -EINVAL;
    if (etype)
        *etype = g->kv[i].atype;
    if (n)
        *n = g->kv[i].n;
    return 0;
}

const void *gguf_kv_arr_data(const struct gguf *g, int64_t i)
{
    if (i < 0 || i >= g->n_kv || g->kv[i].type != GGUF_ARR || g->kv[i].atype == GGUF_STR)
        return NULL;
    return g->kv[i].adata;
}

int gguf_kv_scalar(const struct gguf *g, int64_t i, uint8_t raw[8])
{
    if (i < 0 || i >= g->n_kv || g->kv[i].type == GGUF_STR || g->kv[i].type == GGUF_ARR)
        return -EINVAL;
    const struct gguf_kv *kv = &g->kv[i];
    memset(raw, 0, 8);
    if (kv->type == GGUF_F32) {
        float x = (float)kv->v.f; /* widened from a float: exact */
        memcpy(raw, &x, 4);
    } else {
        /* integers and F64 as 8 bytes; little-endian hosts keep the narrow value in the
         * low bytes (two's complement for the signed ones) */
        memcpy(raw, &kv->v, 8);
    }
    return 0;
}

const char *gguf_kv_arr_str(const struct gguf *g, int64_t i, uint64_t j, size_t *len)
{
    if (i < 0 || i >= g->n_kv || g->kv[i].type != GGUF_ARR || g->kv[i].atype != GGUF_STR ||
        j >= g->kv[i].n)
        return NULL;
    const struct gguf_kv *kv = &g->kv[i];
    if (len)
        *len = (size_t)(kv->soff[j + 1] - kv->soff[j] - 1);
    return kv->sdata + kv->soff[j];
}

static const struct gguf_kv *kv_by_key(const struct gguf *g, const char *key)
{
    int64_t i = gguf_find_key(g, key);
    return i < 0 ? NULL : &g->kv[i];
}

static bool vtype_signed(enum gguf_vtype t)
{
    return t == GGUF_I8 || t == GGUF_I16 || t == GGUF_I32 || t == GGUF_I64;
}

static bool vtype_int(enum gguf_vtype t)
{
    return t == GGUF_U8 || t == GGUF_U16 || t == GGUF_U32 || t == GGUF_U64 || t == GGUF_BOOL ||
           vtype_signed(t);
}

int gguf_get_u32(const struct gguf *g, const char *key, uint32_t *out)
{
    int64_t v;
    int rc = gguf_get_i64(g, key, &v);
    if (rc)
        return rc;
    if (v < 0 || v > UINT32_MAX)
        return -EINVAL;
    *out = (uint32_t)v;
    return 0;
}

int gguf_get_i64(const struct gguf *g, const char *key, int64_t *out)
{
    const struct gguf_kv *kv = kv_by_key(g, key);
    if (!kv)
        return -ENOENT;
    if (!vtype_int(kv->type))
        return -EINVAL;
    if (!vtype_signed(kv->type) && kv->v.u > (uint64_t)INT64_MAX)
        return -EINVAL;
    *out = vtype_signed(kv->type) ? kv->v.i : (int64_t)kv->v.u;
    return 0;
}

int gguf_get_f32(const struct gguf *g, const char *key, float *out)
{
    const struct gguf_kv *kv = kv_by_key(g, key);
    if (!kv)
        return -ENOENT;
    if (kv->type == GGUF_F32 || kv->type == GGUF_F64)
        *out = (float)kv->v.f;
    else if (vtype_signed(kv->type))
        *out = (float)kv->v.i;
    else if (vtype_int(kv->type))
        *out = (float)kv->v.u;
    else
        return -EINVAL;
    return 0;
}

int gguf_get_bool(const struct gguf *g, const char *key, bool *out)
{
    const struct gguf_kv *kv = kv_by_key(g, key);
    if (!kv)
        return -ENOENT;
    if (!vtype_int(kv->type))
        return -EINVAL;
    *out = kv->v.u != 0;
    return 0;
}

const char *gguf_get_str(const struct gguf *g, const char *key, size_t *len)
{
    const struct gguf_kv *kv = kv_by_key(g, key);
    if (!kv || kv->type != GGUF_STR)
        return NULL;
    if (len)
        *len = (size_t)kv->slen;
    return kv->str;
}

int gguf_get_arr(const struct gguf *g, const char *key, enum gguf_vtype *etype, uint64_t *n)
{
    int64_t i = gguf_find_key(g, key);
    if (i < 0)
        return -ENOENT;
    return gguf_kv_arr(g, i, etype, n);
}

const void *gguf_get_arr_data(const struct gguf *g, const char *key)
{
    return gguf_kv_arr_data(g, gguf_find_key(g, key));
}

const char *gguf_get_arr_str(const struct gguf *g, const char *key, uint64_t j, size_t *len)
{
    return gguf_kv_arr_str(g, gguf_find_key(g, key), j, len);
}

static void fmt_scalar(enum gguf_vtype t, const void *p, char *buf, size_t cap)
{
    switch (t) {
    case GGUF_U8: snprintf(buf, cap, "%u", *(const uint8_t *)p); break;
    case GGUF_I8: snprintf(buf, cap, "%d", *(const int8_t *)p); break;
    case GGUF_BOOL: snprintf(buf, cap, "%s", *(const uint8_t *)p ? "true" : "false"); break;
    case GGUF_U16: { uint16_t x; memcpy(&x, p, 2); snprintf(buf, cap, "%u", x); break; }
    case GGUF_I16: { int16_t x; memcpy(&x, p, 2); snprintf(buf, cap, "%d", x); break; }
    case GGUF_U32: { uint32_t x; memcpy(&x, p, 4); snprintf(buf, cap, "%u", x); break; }
    case GGUF_I32: { int32_t x; memcpy(&x, p, 4); snprintf(buf, cap, "%d", x); break; }
    case GGUF_F32: { float x; memcpy(&x, p, 4); snprintf(buf, cap, "%g", x); break; }
    case GGUF_U64: { uint64_t x; memcpy(&x, p, 8); snprintf(buf, cap, "%" PRIu64, x); break; }
    case GGUF_I64: { int64_t x; memcpy(&x, p, 8); snprintf(buf, cap, "%" PRId64, x); break; }
    case GGUF_F64: { double x; memcpy(&x, p, 8); snprintf(buf, cap, "%g", x); break; }
    default: snprintf(buf, cap, "?"); break;
    }
}

/* Render a string for display: control characters escaped, long strings cut. */
static void fmt_str(const char *s, size_t n, char *buf, size_t cap)
{
    size_t o = 0;
    if (cap < 12) { /* room for a quote, a character, "..." and a quote */
        if (cap)
            buf[0] = 0;
        return;
    }
    buf[o++] = '"';
    for (size_t i = 0; i < n && o + 6 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') { buf[o++] = '\\'; buf[o++] = 'n'; }
        else if (c < 0x20 || c == 0x7f) o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
        else buf[o++] = (char)c;
        if (i + 1 < n && o + 6 >= cap) {
            memcpy(buf + o - 3, "...", 3);
            break;
        }
    }
    buf[o++] = '"';
    buf[o] = 0;
}

void gguf_kv_format(const struct gguf *g, int64_t i, char *buf, size_t cap)
{
    if (!cap)
        return;
    buf[0] = 0;
    if (i < 0 || i >= g->n_kv)
        return;
    const struct gguf_kv *kv = &g->kv[i];
    uint8_t raw[8];
    switch (kv->type) {
    case GGUF_STR:
        fmt_str(kv->str, (size_t)kv->slen, buf, cap);
        return;
    case GGUF_ARR: {
        size_t o = (size_t)snprintf(buf, cap, "[%s x %" PRIu64 "]", gguf_vtype_name(kv->atype), kv->n);
        for (uint64_t j = 0; j < kv->n && j < 4 && o + 16 < cap; j++) {
            char el[64];
            if (kv->atype == GGUF_STR)
                fmt_str(kv->sdata + kv->soff[j], (size_t)(kv->soff[j + 1] - kv->soff[j] - 1), el,
                        sizeof el);
            else
                fmt_scalar(kv->atype, (const uint8_t *)kv->adata + j * gguf_vtype_size(kv->atype),
                           el, sizeof el);
            o += (size_t)snprintf(buf + o, cap - o, "%s%s", j ? ", " : " ", el);
        }
        if (kv->n > 4 && o + 5 < cap)
            snprintf(buf + o, cap - o, ", ...");
        return;
    }
    case GGUF_F32: { float x = (float)kv->v.f; memcpy(raw, &x, 4); break; }
    case GGUF_F64: memcpy(raw, &kv->v.f, 8); break;
    default:
        if (vtype_signed(kv->type)) {
            /* widened values: narrow back little-endian */
            memcpy(raw, &kv->v.i, 8);
        } else {
            memcpy(raw, &kv->v.u, 8);
        }
        break;
    }
    fmt_scalar(kv->type, raw, buf, cap);
}

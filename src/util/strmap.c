/* Open-addressing string map. See strmap.h. */
#include "util/strmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

uint64_t hash_bytes(const void *p, size_t n)
{
    /* FNV-1a, then a final avalanche so low bits are usable as the slot index. */
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ull;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static int strmap_alloc(struct strmap *m, size_t cap)
{
    m->keys = calloc(cap, sizeof *m->keys);
    m->lens = calloc(cap, sizeof *m->lens);
    m->vals = calloc(cap, sizeof *m->vals);
    m->cap = cap;
    m->n = 0;
    if (!m->keys || !m->lens || !m->vals) {
        strmap_free(m);
        return -ENOMEM;
    }
    return 0;
}

int strmap_init(struct strmap *m, size_t expected)
{
    size_t cap = 16;
    while (cap < expected * 2 + 2)
        cap *= 2;
    return strmap_alloc(m, cap);
}

void strmap_free(struct strmap *m)
{
    free(m->keys);
    free(m->lens);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

static size_t strmap_slot(const struct strmap *m, const char *key, size_t len)
{
    size_t mask = m->cap - 1;
    size_t i = (size_t)hash_bytes(key, len) & mask;
    while (m->keys[i] && !(m->lens[i] == len && memcmp(m->keys[i], key, len) == 0))
        i = (i + 1) & mask;
    return i;
}

int strmap_put(struct strmap *m, const char *key, size_t len, int32_t val)
{
    if (len > UINT32_MAX)
        return -EINVAL;
    if ((m->n + 1) * 2 > m->cap) {
        struct strmap bigger;
        if (strmap_alloc(&bigger, m->cap * 2) != 0)
            return -ENOMEM;
        for (size_t i = 0; i < m->cap; i++)
            if (m->keys[i]) {
                size_t j = strmap_slot(&bigger, m->keys[i], m->lens[i]);
                bigger.keys[j] = m->keys[i];
                bigger.lens[j] = m->lens[i];
                bigger.vals[j] = m->vals[i];
                bigger.n++;
            }
        strmap_free(m);
        *m = bigger;
    }
    size_t i = strmap_slot(m, key, len);
    if (m->keys[i])
        return -EEXIST;
    m->keys[i] = key;
    m->lens[i] = (uint32_t)len;
    m->vals[i] = val;
    m->n++;
    return 0;
}

int32_t strmap_get(const struct strmap *m, const char *key, size_t len)
{
    if (!m->cap)
        return -1;
    size_t i = strmap_slot(m, key, len);
    return m->keys[i] ? m->vals[i] : -1;
}

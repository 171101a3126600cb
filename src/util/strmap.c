/* Open-addressing string map. See strmap.h. */
#include "util/strmap.h"

#include <errno.h>
#include <pthread.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

/* The key of hash_bytes: random per process, so nobody can prepare names that collide
 * (with a fixed hash and linear probing, 131,072 crafted token texts took a minute to
 * load). */
static uint64_t g_key[2];
static pthread_once_t g_key_once = PTHREAD_ONCE_INIT;

static void key_init(void)
{
    if (getrandom(g_key, sizeof g_key, 0) != (ssize_t)sizeof g_key) {
        /* no entropy source: still different per process and per run */
        g_key[0] = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
        g_key[1] = (uint64_t)(uintptr_t)&g_key ^ (uint64_t)clock();
    }
}

static inline uint64_t rotl(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

#define SIPROUND                                                                          \
    do {                                                                                  \
        v0 += v1, v1 = rotl(v1, 13), v1 ^= v0, v0 = rotl(v0, 32);                         \
        v2 += v3, v3 = rotl(v3, 16), v3 ^= v2;                                            \
        v0 += v3, v3 = rotl(v3, 21), v3 ^= v0;                                            \
        v2 += v1, v1 = rotl(v1, 17), v1 ^= v2, v2 = rotl(v2, 32);                         \
    } while (0)

uint64_t siphash(const void *p, size_t n, uint64_t k0, uint64_t k1, int c, int d)
{
    const unsigned char *s = p;
    uint64_t v0 = k0 ^ 0x736f6d6570736575ull, v1 = k1 ^ 0x646f72616e646f6dull;
    uint64_t v2 = k0 ^ 0x6c7967656e657261ull, v3 = k1 ^ 0x7465646279746573ull;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t m;
        memcpy(&m, s + i, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        m = __builtin_bswap64(m);
#endif
        v3 ^= m;
        for (int r = 0; r < c; r++)
            SIPROUND;
        v0 ^= m;
    }
    uint64_t b = (uint64_t)n << 56;
    for (size_t k = 0; i + k < n; k++)
        b |= (uint64_t)s[i + k] << (8 * k);
    v3 ^= b;
    for (int r = 0; r < c; r++)
        SIPROUND;
    v0 ^= b;
    v2 ^= 0xff;
    for (int r = 0; r < d; r++)
        SIPROUND;
    return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t hash_bytes_keyed(const void *p, size_t n, uint64_t k0, uint64_t k1)
{
    return siphash(p, n, k0, k1, 1, 3); /* SipHash-1-3: fast enough for tables of names */
}

uint64_t hash_bytes(const void *p, size_t n)
{
    pthread_once(&g_key_once, key_init);
    return hash_bytes_keyed(p, n, g_key[0], g_key[1]);
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

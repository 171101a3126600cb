/* A string -> int32 map with open addressing. Keys are borrowed: they must outlive the
 * map (they usually point into the structure that owns the map). Used for tensor names,
 * metadata keys and token texts. */
#ifndef HY_UTIL_STRMAP_H
#define HY_UTIL_STRMAP_H

#include <stddef.h>
#include <stdint.h>

struct strmap {
    const char **keys;   /* (cap) borrowed key pointers, NULL = empty */
    uint32_t *lens;      /* (cap) key lengths */
    int32_t *vals;       /* (cap) */
    size_t cap, n;       /* cap is a power of two, kept >= 2n */
};

int strmap_init(struct strmap *m, size_t expected);
void strmap_free(struct strmap *m);
/* Insert key (len bytes, need not be NUL-terminated). Returns 0, -EEXIST if present
 * (the value is not changed), -ENOMEM. */
int strmap_put(struct strmap *m, const char *key, size_t len, int32_t val);
/* The value, or -1 when absent. */
int32_t strmap_get(const struct strmap *m, const char *key, size_t len);
/* SipHash-c-d of n bytes with the key (k0, k1), little-endian words. */
uint64_t siphash(const void *p, size_t n, uint64_t k0, uint64_t k1, int c, int d);
/* A keyed hash (SipHash-1-3) of n bytes; hash_bytes uses a random per-process key. */
uint64_t hash_bytes_keyed(const void *p, size_t n, uint64_t k0, uint64_t k1);
uint64_t hash_bytes(const void *p, size_t n);

#endif

/* The string map behind tensor names, metadata keys and token texts: SipHash against the
 * published vectors, a key that changes the hash, and probes that stay short for many
 * similar keys (the unkeyed hash let crafted token texts make loading quadratic). */
#include "test.h"
#include "util/strmap.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void test_siphash_vectors(void)
{
    /* SipHash-2-4, key 00..0f (Aumasson and Bernstein, appendix A) */
    uint64_t k0 = 0x0706050403020100ull, k1 = 0x0f0e0d0c0b0a0908ull;
    uint8_t msg[15];
    for (int i = 0; i < 15; i++)
        msg[i] = (uint8_t)i;
    CHECK(siphash(msg, 15, k0, k1, 2, 4) == 0xa129ca6149be45e5ull);
    CHECK(siphash(msg, 0, k0, k1, 2, 4) == 0x726fdb47dd0e0e31ull);
    /* the key matters */
    CHECK(hash_bytes_keyed("token", 5, 1, 2) != hash_bytes_keyed("token", 5, 1, 3));
}

static void test_map(void)
{
    struct strmap m;
    CHECK(strmap_init(&m, 4) == 0);
    enum { N = 100000 };
    static char keys[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "tok%07d", i);
        CHECK(strmap_put(&m, keys[i], strlen(keys[i]), i) == 0);
    }
    CHECK(strmap_put(&m, keys[5], strlen(keys[5]), 9) == -EEXIST);
    int bad = 0;
    for (int i = 0; i < N; i++)
        bad += strmap_get(&m, keys[i], strlen(keys[i])) != i;
    CHECK(bad == 0);
    CHECK(strmap_get(&m, "absent", 6) == -1);
    /* the longest run of occupied slots: short for a well-mixed hash at load <= 1/2 */
    size_t run = 0, longest = 0;
    for (size_t i = 0; i < m.cap; i++) {
        run = m.keys[i] ? run + 1 : 0;
        longest = run > longest ? run : longest;
    }
    CHECKF(longest < 200, "a run of %zu occupied slots", longest);
    strmap_free(&m);
}

int main(void)
{
    RUN(test_siphash_vectors);
    RUN(test_map);
    return test_finish();
}

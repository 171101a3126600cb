/* The encoder's small containers, shared by its BPE and SentencePiece paths: a growable
 * array of ids, and the word cache (words already tokenized in one call). Inline: they
 * sit on the tokenizer's hot path.
 *
 * Not owned here: tokenizing (encode.c). */
#ifndef HY_TOKENIZER_WCACHE_H
#define HY_TOKENIZER_WCACHE_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- a growable array ---- */

struct ivec {
    int32_t *v;
    size_t n, cap;
};

static inline int ivec_reserve(struct ivec *a, size_t more)
{
    if (a->n + more <= a->cap)
        return 0;
    size_t cap = a->cap ? a->cap : 64;
    while (cap < a->n + more)
        cap *= 2;
    int32_t *p = realloc(a->v, cap * sizeof *p);
    if (!p)
        return -ENOMEM;
    a->v = p;
    a->cap = cap;
    return 0;
}

static inline int ivec_push(struct ivec *a, int32_t x)
{
    if (a->n == a->cap && ivec_reserve(a, 1))
        return -ENOMEM;
    a->v[a->n++] = x;
    return 0;
}

static inline void *grow(void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return p;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *q = realloc(p, c * elem);
    if (q)
        *cap = c;
    return q;
}

/* ======================================================================================
 * A cache of words already tokenized in this call: natural text repeats its words. BPE
 * caches its pre-tokenizer's words, SentencePiece the pieces between its cuts; both are
 * tokenized on their own, so a word's ids depend on its bytes alone.
 * ====================================================================================== */

struct wcache_slot {
    uint64_t hash;
    uint32_t koff;          /* the word, in the key arena */
    uint16_t wlen;          /* (<= WCACHE_MAX_WORD) */
    uint16_t gen;           /* the text it belongs to; others' slots count as empty.
                               16 bits keep a slot at 24 bytes: 32 cost 10% in speed */
    uint32_t toff, tlen;    /* its tokens, in the cache pool */
};
#define WCACHE_MAX_WORD 48
_Static_assert(sizeof(struct wcache_slot) == 24, "a cache slot stays at 24 bytes");
#define WCACHE_MIN_SLOTS 4096     /* to start with: natural text has few distinct words, */
#define WCACHE_MAX_SLOTS (1u << 20) /* and a table that stays small stays in the CPU's cache */
#define WCACHE_MIN_TEXT 4096      /* shorter texts are tokenized without a cache */

struct wcache {
    struct wcache_slot *slots;   /* (n_slots) open addressing; NULL: no caching */
    size_t n_slots, max_slots, used;
    uint16_t gen;                /* bumped per text: emptying the cache costs nothing */
    uint8_t *keys;               /* (keys_cap) the cached words' bytes, side by side */
    size_t keys_n, keys_cap;
    struct ivec pool;            /* the cached words' tokens */
};

/* Where wcache_get looked: wcache_put stores the word there. */
struct wcache_probe {
    uint64_t hash;
    size_t slot;                 /* SIZE_MAX: not cacheable */
};

/* A cache for a call tokenizing len bytes: it grows with the distinct words met up to a
 * size set by the text, capped; none for short texts or when memory is short (caching is
 * only an optimisation). */
static inline void wcache_init(struct wcache *c, size_t len)
{
    *c = (struct wcache){0};
    if (len < WCACHE_MIN_TEXT)
        return;
    c->max_slots = WCACHE_MIN_SLOTS;
    while (c->max_slots < len / 8 && c->max_slots < WCACHE_MAX_SLOTS)
        c->max_slots *= 2;
    c->slots = calloc(WCACHE_MIN_SLOTS, sizeof *c->slots);
    c->n_slots = c->slots ? WCACHE_MIN_SLOTS : 0;
}

static inline void wcache_free(struct wcache *c)
{
    free(c->slots);
    free(c->keys);
    free(c->pool.v);
}

/* Start on a new text: forget the old one's words (a new generation; slots are zeroed only
 * when the counter wraps). Each text of a call may be cached differently by its caller. */
static inline void wcache_begin(struct wcache *c)
{
    if (++c->gen == 0) {
        if (c->n_slots)
            memset(c->slots, 0, c->n_slots * sizeof *c->slots);
        c->gen = 1;
    }
    c->used = 0;
    c->keys_n = 0;
    c->pool.n = 0;
}

/* The word w[0..n): if cached, append its tokens to out and return 1. Else return 0 with *pr
 * telling wcache_put where to keep it; -ENOMEM. */
static inline int wcache_get(struct wcache *c, const uint8_t *w, size_t n, struct ivec *out,
                      struct wcache_probe *pr)
{
    *pr = (struct wcache_probe){.slot = SIZE_MAX};
    if (!c->n_slots || n > WCACHE_MAX_WORD)
        return 0;
    uint64_t h = tok_hash(w, n);
    size_t mask = c->n_slots - 1, i = (size_t)(h >> 7) & mask;
    for (;;) {
        struct wcache_slot *s = &c->slots[i];
        if (s->gen != c->gen)
            break;
        if (s->hash == h && s->wlen == n && tok_bytes_eq(c->keys + s->koff, w, n)) {
            if (ivec_reserve(out, s->tlen))
                return -ENOMEM;
            memcpy(out->v + out->n, c->pool.v + s->toff, s->tlen * sizeof *out->v);
            out->n += s->tlen;
            return 1;
        }
        i = (i + 1) & mask;
    }
    pr->hash = h;
    pr->slot = i;
    return 0;
}

/* Double the slots, keeping this text's words. Fails (caching goes on as it was) when
 * memory is short. */
static inline int wcache_grow(struct wcache *c)
{
    size_t n = c->n_slots * 2, mask = n - 1;
    struct wcache_slot *v = calloc(n, sizeof *v);
    if (!v)
        return -ENOMEM;
    for (size_t k = 0; k < c->n_slots; k++) {
        if (c->slots[k].gen != c->gen)
            continue;
        size_t i = (size_t)(c->slots[k].hash >> 7) & mask;
        while (v[i].gen == c->gen)
            i = (i + 1) & mask;
        v[i] = c->slots[k];
    }
    free(c->slots);
    c->slots = v;
    c->n_slots = n;
    return 0;
}

/* Remember out->v[before..out->n) as the tokens of the word w[0..n) wcache_get missed. */
static inline void wcache_put(struct wcache *c, const struct wcache_probe *pr, const uint8_t *w,
                       size_t n, const struct ivec *out, size_t before)
{
    size_t nt = out->n - before;
    if (pr->slot == SIZE_MAX || c->pool.n + nt > UINT32_MAX || c->keys_n + n > UINT32_MAX)
        return;
    size_t slot = pr->slot;
    if ((c->used + 1) * 2 > c->n_slots) {
        if (c->n_slots >= c->max_slots || wcache_grow(c))
            return;   /* full: stop caching rather than grow without bound */
        size_t mask = c->n_slots - 1;
        slot = (size_t)(pr->hash >> 7) & mask;
        while (c->slots[slot].gen == c->gen)
            slot = (slot + 1) & mask;
    }
    if (c->keys_n + n > c->keys_cap) {
        uint8_t *k = grow(c->keys, &c->keys_cap, c->keys_n + n, 1);
        if (!k)
            return;
        c->keys = k;
    }
    if (ivec_reserve(&c->pool, nt))
        return;
    c->slots[slot] = (struct wcache_slot){.hash = pr->hash, .koff = (uint32_t)c->keys_n,
                                          .wlen = (uint16_t)n, .toff = (uint32_t)c->pool.n,
                                          .tlen = (uint32_t)nt, .gen = c->gen};
    memcpy(c->keys + c->keys_n, w, n);
    c->keys_n += n;
    memcpy(c->pool.v + c->pool.n, out->v + before, nt * sizeof *out->v);
    c->pool.n += nt;
    c->used++;
}

#endif

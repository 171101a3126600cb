/* The tokenizer's private layout, shared by vocab.c (building it), encode.c (text -> ids) and
 * decode.c (ids -> text). Nothing outside src/tokenizer includes this. */
#ifndef HY_TOKENIZER_TOK_INTERNAL_H
#define HY_TOKENIZER_TOK_INTERNAL_H

#include "tokenizer/pretok.h"
#include "tokenizer/tokenizer.h"
#include "util/strmap.h"

#include <string.h>

struct tok_entry {
    uint32_t text_off, text_len;     /* into tokenizer.text; the text is NUL-terminated */
    uint32_t piece_off, piece_len;   /* into tokenizer.pieces: the rendering with specials */
    float score;
    uint32_t attr;                   /* TOK_ATTR_* */
};

/* (left symbol, right symbol) -> (merge rank, merged symbol), open addressing. A symbol is a
 * token id, or an id >= n_vocab for a string that merges mention but the vocabulary lacks. */
struct bpe_pairs {
    uint64_t *key;      /* (cap) left << 32 | right; BPE_PAIR_EMPTY when free */
    int32_t *rank;      /* (cap) */
    int32_t *merged;    /* (cap) */
    size_t cap, n;      /* cap a power of two, >= 2n */
};
#define BPE_PAIR_EMPTY UINT64_MAX

/* SentencePiece's text -> token lookup, the one its merges make for every candidate pair:
 * open addressing over the distinct token texts, each slot carrying what a merge needs, so
 * that a miss reads slots alone and a hit one token text besides. */
struct spm_slot {
    uint32_t tag;                  /* the hash's high half, odd; 0: empty */
    int32_t id;                    /* the token (of a repeated text, by_text's: the last) */
    float score;                   /* its score */
    uint32_t text_off, text_len;   /* its text, in tokenizer.text */
};

/* Special-token texts as a trie, to find every special token occurring in a text in one pass. */
struct trie_node {
    int32_t child;      /* first child node, -1 if none */
    int32_t sibling;    /* next sibling, -1 if none */
    int32_t special;    /* index into tokenizer.special ending here, -1 if none */
    uint8_t byte;
};

struct tokenizer {
    enum tok_model model;
    enum pretok_kind pre;
    char *pre_name;                 /* tokenizer.ggml.pre ("" when absent) */
    int32_t n_vocab;
    struct tok_entry *tok;          /* (n_vocab) */
    char *text;                     /* token texts */
    char *pieces;                   /* rendered pieces */
    struct strmap by_text;          /* token text -> id; when texts repeat, the last id wins
                                       (llama.cpp's token_to_id) */

    /* byte-level BPE */
    struct bpe_pairs pairs;
    int32_t n_sym;                  /* n_vocab + number of extra strings */
    char **extra;                   /* (n_sym - n_vocab) extra strings, NUL-terminated */
    uint32_t *extra_len;
    struct strmap extra_map;        /* extra string -> symbol id */
    int32_t byte_sym[256];          /* symbol of each byte's mapped character */
    uint8_t byte_map[256][3];       /* each byte's mapped character in UTF-8 ... */
    uint8_t byte_map_len[256];      /* ... and its length (1 or 2) */
    bool ignore_merges;             /* a whole word in the vocabulary is taken as it is */

    /* SentencePiece */
    struct spm_slot *spm_index;     /* (spm_cap) a power of two, >= 2 n_vocab; NULL for BPE */
    size_t spm_cap;
    int32_t spm_byte_tok[256];      /* <0xNN> token of each byte (or -1) */
    /* Where the text can be cut into pieces that are tokenized apart with the same ids. A
     * merge makes a token text, so it can span the boundary between bytes x and y only if
     * some token text holds x, y side by side, and a boundary before U+2581 only if some
     * token text holds x, U+2581. Where neither holds, no pair across the boundary is ever
     * a candidate, so each side's merges involve its own symbols only, in the same order
     * (by score, then position, and positions keep their order within a piece): the pieces
     * tokenized apart give the whole text's ids. The cut must fall where a character
     * starts in the whole text, since characters are the first symbols. */
    uint64_t spm_glue[256][4];      /* bit y of [x]: bytes x, y side by side in a token text */
    bool spm_glue_space[256];       /* x: byte x right before U+2581 in a token text */
    bool add_space_prefix;

    /* special tokens: CONTROL | USER_DEFINED | UNKNOWN, longest text first */
    int32_t *special;               /* (n_special) token ids */
    int n_special;
    bool has_user_defined;          /* some special token is matched even without parse_special */
    struct trie_node *trie;         /* node 0 is the root */
    int32_t n_trie;
    int32_t root_child[256];        /* the root's child for each first byte, -1 if none */

    int32_t bos, eos, eot, eom, unk, sep, pad, mask;
    int32_t fim_pre, fim_suf, fim_mid, fim_pad, fim_rep, fim_sep;
    bool add_bos, add_eos;
    uint8_t *eog;                   /* (n_vocab) 1 for end-of-generation tokens */
    char *chat_template;            /* NULL when absent */
};

static inline const char *tok_text(const struct tokenizer *t, int32_t id)
{
    return t->text + t->tok[id].text_off;
}

/* Pair lookup: the slot of (l, r), or -1. */
static inline int64_t bpe_pair_find(const struct bpe_pairs *p, int32_t l, int32_t r)
{
    uint64_t k = (uint64_t)(uint32_t)l << 32 | (uint32_t)r;
    uint64_t h = k * 0x9E3779B97F4A7C15ull;
    size_t mask = p->cap - 1;
    size_t i = (size_t)(h >> 32) & mask;
    for (;;) {
        uint64_t kk = p->key[i];
        if (kk == k)
            return (int64_t)i;
        if (kk == BPE_PAIR_EMPTY)
            return -1;
        i = (i + 1) & mask;
    }
}

/* ---- hashing and comparing short strings (vocabulary lookups, the word cache) ---- */

static inline uint64_t tok_hash(const uint8_t *w, size_t n);
static inline bool tok_bytes_eq(const uint8_t *a, const uint8_t *b, size_t n);

static inline uint64_t tok_load64(const uint8_t *p)
{
    uint64_t x;
    memcpy(&x, p, 8);
    return x;
}

static inline uint32_t tok_load32(const uint8_t *p)
{
    uint32_t x;
    memcpy(&x, p, 4);
    return x;
}

/* The n < 8 bytes at p, zero-extended (little-endian order), by loads that stay inside them:
 * a byte-wise copy into a word stalls the load that follows it. */
static inline uint64_t tok_load_short(const uint8_t *p, size_t n)
{
    if (n >= 4)
        return tok_load32(p) | (uint64_t)tok_load32(p + n - 4) << (8 * (n - 4));
    if (n == 0)
        return 0;
    return p[0] | (uint64_t)p[n / 2] << (8 * (n / 2)) | (uint64_t)p[n - 1] << (8 * (n - 1));
}

static inline uint64_t tok_hash(const uint8_t *w, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        h = (h ^ tok_load64(w + i)) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    /* the rest: the last 8 bytes (overlapping) when there are that many */
    uint64_t x = n >= 8 ? (i < n ? tok_load64(w + n - 8) : 0) : tok_load_short(w, n);
    h = (h ^ x) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 29;
    return h;
}

/* a[0..n) == b[0..n), for short strings (a call to memcmp costs more) */
static inline bool tok_bytes_eq(const uint8_t *a, const uint8_t *b, size_t n)
{
    if (n < 8)
        return tok_load_short(a, n) == tok_load_short(b, n);
    for (size_t i = 0; i + 8 < n; i += 8)
        if (tok_load64(a + i) != tok_load64(b + i))
            return false;
    return tok_load64(a + n - 8) == tok_load64(b + n - 8);   /* the last 8, overlapping */
}

/* The SentencePiece slot of the token text s[0..n), or NULL. */
static inline const struct spm_slot *spm_find(const struct tokenizer *t, const uint8_t *s, size_t n)
{
    uint64_t h = tok_hash(s, n);
    uint32_t tag = (uint32_t)(h >> 32) | 1;
    size_t mask = t->spm_cap - 1;
    for (size_t i = (size_t)(h >> 7) & mask;; i = (i + 1) & mask) {
        const struct spm_slot *e = &t->spm_index[i];
        if (e->tag == tag && e->text_len == n &&
            tok_bytes_eq((const uint8_t *)t->text + e->text_off, s, n))
            return e;
        if (!e->tag)
            return NULL;
    }
}

#endif

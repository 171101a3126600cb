/* The tokenizer's private layout, shared by vocab.c (building it), encode.c (text -> ids) and
 * decode.c (ids -> text). Nothing outside src/tokenizer includes this. */
#ifndef HY_TOKENIZER_TOK_INTERNAL_H
#define HY_TOKENIZER_TOK_INTERNAL_H

#include "tokenizer/pretok.h"
#include "tokenizer/tokenizer.h"
#include "util/strmap.h"

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

#endif

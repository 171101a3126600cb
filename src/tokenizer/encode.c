/* Text -> token ids: special-token partition, SentencePiece BPE, byte-level BPE.
 *
 * The order of operations is llama.cpp's: special tokens are cut out of the text first
 * (longest token text first, each one's occurrences left to right), then each remaining piece
 * of plain text is tokenized on its own. All working memory belongs to the call.
 *
 * Not owned here: the vocabulary (vocab.c), word splitting (pretok.c). */
#include "tokenizer/tok_internal.h"
#include "tokenizer/unicode.h"
#include "tokenizer/wcache.h"
#include "util/common.h"
#include "util/log.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

struct tok_encode_params tok_encode_default_params(void)
{
    return (struct tok_encode_params){.add_special = true, .parse_special = false};
}

/* ======================================================================================
 * Special-token partition
 * ====================================================================================== */

struct frag {
    size_t off, len;   /* plain text, when tok < 0 */
    int32_t tok;       /* a special token, or -1 */
    int32_t next;      /* next fragment in text order, -1 at the end */
};

struct frags {
    struct frag *v;
    size_t n, cap;
    int32_t head;
};

static int32_t frag_new(struct frags *f, int32_t tok, size_t off, size_t len)
{
    if (f->n == f->cap) {
        struct frag *p = grow(f->v, &f->cap, f->n + 1, sizeof *p);
        if (!p)
            return -1;
        f->v = p;
    }
    f->v[f->n] = (struct frag){.off = off, .len = len, .tok = tok, .next = -1};
    return (int32_t)f->n++;
}

static bool c_isspace(uint8_t c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

struct occ {
    uint32_t k;    /* index into t->special */
    size_t pos;
};

/* Every occurrence of an eligible special token in text (overlapping ones too), in text
 * order, skipping those that overlap a plain range. */
static int find_occurrences(const struct tokenizer *t, const uint8_t *text, size_t len,
                            const struct tok_encode_params *p, struct occ **out, size_t *n_out)
{
    struct occ *v = NULL;
    size_t n = 0, cap = 0;
    int pr = 0;   /* first plain range that may still overlap */
    for (size_t pos = 0; pos < len; pos++) {
        int32_t node = t->root_child[text[pos]];
        if (node < 0)
            continue;
        while (pr < p->n_plain && p->plain[pr].off + p->plain[pr].len <= pos)
            pr++;
        for (size_t d = 1;; d++) {
            int32_t k = t->trie[node].special;
            if (k >= 0) {
                uint32_t attr = t->tok[t->special[k]].attr;
                bool eligible = p->parse_special || !(attr & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN));
                bool in_plain = pr < p->n_plain && p->plain[pr].off < pos + d;
                if (eligible && !in_plain) {
                    struct occ *q = grow(v, &cap, n + 1, sizeof *v);
                    if (!q) {
                        free(v);
                        return -ENOMEM;
                    }
                    v = q;
                    v[n++] = (struct occ){.k = (uint32_t)k, .pos = pos};
                }
            }
            if (pos + d >= len)
                break;
            int32_t c = t->trie[node].child;
            while (c >= 0 && t->trie[c].byte != text[pos + d])
                c = t->trie[c].sibling;
            if (c < 0)
                break;
            node = c;
        }
    }
    *out = v;
    *n_out = n;
    return 0;
}

/* Cut the special tokens out of text: the fragment list in f. */
static int partition(const struct tokenizer *t, const uint8_t *text, size_t len,
                     const struct tok_encode_params *p, struct frags *f)
{
    f->n = 0;
    f->head = -1;
    if (len == 0)
        return 0;
    f->head = frag_new(f, -1, 0, len);
    if (f->head < 0)
        return -ENOMEM;
    if (!t->n_special || (!p->parse_special && !t->has_user_defined))
        return 0;

    struct occ *occ;
    size_t n_occ;
    if (find_occurrences(t, text, len, p, &occ, &n_occ))
        return -ENOMEM;
    if (!n_occ) {
        free(occ);
        return 0;
    }
    /* group the positions by special token (counting sort keeps each group ascending) */
    size_t *start = calloc((size_t)t->n_special + 1, sizeof *start);
    size_t *pos = malloc(n_occ * sizeof *pos);
    if (!start || !pos) {
        free(start);
        free(pos);
        free(occ);
        return -ENOMEM;
    }
    for (size_t i = 0; i < n_occ; i++)
        start[occ[i].k + 1]++;
    for (int k = 0; k < t->n_special; k++)
        start[k + 1] += start[k];
    size_t *fill = malloc(((size_t)t->n_special + 1) * sizeof *fill);
    if (!fill) {
        free(start);
        free(pos);
        free(occ);
        return -ENOMEM;
    }
    memcpy(fill, start, ((size_t)t->n_special + 1) * sizeof *fill);
    for (size_t i = 0; i < n_occ; i++)
        pos[fill[occ[i].k]++] = occ[i].pos;
    free(fill);
    free(occ);

    int rc = 0;
    for (int k = 0; k < t->n_special && !rc; k++) {
        size_t j = start[k], j_end = start[k + 1];
        if (j == j_end)
            continue;
        int32_t id = t->special[k];
        size_t tl = t->tok[id].text_len;
        uint32_t attr = t->tok[id].attr;
        int32_t link = -1;   /* the fragment before fi (-1: fi is the head) */
        for (int32_t fi = f->head; fi >= 0 && j < j_end;) {
            struct frag cur = f->v[fi];   /* a copy: frag_new may move f->v */
            if (cur.tok >= 0) {
                link = fi;
                fi = cur.next;
                continue;
            }
            size_t cursor = cur.off, end = cur.off + cur.len;
            int32_t first = -1, last = -1;   /* the replacement chain */
#define APPEND(idx)                                    \
    do {                                               \
        int32_t _i = (idx);                            \
        if (_i < 0) {                                  \
            rc = -ENOMEM;                              \
            break;                                     \
        }                                              \
        if (last >= 0)                                 \
            f->v[last].next = _i;                      \
        else                                           \
            first = _i;                                \
        last = _i;                                     \
    } while (0)
            while (j < j_end && pos[j] < cursor)
                j++;
            while (j < j_end && pos[j] + tl <= end && !rc) {
                size_t m = pos[j];
                size_t left_len = m - cursor;
                if (left_len && (attr & TOK_ATTR_LSTRIP))
                    while (left_len && c_isspace(text[cursor + left_len - 1]))
                        left_len--;
                if (left_len)
                    APPEND(frag_new(f, -1, cursor, left_len));
                if (rc)
                    break;
                APPEND(frag_new(f, id, m, tl));
                cursor = m + tl;
                if (cursor < end && (attr & TOK_ATTR_RSTRIP))
                    while (cursor < end && c_isspace(text[cursor]))
                        cursor++;
                while (j < j_end && pos[j] < cursor)
                    j++;
            }
            if (rc)
                break;
            if (first < 0) {   /* no match in this fragment */
                link = fi;
                fi = cur.next;
                continue;
            }
            if (cursor < end)
                APPEND(frag_new(f, -1, cursor, end - cursor));
            if (rc)
                break;
#undef APPEND
            f->v[last].next = cur.next;
            if (link < 0)
                f->head = first;
            else
                f->v[link].next = first;
            link = last;
            fi = cur.next;
        }
    }
    free(start);
    free(pos);
    return rc;
}

/* ======================================================================================
 * SentencePiece: merge the best-scoring adjacent pair of pieces, repeatedly
 * ====================================================================================== */

struct spm_bigram {
    float score;
    int32_t left, right;
    uint32_t size;
    int32_t id;         /* the token the pair makes */
};

/* a before b: higher score first, then the leftmost */
static bool spm_before(const struct spm_bigram *a, const struct spm_bigram *b)
{
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

struct spm_state {
    const struct tokenizer *t;
    const char *s;
    bool reference;     /* look texts up in by_text, as the plain algorithm does */
    uint32_t *start, *len;      /* (cap) each symbol's bytes in s; len 0: merged away */
    int32_t *prev, *next;       /* (cap) the live symbols as a list, -1 at the ends */
    int32_t *id;                /* (cap) a merged symbol's token; -1: not looked up yet */
    size_t cap;
    struct spm_bigram *heap;
    size_t heap_n, heap_cap;
    struct wcache cache;
};

static int spm_push(struct spm_state *st, struct spm_bigram b)
{
    if (st->heap_n == st->heap_cap) {
        struct spm_bigram *h = grow(st->heap, &st->heap_cap, st->heap_n + 1, sizeof *h);
        if (!h)
            return -ENOMEM;
        st->heap = h;
    }
    size_t i = st->heap_n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!spm_before(&b, &st->heap[parent]))
            break;
        st->heap[i] = st->heap[parent];
        i = parent;
    }
    st->heap[i] = b;
    return 0;
}

static struct spm_bigram spm_pop(struct spm_state *st)
{
    struct spm_bigram top = st->heap[0];
    struct spm_bigram last = st->heap[--st->heap_n];
    size_t i = 0, n = st->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && spm_before(&st->heap[c + 1], &st->heap[c]))
            c++;
        if (!spm_before(&st->heap[c], &last))
            break;
        st->heap[i] = st->heap[c];
        i = c;
    }
    if (n)
        st->heap[i] = last;
    return top;
}

/* The token whose text is s[0..n), or -1; *score set to its score. */
static int32_t spm_lookup(const struct spm_state *st, const char *s, size_t n, float *score)
{
    if (st->reference) {
        int32_t id = strmap_get(&st->t->by_text, s, n);
        if (id >= 0)
            *score = st->t->tok[id].score;
        return id;
    }
    const struct spm_slot *e = spm_find(st->t, (const uint8_t *)s, n);
    if (!e)
        return -1;
    *score = e->score;
    return e->id;
}

static int spm_try_pair(struct spm_state *st, int32_t l, int32_t r)
{
    if (l < 0 || r < 0)
        return 0;
    uint32_t size = st->len[l] + st->len[r];
    float score;
    int32_t id = spm_lookup(st, st->s + st->start[l], size, &score);
    if (id < 0)
        return 0;
    return spm_push(st, (struct spm_bigram){.score = score, .left = l, .right = r, .size = size,
                                            .id = id});
}

/* Tokenize s (spaces already escaped to U+2581) and append to out. */
static int spm_encode(const struct tokenizer *t, const char *s, size_t n, struct ivec *out,
                      struct spm_state *st)
{
    st->t = t;
    st->s = s;
    st->heap_n = 0;
    if (n == 0)
        return 0;
    if (n > (size_t)INT32_MAX) {
        set_error("text too long");
        return -EINVAL;
    }
    if (n > st->cap) {
        size_t c = HY_MAX(n, 64);
        free(st->start);
        free(st->len);
        free(st->prev);
        free(st->next);
        free(st->id);
        st->start = malloc(c * sizeof *st->start);
        st->len = malloc(c * sizeof *st->len);
        st->prev = malloc(c * sizeof *st->prev);
        st->next = malloc(c * sizeof *st->next);
        st->id = malloc(c * sizeof *st->id);
        st->cap = c;
        if (!st->start || !st->len || !st->prev || !st->next || !st->id) {
            st->cap = 0;
            return -ENOMEM;
        }
    }
    /* one symbol per character (by its first byte's length, clipped at the end) */
    int32_t ns = 0;
    for (size_t off = 0; off < n; ns++) {
        size_t l = HY_MIN(utf8_len_lead((uint8_t)s[off]), n - off);
        st->start[ns] = (uint32_t)off;
        st->len[ns] = (uint32_t)l;
        st->id[ns] = -1;
        st->prev[ns] = ns - 1;
        off += l;
        st->next[ns] = off == n ? -1 : ns + 1;
    }
    for (int32_t i = 1; i < ns; i++)
        if (spm_try_pair(st, i - 1, i))
            return -ENOMEM;
    while (st->heap_n) {
        struct spm_bigram b = spm_pop(st);
        int32_t l = b.left, r = b.right;
        if (st->len[l] == 0 || st->len[r] == 0 || st->len[l] + st->len[r] != b.size)
            continue;   /* one side was merged since */
        st->len[l] += st->len[r];
        st->len[r] = 0;
        st->id[l] = b.id;
        st->next[l] = st->next[r];
        if (st->next[r] >= 0)
            st->prev[st->next[r]] = l;
        if (spm_try_pair(st, st->prev[l], l) || spm_try_pair(st, l, st->next[l]))
            return -ENOMEM;
    }
    for (int32_t i = 0; i >= 0; i = st->next[i]) {
        float score;
        int32_t id = st->id[i] >= 0 ? st->id[i] : spm_lookup(st, s + st->start[i], st->len[i], &score);
        if (id >= 0) {
            if (ivec_push(out, id))
                return -ENOMEM;
            continue;
        }
        /* not in the vocabulary: its bytes, as byte tokens */
        for (uint32_t k = 0; k < st->len[i]; k++) {
            int32_t b = t->spm_byte_tok[(uint8_t)s[st->start[i] + k]];
            if (b < 0)
                b = t->unk;   /* llama.cpp would throw here; a vocabulary without byte tokens */
            if (b >= 0 && ivec_push(out, b))
                return -ENOMEM;
        }
    }
    return 0;
}

static void spm_state_free(struct spm_state *st)
{
    free(st->start);
    free(st->len);
    free(st->prev);
    free(st->next);
    free(st->id);
    free(st->heap);
    wcache_free(&st->cache);
}

/* Is p (> 0, where a character starts) a place to cut s[0..n) (see tok_internal.h)? */
static inline bool spm_can_cut(const struct tokenizer *t, const uint8_t *s, size_t p, size_t n)
{
    uint8_t x = s[p - 1], y = s[p];
    if (!(t->spm_glue[x][y >> 6] >> (y & 63) & 1))
        return true;
    return y == 0xe2 && n - p >= 3 && s[p + 1] == 0x96 && s[p + 2] == 0x81 &&
           !t->spm_glue_space[x];
}

/* spm_encode of s[off..off+n) through the word cache. */
static int spm_piece_cached(const struct tokenizer *t, const uint8_t *s, size_t off, size_t n,
                            struct ivec *out, struct spm_state *st)
{
    struct wcache_probe pr;
    int hit = wcache_get(&st->cache, s + off, n, out, &pr);
    if (hit)
        return hit < 0 ? hit : 0;
    size_t before = out->n;
    int rc = spm_encode(t, (const char *)s + off, n, out, st);
    if (!rc)
        wcache_put(&st->cache, &pr, s + off, n, out, before);
    return rc;
}

/* spm_encode of s[0..n), the same ids faster: the text is cut where no merge can cross, at
 * character starts (as spm_encode splits characters), and the pieces are tokenized apart,
 * repeated ones from the cache. Mostly a cut falls before each word's U+2581. */
static int spm_encode_cut(const struct tokenizer *t, const uint8_t *s, size_t n,
                          struct ivec *out, struct spm_state *st)
{
    wcache_begin(&st->cache);
    size_t ini = 0;
    for (size_t p = 0; p < n;) {
        if (p > ini && spm_can_cut(t, s, p, n)) {
            int rc = spm_piece_cached(t, s, ini, p - ini, out, st);
            if (rc)
                return rc;
            ini = p;
        }
        /* (ASCII apart: a predicted branch does not wait for the byte, the table would) */
        p += s[p] < 0x80 ? 1 : utf8_len_lead(s[p]);
    }
    return n > ini ? spm_piece_cached(t, s, ini, n - ini, out, st) : 0;
}

/* ======================================================================================
 * Byte-level BPE: merge the lowest-ranked adjacent pair of symbols, repeatedly
 * ====================================================================================== */

struct bpe_ent {
    uint64_t key;                /* rank << 32 | left position: the smallest pops first */
    int32_t left_sym, right_sym; /* the pair it was made for (still valid if unchanged) */
    int32_t merged;
};

struct bpe_state {
    int32_t *sym, *prev, *next;
    size_t cap;
    struct bpe_ent *heap;
    size_t heap_n, heap_cap;
    char *mapped;
    size_t mapped_cap;
    struct pretok_words words;
    struct wcache cache;
};

static void bpe_state_free(struct bpe_state *st)
{
    free(st->sym);
    free(st->prev);
    free(st->next);
    free(st->heap);
    free(st->mapped);
    pretok_words_free(&st->words);
    wcache_free(&st->cache);
}

static int bpe_push(struct bpe_state *st, struct bpe_ent e)
{
    if (st->heap_n == st->heap_cap) {
        struct bpe_ent *h = grow(st->heap, &st->heap_cap, st->heap_n + 1, sizeof *h);
        if (!h)
            return -ENOMEM;
        st->heap = h;
    }
    size_t i = st->heap_n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (st->heap[parent].key <= e.key)
            break;
        st->heap[i] = st->heap[parent];
        i = parent;
    }
    st->heap[i] = e;
    return 0;
}

static struct bpe_ent bpe_pop(struct bpe_state *st)
{
    struct bpe_ent top = st->heap[0];
    struct bpe_ent last = st->heap[--st->heap_n];
    size_t i = 0, n = st->heap_n;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && st->heap[c + 1].key < st->heap[c].key)
            c++;
        if (st->heap[c].key >= last.key)
            break;
        st->heap[i] = st->heap[c];
        i = c;
    }
    if (n)
        st->heap[i] = last;
    return top;
}

static int bpe_try_pair(const struct tokenizer *t, struct bpe_state *st, int32_t l)
{
    if (l < 0)
        return 0;
    int32_t r = st->next[l];
    if (r < 0)
        return 0;
    int64_t slot = bpe_pair_find(&t->pairs, st->sym[l], st->sym[r]);
    if (slot < 0)
        return 0;
    return bpe_push(st, (struct bpe_ent){
                            .key = (uint64_t)(uint32_t)t->pairs.rank[slot] << 32 | (uint32_t)l,
                            .left_sym = st->sym[l],
                            .right_sym = st->sym[r],
                            .merged = t->pairs.merged[slot],
                        });
}

/* Emit a final symbol: its token, or (a string merges made that is no token) its bytes'
 * single-byte tokens where those exist, as llama.cpp does. */
static int bpe_emit(const struct tokenizer *t, int32_t sym, struct ivec *out)
{
    if (sym < t->n_vocab)
        return ivec_push(out, sym);
    const char *s = t->extra[sym - t->n_vocab];
    uint32_t n = t->extra_len[sym - t->n_vocab];
    for (uint32_t i = 0; i < n; i++) {
        int32_t id = strmap_get(&t->by_text, s + i, 1);
        if (id >= 0 && ivec_push(out, id))
            return -ENOMEM;
    }
    return 0;
}

/* BPE of one word (raw bytes w[0..n)), appended to out. */
static int bpe_word(const struct tokenizer *t, struct bpe_state *st, const uint8_t *w, size_t n,
                    struct ivec *out)
{
    if (t->ignore_merges) {   /* the whole word, if the vocabulary has it */
        size_t need = n * 2;
        if (need > st->mapped_cap) {
            char *m = grow(st->mapped, &st->mapped_cap, need, 1);
            if (!m)
                return -ENOMEM;
            st->mapped = m;
        }
        size_t ml = 0;
        for (size_t i = 0; i < n; i++) {
            memcpy(st->mapped + ml, t->byte_map[w[i]], t->byte_map_len[w[i]]);
            ml += t->byte_map_len[w[i]];
        }
        int32_t id = strmap_get(&t->by_text, st->mapped, ml);
        if (id >= 0)
            return ivec_push(out, id);
    }
    if (n == 1)
        return bpe_emit(t, t->byte_sym[w[0]], out);
    if (n > st->cap) {
        size_t c = HY_MAX(n, 64);
        free(st->sym);
        free(st->prev);
        free(st->next);
        st->sym = malloc(c * sizeof *st->sym);
        st->prev = malloc(c * sizeof *st->prev);
        st->next = malloc(c * sizeof *st->next);
        st->cap = c;
        if (!st->sym || !st->prev || !st->next) {
            st->cap = 0;
            return -ENOMEM;
        }
    }
    for (size_t i = 0; i < n; i++) {
        st->sym[i] = t->byte_sym[w[i]];
        st->prev[i] = (int32_t)i - 1;
        st->next[i] = i + 1 == n ? -1 : (int32_t)i + 1;
    }
    st->heap_n = 0;
    for (size_t i = 0; i + 1 < n; i++)
        if (bpe_try_pair(t, st, (int32_t)i))
            return -ENOMEM;
    while (st->heap_n) {
        struct bpe_ent e = bpe_pop(st);
        int32_t l = (int32_t)(uint32_t)e.key;
        int32_t r = st->next[l];
        /* stale: the left symbol was absorbed, or either side changed since the push */
        if (st->sym[l] != e.left_sym || r < 0 || st->sym[r] != e.right_sym)
            continue;
        st->sym[l] = e.merged;
        st->sym[r] = -1;
        st->next[l] = st->next[r];
        if (st->next[r] >= 0)
            st->prev[st->next[r]] = l;
        if (bpe_try_pair(t, st, st->prev[l]) || bpe_try_pair(t, st, l))
            return -ENOMEM;
    }
    for (int32_t i = 0; i >= 0; i = st->next[i])
        if (bpe_emit(t, st->sym[i], out))
            return -ENOMEM;
    return 0;
}

/* bpe_word of text[off..off+n) through the word cache. */
static int bpe_word_cached(const struct tokenizer *t, struct bpe_state *st, const uint8_t *text,
                           size_t off, size_t n, struct ivec *out)
{
    struct wcache_probe pr;
    int hit = wcache_get(&st->cache, text + off, n, out, &pr);
    if (hit)
        return hit < 0 ? hit : 0;
    size_t before = out->n;
    int rc = bpe_word(t, st, text + off, n, out);
    if (!rc)
        wcache_put(&st->cache, &pr, text + off, n, out, before);
    return rc;
}

/* llama.cpp decodes the text to code points, turning each malformed byte into U+FFFD, and
 * rebuilds the words from the code points: do the same when (and only when) that changes the
 * bytes. *clean is set to a malloc'ed copy, or NULL when the text is fine as it is. */
static int sanitize_utf8(const uint8_t *s, size_t n, uint8_t **clean, size_t *clean_n)
{
    *clean = NULL;
    size_t i = 0;
    for (; i < n; i++) {
        if (s[i] < 0x80)
            continue;
        size_t adv;
        uint32_t c = utf8_decode(s + i, n - i, &adv);
        uint8_t enc[4];
        if (c == UINT32_MAX || utf8_encode(c, enc) != adv || memcmp(enc, s + i, adv))
            break;
        i += adv - 1;
    }
    if (i == n)
        return 0;
    if (n > SIZE_MAX / 3)
        return -ENOMEM;
    uint8_t *o = malloc(n * 3);
    if (!o)
        return -ENOMEM;
    size_t m = 0;
    for (i = 0; i < n;) {
        size_t adv;
        uint32_t c = s[i] < 0x80 ? s[i] : utf8_decode(s + i, n - i, &adv);
        if (s[i] < 0x80)
            adv = 1;
        if (c == UINT32_MAX || c >= UCD_MAX_CPT)
            c = UTF8_REPLACEMENT;   /* (llama.cpp throws for > U+10FFFF: replaced here) */
        m += utf8_encode(c, o + m);
        i += adv;
    }
    *clean = o;
    *clean_n = m;
    return 0;
}

static int bpe_encode(const struct tokenizer *t, const uint8_t *s, size_t n, struct ivec *out,
                      struct bpe_state *st)
{
    uint8_t *clean;
    size_t cn;
    if (sanitize_utf8(s, n, &clean, &cn))
        return -ENOMEM;
    if (clean) {
        s = clean;
        n = cn;
    }
    int rc = 0;
    if (n > UINT32_MAX) {
        set_error("text too long");
        rc = -EINVAL;
        goto out;
    }
    if ((rc = pretok_split(t->pre, s, n, &st->words)))
        goto out;
    wcache_begin(&st->cache);
    size_t ini = 0;
    for (size_t i = 0; i < st->words.n && !rc; i++) {
        size_t end = st->words.end[i];
        rc = bpe_word_cached(t, st, s, ini, end - ini, out);
        ini = end;
    }
out:
    free(clean);
    return rc;
}

/* ======================================================================================
 * Entry points
 * ====================================================================================== */

static int escape_spaces(const uint8_t *s, size_t n, bool prefix, char **buf, size_t *cap, size_t *len)
{
    size_t need = (n + 1) * 3;
    if (need > *cap) {
        char *b = grow(*buf, cap, need, 1);
        if (!b)
            return -ENOMEM;
        *buf = b;
    }
    size_t m = 0;
    if (prefix) {
        memcpy(*buf, "\xe2\x96\x81", 3);
        m = 3;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ') {
            memcpy(*buf + m, "\xe2\x96\x81", 3);
            m += 3;
        } else {
            (*buf)[m++] = (char)s[i];
        }
    }
    *len = m;
    return 0;
}

int tokenizer_encode_ex(const struct tokenizer *t, const char *text, size_t len,
                        const struct tok_encode_params *p, int32_t *out, int n_max)
{
    if (!t || (!text && len) || !p || (n_max > 0 && !out) || n_max < 0 || p->n_plain < 0 ||
        (p->n_plain > 0 && !p->plain)) {
        set_error("invalid arguments");
        return -EINVAL;
    }
    if (len > (size_t)INT32_MAX) {
        set_error("text of %zu bytes is too long to tokenize", len);
        return -EINVAL;
    }
    const uint8_t *s = (const uint8_t *)text;
    struct frags f = {0};
    struct ivec ids = {0};
    struct spm_state spm = {.reference = p->reference};
    struct bpe_state bpe = {0};
    char *esc = NULL;
    size_t esc_cap = 0;
    int rc = partition(t, s, len, p, &f);
    if (rc)
        goto done;
    if (!p->reference)
        wcache_init(t->model == TOK_MODEL_BPE ? &bpe.cache : &spm.cache, len);
    if (p->add_special && t->add_bos && t->bos >= 0 && (rc = ivec_push(&ids, t->bos)))
        goto done;
    bool prev_special = true;   /* SPM: a space before the first text, and after each special */
    for (int32_t fi = f.head; fi >= 0 && !rc; fi = f.v[fi].next) {
        const struct frag *fr = &f.v[fi];
        if (fr->tok >= 0) {
            rc = ivec_push(&ids, fr->tok);
            prev_special = true;
            continue;
        }
        if (t->model == TOK_MODEL_SPM) {
            size_t el;
            rc = escape_spaces(s + fr->off, fr->len, t->add_space_prefix && prev_special, &esc,
                               &esc_cap, &el);
            if (!rc)
                rc = p->reference ? spm_encode(t, esc, el, &ids, &spm)
                                  : spm_encode_cut(t, (const uint8_t *)esc, el, &ids, &spm);
            prev_special = false;
        } else {
            rc = bpe_encode(t, s + fr->off, fr->len, &ids, &bpe);
        }
    }
    if (!rc && p->add_special && t->add_eos && t->eos >= 0)
        rc = ivec_push(&ids, t->eos);
    if (!rc && ids.n > (size_t)INT_MAX) {
        set_error("too many tokens");
        rc = -EINVAL;
    }
    if (!rc) {
        if (n_max > 0 && ids.n)
            memcpy(out, ids.v, HY_MIN(ids.n, (size_t)n_max) * sizeof *out);
        rc = (int)ids.n;
    } else if (rc == -ENOMEM) {
        set_error("out of memory while tokenizing");
    }
done:
    free(f.v);
    free(ids.v);
    free(esc);
    spm_state_free(&spm);
    bpe_state_free(&bpe);
    return rc;
}

int tokenizer_encode(const struct tokenizer *t, const char *text, size_t len, bool add_special,
                     bool parse_special, int32_t *out, int n_max)
{
    struct tok_encode_params p = tok_encode_default_params();
    p.add_special = add_special;
    p.parse_special = parse_special;
    return tokenizer_encode_ex(t, text, len, &p, out, n_max);
}

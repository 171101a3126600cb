/* Building a tokenizer from GGUF metadata (tokenizer.ggml.*), and its simple accessors.
 *
 * Every array from the file is checked (type, length) before use. Where llama.cpp derives
 * facts from token texts (end-of-generation tokens, FIM tokens, "unused" control tokens, the
 * Phi-3 strip flags) this does the same, in the same order, because the ids it reports and
 * the way special tokens are matched depend on them.
 *
 * Not owned here: encoding (encode.c), decoding (decode.c). */
#include "gguf/gguf.h"
#include "tokenizer/tok_internal.h"
#include "tokenizer/unicode.h"
#include "util/common.h"
#include "util/log.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* GGUF token types (llama_token_type). */
enum { TYPE_UNDEFINED, TYPE_NORMAL, TYPE_UNKNOWN, TYPE_CONTROL, TYPE_USER_DEFINED, TYPE_UNUSED, TYPE_BYTE };

struct buf {
    char *p;
    size_t n, cap;
};

static int buf_put(struct buf *b, const void *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->n + n + 1)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return -ENOMEM;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
    return 0;
}

int32_t tokenizer_find(const struct tokenizer *t, const char *text, size_t len)
{
    return strmap_get(&t->by_text, text, len);
}

static int32_t find_str(const struct tokenizer *t, const char *s)
{
    return tokenizer_find(t, s, strlen(s));
}

/* ---- reading metadata ---- */

/* An array of strings under key: its index and length, -ENOENT if absent, -EINVAL if not an
 * array of strings. */
static int str_array(const struct gguf *g, const char *key, int64_t *idx, uint64_t *n)
{
    *idx = gguf_find_key(g, key);
    if (*idx < 0)
        return -ENOENT;
    enum gguf_vtype et;
    if (gguf_kv_arr(g, *idx, &et, n) != 0 || et != GGUF_STR) {
        set_error("%s is not an array of strings", key);
        return -EINVAL;
    }
    return 0;
}

/* A numeric array of at least n_min elements of one of the types accepted (etype out). */
static const void *num_array(const struct gguf *g, const char *key, uint64_t n_min,
                             enum gguf_vtype want1, enum gguf_vtype want2, enum gguf_vtype *etype,
                             int *rc)
{
    int64_t i = gguf_find_key(g, key);
    *rc = 0;
    if (i < 0)
        return NULL;
    uint64_t n;
    if (gguf_kv_arr(g, i, etype, &n) != 0 || (*etype != want1 && *etype != want2)) {
        set_error("%s has the wrong type", key);
        *rc = -EINVAL;
        return NULL;
    }
    if (n < n_min) {
        set_error("%s has %llu entries for %llu tokens", key, (unsigned long long)n,
               (unsigned long long)n_min);
        *rc = -EINVAL;
        return NULL;
    }
    const void *d = gguf_kv_arr_data(g, i);
    if (!d && n_min) {
        set_error("%s has no data", key);
        *rc = -EINVAL;
    }
    return d;
}

static int32_t read_i32(const void *base, uint64_t i)
{
    int32_t v;
    memcpy(&v, (const char *)base + i * 4, 4);
    return v;
}

static float read_f32(const void *base, uint64_t i)
{
    float v;
    memcpy(&v, (const char *)base + i * 4, 4);
    return v;
}

static int load_tokens(struct tokenizer *t, const struct gguf *g)
{
    int64_t ki;
    uint64_t n;
    int rc = str_array(g, "tokenizer.ggml.tokens", &ki, &n);
    if (rc == -ENOENT)
        set_error("tokenizer.ggml.tokens is missing");
    if (rc)
        return -EINVAL;
    if (n == 0 || n > (uint64_t)INT32_MAX / 2) {
        set_error("tokenizer.ggml.tokens has %llu entries", (unsigned long long)n);
        return -EINVAL;
    }
    t->n_vocab = (int32_t)n;

    enum gguf_vtype st, tt;
    const void *scores = num_array(g, "tokenizer.ggml.scores", n, GGUF_F32, GGUF_I32, &st, &rc);
    if (rc)
        return rc;
    const void *types = num_array(g, "tokenizer.ggml.token_type", n, GGUF_I32, GGUF_I32, &tt, &rc);
    if (rc)
        return rc;

    t->tok = calloc(n, sizeof *t->tok);
    if (!t->tok)
        return -ENOMEM;
    struct buf text = {0};
    for (uint64_t i = 0; i < n; i++) {
        size_t len;
        const char *s = gguf_kv_arr_str(g, ki, i, &len);
        char empty[32];
        if (!s || len == 0) {   /* llama.cpp names empty tokens so they stay distinct */
            snprintf(empty, sizeof empty, "[EMPTY_%u]", (unsigned)i);
            s = empty;
            len = strlen(empty);
        }
        if (text.n + len + 1 > UINT32_MAX) {
            free(text.p);
            set_error("token texts exceed 4 GiB");
            return -EINVAL;
        }
        struct tok_entry *e = &t->tok[i];
        e->text_off = (uint32_t)text.n;
        e->text_len = (uint32_t)len;
        if (buf_put(&text, s, len) || buf_put(&text, "", 1)) {
            free(text.p);
            return -ENOMEM;
        }
        e->score = !scores ? 0.0f : st == GGUF_F32 ? read_f32(scores, i) : (float)read_i32(scores, i);
        int32_t ty = types ? read_i32(types, i) : TYPE_NORMAL;
        switch (ty) {
        case TYPE_UNKNOWN: e->attr = TOK_ATTR_UNKNOWN; break;
        case TYPE_UNUSED: e->attr = TOK_ATTR_UNUSED; break;
        case TYPE_NORMAL: e->attr = TOK_ATTR_NORMAL; break;
        case TYPE_CONTROL: e->attr = TOK_ATTR_CONTROL; break;
        case TYPE_USER_DEFINED: e->attr = TOK_ATTR_USER_DEFINED; break;
        case TYPE_BYTE: e->attr = TOK_ATTR_BYTE; break;
        default: e->attr = 0; break;   /* undefined */
        }
    }
    t->text = text.p;
    /* Insert from the last id down: the first insertion of a text keeps its slot, so when a
     * text repeats, the highest id is the one found (llama.cpp's map assignment order). */
    if (strmap_init(&t->by_text, n))
        return -ENOMEM;
    for (int32_t i = t->n_vocab - 1; i >= 0; i--) {
        rc = strmap_put(&t->by_text, tok_text(t, i), t->tok[i].text_len, i);
        if (rc && rc != -EEXIST)
            return rc;
    }
    return 0;
}

/* ---- byte-level BPE symbols and merges ---- */

/* The symbol id of a string: its token id, or an extra id for a string only merges know. */
static int intern(struct tokenizer *t, const char *s, size_t len, int32_t *id)
{
    int32_t v = strmap_get(&t->by_text, s, len);
    if (v < 0)
        v = strmap_get(&t->extra_map, s, len);
    if (v >= 0) {
        *id = v;
        return 0;
    }
    if (t->n_sym == INT32_MAX)
        return -ENOMEM;
    int32_t k = t->n_sym - t->n_vocab;
    if ((k & (k - 1)) == 0) {   /* grow at powers of two */
        size_t cap = k ? (size_t)k * 2 : 16;
        char **e = realloc(t->extra, cap * sizeof *e);
        if (!e)
            return -ENOMEM;
        t->extra = e;
        uint32_t *el = realloc(t->extra_len, cap * sizeof *el);
        if (!el)
            return -ENOMEM;
        t->extra_len = el;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, s, len);
    copy[len] = 0;
    t->extra[k] = copy;
    t->extra_len[k] = (uint32_t)len;
    t->n_sym++;
    if (strmap_put(&t->extra_map, copy, len, t->n_sym - 1))
        return -ENOMEM;
    *id = t->n_sym - 1;
    return 0;
}

static int load_merges(struct tokenizer *t, const struct gguf *g)
{
    int64_t ki;
    uint64_t n;
    int rc = str_array(g, "tokenizer.ggml.merges", &ki, &n);
    if (rc == -ENOENT)
        set_error("tokenizer.ggml.merges is missing");
    if (rc)
        return -EINVAL;
    if (n > (uint64_t)INT32_MAX / 4) {
        set_error("tokenizer.ggml.merges has %llu entries", (unsigned long long)n);
        return -EINVAL;
    }
    t->n_sym = t->n_vocab;
    if (strmap_init(&t->extra_map, 16))
        return -ENOMEM;
    size_t cap = 16;
    while (cap < n * 2 + 2)
        cap *= 2;
    struct bpe_pairs *p = &t->pairs;
    p->key = malloc(cap * sizeof *p->key);
    p->rank = malloc(cap * sizeof *p->rank);
    p->merged = malloc(cap * sizeof *p->merged);
    if (!p->key || !p->rank || !p->merged)
        return -ENOMEM;
    memset(p->key, 0xff, cap * sizeof *p->key);
    p->cap = cap;

    char *joined = NULL;
    size_t joined_cap = 0;
    for (uint64_t i = 0; i < n; i++) {
        size_t len;
        const char *s = gguf_kv_arr_str(g, ki, i, &len);
        /* "left right", split at the first space after the first byte */
        const char *sp = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
        if (!sp)
            continue;   /* llama.cpp records an empty pair, which can never apply */
        size_t la = (size_t)(sp - s), lb = len - la - 1;
        int32_t a, b, ab;
        if (la + lb > joined_cap) {
            joined_cap = (la + lb) * 2;
            char *j = realloc(joined, joined_cap);
            if (!j) {
                free(joined);
                return -ENOMEM;
            }
            joined = j;
        }
        memcpy(joined, s, la);
        memcpy(joined + la, sp + 1, lb);
        if (intern(t, s, la, &a) || intern(t, sp + 1, lb, &b) || intern(t, joined, la + lb, &ab)) {
            free(joined);
            return -ENOMEM;
        }
        uint64_t k = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
        uint64_t h = k * 0x9E3779B97F4A7C15ull;
        size_t slot = (size_t)(h >> 32) & (cap - 1);
        while (p->key[slot] != BPE_PAIR_EMPTY && p->key[slot] != k)
            slot = (slot + 1) & (cap - 1);
        if (p->key[slot] == k)
            continue;   /* a repeated pair keeps its first (best) rank */
        p->key[slot] = k;
        p->rank[slot] = (int32_t)i;
        p->merged[slot] = ab;
        p->n++;
    }
    free(joined);
    /* the first symbols of a word: each byte's character */
    for (int b = 0; b < 256; b++) {
        uint8_t u[4];
        size_t ul = utf8_encode(bpe_byte_to_cpt((uint8_t)b), u);
        memcpy(t->byte_map[b], u, ul);
        t->byte_map_len[b] = (uint8_t)ul;
        if (intern(t, (const char *)u, ul, &t->byte_sym[b]))
            return -ENOMEM;
    }
    return 0;
}

/* ---- special ids and the facts llama.cpp derives from token texts ---- */

static void read_special_id(struct tokenizer *t, const struct gguf *g, const char *key, int32_t *id)
{
    if (*id >= t->n_vocab)
        *id = -1;   /* a default that this vocabulary is too small for */
    uint32_t v;
    if (gguf_get_u32(g, key, &v) != 0)
        return;
    if (v >= (uint32_t)t->n_vocab) {
        LOG_DEBUG("tokenizer: %s = %u is out of range, keeping %d", key, v, *id);
        return;
    }
    *id = (int32_t)v;
}

static bool text_in(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(s, *list))
            return true;
    return false;
}

static void force_control(struct tokenizer *t, int32_t id)
{
    if (!(t->tok[id].attr & TOK_ATTR_CONTROL)) {
        LOG_DEBUG("tokenizer: token %d '%s' marked control", id, tok_text(t, id));
        t->tok[id].attr |= TOK_ATTR_CONTROL;
    }
}

static void derive_from_texts(struct tokenizer *t)
{
    static const char *const k_eot[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>",
        "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]",
        "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>", "<end_of_utterance>", NULL};
    static const char *const k_eom[] = {"<|eom_id|>", NULL};
    static const char *const k_fim_pre[] = {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>",
        "<\xef\xbd\x9c" "fim\xe2\x96\x81" "begin\xef\xbd\x9c>", "<PRE>", "\xe2\x96\x81<PRE>",
        "<|code_prefix|>", "<|prefix|>", NULL};
    static const char *const k_fim_suf[] = {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>",
        "<\xef\xbd\x9c" "fim\xe2\x96\x81hole\xef\xbd\x9c>", "<SUF>", "\xe2\x96\x81<SUF>",
        "<|code_suffix|>", "<|suffix|>", NULL};
    static const char *const k_fim_mid[] = {"<|fim_middle|>", "<fim-middle>", "<fim_middle>",
        "<\xef\xbd\x9c" "fim\xe2\x96\x81" "end\xef\xbd\x9c>", "<MID>", "\xe2\x96\x81<MID>",
        "<|code_middle|>", "<|middle|>", NULL};
    static const char *const k_fim_pad[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]", NULL};
    static const char *const k_fim_rep[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>",
        "<reponame>", NULL};
    static const char *const k_fim_sep[] = {"<|file_sep|>", NULL};
    static const char *const k_eog[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>",
        "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>", "<|endoftext|>", "</s>",
        "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>", "<end_of_utterance>",
        "<eos>", "<turn|>", "<|tool_response>",
        "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>", "[e~[", NULL};
    static const char *const k_gpt_oss[] = {"<|channel|>", "<|message|>", "<|start|>",
        "<|constrain|>", NULL};
    struct {
        int32_t *id;
        const char *const *texts;
    } detect[] = {{&t->eot, k_eot}, {&t->eom, k_eom}, {&t->fim_pre, k_fim_pre},
                  {&t->fim_suf, k_fim_suf}, {&t->fim_mid, k_fim_mid}, {&t->fim_pad, k_fim_pad},
                  {&t->fim_rep, k_fim_rep}, {&t->fim_sep, k_fim_sep}};
    const int32_t n = t->n_vocab;
#define EACH_TEXT(i) for (int32_t i = 0; i < n; i++) if (tokenizer_find(t, tok_text(t, i), t->tok[i].text_len) == i)

    /* ids the metadata did not give, found by their text. llama.cpp takes the first match in
     * its hash map's order, which is no order; here the first text of the list that the
     * vocabulary has wins (so <|eot_id|> before <|end_of_text|>). */
    for (size_t d = 0; d < sizeof detect / sizeof detect[0]; d++) {
        if (*detect[d].id >= 0)
            continue;
        for (const char *const *s = detect[d].texts; *s; s++) {
            int32_t id = find_str(t, *s);
            if (id >= 0) {
                *detect[d].id = id;
                force_control(t, id);
                break;
            }
        }
    }
    /* control tokens named "unused..." are unused */
    EACH_TEXT(i) {
        if ((t->tok[i].attr & TOK_ATTR_CONTROL) && strstr(tok_text(t, i), "unused"))
            t->tok[i].attr |= TOK_ATTR_UNUSED;
    }
    /* end-of-generation tokens */
    if (t->fim_pad >= 0)
        t->eog[t->fim_pad] = 1;
    if (t->fim_rep >= 0)
        t->eog[t->fim_rep] = 1;
    if (t->fim_sep >= 0)
        t->eog[t->fim_sep] = 1;
    EACH_TEXT(i) {
        if (text_in(tok_text(t, i), k_eog)) {
            t->eog[i] = 1;
            force_control(t, i);
        }
    }
    EACH_TEXT(i) {   /* gpt-oss: these always render */
        if (text_in(tok_text(t, i), k_gpt_oss))
            t->tok[i].attr = TOK_ATTR_USER_DEFINED;
    }
    if (t->eos >= 0)
        t->eog[t->eos] = 1;
    if (t->eot >= 0)
        t->eog[t->eot] = 1;
    if (t->eom >= 0)
        t->eog[t->eom] = 1;
#undef EACH_TEXT

    /* o200k_harmony and solar-open: "<|end|>" ends a message, not the generation */
    bool has_return = false, has_call = false, has_flush = false, has_tool_response = false;
    int32_t end_id = -1, s_id = -1;
    for (int32_t i = 0; i < n; i++) {
        if (!t->eog[i])
            continue;
        const char *s = tok_text(t, i);
        if (!strcmp(s, "<|return|>"))
            has_return = true;
        else if (!strcmp(s, "<|call|>") || !strcmp(s, "<|calls|>"))
            has_call = true;
        else if (!strcmp(s, "<|flush|>"))
            has_flush = true;
        else if (!strcmp(s, "<|end|>"))
            end_id = i;
        else if (!strcmp(s, "<|tool_response>"))
            has_tool_response = true;
        else if (!strcmp(s, "</s>"))
            s_id = i;
    }
    if (end_id >= 0 && has_call && (has_return || has_flush)) {
        t->eog[end_id] = 0;
        t->tok[end_id].attr = TOK_ATTR_USER_DEFINED;
    }
    /* gemma4 (and paddleocr): "</s>" is not an end of generation there */
    if (has_tool_response && s_id >= 0) {
        t->eog[s_id] = 0;
        t->tok[s_id].attr = TOK_ATTR_NORMAL;
    }
}

/* ---- special tokens for matching in text ---- */

/* Sort special ids by text length, longest first, ties by id (a stable merge sort: llama.cpp's
 * std::sort leaves ties in no particular order, which only matters for equal-length tokens
 * that overlap in a text). */
static int sort_special(const struct tokenizer *t, int32_t *v, int n)
{
    int32_t *tmp = malloc((size_t)n * sizeof *tmp);
    if (!tmp)
        return -ENOMEM;
    for (int width = 1; width < n; width *= 2) {
        for (int lo = 0; lo < n; lo += 2 * width) {
            int mid = HY_MIN(lo + width, n), hi = HY_MIN(lo + 2 * width, n);
            int i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                int32_t a = v[i], b = v[j];
                uint32_t la = t->tok[a].text_len, lb = t->tok[b].text_len;
                bool take_b = lb > la || (lb == la && b < a);
                tmp[k++] = take_b ? v[j++] : v[i++];
            }
            while (i < mid)
                tmp[k++] = v[i++];
            while (j < hi)
                tmp[k++] = v[j++];
        }
        memcpy(v, tmp, (size_t)n * sizeof *v);
    }
    free(tmp);
    return 0;
}

static int build_special(struct tokenizer *t)
{
    int n = 0;
    size_t chars = 0;
    for (int32_t i = 0; i < t->n_vocab; i++)
        if (t->tok[i].attr & (TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED | TOK_ATTR_UNKNOWN)) {
            n++;
            chars += t->tok[i].text_len;
        }
    t->n_special = n;
    for (int b = 0; b < 256; b++)
        t->root_child[b] = -1;
    if (!n)
        return 0;
    if (chars >= INT32_MAX) { /* trie nodes are int32 indices */
        set_error("special tokens hold %llu bytes of text: too many", (unsigned long long)chars);
        return -EINVAL;
    }
    t->special = malloc((size_t)n * sizeof *t->special);
    t->trie = malloc((chars + 1) * sizeof *t->trie);
    if (!t->special || !t->trie)
        return -ENOMEM;
    n = 0;
    for (int32_t i = 0; i < t->n_vocab; i++)
        if (t->tok[i].attr & (TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED | TOK_ATTR_UNKNOWN))
            t->special[n++] = i;
    if (sort_special(t, t->special, n))
        return -ENOMEM;

    t->trie[0] = (struct trie_node){.child = -1, .sibling = -1, .special = -1, .byte = 0};
    t->n_trie = 1;
    for (int k = 0; k < n; k++) {
        int32_t id = t->special[k];
        const uint8_t *s = (const uint8_t *)tok_text(t, id);
        uint32_t len = t->tok[id].text_len;
        if (!(t->tok[id].attr & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN)))
            t->has_user_defined = true;
        int32_t node = 0;
        for (uint32_t d = 0; d < len; d++) {
            int32_t c = node == 0 ? t->root_child[s[d]] : t->trie[node].child;
            if (node != 0)
                while (c >= 0 && t->trie[c].byte != s[d])
                    c = t->trie[c].sibling;
            if (c < 0) {
                c = t->n_trie++;
                t->trie[c] = (struct trie_node){.child = -1, .sibling = -1, .special = -1, .byte = s[d]};
                if (node == 0) {
                    t->root_child[s[d]] = c;
                } else {
                    t->trie[c].sibling = t->trie[node].child;
                    t->trie[node].child = c;
                }
            }
            node = c;
        }
        if (node != 0 && t->trie[node].special < 0)
            t->trie[node].special = k;
    }
    return 0;
}

/* ---- pieces: each token's text as output bytes (llama.cpp's token_to_piece, special on) ---- */

static int hex_byte(const char *s, uint32_t len)
{
    /* llama.cpp: strtol of the two characters after "<0x" */
    char h[3] = {0};
    if (len >= 4)
        h[0] = s[3];
    if (len >= 5)
        h[1] = s[4];
    return (int)(strtol(h, NULL, 16) & 0xff);
}

static int render_piece(const struct tokenizer *t, int32_t id, struct buf *out)
{
    const struct tok_entry *e = &t->tok[id];
    const char *s = tok_text(t, id);
    if (e->attr & (TOK_ATTR_UNKNOWN | TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED))
        return buf_put(out, s, e->text_len);
    if (e->attr & TOK_ATTR_NORMAL) {
        if (t->model == TOK_MODEL_SPM) {   /* U+2581 -> space */
            for (uint32_t i = 0; i < e->text_len;) {
                if (i + 3 <= e->text_len && !memcmp(s + i, "\xe2\x96\x81", 3)) {
                    if (buf_put(out, " ", 1))
                        return -ENOMEM;
                    i += 3;
                } else {
                    if (buf_put(out, s + i, 1))
                        return -ENOMEM;
                    i++;
                }
            }
            return 0;
        }
        /* byte-level BPE: each character stands for a byte */
        const uint8_t *u = (const uint8_t *)s;
        for (uint32_t i = 0; i < e->text_len;) {
            size_t adv;
            uint32_t c = utf8_decode(u + i, e->text_len - i, &adv);
            if (c == UINT32_MAX)
                c = UTF8_REPLACEMENT;
            int b = bpe_cpt_to_byte(c);
            if (b >= 0) {
                uint8_t ch = (uint8_t)b;
                if (buf_put(out, &ch, 1))
                    return -ENOMEM;
            } else {   /* what llama.cpp writes for a character that is no byte */
                uint8_t enc[4];
                size_t el = utf8_encode(c, enc);
                char tmp[64];
                int tl = snprintf(tmp, sizeof tmp, "[UNK_BYTE_0x");
                for (size_t j = 0; j < el; j++)
                    tl += snprintf(tmp + tl, sizeof tmp - (size_t)tl, "%02x", enc[j]);
                if (buf_put(out, tmp, (size_t)tl) || buf_put(out, s, e->text_len) || buf_put(out, "]", 1))
                    return -ENOMEM;
            }
            i += adv;
        }
        return 0;
    }
    if (e->attr & TOK_ATTR_BYTE) {
        uint8_t ch = (uint8_t)hex_byte(s, e->text_len);
        return buf_put(out, &ch, 1);
    }
    return 0;   /* unused and undefined tokens render as nothing */
}

static int build_pieces(struct tokenizer *t)
{
    struct buf out = {0};
    for (int32_t i = 0; i < t->n_vocab; i++) {
        size_t start = out.n;
        if (render_piece(t, i, &out)) {
            free(out.p);
            return -ENOMEM;
        }
        if (out.n > UINT32_MAX) {
            free(out.p);
            set_error("token pieces exceed 4 GiB");
            return -EINVAL;
        }
        t->tok[i].piece_off = (uint32_t)start;
        t->tok[i].piece_len = (uint32_t)(out.n - start);
    }
    if (!out.p && buf_put(&out, "", 0))
        return -ENOMEM;
    t->pieces = out.p;
    return 0;
}

/* Per-model strip flags (llama.cpp sets them by model, tokenizer and architecture name). */
static void set_strip_flags(struct tokenizer *t, const struct gguf *g)
{
    const char *name = gguf_get_str(g, "general.name", NULL);
    const char *arch = gguf_get_str(g, "general.architecture", NULL);
    char lower[256] = {0};
    if (name)
        for (size_t i = 0; name[i] && i + 1 < sizeof lower; i++)
            lower[i] = (char)tolower((unsigned char)name[i]);
    const char *pre = t->pre_name;
    int32_t id;
    if (strstr(pre, "jina-v2-de") || strstr(pre, "jina-v2-es") || strstr(pre, "jina-v2-code") ||
        (arch && (strstr(arch, "nomic-bert-moe") || strstr(arch, "jina-bert-v3")))) {
        if ((id = find_str(t, "<mask>")) >= 0)
            t->tok[id].attr |= TOK_ATTR_LSTRIP;
    } else if (strstr(lower, "phi-3") || strstr(lower, "phi3")) {
        for (int k = 0; k < t->n_special; k++)
            t->tok[t->special[k]].attr |= TOK_ATTR_RSTRIP;
        if ((id = find_str(t, "</s>")) >= 0)
            t->tok[id].attr |= TOK_ATTR_RSTRIP;
        static const char *const no_strip[] = {"<unk>", "<s>", "<|endoftext|>"};
        for (size_t i = 0; i < 3; i++)
            if ((id = find_str(t, no_strip[i])) >= 0)
                t->tok[id].attr &= ~(uint32_t)TOK_ATTR_RSTRIP;
    } else if (strstr(lower, "modern-bert")) {
        if ((id = find_str(t, "[MASK]")) >= 0)
            t->tok[id].attr |= TOK_ATTR_LSTRIP;
    }
}

/* ---- load ---- */

/* spm_index: each distinct token text once, with by_text's id (see spm_find). */
static int build_spm_index(struct tokenizer *t)
{
    size_t cap = 16;
    while (cap < (size_t)t->n_vocab * 2)
        cap *= 2;
    t->spm_index = calloc(cap, sizeof *t->spm_index);
    if (!t->spm_index)
        return -ENOMEM;
    t->spm_cap = cap;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        const struct tok_entry *e = &t->tok[id];
        const char *s = tok_text(t, id);
        if (strmap_get(&t->by_text, s, e->text_len) != id)
            continue;   /* a repeated text: by_text keeps another id */
        uint64_t h = tok_hash((const uint8_t *)s, e->text_len);
        size_t i = (size_t)(h >> 7) & (cap - 1);
        while (t->spm_index[i].tag)
            i = (i + 1) & (cap - 1);
        t->spm_index[i] = (struct spm_slot){.tag = (uint32_t)(h >> 32) | 1, .id = id,
                                            .score = e->score, .text_off = e->text_off,
                                            .text_len = e->text_len};
    }
    return 0;
}

/* Where SentencePiece may cut the text (see tok_internal.h): every adjacent byte pair inside a
 * token text, and every byte that some token text has right before U+2581. All tokens count,
 * whatever their type, since llama.cpp's merges look texts up among all of them. */
static void build_spm_glue(struct tokenizer *t)
{
    memset(t->spm_glue, 0, sizeof t->spm_glue);
    memset(t->spm_glue_space, 0, sizeof t->spm_glue_space);
    for (int32_t i = 0; i < t->n_vocab; i++) {
        const uint8_t *s = (const uint8_t *)tok_text(t, i);
        uint32_t n = t->tok[i].text_len;
        for (uint32_t k = 0; k + 1 < n; k++) {
            t->spm_glue[s[k]][s[k + 1] >> 6] |= 1ull << (s[k + 1] & 63);
            if (k + 4 <= n && !memcmp(s + k + 1, "\xe2\x96\x81", 3))
                t->spm_glue_space[s[k]] = true;
        }
    }
}

int tokenizer_load(struct tokenizer **out, const struct gguf *g)
{
    *out = NULL;
    const char *model = gguf_get_str(g, "tokenizer.ggml.model", NULL);
    if (!model) {
        set_error("tokenizer.ggml.model is missing");
        return -EINVAL;
    }
    struct tokenizer *t = calloc(1, sizeof *t);
    if (!t)
        return -ENOMEM;
    int rc = -EINVAL;
    const char *pre = gguf_get_str(g, "tokenizer.ggml.pre", NULL);
    t->pre_name = strdup(pre ? pre : "");
    if (!t->pre_name) {
        rc = -ENOMEM;
        goto fail;
    }
    t->eot = t->eom = t->sep = t->pad = t->mask = -1;
    t->fim_pre = t->fim_suf = t->fim_mid = t->fim_pad = t->fim_rep = t->fim_sep = -1;
    if (!strcmp(model, "llama")) {
        t->model = TOK_MODEL_SPM;
        t->bos = 1;
        t->eos = 2;
        t->unk = 0;
        t->add_space_prefix = true;
        t->add_bos = true;
    } else if (!strcmp(model, "gpt2")) {
        t->model = TOK_MODEL_BPE;
        t->bos = 11;   /* llama.cpp's defaults */
        t->eos = 11;
        t->unk = -1;
        int ignore;
        if (pretok_from_name(pre, &t->pre, &ignore)) {
            set_error("pre-tokenizer '%s' is not supported", pre);
            goto fail;
        }
        if (!pre || !*pre)
            LOG_WARN("tokenizer: no pre-tokenizer type in the file, using 'default' (output quality may suffer)");
        t->ignore_merges = ignore;
        t->add_bos = ignore;   /* the Llama 3 family adds BOS unless the file says otherwise */
        if (pre && (!strcmp(pre, "glm4") || !strcmp(pre, "chatglm-bpe")))
            t->bos = -1;
    } else {
        set_error("tokenizer model '%s' is not supported (llama, gpt2 are)", model);
        goto fail;
    }
    bool flag;
    if (gguf_get_bool(g, "tokenizer.ggml.add_space_prefix", &flag) == 0)
        t->add_space_prefix = flag;

    if ((rc = load_tokens(t, g)))
        goto fail;
    if (t->model == TOK_MODEL_BPE && (rc = load_merges(t, g)))
        goto fail;

    static const struct {
        const char *key;
        size_t off;
    } k_ids[] = {
        {"tokenizer.ggml.bos_token_id", offsetof(struct tokenizer, bos)},
        {"tokenizer.ggml.eos_token_id", offsetof(struct tokenizer, eos)},
        {"tokenizer.ggml.eot_token_id", offsetof(struct tokenizer, eot)},
        {"tokenizer.ggml.eom_token_id", offsetof(struct tokenizer, eom)},
        {"tokenizer.ggml.unknown_token_id", offsetof(struct tokenizer, unk)},
        {"tokenizer.ggml.seperator_token_id", offsetof(struct tokenizer, sep)},
        {"tokenizer.ggml.padding_token_id", offsetof(struct tokenizer, pad)},
        {"tokenizer.ggml.mask_token_id", offsetof(struct tokenizer, mask)},
        {"tokenizer.ggml.fim_pre_token_id", offsetof(struct tokenizer, fim_pre)},
        {"tokenizer.ggml.fim_suf_token_id", offsetof(struct tokenizer, fim_suf)},
        {"tokenizer.ggml.fim_mid_token_id", offsetof(struct tokenizer, fim_mid)},
        {"tokenizer.ggml.fim_pad_token_id", offsetof(struct tokenizer, fim_pad)},
        {"tokenizer.ggml.fim_rep_token_id", offsetof(struct tokenizer, fim_rep)},
        {"tokenizer.ggml.fim_sep_token_id", offsetof(struct tokenizer, fim_sep)},
        {"tokenizer.ggml.prefix_token_id", offsetof(struct tokenizer, fim_pre)},
        {"tokenizer.ggml.suffix_token_id", offsetof(struct tokenizer, fim_suf)},
        {"tokenizer.ggml.middle_token_id", offsetof(struct tokenizer, fim_mid)},
    };
    for (size_t i = 0; i < sizeof k_ids / sizeof k_ids[0]; i++)
        read_special_id(t, g, k_ids[i].key, (int32_t *)((char *)t + k_ids[i].off));
    if (gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &flag) == 0)
        t->add_bos = flag;
    if (gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &flag) == 0)
        t->add_eos = flag;

    t->eog = calloc((size_t)t->n_vocab, 1);
    if (!t->eog) {
        rc = -ENOMEM;
        goto fail;
    }
    derive_from_texts(t);
    if ((rc = build_special(t)) || (rc = build_pieces(t)))
        goto fail;
    set_strip_flags(t, g);

    build_spm_glue(t);
    if (t->model == TOK_MODEL_SPM && (rc = build_spm_index(t)))
        goto fail;
    for (int b = 0; b < 256; b++) {
        char hex[8];
        snprintf(hex, sizeof hex, "<0x%02X>", b);
        int32_t id = find_str(t, hex);
        if (id < 0) {
            char one = (char)b;
            id = tokenizer_find(t, &one, 1);
        }
        t->spm_byte_tok[b] = id;
    }

    size_t tl;
    const char *tmpl = gguf_get_str(g, "tokenizer.chat_template", &tl);
    if (tmpl) {
        t->chat_template = malloc(tl + 1);
        if (!t->chat_template) {
            rc = -ENOMEM;
            goto fail;
        }
        memcpy(t->chat_template, tmpl, tl);
        t->chat_template[tl] = 0;
    }
    *out = t;
    return 0;
fail:
    if (rc == -ENOMEM)
        set_error("out of memory loading the tokenizer");
    tokenizer_free(t);
    return rc;
}

void tokenizer_free(struct tokenizer *t)
{
    if (!t)
        return;
    free(t->pre_name);
    free(t->tok);
    free(t->text);
    free(t->pieces);
    strmap_free(&t->by_text);
    free(t->spm_index);
    free(t->pairs.key);
    free(t->pairs.rank);
    free(t->pairs.merged);
    for (int32_t k = 0; k < t->n_sym - t->n_vocab; k++)
        free(t->extra[k]);
    free(t->extra);
    free(t->extra_len);
    if (t->extra_map.cap)
        strmap_free(&t->extra_map);
    free(t->special);
    free(t->trie);
    free(t->eog);
    free(t->chat_template);
    free(t);
}

/* ---- accessors ---- */

enum tok_model tokenizer_model(const struct tokenizer *t) { return t->model; }
const char *tokenizer_pre_name(const struct tokenizer *t) { return t->pre_name; }
int32_t tokenizer_n_vocab(const struct tokenizer *t) { return t->n_vocab; }
int32_t tokenizer_bos(const struct tokenizer *t) { return t->bos; }
int32_t tokenizer_eos(const struct tokenizer *t) { return t->eos; }
int32_t tokenizer_eot(const struct tokenizer *t) { return t->eot; }
int32_t tokenizer_eom(const struct tokenizer *t) { return t->eom; }
int32_t tokenizer_pad(const struct tokenizer *t) { return t->pad; }
int32_t tokenizer_unk(const struct tokenizer *t) { return t->unk; }
bool tokenizer_add_bos(const struct tokenizer *t) { return t->add_bos; }
bool tokenizer_add_eos(const struct tokenizer *t) { return t->add_eos; }
const char *tokenizer_chat_template(const struct tokenizer *t) { return t->chat_template; }

bool tokenizer_is_eog(const struct tokenizer *t, int32_t id)
{
    return id >= 0 && id < t->n_vocab && t->eog[id];
}

int tokenizer_eog_ids(const struct tokenizer *t, int32_t *ids, int cap)
{
    int n = 0;
    for (int32_t i = 0; i < t->n_vocab; i++)
        if (t->eog[i]) {
            if (n < cap)
                ids[n] = i;
            n++;
        }
    return n;
}

const char *tokenizer_token_text(const struct tokenizer *t, int32_t id, size_t *len)
{
    if (id < 0 || id >= t->n_vocab)
        return NULL;
    if (len)
        *len = t->tok[id].text_len;
    return tok_text(t, id);
}

uint32_t tokenizer_token_attr(const struct tokenizer *t, int32_t id)
{
    return id >= 0 && id < t->n_vocab ? t->tok[id].attr : 0;
}

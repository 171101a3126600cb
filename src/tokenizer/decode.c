/* Token ids -> text: pieces, whole-sequence detokenization, and the streaming detokenizer
 * that only ever hands out complete UTF-8 characters.
 *
 * Not owned here: how pieces are rendered from token texts (vocab.c builds them once). */
#include "tokenizer/tok_internal.h"
#include "util/common.h"
#include "util/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The piece bytes of id (render_special as in tokenizer.h), without copying. */
static const char *piece_of(const struct tokenizer *t, int32_t id, bool render_special, uint32_t *len)
{
    const struct tok_entry *e = &t->tok[id];
    if (!render_special && (e->attr & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN))) {
        *len = 0;
        return "";
    }
    *len = e->piece_len;
    return t->pieces + e->piece_off;
}

int tokenizer_piece(const struct tokenizer *t, int32_t id, bool render_special, char *buf, int cap)
{
    if (id < 0 || id >= t->n_vocab) {
        set_error("token id %d out of range (vocabulary of %d)", id, t->n_vocab);
        return -EINVAL;
    }
    uint32_t len;
    const char *p = piece_of(t, id, render_special, &len);
    if (cap > 0 && buf)
        memcpy(buf, p, HY_MIN((size_t)len, (size_t)cap));
    return (int)len;
}

int tokenizer_detokenize(const struct tokenizer *t, const int32_t *ids, int n,
                         bool remove_special, bool render_special, char *buf, int cap)
{
    if (n < 0 || (n > 0 && !ids) || cap < 0 || (cap > 0 && !buf)) {
        set_error("invalid arguments");
        return -EINVAL;
    }
    bool strip_space = t->add_space_prefix;
    if (remove_special && t->add_bos && n > 0 && ids[0] == t->bos) {
        strip_space = false;   /* llama.cpp keeps the space when it drops a BOS */
        ids++;
        n--;
    }
    if (remove_special && t->add_eos && n > 0 && ids[n - 1] == t->eos)
        n--;
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_vocab) {
            set_error("token id %d out of range (vocabulary of %d)", ids[i], t->n_vocab);
            return -EINVAL;
        }
        uint32_t len;
        const char *p = piece_of(t, ids[i], render_special, &len);
        if (strip_space && len && p[0] == ' ') {
            p++;
            len--;
        }
        strip_space = false;
        if (total < (size_t)cap)
            memcpy(buf + total, p, HY_MIN((size_t)len, (size_t)cap - total));
        total += len;
        if (total > (size_t)INT32_MAX) {
            set_error("text too long");
            return -EINVAL;
        }
    }
    return (int)total;
}

/* ---- streaming ---- */

struct detok {
    const struct tokenizer *t;
    bool render_special;
    char held[4];      /* bytes of a character not yet complete */
    size_t n_held;
    char *out;         /* the bytes handed out by the last push */
    size_t out_cap;
};

int detok_new(struct detok **out, const struct tokenizer *t, bool render_special)
{
    struct detok *d = calloc(1, sizeof *d);
    if (!d) {
        set_error("out of memory");
        return -ENOMEM;
    }
    d->t = t;
    d->render_special = render_special;
    *out = d;
    return 0;
}

void detok_free(struct detok *d)
{
    if (!d)
        return;
    free(d->out);
    free(d);
}

void detok_reset(struct detok *d)
{
    d->n_held = 0;
}

/* Length a UTF-8 lead byte announces (0 for a byte that cannot start a character). */
static size_t lead_len(uint8_t c)
{
    if (c < 0x80)
        return 1;
    if (c < 0xc0)
        return 0;
    if (c < 0xe0)
        return 2;
    if (c < 0xf0)
        return 3;
    if (c < 0xf8)
        return 4;
    return 0;
}

/* Where the trailing incomplete character of s[0..n) starts (n when there is none): a lead
 * byte whose continuation bytes so far are all there is, and which wants more. */
static size_t incomplete_tail(const uint8_t *s, size_t n)
{
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        uint8_t c = s[n - back];
        if ((c & 0xc0) == 0x80)
            continue;   /* a continuation byte: keep looking for the lead */
        size_t want = lead_len(c);
        return want > back ? n - back : n;
    }
    return n;
}

int detok_push(struct detok *d, int32_t id, const char **text, size_t *len)
{
    *text = "";
    *len = 0;
    if (id < 0 || id >= d->t->n_vocab) {
        set_error("token id %d out of range (vocabulary of %d)", id, d->t->n_vocab);
        return -EINVAL;
    }
    uint32_t pl;
    const char *p = piece_of(d->t, id, d->render_special, &pl);
    size_t need = d->n_held + pl;
    if (need > d->out_cap || !d->out) {
        size_t cap = d->out_cap ? d->out_cap : 64;
        while (cap < need)
            cap *= 2;
        char *o = realloc(d->out, cap);
        if (!o) {
            set_error("out of memory");
            return -ENOMEM;
        }
        d->out = o;
        d->out_cap = cap;
    }
    memcpy(d->out, d->held, d->n_held);
    memcpy(d->out + d->n_held, p, pl);
    size_t cut = incomplete_tail((const uint8_t *)d->out, need);
    d->n_held = need - cut;
    memcpy(d->held, d->out + cut, d->n_held);
    *text = d->out;
    *len = cut;
    return 0;
}

void detok_flush(struct detok *d, const char **text, size_t *len)
{
    /* the held bytes move to the output buffer; hold nothing afterwards */
    if (d->n_held && d->out_cap >= d->n_held) {
        memcpy(d->out, d->held, d->n_held);
        *text = d->out;
    } else {
        *text = d->n_held ? d->held : "";
    }
    *len = d->n_held;
    d->n_held = 0;
}

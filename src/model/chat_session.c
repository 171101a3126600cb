/* A chat over a session: the conversation is rendered with the model's template, and each
 * turn evaluates only what the KV cache lacks.
 *
 * The cache holds the rendered text up to the end of the last turn (`done`): the previous
 * rendering plus the reply as generated. A new user message is rendered with the whole
 * history; when the rendering starts with `done` (templates render the past the same way
 * every time), only the rest is tokenized and evaluated. A template that rewrites the past
 * (one that trims a reply, say) breaks that; then the conversation is evaluated again from
 * the start, which is correct but slow, and logged. Message content is never parsed for
 * special tokens; the template's own text is. */
#include "hypura.h"
#include "model/session.h"
#include "tokenizer/chat.h"
#include "tokenizer/tokenizer.h"
#include "util/common.h"
#include "util/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct hy_chat {
    hy_session *s;
    const struct tokenizer *tok;
    int family;
    struct chat_msg *msgs;   /* (n_msgs) contents owned */
    size_t n_msgs, cap_msgs;
    char *done;              /* text the session has evaluated, as rendered */
    size_t done_len;
    int base;                /* session position where the chat starts */
};

static void msgs_clear(hy_chat *c)
{
    for (size_t i = 0; i < c->n_msgs; i++)
        free((char *)c->msgs[i].content);
    c->n_msgs = 0;
}

static int msgs_add(hy_chat *c, const char *role, const char *text)
{
    if (c->n_msgs == c->cap_msgs) {
        size_t cap = c->cap_msgs ? c->cap_msgs * 2 : 16;
        struct chat_msg *m = realloc(c->msgs, cap * sizeof *m);
        if (!m)
            return -ENOMEM;
        c->msgs = m;
        c->cap_msgs = cap;
    }
    char *t = strdup(text);
    if (!t)
        return -ENOMEM;
    c->msgs[c->n_msgs++] = (struct chat_msg){.role = role, .content = t};
    return 0;
}

static int set_done(hy_chat *c, const char *text, size_t len)
{
    char *d = malloc(len + 1);
    if (!d)
        return -ENOMEM;
    memcpy(d, text, len);
    d[len] = 0;
    free(c->done);
    c->done = d;
    c->done_len = len;
    return 0;
}

int hy_chat_new(hy_session *s, const char *tmpl, const char *system, hy_chat **out)
{
    *out = NULL;
    if (!s->m->tok) {
        set_error("the model has no tokenizer");
        return -EINVAL;
    }
    hy_chat *c = calloc(1, sizeof *c);
    if (!c) {
        set_error("out of memory");
        return -ENOMEM;
    }
    c->s = s;
    c->tok = s->m->tok;
    c->base = s->n_past;
    int rc = chat_select(tmpl ? tmpl : tokenizer_chat_template(c->tok), &c->family);
    if (!rc && system && *system)
        rc = msgs_add(c, "system", system);
    if (!rc)
        rc = set_done(c, "", 0);
    if (rc) {
        if (rc == -ENOMEM)
            set_error("out of memory");
        hy_chat_free(c);
        return rc;
    }
    *out = c;
    return 0;
}

void hy_chat_free(hy_chat *c)
{
    if (!c)
        return;
    msgs_clear(c);
    free(c->msgs);
    free(c->done);
    free(c);
}

const char *hy_chat_template_name(const hy_chat *c)
{
    return chat_family_name(c->family);
}

/* Tokenize text[from..len) of a rendering, keeping message content plain, and evaluate it. */
static int eval_part(hy_chat *c, const struct chat_rendered *r, size_t from, bool add_special,
                     int *n_new)
{
    struct tok_range *plain = malloc(sizeof *plain * (size_t)(r->n_content + 1));
    int32_t *ids = NULL;
    int rc = -ENOMEM, np = 0;
    if (!plain)
        goto out;
    for (int i = 0; i < r->n_content; i++) {
        size_t a = r->content[i].off, b = a + r->content[i].len;
        if (b <= from)
            continue;
        if (a < from)
            a = from;
        plain[np++] = (struct tok_range){.off = a - from, .len = b - a};
    }
    struct tok_encode_params p = tok_encode_default_params();
    p.add_special = add_special;
    p.parse_special = true;
    p.plain = np ? plain : NULL;
    p.n_plain = np;
    int n = tokenizer_encode_ex(c->tok, r->text + from, r->len - from, &p, NULL, 0);
    if (n < 0) {
        rc = n;
        goto out;
    }
    ids = malloc(sizeof *ids * (size_t)(n + 1));
    if (!ids)
        goto out;
    tokenizer_encode_ex(c->tok, r->text + from, r->len - from, &p, ids, n);
    rc = n ? hy_session_eval(c->s, ids, n, false) : 0;
    if (!rc && n_new)
        *n_new = n;
out:
    if (rc == -ENOMEM)
        set_error("out of memory");
    free(plain);
    free(ids);
    return rc;
}

int hy_chat_user(hy_chat *c, const char *text, int *n_new)
{
    hy_clear_error();
    if (n_new)
        *n_new = 0;
    int rc = msgs_add(c, "user", text);
    if (rc) {
        set_error("out of memory");
        return rc;
    }
    struct chat_rendered r;
    rc = chat_render(c->family, c->msgs, c->n_msgs, true, &r);
    if (rc) {
        free((char *)c->msgs[--c->n_msgs].content);
        return rc;
    }
    bool first = c->s->n_past == c->base;
    if (!first && (r.len < c->done_len || memcmp(r.text, c->done, c->done_len) != 0)) {
        LOG_DEBUG("chat: the template re-rendered the past differently; evaluating it again");
        hy_session_truncate(c->s, c->base);
        first = true;
        c->done_len = 0;
    }
    int n_past0 = c->s->n_past;
    rc = eval_part(c, &r, first ? 0 : c->done_len, first, n_new);
    if (!rc)
        rc = set_done(c, r.text, r.len);
    if (rc) {
        /* the turn did not happen: neither in the history nor in the cache */
        hy_session_truncate(c->s, HY_MIN(n_past0, c->s->n_past));
        free((char *)c->msgs[--c->n_msgs].content);
        if (n_new)
            *n_new = 0;
    }
    chat_rendered_free(&r);
    return rc;
}

int hy_chat_assistant(hy_chat *c, const char *text)
{
    size_t n = strlen(text);
    /* the text first: a message listed without it would be evaluated again next turn */
    char *d = realloc(c->done, c->done_len + n + 1);
    if (d)
        c->done = d;
    if (!d || msgs_add(c, "assistant", text)) {
        set_error("out of memory");
        return -ENOMEM;
    }
    memcpy(d + c->done_len, text, n + 1);
    c->done = d;
    c->done_len += n;
    return 0;
}

int hy_chat_reset(hy_chat *c)
{
    /* keep the system prompt */
    size_t keep = c->n_msgs && !strcmp(c->msgs[0].role, "system") ? 1 : 0;
    for (size_t i = keep; i < c->n_msgs; i++)
        free((char *)c->msgs[i].content);
    c->n_msgs = keep;
    c->done_len = 0;
    c->done[0] = 0;
    return hy_session_truncate(c->s, c->base);
}

int hy_chat_tokenize(const hy_model *m, const char *tmpl, const struct hy_chat_message *msgs,
                     size_t n, bool add_generation_prompt, hy_token *out, int n_max)
{
    hy_clear_error();
    if (!m->tok) {
        set_error("the model has no tokenizer");
        return -EINVAL;
    }
    int family, rc = chat_select(tmpl ? tmpl : tokenizer_chat_template(m->tok), &family);
    if (rc)
        return rc;
    struct chat_msg *cm = malloc(sizeof *cm * (n ? n : 1));
    if (!cm) {
        set_error("out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        cm[i] = (struct chat_msg){.role = msgs[i].role, .content = msgs[i].content};
    rc = chat_tokenize(m->tok, family, cm, n, add_generation_prompt, true, out, n_max);
    free(cm);
    return rc;
}

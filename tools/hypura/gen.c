/* The generation loop shared by `run` and the interactive chat. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

void gen_result_free(struct gen_result *g)
{
    free(g->ids);
    free(g->text);
    memset(g, 0, sizeof *g);
}

static int text_add(struct gen_result *g, const char *p, size_t n)
{
    if (g->len + n + 1 > g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 4096;
        while (cap < g->len + n + 1)
            cap *= 2;
        char *t = realloc(g->text, cap);
        if (!t)
            return -1;
        g->text = t;
        g->cap = cap;
    }
    memcpy(g->text + g->len, p, n);
    g->len += n;
    g->text[g->len] = 0;
    return 0;
}

static int emit(struct gen_result *g, FILE *out, const char *p, size_t n)
{
    if (!n)
        return 0;
    if (out) {
        fwrite(p, 1, n, out);
        fflush(out);
    }
    return text_add(g, p, n);
}

int cli_generate(hy_model *m, hy_session *s, hy_sampler *sm, int n_predict, bool ignore_eos,
                 FILE *out, struct gen_result *g)
{
    memset(g, 0, sizeof *g);
    g->ids = malloc(sizeof *g->ids * (size_t)(n_predict > 0 ? n_predict : 1));
    hy_detok *dt = NULL;
    if (!g->ids || hy_detok_new(m, false, &dt) || text_add(g, "", 0))
        goto fail;
    for (int i = 0; i < n_predict; i++) {
        hy_token t = hy_sampler_sample(sm, hy_session_logits(s, -1));
        hy_sampler_accept(sm, t);
        g->ids[g->n_ids++] = t;
        bool eog = hy_token_is_eog(m, t);
        if (eog && !ignore_eos)
            break;
        const char *p;
        size_t n;
        if (hy_detok_push(dt, t, &p, &n) || emit(g, out, p, n))
            goto fail;
        if (i + 1 == n_predict)
            break;
        double t0 = hy_now_seconds();
        if (hy_session_eval(s, &t, 1, false))
            goto fail;
        g->t_gen += hy_now_seconds() - t0;
        g->n_decode++;
    }
    const char *p;
    size_t n;
    hy_detok_flush(dt, &p, &n);
    if (emit(g, out, p, n))
        goto fail;
    hy_detok_free(dt);
    return 0;
fail:
    hy_detok_free(dt);
    return -1;
}

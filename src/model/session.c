/* Sessions: KV cache and buffers; eval splits the input into batches. See session.h. */
#include "io/stream.h"
#include "model/session.h"
#include "util/common.h"
#include "util/log.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct hy_session_params hy_session_default_params(void)
{
    struct hy_session_params p = {0};
    return p;
}

static void *zalloc(size_t n, bool *ok)
{
    void *p = aligned_malloc(64, n ? n : 64);
    if (!p)
        *ok = false;
    else
        memset(p, 0, n);
    return p;
}

int hy_session_new(hy_model *m, const struct hy_session_params *p, hy_session **out)
{
    *out = NULL;
    if (!hy_model_is_placed(m)) {
        set_error("the model is opened but its weights are not placed (hy_model_place)");
        return -EINVAL;
    }
    struct hy_session_params sp = p ? *p : hy_session_default_params();
    const struct hparams *hp = &m->hp;
    hy_session *s = calloc(1, sizeof *s);
    if (!s) {
        set_error("out of memory");
        return -ENOMEM;
    }
    s->m = m;
    s->n_ctx = sp.n_ctx ? sp.n_ctx : m->n_ctx;
    if (s->n_ctx > m->n_ctx) {
        /* the plan reserved memory for m->n_ctx positions: more would break the budget */
        set_error("a context of %u tokens is more than the %u the model was loaded for (--ctx-size)",
               s->n_ctx, m->n_ctx);
        free(s);
        return -EINVAL;
    }
    s->n_batch = HY_MIN(sp.n_batch ? sp.n_batch : m->n_batch, s->n_ctx);
    if (s->n_batch > m->n_batch) {
        set_error("a batch of %u tokens is more than the %u the model was loaded for", s->n_batch,
               m->n_batch);
        free(s);
        return -EINVAL;
    }
    s->kv_dim_k = (int64_t)hp->n_head_kv * hp->head_dim_k;
    s->kv_dim_v = (int64_t)hp->n_head_kv * hp->head_dim_v;
    int n_threads = sp.n_threads > 0 ? sp.n_threads : m->n_threads;
    int rc = tpool_new(&s->tp, n_threads);
    if (rc) {
        free(s);
        return rc;
    }
    size_t B = s->n_batch, L = hp->n_layer, C = s->n_ctx;
    size_t E = hp->n_embd, Q = (size_t)hp->n_head * hp->head_dim_k;
    size_t O = (size_t)hp->n_head * hp->head_dim_v;
    size_t F = HY_MAX(hp->n_ff, HY_MAX(hp->n_ff_exp, hp->n_ff_shexp));
    bool ok = true;
    s->k_cache = zalloc(L * C * (size_t)s->kv_dim_k * sizeof(fp16_t), &ok);
    s->v_cache = zalloc(L * C * (size_t)s->kv_dim_v * sizeof(fp16_t), &ok);
    s->x = zalloc(B * E * sizeof(float), &ok);
    s->xb = zalloc(B * E * sizeof(float), &ok);
    s->xb2 = zalloc(B * E * sizeof(float), &ok);
    s->q = zalloc(B * Q * sizeof(float), &ok);
    s->k = zalloc(B * (size_t)s->kv_dim_k * sizeof(float), &ok);
    s->v = zalloc(B * (size_t)s->kv_dim_v * sizeof(float), &ok);
    s->att = zalloc(B * O * sizeof(float), &ok);
    s->hb = zalloc(B * F * sizeof(float), &ok);
    s->hb2 = zalloc(B * F * sizeof(float), &ok);
    if (hp->n_expert) {
        size_t X = hp->n_expert, K = hp->n_expert_used;
        s->router = zalloc(B * X * sizeof(float), &ok);
        s->sel = zalloc(B * K * sizeof(int), &ok);
        s->selw = zalloc(B * K * sizeof(float), &ok);
        s->moe = zalloc(B * K * E * sizeof(float), &ok);
        s->xe = zalloc(B * E * sizeof(float), &ok);
        s->ye = zalloc(B * E * sizeof(float), &ok);
        s->shgate = zalloc(B * sizeof(float), &ok);
        s->pairs = zalloc(B * K * sizeof(int), &ok);
        s->first = zalloc((X + 1) * sizeof(int), &ok);
        s->used = zalloc(X * sizeof(int), &ok);
    }
    s->rowbuf = zalloc(m->tok_embd->row_bytes, &ok);
    s->logits_cap = 1;
    s->logits = zalloc((size_t)hp->n_vocab * sizeof(float), &ok);
    if (!ok) {
        hy_session_free(s);
        set_error("out of memory for a context of %zu tokens", C);
        return -ENOMEM;
    }
    *out = s;
    return 0;
}

void hy_session_free(hy_session *s)
{
    if (!s)
        return;
    tpool_free(s->tp);
    free(s->k_cache);
    free(s->v_cache);
    free(s->x);
    free(s->xb);
    free(s->xb2);
    free(s->q);
    free(s->k);
    free(s->v);
    free(s->att);
    free(s->hb);
    free(s->hb2);
    free(s->router);
    free(s->sel);
    free(s->selw);
    free(s->moe);
    free(s->xe);
    free(s->ye);
    free(s->shgate);
    free(s->pairs);
    free(s->first);
    free(s->used);
    free(s->rowbuf);
    free(s->logits);
    mm_scratch_free(&s->mm);
    free(s);
}

static int ensure_logits(hy_session *s, int rows)
{
    if (rows <= s->logits_cap)
        return 0;
    float *l = aligned_malloc(64, (size_t)rows * s->m->hp.n_vocab * sizeof(float));
    if (!l) {
        set_error("out of memory for %d rows of logits", rows);
        return -ENOMEM;
    }
    free(s->logits);
    s->logits = l;
    s->logits_cap = rows;
    return 0;
}

/* Logits that are NaN or infinite mean the weights are (weights full of NaN would
 * otherwise sample token 0 forever and print nothing). */
static int check_finite(const hy_session *s, int rows)
{
    size_t nv = s->m->hp.n_vocab;
    for (int r = 0; r < rows; r++)
        for (size_t i = 0; i < nv; i++)
            if (!isfinite(s->logits[(size_t)r * nv + i])) {
                set_error("the model computed a non-finite logit (%g, token %zu): its weights "
                          "hold NaN or infinite values, or overflow", s->logits[(size_t)r * nv + i], i);
                return -EDOM;
            }
    return 0;
}

int hy_session_eval(hy_session *s, const hy_token *toks, int n, bool all_logits)
{
    hy_clear_error();
    if (n <= 0) {
        set_error("nothing to evaluate");
        return -EINVAL;
    }
    if ((uint32_t)s->n_past + (uint32_t)n > s->n_ctx) {
        set_error("context full: %d tokens + %d new exceed the context of %u", s->n_past, n, s->n_ctx);
        return -ENOSPC;
    }
    /* all or nothing: a failure anywhere leaves the session as the call found it (the
     * cache past n_past0 is forgotten), with no logits */
    const int n_past0 = s->n_past;
    s->n_logits = 0;
    /* the file under the weights must be the one placed: a mapped file that shrank would
     * kill the process with SIGBUS, a rewritten one would compute on other bytes */
    int rc = file_check_unchanged(s->m->file);
    if (rc)
        return rc;
    rc = ensure_logits(s, all_logits ? n : 1);
    if (rc)
        return rc;
    float *all = s->logits;
    int n_vocab = (int)s->m->hp.n_vocab;
    int done = 0;
    /* the streamer follows one forward pass through the layers: sessions sharing a
     * streamed model take turns */
    if (s->m->stream)
        pthread_mutex_lock(&s->m->stream_mu);
    while (done < n) {
        int b = HY_MIN(n - done, (int)s->n_batch);
        if (all_logits)
            s->logits = all + (size_t)done * n_vocab;
        rc = forward_batch(s, toks + done, b, all_logits);
        s->logits = all;
        if (rc) {
            s->n_past = n_past0;
            break;
        }
        done += b;
    }
    if (s->m->stream)
        pthread_mutex_unlock(&s->m->stream_mu);
    if (!rc && (rc = check_finite(s, all_logits ? n : 1))) {
        s->n_past = n_past0;
        s->n_logits = 0;
    }
    if (!rc)
        s->n_logits = all_logits ? n : 1;
    return rc;
}

const float *hy_session_logits(const hy_session *s, int i)
{
    if (i < 0)
        i = s->n_logits - 1;
    if (i < 0 || i >= s->n_logits)
        return NULL;
    return s->logits + (size_t)i * s->m->hp.n_vocab;
}

int hy_session_n_past(const hy_session *s)
{
    return s->n_past;
}

int hy_session_n_ctx(const hy_session *s)
{
    return (int)s->n_ctx;
}

int hy_session_truncate(hy_session *s, int n)
{
    if (n < 0 || n > s->n_past)
        return -EINVAL;
    s->n_past = n;
    s->n_logits = 0;
    return 0;
}

void hy_session_stats(const hy_session *s, struct hy_session_stats *out)
{
    *out = s->stats;
    struct stream_stats st;
    stream_get_stats(s->m->stream, &st);
    out->stall_seconds = st.stall_s;
    out->stream_acquires = st.n_acquires;
    out->out_of_schedule = st.n_out_of_schedule;
    /* everything read from the model file since it was opened: header, resident
     * weights, streamed chunks, embedding rows (one file counts what the other does not) */
    out->disk_read_bytes = s->m->file->bytes_read + (s->m->dfile ? s->m->dfile->bytes_read : 0);
}

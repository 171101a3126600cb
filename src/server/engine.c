/* The server's generation engine: slots, queue, the step thread. See engine.h. */
#include "server/engine.h"
#include "util/log.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct slot {
    hy_session *s;
    hy_token *toks;         /* (n_ctx) what the session's KV cache holds, in order */
    int n_toks;
    struct job *j;          /* NULL: free */
    int fed;                /* prompt tokens in the cache for the job */
    int limit;              /* positions the job may use */
    hy_sampler *sm;
    hy_detok *dt;
    double last_used;
};

struct engine {
    hy_model *m;
    int n_vocab, n_ctx, n_batch;
    int n_slots;
    struct slot *slots;     /* (n_slots) */
    pthread_t th;
    bool th_started;
    pthread_mutex_t mu;     /* the queue, the flags and the counters; taken before a job's mu */
    pthread_cond_t cv;      /* a job was queued or cancelled, or the engine is stopping */
    struct job **queue;     /* (queue_max) ring */
    int queue_max, q_head, q_len;
    bool stopping, cut;
    int n_busy;
    uint64_t seed_ctr;
    unsigned long long n_jobs, n_prompt_tokens, n_gen_tokens, n_prompt_eval, n_first;
    double first_s, gen_s;
};

/* ---- jobs ---------------------------------------------------------------------------- */

struct job *job_new(const hy_token *prompt, int n_prompt, const struct gen_opts *o, double t_arrive)
{
    struct job *j = calloc(1, sizeof *j);
    if (!j)
        return NULL;
    j->prompt = malloc(sizeof *prompt * (size_t)(n_prompt > 0 ? n_prompt : 1));
    j->text = malloc(64);
    if (!j->prompt || !j->text) {
        free(j->prompt);
        free(j->text);
        free(j);
        return NULL;
    }
    if (n_prompt > 0)
        memcpy(j->prompt, prompt, sizeof *prompt * (size_t)n_prompt);
    j->n_prompt = n_prompt;
    j->text[0] = 0;
    j->cap = 64;
    j->o = *o;
    j->t_arrive = t_arrive;
    j->refs = 1;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    return j;
}

void job_unref(struct job *j)
{
    if (!j)
        return;
    pthread_mutex_lock(&j->mu);
    int left = --j->refs;
    pthread_mutex_unlock(&j->mu);
    if (left)
        return;
    for (int i = 0; i < j->o.n_stop; i++)
        free(j->o.stop[i]);
    free(j->o.stop);
    free(j->prompt);
    free(j->text);
    free(j->gen);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}

void job_cancel(struct job *j)
{
    pthread_mutex_lock(&j->mu);
    bool was = j->cancel || j->state == JOB_DONE;
    j->cancel = true;
    struct engine *e = j->eng;
    pthread_mutex_unlock(&j->mu);
    if (e && !was) {
        pthread_mutex_lock(&e->mu);
        pthread_cond_signal(&e->cv);
        pthread_mutex_unlock(&e->mu);
    }
}

static void timeout_at(struct timespec *ts, double s)
{
    clock_gettime(CLOCK_REALTIME, ts);
    double whole = (double)(long)s;
    ts->tv_sec += (time_t)whole;
    ts->tv_nsec += (long)((s - whole) * 1e9);
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

int job_take(struct job *j, size_t *off, char **buf, size_t *len, size_t *cap, double timeout_s)
{
    pthread_mutex_lock(&j->mu);
    if (j->ready <= *off && j->state != JOB_DONE && timeout_s > 0) {
        struct timespec ts;
        timeout_at(&ts, timeout_s);
        while (j->ready <= *off && j->state != JOB_DONE)
            if (pthread_cond_timedwait(&j->cv, &j->mu, &ts) == ETIMEDOUT)
                break;
    }
    int rc = j->state == JOB_DONE;
    size_t n = j->ready > *off ? j->ready - *off : 0;
    if (n) {
        if (*len + n + 1 > *cap) {
            size_t c = *cap ? *cap : 256;
            while (c < *len + n + 1)
                c *= 2;
            char *b = realloc(*buf, c);
            if (!b) {
                pthread_mutex_unlock(&j->mu);
                return -1;
            }
            *buf = b;
            *cap = c;
        }
        memcpy(*buf + *len, j->text + *off, n);
        *len += n;
        (*buf)[*len] = 0;
        *off += n;
    }
    if (rc && *off < j->ready)
        rc = 0; /* (cannot happen: everything ready was taken) */
    pthread_mutex_unlock(&j->mu);
    return rc;
}

bool job_wait(struct job *j, double timeout_s)
{
    pthread_mutex_lock(&j->mu);
    if (j->state != JOB_DONE && timeout_s > 0) {
        struct timespec ts;
        timeout_at(&ts, timeout_s);
        while (j->state != JOB_DONE)
            if (pthread_cond_timedwait(&j->cv, &j->mu, &ts) == ETIMEDOUT)
                break;
    }
    bool done = j->state == JOB_DONE;
    pthread_mutex_unlock(&j->mu);
    return done;
}

/* ---- stop strings -------------------------------------------------------------------- */

size_t stop_scan(const char *text, size_t len, size_t from, char *const *stop, int n_stop, bool *hit)
{
    *hit = false;
    size_t best = len, keep = len;
    for (int i = 0; i < n_stop; i++) {
        size_t sl = strlen(stop[i]);
        if (!sl)
            continue;
        /* a match ending past from starts at from - sl + 1 or later */
        size_t start = from + 1 > sl ? from + 1 - sl : 0;
        for (size_t p = start; p + sl <= len && p < best; p++)
            if (!memcmp(text + p, stop[i], sl)) {
                best = p;
                *hit = true;
                break;
            }
        /* the longest tail of the text that begins this stop string */
        for (size_t t = sl - 1 < len ? sl - 1 : len; t > 0; t--)
            if (!memcmp(text + len - t, stop[i], t)) {
                if (len - t < keep)
                    keep = len - t;
                break;
            }
    }
    return *hit ? best : keep;
}

/* ---- the step thread ----------------------------------------------------------------- */

static int text_add(struct job *j, const char *p, size_t n)
{
    if (j->len + n + 1 > j->cap) {
        size_t c = j->cap * 2;
        while (c < j->len + n + 1)
            c *= 2;
        char *t = realloc(j->text, c);
        if (!t)
            return -ENOMEM;
        j->text = t;
        j->cap = c;
    }
    memcpy(j->text + j->len, p, n);
    j->len += n;
    j->text[j->len] = 0;
    return 0;
}

/* End the slot's job: the text is final (with the bytes of a character the detokenizer
 * held, unless a stop string ended it: at_stop), the job is done and the slot free. reason
 * NULL with error set: failed. Called with no lock held. */
static void finish(struct engine *e, struct slot *sl, const char *reason, const char *error,
                   bool at_stop)
{
    struct job *j = sl->j;
    pthread_mutex_lock(&j->mu);
    if (error) {
        snprintf(j->error, sizeof j->error, "%s", error);
    } else if (!j->cancel) {
        const char *p;
        size_t n = 0;
        if (!at_stop)
            hy_detok_flush(sl->dt, &p, &n);
        if (n && text_add(j, p, n))
            snprintf(j->error, sizeof j->error, "out of memory");
        j->ready = j->len;
    }
    j->done_reason = error ? NULL : reason;
    j->t_end = hy_now_seconds();
    if (!j->t_prompt_end)
        j->t_prompt_end = j->t_end;
    j->state = JOB_DONE;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
    pthread_mutex_lock(&e->mu);
    e->n_busy--;
    e->n_gen_tokens += (unsigned long long)j->n_gen;
    e->n_prompt_eval += (unsigned long long)j->n_prompt_eval;
    if (j->t_first > 0) {
        e->n_first++;
        e->first_s += j->t_first - j->t_arrive;
        e->gen_s += j->t_end - j->t_first;
    }
    pthread_mutex_unlock(&e->mu);
    hy_detok_free(sl->dt);
    sl->dt = NULL;
    sl->j = NULL;
    sl->last_used = hy_now_seconds();
    job_unref(j);
}

/* Evaluate tokens in the slot's session, keeping its token record. */
static int slot_eval(struct engine *e, struct slot *sl, const hy_token *t, int n)
{
    int rc = hy_session_eval(sl->s, t, n, false);
    if (rc) {
        /* what the cache holds is what it held before the call */
        sl->n_toks = hy_session_n_past(sl->s);
        return rc;
    }
    memcpy(sl->toks + sl->n_toks, t, sizeof *t * (size_t)n);
    sl->n_toks += n;
    return 0;
}

/* Append a generated token's text and look for the stop strings; true when one matched
 * (the text is cut before it). */
static bool emit_piece(struct slot *sl, struct job *j, hy_token t, int *err)
{
    const char *p;
    size_t n;
    *err = hy_detok_push(sl->dt, t, &p, &n);
    pthread_mutex_lock(&j->mu);
    size_t from = j->len;
    if (!*err && n)
        *err = text_add(j, p, n);
    bool hit = false;
    if (!*err) {
        size_t end = stop_scan(j->text, j->len, from, j->o.stop, j->o.n_stop, &hit);
        if (hit) {
            j->len = end;
            j->text[end] = 0;
        }
        if (end > j->ready) {
            j->ready = end;
            pthread_cond_broadcast(&j->cv);
        }
    }
    if (!*err && j->n_gen < j->cap_gen)
        j->gen[j->n_gen++] = t;
    pthread_mutex_unlock(&j->mu);
    return hit;
}

/* One generated token for the slot's job: sample from the last logits, emit, evaluate. */
static void step_decode(struct engine *e, struct slot *sl)
{
    struct job *j = sl->j;
    hy_token t = hy_sampler_sample(sl->sm, hy_session_logits(sl->s, -1));
    hy_sampler_accept(sl->sm, t);
    if (!j->t_first) { /* (the engine's alone: read under mu only once done) */
        pthread_mutex_lock(&j->mu);
        j->t_first = hy_now_seconds();
        pthread_mutex_unlock(&j->mu);
    }
    if (hy_token_is_eog(e->m, t)) {
        finish(e, sl, "stop", NULL, false);
        return;
    }
    int err;
    bool hit = emit_piece(sl, j, t, &err);
    if (err) {
        finish(e, sl, NULL, err == -ENOMEM ? "out of memory" : hy_last_error(), false);
        return;
    }
    if (hit) {
        finish(e, sl, "stop", NULL, true);
        return;
    }
    bool cut;
    pthread_mutex_lock(&j->mu);
    cut = j->cut;
    pthread_mutex_unlock(&j->mu);
    if (cut || (j->o.n_predict >= 0 && j->n_gen >= j->o.n_predict) || sl->n_toks + 1 > sl->limit) {
        finish(e, sl, "length", NULL, false);
        return;
    }
    if (slot_eval(e, sl, &t, 1))
        finish(e, sl, NULL, hy_last_error(), false);
}

/* One step of a busy slot: a chunk of the prompt (then the first token, once the prompt
 * is in), or one generated token. */
static void step(struct engine *e, struct slot *sl)
{
    struct job *j = sl->j;
    pthread_mutex_lock(&j->mu);
    bool cancel = j->cancel;
    pthread_mutex_unlock(&j->mu);
    if (cancel) {
        finish(e, sl, "stop", NULL, false);
        return;
    }
    if (sl->fed < j->n_prompt) {
        int b = j->n_prompt - sl->fed;
        if (b > e->n_batch)
            b = e->n_batch;
        if (slot_eval(e, sl, j->prompt + sl->fed, b)) {
            finish(e, sl, NULL, hy_last_error(), false);
            return;
        }
        sl->fed += b;
        if (sl->fed < j->n_prompt)
            return;
        pthread_mutex_lock(&j->mu);
        j->t_prompt_end = hy_now_seconds();
        pthread_mutex_unlock(&j->mu);
    }
    if (j->o.n_predict == 0) {
        finish(e, sl, "length", NULL, false);
        return;
    }
    step_decode(e, sl);
}

static int common_prefix(const hy_token *a, int na, const hy_token *b, int nb)
{
    int n = 0;
    while (n < na && n < nb && a[n] == b[n])
        n++;
    return n;
}

/* Give a queued job to a free slot: the one whose cache shares the longest beginning with
 * its prompt (the least recently used among equals), which then evaluates only the rest. */
static int assign(struct engine *e, struct job *j)
{
    struct slot *best = NULL;
    int best_n = -1;
    for (int i = 0; i < e->n_slots; i++) {
        struct slot *sl = &e->slots[i];
        if (sl->j)
            continue;
        int n = common_prefix(sl->toks, sl->n_toks, j->prompt, j->n_prompt);
        if (n > best_n || (n == best_n && sl->last_used < best->last_used)) {
            best = sl;
            best_n = n;
        }
    }
    /* the last prompt token is evaluated again for its logits */
    int keep = best_n < j->n_prompt ? best_n : j->n_prompt - 1;
    struct hy_sampler_params sp = j->o.smp;
    if (!j->o.seed_set)
        sp.seed = (uint64_t)time(NULL) ^ (++e->seed_ctr * 0x9e3779b97f4a7c15ull);
    hy_sampler_free(best->sm);
    best->sm = NULL;
    int rc = hy_session_truncate(best->s, keep);
    if (!rc)
        rc = hy_sampler_new(&sp, e->n_vocab, &best->sm);
    if (!rc)
        rc = hy_detok_new(e->m, false, &best->dt);
    j->cap_gen = j->o.n_predict >= 0 && j->o.n_predict < e->n_ctx ? j->o.n_predict : e->n_ctx;
    if (!rc && !(j->gen = malloc(sizeof *j->gen * (size_t)(j->cap_gen + 1))))
        rc = -ENOMEM;
    best->j = j;
    best->n_toks = keep;
    best->fed = keep;
    best->limit = j->o.n_ctx > 0 && j->o.n_ctx < e->n_ctx ? j->o.n_ctx : e->n_ctx;
    if (!rc && j->n_prompt >= best->limit) {
        set_error("the prompt has %d tokens; the context holds %d", j->n_prompt, best->limit);
        rc = -ENOSPC;
    }
    if (rc) {
        finish(e, best, NULL, rc == -ENOMEM ? "out of memory" : hy_last_error(), false);
        return rc;
    }
    for (int i = 0; i < j->n_prompt; i++)
        hy_sampler_accept(best->sm, j->prompt[i]);
    pthread_mutex_lock(&j->mu);
    j->state = JOB_RUNNING;
    j->t_start = hy_now_seconds();
    j->n_prompt_eval = j->n_prompt - keep;
    pthread_mutex_unlock(&j->mu);
    if (keep)
        LOG_DEBUG("serve: %d of %d prompt tokens from the cache", keep, j->n_prompt);
    return 0;
}

/* Take queued jobs into free slots. Called with e->mu held; returns it held. */
static void admit(struct engine *e)
{
    while (e->q_len && e->n_busy < e->n_slots) {
        struct job *j = e->queue[e->q_head];
        e->q_head = (e->q_head + 1) % e->queue_max;
        e->q_len--;
        e->n_busy++;
        e->n_jobs++;
        e->n_prompt_tokens += (unsigned long long)j->n_prompt;
        pthread_mutex_unlock(&e->mu);
        assign(e, j);
        pthread_mutex_lock(&e->mu);
    }
}

static void *engine_main(void *arg)
{
    struct engine *e = arg;
    pthread_mutex_lock(&e->mu);
    for (;;) {
        admit(e);
        if (!e->n_busy) {
            if (e->stopping && !e->q_len)
                break;
            pthread_cond_wait(&e->cv, &e->mu);
            continue;
        }
        bool cut = e->cut;
        pthread_mutex_unlock(&e->mu);
        /* every busy slot a step; a batched evaluation would make this one pass */
        for (int i = 0; i < e->n_slots; i++) {
            struct slot *sl = &e->slots[i];
            if (!sl->j)
                continue;
            if (cut) {
                pthread_mutex_lock(&sl->j->mu);
                sl->j->cut = true;
                pthread_mutex_unlock(&sl->j->mu);
            }
            step(e, sl);
        }
        pthread_mutex_lock(&e->mu);
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

/* ---- the engine ---------------------------------------------------------------------- */

int engine_new(hy_model *m, const struct engine_params *p, struct engine **out)
{
    *out = NULL;
    struct engine *e = calloc(1, sizeof *e);
    if (!e)
        return -ENOMEM;
    struct hy_model_desc d;
    hy_model_describe(m, &d);
    e->m = m;
    e->n_vocab = d.n_vocab;
    e->n_slots = p->n_slots > 0 ? p->n_slots : 1;
    e->queue_max = p->queue_max > 0 ? p->queue_max : 1;
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->cv, NULL);
    e->slots = calloc((size_t)e->n_slots, sizeof *e->slots);
    e->queue = calloc((size_t)e->queue_max, sizeof *e->queue);
    int rc = e->slots && e->queue ? 0 : -ENOMEM;
    struct hy_session_params sp = hy_session_default_params();
    sp.n_ctx = p->n_ctx > 0 ? (uint32_t)p->n_ctx : 0;
    for (int i = 0; !rc && i < e->n_slots; i++) {
        struct slot *sl = &e->slots[i];
        rc = hy_session_new(m, &sp, &sl->s);
        if (!rc) {
            e->n_ctx = hy_session_n_ctx(sl->s);
            if (!(sl->toks = malloc(sizeof *sl->toks * (size_t)e->n_ctx)))
                rc = -ENOMEM;
        }
    }
    /* prompt tokens a slot evaluates per step, so that a long prompt does not stall the
     * other slots' streams for long (the session splits it into its planned batches) */
    e->n_batch = 512;
    if (!rc && pthread_create(&e->th, NULL, engine_main, e))
        rc = -EAGAIN;
    if (rc) {
        if (rc == -ENOMEM || rc == -EAGAIN)
            set_error("out of memory for %d sequence slots", e->n_slots);
        engine_free(e);
        return rc;
    }
    e->th_started = true;
    *out = e;
    return 0;
}

void engine_free(struct engine *e)
{
    if (!e)
        return;
    if (e->th_started) {
        pthread_mutex_lock(&e->mu);
        e->stopping = true;
        pthread_cond_signal(&e->cv);
        pthread_mutex_unlock(&e->mu);
        pthread_join(e->th, NULL);
    }
    for (int i = 0; e->slots && i < e->n_slots; i++) {
        hy_session_free(e->slots[i].s);
        hy_sampler_free(e->slots[i].sm);
        hy_detok_free(e->slots[i].dt);
        free(e->slots[i].toks);
    }
    free(e->slots);
    free(e->queue);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->cv);
    free(e);
}

int engine_submit(struct engine *e, struct job *j)
{
    pthread_mutex_lock(&e->mu);
    int rc = 0;
    if (j->n_prompt < 1)
        rc = -EINVAL;
    else if (e->stopping || e->cut)
        rc = -ESHUTDOWN;
    else if (e->q_len == e->queue_max)
        rc = -EAGAIN;
    if (!rc) {
        pthread_mutex_lock(&j->mu);
        j->refs++;
        j->eng = e;
        pthread_mutex_unlock(&j->mu);
        e->queue[(e->q_head + e->q_len++) % e->queue_max] = j;
        pthread_cond_signal(&e->cv);
    }
    pthread_mutex_unlock(&e->mu);
    return rc;
}

void engine_cut(struct engine *e)
{
    pthread_mutex_lock(&e->mu);
    e->cut = true;
    /* queued jobs end at once: they never got a slot */
    while (e->q_len) {
        struct job *j = e->queue[e->q_head];
        e->q_head = (e->q_head + 1) % e->queue_max;
        e->q_len--;
        pthread_mutex_lock(&j->mu);
        j->done_reason = "length";
        j->t_start = j->t_prompt_end = j->t_end = hy_now_seconds();
        j->state = JOB_DONE;
        pthread_cond_broadcast(&j->cv);
        pthread_mutex_unlock(&j->mu);
        job_unref(j);
    }
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

int engine_n_ctx(const struct engine *e)
{
    return e->n_ctx;
}

void engine_get_stats(struct engine *e, struct engine_stats *out)
{
    pthread_mutex_lock(&e->mu);
    out->n_slots = e->n_slots;
    out->n_busy = e->n_busy;
    out->n_queued = e->q_len;
    out->n_jobs = e->n_jobs;
    out->n_prompt_tokens = e->n_prompt_tokens;
    out->n_gen_tokens = e->n_gen_tokens;
    out->n_prompt_eval = e->n_prompt_eval;
    out->n_first = e->n_first;
    out->first_s = e->first_s;
    out->gen_s = e->gen_s;
    pthread_mutex_unlock(&e->mu);
}

/* The asynchronous read queue: io_uring and pread-thread backends. See ioq.h.
 *
 * Every request lives in a context (struct ioq_ctx) from submit to reap; io_uring carries
 * a pointer to it as user data (liburing's io_uring-cp.c is the model). The owner thread
 * keeps the lists of queued (not yet issued) and completed contexts and the in-flight
 * counts; worker threads see only their work list and their completion list, both under
 * one mutex. */
#include "io/ioq.h"
#include "util/common.h"
#include "util/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#ifdef HYPURA_URING
#include <liburing.h>
#endif

#define IOQ_MAX_SQE_BYTES ((size_t)1 << 30) /* one io_uring read; longer ones continue */
#define IOQ_MAX_AGAIN 100000                /* consecutive EAGAIN/EINTR before giving up */
#define IOQ_MAX_STALL 64                    /* direct re-reads in a row without progress */

struct ioq_ctx {
    struct ioq_req r;
    size_t done;            /* bytes arrived at r.buf (from its start) */
    uint32_t fails;         /* failed attempts so far (EIO and the like) */
    uint32_t again;         /* consecutive EAGAIN/EINTR */
    uint32_t stalls;        /* direct continuations in a row that made no progress */
    int status;
    uint64_t err_off;
    bool eof;               /* failed because the file ended before need bytes */
    bool threads;           /* served by the worker threads */
    struct ioq_ctx *next;
};

struct ctx_list {
    struct ioq_ctx *head, *tail;
};

static void list_push(struct ctx_list *l, struct ioq_ctx *c)
{
    c->next = NULL;
    if (l->tail)
        l->tail->next = c;
    else
        l->head = c;
    l->tail = c;
}

static struct ioq_ctx *list_pop(struct ctx_list *l)
{
    struct ioq_ctx *c = l->head;
    if (c) {
        l->head = c->next;
        if (!l->head)
            l->tail = NULL;
        c->next = NULL;
    }
    return c;
}

/* Append all of src to dst; src becomes empty. */
static void list_splice(struct ctx_list *dst, struct ctx_list *src)
{
    if (!src->head)
        return;
    if (dst->tail)
        dst->tail->next = src->head;
    else
        dst->head = src->head;
    dst->tail = src->tail;
    src->head = src->tail = NULL;
}

struct ioq {
    struct ioq_params p;
    enum ioq_backend backend;       /* for files with a descriptor: URING or THREADS */

    /* owner thread only */
    struct ctx_list queued[2];      /* by priority: not yet issued */
    struct ctx_list done;           /* completed, not yet reaped */
    struct ioq_ctx *free_ctx;       /* recycled contexts */
    uint32_t in_flight;             /* issued and not completed (both backends) */
    uint32_t in_flight_uring;
    uint32_t in_flight_threads;
    uint32_t outstanding;           /* submitted and not reaped */
#ifdef HYPURA_URING
    struct io_uring ring;
    bool have_ring;
    uint32_t unsubmitted;           /* SQEs prepared but not yet handed to the kernel */
    uint64_t n_cqes;                /* completions reaped (for params.test_fault) */
#endif

    /* shared with the worker threads, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    struct ctx_list work;           /* issued to the threads */
    struct ctx_list thread_done;    /* completed by the threads */
    bool stop;
    pthread_t *threads;
    uint32_t n_threads;
};

struct ioq_params ioq_default_params(void)
{
    return (struct ioq_params){.backend = IOQ_AUTO, .depth = 16, .eio_retries = 3};
}

const char *ioq_backend_name(enum ioq_backend b)
{
    switch (b) {
    case IOQ_AUTO: return "auto";
    case IOQ_URING: return "io_uring";
    case IOQ_THREADS: return "threads";
    }
    return "?";
}

enum ioq_backend ioq_backend_used(const struct ioq *q)
{
    return q->backend;
}

uint32_t ioq_outstanding(const struct ioq *q)
{
    return q->outstanding;
}

/* ---- the result of one read attempt, shared by both backends ---------------------------- */

enum step { STEP_DONE, STEP_AGAIN };

static enum step ctx_fail(struct ioq_ctx *c, int err)
{
    c->status = err;
    c->err_off = c->r.off + c->done;
    return STEP_DONE;
}

/* Account one attempt that returned res (bytes or -errno) for the bytes at r.off + done.
 * round: the attempt was a raw direct read, whose continuation must start aligned. */
static enum step ctx_step(struct ioq_ctx *c, int64_t res, uint32_t eio_retries, bool round)
{
    struct file *f = c->r.file;
    atomic_fetch_add(&f->n_reads, 1);
    if (res == -EAGAIN || res == -EINTR) {
        if (++c->again > IOQ_MAX_AGAIN)
            return ctx_fail(c, (int)res);
        return STEP_AGAIN;
    }
    c->again = 0;
    if (res < 0) {
        if (res == -ENOMEM || res == -EINVAL || res == -EBADF || res == -EFAULT ||
            ++c->fails > eio_retries)
            return ctx_fail(c, (int)res);
        return STEP_AGAIN; /* EIO and other device errors: try again, a few times */
    }
    if (res == 0) { /* end of file */
        if (c->done >= c->r.need)
            return STEP_DONE;
        c->eof = true;
        return ctx_fail(c, -EIO);
    }
    atomic_fetch_add(&f->bytes_read, (uint64_t)res);
    c->done += (size_t)res;
    if (c->done >= c->r.len)
        return STEP_DONE;
    if (c->done >= c->r.need && c->r.off + c->done >= f->size)
        return STEP_DONE; /* at the end of the file as we know it: no need to ask again */
    if (round && f->align > 1 && (c->done & (f->align - 1))) {
        if (c->r.off + c->done >= f->size) { /* a partial last block: the end of the file */
            c->eof = true;
            return ctx_fail(c, -EIO);
        }
        /* a partial block: the next direct read must start aligned, so the tail of what
         * arrived is read again; give up if the device keeps returning less than a block */
        size_t before = c->done - (size_t)res;
        c->done &= ~(size_t)(f->align - 1);
        if (c->done > before)
            c->stalls = 0;
        else if (++c->stalls > IOQ_MAX_STALL)
            return ctx_fail(c, -EIO);
    }
    return STEP_AGAIN;
}

/* ---- thread backend ------------------------------------------------------------------- */

static void ctx_run_sync(struct ioq_ctx *c, uint32_t eio_retries)
{
    struct file *f = c->r.file;
    for (;;) {
        int64_t res = f->ops->pread(f, (uint8_t *)c->r.buf + c->done, c->r.len - c->done,
                                    c->r.off + c->done);
        if (ctx_step(c, res, eio_retries, false) == STEP_DONE)
            return;
    }
}

static void *worker_main(void *arg)
{
    struct ioq *q = arg;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (!q->stop && !q->work.head)
            pthread_cond_wait(&q->cv_work, &q->mu);
        struct ioq_ctx *c = list_pop(&q->work);
        if (!c)
            break; /* stop, and nothing left */
        uint32_t retries = q->p.eio_retries;
        pthread_mutex_unlock(&q->mu);
        ctx_run_sync(c, retries);
        pthread_mutex_lock(&q->mu);
        list_push(&q->thread_done, c);
        pthread_cond_signal(&q->cv_done);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

static int threads_start(struct ioq *q)
{
    if (q->threads)
        return 0;
    uint32_t n = q->p.depth;
    q->threads = calloc(n, sizeof *q->threads);
    if (!q->threads) {
        set_error("out of memory");
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < n; i++) {
        int e = pthread_create(&q->threads[i], NULL, worker_main, q);
        if (e) {
            set_error("cannot start I/O thread %u of %u: %s", i + 1, n, strerror(e));
            if (i == 0) { /* none running: forget the attempt so a later submit retries */
                free(q->threads);
                q->threads = NULL;
                return -e;
            }
            break; /* fewer threads still serve the queue: the depth stays the cap */
        }
        q->n_threads++;
    }
    return 0;
}

static void threads_stop(struct ioq *q)
{
    if (!q->threads)
        return;
    pthread_mutex_lock(&q->mu);
    q->stop = true;
    pthread_cond_broadcast(&q->cv_work);
    pthread_mutex_unlock(&q->mu);
    for (uint32_t i = 0; i < q->n_threads; i++)
        pthread_join(q->threads[i], NULL);
    free(q->threads);
    q->threads = NULL;
    q->n_threads = 0;
}

/* ---- io_uring backend ----------------------------------------------------------------- */
#ifdef HYPURA_URING
/* Prepare one read of what c still lacks. The ring has at least depth entries and at most
 * depth requests are in flight, so an SQE is always free. */
static void uring_prep(struct ioq *q, struct ioq_ctx *c)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&q->ring);
    if (!sqe) { /* defensive: the SQ ring is full of prepared entries; flush them */
        io_uring_submit(&q->ring);
        q->unsubmitted = 0;
        sqe = io_uring_get_sqe(&q->ring);
    }
    size_t n = HY_MIN(c->r.len - c->done, IOQ_MAX_SQE_BYTES);
    io_uring_prep_read(sqe, c->r.file->fd, (uint8_t *)c->r.buf + c->done, (unsigned)n,
                       c->r.off + c->done);
    io_uring_sqe_set_data(sqe, c);
    q->unsubmitted++;
}

/* params.test_fault: what the test wants this completion to have returned. A result cut
 * short leaves valid bytes beyond it in the buffer; the continuation reads them again. */
static int uring_fault(struct ioq *q, int res)
{
    const struct file_fault *s = q->p.test_fault;
    uint64_t call = ++q->n_cqes;
    uint64_t count = s->fail_count ? s->fail_count : 1;
    if (s->fail_nth && call >= s->fail_nth && call < s->fail_nth + count)
        return -(s->fail_errno ? s->fail_errno : EIO);
    if (s->short_max && res > 0 && (size_t)res > s->short_max)
        return (int)s->short_max;
    return res;
}

/* Hand prepared SQEs to the kernel. */
static int uring_flush(struct ioq *q)
{
    while (q->unsubmitted) {
        int r = io_uring_submit(&q->ring);
        if (r >= 0) {
            q->unsubmitted -= HY_MIN((uint32_t)r, q->unsubmitted);
            if (r == 0)
                break;
        } else if (r == -EINTR) {
            continue;
        } else if (r == -EAGAIN || r == -EBUSY) {
            break; /* the kernel is short of resources: try again after reaping */
        } else {
            set_error("io_uring_submit: %s", strerror(-r));
            return r;
        }
    }
    return 0;
}
#endif

/* ---- the owner's side ----------------------------------------------------------------- */

static void ctx_complete(struct ioq *q, struct ioq_ctx *c)
{
    q->in_flight--;
    list_push(&q->done, c);
}

/* Issue queued requests, demand first, while fewer than depth are in flight. */
static int pump(struct ioq *q)
{
    struct ctx_list to_threads = {0};
    uint32_t n_threads = 0;
    while (q->in_flight < q->p.depth) {
        struct ioq_ctx *c = list_pop(&q->queued[IOQ_DEMAND]);
        if (!c)
            c = list_pop(&q->queued[IOQ_PREFETCH]);
        if (!c)
            break;
        q->in_flight++;
        if (c->threads) {
            q->in_flight_threads++;
            list_push(&to_threads, c);
            n_threads++;
        } else {
#ifdef HYPURA_URING
            q->in_flight_uring++;
            uring_prep(q, c);
#endif
        }
    }
    if (n_threads) { /* in priority order, woken one per request */
        pthread_mutex_lock(&q->mu);
        list_splice(&q->work, &to_threads);
        if (n_threads == 1)
            pthread_cond_signal(&q->cv_work);
        else
            pthread_cond_broadcast(&q->cv_work);
        pthread_mutex_unlock(&q->mu);
    }
#ifdef HYPURA_URING
    if (q->have_ring)
        return uring_flush(q);
#endif
    return 0;
}

/* Collect what the backends finished, without waiting. */
static void harvest(struct ioq *q)
{
#ifdef HYPURA_URING
    if (q->in_flight_uring) {
        struct io_uring_cqe *cqe;
        while (io_uring_peek_cqe(&q->ring, &cqe) == 0) {
            struct ioq_ctx *c = io_uring_cqe_get_data(cqe);
            int res = cqe->res;
            io_uring_cqe_seen(&q->ring, cqe);
            if (q->p.test_fault)
                res = uring_fault(q, res);
            if (ctx_step(c, res, q->p.eio_retries, c->r.file->direct) == STEP_AGAIN) {
                uring_prep(q, c); /* keeps its place in flight */
            } else {
                q->in_flight_uring--;
                ctx_complete(q, c);
            }
        }
    }
#endif
    if (q->in_flight_threads) {
        struct ctx_list got = {0};
        pthread_mutex_lock(&q->mu);
        list_splice(&got, &q->thread_done);
        pthread_mutex_unlock(&q->mu);
        for (struct ioq_ctx *c; (c = list_pop(&got));) {
            q->in_flight_threads--;
            ctx_complete(q, c);
        }
    }
}

/* Block until some backend has something to harvest. */
static int wait_some(struct ioq *q)
{
#ifdef HYPURA_URING
    if (q->in_flight_uring) {
        struct io_uring_cqe *cqe;
        int r;
        if (q->unsubmitted) {
            /* the kernel was short of resources at the last submit: submit and wait in
             * one call (never wait on entries the kernel has not seen) */
            r = io_uring_submit_and_wait(&q->ring, 1);
            if (r >= 0)
                q->unsubmitted -= HY_MIN((uint32_t)r, q->unsubmitted);
            else if (r != -EINTR && r != -EAGAIN && r != -EBUSY) {
                set_error("io_uring_submit_and_wait: %s", strerror(-r));
                return r;
            }
            return 0;
        }
        if (q->in_flight_threads) {
            /* both backends busy (a file without a descriptor among real ones): poll the
             * ring briefly, then look at the threads again */
            struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = 1000 * 1000};
            r = io_uring_wait_cqe_timeout(&q->ring, &cqe, &ts);
            if (r == -ETIME)
                r = 0;
        } else {
            r = io_uring_wait_cqe(&q->ring, &cqe);
        }
        if (r < 0 && r != -EINTR && r != -EAGAIN) {
            set_error("io_uring_wait_cqe: %s", strerror(-r));
            return r;
        }
        return 0;
    }
#endif
    if (q->in_flight_threads) {
        pthread_mutex_lock(&q->mu);
        while (!q->thread_done.head)
            pthread_cond_wait(&q->cv_done, &q->mu);
        pthread_mutex_unlock(&q->mu);
    }
    return 0;
}

/* Harvest and issue; if block and nothing is done yet, wait once and do it again. */
static int progress(struct ioq *q, bool block)
{
    harvest(q);
    int rc = pump(q);
    if (rc)
        return rc;
    if (block && !q->done.head && q->in_flight) {
        rc = wait_some(q);
        if (rc)
            return rc;
        harvest(q);
        rc = pump(q);
    }
    return rc;
}

int ioq_new(const struct ioq_params *p, struct ioq **out)
{
    *out = NULL;
    struct ioq_params d = p ? *p : ioq_default_params();
    if (d.depth == 0 || d.depth > IOQ_MAX_DEPTH) {
        set_error("depth %u out of range 1..%u", d.depth, IOQ_MAX_DEPTH);
        return -EINVAL;
    }
    struct ioq *q = calloc(1, sizeof *q);
    if (!q) {
        set_error("out of memory");
        return -ENOMEM;
    }
    q->p = d;
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv_work, NULL);
    pthread_cond_init(&q->cv_done, NULL);
    q->backend = IOQ_THREADS;
    if (d.backend != IOQ_THREADS) {
#ifdef HYPURA_URING
        unsigned entries = 1;
        while (entries < d.depth)
            entries <<= 1;
        int r = io_uring_queue_init(entries, &q->ring, 0);
        if (r == 0) {
            q->have_ring = true;
            q->backend = IOQ_URING;
        } else if (d.backend == IOQ_URING) {
            set_error("io_uring unavailable: %s", strerror(-r));
            ioq_free(q);
            return -ENOSYS;
        } else {
            LOG_INFO("io_uring unavailable (%s): pread threads serve the read queue",
                     strerror(-r));
        }
#else
        if (d.backend == IOQ_URING) {
            set_error("built without io_uring (liburing)");
            ioq_free(q);
            return -ENOSYS;
        }
#endif
    }
    if (q->backend == IOQ_THREADS) {
        int rc = threads_start(q);
        if (rc) {
            ioq_free(q);
            return rc;
        }
    }
    *out = q;
    return 0;
}

/* Is r a request we can serve? Sets *threads to the backend that would serve it. */
static int req_check(struct ioq *q, const struct ioq_req *r, bool *threads)
{
    struct file *f = r->file;
    size_t need = r->need ? r->need : r->len;
    uint64_t end;
    if (!f || (!r->buf && r->len) || need > r->len ||
        (r->prio != IOQ_DEMAND && r->prio != IOQ_PREFETCH)) {
        set_error("bad request (file %p, buf %p, len %zu, need %zu)", (void *)f, r->buf, r->len,
               r->need);
        return -EINVAL;
    }
    if (add_overflow_u64(r->off, r->len, &end)) {
        set_error("read of %zu bytes at offset %llu overflows", r->len, (unsigned long long)r->off);
        return -EOVERFLOW;
    }
    if (f->direct && f->align > 1 &&
        (((uintptr_t)r->buf | r->off | r->len) & (uint64_t)(f->align - 1))) {
        set_error("%s: read of %zu bytes at offset %llu into %p is not aligned to %u for direct "
               "I/O (widen it with file_widen)",
               f->path, r->len, (unsigned long long)r->off, r->buf, f->align);
        return -EINVAL;
    }
    *threads = true;
#ifdef HYPURA_URING
    *threads = !q->have_ring || f->fd < 0;
#endif
    return *threads ? threads_start(q) : 0;
}

int ioq_submit_n(struct ioq *q, const struct ioq_req *reqs, int n)
{
    /* check everything and take every context first, so that a batch is queued whole or
     * not at all */
    struct ctx_list got = {0};
    int rc = 0;
    for (int i = 0; i < n && !rc; i++) {
        bool threads;
        rc = req_check(q, &reqs[i], &threads);
        if (rc)
            break;
        struct ioq_ctx *c = q->free_ctx;
        if (c) {
            q->free_ctx = c->next;
        } else if (!(c = malloc(sizeof *c))) {
            set_error("out of memory");
            rc = -ENOMEM;
            break;
        }
        *c = (struct ioq_ctx){.r = reqs[i], .threads = threads};
        c->r.need = reqs[i].need ? reqs[i].need : reqs[i].len;
        list_push(&got, c);
    }
    if (rc) {
        for (struct ioq_ctx *c; (c = list_pop(&got));) {
            c->next = q->free_ctx;
            q->free_ctx = c;
        }
        return rc;
    }
    for (struct ioq_ctx *c; (c = list_pop(&got));) {
        q->outstanding++;
        if (c->r.len == 0)
            list_push(&q->done, c); /* nothing to read: complete at once */
        else
            list_push(&q->queued[c->r.prio], c);
    }
    /* queued: from here on the batch belongs to the queue. A failure to hand it to the
     * kernel now recurs, and is reported, in ioq_reap, which retries it. */
    (void)pump(q);
    return 0;
}

int ioq_submit(struct ioq *q, const struct ioq_req *r)
{
    return ioq_submit_n(q, r, 1);
}

int ioq_reap(struct ioq *q, struct ioq_cqe *out, int max, int min)
{
    if (max <= 0)
        return 0;
    min = HY_MIN(min, max);
    if ((uint32_t)HY_MAX(min, 0) > q->outstanding)
        min = (int)q->outstanding;
    int n = 0;
    bool reported = false;
    for (;;) {
        int rc = progress(q, n < min);
        for (struct ioq_ctx *c; n < max && (c = list_pop(&q->done));) {
            out[n++] = (struct ioq_cqe){.tag = c->r.tag, .status = c->status, .bytes = c->done,
                                        .err_off = c->err_off, .eof = c->eof};
            if (c->status && !reported) {
                reported = true;
                set_error("%s: read of %zu bytes at offset %llu failed at offset %llu: %s",
                       c->r.file->path, c->r.len, (unsigned long long)c->r.off,
                       (unsigned long long)c->err_off,
                       c->eof ? "unexpected end of file" : strerror(-c->status));
            }
            q->outstanding--;
            c->next = q->free_ctx;
            q->free_ctx = c;
        }
        if (rc)
            return n ? n : rc;
        if (n >= min)
            return n;
    }
}

void ioq_cancel(struct ioq *q)
{
    for (int p = 0; p < 2; p++)
        for (struct ioq_ctx *c; (c = list_pop(&q->queued[p]));) {
            c->status = -ECANCELED;
            c->err_off = c->r.off;
            list_push(&q->done, c);
        }
}

int ioq_drain(struct ioq *q)
{
    while (q->in_flight || q->queued[0].head || q->queued[1].head) {
        harvest(q);
        int rc = pump(q);
        if (!rc && q->in_flight)
            rc = wait_some(q);
        if (rc)
            return rc;
    }
    return 0;
}

void ioq_free(struct ioq *q)
{
    if (!q)
        return;
    ioq_cancel(q);
    if (ioq_drain(q) != 0) {
        /* io_uring itself failed (never seen): the threads finish their reads before they
         * are joined, but the kernel may still complete ring reads after the ring is
         * closed below, so a caller freeing buffers now would be at risk. Log it. */
        LOG_WARN("read queue: draining failed (%s); buffers may still be written",
                 hy_last_error());
    }
    threads_stop(q);
#ifdef HYPURA_URING
    if (q->have_ring)
        io_uring_queue_exit(&q->ring);
#endif
    struct ctx_list all[] = {q->done, q->work, q->thread_done};
    for (size_t i = 0; i < HY_ARRAY_LEN(all); i++)
        for (struct ioq_ctx *c; (c = list_pop(&all[i]));)
            free(c);
    for (struct ioq_ctx *c = q->free_ctx, *n; c; c = n) {
        n = c->next;
        free(c);
    }
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv_work);
    pthread_cond_destroy(&q->cv_done);
    free(q);
}

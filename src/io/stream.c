/* The streamer: an I/O thread keeps the next units of the cycle in slots. See stream.h. */
#include "io/stream.h"
#include "util/common.h"
#include "util/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Tensors closer than this in the file are read as one extent (the gap is read too):
 * fewer, larger requests are faster than skipping a norm vector. */
#define STREAM_GAP_MAX (256u << 10)
#define STREAM_MAX_EXT 16
#define STREAM_REAP 64
#define STREAM_MAX_HINT 512
/* Victim keys (pick_slot): a unit read on hint that no pending hint names is needed at an
 * unknown time, after everything the hints and the schedule foresee. */
#define KEY_UNKNOWN ((int64_t)1 << 40)

enum unit_state { U_IDLE = 0, U_INFLIGHT, U_READY, U_FAILED };

struct extent {
    uint64_t off, len;        /* wanted bytes in the file */
    struct file_span span;    /* widened for direct I/O */
    uint64_t slot_off;        /* where span.off lands in the slot */
};

struct sunit {
    int n_ext;
    struct extent ext[STREAM_MAX_EXT];
    uint64_t bytes;           /* slot bytes it needs */
    enum unit_state st;
    int slot;                 /* -1 when in no slot */
    int pending;              /* requests not yet completed */
    int pins;                 /* acquires not yet released */
    bool on_hint;             /* read only when a hint names it */
    int hint_at;              /* its place in the pending hints, -1 when none names it */
    uint64_t last_use;        /* tick of its last acquire (least recently used goes first) */
    int err;
    char errmsg[256];
};

struct sslot {
    uint8_t *buf;
    int unit;                 /* -1 when empty */
};

/* The slots are two classes: [0, n_slots) for the schedule's units, then n_hint_slots for
 * units read on hint (a layer's experts), so neither evicts the other. With no hint slots
 * both kinds share the first class. */

struct streamer {
    struct file *f;
    bool own_file;
    struct ioq *q;
    struct stream_params p;
    struct sunit *u;
    int n_units;
    struct sslot *slots;      /* (n_slots + n_hint_slots) */
    uint8_t *pool;
    uint64_t slot_bytes, pool_bytes;
    uint64_t hint_slot_bytes; /* bytes of a hint slot */

    pthread_t io;
    bool io_started;
    pthread_mutex_t mu;
    pthread_cond_t cv_done;   /* a unit became ready or failed */
    pthread_cond_t cv_work;   /* the I/O thread has something to do */
    bool stop;
    int cursor;               /* the unit the forward pass is at (its last acquire), -1 */
    int hint[STREAM_MAX_HINT];/* units named by the last stream_hint ... */
    int n_hint, hint_head;    /* ... and the first of them not yet acquired */
    uint64_t tick;            /* acquires so far (the clock of last_use) */
    int demand;               /* unit compute waits for, -1 */
    int fatal;                /* the read queue failed: nothing streams any more */
    char fatal_msg[256];
    uint64_t bytes0;          /* file bytes_read at creation */
    double stall_s;
    uint64_t n_acquires, n_out_of_schedule, n_demand;
};

struct stream_params stream_default_params(void)
{
    struct stream_params p = {.n_slots = 3, .prefetch_depth = 2, .io_depth = 8,
                              .chunk_bytes = 4u << 20, .backend = IOQ_AUTO};
    return p;
}

static int cmp_tensor_off(const void *a, const void *b)
{
    const struct stream_tensor *x = *(struct stream_tensor *const *)a;
    const struct stream_tensor *y = *(struct stream_tensor *const *)b;
    if (x->unit != y->unit)
        return x->unit < y->unit ? -1 : 1;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* Group tensors into units and extents; compute slot layout and offsets. */
static int layout(struct streamer *s, struct stream_tensor *t, int n_t)
{
    int n_units = 0;
    for (int i = 0; i < n_t; i++) {
        if (t[i].unit < 0 || t[i].len == 0) {
            set_error("bad stream tensor %d", i);
            return -EINVAL;
        }
        n_units = HY_MAX(n_units, t[i].unit + 1);
    }
    s->n_units = n_units;
    s->u = calloc((size_t)HY_MAX(n_units, 1), sizeof *s->u);
    struct stream_tensor **order = malloc(sizeof *order * (size_t)HY_MAX(n_t, 1));
    if (!s->u || !order) {
        free(order);
        set_error("out of memory");
        return -ENOMEM;
    }
    for (int i = 0; i < n_units; i++) {
        s->u[i].slot = -1;
        s->u[i].hint_at = -1;
    }
    for (int i = 0; i < n_t; i++)
        order[i] = &t[i];
    qsort(order, (size_t)n_t, sizeof *order, cmp_tensor_off);
    for (int i = 0; i < n_t; i++) {
        struct stream_tensor *x = order[i];
        struct sunit *u = &s->u[x->unit];
        u->on_hint |= x->on_hint;
        struct extent *e = u->n_ext ? &u->ext[u->n_ext - 1] : NULL;
        if (e && x->off >= e->off + e->len && x->off - (e->off + e->len) <= STREAM_GAP_MAX) {
            e->len = x->off + x->len - e->off;
        } else if (e && x->off + x->len <= e->off + e->len && x->off >= e->off) {
            /* inside the previous extent (overlapping tensors): nothing to add */
        } else {
            if (u->n_ext == STREAM_MAX_EXT) {
                free(order);
                set_error("unit %d has more than %d separate pieces", x->unit, STREAM_MAX_EXT);
                return -EINVAL;
            }
            u->ext[u->n_ext++] = (struct extent){.off = x->off, .len = x->len};
        }
    }
    uint32_t align = s->f->align ? s->f->align : 1;
    for (int i = 0; i < n_units; i++) {
        struct sunit *u = &s->u[i];
        if (!u->n_ext) {
            free(order);
            set_error("unit %d has no tensors", i);
            return -EINVAL;
        }
        uint64_t off = 0;
        for (int e = 0; e < u->n_ext; e++) {
            struct extent *x = &u->ext[e];
            int rc = file_widen(x->off, x->len, align, &x->span);
            if (rc) {
                free(order);
                return rc;
            }
            x->slot_off = off;
            off += x->span.len;
        }
        u->bytes = off;
        if (u->on_hint && s->p.n_hint_slots)
            s->hint_slot_bytes = HY_MAX(s->hint_slot_bytes, off);
        else
            s->slot_bytes = HY_MAX(s->slot_bytes, off);
    }
    /* each tensor's place in its unit's slot */
    for (int i = 0; i < n_t; i++) {
        struct sunit *u = &s->u[t[i].unit];
        for (int e = 0; e < u->n_ext; e++) {
            struct extent *x = &u->ext[e];
            if (t[i].off >= x->off && t[i].off + t[i].len <= x->off + x->len) {
                t[i].unit_off = x->slot_off + x->span.skip + (t[i].off - x->off);
                break;
            }
        }
    }
    free(order);
    return 0;
}

/* ---- the I/O thread (holds mu except around ioq_reap) ---- */

static int cycle_dist(const struct streamer *s, int from, int to)
{
    return ((to - from) % s->n_units + s->n_units) % s->n_units;
}

/* The unit the schedule visits after u (u = -1: the first), skipping those read only on
 * a hint; -1 if every unit is. */
static int next_scheduled(const struct streamer *s, int u)
{
    for (int k = 1; k <= s->n_units; k++) {
        int v = (u + k) % s->n_units;
        if (!s->u[v].on_hint)
            return v;
    }
    return -1;
}

/* How far in the future unit v is needed (larger: later): the pending hints first, in
 * their order, then the schedule by its cyclic distance from the cursor (the unit just
 * used: only after a whole cycle); a unit read on hint that no pending hint names at an
 * unknown time after all of those, the least recently used the furthest. */
static int64_t need_key(const struct streamer *s, int v)
{
    const struct sunit *x = &s->u[v];
    if (x->hint_at >= 0)
        return x->hint_at - s->hint_head;
    if (x->on_hint)
        return KEY_UNKNOWN + (int64_t)(s->tick - x->last_use);
    int d = v == s->cursor ? s->n_units : cycle_dist(s, s->cursor, v);
    return (s->n_hint - s->hint_head) + d;
}

/* A slot of unit u's class for it, or -1: empty first, else the one whose unit is needed
 * furthest in the future (and later than u; for a demand read, any), never one in use,
 * being read or waited for. */
static int pick_slot(struct streamer *s, int u, bool demand)
{
    bool hint_class = s->u[u].on_hint && s->p.n_hint_slots > 0;
    int lo = hint_class ? s->p.n_slots : 0;
    int hi = hint_class ? s->p.n_slots + s->p.n_hint_slots : s->p.n_slots;
    int best = -1;
    int64_t best_k = -1, ku = demand ? -1 : need_key(s, u);
    for (int i = lo; i < hi; i++) {
        int v = s->slots[i].unit;
        if (v < 0)
            return i;
        const struct sunit *x = &s->u[v];
        /* the demanded unit is the cursor before it is acquired: it was not "just used",
         * and evicting it as soon as it arrives would read it again, forever */
        if (x->pins || x->st == U_INFLIGHT || v == s->demand)
            continue;
        int64_t k = need_key(s, v);
        if (k > ku && k > best_k) {
            best = i;
            best_k = k;
        }
    }
    return best;
}

static int issue(struct streamer *s, int ui, enum ioq_prio prio)
{
    struct sunit *u = &s->u[ui];
    int slot = pick_slot(s, ui, prio == IOQ_DEMAND);
    if (slot < 0)
        return -EBUSY;
    if (s->slots[slot].unit >= 0) {
        struct sunit *old = &s->u[s->slots[slot].unit];
        old->slot = -1;
        old->st = U_IDLE;
    }
    s->slots[slot].unit = ui;
    u->slot = slot;
    u->st = U_INFLIGHT;
    u->pending = 0;
    u->err = 0;
    uint8_t *base = s->slots[slot].buf;
    for (int e = 0; e < u->n_ext; e++) {
        const struct extent *x = &u->ext[e];
        uint64_t need_end = x->span.skip + x->len; /* bytes of the span that must arrive */
        for (uint64_t o = 0; o < x->span.len; o += s->p.chunk_bytes) {
            uint64_t len = HY_MIN(s->p.chunk_bytes, x->span.len - o);
            uint64_t need = need_end > o ? HY_MIN(len, need_end - o) : 0;
            struct ioq_req r = {.file = s->f, .buf = base + x->slot_off + o, .len = (size_t)len,
                                .need = (size_t)need, .off = x->span.off + o,
                                .tag = (uint64_t)ui, .prio = prio};
            int rc = ioq_submit(s->q, &r);
            if (rc) {
                u->err = rc;
                snprintf(u->errmsg, sizeof u->errmsg, "cannot queue a read: %s", strerror(-rc));
                if (u->pending == 0) {
                    /* nothing of it in flight: fail it now (else complete() will) */
                    u->st = U_FAILED;
                    s->slots[slot].unit = -1;
                    u->slot = -1;
                    pthread_cond_broadcast(&s->cv_done);
                }
                return rc;
            }
            u->pending++;
        }
    }
    return 0;
}

static void complete(struct streamer *s, const struct ioq_cqe *c)
{
    struct sunit *u = &s->u[c->tag];
    if (c->status && !u->err) {
        /* from the completion itself: ioq_reap words only the first failure of a batch */
        u->err = c->status;
        snprintf(u->errmsg, sizeof u->errmsg, "%s: read failed at offset %llu: %s", s->f->path,
                 (unsigned long long)c->err_off,
                 c->eof ? "unexpected end of file" : strerror(-c->status));
    }
    if (--u->pending == 0) {
        u->st = u->err ? U_FAILED : U_READY;
        if (u->err) {
            /* the slot's contents are garbage: free it */
            s->slots[u->slot].unit = -1;
            u->slot = -1;
        }
        pthread_cond_broadcast(&s->cv_done);
    }
}

/* Read ahead what comes after the cursor: the hinted units not yet acquired, then the
 * schedule, prefetch_depth units in all (and never the whole cycle). Hinted units with
 * slots of their own are all read at once, as far as those slots allow (a layer's missing
 * experts in flight together), and leave the depth to the schedule. */
static void prefetch(struct streamer *s)
{
    int limit = HY_MIN(s->p.prefetch_depth, s->n_units - 1);
    int pending = s->n_hint - s->hint_head;
    int n_h = s->p.n_hint_slots ? pending : HY_MIN(pending, limit);
    for (int h = s->hint_head; h < s->hint_head + n_h; h++) {
        int v = s->hint[h];
        if (s->u[v].st == U_IDLE && issue(s, v, IOQ_PREFETCH) == -EBUSY)
            break;
    }
    int k = s->p.n_hint_slots ? 0 : n_h;
    for (int v = next_scheduled(s, s->cursor); v >= 0 && k < limit; v = next_scheduled(s, v), k++)
        if (s->u[v].st == U_IDLE && issue(s, v, IOQ_PREFETCH) == -EBUSY)
            return;
}

static void *io_main(void *arg)
{
    struct streamer *s = arg;
    struct ioq_cqe cq[STREAM_REAP];
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        if (s->demand >= 0 && s->u[s->demand].st == U_IDLE)
            issue(s, s->demand, IOQ_DEMAND);
        prefetch(s);
        if (ioq_outstanding(s->q) == 0) {
            pthread_cond_wait(&s->cv_work, &s->mu);
            continue;
        }
        pthread_mutex_unlock(&s->mu);
        int n = ioq_reap(s->q, cq, STREAM_REAP, 1);
        pthread_mutex_lock(&s->mu);
        if (n < 0) {
            /* the queue itself failed (io_uring_submit or wait): reads may still land in
             * their slots, so nothing is issued or reused any more; every acquire fails */
            s->fatal = n;
            snprintf(s->fatal_msg, sizeof s->fatal_msg, "%s", hy_last_error());
            pthread_cond_broadcast(&s->cv_done);
            while (!s->stop)
                pthread_cond_wait(&s->cv_work, &s->mu);
            break;
        }
        for (int i = 0; i < n; i++)
            complete(s, &cq[i]);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- public ---- */

static int stream_init(struct streamer *s, struct stream_tensor *t, int n_t, const struct stream_params *p)
{
    s->p = p ? *p : stream_default_params();
    s->p.n_hint_slots = HY_MAX(s->p.n_hint_slots, 0);
    if (!s->p.chunk_bytes)
        s->p.chunk_bytes = 4u << 20;
    uint32_t align = s->f->align ? s->f->align : 1;
    s->p.chunk_bytes = HY_ALIGN_UP(s->p.chunk_bytes, (uint64_t)align);
    s->demand = -1;
    s->cursor = -1;
    int rc = layout(s, t, n_t);
    if (rc)
        return rc;
    /* the schedule's units need two slots at least; with hint slots of their own, units
     * all read on hint need none */
    bool scheduled = false;
    for (int i = 0; i < s->n_units && !scheduled; i++)
        scheduled = !s->u[i].on_hint || !s->p.n_hint_slots;
    s->p.n_slots = scheduled ? HY_MAX(s->p.n_slots, 2) : 0;
    s->p.prefetch_depth = HY_MAX(0, HY_MIN(s->p.prefetch_depth, s->p.n_slots - 1));
    uint64_t largest = HY_MAX(s->slot_bytes, s->hint_slot_bytes);
    if (s->p.max_slot_bytes && largest > s->p.max_slot_bytes) {
        set_error("a streamed unit needs %llu bytes, more than the %llu-byte slots planned",
               (unsigned long long)largest, (unsigned long long)s->p.max_slot_bytes);
        return -ENOMEM;
    }
    uint64_t page = HY_MAX(align, 4096u);
    s->slot_bytes = HY_ALIGN_UP(s->slot_bytes, page);
    s->hint_slot_bytes = HY_ALIGN_UP(s->hint_slot_bytes, page);
    int n_all = s->p.n_slots + s->p.n_hint_slots;
    s->pool_bytes = s->slot_bytes * (uint64_t)s->p.n_slots + s->hint_slot_bytes * (uint64_t)s->p.n_hint_slots;
    void *pool = mmap(NULL, HY_MAX(s->pool_bytes, page), PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (pool == MAP_FAILED) {
        set_error("cannot allocate the streaming pool (%llu bytes)", (unsigned long long)s->pool_bytes);
        return -ENOMEM;
    }
    s->pool = pool;
    s->slots = calloc((size_t)HY_MAX(n_all, 1), sizeof *s->slots);
    if (!s->slots)
        return -ENOMEM;
    for (int i = 0; i < n_all; i++) {
        s->slots[i].buf = s->pool + (i < s->p.n_slots ? (uint64_t)i * s->slot_bytes
                                                      : s->slot_bytes * (uint64_t)s->p.n_slots +
                                                            (uint64_t)(i - s->p.n_slots) * s->hint_slot_bytes);
        s->slots[i].unit = -1;
    }
    struct ioq_params qp = ioq_default_params();
    qp.backend = s->p.backend;
    qp.depth = s->p.io_depth ? s->p.io_depth : 8;
    if ((rc = ioq_new(&qp, &s->q)))
        return rc;
    s->bytes0 = s->f->bytes_read;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv_done, NULL);
    pthread_cond_init(&s->cv_work, NULL);
    if ((rc = pthread_create(&s->io, NULL, io_main, s))) {
        set_error("cannot start the I/O thread: %s", strerror(rc));
        return -rc;
    }
    s->io_started = true;
    return 0;
}

int stream_new_file(struct streamer **out, struct file *f, struct stream_tensor *t, int n_t,
                    const struct stream_params *p)
{
    *out = NULL;
    struct streamer *s = calloc(1, sizeof *s);
    if (!s) {
        set_error("out of memory");
        return -ENOMEM;
    }
    s->f = f;
    int rc = stream_init(s, t, n_t, p);
    if (rc) {
        stream_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int stream_new(struct streamer **out, const char *path, struct stream_tensor *t, int n_t,
               const struct stream_params *p)
{
    struct file *f;
    *out = NULL;
    int rc = file_open_direct(&f, path);
    if (rc)
        return rc;
    rc = stream_new_file(out, f, t, n_t, p);
    if (rc) {
        file_close(f);
        return rc;
    }
    (*out)->own_file = true;
    return 0;
}

void stream_free(struct streamer *s)
{
    if (!s)
        return;
    if (s->io_started) {
        pthread_mutex_lock(&s->mu);
        s->stop = true;
        pthread_cond_broadcast(&s->cv_work);
        pthread_mutex_unlock(&s->mu);
        pthread_join(s->io, NULL);
        pthread_mutex_destroy(&s->mu);
        pthread_cond_destroy(&s->cv_done);
        pthread_cond_destroy(&s->cv_work);
    }
    ioq_free(s->q); /* waits for reads in flight before the pool goes */
    if (s->pool)
        munmap(s->pool, HY_MAX(s->pool_bytes, 4096));
    free(s->slots);
    free(s->u);
    if (s->own_file)
        file_close(s->f);
    free(s);
}

uint64_t stream_slot_bytes(const struct streamer *s) { return s->slot_bytes; }
uint64_t stream_pool_bytes(const struct streamer *s) { return s->pool_bytes; }

/* An acquire that moves the forward pass to unit ui: was it what the hints, else the
 * schedule, said would come? */
static void account(struct streamer *s, int ui)
{
    s->n_acquires++;
    if (s->hint_head < s->n_hint) {
        if (s->hint[s->hint_head] == ui) {
            s->u[ui].hint_at = -1;
            s->hint_head++;
            return;
        }
        s->n_out_of_schedule++;
        int h = s->u[ui].hint_at;
        if (h >= 0) { /* hinted, but early: it is not coming again */
            memmove(&s->hint[h], &s->hint[h + 1], sizeof s->hint[0] * (size_t)(s->n_hint - h - 1));
            s->n_hint--;
            s->u[ui].hint_at = -1;
            for (int j = h; j < s->n_hint; j++)
                s->u[s->hint[j]].hint_at = j;
        }
        return;
    }
    if (ui != next_scheduled(s, s->cursor))
        s->n_out_of_schedule++;
}

int stream_hint(struct streamer *s, const int *units, int n, bool *ready)
{
    if (n < 0 || n > STREAM_MAX_HINT) {
        set_error("%d hinted units (at most %d)", n, STREAM_MAX_HINT);
        return -EINVAL;
    }
    for (int i = 0; i < n; i++)
        if (units[i] < 0 || units[i] >= s->n_units) {
            set_error("no streaming unit %d", units[i]);
            return -EINVAL;
        }
    pthread_mutex_lock(&s->mu);
    for (int h = s->hint_head; h < s->n_hint; h++)
        s->u[s->hint[h]].hint_at = -1;
    memcpy(s->hint, units, sizeof *units * (size_t)n);
    s->n_hint = n;
    s->hint_head = 0;
    for (int h = n - 1; h >= 0; h--) /* a unit named twice: the first names it */
        s->u[units[h]].hint_at = h;
    for (int h = 0; ready && h < n; h++)
        ready[h] = s->u[units[h]].st == U_READY;
    pthread_cond_signal(&s->cv_work);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

const uint8_t *stream_acquire(struct streamer *s, int ui)
{
    if (ui < 0 || ui >= s->n_units) {
        set_error("no streaming unit %d", ui);
        return NULL;
    }
    struct sunit *u = &s->u[ui];
    pthread_mutex_lock(&s->mu);
    if (u->pins > 0 && u->st == U_READY) {
        /* a second tensor of a unit already acquired (and not yet released) */
        u->pins++;
        const uint8_t *p = s->slots[u->slot].buf;
        pthread_mutex_unlock(&s->mu);
        return p;
    }
    if (s->fatal) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", s->fatal_msg);
        pthread_mutex_unlock(&s->mu);
        set_error("streaming weights failed: %s", msg);
        return NULL;
    }
    if (ui != s->cursor)
        account(s, ui);
    s->cursor = ui;
    u->last_use = ++s->tick;
    if (u->st != U_READY) {
        double t0 = now_seconds();
        s->n_demand++;
        if (u->st == U_FAILED)
            u->st = U_IDLE; /* a later pass may try again */
        s->demand = ui;
        pthread_cond_signal(&s->cv_work);
        while ((u->st == U_IDLE || u->st == U_INFLIGHT) && !s->fatal)
            pthread_cond_wait(&s->cv_done, &s->mu);
        s->demand = -1;
        s->stall_s += now_seconds() - t0;
    }
    if (u->st != U_READY) {
        char msg[256];
        snprintf(msg, sizeof msg, "%s", s->fatal ? s->fatal_msg : u->errmsg);
        pthread_mutex_unlock(&s->mu);
        set_error("streaming weights failed: %s", msg);
        return NULL;
    }
    u->pins++;
    const uint8_t *p = s->slots[u->slot].buf;
    pthread_cond_signal(&s->cv_work); /* the cursor moved: prefetch further */
    pthread_mutex_unlock(&s->mu);
    return p;
}

void stream_release(struct streamer *s, int u)
{
    if (u < 0 || u >= s->n_units)
        return;
    pthread_mutex_lock(&s->mu);
    if (s->u[u].pins > 0 && --s->u[u].pins == 0)
        pthread_cond_signal(&s->cv_work);
    pthread_mutex_unlock(&s->mu);
}

void stream_get_stats(struct streamer *s, struct stream_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    out->bytes = s->f->bytes_read - s->bytes0;
    out->stall_s = s->stall_s;
    out->n_acquires = s->n_acquires;
    out->n_out_of_schedule = s->n_out_of_schedule;
    out->n_demand = s->n_demand;
    pthread_mutex_unlock(&s->mu);
}

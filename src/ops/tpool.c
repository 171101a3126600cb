/* Thread pool; see tpool.h for the contract.
 *
 * A job is n slots: fn(ctx, ith, n) for ith = 0 .. n-1. Slots are claimed through one
 * atomic word, generation << CLAIM_BITS | slots claimed, by whichever thread gets there
 * first: the caller takes slot 0, then, once it is done with it, claims every slot no
 * worker has taken yet and runs those itself. It then waits only for slots a worker has
 * started. A worker the scheduler has not run yet (another process holds its core) so
 * never holds a job up, where a pool that waits for every worker to check in stalls each
 * job for a scheduler time slice (a 2-thread decode of a tiny model on a loaded 2-core
 * machine fell from ~8,700 to 30-40 tok/s). Every user splits its work through an atomic
 * counter (a late slot finds nothing left) or statically by ith (the caller then does the
 * late worker's share), so a slot may run on any thread, one after another.
 *
 * Both kinds of waiting spin for a bounded time with pause instructions, then sleep on a
 * futex (a condition variable where there is none): workers between jobs, and the caller
 * for started slots still running. The spin keeps the hand-off between the short jobs of
 * a decode step in the microseconds; the sleep gives the core back, and lets the thread
 * being waited for run on it, when the machine is busy, which is when a spin would go on
 * longest. llama.cpp's ggml threadpool polls then waits on a condition variable the same
 * way between graphs.
 *
 * Not owned here: what the jobs compute (ops.h), how many threads (the caller). */
#include "ops/tpool.h"
#include "util/log.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#if defined(__x86_64__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield")
#else
#define cpu_relax() ((void)0)
#endif

/* How long a waiting thread spins before it sleeps, in ns. Workers: longer than the serial
 * gaps between the jobs of a decode step and between two tokens (microseconds to a few
 * hundred), so a busy pool never pays a wake-up; a pool left idle sleeps within 0.2 ms.
 * The caller waits only for slots already running, which on an idle machine finish within
 * a few microseconds of its own; a longer wait means the slot's thread lost its core, and
 * sleeping at once hands it ours. */
#define TPOOL_SPIN_WORKER_NS 200000
#define TPOOL_SPIN_CALLER_NS 20000
/* pause instructions between two reads of the clock (a pause is 10-40 ns, a read ~30 ns) */
#define TPOOL_SPIN_CHECK 64

#define CLAIM_BITS 16
#define CLAIM_MASK ((UINT64_C(1) << CLAIM_BITS) - 1)
#define TPOOL_MAX_THREADS 4096   /* slots must fit CLAIM_BITS */

struct worker {
    struct tpool *p;
};

struct tpool {
    int n;                          /* threads, the caller included */
    pthread_t *th;                  /* (n - 1) */
    struct worker *w;               /* (n - 1) */
    uint64_t gen;                   /* the caller's: generation of the last job */
    _Atomic bool stop;
    _Atomic uint32_t seq;           /* bumped to wake sleeping workers: the futex word */
    /* One cache line for what changes with every job, so that a hand-off between two
     * threads moves one line. fn and ctx are written before the job's generation is
     * published and read only by a thread that claimed one of its slots. */
    _Alignas(64) _Atomic uint64_t claim;  /* gen << CLAIM_BITS | slots claimed */
    tpool_fn fn;
    void *ctx;
    _Atomic uint32_t pending;             /* slots of the current job not finished */
    _Atomic int caller_sleeping;          /* the caller sleeps on pending */
    _Atomic int n_sleeping;               /* workers asleep on seq, or about to be */
#ifndef __linux__
    _Alignas(64) pthread_mutex_t mu;
    pthread_cond_t cv;
#endif
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- sleeping on a word: futex(2), or a condition variable ------------------------------- */

/* Sleeps while *word == val; may return early (callers re-check). */
static void park(struct tpool *p, _Atomic uint32_t *word, uint32_t val)
{
#ifdef __linux__
    (void)p;
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, val, NULL, NULL, 0);
#else
    pthread_mutex_lock(&p->mu);
    while (atomic_load(word) == val)
        pthread_cond_wait(&p->cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
#endif
}

/* Wakes every thread parked on word; call after changing it. */
static void unpark(struct tpool *p, _Atomic uint32_t *word)
{
#ifdef __linux__
    (void)p;
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
#else
    (void)word;
    pthread_mutex_lock(&p->mu);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
#endif
}

/* ---- running slots -------------------------------------------------------------------- */

/* Claims and runs slots of the job whose claim word was s, until none is left or a newer
 * job replaced it. The thread that finishes the last slot wakes a sleeping caller. */
static void run_slots(struct tpool *p, uint64_t s)
{
    const uint64_t gen = s >> CLAIM_BITS;
    for (;;) {
        if (s >> CLAIM_BITS != gen || (s & CLAIM_MASK) >= (uint64_t)p->n)
            return;
        if (!atomic_compare_exchange_weak(&p->claim, &s, s + 1))
            continue; /* s now holds the current word */
        p->fn(p->ctx, (int)(s & CLAIM_MASK), p->n);
        if (atomic_fetch_sub(&p->pending, 1) == 1 && atomic_load(&p->caller_sleeping))
            unpark(p, &p->pending);
        s = atomic_load(&p->claim);
    }
}

/* A worker: the claim word of the first job newer than generation `last` (tpool_free
 * publishes one too, with no slot left, after setting stop). */
static uint64_t wait_job(struct tpool *p, uint64_t last)
{
    uint64_t s;
    uint64_t deadline = now_ns() + TPOOL_SPIN_WORKER_NS;
    for (unsigned i = 1;; i++) {
        s = atomic_load_explicit(&p->claim, memory_order_acquire);
        if (s >> CLAIM_BITS != last)
            return s;
        cpu_relax();
        if (i % TPOOL_SPIN_CHECK == 0 && now_ns() > deadline)
            break;
    }
    for (;;) {
        /* Announce the sleep, then take the futex value, then look a last time. tpool_run
         * stores the claim word, then reads n_sleeping, and bumps seq if it is not 0: it
         * either sees us, so seq moves past q and the futex cannot sleep through the
         * bump, or its claim word is visible to our last look (all seq_cst). */
        atomic_fetch_add(&p->n_sleeping, 1);
        uint32_t q = atomic_load(&p->seq);
        s = atomic_load(&p->claim);
        if (s >> CLAIM_BITS == last)
            park(p, &p->seq, q);
        atomic_fetch_sub(&p->n_sleeping, 1);
        s = atomic_load(&p->claim);
        if (s >> CLAIM_BITS != last)
            return s;
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct tpool *p = w->p;
    uint64_t last = 0;
    for (;;) {
        uint64_t s = wait_job(p, last);
        if (atomic_load(&p->stop))
            return NULL;
        last = s >> CLAIM_BITS;
        run_slots(p, s);
    }
}

/* The caller: returns once every slot of the current job has finished. */
static void wait_done(struct tpool *p)
{
    uint64_t deadline = now_ns() + TPOOL_SPIN_CALLER_NS;
    for (unsigned i = 1;; i++) {
        if (atomic_load_explicit(&p->pending, memory_order_acquire) == 0)
            return;
        cpu_relax();
        if (i % TPOOL_SPIN_CHECK == 0 && now_ns() > deadline)
            break;
    }
    for (;;) {
        /* the flag before the last look: the thread that brings pending to 0 reads the
         * flag after its decrement; one of the two sees the other (all seq_cst) */
        atomic_store(&p->caller_sleeping, 1);
        uint32_t v = atomic_load(&p->pending);
        if (v != 0)
            park(p, &p->pending, v);
        atomic_store(&p->caller_sleeping, 0);
        if (atomic_load(&p->pending) == 0)
            return;
    }
}

/* ---- the API -------------------------------------------------------------------------- */

int tpool_new(struct tpool **out, int n_threads)
{
    *out = NULL;
    if (n_threads < 1)
        n_threads = 1;
    if (n_threads > TPOOL_MAX_THREADS) {
        set_error("%d threads: at most %d", n_threads, TPOOL_MAX_THREADS);
        return -EINVAL;
    }
    struct tpool *p = calloc(1, sizeof *p);
    if (!p) {
        set_error("out of memory");
        return -ENOMEM;
    }
    p->n = n_threads;
#ifndef __linux__
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
#endif
    p->th = calloc((size_t)n_threads, sizeof *p->th);
    p->w = calloc((size_t)n_threads, sizeof *p->w);
    if (!p->th || !p->w) {
        p->n = 1;
        tpool_free(p);
        set_error("out of memory");
        return -ENOMEM;
    }
    for (int i = 1; i < n_threads; i++) {
        p->w[i - 1] = (struct worker){.p = p};
        int rc = pthread_create(&p->th[i - 1], NULL, worker_main, &p->w[i - 1]);
        if (rc) {
            p->n = i; /* only join what started */
            tpool_free(p);
            set_error("cannot start thread: %s", strerror(rc));
            return -rc;
        }
    }
    *out = p;
    return 0;
}

/* Publishes generation gen + 1 with `claimed` slots already taken and wakes sleeping
 * workers. */
static void publish(struct tpool *p, uint32_t claimed)
{
    p->gen++;
    atomic_store(&p->claim, p->gen << CLAIM_BITS | claimed);
    if (atomic_load(&p->n_sleeping) > 0) {
        atomic_fetch_add(&p->seq, 1);
        unpark(p, &p->seq);
    }
}

void tpool_free(struct tpool *p)
{
    if (!p)
        return;
    if (p->n > 1) {
        atomic_store(&p->stop, true);
        publish(p, (uint32_t)p->n); /* a job with no slot left: workers see stop */
    }
    for (int i = 1; i < p->n; i++)
        pthread_join(p->th[i - 1], NULL);
#ifndef __linux__
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
#endif
    free(p->th);
    free(p->w);
    free(p);
}

int tpool_size(const struct tpool *p)
{
    return p->n;
}

void tpool_run(struct tpool *p, tpool_fn fn, void *ctx)
{
    if (p->n == 1) {
        fn(ctx, 0, 1);
        return;
    }
    p->fn = fn;
    p->ctx = ctx;
    atomic_store(&p->pending, (uint32_t)p->n);
    publish(p, 1); /* slot 0 is ours */
    fn(ctx, 0, p->n);
    atomic_fetch_sub(&p->pending, 1);
    run_slots(p, atomic_load(&p->claim));
    wait_done(p);
}

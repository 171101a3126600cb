/* Thread pool: a generation counter wakes the workers; see tpool.h. */
#include "ops/tpool.h"
#include "util/log.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define cpu_relax() _mm_pause()
#elif defined(__aarch64__)
#define cpu_relax() __asm__ __volatile__("yield")
#else
#define cpu_relax() ((void)0)
#endif

/* Spins before a worker sleeps: long enough to cover the gap between two ops of a
 * decode step, short enough not to burn a core while the process waits on I/O. */
#define TPOOL_SPIN 20000

struct worker {
    struct tpool *p;
    int ith;
};

struct tpool {
    int n;                       /* threads including the caller */
    pthread_t *th;               /* (n - 1) */
    struct worker *w;            /* (n - 1) */
    _Atomic unsigned long gen;   /* bumped once per job */
    _Atomic int done;            /* workers finished with the current job */
    _Atomic int n_sleeping;
    _Atomic bool stop;
    tpool_fn fn;
    void *ctx;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct tpool *p = w->p;
    unsigned long seen = 0;
    for (;;) {
        int spins = 0;
        while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop) && spins < TPOOL_SPIN) {
            cpu_relax();
            spins++;
        }
        if (atomic_load(&p->gen) == seen && !atomic_load(&p->stop)) {
            pthread_mutex_lock(&p->mu);
            atomic_fetch_add(&p->n_sleeping, 1);
            while (atomic_load(&p->gen) == seen && !atomic_load(&p->stop))
                pthread_cond_wait(&p->cv, &p->mu);
            atomic_fetch_sub(&p->n_sleeping, 1);
            pthread_mutex_unlock(&p->mu);
        }
        if (atomic_load(&p->stop))
            return NULL;
        seen = atomic_load(&p->gen);
        p->fn(p->ctx, w->ith, p->n);
        atomic_fetch_add(&p->done, 1);
    }
}

int tpool_new(struct tpool **out, int n_threads)
{
    *out = NULL;
    if (n_threads < 1)
        n_threads = 1;
    struct tpool *p = calloc(1, sizeof *p);
    if (!p) {
        set_error("out of memory");
        return -ENOMEM;
    }
    p->n = n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->th = calloc((size_t)n_threads, sizeof *p->th);
    p->w = calloc((size_t)n_threads, sizeof *p->w);
    if (!p->th || !p->w) {
        tpool_free(p);
        set_error("out of memory");
        return -ENOMEM;
    }
    for (int i = 1; i < n_threads; i++) {
        p->w[i - 1] = (struct worker){.p = p, .ith = i};
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

void tpool_free(struct tpool *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    atomic_store(&p->stop, true);
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 1; i < p->n; i++)
        pthread_join(p->th[i - 1], NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
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
    atomic_store(&p->done, 0);
    atomic_fetch_add(&p->gen, 1);
    if (atomic_load(&p->n_sleeping) > 0) {
        pthread_mutex_lock(&p->mu);
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
    }
    fn(ctx, 0, p->n);
    int spins = 0;
    while (atomic_load(&p->done) < p->n - 1) {
        cpu_relax();
        if (++spins > TPOOL_SPIN) {
            sched_yield();
            spins = 0;
        }
    }
}

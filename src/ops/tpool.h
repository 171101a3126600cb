/* A pool of compute threads. tpool_run(fn) calls fn(ctx, ith, nth) on every thread (the
 * caller is thread 0) and returns when all have returned; fn splits the work itself
 * (statically by ith, or through an atomic counter for balance). Workers spin briefly
 * between jobs (decode issues thousands of short jobs per second) and then sleep.
 *
 * Not owned here: what the jobs compute (ops.h). */
#ifndef HY_OPS_TPOOL_H
#define HY_OPS_TPOOL_H

struct tpool;

typedef void (*tpool_fn)(void *ctx, int ith, int nth);

/* n_threads counts the caller. Returns 0 or a negative status. */
int tpool_new(struct tpool **out, int n_threads);
void tpool_free(struct tpool *p);
int tpool_size(const struct tpool *p);
void tpool_run(struct tpool *p, tpool_fn fn, void *ctx);

#endif

/* A pool of compute threads. tpool_run(fn) calls fn(ctx, ith, nth) once for every ith in
 * 0 .. nth-1 (nth = tpool_size) and returns when all have returned; fn splits the work
 * itself (statically by ith, or through an atomic counter for balance). The caller runs
 * ith 0 and any ith no worker has picked up by the time it is done, so a call may run on
 * any thread, several of them one after another on the same thread: fn must not wait for
 * another ith (no barrier inside a job) nor tie per-thread state to ith. Waiting threads
 * spin briefly, then sleep (tpool.c says why).
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

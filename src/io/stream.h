/* The streamer: carries weights the plan left on disk into a pool of RAM slots, ahead of
 * the compute that needs them.
 *
 * Streamed tensors are grouped into units (the runtime makes each unit a chunk of rows of
 * one matrix; tensors sharing a unit that lie close in the file are read as one range,
 * gap included). Units are numbered in the order of the schedule, the order a forward
 * pass visits them, which repeats every pass, so the streamer knows what comes next:
 * while the CPU computes with unit u, an I/O thread reads the next units of the schedule
 * into free slots through the asynchronous queue (ioq.h), with direct I/O so the page
 * cache does not grow. Some units are read only when chosen at run time (a layer's
 * experts, chosen by its router): the schedule skips them unless a hint (stream_hint:
 * "these units next") names them, and then they come before the rest of the cycle; they
 * may have slots of their own, which then keep the units hinted before as a
 * least-recently-used cache. An acquire of anything else than what the schedule and the
 * hints said is counted as out of schedule: it means the prefetcher read the wrong
 * units. Rules (the seed project's bugs, not repeated):
 * a unit is ready only when every byte of it has arrived; a slot whose unit is in use
 * (acquired and not yet released) is never reused; a unit being read is never read again;
 * a demanded unit's reads go before prefetch reads; a failed read is reported, never
 * computed on. Victims are chosen by the cyclic order (the unit needed furthest in the
 * future goes first), so spare slots cache units across tokens.
 *
 * Not owned here: which tensors stream and the pool size (tier/plan.h). */
#ifndef HY_IO_STREAM_H
#define HY_IO_STREAM_H

#include "io/ioq.h"

#include <stdint.h>

struct streamer;

/* One streamed tensor. unit_off is filled by stream_new: where the tensor's first byte
 * lands inside its unit's slot. */
struct stream_tensor {
    uint64_t off, len;     /* bytes in the model file */
    int unit;              /* 0 .. n_units - 1, in the order the forward pass visits them */
    bool on_hint;          /* its unit is read only when a hint names it (an expert) */
    uint64_t unit_off;     /* out */
};

struct stream_params {
    int n_slots;           /* slots for the schedule's units: >= 2 (0 when every unit is read
                              on hint and has n_hint_slots) */
    int n_hint_slots;      /* slots only units read on hint use (experts): they are read
                              together, as many as these slots hold, and the ones no hint
                              names leave them least recently used first (a cache); 0: they
                              share the n_slots */
    int prefetch_depth;    /* units of the schedule read ahead of the one in use (< n_slots) */
    uint32_t io_depth;     /* requests in flight */
    uint64_t chunk_bytes;  /* bytes per read request */
    enum ioq_backend backend;
    uint64_t max_slot_bytes; /* refuse to start if a unit needs more (0 = no limit) */
};
struct stream_params stream_default_params(void);

/* Open path for direct reads and set up the units and slots. t is updated (unit_off).
 * Returns 0 or a negative status. */
int stream_new(struct streamer **out, const char *path, struct stream_tensor *t, int n_t,
               const struct stream_params *p);
/* Same with an already opened file (tests pass fault-injection files); f is borrowed. */
int stream_new_file(struct streamer **out, struct file *f, struct stream_tensor *t, int n_t,
                    const struct stream_params *p);
void stream_free(struct streamer *s);

/* Bytes of one slot and the total pool, once built. */
uint64_t stream_slot_bytes(const struct streamer *s);
uint64_t stream_pool_bytes(const struct streamer *s);

/* The slot holding unit u, once all of it is in memory; blocks until then. The unit stays
 * pinned until a stream_release for each acquire. NULL on a read error (set_error says
 * which). */
const uint8_t *stream_acquire(struct streamer *s, int u);
/* One acquire of unit u is over: once none is left, its slot may be refilled. */
void stream_release(struct streamer *s, int u);

/* The next units the forward pass will acquire, in order, before it goes on with the
 * schedule: they are read ahead first. Replaces the hints not yet acquired. n <= 512.
 * ready (NULL, or n flags): whether each unit was in memory when hinted, its read
 * completed (what a cache of experts served). Returns 0 or -EINVAL (a unit out of range,
 * too many). */
int stream_hint(struct streamer *s, const int *units, int n, bool *ready);

struct stream_stats {
    uint64_t bytes;             /* read from storage */
    double stall_s;             /* seconds compute waited for a unit */
    uint64_t n_acquires;        /* acquires that moved the schedule (not repeated ones) */
    uint64_t n_out_of_schedule; /* of them, not the unit the schedule or a hint said */
    uint64_t n_demand;          /* of them, found not yet read or in flight */
};
/* Since creation. s may be NULL (all zero). */
void stream_get_stats(struct streamer *s, struct stream_stats *out);

#endif

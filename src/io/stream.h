/* The streamer: carries weights the plan left on disk into a pool of RAM slots, ahead of
 * the compute that needs them.
 *
 * Streamed tensors are grouped into units (the runtime makes each unit a chunk of rows of
 * one matrix; tensors sharing a unit that lie close in the file are read as one range,
 * gap included). A forward pass visits the units in a fixed cyclic order, so the
 * streamer knows what comes next: while the CPU computes with unit u, an I/O thread reads
 * units u+1 .. u+depth into free slots through the asynchronous queue (ioq.h), with direct
 * I/O so the page cache does not grow. Rules (the seed project's bugs, not repeated):
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
    uint64_t unit_off;     /* out */
};

struct stream_params {
    int n_slots;           /* >= 2 */
    int prefetch_depth;    /* units read ahead of the one in use (< n_slots) */
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

/* Bytes read from storage and seconds compute waited, since creation. s may be NULL. */
void stream_stats(const struct streamer *s, uint64_t *bytes, double *stall_s);

#endif

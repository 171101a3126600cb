/* The asynchronous read queue: many reads of model files in flight at once, so the disk
 * works at a real queue depth while the CPU computes.
 *
 * One owner thread submits requests and reaps completions; the queue is not shared
 * between threads. Backends:
 *   - io_uring (liburing; HYPURA_URING builds), for files with a descriptor;
 *   - pread worker threads, where io_uring is unavailable, where asked for, and always for
 *     files without a descriptor (memory and fault-injection files), through
 *     f->ops->pread, so fault injection works through the queue.
 * Both keep at most `depth` requests in flight; requests beyond that wait in the queue,
 * demand requests ahead of prefetch ones (a demand request submitted later overtakes
 * prefetch requests not yet issued; requests already in flight are never pre-empted).
 * -EAGAIN and -EINTR are retried; a short read is continued from where it stopped and is
 * never reported as complete; -EIO is retried a few times and then reported with the
 * offset that failed. A request is complete only when all its bytes arrived, or, at end
 * of file, at least its `need` bytes (a read widened for direct I/O may run past the end).
 * Bytes read are counted into the file's bytes_read.
 *
 * Not owned here: deciding what to read (the streamer), the buffers (the caller's, which
 * must stay valid until the request's completion is reaped or the queue is freed). */
#ifndef HY_IO_IOQ_H
#define HY_IO_IOQ_H

#include "io/file.h"

#include <stddef.h>
#include <stdint.h>

struct ioq;

enum ioq_backend {
    IOQ_AUTO = 0,   /* io_uring where it works, else threads */
    IOQ_URING,      /* io_uring or fail (-ENOSYS) */
    IOQ_THREADS,    /* pread worker threads */
};

enum ioq_prio {
    IOQ_DEMAND = 0,     /* compute waits on it */
    IOQ_PREFETCH = 1,   /* wanted later */
};

struct ioq_params {
    enum ioq_backend backend;
    uint32_t depth;         /* requests in flight at most; also the number of worker threads
                               of the thread backend (1..IOQ_MAX_DEPTH) */
    uint32_t eio_retries;   /* attempts after a failed read (EIO and the like) before the
                               request is reported failed */
    /* Tests only (NULL otherwise): faults applied to io_uring's results as they are reaped
     * (fail_nth, fail_count, fail_errno, short_max of file.h's file_fault; counted over
     * completions), so the ring's retry and continuation paths can be exercised the way
     * a fault file exercises the threads'. */
    const struct file_fault *test_fault;
};
#define IOQ_MAX_DEPTH 1024u
struct ioq_params ioq_default_params(void);

struct ioq_req {
    struct file *file;
    void *buf;              /* len bytes; for a direct file, buf, off and len must be
                               multiples of file->align (widen with file_widen) */
    size_t len;             /* bytes to read */
    size_t need;            /* bytes that must arrive (<= len); fewer than len may arrive
                               only at end of file. 0 = len */
    uint64_t off;           /* file offset */
    uint64_t tag;           /* the caller's, handed back in the completion */
    enum ioq_prio prio;
};

struct ioq_cqe {
    uint64_t tag;
    int status;             /* 0, or -errno: -EIO (also a premature end of file),
                               -ECANCELED (cancelled before it was issued), ... */
    size_t bytes;           /* bytes that arrived at buf (>= need when status is 0) */
    uint64_t err_off;       /* status < 0: the file offset of the read that failed */
    bool eof;               /* status < 0 because the file ended before need bytes */
};

/* Create a queue. Returns 0 or -errno (-ENOSYS: IOQ_URING asked for and unavailable). */
int ioq_new(const struct ioq_params *p, struct ioq **out);
/* Cancel what is queued, wait for what is in flight, free. NULL is a no-op. After it
 * returns no read will touch any request's buffer. */
void ioq_free(struct ioq *q);

/* Queue one read; it is issued at once when fewer than depth are in flight. Returns 0, or
 * -EINVAL (bad request: misaligned for a direct file, need > len, NULL buffer),
 * -EOVERFLOW, -ENOMEM, or a failure to start the worker threads. */
int ioq_submit(struct ioq *q, const struct ioq_req *r);
/* Queue n reads at once (one system call for all that can be issued): all are queued, or
 * none and the first bad one's status is returned. Use it for reads that belong together
 * (the expert slices of a layer, a coalesced range split in parts). */
int ioq_submit_n(struct ioq *q, const struct ioq_req *reqs, int n);

/* Hand back up to max completions, waiting until at least min are available (min is
 * capped by the number of requests outstanding, so reaping with nothing outstanding
 * returns 0 at once). Returns the number written to out or -errno. A failed completion
 * also sets hy_last_error() to a message naming the file and offset. */
int ioq_reap(struct ioq *q, struct ioq_cqe *out, int max, int min);

/* Complete every request not yet issued with -ECANCELED (reaped as usual); requests in
 * flight run to completion. */
void ioq_cancel(struct ioq *q);
/* Wait until nothing is queued or in flight; completions stay to be reaped. 0 or -errno. */
int ioq_drain(struct ioq *q);

/* Requests submitted and not yet reaped. */
uint32_t ioq_outstanding(const struct ioq *q);
/* IOQ_URING or IOQ_THREADS: what the queue uses for files with a descriptor. */
enum ioq_backend ioq_backend_used(const struct ioq *q);
const char *ioq_backend_name(enum ioq_backend b);

#endif

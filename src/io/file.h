/* The file layer: every byte hypura reads from a model file goes through here.
 *
 * A hy_file is a small vtable (read at an offset, close) plus the file's size and a
 * count of bytes read, in the manner of SQLite's os layer. Backends: POSIX (buffered),
 * memory (tests), and fault injection (wraps another file: fail the Nth read, return
 * short reads, pretend the file ends early). Direct I/O and asynchronous queues (see
 * ioq.h) sit beside it and reuse the same descriptors; callers never see which backend
 * they have.
 *
 * Not owned here: what to read and when (the planner and the streamer decide). */
#ifndef HY_IO_FILE_H
#define HY_IO_FILE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hy_file;

struct hy_file_ops {
    /* Read up to n bytes at off into buf. Returns the bytes read (0 at end of file, may be
     * fewer than n) or -errno. */
    int64_t (*pread)(struct hy_file *f, void *buf, size_t n, uint64_t off);
    void (*close)(struct hy_file *f);
};

struct hy_file {
    const struct hy_file_ops *ops;
    uint64_t size;                /* bytes, as seen when opened */
    _Atomic uint64_t bytes_read;  /* bytes delivered by reads through this layer */
    _Atomic uint64_t n_reads;     /* read calls made */
    int fd;                       /* OS descriptor, or -1 (memory and fault files) */
    char *path;                   /* for messages; owned */
};

/* Open a file for buffered reading. */
int file_open(struct hy_file **out, const char *path);
/* A file over memory. copy: take a private copy of data (else data must outlive f). */
int file_open_mem(struct hy_file **out, const void *data, size_t n, bool copy, const char *name);

struct file_fault {
    uint64_t fail_nth;      /* the Nth read call (1-based) fails with fail_errno; 0 = never */
    uint64_t fail_count;    /* how many consecutive calls fail from the Nth on (0 = 1) */
    int fail_errno;         /* default EIO */
    size_t short_max;       /* > 0: every read returns at most this many bytes */
    uint64_t eof_at;        /* > 0: reads see the file end here (truncated under us) */
};
/* Wrap inner (ownership passes to the fault file, also on failure). */
int file_open_fault(struct hy_file **out, struct hy_file *inner, const struct file_fault *spec);

/* Read exactly n bytes at off: short reads are continued, EINTR retried. A range past the
 * end of the file is -EIO with a message naming the offset. Returns 0 or -errno. */
int file_read_at(struct hy_file *f, void *buf, size_t n, uint64_t off);

void file_close(struct hy_file *f);

#endif

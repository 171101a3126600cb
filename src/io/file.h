/* The file layer: every byte hypura reads from a model file goes through here.
 *
 * A file is a small vtable (read at an offset, close) plus the file's size and a
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

struct file;

struct file_ops {
    /* Read up to n bytes at off into buf. Returns the bytes read (0 at end of file, may be
     * fewer than n) or -errno. */
    int64_t (*pread)(struct file *f, void *buf, size_t n, uint64_t off);
    void (*close)(struct file *f);
};

struct file {
    const struct file_ops *ops;
    uint64_t size;                /* bytes, as seen when opened */
    int64_t mtime_ns;             /* modification time then (0 for memory files) */
    _Atomic uint64_t bytes_read;  /* bytes delivered by reads through this layer */
    _Atomic uint64_t n_reads;     /* read calls made */
    int fd;                       /* OS descriptor, or -1 (memory and fault files) */
    char *path;                   /* for messages; owned */
    bool direct;                  /* reads bypass the page cache (O_DIRECT / F_NOCACHE) */
    uint32_t align;               /* bytes, a power of two: a direct read is fast (and, for
                                     io_uring, only possible) when its buffer address, offset
                                     and length are multiples of this; 1 when not direct */
};

/* 0 if f's file still has the size and modification time it had when opened, else
 * -ESTALE with a message (a model rewritten or truncated under a run: mapped, it would
 * fault; read, it would compute on other bytes). */
int file_check_unchanged(const struct file *f);

/* Open a file for buffered reading. */
int file_open(struct file **out, const char *path);
/* Open a file for direct reads: O_DIRECT on Linux, F_NOCACHE on macOS. The alignment
 * direct reads need is discovered (statx STATX_DIOALIGN where the kernel reports it, else
 * the device's logical block size, else 4096) and stored in f->align. Where the file system
 * refuses direct I/O (at open, or on a first probe read), the file is opened buffered
 * instead: f->direct is false, f->align is 1 and a warning is logged, so the caller still
 * gets a working file. ops->pread accepts any buffer, offset and length: unaligned reads
 * go through a bounce buffer (correct, slower, possibly short), aligned ones go straight
 * to the device. */
int file_open_direct(struct file **out, const char *path);

/* An (offset, length) widened to an alignment, for direct reads. GGUF tensor data is only
 * 32-byte aligned, so the runtime reads [off, off + len) as the wider [span.off,
 * span.off + span.len) into an aligned buffer and finds the wanted bytes at buf + skip. */
struct file_span {
    uint64_t off;   /* aligned down */
    uint64_t len;   /* a multiple of the alignment, >= skip + the wanted length */
    uint64_t skip;  /* where the wanted bytes start inside the widened read (< align) */
};
/* align: a power of two (1 = no widening). len 0 gives an empty span at off aligned down.
 * Returns 0, or -EINVAL (align not a power of two) or -EOVERFLOW (the end does not fit in
 * 64 bits). Note a widened read may run past the end of the file: read it through ioq
 * with `need` = skip + len, or expect a short read there. */
int file_widen(uint64_t off, uint64_t len, uint32_t align, struct file_span *out);

/* The alignment direct reads of this open descriptor need (see file_open_direct).
 * Never fails: falls back to 4096. */
uint32_t file_dio_align(int fd);

/* Drop the file's pages from the page cache (dirty ones are written first), so that the
 * next buffered read comes from the device: the way benchmarks start cold. Returns 0 or
 * -errno. The kernel may keep pages that are mapped or locked by someone. */
int file_drop_cache(const char *path);

/* A file over memory. copy: take a private copy of data (else data must outlive f). */
int file_open_mem(struct file **out, const void *data, size_t n, bool copy, const char *name);

struct file_fault {
    uint64_t fail_nth;      /* the Nth read call (1-based) fails with fail_errno; 0 = never */
    uint64_t fail_count;    /* how many consecutive calls fail from the Nth on (0 = 1) */
    int fail_errno;         /* default EIO */
    size_t short_max;       /* > 0: every read returns at most this many bytes */
    uint64_t eof_at;        /* > 0: reads see the file end here (truncated under us) */
    uint32_t delay_us;      /* > 0: every read sleeps this long first (a slow device) */
};
/* Wrap inner (ownership passes to the fault file, also on failure). The fault file has
 * no descriptor (fd -1, so asynchronous queues use their thread backend for it) and
 * reports inner's direct flag and alignment, so callers widen reads as they would for
 * inner. */
int file_open_fault(struct file **out, struct file *inner, const struct file_fault *spec);

/* Read exactly n bytes at off: short reads are continued, EINTR retried. A range past the
 * end of the file is -EIO with a message naming the offset. Returns 0 or -errno. */
int file_read_at(struct file *f, void *buf, size_t n, uint64_t off);

void file_close(struct file *f);
/* A file format's header was read from f (the GGUF reader says so once per parse): counted
 * process-wide for hy_headers_read(). */
void file_note_header(struct file *f);

#endif

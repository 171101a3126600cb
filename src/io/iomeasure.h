/* Storage measurement: how fast can this machine read a file, by read path, block size
 * and queue depth. Used by `hypura profile` (the planner's disk figures) and
 * `hypura iobench`. Mechanism only: it reports numbers, it decides nothing. */
#ifndef HY_IO_IOMEASURE_H
#define HY_IO_IOMEASURE_H

#include <stdbool.h>
#include <stdint.h>

enum io_path {
    IO_PATH_BUFFERED = 0,   /* pread through the page cache (evicted first: a cold read) */
    IO_PATH_DIRECT,         /* O_DIRECT (F_NOCACHE on macOS), one request at a time per thread */
    IO_PATH_URING,          /* O_DIRECT through io_uring at the given depth */
    IO_PATH_THREADS,        /* O_DIRECT through pread worker threads at the given depth */
};

struct io_measure_params {
    const char *path;       /* the file to read */
    enum io_path io;
    bool random;            /* random block-aligned offsets, else sequential */
    uint32_t block;         /* bytes per request (a multiple of 4096 for direct paths) */
    uint32_t depth;         /* requests in flight */
    uint64_t max_bytes;     /* stop after this many bytes (0 = the whole file) */
    double max_seconds;     /* or after this long (0 = no limit) */
};

struct io_measure_result {
    double seconds;
    uint64_t bytes;
    uint64_t n_requests;
    double bytes_per_s;
    double iops;
    double lat_avg_us, lat_p99_us;   /* per request, submission to completion */
};

/* Measure one configuration. Returns 0 or a negative status (set_error says why). */
int io_measure(const struct io_measure_params *p, struct io_measure_result *out);

/* Create a file of `bytes` random bytes written with direct I/O, so that a following
 * measurement reads from the device and not from the page cache. */
int io_make_test_file(const char *path, uint64_t bytes);

#endif

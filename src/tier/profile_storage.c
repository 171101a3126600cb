/* Measuring the storage part of the hardware profile: the device holding a directory, read
 * with direct I/O through the first read path that works (io_uring, threads, pread,
 * buffered), on a fresh 256 MiB test file (deleted afterwards) or an existing big file.
 * Sequential reads over a grid of request sizes and queue depths, the grid scaled down
 * to what a sustained stream gets, the streamer's request size and depth, and random
 * 4 KiB reads at depth 1 and 32. A few seconds.
 *
 * Not owned here: the read paths and their timing (io/iomeasure.c), the device's name
 * (sysinfo.c), what the figures cost a plan (cost.c). */
#include "tier/profile.h"
#include "io/iomeasure.h"
#include "util/common.h"
#include "util/log.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#define TEST_FILE_BYTES (256ull << 20)

static const struct {
    enum io_path io;
    const char *name;
} g_paths[] = {
    {IO_PATH_URING, "uring"},
    {IO_PATH_THREADS, "threads"},
    {IO_PATH_DIRECT, "direct"},
    {IO_PATH_BUFFERED, "buffered"},
};

int profile_measure_storage(struct hy_profile *prof, const char *dir, const char *sample,
                            hy_progress_fn pfn, void *user)
{
    static const uint32_t blocks[] = {64u << 10, 256u << 10, 1u << 20, 4u << 20};
    static const uint32_t depths[] = {1, 4, 16};
    int rc = profile_disk_id(dir, prof->disk_dev, sizeof prof->disk_dev);
    if (rc)
        return rc;
    snprintf(prof->disk_path, sizeof prof->disk_path, "%s", dir);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/.hypura-profile-%ld.tmp", dir, (long)getpid());
    uint64_t size = TEST_FILE_BYTES;
    /* a big enough sample on the same device as dir saves writing a test file; one on
     * another device would be measured under dir's name */
    struct stat sst, dst;
    bool own = !(sample && stat(sample, &sst) == 0 && S_ISREG(sst.st_mode) &&
                 (uint64_t)sst.st_size >= PROFILE_SAMPLE_MIN && stat(dir, &dst) == 0 &&
                 sst.st_dev == dst.st_dev);
    if (own) {
        profile_progress(pfn, user, "storage: writing a test file", 0.0);
        rc = io_make_test_file(path, size);
        if (rc) {
            unlink(path);
            return rc;
        }
    } else {
        snprintf(path, sizeof path, "%s", sample);
        size = (uint64_t)sst.st_size;
    }
    /* the first path that works is the one the runtime will use */
    int ip = -1;
    struct io_measure_result r;
    for (size_t k = 0; k < HY_ARRAY_LEN(g_paths); k++) {
        struct io_measure_params mp = {.path = path, .io = g_paths[k].io, .block = 1u << 20,
                                       .depth = 4, .max_bytes = 16u << 20, .max_seconds = 0.5};
        if (io_measure(&mp, &r) == 0) {
            ip = (int)k;
            break;
        }
    }
    if (ip < 0) {
        if (own)
            unlink(path);
        return -EIO; /* io_measure said why */
    }
    snprintf(prof->disk_io, sizeof prof->disk_io, "%s", g_paths[ip].name);
    prof->n_disk = 0;
    prof->disk_bw = 0;
    /* two rounds over the grid, the second in reverse order, each point time-bounded
     * (reads wrap around the file): one short run per point was too noisy on a virtual
     * disk to rank the points */
    enum { NB = HY_ARRAY_LEN(blocks), ND = HY_ARRAY_LEN(depths), ROUNDS = 2 };
    double got[NB * ND] = {0}, took[NB * ND] = {0};
    int n_steps = NB * ND * ROUNDS + 3, step = 0;
    for (int round = 0; round < ROUNDS; round++)
        for (int k = 0; k < NB * ND; k++) {
            int i = round % 2 ? NB * ND - 1 - k : k;
            profile_progress(pfn, user, "storage: sequential reads", (double)step++ / n_steps);
            struct io_measure_params mp = {.path = path, .io = g_paths[ip].io, .block = blocks[i / ND],
                                           .depth = depths[i % ND], .max_bytes = 4 * size, .max_seconds = 0.2};
            if ((rc = io_measure(&mp, &r)))
                goto fail;
            got[i] += (double)r.bytes;
            took[i] += r.seconds;
        }
    for (int i = 0; i < NB * ND && prof->n_disk < HY_PROFILE_MAX_DISK; i++) {
        double bw = took[i] > 0 ? got[i] / took[i] : 0;
        prof->disk[prof->n_disk++] = (struct hy_disk_point){blocks[i / ND], depths[i % ND], bw};
        prof->disk_bw = fmax(prof->disk_bw, bw);
    }
    /* the streamer's request size and depth: the fastest point keeping at least 4 MiB and
     * 4 requests in flight. Streaming reads tens of MiB ahead into slots that are
     * allocated anyway, so bytes in flight cost nothing; shallow queues that look as fast
     * in a short measurement fall behind over a long stream (measured: 256K x 1 streamed
     * at 80% of the rate of 1M x 8, 4M x 1 at 85% of 1M x 4, on this kind of virtual
     * disk). */
    double best = -1;
    for (int i = 0; i < prof->n_disk; i++) {
        const struct hy_disk_point *pt = &prof->disk[i];
        if ((uint64_t)pt->block * pt->depth >= (4u << 20) && pt->depth >= 4 && pt->bytes_per_s > best) {
            best = pt->bytes_per_s;
            prof->disk_block = pt->block;
            prof->disk_depth = pt->depth;
        }
    }
    /* short runs see a virtual disk's bursts (and its host's cache); a model streams
     * for minutes. One long read at the streaming point sets the level of the grid: its
     * shape stays from the short runs, the figures come down to what a stream gets. */
    profile_progress(pfn, user, "storage: a sustained read", (double)step / n_steps);
    /* three reads from different places, the median: one such read still varied from
     * 1.7 to 2.7 GB/s on a shared virtual disk */
    double sus[3];
    for (int k = 0; k < 3; k++) {
        struct io_measure_params sm = {.path = path, .io = g_paths[ip].io, .block = prof->disk_block,
                                       .depth = prof->disk_depth, .max_bytes = 4 * size,
                                       .max_seconds = 1.5};
        if ((rc = io_measure(&sm, &r)))
            goto fail;
        sus[k] = r.bytes_per_s;
    }
    double sustained = fmax(fmin(sus[0], sus[1]), fmin(fmax(sus[0], sus[1]), sus[2]));
    if (best > 0 && sustained > 0 && sustained < best) {
        double k = sustained / best;
        prof->disk_bw = 0;
        for (int i = 0; i < prof->n_disk; i++) {
            prof->disk[i].bytes_per_s *= k;
            prof->disk_bw = fmax(prof->disk_bw, prof->disk[i].bytes_per_s);
        }
    }
    profile_progress(pfn, user, "storage: random 4 KiB reads", (double)step++ / n_steps);
    struct io_measure_params mp = {.path = path, .io = g_paths[ip].io, .random = true, .block = 4096,
                                   .depth = 1, .max_bytes = size, .max_seconds = 0.5};
    if ((rc = io_measure(&mp, &r)))
        goto fail;
    prof->disk_iops_qd1 = r.iops;
    profile_progress(pfn, user, "storage: random 4 KiB reads", (double)step++ / n_steps);
    mp.depth = 32;
    if ((rc = io_measure(&mp, &r)))
        goto fail;
    prof->disk_iops = r.iops;
    prof->disk_iops_depth = 32;
    profile_progress(pfn, user, "storage: random 4 KiB reads", 1.0);
    if (own)
        unlink(path);
    if (!(prof->disk_bw > 0) || !(prof->disk_iops_qd1 > 0)) {
        set_error("storage measurement gave no figures");
        return -EIO;
    }
    prof->disk_measured = true;
    return 0;
fail:
    if (own)
        unlink(path);
    return rc;
}

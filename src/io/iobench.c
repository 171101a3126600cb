/* `hypura iobench` as a library function: a sweep of io_measure over read paths, block
 * sizes and queue depths (the public face of iomeasure.h). The CLI only formats rows. */
#include "hypura.h"
#include "io/file.h"
#include "io/iomeasure.h"
#include "util/common.h"
#include "util/log.h"

#include <errno.h>
#include <string.h>

static const uint32_t k_blocks[] = {4096, 65536, 1u << 20, 4u << 20};
static const uint32_t k_rand_blocks[] = {4096};
static const uint32_t k_depths[] = {1, 4, 16, 64};

const char *hy_read_path_name(enum hy_read_path p)
{
    static const char *const names[] = {"buffered", "direct", "io_uring", "threads"};
    return (unsigned)p < HY_ARRAY_LEN(names) ? names[p] : "?";
}

struct hy_iobench_params hy_iobench_default_params(void)
{
    return (struct hy_iobench_params){.seconds = 0.5};
}

static int run_one(const struct hy_iobench_params *p, enum hy_read_path path, bool random,
                   uint32_t block, uint32_t depth, hy_iobench_fn fn, void *user)
{
    static const enum io_path io_of[] = {
        [HY_READ_BUFFERED] = IO_PATH_BUFFERED,
        [HY_READ_DIRECT] = IO_PATH_DIRECT,
        [HY_READ_URING] = IO_PATH_URING,
        [HY_READ_THREADS] = IO_PATH_THREADS,
    };
    struct io_measure_params mp = {.path = p->path, .io = io_of[path], .random = random,
                                   .block = block, .depth = depth,
                                   .max_seconds = p->seconds > 0 ? p->seconds : 0.5};
    struct io_measure_result r;
    struct hy_iobench_row row = {.path = path, .random = random, .block = block,
                                 .depth = depth};
    row.status = io_measure(&mp, &r);
    if (row.status == 0) {
        row.seconds = r.seconds;
        row.bytes = r.bytes;
        row.n_requests = r.n_requests;
        row.bytes_per_s = r.bytes_per_s;
        row.iops = r.iops;
        row.lat_avg_us = r.lat_avg_us;
        row.lat_p99_us = r.lat_p99_us;
    }
    if (fn)
        fn(&row, user);
    return row.status;
}

int hy_iobench_run(const struct hy_iobench_params *p, hy_iobench_fn fn, void *user)
{
    if (!p || !p->path) {
        set_error("no file");
        return -EINVAL;
    }
    if (p->create_bytes) {
        int rc = io_make_test_file(p->path, p->create_bytes);
        if (rc)
            return rc;
    }
    struct file *f;
    int rc = file_open(&f, p->path); /* fail early, with the reason, on a bad file */
    if (rc)
        return rc;
    file_close(f);

    const uint32_t *blocks = p->blocks ? p->blocks : k_blocks;
    int n_blocks = p->blocks ? p->n_blocks : (int)HY_ARRAY_LEN(k_blocks);
    const uint32_t *rblocks = p->rand_blocks ? p->rand_blocks : k_rand_blocks;
    int n_rblocks = p->rand_blocks ? p->n_rand_blocks : (int)HY_ARRAY_LEN(k_rand_blocks);
    const uint32_t *depths = p->depths ? p->depths : k_depths;
    int n_depths = p->depths ? p->n_depths : (int)HY_ARRAY_LEN(k_depths);
    unsigned paths = p->paths ? p->paths : (1u << HY_READ_N_PATHS) - 1;

    int n_ok = 0, n_rows = 0, last_err = 0;
    for (int random = 0; random < 2; random++) {
        const uint32_t *bl = random ? rblocks : blocks;
        int nb = random ? n_rblocks : n_blocks;
        for (int b = 0; b < nb; b++)
            for (int pi = 0; pi < HY_READ_N_PATHS; pi++) {
                if (!(paths & (1u << pi)))
                    continue;
                /* one synchronous reader: the queue depth does not apply */
                bool sync = pi == HY_READ_BUFFERED || pi == HY_READ_DIRECT;
                for (int d = 0; d < (sync ? 1 : n_depths); d++) {
                    int r = run_one(p, (enum hy_read_path)pi, random, bl[b],
                                    sync ? 1 : depths[d], fn, user);
                    n_rows++;
                    if (r == 0)
                        n_ok++;
                    else
                        last_err = r;
                }
            }
    }
    if (n_rows && !n_ok) {
        return last_err; /* hy_last_error() holds the reason of the last one */
    }
    return 0;
}

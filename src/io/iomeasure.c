/* Storage measurement. See iomeasure.h.
 *
 * Each read path is measured the way the runtime would use it: BUFFERED and DIRECT with
 * `depth` threads each issuing one synchronous pread at a time (depth 1: a single reader),
 * URING and THREADS through the read queue (ioq.h) at `depth`, so the figures include the
 * queue's own costs. Latency is per request, from submission to completion. */
#include "io/iomeasure.h"
#include "io/file.h"
#include "io/ioq.h"
#include "util/common.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- latencies ------------------------------------------------------------------------ */

struct lat_vec {
    float *v;       /* microseconds */
    size_t n, cap;
};

static int lat_push(struct lat_vec *l, double us)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4096;
        float *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return -ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = (float)us;
    return 0;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static void lat_summarise(struct lat_vec *l, struct io_measure_result *out)
{
    if (!l->n)
        return;
    double sum = 0;
    for (size_t i = 0; i < l->n; i++)
        sum += l->v[i];
    out->lat_avg_us = sum / (double)l->n;
    qsort(l->v, l->n, sizeof *l->v, cmp_float);
    size_t k = (size_t)((double)(l->n - 1) * 0.99 + 0.5); /* nearest rank */
    out->lat_p99_us = l->v[HY_MIN(k, l->n - 1)];
}

/* ---- the plan of a run: which block each request reads --------------------------------- */

struct plan {
    bool random;
    uint32_t block;
    uint64_t n_blocks;      /* whole blocks in the file */
    uint64_t max_requests;  /* from max_bytes (or the file's size) */
    uint64_t start;         /* first block of a sequential run */
    uint64_t seed;          /* of the random offsets */
    double deadline;        /* now_seconds() limit, or 0 */
};

static uint64_t next_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The offset of request number i (sequential, from a start block, wrapping) or a random
 * block (rng). Successive measurements start at different places (seeded from the clock)
 * so that one does not find the blocks the previous one left in a device or host cache. */
static uint64_t plan_offset(const struct plan *pl, uint64_t i, uint64_t *rng)
{
    uint64_t b = pl->random ? next_rand(rng) % pl->n_blocks : (pl->start + i) % pl->n_blocks;
    return b * pl->block;
}

/* ---- synchronous readers (BUFFERED, DIRECT) -------------------------------------------- */

struct sync_shared {
    struct file *f;
    const struct plan *pl;
    _Atomic uint64_t next;  /* next request number */
    _Atomic int error;      /* first failure, -errno */
    _Atomic uint64_t err_off;
};

struct sync_worker {
    struct sync_shared *sh;
    pthread_t tid;
    uint64_t seed;
    uint64_t bytes, n;
    struct lat_vec lat;
};

static void *sync_main(void *arg)
{
    struct sync_worker *w = arg;
    struct sync_shared *sh = w->sh;
    const struct plan *pl = sh->pl;
    uint8_t *buf = aligned_malloc(HY_MAX(sh->f->align, 4096), pl->block);
    if (!buf) {
        int z = 0;
        atomic_compare_exchange_strong(&sh->error, &z, -ENOMEM);
        return NULL;
    }
    uint64_t rng = w->seed;
    for (;;) {
        if (atomic_load(&sh->error))
            break;
        uint64_t i = atomic_fetch_add(&sh->next, 1);
        if (i >= pl->max_requests || (pl->deadline && now_seconds() > pl->deadline))
            break;
        uint64_t off = plan_offset(pl, i, &rng);
        double t0 = now_seconds();
        size_t done = 0;
        int err = 0;
        while (done < pl->block) {
            int64_t r = sh->f->ops->pread(sh->f, buf + done, pl->block - done, off + done);
            if (r == -EINTR || r == -EAGAIN)
                continue;
            if (r <= 0) {
                err = r < 0 ? (int)r : -EIO;
                break;
            }
            done += (size_t)r;
        }
        if (err) {
            int z = 0;
            if (atomic_compare_exchange_strong(&sh->error, &z, err))
                atomic_store(&sh->err_off, off + done);
            break;
        }
        atomic_fetch_add(&sh->f->bytes_read, done);
        w->bytes += done;
        w->n++;
        if (lat_push(&w->lat, (now_seconds() - t0) * 1e6)) {
            int z = 0;
            atomic_compare_exchange_strong(&sh->error, &z, -ENOMEM);
            break;
        }
    }
    free(buf);
    return NULL;
}

static int measure_sync(struct file *f, const struct plan *pl, uint32_t depth,
                        struct io_measure_result *out, struct lat_vec *lat)
{
    struct sync_shared sh = {.f = f, .pl = pl};
    struct sync_worker *w = calloc(depth, sizeof *w);
    if (!w) {
        set_error("out of memory");
        return -ENOMEM;
    }
    double t0 = now_seconds();
    uint32_t started = 0;
    int rc = 0;
    for (uint32_t i = 0; i < depth; i++) {
        w[i].sh = &sh;
        w[i].seed = pl->seed + i * 0x9e3779b97f4a7c15ull;
        int e = pthread_create(&w[i].tid, NULL, sync_main, &w[i]);
        if (e) {
            set_error("cannot start reader thread: %s", strerror(e));
            rc = -e;
            atomic_store(&sh.error, -e);
            break;
        }
        started++;
    }
    for (uint32_t i = 0; i < started; i++)
        pthread_join(w[i].tid, NULL);
    out->seconds = now_seconds() - t0;
    int err = atomic_load(&sh.error);
    if (err && !rc) {
        rc = err;
        set_error("%s: read at offset %llu failed: %s", f->path,
               (unsigned long long)atomic_load(&sh.err_off), strerror(-err));
    }
    for (uint32_t i = 0; i < started; i++) {
        out->bytes += w[i].bytes;
        out->n_requests += w[i].n;
        for (size_t k = 0; !rc && k < w[i].lat.n; k++)
            if (lat_push(lat, w[i].lat.v[k])) {
                set_error("out of memory");
                rc = -ENOMEM;
            }
        free(w[i].lat.v);
    }
    free(w);
    return rc;
}

/* ---- through the read queue (URING, THREADS) ------------------------------------------- */

static int measure_queue(struct file *f, const struct plan *pl, uint32_t depth,
                         enum ioq_backend backend, struct io_measure_result *out,
                         struct lat_vec *lat)
{
    struct ioq_params qp = ioq_default_params();
    qp.backend = backend;
    qp.depth = depth;
    qp.eio_retries = 0; /* a measurement reports the first failure */
    struct ioq *q;
    int rc = ioq_new(&qp, &q);
    if (rc)
        return rc;
    uint8_t *bufs = aligned_malloc(HY_MAX(f->align, 4096), (size_t)depth * pl->block);
    double *t_sub = calloc(depth, sizeof *t_sub);
    struct ioq_cqe *cq = calloc(depth, sizeof *cq);
    if (!bufs || !t_sub || !cq) {
        set_error("out of memory");
        rc = -ENOMEM;
        goto out;
    }
    uint64_t rng = pl->seed, issued = 0;
    struct ioq_req *batch = calloc(depth, sizeof *batch);
    if (!batch) {
        set_error("out of memory");
        rc = -ENOMEM;
        goto out;
    }
    double t0 = now_seconds();
    /* one request per slot; completed slots are refilled in one batch per reap */
    int nb = 0;
    for (uint32_t s = 0; s < depth && issued < pl->max_requests; s++, issued++) {
        batch[nb++] = (struct ioq_req){.file = f, .buf = bufs + (size_t)s * pl->block,
                                       .len = pl->block, .off = plan_offset(pl, issued, &rng),
                                       .tag = s};
        t_sub[s] = t0;
    }
    rc = ioq_submit_n(q, batch, nb);
    bool stop = false;
    while (!rc && ioq_outstanding(q)) {
        int k = ioq_reap(q, cq, (int)depth, 1);
        if (k < 0) {
            rc = k;
            break;
        }
        double now = now_seconds();
        if (pl->deadline && now > pl->deadline)
            stop = true;
        nb = 0;
        for (int i = 0; i < k; i++) {
            uint32_t s = (uint32_t)cq[i].tag;
            if (cq[i].status) {
                rc = cq[i].status; /* ioq_reap set the message */
                break;
            }
            out->bytes += cq[i].bytes;
            out->n_requests++;
            if (lat_push(lat, (now - t_sub[s]) * 1e6)) {
                set_error("out of memory");
                rc = -ENOMEM;
                break;
            }
            if (stop || issued >= pl->max_requests)
                continue;
            batch[nb++] = (struct ioq_req){.file = f, .buf = bufs + (size_t)s * pl->block,
                                           .len = pl->block,
                                           .off = plan_offset(pl, issued++, &rng), .tag = s};
            t_sub[s] = now;
        }
        if (!rc && nb)
            rc = ioq_submit_n(q, batch, nb);
    }
    free(batch);
    out->seconds = now_seconds() - t0;
out:
    ioq_free(q); /* waits for anything still in flight before the buffers go */
    free(bufs);
    free(t_sub);
    free(cq);
    return rc;
}

/* ---- entry points --------------------------------------------------------------------- */

int io_measure(const struct io_measure_params *p, struct io_measure_result *out)
{
    memset(out, 0, sizeof *out);
    if (!p || !p->path || !p->block) {
        set_error("no file or no block size");
        return -EINVAL;
    }
    if (p->io > IO_PATH_THREADS) {
        set_error("unknown read path %d", (int)p->io);
        return -EINVAL;
    }
    uint32_t depth = p->depth ? p->depth : 1;
    if (depth > IOQ_MAX_DEPTH) {
        set_error("depth %u above %u", depth, IOQ_MAX_DEPTH);
        return -EINVAL;
    }
    bool direct = p->io != IO_PATH_BUFFERED;
    struct file *f = NULL;
    int rc = 0;
    if (!direct || (rc = file_open_direct(&f, p->path)) == 0) {
        if (!direct || !f->direct) {
            /* cold: nothing of the file in the page cache (a refused direct open reads
             * buffered too: evicting keeps its figures honest, if not direct) */
            file_close(f);
            f = NULL;
            rc = file_drop_cache(p->path);
            if (!rc)
                rc = file_open(&f, p->path);
            if (!rc && direct)
                LOG_WARN("%s: no direct I/O here; measuring cold buffered reads instead",
                         p->path);
        }
    }
    if (rc)
        return rc;
    if (direct && f->direct && p->block % f->align) {
        set_error("block %u is not a multiple of the direct I/O alignment %u", p->block, f->align);
        file_close(f);
        return -EINVAL;
    }
    struct plan pl = {.random = p->random, .block = p->block, .n_blocks = f->size / p->block};
    if (pl.n_blocks == 0) {
        set_error("%s: %llu bytes, smaller than one block of %u", p->path,
               (unsigned long long)f->size, p->block);
        file_close(f);
        return -EINVAL;
    }
    uint64_t limit = p->max_bytes ? p->max_bytes : pl.n_blocks * p->block;
    pl.max_requests = HY_MAX(limit / p->block, 1);
    if (!p->random)
        pl.max_requests = HY_MIN(pl.max_requests, pl.n_blocks); /* never re-read: stay cold */
    pl.seed = (uint64_t)(now_seconds() * 1e9) ^ (uint64_t)p->block << 32 ^ depth;
    uint64_t s = pl.seed;
    pl.start = next_rand(&s) % pl.n_blocks;
    if (p->max_seconds > 0)
        pl.deadline = now_seconds() + p->max_seconds;

    struct lat_vec lat = {0};
    switch (p->io) {
    case IO_PATH_BUFFERED:
    case IO_PATH_DIRECT: rc = measure_sync(f, &pl, depth, out, &lat); break;
    case IO_PATH_URING: rc = measure_queue(f, &pl, depth, IOQ_URING, out, &lat); break;
    case IO_PATH_THREADS: rc = measure_queue(f, &pl, depth, IOQ_THREADS, out, &lat); break;
    }
    if (!rc) {
        lat_summarise(&lat, out);
        if (out->seconds > 0) {
            out->bytes_per_s = (double)out->bytes / out->seconds;
            out->iops = (double)out->n_requests / out->seconds;
        }
    }
    free(lat.v);
    bool cached = !f->direct;
    file_close(f);
    if (cached)
        file_drop_cache(p->path); /* leave the page cache as we found it */
    return rc;
}

/* Write all of buf (n bytes) at the current offset. 0 or -errno. */
static int write_all(int fd, const uint8_t *buf, size_t n)
{
    while (n) {
        ssize_t w = write(fd, buf, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (w == 0)
            return -EIO;
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

int io_make_test_file(const char *path, uint64_t bytes)
{
    const size_t chunk = 4u << 20; /* a multiple of any direct I/O alignment we accept */
    bool direct = false;
    int fd = -1;
#ifdef O_DIRECT
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_DIRECT, 0644);
    direct = fd >= 0;
#endif
    if (fd < 0)
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        set_error("cannot create %s: %s", path, strerror(e));
        return -e;
    }
#if defined(__APPLE__)
    direct = fcntl(fd, F_NOCACHE, 1) == 0;
#endif
    uint32_t align = direct ? file_dio_align(fd) : 1;
    uint8_t *buf = aligned_malloc(HY_MAX(align, 4096), chunk);
    int rc = buf ? 0 : -ENOMEM;
    uint64_t rng = (uint64_t)(uintptr_t)buf ^ (uint64_t)(now_seconds() * 1e9);
    for (uint64_t done = 0; !rc && done < bytes;) {
        size_t n = (size_t)HY_MIN((uint64_t)chunk, bytes - done);
        uint64_t *w = (uint64_t *)buf;
        for (size_t i = 0; i < (n + 7) / 8; i++)
            w[i] = next_rand(&rng);
        /* a direct write of the last partial block writes it whole; truncated below */
        size_t wn = direct ? (size_t)HY_ALIGN_UP((uint64_t)n, (uint64_t)align) : n;
        rc = write_all(fd, buf, wn);
        done += n;
    }
    if (!rc && direct && bytes % align && ftruncate(fd, (off_t)bytes) != 0)
        rc = -errno;
#ifdef __APPLE__
    if (!rc && fsync(fd) != 0)
#else
    if (!rc && fdatasync(fd) != 0)
#endif
        rc = -errno;
    free(buf);
    if (close(fd) != 0 && !rc)
        rc = -errno;
    if (!rc && !direct)
        rc = file_drop_cache(path); /* so the measurement that follows reads the device */
    if (rc) {
        set_error("writing %s: %s", path, strerror(-rc));
        unlink(path);
    }
    return rc;
}

/* The I/O layer: widening arithmetic, direct reads against buffered ones, the fallback
 * when direct I/O is refused, and the asynchronous read queue with both backends (random
 * reads at depth, short reads, failing reads, end of file inside a widened read, priority
 * order, shutdown with requests in flight).
 *
 * Temporary files live under /var/tmp (a real disk here; tmpfs would not exercise
 * O_DIRECT alignment), or $HYPURA_TEST_TMP. */
#include "io/file.h"
#include "hypura.h"
#include "io/iomeasure.h"
#include "io/ioq.h"
#include "test.h"
#include "util/common.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

/* ---- fixtures ------------------------------------------------------------------------- */

/* The byte at offset off of every test file: a hash of the offset, so any read can be
 * checked without keeping the file in memory. */
static uint8_t pattern_byte(uint64_t off)
{
    uint64_t s = off >> 3;
    return (uint8_t)(test_rand(&s) >> (8 * (off & 7)));
}

static bool pattern_matches(const uint8_t *p, uint64_t off, size_t n)
{
    uint64_t key = UINT64_MAX, word = 0; /* one hash per 8 bytes (fast under TSan too) */
    for (size_t i = 0; i < n; i++) {
        uint64_t o = off + i;
        if (o >> 3 != key) {
            key = o >> 3;
            uint64_t st = key;
            word = test_rand(&st);
        }
        if (p[i] != (uint8_t)(word >> (8 * (o & 7)))) {
            fprintf(stderr, "  mismatch at file offset %llu\n", (unsigned long long)o);
            return false;
        }
    }
    return true;
}

static void pattern_fill(uint8_t *p, uint64_t off, size_t n)
{
    uint64_t key = UINT64_MAX, word = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t o = off + i;
        if (o >> 3 != key) {
            key = o >> 3;
            uint64_t st = key;
            word = test_rand(&st);
        }
        p[i] = (uint8_t)(word >> (8 * (o & 7)));
    }
}

/* Write a pattern file of n bytes; returns its malloc'ed path or NULL. */
static char *make_pattern_file(uint64_t n)
{
    const char *dir = getenv("HYPURA_TEST_TMP");
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/hypura-test-io-XXXXXX", dir && *dir ? dir : "/var/tmp");
    int fd = mkstemp(tmpl);
    if (fd < 0)
        return NULL;
    uint8_t buf[1 << 16];
    for (uint64_t off = 0; off < n;) {
        size_t k = (size_t)HY_MIN((uint64_t)sizeof buf, n - off);
        pattern_fill(buf, off, k);
        if (write(fd, buf, k) != (ssize_t)k) {
            close(fd);
            unlink(tmpl);
            return NULL;
        }
        off += k;
    }
    close(fd);
    file_drop_cache(tmpl); /* so direct and buffered reads really come from the disk */
    return strdup(tmpl);
}

static void remove_file(char *path)
{
    if (path)
        unlink(path);
    free(path);
}

/* ---- widening ------------------------------------------------------------------------- */

static void test_widen(void)
{
    struct file_span s;
    /* the reference: the smallest aligned range containing [off, off + len) */
    static const uint32_t aligns[] = {1, 2, 512, 4096, 65536};
    uint64_t rng = 1;
    for (size_t a = 0; a < HY_ARRAY_LEN(aligns); a++) {
        uint32_t al = aligns[a];
        for (int i = 0; i < 2000; i++) {
            uint64_t off = test_rand(&rng) % (1ull << 40);
            uint64_t len = i < 100 ? (uint64_t)i : test_rand(&rng) % (1u << 24);
            if (i % 7 == 0)
                off = off / al * al;          /* already aligned start */
            if (i % 11 == 0)
                off = off / al * al + al - 1; /* last byte of a block */
            if (i % 13 == 0)
                off = off / 32 * 32;          /* GGUF's 32-byte tensor alignment */
            CHECK(file_widen(off, len, al, &s) == 0);
            CHECK(s.off % al == 0 && s.len % al == 0);
            CHECK(s.off <= off && s.skip == off - s.off && s.skip < al);
            CHECK(s.off + s.len >= off + len);
            CHECK(s.off + s.len - (off + len) < al); /* no more than one block too many */
            if (len == 0)
                CHECK(s.len == (s.skip ? al : 0));
        }
    }
    /* hand-checked cases */
    CHECK(file_widen(4095, 2, 4096, &s) == 0);
    CHECK(s.off == 0 && s.len == 8192 && s.skip == 4095);
    CHECK(file_widen(4096, 4096, 4096, &s) == 0);
    CHECK(s.off == 4096 && s.len == 4096 && s.skip == 0);
    CHECK(file_widen(100, 32, 512, &s) == 0);
    CHECK(s.off == 0 && s.len == 512 && s.skip == 100);
    CHECK(file_widen(8192 + 32, 0, 4096, &s) == 0);
    CHECK(s.off == 8192 && s.skip == 32 && s.len == 4096);
    /* errors */
    CHECK(file_widen(0, 1, 0, &s) == -EINVAL);
    CHECK(file_widen(0, 1, 3000, &s) == -EINVAL);
    CHECK(file_widen(UINT64_MAX - 10, 5, 4096, &s) == -EOVERFLOW);
    CHECK(file_widen(UINT64_MAX - 10, 20, 1, &s) == -EOVERFLOW);
}

/* ---- direct reads --------------------------------------------------------------------- */

static void test_direct_vs_buffered(void)
{
    const uint64_t n = (3u << 20) + 1234; /* not a multiple of any block size */
    char *path = make_pattern_file(n);
    if (!path) {
        TEST_SKIP("cannot write a temporary file under /var/tmp");
        return;
    }
    struct file *d = NULL, *b = NULL;
    CHECK(file_open_direct(&d, path) == 0);
    CHECK(file_open(&b, path) == 0);
    if (!d || !b)
        goto out;
    CHECK_EQ(d->size, n);
    if (!d->direct)
        printf("  note: direct I/O refused on %s; comparing buffered with buffered\n", path);
    else
        CHECK(d->align >= 512 && d->align <= 65536 && !(d->align & (d->align - 1)));
    printf("  %s: direct=%d align=%u\n", path, d->direct, d->align);

    uint64_t rng = 7;
    size_t cap = 1u << 20;
    uint8_t *bd = aligned_malloc(4096, cap + 4096), *bb = malloc(cap);
    for (int i = 0; i < 200; i++) {
        uint64_t off = test_rand(&rng) % n;
        size_t len = (size_t)HY_MIN(test_rand(&rng) % (i < 100 ? 9000 : cap), n - off);
        if (i % 5 == 0)
            off = off / 32 * 32;
        len = (size_t)HY_MIN(len, n - off);
        /* unaligned destination too: bd + 1 .. bd + 31 */
        uint8_t *dst = bd + (i % 3 == 0 ? 0 : (size_t)(i % 31) + 1);
        memset(dst, 0xAA, len);
        int rd = file_read_at(d, dst, len, off);
        int rb = file_read_at(b, bb, len, off);
        CHECK(rd == 0 && rb == 0);
        if (rd || rb || memcmp(dst, bb, len) || !pattern_matches(dst, off, len)) {
            CHECKF(false, "read %zu at %llu differs", len, (unsigned long long)off);
            break;
        }
    }
    /* the fast path: aligned buffer, offset and length (the way the runtime reads) */
    if (d->direct) {
        struct file_span sp;
        CHECK(file_widen(123456 + 32, 70000, d->align, &sp) == 0);
        CHECK(d->ops->pread(d, bd, (size_t)sp.len, sp.off) == (int64_t)sp.len);
        CHECK(pattern_matches(bd + sp.skip, 123456 + 32, 70000));
        /* a widened read past the end of the file is short, not an error */
        CHECK(file_widen(n - 100, 100, d->align, &sp) == 0);
        int64_t r = d->ops->pread(d, bd, (size_t)sp.len, sp.off);
        CHECK_EQ(r, (int64_t)(n - sp.off));
        CHECK(pattern_matches(bd + sp.skip, n - 100, 100));
    }
    /* reading past the end through file_read_at is an error naming the offset */
    CHECK(file_read_at(d, bd, 100, n - 50) == -EIO);
    free(bd);
    free(bb);
out:
    file_close(d);
    file_close(b);
    remove_file(path);
}

/* procfs refuses O_DIRECT at open: the file comes back buffered and still readable. */
static void test_direct_refused(void)
{
    struct file *f = NULL;
    int rc = file_open_direct(&f, "/proc/version");
    if (rc == -ENOENT) {
        TEST_SKIP("no /proc/version");
        return;
    }
    CHECK(rc == 0);
    if (!f)
        return;
    CHECK(!f->direct);
    CHECK_EQ(f->align, 1);
    char buf[64] = {0};
    int64_t r = f->ops->pread(f, buf, 5, 0);
    CHECK(r == 5 && !memcmp(buf, "Linux", 5));
    file_close(f);
    /* a missing file is its real error, not a fallback */
    CHECK(file_open_direct(&f, "/nonexistent/hypura") == -ENOENT);
    CHECK(f == NULL);
}

static void test_dio_align(void)
{
    char *path = make_pattern_file(8192);
    if (!path) {
        TEST_SKIP("cannot write a temporary file under /var/tmp");
        return;
    }
    struct file *f;
    CHECK(file_open(&f, path) == 0);
    uint32_t a = file_dio_align(f->fd);
    CHECK(a >= 1 && a <= 65536 && !(a & (a - 1)));
    CHECK(!f->direct && f->align == 1); /* a buffered file asks for nothing */
    file_close(f);
    CHECK(file_drop_cache(path) == 0);
    CHECK(file_drop_cache("/nonexistent/hypura") == -ENOENT);
    remove_file(path);
}

/* ---- the read queue ------------------------------------------------------------------- */

static const enum ioq_backend k_backends[] = {IOQ_URING, IOQ_THREADS};

/* A queue of the given backend and depth, or NULL (io_uring unavailable: says so). */
static struct ioq *new_queue(enum ioq_backend b, uint32_t depth)
{
    struct ioq_params p = ioq_default_params();
    p.backend = b;
    p.depth = depth;
    struct ioq *q = NULL;
    int rc = ioq_new(&p, &q);
    if (rc == -ENOSYS)
        printf("  note: no io_uring here (%s)\n", hy_last_error());
    else
        CHECKF(rc == 0, "ioq_new(%s, %u): %d", ioq_backend_name(b), depth, rc);
    if (q)
        CHECK(ioq_backend_used(q) == b);
    return q;
}

/* Reap every outstanding completion into cqes (indexed by tag); returns how many. */
static int reap_all(struct ioq *q, struct ioq_cqe *by_tag, int n_tags, int *order)
{
    int n = 0;
    struct ioq_cqe c[16];
    while (ioq_outstanding(q)) {
        int k = ioq_reap(q, c, 16, 1);
        CHECKF(k > 0, "ioq_reap: %d", k);
        if (k <= 0)
            break;
        for (int i = 0; i < k; i++) {
            CHECK(c[i].tag < (uint64_t)n_tags);
            if (c[i].tag < (uint64_t)n_tags)
                by_tag[c[i].tag] = c[i];
            if (order)
                order[n] = (int)c[i].tag;
            n++;
        }
    }
    return n;
}

/* Many random widened reads at depth, through a direct file, verified byte for byte. */
static void test_ioq_random(void)
{
    const uint64_t n = (8u << 20) + 777;
    char *path = make_pattern_file(n);
    if (!path) {
        TEST_SKIP("cannot write a temporary file under /var/tmp");
        return;
    }
    enum { NREQ = 400 };
    for (size_t b = 0; b < HY_ARRAY_LEN(k_backends); b++) {
        for (uint32_t depth = 1; depth <= 64; depth *= 8) {
            struct file *f = NULL;
            CHECK(file_open_direct(&f, path) == 0);
            struct ioq *q = new_queue(k_backends[b], depth);
            if (!q || !f) {
                file_close(f);
                continue;
            }
            uint32_t al = f->align;
            uint8_t *bufs[NREQ];
            uint64_t want_off[NREQ], want_len[NREQ], skip[NREQ];
            struct ioq_cqe cq[NREQ];
            uint64_t rng = 99 + depth, expect_bytes = 0;
            int submitted = 0, reaped = 0;
            for (int i = 0; i < NREQ; i++) {
                /* GGUF-like: 32-byte aligned starts, odd lengths, some at the end */
                uint64_t off = (test_rand(&rng) % n) / 32 * 32;
                uint64_t len = 1 + test_rand(&rng) % (i % 10 == 0 ? (256u << 10) : 20000);
                if (i % 17 == 0)
                    off = n - HY_MIN(n, len);
                len = HY_MIN(len, n - off);
                struct file_span sp;
                CHECK(file_widen(off, len, al, &sp) == 0);
                bufs[i] = aligned_malloc(HY_MAX(al, 64), (size_t)sp.len);
                memset(bufs[i], 0x5A, (size_t)sp.len);
                want_off[i] = off, want_len[i] = len, skip[i] = sp.skip;
                struct ioq_req r = {.file = f, .buf = bufs[i], .len = (size_t)sp.len,
                                    .need = (size_t)(sp.skip + len), .off = sp.off,
                                    .tag = (uint64_t)i,
                                    .prio = i % 3 ? IOQ_PREFETCH : IOQ_DEMAND};
                int rc = ioq_submit(q, &r);
                CHECKF(rc == 0, "submit: %s", hy_last_error());
                submitted += rc == 0;
                expect_bytes += HY_MIN(sp.len, n - sp.off);
                /* reap some along the way, like a streamer would */
                if (i % 50 == 49) {
                    struct ioq_cqe c[8];
                    int k = ioq_reap(q, c, 8, 0);
                    CHECK(k >= 0);
                    for (int j = 0; j < k; j++)
                        cq[c[j].tag] = c[j];
                    reaped += HY_MAX(k, 0);
                }
            }
            reaped += reap_all(q, cq, NREQ, NULL);
            CHECK_EQ(reaped, submitted);
            int bad = 0;
            for (int i = 0; i < NREQ; i++) {
                if (cq[i].status != 0 || cq[i].bytes < skip[i] + want_len[i] ||
                    !pattern_matches(bufs[i] + skip[i], want_off[i], (size_t)want_len[i]))
                    bad++;
                free(bufs[i]);
            }
            CHECKF(bad == 0, "%s depth %u: %d bad reads", ioq_backend_name(k_backends[b]),
                   depth, bad);
            CHECKF(f->bytes_read == expect_bytes, "bytes_read %llu, expected %llu",
                   (unsigned long long)f->bytes_read, (unsigned long long)expect_bytes);
            ioq_free(q);
            file_close(f);
        }
    }
    remove_file(path);
}

/* A memory file (no descriptor) through an io_uring queue is served by threads, also
 * mixed with ring reads of a real file in the same queue. */
static void test_ioq_no_descriptor(void)
{
    size_t n = 100000;
    uint8_t *data = malloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = pattern_byte(i);
    struct file *f;
    CHECK(file_open_mem(&f, data, n, false, "mem") == 0);
    for (size_t b = 0; b < HY_ARRAY_LEN(k_backends); b++) {
        struct ioq *q = new_queue(k_backends[b], 4);
        if (!q)
            continue;
        uint8_t bufs[20][3000];
        struct ioq_cqe cq[20];
        for (int i = 0; i < 20; i++) {
            struct ioq_req r = {.file = f, .buf = bufs[i], .len = 3000,
                                .off = (uint64_t)i * 4999, .tag = (uint64_t)i};
            CHECK(ioq_submit(q, &r) == 0);
        }
        CHECK_EQ(reap_all(q, cq, 20, NULL), 20);
        for (int i = 0; i < 20; i++)
            CHECK(cq[i].status == 0 && cq[i].bytes == 3000 &&
                  pattern_matches(bufs[i], (uint64_t)i * 4999, 3000));
        ioq_free(q);
    }
    char *path = make_pattern_file(1 << 20);
    struct file *d = NULL;
    struct ioq *q = new_queue(IOQ_URING, 8);
    if (path && q && file_open_direct(&d, path) == 0) {
        enum { NREQ = 64 };
        uint8_t *buf = aligned_malloc(4096, NREQ * 4096);
        struct ioq_cqe cq[NREQ];
        for (int i = 0; i < NREQ; i++) {
            struct ioq_req r = {.file = i % 2 ? f : d, .buf = buf + i * 4096, .len = 4096,
                                .off = (uint64_t)(i % 20) * 4096, .tag = (uint64_t)i};
            CHECK(ioq_submit(q, &r) == 0);
        }
        CHECK_EQ(reap_all(q, cq, NREQ, NULL), NREQ);
        for (int i = 0; i < NREQ; i++)
            CHECK(cq[i].status == 0 &&
                  pattern_matches(buf + i * 4096, (uint64_t)(i % 20) * 4096, 4096));
        free(buf);
    }
    ioq_free(q);
    file_close(d);
    remove_file(path);
    file_close(f);
    free(data);
}

/* Every read returns at most short_max bytes: requests still complete, whole. */
static void test_ioq_short_reads(void)
{
    const uint64_t n = (1u << 20) + 100;
    char *path = make_pattern_file(n);
    if (!path) {
        TEST_SKIP("cannot write a temporary file under /var/tmp");
        return;
    }
    static const size_t shorts[] = {1, 511, 4096, 10000};
    for (size_t s = 0; s < HY_ARRAY_LEN(shorts); s++) {
        struct file *inner, *f;
        CHECK(file_open_direct(&inner, path) == 0);
        struct file_fault spec = {.short_max = shorts[s]};
        CHECK(file_open_fault(&f, inner, &spec) == 0);
        struct ioq *q = new_queue(IOQ_THREADS, 4);
        uint32_t al = f->align;
        enum { NREQ = 24 };
        uint8_t *bufs[NREQ];
        struct ioq_cqe cq[NREQ];
        struct file_span sp[NREQ];
        size_t len = shorts[s] == 1 ? 700 : 70000;
        for (int i = 0; i < NREQ; i++) {
            uint64_t off = (uint64_t)i * 40000 + 32;
            CHECK(file_widen(off, len, al, &sp[i]) == 0);
            bufs[i] = aligned_malloc(HY_MAX(al, 64), (size_t)sp[i].len);
            struct ioq_req r = {.file = f, .buf = bufs[i], .len = (size_t)sp[i].len,
                                .off = sp[i].off, .tag = (uint64_t)i};
            CHECK(ioq_submit(q, &r) == 0);
        }
        CHECK_EQ(reap_all(q, cq, NREQ, NULL), NREQ);
        for (int i = 0; i < NREQ; i++) {
            CHECK(cq[i].status == 0 && cq[i].bytes == sp[i].len);
            CHECK(pattern_matches(bufs[i] + sp[i].skip, (uint64_t)i * 40000 + 32, len));
            free(bufs[i]);
        }
        CHECK(f->n_reads >= NREQ * (len / shorts[s]));
        ioq_free(q);
        file_close(f);
    }
    remove_file(path);
}

/* The same faults on io_uring's results (params.test_fault), on a real direct file:
 * short results are continued from an aligned offset, the Nth failing is retried and then
 * reported, EAGAIN is requeued; a device that never returns a whole block is an error,
 * not a hang. */
static void test_ioq_uring_faults(void)
{
    const uint64_t n = 1u << 20;
    char *path = make_pattern_file(n);
    if (!path) {
        TEST_SKIP("cannot write a temporary file under /var/tmp");
        return;
    }
    struct {
        struct file_fault fault;
        int fails;          /* expected status of request 4 (0-based); 0 = none fail */
    } cases[] = {
        {{.short_max = 1000}, 0},
        {{.short_max = 4096}, 0},
        {{.short_max = 100}, -EIO},     /* less than a block, every time */
        {{.fail_nth = 5, .fail_count = 4, .fail_errno = EIO}, -EIO},
        {{.fail_nth = 5, .fail_count = 3, .fail_errno = EIO}, 0},
        {{.fail_nth = 5, .fail_count = 7, .fail_errno = EAGAIN}, 0},
    };
    for (size_t k = 0; k < HY_ARRAY_LEN(cases); k++) {
        struct file *f;
        CHECK(file_open_direct(&f, path) == 0);
        struct ioq_params p = ioq_default_params();
        p.backend = IOQ_URING;
        p.depth = 1;
        p.eio_retries = 3;
        p.test_fault = &cases[k].fault;
        struct ioq *q = NULL;
        int rc = ioq_new(&p, &q);
        if (rc == -ENOSYS) {
            file_close(f);
            TEST_SKIP("no io_uring here");
            break;
        }
        enum { NREQ = 8, LEN = 16384 };
        uint8_t *buf = aligned_malloc(4096, NREQ * LEN);
        for (int i = 0; i < NREQ; i++) {
            struct ioq_req r = {.file = f, .buf = buf + i * LEN, .len = LEN,
                                .off = (uint64_t)i * LEN * 3, .tag = (uint64_t)i};
            CHECK(ioq_submit(q, &r) == 0);
        }
        struct ioq_cqe cq[NREQ];
        CHECK_EQ(reap_all(q, cq, NREQ, NULL), NREQ);
        for (int i = 0; i < NREQ; i++) {
            bool short_case = cases[k].fault.short_max != 0;
            int want = (short_case || i == 4) ? cases[k].fails : 0;
            if (short_case && cases[k].fails)
                want = cases[k].fails; /* every request stalls */
            CHECKF(cq[i].status == want, "case %zu request %d: %d, want %d", k, i,
                   cq[i].status, want);
            if (want == 0)
                CHECK(cq[i].bytes == LEN &&
                      pattern_matches(buf + i * LEN, (uint64_t)i * LEN * 3, LEN));
            else if (!short_case)
                CHECK_EQ(cq[i].err_off, (uint64_t)i * LEN * 3);
        }
        free(buf);
        ioq_free(q);
        file_close(f);
    }
    remove_file(path);
}

/* The Nth read fails: with depth 1 exactly one request fails, with its offset; a failure
 * that clears within the retries is not an error; EAGAIN is retried. */
static void test_ioq_read_errors(void)
{
    size_t n = 64 * 4096;
    uint8_t *data = malloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = pattern_byte(i);
    struct {
        uint64_t fail_count;
        int err;
        bool fails;
    } cases[] = {
        {4, EIO, true},      /* persistent: the read and its three retries fail */
        {3, EIO, false},     /* transient: three failures, three retries */
        {4, ENOSPC, true},   /* any device error */
        {5, EAGAIN, false},  /* requeued */
        {5, EINTR, false},
    };
    for (size_t k = 0; k < HY_ARRAY_LEN(cases); k++) {
        struct file *inner, *f;
        CHECK(file_open_mem(&inner, data, n, false, "mem") == 0);
        struct file_fault spec = {.fail_nth = 5, .fail_count = cases[k].fail_count,
                                  .fail_errno = cases[k].err};
        CHECK(file_open_fault(&f, inner, &spec) == 0);
        struct ioq_params p = ioq_default_params();
        p.depth = 1;
        p.eio_retries = 3;
        p.backend = IOQ_THREADS;
        struct ioq *q;
        CHECK(ioq_new(&p, &q) == 0);
        enum { NREQ = 12 };
        uint8_t *buf = malloc(NREQ * 4096);
        for (int i = 0; i < NREQ; i++) {
            struct ioq_req r = {.file = f, .buf = buf + i * 4096, .len = 4096,
                                .off = (uint64_t)i * 4096 + 7, .tag = (uint64_t)i};
            CHECK(ioq_submit(q, &r) == 0);
        }
        struct ioq_cqe cq[NREQ];
        hy_clear_error();
        CHECK_EQ(reap_all(q, cq, NREQ, NULL), NREQ);
        for (int i = 0; i < NREQ; i++) {
            /* depth 1: request 4 (0-based) makes read call 5 */
            if (i == 4 && cases[k].fails) {
                CHECK_EQ(cq[i].status, -cases[k].err);
                CHECK_EQ(cq[i].err_off, 4 * 4096 + 7);
                CHECKF(strstr(hy_last_error(), "16391") != NULL, "message: %s",
                       hy_last_error());
            } else {
                CHECKF(cq[i].status == 0, "case %zu request %d: %d", k, i, cq[i].status);
                CHECK(pattern_matches(buf + i * 4096, (uint64_t)i * 4096 + 7, 4096));
            }
        }
        free(buf);
        ioq_free(q);
        file_close(f);
    }
    free(data);
}

/* End of file inside a widened read: complete when the needed bytes are there, an error
 * (not success, not a hang) when the file ends before them. */
static void test_ioq_eof(void)
{
    const uint64_t n = 3 * 4096 + 1000;
    char *path = make_pattern_file(n);
    if (!path) {
        TEST_SKIP("cannot write a temporary file under /var/tmp");
        return;
    }
    for (size_t b = 0; b < HY_ARRAY_LEN(k_backends); b++) {
        struct file *f;
        CHECK(file_open_direct(&f, path) == 0);
        struct ioq *q = new_queue(k_backends[b], 4);
        if (!q) {
            file_close(f);
            continue;
        }
        uint32_t al = HY_MAX(f->align, 1);
        struct file_span sp;
        CHECK(file_widen(n - 900, 900, al, &sp) == 0);
        uint8_t *buf = aligned_malloc(4096, (size_t)sp.len + 8192);
        /* 0: the wanted bytes end at EOF; 1: the wanted bytes run past EOF;
         * 2: the whole request lies past EOF */
        struct ioq_req r0 = {.file = f, .buf = buf, .len = (size_t)sp.len,
                             .need = (size_t)(sp.skip + 900), .off = sp.off, .tag = 0};
        struct ioq_req r1 = r0;
        r1.tag = 1;
        r1.len += 4096;
        r1.need = r1.len;
        struct ioq_req r2 = {.file = f, .buf = buf, .len = 4096, .off = 8 * 4096, .tag = 2};
        struct ioq_cqe cq[3];
        CHECK(ioq_submit(q, &r0) == 0);
        CHECK_EQ(reap_all(q, cq, 3, NULL), 1);
        CHECK(cq[0].status == 0 && cq[0].bytes == n - sp.off);
        CHECK(pattern_matches(buf + sp.skip, n - 900, 900));
        CHECK(ioq_submit(q, &r1) == 0);
        CHECK(ioq_submit(q, &r2) == 0);
        CHECK_EQ(reap_all(q, cq, 3, NULL), 2);
        CHECK_EQ(cq[1].status, -EIO);
        CHECK_EQ(cq[1].err_off, n);
        CHECK(cq[1].bytes == n - sp.off);
        CHECK_EQ(cq[2].status, -EIO);
        CHECK_EQ(cq[2].err_off, 8 * 4096);
        CHECKF(strstr(hy_last_error(), "end of file") != NULL, "%s", hy_last_error());
        free(buf);
        ioq_free(q);
        file_close(f);
    }
    /* a file truncated under the runtime (the fault file's eof_at) */
    struct file *inner, *f;
    CHECK(file_open(&inner, path) == 0);
    struct file_fault spec = {.eof_at = 5000};
    CHECK(file_open_fault(&f, inner, &spec) == 0);
    struct ioq *q = new_queue(IOQ_THREADS, 2);
    uint8_t buf[8192];
    struct ioq_req r = {.file = f, .buf = buf, .len = 8192, .off = 0, .tag = 0};
    CHECK(ioq_submit(q, &r) == 0);
    struct ioq_cqe c;
    CHECK_EQ(reap_all(q, &c, 1, NULL), 1);
    CHECK(c.status == -EIO && c.err_off == 5000 && c.bytes == 5000);
    ioq_free(q);
    file_close(f);
    remove_file(path);
}

/* Demand requests overtake queued prefetch requests: with a slow device and depth 1, the
 * prefetch request in flight finishes first, then the demand ones, then the remaining
 * prefetch ones, in submission order within a priority. */
static void test_ioq_priority(void)
{
    size_t n = 1 << 16;
    uint8_t *data = calloc(1, n);
    enum { NP = 5, ND = 3 };
    for (size_t b = 0; b < HY_ARRAY_LEN(k_backends); b++) {
        struct file *f = NULL;
        char *path = NULL;
        if (k_backends[b] == IOQ_THREADS) {
            struct file *inner;
            CHECK(file_open_mem(&inner, data, n, false, "mem") == 0);
            struct file_fault spec = {.delay_us = 20000}; /* 20 ms a read */
            CHECK(file_open_fault(&f, inner, &spec) == 0);
        } else {
            path = make_pattern_file(n);
            if (!path || file_open(&f, path) != 0) {
                remove_file(path);
                continue;
            }
        }
        struct ioq *q = new_queue(k_backends[b], 1);
        if (!q) {
            file_close(f);
            remove_file(path);
            continue;
        }
        static uint8_t buf[NP + ND][4096];
        for (int i = 0; i < NP; i++) {
            struct ioq_req r = {.file = f, .buf = buf[i], .len = 4096, .off = 4096u * i,
                                .tag = (uint64_t)i, .prio = IOQ_PREFETCH};
            CHECK(ioq_submit(q, &r) == 0);
        }
        for (int i = 0; i < ND; i++) {
            struct ioq_req r = {.file = f, .buf = buf[NP + i], .len = 4096,
                                .off = 4096u * (NP + i), .tag = (uint64_t)(NP + i),
                                .prio = IOQ_DEMAND};
            CHECK(ioq_submit(q, &r) == 0);
        }
        struct ioq_cqe cq[NP + ND];
        int order[NP + ND];
        CHECK_EQ(reap_all(q, cq, NP + ND, order), NP + ND);
        static const int want[NP + ND] = {0, 5, 6, 7, 1, 2, 3, 4};
        bool same = !memcmp(order, want, sizeof want);
        CHECKF(same, "%s: completion order %d %d %d %d %d %d %d %d",
               ioq_backend_name(k_backends[b]), order[0], order[1], order[2], order[3],
               order[4], order[5], order[6], order[7]);
        ioq_free(q);
        file_close(f);
        remove_file(path);
    }
    free(data);
}

/* Shutdown with requests in flight: cancel completes the queued ones with -ECANCELED,
 * the ones in flight finish; freeing a busy queue neither hangs nor leaks. */
static void test_ioq_shutdown(void)
{
    size_t n = 1 << 20;
    uint8_t *data = calloc(1, n);
    const uint64_t fsz = 16u << 20;
    char *path = make_pattern_file(fsz);
    for (size_t b = 0; b < HY_ARRAY_LEN(k_backends); b++) {
        struct file *f = NULL;
        if (k_backends[b] == IOQ_THREADS) {
            struct file *inner;
            CHECK(file_open_mem(&inner, data, n, false, "mem") == 0);
            struct file_fault spec = {.delay_us = 2000};
            CHECK(file_open_fault(&f, inner, &spec) == 0);
        } else if (!path || file_open_direct(&f, path) != 0) {
            continue;
        }
        enum { NREQ = 64 };
        size_t len = 256 * 1024;
        uint8_t *buf = aligned_malloc(4096, NREQ * len);
        for (int round = 0; round < 2; round++) {
            struct ioq *q = new_queue(k_backends[b], 4);
            if (!q)
                break;
            for (int i = 0; i < NREQ; i++) {
                struct ioq_req r = {.file = f, .buf = buf + i * len, .len = len,
                                    .off = (uint64_t)(i % 4) * len, .tag = (uint64_t)i,
                                    .prio = i % 2 ? IOQ_PREFETCH : IOQ_DEMAND};
                CHECK(ioq_submit(q, &r) == 0);
            }
            if (round == 0) {
                struct ioq_cqe cq[NREQ];
                int got = ioq_reap(q, cq, NREQ, 2);
                CHECK(got >= 2);
                ioq_cancel(q);
                CHECK(ioq_drain(q) == 0);
                int k = ioq_reap(q, cq + got, NREQ - got, NREQ);
                CHECK_EQ(got + k, NREQ);
                int ok = 0, cancelled = 0;
                for (int i = 0; i < got + k; i++) {
                    ok += cq[i].status == 0;
                    cancelled += cq[i].status == -ECANCELED;
                }
                CHECK_EQ(ok + cancelled, NREQ);
                CHECK(ok >= 2 && cancelled > 0);
                CHECK_EQ(ioq_outstanding(q), 0);
            }
            ioq_free(q); /* round 1: requests still in flight and queued */
        }
        free(buf);
        file_close(f);
    }
    remove_file(path);
    free(data);
}

/* A batch is queued whole or not at all. */
static void test_ioq_batch(void)
{
    size_t n = 1 << 16;
    uint8_t *data = malloc(n);
    for (size_t i = 0; i < n; i++)
        data[i] = pattern_byte(i);
    struct file *f;
    CHECK(file_open_mem(&f, data, n, false, "mem") == 0);
    for (size_t b = 0; b < HY_ARRAY_LEN(k_backends); b++) {
        struct ioq *q = new_queue(k_backends[b], 4);
        if (!q)
            continue;
        enum { NB = 10 };
        static uint8_t buf[NB][1000];
        struct ioq_req r[NB];
        for (int i = 0; i < NB; i++)
            r[i] = (struct ioq_req){.file = f, .buf = buf[i], .len = 1000,
                                    .off = (uint64_t)i * 3333, .tag = (uint64_t)i};
        r[7].need = 2000; /* bad */
        CHECK(ioq_submit_n(q, r, NB) == -EINVAL);
        CHECK_EQ(ioq_outstanding(q), 0);
        r[7].need = 0;
        CHECK(ioq_submit_n(q, r, NB) == 0);
        struct ioq_cqe cq[NB];
        CHECK_EQ(reap_all(q, cq, NB, NULL), NB);
        for (int i = 0; i < NB; i++)
            CHECK(cq[i].status == 0 && pattern_matches(buf[i], (uint64_t)i * 3333, 1000));
        ioq_free(q);
    }
    file_close(f);
    free(data);
}

/* Bad requests are refused, not queued. */
static void test_ioq_bad_requests(void)
{
    struct ioq_params p = ioq_default_params();
    struct ioq *q;
    p.depth = 0;
    CHECK(ioq_new(&p, &q) == -EINVAL);
    p.depth = IOQ_MAX_DEPTH + 1;
    CHECK(ioq_new(&p, &q) == -EINVAL);
    p = ioq_default_params();
    CHECK(ioq_new(&p, &q) == 0);
    uint8_t buf[64];
    struct file *m;
    CHECK(file_open_mem(&m, buf, sizeof buf, false, "mem") == 0);
    struct ioq_req r = {.file = m, .buf = buf, .len = 16, .need = 32};
    CHECK(ioq_submit(q, &r) == -EINVAL);
    r = (struct ioq_req){.file = m, .buf = NULL, .len = 16};
    CHECK(ioq_submit(q, &r) == -EINVAL);
    r = (struct ioq_req){.file = m, .buf = buf, .len = 16, .off = UINT64_MAX - 3};
    CHECK(ioq_submit(q, &r) == -EOVERFLOW);
    /* a direct file wants aligned requests */
    char *path = make_pattern_file(1 << 16);
    struct file *d = NULL;
    if (path && file_open_direct(&d, path) == 0 && d->direct) {
        uint8_t *ab = aligned_malloc(4096, 8192);
        r = (struct ioq_req){.file = d, .buf = ab, .len = 4096, .off = 32};
        CHECK(ioq_submit(q, &r) == -EINVAL);
        r = (struct ioq_req){.file = d, .buf = ab + 32, .len = 4096, .off = 0};
        CHECK(ioq_submit(q, &r) == -EINVAL);
        r = (struct ioq_req){.file = d, .buf = ab, .len = 4000, .off = 0};
        CHECK(ioq_submit(q, &r) == -EINVAL);
        CHECK(strstr(hy_last_error(), "file_widen") != NULL);
        free(ab);
    }
    CHECK_EQ(ioq_outstanding(q), 0);
    /* a zero-length request completes at once */
    r = (struct ioq_req){.file = m, .buf = buf, .len = 0, .tag = 42};
    CHECK(ioq_submit(q, &r) == 0);
    struct ioq_cqe c;
    CHECK(ioq_reap(q, &c, 1, 1) == 1 && c.tag == 42 && c.status == 0 && c.bytes == 0);
    CHECK(ioq_reap(q, &c, 1, 1) == 0); /* nothing outstanding: no wait */
    ioq_free(q);
    ioq_free(NULL);
    file_close(d);
    file_close(m);
    remove_file(path);
}

/* ---- storage measurement ---------------------------------------------------------------- */

static char *temp_path(void)
{
    const char *dir = getenv("HYPURA_TEST_TMP");
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/hypura-test-io-XXXXXX", dir && *dir ? dir : "/var/tmp");
    int fd = mkstemp(tmpl);
    if (fd < 0)
        return NULL;
    close(fd);
    return strdup(tmpl);
}

static void test_make_test_file(void)
{
    char *path = temp_path();
    if (!path) {
        TEST_SKIP("cannot write a temporary file under /var/tmp");
        return;
    }
    const uint64_t n = (1u << 20) + 123; /* a partial last block */
    CHECKF(io_make_test_file(path, n) == 0, "%s", hy_last_error());
    size_t len = 0;
    uint8_t *d = test_read_file(path, &len);
    CHECK_EQ(len, n);
    if (d && len == n) {
        size_t zeros = 0;
        for (size_t i = 0; i < n; i++)
            zeros += d[i] == 0;
        CHECK(zeros < n / 64);                      /* random bytes, not a hole */
        CHECK(memcmp(d, d + 4096, 4096) != 0);      /* not one block repeated */
    }
    free(d);
    CHECK(io_make_test_file("/nonexistent/dir/file", 4096) == -ENOENT);
    remove_file(path);
}

static void test_measure(void)
{
    char *path = temp_path();
    if (!path || io_make_test_file(path, 8u << 20) != 0) {
        TEST_SKIP("cannot write a temporary file under /var/tmp");
        remove_file(path);
        return;
    }
    static const enum io_path paths[] = {IO_PATH_BUFFERED, IO_PATH_DIRECT, IO_PATH_URING,
                                         IO_PATH_THREADS};
    for (size_t i = 0; i < HY_ARRAY_LEN(paths); i++)
        for (int random = 0; random < 2; random++)
            for (uint32_t depth = 1; depth <= 8; depth *= 8) {
                struct io_measure_params p = {.path = path, .io = paths[i], .random = random,
                                              .block = random ? 4096 : 65536, .depth = depth,
                                              .max_bytes = 2u << 20};
                struct io_measure_result r;
                int rc = io_measure(&p, &r);
                if (rc == -ENOSYS && paths[i] == IO_PATH_URING)
                    continue; /* no io_uring here */
                CHECKF(rc == 0, "path %d random %d depth %u: %s", (int)paths[i], random, depth,
                       hy_last_error());
                CHECK_EQ(r.bytes, 2u << 20);
                CHECK_EQ(r.n_requests, (2u << 20) / p.block);
                CHECK(r.seconds > 0 && r.bytes_per_s > 0 && r.iops > 0);
                CHECK(r.lat_avg_us > 0 && r.lat_p99_us > 0);
                CHECK(fabs(r.iops * r.seconds - (double)r.n_requests) < 1e-6 * r.iops + 1);
            }
    /* the whole file, sequentially: read once, never past the end */
    struct io_measure_params p = {.path = path, .io = IO_PATH_THREADS, .block = 1u << 20,
                                  .depth = 4};
    struct io_measure_result r;
    CHECK(io_measure(&p, &r) == 0);
    CHECK_EQ(r.bytes, 8u << 20);
    /* a time limit stops a long random run */
    p = (struct io_measure_params){.path = path, .io = IO_PATH_DIRECT, .random = true,
                                   .block = 4096, .depth = 1, .max_bytes = 1ull << 40,
                                   .max_seconds = 0.2};
    CHECK(io_measure(&p, &r) == 0);
    CHECK(r.seconds < 5 && r.n_requests > 0);
    /* errors */
    p = (struct io_measure_params){.path = path, .io = IO_PATH_DIRECT, .block = 4096 + 100};
    CHECK(io_measure(&p, &r) == -EINVAL);
    p = (struct io_measure_params){.path = path, .io = IO_PATH_URING, .block = 16u << 20};
    CHECK(io_measure(&p, &r) == -EINVAL);
    p = (struct io_measure_params){.path = "/nonexistent/x", .io = IO_PATH_DIRECT, .block = 4096};
    CHECK(io_measure(&p, &r) == -ENOENT);
    remove_file(path);
}

/* The CLI end to end: a small created file, two block sizes, JSON out. */
static void test_iobench_cli(void)
{
    char *path = temp_path();
    if (!path) {
        TEST_SKIP("cannot write a temporary file under /var/tmp");
        return;
    }
    unlink(path); /* iobench creates it, and removes it after */
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "%s iobench %s --size 4M --block 4K,64K --random-block 4K --depth 1,8 "
             "--seconds 0.05 --json 2>&1",
             test_hypura_bin(), path);
    FILE *p = popen(cmd, "r");
    if (!p) {
        TEST_SKIP("cannot run %s", test_hypura_bin());
        free(path);
        return;
    }
    char out[1 << 16];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    int status = pclose(p);
    CHECKF(status == 0, "exit status %d; output:\n%s", status, out);
    /* 3 configurations (2 sequential blocks + 1 random) x (buffered, direct, 2 uring,
     * 2 threads) */
    int rows = 0;
    for (const char *s = out; (s = strstr(s, "\"pattern\"")); s++)
        rows++;
    CHECK_EQ(rows, 3 * 6);
    CHECK(strstr(out, "\"path\": \"io_uring\"") && strstr(out, "\"path\": \"threads\""));
    CHECK(strstr(out, "\"status\": -") == NULL || strstr(out, "unavailable"));
    CHECK(access(path, F_OK) != 0); /* created, then removed */
    /* a bad option is an error, not a crash */
    snprintf(cmd, sizeof cmd, "%s iobench %s --block 1000 >/dev/null 2>&1", test_hypura_bin(),
             path);
    CHECK(system(cmd) != 0);
    free(path);
}

int main(void)
{
    RUN(test_widen);
    RUN(test_direct_vs_buffered);
    RUN(test_direct_refused);
    RUN(test_dio_align);
    RUN(test_ioq_random);
    RUN(test_ioq_no_descriptor);
    RUN(test_ioq_short_reads);
    RUN(test_ioq_read_errors);
    RUN(test_ioq_uring_faults);
    RUN(test_ioq_eof);
    RUN(test_ioq_priority);
    RUN(test_ioq_shutdown);
    RUN(test_ioq_batch);
    RUN(test_ioq_bad_requests);
    RUN(test_make_test_file);
    RUN(test_measure);
    RUN(test_iobench_cli);
    return test_finish();
}

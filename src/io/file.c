/* File layer backends: POSIX (buffered and direct), memory, fault injection. See file.h. */
#include "io/file.h"
#include "util/common.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#ifdef __linux__
#include <sys/sysmacros.h>
#endif
#include <time.h>
#include <unistd.h>

/* ---- POSIX ---------------------------------------------------------------------------- */
static int64_t posix_pread(struct file *f, void *buf, size_t n, uint64_t off)
{
    ssize_t r = pread(f->fd, buf, n, (off_t)off);
    return r < 0 ? -errno : r;
}

static void posix_close(struct file *f)
{
    if (f->fd >= 0)
        close(f->fd);
}

static const struct file_ops posix_ops = {.pread = posix_pread, .close = posix_close};

static struct file *file_alloc(size_t extra, const struct file_ops *ops, const char *path)
{
    struct file *f = calloc(1, sizeof *f + extra);
    if (!f)
        return NULL;
    f->ops = ops;
    f->fd = -1;
    f->align = 1;
    f->path = strdup(path ? path : "");
    if (!f->path) {
        free(f);
        return NULL;
    }
    return f;
}

/* Open path read-only with extra flags; check it is a regular file. Returns fd or -errno
 * (with set_error set), *size set. */
static int open_regular(const char *path, int flags, uint64_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | flags);
    if (fd < 0) {
        int e = errno;
        set_error("cannot open: %s", strerror(e));
        return -e;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        set_error("cannot stat: %s", strerror(e));
        close(fd);
        return -e;
    }
    if (!S_ISREG(st.st_mode)) {
        set_error(S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file");
        close(fd);
        return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
    }
    *size = (uint64_t)st.st_size;
    return fd;
}

static int64_t mtime_ns(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return 0;
    return (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
}

int file_check_unchanged(const struct file *f)
{
    struct stat st;
    if (f->fd < 0 || fstat(f->fd, &st) != 0)
        return 0; /* nothing to compare with: memory and fault-injection files */
    int64_t mt = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    if ((uint64_t)st.st_size != f->size || mt != f->mtime_ns) {
        set_error("%s changed on disk since it was opened (%llu bytes then, %llu now): "
                  "its weights can no longer be trusted; open it again",
                  f->path, (unsigned long long)f->size, (unsigned long long)st.st_size);
        return -ESTALE;
    }
    return 0;
}

int file_open(struct file **out, const char *path)
{
    *out = NULL;
    uint64_t size;
    int fd = open_regular(path, 0, &size);
    if (fd < 0)
        return fd;
    struct file *f = file_alloc(0, &posix_ops, path);
    if (!f) {
        close(fd);
        set_error("out of memory");
        return -ENOMEM;
    }
    f->fd = fd;
    f->size = size;
    f->mtime_ns = mtime_ns(fd);
    *out = f;
    return 0;
}

/* ---- direct I/O ----------------------------------------------------------------------- */
#define BOUNCE_MAX ((size_t)1 << 20) /* bytes of one unaligned direct read (it may be short) */
#define ALIGN_MAX  ((uint32_t)1 << 16) /* beyond this we do not believe the kernel */

static bool is_pow2(uint64_t a)
{
    return a && !(a & (a - 1));
}

int file_widen(uint64_t off, uint64_t len, uint32_t align, struct file_span *out)
{
    if (!is_pow2(align)) {
        set_error("alignment %u is not a power of two", align);
        return -EINVAL;
    }
    uint64_t end;
    if (add_overflow_u64(off, len, &end) || add_overflow_u64(end, align - 1, &end)) {
        set_error("range at %llu of %llu bytes overflows", (unsigned long long)off,
               (unsigned long long)len);
        return -EOVERFLOW;
    }
    uint64_t mask = (uint64_t)align - 1;
    out->off = off & ~mask;
    out->skip = off - out->off;
    out->len = (end & ~mask) - out->off;
    return 0;
}

/* The logical block size of the device holding fd (sysfs), or 0 when unknown (tmpfs,
 * network file systems, non-Linux). */
static uint32_t logical_block_size(int fd)
{
#ifdef __linux__
    struct stat st;
    if (fstat(fd, &st) != 0 || major(st.st_dev) == 0)
        return 0;
    /* /sys/dev/block/M:m is the disk itself or a partition inside the disk's directory */
    static const char *const rel[] = {"queue/logical_block_size", "../queue/logical_block_size"};
    for (size_t i = 0; i < HY_ARRAY_LEN(rel); i++) {
        char p[128];
        snprintf(p, sizeof p, "/sys/dev/block/%u:%u/%s", major(st.st_dev), minor(st.st_dev),
                 rel[i]);
        FILE *fp = fopen(p, "r");
        if (!fp)
            continue;
        unsigned v = 0;
        int ok = fscanf(fp, "%u", &v);
        fclose(fp);
        if (ok == 1 && is_pow2(v) && v <= ALIGN_MAX)
            return v;
    }
#else
    (void)fd;
#endif
    return 0;
}

uint32_t file_dio_align(int fd)
{
#if defined(__linux__) && defined(STATX_DIOALIGN)
    struct statx sx;
    if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &sx) == 0 && (sx.stx_mask & STATX_DIOALIGN)) {
        uint32_t a = HY_MAX(sx.stx_dio_mem_align, sx.stx_dio_offset_align);
        if (is_pow2(a) && a <= ALIGN_MAX)
            return a;
    }
#endif
    uint32_t a = logical_block_size(fd);
    return a ? a : 4096;
}

/* A direct read: straight to the device when buf, off and n are aligned; otherwise the
 * widened range goes through an aligned bounce buffer (at most BOUNCE_MAX per call, so
 * the read may be short; file_read_at and ioq continue it). */
static int64_t direct_pread(struct file *f, void *buf, size_t n, uint64_t off)
{
    uint64_t mask = (uint64_t)f->align - 1;
    if (!(((uintptr_t)buf | off | n) & mask)) {
        ssize_t r = pread(f->fd, buf, n, (off_t)off);
        return r < 0 ? -errno : r;
    }
    struct file_span sp;
    int rc = file_widen(off, n, f->align, &sp);
    if (rc)
        return rc;
    if (sp.len > BOUNCE_MAX) /* BOUNCE_MAX >= 2 * ALIGN_MAX > skip: progress is made */
        sp.len = BOUNCE_MAX;
    uint8_t *bounce = aligned_malloc(HY_MAX(f->align, sizeof(void *)), (size_t)sp.len);
    if (!bounce)
        return -ENOMEM;
    ssize_t r = pread(f->fd, bounce, (size_t)sp.len, (off_t)sp.off);
    int64_t got;
    if (r < 0) {
        got = -errno;
    } else if ((uint64_t)r <= sp.skip) {
        got = 0; /* end of file before the first wanted byte */
    } else {
        got = (int64_t)HY_MIN((uint64_t)r - sp.skip, (uint64_t)n);
        memcpy(buf, bounce + sp.skip, (size_t)got);
    }
    free(bounce);
    return got;
}

static const struct file_ops direct_ops = {.pread = direct_pread, .close = posix_close};

/* Is direct I/O usable on fd? Some file systems accept O_DIRECT at open and refuse the
 * reads (EINVAL): read the first block to find out. 0 = usable, else -errno. */
static int direct_probe(int fd, uint32_t align, uint64_t size)
{
    if (size == 0)
        return 0;
    void *b = aligned_malloc(HY_MAX(align, sizeof(void *)), align);
    if (!b)
        return -ENOMEM;
    ssize_t r = pread(fd, b, align, 0);
    int e = r < 0 ? -errno : 0;
    free(b);
    return e;
}

int file_open_direct(struct file **out, const char *path)
{
    *out = NULL;
    uint64_t size = 0;
    int fd = -1;
    bool direct = false;
    uint32_t align = 1;
    int why = 0; /* errno that made us fall back to buffered */
#if defined(O_DIRECT)
    fd = open_regular(path, O_DIRECT, &size);
    if (fd >= 0) {
        align = file_dio_align(fd);
        why = direct_probe(fd, align, size);
        if (why && why != -EINVAL && why != -EOPNOTSUPP) {
            /* not a refusal of direct I/O: the file cannot be read (EIO, ENOMEM) */
            close(fd);
            set_error("first read of %s failed: %s", path, strerror(-why));
            return why;
        }
        if (why) {
            close(fd);
            fd = -1;
        } else {
            direct = true;
        }
    } else if (fd == -EINVAL) {
        why = fd; /* the file system refuses O_DIRECT (tmpfs before Linux 6.6, procfs) */
    } else {
        return fd; /* missing file, permissions, not regular: the real reason */
    }
#elif defined(__APPLE__)
    fd = open_regular(path, 0, &size);
    if (fd < 0)
        return fd;
    if (fcntl(fd, F_NOCACHE, 1) == 0) {
        direct = true;
        align = 4096; /* F_NOCACHE needs none; page-aligned transfers avoid copies */
    } else {
        why = -errno;
    }
#else
    why = -EOPNOTSUPP;
#endif
    if (!direct) {
        LOG_WARN("%s: direct I/O refused (%s); reading through the page cache", path,
                 strerror(-why));
        if (fd < 0) {
            fd = open_regular(path, 0, &size);
            if (fd < 0)
                return fd;
        }
        align = 1;
    }
    struct file *f = file_alloc(0, direct ? &direct_ops : &posix_ops, path);
    if (!f) {
        close(fd);
        set_error("out of memory");
        return -ENOMEM;
    }
    f->fd = fd;
    f->size = size;
    f->mtime_ns = mtime_ns(fd);
    f->direct = direct;
    f->align = align;
    *out = f;
    return 0;
}

int file_drop_cache(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        set_error("cannot open %s: %s", path, strerror(e));
        return -e;
    }
    int rc = 0;
    /* DONTNEED drops clean pages only: write dirty ones first */
#ifdef __APPLE__
    int synced = fsync(fd); /* macOS has no fdatasync, nor a per-file eviction: there the
                               runtime's reads use F_NOCACHE instead */
#else
    int synced = fdatasync(fd);
#endif
    if (synced != 0 && errno != EINVAL && errno != EROFS) {
        rc = -errno;
        set_error("fdatasync %s: %s", path, strerror(-rc));
    }
#if defined(POSIX_FADV_DONTNEED)
    if (!rc) {
        int e = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        if (e) {
            rc = -e;
            set_error("posix_fadvise %s: %s", path, strerror(e));
        }
    }
#endif
    close(fd);
    return rc;
}

/* ---- memory --------------------------------------------------------------------------- */
struct mem_file {
    struct file base;
    const uint8_t *data;
    uint8_t *owned;
};

static int64_t mem_pread(struct file *f, void *buf, size_t n, uint64_t off)
{
    struct mem_file *m = (struct mem_file *)f;
    if (off >= f->size)
        return 0;
    size_t k = (size_t)((f->size - off) < n ? f->size - off : n);
    memcpy(buf, m->data + off, k);
    return (int64_t)k;
}

static void mem_close(struct file *f)
{
    free(((struct mem_file *)f)->owned);
}

static const struct file_ops mem_ops = {.pread = mem_pread, .close = mem_close};

int file_open_mem(struct file **out, const void *data, size_t n, bool copy, const char *name)
{
    *out = NULL;
    struct mem_file *m = (struct mem_file *)file_alloc(sizeof *m - sizeof(struct file), &mem_ops,
                                                       name ? name : "<memory>");
    if (!m) {
        set_error("out of memory");
        return -ENOMEM;
    }
    if (copy) {
        m->owned = malloc(n ? n : 1);
        if (!m->owned) {
            free(m->base.path);
            free(m);
            set_error("out of memory");
            return -ENOMEM;
        }
        memcpy(m->owned, data, n);
        m->data = m->owned;
    } else {
        m->data = data;
    }
    m->base.size = n;
    *out = &m->base;
    return 0;
}

/* ---- fault injection ------------------------------------------------------------------ */
struct fault_file {
    struct file base;
    struct file *inner;
    struct file_fault spec;
    _Atomic uint64_t calls;
};

static int64_t fault_pread(struct file *f, void *buf, size_t n, uint64_t off)
{
    struct fault_file *ff = (struct fault_file *)f;
    uint64_t call = atomic_fetch_add(&ff->calls, 1) + 1;
    const struct file_fault *s = &ff->spec;
    if (s->delay_us) {
        struct timespec ts = {s->delay_us / 1000000, (long)(s->delay_us % 1000000) * 1000};
        nanosleep(&ts, NULL);
    }
    uint64_t count = s->fail_count ? s->fail_count : 1;
    if (s->fail_nth && call >= s->fail_nth && call < s->fail_nth + count)
        return -(s->fail_errno ? s->fail_errno : EIO);
    if (s->eof_at) {
        if (off >= s->eof_at)
            return 0;
        if (n > s->eof_at - off)
            n = (size_t)(s->eof_at - off);
    }
    if (s->short_max && n > s->short_max)
        n = s->short_max;
    return ff->inner->ops->pread(ff->inner, buf, n, off);
}

static void fault_close(struct file *f)
{
    file_close(((struct fault_file *)f)->inner);
}

static const struct file_ops fault_ops = {.pread = fault_pread, .close = fault_close};

int file_open_fault(struct file **out, struct file *inner, const struct file_fault *spec)
{
    *out = NULL;
    struct fault_file *ff = (struct fault_file *)file_alloc(sizeof *ff - sizeof(struct file),
                                                           &fault_ops, inner->path);
    if (!ff) {
        file_close(inner);
        set_error("out of memory");
        return -ENOMEM;
    }
    ff->inner = inner;
    ff->spec = *spec;
    ff->base.size = inner->size;
    ff->base.direct = inner->direct;
    ff->base.align = inner->align;
    *out = &ff->base;
    return 0;
}

/* ---- common --------------------------------------------------------------------------- */
int file_read_at(struct file *f, void *buf, size_t n, uint64_t off)
{
    uint8_t *p = buf;
    size_t done = 0;
    int eintr = 0;
    while (done < n) {
        int64_t r = f->ops->pread(f, p + done, n - done, off + done);
        atomic_fetch_add(&f->n_reads, 1);
        if (r < 0) {
            if ((r == -EINTR || r == -EAGAIN) && ++eintr < 1000)
                continue;
            set_error("read of %zu bytes at offset %llu failed: %s", n, (unsigned long long)off,
                   strerror((int)-r));
            return (int)r;
        }
        if (r == 0) {
            set_error("unexpected end of file at offset %llu (wanted %zu bytes at %llu)",
                   (unsigned long long)(off + done), n, (unsigned long long)off);
            return -EIO;
        }
        done += (size_t)r;
        atomic_fetch_add(&f->bytes_read, (uint64_t)r);
    }
    return 0;
}

static _Atomic uint64_t g_headers_read;

void file_note_header(struct file *f)
{
    (void)f;
    atomic_fetch_add(&g_headers_read, 1);
}

uint64_t hy_headers_read(void)
{
    return atomic_load(&g_headers_read);
}

void file_close(struct file *f)
{
    if (!f)
        return;
    f->ops->close(f);
    free(f->path);
    free(f);
}

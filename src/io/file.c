/* File layer backends: POSIX, memory, fault injection. See file.h. */
#include "io/file.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- POSIX ---------------------------------------------------------------------------- */
static int64_t posix_pread(struct hy_file *f, void *buf, size_t n, uint64_t off)
{
    ssize_t r = pread(f->fd, buf, n, (off_t)off);
    return r < 0 ? -errno : r;
}

static void posix_close(struct hy_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
}

static const struct hy_file_ops posix_ops = {.pread = posix_pread, .close = posix_close};

static struct hy_file *file_alloc(size_t extra, const struct hy_file_ops *ops, const char *path)
{
    struct hy_file *f = calloc(1, sizeof *f + extra);
    if (!f)
        return NULL;
    f->ops = ops;
    f->fd = -1;
    f->path = strdup(path ? path : "");
    if (!f->path) {
        free(f);
        return NULL;
    }
    return f;
}

int file_open(struct hy_file **out, const char *path)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        hy_err("cannot open: %s", strerror(e));
        return -e;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int e = S_ISDIR(st.st_mode) ? EISDIR : (errno ? errno : EINVAL);
        hy_err("not a regular file");
        close(fd);
        return -e;
    }
    struct hy_file *f = file_alloc(0, &posix_ops, path);
    if (!f) {
        close(fd);
        hy_err("out of memory");
        return -ENOMEM;
    }
    f->fd = fd;
    f->size = (uint64_t)st.st_size;
    *out = f;
    return 0;
}

/* ---- memory --------------------------------------------------------------------------- */
struct mem_file {
    struct hy_file base;
    const uint8_t *data;
    uint8_t *owned;
};

static int64_t mem_pread(struct hy_file *f, void *buf, size_t n, uint64_t off)
{
    struct mem_file *m = (struct mem_file *)f;
    if (off >= f->size)
        return 0;
    size_t k = (size_t)((f->size - off) < n ? f->size - off : n);
    memcpy(buf, m->data + off, k);
    return (int64_t)k;
}

static void mem_close(struct hy_file *f)
{
    free(((struct mem_file *)f)->owned);
}

static const struct hy_file_ops mem_ops = {.pread = mem_pread, .close = mem_close};

int file_open_mem(struct hy_file **out, const void *data, size_t n, bool copy, const char *name)
{
    *out = NULL;
    struct mem_file *m = (struct mem_file *)file_alloc(sizeof *m - sizeof(struct hy_file), &mem_ops,
                                                       name ? name : "<memory>");
    if (!m) {
        hy_err("out of memory");
        return -ENOMEM;
    }
    if (copy) {
        m->owned = malloc(n ? n : 1);
        if (!m->owned) {
            free(m->base.path);
            free(m);
            hy_err("out of memory");
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
    struct hy_file base;
    struct hy_file *inner;
    struct file_fault spec;
    _Atomic uint64_t calls;
};

static int64_t fault_pread(struct hy_file *f, void *buf, size_t n, uint64_t off)
{
    struct fault_file *ff = (struct fault_file *)f;
    uint64_t call = atomic_fetch_add(&ff->calls, 1) + 1;
    const struct file_fault *s = &ff->spec;
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

static void fault_close(struct hy_file *f)
{
    file_close(((struct fault_file *)f)->inner);
}

static const struct hy_file_ops fault_ops = {.pread = fault_pread, .close = fault_close};

int file_open_fault(struct hy_file **out, struct hy_file *inner, const struct file_fault *spec)
{
    *out = NULL;
    struct fault_file *ff = (struct fault_file *)file_alloc(sizeof *ff - sizeof(struct hy_file),
                                                           &fault_ops, inner->path);
    if (!ff) {
        file_close(inner);
        hy_err("out of memory");
        return -ENOMEM;
    }
    ff->inner = inner;
    ff->spec = *spec;
    ff->base.size = inner->size;
    *out = &ff->base;
    return 0;
}

/* ---- common --------------------------------------------------------------------------- */
int file_read_at(struct hy_file *f, void *buf, size_t n, uint64_t off)
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
            hy_err("read of %zu bytes at offset %llu failed: %s", n, (unsigned long long)off,
                   strerror((int)-r));
            return (int)r;
        }
        if (r == 0) {
            hy_err("unexpected end of file at offset %llu (wanted %zu bytes at %llu)",
                   (unsigned long long)(off + done), n, (unsigned long long)off);
            return -EIO;
        }
        done += (size_t)r;
        atomic_fetch_add(&f->bytes_read, (uint64_t)r);
    }
    return 0;
}

void file_close(struct hy_file *f)
{
    if (!f)
        return;
    f->ops->close(f);
    free(f->path);
    free(f);
}

/* What the kernel says about this machine, read from /proc and /sys: memory (meminfo) and
 * the memory cgroup limits that apply to this process (v1 and v2, every ancestor), the
 * CPU model and the CPUs this process may run on, the block device holding a directory.
 * Nothing here measures anything or keeps state; absent files mean "unknown" or "no
 * limit", never an error.
 *
 * Not owned here: measuring (profile_cpu.c, profile_storage.c), what the figures mean for
 * budgets (profile_budget.c). */
#include "tier/sysinfo.h"
#include "tier/profile.h"
#include "util/common.h"
#include "util/cpu.h"
#include "util/log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* ---- small file helpers --------------------------------------------------------------- */

int sysinfo_read_file(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    size_t n = 0;
    while (n + 1 < cap) {
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            return -e;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = 0;
    return (int)n;
}

static bool read_u64_file(const char *path, uint64_t *v)
{
    char buf[64];
    if (sysinfo_read_file(path, buf, sizeof buf) <= 0)
        return false;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(buf, &end, 10);
    if (errno || end == buf)
        return false;
    *v = x;
    return true;
}

/* "key: value kB" from /proc/meminfo-style text. */
static bool meminfo_get(const char *text, const char *key, uint64_t *out)
{
    size_t kl = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (!strncmp(p, key, kl) && p[kl] == ':') {
            unsigned long long v = strtoull(p + kl + 1, NULL, 10);
            *out = (uint64_t)v * 1024;
            return true;
        }
    }
    return false;
}

/* "key value" lines (memory.stat). */
static bool stat_get(const char *text, const char *key, uint64_t *out)
{
    size_t kl = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (!strncmp(p, key, kl) && p[kl] == ' ') {
            *out = strtoull(p + kl + 1, NULL, 10);
            return true;
        }
    }
    return false;
}

/* ---- memory and cgroups --------------------------------------------------------------- */

/* Limits at or above this mean "no limit" (v1 writes 2^63 rounded down to a page). */
#define CGROUP_NO_LIMIT (1ull << 62)

struct cg_best {
    uint64_t limit, usage;
    int version;
};

/* Look at dir (a cgroup directory) for a limit; keep the tightest. */
static void cg_try(const char *dir, int version, struct cg_best *b)
{
    char path[PATH_MAX * 2 + 32];
    uint64_t lim = 0, use = 0, inactive = 0;
    char buf[8192];
    if (version == 1) {
        snprintf(path, sizeof path, "%s/memory.limit_in_bytes", dir);
        if (!read_u64_file(path, &lim))
            return;
        snprintf(path, sizeof path, "%s/memory.usage_in_bytes", dir);
        read_u64_file(path, &use);
        snprintf(path, sizeof path, "%s/memory.stat", dir);
        if (sysinfo_read_file(path, buf, sizeof buf) > 0 && !stat_get(buf, "total_inactive_file", &inactive))
            stat_get(buf, "inactive_file", &inactive);
    } else {
        snprintf(path, sizeof path, "%s/memory.max", dir);
        if (sysinfo_read_file(path, buf, sizeof buf) <= 0)
            return;
        if (!strncmp(buf, "max", 3))
            return;
        lim = strtoull(buf, NULL, 10);
        snprintf(path, sizeof path, "%s/memory.current", dir);
        read_u64_file(path, &use);
        snprintf(path, sizeof path, "%s/memory.stat", dir);
        if (sysinfo_read_file(path, buf, sizeof buf) > 0)
            stat_get(buf, "inactive_file", &inactive);
    }
    if (lim == 0 || lim >= CGROUP_NO_LIMIT)
        return;
    /* inactive page cache is reclaimed before the limit bites: not really used */
    use = use > inactive ? use - inactive : 0;
    /* the level with the least room left binds: a roomy limit nearly used up by other
     * members of an ancestor is tighter than a small one of our own */
    uint64_t room = lim > use ? lim - use : 0;
    if (!b->limit || room < (b->limit > b->usage ? b->limit - b->usage : 0)) {
        b->limit = lim;
        b->usage = use;
        b->version = version;
    }
}

/* The cgroup path, then each ancestor up to the mount root. When the process's path
 * does not exist under the mount (a cgroup namespace shows "/" or the mount is the
 * cgroup itself), the mount root is still looked at. */
static void cg_walk(const char *root, const char *cgpath, int version, struct cg_best *b)
{
    char rel[PATH_MAX];
    snprintf(rel, sizeof rel, "%s", cgpath);
    for (;;) {
        char dir[PATH_MAX * 2];
        size_t n = strlen(rel);
        while (n > 0 && rel[n - 1] == '/')
            rel[--n] = 0;
        snprintf(dir, sizeof dir, "%s%s", root, rel);
        struct stat st;
        if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
            cg_try(dir, version, b);
        if (n == 0)
            break;
        char *slash = strrchr(rel, '/');
        if (!slash)
            break;
        *slash = 0;
    }
}

int profile_cgroup_limit(const char *proc_cgroup, const char *v1_root, const char *v2_root,
                         uint64_t *limit, uint64_t *usage, int *version)
{
    struct cg_best b = {0};
    for (const char *p = proc_cgroup; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char line[PATH_MAX];
        if (len < sizeof line) {
            memcpy(line, p, len);
            line[len] = 0;
            /* id:controllers:path */
            char *c1 = strchr(line, ':');
            char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
            if (c1 && c2) {
                *c1 = 0;
                *c2 = 0;
                const char *ctrl = c1 + 1, *path = c2 + 1;
                bool mem = false;
                for (const char *q = ctrl; *q;) {
                    const char *comma = strchr(q, ',');
                    size_t k = comma ? (size_t)(comma - q) : strlen(q);
                    if (k == 6 && !strncmp(q, "memory", 6))
                        mem = true;
                    q += k + (comma ? 1 : 0);
                }
                if (mem && v1_root)
                    cg_walk(v1_root, path, 1, &b);
                else if (!strcmp(line, "0") && !*ctrl && v2_root)
                    cg_walk(v2_root, path, 2, &b);
            }
        }
        p = nl ? nl + 1 : NULL;
    }
    *limit = b.limit;
    *usage = b.usage;
    *version = b.version;
    return 0;
}

int profile_read_memory(struct hy_profile *prof)
{
    char buf[8192];
    if (sysinfo_read_file("/proc/meminfo", buf, sizeof buf) > 0) {
        meminfo_get(buf, "MemTotal", &prof->ram_total);
        if (!meminfo_get(buf, "MemAvailable", &prof->ram_available))
            meminfo_get(buf, "MemFree", &prof->ram_available);
    } else {
        long pages = sysconf(_SC_PHYS_PAGES), avail = sysconf(_SC_AVPHYS_PAGES);
        long ps = sysconf(_SC_PAGESIZE);
        if (pages > 0 && ps > 0) {
            prof->ram_total = (uint64_t)pages * (uint64_t)ps;
            prof->ram_available = avail > 0 ? (uint64_t)avail * (uint64_t)ps : prof->ram_total / 2;
        }
    }
    prof->cgroup_limit = prof->cgroup_usage = 0;
    prof->cgroup_version = 0;
    char cg[8192];
    if (sysinfo_read_file("/proc/self/cgroup", cg, sizeof cg) > 0) {
        /* the usual mounts; a v1 memory controller mounted elsewhere is not found */
        profile_cgroup_limit(cg, "/sys/fs/cgroup/memory", "/sys/fs/cgroup/unified", &prof->cgroup_limit,
                             &prof->cgroup_usage, &prof->cgroup_version);
        if (!prof->cgroup_limit) {
            /* pure v2 systems mount the unified hierarchy at /sys/fs/cgroup itself */
            struct stat st;
            if (stat("/sys/fs/cgroup/cgroup.controllers", &st) == 0)
                profile_cgroup_limit(cg, NULL, "/sys/fs/cgroup", &prof->cgroup_limit,
                                     &prof->cgroup_usage, &prof->cgroup_version);
        }
    }
    return 0;
}

/* ---- CPU ------------------------------------------------------------------------------ */

void sysinfo_cpu_model(char *out, size_t cap)
{
    char *buf = malloc(1 << 16);
    snprintf(out, cap, "unknown");
    if (!buf)
        return;
    if (sysinfo_read_file("/proc/cpuinfo", buf, 1 << 16) > 0) {
        static const char *const keys[] = {"model name", "Hardware", "Processor", "cpu model"};
        for (size_t k = 0; k < HY_ARRAY_LEN(keys); k++) {
            char *p = strstr(buf, keys[k]);
            if (!p)
                continue;
            char *colon = strchr(p, ':');
            char *nl = strchr(p, '\n');
            if (!colon || (nl && colon > nl))
                continue;
            colon++;
            while (*colon == ' ' || *colon == '\t')
                colon++;
            size_t n = nl ? (size_t)(nl - colon) : strlen(colon);
            if (n >= cap)
                n = cap - 1;
            memcpy(out, colon, n);
            out[n] = 0;
            break;
        }
    }
    free(buf);
}

int sysinfo_n_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        int n = CPU_COUNT(&set);
        if (n > 0)
            return n;
    }
    return cpu_features()->n_cpus;
}

/* ---- storage -------------------------------------------------------------------------- */

int profile_disk_id(const char *dir, char *buf, size_t cap)
{
    struct stat st;
    if (stat(dir, &st) != 0) {
        int e = errno;
        set_error("%s: %s", dir, strerror(e));
        return -e;
    }
    unsigned ma = major(st.st_dev), mi = minor(st.st_dev);
    char name[64] = "?";
    char path[128], link[PATH_MAX];
    snprintf(path, sizeof path, "/sys/dev/block/%u:%u", ma, mi);
    ssize_t n = readlink(path, link, sizeof link - 1);
    if (n > 0) {
        link[n] = 0;
        const char *base = strrchr(link, '/');
        snprintf(name, sizeof name, "%.63s", base ? base + 1 : link);
    } else if (ma == 0) {
        /* overlay, tmpfs, nfs...: no block device of its own */
        char fs[32] = "virtual";
        snprintf(name, sizeof name, "%s", fs);
    }
    snprintf(buf, cap, "%u:%u %s", ma, mi, name);
    return 0;
}

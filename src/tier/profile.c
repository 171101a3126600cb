/* The hardware profile: measuring and caching. See profile.h.
 *
 * Measuring takes about 10 s: CPU FMA rate (~0.5 s), memory read bandwidth (~1 s), the
 * storage (a fresh 256 MiB file written with direct I/O, read back at several request
 * sizes and queue depths, then random 4 KiB reads; deleted afterwards), the GPU in CUDA
 * builds. The result is cached as JSON: the host part keyed by its fingerprint (CPU
 * model, cores, RAM total), each storage device by its id, so a model on another device
 * only measures that device.
 *
 * Not owned here: the read paths themselves (io/iomeasure.c), the GPU code (cuda/), what
 * /proc and /sys say (sysinfo.c). */
#include "tier/profile.h"
#include "io/iomeasure.h"
#include "tier/sysinfo.h"
#include "util/common.h"
#include "util/cpu.h"
#include "util/log.h"
#ifndef HYPURA_CUDA
#define HYPURA_CUDA 0
#endif
#if HYPURA_CUDA
#include "cuda/profile_gpu.h"
#endif

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#define GiB (1024.0 * 1024 * 1024)
#define PROFILE_VERSION 1

struct hy_profile_params hy_profile_default_params(void)
{
    struct hy_profile_params p = {0};
    return p;
}

/* Figures for a machine nothing was measured on: a modest laptop with a SATA SSD, so an
 * unmeasured prediction errs on the slow side. */
void profile_defaults(struct hy_profile *prof)
{
    memset(prof, 0, sizeof *prof);
    snprintf(prof->cpu_model, sizeof prof->cpu_model, "unknown");
    const struct cpu_features *cpu = cpu_features();
    prof->n_cores = cpu->n_cpus > 0 ? cpu->n_cpus : 1;
    snprintf(prof->simd, sizeof prof->simd, "%s", simd_name(cpu->level));
    prof->cpu_flops_1t = 50e9;
    prof->cpu_flops = prof->cpu_flops_1t * prof->n_cores;
    prof->mem_bw_1t = 8e9;
    prof->mem_bw = 16e9;
    prof->disk_bw = 500e6;
    prof->disk_block = 1u << 20;
    prof->disk_depth = 8;
    prof->disk_iops = 50000;
    prof->disk_iops_depth = 32;
    prof->disk_iops_qd1 = 5000;
    snprintf(prof->disk_io, sizeof prof->disk_io, "none");
}

int profile_measure_gpu(struct hy_profile *prof)
{
    prof->has_gpu = false;
#if HYPURA_CUDA
    return cuda_profile_gpu(prof);
#else
    return 0;
#endif
}

/* ---- JSON ----------------------------------------------------------------------------- */

static void host_to_json(const struct hy_profile *p, cJSON *o)
{
    cJSON_AddStringToObject(o, "cpu_model", p->cpu_model);
    cJSON_AddNumberToObject(o, "n_cores", p->n_cores);
    cJSON_AddStringToObject(o, "simd", p->simd);
    cJSON_AddNumberToObject(o, "cpu_flops", p->cpu_flops);
    cJSON_AddNumberToObject(o, "cpu_flops_1t", p->cpu_flops_1t);
    cJSON_AddNumberToObject(o, "cpu_matvec_flops", p->cpu_matvec_flops);
    cJSON_AddNumberToObject(o, "cpu_matmul_flops", p->cpu_matmul_flops);
    cJSON_AddNumberToObject(o, "ram_total", (double)p->ram_total);
    cJSON_AddNumberToObject(o, "mem_bw", p->mem_bw);
    cJSON_AddNumberToObject(o, "mem_bw_1t", p->mem_bw_1t);
    cJSON_AddBoolToObject(o, "cuda_build", HYPURA_CUDA != 0);
    cJSON_AddBoolToObject(o, "has_gpu", p->has_gpu);
    if (p->has_gpu) {
        cJSON_AddStringToObject(o, "gpu_name", p->gpu_name);
        cJSON_AddNumberToObject(o, "vram_total", (double)p->vram_total);
        cJSON_AddNumberToObject(o, "vram_free", (double)p->vram_free);
        cJSON_AddNumberToObject(o, "gpu_mem_bw", p->gpu_mem_bw);
        cJSON_AddNumberToObject(o, "gpu_h2d_bw", p->gpu_h2d_bw);
        cJSON_AddNumberToObject(o, "gpu_flops", p->gpu_flops);
    }
    cJSON_AddBoolToObject(o, "measured", p->measured);
    cJSON_AddNumberToObject(o, "measure_seconds", p->measure_seconds);
    cJSON_AddNumberToObject(o, "measured_at", (double)p->measured_at);
}

static void disk_to_json(const struct hy_profile *p, cJSON *o)
{
    cJSON_AddStringToObject(o, "disk_path", p->disk_path);
    cJSON_AddStringToObject(o, "disk_dev", p->disk_dev);
    cJSON_AddStringToObject(o, "disk_io", p->disk_io);
    cJSON_AddNumberToObject(o, "disk_bw", p->disk_bw);
    cJSON_AddNumberToObject(o, "disk_block", p->disk_block);
    cJSON_AddNumberToObject(o, "disk_depth", p->disk_depth);
    cJSON_AddNumberToObject(o, "disk_iops", p->disk_iops);
    cJSON_AddNumberToObject(o, "disk_iops_depth", p->disk_iops_depth);
    cJSON_AddNumberToObject(o, "disk_iops_qd1", p->disk_iops_qd1);
    cJSON_AddBoolToObject(o, "disk_measured", p->disk_measured);
    cJSON *arr = cJSON_AddArrayToObject(o, "disk_seq");
    for (int i = 0; arr && i < p->n_disk; i++) {
        cJSON *pt = cJSON_CreateObject();
        cJSON_AddNumberToObject(pt, "block", p->disk[i].block);
        cJSON_AddNumberToObject(pt, "depth", p->disk[i].depth);
        cJSON_AddNumberToObject(pt, "bytes_per_s", p->disk[i].bytes_per_s);
        cJSON_AddItemToArray(arr, pt);
    }
}

char *profile_to_json(const struct hy_profile *p)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    host_to_json(p, o);
    cJSON_AddNumberToObject(o, "ram_available", (double)p->ram_available);
    cJSON_AddNumberToObject(o, "cgroup_limit", (double)p->cgroup_limit);
    cJSON_AddNumberToObject(o, "cgroup_usage", (double)p->cgroup_usage);
    cJSON_AddNumberToObject(o, "cgroup_version", p->cgroup_version);
    disk_to_json(p, o);
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    return s;
}

char *hy_profile_json(const struct hy_profile *prof)
{
    return profile_to_json(prof);
}

static void j_str(const cJSON *o, const char *k, char *dst, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsString(v) && v->valuestring)
        snprintf(dst, cap, "%s", v->valuestring);
}

static void j_num(const cJSON *o, const char *k, double *dst)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsNumber(v) && isfinite(v->valuedouble) && v->valuedouble >= 0)
        *dst = v->valuedouble;
}

static void j_u64(const cJSON *o, const char *k, uint64_t *dst)
{
    double d = -1;
    j_num(o, k, &d);
    if (d >= 0 && d < 1.8e19)
        *dst = (uint64_t)d;
}

static void j_u32(const cJSON *o, const char *k, uint32_t *dst)
{
    double d = -1;
    j_num(o, k, &d);
    if (d >= 0 && d <= 4294967295.0)
        *dst = (uint32_t)d;
}

static void j_int(const cJSON *o, const char *k, int *dst)
{
    double d = -1;
    j_num(o, k, &d);
    if (d >= 0 && d <= 1e6)
        *dst = (int)d;
}

static void j_bool(const cJSON *o, const char *k, bool *dst)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsBool(v))
        *dst = cJSON_IsTrue(v);
}

static void host_from_json(const cJSON *o, struct hy_profile *p)
{
    j_str(o, "cpu_model", p->cpu_model, sizeof p->cpu_model);
    j_int(o, "n_cores", &p->n_cores);
    j_str(o, "simd", p->simd, sizeof p->simd);
    j_num(o, "cpu_flops", &p->cpu_flops);
    j_num(o, "cpu_flops_1t", &p->cpu_flops_1t);
    j_num(o, "cpu_matvec_flops", &p->cpu_matvec_flops);
    j_num(o, "cpu_matmul_flops", &p->cpu_matmul_flops);
    j_u64(o, "ram_total", &p->ram_total);
    j_num(o, "mem_bw", &p->mem_bw);
    j_num(o, "mem_bw_1t", &p->mem_bw_1t);
    j_bool(o, "has_gpu", &p->has_gpu);
    j_str(o, "gpu_name", p->gpu_name, sizeof p->gpu_name);
    j_u64(o, "vram_total", &p->vram_total);
    j_u64(o, "vram_free", &p->vram_free);
    j_num(o, "gpu_mem_bw", &p->gpu_mem_bw);
    j_num(o, "gpu_h2d_bw", &p->gpu_h2d_bw);
    j_num(o, "gpu_flops", &p->gpu_flops);
    j_bool(o, "measured", &p->measured);
    j_num(o, "measure_seconds", &p->measure_seconds);
    double at = 0;
    j_num(o, "measured_at", &at);
    p->measured_at = (int64_t)at;
}

static void disk_from_json(const cJSON *o, struct hy_profile *p)
{
    j_str(o, "disk_path", p->disk_path, sizeof p->disk_path);
    j_str(o, "disk_dev", p->disk_dev, sizeof p->disk_dev);
    j_str(o, "disk_io", p->disk_io, sizeof p->disk_io);
    j_num(o, "disk_bw", &p->disk_bw);
    j_u32(o, "disk_block", &p->disk_block);
    j_u32(o, "disk_depth", &p->disk_depth);
    j_num(o, "disk_iops", &p->disk_iops);
    j_u32(o, "disk_iops_depth", &p->disk_iops_depth);
    j_num(o, "disk_iops_qd1", &p->disk_iops_qd1);
    j_bool(o, "disk_measured", &p->disk_measured);
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "disk_seq");
    const cJSON *pt;
    int n = 0;
    cJSON_ArrayForEach(pt, arr)
    {
        if (n >= HY_PROFILE_MAX_DISK)
            break;
        struct hy_disk_point d = {0};
        j_u32(pt, "block", &d.block);
        j_u32(pt, "depth", &d.depth);
        j_num(pt, "bytes_per_s", &d.bytes_per_s);
        if (d.block && d.depth && d.bytes_per_s > 0)
            p->disk[n++] = d;
    }
    p->n_disk = n;
}

int profile_from_json(const char *json, struct hy_profile *p)
{
    cJSON *o = cJSON_Parse(json);
    if (!o || !cJSON_IsObject(o)) {
        cJSON_Delete(o);
        set_error("not a profile (JSON object expected)");
        return -EINVAL;
    }
    host_from_json(o, p);
    disk_from_json(o, p);
    j_u64(o, "ram_available", &p->ram_available);
    j_u64(o, "cgroup_limit", &p->cgroup_limit);
    j_u64(o, "cgroup_usage", &p->cgroup_usage);
    j_int(o, "cgroup_version", &p->cgroup_version);
    cJSON_Delete(o);
    return 0;
}

/* ---- the cache ------------------------------------------------------------------------ */

int profile_cache_dir(char *buf, size_t cap)
{
    const char *x = getenv("XDG_CACHE_HOME");
    int n;
    if (x && *x) {
        n = snprintf(buf, cap, "%s/hypura", x);
    } else {
        const char *home = getenv("HOME");
        if (!home || !*home) {
            set_error("neither XDG_CACHE_HOME nor HOME is set");
            return -ENOENT;
        }
        n = snprintf(buf, cap, "%s/.cache/hypura", home);
    }
    if (n < 0 || (size_t)n >= cap) {
        set_error("cache directory path too long");
        return -ENAMETOOLONG;
    }
    return 0;
}

static int mkdir_p(const char *path)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        if (mkdir(tmp, 0755) && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(tmp, 0755) && errno != EEXIST)
        return -errno;
    return 0;
}

/* The cache file: {"version", "host": {...}, "disks": {"<dev id>": {...}}}. */
static cJSON *cache_load(const char *file)
{
    struct stat st;
    if (stat(file, &st) != 0 || st.st_size <= 0 || st.st_size > (1 << 20))
        return NULL;
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf)
        return NULL;
    cJSON *o = NULL;
    if (sysinfo_read_file(file, buf, (size_t)st.st_size + 1) > 0)
        o = cJSON_Parse(buf);
    free(buf);
    if (o) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "version");
        if (!cJSON_IsNumber(v) || v->valueint != PROFILE_VERSION) {
            cJSON_Delete(o);
            o = NULL;
        }
    }
    return o;
}

static int cache_save(const char *dir, const char *file, cJSON *o)
{
    int rc = mkdir_p(dir);
    if (rc) {
        set_error("cannot create %s: %s", dir, strerror(-rc));
        return rc;
    }
    char *s = cJSON_Print(o);
    if (!s)
        return -ENOMEM;
    char tmp[PATH_MAX + 64];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", file, (long)getpid());
    FILE *f = fopen(tmp, "w");
    if (!f) {
        rc = -errno;
        free(s);
        set_error("cannot write %s: %s", tmp, strerror(-rc));
        return rc;
    }
    bool ok = fputs(s, f) >= 0;
    ok &= fputc('\n', f) != EOF;
    ok &= fclose(f) == 0;
    free(s);
    if (!ok || rename(tmp, file) != 0) {
        rc = -errno ? -errno : -EIO;
        unlink(tmp);
        set_error("cannot write %s", file);
        return rc;
    }
    return 0;
}

/* The same machine, measured by a build that looks at the same devices: a profile from
 * a CPU-only build never saw the GPU a CUDA build would use. */
static bool host_matches(const cJSON *h, const struct hy_profile *cached, const struct hy_profile *now)
{
    const cJSON *cb = cJSON_GetObjectItemCaseSensitive(h, "cuda_build");
    return cached->measured && !strcmp(cached->cpu_model, now->cpu_model) &&
           cached->n_cores == now->n_cores && cached->ram_total == now->ram_total &&
           cJSON_IsBool(cb) && cJSON_IsTrue(cb) == (HYPURA_CUDA != 0);
}

int hy_profile_get(const struct hy_profile_params *pp, struct hy_profile *out)
{
    struct hy_profile_params dflt = hy_profile_default_params();
    const struct hy_profile_params *p = pp ? pp : &dflt;
    char cdir[PATH_MAX], file[PATH_MAX + 32];
    int rc = profile_cache_dir(cdir, sizeof cdir);
    if (rc)
        return rc;
    snprintf(file, sizeof file, "%s/profile.json", cdir);
    const char *dir = p->dir && *p->dir ? p->dir : cdir;
    if (!p->dir && !p->no_measure && (rc = mkdir_p(cdir))) {
        set_error("cannot create %s: %s", cdir, strerror(-rc));
        return rc;
    }

    struct hy_profile now;
    profile_defaults(&now);
    profile_read_memory(&now);
    sysinfo_cpu_model(now.cpu_model, sizeof now.cpu_model);
    now.n_cores = sysinfo_n_cpus();
    char dev[64] = "";
    bool have_dev = profile_disk_id(dir, dev, sizeof dev) == 0;
    if (!have_dev && !p->no_measure)
        return -ENOENT; /* profile_disk_id said why */
    hy_clear_error();

    cJSON *cache = cache_load(file);
    struct hy_profile prof = now;
    bool host_ok = false, disk_ok = false;
    if (cache) {
        struct hy_profile c;
        profile_defaults(&c);
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(cache, "host");
        if (cJSON_IsObject(h)) {
            host_from_json(h, &c);
            if (host_matches(h, &c, &now) && !p->force) {
                host_from_json(h, &prof);
                host_ok = true;
            }
        }
        /* disks are named by device number, which another host (a shared home
         * directory) reuses for other hardware: trusted only with the host */
        if (!host_ok)
            cJSON_DeleteItemFromObjectCaseSensitive(cache, "disks");
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cache, "disks"), dev);
        if (have_dev && cJSON_IsObject(d) && !p->force) {
            disk_from_json(d, &prof);
            disk_ok = prof.disk_measured && prof.disk_bw > 0 && prof.disk_iops_qd1 > 0;
        }
    }
    /* live figures always come from now */
    prof.ram_available = now.ram_available;
    prof.cgroup_limit = now.cgroup_limit;
    prof.cgroup_usage = now.cgroup_usage;
    prof.cgroup_version = now.cgroup_version;
#if HYPURA_CUDA
    if (host_ok && prof.has_gpu && cuda_gpu_memory(&prof.vram_free, &prof.vram_total) != 0)
        host_ok = false; /* the GPU went away: measure again */
#endif

    if (p->no_measure || (host_ok && disk_ok)) {
        cJSON_Delete(cache);
        prof.from_cache = host_ok && disk_ok;
        if (!disk_ok)
            snprintf(prof.disk_dev, sizeof prof.disk_dev, "%s", dev);
        *out = prof;
        return 0;
    }

    double t0 = now_seconds();
    if (!host_ok) {
        if ((rc = profile_measure_cpu(&prof, p->progress, p->user)))
            goto fail;
        profile_progress(p->progress, p->user, "gpu", 0.0);
        if ((rc = profile_measure_gpu(&prof)))
            goto fail;
        profile_progress(p->progress, p->user, "gpu", 1.0);
        prof.measured = true;
        prof.measured_at = (int64_t)time(NULL);
    }
    if (!disk_ok && (rc = profile_measure_storage(&prof, dir, p->sample_file, p->progress, p->user)))
        goto fail;
    prof.measure_seconds = now_seconds() - t0;

    /* merge into the cache: other devices' entries are kept */
    if (!cache || !cJSON_IsObject(cache)) {
        cJSON_Delete(cache);
        cache = cJSON_CreateObject();
    }
    if (cache) {
        cJSON_DeleteItemFromObjectCaseSensitive(cache, "version");
        cJSON_AddNumberToObject(cache, "version", PROFILE_VERSION);
        cJSON *h = cJSON_CreateObject();
        host_to_json(&prof, h);
        cJSON_DeleteItemFromObjectCaseSensitive(cache, "host");
        cJSON_AddItemToObject(cache, "host", h);
        cJSON *disks = cJSON_GetObjectItemCaseSensitive(cache, "disks");
        if (!cJSON_IsObject(disks)) {
            cJSON_DeleteItemFromObjectCaseSensitive(cache, "disks");
            disks = cJSON_AddObjectToObject(cache, "disks");
        }
        cJSON *d = cJSON_CreateObject();
        disk_to_json(&prof, d);
        cJSON_DeleteItemFromObjectCaseSensitive(disks, prof.disk_dev);
        cJSON_AddItemToObject(disks, prof.disk_dev, d);
        if ((rc = cache_save(cdir, file, cache)))
            LOG_WARN("profile not cached: %s", hy_last_error());
        hy_clear_error();
    }
    cJSON_Delete(cache);
    *out = prof;
    return 0;
fail:
    cJSON_Delete(cache);
    return rc;
}

/* The hardware profile's JSON form and its cache file. The profile splits into a host
 * part (CPU, memory, GPU: keyed by the machine's fingerprint) and a storage part (one
 * per device id); the cache file holds {"version", "host": {...}, "disks": {"<dev id>":
 * {...}}}, written atomically (a temporary file renamed). Every number read back is
 * checked (finite, non-negative, in range); fields absent or invalid are left as they
 * were.
 *
 * Not owned here: when the cache is trusted and when the machine is measured again
 * (profile.c), the measuring itself. */
#include "tier/profile_cache.h"
#include "tier/profile.h"
#include "tier/sysinfo.h"
#include "util/log.h"

#ifndef HYPURA_CUDA
#define HYPURA_CUDA 0
#endif

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

void profile_host_from_json(const cJSON *o, struct hy_profile *p)
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

void profile_disk_from_json(const cJSON *o, struct hy_profile *p)
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
    profile_host_from_json(o, p);
    profile_disk_from_json(o, p);
    j_u64(o, "ram_available", &p->ram_available);
    j_u64(o, "cgroup_limit", &p->cgroup_limit);
    j_u64(o, "cgroup_usage", &p->cgroup_usage);
    j_int(o, "cgroup_version", &p->cgroup_version);
    cJSON_Delete(o);
    return 0;
}

/* ---- the cache file ------------------------------------------------------------------- */

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

int profile_mkdir_p(const char *path)
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

cJSON *profile_cache_load(const char *file)
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
    int rc = profile_mkdir_p(dir);
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

void profile_cache_update(cJSON *cache, const struct hy_profile *prof, const char *dir,
                          const char *file)
{
    /* merge into the cache: other devices' entries are kept */
    if (!cache || !cJSON_IsObject(cache)) {
        cJSON_Delete(cache);
        cache = cJSON_CreateObject();
    }
    if (cache) {
        cJSON_DeleteItemFromObjectCaseSensitive(cache, "version");
        cJSON_AddNumberToObject(cache, "version", PROFILE_VERSION);
        cJSON *h = cJSON_CreateObject();
        host_to_json(prof, h);
        cJSON_DeleteItemFromObjectCaseSensitive(cache, "host");
        cJSON_AddItemToObject(cache, "host", h);
        cJSON *disks = cJSON_GetObjectItemCaseSensitive(cache, "disks");
        if (!cJSON_IsObject(disks)) {
            cJSON_DeleteItemFromObjectCaseSensitive(cache, "disks");
            disks = cJSON_AddObjectToObject(cache, "disks");
        }
        cJSON *d = cJSON_CreateObject();
        disk_to_json(prof, d);
        cJSON_DeleteItemFromObjectCaseSensitive(disks, prof->disk_dev);
        cJSON_AddItemToObject(disks, prof->disk_dev, d);
        if (cache_save(dir, file, cache))
            LOG_WARN("profile not cached: %s", hy_last_error());
        hy_clear_error();
    }
    cJSON_Delete(cache);
}

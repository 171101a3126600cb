/* Getting the hardware profile (hy_profile_get): from the cache when it holds figures
 * measured on this machine (the host part) and on the storage device of the directory
 * asked about (its disk part), else measured and merged into the cache; and the figures
 * for a machine nothing was measured on.
 *
 * Measuring takes about 10 s: CPU FMA rate (~0.5 s), memory read bandwidth (~1 s), the
 * storage (a fresh 256 MiB file written with direct I/O, read back at several request
 * sizes and queue depths, then random 4 KiB reads; deleted afterwards), the GPU in CUDA
 * builds. The result is cached as JSON: the host part keyed by its fingerprint (CPU
 * model, cores, RAM total), each storage device by its id, so a model on another device
 * only measures that device.
 *
 * Not owned here: measuring each part (profile_cpu.c, profile_storage.c, and the GPU in
 * cuda/profile_gpu.cu), the JSON form and the cache file (profile_cache.c), what /proc
 * and /sys say (sysinfo.c), budgets (profile_budget.c), the cost model's lookups in a
 * profile (cost.c). */
#include "tier/profile.h"
#include "tier/profile_cache.h"
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
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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
    if (!p->dir && !p->no_measure && (rc = profile_mkdir_p(cdir))) {
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

    cJSON *cache = profile_cache_load(file);
    struct hy_profile prof = now;
    bool host_ok = false, disk_ok = false;
    if (cache) {
        struct hy_profile c;
        profile_defaults(&c);
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(cache, "host");
        if (cJSON_IsObject(h)) {
            profile_host_from_json(h, &c);
            if (host_matches(h, &c, &now) && !p->force) {
                profile_host_from_json(h, &prof);
                host_ok = true;
            }
        }
        /* disks are named by device number, which another host (a shared home
         * directory) reuses for other hardware: trusted only with the host */
        if (!host_ok)
            cJSON_DeleteItemFromObjectCaseSensitive(cache, "disks");
        const cJSON *d = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(cache, "disks"), dev);
        if (have_dev && cJSON_IsObject(d) && !p->force) {
            profile_disk_from_json(d, &prof);
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

    profile_cache_update(cache, &prof, cdir, file);
    *out = prof;
    return 0;
fail:
    cJSON_Delete(cache);
    return rc;
}

/* The hardware profile: what the planner knows about this machine (CPU, memory and its
 * cgroup limit, memory bandwidth, compute rate, the storage holding the model, the GPU).
 * struct hy_profile itself is plain data declared in include/hypura.h; this header adds
 * the pieces the library uses, each implemented in its own file of src/tier:
 *   profile.c          the defaults, and hy_profile_get (cache or measure)
 *   sysinfo.c          live memory figures and cgroup limits, disk identity (/proc, /sys)
 *   profile_cpu.c      measuring CPU compute rate and memory bandwidth
 *   profile_storage.c  measuring the storage
 *   profile_cache.c    the JSON form and the cache file
 *   profile_budget.c   budget resolution
 *
 * Not owned here: how storage is measured (io/iomeasure.h), what the figures mean for a
 * model (plan.h), the lookups the cost model makes in a profile (cost.h). */
#ifndef HY_TIER_PROFILE_H
#define HY_TIER_PROFILE_H

#include "hypura.h"

#include <stdbool.h>
#include <stdint.h>

/* Conservative figures for a machine nothing was measured on (measured = false): used
 * by tests and by `--no-measure` paths so a plan never needs hardware. */
void profile_defaults(struct hy_profile *prof);

/* ---- what /proc and /sys say (sysinfo.c) ---------------------------------------------- */

/* Live memory figures: ram_total, ram_available (MemAvailable), and the tightest cgroup
 * memory limit that applies to this process (v1 memory.limit_in_bytes or v2 memory.max,
 * the process's own cgroup and its ancestors) with that cgroup's usage. Reads /proc and
 * /sys/fs/cgroup; absent files mean no limit. */
int profile_read_memory(struct hy_profile *prof);

/* Parse the memory-cgroup limit for the cgroup paths in a /proc/self/cgroup text,
 * looking the limit files up under v1_root (the memory controller's mount) and v2_root
 * (the cgroup2 mount). Split out so tests can point it at a fake tree. Sets *limit
 * (0 = none), *usage and *version. */
int profile_cgroup_limit(const char *proc_cgroup, const char *v1_root, const char *v2_root,
                         uint64_t *limit, uint64_t *usage, int *version);

/* Storage identity of dir: "major:minor name" of the block device holding it. */
int profile_disk_id(const char *dir, char *buf, size_t cap);

/* ---- the measurements (each fills its part of prof; progress may be NULL) ------------- */

/* CPU FMA rate and memory bandwidth, one core and all (profile_cpu.c). */
int profile_measure_cpu(struct hy_profile *prof, hy_progress_fn progress, void *user);
/* Sequential and random reads of the storage holding dir (profile_storage.c).
 * sample: an existing file of at least PROFILE_SAMPLE_MIN on dir's device (a model) to
 * read instead of a freshly written test file, or NULL (or smaller, or elsewhere: then a
 * test file is written in dir). A file just written may still sit in a cache below us
 * (a virtual disk's host), which makes it read faster than data at rest. */
#define PROFILE_SAMPLE_MIN (1ull << 30)
int profile_measure_storage(struct hy_profile *prof, const char *dir, const char *sample,
                            hy_progress_fn progress, void *user);
/* The GPU part (CUDA builds; a no-op returning 0 with has_gpu false otherwise). */
int profile_measure_gpu(struct hy_profile *prof);
/* Tell the caller's progress callback (NULL: nobody) that stage is frac done. */
static inline void profile_progress(hy_progress_fn fn, void *user, const char *stage, double frac)
{
    if (fn)
        fn(stage, frac, user);
}

/* ---- the cache (profile_cache.c) ------------------------------------------------------ */

/* JSON round trip (the cache format). from_json fills only the fields present. */
char *profile_to_json(const struct hy_profile *prof);
int profile_from_json(const char *json, struct hy_profile *prof);

/* The cache directory ($XDG_CACHE_HOME/hypura or ~/.cache/hypura) into buf. */
int profile_cache_dir(char *buf, size_t cap);

/* ---- budgets (profile_budget.c) ------------------------------------------------------- */

/* Resolve budgets for a plan: 0 = automatic (available minus headroom, capped by the
 * cgroup limit; VRAM free minus headroom). A RAM budget above the cgroup limit is
 * -EINVAL with a message naming both. */
int profile_resolve_budgets(const struct hy_profile *prof, uint64_t *ram_budget,
                            uint64_t *gpu_budget, bool no_gpu);

#endif

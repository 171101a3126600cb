/* Budget resolution: the RAM and VRAM a plan may use, from the caller's figures (0 =
 * automatic) and the live memory figures of the profile (available RAM, the memory
 * cgroup's room, free VRAM), less headroom for the rest of the system. A pure function
 * of the profile: reads no file.
 *
 * Not owned here: reading the live figures (sysinfo.c), spending the budgets (plan.c). */
#include "tier/profile.h"
#include "util/common.h"
#include "util/log.h"

#include <errno.h>

int profile_resolve_budgets(const struct hy_profile *prof, uint64_t *ram_budget,
                            uint64_t *gpu_budget, bool no_gpu)
{
    char b1[32], b2[32];
    uint64_t avail = prof->ram_available ? prof->ram_available : prof->ram_total;
    if (prof->cgroup_limit) {
        uint64_t room = prof->cgroup_limit > prof->cgroup_usage ? prof->cgroup_limit - prof->cgroup_usage : 0;
        avail = HY_MIN(avail, room);
        if (*ram_budget > prof->cgroup_limit) {
            set_error("RAM budget %s is above the memory cgroup limit %s that applies to this "
                   "process (cgroup v%d)",
                   hy_format_size(*ram_budget, b1, sizeof b1),
                   hy_format_size(prof->cgroup_limit, b2, sizeof b2), prof->cgroup_version);
            return -EINVAL;
        }
    }
    if (prof->ram_total && *ram_budget > prof->ram_total) {
        /* the budget is a promise that the machine is not taken down: one larger than the
         * machine is a typo, not a plan */
        set_error("RAM budget %s is more than this machine's memory (%s)",
                  hy_format_size(*ram_budget, b1, sizeof b1),
                  hy_format_size(prof->ram_total, b2, sizeof b2));
        return -EINVAL;
    }
    if (!*ram_budget) {
        /* headroom for the rest of the system and this process's own code and stacks */
        uint64_t head = HY_MAX(512ull << 20, avail / 10);
        if (avail <= head) {
            set_error("only %s of RAM is available: too little to run a model",
                   hy_format_size(avail, b1, sizeof b1));
            return -ENOMEM;
        }
        *ram_budget = avail - head;
    }
    if (no_gpu || !prof->has_gpu) {
        *gpu_budget = 0;
    } else if (!*gpu_budget) {
        uint64_t head = HY_MAX(256ull << 20, prof->vram_free / 20);
        *gpu_budget = prof->vram_free > head ? prof->vram_free - head : 0;
    } else if (prof->vram_total && *gpu_budget > prof->vram_total) {
        set_error("GPU budget %s is above the GPU's memory %s",
               hy_format_size(*gpu_budget, b1, sizeof b1), hy_format_size(prof->vram_total, b2, sizeof b2));
        return -EINVAL;
    }
    return 0;
}

/* The public face of the planner (include/hypura.h: hy_plan_*), and planning a GGUF
 * header (plan_file.h). */
#include "gguf/gguf.h"
#include "io/file.h"
#include "quant/types.h"
#include "tier/plan_file.h"
#include "tier/profile.h"
#include "util/log.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int plan_header(struct hy_plan *h, const struct plan_params *p,
                       const struct hy_profile *prof)
{
    int rc, n = 0;
    if ((rc = plan_input_from_gguf(h->g, &h->hp, &h->t, &n)))
        return rc;
    h->prof = *prof;
    h->params = *p;
    struct plan_input in = {.hp = &h->hp, .t = h->t, .n_tensors = n};
    return plan_build(&in, &h->prof, &h->params, &h->pl);
}

int plan_file_open(struct file *f, const struct plan_params *p, const struct hy_profile *prof,
                   struct hy_plan **out)
{
    *out = NULL;
    if (!prof) {
        set_error("no hardware profile given");
        return -EINVAL;
    }
    struct hy_plan *h = calloc(1, sizeof *h);
    if (!h) {
        set_error("out of memory");
        return -ENOMEM;
    }
    h->own_g = true;
    int rc;
    if ((rc = gguf_open(&h->g, f)) || (rc = hparams_load(&h->hp, h->g)) || (rc = plan_header(h, p, prof))) {
        hy_plan_free(h);
        return rc;
    }
    *out = h;
    return 0;
}

int plan_gguf(const struct gguf *g, const struct hparams *hp, const struct plan_params *p,
              const struct hy_profile *prof, struct hy_plan **out)
{
    *out = NULL;
    struct hy_plan *h = calloc(1, sizeof *h);
    if (!h) {
        set_error("out of memory");
        return -ENOMEM;
    }
    h->g = (struct gguf *)g;
    h->hp = *hp;
    int rc = plan_header(h, p, prof);
    if (rc) {
        hy_plan_free(h);
        return rc;
    }
    *out = h;
    return 0;
}

void hy_plan_free(hy_plan *h)
{
    if (!h)
        return;
    plan_free(h->pl);
    free(h->t);
    if (h->own_g)
        gguf_free(h->g);
    free(h);
}

struct hy_plan_params hy_plan_default_params(void)
{
    struct hy_plan_params p = {0};
    return p;
}

int plan_resolve(const char *path, const struct hy_plan_params *p, struct hy_profile *prof,
                 struct plan_params *out)
{
    int rc;
    if (p->profile) {
        *prof = *p->profile;
    } else {
        /* profile the model's device; where we cannot write a test file there, the
         * cache directory's device stands in (said once) */
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s", path);
        char *slash = strrchr(dir, '/');
        if (slash)
            *(slash == dir ? slash + 1 : slash) = 0;
        else
            snprintf(dir, sizeof dir, ".");
        struct hy_profile_params pr = hy_profile_default_params();
        pr.dir = dir;
        pr.sample_file = path; /* the model itself, when it is big enough to measure on */
        pr.no_measure = p->no_measure;
        pr.progress = p->progress;
        pr.user = p->user;
        /* a big enough model is itself what is measured (read only); a smaller one needs
         * a test file written beside it */
        struct stat mst;
        bool big = stat(path, &mst) == 0 && (uint64_t)mst.st_size >= PROFILE_SAMPLE_MIN;
        if (!p->no_measure && !big && access(dir, W_OK) != 0) {
            /* the cached figures for the model's own device still count */
            struct hy_profile_params q = pr;
            q.no_measure = true;
            if (hy_profile_get(&q, prof) == 0 && prof->disk_measured && prof->measured) {
                pr.no_measure = true;
            } else {
                LOG_WARN("%s is not writable: storage figures measured in the cache directory instead", dir);
                pr.dir = NULL;
            }
        }
        if ((rc = hy_profile_get(&pr, prof)))
            return rc;
    }
    uint64_t ram = p->ram_budget, gpu = p->gpu_budget;
    if ((rc = profile_resolve_budgets(prof, &ram, &gpu, p->no_gpu)))
        return rc;
    *out = plan_default_params();
    out->ram_budget = ram;
    out->gpu_budget = gpu;
    out->n_ctx = p->n_ctx;
    out->n_seq = p->n_seq;
    if (p->n_batch)
        out->n_batch = p->n_batch;
    out->n_threads = p->n_threads > 0 ? p->n_threads : prof->n_cores;
    out->force_mode = p->mode;
    return 0;
}

int hy_plan_file(const char *path, const struct hy_plan_params *pp, hy_plan **out)
{
    *out = NULL;
    struct hy_plan_params dflt = hy_plan_default_params();
    struct hy_profile prof;
    struct plan_params plp;
    int rc = plan_resolve(path, pp ? pp : &dflt, &prof, &plp);
    if (rc)
        return rc;
    struct file *f;
    if ((rc = file_open(&f, path)))
        return rc;
    rc = plan_file_open(f, &plp, &prof, out);
    file_close(f);
    return rc;
}

void hy_plan_get_info(const hy_plan *h, struct hy_plan_info *o)
{
    memset(o, 0, sizeof *o);
    const struct plan *pl = h->pl;
    o->mode = plan_mode_name(pl->mode);
    o->arch = h->hp.arch_name;
    o->n_layer = pl->n_layer;
    o->n_tensors = pl->n_tensors;
    o->n_expert = h->hp.n_expert;
    o->n_expert_used = h->hp.n_expert_used;
    o->n_ctx = pl->n_ctx;
    o->n_batch = pl->n_batch;
    o->ram_budget = pl->ram_budget;
    o->gpu_budget = pl->gpu_budget;
    o->ram_used = pl->ram_used;
    o->gpu_used = pl->gpu_used;
    o->min_ram_budget = pl->min_ram_budget;
    for (int k = 0; k < 3; k++)
        o->tier_bytes[k] = pl->tier_bytes[k];
    o->pool_bytes = pl->pool_bytes;
    o->n_slots = pl->n_slots;
    o->slot_bytes = pl->slot_bytes;
    o->prefetch_depth = pl->prefetch_depth;
    o->n_expert_slots = pl->n_expert_slots;
    o->expert_slot_bytes = pl->expert_slot_bytes;
    o->expert_cache_bytes = pl->expert_cache_bytes;
    o->expert_cache_slices = pl->expert_cache_slices;
    o->kv_bytes = pl->kv_bytes;
    o->compute_bytes = pl->compute_bytes;
    o->io_block = pl->io_block;
    o->io_depth = pl->io_depth;
    o->prompt_tps = pl->pred.prompt_tps;
    o->decode_tps = pl->pred.decode_tps;
    o->disk_bytes_per_token = pl->pred.disk_bytes_per_token;
    o->cpu_compute_s = pl->pred.cpu_compute_s;
    o->gpu_compute_s = pl->pred.gpu_compute_s;
    o->disk_transfer_s = pl->pred.disk_transfer_s;
    o->pcie_transfer_s = pl->pred.pcie_transfer_s;
    o->stall_s = pl->pred.stall_s;
    o->profile_measured = h->prof.measured && h->prof.disk_measured;
}

int hy_plan_get_tensor(const hy_plan *h, int i, struct hy_plan_tensor *o)
{
    memset(o, 0, sizeof *o);
    if (i < 0 || i >= h->pl->n_tensors) {
        set_error("tensor index %d out of range (%d tensors)", i, h->pl->n_tensors);
        return -EINVAL;
    }
    const struct plan_tensor_in *t = &h->t[i];
    const struct plan_place *pc = &h->pl->place[i];
    o->name = t->name;
    o->role = role_name(t->role.role);
    o->type = type_name(t->type);
    o->layer = t->role.layer;
    o->bytes = t->bytes;
    o->tier = plan_tier_name((enum plan_tier)pc->tier);
    o->device = plan_device_name((enum plan_device)pc->device);
    o->n_expert = t->role.n_expert;
    o->expert_bytes = t->role.expert_bytes;
    const struct plan *pl = h->pl;
    if (role_is_expert(t->role.role) && pl->expert_tier && t->role.layer >= 0 &&
        t->role.layer < pl->n_layer) {
        const uint8_t *xt = pl->expert_tier + (size_t)t->role.layer * pl->n_expert;
        if (t->role.expert >= 0)
            o->n_expert_cached = xt[t->role.expert] != TIER_DISK;
        else
            for (uint32_t e = 0; e < pl->n_expert; e++)
                o->n_expert_cached += xt[e] != TIER_DISK;
    }
    return 0;
}

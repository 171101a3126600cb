/* Experts of MoE layers as the runtime sees them: expert e of a layer is three byte ranges,
 * its rows of the fused tensors ffn_{gate,up,down}_exps, held in memory or streamed as one
 * unit. This file keeps that table (struct expert, model.h) and fills it from the
 * placement: the experts of fused tensors held whole are held; of fused tensors on disk,
 * with the lru expert cache (the default) every expert streams and the memory the plan
 * gave the held ones becomes cache slots in the streamer, with the static one the plan's
 * choice is read into the arena and the rest streams.
 *
 * Not owned here: which experts are held (the plan), reading streamed ones and the
 * cache's order (the streamer), computing with them (forward.c). */
#include "model/model.h"
#include "io/stream.h"
#include "tier/plan.h"
#include "tier/plan_file.h"
#include "util/common.h"
#include "util/log.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

int experts_init(hy_model *m)
{
    const struct hparams *hp = &m->hp;
    if (!hp->n_expert)
        return 0;
    m->experts = calloc((size_t)hp->n_layer * hp->n_expert, sizeof *m->experts);
    if (!m->experts) {
        set_error("out of memory");
        return -ENOMEM;
    }
    for (uint32_t l = 0; l < hp->n_layer; l++) {
        struct layer *L = &m->layers[l];
        struct expert *x = m->experts + (size_t)l * hp->n_expert;
        for (uint32_t e = 0; e < hp->n_expert; e++)
            x[e].unit = -1;
        if (L->gate_inp)
            L->experts = x;
    }
    return 0;
}

/* The fused tensor of part p of layer L. */
static const struct tensor *part_tensor(const struct layer *L, int p)
{
    return p == X_GATE ? L->gate_exps : p == X_UP ? L->up_exps : L->down_exps;
}

/* Whether the plan holds expert e of layer l in memory (a plan without per-expert tiers
 * holds none of a fused tensor on disk). */
static bool plan_holds(const hy_model *m, int l, int e)
{
    const struct plan *pl = m->plan->pl;
    if (m->layers[l].gate_exps->tier != TIER_DISK)
        return true;
    return pl->expert_tier && pl->n_expert == m->hp.n_expert &&
           pl->expert_tier[(size_t)l * pl->n_expert + e] != TIER_DISK;
}

static bool lru_cache(const hy_model *m)
{
    const char *c = m->params.expert_cache;
    return !c || !strcmp(c, "lru");
}

/* Whether expert e of layer l stays on disk: its fused tensors are, and either the plan
 * reads it from there or the memory for held experts is a cache (then every expert of
 * the layer streams, and the cache keeps the ones used last). */
static bool streamed(const hy_model *m, int l, int e)
{
    if (m->layers[l].gate_exps->tier != TIER_DISK)
        return false;
    return lru_cache(m) || !plan_holds(m, l, e);
}

int experts_check_params(const struct hy_model_params *p)
{
    const char *c = p->expert_cache;
    if (c && strcmp(c, "lru") && strcmp(c, "static")) {
        set_error("unknown expert cache '%s' (lru, static)", c);
        return -EINVAL;
    }
    return 0;
}

int experts_cache_slots(const hy_model *m, uint32_t align)
{
    const struct hparams *hp = &m->hp;
    if (!lru_cache(m))
        return 0;
    uint64_t held = 0, unit = 0, a = align ? align : 1;
    for (uint32_t l = 0; l < hp->n_layer; l++) {
        const struct layer *L = &m->layers[l];
        if (!L->experts || L->gate_exps->tier != TIER_DISK)
            continue;
        uint64_t xb = 0;
        for (int p = 0; p < X_PARTS; p++) /* each slice widened to whole blocks */
            xb += HY_ALIGN_UP(expert_slice_bytes(part_tensor(L, p)) + 2 * a, a);
        unit = HY_MAX(unit, HY_ALIGN_UP(xb, HY_MAX(a, 4096)));
        for (uint32_t e = 0; e < hp->n_expert; e++)
            held += plan_holds(m, (int)l, (int)e) ? xb : 0;
    }
    return unit ? (int)HY_MIN(held / unit, (uint64_t)INT_MAX / 2) : 0;
}

int experts_held_pieces(hy_model *m, struct load_piece *out)
{
    const struct hparams *hp = &m->hp;
    int n = 0;
    for (uint32_t l = 0; l < hp->n_layer; l++) {
        struct layer *L = &m->layers[l];
        if (!L->experts || L->gate_exps->tier != TIER_DISK)
            continue;
        for (uint32_t e = 0; e < hp->n_expert; e++) {
            if (streamed(m, (int)l, (int)e))
                continue;
            for (int p = 0; out && p < X_PARTS; p++) {
                const struct tensor *t = part_tensor(L, p);
                uint64_t sb = expert_slice_bytes(t);
                out[n + p] = (struct load_piece){t->file_off + e * sb, sb, &L->experts[e].data[p]};
            }
            n += X_PARTS;
        }
    }
    return n;
}

int experts_units(hy_model *m, int l, struct stream_tensor *st, uint64_t **dst, int u0)
{
    struct layer *L = &m->layers[l];
    int n = 0;
    for (uint32_t e = 0; L->experts && e < m->hp.n_expert; e++) {
        if (!streamed(m, l, (int)e))
            continue;
        struct expert *x = &L->experts[e];
        for (int p = 0; st && p < X_PARTS; p++) {
            const struct tensor *t = part_tensor(L, p);
            uint64_t sb = expert_slice_bytes(t);
            st[X_PARTS * n + p] = (struct stream_tensor){.off = t->file_off + e * sb, .len = sb,
                                                         .unit = u0 + n, .on_hint = true};
            dst[X_PARTS * n + p] = &x->off[p];
        }
        if (st)
            x->unit = u0 + n;
        n++;
    }
    return n;
}

int experts_finish(hy_model *m)
{
    const struct hparams *hp = &m->hp;
    for (uint32_t l = 0; l < hp->n_layer; l++) {
        const struct layer *L = &m->layers[l];
        if (!L->experts)
            continue;
        for (int p = 0; p < X_PARTS; p++) {
            const struct tensor *t = part_tensor(L, p);
            if (!t->data)
                continue;
            for (uint32_t e = 0; e < hp->n_expert; e++)
                L->experts[e].data[p] = (const uint8_t *)t->data + e * expert_slice_bytes(t);
        }
        for (uint32_t e = 0; e < hp->n_expert; e++) {
            const struct expert *x = &L->experts[e];
            bool held = x->data[X_GATE] && x->data[X_UP] && x->data[X_DOWN];
            bool none = !x->data[X_GATE] && !x->data[X_UP] && !x->data[X_DOWN];
            if (!held && !(none && x->unit >= 0)) {
                set_error("layer %u expert %u: its slices are neither all in memory nor all "
                          "streamed", l, e);
                return -EINVAL;
            }
        }
    }
    return 0;
}

/* The placement plan as `inspect --plan` and `estimate` print it (a table, or JSON), and
 * the progress display of a measurement. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


/* ---- progress ------------------------------------------------------------------------- */

void cli_progress(const char *stage, double frac, void *user)
{
    struct cli_progress *st = user;
    if (!st)
        return;
    if (!st->started) {
        st->started = true;
        st->tty = isatty(STDERR_FILENO);
        fprintf(stderr, "measuring this machine (once; cached for later runs)\n");
    }
    if (st->tty) {
        int w = 30, k = (int)(frac * w + 0.5);
        fprintf(stderr, "\r\033[K  %-32s [%.*s%*s] %3.0f%%", stage, k, "##############################",
                w - k, "", frac * 100);
        if (frac >= 1.0 && strcmp(stage, "storage: random 4 KiB reads") == 0)
            fputc('\n', stderr);
    } else if (strcmp(stage, st->last) != 0) {
        fprintf(stderr, "  %s...\n", stage);
    }
    snprintf(st->last, sizeof st->last, "%s", stage);
    fflush(stderr);
}

void cli_progress_end(struct cli_progress *st)
{
    if (st && st->started && st->tty)
        fprintf(stderr, "\r\033[K");
}

/* ---- the table ------------------------------------------------------------------------ */

static const char *sz(uint64_t b, char *buf)
{
    return hy_format_size(b, buf, 32);
}

/* Layers as ranges: "0-3,7,9-79". */
static void layer_ranges(const unsigned char *set, int n, char *out, size_t cap)
{
    size_t k = 0;
    out[0] = 0;
    for (int l = 0; l < n && k + 24 < cap; l++) {
        if (!set[l])
            continue;
        int e = l;
        while (e + 1 < n && set[e + 1])
            e++;
        k += (size_t)snprintf(out + k, cap - k, "%s%d", k ? "," : "", l);
        if (e > l)
            k += (size_t)snprintf(out + k, cap - k, "-%d", e);
        l = e;
    }
    if (k + 24 >= cap)
        snprintf(out + cap - 4, 4, "...");
}

struct row {
    char role[32], tier[8], device[8];
    int n;
    uint64_t bytes;
    uint32_t cached, experts;
    unsigned char *layers;   /* (n_layer) */
    bool global;
};

void cli_render_plan(const hy_plan *pl, bool json, FILE *out)
{
    struct hy_plan_info in;
    hy_plan_get_info(pl, &in);
    char a[32], b[32], c[32], d[32];
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "mode", in.mode);
        cJSON *bu = cJSON_AddObjectToObject(o, "budgets");
        cJSON_AddNumberToObject(bu, "ram", (double)in.ram_budget);
        cJSON_AddNumberToObject(bu, "gpu", (double)in.gpu_budget);
        cJSON *us = cJSON_AddObjectToObject(o, "used");
        cJSON_AddNumberToObject(us, "ram", (double)in.ram_used);
        cJSON_AddNumberToObject(us, "gpu", (double)in.gpu_used);
        cJSON_AddNumberToObject(o, "min_ram_budget", (double)in.min_ram_budget);
        cJSON *ti = cJSON_AddObjectToObject(o, "tiers");
        cJSON_AddNumberToObject(ti, "gpu", (double)in.tier_bytes[0]);
        cJSON_AddNumberToObject(ti, "ram", (double)in.tier_bytes[1]);
        cJSON_AddNumberToObject(ti, "disk", (double)in.tier_bytes[2]);
        cJSON_AddNumberToObject(o, "pool_bytes", (double)in.pool_bytes);
        cJSON_AddNumberToObject(o, "n_slots", in.n_slots);
        cJSON_AddNumberToObject(o, "slot_bytes", (double)in.slot_bytes);
        cJSON_AddNumberToObject(o, "prefetch_depth", in.prefetch_depth);
        cJSON_AddNumberToObject(o, "expert_cache_bytes", (double)in.expert_cache_bytes);
        cJSON_AddNumberToObject(o, "expert_cache_slices", in.expert_cache_slices);
        cJSON_AddNumberToObject(o, "n_expert_slots", in.n_expert_slots);
        cJSON_AddNumberToObject(o, "expert_slot_bytes", (double)in.expert_slot_bytes);
        cJSON_AddNumberToObject(o, "kv_bytes", (double)in.kv_bytes);
        cJSON_AddNumberToObject(o, "compute_bytes", (double)in.compute_bytes);
        cJSON_AddNumberToObject(o, "n_ctx", in.n_ctx);
        cJSON_AddNumberToObject(o, "n_batch", in.n_batch);
        cJSON_AddNumberToObject(o, "io_block", in.io_block);
        cJSON_AddNumberToObject(o, "io_depth", in.io_depth);
        cJSON *ts = cJSON_AddArrayToObject(o, "tensors");
        for (int i = 0; i < in.n_tensors; i++) {
            struct hy_plan_tensor t;
            if (hy_plan_get_tensor(pl, i, &t))
                continue;
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "name", t.name);
            cJSON_AddStringToObject(x, "role", t.role);
            cJSON_AddStringToObject(x, "type", t.type);
            cJSON_AddNumberToObject(x, "layer", t.layer);
            cJSON_AddNumberToObject(x, "bytes", (double)t.bytes);
            cJSON_AddStringToObject(x, "tier", t.tier);
            cJSON_AddStringToObject(x, "device", t.device);
            if (t.n_expert) {
                cJSON_AddNumberToObject(x, "n_expert", t.n_expert);
                cJSON_AddNumberToObject(x, "expert_bytes", (double)t.expert_bytes);
                cJSON_AddNumberToObject(x, "experts_held", t.n_expert_cached);
            }
            cJSON_AddItemToArray(ts, x);
        }
        cJSON *pr = cJSON_AddObjectToObject(o, "predicted");
        cJSON_AddNumberToObject(pr, "prompt_tps", in.prompt_tps);
        cJSON_AddNumberToObject(pr, "decode_tps", in.decode_tps);
        cJSON_AddNumberToObject(pr, "disk_bytes_per_token", in.disk_bytes_per_token);
        cJSON_AddNumberToObject(pr, "cpu_compute_s", in.cpu_compute_s);
        cJSON_AddNumberToObject(pr, "gpu_compute_s", in.gpu_compute_s);
        cJSON_AddNumberToObject(pr, "disk_transfer_s", in.disk_transfer_s);
        cJSON_AddNumberToObject(pr, "pcie_transfer_s", in.pcie_transfer_s);
        cJSON_AddNumberToObject(pr, "stall_s", in.stall_s);
        cJSON_AddBoolToObject(pr, "profile_measured", in.profile_measured);
        char *s = cJSON_Print(o);
        if (s)
            fprintf(out, "%s\n", s);
        free(s);
        cJSON_Delete(o);
        return;
    }

    fprintf(out, "plan: %s   RAM budget %s (planned %s)", in.mode, sz(in.ram_budget, a), sz(in.ram_used, b));
    if (in.gpu_budget)
        fprintf(out, "   GPU budget %s (planned %s)", sz(in.gpu_budget, c), sz(in.gpu_used, d));
    fprintf(out, "\n  weights: gpu %s, ram %s, disk %s\n", sz(in.tier_bytes[0], a), sz(in.tier_bytes[1], b),
            sz(in.tier_bytes[2], c));
    fprintf(out, "  KV cache %s (context %u), compute buffers %s, smallest RAM budget that plans: %s\n",
            sz(in.kv_bytes, a), in.n_ctx, sz(in.compute_bytes, b), sz(in.min_ram_budget, c));
    if (in.pool_bytes) {
        fprintf(out, "  pool %s: %u slots x %s", sz(in.pool_bytes, a), in.n_slots, sz(in.slot_bytes, b));
        if (in.n_expert_slots && in.n_expert_slots != in.n_slots)
            fprintf(out, " + %u expert slots x %s", in.n_expert_slots, sz(in.expert_slot_bytes, c));
        fprintf(out, ", prefetch depth %u, reads of %s at queue depth %u\n", in.prefetch_depth, sz(in.io_block, d),
                in.io_depth);
    }
    if (in.expert_cache_slices)
        fprintf(out, "  expert cache %s: %u expert slices held (of %u experts x %d layers, top-%u)\n",
                sz(in.expert_cache_bytes, a), in.expert_cache_slices, in.n_expert, in.n_layer, in.n_expert_used);

    /* rows: (role, tier, device) with the layers they cover */
    struct row *rows = calloc((size_t)in.n_tensors + 1, sizeof *rows);
    unsigned char *lay = calloc((size_t)(in.n_tensors + 1) * (size_t)(in.n_layer + 1), 1);
    int nr = 0;
    for (int i = 0; rows && lay && i < in.n_tensors; i++) {
        struct hy_plan_tensor t;
        if (hy_plan_get_tensor(pl, i, &t))
            continue;
        int r = 0;
        for (; r < nr; r++)
            if (!strcmp(rows[r].role, t.role) && !strcmp(rows[r].tier, t.tier) &&
                !strcmp(rows[r].device, t.device) && rows[r].global == (t.layer < 0))
                break;
        if (r == nr) {
            snprintf(rows[r].role, sizeof rows[r].role, "%s", t.role);
            snprintf(rows[r].tier, sizeof rows[r].tier, "%s", t.tier);
            snprintf(rows[r].device, sizeof rows[r].device, "%s", t.device);
            rows[r].global = t.layer < 0;
            rows[r].layers = lay + (size_t)r * (size_t)(in.n_layer + 1);
            nr++;
        }
        rows[r].n++;
        rows[r].bytes += t.bytes;
        rows[r].cached += t.n_expert_cached;
        rows[r].experts += t.n_expert;
        if (t.layer >= 0 && t.layer < in.n_layer)
            rows[r].layers[t.layer] = 1;
    }
    fprintf(out, "\n  %-20s %-18s %-5s %-6s %7s %12s\n", "role", "layers", "tier", "device", "tensors", "bytes");
    for (int r = 0; r < nr; r++) {
        char lr[64];
        if (rows[r].global)
            snprintf(lr, sizeof lr, "-");
        else
            layer_ranges(rows[r].layers, in.n_layer, lr, sizeof lr);
        fprintf(out, "  %-20s %-18s %-5s %-6s %7d %12s", rows[r].role, lr, rows[r].tier, rows[r].device, rows[r].n,
                sz(rows[r].bytes, a));
        if (rows[r].experts)
            fprintf(out, "  (%u of %u expert slices held)", rows[r].cached, rows[r].experts);
        fputc('\n', out);
    }
    free(rows);
    free(lay);
    fprintf(out, "\n  predicted: prompt %.1f tok/s, decode %.2f tok/s, %s read from disk per token%s\n", in.prompt_tps,
            in.decode_tps, sz((uint64_t)in.disk_bytes_per_token, a),
            in.profile_measured ? "" : "\n  (default hardware figures: run `hypura profile` for a measured prediction)");
}

void cli_render_estimate(const hy_plan *pl, bool json, FILE *out)
{
    struct hy_plan_info in;
    hy_plan_get_info(pl, &in);
    char a[32], b[32], c[32];
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "mode", in.mode);
        cJSON *bu = cJSON_AddObjectToObject(o, "budgets");
        cJSON_AddNumberToObject(bu, "ram", (double)in.ram_budget);
        cJSON_AddNumberToObject(bu, "gpu", (double)in.gpu_budget);
        cJSON_AddNumberToObject(o, "prompt_tps", in.prompt_tps);
        cJSON_AddNumberToObject(o, "decode_tps", in.decode_tps);
        cJSON_AddNumberToObject(o, "disk_bytes_per_token", in.disk_bytes_per_token);
        cJSON *br = cJSON_AddObjectToObject(o, "per_token_s");
        cJSON_AddNumberToObject(br, "cpu_compute", in.cpu_compute_s);
        cJSON_AddNumberToObject(br, "gpu_compute", in.gpu_compute_s);
        cJSON_AddNumberToObject(br, "disk_transfer", in.disk_transfer_s);
        cJSON_AddNumberToObject(br, "pcie_transfer", in.pcie_transfer_s);
        cJSON_AddNumberToObject(br, "stall", in.stall_s);
        cJSON *ti = cJSON_AddObjectToObject(o, "tiers");
        cJSON_AddNumberToObject(ti, "gpu", (double)in.tier_bytes[0]);
        cJSON_AddNumberToObject(ti, "ram", (double)in.tier_bytes[1]);
        cJSON_AddNumberToObject(ti, "disk", (double)in.tier_bytes[2]);
        cJSON_AddBoolToObject(o, "profile_measured", in.profile_measured);
        char *s = cJSON_Print(o);
        if (s)
            fprintf(out, "%s\n", s);
        free(s);
        cJSON_Delete(o);
        return;
    }
    double t = in.decode_tps > 0 ? 1.0 / in.decode_tps : 0;
    fprintf(out, "%s, %d layers: plan %s, RAM budget %s", in.arch, in.n_layer, in.mode, sz(in.ram_budget, a));
    if (in.gpu_budget)
        fprintf(out, ", GPU budget %s", sz(in.gpu_budget, b));
    fprintf(out, "\n\n  prompt  %9.1f tok/s   (batches of %u)\n", in.prompt_tps, in.n_batch);
    fprintf(out, "  decode  %9.2f tok/s   (%.1f ms per token)\n\n", in.decode_tps, t * 1e3);
    fprintf(out, "  per decoded token       time      held / read\n");
    fprintf(out, "  gpu   compute      %8.1f ms   %s in VRAM\n", in.gpu_compute_s * 1e3, sz(in.tier_bytes[0], a));
    fprintf(out, "  ram   compute      %8.1f ms   %s in RAM\n", in.cpu_compute_s * 1e3, sz(in.tier_bytes[1], b));
    fprintf(out, "  disk  transfer     %8.1f ms   %s read per token (%s on disk)\n", in.disk_transfer_s * 1e3,
            sz((uint64_t)in.disk_bytes_per_token, a), sz(in.tier_bytes[2], c));
    fprintf(out, "  pcie  transfer     %8.1f ms\n", in.pcie_transfer_s * 1e3);
    fprintf(out, "  stall (waiting)    %8.1f ms\n", in.stall_s * 1e3);
    if (!in.profile_measured)
        fprintf(out, "\n  (default hardware figures: run `hypura profile` for a measured prediction)\n");
}

int cli_print_plan(const char *path, const struct hy_plan_params *p, bool json, FILE *out)
{
    struct cli_progress st = {0};
    struct hy_plan_params q = *p;
    if (!q.progress) {
        q.progress = cli_progress;
        q.user = &st;
    }
    hy_plan *pl;
    int rc = hy_plan_file(path, &q, &pl);
    cli_progress_end(&st);
    if (rc) {
        fprintf(stderr, "hypura: %s: %s\n", path, hy_last_error());
        return 1;
    }
    cli_render_plan(pl, json, out);
    hy_plan_free(pl);
    return 0;
}

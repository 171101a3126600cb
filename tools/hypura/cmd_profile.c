/* hypura profile [--dir PATH] [--sample FILE] [--force] [--json]
 * Measure this machine (CPU, memory bandwidth, the storage holding PATH, the GPU in CUDA
 * builds), or show the cached figures. The measuring is hy_profile_get's (src/tier). */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static void profile_usage(FILE *f)
{
    fprintf(f, "usage: hypura profile [--dir PATH] [--sample FILE] [--force] [--json]\n"
               "Measure CPU, memory bandwidth, storage (direct I/O, cold, on a fresh 256 MiB file)\n"
               "and GPU, and cache the figures for the planner; later runs show the cache.\n\n"
               "  --dir PATH   a directory on the storage to measure (default: the cache directory)\n"
               "  --sample FILE  read this existing file (1 GiB or more, e.g. a model) instead of\n"
               "               writing a test file: data at rest, as a model is read\n"
               "  --force      measure again even when the cached figures match this machine\n"
               "  --json       print the profile as JSON\n");
}

static void print_table(const struct hy_profile *p, FILE *out)
{
    char a[32], b[32];
    fprintf(out, "cpu      %s, %d cores, %s\n", p->cpu_model, p->n_cores, p->simd);
    fprintf(out, "         FMA %.1f GFLOP/s (one core %.1f)\n", p->cpu_flops / 1e9, p->cpu_flops_1t / 1e9);
    fprintf(out, "memory   %s total, %s available", hy_format_size(p->ram_total, a, sizeof a),
            hy_format_size(p->ram_available, b, sizeof b));
    if (p->cgroup_limit)
        fprintf(out, "; cgroup v%d limit %s (%s used)", p->cgroup_version,
                hy_format_size(p->cgroup_limit, a, sizeof a), hy_format_size(p->cgroup_usage, b, sizeof b));
    else
        fprintf(out, "; no cgroup memory limit");
    fprintf(out, "\n         read bandwidth %.1f GB/s (one core %.1f)\n", p->mem_bw / 1e9, p->mem_bw_1t / 1e9);
    fprintf(out, "storage  %s (%s), read path %s\n", p->disk_path[0] ? p->disk_path : "-", p->disk_dev, p->disk_io);
    if (p->n_disk) {
        fprintf(out, "         sequential GB/s by request size and queue depth:\n");
        uint32_t depths[HY_PROFILE_MAX_DISK], blocks[HY_PROFILE_MAX_DISK];
        int nd = 0, nb = 0;
        for (int i = 0; i < p->n_disk; i++) {
            int k;
            for (k = 0; k < nd && depths[k] != p->disk[i].depth; k++)
                ;
            if (k == nd)
                depths[nd++] = p->disk[i].depth;
            for (k = 0; k < nb && blocks[k] != p->disk[i].block; k++)
                ;
            if (k == nb)
                blocks[nb++] = p->disk[i].block;
        }
        fprintf(out, "         %8s", "");
        for (int d = 0; d < nd; d++)
            fprintf(out, "   qd%-4u", depths[d]);
        fputc('\n', out);
        for (int bi = 0; bi < nb; bi++) {
            fprintf(out, "         %8s", hy_format_size(blocks[bi], a, sizeof a));
            for (int d = 0; d < nd; d++) {
                double v = 0;
                for (int i = 0; i < p->n_disk; i++)
                    if (p->disk[i].block == blocks[bi] && p->disk[i].depth == depths[d])
                        v = p->disk[i].bytes_per_s;
                fprintf(out, "  %7.2f", v / 1e9);
            }
            fputc('\n', out);
        }
    }
    fprintf(out, "         best %.2f GB/s at %s x %u; random 4 KiB: %.0f IOPS at qd1, %.0f at qd%u\n",
            p->disk_bw / 1e9, hy_format_size(p->disk_block, a, sizeof a), p->disk_depth, p->disk_iops_qd1,
            p->disk_iops, p->disk_iops_depth);
    if (p->has_gpu) {
        fprintf(out, "gpu      %s, %s free of %s\n", p->gpu_name, hy_format_size(p->vram_free, a, sizeof a),
                hy_format_size(p->vram_total, b, sizeof b));
        fprintf(out, "         memory %.0f GB/s, pinned host-to-device %.1f GB/s, FMA %.1f TFLOP/s\n",
                p->gpu_mem_bw / 1e9, p->gpu_h2d_bw / 1e9, p->gpu_flops / 1e12);
    } else {
        fprintf(out, "gpu      none%s\n", "");
    }
    if (!p->measured || !p->disk_measured)
        fprintf(out, "(some figures are defaults, not measured)\n");
    else if (p->from_cache)
        fprintf(out, "(cached; --force to measure again)\n");
    else
        fprintf(out, "(measured in %.1f s)\n", p->measure_seconds);
}

int cmd_profile(int argc, char **argv)
{
    struct hy_profile_params pp = hy_profile_default_params();
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            profile_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--force")) {
            pp.force = true;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--sample") && i + 1 < argc) {
            pp.sample_file = argv[++i];
        } else if (!strcmp(a, "--dir") && i + 1 < argc) {
            pp.dir = argv[++i];
        } else if (!strncmp(a, "--dir=", 6)) {
            pp.dir = a + 6;
        } else {
            fprintf(stderr, "hypura profile: unknown option '%s'\n", a);
            profile_usage(stderr);
            return 2;
        }
    }
    struct cli_progress st = {0};
    pp.progress = cli_progress;
    pp.user = &st;
    struct hy_profile p;
    int rc = hy_profile_get(&pp, &p);
    cli_progress_end(&st);
    if (rc) {
        fprintf(stderr, "hypura profile: %s\n", hy_last_error());
        return 1;
    }
    if (json) {
        char *s = hy_profile_json(&p);
        if (!s) {
            fprintf(stderr, "hypura profile: out of memory\n");
            return 1;
        }
        printf("%s\n", s);
        free(s);
    } else {
        print_table(&p, stdout);
    }
    return 0;
}

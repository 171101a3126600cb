/* hypura iobench FILE [--block LIST] [--depth LIST] [--random-block LIST] [--path LIST]
 *                     [--seconds S] [--size SIZE] [--keep] [--json]
 * A table of storage read paths x block sizes x queue depths, cold. The measuring is
 * hy_iobench_run's (src/io/iobench.c); this file parses options and prints rows. */
#include "cli.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_LIST 16

static void iobench_usage(FILE *f)
{
    fprintf(f,
            "usage: hypura iobench FILE [options]\n"
            "Measure how fast the storage holding FILE reads: buffered (cold), direct, io_uring\n"
            "and pread threads, by block size and queue depth. A missing FILE is created with\n"
            "random bytes (--size) and removed afterwards (unless --keep).\n\n"
            "  --block LIST         sequential request sizes (default 4K,64K,1M,4M)\n"
            "  --random-block LIST  random request sizes (default 4K; 'none' for no random runs)\n"
            "  --depth LIST         queue depths of io_uring and threads (default 1,4,16,64)\n"
            "  --path LIST          buffered,direct,io_uring,threads (default all)\n"
            "  --seconds S          per configuration (default 0.5)\n"
            "  --size SIZE          size of a created FILE (default 1G)\n"
            "  --keep               keep a created FILE\n"
            "  --json               one JSON object on stdout instead of the table\n");
}

/* "4K,64K,1M" -> values; each > 0, <= UINT32_MAX and a multiple of mult. */
static int parse_list(const char *opt, const char *s, uint64_t mult, uint32_t *out, int *n)
{
    *n = 0;
    char *dup = strdup(s), *save = NULL;
    if (!dup)
        return -ENOMEM;
    for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        uint64_t v;
        if (*n == MAX_LIST || hy_parse_size(t, &v) || v == 0 || v > UINT32_MAX || v % mult) {
            fprintf(stderr, "hypura iobench: %s: bad value '%s'%s\n", opt, t,
                    mult > 1 ? " (want a multiple of 4K)" : "");
            free(dup);
            return -EINVAL;
        }
        out[(*n)++] = (uint32_t)v;
    }
    free(dup);
    if (*n == 0) {
        fprintf(stderr, "hypura iobench: %s: empty list\n", opt);
        return -EINVAL;
    }
    return 0;
}

static int parse_paths(const char *s, unsigned *mask)
{
    *mask = 0;
    char *dup = strdup(s), *save = NULL;
    if (!dup)
        return -ENOMEM;
    int rc = 0;
    for (char *t = strtok_r(dup, ",", &save); t && !rc; t = strtok_r(NULL, ",", &save)) {
        int found = -1;
        for (int p = 0; p < HY_READ_N_PATHS; p++)
            if (!strcmp(t, hy_read_path_name((enum hy_read_path)p)) ||
                (p == HY_READ_URING && !strcmp(t, "uring")))
                found = p;
        if (found < 0) {
            fprintf(stderr, "hypura iobench: --path: unknown '%s' (buffered, direct, io_uring, "
                            "threads)\n", t);
            rc = -EINVAL;
        } else {
            *mask |= 1u << found;
        }
    }
    free(dup);
    return rc;
}

static const char *fmt_block(uint32_t b, char *buf, size_t len)
{
    if (b % (1u << 20) == 0)
        snprintf(buf, len, "%uM", b >> 20);
    else if (b % 1024 == 0)
        snprintf(buf, len, "%uK", b >> 10);
    else
        snprintf(buf, len, "%u", b);
    return buf;
}

struct out_state {
    bool json;
    int n;
};

static void print_row(const struct hy_iobench_row *r, void *user)
{
    struct out_state *st = user;
    char b[32];
    const char *pat = r->random ? "random" : "seq";
    if (st->json) {
        printf("%s\n    {\"pattern\": \"%s\", \"path\": \"%s\", \"block\": %u, \"depth\": %u, "
               "\"status\": %d",
               st->n ? "," : "", pat, hy_read_path_name(r->path), r->block, r->depth,
               r->status);
        if (r->status == 0)
            printf(", \"seconds\": %.4f, \"bytes\": %llu, \"requests\": %llu, "
                   "\"mb_per_s\": %.1f, \"iops\": %.0f, \"lat_avg_us\": %.1f, "
                   "\"lat_p99_us\": %.1f",
                   r->seconds, (unsigned long long)r->bytes, (unsigned long long)r->n_requests,
                   r->bytes_per_s / 1e6, r->iops, r->lat_avg_us, r->lat_p99_us);
        else
            printf(", \"error\": \"%s\"", r->status == -ENOSYS ? "unavailable" : strerror(-r->status));
        printf("}");
    } else {
        if (st->n == 0)
            printf("%-7s %6s  %-9s %5s %9s %9s %9s %9s\n", "pattern", "block", "path", "depth",
                   "MB/s", "IOPS", "avg us", "p99 us");
        printf("%-7s %6s  %-9s %5u ", pat, fmt_block(r->block, b, sizeof b),
               hy_read_path_name(r->path), r->depth);
        if (r->status == 0)
            printf("%9.0f %9.0f %9.0f %9.0f\n", r->bytes_per_s / 1e6, r->iops, r->lat_avg_us,
                   r->lat_p99_us);
        else
            printf("  %s\n", r->status == -ENOSYS ? "unavailable here" : hy_last_error());
    }
    st->n++;
    fflush(stdout);
}

int cmd_iobench(int argc, char **argv)
{
    struct hy_iobench_params p = hy_iobench_default_params();
    uint32_t blocks[MAX_LIST], rblocks[MAX_LIST], depths[MAX_LIST];
    uint64_t size = 1ull << 30;
    bool keep = false, json = false;
    const char *file = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = !strcmp(a, "--block") || !strcmp(a, "--depth") ||
                     !strcmp(a, "--random-block") || !strcmp(a, "--path") ||
                     !strcmp(a, "--seconds") || !strcmp(a, "--size");
        if (takes && !v) {
            fprintf(stderr, "hypura iobench: %s needs a value\n", a);
            return 2;
        }
        int rc = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            iobench_usage(stdout);
            return 0;
        } else if (!strcmp(a, "--block")) {
            rc = parse_list(a, v, 4096, blocks, &p.n_blocks);
            p.blocks = blocks;
        } else if (!strcmp(a, "--random-block")) {
            p.rand_blocks = rblocks;
            if (strcmp(v, "none"))
                rc = parse_list(a, v, 4096, rblocks, &p.n_rand_blocks);
            else
                p.n_rand_blocks = 0;
        } else if (!strcmp(a, "--depth")) {
            rc = parse_list(a, v, 1, depths, &p.n_depths);
            for (int k = 0; !rc && k < p.n_depths; k++)
                if (depths[k] > 1024) {
                    fprintf(stderr, "hypura iobench: --depth: at most 1024\n");
                    rc = -EINVAL;
                }
            p.depths = depths;
        } else if (!strcmp(a, "--path")) {
            rc = parse_paths(v, &p.paths);
        } else if (!strcmp(a, "--seconds")) {
            char *end;
            p.seconds = strtod(v, &end);
            if (*end || !(p.seconds > 0) || p.seconds > 3600) {
                fprintf(stderr, "hypura iobench: --seconds: bad value '%s'\n", v);
                rc = -EINVAL;
            }
        } else if (!strcmp(a, "--size")) {
            if (hy_parse_size(v, &size) || size < 4096) {
                fprintf(stderr, "hypura iobench: --size: bad value '%s'\n", v);
                rc = -EINVAL;
            }
        } else if (!strcmp(a, "--keep")) {
            keep = true;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "hypura iobench: unknown option '%s'\n", a);
            iobench_usage(stderr);
            return 2;
        } else if (!file) {
            file = a;
        } else {
            fprintf(stderr, "hypura iobench: one FILE only\n");
            return 2;
        }
        if (rc)
            return 2;
        if (takes)
            i++;
    }
    if (!file) {
        iobench_usage(stderr);
        return 2;
    }
    p.path = file;
    struct stat st;
    bool created = stat(file, &st) != 0;
    if (created) {
        p.create_bytes = size;
    } else {
        size = (uint64_t)st.st_size;
    }
    char sz[32];
    hy_format_size(size, sz, sizeof sz);
    if (json) {
        /* the rows stream out as they are measured; only the path needs escaping */
        cJSON *name = cJSON_CreateString(file);
        char *q = name ? cJSON_PrintUnformatted(name) : NULL;
        printf("{\"file\": %s, \"size\": %llu, \"seconds_per_config\": %.3f, \"rows\": [",
               q ? q : "null", (unsigned long long)size, p.seconds);
        free(q);
        cJSON_Delete(name);
    } else
        printf("%s %s (%s), %.2g s per configuration, cold\n",
               created ? "writing" : "reading", file, sz, p.seconds);
    fflush(stdout);
    struct out_state out = {.json = json};
    int rc = hy_iobench_run(&p, print_row, &out);
    if (json)
        printf("\n  ]}\n");
    if (created && !keep)
        unlink(file);
    if (rc) {
        fprintf(stderr, "hypura iobench: %s: %s\n", file, hy_last_error());
        return 1;
    }
    return 0;
}

/* Option helpers shared by the subcommands. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void cli_model_opts_init(struct hy_model_params *o)
{
    *o = hy_model_default_params();
}

bool cli_int(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

int cli_model_opt(struct hy_model_params *o, int c, const char *arg)
{
    long v;
    switch (c) {
    case OPT_THREADS:
        if (!cli_int(arg, 1, 1024, &v)) {
            fprintf(stderr, "hypura: --threads takes a number from 1 to 1024\n");
            return -1;
        }
        o->plan.n_threads = (int)v;
        return 1;
    case OPT_RAM_BUDGET:
    case OPT_GPU_BUDGET: {
        uint64_t b;
        if (hy_parse_size(arg, &b) || b == 0) {
            fprintf(stderr, "hypura: bad size '%s' (examples: 2G, 512M)\n", arg);
            return -1;
        }
        if (c == OPT_RAM_BUDGET)
            o->plan.ram_budget = b;
        else
            o->plan.gpu_budget = b;
        return 1;
    }
    case OPT_CTX:
        if (!cli_int(arg, 1, 1 << 24, &v)) {
            fprintf(stderr, "hypura: --ctx-size takes a number from 1 to %d (got '%s')\n", 1 << 24, arg);
            return -1;
        }
        o->plan.n_ctx = (uint32_t)v;
        return 1;
    case OPT_MMAP:
        o->io = HY_IO_MMAP;
        return 1;
    case OPT_MLOCK:
        o->mlock = true;
        return 1;
    case OPT_PLAN_MODE:
        o->plan.mode = arg;
        return 1;
    case OPT_NO_GPU:
        o->plan.no_gpu = true;
        return 1;
    case OPT_NO_MEASURE:
        o->plan.no_measure = true;
        return 1;
    case OPT_EXPERT_CACHE:
        if (strcmp(arg, "lru") && strcmp(arg, "static")) {
            fprintf(stderr, "hypura: --expert-cache takes lru or static\n");
            return -1;
        }
        o->expert_cache = arg;
        return 1;
    case OPT_BATCH:
        if (!cli_int(arg, 1, 1 << 20, &v)) {
            fprintf(stderr, "hypura: --batch takes a number from 1 to %d (got '%s')\n", 1 << 20, arg);
            return -1;
        }
        o->plan.n_batch = (uint32_t)v;
        return 1;
    }
    return 0;
}

int cli_fail(const char *what)
{
    fprintf(stderr, "hypura: %s: %s\n", what, hy_last_error());
    return 1;
}

hy_model *cli_load(const char *path, const struct hy_model_params *o)
{
    hy_model *m = NULL;
    if (hy_model_load(path, o, &m) != 0) {
        cli_fail(path);
        return NULL;
    }
    return m;
}

char *cli_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            char *b = realloc(buf, cap * 2);
            if (!b) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = b;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        if (r == 0)
            break;
        n += r;
    }
    if (buf && ferror(f)) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf)
        buf[n] = 0;
    *len = n;
    return buf;
}

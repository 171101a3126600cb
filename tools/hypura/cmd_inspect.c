/* hypura inspect MODEL [--meta] [--tensors] [--plan [--json] [budgets]]
 * What a GGUF file holds, read from its header only (no tensor data is read). */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: hypura inspect MODEL [--meta] [--tensors] [--plan [--json]] [options]\n"
               "      --meta       every metadata key and value\n"
               "      --tensors    the tensor table: name, type, shape, bytes, role\n"
               "      --plan       the placement plan for the budgets given\n"
               "      --json       the plan as JSON\n" CLI_MODEL_HELP);
}

static void print_summary(const hy_model *m, const char *path)
{
    struct hy_model_desc d;
    hy_model_describe(m, &d);
    char b[32];
    printf("file:          %s\n", path);
    printf("architecture:  %s%s%s%s\n", d.arch, *d.name ? " (" : "", d.name, *d.name ? ")" : "");
    if (d.n_layer)
        printf("  layers %d, n_embd %d, heads %d (kv %d, head_dim %d), n_ff %d, context %u\n",
               d.n_layer, d.n_embd, d.n_head, d.n_head_kv, d.head_dim, d.n_ff, d.n_ctx_train);
    if (d.n_expert)
        printf("  experts %d, %d used per token\n", d.n_expert, d.n_expert_used);
    const char *tm = hy_model_meta_str(m, "tokenizer.ggml.model");
    const char *pre = hy_model_meta_str(m, "tokenizer.ggml.pre");
    printf("vocabulary:    %s%s%s%s, %d tokens\n", tm ? tm : "none", pre ? " (pre-tokenizer " : "",
           pre ? pre : "", pre ? ")" : "", d.n_vocab);
    const char *ct = hy_model_meta_str(m, "tokenizer.chat_template");
    printf("chat template: %s\n", ct ? "present" : "none");
    int n = hy_model_tensor_count(m);
    double np = (double)d.n_params;
    const char *unit = np >= 1e9 ? "B" : np >= 1e6 ? "M" : "K";
    double scale = np >= 1e9 ? 1e9 : np >= 1e6 ? 1e6 : 1e3;
    printf("tensors:       %d, %s, %.2f%s parameters\n", n, hy_format_size(d.weight_bytes, b, sizeof b),
           np / scale, unit);
    /* bytes by type */
    struct { const char *type; int n; uint64_t bytes; } by[48];
    int nb = 0;
    for (int i = 0; i < n; i++) {
        struct hy_tensor_info ti;
        hy_model_tensor_info(m, i, &ti);
        int k = 0;
        while (k < nb && strcmp(by[k].type, ti.type))
            k++;
        if (k == nb && nb < 48) {
            by[nb].type = ti.type;
            by[nb].n = 0;
            by[nb].bytes = 0;
            nb++;
        }
        if (k < nb) {
            by[k].n++;
            by[k].bytes += ti.bytes;
        }
    }
    for (int k = 0; k < nb; k++)
        printf("  %-8s %5d tensors %12s\n", by[k].type, by[k].n, hy_format_size(by[k].bytes, b, sizeof b));
}

static void print_tensors(const hy_model *m)
{
    int n = hy_model_tensor_count(m);
    printf("%-36s %-6s %-28s %12s  %s\n", "name", "type", "shape", "bytes", "role");
    for (int i = 0; i < n; i++) {
        struct hy_tensor_info t;
        hy_model_tensor_info(m, i, &t);
        char shape[64];
        int o = 0;
        for (int dd = 0; dd < t.n_dims; dd++)
            o += snprintf(shape + o, sizeof shape - (size_t)o, "%s%lld", dd ? " x " : "", (long long)t.ne[dd]);
        printf("%-36s %-6s %-28s %12llu  %s\n", t.name, t.type, shape, (unsigned long long)t.bytes, t.role);
    }
}

static void print_meta(const hy_model *m)
{
    char val[256];
    for (int64_t i = 0; i < hy_model_meta_count(m); i++) {
        const char *k = hy_model_meta(m, i, val, sizeof val);
        printf("  %-48s %s\n", k, val);
    }
}

int cmd_inspect(int argc, char **argv)
{
    enum { O_META = 3000, O_TENSORS, O_PLAN, O_JSON };
    static const struct option lo[] = {
        {"meta", no_argument, 0, O_META}, {"tensors", no_argument, 0, O_TENSORS},
        {"plan", no_argument, 0, O_PLAN}, {"json", no_argument, 0, O_JSON},
        {"help", no_argument, 0, 'h'},    CLI_MODEL_LONGOPTS, {0, 0, 0, 0}};
    struct hy_model_params mo;
    cli_model_opts_init(&mo);
    bool meta = false, tensors = false, plan = false, json = false;
    int c;
    while ((c = getopt_long(argc, argv, "t:h", lo, NULL)) != -1) {
        int r = cli_model_opt(&mo, c, optarg);
        if (r < 0)
            return 2;
        if (r)
            continue;
        switch (c) {
        case O_META: meta = true; break;
        case O_TENSORS: tensors = true; break;
        case O_PLAN: plan = true; break;
        case O_JSON: json = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind + 1 != argc) {
        usage(stderr);
        return 2;
    }
    const char *path = argv[optind];
    if (plan) {
        return cli_print_plan(path, &mo.plan, json, stdout);
    }
    mo.header_only = true;
    hy_model *m = NULL;
    if (hy_model_open(path, &mo, &m))
        return cli_fail(path);
    print_summary(m, path);
    if (meta) {
        printf("metadata:\n");
        print_meta(m);
    }
    if (tensors)
        print_tensors(m);
    hy_model_free(m);
    return 0;
}

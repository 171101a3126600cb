/* hypura bench MODEL [-p N] [-n N] [-r REPS] [--baseline] [--cold|--warm] [--json FILE]
 *
 * Measures prompt and decode speed of hypura's plan, and optionally of a naive run of the
 * same engine on plain mmap (the page cache decides what stays), under the same budget:
 * cold (the model file evicted from the page cache before each repetition) and warm;
 * medians over repetitions; bytes read from storage per token (/proc/self/io); the disk
 * ceiling (profiled bandwidth over the bytes that must be streamed per token at this
 * budget) and the share of it reached; predicted vs measured; stall time per token. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct sample {
    double load_s, prompt_tps, decode_tps;
    double disk_per_tok;     /* bytes from storage per decoded token */
    double stall_per_tok;    /* seconds compute waited on weights, per decoded token */
    double peak_rss;
    double expert_hit;       /* decode: routed experts' bytes served from RAM / needed;
                                -1 without experts */
};

struct series {
    const char *name;        /* "hypura" or "mmap" */
    bool cold;
    struct sample *s;
    int n;
};

static uint64_t proc_read_bytes(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    char line[128];
    unsigned long long v = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "read_bytes: %llu", &v) == 1)
            break;
    if (f)
        fclose(f);
    return v;
}

/* The process's peak RSS restarts here (Linux >= 4.0), so each repetition reports its own
 * peak and not the largest of every engine run before it in this process. */
static void reset_peak_rss(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f);
        fclose(f);
    }
}

static double peak_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[128];
    unsigned long long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %llu kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return (double)kb * 1024;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const struct series *se, size_t off)
{
    double v[64];
    int n = se->n < 64 ? se->n : 64;
    for (int i = 0; i < n; i++)
        v[i] = *(const double *)((const char *)&se->s[i] + off);
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n ? (n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2) : 0;
}
#define MED(se, field) median((se), offsetof(struct sample, field))

/* One repetition: load, prompt of n_p tokens, n_g decoded tokens. */
static int one_rep(const char *path, const struct hy_model_params *mo, int n_p, int n_g, bool cold,
                   struct sample *out, double *pred_decode, double *pred_prompt, double *must,
                   double *bw)
{
    if (cold && hy_drop_page_cache(path) != 0)
        fprintf(stderr, "hypura bench: cannot evict %s from the page cache: %s\n", path, hy_last_error());
    memset(out, 0, sizeof *out);
    out->expert_hit = -1;
    reset_peak_rss();
    struct hy_model_params mp = *mo;
    if (!mp.plan.n_ctx)
        mp.plan.n_ctx = (uint32_t)(n_p + n_g + 1);
    if (!mp.plan.n_batch)
        mp.plan.n_batch = (uint32_t)(n_p > 512 ? 512 : n_p > 0 ? n_p : 1);
    double t0 = hy_now_seconds();
    hy_model *m = NULL;
    if (hy_model_load(path, &mp, &m))
        return cli_fail(path);
    out->load_s = hy_now_seconds() - t0;
    hy_model_predicted(m, pred_prompt, pred_decode);
    hy_model_disk_ceiling(m, must, bw);
    struct hy_model_desc d;
    hy_model_describe(m, &d);
    struct hy_session_params sp = hy_session_default_params();
    hy_session *s = NULL;
    hy_token *toks = malloc(sizeof *toks * (size_t)(n_p + 1));
    int rc = 1;
    if (!toks || hy_session_new(m, &sp, &s)) {
        cli_fail(path);
        goto out;
    }
    /* random ids away from the special tokens at the ends of the vocabulary (a quarter of
     * it at each end of a small one) */
    uint64_t x = 12345, lo = (uint64_t)d.n_vocab / 4 < 1000 ? (uint64_t)d.n_vocab / 4 : 1000;
    uint64_t span = (uint64_t)d.n_vocab > 2 * lo ? (uint64_t)d.n_vocab - 2 * lo : 1;
    for (int i = 0; i < n_p; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        toks[i] = (hy_token)(lo + (x >> 33) % span);
    }
    if (n_p > 0) {
        t0 = hy_now_seconds();
        if (hy_session_eval(s, toks, n_p, false)) {
            cli_fail(path);
            goto out;
        }
        out->prompt_tps = n_p / (hy_now_seconds() - t0);
    } else {
        hy_token bos = hy_token_bos(m) >= 0 ? hy_token_bos(m) : 1;
        if (hy_session_eval(s, &bos, 1, false)) {
            cli_fail(path);
            goto out;
        }
    }
    if (n_g > 0) {
        struct hy_session_stats st0, st1;
        hy_session_stats(s, &st0);
        uint64_t io0 = proc_read_bytes();
        t0 = hy_now_seconds();
        for (int i = 0; i < n_g; i++) {
            const float *l = hy_session_logits(s, -1);
            hy_token t = 0;
            for (int v = 1; v < d.n_vocab; v++)
                if (l[v] > l[t])
                    t = v;
            if (hy_session_eval(s, &t, 1, false)) {
                cli_fail(path);
                goto out;
            }
        }
        double dt = hy_now_seconds() - t0;
        hy_session_stats(s, &st1);
        out->decode_tps = n_g / dt;
        out->disk_per_tok = (double)(proc_read_bytes() - io0) / n_g;
        out->stall_per_tok = (st1.stall_seconds - st0.stall_seconds) / n_g;
        uint64_t xb = st1.expert_bytes - st0.expert_bytes;
        out->expert_hit = xb ? (double)(st1.expert_ram_bytes - st0.expert_ram_bytes) / (double)xb : -1;
    }
    out->peak_rss = peak_rss_bytes();
    rc = 0;
out:
    free(toks);
    hy_session_free(s);
    hy_model_free(m);
    return rc;
}

/* What one bench invocation measured, for --json. */
struct bench_out {
    const char *path;
    uint64_t ram_budget;
    long reps, n_p, n_g;
    double pred_prompt, pred_decode, ceiling, must, bw;
    const struct series *se;
    int n_se;
};

static int write_json(const char *json, const struct bench_out *b)
{
    const struct series *se = b->se;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", b->path);
    cJSON_AddNumberToObject(o, "ram_budget_arg", (double)b->ram_budget);
    cJSON_AddNumberToObject(o, "reps", (double)b->reps);
    cJSON_AddNumberToObject(o, "n_prompt", (double)b->n_p);
    cJSON_AddNumberToObject(o, "n_gen", (double)b->n_g);
    cJSON *pr = cJSON_AddObjectToObject(o, "predicted");
    cJSON_AddNumberToObject(pr, "prompt_tps", b->pred_prompt);
    cJSON_AddNumberToObject(pr, "decode_tps", b->pred_decode);
    cJSON *ce = cJSON_AddObjectToObject(o, "disk_ceiling");
    cJSON_AddNumberToObject(ce, "tps", b->ceiling);
    cJSON_AddNumberToObject(ce, "must_stream_bytes_per_token", b->must);
    cJSON_AddNumberToObject(ce, "disk_bytes_per_s", b->bw);
    cJSON *runs = cJSON_AddArrayToObject(o, "runs");
    for (int i = 0; i < b->n_se; i++) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "engine", se[i].name);
        cJSON_AddStringToObject(r, "cache", se[i].cold ? "cold" : "warm");
        cJSON_AddNumberToObject(r, "prompt_tps", MED(&se[i], prompt_tps));
        cJSON_AddNumberToObject(r, "decode_tps", MED(&se[i], decode_tps));
        cJSON_AddNumberToObject(r, "disk_bytes_per_token", MED(&se[i], disk_per_tok));
        cJSON_AddNumberToObject(r, "stall_s_per_token", MED(&se[i], stall_per_tok));
        cJSON_AddNumberToObject(r, "load_s", MED(&se[i], load_s));
        cJSON_AddNumberToObject(r, "peak_rss", MED(&se[i], peak_rss));
        if (MED(&se[i], expert_hit) >= 0)
            cJSON_AddNumberToObject(r, "expert_hit_rate", MED(&se[i], expert_hit));
        if (b->ceiling > 0)
            cJSON_AddNumberToObject(r, "ceiling_share", MED(&se[i], decode_tps) / b->ceiling);
        cJSON *all = cJSON_AddArrayToObject(r, "decode_tps_all");
        for (int k = 0; k < se[i].n; k++)
            cJSON_AddItemToArray(all, cJSON_CreateNumber(se[i].s[k].decode_tps));
        cJSON_AddItemToArray(runs, r);
    }
    char *js = cJSON_Print(o);
    FILE *f = fopen(json, "w");
    bool ok = f && js && fputs(js, f) >= 0;
    if (f && fclose(f))
        ok = false;
    free(js);
    cJSON_Delete(o);
    if (!ok) {
        fprintf(stderr, "hypura bench: cannot write %s: %s\n", json, strerror(errno));
        return -1;
    }
    return 0;
}

int cmd_bench(int argc, char **argv)
{
    enum { O_BASELINE = 4000, O_COLD, O_WARM, O_JSON, O_ENGINE };
    static const struct option lo[] = {
        {"n-prompt", required_argument, 0, 'p'}, {"n-gen", required_argument, 0, 'n'},
        {"reps", required_argument, 0, 'r'},      {"baseline", no_argument, 0, O_BASELINE},
        {"cold", no_argument, 0, O_COLD},         {"warm", no_argument, 0, O_WARM},
        {"json", required_argument, 0, O_JSON},   {"help", no_argument, 0, 'h'},
        {"engine", required_argument, 0, O_ENGINE},
        CLI_MODEL_LONGOPTS,                       {0, 0, 0, 0}};
    struct hy_model_params mo;
    cli_model_opts_init(&mo);
    long n_p = 0, n_g = 32, reps = 3;
    bool baseline = false, cold = false, warm = false, plan = true;
    const char *json = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "p:n:r:t:h", lo, NULL)) != -1) {
        int r = cli_model_opt(&mo, c, optarg);
        if (r < 0)
            return 2;
        if (r)
            continue;
        bool ok = true;
        switch (c) {
        case 'p': ok = cli_int(optarg, 0, 1 << 20, &n_p); break;
        case 'n': ok = cli_int(optarg, 0, 1 << 20, &n_g); break;
        case 'r': ok = cli_int(optarg, 1, 64, &reps); break;
        case O_BASELINE: baseline = true; break;
        case O_ENGINE:
            plan = strcmp(optarg, "mmap") != 0;
            baseline = strcmp(optarg, "hypura") != 0;
            ok = !strcmp(optarg, "hypura") || !strcmp(optarg, "mmap") || !strcmp(optarg, "both");
            break;
        case O_COLD: cold = true; break;
        case O_WARM: warm = true; break;
        case O_JSON: json = optarg; break;
        case 'h':
            printf("usage: hypura bench MODEL [-p N] [-n N] [-r REPS] [--baseline] [--cold] [--warm] [--json FILE]\n"
                   "  -p N        prompt tokens per repetition (default 0)\n"
                   "  -n N        decoded tokens per repetition (default 32)\n"
                   "  -r REPS     repetitions; medians are reported (default 3)\n"
                   "  --baseline  also run the naive baseline: the same engine on plain mmap\n"
                   "  --engine E  hypura (the plan), mmap (the baseline alone) or both\n"
                   "  --cold      evict the model from the page cache before each repetition\n"
                   "  --warm      keep the page cache (default when neither is given: both)\n"
                   "  --json FILE write the results as JSON\n" CLI_MODEL_HELP);
            return 0;
        default: fprintf(stderr, "hypura bench: see --help\n"); return 2;
        }
        if (!ok) {
            fprintf(stderr, "hypura bench: bad value %s\n", optarg);
            return 2;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "usage: hypura bench MODEL [options] (see --help)\n");
        return 2;
    }
    if (!cold && !warm)
        cold = warm = true;
    const char *path = argv[optind];
    struct series se[4];
    int n_se = 0;
    int rc = 1;
    for (int b = plan ? 0 : 1; b < (baseline ? 2 : 1); b++)
        for (int w = 0; w < 2; w++) {
            if ((w == 0 && !cold) || (w == 1 && !warm))
                continue;
            se[n_se] = (struct series){.name = b ? "mmap" : "hypura", .cold = w == 0,
                                       .s = calloc((size_t)reps, sizeof(struct sample))};
            if (!se[n_se++].s) {
                fprintf(stderr, "hypura bench: out of memory\n");
                goto out;
            }
        }
    double pred_decode = 0, pred_prompt = 0, pd, pp, must = 0, bw = 0, mu, bwx;
    /* interleave the series so drift on a shared machine hits them alike */
    for (int r = 0; r < reps; r++)
        for (int i = 0; i < n_se; i++) {
            struct hy_model_params o = mo;
            if (!strcmp(se[i].name, "mmap"))
                o.io = HY_IO_MMAP;
            if (one_rep(path, &o, (int)n_p, (int)n_g, se[i].cold, &se[i].s[se[i].n], &pd, &pp, &mu, &bwx))
                goto out;
            if (!strcmp(se[i].name, "hypura") || !plan) {
                pred_decode = pd;
                pred_prompt = pp;
                must = mu;
                bw = bwx;
            }
            const struct sample *x = &se[i].s[se[i].n++];
            fprintf(stderr, "  rep %d %-6s %-4s: load %.2f s, prompt %.2f tok/s, decode %.3f tok/s, "
                    "%.1f MB read/tok\n", r + 1, se[i].name, se[i].cold ? "cold" : "warm", x->load_s,
                    x->prompt_tps, x->decode_tps, x->disk_per_tok / 1e6);
        }
    /* the ceiling: bytes that must come from disk per token at this budget */
    double ceiling = must > 0 && bw > 0 ? bw / must : 0;
    printf("%-6s %-4s %10s %10s %12s %12s %10s %10s\n", "run", "", "prompt t/s", "decode t/s",
           "MB read/tok", "stall ms/tok", "peak RSS", "expert hit");
    for (int i = 0; i < n_se; i++) {
        char b[32], h[16] = "-";
        double hit = MED(&se[i], expert_hit);
        if (hit >= 0)
            snprintf(h, sizeof h, "%.1f%%", 100 * hit);
        printf("%-6s %-4s %10.2f %10.3f %12.1f %12.1f %10s %10s\n", se[i].name,
               se[i].cold ? "cold" : "warm", MED(&se[i], prompt_tps), MED(&se[i], decode_tps),
               MED(&se[i], disk_per_tok) / 1e6, MED(&se[i], stall_per_tok) * 1e3,
               hy_format_size((uint64_t)MED(&se[i], peak_rss), b, sizeof b), h);
    }
    printf("predicted: prompt %.2f tok/s, decode %.3f tok/s\n", pred_prompt, pred_decode);
    if (ceiling > 0)
        printf("disk ceiling: %.3f tok/s (%.1f MB must be streamed per token at %.2f GB/s)\n", ceiling,
               must / 1e6, bw / 1e9);
    struct bench_out bo = {path, mo.plan.ram_budget, reps, n_p, n_g, pred_prompt, pred_decode,
                           ceiling, must, bw, se, n_se};
    if (json && write_json(json, &bo))
        goto out;
    rc = 0;
out:
    for (int i = 0; i < n_se; i++)
        free(se[i].s);
    return rc;
}

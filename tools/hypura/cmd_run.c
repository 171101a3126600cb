/* hypura run MODEL -p TEXT [-n N] [sampling] [--ignore-eos] [--json]
 * Generate from a prompt: the generated text streams to stdout; timings end on stderr.
 * Without -p (or with -i) it is an interactive chat (cmd_chat.c). */
#include "cli.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f,
            "usage: hypura run MODEL -p TEXT [options]\n"
            "       hypura run MODEL [-i] [options]      interactive chat\n"
            "  -p, --prompt TEXT     prompt (special tokens in it are parsed)\n"
            "  -f, --file FILE       read the prompt from FILE\n"
            "  -n, --n-predict N     tokens to generate (default 256; -1 = until the context is\n"
            "                        full). The context reserved is the prompt plus N, never\n"
            "                        more than the model's training context\n"
            "      --temp T          temperature (default 0.8; 0 = greedy)\n"
            "      --top-k K         (default 40; 0 = off)\n"
            "      --top-p P         (default 0.95; 1 = off)\n"
            "      --min-p P         (default 0.05; 0 = off)\n"
            "      --repeat-penalty R (default 1.0 = off)\n"
            "      --repeat-last-n N (default 64)\n"
            "      --seed S          (default: random)\n"
            "      --ignore-eos      keep generating after an end-of-generation token\n"
            "      --json            print one JSON object instead of streaming text\n"
            "  -i, --interactive     chat (default when no prompt is given)\n"
            "      --system TEXT     chat: system prompt\n"
            "      --chat-template NAME  chat: override the model's template\n" CLI_MODEL_HELP);
}

enum { O_TEMP = 2000, O_TOPK, O_TOPP, O_MINP, O_RP, O_RLN, O_SEED, O_IGNORE_EOS, O_JSON,
       O_SYSTEM, O_TEMPLATE };

static bool parse_float(const char *s, float lo, float hi, float *out)
{
    char *end;
    float v = strtof(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi))
        return false;
    *out = v;
    return true;
}


struct run_opts {
    struct hy_model_params mp;
    struct hy_sampler_params smp;
    const char *path, *prompt, *pfile, *system, *tmpl;
    long n_predict;
    bool interactive, json, ignore_eos;
};

/* Parse the command line into o: 0, or the exit status (2 on a bad option, 0 for --help)
 * plus 1 to tell it from success. */
static int parse_args(int argc, char **argv, struct run_opts *o)
{
    static const struct option lo[] = {
        {"prompt", required_argument, 0, 'p'},
        {"file", required_argument, 0, 'f'},
        {"n-predict", required_argument, 0, 'n'},
        {"interactive", no_argument, 0, 'i'},
        {"temp", required_argument, 0, O_TEMP},
        {"top-k", required_argument, 0, O_TOPK},
        {"top-p", required_argument, 0, O_TOPP},
        {"min-p", required_argument, 0, O_MINP},
        {"repeat-penalty", required_argument, 0, O_RP},
        {"repeat-last-n", required_argument, 0, O_RLN},
        {"seed", required_argument, 0, O_SEED},
        {"ignore-eos", no_argument, 0, O_IGNORE_EOS},
        {"json", no_argument, 0, O_JSON},
        {"system", required_argument, 0, O_SYSTEM},
        {"chat-template", required_argument, 0, O_TEMPLATE},
        {"help", no_argument, 0, 'h'},
        CLI_MODEL_LONGOPTS,
        {0, 0, 0, 0}};
    cli_model_opts_init(&o->mp);
    o->smp = hy_sampler_default_params();
    o->smp.seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    o->n_predict = 256;
    struct hy_sampler_params *smp = &o->smp;
    long v;
    int c, li = -1;
    while ((c = getopt_long(argc, argv, "p:f:n:it:h", lo, &li)) != -1) {
        int r = cli_model_opt(&o->mp, c, optarg);
        if (r < 0)
            return 2 + 1;
        if (r)
            continue;
        bool ok = true;
        switch (c) {
        case 'p': o->prompt = optarg; break;
        case 'f': o->pfile = optarg; break;
        case 'n': ok = cli_int(optarg, -1, 1 << 24, &o->n_predict) && o->n_predict; break;
        case 'i': o->interactive = true; break;
        case O_TEMP: ok = parse_float(optarg, 0, 100, &smp->temp); break;
        case O_TOPK: ok = cli_int(optarg, 0, 1 << 24, &v); smp->top_k = (int)v; break;
        case O_TOPP: ok = parse_float(optarg, 0, 1, &smp->top_p); break;
        case O_MINP: ok = parse_float(optarg, 0, 1, &smp->min_p); break;
        case O_RP: ok = parse_float(optarg, 0, 100, &smp->repeat_penalty); break;
        case O_RLN: ok = cli_int(optarg, 0, 1 << 20, &v); smp->repeat_last_n = (int)v; break;
        case O_SEED: ok = cli_int(optarg, 0, 0x7fffffffL, &v); smp->seed = (uint64_t)v; break;
        case O_IGNORE_EOS: o->ignore_eos = true; break;
        case O_JSON: o->json = true; break;
        case O_SYSTEM: o->system = optarg; break;
        case O_TEMPLATE: o->tmpl = optarg; break;
        case 'h': usage(stdout); return 0 + 1;
        default: usage(stderr); return 2 + 1;
        }
        if (!ok) {
            const char *name = "?";
            for (int k = 0; lo[k].name; k++)
                if (lo[k].val == c)
                    name = lo[k].name;
            fprintf(stderr, "hypura: bad value for --%s: '%s'\n", name, optarg);
            return 2 + 1;
        }
        li = -1;
    }
    if (optind + 1 != argc) {
        fprintf(stderr, optind >= argc ? "hypura run: which model? (a GGUF file)\n"
                                       : "hypura run: one model only, got more arguments\n");
        usage(stderr);
        return 2 + 1;
    }
    o->path = argv[optind];
    if (o->pfile && o->prompt) {
        fprintf(stderr, "hypura: -p and -f both give the prompt: use one\n");
        return 2 + 1;
    }
    return 0;
}

static void print_json(hy_session *s, const hy_model *m, int np, double ptps, double gtps,
                       const struct gen_result *g)
{
    struct hy_session_stats st;
    hy_session_stats(s, &st);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "prompt_tokens", np);
    cJSON_AddNumberToObject(o, "prompt_tps", ptps);
    cJSON_AddNumberToObject(o, "gen_tokens", g->n_ids);
    cJSON_AddNumberToObject(o, "gen_tps", gtps);
    cJSON *ids = cJSON_AddArrayToObject(o, "ids");
    for (int i = 0; i < g->n_ids; i++)
        cJSON_AddItemToArray(ids, cJSON_CreateNumber(g->ids[i]));
    char *text = hy_utf8_clean(g->text ? g->text : "");
    cJSON_AddStringToObject(o, "text", text ? text : "");
    free(text);
    cJSON_AddNumberToObject(o, "disk_read_bytes", (double)st.disk_read_bytes);
    cJSON_AddNumberToObject(o, "ram_budget", (double)hy_model_ram_budget(m));
#ifdef __APPLE__
    cJSON_AddNumberToObject(o, "peak_rss", (double)ru.ru_maxrss); /* bytes there */
#else
    cJSON_AddNumberToObject(o, "peak_rss", (double)ru.ru_maxrss * 1024.0);
#endif
    cJSON_AddNumberToObject(o, "stall_seconds", st.stall_seconds);
    cJSON_AddNumberToObject(o, "out_of_schedule", (double)st.out_of_schedule);
    cJSON_AddNumberToObject(o, "expert_bytes", (double)st.expert_bytes);
    cJSON_AddNumberToObject(o, "expert_ram_bytes", (double)st.expert_ram_bytes);
    cJSON_AddNumberToObject(o, "headers_read", (double)hy_headers_read());
    char *js = cJSON_PrintUnformatted(o);
    if (js)
        printf("%s\n", js);
    free(js);
    cJSON_Delete(o);
}

/* Tokenize the prompt with the opened model: its ids (malloc'ed) and count, or NULL with
 * the reason printed. */
static hy_token *tokenize_prompt(hy_model *m, const char *path, const char *prompt, int *n)
{
    size_t plen = strlen(prompt);
    hy_token *ids = NULL;
    int np = hy_tokenize(m, prompt, plen, true, true, NULL, 0);
    if (np > 0 && (ids = malloc(sizeof *ids * (size_t)np)))
        hy_tokenize(m, prompt, plen, true, true, ids, np);
    if (np < 0)
        cli_fail(path);
    else if (np == 0)
        fprintf(stderr, "hypura: the prompt is empty after tokenization\n");
    else if (!ids)
        fprintf(stderr, "hypura: out of memory\n");
    if (np <= 0 && ids) {
        free(ids);
        ids = NULL;
    }
    *n = np;
    return ids;
}

/* Generate from the prompt on an opened model: placed here, for this prompt and
 * generation (not the model's whole context). Returns the exit status. */
static int run_prompt(hy_model *m, struct run_opts *o)
{
    struct gen_result g = {0};
    hy_session *s = NULL;
    hy_sampler *sm = NULL;
    int np, rc = 1;
    hy_token *ptoks = tokenize_prompt(m, o->path, o->prompt, &np);
    if (!ptoks)
        return 1;
    struct hy_plan_params *pp = &o->mp.plan;
    struct hy_model_desc d;
    hy_model_describe(m, &d);
    /* the context reserved is prompt + generation (small, for streaming budgets), never
     * beyond what the model was trained on */
    long train = d.n_ctx_train ? (long)d.n_ctx_train : 1L << 24;
    long cap = pp->n_ctx ? (long)pp->n_ctx : train;
    if (np >= cap) {
        fprintf(stderr, "hypura: the prompt has %d tokens; the context is %ld (%s): "
                "shorten the prompt\n", np, cap, pp->n_ctx ? "--ctx-size" : "the model's training context");
        free(ptoks);
        return 1;
    }
    if (o->n_predict < 0) /* until the context is full: min(training context, 4096) */
        o->n_predict = (pp->n_ctx ? cap : (cap < 4096 ? cap : 4096)) - np;
    if (o->n_predict <= 0) {
        fprintf(stderr, "hypura: the prompt has %d tokens and leaves no room in the context\n", np);
        free(ptoks);
        return 1;
    }
    if (np + o->n_predict > cap) {
        fprintf(stderr, "hypura: generating at most %ld tokens: the context is %ld\n", cap - np, cap);
        o->n_predict = cap - np;
    }
    if (!pp->n_ctx)
        pp->n_ctx = (uint32_t)(np + o->n_predict);
    if (!pp->n_batch)
        pp->n_batch = (uint32_t)(np < 512 ? np : 512);
    struct hy_session_params sp = hy_session_default_params();
    if (hy_model_place(m, &o->mp) || hy_session_new(m, &sp, &s) ||
        hy_sampler_new(&o->smp, d.n_vocab, &sm)) {
        cli_fail(o->path);
        goto done;
    }
    double t0 = hy_now_seconds();
    if (hy_session_eval(s, ptoks, np, false)) {
        cli_fail(o->path);
        goto done;
    }
    double t_prompt = hy_now_seconds() - t0;
    for (int i = 0; i < np; i++)
        hy_sampler_accept(sm, ptoks[i]);
    if (cli_generate(m, s, sm, (int)o->n_predict, o->ignore_eos, o->json ? NULL : stdout, &g)) {
        if (!o->json)
            fputc('\n', stdout);
        cli_fail(o->path);
        goto done;
    }
    double ptps = t_prompt > 0 ? np / t_prompt : 0;
    double gtps = g.t_gen > 0 ? g.n_decode / g.t_gen : 0;
    if (o->json)
        print_json(s, m, np, ptps, gtps, &g);
    else
        printf("\n");
    fflush(stdout);
    fprintf(stderr, "prompt: %d tok, %.2f tok/s; generation: %d tok, %.2f tok/s\n", np, ptps,
            g.n_ids, gtps);
    rc = 0;
done:
    hy_sampler_free(sm);
    hy_session_free(s);
    gen_result_free(&g);
    free(ptoks);
    return rc;
}

int cmd_run(int argc, char **argv)
{
    struct run_opts o = {0};
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc - 1;
    char *pbuf = NULL;
    if (o.pfile) {
        size_t plen_unused;
        if (!(pbuf = cli_read_file(o.pfile, &plen_unused))) {
            perror(o.pfile);
            return 1;
        }
        o.prompt = pbuf;
    }
    /* opened once: the prompt is tokenized before the weights are placed for it */
    hy_model *m = NULL;
    if (hy_model_open(o.path, &o.mp, &m)) {
        free(pbuf);
        return cli_fail(o.path);
    }
    if (o.interactive || !o.prompt) {
        rc = hy_model_place(m, &o.mp) ? cli_fail(o.path)
                                      : cli_chat(m, &o.smp, (int)o.n_predict, o.mp.plan.n_ctx,
                                                 o.system, o.tmpl);
    } else {
        rc = run_prompt(m, &o);
    }
    hy_model_free(m);
    free(pbuf);
    return rc;
}

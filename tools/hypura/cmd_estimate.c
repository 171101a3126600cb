/* hypura estimate MODEL [--ram-budget SIZE] [--gpu-budget SIZE] [...] [--json]
 * Predicted prompt and decode speed of the model's plan, with the time per token by tier
 * (compute, transfer, stall) and the bytes read from disk per token. Reads the GGUF
 * header only. */
#include "cli.h"

#include <string.h>

static void estimate_usage(FILE *f)
{
    fprintf(f, "usage: hypura estimate MODEL [options]\n"
               "Predict prompt and decode tok/s for MODEL under the budgets, from the measured\n"
               "hardware profile (measured on first use) and the placement plan.\n\n" CLI_MODEL_HELP
               "      --plan            also print the plan's table (with --json: the plan's JSON,\n"
               "                        as `inspect --plan --json` prints it)\n"
               "      --json            one JSON object on stdout\n");
}

int cmd_estimate(int argc, char **argv)
{
    enum { O_PLAN = 5000, O_JSON };
    static const struct option lo[] = {{"plan", no_argument, 0, O_PLAN}, {"json", no_argument, 0, O_JSON},
                                       {"help", no_argument, 0, 'h'}, CLI_MODEL_LONGOPTS, {0, 0, 0, 0}};
    struct hy_model_params mo;
    cli_model_opts_init(&mo);
    bool json = false, show_plan = false;
    int c;
    while ((c = getopt_long(argc, argv, "t:h", lo, NULL)) != -1) {
        int r = cli_model_opt(&mo, c, optarg);
        if (r < 0)
            return 2;
        if (r)
            continue;
        switch (c) {
        case O_PLAN: show_plan = true; break;
        case O_JSON: json = true; break;
        case 'h': estimate_usage(stdout); return 0;
        default: estimate_usage(stderr); return 2;
        }
    }
    if (optind + 1 != argc) {
        estimate_usage(stderr);
        return 2;
    }
    const char *model = argv[optind];
    struct hy_plan_params pp = mo.plan;
    struct cli_progress st = {0};
    pp.progress = cli_progress;
    pp.user = &st;
    hy_plan *pl;
    int rc = hy_plan_file(model, &pp, &pl);
    cli_progress_end(&st);
    if (rc) {
        fprintf(stderr, "hypura: %s: %s\n", model, hy_last_error());
        return 1;
    }
    if (show_plan && json) {
        /* the plan's JSON (as `inspect --plan --json`) already holds the prediction */
        cli_render_plan(pl, true, stdout);
    } else {
        if (show_plan) {
            cli_render_plan(pl, false, stdout);
            printf("\n");
        }
        cli_render_estimate(pl, json, stdout);
    }
    hy_plan_free(pl);
    return 0;
}

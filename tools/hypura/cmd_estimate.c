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
               "hardware profile (measured on first use) and the placement plan.\n\n");
    cli_plan_options_help(f);
    fprintf(f, "  --plan              also print the plan's table (with --json: the plan's JSON,\n"
               "                      as `inspect --plan --json` prints it)\n"
               "  --json              one JSON object on stdout\n");
}

int cmd_estimate(int argc, char **argv)
{
    struct hy_plan_params pp = hy_plan_default_params();
    const char *model = NULL;
    bool json = false, show_plan = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            estimate_usage(stdout);
            return 0;
        }
        int r = cli_plan_option(argc, argv, &i, &pp);
        if (r < 0)
            return 2;
        if (r > 0)
            continue;
        if (!strcmp(a, "--json")) {
            json = true;
        } else if (!strcmp(a, "--plan")) {
            show_plan = true;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "hypura estimate: unknown option '%s'\n", a);
            estimate_usage(stderr);
            return 2;
        } else if (!model) {
            model = a;
        } else {
            fprintf(stderr, "hypura estimate: one MODEL only ('%s')\n", a);
            return 2;
        }
    }
    if (!model) {
        estimate_usage(stderr);
        return 2;
    }
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

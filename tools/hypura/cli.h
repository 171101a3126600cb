/* Shared pieces of the CLI: the command table and option helpers. The CLI uses only
 * include/hypura.h. */
#ifndef HY_CLI_H
#define HY_CLI_H

#include "hypura.h"

#include <stdio.h>

struct cli_command {
    const char *name;
    int (*fn)(int argc, char **argv);   /* argv[0] is the command name */
    const char *help;
};

int cmd_inspect(int argc, char **argv);
int cmd_iobench(int argc, char **argv);
int cmd_profile(int argc, char **argv);
int cmd_estimate(int argc, char **argv);

/* plan_print.c: the placement plan as `inspect --plan` and `estimate` print it. */
/* Parse one plan option at argv[*i] (--ram-budget, --gpu-budget, --no-gpu, --ctx-size,
 * --batch, -t/--threads, --plan-mode, --no-measure; names as the model-loading commands
 * spell them), advancing *i past its value. Returns 1
 * when consumed, 0 when argv[*i] is not a plan option, -1 on a bad value (said on
 * stderr). */
int cli_plan_option(int argc, char **argv, int *i, struct hy_plan_params *p);
void cli_plan_options_help(FILE *f);
/* Plan PATH (header only) and print the plan: a table, or JSON. Errors are printed as
 * "hypura: PATH: reason". Returns the exit status (0 or 1). */
int cli_print_plan(const char *path, const struct hy_plan_params *p, bool json, FILE *out);
void cli_render_plan(const hy_plan *pl, bool json, FILE *out);
void cli_render_estimate(const hy_plan *pl, bool json, FILE *out);
/* A progress display on stderr for hy_progress_fn; user is a struct cli_progress. */
struct cli_progress {
    bool started, tty;
    char last[64];
};
void cli_progress(const char *stage, double frac, void *user);
void cli_progress_end(struct cli_progress *st);

#endif

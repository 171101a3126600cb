/* Shared pieces of the CLI: the command table and option helpers. The CLI uses only
 * include/hypura.h. */
#ifndef HY_CLI_H
#define HY_CLI_H

#include "hypura.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

struct cli_command {
    const char *name;
    int (*fn)(int argc, char **argv);   /* argv[0] is the command name */
    const char *help;
};

int cmd_inspect(int argc, char **argv);
int cmd_iobench(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_serve(int argc, char **argv);

/* Options every model-loading command takes set fields of a struct hy_model_params;
 * planning without loading (inspect --plan, estimate) takes its .plan. */
enum {
    OPT_THREADS = 't',
    OPT_RAM_BUDGET = 1000,
    OPT_GPU_BUDGET,
    OPT_CTX,
    OPT_MMAP,
    OPT_MLOCK,
    OPT_PLAN_MODE,
    OPT_NO_GPU,
    OPT_BATCH,
    OPT_NO_MEASURE,
    OPT_EXPERT_CACHE,
};
#define CLI_MODEL_LONGOPTS                                                   \
    {"threads", required_argument, 0, OPT_THREADS},                          \
    {"ram-budget", required_argument, 0, OPT_RAM_BUDGET},                    \
    {"gpu-budget", required_argument, 0, OPT_GPU_BUDGET},                    \
    {"ctx-size", required_argument, 0, OPT_CTX},                             \
    {"mmap", no_argument, 0, OPT_MMAP},                                      \
    {"mlock", no_argument, 0, OPT_MLOCK},                                    \
    {"plan-mode", required_argument, 0, OPT_PLAN_MODE},                      \
    {"no-gpu", no_argument, 0, OPT_NO_GPU},                                  \
    {"batch", required_argument, 0, OPT_BATCH},                              \
    {"no-measure", no_argument, 0, OPT_NO_MEASURE},                          \
    {"expert-cache", required_argument, 0, OPT_EXPERT_CACHE}
#define CLI_MODEL_HELP                                                                   \
    "  -t, --threads N       compute threads (default: physical cores)\n"                \
    "      --ram-budget SIZE RAM the run may use, e.g. 2G (default: available memory)\n" \
    "      --gpu-budget SIZE VRAM the run may use (CUDA builds)\n"                       \
    "      --ctx-size N      context length (default: min(training context, 4096))\n"   \
    "      --mmap            naive baseline: map the file, let the page cache decide\n"  \
    "      --mlock           lock resident weights in RAM\n"                              \
    "      --plan-mode MODE  force a placement mode (resident, ffn-stream, layer-stream,\n" \
    "                        expert-stream)\n"                                          \
    "      --no-gpu          plan without the GPU tier\n"                               \
    "      --batch N         prompt tokens per forward pass (planning; default 512)\n"  \
    "      --no-measure      never measure the hardware: cached profile or defaults\n" \
    "      --expert-cache P  memory for experts when some stream: lru (a cache shared by\n" \
    "                        all layers, default) or static (the plan's experts held)\n"

void cli_model_opts_init(struct hy_model_params *o);
/* Handle one of the shared options; returns 1 if it was one, 0 if not, -1 on a bad
 * value (message printed). */
int cli_model_opt(struct hy_model_params *o, int c, const char *arg);

/* What one generation produced. */
struct gen_result {
    hy_token *ids;       /* (n_ids) sampled tokens, the stopping one included */
    int n_ids;
    char *text;          /* their text (NUL-terminated), the stopping token's excluded */
    size_t len, cap;
    double t_gen;        /* seconds spent evaluating generated tokens */
    int n_decode;        /* generated tokens evaluated */
};
/* Sample from the session's last logits and evaluate each token until an end-of-generation
 * token (unless ignore_eos) or n_predict tokens; text streams to out when out is not NULL,
 * in whole UTF-8 characters. The stopping token is not evaluated. 0 or -1 (hy_last_error). */
int cli_generate(hy_model *m, hy_session *s, hy_sampler *sm, int n_predict, bool ignore_eos,
                 FILE *out, struct gen_result *g);
void gen_result_free(struct gen_result *g);
int cli_chat(hy_model *m, const struct hy_sampler_params *smp, int n_predict, uint32_t n_ctx,
             const char *system, const char *tmpl);

/* Load a model, printing "hypura: PATH: reason" on failure. */
hy_model *cli_load(const char *path, const struct hy_model_params *o);
/* "hypura: WHAT: reason" from hy_last_error(). Returns 1 (the exit status). */
int cli_fail(const char *what);
/* A whole file's bytes, NUL-terminated (len without it), malloc'ed; NULL on error. */
char *cli_read_file(const char *path, size_t *len);
/* Parse an integer option strictly. */
bool cli_int(const char *s, long lo, long hi, long *out);
int cmd_profile(int argc, char **argv);
int cmd_estimate(int argc, char **argv);

/* plan_print.c: the placement plan as `inspect --plan` and `estimate` print it. */
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

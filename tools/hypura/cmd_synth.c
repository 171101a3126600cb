/* hypura synth PRESET -o FILE [--type Q4_K_M] [--layers N] [--vocab FROM.gguf] [--seed S] */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: hypura synth PRESET -o FILE [--type TYPE] [--layers N] [--vocab FROM.gguf] [--seed S] [--sparse]\n"
               "  Writes a GGUF with random weights in a real model's shape. --sparse writes the\n"
               "  header only (the data are holes: for planning tests, not for running).\n  presets:");
    for (int i = 0; hy_synth_preset_name(i); i++)
        fprintf(f, " %s", hy_synth_preset_name(i));
    fprintf(f, "\n  types:  ");
    for (int i = 0; hy_synth_type_name(i); i++)
        fprintf(f, " %s", hy_synth_type_name(i));
    fprintf(f, "\n");
}

static void progress(double frac, void *user)
{
    (void)user;
    fprintf(stderr, "\rsynth: %3.0f%%", frac * 100);
}

int cmd_synth(int argc, char **argv)
{
    static const struct option lo[] = {
        {"output", required_argument, 0, 'o'}, {"type", required_argument, 0, 'T'},
        {"layers", required_argument, 0, 'L'}, {"vocab", required_argument, 0, 'V'},
        {"seed", required_argument, 0, 'S'},   {"quiet", no_argument, 0, 'q'},
        {"sparse", no_argument, 0, 'P'},
        {"help", no_argument, 0, 'h'},         {0, 0, 0, 0}};
    struct hy_synth_params p = hy_synth_default_params();
    const char *out = NULL;
    bool quiet = false;
    long v;
    int c;
    while ((c = getopt_long(argc, argv, "o:qh", lo, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'T': p.type = optarg; break;
        case 'V': p.vocab_path = optarg; break;
        case 'q': quiet = true; break;
        case 'P': p.sparse = true; break;
        case 'L':
            if (!cli_int(optarg, 1, 4096, &v)) {
                fprintf(stderr, "hypura: --layers takes a number from 1 to 4096\n");
                return 2;
            }
            p.n_layers = (int)v;
            break;
        case 'S':
            if (!cli_int(optarg, 0, 0x7fffffffL, &v)) {
                fprintf(stderr, "hypura: --seed takes a non-negative number\n");
                return 2;
            }
            p.seed = (uint64_t)v;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind + 1 != argc || !out) {
        fprintf(stderr, optind >= argc ? "hypura synth: which preset? (see the list below)\n"
                        : !out ? "hypura synth: where to? -o FILE is required\n"
                               : "hypura synth: one preset only\n");
        usage(stderr);
        return 2;
    }
    p.preset = argv[optind];
    if (!quiet && isatty(2))
        p.progress = progress;
    double t0 = hy_now_seconds();
    if (hy_synth(&p, out) != 0) {
        if (p.progress)
            fputc('\n', stderr);
        return cli_fail("synth");
    }
    double dt = hy_now_seconds() - t0;
    hy_model *m = NULL;
    if (hy_model_open(out, NULL, &m) == 0) {
        struct hy_model_desc d;
        hy_model_describe(m, &d);
        char b[32];
        fprintf(stderr, "%s%s: %s %s, %d layers, %s in %.1f s (%.0f MB/s)\n", p.progress ? "\r" : "",
                out, p.preset, p.type, d.n_layer, hy_format_size(d.weight_bytes, b, sizeof b), dt,
                (double)d.weight_bytes / dt / 1e6);
        hy_model_free(m);
    }
    return 0;
}

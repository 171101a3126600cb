/* hypura — command line. One small file per subcommand (cmd_*.c); this file dispatches. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const struct cli_command g_commands[] = {
    {"inspect", cmd_inspect, "metadata, tensor table and placement plan of a GGUF file"},
    {"iobench", cmd_iobench, "storage read paths: buffered, direct, io_uring, threads by block and depth"},
    {"run", cmd_run, "generate text from a prompt, or chat (-i)"},
    {"serve", cmd_serve, "the Ollama and OpenAI HTTP APIs over a model"},
    {"logits", cmd_logits, "teacher-forced logits of a token sequence (for checking)"},
    {"synth", cmd_synth, "write a random-weight GGUF of a real model's shape"},
    {"tokenize", cmd_tokenize, "token ids of a text, as llama.cpp gives them"},
    {"bench", cmd_bench, "A/B speed of the plan against a naive mmap run, cold and warm"},
    {"profile", cmd_profile, "measure CPU, memory, storage (direct I/O, cold), GPU; cached"},
    {"estimate", cmd_estimate, "predicted prompt and decode speed of a model's plan, by tier"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: hypura COMMAND [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof g_commands / sizeof g_commands[0]; i++)
        fprintf(f, "  %-10s %s\n", g_commands[i].name, g_commands[i].help);
    fprintf(f, "\n'hypura COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof g_commands / sizeof g_commands[0]; i++)
        if (!strcmp(argv[1], g_commands[i].name))
            return g_commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "hypura: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}

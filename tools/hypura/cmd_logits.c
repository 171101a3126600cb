/* hypura logits MODEL --ids "1 403 407 ..." -o OUT.f32
 * Teacher-forced logits of a token sequence, evaluated as one prompt: rows x n_vocab
 * little-endian float32, the layout of the reference fixtures. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: hypura logits MODEL --ids \"ID ID ...\" -o OUT.f32 [options]\n"
               "  --ids LIST    token ids, separated by spaces or commas\n"
               "  -o FILE       output: one row of n_vocab float32 per token\n" CLI_MODEL_HELP);
}

static int parse_ids(const char *s, hy_token **out, int *n)
{
    int cap = 64, k = 0;
    hy_token *v = malloc(sizeof *v * (size_t)cap);
    while (v && *s) {
        while (*s == ' ' || *s == ',' || *s == '\t' || *s == '\n')
            s++;
        if (!*s)
            break;
        char *end;
        long x = strtol(s, &end, 10);
        if (end == s || x < 0 || x > 0x7fffffff) {
            free(v);
            return -1;
        }
        if (k == cap) {
            cap *= 2;
            hy_token *w = realloc(v, sizeof *v * (size_t)cap);
            if (!w) {
                free(v);
                return -1;
            }
            v = w;
        }
        v[k++] = (hy_token)x;
        s = end;
    }
    *out = v;
    *n = k;
    return v && k > 0 ? 0 : -1;
}

int cmd_logits(int argc, char **argv)
{
    static const struct option lo[] = {
        {"ids", required_argument, 0, 'i'}, {"output", required_argument, 0, 'o'},
        {"help", no_argument, 0, 'h'}, CLI_MODEL_LONGOPTS, {0, 0, 0, 0}};
    struct hy_model_params mo;
    cli_model_opts_init(&mo);
    const char *ids = NULL, *outp = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "i:o:t:h", lo, NULL)) != -1) {
        int r = cli_model_opt(&mo, c, optarg);
        if (r < 0)
            return 2;
        if (r)
            continue;
        switch (c) {
        case 'i': ids = optarg; break;
        case 'o': outp = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind + 1 != argc || !ids || !outp) {
        usage(stderr);
        return 2;
    }
    const char *path = argv[optind];
    hy_token *toks;
    int n;
    if (parse_ids(ids, &toks, &n)) {
        fprintf(stderr, "hypura: --ids: expected a list of token ids\n");
        return 2;
    }
    if (!mo.plan.n_ctx)
        mo.plan.n_ctx = (uint32_t)n;
    mo.plan.n_batch = (uint32_t)n; /* one batch, like the reference */
    hy_model *m = cli_load(path, &mo);
    if (!m) {
        free(toks);
        return 1;
    }
    struct hy_session_params sp = hy_session_default_params();
    sp.n_ctx = (uint32_t)n;
    sp.n_batch = (uint32_t)n; /* one batch, like the reference */
    hy_session *s = NULL;
    int rc = 1;
    if (hy_session_new(m, &sp, &s) || hy_session_eval(s, toks, n, true)) {
        cli_fail(path);
        goto done;
    }
    struct hy_model_desc d;
    hy_model_describe(m, &d);
    FILE *f = fopen(outp, "wb");
    if (!f) {
        perror(outp);
        goto done;
    }
    bool ok = true;
    for (int i = 0; i < n; i++)
        ok &= fwrite(hy_session_logits(s, i), sizeof(float), (size_t)d.n_vocab, f) == (size_t)d.n_vocab;
    ok &= fclose(f) == 0;
    if (!ok) {
        fprintf(stderr, "hypura: %s: write failed\n", outp);
        goto done;
    }
    rc = 0;
done:
    hy_session_free(s);
    hy_model_free(m);
    free(toks);
    return rc;
}

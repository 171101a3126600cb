/* Tokenizer benchmark and id dump.
 *
 *   tokbench [--reps N] [--ids] [--special] [--no-bos] VOCAB.gguf TEXTFILE
 *
 * Loads the vocabulary of VOCAB.gguf (any GGUF with tokenizer.ggml.* metadata), reads TEXTFILE
 * as bytes and tokenizes it whole, N times (default 5), one thread. Prints the tokens, the
 * time of each run and the median throughput in MB/s (10^6 bytes per second) of the text.
 * --ids prints the ids instead, in llama-tokenize's "--ids" format, to compare with it.
 * --special parses special-token text; --no-bos adds no BOS/EOS (add_special off). */
#include "gguf/gguf.h"
#include "hypura.h"
#include "io/file.h"
#include "tokenizer/tokenizer.h"
#include "util/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static char *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 20, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n == cap) {
            cap *= 2;
            char *b = realloc(buf, cap);
            if (!b) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = b;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        if (r == 0)
            break;
        n += r;
    }
    fclose(f);
    *len = n;
    return buf;
}

int main(int argc, char **argv)
{
    int reps = 5;
    bool ids = false, special = false, add_special = true;
    const char *model = NULL, *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--ids"))
            ids = true;
        else if (!strcmp(argv[i], "--special"))
            special = true;
        else if (!strcmp(argv[i], "--no-bos"))
            add_special = false;
        else if (!model)
            model = argv[i];
        else if (!path)
            path = argv[i];
        else {
            fprintf(stderr, "tokbench: unexpected argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!model || !path || reps < 1) {
        fprintf(stderr, "usage: tokbench [--reps N] [--ids] [--special] [--no-bos] VOCAB.gguf TEXTFILE\n");
        return 2;
    }
    struct file *f;
    struct gguf *g = NULL;
    struct tokenizer *t = NULL;
    double t0 = now_seconds();
    if (file_open(&f, model) || gguf_open(&g, f) || tokenizer_load(&t, g)) {
        fprintf(stderr, "tokbench: %s: %s\n", model, hy_last_error());
        return 1;
    }
    double t_load = now_seconds() - t0;
    gguf_free(g);
    file_close(f);
    size_t len;
    char *text = read_all(path, &len);
    if (!text) {
        fprintf(stderr, "tokbench: cannot read %s\n", path);
        return 1;
    }
    int n = tokenizer_encode(t, text, len, add_special, special, NULL, 0);
    if (n < 0) {
        fprintf(stderr, "tokbench: %s\n", hy_last_error());
        return 1;
    }
    int32_t *out = malloc(((size_t)n + 1) * sizeof *out);
    if (ids) {
        tokenizer_encode(t, text, len, add_special, special, out, n);
        printf("[");
        for (int i = 0; i < n; i++)
            printf(i ? ", %d" : "%d", out[i]);
        printf("]\n");
    } else {
        double *secs = malloc((size_t)reps * sizeof *secs);
        for (int r = 0; r < reps; r++) {
            double s = now_seconds();
            int k = tokenizer_encode(t, text, len, add_special, special, out, n);
            secs[r] = now_seconds() - s;
            if (k != n) {
                fprintf(stderr, "tokbench: run %d gave %d tokens, not %d\n", r, k, n);
                return 1;
            }
            printf("run %d: %.3f s, %.1f MB/s\n", r + 1, secs[r], (double)len / secs[r] / 1e6);
        }
        qsort(secs, (size_t)reps, sizeof *secs, cmp_double);
        double med = reps % 2 ? secs[reps / 2] : (secs[reps / 2 - 1] + secs[reps / 2]) / 2;
        printf("%s (%s): %zu bytes -> %d tokens; load %.3f s; median %.3f s = %.1f MB/s over %d runs\n",
               model, tokenizer_pre_name(t)[0] ? tokenizer_pre_name(t) : "spm", len, n, t_load, med,
               (double)len / med / 1e6, reps);
        free(secs);
    }
    free(out);
    free(text);
    tokenizer_free(t);
    return 0;
}

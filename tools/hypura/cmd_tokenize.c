/* hypura tokenize MODEL (TEXT | --file F) [--ids-only] [--no-bos] [--special]
 * Token ids of a text, as llama.cpp gives them. Opens the model only (hy_model_open: header and vocabulary), so it
 * works on vocabulary-only GGUF files too. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: hypura tokenize MODEL (TEXT | --file F) [--ids-only] [--no-bos] [--special]\n"
               "  -f, --file F   tokenize the bytes of file F, as they are\n"
               "      --ids-only print only the ids, space-separated, on one line\n"
               "      --no-bos   add no BOS/EOS (by default they are added as the model asks)\n"
               "      --special  special-token text (e.g. <|im_start|>) becomes that token\n"
               "Without --ids-only, each token is printed on its own line: id and piece.\n");
}


/* The piece, with bytes that would upset a terminal written as escapes. */
static void print_piece(const char *p, int n)
{
    for (int i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\n')
            fputs("\\n", stdout);
        else if (c == '\t')
            fputs("\\t", stdout);
        else if (c == '\r')
            fputs("\\r", stdout);
        else if (c == '\\')
            fputs("\\\\", stdout);
        else if (c < 0x20 || c == 0x7f)
            printf("\\x%02x", c);
        else
            putchar(c);
    }
}

int cmd_tokenize(int argc, char **argv)
{
    enum { OPT_IDS_ONLY = 2000, OPT_NO_BOS, OPT_SPECIAL };
    static const struct option lo[] = {
        {"file", required_argument, 0, 'f'}, {"ids-only", no_argument, 0, OPT_IDS_ONLY},
        {"no-bos", no_argument, 0, OPT_NO_BOS}, {"special", no_argument, 0, OPT_SPECIAL},
        {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *file = NULL;
    bool ids_only = false, add_special = true, special = false;
    int c;
    while ((c = getopt_long(argc, argv, "f:h", lo, NULL)) != -1) {
        switch (c) {
        case 'f': file = optarg; break;
        case OPT_IDS_ONLY: ids_only = true; break;
        case OPT_NO_BOS: add_special = false; break;
        case OPT_SPECIAL: special = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    /* MODEL and TEXT, or MODEL alone with --file */
    if (argc - optind != (file ? 1 : 2)) {
        usage(stderr);
        return 2;
    }
    const char *path = argv[optind];
    char *text;
    size_t len;
    if (file) {
        text = cli_read_file(file, &len);
        if (!text) {
            fprintf(stderr, "hypura: %s: %s\n", file, strerror(errno ? errno : EIO));
            return 1;
        }
    } else {
        text = strdup(argv[optind + 1]);
        if (!text) {
            fprintf(stderr, "hypura: out of memory\n");
            return 1;
        }
        len = strlen(text);
    }

    hy_model *m = NULL;
    if (hy_model_open(path, NULL, &m) != 0) {
        free(text);
        return cli_fail(path);
    }
    int rc = 1;
    hy_token *ids = NULL;
    int n = hy_tokenize(m, text, len, add_special, special, NULL, 0);
    if (n < 0) {
        cli_fail("tokenize");
        goto out;
    }
    ids = malloc(sizeof *ids * ((size_t)n + 1));
    if (!ids || hy_tokenize(m, text, len, add_special, special, ids, n) != n) {
        fprintf(stderr, "hypura: tokenize: out of memory\n");
        goto out;
    }
    if (ids_only) {
        for (int i = 0; i < n; i++)
            printf(i ? " %d" : "%d", ids[i]);
        putchar('\n');
    } else {
        char piece[256];
        for (int i = 0; i < n; i++) {
            int pl = hy_token_to_piece(m, ids[i], true, piece, sizeof piece);
            char *p = piece;
            if (pl > (int)sizeof piece) {   /* a long piece: fetch it whole */
                p = malloc((size_t)pl);
                if (!p || hy_token_to_piece(m, ids[i], true, p, pl) != pl) {
                    free(p);
                    fprintf(stderr, "hypura: tokenize: out of memory\n");
                    goto out;
                }
            }
            printf("%6d -> '", ids[i]);
            print_piece(p, pl < 0 ? 0 : pl);
            printf("'\n");
            if (p != piece)
                free(p);
        }
    }
    rc = fflush(stdout) == 0 ? 0 : 1;
out:
    free(ids);
    free(text);
    hy_model_free(m);
    return rc;
}

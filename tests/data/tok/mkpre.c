/* mkpre IN OUT PRE: copy the metadata of a vocabulary-only GGUF, with tokenizer.ggml.pre set
 * to PRE. Used by make.sh to give llama-tokenize one vocabulary under each pre-tokenizer. */
#include "gguf/gguf.h"
#include "io/file.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {  /* mkpre IN OUT PRE */
    struct file *f; file_open(&f, argv[1]); struct gguf *g; if (gguf_open(&g, f)) return 1;
    struct gguf_writer *w = gguf_writer_new();
    for (int64_t i = 0; i < gguf_n_kv(g); i++)
        if (strcmp(gguf_kv_key(g, i), "tokenizer.ggml.pre")) gguf_writer_copy_kv(w, g, i);
    gguf_writer_set_str(w, "tokenizer.ggml.pre", argv[3]);
    uint8_t *h; uint64_t n; gguf_writer_header(w, &h, &n);
    FILE *o = fopen(argv[2], "wb"); fwrite(h, 1, n, o); fclose(o);
    return 0;
}

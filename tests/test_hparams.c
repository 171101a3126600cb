/* Hyper-parameters from hostile headers: every size the forward pass allocates by must be
 * there and plausible, or the file is refused (a dense model with no feed-forward length
 * used to load and read its FFN input width out of a zero-sized buffer). */
#include "arch/hparams.h"
#include "gguf/gguf.h"
#include "hypura.h"
#include "io/file.h"
#include "test.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A llama header: n_ff and n_vocab as given (0 = the key left out). */
static int load(uint32_t n_ff, uint32_t n_vocab, struct hparams *hp)
{
    struct gguf_writer *w = gguf_writer_new();
    gguf_writer_set_str(w, "general.architecture", "llama");
    gguf_writer_set_u32(w, "llama.block_count", 2);
    gguf_writer_set_u32(w, "llama.embedding_length", 64);
    gguf_writer_set_u32(w, "llama.attention.head_count", 4);
    gguf_writer_set_u32(w, "llama.context_length", 256);
    if (n_ff)
        gguf_writer_set_u32(w, "llama.feed_forward_length", n_ff);
    if (n_vocab)
        gguf_writer_set_u32(w, "llama.vocab_size", n_vocab);
    uint64_t ne[4] = {64, 1, 1, 1};
    gguf_writer_add_tensor(w, "output_norm.weight", 0, 1, ne);
    uint8_t *hdr = NULL;
    uint64_t len = 0;
    int rc = gguf_writer_header(w, &hdr, &len);
    uint64_t size = gguf_writer_file_size(w);
    gguf_writer_free(w);
    struct file *f = NULL;
    struct gguf *g = NULL;
    uint8_t *file = rc ? NULL : calloc(1, (size_t)size);  /* header, then zero tensor data */
    if (file)
        memcpy(file, hdr, (size_t)len);
    if (!rc)
        rc = file ? file_open_mem(&f, file, (size_t)size, true, "hostile.gguf") : -ENOMEM;
    free(file);
    if (!rc)
        rc = gguf_open(&g, f);
    if (!rc)
        rc = hparams_load(hp, g);
    gguf_free(g);
    file_close(f);
    free(hdr);
    return rc;
}

static void test_sizes_required(void)
{
    struct hparams hp;
    CHECK(load(256, 1000, &hp) == 0);
    CHECK(hp.n_ff == 256 && hp.n_vocab == 1000);
    CHECK(load(0, 1000, &hp) == -EINVAL);
    CHECKF(strstr(hy_last_error(), "n_ff 0"), "%s", hy_last_error());
    CHECK(load(256, 0, &hp) == -EINVAL);
    CHECKF(strstr(hy_last_error(), "n_vocab 0"), "%s", hy_last_error());
}

int main(void)
{
    RUN(test_sizes_required);
    return test_finish();
}

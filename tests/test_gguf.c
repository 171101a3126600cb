/* GGUF reader and writer: round trips, every fixture, and hostile input (truncation at
 * every header offset, byte corruption, failing and short reads through the file layer). */
#include "gguf/gguf.h"
#include "io/file.h"
#include "quant/types.h"
#include "test.h"

#include <errno.h>
#include <string.h>

static int open_mem(const void *data, size_t n, struct gguf **g)
{
    struct file *f;
    if (file_open_mem(&f, data, n, false, "mem"))
        return -ENOMEM;
    int rc = gguf_open(g, f);
    file_close(f);
    return rc;
}

/* A small file written by our writer: every value type, three tensors. */
static uint8_t *make_file(size_t *len)
{
    struct gguf_writer *w = gguf_writer_new();
    gguf_writer_set_str(w, "general.architecture", "llama");
    gguf_writer_set_u32(w, "general.alignment", 64);
    gguf_writer_set_u32(w, "llama.block_count", 2);
    gguf_writer_set_f32(w, "llama.rope.freq_base", 500000.0f);
    gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true);
    const char *toks[] = {"<s>", "</s>", "a", ""};
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 4);
    float scores[] = {0, 0, -1.5f, -2};
    gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_F32, scores, 4);
    uint64_t ne1[] = {64}, ne2[] = {256, 3}, ne3[] = {32, 2, 2};
    gguf_writer_add_tensor(w, "a", HY_TYPE_F32, 1, ne1);
    gguf_writer_add_tensor(w, "b", HY_TYPE_Q4_K, 2, ne2);
    gguf_writer_add_tensor(w, "c", HY_TYPE_Q8_0, 3, ne3);
    uint8_t *hdr;
    uint64_t hlen;
    CHECK(gguf_writer_header(w, &hdr, &hlen) == 0);
    size_t n = (size_t)gguf_writer_file_size(w);
    uint8_t *buf = calloc(1, n);
    memcpy(buf, hdr, hlen);
    for (size_t i = hlen; i < n; i++)
        buf[i] = (uint8_t)(i * 7);
    free(hdr);
    gguf_writer_free(w);
    *len = n;
    return buf;
}

static void test_roundtrip(void)
{
    size_t n;
    uint8_t *buf = make_file(&n);
    struct gguf *g;
    CHECK(open_mem(buf, n, &g) == 0);
    if (!g)
        return;
    CHECK_EQ(gguf_version(g), 3);
    CHECK_EQ(gguf_alignment(g), 64);
    CHECK_EQ(gguf_n_kv(g), 7);
    CHECK_EQ(gguf_n_tensors(g), 3);
    CHECK(!strcmp(gguf_get_str(g, "general.architecture", NULL), "llama"));
    uint32_t u;
    CHECK(gguf_get_u32(g, "llama.block_count", &u) == 0 && u == 2);
    CHECK(gguf_get_u32(g, "missing", &u) == -ENOENT);
    CHECK(gguf_get_u32(g, "general.architecture", &u) == -EINVAL);
    float f;
    CHECK(gguf_get_f32(g, "llama.rope.freq_base", &f) == 0 && f == 500000.0f);
    bool b;
    CHECK(gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b) == 0 && b);
    enum gguf_vtype et;
    uint64_t na;
    CHECK(gguf_get_arr(g, "tokenizer.ggml.tokens", &et, &na) == 0 && et == GGUF_STR && na == 4);
    size_t sl;
    CHECK(!strcmp(gguf_get_arr_str(g, "tokenizer.ggml.tokens", 2, &sl), "a") && sl == 1);
    CHECK(!strcmp(gguf_get_arr_str(g, "tokenizer.ggml.tokens", 3, &sl), "") && sl == 0);
    CHECK(gguf_get_arr_str(g, "tokenizer.ggml.tokens", 4, NULL) == NULL);
    const float *sc = gguf_get_arr_data(g, "tokenizer.ggml.scores");
    CHECK(sc && sc[2] == -1.5f);
    int64_t ti = gguf_find_tensor(g, "b");
    CHECK(ti == 1);
    const struct gguf_tensor *t = gguf_tensor(g, ti);
    CHECK(t->type == HY_TYPE_Q4_K && t->ne[0] == 256 && t->ne[1] == 3 && t->nbytes == 3 * 144);
    CHECK(t->offset % 64 == 0 && t->offset >= gguf_data_offset(g));
    t = gguf_tensor(g, 2);
    CHECK(t->n_elements == 128 && t->nbytes == 4 * 34);
    CHECK(gguf_find_tensor(g, "nope") == -1);
    char fmt[128];
    gguf_kv_format(g, gguf_find_key(g, "tokenizer.ggml.tokens"), fmt, sizeof fmt);
    CHECK(strstr(fmt, "[str x 4]") != NULL);

    /* the writer copies every kv faithfully */
    struct gguf_writer *w = gguf_writer_new();
    for (int64_t i = 0; i < gguf_n_kv(g); i++)
        CHECK(gguf_writer_copy_kv(w, g, i) == 0);
    uint8_t *hdr;
    uint64_t hlen;
    CHECK(gguf_writer_header(w, &hdr, &hlen) == 0);
    struct gguf *g2;
    CHECK(open_mem(hdr, (size_t)hlen, &g2) == 0);
    if (g2) {
        CHECK(gguf_n_kv(g2) == gguf_n_kv(g));
        for (int64_t i = 0; i < gguf_n_kv(g); i++) {
            char a[256], c[256];
            gguf_kv_format(g, i, a, sizeof a);
            gguf_kv_format(g2, i, c, sizeof c);
            CHECKF(!strcmp(a, c), "%s: %s vs %s", gguf_kv_key(g, i), a, c);
        }
    }
    gguf_free(g2);
    free(hdr);
    gguf_writer_free(w);
    gguf_free(g);
    free(buf);
}

/* Every prefix of the header must fail cleanly, never crash. */
static void test_truncation(void)
{
    size_t n;
    uint8_t *buf = make_file(&n);
    struct gguf *g;
    CHECK(open_mem(buf, n, &g) == 0);
    const struct gguf_tensor *last = gguf_tensor(g, gguf_n_tensors(g) - 1);
    size_t end = (size_t)(last->offset + last->nbytes); /* only alignment padding follows */
    gguf_free(g);
    for (size_t k = 0; k < n; k++) {
        int rc = open_mem(buf, k, &g);
        if (k < end)
            CHECKF(rc < 0 && g == NULL, "prefix %zu accepted", k);
        else
            CHECKF(rc == 0, "prefix %zu refused", k);
        if (rc == 0)
            gguf_free(g);
    }
    free(buf);
}

/* Flip bytes one at a time across the header: either a clean error or a file that
 * still passes every check; never a crash (ASan/UBSan builds check the rest). */
static void test_corruption(void)
{
    size_t n;
    uint8_t *buf = make_file(&n);
    struct gguf *g;
    CHECK(open_mem(buf, n, &g) == 0);
    size_t hdr = (size_t)gguf_data_offset(g);
    gguf_free(g);
    uint64_t rng = 1;
    for (size_t k = 0; k < hdr; k++) {
        for (int v = 0; v < 3; v++) {
            uint8_t *c = malloc(n);
            memcpy(c, buf, n);
            c[k] = v == 0 ? 0xff : v == 1 ? 0x00 : (uint8_t)test_rand(&rng);
            if (open_mem(c, n, &g) == 0) {
                for (int64_t i = 0; i < gguf_n_tensors(g); i++) {
                    const struct gguf_tensor *t = gguf_tensor(g, i);
                    CHECK(t->offset + t->nbytes <= n);
                }
                gguf_free(g);
            }
            free(c);
        }
    }
    /* hostile counts */
    uint8_t *c = malloc(n);
    memcpy(c, buf, n);
    memset(c + 8, 0xff, 8); /* n_tensors = 2^64-1 */
    CHECK(open_mem(c, n, &g) < 0);
    memcpy(c, buf, n);
    memset(c + 16, 0x7f, 8); /* n_kv huge */
    CHECK(open_mem(c, n, &g) < 0);
    memcpy(c, buf, n);
    c[4] = 1; /* version 1 */
    CHECK(open_mem(c, n, &g) < 0);
    memcpy(c, buf, n);
    c[0] = 'X';
    CHECK(open_mem(c, n, &g) < 0);
    free(c);
    free(buf);
}

/* A hand-built header: little-endian fields appended to a buffer. */
struct hb {
    uint8_t *p;
    size_t n;
};
static void hb_put(struct hb *b, const void *v, size_t n)
{
    memcpy(b->p + b->n, v, n);
    b->n += n;
}
static void hb_u32(struct hb *b, uint32_t v) { hb_put(b, &v, 4); }
static void hb_u64(struct hb *b, uint64_t v) { hb_put(b, &v, 8); }
static void hb_str(struct hb *b, const char *s)
{
    hb_u64(b, strlen(s));
    hb_put(b, s, strlen(s));
}
static void hb_begin(struct hb *b, uint64_t n_tensors, uint64_t n_kv)
{
    hb_put(b, "GGUF", 4);
    hb_u32(b, 3);
    hb_u64(b, n_tensors);
    hb_u64(b, n_kv);
}

/* Values at the edges: copied bit for bit; sizes that overflow or exceed the limits
 * refused before anything is allocated for them. */
static void test_edge_values(void)
{
    struct hb b = {calloc(1, 4096), 0};
    hb_begin(&b, 0, 2);
    hb_str(&b, "u64");
    hb_u32(&b, GGUF_U64);
    hb_u64(&b, 0xfffffffffffffff0ull);
    hb_str(&b, "f64");
    hb_u32(&b, GGUF_F64);
    double tenth = 0.1;
    hb_put(&b, &tenth, 8);
    struct gguf *g, *g2;
    CHECK(open_mem(b.p, b.n, &g) == 0);
    if (g) {
        struct gguf_writer *w = gguf_writer_new();
        for (int64_t i = 0; i < gguf_n_kv(g); i++)
            CHECK(gguf_writer_copy_kv(w, g, i) == 0);
        uint8_t *hdr;
        uint64_t hlen;
        CHECK(gguf_writer_header(w, &hdr, &hlen) == 0);
        /* the same values, in the same order, after the writer's alignment key if any */
        CHECK(open_mem(hdr, (size_t)hlen, &g2) == 0);
        if (g2) {
            uint8_t r1[8], r2[8];
            for (int64_t i = 0; i < gguf_n_kv(g); i++) {
                int64_t j = gguf_find_key(g2, gguf_kv_key(g, i));
                CHECK(j >= 0 && gguf_kv_type(g2, j) == gguf_kv_type(g, i));
                CHECK(gguf_kv_scalar(g, i, r1) == 0 && gguf_kv_scalar(g2, j, r2) == 0);
                CHECKF(!memcmp(r1, r2, 8), "%s changed in the copy", gguf_kv_key(g, i));
            }
            gguf_free(g2);
        }
        free(hdr);
        gguf_writer_free(w);
        gguf_free(g);
    }

    /* an F32 tensor of 2^31 x 2^31 elements: 2^64 bytes */
    b.n = 0;
    hb_begin(&b, 1, 0);
    hb_str(&b, "t");
    hb_u32(&b, 2);
    hb_u64(&b, 1ull << 31);
    hb_u64(&b, 1ull << 31);
    hb_u32(&b, HY_TYPE_F32);
    hb_u64(&b, 0);
    CHECK(open_mem(b.p, b.n + 64, &g) == -EBADMSG);
    free(b.p);

    /* a 300 MiB string in a file big enough to hold it: over the per-value limit. The
     * buffer is never touched past the header, so calloc's pages stay unmapped. */
    size_t big = 301u << 20;
    b = (struct hb){calloc(1, big), 0};
    if (b.p) {
        hb_begin(&b, 0, 1);
        hb_str(&b, "general.name");
        hb_u32(&b, GGUF_STR);
        hb_u64(&b, 300u << 20);
        CHECK(open_mem(b.p, big, &g) == -EBADMSG);
        free(b.p);
    }
}

/* Failing and short reads through the file layer. */
static void test_faults(void)
{
    size_t n;
    uint8_t *buf = make_file(&n);
    struct gguf *g;
    for (uint64_t nth = 1; nth <= 3; nth++) {
        struct file *m, *f;
        file_open_mem(&m, buf, n, false, "mem");
        struct file_fault spec = {.fail_nth = nth};
        CHECK(file_open_fault(&f, m, &spec) == 0);
        int rc = gguf_open(&g, f);
        /* the header fits in one buffered read: only the first read can hit it */
        if (nth == 1)
            CHECK(rc == -EIO);
        if (rc == 0)
            gguf_free(g);
        file_close(f);
    }
    struct file *m, *f;
    file_open_mem(&m, buf, n, false, "mem");
    struct file_fault spec = {.short_max = 3};
    file_open_fault(&f, m, &spec);
    CHECK(gguf_open(&g, f) == 0);
    if (g)
        CHECK(gguf_n_tensors(g) == 3);
    gguf_free(g);
    file_close(f);
    /* the file ends early while its size says otherwise */
    file_open_mem(&m, buf, n, false, "mem");
    struct file_fault eof = {.eof_at = 40};
    file_open_fault(&f, m, &eof);
    CHECK(gguf_open(&g, f) == -EIO);
    file_close(f);
    free(buf);
}

static void test_fixtures(void)
{
    static const char *names[] = {
        "fixtures/real/stories260K-F32.gguf", "fixtures/real/stories260K-Q4_0.gguf",
        "fixtures/synth/llama-s7-Q4_K_M.gguf", "fixtures/synth/qwen2-s7-Q6_K.gguf",
        "fixtures/synth/mixtral-s7-Q4_K_M.gguf", "vocab/ggml-vocab-llama-bpe.gguf",
    };
    int found = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char *p = test_shared_path(names[i]);
        if (!p)
            continue;
        found++;
        struct file *f;
        CHECK(file_open(&f, p) == 0);
        struct gguf *g;
        CHECKF(gguf_open(&g, f) == 0, "%s", p);
        if (g) {
            CHECK(gguf_get_str(g, "general.architecture", NULL) != NULL);
            uint64_t end = 0;
            for (int64_t j = 0; j < gguf_n_tensors(g); j++) {
                const struct gguf_tensor *t = gguf_tensor(g, j);
                CHECK(type_info(t->type) != NULL);
                if (t->offset + t->nbytes > end)
                    end = t->offset + t->nbytes;
            }
            CHECK(end <= f->size);
            /* the header is all we read: read-ahead stops where the header must still go */
            CHECK(f->bytes_read <= gguf_data_offset(g));
        }
        gguf_free(g);
        file_close(f);
        free(p);
    }
    if (!found)
        TEST_SKIP("no fixtures under %s (set HYPURA_FIXTURES)", test_shared_dir());
}

int main(void)
{
    RUN(test_roundtrip);
    RUN(test_truncation);
    RUN(test_corruption);
    RUN(test_edge_values);
    RUN(test_faults);
    RUN(test_fixtures);
    return test_finish();
}

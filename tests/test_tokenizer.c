/* Tokenizers against llama.cpp's outputs: the four vocabularies of ../shared/vocab (every
 * case of their .inp gives the ids of their .out), the stories260K prompts, round trips on
 * those cases and on random UTF-8, special tokens, end-of-generation ids, streaming
 * detokenization, and hostile metadata. */
#include "gguf/gguf.h"
#include "hypura.h"
#include "io/file.h"
#include "test.h"
#include "tokenizer/pretok.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

static const char *const k_vocabs[] = {"llama-spm", "llama-bpe", "qwen2", "gpt-2"};

static struct gguf *open_gguf(const char *path)
{
    struct file *f;
    if (file_open(&f, path))
        return NULL;
    struct gguf *g = NULL;
    gguf_open(&g, f);
    file_close(f);
    return g;
}

static struct tokenizer *load_path(const char *path)
{
    struct gguf *g = open_gguf(path);
    if (!g)
        return NULL;
    struct tokenizer *t = NULL;
    int rc = tokenizer_load(&t, g);
    if (rc)
        fprintf(stderr, "  tokenizer_load(%s): %d %s\n", path, rc, hy_last_error());
    gguf_free(g);
    return t;
}

/* The tokenizer of ../shared/vocab/ggml-vocab-NAME.gguf, or NULL (the caller skips). */
static struct tokenizer *load_vocab(const char *name)
{
    char rel[128];
    snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf", name);
    char *p = test_shared_path(rel);
    if (!p)
        return NULL;
    struct tokenizer *t = load_path(p);
    free(p);
    return t;
}

/* Tokenize into a malloc'ed array; *n = count. */
static int32_t *encode(const struct tokenizer *t, const char *s, size_t len, bool add_special,
                       bool parse_special, int *n)
{
    int k = tokenizer_encode(t, s, len, add_special, parse_special, NULL, 0);
    *n = k;
    if (k < 0)
        return NULL;
    int32_t *ids = malloc(((size_t)k + 1) * sizeof *ids);
    int k2 = tokenizer_encode(t, s, len, add_special, parse_special, ids, k);
    CHECK_EQ(k2, k);
    return ids;
}

static char *decode(const struct tokenizer *t, const int32_t *ids, int n, int *len)
{
    int k = tokenizer_detokenize(t, ids, n, false, true, NULL, 0);
    *len = k;
    if (k < 0)
        return NULL;
    char *s = malloc((size_t)k + 1);
    CHECK_EQ(tokenizer_detokenize(t, ids, n, false, true, s, k), k);
    s[k] = 0;
    return s;
}

/* ---- the four vocabularies, case by case ---- */

static void check_vocab(const char *name)
{
    struct tokenizer *t = load_vocab(name);
    if (!t) {
        TEST_SKIP("vocabulary %s not found under %s/vocab", name, test_shared_dir());
        return;
    }
    char rel[128];
    snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf.inp", name);
    char *pin = test_shared_path(rel);
    snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf.out", name);
    char *pout = test_shared_path(rel);
    size_t nin = 0, nout = 0;
    char *inp = pin ? test_read_file(pin, &nin) : NULL;
    char *outp = pout ? test_read_file(pout, &nout) : NULL;
    CHECK(inp && outp);
    if (!inp || !outp)
        goto done;
    static const char sep[] = "\n__ggml_vocab_test__\n";
    const size_t seplen = sizeof sep - 1;
    char *cur = inp, *end = inp + nin, *line = outp, *line_end = outp + nout;
    int n_cases = 0, n_bad = 0, n_rt_bad = 0;
    while (cur < end) {
        char *m = memmem(cur, (size_t)(end - cur), sep, seplen);
        if (!m)
            break;
        size_t clen = (size_t)(m - cur);
        char *nl = memchr(line, '\n', (size_t)(line_end - line));
        if (!nl)
            nl = line_end;
        /* expected ids */
        int32_t want[512];
        int nw = 0;
        for (char *q = line; q < nl && nw < 512;) {
            char *e;
            long v = strtol(q, &e, 10);
            if (e == q)
                break;
            want[nw++] = (int32_t)v;
            q = e;
        }
        int n;
        int32_t *got = encode(t, cur, clen, false, false, &n);
        bool same = got && n == nw && !memcmp(got, want, (size_t)n * sizeof *got);
        if (!same) {
            n_bad++;
            fprintf(stderr, "  %s case %d (%zu bytes) differs: got", name, n_cases, clen);
            for (int i = 0; i < n && i < 40; i++)
                fprintf(stderr, " %d", got[i]);
            fprintf(stderr, "\n    want");
            for (int i = 0; i < nw && i < 40; i++)
                fprintf(stderr, " %d", want[i]);
            fprintf(stderr, "\n");
        }
        int dl;
        char *back = got ? decode(t, got, n, &dl) : NULL;
        if (!back || (size_t)dl != clen || memcmp(back, cur, clen)) {
            n_rt_bad++;
            fprintf(stderr, "  %s case %d: round trip differs ('%.*s' -> '%s')\n", name, n_cases,
                    (int)clen, cur, back ? back : "(null)");
        }
        free(back);
        free(got);
        n_cases++;
        cur = m + seplen;
        line = nl < line_end ? nl + 1 : line_end;
    }
    CHECKF(n_bad == 0, "%s: %d of %d cases differ from llama.cpp", name, n_bad, n_cases);
    CHECKF(n_rt_bad == 0, "%s: %d of %d round trips differ", name, n_rt_bad, n_cases);
    CHECKF(n_cases > 30, "%s: only %d cases read", name, n_cases);
    printf("  %s: %d cases\n", name, n_cases);
done:
    free(inp);
    free(outp);
    free(pin);
    free(pout);
    tokenizer_free(t);
}

static void test_vocab_llama_spm(void) { check_vocab("llama-spm"); }
static void test_vocab_llama_bpe(void) { check_vocab("llama-bpe"); }
static void test_vocab_qwen2(void) { check_vocab("qwen2"); }
static void test_vocab_gpt2(void) { check_vocab("gpt-2"); }

/* ---- stories260K: the fixtures' prompt_ids (BOS, special parsing) ---- */

static void test_stories_prompts(void)
{
    char *pm = test_shared_path("fixtures/real/stories260K-F32.gguf");
    if (!pm) {
        TEST_SKIP("fixtures/real/stories260K-F32.gguf not found");
        return;
    }
    struct tokenizer *t = load_path(pm);
    CHECK(t != NULL);
    static const char *const refs[] = {"fixtures/real/stories260K-F32.once.json",
                                       "fixtures/real/stories260K-F32.lily.json"};
    for (size_t r = 0; t && r < 2; r++) {
        char *pj = test_shared_path(refs[r]);
        size_t n;
        char *js = pj ? test_read_file(pj, &n) : NULL;
        cJSON *j = js ? cJSON_ParseWithLength(js, n) : NULL;
        CHECK(j != NULL);
        if (j) {
            const char *prompt = cJSON_GetStringValue(cJSON_GetObjectItem(j, "prompt"));
            cJSON *want = cJSON_GetObjectItem(j, "prompt_ids");
            int k;
            int32_t *got = encode(t, prompt, strlen(prompt), true, true, &k);
            CHECK_EQ(k, cJSON_GetArraySize(want));
            for (int i = 0; i < k && i < cJSON_GetArraySize(want); i++)
                CHECK_EQ(got[i], cJSON_GetArrayItem(want, i)->valueint);
            free(got);
        }
        cJSON_Delete(j);
        free(js);
        free(pj);
    }
    if (t) {
        CHECK_EQ(tokenizer_bos(t), 1);
        CHECK_EQ(tokenizer_eos(t), 2);
        CHECK(tokenizer_add_bos(t));
        CHECK(tokenizer_is_eog(t, 2));
        CHECK(!tokenizer_is_eog(t, 1));
        /* the BOS renders only with specials; detokenize drops it with remove_special */
        char buf[16];
        CHECK_EQ(tokenizer_piece(t, 1, false, buf, sizeof buf), 0);
        CHECK_EQ(tokenizer_piece(t, 1, true, buf, sizeof buf), 3);
        int32_t ids[] = {1, 403, 407, 261, 378};
        char out[64];
        int n = tokenizer_detokenize(t, ids, 5, true, false, out, sizeof out);
        CHECK(n > 0 && n < (int)sizeof out);
        if (n > 0) {
            out[n] = 0;
            CHECKF(!strcmp(out, " Once upon a time"), "'%s'", out);
        }
    }
    tokenizer_free(t);
    free(pm);
}

/* ---- random valid UTF-8 round trips ---- */

/* Random valid UTF-8. spm: leave out U+2581, which SentencePiece reads as a space (so it
 * comes back as one: llama.cpp behaves the same). */
static size_t random_utf8(uint64_t *rs, char *buf, size_t max_chars, bool spm)
{
    static const uint32_t pool[] = {' ', ' ', ' ', '\n', '\t', '\r', '\'', '.', ',', '!', '0', '7',
                                    0xa0, 0x2581, 0x3000, 0x85, 0x1680, 0xe9, 0x301, 0x4e2d,
                                    0x1f600, 0x1f44d, 0x200d, 0xfe0f, 0x0627, 0x10348, 0xffff,
                                    0xfffd, 0x2028, 0x7f, 0x1};
    size_t n = (size_t)(test_rand(rs) % max_chars), len = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t c;
        uint64_t r = test_rand(rs) % 10;
        if (r < 5)
            c = 'a' + (uint32_t)(test_rand(rs) % 26) - (test_rand(rs) % 4 == 0 ? 32 : 0);
        else if (r < 8)
            c = pool[test_rand(rs) % (sizeof pool / sizeof pool[0])];
        else {
            do
                c = (uint32_t)(test_rand(rs) % 0x110000);
            while ((c >= 0xd800 && c <= 0xdfff) || c == 0);
        }
        if (spm && c == 0x2581)
            c = '_';
        len += utf8_encode(c, (uint8_t *)buf + len);
    }
    return len;
}

static void test_random_round_trip(void)
{
    int loaded = 0;
    for (size_t v = 0; v < 4; v++) {
        struct tokenizer *t = load_vocab(k_vocabs[v]);
        if (!t)
            continue;
        loaded++;
        uint64_t rs = 1234 + v;
        char buf[4 * 64 + 1];
        int bad = 0;
        for (int it = 0; it < 300; it++) {
            size_t len = random_utf8(&rs, buf, 64, tokenizer_model(t) == TOK_MODEL_SPM);
            int n, dl;
            int32_t *ids = encode(t, buf, len, false, false, &n);
            char *back = ids ? decode(t, ids, n, &dl) : NULL;
            if (!back || (size_t)dl != len || memcmp(back, buf, len)) {
                if (bad++ < 3) {
                    fprintf(stderr, "  %s: round trip of %zu bytes differs:", k_vocabs[v], len);
                    for (size_t i = 0; i < len; i++)
                        fprintf(stderr, " %02x", (uint8_t)buf[i]);
                    fprintf(stderr, "\n   back:");
                    for (int i = 0; back && i < dl; i++)
                        fprintf(stderr, " %02x", (uint8_t)back[i]);
                    fprintf(stderr, "\n");
                }
            }
            free(back);
            free(ids);
        }
        CHECKF(bad == 0, "%s: %d of 300 random texts", k_vocabs[v], bad);
        tokenizer_free(t);
    }
    if (!loaded)
        TEST_SKIP("no vocabulary under %s/vocab", test_shared_dir());
}

/* Malformed UTF-8 and random bytes: no crash, and what llama.cpp does (U+FFFD per bad byte
 * in byte-level BPE; SPM escapes spaces before splitting characters, so a truncated sequence
 * before a space does not come back as it was, in llama.cpp either). */
static void test_random_bytes(void)
{
    struct tokenizer *t = load_vocab("llama-bpe");
    struct tokenizer *s = load_vocab("llama-spm");
    if (!t || !s) {
        TEST_SKIP("vocabularies not found");
        tokenizer_free(t);
        tokenizer_free(s);
        return;
    }
    uint64_t rs = 99;
    for (int it = 0; it < 500; it++) {
        char buf[80];
        size_t len = (size_t)(test_rand(&rs) % sizeof buf);
        for (size_t i = 0; i < len; i++)
            buf[i] = (char)test_rand(&rs);
        int n;
        int32_t *ids = encode(t, buf, len, true, true, &n);
        CHECK(n >= 0);
        free(ids);
        ids = encode(s, buf, len, true, true, &n);
        CHECK(n >= 1 && ids[0] == 1);
        free(ids);
    }
    /* a lone invalid byte becomes U+FFFD's tokens in byte-level BPE */
    int n1, n2;
    int32_t *a = encode(t, "a\xff" "b", 3, false, false, &n1);
    int32_t *b = encode(t, "a\xef\xbf\xbd" "b", 5, false, false, &n2);
    CHECK(a && b && n1 == n2 && !memcmp(a, b, (size_t)n1 * sizeof *a));
    free(a);
    free(b);
    /* SPM: a malformed lead byte takes the three bytes after it as one character, here a
     * newline and half of a U+2581 (llama-tokenize's ids; the newline is no place to cut) */
    static const int32_t want[] = {263, 243, 13, 101, 229, 153, 132, 29883, 13};
    a = encode(s, "a\xf0\nb c\n", 7, false, false, &n1);
    CHECK(a && n1 == 9 && !memcmp(a, want, sizeof want));
    free(a);
    tokenizer_free(t);
    tokenizer_free(s);
}

/* ---- the fast paths against the reference (tok_encode_params.reference: the plain
 * algorithm, no cutting, no cache) ---- */

/* Do both paths give text the same ids? Prints the first difference. */
static bool same_as_reference(const struct tokenizer *t, const char *text, size_t len,
                              bool parse_special, const char *what)
{
    struct tok_encode_params p = tok_encode_default_params();
    p.parse_special = parse_special;
    int n = tokenizer_encode_ex(t, text, len, &p, NULL, 0);
    p.reference = true;
    int nr = tokenizer_encode_ex(t, text, len, &p, NULL, 0);
    bool same = n >= 0 && n == nr;
    if (same && n > 0) {
        int32_t *a = malloc((size_t)n * sizeof *a), *b = malloc((size_t)n * sizeof *b);
        p.reference = false;
        CHECK_EQ(tokenizer_encode_ex(t, text, len, &p, a, n), n);
        p.reference = true;
        CHECK_EQ(tokenizer_encode_ex(t, text, len, &p, b, n), n);
        int i = 0;
        while (i < n && a[i] == b[i])
            i++;
        same = i == n;
        if (!same)
            fprintf(stderr, "  %s (%zu bytes): id %d is %d, the reference's %d\n", what, len, i,
                    a[i], b[i]);
        free(a);
        free(b);
    } else if (!same) {
        fprintf(stderr, "  %s (%zu bytes): %d ids, the reference's %d\n", what, len, n, nr);
    }
    return same;
}

struct tbuf {
    char *p;
    size_t n, cap;
};

static void tbuf_put(struct tbuf *b, const void *s, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

/* Texts that are hard on cutting and caching: nothing, single bytes, malformed UTF-8 (a
 * truncated character before a space swallows part of its U+2581), runs of spaces, U+2581
 * itself, characters no vocabulary has (byte fallback), newlines, special-token text. */
static const char *const k_awkward[] = {
    "", " ", "  ", "a", "\n", "\xff", "\xe2", "\xe2\x96", "\xe2\x96\x81", "\xc3 x", "\xf0" "ab cd",
    "a\xe2 \x96\x81", "x\xe2\x96\x81\xe2\x96\x81y", "\xe2\x96\x81 \xe2\x96\x81", "       ",
    "                                        word", "word                ", "\t\t  \t\n\n  \n",
    "a  b   c    d     e", "\xf0\x90\x8d\x88\xee\x80\x80\xf4\x8f\xbf\xbf", "\xe4\xb8\xad\xe6\x96\x87 \xe6\xb5\x8b\xe8\xaf\x95",
    "\xf0\x9f\x98\x80\xe2\x80\x8d\xf0\x9f\x91\x8d", "<s> </s><unk>", "<|endoftext|> <|im_start|>",
    "don't\xe2\x80\x99s  \xe2\x80\x94 -- ...", "int main() {\n    return 0;\n}\n", "\r\n\r\n",
    "\xc3\xa9\xcc\x81 e\xcc\x81", "\x80\x80\x80 \xbf", "\xf8\x88\x80\x80\x80 ", "a\xf0\nb c\n",
};
#define N_AWKWARD (sizeof k_awkward / sizeof k_awkward[0])

/* A long text (past the size where the caches start) of awkward pieces, random UTF-8 and
 * random bytes, pieces repeating in different company. */
static void long_awkward_text(uint64_t *rs, struct tbuf *b, size_t min_len)
{
    char tmp[4 * 64 + 1];
    while (b->n < min_len) {
        uint64_t r = test_rand(rs) % 8;
        if (r < 4) {
            const char *a = k_awkward[test_rand(rs) % N_AWKWARD];
            tbuf_put(b, a, strlen(a));
        } else if (r < 7) {
            tbuf_put(b, tmp, random_utf8(rs, tmp, 64, false));
        } else {
            size_t n = (size_t)(test_rand(rs) % 8);
            for (size_t i = 0; i < n; i++)
                tmp[i] = (char)test_rand(rs);
            tbuf_put(b, tmp, n);
        }
        if (test_rand(rs) % 3 == 0)
            tbuf_put(b, " ", 1);
    }
}

static void test_fast_vs_reference(void)
{
    int loaded = 0;
    for (size_t v = 0; v < 4; v++) {
        struct tokenizer *t = load_vocab(k_vocabs[v]);
        if (!t)
            continue;
        loaded++;
        int bad = 0;
        for (size_t i = 0; i < N_AWKWARD; i++)
            for (int ps = 0; ps < 2; ps++)
                bad += !same_as_reference(t, k_awkward[i], strlen(k_awkward[i]), ps, k_vocabs[v]);
        for (int c = 0; c < 256; c++) {
            char one = (char)c;
            bad += !same_as_reference(t, &one, 1, false, k_vocabs[v]);
        }
        uint64_t rs = 77 + v;
        for (int it = 0; it < 4; it++) {   /* the last one long enough for the cache to grow */
            struct tbuf b = {0};
            long_awkward_text(&rs, &b, it < 3 ? 20000 : 200000);
            bad += !same_as_reference(t, b.p, b.n, it & 1, k_vocabs[v]);
            free(b.p);
        }
        /* llama.cpp's test texts, all at once */
        char rel[128];
        snprintf(rel, sizeof rel, "vocab/ggml-vocab-%s.gguf.inp", k_vocabs[v]);
        char *pin = test_shared_path(rel);
        size_t nin = 0;
        char *inp = pin ? test_read_file(pin, &nin) : NULL;
        if (inp)
            bad += !same_as_reference(t, inp, nin, false, k_vocabs[v]);
        free(inp);
        free(pin);
        CHECKF(bad == 0, "%s: %d texts differ from the reference", k_vocabs[v], bad);
        tokenizer_free(t);
    }
    if (!loaded)
        TEST_SKIP("no vocabulary under %s/vocab", test_shared_dir());
}

static int load_mem(struct gguf_writer *w, struct tokenizer **t);

/* A small SentencePiece vocabulary whose pieces glue words together in every way the cutting
 * must respect: U+2581 after a letter and in runs, newlines inside pieces, a piece across a
 * character U+2581 ends with, equal scores (ties go to the leftmost pair), a repeated text,
 * byte fallback. On
 * random text over its alphabet, the fast path must give the reference's ids. */
static void test_spm_cut_synthetic(void)
{
    static const char *const pieces[] = {
        "a", "b", "x", "\xe2\x96\x81", "\xc3\xa9", "\n", "ab", "ba", "bab", "\xe2\x96\x81" "a",
        "a\xe2\x96\x81", "\xe2\x96\x81\xe2\x96\x81", "\xe2\x96\x81\xe2\x96\x81\xe2\x96\x81",
        "x\xe2\x96\x81\xe2\x96\x81", "b\n", "\n\xe2\x96\x81", "\xe2\x96\x81\xc3\xa9",
        "\xc3\xa9" "a", "\xe2\x96\x81" "b", "\xe2\x96\x81" "ab", "a\xe2\x96\x81" "b", "xx",
        "ab",   /* again: the last id of a repeated text counts, with its score */
    };
    static const float pscores[] = {-1, -1, -2, -1, -3, -1, -2, -2, -2.5f, -1.5f, -1.5f, -2,
                                    -2, -4, -2, -3, -3, -3, -1.5f, -1, -1, -2, -0.5f};
    enum { NP = sizeof pieces / sizeof pieces[0], NV = 3 + 256 + NP };
    _Static_assert(sizeof pscores / sizeof pscores[0] == NP, "a score per piece");
    const char *toks[NV];
    char bytes[256][8];
    float scores[NV];
    int32_t types[NV];
    toks[0] = "<unk>", toks[1] = "<s>", toks[2] = "</s>";
    types[0] = 2, types[1] = types[2] = 3;
    scores[0] = scores[1] = scores[2] = 0;
    for (int b = 0; b < 256; b++) {
        snprintf(bytes[b], sizeof bytes[b], "<0x%02X>", b);
        toks[3 + b] = bytes[b];
        types[3 + b] = 6;
        scores[3 + b] = 0;
    }
    for (int i = 0; i < NP; i++) {
        toks[259 + i] = pieces[i];
        types[259 + i] = 1;
        scores[259 + i] = pscores[i];
    }
    struct gguf_writer *w = gguf_writer_new();
    gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, NV);
    gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_F32, scores, NV);
    gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_I32, types, NV);
    struct tokenizer *t;
    CHECK(load_mem(w, &t) == 0 && t);
    gguf_writer_free(w);
    if (!t)
        return;
    static const char *const alphabet[] = {"a", "b", "x", " ", " ", " ", "\n", "\xe2\x96\x81",
                                           "\xc3\xa9", "z", "\xc3", "\xe2\x96"};
    uint64_t rs = 4242;
    int bad = 0;
    for (int it = 0; it < 400; it++) {
        struct tbuf b = {0};
        size_t n = it < 300 ? (size_t)(test_rand(&rs) % 40) : 6000;
        for (size_t i = 0; i < n; i++) {
            const char *c = alphabet[test_rand(&rs) % (sizeof alphabet / sizeof alphabet[0])];
            tbuf_put(&b, c, strlen(c));
        }
        bad += !same_as_reference(t, b.p, b.n, false, "synthetic");
        free(b.p);
    }
    CHECKF(bad == 0, "%d of 400 texts differ from the reference", bad);
    tokenizer_free(t);
}

/* ---- special tokens and end of generation ---- */

static void test_special_tokens(void)
{
    struct tokenizer *q = load_vocab("qwen2");
    struct tokenizer *l = load_vocab("llama-bpe");
    if (!q || !l) {
        TEST_SKIP("vocabularies not found");
        tokenizer_free(q);
        tokenizer_free(l);
        return;
    }
    const char *chat = "<|im_start|>user\nHi<|im_end|>";
    int32_t im_start = tokenizer_find(q, "<|im_start|>", 12);
    int32_t im_end = tokenizer_find(q, "<|im_end|>", 10);
    CHECK(im_start > 0 && im_end > 0);
    int n;
    int32_t *ids = encode(q, chat, strlen(chat), false, true, &n);
    CHECK(ids && n >= 4 && ids[0] == im_start && ids[n - 1] == im_end);
    free(ids);
    ids = encode(q, chat, strlen(chat), false, false, &n);
    for (int i = 0; ids && i < n; i++)
        CHECK(ids[i] != im_start && ids[i] != im_end);
    free(ids);
    /* plain ranges: special text inside them stays text even with parse_special */
    struct tok_range plain = {.off = 17, .len = 2};   /* "Hi" */
    const char *inj = "<|im_start|>user\n<|im_end|><|im_end|>";
    struct tok_encode_params p = tok_encode_default_params();
    p.add_special = false;
    p.parse_special = true;
    plain.len = 10;   /* the first <|im_end|> is message content */
    p.plain = &plain;
    p.n_plain = 1;
    int32_t out[64];
    n = tokenizer_encode_ex(q, inj, strlen(inj), &p, out, 64);
    CHECK(n > 3 && out[0] == im_start && out[n - 1] == im_end);
    int n_end = 0;
    for (int i = 0; i < n; i++)
        n_end += out[i] == im_end;
    CHECK_EQ(n_end, 1);

    /* end of generation, as llama.cpp decides */
    CHECK(tokenizer_is_eog(q, im_end));
    CHECK(tokenizer_is_eog(q, tokenizer_find(q, "<|endoftext|>", 13)));
    CHECK(!tokenizer_is_eog(q, im_start));
    CHECK_EQ(tokenizer_eos(l), 128001);
    CHECK_EQ(tokenizer_bos(l), 128000);
    CHECK(tokenizer_add_bos(l));
    CHECK(tokenizer_is_eog(l, 128001));
    CHECK(tokenizer_is_eog(l, tokenizer_find(l, "<|eot_id|>", 10)));
    CHECK_EQ(tokenizer_eot(l), tokenizer_find(l, "<|eot_id|>", 10));
    CHECK(!tokenizer_is_eog(l, 128000));
    CHECK(!tokenizer_is_eog(l, -1) && !tokenizer_is_eog(l, 1 << 30));
    /* add_special puts the BOS first (llama-bpe) and parse_special maps its text */
    ids = encode(l, "<|begin_of_text|>Hi", 19, true, true, &n);
    CHECK(ids && n == 3 && ids[0] == 128000 && ids[1] == 128000);
    free(ids);
    /* counting without an output buffer, and a short buffer */
    int32_t two[2] = {-7, -7};
    n = tokenizer_encode(l, "Hello world, again", 18, false, false, two, 1);
    CHECK(n > 1 && two[0] >= 0 && two[1] == -7);
    tokenizer_free(q);
    tokenizer_free(l);
}

/* ---- streaming detokenizer ---- */

static void test_streaming(void)
{
    int loaded = 0;
    for (size_t v = 0; v < 4; v++) {
        struct tokenizer *t = load_vocab(k_vocabs[v]);
        if (!t)
            continue;
        loaded++;
        const char *text = "h\xc3\xa9llo \xf0\x9f\x98\x80\xf0\x9f\x91\x8d\xe2\x80\x8d \xe4\xb8\xad\xe6\x96\x87 "
                           "\xe1\x9e\x80\xe1\x9e\xb6 ok";
        int n;
        int32_t *ids = encode(t, text, strlen(text), false, false, &n);
        struct detok *d;
        CHECK(detok_new(&d, t, false) == 0);
        char got[256];
        size_t gl = 0;
        for (int i = 0; i < n; i++) {
            const char *s;
            size_t len;
            CHECK(detok_push(d, ids[i], &s, &len) == 0);
            /* every chunk is whole characters */
            for (size_t k = 0; k < len;) {
                size_t adv;
                uint32_t c = utf8_decode((const uint8_t *)s + k, len - k, &adv);
                CHECK(c != UINT32_MAX);
                k += adv;
            }
            memcpy(got + gl, s, len);
            gl += len;
        }
        const char *s;
        size_t len;
        detok_flush(d, &s, &len);
        CHECK_EQ(len, 0);
        const char *want = text;
        if (tokenizer_model(t) == TOK_MODEL_SPM) {
            CHECK(gl > 0 && got[0] == ' ');   /* the prefix space is part of the stream */
            memmove(got, got + 1, --gl);
        }
        CHECKF(gl == strlen(want) && !memcmp(got, want, gl), "%s: '%.*s'", k_vocabs[v], (int)gl, got);
        /* an incomplete character is held, then flushed */
        detok_reset(d);
        int32_t b = tokenizer_find(t, "<0xE4>", 6);
        if (b < 0) {
            char one[3];
            size_t ol = utf8_encode(bpe_byte_to_cpt(0xe4), (uint8_t *)one);
            b = tokenizer_find(t, one, ol);
        }
        CHECK(b >= 0);
        if (b >= 0) {
            CHECK(detok_push(d, b, &s, &len) == 0 && len == 0);
            detok_flush(d, &s, &len);
            CHECK(len == 1 && (uint8_t)s[0] == 0xe4);
        }
        CHECK(detok_push(d, -1, &s, &len) == -EINVAL);
        detok_free(d);
        free(ids);
        tokenizer_free(t);
    }
    if (!loaded)
        TEST_SKIP("no vocabulary under %s/vocab", test_shared_dir());
}

/* ---- pre-tokenizer splits on their own ---- */

static int load_mem(struct gguf_writer *w, struct tokenizer **t);

static void check_split(enum pretok_kind k, const char *text, const char *const *want)
{
    struct pretok_words w = {0};
    size_t len = strlen(text);
    CHECK(pretok_split(k, (const uint8_t *)text, len, &w) == 0);
    size_t ini = 0, i = 0;
    for (; i < w.n && want[i]; i++) {
        CHECKF(w.end[i] - ini == strlen(want[i]) && !memcmp(text + ini, want[i], strlen(want[i])),
               "word %zu of '%s': '%.*s' != '%s'", i, text, (int)(w.end[i] - ini), text + ini, want[i]);
        ini = w.end[i];
    }
    CHECKF(i == w.n && !want[i], "'%s': %zu words", text, w.n);
    pretok_words_free(&w);
}

static void test_pretok(void)
{
    check_split(PRETOK_LLAMA3, "I'LL see 12345 you!!\n\n  ok",
                (const char *const[]){"I", "'LL", " see", " ", "123", "45", " you", "!!\n\n", " ", " ok", NULL});
    check_split(PRETOK_QWEN2, "ab 123",
                (const char *const[]){"ab", " ", "1", "2", "3", NULL});
    check_split(PRETOK_GPT2, "I'LL  go   \n",
                (const char *const[]){"I", "'", "LL", " ", " go", "   \n", NULL});
    check_split(PRETOK_DEFAULT, "a+b=1234567 (x)",
                (const char *const[]){"a", "+", "b", "=", "123", "456", "7", " ", "(", "x", ")", NULL});
    check_split(PRETOK_STARCODER, "x12 y",
                (const char *const[]){"x", "1", "2", " y", NULL});
    check_split(PRETOK_GPT2, "", (const char *const[]){NULL});
    enum pretok_kind k;
    int im;
    CHECK(pretok_from_name("llama-bpe", &k, &im) == 0 && k == PRETOK_LLAMA3 && im);
    CHECK(pretok_from_name("qwen2", &k, &im) == 0 && k == PRETOK_QWEN2 && !im);
    CHECK(pretok_from_name(NULL, &k, &im) == 0 && k == PRETOK_DEFAULT);
    CHECK(pretok_from_name("no-such-thing", &k, &im) == -EINVAL);
}

/* ---- every pre-tokenizer against llama.cpp ----
 * tests/data/tok/PRE.ids: llama-tokenize's ids for stress.txt with the gpt-2 vocabulary
 * relabelled to tokenizer.ggml.pre = PRE (tests/data/tok/make.sh); relabel it the same way here. */

static void *read_data(const char *rel, size_t *n)
{
    char path[256];
    snprintf(path, sizeof path, "tests/data/tok/%s", rel);
    void *d = test_read_file(path, n);
    if (!d) {
        snprintf(path, sizeof path, "../tests/data/tok/%s", rel);
        d = test_read_file(path, n);
    }
    return d;
}

static void test_pretok_vs_llama(void)
{
    char *pv = test_shared_path("vocab/ggml-vocab-gpt-2.gguf");
    size_t tl;
    char *text = read_data("stress.txt", &tl);
    if (!pv || !text) {
        TEST_SKIP("gpt-2 vocabulary or tests/data/tok/stress.txt not found");
        free(pv);
        free(text);
        return;
    }
    struct gguf *g = open_gguf(pv);
    CHECK(g != NULL);
    static const char *const pres[] = {"default", "gpt-2", "llama3", "qwen2", "qwen35", "starcoder", "falcon"};
    for (size_t k = 0; g && k < sizeof pres / sizeof pres[0]; k++) {
        struct gguf_writer *w = gguf_writer_new();
        for (int64_t i = 0; i < gguf_n_kv(g); i++)
            if (strcmp(gguf_kv_key(g, i), "tokenizer.ggml.pre"))
                gguf_writer_copy_kv(w, g, i);
        gguf_writer_set_str(w, "tokenizer.ggml.pre", pres[k]);
        struct tokenizer *t;
        CHECK(load_mem(w, &t) == 0);
        gguf_writer_free(w);
        char name[64];
        snprintf(name, sizeof name, "%s.ids", pres[k]);
        size_t il;
        char *ids_txt = read_data(name, &il);
        CHECK(ids_txt != NULL);
        if (t && ids_txt) {
            int n;
            int32_t *got = encode(t, text, tl, false, false, &n);
            int bad = 0, nw = 0;
            for (char *q = ids_txt + 1; *q && *q != ']';) {
                char *e;
                long v = strtol(q, &e, 10);
                if (e == q)
                    break;
                if (nw >= n || got[nw] != v)
                    bad++;
                nw++;
                q = e;
                while (*q == ',' || *q == ' ')
                    q++;
            }
            CHECKF(bad == 0 && nw == n, "%s: %d ids differ, %d vs %d ids", pres[k], bad, n, nw);
            free(got);
        }
        free(ids_txt);
        tokenizer_free(t);
    }
    gguf_free(g);
    free(pv);
    free(text);
}

/* ---- hostile metadata ---- */

static int load_mem(struct gguf_writer *w, struct tokenizer **t)
{
    uint8_t *hdr;
    uint64_t hl;
    *t = NULL;
    if (gguf_writer_header(w, &hdr, &hl))
        return -ENOMEM;
    struct file *f;
    file_open_mem(&f, hdr, hl, true, "mem");
    free(hdr);
    struct gguf *g = NULL;
    int rc = gguf_open(&g, f);
    file_close(f);
    if (rc)
        return rc;
    rc = tokenizer_load(t, g);
    gguf_free(g);
    return rc;
}

static void test_hostile_metadata(void)
{
    const char *toks[] = {"<unk>", "<s>", "</s>", "a", "b", "ab", ""};
    float scores[] = {0, 0, 0, -1, -2, -0.5f, 0};
    int32_t types[] = {2, 3, 3, 1, 1, 1, 1};
    struct tokenizer *t;

    struct gguf_writer *w = gguf_writer_new();   /* no tokenizer.ggml.model */
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 7);
    CHECK(load_mem(w, &t) == -EINVAL && !t);
    gguf_writer_free(w);

    w = gguf_writer_new();   /* unknown model */
    gguf_writer_set_str(w, "tokenizer.ggml.model", "bert-ish");
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 7);
    CHECK(load_mem(w, &t) == -EINVAL);
    gguf_writer_free(w);

    w = gguf_writer_new();   /* scores shorter than the vocabulary */
    gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 7);
    gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_F32, scores, 3);
    CHECK(load_mem(w, &t) == -EINVAL);
    gguf_writer_free(w);

    w = gguf_writer_new();   /* token types of the wrong type */
    gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 7);
    gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_F32, scores, 7);
    CHECK(load_mem(w, &t) == -EINVAL);
    gguf_writer_free(w);

    w = gguf_writer_new();   /* gpt2 without merges */
    gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
    gguf_writer_set_str(w, "tokenizer.ggml.pre", "gpt-2");
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 7);
    CHECK(load_mem(w, &t) == -EINVAL);
    gguf_writer_free(w);
    w = gguf_writer_new();   /* an unknown pre-tokenizer */
    gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 7);
    gguf_writer_set_str(w, "tokenizer.ggml.pre", "martian");
    const char *merges[] = {"a b", "nospace", " ", "x y"};
    gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, 4);
    CHECK(load_mem(w, &t) == -EINVAL);
    gguf_writer_free(w);

    /* a small valid SPM vocabulary: out-of-range special ids are ignored, the empty token is
     * renamed, and text outside the vocabulary (no byte tokens) maps to <unk> */
    w = gguf_writer_new();
    gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 7);
    gguf_writer_set_arr(w, "tokenizer.ggml.scores", GGUF_F32, scores, 7);
    gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_I32, types, 7);
    gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 4000000000u);
    gguf_writer_set_bool(w, "tokenizer.ggml.add_space_prefix", false);
    CHECK(load_mem(w, &t) == 0 && t);
    if (t) {
        CHECK_EQ(tokenizer_eos(t), 2);
        size_t len;
        CHECK(!strcmp(tokenizer_token_text(t, 6, &len), "[EMPTY_6]"));
        int32_t ids[8];
        int n = tokenizer_encode(t, "abz", 3, false, false, ids, 8);
        CHECK(n == 2 && ids[0] == 5 && ids[1] == 0);
        CHECK(tokenizer_piece(t, 99, true, NULL, 0) == -EINVAL);
        CHECK(tokenizer_encode(t, NULL, 1, false, false, ids, 8) == -EINVAL);
    }
    tokenizer_free(t);
    gguf_writer_free(w);

    /* a small byte-level BPE with a merge whose result is not a token */
    const char *btoks[] = {"a", "b", "c", "ab", "<|endoftext|>"};
    int32_t btypes[] = {1, 1, 1, 1, 3};
    const char *bmerges[] = {"a b", "ab c", "b c"};
    w = gguf_writer_new();
    gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
    gguf_writer_set_str(w, "tokenizer.ggml.pre", "gpt-2");
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", btoks, 5);
    gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_I32, btypes, 5);
    gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", bmerges, 3);
    CHECK(load_mem(w, &t) == 0 && t);
    if (t) {
        int32_t ids[8];
        /* "abc": a+b -> ab (rank 0), ab+c -> "abc" (no token): its bytes' tokens a, b, c */
        int n = tokenizer_encode(t, "abc", 3, false, false, ids, 8);
        CHECK(n == 3 && ids[0] == 0 && ids[1] == 1 && ids[2] == 2);
        n = tokenizer_encode(t, "ab", 2, false, false, ids, 8);
        CHECK(n == 1 && ids[0] == 3);
        CHECK(tokenizer_is_eog(t, 4));   /* by its text */
        CHECK_EQ(tokenizer_bos(t), -1);  /* llama.cpp's default 11 is out of range */
    }
    tokenizer_free(t);
    gguf_writer_free(w);
}

/* ---- hypura tokenize (the CLI over the public API) ---- */

static void test_cli_tokenize(void)
{
    char *pv = test_shared_path("vocab/ggml-vocab-qwen2.gguf");
    char *pm = test_shared_path("fixtures/real/stories260K-F32.gguf");
    if (!pv || !pm) {
        TEST_SKIP("vocabulary or fixture not found");
        free(pv);
        free(pm);
        return;
    }
    char tmp[] = "/tmp/hypura-tok-XXXXXX";
    int fd = mkstemp(tmp);
    CHECK(fd >= 0);
    const char text[] = "Hello\n\n  world 123 <|im_start|>\xf0\x9f\x99\x82";
    CHECK(write(fd, text, sizeof text - 1) == (ssize_t)(sizeof text - 1));
    close(fd);
    struct tokenizer *t = load_path(pv);
    struct {
        const char *args;
        const char *path;
        bool add_special, special;
    } runs[] = {{"--ids-only --no-bos --file", tmp, false, false},
                {"--ids-only --special --file", tmp, true, true}};
    for (size_t r = 0; t && r < 2; r++) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "%s tokenize %s %s %s", test_hypura_bin(), pv, runs[r].args, runs[r].path);
        FILE *p = popen(cmd, "r");
        char out[4096] = {0};
        size_t n = p ? fread(out, 1, sizeof out - 1, p) : 0;
        int st = p ? pclose(p) : -1;
        CHECKF(st == 0, "%s: status %d", cmd, st);
        int32_t want[64];
        int k = tokenizer_encode(t, text, sizeof text - 1, runs[r].add_special, runs[r].special, want, 64);
        char line[2048];
        size_t l = 0;
        for (int i = 0; i < k; i++)
            l += (size_t)snprintf(line + l, sizeof line - l, i ? " %d" : "%d", want[i]);
        line[l++] = '\n';
        line[l] = 0;
        CHECKF(n == l && !strcmp(out, line), "%s:\n%s want\n%s", cmd, out, line);
    }
    /* the stories260K prompt with BOS, text on the command line, pieces printed */
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s tokenize %s 'Once upon a time'", test_hypura_bin(), pm);
    FILE *p = popen(cmd, "r");
    char out[4096] = {0};
    size_t n = p ? fread(out, 1, sizeof out - 1, p) : 0;
    CHECK(p && pclose(p) == 0);
    CHECKF(n > 0 && strstr(out, "     1 -> '<s>'\n   403 -> ' Once'\n"), "%s", out);
    /* a missing file and a bad model fail with status 1 */
    snprintf(cmd, sizeof cmd, "%s tokenize %s --file /nonexistent/x 2>/dev/null", test_hypura_bin(), pv);
    CHECK(system(cmd) != 0);
    snprintf(cmd, sizeof cmd, "%s tokenize %s hello 2>/dev/null", test_hypura_bin(), tmp);
    CHECK(system(cmd) != 0);
    unlink(tmp);
    tokenizer_free(t);
    free(pv);
    free(pm);
}

int main(void)
{
    RUN(test_vocab_llama_spm);
    RUN(test_vocab_llama_bpe);
    RUN(test_vocab_qwen2);
    RUN(test_vocab_gpt2);
    RUN(test_stories_prompts);
    RUN(test_random_round_trip);
    RUN(test_random_bytes);
    RUN(test_fast_vs_reference);
    RUN(test_spm_cut_synthetic);
    RUN(test_special_tokens);
    RUN(test_streaming);
    RUN(test_pretok);
    RUN(test_pretok_vs_llama);
    RUN(test_hostile_metadata);
    RUN(test_cli_tokenize);
    return test_finish();
}

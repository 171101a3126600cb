/* Chat templates: for every case of tests/data/chat/cases.json (templates from llama.cpp's
 * tests and model templates, each with llama.cpp's rendering of a fixed system + multi-turn
 * conversation), the family recognised and the rendering; selection by name, the ChatML
 * fallback, the error for unknown templates, and special tokens kept out of message content. */
#include "gguf/gguf.h"
#include "hypura.h"
#include "io/file.h"
#include "test.h"
#include "tokenizer/chat.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <string.h>

static cJSON *load_cases(void)
{
    const char *paths[] = {"tests/data/chat/cases.json", "../tests/data/chat/cases.json"};
    for (size_t i = 0; i < 2; i++) {
        size_t n;
        char *s = test_read_file(paths[i], &n);
        if (s) {
            cJSON *j = cJSON_ParseWithLength(s, n);
            free(s);
            return j;
        }
    }
    return NULL;
}

static void test_cases(void)
{
    cJSON *j = load_cases();
    CHECK(j != NULL);
    if (!j)
        return;
    cJSON *conv = cJSON_GetObjectItem(j, "conversation");
    int nm = cJSON_GetArraySize(conv);
    struct chat_msg msgs[16];
    struct hy_chat_message hmsgs[16];
    CHECK(nm > 4 && nm <= 16);
    for (int i = 0; i < nm && i < 16; i++) {
        cJSON *m = cJSON_GetArrayItem(conv, i);
        msgs[i].role = cJSON_GetStringValue(cJSON_GetObjectItem(m, "role"));
        msgs[i].content = cJSON_GetStringValue(cJSON_GetObjectItem(m, "content"));
        hmsgs[i] = (struct hy_chat_message){.role = msgs[i].role, .content = msgs[i].content};
    }
    bool gen = cJSON_IsTrue(cJSON_GetObjectItem(j, "add_generation_prompt"));
    cJSON *cases = cJSON_GetObjectItem(j, "cases");
    int n = 0, bad = 0;
    bool seen[64] = {0};
    cJSON *c;
    cJSON_ArrayForEach(c, cases) {
        const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(c, "name"));
        const char *fam = cJSON_GetStringValue(cJSON_GetObjectItem(c, "family"));
        const char *tmpl = cJSON_GetStringValue(cJSON_GetObjectItem(c, "template"));
        const char *want = cJSON_GetStringValue(cJSON_GetObjectItem(c, "expected"));
        n++;
        int f = -1;
        int rc = chat_select(tmpl, &f);
        if (rc || !chat_family_name(f) || strcmp(chat_family_name(f), fam)) {
            bad++;
            fprintf(stderr, "  %s: family %s, want %s (%s)\n", name, rc ? "none" : chat_family_name(f),
                    fam, rc ? hy_last_error() : "");
            continue;
        }
        if (f < 64)
            seen[f] = true;
        struct chat_rendered r;
        CHECK(chat_render(f, msgs, (size_t)nm, gen, &r) == 0);
        if (!r.text || strcmp(r.text, want)) {
            bad++;
            fprintf(stderr, "  %s (%s) renders\n---\n%s\n---\nwant\n---\n%s\n---\n", name, fam,
                    r.text ? r.text : "(null)", want);
        }
        /* content ranges point at message text */
        for (int k = 0; r.text && k < r.n_content; k++)
            CHECK(r.content[k].off + r.content[k].len <= r.len);
        chat_rendered_free(&r);
        /* the public entry point gives the same, and reports the length on a short buffer */
        char buf[4096];
        int len = hy_chat_apply_template(tmpl, hmsgs, (size_t)nm, gen, buf, sizeof buf);
        CHECK(len == (int)strlen(want) && !memcmp(buf, want, (size_t)len));
        CHECK_EQ(hy_chat_apply_template(tmpl, hmsgs, (size_t)nm, gen, buf, 3), len);
    }
    CHECKF(bad == 0, "%d of %d cases", bad, n);
    printf("  %d cases\n", n);
    /* the families the task names each have a case */
    const char *required[] = {"chatml", "llama3", "llama2", "llama2-sys", "mistral-v1", "mistral-v3",
                              "mistral-v7", "phi3", "gemma", "zephyr", "deepseek", "deepseek2",
                              "deepseek3"};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        int f = chat_family_find(required[i]);
        CHECKF(f >= 0 && seen[f], "no case for %s", required[i]);
    }
    cJSON_Delete(j);
}

static void test_select(void)
{
    int f = -1;
    CHECK(chat_select("llama3", &f) == 0 && !strcmp(chat_family_name(f), "llama3"));
    CHECK(chat_select(NULL, &f) == 0 && !strcmp(chat_family_name(f), "chatml"));
    CHECK(chat_select("{{ messages }} nothing known here", &f) == -EINVAL);
    const char *err = hy_last_error();
    CHECKF(strstr(err, "chatml") && strstr(err, "llama3") && strstr(err, "gemma"), "%s", err);
    /* llama.cpp's gpt-oss family is recognised, and refused by name */
    CHECK(chat_select("<|start|>{{ x }}<|channel|>", &f) == -EINVAL);
    CHECK(strstr(hy_last_error(), "gpt-oss") != NULL);
    CHECK(chat_detect("<|start|>{{ x }}<|channel|>", &f) == -ENOTSUP);
    CHECK(chat_detect("plain", &f) == -ENOENT);
    CHECK_EQ(chat_family_find("no-such"), -1);
    CHECK_EQ(chat_family_find("gpt-oss"), -1);
    const char *names[128];
    int n = hy_chat_builtin_templates(names, 128);
    CHECK(n == chat_family_count() && n >= 30);
    for (int i = 0; i < n && i < 128; i++)
        CHECK_EQ(chat_family_find(names[i]), i);
    CHECK_EQ(hy_chat_builtin_templates(NULL, 0), n);

    /* no generation prompt, and an empty conversation */
    struct chat_msg m[] = {{"user", "Hi"}};
    struct chat_rendered r;
    CHECK(chat_render(chat_family_find("chatml"), m, 1, false, &r) == 0);
    CHECK(!strcmp(r.text, "<|im_start|>user\nHi<|im_end|>\n"));
    CHECK(r.n_content == 1 && r.content[0].off == 17 && r.content[0].len == 2);
    chat_rendered_free(&r);
    CHECK(chat_render(chat_family_find("llama3"), m, 0, true, &r) == 0);
    CHECK(!strcmp(r.text, "<|start_header_id|>assistant<|end_header_id|>\n\n"));
    chat_rendered_free(&r);
    /* gemma has no system turn: system texts, trimmed and joined, open the next user turn */
    struct chat_msg g2[] = {{"system", " A "}, {"system", "B"}, {"user", "Hi"}};
    CHECK(chat_render(chat_family_find("gemma"), g2, 3, false, &r) == 0);
    CHECK(!strcmp(r.text, "<start_of_turn>user\nAB\n\nHi<end_of_turn>\n"));
    chat_rendered_free(&r);
    struct chat_msg bad[] = {{"user", NULL}};
    CHECK(chat_render(0, bad, 1, true, &r) == -EINVAL);
    CHECK(chat_render(-1, m, 1, true, &r) == -EINVAL);
    chat_rendered_free(NULL);
}

/* Template text is parsed for special tokens, message content is not. */
static void test_tokenize_content(void)
{
    char *p = test_shared_path("vocab/ggml-vocab-qwen2.gguf");
    if (!p) {
        TEST_SKIP("vocab/ggml-vocab-qwen2.gguf not found");
        return;
    }
    struct file *file;
    struct gguf *g = NULL;
    struct tokenizer *t = NULL;
    CHECK(file_open(&file, p) == 0 && gguf_open(&g, file) == 0 && tokenizer_load(&t, g) == 0);
    gguf_free(g);
    file_close(file);
    free(p);
    if (!t)
        return;
    /* the model's own template is recognised as ChatML */
    int f = -1;
    CHECK(chat_select(tokenizer_chat_template(t), &f) == 0 && !strcmp(chat_family_name(f), "chatml"));
    int32_t im_start = tokenizer_find(t, "<|im_start|>", 12), im_end = tokenizer_find(t, "<|im_end|>", 10);
    struct chat_msg m[] = {{"system", "Be brief."}, {"user", "say <|im_end|> twice <|im_start|>"}};
    int32_t ids[256];
    int n = chat_tokenize(t, f, m, 2, true, false, ids, 256);
    CHECK(n > 10 && n < 256);
    int n_start = 0, n_end = 0;
    for (int i = 0; i < n; i++) {
        n_start += ids[i] == im_start;
        n_end += ids[i] == im_end;
    }
    CHECK_EQ(n_start, 3);   /* system, user, assistant: none from the content */
    CHECK_EQ(n_end, 2);
    /* the same text tokenized with special parsing everywhere sees the injected ones */
    struct chat_rendered r;
    CHECK(chat_render(f, m, 2, true, &r) == 0);
    int n2 = tokenizer_encode(t, r.text, r.len, false, true, ids, 256);
    n_end = 0;
    for (int i = 0; i < n2; i++)
        n_end += ids[i] == im_end;
    CHECK_EQ(n_end, 3);
    chat_rendered_free(&r);
    tokenizer_free(t);
}

int main(void)
{
    RUN(test_cases);
    RUN(test_select);
    RUN(test_tokenize_content);
    return test_finish();
}

/* Chat rendering, byte for byte: every built-in family renders each conversation below, with
 * and without the generation prompt, to exactly the text and content ranges recorded in
 * tests/data/chat/golden.json.
 *
 * test_chat.c checks each family against llama.cpp on one conversation; this one pins down
 * everything else the renderer does (empty and whitespace-only content, odd roles, system
 * messages in odd places, a conversation ending in an assistant turn, none at all), so that
 * the renderer can be restructured and proven unchanged. The recorded outputs are what the
 * renderer produced when this test was written, not an independent reference.
 *
 * When a family's rendering changes on purpose, record it again:
 *   build/tests/test_chat_golden --write tests/data/chat/golden.json
 * and review the diff. */
#include "hypura.h"
#include "test.h"
#include "tokenizer/chat.h"

#include <cjson/cJSON.h>
#include <string.h>

#define MAX_MSGS 8

struct conv {
    const char *name;
    size_t n;
    struct chat_msg m[MAX_MSGS];
};

static const struct conv k_convs[] = {
    {"empty", 0, {{0}}},
    {"user", 1, {{"user", "Hello"}}},
    {"system-user", 2, {{"system", "You are terse."}, {"user", "Hi"}}},
    {"multi-turn", 6,
     {{"system", "You are a helpful assistant"}, {"user", "Hello"}, {"assistant", "Hi there"},
      {"user", "Who are you"}, {"assistant", "   I am an assistant   "}, {"user", "Another question"}}},
    {"no-system", 3, {{"user", "one"}, {"assistant", "two"}, {"user", "three"}}},
    {"ends-assistant", 3, {{"system", "S"}, {"user", "U"}, {"assistant", "A"}}},
    {"empty-content", 4, {{"system", ""}, {"user", ""}, {"assistant", ""}, {"user", "x"}}},
    {"whitespace", 4, {{"system", "  \n "}, {"user", " \t "}, {"assistant", "\n"}, {"user", "  y  "}}},
    {"special", 3,
     {{"system", "say \"<|im_end|>\" and \\n [INST] <<SYS>> </s>"},
      {"user", "tab\there\r\nline2 %s %d {{ x }} <start_of_turn>"},
      {"assistant", "\xe4\xbd\xa0\xe5\xa5\xbd \xf0\x9f\x98\x80 [/INST] <|eot_id|>"}}},
    {"two-systems", 4, {{"system", " A "}, {"system", "B"}, {"user", "Hi"}, {"assistant", "Yo"}}},
    {"system-later", 5,
     {{"user", "first"}, {"assistant", "ok"}, {"system", "late rule"}, {"user", "second"},
      {"system", "trailing rule"}}},
    {"assistant-first", 3, {{"assistant", "I start."}, {"user", "Fine"}, {"assistant", "Good"}}},
    {"odd-roles", 6,
     {{"developer", "dev note"}, {"user", "call it"}, {"assistant_tool_call", "{\"f\":1}"},
      {"tool", "42"}, {"", "nameless"}, {"User", "caps"}}},
};
#define N_CONVS (sizeof k_convs / sizeof k_convs[0])

static cJSON *render_json(int f, const struct conv *c, bool gen)
{
    struct chat_rendered r;
    if (chat_render(f, c->m, c->n, gen, &r))
        return NULL;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "family", chat_family_name(f));
    cJSON_AddStringToObject(o, "conv", c->name);
    cJSON_AddBoolToObject(o, "gen", gen);
    cJSON_AddStringToObject(o, "text", r.text);
    cJSON *ranges = cJSON_AddArrayToObject(o, "content");
    for (int k = 0; k < r.n_content; k++) {
        cJSON *pair = cJSON_CreateArray();
        cJSON_AddItemToArray(pair, cJSON_CreateNumber((double)r.content[k].off));
        cJSON_AddItemToArray(pair, cJSON_CreateNumber((double)r.content[k].len));
        cJSON_AddItemToArray(ranges, pair);
    }
    chat_rendered_free(&r);
    return o;
}

/* Every (family, conversation, generation prompt) in a fixed order: family, then
 * conversation, then gen false before true. */
static cJSON *render_all(void)
{
    cJSON *all = cJSON_CreateArray();
    for (int f = 0; f < chat_family_count(); f++)
        for (size_t c = 0; c < N_CONVS; c++)
            for (int gen = 0; gen < 2; gen++) {
                cJSON *o = render_json(f, &k_convs[c], gen);
                if (!o) {
                    cJSON_Delete(all);
                    return NULL;
                }
                cJSON_AddItemToArray(all, o);
            }
    return all;
}

/* One rendering a line, so that a change shows as a diff of the renderings it touches. */
static int write_golden(const char *path)
{
    cJSON *all = render_all();
    FILE *fp = all ? fopen(path, "w") : NULL;
    bool ok = fp != NULL;
    int n = all ? cJSON_GetArraySize(all) : 0;
    ok = ok && fputs("[\n", fp) >= 0;
    for (int i = 0; ok && i < n; i++) {
        char *s = cJSON_PrintUnformatted(cJSON_GetArrayItem(all, i));
        ok = s && fprintf(fp, "%s%s\n", s, i + 1 < n ? "," : "") > 0;
        free(s);
    }
    ok = ok && fputs("]\n", fp) >= 0;
    if (fp && fclose(fp))
        ok = false;
    cJSON_Delete(all);
    fprintf(stderr, "%s: %s\n", path, ok ? "written" : "could not write");
    return ok ? 0 : 1;
}

static cJSON *load_golden(void)
{
    const char *paths[] = {"tests/data/chat/golden.json", "../tests/data/chat/golden.json"};
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

static const char *str(const cJSON *o, const char *key)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(o, key));
    return s ? s : "(none)";
}

/* One rendering against its recorded twin; prints the first difference. */
static bool same(const cJSON *got, const cJSON *want)
{
    const char *label[] = {"family", "conv", "text"};
    for (size_t i = 0; i < 3; i++)
        if (strcmp(str(got, label[i]), str(want, label[i]))) {
            fprintf(stderr, "  %s/%s gen=%d: %s differs\n---\n%s\n---\nwant\n---\n%s\n---\n",
                    str(want, "family"), str(want, "conv"), cJSON_IsTrue(cJSON_GetObjectItem(want, "gen")),
                    label[i], str(got, label[i]), str(want, label[i]));
            return false;
        }
    if (!cJSON_Compare(cJSON_GetObjectItem(got, "gen"), cJSON_GetObjectItem(want, "gen"), true) ||
        !cJSON_Compare(cJSON_GetObjectItem(got, "content"), cJSON_GetObjectItem(want, "content"), true)) {
        fprintf(stderr, "  %s/%s: gen or content ranges differ\n", str(want, "family"), str(want, "conv"));
        return false;
    }
    return true;
}

static void test_golden(void)
{
    cJSON *want = load_golden();
    CHECK(want != NULL);
    cJSON *got = render_all();
    CHECK(got != NULL);
    if (!want || !got) {
        cJSON_Delete(want);
        cJSON_Delete(got);
        return;
    }
    int n = cJSON_GetArraySize(got);
    CHECK_EQ(n, (int)(chat_family_count() * N_CONVS * 2));
    CHECK_EQ(cJSON_GetArraySize(want), n);
    int bad = 0;
    for (int i = 0; i < n; i++) {
        cJSON *w = cJSON_GetArrayItem(want, i);
        if (!w || !same(cJSON_GetArrayItem(got, i), w))
            bad++;
    }
    CHECKF(bad == 0, "%d of %d renderings differ", bad, n);
    printf("  %d renderings (%d families x %zu conversations x 2)\n", n, chat_family_count(), N_CONVS);
    cJSON_Delete(want);
    cJSON_Delete(got);
}

/* The public entry point, given a family name, writes the same text. */
static void test_public(void)
{
    const struct conv *c = &k_convs[3];
    struct hy_chat_message m[MAX_MSGS];
    for (size_t i = 0; i < c->n; i++)
        m[i] = (struct hy_chat_message){.role = c->m[i].role, .content = c->m[i].content};
    for (int f = 0; f < chat_family_count(); f++) {
        struct chat_rendered r;
        CHECK(chat_render(f, c->m, c->n, true, &r) == 0);
        char buf[4096];
        int len = hy_chat_apply_template(chat_family_name(f), m, c->n, true, buf, sizeof buf);
        CHECKF(len == (int)r.len && !memcmp(buf, r.text, r.len), "%s", chat_family_name(f));
        chat_rendered_free(&r);
    }
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--write"))
        return write_golden(argv[2]);
    RUN(test_golden);
    RUN(test_public);
    return test_finish();
}

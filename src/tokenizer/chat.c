/* Chat template families: detection and rendering. See chat.h.
 *
 * Each family's layout follows what llama.cpp's llm_chat_apply_template produces for it (the
 * test data in tests/data/chat/ holds llama.cpp's expected strings); detection checks the same
 * marker strings in the same order. Families llama.cpp detects but that are not rendered here
 * are still detected, so that such a template is reported as what it is instead of landing in
 * a later family by accident. */
#include "tokenizer/chat.h"
#include "hypura.h"
#include "util/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum family {
    F_CHATML, F_LLAMA2, F_LLAMA2_SYS, F_LLAMA2_SYS_BOS, F_LLAMA2_SYS_STRIP, F_MISTRAL_V1,
    F_MISTRAL_V3, F_MISTRAL_V3_TEKKEN, F_MISTRAL_V7, F_MISTRAL_V7_TEKKEN, F_PHI3, F_PHI4,
    F_FALCON3, F_ZEPHYR, F_MONARCH, F_GEMMA, F_ORION, F_OPENCHAT, F_VICUNA, F_VICUNA_ORCA,
    F_DEEPSEEK, F_DEEPSEEK2, F_DEEPSEEK3, F_COMMAND_R, F_LLAMA3, F_CHATGLM3, F_CHATGLM4,
    F_GLMEDGE, F_MINICPM, F_EXAONE3, F_EXAONE4, F_GRANITE, F_GIGACHAT, F_MEGREZ, F_YANDEX,
    F_BAILING, F_BAILING_THINK, F_BAILING2, F_LLAMA4, F_SEED_OSS,
    F_N_RENDERED,
    /* recognised (llama.cpp knows them) but not rendered here */
    F_SMOLVLM = F_N_RENDERED, F_EXAONE_MOE, F_RWKV_WORLD, F_GRANITE_4_0, F_GRANITE_4_1, F_DOTS1,
    F_HUNYUAN_MOE, F_GPT_OSS, F_HUNYUAN_VL, F_HUNYUAN_DENSE, F_KIMI_K2, F_GROK_2, F_PANGU_EMBED,
    F_SOLAR_OPEN, F_DEEPSEEK_OCR,
    F_N_ALL
};

static const char *const k_names[F_N_ALL] = {
    [F_CHATML] = "chatml", [F_LLAMA2] = "llama2", [F_LLAMA2_SYS] = "llama2-sys",
    [F_LLAMA2_SYS_BOS] = "llama2-sys-bos", [F_LLAMA2_SYS_STRIP] = "llama2-sys-strip",
    [F_MISTRAL_V1] = "mistral-v1", [F_MISTRAL_V3] = "mistral-v3",
    [F_MISTRAL_V3_TEKKEN] = "mistral-v3-tekken", [F_MISTRAL_V7] = "mistral-v7",
    [F_MISTRAL_V7_TEKKEN] = "mistral-v7-tekken", [F_PHI3] = "phi3", [F_PHI4] = "phi4",
    [F_FALCON3] = "falcon3", [F_ZEPHYR] = "zephyr", [F_MONARCH] = "monarch", [F_GEMMA] = "gemma",
    [F_ORION] = "orion", [F_OPENCHAT] = "openchat", [F_VICUNA] = "vicuna",
    [F_VICUNA_ORCA] = "vicuna-orca", [F_DEEPSEEK] = "deepseek", [F_DEEPSEEK2] = "deepseek2",
    [F_DEEPSEEK3] = "deepseek3", [F_COMMAND_R] = "command-r", [F_LLAMA3] = "llama3",
    [F_CHATGLM3] = "chatglm3", [F_CHATGLM4] = "chatglm4", [F_GLMEDGE] = "glmedge",
    [F_MINICPM] = "minicpm", [F_EXAONE3] = "exaone3", [F_EXAONE4] = "exaone4",
    [F_GRANITE] = "granite", [F_GIGACHAT] = "gigachat", [F_MEGREZ] = "megrez",
    [F_YANDEX] = "yandex", [F_BAILING] = "bailing", [F_BAILING_THINK] = "bailing-think",
    [F_BAILING2] = "bailing2", [F_LLAMA4] = "llama4", [F_SEED_OSS] = "seed_oss",
    [F_SMOLVLM] = "smolvlm", [F_EXAONE_MOE] = "exaone-moe", [F_RWKV_WORLD] = "rwkv-world",
    [F_GRANITE_4_0] = "granite-4.0", [F_GRANITE_4_1] = "granite-4.1", [F_DOTS1] = "dots1",
    [F_HUNYUAN_MOE] = "hunyuan-moe", [F_GPT_OSS] = "gpt-oss", [F_HUNYUAN_VL] = "hunyuan-vl",
    [F_HUNYUAN_DENSE] = "hunyuan-dense", [F_KIMI_K2] = "kimi-k2", [F_GROK_2] = "grok-2",
    [F_PANGU_EMBED] = "pangu-embedded", [F_SOLAR_OPEN] = "solar-open",
    [F_DEEPSEEK_OCR] = "deepseek-ocr",
};

int chat_family_count(void)
{
    return F_N_RENDERED;
}

const char *chat_family_name(int family)
{
    return family >= 0 && family < F_N_RENDERED ? k_names[family] : NULL;
}

static int find_any(const char *name)
{
    for (int i = 0; i < F_N_ALL; i++)
        if (!strcmp(name, k_names[i]))
            return i;
    return -1;
}

int chat_family_find(const char *name)
{
    int f = name ? find_any(name) : -1;
    return f < F_N_RENDERED ? f : -1;
}

/* ---- detection: llama.cpp's marker strings, in its order ---- */

static bool has(const char *tmpl, const char *s)
{
    return strstr(tmpl, s) != NULL;
}

static int detect_any(const char *t)
{
    if (has(t, "<|im_start|>"))
        return has(t, "<|im_sep|>") ? F_PHI4 : has(t, "<end_of_utterance>") ? F_SMOLVLM : F_CHATML;
    if (!strncmp(t, "mistral", 7) || has(t, "[INST]")) {
        if (has(t, "[SYSTEM_PROMPT]"))
            return F_MISTRAL_V7;
        if (has(t, "' [INST] ' + system_message") || has(t, "[AVAILABLE_TOOLS]")) {
            if (has(t, " [INST]"))
                return F_MISTRAL_V1;
            if (has(t, "\"[INST]\""))
                return F_MISTRAL_V3_TEKKEN;
            return F_MISTRAL_V3;
        }
        if (has(t, "content.strip()"))
            return F_LLAMA2_SYS_STRIP;
        if (has(t, "bos_token + '[INST]"))
            return F_LLAMA2_SYS_BOS;
        if (has(t, "<<SYS>>"))
            return F_LLAMA2_SYS;
        return F_LLAMA2;
    }
    if (has(t, "<|assistant|>") && has(t, "<|end|>"))
        return F_PHI3;
    if (has(t, "[gMASK]<sop>"))
        return F_CHATGLM4;
    if (has(t, "<|assistant|>") && has(t, "<|user|>")) {
        if (has(t, "<|tool_declare|>"))
            return F_EXAONE_MOE;
        return has(t, "</s>") ? F_FALCON3 : F_GLMEDGE;
    }
    if (has(t, "<|{{ item['role'] }}|>") && has(t, "<|begin_of_image|>"))
        return F_GLMEDGE;
    if (has(t, "<|user|>") && has(t, "<|endoftext|>"))
        return F_ZEPHYR;
    if (has(t, "bos_token + message['role']"))
        return F_MONARCH;
    if (has(t, "<start_of_turn>"))
        return F_GEMMA;
    if (has(t, "'\\n\\nAssistant: ' + eos_token"))
        return F_ORION;
    if (has(t, "GPT4 Correct "))
        return F_OPENCHAT;
    if (has(t, "USER: ") && has(t, "ASSISTANT: "))
        return has(t, "SYSTEM: ") ? F_VICUNA_ORCA : F_VICUNA;
    if (has(t, "### Instruction:") && has(t, "<|EOT|>"))
        return F_DEEPSEEK;
    if (has(t, "<|START_OF_TURN_TOKEN|>") && has(t, "<|USER_TOKEN|>"))
        return F_COMMAND_R;
    if (has(t, "<|start_header_id|>") && has(t, "<|end_header_id|>"))
        return F_LLAMA3;
    if (has(t, "[gMASK]sop"))
        return F_CHATGLM3;
    if (has(t, "<\xe7\x94\xa8\xe6\x88\xb7>"))   /* <用户> */
        return F_MINICPM;
    if (has(t, "'Assistant: ' + message['content'] + eos_token"))
        return F_DEEPSEEK2;
    if (has(t, "<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>") && has(t, "<\xef\xbd\x9cUser\xef\xbd\x9c>") &&
        has(t, "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"))
        return F_DEEPSEEK3;
    if (has(t, "[|system|]") && has(t, "[|assistant|]") && has(t, "[|endofturn|]"))
        return has(t, "[|tool|]") ? F_EXAONE4 : F_EXAONE3;
    if (has(t, "rwkv-world") || has(t, "{{- 'User: ' + message['content']|trim + '\\n\\n' -}}"))
        return F_RWKV_WORLD;
    if (has(t, "<|start_of_role|>")) {
        if (has(t, "<tool_call>") || has(t, "<tools>"))
            return has(t, "g4_default_system_message") ? F_GRANITE_4_0 : F_GRANITE_4_1;
        return F_GRANITE;
    }
    if (has(t, "message['role'] + additional_special_tokens[0] + message['content'] + "
               "additional_special_tokens[1]"))
        return F_GIGACHAT;
    if (has(t, "<|role_start|>"))
        return F_MEGREZ;
    if (has(t, " \xd0\x90\xd1\x81\xd1\x81\xd0\xb8\xd1\x81\xd1\x82\xd0\xb5\xd0\xbd\xd1\x82:"))   /* " Ассистент:" */
        return F_YANDEX;
    if (has(t, "<role>ASSISTANT</role>") && has(t, "'HUMAN'"))
        return F_BAILING;
    if (has(t, "<role>ASSISTANT</role>") && has(t, "\"HUMAN\"") && has(t, "<think>"))
        return F_BAILING_THINK;
    if (has(t, "<role>ASSISTANT</role>") && has(t, "<role>HUMAN</role>") && has(t, "<|role_end|>"))
        return F_BAILING2;
    if (has(t, "<|header_start|>") && has(t, "<|header_end|>"))
        return F_LLAMA4;
    if (has(t, "<|endofuserprompt|>"))
        return F_DOTS1;
    if (has(t, "<|extra_0|>") && has(t, "<|extra_4|>"))
        return F_HUNYUAN_MOE;
    if (has(t, "<|start|>") && has(t, "<|channel|>"))
        return F_GPT_OSS;
    if (has(t, "<\xef\xbd\x9chy_Assistant\xef\xbd\x9c>") &&
        has(t, "<\xef\xbd\x9chy_begin\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"))
        return F_HUNYUAN_VL;
    if (has(t, "<\xef\xbd\x9chy_Assistant\xef\xbd\x9c>") &&
        has(t, "<\xef\xbd\x9chy_place\xe2\x96\x81holder\xe2\x96\x81no\xe2\x96\x81" "3\xef\xbd\x9c>"))
        return F_HUNYUAN_DENSE;
    if (has(t, "<|im_assistant|>assistant<|im_middle|>"))
        return F_KIMI_K2;
    if (has(t, "<seed:bos>"))
        return F_SEED_OSS;
    if (has(t, "'Assistant: '  + message['content'] + '<|separator|>"))
        return F_GROK_2;
    if (has(t, "[unused9]\xe7\xb3\xbb\xe7\xbb\x9f\xef\xbc\x9a[unused10]"))   /* [unused9]系统：[unused10] */
        return F_PANGU_EMBED;
    if (has(t, "<|begin|>") && has(t, "<|end|>") && has(t, "<|content|>"))
        return F_SOLAR_OPEN;
    return -1;
}

int chat_detect(const char *tmpl, int *family)
{
    int f = tmpl ? detect_any(tmpl) : -1;
    if (f < 0) {
        set_error("chat template not recognised");
        return -ENOENT;
    }
    if (f >= F_N_RENDERED) {
        set_error("the chat template is of the '%s' family, which hypura does not render", k_names[f]);
        return -ENOTSUP;
    }
    *family = f;
    return 0;
}

static void known_names(char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = 0;
    for (int i = 0; i < F_N_RENDERED && n + 1 < cap; i++) {
        int w = snprintf(buf + n, cap - n, "%s%s", i ? ", " : "", k_names[i]);
        if (w < 0)
            break;
        n += (size_t)w;
    }
}

int chat_select(const char *tmpl, int *family)
{
    if (!tmpl) {
        LOG_WARN("the model has no chat template: using chatml");
        *family = F_CHATML;
        return 0;
    }
    int f = find_any(tmpl);   /* a family name, as --chat-template NAME gives */
    if (f < 0)
        f = detect_any(tmpl);
    if (f >= 0 && f < F_N_RENDERED) {
        *family = f;
        return 0;
    }
    char names[1024];
    known_names(names, sizeof names);
    if (f >= F_N_RENDERED)
        set_error("chat template family '%s' is not supported; known: %s", k_names[f], names);
    else
        set_error("unrecognised chat template; give one of: %s", names);
    return -EINVAL;
}

/* ---- rendering ---- */

struct out {
    char *p;
    size_t n, cap;
    struct tok_range *c;
    int nc, ccap;
    int err;
};

static void put_n(struct out *o, const char *s, size_t n)
{
    if (o->err)
        return;
    if (o->n + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap : 256;
        while (cap < o->n + n + 1)
            cap *= 2;
        char *p = realloc(o->p, cap);
        if (!p) {
            o->err = -ENOMEM;
            return;
        }
        o->p = p;
        o->cap = cap;
    }
    memcpy(o->p + o->n, s, n);
    o->n += n;
    o->p[o->n] = 0;
}

static void put(struct out *o, const char *s)
{
    put_n(o, s, strlen(s));
}

static bool c_space(char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Message content (trimmed of surrounding whitespace when trim): recorded as content. */
static void content(struct out *o, const char *s, bool trim)
{
    size_t a = 0, b = strlen(s);
    if (trim) {
        while (a < b && c_space(s[a]))
            a++;
        while (b > a && c_space(s[b - 1]))
            b--;
    }
    if (b == a || o->err)
        return;
    if (o->nc == o->ccap) {
        int cap = o->ccap ? o->ccap * 2 : 16;
        struct tok_range *c = realloc(o->c, (size_t)cap * sizeof *c);
        if (!c) {
            o->err = -ENOMEM;
            return;
        }
        o->c = c;
        o->ccap = cap;
    }
    /* adjacent content (two messages back to back) becomes one range */
    if (o->nc && o->c[o->nc - 1].off + o->c[o->nc - 1].len == o->n)
        o->c[o->nc - 1].len += b - a;
    else
        o->c[o->nc++] = (struct tok_range){.off = o->n, .len = b - a};
    put_n(o, s + a, b - a);
}

static bool is(const char *role, const char *s)
{
    return !strcmp(role, s);
}

static void render(int f, const struct chat_msg *m, size_t n, bool gen, struct out *o)
{
    switch (f) {
    case F_CHATML:
        for (size_t i = 0; i < n; i++) {
            put(o, "<|im_start|>"), put(o, m[i].role), put(o, "\n");
            content(o, m[i].content, false);
            put(o, "<|im_end|>\n");
        }
        if (gen)
            put(o, "<|im_start|>assistant\n");
        break;
    case F_MISTRAL_V7:
    case F_MISTRAL_V7_TEKKEN: {
        const char *sp = f == F_MISTRAL_V7 ? " " : "";
        for (size_t i = 0; i < n; i++) {
            if (is(m[i].role, "system")) {
                put(o, "[SYSTEM_PROMPT]"), put(o, sp), content(o, m[i].content, false), put(o, "[/SYSTEM_PROMPT]");
            } else if (is(m[i].role, "user")) {
                put(o, "[INST]"), put(o, sp), content(o, m[i].content, false), put(o, "[/INST]");
            } else {
                put(o, sp), content(o, m[i].content, false), put(o, "</s>");
            }
        }
        break;
    }
    case F_MISTRAL_V1:
    case F_MISTRAL_V3:
    case F_MISTRAL_V3_TEKKEN: {
        const char *lead = f == F_MISTRAL_V1 ? " " : "";
        const char *trail = f == F_MISTRAL_V3_TEKKEN ? "" : " ";
        bool in_turn = false;
        for (size_t i = 0; i < n; i++) {
            if (!in_turn) {
                put(o, lead), put(o, "[INST]"), put(o, trail);
                in_turn = true;
            }
            if (is(m[i].role, "system")) {
                content(o, m[i].content, false), put(o, "\n\n");
            } else if (is(m[i].role, "user")) {
                content(o, m[i].content, false), put(o, lead), put(o, "[/INST]");
            } else {
                put(o, trail), content(o, m[i].content, f == F_MISTRAL_V3), put(o, "</s>");
                in_turn = false;
            }
        }
        break;
    }
    case F_LLAMA2:
    case F_LLAMA2_SYS:
    case F_LLAMA2_SYS_BOS:
    case F_LLAMA2_SYS_STRIP: {
        bool sys = f != F_LLAMA2, strip = f == F_LLAMA2_SYS_STRIP;
        bool in_turn = true;   /* the first [INST] opens without a BOS */
        put(o, "[INST] ");
        for (size_t i = 0; i < n; i++) {
            if (!in_turn) {
                in_turn = true;
                put(o, f == F_LLAMA2_SYS_BOS ? "<s>[INST] " : "[INST] ");
            }
            if (is(m[i].role, "system")) {
                if (sys)
                    put(o, "<<SYS>>\n"), content(o, m[i].content, strip), put(o, "\n<</SYS>>\n\n");
                else   /* no system slot: the text goes first in the user turn */
                    content(o, m[i].content, strip), put(o, "\n");
            } else if (is(m[i].role, "user")) {
                content(o, m[i].content, strip), put(o, " [/INST]");
            } else {
                content(o, m[i].content, strip), put(o, "</s>");
                in_turn = false;
            }
        }
        break;
    }
    case F_PHI3:
        for (size_t i = 0; i < n; i++) {
            put(o, "<|"), put(o, m[i].role), put(o, "|>\n");
            content(o, m[i].content, false);
            put(o, "<|end|>\n");
        }
        if (gen)
            put(o, "<|assistant|>\n");
        break;
    case F_PHI4:
        for (size_t i = 0; i < n; i++) {
            put(o, "<|im_start|>"), put(o, m[i].role), put(o, "<|im_sep|>");
            content(o, m[i].content, false);
            put(o, "<|im_end|>");
        }
        if (gen)
            put(o, "<|im_start|>assistant<|im_sep|>");
        break;
    case F_FALCON3:
        for (size_t i = 0; i < n; i++) {
            put(o, "<|"), put(o, m[i].role), put(o, "|>\n");
            content(o, m[i].content, false);
            put(o, "\n");
        }
        if (gen)
            put(o, "<|assistant|>\n");
        break;
    case F_ZEPHYR:
        for (size_t i = 0; i < n; i++) {
            put(o, "<|"), put(o, m[i].role), put(o, "|>\n");
            content(o, m[i].content, false);
            put(o, "<|endoftext|>\n");
        }
        if (gen)
            put(o, "<|assistant|>\n");
        break;
    case F_MONARCH:
        for (size_t i = 0; i < n; i++) {
            if (i)
                put(o, "<s>");   /* the BOS of every message but the first */
            put(o, m[i].role), put(o, "\n");
            content(o, m[i].content, false);
            put(o, "</s>\n");
        }
        if (gen)
            put(o, "<s>assistant\n");
        break;
    case F_GEMMA: {
        /* no system turn: system text (trimmed, several joined) opens the next user turn */
        size_t sys = n;   /* first system message not written yet, n = none */
        for (size_t i = 0; i < n; i++) {
            if (is(m[i].role, "system")) {
                if (sys == n)
                    sys = i;
                continue;
            }
            bool model = is(m[i].role, "assistant");
            put(o, "<start_of_turn>"), put(o, model ? "model" : m[i].role), put(o, "\n");
            if (sys < n && !model) {
                size_t before = o->n;
                for (size_t k = sys; k < i; k++)
                    if (is(m[k].role, "system"))
                        content(o, m[k].content, true);
                if (o->n > before)
                    put(o, "\n\n");
                sys = n;
            }
            content(o, m[i].content, true);
            put(o, "<end_of_turn>\n");
        }
        if (gen)
            put(o, "<start_of_turn>model\n");
        break;
    }
    case F_ORION: {
        size_t sys = n;   /* as gemma, untrimmed */
        for (size_t i = 0; i < n; i++) {
            if (is(m[i].role, "system")) {
                if (sys == n)
                    sys = i;
            } else if (is(m[i].role, "user")) {
                put(o, "Human: ");
                if (sys < n) {
                    size_t before = o->n;
                    for (size_t k = sys; k < i; k++)
                        if (is(m[k].role, "system"))
                            content(o, m[k].content, false);
                    if (o->n > before)
                        put(o, "\n\n");
                    sys = n;
                }
                content(o, m[i].content, false), put(o, "\n\nAssistant: </s>");
            } else {
                content(o, m[i].content, false), put(o, "</s>");
            }
        }
        break;
    }
    case F_OPENCHAT:
        for (size_t i = 0; i < n; i++) {
            if (is(m[i].role, "system")) {
                content(o, m[i].content, false);
            } else {
                char cap[2] = {m[i].role[0], 0};
                if (cap[0] >= 'a' && cap[0] <= 'z')
                    cap[0] = (char)(cap[0] - 32);
                put(o, "GPT4 Correct "), put(o, cap), put(o, m[i].role[0] ? m[i].role + 1 : "");
                put(o, ": "), content(o, m[i].content, false);
            }
            put(o, "<|end_of_turn|>");
        }
        if (gen)
            put(o, "GPT4 Correct Assistant:");
        break;
    case F_VICUNA:
    case F_VICUNA_ORCA:
        for (size_t i = 0; i < n; i++) {
            if (is(m[i].role, "system")) {
                if (f == F_VICUNA_ORCA)
                    put(o, "SYSTEM: "), content(o, m[i].content, false), put(o, "\n");
                else
                    content(o, m[i].content, false), put(o, "\n\n");
            } else if (is(m[i].role, "user")) {
                put(o, "USER: "), content(o, m[i].content, false), put(o, "\n");
            } else if (is(m[i].role, "assistant")) {
                put(o, "ASSISTANT: "), content(o, m[i].content, false), put(o, "</s>\n");
            }
        }
        if (gen)
            put(o, "ASSISTANT:");
        break;
    case F_DEEPSEEK:
        for (size_t i = 0; i < n; i++) {
            if (is(m[i].role, "system"))
                content(o, m[i].content, false);
            else if (is(m[i].role, "user"))
                put(o, "### Instruction:\n"), content(o, m[i].content, false), put(o, "\n");
            else if (is(m[i].role, "assistant"))
                put(o, "### Response:\n"), content(o, m[i].content, false), put(o, "\n<|EOT|>\n");
        }
        if (gen)
            put(o, "### Response:\n");
        break;
    case F_DEEPSEEK2:
        for (size_t i = 0; i < n; i++) {
            if (is(m[i].role, "system"))
                content(o, m[i].content, false), put(o, "\n\n");
            else if (is(m[i].role, "user"))
                put(o, "User: "), content(o, m[i].content, false), put(o, "\n\n");
            else if (is(m[i].role, "assistant"))
                put(o, "Assistant: "), content(o, m[i].content, false),
                    put(o, "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>");
        }
        if (gen)
            put(o, "Assistant:");
        break;
    case F_DEEPSEEK3:
        for (size_t i = 0; i < n; i++) {
            if (is(m[i].role, "system"))
                content(o, m[i].content, false), put(o, "\n\n");
            else if (is(m[i].role, "user"))
                put(o, "<\xef\xbd\x9cUser\xef\xbd\x9c>"), content(o, m[i].content, false);
            else if (is(m[i].role, "assistant"))
                put(o, "<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>"), content(o, m[i].content, false),
                    put(o, "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>");
        }
        if (gen)
            put(o, "<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>");
        break;
    case F_COMMAND_R:
        for (size_t i = 0; i < n; i++) {
            const char *tag = is(m[i].role, "system") ? "<|SYSTEM_TOKEN|>"
                              : is(m[i].role, "user") ? "<|USER_TOKEN|>"
                              : is(m[i].role, "assistant") ? "<|CHATBOT_TOKEN|>" : NULL;
            if (tag)
                put(o, "<|START_OF_TURN_TOKEN|>"), put(o, tag), content(o, m[i].content, true),
                    put(o, "<|END_OF_TURN_TOKEN|>");
        }
        if (gen)
            put(o, "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>");
        break;
    case F_LLAMA3:
        for (size_t i = 0; i < n; i++) {
            put(o, "<|start_header_id|>"), put(o, m[i].role), put(o, "<|end_header_id|>\n\n");
            content(o, m[i].content, true);
            put(o, "<|eot_id|>");
        }
        if (gen)
            put(o, "<|start_header_id|>assistant<|end_header_id|>\n\n");
        break;
    case F_LLAMA4:
        for (size_t i = 0; i < n; i++) {
            put(o, "<|header_start|>"), put(o, m[i].role), put(o, "<|header_end|>\n\n");
            content(o, m[i].content, true);
            put(o, "<|eot|>");
        }
        if (gen)
            put(o, "<|header_start|>assistant<|header_end|>\n\n");
        break;
    case F_CHATGLM3:
    case F_CHATGLM4:
    case F_GLMEDGE:
        if (f == F_CHATGLM3)
            put(o, "[gMASK]sop");
        else if (f == F_CHATGLM4)
            put(o, "[gMASK]<sop>");
        for (size_t i = 0; i < n; i++) {
            put(o, "<|"), put(o, m[i].role), put(o, f == F_CHATGLM3 ? "|>\n " : "|>\n");
            content(o, m[i].content, false);
        }
        if (gen)
            put(o, f == F_CHATGLM4 ? "<|assistant|>\n" : "<|assistant|>");
        break;
    case F_MINICPM:
        for (size_t i = 0; i < n; i++) {
            if (is(m[i].role, "user"))
                put(o, "<\xe7\x94\xa8\xe6\x88\xb7>"), content(o, m[i].content, true), put(o, "<AI>");
            else
                content(o, m[i].content, true);
        }
        break;
    case F_EXAONE3:
    case F_EXAONE4:
        for (size_t i = 0; i < n; i++) {
            if (is(m[i].role, "system"))
                put(o, "[|system|]"), content(o, m[i].content, true), put(o, "[|endofturn|]\n");
            else if (is(m[i].role, "user"))
                put(o, "[|user|]"), content(o, m[i].content, true), put(o, "\n");
            else if (is(m[i].role, "assistant"))
                put(o, "[|assistant|]"), content(o, m[i].content, true), put(o, "[|endofturn|]\n");
            else if (f == F_EXAONE4 && is(m[i].role, "tool"))
                put(o, "[|tool|]"), content(o, m[i].content, true), put(o, "[|endofturn|]\n");
        }
        if (gen)
            put(o, "[|assistant|]");
        break;
    case F_GRANITE:
        for (size_t i = 0; i < n; i++) {
            put(o, "<|start_of_role|>"), put(o, m[i].role), put(o, "<|end_of_role|>");
            if (is(m[i].role, "assistant_tool_call"))
                put(o, "<|tool_call|>");
            content(o, m[i].content, false);
            put(o, "<|end_of_text|>\n");
        }
        if (gen)
            put(o, "<|start_of_role|>assistant<|end_of_role|>");
        break;
    case F_GIGACHAT: {
        size_t i = 0;
        put(o, "<s>");
        if (n && is(m[0].role, "system")) {
            content(o, m[0].content, false), put(o, "<|message_sep|>");
            i = 1;
        }
        for (; i < n; i++) {
            if (is(m[i].role, "user"))
                put(o, "user<|role_sep|>"), content(o, m[i].content, false),
                    put(o, "<|message_sep|>available functions<|role_sep|>[]<|message_sep|>");
            else if (is(m[i].role, "assistant"))
                put(o, "assistant<|role_sep|>"), content(o, m[i].content, false), put(o, "<|message_sep|>");
        }
        if (gen)
            put(o, "assistant<|role_sep|>");
        break;
    }
    case F_MEGREZ:
        for (size_t i = 0; i < n; i++) {
            put(o, "<|role_start|>"), put(o, m[i].role), put(o, "<|role_end|>");
            content(o, m[i].content, false);
            put(o, "<|turn_end|>");
        }
        if (gen)
            put(o, "<|role_start|>assistant<|role_end|>");
        break;
    case F_YANDEX:
        for (size_t i = 0; i < n; i++) {
            if (is(m[i].role, "user"))
                put(o, " \xd0\x9f\xd0\xbe\xd0\xbb\xd1\x8c\xd0\xb7\xd0\xbe\xd0\xb2\xd0\xb0\xd1\x82\xd0\xb5\xd0\xbb\xd1\x8c: "),
                    content(o, m[i].content, false), put(o, "\n\n");   /* " Пользователь: " */
            else if (is(m[i].role, "assistant"))
                put(o, " \xd0\x90\xd1\x81\xd1\x81\xd0\xb8\xd1\x81\xd1\x82\xd0\xb5\xd0\xbd\xd1\x82: "),
                    content(o, m[i].content, false), put(o, "\n\n");   /* " Ассистент: " */
        }
        if (gen)
            put(o, " \xd0\x90\xd1\x81\xd1\x81\xd0\xb8\xd1\x81\xd1\x82\xd0\xb5\xd0\xbd\xd1\x82:[SEP]");
        break;
    case F_BAILING:
    case F_BAILING_THINK:
    case F_BAILING2:
        if (f == F_BAILING2 && !(n && is(m[0].role, "system")))
            put(o, "<role>SYSTEM</role>detailed thinking off<|role_end|>");
        for (size_t i = 0; i < n; i++) {
            put(o, "<role>");
            if (is(m[i].role, "user")) {
                put(o, "HUMAN");
            } else {
                for (const char *r = m[i].role; *r; r++) {
                    char c = *r >= 'a' && *r <= 'z' ? (char)(*r - 32) : *r;
                    put_n(o, &c, 1);
                }
            }
            put(o, "</role>"), content(o, m[i].content, false);
            if (f == F_BAILING2)
                put(o, "<|role_end|>");
        }
        if (gen) {
            put(o, "<role>ASSISTANT</role>");
            if (f == F_BAILING_THINK)
                put(o, "<think>");
        }
        break;
    case F_SEED_OSS:
        for (size_t i = 0; i < n; i++) {
            put(o, "<seed:bos>"), put(o, m[i].role), put(o, "\n");
            content(o, m[i].content, is(m[i].role, "assistant"));
            put(o, "<seed:eos>");
        }
        if (gen)
            put(o, "<seed:bos>assistant\n");
        break;
    default:
        o->err = -EINVAL;
        break;
    }
}

int chat_render(int family, const struct chat_msg *msgs, size_t n, bool add_generation_prompt,
                struct chat_rendered *out)
{
    memset(out, 0, sizeof *out);
    if (family < 0 || family >= F_N_RENDERED) {
        set_error("no chat template family %d", family);
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++)
        if (!msgs[i].role || !msgs[i].content) {
            set_error("message %zu has no role or no content", i);
            return -EINVAL;
        }
    struct out o = {0};
    put(&o, "");
    render(family, msgs, n, add_generation_prompt, &o);
    if (o.err) {
        free(o.p);
        free(o.c);
        set_error("out of memory rendering a chat");
        return o.err;
    }
    out->text = o.p;
    out->len = o.n;
    out->content = o.c;
    out->n_content = o.nc;
    return 0;
}

void chat_rendered_free(struct chat_rendered *r)
{
    if (!r)
        return;
    free(r->text);
    free(r->content);
    memset(r, 0, sizeof *r);
}

int chat_tokenize(const struct tokenizer *t, int family, const struct chat_msg *msgs, size_t n,
                  bool add_generation_prompt, bool add_special, int32_t *out, int n_max)
{
    struct chat_rendered r;
    int rc = chat_render(family, msgs, n, add_generation_prompt, &r);
    if (rc)
        return rc;
    struct tok_encode_params p = tok_encode_default_params();
    p.add_special = add_special;
    p.parse_special = true;
    p.plain = r.content;
    p.n_plain = r.n_content;
    rc = tokenizer_encode_ex(t, r.text, r.len, &p, out, n_max);
    chat_rendered_free(&r);
    return rc;
}

/* ---- public API (include/hypura.h, chat templates) ---- */

int hy_chat_apply_template(const char *tmpl, const struct hy_chat_message *msgs, size_t n,
                           bool add_generation_prompt, char *buf, int cap)
{
    if ((n && !msgs) || cap < 0 || (cap > 0 && !buf)) {
        set_error("invalid arguments");
        return -EINVAL;
    }
    int family;
    int rc = chat_select(tmpl, &family);
    if (rc)
        return rc;
    struct chat_msg *m = malloc((n ? n : 1) * sizeof *m);
    if (!m) {
        set_error("out of memory");
        return -ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        m[i] = (struct chat_msg){.role = msgs[i].role, .content = msgs[i].content};
    struct chat_rendered r;
    rc = chat_render(family, m, n, add_generation_prompt, &r);
    free(m);
    if (rc)
        return rc;
    if (r.len > (size_t)INT32_MAX) {
        chat_rendered_free(&r);
        set_error("rendered chat too long");
        return -EINVAL;
    }
    if (cap > 0)
        memcpy(buf, r.text, r.len < (size_t)cap ? r.len : (size_t)cap);
    rc = (int)r.len;
    chat_rendered_free(&r);
    return rc;
}

int hy_chat_builtin_templates(const char **names, int cap)
{
    for (int i = 0; i < F_N_RENDERED && i < cap; i++)
        names[i] = k_names[i];
    return F_N_RENDERED;
}

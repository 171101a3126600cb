/* Chat template families: detection and rendering. See chat.h.
 *
 * Each family's layout follows what llama.cpp's llm_chat_apply_template produces for it (the
 * test data in tests/data/chat/ holds llama.cpp's expected strings); detection checks the same
 * marker strings in the same order. Families llama.cpp detects but that are not rendered here
 * are still detected, so that such a template is reported as what it is instead of landing in
 * a later family by accident.
 *
 * A family's layout is data, a row of k_layouts: a format string per role, such as
 * "<|{role}|>\n{content}<|end|>\n", a BOS, a generation prompt. render_turns writes any row;
 * the few families that do not fit (the [INST] turns of Llama 2 and Mistral v1/v3, GigaChat,
 * Bailing 2) have a small function of their own, named in their row. */
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

/* A family's layout is a row of k_layouts: each message goes through the format string of
 * the first turn whose role matches it. A format is literal text and these slots: */
enum slot {
    SLOT_ROLE,           /* {role}: the role as given */
    SLOT_ROLE_CAP,       /* {Role}: its first letter upper-cased (ASCII) */
    SLOT_ROLE_UPPER,     /* {ROLE}: all of it upper-cased (ASCII) */
    SLOT_CONTENT,        /* {content}: the message text, recorded as content */
    SLOT_CONTENT_TRIM,   /* {content|trim}: the same, trimmed of surrounding whitespace */
    SLOT_SYSTEM,         /* {system}: the held system messages (hold_system), then a blank line */
    SLOT_SYSTEM_TRIM,    /* {system|trim}: the same, each trimmed */
    SLOT_N
};

static const char *const k_slots[SLOT_N] = {
    [SLOT_ROLE] = "{role}", [SLOT_ROLE_CAP] = "{Role}", [SLOT_ROLE_UPPER] = "{ROLE}",
    [SLOT_CONTENT] = "{content}", [SLOT_CONTENT_TRIM] = "{content|trim}",
    [SLOT_SYSTEM] = "{system}", [SLOT_SYSTEM_TRIM] = "{system|trim}",
};

struct turn {
    const char *role;   /* the role this turn is for; "*": any role not matched before it */
    const char *fmt;    /* what a message of that role becomes: text and slots */
};

struct layout;
typedef void render_fn(const struct layout *ly, const struct chat_msg *m, size_t n, bool gen,
                       struct out *o);

struct layout {
    const char *bos;        /* written first, even for an empty conversation */
    const char *sep;        /* written between two messages */
    const char *open;       /* render_inst: what opens an [INST] turn */
    struct turn turns[5];   /* up to the first with no fmt; a message matching none is left out */
    const char *gen;        /* the generation prompt, when asked for; NULL: the family has none */
    bool hold_system;       /* no system turn: system messages wait for the next {system} */
    render_fn *render;      /* an irregular family's own renderer; NULL: render_turns */
};

#define NONE_HELD SIZE_MAX

/* The system messages held since *held, and a blank line after them if any had text. */
static void write_held(const struct chat_msg *m, size_t i, size_t *held, bool trim, struct out *o)
{
    if (*held == NONE_HELD)
        return;
    size_t before = o->n;
    for (size_t k = *held; k < i; k++)
        if (is(m[k].role, "system"))
            content(o, m[k].content, trim);
    if (o->n > before)
        put(o, "\n\n");
    *held = NONE_HELD;
}

static void write_slot(enum slot s, const struct chat_msg *m, size_t i, size_t *held, struct out *o)
{
    switch (s) {
    case SLOT_ROLE:
        put(o, m[i].role);
        break;
    case SLOT_ROLE_CAP:
    case SLOT_ROLE_UPPER:
        for (const char *r = m[i].role; *r; r++) {
            bool up = s == SLOT_ROLE_UPPER || r == m[i].role;
            char c = up && *r >= 'a' && *r <= 'z' ? (char)(*r - 32) : *r;
            put_n(o, &c, 1);
        }
        break;
    case SLOT_CONTENT:
    case SLOT_CONTENT_TRIM:
        content(o, m[i].content, s == SLOT_CONTENT_TRIM);
        break;
    case SLOT_SYSTEM:
    case SLOT_SYSTEM_TRIM:
        write_held(m, i, held, s == SLOT_SYSTEM_TRIM, o);
        break;
    case SLOT_N:
        break;
    }
}

/* Message i through fmt. A '{' that starts no slot is text. */
static void expand(const char *fmt, const struct chat_msg *m, size_t i, size_t *held, struct out *o)
{
    const char *p = fmt, *b;
    while ((b = strchr(p, '{'))) {
        put_n(o, p, (size_t)(b - p));
        int s = 0;
        while (s < SLOT_N && strncmp(b, k_slots[s], strlen(k_slots[s])))
            s++;
        if (s == SLOT_N) {
            put_n(o, b, 1);
            p = b + 1;
            continue;
        }
        write_slot((enum slot)s, m, i, held, o);
        p = b + strlen(k_slots[s]);
    }
    put(o, p);
}

static const struct turn *turn_for(const struct layout *ly, const char *role)
{
    for (const struct turn *t = ly->turns; t->fmt; t++)
        if (is(t->role, "*") || is(t->role, role))
            return t;
    return NULL;
}

/* The messages, each through its turn: no bos, no generation prompt. */
static void write_turns(const struct layout *ly, const struct chat_msg *m, size_t n, struct out *o)
{
    size_t held = NONE_HELD;
    for (size_t i = 0; i < n; i++) {
        if (ly->hold_system && is(m[i].role, "system")) {
            if (held == NONE_HELD)
                held = i;
            continue;
        }
        const struct turn *t = turn_for(ly, m[i].role);
        if (!t)
            continue;
        if (i && ly->sep)
            put(o, ly->sep);
        expand(t->fmt, m, i, &held, o);
    }
}

/* The regular families: bos, the messages, the generation prompt. */
static void render_turns(const struct layout *ly, const struct chat_msg *m, size_t n, bool gen,
                         struct out *o)
{
    if (ly->bos)
        put(o, ly->bos);
    write_turns(ly, m, n, o);
    if (gen && ly->gen)
        put(o, ly->gen);
}

/* Llama 2 and Mistral v1/v3 group messages into [INST] turns: ly->open starts one when a
 * message comes and none is open, and a reply (a message of the "*" turn) ends it. The bos of
 * Llama 2 is its first turn's opening, written even for an empty conversation and without the
 * <s> that later openings may have. No generation prompt: an open turn is where a reply goes. */
static void render_inst(const struct layout *ly, const struct chat_msg *m, size_t n, bool gen,
                        struct out *o)
{
    bool in_turn = ly->bos != NULL;
    if (ly->bos)
        put(o, ly->bos);
    size_t held = NONE_HELD;
    for (size_t i = 0; i < n; i++) {
        const struct turn *t = turn_for(ly, m[i].role);
        if (!t)
            continue;
        if (!in_turn)
            put(o, ly->open);
        expand(t->fmt, m, i, &held, o);
        in_turn = !is(t->role, "*");   /* open now, unless that was the reply */
    }
}

/* GigaChat takes a system message only as the first message, bare after the BOS; the row has
 * no system turn, so later ones are left out. */
static void render_gigachat(const struct layout *ly, const struct chat_msg *m, size_t n, bool gen,
                            struct out *o)
{
    size_t first = n && is(m[0].role, "system");
    put(o, ly->bos);
    if (first)
        content(o, m[0].content, false), put(o, "<|message_sep|>");
    write_turns(ly, m + first, n - first, o);
    if (gen)
        put(o, ly->gen);
}

/* Bailing 2: a conversation that does not open with a system message gets a default one. */
static void render_bailing2(const struct layout *ly, const struct chat_msg *m, size_t n, bool gen,
                            struct out *o)
{
    if (!(n && is(m[0].role, "system")))
        put(o, "<role>SYSTEM</role>detailed thinking off<|role_end|>");
    render_turns(ly, m, n, gen, o);
}

/* Literals the rows share, or that read better named. In UTF-8: FW_BAR is "｜" (fullwidth),
 * EOS_DEEPSEEK "<｜end▁of▁sentence｜>", YANDEX_USER " Пользователь:", YANDEX_ASSISTANT
 * " Ассистент:", MINICPM_USER "<用户>". */
#define FW_BAR "\xef\xbd\x9c"
#define EOS_DEEPSEEK "<" FW_BAR "end\xe2\x96\x81of\xe2\x96\x81sentence" FW_BAR ">"
#define YANDEX_USER \
    " \xd0\x9f\xd0\xbe\xd0\xbb\xd1\x8c\xd0\xb7\xd0\xbe\xd0\xb2\xd0\xb0\xd1\x82\xd0\xb5\xd0\xbb\xd1\x8c:"
#define YANDEX_ASSISTANT " \xd0\x90\xd1\x81\xd1\x81\xd0\xb8\xd1\x81\xd1\x82\xd0\xb5\xd0\xbd\xd1\x82:"
#define MINICPM_USER "<\xe7\x94\xa8\xe6\x88\xb7>"
#define COHERE_TURN(tag) "<|START_OF_TURN_TOKEN|><|" tag "_TOKEN|>"

/* One row per rendered family, in llama.cpp's layouts (tests/data/chat/cases.json). */
static const struct layout k_layouts[F_N_RENDERED] = {
    [F_CHATML] = {
        .turns = {{"*", "<|im_start|>{role}\n{content}<|im_end|>\n"}},
        .gen = "<|im_start|>assistant\n",
    },
    /* Llama 2 has no system slot: the system text goes first in the user turn */
    [F_LLAMA2] = {
        .render = render_inst, .bos = "[INST] ", .open = "[INST] ",
        .turns = {{"system", "{content}\n"},
                  {"user", "{content} [/INST]"},
                  {"*", "{content}</s>"}},
    },
    [F_LLAMA2_SYS] = {
        .render = render_inst, .bos = "[INST] ", .open = "[INST] ",
        .turns = {{"system", "<<SYS>>\n{content}\n<</SYS>>\n\n"},
                  {"user", "{content} [/INST]"},
                  {"*", "{content}</s>"}},
    },
    [F_LLAMA2_SYS_BOS] = {
        .render = render_inst, .bos = "[INST] ", .open = "<s>[INST] ",
        .turns = {{"system", "<<SYS>>\n{content}\n<</SYS>>\n\n"},
                  {"user", "{content} [/INST]"},
                  {"*", "{content}</s>"}},
    },
    [F_LLAMA2_SYS_STRIP] = {
        .render = render_inst, .bos = "[INST] ", .open = "[INST] ",
        .turns = {{"system", "<<SYS>>\n{content|trim}\n<</SYS>>\n\n"},
                  {"user", "{content|trim} [/INST]"},
                  {"*", "{content|trim}</s>"}},
    },
    [F_MISTRAL_V1] = {
        .render = render_inst, .open = " [INST] ",
        .turns = {{"system", "{content}\n\n"},
                  {"user", "{content} [/INST]"},
                  {"*", " {content}</s>"}},
    },
    [F_MISTRAL_V3] = {
        .render = render_inst, .open = "[INST] ",
        .turns = {{"system", "{content}\n\n"},
                  {"user", "{content}[/INST]"},
                  {"*", " {content|trim}</s>"}},
    },
    [F_MISTRAL_V3_TEKKEN] = {
        .render = render_inst, .open = "[INST]",
        .turns = {{"system", "{content}\n\n"},
                  {"user", "{content}[/INST]"},
                  {"*", "{content}</s>"}},
    },
    [F_MISTRAL_V7] = {
        .turns = {{"system", "[SYSTEM_PROMPT] {content}[/SYSTEM_PROMPT]"},
                  {"user", "[INST] {content}[/INST]"},
                  {"*", " {content}</s>"}},
    },
    [F_MISTRAL_V7_TEKKEN] = {
        .turns = {{"system", "[SYSTEM_PROMPT]{content}[/SYSTEM_PROMPT]"},
                  {"user", "[INST]{content}[/INST]"},
                  {"*", "{content}</s>"}},
    },
    [F_PHI3] = {
        .turns = {{"*", "<|{role}|>\n{content}<|end|>\n"}},
        .gen = "<|assistant|>\n",
    },
    [F_PHI4] = {
        .turns = {{"*", "<|im_start|>{role}<|im_sep|>{content}<|im_end|>"}},
        .gen = "<|im_start|>assistant<|im_sep|>",
    },
    [F_FALCON3] = {
        .turns = {{"*", "<|{role}|>\n{content}\n"}},
        .gen = "<|assistant|>\n",
    },
    [F_ZEPHYR] = {
        .turns = {{"*", "<|{role}|>\n{content}<|endoftext|>\n"}},
        .gen = "<|assistant|>\n",
    },
    /* the BOS of every message but the first */
    [F_MONARCH] = {
        .sep = "<s>",
        .turns = {{"*", "{role}\n{content}</s>\n"}},
        .gen = "<s>assistant\n",
    },
    /* no system turn: system texts (trimmed, joined) open the next turn that is not the model's */
    [F_GEMMA] = {
        .hold_system = true,
        .turns = {{"assistant", "<start_of_turn>model\n{content|trim}<end_of_turn>\n"},
                  {"*", "<start_of_turn>{role}\n{system|trim}{content|trim}<end_of_turn>\n"}},
        .gen = "<start_of_turn>model\n",
    },
    /* as gemma, untrimmed, and only a user turn takes the system text */
    [F_ORION] = {
        .hold_system = true,
        .turns = {{"user", "Human: {system}{content}\n\nAssistant: </s>"},
                  {"*", "{content}</s>"}},
    },
    [F_OPENCHAT] = {
        .turns = {{"system", "{content}<|end_of_turn|>"},
                  {"*", "GPT4 Correct {Role}: {content}<|end_of_turn|>"}},
        .gen = "GPT4 Correct Assistant:",
    },
    [F_VICUNA] = {
        .turns = {{"system", "{content}\n\n"},
                  {"user", "USER: {content}\n"},
                  {"assistant", "ASSISTANT: {content}</s>\n"}},
        .gen = "ASSISTANT:",
    },
    [F_VICUNA_ORCA] = {
        .turns = {{"system", "SYSTEM: {content}\n"},
                  {"user", "USER: {content}\n"},
                  {"assistant", "ASSISTANT: {content}</s>\n"}},
        .gen = "ASSISTANT:",
    },
    [F_DEEPSEEK] = {
        .turns = {{"system", "{content}"},
                  {"user", "### Instruction:\n{content}\n"},
                  {"assistant", "### Response:\n{content}\n<|EOT|>\n"}},
        .gen = "### Response:\n",
    },
    [F_DEEPSEEK2] = {
        .turns = {{"system", "{content}\n\n"},
                  {"user", "User: {content}\n\n"},
                  {"assistant", "Assistant: {content}" EOS_DEEPSEEK}},
        .gen = "Assistant:",
    },
    [F_DEEPSEEK3] = {
        .turns = {{"system", "{content}\n\n"},
                  {"user", "<" FW_BAR "User" FW_BAR ">{content}"},
                  {"assistant", "<" FW_BAR "Assistant" FW_BAR ">{content}" EOS_DEEPSEEK}},
        .gen = "<" FW_BAR "Assistant" FW_BAR ">",
    },
    [F_COMMAND_R] = {
        .turns = {{"system", COHERE_TURN("SYSTEM") "{content|trim}<|END_OF_TURN_TOKEN|>"},
                  {"user", COHERE_TURN("USER") "{content|trim}<|END_OF_TURN_TOKEN|>"},
                  {"assistant", COHERE_TURN("CHATBOT") "{content|trim}<|END_OF_TURN_TOKEN|>"}},
        .gen = COHERE_TURN("CHATBOT"),
    },
    [F_LLAMA3] = {
        .turns = {{"*", "<|start_header_id|>{role}<|end_header_id|>\n\n{content|trim}<|eot_id|>"}},
        .gen = "<|start_header_id|>assistant<|end_header_id|>\n\n",
    },
    [F_CHATGLM3] = {
        .bos = "[gMASK]sop",
        .turns = {{"*", "<|{role}|>\n {content}"}},
        .gen = "<|assistant|>",
    },
    [F_CHATGLM4] = {
        .bos = "[gMASK]<sop>",
        .turns = {{"*", "<|{role}|>\n{content}"}},
        .gen = "<|assistant|>\n",
    },
    [F_GLMEDGE] = {
        .turns = {{"*", "<|{role}|>\n{content}"}},
        .gen = "<|assistant|>",
    },
    [F_MINICPM] = {
        .turns = {{"user", MINICPM_USER "{content|trim}<AI>"},
                  {"*", "{content|trim}"}},
    },
    [F_EXAONE3] = {
        .turns = {{"system", "[|system|]{content|trim}[|endofturn|]\n"},
                  {"user", "[|user|]{content|trim}\n"},
                  {"assistant", "[|assistant|]{content|trim}[|endofturn|]\n"}},
        .gen = "[|assistant|]",
    },
    [F_EXAONE4] = {
        .turns = {{"system", "[|system|]{content|trim}[|endofturn|]\n"},
                  {"user", "[|user|]{content|trim}\n"},
                  {"assistant", "[|assistant|]{content|trim}[|endofturn|]\n"},
                  {"tool", "[|tool|]{content|trim}[|endofturn|]\n"}},
        .gen = "[|assistant|]",
    },
    [F_GRANITE] = {
        .turns = {{"assistant_tool_call",
                   "<|start_of_role|>{role}<|end_of_role|><|tool_call|>{content}<|end_of_text|>\n"},
                  {"*", "<|start_of_role|>{role}<|end_of_role|>{content}<|end_of_text|>\n"}},
        .gen = "<|start_of_role|>assistant<|end_of_role|>",
    },
    [F_GIGACHAT] = {
        .render = render_gigachat, .bos = "<s>",
        .turns = {{"user", "user<|role_sep|>{content}<|message_sep|>"
                           "available functions<|role_sep|>[]<|message_sep|>"},
                  {"assistant", "assistant<|role_sep|>{content}<|message_sep|>"}},
        .gen = "assistant<|role_sep|>",
    },
    [F_MEGREZ] = {
        .turns = {{"*", "<|role_start|>{role}<|role_end|>{content}<|turn_end|>"}},
        .gen = "<|role_start|>assistant<|role_end|>",
    },
    [F_YANDEX] = {
        .turns = {{"user", YANDEX_USER " {content}\n\n"},
                  {"assistant", YANDEX_ASSISTANT " {content}\n\n"}},
        .gen = YANDEX_ASSISTANT "[SEP]",
    },
    [F_BAILING] = {
        .turns = {{"user", "<role>HUMAN</role>{content}"},
                  {"*", "<role>{ROLE}</role>{content}"}},
        .gen = "<role>ASSISTANT</role>",
    },
    [F_BAILING_THINK] = {
        .turns = {{"user", "<role>HUMAN</role>{content}"},
                  {"*", "<role>{ROLE}</role>{content}"}},
        .gen = "<role>ASSISTANT</role><think>",
    },
    [F_BAILING2] = {
        .render = render_bailing2,
        .turns = {{"user", "<role>HUMAN</role>{content}<|role_end|>"},
                  {"*", "<role>{ROLE}</role>{content}<|role_end|>"}},
        .gen = "<role>ASSISTANT</role>",
    },
    [F_LLAMA4] = {
        .turns = {{"*", "<|header_start|>{role}<|header_end|>\n\n{content|trim}<|eot|>"}},
        .gen = "<|header_start|>assistant<|header_end|>\n\n",
    },
    [F_SEED_OSS] = {
        .turns = {{"assistant", "<seed:bos>{role}\n{content|trim}<seed:eos>"},
                  {"*", "<seed:bos>{role}\n{content}<seed:eos>"}},
        .gen = "<seed:bos>assistant\n",
    },
};

int chat_render(int family, const struct chat_msg *msgs, size_t n, bool add_generation_prompt,
                struct chat_rendered *out)
{
    memset(out, 0, sizeof *out);
    if (family < 0 || family >= F_N_RENDERED || !k_layouts[family].turns[0].fmt) {
        set_error("no chat template family %d", family);   /* a rendered family with no row is a bug */
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++)
        if (!msgs[i].role || !msgs[i].content) {
            set_error("message %zu has no role or no content", i);
            return -EINVAL;
        }
    struct out o = {0};
    put(&o, "");
    const struct layout *ly = &k_layouts[family];
    (ly->render ? ly->render : render_turns)(ly, msgs, n, add_generation_prompt, &o);
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

/* The served model as the APIs describe it (name, digest, details, metadata), and its
 * prompts: plain text tokenized as `hypura run` does, conversations through the model's
 * chat template. Everything through include/hypura.h. */
#include "server/server.h"
#include "util/log.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* general.file_type (llama.cpp's llama_ftype) as Ollama spells it */
static const char *ftype_name(long t)
{
    static const struct {
        int t;
        const char *name;
    } names[] = {
        {0, "F32"}, {1, "F16"}, {2, "Q4_0"}, {3, "Q4_1"}, {7, "Q8_0"}, {8, "Q5_0"}, {9, "Q5_1"},
        {10, "Q2_K"}, {11, "Q3_K_S"}, {12, "Q3_K_M"}, {13, "Q3_K_L"}, {14, "Q4_K_S"},
        {15, "Q4_K_M"}, {16, "Q5_K_S"}, {17, "Q5_K_M"}, {18, "Q6_K"}, {19, "IQ2_XXS"},
        {20, "IQ2_XS"}, {21, "Q2_K_S"}, {22, "IQ3_XS"}, {23, "IQ3_XXS"}, {24, "IQ1_S"},
        {25, "IQ4_NL"}, {26, "IQ3_S"}, {27, "IQ3_M"}, {28, "IQ2_S"}, {29, "IQ2_M"},
        {30, "IQ4_XS"}, {31, "IQ1_M"}, {32, "BF16"}, {36, "TQ1_0"}, {37, "TQ2_0"},
        {38, "MXFP4"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].t == t)
            return names[i].name;
    return NULL;
}

/* The rendered value of a metadata key, or NULL. */
static const char *meta_value(const hy_model *m, const char *key, char *val, size_t cap)
{
    int64_t n = hy_model_meta_count(m);
    for (int64_t i = 0; i < n; i++) {
        const char *k = hy_model_meta(m, i, NULL, 0);
        if (k && !strcmp(k, key))
            return hy_model_meta(m, i, val, cap) ? val : NULL;
    }
    return NULL;
}

/* Ollama's spelling of a count (format.HumanNumber): 8B, 7.6B, 494.03M, 292K */
static void human_number(uint64_t b, char *buf, size_t cap)
{
    double x;
    if (b >= 1000000000ull) {
        x = (double)b / 1e9;
        snprintf(buf, cap, x == (double)(uint64_t)x ? "%.0fB" : "%.1fB", x);
    } else if (b >= 1000000ull) {
        x = (double)b / 1e6;
        snprintf(buf, cap, x == (double)(uint64_t)x ? "%.0fM" : "%.2fM", x);
    } else if (b >= 1000ull) {
        snprintf(buf, cap, "%.0fK", (double)b / 1e3);
    } else {
        snprintf(buf, cap, "%llu", (unsigned long long)b);
    }
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* The quantization of the file: general.file_type, else the type holding most bytes of
 * the matrices. */
static void card_quant(struct model_card *c, const hy_model *m)
{
    char val[64];
    const char *ft = meta_value(m, "general.file_type", val, sizeof val);
    const char *name = ft ? ftype_name(strtol(ft, NULL, 10)) : NULL;
    if (name) {
        snprintf(c->quant, sizeof c->quant, "%s", name);
        return;
    }
    struct {
        const char *type;
        uint64_t bytes;
    } seen[16];
    int n_seen = 0, best = -1;
    int nt = hy_model_tensor_count(m);
    for (int i = 0; i < nt; i++) {
        struct hy_tensor_info ti;
        if (hy_model_tensor_info(m, i, &ti) || ti.n_dims < 2)
            continue;
        int k = 0;
        while (k < n_seen && strcmp(seen[k].type, ti.type))
            k++;
        if (k == n_seen) {
            if (n_seen == 16)
                continue;
            seen[n_seen].type = ti.type;
            seen[n_seen++].bytes = 0;
        }
        seen[k].bytes += ti.bytes;
        if (best < 0 || seen[k].bytes > seen[best].bytes)
            best = k;
    }
    snprintf(c->quant, sizeof c->quant, "%s", best >= 0 ? seen[best].type : "unknown");
}

int model_card_init(struct model_card *c, const hy_model *m, const char *path, const char *name)
{
    memset(c, 0, sizeof *c);
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t bl = strlen(base);
    if (bl > 5 && !strcmp(base + bl - 5, ".gguf"))
        bl -= 5;
    if (name && *name)
        snprintf(c->name, sizeof c->name, "%s", name);
    else
        snprintf(c->name, sizeof c->name, "%.*s", (int)(bl < 255 ? bl : 255), base);
    struct stat st;
    if (stat(path, &st) == 0) {
        c->size = (uint64_t)st.st_size;
        c->mtime = (int64_t)st.st_mtime;
    }
    struct tm tm;
    time_t mt = (time_t)c->mtime;
    gmtime_r(&mt, &tm);
    strftime(c->modified_at, sizeof c->modified_at, "%Y-%m-%dT%H:%M:%SZ", &tm);
    char real[PATH_MAX];
    const char *id = realpath(path, real) ? real : path;
    for (int k = 0; k < 4; k++) {
        uint64_t h = fnv1a(0xcbf29ce484222325ull + (uint64_t)k, id, strlen(id));
        h = fnv1a(h, &c->size, sizeof c->size);
        h = fnv1a(h, &c->mtime, sizeof c->mtime);
        snprintf(c->digest + 16 * k, 17, "%016llx", (unsigned long long)h);
    }
    struct hy_model_desc d;
    hy_model_describe(m, &d);
    c->n_vocab = d.n_vocab;
    snprintf(c->family, sizeof c->family, "%s", d.arch ? d.arch : "");
    uint64_t n_params = d.n_params;
    if (!n_params) {
        int nt = hy_model_tensor_count(m);
        for (int i = 0; i < nt; i++) {
            struct hy_tensor_info ti;
            if (hy_model_tensor_info(m, i, &ti))
                continue;
            uint64_t e = 1;
            for (int k = 0; k < ti.n_dims && k < 4; k++)
                e *= (uint64_t)ti.ne[k];
            n_params += e;
        }
    }
    human_number(n_params, c->parameter_size, sizeof c->parameter_size);
    card_quant(c, m);
    c->tmpl = hy_model_meta_str(m, "tokenizer.chat_template");
    c->chat_tmpl = c->tmpl;
    if (!c->tmpl) {
        c->chat_tmpl = "chatml";
        LOG_INFO("serve: %s has no chat template: chat requests are rendered as ChatML", c->name);
    }
    return 0;
}

cJSON *model_card_details(const struct model_card *c)
{
    cJSON *d = cJSON_CreateObject();
    cJSON_AddStringToObject(d, "parent_model", "");
    cJSON_AddStringToObject(d, "format", "gguf");
    cJSON_AddStringToObject(d, "family", c->family);
    cJSON *f = cJSON_AddArrayToObject(d, "families");
    cJSON_AddItemToArray(f, cJSON_CreateString(c->family));
    cJSON_AddStringToObject(d, "parameter_size", c->parameter_size);
    cJSON_AddStringToObject(d, "quantization_level", c->quant);
    return d;
}

/* A rendered metadata value as JSON: numbers and booleans as such, arrays null */
static cJSON *meta_json(const char *text)
{
    if (text[0] == '[')
        return cJSON_CreateNull();
    if (!strcmp(text, "true") || !strcmp(text, "false"))
        return cJSON_CreateBool(text[0] == 't');
    char *end;
    double d = strtod(text, &end);
    if (end != text && !*end) {
        bool integral = strspn(text, "-0123456789") == strlen(text);
        return integral ? cJSON_CreateRaw(text) : cJSON_CreateNumber(d);
    }
    return cJSON_CreateString(text);
}

cJSON *model_card_info(const hy_model *m)
{
    cJSON *o = cJSON_CreateObject();
    int64_t n = hy_model_meta_count(m);
    char val[256];
    for (int64_t i = 0; i < n; i++) {
        const char *k = hy_model_meta(m, i, val, sizeof val);
        if (!k)
            continue;
        const char *s = hy_model_meta_str(m, k);
        if (s) {
            char *c = hy_utf8_clean(s);
            cJSON_AddStringToObject(o, k, c ? c : "");
            free(c);
        } else {
            cJSON_AddItemToObject(o, k, meta_json(val));
        }
    }
    return o;
}

/* ---- prompts ---------------------------------------------------------------------------- */

int srv_tokenize(struct hy_server *s, const char *text, hy_token **out)
{
    *out = NULL;
    size_t len = strlen(text);
    int n = hy_tokenize(s->m, text, len, true, true, NULL, 0);
    if (n <= 0)
        return n < 0 ? n : -EINVAL;
    hy_token *ids = malloc(sizeof *ids * (size_t)n);
    if (!ids)
        return -ENOMEM;
    hy_tokenize(s->m, text, len, true, true, ids, n);
    *out = ids;
    return n;
}

int srv_chat_tokenize(struct hy_server *s, const struct hy_chat_message *msgs, size_t n, hy_token **out)
{
    *out = NULL;
    int k = hy_chat_tokenize(s->m, s->card.chat_tmpl, msgs, n, true, NULL, 0);
    if (k <= 0)
        return k < 0 ? k : -EINVAL;
    hy_token *ids = malloc(sizeof *ids * (size_t)k);
    if (!ids)
        return -ENOMEM;
    hy_chat_tokenize(s->m, s->card.chat_tmpl, msgs, n, true, ids, k);
    *out = ids;
    return k;
}

bool srv_check_prompt(struct req *r, int n_prompt, const struct gen_opts *g, enum MHD_Result *mr)
{
    int ctx = engine_n_ctx(r->srv->eng);
    if (g->n_ctx > 0 && g->n_ctx < ctx)
        ctx = g->n_ctx;
    if (n_prompt < ctx)
        return true;
    *mr = reply_error(r, 400, "the prompt has %d tokens; the context holds %d (num_ctx, or the "
                      "server's --ctx-size)", n_prompt, ctx);
    return false;
}

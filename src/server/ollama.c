/* The Ollama API (github.com/ollama/ollama docs/api.md): /, /api/version, /api/tags,
 * /api/ps, /api/show, /api/generate, /api/chat. Streams are NDJSON, one object a line,
 * the last with done true, done_reason and the timings in nanoseconds (measured: total
 * from the request's arrival, load = waiting for a sequence slot, prompt, generation).
 *
 * Any model name is served by the loaded model, as llama-server does. What is not built
 * yet (images, format, tools, templates in the request, embeddings) is refused with a 400
 * (501 for the embedding routes) that says so, never silently ignored. */
#include "server/server.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The version of the Ollama API this server speaks, for clients that check it. */
#define OLLAMA_API_VERSION "0.12.0"

static enum MHD_Result api_root(struct req *r)
{
    return reply_raw(r, 200, "text/plain; charset=utf-8", "Ollama is running", 17);
}

static enum MHD_Result api_version(struct req *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "version", OLLAMA_API_VERSION);
    return reply_json(r, 200, o);
}

static cJSON *model_entry(const struct model_card *c)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "name", c->name);
    cJSON_AddStringToObject(m, "model", c->name);
    cJSON_AddStringToObject(m, "modified_at", c->modified_at);
    json_add_int(m, "size", (long long)c->size);
    cJSON_AddStringToObject(m, "digest", c->digest);
    cJSON_AddItemToObject(m, "details", model_card_details(c));
    return m;
}

static enum MHD_Result api_tags(struct req *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON *a = cJSON_AddArrayToObject(o, "models");
    cJSON_AddItemToArray(a, model_entry(&r->srv->card));
    return reply_json(r, 200, o);
}

/* Running models: the one served, once placed, with the bytes on each tier. */
static enum MHD_Result api_ps(struct req *r)
{
    struct hy_server *s = r->srv;
    cJSON *o = cJSON_CreateObject();
    cJSON *a = cJSON_AddArrayToObject(o, "models");
    struct engine *eng = s->eng;
    const hy_plan *pl = eng ? hy_model_plan(s->m) : NULL;
    if (eng) {
        struct hy_plan_info pi = {0};
        if (pl)
            hy_plan_get_info(pl, &pi);
        cJSON *m = model_entry(&s->card);
        cJSON_AddStringToObject(m, "expires_at", "9999-12-31T23:59:59Z"); /* never unloaded */
        cJSON_DeleteItemFromObject(m, "size"); /* the memory it takes, not the file's size */
        json_add_int(m, "size", (long long)(pl ? pi.ram_used + pi.gpu_used : s->card.size));
        json_add_int(m, "size_vram", (long long)(pl ? pi.gpu_used : 0));
        json_add_int(m, "context_length", engine_n_ctx(eng));
        /* beyond Ollama: where the weights are and what the server is doing */
        cJSON *h = cJSON_AddObjectToObject(m, "hypura");
        cJSON *t = cJSON_AddObjectToObject(h, "tier_bytes");
        json_add_int(t, "gpu", (long long)pi.tier_bytes[0]);
        json_add_int(t, "ram", (long long)pi.tier_bytes[1]);
        json_add_int(t, "disk", (long long)pi.tier_bytes[2]);
        cJSON_AddStringToObject(h, "plan_mode", pl ? pi.mode : "mmap");
        json_add_int(h, "ram_budget", (long long)hy_model_ram_budget(s->m));
        struct engine_stats es;
        engine_get_stats(eng, &es);
        json_add_int(h, "parallel", es.n_slots);
        json_add_int(h, "busy", es.n_busy);
        json_add_int(h, "queued", es.n_queued);
        json_add_int(h, "requests", (long long)es.n_jobs);
        json_add_int(h, "prompt_tokens", (long long)es.n_prompt_tokens);
        json_add_int(h, "prompt_tokens_evaluated", (long long)es.n_prompt_eval);
        json_add_int(h, "generated_tokens", (long long)es.n_gen_tokens);
        cJSON_AddItemToArray(a, m);
    }
    return reply_json(r, 200, o);
}

static enum MHD_Result api_show(struct req *r)
{
    enum MHD_Result mr;
    cJSON *b = req_json(r, &mr);
    if (!b)
        return mr;
    char err[256];
    const char *model = NULL, *name = NULL;
    if (jstr(b, "model", &model, err, sizeof err) < 0 || jstr(b, "name", &name, err, sizeof err) < 0) {
        cJSON_Delete(b);
        return reply_error(r, 400, "%s", err);
    }
    cJSON_Delete(b);
    const struct model_card *c = &r->srv->card;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "license", "");
    char mf[512];
    snprintf(mf, sizeof mf, "# served by hypura from %s\nFROM %s\n", r->srv->path, r->srv->path);
    json_add_text(o, "modelfile", mf, strlen(mf));
    cJSON_AddStringToObject(o, "parameters", "");
    json_add_text(o, "template", c->tmpl ? c->tmpl : "", c->tmpl ? strlen(c->tmpl) : 0);
    cJSON_AddItemToObject(o, "details", model_card_details(c));
    cJSON_AddItemToObject(o, "model_info", model_card_info(r->srv->m));
    cJSON *cap = cJSON_AddArrayToObject(o, "capabilities");
    cJSON_AddItemToArray(cap, cJSON_CreateString("completion"));
    cJSON_AddStringToObject(o, "modified_at", c->modified_at);
    return reply_json(r, 200, o);
}

static enum MHD_Result api_embed(struct req *r)
{
    return reply_error(r, 501, "embeddings are not supported yet");
}

/* ---- generation ------------------------------------------------------------------------ */

/* Ollama's defaults (api/types.go DefaultOptions). */
static void ollama_defaults(struct gen_opts *g)
{
    memset(g, 0, sizeof *g);
    g->smp = hy_sampler_default_params();
    g->smp.temp = 0.8f;
    g->smp.top_k = 40;
    g->smp.top_p = 0.9f;
    g->smp.min_p = 0.0f;
    g->smp.repeat_penalty = 1.1f;
    g->smp.repeat_last_n = 64;
    g->n_predict = -1;
}

/* The request's options object into g: -1 with err on a bad one. Options hypura does not
 * have (mirostat, typical_p, ...) are ignored, as Ollama ignores unknown ones. */
static int ollama_options(const cJSON *b, struct gen_opts *g, int n_ctx, char *err, size_t cap)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(b, "options");
    if (!o || cJSON_IsNull(o))
        return 0;
    if (!cJSON_IsObject(o)) {
        snprintf(err, cap, "'options' must be an object");
        return -1;
    }
    double d;
    long long v;
    int rc;
    if ((rc = jnum(o, "temperature", 0, 100, &d, err, cap)) < 0)
        return -1;
    if (!rc)
        g->smp.temp = (float)d;
    if ((rc = jint(o, "top_k", -1, INT_MAX, &v, err, cap)) < 0)
        return -1;
    if (!rc)
        g->smp.top_k = (int)v;
    if ((rc = jnum(o, "top_p", 0, 1, &d, err, cap)) < 0)
        return -1;
    if (!rc)
        g->smp.top_p = (float)d;
    if ((rc = jnum(o, "min_p", 0, 1, &d, err, cap)) < 0)
        return -1;
    if (!rc)
        g->smp.min_p = (float)d;
    if ((rc = jint(o, "seed", -(1ll << 53), 1ll << 53, &v, err, cap)) < 0)
        return -1;
    if (!rc && v >= 0) {
        g->smp.seed = (uint64_t)v;
        g->seed_set = true;
    }
    if ((rc = jint(o, "num_predict", -2, INT_MAX, &v, err, cap)) < 0)
        return -1;
    if (!rc)
        g->n_predict = v < 0 ? -1 : (int)v;
    if ((rc = jint(o, "num_ctx", 1, INT_MAX, &v, err, cap)) < 0)
        return -1;
    if (!rc)
        g->n_ctx = (int)v;
    if ((rc = jnum(o, "repeat_penalty", 0, 100, &d, err, cap)) < 0)
        return -1;
    if (!rc)
        g->smp.repeat_penalty = (float)d;
    if ((rc = jint(o, "repeat_last_n", -1, INT_MAX, &v, err, cap)) < 0)
        return -1;
    if (!rc)
        g->smp.repeat_last_n = v < 0 ? n_ctx : (int)v;
    return jstop(o, "stop", 64, g, err, cap) < 0 ? -1 : 0;
}

/* What is not built yet, refused rather than ignored; 0 or -1 with err. */
static int refuse_unsupported(const cJSON *b, char *err, size_t cap)
{
    const cJSON *v;
    if ((v = cJSON_GetObjectItemCaseSensitive(b, "images")) && !cJSON_IsNull(v) &&
        !(cJSON_IsArray(v) && !cJSON_GetArraySize(v))) {
        snprintf(err, cap, "images are not supported: hypura serves text models only");
        return -1;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(b, "format")) && !cJSON_IsNull(v) &&
        !(cJSON_IsString(v) && !*v->valuestring)) {
        snprintf(err, cap, "'format' (structured output) is not supported yet");
        return -1;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(b, "tools")) && !cJSON_IsNull(v) &&
        !(cJSON_IsArray(v) && !cJSON_GetArraySize(v))) {
        snprintf(err, cap, "'tools' are not supported yet");
        return -1;
    }
    static const char *const strs[] = {"suffix", "template"};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        if ((v = cJSON_GetObjectItemCaseSensitive(b, strs[i])) && !cJSON_IsNull(v) &&
            !(cJSON_IsString(v) && !*v->valuestring)) {
            snprintf(err, cap, "'%s' is not supported", strs[i]);
            return -1;
        }
    return 0;
}

static void add_timings(cJSON *o, const struct job *j)
{
    json_add_int(o, "total_duration", (long long)((j->t_end - j->t_arrive) * 1e9));
    json_add_int(o, "load_duration", (long long)((j->t_start - j->t_arrive) * 1e9));
    json_add_int(o, "prompt_eval_count", j->n_prompt);
    json_add_int(o, "prompt_eval_duration", (long long)((j->t_prompt_end - j->t_start) * 1e9));
    json_add_int(o, "eval_count", j->n_gen);
    json_add_int(o, "eval_duration", (long long)((j->t_end - j->t_prompt_end) * 1e9));
}

/* An object of a generate (chat false) or chat reply carrying text. */
static cJSON *reply_object(struct hy_server *s, bool chat, const char *text, size_t n, bool done)
{
    cJSON *o = cJSON_CreateObject();
    char ts[48];
    rfc3339_now(ts, sizeof ts);
    cJSON_AddStringToObject(o, "model", s->card.name);
    cJSON_AddStringToObject(o, "created_at", ts);
    if (chat) {
        cJSON *m = cJSON_AddObjectToObject(o, "message");
        cJSON_AddStringToObject(m, "role", "assistant");
        json_add_text(m, "content", text, n);
    } else {
        json_add_text(o, "response", text, n);
    }
    cJSON_AddBoolToObject(o, "done", done);
    return o;
}

/* The last object: done, why, timings (and for generate the context: prompt and reply ids). */
static cJSON *final_object(struct hy_server *s, bool chat, const struct job *j, const char *text,
                           size_t n)
{
    cJSON *o = reply_object(s, chat, text, n, true);
    cJSON_AddStringToObject(o, "done_reason", j->done_reason ? j->done_reason : "stop");
    if (!chat) {
        cJSON *c = cJSON_AddArrayToObject(o, "context");
        for (int i = 0; i < j->n_prompt; i++)
            cJSON_AddItemToArray(c, cJSON_CreateNumber(j->prompt[i]));
        for (int i = 0; i < j->n_gen; i++)
            cJSON_AddItemToArray(c, cJSON_CreateNumber(j->gen[i]));
    }
    add_timings(o, j);
    return o;
}

static int ndjson(struct stream *st, const char *text, size_t n, bool final, bool chat)
{
    struct hy_server *s = st->r->srv;
    if (!final)
        return stream_add_json(st, "", reply_object(s, chat, text, n, false), "\n");
    if (*st->j->error) {
        cJSON *e = cJSON_CreateObject();
        json_add_text(e, "error", st->j->error, strlen(st->j->error));
        return stream_add_json(st, "", e, "\n");
    }
    return stream_add_json(st, "", final_object(s, chat, st->j, "", 0), "\n");
}

static int ndjson_generate(struct stream *st, const char *text, size_t n, bool final)
{
    return ndjson(st, text, n, final, false);
}

static int ndjson_chat(struct stream *st, const char *text, size_t n, bool final)
{
    return ndjson(st, text, n, final, true);
}

/* Queue the prompt and answer: a stream, or one object once the job is done. Takes ids
 * and g. */
static enum MHD_Result run_job(struct req *r, hy_token *ids, int n, struct gen_opts *g, bool stream,
                               bool chat)
{
    enum MHD_Result mr;
    if (!srv_check_prompt(r, n, g, &mr)) {
        free(ids);
        gen_opts_free(g);
        return mr;
    }
    struct job *j = job_new(ids, n, g, r->t_arrive);
    free(ids);
    if (!j) {
        gen_opts_free(g);
        return reply_error(r, 500, "out of memory");
    }
    int rc = engine_submit(r->srv->eng, j);
    if (rc)
        return reply_submit_error(r, j, rc);
    if (stream)
        return reply_stream(r, j, "application/x-ndjson", chat ? ndjson_chat : ndjson_generate, NULL);
    if (!req_wait_job(r, j)) {
        job_unref(j);
        return MHD_NO; /* the client is gone */
    }
    if (*j->error) {
        mr = reply_error(r, 500, "%s", j->error);
    } else {
        mr = reply_json(r, 200, final_object(r->srv, chat, j, j->text, j->len));
    }
    job_unref(j);
    return mr;
}

/* The answer to a request with nothing to generate: Ollama loads the model then. */
static enum MHD_Result load_reply(struct req *r, bool chat)
{
    cJSON *o = reply_object(r->srv, chat, "", 0, true);
    cJSON_AddStringToObject(o, "done_reason", "load");
    return reply_json(r, 200, o);
}

/* The fields both routes read: 0, or -1 with err. */
static int common_fields(const cJSON *b, struct hy_server *s, struct gen_opts *g, bool *stream,
                         char *err, size_t cap)
{
    const char *model;
    ollama_defaults(g);
    if (jstr(b, "model", &model, err, cap) < 0 || jbool(b, "stream", stream, err, cap) < 0 ||
        ollama_options(b, g, engine_n_ctx(s->eng), err, cap) < 0 || refuse_unsupported(b, err, cap) < 0)
        return -1;
    return 0;
}

/* context: ids of an earlier generate's reply, evaluated before the new prompt */
static int context_ids(const cJSON *b, struct hy_server *s, hy_token **out, int *n, char *err, size_t cap)
{
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(b, "context");
    *out = NULL;
    *n = 0;
    if (!c || cJSON_IsNull(c))
        return 0;
    if (!cJSON_IsArray(c)) {
        snprintf(err, cap, "'context' must be an array of token ids");
        return -1;
    }
    int k = cJSON_GetArraySize(c);
    if (k > engine_n_ctx(s->eng)) {
        snprintf(err, cap, "'context' has %d tokens; the context holds %d", k, engine_n_ctx(s->eng));
        return -1;
    }
    hy_token *ids = malloc(sizeof *ids * (size_t)(k ? k : 1));
    if (!ids) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, c) {
        if (!cJSON_IsNumber(e) || e->valuedouble < 0 || e->valuedouble >= s->card.n_vocab ||
            e->valuedouble != (double)(int)e->valuedouble) {
            free(ids);
            snprintf(err, cap, "'context' holds something that is not a token id");
            return -1;
        }
        ids[(*n)++] = (hy_token)e->valueint;
    }
    *out = ids;
    return 0;
}

/* The prompt's ids: the context, then the prompt (through the chat template unless raw or
 * the model has none: then as `hypura run -p` tokenizes it). */
static int generate_ids(struct hy_server *s, const char *prompt, const char *system, bool raw,
                        hy_token *ctx, int n_ctx_ids, hy_token **out)
{
    hy_token *p = NULL;
    int n;
    if (raw || !s->card.tmpl) {
        n = srv_tokenize(s, prompt, &p);
    } else {
        struct hy_chat_message msgs[2] = {{"system", system}, {"user", prompt}};
        n = system ? srv_chat_tokenize(s, msgs, 2, &p) : srv_chat_tokenize(s, msgs + 1, 1, &p);
    }
    if (n < 0 || !n_ctx_ids) {
        *out = p;
        return n;
    }
    /* after a context the prompt's leading BOS would be one too many */
    int skip = p[0] == hy_token_bos(s->m) ? 1 : 0;
    hy_token *all = malloc(sizeof *all * (size_t)(n_ctx_ids + n));
    if (all) {
        memcpy(all, ctx, sizeof *all * (size_t)n_ctx_ids);
        memcpy(all + n_ctx_ids, p + skip, sizeof *all * (size_t)(n - skip));
    }
    free(p);
    *out = all;
    return all ? n_ctx_ids + n - skip : -1;
}

static enum MHD_Result api_generate(struct req *r)
{
    enum MHD_Result mr;
    cJSON *b = req_json(r, &mr);
    if (!b)
        return mr;
    struct hy_server *s = r->srv;
    char err[256];
    struct gen_opts g;
    const char *prompt = NULL, *system = NULL;
    bool stream = true, raw = false;
    hy_token *ctx = NULL, *ids = NULL;
    int n_ctx_ids = 0, n = -1;
    if (common_fields(b, s, &g, &stream, err, sizeof err) < 0 ||
        jstr(b, "prompt", &prompt, err, sizeof err) < 0 || jstr(b, "system", &system, err, sizeof err) < 0 ||
        jbool(b, "raw", &raw, err, sizeof err) < 0 || context_ids(b, s, &ctx, &n_ctx_ids, err, sizeof err) < 0) {
        mr = reply_error(r, 400, "%s", err);
    } else if (!prompt && !n_ctx_ids) {
        mr = load_reply(r, false);
    } else if (!prompt || !*prompt) {
        mr = reply_error(r, 400, "'prompt' is empty");
    } else if ((n = generate_ids(s, prompt, system, raw, ctx, n_ctx_ids, &ids)) <= 0) {
        mr = reply_error(r, 400, "cannot tokenize the prompt: %s", hy_last_error());
    } else {
        mr = run_job(r, ids, n, &g, stream, false);
        ids = NULL;
    }
    if (n <= 0)
        gen_opts_free(&g);
    free(ids);
    free(ctx);
    cJSON_Delete(b);
    return mr;
}

/* messages into (role, content) pairs pointing into b; NULL with err on a bad one. */
static struct hy_chat_message *chat_messages(const cJSON *b, int *n, char *err, size_t cap)
{
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(b, "messages");
    *n = 0;
    if (!ms || cJSON_IsNull(ms))
        return calloc(1, sizeof(struct hy_chat_message));
    if (!cJSON_IsArray(ms)) {
        snprintf(err, cap, "'messages' must be an array");
        return NULL;
    }
    int k = cJSON_GetArraySize(ms);
    struct hy_chat_message *msgs = calloc((size_t)(k ? k : 1), sizeof *msgs);
    if (!msgs) {
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    const cJSON *m;
    cJSON_ArrayForEach(m, ms) {
        const char *role = NULL, *content = "";
        int rc = cJSON_IsObject(m) ? 0 : -1;
        if (!rc && jstr(m, "role", &role, err, cap) != 0)
            rc = -1;
        if (!rc && jstr(m, "content", &content, err, cap) < 0)
            rc = -1;
        if (!rc && refuse_unsupported(m, err, cap) < 0)
            rc = -1;
        if (rc) {
            if (!role || !cJSON_IsObject(m))
                snprintf(err, cap, "messages[%d] must be an object with a 'role' string and a "
                         "'content' string", *n);
            free(msgs);
            return NULL;
        }
        msgs[*n].role = role;
        msgs[(*n)++].content = content;
    }
    return msgs;
}

static enum MHD_Result api_chat(struct req *r)
{
    enum MHD_Result mr;
    cJSON *b = req_json(r, &mr);
    if (!b)
        return mr;
    struct hy_server *s = r->srv;
    char err[256];
    struct gen_opts g;
    bool stream = true;
    int n_msgs = 0, n = -1;
    struct hy_chat_message *msgs = NULL;
    hy_token *ids = NULL;
    if (common_fields(b, s, &g, &stream, err, sizeof err) < 0 ||
        !(msgs = chat_messages(b, &n_msgs, err, sizeof err))) {
        mr = reply_error(r, 400, "%s", err);
    } else if (!n_msgs) {
        mr = load_reply(r, true);
    } else if ((n = srv_chat_tokenize(s, msgs, (size_t)n_msgs, &ids)) <= 0) {
        mr = reply_error(r, 400, "cannot render the conversation: %s", hy_last_error());
    } else {
        mr = run_job(r, ids, n, &g, stream, true);
    }
    if (n <= 0)
        gen_opts_free(&g);
    free(msgs);
    cJSON_Delete(b);
    return mr;
}

const struct route ollama_routes[] = {
    {"GET", "/", API_OLLAMA, api_root, false, false},
    {"GET", "/api/version", API_OLLAMA, api_version, false, false},
    {"GET", "/api/tags", API_OLLAMA, api_tags, false, false},
    {"GET", "/api/ps", API_OLLAMA, api_ps, false, false},
    {"POST", "/api/show", API_OLLAMA, api_show, false, false},
    {"POST", "/api/generate", API_OLLAMA, api_generate, true, false},
    {"POST", "/api/chat", API_OLLAMA, api_chat, true, false},
    {"POST", "/api/embed", API_OLLAMA, api_embed, false, false},
    {"POST", "/api/embeddings", API_OLLAMA, api_embed, false, false},
    {0},
};

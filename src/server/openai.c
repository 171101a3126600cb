/* The OpenAI API (platform.openai.com/docs/api-reference): GET /v1/models (and
 * /v1/models/ID), POST /v1/chat/completions and /v1/completions. Streams are server-sent
 * events, a chunk per piece of text, then one with the finish reason, then (with
 * stream_options.include_usage) one with the usage, then `data: [DONE]`. Errors are
 * OpenAI's error object. Any model name is served by the loaded model.
 *
 * Not built yet, and refused with a 400 that says so: n > 1, logprobs, response_format
 * other than text, tools, images. */
#include "server/server.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static cJSON *model_object(const struct model_card *c, const char *id)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", id);
    cJSON_AddStringToObject(m, "object", "model");
    json_add_int(m, "created", (long long)c->mtime);
    cJSON_AddStringToObject(m, "owned_by", "hypura");
    return m;
}

static enum MHD_Result v1_models(struct req *r)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON *a = cJSON_AddArrayToObject(o, "data");
    cJSON_AddItemToArray(a, model_object(&r->srv->card, r->srv->card.name));
    return reply_json(r, 200, o);
}

/* /v1/models/ID: any name is the loaded model */
static enum MHD_Result v1_model(struct req *r)
{
    const char *id = r->url + strlen("/v1/models/");
    char *c = hy_utf8_clean(id);
    enum MHD_Result mr = reply_json(r, 200, model_object(&r->srv->card, c ? c : ""));
    free(c);
    return mr;
}

/* ---- requests ------------------------------------------------------------------------- */

struct oai_req {
    struct gen_opts g;
    bool stream, include_usage, chat;
    bool sent_role;         /* streaming: the first chunk went out */
    char id[40];
    long long created;
};

static void oai_defaults(struct oai_req *q, bool chat)
{
    memset(q, 0, sizeof *q);
    q->chat = chat;
    q->g.smp = hy_sampler_default_params();
    q->g.smp.temp = 1.0f;
    q->g.smp.top_k = 0;
    q->g.smp.top_p = 1.0f;
    q->g.smp.min_p = 0.0f;
    q->g.smp.repeat_penalty = 1.0f;
    q->g.n_predict = chat ? -1 : 16; /* the legacy completions endpoint's default */
    static _Atomic unsigned long long ctr;
    unsigned long long k = ++ctr ^ ((unsigned long long)time(NULL) << 20);
    snprintf(q->id, sizeof q->id, "%s%016llx", chat ? "chatcmpl-" : "cmpl-", k * 0x9e3779b97f4a7c15ull);
    q->created = (long long)time(NULL);
}

/* What is not built yet: 0, or -1 with err. Fields a client sends with their neutral
 * value (n 1, logprobs false, tools []) pass. */
static int refuse_unsupported(const cJSON *b, char *err, size_t cap)
{
    const cJSON *v;
    long long n = 1;
    bool lp = false;
    if (jint(b, "n", 1, 1, &n, err, cap) < 0) {
        snprintf(err, cap, "'n' other than 1 is not supported");
        return -1;
    }
    if (jbool(b, "logprobs", &lp, err, cap) < 0 || lp) {
        snprintf(err, cap, "'logprobs' is not supported yet");
        return -1;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(b, "tools")) && !cJSON_IsNull(v) &&
        !(cJSON_IsArray(v) && !cJSON_GetArraySize(v))) {
        snprintf(err, cap, "'tools' are not supported yet");
        return -1;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(b, "response_format")) && !cJSON_IsNull(v)) {
        const cJSON *t = cJSON_IsObject(v) ? cJSON_GetObjectItemCaseSensitive(v, "type") : NULL;
        if (!cJSON_IsString(t) || strcmp(t->valuestring, "text")) {
            snprintf(err, cap, "'response_format' other than text is not supported yet");
            return -1;
        }
    }
    return 0;
}

/* The fields both routes read: 0, or -1 with err. */
static int oai_fields(const cJSON *b, struct oai_req *q, char *err, size_t cap)
{
    const char *model;
    double d;
    long long v;
    int rc;
    if (jstr(b, "model", &model, err, cap) < 0 || jbool(b, "stream", &q->stream, err, cap) < 0 ||
        refuse_unsupported(b, err, cap) < 0)
        return -1;
    if ((rc = jnum(b, "temperature", 0, 2, &d, err, cap)) < 0)
        return -1;
    if (!rc)
        q->g.smp.temp = (float)d;
    if ((rc = jnum(b, "top_p", 0, 1, &d, err, cap)) < 0)
        return -1;
    if (!rc)
        q->g.smp.top_p = (float)d;
    if ((rc = jint(b, "seed", LLONG_MIN / 2, LLONG_MAX / 2, &v, err, cap)) < 0)
        return -1;
    if (!rc) {
        q->g.smp.seed = (uint64_t)v;
        q->g.seed_set = true;
    }
    static const char *const max_keys[] = {"max_tokens", "max_completion_tokens"};
    for (int k = 0; k < 2; k++) {
        if ((rc = jint(b, max_keys[k], 0, INT_MAX, &v, err, cap)) < 0)
            return -1;
        if (!rc)
            q->g.n_predict = (int)v;
    }
    /* presence_penalty, frequency_penalty: checked, not applied (hypura's sampler has the
     * repeat penalty only); accepted so that clients sending 0 work */
    if (jnum(b, "presence_penalty", -2, 2, &d, err, cap) < 0 || jnum(b, "frequency_penalty", -2, 2, &d, err, cap) < 0)
        return -1;
    if (jstop(b, "stop", 4, &q->g, err, cap) < 0)
        return -1;
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(b, "stream_options");
    if (so && !cJSON_IsNull(so)) {
        if (!cJSON_IsObject(so) || jbool(so, "include_usage", &q->include_usage, err, cap) < 0) {
            snprintf(err, cap, "'stream_options' must be an object with 'include_usage' true or false");
            return -1;
        }
    }
    return 0;
}

/* A message's content: a string, or an array of text parts (joined); images refused. */
static int content_text(const cJSON *c, char **out, char *err, size_t cap)
{
    *out = NULL;
    if (!c || cJSON_IsNull(c))
        return (*out = strdup("")) ? 0 : -1;
    if (cJSON_IsString(c))
        return (*out = strdup(c->valuestring)) ? 0 : -1;
    if (!cJSON_IsArray(c)) {
        snprintf(err, cap, "a message's 'content' must be a string or an array of parts");
        return -1;
    }
    size_t len = 0;
    const cJSON *p;
    cJSON_ArrayForEach(p, c) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "type");
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(p, "text");
        if (!cJSON_IsString(t) || strcmp(t->valuestring, "text") || !cJSON_IsString(x)) {
            snprintf(err, cap, cJSON_IsString(t) && strstr(t->valuestring, "image")
                                   ? "images are not supported: hypura serves text models only"
                                   : "a content part must be {\"type\": \"text\", \"text\": ...}");
            return -1;
        }
        len += strlen(x->valuestring);
    }
    char *s = malloc(len + 1);
    if (!s)
        return -1;
    size_t o = 0;
    cJSON_ArrayForEach(p, c) {
        const char *x = cJSON_GetObjectItemCaseSensitive(p, "text")->valuestring;
        memcpy(s + o, x, strlen(x));
        o += strlen(x);
    }
    s[o] = 0;
    *out = s;
    return 0;
}

static void free_messages(struct hy_chat_message *m, int n)
{
    for (int i = 0; m && i < n; i++)
        free((char *)m[i].content);
    free(m);
}

/* messages: roles as given (developer as system), content as text; NULL with err. */
static struct hy_chat_message *oai_messages(const cJSON *b, int *n, char *err, size_t cap)
{
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(b, "messages");
    *n = 0;
    if (!cJSON_IsArray(ms) || !cJSON_GetArraySize(ms)) {
        snprintf(err, cap, "'messages' must be a non-empty array");
        return NULL;
    }
    struct hy_chat_message *msgs = calloc((size_t)cJSON_GetArraySize(ms), sizeof *msgs);
    if (!msgs) {
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    const cJSON *m;
    cJSON_ArrayForEach(m, ms) {
        const char *role = NULL;
        char *text = NULL;
        if (!cJSON_IsObject(m) || jstr(m, "role", &role, err, cap) != 0) {
            snprintf(err, cap, "messages[%d] must be an object with a 'role' string", *n);
            free_messages(msgs, *n);
            return NULL;
        }
        if (content_text(cJSON_GetObjectItemCaseSensitive(m, "content"), &text, err, cap)) {
            free_messages(msgs, *n);
            return NULL;
        }
        msgs[*n].role = !strcmp(role, "developer") ? "system" : role;
        msgs[(*n)++].content = text;
    }
    return msgs;
}

/* ---- responses ------------------------------------------------------------------------ */

static cJSON *oai_base(const struct oai_req *q, const struct model_card *c, bool chunk)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", q->id);
    cJSON_AddStringToObject(o, "object", q->chat ? chunk ? "chat.completion.chunk" : "chat.completion"
                                                 : "text_completion");
    json_add_int(o, "created", q->created);
    cJSON_AddStringToObject(o, "model", c->name);
    cJSON_AddStringToObject(o, "system_fingerprint", "hypura");
    return o;
}

static cJSON *usage(const struct job *j)
{
    cJSON *u = cJSON_CreateObject();
    json_add_int(u, "prompt_tokens", j->n_prompt);
    json_add_int(u, "completion_tokens", j->n_gen);
    json_add_int(u, "total_tokens", j->n_prompt + j->n_gen);
    return u;
}

/* One choice: text (n bytes; NULL: an empty delta), finish reason or null. */
static cJSON *choice(const struct oai_req *q, bool chunk, const char *text, size_t n, bool role,
                     const char *finish)
{
    cJSON *c = cJSON_CreateObject();
    json_add_int(c, "index", 0);
    if (q->chat) {
        cJSON *m = cJSON_AddObjectToObject(c, chunk ? "delta" : "message");
        if (role || !chunk)
            cJSON_AddStringToObject(m, "role", "assistant");
        if (text)
            json_add_text(m, "content", text, n);
    } else {
        json_add_text(c, "text", text ? text : "", text ? n : 0);
    }
    cJSON_AddNullToObject(c, "logprobs");
    if (finish)
        cJSON_AddStringToObject(c, "finish_reason", finish);
    else
        cJSON_AddNullToObject(c, "finish_reason");
    return c;
}

static int sse_chunk(struct stream *st, cJSON *ch)
{
    struct oai_req *q = st->ctx;
    cJSON *o = oai_base(q, &st->r->srv->card, true);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "choices"), ch);
    if (q->include_usage)
        cJSON_AddNullToObject(o, "usage");
    return stream_add_json(st, "data: ", o, "\n\n");
}

static int sse(struct stream *st, const char *text, size_t n, bool final)
{
    struct oai_req *q = st->ctx;
    int rc = 0;
    bool role = !q->sent_role; /* the first chunk of a chat says whose turn it is */
    q->sent_role = true;
    if (!final)
        return sse_chunk(st, choice(q, true, text, n, role, NULL));
    const struct job *j = st->j;
    if (*j->error) {
        cJSON *e = cJSON_CreateObject();
        cJSON *eo = cJSON_AddObjectToObject(e, "error");
        json_add_text(eo, "message", j->error, strlen(j->error));
        cJSON_AddStringToObject(eo, "type", "server_error");
        rc = stream_add_json(st, "data: ", e, "\n\n");
    } else {
        rc = sse_chunk(st, choice(q, true, q->chat ? NULL : "", 0, role,
                                  j->done_reason ? j->done_reason : "stop"));
        if (!rc && q->include_usage) {
            cJSON *o = oai_base(q, &st->r->srv->card, true);
            cJSON_AddArrayToObject(o, "choices");
            cJSON_AddItemToObject(o, "usage", usage(j));
            rc = stream_add_json(st, "data: ", o, "\n\n");
        }
    }
    return rc ? rc : stream_add(st, "data: [DONE]\n\n", 14);
}

/* Queue the prompt and answer, streamed or not. Takes ids, q. */
static enum MHD_Result oai_run(struct req *r, hy_token *ids, int n, struct oai_req *q)
{
    enum MHD_Result mr;
    if (!srv_check_prompt(r, n, &q->g, &mr)) {
        free(ids);
        gen_opts_free(&q->g);
        free(q);
        return mr;
    }
    struct job *j = job_new(ids, n, &q->g, r->t_arrive);
    free(ids);
    q->g.stop = NULL; /* the job's now */
    q->g.n_stop = 0;
    int rc = j ? engine_submit(r->srv->eng, j) : -ENOMEM;
    if (rc) {
        free(q);
        return j ? reply_submit_error(r, j, rc) : reply_error(r, 500, "out of memory");
    }
    if (q->stream)
        return reply_stream(r, j, "text/event-stream", sse, q);
    if (!req_wait_job(r, j)) {
        job_unref(j);
        free(q);
        return MHD_NO;
    }
    if (*j->error) {
        mr = reply_error(r, 500, "%s", j->error);
    } else {
        cJSON *o = oai_base(q, &r->srv->card, false);
        cJSON_AddItemToArray(cJSON_AddArrayToObject(o, "choices"),
                             choice(q, false, j->text, j->len, true, j->done_reason ? j->done_reason : "stop"));
        cJSON_AddItemToObject(o, "usage", usage(j));
        mr = reply_json(r, 200, o);
    }
    job_unref(j);
    free(q);
    return mr;
}

static enum MHD_Result v1_chat(struct req *r)
{
    enum MHD_Result mr;
    cJSON *b = req_json(r, &mr);
    if (!b)
        return mr;
    char err[256];
    struct oai_req *q = malloc(sizeof *q);
    struct hy_chat_message *msgs = NULL;
    int n_msgs = 0, n = -1;
    hy_token *ids = NULL;
    if (!q) {
        mr = reply_error(r, 500, "out of memory");
    } else if (oai_defaults(q, true), oai_fields(b, q, err, sizeof err) < 0 ||
               !(msgs = oai_messages(b, &n_msgs, err, sizeof err))) {
        mr = reply_error(r, 400, "%s", err);
    } else if ((n = srv_chat_tokenize(r->srv, msgs, (size_t)n_msgs, &ids)) <= 0) {
        mr = reply_error(r, 400, "cannot render the conversation: %s", hy_last_error());
    } else {
        mr = oai_run(r, ids, n, q);
    }
    if (n <= 0 && q) {
        gen_opts_free(&q->g);
        free(q);
    }
    free_messages(msgs, n_msgs);
    cJSON_Delete(b);
    return mr;
}

static enum MHD_Result v1_completions(struct req *r)
{
    enum MHD_Result mr;
    cJSON *b = req_json(r, &mr);
    if (!b)
        return mr;
    char err[256];
    struct oai_req *q = malloc(sizeof *q);
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(b, "prompt");
    if (cJSON_IsArray(p) && cJSON_GetArraySize(p) == 1)
        p = cJSON_GetArrayItem(p, 0);
    int n = -1;
    hy_token *ids = NULL;
    if (!q) {
        mr = reply_error(r, 500, "out of memory");
    } else if (oai_defaults(q, false), oai_fields(b, q, err, sizeof err) < 0) {
        mr = reply_error(r, 400, "%s", err);
    } else if (!cJSON_IsString(p)) {
        mr = reply_error(r, 400, "'prompt' must be a string (or an array of one string)");
    } else if (!*p->valuestring) {
        mr = reply_error(r, 400, "'prompt' is empty");
    } else if ((n = srv_tokenize(r->srv, p->valuestring, &ids)) <= 0) {
        mr = reply_error(r, 400, "cannot tokenize the prompt: %s", hy_last_error());
    } else {
        mr = oai_run(r, ids, n, q);
    }
    if (n <= 0 && q) {
        gen_opts_free(&q->g);
        free(q);
    }
    cJSON_Delete(b);
    return mr;
}

const struct route openai_routes[] = {
    {"GET", "/v1/models", API_OPENAI, v1_models, false, false},
    {"GET", "/v1/models/", API_OPENAI, v1_model, false, true},
    {"POST", "/v1/chat/completions", API_OPENAI, v1_chat, true, false},
    {"POST", "/v1/completions", API_OPENAI, v1_completions, true, false},
    {0},
};

/* What the server's files share: the server itself, one HTTP request, replies (JSON,
 * errors in each API's shape, streams of a job), JSON field readers that say what is wrong
 * with a request, and the model's card (name, details, metadata) as the APIs list it.
 *
 * The server is a user of include/hypura.h like any program: it opens and places the model,
 * tokenizes, renders chat templates and reads metadata through the public API. HTTP is
 * libmicrohttpd's (server.c), JSON cJSON's; the generation engine is engine.h; the routes of
 * each API are in ollama.c and openai.c. */
#ifndef HY_SERVER_SERVER_H
#define HY_SERVER_SERVER_H

#include "hypura.h"
#include "server/engine.h"

#include <cjson/cJSON.h>
#include <microhttpd.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The loaded model as the APIs describe it (computed once, when the model is opened). */
struct model_card {
    char name[256];          /* what clients see and /api/tags lists */
    char digest[65];         /* hex: an identity of the file (path, size, mtime), not a hash
                                of its bytes */
    char modified_at[40];    /* RFC 3339, the file's mtime */
    int64_t mtime;           /* unix seconds */
    uint64_t size;           /* the file's bytes */
    char family[64];         /* general.architecture */
    char parameter_size[32]; /* "8.0B", "260.1K" */
    char quant[32];          /* Ollama's spelling: "Q4_K_M", "F16" */
    const char *tmpl;        /* the model's chat template text, or NULL */
    const char *chat_tmpl;   /* what chat requests render with: tmpl, or "chatml" */
    int n_vocab;
};
int model_card_init(struct model_card *c, const hy_model *m, const char *path, const char *name);
/* The "details" object of /api/tags, /api/ps and /api/show. */
cJSON *model_card_details(const struct model_card *c);
/* model_info of /api/show: the GGUF metadata, arrays left out (null) as Ollama does. */
cJSON *model_card_info(const hy_model *m);

enum api { API_PLAIN = 0, API_OLLAMA, API_OPENAI };

struct hy_server {
    struct hy_server_params p;
    char *host, *api_key, *path;    /* owned copies of the params' strings */
    struct MHD_Daemon *d;
    int port;
    hy_model *m;
    struct model_card card;
    struct engine *_Atomic eng;     /* set once the weights are placed */
    _Atomic int state;              /* enum hy_server_state */
    char error[512];
    pthread_t loader;
    bool loader_started;
    double t_load;                  /* seconds placing the weights took */
    _Atomic int n_inflight;         /* requests begun and not yet completed */
    _Atomic bool cut;
    _Atomic unsigned long long n_requests;
};

/* One HTTP request, from its headers to its completion. */
struct req {
    struct hy_server *srv;
    struct MHD_Connection *c;
    const char *url, *method;
    const struct route *route;
    enum api api;
    char *body;                     /* (len) NUL-terminated */
    size_t len, cap;
    bool too_big, replied;
    double t_arrive;
    int status;
};

typedef enum MHD_Result (*route_fn)(struct req *r);
struct route {
    const char *method;             /* "GET" (HEAD too) or "POST" */
    const char *path;
    enum api api;
    route_fn fn;
    bool needs_model;               /* 503 until the weights are placed */
    bool prefix;                    /* path is a prefix (/v1/models/ID) */
};
extern const struct route ollama_routes[], openai_routes[];
/* GET /metrics (metrics.c) */
enum MHD_Result route_metrics(struct req *r);

/* ---- replies (server.c) ---- */
enum MHD_Result reply_raw(struct req *r, int status, const char *ctype, const char *body, size_t len);
/* o is deleted. */
enum MHD_Result reply_json(struct req *r, int status, cJSON *o);
/* An error in the request's API's shape: Ollama {"error": msg}, OpenAI {"error": {"message",
 * "type", "param", "code"}}. */
enum MHD_Result reply_error(struct req *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* The job failed to queue (engine_submit's status): 503 when the queue is full or the
 * server stops. The job is released. */
enum MHD_Result reply_submit_error(struct req *r, struct job *j, int rc);
/* Whether the client closed its connection. */
bool req_gone(struct req *r);
/* Wait for the job to finish while the client stays (false: it went away; the job is then
 * cancelled). */
bool req_wait_job(struct req *r, struct job *j);

/* A stream of a job's text to the client: fmt appends to out what a piece of text becomes
 * on the wire (an NDJSON line, an SSE event) and, once with final set, what ends the
 * stream (the last object, usage, [DONE]; or the error). */
struct stream {
    struct req *r;
    struct job *j;
    size_t off;                     /* job text taken */
    char *out;                      /* (len) wire bytes not yet sent, from pos */
    size_t len, cap, pos;
    bool final, ended;
    int (*fmt)(struct stream *st, const char *text, size_t n, bool final);
    void *ctx;                      /* the route's, freed with free() */
};
/* Reply with a stream (status 200, ctype); takes the job's reference and ctx. */
enum MHD_Result reply_stream(struct req *r, struct job *j, const char *ctype,
                             int (*fmt)(struct stream *, const char *, size_t, bool), void *ctx);
int stream_add(struct stream *st, const char *s, size_t n);
/* Append a JSON value printed on one line, then suffix (o deleted). */
int stream_add_json(struct stream *st, const char *prefix, cJSON *o, const char *suffix);

/* ---- request JSON (srvjson.c) ---- */
/* The body as a JSON object, or NULL with a 400 already sent (*mr). */
cJSON *req_json(struct req *r, enum MHD_Result *mr);
/* Typed fields: 0 = present and right (*out set), 1 = absent (*out untouched), -1 = wrong
 * type or out of range (err says which field and why). */
int jstr(const cJSON *o, const char *key, const char **out, char *err, size_t cap);
int jbool(const cJSON *o, const char *key, bool *out, char *err, size_t cap);
int jnum(const cJSON *o, const char *key, double lo, double hi, double *out, char *err, size_t cap);
int jint(const cJSON *o, const char *key, long long lo, long long hi, long long *out, char *err,
         size_t cap);
/* Stop strings: a string or an array of strings (at most max); they are added to o. */
int jstop(const cJSON *o, const char *key, int max, struct gen_opts *g, char *err, size_t cap);
void gen_opts_free(struct gen_opts *g);
/* Integers in JSON exactly (cJSON prints large doubles with an exponent). */
void json_add_int(cJSON *o, const char *key, long long v);
/* A string made valid UTF-8 (generated text may not be). */
void json_add_text(cJSON *o, const char *key, const char *s, size_t n);
/* Now as RFC 3339 UTC with nanoseconds ("2024-05-01T12:00:00.123456789Z"). */
void rfc3339_now(char *buf, size_t cap);

/* ---- prompts ---- */
/* Tokenize text as `hypura run` does (BOS, special tokens parsed): malloc'ed ids in *out,
 * their count returned, or negative. */
int srv_tokenize(struct hy_server *s, const char *text, hy_token **out);
/* Render messages with the model's chat template and tokenize them (content is never
 * parsed for special tokens). */
int srv_chat_tokenize(struct hy_server *s, const struct hy_chat_message *msgs, size_t n, hy_token **out);
/* The context left for a prompt: 400 sent (false) when the prompt does not fit. */
bool srv_check_prompt(struct req *r, int n_prompt, const struct gen_opts *g, enum MHD_Result *mr);

#endif

/* The HTTP side of `hypura serve` (libmicrohttpd): listening, routing, limits, the API key,
 * replies and streams, and the server's life: the model is opened at start, placed by a
 * loader thread (/health 503 until then), and the server stops by refusing new work and
 * letting what is in flight finish (or cutting it short).
 *
 * libmicrohttpd runs a thread per connection, so a handler may block: a request that does
 * not stream waits for its job in its own thread, and a stream's reader callback waits for
 * the next piece of text. Both look at the client's socket while they wait, so a client
 * that goes away cancels its generation and frees its slot.
 *
 * Not owned here: generation (engine.c), the APIs' shapes (ollama.c, openai.c), the model
 * card and prompts (model_card.c), request JSON (srvjson.c). */
#include "server/server.h"
#include "util/log.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define BODY_MAX_DEFAULT ((size_t)8 << 20)
#define QUEUE_MAX_DEFAULT 64
#define CONN_TIMEOUT_S 120      /* an idle (or stalled) connection is closed after this */
#define WAIT_SLICE_S 0.1        /* how often a waiting request looks at its client */

/* ---- replies ------------------------------------------------------------------------- */

static void add_common_headers(struct req *r, struct MHD_Response *resp, const char *ctype)
{
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (atomic_load(&r->srv->state) == HY_SERVER_STOPPING)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
}

enum MHD_Result reply_raw(struct req *r, int status, const char *ctype, const char *body, size_t len)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    add_common_headers(r, resp, ctype);
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
    enum MHD_Result rc = MHD_queue_response(r->c, (unsigned)status, resp);
    MHD_destroy_response(resp);
    r->status = status;
    r->replied = true;
    return rc;
}

enum MHD_Result reply_json(struct req *r, int status, cJSON *o)
{
    char *js = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!js)
        return reply_raw(r, 500, "application/json", "{\"error\":\"out of memory\"}", 25);
    enum MHD_Result rc = reply_raw(r, status, "application/json", js, strlen(js));
    free(js);
    return rc;
}

static const char *openai_error_type(int status)
{
    switch (status) {
    case 401: return "authentication_error";
    case 404: return "not_found_error";
    case 429:
    case 503: return "unavailable_error";
    default: return status >= 500 ? "server_error" : "invalid_request_error";
    }
}

enum MHD_Result reply_error(struct req *r, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cJSON *o = cJSON_CreateObject();
    if (r->api == API_OPENAI) {
        cJSON *e = cJSON_AddObjectToObject(o, "error");
        json_add_text(e, "message", msg, strlen(msg));
        cJSON_AddStringToObject(e, "type", openai_error_type(status));
        cJSON_AddNullToObject(e, "param");
        if (status == 401)
            cJSON_AddStringToObject(e, "code", "invalid_api_key");
        else
            cJSON_AddNullToObject(e, "code");
    } else {
        json_add_text(o, "error", msg, strlen(msg));
    }
    LOG_DEBUG("serve: %s %s: %d %s", r->method, r->url, status, msg);
    return reply_json(r, status, o);
}

enum MHD_Result reply_submit_error(struct req *r, struct job *j, int rc)
{
    job_unref(j);
    if (rc == -EAGAIN)
        return reply_error(r, 503, "the server is busy: %d requests are waiting already",
                           r->srv->p.queue_max);
    if (rc == -ESHUTDOWN)
        return reply_error(r, 503, "the server is stopping");
    return reply_error(r, 400, "nothing to generate from");
}

bool req_gone(struct req *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return false;
    struct pollfd pf = {.fd = ci->connect_fd, .events = POLLIN};
#ifdef POLLRDHUP
    pf.events |= POLLRDHUP;
#endif
    if (poll(&pf, 1, 0) <= 0)
        return false;
    if (pf.revents & (POLLHUP | POLLERR | POLLNVAL))
        return true;
#ifdef POLLRDHUP
    if (pf.revents & POLLRDHUP)
        return true;
#endif
    char c;
    /* readable: a closed connection reads 0 bytes (a pipelined request would not) */
    return (pf.revents & POLLIN) && recv(ci->connect_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

bool req_wait_job(struct req *r, struct job *j)
{
    while (!job_wait(j, WAIT_SLICE_S))
        if (req_gone(r)) {
            job_cancel(j);
            return false;
        }
    return true;
}

/* ---- streams ------------------------------------------------------------------------- */

int stream_add(struct stream *st, const char *s, size_t n)
{
    if (st->len + n + 1 > st->cap) {
        size_t c = st->cap ? st->cap : 1024;
        while (c < st->len + n + 1)
            c *= 2;
        char *b = realloc(st->out, c);
        if (!b)
            return -ENOMEM;
        st->out = b;
        st->cap = c;
    }
    memcpy(st->out + st->len, s, n);
    st->len += n;
    st->out[st->len] = 0;
    return 0;
}

int stream_add_json(struct stream *st, const char *prefix, cJSON *o, const char *suffix)
{
    char *js = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    int rc = js ? 0 : -ENOMEM;
    if (!rc)
        rc = stream_add(st, prefix, strlen(prefix));
    if (!rc)
        rc = stream_add(st, js, strlen(js));
    if (!rc)
        rc = stream_add(st, suffix, strlen(suffix));
    free(js);
    return rc;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct stream *st = cls;
    for (;;) {
        if (st->pos < st->len) {
            size_t n = st->len - st->pos < max ? st->len - st->pos : max;
            memcpy(buf, st->out + st->pos, n);
            st->pos += n;
            return (ssize_t)n;
        }
        st->pos = st->len = 0;
        if (st->final)
            return MHD_CONTENT_READER_END_OF_STREAM;
        char *piece = NULL;
        size_t n = 0, cap = 0;
        int done = job_take(st->j, &st->off, &piece, &n, &cap, WAIT_SLICE_S);
        int rc = done < 0 ? -ENOMEM : 0;
        if (!rc && n)
            rc = st->fmt(st, piece, n, false);
        free(piece);
        if (!rc && done == 1) {
            rc = st->fmt(st, NULL, 0, true);
            st->final = true;
        }
        if (rc)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        if (!n && !done && req_gone(st->r))
            return MHD_CONTENT_READER_END_WITH_ERROR;
    }
}

/* The response is gone (sent, or its client went away): the job ends with it. */
static void stream_free(void *cls)
{
    struct stream *st = cls;
    job_cancel(st->j);
    job_unref(st->j);
    free(st->out);
    free(st->ctx);
    free(st);
}

enum MHD_Result reply_stream(struct req *r, struct job *j, const char *ctype,
                             int (*fmt)(struct stream *, const char *, size_t, bool), void *ctx)
{
    struct stream *st = calloc(1, sizeof *st);
    struct MHD_Response *resp =
        st ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, st,
                                               stream_free)
           : NULL;
    if (!resp) {
        job_cancel(j);
        job_unref(j);
        free(st);
        free(ctx);
        return reply_error(r, 500, "out of memory");
    }
    st->r = r;
    st->j = j;
    st->fmt = fmt;
    st->ctx = ctx;
    add_common_headers(r, resp, ctype);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    enum MHD_Result rc = MHD_queue_response(r->c, 200, resp);
    MHD_destroy_response(resp);
    r->status = 200;
    r->replied = true;
    return rc;
}

/* ---- routing, the API key, bodies ---------------------------------------------------- */

static enum MHD_Result route_health(struct req *r)
{
    cJSON *o = cJSON_CreateObject();
    int st = atomic_load(&r->srv->state);
    bool ready = r->srv->eng != NULL;
    if (ready) {
        cJSON_AddStringToObject(o, "status", "ok");
    } else if (st == HY_SERVER_FAILED) {
        cJSON_AddStringToObject(o, "status", "error");
        json_add_text(o, "error", r->srv->error, strlen(r->srv->error));
    } else {
        cJSON_AddStringToObject(o, "status", "loading model");
    }
    return reply_json(r, ready ? 200 : st == HY_SERVER_FAILED ? 500 : 503, o);
}

static const struct route plain_routes[] = {
    {"GET", "/health", API_PLAIN, route_health, false, false},
    {"GET", "/metrics", API_PLAIN, route_metrics, false, false},
    {0},
};

/* The route for a method and path; *path_known when another method would have matched. */
static const struct route *route_find(const char *method, const char *url, bool *path_known)
{
    static const struct route *const tables[] = {plain_routes, ollama_routes, openai_routes};
    *path_known = false;
    bool head = !strcmp(method, "HEAD");
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
        for (const struct route *rt = tables[t]; rt->path; rt++) {
            size_t pl = strlen(rt->path);
            bool match = rt->prefix ? !strncmp(url, rt->path, pl) && url[pl] : !strcmp(url, rt->path);
            if (!match)
                continue;
            if (!strcmp(method, rt->method) || (head && !strcmp(rt->method, "GET")))
                return rt;
            *path_known = true;
        }
    return NULL;
}

/* Equal strings, in time that depends on the key's length only. */
static bool key_equal(const char *given, const char *key)
{
    size_t lg = strlen(given), lk = strlen(key);
    unsigned char d = lg != lk;
    for (size_t i = 0; i < lk; i++)
        d |= (unsigned char)key[i] ^ (unsigned char)(i < lg ? given[i] : 0);
    return d == 0;
}

static bool auth_ok(struct req *r)
{
    const char *key = r->srv->api_key;
    if (!key)
        return true;
    const char *h = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    bool ok = false;
    if (h && !strncasecmp(h, "Bearer ", 7)) {
        h += 7;
        while (*h == ' ')
            h++;
        ok = key_equal(h, key);
    }
    const char *x = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, "x-api-key");
    if (x && key_equal(x, key))
        ok = true;
    return ok;
}

/* The request's headers are in: refuse it at once when it cannot be served. */
static enum MHD_Result begin(struct req *r)
{
    struct hy_server *s = r->srv;
    bool path_known;
    r->route = route_find(r->method, r->url, &path_known);
    r->api = r->route ? r->route->api : !strncmp(r->url, "/v1/", 4) ? API_OPENAI : API_OLLAMA;
    if (atomic_load(&s->state) == HY_SERVER_STOPPING)
        return reply_error(r, 503, "the server is stopping");
    bool health = r->route && r->route->fn == route_health;
    if (!health && !auth_ok(r))
        return reply_error(r, 401, "a valid API key is required (Authorization: Bearer KEY or x-api-key: KEY)");
    if (!r->route)
        return path_known ? reply_error(r, 405, "method %s not allowed on %s", r->method, r->url)
                          : reply_error(r, 404, "no route %s %s", r->method, r->url);
    const char *cl = MHD_lookup_connection_value(r->c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno || end == cl || n > s->p.body_max)
            return reply_error(r, 413, "the request body is over the limit of %zu bytes", s->p.body_max);
    }
    if (r->route->needs_model && !s->eng)
        return atomic_load(&s->state) == HY_SERVER_FAILED
                   ? reply_error(r, 500, "the model failed to load: %s", s->error)
                   : reply_error(r, 503, "the model is loading");
    return MHD_YES;
}

static void body_add(struct req *r, const char *data, size_t n)
{
    if (r->too_big)
        return;
    if (r->len + n > r->srv->p.body_max) {
        r->too_big = true;
        free(r->body);
        r->body = NULL;
        r->len = r->cap = 0;
        return;
    }
    if (r->len + n + 1 > r->cap) {
        size_t c = r->cap ? r->cap : 4096;
        while (c < r->len + n + 1)
            c *= 2;
        char *b = realloc(r->body, c);
        if (!b) {
            r->too_big = true; /* answered as 413: no memory for it is a limit too */
            free(r->body);
            r->body = NULL;
            r->len = r->cap = 0;
            return;
        }
        r->body = b;
        r->cap = c;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    r->body[r->len] = 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct hy_server *s = cls;
    struct req *r = *con_cls;
    if (!r) {
        if (!(r = calloc(1, sizeof *r)))
            return MHD_NO;
        r->srv = s;
        r->c = c;
        r->url = url;
        r->method = method;
        r->t_arrive = hy_now_seconds();
        *con_cls = r;
        atomic_fetch_add(&s->n_inflight, 1);
        atomic_fetch_add(&s->n_requests, 1);
        return begin(r);
    }
    if (r->replied) {
        *upload_size = 0; /* refused early: what the client still sends is dropped */
        return MHD_YES;
    }
    if (*upload_size) {
        body_add(r, upload, *upload_size);
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->too_big)
        return reply_error(r, 413, "the request body is over the limit of %zu bytes", s->p.body_max);
    if (!r->body)
        body_add(r, "", 0);
    return r->route->fn(r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct hy_server *s = cls;
    struct req *r = *con_cls;
    if (!r)
        return;
    LOG_INFO("%s %s %d %.3f s%s", r->method, r->url, r->status, hy_now_seconds() - r->t_arrive,
             toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection closed early)");
    free(r->body);
    free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&s->n_inflight, 1);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct hy_server *s = cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = 0;
    if (!s->d) /* starting: the reason listening failed */
        snprintf(s->error, sizeof s->error, "%s", msg);
    LOG_DEBUG("http: %s", msg);
}

/* ---- the server's life ---------------------------------------------------------------- */

struct hy_server_params hy_server_default_params(void)
{
    struct hy_server_params p = {0};
    p.port = 11434;
    p.n_parallel = 1;
    p.queue_max = QUEUE_MAX_DEFAULT;
    p.body_max = BODY_MAX_DEFAULT;
    p.model = hy_model_default_params();
    return p;
}

static void *loader_main(void *arg)
{
    struct hy_server *s = arg;
    double t0 = hy_now_seconds();
    struct hy_model_params mp = s->p.model;
    mp.plan.n_seq = (uint32_t)s->p.n_parallel;
    struct engine *eng = NULL;
    int rc = hy_model_place(s->m, &mp);
    if (!rc) {
        struct engine_params ep = {.n_slots = s->p.n_parallel, .queue_max = s->p.queue_max};
        rc = engine_new(s->m, &ep, &eng);
    }
    if (rc) {
        snprintf(s->error, sizeof s->error, "%s", hy_last_error());
        LOG_WARN("serve: %s: %s", s->path, s->error);
        int expect = HY_SERVER_LOADING;
        atomic_compare_exchange_strong(&s->state, &expect, HY_SERVER_FAILED);
        return NULL;
    }
    s->t_load = hy_now_seconds() - t0;
    s->eng = eng;
    if (atomic_load(&s->cut)) /* hy_server_stop cut before eng was set */
        engine_cut(eng);
    int expect = HY_SERVER_LOADING;
    atomic_compare_exchange_strong(&s->state, &expect, HY_SERVER_READY);
    LOG_INFO("serve: %s placed in %.2f s: %d sequences of %d tokens", s->card.name, s->t_load,
             s->p.n_parallel, engine_n_ctx(eng));
    return NULL;
}

static int start_daemon(struct hy_server *s)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    char port[16];
    snprintf(port, sizeof port, "%d", s->p.port);
    int gai = getaddrinfo(s->host, port, &hints, &ai);
    if (gai || !ai) {
        set_error("cannot listen on %s: %s", s->host, gai_strerror(gai));
        return -EINVAL;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_ITC | MHD_USE_ERROR_LOG | MHD_USE_POLL;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    unsigned limit = (unsigned)(s->p.n_parallel + s->p.queue_max + 64);
    s->d = MHD_start_daemon(flags, (uint16_t)s->p.port, NULL, NULL, on_request, s,
                            MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONN_TIMEOUT_S,
                            MHD_OPTION_CONNECTION_LIMIT, limit,
                            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
                            MHD_OPTION_END);
    freeaddrinfo(ai);
    if (!s->d) {
        set_error("cannot listen on %s port %d%s%s", s->host, s->p.port, *s->error ? ": " : "",
                  s->error);
        return -EADDRINUSE;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : s->p.port;
    return 0;
}

static char *dup_or_null(const char *s, bool *ok)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        *ok = false;
    return d;
}

int hy_server_start(const char *model_path, const struct hy_server_params *params, hy_server **out)
{
    *out = NULL;
    hy_clear_error();
    struct hy_server_params p = params ? *params : hy_server_default_params();
    if (p.n_parallel <= 0)
        p.n_parallel = 1;
    if (p.queue_max <= 0)
        p.queue_max = QUEUE_MAX_DEFAULT;
    if (!p.body_max)
        p.body_max = BODY_MAX_DEFAULT;
    if (p.port < 0 || p.port > 65535 || p.n_parallel > 1024 || p.queue_max > 100000) {
        set_error("bad server parameters: port %d, %d sequences, queue of %d", p.port,
                  p.n_parallel, p.queue_max);
        return -EINVAL;
    }
    struct hy_server *s = calloc(1, sizeof *s);
    if (!s) {
        set_error("out of memory");
        return -ENOMEM;
    }
    bool ok = true;
    s->host = dup_or_null(p.host ? p.host : "127.0.0.1", &ok);
    s->api_key = p.api_key && *p.api_key ? dup_or_null(p.api_key, &ok) : NULL;
    s->path = dup_or_null(model_path, &ok);
    p.host = s->host;
    p.api_key = s->api_key;
    p.model_name = NULL; /* used at start only */
    s->p = p;
    atomic_init(&s->state, HY_SERVER_LOADING);
    int rc = ok ? 0 : -ENOMEM;
    if (rc)
        set_error("out of memory");
    if (!rc)
        rc = hy_model_open(model_path, &p.model, &s->m);
    if (!rc)
        rc = model_card_init(&s->card, s->m, model_path, params ? params->model_name : NULL);
    if (!rc)
        rc = start_daemon(s);
    if (!rc && pthread_create(&s->loader, NULL, loader_main, s)) {
        set_error("cannot start a thread");
        rc = -EAGAIN;
    }
    if (rc) {
        hy_server_free(s);
        return rc;
    }
    s->loader_started = true;
    LOG_INFO("serve: listening on %s port %d; placing %s", s->host, s->port, s->card.name);
    *out = s;
    return 0;
}

int hy_server_port(const hy_server *s)
{
    return s->port;
}

enum hy_server_state hy_server_get_state(const hy_server *s)
{
    return (enum hy_server_state)atomic_load(&((hy_server *)s)->state);
}

const char *hy_server_error(const hy_server *s)
{
    return s->error;
}

void hy_server_stop(hy_server *s, bool cut)
{
    if (atomic_exchange(&s->state, HY_SERVER_STOPPING) != HY_SERVER_STOPPING && s->d) {
        /* no new connections; those open are answered 503 from now on */
        MHD_socket fd = MHD_quiesce_daemon(s->d);
        if (fd != MHD_INVALID_SOCKET)
            close(fd);
    }
    if (cut) {
        atomic_store(&s->cut, true);
        if (s->eng)
            engine_cut(s->eng);
    }
}

bool hy_server_idle(const hy_server *s)
{
    return atomic_load(&((hy_server *)s)->n_inflight) == 0;
}

void hy_server_free(hy_server *s)
{
    if (!s)
        return;
    if (s->d) {
        hy_server_stop(s, true);
        for (int i = 0; i < 3000 && !hy_server_idle(s); i++)
            usleep(10000);
        MHD_stop_daemon(s->d);
    }
    if (s->loader_started)
        pthread_join(s->loader, NULL);
    engine_free(s->eng);
    hy_model_free(s->m);
    free(s->host);
    free(s->api_key);
    free(s->path);
    free(s);
}

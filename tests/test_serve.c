/* `hypura serve` end to end, on stories260K: every route's status and JSON shape; the text
 * generated through each API equals `hypura run`'s with the same options (greedy, and
 * sampled with a seed); hostile requests (bad JSON, wrong types, huge numbers, truncated
 * and oversized bodies, slow partial requests, wrong keys) get the right 4xx and leave the
 * server healthy; 16 concurrent streams each get the right text; a client that goes away
 * frees its slot; a full queue answers 503; SIGTERM lets a stream in flight finish and the
 * server exits 0 (under ASan: with no leak). Then the real client libraries (npm ollama@0.6
 * and openai@6, installed into a cache folder; skipped when npm cannot reach its registry).
 *
 * Requests go through a small HTTP client on sockets (every request on its own connection),
 * so that hostile bytes can be sent as they are; every wait has a timeout. */
#include "hypura.h"
#include "test.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KEY "test-key-7f3a"
#define N_GEN 40
#define PROMPT "Once upon a time"

struct server {
    pid_t pid;
    int port;
    char log[128];
};
static struct server g_main, g_small;
static char *g_model;
static char *g_want_once, *g_want_chat;   /* `hypura run`'s greedy texts */

/* ---- servers ------------------------------------------------------------------------- */

static void kill_servers(void)
{
    struct server *s[] = {&g_main, &g_small};
    for (int i = 0; i < 2; i++)
        if (s[i]->pid > 0) {
            kill(s[i]->pid, SIGKILL);
            waitpid(s[i]->pid, NULL, 0);
            s[i]->pid = 0;
        }
}

static void on_alarm(int sig)
{
    static const char m[] = "test_serve: timed out\n";
    if (write(2, m, sizeof m - 1) < 0) {
    }
    struct server *s[] = {&g_main, &g_small};
    for (int i = 0; i < 2; i++)
        if (s[i]->pid > 0)
            kill(s[i]->pid, SIGKILL);
    _exit(1);
}

static int connect_port(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {60, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

struct resp {
    int status;
    char *head;     /* status line and headers */
    char *body;     /* (len) de-chunked, NUL-terminated */
    size_t len;
};

static void resp_free(struct resp *r)
{
    free(r->head);
    free(r->body);
    memset(r, 0, sizeof *r);
}

static bool send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0)
            return false;
        p += k;
        n -= (size_t)k;
    }
    return true;
}

/* Read to the end of the connection and split the response. */
static int read_resp(int fd, struct resp *r)
{
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap);
    ssize_t k;
    while ((k = recv(fd, b + n, cap - n - 1, 0)) > 0) {
        n += (size_t)k;
        if (n + 1 == cap)
            b = realloc(b, cap *= 2);
    }
    b[n] = 0;
    memset(r, 0, sizeof *r);
    char *end = strstr(b, "\r\n\r\n");
    if (!end || sscanf(b, "HTTP/1.%*d %d", &r->status) != 1) {
        free(b);
        return -1;
    }
    r->head = strndup(b, (size_t)(end - b));
    char *body = end + 4;
    size_t blen = n - (size_t)(body - b);
    r->body = malloc(blen + 1);
    if (strcasestr(r->head, "transfer-encoding: chunked")) {
        char *p = body;
        while (p < b + n) {
            unsigned long cl = strtoul(p, &p, 16);
            p = strstr(p, "\r\n");
            if (!p || !cl)
                break;
            p += 2;
            memcpy(r->body + r->len, p, cl);
            r->len += cl;
            p += cl + 2;
        }
    } else {
        memcpy(r->body, body, blen);
        r->len = blen;
    }
    r->body[r->len] = 0;
    free(b);
    return 0;
}

/* One request on its own connection. hdrs: extra header lines, each ending in \r\n. */
static int http(int port, const char *method, const char *path, const char *hdrs, const char *body,
                size_t blen, struct resp *r)
{
    int fd = connect_port(port);
    if (fd < 0)
        return -1;
    char head[1024];
    int hl = snprintf(head, sizeof head,
                      "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s"
                      "Content-Length: %zu\r\n\r\n",
                      method, path, hdrs ? hdrs : "", body ? blen : 0);
    memset(r, 0, sizeof *r);
    /* a server that answers before it has read everything (413) is still heard */
    if (send_all(fd, head, (size_t)hl) && body)
        send_all(fd, body, blen);
    int rc = read_resp(fd, r);
    close(fd);
    return rc;
}

/* A request to a server with the test's key; the body parsed (NULL when not JSON). */
static cJSON *req(int port, const char *method, const char *path, const char *body, int *status)
{
    struct resp r;
    *status = -1;
    if (http(port, method, path, "Authorization: Bearer " KEY "\r\n", body, body ? strlen(body) : 0, &r))
        return NULL;
    *status = r.status;
    cJSON *o = cJSON_Parse(r.body);
    resp_free(&r);
    return o;
}

static int health(int port)
{
    struct resp r;
    if (http(port, "GET", "/health", NULL, NULL, 0, &r))
        return -1;
    int st = r.status;
    resp_free(&r);
    return st;
}

static bool server_start(struct server *s, const char *args, const char *tag)
{
    snprintf(s->log, sizeof s->log, "/tmp/hypura-test-serve-%d-%s.log", (int)getpid(), tag);
    int pfd[2];
    if (pipe(pfd))
        return false;
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "exec %s serve %s --port 0 -t 1 %s 2>%s", test_hypura_bin(), g_model,
             args, s->log);
    s->pid = fork();
    if (s->pid == 0) {
#ifdef __linux__
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a test that crashes takes its servers along */
#endif
        dup2(pfd[1], 1);
        close(pfd[0]);
        close(pfd[1]);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    char line[32] = "";
    struct pollfd pf = {.fd = pfd[0], .events = POLLIN};
    if (poll(&pf, 1, 30000) == 1 && read(pfd[0], line, sizeof line - 1) > 0)
        s->port = atoi(line);
    close(pfd[0]);
    if (s->port <= 0) {
        printf("  the server did not start: see %s\n", s->log);
        return false;
    }
    /* 503 while the weights are placed, then 200 */
    int st = 0;
    for (int i = 0; i < 300 && (st = health(s->port)) != 200; i++) {
        CHECKF(st == 503, "/health answered %d while loading", st);
        usleep(100000);
    }
    CHECK_EQ(st, 200);
    return st == 200;
}

/* SIGTERM, then the exit status (-1: it had to be killed). */
static int server_stop(struct server *s)
{
    if (s->pid <= 0)
        return -1;
    kill(s->pid, SIGTERM);
    int st = 0;
    for (int i = 0; i < 600; i++) {
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            s->pid = 0;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        usleep(50000);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
    return -1;
}

static void show_log(const struct server *s)
{
    char *t = test_read_file(s->log, NULL);
    if (t)
        fprintf(stderr, "  --- %s ---\n%s\n", s->log, t);
    free(t);
}

/* ---- references ---------------------------------------------------------------------- */

/* `hypura run`'s text for a prompt and options. */
static char *run_text(const char *prompt, const char *opts)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s run %s -p '%s' -t 1 --json %s 2>/dev/null", test_hypura_bin(),
             g_model, prompt, opts);
    FILE *p = popen(cmd, "r");
    char buf[1 << 16];
    size_t n = p ? fread(buf, 1, sizeof buf - 1, p) : 0;
    if (p)
        pclose(p);
    buf[n] = 0;
    cJSON *o = cJSON_Parse(buf);
    cJSON *t = cJSON_GetObjectItem(o, "text");
    char *s = cJSON_IsString(t) ? strdup(t->valuestring) : NULL;
    cJSON_Delete(o);
    return s;
}

static const char *jstr_of(const cJSON *o, const char *path)
{
    char key[128];
    snprintf(key, sizeof key, "%s", path);
    const cJSON *v = o;
    for (char *save, *k = strtok_r(key, ".", &save); k && v; k = strtok_r(NULL, ".", &save))
        v = cJSON_IsArray(v) ? cJSON_GetArrayItem(v, atoi(k)) : cJSON_GetObjectItemCaseSensitive(v, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double jnum_of(const cJSON *o, const char *path)
{
    char key[128];
    snprintf(key, sizeof key, "%s", path);
    const cJSON *v = o;
    for (char *save, *k = strtok_r(key, ".", &save); k && v; k = strtok_r(NULL, ".", &save))
        v = cJSON_IsArray(v) ? cJSON_GetArrayItem(v, atoi(k)) : cJSON_GetObjectItemCaseSensitive(v, k);
    return cJSON_IsNumber(v) ? v->valuedouble : -1;
}

static bool streq(const char *a, const char *b)
{
    return a && b && !strcmp(a, b);
}

/* ---- routes -------------------------------------------------------------------------- */

static void test_routes(void)
{
    int p = g_main.port, st;
    struct resp r;
    CHECK(http(p, "GET", "/", "Authorization: Bearer " KEY "\r\n", NULL, 0, &r) == 0);
    CHECK(r.status == 200 && streq(r.body, "Ollama is running"));
    resp_free(&r);
    CHECK(http(p, "HEAD", "/", "Authorization: Bearer " KEY "\r\n", NULL, 0, &r) == 0);
    CHECK(r.status == 200 && r.len == 0);
    resp_free(&r);
    cJSON *o = req(p, "GET", "/api/version", NULL, &st);
    CHECK(st == 200 && jstr_of(o, "version"));
    cJSON_Delete(o);
    o = req(p, "GET", "/api/tags", NULL, &st);
    CHECK(st == 200 && streq(jstr_of(o, "models.0.name"), "stories260K-F32"));
    CHECK(streq(jstr_of(o, "models.0.details.format"), "gguf"));
    CHECK(streq(jstr_of(o, "models.0.details.family"), "llama"));
    CHECK(streq(jstr_of(o, "models.0.details.quantization_level"), "F32"));
    CHECK(jstr_of(o, "models.0.details.parameter_size") && jnum_of(o, "models.0.size") > 0);
    const char *dg = jstr_of(o, "models.0.digest");
    CHECK(dg && strlen(dg) == 64 && strspn(dg, "0123456789abcdef") == 64);
    CHECK(jstr_of(o, "models.0.modified_at"));
    cJSON_Delete(o);
    o = req(p, "GET", "/api/ps", NULL, &st);
    CHECK(st == 200 && streq(jstr_of(o, "models.0.name"), "stories260K-F32"));
    CHECK(jnum_of(o, "models.0.size") > 0 && jnum_of(o, "models.0.size_vram") == 0);
    CHECK(jnum_of(o, "models.0.hypura.tier_bytes.ram") > 0 && jnum_of(o, "models.0.hypura.parallel") == 4);
    cJSON_Delete(o);
    o = req(p, "POST", "/api/show", "{\"model\":\"anything\"}", &st);
    CHECK_EQ(st, 200);
    cJSON *mi = cJSON_GetObjectItem(o, "model_info"); /* (its keys have dots: no paths) */
    cJSON *arch = cJSON_GetObjectItem(mi, "general.architecture");
    CHECK(cJSON_IsString(arch) && streq(arch->valuestring, "llama"));
    cJSON *nl = cJSON_GetObjectItem(mi, "llama.block_count");
    CHECK(cJSON_IsNumber(nl) && nl->valueint == 5);
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(mi, "tokenizer.ggml.tokens")));
    CHECK(streq(jstr_of(o, "capabilities.0"), "completion") && jstr_of(o, "template"));
    CHECK(streq(jstr_of(o, "details.format"), "gguf"));
    cJSON_Delete(o);
    o = req(p, "GET", "/v1/models", NULL, &st);
    CHECK(st == 200 && streq(jstr_of(o, "object"), "list") && streq(jstr_of(o, "data.0.id"), "stories260K-F32"));
    cJSON_Delete(o);
    o = req(p, "GET", "/v1/models/some-model", NULL, &st);
    CHECK(st == 200 && streq(jstr_of(o, "id"), "some-model") && streq(jstr_of(o, "object"), "model"));
    cJSON_Delete(o);
    o = req(p, "POST", "/api/generate", "{\"model\":\"m\"}", &st); /* Ollama's "load" */
    CHECK(st == 200 && streq(jstr_of(o, "done_reason"), "load"));
    cJSON_Delete(o);
    o = req(p, "POST", "/api/chat", "{\"model\":\"m\",\"messages\":[]}", &st);
    CHECK(st == 200 && streq(jstr_of(o, "done_reason"), "load") && streq(jstr_of(o, "message.role"), "assistant"));
    cJSON_Delete(o);
    o = req(p, "POST", "/api/embed", "{\"model\":\"m\",\"input\":\"x\"}", &st);
    CHECK(st == 501 && jstr_of(o, "error"));
    cJSON_Delete(o);
    o = req(p, "GET", "/health", NULL, &st);
    CHECK(st == 200 && streq(jstr_of(o, "status"), "ok"));
    cJSON_Delete(o);
    CHECK(http(p, "GET", "/metrics", "Authorization: Bearer " KEY "\r\n", NULL, 0, &r) == 0);
    CHECK(r.status == 200 && strstr(r.body, "\nhypura_requests_total ") &&
          strstr(r.body, "# TYPE hypura_generated_tokens_total counter\n") &&
          strstr(r.body, "hypura_weight_bytes{tier=\"ram\"} "));
    resp_free(&r);
}

/* ---- generation equals `hypura run` --------------------------------------------------- */

/* An NDJSON stream: the text of its objects (field: "response" or "message.content"), the
 * last object kept in *last; false when a line is not JSON or an object came after done. */
static bool ndjson_text(const char *body, const char *field, char *text, size_t cap, cJSON **last)
{
    *last = NULL;
    text[0] = 0;
    bool ok = true, done = false;
    for (const char *l = body; *l;) {
        const char *e = strchr(l, '\n');
        if (!e)
            return false; /* every line ends in a newline */
        char *line = strndup(l, (size_t)(e - l));
        cJSON *o = cJSON_Parse(line);
        free(line);
        ok &= o != NULL && !done;
        const char *t = o ? jstr_of(o, field) : NULL;
        if (t)
            strncat(text, t, cap - strlen(text) - 1);
        done = cJSON_IsTrue(cJSON_GetObjectItem(o, "done"));
        cJSON_Delete(*last);
        *last = o;
        l = e + 1;
    }
    return ok && done;
}

/* An SSE stream of OpenAI chunks: their text; the usage chunk's completion tokens in
 * *n_usage (-1 without one); false unless it ends with data: [DONE]. */
static bool sse_text(const char *body, bool chat, char *text, size_t cap, int *n_usage, char *finish,
                     size_t fcap)
{
    text[0] = 0;
    *n_usage = -1;
    bool done = false, ok = true;
    for (const char *l = body; *l;) {
        const char *e = strstr(l, "\n\n");
        if (!e || strncmp(l, "data: ", 6))
            return false;
        char *ev = strndup(l + 6, (size_t)(e - l - 6));
        if (!strcmp(ev, "[DONE]")) {
            done = true;
        } else {
            cJSON *o = cJSON_Parse(ev);
            ok &= o != NULL && !done && streq(jstr_of(o, "object"), chat ? "chat.completion.chunk" : "text_completion");
            const char *t = jstr_of(o, chat ? "choices.0.delta.content" : "choices.0.text");
            if (t)
                strncat(text, t, cap - strlen(text) - 1);
            const char *f = jstr_of(o, "choices.0.finish_reason");
            if (f)
                snprintf(finish, fcap, "%s", f);
            if (jnum_of(o, "usage.completion_tokens") >= 0)
                *n_usage = (int)jnum_of(o, "usage.completion_tokens");
            cJSON_Delete(o);
        }
        free(ev);
        l = e + 2;
    }
    return ok && done;
}

static char *post_raw(int port, const char *path, const char *body, int *status)
{
    struct resp r;
    *status = -1;
    if (http(port, "POST", path, "Authorization: Bearer " KEY "\r\n", body, strlen(body), &r))
        return NULL;
    *status = r.status;
    char *b = r.body;
    r.body = NULL;
    resp_free(&r);
    return b;
}

#define GREEDY "\"temperature\":0,\"repeat_penalty\":1,\"num_predict\":40"

static void test_ollama_matches_run(void)
{
    int p = g_main.port, st;
    char text[8192];
    cJSON *last;
    cJSON *o = req(p, "POST", "/api/generate",
                   "{\"model\":\"x\",\"prompt\":\"" PROMPT "\",\"stream\":false,\"options\":{" GREEDY "}}", &st);
    CHECK(st == 200 && streq(jstr_of(o, "response"), g_want_once));
    CHECK(cJSON_IsTrue(cJSON_GetObjectItem(o, "done")) && streq(jstr_of(o, "done_reason"), "length"));
    CHECK(jnum_of(o, "eval_count") == N_GEN && jnum_of(o, "prompt_eval_count") == 5);
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(o, "context")) == 5 + N_GEN);
    static const char *const dur[] = {"total_duration", "load_duration", "prompt_eval_duration", "eval_duration"};
    for (int i = 0; i < 4; i++)
        CHECKF(jnum_of(o, dur[i]) > 0 && jnum_of(o, dur[i]) < 60e9, "%s %g", dur[i], jnum_of(o, dur[i]));
    CHECK(jnum_of(o, "total_duration") >= jnum_of(o, "eval_duration"));
    cJSON_Delete(o);
    char *b = post_raw(p, "/api/generate", "{\"model\":\"x\",\"prompt\":\"" PROMPT "\",\"options\":{" GREEDY "}}", &st);
    CHECK(st == 200 && b && ndjson_text(b, "response", text, sizeof text, &last));
    CHECKF(streq(text, g_want_once), "streamed '%s'", text);
    CHECK(streq(jstr_of(last, "done_reason"), "length") && jnum_of(last, "eval_count") == N_GEN);
    cJSON_Delete(last);
    free(b);
    /* chat: the conversation through the template (ChatML: stories260K has none) */
    b = post_raw(p, "/api/chat", "{\"model\":\"x\",\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
                 "\"options\":{" GREEDY "}}", &st);
    CHECK(st == 200 && b && ndjson_text(b, "message.content", text, sizeof text, &last));
    CHECKF(streq(text, g_want_chat), "chat streamed '%s'", text);
    CHECK(streq(jstr_of(last, "message.role"), "assistant") && jnum_of(last, "eval_count") == N_GEN);
    cJSON_Delete(last);
    free(b);
    o = req(p, "POST", "/api/chat", "{\"model\":\"x\",\"stream\":false,\"messages\":[{\"role\":\"user\","
            "\"content\":\"Hi\"}],\"options\":{" GREEDY "}}", &st);
    CHECK(st == 200 && streq(jstr_of(o, "message.content"), g_want_chat));
    cJSON_Delete(o);
    /* Ollama's default repeat penalty (1.1 over 64 tokens), and sampling with a seed */
    char *want = run_text(PROMPT, "--temp 0 -n 40 --repeat-penalty 1.1 --repeat-last-n 64");
    o = req(p, "POST", "/api/generate", "{\"prompt\":\"" PROMPT "\",\"stream\":false,\"options\":"
            "{\"temperature\":0,\"num_predict\":40}}", &st);
    CHECK(want && st == 200 && streq(jstr_of(o, "response"), want));
    cJSON_Delete(o);
    free(want);
    want = run_text(PROMPT, "--temp 0.8 --top-k 40 --top-p 0.9 --min-p 0 --repeat-penalty 1 --seed 42 -n 40");
    o = req(p, "POST", "/api/generate", "{\"prompt\":\"" PROMPT "\",\"stream\":false,\"options\":"
            "{\"temperature\":0.8,\"top_k\":40,\"top_p\":0.9,\"min_p\":0,\"repeat_penalty\":1,\"seed\":42,"
            "\"num_predict\":40}}", &st);
    CHECKF(want && st == 200 && streq(jstr_of(o, "response"), want), "seeded: '%s' vs '%s'",
           jstr_of(o, "response"), want);
    cJSON_Delete(o);
    free(want);
    /* a stop string ends the text before it */
    const char *at = strstr(g_want_once, "Lily");
    CHECK(at != NULL);
    o = req(p, "POST", "/api/generate", "{\"prompt\":\"" PROMPT "\",\"stream\":false,\"options\":{"
            GREEDY ",\"stop\":[\"zzz\",\"Lily\"]}}", &st);
    const char *got = jstr_of(o, "response");
    CHECK(st == 200 && at && got && strlen(got) == (size_t)(at - g_want_once) &&
          !strncmp(got, g_want_once, strlen(got)) && streq(jstr_of(o, "done_reason"), "stop"));
    cJSON_Delete(o);
}

static void test_openai_matches_run(void)
{
    int p = g_main.port, st, n_usage;
    char text[8192], finish[32] = "";
    cJSON *o = req(p, "POST", "/v1/chat/completions", "{\"model\":\"x\",\"messages\":[{\"role\":\"user\","
                   "\"content\":\"Hi\"}],\"max_tokens\":40,\"temperature\":0}", &st);
    CHECK(st == 200 && streq(jstr_of(o, "choices.0.message.content"), g_want_chat));
    CHECK(streq(jstr_of(o, "object"), "chat.completion") && streq(jstr_of(o, "choices.0.message.role"), "assistant"));
    CHECK(streq(jstr_of(o, "choices.0.finish_reason"), "length") && jnum_of(o, "usage.completion_tokens") == N_GEN);
    CHECK(jnum_of(o, "usage.total_tokens") == jnum_of(o, "usage.prompt_tokens") + N_GEN);
    CHECK(jstr_of(o, "id") && !strncmp(jstr_of(o, "id"), "chatcmpl-", 9));
    cJSON_Delete(o);
    char *b = post_raw(p, "/v1/chat/completions", "{\"model\":\"x\",\"messages\":[{\"role\":\"user\","
                       "\"content\":[{\"type\":\"text\",\"text\":\"Hi\"}]}],\"max_completion_tokens\":40,"
                       "\"temperature\":0,\"stream\":true,\"stream_options\":{\"include_usage\":true}}", &st);
    CHECK(st == 200 && b && sse_text(b, true, text, sizeof text, &n_usage, finish, sizeof finish));
    CHECKF(streq(text, g_want_chat), "streamed '%s'", text);
    CHECK(n_usage == N_GEN && streq(finish, "length"));
    free(b);
    o = req(p, "POST", "/v1/completions", "{\"model\":\"x\",\"prompt\":\"" PROMPT "\",\"max_tokens\":40,"
            "\"temperature\":0}", &st);
    CHECK(st == 200 && streq(jstr_of(o, "choices.0.text"), g_want_once));
    CHECK(streq(jstr_of(o, "object"), "text_completion"));
    cJSON_Delete(o);
    b = post_raw(p, "/v1/completions", "{\"model\":\"x\",\"prompt\":[\"" PROMPT "\"],\"max_tokens\":40,"
                 "\"temperature\":0,\"stream\":true,\"stop\":\"Lily\"}", &st);
    CHECK(st == 200 && b && sse_text(b, false, text, sizeof text, &n_usage, finish, sizeof finish));
    const char *at = strstr(g_want_once, "Lily");
    CHECK(at && strlen(text) == (size_t)(at - g_want_once) && streq(finish, "stop") && n_usage == -1);
    free(b);
}

/* ---- hostile requests ------------------------------------------------------------------ */

struct bad {
    const char *method, *path, *body;
    int want;
};
static const struct bad k_bad[] = {
    {"POST", "/api/generate", "{", 400},
    {"POST", "/api/generate", "", 400},
    {"POST", "/api/generate", "[]", 400},
    {"POST", "/api/generate", "null", 400},
    {"POST", "/api/generate", "\"prompt\"", 400},
    {"POST", "/api/generate", "{\"prompt\":\"a\"} trailing", 400},
    {"POST", "/api/generate", "{\"prompt\":\"a\",}", 400},
    {"POST", "/api/generate", "{\"prompt\":5}", 400},
    {"POST", "/api/generate", "{\"prompt\":\"\"}", 400},
    {"POST", "/api/generate", "{\"prompt\":\"a\",\"stream\":\"yes\"}", 400},
    {"POST", "/api/generate", "{\"prompt\":\"a\",\"raw\":1}", 400},
    {"POST", "/api/generate", "{\"prompt\":\"a\",\"system\":[]}", 400},
    {"POST", "/api/generate", "{\"prompt\":\"a\",\"model\":7}", 400},
    {"POST", "/api/generate", "{\"prompt\":\"a\",\"options\":[]}", 400},
    {"POST", "/api/generate", "{\"prompt\":\"a\",\"options\":{\"num_ctx\":1}}", 400},
    {"POST", "/api/generate", "{\"prompt\":\"a\",\"context\":[-1]}", 400},
    {"POST", "/api/generate", "{\"prompt\":\"a\",\"context\":[1e10]}", 400},
    {"POST", "/api/generate", "{\"prompt\":\"a\",\"context\":[1.5]}", 400},
    {"POST", "/api/generate", "{\"prompt\":\"a\",\"context\":\"x\"}", 400},
    {"POST", "/api/generate", "{\"prompt\":\"a\",\"format\":\"json\"}", 400},
    {"POST", "/api/generate", "{\"prompt\":\"a\",\"images\":[\"aGk=\"]}", 400},
    {"POST", "/api/generate", "{\"prompt\":\"a\",\"suffix\":\"b\"}", 400},
    {"POST", "/api/chat", "{\"messages\":\"hi\"}", 400},
    {"POST", "/api/chat", "{\"messages\":[1]}", 400},
    {"POST", "/api/chat", "{\"messages\":[{\"content\":\"x\"}]}", 400},
    {"POST", "/api/chat", "{\"messages\":[{\"role\":\"user\",\"content\":5}]}", 400},
    {"POST", "/api/chat", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\",\"images\":[\"aGk=\"]}]}", 400},
    {"POST", "/api/chat", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"tools\":[{}]}", 400},
    {"POST", "/api/chat", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"format\":{}}", 400},
    {"POST", "/api/show", "nope", 400},
    {"POST", "/api/show", "{\"model\":[]}", 400},
    {"POST", "/v1/chat/completions", "{}", 400},
    {"POST", "/v1/chat/completions", "{\"messages\":[]}", 400},
    {"POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}]}", 400},
    {"POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]}", 400},
    {"POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":2}", 400},
    {"POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"logprobs\":true}", 400},
    {"POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"response_format\":{\"type\":\"json_object\"}}", 400},
    {"POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream_options\":5}", 400},
    {"POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", 400},
    {"POST", "/v1/completions", "{\"prompt\":[\"a\",\"b\"]}", 400},
    {"POST", "/v1/completions", "{\"prompt\":\"\"}", 400},
    {"POST", "/v1/completions", "{\"prompt\":{}}", 400},
    {"POST", "/v1/completions", "{}", 400},
    {"GET", "/api/generate", NULL, 405},
    {"PUT", "/api/chat", "{}", 405},
    {"DELETE", "/api/tags", NULL, 405},
    {"GET", "/nope", NULL, 404},
    {"GET", "/v1/nope", NULL, 404},
    {"GET", "/api/../health", NULL, 404},
};

/* One hostile request: the status and an error object of the route's API's shape. */
static int check_bad(int port, const char *method, const char *path, const char *body, int want)
{
    struct resp r;
    int rc = http(port, method, path, "Authorization: Bearer " KEY "\r\n", body, body ? strlen(body) : 0, &r);
    CHECKF(rc == 0 && r.status == want, "%s %s '%.60s': %d, not %d", method, path, body ? body : "",
           rc ? -1 : r.status, want);
    cJSON *o = rc ? NULL : cJSON_Parse(r.body);
    bool openai = !strncmp(path, "/v1/", 4);
    const char *msg = openai ? jstr_of(o, "error.message") : jstr_of(o, "error");
    CHECKF(msg && *msg, "%s %s: no error message in %s", method, path, rc ? "" : r.body);
    if (openai)
        CHECK(jstr_of(o, "error.type") != NULL);
    cJSON_Delete(o);
    if (!rc)
        resp_free(&r);
    return 1;
}

/* Every option with values of the wrong type or range. */
static int bad_options(int port)
{
    static const char *const ollama[] = {"temperature", "top_k", "top_p", "min_p", "seed", "num_predict",
                                         "num_ctx", "repeat_penalty", "repeat_last_n"};
    static const char *const openai[] = {"temperature", "top_p", "seed", "max_tokens",
                                         "max_completion_tokens", "presence_penalty", "frequency_penalty"};
    static const char *const vals[] = {"\"x\"", "[]", "{}", "true", "1e999", "-1e300", "1e300"};
    char body[512];
    int n = 0;
    for (size_t f = 0; f < sizeof ollama / sizeof ollama[0]; f++)
        for (size_t v = 0; v < sizeof vals / sizeof vals[0]; v++) {
            snprintf(body, sizeof body, "{\"prompt\":\"a\",\"options\":{\"%s\":%s}}", ollama[f], vals[v]);
            n += check_bad(port, "POST", "/api/generate", body, 400);
        }
    for (size_t f = 0; f < sizeof openai / sizeof openai[0]; f++)
        for (size_t v = 0; v < sizeof vals / sizeof vals[0]; v++) {
            snprintf(body, sizeof body, "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"%s\":%s}",
                     openai[f], vals[v]);
            n += check_bad(port, "POST", "/v1/chat/completions", body, 400);
        }
    static const char *const stops[] = {"5", "[1]", "{}", "true", "[[]]"};
    for (size_t v = 0; v < sizeof stops / sizeof stops[0]; v++) {
        snprintf(body, sizeof body, "{\"prompt\":\"a\",\"options\":{\"stop\":%s}}", stops[v]);
        n += check_bad(port, "POST", "/api/generate", body, 400);
        snprintf(body, sizeof body, "{\"prompt\":\"a\",\"stop\":%s}", stops[v]);
        n += check_bad(port, "POST", "/v1/completions", body, 400);
    }
    /* every truncation of a good body */
    static const char good[] = "{\"model\":\"x\",\"prompt\":\"Once\",\"options\":{\"temperature\":0,\"num_predict\":2}}";
    for (size_t k = 1; k + 1 < sizeof good; k++) {
        snprintf(body, sizeof body, "%.*s", (int)k, good);
        n += check_bad(port, "POST", "/api/generate", body, 400);
    }
    return n;
}

/* Raw bytes on a connection: the status of the answer (0 when the server just closed). */
static int raw_exchange(int port, const char *bytes, size_t n, bool half_close, int pause_ms)
{
    int fd = connect_port(port);
    if (fd < 0)
        return -1;
    send_all(fd, bytes, n);
    if (pause_ms)
        usleep((useconds_t)pause_ms * 1000);
    if (half_close)
        shutdown(fd, SHUT_WR);
    struct resp r;
    int st = read_resp(fd, &r) == 0 ? r.status : 0;
    if (st)
        resp_free(&r);
    close(fd);
    return st;
}

static int bad_transport(int port)
{
    int n = 0;
    /* a body over the limit, announced: refused before it is read */
    const char *big_head = "POST /api/generate HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " KEY "\r\n"
                           "Content-Length: 10485760\r\n\r\n{\"prompt\":\"";
    CHECK_EQ(raw_exchange(port, big_head, strlen(big_head), false, 0), 413);
    n++;
    /* 10 MB, chunked (no length announced) */
    size_t big = 10u << 20;
    char *b = malloc(big + 1);
    memset(b, 'a', big);
    b[big] = 0;
    memcpy(b, "{\"prompt\":\"", 11);
    int fd = connect_port(port);
    char head[256];
    int hl = snprintf(head, sizeof head, "POST /api/chat HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " KEY
                      "\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n");
    send_all(fd, head, (size_t)hl);
    for (size_t off = 0; off < big; off += 1 << 20) {
        char ch[32];
        int cl = snprintf(ch, sizeof ch, "%x\r\n", 1 << 20);
        if (!send_all(fd, ch, (size_t)cl) || !send_all(fd, b + off, 1 << 20) || !send_all(fd, "\r\n", 2))
            break;
    }
    send_all(fd, "0\r\n\r\n", 5);
    struct resp r;
    CHECK(read_resp(fd, &r) == 0 && r.status == 413);
    resp_free(&r);
    close(fd);
    n++;
    struct resp r2;
    CHECK(http(port, "POST", "/api/generate", "Authorization: Bearer " KEY "\r\n", b, big, &r2) == 0 && r2.status == 413);
    resp_free(&r2);
    n++;
    /* deep nesting */
    memset(b, '[', 200000);
    n += check_bad(port, "POST", "/api/generate", (b[200000] = 0, b), 400);
    free(b);
    /* a truncated body, a slow request cut off, garbage: answered or closed, never a hang */
    const char *trunc = "POST /api/generate HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " KEY
                        "\r\nContent-Length: 100\r\n\r\n{\"prompt\":";
    int st = raw_exchange(port, trunc, strlen(trunc), true, 0);
    CHECKF(st == 0 || st == 400, "truncated body: %d", st);
    const char *slow = "POST /api/generate HTTP/1.1\r\nHost: x\r\n";
    st = raw_exchange(port, slow, strlen(slow), true, 300);
    CHECKF(st == 0 || st == 400, "slow partial request: %d", st);
    st = raw_exchange(port, "GARBAGE\r\n\r\n", 11, true, 0);
    CHECKF(st == 0 || (st >= 400 && st < 500), "garbage: %d", st);
    n += 3;
    return n;
}

static int bad_keys(int port)
{
    static const struct {
        const char *hdr, *path;
        int want;
    } k[] = {
        {"", "/api/tags", 401},
        {"Authorization: Bearer wrong\r\n", "/api/tags", 401},
        {"Authorization: Bearer " KEY "x\r\n", "/v1/models", 401},
        {"Authorization: Bearer test-key\r\n", "/v1/models", 401},
        {"Authorization: " KEY "\r\n", "/api/tags", 401},
        {"x-api-key: nope\r\n", "/api/ps", 401},
        {"x-api-key: " KEY "\r\n", "/api/tags", 200},
        {"Authorization: bearer " KEY "\r\n", "/v1/models", 200},
        {"", "/health", 200},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        struct resp r;
        CHECK(http(port, "GET", k[i].path, k[i].hdr, NULL, 0, &r) == 0);
        CHECKF(r.status == k[i].want, "%s%s: %d", k[i].hdr, k[i].path, r.status);
        if (k[i].want == 401) {
            cJSON *o = cJSON_Parse(r.body);
            CHECK(!strncmp(k[i].path, "/v1/", 4) ? streq(jstr_of(o, "error.code"), "invalid_api_key")
                                                 : jstr_of(o, "error") != NULL);
            cJSON_Delete(o);
        }
        resp_free(&r);
    }
    return (int)(sizeof k / sizeof k[0]);
}

static void test_hostile(void)
{
    int p = g_main.port, n = 0;
    for (size_t i = 0; i < sizeof k_bad / sizeof k_bad[0]; i++)
        n += check_bad(p, k_bad[i].method, k_bad[i].path, k_bad[i].body, k_bad[i].want);
    n += bad_options(p);
    n += bad_transport(p);
    n += bad_keys(p);
    /* bytes that are not UTF-8 in a prompt: served (byte fallback), JSON out stays valid */
    int st;
    cJSON *o = req(p, "POST", "/api/generate", "{\"prompt\":\"\xff\xfe\xc3\",\"stream\":false,"
                   "\"options\":{\"num_predict\":3}}", &st);
    CHECK(st == 200 && o);
    cJSON_Delete(o);
    n++;
    printf("  %d hostile requests answered\n", n);
    CHECK(n >= 200);
    CHECK_EQ(health(p), 200);
    o = req(p, "POST", "/api/generate", "{\"prompt\":\"" PROMPT "\",\"stream\":false,\"options\":{" GREEDY "}}", &st);
    CHECK(st == 200 && streq(jstr_of(o, "response"), g_want_once));
    cJSON_Delete(o);
}

/* ---- concurrency, clients that go away, a full queue, stopping ------------------------- */

struct client {
    pthread_t th;
    int port, i;
    bool ok;
    char text[4096];
};

static void *client_main(void *arg)
{
    struct client *c = arg;
    int st, n_usage;
    char finish[32];
    cJSON *last = NULL;
    char *b;
    if (c->i % 2 == 0) {
        b = post_raw(c->port, "/api/generate", "{\"prompt\":\"" PROMPT "\",\"options\":{" GREEDY "}}", &st);
        c->ok = st == 200 && b && ndjson_text(b, "response", c->text, sizeof c->text, &last) &&
                streq(c->text, g_want_once);
    } else {
        b = post_raw(c->port, "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],"
                     "\"max_tokens\":40,\"temperature\":0,\"stream\":true}", &st);
        c->ok = st == 200 && b && sse_text(b, true, c->text, sizeof c->text, &n_usage, finish, sizeof finish) &&
                streq(c->text, g_want_chat);
    }
    cJSON_Delete(last);
    free(b);
    return NULL;
}

static void test_concurrent_streams(void)
{
    struct client c[16];
    for (int i = 0; i < 16; i++) {
        c[i] = (struct client){.port = g_main.port, .i = i};
        pthread_create(&c[i].th, NULL, client_main, &c[i]);
    }
    int ok = 0;
    for (int i = 0; i < 16; i++) {
        pthread_join(c[i].th, NULL);
        CHECKF(c[i].ok, "client %d got '%s'", i, c[i].text);
        ok += c[i].ok;
    }
    printf("  16 concurrent streams on 4 slots: %d right\n", ok);
    CHECK_EQ(health(g_main.port), 200);
}

/* Connect, send a streaming request, and read until the first object of its stream. */
static int open_stream(int port, const char *body)
{
    int fd = connect_port(port);
    char head[512];
    int hl = snprintf(head, sizeof head, "POST /api/generate HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                      "Content-Length: %zu\r\n\r\n", strlen(body));
    if (fd < 0 || !send_all(fd, head, (size_t)hl) || !send_all(fd, body, strlen(body))) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    char buf[4096];
    size_t n = 0;
    while (n < sizeof buf - 1) {
        ssize_t k = recv(fd, buf + n, sizeof buf - 1 - n, 0);
        if (k <= 0)
            break;
        n += (size_t)k;
        buf[n] = 0;
        char *h = strstr(buf, "\r\n\r\n");
        if (h && strchr(h + 4, '}'))
            return fd;
    }
    close(fd);
    return -1;
}

struct queued {
    pthread_t th;
    int port, status;
    char *body;
};

static void *queued_main(void *arg)
{
    struct queued *q = arg;
    struct resp r;
    const char *b = "{\"prompt\":\"" PROMPT "\",\"stream\":false,\"options\":{" GREEDY "}}";
    q->status = http(q->port, "POST", "/api/generate", NULL, b, strlen(b), &r) ? -1 : r.status;
    if (q->status > 0) {
        q->body = r.body;
        r.body = NULL;
        resp_free(&r);
    }
    return NULL;
}

static double ps_field(int port, const char *f)
{
    int st;
    cJSON *o = req(port, "GET", "/api/ps", NULL, &st);
    double v = jnum_of(o, f);
    cJSON_Delete(o);
    return v;
}

/* A request that begins as the slot's cache does evaluates only the rest: the same prompt
 * again re-evaluates its last token alone (for the logits), and gives the same text. */
static void test_kv_reuse(void)
{
    int p = g_small.port, st;
    const char *b = "{\"prompt\":\"" PROMPT "\",\"stream\":false,\"options\":{" GREEDY "}}";
    for (int i = 0; i < 2; i++) {
        double ev0 = ps_field(p, "models.0.hypura.prompt_tokens_evaluated");
        cJSON *o = req(p, "POST", "/api/generate", b, &st);
        CHECK(st == 200 && streq(jstr_of(o, "response"), g_want_once) && jnum_of(o, "prompt_eval_count") == 5);
        cJSON_Delete(o);
        double ev = ps_field(p, "models.0.hypura.prompt_tokens_evaluated") - ev0;
        if (i == 1)
            CHECKF(ev == 1, "the repeated prompt evaluated %.0f tokens", ev);
    }
}

/* One slot, a queue of one: a long stream holds the slot, a second request waits, a third
 * is refused with 503; the stream's client goes away, its generation stops, the waiting
 * request is served. */
static void test_disconnect_and_queue(void)
{
    int p = g_small.port;
    double gen0 = ps_field(p, "models.0.hypura.generated_tokens");
    int a = open_stream(p, "{\"prompt\":\"" PROMPT "\",\"options\":{\"temperature\":0,\"repeat_penalty\":1,"
                           "\"num_predict\":2000}}");
    CHECK(a >= 0);
    struct queued q = {.port = p};
    pthread_create(&q.th, NULL, queued_main, &q);
    for (int i = 0; i < 100 && ps_field(p, "models.0.hypura.queued") < 1; i++)
        usleep(20000);
    CHECK(ps_field(p, "models.0.hypura.queued") == 1);
    struct resp r;
    const char *b = "{\"prompt\":\"a\"}";
    CHECK(http(p, "POST", "/api/generate", NULL, b, strlen(b), &r) == 0 && r.status == 503);
    cJSON *o = cJSON_Parse(r.body);
    CHECK(jstr_of(o, "error") && strstr(jstr_of(o, "error"), "busy"));
    cJSON_Delete(o);
    resp_free(&r);
    close(a);
    pthread_join(q.th, NULL);
    o = q.body ? cJSON_Parse(q.body) : NULL;
    CHECK(q.status == 200 && streq(jstr_of(o, "response"), g_want_once));
    cJSON_Delete(o);
    free(q.body);
    for (int i = 0; i < 100 && ps_field(p, "models.0.hypura.busy") != 0; i++)
        usleep(20000);
    CHECK(ps_field(p, "models.0.hypura.busy") == 0 && ps_field(p, "models.0.hypura.queued") == 0);
    double gen = ps_field(p, "models.0.hypura.generated_tokens") - gen0;
    printf("  the stream that went away stopped after %.0f of 2000 tokens\n", gen - N_GEN);
    CHECKF(gen < 1500 + N_GEN, "%.0f tokens generated: the abandoned stream ran on", gen);
    /* a client waiting for a whole answer goes away too */
    gen0 = ps_field(p, "models.0.hypura.generated_tokens");
    int fd = connect_port(p);
    b = "{\"prompt\":\"" PROMPT "\",\"stream\":false,\"options\":{\"temperature\":0,\"repeat_penalty\":1,"
        "\"num_predict\":2000}}";
    char head[256];
    int hl = snprintf(head, sizeof head, "POST /api/generate HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n",
                      strlen(b));
    CHECK(fd >= 0 && send_all(fd, head, (size_t)hl) && send_all(fd, b, strlen(b)));
    for (int i = 0; i < 100 && ps_field(p, "models.0.hypura.busy") < 1; i++)
        usleep(10000);
    close(fd);
    for (int i = 0; i < 200 && ps_field(p, "models.0.hypura.busy") != 0; i++)
        usleep(20000);
    gen = ps_field(p, "models.0.hypura.generated_tokens") - gen0;
    printf("  the request whose client went away stopped after %.0f of 2000 tokens\n", gen);
    CHECKF(gen < 1500, "%.0f tokens generated: the abandoned request ran on", gen);
}

/* SIGTERM while a stream runs: it is finished, then the server exits 0. */
static void test_stop_finishes_streams(void)
{
    int fd = open_stream(g_small.port, "{\"prompt\":\"" PROMPT "\",\"options\":{\"temperature\":0,"
                                       "\"repeat_penalty\":1,\"num_predict\":300}}");
    CHECK(fd >= 0);
    kill(g_small.pid, SIGTERM);
    char *all = malloc(1 << 20);
    size_t n = 0;
    ssize_t k;
    while (fd >= 0 && n < (1u << 20) - 1 && (k = recv(fd, all + n, (1u << 20) - 1 - n, 0)) > 0)
        n += (size_t)k;
    all[n] = 0;
    if (fd >= 0)
        close(fd);
    char *lastline = NULL;
    for (char *l = strstr(all, "{\"model\""); l; l = strstr(l + 1, "{\"model\""))
        lastline = l;
    cJSON *o = lastline ? cJSON_ParseWithOpts(lastline, NULL, false) : NULL;
    CHECKF(o && cJSON_IsTrue(cJSON_GetObjectItem(o, "done")) && jnum_of(o, "eval_count") == 300,
           "the stream in flight did not finish: %.200s", lastline ? lastline : "");
    cJSON_Delete(o);
    free(all);
    int rc = server_stop(&g_small);
    CHECKF(rc == 0, "the server exited %d after SIGTERM", rc);
    if (rc)
        show_log(&g_small);
}

/* A server that cannot start says why and exits 1 (2 for a bad option). */
static void test_bad_start(void)
{
    char cmd[2048];
    static const struct {
        const char *args;
        int want;
        const char *says;
    } k[] = {
        {"/nonexistent.gguf --port 0", 1, "hypura: /nonexistent.gguf: "},
        {"%s --port %d", 1, "cannot listen"},
        {"%s --parallel 0", 2, "bad value"},
        {"%s --host no.such.host.invalid --port 0", 1, "cannot listen"},
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        char args[1024], out[128];
        snprintf(args, sizeof args, k[i].args, g_model, g_main.port);
        snprintf(out, sizeof out, "/tmp/hypura-test-serve-%d.err", (int)getpid());
        snprintf(cmd, sizeof cmd, "timeout 30 %s serve %s >/dev/null 2>%s", test_hypura_bin(), args, out);
        int st = system(cmd);
        int rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        char *err = test_read_file(out, NULL);
        CHECKF(rc == k[i].want && err && strstr(err, k[i].says), "serve %s: exit %d: %s", args, rc,
               err ? err : "");
        free(err);
        unlink(out);
    }
}

/* SIGTERM with nothing in flight: exit 0 (under ASan: no leak, or the status says so). */
static void test_main_stops(void)
{
    int rc = server_stop(&g_main);
    CHECKF(rc == 0, "the main server exited %d after SIGTERM", rc);
    if (rc)
        show_log(&g_main);
}

/* ---- the real client libraries --------------------------------------------------------- */

static bool file_has(const char *path, const char *needle)
{
    char *t = test_read_file(path, NULL);
    bool has = t && strstr(t, needle);
    free(t);
    return has;
}

/* npm's ollama@0.6 and openai@6 in a cache folder, installed when missing. NULL (reason
 * in why) when they cannot be had. */
static char *npm_dir(char *why, size_t cap)
{
    if (system("command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1")) {
        snprintf(why, cap, "no node and npm on PATH");
        return NULL;
    }
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    char *dir = malloc(1024);
    if (xdg && *xdg)
        snprintf(dir, 1024, "%s/hypura/npm", xdg);
    else
        snprintf(dir, 1024, "%s/.cache/hypura/npm", home ? home : "/tmp");
    char p1[1100], p2[1100], cmd[4096];
    snprintf(p1, sizeof p1, "%s/node_modules/ollama/package.json", dir);
    snprintf(p2, sizeof p2, "%s/node_modules/openai/package.json", dir);
    if (file_has(p1, "\"version\": \"0.6.") && file_has(p2, "\"version\": \"6."))
        return dir;
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && timeout 300 npm install --prefix '%s' --no-audit --no-fund "
             "--loglevel=error ollama@0.6 openai@6 >'%s/install.log' 2>&1", dir, dir, dir);
    printf("  installing ollama@0.6 and openai@6 into %s\n", dir);
    fflush(stdout);
    if (system(cmd) || !file_has(p1, "\"version\": \"0.6.") || !file_has(p2, "\"version\": \"6.")) {
        snprintf(why, cap, "npm could not install ollama@0.6 and openai@6 (registry unreachable?): see %s/install.log", dir);
        free(dir);
        return NULL;
    }
    return dir;
}

static void test_npm_clients(void)
{
    char why[1200];
    char *dir = npm_dir(why, sizeof why);
    if (!dir) {
        TEST_SKIP("%s", why);
        return;
    }
    char port[16], cmd[4096];
    snprintf(port, sizeof port, "%d", g_main.port);
    setenv("HYPURA_PORT", port, 1);
    setenv("HYPURA_KEY", KEY, 1);
    setenv("HYPURA_WANT_ONCE", g_want_once, 1);
    setenv("HYPURA_WANT_CHAT", g_want_chat, 1);
    /* the script runs from the cache folder, where node finds the packages */
    snprintf(cmd, sizeof cmd, "cp tests/serve_clients.mjs '%s/' && timeout 120 node '%s/serve_clients.mjs' 2>&1",
             dir, dir);
    FILE *p = popen(cmd, "r");
    char line[4096];
    while (p && fgets(line, sizeof line, p))
        printf("  %s", line);
    int rc = p ? pclose(p) : -1;
    CHECKF(rc == 0, "the node clients failed (status %d)", rc);
    free(dir);
}

int main(void)
{
    if (access(test_hypura_bin(), X_OK) != 0) {
        printf("no hypura binary at %s\n", test_hypura_bin());
        return 77;
    }
    char help[256];
    snprintf(help, sizeof help, "%s serve --help >/dev/null 2>&1", test_hypura_bin());
    if (system(help) != 0) {
        printf("this hypura has no HTTP server (libmicrohttpd missing)\n");
        return 77;
    }
    g_model = test_shared_path("fixtures/real/stories260K-F32.gguf");
    if (!g_model) {
        printf("no fixtures under %s\n", test_shared_dir());
        return 77;
    }
    signal(SIGALRM, on_alarm);
    alarm(500);
    atexit(kill_servers);
    /* the references: `hypura run` greedy, on the prompt and on the rendered chat */
    char chat[256];
    struct hy_chat_message m = {"user", "Hi"};
    int cl = hy_chat_apply_template("chatml", &m, 1, true, chat, sizeof chat - 1);
    chat[cl > 0 ? cl : 0] = 0;
    g_want_once = run_text(PROMPT, "--temp 0 -n 40 --repeat-penalty 1");
    g_want_chat = run_text(chat, "--temp 0 -n 40 --repeat-penalty 1");
    if (!g_want_once || !g_want_chat || !*g_want_once || !*g_want_chat) {
        printf("hypura run gave no reference text\n");
        return 1;
    }
    double t0 = hy_now_seconds();
    bool up = server_start(&g_main, "--parallel 4 --ctx-size 256 --api-key " KEY, "main") &&
              server_start(&g_small, "--parallel 1 --queue 1 --ctx-size 2048", "small");
    printf("servers up in %.2f s\n", hy_now_seconds() - t0);
    if (up) {
        RUN(test_routes);
        RUN(test_bad_start);
        RUN(test_ollama_matches_run);
        RUN(test_openai_matches_run);
        RUN(test_hostile);
        RUN(test_concurrent_streams);
        RUN(test_kv_reuse);
        RUN(test_disconnect_and_queue);
        RUN(test_stop_finishes_streams);
        RUN(test_npm_clients);
        RUN(test_main_stops);
    } else {
        show_log(&g_main);
        show_log(&g_small);
    }
    kill_servers();
    unlink(g_main.log);
    unlink(g_small.log);
    free(g_model);
    free(g_want_once);
    free(g_want_chat);
    return test_finish();
}

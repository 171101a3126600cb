/* Request JSON for the server: the body parsed strictly, typed fields that say what is
 * wrong (a 400 names the field), stop strings, and the few things cJSON prints in a way
 * clients do not expect (large integers, text that is not UTF-8). */
#include "server/server.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

cJSON *req_json(struct req *r, enum MHD_Result *mr)
{
    const char *end = NULL;
    if (!r->len) {
        *mr = reply_error(r, 400, "the request has no body: a JSON object is expected");
        return NULL;
    }
    cJSON *o = cJSON_ParseWithLengthOpts(r->body, r->len, &end, false);
    if (o && end) {
        while (end < r->body + r->len && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
            end++;
        if (end != r->body + r->len) {
            cJSON_Delete(o);
            o = NULL;
        }
    }
    if (!o) {
        size_t at = end && end >= r->body ? (size_t)(end - r->body) : 0;
        *mr = reply_error(r, 400, "the body is not valid JSON (at byte %zu)", at);
        return NULL;
    }
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        *mr = reply_error(r, 400, "the body must be a JSON object");
        return NULL;
    }
    return o;
}

static const cJSON *field(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

int jstr(const cJSON *o, const char *key, const char **out, char *err, size_t cap)
{
    const cJSON *v = field(o, key);
    if (!v)
        return 1;
    if (!cJSON_IsString(v) || !v->valuestring) {
        snprintf(err, cap, "'%s' must be a string", key);
        return -1;
    }
    *out = v->valuestring;
    return 0;
}

int jbool(const cJSON *o, const char *key, bool *out, char *err, size_t cap)
{
    const cJSON *v = field(o, key);
    if (!v)
        return 1;
    if (!cJSON_IsBool(v)) {
        snprintf(err, cap, "'%s' must be true or false", key);
        return -1;
    }
    *out = cJSON_IsTrue(v);
    return 0;
}

int jnum(const cJSON *o, const char *key, double lo, double hi, double *out, char *err, size_t cap)
{
    const cJSON *v = field(o, key);
    if (!v)
        return 1;
    if (!cJSON_IsNumber(v)) {
        snprintf(err, cap, "'%s' must be a number", key);
        return -1;
    }
    double d = v->valuedouble;
    if (!isfinite(d) || d < lo || d > hi) {
        snprintf(err, cap, "'%s' must be from %g to %g", key, lo, hi);
        return -1;
    }
    *out = d;
    return 0;
}

int jint(const cJSON *o, const char *key, long long lo, long long hi, long long *out, char *err,
         size_t cap)
{
    double d;
    int rc = jnum(o, key, (double)lo, (double)hi, &d, err, cap);
    if (rc)
        return rc;
    if (d != floor(d)) {
        snprintf(err, cap, "'%s' must be a whole number", key);
        return -1;
    }
    *out = (long long)d;
    return 0;
}

void gen_opts_free(struct gen_opts *g)
{
    for (int i = 0; i < g->n_stop; i++)
        free(g->stop[i]);
    free(g->stop);
    g->stop = NULL;
    g->n_stop = 0;
}

static int stop_add(struct gen_opts *g, const char *s)
{
    if (!*s)
        return 0; /* an empty stop string would end every generation at once: ignored */
    char **a = realloc(g->stop, sizeof *a * (size_t)(g->n_stop + 1));
    if (!a)
        return -ENOMEM;
    g->stop = a;
    if (!(a[g->n_stop] = strdup(s)))
        return -ENOMEM;
    g->n_stop++;
    return 0;
}

#define STOP_MAX_LEN 1024

int jstop(const cJSON *o, const char *key, int max, struct gen_opts *g, char *err, size_t cap)
{
    const cJSON *v = field(o, key);
    if (!v)
        return 1;
    if (cJSON_IsString(v)) {
        if (strlen(v->valuestring) > STOP_MAX_LEN) {
            snprintf(err, cap, "'%s': a stop string is at most %d bytes", key, STOP_MAX_LEN);
            return -1;
        }
        return stop_add(g, v->valuestring) ? -1 : 0;
    }
    if (!cJSON_IsArray(v)) {
        snprintf(err, cap, "'%s' must be a string or an array of strings", key);
        return -1;
    }
    if (cJSON_GetArraySize(v) > max) {
        snprintf(err, cap, "'%s' has more than %d stop strings", key, max);
        return -1;
    }
    const cJSON *e;
    cJSON_ArrayForEach(e, v) {
        if (!cJSON_IsString(e) || strlen(e->valuestring) > STOP_MAX_LEN) {
            snprintf(err, cap, "'%s' must be an array of strings of at most %d bytes", key, STOP_MAX_LEN);
            return -1;
        }
        if (stop_add(g, e->valuestring)) {
            snprintf(err, cap, "out of memory");
            return -1;
        }
    }
    return 0;
}

void json_add_int(cJSON *o, const char *key, long long v)
{
    char b[32];
    snprintf(b, sizeof b, "%lld", v);
    cJSON_AddRawToObject(o, key, b);
}

void json_add_text(cJSON *o, const char *key, const char *s, size_t n)
{
    char *t = malloc(n + 1);
    char *c = NULL;
    if (t) {
        memcpy(t, s, n);
        t[n] = 0;
        c = hy_utf8_clean(t);
    }
    cJSON_AddStringToObject(o, key, c ? c : "");
    free(t);
    free(c);
}

void rfc3339_now(char *buf, size_t cap)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char d[32];
    strftime(d, sizeof d, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, cap, "%s.%09ldZ", d, ts.tv_nsec);
}

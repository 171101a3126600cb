/* GET /metrics: the server's counters in Prometheus' text format (version 0.0.4):
 * requests, generations, tokens in and out (and of the prompt tokens, those evaluated
 * rather than found in a slot's cache), time to first token and generating time, slots,
 * queue, bytes read from the model file and the weight bytes on each tier. */
#include "server/server.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

struct text {
    char *p;
    size_t len, cap;
    bool oom;
};

static void add(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(struct text *t, const char *fmt, ...)
{
    for (int pass = 0; pass < 2 && !t->oom; pass++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->p ? t->p + t->len : NULL, t->p ? t->cap - t->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->oom = true;
            return;
        }
        if (t->p && t->len + (size_t)n < t->cap) {
            t->len += (size_t)n;
            return;
        }
        size_t c = t->cap ? t->cap : 4096;
        while (c <= t->len + (size_t)n)
            c *= 2;
        char *b = realloc(t->p, c);
        if (!b) {
            t->oom = true;
        } else {
            t->p = b;
            t->cap = c;
        }
    }
}

static void metric(struct text *t, const char *name, const char *type, const char *help, double v)
{
    add(t, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, v);
}

enum MHD_Result route_metrics(struct req *r)
{
    struct hy_server *s = r->srv;
    struct text t = {0};
    struct engine *eng = s->eng;
    struct engine_stats es = {0};
    if (eng)
        engine_get_stats(eng, &es);
    metric(&t, "hypura_ready", "gauge", "1 once the weights are placed.", eng ? 1 : 0);
    metric(&t, "hypura_requests_total", "counter", "HTTP requests received.",
           (double)atomic_load(&s->n_requests));
    metric(&t, "hypura_generations_total", "counter", "Generations that got a sequence slot.",
           (double)es.n_jobs);
    metric(&t, "hypura_prompt_tokens_total", "counter", "Prompt tokens of the generations.",
           (double)es.n_prompt_tokens);
    metric(&t, "hypura_prompt_tokens_evaluated_total", "counter",
           "Prompt tokens evaluated (the others were in a slot's KV cache).", (double)es.n_prompt_eval);
    metric(&t, "hypura_generated_tokens_total", "counter", "Tokens generated.", (double)es.n_gen_tokens);
    add(&t, "# HELP hypura_time_to_first_token_seconds From a request's arrival to its first token.\n"
            "# TYPE hypura_time_to_first_token_seconds summary\n"
            "hypura_time_to_first_token_seconds_sum %.17g\nhypura_time_to_first_token_seconds_count %llu\n",
        es.first_s, es.n_first);
    metric(&t, "hypura_generation_seconds_total", "counter",
           "Seconds from first token to end, summed over the generations.", es.gen_s);
    metric(&t, "hypura_slots", "gauge", "Sequences generated at once (--parallel).", (double)es.n_slots);
    metric(&t, "hypura_slots_busy", "gauge", "Sequences generating now.", (double)es.n_busy);
    metric(&t, "hypura_queue_length", "gauge", "Requests waiting for a slot.", (double)es.n_queued);
    metric(&t, "hypura_model_read_bytes_total", "counter",
           "Bytes read from the model file: header, resident weights, streamed weights.",
           (double)hy_model_bytes_read(s->m));
    const hy_plan *pl = eng ? hy_model_plan(s->m) : NULL;
    if (pl) {
        struct hy_plan_info pi;
        hy_plan_get_info(pl, &pi);
        add(&t, "# HELP hypura_weight_bytes Weight bytes held on each tier by the plan.\n"
                "# TYPE hypura_weight_bytes gauge\n");
        static const char *const tiers[] = {"gpu", "ram", "disk"};
        for (int k = 0; k < 3; k++)
            add(&t, "hypura_weight_bytes{tier=\"%s\"} %llu\n", tiers[k],
                (unsigned long long)pi.tier_bytes[k]);
    }
    enum MHD_Result mr = t.oom ? reply_error(r, 500, "out of memory")
                               : reply_raw(r, 200, "text/plain; version=0.0.4; charset=utf-8", t.p, t.len);
    free(t.p);
    return mr;
}

/* The server's generation engine: sequence slots (a session each, with the tokens its KV
 * cache holds), a bounded queue of jobs, and one thread that advances every busy slot by a
 * step in turn: a chunk of its prompt, or one generated token. One thread means one forward
 * pass at a time, which a model that streams its weights needs anyway; the step loop is
 * where a batched evaluation across sessions will go (one pass for every busy slot).
 *
 * A job is one request's generation: its prompt tokens and options in, its text (stop
 * strings cut out), token ids, finish reason and timings out. The HTTP side holds a
 * reference while it waits for or streams the job; the engine holds one while the job is
 * queued or running. A request whose client goes away cancels its job, and the slot is
 * free at the engine's next step.
 *
 * What continuous batching (one forward pass advancing every busy slot, so streamed
 * weights are read once per step for all of them) will need:
 *   - a batched evaluation across sessions in include/hypura.h, e.g.
 *     hy_batch_eval(hy_session *const *s, const hy_token *const *toks, const int *n, int n_seq):
 *     the rows of every session concatenated through each weight matrix (one matmul, one
 *     walk of the streamer under stream_mu), attention per session over its own KV cache,
 *     logits per session;
 *   - its scratch (activations for the rows of all sessions) and one thread pool owned by a
 *     batch context, not by each session (today every slot's session has its own pool);
 *   - the planner counting those buffers and predicting decode speed for n rows a step
 *     (bytes streamed once, shared by the rows);
 *   - here: a step gathers one row per decoding slot and a bounded chunk of a joining
 *     slot's prompt, makes one call, then samples each slot as step_decode does.
 *
 * Uses include/hypura.h only. Not owned here: HTTP, JSON, the shapes of the APIs
 * (server.c, ollama.c, openai.c). */
#ifndef HY_SERVER_ENGINE_H
#define HY_SERVER_ENGINE_H

#include "hypura.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct engine;

/* One request's generation options. */
struct gen_opts {
    struct hy_sampler_params smp;
    bool seed_set;          /* false: a seed of the engine's choosing */
    int n_predict;          /* tokens at most; < 0: until the end of generation or context */
    int n_ctx;              /* positions the job may use; 0 (or more than a slot has) = a slot's */
    char **stop;            /* (n_stop) stop strings, owned: the text ends before the first */
    int n_stop;
};

enum job_state { JOB_QUEUED = 0, JOB_RUNNING, JOB_DONE };

struct job {
    /* ---- set before engine_submit, read-only after ---- */
    hy_token *prompt;       /* (n_prompt) owned */
    int n_prompt;
    struct gen_opts o;
    double t_arrive;        /* hy_now_seconds() when the request arrived */

    /* ---- written by the engine under mu; final once state is JOB_DONE ---- */
    pthread_mutex_t mu;
    pthread_cond_t cv;      /* signalled when text is ready or the job is done */
    int refs;
    struct engine *eng;
    enum job_state state;
    bool cancel;            /* the client went away: stop at the next step */
    bool cut;               /* the server is stopping: end at the next token */
    char *text;             /* (len) generated text, NUL-terminated; stop strings cut out */
    size_t len, cap;
    size_t ready;           /* text[0..ready) is final; the rest may still begin a stop string */
    hy_token *gen;          /* (n_gen) generated ids, without the one that stopped it */
    int n_gen, cap_gen;
    const char *done_reason;/* "stop" or "length" once done without error */
    char error[256];        /* non-empty: the generation failed */
    int n_prompt_eval;      /* prompt tokens evaluated (the rest came from a slot's cache) */
    double t_start;         /* a slot took it */
    double t_prompt_end;    /* the prompt was evaluated */
    double t_first;         /* the first token was sampled (0: none was) */
    double t_end;
};

/* A new job holding one reference (the caller's), or NULL when out of memory. prompt is
 * copied. */
struct job *job_new(const hy_token *prompt, int n_prompt, const struct gen_opts *o, double t_arrive);
void job_unref(struct job *j);
/* Ask the engine to stop the job (its client is gone); it finishes at the next step. */
void job_cancel(struct job *j);
/* Wait up to timeout_s seconds until text beyond *off is ready or the job is done; append
 * the new ready text to a malloc'ed buffer (*buf, *len, *cap: grown as needed) and
 * advance *off. Returns 1 when the job is done (everything taken), 0 otherwise, -1 when
 * out of memory. */
int job_take(struct job *j, size_t *off, char **buf, size_t *len, size_t *cap, double timeout_s);

/* Wait up to timeout_s seconds for the job to be done; true when it is. */
bool job_wait(struct job *j, double timeout_s);

struct engine_params {
    int n_slots;            /* sequences at once (>= 1) */
    int queue_max;          /* jobs that may wait for a slot */
    int n_ctx;              /* positions of each slot's session; 0 = the model's */
};
/* Sessions for every slot and the step thread. m must be placed and outlive the engine. */
int engine_new(hy_model *m, const struct engine_params *p, struct engine **out);
/* Finish every queued and running job (or cut them: engine_cut first), stop, free. */
void engine_free(struct engine *e);
/* Queue a job (the engine takes a reference). -EAGAIN when the queue is full,
 * -ESHUTDOWN when the engine is stopping. */
int engine_submit(struct engine *e, struct job *j);
/* End every job at its next token (done_reason "length"); refuse new ones. */
void engine_cut(struct engine *e);
int engine_n_ctx(const struct engine *e);
struct engine_stats {
    int n_slots, n_busy, n_queued;
    /* since start: */
    unsigned long long n_jobs, n_prompt_tokens, n_gen_tokens;
    unsigned long long n_prompt_eval;   /* prompt tokens evaluated (the rest were cached) */
    unsigned long long n_first;         /* jobs that sampled a first token, */
    double first_s;                     /* and the seconds from arrival to it, summed */
    double gen_s;                       /* seconds generating (first token to end), summed */
};
void engine_get_stats(struct engine *e, struct engine_stats *out);

/* ---- stop strings (exposed for tests) ---- */
/* Where the text ends given the stop strings: the offset of the first match that lies
 * wholly in text[0..len) and ends past from (*hit true), or else how much of the text is
 * final: len minus the longest tail that begins some stop string. */
size_t stop_scan(const char *text, size_t len, size_t from, char *const *stop, int n_stop, bool *hit);

#endif

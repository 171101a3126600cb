/* hypura — public C API.
 *
 * A model (hy_model) is loaded once and is immutable afterwards: it can be shared by
 * several sessions (evaluations of a model that streams weights take turns). A session
 * (hy_session) holds per-conversation state: the KV cache, the position, compute
 * buffers. The plan's RAM budget counts hy_plan_params.n_seq sessions' (default one);
 * each further session allocates its own beyond the budget. Every function that can fail returns 0 on success or a
 * negative errno-style status; hy_last_error() then says why, in words, for this thread.
 * Every *_free accepts NULL. Options are structs initialised by *_default_params(), so
 * new fields never break callers.
 */
#ifndef HYPURA_H
#define HYPURA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Every function below is the library's interface and nothing else is: the library is
 * built with hidden visibility, and HY_API marks what libhypura.so exports. */
#ifndef HY_API
#if defined(__GNUC__)
#define HY_API __attribute__((visibility("default")))
#else
#define HY_API
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---- logging and errors ------------------------------------------------------------ */
enum hy_log_level { HY_LOG_ERROR = 0, HY_LOG_WARN = 1, HY_LOG_INFO = 2, HY_LOG_DEBUG = 3 };
typedef void (*hy_log_fn)(enum hy_log_level level, const char *msg, void *user);
/* Set once, before other calls. fn NULL restores the default (warnings and errors to
 * stderr). Messages above max_level are dropped before formatting. */
HY_API void hy_log_set(hy_log_fn fn, void *user, enum hy_log_level max_level);
/* The reason for this thread's last failure ("unknown error" if none was recorded). */
HY_API const char *hy_last_error(void);
HY_API void hy_clear_error(void);

/* "2G" = 2 GiB, "512M", "64K", "1.5G", "2GiB", plain bytes (digits only: no signs,
 * exponents, hex or spaces; no fractions of a byte). Returns 0 or -EINVAL. */
HY_API int hy_parse_size(const char *s, uint64_t *out);
/* Monotonic clock, seconds. */
HY_API double hy_now_seconds(void);
/* Format bytes as "1.50 GiB" into buf. Returns buf. */
HY_API char *hy_format_size(uint64_t bytes, char *buf, size_t len);
/* s with every byte that does not start a well-formed UTF-8 character (overlong forms,
 * surrogates, cut-off sequences) replaced by U+FFFD, malloc'ed; NULL when out of memory.
 * For JSON: generated text may end inside a character, or be raw bytes a model produced
 * through byte-fallback tokens. */
HY_API char *hy_utf8_clean(const char *s);

/* ---- model ------------------------------------------------------------------------- */
typedef struct hy_model hy_model;
typedef struct hy_session hy_session;
typedef int32_t hy_token;

enum hy_io_mode {
    HY_IO_AUTO = 0,  /* the planner's choice: resident tensors in anonymous memory,
                        streamed ones through direct I/O */
    HY_IO_MMAP,      /* naive baseline: map the file and let the page cache do the rest */
};

struct hy_plan;
struct hy_profile;

/* Progress of a long measurement: stage in words, frac in [0, 1]. */
typedef void (*hy_progress_fn)(const char *stage, double frac, void *user);

/* What a plan is made for: budgets, context, batch, threads. 0 = automatic: a budget is
 * what is available now minus headroom, capped by any cgroup memory limit (a RAM budget
 * above the cgroup limit is refused). */
struct hy_plan_params {
    uint64_t ram_budget;        /* bytes; 0 = automatic */
    uint64_t gpu_budget;        /* bytes; 0 = automatic (free VRAM minus headroom) */
    bool no_gpu;                /* plan without the GPU tier */
    uint32_t n_ctx;             /* KV cache context; 0 = min(n_ctx_train, 4096) */
    uint32_t n_batch;           /* prompt tokens per forward pass; 0 = 512 */
    uint32_t n_seq;             /* sessions of n_ctx each counted inside the RAM budget
                                   (their KV caches and compute buffers: a server's
                                   sequence slots); 0 = 1 */
    int n_threads;              /* compute threads; 0 = the physical cores this process
                                   may use */
    const char *mode;           /* NULL = the planner's choice; "resident", "ffn-stream",
                                   "layer-stream", "expert-stream" forces one */
    const struct hy_profile *profile;  /* NULL = hy_profile_get for the model's directory */
    bool no_measure;            /* with profile NULL: never measure (cached or defaults) */
    hy_progress_fn progress;    /* measuring progress, NULL = silent */
    void *user;
};
HY_API struct hy_plan_params hy_plan_default_params(void);

struct hy_model_params {
    struct hy_plan_params plan; /* what the weights are placed for: passed to the planner
                                   as it is */
    enum hy_io_mode io;
    bool mlock;                 /* lock resident weights in RAM */
    bool header_only;           /* open: metadata and tensor table only (inspect): no
                                   tokenizer, an unknown architecture opens */
    const char *expert_cache;   /* when some experts stream, what the memory the plan gives
                                   held experts is: NULL or "lru": one cache of slots shared
                                   by all layers, least recently used out first; "static":
                                   the experts the plan chose, held for good */
};
HY_API struct hy_model_params hy_model_default_params(void);

/* A model is opened, then placed. Open reads the header (metadata, tensor table),
 * hyper-parameters and tokenizer, and no tensor data: an opened model tokenizes,
 * describes itself and answers hy_model_meta / hy_model_tensor_info. Place makes the
 * plan for p->plan (budgets, the context and batch it is to serve), reads the resident
 * weights and starts the streamer; sessions need a placed model. A model is placed once;
 * when placing fails the model stays opened and may be placed again (a smaller context,
 * say). p NULL = defaults; open reads only p->header_only. */
HY_API int hy_model_open(const char *path, const struct hy_model_params *p, hy_model **out);
HY_API int hy_model_place(hy_model *m, const struct hy_model_params *p);
HY_API bool hy_model_is_placed(const hy_model *m);
/* Open and place in one call. */
HY_API int hy_model_load(const char *path, const struct hy_model_params *params, hy_model **out);
HY_API void hy_model_free(hy_model *m);

struct hy_model_desc {
    const char *arch;       /* "llama", "qwen2", "qwen3", ... */
    const char *name;       /* general.name or "" */
    int n_vocab, n_layer, n_embd, n_head, n_head_kv, head_dim, n_ff;
    int n_expert, n_expert_used;
    uint32_t n_ctx_train;
    uint64_t n_params;
    uint64_t weight_bytes;  /* bytes of tensor data in the file */
};
HY_API void hy_model_describe(const hy_model *m, struct hy_model_desc *out);
/* The RAM budget the model's plan was made for, in bytes. */
HY_API uint64_t hy_model_ram_budget(const hy_model *m);
/* The plan the weights were placed by (NULL for a model loaded without weights). */
HY_API const struct hy_plan *hy_model_plan(const hy_model *m);
/* The plan's predicted prompt and decode speed, tok/s (0 when there is no plan). */
HY_API void hy_model_predicted(const hy_model *m, double *prompt_tps, double *decode_tps);
/* The disk ceiling of this plan's budget: bytes that must come from storage per decoded
 * token (weights used per token minus what the budget can hold besides the KV cache and
 * buffers) and the profiled storage bandwidth; ceiling tok/s = bw / must. */
HY_API void hy_model_disk_ceiling(const hy_model *m, double *must_bytes, double *disk_bw);
/* GGUF headers this process has parsed so far (every open, plan or inspect parses one):
 * a program that opens a model once reads one. */
HY_API uint64_t hy_headers_read(void);
/* Evict a file from the page cache (the start of a cold run). 0 or -errno. */
HY_API int hy_drop_page_cache(const char *path);

/* ---- inspection: metadata and tensors (an opened model answers them) ---- */
HY_API int64_t hy_model_meta_count(const hy_model *m);
/* Key i, with its value rendered as text into val (arrays summarised); NULL past the end. */
HY_API const char *hy_model_meta(const hy_model *m, int64_t i, char *val, size_t cap);
/* A string metadata value, or NULL. */
HY_API const char *hy_model_meta_str(const hy_model *m, const char *key);

struct hy_tensor_info {
    const char *name;
    const char *type;       /* "Q4_K" */
    int n_dims;
    int64_t ne[4];          /* innermost first */
    uint64_t bytes, offset; /* data size and absolute file offset */
    const char *role;       /* "attn_q", "ffn_down", "expert_up", "token_embd", ... */
    int layer;              /* -1 for global tensors */
};
HY_API int hy_model_tensor_count(const hy_model *m);
HY_API int hy_model_tensor_info(const hy_model *m, int i, struct hy_tensor_info *out);
/* Bytes read from the model file so far: header, resident loads, streaming. */
HY_API uint64_t hy_model_bytes_read(const hy_model *m);

/* ---- tokens ------------------------------------------------------------------------ */
/* Tokenize text. add_special: BOS/EOS as the model's metadata asks. parse_special:
 * special-token text in the input (e.g. "<|im_start|>") becomes that token.
 * Returns the number of tokens (which may exceed n_max: then only n_max were written)
 * or a negative status. */
HY_API int hy_tokenize(const hy_model *m, const char *text, size_t len, bool add_special,
                bool parse_special, hy_token *out, int n_max);
/* The bytes of one token's piece (special tokens render as their text only if
 * render_special). Returns the length, which may exceed cap, or a negative status. */
HY_API int hy_token_to_piece(const hy_model *m, hy_token t, bool render_special, char *buf, int cap);
HY_API bool hy_token_is_eog(const hy_model *m, hy_token t);
/* Streaming detokenization: push generated ids, get back only whole UTF-8 characters
 * (bytes of a character split across tokens are held until it completes). */
typedef struct hy_detok hy_detok;
HY_API int hy_detok_new(const hy_model *m, bool render_special, hy_detok **out);
HY_API void hy_detok_free(hy_detok *d);
/* text/len: the bytes ready to print, valid until the next call on d. */
HY_API int hy_detok_push(hy_detok *d, hy_token t, const char **text, size_t *len);
/* The held bytes of an incomplete character, at the end. */
HY_API void hy_detok_flush(hy_detok *d, const char **text, size_t *len);
HY_API hy_token hy_token_bos(const hy_model *m);  /* -1 if none */
HY_API hy_token hy_token_eos(const hy_model *m);

/* ---- session ----------------------------------------------------------------------- */
struct hy_session_params {
    uint32_t n_ctx;     /* 0 = the model's planned context */
    uint32_t n_batch;   /* prompt tokens per forward pass; 0 = the model's planned batch */
    int n_threads;      /* 0 = the model's */
};
HY_API struct hy_session_params hy_session_default_params(void);
HY_API int hy_session_new(hy_model *m, const struct hy_session_params *p, hy_session **out);
HY_API void hy_session_free(hy_session *s);

/* Append tokens to the session and run them through the model. Only the new tokens
 * are computed; earlier ones come from the KV cache. all_logits: keep the logits of
 * every token of this call (else only the last); those n x n_vocab floats are allocated
 * outside the RAM budget (the plan reserves one row). On failure the session is as before
 * the call (hy_session_n_past unchanged) and has no logits. */
HY_API int hy_session_eval(hy_session *s, const hy_token *toks, int n, bool all_logits);
/* Logits of the i-th token of the last eval (i = -1: the last). n_vocab floats. */
HY_API const float *hy_session_logits(const hy_session *s, int i);
HY_API int hy_session_n_past(const hy_session *s);
/* Positions the session's KV cache holds: n_past never exceeds it. */
HY_API int hy_session_n_ctx(const hy_session *s);
/* Forget everything after the first n tokens (n = 0: reset). */
HY_API int hy_session_truncate(hy_session *s, int n);

struct hy_session_stats {
    uint64_t disk_read_bytes;   /* bytes read from the model file since the model was
                                   opened: header, resident weights, streamed weights */
    double stall_seconds;       /* time compute waited on streamed weights */
    uint64_t n_eval_tokens;
    /* streamed weights since the model was placed (all its sessions): units the forward
     * passes moved to, and of them those the weight schedule (and its run-time hints) did
     * not foresee, so the prefetcher read the wrong ones; 0 when all goes to plan */
    uint64_t stream_acquires, out_of_schedule;
    /* routed experts, this session: bytes the chosen experts needed (each expert once per
     * forward pass, whatever its number of tokens) and, of them, bytes served from RAM
     * (held, or in the expert cache with their read completed); their ratio is the
     * expert cache's hit rate in bytes */
    uint64_t expert_bytes, expert_ram_bytes;
};
HY_API void hy_session_stats(const hy_session *s, struct hy_session_stats *out);

/* ---- sampling ---------------------------------------------------------------------- */
typedef struct hy_sampler hy_sampler;
struct hy_sampler_params {
    float temp;             /* <= 0: greedy */
    int top_k;              /* <= 0: off */
    float top_p;            /* >= 1: off */
    float min_p;            /* <= 0: off */
    float repeat_penalty;   /* 1: off */
    int repeat_last_n;      /* tokens the penalty looks back over */
    uint64_t seed;
};
HY_API struct hy_sampler_params hy_sampler_default_params(void);
HY_API int hy_sampler_new(const struct hy_sampler_params *p, int n_vocab, hy_sampler **out);
HY_API void hy_sampler_free(hy_sampler *s);
/* Choose the next token from logits (n_vocab floats, not modified). */
HY_API hy_token hy_sampler_sample(hy_sampler *s, const float *logits);
/* Tell the sampler a token entered the context (for the repeat penalty). */
HY_API void hy_sampler_accept(hy_sampler *s, hy_token t);
HY_API void hy_sampler_reset(hy_sampler *s);

/* ---- synthetic models --------------------------------------------------------------- */
struct hy_synth_params {
    const char *preset;     /* hy_synth_preset_name(i) */
    const char *type;       /* "Q4_K_M", "Q8_0", "F16", ... (hy_synth_type_name(i)) */
    int n_layers;           /* 0 = the preset's */
    const char *vocab_path; /* GGUF to copy tokenizer.* from; NULL = the preset's vocabulary
                               from $HYPURA_FIXTURES/vocab when present, else byte fallback */
    uint64_t seed;
    bool sparse;            /* the header only, the tensor data left as holes (zeros):
                               for planning and header tests, never for running */
    void (*progress)(double frac, void *user);
    void *user;
};
HY_API struct hy_synth_params hy_synth_default_params(void);
/* Write a random-weight GGUF of a real model's shape. A failed write leaves no file. */
HY_API int hy_synth(const struct hy_synth_params *p, const char *out_path);
HY_API const char *hy_synth_preset_name(int i);  /* NULL past the last */
HY_API const char *hy_synth_type_name(int i);

/* ---- chat templates (src/tokenizer) ------------------------------------------------ */
struct hy_chat_message {
    const char *role;       /* "system", "user", "assistant" */
    const char *content;
};
/* Render a conversation the way a model expects it. tmpl: a template family name (see
 * hy_chat_builtin_templates: "chatml", "llama3", "llama2", "mistral-v7", "phi3", "gemma",
 * "zephyr", "deepseek3", ...), or the text of a model's Jinja chat template (its family is
 * recognised from marker strings, as llama.cpp does: this is no Jinja engine), or NULL for a
 * model without one (ChatML, with a one-line warning). add_generation_prompt: end with the
 * opening of the assistant's turn. Returns the length of the rendering (which may exceed cap:
 * min(length, cap) bytes are written, no NUL) or a negative status; an unrecognised template
 * is -EINVAL and hy_last_error() lists the known names. */
HY_API int hy_chat_apply_template(const char *tmpl, const struct hy_chat_message *msgs, size_t n,
                           bool add_generation_prompt, char *buf, int cap);
/* Names of the template families rendered; returns how many there are (may exceed cap). */
HY_API int hy_chat_builtin_templates(const char **names, int cap);
/* Render a conversation with a model's template (tmpl NULL: the model's own, ChatML with
 * a warning when it has none; else a family name or template text, as above) and tokenize
 * it: special tokens are parsed in the template's text, never in message content (what a
 * client wrote cannot forge a turn); BOS as the vocabulary asks. Returns the number of
 * tokens (which may exceed n_max: then only n_max were written) or a negative status. */
HY_API int hy_chat_tokenize(const hy_model *m, const char *tmpl, const struct hy_chat_message *msgs,
                            size_t n, bool add_generation_prompt, hy_token *out, int n_max);

/* A chat over a session: the model's template (or tmpl, a family name), and a KV cache
 * kept across turns, so each turn evaluates only its new tokens. */
typedef struct hy_chat hy_chat;
/* system: the system prompt or NULL. The chat starts at the session's current position. */
HY_API int hy_chat_new(hy_session *s, const char *tmpl, const char *system, hy_chat **out);
HY_API void hy_chat_free(hy_chat *c);
HY_API const char *hy_chat_template_name(const hy_chat *c);
/* Add a user message and evaluate what the session lacks (n_new: tokens evaluated); the
 * session's last logits then predict the reply's first token. */
HY_API int hy_chat_user(hy_chat *c, const char *text, int *n_new);
/* Record the reply. Its generated tokens must already be in the session (evaluated one
 * by one), without the end-of-generation token that stopped it; text is their text. */
HY_API int hy_chat_assistant(hy_chat *c, const char *text);
/* Forget the conversation (the system prompt stays). */
HY_API int hy_chat_reset(hy_chat *c);

/* ---- hardware profile, placement plan, estimate (src/tier) ------------------------- */

#define HY_PROFILE_MAX_DISK 24

struct hy_disk_point {          /* one direct-I/O sequential read measurement */
    uint32_t block;             /* bytes per request */
    uint32_t depth;             /* requests in flight */
    double bytes_per_s;
};

/* What the planner knows about the machine. Plain data: measured once and cached as
 * JSON; the memory figures (ram_available, cgroup_*) are read afresh on every get. */
struct hy_profile {
    /* CPU */
    char cpu_model[128];
    int n_cores;                /* CPUs this process may run on */
    char simd[16];              /* "avx512", "avx2", "neon", "scalar" */
    double cpu_flops;           /* f32 FMA rate, all cores, FLOP/s */
    double cpu_flops_1t;        /* the same on one core */
    double cpu_matvec_flops;    /* quantized matrix-vector rate, FLOP/s (0 = not measured) */
    double cpu_matmul_flops;    /* quantized matrix-matrix rate, FLOP/s (0 = not measured) */
    /* memory */
    uint64_t ram_total;         /* bytes (MemTotal) */
    uint64_t ram_available;     /* bytes (MemAvailable), now */
    uint64_t cgroup_limit;      /* bytes of the tightest memory cgroup limit; 0 = none */
    uint64_t cgroup_usage;      /* bytes charged to that cgroup, now */
    int cgroup_version;         /* 1 or 2 where a limit applies, else 0 */
    double mem_bw;              /* read bandwidth, all cores, bytes/s */
    double mem_bw_1t;           /* one core */
    /* storage: the device holding disk_path */
    char disk_path[256];        /* the directory measured */
    char disk_dev[64];          /* "major:minor name" */
    char disk_io[16];           /* read path measured: "uring", "threads", "direct", "buffered" */
    int n_disk;
    struct hy_disk_point disk[HY_PROFILE_MAX_DISK];  /* sequential, by block and depth */
    double disk_bw;             /* best sequential bytes/s */
    uint32_t disk_block, disk_depth;   /* where disk_bw was reached */
    double disk_iops;           /* random 4 KiB reads/s at depth disk_iops_depth */
    uint32_t disk_iops_depth;
    double disk_iops_qd1;       /* random 4 KiB reads/s, one in flight (1 / latency) */
    /* GPU (CUDA builds; has_gpu false otherwise) */
    bool has_gpu;
    char gpu_name[128];
    uint64_t vram_total, vram_free;    /* bytes */
    double gpu_mem_bw;          /* device memory bandwidth, bytes/s */
    double gpu_h2d_bw;          /* pinned host-to-device bandwidth, bytes/s */
    double gpu_flops;           /* f32 FMA rate, FLOP/s */
    /* bookkeeping */
    bool measured;              /* false: conservative defaults, nothing measured */
    bool disk_measured;         /* false: default storage figures */
    bool from_cache;            /* this get measured nothing: every figure came cached */
    double measure_seconds;     /* how long measuring took (when it was measured) */
    int64_t measured_at;        /* unix time */
};

struct hy_profile_params {
    const char *dir;            /* a directory on the storage to measure; NULL = the cache dir */
    bool force;                 /* measure even when a cached profile matches this machine */
    bool no_measure;            /* never measure: the cached profile, else defaults */
    const char *sample_file;    /* an existing file of >= 1 GiB in dir (a model) to measure
                                   reads on, instead of writing a test file; NULL = none */
    hy_progress_fn progress;    /* NULL = silent */
    void *user;
};
HY_API struct hy_profile_params hy_profile_default_params(void);
/* The profile of this machine and of the storage holding p->dir: from the cache
 * ($XDG_CACHE_HOME/hypura/profile.json) when its hardware fingerprint (CPU model, cores,
 * RAM total, storage device) still matches, else measured (about 10-20 s) and cached. */
HY_API int hy_profile_get(const struct hy_profile_params *p, struct hy_profile *out);
/* The profile as JSON (malloc'ed; free() it), or NULL when out of memory. */
HY_API char *hy_profile_json(const struct hy_profile *prof);

typedef struct hy_plan hy_plan;
/* Plan a GGUF model: reads the header only (metadata and tensor table, never tensor
 * data), builds tensor roles and the placement plan. A budget too small for any plan
 * fails with -ENOMEM and a message naming the minimum. */
HY_API int hy_plan_file(const char *path, const struct hy_plan_params *p, hy_plan **out);
HY_API void hy_plan_free(hy_plan *pl);

struct hy_plan_info {
    const char *mode;           /* "resident", "ffn-stream", "layer-stream", "expert-stream" */
    const char *arch;
    int n_layer, n_tensors;
    uint32_t n_expert, n_expert_used;
    uint32_t n_ctx, n_batch;
    uint64_t ram_budget, gpu_budget;
    uint64_t ram_used, gpu_used;        /* everything planned in each (<= the budget) */
    uint64_t min_ram_budget;            /* the smallest RAM budget any plan fits in */
    uint64_t tier_bytes[3];             /* weight bytes held on gpu, ram, disk */
    uint64_t pool_bytes;                /* all streaming slots */
    uint32_t n_slots;                   /* slots of the streamed unit (layer FFN, layer, expert) */
    uint64_t slot_bytes;
    uint32_t prefetch_depth;            /* units read ahead of compute */
    uint32_t n_expert_slots;
    uint64_t expert_slot_bytes;         /* one expert's gate+up+down */
    uint64_t expert_cache_bytes;
    uint32_t expert_cache_slices;
    uint64_t kv_bytes, compute_bytes;
    uint32_t io_block, io_depth;        /* read size and queue depth the prediction assumes */
    /* predictions */
    double prompt_tps, decode_tps;
    double disk_bytes_per_token;
    /* per decoded token, seconds */
    double cpu_compute_s, gpu_compute_s, disk_transfer_s, pcie_transfer_s, stall_s;
    bool profile_measured;              /* false: predicted from default hardware figures */
};
HY_API void hy_plan_get_info(const hy_plan *pl, struct hy_plan_info *out);

struct hy_plan_tensor {
    const char *name;
    const char *role;           /* "attn_q", "ffn_down_exps", ... */
    const char *type;           /* "Q4_K" */
    int layer;                  /* -1 for global tensors */
    uint64_t bytes;
    const char *tier;           /* "gpu", "ram", "disk" */
    const char *device;         /* "gpu", "cpu" */
    uint32_t n_expert;          /* fused expert tensors: experts, and the bytes of one */
    uint64_t expert_bytes;
    uint32_t n_expert_cached;   /* of them, held in the expert cache or resident */
};
/* Tensor i (0 <= i < n_tensors). Returns 0 or -EINVAL. */
HY_API int hy_plan_get_tensor(const hy_plan *pl, int i, struct hy_plan_tensor *out);


/* ---- HTTP server (src/server; only in builds with libmicrohttpd: HYPURA_MHD) ------- */
/* `hypura serve`: the Ollama and OpenAI HTTP APIs over one model, opened once and placed
 * once for n_parallel sequences (each a session with its own KV cache). The server answers
 * from threads of its own; the caller starts it, waits (for a signal, say), stops it and
 * frees it. */
typedef struct hy_server hy_server;
struct hy_server_params {
    const char *host;           /* address to listen on; NULL = "127.0.0.1" */
    int port;                   /* 0 = a free port (hy_server_port says which) */
    int n_parallel;             /* sequences generated at once; 0 = 1 */
    int queue_max;              /* requests that may wait for a sequence; more get 503; 0 = 64 */
    size_t body_max;            /* bodies over this many bytes get 413; 0 = 8 MiB */
    const char *api_key;        /* every route but /health needs it (Authorization: Bearer
                                   KEY, or x-api-key: KEY); NULL = none */
    const char *model_name;     /* the name clients see; NULL = the file's name without .gguf */
    struct hy_model_params model; /* budgets, threads; plan.n_ctx is the context of each
                                     sequence, plan.n_seq is set to n_parallel */
};
HY_API struct hy_server_params hy_server_default_params(void);
/* Open the model (its header: a bad file fails here), start listening, and place the
 * weights in the background: /health answers 503 until they are placed, then 200. */
HY_API int hy_server_start(const char *model_path, const struct hy_server_params *p, hy_server **out);
/* The port listened on. */
HY_API int hy_server_port(const hy_server *s);
enum hy_server_state {
    HY_SERVER_LOADING = 0,      /* listening; the weights are being placed */
    HY_SERVER_READY,
    HY_SERVER_FAILED,           /* placing failed: hy_server_error says why */
    HY_SERVER_STOPPING,         /* no new connection or request is accepted */
};
HY_API enum hy_server_state hy_server_get_state(const hy_server *s);
HY_API const char *hy_server_error(const hy_server *s);
/* Stop accepting connections and requests; requests already received go on (streams run
 * to their end) unless cut: then every generation ends at its next token, and its client
 * gets a proper final message (done_reason "length"). Does not wait. */
HY_API void hy_server_stop(hy_server *s, bool cut);
/* No request in flight (after hy_server_stop: the server can be freed at once). */
HY_API bool hy_server_idle(const hy_server *s);
/* Stop (cutting what is in flight), wait for the connections to close (and for the
 * weights' placing, when the server is still loading: it cannot be interrupted), free. */
HY_API void hy_server_free(hy_server *s);

/* ---- storage read paths (src/io) --------------------------------------------------- */
/* How fast the storage holding a file reads, by read path, block size and queue depth,
 * measured cold (`hypura iobench`). */
enum hy_read_path {
    HY_READ_BUFFERED = 0,   /* pread through the page cache, evicted first */
    HY_READ_DIRECT,         /* O_DIRECT (F_NOCACHE on macOS), one synchronous reader */
    HY_READ_URING,          /* O_DIRECT through io_uring at the queue depth */
    HY_READ_THREADS,        /* O_DIRECT through pread worker threads at the queue depth */
    HY_READ_N_PATHS
};
HY_API const char *hy_read_path_name(enum hy_read_path p);   /* "buffered", "direct", ... */

struct hy_iobench_params {
    const char *path;               /* the file read */
    uint64_t create_bytes;          /* > 0: (re)create path with this many random bytes
                                       first, written with direct I/O; 0: it must exist */
    const uint32_t *blocks;         /* request sizes of the sequential runs (multiples of
                                       4096); NULL: 4K, 64K, 1M, 4M */
    int n_blocks;
    const uint32_t *rand_blocks;    /* request sizes of the random runs; NULL: 4K */
    int n_rand_blocks;              /* 0 with rand_blocks set: no random runs */
    const uint32_t *depths;         /* queue depths of the uring and threads paths;
                                       NULL: 1, 4, 16, 64 (buffered and direct: depth 1) */
    int n_depths;
    unsigned paths;                 /* bit (1u << hy_read_path) per path; 0: all */
    double seconds;                 /* per configuration (each also stops at the file's end
                                       when sequential, or after the file's size in random
                                       requests) */
};
HY_API struct hy_iobench_params hy_iobench_default_params(void);

struct hy_iobench_row {
    enum hy_read_path path;
    bool random;
    uint32_t block;                 /* bytes per request */
    uint32_t depth;                 /* requests in flight */
    int status;                     /* 0, or negative (-ENOSYS: no io_uring here); the
                                       figures are 0 when it failed */
    double seconds;
    uint64_t bytes, n_requests;
    double bytes_per_s, iops;
    double lat_avg_us, lat_p99_us;  /* per request, submission to completion */
};
/* Called after each configuration with its figures. */
typedef void (*hy_iobench_fn)(const struct hy_iobench_row *row, void *user);

/* Measure every configuration (sequential: paths x blocks x depths; random: paths x
 * rand_blocks x depths), calling fn after each. A configuration that fails is reported in
 * its row and the run goes on; the function fails (negative) only when the file cannot be
 * created or read at all. */
HY_API int hy_iobench_run(const struct hy_iobench_params *p, hy_iobench_fn fn, void *user);

#ifdef __cplusplus
}
#endif
#endif

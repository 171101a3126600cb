/* The runtime carries the plan out: streamed weights give bit-identical logits to an
 * all-resident run (streaming changes where bytes come from, not the arithmetic), in
 * every mode and under a budget too small to hold the model; the budget is kept; and
 * faults in the file layer (a failing read, short reads, a file truncated under the
 * runtime) give a clear error, never a crash, a hang or wrong output. */
#include "hypura.h"
#include "io/file.h"
#include "model/model.h"
#include "test.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

static const hy_token k_ids[] = {1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 184, 266};
#define N_IDS ((int)(sizeof k_ids / sizeof k_ids[0]))

/* The statistics of the last eval()'s session. */
static struct hy_session_stats g_eval_stats;

/* Logits of every position: first as one prompt batch, then decoding token by token
 * (both the gemm and the matrix-vector paths see streamed weights). */
static float *eval(hy_model *m, int *n_vocab)
{
    struct hy_model_desc d;
    hy_model_describe(m, &d);
    *n_vocab = d.n_vocab;
    struct hy_session_params sp = hy_session_default_params();
    sp.n_ctx = 64;
    hy_session *s;
    if (hy_session_new(m, &sp, &s))
        return NULL;
    size_t row = (size_t)d.n_vocab;
    float *out = malloc(sizeof(float) * row * (N_IDS + N_IDS));
    bool ok = hy_session_eval(s, k_ids, N_IDS, true) == 0;
    /* a failed eval leaves the session as it was, without logits */
    CHECK(ok || (hy_session_n_past(s) == 0 && hy_session_logits(s, -1) == NULL));
    for (int i = 0; ok && i < N_IDS; i++)
        memcpy(out + i * row, hy_session_logits(s, i), sizeof(float) * row);
    for (int i = 0; ok && i < N_IDS; i++) {
        ok = hy_session_eval(s, &k_ids[i], 1, false) == 0;
        if (ok)
            memcpy(out + (N_IDS + i) * row, hy_session_logits(s, -1), sizeof(float) * row);
        else
            CHECK(hy_session_n_past(s) == N_IDS + i && hy_session_logits(s, -1) == NULL);
    }
    hy_session_stats(s, &g_eval_stats);
    hy_session_free(s);
    if (!ok) {
        free(out);
        return NULL;
    }
    return out;
}

/* The parameters every test here places with: 2 threads, 64 positions, no measuring
 * (placement is what is tested, not the machine). */
static struct hy_model_params test_params(const char *mode, uint64_t budget)
{
    struct hy_model_params mp = hy_model_default_params();
    mp.plan.n_threads = 2;
    mp.plan.n_ctx = 64;
    mp.plan.mode = mode;
    mp.plan.ram_budget = budget;
    mp.plan.no_measure = true;
    return mp;
}

static hy_model *load_cache(const char *path, const char *mode, uint64_t budget, const char *cache)
{
    struct hy_model_params mp = test_params(mode, budget);
    mp.expert_cache = cache;
    hy_model *m = NULL;
    if (hy_model_load(path, &mp, &m))
        return NULL;
    return m;
}

static hy_model *load(const char *path, const char *mode, uint64_t budget)
{
    return load_cache(path, mode, budget, NULL);
}

/* The model's streaming statistics (through a session: they are the model's). */
static int stats_of(hy_model *m, struct hy_session_stats *st)
{
    hy_session *s;
    int rc = hy_session_new(m, NULL, &s);
    if (!rc)
        hy_session_stats(s, st);
    hy_session_free(s);
    return rc;
}

/* Swap the gate and up matrices of every layer in the streamer's order. */
static void swap_gate_up(const hy_model *m, struct tensor **order, int n, void *user)
{
    for (int i = 0; i + 1 < n; i++)
        for (uint32_t l = 0; l < m->hp.n_layer; l++)
            if (order[i] == m->layers[l].ffn_gate && order[i + 1] == m->layers[l].ffn_up) {
                order[i] = m->layers[l].ffn_up;
                order[i + 1] = m->layers[l].ffn_gate;
            }
}

/* A forward pass in another order than the streamer's schedule is reported (and still
 * computes the same logits: only the prefetching goes wrong). */
static void test_schedule_order(void)
{
    char *path = test_shared_path("fixtures/synth/llama-s7-Q4_K_M.gguf");
    if (!path) {
        TEST_SKIP("no fixtures under %s", test_shared_dir());
        return;
    }
    hy_model *m = load(path, "resident", 0);
    int nv;
    float *ref = m ? eval(m, &nv) : NULL;
    hy_model_free(m);
    struct hy_model_params mp = test_params("layer-stream", 0);
    struct place_hooks hk = {.reorder = swap_gate_up};
    m = NULL;
    CHECKF(model_load_file(path, &mp, &hk, &m) == 0, "%s", hy_last_error());
    float *got = m ? eval(m, &nv) : NULL;
    CHECK(ref && got && memcmp(got, ref, sizeof(float) * (size_t)nv * 2 * N_IDS) == 0);
    struct hy_session_stats st = {0};
    CHECK(m && stats_of(m, &st) == 0);
    /* 7 layers, each with gate before up where the schedule says up: at least one stray
     * acquire per layer and pass */
    CHECKF(st.out_of_schedule >= 7, "%llu of %llu acquires out of schedule",
           (unsigned long long)st.out_of_schedule, (unsigned long long)st.stream_acquires);
    free(got);
    free(ref);
    hy_model_free(m);
    free(path);
}

static void test_bit_identical(void)
{
    static const char *models[] = {"fixtures/synth/llama-s7-Q4_K_M.gguf",
                                   "fixtures/synth/qwen2-s7-Q8_0.gguf",
                                   "fixtures/real/stories260K-F32.gguf"};
    int ran = 0;
    for (size_t k = 0; k < sizeof models / sizeof models[0]; k++) {
        char *path = test_shared_path(models[k]);
        if (!path)
            continue;
        ran++;
        hy_model *m = load(path, "resident", 0);
        CHECKF(m != NULL, "%s: %s", path, hy_last_error());
        int nv;
        float *ref = m ? eval(m, &nv) : NULL;
        hy_model_free(m);
        const char *modes[] = {"ffn-stream", "layer-stream"};
        for (int i = 0; ref && i < 2; i++) {
            m = load(path, modes[i], 0);
            CHECKF(m != NULL, "%s %s: %s", path, modes[i], hy_last_error());
            if (!m)
                continue;
            float *got = eval(m, &nv);
            CHECKF(got && memcmp(got, ref, sizeof(float) * (size_t)nv * 2 * N_IDS) == 0,
                   "%s %s: logits differ from the resident run", path, modes[i]);
            /* the forward pass went exactly the way the streamer was told */
            struct hy_session_stats st;
            CHECK(stats_of(m, &st) == 0);
            CHECKF(st.stream_acquires > 0 && st.out_of_schedule == 0,
                   "%s %s: %llu of %llu acquires out of schedule", path, modes[i],
                   (unsigned long long)st.out_of_schedule, (unsigned long long)st.stream_acquires);
            free(got);
            hy_model_free(m);
        }
        free(ref);
        free(path);
    }
    if (!ran)
        TEST_SKIP("no fixtures under %s", test_shared_dir());
}

/* A fault-injecting file under the streamer. */
static hy_model *load_faulty(const char *path, const struct file_fault *spec, const char *mode)
{
    struct file *in, *f;
    if (file_open(&in, path) || file_open_fault(&f, in, spec))
        return NULL;
    struct hy_model_params mp = test_params(mode, 0);
    hy_model *m = NULL;
    struct place_hooks hk = {.dfile = f};
    if (model_load_file(path, &mp, &hk, &m))
        return NULL;
    return m;
}

/* What a plan for path in mode (NULL: the planner's choice) says with the budget given
 * (0: automatic), planned as load() places. */
static bool plan_info(const char *path, const char *mode, uint64_t budget, struct hy_plan_info *pi)
{
    struct hy_plan_params pp = hy_plan_default_params();
    pp.n_threads = 2;
    pp.n_ctx = 64;
    pp.n_batch = 64; /* what a load with a context of 64 plans for */
    pp.mode = mode;
    pp.ram_budget = budget;
    pp.no_measure = true;
    hy_plan *pl;
    if (hy_plan_file(path, &pp, &pl))
        return false;
    hy_plan_get_info(pl, pi);
    hy_plan_free(pl);
    return true;
}

/* Expert reads cut short everywhere: the same logits; failing ones: an error or (a
 * passing fault) the same logits, never others. */
static void experts_faults(const char *path, const float *ref)
{
    int nv;
    struct file_fault shortr = {.short_max = 999};
    hy_model *m = load_faulty(path, &shortr, "expert-stream");
    float *got = m ? eval(m, &nv) : NULL;
    CHECKF(got && memcmp(got, ref, sizeof(float) * (size_t)nv * 2 * N_IDS) == 0,
           "%s: short reads change the logits", path);
    free(got);
    hy_model_free(m);
    int eval_fail = 0;
    for (uint64_t nth = 2; nth <= 24; nth += 3) {
        struct file_fault fail = {.fail_nth = nth, .fail_count = nth % 2 ? 1000000 : 1};
        m = load_faulty(path, &fail, "expert-stream");
        got = m ? eval(m, &nv) : NULL;
        eval_fail += m && !got;
        CHECKF(!got || memcmp(got, ref, sizeof(float) * (size_t)nv * 2 * N_IDS) == 0,
               "%s: read %llu failed and the logits are wrong", path, (unsigned long long)nth);
        CHECK(got || strlen(hy_last_error()) > 0);
        free(got);
        hy_model_free(m);
    }
    CHECKF(eval_fail > 0, "%s: no failing read reached an expert", path);
}

/* Experts streamed (the expert slice is the unit, read when the router names it): every
 * placement gives the resident run's logits bit for bit, prompt and decode, and the
 * forward pass acquires exactly what the schedule and the router's hints announced.
 * Placements: every expert streamed through its landing slots (expert-stream forced),
 * the smallest budget (a tiny cache), a budget between that and the whole model (some
 * experts held, some streamed), and layer-stream at its smallest budget (attention and
 * router units of the schedule between the hinted experts). */
static void test_experts_streamed(void)
{
    static const char *models[] = {"fixtures/synth/mixtral-s7-Q4_K_M.gguf",
                                   "fixtures/synth/qwen2moe-s7-Q4_K_M.gguf",
                                   "fixtures/synth/qwen3moe-s7-Q4_K_M.gguf"};
    int ran = 0;
    for (size_t k = 0; k < sizeof models / sizeof models[0]; k++) {
        char *path = test_shared_path(models[k]);
        if (!path)
            continue;
        ran++;
        hy_model *m = load(path, "resident", 0);
        CHECKF(m != NULL, "%s: %s", path, hy_last_error());
        int nv;
        float *ref = m ? eval(m, &nv) : NULL;
        hy_model_free(m);
        struct hy_plan_info any, lay, res;
        CHECK(plan_info(path, NULL, 0, &any) && plan_info(path, "layer-stream", 0, &lay) &&
              plan_info(path, "resident", 0, &res));
        CHECKF(g_eval_stats.expert_bytes > 0 && g_eval_stats.expert_ram_bytes == g_eval_stats.expert_bytes,
               "%s resident: %llu of %llu expert bytes from RAM", path,
               (unsigned long long)g_eval_stats.expert_ram_bytes, (unsigned long long)g_eval_stats.expert_bytes);
        uint64_t mid = (any.min_ram_budget + res.ram_used) / 2;
        struct {
            const char *mode;
            uint64_t budget;
            const char *cache;
        } runs[] = {{"expert-stream", 0, NULL},
                    {NULL, any.min_ram_budget, NULL},
                    {NULL, mid, "static"},
                    {NULL, mid, "lru"},
                    {"layer-stream", lay.min_ram_budget, NULL}};
        bool mixed = false;
        for (size_t i = 0; ref && i < sizeof runs / sizeof runs[0]; i++) {
            m = load_cache(path, runs[i].mode, runs[i].budget, runs[i].cache);
            CHECKF(m != NULL, "%s budget %llu: %s", path, (unsigned long long)runs[i].budget,
                   hy_last_error());
            if (!m)
                continue;
            struct hy_plan_info pi;
            hy_plan_get_info(hy_model_plan(m), &pi);
            float *got = eval(m, &nv);
            struct hy_session_stats st;
            CHECK(stats_of(m, &st) == 0);
            const struct hy_session_stats *es = &g_eval_stats;
            double hit = es->expert_bytes ? (double)es->expert_ram_bytes / (double)es->expert_bytes : 0;
            printf("  %-24s %-13s %-6s %2u of %2u expert slices in RAM, %3llu acquires, "
                   "expert bytes from RAM %5.1f%%\n", strrchr(path, '/') + 1, pi.mode,
                   runs[i].cache ? runs[i].cache : "", pi.expert_cache_slices,
                   pi.n_expert * pi.n_layer, (unsigned long long)st.stream_acquires, 100 * hit);
            bool some = pi.expert_cache_slices > 0 && pi.expert_cache_slices < pi.n_expert * pi.n_layer;
            mixed |= some;
            /* some experts in RAM (held or cached): some of the bytes come from there, not
             * all (the first use of every cached expert was a read) */
            CHECKF(!some || (es->expert_ram_bytes > 0 && es->expert_ram_bytes < es->expert_bytes),
                   "%s %s: %llu of %llu expert bytes from RAM", path, pi.mode,
                   (unsigned long long)es->expert_ram_bytes, (unsigned long long)es->expert_bytes);
            CHECKF(got && memcmp(got, ref, sizeof(float) * (size_t)nv * 2 * N_IDS) == 0,
                   "%s %s: logits differ from the resident run", path, pi.mode);
            CHECKF(st.stream_acquires > 0 && st.out_of_schedule == 0,
                   "%s %s: %llu of %llu acquires out of schedule", path, pi.mode,
                   (unsigned long long)st.out_of_schedule, (unsigned long long)st.stream_acquires);
            free(got);
            hy_model_free(m);
        }
        CHECKF(mixed, "%s: no plan held some experts and streamed others", path);
        if (ref)
            experts_faults(path, ref);
        free(ref);
        free(path);
    }
    if (!ran)
        TEST_SKIP("no MoE fixtures under %s", test_shared_dir());
}

/* A budget that cannot hold the model: the planner streams, and the result is the same. */
static void test_small_budget(void)
{
    char *path = test_shared_path("fixtures/synth/llama-s7-F32.gguf");
    if (!path) {
        TEST_SKIP("no fixtures");
        return;
    }
    hy_model *m = load(path, NULL, 0);
    int nv;
    float *ref = eval(m, &nv);
    struct hy_model_desc d;
    hy_model_describe(m, &d);
    hy_model_free(m);
    /* the whole model is ~5.5 MB of weights: give it less than that, all included */
    uint64_t budget = d.weight_bytes * 3 / 4 + (40u << 20);
    m = load(path, NULL, budget);
    CHECKF(m != NULL, "budget %llu: %s", (unsigned long long)budget, hy_last_error());
    if (m) {
        const struct hy_plan *pl = hy_model_plan(m);
        struct hy_plan_info pi;
        hy_plan_get_info(pl, &pi);
        CHECK(pi.ram_used <= budget);
        float *got = eval(m, &nv);
        CHECK(got && memcmp(got, ref, sizeof(float) * (size_t)nv * 2 * N_IDS) == 0);
        free(got);
        hy_model_free(m);
    }
    /* far too small: a clear error naming a minimum */
    m = load(path, NULL, 1 << 20);
    CHECK(m == NULL);
    CHECKF(strstr(hy_last_error(), "too small") && strstr(hy_last_error(), "needs"), "%s",
           hy_last_error());
    free(ref);
    free(path);
}

static void test_faults(void)
{
    char *path = test_shared_path("fixtures/synth/llama-s7-Q4_K_M.gguf");
    if (!path) {
        TEST_SKIP("no fixtures");
        return;
    }
    hy_model *m = load(path, "resident", 0);
    int nv;
    float *ref = eval(m, &nv);
    hy_model_free(m);

    /* short reads everywhere: the same logits */
    struct file_fault shortr = {.short_max = 999};
    m = load_faulty(path, &shortr, "layer-stream");
    CHECKF(m != NULL, "%s", hy_last_error());
    float *got = m ? eval(m, &nv) : NULL;
    CHECK(got && memcmp(got, ref, sizeof(float) * (size_t)nv * 2 * N_IDS) == 0);
    free(got);
    hy_model_free(m);

    /* the Nth read failing, for N across loading and streaming: either the load fails
     * cleanly, or an eval reports the error; never wrong logits. Odd N: the device
     * stays broken from then on; even N: one failure, which the retries absorb. */
    int load_fail = 0, eval_fail = 0, ok = 0;
    for (uint64_t nth = 1; nth <= 12; nth++) {
        struct file_fault fail = {.fail_nth = nth, .fail_count = nth % 2 ? 1000000 : 1};
        m = load_faulty(path, &fail, "layer-stream");
        if (!m) {
            load_fail++;
            continue;
        }
        got = eval(m, &nv);
        if (!got) {
            eval_fail++;
            CHECK(strlen(hy_last_error()) > 0);
        } else {
            CHECKF(memcmp(got, ref, sizeof(float) * (size_t)nv * 2 * N_IDS) == 0,
                   "read %llu failed and the logits are wrong", (unsigned long long)nth);
            ok++;
        }
        free(got);
        hy_model_free(m);
    }
    printf("  failing reads: %d failed loading, %d failed evaluating, %d recovered\n", load_fail,
           eval_fail, ok);
    CHECK(eval_fail > 0);
    CHECK(ok > 0);

    /* the file ends early under the runtime (truncated after loading) */
    struct file_fault trunc = {.eof_at = 0};
    struct file *in;
    CHECK(file_open(&in, path) == 0);
    trunc.eof_at = in->size / 2;
    file_close(in);
    m = load_faulty(path, &trunc, "layer-stream");
    if (m) {
        got = eval(m, &nv);
        CHECK(got == NULL);
        CHECK(strstr(hy_last_error(), "end of file") || strstr(hy_last_error(), "streaming"));
        free(got);
        hy_model_free(m);
    }
    free(ref);
    free(path);
}

/* A real file truncated on disk while a model streams from it. */
static void test_truncated_on_disk(void)
{
    char *src = test_shared_path("fixtures/synth/llama-s7-Q8_0.gguf");
    if (!src) {
        TEST_SKIP("no fixtures");
        return;
    }
    size_t n;
    char *data = test_read_file(src, &n);
    char path[128];
    snprintf(path, sizeof path, "/var/tmp/hypura-test-trunc-%d.gguf", (int)getpid());
    /* streamed (direct reads) and mapped (which would die of SIGBUS on a page past the
     * end): both a clear error */
    for (int mapped = 0; mapped < 2; mapped++) {
        FILE *fw = fopen(path, "wb");
        fwrite(data, 1, n, fw);
        fclose(fw);
        struct hy_model_params mp = test_params("layer-stream", 0);
        mp.io = mapped ? HY_IO_MMAP : HY_IO_AUTO;
        hy_model *m = NULL;
        CHECKF(hy_model_load(path, &mp, &m) == 0, "%s", hy_last_error());
        if (!m)
            continue;
        CHECK(truncate(path, (off_t)(n / 3)) == 0);
        int nv;
        float *got = eval(m, &nv);
        CHECK(got == NULL);
        CHECKF(strstr(hy_last_error(), "changed on disk"), "%s", hy_last_error());
        free(got);
        hy_model_free(m);
    }
    unlink(path);
    free(data);
    free(src);
}

/* Weights full of NaN: the evaluation fails and says so (it used to sample token 0 and
 * print nothing, exit 0). */
static void test_nan_weights(void)
{
    char *src = test_shared_path("fixtures/synth/llama-s7-F32.gguf");
    if (!src) {
        TEST_SKIP("no fixtures");
        return;
    }
    size_t n;
    uint8_t *data = test_read_file(src, &n);
    hy_model *m = NULL;
    CHECK(hy_model_open(src, NULL, &m) == 0);
    for (int i = 0; m && i < hy_model_tensor_count(m); i++) {
        struct hy_tensor_info ti;
        hy_model_tensor_info(m, i, &ti);
        if (!strcmp(ti.name, "output_norm.weight"))
            memset(data + ti.offset, 0xff, ti.bytes);   /* all NaN */
    }
    hy_model_free(m);
    char path[128];
    snprintf(path, sizeof path, "/var/tmp/hypura-test-nan-%d.gguf", (int)getpid());
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, n, f);
    fclose(f);
    m = load(path, "resident", 0);
    CHECKF(m != NULL, "%s", hy_last_error());
    hy_session *s = NULL;
    if (m && hy_session_new(m, NULL, &s) == 0) {
        CHECK(hy_session_eval(s, k_ids, 4, false) == -EDOM);
        CHECKF(strstr(hy_last_error(), "non-finite"), "%s", hy_last_error());
        CHECK(hy_session_n_past(s) == 0 && hy_session_logits(s, -1) == NULL);
    }
    hy_session_free(s);
    hy_model_free(m);
    unlink(path);
    free(data);
    free(src);
}

int main(void)
{
    RUN(test_bit_identical);
    RUN(test_schedule_order);
    RUN(test_experts_streamed);
    RUN(test_small_budget);
    RUN(test_faults);
    RUN(test_truncated_on_disk);
    RUN(test_nan_weights);
    return test_finish();
}

/* synth: every preset writes a GGUF of its model's shape that the reader accepts and the
 * planner plans; planning reads the header and no tensor data (counted through the file
 * layer); a synthesised model runs and gives finite logits; a failed write leaves no
 * file. */
#include "gguf/gguf.h"
#include "hypura.h"
#include "io/file.h"
#include "test.h"
#include "tier/plan_file.h"

#include <math.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_dir[128];

static void out_path(char *buf, size_t cap, const char *name)
{
    snprintf(buf, cap, "%s/%s.gguf", g_dir, name);
}

/* Plan a file read through the file layer; returns the bytes read beyond the header. */
static uint64_t plan_bytes_past_header(const char *path, uint64_t budget, const char **mode)
{
    struct file *f;
    if (file_open(&f, path))
        return UINT64_MAX;
    struct hy_profile prof;
    struct hy_profile_params pp = hy_profile_default_params();
    pp.no_measure = true;
    hy_profile_get(&pp, &prof);
    struct plan_params fp = plan_default_params();
    fp.ram_budget = budget;
    fp.n_ctx = 256;
    struct hy_plan *pl = NULL;
    int rc = plan_file_open(f, &fp, &prof, &pl);
    CHECKF(rc == 0, "%s: %s", path, hy_last_error());
    uint64_t past = UINT64_MAX;
    if (pl) {
        uint64_t hdr = gguf_data_offset(pl->g);
        uint64_t got = f->bytes_read;
        past = got > hdr ? got - hdr : 0;
        *mode = plan_mode_name(pl->pl->mode);
        hy_plan_free(pl);
    }
    file_close(f);
    return past;
}

static void test_presets_sparse(void)
{
    struct {
        const char *preset, *mode;
        uint64_t budget;
    } cases[] = {
        {"llama3-1b", NULL, 4ull << 30},
        {"llama3-8b", "ffn-stream", 768ull << 20},
        {"llama3-70b", "ffn-stream", 2ull << 30},
        {"qwen2.5-7b", NULL, 8ull << 30},
        {"mixtral-8x7b", "expert-stream", 1ull << 30},
        {"qwen3-30b-a3b", "expert-stream", 512ull << 20},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[256];
        out_path(path, sizeof path, cases[i].preset);
        struct hy_synth_params p = hy_synth_default_params();
        p.preset = cases[i].preset;
        p.n_layers = 2;
        p.sparse = true;
        CHECKF(hy_synth(&p, path) == 0, "%s: %s", cases[i].preset, hy_last_error());
        struct hy_model_params mp = hy_model_default_params();
        mp.header_only = true;
        hy_model *m = NULL;
        CHECKF(hy_model_open(path, &mp, &m) == 0, "%s: %s", path, hy_last_error());
        if (m) {
            struct hy_model_desc d;
            hy_model_describe(m, &d);
            CHECK_EQ(d.n_layer, 2);
            CHECK(d.n_vocab > 1000 && d.weight_bytes > 0);
            hy_model_free(m);
        }
        const char *mode = "";
        uint64_t past = plan_bytes_past_header(path, cases[i].budget, &mode);
        /* the reader reads ahead only as far as the header must still go */
        CHECKF(past == 0, "%s: %llu bytes read past the header", cases[i].preset,
               (unsigned long long)past);
        if (cases[i].mode)
            CHECKF(!strcmp(mode, cases[i].mode), "%s: mode %s, expected %s", cases[i].preset, mode,
                   cases[i].mode);
        printf("  %-14s --layers 2: planned %s, %llu bytes read past the header\n", cases[i].preset, mode,
               (unsigned long long)past);
        unlink(path);
    }
    struct hy_synth_params p = hy_synth_default_params();
    p.preset = "llama3-13b";
    CHECK(hy_synth(&p, "/dev/null") < 0);
    p.preset = "llama3-1b";
    p.type = "Q9_9";
    CHECK(hy_synth(&p, "/dev/null") < 0);
}

/* A real synthesis (one layer of the 1B shape) runs and gives finite, varied logits. */
static void test_runs(void)
{
    char path[256];
    out_path(path, sizeof path, "run-llama3-1b");
    struct hy_synth_params p = hy_synth_default_params();
    p.preset = "llama3-1b";
    p.type = "Q4_0";
    p.n_layers = 1;
    CHECKF(hy_synth(&p, path) == 0, "%s", hy_last_error());
    struct hy_model_params mp = hy_model_default_params();
    mp.plan.n_ctx = 16;
    mp.plan.n_threads = 2;
    hy_model *m = NULL;
    CHECKF(hy_model_load(path, &mp, &m) == 0, "%s", hy_last_error());
    if (m) {
        hy_session *s;
        CHECK(hy_session_new(m, NULL, &s) == 0);
        hy_token ids[] = {1000, 2000, 3000};
        CHECK(hy_session_eval(s, ids, 3, false) == 0);
        const float *l = hy_session_logits(s, -1);
        struct hy_model_desc d;
        hy_model_describe(m, &d);
        int finite = 0;
        double lo = 1e30, hi = -1e30;
        for (int v = 0; v < d.n_vocab; v++) {
            finite += isfinite(l[v]) != 0;
            lo = fmin(lo, l[v]);
            hi = fmax(hi, l[v]);
        }
        CHECK_EQ(finite, d.n_vocab);
        CHECK(hi > lo);
        hy_session_free(s);
        hy_model_free(m);
    }
    unlink(path);
    /* a file that cannot be written: an error and nothing left behind */
    CHECK(hy_synth(&p, "/nonexistent-dir/x.gguf") < 0);
    CHECK(access("/nonexistent-dir/x.gguf", F_OK) != 0);
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/var/tmp/hypura-test-synth-%d", (int)getpid());
    if (mkdir(g_dir, 0755) != 0) {
        printf("cannot create %s\n", g_dir);
        return 77;
    }
    RUN(test_presets_sparse);
    RUN(test_runs);
    rmdir(g_dir);
    return test_finish();
}

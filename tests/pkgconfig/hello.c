/* A program outside the tree: built by tests/install.sh against an installed hypura,
 * through pkg-config alone, once with the static library and once with the shared one.
 * It includes <hypura.h> and nothing of src/, calls functions from each part of the API
 * and, given a model (argv[1]), generates a few greedy tokens. Its output must not depend
 * on how it was linked; it exits 1 when a call does not do what hypura.h says. */
#include <hypura.h>

#include <stdio.h>
#include <string.h>

static int failed;

#define EXPECT(cond)                                                                    \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "hello: %s:%d: %s\n", __FILE__, __LINE__, #cond);           \
            failed = 1;                                                                 \
        }                                                                               \
    } while (0)

static void silent(enum hy_log_level level, const char *msg, void *user)
{
    (void)level, (void)msg, (void)user;
}

static void generate(const char *path)
{
    struct hy_model_params mp = hy_model_default_params();
    mp.plan.no_measure = true;   /* no hardware measuring: the cached profile or defaults */
    mp.plan.n_threads = 1;
    hy_model *m = NULL;
    if (hy_model_load(path, &mp, &m) != 0) {
        fprintf(stderr, "hello: %s: %s\n", path, hy_last_error());
        failed = 1;
        return;
    }
    struct hy_model_desc d;
    hy_model_describe(m, &d);
    printf("model: %s, %d layers, %d vocab\n", d.arch, d.n_layer, d.n_vocab);

    hy_session *s = NULL;
    hy_sampler *smp = NULL;
    struct hy_sampler_params sp = hy_sampler_default_params();
    sp.temp = 0;
    hy_token toks[64];
    const char *prompt = "Once upon a time";
    int n = hy_tokenize(m, prompt, strlen(prompt), true, false, toks, 64);
    EXPECT(n > 0 && n < 64);
    struct hy_session_params sep = hy_session_default_params();
    EXPECT(hy_session_new(m, &sep, &s) == 0);
    EXPECT(hy_sampler_new(&sp, d.n_vocab, &smp) == 0);
    if (n > 0 && n < 64 && s && smp && hy_session_eval(s, toks, n, false) == 0) {
        printf("text: %s", prompt);
        for (int i = 0; i < 16; i++) {
            hy_token t = hy_sampler_sample(smp, hy_session_logits(s, -1));
            if (hy_token_is_eog(m, t))
                break;
            char piece[64];
            int k = hy_token_to_piece(m, t, false, piece, sizeof piece);
            if (k > 0 && k < (int)sizeof piece)
                printf("%.*s", k, piece);
            if (hy_session_eval(s, &t, 1, false) != 0) {
                fprintf(stderr, "hello: eval: %s\n", hy_last_error());
                failed = 1;
                break;
            }
        }
        printf("\n");
    } else {
        fprintf(stderr, "hello: cannot evaluate the prompt: %s\n", hy_last_error());
        failed = 1;
    }
    hy_sampler_free(smp);
    hy_session_free(s);
    hy_model_free(m);
}

int main(int argc, char **argv)
{
    uint64_t b = 0;
    char buf[32];
    EXPECT(hy_parse_size("1.5G", &b) == 0 && b == 1610612736ull);
    EXPECT(hy_parse_size("-1", &b) < 0);
    printf("size: %s\n", hy_format_size(b, buf, sizeof buf));

    struct hy_model_params mp = hy_model_default_params();
    EXPECT(mp.io == HY_IO_AUTO && !mp.header_only);
    EXPECT(hy_synth_preset_name(0) != NULL);
    printf("first preset: %s\n", hy_synth_preset_name(0));

    struct hy_chat_message msgs[] = {{"user", "hi"}};
    char out[256];
    int k = hy_chat_apply_template("chatml", msgs, 1, true, out, sizeof out);
    EXPECT(k > 0 && k < (int)sizeof out);
    if (k > 0 && k < (int)sizeof out)
        printf("chatml: %.*s\n", k, out);

    /* a failure, reported through the thread's error message */
    hy_log_set(silent, NULL, HY_LOG_ERROR);
    hy_model *m = NULL;
    EXPECT(hy_model_load("/nonexistent/model.gguf", &mp, &m) < 0 && m == NULL);
    EXPECT(strlen(hy_last_error()) > 0);
    hy_log_set(NULL, NULL, HY_LOG_WARN);

    if (argc > 1)
        generate(argv[1]);
    printf("%s\n", failed ? "FAILED" : "done");
    return failed;
}

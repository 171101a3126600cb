/* Interactive chat (`hypura run MODEL` without a prompt, or -i): the model's chat
 * template, a KV cache kept across turns (each turn evaluates only its new tokens),
 * /reset, /exit and Ctrl-D, per-turn speed on stderr. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* One line of input (without the newline), or NULL at end of input. A line ending in a
 * backslash continues on the next. */
static char *read_message(void)
{
    size_t cap = 256, n = 0;
    char *b = malloc(cap);
    int c;
    bool any = false;
    while (b && (c = getchar()) != EOF) {
        any = true;
        if (c == '\n') {
            if (n && b[n - 1] == '\\') {
                b[n - 1] = '\n';
                continue;
            }
            break;
        }
        if (n + 2 > cap) {
            char *t = realloc(b, cap *= 2);
            if (!t) {
                free(b);
                return NULL;
            }
            b = t;
        }
        b[n++] = (char)c;
    }
    if (!b || !any) {
        free(b);
        return NULL;
    }
    b[n] = 0;
    return b;
}

int cli_chat(hy_model *m, const struct hy_sampler_params *smp, int n_predict, uint32_t n_ctx,
             const char *system, const char *tmpl)
{
    struct hy_model_desc d;
    hy_model_describe(m, &d);
    struct hy_session_params sp = hy_session_default_params();
    sp.n_ctx = n_ctx;
    hy_session *s = NULL;
    hy_sampler *sm = NULL;
    hy_chat *chat = NULL;
    int rc = 1;
    if (hy_session_new(m, &sp, &s) || hy_sampler_new(smp, d.n_vocab, &sm) ||
        hy_chat_new(s, tmpl, system, &chat)) {
        cli_fail("chat");
        goto out;
    }
    bool tty = isatty(0);
    fprintf(stderr, "chat with %s (template %s). /reset forgets the conversation, /exit or Ctrl-D ends.\n",
            *d.name ? d.name : d.arch, hy_chat_template_name(chat));
    for (;;) {
        if (tty)
            fprintf(stderr, "\n> ");
        char *line = read_message();
        if (!line)
            break;
        if (!strcmp(line, "/exit")) {
            free(line);
            break;
        }
        if (!strcmp(line, "/reset")) {
            free(line);
            hy_chat_reset(chat);
            hy_sampler_reset(sm);
            fprintf(stderr, "(conversation reset)\n");
            continue;
        }
        if (!*line) {
            free(line);
            continue;
        }
        int n_new = 0;
        double t0 = hy_now_seconds();
        if (hy_chat_user(chat, line, &n_new)) {
            free(line);
            cli_fail("chat");
            if (hy_session_n_past(s) + 1 >= hy_session_n_ctx(s))
                fprintf(stderr, "(the context is full: /reset to continue)\n");
            continue;
        }
        free(line);
        double t_prompt = hy_now_seconds() - t0;
        struct gen_result g;
        int room = hy_session_n_ctx(s) - hy_session_n_past(s);
        int gen_rc = cli_generate(m, s, sm, room < n_predict ? room : n_predict, false, stdout, &g);
        printf("\n");
        fflush(stdout);
        if (gen_rc == 0 && hy_chat_assistant(chat, g.text) == 0)
            fprintf(stderr, "[%d new prompt tok, %.1f tok/s; %d tok generated, %.1f tok/s]\n", n_new,
                    t_prompt > 0 ? n_new / t_prompt : 0, g.n_ids, g.t_gen > 0 ? g.n_decode / g.t_gen : 0);
        else
            cli_fail("chat");
        gen_result_free(&g);
    }
    rc = 0;
out:
    hy_chat_free(chat);
    hy_sampler_free(sm);
    hy_session_free(s);
    return rc;
}

/* hypura serve MODEL [--host H] [--port P] [--parallel N] [--ctx-size N] [--api-key KEY]
 * The Ollama and OpenAI HTTP APIs over one model (the server is the library's hy_server_*).
 * SIGINT or SIGTERM stops accepting and lets the requests in flight finish; a second one
 * (or DRAIN_S seconds) cuts them short, each client still getting a proper last message;
 * then the process exits 0. */
#include "cli.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DRAIN_S 60.0   /* the longest a stop waits for generations in flight */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: hypura serve MODEL [options]\n"
            "  The Ollama API (/api/generate, /api/chat, /api/tags, ...) and the OpenAI API\n"
            "  (/v1/chat/completions, /v1/completions, /v1/models) over MODEL.\n"
            "      --host ADDR       address to listen on (default 127.0.0.1)\n"
            "      --port N          port (default 11434; 0 = any free port, printed)\n"
            "      --parallel N      requests generated at once, each with its own context\n"
            "                        of --ctx-size tokens (default 1)\n"
            "      --queue N         requests that may wait for a free one; more get 503 (default 64)\n"
            "      --api-key KEY     require Authorization: Bearer KEY (or x-api-key: KEY)\n"
            "                        on every route but /health (default: $HYPURA_API_KEY)\n"
            "      --name NAME       the model's name for clients (default: the file's name)\n"
            "  -q, --quiet           no request log on stderr\n" CLI_MODEL_HELP);
}

enum { O_HOST = 3000, O_PORT, O_PARALLEL, O_QUEUE, O_API_KEY, O_NAME };

static enum hy_log_level g_level = HY_LOG_INFO;

static void log_line(enum hy_log_level level, const char *msg, void *user)
{
    time_t t = time(NULL);
    struct tm tm;
    localtime_r(&t, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%H:%M:%S", &tm);
    fprintf(stderr, "%s %s%s\n", ts, level <= HY_LOG_WARN ? "warning: " : "", msg);
}

static int parse_args(int argc, char **argv, struct hy_server_params *p, const char **path)
{
    static const struct option lo[] = {
        {"host", required_argument, 0, O_HOST},
        {"port", required_argument, 0, O_PORT},
        {"parallel", required_argument, 0, O_PARALLEL},
        {"queue", required_argument, 0, O_QUEUE},
        {"api-key", required_argument, 0, O_API_KEY},
        {"name", required_argument, 0, O_NAME},
        {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},
        CLI_MODEL_LONGOPTS,
        {0, 0, 0, 0}};
    long v;
    int c;
    while ((c = getopt_long(argc, argv, "t:qh", lo, NULL)) != -1) {
        int r = cli_model_opt(&p->model, c, optarg);
        if (r < 0)
            return 2 + 1;
        if (r)
            continue;
        bool ok = true;
        switch (c) {
        case O_HOST: p->host = optarg; break;
        case O_PORT: ok = cli_int(optarg, 0, 65535, &v); p->port = (int)v; break;
        case O_PARALLEL: ok = cli_int(optarg, 1, 256, &v); p->n_parallel = (int)v; break;
        case O_QUEUE: ok = cli_int(optarg, 1, 100000, &v); p->queue_max = (int)v; break;
        case O_API_KEY: p->api_key = optarg; break;
        case O_NAME: p->model_name = optarg; break;
        case 'q': g_level = HY_LOG_WARN; break;
        case 'h': usage(stdout); return 0 + 1;
        default: usage(stderr); return 2 + 1;
        }
        if (!ok) {
            fprintf(stderr, "hypura: bad value for option: %s\n", optarg);
            return 2 + 1;
        }
    }
    if (optind + 1 != argc) {
        usage(stderr);
        return 2 + 1;
    }
    *path = argv[optind];
    return 0;
}

#if HYPURA_MHD
/* Wait for the end: the loader failing, or a signal (then drain, and cut on a second one
 * or after DRAIN_S). Returns the exit status. */
static int serve_loop(hy_server *s, const sigset_t *sigs)
{
    bool stopping = false, cut = false, said_ready = false;
    double deadline = 0;
    for (;;) {
        struct timespec ts = {0, 100 * 1000 * 1000};
        int sig = sigtimedwait(sigs, NULL, &ts);
        enum hy_server_state st = hy_server_get_state(s);
        if (st == HY_SERVER_FAILED && !stopping) {
            fprintf(stderr, "hypura: %s\n", hy_server_error(s));
            return 1;
        }
        if (st == HY_SERVER_READY && !said_ready) {
            fprintf(stderr, "ready on port %d\n", hy_server_port(s));
            said_ready = true;
        }
        if (sig > 0 && !stopping) {
            fprintf(stderr, "stopping: requests in flight finish (signal again to cut them short)\n");
            hy_server_stop(s, false);
            stopping = true;
            deadline = hy_now_seconds() + DRAIN_S;
        } else if ((sig > 0 || (stopping && hy_now_seconds() > deadline)) && !cut) {
            fprintf(stderr, "stopping: cutting the requests in flight short\n");
            hy_server_stop(s, true);
            cut = true;
        }
        if (stopping && hy_server_idle(s))
            return 0;
    }
}
#endif

int cmd_serve(int argc, char **argv)
{
    struct hy_server_params p = hy_server_default_params();
    cli_model_opts_init(&p.model);
    p.api_key = getenv("HYPURA_API_KEY");
    const char *path = NULL;
    int rc = parse_args(argc, argv, &p, &path);
    if (rc)
        return rc - 1;
#if HYPURA_MHD
    hy_log_set(log_line, NULL, g_level);
    /* the signals are waited for here, never delivered to the server's threads */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    hy_server *s = NULL;
    if (hy_server_start(path, &p, &s))
        return cli_fail(path);
    /* the port first, alone on stdout, for scripts that asked for any free one */
    printf("%d\n", hy_server_port(s));
    fflush(stdout);
    rc = serve_loop(s, &sigs);
    hy_server_free(s);
    hy_log_set(NULL, NULL, HY_LOG_WARN);
    return rc;
#else
    fprintf(stderr, "hypura: this build has no HTTP server: install libmicrohttpd "
                    "(apt-get install libmicrohttpd-dev) and rebuild\n");
    return 1;
#endif
}

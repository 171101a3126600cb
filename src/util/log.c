/* Log callback and per-thread last error. See log.h. */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void log_default(enum hy_log_level level, const char *msg, void *user)
{
    (void)user;
    if (level <= HY_LOG_WARN)
        fprintf(stderr, "hypura: %s\n", msg);
}

/* Init-once registry: set by the application before use, read everywhere. */
static hy_log_fn g_log_fn = log_default;
static void *g_log_user;
static enum hy_log_level g_log_level = HY_LOG_WARN;

static _Thread_local char t_last_error[512];

void hy_log_set(hy_log_fn fn, void *user, enum hy_log_level max_level)
{
    g_log_fn = fn ? fn : log_default;
    g_log_user = user;
    g_log_level = max_level;
}

void log_printf(enum hy_log_level level, const char *fmt, ...)
{
    if (level > g_log_level)
        return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    g_log_fn(level, buf, g_log_user);
}

void log_set_error(const char *func, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t_last_error, sizeof t_last_error, fmt, ap);
    va_end(ap);
    log_printf(HY_LOG_DEBUG, "%s: %s", func, t_last_error);
}

const char *hy_last_error(void)
{
    return t_last_error[0] ? t_last_error : "unknown error";
}

void hy_clear_error(void)
{
    t_last_error[0] = 0;
}

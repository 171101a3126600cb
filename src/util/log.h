/* Logging and error reporting for library code.
 *
 * Library code never prints and never exits. It reports a failure in two ways:
 *   - set_error("reason ...") records the reason in a per-thread "last error" buffer
 *     (read with hy_last_error(), like dlerror()) and logs it at HY_LOG_DEBUG
 *     prefixed with the function name;
 *   - the function returns a negative errno-style status.
 * The innermost failure sets the message; callers that only propagate a status do
 * not call set_error again, so the user sees the most specific reason.
 * log_printf() sends diagnostics to the log callback set with hy_log_set() (public API).
 * The callback and the CPU feature flags are the only process-wide mutable state. */
#ifndef HY_UTIL_LOG_H
#define HY_UTIL_LOG_H

#include "hypura.h"

void log_printf(enum hy_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_set_error(const char *func, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define set_error(...) log_set_error(__func__, __VA_ARGS__)
#define LOG_WARN(...) log_printf(HY_LOG_WARN, __VA_ARGS__)
#define LOG_INFO(...) log_printf(HY_LOG_INFO, __VA_ARGS__)
#define LOG_DEBUG(...) log_printf(HY_LOG_DEBUG, __VA_ARGS__)

#endif

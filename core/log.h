/* core/log.h: leveled logging to stderr.
 *
 * One sink (stderr, one line per message with a UTC timestamp and level).  The
 * level is set once at start-up, before any thread starts; after that,
 * jc_log is thread-safe (one fprintf per line). */
#ifndef JC_CORE_LOG_H
#define JC_CORE_LOG_H

enum jc_log_level { JC_LOG_DEBUG = 0, JC_LOG_INFO, JC_LOG_WARN, JC_LOG_ERROR };

void jc_log_set_level(enum jc_log_level level);
int jc_log_enabled(enum jc_log_level level);
/* Parses "debug", "info", "warn", "error".  Returns JC_OK-like 0 on success, -1 otherwise. */
int jc_log_parse_level(const char *name, enum jc_log_level *out);
void jc_log(enum jc_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define jc_log_debug(...) jc_log(JC_LOG_DEBUG, __VA_ARGS__)
#define jc_log_info(...)  jc_log(JC_LOG_INFO, __VA_ARGS__)
#define jc_log_warn(...)  jc_log(JC_LOG_WARN, __VA_ARGS__)
#define jc_log_error(...) jc_log(JC_LOG_ERROR, __VA_ARGS__)

#endif

/* Leveled logging to stderr.
 *
 * One line per call, prefixed with an ISO-8601 UTC timestamp and the level.
 * Thread-safe (each line is one write(2)). Errors are logged once, at the
 * place that decides what to do about them; lower layers return codes.
 */
#ifndef CASK_LOG_H
#define CASK_LOG_H

enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR,
};

/* Lines below this level are dropped. Default LOG_LEVEL_INFO. */
void log_set_level(enum log_level level);

/* Parses "debug", "info", "warn", "error". Returns the level or -EINVAL. */
int log_parse_level(const char *name);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Calls fn with each of the last LOG_RECENT lines logged (info and
 * above, as written, without the newline), oldest first: the "last
 * events" a status page shows. Thread-safe. */
#define LOG_RECENT 20
void log_recent(void (*fn)(void *arg, const char *line), void *arg);

#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif

#include "common/log.h"

/* The preconditions and invariants asserted in common/ and volume/ guard
 * every build, releases included: refuse a build that would drop them. */
#ifdef NDEBUG
#error "cask keeps assert() in every build: do not define NDEBUG"
#endif

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static enum log_level min_level = LOG_LEVEL_INFO;

/* The last lines, for log_recent: a ring under its own lock, taken after
 * the line is written, so a page being rendered never delays a log. */
static pthread_mutex_t recent_mu = PTHREAD_MUTEX_INITIALIZER;
static char recent[LOG_RECENT][256];
static unsigned recent_next, recent_n;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_set_level(enum log_level level)
{
	assert((unsigned)level <= LOG_LEVEL_ERROR);
	min_level = level;
}

int log_parse_level(const char *name)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(name, level_names[i]) == 0)
			return i;
	return -EINVAL;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	assert((unsigned)level <= LOG_LEVEL_ERROR && fmt);
	if (level < min_level)
		return;
	char line[1024];
	struct timeval tv;
	struct tm tm;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	int n = snprintf(line, sizeof(line),
			 "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s ",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			 tm.tm_hour, tm.tm_min, tm.tm_sec,
			 (long)(tv.tv_usec / 1000), level_names[level]);
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
	if (len > sizeof(line) - 2)
		len = sizeof(line) - 2;
	line[len++] = '\n';
	/* One write per line keeps lines from interleaving across threads. */
	ssize_t w = write(STDERR_FILENO, line, len);
	(void)w;
	if (level < LOG_LEVEL_INFO)
		return;
	pthread_mutex_lock(&recent_mu);
	snprintf(recent[recent_next], sizeof(recent[0]), "%.*s", (int)(len - 1),
		 line);
	recent_next = (recent_next + 1) % LOG_RECENT;
	if (recent_n < LOG_RECENT)
		recent_n++;
	pthread_mutex_unlock(&recent_mu);
}

void log_recent(void (*fn)(void *arg, const char *line), void *arg)
{
	char copy[LOG_RECENT][256];
	pthread_mutex_lock(&recent_mu);
	unsigned n = recent_n,
		 first = (recent_next + LOG_RECENT - n) % LOG_RECENT;
	for (unsigned i = 0; i < n; i++)
		memcpy(copy[i], recent[(first + i) % LOG_RECENT],
		       sizeof(copy[0]));
	pthread_mutex_unlock(&recent_mu);
	for (unsigned i = 0; i < n; i++)
		fn(arg, copy[i]);
}

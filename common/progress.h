/* A live progress line for the command-line tools.
 *
 * Drawn on stderr with '\r' at most four times a second, and only when
 * stderr is a terminal: logs and pipes get no progress noise. One owner
 * thread; no allocation. */
#ifndef CASK_PROGRESS_H
#define CASK_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>

struct progress {
	bool tty;
	const char *what;
	uint64_t total; /* 0 when unknown: no bar, just counts */
	uint64_t start_us;
	uint64_t drawn_us;
};

void progress_init(struct progress *p, const char *what, uint64_t total);

/* Redraws the line if a quarter second passed since the last one. */
void progress_update(struct progress *p, uint64_t done, uint64_t errors);

/* Erases the line, so the summary that follows starts clean. */
void progress_end(struct progress *p);

#endif

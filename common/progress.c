#include "common/progress.h"

#include <stdio.h>
#include <unistd.h>

#include "common/clock.h"

void progress_init(struct progress *p, const char *what, uint64_t total)
{
	*p = (struct progress){.tty = isatty(STDERR_FILENO) == 1,
			       .what = what,
			       .total = total,
			       .start_us = clock_mono_us()};
}

void progress_update(struct progress *p, uint64_t done, uint64_t errors)
{
	if (!p->tty)
		return;
	uint64_t now = clock_mono_us();
	if (now - p->drawn_us < 250000)
		return;
	p->drawn_us = now;
	double secs = (double)(now - p->start_us) / 1e6;
	double rate = secs > 0 ? (double)done / secs : 0;
	char bar[33] = "";
	if (p->total) {
		unsigned fill = (unsigned)(done * 32 / p->total);
		for (unsigned i = 0; i < 32; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[32] = '\0';
		fprintf(stderr,
			"\r%s [%s] %3u%% %llu/%llu %.0f/s errors %llu\033[K",
			p->what, bar, (unsigned)(done * 100 / p->total),
			(unsigned long long)done, (unsigned long long)p->total,
			rate, (unsigned long long)errors);
	} else {
		fprintf(stderr, "\r%s %llu %.0f/s errors %llu\033[K", p->what,
			(unsigned long long)done, rate,
			(unsigned long long)errors);
	}
	fflush(stderr);
}

void progress_end(struct progress *p)
{
	if (p->tty && p->drawn_us)
		fputs("\r\033[K", stderr);
}

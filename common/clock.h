/* Clocks, in one place.
 *
 * clock_mono_*: the monotonic clock (CLOCK_MONOTONIC), for durations,
 * deadlines and latencies: it never jumps when the wall clock is set.
 * clock_wall_*: the wall clock (CLOCK_REALTIME), for timestamps that are
 * stored or shown (record creation, segment records).
 * clock_deadline_ms: an absolute CLOCK_REALTIME time for
 * pthread_cond_timedwait on a condition variable with the default clock.
 *
 * Header-only and reentrant: callable from any thread. clock_gettime on
 * these clocks cannot fail on Linux with a valid pointer, so the helpers
 * return the value itself. */
#ifndef CASK_CLOCK_H
#define CASK_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t clock_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static inline uint64_t clock_mono_ms(void)
{
	return clock_mono_us() / 1000u;
}

static inline uint64_t clock_wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t clock_wall_ms(void)
{
	return clock_wall_ns() / 1000000u;
}

/* The wall-clock time `ms` milliseconds from now, normalized. */
static inline struct timespec clock_deadline_ms(uint64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t ns = (uint64_t)ts.tv_nsec + ms % 1000u * 1000000u;
	ts.tv_sec += (time_t)(ms / 1000u + ns / 1000000000u);
	ts.tv_nsec = (long)(ns % 1000000000u);
	return ts;
}

#endif

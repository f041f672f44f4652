/*
 * closefrom.h - close every descriptor from a number up, but those to
 * keep: at start (what the launcher left open), in a process forked from
 * the master or from an engine (what they hold).  Header-only, libc only.
 */
#ifndef SECHO_CLOSEFROM_H
#define SECHO_CLOSEFROM_H

#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

/* close [lo, hi], with close_range() or, before Linux 5.9, one by one. */
static inline void
close_span(unsigned lo, unsigned hi)
{
	long fd, max;

	if (lo > hi || close_range(lo, hi, 0) == 0)
		return;
	max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > 65536)
		max = 65536;
	for (fd = lo; fd < max && fd <= (long)hi; fd++)
		(void)close((int)fd);
}

static inline void
close_from(int lowfd)
{
	close_span((unsigned)lowfd, ~0U);
}

#define CLOSE_KEEP_MAX	32

/*
 * Close every descriptor >= lowfd but the n in keep (-1 entries: none);
 * n is at most CLOSE_KEEP_MAX (more is a bug: abort, rather than close
 * one that was to be kept).
 */
static inline void
close_from_except(int lowfd, const int *keep, size_t n)
{
	unsigned lo = (unsigned)lowfd, k;
	size_t i, j;
	int sorted[CLOSE_KEEP_MAX], t;

	if (n > CLOSE_KEEP_MAX)
		abort();
	for (i = j = 0; i < n; i++)
		if (keep[i] >= lowfd)
			sorted[j++] = keep[i];
	for (i = 1; i < j; i++) {	/* a handful: insertion sort */
		t = sorted[i];
		for (k = (unsigned)i; k > 0 && sorted[k - 1] > t; k--)
			sorted[k] = sorted[k - 1];
		sorted[k] = t;
	}
	for (i = 0; i < j; i++) {
		if ((unsigned)sorted[i] > lo)
			close_span(lo, (unsigned)sorted[i] - 1);
		lo = (unsigned)sorted[i] + 1;
	}
	close_span(lo, ~0U);
}

#endif

/*
 * closefrom.h - close every descriptor from a number up: at start (what
 * the launcher left open) and before the spawner's exec (what the master
 * holds).  Header-only: the static secho-spawn links nothing more for it.
 */
#ifndef SECHO_CLOSEFROM_H
#define SECHO_CLOSEFROM_H

#include <unistd.h>

static inline void
close_from(int lowfd)
{
	long fd, max;

	if (close_range((unsigned)lowfd, ~0U, 0) == 0)
		return;
	/* No close_range (Linux < 5.9): up to the limit, within reason. */
	max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > 65536)
		max = 65536;
	for (fd = lowfd; fd < max; fd++)
		(void)close((int)fd);
}

#endif

/*
 * nofork.h - memory the master writes between forks, which connection
 * children and UDP workers give up right after their fork (nofork.c).
 */
#ifndef SECHO_NOFORK_H
#define SECHO_NOFORK_H

#include <stddef.h>

/* Zeroed memory for n objects of size bytes, or NULL. */
void	*nofork_calloc(size_t n, size_t size);
/* Give back what nofork_calloc(n, size) returned (NULL is fine). */
void	 nofork_free(void *p, size_t n, size_t size);
/*
 * In a child that never returns to the master's work, right after fork:
 * unmap all of it.  The child must not touch that memory afterwards.
 */
void	 nofork_child(void);

#endif

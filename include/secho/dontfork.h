/*
 * dontfork.h - memory a process writes between its forks (its tables of
 * connections, its poll set), kept out of the children it forks with
 * madvise(MADV_DONTFORK): a child would otherwise keep its own old copy
 * of every page written after its fork.  Header-only, libc only.
 */
#ifndef SECHO_DONTFORK_H
#define SECHO_DONTFORK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>

/* Zeroed memory for n objects of size bytes that no child sees, or NULL. */
static inline void *
dontfork_calloc(size_t n, size_t size)
{
	void *p;

	if (n == 0 || size == 0 || n > SIZE_MAX / size)
		return NULL;
	p = mmap(NULL, n * size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	/* Only a memory saving: a kernel that refuses it costs pages. */
	(void)madvise(p, n * size, MADV_DONTFORK);
	return p;
}

/* Give back what dontfork_calloc(n, size) returned (NULL is fine). */
static inline void
dontfork_free(void *p, size_t n, size_t size)
{
	if (p != NULL)
		(void)munmap(p, n * size);
}

#endif

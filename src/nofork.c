/*
 * nofork.c - memory the master writes between forks, given up by its
 * children.
 *
 * A child shares the master's pages copy-on-write.  When the master
 * writes one of them after a fork, the child is left as the only owner
 * of the old copy: the master's table of children and its poll set,
 * written on every connection, would cost each child a few pages it
 * never reads.  So they live in mappings of their own, which a
 * connection child or a UDP worker unmaps right after its fork
 * (nofork_child).  Every other fork (daemonizing, the spawner's exec)
 * keeps them as usual.  A mapping the table below has no room for is
 * kept by the children too: memory, not correctness.
 */
#include <stdint.h>
#include <sys/mman.h>

#include "secho/nofork.h"

#define NOFORK_MAX	16

static struct {
	void	*nf_p;
	size_t	 nf_len;
} nofork_maps[NOFORK_MAX];

void *
nofork_calloc(size_t n, size_t size)
{
	void *p;
	size_t i;

	if (n == 0 || size == 0 || n > SIZE_MAX / size)
		return NULL;
	p = mmap(NULL, n * size, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	for (i = 0; i < NOFORK_MAX; i++) {
		if (nofork_maps[i].nf_p == NULL) {
			nofork_maps[i].nf_p = p;
			nofork_maps[i].nf_len = n * size;
			break;
		}
	}
	return p;
}

void
nofork_free(void *p, size_t n, size_t size)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < NOFORK_MAX; i++)
		if (nofork_maps[i].nf_p == p)
			nofork_maps[i].nf_p = NULL;
	(void)munmap(p, n * size);
}

void
nofork_child(void)
{
	size_t i;

	for (i = 0; i < NOFORK_MAX; i++) {
		if (nofork_maps[i].nf_p != NULL)
			(void)munmap(nofork_maps[i].nf_p, nofork_maps[i].nf_len);
		nofork_maps[i].nf_p = NULL;
	}
}

/*
 * slotidx.c - a hash index from 64-bit keys to slot numbers (slotidx.h).
 */
#include <stdint.h>

#include "secho/dontfork.h"
#include "secho/slotidx.h"

static size_t
home(uint64_t key, size_t mask)
{
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdULL;
	key ^= key >> 33;
	return (size_t)key & mask;
}

int
slotidx_init(struct slotidx *ix, size_t cap)
{
	size_t c = 16;

	while (c < cap * 2)
		c *= 2;
	ix->si_tab = dontfork_calloc(c, sizeof(*ix->si_tab));
	ix->si_cap = ix->si_tab ? c : 0;
	return ix->si_tab ? 0 : -1;
}

void
slotidx_free(struct slotidx *ix)
{
	dontfork_free(ix->si_tab, ix->si_cap, sizeof(*ix->si_tab));
	ix->si_tab = NULL;
	ix->si_cap = 0;
}

long
slotidx_find(const struct slotidx *ix, uint64_t key, slotidx_keyof keyof,
    const void *ctx)
{
	size_t mask = ix->si_cap - 1, i;

	if (ix->si_cap == 0)
		return -1;
	for (i = home(key, mask); ix->si_tab[i]; i = (i + 1) & mask)
		if (keyof(ctx, ix->si_tab[i] - 1) == key)
			return (long)(ix->si_tab[i] - 1);
	return -1;
}

void
slotidx_insert(struct slotidx *ix, uint64_t key, uint32_t slot)
{
	size_t mask = ix->si_cap - 1, i;

	for (i = home(key, mask); ix->si_tab[i]; i = (i + 1) & mask)
		;
	ix->si_tab[i] = slot + 1;
}

/*
 * May the entry at j, whose home is k, move to the hole at i?  Only if k
 * does not lie cyclically in (i, j].
 */
static int
may_fill(size_t i, size_t j, size_t k)
{
	return i < j ? (k <= i || k > j) : (k <= i && k > j);
}

void
slotidx_remove(struct slotidx *ix, uint64_t key, slotidx_keyof keyof,
    const void *ctx)
{
	size_t mask = ix->si_cap - 1, i, j;

	for (i = home(key, mask); ix->si_tab[i]; i = (i + 1) & mask)
		if (keyof(ctx, ix->si_tab[i] - 1) == key)
			break;
	if (ix->si_tab[i] == 0)
		return;
	ix->si_tab[i] = 0;
	for (j = (i + 1) & mask; ix->si_tab[j]; j = (j + 1) & mask) {
		if (may_fill(i, j, home(keyof(ctx, ix->si_tab[j] - 1), mask))) {
			ix->si_tab[i] = ix->si_tab[j];
			ix->si_tab[j] = 0;
			i = j;
		}
	}
}

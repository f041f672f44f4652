/*
 * slotidx.h - a hash index from 64-bit keys to the slots of a caller's
 * array (open addressing, linear probing, deletion by backward shift, so
 * no tombstones).  The caller keeps the keys in its slots and says how to
 * read them (keyof); the index holds slot numbers only.  Used for the
 * master's connections by id and an engine's processes by pid and by id.
 * Its memory is never copied into forked children (dontfork.h).
 */
#ifndef SECHO_SLOTIDX_H
#define SECHO_SLOTIDX_H

#include <stddef.h>
#include <stdint.h>

typedef uint64_t (*slotidx_keyof)(const void *ctx, uint32_t slot);

struct slotidx {
	uint32_t	*si_tab;	/* slot + 1; 0 = empty */
	size_t		 si_cap;	/* power of two */
};

/* Room for cap keys at most half full (cap is rounded up).  0 or -1. */
int	slotidx_init(struct slotidx *ix, size_t cap);
void	slotidx_free(struct slotidx *ix);

/* The slot holding key, or -1. */
long	slotidx_find(const struct slotidx *ix, uint64_t key,
	    slotidx_keyof keyof, const void *ctx);

/* Add key -> slot (the caller keeps at most si_cap / 2 entries). */
void	slotidx_insert(struct slotidx *ix, uint64_t key, uint32_t slot);

/* Remove key (present); entries after it move back into the hole. */
void	slotidx_remove(struct slotidx *ix, uint64_t key, slotidx_keyof keyof,
	    const void *ctx);

#endif

/*
 * conntab.c - the master's table of connections by id, with per-host
 * counts (conntab.h).  Entries sit in slots indexed by id (slotidx.h);
 * hosts in an open-addressing table of their own.  The memory is never
 * copied into a forked process (dontfork.h).
 */
#include <string.h>

#include "secho/addr.h"
#include "secho/conntab.h"
#include "secho/dontfork.h"
#include "secho/slotidx.h"

struct host_slot {
	unsigned char	hs_key[16];
	unsigned	hs_count;	/* 0 = empty */
};

struct conntab {
	struct conn_entry	*t_slots;
	size_t			 t_cap, t_count;
	uint32_t		 t_free;	/* first free slot; t_cap: none */
	struct slotidx		 t_by_id;
	struct host_slot	*t_hosts;	/* t_cap * 2 of them */
};

static uint64_t
key_id(const void *ctx, uint32_t slot)
{
	return ((const struct conntab *)ctx)->t_slots[slot].ce_id;
}

static size_t
host_hash(const unsigned char key[16], size_t mask)
{
	uint64_t h = 1469598103934665603ull;
	int i;

	for (i = 0; i < 16; i++)
		h = (h ^ key[i]) * 1099511628211ull;
	return (size_t)(h ^ (h >> 29)) & mask;
}

static struct host_slot *
host_find(struct host_slot *hosts, size_t n, const unsigned char key[16],
    int insert)
{
	size_t mask = n - 1, i = host_hash(key, mask);

	for (;; i = (i + 1) & mask) {
		if (hosts[i].hs_count == 0)
			return insert ? &hosts[i] : NULL;
		if (memcmp(hosts[i].hs_key, key, 16) == 0)
			return &hosts[i];
	}
}

static void
host_add(struct host_slot *hosts, size_t n, const unsigned char key[16])
{
	struct host_slot *h = host_find(hosts, n, key, 1);

	if (h->hs_count == 0)
		memcpy(h->hs_key, key, 16);
	h->hs_count++;
}

/* Backward-shift deletion, as in slotidx.c. */
static void
host_sub(struct host_slot *hosts, size_t n, const unsigned char key[16])
{
	struct host_slot *h = host_find(hosts, n, key, 0);
	size_t mask = n - 1, i, j, k;

	if (h == NULL || --h->hs_count > 0)
		return;
	i = (size_t)(h - hosts);
	for (j = (i + 1) & mask; hosts[j].hs_count; j = (j + 1) & mask) {
		k = host_hash(hosts[j].hs_key, mask);
		if (i < j ? (k <= i || k > j) : (k <= i && k > j)) {
			hosts[i] = hosts[j];
			hosts[j].hs_count = 0;
			i = j;
		}
	}
}

static int
grow(struct conntab *t)
{
	size_t ncap = t->t_cap ? t->t_cap * 2 : 64, i;
	struct conn_entry *ns = dontfork_calloc(ncap, sizeof(*ns));
	struct host_slot *nh = dontfork_calloc(ncap * 2, sizeof(*nh));
	struct slotidx ix;

	if (ns == NULL || nh == NULL || slotidx_init(&ix, ncap) == -1) {
		dontfork_free(ns, ncap, sizeof(*ns));
		dontfork_free(nh, ncap * 2, sizeof(*nh));
		return -1;
	}
	if (t->t_cap)
		memcpy(ns, t->t_slots, t->t_cap * sizeof(*ns));
	for (i = t->t_cap; i < ncap; i++)
		ns[i].ce_next = (uint32_t)(i + 1);
	for (i = 0; i < t->t_cap; i++) {
		slotidx_insert(&ix, ns[i].ce_id, (uint32_t)i);
		host_add(nh, ncap * 2, ns[i].ce_host);
	}
	t->t_free = (uint32_t)t->t_cap;	/* it was full */
	dontfork_free(t->t_slots, t->t_cap, sizeof(*t->t_slots));
	dontfork_free(t->t_hosts, t->t_cap * 2, sizeof(*t->t_hosts));
	slotidx_free(&t->t_by_id);
	t->t_slots = ns;
	t->t_hosts = nh;
	t->t_by_id = ix;
	t->t_cap = ncap;
	return 0;
}

struct conntab *
conntab_new(void)
{
	struct conntab *t = dontfork_calloc(1, sizeof(*t));

	if (t != NULL && grow(t) == -1) {
		dontfork_free(t, 1, sizeof(*t));
		t = NULL;
	}
	return t;
}

void
conntab_free(struct conntab *t)
{
	if (t == NULL)
		return;
	dontfork_free(t->t_slots, t->t_cap, sizeof(*t->t_slots));
	dontfork_free(t->t_hosts, t->t_cap * 2, sizeof(*t->t_hosts));
	slotidx_free(&t->t_by_id);
	dontfork_free(t, 1, sizeof(*t));
}

struct conn_entry *
conntab_add(struct conntab *t, uint64_t id, const struct sockaddr *peer)
{
	struct conn_entry *e;
	uint32_t slot;

	if (t->t_count == t->t_cap && grow(t) == -1)
		return NULL;
	slot = t->t_free;
	e = &t->t_slots[slot];
	t->t_free = e->ce_next;
	memset(e, 0, sizeof(*e));
	e->ce_id = id;
	memcpy(&e->ce_peer, peer, peer->sa_family == AF_INET ?
	    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
	addr_host_key(peer, e->ce_host);
	slotidx_insert(&t->t_by_id, id, slot);
	host_add(t->t_hosts, t->t_cap * 2, e->ce_host);
	t->t_count++;
	return e;
}

struct conn_entry *
conntab_get(const struct conntab *t, uint64_t id)
{
	long slot = slotidx_find(&t->t_by_id, id, key_id, t);

	return slot < 0 ? NULL : &t->t_slots[slot];
}

void
conntab_remove(struct conntab *t, struct conn_entry *e)
{
	uint32_t slot = (uint32_t)(e - t->t_slots);

	slotidx_remove(&t->t_by_id, e->ce_id, key_id, t);
	host_sub(t->t_hosts, t->t_cap * 2, e->ce_host);
	e->ce_id = 0;
	e->ce_next = t->t_free;
	t->t_free = slot;
	t->t_count--;
}

size_t
conntab_count(const struct conntab *t)
{
	return t->t_count;
}

unsigned
conntab_host_count(const struct conntab *t, const unsigned char host[16])
{
	struct host_slot *h = host_find(t->t_hosts, t->t_cap * 2, host, 0);

	return h ? h->hs_count : 0;
}

void
conntab_set_host(struct conntab *t, struct conn_entry *e,
    const unsigned char host[16])
{
	host_sub(t->t_hosts, t->t_cap * 2, e->ce_host);
	memcpy(e->ce_host, host, 16);
	host_add(t->t_hosts, t->t_cap * 2, e->ce_host);
}

struct conn_entry *
conntab_find_peer(const struct conntab *t, int proto,
    const struct sockaddr *peer, uint16_t lport)
{
	unsigned char host[16];
	size_t i;

	addr_host_key(peer, host);
	if (conntab_host_count(t, host) == 0)
		return NULL;
	for (i = 0; i < t->t_cap; i++)
		if (t->t_slots[i].ce_id != 0 &&
		    t->t_slots[i].ce_proto == proto &&
		    t->t_slots[i].ce_lport == lport &&
		    addr_equal((const struct sockaddr *)&t->t_slots[i].ce_peer,
		    peer))
			return &t->t_slots[i];
	return NULL;
}

size_t
conntab_remove_engine(struct conntab *t, unsigned engine)
{
	size_t i, n = 0;

	for (i = 0; i < t->t_cap; i++)
		if (t->t_slots[i].ce_id != 0 &&
		    t->t_slots[i].ce_engine == engine) {
			conntab_remove(t, &t->t_slots[i]);
			n++;
		}
	return n;
}

/*
 * conntab.h - the master's table of live TCP and TLS connections, keyed
 * by the 64-bit id it gives each one at accept, with the count of
 * connections per peer host for the limits.  An entry lives from accept
 * to the engine's MSG_ENDED (or MSG_NOT_STARTED, or its engine's death).
 */
#ifndef SECHO_CONNTAB_H
#define SECHO_CONNTAB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

struct conn_entry {
	uint64_t		ce_id;		/* 0: a free slot */
	unsigned		ce_engine;	/* the engine's serial */
	int			ce_proto;	/* SECHO_PROTO_TCP or _TLS */
	unsigned char		ce_host[16];	/* addr_host_key() */
	struct sockaddr_storage	ce_peer;	/* as accepted, for log lines */
	uint32_t		ce_next;	/* free list */
	uint16_t		ce_lport;	/* dtls: the listener's port */
};

struct conntab;

struct conntab *conntab_new(void);
void	 conntab_free(struct conntab *t);

/*
 * A new entry for id, counted for the host of peer; the caller fills in
 * the rest.  NULL when out of memory.
 */
struct conn_entry *conntab_add(struct conntab *t, uint64_t id,
	    const struct sockaddr *peer);
/* The entry of id, or NULL. */
struct conn_entry *conntab_get(const struct conntab *t, uint64_t id);
void	 conntab_remove(struct conntab *t, struct conn_entry *e);

size_t	 conntab_count(const struct conntab *t);
/* Live connections from host (addr_host_key()). */
unsigned conntab_host_count(const struct conntab *t,
	    const unsigned char host[16]);
/* Count e for another host from now on (a PROXY header named it). */
void	 conntab_set_host(struct conntab *t, struct conn_entry *e,
	    const unsigned char host[16]);

/*
 * A live entry of proto from exactly peer (address and port) on a
 * listener of port lport, or NULL: a DTLS peer has one association per
 * listener at a time.  It walks the table only when the peer's host has
 * live connections.
 */
struct conn_entry *conntab_find_peer(const struct conntab *t, int proto,
	    const struct sockaddr *peer, uint16_t lport);

/* Remove every entry of an engine; how many there were. */
size_t	 conntab_remove_engine(struct conntab *t, unsigned engine);

#endif

/*
 * listen.h - resolve, bind and listen; keep unchanged sockets on reload.
 */
#ifndef SECHO_LISTEN_H
#define SECHO_LISTEN_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "secho/addr.h"
#include "secho/config.h"

struct udp_counters;

/* One bound socket.  A listener_config may yield several (host names). */
struct listener {
	int			 l_fd;
	int			 l_proto;		/* SECHO_PROTO_* */
	struct sockaddr_storage	 l_addr;
	socklen_t		 l_addrlen;
	char			 l_name[ADDR_STRLEN];	/* "127.0.0.1:7" */
	const struct listener_config *l_cfg;		/* in the current config */
	int			 l_reused;		/* kept from before a reload */
	/* UDP worker */
	pid_t			 l_worker;
	struct udp_counters	*l_counters;		/* shared memory */
	long long		 l_respawn_at;		/* ms, 0 = none */
	long long		 l_worker_started;	/* ms */
	int			 l_worker_failures;	/* quick deaths in a row */
};

struct listener_set {
	struct listener	*ls_items;
	size_t		 ls_count;
};

/* Errors of listen_build(): which exit code the caller uses at start. */
#define LISTEN_ERR_SYSTEM	(-1)	/* bind/socket refused: EX_OSERR-ish 71 */
#define LISTEN_ERR_CONFIG	(-2)	/* host name does not resolve: 78 */

/*
 * Build the sockets of cfg into *out.  Sockets of old (may be NULL) whose
 * socket type and address match are moved over (their l_fd in old becomes
 * -1 and their counters/worker move with them); the rest are opened.  On
 * failure nothing in old is changed, sockets opened here are closed, err
 * names the address ("bind 127.0.0.1:7: Address already in use") or
 * FILE:LINE for an unresolvable name, and LISTEN_ERR_* is returned.
 * TLS contexts are not made here.
 */
int	listen_build(const struct secho_config *cfg, struct listener_set *old,
	    struct listener_set *out, char *err, size_t errlen);

/* Close every socket of the set and free it (counters are unmapped). */
void	listen_free(struct listener_set *set);

/* Close every fd of the set, keeping the structure (in a child). */
void	listen_close_fds(struct listener_set *set);

#endif

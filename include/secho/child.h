/*
 * child.h - the master's table of connection children with per-host
 * counts, fork of connection children and UDP workers, and what a child
 * does before it touches client bytes (privilege drop).
 */
#ifndef SECHO_CHILD_H
#define SECHO_CHILD_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "secho/config.h"
#include "secho/listen.h"
#include "secho/stream.h"

struct child {
	pid_t		ch_pid;
	int		ch_proto;
	unsigned char	ch_host[16];	/* addr_host_key() of the peer */
	long long	ch_start;	/* ms */
};

struct child_table;

struct child_table *child_table_new(void);
void	 child_table_free(struct child_table *t);
/* 0, or -1 when out of memory. */
int	 child_table_add(struct child_table *t, const struct child *c);
/* Remove pid; copy its entry to *out when found.  1 found, 0 not. */
int	 child_table_remove(struct child_table *t, pid_t pid,
	    struct child *out);
/* 1 when pid is in the table. */
int	 child_table_has(const struct child_table *t, pid_t pid);
size_t	 child_table_count(const struct child_table *t);
/* Live connections from this host. */
unsigned child_table_host_count(const struct child_table *t,
	    const unsigned char host[16]);
/* Move pid to another host (PROXY header named the real peer). */
int	 child_table_set_host(struct child_table *t, pid_t pid,
	    const unsigned char host[16]);
/* kill(pid, sig) for every child. */
void	 child_table_signal(const struct child_table *t, int sig);

/*
 * Resolve daemon.user/group of cfg into *pv.  Returns 0, or -1 with err
 * set ("user \"x\" does not exist") when a name is unknown.  When not root
 * nothing is dropped (pv_drop 0) and warn says so (empty otherwise).
 */
int	 child_privs_resolve(const struct secho_config *cfg, struct privs *pv,
	    char *err, size_t errlen, char *warn, size_t warnlen);
void	 child_privs_free(struct privs *pv);

/* Everything a connection child needs, in the master's memory. */
struct child_env {
	const struct secho_config *ce_cfg;
	const struct privs	*ce_privs;
	int			 ce_report_fd;	/* kept in the child, or -1 */
	/*
	 * What the child closes: every listener but its own socket and the
	 * master's other descriptors (-1 entries are skipped).  Closing them
	 * one by one, rather than everything above 2, keeps syslog(3)'s
	 * connection: no reconnect per connection.
	 */
	const struct listener_set *ce_listeners;
	int			 ce_close[4];
};

/*
 * Fork a child for the accepted socket fd (from listener l, peer sa).
 * In the parent returns the pid (> 0) or -1 (fork failed); the child
 * never returns.  Signals must be blocked by the caller around the call
 * (see master.c).
 */
pid_t	 child_spawn_conn(const struct child_env *env, struct listener *l,
	    int fd, const struct sockaddr *peer);

/* Fork the UDP worker of listener l.  pid or -1. */
pid_t	 child_spawn_udp(const struct child_env *env, struct listener *l);

#endif

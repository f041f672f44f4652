/*
 * connreq.h - what an engine needs to serve one connection, as the
 * master sends it in a MSG_CONN message (msg.h) with the socket: the
 * listener (name, index, PROXY flag and access lists), time-outs, log
 * settings and privileges.  Self-contained, so the plain TCP engine
 * (secho-tcp, libc only) keeps no configuration of its own.  Pure code.
 */
#ifndef SECHO_CONNREQ_H
#define SECHO_CONNREQ_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "secho/config.h"
#include "secho/msg.h"

/*
 * Given to secho-tcp as its second argument: an engine from another
 * build (a package upgrade while the master runs) refuses to start, and
 * the master runs the engine in a fork of its own instead.
 */
#define CONNREQ_PROTOCOL	"2"

/* The largest request: a message's payload (msg.h). */
#define CONNREQ_MAX	(MSG_MAX - sizeof(struct msg_hdr))

struct conn_req {
	struct sockaddr_storage	 cr_peer;	/* as accepted */
	int			 cr_proto;	/* SECHO_PROTO_TCP or _TLS */
	unsigned		 cr_gen;	/* the configuration's serial */
	unsigned		 cr_listener;	/* index in its listeners */
	long long		 cr_accepted_ms; /* clock_ms() at accept */
	int			 cr_idle_ms;
	int			 cr_handshake_ms;
	int			 cr_proxy;
	int			 cr_log_facility;
	int			 cr_log_level;
	int			 cr_log_stderr;
	int			 cr_drop;	/* privileges: see struct privs */
	uid_t			 cr_uid;
	gid_t			 cr_gid;
	const char		*cr_name;	/* listener, for log lines */
	const char		*cr_ident;	/* syslog ident */
	const char		*cr_chroot;	/* NULL for none */
	struct cidr_list	 cr_allow;	/* PROXY listeners only */
	struct cidr_list	 cr_deny;
};

/* Encode r into buf; the length, or 0 when it does not fit in len. */
size_t	connreq_encode(const struct conn_req *r, void *buf, size_t len);

/*
 * Decode a payload of len bytes into *r, whose strings and lists point
 * into buf (aligned like malloc memory).  0, or -1 when it is malformed.
 */
int	connreq_decode(const void *buf, size_t len, struct conn_req *r);

#endif

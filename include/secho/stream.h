/*
 * stream.h - the life of a TCP or TLS connection child, in code that
 * needs nothing but libc: privilege drop, the PROXY header, the connect
 * and close lines, the echo.  TLS comes in through a hook, so the plain
 * TCP spawner (secho-spawn) links without OpenSSL.
 */
#ifndef SECHO_STREAM_H
#define SECHO_STREAM_H

#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "secho/config.h"
#include "secho/echo.h"

/* Who the children run as, resolved in the master. */
struct privs {
	int	 pv_drop;	/* started as root with daemon.user set */
	uid_t	 pv_uid;
	gid_t	 pv_gid;
	char	*pv_chroot;	/* NULL for none */
};

/*
 * In a child: chroot (when set), clear supplementary groups, set gid then
 * uid, and verify root cannot be regained.  0, or -1 with err set.
 */
int	 child_drop_privileges(const struct privs *pv, char *err,
	    size_t errlen);

/*
 * What a child behind a PROXY header tells the master, over a datagram
 * socket shared by all children (the master's end is in its poll set).
 * The master answers a CHILD_REPORT_PEER with sigqueue(pid, SIGUSR2,
 * verdict): CHILD_VERDICT_OK, or CHILD_VERDICT_MAX_PER_HOST.
 */
#define CHILD_REPORT_PEER	1	/* real peer; wants a verdict */
#define CHILD_REPORT_ACCESS	2	/* refused by an access list */

#define CHILD_VERDICT_OK		0
#define CHILD_VERDICT_MAX_PER_HOST	1

struct child_report {
	pid_t			cr_pid;
	int			cr_type;
	struct sockaddr_storage	cr_peer;
};

/* What a TLS hook reports for the close line. */
struct stream_tls_result {
	int		 tr_ok;		/* handshake done, echo ran */
	const char	*tr_version;
	const char	*tr_cipher;
	char		 tr_subject[512];
};

/* Everything stream_serve() needs to know about the listener. */
struct stream_ctx {
	int			 sc_proto;	/* SECHO_PROTO_TCP or _TLS */
	const char		*sc_name;	/* listener, for log lines */
	int			 sc_proxy;	/* PROXY header expected */
	const struct cidr_list	*sc_allow;	/* applied to a PROXY source */
	const struct cidr_list	*sc_deny;
	int			 sc_idle_ms;
	int			 sc_handshake_ms;
	int			 sc_report_fd;	/* to the master, or -1 */
	/*
	 * TLS listeners: handshake and echo over c (already a plain conn on
	 * fd); returns the close reason and fills *r.  NULL for plain TCP.
	 */
	const char *(*sc_tls_serve)(const struct stream_ctx *sc, int fd,
		    struct conn *c, const char *peername,
		    struct stream_tls_result *r);
	void	(*sc_tls_free)(struct conn *c);
	void			*sc_tls_arg;
};

/* Set by SIGTERM/SIGINT in a connection child; the mask for ppoll(). */
extern volatile sig_atomic_t stream_stop;
extern sigset_t stream_waitmask;

/* In a new child, after the privilege drop: the stop signals. */
void	 stream_child_signals(void);

/*
 * Serve one connection on fd (peer as accepted) to its end and close fd:
 * PROXY header, connect line, echo, close line.
 */
void	 stream_serve(const struct stream_ctx *sc, int fd,
	    const struct sockaddr *peer);

#endif

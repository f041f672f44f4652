/*
 * conn.h - the life of one TCP or TLS connection in its own process,
 * shared by every stream protocol: the privilege drop, the PROXY header
 * and the master's verdict on it, the connect and close lines.  What
 * differs per protocol (a handshake, the echo) comes in through struct
 * conn_proto: tcp_echo.c, tls_echo.c.  Only libc: the static secho-tcp
 * links it.
 */
#ifndef SECHO_CONN_H
#define SECHO_CONN_H

#include <signal.h>
#include <stddef.h>
#include <sys/types.h>

#include "secho/connreq.h"
#include "secho/echo.h"

/* Who connection processes and UDP workers run as (master: privs.c). */
struct privs {
	int	 pv_drop;	/* started as root with daemon.user set */
	uid_t	 pv_uid;
	gid_t	 pv_gid;
	char	*pv_chroot;	/* NULL for none */
};

/*
 * chroot (when set), clear supplementary groups, set gid then uid, and
 * check that root cannot be regained.  0, or -1 with err set.
 */
int	conn_drop_privileges(const struct privs *pv, char *err, size_t errlen);

/* What a TLS protocol adds to the close line. */
struct conn_tls_info {
	int		 ti_ok;		/* handshake done */
	const char	*ti_version;
	const char	*ti_cipher;
	char		 ti_subject[512];	/* client certificate, or "" */
	char		 ti_sni[256];	/* the name the client asked for, or "" */
	char		 ti_alpn[256];	/* the protocol negotiated, or "" */
};

struct engine_front;

struct conn_proto {
	/* In the new process, first thing (may be NULL). */
	void	(*cp_start)(void);
	/*
	 * Handshake (done by hs_deadline, clock_ms()) and echo over c, a
	 * plain conn on the socket whose byte counts feed the close line;
	 * returns the close reason ("eof", "tls-error", ...).
	 */
	const char *(*cp_serve)(void *arg, const struct conn_req *r,
		    struct conn *c, long long hs_deadline,
		    const char *peername, struct conn_tls_info *ti);
	void	 *cp_arg;
	/* The configuration it serves (connreq's cr_gen); 0: any. */
	unsigned  cp_gen;
	/* An engine that owns its listener sockets (engine.h), or NULL. */
	const struct engine_front *cp_front;
	void	 *cp_front_arg;
};

/* Set by SIGTERM/SIGINT; signals to let in while waiting (ppoll). */
extern volatile sig_atomic_t conn_stop;
extern sigset_t conn_waitmask;

/* The stop signals of a connection process or UDP worker (sig.c). */
void	conn_signals(void);

/*
 * Serve the connection on fd as r describes, from the privilege drop to
 * the close line, and exit.  report_fd is the PROXY channel to the
 * engine (msg.h: MSG_PEER / MSG_ACCESS out, MSG_VERDICT in), or -1.
 */
void	conn_main(const struct conn_req *r, int fd, int report_fd,
	    const struct conn_proto *p) __attribute__((noreturn));

#endif

/*
 * ping_probe.h - one secho-ping run's connection and probes: connect
 * (and handshake) to the address probed, send one probe and wait for
 * its echo within -W, verifying every byte; TCP and TLS echoes are
 * reassembled from the stream (a late echo of a lost probe is checked
 * against that probe), UDP echoes are told apart by their header.
 */
#ifndef SECHO_PING_PROBE_H
#define SECHO_PING_PROBE_H

#include <netdb.h>
#include <stdio.h>
#include <openssl/ssl.h>

#include "secho/addr.h"
#include "secho/ping_args.h"
#include "secho/ping_payload.h"
#include "secho/ping_report.h"
#include "secho/ping_stats.h"

/* Probes remembered as come back (UDP: a second copy is a duplicate). */
#define PING_PROBE_BACK	65536

struct ping_run {
	const struct ping_opts	*r_opts;
	const struct addrinfo	*r_ai;		/* the address probed */
	char			 r_addr[ADDR_STRLEN];
	SSL_CTX			*r_ctx;		/* -S */
	SSL_SESSION		*r_session;	/* --resume: to offer */
	struct payload		 r_pl;
	unsigned char		*r_rx;		/* receive buffer */
	size_t			 r_rxlen;
	long long		 r_wait_ns;	/* -W */
	FILE			*r_lines;	/* probe lines; NULL: none */

	/* The connection (stream offsets count from its first probe). */
	int			 r_fd;
	SSL			*r_ssl;
	unsigned long long	 r_conn_first;	/* first seq sent on it */
	unsigned long long	 r_tx;		/* bytes sent on it */
	unsigned long long	 r_rxoff;	/* bytes received on it */
	int			 r_late_bad;	/* the echo outstanding
						   differs */
	int			 r_resumed;	/* it resumed a session */
	unsigned long long	 r_connections;	/* handshakes done */

	unsigned char		 r_back[PING_PROBE_BACK / 8];	/* bit seq %
						   PING_PROBE_BACK: came back */
	unsigned long long	 r_first_seq;
	struct ping_stats	 r_st;
	struct ping_tls_info	 r_tls;		/* of the first connection */
};

/* What a probe came to (besides its line). */
struct ping_probe_end {
	int		 pe_interrupted;	/* SIGINT: not counted */
	int		 pe_fatal;	/* the run cannot go on (exit 2) */
	char		 pe_reason[320];	/* lost or fatal: why */
};

/*
 * Set up r for o probing ai (buffers, payload).  0, or -1 with err.
 */
int	 ping_probe_init(struct ping_run *r, const struct ping_opts *o,
	    const struct addrinfo *ai, char *err, size_t errlen);
void	 ping_probe_free(struct ping_run *r);

/*
 * Connect (and handshake with -S) before deadline.  Times in *conn_us
 * and *hs_us (-1 when not measured).  Returns 0, -1 with the reason in
 * err, -2 when interrupted.
 */
int	 ping_probe_connect(struct ping_run *r, long long deadline, double *conn_us,
	    double *hs_us, char *err, size_t errlen);
void	 ping_probe_disconnect(struct ping_run *r);

/*
 * Before the next probe: can the open connection carry it?  0 when
 * there is none, or when (TCP, TLS) the server closed or reset it in the
 * meantime, or sent bytes nobody asked for, or the echo of a probe lost
 * to -W has not come back whole and intact by now (read here, without
 * waiting, as a late echo); it is then closed, and the caller connects
 * again without counting a probe.  1 otherwise.
 */
int	 ping_probe_reusable(struct ping_run *r);

/*
 * Send probe seq on the open connection (nothing outstanding on it: a
 * new one, or ping_probe_reusable()) and wait until its echo is
 * complete or deadline; fills the probe line (outcome, rtt, bytes, the
 * first differing byte) and *end.  The connection is closed when it
 * cannot carry the next probe (closed, reset, bytes left unsent, or a
 * corrupted echo).
 */
void	 ping_probe_one(struct ping_run *r, unsigned long long seq,
	    long long deadline, struct ping_probe_line *line,
	    struct ping_probe_end *end);

#endif

/*
 * ping_conn.h - secho-ping's sockets: name resolution, non-blocking
 * connect bounded by a deadline, waits on one descriptor, and the
 * monotonic clock in nanoseconds.  Errors come back as words in the
 * caller's buffer (0/-1 returns); nothing here prints or exits.
 */
#ifndef SECHO_PING_CONN_H
#define SECHO_PING_CONN_H

#include <netdb.h>
#include <signal.h>
#include <stddef.h>

/* Set by the SIGINT/SIGTERM handler: stop after the current step. */
extern volatile sig_atomic_t ping_stop;

/*
 * SIGINT and SIGTERM set ping_stop (SA_RESTART), SIGPIPE is ignored.
 * SIGINT and SIGTERM are then blocked except inside the waits below, so
 * a signal just before a wait ends it at once and nothing else is ever
 * interrupted.  0, or -1 with errno.
 */
int	 ping_conn_signals(void);

/*
 * Let a pending SIGINT/SIGTERM in without waiting (for loops that may
 * not reach a wait for a while).  1 when the run is to stop.
 */
int	 ping_conn_interrupted(void);

/* CLOCK_MONOTONIC in nanoseconds. */
long long ping_conn_now_ns(void);

/*
 * Resolve host (an IP literal, "[v6]", or a name) and port for a stream
 * or datagram socket of family (AF_UNSPEC: any).  Returns 0 with *res
 * (freeaddrinfo() it), or -1 with the reason in err.
 */
int	 ping_conn_resolve(const char *host, int port, int family, int dgram,
	    struct addrinfo **res, char *err, size_t errlen);

/*
 * A non-blocking socket connected to ai within deadline (ns, monotonic):
 * TCP with TCP_NODELAY, or a connected UDP socket (replies from any
 * other address are then dropped by the kernel).  Returns the
 * descriptor, -1 with the reason in err, or -2 when interrupted.
 */
int	 ping_conn_connect(const struct addrinfo *ai, long long deadline,
	    char *err, size_t errlen);

/*
 * Wait (ppoll) for events on fd until deadline.  Returns 1 with
 * *revents, 0 at the deadline, -1 when a signal set ping_stop, -2 on
 * error.
 */
int	 ping_conn_wait(int fd, short events, long long deadline, short *revents);

/* Sleep until deadline; 0, or -1 when a signal set ping_stop. */
int	 ping_conn_sleep_until(long long deadline);

/* "connection refused", "connection reset by the server", ... */
const char *ping_conn_errno_text(int e);

/* close() that ignores -1 and EINTR; sets *fd to -1. */
void	 ping_conn_close(int *fd);

#endif

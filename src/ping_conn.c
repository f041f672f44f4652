/*
 * ping_conn.c - secho-ping's sockets: resolution, connect within a
 * deadline, waits (where SIGINT and SIGTERM are let in), the monotonic
 * clock (ping_conn.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "secho/ping_conn.h"

volatile sig_atomic_t ping_stop;

/* The signal mask inside the waits: SIGINT and SIGTERM let in. */
static sigset_t wait_mask;
static int have_wait_mask;

static void
on_signal(int sig)
{
	(void)sig;
	ping_stop = 1;
}

int
ping_conn_signals(void)
{
	struct sigaction sa;
	sigset_t block;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGINT, &sa, NULL) == -1 ||
	    sigaction(SIGTERM, &sa, NULL) == -1)
		return -1;
	sa.sa_handler = SIG_IGN;
	sa.sa_flags = 0;
	if (sigaction(SIGPIPE, &sa, NULL) == -1)
		return -1;
	/*
	 * Blocked from here on but inside ppoll(), which lets them in
	 * atomically: a signal that comes between a check of ping_stop and
	 * the wait after it is taken when the wait starts, and ends it, where
	 * poll() or clock_nanosleep() would wait out -W or the interval.
	 * Nothing else (a write to standard output) is ever interrupted.
	 */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &block, &wait_mask) == -1)
		return -1;
	sigdelset(&wait_mask, SIGINT);
	sigdelset(&wait_mask, SIGTERM);
	have_wait_mask = 1;
	return 0;
}

/* ppoll() with the signals let in; ns: the time to wait, at most. */
static int
wait_ns(struct pollfd *p, nfds_t n, long long ns)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(ns / 1000000000LL);
	ts.tv_nsec = (long)(ns % 1000000000LL);
	return ppoll(p, n, &ts, have_wait_mask ? &wait_mask : NULL);
}

int
ping_conn_interrupted(void)
{
	if (!ping_stop && have_wait_mask)
		(void)wait_ns(NULL, 0, 0);
	return ping_stop != 0;
}

long long
ping_conn_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int
ping_conn_resolve(const char *host, int port, int family, int dgram,
    struct addrinfo **res, char *err, size_t errlen)
{
	struct addrinfo hints;
	char name[256], serv[8];
	size_t n = strlen(host);
	int rc;

	/* "[::1]" as people write it next to a port. */
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']' &&
	    n - 2 < sizeof(name)) {
		memcpy(name, host + 1, n - 2);
		name[n - 2] = '\0';
	} else if (n < sizeof(name))
		memcpy(name, host, n + 1);
	else {
		snprintf(err, errlen, "cannot resolve %.40s...: name too long",
		    host);
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = family;
	hints.ai_socktype = dgram ? SOCK_DGRAM : SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
	snprintf(serv, sizeof(serv), "%d", port);
	rc = getaddrinfo(name, serv, &hints, res);
	if (rc != 0) {
		/*
		 * Without AI_ADDRCONFIG: on a machine with loopback only it
		 * hides ::1 and 127.0.0.1.
		 */
		hints.ai_flags = AI_NUMERICSERV;
		rc = getaddrinfo(name, serv, &hints, res);
	}
	if (rc != 0) {
		snprintf(err, errlen, "cannot resolve %s: %s", host,
		    rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return -1;
	}
	return 0;
}

const char *
ping_conn_errno_text(int e)
{
	switch (e) {
	case ECONNREFUSED:
		return "connection refused";
	case ECONNRESET:
		return "connection reset by the server";
	case EPIPE:
		return "connection closed by the server";
	case ETIMEDOUT:
		return "connection timed out";
	case EHOSTUNREACH:
		return "host unreachable";
	case ENETUNREACH:
		return "network unreachable";
	case EADDRNOTAVAIL:
		return "address not available";
	default:
		return strerror(e);
	}
}

void
ping_conn_close(int *fd)
{
	if (*fd >= 0)
		(void)close(*fd);
	*fd = -1;
}

int
ping_conn_wait(int fd, short events, long long deadline, short *revents)
{
	struct pollfd p;
	long long left;
	int rc;

	for (;;) {
		if (ping_stop)
			return -1;
		left = deadline - ping_conn_now_ns();
		if (left <= 0)
			return 0;
		p.fd = fd;
		p.events = events;
		p.revents = 0;
		rc = wait_ns(&p, 1, left);
		if (rc > 0) {
			*revents = p.revents;
			return 1;
		}
		if (rc < 0 && errno != EINTR)
			return -2;
	}
}

int
ping_conn_sleep_until(long long deadline)
{
	long long left;

	while (!ping_stop) {
		left = deadline - ping_conn_now_ns();
		if (left <= 0)
			return 0;
		(void)wait_ns(NULL, 0, left);
	}
	return -1;
}

int
ping_conn_connect(const struct addrinfo *ai, long long deadline, char *err,
    size_t errlen)
{
	int fd, one = 1, e = 0, rc;
	socklen_t elen = sizeof(e);
	short rev;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, ai->ai_protocol);
	if (fd == -1) {
		snprintf(err, errlen, "cannot create a socket: %s",
		    strerror(errno));
		return -1;
	}
	if (ai->ai_socktype == SOCK_STREAM)
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
	else {
		int sz = 1 << 20;

		/* Room for a few 64 KiB datagrams either way. */
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	}
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
		return fd;
	if (errno != EINPROGRESS) {
		e = errno;
		goto fail;
	}
	rc = ping_conn_wait(fd, POLLOUT, deadline, &rev);
	if (rc == -1) {
		ping_conn_close(&fd);
		return -2;
	}
	if (rc == 0) {
		e = ETIMEDOUT;
		goto fail;
	}
	if (rc < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) == -1)
		e = errno;
	if (e == 0)
		return fd;
fail:
	snprintf(err, errlen, "%s", ping_conn_errno_text(e));
	ping_conn_close(&fd);
	return -1;
}

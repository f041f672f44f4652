/*
 * tcp_echo.c - a plain TCP connection's echo (RFC 862): blocking recv()
 * and send() with socket time-outs, two system calls per echo instead of
 * a ppoll() round as well, and splice() for bulk senders (bench/).  Also
 * the struct conn over a plain socket that TLS starts from.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "secho/conn.h"
#include "secho/echo.h"
#include "secho/sig.h"
#include "secho/tcp_echo.h"

#define SPLICE_PIPE_SIZE (1024 * 1024)
#define SPLICE_AFTER	(ECHO_BUFSIZE / 4)	/* bytes in one read */

static ssize_t
tcp_read(struct conn *c, void *buf, size_t len)
{
	ssize_t n;

	do
		n = recv(c->c_fd, buf, len, 0);
	while (n == -1 && errno == EINTR);
	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return CONN_WANT_READ;
	return CONN_ERROR;
}

static ssize_t
tcp_write(struct conn *c, const void *buf, size_t len)
{
	ssize_t n;

	do
		n = send(c->c_fd, buf, len, MSG_NOSIGNAL);
	while (n == -1 && errno == EINTR);
	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return CONN_WANT_WRITE;
	return CONN_ERROR;
}

static int
tcp_close_write(struct conn *c)
{
	if (shutdown(c->c_fd, SHUT_WR) == -1 && errno != ENOTCONN)
		return CONN_ERROR;
	return 0;
}

static const struct conn_ops tcp_ops = {
	.co_read = tcp_read,
	.co_write = tcp_write,
	.co_close_write = tcp_close_write,
	.co_pending = NULL,
};

void
tcp_conn_init(struct conn *c, int fd)
{
	c->c_ops = &tcp_ops;
	c->c_ctx = NULL;
	c->c_fd = fd;
	c->c_bytes_in = 0;
	c->c_bytes_out = 0;
}

static int
set_timeout(int fd, int opt, int ms)
{
	struct timeval tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	return setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof(tv));
}

/*
 * Where the bytes wait between reading and writing: our buffer (recv and
 * send), or, once a sender has filled that buffer, a pipe (splice(2):
 * socket -> pipe -> socket, no copy through user space).  splice honours
 * SO_RCVTIMEO and SO_SNDTIMEO on a blocking socket, like recv and send.
 */
static ssize_t
take(int fd, int pipe_w, void *buf, size_t len)
{
	if (pipe_w == -1)
		return recv(fd, buf, len, 0);
	return splice(fd, NULL, pipe_w, NULL, SPLICE_PIPE_SIZE, SPLICE_F_MOVE);
}

static ssize_t
give(int fd, int pipe_r, const void *buf, size_t len)
{
	if (pipe_r == -1)
		return send(fd, buf, len, MSG_NOSIGNAL);
	return splice(pipe_r, NULL, fd, NULL, len, SPLICE_F_MOVE);
}

/* What a failed call (errno) means for the close line. */
static enum echo_result
failure(volatile sig_atomic_t *stop)
{
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return ECHO_IDLE_TIMEOUT;	/* SO_RCVTIMEO / SO_SNDTIMEO */
	return stop != NULL && *stop ? ECHO_SHUTDOWN : ECHO_ERROR;
}

enum echo_result
tcp_echo_run(struct conn *c, int idle_timeout_ms,
    volatile sig_atomic_t *stop, const sigset_t *sigmask)
{
	static unsigned char buf[ECHO_BUFSIZE];
	sigset_t old;
	enum echo_result r = ECHO_ERROR;
	ssize_t n, w;
	size_t off;
	int fd = c->c_fd, p[2] = { -1, -1 };

	/* Time-outs bound every wait: no data in, or none taken out. */
	if (idle_timeout_ms > 0 &&
	    (set_timeout(fd, SO_RCVTIMEO, idle_timeout_ms) == -1 ||
	    set_timeout(fd, SO_SNDTIMEO, idle_timeout_ms) == -1))
		return ECHO_ERROR;
	/*
	 * A stop request shuts the socket down (sig.c), which ends a
	 * blocked recv() or send() at once; the flag says why.  Signals are
	 * unblocked for the whole loop, so none waits for a time-out.
	 */
	sig_child_wake_fd(fd);
	if (sigmask != NULL)
		sigprocmask(SIG_SETMASK, sigmask, &old);
	for (;;) {
		if (stop != NULL && *stop) {
			r = ECHO_SHUTDOWN;
			break;
		}
		n = take(fd, p[1], buf, sizeof(buf));
		if (n == -1) {
			if (errno == EINTR)
				continue;
			r = failure(stop);
			break;
		}
		if (n == 0) {
			if (stop != NULL && *stop) {
				r = ECHO_SHUTDOWN;
				break;
			}
			/* Half-close: all was echoed already; end our side. */
			shutdown(fd, SHUT_WR);
			r = ECHO_EOF;
			break;
		}
		c->c_bytes_in += (uint64_t)n;
		for (off = 0; off < (size_t)n; off += (size_t)w) {
			w = give(fd, p[0], buf + off, (size_t)n - off);
			if (w == -1) {
				if (errno == EINTR && !(stop != NULL && *stop)) {
					w = 0;
					continue;
				}
				r = failure(stop);
				goto out;
			}
			c->c_bytes_out += (uint64_t)w;
		}
		/*
		 * A read of a quarter of the buffer or more means a bulk
		 * sender: splice from now on.  (Waiting for a full buffer
		 * missed senders that the echo keeps up with: they never
		 * queue 256 KiB, and stayed on the copy path at half speed.)
		 */
		if (p[0] == -1 && (size_t)n >= SPLICE_AFTER &&
		    pipe2(p, O_CLOEXEC) == 0)
			(void)fcntl(p[1], F_SETPIPE_SZ, SPLICE_PIPE_SIZE);
	}
out:
	if (p[0] != -1) {
		close(p[0]);
		close(p[1]);
	}
	sig_child_wake_fd(-1);
	if (sigmask != NULL)
		sigprocmask(SIG_SETMASK, &old, NULL);
	return r;
}

const char *
tcp_echo_serve(void *arg, const struct conn_req *r, struct conn *c,
    long long hs_deadline, const char *peername, struct conn_tls_info *ti)
{
	return echo_result_name(tcp_echo_run(c, r->cr_idle_ms, &conn_stop,
	    &conn_waitmask));
}

/*
 * echo.h - stream echo over a small connection interface.
 *
 * A struct conn wraps a plain socket (serve_tcp.c) or a TLS session
 * (tls.c).  echo_run() moves every byte read back out, binary-safe, with
 * a bounded buffer (so a client that does not read is throttled by TCP
 * flow control), honours half-close, the idle timeout and a stop flag.
 */
#ifndef SECHO_ECHO_H
#define SECHO_ECHO_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Return codes of conn_ops read/write besides >= 0 byte counts. */
#define CONN_ERROR	(-1)	/* fatal; errno or the TLS layer says why */
#define CONN_WANT_READ	(-2)	/* retry when the fd is readable */
#define CONN_WANT_WRITE	(-3)	/* retry when the fd is writable */

struct conn;

struct conn_ops {
	/* > 0 bytes read, 0 orderly end of input, or CONN_* code. */
	ssize_t	(*co_read)(struct conn *, void *, size_t);
	/* > 0 bytes written (may be short), or CONN_* code. */
	ssize_t	(*co_write)(struct conn *, const void *, size_t);
	/*
	 * End our side of the stream after everything was written (TCP
	 * shutdown(SHUT_WR), TLS close_notify).  0 done, or CONN_* code to
	 * retry.
	 */
	int	(*co_close_write)(struct conn *);
	/* Bytes already buffered for reading (TLS); may be NULL. */
	size_t	(*co_pending)(struct conn *);
	/*
	 * Called once when the connection has been quiet for ECHO_IDLE_MS
	 * (and again after the next activity): give memory back.  May be
	 * NULL.
	 */
	void	(*co_idle)(struct conn *);
};

struct conn {
	const struct conn_ops	*c_ops;
	void			*c_ctx;		/* SSL *, or NULL */
	int			 c_fd;		/* non-blocking socket */
	uint64_t		 c_bytes_in;
	uint64_t		 c_bytes_out;
};

enum echo_result {
	ECHO_EOF = 0,		/* client closed, everything echoed */
	ECHO_IDLE_TIMEOUT,	/* no data from the client for too long */
	ECHO_SHUTDOWN,		/* *stop became true */
	ECHO_ERROR,		/* reset, I/O or protocol error */
};

/* Quiet time before co_idle. */
#define ECHO_IDLE_MS 200

/* 256 KiB: fewer rounds for bulk echo; untouched pages cost nothing. */
#define ECHO_BUFSIZE (256 * 1024)

/*
 * Echo until the client closes, an error, the idle timeout (ms, <= 0 for
 * none) or *stop.  The fd must be non-blocking.  Signals in *sigmask are
 * unblocked only while waiting (ppoll), so a signal that sets *stop is
 * never lost; sigmask may be NULL (current mask).  Counts bytes in
 * c_bytes_in/c_bytes_out.
 */
enum echo_result echo_run(struct conn *c, int idle_timeout_ms,
    volatile sig_atomic_t *stop, const sigset_t *sigmask);

/* "eof", "idle-timeout", "shutdown", "error". */
const char *echo_result_name(enum echo_result r);

#endif

/*
 * echo.c - stream echo over struct conn (plain socket or TLS).
 *
 * One ring buffer: bytes read from the client wait there until written
 * back.  Reading stops while the buffer is full, so a client that sends
 * without reading is slowed by TCP flow control instead of growing our
 * memory.  Read and write are tried when their last result did not say
 * "would block"; only then do we wait in ppoll().
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "secho/clock.h"
#include "secho/echo.h"

/* One connection per process: the buffer is static, its state is not. */
static unsigned char echo_buf[ECHO_BUFSIZE];

struct echo_state {
	unsigned char	*buf;		/* echo_buf */
	size_t		head;		/* next byte to write back */
	size_t		len;		/* bytes waiting to be written */
	int		eof;		/* client sent its last byte */
	int		rd_ready, wr_ready, cl_ready;
	short		rd_ev, wr_ev, cl_ev;	/* poll event each waits for */
};

const char *
echo_result_name(enum echo_result r)
{
	switch (r) {
	case ECHO_EOF:
		return "eof";
	case ECHO_IDLE_TIMEOUT:
		return "idle-timeout";
	case ECHO_SHUTDOWN:
		return "shutdown";
	case ECHO_ERROR:
	default:
		return "error";
	}
}

/* Map a CONN_WANT_* code to the poll event to wait for. */
static short
want_event(ssize_t code)
{
	return code == CONN_WANT_WRITE ? POLLOUT : POLLIN;
}

/*
 * Quiet, and nothing waiting in the buffer: its pages go back to the
 * kernel (they come back zeroed with the next bytes).  An idle TLS child
 * keeps ~4 KiB less.
 */
static void
release_buffer(const struct echo_state *st)
{
	long sz = sysconf(_SC_PAGESIZE);
	uintptr_t pg = sz > 0 ? (uintptr_t)sz : 4096;
	uintptr_t lo = ((uintptr_t)st->buf + pg - 1) & ~(pg - 1);
	uintptr_t hi = ((uintptr_t)st->buf + ECHO_BUFSIZE) & ~(pg - 1);

	if (st->len == 0 && hi > lo)
		(void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

/* Returns 1 on progress, 0 on none, -1 on error. */
static int
do_read(struct conn *c, struct echo_state *st)
{
	size_t tail, room;
	ssize_t n;

	tail = (st->head + st->len) % ECHO_BUFSIZE;
	room = tail >= st->head && st->len < ECHO_BUFSIZE ?
	    ECHO_BUFSIZE - tail : st->head - tail;
	n = c->c_ops->co_read(c, st->buf + tail, room);
	if (n > 0) {
		st->len += (size_t)n;
		c->c_bytes_in += (uint64_t)n;
		/*
		 * A short read usually means the socket is drained; a TLS
		 * layer may still hold decrypted bytes, which it reports.
		 */
		if ((size_t)n < room && (c->c_ops->co_pending == NULL ||
		    c->c_ops->co_pending(c) == 0)) {
			st->rd_ready = 0;
			st->rd_ev = POLLIN;
		}
		return 1;
	}
	if (n == 0) {
		st->eof = 1;
		return 1;
	}
	if (n == CONN_WANT_READ || n == CONN_WANT_WRITE) {
		st->rd_ready = 0;
		st->rd_ev = want_event(n);
		return 0;
	}
	return -1;
}

static int
do_write(struct conn *c, struct echo_state *st)
{
	size_t chunk;
	ssize_t n;

	chunk = st->len;
	if (chunk > ECHO_BUFSIZE - st->head)
		chunk = ECHO_BUFSIZE - st->head;
	n = c->c_ops->co_write(c, st->buf + st->head, chunk);
	if (n > 0) {
		st->head = (st->head + (size_t)n) % ECHO_BUFSIZE;
		st->len -= (size_t)n;
		if (st->len == 0)
			st->head = 0;
		c->c_bytes_out += (uint64_t)n;
		if ((size_t)n < chunk) {
			st->wr_ready = 0;
			st->wr_ev = POLLOUT;
		}
		return 1;
	}
	if (n == CONN_WANT_READ || n == CONN_WANT_WRITE) {
		st->wr_ready = 0;
		st->wr_ev = want_event(n);
		return 0;
	}
	return -1;
}

enum echo_result
echo_run(struct conn *c, int idle_timeout_ms, volatile sig_atomic_t *stop,
    const sigset_t *sigmask)
{
	struct echo_state st;
	struct pollfd pfd;
	long long last, now;
	struct timespec ts, *tsp;
	int r, progress, quiet_pending = c->c_ops->co_idle != NULL, quiet;

	st.buf = echo_buf;
	st.head = st.len = 0;
	st.eof = 0;
	st.rd_ready = st.wr_ready = st.cl_ready = 1;
	st.rd_ev = POLLIN;
	st.wr_ev = st.cl_ev = POLLOUT;
	last = clock_ms();

	for (;;) {
		if (stop != NULL && *stop)
			return ECHO_SHUTDOWN;
		progress = 0;

		if (!st.eof && st.len < ECHO_BUFSIZE && st.rd_ready) {
			if ((r = do_read(c, &st)) < 0)
				return ECHO_ERROR;
			progress |= r;
		}
		if (st.len > 0 && st.wr_ready) {
			if ((r = do_write(c, &st)) < 0)
				return ECHO_ERROR;
			progress |= r;
		}
		if (st.eof && st.len == 0 && st.cl_ready) {
			r = c->c_ops->co_close_write(c);
			if (r == 0)
				return ECHO_EOF;
			if (r != CONN_WANT_READ && r != CONN_WANT_WRITE)
				return ECHO_EOF;	/* all echoed; peer gone */
			st.cl_ready = 0;
			st.cl_ev = want_event(r);
		}
		if (progress) {
			last = clock_ms();
			quiet_pending = c->c_ops->co_idle != NULL;
			continue;
		}

		pfd.fd = c->c_fd;
		pfd.events = 0;
		pfd.revents = 0;
		if (!st.eof && st.len < ECHO_BUFSIZE)
			pfd.events |= st.rd_ev;
		if (st.len > 0)
			pfd.events |= st.wr_ev;
		if (st.eof && st.len == 0)
			pfd.events |= st.cl_ev;

		tsp = NULL;
		if (idle_timeout_ms > 0) {
			now = clock_ms();
			if (now - last >= idle_timeout_ms)
				return ECHO_IDLE_TIMEOUT;
			long long left = idle_timeout_ms - (now - last);
			ts.tv_sec = left / 1000;
			ts.tv_nsec = (left % 1000) * 1000000;
			tsp = &ts;
		}
		/* A short first wait, then co_idle, then the rest. */
		quiet = quiet_pending && (tsp == NULL ||
		    ts.tv_sec * 1000 + ts.tv_nsec / 1000000 > ECHO_IDLE_MS);
		if (quiet) {
			ts.tv_sec = ECHO_IDLE_MS / 1000;
			ts.tv_nsec = (ECHO_IDLE_MS % 1000) * 1000000L;
			tsp = &ts;
		}
		r = ppoll(&pfd, 1, tsp, sigmask);
		if (r == 0 && quiet) {
			quiet_pending = 0;
			c->c_ops->co_idle(c);
			release_buffer(&st);
			continue;
		}
		if (r == -1) {
			if (errno == EINTR)
				continue;
			return ECHO_ERROR;
		}
		if (r == 0)
			continue;	/* the timeout test above decides */
		/*
		 * Errors and hang-ups wake everything: the next read or
		 * write reports what happened.
		 */
		if (pfd.revents & (POLLERR | POLLHUP | POLLNVAL))
			st.rd_ready = st.wr_ready = st.cl_ready = 1;
		if (pfd.revents & POLLIN) {
			if (st.rd_ev == POLLIN)
				st.rd_ready = 1;
			if (st.wr_ev == POLLIN)
				st.wr_ready = 1;
			if (st.cl_ev == POLLIN)
				st.cl_ready = 1;
		}
		if (pfd.revents & POLLOUT) {
			if (st.rd_ev == POLLOUT)
				st.rd_ready = 1;
			if (st.wr_ev == POLLOUT)
				st.wr_ready = 1;
			if (st.cl_ev == POLLOUT)
				st.cl_ready = 1;
		}
	}
}

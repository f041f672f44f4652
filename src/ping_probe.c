/*
 * ping_probe.c - a secho-ping run's connection and its probes
 * (ping_probe.h).  The hot path of a probe is one send, one poll and one
 * receive, into buffers allocated once per run.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>

#include <openssl/err.h>

#include "secho/ping_conn.h"
#include "secho/ping_probe.h"
#include "secho/ping_tls.h"

#define NO_BAD	SIZE_MAX
/* Receive room beyond a probe, to see an echo longer than the probe. */
#define ROOM	4096

static void
random_bytes(unsigned char *b, size_t n)
{
	ssize_t k;

	while (n > 0) {
		k = getrandom(b, n, 0);
		if (k <= 0) {
			if (k < 0 && errno == EINTR)
				continue;
			/* No entropy source: any bytes will do for probes. */
			for (; n > 0; n--)
				*b++ = (unsigned char)rand();
			return;
		}
		b += k;
		n -= (size_t)k;
	}
}

int
ping_probe_init(struct ping_run *r, const struct ping_opts *o,
    const struct addrinfo *ai, char *err, size_t errlen)
{
	unsigned char *body = NULL;
	uint32_t tag;

	memset(r, 0, sizeof(*r));
	r->r_fd = -1;
	r->r_opts = o;
	r->r_ai = ai;
	r->r_wait_ns = (long long)(o->po_wait * 1e9);
	r->r_first_seq = 1;
	ping_stats_init(&r->r_st);
	addr_format(ai->ai_addr, r->r_addr, sizeof(r->r_addr));
	r->r_rxlen = (o->po_size > 65536 ? o->po_size : 65536) + ROOM;
	if ((r->r_rx = malloc(r->r_rxlen)) == NULL ||
	    (o->po_text == NULL && (body = malloc(o->po_size)) == NULL))
		goto nomem;
	random_bytes((unsigned char *)&tag, sizeof(tag));
	if (body != NULL)
		random_bytes(body, o->po_size);
	if (ping_payload_init(&r->r_pl, o->po_size, o->po_text, tag, body) == -1)
		goto nomem;
	free(body);
	return 0;
nomem:
	free(body);
	free(r->r_rx);
	r->r_rx = NULL;
	snprintf(err, errlen, "out of memory for %zu-byte probes", o->po_size);
	return -1;
}

void
ping_probe_free(struct ping_run *r)
{
	ping_probe_disconnect(r);
	ping_payload_free(&r->r_pl);
	free(r->r_rx);
	r->r_rx = NULL;
	if (r->r_session != NULL)
		SSL_SESSION_free(r->r_session);
	r->r_session = NULL;
}

int
ping_probe_connect(struct ping_run *r, long long deadline, double *conn_us,
    double *hs_us, char *err, size_t errlen)
{
	long long t0, t1;
	char why[320];
	int fd, interrupted;

	*conn_us = *hs_us = -1;
	ping_probe_disconnect(r);
	t0 = ping_conn_now_ns();
	if ((fd = ping_conn_connect(r->r_ai, deadline, why, sizeof(why))) < 0) {
		snprintf(err, errlen, "cannot connect to %s: %s", r->r_addr,
		    why);
		return fd;
	}
	t1 = ping_conn_now_ns();
	*conn_us = (double)(t1 - t0) / 1000.0;
	if (r->r_ctx != NULL) {
		r->r_ssl = ptls_handshake(r->r_ctx, fd, r->r_opts,
		    r->r_opts->po_resume ? r->r_session : NULL, deadline, why,
		    sizeof(why), &interrupted);
		if (r->r_ssl == NULL) {
			snprintf(err, errlen, "TLS handshake with %s failed: %s",
			    r->r_addr, why);
			ping_conn_close(&fd);
			return interrupted ? -2 : -1;
		}
		*hs_us = (double)(ping_conn_now_ns() - t1) / 1000.0;
		r->r_resumed = SSL_session_reused(r->r_ssl);
		if (r->r_connections == 0)
			ptls_info(r->r_ssl, r->r_opts, &r->r_tls);
	}
	r->r_fd = fd;
	r->r_tx = r->r_rxoff = 0;
	r->r_late_bad = 0;
	r->r_connections++;
	return 0;
}

void
ping_probe_disconnect(struct ping_run *r)
{
	ptls_close(&r->r_ssl);
	ping_conn_close(&r->r_fd);
}

static int
io_write(struct ping_run *r, const void *b, size_t n, short *want, char *err,
    size_t errlen)
{
	ssize_t k;

	if (r->r_ssl != NULL)
		return ptls_write(r->r_ssl, b, n, want, err, errlen);
	if ((k = send(r->r_fd, b, n, MSG_NOSIGNAL)) >= 0)
		return (int)k;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
		*want = POLLOUT;
		return PTLS_AGAIN;
	}
	snprintf(err, errlen, "%s", ping_conn_errno_text(errno));
	return PTLS_ERROR;
}

static int
io_read(struct ping_run *r, void *b, size_t n, short *want, char *err,
    size_t errlen)
{
	ssize_t k;

	if (r->r_ssl != NULL)
		return ptls_read(r->r_ssl, b, n, want, err, errlen);
	if ((k = recv(r->r_fd, b, n, 0)) > 0)
		return (int)k;
	if (k == 0)
		return PTLS_EOF;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
		*want = POLLIN;
		return PTLS_AGAIN;
	}
	snprintf(err, errlen, "%s", ping_conn_errno_text(errno));
	return PTLS_ERROR;
}

static const char *
wait_text(const struct ping_run *r, char *buf, size_t len)
{
	return ping_report_num(buf, len, r->r_opts->po_wait, 3);
}

/* Bytes of earlier probes (late echoes), read and checked. */
static int
read_late(struct ping_run *r, unsigned long long p, size_t off, size_t n,
    short *want, char *err, size_t errlen)
{
	size_t size = r->r_pl.pl_size;
	int k;

	if (n > r->r_rxlen)
		n = r->r_rxlen;
	if ((k = io_read(r, r->r_rx, n, want, err, errlen)) <= 0)
		return k;
	if (ping_payload_diff(&r->r_pl, p, off, r->r_rx, (size_t)k) < (size_t)k)
		r->r_late_bad = 1;
	r->r_rxoff += (size_t)k;
	/* A late echo that differs is not worth a line (nor the connection). */
	if (off + (size_t)k == size && !r->r_late_bad) {
		r->r_st.st_late++;
		if (r->r_lines != NULL)
			ping_report_late(r->r_lines, r->r_addr, p, size);
	}
	return k;
}

/*
 * Nothing outstanding on the connection: is it still open and quiet?  A
 * server closes a connection left idle (secho's idle_timeout), a
 * firewall resets it: then 0, so that the next probe gets a new
 * connection instead of being lost to the old one.  Bytes that nobody
 * asked for also give 0: they would shift every echo after them.
 */
static int
still_open(struct ping_run *r)
{
	ssize_t k;

	if (r->r_ssl != NULL)
		return ptls_peek(r->r_ssl) == PTLS_AGAIN;
	k = recv(r->r_fd, r->r_rx, 1, MSG_PEEK | MSG_DONTWAIT);
	return k == -1 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/*
 * The echo of a probe lost to -W may have come since: read what is there
 * without waiting, checked against that probe ("seq=N late").
 */
static void
read_late_now(struct ping_run *r)
{
	size_t size = r->r_pl.pl_size, off, n;
	short want;
	char err[256];

	while (r->r_tx > r->r_rxoff) {
		off = (size_t)(r->r_rxoff % size);
		n = size - off;
		if (n > r->r_tx - r->r_rxoff)
			n = (size_t)(r->r_tx - r->r_rxoff);
		if (read_late(r, r->r_conn_first + r->r_rxoff / size, off, n,
		    &want, err, sizeof(err)) <= 0)
			break;
	}
}

int
ping_probe_reusable(struct ping_run *r)
{
	if (r->r_fd == -1)
		return 0;
	if (r->r_ai->ai_socktype == SOCK_DGRAM)
		return 1;
	/*
	 * A probe lost to -W leaves its echo outstanding: the connection
	 * goes on only when all of it came back since, intact.  Otherwise
	 * the path may be dead (nothing comes, and TCP would retransmit for
	 * many minutes), or the server dropped bytes: every later echo
	 * would be taken for the rest of this one.
	 */
	read_late_now(r);
	if (r->r_tx == r->r_rxoff && !r->r_late_bad && still_open(r))
		return 1;
	ping_probe_disconnect(r);
	return 0;
}

static void
probe_stream(struct ping_run *r, unsigned long long seq, long long t0,
    long long deadline, struct ping_probe_line *line,
    struct ping_probe_end *end)
{
	struct payload *pl = &r->r_pl;
	size_t size = pl->pl_size, sent = 0, got = 0, bad = NO_BAD, want_n, room;
	size_t k, d;
	short wwant = POLLOUT, rwant = POLLIN, ev = 0, rev;
	int wready = 1, rready, n, w, progress, proto = 0;
	char err[256], ws[32];

	if (r->r_tx == 0)
		r->r_conn_first = seq;
	rready = r->r_ssl != NULL && SSL_has_pending(r->r_ssl);
	for (;;) {
		progress = 0;
		if (sent < size && wready) {
			n = io_write(r, pl->pl_buf + sent, size - sent, &ev, err,
			    sizeof(err));
			if (n > 0) {
				sent += (size_t)n;
				r->r_tx += (size_t)n;
				progress = 1;
				if (r->r_ssl == NULL && sent < size)
					wready = 0;	/* buffer full */
			} else if (n == PTLS_AGAIN) {
				wready = 0;
				wwant = ev;
			} else {
				if (n == PTLS_EOF)
					snprintf(err, sizeof(err), "connection "
					    "closed by the server");
				goto failed;
			}
		}
		/* Nothing else is outstanding (ping_probe_reusable()). */
		if (rready && sent > got) {
			want_n = sent - got;
			/*
			 * All sent: room for more, since bytes beyond the echo
			 * make it corrupted (they would shift every later one).
			 */
			room = sent == size ? r->r_rxlen - size : 0;
			if ((n = io_read(r, r->r_rx + got, want_n + room, &ev,
			    err, sizeof(err))) > 0) {
				k = (size_t)n < want_n ? (size_t)n : want_n;
				if (bad == NO_BAD && (d = ping_payload_diff(pl, seq,
				    got, r->r_rx + got, k)) < k)
					bad = got + d;
				got += (size_t)n;
				r->r_rxoff += (size_t)n;
				if (got >= size)
					break;		/* complete */
			}
			if (n > 0) {
				progress = 1;
				/* A short plain read drained the socket. */
				if (r->r_ssl == NULL && (size_t)n < want_n + room)
					rready = 0;
			} else if (n == PTLS_AGAIN) {
				rready = 0;
				rwant = ev;
			} else if (n == PTLS_EOF) {
				snprintf(err, sizeof(err), "connection closed by "
				    "the server");
				goto failed;
			} else {
				proto = n == PTLS_PROTO;
				goto failed;
			}
		} else if (rready)
			rready = 0;
		if (progress)
			continue;
		ev = (sent < size ? wwant : 0) | rwant;
		w = ping_conn_wait(r->r_fd, ev, deadline, &rev);
		if (w == -1) {
			end->pe_interrupted = 1;
			return;
		}
		if (w == 0) {
			if (sent < size) {
				snprintf(end->pe_reason, sizeof(end->pe_reason),
				    "only %zu of %zu bytes could be sent within "
				    "%s s", sent, size, wait_text(r, ws,
				    sizeof(ws)));
				ping_probe_disconnect(r);
			} else if (got == 0)
				snprintf(end->pe_reason, sizeof(end->pe_reason),
				    "no echo within %s s", wait_text(r, ws,
				    sizeof(ws)));
			else
				snprintf(end->pe_reason, sizeof(end->pe_reason),
				    "%zu of %zu bytes within %s s", got, size,
				    wait_text(r, ws, sizeof(ws)));
			r->r_late_bad = bad != NO_BAD;
			goto lost;
		}
		if (w < 0) {
			snprintf(err, sizeof(err), "%s", strerror(errno));
			goto failed;
		}
		if (rev & (POLLERR | POLLHUP | POLLNVAL))
			rready = wready = 1;	/* let the I/O say what */
		if (rev & POLLIN) {
			rready |= rwant == POLLIN;
			wready |= wwant == POLLIN;
		}
		if (rev & POLLOUT) {
			rready |= rwant == POLLOUT;
			wready |= wwant == POLLOUT;
		}
	}
	line->pl_rtt_us = (double)(ping_conn_now_ns() - t0) / 1000.0;
	/* TLS: more may wait in a record already read. */
	if (got == size && r->r_ssl != NULL && SSL_has_pending(r->r_ssl) &&
	    (n = io_read(r, r->r_rx + got, r->r_rxlen - got, &ev, err,
	    sizeof(err))) > 0)
		got += (size_t)n;
	line->pl_got = got;
	if (bad == NO_BAD && got > size)
		bad = size;
	if (bad == NO_BAD) {
		line->pl_outcome = PROBE_ECHOED;
		return;
	}
	line->pl_outcome = PROBE_CORRUPTED;
	line->pl_bad_off = bad;
	line->pl_sent_byte = bad < size ? pl->pl_buf[bad] : -1;
	line->pl_got_byte = r->r_rx[bad];
	/* A byte lost, or one too many, would shift every later echo. */
	ping_probe_disconnect(r);
	return;
failed:
	snprintf(end->pe_reason, sizeof(end->pe_reason), "%s after %zu of %zu "
	    "bytes", err, got, size);
	/*
	 * The run's first probe ends before any echo (reset, closed, or a
	 * TLS alert at the first read: TLS 1.3 refusing our certificate):
	 * the server will not serve us, it could not run at all.
	 */
	if (r->r_st.st_sent == 0 && (proto || got == 0)) {
		end->pe_fatal = 1;
		snprintf(end->pe_reason, sizeof(end->pe_reason), "%s", err);
	}
	ping_probe_disconnect(r);
lost:
	line->pl_outcome = PROBE_LOST;
	line->pl_got = got;
}

static int
came_back(const struct ping_run *r, unsigned long long seq)
{
	return r->r_back[seq % PING_PROBE_BACK / 8] >> (seq % 8) & 1;
}

static void
set_back(struct ping_run *r, unsigned long long seq, int back)
{
	unsigned char bit = (unsigned char)(1u << (seq % 8));

	if (back)
		r->r_back[seq % PING_PROBE_BACK / 8] |= bit;
	else
		r->r_back[seq % PING_PROBE_BACK / 8] &= (unsigned char)~bit;
}

/*
 * A datagram of an earlier probe than cur (late; 0: which one cannot be
 * told): the late echo of a lost probe, or a duplicate.
 */
static void
stale(struct ping_run *r, unsigned long long cur, unsigned long long late,
    size_t len)
{
	if (late != 0 && cur - late < PING_PROBE_BACK && came_back(r, late)) {
		if (r->r_lines != NULL)
			ping_report_dup(r->r_lines, r->r_addr, late, len);
		return;
	}
	if (late != 0) {
		set_back(r, late, 1);
		r->r_st.st_late++;
	}
	if (r->r_lines != NULL)
		ping_report_late(r->r_lines, r->r_addr, late, len);
}

/*
 * A datagram probe's I/O: recv()/send() on UDP, one record per probe
 * with DTLS.  -1 with errno EAGAIN when nothing waits (non-blocking).
 */
static ssize_t
dg_recv(struct ping_run *r)
{
	size_t n;
	int rc;

	if (r->r_ssl == NULL)
		return recv(r->r_fd, r->r_rx, r->r_rxlen, MSG_TRUNC |
		    MSG_DONTWAIT);
	ERR_clear_error();
	if ((rc = SSL_read_ex(r->r_ssl, r->r_rx, r->r_rxlen, &n)) == 1)
		return (ssize_t)n;
	rc = SSL_get_error(r->r_ssl, rc);
	errno = rc == SSL_ERROR_WANT_READ || rc == SSL_ERROR_WANT_WRITE ?
	    EAGAIN : rc == SSL_ERROR_ZERO_RETURN ? ECONNRESET : EPROTO;
	ERR_clear_error();
	return -1;
}

static ssize_t
dg_send(struct ping_run *r, const void *b, size_t len)
{
	size_t n;
	int rc;

	if (r->r_ssl == NULL)
		return send(r->r_fd, b, len, 0);
	ERR_clear_error();
	if ((rc = SSL_write_ex(r->r_ssl, b, len, &n)) == 1)
		return (ssize_t)n;
	rc = SSL_get_error(r->r_ssl, rc);
	errno = rc == SSL_ERROR_WANT_WRITE || rc == SSL_ERROR_WANT_READ ?
	    EAGAIN : EPROTO;
	ERR_clear_error();
	return -1;
}

/*
 * Before probe seq is sent, whatever is queued came after the last probe
 * ended (late echoes, duplicates): read it all without waiting and
 * report it, so that none is taken for seq's echo; with -m, or -s below
 * 8, nothing else could tell.  Stops at deadline; 0, or -1 when
 * interrupted.
 */
static int
drain(struct ping_run *r, unsigned long long seq, long long deadline)
{
	unsigned long long late;
	size_t bad;
	ssize_t k;

	for (;;) {
		k = dg_recv(r);
		if (k == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		/* k == -1: an ICMP error of an earlier probe, told then. */
		if (k >= 0) {
			switch (ping_payload_classify(&r->r_pl, seq, r->r_first_seq,
			    r->r_rx, (size_t)k, &late, &bad)) {
			case PAYLOAD_LATE:
				stale(r, seq, late, (size_t)k);
				break;
			case PAYLOAD_ECHO:	/* the same bytes as every probe */
				stale(r, seq, 0, (size_t)k);
				break;
			case PAYLOAD_CORRUPT:	/* no one's: not worth a line */
				break;
			}
		}
		if (ping_conn_interrupted())
			return -1;
		if (ping_conn_now_ns() >= deadline)
			return 0;
	}
}

static void
probe_dgram(struct ping_run *r, unsigned long long seq, long long t0,
    long long deadline, struct ping_probe_line *line,
    struct ping_probe_end *end)
{
	struct payload *pl = &r->r_pl;
	unsigned long long late;
	size_t bad;
	ssize_t k;
	short rev;
	int w;
	char ws[32];

	if (drain(r, seq, deadline) == -1) {
		end->pe_interrupted = 1;
		return;
	}
	set_back(r, seq, 0);
	while (dg_send(r, pl->pl_buf, pl->pl_size) == -1) {
		if (errno == EAGAIN || errno == EINTR) {
			if ((w = ping_conn_wait(r->r_fd, POLLOUT, deadline, &rev)) > 0)
				continue;
			if (w == -1) {
				end->pe_interrupted = 1;
				return;
			}
			snprintf(end->pe_reason, sizeof(end->pe_reason),
			    "could not send within %s s", wait_text(r, ws,
			    sizeof(ws)));
		} else
			snprintf(end->pe_reason, sizeof(end->pe_reason), "%s",
			    errno == ECONNREFUSED ? "port unreachable" :
			    ping_conn_errno_text(errno));
		goto lost;
	}
	for (;;) {
		w = ping_conn_wait(r->r_fd, POLLIN, deadline, &rev);
		if (w == -1) {
			end->pe_interrupted = 1;
			return;
		}
		if (w == 0) {
			snprintf(end->pe_reason, sizeof(end->pe_reason),
			    "no echo within %s s", wait_text(r, ws, sizeof(ws)));
			goto lost;
		}
		while ((k = dg_recv(r)) >= 0) {
			switch (ping_payload_classify(pl, seq, r->r_first_seq, r->r_rx,
			    (size_t)k, &late, &bad)) {
			case PAYLOAD_LATE:
				stale(r, seq, late, (size_t)k);
				/*
				 * A flood of them must not hold the probe
				 * past -W, nor keep SIGINT out.
				 */
				if (ping_conn_interrupted()) {
					end->pe_interrupted = 1;
					return;
				}
				if (ping_conn_now_ns() >= deadline) {
					snprintf(end->pe_reason,
					    sizeof(end->pe_reason), "no echo "
					    "within %s s", wait_text(r, ws,
					    sizeof(ws)));
					goto lost;
				}
				continue;
			case PAYLOAD_ECHO:
				line->pl_outcome = PROBE_ECHOED;
				break;
			case PAYLOAD_CORRUPT:
				line->pl_outcome = PROBE_CORRUPTED;
				line->pl_bad_off = bad;
				line->pl_sent_byte = bad < pl->pl_size ?
				    pl->pl_buf[bad] : -1;
				line->pl_got_byte = bad < (size_t)k ?
				    r->r_rx[bad] : -1;
				break;
			}
			set_back(r, seq, 1);
			line->pl_rtt_us = (double)(ping_conn_now_ns() - t0) / 1000.0;
			line->pl_got = (size_t)k;
			return;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			continue;
		snprintf(end->pe_reason, sizeof(end->pe_reason), "%s",
		    errno == ECONNREFUSED ? "port unreachable" :
		    ping_conn_errno_text(errno));
		goto lost;
	}
lost:
	line->pl_outcome = PROBE_LOST;
}

void
ping_probe_one(struct ping_run *r, unsigned long long seq, long long deadline,
    struct ping_probe_line *line, struct ping_probe_end *end)
{
	SSL_SESSION *s;
	long long t0;

	end->pe_interrupted = end->pe_fatal = 0;
	end->pe_reason[0] = '\0';
	line->pl_seq = seq;
	line->pl_size = r->r_pl.pl_size;
	line->pl_got = 0;
	line->pl_sent_byte = line->pl_got_byte = -1;
	line->pl_reason = end->pe_reason;
	ping_payload_set_seq(&r->r_pl, seq);
	t0 = ping_conn_now_ns();
	if (r->r_ai->ai_socktype == SOCK_DGRAM)
		probe_dgram(r, seq, t0, deadline, line, end);
	else
		probe_stream(r, seq, t0, deadline, line, end);
	/*
	 * --resume: the newest ticket of the session (TLS 1.3 sends it
	 * after the handshake, so it is here once an echo was read).
	 */
	if (r->r_ssl != NULL && r->r_opts->po_resume &&
	    line->pl_outcome == PROBE_ECHOED && !end->pe_interrupted &&
	    (s = SSL_get1_session(r->r_ssl)) != NULL) {
		if (SSL_SESSION_is_resumable(s)) {
			if (r->r_session != NULL)
				SSL_SESSION_free(r->r_session);
			r->r_session = s;
		} else
			SSL_SESSION_free(s);
	}
}

/*
 * secho-bench - load generator for echo servers (TCP, TLS, UDP).
 *
 *   secho-bench -m MODE -p PORT [-H HOST] [-c CONC] [-s SIZE] [-d SECONDS]
 *               [-w WARMUP] [-t THREADS] [-C CAFILE | -k] [-N NAME]
 *               [-S TLS13_SUITES] [-A SIGALGS] [-T UDP_TIMEOUT_MS] [-q]
 *
 * -t spreads the connections over THREADS epoll threads; -C verifies the
 * server's chain against CAFILE (-k: no verification); -N sets SNI and
 * checks the name; -S sets the client's TLS 1.3 suite preference (default
 * AES-128-GCM first); -A restricts the signature algorithms the client
 * offers (which certificate of a dual-certificate server it gets:
 * "rsa_pss_rsae_sha256", "ECDSA+SHA256"); -q silences per-error messages.
 *
 * Modes
 *   conn          connect, echo SIZE (64) bytes, close; again
 *   pingpong      CONC persistent connections, SIZE-byte messages, one in
 *                 flight on each
 *   bulk          stream without pause, SIZE (1 MiB) bytes in flight on each
 *                 connection, read everything back
 *   tls-conn      like conn with a full TLS handshake each time
 *   tls-resume    like tls-conn, resuming the session of the previous
 *                 connection (TLS 1.3 ticket or TLS 1.2 ticket/ID)
 *   tls-pingpong  pingpong over TLS (one handshake per connection)
 *   tls-bulk      bulk over TLS
 *   udp           CONC sockets, one SIZE-byte datagram in flight on each; a
 *                 datagram not echoed within -T ms is lost
 *   dtls-conn     DTLS 1.2 over UDP: a full handshake (cookie exchange
 *                 included), echo SIZE bytes as one record, close_notify;
 *                 again (CONC blocking threads; -t is ignored)
 *   dtls-pingpong CONC DTLS associations, one SIZE-byte record in flight
 *                 on each (a record not echoed within -T ms is lost; the
 *                 association goes on)
 *   idle, tls-idle  open CONC connections, echo SIZE bytes once on each,
 *                 print "ready established=N" and hold them for the duration
 *                 (for memory measurements)
 *
 * Every echoed byte is compared with what was sent: each connection sends
 * its own pseudo-random stream, so a byte from another connection, a lost,
 * duplicated or reordered byte is a mismatch.  Mismatches are reported on
 * standard error and make the exit status 2.
 *
 * Output: one line on standard output,
 *   mode=pingpong c=50 size=64 threads=1 duration_s=5.00 ops=... all_ops=...
 *   rate=... unit=/s p50_ms=... p99_ms=... errors=... lost=... mismatches=...
 *   resumed=... [tls=VERSION/CIPHER]
 * ops and rate count the measured window (after the warm-up); all_ops counts
 * everything since the start (for CPU-per-operation figures).  In the bulk
 * modes ops are echoed bytes, rate is in MB/s (10^6 bytes), and the latency
 * is the round trip of each 64 KiB mark of the stream.
 *
 * Exit status: 0 ok, 1 usage or set-up error, 2 mismatch, 3 nothing
 * completed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

/* ---- modes ---- */

enum kind { K_CONN, K_PINGPONG, K_BULK, K_UDP, K_IDLE, K_DTLS_CONN,
    K_DTLS_PINGPONG };

struct mode {
	const char	*name;
	enum kind	 kind;
	int		 tls;
	int		 resume;
	size_t		 defsize;
	const char	*unit;
};

static const struct mode modes[] = {
	{ "conn",         K_CONN,     0, 0, 64,          "/s" },
	{ "pingpong",     K_PINGPONG, 0, 0, 64,          "/s" },
	{ "bulk",         K_BULK,     0, 0, 1024 * 1024, "MB/s" },
	{ "tls-conn",     K_CONN,     1, 0, 64,          "/s" },
	{ "tls-resume",   K_CONN,     1, 1, 64,          "/s" },
	{ "tls-pingpong", K_PINGPONG, 1, 0, 64,          "/s" },
	{ "tls-bulk",     K_BULK,     1, 0, 1024 * 1024, "MB/s" },
	{ "udp",          K_UDP,      0, 0, 64,          "/s" },
	{ "idle",         K_IDLE,     0, 0, 64,          "/s" },
	{ "tls-idle",     K_IDLE,     1, 0, 64,          "/s" },
	{ "dtls-conn",    K_DTLS_CONN, 1, 0, 64,         "/s" },
	{ "dtls-pingpong", K_DTLS_PINGPONG, 1, 0, 64,    "/s" },
};

#define IS_DTLS(m)	((m)->kind == K_DTLS_CONN || (m)->kind == K_DTLS_PINGPONG)

/* ---- options and shared state ---- */

static const struct mode *mode;
static const char *opt_host = "127.0.0.1";
static const char *opt_port;
static int opt_conc = 1;
static size_t opt_size;
static double opt_duration = 5.0;
static double opt_warmup = 0.5;
static int opt_threads = 1;
static const char *opt_cafile;
static int opt_noverify;
static const char *opt_name;
static int opt_udp_timeout_ms = 200;
static int opt_quiet;
/* A common client preference (AES-128 first); servers that honour the
 * client's order then use the same suite as secho's default. */
/* -A: the signature algorithms the client offers (NULL: OpenSSL's). */
static const char *opt_sigalgs;
static const char *opt_suites =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

static struct sockaddr_storage srv_addr;
static socklen_t srv_addrlen;
static SSL_CTX *ssl_ctx;

static uint64_t t_begin, t_warm, t_end;	/* ns, CLOCK_MONOTONIC */
static volatile int established;	/* idle modes */
static pthread_mutex_t err_lock = PTHREAD_MUTEX_INITIALIZER;
static int err_lines;
static char tls_info[128];	/* version/cipher of the first handshake */

/* ---- pattern: byte i of a stream with base b is tab[(b + i) % PAT_P] ---- */

#define PAT_P		65521u		/* prime: no alignment with buffers */
#define MAXCHUNK	(256 * 1024)	/* largest single read or write */
#define MARK		(64 * 1024)	/* bulk latency marks */
#define UDP_MAX		65507
#define UDP_HDR		8

static unsigned char pat[PAT_P + MAXCHUNK];

static void
pat_init(void)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;
	size_t i;

	for (i = 0; i < PAT_P; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		pat[i] = (unsigned char)(x >> 24);
	}
	for (i = PAT_P; i < sizeof(pat); i++)
		pat[i] = pat[i - PAT_P];
}

static inline const unsigned char *
pat_at(uint64_t base, uint64_t off)
{
	return pat + (base + off) % PAT_P;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void
report_err(const char *fmt, ...)
{
	va_list ap;

	if (opt_quiet)
		return;
	pthread_mutex_lock(&err_lock);
	if (err_lines++ < 20) {
		va_start(ap, fmt);
		fprintf(stderr, "secho-bench: ");
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		va_end(ap);
	} else if (err_lines == 21)
		fprintf(stderr, "secho-bench: (further messages suppressed)\n");
	pthread_mutex_unlock(&err_lock);
}

/* ---- latency histogram: 64 sub-buckets per power of two of ns ---- */

#define HSUB	64
#define HBUCKETS ((64 - 6 + 1) * HSUB)

struct hist {
	uint64_t	b[HBUCKETS];
	uint64_t	n;
};

static void
hist_add(struct hist *h, uint64_t v)
{
	size_t idx;

	if (v < HSUB)
		idx = (size_t)v;
	else {
		int e = 63 - __builtin_clzll(v);	/* >= 6 */
		idx = (size_t)(e - 5) * HSUB + (size_t)((v >> (e - 6)) & (HSUB - 1));
	}
	h->b[idx]++;
	h->n++;
}

static double
hist_value(size_t idx)
{
	size_t e, sub;

	if (idx < HSUB)
		return (double)idx;
	e = idx / HSUB + 5;
	sub = idx % HSUB;
	/* middle of the bucket */
	return ((double)(HSUB + sub) + 0.5) * (double)(1ull << (e - 6));
}

static double
hist_pct_ms(const struct hist *h, double pct)
{
	uint64_t want, acc = 0;
	size_t i;

	if (h->n == 0)
		return 0;
	want = (uint64_t)(pct / 100.0 * (double)h->n);
	if (want >= h->n)
		want = h->n - 1;
	for (i = 0; i < HBUCKETS; i++) {
		acc += h->b[i];
		if (acc > want)
			return hist_value(i) / 1e6;
	}
	return 0;
}

/* ---- connections ---- */

enum cstate { S_FREE, S_WAIT, S_CONNECTING, S_HANDSHAKE, S_RUN, S_HOLD };

struct worker;

struct conn {
	struct worker	*w;
	int		 fd;
	SSL		*ssl;
	SSL_SESSION	*sess;		/* tls-resume: last session */
	enum cstate	 state;
	int		 id;		/* global slot number */
	uint64_t	 base;		/* pattern offset of this stream */
	uint64_t	 tx, rx;	/* bytes sent, bytes echoed */
	uint64_t	 goal;		/* send up to this offset */
	uint64_t	 t_op;		/* start of the current operation */
	uint64_t	 deadline;	/* S_WAIT: retry; udp: loss */
	/* bulk latency marks: offsets and send times, a ring */
	uint64_t	*m_off, *m_t;
	size_t		 m_cap, m_head, m_len;
	uint64_t	 m_next;
	/* udp */
	uint32_t	 seq;
	int		 counted;	/* idle: already counted */
};

struct worker {
	pthread_t	 th;
	int		 idx;
	int		 ep;
	struct conn	*conns;
	int		 nconns;
	uint64_t	 nextbase;
	unsigned char	*rbuf;
	unsigned char	*sbuf;		/* udp datagram */
	/* results */
	uint64_t	 ops, all_ops, errors, lost, mismatches, resumed, late;
	struct hist	 hist;
};

static void conn_start(struct conn *c, uint64_t now);
static void conn_drive(struct conn *c, uint32_t ev, uint64_t now);

static int
in_window(uint64_t t)
{
	return t >= t_warm && t < t_end;
}

static void
conn_close(struct conn *c)
{
	if (c->ssl) {
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	if (c->fd != -1) {
		close(c->fd);
		c->fd = -1;
	}
	c->state = S_FREE;
}

/* A failed operation: count it and try again a little later. */
static void
conn_fail(struct conn *c, uint64_t now, const char *what)
{
	struct worker *w = c->w;

	if (now < t_end) {
		w->errors++;
		report_err("conn %d: %s", c->id, what);
	}
	conn_close(c);
	c->state = S_WAIT;
	c->deadline = now + 10 * 1000000ull;	/* 10 ms */
}

static void
mismatch(struct conn *c, uint64_t off, const unsigned char *got,
    const unsigned char *want, size_t n)
{
	size_t i;

	for (i = 0; i < n && got[i] == want[i]; i++)
		;
	c->w->mismatches++;
	report_err("MISMATCH conn %d at stream offset %llu: got 0x%02x, "
	    "expected 0x%02x", c->id, (unsigned long long)(off + i),
	    i < n ? got[i] : 0, i < n ? want[i] : 0);
}

static void
ssl_errors(struct conn *c, const char *what, uint64_t now)
{
	char buf[256];
	unsigned long e = ERR_get_error();

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "%s", errno ? strerror(errno) :
		    "unexpected EOF");
	ERR_clear_error();
	{
		char msg[320];
		snprintf(msg, sizeof(msg), "%s: %s", what, buf);
		conn_fail(c, now, msg);
	}
}

/* I/O: > 0 bytes, 0 EOF, -1 would block, -2 error (errno or SSL queue) */
#define IO_BLOCK (-1)
#define IO_ERR	 (-2)

/* What SSL_read/SSL_write returned, as above (reading: a close_notify is EOF). */
static ssize_t
ssl_result(struct conn *c, int r, int reading)
{
	if (r > 0)
		return r;
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return IO_BLOCK;
	case SSL_ERROR_ZERO_RETURN:
		return reading ? 0 : IO_ERR;
	default:
		return IO_ERR;
	}
}

/* What recv/send returned (n, errno), as above. */
static ssize_t
sock_result(ssize_t n)
{
	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return IO_BLOCK;
	return IO_ERR;
}

static ssize_t
io_read(struct conn *c, void *buf, size_t len)
{
	ssize_t n;

	if (c->ssl)
		return ssl_result(c, SSL_read(c->ssl, buf, (int)len), 1);
	do
		n = recv(c->fd, buf, len, 0);
	while (n == -1 && errno == EINTR);
	return sock_result(n);
}

static ssize_t
io_write(struct conn *c, const void *buf, size_t len)
{
	ssize_t n;

	if (c->ssl)
		return ssl_result(c, SSL_write(c->ssl, buf, (int)len), 0);
	do
		n = send(c->fd, buf, len, MSG_NOSIGNAL);
	while (n == -1 && errno == EINTR);
	return sock_result(n);
}

static void
op_done(struct conn *c, uint64_t now, uint64_t lat)
{
	struct worker *w = c->w;

	w->all_ops++;
	if (in_window(now)) {
		w->ops++;
		hist_add(&w->hist, lat);
	}
}

/* The stream is ready for data (after connect or handshake). */
static void
conn_ready(struct conn *c, uint64_t now)
{
	c->state = S_RUN;
	c->tx = c->rx = 0;
	if (mode->kind == K_BULK) {
		c->goal = opt_size;
		c->m_head = c->m_len = 0;
		c->m_next = 0;
	} else {
		c->goal = opt_size;
		if (mode->kind != K_CONN)
			c->t_op = now;	/* conn: from the connect */
	}
}

static void
conn_start(struct conn *c, uint64_t now)
{
	struct worker *w = c->w;
	struct epoll_event ev;
	int on = 1, r;

	c->fd = socket(srv_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (c->fd == -1) {
		conn_fail(c, now, strerror(errno));
		return;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	c->base = w->nextbase;
	w->nextbase = (w->nextbase + 7919) % PAT_P;
	c->t_op = now;
	c->tx = c->rx = 0;
	r = connect(c->fd, (struct sockaddr *)&srv_addr, srv_addrlen);
	if (r == -1 && errno != EINPROGRESS) {
		char msg[128];
		snprintf(msg, sizeof(msg), "connect: %s", strerror(errno));
		conn_fail(c, now, msg);
		return;
	}
	c->state = S_CONNECTING;
	ev.events = EPOLLIN | EPOLLOUT | EPOLLET | EPOLLRDHUP;
	ev.data.ptr = c;
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, c->fd, &ev) == -1) {
		conn_fail(c, now, "epoll_ctl");
		return;
	}
	if (r == 0)
		conn_drive(c, EPOLLOUT, now);
}

static int
conn_begin_tls(struct conn *c, uint64_t now)
{
	c->ssl = SSL_new(ssl_ctx);
	if (c->ssl == NULL || SSL_set_fd(c->ssl, c->fd) != 1) {
		ssl_errors(c, "SSL_new", now);
		return -1;
	}
	SSL_set_connect_state(c->ssl);
	if (opt_name) {
		SSL_set_tlsext_host_name(c->ssl, opt_name);
		if (!opt_noverify)
			SSL_set1_host(c->ssl, opt_name);
	}
	if (mode->resume && c->sess)
		SSL_set_session(c->ssl, c->sess);
	c->state = S_HANDSHAKE;
	return 0;
}

/* One echo done on a conn-mode connection: note it, close, start again. */
static void
conn_op_complete(struct conn *c, uint64_t now)
{
	op_done(c, now, now - c->t_op);
	if (c->ssl) {
		if (in_window(now) && SSL_session_reused(c->ssl))
			c->w->resumed++;
		if (mode->resume) {
			SSL_SESSION *s = SSL_get1_session(c->ssl);
			if (s) {
				if (c->sess)
					SSL_SESSION_free(c->sess);
				c->sess = s;
			}
		}
		SSL_shutdown(c->ssl);	/* send close_notify, do not wait */
	}
	conn_close(c);
	if (now < t_end)
		conn_start(c, now);
}

static void
mark_sent(struct conn *c, uint64_t now)
{
	while (c->m_next + MARK <= c->tx) {
		if (c->m_len < c->m_cap) {
			size_t i = (c->m_head + c->m_len) % c->m_cap;
			c->m_off[i] = c->m_next + MARK;
			c->m_t[i] = now;
			c->m_len++;
		}
		c->m_next += MARK;
	}
}

static void
mark_echoed(struct conn *c, uint64_t now)
{
	while (c->m_len && c->m_off[c->m_head] <= c->rx) {
		uint64_t t = c->m_t[c->m_head];
		if (in_window(now))
			hist_add(&c->w->hist, now - t);
		c->m_head = (c->m_head + 1) % c->m_cap;
		c->m_len--;
	}
}

/* Make all the progress possible on a stream connection. */
static void
conn_run(struct conn *c, uint64_t now)
{
	struct worker *w = c->w;
	ssize_t n;
	int progress;

	do {
		progress = 0;
		/* send */
		while (c->tx < c->goal) {
			size_t len = c->goal - c->tx;
			if (len > MAXCHUNK)
				len = MAXCHUNK;
			n = io_write(c, pat_at(c->base, c->tx), len);
			if (n == IO_BLOCK)
				break;
			if (n <= 0) {
				if (c->ssl)
					ssl_errors(c, "write", now);
				else {
					char msg[128];
					snprintf(msg, sizeof(msg), "send: %s",
					    strerror(errno));
					conn_fail(c, now, msg);
				}
				return;
			}
			c->tx += (uint64_t)n;
			progress = 1;
			if (mode->kind == K_BULK)
				mark_sent(c, now = now_ns());
		}
		/* receive */
		for (;;) {
			n = io_read(c, w->rbuf, MAXCHUNK);
			if (n == IO_BLOCK)
				break;
			if (n == 0) {
				conn_fail(c, now, "server closed the connection");
				return;
			}
			if (n < 0) {
				if (c->ssl)
					ssl_errors(c, "read", now);
				else {
					char msg[128];
					snprintf(msg, sizeof(msg), "recv: %s",
					    strerror(errno));
					conn_fail(c, now, msg);
				}
				return;
			}
			progress = 1;
			now = now_ns();
			if (c->rx + (uint64_t)n > c->tx) {
				w->mismatches++;
				report_err("MISMATCH conn %d: %llu bytes echoed "
				    "beyond the %llu sent", c->id,
				    (unsigned long long)(c->rx + (uint64_t)n),
				    (unsigned long long)c->tx);
				conn_close(c);
				c->state = S_WAIT;
				c->deadline = now;
				return;
			}
			if (memcmp(w->rbuf, pat_at(c->base, c->rx), (size_t)n)) {
				mismatch(c, c->rx, w->rbuf,
				    pat_at(c->base, c->rx), (size_t)n);
				conn_close(c);
				c->state = S_WAIT;
				c->deadline = now;
				return;
			}
			c->rx += (uint64_t)n;
			switch (mode->kind) {
			case K_BULK:
				if (in_window(now))
					w->ops += (uint64_t)n;
				w->all_ops += (uint64_t)n;
				mark_echoed(c, now);
				if (now < t_end)
					c->goal = c->rx + opt_size;
				break;
			case K_CONN:
				if (c->rx == c->goal) {
					conn_op_complete(c, now);
					return;
				}
				break;
			case K_PINGPONG:
				if (c->rx == c->goal) {
					op_done(c, now, now - c->t_op);
					if (now >= t_end)
						return;
					c->goal += opt_size;
					c->t_op = now;
				}
				break;
			case K_IDLE:
				if (c->rx == c->goal && !c->counted) {
					c->counted = 1;
					c->w->all_ops++;
					c->w->ops++;
					__atomic_add_fetch(&established, 1,
					    __ATOMIC_SEQ_CST);
					c->state = S_HOLD;
					return;
				}
				break;
			default:
				break;
			}
		}
	} while (progress && c->state == S_RUN);
}

static void
conn_drive(struct conn *c, uint32_t ev, uint64_t now)
{
	int err, r;
	socklen_t len;

	switch (c->state) {
	case S_CONNECTING:
		if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		err = 0;
		len = sizeof(err);
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err) {
			char msg[128];
			snprintf(msg, sizeof(msg), "connect: %s", strerror(err));
			conn_fail(c, now, msg);
			return;
		}
		if (mode->tls) {
			if (conn_begin_tls(c, now) == -1)
				return;
		} else {
			conn_ready(c, now);
			conn_run(c, now);
			return;
		}
		/* FALLTHROUGH */
	case S_HANDSHAKE:
		r = SSL_do_handshake(c->ssl);
		if (r != 1) {
			int e = SSL_get_error(c->ssl, r);
			if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
				return;
			ssl_errors(c, "handshake", now);
			return;
		}
		if (tls_info[0] == '\0') {
			pthread_mutex_lock(&err_lock);
			if (tls_info[0] == '\0')
				snprintf(tls_info, sizeof(tls_info), "%s/%s",
				    SSL_get_version(c->ssl),
				    SSL_get_cipher_name(c->ssl));
			pthread_mutex_unlock(&err_lock);
		}
		conn_ready(c, now);
		/* FALLTHROUGH */
	case S_RUN:
		conn_run(c, now);
		return;
	case S_HOLD:
		if (ev & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
			c->counted = 0;
			__atomic_sub_fetch(&established, 1, __ATOMIC_SEQ_CST);
			conn_fail(c, now, "idle connection closed by the server");
		}
		return;
	default:
		return;
	}
}

/* ---- udp ---- */

static void
udp_send(struct conn *c, uint64_t now)
{
	struct worker *w = c->w;
	uint32_t hdr[2];
	ssize_t n;

	c->seq++;
	hdr[0] = htonl((uint32_t)c->id);
	hdr[1] = htonl(c->seq);
	memcpy(w->sbuf, hdr, UDP_HDR);
	memcpy(w->sbuf + UDP_HDR, pat_at((uint64_t)c->id * 131 + c->seq * 17, 0),
	    opt_size - UDP_HDR);
	c->t_op = now;
	c->deadline = now + (uint64_t)opt_udp_timeout_ms * 1000000ull;
	n = send(c->fd, w->sbuf, opt_size, 0);
	if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK &&
	    errno != ECONNREFUSED && now < t_end) {
		w->errors++;
		report_err("udp %d: send: %s", c->id, strerror(errno));
	}
}

static void
udp_start(struct conn *c, uint64_t now)
{
	struct epoll_event ev;

	c->fd = socket(srv_addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (c->fd == -1 || connect(c->fd, (struct sockaddr *)&srv_addr,
	    srv_addrlen) == -1) {
		fprintf(stderr, "secho-bench: udp socket: %s\n", strerror(errno));
		exit(1);
	}
	ev.events = EPOLLIN;
	ev.data.ptr = c;
	epoll_ctl(c->w->ep, EPOLL_CTL_ADD, c->fd, &ev);
	c->state = S_RUN;
	udp_send(c, now);
}

static void
udp_readable(struct conn *c, uint64_t now)
{
	struct worker *w = c->w;
	uint32_t hdr[2];
	ssize_t n;

	for (;;) {
		n = recv(c->fd, w->rbuf, UDP_MAX + 1, 0);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == ECONNREFUSED) {
				/* ICMP port unreachable: the datagram is gone */
				continue;
			}
			return;
		}
		now = now_ns();
		if (n < UDP_HDR) {
			w->mismatches++;
			report_err("MISMATCH udp %d: %zd-byte datagram", c->id, n);
			continue;
		}
		memcpy(hdr, w->rbuf, UDP_HDR);
		if (ntohl(hdr[0]) != (uint32_t)c->id ||
		    ntohl(hdr[1]) > c->seq) {
			w->mismatches++;
			report_err("MISMATCH udp %d: datagram of another flow "
			    "(%u/%u)", c->id, ntohl(hdr[0]), ntohl(hdr[1]));
			continue;
		}
		if (ntohl(hdr[1]) < c->seq) {
			w->late++;	/* already counted as lost */
			continue;
		}
		if ((size_t)n != opt_size || memcmp(w->rbuf + UDP_HDR,
		    pat_at((uint64_t)c->id * 131 + c->seq * 17, 0),
		    opt_size - UDP_HDR)) {
			w->mismatches++;
			report_err("MISMATCH udp %d: datagram %u came back "
			    "%s (%zd of %zu bytes)", c->id, c->seq,
			    (size_t)n != opt_size ? "truncated or padded" :
			    "altered", n, opt_size);
			if (now < t_end)
				udp_send(c, now);
			continue;
		}
		op_done(c, now, now - c->t_op);
		if (now < t_end)
			udp_send(c, now);
	}
}

/* ---- worker thread ---- */

static void
timers(struct worker *w, uint64_t now)
{
	int i;

	for (i = 0; i < w->nconns; i++) {
		struct conn *c = &w->conns[i];
		if (mode->kind == K_UDP) {
			if (c->deadline && now >= c->deadline && now < t_end) {
				if (in_window(c->t_op))
					w->lost++;
				udp_send(c, now);
			}
		} else if (c->state == S_WAIT && now >= c->deadline &&
		    now < t_end)
			conn_start(c, now);
	}
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event evs[256];
	uint64_t now = now_ns(), last_timers = 0;
	int i, n;

	for (i = 0; i < w->nconns; i++) {
		if (mode->kind == K_UDP)
			udp_start(&w->conns[i], now);
		else
			conn_start(&w->conns[i], now);
	}
	for (;;) {
		now = now_ns();
		if (now >= t_end)
			break;
		n = epoll_wait(w->ep, evs, 256, 2);
		now = now_ns();
		for (i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (mode->kind == K_UDP)
				udp_readable(c, now);
			else
				conn_drive(c, evs[i].events, now);
		}
		if (n <= 0 || now - last_timers > 1000000ull) {
			timers(w, now);
			last_timers = now;
		}
	}
	for (i = 0; i < w->nconns; i++) {
		struct conn *c = &w->conns[i];
		if (c->ssl && c->state == S_RUN)
			SSL_shutdown(c->ssl);
		conn_close(c);
		if (c->sess)
			SSL_SESSION_free(c->sess);
		free(c->m_off);
		free(c->m_t);
	}
	return NULL;
}

/* ---- set-up ---- */

static void
usage(int rc)
{
	size_t i;

	fprintf(rc ? stderr : stdout,
	    "usage: secho-bench -m MODE -p PORT [-H HOST] [-c CONC] [-s SIZE]\n"
	    "                   [-d SECONDS] [-w WARMUP] [-t THREADS]\n"
	    "                   [-C CAFILE | -k] [-N SERVERNAME] [-S TLS13_SUITES]\n"
	    "                   [-A SIGALGS]\n"
	    "                   [-T UDP_TIMEOUT_MS] [-q]\n"
	    "modes:");
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		fprintf(rc ? stderr : stdout, " %s", modes[i].name);
	fprintf(rc ? stderr : stdout, "\n");
	exit(rc);
}

static size_t
parse_size(const char *s)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (end == s)
		usage(1);
	switch (*end) {
	case 'k': case 'K':
		v *= 1024;
		end++;
		break;
	case 'm': case 'M':
		v *= 1024 * 1024;
		end++;
		break;
	default:
		break;
	}
	if (*end != '\0' || v == 0)
		usage(1);
	return (size_t)v;
}

/* ---- DTLS: blocking threads, one association each at a time ---- */

struct worker;
static void *dtls_main(void *arg);

static void
setup_tls(void)
{
	ssl_ctx = SSL_CTX_new(IS_DTLS(mode) ? DTLS_client_method() :
	    TLS_client_method());
	if (ssl_ctx == NULL) {
		ERR_print_errors_fp(stderr);
		exit(1);
	}
	SSL_CTX_set_min_proto_version(ssl_ctx, IS_DTLS(mode) ?
	    DTLS1_2_VERSION : TLS1_2_VERSION);
	SSL_CTX_set_mode(ssl_ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_session_cache_mode(ssl_ctx, SSL_SESS_CACHE_OFF);
	if (!IS_DTLS(mode) &&
	    SSL_CTX_set_ciphersuites(ssl_ctx, opt_suites) != 1) {
		fprintf(stderr, "secho-bench: bad TLS 1.3 cipher suites %s\n",
		    opt_suites);
		exit(1);
	}
	/* e.g. "rsa_pss_rsae_sha256" or "ECDSA+SHA256": which certificate
	 * of a dual-certificate server answers. */
	if (opt_sigalgs != NULL &&
	    SSL_CTX_set1_sigalgs_list(ssl_ctx, opt_sigalgs) != 1) {
		fprintf(stderr, "secho-bench: bad signature algorithms %s\n",
		    opt_sigalgs);
		exit(1);
	}
	if (opt_noverify)
		SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_NONE, NULL);
	else {
		if (opt_cafile == NULL) {
			fprintf(stderr, "secho-bench: TLS modes need -C CAFILE "
			    "or -k\n");
			exit(1);
		}
		if (SSL_CTX_load_verify_locations(ssl_ctx, opt_cafile,
		    NULL) != 1) {
			fprintf(stderr, "secho-bench: %s: ", opt_cafile);
			ERR_print_errors_fp(stderr);
			exit(1);
		}
		SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_PEER, NULL);
	}
}

/* A connected UDP socket and a blocking DTLS client on it, or NULL. */
static SSL *
dtls_open(struct worker *w, int *fdp)
{
	struct timeval tv = { 2, 0 };
	BIO_ADDR *peer;
	SSL *ssl;
	BIO *b;
	int fd;

	*fdp = -1;
	if ((fd = socket(srv_addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) ==
	    -1 || connect(fd, (struct sockaddr *)&srv_addr, srv_addrlen) == -1) {
		if (fd != -1)
			close(fd);
		return NULL;
	}
	ssl = SSL_new(ssl_ctx);
	b = BIO_new_dgram(fd, BIO_NOCLOSE);
	peer = BIO_ADDR_new();
	if (ssl == NULL || b == NULL || peer == NULL) {
		SSL_free(ssl);
		BIO_free(b);
		BIO_ADDR_free(peer);
		close(fd);
		return NULL;
	}
	if (srv_addr.ss_family == AF_INET)
		BIO_ADDR_rawmake(peer, AF_INET,
		    &((struct sockaddr_in *)&srv_addr)->sin_addr, 4,
		    ((struct sockaddr_in *)&srv_addr)->sin_port);
	else
		BIO_ADDR_rawmake(peer, AF_INET6,
		    &((struct sockaddr_in6 *)&srv_addr)->sin6_addr, 16,
		    ((struct sockaddr_in6 *)&srv_addr)->sin6_port);
	(void)BIO_ctrl(b, BIO_CTRL_DGRAM_SET_CONNECTED, 0, peer);
	BIO_ADDR_free(peer);
	SSL_set_bio(ssl, b, b);
	SSL_set_options(ssl, SSL_OP_NO_QUERY_MTU);
	(void)DTLS_set_link_mtu(ssl, 1200);
	if (opt_name != NULL)
		SSL_set_tlsext_host_name(ssl, opt_name);
	/* Blocking: the datagram BIO times reads out on OpenSSL's timer. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (SSL_connect(ssl) != 1) {
		pthread_mutex_lock(&err_lock);
		if (!opt_quiet && err_lines++ < 10) {
			fprintf(stderr, "secho-bench: worker %d: DTLS "
			    "handshake: ", w->idx);
			ERR_print_errors_fp(stderr);
			fprintf(stderr, "\n");
		}
		pthread_mutex_unlock(&err_lock);
		ERR_clear_error();
		SSL_free(ssl);
		close(fd);
		return NULL;
	}
	if (tls_info[0] == '\0') {
		pthread_mutex_lock(&err_lock);
		if (tls_info[0] == '\0')
			snprintf(tls_info, sizeof(tls_info), "%s/%s",
			    SSL_get_version(ssl), SSL_get_cipher_name(ssl));
		pthread_mutex_unlock(&err_lock);
	}
	/* An echo not back within -T ms is lost (set once: no timer now). */
	tv.tv_sec = opt_udp_timeout_ms / 1000;
	tv.tv_usec = (opt_udp_timeout_ms % 1000) * 1000;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	*fdp = fd;
	return ssl;
}

/*
 * One record of opt_size bytes out, its echo back whole within -T ms
 * (the latency counts from t0: the handshake's start in dtls-conn):
 * 1 echoed, 0 lost (nothing in time), -1 a broken association or a
 * mismatch (counted).
 */
static int
dtls_round(struct worker *w, SSL *ssl, uint64_t base, uint64_t t0)
{
	size_t n;
	uint64_t t1;
	int r;

	memcpy(w->sbuf, pat_at(base, 0), opt_size);
	if (SSL_write_ex(ssl, w->sbuf, opt_size, &n) != 1 || n != opt_size) {
		ERR_clear_error();
		w->errors++;
		return -1;
	}
	r = SSL_read_ex(ssl, w->rbuf, 65536, &n);
	t1 = now_ns();
	if (r != 1) {
		r = SSL_get_error(ssl, r);
		ERR_clear_error();
		if (r == SSL_ERROR_WANT_READ) {
			if (in_window(t1))
				w->lost++;
			return 0;
		}
		w->errors++;
		return -1;
	}
	if (n != opt_size || memcmp(w->rbuf, w->sbuf, n) != 0) {
		w->mismatches++;
		return -1;
	}
	w->all_ops++;
	if (in_window(t1)) {
		w->ops++;
		hist_add(&w->hist, t1 - t0);
	}
	return 1;
}

static void *
dtls_main(void *arg)
{
	struct worker *w = arg;
	uint64_t base = w->nextbase, t0 = 0;
	SSL *ssl = NULL;
	int fd = -1;

	while (now_ns() < t_end) {
		if (ssl == NULL) {
			t0 = now_ns();
			if ((ssl = dtls_open(w, &fd)) == NULL) {
				w->errors++;
				usleep(10000);
				continue;
			}
		}
		if (mode->kind == K_DTLS_CONN) {
			/* A handshake and one echo is the operation. */
			(void)dtls_round(w, ssl, base, t0);
			(void)SSL_shutdown(ssl);
			SSL_free(ssl);
			close(fd);
			ssl = NULL;
		} else if (dtls_round(w, ssl, base, now_ns()) < 0) {
			SSL_free(ssl);
			close(fd);
			ssl = NULL;
		}
		base = (base + 7919) % PAT_P;
	}
	if (ssl != NULL) {
		(void)SSL_shutdown(ssl);
		SSL_free(ssl);
		close(fd);
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	struct addrinfo hints, *res;
	struct worker *ws;
	struct rlimit rl;
	struct hist *h;
	uint64_t ops = 0, all = 0, errors = 0, lost = 0, mism = 0, resumed = 0;
	double secs, rate;
	size_t i;
	int ch, k, gai;

	while ((ch = getopt(argc, argv, "m:H:p:c:s:d:w:t:C:kN:S:T:A:qh")) != -1) {
		switch (ch) {
		case 'm':
			for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
				if (strcmp(optarg, modes[i].name) == 0)
					mode = &modes[i];
			if (mode == NULL) {
				fprintf(stderr, "secho-bench: unknown mode %s\n",
				    optarg);
				usage(1);
			}
			break;
		case 'H':
			opt_host = optarg;
			break;
		case 'p':
			opt_port = optarg;
			break;
		case 'c':
			opt_conc = atoi(optarg);
			break;
		case 's':
			opt_size = parse_size(optarg);
			break;
		case 'd':
			opt_duration = atof(optarg);
			break;
		case 'w':
			opt_warmup = atof(optarg);
			break;
		case 't':
			opt_threads = atoi(optarg);
			break;
		case 'C':
			opt_cafile = optarg;
			break;
		case 'k':
			opt_noverify = 1;
			break;
		case 'N':
			opt_name = optarg;
			break;
		case 'S':
			opt_suites = optarg;
			break;
		case 'A':
			opt_sigalgs = optarg;
			break;
		case 'T':
			opt_udp_timeout_ms = atoi(optarg);
			break;
		case 'q':
			opt_quiet = 1;
			break;
		case 'h':
			usage(0);
			break;
		default:
			usage(1);
		}
	}
	if (mode == NULL || opt_port == NULL || opt_conc < 1 ||
	    opt_threads < 1 || opt_duration <= 0 || opt_warmup < 0 ||
	    opt_udp_timeout_ms < 1 || optind != argc)
		usage(1);
	if (opt_size == 0)
		opt_size = mode->defsize;
	if (mode->kind == K_UDP && (opt_size < UDP_HDR || opt_size > UDP_MAX)) {
		fprintf(stderr, "secho-bench: udp size must be %d..%d\n",
		    UDP_HDR, UDP_MAX);
		return 1;
	}
	if (opt_threads > opt_conc || IS_DTLS(mode))
		opt_threads = opt_conc;	/* DTLS: one blocking thread each */
	if (IS_DTLS(mode) && opt_size > 16384) {
		fprintf(stderr, "secho-bench: a DTLS record holds at most "
		    "16384 bytes\n");
		return 1;
	}
	if (mode->kind == K_IDLE)
		opt_warmup = 0;

	signal(SIGPIPE, SIG_IGN);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = mode->kind == K_UDP || IS_DTLS(mode) ?
	    SOCK_DGRAM : SOCK_STREAM;
	if ((gai = getaddrinfo(opt_host, opt_port, &hints, &res)) != 0) {
		fprintf(stderr, "secho-bench: %s port %s: %s\n", opt_host,
		    opt_port, gai_strerror(gai));
		return 1;
	}
	memcpy(&srv_addr, res->ai_addr, res->ai_addrlen);
	srv_addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	if (mode->tls)
		setup_tls();
	pat_init();

	ws = calloc((size_t)opt_threads, sizeof(*ws));
	if (ws == NULL)
		return 1;
	for (k = 0; k < opt_threads; k++) {
		struct worker *w = &ws[k];
		int j;
		w->idx = k;
		w->ep = epoll_create1(EPOLL_CLOEXEC);
		w->nconns = opt_conc / opt_threads +
		    (k < opt_conc % opt_threads);
		w->conns = calloc((size_t)w->nconns, sizeof(*w->conns));
		w->rbuf = malloc(MAXCHUNK > UDP_MAX + 1 ? MAXCHUNK : UDP_MAX + 1);
		w->sbuf = malloc(UDP_MAX + 1);
		w->nextbase = ((uint64_t)k * 1000003u) % PAT_P;
		if (w->ep == -1 || w->conns == NULL || w->rbuf == NULL ||
		    w->sbuf == NULL) {
			fprintf(stderr, "secho-bench: out of memory\n");
			return 1;
		}
		for (j = 0; j < w->nconns; j++) {
			struct conn *c = &w->conns[j];
			c->w = w;
			c->fd = -1;
			c->id = k + j * opt_threads;
			if (mode->kind == K_BULK) {
				c->m_cap = opt_size / MARK + MAXCHUNK / MARK + 4;
				c->m_off = calloc(c->m_cap, sizeof(uint64_t));
				c->m_t = calloc(c->m_cap, sizeof(uint64_t));
				if (!c->m_off || !c->m_t)
					return 1;
			}
		}
	}

	t_begin = now_ns();
	t_warm = t_begin + (uint64_t)(opt_warmup * 1e9);
	t_end = t_warm + (uint64_t)(opt_duration * 1e9);
	for (k = 0; k < opt_threads; k++)
		if (pthread_create(&ws[k].th, NULL, IS_DTLS(mode) ? dtls_main :
		    worker_main, &ws[k]) != 0) {
			fprintf(stderr, "secho-bench: pthread_create failed\n");
			return 1;
		}
	if (mode->kind == K_IDLE) {
		while (now_ns() < t_end &&
		    __atomic_load_n(&established, __ATOMIC_SEQ_CST) < opt_conc)
			usleep(10000);
		printf("ready established=%d\n",
		    __atomic_load_n(&established, __ATOMIC_SEQ_CST));
		fflush(stdout);
	}
	h = calloc(1, sizeof(*h));
	if (h == NULL)
		return 1;
	for (k = 0; k < opt_threads; k++) {
		struct worker *w = &ws[k];
		pthread_join(w->th, NULL);
		ops += w->ops;
		all += w->all_ops;
		errors += w->errors;
		lost += w->lost;
		mism += w->mismatches;
		resumed += w->resumed;
		for (i = 0; i < HBUCKETS; i++)
			h->b[i] += w->hist.b[i];
		h->n += w->hist.n;
	}
	secs = (double)(t_end - t_warm) / 1e9;
	if (mode->kind == K_BULK)
		rate = (double)ops / 1e6 / secs;
	else if (mode->kind == K_IDLE)
		rate = (double)ops;
	else
		rate = (double)ops / secs;
	printf("mode=%s c=%d size=%zu threads=%d duration_s=%.2f ops=%llu "
	    "all_ops=%llu rate=%.1f unit=%s p50_ms=%.3f p99_ms=%.3f errors=%llu "
	    "lost=%llu mismatches=%llu resumed=%llu%s%s\n",
	    mode->name, opt_conc, opt_size, opt_threads, secs,
	    (unsigned long long)ops, (unsigned long long)all, rate,
	    mode->kind == K_IDLE ? "conns" : mode->unit,
	    hist_pct_ms(h, 50), hist_pct_ms(h, 99),
	    (unsigned long long)errors, (unsigned long long)lost,
	    (unsigned long long)mism, (unsigned long long)resumed,
	    mode->tls ? " tls=" : "", mode->tls ? (tls_info[0] ? tls_info : "-") : "");
	fflush(stdout);
	if (mism)
		return 2;
	if (ops == 0)
		return 3;
	return 0;
}

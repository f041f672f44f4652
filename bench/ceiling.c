/*
 * ceiling - a minimal single-threaded epoll echo server: the best this
 * machine does without per-connection processes.  Used by bench/run.sh as
 * the "ceiling" column; not a product.
 *
 *   ceiling [-a ADDR] [-p TCP_PORT] [-P TLS_PORT -c CERT -k KEY] [-u UDP_PORT]
 *           [-D DTLS_PORT -c CERT -k KEY]
 *
 * TCP: TCP_NODELAY, read up to 64 KiB, write it back; while a write is
 * short, stop reading (flow control) until it drains.  TLS: the same over a
 * non-blocking OpenSSL connection (stateless session tickets, so resumption
 * works).  UDP: recvmmsg/sendmmsg in batches of 64, each datagram back to
 * its source.  DTLS: DTLSv1_listen() (stateless cookie) on the listener,
 * then a socket bound to it and connected to the client per association,
 * echoed one record for one like TLS; no retransmission timers (loopback
 * loses nothing).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#define BUFSZ	(64 * 1024)
#define UBATCH	64
#define UMAX	65536

enum { T_TCP_LISTEN, T_TLS_LISTEN, T_UDP, T_CONN, T_DTLS_LISTEN };

struct conn {
	int		 type;		/* first member: also tags listeners */
	int		 fd;
	SSL		*ssl;
	int		 handshaking;
	uint32_t	 events;	/* registered epoll events */
	size_t		 off, len;	/* pending bytes in buf */
	unsigned char	*buf;
};

struct lsock {
	int	type;
	int	fd;
};

static int ep;
static SSL_CTX *ctx, *dctx;
static unsigned char cookie_secret[32];

static void
die(const char *what)
{
	fprintf(stderr, "ceiling: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int
listen_on(const char *addr, const char *port, int socktype)
{
	struct addrinfo hints, *res;
	int fd, on = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = socktype;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST;
	if (getaddrinfo(addr, port, &hints, &res) != 0) {
		fprintf(stderr, "ceiling: bad address %s port %s\n", addr, port);
		exit(1);
	}
	fd = socket(res->ai_family, socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		die("socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (bind(fd, res->ai_addr, res->ai_addrlen) == -1)
		die(port);
	if (socktype == SOCK_STREAM && listen(fd, 4096) == -1)
		die("listen");
	freeaddrinfo(res);
	return fd;
}

static void
watch(int fd, uint32_t events, void *ptr, int op)
{
	struct epoll_event ev;

	ev.events = events;
	ev.data.ptr = ptr;
	if (epoll_ctl(ep, op, fd, &ev) == -1)
		die("epoll_ctl");
}

static void
conn_free(struct conn *c)
{
	if (c->ssl)
		SSL_free(c->ssl);
	close(c->fd);
	free(c->buf);
	free(c);
}

static void
set_events(struct conn *c, uint32_t events)
{
	if (c->events != events) {
		c->events = events;
		watch(c->fd, events, c, EPOLL_CTL_MOD);
	}
}

/* >0 bytes, 0 EOF or error (close), -1 wants read, -2 wants write */
static ssize_t
ssl_result(struct conn *c, int r)
{
	if (r > 0)
		return r;
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		return -1;
	case SSL_ERROR_WANT_WRITE:
		return -2;
	default:
		ERR_clear_error();
		return 0;
	}
}

/* The same, for the socket or its TLS session. */
static ssize_t
c_read(struct conn *c, void *buf, size_t len)
{
	ssize_t n;

	if (c->ssl)
		return ssl_result(c, SSL_read(c->ssl, buf, (int)len));
	n = read(c->fd, buf, len);
	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EINTR)
		return -1;
	return 0;
}

static ssize_t
c_write(struct conn *c, const void *buf, size_t len)
{
	ssize_t n;

	if (c->ssl)
		return ssl_result(c, SSL_write(c->ssl, buf, (int)len));
	n = send(c->fd, buf, len, MSG_NOSIGNAL);
	if (n >= 0)
		return n;
	if (errno == EAGAIN || errno == EINTR)
		return -2;
	return 0;
}

/* Returns 0 to keep the connection, -1 to close it. */
static int
conn_io(struct conn *c)
{
	ssize_t n;
	int rounds;

	if (c->handshaking) {
		int r = SSL_do_handshake(c->ssl);
		if (r != 1) {
			switch (SSL_get_error(c->ssl, r)) {
			case SSL_ERROR_WANT_READ:
				set_events(c, EPOLLIN);
				return 0;
			case SSL_ERROR_WANT_WRITE:
				set_events(c, EPOLLOUT);
				return 0;
			default:
				ERR_clear_error();
				return -1;
			}
		}
		c->handshaking = 0;
	}
	for (rounds = 0; rounds < 64; rounds++) {
		/* flush what is pending */
		while (c->len > c->off) {
			n = c_write(c, c->buf + c->off, c->len - c->off);
			if (n == 0)
				return -1;
			if (n < 0) {
				set_events(c, n == -1 ? EPOLLIN : EPOLLOUT);
				return 0;
			}
			c->off += (size_t)n;
		}
		c->off = c->len = 0;
		n = c_read(c, c->buf, BUFSZ);
		if (n == 0)
			return -1;
		if (n < 0) {
			set_events(c, n == -1 ? EPOLLIN : EPOLLOUT);
			return 0;
		}
		c->len = (size_t)n;
		/* plain: a short read drained the socket (after the echo) */
		if (c->ssl == NULL && (size_t)n < BUFSZ) {
			n = c_write(c, c->buf, c->len);
			if (n == 0)
				return -1;
			if (n > 0)
				c->off = (size_t)n;
			if (c->off == c->len) {
				c->off = c->len = 0;
				set_events(c, EPOLLIN);
			} else
				set_events(c, EPOLLOUT);
			return 0;
		}
	}
	/*
	 * Fairness: yield.  Plain sockets wake us again (level-triggered);
	 * OpenSSL may hold decrypted bytes, so TLS connections wait for
	 * writability, which is immediate.
	 */
	set_events(c, c->ssl && c->len == 0 ? EPOLLIN | EPOLLOUT :
	    c->len ? EPOLLOUT : EPOLLIN);
	return 0;
}

static void
accept_all(struct lsock *l)
{
	int fd, on = 1;

	while ((fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC))
	    != -1) {
		struct conn *c = calloc(1, sizeof(*c));
		if (c == NULL || (c->buf = malloc(BUFSZ)) == NULL) {
			free(c);
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
		c->type = T_CONN;
		c->fd = fd;
		if (l->type == T_TLS_LISTEN) {
			c->ssl = SSL_new(ctx);
			SSL_set_fd(c->ssl, fd);
			SSL_set_accept_state(c->ssl);
			c->handshaking = 1;
		}
		c->events = EPOLLIN;
		watch(fd, EPOLLIN, c, EPOLL_CTL_ADD);
		if (conn_io(c) == -1)
			conn_free(c);
	}
}

static void
udp_echo(int fd)
{
	static struct mmsghdr msgs[UBATCH];
	static struct iovec iov[UBATCH];
	static struct sockaddr_storage from[UBATCH];
	static unsigned char *bufs;
	int n, i, rounds;

	if (bufs == NULL && (bufs = malloc((size_t)UBATCH * UMAX)) == NULL)
		die("malloc");
	for (rounds = 0; rounds < 16; rounds++) {
		for (i = 0; i < UBATCH; i++) {
			iov[i].iov_base = bufs + (size_t)i * UMAX;
			iov[i].iov_len = UMAX;
			memset(&msgs[i].msg_hdr, 0, sizeof(msgs[i].msg_hdr));
			msgs[i].msg_hdr.msg_iov = &iov[i];
			msgs[i].msg_hdr.msg_iovlen = 1;
			msgs[i].msg_hdr.msg_name = &from[i];
			msgs[i].msg_hdr.msg_namelen = sizeof(from[i]);
		}
		n = recvmmsg(fd, msgs, UBATCH, MSG_DONTWAIT, NULL);
		if (n <= 0)
			return;
		for (i = 0; i < n; i++)
			iov[i].iov_len = msgs[i].msg_len;
		sendmmsg(fd, msgs, (unsigned)n, MSG_DONTWAIT);
		if (n < UBATCH)
			return;
	}
}

/* The cookie: HMAC-SHA256 of the client's address and port. */
static int
cookie_make(SSL *ssl, unsigned char *out, unsigned int *len)
{
	unsigned char msg[16 + 2];
	BIO_ADDR *peer = BIO_ADDR_new();
	size_t alen = 0;
	unsigned short port;

	memset(msg, 0, sizeof(msg));
	if (peer == NULL || BIO_dgram_get_peer(SSL_get_rbio(ssl), peer) <= 0) {
		BIO_ADDR_free(peer);
		return 0;
	}
	(void)BIO_ADDR_rawaddress(peer, NULL, &alen);
	if (alen <= 16)
		(void)BIO_ADDR_rawaddress(peer, msg, &alen);
	port = BIO_ADDR_rawport(peer);
	memcpy(msg + 16, &port, 2);
	BIO_ADDR_free(peer);
	return HMAC(EVP_sha256(), cookie_secret, sizeof(cookie_secret), msg,
	    sizeof(msg), out, len) != NULL;
}

static int
cookie_check(SSL *ssl, const unsigned char *cookie, unsigned int len)
{
	unsigned char want[EVP_MAX_MD_SIZE];
	unsigned int wl = 0;

	return cookie_make(ssl, want, &wl) && wl == len &&
	    CRYPTO_memcmp(want, cookie, len) == 0;
}

/* Verified ClientHellos become associations on sockets of their own. */
static void
dtls_accept(struct lsock *l)
{
	struct sockaddr_storage local, peer;
	socklen_t llen = sizeof(local);
	unsigned char probe;
	BIO_ADDR *from;
	size_t alen;
	int i, fd, on = 1;

	if (getsockname(l->fd, (struct sockaddr *)&local, &llen) == -1)
		return;
	for (i = 0; i < 64; i++) {
		SSL *s = SSL_new(dctx);
		BIO *b = BIO_new_dgram(l->fd, BIO_NOCLOSE);
		struct conn *c;

		from = BIO_ADDR_new();
		if (s == NULL || b == NULL || from == NULL)
			die("DTLS set-up");
		SSL_set_bio(s, b, b);
		if (DTLSv1_listen(s, from) <= 0) {
			ERR_clear_error();
			SSL_free(s);
			BIO_ADDR_free(from);
			if (recv(l->fd, &probe, 1, MSG_PEEK | MSG_DONTWAIT) == -1)
				return;		/* drained */
			continue;
		}
		memset(&peer, 0, sizeof(peer));
		peer.ss_family = (sa_family_t)BIO_ADDR_family(from);
		alen = 16;
		if (peer.ss_family == AF_INET) {
			struct sockaddr_in *p4 = (struct sockaddr_in *)&peer;
			BIO_ADDR_rawaddress(from, &p4->sin_addr, &alen);
			p4->sin_port = BIO_ADDR_rawport(from);
		} else {
			struct sockaddr_in6 *p6 = (struct sockaddr_in6 *)&peer;
			BIO_ADDR_rawaddress(from, &p6->sin6_addr, &alen);
			p6->sin6_port = BIO_ADDR_rawport(from);
		}
		fd = socket(local.ss_family, SOCK_DGRAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (fd == -1 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on,
		    sizeof(on)) == -1 || bind(fd, (struct sockaddr *)&local,
		    llen) == -1 || connect(fd, (struct sockaddr *)&peer,
		    peer.ss_family == AF_INET ? sizeof(struct sockaddr_in) :
		    sizeof(struct sockaddr_in6)) == -1 ||
		    (c = calloc(1, sizeof(*c))) == NULL ||
		    (c->buf = malloc(BUFSZ)) == NULL) {
			if (fd != -1)
				close(fd);
			SSL_free(s);
			BIO_ADDR_free(from);
			continue;
		}
		BIO_set_fd(b, fd, BIO_NOCLOSE);
		(void)BIO_ctrl(b, BIO_CTRL_DGRAM_SET_CONNECTED, 0, from);
		BIO_ADDR_free(from);
		SSL_set_options(s, SSL_OP_NO_QUERY_MTU);
		(void)DTLS_set_link_mtu(s, 1200);
		c->type = T_CONN;
		c->fd = fd;
		c->ssl = s;
		c->handshaking = 1;
		c->events = EPOLLIN;
		watch(fd, EPOLLIN, c, EPOLL_CTL_ADD);
		if (conn_io(c) == -1)
			conn_free(c);
	}
}

int
main(int argc, char **argv)
{
	const char *addr = "127.0.0.1", *tcp = NULL, *tls = NULL, *udp = NULL;
	const char *dtls = NULL;
	struct lsock ldtls = { T_DTLS_LISTEN, -1 };
	const char *cert = NULL, *key = NULL;
	struct epoll_event evs[256];
	struct lsock ltcp = { T_TCP_LISTEN, -1 }, ltls = { T_TLS_LISTEN, -1 };
	struct lsock ludp = { T_UDP, -1 };
	struct rlimit rl;
	int ch, i, n;

	while ((ch = getopt(argc, argv, "a:p:P:u:c:k:D:")) != -1) {
		switch (ch) {
		case 'a': addr = optarg; break;
		case 'p': tcp = optarg; break;
		case 'P': tls = optarg; break;
		case 'u': udp = optarg; break;
		case 'c': cert = optarg; break;
		case 'k': key = optarg; break;
		case 'D': dtls = optarg; break;
		default:
			fprintf(stderr, "usage: ceiling [-a ADDR] [-p TCP_PORT] "
			    "[-P TLS_PORT -c CERT -k KEY] [-u UDP_PORT] "
			    "[-D DTLS_PORT]\n");
			return 1;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		die("epoll_create1");
	if (tcp) {
		ltcp.fd = listen_on(addr, tcp, SOCK_STREAM);
		watch(ltcp.fd, EPOLLIN, &ltcp, EPOLL_CTL_ADD);
	}
	if (tls) {
		if (cert == NULL || key == NULL) {
			fprintf(stderr, "ceiling: -P needs -c CERT -k KEY\n");
			return 1;
		}
		ctx = SSL_CTX_new(TLS_server_method());
		if (ctx == NULL ||
		    SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
		    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(ctx) != 1) {
			ERR_print_errors_fp(stderr);
			return 1;
		}
		SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
		SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
		    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
		ltls.fd = listen_on(addr, tls, SOCK_STREAM);
		watch(ltls.fd, EPOLLIN, &ltls, EPOLL_CTL_ADD);
	}
	if (udp) {
		int sz = 4 << 20;
		ludp.fd = listen_on(addr, udp, SOCK_DGRAM);
		setsockopt(ludp.fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
		watch(ludp.fd, EPOLLIN, &ludp, EPOLL_CTL_ADD);
	}
	if (dtls) {
		if (cert == NULL || key == NULL) {
			fprintf(stderr, "ceiling: -D needs -c CERT -k KEY\n");
			return 1;
		}
		dctx = SSL_CTX_new(DTLS_server_method());
		if (dctx == NULL || RAND_bytes(cookie_secret,
		    sizeof(cookie_secret)) != 1 ||
		    SSL_CTX_use_certificate_chain_file(dctx, cert) != 1 ||
		    SSL_CTX_use_PrivateKey_file(dctx, key, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(dctx) != 1) {
			ERR_print_errors_fp(stderr);
			return 1;
		}
		SSL_CTX_set_min_proto_version(dctx, DTLS1_2_VERSION);
		SSL_CTX_set_cookie_generate_cb(dctx, cookie_make);
		SSL_CTX_set_cookie_verify_cb(dctx, cookie_check);
		ldtls.fd = listen_on(addr, dtls, SOCK_DGRAM);
		watch(ldtls.fd, EPOLLIN, &ldtls, EPOLL_CTL_ADD);
	}
	if (!tcp && !tls && !udp && !dtls) {
		fprintf(stderr, "ceiling: nothing to serve (-p, -P or -u)\n");
		return 1;
	}
	for (;;) {
		n = epoll_wait(ep, evs, 256, -1);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (i = 0; i < n; i++) {
			int type = *(int *)evs[i].data.ptr;
			if (type == T_TCP_LISTEN || type == T_TLS_LISTEN)
				accept_all(evs[i].data.ptr);
			else if (type == T_UDP)
				udp_echo(ludp.fd);
			else if (type == T_DTLS_LISTEN)
				dtls_accept(&ldtls);
			else {
				struct conn *c = evs[i].data.ptr;
				if (conn_io(c) == -1)
					conn_free(c);
			}
		}
	}
}

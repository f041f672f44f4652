/*
 * dtls_echo.c - a DTLS association's life in its own process, after
 * conn.c's privilege drop: the handshake from the ClientHello the
 * engine verified (dtls_first), on the association's connected socket,
 * within handshake_timeout, lost and reordered datagrams handled by
 * OpenSSL's retransmission timer (DTLSv1_get_timeout and
 * DTLSv1_handle_timeout drive the poll); then each application record
 * is echoed as one record until close_notify (answered), idle_timeout
 * or a stop.  The contexts are tls.c's, built in the master.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <netinet/in.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "secho/clock.h"
#include "secho/conn.h"
#include "secho/dtls.h"
#include "secho/log.h"
#include "secho/sslerr.h"
#include "secho/tls.h"
#include "secho/tls_echo.h"

/* One record's plaintext at most (2^14), and room to spare. */
#define RECORD_MAX	(16384 + 256)

/* What waiting ended with. */
#define W_READY		0
#define W_TIMER		1	/* the DTLS retransmission timer */
#define W_DEADLINE	2
#define W_STOP		3
#define W_ERROR		4

/*
 * The cookie callbacks DTLSv1_listen() needs.  The engine verified the
 * cookie of the ClientHello this process starts from; that one, and
 * only that one, is valid here.
 */
static int
cookie_gen(SSL *ssl, unsigned char *cookie, unsigned int *len)
{
	memcpy(cookie, dtls_first.df_cookie, DTLS_COOKIE_LEN);
	*len = DTLS_COOKIE_LEN;
	return 1;
}

static int
cookie_verify(SSL *ssl, const unsigned char *cookie, unsigned int len)
{
	return dtls_first.df_len > 0 && len == DTLS_COOKIE_LEN &&
	    CRYPTO_memcmp(cookie, dtls_first.df_cookie, DTLS_COOKIE_LEN) == 0;
}

void
dtls_ctx_setup(void *ctx)
{
	SSL_CTX_set_cookie_generate_cb(ctx, cookie_gen);
	SSL_CTX_set_cookie_verify_cb(ctx, cookie_verify);
}

/*
 * Wait for events on fd until deadline (clock_ms(); 0: none) or the
 * DTLS timer, whichever comes first; stop signals get in only here.
 */
static int
wait_io(SSL *ssl, int fd, short events, long long deadline)
{
	struct timeval tv;
	struct timespec ts;
	struct pollfd pfd;
	long long left = -1, timer = -1;
	int r;

	if (conn_stop)
		return W_STOP;
	if (DTLSv1_get_timeout(ssl, &tv) == 1)
		timer = (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
	if (deadline > 0 && (left = deadline - clock_ms()) <= 0)
		return W_DEADLINE;
	if (timer >= 0 && (left < 0 || timer < left))
		left = timer;
	if (left >= 0) {
		ts.tv_sec = left / 1000;
		ts.tv_nsec = (long)(left % 1000) * 1000000;
	}
	pfd.fd = fd;
	pfd.events = events;
	pfd.revents = 0;
	r = ppoll(&pfd, 1, left >= 0 ? &ts : NULL, &conn_waitmask);
	if (r > 0)
		return W_READY;
	if (r == -1 && errno != EINTR)
		return W_ERROR;
	if (conn_stop)
		return W_STOP;
	if (r == 0 && timer >= 0 && timer <= left) {
		/* Retransmits our last flight when it is due. */
		if (DTLSv1_handle_timeout(ssl) < 0)
			return W_ERROR;
		return W_TIMER;
	}
	return W_TIMER;		/* look again: the deadline decides */
}

static void
log_tls_error(const char *peername, SSL *ssl)
{
	struct logline ll;
	char why[400], err[512];
	long vr = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;

	if (ssl != NULL && tls_refusal(ssl) != NULL)
		snprintf(err, sizeof(err), "%s", tls_refusal(ssl));
	else {
		sslerr_text(why, sizeof(why), "handshake failed");
		if (vr != X509_V_OK)
			snprintf(err, sizeof(err), "%s (%s)", why,
			    X509_verify_cert_error_string(vr));
		else
			snprintf(err, sizeof(err), "%s", why);
	}
	ERR_clear_error();
	log_begin(&ll, LOG_INFO, "tls-error");
	log_kv(&ll, "peer", peername);
	log_kv(&ll, "error", err);
	log_end(&ll);
}

/*
 * A ClientHello on the association's socket (RFC 6347, 4.2.8): the
 * client started anew from the same address and port, and the kernel
 * hands its datagrams to us, not to the listener.  OpenSSL would drop
 * it (epoch 0, after the handshake), so a callback on the socket's BIO
 * sees each datagram OpenSSL reads, at no extra system call, once the
 * handshake is done.  Without a cookie the ClientHello gets a
 * HelloVerifyRequest, as from the engine; the ClientHello that answers
 * it (the same random, RFC 6347 4.2.1) with a valid cookie ends the old
 * association, and the client's next retransmission, with that cookie,
 * reaches the engine.  Another ClientHello with a cookie -- a late copy
 * from an earlier life, a replay -- ends nothing.  Either way OpenSSL
 * does not see it.
 */
static struct {
	int				 on;	/* after the handshake */
	int				 fd;
	const struct sockaddr_storage	*peer;
	unsigned char			 asked[32];	/* HVR'd random */
	int				 restart;	/* seen: end */
} watch;

/* Is buf (one datagram) a ClientHello we took?  1 or 0. */
static int
hello_seen(const unsigned char *buf, size_t n)
{
	unsigned char cookie[DTLS_COOKIE_LEN], hvr[DTLS_HVR_LEN];
	const unsigned char *secrets[2] = { NULL, NULL };
	struct dtls_hello h, first;
	uint32_t now;
	size_t ns;

	/* The headers first: a record of epoch 0 holding a ClientHello? */
	if (n < 26 || buf[0] != 22 || buf[1] != 0xfe || buf[3] != 0 ||
	    buf[4] != 0 || buf[13] != 1 || n > DTLS_HELLO_MAX ||
	    dtls_hello_parse(buf, n, &h) == -1)
		return 0;
	/* A late copy of the one we started from: dropped. */
	if (dtls_hello_parse(dtls_first.df_hello, dtls_first.df_len,
	    &first) == -1 || memcmp(first.dh_random, h.dh_random, 32) == 0)
		return 1;
	now = (uint32_t)(clock_ms() / 1000);
	ns = tls_cookie_secrets(secrets);
	if (h.dh_cookie_len > 0) {
		if (memcmp(h.dh_random, watch.asked, 32) == 0 &&
		    dtls_cookie_check(secrets, ns, (const struct sockaddr *)
		    watch.peer, h.dh_random, h.dh_cookie, h.dh_cookie_len, now))
			watch.restart = 1;
		return 1;
	}
	if (n >= DTLS_HVR_LEN && ns > 0 &&
	    dtls_cookie_make(secrets[0], (const struct sockaddr *)watch.peer,
	    h.dh_random, now, cookie) == 0 &&
	    dtls_hvr_build(&h, cookie, hvr, sizeof(hvr)) == DTLS_HVR_LEN &&
	    send(watch.fd, hvr, DTLS_HVR_LEN, MSG_DONTWAIT) == DTLS_HVR_LEN)
		memcpy(watch.asked, h.dh_random, 32);
	return 1;
}

/* After each read of the socket's BIO: a ClientHello taken is a read
 * of nothing, to be tried again (SSL_ERROR_WANT_READ). */
static long
watch_cb(BIO *b, int oper, const char *argp, size_t len, int argi,
    long argl, int ret, size_t *processed)
{
	int seen;

	if (oper != (BIO_CB_READ | BIO_CB_RETURN) || !watch.on || ret <= 0 ||
	    processed == NULL)
		return ret;
	/* Whatever the HMAC might leave in OpenSSL's error queue is not
	 * this SSL's error. */
	ERR_set_mark();
	seen = hello_seen((const unsigned char *)argp, *processed);
	ERR_pop_to_mark();
	if (!seen)
		return ret;
	*processed = 0;
	BIO_clear_retry_flags(b);
	BIO_set_retry_read(b);
	return -1;
}

static BIO_ADDR *
bio_addr(const struct sockaddr_storage *ss)
{
	const struct sockaddr_in *s4 = (const void *)ss;
	const struct sockaddr_in6 *s6 = (const void *)ss;
	BIO_ADDR *a = BIO_ADDR_new();

	if (a == NULL)
		return NULL;
	if ((ss->ss_family == AF_INET && BIO_ADDR_rawmake(a, AF_INET,
	    &s4->sin_addr, 4, s4->sin_port) != 1) ||
	    (ss->ss_family == AF_INET6 && BIO_ADDR_rawmake(a, AF_INET6,
	    &s6->sin6_addr, 16, s6->sin6_port) != 1)) {
		BIO_ADDR_free(a);
		return NULL;
	}
	return a;
}

/*
 * The SSL of the association: DTLSv1_listen() reads the verified
 * ClientHello from memory (setting the handshake's sequence numbers as
 * after a HelloVerifyRequest), then the socket takes over.
 */
static SSL *
dtls_new(SSL_CTX *ctx, int fd, const struct sockaddr_storage *peer)
{
	BIO *mem = NULL, *dg = NULL;
	BIO_ADDR *pa = NULL, *from = NULL;
	SSL *ssl = NULL;

	if ((ssl = SSL_new(ctx)) == NULL ||
	    (mem = BIO_new_mem_buf(dtls_first.df_hello,
	    (int)dtls_first.df_len)) == NULL ||
	    (dg = BIO_new_dgram(fd, BIO_NOCLOSE)) == NULL ||
	    (pa = bio_addr(peer)) == NULL || (from = BIO_ADDR_new()) == NULL)
		goto fail;
	(void)BIO_ctrl(dg, BIO_CTRL_DGRAM_SET_CONNECTED, 0, pa);
	SSL_set_bio(ssl, mem, dg);	/* both owned by ssl now */
	mem = NULL;
	if (DTLSv1_listen(ssl, from) != 1 || BIO_up_ref(dg) != 1)
		goto fail;
	BIO_set_callback_ex(dg, watch_cb);
	SSL_set0_rbio(ssl, dg);		/* frees the memory BIO */
	dg = NULL;
	/* The path MTU: no guessing from the socket, no IP fragments. */
	SSL_set_options(ssl, SSL_OP_NO_QUERY_MTU);
	(void)DTLS_set_link_mtu(ssl, DTLS_LINK_MTU);
	BIO_ADDR_free(pa);
	BIO_ADDR_free(from);
	return ssl;
fail:
	BIO_free(mem);
	if (ssl == NULL)
		BIO_free(dg);
	BIO_ADDR_free(pa);
	BIO_ADDR_free(from);
	SSL_free(ssl);
	return NULL;
}

/* The handshake: a close reason, or NULL when done. */
static const char *
handshake(SSL *ssl, int fd, long long deadline, const char *peername)
{
	int r;

	for (;;) {
		ERR_clear_error();
		if ((r = SSL_accept(ssl)) == 1)
			return NULL;
		switch (SSL_get_error(ssl, r)) {
		case SSL_ERROR_WANT_READ:
			break;
		case SSL_ERROR_WANT_WRITE:
			switch (wait_io(ssl, fd, POLLOUT, deadline)) {
			case W_DEADLINE:
				return "handshake-timeout";
			case W_STOP:
				return "shutdown";
			case W_ERROR:
				return "error";
			}
			continue;
		default:
			log_tls_error(peername, ssl);
			return "tls-error";
		}
		switch (wait_io(ssl, fd, POLLIN, deadline)) {
		case W_DEADLINE:
			return "handshake-timeout";
		case W_STOP:
			return "shutdown";
		case W_ERROR:
			log_tls_error(peername, ssl);
			return "tls-error";
		}
	}
}

/*
 * The end of an association that the client did not ask for: a
 * close_notify tells it (there is no FIN in UDP), not waited on.
 */
static const char *
bye(SSL *ssl, const char *reason)
{
	ERR_clear_error();
	(void)SSL_shutdown(ssl);
	ERR_clear_error();
	return reason;
}

/* Echo one record for one record; the close reason. */
static const char *
echo(SSL *ssl, int fd, struct conn *c, int idle_ms,
    const struct sockaddr_storage *peer)
{
	static unsigned char buf[RECORD_MAX];
	long long idle_at = idle_ms > 0 ? clock_ms() + idle_ms : 0;
	size_t n, w;
	int r;

	watch.on = 1;
	watch.fd = fd;
	watch.peer = peer;
	/* Not a random a client sends: the first ClientHello's own. */
	memcpy(watch.asked, dtls_first.df_hello + 13 + 12 + 2, 32);
	for (;;) {
		ERR_clear_error();
		if ((r = SSL_read_ex(ssl, buf, sizeof(buf), &n)) == 1) {
			c->c_bytes_in += n;
			if (idle_ms > 0)
				idle_at = clock_ms() + idle_ms;
			/* Written whole, as one record, or not at all. */
			while ((r = SSL_write_ex(ssl, buf, n, &w)) != 1) {
				if (SSL_get_error(ssl, r) != SSL_ERROR_WANT_WRITE)
					return "error";
				switch (wait_io(ssl, fd, POLLOUT, idle_at)) {
				case W_DEADLINE:
					return "idle-timeout";
				case W_STOP:
					return "shutdown";
				case W_ERROR:
					return "error";
				}
			}
			c->c_bytes_out += w;
			continue;
		}
		switch (SSL_get_error(ssl, r)) {
		case SSL_ERROR_ZERO_RETURN:
			/* close_notify: answered with ours. */
			ERR_clear_error();
			(void)SSL_shutdown(ssl);
			return "eof";
		case SSL_ERROR_WANT_READ:
			if (watch.restart)
				return "eof";
			break;
		default:
			return "error";
		}
		switch (wait_io(ssl, fd, POLLIN, idle_at)) {
		case W_DEADLINE:
			return bye(ssl, "idle-timeout");
		case W_STOP:
			return bye(ssl, "shutdown");
		case W_ERROR:
			return "error";
		}
	}
}

const char *
dtls_echo_serve(void *arg, const struct conn_req *r, struct conn *c,
    long long hs_deadline, const char *peername, struct conn_tls_info *ti)
{
	const struct tls_echo_set *set = arg;
	const char *reason;
	SSL *ssl;

	if (set == NULL || r->cr_listener >= set->tes_count ||
	    set->tes_servers[r->cr_listener] == NULL) {
		log_errx("no DTLS context for listener %s (index %u)",
		    r->cr_name, r->cr_listener);
		return "error";
	}
	ERR_clear_error();
	if ((ssl = dtls_new(tls_server_ctx(set->tes_servers[r->cr_listener]),
	    c->c_fd, &r->cr_peer)) == NULL) {
		log_tls_error(peername, NULL);
		return "tls-error";
	}
	c->c_ctx = ssl;
	if ((reason = handshake(ssl, c->c_fd, hs_deadline, peername)) == NULL) {
		ti->ti_ok = 1;
		reason = echo(ssl, c->c_fd, c, r->cr_idle_ms, &r->cr_peer);
		tls_conn_info(c, &ti->ti_version, &ti->ti_cipher,
		    ti->ti_subject, sizeof(ti->ti_subject));
		tls_conn_names(c, ti->ti_sni, sizeof(ti->ti_sni), ti->ti_alpn,
		    sizeof(ti->ti_alpn));
	}
	tls_conn_free(c);
	return reason;
}

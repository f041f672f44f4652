/*
 * tls_echo.c - a TLS connection's life after the PROXY header: the
 * handshake within what is left of handshake_timeout, then the echo of
 * echo.c over a struct conn whose reads and writes are SSL's, then
 * close_notify answered with close_notify.  The contexts it uses come
 * from tls.c, built in the master and inherited by the TLS engine.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "secho/clock.h"
#include "secho/conn.h"
#include "secho/log.h"
#include "secho/sslerr.h"
#include "secho/tls.h"
#include "secho/tls_echo.h"
#include "secho/tlsmem.h"

static ssize_t
tls_read(struct conn *c, void *buf, size_t len)
{
	SSL *ssl = c->c_ctx;
	size_t n = 0;
	int r;

	ERR_clear_error();
	errno = 0;
	if ((r = SSL_read_ex(ssl, buf, len, &n)) == 1)
		return (ssize_t)n;
	switch (SSL_get_error(ssl, r)) {
	case SSL_ERROR_WANT_READ:
		return CONN_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return CONN_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		return 0;	/* close_notify: orderly end of input */
	default:
		/*
		 * SSL_ERROR_SYSCALL (reset) or SSL_ERROR_SSL, which includes
		 * "unexpected eof while reading": the peer vanished without
		 * close_notify, maybe in the middle of a record.
		 */
		ERR_clear_error();
		return CONN_ERROR;
	}
}

/*
 * With SSL_MODE_ENABLE_PARTIAL_WRITE a retry after WANT_* must offer at
 * least the bytes of the first try; echo.c retries from the same place
 * of its ring buffer with a length that can only have grown.
 */
static ssize_t
tls_write(struct conn *c, const void *buf, size_t len)
{
	SSL *ssl = c->c_ctx;
	size_t n = 0;
	int r;

	ERR_clear_error();
	errno = 0;
	if ((r = SSL_write_ex(ssl, buf, len, &n)) == 1)
		return (ssize_t)n;
	switch (SSL_get_error(ssl, r)) {
	case SSL_ERROR_WANT_READ:
		return CONN_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return CONN_WANT_WRITE;
	default:
		ERR_clear_error();
		return CONN_ERROR;
	}
}

/*
 * Our close_notify.  The peer sent its own already (that is how the echo
 * ended), so there is nothing to wait for once ours is out.
 */
static int
tls_close_write(struct conn *c)
{
	SSL *ssl = c->c_ctx;
	int r;

	ERR_clear_error();
	errno = 0;
	if ((r = SSL_shutdown(ssl)) >= 0)
		return 0;
	switch (SSL_get_error(ssl, r)) {
	case SSL_ERROR_WANT_READ:
		return CONN_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return CONN_WANT_WRITE;
	default:
		ERR_clear_error();
		return CONN_ERROR;
	}
}

static size_t
tls_pending(struct conn *c)
{
	int n = SSL_pending(c->c_ctx);

	/*
	 * With read-ahead, bytes of a record not yet decrypted may wait in
	 * OpenSSL's buffer, where poll() cannot see them: report them too,
	 * so the echo loop reads (and gets WANT_READ if the record is not
	 * complete yet) instead of sleeping on them.
	 */
	if (n > 0)
		return (size_t)n;
	return SSL_has_pending(c->c_ctx) ? 1 : 0;
}

static void
tls_idle(struct conn *c)
{
	/*
	 * Quiet for a while: the record buffers go (they come back with the
	 * next record), and so do the pages of large free blocks.  Busy
	 * connections keep theirs: no allocation per record.
	 */
	(void)SSL_free_buffers(c->c_ctx);
	tlsmem_idle();
}

static const struct conn_ops tls_ops = {
	.co_read = tls_read,
	.co_write = tls_write,
	.co_close_write = tls_close_write,
	.co_pending = tls_pending,
	.co_idle = tls_idle,
};

/* Why a handshake failed, in words. */
static void
handshake_error(SSL *ssl, int r, int sys_errno, char *err, size_t errlen)
{
	char why[400];
	long vr;

	switch (SSL_get_error(ssl, r)) {
	case SSL_ERROR_SYSCALL:
		if (ERR_peek_error() != 0)
			sslerr_text(err, errlen, "unknown error");
		else if (sys_errno != 0)
			snprintf(err, errlen, "%s", strerror(sys_errno));
		else
			snprintf(err, errlen, "connection closed by the peer "
			    "during the handshake");
		break;
	case SSL_ERROR_ZERO_RETURN:
		snprintf(err, errlen, "connection closed by the peer during "
		    "the handshake");
		break;
	case SSL_ERROR_SSL:
	default:
		/* Refused by our callbacks: say why in words. */
		if (tls_refusal(ssl) != NULL) {
			snprintf(err, errlen, "%s", tls_refusal(ssl));
			break;
		}
		sslerr_text(why, sizeof(why), "handshake failed");
		vr = SSL_get_verify_result(ssl);
		if (vr != X509_V_OK)
			snprintf(err, errlen, "%s (%s)", why,
			    X509_verify_cert_error_string(vr));
		else
			snprintf(err, errlen, "%s", why);
		break;
	}
	ERR_clear_error();
}

int
tls_accept(SSL_CTX *ctx, int fd, struct conn *c, long long deadline,
    volatile sig_atomic_t *stop, const sigset_t *sigmask, char *err,
    size_t errlen)
{
	struct pollfd pfd;
	struct timespec tsp;
	long long left;
	SSL *ssl;
	int r, fl, e, saved;

	if (errlen)
		err[0] = '\0';
	ERR_clear_error();
	if ((fl = fcntl(fd, F_GETFL)) != -1 && !(fl & O_NONBLOCK))
		(void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	if ((ssl = SSL_new(ctx)) == NULL || SSL_set_fd(ssl, fd) != 1) {
		sslerr_text(err, errlen, "out of memory");
		SSL_free(ssl);
		return TLS_ACCEPT_FAILED;
	}
	for (;;) {
		if (stop != NULL && *stop) {
			SSL_free(ssl);
			return TLS_ACCEPT_STOPPED;
		}
		ERR_clear_error();
		errno = 0;
		r = SSL_accept(ssl);
		saved = errno;
		if (r == 1)
			break;
		e = SSL_get_error(ssl, r);
		if (e == SSL_ERROR_WANT_READ)
			pfd.events = POLLIN;
		else if (e == SSL_ERROR_WANT_WRITE)
			pfd.events = POLLOUT;
		else {
			handshake_error(ssl, r, saved, err, errlen);
			SSL_free(ssl);
			return TLS_ACCEPT_FAILED;
		}
		for (;;) {
			if (stop != NULL && *stop)
				break;
			left = deadline - clock_ms();
			if (left <= 0) {
				SSL_free(ssl);
				ERR_clear_error();
				return TLS_ACCEPT_TIMEOUT;
			}
			tsp.tv_sec = left / 1000;
			tsp.tv_nsec = (left % 1000) * 1000000;
			pfd.fd = fd;
			pfd.revents = 0;
			r = ppoll(&pfd, 1, &tsp, sigmask);
			if (r > 0)
				break;	/* ready (or an error SSL_accept sees) */
			if (r == -1 && errno != EINTR) {
				snprintf(err, errlen, "poll: %s",
				    strerror(errno));
				SSL_free(ssl);
				return TLS_ACCEPT_FAILED;
			}
		}
	}
	c->c_ops = &tls_ops;
	c->c_ctx = ssl;
	c->c_fd = fd;
	ERR_clear_error();
	return TLS_ACCEPT_OK;
}

void
tls_conn_info(struct conn *c, const char **version, const char **cipher,
    char *subject, size_t sublen)
{
	SSL *ssl = c->c_ctx;
	X509 *peer;
	BIO *b;
	int n;

	*version = *cipher = "-";
	if (sublen)
		subject[0] = '\0';
	if (ssl == NULL)
		return;
	*version = SSL_get_version(ssl);
	*cipher = SSL_get_cipher_name(ssl);
	if (*cipher == NULL)
		*cipher = "-";
	if (sublen == 0 || (peer = SSL_get0_peer_certificate(ssl)) == NULL)
		return;
	if ((b = BIO_new(BIO_s_mem())) == NULL)
		return;
	if (X509_NAME_print_ex(b, X509_get_subject_name(peer), 0,
	    XN_FLAG_RFC2253) >= 0) {
		n = BIO_read(b, subject, (int)sublen - 1);
		subject[n > 0 ? n : 0] = '\0';
	}
	BIO_free(b);
	ERR_clear_error();
}

void
tls_conn_names(struct conn *c, char *sni, size_t snilen, char *alpn,
    size_t alpnlen)
{
	const unsigned char *p = NULL;
	const char *name;
	unsigned int n = 0;

	if (snilen)
		sni[0] = '\0';
	if (alpnlen)
		alpn[0] = '\0';
	if (c->c_ctx == NULL)
		return;
	name = SSL_get_servername(c->c_ctx, TLSEXT_NAMETYPE_host_name);
	if (name != NULL && snilen)
		snprintf(sni, snilen, "%s", name);
	SSL_get0_alpn_selected(c->c_ctx, &p, &n);
	if (p != NULL && n > 0 && n < alpnlen) {
		/* Bytes from the wire: log_kv() escapes what is odd. */
		memcpy(alpn, p, n);
		alpn[n] = '\0';
		if (memchr(alpn, '\0', n) != NULL)
			snprintf(alpn, alpnlen, "?");
	}
}

void
tls_conn_free(struct conn *c)
{
	SSL_free(c->c_ctx);
	c->c_ctx = NULL;
}

const char *
tls_echo_serve(void *arg, const struct conn_req *r, struct conn *c,
    long long hs_deadline, const char *peername, struct conn_tls_info *ti)
{
	const struct tls_echo_set *set = arg;
	struct logline ll;
	const char *reason;
	char err[256];

	if (set == NULL || r->cr_listener >= set->tes_count ||
	    set->tes_servers[r->cr_listener] == NULL) {
		log_errx("no TLS context for listener %s (index %u)",
		    r->cr_name, r->cr_listener);
		return "error";
	}
	switch (tls_accept(tls_server_ctx(set->tes_servers[r->cr_listener]),
	    c->c_fd, c, hs_deadline, &conn_stop, &conn_waitmask, err,
	    sizeof(err))) {
	case TLS_ACCEPT_OK:
		break;
	case TLS_ACCEPT_TIMEOUT:
		return "handshake-timeout";
	case TLS_ACCEPT_STOPPED:
		return "shutdown";
	case TLS_ACCEPT_FAILED:
	default:
		log_begin(&ll, LOG_INFO, "tls-error");
		log_kv(&ll, "peer", peername);
		log_kv(&ll, "error", err);
		log_end(&ll);
		return "tls-error";
	}
	ti->ti_ok = 1;
	reason = echo_result_name(echo_run(c, r->cr_idle_ms, &conn_stop,
	    &conn_waitmask));
	tls_conn_info(c, &ti->ti_version, &ti->ti_cipher, ti->ti_subject,
	    sizeof(ti->ti_subject));
	tls_conn_names(c, ti->ti_sni, sizeof(ti->ti_sni), ti->ti_alpn,
	    sizeof(ti->ti_alpn));
	/* The names above are OpenSSL's static strings: they outlive this. */
	tls_conn_free(c);
	return reason;
}

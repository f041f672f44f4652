/*
 * ping_tls.c - secho-ping's TLS client over OpenSSL 3 (ping_tls.h):
 * context, handshake within a deadline, non-blocking I/O, the facts of
 * the TLS line, and every failure in words (sslerr_text(), shared with
 * the daemon, for OpenSSL's error queue).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "secho/addr.h"
#include "secho/ping_conn.h"
#include "secho/ping_tls.h"
#include "secho/sslerr.h"

/* Did the server ask for a client certificate we do not have? */
static int cert_requested;

static int
client_cert_cb(SSL *ssl, X509 **x509, EVP_PKEY **pkey)
{
	(void)ssl;
	(void)x509;
	(void)pkey;
	cert_requested = 1;
	return 0;		/* go on without one */
}

SSL_CTX *
ptls_ctx_new(const struct ping_opts *o, char *err, size_t errlen)
{
	SSL_CTX *ctx;
	char why[256];
	int v;

	if ((ctx = SSL_CTX_new(o->po_proto == PING_DTLS ? DTLS_client_method() :
	    TLS_client_method())) == NULL) {
		sslerr_text(why, sizeof(why), "out of memory");
		snprintf(err, errlen, "cannot set up TLS: %s", why);
		return NULL;
	}
	v = o->po_tls_version == 13 ? TLS1_3_VERSION : TLS1_2_VERSION;
	if (o->po_proto == PING_DTLS)
		v = DTLS1_2_VERSION;	/* OpenSSL 3.0: DTLS 1.2 only */
	SSL_CTX_set_min_proto_version(ctx, v);
	if (o->po_tls_version != 0)
		SSL_CTX_set_max_proto_version(ctx, v);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	/* A server that closes without close_notify ends the echo (EOF). */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	if (o->po_insecure)
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		if (o->po_ca != NULL) {
			if (SSL_CTX_load_verify_locations(ctx, o->po_ca,
			    NULL) != 1) {
				sslerr_text(why, sizeof(why), "unreadable");
				snprintf(err, errlen, "cannot load the CA "
				    "certificates %s: %s", o->po_ca, why);
				goto fail;
			}
		} else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
			sslerr_text(why, sizeof(why), "not found");
			snprintf(err, errlen, "cannot load the system's CA "
			    "certificates: %s", why);
			goto fail;
		}
	}
	if (o->po_cert != NULL) {
		if (SSL_CTX_use_certificate_chain_file(ctx, o->po_cert) != 1) {
			sslerr_text(why, sizeof(why), "unreadable");
			snprintf(err, errlen, "cannot load the certificate %s: "
			    "%s", o->po_cert, why);
			goto fail;
		}
		if (SSL_CTX_use_PrivateKey_file(ctx, o->po_key,
		    SSL_FILETYPE_PEM) != 1) {
			sslerr_text(why, sizeof(why), "unreadable");
			snprintf(err, errlen, "cannot load the key %s: %s",
			    o->po_key, why);
			goto fail;
		}
		if (SSL_CTX_check_private_key(ctx) != 1) {
			sslerr_text(why, sizeof(why), "mismatch");
			snprintf(err, errlen, "the key %s does not match the "
			    "certificate %s: %s", o->po_key, o->po_cert, why);
			goto fail;
		}
	} else
		SSL_CTX_set_client_cert_cb(ctx, client_cert_cb);
	/* SSL_CTX_set_alpn_protos returns 0 on success. */
	if (o->po_alpn_len > 0 && SSL_CTX_set_alpn_protos(ctx, o->po_alpn_wire,
	    (unsigned)o->po_alpn_len) != 0) {
		sslerr_text(why, sizeof(why), "rejected");
		snprintf(err, errlen, "--alpn %s: %s", o->po_alpn, why);
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* HOST without brackets or zone, for IP address checks. */
static void
bare_host(const char *host, char *buf, size_t len)
{
	size_t n = strlen(host);
	char *pct;

	if (n >= 2 && host[0] == '[' && host[n - 1] == ']')
		snprintf(buf, len, "%.*s", (int)(n - 2), host + 1);
	else
		snprintf(buf, len, "%s", host);
	if ((pct = strchr(buf, '%')) != NULL)
		*pct = '\0';
}

/* The name to check and send: --sni, or HOST when it is a name. */
static int
set_names(SSL *ssl, const struct ping_opts *o, char *err, size_t errlen)
{
	char host[256];

	bare_host(o->po_host, host, sizeof(host));
	if (o->po_sni != NULL || !addr_is_literal(host)) {
		const char *name = o->po_sni ? o->po_sni : host;

		if (SSL_set_tlsext_host_name(ssl, name) != 1 ||
		    (!o->po_insecure && SSL_set1_host(ssl, name) != 1)) {
			snprintf(err, errlen, "cannot use %s as the server "
			    "name", name);
			return -1;
		}
	} else if (!o->po_insecure &&
	    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) != 1) {
		snprintf(err, errlen, "cannot check the address %s", host);
		return -1;
	}
	return 0;
}

/* Why an SSL call failed with SSL_get_error() code, in words. */
static void
fail_text(SSL *ssl, int code, int e, char *err, size_t errlen)
{
	char why[256];
	long vr;

	switch (code) {
	case SSL_ERROR_SSL:
		vr = SSL_get_verify_result(ssl);
		if (vr != X509_V_OK && SSL_get_verify_mode(ssl) != SSL_VERIFY_NONE) {
			ERR_clear_error();
			snprintf(err, errlen, "certificate verify failed: %s",
			    X509_verify_cert_error_string(vr));
			return;
		}
		sslerr_text(why, sizeof(why), "TLS protocol error");
		if (cert_requested)
			snprintf(err, errlen, "%s (the server asked for a "
			    "client certificate: give one with --cert and "
			    "--key)", why);
		else
			snprintf(err, errlen, "%s", why);
		return;
	case SSL_ERROR_ZERO_RETURN:
		snprintf(err, errlen, "the server closed the TLS connection");
		break;
	case SSL_ERROR_SYSCALL:
		snprintf(why, sizeof(why), "%s", e != 0 ?
		    ping_conn_errno_text(e) : "the server closed the connection");
		if (cert_requested)
			snprintf(err, errlen, "%s (the server asked for a "
			    "client certificate: give one with --cert and "
			    "--key)", why);
		else
			snprintf(err, errlen, "%s", why);
		break;
	default:
		sslerr_text(why, sizeof(why), "TLS error");
		snprintf(err, errlen, "%s", why);
		return;
	}
	ERR_clear_error();
}

static int
is_dtls_ctx(SSL_CTX *ctx)
{
	const SSL_METHOD *m = SSL_CTX_get_ssl_method(ctx);

	return m == DTLS_client_method();
}

/*
 * DTLS over the connected UDP socket fd: a datagram BIO (records are
 * datagrams), a path MTU of 1200 bytes rather than a guess.
 */
static int
set_dgram(SSL *ssl, int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	BIO_ADDR *peer;
	BIO *b;

	if ((b = BIO_new_dgram(fd, BIO_NOCLOSE)) == NULL)
		return 0;
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0 &&
	    (peer = BIO_ADDR_new()) != NULL) {
		if (ss.ss_family == AF_INET)
			BIO_ADDR_rawmake(peer, AF_INET,
			    &((struct sockaddr_in *)&ss)->sin_addr, 4,
			    ((struct sockaddr_in *)&ss)->sin_port);
		else
			BIO_ADDR_rawmake(peer, AF_INET6,
			    &((struct sockaddr_in6 *)&ss)->sin6_addr, 16,
			    ((struct sockaddr_in6 *)&ss)->sin6_port);
		(void)BIO_ctrl(b, BIO_CTRL_DGRAM_SET_CONNECTED, 0, peer);
		BIO_ADDR_free(peer);
	}
	SSL_set_bio(ssl, b, b);
	SSL_set_options(ssl, SSL_OP_NO_QUERY_MTU);
	(void)DTLS_set_link_mtu(ssl, 1200);
	return 1;
}

SSL *
ptls_handshake(SSL_CTX *ctx, int fd, const struct ping_opts *o,
    SSL_SESSION *session, long long deadline, char *err, size_t errlen,
    int *interrupted)
{
	SSL *ssl;
	char why[256];
	int rc, code, w, dtls = is_dtls_ctx(ctx);
	long long timer;
	struct timeval tv;
	short rev;

	*interrupted = 0;
	cert_requested = 0;
	ERR_clear_error();
	if ((ssl = SSL_new(ctx)) == NULL || (dtls ? set_dgram(ssl, fd) :
	    SSL_set_fd(ssl, fd)) != 1) {
		sslerr_text(why, sizeof(why), "out of memory");
		snprintf(err, errlen, "cannot set up TLS: %s", why);
		SSL_free(ssl);
		return NULL;
	}
	if (set_names(ssl, o, err, errlen) == -1)
		goto fail;
	if (session != NULL)
		SSL_set_session(ssl, session);
	for (;;) {
		errno = 0;
		if ((rc = SSL_connect(ssl)) == 1)
			return ssl;
		code = SSL_get_error(ssl, rc);
		if (code != SSL_ERROR_WANT_READ && code != SSL_ERROR_WANT_WRITE) {
			fail_text(ssl, code, errno, err, errlen);
			goto fail;
		}
		/*
		 * DTLS: lost datagrams are sent again when OpenSSL's
		 * timer says so; the wait ends then at the latest.
		 */
		timer = dtls && DTLSv1_get_timeout(ssl, &tv) == 1 ?
		    ping_conn_now_ns() + (long long)tv.tv_sec * 1000000000LL +
		    (long long)tv.tv_usec * 1000 : 0;
		w = ping_conn_wait(fd, code == SSL_ERROR_WANT_READ ? POLLIN :
		    POLLOUT, timer && timer < deadline ? timer : deadline,
		    &rev);
		if (w == 0 && timer && timer < deadline) {
			if (DTLSv1_handle_timeout(ssl) < 0) {
				fail_text(ssl, SSL_ERROR_SSL, 0, err, errlen);
				goto fail;
			}
			continue;
		}
		if (w == -1) {
			*interrupted = 1;
			snprintf(err, errlen, "interrupted");
			goto fail;
		}
		if (w == 0) {
			snprintf(err, errlen, "no answer to the handshake in "
			    "time (-W)");
			goto fail;
		}
		if (w < 0) {
			snprintf(err, errlen, "%s", strerror(errno));
			goto fail;
		}
	}
fail:
	SSL_free(ssl);
	return NULL;
}

void
ptls_info(SSL *ssl, const struct ping_opts *o, struct ping_tls_info *ti)
{
	const unsigned char *alpn;
	unsigned alen;
	X509 *cert;
	BIO *bio;
	struct tm tm;
	char *p;
	long n;
	size_t len;

	memset(ti, 0, sizeof(*ti));
	ti->ti_set = 1;
	snprintf(ti->ti_version, sizeof(ti->ti_version), "%s",
	    SSL_get_version(ssl));
	snprintf(ti->ti_cipher, sizeof(ti->ti_cipher), "%s",
	    SSL_CIPHER_get_name(SSL_get_current_cipher(ssl)));
	SSL_get0_alpn_selected(ssl, &alpn, &alen);
	if (alpn != NULL && alen > 0 && alen < sizeof(ti->ti_alpn)) {
		memcpy(ti->ti_alpn, alpn, alen);
		ti->ti_alpn[alen] = '\0';
	}
	ti->ti_verified = !o->po_insecure &&
	    SSL_get_verify_result(ssl) == X509_V_OK;
	if ((cert = SSL_get0_peer_certificate(ssl)) == NULL)
		return;
	ti->ti_has_cert = 1;
	/* RFC 2253 as the daemon logs client_subject, UTF-8 kept. */
	if ((bio = BIO_new(BIO_s_mem())) != NULL) {
		if (X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0,
		    XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0 &&
		    (n = BIO_get_mem_data(bio, &p)) > 0) {
			len = (size_t)n;
			/* Too long: cut where a character starts (UTF-8). */
			if (len >= sizeof(ti->ti_subject)) {
				len = sizeof(ti->ti_subject) - 1;
				while (len > 0 && ((unsigned char)p[len] &
				    0xc0) == 0x80)
					len--;
			}
			memcpy(ti->ti_subject, p, len);
			ti->ti_subject[len] = '\0';
		}
		BIO_free(bio);
	}
	if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) == 1)
		ti->ti_not_after = (long long)timegm(&tm);
}

static int
io_result(SSL *ssl, int code, short *want, char *err, size_t errlen)
{
	int e = errno;

	switch (code) {
	case SSL_ERROR_WANT_READ:
		*want = POLLIN;
		return PTLS_AGAIN;
	case SSL_ERROR_WANT_WRITE:
		*want = POLLOUT;
		return PTLS_AGAIN;
	case SSL_ERROR_ZERO_RETURN:
		ERR_clear_error();
		return PTLS_EOF;
	case SSL_ERROR_SYSCALL:
		if (e == 0) {
			ERR_clear_error();
			return PTLS_EOF;
		}
		fail_text(ssl, code, e, err, errlen);
		return PTLS_ERROR;
	default:
		fail_text(ssl, code, e, err, errlen);
		return PTLS_PROTO;
	}
}

int
ptls_read(SSL *ssl, void *buf, size_t len, short *want, char *err,
    size_t errlen)
{
	size_t n;

	errno = 0;
	if (SSL_read_ex(ssl, buf, len, &n) == 1) {
		cert_requested = 0;	/* it echoed: our certificate will do */
		return (int)n;
	}
	return io_result(ssl, SSL_get_error(ssl, 0), want, err, errlen);
}

/*
 * A write failed.  A TLS 1.3 server that refuses our certificate sends
 * its alert and closes: a large probe meets the reset (or EPIPE) before
 * reading the alert, which may still wait in the socket.  One read
 * without waiting picks it up: 1 with its reason in err, or 0.
 */
static int
queued_alert(SSL *ssl, char *err, size_t errlen)
{
	unsigned char buf[256];
	unsigned long e;
	size_t n;

	ERR_clear_error();
	errno = 0;
	if (SSL_read_ex(ssl, buf, sizeof(buf), &n) == 1 ||
	    SSL_get_error(ssl, 0) != SSL_ERROR_SSL)
		goto none;
	/* A received alert is the reason SSL_AD_REASON_OFFSET + its code. */
	e = ERR_peek_error();
	if (ERR_GET_LIB(e) != ERR_LIB_SSL ||
	    ERR_GET_REASON(e) < SSL_AD_REASON_OFFSET)
		goto none;
	fail_text(ssl, SSL_ERROR_SSL, 0, err, errlen);
	return 1;
none:
	ERR_clear_error();
	return 0;
}

int
ptls_write(SSL *ssl, const void *buf, size_t len, short *want, char *err,
    size_t errlen)
{
	size_t n;
	int rc;

	errno = 0;
	if (SSL_write_ex(ssl, buf, len, &n) == 1)
		return (int)n;
	rc = io_result(ssl, SSL_get_error(ssl, 0), want, err, errlen);
	if (rc != PTLS_AGAIN && queued_alert(ssl, err, errlen))
		return PTLS_PROTO;
	return rc;
}

int
ptls_peek(SSL *ssl)
{
	unsigned char c;
	size_t n;
	short want;
	char err[256];

	errno = 0;
	if (SSL_peek_ex(ssl, &c, 1, &n) == 1)
		return (int)n;
	return io_result(ssl, SSL_get_error(ssl, 0), &want, err, sizeof(err));
}

void
ptls_close(SSL **ssl)
{
	if (*ssl == NULL)
		return;
	(void)SSL_shutdown(*ssl);
	ERR_clear_error();
	SSL_free(*ssl);
	*ssl = NULL;
}

/*
 * ping_tls.h - secho-ping's TLS client (OpenSSL 3): the context from the
 * options, a handshake bounded by a deadline, reads and writes on a
 * non-blocking socket, what the TLS line reports, and failures in words.
 */
#ifndef SECHO_PING_TLS_H
#define SECHO_PING_TLS_H

#include <stddef.h>
#include <openssl/ssl.h>

#include "secho/ping_args.h"
#include "secho/ping_report.h"

/* I/O results besides a byte count (> 0). */
#define PTLS_EOF	0	/* the server closed (close_notify or EOF) */
#define PTLS_AGAIN	(-1)	/* would block; *want is POLLIN or POLLOUT */
#define PTLS_ERROR	(-2)	/* connection error (reset, ...); err */
#define PTLS_PROTO	(-3)	/* TLS protocol error or alert; err */

/*
 * The client context: trust (--ca or the system store) unless
 * --insecure, client certificate and key, version, ALPN.  Returns it, or
 * NULL with the reason (naming the file) in err.
 */
SSL_CTX	*ptls_ctx_new(const struct ping_opts *o, char *err, size_t errlen);

/*
 * Handshake over the connected non-blocking fd before deadline (ns,
 * monotonic), offering session when not NULL.  Verifies the name --sni
 * or HOST (an IP literal as an address), sends SNI for names.  Returns
 * the SSL, or NULL with the reason in err (*interrupted set when a signal
 * ended it).
 */
SSL	*ptls_handshake(SSL_CTX *ctx, int fd, const struct ping_opts *o,
	    SSL_SESSION *session, long long deadline, char *err, size_t errlen,
	    int *interrupted);

/* Version, cipher, ALPN, certificate subject and expiry, verified. */
void	 ptls_info(SSL *ssl, const struct ping_opts *o,
	    struct ping_tls_info *ti);

/* SSL_read/SSL_write with the results above. */
int	 ptls_read(SSL *ssl, void *buf, size_t len, short *want, char *err,
	    size_t errlen);
int	 ptls_write(SSL *ssl, const void *buf, size_t len, short *want,
	    char *err, size_t errlen);

/*
 * Look without waiting and without taking anything: PTLS_AGAIN when
 * nothing came (the connection is open and quiet), PTLS_EOF when the
 * server closed it, > 0 when application data waits, PTLS_ERROR or
 * PTLS_PROTO otherwise.
 */
int	 ptls_peek(SSL *ssl);

/* Send close_notify (without waiting for the answer) and free. */
void	 ptls_close(SSL **ssl);

#endif

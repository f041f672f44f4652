/*
 * tls_echo.h - TLS connections (tls_echo.c): handshake and echo in a
 * connection's process.
 */
#ifndef SECHO_TLS_ECHO_H
#define SECHO_TLS_ECHO_H

#include <signal.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "secho/conn.h"
#include "secho/echo.h"

struct tls_server;

/* The contexts of one configuration, indexed like cfg->listeners. */
struct tls_echo_set {
	struct tls_server	**tes_servers;	/* NULL for non-TLS listeners */
	size_t			  tes_count;
};

/* Results of tls_accept(). */
#define TLS_ACCEPT_OK		0
#define TLS_ACCEPT_FAILED	(-1)	/* err holds the reason */
#define TLS_ACCEPT_TIMEOUT	(-2)
#define TLS_ACCEPT_STOPPED	(-3)

/*
 * Handshake on socket fd (made non-blocking) by deadline (clock_ms()),
 * waiting in ppoll with sigmask; on success c is a TLS conn for
 * echo_run().  err receives the OpenSSL reason in words on failure.
 */
int	tls_accept(SSL_CTX *ctx, int fd, struct conn *c, long long deadline,
	    volatile sig_atomic_t *stop, const sigset_t *sigmask, char *err,
	    size_t errlen);

/*
 * After the handshake: protocol ("TLSv1.3"), cipher (OpenSSL name) and,
 * when a client certificate was presented, its subject in RFC 2253 form
 * (empty string otherwise).
 */
void	tls_conn_info(struct conn *c, const char **version,
	    const char **cipher, char *subject, size_t sublen);

/*
 * After the handshake: the server name the client sent and the ALPN
 * protocol negotiated ("" when none), NUL-terminated, cut to fit.
 */
void	tls_conn_names(struct conn *c, char *sni, size_t snilen, char *alpn,
	    size_t alpnlen);

/* Free the SSL of a conn (does not close the fd). */
void	tls_conn_free(struct conn *c);

/* struct conn_proto's cp_serve for TLS; arg is a struct tls_echo_set. */
const char *tls_echo_serve(void *arg, const struct conn_req *r,
	    struct conn *c, long long hs_deadline, const char *peername,
	    struct conn_tls_info *ti);

#endif

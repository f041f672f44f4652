/*
 * tls.h - OpenSSL: one SSL_CTX per tls listener, built in the master
 * (so certificate errors are start-up errors and every child shares the
 * ticket keys); one SSL per connection, in the child.
 */
#ifndef SECHO_TLS_H
#define SECHO_TLS_H

#include <signal.h>
#include <stddef.h>

#include "secho/config.h"
#include "secho/echo.h"

struct tls_server;

/* Library set-up, once in main(). */
void	tls_global_init(void);

/*
 * Build the context of a tls listener: certificate chain, key (must
 * match), client CA and verification, protocol floor, ciphers, groups,
 * tickets.  cfgfile names the configuration in messages.  Returns NULL
 * with err set to a readable reason naming the file ("PATH: ...").
 */
struct tls_server *tls_server_new(const struct tls_config *tc,
	    const char *cfgfile, char *err, size_t errlen);
void	tls_server_free(struct tls_server *ts);

/*
 * Warnings that do not stop a start (certificate expired / not yet
 * valid), one per line into warn (empty when none).
 */
void	tls_server_warnings(struct tls_server *ts, char *warn, size_t len);

/* Results of tls_accept(). */
#define TLS_ACCEPT_OK		0
#define TLS_ACCEPT_FAILED	(-1)	/* err holds the reason */
#define TLS_ACCEPT_TIMEOUT	(-2)
#define TLS_ACCEPT_STOPPED	(-3)

/*
 * In the child: handshake on the non-blocking socket fd within timeout_ms
 * (waiting in ppoll with sigmask); on success c is a TLS conn for
 * echo_run().  err receives the OpenSSL reason in words on failure.
 */
int	tls_accept(struct tls_server *ts, int fd, struct conn *c,
	    int timeout_ms, volatile sig_atomic_t *stop,
	    const sigset_t *sigmask, char *err, size_t errlen);

/*
 * After the handshake: protocol ("TLSv1.3"), cipher (OpenSSL name) and,
 * when a client certificate was presented, its subject in RFC 2253 form
 * (empty string otherwise).
 */
void	tls_conn_info(struct conn *c, const char **version,
	    const char **cipher, char *subject, size_t sublen);

/* Free the SSL of a conn (does not close the fd). */
void	tls_conn_free(struct conn *c);

/*
 * Ticket keys: kept in the master's memory only (created by the first
 * tls_server_new()), inherited by children at fork.  Call periodically
 * from the master with CLOCK_MONOTONIC ms; rotates every 12 h.
 */
void	tls_tick(long long now_ms);

/*
 * Rotate the ticket keys now (the master, on every reload): tickets
 * sealed with the key before stay valid for one more period and are
 * renewed when used.
 */
void	tls_rotate_keys(void);

#endif

/*
 * tls.h - OpenSSL contexts: one SSL_CTX per tls listener, built in the
 * master (so certificate errors are start-up errors, or a failed reload)
 * and inherited by the TLS engine with the ticket keys; the connections
 * themselves are tls_echo.c's.
 */
#ifndef SECHO_TLS_H
#define SECHO_TLS_H

#include <signal.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "secho/config.h"

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

/* The OpenSSL context of ts, for a connection's handshake (tls_echo.c). */
SSL_CTX	*tls_server_ctx(const struct tls_server *ts);

/*
 * Ticket keys: a ring (current + previous) in the master's memory only
 * (created by the first tls_server_new()), inherited by the TLS engine
 * at its fork and by its connections' processes.  Call from the master
 * with CLOCK_MONOTONIC ms: every 12 h it rotates the keys and returns 1,
 * and the master then starts a TLS engine that has them.
 */
int	tls_tick(long long now_ms);

/*
 * Rotate the ticket keys now (the master, on every reload, before it
 * starts the new TLS engine): tickets sealed with the key before stay
 * valid for one more period and are renewed when used.
 */
void	tls_rotate_keys(void);

#endif

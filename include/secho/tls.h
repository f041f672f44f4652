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
 * Build the contexts of a tls listener: the default one (certificate
 * chains, one per key type, keys that must match, OCSP responses,
 * client CA and verification, protocol floor, ciphers, groups, tickets,
 * ALPN) and one per sni entry.  cfgfile names the configuration in
 * messages.  Returns NULL with err set to a readable reason naming the
 * file ("FILE:LINE: PATH: ...").  No key log until
 * tls_server_set_keylog().
 */
struct tls_server *tls_server_new(const struct tls_config *tc,
	    const char *cfgfile, char *err, size_t errlen);
/* The same for a listener of proto (SECHO_PROTO_TLS or _DTLS). */
struct tls_server *tls_server_new_proto(const struct tls_config *tc,
	    int proto, const char *cfgfile, char *err, size_t errlen);
void	tls_server_free(struct tls_server *ts);

/*
 * Warnings that do not stop a start (a certificate expired or not yet
 * valid, an OCSP response not for its certificate or outside its
 * validity), one per line into warn (empty when none).
 */
void	tls_server_warnings(struct tls_server *ts, char *warn, size_t len);

/* The OpenSSL context of ts, for a connection's handshake (tls_echo.c). */
SSL_CTX	*tls_server_ctx(const struct tls_server *ts);

/*
 * The key log files of one generation (tls_keylog.c), opened by the
 * master: each path once, O_APPEND, created 0600.
 */
#define TLS_KEYLOG_MAX	16
struct tls_keylogs {
	char	**kl_paths;
	int	 *kl_fds;
	size_t	  kl_count;
};

/* The descriptor for path (opened now or before), or -1 with err set. */
int	tls_keylogs_open(struct tls_keylogs *k, const char *path, char *err,
	    size_t errlen);
/* -t: could it be opened (or created)?  0, or -1 with err set. */
int	tls_keylog_check(const char *path, char *err, size_t errlen);
/* Its descriptors into fds (at most max); how many. */
size_t	tls_keylogs_fds(const struct tls_keylogs *k, int *fds, size_t max);
/*
 * In the TLS engine, after the fork: its descriptors move below
 * ENGINE_FD_BASE (each connection's process keeps those), and the n
 * servers ts[] that write to them follow.
 */
void	tls_keylogs_lower(struct tls_keylogs *k, struct tls_server **ts,
	    size_t n);
void	tls_keylogs_close(struct tls_keylogs *k);
/* ts writes its secrets to fd (not owned), or to none with -1. */
void	tls_server_set_keylog(struct tls_server *ts, int fd);

/* An OCSP response's state at now (all in seconds since the epoch). */
#define TLS_OCSP_VALID		0
#define TLS_OCSP_NOT_YET	1	/* this_update ahead (5 min leeway) */
#define TLS_OCSP_EXPIRED	2	/* next_update passed (0: none) */
#define TLS_OCSP_INVALID	3	/* no this_update */
int	tls_ocsp_state(long long this_update, long long next_update,
	    long long now);

/* "RSA", "ECDSA", "Ed25519" ... for an EVP_PKEY_get_base_id() value. */
const char *tls_key_type_name(int type);

/*
 * Does the server name (len bytes, any case, maybe a trailing dot)
 * match pattern (lower case; "*." matches exactly one leftmost label)?
 */
int	tls_sni_match(const char *pattern, const char *name, size_t len);

/* Why our callbacks refused a handshake ("unrecognized name"), or NULL. */
const char *tls_refusal(const SSL *ssl);

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

/*
 * The DTLS cookie secrets, rotated with the ticket keys: current first,
 * then the previous one, into out; how many (0 before the first
 * context).
 */
size_t	tls_cookie_secrets(const unsigned char *out[2]);

#endif

/*
 * tls.c - OpenSSL for the tls listeners.
 *
 * The master builds one SSL_CTX per tls listener (tls_server_new), at
 * start and again on reload, so a bad certificate is a start-up error or
 * a failed reload that keeps the old contexts.  Each connection's child,
 * a fork of the master, runs the handshake (tls_accept) and then the echo
 * over the conn interface of echo.h.
 *
 * Resumption across processes: a server-side session cache lives in one
 * process and dies with the child, so it is off; resumption uses session
 * tickets only.  Their keys are a small ring (current + previous) held in
 * the master's memory, never written to disk (locked, left out of core
 * dumps), created before the first fork and so shared by every child.
 * The master rotates them (tls_tick: every TICKET_ROTATE_MS; and on every
 * reload); a ticket sealed with the previous key is still accepted for
 * one period and renewed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "secho/clock.h"
#include "secho/log.h"
#include "secho/sslerr.h"
#include "secho/tls.h"
#include "secho/tlsmem.h"

/* Ticket keys change every 12 h; a rotated-out key lasts 12 h more. */
#define TICKET_ROTATE_MS	(12LL * 3600 * 1000)
/* Session (ticket) lifetime: at most one rotation period. */
#define SESSION_LIFETIME_S	7200

struct tls_server {
	SSL_CTX		*ts_ctx;
	char		*ts_cert_path;
	char		 ts_cert_where[300];	/* "FILE:LINE: " or "" */
};

/* ---- error text ---- */

/* "FILE:LINE: " (or "FILE: ") for messages about a setting. */
static void
where(char *buf, size_t len, const char *cfgfile, int line)
{
	if (cfgfile == NULL || *cfgfile == '\0')
		snprintf(buf, len, "%s", "");
	else if (line > 0)
		snprintf(buf, len, "%s:%d: ", cfgfile, line);
	else
		snprintf(buf, len, "%s: ", cfgfile);
}

/* ---- ticket keys ---- */

struct ticket_key {
	unsigned char	tk_name[16];
	unsigned char	tk_aes[32];
	unsigned char	tk_hmac[32];
};

struct ticket_ring {
	struct ticket_key	tr_keys[2];	/* [0] current, [1] previous */
	int			tr_count;	/* keys in use: 0..2 */
	long long		tr_rotated_ms;	/* CLOCK_MONOTONIC */
};

static struct ticket_ring *ring;

/*
 * The ring lives on its own page: locked (not swapped out) and left out
 * of core dumps, where the kernel lets us; children inherit it at fork.
 */
static int
ring_init(void)
{
	void *p;

	if (ring != NULL)
		return 0;
	p = mmap(NULL, sizeof(*ring), PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -1;
	(void)mlock(p, sizeof(*ring));
	(void)madvise(p, sizeof(*ring), MADV_DONTDUMP);
	ring = p;
	memset(ring, 0, sizeof(*ring));
	return 0;
}

/* New current key; the current one becomes the previous one. */
static int
ring_rotate(long long now)
{
	struct ticket_key k;

	if (ring_init() == -1)
		return -1;
	if (RAND_bytes(k.tk_name, sizeof(k.tk_name)) != 1 ||
	    RAND_priv_bytes(k.tk_aes, sizeof(k.tk_aes)) != 1 ||
	    RAND_priv_bytes(k.tk_hmac, sizeof(k.tk_hmac)) != 1) {
		OPENSSL_cleanse(&k, sizeof(k));
		ERR_clear_error();
		return -1;
	}
	ring->tr_keys[1] = ring->tr_keys[0];
	ring->tr_keys[0] = k;
	OPENSSL_cleanse(&k, sizeof(k));
	if (ring->tr_count < 2)
		ring->tr_count++;
	ring->tr_rotated_ms = now;
	return 0;
}

static int
ticket_mac_init(EVP_MAC_CTX *hctx, unsigned char *key)
{
	OSSL_PARAM params[3];
	char digest[] = "SHA256";

	params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY,
	    key, 32);
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
	    digest, 0);
	params[2] = OSSL_PARAM_construct_end();
	return EVP_MAC_CTX_set_params(hctx, params);
}

/*
 * SSL_CTX_set_tlsext_ticket_key_evp_cb: seal with the current key;
 * open with the current or the previous key and return 2 ("valid,
 * renew") for both; 0 for an unknown key (full handshake, new ticket).
 * With 1 ("valid, do not renew") OpenSSL 3 sends no NewSessionTicket on
 * a resumed TLS 1.3 handshake, and a client that uses each ticket once
 * (RFC 8446, C.4: browsers, Go, rustls) resumes every other time only.
 */
static int
ticket_cb(SSL *ssl, unsigned char key_name[16], unsigned char iv[16],
    EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	struct ticket_key *k;
	int i;

	if (ring == NULL || ring->tr_count == 0)
		return 0;	/* no keys: no ticket, full handshakes */
	if (enc) {
		k = &ring->tr_keys[0];
		if (RAND_bytes(iv, 16) != 1)	/* AES block = IV size */
			return -1;
		memcpy(key_name, k->tk_name, 16);
		if (EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL,
		    k->tk_aes, iv) != 1 || ticket_mac_init(hctx,
		    k->tk_hmac) != 1)
			return -1;
		return 1;
	}
	for (i = 0; i < ring->tr_count; i++) {
		k = &ring->tr_keys[i];
		if (CRYPTO_memcmp(key_name, k->tk_name, 16) != 0)
			continue;
		if (ticket_mac_init(hctx, k->tk_hmac) != 1 ||
		    EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL,
		    k->tk_aes, iv) != 1)
			return -1;
		return 2;
	}
	return 0;
}

int
tls_tick(long long now_ms)
{
	if (ring == NULL || ring->tr_count == 0)
		return 0;	/* no tls listener yet */
	if (now_ms - ring->tr_rotated_ms < TICKET_ROTATE_MS)
		return 0;
	if (ring_rotate(now_ms) == -1) {
		log_warnx("tls: cannot rotate session ticket keys");
		return 0;
	}
	return 1;
}

void
tls_rotate_keys(void)
{
	if (ring_rotate(clock_ms()) == -1)
		log_warnx("tls: cannot rotate session ticket keys");
}

/* ---- global ---- */

void
tls_global_init(void)
{
	OPENSSL_init_ssl(OPENSSL_INIT_LOAD_SSL_STRINGS |
	    OPENSSL_INIT_LOAD_CRYPTO_STRINGS, NULL);
}

/* ---- contexts ---- */

/* Passphrase prompts would hang a daemon: refuse, and remember it. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	if (u != NULL)
		*(int *)u = 1;
	return -1;
}

/* fopen() first, so an unreadable file gets the system's words. */
static int
readable(const char *path, char *why, size_t len)
{
	FILE *f;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(why, len, "%s", strerror(errno));
		return 0;
	}
	fclose(f);
	return 1;
}

static EVP_PKEY *
load_key(const char *path, char *why, size_t len)
{
	EVP_PKEY *pkey;
	FILE *f;
	int asked = 0;

	if ((f = fopen(path, "r")) == NULL) {
		snprintf(why, len, "%s", strerror(errno));
		return NULL;
	}
	ERR_clear_error();
	pkey = PEM_read_PrivateKey(f, NULL, no_passphrase, &asked);
	fclose(f);
	if (pkey == NULL) {
		if (asked) {
			ERR_clear_error();
			snprintf(why, len, "the private key is encrypted "
			    "(a passphrase-protected key cannot be used)");
		} else {
			char r[200];
			sslerr_text(r, sizeof(r), "unknown error");
			snprintf(why, len, "no private key could be read (%s)",
			    r);
		}
	}
	return pkey;
}

/* A session ID context per distinct security setting (see below). */
static void
set_sid_ctx(SSL_CTX *ctx, const struct tls_config *tc)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *m;
	char head[64];

	/*
	 * A session (ticket) must not resume on a listener whose client
	 * certificate rules differ (the key ring is shared by all of them):
	 * OpenSSL refuses a session whose context differs.
	 */
	snprintf(head, sizeof(head), "secho verify=%d|", tc->tc_verify_client);
	if ((m = EVP_MD_CTX_new()) == NULL)
		goto fallback;
	if (EVP_DigestInit_ex(m, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(m, head, strlen(head)) != 1 ||
	    EVP_DigestUpdate(m, tc->tc_client_ca ? tc->tc_client_ca : "",
	    tc->tc_client_ca ? strlen(tc->tc_client_ca) + 1 : 1) != 1 ||
	    EVP_DigestUpdate(m, tc->tc_certificate ? tc->tc_certificate : "",
	    tc->tc_certificate ? strlen(tc->tc_certificate) + 1 : 1) != 1 ||
	    EVP_DigestFinal_ex(m, md, &mdlen) != 1)
		mdlen = 0;
	EVP_MD_CTX_free(m);
	if (mdlen > SSL_MAX_SID_CTX_LENGTH)
		mdlen = SSL_MAX_SID_CTX_LENGTH;
	if (mdlen > 0) {
		SSL_CTX_set_session_id_context(ctx, md, mdlen);
		return;
	}
fallback:
	ERR_clear_error();
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)head,
	    (unsigned int)strlen(head));
}

/*
 * One handshake in memory (a BIO pair), client and server both ours, so
 * that OpenSSL's lazy set-up -- algorithm fetches, provider caches,
 * key schedules of the certificate -- happens once here in the master
 * and every child inherits it at fork, instead of each child paying for
 * it on its first handshake (about a millisecond, measured with
 * bench/).  Failures do not matter: it is only a warm-up.
 */
static void
warm_up(SSL_CTX *sctx, int version)
{
	SSL_CTX *cctx = NULL;
	SSL *s = NULL, *c = NULL;
	BIO *sb = NULL, *cb = NULL;
	unsigned char byte = 'w';
	size_t n;
	int i, sdone = 0, cdone = 0;

	if ((cctx = SSL_CTX_new(TLS_client_method())) == NULL)
		goto out;
	SSL_CTX_set_verify(cctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_max_proto_version(cctx, version);
	if ((s = SSL_new(sctx)) == NULL || (c = SSL_new(cctx)) == NULL)
		goto out;
	if (BIO_new_bio_pair(&sb, 0, &cb, 0) != 1)
		goto out;
	SSL_set_bio(s, sb, sb);
	SSL_set_bio(c, cb, cb);
	SSL_set_accept_state(s);
	SSL_set_connect_state(c);
	for (i = 0; i < 20 && !(sdone && cdone); i++) {
		if (!cdone && SSL_do_handshake(c) == 1)
			cdone = 1;
		if (!sdone && SSL_do_handshake(s) == 1)
			sdone = 1;
	}
	if (sdone && cdone && SSL_write_ex(c, &byte, 1, &n) == 1)
		SSL_read_ex(s, &byte, 1, &n);
out:
	SSL_free(s);
	SSL_free(c);
	SSL_CTX_free(cctx);
	ERR_clear_error();
}

struct tls_server *
tls_server_new(const struct tls_config *tc, const char *cfgfile, char *err,
    size_t errlen)
{
	struct tls_server *ts = NULL;
	SSL_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	X509 *leaf;
	STACK_OF(X509_NAME) *names;
	char at[300], why[512];
	const char *cert = tc->tc_certificate, *key = tc->tc_private_key;
	const char *ca = tc->tc_client_ca;

	ERR_clear_error();
	if (ring_init() == -1 || (ring->tr_count == 0 &&
	    ring_rotate(clock_ms()) == -1)) {
		snprintf(err, errlen, "cannot create session ticket keys");
		return NULL;
	}
	if (cert == NULL || key == NULL) {
		where(at, sizeof(at), cfgfile, tc->tc_line);
		snprintf(err, errlen, "%stls listener without %s", at,
		    cert == NULL ? "tls.certificate" : "tls.private_key");
		return NULL;
	}
	if ((ts = calloc(1, sizeof(*ts))) == NULL ||
	    (ts->ts_cert_path = strdup(cert)) == NULL ||
	    (ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	where(ts->ts_cert_where, sizeof(ts->ts_cert_where), cfgfile,
	    tc->tc_certificate_line ? tc->tc_certificate_line : tc->tc_line);

	/* Protocol: TLS 1.2 or 1.3 as the floor, nothing older. */
	where(at, sizeof(at), cfgfile, tc->tc_line);
	if (SSL_CTX_set_min_proto_version(ctx, tc->tc_min_protocol) != 1) {
		sslerr_text(why, sizeof(why), "unsupported version");
		snprintf(err, errlen, "%stls.min_protocol: %s", at, why);
		goto fail;
	}
	/*
	 * OpenSSL 3 already refuses client-initiated renegotiation and has
	 * no compression by default; say so anyway, for every build.
	 */
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	/*
	 * The echo buffer (echo.c) offers the same pointer and at least the
	 * same length when it retries a write, so partial writes suffice;
	 * moving buffers are accepted anyway.  Idle connections give their
	 * record buffers back.
	 */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/* Fewer reads per record: one recv() can bring several records. */
	SSL_CTX_set_read_ahead(ctx, 1);

	if (tc->tc_ciphers && SSL_CTX_set_cipher_list(ctx,
	    tc->tc_ciphers) != 1) {
		sslerr_text(why, sizeof(why), "no cipher matched");
		snprintf(err, errlen, "%stls.ciphers \"%s\": %s", at,
		    tc->tc_ciphers, why);
		goto fail;
	}
	if (tc->tc_ciphersuites && SSL_CTX_set_ciphersuites(ctx,
	    tc->tc_ciphersuites) != 1) {
		sslerr_text(why, sizeof(why), "no cipher suite matched");
		snprintf(err, errlen, "%stls.ciphersuites \"%s\": %s", at,
		    tc->tc_ciphersuites, why);
		goto fail;
	}
	if (tc->tc_groups && SSL_CTX_set1_groups_list(ctx,
	    tc->tc_groups) != 1) {
		sslerr_text(why, sizeof(why), "unknown group");
		snprintf(err, errlen, "%stls.groups \"%s\": %s", at,
		    tc->tc_groups, why);
		goto fail;
	}

	/* Certificate chain, then a key that must match its leaf. */
	if (!readable(cert, why, sizeof(why))) {
		snprintf(err, errlen, "%s%s: %s", ts->ts_cert_where, cert, why);
		goto fail;
	}
	SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
	SSL_CTX_set_default_passwd_cb_userdata(ctx, NULL);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		sslerr_text(why, sizeof(why), "unknown error");
		snprintf(err, errlen, "%s%s: no usable PEM certificate (%s)",
		    ts->ts_cert_where, cert, why);
		goto fail;
	}
	where(at, sizeof(at), cfgfile, tc->tc_private_key_line ?
	    tc->tc_private_key_line : tc->tc_line);
	if ((pkey = load_key(key, why, sizeof(why))) == NULL) {
		snprintf(err, errlen, "%s%s: %s", at, key, why);
		goto fail;
	}
	leaf = SSL_CTX_get0_certificate(ctx);
	if (leaf == NULL || X509_get0_pubkey(leaf) == NULL ||
	    EVP_PKEY_eq(X509_get0_pubkey(leaf), pkey) != 1) {
		ERR_clear_error();
		snprintf(err, errlen, "%s%s: the private key does not match "
		    "the certificate in %s", at, key, cert);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey(ctx, pkey) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		sslerr_text(why, sizeof(why), "unknown error");
		snprintf(err, errlen, "%s%s: %s", at, key, why);
		goto fail;
	}
	EVP_PKEY_free(pkey);
	pkey = NULL;

	/* Client certificates. */
	if (ca != NULL && *ca != '\0') {
		where(at, sizeof(at), cfgfile, tc->tc_client_ca_line ?
		    tc->tc_client_ca_line : tc->tc_line);
		if (!readable(ca, why, sizeof(why))) {
			snprintf(err, errlen, "%s%s: %s", at, ca, why);
			goto fail;
		}
		if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
			sslerr_text(why, sizeof(why), "unknown error");
			snprintf(err, errlen, "%s%s: no usable PEM CA "
			    "certificate (%s)", at, ca, why);
			goto fail;
		}
		if ((names = SSL_load_client_CA_file(ca)) == NULL) {
			sslerr_text(why, sizeof(why), "no certificate found");
			snprintf(err, errlen, "%s%s: %s", at, ca, why);
			goto fail;
		}
		SSL_CTX_set_client_CA_list(ctx, names);
	}
	switch (tc->tc_verify_client) {
	case SECHO_VERIFY_REQUIRE:
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
		    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
		break;
	case SECHO_VERIFY_OPTIONAL:
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
		break;
	default:
		SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
		break;
	}

	/*
	 * Sessions: no server-side cache (it would live in one child and
	 * die with it); stateless tickets under the shared key ring.
	 */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	set_sid_ctx(ctx, tc);
	SSL_CTX_set_timeout(ctx, SESSION_LIFETIME_S);
	if (tc->tc_session_tickets) {
		SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
	} else {
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
		SSL_CTX_set_num_tickets(ctx, 0);
	}

	ts->ts_ctx = ctx;
	warm_up(ctx, TLS1_3_VERSION);
	warm_up(ctx, TLS1_2_VERSION);
	ERR_clear_error();
	return ts;

fail:
	EVP_PKEY_free(pkey);
	SSL_CTX_free(ctx);
	if (ts != NULL)
		free(ts->ts_cert_path);
	free(ts);
	ERR_clear_error();
	return NULL;
}

void
tls_server_free(struct tls_server *ts)
{
	if (ts == NULL)
		return;
	SSL_CTX_free(ts->ts_ctx);
	free(ts->ts_cert_path);
	free(ts);
}

static void
asn1_time_text(const ASN1_TIME *t, char *buf, size_t len)
{
	BIO *b;
	int n;

	buf[0] = '\0';
	if ((b = BIO_new(BIO_s_mem())) == NULL)
		return;
	if (ASN1_TIME_print(b, t) == 1) {
		n = BIO_read(b, buf, (int)len - 1);
		buf[n > 0 ? n : 0] = '\0';
	}
	BIO_free(b);
	ERR_clear_error();
}

void
tls_server_warnings(struct tls_server *ts, char *warn, size_t len)
{
	X509 *leaf;
	char when[64];

	if (len == 0)
		return;
	warn[0] = '\0';
	if (ts == NULL || (leaf = SSL_CTX_get0_certificate(ts->ts_ctx)) == NULL)
		return;
	if (X509_cmp_current_time(X509_get0_notBefore(leaf)) > 0) {
		asn1_time_text(X509_get0_notBefore(leaf), when, sizeof(when));
		snprintf(warn, len, "%s%s: the certificate is not yet valid "
		    "(not before %s)", ts->ts_cert_where, ts->ts_cert_path,
		    when);
	} else if (X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0) {
		asn1_time_text(X509_get0_notAfter(leaf), when, sizeof(when));
		snprintf(warn, len, "%s%s: the certificate has expired "
		    "(not after %s)", ts->ts_cert_where, ts->ts_cert_path,
		    when);
	}
	ERR_clear_error();
}

SSL_CTX *
tls_server_ctx(const struct tls_server *ts)
{
	return ts->ts_ctx;
}

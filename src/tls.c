/*
 * tls.c - OpenSSL contexts for the tls listeners, and their ticket keys.
 *
 * The master builds the contexts of each tls listener (tls_server_new:
 * the default one and one per sni entry), at start and again on reload,
 * so a bad certificate is a start-up error or a failed reload that keeps
 * the old contexts.  The TLS engine inherits them; each connection's
 * process runs the handshake (tls_echo.c).  The certificate sets are
 * tls_certs.c's, the choice by name and ALPN tls_sni.c's, the key log
 * tls_keylog.c's.
 *
 * Resumption across processes: a server-side session cache lives in one
 * process and dies with it, so it is off; resumption uses session
 * tickets only.  Their keys are a small ring (current + previous) held in
 * the master's memory, never written to disk (locked, left out of core
 * dumps), inherited by secho-tls and its processes.  The master rotates
 * them (tls_tick: every TICKET_ROTATE_MS, then a new secho-tls; and on
 * every reload); a ticket sealed with the previous key is still accepted
 * for one period and renewed.
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
#include "secho/dtls.h"
#include "secho/log.h"
#include "secho/sslerr.h"
#include "secho/tls.h"
#include "secho/tlsmem.h"

#include "tls_int.h"

/* Ticket keys change every 12 h; a rotated-out key lasts 12 h more. */
#define TICKET_ROTATE_MS	(12LL * 3600 * 1000)
/* Session (ticket) lifetime: at most one rotation period. */
#define SESSION_LIFETIME_S	7200

/* ---- error text ---- */

void
tls_where(char *buf, size_t len, const char *cfgfile, int line)
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
	unsigned char	tk_cookie[DTLS_SECRET_LEN];	/* DTLS cookies */
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
	    RAND_priv_bytes(k.tk_hmac, sizeof(k.tk_hmac)) != 1 ||
	    RAND_priv_bytes(k.tk_cookie, sizeof(k.tk_cookie)) != 1) {
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

size_t
tls_cookie_secrets(const unsigned char *out[2])
{
	int i;

	if (ring == NULL)
		return 0;
	for (i = 0; i < ring->tr_count; i++)
		out[i] = ring->tr_keys[i].tk_cookie;
	return (size_t)ring->tr_count;
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
	tls_sni_global_init();
}

/* ---- contexts ---- */

/*
 * Add a file's contents to the digest (its path when it cannot be read,
 * which the loading just before would have refused).  1, or 0 on error.
 */
static int
digest_file(EVP_MD_CTX *m, const char *path)
{
	unsigned char buf[8192];
	size_t n;
	FILE *f;
	int ok = 1;

	if ((f = fopen(path, "rb")) == NULL)
		return EVP_DigestUpdate(m, path, strlen(path) + 1) == 1;
	while (ok && (n = fread(buf, 1, sizeof(buf), f)) > 0)
		ok = EVP_DigestUpdate(m, buf, n) == 1;
	fclose(f);
	return ok && EVP_DigestUpdate(m, "", 1) == 1;
}

/*
 * A session ID context per distinct security setting: client
 * certificate rules (the client CA by its contents: a reload that puts
 * another CA under the same name must not let the sessions of the old
 * one resume) and certificates (by name: a renewed certificate keeps
 * the sessions).  A session (ticket) must not
 * resume on a listener or sni entry whose client certificate rules
 * differ (the key ring is shared by all of them): OpenSSL refuses a
 * session whose context differs.
 */
static void
set_sid_ctx(SSL_CTX *ctx, int verify, const char *ca,
    const struct tls_files *certs)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	EVP_MD_CTX *m;
	char head[64];
	size_t i;
	int ok;

	snprintf(head, sizeof(head), "secho verify=%d|", verify);
	if ((m = EVP_MD_CTX_new()) == NULL)
		goto fallback;
	ok = EVP_DigestInit_ex(m, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(m, head, strlen(head)) == 1 &&
	    (ca == NULL || *ca == '\0' ? EVP_DigestUpdate(m, "", 1) == 1 :
	    digest_file(m, ca));
	/* Certificates by name: a renewed one keeps the sessions. */
	for (i = 0; ok && i < certs->tf_count; i++)
		ok = EVP_DigestUpdate(m, certs->tf_path[i],
		    strlen(certs->tf_path[i]) + 1) == 1;
	if (!ok || EVP_DigestFinal_ex(m, md, &mdlen) != 1)
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

/* Protocol, ciphers, groups, sessions, callbacks: every context of tc. */
static SSL_CTX *
ctx_common(struct tls_server *ts, struct tls_ctxdata *cd,
    const struct tls_config *tc, const char *at, char *err, size_t errlen)
{
	SSL_CTX *ctx;
	char why[512];

	if ((ctx = SSL_CTX_new(ts->ts_dtls ? DTLS_server_method() :
	    TLS_server_method())) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	cd->cd_ts = ts;
	SSL_CTX_set_app_data(ctx, cd);
	/*
	 * Protocol: TLS 1.2 or 1.3 as the floor, nothing older; DTLS 1.2
	 * only (OpenSSL 3.0 has no DTLS 1.3), with the cookie callbacks
	 * DTLSv1_listen() wants (dtls_echo.c).
	 */
	if (ts->ts_dtls) {
		if (SSL_CTX_set_min_proto_version(ctx, DTLS1_2_VERSION) != 1 ||
		    SSL_CTX_set_max_proto_version(ctx, DTLS1_2_VERSION) != 1) {
			sslerr_text(why, sizeof(why), "unsupported version");
			snprintf(err, errlen, "%sdtls: %s", at, why);
			goto fail;
		}
		dtls_ctx_setup(ctx);
	} else if (SSL_CTX_set_min_proto_version(ctx,
	    tc->tc_min_protocol) != 1) {
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
	 * moving buffers are accepted anyway.
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
	if (!ts->ts_dtls && tc->tc_ciphersuites && SSL_CTX_set_ciphersuites(ctx,
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
	/*
	 * Sessions: no server-side cache (it would live in one child and
	 * die with it); stateless tickets under the shared key ring.
	 */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_timeout(ctx, SESSION_LIFETIME_S);
	if (tc->tc_session_tickets) {
		SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_cb);
	} else {
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
		SSL_CTX_set_num_tickets(ctx, 0);
	}
	if (tc->tc_keylog_file != NULL)
		SSL_CTX_set_keylog_callback(ctx, tls_keylog_cb);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* Client certificates: the CA list and the verify mode. */
static int
ctx_client_ca(SSL_CTX *ctx, const char *ca, int line, int verify,
    const char *cfgfile, char *err, size_t errlen)
{
	STACK_OF(X509_NAME) *names;
	char at[300], why[512];
	FILE *f;

	if (ca != NULL && *ca != '\0') {
		tls_where(at, sizeof(at), cfgfile, line);
		if ((f = fopen(ca, "r")) == NULL) {
			snprintf(err, errlen, "%s%s: %s", at, ca,
			    strerror(errno));
			return -1;
		}
		fclose(f);
		if (SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1) {
			sslerr_text(why, sizeof(why), "unknown error");
			snprintf(err, errlen, "%s%s: no usable PEM CA "
			    "certificate (%s)", at, ca, why);
			return -1;
		}
		if ((names = SSL_load_client_CA_file(ca)) == NULL) {
			sslerr_text(why, sizeof(why), "no certificate found");
			snprintf(err, errlen, "%s%s: %s", at, ca, why);
			return -1;
		}
		SSL_CTX_set_client_CA_list(ctx, names);
	}
	switch (verify) {
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
	return 0;
}

/* The context of sni entry i of tc. */
static int
entry_new(struct tls_server *ts, const struct tls_config *tc, size_t i,
    const char *cfgfile, char *err, size_t errlen)
{
	const struct tls_sni *sn = &tc->tc_sni[i];
	struct tls_entry *e = &ts->ts_sni[i];
	char at[300], what[64];
	const char *ca;
	int verify, caline;
	size_t j;

	tls_where(at, sizeof(at), cfgfile, sn->sn_line);
	snprintf(what, sizeof(what), "tls.sni.[%zu]", i);
	if ((e->te_names = calloc(sn->sn_nnames, sizeof(char *))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (j = 0; j < sn->sn_nnames; j++) {
		if ((e->te_names[j] = strdup(sn->sn_names[j])) == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		e->te_nnames++;
	}
	if ((e->te_ctx = ctx_common(ts, &e->te_data, tc, at, err,
	    errlen)) == NULL)
		return -1;
	if (tls_certs_load(e->te_ctx, &e->te_data, &sn->sn_certificate,
	    &sn->sn_private_key, &sn->sn_ocsp_response, cfgfile, what,
	    sn->sn_line, &ts->ts_warn, err, errlen) == -1)
		return -1;
	/* What the entry does not set, it has from its group. */
	ca = (sn->sn_given & SECHO_SNI_CLIENT_CA) ? sn->sn_client_ca :
	    tc->tc_client_ca;
	caline = (sn->sn_given & SECHO_SNI_CLIENT_CA) ? sn->sn_client_ca_line :
	    tc->tc_client_ca_line;
	verify = (sn->sn_given & SECHO_SNI_VERIFY) ? sn->sn_verify_client :
	    tc->tc_verify_client;
	if (ctx_client_ca(e->te_ctx, ca, caline ? caline : sn->sn_line,
	    verify, cfgfile, err, errlen) == -1)
		return -1;
	set_sid_ctx(e->te_ctx, verify, ca, &sn->sn_certificate);
	tls_sni_setup(e->te_ctx, ts, 0);
	return 0;
}

struct tls_server *
tls_server_new(const struct tls_config *tc, const char *cfgfile, char *err,
    size_t errlen)
{
	return tls_server_new_proto(tc, SECHO_PROTO_TLS, cfgfile, err, errlen);
}

struct tls_server *
tls_server_new_proto(const struct tls_config *tc, int proto,
    const char *cfgfile, char *err, size_t errlen)
{
	struct tls_server *ts = NULL;
	char at[300];
	size_t i;

	ERR_clear_error();
	if (ring_init() == -1 || (ring->tr_count == 0 &&
	    ring_rotate(clock_ms()) == -1)) {
		snprintf(err, errlen, "cannot create session ticket keys");
		return NULL;
	}
	tls_where(at, sizeof(at), cfgfile, tc->tc_line);
	if (tc->tc_certificate.tf_count == 0 ||
	    tc->tc_private_key.tf_count == 0) {
		snprintf(err, errlen, "%stls listener without %s", at,
		    tc->tc_certificate.tf_count == 0 ? "tls.certificate" :
		    "tls.private_key");
		return NULL;
	}
	if (tc->tc_certificate.tf_count != tc->tc_private_key.tf_count) {
		snprintf(err, errlen, "%stls.private_key: %zu keys for %zu "
		    "certificates", at, tc->tc_private_key.tf_count,
		    tc->tc_certificate.tf_count);
		return NULL;
	}
	if ((ts = calloc(1, sizeof(*ts))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	ts->ts_keylog_fd = -1;
	ts->ts_strict = tc->tc_sni_strict;
	ts->ts_dtls = proto == SECHO_PROTO_DTLS;
	if (tc->tc_alpn_len > 0) {
		if ((ts->ts_alpn = malloc(tc->tc_alpn_len)) == NULL) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		memcpy(ts->ts_alpn, tc->tc_alpn, tc->tc_alpn_len);
		ts->ts_alpn_len = tc->tc_alpn_len;
	}
	if ((ts->ts_ctx = ctx_common(ts, &ts->ts_data, tc, at, err,
	    errlen)) == NULL)
		goto fail;
	if (tls_certs_load(ts->ts_ctx, &ts->ts_data, &tc->tc_certificate,
	    &tc->tc_private_key, &tc->tc_ocsp_response, cfgfile, "tls",
	    tc->tc_line, &ts->ts_warn, err, errlen) == -1)
		goto fail;
	if (ctx_client_ca(ts->ts_ctx, tc->tc_client_ca,
	    tc->tc_client_ca_line ? tc->tc_client_ca_line : tc->tc_line,
	    tc->tc_verify_client, cfgfile, err, errlen) == -1)
		goto fail;
	set_sid_ctx(ts->ts_ctx, tc->tc_verify_client, tc->tc_client_ca,
	    &tc->tc_certificate);
	if (tc->tc_nsni > 0) {
		if ((ts->ts_sni = calloc(tc->tc_nsni, sizeof(*ts->ts_sni))) ==
		    NULL) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		for (i = 0; i < tc->tc_nsni; i++) {
			ts->ts_nsni++;
			if (entry_new(ts, tc, i, cfgfile, err, errlen) == -1)
				goto fail;
		}
	}
	tls_sni_setup(ts->ts_ctx, ts, 1);

	if (!ts->ts_dtls) {
		warm_up(ts->ts_ctx, TLS1_3_VERSION);
		warm_up(ts->ts_ctx, TLS1_2_VERSION);
		for (i = 0; i < ts->ts_nsni; i++)
			warm_up(ts->ts_sni[i].te_ctx, TLS1_3_VERSION);
	}
	ERR_clear_error();
	return ts;

fail:
	tls_server_free(ts);
	ERR_clear_error();
	return NULL;
}

void
tls_server_free(struct tls_server *ts)
{
	size_t i, j;

	if (ts == NULL)
		return;
	for (i = 0; i < ts->ts_nsni; i++) {
		SSL_CTX_free(ts->ts_sni[i].te_ctx);
		tls_certs_free(&ts->ts_sni[i].te_data);
		for (j = 0; j < ts->ts_sni[i].te_nnames; j++)
			free(ts->ts_sni[i].te_names[j]);
		free(ts->ts_sni[i].te_names);
	}
	free(ts->ts_sni);
	SSL_CTX_free(ts->ts_ctx);
	tls_certs_free(&ts->ts_data);
	free(ts->ts_alpn);
	free(ts->ts_warn.w_buf);
	free(ts);
}

void
tls_server_warnings(struct tls_server *ts, char *warn, size_t len)
{
	size_t n;

	if (len == 0)
		return;
	warn[0] = '\0';
	if (ts == NULL || ts->ts_warn.w_buf == NULL)
		return;
	snprintf(warn, len, "%s", ts->ts_warn.w_buf);
	n = strlen(warn);
	if (n > 0 && warn[n - 1] == '\n')
		warn[n - 1] = '\0';	/* one per line, none after the last */
}

void
tls_server_set_keylog(struct tls_server *ts, int fd)
{
	ts->ts_keylog_fd = fd;
}

SSL_CTX *
tls_server_ctx(const struct tls_server *ts)
{
	return ts->ts_ctx;
}

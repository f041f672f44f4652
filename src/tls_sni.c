/*
 * tls_sni.c - what a client's hello chooses: the certificates by the
 * name it asks for (SNI: exact names, then "*." wildcards of one label,
 * without case; sni_strict refuses a name nobody serves), acknowledged
 * in the server's hello; the application protocol (ALPN: the first of
 * ours the client offers, or no_application_protocol).  The context is
 * switched in the ClientHello callback, before OpenSSL looks at the
 * session the client offers, so that a session never resumes under the
 * rules (session ID context) of another entry.
 */
#include <string.h>
#include <strings.h>

#include <openssl/ssl.h>
#include <openssl/tls1.h>
#include <openssl/x509v3.h>

#include "secho/tls.h"

#include "tls_int.h"

/* SSL ex_data: why our callbacks refused the handshake (static text). */
static int refusal_idx = -1;

void
tls_sni_global_init(void)
{
	if (refusal_idx == -1)
		refusal_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

const char *
tls_refusal(const SSL *ssl)
{
	if (refusal_idx == -1)
		return NULL;
	return SSL_get_ex_data(ssl, refusal_idx);
}

static void
refuse(SSL *ssl, const char *why)
{
	if (refusal_idx != -1)
		SSL_set_ex_data(ssl, refusal_idx, (void *)(uintptr_t)why);
}

int
tls_sni_match(const char *pattern, const char *name, size_t len)
{
	size_t plen;
	const char *dot;

	if (len > 0 && name[len - 1] == '.')
		len--;		/* "example.org." is "example.org" */
	if (strncmp(pattern, "*.", 2) != 0) {
		plen = strlen(pattern);
		return plen == len && strncasecmp(pattern, name, len) == 0;
	}
	/* "*.example.org": exactly one non-empty label before the rest. */
	pattern += 1;			/* ".example.org" */
	plen = strlen(pattern);
	if ((dot = memchr(name, '.', len)) == NULL || dot == name)
		return 0;
	return (size_t)(name + len - dot) == plen &&
	    strncasecmp(dot, pattern, plen) == 0;
}

/* The entry for name: an exact name first, then a wildcard. */
static struct tls_entry *
find(struct tls_server *ts, const char *name, size_t len)
{
	size_t i, j;
	int wild;

	for (wild = 0; wild < 2; wild++)
		for (i = 0; i < ts->ts_nsni; i++)
			for (j = 0; j < ts->ts_sni[i].te_nnames; j++) {
				const char *p = ts->ts_sni[i].te_names[j];

				if ((p[0] == '*') == wild &&
				    tls_sni_match(p, name, len))
					return &ts->ts_sni[i];
			}
	return NULL;
}

/*
 * The first host_name of a server_name extension (RFC 6066 3), or 0
 * when there is none or it is malformed (OpenSSL then refuses it).
 */
static size_t
host_name(const unsigned char *p, size_t len, char *out, size_t outlen)
{
	size_t list, n;

	if (len < 2)
		return 0;
	list = (size_t)p[0] << 8 | p[1];
	if (list != len - 2)
		return 0;
	p += 2;
	len -= 2;
	while (len >= 3) {
		n = (size_t)p[1] << 8 | p[2];
		if (n > len - 3)
			return 0;
		if (p[0] == TLSEXT_NAMETYPE_host_name) {
			if (n == 0 || n >= outlen || memchr(p + 3, '\0', n))
				return 0;
			memcpy(out, p + 3, n);
			out[n] = '\0';
			return n;
		}
		p += 3 + n;
		len -= 3 + n;
	}
	return 0;
}

/* Is name one of the default certificates' (SAN or CN, wildcards too)? */
static int
default_serves(const struct tls_server *ts, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < ts->ts_data.cd_ncerts; i++)
		if (X509_check_host(ts->ts_data.cd_certs[i].ce_leaf, name, len,
		    0, NULL) == 1)
			return 1;
	return 0;
}

/* Which context the first ClientHello of a connection chose. */
static int hello_idx = -1;

static int
hello_cb(SSL *ssl, int *al, void *arg)
{
	struct tls_server *ts = arg;
	struct tls_entry *e = NULL;
	const unsigned char *p;
	SSL_CTX *was;
	char name[256];
	size_t plen, len = 0;

	if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p,
	    &plen))
		len = host_name(p, plen, name, sizeof(name));
	if (len > 0)
		e = find(ts, name, len);
	/*
	 * The second ClientHello after a HelloRetryRequest must ask for what
	 * the first one got: no other entry, no sni_strict bypassed.
	 */
	was = SSL_get_ex_data(ssl, hello_idx);
	if (was != NULL && was != (e != NULL ? e->te_ctx : ts->ts_ctx)) {
		refuse(ssl, "unrecognized name");
		*al = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_CLIENT_HELLO_ERROR;
	}
	(void)SSL_set_ex_data(ssl, hello_idx, e != NULL ? e->te_ctx :
	    ts->ts_ctx);
	if (len == 0)
		return SSL_CLIENT_HELLO_SUCCESS;	/* the default */
	if (e != NULL) {
		/*
		 * The entry's certificates, client CA list and session ID
		 * context come with its context; the verify mode was
		 * copied from the default one at SSL_new(): set it.
		 */
		if (SSL_set_SSL_CTX(ssl, e->te_ctx) == NULL) {
			*al = SSL_AD_INTERNAL_ERROR;
			return SSL_CLIENT_HELLO_ERROR;
		}
		SSL_set_verify(ssl, SSL_CTX_get_verify_mode(e->te_ctx), NULL);
		return SSL_CLIENT_HELLO_SUCCESS;
	}
	if (ts->ts_strict && !default_serves(ts, name, len)) {
		refuse(ssl, "unrecognized name");
		*al = SSL_AD_UNRECOGNIZED_NAME;
		return SSL_CLIENT_HELLO_ERROR;
	}
	return SSL_CLIENT_HELLO_SUCCESS;
}

/* Acknowledge the name (an empty server_name in the server's hello). */
static int
servername_cb(SSL *ssl, int *al, void *arg)
{
	return SSL_TLSEXT_ERR_OK;
}

static int
alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	struct tls_server *ts = arg;
	unsigned char *sel = NULL;

	if (SSL_select_next_proto(&sel, outlen, ts->ts_alpn,
	    (unsigned int)ts->ts_alpn_len, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED) {
		refuse(ssl, "no application protocol");
		return SSL_TLSEXT_ERR_ALERT_FATAL;	/* RFC 7301 3.2 */
	}
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

void
tls_sni_setup(SSL_CTX *ctx, struct tls_server *ts, int is_default)
{
	SSL_CTX_set_tlsext_servername_callback(ctx, servername_cb);
	/* On every context: after a switch, the second hello is OpenSSL's
	 * new context's to check. */
	if ((ts->ts_nsni > 0 || ts->ts_strict) && hello_idx == -1)
		hello_idx = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if ((ts->ts_nsni > 0 || ts->ts_strict) && hello_idx != -1)
		SSL_CTX_set_client_hello_cb(ctx, hello_cb, ts);
	if (ts->ts_alpn != NULL)
		SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, ts);
}

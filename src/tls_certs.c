/*
 * tls_certs.c - a context's certificate set: one certificate chain and
 * key per key type (RSA, ECDSA, Ed25519...), OpenSSL choosing among them
 * by the client's signature algorithms; each checked against its key;
 * expiry warnings; the OCSP response of each, read from a DER file,
 * checked (for this certificate? within its validity?) and stapled only
 * while valid.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "secho/sslerr.h"
#include "secho/tls.h"

#include "tls_int.h"

/* A response larger than this is not an OCSP response. */
#define OCSP_MAX_SIZE	(1024 * 1024)
/* Clocks disagree: a response made a little in the future is fine. */
#define OCSP_LEEWAY_S	300

void
tls_warn_add(struct tls_warn *w, const char *fmt, ...)
{
	char line[1024];
	size_t n;
	char *nb;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	n = strlen(line);
	if ((nb = realloc(w->w_buf, w->w_len + n + 2)) == NULL)
		return;
	w->w_buf = nb;
	memcpy(w->w_buf + w->w_len, line, n);
	w->w_len += n;
	w->w_buf[w->w_len++] = '\n';
	w->w_buf[w->w_len] = '\0';
}

int
tls_ocsp_state(long long this_update, long long next_update, long long now)
{
	if (this_update == 0)
		return TLS_OCSP_INVALID;
	if (this_update > now + OCSP_LEEWAY_S)
		return TLS_OCSP_NOT_YET;
	if (next_update != 0 && next_update <= now)
		return TLS_OCSP_EXPIRED;
	return TLS_OCSP_VALID;
}

const char *
tls_key_type_name(int type)
{
	switch (type) {
	case EVP_PKEY_RSA:
		return "RSA";
	case EVP_PKEY_RSA_PSS:
		return "RSA-PSS";
	case EVP_PKEY_EC:
		return "ECDSA";
	case EVP_PKEY_ED25519:
		return "Ed25519";
	case EVP_PKEY_ED448:
		return "Ed448";
	case EVP_PKEY_DSA:
		return "DSA";
	default:
		return "unknown";
	}
}

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

static void
asn1_time_text(const ASN1_TIME *t, char *buf, size_t len)
{
	BIO *b;
	int n;

	buf[0] = '\0';
	if (t == NULL || (b = BIO_new(BIO_s_mem())) == NULL)
		return;
	if (ASN1_TIME_print(b, t) == 1) {
		n = BIO_read(b, buf, (int)len - 1);
		buf[n > 0 ? n : 0] = '\0';
	}
	BIO_free(b);
	ERR_clear_error();
}

static time_t
asn1_time_t(const ASN1_TIME *t)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return timegm(&tm);
}

/* "FILE:LINE: tls.certificate[1]: " or "FILE:LINE: " (a string). */
static void
prefix(char *buf, size_t len, const char *cfgfile, const char *what,
    const char *setting, const struct tls_files *tf, size_t i, int line)
{
	char at[300];

	tls_where(at, sizeof(at), cfgfile, tf->tf_lines && tf->tf_lines[i] ?
	    tf->tf_lines[i] : tf->tf_line ? tf->tf_line : line);
	if (tf->tf_list)
		snprintf(buf, len, "%s%s.%s[%zu]: ", at, what, setting, i);
	else
		snprintf(buf, len, "%s", at);
}

static void
validity_warnings(X509 *leaf, const char *at, const char *path,
    struct tls_warn *w)
{
	char when[64];

	if (X509_cmp_current_time(X509_get0_notBefore(leaf)) > 0) {
		asn1_time_text(X509_get0_notBefore(leaf), when, sizeof(when));
		tls_warn_add(w, "%s%s: the certificate is not yet valid "
		    "(not before %s)", at, path, when);
	} else if (X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0) {
		asn1_time_text(X509_get0_notAfter(leaf), when, sizeof(when));
		tls_warn_add(w, "%s%s: the certificate has expired "
		    "(not after %s)", at, path, when);
	}
	ERR_clear_error();
}

/* Does the certificate ID cid name leaf (issued by issuer, if known)? */
static int
id_names(const OCSP_CERTID *cid, X509 *leaf, X509 *issuer)
{
	ASN1_OCTET_STRING *nh = NULL, *kh = NULL;
	ASN1_OBJECT *oid = NULL;
	ASN1_INTEGER *serial = NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	const EVP_MD *dg;

	if (OCSP_id_get0_info(&nh, &oid, &kh, &serial,
	    (OCSP_CERTID *)(uintptr_t)cid) != 1 || serial == NULL ||
	    ASN1_INTEGER_cmp(serial, X509_get0_serialNumber(leaf)) != 0)
		return 0;
	if ((dg = EVP_get_digestbyobj(oid)) == NULL ||
	    X509_NAME_digest(X509_get_issuer_name(leaf), dg, md,
	    &mdlen) != 1 || nh == NULL || (unsigned)nh->length != mdlen ||
	    memcmp(nh->data, md, mdlen) != 0)
		return 0;
	if (issuer != NULL && (X509_pubkey_digest(issuer, dg, md,
	    &mdlen) != 1 || kh == NULL || (unsigned)kh->length != mdlen ||
	    memcmp(kh->data, md, mdlen) != 0))
		return 0;
	return 1;
}

/* The issuer of the current certificate of ctx, from its chain. */
static X509 *
issuer_of(SSL_CTX *ctx, X509 *leaf)
{
	STACK_OF(X509) *chain = NULL;
	int i;

	if (SSL_CTX_get0_chain_certs(ctx, &chain) != 1 || chain == NULL)
		return NULL;
	for (i = 0; i < sk_X509_num(chain); i++)
		if (X509_check_issued(sk_X509_value(chain, i), leaf) ==
		    X509_V_OK)
			return sk_X509_value(chain, i);
	return NULL;
}

/* Read a DER OCSP response file; NULL with why set. */
static OCSP_RESPONSE *
read_ocsp(const char *path, unsigned char **der, size_t *derlen, char *why,
    size_t len)
{
	OCSP_RESPONSE *resp = NULL;
	const unsigned char *p;
	unsigned char *buf = NULL;
	size_t n = 0;
	FILE *f;

	if ((f = fopen(path, "rb")) == NULL) {
		snprintf(why, len, "%s", strerror(errno));
		return NULL;
	}
	if ((buf = malloc(OCSP_MAX_SIZE + 1)) == NULL) {
		fclose(f);
		snprintf(why, len, "out of memory");
		return NULL;
	}
	n = fread(buf, 1, OCSP_MAX_SIZE + 1, f);
	if (ferror(f) || n == 0 || n > OCSP_MAX_SIZE) {
		snprintf(why, len, "%s", ferror(f) ? strerror(errno) : n == 0 ?
		    "empty file" : "too large for an OCSP response");
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	p = buf;
	if ((resp = d2i_OCSP_RESPONSE(NULL, &p, (long)n)) == NULL ||
	    (size_t)(p - buf) != n) {
		OCSP_RESPONSE_free(resp);
		ERR_clear_error();
		free(buf);
		snprintf(why, len, "not a DER OCSP response");
		return NULL;
	}
	*der = buf;
	*derlen = n;
	return resp;
}

/*
 * The response in path for ce (the current certificate of ctx): read
 * (a failure is an error), then checked (problems are warnings): it
 * must be successful, for this certificate, within its validity.
 */
static int
load_ocsp(SSL_CTX *ctx, struct tls_cert *ce, const char *path,
    const char *at, const char *certpath, struct tls_warn *w, char *err,
    size_t errlen)
{
	OCSP_RESPONSE *resp;
	OCSP_BASICRESP *bs = NULL;
	OCSP_SINGLERESP *sr = NULL;
	ASN1_GENERALIZEDTIME *thisupd = NULL, *nextupd = NULL;
	unsigned char *der = NULL;
	size_t derlen = 0;
	char why[256], when[64];
	X509 *issuer;
	int i, n, st, found = 0;

	if ((resp = read_ocsp(path, &der, &derlen, why, sizeof(why))) ==
	    NULL) {
		snprintf(err, errlen, "%s%s: %s", at, path, why);
		return -1;
	}
	st = OCSP_response_status(resp);
	if (st != OCSP_RESPONSE_STATUS_SUCCESSFUL ||
	    (bs = OCSP_response_get1_basic(resp)) == NULL) {
		tls_warn_add(w, "%s%s: the OCSP response is not successful "
		    "(%s): it is not stapled", at, path,
		    OCSP_response_status_str(st));
		goto out;
	}
	issuer = issuer_of(ctx, ce->ce_leaf);
	n = OCSP_resp_count(bs);
	for (i = 0; i < n && !found; i++) {
		sr = OCSP_resp_get0(bs, i);
		found = id_names(OCSP_SINGLERESP_get0_id(sr), ce->ce_leaf,
		    issuer);
	}
	if (!found) {
		/* A tester may want a wrong one: stapled, with a warning. */
		tls_warn_add(w, "%s%s: the OCSP response is not for the "
		    "certificate in %s", at, path, certpath);
		sr = n > 0 ? OCSP_resp_get0(bs, 0) : NULL;
	}
	if (sr == NULL || OCSP_single_get0_status(sr, NULL, NULL, &thisupd,
	    &nextupd) < 0) {
		tls_warn_add(w, "%s%s: the OCSP response has no certificate "
		    "status: it is not stapled", at, path);
		goto out;
	}
	ce->ce_this = asn1_time_t(thisupd);
	ce->ce_next = nextupd ? asn1_time_t(nextupd) : 0;
	ce->ce_ocsp = der;
	ce->ce_ocsp_len = derlen;
	der = NULL;
	switch (tls_ocsp_state(ce->ce_this, ce->ce_next, time(NULL))) {
	case TLS_OCSP_NOT_YET:
		asn1_time_text(thisupd, when, sizeof(when));
		tls_warn_add(w, "%s%s: the OCSP response is not yet valid "
		    "(this update %s): it is not stapled before then", at,
		    path, when);
		break;
	case TLS_OCSP_EXPIRED:
		asn1_time_text(nextupd, when, sizeof(when));
		tls_warn_add(w, "%s%s: the OCSP response has expired (next "
		    "update %s): it is not stapled", at, path, when);
		break;
	}
out:
	free(der);
	OCSP_BASICRESP_free(bs);
	OCSP_RESPONSE_free(resp);
	ERR_clear_error();
	return 0;
}

/* status_request: the response of the certificate chosen, while valid. */
static int
status_cb(SSL *ssl, void *arg)
{
	const struct tls_ctxdata *cd = arg;
	const struct tls_cert *ce;
	X509 *x = SSL_get_certificate(ssl);
	unsigned char *copy;
	size_t i;

	for (i = 0; i < cd->cd_ncerts; i++) {
		ce = &cd->cd_certs[i];
		if (ce->ce_leaf != x || ce->ce_ocsp == NULL)
			continue;
		if (tls_ocsp_state(ce->ce_this, ce->ce_next, time(NULL)) !=
		    TLS_OCSP_VALID)
			return SSL_TLSEXT_ERR_NOACK;
		if ((copy = OPENSSL_memdup(ce->ce_ocsp, ce->ce_ocsp_len)) ==
		    NULL)
			return SSL_TLSEXT_ERR_NOACK;
		if (SSL_set_tlsext_status_ocsp_resp(ssl, copy,
		    (long)ce->ce_ocsp_len) != 1) {
			OPENSSL_free(copy);
			return SSL_TLSEXT_ERR_NOACK;
		}
		return SSL_TLSEXT_ERR_OK;
	}
	return SSL_TLSEXT_ERR_NOACK;
}

/* Certificate i of the set: chain, key, key type, OCSP. */
static int
load_one(SSL_CTX *ctx, struct tls_ctxdata *cd, const struct tls_files *cert,
    const struct tls_files *key, const struct tls_files *ocsp, size_t i,
    const char *cfgfile, const char *what, int line, struct tls_warn *w,
    char *err, size_t errlen)
{
	const char *cpath = cert->tf_path[i], *kpath = key->tf_path[i];
	struct tls_cert *ce = &cd->cd_certs[cd->cd_ncerts];
	char at[400], kat[400], why[512];
	EVP_PKEY *pkey = NULL;
	X509 *leaf;
	size_t j;

	prefix(at, sizeof(at), cfgfile, what, "certificate", cert, i, line);
	if (!readable(cpath, why, sizeof(why))) {
		snprintf(err, errlen, "%s%s: %s", at, cpath, why);
		return -1;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cpath) != 1) {
		sslerr_text(why, sizeof(why), "unknown error");
		snprintf(err, errlen, "%s%s: no usable PEM certificate (%s)",
		    at, cpath, why);
		return -1;
	}
	leaf = SSL_CTX_get0_certificate(ctx);
	if (leaf == NULL || X509_get0_pubkey(leaf) == NULL) {
		sslerr_text(why, sizeof(why), "no public key");
		snprintf(err, errlen, "%s%s: no usable certificate (%s)", at,
		    cpath, why);
		return -1;
	}
	ce->ce_leaf = leaf;
	ce->ce_type = EVP_PKEY_get_base_id(X509_get0_pubkey(leaf));
	for (j = 0; j < cd->cd_ncerts; j++)
		if (cd->cd_certs[j].ce_type == ce->ce_type) {
			snprintf(err, errlen, "%s%s: a second %s certificate "
			    "(%s.certificate[%zu] is one): one certificate per "
			    "key type", at, cpath,
			    tls_key_type_name(ce->ce_type), what, j);
			ce->ce_leaf = NULL;
			return -1;
		}
	prefix(kat, sizeof(kat), cfgfile, what, "private_key", key, i, line);
	if ((pkey = load_key(kpath, why, sizeof(why))) == NULL) {
		snprintf(err, errlen, "%s%s: %s", kat, kpath, why);
		ce->ce_leaf = NULL;
		return -1;
	}
	if (EVP_PKEY_eq(X509_get0_pubkey(leaf), pkey) != 1 ||
	    SSL_CTX_use_PrivateKey(ctx, pkey) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		ERR_clear_error();
		snprintf(err, errlen, "%s%s: the private key does not match "
		    "the certificate in %s", kat, kpath, cpath);
		EVP_PKEY_free(pkey);
		ce->ce_leaf = NULL;
		return -1;
	}
	EVP_PKEY_free(pkey);
	cd->cd_ncerts++;
	validity_warnings(leaf, at, cpath, w);
	if (ocsp->tf_count > i && ocsp->tf_path[i][0] != '\0') {
		prefix(at, sizeof(at), cfgfile, what, "ocsp_response", ocsp, i,
		    line);
		if (load_ocsp(ctx, ce, ocsp->tf_path[i], at, cpath, w, err,
		    errlen) == -1)
			return -1;
	}
	return 0;
}

int
tls_certs_load(SSL_CTX *ctx, struct tls_ctxdata *cd,
    const struct tls_files *cert, const struct tls_files *key,
    const struct tls_files *ocsp, const char *cfgfile, const char *what,
    int line, struct tls_warn *w, char *err, size_t errlen)
{
	size_t i;
	int stapling = 0;

	SSL_CTX_set_default_passwd_cb(ctx, no_passphrase);
	SSL_CTX_set_default_passwd_cb_userdata(ctx, NULL);
	for (i = 0; i < cert->tf_count && i < SECHO_TLS_MAX_CERTS; i++) {
		if (load_one(ctx, cd, cert, key, ocsp, i, cfgfile, what, line,
		    w, err, errlen) == -1) {
			ERR_clear_error();
			return -1;
		}
		stapling |= cd->cd_certs[cd->cd_ncerts - 1].ce_ocsp != NULL;
	}
	if (stapling) {
		SSL_CTX_set_tlsext_status_cb(ctx, status_cb);
		SSL_CTX_set_tlsext_status_arg(ctx, cd);
	}
	ERR_clear_error();
	return 0;
}

void
tls_certs_free(struct tls_ctxdata *cd)
{
	size_t i;

	for (i = 0; i < cd->cd_ncerts; i++)
		free(cd->cd_certs[i].ce_ocsp);
	memset(cd, 0, sizeof(*cd));
}

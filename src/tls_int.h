/*
 * tls_int.h - what the files of the TLS contexts share (tls.c: contexts
 * and ticket keys; tls_certs.c: certificate sets and OCSP stapling;
 * tls_sni.c: the choice by server name, ALPN; tls_keylog.c).  Not a
 * public interface: include/secho/tls.h is.
 */
#ifndef SECHO_TLS_INT_H
#define SECHO_TLS_INT_H

#include <stddef.h>
#include <time.h>

#include <openssl/ssl.h>

#include "secho/config.h"

/* Warnings gathered while building, one per line. */
struct tls_warn {
	char	*w_buf;
	size_t	 w_len;
};

/* One certificate of a context, with its OCSP response. */
struct tls_cert {
	X509		*ce_leaf;	/* the context's reference */
	int		 ce_type;	/* EVP_PKEY_get_base_id() */
	unsigned char	*ce_ocsp;	/* DER response to staple, or NULL */
	size_t		 ce_ocsp_len;
	time_t		 ce_this, ce_next;	/* its validity; 0: none */
};

/* What each SSL_CTX carries (SSL_CTX app data). */
struct tls_ctxdata {
	struct tls_server	*cd_ts;
	struct tls_cert		 cd_certs[SECHO_TLS_MAX_CERTS];
	size_t			 cd_ncerts;
};

/* A context chosen by name. */
struct tls_entry {
	SSL_CTX			*te_ctx;
	char			**te_names;	/* lower case, "*.x" wildcards */
	size_t			  te_nnames;
	struct tls_ctxdata	  te_data;
};

struct tls_server {
	SSL_CTX			*ts_ctx;	/* the default certificates */
	struct tls_ctxdata	 ts_data;
	struct tls_entry	*ts_sni;
	size_t			 ts_nsni;
	int			 ts_strict;
	int			 ts_dtls;	/* DTLS 1.2 contexts */
	unsigned char		*ts_alpn;	/* wire format, or NULL */
	size_t			 ts_alpn_len;
	int			 ts_keylog_fd;	/* -1: none (not owned) */
	struct tls_warn		 ts_warn;
};

/* "FILE:LINE: " (or "FILE: ", or "") for messages about a setting. */
void	tls_where(char *buf, size_t len, const char *cfgfile, int line);
void	tls_warn_add(struct tls_warn *w, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/*
 * tls_certs.c: load the set (certificate[i] with private_key[i] and
 * ocsp_response[i]) into ctx and cd; what names the setting group in
 * messages ("tls", "tls.sni.[0]"), line is the group's.  Problems that
 * do not stop a start go to w.  0, or -1 with err set.
 */
int	tls_certs_load(SSL_CTX *ctx, struct tls_ctxdata *cd,
	    const struct tls_files *cert, const struct tls_files *key,
	    const struct tls_files *ocsp, const char *cfgfile,
	    const char *what, int line, struct tls_warn *w, char *err,
	    size_t errlen);
void	tls_certs_free(struct tls_ctxdata *cd);

/* tls_sni.c: the callbacks of every context of ts */
void	tls_sni_setup(SSL_CTX *ctx, struct tls_server *ts, int is_default);
/* tls_sni.c: once, in tls_global_init() */
void	tls_sni_global_init(void);
/* tls_keylog.c */
void	tls_keylog_cb(const SSL *ssl, const char *line);

#endif

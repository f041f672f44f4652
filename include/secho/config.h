/*
 * config.h - libconfig file -> struct secho_config.
 *
 * Defaults first, then the file, then validation of everything; every
 * problem is reported as "FILE:LINE: message" and all of them are reported,
 * not only the first.
 */
#ifndef SECHO_CONFIG_H
#define SECHO_CONFIG_H

#include <stddef.h>
#include <netinet/in.h>

enum {
	SECHO_PROTO_TCP = 0,
	SECHO_PROTO_UDP = 1,
	SECHO_PROTO_TLS = 2,
	SECHO_PROTO_DTLS = 3,	/* DTLS 1.2 over UDP (issue 14) */
};

enum {
	SECHO_VERIFY_NONE = 0,
	SECHO_VERIFY_OPTIONAL = 1,
	SECHO_VERIFY_REQUIRE = 2,
};

/* Default values (also documented in conf/secho.cfg and secho.cfg(5)). */
#define SECHO_DEFAULT_CONFIG            "/etc/secho.cfg"
#define SECHO_DEFAULT_SHUTDOWN_TIMEOUT  10
#define SECHO_DEFAULT_IDENT             "secho"
#define SECHO_DEFAULT_MAX_CONN          512
#define SECHO_DEFAULT_MAX_PER_HOST      32
#define SECHO_DEFAULT_IDLE_TIMEOUT      300
#define SECHO_DEFAULT_HANDSHAKE_TIMEOUT 10
#define SECHO_DEFAULT_UDP_RATE          200
#define SECHO_DEFAULT_CIPHERS \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define SECHO_DEFAULT_CIPHERSUITES \
	"TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define SECHO_DEFAULT_GROUPS            "X25519:P-256:P-384"

/*
 * allow + deny of a proxy_protocol listener, at most: they travel with
 * every connection to the process that reads its PROXY header
 * (connreq.h), in one message.
 */
#define SECHO_PROXY_CIDRS_MAX	2000

/* One CIDR block; family is AF_INET or AF_INET6, addr in network order. */
struct cidr {
	int		family;
	unsigned char	addr[16];
	int		prefix;
};

struct cidr_list {
	struct cidr	*items;
	size_t		 count;
	int		 set;		/* the setting was present */
};

/*
 * A file setting that is a string or a list of strings: certificate,
 * private_key, ocsp_response (where "" stands for none).  tf_count 0:
 * unset.
 */
struct tls_files {
	char	**tf_path;	/* tf_count paths */
	int	 *tf_lines;	/* the line of each */
	size_t	  tf_count;
	int	  tf_line;	/* line of the setting, 0 if absent */
	int	  tf_list;	/* written as a list: messages name the index */
};

/* At most this many certificates per set: one per key type. */
#define SECHO_TLS_MAX_CERTS	8

/*
 * An sni entry: certificates for the names a client may ask for.
 * client_ca and verify_client, when the entry does not set them, are
 * those of the tls group around it (sn_given says which it set).
 */
struct tls_sni {
	char		**sn_names;	/* lower case; "*.example.org" */
	size_t		  sn_nnames;
	struct tls_files  sn_certificate;
	struct tls_files  sn_private_key;
	struct tls_files  sn_ocsp_response;
	char		 *sn_client_ca;
	int		  sn_client_ca_line;
	int		  sn_verify_client;
	unsigned	  sn_given;	/* SECHO_SNI_* */
	int		  sn_line;	/* line of the entry */
};
#define SECHO_SNI_CLIENT_CA	(1u << 4)
#define SECHO_SNI_VERIFY	(1u << 5)

/*
 * TLS settings.  Strings are owned (NULL = unset / empty; for ciphers,
 * ciphersuites and groups NULL means OpenSSL's built-in default).  In the
 * global group every field has its default; a listener's own tls group
 * overrides only the fields it gives, config_load() merges the rest from
 * the global group (strings copied, *_line fields follow the value), so
 * after loading every tls listener's lc_tls is complete.  An inherited
 * ocsp_response goes with an inherited certificate only.
 */
struct tls_config {
	struct tls_files tc_certificate;
	struct tls_files tc_private_key;
	struct tls_files tc_ocsp_response;
	char	*tc_client_ca;
	int	 tc_verify_client;	/* SECHO_VERIFY_* */
	int	 tc_min_protocol;	/* TLS1_2_VERSION or TLS1_3_VERSION numbers: 0x0303, 0x0304 */
	char	*tc_ciphers;
	char	*tc_ciphersuites;
	char	*tc_groups;
	int	 tc_session_tickets;
	unsigned char *tc_alpn;		/* ALPN wire format; NULL: none */
	size_t	 tc_alpn_len;
	char	*tc_keylog_file;	/* NULL: none */
	int	 tc_keylog_line;
	struct tls_sni *tc_sni;
	size_t	 tc_nsni;
	int	 tc_sni_strict;
	int	 tc_line;		/* line of the group (0 = defaults) */
	int	 tc_client_ca_line;
};

struct listener_config {
	int			 lc_proto;	/* SECHO_PROTO_* */
	char			*lc_address;	/* as written */
	int			 lc_port;
	struct tls_config	 lc_tls;	/* effective, for tls and dtls listeners */
	int			 lc_has_tls;	/* the listener had its own tls group */
	struct cidr_list	 lc_allow;
	struct cidr_list	 lc_deny;
	int			 lc_proxy_protocol;
	int			 lc_line;	/* line of the listener group */
};

struct secho_config {
	char		*file;		/* path it was loaded from */

	/* daemon */
	char		*user;		/* NULL = unset */
	char		*group;		/* NULL = user's primary group */
	char		*pidfile;	/* NULL = none */
	char		*chroot_dir;	/* NULL = none */
	int		 shutdown_timeout;

	/* log */
	char		*log_ident;
	int		 log_facility;	/* LOG_DAEMON, ... */
	int		 log_level;	/* LOG_ERR .. LOG_DEBUG */
	int		 log_stderr;

	/* limits */
	int		 max_connections;
	int		 max_per_host;
	int		 idle_timeout;
	int		 handshake_timeout;
	int		 udp_rate_per_host;

	struct tls_config tls;		/* global tls group, with defaults */

	struct listener_config *listeners;
	size_t		 nlisteners;
};

/*
 * Load and validate the configuration in file path.  On success returns 0
 * and stores a new config in *cfgp (free with config_free()).  On failure
 * returns -1 and stores in *errp a malloc'd string of one or more lines
 * "FILE:LINE: message\n" (or "FILE: message\n" when there is no line,
 * e.g. an unreadable file); the caller frees it.
 * Certificates are not opened here (see tls.h).
 */
int	config_load(const char *path, struct secho_config **cfgp, char **errp);

/* Same, from a string; name is used in messages as the file name. */
int	config_load_string(const char *text, const char *name,
	    struct secho_config **cfgp, char **errp);

/* Same, with @include files looked up in incdir (NULL: none). */
int	config_load_text(const char *text, const char *name,
	    const char *incdir, struct secho_config **cfgp, char **errp);

void	config_free(struct secho_config *cfg);

/*
 * Names for messages and logs: "tcp", "udp", "tls", "dtls".  Inline, so that
 * libc-only code (conn.c in secho-tcp) has it without config.c.
 */
static inline int
config_proto_is_tls(int proto)
{
	return proto == SECHO_PROTO_TLS || proto == SECHO_PROTO_DTLS;
}

static inline const char *
config_proto_name(int proto)
{
	switch (proto) {
	case SECHO_PROTO_TCP:
		return "tcp";
	case SECHO_PROTO_UDP:
		return "udp";
	case SECHO_PROTO_TLS:
		return "tls";
	case SECHO_PROTO_DTLS:
		return "dtls";
	default:
		return "?";
	}
}

/* syslog facility / level by name; -1 when unknown. */
int	config_facility_by_name(const char *name);
int	config_level_by_name(const char *name);

#endif

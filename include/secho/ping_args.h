/*
 * ping_args.h - secho-ping's command line: options, their checks and
 * the parsers of numbers, thresholds and ALPN lists (pure code, no I/O).
 */
#ifndef SECHO_PING_ARGS_H
#define SECHO_PING_ARGS_H

#include <stddef.h>

#define PING_UDP_MAX		65507		/* largest UDP payload (IPv4) */
#define PING_DTLS_MAX	16384	/* one DTLS record's plaintext */
#define PING_STREAM_MAX		(16 * 1024 * 1024)	/* -s over TCP/TLS */
#define PING_DEFAULT_SIZE	64
#define PING_DEFAULT_PORT	7
#define PING_DEFAULT_TLS_PORT	7443
#define PING_ALPN_MAX		512		/* ALPN wire bytes */

/* Exit statuses (SPEC "The client: secho-ping"). */
#define PING_EXIT_OK		0
#define PING_EXIT_FAILED	1	/* a probe lost or corrupted */
#define PING_EXIT_CANNOT	2	/* could not run at all */
#define PING_EXIT_USAGE		64
/* Monitoring mode (monitoring-plugins). */
#define PING_STATE_OK		0
#define PING_STATE_WARNING	1
#define PING_STATE_CRITICAL	2
#define PING_STATE_UNKNOWN	3

enum ping_proto {
	PING_TCP,
	PING_UDP,
	PING_TLS,
	PING_DTLS
};

/* "RTT_MS,LOSS%" of --warning and --critical. */
struct ping_threshold {
	int	 th_set;
	double	 th_rtt_ms;
	double	 th_loss_pct;
};

struct ping_opts {
	enum ping_proto	 po_proto;
	int		 po_udp;		/* -u */
	int		 po_tls;		/* -S */
	unsigned long long po_count;		/* -c; 0: until interrupted */
	double		 po_interval;		/* -i, seconds */
	size_t		 po_size;		/* -s, or the length of -m */
	const char	*po_text;		/* -m, or NULL */
	double		 po_wait;		/* -W, seconds */
	int		 po_new_conn;		/* -N */
	int		 po_quiet;		/* -q */
	int		 po_json;		/* -j */
	int		 po_family;		/* AF_UNSPEC, AF_INET, AF_INET6 */
	const char	*po_ca;
	const char	*po_cert;
	const char	*po_key;
	const char	*po_sni;
	const char	*po_alpn;		/* as given */
	unsigned char	 po_alpn_wire[PING_ALPN_MAX];
	size_t		 po_alpn_len;
	int		 po_tls_version;	/* 0, 12 or 13 */
	int		 po_resume;
	int		 po_insecure;
	struct ping_threshold po_warn;
	struct ping_threshold po_crit;
	int		 po_cert_days;		/* --cert-days given */
	double		 po_cert_warn;
	double		 po_cert_crit;
	int		 po_cert_crit_set;
	int		 po_monitor;		/* monitoring mode */
	const char	*po_host;
	int		 po_port;
	int		 po_help;		/* -h: print usage, exit 0 */
	int		 po_version;		/* -V */
};

/* Defaults: interval 1 s, 64 bytes, wait 2 s, any address family. */
void	 ping_opts_defaults(struct ping_opts *o);

/*
 * Does argv ask for monitoring mode (--warning, --critical or
 * --cert-days, also abbreviated or with "=")?  Decided before parsing,
 * so that a usage error there exits with UNKNOWN (3).  The arguments of
 * other options ("-m --warning") do not count.  1 or 0.
 */
int	 ping_args_monitoring(int argc, char **argv);

/*
 * Parse argv into *o (defaults first) and check the options against each
 * other.  Returns 0, or -1 with a one-line message in err (no program
 * name, no newline).  Resets getopt, so it may be called again.
 * Monitoring mode gets COUNT 5 and interval 0.2 unless -c/-i say
 * otherwise.  With -h or -V it returns 0 with po_help/po_version set
 * and checks nothing else.
 */
int	 ping_args_parse(struct ping_opts *o, int argc, char **argv,
	    char *err, size_t errlen);

/*
 * Seconds, fractions allowed, in [min, max]: "0.2", "2", ".5" (digits
 * and a point only: no sign, exponent, "inf" or "nan").  0/-1.
 */
int	 ping_parse_seconds(const char *s, double min, double max, double *out);

/*
 * Threshold "RTT_MS,LOSS%" ("100,20%", "100.5,20", loss 0..100, both
 * parts required, no spaces).  0, or -1 when malformed.
 */
int	 ping_parse_threshold(const char *s, struct ping_threshold *t);

/* "WARN[,CRIT]" days (non-negative numbers, CRIT <= WARN).  0/-1. */
int	 ping_parse_cert_days(const char *s, double *warn, double *crit,
	    int *crit_set);

/*
 * Comma-separated ALPN protocol names ("h2,http/1.1") to the wire format
 * (length-prefixed).  Each name 1..255 bytes; the whole at most max.
 * Returns the wire length, or -1.
 */
int	 ping_parse_alpn(const char *s, unsigned char *wire, size_t max);

/* "tcp", "udp", "tls" or "dtls". */
const char *ping_proto_name(enum ping_proto p);

#endif

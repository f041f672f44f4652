/*
 * ping_report.h - everything secho-ping prints on standard output: the
 * header, the TLS line, probe lines, the statistics, the JSON object and
 * the monitoring line (SPEC "The client: secho-ping").  Pure code over
 * stdio streams, so the unit tests read it back with open_memstream().
 */
#ifndef SECHO_PING_REPORT_H
#define SECHO_PING_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "secho/ping_args.h"
#include "secho/ping_stats.h"

/* What the TLS line and the JSON "tls" object say (first connection). */
struct ping_tls_info {
	int		 ti_set;		/* a handshake was done */
	char		 ti_version[32];	/* "TLSv1.3" */
	char		 ti_cipher[96];		/* OpenSSL's name */
	char		 ti_alpn[256];		/* negotiated, "" when none */
	int		 ti_has_cert;
	char		 ti_subject[512];	/* RFC 2253 */
	long long	 ti_not_after;		/* time_t */
	int		 ti_verified;
};

/* Outcome of one probe, for its line. */
enum ping_outcome {
	PROBE_ECHOED,
	PROBE_CORRUPTED,
	PROBE_LOST
};

struct ping_probe_line {
	unsigned long long pl_seq;
	enum ping_outcome pl_outcome;
	size_t		 pl_size;	/* bytes sent */
	size_t		 pl_got;	/* bytes received of this probe */
	double		 pl_rtt_us;
	double		 pl_connect_us;	/* < 0: not shown (-N only) */
	double		 pl_handshake_us; /* < 0: not shown */
	int		 pl_resumed;	/* -1: not shown (--resume only) */
	size_t		 pl_bad_off;	/* corrupted: first differing byte */
	int		 pl_sent_byte;	/* at pl_bad_off; -1 none */
	int		 pl_got_byte;	/* at pl_bad_off; -1: echo too short */
	const char	*pl_reason;	/* lost: why, in words */
};

/* "1.5" from 1.5, "100" from 100.0: %.*f without trailing zeros. */
char	*ping_report_num(char *buf, size_t len, double v, int decimals);

/* "2027-03-06T12:00:00Z". */
char	*ping_report_iso8601(char *buf, size_t len, long long t);

/*
 * "expires 2027-03-06, in 94 days" (or "expired 2026-01-01, 3 days
 * ago") for a certificate's notAfter seen at now: whole days, cut
 * toward zero as the monitoring line's cert_days (to a tenth) is.
 */
char	*ping_report_expiry(char *buf, size_t len, long long not_after,
	    long long now);

/* Whole days left (rounded down), and the fraction, at now. */
double	 ping_report_days_left(long long not_after, long long now);

/*
 * SECHO-PING 127.0.0.1:7 (tcp): 64 bytes per probe
 * (HOST at ADDR when HOST is a name).
 */
void	 ping_report_header(FILE *f, const char *host, const char *addr,
	    const char *proto, size_t size);

/* TLS: TLSv1.3 CIPHER, certificate SUBJECT (expires ...), verified */
void	 ping_report_tls(FILE *f, const struct ping_tls_info *ti, long long now);

/* One probe line (echoed, corrupted or lost). */
void	 ping_report_probe(FILE *f, const char *addr, const struct ping_probe_line *p);

/*
 * "64 bytes from ADDR: seq=3 late, already counted as lost", or with seq
 * 0 (which probe cannot be told: -m, -s below 8) "5 bytes from ADDR: late
 * echo of an earlier probe".
 */
void	 ping_report_late(FILE *f, const char *addr, unsigned long long seq,
	    size_t size);

/* "64 bytes from ADDR: seq=3 (DUP!)": another copy of an echo. */
void	 ping_report_dup(FILE *f, const char *addr, unsigned long long seq,
	    size_t size);

/*
 * "Received: TEXT" (one newline at the end); controls (C0 but tab and
 * newline, DEL, C1) and bytes that are not UTF-8 as \xNN.
 */
void	 ping_report_received(FILE *f, const unsigned char *b, size_t n);

/* The statistics lines (the rtt line only when something was echoed). */
void	 ping_report_summary(FILE *f, const char *addr,
	    const struct ping_stats *st, long long elapsed_ms);

/*
 * A JSON string literal (quotes, escapes; NULL writes null).  Bytes that
 * are not well-formed UTF-8 become \ufffd.
 */
void	 ping_report_json_string(FILE *f, const char *s);

/* The -j object, one line.  ti: NULL without -S. */
void	 ping_report_json(FILE *f, const struct ping_opts *o,
	    const struct ping_stats *st, const struct ping_tls_info *ti,
	    long long now);

/*
 * The monitoring line: "SECHO-PING OK - ADDR PROTO: rtt ..., loss ...|
 * perfdata".  ti: NULL without -S.
 */
void	 ping_report_monitor(FILE *f, int state, const char *addr,
	    const struct ping_opts *o, const struct ping_stats *st,
	    const struct ping_tls_info *ti, long long now);

/* "SECHO-PING CRITICAL - ADDR PROTO: WHY" or "SECHO-PING UNKNOWN - WHY". */
void	 ping_report_monitor_error(FILE *f, int state, const char *addr,
	    const char *proto, const char *why);

#endif

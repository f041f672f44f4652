/*
 * ping_main.c - secho-ping, ping(8) for echo services: the run from the
 * command line to the exit status, in one place.  Statuses: 0 every
 * probe intact, 1 one lost or corrupted, 2 could not run, 64 usage; in
 * monitoring mode 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <openssl/crypto.h>
#include <openssl/opensslv.h>

#include "secho/ping_args.h"
#include "secho/ping_conn.h"
#include "secho/ping_probe.h"
#include "secho/ping_report.h"
#include "secho/ping_stats.h"
#include "secho/ping_tls.h"

#ifndef SECHO_VERSION
#define SECHO_VERSION "0.0.0"
#endif

static const char usage_text[] =
    "usage: secho-ping [-u] [-S] [-c COUNT] [-i SECONDS] [-s SIZE | -m TEXT] [-W SECONDS]\n"
    "                  [-N] [-q] [-j] [-4 | -6]\n"
    "                  [--ca FILE] [--cert FILE --key FILE] [--sni NAME] [--alpn LIST]\n"
    "                  [--tls-version 1.2|1.3] [--resume] [--insecure]\n"
    "                  [--warning RTT_MS,LOSS%] [--critical RTT_MS,LOSS%] [--cert-days WARN[,CRIT]]\n"
    "                  HOST [PORT]\n"
    "       secho-ping -h | -V\n"
    "\n"
    "  -u            UDP (with -S: DTLS 1.2)\n"
    "  -S            TLS, verifying the certificate and name (PORT 7443)\n"
    "  -c COUNT      stop after COUNT probes (default: until interrupted)\n"
    "  -i SECONDS    interval between probes (default 1; 0: back to back)\n"
    "  -s SIZE       payload bytes per probe (default 64)\n"
    "  -m TEXT       send TEXT and print \"Received: TEXT\" for each echo\n"
    "  -W SECONDS    wait for each echo (default 2)\n"
    "  -N            a new connection (and handshake) per probe\n"
    "  -q            only the summary\n"
    "  -j            one JSON object at the end instead of text\n"
    "  -4, -6        IPv4 or IPv6 only\n"
    "  --ca FILE     trust these CA certificates instead of the system's\n"
    "  --cert FILE --key FILE   present a client certificate\n"
    "  --sni NAME    server name to send and verify (default: HOST if a name)\n"
    "  --alpn LIST   comma-separated protocols to offer\n"
    "  --tls-version 1.2|1.3   only this TLS version\n"
    "  --resume      with -N: resume the first session, report each probe\n"
    "  --insecure    do not verify the certificate\n"
    "  --warning RTT_MS,LOSS%   monitoring mode: WARNING at or above\n"
    "  --critical RTT_MS,LOSS%  monitoring mode: CRITICAL at or above\n"
    "  --cert-days WARN[,CRIT]  monitoring mode: certificate expiry\n"
    "  -h, --help    this text;  -V, --version  the version\n";

/*
 * The run could not start or go on: the reason on standard error (and
 * the monitoring line).  Returns the status.
 */
static int
cannot(const struct ping_opts *o, const char *addr, const char *msg)
{
	fprintf(stderr, "secho-ping: %s\n", msg);
	if (o->po_monitor) {
		ping_report_monitor_error(stdout, PING_STATE_CRITICAL, addr,
		    ping_proto_name(o->po_proto), msg);
		return PING_STATE_CRITICAL;
	}
	return PING_EXIT_CANNOT;
}

static int
usage_error(int monitor, const char *err)
{
	fprintf(stderr, "secho-ping: %s\n", err);
	if (monitor) {
		ping_report_monitor_error(stdout, PING_STATE_UNKNOWN, NULL, NULL, err);
		return PING_STATE_UNKNOWN;
	}
	fprintf(stderr, "Try 'secho-ping -h' for the options.\n");
	return PING_EXIT_USAGE;
}

/* The first connection: each address in turn until one connects. */
static int
first_connect(struct ping_run *r, struct addrinfo *res, double *conn_us,
    double *hs_us, char *err, size_t errlen)
{
	struct addrinfo *ai;
	int rc = -1;

	for (ai = res; ai != NULL; ai = ai->ai_next) {
		r->r_ai = ai;
		addr_format(ai->ai_addr, r->r_addr, sizeof(r->r_addr));
		rc = ping_probe_connect(r, ping_conn_now_ns() + r->r_wait_ns, conn_us,
		    hs_us, err, errlen);
		if (rc != -1 || ai->ai_next == NULL)
			break;
	}
	return rc;
}

/* Probe lines, -m's Received line and the statistics of one probe. */
static void
account(struct ping_run *r, const struct ping_opts *o,
    const struct ping_probe_line *line)
{
	switch (line->pl_outcome) {
	case PROBE_ECHOED:
		ping_stats_echoed(&r->r_st, line->pl_rtt_us);
		break;
	case PROBE_CORRUPTED:
		ping_stats_corrupted(&r->r_st);
		break;
	case PROBE_LOST:
		ping_stats_lost(&r->r_st);
		break;
	}
	if (line->pl_resumed == 1)
		r->r_st.st_resumed++;
	if (r->r_lines == NULL)
		return;
	ping_report_probe(r->r_lines, r->r_addr, line);
	if (o->po_text != NULL && line->pl_outcome != PROBE_LOST)
		ping_report_received(r->r_lines, r->r_rx, line->pl_got);
}

/*
 * The probes, until -c, SIGINT or a fatal error.  Returns 0, or the
 * status of a run that could not go on.
 */
static int
run(struct ping_run *r, const struct ping_opts *o, double conn_us,
    double hs_us, long long *elapsed_ms)
{
	struct ping_probe_line line;
	struct ping_probe_end end;
	unsigned long long seq;
	long long start, t, next, iv = (long long)(o->po_interval * 1e9);
	char err[720];
	int rc;

	start = next = ping_conn_now_ns();
	for (seq = 1; o->po_count == 0 || seq <= o->po_count; seq++) {
		if (seq > 1 && iv > 0 && ping_conn_sleep_until(next) == -1)
			break;
		if (ping_stop)
			break;
		/* After a slow probe, the next one waits a whole interval. */
		t = ping_conn_now_ns();
		next = (next > t ? next : t) + iv;
		memset(&line, 0, sizeof(line));
		line.pl_connect_us = line.pl_handshake_us = -1;
		line.pl_resumed = -1;
		if (seq > 1 && (o->po_new_conn || !ping_probe_reusable(r))) {
			rc = ping_probe_connect(r, t + r->r_wait_ns, &conn_us, &hs_us,
			    err, sizeof(err));
			if (rc == -2)
				break;
			if (rc == -1) {
				line.pl_seq = seq;
				line.pl_size = r->r_pl.pl_size;
				line.pl_outcome = PROBE_LOST;
				line.pl_reason = err;
				account(r, o, &line);
				continue;
			}
		}
		if (o->po_new_conn) {
			line.pl_connect_us = conn_us;
			line.pl_handshake_us = hs_us;
			if (o->po_resume)
				line.pl_resumed = r->r_resumed;
		}
		ping_probe_one(r, seq, t + r->r_wait_ns, &line, &end);
		if (end.pe_interrupted)
			break;
		if (end.pe_fatal) {
			snprintf(err, sizeof(err), "%s did not echo the first "
			    "probe: %s", r->r_addr, end.pe_reason);
			return cannot(o, r->r_addr, err);
		}
		if (o->po_new_conn)
			ping_probe_disconnect(r);
		account(r, o, &line);
	}
	*elapsed_ms = (ping_conn_now_ns() - start) / 1000000;
	return 0;
}

static int
finish(struct ping_run *r, const struct ping_opts *o, long long elapsed_ms)
{
	const struct ping_tls_info *ti = o->po_tls ? &r->r_tls : NULL;
	long long now = (long long)time(NULL);
	int state;

	if (o->po_monitor) {
		state = ping_stats_state(&r->r_st, o, r->r_tls.ti_has_cert,
		    ping_report_days_left(r->r_tls.ti_not_after, now));
		ping_report_monitor(stdout, state, r->r_addr, o, &r->r_st, ti, now);
		return state;
	}
	if (o->po_json)
		ping_report_json(stdout, o, &r->r_st, ti, now);
	else
		ping_report_summary(stdout, r->r_addr, &r->r_st, elapsed_ms);
	if (r->r_st.st_sent == 0 || r->r_st.st_echoed != r->r_st.st_sent)
		return PING_EXIT_FAILED;
	return PING_EXIT_OK;
}

int
main(int argc, char **argv)
{
	struct ping_opts o;
	struct ping_run r;
	struct addrinfo *res = NULL;
	char err[640];
	double conn_us, hs_us;
	long long elapsed_ms = 0;
	int monitor, status, rc;

	setvbuf(stdout, NULL, _IOLBF, 0);
	monitor = ping_args_monitoring(argc, argv);
	if (ping_args_parse(&o, argc, argv, err, sizeof(err)) == -1)
		return usage_error(monitor, err);
	if (o.po_help) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (o.po_version) {
		printf("secho-ping %s (%s)\n", SECHO_VERSION,
		    OpenSSL_version(OPENSSL_VERSION));
		return 0;
	}
	/* SIGINT/SIGTERM end the run with the statistics (ping_conn.h). */
	if (ping_conn_signals() == -1) {
		snprintf(err, sizeof(err), "cannot set up signals: %s",
		    strerror(errno));
		fprintf(stderr, "secho-ping: %s\n", err);
		if (!o.po_monitor)
			return PING_EXIT_CANNOT;
		ping_report_monitor_error(stdout, PING_STATE_UNKNOWN, NULL, NULL, err);
		return PING_STATE_UNKNOWN;
	}
	if (o.po_insecure)
		fprintf(stderr, "secho-ping: warning: --insecure: the server's "
		    "certificate and name are not verified\n");
	if (ping_conn_resolve(o.po_host, o.po_port, o.po_family, o.po_udp, &res,
	    err, sizeof(err)) == -1)
		return cannot(&o, o.po_host, err);
	if (ping_probe_init(&r, &o, res, err, sizeof(err)) == -1) {
		freeaddrinfo(res);
		fprintf(stderr, "secho-ping: %s\n", err);
		if (!o.po_monitor)
			return PING_EXIT_CANNOT;
		ping_report_monitor_error(stdout, PING_STATE_UNKNOWN, NULL, NULL, err);
		return PING_STATE_UNKNOWN;
	}
	if (o.po_tls && (r.r_ctx = ptls_ctx_new(&o, err, sizeof(err))) == NULL) {
		status = cannot(&o, r.r_addr, err);
		goto out;
	}
	if (!o.po_quiet && !o.po_json && !o.po_monitor)
		r.r_lines = stdout;
	rc = first_connect(&r, res, &conn_us, &hs_us, err, sizeof(err));
	if (rc == -1) {
		status = cannot(&o, r.r_addr, err);
		goto out;
	}
	if (!o.po_json && !o.po_monitor) {
		ping_report_header(stdout, o.po_host, r.r_addr,
		    ping_proto_name(o.po_proto), o.po_size);
		if (o.po_tls && r.r_tls.ti_set)
			ping_report_tls(stdout, &r.r_tls, (long long)time(NULL));
	}
	status = 0;
	if (rc == 0)
		status = run(&r, &o, conn_us, hs_us, &elapsed_ms);
	if (status == 0)
		status = finish(&r, &o, elapsed_ms);
out:
	ping_probe_free(&r);
	SSL_CTX_free(r.r_ctx);
	freeaddrinfo(res);
	return status;
}

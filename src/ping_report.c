/*
 * ping_report.c - secho-ping's output on standard output: header, TLS
 * line, probe lines, statistics, JSON and the monitoring line
 * (ping_report.h).  Pure code over stdio streams.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "secho/addr.h"
#include "secho/ping_report.h"

char *
ping_report_num(char *buf, size_t len, double v, int decimals)
{
	char *p;

	snprintf(buf, len, "%.*f", decimals, v);
	if (strchr(buf, '.') != NULL) {
		p = buf + strlen(buf) - 1;
		while (*p == '0')
			*p-- = '\0';
		if (*p == '.')
			*p = '\0';
	}
	if (strcmp(buf, "-0") == 0)
		snprintf(buf, len, "0");
	return buf;
}

/*
 * The length (1 to 4) of the well-formed UTF-8 character at p, of which
 * at most n bytes may be read (RFC 3629: no overlong forms, surrogates or
 * code points above U+10FFFF), or 0 when none starts there.  Reads no
 * further than the first byte that does not fit, so a NUL ends it.
 */
static size_t
utf8_len(const unsigned char *p, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		if (p[0] == 0xe0)
			lo = 0xa0;
		else if (p[0] == 0xed)
			hi = 0x9f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		if (p[0] == 0xf0)
			lo = 0x90;
		else if (p[0] == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

static char *
ms(char *buf, size_t len, double us)
{
	snprintf(buf, len, "%.3f", us / 1000.0);
	return buf;
}

char *
ping_report_iso8601(char *buf, size_t len, long long t)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "unknown");
	return buf;
}

double
ping_report_days_left(long long not_after, long long now)
{
	return (double)(not_after - now) / 86400.0;
}

/*
 * The days left as shown: cut to a tenth, toward zero, so that the text
 * ("in 1 day", "2 days ago") gives the whole days of the perfdata
 * (cert_days=1.9, cert_days=-2), never one more.
 */
static double
days_shown(long long not_after, long long now)
{
	return trunc(ping_report_days_left(not_after, now) * 10) / 10;
}

char *
ping_report_expiry(char *buf, size_t len, long long not_after, long long now)
{
	char date[32];
	long long days = (long long)days_shown(not_after, now);

	ping_report_iso8601(date, sizeof(date), not_after);
	date[10] = '\0';			/* YYYY-MM-DD */
	if (not_after >= now)
		snprintf(buf, len, "expires %s, in %lld day%s", date, days,
		    days == 1 ? "" : "s");
	else
		snprintf(buf, len, "expired %s, %lld day%s ago", date, -days,
		    days == -1 ? "" : "s");
	return buf;
}

void
ping_report_header(FILE *f, const char *host, const char *addr, const char *proto,
    size_t size)
{
	size_t n = strlen(host);

	/* An IP literal, also "[::1]", is already in ADDR. */
	if (addr_is_literal(host) || (n > 2 && host[0] == '[' &&
	    host[n - 1] == ']'))
		fprintf(f, "SECHO-PING %s (%s): %zu bytes per probe\n", addr,
		    proto, size);
	else
		fprintf(f, "SECHO-PING %s at %s (%s): %zu bytes per probe\n",
		    host, addr, proto, size);
}

void
ping_report_tls(FILE *f, const struct ping_tls_info *ti, long long now)
{
	char exp[96];

	fprintf(f, "TLS: %s %s", ti->ti_version, ti->ti_cipher);
	if (ti->ti_alpn[0] != '\0')
		fprintf(f, " ALPN %s", ti->ti_alpn);
	if (ti->ti_has_cert)
		fprintf(f, ", certificate %s%s(%s)", ti->ti_subject,
		    ti->ti_subject[0] != '\0' ? " " : "",
		    ping_report_expiry(exp, sizeof(exp), ti->ti_not_after, now));
	else
		fprintf(f, ", no certificate");
	fprintf(f, ", %s\n", ti->ti_verified ? "verified" : "not verified");
}

void
ping_report_probe(FILE *f, const char *addr, const struct ping_probe_line *p)
{
	char a[32], b[32];

	if (p->pl_outcome == PROBE_LOST) {
		fprintf(f, "no echo from %s: seq=%llu lost (%s)\n", addr,
		    p->pl_seq, p->pl_reason ? p->pl_reason : "timeout");
		return;
	}
	fprintf(f, "%zu bytes from %s: seq=%llu time=%s ms", p->pl_got, addr,
	    p->pl_seq, ms(a, sizeof(a), p->pl_rtt_us));
	if (p->pl_connect_us >= 0)
		fprintf(f, " connect=%s ms", ms(b, sizeof(b), p->pl_connect_us));
	if (p->pl_handshake_us >= 0)
		fprintf(f, " handshake=%s ms", ms(b, sizeof(b),
		    p->pl_handshake_us));
	if (p->pl_resumed >= 0)
		fprintf(f, " %s", p->pl_resumed ? "resumed" : "new session");
	if (p->pl_outcome == PROBE_CORRUPTED) {
		/* Bytes counted from 1, as cmp(1) does. */
		if (p->pl_got_byte < 0)
			fprintf(f, " CORRUPTED: %zu of %zu bytes came back",
			    p->pl_got, p->pl_size);
		else if (p->pl_sent_byte < 0)
			fprintf(f, " CORRUPTED: %zu bytes came back for %zu "
			    "sent", p->pl_got, p->pl_size);
		else
			fprintf(f, " CORRUPTED at byte %zu (sent 0x%02x, got "
			    "0x%02x)", p->pl_bad_off + 1, p->pl_sent_byte,
			    p->pl_got_byte);
	}
	fputc('\n', f);
}

void
ping_report_late(FILE *f, const char *addr, unsigned long long seq, size_t size)
{
	if (seq == 0)
		fprintf(f, "%zu bytes from %s: late echo of an earlier probe\n",
		    size, addr);
	else
		fprintf(f, "%zu bytes from %s: seq=%llu late, already counted "
		    "as lost\n", size, addr, seq);
}

void
ping_report_dup(FILE *f, const char *addr, unsigned long long seq, size_t size)
{
	fprintf(f, "%zu bytes from %s: seq=%llu (DUP!)\n", size, addr, seq);
}

void
ping_report_received(FILE *f, const unsigned char *b, size_t n)
{
	size_t i, j, k;

	fputs("Received: ", f);
	/*
	 * The server's bytes, for a terminal: text (UTF-8 included) as it
	 * is, but controls as \xNN: C0 but tab and newline, DEL, C1 (U+0080
	 * to U+009F), and bytes that are not UTF-8 (0x9b alone is CSI to
	 * some terminals).
	 */
	for (i = 0; i < n; i += k) {
		k = utf8_len(b + i, n - i);
		if (k == 0 || (k == 1 && ((b[i] < 0x20 && b[i] != '\t' &&
		    b[i] != '\n') || b[i] == 0x7f)) ||
		    (k == 2 && b[i] == 0xc2 && b[i + 1] < 0xa0)) {
			if (k == 0)
				k = 1;
			for (j = 0; j < k; j++)
				fprintf(f, "\\x%02x", b[i + j]);
		} else
			fwrite(b + i, 1, k, f);
	}
	if (n == 0 || b[n - 1] != '\n')
		fputc('\n', f);
}

void
ping_report_summary(FILE *f, const char *addr, const struct ping_stats *st,
    long long elapsed_ms)
{
	char l[32], a[32], b[32], c[32], d[32];

	fprintf(f, "--- %s secho-ping statistics ---\n", addr);
	fprintf(f, "%llu probes sent, %llu echoed, %llu lost, %llu corrupted, "
	    "%s%% loss, time %lld ms\n", st->st_sent, st->st_echoed,
	    st->st_lost, st->st_corrupted,
	    ping_report_num(l, sizeof(l), ping_stats_loss_pct(st), 3), elapsed_ms);
	if (st->st_echoed > 0)
		fprintf(f, "rtt min/avg/max/mdev = %s/%s/%s/%s ms\n",
		    ms(a, sizeof(a), st->st_min_us),
		    ms(b, sizeof(b), st->st_mean_us),
		    ms(c, sizeof(c), st->st_max_us),
		    ms(d, sizeof(d), ping_stats_mdev_us(st)));
}

void
ping_report_json_string(FILE *f, const char *s)
{
	const unsigned char *p;
	size_t n;

	if (s == NULL) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	for (p = (const unsigned char *)s; *p; p++) {
		if (*p >= 0x80) {
			/* JSON is UTF-8: anything else becomes U+FFFD. */
			if ((n = utf8_len(p, 4)) == 0)
				fputs("\\ufffd", f);
			else {
				fwrite(p, 1, n, f);
				p += n - 1;
			}
			continue;
		}
		switch (*p) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\b':
			fputs("\\b", f);
			break;
		case '\f':
			fputs("\\f", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

void
ping_report_json(FILE *f, const struct ping_opts *o, const struct ping_stats *st,
    const struct ping_tls_info *ti, long long now)
{
	char l[32], a[32], b[32], c[32], d[32], t[40];

	(void)now;
	fputs("{\"host\": ", f);
	ping_report_json_string(f, o->po_host);
	fprintf(f, ", \"port\": %d, \"proto\": \"%s\", \"sent\": %llu, "
	    "\"echoed\": %llu, \"lost\": %llu, \"corrupted\": %llu, "
	    "\"loss_percent\": %s, \"rtt_ms\": ", o->po_port,
	    ping_proto_name(o->po_proto), st->st_sent, st->st_echoed,
	    st->st_lost, st->st_corrupted,
	    ping_report_num(l, sizeof(l), ping_stats_loss_pct(st), 3));
	if (st->st_echoed == 0)
		fputs("null", f);
	else
		fprintf(f, "{\"min\": %s, \"avg\": %s, \"max\": %s, "
		    "\"mdev\": %s}", ms(a, sizeof(a), st->st_min_us),
		    ms(b, sizeof(b), st->st_mean_us),
		    ms(c, sizeof(c), st->st_max_us),
		    ms(d, sizeof(d), ping_stats_mdev_us(st)));
	if (ti != NULL) {
		fputs(", \"tls\": {\"version\": ", f);
		ping_report_json_string(f, ti->ti_set ? ti->ti_version : NULL);
		fputs(", \"cipher\": ", f);
		ping_report_json_string(f, ti->ti_set ? ti->ti_cipher : NULL);
		fprintf(f, ", \"verified\": %s, \"resumed\": %llu, \"alpn\": ",
		    ti->ti_set && ti->ti_verified ? "true" : "false",
		    st->st_resumed);
		ping_report_json_string(f, ti->ti_alpn[0] ? ti->ti_alpn : NULL);
		fputs(", \"subject\": ", f);
		ping_report_json_string(f, ti->ti_has_cert ? ti->ti_subject : NULL);
		fputs(", \"not_after\": ", f);
		ping_report_json_string(f, ti->ti_has_cert ?
		    ping_report_iso8601(t, sizeof(t), ti->ti_not_after) : NULL);
		fputc('}', f);
	}
	fputs("}\n", f);
}

/* ";WARN;CRIT" of one perfdata value (empty fields when not set). */
static void
perf_thresholds(FILE *f, const struct ping_opts *o, int loss)
{
	char n[32];
	const struct ping_threshold *t[2] = { &o->po_warn, &o->po_crit };
	int i;

	for (i = 0; i < 2; i++) {
		fputc(';', f);
		if (t[i]->th_set)
			fputs(ping_report_num(n, sizeof(n), loss ?
			    t[i]->th_loss_pct : t[i]->th_rtt_ms, 3), f);
	}
}

void
ping_report_monitor(FILE *f, int state, const char *addr, const struct ping_opts *o,
    const struct ping_stats *st, const struct ping_tls_info *ti, long long now)
{
	char r[32], l[32], exp[96], n[32];
	double days = 0;
	int cert = ti != NULL && ti->ti_has_cert;

	ping_report_num(l, sizeof(l), ping_stats_loss_pct(st), 3);
	fprintf(f, "SECHO-PING %s - %s %s: ", ping_stats_state_name(state), addr,
	    ping_proto_name(o->po_proto));
	if (st->st_echoed > 0)
		fprintf(f, "rtt %s ms", ms(r, sizeof(r), st->st_mean_us));
	else
		fputs("no echo", f);
	fprintf(f, ", loss %s%%", l);
	if (st->st_corrupted > 0)
		fprintf(f, ", %llu corrupted", st->st_corrupted);
	if (cert) {
		days = days_shown(ti->ti_not_after, now);
		fprintf(f, ", certificate %s", ping_report_expiry(exp, sizeof(exp),
		    ti->ti_not_after, now));
	}
	fputs("|rtt=", f);
	if (st->st_echoed > 0)
		fprintf(f, "%sms", r);
	else
		fputc('U', f);
	perf_thresholds(f, o, 0);
	fprintf(f, ";0 loss=%s%%", l);
	perf_thresholds(f, o, 1);
	fputs(";0;100", f);
	if (cert && o->po_cert_days) {
		fprintf(f, " cert_days=%s;%s;", ping_report_num(n, sizeof(n), days, 1),
		    ping_report_num(r, sizeof(r), o->po_cert_warn, 3));
		if (o->po_cert_crit_set)
			fputs(ping_report_num(n, sizeof(n), o->po_cert_crit, 3), f);
	}
	fputc('\n', f);
}

void
ping_report_monitor_error(FILE *f, int state, const char *addr, const char *proto,
    const char *why)
{
	if (addr != NULL)
		fprintf(f, "SECHO-PING %s - %s %s: %s\n",
		    ping_stats_state_name(state), addr, proto, why);
	else
		fprintf(f, "SECHO-PING %s - %s\n", ping_stats_state_name(state), why);
}

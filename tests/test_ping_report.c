/*
 * test_ping_report.c - secho-ping's output, character for character:
 * SPEC's example lines, JSON string escaping and the -j object, the
 * monitoring line with its performance data (cmocka, open_memstream).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "secho/ping_report.h"

/* 2026-12-02 00:00:00 UTC and 2027-03-06 00:00:00 UTC: 94 days. */
#define NOW		1796169600LL
#define NOT_AFTER	(NOW + 94 * 86400LL)

struct out {
	char	*buf;
	size_t	 len;
	FILE	*f;
};

static FILE *
out_open(struct out *o)
{
	o->buf = NULL;
	o->len = 0;
	o->f = open_memstream(&o->buf, &o->len);
	assert_non_null(o->f);
	return o->f;
}

/* Close and compare with want; frees the buffer. */
static void
out_is(struct out *o, const char *want)
{
	fclose(o->f);
	if (strcmp(o->buf, want) != 0)
		fail_msg("got:\n%s\nwant:\n%s", o->buf, want);
	free(o->buf);
}

static void
spec_stats(struct ping_stats *st)
{
	ping_stats_init(st);
	ping_stats_echoed(st, 112);
	ping_stats_echoed(st, 98);
}

static void
test_spec_text(void **state)
{
	struct ping_probe_line p;
	struct ping_tls_info ti;
	struct ping_stats st;
	struct out o;

	ping_report_header(out_open(&o), "127.0.0.1", "127.0.0.1:7", "tcp", 64);
	out_is(&o, "SECHO-PING 127.0.0.1:7 (tcp): 64 bytes per probe\n");
	ping_report_header(out_open(&o), "[::1]", "[::1]:7", "udp", 64);
	out_is(&o, "SECHO-PING [::1]:7 (udp): 64 bytes per probe\n");
	ping_report_header(out_open(&o), "localhost", "[::1]:7443", "tls", 5);
	out_is(&o, "SECHO-PING localhost at [::1]:7443 (tls): 5 bytes per probe\n");

	memset(&ti, 0, sizeof(ti));
	ti.ti_set = ti.ti_has_cert = ti.ti_verified = 1;
	strcpy(ti.ti_version, "TLSv1.3");
	strcpy(ti.ti_cipher, "TLS_AES_128_GCM_SHA256");
	strcpy(ti.ti_subject, "CN=localhost");
	ti.ti_not_after = NOT_AFTER;
	ping_report_tls(out_open(&o), &ti, NOW);
	out_is(&o, "TLS: TLSv1.3 TLS_AES_128_GCM_SHA256, certificate "
	    "CN=localhost (expires 2027-03-06, in 94 days), verified\n");
	ti.ti_verified = 0;
	strcpy(ti.ti_alpn, "h2");
	ping_report_tls(out_open(&o), &ti, NOT_AFTER + 86400 * 3);
	out_is(&o, "TLS: TLSv1.3 TLS_AES_128_GCM_SHA256 ALPN h2, certificate "
	    "CN=localhost (expired 2027-03-06, 3 days ago), not verified\n");
	/* An empty subject: no second space. */
	ti.ti_subject[0] = '\0';
	ping_report_tls(out_open(&o), &ti, NOW);
	out_is(&o, "TLS: TLSv1.3 TLS_AES_128_GCM_SHA256 ALPN h2, certificate "
	    "(expires 2027-03-06, in 94 days), not verified\n");

	memset(&p, 0, sizeof(p));
	p.pl_seq = 1;
	p.pl_size = p.pl_got = 64;
	p.pl_rtt_us = 112.4;
	p.pl_connect_us = p.pl_handshake_us = -1;
	p.pl_resumed = -1;
	ping_report_probe(out_open(&o), "127.0.0.1:7", &p);
	out_is(&o, "64 bytes from 127.0.0.1:7: seq=1 time=0.112 ms\n");
	p.pl_connect_us = 45;
	p.pl_handshake_us = 1502;
	p.pl_resumed = 1;
	ping_report_probe(out_open(&o), "127.0.0.1:7", &p);
	out_is(&o, "64 bytes from 127.0.0.1:7: seq=1 time=0.112 ms "
	    "connect=0.045 ms handshake=1.502 ms resumed\n");
	p.pl_connect_us = p.pl_handshake_us = -1;
	p.pl_resumed = -1;
	p.pl_outcome = PROBE_CORRUPTED;
	p.pl_bad_off = 17;
	p.pl_sent_byte = 0x41;
	p.pl_got_byte = 0x61;
	ping_report_probe(out_open(&o), "127.0.0.1:7", &p);
	out_is(&o, "64 bytes from 127.0.0.1:7: seq=1 time=0.112 ms CORRUPTED "
	    "at byte 18 (sent 0x41, got 0x61)\n");
	ping_report_late(out_open(&o), "127.0.0.1:7", 4, 64);
	out_is(&o, "64 bytes from 127.0.0.1:7: seq=4 late, already counted as "
	    "lost\n");
	ping_report_late(out_open(&o), "127.0.0.1:7", 0, 5);
	out_is(&o, "5 bytes from 127.0.0.1:7: late echo of an earlier probe\n");
	ping_report_dup(out_open(&o), "[::1]:7", 6, 64);
	out_is(&o, "64 bytes from [::1]:7: seq=6 (DUP!)\n");
	p.pl_outcome = PROBE_LOST;
	p.pl_reason = "no echo within 2 s";
	ping_report_probe(out_open(&o), "127.0.0.1:7", &p);
	out_is(&o, "no echo from 127.0.0.1:7: seq=1 lost (no echo within 2 s)\n");

	spec_stats(&st);
	ping_report_summary(out_open(&o), "127.0.0.1:7", &st, 1002);
	out_is(&o, "--- 127.0.0.1:7 secho-ping statistics ---\n"
	    "2 probes sent, 2 echoed, 0 lost, 0 corrupted, 0% loss, time 1002 ms\n"
	    "rtt min/avg/max/mdev = 0.098/0.105/0.112/0.007 ms\n");
	ping_stats_init(&st);
	ping_stats_lost(&st);
	ping_stats_lost(&st);
	ping_stats_echoed(&st, 1000);
	ping_report_summary(out_open(&o), "[::1]:7", &st, 5);
	out_is(&o, "--- [::1]:7 secho-ping statistics ---\n"
	    "3 probes sent, 1 echoed, 2 lost, 0 corrupted, 66.667% loss, time 5 ms\n"
	    "rtt min/avg/max/mdev = 1.000/1.000/1.000/0.000 ms\n");
	ping_stats_init(&st);
	ping_stats_lost(&st);
	ping_report_summary(out_open(&o), "[::1]:7", &st, 5);
	out_is(&o, "--- [::1]:7 secho-ping statistics ---\n"
	    "1 probes sent, 0 echoed, 1 lost, 0 corrupted, 100% loss, time 5 ms\n");
}

static void
test_received(void **state)
{
	struct out o;

	ping_report_received(out_open(&o), (const unsigned char *)"hello", 5);
	out_is(&o, "Received: hello\n");
	ping_report_received(out_open(&o), (const unsigned char *)"hi\n", 3);
	out_is(&o, "Received: hi\n");
	ping_report_received(out_open(&o), (const unsigned char *)"a\033[2Jb\x7f", 7);
	out_is(&o, "Received: a\\x1b[2Jb\\x7f\n");
	/* UTF-8 text stays; C1 controls and bytes that are not UTF-8 do not. */
	ping_report_received(out_open(&o), (const unsigned char *)"\xc3\xbc"
	    "ber \xe2\x9c\x93", 9);
	out_is(&o, "Received: \xc3\xbc" "ber \xe2\x9c\x93\n");
	ping_report_received(out_open(&o), (const unsigned char *)"a\x9b" "2Jb"
	    "\xc2\x9b" "c\xff\xc3", 10);
	out_is(&o, "Received: a\\x9b2Jb\\xc2\\x9bc\\xff\\xc3\n");
}

static void
test_json_string(void **state)
{
	struct out o;

	ping_report_json_string(out_open(&o), "plain");
	out_is(&o, "\"plain\"");
	ping_report_json_string(out_open(&o), "a\"b\\c/d");
	out_is(&o, "\"a\\\"b\\\\c/d\"");
	ping_report_json_string(out_open(&o), "\n\r\t\b\f\x01\x1f\x7f");
	out_is(&o, "\"\\n\\r\\t\\b\\f\\u0001\\u001f\\u007f\"");
	ping_report_json_string(out_open(&o), "CN=Zürich \xe2\x9c\x93");
	out_is(&o, "\"CN=Zürich \xe2\x9c\x93\"");
	/* Well-formed UTF-8 stays, up to U+10FFFF. */
	ping_report_json_string(out_open(&o), "\xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf "
	    "\xed\x9f\xbf \xef\xbf\xbd");
	out_is(&o, "\"\xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf \xed\x9f\xbf \xef\xbf\xbd\"");
	/*
	 * Anything else is U+FFFD, byte by byte: a character cut at the
	 * end, a lone continuation byte, overlong forms, a surrogate, above
	 * U+10FFFF, bytes that are never UTF-8.
	 */
	ping_report_json_string(out_open(&o), "CN=\xc3");
	out_is(&o, "\"CN=\\ufffd\"");
	ping_report_json_string(out_open(&o), "a\xe2\x9c");
	out_is(&o, "\"a\\ufffd\\ufffd\"");
	ping_report_json_string(out_open(&o), "\x80\xc0\xaf\xe0\x80\xaf\xed\xa0\x80"
	    "\xf4\x90\x80\x80\xff\xfe");
	out_is(&o, "\"\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd"
	    "\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\\ufffd\"");
	ping_report_json_string(out_open(&o), NULL);
	out_is(&o, "null");
	ping_report_json_string(out_open(&o), "");
	out_is(&o, "\"\"");
}

static void
test_json_object(void **state)
{
	struct ping_opts opt;
	struct ping_tls_info ti;
	struct ping_stats st;
	struct out o;

	ping_opts_defaults(&opt);
	opt.po_host = "echo\"host";
	opt.po_port = 7;
	opt.po_proto = PING_TCP;
	spec_stats(&st);
	ping_report_json(out_open(&o), &opt, &st, NULL, NOW);
	out_is(&o, "{\"host\": \"echo\\\"host\", \"port\": 7, \"proto\": \"tcp\", "
	    "\"sent\": 2, \"echoed\": 2, \"lost\": 0, \"corrupted\": 0, "
	    "\"loss_percent\": 0, \"rtt_ms\": {\"min\": 0.098, \"avg\": 0.105, "
	    "\"max\": 0.112, \"mdev\": 0.007}}\n");

	ping_stats_init(&st);
	ping_stats_lost(&st);
	st.st_resumed = 0;
	opt.po_host = "localhost";
	opt.po_port = 7443;
	opt.po_proto = PING_TLS;
	memset(&ti, 0, sizeof(ti));
	ti.ti_set = ti.ti_has_cert = 1;
	strcpy(ti.ti_version, "TLSv1.2");
	strcpy(ti.ti_cipher, "ECDHE-ECDSA-AES128-GCM-SHA256");
	strcpy(ti.ti_subject, "CN=localhost,O=secho \"dev\"");
	ti.ti_not_after = NOT_AFTER + 3600;
	ping_report_json(out_open(&o), &opt, &st, &ti, NOW);
	out_is(&o, "{\"host\": \"localhost\", \"port\": 7443, \"proto\": \"tls\", "
	    "\"sent\": 1, \"echoed\": 0, \"lost\": 1, \"corrupted\": 0, "
	    "\"loss_percent\": 100, \"rtt_ms\": null, \"tls\": {\"version\": "
	    "\"TLSv1.2\", \"cipher\": \"ECDHE-ECDSA-AES128-GCM-SHA256\", "
	    "\"verified\": false, \"resumed\": 0, \"alpn\": null, \"subject\": "
	    "\"CN=localhost,O=secho \\\"dev\\\"\", \"not_after\": "
	    "\"2027-03-06T01:00:00Z\"}}\n");
}

static void
test_monitor(void **state)
{
	struct ping_opts opt;
	struct ping_tls_info ti;
	struct ping_stats st;
	struct out o;

	ping_opts_defaults(&opt);
	opt.po_proto = PING_TCP;
	assert_int_equal(ping_parse_threshold("100,20%", &opt.po_warn), 0);
	assert_int_equal(ping_parse_threshold("500,60%", &opt.po_crit), 0);
	spec_stats(&st);
	ping_report_monitor(out_open(&o), PING_STATE_OK, "127.0.0.1:7", &opt, &st,
	    NULL, NOW);
	out_is(&o, "SECHO-PING OK - 127.0.0.1:7 tcp: rtt 0.105 ms, loss 0%"
	    "|rtt=0.105ms;100;500;0 loss=0%;20;60;0;100\n");

	ping_stats_init(&st);
	ping_stats_lost(&st);
	opt.po_crit.th_set = 0;
	ping_report_monitor(out_open(&o), PING_STATE_CRITICAL, "127.0.0.1:7", &opt,
	    &st, NULL, NOW);
	out_is(&o, "SECHO-PING CRITICAL - 127.0.0.1:7 tcp: no echo, loss 100%"
	    "|rtt=U;100;;0 loss=100%;20;;0;100\n");

	spec_stats(&st);
	ping_stats_corrupted(&st);
	opt.po_proto = PING_TLS;
	opt.po_warn.th_set = 0;
	opt.po_cert_days = 1;
	opt.po_cert_warn = 30;
	opt.po_cert_crit = 7;
	opt.po_cert_crit_set = 1;
	memset(&ti, 0, sizeof(ti));
	ti.ti_set = ti.ti_has_cert = 1;
	ti.ti_not_after = NOW + 2 * 86400 - 8640;
	ping_report_monitor(out_open(&o), PING_STATE_CRITICAL, "[::1]:7443", &opt,
	    &st, &ti, NOW);
	out_is(&o, "SECHO-PING CRITICAL - [::1]:7443 tls: rtt 0.105 ms, loss 0%, "
	    "1 corrupted, certificate expires 2026-12-03, in 1 day"
	    "|rtt=0.105ms;;;0 loss=0%;;;0;100 cert_days=1.9;30;7\n");

	/* 1.96 days: the text's whole days are the perfdata's, not one more. */
	ti.ti_not_after = NOW + 2 * 86400 - 3456;
	ping_report_monitor(out_open(&o), PING_STATE_CRITICAL, "[::1]:7443", &opt,
	    &st, &ti, NOW);
	out_is(&o, "SECHO-PING CRITICAL - [::1]:7443 tls: rtt 0.105 ms, loss 0%, "
	    "1 corrupted, certificate expires 2026-12-03, in 1 day"
	    "|rtt=0.105ms;;;0 loss=0%;;;0;100 cert_days=1.9;30;7\n");
	/* Expired 2.04 days ago: "2 days ago", cert_days=-2. */
	ti.ti_not_after = NOW - 2 * 86400 - 3456;
	ping_report_monitor(out_open(&o), PING_STATE_CRITICAL, "[::1]:7443", &opt,
	    &st, &ti, NOW);
	out_is(&o, "SECHO-PING CRITICAL - [::1]:7443 tls: rtt 0.105 ms, loss 0%, "
	    "1 corrupted, certificate expired 2026-11-29, 2 days ago"
	    "|rtt=0.105ms;;;0 loss=0%;;;0;100 cert_days=-2;30;7\n");

	ping_report_monitor_error(out_open(&o), PING_STATE_UNKNOWN, NULL, NULL,
	    "malformed --warning threshold \"x\"");
	out_is(&o, "SECHO-PING UNKNOWN - malformed --warning threshold \"x\"\n");
	ping_report_monitor_error(out_open(&o), PING_STATE_CRITICAL, "127.0.0.1:7",
	    "tcp", "cannot connect to 127.0.0.1:7: connection refused");
	out_is(&o, "SECHO-PING CRITICAL - 127.0.0.1:7 tcp: cannot connect to "
	    "127.0.0.1:7: connection refused\n");
}

static void
test_numbers(void **state)
{
	char b[32];

	assert_string_equal(ping_report_num(b, sizeof(b), 100, 3), "100");
	assert_string_equal(ping_report_num(b, sizeof(b), 20.5, 3), "20.5");
	assert_string_equal(ping_report_num(b, sizeof(b), 100.0 / 3, 3), "33.333");
	assert_string_equal(ping_report_num(b, sizeof(b), 0.0001, 3), "0");
	assert_string_equal(ping_report_num(b, sizeof(b), -0.01, 1), "0");
	assert_string_equal(ping_report_iso8601(b, sizeof(b), NOT_AFTER),
	    "2027-03-06T00:00:00Z");
	assert_string_equal(ping_report_expiry(b, sizeof(b), NOW + 86400 + 5, NOW),
	    "expires 2026-12-03, in 1 day");
	assert_string_equal(ping_report_expiry(b, sizeof(b), NOW + 5, NOW),
	    "expires 2026-12-02, in 0 days");
	assert_string_equal(ping_report_expiry(b, sizeof(b), NOW - 86400 - 5,
	    NOW), "expired 2026-11-30, 1 day ago");
	assert_string_equal(ping_report_expiry(b, sizeof(b), NOW - 3 * 86400 + 5,
	    NOW), "expired 2026-11-29, 2 days ago");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_text),
		cmocka_unit_test(test_received),
		cmocka_unit_test(test_json_string),
		cmocka_unit_test(test_json_object),
		cmocka_unit_test(test_monitor),
		cmocka_unit_test(test_numbers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

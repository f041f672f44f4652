/*
 * test_ping_args.c - secho-ping's command line: defaults, monitoring
 * defaults, conflicting options, thresholds, seconds, certificate days
 * and ALPN lists (cmocka).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "secho/ping_args.h"

#define MAXARGS	24

/* Parse a NULL-terminated list of arguments after "secho-ping". */
static int
parse_list(struct ping_opts *o, char *err, size_t errlen,
    const char *const *args)
{
	static char store[MAXARGS][128];
	char *argv[MAXARGS + 1];
	int argc = 0;

	argv[argc++] = strcpy(store[0], "secho-ping");
	for (; *args != NULL && argc < MAXARGS; args++, argc++)
		argv[argc] = strcpy(store[argc], *args);
	argv[argc] = NULL;
	return ping_args_parse(o, argc, argv, err, errlen);
}

#define PARSE(o, err, ...) \
	parse_list((o), (err), sizeof(err), (const char *[]){ __VA_ARGS__, NULL })

static void
test_defaults(void **state)
{
	struct ping_opts o;
	char err[256];

	assert_int_equal(PARSE(&o, err, "127.0.0.1"), 0);
	assert_int_equal(o.po_proto, PING_TCP);
	assert_int_equal(o.po_port, 7);
	assert_true(o.po_count == 0);
	assert_true(o.po_interval == 1.0);
	assert_int_equal(o.po_size, 64);
	assert_true(o.po_wait == 2.0);
	assert_int_equal(o.po_family, AF_UNSPEC);
	assert_false(o.po_monitor);
	assert_string_equal(o.po_host, "127.0.0.1");

	assert_int_equal(PARSE(&o, err, "-S", "localhost"), 0);
	assert_int_equal(o.po_proto, PING_TLS);
	assert_int_equal(o.po_port, 7443);
	assert_int_equal(PARSE(&o, err, "-u", "::1", "7007"), 0);
	assert_int_equal(o.po_proto, PING_UDP);
	assert_int_equal(o.po_port, 7007);
	/* DTLS: 1.2 only, one record (2^14 bytes) per probe. */
	assert_int_equal(PARSE(&o, err, "-S", "-u", "h"), 0);
	assert_int_equal(o.po_proto, PING_DTLS);
	assert_int_equal(o.po_port, 7443);
	assert_int_equal(PARSE(&o, err, "-S", "-u", "-s", "16384", "h"), 0);
	assert_int_equal(PARSE(&o, err, "-S", "-u", "-s", "16385", "h"), -1);
	assert_non_null(strstr(err, "DTLS record"));
	assert_int_equal(PARSE(&o, err, "-S", "-u", "--tls-version", "1.3",
	    "h"), -1);

	assert_int_equal(PARSE(&o, err, "-c", "3", "-i", "0", "-s", "1400",
	    "-W", "0.5", "-N", "-q", "-6", "h", "9"), 0);
	assert_true(o.po_count == 3);
	assert_true(o.po_interval == 0);
	assert_int_equal(o.po_size, 1400);
	assert_true(o.po_wait == 0.5);
	assert_true(o.po_new_conn && o.po_quiet);
	assert_int_equal(o.po_family, AF_INET6);

	assert_int_equal(PARSE(&o, err, "-m", "hello world", "h"), 0);
	assert_string_equal(o.po_text, "hello world");
	assert_int_equal(o.po_size, 11);

	assert_int_equal(PARSE(&o, err, "-S", "--ca", "ca.pem", "--cert", "c",
	    "--key", "k", "--sni", "echo.example", "--alpn", "h2,echo",
	    "--tls-version", "1.3", "-N", "--resume", "h"), 0);
	assert_string_equal(o.po_ca, "ca.pem");
	assert_int_equal(o.po_tls_version, 13);
	assert_int_equal(o.po_alpn_len, 3 + 5);
	assert_true(o.po_resume);

	assert_int_equal(PARSE(&o, err, "-h"), 0);
	assert_true(o.po_help);
}

static void
test_monitoring_defaults(void **state)
{
	struct ping_opts o;
	char err[256];

	assert_int_equal(PARSE(&o, err, "--warning", "100,20%", "--critical",
	    "500,60%", "h"), 0);
	assert_true(o.po_monitor);
	assert_true(o.po_count == 5);
	assert_true(o.po_interval == 0.2);
	assert_true(o.po_warn.th_set && o.po_warn.th_rtt_ms == 100 &&
	    o.po_warn.th_loss_pct == 20);
	assert_true(o.po_crit.th_rtt_ms == 500 && o.po_crit.th_loss_pct == 60);

	assert_int_equal(PARSE(&o, err, "-c", "2", "-i", "1", "--critical",
	    "1,1", "h"), 0);
	assert_true(o.po_count == 2 && o.po_interval == 1);

	assert_int_equal(PARSE(&o, err, "-S", "--cert-days", "30,7", "h"), 0);
	assert_true(o.po_monitor && o.po_cert_days);
	assert_true(o.po_cert_warn == 30 && o.po_cert_crit == 7 &&
	    o.po_cert_crit_set);
}

static void
test_monitoring_prescan(void **state)
{
	static const struct {
		const char	*arg;
		int		 want;
	} t[] = {
		{ "--warning", 1 }, { "--warning=1,1", 1 }, { "--crit", 1 },
		{ "--cert-days=3", 1 }, { "--cert", 0 }, { "-w", 0 },
		{ "--ca", 0 }, { "host", 0 },
	};
	char a0[] = "secho-ping", a1[32], a2[] = "--", a3[] = "--warning";
	char *argv[3];
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		snprintf(a1, sizeof(a1), "%s", t[i].arg);
		argv[0] = a0;
		argv[1] = a1;
		argv[2] = NULL;
		assert_int_equal(ping_args_monitoring(2, argv), t[i].want);
	}
	/* After "--" it is HOST or PORT. */
	argv[1] = a2;
	argv[2] = a3;
	assert_int_equal(ping_args_monitoring(3, argv), 0);
}

/* The argument of another option is not monitoring mode. */
static void
test_monitoring_prescan_arguments(void **state)
{
	static const struct {
		const char	*args[6];
		int		 want;
	} t[] = {
		{ { "-m", "--warning" }, 0 },
		{ { "-qm", "--warning", "h" }, 0 },
		{ { "-m--warning", "h" }, 0 },
		{ { "--sni", "--critical", "h" }, 0 },
		{ { "--sn", "--cert-days", "h" }, 0 },
		{ { "-c", "3", "--warning", "1,1", "h" }, 1 },
		{ { "-qc3", "--warning", "1,1", "h" }, 1 },
		{ { "-mx", "--warning", "1,1", "h" }, 1 },
		{ { "--sni=x", "--warning=1,1", "h" }, 1 },
		{ { "-q", "--critical", "1,1", "h" }, 1 },
	};
	char store[6][32];
	char *argv[8];
	size_t i;
	int argc;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		argv[0] = strcpy(store[0], "secho-ping");
		for (argc = 1; t[i].args[argc - 1] != NULL; argc++)
			argv[argc] = strcpy(store[argc], t[i].args[argc - 1]);
		argv[argc] = NULL;
		if (ping_args_monitoring(argc, argv) != t[i].want)
			fail_msg("case %zu (%s %s): want %d", i, t[i].args[0],
			    t[i].args[1], t[i].want);
	}
}

static void
test_errors(void **state)
{
	static const struct {
		const char	*args[8];
		const char	*want;	/* in the message */
	} t[] = {
		{ { "-u", "-s", "65508", "h" }, "at most 65507" },
		{ { "-s", "0", "h" }, "SIZE" },
		{ { "-s", "20000000", "h" }, "SIZE" },
		{ { "-4", "-6", "h" }, "-4 and -6" },
		{ { "-s", "10", "-m", "x", "h" }, "-s and -m" },
		{ { "-m", "", "h" }, "empty" },
		{ { "--ca", "f", "h" }, "--ca needs -S" },
		{ { "--insecure", "h" }, "--insecure needs -S" },
		{ { "--cert-days", "3", "h" }, "--cert-days needs -S" },
		{ { "-S", "--cert", "c", "h" }, "go together" },
		{ { "-S", "--key", "k", "h" }, "go together" },
		{ { "-S", "--resume", "h" }, "--resume needs -N" },
		{ { "-S", "--insecure", "--ca", "f", "h" }, "exclude" },
		{ { "-j", "--warning", "1,1", "h" }, "-j and monitoring" },
		{ { "--warning", "500,1", "--critical", "100,2", "h" },
		  "must not be above" },
		{ { "--warning", "abc", "h" }, "malformed --warning threshold" },
		{ { "--critical", "1", "h" }, "malformed --critical threshold" },
		{ { "-S", "--cert-days", "7,30", "h" }, "malformed --cert-days" },
		{ { "-S", "--tls-version", "1.1", "h" }, "1.2 or 1.3" },
		{ { "-S", "--alpn", "a,,b", "h" }, "--alpn" },
		{ { "-c", "0", "h" }, "COUNT" },
		{ { "-c", "-1", "h" }, "COUNT" },
		{ { "-i", "-1", "h" }, "-i" },
		{ { "-i", "nan", "h" }, "-i" },
		{ { "-W", "0", "h" }, "-W" },
		{ { "h", "0" }, "PORT" },
		{ { "h", "65536" }, "PORT" },
		{ { "h", "7x" }, "PORT" },
		{ { "h", "7", "8" }, "unexpected argument" },
		{ { "-c" }, "-c needs an argument" },
		{ { "-x", "h" }, "unknown option -x" },
		{ { "--bogus", "h" }, "unknown option --bogus" },
		{ { "-S", "-N", "--resume=1", "h" }, "--resume takes no argument" },
		{ { "--insec=yes", "h" }, "--insecure takes no argument" },
		{ { "--help=1" }, "--help takes no argument" },
		{ { "-q" }, "HOST is missing" },
		{ { "" }, "HOST must not be empty" },
	};
	struct ping_opts o;
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		err[0] = '\0';
		if (parse_list(&o, err, sizeof(err), t[i].args) != -1)
			fail_msg("case %zu (%s ...) parsed", i, t[i].args[0]);
		if (strstr(err, t[i].want) == NULL)
			fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err,
			    t[i].want);
	}
}

static void
test_threshold(void **state)
{
	static const struct {
		const char	*s;
		int		 ok;
		double		 rtt, loss;
	} t[] = {
		{ "100,20%", 1, 100, 20 },
		{ "100,20", 1, 100, 20 },
		{ "0.5,0%", 1, 0.5, 0 },
		{ "100.25,100%", 1, 100.25, 100 },
		{ "0,0", 1, 0, 0 },
		{ "", 0, 0, 0 },
		{ "100", 0, 0, 0 },
		{ "100,", 0, 0, 0 },
		{ ",20%", 0, 0, 0 },
		{ "a,b", 0, 0, 0 },
		{ "100,120%", 0, 0, 0 },
		{ "-1,20", 0, 0, 0 },
		{ "100,-1", 0, 0, 0 },
		{ "100,20%%", 0, 0, 0 },
		{ "100,20%x", 0, 0, 0 },
		{ "100;20", 0, 0, 0 },
		{ "100, 20", 0, 0, 0 },
		{ "inf,20", 0, 0, 0 },
		{ "1e3,20", 0, 0, 0 },
		{ "1.2.3,4", 0, 0, 0 },
		{ "100,20,30", 0, 0, 0 },
	};
	struct ping_threshold th;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		memset(&th, 0, sizeof(th));
		if ((ping_parse_threshold(t[i].s, &th) == 0) != t[i].ok)
			fail_msg("threshold \"%s\": expected %s", t[i].s,
			    t[i].ok ? "valid" : "malformed");
		if (t[i].ok) {
			assert_true(th.th_set);
			assert_true(th.th_rtt_ms == t[i].rtt);
			assert_true(th.th_loss_pct == t[i].loss);
		} else
			assert_false(th.th_set);
	}
}

static void
test_seconds_days_alpn(void **state)
{
	unsigned char wire[PING_ALPN_MAX];
	char longname[300];
	double v, w, c;
	int cs;

	assert_int_equal(ping_parse_seconds("0.2", 0, 10, &v), 0);
	assert_true(v == 0.2);
	assert_int_equal(ping_parse_seconds(".5", 0, 10, &v), 0);
	assert_true(v == 0.5);
	assert_int_equal(ping_parse_seconds("11", 0, 10, &v), -1);
	assert_int_equal(ping_parse_seconds("", 0, 10, &v), -1);
	assert_int_equal(ping_parse_seconds("1s", 0, 10, &v), -1);
	assert_int_equal(ping_parse_seconds("0x1p1", 0, 10, &v), -1);

	assert_int_equal(ping_parse_cert_days("30", &w, &c, &cs), 0);
	assert_true(w == 30 && !cs);
	assert_int_equal(ping_parse_cert_days("30,7", &w, &c, &cs), 0);
	assert_true(w == 30 && c == 7 && cs);
	assert_int_equal(ping_parse_cert_days("7,30", &w, &c, &cs), -1);
	assert_int_equal(ping_parse_cert_days("", &w, &c, &cs), -1);
	assert_int_equal(ping_parse_cert_days("-1", &w, &c, &cs), -1);
	assert_int_equal(ping_parse_cert_days("30,", &w, &c, &cs), -1);

	assert_int_equal(ping_parse_alpn("h2,http/1.1", wire, sizeof(wire)),
	    12);
	assert_memory_equal(wire, "\x02h2\x08http/1.1", 12);
	assert_int_equal(ping_parse_alpn("echo", wire, sizeof(wire)), 5);
	assert_int_equal(ping_parse_alpn("", wire, sizeof(wire)), -1);
	assert_int_equal(ping_parse_alpn(",", wire, sizeof(wire)), -1);
	assert_int_equal(ping_parse_alpn("a,", wire, sizeof(wire)), -1);
	memset(longname, 'a', 256);
	longname[256] = '\0';
	assert_int_equal(ping_parse_alpn(longname, wire, sizeof(wire)), -1);
	assert_int_equal(ping_parse_alpn("abcdef", wire, 4), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_monitoring_defaults),
		cmocka_unit_test(test_monitoring_prescan),
		cmocka_unit_test(test_monitoring_prescan_arguments),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_threshold),
		cmocka_unit_test(test_seconds_days_alpn),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_log.c - the "event key=value" line format: quoting of values with
 * spaces, quotes, control and non-ASCII bytes; truncation; level filter;
 * what reaches standard error with -e.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "secho/log.h"

static void
test_quote_table(void **state)
{
	static const struct {
		const char *in, *out;
	} t[] = {
		{ "plain", "plain" },
		{ "127.0.0.1:7", "127.0.0.1:7" },
		{ "[::1]:7007", "[::1]:7007" },
		{ "TLSv1.3", "TLSv1.3" },
		{ "", "\"\"" },
		{ "two words", "\"two words\"" },
		{ "CN=client-one,O=Example Org", "\"CN=client-one,O=Example Org\"" },
		{ "say \"hi\"", "\"say \\\"hi\\\"\"" },
		{ "back\\slash", "\"back\\\\slash\"" },
		{ "line\nbreak", "\"line\\x0abreak\"" },
		{ "tab\there", "\"tab\\x09here\"" },
		{ "caf\xc3\xa9", "\"caf\\xc3\\xa9\"" },
		{ "a=b", "\"a=b\"" },
	};
	char out[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		log_quote(t[i].in, out, sizeof(out));
		assert_string_equal(out, t[i].out);
	}
}

static void
test_quote_truncates_safely(void **state)
{
	char big[4000], out[64];
	size_t n;

	(void)state;
	memset(big, '\n', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	n = log_quote(big, out, sizeof(out));
	assert_true(n < sizeof(out));
	assert_int_equal(strlen(out), n);
	assert_int_equal(out[0], '"');
	assert_int_equal(out[n - 1], '"');	/* still closed */
}

/* Capture what log_end() writes to stderr. */
static size_t
capture(void (*fn)(void), char *buf, size_t len)
{
	int p[2], saved;
	ssize_t n;

	assert_int_equal(pipe(p), 0);
	saved = dup(STDERR_FILENO);
	dup2(p[1], STDERR_FILENO);
	fn();
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(p[1]);
	n = read(p[0], buf, len - 1);
	close(p[0]);
	buf[n > 0 ? n : 0] = '\0';
	return n > 0 ? (size_t)n : 0;
}

static void
emit_close(void)
{
	struct logline l;

	log_begin(&l, LOG_INFO, "close");
	log_kv(&l, "proto", "tls");
	log_kv(&l, "peer", "[2001:db8::1]:5555");
	log_kvu(&l, "bytes_in", 18446744073709551615ull);
	log_kvf(&l, "duration_ms", "%d", 12);
	log_kv(&l, "client_subject", "CN=a b");
	log_kv(&l, "cipher", NULL);
	log_end(&l);
}

static void
emit_debug(void)
{
	struct logline l;

	log_begin(&l, LOG_DEBUG, "udp");
	log_kv(&l, "peer", "127.0.0.1:4000");
	log_end(&l);
}

static void
test_line_format(void **state)
{
	char buf[1024];

	(void)state;
	log_init("sechotest", LOG_LOCAL3, LOG_INFO, 1);
	capture(emit_close, buf, sizeof(buf));
	assert_string_equal(buf, "close proto=tls peer=[2001:db8::1]:5555 "
	    "bytes_in=18446744073709551615 duration_ms=12 "
	    "client_subject=\"CN=a b\" cipher=-\n");
}

static void
test_level_filter(void **state)
{
	char buf[256];

	(void)state;
	log_init("sechotest", LOG_LOCAL3, LOG_INFO, 1);
	assert_false(log_enabled(LOG_DEBUG));
	assert_true(log_enabled(LOG_INFO));
	assert_true(log_enabled(LOG_ERR));
	assert_int_equal(capture(emit_debug, buf, sizeof(buf)), 0);
	log_init("sechotest", LOG_LOCAL3, LOG_DEBUG, 1);
	capture(emit_debug, buf, sizeof(buf));
	assert_string_equal(buf, "udp peer=127.0.0.1:4000\n");
}

static void
test_no_stderr_without_flag(void **state)
{
	char buf[256];

	(void)state;
	log_init("sechotest", LOG_LOCAL3, LOG_DEBUG, 0);
	assert_int_equal(capture(emit_debug, buf, sizeof(buf)), 0);
}

static void
emit_warnx(void)
{
	log_warnx("bind %s: %s", "127.0.0.1:7", "Address already in use");
}

static void
test_operator_message(void **state)
{
	char buf[256];

	(void)state;
	log_init("sechotest", LOG_LOCAL3, LOG_INFO, 1);
	capture(emit_warnx, buf, sizeof(buf));
	assert_string_equal(buf, "warning msg=\"bind 127.0.0.1:7: Address "
	    "already in use\"\n");
}

static void
emit_huge(void)
{
	struct logline l;
	char v[3000];

	memset(v, 'v', sizeof(v) - 1);
	v[sizeof(v) - 1] = '\0';
	log_begin(&l, LOG_INFO, "close");
	log_kv(&l, "a", v);
	log_kv(&l, "b", v);
	log_end(&l);
}

static void
test_huge_line_bounded(void **state)
{
	char buf[4096];
	size_t n;

	(void)state;
	log_init("sechotest", LOG_LOCAL3, LOG_INFO, 1);
	n = capture(emit_huge, buf, sizeof(buf));
	assert_true(n > 0 && n <= LOG_LINE_MAX + 1);
	assert_int_equal(buf[n - 1], '\n');
	assert_memory_equal(buf, "close a=vvv", 11);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quote_table),
		cmocka_unit_test(test_quote_truncates_safely),
		cmocka_unit_test(test_line_format),
		cmocka_unit_test(test_level_filter),
		cmocka_unit_test(test_no_stderr_without_flag),
		cmocka_unit_test(test_operator_message),
		cmocka_unit_test(test_huge_line_bounded),
	};

	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}

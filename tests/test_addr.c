/*
 * test_addr.c - address text, CIDR parsing and matching (cmocka).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cmocka.h>

#include "secho/addr.h"

/* "192.0.2.1" or "2001:db8::1" (no brackets) + port -> sockaddr. */
static const struct sockaddr *
mk(struct sockaddr_storage *ss, const char *host, int port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
	} else {
		assert_int_equal(inet_pton(AF_INET6, host, &sin6->sin6_addr), 1);
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
	}
	return (const struct sockaddr *)ss;
}

static void
test_format(void **state)
{
	static const struct {
		const char	*host;
		int		 port;
		const char	*full;
		const char	*bare;
	} t[] = {
		{ "192.0.2.1", 5555, "192.0.2.1:5555", "192.0.2.1" },
		{ "0.0.0.0", 0, "0.0.0.0:0", "0.0.0.0" },
		{ "255.255.255.255", 65535, "255.255.255.255:65535",
		  "255.255.255.255" },
		{ "2001:db8::1", 5555, "[2001:db8::1]:5555", "2001:db8::1" },
		{ "::", 7, "[::]:7", "::" },
		{ "::1", 7443, "[::1]:7443", "::1" },
		{ "::ffff:192.0.2.1", 5555, "192.0.2.1:5555", "192.0.2.1" },
		{ "::ffff:0.0.0.1", 1, "0.0.0.1:1", "0.0.0.1" },
		/* IPv4-compatible (deprecated) is not mapped. */
		{ "::192.0.2.1", 1, "[::192.0.2.1]:1", "::192.0.2.1" },
		{ "2001:DB8:0:0:0:0:0:1", 80, "[2001:db8::1]:80", "2001:db8::1" },
	};
	struct sockaddr_storage ss;
	char buf[ADDR_STRLEN];
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		const struct sockaddr *sa = mk(&ss, t[i].host, t[i].port);

		assert_ptr_equal(addr_format(sa, buf, sizeof(buf)), buf);
		assert_string_equal(buf, t[i].full);
		assert_ptr_equal(addr_format_host(sa, buf, sizeof(buf)), buf);
		assert_string_equal(buf, t[i].bare);
		assert_int_equal(addr_port(sa), t[i].port);
	}
}

static void
test_format_edges(void **state)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	struct sockaddr_un sun;
	char buf[ADDR_STRLEN], small[6];

	/* Scope id of link-local addresses. */
	mk(&ss, "fe80::1", 7);
	sin6->sin6_scope_id = 2;
	assert_string_equal(addr_format((struct sockaddr *)&ss, buf,
	    sizeof(buf)), "[fe80::1%2]:7");
	assert_string_equal(addr_format_host((struct sockaddr *)&ss, buf,
	    sizeof(buf)), "fe80::1%2");

	/* Truncated, still terminated. */
	mk(&ss, "192.0.2.1", 5555);
	assert_string_equal(addr_format((struct sockaddr *)&ss, small,
	    sizeof(small)), "192.0");
	memset(small, 'x', sizeof(small));
	addr_format((struct sockaddr *)&ss, small, 0);
	assert_int_equal(small[0], 'x');

	/* Longest: fits ADDR_STRLEN. */
	mk(&ss, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 65535);
	sin6->sin6_scope_id = 4294967295u;
	assert_string_equal(addr_format((struct sockaddr *)&ss, buf,
	    sizeof(buf)),
	    "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe%4294967295]:65535");

	/* Unknown families. */
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	assert_string_equal(addr_format((struct sockaddr *)&sun, buf,
	    sizeof(buf)), "unknown");
	assert_int_equal(addr_port((struct sockaddr *)&sun), 0);
	assert_int_equal(addr_port(NULL), 0);
}

struct cidr_case {
	const char	*text;
	int		 ok;
	int		 family;
	int		 prefix;
	const char	*addr;		/* expected network, ok cases */
};

static const struct cidr_case cidr_cases[] = {
	{ "192.0.2.0/24", 1, AF_INET, 24, "192.0.2.0" },
	{ "10.0.0.0/8", 1, AF_INET, 8, "10.0.0.0" },
	{ "0.0.0.0/0", 1, AF_INET, 0, "0.0.0.0" },
	{ "192.0.2.1/32", 1, AF_INET, 32, "192.0.2.1" },
	{ "192.0.2.1", 1, AF_INET, 32, "192.0.2.1" },
	{ "192.0.2.128/25", 1, AF_INET, 25, "192.0.2.128" },
	{ "2001:db8::/32", 1, AF_INET6, 32, "2001:db8::" },
	{ "::/0", 1, AF_INET6, 0, "::" },
	{ "::1", 1, AF_INET6, 128, "::1" },
	{ "::1/128", 1, AF_INET6, 128, "::1" },
	{ "2001:db8::8000/113", 1, AF_INET6, 113, "2001:db8::8000" },
	/* IPv4 blocks written as mapped IPv6 become IPv4 blocks. */
	{ "::ffff:192.0.2.0/120", 1, AF_INET, 24, "192.0.2.0" },
	{ "::ffff:0.0.0.0/96", 1, AF_INET, 0, "0.0.0.0" },
	{ "::ffff:192.0.2.7", 1, AF_INET, 32, "192.0.2.7" },
	{ "::ffff:0:0/95", 0, 0, 0, NULL },	/* host bit 95 set */
	/* Invalid. */
	{ "", 0, 0, 0, NULL },
	{ "/24", 0, 0, 0, NULL },
	{ "10.0.0.0/", 0, 0, 0, NULL },
	{ "10.0.0.0/33", 0, 0, 0, NULL },
	{ "10.0.0.0/-1", 0, 0, 0, NULL },
	{ "10.0.0.0/+8", 0, 0, 0, NULL },
	{ "10.0.0.0/08", 0, 0, 0, NULL },
	{ "10.0.0.0/8/8", 0, 0, 0, NULL },
	{ "10.0.0.0/8 ", 0, 0, 0, NULL },
	{ " 10.0.0.0/8", 0, 0, 0, NULL },
	{ "10.0.0.0/x", 0, 0, 0, NULL },
	{ "10.0.0.1/8", 0, 0, 0, NULL },	/* host bits set */
	{ "192.0.2.1/31", 0, 0, 0, NULL },
	{ "10.0.0/8", 0, 0, 0, NULL },
	{ "256.0.0.0/8", 0, 0, 0, NULL },
	{ "2001:db8::/129", 0, 0, 0, NULL },
	{ "2001:db8::1/64", 0, 0, 0, NULL },
	{ "2001:db8::8000/112", 0, 0, 0, NULL },
	{ "fe80::1%eth0", 0, 0, 0, NULL },
	{ "[::1]", 0, 0, 0, NULL },
	{ "localhost", 0, 0, 0, NULL },
	{ "10.0.0.0/99999999999999999999", 0, 0, 0, NULL },
	{ "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255/128 trailing garbage",
	  0, 0, 0, NULL },
};

static void
test_parse_cidr(void **state)
{
	struct cidr c;
	unsigned char want[16];
	size_t i;

	for (i = 0; i < sizeof(cidr_cases) / sizeof(cidr_cases[0]); i++) {
		const struct cidr_case *t = &cidr_cases[i];
		int rc = addr_parse_cidr(t->text, &c);

		if (rc != (t->ok ? 0 : -1)) {
			print_error("\"%s\": rc %d\n", t->text, rc);
			fail();
		}
		if (!t->ok)
			continue;
		assert_int_equal(c.family, t->family);
		assert_int_equal(c.prefix, t->prefix);
		memset(want, 0, sizeof(want));
		assert_int_equal(inet_pton(t->family, t->addr, want), 1);
		assert_memory_equal(c.addr, want,
		    t->family == AF_INET ? 4 : 16);
	}
	assert_int_equal(addr_parse_cidr(NULL, &c), -1);
}

struct match_case {
	const char	*cidr;
	const char	*host;
	int		 match;
};

static const struct match_case match_cases[] = {
	{ "192.0.2.0/24", "192.0.2.0", 1 },
	{ "192.0.2.0/24", "192.0.2.255", 1 },
	{ "192.0.2.0/24", "192.0.3.0", 0 },
	{ "192.0.2.0/24", "192.0.1.255", 0 },
	/* IPv4-mapped IPv6 peers match IPv4 blocks. */
	{ "192.0.2.0/24", "::ffff:192.0.2.9", 1 },
	{ "192.0.2.0/24", "::ffff:192.0.3.9", 0 },
	{ "::ffff:192.0.2.0/120", "192.0.2.9", 1 },
	{ "::ffff:192.0.2.0/120", "::ffff:192.0.2.9", 1 },
	/* ...but IPv4-compatible ones and plain IPv6 do not. */
	{ "192.0.2.0/24", "::192.0.2.9", 0 },
	{ "0.0.0.0/0", "2001:db8::1", 0 },
	/* /0 */
	{ "0.0.0.0/0", "0.0.0.0", 1 },
	{ "0.0.0.0/0", "255.255.255.255", 1 },
	{ "0.0.0.0/0", "::ffff:10.1.2.3", 1 },
	{ "::/0", "2001:db8::1", 1 },
	{ "::/0", "::", 1 },
	{ "::/0", "192.0.2.1", 0 },		/* IPv6 rules: IPv6 peers */
	{ "::/0", "::ffff:192.0.2.1", 0 },
	/* /32, /31, /1 */
	{ "192.0.2.1/32", "192.0.2.1", 1 },
	{ "192.0.2.1/32", "192.0.2.0", 0 },
	{ "192.0.2.1/32", "192.0.2.3", 0 },
	{ "192.0.2.1", "::ffff:192.0.2.1", 1 },
	{ "192.0.2.0/31", "192.0.2.1", 1 },
	{ "192.0.2.0/31", "192.0.2.2", 0 },
	{ "128.0.0.0/1", "200.1.1.1", 1 },
	{ "128.0.0.0/1", "127.255.255.255", 0 },
	/* /128, /127, /33, /64, byte boundaries */
	{ "::1/128", "::1", 1 },
	{ "::1/128", "::", 0 },
	{ "::1/128", "::2", 0 },
	{ "2001:db8::/127", "2001:db8::1", 1 },
	{ "2001:db8::/127", "2001:db8::2", 0 },
	{ "2001:db8::/32", "2001:db8:ffff::1", 1 },
	{ "2001:db8::/32", "2001:db9::1", 0 },
	{ "2001:db8::/33", "2001:db8:7fff::", 1 },
	{ "2001:db8::/33", "2001:db8:8000::", 0 },
	{ "2001:db8:0:1::/64", "2001:db8:0:1:ffff:ffff:ffff:ffff", 1 },
	{ "2001:db8:0:1::/64", "2001:db8:0:2::", 0 },
	{ "ff00::/8", "ff02::1", 1 },
	{ "ff00::/8", "fe80::1", 0 },
};

static void
test_cidr_match(void **state)
{
	struct sockaddr_storage ss;
	struct sockaddr_un sun;
	struct cidr c;
	size_t i;

	for (i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]); i++) {
		const struct match_case *t = &match_cases[i];

		assert_int_equal(addr_parse_cidr(t->cidr, &c), 0);
		if (addr_cidr_match(&c, mk(&ss, t->host, 1)) != t->match) {
			print_error("%s in %s: expected %d\n", t->host,
			    t->cidr, t->match);
			fail();
		}
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	assert_int_equal(addr_parse_cidr("::/0", &c), 0);
	assert_int_equal(addr_cidr_match(&c, (struct sockaddr *)&sun), 0);
	assert_int_equal(addr_cidr_match(NULL, mk(&ss, "::1", 1)), 0);
}

static void
test_cidr_list_match(void **state)
{
	struct cidr items[3];
	struct cidr_list l = { items, 0, 1 };
	struct sockaddr_storage ss;

	/* Empty list: nothing matches. */
	assert_int_equal(addr_cidr_list_match(&l, mk(&ss, "192.0.2.1", 1)), 0);
	assert_int_equal(addr_cidr_list_match(NULL, mk(&ss, "::1", 1)), 0);

	assert_int_equal(addr_parse_cidr("192.0.2.0/24", &items[0]), 0);
	assert_int_equal(addr_parse_cidr("2001:db8::/32", &items[1]), 0);
	assert_int_equal(addr_parse_cidr("::1", &items[2]), 0);
	l.count = 3;
	assert_int_equal(addr_cidr_list_match(&l, mk(&ss, "192.0.2.1", 1)), 1);
	assert_int_equal(addr_cidr_list_match(&l,
	    mk(&ss, "::ffff:192.0.2.1", 1)), 1);
	assert_int_equal(addr_cidr_list_match(&l, mk(&ss, "2001:db8::5", 1)), 1);
	assert_int_equal(addr_cidr_list_match(&l, mk(&ss, "::1", 1)), 1);
	assert_int_equal(addr_cidr_list_match(&l, mk(&ss, "127.0.0.1", 1)), 0);
	assert_int_equal(addr_cidr_list_match(&l, mk(&ss, "::2", 1)), 0);
}

static void
test_is_literal(void **state)
{
	static const struct {
		const char	*text;
		int		 literal;
		int		 hostname;
	} t[] = {
		{ "192.0.2.1", 1, 0 },
		{ "0.0.0.0", 1, 0 },
		{ "255.255.255.255", 1, 0 },
		{ "::", 1, 0 },
		{ "::1", 1, 0 },
		{ "0::1", 1, 0 },
		{ "2001:db8::1", 1, 0 },
		{ "::ffff:192.0.2.1", 1, 0 },
		{ "fe80::1%eth0", 1, 0 },
		{ "fe80::1%2", 1, 0 },
		{ "fe80::1%", 0, 0 },
		{ "fe80::1%eth 0", 0, 0 },
		{ "fe80::1%abcdefghijklmnop", 0, 0 },
		{ "192.0.2.1%eth0", 0, 0 },
		{ "[::1]", 0, 0 },
		{ "999.1.1.1", 0, 0 },
		{ "1.2.3", 0, 0 },
		{ "1.2.3.4.5", 0, 0 },
		{ "01.2.3.4", 0, 0 },
		{ "1234", 0, 0 },
		{ "", 0, 0 },
		{ " ::1", 0, 0 },
		{ "localhost", 0, 1 },
		{ "LocalHost", 0, 1 },
		{ "echo.example.org", 0, 1 },
		{ "echo.example.org.", 0, 1 },
		{ "a", 0, 1 },
		{ "xn--bcher-kva.example", 0, 1 },
		{ "3com.example", 0, 1 },
		{ "host-1.example", 0, 1 },
		{ "a1", 0, 1 },
		{ "example.c0m", 0, 1 },
		{ "foo.123", 0, 0 },
		{ "-host.example", 0, 0 },
		{ "host-.example", 0, 0 },
		{ "ho_st.example", 0, 0 },
		{ "a..b", 0, 0 },
		{ ".example", 0, 0 },
		{ ".", 0, 0 },
		{ "example..", 0, 0 },
		{ "no such!", 0, 0 },
		{ "h\xc3\xa9llo", 0, 0 },
		{ "*.example", 0, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (addr_is_literal(t[i].text) != t[i].literal ||
		    addr_is_hostname(t[i].text) != t[i].hostname) {
			print_error("\"%s\": literal %d hostname %d\n",
			    t[i].text, addr_is_literal(t[i].text),
			    addr_is_hostname(t[i].text));
			fail();
		}
	}
	assert_int_equal(addr_is_literal(NULL), 0);
	assert_int_equal(addr_is_hostname(NULL), 0);
}

static void
test_hostname_lengths(void **state)
{
	char label[80], name[300];
	size_t i;

	/* Labels of 63 characters, not 64. */
	memset(label, 'a', 63);
	label[63] = '\0';
	assert_int_equal(addr_is_hostname(label), 1);
	memset(label, 'a', 64);
	label[64] = '\0';
	assert_int_equal(addr_is_hostname(label), 0);

	/* 253 characters in all (a trailing dot does not count), not 254. */
	memset(name, 0, sizeof(name));
	for (i = 0; i < 253; i++)
		name[i] = (i % 2) ? '.' : 'a';	/* "a.a.a....a" */
	assert_int_equal(strlen(name), 253);
	assert_int_equal(addr_is_hostname(name), 1);
	name[253] = '.';
	assert_int_equal(addr_is_hostname(name), 1);
	name[253] = 'a';	/* "...a.aa": 254 */
	assert_int_equal(addr_is_hostname(name), 0);
}

static void
test_equal(void **state)
{
	static const struct {
		const char	*a;
		int		 pa;
		const char	*b;
		int		 pb;
		int		 equal;
	} t[] = {
		{ "192.0.2.1", 7, "192.0.2.1", 7, 1 },
		{ "192.0.2.1", 7, "192.0.2.1", 8, 0 },
		{ "192.0.2.1", 7, "192.0.2.2", 7, 0 },
		{ "192.0.2.1", 7, "::ffff:192.0.2.1", 7, 1 },
		{ "::ffff:192.0.2.1", 7, "192.0.2.1", 7, 1 },
		{ "::ffff:192.0.2.1", 7, "::192.0.2.1", 7, 0 },
		{ "::1", 7, "0::1", 7, 1 },
		{ "::1", 7, "::1", 9, 0 },
		{ "::1", 7, "127.0.0.1", 7, 0 },
		{ "::", 7, "0.0.0.0", 7, 0 },
		{ "2001:db8::1", 7, "2001:db8::2", 7, 0 },
	};
	struct sockaddr_storage a, b;
	struct sockaddr_in6 *b6 = (struct sockaddr_in6 *)&b;
	struct sockaddr_un sun;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		if (addr_equal(mk(&a, t[i].a, t[i].pa),
		    mk(&b, t[i].b, t[i].pb)) != t[i].equal) {
			print_error("%s:%d vs %s:%d\n", t[i].a, t[i].pa,
			    t[i].b, t[i].pb);
			fail();
		}
	}
	/* Link-local addresses on different interfaces differ. */
	mk(&a, "fe80::1", 7);
	mk(&b, "fe80::1", 7);
	b6->sin6_scope_id = 3;
	assert_int_equal(addr_equal((struct sockaddr *)&a,
	    (struct sockaddr *)&b), 0);

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	assert_int_equal(addr_equal((struct sockaddr *)&sun,
	    (struct sockaddr *)&sun), 0);
}

static void
test_host_key(void **state)
{
	static const struct {
		const char	*host;
		const char	*key;	/* as an IPv6 literal */
	} t[] = {
		{ "192.0.2.1", "::ffff:192.0.2.1" },
		{ "::ffff:192.0.2.1", "::ffff:192.0.2.1" },
		{ "0.0.0.0", "::ffff:0.0.0.0" },
		{ "2001:db8::1", "2001:db8::1" },
		{ "::", "::" },
		{ "::192.0.2.1", "::192.0.2.1" },
	};
	struct sockaddr_storage ss;
	struct sockaddr_un sun;
	unsigned char key[16], want[16];
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		memset(key, 0xaa, sizeof(key));
		addr_host_key(mk(&ss, t[i].host, (int)i + 1), key);
		assert_int_equal(inet_pton(AF_INET6, t[i].key, want), 1);
		assert_memory_equal(key, want, 16);
	}
	/* The port is not part of the key. */
	addr_host_key(mk(&ss, "192.0.2.1", 1), key);
	addr_host_key(mk(&ss, "192.0.2.1", 2), want);
	assert_memory_equal(key, want, 16);

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memset(key, 0xaa, sizeof(key));
	addr_host_key((struct sockaddr *)&sun, key);
	memset(want, 0, sizeof(want));
	assert_memory_equal(key, want, 16);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_format_edges),
		cmocka_unit_test(test_parse_cidr),
		cmocka_unit_test(test_cidr_match),
		cmocka_unit_test(test_cidr_list_match),
		cmocka_unit_test(test_is_literal),
		cmocka_unit_test(test_hostname_lengths),
		cmocka_unit_test(test_equal),
		cmocka_unit_test(test_host_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_proxy.c - PROXY protocol v1/v2 parser and socket reader (cmocka).
 *
 * Table style: every valid header is also fed truncated at every length
 * (each copy in an exactly-sized malloc buffer, so ASan catches a read
 * beyond len) and followed by application bytes; every malformed one
 * states the shortest prefix at which it must already be refused.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "secho/proxy.h"

/* A string literal and its length (literals may hold NUL bytes). */
#define B(s)	(s), (sizeof(s) - 1)

#define SIG	"\x0D\x0A\x0D\x0A\x00\x0D\x0A\x51\x55\x49\x54\x0A"
/* 192.0.2.1 -> 198.51.100.2, 12345 -> 443 */
#define A4	"\xC0\x00\x02\x01" "\xC6\x33\x64\x02" "\x30\x39" "\x01\xBB"
/* 2001:db8::1 -> 2001:db8::2, 12345 -> 443 */
#define A6	"\x20\x01\x0D\xB8\x00\x00\x00\x00" \
		"\x00\x00\x00\x00\x00\x00\x00\x01" \
		"\x20\x01\x0D\xB8\x00\x00\x00\x00" \
		"\x00\x00\x00\x00\x00\x00\x00\x02" "\x30\x39" "\x01\xBB"
#define TLV_ALPN	"\x01\x00\x02" "h2"
#define TLV_NOOP0	"\x04\x00\x00"
#define TLV_AUTH	"\x02\x00\x0B" "example.com"

/* 92 filler bytes: "PROXY UNKNOWN " + LONG92 + CRLF is 108 bytes. */
#define X45	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
#define X46	X45 "x"
#define LONG92	X46 X46

#define V1_TCP4	"PROXY TCP4 192.0.2.1 198.51.100.2 12345 443\r\n"
#define V2_TCP4	SIG "\x21\x11\x00\x0C" A4

/* ---- valid headers ----------------------------------------------------- */

struct valid_case {
	const char	*name;
	const char	*hdr;
	size_t		 len;
	int		 version;
	int		 family;	/* AF_UNSPEC for local */
	const char	*src, *dst;
	int		 sport, dport;
};

#define LOCAL(v)	(v), AF_UNSPEC, NULL, NULL, 0, 0
#define T4(v)		(v), AF_INET, "192.0.2.1", "198.51.100.2", 12345, 443
#define T6(v)		(v), AF_INET6, "2001:db8::1", "2001:db8::2", 12345, 443

static const struct valid_case valid_cases[] = {
	{ "v1 tcp4", B(V1_TCP4), T4(1) },
	{ "v1 tcp6", B("PROXY TCP6 2001:db8::1 2001:db8::2 12345 443\r\n"),
	    T6(1) },
	{ "v1 tcp6 upper-case hex",
	    B("PROXY TCP6 2001:DB8::1 2001:Db8::2 12345 443\r\n"), T6(1) },
	{ "v1 tcp6 v4-mapped",
	    B("PROXY TCP6 ::ffff:192.0.2.1 ::1 1 2\r\n"),
	    1, AF_INET6, "::ffff:192.0.2.1", "::1", 1, 2 },
	{ "v1 port bounds",
	    B("PROXY TCP4 0.0.0.0 255.255.255.255 0 65535\r\n"),
	    1, AF_INET, "0.0.0.0", "255.255.255.255", 0, 65535 },
	{ "v1 tcp6 longest (107 bytes)",
	    B("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 "
	    "111:2222:3333:4444:5555:6666:1.2.3.4 65535 65535\r\n"),
	    1, AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
	    "111:2222:3333:4444:5555:6666:102:304", 65535, 65535 },
	{ "v1 unknown", B("PROXY UNKNOWN\r\n"), LOCAL(1) },
	{ "v1 unknown with ignored fields",
	    B("PROXY UNKNOWN ffff::1 ffff::2 65535 65535\r\n"), LOCAL(1) },
	{ "v1 unknown 107 bytes",
	    B("PROXY UNKNOWN " X46 X45 "\r\n"), LOCAL(1) },
	{ "v2 tcp4", B(V2_TCP4), T4(2) },
	{ "v2 tcp6", B(SIG "\x21\x21\x00\x24" A6), T6(2) },
	{ "v2 tcp4 tlvs",
	    B(SIG "\x21\x11\x00\x22" A4 TLV_ALPN TLV_NOOP0 TLV_AUTH), T4(2) },
	{ "v2 tcp6 tlvs", B(SIG "\x21\x21\x00\x37" A6 TLV_ALPN TLV_AUTH),
	    T6(2) },
	{ "v2 tcp4 crc32c",
	    B(SIG "\x21\x11\x00\x13" A4 "\x03\x00\x04" "\xC8\xCC\xD4\xB7"),
	    T4(2) },
	{ "v2 local unspec", B(SIG "\x20\x00\x00\x00"), LOCAL(2) },
	{ "v2 local unspec tlvs crc32c",
	    B(SIG "\x20\x00\x00\x07" "\x03\x00\x04" "\xA9\xB8\x7E\x8F"),
	    LOCAL(2) },
	{ "v2 local tcp4 with address", B(SIG "\x20\x11\x00\x0C" A4),
	    LOCAL(2) },
	{ "v2 local family ignored", B(SIG "\x20\x11\x00\x00"), LOCAL(2) },
	{ "v2 local undefined family", B(SIG "\x20\xFF\x00\x02" "\x01\x02"),
	    LOCAL(2) },
	{ "v2 local udp6 short", B(SIG "\x20\x22\x00\x01" "\x00"), LOCAL(2) },
	{ "v2 proxy unspec", B(SIG "\x21\x00\x00\x00"), LOCAL(2) },
	{ "v2 proxy unspec tlv", B(SIG "\x21\x00\x00\x05" TLV_ALPN),
	    LOCAL(2) },
};

static void
check_addr(const struct sockaddr_storage *ss, int family, const char *addr,
    int port)
{
	char text[INET6_ADDRSTRLEN];
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;

	assert_int_equal(ss->ss_family, family);
	if (family == AF_INET) {
		sin = (const struct sockaddr_in *)ss;
		assert_non_null(inet_ntop(AF_INET, &sin->sin_addr, text,
		    sizeof(text)));
		assert_string_equal(text, addr);
		assert_int_equal(ntohs(sin->sin_port), port);
	} else if (family == AF_INET6) {
		sin6 = (const struct sockaddr_in6 *)ss;
		assert_non_null(inet_ntop(AF_INET6, &sin6->sin6_addr, text,
		    sizeof(text)));
		assert_string_equal(text, addr);
		assert_int_equal(ntohs(sin6->sin6_port), port);
		assert_int_equal(sin6->sin6_scope_id, 0);
		assert_int_equal(sin6->sin6_flowinfo, 0);
	}
}

static void
check_info(const struct valid_case *vc, const struct proxy_info *pi)
{
	assert_int_equal(pi->pi_version, vc->version);
	assert_int_equal(pi->pi_local, vc->family == AF_UNSPEC);
	check_addr(&pi->pi_src, vc->family, vc->src, vc->sport);
	check_addr(&pi->pi_dst, vc->family, vc->dst, vc->dport);
}

/* proxy_parse over a private, exactly sized copy of buf[0..len). */
static int
parse_exact(const void *buf, size_t len, struct proxy_info *pi)
{
	unsigned char *copy;
	int r;

	copy = malloc(len ? len : 1);
	assert_non_null(copy);
	memcpy(copy, buf, len);
	r = proxy_parse(copy, len, pi);
	free(copy);
	return r;
}

static void
test_valid(void **state)
{
	struct proxy_info pi;
	size_t i;
	int r;

	for (i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++) {
		const struct valid_case *vc = &valid_cases[i];

		memset(&pi, 0xA5, sizeof(pi));
		r = parse_exact(vc->hdr, vc->len, &pi);
		if (r != (int)vc->len)
			fail_msg("%s: got %d, want %zu", vc->name, r, vc->len);
		check_info(vc, &pi);
		/* out may be NULL. */
		assert_int_equal(parse_exact(vc->hdr, vc->len, NULL),
		    (int)vc->len);
	}
}

static void
test_valid_lengths(void **state)
{
	assert_int_equal(sizeof(V1_TCP4) - 1, 45);
	assert_int_equal(valid_cases[5].len, PROXY_V1_MAXLEN);
	assert_int_equal(valid_cases[8].len, PROXY_V1_MAXLEN);
	assert_int_equal(sizeof(LONG92) - 1, 92);
}

/* Every proper prefix is NEED_MORE, and *out stays untouched. */
static void
test_valid_truncated(void **state)
{
	struct proxy_info pi, untouched;
	size_t i, k;

	memset(&untouched, 0xA5, sizeof(untouched));
	for (i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++) {
		const struct valid_case *vc = &valid_cases[i];

		for (k = 0; k < vc->len; k++) {
			memset(&pi, 0xA5, sizeof(pi));
			if (parse_exact(vc->hdr, k, &pi) != PROXY_NEED_MORE)
				fail_msg("%s: prefix of %zu bytes not NEED_MORE",
				    vc->name, k);
			assert_memory_equal(&pi, &untouched, sizeof(pi));
		}
	}
}

/* Whatever follows a complete header is not looked at. */
static void
test_valid_trailing(void **state)
{
	static const struct {
		const char	*bytes;
		size_t		 len;
	} trailers[] = {
		{ B("GET / HTTP/1.1\r\nHost: x\r\n\r\n") },
		{ B("\x16\x03\x01\x02\x00\x01\x00\x01\xFC\x03\x03") },
		{ B("\r\n") },
		{ B("\n") },
		{ B("\0") },
		{ B(V1_TCP4) },
		{ B(V2_TCP4) },
		{ B("x") },
	};
	unsigned char buf[PROXY_HDR_MAX + 64];
	struct proxy_info pi;
	size_t i, t;

	for (i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++) {
		const struct valid_case *vc = &valid_cases[i];

		for (t = 0; t < sizeof(trailers) / sizeof(trailers[0]); t++) {
			memcpy(buf, vc->hdr, vc->len);
			memcpy(buf + vc->len, trailers[t].bytes,
			    trailers[t].len);
			memset(&pi, 0xA5, sizeof(pi));
			if (parse_exact(buf, vc->len + trailers[t].len, &pi) !=
			    (int)vc->len)
				fail_msg("%s + trailer %zu", vc->name, t);
			check_info(vc, &pi);
		}
		/* A full buffer of application bytes after it. */
		memcpy(buf, vc->hdr, vc->len);
		memset(buf + vc->len, 'A', sizeof(buf) - vc->len);
		assert_int_equal(parse_exact(buf, sizeof(buf), &pi),
		    (int)vc->len);
	}
}

/* ---- malformed headers ------------------------------------------------- */

struct invalid_case {
	const char	*name;
	const char	*buf;
	size_t		 len;
	size_t		 at;	/* shortest prefix refused; 0: len */
};

static const struct invalid_case invalid_cases[] = {
	/* Not PROXY at all: refused from the first byte. */
	{ "plaintext http", B("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), 1 },
	{ "tls clienthello", B("\x16\x03\x01\x02\x00\x01\x00\x01\xFC\x03\x03"),
	    1 },
	{ "ssh banner", B("SSH-2.0-OpenSSH_9.2\r\n"), 1 },
	{ "crlf crlf crlf", B("\r\n\r\n\r\n"), 5 },
	{ "nul", B("\0"), 1 },
	{ "lower-case proxy", B("proxy TCP4 192.0.2.1 198.51.100.2 1 2\r\n"),
	    1 },

	/* v1 prefix and protocol word. */
	{ "v1 PROXZ", B("PROXZ TCP4 192.0.2.1 198.51.100.2 1 2\r\n"), 5 },
	{ "v1 no space", B("PROXYTCP4 192.0.2.1 198.51.100.2 1 2\r\n"), 6 },
	{ "v1 TCP5", B("PROXY TCP5 192.0.2.1 198.51.100.2 1 2\r\n"), 10 },
	{ "v1 lower-case tcp4", B("PROXY tcp4 192.0.2.1 198.51.100.2 1 2\r\n"),
	    7 },
	{ "v1 UDP4", B("PROXY UDP4 192.0.2.1 198.51.100.2 1 2\r\n"), 8 },
	{ "v1 double space before proto",
	    B("PROXY  TCP4 192.0.2.1 198.51.100.2 1 2\r\n"), 7 },
	{ "v1 TCP44", B("PROXY TCP44 192.0.2.1 198.51.100.2 1 2\r\n"), 11 },
	{ "v1 empty", B("PROXY \r\n"), 7 },
	{ "v1 only PROXY", B("PROXY\r\n"), 6 },
	{ "v1 proto only", B("PROXY TCP4\r\n"), 11 },
	{ "v1 UNKNOWNX", B("PROXY UNKNOWNX\r\n"), 14 },
	{ "v1 UNKNOWN lf only", B("PROXY UNKNOWN\n"), 14 },

	/* v1 spaces and fields. */
	{ "v1 double space before src",
	    B("PROXY TCP4  192.0.2.1 198.51.100.2 1 2\r\n"), 12 },
	{ "v1 double space before dst",
	    B("PROXY TCP4 192.0.2.1  198.51.100.2 1 2\r\n"), 22 },
	{ "v1 double space before sport",
	    B("PROXY TCP4 192.0.2.1 198.51.100.2  1 2\r\n"), 35 },
	{ "v1 double space before dport",
	    B("PROXY TCP4 192.0.2.1 198.51.100.2 1  2\r\n"), 37 },
	{ "v1 tab", B("PROXY TCP4\t192.0.2.1 198.51.100.2 1 2\r\n"), 11 },
	{ "v1 trailing space",
	    B("PROXY TCP4 192.0.2.1 198.51.100.2 12345 443 \r\n"), 44 },
	{ "v1 extra field",
	    B("PROXY TCP4 192.0.2.1 198.51.100.2 12345 443 7\r\n"), 44 },
	{ "v1 missing dport",
	    B("PROXY TCP4 192.0.2.1 198.51.100.2 12345\r\n"), 40 },
	{ "v1 missing ports", B("PROXY TCP4 192.0.2.1 198.51.100.2\r\n"), 34 },

	/* v1 line ends. */
	{ "v1 lf without cr",
	    B("PROXY TCP4 192.0.2.1 198.51.100.2 12345 443\n"), 44 },
	{ "v1 cr without lf",
	    B("PROXY TCP4 192.0.2.1 198.51.100.2 12345 443\rX"), 45 },
	{ "v1 cr cr lf",
	    B("PROXY TCP4 192.0.2.1 198.51.100.2 12345 443\r\r\n"), 45 },
	{ "v1 108 bytes", B("PROXY UNKNOWN " LONG92 "\r\n"), 106 },
	{ "v1 107 bytes without crlf", B("PROXY UNKNOWN " LONG92 "x"), 106 },
	{ "v1 108 bytes without crlf", B("PROXY UNKNOWN " LONG92 "xx"), 106 },
	{ "v1 tcp6 108 bytes",
	    B("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 "
	    "1111:2222:3333:4444:5555:6666:1.2.3.4 65535 65535\r\n"), 106 },

	/* v1 ports. */
	{ "v1 port 65536",
	    B("PROXY TCP4 192.0.2.1 198.51.100.2 65536 443\r\n"), 39 },
	{ "v1 port 99999",
	    B("PROXY TCP4 192.0.2.1 198.51.100.2 1 99999\r\n"), 41 },
	{ "v1 port six digits",
	    B("PROXY TCP4 192.0.2.1 198.51.100.2 12345 100000\r\n"), 46 },
	{ "v1 port leading zero",
	    B("PROXY TCP4 192.0.2.1 198.51.100.2 080 443\r\n"), 36 },
	{ "v1 port 00", B("PROXY TCP4 192.0.2.1 198.51.100.2 00 443\r\n"),
	    36 },
	{ "v1 port plus", B("PROXY TCP4 192.0.2.1 198.51.100.2 +80 443\r\n"),
	    35 },
	{ "v1 port minus", B("PROXY TCP4 192.0.2.1 198.51.100.2 -1 443\r\n"),
	    35 },
	{ "v1 port hex", B("PROXY TCP4 192.0.2.1 198.51.100.2 0x50 443\r\n"),
	    36 },
	{ "v1 port letter", B("PROXY TCP4 192.0.2.1 198.51.100.2 8a 443\r\n"),
	    36 },

	/* v1 addresses. */
	{ "v1 ipv4 octet 256",
	    B("PROXY TCP4 256.0.2.1 198.51.100.2 1 2\r\n"), 21 },
	{ "v1 ipv4 three parts",
	    B("PROXY TCP4 192.0.2 198.51.100.2 1 2\r\n"), 19 },
	{ "v1 ipv4 leading zero",
	    B("PROXY TCP4 192.0.2.01 198.51.100.2 1 2\r\n"), 22 },
	{ "v1 ipv4 too long",
	    B("PROXY TCP4 1111111111111111 198.51.100.2 1 2\r\n"), 27 },
	{ "v1 ipv4 bad dst",
	    B("PROXY TCP4 192.0.2.1 198.51.100 1 2\r\n"), 32 },
	{ "v1 ipv6 in tcp4",
	    B("PROXY TCP4 2001:db8::1 2001:db8::2 1 2\r\n"), 16 },
	{ "v1 ipv4 in tcp6",
	    B("PROXY TCP6 192.0.2.1 198.51.100.2 1 2\r\n"), 21 },
	{ "v1 ipv6 triple colon",
	    B("PROXY TCP6 2001:db8:::1 2001:db8::2 1 2\r\n"), 24 },
	{ "v1 ipv6 zone", B("PROXY TCP6 fe80::1%eth0 fe80::2 1 2\r\n"), 19 },
	{ "v1 ipv6 brackets", B("PROXY TCP6 [2001:db8::1] ::2 1 2\r\n"), 12 },
	{ "v1 ipv6 too long",
	    B("PROXY TCP6 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa ::1 1 2\r\n"),
	    57 },
	{ "v1 hostname", B("PROXY TCP4 localhost 198.51.100.2 1 2\r\n"), 12 },
	{ "v1 nul in address",
	    B("PROXY TCP4 192.0.2.1\0 198.51.100.2 1 2\r\n"), 21 },

	/* v2 signature, version, command, family. */
	{ "v2 bad signature end",
	    B("\x0D\x0A\x0D\x0A\x00\x0D\x0A\x51\x55\x49\x54\x0B"
	    "\x21\x11\x00\x0C" A4), 12 },
	{ "v2 bad signature nul",
	    B("\x0D\x0A\x0D\x0A\x01\x0D\x0A\x51\x55\x49\x54\x0A"
	    "\x21\x11\x00\x0C" A4), 5 },
	{ "v2 version 1", B(SIG "\x11\x11\x00\x0C" A4), 13 },
	{ "v2 version 3", B(SIG "\x31\x11\x00\x0C" A4), 13 },
	{ "v2 version 0", B(SIG "\x01\x11\x00\x0C" A4), 13 },
	{ "v2 command 2", B(SIG "\x22\x11\x00\x0C" A4), 13 },
	{ "v2 command 15", B(SIG "\x2F\x11\x00\x0C" A4), 13 },
	{ "v2 proxy udp4", B(SIG "\x21\x12\x00\x0C" A4), 14 },
	{ "v2 proxy udp6", B(SIG "\x21\x22\x00\x24" A6), 14 },
	{ "v2 proxy unix stream", B(SIG "\x21\x31\x00\x00"), 14 },
	{ "v2 proxy unix dgram", B(SIG "\x21\x32\x00\x00"), 14 },
	{ "v2 proxy family 0x01", B(SIG "\x21\x01\x00\x00"), 14 },
	{ "v2 proxy family 0x13", B(SIG "\x21\x13\x00\x0C" A4), 14 },
	{ "v2 proxy family 0x41", B(SIG "\x21\x41\x00\x0C" A4), 14 },

	/* v2 length. */
	{ "v2 tcp4 length 11", B(SIG "\x21\x11\x00\x0B" A4), 16 },
	{ "v2 tcp4 length 0", B(SIG "\x21\x11\x00\x00" A4), 16 },
	{ "v2 tcp6 length 35", B(SIG "\x21\x21\x00\x23" A6), 16 },
	{ "v2 tcp6 length 12", B(SIG "\x21\x21\x00\x0C" A4), 16 },
	{ "v2 length 4081", B(SIG "\x21\x11\x0F\xF1" A4), 16 },
	{ "v2 length 65535", B(SIG "\x21\x11\xFF\xFF" A4), 16 },
	{ "v2 local length 65535", B(SIG "\x20\x00\xFF\xFF"), 16 },

	/* v2 TLVs. */
	{ "v2 tlv header cut", B(SIG "\x21\x11\x00\x0E" A4 "\x01\x00"), 0 },
	{ "v2 tlv one byte", B(SIG "\x21\x11\x00\x0D" A4 "\x04"), 0 },
	{ "v2 tlv value too long",
	    B(SIG "\x21\x11\x00\x11" A4 "\x01\x00\x05" "h2"), 0 },
	{ "v2 tlv second cut",
	    B(SIG "\x21\x11\x00\x13" A4 TLV_ALPN "\x02\x00"), 0 },
	{ "v2 tlv length 65535",
	    B(SIG "\x21\x11\x00\x0F" A4 "\x04\xFF\xFF"), 0 },
	{ "v2 tcp6 tlv cut",
	    B(SIG "\x21\x21\x00\x26" A6 "\x01\x00"), 0 },
	{ "v2 local unspec tlv cut", B(SIG "\x20\x00\x00\x02" "\x04\x00"), 0 },
	{ "v2 proxy unspec tlv cut", B(SIG "\x21\x00\x00\x01" "\x04"), 0 },
	{ "v2 crc32c wrong",
	    B(SIG "\x21\x11\x00\x13" A4 "\x03\x00\x04" "\xC8\xCC\xD4\xB6"), 0 },
	{ "v2 crc32c zero",
	    B(SIG "\x21\x11\x00\x13" A4 "\x03\x00\x04" "\x00\x00\x00\x00"), 0 },
	{ "v2 crc32c short",
	    B(SIG "\x21\x11\x00\x12" A4 "\x03\x00\x03" "\xC8\xCC\xD4"), 0 },
	{ "v2 crc32c twice",
	    B(SIG "\x21\x11\x00\x1A" A4 "\x03\x00\x04" "\xC8\xCC\xD4\xB7"
	    "\x03\x00\x04" "\xC8\xCC\xD4\xB7"), 0 },
};

static void
test_invalid(void **state)
{
	struct proxy_info pi, untouched;
	size_t i, k, at;
	int r;

	memset(&untouched, 0xA5, sizeof(untouched));
	for (i = 0; i < sizeof(invalid_cases) / sizeof(invalid_cases[0]);
	    i++) {
		const struct invalid_case *ic = &invalid_cases[i];

		at = ic->at ? ic->at : ic->len;
		assert_true(at <= ic->len);
		for (k = 0; k <= ic->len; k++) {
			memset(&pi, 0xA5, sizeof(pi));
			r = parse_exact(ic->buf, k, &pi);
			if (k < at && r != PROXY_NEED_MORE)
				fail_msg("%s: %zu bytes gave %d, not NEED_MORE",
				    ic->name, k, r);
			if (k >= at && r != PROXY_INVALID)
				fail_msg("%s: %zu bytes gave %d, not INVALID",
				    ic->name, k, r);
			assert_memory_equal(&pi, &untouched, sizeof(pi));
		}
	}
}

/* Size cap: a v2 header of exactly PROXY_HDR_MAX bytes, then one more. */
static void
test_v2_size_cap(void **state)
{
	static const unsigned char head[] = SIG "\x21\x11";
	unsigned char *buf;
	struct proxy_info pi;
	size_t total, plen, tlen, k;

	for (total = PROXY_HDR_MAX; total <= PROXY_HDR_MAX + 1; total++) {
		buf = calloc(1, total);
		assert_non_null(buf);
		plen = total - 16;
		tlen = plen - 12 - 3;
		memcpy(buf, head, 14);
		buf[14] = (unsigned char)(plen >> 8);
		buf[15] = (unsigned char)plen;
		memcpy(buf + 16, A4, 12);
		buf[28] = 0x04;			/* PP2_TYPE_NOOP */
		buf[29] = (unsigned char)(tlen >> 8);
		buf[30] = (unsigned char)tlen;
		if (total == PROXY_HDR_MAX) {
			assert_int_equal(proxy_parse(buf, total, &pi),
			    PROXY_HDR_MAX);
			assert_int_equal(pi.pi_local, 0);
			for (k = 0; k < total; k += 97)
				assert_int_equal(parse_exact(buf, k, NULL),
				    PROXY_NEED_MORE);
		} else {
			assert_int_equal(parse_exact(buf, 15, NULL),
			    PROXY_NEED_MORE);
			assert_int_equal(parse_exact(buf, 16, NULL),
			    PROXY_INVALID);
			assert_int_equal(proxy_parse(buf, total, NULL),
			    PROXY_INVALID);
		}
		free(buf);
	}
}

/* Every byte value after each valid prefix: never a crash, never > len. */
static void
test_byte_sweep(void **state)
{
	unsigned char buf[PROXY_HDR_MAX];
	size_t i, k;
	int b, r;

	for (i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++) {
		const struct valid_case *vc = &valid_cases[i];

		for (k = 0; k < vc->len; k++) {
			memcpy(buf, vc->hdr, k);
			for (b = 0; b < 256; b++) {
				buf[k] = (unsigned char)b;
				r = parse_exact(buf, k + 1, NULL);
				assert_true(r == PROXY_NEED_MORE ||
				    r == PROXY_INVALID ||
				    (r > 0 && (size_t)r <= k + 1));
			}
		}
	}
}

/* ---- proxy_read over a socketpair -------------------------------------- */

static long long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static long long
cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
pause_ms(int ms)
{
	struct timespec ts = { 0, (long)ms * 1000000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		continue;
}

/* sv[0]: the server side, non-blocking; sv[1]: the proxy. */
static void
make_pair(int sv[2])
{
	int fl;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fl = fcntl(sv[0], F_GETFL);
	assert_int_not_equal(fl, -1);
	assert_int_equal(fcntl(sv[0], F_SETFL, fl | O_NONBLOCK), 0);
}

static void
write_all(int fd, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(99);
		p += n;
		len -= (size_t)n;
	}
}

/* What is left in the socket once the peer has closed. */
static size_t
drain(int fd, unsigned char *buf, size_t len)
{
	struct timespec ts = { 0, 10 * 1000000 };
	size_t have = 0;
	ssize_t n;

	for (;;) {
		n = recv(fd, buf + have, len - have, 0);
		if (n == 0 || have == len)
			return have;
		if (n > 0) {
			have += (size_t)n;
			continue;
		}
		assert_true(errno == EAGAIN || errno == EINTR);
		nanosleep(&ts, NULL);
	}
}

#define PAYLOAD	"\x16\x03\x01\x00\x05" "hello, PROXY\r\n"

static const struct {
	const char	*name;
	const char	*hdr;
	size_t		 len;
	size_t		 cuts[8];	/* write boundaries, ascending, 0-ended */
} split_cases[] = {
	{ "v1 tcp4", B(V1_TCP4), { 1, 3, 6, 11, 20, 43, 44, 0 } },
	{ "v1 unknown", B("PROXY UNKNOWN foo bar\r\n"), { 5, 13, 14, 22, 0 } },
	{ "v2 tcp6 tlvs", B(SIG "\x21\x21\x00\x37" A6 TLV_ALPN TLV_AUTH),
	    { 1, 12, 13, 14, 15, 16, 40, 0 } },
	{ "v2 local", B(SIG "\x20\x00\x00\x00"), { 4, 12, 15, 0 } },
};

static void
test_read_one_write(void **state)
{
	unsigned char buf[256];
	struct proxy_info pi;
	char err[128];
	size_t i, n;
	int sv[2], to;

	for (i = 0; i < sizeof(split_cases) / sizeof(split_cases[0]); i++) {
		make_pair(sv);
		memcpy(buf, split_cases[i].hdr, split_cases[i].len);
		memcpy(buf + split_cases[i].len, PAYLOAD, sizeof(PAYLOAD) - 1);
		write_all(sv[1], buf, split_cases[i].len + sizeof(PAYLOAD) - 1);
		close(sv[1]);

		to = -1;
		assert_int_equal(proxy_read(sv[0], 2000, NULL, NULL, &pi, &to,
		    err, sizeof(err)), 0);
		assert_int_equal(to, 0);
		assert_int_equal(pi.pi_version,
		    split_cases[i].hdr[0] == 'P' ? 1 : 2);
		/* The payload is still in the socket, all of it. */
		n = drain(sv[0], buf, sizeof(buf));
		assert_int_equal(n, sizeof(PAYLOAD) - 1);
		assert_memory_equal(buf, PAYLOAD, n);
		close(sv[0]);
	}
}

static void
test_read_split(void **state)
{
	unsigned char buf[256];
	struct proxy_info pi;
	char err[128];
	size_t i, j, from, to_off, n;
	pid_t pid;
	int sv[2], to, status;

	for (i = 0; i < sizeof(split_cases) / sizeof(split_cases[0]); i++) {
		make_pair(sv);
		pid = fork();
		assert_int_not_equal(pid, -1);
		if (pid == 0) {
			close(sv[0]);
			from = 0;
			for (j = 0; j < 8 && split_cases[i].cuts[j]; j++) {
				to_off = split_cases[i].cuts[j];
				write_all(sv[1], split_cases[i].hdr + from,
				    to_off - from);
				from = to_off;
				pause_ms(30);
			}
			/* The rest of the header and the payload together. */
			memcpy(buf, split_cases[i].hdr + from,
			    split_cases[i].len - from);
			memcpy(buf + split_cases[i].len - from, PAYLOAD,
			    sizeof(PAYLOAD) - 1);
			write_all(sv[1], buf, split_cases[i].len - from +
			    sizeof(PAYLOAD) - 1);
			_exit(0);
		}
		close(sv[1]);
		to = -1;
		if (proxy_read(sv[0], 5000, NULL, NULL, &pi, &to, err,
		    sizeof(err)) != 0)
			fail_msg("%s: %s", split_cases[i].name, err);
		assert_int_equal(to, 0);
		n = drain(sv[0], buf, sizeof(buf));
		assert_int_equal(n, sizeof(PAYLOAD) - 1);
		assert_memory_equal(buf, PAYLOAD, n);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
		close(sv[0]);
	}
	/* The addresses made it through the pieces. */
	assert_int_equal(pi.pi_local, 1);
}

static void
test_read_split_addresses(void **state)
{
	struct proxy_info pi;
	char err[128];
	pid_t pid;
	int sv[2], to, status;

	make_pair(sv);
	pid = fork();
	assert_int_not_equal(pid, -1);
	if (pid == 0) {
		close(sv[0]);
		write_all(sv[1], V1_TCP4, 25);
		pause_ms(50);
		write_all(sv[1], &V1_TCP4[25], sizeof(V1_TCP4) - 1 - 25);
		_exit(0);
	}
	close(sv[1]);
	assert_int_equal(proxy_read(sv[0], 5000, NULL, NULL, &pi, &to, err,
	    sizeof(err)), 0);
	check_info(&valid_cases[0], &pi);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(sv[0]);
}

static void
test_read_timeout_silent(void **state)
{
	struct proxy_info pi;
	char err[128];
	long long t0, dt;
	int sv[2], to;

	make_pair(sv);
	t0 = mono_ms();
	assert_int_equal(proxy_read(sv[0], 200, NULL, NULL, &pi, &to, err,
	    sizeof(err)), -1);
	dt = mono_ms() - t0;
	assert_int_equal(to, 1);
	assert_string_equal(err, "timeout");
	assert_true(dt >= 195 && dt < 1500);
	close(sv[0]);
	close(sv[1]);
}

/* Half a header, then silence: a timeout, and no busy loop meanwhile. */
static void
test_read_timeout_partial(void **state)
{
	struct proxy_info pi;
	char err[128];
	long long t0, c0, dt;
	int sv[2], to;

	make_pair(sv);
	write_all(sv[1], V2_TCP4, 20);
	t0 = mono_ms();
	c0 = cpu_ms();
	assert_int_equal(proxy_read(sv[0], 200, NULL, NULL, &pi, &to, err,
	    sizeof(err)), -1);
	dt = mono_ms() - t0;
	assert_int_equal(to, 1);
	assert_string_equal(err, "timeout");
	assert_true(dt >= 195 && dt < 1500);
	assert_true(cpu_ms() - c0 < 100);
	close(sv[0]);
	close(sv[1]);
}

static void
test_read_invalid(void **state)
{
	static const struct {
		const char	*bytes;
		size_t		 len;
	} bad[] = {
		{ B("GET / HTTP/1.1\r\n\r\n") },
		{ B("\x16\x03\x01\x02\x00\x01\x00\x01\xFC\x03\x03") },
		{ B("PROXY TCP4 192.0.2.1 198.51.100.2 65536 443\r\n") },
		{ B(SIG "\x21\x12\x00\x0C" A4) },
		{ B("PROXY TCP4 192.0.2.1 ") },	/* valid start, bad end */
	};
	struct proxy_info pi;
	char err[128];
	long long t0;
	size_t i;
	int sv[2], to;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		make_pair(sv);
		write_all(sv[1], bad[i].bytes, bad[i].len);
		if (i == 4) {
			/* The rest of a broken line arrives later. */
			pid_t pid = fork();
			int status;

			assert_int_not_equal(pid, -1);
			if (pid == 0) {
				pause_ms(30);
				write_all(sv[1], "198.51.100.2 1 2 3\r\n", 20);
				_exit(0);
			}
			t0 = mono_ms();
			assert_int_equal(proxy_read(sv[0], 5000, NULL, NULL,
			    &pi, &to, err, sizeof(err)), -1);
			assert_int_equal(waitpid(pid, &status, 0), pid);
		} else {
			t0 = mono_ms();
			assert_int_equal(proxy_read(sv[0], 5000, NULL, NULL,
			    &pi, &to, err, sizeof(err)), -1);
		}
		assert_true(mono_ms() - t0 < 1000);
		assert_int_equal(to, 0);
		assert_string_equal(err, "invalid PROXY header");
		close(sv[0]);
		close(sv[1]);
	}
}

static void
test_read_closed(void **state)
{
	struct proxy_info pi;
	char err[128];
	size_t cut;
	int sv[2], to;

	for (cut = 0; cut < 30; cut += 10) {
		make_pair(sv);
		write_all(sv[1], V2_TCP4, cut);
		close(sv[1]);
		assert_int_equal(proxy_read(sv[0], 2000, NULL, NULL, &pi, &to,
		    err, sizeof(err)), -1);
		assert_int_equal(to, 0);
		assert_string_equal(err, "connection closed");
		close(sv[0]);
	}
}

static void
test_read_errors(void **state)
{
	volatile sig_atomic_t stop = 1;
	struct proxy_info pi;
	char err[128];
	int sv[2], to;

	/* *stop already set: nothing is read. */
	make_pair(sv);
	write_all(sv[1], V1_TCP4, sizeof(V1_TCP4) - 1);
	assert_int_equal(proxy_read(sv[0], 2000, NULL, &stop, &pi, &to, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "shutdown");
	assert_int_equal(to, 0);
	/* No error buffer is fine. */
	assert_int_equal(proxy_read(sv[0], 2000, NULL, &stop, &pi, &to, NULL,
	    0), -1);
	close(sv[0]);
	close(sv[1]);

	/* Not a socket. */
	assert_int_equal(proxy_read(-1, 100, NULL, NULL, &pi, &to, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "recv: Bad file descriptor");
	assert_int_equal(to, 0);
}

static volatile sig_atomic_t got_usr1;

static void
on_usr1(int sig)
{
	got_usr1 = 1;
}

/*
 * SIGUSR1 is blocked except inside ppoll (the sigmask argument): its
 * handler sets *stop and proxy_read returns at once, not at the timeout.
 */
static void
test_read_signal_stop(void **state)
{
	struct sigaction sa, old_sa;
	sigset_t block, old_mask, wait_mask;
	struct proxy_info pi;
	char err[128];
	long long t0;
	pid_t pid;
	int sv[2], to, status;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigemptyset(&sa.sa_mask);
	assert_int_equal(sigaction(SIGUSR1, &sa, &old_sa), 0);
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	assert_int_equal(sigprocmask(SIG_BLOCK, &block, &old_mask), 0);
	wait_mask = old_mask;
	sigdelset(&wait_mask, SIGUSR1);

	make_pair(sv);
	got_usr1 = 0;
	pid = fork();
	assert_int_not_equal(pid, -1);
	if (pid == 0) {
		pause_ms(50);
		kill(getppid(), SIGUSR1);
		_exit(0);
	}
	t0 = mono_ms();
	assert_int_equal(proxy_read(sv[0], 5000, &wait_mask, &got_usr1, &pi,
	    &to, err, sizeof(err)), -1);
	assert_true(mono_ms() - t0 < 2000);
	assert_string_equal(err, "shutdown");
	assert_int_equal(to, 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);

	assert_int_equal(sigprocmask(SIG_SETMASK, &old_mask, NULL), 0);
	assert_int_equal(sigaction(SIGUSR1, &old_sa, NULL), 0);
	close(sv[0]);
	close(sv[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_valid_lengths),
		cmocka_unit_test(test_valid_truncated),
		cmocka_unit_test(test_valid_trailing),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_v2_size_cap),
		cmocka_unit_test(test_byte_sweep),
		cmocka_unit_test(test_read_one_write),
		cmocka_unit_test(test_read_split),
		cmocka_unit_test(test_read_split_addresses),
		cmocka_unit_test(test_read_timeout_silent),
		cmocka_unit_test(test_read_timeout_partial),
		cmocka_unit_test(test_read_invalid),
		cmocka_unit_test(test_read_closed),
		cmocka_unit_test(test_read_errors),
		cmocka_unit_test(test_read_signal_stop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

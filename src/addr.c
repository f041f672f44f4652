/*
 * addr.c - address text and CIDR matching (pure code, no I/O).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "secho/addr.h"

/* Longest interface name accepted after '%' in an IPv6 literal. */
#define ZONE_MAX	15

static const unsigned char v4mapped_prefix[12] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

static int
is_v4mapped(const unsigned char a[16])
{
	return memcmp(a, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0;
}

/*
 * Normalize sa to (family, address bytes): IPv4-mapped IPv6 becomes
 * AF_INET with 4 bytes.  Returns the family, 0 for unknown families.
 */
static int
sa_normalize(const struct sockaddr *sa, unsigned char out[16])
{
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;

	if (sa == NULL)
		return 0;
	switch (sa->sa_family) {
	case AF_INET:
		sin = (const struct sockaddr_in *)(const void *)sa;
		memcpy(out, &sin->sin_addr, 4);
		return AF_INET;
	case AF_INET6:
		sin6 = (const struct sockaddr_in6 *)(const void *)sa;
		if (is_v4mapped(sin6->sin6_addr.s6_addr)) {
			memcpy(out, sin6->sin6_addr.s6_addr + 12, 4);
			return AF_INET;
		}
		memcpy(out, sin6->sin6_addr.s6_addr, 16);
		return AF_INET6;
	default:
		return 0;
	}
}

/* Decimal digits of v at p; returns the end. */
static char *
put_uint(char *p, unsigned v)
{
	char tmp[10];
	int n = 0;

	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	while (n > 0)
		*p++ = tmp[--n];
	return p;
}

/*
 * IPv4 without stdio: a connection child formats its peer first thing,
 * and printf's code is pages it would fault in for nothing.
 */
static char *
format_v4(const unsigned char a[4], int port, char *buf, size_t len)
{
	char tmp[sizeof("255.255.255.255:65535")], *p = tmp;
	int i;

	for (i = 0; i < 4; i++) {
		if (i)
			*p++ = '.';
		p = put_uint(p, a[i]);
	}
	if (port >= 0) {
		*p++ = ':';
		p = put_uint(p, (unsigned)port);
	}
	*p = '\0';
	if ((size_t)(p - tmp) >= len) {
		memcpy(buf, tmp, len - 1);
		buf[len - 1] = '\0';
	} else
		memcpy(buf, tmp, (size_t)(p - tmp) + 1);
	return buf;
}

static char *
format(const struct sockaddr *sa, char *buf, size_t len, int with_port)
{
	const struct sockaddr_in6 *sin6;
	unsigned char a[16];
	char host[INET6_ADDRSTRLEN];
	char zone[16] = "";
	int family;

	if (len == 0)
		return buf;
	family = sa_normalize(sa, a);
	if (family == AF_INET)
		return format_v4(a, with_port ? addr_port(sa) : -1, buf, len);
	if (family == 0 || inet_ntop(family, a, host, sizeof(host)) == NULL) {
		snprintf(buf, len, "unknown");
		return buf;
	}
	if (family == AF_INET6) {
		sin6 = (const struct sockaddr_in6 *)(const void *)sa;
		if (sin6->sin6_scope_id != 0)
			snprintf(zone, sizeof(zone), "%%%u",
			    (unsigned)sin6->sin6_scope_id);
	}
	if (!with_port)
		snprintf(buf, len, "%s%s", host, zone);
	else if (family == AF_INET)
		snprintf(buf, len, "%s:%d", host, addr_port(sa));
	else
		snprintf(buf, len, "[%s%s]:%d", host, zone, addr_port(sa));
	return buf;
}

char *
addr_format(const struct sockaddr *sa, char *buf, size_t len)
{
	return format(sa, buf, len, 1);
}

char *
addr_format_host(const struct sockaddr *sa, char *buf, size_t len)
{
	return format(sa, buf, len, 0);
}

/* Parse a decimal prefix length 0..max without sign or leading zeros. */
static int
parse_prefix(const char *s, int max)
{
	int v = 0;

	if (*s == '\0' || (s[0] == '0' && s[1] != '\0'))
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
		if (v > max)
			return -1;
	}
	return v;
}

/* Are all bits of a[] past prefix zero? */
static int
host_bits_clear(const unsigned char *a, int nbytes, int prefix)
{
	int i;

	for (i = 0; i < nbytes; i++) {
		int bit = i * 8;
		unsigned char mask;

		if (bit + 8 <= prefix)
			continue;
		mask = bit >= prefix ? 0xff : (unsigned char)(0xff >> (prefix - bit));
		if (a[i] & mask)
			return 0;
	}
	return 1;
}

int
addr_parse_cidr(const char *text, struct cidr *c)
{
	char buf[INET6_ADDRSTRLEN + 8];
	char *slash;
	unsigned char a[16];
	int family, max, prefix;
	size_t n;

	if (text == NULL || c == NULL)
		return -1;
	n = strlen(text);
	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, text, n + 1);
	slash = strchr(buf, '/');
	if (slash != NULL)
		*slash++ = '\0';

	memset(a, 0, sizeof(a));
	if (inet_pton(AF_INET, buf, a) == 1) {
		family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, a) == 1) {
		family = AF_INET6;
		max = 128;
	} else
		return -1;

	if (slash == NULL)
		prefix = max;
	else if ((prefix = parse_prefix(slash, max)) < 0)
		return -1;
	if (!host_bits_clear(a, max / 8, prefix))
		return -1;

	/*
	 * "::ffff:192.0.2.0/120" is an IPv4 block written as IPv6: store it
	 * as IPv4 so that it matches IPv4 peers, mapped or not.
	 */
	if (family == AF_INET6 && prefix >= 96 && is_v4mapped(a)) {
		memmove(a, a + 12, 4);
		memset(a + 4, 0, 12);
		family = AF_INET;
		prefix -= 96;
	}

	memset(c, 0, sizeof(*c));
	c->family = family;
	memcpy(c->addr, a, sizeof(c->addr));
	c->prefix = prefix;
	return 0;
}

int
addr_cidr_match(const struct cidr *c, const struct sockaddr *sa)
{
	unsigned char a[16];
	int family, full, rest;

	if (c == NULL)
		return 0;
	family = sa_normalize(sa, a);
	if (family == 0 || family != c->family)
		return 0;
	full = c->prefix / 8;
	rest = c->prefix % 8;
	if (memcmp(a, c->addr, (size_t)full) != 0)
		return 0;
	if (rest != 0) {
		unsigned char mask = (unsigned char)(0xff << (8 - rest));

		if ((a[full] & mask) != (c->addr[full] & mask))
			return 0;
	}
	return 1;
}

int
addr_cidr_list_match(const struct cidr_list *l, const struct sockaddr *sa)
{
	size_t i;

	if (l == NULL)
		return 0;
	for (i = 0; i < l->count; i++)
		if (addr_cidr_match(&l->items[i], sa))
			return 1;
	return 0;
}

int
addr_is_literal(const char *text)
{
	char buf[INET6_ADDRSTRLEN + 1];
	unsigned char a[16];
	const char *pct, *z;
	size_t n;

	if (text == NULL || *text == '\0')
		return 0;
	if (inet_pton(AF_INET, text, a) == 1)
		return 1;
	/* An IPv6 literal may carry a zone: "fe80::1%eth0". */
	pct = strchr(text, '%');
	n = pct ? (size_t)(pct - text) : strlen(text);
	if (n == 0 || n >= sizeof(buf))
		return 0;
	memcpy(buf, text, n);
	buf[n] = '\0';
	if (inet_pton(AF_INET6, buf, a) != 1)
		return 0;
	if (pct != NULL) {
		z = pct + 1;
		n = strlen(z);
		if (n == 0 || n > ZONE_MAX)
			return 0;
		for (; *z; z++)
			if (!isalnum((unsigned char)*z) && *z != '-' &&
			    *z != '_' && *z != '.')
				return 0;
	}
	return 1;
}

int
addr_is_hostname(const char *text)
{
	const char *p, *label;
	size_t total, len;
	int numeric = 1;

	if (text == NULL || *text == '\0')
		return 0;
	total = strlen(text);
	if (text[total - 1] == '.')	/* fully qualified "host.example." */
		total--;
	if (total == 0 || total > 253)
		return 0;

	label = text;
	for (p = text; ; p++) {
		if (p == text + total || *p == '.') {
			len = (size_t)(p - label);
			if (len == 0 || len > 63)
				return 0;
			if (label[0] == '-' || p[-1] == '-')
				return 0;
			if (p == text + total)
				break;
			label = p + 1;
			numeric = 1;
			continue;
		}
		if (isdigit((unsigned char)*p))
			continue;
		if (!isalpha((unsigned char)*p) && *p != '-')
			return 0;
		numeric = 0;
	}
	/*
	 * An all-numeric last label ("999.1.1.1", "1234") is a mistyped
	 * address, not a name (RFC 3696 section 2).
	 */
	return !numeric;
}

int
addr_equal(const struct sockaddr *a, const struct sockaddr *b)
{
	unsigned char ka[16], kb[16];
	int fa, fb;

	fa = sa_normalize(a, ka);
	fb = sa_normalize(b, kb);
	if (fa == 0 || fa != fb)
		return 0;
	if (memcmp(ka, kb, fa == AF_INET ? 4 : 16) != 0)
		return 0;
	if (addr_port(a) != addr_port(b))
		return 0;
	if (fa == AF_INET6 &&
	    ((const struct sockaddr_in6 *)(const void *)a)->sin6_scope_id !=
	    ((const struct sockaddr_in6 *)(const void *)b)->sin6_scope_id)
		return 0;
	return 1;
}

void
addr_host_key(const struct sockaddr *sa, unsigned char key[16])
{
	unsigned char a[16];

	memset(key, 0, 16);
	switch (sa_normalize(sa, a)) {
	case AF_INET:
		memcpy(key, v4mapped_prefix, sizeof(v4mapped_prefix));
		memcpy(key + 12, a, 4);
		break;
	case AF_INET6:
		memcpy(key, a, 16);
		break;
	default:
		break;
	}
}

int
addr_port(const struct sockaddr *sa)
{
	if (sa == NULL)
		return 0;
	switch (sa->sa_family) {
	case AF_INET:
		return ntohs(((const struct sockaddr_in *)(const void *)sa)->sin_port);
	case AF_INET6:
		return ntohs(((const struct sockaddr_in6 *)(const void *)sa)->sin6_port);
	default:
		return 0;
	}
}

int
addr_access_allowed(const struct cidr_list *allow, const struct cidr_list *deny,
    const struct sockaddr *sa)
{
	if (addr_cidr_list_match(deny, sa))
		return 0;
	return !allow->set || addr_cidr_list_match(allow, sa);
}

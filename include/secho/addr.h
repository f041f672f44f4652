/*
 * addr.h - address text and CIDR matching (pure code, no I/O).
 */
#ifndef SECHO_ADDR_H
#define SECHO_ADDR_H

#include <stddef.h>
#include <sys/socket.h>
#include "secho/config.h"

/* Enough for "[ffff:ffff:...:255.255.255.255%interface]:65535". */
#define ADDR_STRLEN 80

/*
 * Format sa as "192.0.2.1:5555" or "[2001:db8::1]:5555"; an IPv4-mapped
 * IPv6 address is written as IPv4.  Always NUL-terminates buf; returns buf.
 */
char	*addr_format(const struct sockaddr *sa, char *buf, size_t len);

/* Same without the port ("192.0.2.1", "2001:db8::1"). */
char	*addr_format_host(const struct sockaddr *sa, char *buf, size_t len);

/*
 * Parse "192.0.2.0/24", "2001:db8::/32", or a bare address (full-length
 * prefix) into *c.  Host bits beyond the prefix must be zero ("10.0.0.1/8"
 * is refused).  An IPv4 block written as mapped IPv6 ("::ffff:10.0.0.0/104")
 * is stored as the IPv4 block.  Returns 0, or -1 when the text is not a
 * valid CIDR block.
 */
int	 addr_parse_cidr(const char *text, struct cidr *c);

/*
 * Does sa fall into c?  IPv4-mapped IPv6 addresses match IPv4 blocks (and
 * only those: "::/0" matches IPv6 peers, not IPv4 ones, as in nginx).
 * Returns 1 or 0.
 */
int	 addr_cidr_match(const struct cidr *c, const struct sockaddr *sa);

/* Does sa match any entry of the list?  1 or 0 (0 for an empty list). */
int	 addr_cidr_list_match(const struct cidr_list *l, const struct sockaddr *sa);

/*
 * The access rule of a listener: with allow set, only matching peers are
 * served; deny wins over allow.  1 when sa may be served, 0 otherwise.
 */
int	 addr_access_allowed(const struct cidr_list *allow,
	    const struct cidr_list *deny, const struct sockaddr *sa);

/*
 * Is text an IP literal (IPv4 or IPv6, no brackets; an IPv6 literal may
 * carry a zone, "fe80::1%eth0", as getaddrinfo() accepts)?  1 or 0.
 */
int	 addr_is_literal(const char *text);

/*
 * Is text a syntactically valid host name (RFC 1123 labels of 1..63
 * letters, digits, hyphens, not at either end; 253 characters at most,
 * one trailing dot allowed)?  An all-numeric last label ("999.1.1.1") is
 * refused.  1 or 0.
 */
int	 addr_is_hostname(const char *text);

/*
 * Compare two socket addresses (family, address, port); an IPv4-mapped
 * IPv6 address equals its IPv4 form.  Returns 1 when equal.
 */
int	 addr_equal(const struct sockaddr *a, const struct sockaddr *b);

/*
 * Host key of an address for per-host tables: 16 bytes, IPv4 (and
 * IPv4-mapped) stored as ::ffff:a.b.c.d.
 */
void	 addr_host_key(const struct sockaddr *sa, unsigned char key[16]);

/* Port of sa (host order), 0 for unknown families. */
int	 addr_port(const struct sockaddr *sa);

#endif

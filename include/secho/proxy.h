/*
 * proxy.h - PROXY protocol v1 (text) and v2 (binary) headers, as sent by
 * haproxy, nginx, stunnel and cloud load balancers in front of a
 * proxy_protocol listener (HAProxy's proxy-protocol.txt).
 *
 * proxy_parse() is pure code over a byte buffer; proxy_read() takes
 * exactly one header off a socket and leaves the bytes after it (a TLS
 * ClientHello, the client's first data) unread.
 *
 * What is accepted (strict; anything else is PROXY_INVALID):
 *
 *   v1  "PROXY TCP4 <src> <dst> <sport> <dport>\r\n", likewise TCP6, and
 *       "PROXY UNKNOWN\r\n" or "PROXY UNKNOWN <anything but CR/LF>\r\n"
 *       (local).  At most PROXY_V1_MAXLEN (107) bytes including CRLF.
 *       Single spaces, no extra or missing fields; addresses must parse
 *       with inet_pton() for the family (no IPv6 in TCP4, no zone ids,
 *       no leading zeros in IPv4 parts); ports are 0..65535 in plain
 *       decimal without sign or leading zeros ("0" itself is fine).
 *
 *   v2  the 12-byte signature, version 2, command LOCAL or PROXY.
 *       PROXY with TCP over IPv4 (0x11) or IPv6 (0x21) gives addresses;
 *       PROXY with UNSPEC (0x00) is taken as local (the spec lets the
 *       receiver accept it and use the real endpoints).  PROXY with UDP
 *       (0x12, 0x22), UNIX (0x31, 0x32) or an undefined family byte is
 *       invalid: our listeners are TCP, such a header means a
 *       misconfigured proxy.  LOCAL ignores the family byte, as the spec
 *       asks.  The length must cover the address block of the family (12
 *       for IPv4, 36 for IPv6) and the whole header must fit in
 *       PROXY_HDR_MAX (4096) bytes; haproxy allows up to 16 + 65535, but
 *       a header that large is abuse, not metadata.  TLVs after the
 *       address block are skipped, but their framing must fill the
 *       length exactly, and a PP2_TYPE_CRC32C TLV (at most one, 4 bytes)
 *       must hold the right checksum.  Under LOCAL the TLVs are checked
 *       when the family (UNSPEC, INET, INET6, UNIX) says where they start
 *       and the length covers that address block; otherwise the payload
 *       is skipped unread, since the spec says the family is ignored.
 *
 * Early refusal: a buffer that cannot be the start of either header
 * ("GET / HTTP/1.1", a TLS record 0x16 0x03 0x01, a v1 line with a
 * character no valid line could hold at that position) is PROXY_INVALID
 * as soon as the offending byte is there, so a client that does not
 * speak PROXY is turned away at once rather than after the timeout.
 */
#ifndef SECHO_PROXY_H
#define SECHO_PROXY_H

#include <signal.h>
#include <stddef.h>
#include <sys/socket.h>

/* Results of proxy_parse() besides a header length. */
#define PROXY_NEED_MORE	0	/* valid prefix so far; call again with more */
#define PROXY_INVALID	(-1)	/* malformed, oversized or unsupported */

#define PROXY_V1_MAXLEN	107	/* v1 line including CRLF (spec) */
#define PROXY_HDR_MAX	4096	/* any header, v2 TLVs included (our cap) */

struct proxy_info {
	int	pi_local;	/* v2 LOCAL, v2 PROXY+UNSPEC or v1 UNKNOWN:
				   use the socket's own peer */
	struct sockaddr_storage pi_src, pi_dst;	/* when !pi_local: AF_INET
				   or AF_INET6, ports in network order;
				   AF_UNSPEC (zeroed) when pi_local */
	int	pi_version;	/* 1 or 2 */
};

/*
 * Parse a PROXY header at the start of buf[0..len).  Never reads beyond
 * len.  Returns the header length (> 0, at most PROXY_HDR_MAX) when a
 * complete valid header is there, whatever follows it; PROXY_NEED_MORE
 * when buf is a valid but incomplete start (every byte of it then belongs
 * to the header); PROXY_INVALID otherwise.  *out is written only when a
 * length is returned; out may be NULL.
 */
int	proxy_parse(const unsigned char *buf, size_t len,
	    struct proxy_info *out);

/*
 * Read exactly one PROXY header from socket fd, consuming no byte after
 * it (the header is found with recv(MSG_PEEK); only bytes known to belong
 * to it are taken).  Every recv uses MSG_DONTWAIT; waiting is done in
 * ppoll() with sigmask (NULL: the current mask), so a signal that sets
 * *stop interrupts the wait.  timeout_ms bounds the whole header (< 0:
 * no limit).  Returns 0 and fills *out, or -1 with err set ("timeout",
 * "invalid PROXY header", "connection closed", "shutdown" when *stop was
 * set, "recv: <strerror>", "ppoll: <strerror>"); *timed_out is 1 only on
 * timeout.  stop may be NULL; err may be NULL when errlen is 0.
 */
int	proxy_read(int fd, int timeout_ms, const sigset_t *sigmask,
	    volatile sig_atomic_t *stop, struct proxy_info *out,
	    int *timed_out, char *err, size_t errlen);

#endif

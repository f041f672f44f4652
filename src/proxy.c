/*
 * proxy.c - PROXY protocol v1/v2 header parser and socket reader.
 *
 * proxy_parse() looks at bytes, nothing else: it may be called again and
 * again on a growing buffer and decides as early as it can that the bytes
 * cannot become a valid header.  proxy_read() feeds it from a socket
 * without ever taking a byte that belongs to the application.  What is
 * accepted, and why, is in proxy.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include "secho/clock.h"
#include "secho/proxy.h"

static const unsigned char v1_sig[6] = { 'P', 'R', 'O', 'X', 'Y', ' ' };

static const unsigned char v2_sig[12] = {
	0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A
};

#define V2_HDRLEN		16	/* signature, ver_cmd, fam, len */
#define V2_CMD_LOCAL		0x0
#define V2_CMD_PROXY		0x1
#define V2_FAM_UNSPEC		0x00
#define V2_FAM_TCP4		0x11
#define V2_FAM_TCP6		0x21
#define V2_TLV_CRC32C		0x03

/* Longest address text: IPv4 dotted quad; IPv6 with an embedded IPv4. */
#define V1_INET_MAX		15
#define V1_INET6_MAX		45

/* ---- v1 ---------------------------------------------------------------- */

/* Is c a character that an address of family af may contain? */
static int
v1_addr_char(unsigned char c, int af)
{
	if ((c >= '0' && c <= '9') || c == '.')
		return 1;
	if (af == AF_INET6)
		return c == ':' || (c >= 'a' && c <= 'f') ||
		    (c >= 'A' && c <= 'F');
	return 0;
}

/*
 * Check address field f[0..n) of family af.  With complete == 0 the field
 * may still grow: only its characters and length are checked.  A complete
 * field is parsed into *ss.  Returns 0, or -1 when it is (or can only
 * become) invalid.
 */
static int
v1_addr(const unsigned char *f, size_t n, int complete, int af,
    struct sockaddr_storage *ss)
{
	char text[V1_INET6_MAX + 1];
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	size_t i;

	if (n > (af == AF_INET ? V1_INET_MAX : V1_INET6_MAX))
		return -1;
	for (i = 0; i < n; i++)
		if (!v1_addr_char(f[i], af))
			return -1;
	if (!complete)
		return 0;
	if (n == 0)
		return -1;
	memcpy(text, f, n);
	text[n] = '\0';
	memset(ss, 0, sizeof(*ss));
	if (af == AF_INET) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		if (inet_pton(AF_INET, text, &sin.sin_addr) != 1)
			return -1;
		memcpy(ss, &sin, sizeof(sin));
	} else {
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		if (inet_pton(AF_INET6, text, &sin6.sin6_addr) != 1)
			return -1;
		memcpy(ss, &sin6, sizeof(sin6));
	}
	return 0;
}

/*
 * Check port field f[0..n): 0..65535, decimal digits only, no leading
 * zero (haproxy's senders never write one; a "080" is a broken sender).
 * Partial fields as in v1_addr().  A complete port is stored in network
 * order into the already parsed address *ss.
 */
static int
v1_port(const unsigned char *f, size_t n, int complete,
    struct sockaddr_storage *ss)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	unsigned long v = 0;
	size_t i;

	if (n > 5 || (n > 1 && f[0] == '0'))
		return -1;
	for (i = 0; i < n; i++) {
		if (f[i] < '0' || f[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(f[i] - '0');
	}
	if (v > 65535)
		return -1;
	if (!complete)
		return 0;
	if (n == 0)
		return -1;
	if (ss->ss_family == AF_INET) {
		memcpy(&sin, ss, sizeof(sin));
		sin.sin_port = htons((uint16_t)v);
		memcpy(ss, &sin, sizeof(sin));
	} else {
		memcpy(&sin6, ss, sizeof(sin6));
		sin6.sin6_port = htons((uint16_t)v);
		memcpy(ss, &sin6, sizeof(sin6));
	}
	return 0;
}

/* Is w[0..n) a prefix of word (n <= strlen(word))? */
static int
is_prefix(const unsigned char *w, size_t n, const char *word)
{
	return n <= strlen(word) && memcmp(w, word, n) == 0;
}

/* Is w[0..n) exactly word? */
static int
is_word(const unsigned char *w, size_t n, const char *word)
{
	return n == strlen(word) && memcmp(w, word, n) == 0;
}

/*
 * "PROXY TCP4 192.0.2.1 198.51.100.2 12345 443\r\n".  The line is
 * buf[0..end); "complete" says a CR ended it (else the data ended first).
 */
static int
v1_parse(const unsigned char *buf, size_t len, struct proxy_info *pi)
{
	const unsigned char *w;
	size_t end, lim, p, q, n;
	int complete, af, field, sp, fin;

	/*
	 * Find the end of the line: the CR must sit at index 105 at the
	 * latest so that CRLF ends within PROXY_V1_MAXLEN bytes.  A bare
	 * LF, or a CR followed by anything but LF, is invalid.
	 */
	lim = len < PROXY_V1_MAXLEN - 1 ? len : PROXY_V1_MAXLEN - 1;
	for (end = 0; end < lim; end++)
		if (buf[end] == '\r' || buf[end] == '\n')
			break;
	if (end == lim) {
		if (len >= PROXY_V1_MAXLEN - 1)
			return PROXY_INVALID;
		complete = 0;
	} else {
		if (buf[end] == '\n')
			return PROXY_INVALID;
		if (end + 1 < len && buf[end + 1] != '\n')
			return PROXY_INVALID;
		complete = 1;
	}

	n = end < sizeof(v1_sig) ? end : sizeof(v1_sig);
	if (memcmp(buf, v1_sig, n) != 0)
		return PROXY_INVALID;
	if (end < sizeof(v1_sig))
		return complete ? PROXY_INVALID : PROXY_NEED_MORE;

	/* The protocol word. */
	p = sizeof(v1_sig);
	for (q = p; q < end && buf[q] != ' '; q++)
		continue;
	w = buf + p;
	n = q - p;
	sp = q < end;
	if (!sp && !complete) {
		if (is_prefix(w, n, "TCP4") || is_prefix(w, n, "TCP6") ||
		    is_prefix(w, n, "UNKNOWN"))
			return PROXY_NEED_MORE;
		return PROXY_INVALID;
	}
	if (is_word(w, n, "UNKNOWN")) {
		/* The rest of the line, whatever it is, is ignored. */
		pi->pi_local = 1;
		goto done;
	}
	if (is_word(w, n, "TCP4"))
		af = AF_INET;
	else if (is_word(w, n, "TCP6"))
		af = AF_INET6;
	else
		return PROXY_INVALID;
	if (!sp)
		return PROXY_INVALID;		/* "PROXY TCP4\r\n" */

	/* src dst sport dport, one space apart, nothing after dport. */
	p = q + 1;
	for (field = 0;; field++) {
		for (q = p; q < end && buf[q] != ' '; q++)
			continue;
		sp = q < end;
		fin = sp || complete;
		if (sp && field == 3)
			return PROXY_INVALID;	/* extra field or space */
		if (!sp && complete && field < 3)
			return PROXY_INVALID;	/* missing fields */
		switch (field) {
		case 0:
			if (v1_addr(buf + p, q - p, fin, af,
			    &pi->pi_src) == -1)
				return PROXY_INVALID;
			break;
		case 1:
			if (v1_addr(buf + p, q - p, fin, af,
			    &pi->pi_dst) == -1)
				return PROXY_INVALID;
			break;
		case 2:
			if (v1_port(buf + p, q - p, fin, &pi->pi_src) == -1)
				return PROXY_INVALID;
			break;
		default:
			if (v1_port(buf + p, q - p, fin, &pi->pi_dst) == -1)
				return PROXY_INVALID;
			break;
		}
		if (!fin)
			return PROXY_NEED_MORE;
		if (!sp)
			break;
		p = q + 1;
	}

done:
	if (!complete || end + 1 >= len)
		return PROXY_NEED_MORE;		/* no CR yet, or no LF yet */
	pi->pi_version = 1;
	return (int)(end + 2);
}

/* ---- v2 ---------------------------------------------------------------- */

/* CRC-32C (Castagnoli, reflected 0x82F63B78), bitwise: headers are small. */
static uint32_t
crc32c_byte(uint32_t crc, unsigned char b)
{
	int k;

	crc ^= b;
	for (k = 0; k < 8; k++)
		crc = (crc >> 1) ^ ((crc & 1) ? 0x82F63B78U : 0);
	return crc;
}

/*
 * Walk the TLVs in buf[off..total): each must fit, and together they must
 * fill the range exactly.  A CRC32C TLV (at most one, value 4 bytes, big
 * endian) must match the checksum of the whole header computed with its
 * value zeroed.  Returns 0 or -1.
 */
static int
v2_tlvs(const unsigned char *buf, size_t off, size_t total)
{
	size_t tlen, crc_off = 0, i;
	uint32_t crc, want;

	while (off < total) {
		if (total - off < 3)
			return -1;
		tlen = (size_t)buf[off + 1] << 8 | buf[off + 2];
		if (tlen > total - off - 3)
			return -1;
		if (buf[off] == V2_TLV_CRC32C) {
			if (tlen != 4 || crc_off != 0)
				return -1;
			crc_off = off + 3;
		}
		off += 3 + tlen;
	}
	if (crc_off == 0)
		return 0;
	want = (uint32_t)buf[crc_off] << 24 | (uint32_t)buf[crc_off + 1] << 16 |
	    (uint32_t)buf[crc_off + 2] << 8 | buf[crc_off + 3];
	crc = 0xFFFFFFFFU;
	for (i = 0; i < total; i++)
		crc = crc32c_byte(crc, i >= crc_off && i < crc_off + 4 ?
		    0 : buf[i]);
	return (crc ^ 0xFFFFFFFFU) == want ? 0 : -1;
}

/* Address block size for the address-family nibble of fam, -1 if none. */
static int
v2_addrlen(unsigned char fam)
{
	switch (fam >> 4) {
	case 0x0:
		return 0;		/* UNSPEC */
	case 0x1:
		return 12;		/* INET: 2 x 4 bytes, 2 ports */
	case 0x2:
		return 36;		/* INET6: 2 x 16 bytes, 2 ports */
	case 0x3:
		return 216;		/* UNIX: 2 x 108 bytes */
	default:
		return -1;
	}
}

static int
v2_parse(const unsigned char *buf, size_t len, struct proxy_info *pi)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	const unsigned char *a;
	size_t n, plen, total;
	int cmd, alen;

	n = len < sizeof(v2_sig) ? len : sizeof(v2_sig);
	if (memcmp(buf, v2_sig, n) != 0)
		return PROXY_INVALID;
	if (len < 13)
		return PROXY_NEED_MORE;
	if ((buf[12] & 0xF0) != 0x20)
		return PROXY_INVALID;
	cmd = buf[12] & 0x0F;
	if (cmd != V2_CMD_LOCAL && cmd != V2_CMD_PROXY)
		return PROXY_INVALID;
	if (len < 14)
		return PROXY_NEED_MORE;
	if (cmd == V2_CMD_PROXY && buf[13] != V2_FAM_UNSPEC &&
	    buf[13] != V2_FAM_TCP4 && buf[13] != V2_FAM_TCP6)
		return PROXY_INVALID;	/* UDP, UNIX, undefined */
	alen = v2_addrlen(buf[13]);
	if (len < V2_HDRLEN)
		return PROXY_NEED_MORE;
	plen = (size_t)buf[14] << 8 | buf[15];
	total = V2_HDRLEN + plen;
	if (total > PROXY_HDR_MAX)
		return PROXY_INVALID;
	if (cmd == V2_CMD_PROXY && plen < (size_t)alen)
		return PROXY_INVALID;
	if (len < total)
		return PROXY_NEED_MORE;

	if (alen >= 0 && plen >= (size_t)alen &&
	    v2_tlvs(buf, V2_HDRLEN + (size_t)alen, total) == -1)
		return PROXY_INVALID;

	pi->pi_version = 2;
	a = buf + V2_HDRLEN;
	if (cmd == V2_CMD_LOCAL || buf[13] == V2_FAM_UNSPEC) {
		pi->pi_local = 1;
	} else if (buf[13] == V2_FAM_TCP4) {
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		memcpy(&sin.sin_addr, a, 4);
		memcpy(&sin.sin_port, a + 8, 2);
		memcpy(&pi->pi_src, &sin, sizeof(sin));
		memcpy(&sin.sin_addr, a + 4, 4);
		memcpy(&sin.sin_port, a + 10, 2);
		memcpy(&pi->pi_dst, &sin, sizeof(sin));
	} else {
		memset(&sin6, 0, sizeof(sin6));
		sin6.sin6_family = AF_INET6;
		memcpy(&sin6.sin6_addr, a, 16);
		memcpy(&sin6.sin6_port, a + 32, 2);
		memcpy(&pi->pi_src, &sin6, sizeof(sin6));
		memcpy(&sin6.sin6_addr, a + 16, 16);
		memcpy(&sin6.sin6_port, a + 34, 2);
		memcpy(&pi->pi_dst, &sin6, sizeof(sin6));
	}
	return (int)total;
}

/* ---- public ------------------------------------------------------------ */

int
proxy_parse(const unsigned char *buf, size_t len, struct proxy_info *out)
{
	struct proxy_info pi;
	int r;

	if (len == 0)
		return PROXY_NEED_MORE;
	memset(&pi, 0, sizeof(pi));
	if (buf[0] == v1_sig[0])
		r = v1_parse(buf, len, &pi);
	else if (buf[0] == v2_sig[0])
		r = v2_parse(buf, len, &pi);
	else
		return PROXY_INVALID;
	if (r > 0 && out != NULL) {
		if (pi.pi_local) {
			memset(&pi.pi_src, 0, sizeof(pi.pi_src));
			memset(&pi.pi_dst, 0, sizeof(pi.pi_dst));
		}
		*out = pi;
	}
	return r;
}

static void
set_err(char *err, size_t errlen, const char *what, int errnum)
{
	if (err == NULL || errlen == 0)
		return;
	if (errnum != 0)
		snprintf(err, errlen, "%s: %s", what, strerror(errnum));
	else
		snprintf(err, errlen, "%s", what);
}

/*
 * Take n bytes that an earlier MSG_PEEK saw: they are queued, so recv
 * returns them without waiting.  Returns 0, 1 when the peer is gone, or
 * -1 with errno.
 */
static int
take(int fd, unsigned char *p, size_t n)
{
	ssize_t r;

	while (n > 0) {
		r = recv(fd, p, n, MSG_DONTWAIT);
		if (r == -1 && errno == EINTR)
			continue;
		if (r == -1)
			return -1;
		if (r == 0)
			return 1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

int
proxy_read(int fd, int timeout_ms, const sigset_t *sigmask,
    volatile sig_atomic_t *stop, struct proxy_info *out, int *timed_out,
    char *err, size_t errlen)
{
	unsigned char buf[PROXY_HDR_MAX];
	struct proxy_info pi;
	struct pollfd pfd;
	struct timespec ts, *tsp;
	long long deadline = 0, left;
	size_t have = 0;
	ssize_t n;
	int r;

	*timed_out = 0;
	if (timeout_ms >= 0)
		deadline = clock_ms() + timeout_ms;

	/*
	 * buf[0..have) holds header bytes already taken off the socket.
	 * Peek at what follows; if the parser needs more, every peeked byte
	 * is part of the header (a complete header would have been found in
	 * them), so take them too: otherwise ppoll() would report the same
	 * unread bytes again and again and we would spin until the timeout.
	 * Once the header is complete, take only its remaining bytes.
	 */
	for (;;) {
		if (stop != NULL && *stop) {
			set_err(err, errlen, "shutdown", 0);
			return -1;
		}
		n = recv(fd, buf + have, sizeof(buf) - have,
		    MSG_PEEK | MSG_DONTWAIT);
		if (n > 0) {
			r = proxy_parse(buf, have + (size_t)n, &pi);
			/* r <= have cannot happen: buf[0..have) was short. */
			if (r == PROXY_INVALID || (r > 0 && (size_t)r <= have)) {
				set_err(err, errlen, "invalid PROXY header", 0);
				return -1;
			}
			if (r > 0)
				n = r - (ssize_t)have;
			switch (take(fd, buf + have, (size_t)n)) {
			case 0:
				break;
			case 1:
				set_err(err, errlen, "connection closed", 0);
				return -1;
			default:
				set_err(err, errlen, "recv", errno);
				return -1;
			}
			have += (size_t)n;
			if (r > 0) {
				*out = pi;
				return 0;
			}
			/* PROXY_NEED_MORE: have < PROXY_HDR_MAX, see proxy.h */
			continue;
		}
		if (n == 0) {
			set_err(err, errlen, "connection closed", 0);
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			set_err(err, errlen, "recv", errno);
			return -1;
		}

		tsp = NULL;
		if (timeout_ms >= 0) {
			left = deadline - clock_ms();
			if (left <= 0) {
				*timed_out = 1;
				set_err(err, errlen, "timeout", 0);
				return -1;
			}
			ts.tv_sec = (time_t)(left / 1000);
			ts.tv_nsec = (long)(left % 1000) * 1000000;
			tsp = &ts;
		}
		pfd.fd = fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		/*
		 * Signals in sigmask are let in only here, so one that sets
		 * *stop before the wait is delivered when ppoll starts and
		 * makes it return EINTR instead of being lost.
		 */
		if (ppoll(&pfd, 1, tsp, sigmask) == -1 && errno != EINTR) {
			set_err(err, errlen, "ppoll", errno);
			return -1;
		}
		/* Readable, hang-up, error or timeout: the loop tells. */
	}
}

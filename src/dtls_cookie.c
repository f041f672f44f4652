/*
 * dtls_cookie.c - the stateless half of a DTLS handshake (RFC 6347,
 * 4.2.1), pure code: recognise an unfragmented ClientHello in one
 * datagram, make and check its cookie (a time stamp, then HMAC-SHA256
 * under a secret of the ring in tls.c over that stamp, the client's
 * address, port and random: valid for DTLS_COOKIE_LIFE_S), and
 * build the HelloVerifyRequest, never larger than the request.
 */
#include <string.h>
#include <arpa/inet.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "secho/addr.h"
#include "secho/dtls.h"

#define REC_HDR		13	/* type, version, epoch+seq, length */
#define HS_HDR		12	/* type, length, msg_seq, frag off, frag len */
#define CT_HANDSHAKE	22
#define HT_CLIENT_HELLO	1
#define HT_HVR		3

static unsigned
get16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static unsigned long
get24(const unsigned char *p)
{
	return (unsigned long)p[0] << 16 | (unsigned long)p[1] << 8 | p[2];
}

int
dtls_hello_parse(const void *buf, size_t len, struct dtls_hello *h)
{
	const unsigned char *p = buf, *b, *end;
	unsigned long mlen, off, flen;
	size_t rlen, n;

	if (len < REC_HDR + HS_HDR)
		return -1;
	/* Record: handshake, DTLS (major 0xfe), epoch 0. */
	if (p[0] != CT_HANDSHAKE || p[1] != 0xfe || p[3] != 0 || p[4] != 0)
		return -1;
	rlen = get16(p + 11);
	if (rlen < HS_HDR || rlen > len - REC_HDR)
		return -1;
	memcpy(h->dh_seq, p + 3, 8);
	/* Handshake: the whole ClientHello in this one fragment. */
	b = p + REC_HDR;
	mlen = get24(b + 1);
	off = get24(b + 6);
	flen = get24(b + 9);
	if (b[0] != HT_CLIENT_HELLO || get16(b + 4) > 2 || off != 0 ||
	    flen != mlen || flen != rlen - HS_HDR)
		return -1;
	b += HS_HDR;
	end = b + flen;
	/* client_version (DTLS), random, session_id, cookie */
	if (end - b < 2 + 32 + 1 || b[0] != 0xfe)
		return -1;
	h->dh_random = b + 2;
	b += 2 + 32;
	n = *b++;
	if (n > 32 || (size_t)(end - b) < n + 1)
		return -1;
	b += n;
	n = *b++;
	if ((size_t)(end - b) < n)
		return -1;
	h->dh_cookie = b;
	h->dh_cookie_len = n;
	b += n;
	/* cipher_suites: an even count of at least one */
	if (end - b < 2)
		return -1;
	n = get16(b);
	b += 2;
	if (n < 2 || n % 2 != 0 || (size_t)(end - b) < n + 1)
		return -1;
	b += n;
	/* compression_methods: at least one */
	n = *b++;
	if (n < 1 || (size_t)(end - b) < n)
		return -1;
	return 0;
}

/* The HMAC after the time stamp, truncated to the rest of the cookie. */
static int
cookie_mac(const unsigned char secret[DTLS_SECRET_LEN],
    const struct sockaddr *peer, const unsigned char random[32],
    const unsigned char stamp[4], unsigned char out[DTLS_COOKIE_LEN - 4])
{
	static const char tag[] = "secho dtls cookie 2";
	unsigned char msg[sizeof(tag) + 4 + 16 + 2 + 32];
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int outlen = 0;
	uint16_t port;

	if (peer->sa_family == AF_INET)
		port = ((const struct sockaddr_in *)peer)->sin_port;
	else
		port = ((const struct sockaddr_in6 *)peer)->sin6_port;
	memcpy(msg, tag, sizeof(tag));
	memcpy(msg + sizeof(tag), stamp, 4);
	addr_host_key(peer, msg + sizeof(tag) + 4);
	memcpy(msg + sizeof(tag) + 20, &port, 2);
	memcpy(msg + sizeof(tag) + 22, random, 32);
	if (HMAC(EVP_sha256(), secret, DTLS_SECRET_LEN, msg, sizeof(msg), mac,
	    &outlen) == NULL || outlen < DTLS_COOKIE_LEN - 4)
		return -1;
	memcpy(out, mac, DTLS_COOKIE_LEN - 4);
	return 0;
}

int
dtls_cookie_make(const unsigned char secret[DTLS_SECRET_LEN],
    const struct sockaddr *peer, const unsigned char random[32],
    uint32_t now_s, unsigned char out[DTLS_COOKIE_LEN])
{
	out[0] = (unsigned char)(now_s >> 24);
	out[1] = (unsigned char)(now_s >> 16);
	out[2] = (unsigned char)(now_s >> 8);
	out[3] = (unsigned char)now_s;
	return cookie_mac(secret, peer, random, out, out + 4);
}

int
dtls_cookie_check(const unsigned char *const *secrets, size_t n,
    const struct sockaddr *peer, const unsigned char random[32],
    const unsigned char *cookie, size_t len, uint32_t now_s)
{
	unsigned char want[DTLS_COOKIE_LEN - 4];
	uint32_t made;
	size_t i;

	if (len != DTLS_COOKIE_LEN)
		return 0;
	made = (uint32_t)cookie[0] << 24 | (uint32_t)cookie[1] << 16 |
	    (uint32_t)cookie[2] << 8 | cookie[3];
	/* Made by us, not in the future, not too old (unsigned: both). */
	if (now_s - made > DTLS_COOKIE_LIFE_S)
		return 0;
	for (i = 0; i < n; i++) {
		if (secrets[i] == NULL ||
		    cookie_mac(secrets[i], peer, random, cookie, want) == -1)
			continue;
		if (CRYPTO_memcmp(want, cookie + 4, sizeof(want)) == 0)
			return 1;
	}
	return 0;
}

size_t
dtls_hvr_build(const struct dtls_hello *h,
    const unsigned char cookie[DTLS_COOKIE_LEN], unsigned char *out,
    size_t cap)
{
	unsigned char *p = out;
	size_t body = 3 + DTLS_COOKIE_LEN;

	if (cap < DTLS_HVR_LEN)
		return 0;
	/*
	 * Record: DTLS 1.0 in the header of a HelloVerifyRequest (RFC 6347
	 * 4.2.1; some clients ignore anything else), the sequence number of
	 * the ClientHello, as OpenSSL's DTLSv1_listen() does.
	 */
	*p++ = CT_HANDSHAKE;
	*p++ = 0xfe;
	*p++ = 0xff;
	memcpy(p, h->dh_seq, 8);
	p += 8;
	*p++ = (unsigned char)((HS_HDR + body) >> 8);
	*p++ = (unsigned char)(HS_HDR + body);
	/* Handshake header: message_seq 0, one fragment. */
	*p++ = HT_HVR;
	*p++ = 0;
	*p++ = 0;
	*p++ = (unsigned char)body;
	*p++ = 0;
	*p++ = 0;
	memset(p, 0, 3);
	p += 3;
	*p++ = 0;
	*p++ = 0;
	*p++ = (unsigned char)body;
	/* server_version, cookie */
	*p++ = 0xfe;
	*p++ = 0xff;
	*p++ = DTLS_COOKIE_LEN;
	memcpy(p, cookie, DTLS_COOKIE_LEN);
	p += DTLS_COOKIE_LEN;
	return (size_t)(p - out);
}

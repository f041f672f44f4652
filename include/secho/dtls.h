/*
 * dtls.h - DTLS echo (issue 14): the stateless cookie exchange of the
 * secho-dtls engine (dtls_cookie.c: pure code), the engine's front that
 * owns the dtls listener sockets (dtls_front.c), and an association's
 * life in its own process (dtls_echo.c).  doc/DESIGN.md, "DTLS".
 */
#ifndef SECHO_DTLS_H
#define SECHO_DTLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "secho/conn.h"

/*
 * The cookie: when it was made (4 bytes, seconds of CLOCK_MONOTONIC),
 * then HMAC-SHA256 truncated to 28 bytes; the secrets it is made under.
 * A cookie is valid for DTLS_COOKIE_LIFE_S: a cookie captured on the
 * path cannot be replayed for long to make secho answer somebody else.
 */
#define DTLS_COOKIE_LEN		32
#define DTLS_SECRET_LEN		32
#define DTLS_COOKIE_LIFE_S	60
/* A HelloVerifyRequest: record and handshake headers, version, cookie. */
#define DTLS_HVR_LEN		(13 + 12 + 3 + DTLS_COOKIE_LEN)
/* The largest ClientHello the engine keeps while the master decides. */
#define DTLS_HELLO_MAX		4096
/* Path MTU of an association (IP and UDP headers included). */
#define DTLS_LINK_MTU		1200

/* The parts of a datagram holding one unfragmented DTLS ClientHello. */
struct dtls_hello {
	unsigned char		 dh_seq[8];	/* record epoch + sequence */
	const unsigned char	*dh_random;	/* 32 bytes */
	const unsigned char	*dh_cookie;	/* may be empty */
	size_t			 dh_cookie_len;
};

/*
 * Is buf (len bytes, one datagram) a DTLS ClientHello we can answer
 * statelessly: one handshake record of epoch 0 holding the whole
 * message, its fields within their lengths (up to the compression
 * methods)?  0 with *h set, or -1.
 */
int	dtls_hello_parse(const void *buf, size_t len, struct dtls_hello *h);

/*
 * The cookie of a client at now_s: the stamp now_s, then HMAC-SHA256
 * under secret of the stamp, its address and port (IPv4-mapped IPv6 as
 * IPv4) and its ClientHello's random.  0, or -1 (the library failed).
 */
int	dtls_cookie_make(const unsigned char secret[DTLS_SECRET_LEN],
	    const struct sockaddr *peer, const unsigned char random[32],
	    uint32_t now_s, unsigned char out[DTLS_COOKIE_LEN]);

/*
 * Is cookie (len bytes) the cookie of peer and random under one of the
 * n secrets (current first, then the previous one), made at most
 * DTLS_COOKIE_LIFE_S before now_s?  1 or 0.
 */
int	dtls_cookie_check(const unsigned char *const *secrets, size_t n,
	    const struct sockaddr *peer, const unsigned char random[32],
	    const unsigned char *cookie, size_t len, uint32_t now_s);

/*
 * The HelloVerifyRequest answering h with cookie, into out (cap bytes):
 * its length (DTLS_HVR_LEN), or 0 when it does not fit.
 */
size_t	dtls_hvr_build(const struct dtls_hello *h,
	    const unsigned char cookie[DTLS_COOKIE_LEN], unsigned char *out,
	    size_t cap);

/* ---- the engine's front (dtls_front.c) ---- */

/* MSG_ADMIT's payload (engine -> master): may this peer be served? */
struct dtls_admit {
	uint64_t		 da_token;	/* the engine's, for the answer */
	uint32_t		 da_listener;	/* index in the listener set */
	uint32_t		 da_pad;
	struct sockaddr_storage	 da_peer;
};

struct dtls_front;
struct engine;

/* One listener socket the front owns. */
struct dtls_listen {
	int			 dl_fd;
	unsigned		 dl_index;	/* in the master's listener set */
	struct sockaddr_storage	 dl_addr;
};

/*
 * A front over n listener sockets (moved below ENGINE_FD_BASE),
 * answering at most rate datagrams a second per source host (0: no
 * limit).  NULL with errno.
 */
struct dtls_front *dtls_front_new(const struct dtls_listen *l, size_t n,
	    unsigned rate);

/* struct engine_front's functions for it (engine.h). */
extern const struct engine_front dtls_front_ops;

/* ---- an association (dtls_echo.c) ---- */

/*
 * The verified ClientHello an association's process starts from, and
 * its local address: set by the front just before the fork.
 */
struct dtls_first {
	unsigned char		 df_hello[DTLS_HELLO_MAX];
	size_t			 df_len;
	unsigned char		 df_cookie[DTLS_COOKIE_LEN];
};
extern struct dtls_first dtls_first;

/* struct conn_proto's cp_serve for DTLS; arg is a struct tls_echo_set. */
const char *dtls_echo_serve(void *arg, const struct conn_req *r,
	    struct conn *c, long long hs_deadline, const char *peername,
	    struct conn_tls_info *ti);

/* The cookie callbacks of a DTLS context (tls.c). */
void	dtls_ctx_setup(void *ssl_ctx);

#endif

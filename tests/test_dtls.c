/*
 * test_dtls.c - DTLS (issue 14) without a daemon: the stateless cookie
 * (a wrong address or port, another ClientHello, an expired secret, one
 * rotation back), what counts as a ClientHello, the HelloVerifyRequest
 * never larger than the request; and the record-size limits of an
 * association's echo, through a real handshake over a socketpair with
 * dtls_echo_serve() in a child (records of 1 byte to 2^14 bytes come
 * back whole, one record for one; close_notify is answered).
 * Certificates from sh certs/gen.sh (SECHO_CERTS, default "certs").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "secho/clock.h"
#include "secho/config.h"
#include "secho/conn.h"
#include "secho/dtls.h"
#include "secho/tls.h"
#include "secho/tls_echo.h"

static char certdir[512];

static struct sockaddr_storage
v4(const char *ip, int port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	s->sin_family = AF_INET;
	s->sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, ip, &s->sin_addr);
	return ss;
}

static struct sockaddr_storage
v6(const char *ip, int port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	s->sin6_family = AF_INET6;
	s->sin6_port = htons((uint16_t)port);
	inet_pton(AF_INET6, ip, &s->sin6_addr);
	return ss;
}

#define SA(x)	((struct sockaddr *)&(x))

/* A time stamp (seconds) to make cookies at. */
#define T0	1000000u

static void
test_cookie(void **state)
{
	unsigned char s1[DTLS_SECRET_LEN], s2[DTLS_SECRET_LEN],
	    s3[DTLS_SECRET_LEN], rnd[32], rnd2[32], c[DTLS_COOKIE_LEN];
	const unsigned char *cur[2], *later[2];
	struct sockaddr_storage a = v4("192.0.2.1", 5555);
	struct sockaddr_storage b = v4("192.0.2.2", 5555);
	struct sockaddr_storage p = v4("192.0.2.1", 5556);
	struct sockaddr_storage m = v6("::ffff:192.0.2.1", 5555);
	struct sockaddr_storage six = v6("2001:db8::1", 5555);

	(void)state;
	RAND_bytes(s1, sizeof(s1));
	RAND_bytes(s2, sizeof(s2));
	RAND_bytes(s3, sizeof(s3));
	RAND_bytes(rnd, sizeof(rnd));
	memcpy(rnd2, rnd, sizeof(rnd));
	rnd2[31] ^= 1;
	cur[0] = s1;
	cur[1] = NULL;
	assert_int_equal(dtls_cookie_make(s1, SA(a), rnd, T0, c), 0);
	assert_true(dtls_cookie_check(cur, 1, SA(a), rnd, c, sizeof(c), T0));
	/* the same client as IPv4-mapped IPv6 (a dual-stack listener) */
	assert_true(dtls_cookie_check(cur, 1, SA(m), rnd, c, sizeof(c), T0));
	/* a wrong address, a wrong port, another family, another hello */
	assert_false(dtls_cookie_check(cur, 1, SA(b), rnd, c, sizeof(c), T0));
	assert_false(dtls_cookie_check(cur, 1, SA(p), rnd, c, sizeof(c), T0));
	assert_false(dtls_cookie_check(cur, 1, SA(six), rnd, c, sizeof(c), T0));
	assert_false(dtls_cookie_check(cur, 1, SA(a), rnd2, c, sizeof(c), T0));
	/* cut or altered */
	assert_false(dtls_cookie_check(cur, 1, SA(a), rnd, c, sizeof(c) - 1, T0));
	c[5] ^= 0x40;
	assert_false(dtls_cookie_check(cur, 1, SA(a), rnd, c, sizeof(c), T0));
	c[5] ^= 0x40;
	/* one rotation back: still valid (previous secret) */
	later[0] = s2;
	later[1] = s1;
	assert_true(dtls_cookie_check(later, 2, SA(a), rnd, c, sizeof(c), T0));
	/* two rotations back: the secret has expired */
	later[0] = s3;
	later[1] = s2;
	assert_false(dtls_cookie_check(later, 2, SA(a), rnd, c, sizeof(c), T0));
	/* no secret yet */
	assert_false(dtls_cookie_check(later, 0, SA(a), rnd, c, sizeof(c), T0));
	/* its age: valid for DTLS_COOKIE_LIFE_S, not before it was made */
	assert_true(dtls_cookie_check(cur, 1, SA(a), rnd, c, sizeof(c),
	    T0 + DTLS_COOKIE_LIFE_S));
	assert_false(dtls_cookie_check(cur, 1, SA(a), rnd, c, sizeof(c),
	    T0 + DTLS_COOKIE_LIFE_S + 1));
	assert_false(dtls_cookie_check(cur, 1, SA(a), rnd, c, sizeof(c),
	    T0 - 1));
	/* a stamp moved forward is not the stamp the MAC covers */
	c[3] += 30;
	assert_false(dtls_cookie_check(cur, 1, SA(a), rnd, c, sizeof(c),
	    T0 + 30));
	c[3] -= 30;
	/* the clock wrapping round 2^32 s: still one age */
	assert_int_equal(dtls_cookie_make(s1, SA(a), rnd, 0xfffffff0u, c), 0);
	assert_true(dtls_cookie_check(cur, 1, SA(a), rnd, c, sizeof(c), 5));
}

/* A ClientHello: 1 cipher suite, 1 compression method, no extension. */
static size_t
hello(unsigned char *b, const unsigned char *cookie, size_t clen)
{
	size_t body = 2 + 32 + 1 + 1 + clen + 2 + 2 + 1 + 1, n = 0, i;

	b[n++] = 22;			/* handshake */
	b[n++] = 0xfe;
	b[n++] = 0xff;
	for (i = 0; i < 8; i++)		/* epoch 0, sequence 5 */
		b[n++] = i == 7 ? 5 : 0;
	b[n++] = (unsigned char)((12 + body) >> 8);
	b[n++] = (unsigned char)(12 + body);
	b[n++] = 1;			/* client_hello */
	b[n++] = 0;
	b[n++] = (unsigned char)(body >> 8);
	b[n++] = (unsigned char)body;
	b[n++] = 0;			/* message_seq */
	b[n++] = clen ? 1 : 0;
	b[n++] = 0;			/* fragment offset */
	b[n++] = 0;
	b[n++] = 0;
	b[n++] = 0;			/* fragment length */
	b[n++] = (unsigned char)(body >> 8);
	b[n++] = (unsigned char)body;
	b[n++] = 0xfe;			/* DTLS 1.2 */
	b[n++] = 0xfd;
	for (i = 0; i < 32; i++)
		b[n++] = (unsigned char)i;
	b[n++] = 0;			/* session id */
	b[n++] = (unsigned char)clen;
	if (clen > 0)
		memcpy(b + n, cookie, clen);
	n += clen;
	b[n++] = 0;
	b[n++] = 2;
	b[n++] = 0xc0;
	b[n++] = 0x2b;
	b[n++] = 1;
	b[n++] = 0;
	return n;
}

static void
test_hello_and_hvr(void **state)
{
	unsigned char b[512], hvr[DTLS_HVR_LEN + 8], c[DTLS_COOKIE_LEN];
	struct dtls_hello h;
	size_t n, k;

	(void)state;
	memset(c, 0xab, sizeof(c));
	n = hello(b, NULL, 0);
	assert_int_equal(dtls_hello_parse(b, n, &h), 0);
	assert_int_equal(h.dh_cookie_len, 0);
	assert_int_equal(h.dh_random[31], 31);
	/* The smallest ClientHello is larger than our answer. */
	assert_true(n >= DTLS_HVR_LEN);
	assert_int_equal(dtls_hvr_build(&h, c, hvr, sizeof(hvr)),
	    DTLS_HVR_LEN);
	assert_int_equal(hvr[0], 22);		/* handshake record */
	assert_int_equal(hvr[10], 5);		/* the hello's sequence */
	assert_int_equal(hvr[13], 3);		/* hello_verify_request */
	assert_int_equal(hvr[13 + 12 + 2], DTLS_COOKIE_LEN);
	assert_memory_equal(hvr + DTLS_HVR_LEN - DTLS_COOKIE_LEN, c,
	    DTLS_COOKIE_LEN);
	assert_int_equal(dtls_hvr_build(&h, c, hvr, DTLS_HVR_LEN - 1), 0);
	/* Every cut of it is not a ClientHello. */
	for (k = 0; k < n; k++)
		assert_int_equal(dtls_hello_parse(b, k, &h), -1);
	/* With a cookie. */
	n = hello(b, c, sizeof(c));
	assert_int_equal(dtls_hello_parse(b, n, &h), 0);
	assert_int_equal(h.dh_cookie_len, DTLS_COOKIE_LEN);
	assert_memory_equal(h.dh_cookie, c, DTLS_COOKIE_LEN);
	/* Not a handshake, TLS not DTLS, epoch 1, fragmented, not a hello. */
	b[0] = 23;
	assert_int_equal(dtls_hello_parse(b, n, &h), -1);
	b[0] = 22;
	b[1] = 0x03;
	assert_int_equal(dtls_hello_parse(b, n, &h), -1);
	b[1] = 0xfe;
	b[4] = 1;
	assert_int_equal(dtls_hello_parse(b, n, &h), -1);
	b[4] = 0;
	b[13 + 11] -= 1;			/* fragment shorter than message */
	assert_int_equal(dtls_hello_parse(b, n, &h), -1);
	b[13 + 11] += 1;
	b[13] = 2;				/* server_hello */
	assert_int_equal(dtls_hello_parse(b, n, &h), -1);
	b[13] = 1;
	assert_int_equal(dtls_hello_parse(b, n, &h), 0);
}

/* ---- the echo of an association ---- */

static SSL_CTX *
client_ctx(void)
{
	SSL_CTX *c = SSL_CTX_new(DTLS_client_method());

	assert_non_null(c);
	SSL_CTX_set_verify(c, SSL_VERIFY_NONE, NULL);
	return c;
}

/* Drive the client until it wants to read; the datagram it sent. */
static size_t
client_flight(SSL *cl, int fd, unsigned char *buf, size_t cap)
{
	ssize_t n;
	int r = SSL_connect(cl);

	assert_int_equal(r, -1);
	assert_int_equal(SSL_get_error(cl, r), SSL_ERROR_WANT_READ);
	n = recv(fd, buf, cap, 0);
	assert_true(n > 0);
	return (size_t)n;
}

/* SSL_read_ex on the non-blocking client, waiting up to 5 s. */
static int
client_read(SSL *cl, int fd, void *buf, size_t cap, size_t *got)
{
	int i, r;

	for (i = 0; i < 50; i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };

		if ((r = SSL_read_ex(cl, buf, cap, got)) == 1)
			return 1;
		if (SSL_get_error(cl, r) != SSL_ERROR_WANT_READ)
			return SSL_get_error(cl, r) == SSL_ERROR_ZERO_RETURN ?
			    0 : -1;
		(void)poll(&p, 1, 100);
	}
	return -1;
}

static void
test_echo_records(void **state)
{
	static const size_t sizes[] = { 1, 100, 1000, 1200, 4000, 16384 };
	unsigned char buf[17000], back[17000], cookie[DTLS_COOKIE_LEN];
	const unsigned char *secrets[2];
	struct tls_config tc;
	struct tls_server *ts;
	struct tls_echo_set set;
	struct conn_req r;
	struct conn_tls_info ti;
	struct sockaddr_storage peer = v4("127.0.0.1", 40000);
	struct dtls_hello h;
	struct conn c;
	char err[512], cert[600], key[600];
	char *cp = cert, *kp = key;
	int sv[2], st;
	size_t n, i, got;
	pid_t pid;
	SSL_CTX *cctx;
	SSL *cl;
	BIO *b;
	BIO_ADDR *ba;

	(void)state;
	snprintf(cert, sizeof(cert), "%s/server.pem", certdir);
	snprintf(key, sizeof(key), "%s/server.key", certdir);
	memset(&tc, 0, sizeof(tc));
	tc.tc_certificate.tf_path = &cp;
	tc.tc_certificate.tf_count = 1;
	tc.tc_private_key.tf_path = &kp;
	tc.tc_private_key.tf_count = 1;
	tc.tc_session_tickets = 1;
	ts = tls_server_new_proto(&tc, SECHO_PROTO_DTLS, "t.cfg", err,
	    sizeof(err));
	if (ts == NULL)
		fail_msg("%s", err);
	assert_int_equal(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv), 0);

	cctx = client_ctx();
	cl = SSL_new(cctx);
	b = BIO_new_dgram(sv[0], BIO_NOCLOSE);
	BIO_socket_nbio(sv[0], 1);
	/* Connected: written with send(), no address needed. */
	ba = BIO_ADDR_new();
	assert_int_equal(BIO_ADDR_rawmake(ba, AF_UNIX, "x", 1, 0), 1);
	(void)BIO_ctrl(b, BIO_CTRL_DGRAM_SET_CONNECTED, 0, ba);
	BIO_ADDR_free(ba);
	SSL_set_bio(cl, b, b);
	/* An AF_UNIX socket has no MTU to ask for: that of a path. */
	SSL_set_options(cl, SSL_OP_NO_QUERY_MTU);
	SSL_set_mtu(cl, 1400);
	/* The cookie exchange, as the engine's front does it. */
	n = client_flight(cl, sv[1], buf, sizeof(buf));
	assert_int_equal(dtls_hello_parse(buf, n, &h), 0);
	assert_int_equal(h.dh_cookie_len, 0);
	assert_int_equal(tls_cookie_secrets(secrets) > 0, 1);
	assert_int_equal(dtls_cookie_make(secrets[0], SA(peer), h.dh_random,
	    (uint32_t)(clock_ms() / 1000), cookie), 0);
	assert_int_equal(dtls_hvr_build(&h, cookie, back, sizeof(back)),
	    DTLS_HVR_LEN);
	assert_true(DTLS_HVR_LEN <= n);
	assert_int_equal(send(sv[1], back, DTLS_HVR_LEN, 0), DTLS_HVR_LEN);
	n = client_flight(cl, sv[1], buf, sizeof(buf));
	for (i = 0; getenv("DTLS_DEBUG") && i < n; i++)
		fprintf(stderr, "%02x%s", buf[i], i % 16 == 15 ? "\n" : " ");
	assert_int_equal(dtls_hello_parse(buf, n, &h), 0);
	assert_true(dtls_cookie_check(secrets, 1, SA(peer), h.dh_random,
	    h.dh_cookie, h.dh_cookie_len, (uint32_t)(clock_ms() / 1000)));
	memcpy(dtls_first.df_hello, buf, n);
	dtls_first.df_len = n;
	memcpy(dtls_first.df_cookie, h.dh_cookie, DTLS_COOKIE_LEN);

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		const char *reason;

		close(sv[0]);
		sigemptyset(&conn_waitmask);
		set.tes_servers = &ts;
		set.tes_count = 1;
		memset(&r, 0, sizeof(r));
		r.cr_proto = SECHO_PROTO_DTLS;
		r.cr_peer = peer;
		r.cr_idle_ms = 10000;
		r.cr_name = "test";
		memset(&c, 0, sizeof(c));
		memset(&ti, 0, sizeof(ti));
		c.c_fd = sv[1];
		reason = dtls_echo_serve(&set, &r, &c, clock_ms() + 10000,
		    "peer", &ti);
		_exit(strcmp(reason, "eof") == 0 && ti.ti_ok &&
		    strcmp(ti.ti_version, "DTLSv1.2") == 0 &&
		    c.c_bytes_in == c.c_bytes_out ? 0 : 1);
	}
	close(sv[1]);
	/* The rest of the handshake, blocking. */
	for (i = 0; SSL_connect(cl) != 1; i++) {
		struct pollfd p = { .fd = sv[0], .events = POLLIN };

		assert_true(i < 50);
		(void)poll(&p, 1, 200);
	}
	assert_string_equal(SSL_get_version(cl), "DTLSv1.2");
	/* Each record comes back whole, as one record. */
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		RAND_bytes(buf, (int)sizes[i]);
		assert_int_equal(SSL_write_ex(cl, buf, sizes[i], &n), 1);
		assert_int_equal(n, sizes[i]);
		got = 0;
		assert_int_equal(client_read(cl, sv[0], back, sizeof(back),
		    &got), 1);
		assert_int_equal(got, sizes[i]);
		assert_memory_equal(back, buf, sizes[i]);
	}
	/* Larger than a record: the client cannot even send it. */
	ERR_clear_error();
	assert_int_not_equal(SSL_write_ex(cl, buf, 16385, &n), 1);
	ERR_clear_error();
	/* close_notify, answered. */
	assert_true(SSL_shutdown(cl) >= 0);
	assert_int_equal(client_read(cl, sv[0], back, sizeof(back), &got), 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	SSL_free(cl);
	SSL_CTX_free(cctx);
	close(sv[0]);
	tls_server_free(ts);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cookie),
		cmocka_unit_test(test_hello_and_hvr),
		cmocka_unit_test(test_echo_records),
	};
	const char *d = getenv("SECHO_CERTS");

	snprintf(certdir, sizeof(certdir), "%s", d ? d : "certs");
	tls_global_init();
	return cmocka_run_group_tests(tests, NULL, NULL);
}

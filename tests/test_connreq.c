/*
 * test_connreq.c - the request the master sends an engine with each
 * connection: encode and decode, and the decoder's refusal of everything
 * malformed (cmocka).
 * Run under ASan (make check SANITIZE=1), every decode reads an
 * exact-size copy, so a read past the message is caught.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "secho/connreq.h"
#include "secho/msg.h"

static struct cidr allow[2], deny[1];

static void
sample(struct conn_req *r)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&r->cr_peer;

	memset(r, 0, sizeof(*r));
	r->cr_proto = SECHO_PROTO_TLS;
	r->cr_listener = 3;
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(40000);
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::7", &sin6->sin6_addr), 1);
	r->cr_idle_ms = 300000;
	r->cr_handshake_ms = 10000;
	r->cr_proxy = 1;
	r->cr_log_facility = 19 << 3;	/* local3 */
	r->cr_log_level = 6;
	r->cr_log_stderr = 1;
	r->cr_drop = 1;
	r->cr_uid = 65534;
	r->cr_gid = 65533;
	r->cr_name = "[::]:7";
	r->cr_ident = "secho-test";
	r->cr_chroot = "/var/empty";
	memset(allow, 0, sizeof(allow));
	memset(deny, 0, sizeof(deny));
	allow[0].family = AF_INET;
	allow[0].prefix = 8;
	allow[0].addr[0] = 10;
	allow[1].family = AF_INET6;
	allow[1].prefix = 32;
	allow[1].addr[0] = 0x20;
	allow[1].addr[1] = 0x01;
	deny[0].family = AF_INET;
	deny[0].prefix = 32;
	deny[0].addr[0] = 10;
	deny[0].addr[3] = 66;
	r->cr_allow.items = allow;
	r->cr_allow.count = 2;
	r->cr_allow.set = 1;
	r->cr_deny.items = deny;
	r->cr_deny.count = 1;
	r->cr_deny.set = 1;
}

/* Decode an exact-size, malloc-aligned copy of len bytes of msg. */
static int
decode_copy(const void *msg, size_t len, struct conn_req *out, void **keep)
{
	void *p = malloc(len ? len : 1);
	int rc;

	assert_non_null(p);
	memcpy(p, msg, len);
	rc = connreq_decode(p, len, out);
	*keep = p;
	return rc;
}

static void
test_round_trip(void **state)
{
	static char buf[MSG_MAX];
	struct conn_req r, d;
	size_t len;
	void *keep;

	(void)state;
	sample(&r);
	len = connreq_encode(&r, buf, sizeof(buf));
	assert_true(len > 0);
	assert_int_equal(decode_copy(buf, len, &d, &keep), 0);
	assert_int_equal(d.cr_proto, SECHO_PROTO_TLS);
	assert_int_equal(d.cr_listener, 3);
	assert_memory_equal(&d.cr_peer, &r.cr_peer, sizeof(struct sockaddr_in6));
	assert_int_equal(d.cr_idle_ms, 300000);
	assert_int_equal(d.cr_handshake_ms, 10000);
	assert_int_equal(d.cr_proxy, 1);
	assert_int_equal(d.cr_log_facility, 19 << 3);
	assert_int_equal(d.cr_log_level, 6);
	assert_int_equal(d.cr_log_stderr, 1);
	assert_int_equal(d.cr_drop, 1);
	assert_int_equal(d.cr_uid, 65534);
	assert_int_equal(d.cr_gid, 65533);
	assert_string_equal(d.cr_name, "[::]:7");
	assert_string_equal(d.cr_ident, "secho-test");
	assert_string_equal(d.cr_chroot, "/var/empty");
	assert_int_equal(d.cr_allow.count, 2);
	assert_int_equal(d.cr_deny.count, 1);
	assert_memory_equal(d.cr_allow.items, allow, sizeof(allow));
	assert_memory_equal(d.cr_deny.items, deny, sizeof(deny));
	assert_true(d.cr_allow.set && d.cr_deny.set);
	free(keep);

	/* No chroot, no lists, IPv4 peer. */
	{
		struct sockaddr_in *sin = (struct sockaddr_in *)&r.cr_peer;
		memset(&r.cr_peer, 0, sizeof(r.cr_peer));
		sin->sin_family = AF_INET;
		sin->sin_port = htons(7);
		sin->sin_addr.s_addr = htonl(0x7f000001);
	}
	r.cr_chroot = NULL;
	r.cr_allow.count = r.cr_deny.count = 0;
	r.cr_drop = 0;
	len = connreq_encode(&r, buf, sizeof(buf));
	assert_true(len > 0);
	assert_int_equal(decode_copy(buf, len, &d, &keep), 0);
	assert_null(d.cr_chroot);
	assert_int_equal(d.cr_allow.count, 0);
	assert_false(d.cr_allow.set);
	assert_int_equal(d.cr_deny.count, 0);
	assert_int_equal(d.cr_drop, 0);
	assert_int_equal(((struct sockaddr_in *)&d.cr_peer)->sin_port, htons(7));
	free(keep);
}

/* Every prefix and one byte more: refused (SEQPACKET keeps boundaries). */
static void
test_truncated_and_trailing(void **state)
{
	static char buf[MSG_MAX];
	struct conn_req r, d;
	size_t len, i;
	void *keep;

	(void)state;
	sample(&r);
	len = connreq_encode(&r, buf, sizeof(buf));
	assert_true(len > 0 && len + 1 < sizeof(buf));
	for (i = 0; i < len; i++) {
		assert_int_equal(decode_copy(buf, i, &d, &keep), -1);
		free(keep);
	}
	assert_int_equal(decode_copy(buf, len + 1, &d, &keep), -1);
	free(keep);
}

/* Values the encoder copies blindly are refused by the decoder. */
static void
test_bad_values(void **state)
{
	static char buf[MSG_MAX];
	struct conn_req r, d;
	size_t len;
	void *keep;
	int i;

	(void)state;
	for (i = 0; i < 8; i++) {
		sample(&r);
		switch (i) {
		case 0: r.cr_peer.ss_family = AF_UNIX; break;
		case 1: allow[0].family = AF_UNIX; break;
		case 2: allow[0].prefix = 33; break;
		case 3: allow[1].prefix = 129; break;
		case 4: deny[0].prefix = -1; break;
		case 5: r.cr_log_level = 8; break;
		case 6: r.cr_idle_ms = -1; break;
		case 7: r.cr_handshake_ms = -5; break;
		}
		len = connreq_encode(&r, buf, sizeof(buf));
		assert_true(len > 0);
		if (decode_copy(buf, len, &d, &keep) != -1)
			fail_msg("case %d was accepted", i);
		free(keep);
	}
}

static void
test_bad_framing(void **state)
{
	static char buf[MSG_MAX];
	struct conn_req r, d;
	size_t len;
	char *name;
	void *keep;

	(void)state;
	sample(&r);
	len = connreq_encode(&r, buf, sizeof(buf));

	buf[4] ^= 5;				/* proto: tls -> 7 */
	assert_int_equal(decode_copy(buf, len, &d, &keep), -1);
	free(keep);
	buf[4] ^= 6;				/* proto: 7 -> udp */
	assert_int_equal(decode_copy(buf, len, &d, &keep), -1);
	free(keep);
	buf[4] ^= 3;				/* back to tls */
	assert_int_equal(decode_copy(buf, len, &d, &keep), 0);
	free(keep);

	name = memmem(buf, len, "[::]:7", 7);	/* the name with its NUL */
	assert_non_null(name);
	name[6] = 'x';				/* no NUL at its end */
	assert_int_equal(decode_copy(buf, len, &d, &keep), -1);
	free(keep);
	name[6] = '\0';
	name[2] = '\0';				/* a NUL inside */
	assert_int_equal(decode_copy(buf, len, &d, &keep), -1);
	free(keep);
	name[2] = ':';

	/* The length field must be the message's length. */
	buf[0] ^= 8;
	assert_int_equal(decode_copy(buf, len, &d, &keep), -1);
	free(keep);
	buf[0] ^= 8;
	assert_int_equal(decode_copy(buf, len, &d, &keep), 0);
	free(keep);
}

static void
test_too_big(void **state)
{
	static char buf[MSG_MAX];
	struct conn_req r;
	char *big;
	size_t len;

	(void)state;
	sample(&r);
	len = connreq_encode(&r, buf, sizeof(buf));
	assert_int_equal(connreq_encode(&r, buf, len - 1), 0);
	assert_int_equal(connreq_encode(&r, buf, len), len);
	big = malloc(MSG_MAX);
	assert_non_null(big);
	memset(big, 'a', MSG_MAX - 1);
	big[MSG_MAX - 1] = '\0';
	r.cr_chroot = big;
	assert_int_equal(connreq_encode(&r, buf, sizeof(buf)), 0);
	free(big);
}

/*
 * Random corruption of a valid message (fixed seed): a decode either
 * fails or yields strings that end inside the message and valid lists.
 */
static void
test_random_corruption(void **state)
{
	static char buf[MSG_MAX], msg[MSG_MAX];
	struct conn_req r, d;
	uint32_t x = 12345;
	size_t len, i, k;
	void *keep;
	int ok = 0;

	(void)state;
	sample(&r);
	len = connreq_encode(&r, buf, sizeof(buf));
	for (i = 0; i < 20000; i++) {
		memcpy(msg, buf, len);
		for (k = 0; k < 1 + i % 3; k++) {
			x = x * 1103515245u + 12345u;
			msg[(x >> 8) % len] ^= (char)(1u << ((x >> 4) & 7));
		}
		if (decode_copy(msg, len, &d, &keep) == 0) {
			const char *lo = keep, *hi = lo + len;
			ok++;
			assert_true(d.cr_name >= lo && d.cr_name + strlen(d.cr_name) < hi);
			assert_true(d.cr_ident >= lo && d.cr_ident + strlen(d.cr_ident) < hi);
			for (k = 0; k < d.cr_allow.count; k++)
				assert_true(d.cr_allow.items[k].family == AF_INET ||
				    d.cr_allow.items[k].family == AF_INET6);
		}
		free(keep);
	}
	/* Flips in the addresses, ids and strings' letters stay valid. */
	assert_true(ok > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_truncated_and_trailing),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_bad_framing),
		cmocka_unit_test(test_too_big),
		cmocka_unit_test(test_random_corruption),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

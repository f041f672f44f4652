/*
 * test_spawn.c - the request the master sends secho-spawn: encode and
 * decode, and the decoder's refusal of everything malformed (cmocka).
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

#include "secho/spawn.h"

static struct cidr allow[2], deny[1];

static void
sample(struct spawn_req *r)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&r->sr_peer;

	memset(r, 0, sizeof(*r));
	r->sr_seq = 0x0102030405060708ull;
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(40000);
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::7", &sin6->sin6_addr), 1);
	r->sr_idle_ms = 300000;
	r->sr_handshake_ms = 10000;
	r->sr_proxy = 1;
	r->sr_log_facility = 19 << 3;	/* local3 */
	r->sr_log_level = 6;
	r->sr_log_stderr = 1;
	r->sr_drop = 1;
	r->sr_uid = 65534;
	r->sr_gid = 65533;
	r->sr_name = "[::]:7";
	r->sr_ident = "secho-test";
	r->sr_chroot = "/var/empty";
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
	r->sr_allow.items = allow;
	r->sr_allow.count = 2;
	r->sr_allow.set = 1;
	r->sr_deny.items = deny;
	r->sr_deny.count = 1;
	r->sr_deny.set = 1;
}

/* Decode an exact-size, malloc-aligned copy of len bytes of msg. */
static int
decode_copy(const void *msg, size_t len, struct spawn_req *out, void **keep)
{
	void *p = malloc(len ? len : 1);
	int rc;

	assert_non_null(p);
	memcpy(p, msg, len);
	rc = spawn_decode(p, len, out);
	*keep = p;
	return rc;
}

static void
test_round_trip(void **state)
{
	static char buf[SPAWN_MSG_MAX];
	struct spawn_req r, d;
	size_t len;
	void *keep;

	(void)state;
	sample(&r);
	len = spawn_encode(&r, buf, sizeof(buf));
	assert_true(len > 0);
	assert_int_equal(decode_copy(buf, len, &d, &keep), 0);
	assert_true(d.sr_seq == r.sr_seq);
	assert_memory_equal(&d.sr_peer, &r.sr_peer, sizeof(struct sockaddr_in6));
	assert_int_equal(d.sr_idle_ms, 300000);
	assert_int_equal(d.sr_handshake_ms, 10000);
	assert_int_equal(d.sr_proxy, 1);
	assert_int_equal(d.sr_log_facility, 19 << 3);
	assert_int_equal(d.sr_log_level, 6);
	assert_int_equal(d.sr_log_stderr, 1);
	assert_int_equal(d.sr_drop, 1);
	assert_int_equal(d.sr_uid, 65534);
	assert_int_equal(d.sr_gid, 65533);
	assert_string_equal(d.sr_name, "[::]:7");
	assert_string_equal(d.sr_ident, "secho-test");
	assert_string_equal(d.sr_chroot, "/var/empty");
	assert_int_equal(d.sr_allow.count, 2);
	assert_int_equal(d.sr_deny.count, 1);
	assert_memory_equal(d.sr_allow.items, allow, sizeof(allow));
	assert_memory_equal(d.sr_deny.items, deny, sizeof(deny));
	assert_true(d.sr_allow.set && d.sr_deny.set);
	free(keep);

	/* No chroot, no lists, IPv4 peer. */
	{
		struct sockaddr_in *sin = (struct sockaddr_in *)&r.sr_peer;
		memset(&r.sr_peer, 0, sizeof(r.sr_peer));
		sin->sin_family = AF_INET;
		sin->sin_port = htons(7);
		sin->sin_addr.s_addr = htonl(0x7f000001);
	}
	r.sr_chroot = NULL;
	r.sr_allow.count = r.sr_deny.count = 0;
	r.sr_drop = 0;
	len = spawn_encode(&r, buf, sizeof(buf));
	assert_true(len > 0);
	assert_int_equal(decode_copy(buf, len, &d, &keep), 0);
	assert_null(d.sr_chroot);
	assert_int_equal(d.sr_allow.count, 0);
	assert_false(d.sr_allow.set);
	assert_int_equal(d.sr_deny.count, 0);
	assert_int_equal(d.sr_drop, 0);
	assert_int_equal(((struct sockaddr_in *)&d.sr_peer)->sin_port, htons(7));
	free(keep);
}

/* Every prefix and one byte more: refused (SEQPACKET keeps boundaries). */
static void
test_truncated_and_trailing(void **state)
{
	static char buf[SPAWN_MSG_MAX];
	struct spawn_req r, d;
	size_t len, i;
	void *keep;

	(void)state;
	sample(&r);
	len = spawn_encode(&r, buf, sizeof(buf));
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
	static char buf[SPAWN_MSG_MAX];
	struct spawn_req r, d;
	size_t len;
	void *keep;
	int i;

	(void)state;
	for (i = 0; i < 8; i++) {
		sample(&r);
		switch (i) {
		case 0: r.sr_peer.ss_family = AF_UNIX; break;
		case 1: allow[0].family = AF_UNIX; break;
		case 2: allow[0].prefix = 33; break;
		case 3: allow[1].prefix = 129; break;
		case 4: deny[0].prefix = -1; break;
		case 5: r.sr_log_level = 8; break;
		case 6: r.sr_idle_ms = -1; break;
		case 7: r.sr_handshake_ms = -5; break;
		}
		len = spawn_encode(&r, buf, sizeof(buf));
		assert_true(len > 0);
		if (decode_copy(buf, len, &d, &keep) != -1)
			fail_msg("case %d was accepted", i);
		free(keep);
	}
}

static void
test_bad_framing(void **state)
{
	static char buf[SPAWN_MSG_MAX];
	struct spawn_req r, d;
	size_t len;
	char *name;
	void *keep;

	(void)state;
	sample(&r);
	len = spawn_encode(&r, buf, sizeof(buf));

	buf[0] ^= 1;				/* magic */
	assert_int_equal(decode_copy(buf, len, &d, &keep), -1);
	free(keep);
	buf[0] ^= 1;
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
	buf[4] ^= 8;
	assert_int_equal(decode_copy(buf, len, &d, &keep), -1);
	free(keep);
	buf[4] ^= 8;
	assert_int_equal(decode_copy(buf, len, &d, &keep), 0);
	free(keep);
}

static void
test_too_big(void **state)
{
	static char buf[SPAWN_MSG_MAX];
	struct spawn_req r;
	char *big;
	size_t len;

	(void)state;
	sample(&r);
	len = spawn_encode(&r, buf, sizeof(buf));
	assert_int_equal(spawn_encode(&r, buf, len - 1), 0);
	assert_int_equal(spawn_encode(&r, buf, len), len);
	big = malloc(SPAWN_MSG_MAX);
	assert_non_null(big);
	memset(big, 'a', SPAWN_MSG_MAX - 1);
	big[SPAWN_MSG_MAX - 1] = '\0';
	r.sr_chroot = big;
	assert_int_equal(spawn_encode(&r, buf, sizeof(buf)), 0);
	free(big);
}

/*
 * Random corruption of a valid message (fixed seed): a decode either
 * fails or yields strings that end inside the message and valid lists.
 */
static void
test_random_corruption(void **state)
{
	static char buf[SPAWN_MSG_MAX], msg[SPAWN_MSG_MAX];
	struct spawn_req r, d;
	uint32_t x = 12345;
	size_t len, i, k;
	void *keep;
	int ok = 0;

	(void)state;
	sample(&r);
	len = spawn_encode(&r, buf, sizeof(buf));
	for (i = 0; i < 20000; i++) {
		memcpy(msg, buf, len);
		for (k = 0; k < 1 + i % 3; k++) {
			x = x * 1103515245u + 12345u;
			msg[(x >> 8) % len] ^= (char)(1u << ((x >> 4) & 7));
		}
		if (decode_copy(msg, len, &d, &keep) == 0) {
			const char *lo = keep, *hi = lo + len;
			ok++;
			assert_true(d.sr_name >= lo && d.sr_name + strlen(d.sr_name) < hi);
			assert_true(d.sr_ident >= lo && d.sr_ident + strlen(d.sr_ident) < hi);
			for (k = 0; k < d.sr_allow.count; k++)
				assert_true(d.sr_allow.items[k].family == AF_INET ||
				    d.sr_allow.items[k].family == AF_INET6);
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

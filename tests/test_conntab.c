/*
 * test_conntab.c - the master's table of connections (conntab.h, over
 * slotidx.h): lookups by id, per-host counts, moving a connection to
 * another host, an engine's connections removed at once, and a long
 * random sequence checked against a plain reference model (cmocka).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "secho/addr.h"
#include "secho/conntab.h"

static struct sockaddr_in
v4(uint32_t a, int port)
{
	struct sockaddr_in s;

	memset(&s, 0, sizeof(s));
	s.sin_family = AF_INET;
	s.sin_addr.s_addr = htonl(a);
	s.sin_port = htons(port);
	return s;
}

static void
key_of(uint32_t a, unsigned char key[16])
{
	struct sockaddr_in s = v4(a, 1);

	addr_host_key((struct sockaddr *)&s, key);
}

static void
test_basics(void **state)
{
	struct conntab *t = conntab_new();
	struct sockaddr_in a = v4(0x7f000001, 1000);
	struct sockaddr_in6 m;
	struct conn_entry *e1, *e2, *e3;
	unsigned char ka[16], kb[16];

	(void)state;
	assert_non_null(t);
	key_of(0x7f000001, ka);
	key_of(0x0a000001, kb);
	e1 = conntab_add(t, 1, (struct sockaddr *)&a);
	e1->ce_engine = 5;
	e2 = conntab_add(t, 2, (struct sockaddr *)&a);
	e2->ce_engine = 5;
	/* IPv4-mapped IPv6 is the same host as its IPv4 form. */
	memset(&m, 0, sizeof(m));
	m.sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, "::ffff:10.0.0.1", &m.sin6_addr),
	    1);
	e3 = conntab_add(t, 3, (struct sockaddr *)&m);
	e3->ce_engine = 6;
	assert_int_equal(conntab_count(t), 3);
	assert_int_equal(conntab_host_count(t, ka), 2);
	assert_int_equal(conntab_host_count(t, kb), 1);
	assert_ptr_equal(conntab_get(t, 2), e2);
	assert_null(conntab_get(t, 4));
	assert_int_equal(((struct sockaddr_in *)&conntab_get(t, 1)->ce_peer)->
	    sin_port, htons(1000));

	/* A PROXY header names another host. */
	conntab_set_host(t, conntab_get(t, 2), kb);
	assert_int_equal(conntab_host_count(t, ka), 1);
	assert_int_equal(conntab_host_count(t, kb), 2);

	/* An engine dies: its connections go, the others stay. */
	assert_int_equal(conntab_remove_engine(t, 5), 2);
	assert_int_equal(conntab_count(t), 1);
	assert_null(conntab_get(t, 1));
	assert_null(conntab_get(t, 2));
	assert_non_null(conntab_get(t, 3));
	assert_int_equal(conntab_host_count(t, ka), 0);
	assert_int_equal(conntab_host_count(t, kb), 1);
	conntab_remove(t, conntab_get(t, 3));
	assert_int_equal(conntab_count(t), 0);
	assert_int_equal(conntab_host_count(t, kb), 0);
	conntab_free(t);
}

/*
 * 200 000 random adds, removals and host moves, with ids that grow like
 * the master's and 50 hosts; after each step the table agrees with an
 * array of what should be there.  Growth (to 4096 and beyond) and
 * backward-shift deletion in both indexes are exercised on the way.
 */
#define NREF	6000

static void
test_random_against_model(void **state)
{
	static struct { uint64_t id; uint32_t host; } ref[NREF];
	static unsigned hosts[50];
	struct conntab *t = conntab_new();
	uint32_t x = 99;
	uint64_t next = 0;
	size_t n = 0, i, step;
	unsigned char k[16];

	(void)state;
	assert_non_null(t);
	for (step = 0; step < 200000; step++) {
		x = x * 1103515245u + 12345u;
		if (n < NREF && ((x >> 8) % 3 != 0 || n == 0)) {
			uint32_t h = (x >> 12) % 50;
			struct sockaddr_in s = v4(0x0a000000 + h, 1);

			assert_non_null(conntab_add(t, ++next,
			    (struct sockaddr *)&s));
			ref[n].id = next;
			ref[n++].host = h;
			hosts[h]++;
		} else if ((x >> 10) % 4 == 0) {
			/* move one to another host */
			i = (x >> 14) % n;
			uint32_t h = (x >> 3) % 50;
			key_of(0x0a000000 + h, k);
			conntab_set_host(t, conntab_get(t, ref[i].id), k);
			hosts[ref[i].host]--;
			hosts[h]++;
			ref[i].host = h;
		} else {
			i = (x >> 14) % n;
			assert_non_null(conntab_get(t, ref[i].id));
			conntab_remove(t, conntab_get(t, ref[i].id));
			hosts[ref[i].host]--;
			ref[i] = ref[--n];
		}
		assert_int_equal(conntab_count(t), n);
		if (step % 997 == 0) {
			for (i = 0; i < n; i++)
				assert_true(conntab_get(t, ref[i].id)->ce_id ==
				    ref[i].id);
			for (i = 0; i < 50; i++) {
				key_of(0x0a000000 + (uint32_t)i, k);
				assert_int_equal(conntab_host_count(t, k),
				    hosts[i]);
			}
			assert_null(conntab_get(t, next + 1));
		}
	}
	while (n > 0) {
		conntab_remove(t, conntab_get(t, ref[--n].id));
		hosts[ref[n].host]--;
	}
	assert_int_equal(conntab_count(t), 0);
	for (i = 0; i < 50; i++) {
		key_of(0x0a000000 + (uint32_t)i, k);
		assert_int_equal(conntab_host_count(t, k), 0);
	}
	conntab_free(t);
}

/* A DTLS peer's live association, by exact peer, protocol and port. */
static void
test_find_peer(void **state)
{
	struct conntab *t = conntab_new();
	struct sockaddr_in a = v4(0x7f000001, 40000);
	struct sockaddr_in other_port = v4(0x7f000001, 40001);
	struct sockaddr_in other_host = v4(0x7f000002, 40000);
	struct sockaddr_in6 m;
	struct conn_entry *e, *tcp;

	(void)state;
	assert_non_null(t);
	assert_null(conntab_find_peer(t, 3, (struct sockaddr *)&a, 7443));
	tcp = conntab_add(t, 1, (struct sockaddr *)&a);
	tcp->ce_proto = 2;
	assert_null(conntab_find_peer(t, 3, (struct sockaddr *)&a, 7443));
	e = conntab_add(t, 2, (struct sockaddr *)&a);
	e->ce_proto = 3;
	e->ce_lport = 7443;
	assert_ptr_equal(conntab_find_peer(t, 3, (struct sockaddr *)&a, 7443),
	    e);
	/* the same client as IPv4-mapped IPv6 (a dual-stack listener) */
	memset(&m, 0, sizeof(m));
	m.sin6_family = AF_INET6;
	m.sin6_port = htons(40000);
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &m.sin6_addr);
	assert_ptr_equal(conntab_find_peer(t, 3, (struct sockaddr *)&m, 7443),
	    e);
	assert_null(conntab_find_peer(t, 3, (struct sockaddr *)&a, 7444));
	assert_null(conntab_find_peer(t, 3, (struct sockaddr *)&other_port,
	    7443));
	assert_null(conntab_find_peer(t, 3, (struct sockaddr *)&other_host,
	    7443));
	conntab_remove(t, e);
	assert_null(conntab_find_peer(t, 3, (struct sockaddr *)&a, 7443));
	conntab_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basics),
		cmocka_unit_test(test_random_against_model),
		cmocka_unit_test(test_find_peer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_ping_payload.c - a probe's bytes: the header with the sequence
 * number, late echoes recognised, corruption found at its byte (cmocka).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "secho/ping_payload.h"

#define TAG	0x5ec0a11dU

static unsigned char body[2048];

static void
setup_body(void)
{
	size_t i;

	for (i = 0; i < sizeof(body); i++)
		body[i] = (unsigned char)(i * 131 + 7);
}

static void
test_build(void **state)
{
	struct payload pl;
	static const unsigned char h7[8] = { 0x5e, 0xc0, 0xa1, 0x1d, 0, 0, 0, 7 };

	setup_body();
	assert_int_equal(ping_payload_init(&pl, 64, NULL, TAG, body), 0);
	ping_payload_set_seq(&pl, 7);
	assert_memory_equal(pl.pl_buf, h7, 8);
	assert_memory_equal(pl.pl_buf + 8, body + 8, 56);
	ping_payload_set_seq(&pl, 0x100000002ULL);		/* low 32 bits */
	assert_int_equal(pl.pl_buf[7], 2);
	assert_int_equal(pl.pl_buf[4], 0);
	ping_payload_free(&pl);

	/* Shorter than the header: its first bytes only. */
	assert_int_equal(ping_payload_init(&pl, 3, NULL, TAG, body), 0);
	ping_payload_set_seq(&pl, 9);
	assert_memory_equal(pl.pl_buf, h7, 3);
	ping_payload_free(&pl);

	/* -m TEXT: as it is, no header, no newline. */
	assert_int_equal(ping_payload_init(&pl, 0, "hello", TAG, NULL), 0);
	ping_payload_set_seq(&pl, 3);
	assert_int_equal(pl.pl_size, 5);
	assert_memory_equal(pl.pl_buf, "hello", 5);
	ping_payload_free(&pl);
	assert_int_equal(ping_payload_init(&pl, 0, "", TAG, NULL), -1);
}

static void
test_classify(void **state)
{
	struct payload pl;
	unsigned char got[128];
	unsigned long long late = 0;
	size_t bad = 0;

	setup_body();
	assert_int_equal(ping_payload_init(&pl, 64, NULL, TAG, body), 0);

	/* The echo of probe 3 while probe 5 is out: late, not corrupted. */
	ping_payload_set_seq(&pl, 3);
	memcpy(got, pl.pl_buf, 64);
	ping_payload_set_seq(&pl, 5);
	assert_int_equal(ping_payload_classify(&pl, 5, 1, got, 64, &late, &bad),
	    PAYLOAD_LATE);
	assert_true(late == 3);
	/* Before the run's first probe: not ours, so it differs. */
	assert_int_equal(ping_payload_classify(&pl, 5, 4, got, 64, &late, &bad),
	    PAYLOAD_CORRUPT);
	assert_int_equal(bad, 7);

	memcpy(got, pl.pl_buf, 64);
	assert_int_equal(ping_payload_classify(&pl, 5, 1, got, 64, &late, &bad),
	    PAYLOAD_ECHO);
	got[40] ^= 0x20;
	assert_int_equal(ping_payload_classify(&pl, 5, 1, got, 64, &late, &bad),
	    PAYLOAD_CORRUPT);
	assert_int_equal(bad, 40);
	got[40] ^= 0x20;
	/* A later sequence number than sent: corrupted at its byte. */
	got[7] = 9;
	assert_int_equal(ping_payload_classify(&pl, 5, 1, got, 64, &late, &bad),
	    PAYLOAD_CORRUPT);
	assert_int_equal(bad, 7);
	got[7] = 5;
	/* Another run's tag. */
	got[0] ^= 1;
	assert_int_equal(ping_payload_classify(&pl, 5, 1, got, 64, &late, &bad),
	    PAYLOAD_CORRUPT);
	assert_int_equal(bad, 0);
	got[0] ^= 1;
	/* Truncated (xinetd cuts at 2 KiB) and too long. */
	assert_int_equal(ping_payload_classify(&pl, 5, 1, got, 30, &late, &bad),
	    PAYLOAD_CORRUPT);
	assert_int_equal(bad, 30);
	got[64] = 'x';
	assert_int_equal(ping_payload_classify(&pl, 5, 1, got, 65, &late, &bad),
	    PAYLOAD_CORRUPT);
	assert_int_equal(bad, 64);

	/* Sequence numbers past 2^32: the header's low bits still tell. */
	ping_payload_set_seq(&pl, 0xffffffffULL);
	memcpy(got, pl.pl_buf, 64);
	ping_payload_set_seq(&pl, 0x100000001ULL);
	assert_int_equal(ping_payload_classify(&pl, 0x100000001ULL, 1, got, 64,
	    &late, &bad), PAYLOAD_LATE);
	assert_true(late == 0xffffffffULL);
	ping_payload_free(&pl);

	/* -m TEXT: every echo is checked against the current probe. */
	assert_int_equal(ping_payload_init(&pl, 0, "hello world", TAG, NULL), 0);
	assert_int_equal(ping_payload_classify(&pl, 2, 1,
	    (const unsigned char *)"hello world", 11, &late, &bad), PAYLOAD_ECHO);
	assert_int_equal(ping_payload_classify(&pl, 2, 1,
	    (const unsigned char *)"hello_world", 11, &late, &bad),
	    PAYLOAD_CORRUPT);
	assert_int_equal(bad, 5);
	ping_payload_free(&pl);
}

static void
test_diff_stream(void **state)
{
	struct payload pl;
	unsigned char p2[100], p4[100];

	setup_body();
	assert_int_equal(ping_payload_init(&pl, 100, NULL, TAG, body), 0);
	ping_payload_set_seq(&pl, 2);
	memcpy(p2, pl.pl_buf, 100);
	ping_payload_set_seq(&pl, 4);
	memcpy(p4, pl.pl_buf, 100);

	/* Probe 2's bytes, in pieces, while pl_buf holds probe 4. */
	assert_int_equal(ping_payload_diff(&pl, 2, 0, p2, 5), 5);
	assert_int_equal(ping_payload_diff(&pl, 2, 5, p2 + 5, 50), 50);
	assert_int_equal(ping_payload_diff(&pl, 2, 55, p2 + 55, 45), 45);
	/* Probe 4's header is not probe 2's. */
	assert_int_equal(ping_payload_diff(&pl, 2, 0, p4, 10), 7);
	/* The current probe, piece by piece. */
	assert_int_equal(ping_payload_diff(&pl, 4, 0, p4, 100), 100);
	p4[60] ^= 0xff;
	assert_int_equal(ping_payload_diff(&pl, 4, 50, p4 + 50, 50), 10);
	/* Never past the end of the probe. */
	assert_int_equal(ping_payload_diff(&pl, 4, 100, p4, 5), 0);
	ping_payload_free(&pl);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build),
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_diff_stream),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_ping_stats.c - secho-ping's statistics (min/avg/max/mdev, loss,
 * sent = echoed + lost + corrupted) and the monitoring state (cmocka).
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "secho/ping_stats.h"

#define NEAR(a, b, eps)	assert_true(fabs((a) - (b)) <= (eps))

static void
test_spec_example(void **state)
{
	struct ping_stats st;

	/* SPEC: 0.112 and 0.098 ms -> 0.098/0.105/0.112/0.007. */
	ping_stats_init(&st);
	ping_stats_echoed(&st, 112);
	ping_stats_echoed(&st, 98);
	NEAR(st.st_min_us, 98, 1e-9);
	NEAR(st.st_mean_us, 105, 1e-9);
	NEAR(st.st_max_us, 112, 1e-9);
	NEAR(ping_stats_mdev_us(&st), 7, 1e-9);
	assert_true(st.st_sent == 2 && st.st_echoed == 2);
	NEAR(ping_stats_loss_pct(&st), 0, 0);
}

static void
test_mdev_and_counts(void **state)
{
	struct ping_stats st;
	double sum = 0, sq = 0, mean, x;
	int i;

	ping_stats_init(&st);
	NEAR(ping_stats_mdev_us(&st), 0, 0);
	NEAR(ping_stats_loss_pct(&st), 0, 0);
	ping_stats_echoed(&st, 50);
	NEAR(ping_stats_mdev_us(&st), 0, 0);		/* one value */
	ping_stats_init(&st);
	for (i = 1; i <= 4; i++)
		ping_stats_echoed(&st, i);
	NEAR(st.st_mean_us, 2.5, 1e-12);
	NEAR(ping_stats_mdev_us(&st), sqrt(1.25), 1e-12);

	/* Large offsets: the naive sum of squares would lose the spread. */
	ping_stats_init(&st);
	for (i = 0; i < 100000; i++) {
		x = 1e9 + (i % 7);
		ping_stats_echoed(&st, x);
		sum += x;
	}
	mean = sum / 100000;
	for (i = 0; i < 100000; i++) {
		x = 1e9 + (i % 7) - mean;
		sq += x * x;
	}
	NEAR(st.st_mean_us, mean, 1e-3);
	NEAR(ping_stats_mdev_us(&st), sqrt(sq / 100000), 1e-6);
	NEAR(st.st_min_us, 1e9, 0);
	NEAR(st.st_max_us, 1e9 + 6, 0);

	ping_stats_init(&st);
	ping_stats_echoed(&st, 10);
	ping_stats_lost(&st);
	ping_stats_lost(&st);
	ping_stats_corrupted(&st);
	assert_true(st.st_sent == 4);
	assert_true(st.st_sent == st.st_echoed + st.st_lost + st.st_corrupted);
	NEAR(ping_stats_loss_pct(&st), 50, 1e-12);
	NEAR(st.st_min_us, 10, 0);		/* only intact echoes */
	NEAR(st.st_max_us, 10, 0);
}

static void
run_state(int echoed, int lost, int corrupted, double rtt_us,
    const char *warn, const char *crit, const char *days, int have_cert,
    double left, int want)
{
	struct ping_stats st;
	struct ping_opts o;
	int i;

	ping_opts_defaults(&o);
	if (warn)
		assert_int_equal(ping_parse_threshold(warn, &o.po_warn), 0);
	if (crit)
		assert_int_equal(ping_parse_threshold(crit, &o.po_crit), 0);
	if (days) {
		assert_int_equal(ping_parse_cert_days(days, &o.po_cert_warn,
		    &o.po_cert_crit, &o.po_cert_crit_set), 0);
		o.po_cert_days = 1;
	}
	ping_stats_init(&st);
	for (i = 0; i < echoed; i++)
		ping_stats_echoed(&st, rtt_us);
	for (i = 0; i < lost; i++)
		ping_stats_lost(&st);
	for (i = 0; i < corrupted; i++)
		ping_stats_corrupted(&st);
	if (ping_stats_state(&st, &o, have_cert, left) != want)
		fail_msg("echoed %d lost %d corrupted %d rtt %g us warn %s "
		    "crit %s days %s left %g: state %s, want %s", echoed, lost,
		    corrupted, rtt_us, warn, crit, days, left,
		    ping_stats_state_name(ping_stats_state(&st, &o, have_cert, left)),
		    ping_stats_state_name(want));
}

static void
test_state(void **state)
{
	const char *w = "100,20%", *c = "500,60%";

	run_state(5, 0, 0, 105, w, c, NULL, 0, 0, PING_STATE_OK);
	run_state(5, 0, 0, 99999, w, c, NULL, 0, 0, PING_STATE_OK);
	/* "at or above" */
	run_state(5, 0, 0, 100000, w, c, NULL, 0, 0, PING_STATE_WARNING);
	run_state(5, 0, 0, 499999, w, c, NULL, 0, 0, PING_STATE_WARNING);
	run_state(5, 0, 0, 500000, w, c, NULL, 0, 0, PING_STATE_CRITICAL);
	run_state(4, 1, 0, 105, w, c, NULL, 0, 0, PING_STATE_WARNING);	/* 20 % */
	run_state(2, 3, 0, 105, w, c, NULL, 0, 0, PING_STATE_CRITICAL);	/* 60 % */
	run_state(0, 5, 0, 0, w, c, NULL, 0, 0, PING_STATE_CRITICAL);
	/* Nothing back, or corrupted, is CRITICAL even without thresholds. */
	run_state(0, 5, 0, 0, w, NULL, NULL, 0, 0, PING_STATE_CRITICAL);
	run_state(4, 0, 1, 105, w, c, NULL, 0, 0, PING_STATE_CRITICAL);
	run_state(5, 0, 0, 105, NULL, NULL, NULL, 0, 0, PING_STATE_OK);
	/* Certificate days: "within" WARN or CRIT days. */
	run_state(5, 0, 0, 105, NULL, NULL, "30,7", 1, 94, PING_STATE_OK);
	run_state(5, 0, 0, 105, NULL, NULL, "30,7", 1, 29.5, PING_STATE_WARNING);
	run_state(5, 0, 0, 105, NULL, NULL, "30,7", 1, 1.9, PING_STATE_CRITICAL);
	run_state(5, 0, 0, 105, NULL, NULL, "30", 1, 1.9, PING_STATE_WARNING);
	run_state(5, 0, 0, 105, NULL, NULL, "30,7", 1, -2, PING_STATE_CRITICAL);
	/* Expired (with --insecure) is CRITICAL also without CRIT. */
	run_state(5, 0, 0, 105, NULL, NULL, "30", 1, -0.01, PING_STATE_CRITICAL);
	run_state(5, 0, 0, 105, NULL, NULL, "0", 1, -400, PING_STATE_CRITICAL);
	run_state(5, 0, 0, 105, NULL, NULL, "0", 1, 0, PING_STATE_OK);
	run_state(5, 0, 0, 105, NULL, NULL, "30,7", 0, 0, PING_STATE_OK);
	run_state(5, 0, 0, 200000, w, c, "30,7", 1, 20, PING_STATE_WARNING);
	assert_string_equal(ping_stats_state_name(PING_STATE_UNKNOWN), "UNKNOWN");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_example),
		cmocka_unit_test(test_mdev_and_counts),
		cmocka_unit_test(test_state),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

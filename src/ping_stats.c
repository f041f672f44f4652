/*
 * ping_stats.c - secho-ping's counters, round-trip statistics and the
 * monitoring state of a run (ping_stats.h).  Pure code.
 */
#include <math.h>
#include <string.h>

#include "secho/ping_stats.h"

void
ping_stats_init(struct ping_stats *st)
{
	memset(st, 0, sizeof(*st));
}

void
ping_stats_echoed(struct ping_stats *st, double rtt_us)
{
	double d;

	st->st_sent++;
	st->st_echoed++;
	if (st->st_echoed == 1 || rtt_us < st->st_min_us)
		st->st_min_us = rtt_us;
	if (st->st_echoed == 1 || rtt_us > st->st_max_us)
		st->st_max_us = rtt_us;
	/* Welford: no catastrophic cancellation over 10^5 probes. */
	d = rtt_us - st->st_mean_us;
	st->st_mean_us += d / (double)st->st_echoed;
	st->st_m2 += d * (rtt_us - st->st_mean_us);
}

void
ping_stats_lost(struct ping_stats *st)
{
	st->st_sent++;
	st->st_lost++;
}

void
ping_stats_corrupted(struct ping_stats *st)
{
	st->st_sent++;
	st->st_corrupted++;
}

double
ping_stats_loss_pct(const struct ping_stats *st)
{
	if (st->st_sent == 0)
		return 0;
	return 100.0 * (double)st->st_lost / (double)st->st_sent;
}

double
ping_stats_mdev_us(const struct ping_stats *st)
{
	if (st->st_echoed < 2)
		return 0;
	return sqrt(st->st_m2 / (double)st->st_echoed);
}

static int
worse(int a, int b)
{
	return a > b ? a : b;
}

static int
threshold_hit(const struct ping_threshold *t, const struct ping_stats *st)
{
	return t->th_set && (st->st_mean_us / 1000.0 >= t->th_rtt_ms ||
	    ping_stats_loss_pct(st) >= t->th_loss_pct);
}

int
ping_stats_state(const struct ping_stats *st, const struct ping_opts *o,
    int have_cert, double cert_days)
{
	int state = PING_STATE_OK;

	if (st->st_echoed == 0 || st->st_corrupted > 0)
		return PING_STATE_CRITICAL;
	if (threshold_hit(&o->po_crit, st))
		return PING_STATE_CRITICAL;
	if (threshold_hit(&o->po_warn, st))
		state = PING_STATE_WARNING;
	if (o->po_cert_days && have_cert) {
		/* Expired is CRITICAL, whatever CRIT says (as check_http). */
		if (cert_days < 0 ||
		    (o->po_cert_crit_set && cert_days < o->po_cert_crit))
			return PING_STATE_CRITICAL;
		if (cert_days < o->po_cert_warn)
			state = worse(state, PING_STATE_WARNING);
	}
	return state;
}

const char *
ping_stats_state_name(int state)
{
	switch (state) {
	case PING_STATE_OK:
		return "OK";
	case PING_STATE_WARNING:
		return "WARNING";
	case PING_STATE_CRITICAL:
		return "CRITICAL";
	default:
		return "UNKNOWN";
	}
}

/*
 * ping_stats.h - secho-ping's counters and round-trip statistics
 * (min/avg/max/mdev in microseconds), and the monitoring state they
 * give against the thresholds (pure code).
 */
#ifndef SECHO_PING_STATS_H
#define SECHO_PING_STATS_H

#include "secho/ping_args.h"

/* sent = echoed + lost + corrupted, always. */
struct ping_stats {
	unsigned long long st_sent;
	unsigned long long st_echoed;
	unsigned long long st_lost;
	unsigned long long st_corrupted;
	unsigned long long st_late;	/* late echoes of lost probes */
	unsigned long long st_resumed;	/* probes on a resumed TLS session */
	double		 st_min_us;
	double		 st_max_us;
	double		 st_mean_us;	/* running mean (Welford) */
	double		 st_m2;		/* sum of squared deviations */
};

void	 ping_stats_init(struct ping_stats *st);

/* One probe's outcome; rtt_us counts only for an intact echo. */
void	 ping_stats_echoed(struct ping_stats *st, double rtt_us);
void	 ping_stats_lost(struct ping_stats *st);
void	 ping_stats_corrupted(struct ping_stats *st);

/* Loss in percent of the probes sent (lost only; 0 when none sent). */
double	 ping_stats_loss_pct(const struct ping_stats *st);

/*
 * mdev as ping(8) reports it: the standard deviation of the intact
 * echoes' round trips, sqrt(mean(x^2) - mean(x)^2); 0 with fewer than 2.
 */
double	 ping_stats_mdev_us(const struct ping_stats *st);

/*
 * Monitoring state (PING_STATE_*) of a finished run: CRITICAL when
 * nothing came back or anything was corrupted; otherwise the worst of
 * average rtt and loss "at or above" their thresholds (check_ping) and,
 * with --cert-days and a certificate seen (have_cert), the days left
 * (negative once expired) "within" (below) WARN or CRIT; an expired
 * certificate is CRITICAL, also without CRIT.
 */
int	 ping_stats_state(const struct ping_stats *st, const struct ping_opts *o,
	    int have_cert, double cert_days);

/* "OK", "WARNING", "CRITICAL", "UNKNOWN". */
const char *ping_stats_state_name(int state);

#endif

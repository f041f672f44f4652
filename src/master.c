/*
 * master.c - the master's event loop: one poll() over the signalfd, the
 * engines' channels and the TCP/TLS listeners; each event goes to the
 * file of its concern (policy.c accepts, engines.c reads the engines,
 * workers.c keeps the UDP workers, reload.c, shutdown.c).  The master
 * never reads client bytes and never forks per connection; start.c
 * starts it.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <syslog.h>

#include "secho/clock.h"
#include "secho/closefrom.h"
#include "secho/conntab.h"
#include "secho/listen.h"
#include "secho/log.h"
#include "secho/master.h"
#include "secho/notify.h"
#include "secho/sig.h"
#include "secho/tls.h"

#define EX_FAIL		1

int
master_log_stderr_wanted(const struct master *m)
{
	/* log.stderr is -e for the foreground; detached, only -e counts. */
	return m->opts->mo_stderr ||
	    (m->gen.g_cfg->log_stderr && m->opts->mo_foreground);
}

void
master_apply_log(const struct master *m)
{
	const struct secho_config *c = m->gen.g_cfg;

	log_init(c->log_ident, c->log_facility, c->log_level,
	    master_log_stderr_wanted(m));
}

void
master_log_listening(const struct listener *l)
{
	struct logline ll;

	log_begin(&ll, LOG_INFO, "listening");
	log_kv(&ll, "proto", config_proto_name(l->l_proto));
	log_kv(&ll, "addr", l->l_name);
	log_end(&ll);
}

/*
 * In a process forked from the master (an engine, a UDP worker): the
 * master's descriptors go, all but stdio and keep; syslog gets a
 * connection of its own; the master's signal set-up is undone by the
 * process's own (engine_run, conn_signals).
 */
void
master_forked(const int *keep, size_t n)
{
	close_from_except(3, keep, n);
	log_reopen();
}

/*
 * A helper that keeps dying is restarted later and later (inetd): 0, 0,
 * 0.5, 1, 2 ... 60 s.  It counts as failing when it lived less than
 * WORKER_QUICK_MS.
 */
long long
restart_delay(int *failures, long long started, long long now)
{
	int n;

	if (now - started < WORKER_QUICK_MS)
		(*failures)++;
	else
		*failures = 0;
	if (*failures <= 1)
		return 0;
	n = *failures - 2;
	if (n > 7)
		return WORKER_MAX_DELAY;
	return 500LL << n > WORKER_MAX_DELAY ? WORKER_MAX_DELAY : 500LL << n;
}

static void
log_stats(struct master *m)
{
	struct logline ll;

	log_begin(&ll, LOG_INFO, "stats");
	log_kvu(&ll, "uptime_s", (clock_ms() - m->start_ms) / 1000);
	log_kvu(&ll, "active", conntab_count(m->conns));
	log_kvu(&ll, "tcp_total", m->tcp_total);
	log_kvu(&ll, "tls_total", m->tls_total);
	log_kvu(&ll, "dtls_total", m->dtls_total);
	log_kvu(&ll, "udp_total", workers_udp_total(m));
	log_kvu(&ll, "refused_total", m->refused_total);
	log_end(&ll);
}

/* Every child that ended: an engine, a UDP worker, or an orphan. */
static void
reap(struct master *m)
{
	int status;
	pid_t pid;

	for (;;) {
		pid = waitpid(-1, &status, WNOHANG);
		if (pid == -1 && errno == EINTR)
			continue;
		if (pid <= 0)
			break;
		/*
		 * Neither: a connection's process whose engine died first
		 * and which the kernel gave us as child subreaper.  Its
		 * connection was counted out with its engine.
		 */
		if (!engines_exited(m, pid, status))
			(void)workers_exited(m, pid, status);
	}
}

static void
on_signals(struct master *m)
{
	size_t i;
	int sig;

	while ((sig = sig_next()) != 0) {
		switch (sig) {
		case SIGCHLD:
			reap(m);
			break;
		case SIGHUP:
			if (!m->stopping)
				reload(m);
			break;
		case SIGUSR1:
			/*
			 * What has ended is not active: the signalfd hands
			 * USR1 before a pending CHLD, and the engines may have
			 * told us of ends we have not read yet.
			 */
			reap(m);
			for (i = 0; i < m->nengines; i++)
				while (engines_read(m, &m->engines[i]) == 256)
					;
			log_stats(m);
			break;
		case SIGTERM:
		case SIGINT:
			reap(m);	/* what ended already is not active */
			shutdown_begin(m);
			break;
		}
	}
}

/*
 * The loop cannot go on (poll() failed): everything the master started
 * ends now -- engines and workers killed (the engines' processes die
 * with them), reaped -- it says why, and exits non-zero.
 */
void
master_fatal(struct master *m, const char *what)
{
	int status;

	log_err("%s; ending every process and exiting", what);
	notify_send("STOPPING=1");
	engines_kill_all(m);
	workers_signal(m, SIGKILL);
	while (waitpid(-1, &status, 0) != -1 || errno == EINTR)
		;
	pidfile_remove(m->pidfd, m->pidfile);
	exit(EX_FAIL);
}

/* Poll timeout (ms) until the next timed duty. */
static int
next_timeout(const struct master *m, long long now)
{
	long long t = now + 60000, d;	/* ticket key rotation */
	size_t i;

	if (m->stopping)
		t = shutdown_next(m);
	else {
		for (i = 0; i < m->ls.ls_count; i++)
			if (m->ls.ls_items[i].l_respawn_at &&
			    m->ls.ls_items[i].l_respawn_at < t)
				t = m->ls.ls_items[i].l_respawn_at;
		if (m->kind_tcp.ek_respawn_at && m->kind_tcp.ek_respawn_at < t)
			t = m->kind_tcp.ek_respawn_at;
		if (m->kind_tls.ek_respawn_at && m->kind_tls.ek_respawn_at < t)
			t = m->kind_tls.ek_respawn_at;
		if (m->kind_dtls.ek_respawn_at &&
		    m->kind_dtls.ek_respawn_at < t)
			t = m->kind_dtls.ek_respawn_at;
		if (m->accept_pause_until > now && m->accept_pause_until < t)
			t = m->accept_pause_until;
		if (m->tls_renew_at && m->tls_renew_at < t)
			t = m->tls_renew_at;
	}
	d = t - now;
	return d < 0 ? 0 : d > 60000 ? 60000 : (int)d;
}

int
master_run(struct master *m)
{
	struct pollfd *pfds = NULL;
	void **owners = NULL;
	size_t cap = 0, n, i, ne;
	long long now;
	unsigned gen;
	int r;

	while (!shutdown_done(m)) {
		if (cap < 1 + m->nengines + m->ls.ls_count) {
			cap = 1 + m->nengines + m->ls.ls_count + 8;
			free(pfds);
			free(owners);
			pfds = calloc(cap, sizeof(*pfds));
			owners = calloc(cap, sizeof(*owners));
			if (pfds == NULL || owners == NULL)
				master_fatal(m, "out of memory in the loop");
		}
		n = 0;
		pfds[n].fd = m->sigfd;
		pfds[n].events = POLLIN;
		owners[n++] = NULL;
		for (i = 0; i < m->nengines; i++) {
			pfds[n].fd = m->engines[i].en_fd;
			pfds[n].events = POLLIN |
			    (m->engines[i].en_out ? POLLOUT : 0);
			owners[n++] = NULL;
		}
		ne = n;
		now = clock_ms();
		if (!m->stopping && now >= m->accept_pause_until)
			for (i = 0; i < m->ls.ls_count; i++) {
				struct listener *l = &m->ls.ls_items[i];

				/* No engine to take them: they wait. */
				/* Datagram sockets are their process's. */
				if (l->l_proto == SECHO_PROTO_UDP ||
				    l->l_proto == SECHO_PROTO_DTLS ||
				    l->l_fd < 0 || !engines_ready(m, l->l_proto))
					continue;
				pfds[n].fd = l->l_fd;
				pfds[n].events = POLLIN;
				owners[n++] = l;
			}
		r = poll(pfds, n, next_timeout(m, now));
		if (r == -1 && errno != EINTR) {
			free(pfds);
			free(owners);
			master_fatal(m, "poll");
		}
		if (r > 0) {
			/* Engines first: ended connections free their slots. */
			for (i = 1; i < ne; i++) {
				struct engine_ref *e = &m->engines[i - 1];

				if (pfds[i].revents & POLLOUT)
					engines_flush(m, e);
				if (pfds[i].revents & POLLIN)
					engines_read(m, e);
			}
			gen = m->gen.g_serial;
			if (pfds[0].revents & POLLIN)
				on_signals(m);
			/* A reload freed the listeners polled: next turn. */
			for (i = ne; i < n && !m->stopping &&
			    gen == m->gen.g_serial; i++)
				if (pfds[i].revents & POLLIN)
					policy_accept(m, owners[i]);
		}
		now = clock_ms();
		if (m->stopping)
			shutdown_tick(m, now);
		else {
			workers_due(m, now);
			engines_due(m, now);
			if (tls_tick(now))
				engines_renew_tls(m, 1);	/* and dtls */
			else if (m->tls_renew_at != 0 && now >= m->tls_renew_at)
				engines_renew(m, SECHO_PROTO_TLS, 1);
		}
	}
	free(pfds);
	free(owners);
	return 0;
}

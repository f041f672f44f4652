/*
 * shutdown.c - SIGTERM/SIGINT: stop accepting (listeners close, UDP
 * workers stop), let connections finish for daemon.shutdown_timeout,
 * then have the engines end them (SIGTERM: they log reason=shutdown),
 * and after a grace period kill what is left.  The loop ends when no
 * connection, engine or worker is left.
 */
#include <signal.h>
#include <syslog.h>

#include "secho/clock.h"
#include "secho/conntab.h"
#include "secho/log.h"
#include "secho/master.h"
#include "secho/msg.h"
#include "secho/notify.h"

#define KILL_GRACE_MS	5000	/* after SIGTERM to connections, SIGKILL */

void
shutdown_begin(struct master *m)
{
	struct logline ll;
	size_t i;

	if (m->stopping)
		return;
	m->stopping = 1;
	notify_send("STOPPING=1");
	log_begin(&ll, LOG_NOTICE, "shutdown");
	log_kvu(&ll, "active", conntab_count(m->conns));
	log_end(&ll);
	workers_signal(m, SIGTERM);
	listen_close_fds(&m->ls);
	/* Every engine ends once its connections have. */
	for (i = 0; i < m->nengines; i++)
		engines_drain(m, &m->engines[i]);
	m->stop_deadline = clock_ms() + m->gen.g_cfg->shutdown_timeout * 1000LL;
}

/* Time is up: the connections are ended, then killed. */
void
shutdown_tick(struct master *m, long long now)
{
	size_t i;

	if (!m->stopping)
		return;
	if (!m->kill_deadline && now >= m->stop_deadline) {
		for (i = 0; i < m->nengines; i++)
			engines_send(m, &m->engines[i], MSG_STOP, 0, SIGTERM);
		m->kill_deadline = now + KILL_GRACE_MS;
	} else if (m->kill_deadline && now >= m->kill_deadline) {
		/*
		 * An engine still there gets its own SIGKILL: its processes
		 * die with it (PR_SET_PDEATHSIG).
		 */
		for (i = 0; i < m->nengines; i++) {
			engines_send(m, &m->engines[i], MSG_STOP, 0, SIGKILL);
			kill(m->engines[i].en_pid, SIGKILL);
		}
		workers_signal(m, SIGKILL);
		m->kill_deadline = now + KILL_GRACE_MS;
	}
}

int
shutdown_done(const struct master *m)
{
	return m->stopping && conntab_count(m->conns) == 0 &&
	    m->nengines == 0 && m->nworkers == 0;
}

/* The next deadline of the shutdown (ms), or 0 when none. */
long long
shutdown_next(const struct master *m)
{
	if (!m->stopping)
		return 0;
	return m->kill_deadline ? m->kill_deadline : m->stop_deadline;
}

/*
 * workers.c - the UDP workers: one process per UDP listener, forked and
 * reaped by the master, restarted with a growing delay when it keeps
 * dying (inetd's "looping"), replaced on reload only once its successor
 * runs.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "secho/clock.h"
#include "secho/conn.h"
#include "secho/log.h"
#include "secho/master.h"
#include "secho/udp.h"

/* Room for one more pid, before the fork: no worker we cannot reap. */
static int
room(struct master *m)
{
	size_t ncap;
	pid_t *p;

	if (m->nworkers < m->capworkers)
		return 0;
	ncap = m->capworkers ? m->capworkers * 2 : 8;
	if ((p = realloc(m->workers, ncap * sizeof(*p))) == NULL)
		return -1;
	m->workers = p;
	m->capworkers = ncap;
	return 0;
}

/* In the worker: never returns. */
static void
worker_main(struct master *m, struct listener *l, pid_t master)
{
	char err[256];
	int fd = l->l_fd, rc;

	/* Gone with the master, even if it is killed. */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (getppid() != master)
		_exit(1);
	master_forked(&fd, 1);
	if (conn_drop_privileges(&m->gen.g_privs, err, sizeof(err)) == -1) {
		log_errx("UDP worker of %s: %s", l->l_name, err);
		_exit(1);
	}
	conn_signals();
	rc = udp_worker_run(fd, (unsigned)m->gen.g_cfg->udp_rate_per_host,
	    l->l_counters, &conn_stop, &conn_waitmask);
	_exit(rc == 0 ? 0 : 1);
}

/* Fork the worker of l.  0, or -1 (logged; retried in 1 s). */
int
workers_start(struct master *m, struct listener *l)
{
	pid_t pid, master = getpid();

	if (room(m) == -1 || (pid = fork()) == -1) {
		log_err("cannot start the UDP worker of %s", l->l_name);
		l->l_respawn_at = clock_ms() + 1000;
		return -1;
	}
	if (pid == 0)
		worker_main(m, l, master);
	m->workers[m->nworkers++] = pid;
	l->l_worker = pid;
	l->l_worker_started = clock_ms();
	l->l_respawn_at = 0;
	return 0;
}

static void
log_exit_status(const char *what, const char *name, pid_t pid, int status)
{
	if (WIFSIGNALED(status))
		log_warnx("%s %s (%ld) killed by signal %d (%s)", what, name,
		    (long)pid, WTERMSIG(status), strsignal(WTERMSIG(status)));
	else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		log_warnx("%s %s (%ld) exited with status %d", what, name,
		    (long)pid, WEXITSTATUS(status));
}

/* pid ended: 1 when it was a worker (restart planned), 0 if not. */
int
workers_exited(struct master *m, pid_t pid, int status)
{
	long long now = clock_ms(), delay;
	size_t i;

	for (i = 0; i < m->nworkers && m->workers[i] != pid; i++)
		;
	if (i == m->nworkers)
		return 0;
	m->workers[i] = m->workers[--m->nworkers];
	for (i = 0; i < m->ls.ls_count; i++) {
		struct listener *l = &m->ls.ls_items[i];

		if (l->l_worker != pid)
			continue;
		l->l_worker = 0;
		if (m->stopping)
			break;
		log_exit_status("UDP worker of", l->l_name, pid, status);
		delay = restart_delay(&l->l_worker_failures,
		    l->l_worker_started, now);
		log_warnx("restarting the UDP worker of %s in %lld ms",
		    l->l_name, delay);
		l->l_respawn_at = now + (delay ? delay : 1);
		break;
	}
	return 1;	/* or a retired one: done */
}

void
workers_due(struct master *m, long long now)
{
	size_t i;

	for (i = 0; i < m->ls.ls_count; i++) {
		struct listener *l = &m->ls.ls_items[i];

		if (l->l_proto == SECHO_PROTO_UDP && l->l_worker == 0 &&
		    l->l_respawn_at != 0 && now >= l->l_respawn_at)
			(void)workers_start(m, l);
	}
}

/*
 * After a reload: workers of removed listeners stop; each UDP listener
 * gets a worker with the new settings, and its old one stops only once
 * the new one runs (a failed fork leaves the old one serving).
 */
void
workers_reload(struct master *m, struct listener_set *old)
{
	size_t i;
	pid_t prev;

	for (i = 0; i < old->ls_count; i++) {
		struct listener *o = &old->ls_items[i];

		if (o->l_worker > 0)
			kill(o->l_worker, SIGTERM);	/* ours, not reaped */
		if (o->l_counters)
			m->udp_retired += o->l_counters->uc_echoed;
	}
	for (i = 0; i < m->ls.ls_count; i++) {
		struct listener *l = &m->ls.ls_items[i];

		if (l->l_proto != SECHO_PROTO_UDP)
			continue;
		prev = l->l_worker;
		l->l_worker_failures = 0;
		if (workers_start(m, l) == -1) {
			if (prev > 0) {
				l->l_worker = prev;
				l->l_respawn_at = 0;
				log_warnx("the UDP worker of %s keeps serving "
				    "with the settings before the reload",
				    l->l_name);
			}
			continue;
		}
		if (prev > 0)
			kill(prev, SIGTERM);
	}
}

void
workers_signal(struct master *m, int sig)
{
	size_t i;

	for (i = 0; i < m->nworkers; i++)
		kill(m->workers[i], sig);
}

uint64_t
workers_udp_total(const struct master *m)
{
	uint64_t t = m->udp_retired;
	size_t i;

	for (i = 0; i < m->ls.ls_count; i++)
		if (m->ls.ls_items[i].l_counters)
			t += __atomic_load_n(
			    &m->ls.ls_items[i].l_counters->uc_echoed,
			    __ATOMIC_RELAXED);
	return t;
}

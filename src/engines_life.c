/*
 * engines_life.c - the engines' lives, as the master runs them: find
 * secho-tcp, start each engine (secho-tcp by exec, secho-tls and a
 * fallback plain engine as forks of the master), restart one that died
 * with a growing delay, renew secho-tls for a new configuration or new
 * ticket keys, and kill them all when the master must end at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "secho/clock.h"
#include "secho/closefrom.h"
#include "secho/connreq.h"
#include "secho/dtls.h"
#include "secho/engine.h"
#include "secho/log.h"
#include "secho/master.h"
#include "secho/tcp_echo.h"
#include "secho/tls_echo.h"
#include "secho/tlsmem.h"

/* An engine that has not read what waits for so long is logged. */
#define STALL_WARN_MS	5000

#ifndef SECHO_LIBEXECDIR
#define SECHO_LIBEXECDIR "/usr/lib/secho"
#endif

/* ---- start ---- */

static void
log_engine(const struct engine_ref *e, const char *mode)
{
	struct logline ll;

	log_begin(&ll, LOG_DEBUG, "engine");
	log_kv(&ll, "name", engines_name(e));
	log_kvu(&ll, "pid", (unsigned long long)e->en_pid);
	log_kv(&ll, "mode", mode);
	log_end(&ll);
}

/*
 * Where secho-tcp is: $SECHO_TCP_ENGINE when set ("" or "none": fork
 * mode), else beside the running executable (a build tree), else the
 * installed SECHO_LIBEXECDIR/secho-tcp.  1 found, 0 fork mode wanted,
 * -1 none (path then names the last place looked at).
 */
static int
locate(char *path, size_t len)
{
	const char *env = getenv("SECHO_TCP_ENGINE");
	char self[PATH_MAX], *slash;
	ssize_t n;

	if (env != NULL) {
		if (env[0] == '\0' || strcmp(env, "none") == 0)
			return 0;
		snprintf(path, len, "%s", env);
		return access(path, X_OK) == 0 ? 1 : -1;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL) {
			*slash = '\0';
			if ((size_t)snprintf(path, len, "%s/secho-tcp", self) <
			    len && access(path, X_OK) == 0)
				return 1;
		}
	}
	snprintf(path, len, "%s", SECHO_LIBEXECDIR "/secho-tcp");
	return access(path, X_OK) == 0 ? 1 : -1;
}

void
engines_locate(struct master *m)
{
	switch (locate(m->tcp_engine_path, sizeof(m->tcp_engine_path))) {
	case 1:
		return;
	case -1:
		log_warnx("no secho-tcp at %s; plain TCP connections are "
		    "served by a fork of the master", m->tcp_engine_path);
		break;
	}
	m->tcp_engine_path[0] = '\0';
}

/*
 * exec secho-tcp on chan: the child's pid; -1 with errno when the fork
 * failed (try again later), -2 with errno when the exec did (the file is
 * not a program we can run: fork mode from now on).
 */
static pid_t
spawn_exec(struct master *m, int chan)
{
	char master[24];
	char *argv[] = { (char *)"secho-tcp", master,
	    (char *)CONNREQ_PROTOCOL, NULL };
	int ep[2], err, keep[2];
	ssize_t n;
	pid_t pid;

	/* Closed by a successful exec; an errno comes through otherwise. */
	if (pipe2(ep, O_CLOEXEC) == -1)
		return -1;
	snprintf(master, sizeof(master), "%ld", (long)getpid());
	if ((pid = fork()) == -1) {
		err = errno;
		close(ep[0]);
		close(ep[1]);
		errno = err;
		return -1;
	}
	if (pid == 0) {
		/* The channel on ENGINE_CHAN_FD, the error pipe above it. */
		int c = fcntl(chan, F_DUPFD, ENGINE_CHAN_FD + 2);
		int w = fcntl(ep[1], F_DUPFD_CLOEXEC, ENGINE_CHAN_FD + 2);

		if (c == -1 || w == -1 || dup2(c, ENGINE_CHAN_FD) == -1 ||
		    dup3(w, ENGINE_CHAN_FD + 1, O_CLOEXEC) == -1)
			_exit(127);
		keep[0] = ENGINE_CHAN_FD;
		keep[1] = ENGINE_CHAN_FD + 1;
		close_from_except(3, keep, 2);
		/*
		 * The master's signals stay blocked across the exec, so a
		 * "pkill -HUP secho" cannot end it before engine_run() sets
		 * its own mask.
		 */
		execv(m->tcp_engine_path, argv);
		err = errno;
		n = write(ENGINE_CHAN_FD + 1, &err, sizeof(err));
		(void)n;
		_exit(127);
	}
	close(ep[1]);
	do
		n = read(ep[0], &err, sizeof(err));
	while (n == -1 && errno == EINTR);
	close(ep[0]);
	if (n == (ssize_t)sizeof(err)) {
		while (waitpid(pid, NULL, 0) == -1 && errno == EINTR)
			;
		errno = err;
		return -2;
	}
	return pid;
}

/*
 * In a new secho-dtls: the front over the dtls listener sockets of this
 * generation (still open: master_forked() kept them), or exit.
 */
static struct dtls_front *
dtls_front_start(struct master *m)
{
	struct dtls_listen *dl;
	struct dtls_front *f;
	size_t i, n = 0;

	if ((dl = calloc(m->ls.ls_count + 1, sizeof(*dl))) == NULL)
		_exit(1);
	for (i = 0; i < m->ls.ls_count; i++) {
		struct listener *l = &m->ls.ls_items[i];

		if (l->l_proto != SECHO_PROTO_DTLS || l->l_fd < 0)
			continue;
		dl[n].dl_fd = l->l_fd;
		dl[n].dl_index = (unsigned)i;
		dl[n].dl_addr = l->l_addr;
		n++;
	}
	f = dtls_front_new(dl, n, (unsigned)m->gen.g_cfg->udp_rate_per_host);
	free(dl);
	if (f == NULL) {
		log_err("secho-dtls: cannot set up its listeners");
		_exit(1);
	}
	return f;
}

/* Fork an engine of ours on chan; the child's pid, or -1 with errno. */
static pid_t
spawn_fork(struct master *m, int proto, int chan)
{
	static struct tls_echo_set set;
	struct conn_proto cp;
	int *keep;
	size_t nkeep = 1, i;
	pid_t pid, master = getpid();

	if ((pid = fork()) != 0)
		return pid;
	prctl(PR_SET_NAME, engines_proto_name(proto), 0, 0, 0);
	/*
	 * A TLS engine keeps the key log files, for its connections; the
	 * DTLS engine its listener sockets too.
	 */
	if ((keep = calloc(1 + TLS_KEYLOG_MAX + m->ls.ls_count,
	    sizeof(*keep))) == NULL)
		_exit(1);
	keep[0] = chan;
	if (config_proto_is_tls(proto))
		nkeep += tls_keylogs_fds(&m->gen.g_keylogs, keep + 1,
		    TLS_KEYLOG_MAX);
	for (i = 0; proto == SECHO_PROTO_DTLS && i < m->ls.ls_count; i++)
		if (m->ls.ls_items[i].l_proto == SECHO_PROTO_DTLS &&
		    m->ls.ls_items[i].l_fd >= 0)
			keep[nkeep++] = m->ls.ls_items[i].l_fd;
	master_forked(keep, nkeep);
	free(keep);
	/*
	 * The channel below ENGINE_FD_BASE, where the engine wants its own
	 * descriptors (a master with many listeners had it higher).
	 */
	if (chan >= ENGINE_FD_BASE) {
		int low = fcntl(chan, F_DUPFD_CLOEXEC, 3);

		if (low == -1 || low >= ENGINE_FD_BASE)
			_exit(1);
		close(chan);
		chan = low;
	}
	memset(&cp, 0, sizeof(cp));
	if (config_proto_is_tls(proto)) {
		/* The contexts of this generation, built before the fork. */
		set.tes_servers = m->gen.g_tls;
		set.tes_count = m->gen.g_cfg->nlisteners;
		/* Below ENGINE_FD_BASE: each connection keeps them. */
		tls_keylogs_lower(&m->gen.g_keylogs, set.tes_servers,
		    set.tes_count);
		cp.cp_gen = m->gen.g_serial;
		cp.cp_start = tlsmem_child;
		cp.cp_serve = tls_echo_serve;
		cp.cp_arg = &set;
		if (proto == SECHO_PROTO_DTLS) {
			cp.cp_serve = dtls_echo_serve;
			cp.cp_front = &dtls_front_ops;
			cp.cp_front_arg = dtls_front_start(m);
		}
	} else
		cp.cp_serve = tcp_echo_serve;
	_exit(engine_run(chan, master, &cp));
}

/*
 * Start the current engine of proto.  The plain one is secho-tcp when
 * there is one (a fork from it costs half as much), else a fork of ours;
 * the TLS one is always a fork of ours, inheriting this generation's
 * contexts and ticket keys.  0, or -1 with errno (logged by the caller).
 */
int
engines_start(struct master *m, int proto)
{
	struct engine_ref *e, *n;
	int sv[2], fl, exec = 0, saved;
	pid_t pid = -1;

	if (m->nengines % 8 == 0) {
		n = realloc(m->engines, (m->nengines + 8) * sizeof(*n));
		if (n == NULL)
			return -1;
		m->engines = n;
	}
	/* SEQPACKET: one message at a time, its descriptor with it. */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1)
		return -1;
	if (proto == SECHO_PROTO_TCP && m->tcp_engine_path[0] != '\0') {
		/* A fork that failed (-1) is tried again later, as is. */
		if ((pid = spawn_exec(m, sv[1])) > 0)
			exec = 1;
		else if (pid == -2) {
			log_warn("cannot run %s; plain TCP connections are "
			    "served by a fork of the master",
			    m->tcp_engine_path);
			m->tcp_engine_path[0] = '\0';
		}
	}
	if (!exec && (pid == -2 || m->tcp_engine_path[0] == '\0' ||
	    proto != SECHO_PROTO_TCP))
		pid = spawn_fork(m, proto, sv[1]);
	saved = errno;
	close(sv[1]);
	if (pid == -1 || (fl = fcntl(sv[0], F_GETFL)) == -1 ||
	    fcntl(sv[0], F_SETFL, fl | O_NONBLOCK) == -1) {
		if (pid == -1)
			errno = saved;
		else
			kill(pid, SIGKILL);	/* the reaper collects it */
		close(sv[0]);
		return -1;
	}
	e = &m->engines[m->nengines++];
	memset(e, 0, sizeof(*e));
	e->en_serial = ++m->engine_serial;
	e->en_proto = proto;
	e->en_pid = pid;
	e->en_fd = sv[0];
	e->en_exec = exec;
	e->en_started = clock_ms();
	engines_kind(m, proto)->ek_respawn_at = 0;
	log_engine(e, exec ? m->tcp_engine_path : "fork");
	return 0;
}

/* Engines whose restart is due, and those a listener needs. */
void
engines_due(struct master *m, long long now)
{
	static const int protos[] = { SECHO_PROTO_TCP, SECHO_PROTO_TLS,
	    SECHO_PROTO_DTLS };
	struct engine_kind *k;
	size_t i, j;
	int need;

	if (m->stopping)
		return;
	/* Not silent: an engine that has not read from us for long. */
	for (i = 0; i < m->nengines; i++) {
		struct engine_ref *e = &m->engines[i];

		if (e->en_out != NULL && !e->en_stall_warned &&
		    now - e->en_out_since >= STALL_WARN_MS) {
			e->en_stall_warned = 1;
			log_warnx("%s %ld has not read from the master for %d "
			    "s; its new connections wait", engines_name(e),
			    (long)e->en_pid, STALL_WARN_MS / 1000);
		}
	}
	for (j = 0; j < sizeof(protos) / sizeof(protos[0]); j++) {
		k = engines_kind(m, protos[j]);
		need = engines_needed(m, protos[j]);
		if (!need || engines_current(m, protos[j]) != NULL) {
			k->ek_respawn_at = 0;	/* nothing is due */
			continue;
		}
		if (k->ek_respawn_at != 0 && now < k->ek_respawn_at)
			continue;
		if (engines_start(m, protos[j]) == -1) {
			log_warn("cannot start %s; trying again in 1 s",
			    engines_proto_name(protos[j]));
			k->ek_respawn_at = now + 1000;
		}
	}
}

/* The end, without ceremony (master_fatal): our children die at once. */
void
engines_kill_all(struct master *m)
{
	size_t i;

	for (i = 0; i < m->nengines; i++)
		kill(m->engines[i].en_pid, SIGKILL);
}

int
engines_needed(const struct master *m, int proto)
{
	size_t i;

	for (i = 0; i < m->ls.ls_count; i++)
		if (m->ls.ls_items[i].l_proto == proto)
			return 1;
	return 0;
}

/*
 * A new engine of proto (TLS or DTLS) for the generation in force; the
 * one before takes no more connections and ends with its last one.
 * After a reload the one before has the contexts of another
 * configuration (its listeners are not this one's): it stops taking
 * connections before the new one runs, and clients wait (in the backlog,
 * or retransmitting) if it cannot start.  After a key rotation
 * (same_generation) it serves until its successor runs -- but a DTLS
 * engine owns its listener sockets: two would share their datagrams, so
 * the old one drains first there too.
 */
void
engines_renew(struct master *m, int proto, int same_generation)
{
	struct engine_ref *e = engines_current(m, proto);
	unsigned old = e != NULL ? e->en_serial : 0;
	int need = engines_needed(m, proto);

	if (e != NULL && (!same_generation || !need ||
	    proto == SECHO_PROTO_DTLS))
		engines_drain(m, e);
	if (!need)
		return;
	if (engines_start(m, proto) == -1) {
		log_warn("cannot start %s; trying again in 1 s",
		    engines_proto_name(proto));
		/* The old secho-tls serves on with the old keys meanwhile. */
		if (proto == SECHO_PROTO_TLS && same_generation && e != NULL)
			m->tls_renew_at = clock_ms() + 1000;
		else
			engines_kind(m, proto)->ek_respawn_at = clock_ms() + 1000;
		return;
	}
	if (proto == SECHO_PROTO_TLS)
		m->tls_renew_at = 0;
	if (old != 0 && (e = engines_by_serial(m, old)) != NULL)
		engines_drain(m, e);
}

void
engines_renew_tls(struct master *m, int same_generation)
{
	engines_renew(m, SECHO_PROTO_TLS, same_generation);
	engines_renew(m, SECHO_PROTO_DTLS, same_generation);
}

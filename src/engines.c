/*
 * engines.c - the master's side of the engines (engine.h): start them
 * (secho-tcp by exec, the TLS engine and a fallback plain one as forks
 * of the master), hand them connections, read what they report, and
 * restart one that dies.  Each engine's channel carries everything about
 * its connections, in order; the master never signals a connection's
 * process, only its own children, the engines.
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
#include "secho/conntab.h"
#include "secho/engine.h"
#include "secho/log.h"
#include "secho/master.h"
#include "secho/msg.h"
#include "secho/tcp_echo.h"
#include "secho/tls_echo.h"
#include "secho/tlsmem.h"

#ifndef SECHO_LIBEXECDIR
#define SECHO_LIBEXECDIR "/usr/lib/secho"
#endif

/* A message that found the channel full. */
struct pending {
	struct pending	*p_next;
	uint32_t	 p_type;
	uint64_t	 p_id;
	int		 p_fd;		/* passed with it, or -1 */
	size_t		 p_len;
	char		 p_payload[];
};

static const char *
engine_name(const struct engine_ref *e)
{
	return e->en_proto == SECHO_PROTO_TLS ? "secho-tls" : "secho-tcp";
}

static struct engine_kind *
kind_of(struct master *m, int proto)
{
	return proto == SECHO_PROTO_TLS ? &m->kind_tls : &m->kind_tcp;
}

struct engine_ref *
engines_current(struct master *m, int proto)
{
	size_t i;

	for (i = 0; i < m->nengines; i++)
		if (m->engines[i].en_proto == proto &&
		    !m->engines[i].en_draining)
			return &m->engines[i];
	return NULL;
}

/* Can it take a connection now (running, nothing waiting)? */
int
engines_ready(struct master *m, int proto)
{
	struct engine_ref *e = engines_current(m, proto);

	return e != NULL && e->en_out == NULL;
}

/* ---- start ---- */

static void
log_engine(const struct engine_ref *e, const char *mode)
{
	struct logline ll;

	log_begin(&ll, LOG_DEBUG, "engine");
	log_kv(&ll, "name", engine_name(e));
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

/* exec secho-tcp on chan; the child's pid, or -1 with errno. */
static pid_t
spawn_exec(struct master *m, int chan)
{
	char master[24];
	char *argv[] = { (char *)"secho-tcp", master,
	    (char *)CONNREQ_PROTOCOL, NULL };
	int ep[2], err, keep[2];
	sigset_t none;
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
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
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
		return -1;
	}
	return pid;
}

/* Fork an engine of ours on chan; the child's pid, or -1 with errno. */
static pid_t
spawn_fork(struct master *m, int proto, int chan)
{
	static struct tls_echo_set set;
	struct conn_proto cp;
	int keep[1 + TLS_KEYLOG_MAX];
	size_t nkeep = 1;
	pid_t pid, master = getpid();

	if ((pid = fork()) != 0)
		return pid;
	/* The TLS engine keeps the key log files, for its connections. */
	keep[0] = chan;
	if (proto == SECHO_PROTO_TLS)
		nkeep += tls_keylogs_fds(&m->gen.g_keylogs, keep + 1,
		    TLS_KEYLOG_MAX);
	master_forked(keep, nkeep);
	prctl(PR_SET_NAME, proto == SECHO_PROTO_TLS ? "secho-tls" :
	    "secho-tcp", 0, 0, 0);
	memset(&cp, 0, sizeof(cp));
	if (proto == SECHO_PROTO_TLS) {
		/* The contexts of this generation, built before the fork. */
		set.tes_servers = m->gen.g_tls;
		set.tes_count = m->gen.g_cfg->nlisteners;
		/* Below ENGINE_FD_BASE: each connection keeps them. */
		tls_keylogs_lower(&m->gen.g_keylogs, set.tes_servers,
		    set.tes_count);
		cp.cp_start = tlsmem_child;
		cp.cp_serve = tls_echo_serve;
		cp.cp_arg = &set;
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
		if ((pid = spawn_exec(m, sv[1])) != -1)
			exec = 1;
		else {
			log_warn("cannot run %s; plain TCP connections are "
			    "served by a fork of the master",
			    m->tcp_engine_path);
			m->tcp_engine_path[0] = '\0';
		}
	}
	if (pid == -1)
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
	e->en_out_tail = &e->en_out;
	kind_of(m, proto)->ek_respawn_at = 0;
	log_engine(e, exec ? m->tcp_engine_path : "fork");
	return 0;
}

/* ---- to an engine ---- */

static void
queue(struct engine_ref *e, uint32_t type, uint64_t id, const void *p,
    size_t len, int fd)
{
	struct pending *q = malloc(sizeof(*q) + len);

	if (q == NULL) {
		/* A lost message would leave a connection counted for good:
		 * inconsistency is fatal. */
		log_errx("out of memory for a message to %s %ld",
		    engine_name(e), (long)e->en_pid);
		abort();
	}
	q->p_next = NULL;
	q->p_type = type;
	q->p_id = id;
	q->p_fd = fd;
	q->p_len = len;
	memcpy(q->p_payload, p, len);
	*e->en_out_tail = q;
	e->en_out_tail = &q->p_next;
}

/*
 * Send in order: at once when nothing waits, else behind what waits.
 * fd, when not -1, is the engine's from now on (sent or queued).
 */
static void
send_msg(struct engine_ref *e, uint32_t type, uint64_t id, const void *p,
    size_t len, int fd)
{
	if (e->en_out == NULL && msg_send(e->en_fd, type, id, p, len, fd) == 0) {
		if (fd != -1)
			close(fd);
		return;
	}
	if (e->en_out == NULL && errno != EAGAIN && errno != EWOULDBLOCK &&
	    errno != ENOBUFS) {
		/* The engine is gone; its death tells the rest. */
		if (fd != -1)
			close(fd);
		return;
	}
	queue(e, type, id, p, len, fd);
}

void
engines_flush(struct master *m, struct engine_ref *e)
{
	struct pending *q;

	while ((q = e->en_out) != NULL) {
		if (msg_send(e->en_fd, q->p_type, q->p_id, q->p_payload,
		    q->p_len, q->p_fd) == -1 && (errno == EAGAIN ||
		    errno == EWOULDBLOCK || errno == ENOBUFS))
			return;
		/* Sent, or the engine is gone: either way it is done. */
		if (q->p_fd != -1)
			close(q->p_fd);
		e->en_out = q->p_next;
		free(q);
	}
	e->en_out_tail = &e->en_out;
}

void
engines_send(struct master *m, struct engine_ref *e, uint32_t type,
    uint64_t id, int32_t value)
{
	send_msg(e, type, id, &value, sizeof(value), -1);
}

int
engines_send_conn(struct master *m, struct engine_ref *e,
    const struct listener *l, uint64_t id, const struct sockaddr *peer,
    int fd)
{
	static union {
		char		b[MSG_MAX];
		uint64_t	align;
	} buf;
	const struct listener_config *lc = l->l_cfg;
	const struct secho_config *cfg = m->gen.g_cfg;
	struct conn_req r;
	size_t len;

	memset(&r, 0, sizeof(r));
	memcpy(&r.cr_peer, peer, peer->sa_family == AF_INET ?
	    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
	r.cr_proto = l->l_proto;
	r.cr_listener = (unsigned)(lc - cfg->listeners);
	r.cr_idle_ms = cfg->idle_timeout * 1000;
	r.cr_handshake_ms = cfg->handshake_timeout * 1000;
	r.cr_proxy = lc->lc_proxy_protocol;
	r.cr_log_facility = cfg->log_facility;
	r.cr_log_level = cfg->log_level;
	r.cr_log_stderr = master_log_stderr_wanted(m);
	r.cr_drop = m->gen.g_privs.pv_drop;
	r.cr_uid = m->gen.g_privs.pv_uid;
	r.cr_gid = m->gen.g_privs.pv_gid;
	r.cr_chroot = m->gen.g_privs.pv_chroot;
	r.cr_name = l->l_name;
	r.cr_ident = cfg->log_ident ? cfg->log_ident : "secho";
	r.cr_allow = lc->lc_allow;
	r.cr_deny = lc->lc_deny;
	if ((len = connreq_encode(&r, buf.b, sizeof(buf.b))) == 0) {
		errno = EMSGSIZE;
		return -1;
	}
	send_msg(e, MSG_CONN, id, buf.b, len, fd);
	return 0;
}

void
engines_drain(struct master *m, struct engine_ref *e)
{
	if (e->en_draining)
		return;
	e->en_draining = 1;
	send_msg(e, MSG_DRAIN, 0, NULL, 0, -1);
}

/* ---- from an engine ---- */

/*
 * An engine that says what cannot be (a connection that is not its own,
 * a malformed message) is not guessed about: it is killed, its processes
 * die with it, and it is started again.
 */
static void
engine_broken(struct master *m, struct engine_ref *e, const char *what,
    uint64_t id)
{
	if (e->en_killed)
		return;
	e->en_killed = 1;
	log_errx("%s %ld: %s (connection %llu); restarting it",
	    engine_name(e), (long)e->en_pid, what, (unsigned long long)id);
	kill(e->en_pid, SIGKILL);	/* our child, not reaped yet */
}

static void
handle(struct master *m, struct engine_ref *e, const struct msg_hdr *h,
    const void *p)
{
	struct sockaddr_storage ss;
	struct conn_entry *c;
	int32_t v = 0;

	c = conntab_get(m->conns, h->mh_id);
	if (c == NULL || c->ce_engine != e->en_serial) {
		engine_broken(m, e, "a message about a connection it does "
		    "not serve", h->mh_id);
		return;
	}
	switch (h->mh_type) {
	case MSG_STARTED:
	case MSG_NOT_STARTED:
	case MSG_ENDED:
		if (h->mh_len != sizeof(v))
			goto bad;
		memcpy(&v, p, sizeof(v));
		break;
	case MSG_PEER:
	case MSG_ACCESS:
		if (h->mh_len != sizeof(ss))
			goto bad;
		memcpy(&ss, p, sizeof(ss));
		if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)
			goto bad;
		break;
	default:
		goto bad;
	}
	switch (h->mh_type) {
	case MSG_STARTED:
		c->ce_pid = (pid_t)v;
		if (c->ce_proto == SECHO_PROTO_TLS)
			m->tls_total++;
		else
			m->tcp_total++;
		break;
	case MSG_NOT_STARTED:
		policy_not_started(m, c->ce_proto,
		    (struct sockaddr *)&c->ce_peer, v);
		conntab_remove(m->conns, c);
		break;
	case MSG_ENDED:
		conntab_remove(m->conns, c);
		break;
	case MSG_PEER:
		engines_send(m, e, MSG_VERDICT, h->mh_id,
		    policy_proxy_peer(m, h->mh_id, &ss));
		break;
	case MSG_ACCESS:
		m->refused_total++;	/* the process logged it */
		break;
	}
	return;
bad:
	engine_broken(m, e, "a malformed message", h->mh_id);
}

/* Returns how many messages were read (a batch: call again at 256). */
int
engines_read(struct master *m, struct engine_ref *e)
{
	static union {
		char		b[MSG_MAX];
		struct msg_hdr	align;
	} buf;
	struct msg_hdr h;
	int fd, r, n;

	/* A bounded batch: the listeners get their turn too. */
	for (n = 0; n < 256; n++) {
		r = msg_recv(e->en_fd, buf.b, sizeof(buf.b), &h, &fd);
		if (r == 1 && e->en_killed) {
			if (fd != -1)
				close(fd);
			continue;	/* its death settles everything */
		}
		if (r == 1) {
			if (fd != -1) {
				close(fd);
				engine_broken(m, e, "a descriptor", h.mh_id);
				continue;
			}
			handle(m, e, &h, msg_payload(buf.b));
			continue;
		}
		if (r == -1 && errno == EBADMSG) {
			engine_broken(m, e, "a malformed message", 0);
			continue;
		}
		/* Nothing more now, or its end: its death is reaped. */
		break;
	}
	return n;
}

/* ---- death and restarts ---- */

int
engines_exited(struct master *m, pid_t pid, int status)
{
	struct engine_ref *e;
	struct pending *q;
	size_t i, lost;
	long long now = clock_ms(), delay, started;
	int current, proto, ex;

	for (i = 0; i < m->nengines && m->engines[i].en_pid != pid; i++)
		;
	if (i == m->nengines)
		return 0;
	e = &m->engines[i];
	proto = e->en_proto;
	started = e->en_started;
	current = !e->en_draining;
	ex = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	/* Its last words are in the channel still: ends, mostly. */
	while (engines_read(m, e) == 256)
		;
	lost = conntab_remove_engine(m->conns, e->en_serial);
	if (!m->stopping && (lost > 0 || current || ex != 0)) {
		if (WIFSIGNALED(status))
			log_warnx("%s %ld killed by signal %d (%s); its %zu "
			    "connection(s) ended with it", engine_name(e),
			    (long)pid, WTERMSIG(status),
			    strsignal(WTERMSIG(status)), lost);
		else
			log_warnx("%s %ld exited with status %d; its %zu "
			    "connection(s) ended with it", engine_name(e),
			    (long)pid, ex, lost);
	}
	while ((q = e->en_out) != NULL) {
		if (q->p_fd != -1)
			close(q->p_fd);
		e->en_out = q->p_next;
		free(q);
	}
	close(e->en_fd);
	if (e->en_exec && ex == 65)
		m->tcp_engine_path[0] = '\0';	/* another build's: fork */
	m->engines[i] = m->engines[--m->nengines];
	if (!current || m->stopping)
		return 1;
	delay = restart_delay(&kind_of(m, proto)->ek_failures, started, now);
	kind_of(m, proto)->ek_respawn_at = now + (delay ? delay : 1);
	log_warnx("restarting %s in %lld ms", proto == SECHO_PROTO_TLS ?
	    "secho-tls" : "secho-tcp", delay);
	return 1;
}

/* Engines whose restart is due, and those a listener needs. */
void
engines_due(struct master *m, long long now)
{
	static const int protos[] = { SECHO_PROTO_TCP, SECHO_PROTO_TLS };
	struct engine_kind *k;
	size_t i, j;
	int need;

	if (m->stopping)
		return;
	for (j = 0; j < 2; j++) {
		k = kind_of(m, protos[j]);
		for (i = need = 0; i < m->ls.ls_count; i++)
			need |= m->ls.ls_items[i].l_proto == protos[j];
		if (!need || engines_current(m, protos[j]) != NULL ||
		    (k->ek_respawn_at != 0 && now < k->ek_respawn_at))
			continue;
		if (engines_start(m, protos[j]) == -1) {
			log_warn("cannot start %s; trying again in 1 s",
			    protos[j] == SECHO_PROTO_TLS ? "secho-tls" :
			    "secho-tcp");
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

void
engines_free(struct master *m)
{
	struct pending *q;
	size_t i;

	for (i = 0; i < m->nengines; i++) {
		while ((q = m->engines[i].en_out) != NULL) {
			if (q->p_fd != -1)
				close(q->p_fd);
			m->engines[i].en_out = q->p_next;
			free(q);
		}
		if (m->engines[i].en_fd != -1)
			close(m->engines[i].en_fd);
	}
	free(m->engines);
	m->engines = NULL;
	m->nengines = 0;
}

/*
 * A new TLS engine for the generation in force (reload, new ticket
 * keys); the one before takes no more connections and ends with its
 * last one.
 */
void
engines_renew_tls(struct master *m)
{
	struct engine_ref *e = engines_current(m, SECHO_PROTO_TLS);
	size_t i;
	int tls = 0;

	if (e != NULL)
		engines_drain(m, e);
	for (i = 0; i < m->ls.ls_count; i++)
		tls |= m->ls.ls_items[i].l_proto == SECHO_PROTO_TLS;
	if (tls && engines_start(m, SECHO_PROTO_TLS) == -1) {
		log_warn("cannot start secho-tls; trying again in 1 s");
		m->kind_tls.ek_respawn_at = clock_ms() + 1000;
	}
}

/*
 * engines.c - the master's side of the engines' channels (engine.h):
 * hand them connections and verdicts in order (an outbox when a channel
 * is full), read what they report, and settle an engine's connections
 * when it dies.  The master never signals a connection's process, only
 * its own children, the engines (engines_life.c starts them).
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "secho/clock.h"
#include "secho/connreq.h"
#include "secho/conntab.h"
#include "secho/log.h"
#include "secho/master.h"
#include "secho/msg.h"

/* A message that found the channel full. */
struct pending {
	struct pending	*p_next;
	uint32_t	 p_type;
	uint64_t	 p_id;
	int		 p_fd;		/* passed with it, or -1 */
	size_t		 p_len;
	char		 p_payload[];
};

const char *
engines_proto_name(int proto)
{
	return proto == SECHO_PROTO_TLS ? "secho-tls" :
	    proto == SECHO_PROTO_DTLS ? "secho-dtls" : "secho-tcp";
}

const char *
engines_name(const struct engine_ref *e)
{
	return engines_proto_name(e->en_proto);
}

struct engine_kind *
engines_kind(struct master *m, int proto)
{
	return proto == SECHO_PROTO_TLS ? &m->kind_tls :
	    proto == SECHO_PROTO_DTLS ? &m->kind_dtls : &m->kind_tcp;
}

struct engine_ref *
engines_current(struct master *m, int proto)
{
	size_t i;

	for (i = 0; i < m->nengines; i++)
		if (m->engines[i].en_proto == proto &&
		    !m->engines[i].en_draining && !m->engines[i].en_killed)
			return &m->engines[i];
	return NULL;
}

struct engine_ref *
engines_by_serial(struct master *m, unsigned serial)
{
	size_t i;

	for (i = 0; i < m->nengines; i++)
		if (m->engines[i].en_serial == serial)
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

/* ---- to an engine ---- */

static void engine_broken(struct master *m, struct engine_ref *e,
    const char *what, uint64_t id);

static void
drop_out(struct engine_ref *e)
{
	struct pending *q;

	while ((q = e->en_out) != NULL) {
		if (q->p_fd != -1)
			close(q->p_fd);
		e->en_out = q->p_next;
		free(q);
	}
	e->en_out_last = NULL;
}

static void
queue(struct engine_ref *e, uint32_t type, uint64_t id, const void *p,
    size_t len, int fd)
{
	struct pending *q = malloc(sizeof(*q) + len);

	if (q == NULL) {
		/* A lost message would leave a connection counted for good:
		 * inconsistency is fatal. */
		log_errx("out of memory for a message to %s %ld",
		    engines_name(e), (long)e->en_pid);
		abort();
	}
	q->p_next = NULL;
	q->p_type = type;
	q->p_id = id;
	q->p_fd = fd;
	q->p_len = len;
	if (len > 0)
		memcpy(q->p_payload, p, len);
	if (e->en_out_last != NULL)
		e->en_out_last->p_next = q;
	else {
		e->en_out = q;
		e->en_out_since = clock_ms();
	}
	e->en_out_last = q;
}

static int
full(int err)
{
	return err == EAGAIN || err == EWOULDBLOCK || err == ENOBUFS;
}

/*
 * Send in order: at once when nothing waits, else behind what waits.
 * fd, when not -1, is the engine's from now on.  A channel that refuses
 * a message for another reason than being full loses it: the engine is
 * not trusted with more and is killed, and its death settles every
 * connection it had.
 */
static void
send_msg(struct master *m, struct engine_ref *e, uint32_t type,
    uint64_t id, const void *p, size_t len, int fd)
{
	/* Killed, or gone (its last words being read): nobody listens. */
	if (e->en_killed || e->en_reaped) {
		if (fd != -1)
			close(fd);
		return;
	}
	if (e->en_out == NULL && msg_send(e->en_fd, type, id, p, len, fd) == 0) {
		if (fd != -1)
			close(fd);
		return;
	}
	if (e->en_out == NULL && !full(errno)) {
		if (fd != -1)
			close(fd);
		engine_broken(m, e, "its channel refused a message", id);
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
		    q->p_len, q->p_fd) == -1) {
			if (full(errno))
				return;
			engine_broken(m, e, "its channel refused a message",
			    q->p_id);
			drop_out(e);
			return;
		}
		if (q->p_fd != -1)
			close(q->p_fd);
		e->en_out = q->p_next;
		free(q);
	}
	e->en_out_last = NULL;
	e->en_stall_warned = 0;
}

void
engines_send(struct master *m, struct engine_ref *e, uint32_t type,
    uint64_t id, int32_t value)
{
	send_msg(m, e, type, id, &value, sizeof(value), -1);
}

void
engines_send_raw(struct master *m, struct engine_ref *e, uint32_t type,
    uint64_t id, const void *p, size_t len)
{
	send_msg(m, e, type, id, p, len, -1);
}

/*
 * A request for connection id of listener l as type, with fd, after
 * prefix (plen bytes, a multiple of 8: the request stays aligned).
 */
static int
send_req(struct master *m, struct engine_ref *e, uint32_t type,
    const struct listener *l, uint64_t id, const struct sockaddr *peer,
    int fd, long long accepted_ms, const void *prefix, size_t plen)
{
	static union {
		char		b[MSG_MAX - sizeof(struct msg_hdr)];
		uint64_t	align;
	} buf;
	const struct listener_config *lc = l->l_cfg;
	const struct secho_config *cfg = m->gen.g_cfg;
	struct conn_req r;
	char ident[64];
	size_t len;

	memset(&r, 0, sizeof(r));
	memcpy(&r.cr_peer, peer, peer->sa_family == AF_INET ?
	    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
	r.cr_proto = l->l_proto;
	r.cr_gen = m->gen.g_serial;
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
	/* log.c keeps 63 bytes of it; so does the request (bounded size). */
	snprintf(ident, sizeof(ident), "%s", cfg->log_ident ? cfg->log_ident :
	    "secho");
	r.cr_ident = ident;
	/* The real peer's lists, for the process behind PROXY only. */
	if (lc->lc_proxy_protocol) {
		r.cr_allow = lc->lc_allow;
		r.cr_deny = lc->lc_deny;
	}
	r.cr_accepted_ms = accepted_ms;
	if (plen > 0)
		memcpy(buf.b, prefix, plen);
	if ((len = connreq_encode(&r, buf.b + plen, sizeof(buf.b) - plen)) ==
	    0) {
		errno = EMSGSIZE;	/* lists <= 2000, ident <= 63, a path:
					   it cannot be */
		return -1;
	}
	send_msg(m, e, type, id, buf.b, plen + len, fd);
	return 0;
}

int
engines_send_conn(struct master *m, struct engine_ref *e,
    const struct listener *l, uint64_t id, const struct sockaddr *peer,
    int fd, long long accepted_ms)
{
	return send_req(m, e, MSG_CONN, l, id, peer, fd, accepted_ms, NULL, 0);
}

int
engines_send_admitted(struct master *m, struct engine_ref *e,
    const struct listener *l, uint64_t id, const struct sockaddr *peer,
    uint64_t token)
{
	return send_req(m, e, MSG_ADMITTED, l, id, peer, -1, clock_ms(),
	    &token, sizeof(token));
}

void
engines_drain(struct master *m, struct engine_ref *e)
{
	if (e->en_draining)
		return;
	e->en_draining = 1;
	send_msg(m, e, MSG_DRAIN, 0, NULL, 0, -1);
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
	    engines_name(e), (long)e->en_pid, what, (unsigned long long)id);
	if (!e->en_reaped)
		kill(e->en_pid, SIGKILL);	/* our child, not reaped yet */
}

static void
handle(struct master *m, struct engine_ref *e, const struct msg_hdr *h,
    const void *p)
{
	struct sockaddr_storage ss;
	struct conn_entry *c;
	int32_t v = 0;

	/* A question about a peer that is no connection yet. */
	if (h->mh_type == MSG_ADMIT && h->mh_id == 0 &&
	    e->en_proto == SECHO_PROTO_DTLS) {
		policy_admit(m, e, p, h->mh_len);
		return;
	}
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
		/* Its pid is the engine's business: only counted here. */
		if (c->ce_proto == SECHO_PROTO_TLS)
			m->tls_total++;
		else if (c->ce_proto == SECHO_PROTO_DTLS)
			m->dtls_total++;
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
		/*
		 * ECONNRESET: an engine that ended with a message of ours
		 * unread; what it sent before is still to be read.
		 */
		if (r == -1 && errno == ECONNRESET)
			continue;
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
	/*
	 * Its last words are in the channel still: ends, mostly.  It is
	 * reaped: whatever they say, it gets no signal (its pid may be
	 * another process's already).
	 */
	e->en_reaped = 1;
	while (engines_read(m, e) == 256)
		;
	lost = conntab_remove_engine(m->conns, e->en_serial);
	if (!m->stopping && (lost > 0 || current || ex != 0)) {
		if (WIFSIGNALED(status))
			log_warnx("%s %ld killed by signal %d (%s); its %zu "
			    "connection(s) ended with it", engines_name(e),
			    (long)pid, WTERMSIG(status),
			    strsignal(WTERMSIG(status)), lost);
		else
			log_warnx("%s %ld exited with status %d; its %zu "
			    "connection(s) ended with it", engines_name(e),
			    (long)pid, ex, lost);
	}
	drop_out(e);
	close(e->en_fd);
	if (e->en_exec && ex == 65)
		m->tcp_engine_path[0] = '\0';	/* another build's: fork */
	m->engines[i] = m->engines[--m->nengines];
	if (!current || m->stopping)
		return 1;
	delay = restart_delay(&engines_kind(m, proto)->ek_failures, started, now);
	engines_kind(m, proto)->ek_respawn_at = now + (delay ? delay : 1);
	log_warnx("restarting %s in %lld ms", engines_proto_name(proto),
	    delay);
	return 1;
}

void
engines_free(struct master *m)
{
	size_t i;

	for (i = 0; i < m->nengines; i++) {
		drop_out(&m->engines[i]);
		if (m->engines[i].en_fd != -1)
			close(m->engines[i].en_fd);
	}
	free(m->engines);
	m->engines = NULL;
	m->nengines = 0;
}

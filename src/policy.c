/*
 * policy.c - the master's accept policy: take each waiting connection,
 * apply the listener's access lists and the limits (max_connections,
 * max_connections_per_host), give it an id and hand it to its engine;
 * refuse the rest at once.  Also the verdict on a PROXY peer, and the
 * log lines that could come in floods (refusals, processes that could not
 * be created), at most REFUSE_LOG_RATE a second with suppressed=N.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <unistd.h>

#include "secho/addr.h"
#include "secho/clock.h"
#include "secho/conntab.h"
#include "secho/dtls.h"
#include "secho/log.h"
#include "secho/master.h"
#include "secho/msg.h"

#define ACCEPT_BATCH	64
#define REFUSE_LOG_RATE	20	/* lines a second, then summed */

/* May a line go out now?  1, or 0 when it is only counted. */
static int
ratelog_pass(struct ratelog *r)
{
	long long now = clock_ms();

	if (now - r->rl_window >= 1000) {
		r->rl_window = now;
		r->rl_lines = 0;
	}
	if (r->rl_lines >= REFUSE_LOG_RATE) {
		r->rl_suppressed++;
		return 0;
	}
	r->rl_lines++;
	return 1;
}

static void
ratelog_end(struct ratelog *r, struct logline *ll)
{
	if (r->rl_suppressed) {
		log_kvu(ll, "suppressed", r->rl_suppressed);
		r->rl_suppressed = 0;
	}
	log_end(ll);
}

void
policy_refused(struct master *m, int proto, const struct sockaddr *peer,
    const char *reason)
{
	struct logline ll;
	char name[ADDR_STRLEN];

	m->refused_total++;
	if (!ratelog_pass(&m->refuse_log))
		return;
	log_begin(&ll, LOG_WARNING, "refused");
	log_kv(&ll, "proto", config_proto_name(proto));
	log_kv(&ll, "peer", addr_format(peer, name, sizeof(name)));
	log_kv(&ll, "reason", reason);
	ratelog_end(&m->refuse_log, &ll);
}

void
policy_not_started(struct master *m, int proto, const struct sockaddr *peer,
    int err)
{
	struct logline ll;
	char name[ADDR_STRLEN];

	if (!ratelog_pass(&m->fail_log))
		return;
	log_begin(&ll, LOG_WARNING, "not-served");
	log_kv(&ll, "proto", config_proto_name(proto));
	log_kv(&ll, "peer", addr_format(peer, name, sizeof(name)));
	log_kv(&ll, "error", strerror(err));
	ratelog_end(&m->fail_log, &ll);
}

const char *
policy_check(struct master *m, const struct listener *l,
    const struct sockaddr *peer)
{
	const struct listener_config *lc = l->l_cfg;
	unsigned char host[16];

	/*
	 * Behind PROXY the socket's peer is the balancer: the access lists
	 * and the per-host limit wait for the real peer (MSG_PEER).
	 */
	if (!lc->lc_proxy_protocol &&
	    !addr_access_allowed(&lc->lc_allow, &lc->lc_deny, peer))
		return "access";
	if (conntab_count(m->conns) >= (size_t)m->gen.g_cfg->max_connections)
		return "max-connections";
	addr_host_key(peer, host);
	if (!lc->lc_proxy_protocol && conntab_host_count(m->conns, host) >=
	    (unsigned)m->gen.g_cfg->max_per_host)
		return "max-per-host";
	return NULL;
}

int
policy_proxy_peer(struct master *m, uint64_t id,
    const struct sockaddr_storage *peer)
{
	struct conn_entry *c = conntab_get(m->conns, id);
	unsigned char host[16];

	addr_host_key((const struct sockaddr *)peer, host);
	conntab_set_host(m->conns, c, host);
	/* The refusal itself is logged by the connection's process. */
	if (conntab_host_count(m->conns, host) >
	    (unsigned)m->gen.g_cfg->max_per_host) {
		m->refused_total++;
		return MSG_VERDICT_REFUSE;
	}
	return MSG_VERDICT_OK;
}

/* MSG_REFUSED for the token at p (a malformed question: token 0). */
static void
send_refused(struct master *m, struct engine_ref *e, const void *p)
{
	int32_t v[2] = { 0, 0 };

	if (p != NULL)
		memcpy(v, p, sizeof(uint64_t));
	engines_send_raw(m, e, MSG_REFUSED, 0, v, sizeof(uint64_t));
}

/* Hand fd to the engine of l; the connection counts from here on. */
static void
hand_over(struct master *m, struct listener *l, int fd,
    const struct sockaddr *peer)
{
	struct engine_ref *e = engines_current(m, l->l_proto);
	struct conn_entry *c;
	uint64_t id = ++m->next_id;

	if ((c = conntab_add(m->conns, id, peer)) == NULL) {
		log_errx("out of memory for the connection table");
		close(fd);
		return;
	}
	c->ce_engine = e->en_serial;
	c->ce_proto = l->l_proto;
	if (engines_send_conn(m, e, l, id, peer, fd, clock_ms()) == -1) {
		policy_not_started(m, l->l_proto, peer, errno);
		conntab_remove(m->conns, c);
		close(fd);
	}
}

/*
 * A DTLS peer that proved its address (the engine checked its cookie)
 * and that the engine keeps nothing for yet: the same access lists and
 * limits as an accepted connection.  Admitted, it counts from here on
 * under a new id; refused, the engine forgets it.  An engine that asks
 * what cannot be (no such listener) is not guessed about: the reply
 * refuses, and the listener index is checked by the engine's own table.
 */
void
policy_admit(struct master *m, struct engine_ref *e, const void *payload,
    size_t len)
{
	const struct sockaddr *peer;
	struct dtls_admit a;
	struct listener *l = NULL;
	struct conn_entry *c;
	const char *reason;
	uint64_t id;

	if (len != sizeof(a))
		goto refuse_silently;
	memcpy(&a, payload, sizeof(a));
	peer = (const struct sockaddr *)&a.da_peer;
	if ((a.da_peer.ss_family != AF_INET &&
	    a.da_peer.ss_family != AF_INET6) ||
	    a.da_listener >= m->ls.ls_count)
		goto refuse_silently;
	l = &m->ls.ls_items[a.da_listener];
	/* A draining engine's listeners may not be this generation's. */
	if (e->en_draining || m->stopping || l->l_proto != SECHO_PROTO_DTLS)
		goto refuse_silently;
	/*
	 * A second ClientHello of a peer that has its association already
	 * (a retransmission that waited in the listener's queue while its
	 * socket was made, or met a new engine after a reload): a second
	 * socket connected to the same peer would take its datagrams.
	 */
	if (conntab_find_peer(m->conns, SECHO_PROTO_DTLS, peer,
	    (uint16_t)addr_port((const struct sockaddr *)&l->l_addr)) != NULL)
		goto refuse_silently;
	if ((reason = policy_check(m, l, peer)) != NULL) {
		policy_refused(m, SECHO_PROTO_DTLS, peer, reason);
		goto refuse_silently;
	}
	id = ++m->next_id;
	if ((c = conntab_add(m->conns, id, peer)) == NULL) {
		log_errx("out of memory for the connection table");
		goto refuse_silently;
	}
	c->ce_engine = e->en_serial;
	c->ce_proto = SECHO_PROTO_DTLS;
	c->ce_lport = (uint16_t)addr_port((const struct sockaddr *)&l->l_addr);
	if (engines_send_admitted(m, e, l, id, peer, a.da_token) == -1) {
		policy_not_started(m, SECHO_PROTO_DTLS, peer, errno);
		conntab_remove(m->conns, c);
		goto refuse_silently;
	}
	return;
refuse_silently:
	send_refused(m, e, len >= sizeof(uint64_t) ? payload : NULL);
}

/*
 * Out of file descriptors: with the spare descriptor given back, take the
 * waiting connection and close it at once, so the client is not left
 * hanging in the backlog; say so at most once a second and stop polling
 * the listeners briefly, so there is no busy loop while it lasts.
 */
static void
out_of_fds(struct master *m, struct listener *l)
{
	char name[ADDR_STRLEN] = "-";
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	long long now = clock_ms();
	int saved = errno, fd;

	if (m->reserve_fd != -1) {
		close(m->reserve_fd);
		fd = accept4(l->l_fd, (struct sockaddr *)&ss, &len,
		    SOCK_CLOEXEC);
		if (fd != -1) {
			addr_format((struct sockaddr *)&ss, name, sizeof(name));
			m->refused_total++;
			close(fd);
		}
		m->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	if (now - m->fd_warned >= 1000) {
		m->fd_warned = now;
		errno = saved;
		log_warn("accept on %s: out of file descriptors, closed "
		    "connection from %s", l->l_name, name);
	}
	m->accept_pause_until = now + 100;
}

/* The listener is readable: take what waits, within a batch. */
void
policy_accept(struct master *m, struct listener *l)
{
	struct sockaddr_storage ss;
	const char *reason;
	socklen_t len;
	int fd, i;

	/* A shortage may have kept us from taking the spare back. */
	if (m->reserve_fd == -1)
		m->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	for (i = 0; i < ACCEPT_BATCH; i++) {
		/* The engine's channel is full: the rest wait in the backlog. */
		if (!engines_ready(m, l->l_proto))
			return;
		len = sizeof(ss);
		/* TLS works non-blocking; plain TCP echoes blocking. */
		fd = accept4(l->l_fd, (struct sockaddr *)&ss, &len,
		    (l->l_proto == SECHO_PROTO_TLS ? SOCK_NONBLOCK : 0) |
		    SOCK_CLOEXEC);
		if (fd == -1) {
			switch (errno) {
			case EINTR:
			case ECONNABORTED:
			case EPROTO:
				continue;
			case EAGAIN:
				return;
			case EMFILE:
			case ENFILE:
				out_of_fds(m, l);
				return;
			case ENOBUFS:
			case ENOMEM:
				/* Pause rather than spin (sshd, stunnel). */
				log_warn("accept on %s; pausing for 1 s",
				    l->l_name);
				m->accept_pause_until = clock_ms() + 1000;
				return;
			default:
				log_warn("accept on %s", l->l_name);
				return;
			}
		}
		if ((reason = policy_check(m, l, (struct sockaddr *)&ss))) {
			policy_refused(m, l->l_proto, (struct sockaddr *)&ss,
			    reason);
			close(fd);
			continue;
		}
		hand_over(m, l, fd, (struct sockaddr *)&ss);
	}
}

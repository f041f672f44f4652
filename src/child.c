/*
 * child.c - connection children and UDP workers.
 *
 * The master keeps a table of its connection children (pid, peer host)
 * with per-host counts for the limits.  A child, right after fork, closes
 * every inherited descriptor but its own socket, reconnects to syslog,
 * chroots and drops privileges, and only then touches client bytes
 * (httpd proc_run, tcpserver's child branch).
 */
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pwd.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "secho/clock.h"
#include "secho/addr.h"
#include "secho/child.h"
#include "secho/echo.h"
#include "secho/log.h"
#include "secho/nofork.h"
#include "secho/proxy.h"
#include "secho/sig.h"
#include "secho/tls.h"
#include "secho/tlsmem.h"
#include "secho/udp.h"

/* ---- child table: open addressing on pid and on host key ---- */

struct host_slot {
	unsigned char	hs_key[16];
	unsigned	hs_count;	/* 0 = empty */
};

struct child_table {
	struct child	*ct_slots;	/* ch_pid 0 = empty */
	size_t		 ct_cap;	/* power of two */
	size_t		 ct_count;
	struct host_slot *ct_hosts;	/* same capacity */
	size_t		 ct_nhosts;
};

static size_t
pid_hash(pid_t pid, size_t mask)
{
	return ((uint32_t)pid * 2654435761u) & mask;
}

static size_t
host_hash(const unsigned char key[16], size_t mask)
{
	uint64_t h = 1469598103934665603ull;
	int i;

	for (i = 0; i < 16; i++)
		h = (h ^ key[i]) * 1099511628211ull;
	return (size_t)(h ^ (h >> 29)) & mask;
}

/*
 * The master writes the table on every connection, after the fork: in
 * memory the children give up (nofork.h), or every child would keep its
 * own old copy of the pages written.
 */
struct child_table *
child_table_new(void)
{
	struct child_table *t = nofork_calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->ct_cap = 64;
	t->ct_slots = nofork_calloc(t->ct_cap, sizeof(*t->ct_slots));
	t->ct_hosts = nofork_calloc(t->ct_cap, sizeof(*t->ct_hosts));
	if (t->ct_slots == NULL || t->ct_hosts == NULL) {
		child_table_free(t);
		return NULL;
	}
	return t;
}

void
child_table_free(struct child_table *t)
{
	if (t == NULL)
		return;
	nofork_free(t->ct_slots, t->ct_cap, sizeof(*t->ct_slots));
	nofork_free(t->ct_hosts, t->ct_cap, sizeof(*t->ct_hosts));
	nofork_free(t, 1, sizeof(*t));
}

static struct host_slot *
host_find(const struct child_table *t, const unsigned char key[16],
    int insert)
{
	size_t mask = t->ct_cap - 1, i = host_hash(key, mask);

	for (;; i = (i + 1) & mask) {
		struct host_slot *h = &t->ct_hosts[i];
		if (h->hs_count == 0)
			return insert ? h : NULL;
		if (memcmp(h->hs_key, key, 16) == 0)
			return h;
	}
}

/*
 * Backward-shift deletion keeps probe chains intact without tombstones:
 * may the entry at j, whose home slot is k, move to the hole at i?  Only
 * if k does not lie cyclically in (i, j].
 */
static int
may_fill(size_t i, size_t j, size_t k)
{
	return i < j ? (k <= i || k > j) : (k <= i && k > j);
}

static void
host_delete(struct child_table *t, struct host_slot *h)
{
	size_t mask = t->ct_cap - 1, i = (size_t)(h - t->ct_hosts), j, k;

	t->ct_hosts[i].hs_count = 0;
	for (j = (i + 1) & mask; t->ct_hosts[j].hs_count; j = (j + 1) & mask) {
		k = host_hash(t->ct_hosts[j].hs_key, mask);
		if (may_fill(i, j, k)) {
			t->ct_hosts[i] = t->ct_hosts[j];
			t->ct_hosts[j].hs_count = 0;
			i = j;
		}
	}
}

static void
pid_delete(struct child_table *t, size_t i)
{
	size_t mask = t->ct_cap - 1, j, k;

	t->ct_slots[i].ch_pid = 0;
	for (j = (i + 1) & mask; t->ct_slots[j].ch_pid; j = (j + 1) & mask) {
		k = pid_hash(t->ct_slots[j].ch_pid, mask);
		if (may_fill(i, j, k)) {
			t->ct_slots[i] = t->ct_slots[j];
			t->ct_slots[j].ch_pid = 0;
			i = j;
		}
	}
}

static void
host_add(struct child_table *t, const unsigned char key[16])
{
	struct host_slot *h = host_find(t, key, 1);

	if (h->hs_count == 0) {
		memcpy(h->hs_key, key, 16);
		t->ct_nhosts++;
	}
	h->hs_count++;
}

static void
host_sub(struct child_table *t, const unsigned char key[16])
{
	struct host_slot *h = host_find(t, key, 0);

	if (h == NULL)
		return;
	if (--h->hs_count == 0) {
		host_delete(t, h);
		t->ct_nhosts--;
	}
}

static int
table_insert(struct child_table *t, const struct child *c)
{
	size_t mask = t->ct_cap - 1, i = pid_hash(c->ch_pid, mask);

	while (t->ct_slots[i].ch_pid != 0)
		i = (i + 1) & mask;
	t->ct_slots[i] = *c;
	t->ct_count++;
	host_add(t, c->ch_host);
	return 0;
}

static int
table_grow(struct child_table *t)
{
	struct child_table n;
	size_t i;

	n.ct_cap = t->ct_cap * 2;
	n.ct_count = n.ct_nhosts = 0;
	n.ct_slots = nofork_calloc(n.ct_cap, sizeof(*n.ct_slots));
	n.ct_hosts = nofork_calloc(n.ct_cap, sizeof(*n.ct_hosts));
	if (n.ct_slots == NULL || n.ct_hosts == NULL) {
		nofork_free(n.ct_slots, n.ct_cap, sizeof(*n.ct_slots));
		nofork_free(n.ct_hosts, n.ct_cap, sizeof(*n.ct_hosts));
		return -1;
	}
	for (i = 0; i < t->ct_cap; i++)
		if (t->ct_slots[i].ch_pid)
			table_insert(&n, &t->ct_slots[i]);
	nofork_free(t->ct_slots, t->ct_cap, sizeof(*t->ct_slots));
	nofork_free(t->ct_hosts, t->ct_cap, sizeof(*t->ct_hosts));
	*t = n;
	return 0;
}

int
child_table_add(struct child_table *t, const struct child *c)
{
	/* Keep both tables at most half full. */
	if ((t->ct_count + 1) * 2 > t->ct_cap && table_grow(t) == -1)
		return -1;
	return table_insert(t, c);
}

static struct child *
pid_find(const struct child_table *t, pid_t pid)
{
	size_t mask = t->ct_cap - 1, i = pid_hash(pid, mask);

	for (; t->ct_slots[i].ch_pid; i = (i + 1) & mask)
		if (t->ct_slots[i].ch_pid == pid)
			return &t->ct_slots[i];
	return NULL;
}

int
child_table_remove(struct child_table *t, pid_t pid, struct child *out)
{
	struct child *c = pid_find(t, pid);

	if (c == NULL)
		return 0;
	if (out)
		*out = *c;
	host_sub(t, c->ch_host);
	pid_delete(t, (size_t)(c - t->ct_slots));
	t->ct_count--;
	return 1;
}

int
child_table_has(const struct child_table *t, pid_t pid)
{
	return pid_find(t, pid) != NULL;
}

size_t
child_table_count(const struct child_table *t)
{
	return t->ct_count;
}

unsigned
child_table_host_count(const struct child_table *t,
    const unsigned char host[16])
{
	struct host_slot *h = host_find(t, host, 0);

	return h ? h->hs_count : 0;
}

int
child_table_set_host(struct child_table *t, pid_t pid,
    const unsigned char host[16])
{
	struct child *c = pid_find(t, pid);

	if (c == NULL)
		return -1;
	host_sub(t, c->ch_host);
	memcpy(c->ch_host, host, 16);
	host_add(t, host);
	return 0;
}

void
child_table_signal(const struct child_table *t, int sig)
{
	size_t i;

	for (i = 0; i < t->ct_cap; i++)
		if (t->ct_slots[i].ch_pid > 0)
			kill(t->ct_slots[i].ch_pid, sig);
}

/* ---- privileges ---- */

int
child_privs_resolve(const struct secho_config *cfg, struct privs *pv,
    char *err, size_t errlen, char *warn, size_t warnlen)
{
	struct passwd *pw;
	struct group *gr;

	memset(pv, 0, sizeof(*pv));
	if (warnlen)
		warn[0] = '\0';
	if (cfg->user == NULL) {
		if (cfg->chroot_dir)
			snprintf(warn, warnlen, "daemon.chroot is ignored "
			    "without daemon.user");
		return 0;
	}
	errno = 0;
	if ((pw = getpwnam(cfg->user)) == NULL) {
		snprintf(err, errlen, "%s: daemon.user: user \"%s\" does not "
		    "exist", cfg->file, cfg->user);
		return -1;
	}
	pv->pv_uid = pw->pw_uid;
	pv->pv_gid = pw->pw_gid;
	if (cfg->group) {
		if ((gr = getgrnam(cfg->group)) == NULL) {
			snprintf(err, errlen, "%s: daemon.group: group \"%s\" "
			    "does not exist", cfg->file, cfg->group);
			return -1;
		}
		pv->pv_gid = gr->gr_gid;
	}
	if (geteuid() != 0) {
		snprintf(warn, warnlen, "not started as root: children keep "
		    "uid %u (daemon.user \"%s\" ignored)",
		    (unsigned)geteuid(), cfg->user);
		return 0;
	}
	pv->pv_drop = 1;
	if (cfg->chroot_dir && (pv->pv_chroot = strdup(cfg->chroot_dir)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

void
child_privs_free(struct privs *pv)
{
	free(pv->pv_chroot);
	pv->pv_chroot = NULL;
}

/* ---- in the child ---- */

/*
 * Close what belongs to the master (listeners, signalfd, pidfile, ...),
 * keeping fd, stdio, the syslog connection and, when keep_report (PROXY
 * children), the report socket; drop privileges; set up signals.
 * Returns fd.
 */
static int
child_prepare(const struct child_env *env, int fd, int keep_report)
{
	char err[256];
	size_t i;

	sig_close_pipe();
	for (i = 0; env->ce_listeners && i < env->ce_listeners->ls_count; i++) {
		int lfd = env->ce_listeners->ls_items[i].l_fd;
		if (lfd != -1 && lfd != fd)
			close(lfd);
	}
	for (i = 0; i < sizeof(env->ce_close) / sizeof(env->ce_close[0]); i++)
		if (env->ce_close[i] != -1 && env->ce_close[i] != fd)
			close(env->ce_close[i]);
	if (!keep_report && env->ce_report_fd != -1)
		close(env->ce_report_fd);
	if (child_drop_privileges(env->ce_privs, err, sizeof(err)) == -1) {
		log_errx("child %ld: %s", (long)getpid(), err);
		_exit(1);
	}
	stream_child_signals();
	return fd;
}

/* The TLS half of a connection child (stream.c calls it). */
static const char *
tls_serve(const struct stream_ctx *sc, int fd, struct conn *c,
    const char *peername, struct stream_tls_result *r)
{
	struct logline ll;
	const char *reason;
	char err[256];

	switch (tls_accept(sc->sc_tls_arg, fd, c, sc->sc_handshake_ms,
	    &stream_stop, &stream_waitmask, err, sizeof(err))) {
	case TLS_ACCEPT_OK:
		break;
	case TLS_ACCEPT_TIMEOUT:
		return "handshake-timeout";
	case TLS_ACCEPT_STOPPED:
		return "shutdown";
	case TLS_ACCEPT_FAILED:
	default:
		log_begin(&ll, LOG_INFO, "tls-error");
		log_kv(&ll, "peer", peername);
		log_kv(&ll, "error", err);
		log_end(&ll);
		return "tls-error";
	}
	r->tr_ok = 1;
	reason = echo_result_name(echo_run(c, sc->sc_idle_ms, &stream_stop,
	    &stream_waitmask));
	tls_conn_info(c, &r->tr_version, &r->tr_cipher, r->tr_subject,
	    sizeof(r->tr_subject));
	return reason;
}

static void
child_stream_ctx(const struct child_env *env, const struct listener *l,
    struct stream_ctx *sc)
{
	const struct listener_config *lc = l->l_cfg;

	memset(sc, 0, sizeof(*sc));
	sc->sc_proto = l->l_proto;
	sc->sc_name = l->l_name;
	sc->sc_proxy = lc->lc_proxy_protocol;
	sc->sc_allow = &lc->lc_allow;
	sc->sc_deny = &lc->lc_deny;
	sc->sc_idle_ms = env->ce_cfg->idle_timeout * 1000;
	sc->sc_handshake_ms = env->ce_cfg->handshake_timeout * 1000;
	sc->sc_report_fd = lc->lc_proxy_protocol ? env->ce_report_fd : -1;
	if (l->l_proto == SECHO_PROTO_TLS) {
		sc->sc_tls_serve = tls_serve;
		sc->sc_tls_free = tls_conn_free;
		sc->sc_tls_arg = l->l_tls;
	}
}

pid_t
child_spawn_conn(const struct child_env *env, struct listener *l, int fd,
    const struct sockaddr *peer)
{
	struct stream_ctx sc;
	pid_t pid;

	pid = fork();
	if (pid != 0)
		return pid;
	nofork_child();		/* the master's table, poll set */
	if (l->l_proto == SECHO_PROTO_TLS)
		tlsmem_child();
	/* peer is in the master's accept frame, which the child has too. */
	/* Only PROXY children report to the master. */
	fd = child_prepare(env, fd, l->l_cfg->lc_proxy_protocol);
	child_stream_ctx(env, l, &sc);
	stream_serve(&sc, fd, peer);
	_exit(0);
}

pid_t
child_spawn_udp(const struct child_env *env, struct listener *l)
{
	pid_t pid;
	int fd, rc;

	pid = fork();
	if (pid != 0)
		return pid;
	nofork_child();
	fd = child_prepare(env, l->l_fd, 0);
	rc = udp_worker_run(fd, (unsigned)env->ce_cfg->udp_rate_per_host,
	    l->l_counters, &stream_stop, &stream_waitmask);
	_exit(rc == 0 ? 0 : 1);
}

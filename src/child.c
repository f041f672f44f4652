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
#include "secho/proxy.h"
#include "secho/sig.h"
#include "secho/tls.h"
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

struct child_table *
child_table_new(void)
{
	struct child_table *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->ct_cap = 64;
	t->ct_slots = calloc(t->ct_cap, sizeof(*t->ct_slots));
	t->ct_hosts = calloc(t->ct_cap, sizeof(*t->ct_hosts));
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
	free(t->ct_slots);
	free(t->ct_hosts);
	free(t);
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
	n.ct_slots = calloc(n.ct_cap, sizeof(*n.ct_slots));
	n.ct_hosts = calloc(n.ct_cap, sizeof(*n.ct_hosts));
	if (n.ct_slots == NULL || n.ct_hosts == NULL) {
		free(n.ct_slots);
		free(n.ct_hosts);
		return -1;
	}
	for (i = 0; i < t->ct_cap; i++)
		if (t->ct_slots[i].ch_pid)
			table_insert(&n, &t->ct_slots[i]);
	free(t->ct_slots);
	free(t->ct_hosts);
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

int
child_drop_privileges(const struct privs *pv, char *err, size_t errlen)
{
	if (!pv->pv_drop)
		return 0;
	if (pv->pv_chroot) {
		if (chroot(pv->pv_chroot) == -1 || chdir("/") == -1) {
			snprintf(err, errlen, "chroot %s: %s", pv->pv_chroot,
			    strerror(errno));
			return -1;
		}
	}
	if (setgroups(0, NULL) == -1) {
		snprintf(err, errlen, "setgroups: %s", strerror(errno));
		return -1;
	}
	if (setresgid(pv->pv_gid, pv->pv_gid, pv->pv_gid) == -1) {
		snprintf(err, errlen, "setresgid %u: %s", (unsigned)pv->pv_gid,
		    strerror(errno));
		return -1;
	}
	if (setresuid(pv->pv_uid, pv->pv_uid, pv->pv_uid) == -1) {
		snprintf(err, errlen, "setresuid %u: %s", (unsigned)pv->pv_uid,
		    strerror(errno));
		return -1;
	}
	/* Paranoia: root must be gone for good. */
	if (pv->pv_uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
		snprintf(err, errlen, "could regain root after dropping "
		    "privileges");
		return -1;
	}
	return 0;
}

/* ---- in the child ---- */

static volatile sig_atomic_t child_stop;
static int child_report_fd = -1;	/* fd 4 in a child, when given */
static sigset_t child_waitmask;

/*
 * Close what belongs to the master (listeners, self-pipe, pidfile, ...),
 * keeping fd, the report socket, stdio and the syslog connection; drop
 * privileges; set up signals.  Returns fd.
 */
static int
child_prepare(const struct child_env *env, int fd)
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
	child_report_fd = env->ce_report_fd;
	if (child_drop_privileges(env->ce_privs, err, sizeof(err)) == -1) {
		log_errx("child %ld: %s", (long)getpid(), err);
		_exit(1);
	}
	sig_child_init(&child_stop, &child_waitmask);
	return fd;
}

static void
log_connect(const struct listener *l, const char *peername)
{
	struct logline ll;

	log_begin(&ll, LOG_INFO, "connect");
	log_kv(&ll, "proto", config_proto_name(l->l_proto));
	log_kv(&ll, "peer", peername);
	log_kv(&ll, "listener", l->l_name);
	log_end(&ll);
}

static void
log_refused(const struct listener *l, const char *peername,
    const char *reason)
{
	struct logline ll;

	log_begin(&ll, LOG_WARNING, "refused");
	log_kv(&ll, "proto", config_proto_name(l->l_proto));
	log_kv(&ll, "peer", peername);
	log_kv(&ll, "reason", reason);
	log_end(&ll);
}

/*
 * Behind a PROXY header: read it (bounded by handshake_timeout), make its
 * source the peer, apply the access lists to it, and ask the master about
 * the per-host limit.  Returns 0 to serve, 1 when refused (logged), -1
 * when there was no valid header (*reason says why; not yet logged).
 */
static int
proxy_peer(const struct child_env *env, const struct listener *l, int fd,
    struct sockaddr_storage *peer, char *peername, size_t namelen,
    const char **reason)
{
	const struct listener_config *lc = l->l_cfg;
	struct child_report rep;
	struct proxy_info pi;
	struct timespec ts;
	sigset_t usr2;
	siginfo_t si;
	char err[128];
	int timed_out = 0, r;

	if (proxy_read(fd, env->ce_cfg->handshake_timeout * 1000,
	    &child_waitmask, &child_stop, &pi, &timed_out, err,
	    sizeof(err)) == -1) {
		*reason = timed_out ? "handshake-timeout" :
		    child_stop ? "shutdown" : "error";
		if (!timed_out && !child_stop)
			log_warnx("PROXY header from %s on %s: %s", peername,
			    l->l_name, err);
		return -1;
	}
	if (!pi.pi_local) {
		*peer = pi.pi_src;
		addr_format((struct sockaddr *)peer, peername, namelen);
	}

	memset(&rep, 0, sizeof(rep));
	rep.cr_pid = getpid();
	rep.cr_peer = *peer;
	if (!addr_access_allowed(&lc->lc_allow, &lc->lc_deny,
	    (struct sockaddr *)peer)) {
		log_refused(l, peername, "access");
		rep.cr_type = CHILD_REPORT_ACCESS;
		if (child_report_fd != -1)
			send(child_report_fd, &rep, sizeof(rep), MSG_DONTWAIT);
		return 1;
	}
	if (child_report_fd == -1)
		return 0;
	rep.cr_type = CHILD_REPORT_PEER;
	if (send(child_report_fd, &rep, sizeof(rep), MSG_DONTWAIT) == -1) {
		log_warn("child %ld: cannot report the PROXY peer to the "
		    "master", (long)getpid());
		return 0;
	}
	/* SIGUSR2 stays blocked in children; its value is the verdict. */
	sigemptyset(&usr2);
	sigaddset(&usr2, SIGUSR2);
	ts.tv_sec = 5;
	ts.tv_nsec = 0;
	do
		r = sigtimedwait(&usr2, &si, &ts);
	while (r == -1 && errno == EINTR && !child_stop);
	if (r == -1) {
		log_warnx("child %ld: no answer from the master about %s; "
		    "serving it", (long)getpid(), peername);
		return 0;
	}
	if (si.si_value.sival_int == CHILD_VERDICT_MAX_PER_HOST) {
		log_refused(l, peername, "max-per-host");
		return 1;
	}
	return 0;
}

static void
serve_stream(const struct child_env *env, struct listener *l, int fd,
    const struct sockaddr *sockpeer)
{
	const struct secho_config *cfg = env->ce_cfg;
	struct sockaddr_storage peer;
	struct conn c;
	struct logline ll;
	char peername[ADDR_STRLEN], err[256], subject[512];
	const char *reason = NULL, *version = NULL, *cipher = NULL;
	long long start = clock_ms();
	int tls_ok = 0, served = 1;

	memset(&peer, 0, sizeof(peer));
	memcpy(&peer, sockpeer, sockpeer->sa_family == AF_INET ?
	    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
	addr_format(sockpeer, peername, sizeof(peername));
	/* TCP_NODELAY comes with the socket from the listener (listen.c). */
	serve_tcp_conn_init(&c, fd);
	subject[0] = '\0';

	if (l->l_cfg->lc_proxy_protocol) {
		switch (proxy_peer(env, l, fd, &peer, peername,
		    sizeof(peername), &reason)) {
		case 0:
			break;
		case 1:
			close(fd);
			return;
		default:
			served = 0;	/* logged as connect + close below */
			break;
		}
	}
	log_connect(l, peername);

	if (served && l->l_proto == SECHO_PROTO_TLS) {
		switch (tls_accept(l->l_tls, fd, &c,
		    cfg->handshake_timeout * 1000, &child_stop,
		    &child_waitmask, err, sizeof(err))) {
		case TLS_ACCEPT_OK:
			tls_ok = 1;
			break;
		case TLS_ACCEPT_TIMEOUT:
			reason = "handshake-timeout";
			break;
		case TLS_ACCEPT_STOPPED:
			reason = "shutdown";
			break;
		case TLS_ACCEPT_FAILED:
		default:
			log_begin(&ll, LOG_INFO, "tls-error");
			log_kv(&ll, "peer", peername);
			log_kv(&ll, "error", err);
			log_end(&ll);
			reason = "tls-error";
			break;
		}
		if (tls_ok) {
			reason = echo_result_name(echo_run(&c,
			    cfg->idle_timeout * 1000, &child_stop,
			    &child_waitmask));
			tls_conn_info(&c, &version, &cipher, subject,
			    sizeof(subject));
		}
	} else if (served)
		reason = echo_result_name(serve_tcp_echo(&c,
		    cfg->idle_timeout * 1000, &child_stop, &child_waitmask));

	log_begin(&ll, LOG_INFO, "close");
	log_kv(&ll, "proto", config_proto_name(l->l_proto));
	log_kv(&ll, "peer", peername);
	log_kvu(&ll, "duration_ms", (unsigned long long)(clock_ms() - start));
	log_kvu(&ll, "bytes_in", c.c_bytes_in);
	log_kvu(&ll, "bytes_out", c.c_bytes_out);
	log_kv(&ll, "reason", reason);
	if (tls_ok) {
		log_kv(&ll, "tls_version", version);
		log_kv(&ll, "cipher", cipher);
		if (subject[0])
			log_kv(&ll, "client_subject", subject);
	}
	log_end(&ll);
	if (tls_ok)
		tls_conn_free(&c);
	close(fd);
}

pid_t
child_spawn_conn(const struct child_env *env, struct listener *l, int fd,
    const struct sockaddr *peer)
{
	pid_t pid;

	pid = fork();
	if (pid != 0)
		return pid;
	/* peer is in the master's accept frame, which the child has too. */
	fd = child_prepare(env, fd);
	serve_stream(env, l, fd, peer);
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
	fd = child_prepare(env, l->l_fd);
	rc = udp_worker_run(fd, (unsigned)env->ce_cfg->udp_rate_per_host,
	    l->l_counters, &child_stop, &child_waitmask);
	_exit(rc == 0 ? 0 : 1);
}

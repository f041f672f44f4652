/*
 * conn.c - one TCP or TLS connection's life in its own process, the part
 * every stream protocol shares: privilege drop, PROXY header and the
 * master's verdict, connect line, the protocol's handshake and echo
 * (struct conn_proto), close line.  Only libc.
 */
#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "secho/addr.h"
#include "secho/clock.h"
#include "secho/conn.h"
#include "secho/log.h"
#include "secho/msg.h"
#include "secho/proxy.h"
#include "secho/sig.h"
#include "secho/tcp_echo.h"

volatile sig_atomic_t conn_stop;
sigset_t conn_waitmask;

int
conn_drop_privileges(const struct privs *pv, char *err, size_t errlen)
{
	pid_t parent = getppid();
	int dsig = 0;

	if (!pv->pv_drop)
		return 0;
	(void)prctl(PR_GET_PDEATHSIG, &dsig, 0, 0, 0);
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
	/*
	 * The kernel clears the parent-death signal when the credentials
	 * change: set it again, and if the parent ended meanwhile, so do we.
	 */
	if (dsig != 0 && (prctl(PR_SET_PDEATHSIG, dsig, 0, 0, 0) == -1 ||
	    getppid() != parent)) {
		snprintf(err, errlen, "its parent ended");
		return -1;
	}
	return 0;
}

void
conn_signals(void)
{
	sig_child_init(&conn_stop, &conn_waitmask);
}

static void
log_refused(const struct conn_req *r, const char *peername,
    const char *reason)
{
	struct logline ll;

	log_begin(&ll, LOG_WARNING, "refused");
	log_kv(&ll, "proto", config_proto_name(r->cr_proto));
	log_kv(&ll, "peer", peername);
	log_kv(&ll, "reason", reason);
	log_end(&ll);
}

/* Milliseconds left until deadline, at least 0. */
static int
ms_left(long long deadline)
{
	long long left = deadline - clock_ms();

	return left < 0 ? 0 : left > 0x7fffffff ? 0x7fffffff : (int)left;
}

/*
 * The master's answer to MSG_PEER, waited for until deadline: a
 * MSG_VERDICT_* value, or -1 with *reason set (no answer in time, a stop
 * request, the engine gone): the connection is then not served.
 */
static int
wait_verdict(int rfd, long long deadline, const char **reason)
{
	union {
		char		b[256];
		struct msg_hdr	align;
	} buf;
	struct msg_hdr h;
	struct pollfd pfd;
	struct timespec ts;
	int32_t v;
	int fd, left;

	for (;;) {
		if (conn_stop) {
			*reason = "shutdown";
			return -1;
		}
		switch (msg_recv(rfd, buf.b, sizeof(buf.b), &h, &fd)) {
		case 1:
			if (fd != -1)
				close(fd);
			if (h.mh_type == MSG_VERDICT && h.mh_len == sizeof(v)) {
				memcpy(&v, msg_payload(buf.b), sizeof(v));
				return v;
			}
			continue;
		case 0:
			*reason = "error";	/* the engine is gone */
			return -1;
		default:
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EBADMSG) {
				*reason = "error";
				return -1;
			}
			break;
		}
		if ((left = ms_left(deadline)) == 0) {
			*reason = "handshake-timeout";
			return -1;
		}
		ts.tv_sec = left / 1000;
		ts.tv_nsec = (long)(left % 1000) * 1000000;
		pfd.fd = rfd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		/* Stop signals get in only here: none is lost (sig.c). */
		(void)ppoll(&pfd, 1, &ts, &conn_waitmask);
	}
}

/*
 * Behind a PROXY header: read it, make its source the peer, apply the
 * access lists to it, and ask the master about the per-host limit -- all
 * by deadline, the handshake's one budget.  Returns 0 to serve, 1 when
 * refused (logged), -1 when not served for *reason (not yet logged).
 */
static int
proxy_peer(const struct conn_req *r, int fd, int rfd, long long deadline,
    struct sockaddr_storage *peer, char *peername, size_t namelen,
    const char **reason)
{
	struct proxy_info pi;
	char err[128];
	int timed_out = 0, v;

	if (proxy_read(fd, ms_left(deadline), &conn_waitmask, &conn_stop,
	    &pi, &timed_out, err, sizeof(err)) == -1) {
		*reason = timed_out ? "handshake-timeout" :
		    conn_stop ? "shutdown" : "error";
		if (!timed_out && !conn_stop)
			log_warnx("PROXY header from %s on %s: %s", peername,
			    r->cr_name, err);
		return -1;
	}
	if (!pi.pi_local) {
		*peer = pi.pi_src;
		addr_format((struct sockaddr *)peer, peername, namelen);
	}
	if (!addr_access_allowed(&r->cr_allow, &r->cr_deny,
	    (struct sockaddr *)peer)) {
		log_refused(r, peername, "access");
		if (rfd != -1)
			(void)msg_send(rfd, MSG_ACCESS, 0, peer, sizeof(*peer),
			    -1);
		return 1;
	}
	if (rfd == -1)
		return 0;
	/* The socket is new and empty: this send cannot find it full. */
	if (msg_send(rfd, MSG_PEER, 0, peer, sizeof(*peer), -1) == -1) {
		log_warn("PROXY peer %s on %s: cannot ask the master",
		    peername, r->cr_name);
		*reason = "error";
		return -1;
	}
	v = wait_verdict(rfd, deadline, reason);
	if (v == -1) {
		if (strcmp(*reason, "shutdown") != 0)
			log_warnx("PROXY peer %s on %s: no verdict from the "
			    "master (%s); not served", peername, r->cr_name,
			    *reason);
		return -1;
	}
	if (v != MSG_VERDICT_OK) {
		log_refused(r, peername, "max-per-host");
		return 1;
	}
	return 0;
}

static void
log_connect(const struct conn_req *r, const char *peername)
{
	struct logline ll;

	log_begin(&ll, LOG_INFO, "connect");
	log_kv(&ll, "proto", config_proto_name(r->cr_proto));
	log_kv(&ll, "peer", peername);
	log_kv(&ll, "listener", r->cr_name);
	log_end(&ll);
}

static void
log_close(const struct conn_req *r, const char *peername, long long start,
    const struct conn *c, const char *reason, const struct conn_tls_info *ti)
{
	struct logline ll;

	log_begin(&ll, LOG_INFO, "close");
	log_kv(&ll, "proto", config_proto_name(r->cr_proto));
	log_kv(&ll, "peer", peername);
	log_kvu(&ll, "duration_ms", (unsigned long long)(clock_ms() - start));
	log_kvu(&ll, "bytes_in", c->c_bytes_in);
	log_kvu(&ll, "bytes_out", c->c_bytes_out);
	log_kv(&ll, "reason", reason);
	if (ti->ti_ok) {
		log_kv(&ll, "tls_version", ti->ti_version);
		log_kv(&ll, "cipher", ti->ti_cipher);
		if (ti->ti_subject[0])
			log_kv(&ll, "client_subject", ti->ti_subject);
		if (ti->ti_sni[0])
			log_kv(&ll, "sni", ti->ti_sni);
		if (ti->ti_alpn[0])
			log_kv(&ll, "alpn", ti->ti_alpn);
	}
	log_end(&ll);
}

void
conn_main(const struct conn_req *r, int fd, int report_fd,
    const struct conn_proto *p)
{
	struct conn_tls_info ti;
	struct sockaddr_storage peer;
	struct privs pv;
	struct conn c;
	char peername[ADDR_STRLEN], err[256];
	const char *reason = NULL;
	long long start = clock_ms(), deadline;
	int served = 1;

	memset(&pv, 0, sizeof(pv));
	pv.pv_drop = r->cr_drop;
	pv.pv_uid = r->cr_uid;
	pv.pv_gid = r->cr_gid;
	pv.pv_chroot = (char *)(uintptr_t)r->cr_chroot;
	if (conn_drop_privileges(&pv, err, sizeof(err)) == -1) {
		log_errx("connection process %ld: %s", (long)getpid(), err);
		_exit(1);
	}
	conn_signals();
	/* The budget and the duration count from the master's accept. */
	if (r->cr_accepted_ms > 0 && r->cr_accepted_ms <= start)
		start = r->cr_accepted_ms;
	deadline = start + (r->cr_handshake_ms > 0 ? r->cr_handshake_ms :
	    0x7fffffff);

	peer = r->cr_peer;
	addr_format((struct sockaddr *)&peer, peername, sizeof(peername));
	/* TCP_NODELAY comes with the socket from the listener (listen.c). */
	tcp_conn_init(&c, fd);
	memset(&ti, 0, sizeof(ti));
	if (r->cr_proxy) {
		switch (proxy_peer(r, fd, report_fd, deadline, &peer,
		    peername, sizeof(peername), &reason)) {
		case 0:
			break;
		case 1:
			_exit(0);
		default:
			served = 0;	/* logged as connect + close below */
			break;
		}
	}
	if (report_fd != -1)
		close(report_fd);
	log_connect(r, peername);
	if (served)
		reason = p->cp_serve(p->cp_arg, r, &c, deadline, peername, &ti);
	log_close(r, peername, start, &c, reason, &ti);
	close(fd);
	_exit(0);
}

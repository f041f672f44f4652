/*
 * stream.c - a TCP or TLS connection child, from the accepted socket to
 * the close line.  Only libc: the plain TCP spawner (spawner.c) links it
 * without OpenSSL; the TLS handshake comes in through sc_tls_serve.
 */
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "secho/addr.h"
#include "secho/clock.h"
#include "secho/echo.h"
#include "secho/log.h"
#include "secho/proxy.h"
#include "secho/sig.h"
#include "secho/stream.h"

volatile sig_atomic_t stream_stop;
sigset_t stream_waitmask;

/* ---- privileges ---- */

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

/* ---- the connection ---- */

void
stream_child_signals(void)
{
	sig_child_init(&stream_stop, &stream_waitmask);
}

static void
log_connect(const struct stream_ctx *sc, const char *peername)
{
	struct logline ll;

	log_begin(&ll, LOG_INFO, "connect");
	log_kv(&ll, "proto", config_proto_name(sc->sc_proto));
	log_kv(&ll, "peer", peername);
	log_kv(&ll, "listener", sc->sc_name);
	log_end(&ll);
}

static void
log_refused(const struct stream_ctx *sc, const char *peername,
    const char *reason)
{
	struct logline ll;

	log_begin(&ll, LOG_WARNING, "refused");
	log_kv(&ll, "proto", config_proto_name(sc->sc_proto));
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
proxy_peer(const struct stream_ctx *sc, int fd,
    struct sockaddr_storage *peer, char *peername, size_t namelen,
    const char **reason)
{
	struct child_report rep;
	struct proxy_info pi;
	struct timespec ts;
	sigset_t usr2;
	siginfo_t si;
	char err[128];
	int timed_out = 0, r;

	if (proxy_read(fd, sc->sc_handshake_ms, &stream_waitmask,
	    &stream_stop, &pi, &timed_out, err, sizeof(err)) == -1) {
		*reason = timed_out ? "handshake-timeout" :
		    stream_stop ? "shutdown" : "error";
		if (!timed_out && !stream_stop)
			log_warnx("PROXY header from %s on %s: %s", peername,
			    sc->sc_name, err);
		return -1;
	}
	if (!pi.pi_local) {
		*peer = pi.pi_src;
		addr_format((struct sockaddr *)peer, peername, namelen);
	}

	memset(&rep, 0, sizeof(rep));
	rep.cr_pid = getpid();
	rep.cr_peer = *peer;
	if (!addr_access_allowed(sc->sc_allow, sc->sc_deny,
	    (struct sockaddr *)peer)) {
		log_refused(sc, peername, "access");
		rep.cr_type = CHILD_REPORT_ACCESS;
		if (sc->sc_report_fd != -1)
			send(sc->sc_report_fd, &rep, sizeof(rep), MSG_DONTWAIT);
		return 1;
	}
	if (sc->sc_report_fd == -1)
		return 0;
	rep.cr_type = CHILD_REPORT_PEER;
	if (send(sc->sc_report_fd, &rep, sizeof(rep), MSG_DONTWAIT) == -1) {
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
	while (r == -1 && errno == EINTR && !stream_stop);
	if (r == -1) {
		log_warnx("child %ld: no answer from the master about %s; "
		    "serving it", (long)getpid(), peername);
		return 0;
	}
	if (si.si_value.sival_int == CHILD_VERDICT_MAX_PER_HOST) {
		log_refused(sc, peername, "max-per-host");
		return 1;
	}
	return 0;
}

void
stream_serve(const struct stream_ctx *sc, int fd,
    const struct sockaddr *sockpeer)
{
	struct stream_tls_result tr;
	struct sockaddr_storage peer;
	struct conn c;
	struct logline ll;
	char peername[ADDR_STRLEN];
	const char *reason = NULL;
	long long start = clock_ms();
	int served = 1;

	memset(&peer, 0, sizeof(peer));
	memcpy(&peer, sockpeer, sockpeer->sa_family == AF_INET ?
	    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
	addr_format(sockpeer, peername, sizeof(peername));
	/* TCP_NODELAY comes with the socket from the listener (listen.c). */
	serve_tcp_conn_init(&c, fd);
	memset(&tr, 0, sizeof(tr));

	if (sc->sc_proxy) {
		switch (proxy_peer(sc, fd, &peer, peername, sizeof(peername),
		    &reason)) {
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
	log_connect(sc, peername);

	if (served && sc->sc_tls_serve)
		reason = sc->sc_tls_serve(sc, fd, &c, peername, &tr);
	else if (served)
		reason = echo_result_name(serve_tcp_echo(&c, sc->sc_idle_ms,
		    &stream_stop, &stream_waitmask));

	log_begin(&ll, LOG_INFO, "close");
	log_kv(&ll, "proto", config_proto_name(sc->sc_proto));
	log_kv(&ll, "peer", peername);
	log_kvu(&ll, "duration_ms", (unsigned long long)(clock_ms() - start));
	log_kvu(&ll, "bytes_in", c.c_bytes_in);
	log_kvu(&ll, "bytes_out", c.c_bytes_out);
	log_kv(&ll, "reason", reason);
	if (tr.tr_ok) {
		log_kv(&ll, "tls_version", tr.tr_version);
		log_kv(&ll, "cipher", tr.tr_cipher);
		if (tr.tr_subject[0])
			log_kv(&ll, "client_subject", tr.tr_subject);
	}
	log_end(&ll);
	if (tr.tr_ok && sc->sc_tls_free)
		sc->sc_tls_free(&c);
	close(fd);
}

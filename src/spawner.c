/*
 * spawner.c - secho-spawn, the plain TCP spawner (see spawn.h).
 *
 * A separate program that maps nothing but libc, started by the master
 * with the control socket on descriptor 3 and the children's report
 * socket on 4.  For every request it creates the connection child with
 * clone(CLONE_PARENT) -- the master's child, not ours -- and answers
 * with its pid.  It holds no state of its own beyond the syslog
 * connection, and exits when the master closes the control socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "secho/log.h"
#include "secho/spawn.h"
#include "secho/stream.h"

static union {
	char		b[SPAWN_MSG_MAX];
	uint64_t	align;
} msgbuf;

/* The log settings in force; a request with others re-opens syslog. */
static struct {
	int	set;
	char	ident[256];	/* log.c keeps the first 63 bytes */
	int	facility, level, to_stderr;
} cur;

static void
apply_log(const struct spawn_req *r)
{
	if (cur.set && strncmp(cur.ident, r->sr_ident, sizeof(cur.ident) - 1) == 0 &&
	    cur.facility == r->sr_log_facility &&
	    cur.level == r->sr_log_level &&
	    cur.to_stderr == r->sr_log_stderr)
		return;
	snprintf(cur.ident, sizeof(cur.ident), "%s", r->sr_ident);
	cur.facility = r->sr_log_facility;
	cur.level = r->sr_log_level;
	cur.to_stderr = r->sr_log_stderr;
	cur.set = 1;
	log_init(cur.ident, cur.facility, cur.level, cur.to_stderr);
}

/* The connection child: never returns. */
static void
child_main(const struct spawn_req *r, int fd)
{
	struct stream_ctx sc;
	struct privs pv;
	char err[256];

	close(SPAWN_CTL_FD);	/* requests are the spawner's business */
	if (!r->sr_proxy)
		close(SPAWN_REPORT_FD);	/* only PROXY children report */
	prctl(PR_SET_NAME, "secho", 0, 0, 0);
	memset(&pv, 0, sizeof(pv));
	pv.pv_drop = r->sr_drop;
	pv.pv_uid = r->sr_uid;
	pv.pv_gid = r->sr_gid;
	pv.pv_chroot = (char *)(uintptr_t)r->sr_chroot;
	if (child_drop_privileges(&pv, err, sizeof(err)) == -1) {
		log_errx("child %ld: %s", (long)getpid(), err);
		_exit(1);
	}
	stream_child_signals();

	memset(&sc, 0, sizeof(sc));
	sc.sc_proto = SECHO_PROTO_TCP;
	sc.sc_name = r->sr_name;
	sc.sc_proxy = r->sr_proxy;
	sc.sc_allow = &r->sr_allow;
	sc.sc_deny = &r->sr_deny;
	sc.sc_idle_ms = r->sr_idle_ms;
	sc.sc_handshake_ms = r->sr_handshake_ms;
	sc.sc_report_fd = r->sr_proxy ? SPAWN_REPORT_FD : -1;
	stream_serve(&sc, fd, (const struct sockaddr *)&r->sr_peer);
	_exit(0);
}

/* One request: -1 when the master is gone. */
static int
serve_request(void)
{
	union {
		char		 b[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr	 align;
	} cbuf;
	struct spawn_reply rep;
	struct spawn_req r;
	struct msghdr msg;
	struct cmsghdr *cm;
	struct iovec iov;
	ssize_t n;
	int fd = -1, nfds = 0;
	pid_t pid;

	memset(&msg, 0, sizeof(msg));
	iov.iov_base = msgbuf.b;
	iov.iov_len = sizeof(msgbuf.b);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf.b;
	msg.msg_controllen = sizeof(cbuf.b);
	do
		n = recvmsg(SPAWN_CTL_FD, &msg, MSG_CMSG_CLOEXEC);
	while (n == -1 && errno == EINTR);
	if (n <= 0)
		return -1;
	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_RIGHTS) {
			size_t i, k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (i = 0; i < k; i++) {
				int x;
				memcpy(&x, CMSG_DATA(cm) + i * sizeof(int),
				    sizeof(int));
				if (nfds++ == 0)
					fd = x;
				else
					close(x);
			}
		}
	}

	memset(&rep, 0, sizeof(rep));
	rep.sp_type = SPAWN_REPLY_TYPE;
	if ((size_t)n >= 16)
		memcpy(&rep.sp_seq, msgbuf.b + 8, sizeof(rep.sp_seq));
	if (nfds != 1 || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
	    spawn_decode(msgbuf.b, (size_t)n, &r) == -1) {
		log_warnx("secho-spawn: malformed request (%zd bytes, %d "
		    "descriptors) refused", n, nfds);
		rep.sp_errno = EINVAL;
	} else {
		apply_log(&r);
		/*
		 * Like fork(), but the child's parent is the master, which
		 * counts, reaps and signals it as any child of its own.
		 */
		sigset_t stop, old;

		/*
		 * TERM/INT blocked across the clone: the child takes a stop
		 * request only once its handler is in place (a close line).
		 */
		sigemptyset(&stop);
		sigaddset(&stop, SIGTERM);
		sigaddset(&stop, SIGINT);
		sigprocmask(SIG_BLOCK, &stop, &old);
		pid = (pid_t)syscall(SYS_clone, CLONE_PARENT | SIGCHLD, 0, 0,
		    0, 0);
		if (pid == 0)
			child_main(&r, fd);
		sigprocmask(SIG_SETMASK, &old, NULL);
		if (pid == -1)
			rep.sp_errno = errno;
		else
			rep.sp_pid = pid;
	}
	if (fd != -1)
		close(fd);
	/*
	 * The socket is non-blocking (the children's end too); the master
	 * reads it all the time, so wait for room rather than lose a pid.
	 */
	for (;;) {
		struct pollfd pfd = { .fd = SPAWN_REPORT_FD, .events = POLLOUT };

		n = send(SPAWN_REPORT_FD, &rep, sizeof(rep), MSG_NOSIGNAL);
		if (n == (ssize_t)sizeof(rep))
			return 0;
		if (n == -1 && errno != EINTR && errno != EAGAIN &&
		    errno != EWOULDBLOCK && errno != ENOBUFS)
			return -1;
		if (n == -1 && errno != EINTR)
			poll(&pfd, 1, 100);
	}
}

int
main(int argc, char **argv)
{
	struct sigaction sa;
	sigset_t mask;

	if (argc != 3 || fcntl(SPAWN_CTL_FD, F_GETFD) == -1 ||
	    fcntl(SPAWN_REPORT_FD, F_GETFD) == -1) {
		fprintf(stderr, "secho-spawn: started by secho(8) only\n");
		return 64;
	}
	if (strcmp(argv[2], SPAWN_PROTOCOL) != 0) {
		fprintf(stderr, "secho-spawn: protocol %s, secho speaks %s: "
		    "restart secho\n", SPAWN_PROTOCOL, argv[2]);
		return 65;
	}
	/* Gone with the master, even if it is killed. */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (getppid() != (pid_t)strtol(argv[1], NULL, 10))
		return 0;	/* the master died before that */
	/*
	 * Signals: TERM and INT end it (default action); HUP and USR1 are
	 * for the master ("pkill -HUP secho" matches this name too) and are
	 * ignored; USR2, the master's verdict to a PROXY child, stays
	 * blocked so that children take it with sigtimedwait().  Children
	 * set up their own handlers and mask (stream_child_signals()).
	 */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR2);
	sigprocmask(SIG_SETMASK, &mask, NULL);
	while (serve_request() == 0)
		;
	return 0;
}

/*
 * spawn.c - the protocol between the master and secho-spawn, and the
 * master's side of it: find, start, feed and read the spawner.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "secho/clock.h"
#include "secho/closefrom.h"
#include "secho/spawn.h"

#ifndef SECHO_LIBEXECDIR
#define SECHO_LIBEXECDIR "/usr/lib/secho"
#endif

/* What travels: this header, the access lists, then three strings. */
struct spawn_wire {
	uint32_t		 w_magic;
	uint32_t		 w_len;
	uint64_t		 w_seq;
	struct sockaddr_storage	 w_peer;
	int32_t			 w_idle_ms;
	int32_t			 w_handshake_ms;
	int32_t			 w_proxy;
	int32_t			 w_log_facility;
	int32_t			 w_log_level;
	int32_t			 w_log_stderr;
	int32_t			 w_drop;
	uint32_t		 w_uid;
	uint32_t		 w_gid;
	uint32_t		 w_name_len;	/* each with its NUL */
	uint32_t		 w_ident_len;
	uint32_t		 w_chroot_len;	/* 0: no chroot */
	uint32_t		 w_nallow;
	uint32_t		 w_ndeny;
};

#define WIRE_HDR	((sizeof(struct spawn_wire) + 7) & ~(size_t)7)

size_t
spawn_encode(const struct spawn_req *r, void *buf, size_t len)
{
	struct spawn_wire w;
	size_t nl = strlen(r->sr_name) + 1, il = strlen(r->sr_ident) + 1;
	size_t cl = r->sr_chroot ? strlen(r->sr_chroot) + 1 : 0;
	size_t al = r->sr_allow.count * sizeof(struct cidr);
	size_t dl = r->sr_deny.count * sizeof(struct cidr);
	size_t total = WIRE_HDR + al + dl + nl + il + cl;
	char *p = buf;

	if (total > len || total > SPAWN_MSG_MAX)
		return 0;
	memset(&w, 0, sizeof(w));
	w.w_magic = SPAWN_MAGIC;
	w.w_len = (uint32_t)total;
	w.w_seq = r->sr_seq;
	w.w_peer = r->sr_peer;
	w.w_idle_ms = r->sr_idle_ms;
	w.w_handshake_ms = r->sr_handshake_ms;
	w.w_proxy = r->sr_proxy;
	w.w_log_facility = r->sr_log_facility;
	w.w_log_level = r->sr_log_level;
	w.w_log_stderr = r->sr_log_stderr;
	w.w_drop = r->sr_drop;
	w.w_uid = r->sr_uid;
	w.w_gid = r->sr_gid;
	w.w_name_len = (uint32_t)nl;
	w.w_ident_len = (uint32_t)il;
	w.w_chroot_len = (uint32_t)cl;
	w.w_nallow = (uint32_t)r->sr_allow.count;
	w.w_ndeny = (uint32_t)r->sr_deny.count;
	memset(p, 0, WIRE_HDR);
	memcpy(p, &w, sizeof(w));
	p += WIRE_HDR;
	if (al)
		memcpy(p, r->sr_allow.items, al);
	p += al;
	if (dl)
		memcpy(p, r->sr_deny.items, dl);
	p += dl;
	memcpy(p, r->sr_name, nl);
	p += nl;
	memcpy(p, r->sr_ident, il);
	p += il;
	if (cl)
		memcpy(p, r->sr_chroot, cl);
	return total;
}

static int
cidrs_valid(const struct cidr *c, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (c[i].family == AF_INET) {
			if (c[i].prefix < 0 || c[i].prefix > 32)
				return 0;
		} else if (c[i].family == AF_INET6) {
			if (c[i].prefix < 0 || c[i].prefix > 128)
				return 0;
		} else
			return 0;
	}
	return 1;
}

/* A string of exactly len bytes with its NUL at the end; NULL if not. */
static const char *
wire_string(const char *p, size_t len)
{
	if (len == 0 || p[len - 1] != '\0' || strlen(p) != len - 1)
		return NULL;
	return p;
}

int
spawn_decode(const void *buf, size_t len, struct spawn_req *r)
{
	struct spawn_wire w;
	const char *p = buf;
	size_t al, dl, need;

	if (len < WIRE_HDR || len > SPAWN_MSG_MAX)
		return -1;
	memcpy(&w, buf, sizeof(w));
	if (w.w_magic != SPAWN_MAGIC || w.w_len != len)
		return -1;
	if (w.w_peer.ss_family != AF_INET && w.w_peer.ss_family != AF_INET6)
		return -1;
	if (w.w_idle_ms < 0 || w.w_handshake_ms < 0 || w.w_log_level < 0 ||
	    w.w_log_level > 7)
		return -1;
	/* Every count is bounded by len (< 2^16), so nothing overflows. */
	if (w.w_nallow > len || w.w_ndeny > len || w.w_name_len > len ||
	    w.w_ident_len > len || w.w_chroot_len > len)
		return -1;
	al = (size_t)w.w_nallow * sizeof(struct cidr);
	dl = (size_t)w.w_ndeny * sizeof(struct cidr);
	need = WIRE_HDR + al + dl + w.w_name_len + w.w_ident_len +
	    w.w_chroot_len;
	if (need != len)
		return -1;

	memset(r, 0, sizeof(*r));
	p += WIRE_HDR;
	r->sr_allow.items = (struct cidr *)(uintptr_t)p;
	r->sr_allow.count = w.w_nallow;
	r->sr_allow.set = w.w_nallow > 0;
	p += al;
	r->sr_deny.items = (struct cidr *)(uintptr_t)p;
	r->sr_deny.count = w.w_ndeny;
	r->sr_deny.set = w.w_ndeny > 0;
	p += dl;
	if (!cidrs_valid(r->sr_allow.items, r->sr_allow.count) ||
	    !cidrs_valid(r->sr_deny.items, r->sr_deny.count))
		return -1;
	if ((r->sr_name = wire_string(p, w.w_name_len)) == NULL)
		return -1;
	p += w.w_name_len;
	if ((r->sr_ident = wire_string(p, w.w_ident_len)) == NULL)
		return -1;
	p += w.w_ident_len;
	if (w.w_chroot_len &&
	    (r->sr_chroot = wire_string(p, w.w_chroot_len)) == NULL)
		return -1;
	r->sr_seq = w.w_seq;
	r->sr_peer = w.w_peer;
	r->sr_idle_ms = w.w_idle_ms;
	r->sr_handshake_ms = w.w_handshake_ms;
	r->sr_proxy = w.w_proxy != 0;
	r->sr_log_facility = w.w_log_facility;
	r->sr_log_level = w.w_log_level;
	r->sr_log_stderr = w.w_log_stderr != 0;
	r->sr_drop = w.w_drop != 0;
	r->sr_uid = w.w_uid;
	r->sr_gid = w.w_gid;
	return 0;
}

/* ---- the master's side ---- */

int
spawner_locate(struct spawner *sp, char *where, size_t wherelen)
{
	const char *env = getenv("SECHO_SPAWN");
	char self[PATH_MAX];
	ssize_t n;
	char *slash;

	sp->sp_path[0] = '\0';
	if (env != NULL) {
		if (env[0] == '\0' || strcmp(env, "none") == 0)
			return 0;
		snprintf(where, wherelen, "%s", env);
		if (strlen(env) >= sizeof(sp->sp_path) || access(env, X_OK) != 0)
			return -1;
		strcpy(sp->sp_path, env);
		return 1;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL &&
		    (size_t)(slash - self) + sizeof("/secho-spawn") <=
		    sizeof(sp->sp_path)) {
			memcpy(sp->sp_path, self, (size_t)(slash - self));
			strcpy(sp->sp_path + (slash - self), "/secho-spawn");
			if (access(sp->sp_path, X_OK) == 0)
				return 1;
		}
	}
	snprintf(where, wherelen, "%s", SECHO_LIBEXECDIR "/secho-spawn");
	strcpy(sp->sp_path, SECHO_LIBEXECDIR "/secho-spawn");
	if (access(sp->sp_path, X_OK) == 0)
		return 1;
	sp->sp_path[0] = '\0';
	return -1;
}

/* fd moved to a number of at least 10 (out of the way of 3 and 4). */
static int
high_fd(int fd)
{
	return fd < 0 ? -1 : fcntl(fd, F_DUPFD, 10);
}

int
spawner_start(struct spawner *sp, int report_fd)
{
	char master[24];
	char *argv[] = { (char *)"secho-spawn", master,
	    (char *)SPAWN_PROTOCOL, NULL };
	int sv[2], ep[2], saved, err;
	ssize_t n;
	pid_t pid;

	if (sp->sp_path[0] == '\0' || report_fd == -1) {
		errno = ENOENT;
		return -1;
	}
	/* SEQPACKET: one request per message, its descriptor with it. */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == -1)
		return -1;
	/* Closed by a successful exec; an errno comes through otherwise. */
	if (pipe2(ep, O_CLOEXEC) == -1) {
		saved = errno;
		close(sv[0]);
		close(sv[1]);
		errno = saved;
		return -1;
	}
	snprintf(master, sizeof(master), "%ld", (long)getpid());
	pid = fork();
	if (pid == -1) {
		saved = errno;
		close(sv[0]);
		close(sv[1]);
		close(ep[0]);
		close(ep[1]);
		errno = saved;
		return -1;
	}
	if (pid == 0) {
		int ctl = high_fd(sv[1]), rep = high_fd(report_fd);
		int efd = high_fd(ep[1]);

		if (ctl == -1 || dup2(ctl, SPAWN_CTL_FD) == -1 ||
		    rep == -1 || dup2(rep, SPAWN_REPORT_FD) == -1 ||
		    efd == -1 || dup3(efd, SPAWN_REPORT_FD + 1, O_CLOEXEC) == -1)
			_exit(127);
		efd = SPAWN_REPORT_FD + 1;
		/* Nothing else of the master's goes with it. */
		close_from(efd + 1);
		/* Its own signal set-up starts from nothing blocked. */
		{
			sigset_t none;
			sigemptyset(&none);
			sigprocmask(SIG_SETMASK, &none, NULL);
		}
		execv(sp->sp_path, argv);
		err = errno;
		n = write(efd, &err, sizeof(err));
		(void)n;
		_exit(127);
	}
	close(sv[1]);
	close(ep[1]);
	do
		n = read(ep[0], &err, sizeof(err));
	while (n == -1 && errno == EINTR);
	close(ep[0]);
	if (n == (ssize_t)sizeof(err)) {
		close(sv[0]);
		waitpid(pid, NULL, 0);
		errno = err;
		return -1;
	}
	/* The master never waits for it; answers come on the report socket. */
	if (fcntl(sv[0], F_SETFL, O_NONBLOCK) == -1) {
		saved = errno;
		close(sv[0]);
		kill(pid, SIGKILL);
		errno = saved;
		return -1;	/* the reaper collects it */
	}
	sp->sp_fd = sv[0];
	sp->sp_pid = pid;
	sp->sp_started = clock_ms();
	return 0;
}

int
spawner_send(struct spawner *sp, struct spawn_req *r, int fd)
{
	static union {
		char		 b[SPAWN_MSG_MAX];
		uint64_t	 align;
	} buf;
	union {
		char		 b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr	 align;
	} cbuf;
	struct msghdr msg;
	struct cmsghdr *cm;
	struct iovec iov;
	size_t len;
	ssize_t n;

	if (sp->sp_fd == -1)
		return -1;
	r->sr_seq = sp->sp_seq + 1;
	if ((len = spawn_encode(r, buf.b, sizeof(buf.b))) == 0)
		return -1;
	memset(&msg, 0, sizeof(msg));
	memset(&cbuf, 0, sizeof(cbuf));
	iov.iov_base = buf.b;
	iov.iov_len = len;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf.b;
	msg.msg_controllen = sizeof(cbuf.b);
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	do
		n = sendmsg(sp->sp_fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n == -1 && errno == EINTR);
	if (n != (ssize_t)len)
		return -1;
	sp->sp_seq = r->sr_seq;
	return 0;
}

void
spawner_close(struct spawner *sp)
{
	if (sp->sp_fd != -1)
		close(sp->sp_fd);
	sp->sp_fd = -1;
}

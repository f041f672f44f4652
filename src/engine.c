/*
 * engine.c - an engine (engine.h): forks, owns and reaps the process of
 * each connection the master hands it, and reports on them in order on
 * its one channel to the master.  Only libc.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "secho/closefrom.h"
#include "secho/connreq.h"
#include "secho/dontfork.h"
#include "secho/engine.h"
#include "secho/forklean.h"
#include "secho/log.h"
#include "secho/msg.h"
#include "secho/slotidx.h"

/* One connection's process. */
struct kid {
	uint64_t	k_id;
	pid_t		k_pid;		/* 0: a free slot */
	int		k_fd;		/* PROXY channel (>= ENGINE_FD_BASE), -1 */
	int		k_polled;	/* k_fd is in the poll set */
	uint32_t	k_poll;		/* its place in the poll set */
	uint32_t	k_next;		/* free list */
};

/* The poll set's first entries: channel, signals, front. */
#define NFIXED		3

/* A message to the master that waits for room on the channel. */
struct outmsg {
	uint32_t	o_type;
	uint32_t	o_len;
	uint64_t	o_id;
	unsigned char	o_payload[ENGINE_MSG_MAX];	/* a PROXY peer, a
							   DTLS admission */
};
_Static_assert(sizeof(struct sockaddr_storage) <= ENGINE_MSG_MAX,
    "outmsg: no room for a peer");

struct engine {
	int			 e_chan;
	int			 e_sigfd;
	int			 e_chan_eof;
	int			 e_draining;
	int			 e_stopping;	/* exits by our signals: not logged */
	pid_t			 e_self;
	const struct conn_proto	*e_proto;
	/* processes: slots, by pid, by id (memory not forked: dontfork.h) */
	struct kid		*e_kids;
	size_t			 e_cap, e_nkids;
	uint32_t		 e_free;	/* first free slot, e_cap: none */
	struct slotidx		 e_by_pid, e_by_id;
	/* poll set: [0] channel, [1] signals, [2] front, then PROXY ones */
	struct pollfd		*e_pfds;
	uint32_t		*e_pslot;	/* slot of each PROXY channel */
	size_t			 e_npoll;
	/* outbox, a ring */
	struct outmsg		*e_out;
	size_t			 e_ocap, e_ohead, e_olen;
};

/* The request being served: in forked memory, the new process reads it. */
static union {
	char		b[MSG_MAX];
	struct msg_hdr	align;
} reqbuf;

static uint64_t
key_pid(const void *ctx, uint32_t slot)
{
	return (uint64_t)((const struct engine *)ctx)->e_kids[slot].k_pid;
}

static uint64_t
key_id(const void *ctx, uint32_t slot)
{
	return ((const struct engine *)ctx)->e_kids[slot].k_id;
}

/* ---- the table of processes ---- */

static int
table_grow(struct engine *e)
{
	size_t ncap = e->e_cap ? e->e_cap * 2 : 64, i;
	struct kid *nk = dontfork_calloc(ncap, sizeof(*nk));
	struct pollfd *np = dontfork_calloc(ncap + NFIXED, sizeof(*np));
	uint32_t *ns = dontfork_calloc(ncap + NFIXED, sizeof(*ns));
	struct slotidx bp, bi;

	bp.si_tab = bi.si_tab = NULL;
	if (nk == NULL || np == NULL || ns == NULL ||
	    slotidx_init(&bp, ncap) == -1 || slotidx_init(&bi, ncap) == -1) {
		dontfork_free(nk, ncap, sizeof(*nk));
		dontfork_free(np, ncap + NFIXED, sizeof(*np));
		dontfork_free(ns, ncap + NFIXED, sizeof(*ns));
		if (bp.si_tab)
			slotidx_free(&bp);
		if (bi.si_tab)
			slotidx_free(&bi);
		return -1;
	}
	if (e->e_cap) {
		memcpy(nk, e->e_kids, e->e_cap * sizeof(*nk));
		memcpy(np, e->e_pfds, e->e_npoll * sizeof(*np));
		memcpy(ns, e->e_pslot, e->e_npoll * sizeof(*ns));
	}
	/* The table was full: every old slot is in use. */
	for (i = e->e_cap; i < ncap; i++)
		nk[i].k_next = (uint32_t)(i + 1);
	e->e_free = (uint32_t)e->e_cap;
	dontfork_free(e->e_kids, e->e_cap, sizeof(*e->e_kids));
	dontfork_free(e->e_pfds, e->e_cap + NFIXED, sizeof(*e->e_pfds));
	dontfork_free(e->e_pslot, e->e_cap + NFIXED, sizeof(*e->e_pslot));
	slotidx_free(&e->e_by_pid);
	slotidx_free(&e->e_by_id);
	e->e_kids = nk;
	e->e_pfds = np;
	e->e_pslot = ns;
	e->e_by_pid = bp;
	e->e_by_id = bi;
	e->e_cap = ncap;
	for (i = 0; i < ncap; i++) {
		if (nk[i].k_pid == 0)
			continue;
		slotidx_insert(&e->e_by_pid, (uint64_t)nk[i].k_pid, (uint32_t)i);
		slotidx_insert(&e->e_by_id, nk[i].k_id, (uint32_t)i);
	}
	return 0;
}

static void
poll_add(struct engine *e, uint32_t slot)
{
	struct kid *k = &e->e_kids[slot];

	k->k_polled = 1;
	k->k_poll = (uint32_t)e->e_npoll;
	e->e_pfds[e->e_npoll].fd = k->k_fd;
	e->e_pfds[e->e_npoll].events = POLLIN;
	e->e_pfds[e->e_npoll].revents = 0;
	e->e_pslot[e->e_npoll++] = slot;
}

/* Out of the poll set; the last of the set takes its place. */
static void
poll_remove(struct engine *e, uint32_t slot)
{
	struct kid *k = &e->e_kids[slot];
	size_t i = k->k_poll, last = e->e_npoll - 1;

	k->k_polled = 0;
	if (i != last) {
		e->e_pfds[i] = e->e_pfds[last];
		e->e_pslot[i] = e->e_pslot[last];
		e->e_kids[e->e_pslot[i]].k_poll = (uint32_t)i;
	}
	e->e_npoll--;
}

/* ---- to the master ---- */

/*
 * The master cannot be told (its end closed, or worse): without it the
 * connections cannot be counted, so the engine ends, and its processes
 * with it.
 */
static void
master_lost(struct engine *e)
{
	log_err("engine %ld: cannot write to the master; ending",
	    (long)e->e_self);
	_exit(1);
}

static void
flush_out(struct engine *e)
{
	struct outmsg *o;

	while (e->e_olen > 0) {
		o = &e->e_out[e->e_ohead];
		if (msg_send(e->e_chan, o->o_type, o->o_id, o->o_payload,
		    o->o_len, -1) == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == ENOBUFS)
				return;
			master_lost(e);
		}
		e->e_ohead = (e->e_ohead + 1) % e->e_ocap;
		e->e_olen--;
	}
}

/*
 * Tell the master, in order: at once when nothing waits, else behind
 * what waits.  Nothing is dropped while the master lives (a master that
 * does not read, stopped or busy, only makes the outbox grow).
 */
static void
tell(struct engine *e, uint32_t type, uint64_t id, const void *p,
    size_t len)
{
	struct outmsg *o;

	if (len > sizeof(((struct outmsg *)0)->o_payload)) {
		log_errx("engine %ld: a message of %zu bytes", (long)e->e_self,
		    len);
		_exit(1);	/* cannot be: the sizes are fixed above */
	}
	if (e->e_chan_eof)
		return;		/* the master is gone; so are we, soon */
	if (e->e_olen == 0 && msg_send(e->e_chan, type, id, p, len, -1) == 0)
		return;
	if (e->e_olen == 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
	    errno != ENOBUFS)
		master_lost(e);
	if (e->e_olen == e->e_ocap) {
		size_t ncap = e->e_ocap ? e->e_ocap * 2 : 256, i;
		struct outmsg *n = dontfork_calloc(ncap, sizeof(*n));

		if (n == NULL) {
			/* Inconsistency is fatal: the master would count a
			 * connection for ever.  Our processes die with us. */
			log_errx("engine %ld: out of memory for messages to "
			    "the master", (long)e->e_self);
			_exit(1);
		}
		for (i = 0; i < e->e_olen; i++)
			n[i] = e->e_out[(e->e_ohead + i) % e->e_ocap];
		dontfork_free(e->e_out, e->e_ocap, sizeof(*e->e_out));
		e->e_out = n;
		e->e_ocap = ncap;
		e->e_ohead = 0;
	}
	o = &e->e_out[(e->e_ohead + e->e_olen) % e->e_ocap];
	o->o_type = type;
	o->o_id = id;
	o->o_len = (uint32_t)len;
	memcpy(o->o_payload, p, len);
	e->e_olen++;
}

static void
tell_int(struct engine *e, uint32_t type, uint64_t id, int32_t v)
{
	tell(e, type, id, &v, sizeof(v));
}

/* ---- a process's PROXY channel ---- */

/*
 * The one message a process sends about its PROXY peer (MSG_PEER, or
 * MSG_ACCESS when an access list refused it) goes on to the master.  Its
 * channel is read once: more would stay in the kernel's buffer, not in
 * ours.  It stays open for the verdict after MSG_PEER.
 */
static void
relay(struct engine *e, uint32_t slot)
{
	union {
		char		b[512];
		struct msg_hdr	align;
	} buf;
	struct sockaddr_storage ss;
	struct msg_hdr h;
	struct kid *k = &e->e_kids[slot];
	int fd, r;

	r = msg_recv(k->k_fd, buf.b, sizeof(buf.b), &h, &fd);
	if (r == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return;		/* nothing yet */
	poll_remove(e, slot);
	if (r == 1 && fd != -1)
		close(fd);
	if (r == 1 && (h.mh_type == MSG_PEER || h.mh_type == MSG_ACCESS) &&
	    h.mh_len == sizeof(ss)) {
		memcpy(&ss, msg_payload(buf.b), sizeof(ss));
		if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) {
			tell(e, h.mh_type, k->k_id, &ss, sizeof(ss));
			if (h.mh_type == MSG_PEER)
				return;		/* a verdict goes back */
		}
	}
	close(k->k_fd);
	k->k_fd = -1;
}

/* ---- processes ---- */

static void
log_exit(pid_t pid, int status)
{
	if (WIFSIGNALED(status))
		log_warnx("connection process %ld killed by signal %d (%s)",
		    (long)pid, WTERMSIG(status), strsignal(WTERMSIG(status)));
	else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
		log_warnx("connection process %ld exited with status %d",
		    (long)pid, WEXITSTATUS(status));
}

static void
reap(struct engine *e)
{
	struct signalfd_siginfo si;
	struct kid *k;
	long slot;
	pid_t pid;
	int status;

	while (read(e->e_sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		;
	for (;;) {
		pid = waitpid(-1, &status, WNOHANG);
		if (pid == -1 && errno == EINTR)
			continue;
		if (pid <= 0)
			break;
		slot = slotidx_find(&e->e_by_pid, (uint64_t)pid, key_pid, e);
		if (slot < 0) {
			log_errx("engine %ld: reaped %ld, not one of its "
			    "connections", (long)e->e_self, (long)pid);
			continue;
		}
		k = &e->e_kids[slot];
		/* What it said before it ended goes first. */
		if (k->k_polled)
			relay(e, (uint32_t)slot);
		if (k->k_fd != -1) {
			close(k->k_fd);
			k->k_fd = -1;
		}
		tell_int(e, MSG_ENDED, k->k_id, status);
		/* After: when this line is read, the master can know. */
		if (!e->e_stopping)
			log_exit(pid, status);
		slotidx_remove(&e->e_by_pid, (uint64_t)pid, key_pid, e);
		slotidx_remove(&e->e_by_id, k->k_id, key_id, e);
		k->k_pid = 0;
		k->k_next = e->e_free;
		e->e_free = (uint32_t)slot;
		e->e_nkids--;
	}
}

/* The log settings in force; a request with others re-opens syslog. */
static void
apply_log(const struct conn_req *r)
{
	static struct {
		int	set;
		char	ident[64];
		int	facility, level, to_stderr;
	} cur;

	if (cur.set && strncmp(cur.ident, r->cr_ident, sizeof(cur.ident)) == 0 &&
	    cur.facility == r->cr_log_facility &&
	    cur.level == r->cr_log_level && cur.to_stderr == r->cr_log_stderr)
		return;
	snprintf(cur.ident, sizeof(cur.ident), "%s", r->cr_ident);
	cur.facility = r->cr_log_facility;
	cur.level = r->cr_log_level;
	cur.to_stderr = r->cr_log_stderr;
	cur.set = 1;
	log_init(cur.ident, cur.facility, cur.level, cur.to_stderr);
}

/* In the new process: never returns. */
static void
start_conn(const struct engine *e, const struct conn_req *r, int fd, int rfd)
{
	int keep[2];

	/* Gone with the engine; and if it is gone already, so are we. */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (getppid() != e->e_self)
		_exit(1);
	prctl(PR_SET_NAME, "secho", 0, 0, 0);
	/* The engine's descriptors and the other connections' go. */
	close(e->e_chan);
	close(e->e_sigfd);
	keep[0] = fd;
	keep[1] = rfd;
	close_from_except(ENGINE_FD_BASE, keep, 2);
	if (e->e_proto->cp_front)
		e->e_proto->cp_front->ef_child(e->e_proto->cp_front_arg);
	if (e->e_proto->cp_start)
		e->e_proto->cp_start();
	conn_main(r, fd, rfd, e->e_proto);
}

/* MSG_CONN: a process for the connection on fd, or MSG_NOT_STARTED. */
static void
new_conn(struct engine *e, uint64_t id, const void *p, size_t len, int fd)
{
	struct conn_req r;
	struct kid *k;
	int sv[2] = { -1, -1 }, efd = -1, err;
	pid_t pid;

	if (fd == -1 || connreq_decode(p, len, &r) == -1) {
		log_errx("engine %ld: malformed request for connection %llu",
		    (long)e->e_self, (unsigned long long)id);
		err = EINVAL;
		goto fail;
	}
	if (e->e_proto->cp_gen != 0 && r.cr_gen != e->e_proto->cp_gen) {
		log_errx("engine %ld: connection %llu of configuration %u, "
		    "not %u", (long)e->e_self, (unsigned long long)id,
		    r.cr_gen, e->e_proto->cp_gen);
		err = ESTALE;
		goto fail;
	}
	if (slotidx_find(&e->e_by_id, id, key_id, e) >= 0) {
		/* The master and we disagree: not guessed about. */
		log_errx("engine %ld: connection %llu handed over twice; "
		    "ending", (long)e->e_self, (unsigned long long)id);
		_exit(1);
	}
	if (e->e_nkids == e->e_cap && table_grow(e) == -1) {
		err = ENOMEM;
		goto fail;
	}
	apply_log(&r);
	if (r.cr_proxy) {
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, 0, sv) == -1 ||
		    (efd = fcntl(sv[0], F_DUPFD_CLOEXEC, ENGINE_FD_BASE)) == -1) {
			err = errno;
			goto fail;
		}
		close(sv[0]);
		sv[0] = -1;
	}
	pid = fork_lean();
	if (pid == 0)
		start_conn(e, &r, fd, sv[1]);
	err = errno;
	close(fd);
	fd = -1;
	if (sv[1] != -1)
		close(sv[1]);
	sv[1] = -1;
	if (pid == -1)
		goto fail;

	k = &e->e_kids[e->e_free];
	e->e_free = k->k_next;
	k->k_id = id;
	k->k_pid = pid;
	k->k_fd = efd;
	slotidx_insert(&e->e_by_pid, (uint64_t)pid, (uint32_t)(k - e->e_kids));
	slotidx_insert(&e->e_by_id, id, (uint32_t)(k - e->e_kids));
	e->e_nkids++;
	if (efd != -1)
		poll_add(e, (uint32_t)(k - e->e_kids));
	tell_int(e, MSG_STARTED, id, (int32_t)pid);
	return;
fail:
	/* The client is closed at once; the master says why (rate-limited). */
	if (fd != -1)
		close(fd);
	if (sv[0] != -1)
		close(sv[0]);
	if (sv[1] != -1)
		close(sv[1]);
	if (efd != -1)
		close(efd);
	tell_int(e, MSG_NOT_STARTED, id, err);
}

/* The master's answer about a peer the front asked about (token first):
 * admitted, its socket is connection id like any other from here on. */
static void
answered(struct engine *e, uint32_t type, uint64_t id, const void *p,
    size_t len)
{
	const struct engine_front *f = e->e_proto->cp_front;
	uint64_t token;
	int fd;

	if (f == NULL || len < sizeof(token) ||
	    (type == MSG_REFUSED && len != sizeof(token))) {
		log_errx("engine %ld: an unasked answer; ending", (long)e->e_self);
		_exit(1);
	}
	memcpy(&token, p, sizeof(token));
	if (type == MSG_REFUSED)
		f->ef_refused(e->e_proto->cp_front_arg, token);
	else if ((fd = f->ef_admitted(e->e_proto->cp_front_arg, token)) == -1)
		tell_int(e, MSG_NOT_STARTED, id, errno);
	else
		new_conn(e, id, (const char *)p + sizeof(token),
		    len - sizeof(token), fd);
}

void
engine_ask(struct engine *e, const void *p, size_t len)
{
	tell(e, MSG_ADMIT, 0, p, len);
}

static void
signal_all(struct engine *e, int sig)
{
	size_t i;

	/* Our own children, not reaped yet: their pids are still theirs. */
	for (i = 0; i < e->e_cap; i++)
		if (e->e_kids[i].k_pid > 0)
			kill(e->e_kids[i].k_pid, sig);
}

/* Messages from the master. */
static void
from_master(struct engine *e)
{
	struct msg_hdr h;
	long slot;
	int32_t v;
	int fd, r, n;

	for (n = 0; n < 64; n++) {
		r = msg_recv(e->e_chan, reqbuf.b, sizeof(reqbuf.b), &h, &fd);
		if (r == 0) {
			/* The master is gone: PR_SET_PDEATHSIG ends us. */
			e->e_chan_eof = e->e_draining = 1;
			e->e_olen = 0;
			e->e_pfds[0].fd = -1;
			return;
		}
		if (r == -1) {
			if (errno == EBADMSG) {
				log_errx("engine %ld: malformed message from "
				    "the master; ending", (long)e->e_self);
				_exit(1);
			}
			return;
		}
		switch (h.mh_type) {
		case MSG_CONN:
			new_conn(e, h.mh_id, msg_payload(reqbuf.b), h.mh_len,
			    fd);
			fd = -1;
			break;
		case MSG_VERDICT:
			slot = slotidx_find(&e->e_by_id, h.mh_id, key_id, e);
			/* A process that has ended, or never asked: nobody
			 * to tell. */
			if (slot >= 0 && e->e_kids[slot].k_fd != -1 &&
			    !e->e_kids[slot].k_polled &&
			    h.mh_len == sizeof(v)) {
				(void)msg_send(e->e_kids[slot].k_fd,
				    MSG_VERDICT, 0, msg_payload(reqbuf.b),
				    sizeof(v), -1);
				close(e->e_kids[slot].k_fd);
				e->e_kids[slot].k_fd = -1;
			}
			break;
		case MSG_ADMITTED:
		case MSG_REFUSED:
			answered(e, h.mh_type, h.mh_id, msg_payload(reqbuf.b),
			    h.mh_len);
			break;
		case MSG_DRAIN:
			e->e_draining = 1;
			e->e_pfds[2].fd = -1;
			if (e->e_proto->cp_front)
				e->e_proto->cp_front->ef_drain(
				    e->e_proto->cp_front_arg);
			break;
		case MSG_STOP:
			if (h.mh_len == sizeof(v)) {
				memcpy(&v, msg_payload(reqbuf.b), sizeof(v));
				if (v == SIGTERM || v == SIGKILL) {
					e->e_stopping = 1;
					signal_all(e, v);
				}
			}
			break;
		default:
			log_errx("engine %ld: unknown message %u from the "
			    "master; ending", (long)e->e_self,
			    (unsigned)h.mh_type);
			_exit(1);
		}
		if (fd != -1)
			close(fd);
	}
}

int
engine_run(int chan, pid_t master, const struct conn_proto *proto)
{
	const struct engine_front *front = proto->cp_front;
	struct engine e;
	sigset_t set;
	size_t i;
	int fl;

	/* Gone with the master, even if it is killed. */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (getppid() != master)
		return 0;	/* the master died before that */
	memset(&e, 0, sizeof(e));
	e.e_chan = chan;
	e.e_self = getpid();
	e.e_proto = proto;
	/*
	 * Signals: CHLD comes through a signalfd.  HUP, USR1, TERM and INT
	 * are for the master ("pkill -HUP secho" matches us too) and stay
	 * blocked: a connection process inherits the mask, so a stop request
	 * sent to it before its handler is in place waits for it, not lost.
	 */
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_SETMASK, &set, NULL);
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	if ((e.e_sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1 ||
	    e.e_sigfd >= ENGINE_FD_BASE || e.e_chan >= ENGINE_FD_BASE ||
	    ((fl = fcntl(chan, F_GETFL)) == -1 ||
	    fcntl(chan, F_SETFL, fl | O_NONBLOCK) == -1) ||
	    table_grow(&e) == -1) {
		log_err("engine %ld: cannot set up", (long)e.e_self);
		return 1;
	}
	e.e_pfds[0].fd = e.e_chan;
	e.e_pfds[1].fd = e.e_sigfd;
	e.e_pfds[1].events = POLLIN;
	e.e_pfds[2].fd = front ? front->ef_fd(proto->cp_front_arg) : -1;
	e.e_pfds[2].events = POLLIN;
	e.e_npoll = NFIXED;

	while (!(e.e_draining && e.e_nkids == 0 &&
	    (front == NULL || front->ef_pending(proto->cp_front_arg) == 0))) {
		e.e_pfds[0].events = POLLIN | (e.e_olen ? POLLOUT : 0);
		/* A draining front has no duties: a drain waits for ends. */
		if (poll(e.e_pfds, e.e_npoll, front && !e.e_draining ?
		    front->ef_timeout(proto->cp_front_arg) : -1) == -1) {
			if (errno == EINTR)
				continue;
			log_err("engine %ld: poll", (long)e.e_self);
			return 1;	/* our processes die with us */
		}
		/* Backwards: a channel closed here is replaced by a later
		 * one, which was looked at already. */
		for (i = e.e_npoll; i-- > NFIXED;)
			if (e.e_pfds[i].revents)
				relay(&e, e.e_pslot[i]);
		if (e.e_pfds[1].revents & POLLIN)
			reap(&e);
		if (e.e_pfds[0].revents & (POLLIN | POLLHUP | POLLERR))
			from_master(&e);
		/* Datagrams, or its timer: after the master's answers. */
		if (front != NULL && !e.e_draining)
			front->ef_ready(proto->cp_front_arg, &e);
		flush_out(&e);
	}
	/* What is still waiting for the master goes before we do. */
	while (e.e_olen > 0 && !e.e_chan_eof) {
		struct pollfd p = { .fd = e.e_chan, .events = POLLOUT };

		if (poll(&p, 1, 1000) <= 0 || (p.revents & (POLLERR | POLLHUP)))
			break;
		flush_out(&e);
	}
	return 0;
}

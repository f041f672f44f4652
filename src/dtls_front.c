/*
 * dtls_front.c - the front of the secho-dtls engine: it owns the dtls
 * listener sockets and keeps no state for a client until the master has
 * admitted it.  Each datagram is guarded like a UDP echo's (source,
 * rate per host), then: a ClientHello without a valid cookie gets a
 * HelloVerifyRequest (dtls_cookie.c, never larger than the request),
 * anything else that is not a ClientHello is dropped without a reply
 * and counted ("dtls-drop" lines, at most one a second per reason), and
 * a ClientHello with a valid cookie is kept -- in a bounded table --
 * while the master is asked (MSG_ADMIT).  Admitted, the peer gets a
 * socket of its own, bound to the address it sent to and connected to
 * it; the engine forks the association's process on it (dtls_echo.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "secho/addr.h"
#include "secho/clock.h"
#include "secho/dtls.h"
#include "secho/engine.h"
#include "secho/log.h"
#include "secho/tls.h"
#include "secho/udp.h"

/* ClientHellos waiting for the master's answer, at most. */
#define PENDING_MAX	64
/* Datagrams read per listener and wake-up. */
#define READ_BATCH	64
/* Datagrams a new association's socket gives back to the front, at most. */
#define REHOME_MAX	4096
#define DROP_LOG_MS	1000
/* Room for the pktinfo of either family, and some. */
#define CTL_SPACE	(CMSG_SPACE(sizeof(struct in_pktinfo)) + \
			    CMSG_SPACE(sizeof(struct in6_pktinfo)) + 64)
#define RL_SLOTS	4096

enum drop {
	DROP_NOT_HELLO,		/* "not-client-hello" */
	DROP_PORT,		/* "source-port" */
	DROP_ADDRESS,		/* "source-address" */
	DROP_RATE,		/* "rate-limit" */
	DROP_BUSY,		/* "busy": too many questions pending */
	DROP_DUPLICATE,		/* "duplicate": being asked about */
	NDROP
};

static const char *const drop_names[NDROP] = {
	"not-client-hello", "source-port", "source-address", "rate-limit",
	"busy", "duplicate",
};

struct droplog {
	uint64_t		 dl_count;
	long long		 dl_last;
	int			 dl_logged;
	struct sockaddr_storage	 dl_peer;
};

struct pending {
	uint64_t		 p_token;	/* 0: a free slot */
	unsigned		 p_listener;	/* index in f_ls */
	struct sockaddr_storage	 p_peer;
	struct sockaddr_storage	 p_local;	/* the address it sent to */
	unsigned char		 p_cookie[DTLS_COOKIE_LEN];
	size_t			 p_len;
	unsigned char		 p_hello[DTLS_HELLO_MAX];
};

struct dtls_front {
	struct dtls_listen	*f_ls;
	size_t			 f_nls;
	int			 f_epfd;
	int			 f_draining;
	struct ratelimit	*f_rl;
	struct droplog		 f_drops[NDROP];
	struct pending		 f_pend[PENDING_MAX];
	size_t			 f_npend;
	uint64_t		 f_token;
	struct engine		*f_engine;	/* for datagrams read late */
	unsigned char		 f_buf[DTLS_HELLO_MAX + 1];
};

struct dtls_first dtls_first;

_Static_assert(sizeof(struct dtls_admit) <= ENGINE_MSG_MAX,
    "MSG_ADMIT does not fit an engine's message");

static socklen_t
sa_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) :
	    sizeof(struct sockaddr_in6);
}

struct dtls_front *
dtls_front_new(const struct dtls_listen *l, size_t n, unsigned rate)
{
	struct dtls_front *f;
	struct epoll_event ev;
	size_t i;
	int low;

	if ((f = calloc(1, sizeof(*f))) == NULL ||
	    (f->f_ls = calloc(n ? n : 1, sizeof(*f->f_ls))) == NULL)
		goto fail;
	f->f_epfd = -1;
	if (rate > 0 && (f->f_rl = ratelimit_new(rate, RL_SLOTS)) == NULL)
		goto fail;
	if ((f->f_epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		goto fail;
	if (f->f_epfd >= ENGINE_FD_BASE) {
		if ((low = fcntl(f->f_epfd, F_DUPFD_CLOEXEC, 3)) == -1)
			goto fail;
		close(f->f_epfd);
		f->f_epfd = low;
	}
	for (i = 0; i < n; i++) {
		f->f_ls[i] = l[i];
		/* Below ENGINE_FD_BASE: the engine's own (engine.h). */
		if (l[i].dl_fd >= ENGINE_FD_BASE) {
			if ((low = fcntl(l[i].dl_fd, F_DUPFD_CLOEXEC, 3)) == -1)
				goto fail;
			close(l[i].dl_fd);
			f->f_ls[i].dl_fd = low;
		}
		low = f->f_ls[i].dl_fd;
		f->f_nls++;
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN;
		ev.data.u32 = (uint32_t)i;
		if (low >= ENGINE_FD_BASE || epoll_ctl(f->f_epfd, EPOLL_CTL_ADD,
		    f->f_ls[i].dl_fd, &ev) == -1)
			goto fail;
	}
	return f;
fail:
	if (f != NULL) {
		if (f->f_epfd != -1)
			close(f->f_epfd);
		ratelimit_free(f->f_rl);
		free(f->f_ls);
		free(f);
	}
	return NULL;
}

/* ---- drops ---- */

static void
drop(struct dtls_front *f, enum drop why, const struct sockaddr_storage *peer)
{
	f->f_drops[why].dl_count++;
	f->f_drops[why].dl_peer = *peer;
}

/* The lines that are due; ms until the next one, or -1. */
static int
drop_flush(struct dtls_front *f, long long now)
{
	struct droplog *d;
	struct logline ll;
	char name[ADDR_STRLEN];
	long long due;
	int i, wait = -1;

	for (i = 0; i < NDROP; i++) {
		d = &f->f_drops[i];
		if (d->dl_count == 0)
			continue;
		if (d->dl_logged && now < d->dl_last + DROP_LOG_MS) {
			due = d->dl_last + DROP_LOG_MS - now;
			if (wait == -1 || due < wait)
				wait = (int)due;
			continue;
		}
		log_begin(&ll, LOG_NOTICE, "dtls-drop");
		log_kv(&ll, "peer", addr_format((struct sockaddr *)&d->dl_peer,
		    name, sizeof(name)));
		log_kv(&ll, "reason", drop_names[i]);
		log_kvu(&ll, "count", d->dl_count);
		log_end(&ll);
		d->dl_count = 0;
		d->dl_last = now;
		d->dl_logged = 1;
	}
	return wait;
}

/* ---- datagrams ---- */

/* The local address a datagram was sent to, from its pktinfo. */
static void
local_addr(struct msghdr *m, const struct dtls_listen *l,
    struct sockaddr_storage *out)
{
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)out;
	struct sockaddr_in *s4 = (struct sockaddr_in *)out;
	struct in_pktinfo pi;
	struct in6_pktinfo pi6;
	struct cmsghdr *c;
	uint16_t port;

	*out = l->dl_addr;
	port = l->dl_addr.ss_family == AF_INET ?
	    ((const struct sockaddr_in *)&l->dl_addr)->sin_port :
	    ((const struct sockaddr_in6 *)&l->dl_addr)->sin6_port;
	for (c = CMSG_FIRSTHDR(m); c != NULL; c = CMSG_NXTHDR(m, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO &&
		    c->cmsg_len >= CMSG_LEN(sizeof(pi))) {
			memcpy(&pi, CMSG_DATA(c), sizeof(pi));
			/* The address answers come from, as udp.c's: the
			 * destination for unicast. */
			if (pi.ipi_spec_dst.s_addr != INADDR_ANY)
				pi.ipi_addr = pi.ipi_spec_dst;
			if (out->ss_family == AF_INET) {
				s4->sin_addr = pi.ipi_addr;
			} else {
				/* IPv4 on a dual-stack socket: mapped. */
				memset(&s6->sin6_addr, 0, 16);
				s6->sin6_addr.s6_addr[10] = 0xff;
				s6->sin6_addr.s6_addr[11] = 0xff;
				memcpy(&s6->sin6_addr.s6_addr[12], &pi.ipi_addr, 4);
				s6->sin6_scope_id = 0;
			}
			return;
		}
		if (c->cmsg_level == IPPROTO_IPV6 &&
		    c->cmsg_type == IPV6_PKTINFO && out->ss_family == AF_INET6 &&
		    c->cmsg_len >= CMSG_LEN(sizeof(pi6))) {
			memcpy(&pi6, CMSG_DATA(c), sizeof(pi6));
			s6->sin6_addr = pi6.ipi6_addr;
			s6->sin6_scope_id =
			    IN6_IS_ADDR_LINKLOCAL(&pi6.ipi6_addr) ?
			    (uint32_t)pi6.ipi6_ifindex : 0;
			s6->sin6_port = port;
			return;
		}
	}
}

/* A HelloVerifyRequest to the sender of m, from where it sent to. */
static void
send_hvr(struct dtls_listen *l, struct msghdr *rm, const unsigned char *hvr,
    size_t len)
{
	union {
		struct cmsghdr	align;
		unsigned char	b[CMSG_SPACE(sizeof(struct in6_pktinfo))];
	} ctl;
	struct msghdr sm;
	struct iovec iov;

	memset(&sm, 0, sizeof(sm));
	iov.iov_base = (void *)(uintptr_t)hvr;
	iov.iov_len = len;
	sm.msg_name = rm->msg_name;
	sm.msg_namelen = rm->msg_namelen;
	sm.msg_iov = &iov;
	sm.msg_iovlen = 1;
	sm.msg_control = ctl.b;
	if ((sm.msg_controllen = udp_reply_control(rm, ctl.b)) == 0)
		sm.msg_control = NULL;
	/* Stateless: a reply that cannot go now is not tried again. */
	(void)sendmsg(l->dl_fd, &sm, MSG_DONTWAIT);
}

/*
 * Is the master being asked about peer already?  (Whether it has an
 * association is the master's to say: it knows those of every engine,
 * also of one draining after a reload -- policy.c.)
 */
static int
asking_about(struct dtls_front *f, const struct sockaddr_storage *peer)
{
	size_t i;

	for (i = 0; i < PENDING_MAX; i++)
		if (f->f_pend[i].p_token != 0 &&
		    addr_equal((const struct sockaddr *)&f->f_pend[i].p_peer,
		    (const struct sockaddr *)peer))
			return 1;
	return 0;
}

/* One datagram of n bytes in f_buf, from m's sender, on listener li. */
static void
datagram(struct dtls_front *f, struct engine *e, unsigned li,
    struct msghdr *m, size_t n, long long now)
{
	struct sockaddr_storage *peer = m->msg_name;
	const unsigned char *secrets[2] = { NULL, NULL };
	unsigned char cookie[DTLS_COOKIE_LEN], hvr[DTLS_HVR_LEN], key[16];
	struct dtls_hello h;
	struct dtls_admit a;
	struct pending *p;
	size_t ns, i;

	switch (udp_check_source((struct sockaddr *)peer)) {
	case UDP_OK:
		break;
	case UDP_DROP_PORT:
		drop(f, DROP_PORT, peer);
		return;
	default:
		drop(f, DROP_ADDRESS, peer);
		return;
	}
	addr_host_key((struct sockaddr *)peer, key);
	if (f->f_rl != NULL && !ratelimit_allow(f->f_rl, key,
	    (uint64_t)now)) {
		drop(f, DROP_RATE, peer);
		return;
	}
	if ((m->msg_flags & MSG_TRUNC) || n > DTLS_HELLO_MAX ||
	    dtls_hello_parse(f->f_buf, n, &h) == -1 || n < DTLS_HVR_LEN) {
		drop(f, DROP_NOT_HELLO, peer);
		return;
	}
	ns = tls_cookie_secrets(secrets);
	if (h.dh_cookie_len == 0 || !dtls_cookie_check(secrets, ns,
	    (struct sockaddr *)peer, h.dh_random, h.dh_cookie,
	    h.dh_cookie_len, (uint32_t)(now / 1000))) {
		/* No reply larger than the request (n >= DTLS_HVR_LEN). */
		if (ns == 0 || dtls_cookie_make(secrets[0],
		    (struct sockaddr *)peer, h.dh_random, (uint32_t)(now / 1000),
		    cookie) == -1 ||
		    dtls_hvr_build(&h, cookie, hvr, sizeof(hvr)) != DTLS_HVR_LEN)
			return;
		send_hvr(&f->f_ls[li], m, hvr, DTLS_HVR_LEN);
		return;
	}
	/* The address is proven: the master decides (policy.c). */
	if (asking_about(f, peer)) {
		drop(f, DROP_DUPLICATE, peer);
		return;
	}
	if (f->f_npend == PENDING_MAX) {
		drop(f, DROP_BUSY, peer);
		return;
	}
	for (i = 0, p = f->f_pend; p->p_token != 0; i++, p++)
		;
	p->p_token = ++f->f_token;
	p->p_listener = li;
	p->p_peer = *peer;
	local_addr(m, &f->f_ls[li], &p->p_local);
	memcpy(p->p_cookie, h.dh_cookie, DTLS_COOKIE_LEN);
	memcpy(p->p_hello, f->f_buf, n);
	p->p_len = n;
	f->f_npend++;
	memset(&a, 0, sizeof(a));
	a.da_token = p->p_token;
	a.da_listener = f->f_ls[li].dl_index;
	a.da_peer = *peer;
	engine_ask(e, &a, sizeof(a));
}

/* The destination of each datagram read from fd (on: as the listener
 * has it), or not. */
static int
pktinfo_set(int fd, int family, int on)
{
	if (family == AF_INET6) {
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on,
		    sizeof(on)) == -1)
			return -1;
		/* IPv4 on a dual-stack socket; a v6-only one has none. */
		(void)setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof(on));
		return 0;
	}
	return setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof(on));
}

/* Receive one datagram of fd into f_buf, with its pktinfo; its length. */
static ssize_t
recv_one(struct dtls_front *f, int fd, struct msghdr *m, struct iovec *iov,
    struct sockaddr_storage *peer, void *ctl, size_t ctllen)
{
	ssize_t n;

	memset(m, 0, sizeof(*m));
	iov->iov_base = f->f_buf;
	iov->iov_len = sizeof(f->f_buf);
	m->msg_name = peer;
	m->msg_namelen = sizeof(*peer);
	m->msg_iov = iov;
	m->msg_iovlen = 1;
	m->msg_control = ctl;
	m->msg_controllen = ctllen;
	do
		n = recvmsg(fd, m, MSG_DONTWAIT);
	while (n == -1 && errno == EINTR);
	if (n >= 0 && (m->msg_namelen < sizeof(sa_family_t) ||
	    (peer->ss_family != AF_INET && peer->ss_family != AF_INET6)))
		n = -2;		/* no address to answer: skipped */
	return n;
}

/*
 * Up to max datagrams of fd through the front, as if listener li had
 * read them, but none from skip (if set).  Until fd has no more.
 */
static void
read_datagrams(struct dtls_front *f, unsigned li, int fd, size_t max,
    const struct sockaddr *skip)
{
	union {
		struct cmsghdr	align;
		unsigned char	b[CTL_SPACE];
	} ctl;
	struct sockaddr_storage peer;
	struct msghdr m;
	struct iovec iov;
	long long now = clock_ms();
	size_t k;
	ssize_t n;

	for (k = 0; k < max; k++) {
		n = recv_one(f, fd, &m, &iov, &peer, ctl.b, sizeof(ctl.b));
		if (n == -1)
			return;	/* EAGAIN, or an ICMP error read */
		if (n == -2 || (skip != NULL &&
		    addr_equal((struct sockaddr *)&peer, skip)))
			continue;
		datagram(f, f->f_engine, li, &m, (size_t)n, now);
	}
}

static void
front_ready(void *arg, struct engine *e)
{
	struct dtls_front *f = arg;
	size_t i;

	f->f_engine = e;
	for (i = 0; i < f->f_nls && !f->f_draining; i++)
		read_datagrams(f, (unsigned)i, f->f_ls[i].dl_fd, READ_BATCH,
		    NULL);
	(void)drop_flush(f, clock_ms());
}

static int
front_timeout(void *arg)
{
	struct dtls_front *f = arg;
	long long now = clock_ms(), due;
	int i, wait = -1;

	if (f->f_draining)
		return -1;	/* its counts were written out at the drain */
	for (i = 0; i < NDROP; i++) {
		if (f->f_drops[i].dl_count == 0)
			continue;
		due = f->f_drops[i].dl_logged ?
		    f->f_drops[i].dl_last + DROP_LOG_MS - now : 0;
		if (due < 0)
			due = 0;
		if (wait == -1 || due < wait)
			wait = (int)due;
	}
	return wait;
}

static int
front_fd(void *arg)
{
	return ((struct dtls_front *)arg)->f_epfd;
}

static struct pending *
find(struct dtls_front *f, uint64_t token)
{
	size_t i;

	for (i = 0; token != 0 && i < PENDING_MAX; i++)
		if (f->f_pend[i].p_token == token)
			return &f->f_pend[i];
	return NULL;
}

static void
release(struct dtls_front *f, struct pending *p)
{
	p->p_token = 0;
	f->f_npend--;
}

/*
 * Between bind() and connect(), the association's socket took datagrams
 * meant for the listener (the kernel may prefer it to the listener):
 * other clients' go through the front as if the listener had read them;
 * the peer's own are retransmissions of the ClientHello being answered.
 */
static void
rehome(struct dtls_front *f, unsigned li, int fd, const struct sockaddr *to)
{
	/* All of them (bounded): what stays goes to OpenSSL, not the peer's. */
	read_datagrams(f, li, fd, REHOME_MAX, to);
}

/*
 * The association's socket: bound to the address the client sent to,
 * on the listener's port (SO_REUSEPORT, as the listener: the same user
 * only), connected to the client, so the kernel hands it the client's
 * datagrams from now on.
 */
static int
front_admitted(void *arg, uint64_t token)
{
	struct dtls_front *f = arg;
	struct pending *p = find(f, token);
	struct dtls_listen *l;
	char name[ADDR_STRLEN];
	struct sockaddr_storage to;
	const struct sockaddr_in6 *l6;
	int fd = -1, on = 1, v6only, err;
	unsigned li;

	if (p == NULL) {
		log_errx("secho-dtls: admitted an unknown peer (%llu)",
		    (unsigned long long)token);
		errno = ESRCH;
		return -1;
	}
	li = p->p_listener;
	l = &f->f_ls[li];
	/*
	 * IPV6_V6ONLY as the listener's (listen.c: off on "::" only): the
	 * kernel groups SO_REUSEPORT sockets of one setting only, and in a
	 * group of the listener alone Linux 6.1 would hand it the peer's
	 * datagrams before it looks for a connected socket.
	 */
	l6 = (const struct sockaddr_in6 *)&l->dl_addr;
	v6only = l->dl_addr.ss_family == AF_INET6 &&
	    !IN6_IS_ADDR_UNSPECIFIED(&l6->sin6_addr);
	fd = socket(l->dl_addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)) == -1 ||
	    (l->dl_addr.ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &v6only, sizeof(v6only)) == -1) ||
	    pktinfo_set(fd, l->dl_addr.ss_family, 1) == -1 ||
	    bind(fd, (struct sockaddr *)&p->p_local, sa_len(&p->p_local)) ==
	    -1 || connect(fd, (struct sockaddr *)&p->p_peer,
	    sa_len(&p->p_peer)) == -1) {
		err = errno;
		log_warn("secho-dtls: the socket of an association on %s",
		    addr_format((struct sockaddr *)&l->dl_addr, name,
		    sizeof(name)));
		if (fd != -1)
			close(fd);
		release(f, p);
		errno = err;
		return -1;
	}
	/* For the new process: it starts from this ClientHello. */
	memcpy(dtls_first.df_hello, p->p_hello, p->p_len);
	dtls_first.df_len = p->p_len;
	memcpy(dtls_first.df_cookie, p->p_cookie, DTLS_COOKIE_LEN);
	to = p->p_peer;
	release(f, p);
	if (!f->f_draining)
		rehome(f, li, fd, (struct sockaddr *)&to);
	/* From now on only the peer's datagrams: no pktinfo to build. */
	(void)pktinfo_set(fd, l->dl_addr.ss_family, 0);
	return fd;
}

static void
front_refused(void *arg, uint64_t token)
{
	struct dtls_front *f = arg;
	struct pending *p = find(f, token);

	if (p != NULL)
		release(f, p);
}

/* Close what the engine owns of the listeners (drain, new process). */
static void
close_listeners(struct dtls_front *f)
{
	size_t i;

	for (i = 0; i < f->f_nls; i++)
		if (f->f_ls[i].dl_fd != -1) {
			close(f->f_ls[i].dl_fd);
			f->f_ls[i].dl_fd = -1;
		}
	if (f->f_epfd != -1) {
		close(f->f_epfd);
		f->f_epfd = -1;
	}
}

static void
front_drain(void *arg)
{
	struct dtls_front *f = arg;
	int i;

	f->f_draining = 1;
	close_listeners(f);
	/* What was counted and not written out yet: now, the last time. */
	for (i = 0; i < NDROP; i++)
		f->f_drops[i].dl_logged = 0;
	(void)drop_flush(f, clock_ms());
}

static size_t
front_pending(void *arg)
{
	return ((struct dtls_front *)arg)->f_npend;
}

static void
front_child(void *arg)
{
	close_listeners(arg);
}

const struct engine_front dtls_front_ops = {
	.ef_fd = front_fd,
	.ef_timeout = front_timeout,
	.ef_ready = front_ready,
	.ef_admitted = front_admitted,
	.ef_refused = front_refused,
	.ef_drain = front_drain,
	.ef_pending = front_pending,
	.ef_child = front_child,
};

/*
 * udp.c - UDP echo worker: receive, guard, rate limit, reply from the
 * local address the datagram was sent to.
 *
 * One worker process owns one UDP socket (like inetd's "wait" datagram
 * services).  Datagrams are read and answered in batches (recvmmsg,
 * sendmmsg); every buffer is allocated once when the worker starts, so a
 * flood costs no allocation.  Each reply carries an IP_PKTINFO or
 * IPV6_PKTINFO control message with the local address the datagram was
 * sent to, so a socket bound to a wildcard address answers from the right
 * address on a multi-homed host.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "secho/clock.h"
#include "secho/addr.h"
#include "secho/log.h"
#include "secho/udp.h"

/* Datagrams per recvmmsg/sendmmsg call. */
#define UDP_BATCH	32
/*
 * Receive buffer per datagram: 65507 bytes of IPv4 payload (65527 for
 * IPv6) fit; anything longer (an IPv6 jumbogram) comes back with MSG_TRUNC
 * and is dropped instead of being echoed cut.
 */
#define UDP_BUFSIZE	65536
/* recvmmsg batches per wakeup before ppoll again (signals get a look in). */
#define UDP_DRAIN	16
/* Per-source buckets in the worker: 4096 * 40 bytes. */
#define UDP_RL_SLOTS	4096
/* One udp-drop line per reason per this many ms. */
#define UDP_DROP_LOG_MS	1000
/* Socket buffer sizes we ask for (capped by net.core.[rw]mem_max). */
#define UDP_SOCKBUF	(1024 * 1024)

/* Room for IP_PKTINFO and IPV6_PKTINFO together (both may arrive). */
#define UDP_CMSG_RECV	(CMSG_SPACE(sizeof(struct in_pktinfo)) + \
			    CMSG_SPACE(sizeof(struct in6_pktinfo)) + 64)
#define UDP_CMSG_SEND	(CMSG_SPACE(sizeof(struct in6_pktinfo)))

static int
setopt_int(int fd, int level, int name, int value)
{
	return setsockopt(fd, level, name, &value, sizeof(value));
}

int
udp_socket_setup(int fd, int family)
{
	if (family == AF_INET) {
		if (setopt_int(fd, IPPROTO_IP, IP_PKTINFO, 1) == -1)
			return -1;
	} else if (family == AF_INET6) {
		if (setopt_int(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, 1) == -1)
			return -1;
		/*
		 * IPv4 datagrams on a dual-stack "::" socket: have their
		 * destination as IP_PKTINFO too, answered the IPv4 way.  A
		 * v6-only socket never sees them, so failure is harmless.
		 */
		(void)setopt_int(fd, IPPROTO_IP, IP_PKTINFO, 1);
	} else {
		errno = EAFNOSUPPORT;
		return -1;
	}
	/* Absorb bursts; the kernel caps this at net.core.[rw]mem_max. */
	(void)setopt_int(fd, SOL_SOCKET, SO_RCVBUF, UDP_SOCKBUF);
	(void)setopt_int(fd, SOL_SOCKET, SO_SNDBUF, UDP_SOCKBUF);
	return 0;
}

/* Pending udp-drop counts for one reason. */
struct udp_droplog {
	uint64_t		dl_count;	/* since the last line */
	uint64_t		dl_last_ms;	/* time of the last line */
	int			dl_logged;	/* a line was written */
	struct sockaddr_storage	dl_peer;	/* latest source */
};

struct udp_worker {
	int			 uw_fd;
	struct ratelimit	*uw_rl;
	struct udp_counters	*uw_counters;
	unsigned char		*uw_bufs;	/* the batch buffers */
	struct mmsghdr		 uw_rmsg[UDP_BATCH];
	struct iovec		 uw_riov[UDP_BATCH];
	struct sockaddr_storage	 uw_names[UDP_BATCH];
	union {
		struct cmsghdr	align;
		unsigned char	buf[UDP_CMSG_RECV];
	}			 uw_rctl[UDP_BATCH];
	struct mmsghdr		 uw_smsg[UDP_BATCH];
	struct iovec		 uw_siov[UDP_BATCH];
	union {
		struct cmsghdr	align;
		unsigned char	buf[UDP_CMSG_SEND];
	}			 uw_sctl[UDP_BATCH];
	struct udp_droplog	 uw_drops[UDP_NDROP];
	uint64_t		 uw_warn_ms;	/* last per-send warning */
	int			 uw_warned;
};

static void
count_add(struct udp_counters *c, int echoed, uint64_t n)
{
	if (c == NULL || n == 0)
		return;
	if (echoed)
		__atomic_fetch_add(&c->uc_echoed, n, __ATOMIC_RELAXED);
	else
		__atomic_fetch_add(&c->uc_dropped, n, __ATOMIC_RELAXED);
}

static void
drop_note(struct udp_worker *w, enum udp_drop why, const struct sockaddr *sa,
    socklen_t salen)
{
	struct udp_droplog *d = &w->uw_drops[why];

	d->dl_count++;
	if (salen > sizeof(d->dl_peer))
		salen = sizeof(d->dl_peer);
	memcpy(&d->dl_peer, sa, salen);
	if (salen < sizeof(d->dl_peer))
		memset((char *)&d->dl_peer + salen, 0,
		    sizeof(d->dl_peer) - salen);
}

/*
 * Write the udp-drop lines that are due: at most one per reason per
 * UDP_DROP_LOG_MS.  Returns the ms until the next one is due, or -1 when
 * nothing is pending.
 */
static int
drop_flush(struct udp_worker *w, uint64_t now)
{
	struct udp_droplog *d;
	struct logline l;
	char peer[ADDR_STRLEN];
	uint64_t due;
	int i, wait = -1;

	for (i = UDP_OK + 1; i < UDP_NDROP; i++) {
		d = &w->uw_drops[i];
		if (d->dl_count == 0)
			continue;
		if (d->dl_logged && now < d->dl_last_ms + UDP_DROP_LOG_MS) {
			due = d->dl_last_ms + UDP_DROP_LOG_MS - now;
			if (wait == -1 || due < (uint64_t)wait)
				wait = (int)due;
			continue;
		}
		log_begin(&l, LOG_NOTICE, "udp-drop");
		log_kv(&l, "peer", addr_format((struct sockaddr *)&d->dl_peer,
		    peer, sizeof(peer)));
		log_kv(&l, "reason", udp_drop_name((enum udp_drop)i));
		log_kvu(&l, "count", d->dl_count);
		log_end(&l);
		d->dl_count = 0;
		d->dl_last_ms = now;
		d->dl_logged = 1;
	}
	return wait;
}

/* Errors of the socket itself, as opposed to one client's doing. */
static int
fatal_errno(int e)
{
	return e == EBADF || e == ENOTSOCK || e == EFAULT || e == EINVAL ||
	    e == EOPNOTSUPP;
}

/*
 * Fill in the reply's control message from the received one: the local
 * address the datagram was sent to becomes the source of the answer.
 * Returns the control length (0: no pktinfo came, let the kernel choose).
 */
size_t
udp_reply_control(struct msghdr *rm, void *out)
{
	struct cmsghdr *c, *v4 = NULL, *v6 = NULL, *oc;
	struct msghdr m;
	struct in_pktinfo pi;
	struct in6_pktinfo pi6;

	for (c = CMSG_FIRSTHDR(rm); c != NULL; c = CMSG_NXTHDR(rm, c)) {
		if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO &&
		    c->cmsg_len >= CMSG_LEN(sizeof(pi)))
			v4 = c;
		else if (c->cmsg_level == IPPROTO_IPV6 &&
		    c->cmsg_type == IPV6_PKTINFO &&
		    c->cmsg_len >= CMSG_LEN(sizeof(pi6)))
			v6 = c;
	}
	memset(&m, 0, sizeof(m));
	m.msg_control = out;
	if (v4 != NULL) {
		/*
		 * IPv4, also on a dual-stack socket.  ipi_spec_dst is the
		 * local address the kernel would answer from: the
		 * destination for unicast, an address of the interface for
		 * a broadcast.  Interface 0: let routing choose.
		 */
		memcpy(&pi, CMSG_DATA(v4), sizeof(pi));
		if (pi.ipi_spec_dst.s_addr == INADDR_ANY)
			pi.ipi_spec_dst = pi.ipi_addr;
		pi.ipi_ifindex = 0;
		pi.ipi_addr.s_addr = INADDR_ANY;
		m.msg_controllen = CMSG_SPACE(sizeof(pi));
		oc = CMSG_FIRSTHDR(&m);
		oc->cmsg_level = IPPROTO_IP;
		oc->cmsg_type = IP_PKTINFO;
		oc->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(oc), &pi, sizeof(pi));
		return m.msg_controllen;
	}
	if (v6 != NULL) {
		memcpy(&pi6, CMSG_DATA(v6), sizeof(pi6));
		/* Keep the interface only where the address needs it. */
		if (!IN6_IS_ADDR_LINKLOCAL(&pi6.ipi6_addr))
			pi6.ipi6_ifindex = 0;
		m.msg_controllen = CMSG_SPACE(sizeof(pi6));
		oc = CMSG_FIRSTHDR(&m);
		oc->cmsg_level = IPPROTO_IPV6;
		oc->cmsg_type = IPV6_PKTINFO;
		oc->cmsg_len = CMSG_LEN(sizeof(pi6));
		memcpy(CMSG_DATA(oc), &pi6, sizeof(pi6));
		return m.msg_controllen;
	}
	return 0;
}

/* Warn about a failed reply at most once a second: clients can cause it. */
static void
send_warn(struct udp_worker *w, const struct sockaddr *to, uint64_t now)
{
	char peer[ADDR_STRLEN];

	if (errno == ECONNREFUSED)
		return;
	if (w->uw_warned && now < w->uw_warn_ms + 1000)
		return;
	w->uw_warned = 1;
	w->uw_warn_ms = now;
	log_warn("udp reply to %s", addr_format(to, peer, sizeof(peer)));
}

/* Send the n prepared replies; skip those the kernel refuses. */
static int
send_batch(struct udp_worker *w, unsigned n, uint64_t now, int debug)
{
	struct logline l;
	char peer[ADDR_STRLEN];
	unsigned off = 0, i;
	uint64_t failed = 0;
	int r;

	/*
	 * Counted before they go out: a client may see its echo and kill
	 * or query us at once, and must find it counted.  Replies the
	 * kernel refuses are moved to the dropped count below.
	 */
	count_add(w->uw_counters, 1, n);
	while (off < n) {
		r = sendmmsg(w->uw_fd, w->uw_smsg + off, n - off, 0);
		if (r == -1) {
			if (errno == EINTR)
				continue;
			/* EINVAL here is about one reply's addresses. */
			if (errno != EINVAL && fatal_errno(errno)) {
				log_warn("udp sendmmsg");
				return -1;
			}
			/*
			 * This one datagram could not be answered (no
			 * route, firewall, buffers, an address we may not
			 * send from): skip it, serve the rest.
			 */
			send_warn(w, w->uw_smsg[off].msg_hdr.msg_name, now);
			failed++;
			off++;
			continue;
		}
		for (i = off; debug && i < off + (unsigned)r; i++) {
			log_begin(&l, LOG_DEBUG, "udp");
			log_kv(&l, "peer",
			    addr_format(w->uw_smsg[i].msg_hdr.msg_name, peer,
			    sizeof(peer)));
			log_kvu(&l, "bytes", w->uw_siov[i].iov_len);
			log_end(&l);
		}
		off += (unsigned)r;
	}
	if (failed && w->uw_counters) {
		__atomic_fetch_sub(&w->uw_counters->uc_echoed, failed,
		    __ATOMIC_RELAXED);
		count_add(w->uw_counters, 0, failed);
	}
	return 0;
}

/*
 * Read one batch, answer what passes.  Returns the number of datagrams
 * read, 0 when none was waiting, -1 on a fatal socket error.
 */
static int
serve_batch(struct udp_worker *w)
{
	struct msghdr *rm, *sm;
	struct sockaddr *sa;
	unsigned char key[16];
	unsigned i, nsend = 0;
	uint64_t now, dropped = 0;
	enum udp_drop why;
	int n, debug;

	for (i = 0; i < UDP_BATCH; i++) {
		rm = &w->uw_rmsg[i].msg_hdr;
		rm->msg_namelen = sizeof(w->uw_names[i]);
		rm->msg_controllen = sizeof(w->uw_rctl[i].buf);
		rm->msg_flags = 0;
	}
	do
		n = recvmmsg(w->uw_fd, w->uw_rmsg, UDP_BATCH, MSG_DONTWAIT,
		    NULL);
	while (n == -1 && errno == EINTR);
	if (n == -1) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		if (fatal_errno(errno)) {
			log_warn("udp recvmmsg");
			return -1;
		}
		/* ICMP errors queued on the socket, ENOMEM: carry on. */
		return 1;
	}
	now = (uint64_t)clock_ms();
	debug = log_enabled(LOG_DEBUG);
	for (i = 0; i < (unsigned)n; i++) {
		rm = &w->uw_rmsg[i].msg_hdr;
		sa = (struct sockaddr *)&w->uw_names[i];
		if (rm->msg_flags & MSG_TRUNC ||
		    rm->msg_namelen < sizeof(sa_family_t)) {
			dropped++;	/* too long to echo whole */
			continue;
		}
		if ((why = udp_check_source(sa)) != UDP_OK) {
			drop_note(w, why, sa, rm->msg_namelen);
			dropped++;
			continue;
		}
		if (w->uw_rl != NULL) {
			addr_host_key(sa, key);
			if (!ratelimit_allow(w->uw_rl, key, now)) {
				drop_note(w, UDP_DROP_RATE, sa,
				    rm->msg_namelen);
				dropped++;
				continue;
			}
		}
		sm = &w->uw_smsg[nsend].msg_hdr;
		memset(sm, 0, sizeof(*sm));
		sm->msg_name = sa;
		sm->msg_namelen = rm->msg_namelen;
		w->uw_siov[nsend].iov_base = w->uw_riov[i].iov_base;
		w->uw_siov[nsend].iov_len = w->uw_rmsg[i].msg_len;
		sm->msg_iov = &w->uw_siov[nsend];
		sm->msg_iovlen = 1;
		sm->msg_control = w->uw_sctl[nsend].buf;
		sm->msg_controllen = udp_reply_control(rm, w->uw_sctl[nsend].buf);
		if (sm->msg_controllen == 0)
			sm->msg_control = NULL;
		nsend++;
	}
	count_add(w->uw_counters, 0, dropped);
	if (nsend > 0 && send_batch(w, nsend, now, debug) == -1)
		return -1;
	return n;
}

int
udp_worker_run(int fd, unsigned rate, struct udp_counters *counters,
    volatile sig_atomic_t *stop, const sigset_t *sigmask)
{
	struct udp_worker *w;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	struct pollfd pfd;
	struct timespec ts;
	int i, n, rv = -1, wait;

	if ((w = calloc(1, sizeof(*w))) == NULL) {
		log_warn("udp worker");
		return -1;
	}
	w->uw_fd = fd;
	w->uw_counters = counters;
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == -1 ||
	    udp_socket_setup(fd, ss.ss_family) == -1) {
		log_warn("udp socket options");
		goto out;
	}
	if (rate > 0 &&
	    (w->uw_rl = ratelimit_new(rate, UDP_RL_SLOTS)) == NULL) {
		log_warn("udp rate limit table");
		goto out;
	}
	if ((w->uw_bufs = malloc((size_t)UDP_BATCH * UDP_BUFSIZE)) == NULL) {
		log_warn("udp buffers");
		goto out;
	}
	for (i = 0; i < UDP_BATCH; i++) {
		w->uw_riov[i].iov_base = w->uw_bufs + (size_t)i * UDP_BUFSIZE;
		w->uw_riov[i].iov_len = UDP_BUFSIZE;
		w->uw_rmsg[i].msg_hdr.msg_name = &w->uw_names[i];
		w->uw_rmsg[i].msg_hdr.msg_iov = &w->uw_riov[i];
		w->uw_rmsg[i].msg_hdr.msg_iovlen = 1;
		w->uw_rmsg[i].msg_hdr.msg_control = w->uw_rctl[i].buf;
	}

	wait = -1;
	while (!*stop) {
		pfd.fd = fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (wait >= 0) {
			ts.tv_sec = wait / 1000;
			ts.tv_nsec = (long)(wait % 1000) * 1000000;
		}
		/*
		 * The caller keeps SIGTERM blocked; ppoll unblocks the
		 * signals of sigmask only for the wait, atomically, so a
		 * signal that arrives while we serve a batch is not lost:
		 * it interrupts the next ppoll at once (EINTR) and the loop
		 * sees *stop.
		 */
		n = ppoll(&pfd, 1, wait >= 0 ? &ts : NULL, sigmask);
		if (n == -1) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			log_warn("udp ppoll");
			goto out;
		}
		if (n > 0 && pfd.revents & POLLNVAL) {
			errno = EBADF;
			log_warn("udp socket");
			goto out;
		}
		if (n > 0 && pfd.revents & POLLERR &&
		    !(pfd.revents & POLLIN)) {
			/* A pending ICMP error: read it (clears it), go on. */
			int err;
			socklen_t errlen = sizeof(err);

			(void)getsockopt(fd, SOL_SOCKET, SO_ERROR, &err,
			    &errlen);
			continue;
		}
		/* A bounded drain, then ppoll again so signals get a look. */
		for (i = 0; n > 0 && i < UDP_DRAIN; i++) {
			int r = serve_batch(w);

			if (r == -1)
				goto out;
			if (r < UDP_BATCH)
				break;
		}
		wait = drop_flush(w, (uint64_t)clock_ms());
	}
	rv = 0;
out:
	ratelimit_free(w->uw_rl);
	free(w->uw_bufs);
	free(w);
	return rv;
}

/*
 * listen.c - resolve, bind and listen; reuse unchanged sockets on reload
 * (like inetd's matchconf: the same socket type and address keep their
 * socket, so a reload has no moment without a listener, and a reload
 * that fails leaves every socket of the running configuration open).
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "secho/addr.h"
#include "secho/listen.h"
#include "secho/udp.h"

static int
socktype(int proto)
{
	return proto == SECHO_PROTO_UDP || proto == SECHO_PROTO_DTLS ?
	    SOCK_DGRAM : SOCK_STREAM;
}

static int
is_v6_any(const struct sockaddr *sa)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;

	return sa->sa_family == AF_INET6 &&
	    IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr);
}

/*
 * The dtls ports this process has bound.  Its own sockets may hold one
 * still -- the listener being moved to another address in this reload,
 * the associations of a draining engine after the listener was removed
 * -- where bind_alone() would fail; they share it (same user).
 */
#define HELD_MAX	256
static uint16_t held[HELD_MAX];
static size_t nheld;

static int
port_held(uint16_t port)
{
	size_t i;

	for (i = 0; i < nheld; i++)
		if (held[i] == port)
			return 1;
	return 0;
}

/* Can sa be bound by a socket without SO_REUSE*?  0, or -1 with errno. */
static int
bind_alone(const struct sockaddr *sa, socklen_t salen)
{
	int fd, off = 0, on = 1, r, err;

	if ((fd = socket(sa->sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	r = sa->sa_family == AF_INET6 ? setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, is_v6_any(sa) ? &off : &on, sizeof(int)) : 0;
	if (r == 0)
		r = bind(fd, sa, salen);
	err = errno;
	close(fd);
	errno = err;
	return r;
}

/* Open, configure, bind and (for streams) listen.  fd or -1, err set. */
static int
open_socket(int proto, const struct sockaddr *sa, socklen_t salen,
    char *err, size_t errlen)
{
	char name[ADDR_STRLEN];
	const char *what = "socket";
	int fd, on = 1, off = 0;

	addr_format(sa, name, sizeof(name));
	fd = socket(sa->sa_family, socktype(proto) | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1)
		goto fail;
	if (sa->sa_family == AF_INET6) {
		/* "::" is dual-stack; any other IPv6 address is IPv6 only. */
		what = "setsockopt IPV6_V6ONLY";
		if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY,
		    is_v6_any(sa) ? &off : &on, sizeof(int)) == -1)
			goto fail;
	}
	/*
	 * dtls: each association's socket is bound to the same address
	 * and connected to its peer (dtls_front.c); both need the option.
	 * SO_REUSEPORT, not SO_REUSEADDR: the kernel lets only sockets of
	 * the same user join.  As it would let another secho of that user
	 * join as well, the address is first bound alone, without it: in
	 * use by anybody, that fails as for the other protocols.
	 */
	if (proto == SECHO_PROTO_DTLS) {
		what = "bind";
		if (!port_held((uint16_t)addr_port(sa)) &&
		    bind_alone(sa, salen) == -1)
			goto fail;
		what = "setsockopt SO_REUSEPORT";
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on,
		    sizeof(on)) == -1)
			goto fail;
	}
	if (socktype(proto) == SOCK_STREAM) {
		what = "setsockopt SO_REUSEADDR";
		if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on,
		    sizeof(on)) == -1)
			goto fail;
		/*
		 * Whole echoes go out at once, no Nagle stall (FACTS.md);
		 * accepted sockets inherit it, saving a call per connection.
		 */
		what = "setsockopt TCP_NODELAY";
		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on,
		    sizeof(on)) == -1)
			goto fail;
	}
	what = "bind";
	if (bind(fd, sa, salen) == -1)
		goto fail;
	if (proto == SECHO_PROTO_DTLS && !port_held((uint16_t)addr_port(sa)) &&
	    nheld < HELD_MAX)
		held[nheld++] = (uint16_t)addr_port(sa);
	if (socktype(proto) == SOCK_DGRAM) {
		what = "setsockopt PKTINFO";
		if (udp_socket_setup(fd, sa->sa_family) == -1)
			goto fail;
	} else {
		what = "listen";
		if (listen(fd, SOMAXCONN) == -1)
			goto fail;
	}
	return fd;
fail:
	snprintf(err, errlen, "%s %s %s: %s", what,
	    config_proto_name(proto), name, strerror(errno));
	if (fd != -1)
		close(fd);
	return -1;
}

/* Resolve lc into a malloc'd array of addresses; count in *n. */
static int
resolve(const struct secho_config *cfg, const struct listener_config *lc,
    struct sockaddr_storage **out, size_t *n, char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct sockaddr_storage *v;
	char port[8];
	size_t i, cnt = 0;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = socktype(lc->lc_proto);
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if (addr_is_literal(lc->lc_address))
		hints.ai_flags |= AI_NUMERICHOST;
	snprintf(port, sizeof(port), "%d", lc->lc_port);
	rc = getaddrinfo(lc->lc_address, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "%s:%d: listener address \"%s\": %s",
		    cfg->file, lc->lc_line, lc->lc_address,
		    rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next)
		cnt++;
	v = calloc(cnt ? cnt : 1, sizeof(*v));
	if (v == NULL) {
		freeaddrinfo(res);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	cnt = 0;
	for (ai = res; ai; ai = ai->ai_next) {
		if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
			continue;
		/* getaddrinfo may list one address twice; keep it once. */
		for (i = 0; i < cnt; i++)
			if (addr_equal((struct sockaddr *)&v[i], ai->ai_addr) &&
			    v[i].ss_family == ai->ai_family)
				break;
		if (i < cnt)
			continue;
		memcpy(&v[cnt++], ai->ai_addr, ai->ai_addrlen);
	}
	freeaddrinfo(res);
	*out = v;
	*n = cnt;
	return 0;
}

static socklen_t
sa_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) :
	    sizeof(struct sockaddr_in6);
}

/* Same socket type, family (dual-stack differs from v4) and address. */
static int
same_addr(const struct listener *l, int proto,
    const struct sockaddr_storage *ss)
{
	return socktype(l->l_proto) == socktype(proto) &&
	    l->l_addr.ss_family == ss->ss_family &&
	    addr_equal((const struct sockaddr *)&l->l_addr,
	    (const struct sockaddr *)ss);
}

/*
 * A socket to keep across a reload.  A tcp listener that becomes tls
 * (or back) keeps its listening socket: only what is done with accepted
 * connections changes.  udp and dtls sockets differ in their options:
 * a change is a new socket.
 */
static int
same_socket(const struct listener *l, int proto,
    const struct sockaddr_storage *ss)
{
	return same_addr(l, proto, ss) &&
	    (socktype(proto) == SOCK_STREAM || l->l_proto == proto);
}

static struct udp_counters *
counters_new(void)
{
	void *p = mmap(NULL, sizeof(struct udp_counters),
	    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

int
listen_build(const struct secho_config *cfg, struct listener_set *old,
    struct listener_set *out, char *err, size_t errlen)
{
	struct listener *items = NULL, *l;
	struct sockaddr_storage *addrs = NULL;
	size_t i, j, k, n, count = 0, cap = 0;
	int rc = LISTEN_ERR_SYSTEM;

	out->ls_items = NULL;
	out->ls_count = 0;
	for (i = 0; i < cfg->nlisteners; i++) {
		const struct listener_config *lc = &cfg->listeners[i];

		if (resolve(cfg, lc, &addrs, &n, err, errlen) == -1) {
			rc = LISTEN_ERR_CONFIG;
			goto fail;
		}
		for (j = 0; j < n; j++) {
			if (count == cap) {
				size_t ncap = cap ? cap * 2 : 8;
				void *p = realloc(items, ncap * sizeof(*items));
				if (p == NULL) {
					snprintf(err, errlen, "out of memory");
					goto fail;
				}
				items = p;
				cap = ncap;
			}
			l = &items[count];
			memset(l, 0, sizeof(*l));
			l->l_fd = -1;
			l->l_proto = lc->lc_proto;
			l->l_addr = addrs[j];
			l->l_addrlen = sa_len(&addrs[j]);
			l->l_cfg = lc;
			addr_format((struct sockaddr *)&l->l_addr, l->l_name,
			    sizeof(l->l_name));
			/* A name listed twice (dup hosts) binds once. */
			for (k = 0; k < count; k++)
				if (same_addr(&items[k], l->l_proto,
				    &l->l_addr))
					break;
			if (k < count && items[k].l_proto != l->l_proto) {
				/* tcp and tls (udp and dtls) on one address */
				snprintf(err, errlen, "%s:%d: listener %s %s: "
				    "the %s listener of line %d has that "
				    "address", cfg->file, lc->lc_line,
				    config_proto_name(l->l_proto), l->l_name,
				    config_proto_name(items[k].l_proto),
				    items[k].l_cfg->lc_line);
				rc = LISTEN_ERR_CONFIG;
				goto fail;
			}
			if (k < count)
				continue;
			count++;
		}
		free(addrs);
		addrs = NULL;
	}

	/* Open what is new; sockets that stay are only looked up here. */
	for (i = 0; i < count; i++) {
		l = &items[i];
		for (k = 0; old && k < old->ls_count; k++)
			if (old->ls_items[k].l_fd != -1 &&
			    same_socket(&old->ls_items[k], l->l_proto,
			    &l->l_addr))
				break;
		if (old && k < old->ls_count)
			continue;
		l->l_fd = open_socket(l->l_proto,
		    (struct sockaddr *)&l->l_addr, l->l_addrlen, err, errlen);
		if (l->l_fd == -1)
			goto fail;
		if (l->l_proto == SECHO_PROTO_UDP &&
		    (l->l_counters = counters_new()) == NULL) {
			snprintf(err, errlen, "mmap: %s", strerror(errno));
			goto fail;
		}
	}

	/* Success: move the kept sockets (and their UDP state) over. */
	for (i = 0; i < count; i++) {
		l = &items[i];
		if (l->l_fd != -1)
			continue;
		for (k = 0; k < old->ls_count; k++) {
			struct listener *o = &old->ls_items[k];
			if (o->l_fd != -1 &&
			    same_socket(o, l->l_proto, &l->l_addr)) {
				l->l_fd = o->l_fd;
				/* tcp <-> tls is a new listener to the log */
				l->l_reused = o->l_proto == l->l_proto;
				l->l_counters = o->l_counters;
				l->l_worker = o->l_worker;
				l->l_worker_started = o->l_worker_started;
				l->l_worker_failures = o->l_worker_failures;
				o->l_fd = -1;
				o->l_counters = NULL;
				o->l_worker = 0;
				break;
			}
		}
	}
	out->ls_items = items;
	out->ls_count = count;
	return 0;
fail:
	free(addrs);
	/* Kept sockets move only on success: every fd here is our own. */
	for (i = 0; i < count; i++) {
		if (items[i].l_fd != -1)
			close(items[i].l_fd);
		if (items[i].l_counters)
			munmap(items[i].l_counters,
			    sizeof(struct udp_counters));
	}
	free(items);
	return rc;
}

void
listen_close_fds(struct listener_set *set)
{
	size_t i;

	for (i = 0; i < set->ls_count; i++)
		if (set->ls_items[i].l_fd != -1) {
			close(set->ls_items[i].l_fd);
			set->ls_items[i].l_fd = -1;
		}
}

void
listen_free(struct listener_set *set)
{
	size_t i;

	listen_close_fds(set);
	for (i = 0; i < set->ls_count; i++)
		if (set->ls_items[i].l_counters)
			munmap(set->ls_items[i].l_counters,
			    sizeof(struct udp_counters));
	free(set->ls_items);
	set->ls_items = NULL;
	set->ls_count = 0;
}

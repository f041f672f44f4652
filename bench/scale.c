/*
 * scale.c - many held echo connections: open N TCP connections (from a
 * source address of its own, so that several clients can share the
 * ports of one server), then on each send a 16-byte message once a
 * second and check every echoed byte.  One epoll thread.  Used by
 * bench/scale.sh (issue 11: 25,000 connections).
 *
 *   scale -p PORT [-H HOST] [-b SOURCE] [-n CONNS] [-d SECONDS] [-r RATE]
 *
 * Prints "ready established=N" once the connections are open, then at
 * the end one line: established, messages echoed intact, mismatches,
 * lost (no full echo within the second before the next message), closed
 * by the server, connect failures, p50/p99 round trip in ms.  Exits 2 on
 * any mismatch, 1 when anything was lost or closed, else 0.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MSG	16
#define SLOTS	1000		/* 1 ms each: sends spread over a second */

struct conn {
	int		fd;
	int		state;		/* 0 connecting, 1 open, 2 dead */
	uint32_t	seq;
	int		waiting;	/* bytes of the echo still to come */
	long long	sent_us;
	unsigned char	want[MSG];
	struct conn	*next;		/* in its send slot */
};

static long long
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
fill(unsigned char *b, uint32_t idx, uint32_t seq)
{
	uint64_t x = ((uint64_t)idx << 32 | seq) * 0x9e3779b97f4a7c15ULL;

	memcpy(b, &idx, 4);
	memcpy(b + 4, &seq, 4);
	memcpy(b + 8, &x, 8);
}

static int
cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	const char *host = "127.0.0.1", *src = NULL;
	int port = 0, n = 1000, dur = 30, rate = 2000, ch, ep, i, k;
	struct sockaddr_in sa, sb;
	struct epoll_event ev, evs[256];
	struct conn *cs, *slot[SLOTS];
	struct rlimit rl;
	long long t0, start, end, next_tick, *rtt;
	size_t nrtt = 0, caprtt;
	unsigned long long echoed = 0, mismatch = 0, lost = 0, closed = 0,
	    cfail = 0;
	int opened = 0, established = 0, inflight = 0, ready = 0, tick;
	unsigned char buf[4096];

	while ((ch = getopt(argc, argv, "H:p:b:n:d:r:")) != -1) {
		switch (ch) {
		case 'H': host = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'b': src = optarg; break;
		case 'n': n = atoi(optarg); break;
		case 'd': dur = atoi(optarg); break;
		case 'r': rate = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: scale -p PORT [-H HOST] [-b SRC] "
			    "[-n CONNS] [-d SECONDS] [-r CONNECTS/S]\n");
			return 64;
		}
	}
	if (port <= 0 || n <= 0)
		return 64;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return 64;
	memset(&sb, 0, sizeof(sb));
	sb.sin_family = AF_INET;
	if (src && inet_pton(AF_INET, src, &sb.sin_addr) != 1)
		return 64;
	cs = calloc((size_t)n, sizeof(*cs));
	caprtt = (size_t)n * (size_t)(dur + 2);
	rtt = malloc(caprtt * sizeof(*rtt));
	if (cs == NULL || rtt == NULL || (ep = epoll_create1(0)) == -1)
		return 1;
	memset(slot, 0, sizeof(slot));

	/* Connect, at most rate a second and a few hundred in flight. */
	t0 = now_us();
	while (opened < n || inflight > 0) {
		long long due = t0 + (long long)opened * 1000000 / rate;
		while (opened < n && inflight < 256 && now_us() >= due) {
			struct conn *c = &cs[opened];
			int one = 1;

			c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
			if (c->fd == -1) {
				perror("socket");
				return 1;
			}
			setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one,
			    sizeof(one));
			if (src && bind(c->fd, (struct sockaddr *)&sb,
			    sizeof(sb)) == -1) {
				perror("bind");
				return 1;
			}
			if (connect(c->fd, (struct sockaddr *)&sa,
			    sizeof(sa)) == -1 && errno != EINPROGRESS) {
				cfail++;
				close(c->fd);
				c->state = 2;
			} else {
				ev.events = EPOLLOUT;
				ev.data.u32 = (uint32_t)opened;
				epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
				inflight++;
			}
			opened++;
			due = t0 + (long long)opened * 1000000 / rate;
		}
		k = epoll_wait(ep, evs, 256, 10);
		for (i = 0; i < k; i++) {
			struct conn *c = &cs[evs[i].data.u32];
			int err = 0;
			socklen_t el = sizeof(err);

			getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
			inflight--;
			if (err) {
				cfail++;
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				close(c->fd);
				c->state = 2;
				continue;
			}
			c->state = 1;
			established++;
			ev.events = EPOLLIN;
			ev.data.u32 = evs[i].data.u32;
			epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
		}
	}
	/*
	 * Every connection gets its first message now (one echo each, so
	 * that the server's processes are all past their first read), then
	 * one a second in its slot.
	 */
	for (i = 0; i < n; i++) {
		if (cs[i].state != 1)
			continue;
		cs[i].next = slot[i % SLOTS];
		slot[i % SLOTS] = &cs[i];
	}
	printf("ready established=%d\n", established);
	fflush(stdout);
	ready = 1;
	start = now_us();
	end = start + (long long)dur * 1000000;
	next_tick = start;
	tick = 0;
	while (now_us() < end) {
		long long t = now_us();

		while (t >= next_tick) {
			struct conn *c;

			for (c = slot[tick]; c != NULL; c = c->next) {
				if (c->state != 1)
					continue;
				if (c->waiting) {
					lost++;		/* not back in a second */
					continue;
				}
				fill(c->want, (uint32_t)(c - cs), ++c->seq);
				if (send(c->fd, c->want, MSG, MSG_NOSIGNAL) !=
				    MSG) {
					closed++;
					c->state = 2;
					continue;
				}
				c->waiting = MSG;
				c->sent_us = t;
			}
			tick = (tick + 1) % SLOTS;
			next_tick += 1000;
		}
		k = epoll_wait(ep, evs, 256, 1);
		for (i = 0; i < k; i++) {
			struct conn *c = &cs[evs[i].data.u32];
			ssize_t r = recv(c->fd, buf, sizeof(buf), 0);

			if (r <= 0) {
				if (r == -1 && errno == EAGAIN)
					continue;
				closed++;
				c->state = 2;
				epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
				continue;
			}
			if (r > c->waiting || memcmp(buf, c->want + MSG -
			    c->waiting, (size_t)r) != 0) {
				mismatch++;
				c->waiting = 0;
				continue;
			}
			c->waiting -= (int)r;
			if (c->waiting == 0) {
				echoed++;
				if (nrtt < caprtt)
					rtt[nrtt++] = now_us() - c->sent_us;
			}
		}
	}
	for (i = 0; i < n; i++)
		lost += cs[i].state == 1 && cs[i].waiting;
	qsort(rtt, nrtt, sizeof(*rtt), cmp_ll);
	printf("established=%d echoed=%llu mismatches=%llu lost=%llu "
	    "closed=%llu connect_failed=%llu p50_ms=%.3f p99_ms=%.3f\n",
	    established, echoed, mismatch, lost, closed, cfail,
	    nrtt ? rtt[nrtt / 2] / 1000.0 : 0, nrtt ? rtt[nrtt * 99 / 100] /
	    1000.0 : 0);
	(void)ready;
	return mismatch ? 2 : (lost || closed || cfail) ? 1 : 0;
}

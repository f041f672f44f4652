/*
 * test_udp.c - UDP guard, rate limiter, and the worker over real sockets.
 *
 * The guard and the rate limiter are pure (the clock is injected) and are
 * checked with tables.  The worker runs in a forked child on loopback
 * sockets; its log lines (stderr, debug level) come back through a pipe
 * and its counters through shared memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "secho/log.h"
#include "secho/udp.h"

#define TIMEOUT_MS	5000

/* Parse "a.b.c.d" or an IPv6 literal with a port into ss. */
static socklen_t
make_sa(const char *addr, int port, struct sockaddr_storage *ss)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		return sizeof(*sin);
	}
	if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		return sizeof(*sin6);
	}
	fail_msg("bad address in test table: %s", addr);
	return 0;
}

/* ------------------------------------------------------------------ */
/* udp_check_source */

static void
test_drop_names(void **state)
{
	assert_string_equal(udp_drop_name(UDP_DROP_RATE), "rate-limit");
	assert_string_equal(udp_drop_name(UDP_DROP_PORT), "source-port");
	assert_string_equal(udp_drop_name(UDP_DROP_ADDRESS), "source-address");
	assert_non_null(udp_drop_name(UDP_OK));
	assert_non_null(udp_drop_name(UDP_NDROP));
}

static const struct {
	const char	*addr;
	int		 port;
	enum udp_drop	 want;
} source_table[] = {
	/* ports: below 1024 and NFS loop with echo/chargen */
	{ "127.0.0.1", 0, UDP_DROP_PORT },
	{ "127.0.0.1", 7, UDP_DROP_PORT },
	{ "127.0.0.1", 19, UDP_DROP_PORT },
	{ "127.0.0.1", 1023, UDP_DROP_PORT },
	{ "127.0.0.1", 1024, UDP_OK },
	{ "127.0.0.1", 2049, UDP_DROP_PORT },
	{ "127.0.0.1", 2050, UDP_OK },
	{ "127.0.0.1", 65535, UDP_OK },
	{ "::1", 19, UDP_DROP_PORT },
	{ "::1", 2049, UDP_DROP_PORT },
	{ "::1", 1024, UDP_OK },
	{ "::ffff:127.0.0.1", 7, UDP_DROP_PORT },
	{ "::ffff:127.0.0.1", 2049, UDP_DROP_PORT },
	/* addresses: unspecified, broadcast, multicast */
	{ "0.0.0.0", 5000, UDP_DROP_ADDRESS },
	{ "255.255.255.255", 5000, UDP_DROP_ADDRESS },
	{ "224.0.0.1", 5000, UDP_DROP_ADDRESS },
	{ "239.255.255.255", 5000, UDP_DROP_ADDRESS },
	{ "::", 5000, UDP_DROP_ADDRESS },
	{ "ff02::1", 5000, UDP_DROP_ADDRESS },
	{ "ff0e::1234", 5000, UDP_DROP_ADDRESS },
	{ "::ffff:224.0.0.1", 5000, UDP_DROP_ADDRESS },
	{ "::ffff:255.255.255.255", 5000, UDP_DROP_ADDRESS },
	{ "::ffff:0.0.0.0", 5000, UDP_DROP_ADDRESS },
	/* the address is checked before the port */
	{ "0.0.0.0", 19, UDP_DROP_ADDRESS },
	{ "ff02::1", 7, UDP_DROP_ADDRESS },
	{ "::ffff:239.1.2.3", 2049, UDP_DROP_ADDRESS },
	/* fine */
	{ "127.0.0.1", 40000, UDP_OK },
	{ "::1", 40000, UDP_OK },
	{ "::ffff:127.0.0.1", 40000, UDP_OK },
	{ "192.0.2.1", 5555, UDP_OK },
	{ "223.255.255.255", 5555, UDP_OK },	/* just below multicast */
	{ "240.0.0.1", 5555, UDP_OK },		/* just above */
	{ "2001:db8::1", 5555, UDP_OK },
	{ "fe80::1", 5555, UDP_OK },
	{ "::2", 5555, UDP_OK },
};

static void
test_check_source_table(void **state)
{
	struct sockaddr_storage ss;
	size_t i;
	enum udp_drop got;

	for (i = 0; i < sizeof(source_table) / sizeof(source_table[0]); i++) {
		make_sa(source_table[i].addr, source_table[i].port, &ss);
		got = udp_check_source((struct sockaddr *)&ss);
		if (got != source_table[i].want)
			fail_msg("%s port %d: got %s, want %s",
			    source_table[i].addr, source_table[i].port,
			    udp_drop_name(got),
			    udp_drop_name(source_table[i].want));
	}
}

static void
test_check_source_other_family(void **state)
{
	struct sockaddr sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_family = AF_UNIX;
	assert_int_equal(udp_check_source(&sa), UDP_DROP_ADDRESS);
	assert_int_equal(udp_check_source(NULL), UDP_DROP_ADDRESS);
}

/* ------------------------------------------------------------------ */
/* ratelimit, with an injected clock */

/*
 * The table under test, freed by the teardown even when a test fails (a
 * leak would otherwise show up in the worker tests' children).
 */
static struct ratelimit *rl_cur;

static struct ratelimit *
rl_make(unsigned rate, size_t slots)
{
	ratelimit_free(rl_cur);
	rl_cur = ratelimit_new(rate, slots);
	assert_non_null(rl_cur);
	return rl_cur;
}

static int
rl_teardown(void **state)
{
	ratelimit_free(rl_cur);
	rl_cur = NULL;
	return 0;
}

static void
key_of(uint32_t n, unsigned char key[16])
{
	memset(key, 0, 16);
	key[10] = key[11] = 0xff;
	key[12] = n >> 24;
	key[13] = n >> 16;
	key[14] = n >> 8;
	key[15] = n;
}

/* How many of tries datagrams pass at one instant. */
static unsigned
allow_n(struct ratelimit *rl, uint32_t src, unsigned tries, uint64_t now)
{
	unsigned char key[16];
	unsigned i, n = 0;

	key_of(src, key);
	for (i = 0; i < tries; i++)
		n += ratelimit_allow(rl, key, now);
	return n;
}

static void
test_rl_burst(void **state)
{
	static const unsigned rates[] = { 1, 5, 10, 200, 1000 };
	struct ratelimit *rl;
	size_t i;

	for (i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		rl = rl_make(rates[i], 64);
		assert_int_equal(allow_n(rl, 1, rates[i] * 3, 1000), rates[i]);
		assert_int_equal(allow_n(rl, 1, 10, 1000), 0);
	}
}

static void
test_rl_refill(void **state)
{
	static const struct {
		unsigned	rate;
		uint64_t	wait_ms;	/* after draining the burst */
		unsigned	want;
	} t[] = {
		{ 10, 0, 0 },
		{ 10, 99, 0 },
		{ 10, 100, 1 },
		{ 10, 199, 1 },
		{ 10, 200, 2 },
		{ 10, 500, 5 },
		{ 10, 999, 9 },
		{ 10, 1000, 10 },
		{ 10, 5000, 10 },		/* capped at the burst */
		{ 3, 333, 0 },			/* a token per 333.3 ms */
		{ 3, 334, 1 },
		{ 1, 999, 0 },
		{ 1, 1000, 1 },
		{ 200, 5, 1 },
		{ 200, 4, 0 },
		{ 200, 1000, 200 },
	};
	struct ratelimit *rl;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		rl = rl_make(t[i].rate, 16);
		assert_int_equal(allow_n(rl, 7, t[i].rate, 5000), t[i].rate);
		assert_int_equal(allow_n(rl, 7, 1, 5000), 0);
		if (allow_n(rl, 7, 1000, 5000 + t[i].wait_ms) != t[i].want)
			fail_msg("rate %u after %llu ms: want %u", t[i].rate,
			    (unsigned long long)t[i].wait_ms, t[i].want);
	}
}

/* Fractions of a token are kept: 1 ms steps refill as fast as one jump. */
static void
test_rl_refill_steps(void **state)
{
	struct ratelimit *rl;
	unsigned got = 0;
	uint64_t t;

	rl = rl_make(7, 16);
	assert_int_equal(allow_n(rl, 1, 7, 0), 7);
	for (t = 1; t <= 1000; t++)
		got += allow_n(rl, 1, 1, t);
	assert_int_equal(got, 7);
}

static void
test_rl_independent(void **state)
{
	struct ratelimit *rl;
	uint32_t src;

	rl = rl_make(5, 256);
	assert_int_equal(allow_n(rl, 1, 20, 100), 5);
	for (src = 2; src < 50; src++)
		assert_int_equal(allow_n(rl, src, 20, 100), 5);
	assert_int_equal(allow_n(rl, 1, 20, 100), 0);
}

static void
test_rl_unlimited(void **state)
{
	struct ratelimit *rl;

	rl = rl_make(0, 16);
	assert_int_equal(allow_n(rl, 1, 100000, 0), 100000);
	assert_int_equal(allow_n(rl, 2, 1000, 0), 1000);
}

/*
 * Heap in use: ASan's count when built with it, else glibc's.  The flood
 * below must not move it by a single byte.
 */
extern size_t __sanitizer_get_current_allocated_bytes(void)
    __attribute__((weak));

static size_t
heap_in_use(void)
{
	if (__sanitizer_get_current_allocated_bytes != NULL)
		return __sanitizer_get_current_allocated_bytes();
	return mallinfo2().uordblks;
}

static void
test_rl_flood(void **state)
{
	struct ratelimit *rl;
	unsigned char key[16];
	size_t before;
	uint32_t src;
	unsigned first = 0;

	rl = rl_make(10, 64);
	/* A well-behaved source uses part of its burst. */
	assert_int_equal(allow_n(rl, 0xc0000201u, 3, 1000), 3);

	before = heap_in_use();
	for (src = 1; src <= 100000; src++) {
		key_of(0x0a000000u + src, key);
		first += ratelimit_allow(rl, key, 1000 + src / 1000);
	}
	assert_int_equal(heap_in_use(), before);
	/* A new source always gets its first datagram through. */
	assert_int_equal(first, 100000);

	/*
	 * Afterwards the good source is served, and never beyond one burst
	 * at an instant (whether its bucket survived or was recycled).
	 */
	assert_int_equal(allow_n(rl, 0xc0000201u, 1, 1100), 1);
	assert_in_range(allow_n(rl, 0xc0000201u, 100, 1100), 7, 9);
	assert_int_equal(allow_n(rl, 0xc0000201u, 100, 1100), 0);
	assert_int_equal(allow_n(rl, 0xc0000201u, 100, 1200), 1);
	/* A new source gets one full burst, no more. */
	assert_int_equal(allow_n(rl, 0x0a0f0000u, 100, 2000), 10);
}

/* A full table recycles the least recently seen source, not a busy one. */
static void
test_rl_evict_lru(void **state)
{
	struct ratelimit *rl;
	uint32_t src;

	rl = rl_make(2, 8);		/* 8 slots: one probe window */
	for (src = 1; src <= 8; src++)
		assert_int_equal(allow_n(rl, src, 5, src), 2);
	assert_int_equal(allow_n(rl, 9, 5, 9), 2);	/* recycles 1 */
	assert_int_equal(allow_n(rl, 8, 5, 9), 0);	/* kept, empty */
	assert_int_equal(allow_n(rl, 7, 5, 9), 0);
	assert_int_equal(allow_n(rl, 1, 5, 9), 2);	/* new again */
}

static void
test_rl_tiny_table(void **state)
{
	struct ratelimit *rl;

	/* Rounded up to a power of two; even one slot works. */
	rl = rl_make(2, 1);
	assert_int_equal(allow_n(rl, 1, 5, 0), 2);
	assert_int_equal(allow_n(rl, 2, 5, 0), 2);	/* evicts 1 */
	assert_int_equal(allow_n(rl, 2, 5, 0), 0);
	rl = rl_make(2, 0);
	assert_int_equal(allow_n(rl, 1, 5, 0), 2);
	assert_null(ratelimit_new(2, SIZE_MAX));
}

static void
test_rl_clock(void **state)
{
	struct ratelimit *rl;

	/* Time going backwards refills nothing... */
	rl = rl_make(10, 16);
	assert_int_equal(allow_n(rl, 1, 20, 1000000), 10);
	assert_int_equal(allow_n(rl, 1, 20, 0), 0);
	assert_int_equal(allow_n(rl, 1, 20, 999999), 10);
	assert_int_equal(allow_n(rl, 1, 20, 5), 0);
	/* ...and refill goes on from the new time. */
	assert_int_equal(allow_n(rl, 1, 20, 105), 1);

	/* Huge jumps fill one burst, no more (no overflow). */
	assert_int_equal(allow_n(rl, 1, 20, UINT64_MAX - 1), 10);
	assert_int_equal(allow_n(rl, 1, 20, UINT64_MAX), 0);
	assert_int_equal(allow_n(rl, 1, 20, 0), 0);
	assert_int_equal(allow_n(rl, 1, 20, UINT64_MAX / 2), 10);

	/* The largest rate, largest jumps. */
	rl = rl_make(UINT_MAX, 16);
	assert_int_equal(allow_n(rl, 1, 100000, 0), 100000);
	assert_int_equal(allow_n(rl, 1, 100000, UINT64_MAX), 100000);
	assert_int_equal(allow_n(rl, 1, 100000, 1), 100000);
}

/* ------------------------------------------------------------------ */
/* The worker over loopback sockets, in a forked child. */

struct worker {
	pid_t			 pid;
	int			 logfd;
	struct udp_counters	*counters;	/* shared with the child */
	char			 log[1 << 16];
	size_t			 loglen;
};

/*
 * One worker at a time, static so that a failed test (which longjmps out)
 * leaks nothing into the next test's child, where LeakSanitizer looks.
 */
static struct worker the_worker = { .pid = -1, .logfd = -1 };

static volatile sig_atomic_t child_stop;

static void
on_term(int sig)
{
	child_stop = 1;
}

static struct worker *
worker_start(int fd, unsigned rate)
{
	struct worker *wk = &the_worker;
	pid_t parent = getpid();
	struct sigaction sa;
	sigset_t block, old, waitmask;
	int p[2], rc;

	memset(wk, 0, sizeof(*wk));
	wk->counters = mmap(NULL, sizeof(*wk->counters),
	    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(wk->counters != MAP_FAILED);
	memset(wk->counters, 0, sizeof(*wk->counters));
	assert_int_equal(pipe(p), 0);
	/* Blocked before fork: an early SIGTERM waits for the handler. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	assert_int_equal(sigprocmask(SIG_BLOCK, &block, &old), 0);
	wk->pid = fork();
	assert_true(wk->pid != -1);
	if (wk->pid == 0) {
		/* Never outlive the test, whatever happens to it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(4);
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_term;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGTERM, &sa, NULL);
		dup2(p[1], STDERR_FILENO);
		close(p[0]);
		close(p[1]);
		log_init("test_udp", LOG_DAEMON, LOG_DEBUG, 1);
		waitmask = old;
		sigdelset(&waitmask, SIGTERM);
		rc = udp_worker_run(fd, rate, wk->counters, &child_stop,
		    &waitmask);
		/* exit, not _exit: LeakSanitizer checks the worker freed all */
		exit(rc == 0 ? 0 : 3);
	}
	assert_int_equal(sigprocmask(SIG_SETMASK, &old, NULL), 0);
	close(p[1]);
	wk->logfd = p[0];
	fcntl(wk->logfd, F_SETFL, O_NONBLOCK);
	return wk;
}

/* Read what the worker logged so far, waiting up to ms for more. */
static int
worker_read_log(struct worker *wk, int ms)
{
	struct pollfd pfd = { .fd = wk->logfd, .events = POLLIN };
	ssize_t n;

	if (poll(&pfd, 1, ms) <= 0)
		return 0;
	n = read(wk->logfd, wk->log + wk->loglen,
	    sizeof(wk->log) - 1 - wk->loglen);
	if (n <= 0)
		return -1;		/* EOF */
	wk->loglen += n;
	wk->log[wk->loglen] = '\0';
	return 1;
}

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until the log holds text (up to TIMEOUT_MS); 1 when found. */
static int
worker_wait_log(struct worker *wk, const char *text)
{
	uint64_t end = mono_ms() + TIMEOUT_MS;

	while (strstr(wk->log, text) == NULL) {
		if (mono_ms() >= end || worker_read_log(wk, 100) == -1)
			return strstr(wk->log, text) != NULL;
	}
	return 1;
}

/* Stop with SIGTERM: the worker must return 0 and free everything. */
static void
worker_stop(struct worker *wk)
{
	uint64_t end = mono_ms() + 10000;
	int status = 0;
	pid_t r;

	assert_int_equal(kill(wk->pid, SIGTERM), 0);
	while ((r = waitpid(wk->pid, &status, WNOHANG)) == 0 &&
	    mono_ms() < end)
		worker_read_log(wk, 20);
	if (r == 0)
		fail_msg("worker did not stop on SIGTERM");
	wk->pid = -1;
	while (worker_read_log(wk, 1000) == 1)
		;
	close(wk->logfd);
	wk->logfd = -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		fail_msg("worker exit status %#x; log:\n%s", status, wk->log);
}

/* Teardown of every worker test, passed or failed. */
static int
worker_teardown(void **state)
{
	struct worker *wk = &the_worker;

	if (wk->pid > 0) {
		kill(wk->pid, SIGKILL);
		waitpid(wk->pid, NULL, 0);
	}
	if (wk->logfd != -1)
		close(wk->logfd);
	if (wk->counters != NULL && wk->counters != MAP_FAILED)
		munmap(wk->counters, sizeof(*wk->counters));
	memset(wk, 0, sizeof(*wk));
	wk->pid = -1;
	wk->logfd = -1;
	return 0;
}

/* A UDP socket bound to addr:port; -1 when the family is unavailable. */
static int
udp_bound(const char *addr, int port, int v6only, int *gotport)
{
	struct sockaddr_storage ss;
	socklen_t len = make_sa(addr, port, &ss);
	struct timeval tv = { .tv_sec = TIMEOUT_MS / 1000 };
	int fd, on = 1;

	if ((fd = socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only,
		    sizeof(v6only));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (bind(fd, (struct sockaddr *)&ss, len) == -1) {
		close(fd);
		return -1;
	}
	if (gotport != NULL) {
		len = sizeof(ss);
		getsockname(fd, (struct sockaddr *)&ss, &len);
		*gotport = ntohs(ss.ss_family == AF_INET ?
		    ((struct sockaddr_in *)&ss)->sin_port :
		    ((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	return fd;
}

static void
fill(unsigned char *buf, size_t len, unsigned seed)
{
	size_t i;

	for (i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = seed >> 16;
	}
}

static int
same_sa(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	const struct sockaddr_in *a4 = (const void *)a, *b4 = (const void *)b;
	const struct sockaddr_in6 *a6 = (const void *)a, *b6 = (const void *)b;

	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET)
		return a4->sin_port == b4->sin_port &&
		    a4->sin_addr.s_addr == b4->sin_addr.s_addr;
	return a6->sin6_port == b6->sin6_port &&
	    memcmp(&a6->sin6_addr, &b6->sin6_addr, 16) == 0;
}

static unsigned char sendbuf[UDP_MAX_DATAGRAM];
static unsigned char recvbuf[UDP_MAX_DATAGRAM + 64];

/* Send len bytes from cfd to addr:port; the echo must be identical and
 * come from exactly addr:port. */
static void
echo_check(int cfd, const char *addr, int port, size_t len)
{
	struct sockaddr_storage to, from;
	socklen_t tolen = make_sa(addr, port, &to), fromlen = sizeof(from);
	ssize_t n;

	fill(sendbuf, len, (unsigned)len);
	assert_int_equal(sendto(cfd, sendbuf, len, 0, (struct sockaddr *)&to,
	    tolen), (ssize_t)len);
	n = recvfrom(cfd, recvbuf, sizeof(recvbuf), 0,
	    (struct sockaddr *)&from, &fromlen);
	if (n == -1)
		fail_msg("no echo of %zu bytes sent to %s port %d: %s", len,
		    addr, port, strerror(errno));
	assert_int_equal(n, len);
	assert_memory_equal(recvbuf, sendbuf, len);
	if (!same_sa(&from, &to)) {
		char h[INET6_ADDRSTRLEN] = "?";

		inet_ntop(from.ss_family, from.ss_family == AF_INET ?
		    (void *)&((struct sockaddr_in *)&from)->sin_addr :
		    (void *)&((struct sockaddr_in6 *)&from)->sin6_addr,
		    h, sizeof(h));
		fail_msg("echo sent to %s came from %s", addr, h);
	}
}

static const size_t echo_sizes[] = { 1, 1400, UDP_MAX_DATAGRAM };

/*
 * srv: where the worker listens; targets: addresses the clients send to,
 * each with the local address its client binds to.
 */
static void
run_echo(const char *srv, int v6only, const char *const targets[][2],
    size_t ntargets)
{
	struct worker *wk;
	char want[128];
	int sfd, cfd, port, cport;
	size_t t, i;

	if ((sfd = udp_bound(srv, 0, v6only, &port)) == -1) {
		print_message("no %s socket here (%s): skipped\n", srv,
		    strerror(errno));
		skip();
	}
	wk = worker_start(sfd, 1000);
	for (t = 0; t < ntargets; t++) {
		cfd = udp_bound(targets[t][1], 0, 1, &cport);
		assert_true(cfd != -1);
		assert_true(cport >= 1024);
		for (i = 0; i < sizeof(echo_sizes) / sizeof(echo_sizes[0]); i++)
			echo_check(cfd, targets[t][0], port, echo_sizes[i]);
		close(cfd);
		snprintf(want, sizeof(want), "udp peer=%s%s%s:%d bytes=1400",
		    strchr(targets[t][1], ':') ? "[" : "", targets[t][1],
		    strchr(targets[t][1], ':') ? "]" : "", cport);
		if (!worker_wait_log(wk, want))
			fail_msg("no \"%s\" in log:\n%s", want, wk->log);
	}
	/* A client gone before its echo (ICMP refused) harms nobody. */
	cfd = udp_bound(targets[0][1], 0, 1, NULL);
	{
		struct sockaddr_storage to;
		socklen_t tolen = make_sa(targets[0][0], port, &to);

		assert_int_equal(sendto(cfd, "bye", 3, 0,
		    (struct sockaddr *)&to, tolen), 3);
	}
	close(cfd);
	cfd = udp_bound(targets[0][1], 0, 1, NULL);
	echo_check(cfd, targets[0][0], port, 1400);
	close(cfd);

	worker_stop(wk);
	assert_int_equal(wk->counters->uc_echoed, ntargets * 3 + 2);
	assert_int_equal(wk->counters->uc_dropped, 0);
	assert_null(strstr(wk->log, "udp-drop"));
	assert_null(strstr(wk->log, "warning"));
	close(sfd);
}

static void
test_worker_v4(void **state)
{
	static const char *const targets[][2] = {
		{ "127.0.0.1", "127.0.0.1" },
	};

	run_echo("127.0.0.1", 1, targets, 1);
}

/* Bound to the wildcard: the answer comes from the address sent to. */
static void
test_worker_v4_any(void **state)
{
	static const char *const targets[][2] = {
		{ "127.0.0.1", "127.0.0.1" },
		{ "127.0.0.2", "127.0.0.1" },
		{ "127.1.2.3", "127.0.0.5" },
	};

	run_echo("0.0.0.0", 1, targets, 3);
}

static void
test_worker_v6(void **state)
{
	static const char *const targets[][2] = {
		{ "::1", "::1" },
	};

	run_echo("::1", 1, targets, 1);
}

/* Dual-stack "::": IPv4 answered with IP_PKTINFO from the address sent to. */
static void
test_worker_dual(void **state)
{
	static const char *const targets[][2] = {
		{ "127.0.0.2", "127.0.0.1" },
		{ "::1", "::1" },
		{ "127.0.0.1", "127.0.0.3" },
	};

	run_echo("::", 0, targets, 3);
}

static int
readable(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	return poll(&pfd, 1, ms) > 0;
}

/* Send a few bytes from cfd to addr:port. */
static void
send_to(int cfd, const char *addr, int port, const char *text)
{
	struct sockaddr_storage to;
	socklen_t tolen = make_sa(addr, port, &to);

	assert_int_equal(sendto(cfd, text, strlen(text), 0,
	    (struct sockaddr *)&to, tolen), (ssize_t)strlen(text));
}

static void
wait_log_or_fail(struct worker *wk, const char *text)
{
	if (!worker_wait_log(wk, text))
		fail_msg("no \"%s\" in log:\n%s", text, wk->log);
}

/*
 * Clients on ports below 1024 and 2049 get nothing (binding them needs
 * root).  The first drop is logged at once; the next two, a moment
 * later, are counted and logged by the 1 s timer with no more traffic.
 */
static void
test_worker_low_port(void **state)
{
	static const int ports[] = { 19, 7, 2049 };
	struct worker *wk;
	int sfd, port, cfd[3], ok, i;

	if (geteuid() != 0) {
		print_message("binding ports < 1024 needs root: skipped\n");
		skip();
	}
	assert_true((sfd = udp_bound("127.0.0.1", 0, 1, &port)) != -1);
	wk = worker_start(sfd, 1000);
	for (i = 0; i < 3; i++) {
		cfd[i] = udp_bound("127.0.0.1", ports[i], 1, NULL);
		if (cfd[i] == -1)
			fail_msg("bind 127.0.0.1:%d: %s", ports[i],
			    strerror(errno));
	}
	send_to(cfd[0], "127.0.0.1", port, "loop");
	wait_log_or_fail(wk,
	    "udp-drop peer=127.0.0.1:19 reason=source-port count=1\n");
	send_to(cfd[1], "127.0.0.1", port, "loop");
	send_to(cfd[2], "127.0.0.1", port, "loop");
	/* Once a later datagram is answered, the earlier ones were seen. */
	assert_true((ok = udp_bound("127.0.0.1", 0, 1, NULL)) != -1);
	echo_check(ok, "127.0.0.1", port, 100);
	close(ok);
	for (i = 0; i < 3; i++) {
		assert_false(readable(cfd[i], 200));
		close(cfd[i]);
	}
	wait_log_or_fail(wk,
	    "udp-drop peer=127.0.0.1:2049 reason=source-port count=2\n");
	worker_stop(wk);
	assert_int_equal(wk->counters->uc_echoed, 1);
	assert_int_equal(wk->counters->uc_dropped, 3);
	close(sfd);
}

/* Sum of the counts of the udp-drop lines for reason; lines in *nlines. */
static unsigned long long
drop_counts(const char *log, const char *reason, int *nlines)
{
	unsigned long long sum = 0, c;
	char needle[64];
	const char *p = log, *q;

	snprintf(needle, sizeof(needle), "reason=%s count=", reason);
	*nlines = 0;
	while ((p = strstr(p, "udp-drop ")) != NULL) {
		q = strchr(p, '\n');
		p = strstr(p, needle);
		if (p == NULL || (q != NULL && p > q))
			break;
		c = strtoull(p + strlen(needle), NULL, 10);
		sum += c;
		(*nlines)++;
		p = q ? q : p + 1;
	}
	return sum;
}

/* n datagrams from cfd to 127.0.0.1:port, then a marker from another
 * host (own bucket) whose echo says the worker has seen them all. */
static void
flood(int cfd, int port, int n)
{
	char buf[32];
	int marker, i;

	for (i = 0; i < n; i++) {
		snprintf(buf, sizeof(buf), "datagram %d", i);
		send_to(cfd, "127.0.0.1", port, buf);
	}
	assert_true((marker = udp_bound("127.0.0.9", 0, 1, NULL)) != -1);
	echo_check(marker, "127.0.0.1", port, 6);
	close(marker);
}

/*
 * Burst of 5: 20 datagrams at once get 5 answers (+ slack for refill).
 * The first drops are logged at once; 10 more right after are counted
 * and logged by the 1 s timer, with no more traffic to wake the worker.
 */
static void
test_worker_rate(void **state)
{
	struct worker *wk;
	char buf[64];
	unsigned answered = 0, dropped;
	uint64_t end;
	int sfd, port, cfd, nlines;

	assert_true((sfd = udp_bound("127.0.0.1", 0, 1, &port)) != -1);
	wk = worker_start(sfd, 5);
	assert_true((cfd = udp_bound("127.0.0.1", 0, 1, NULL)) != -1);
	flood(cfd, port, 20);
	wait_log_or_fail(wk, "reason=rate-limit count=");
	flood(cfd, port, 10);
	while (readable(cfd, 300))
		if (recv(cfd, buf, sizeof(buf), 0) > 0)
			answered++;
	close(cfd);
	assert_in_range(answered, 5, 8);
	dropped = 30 - answered;

	end = mono_ms() + TIMEOUT_MS;
	while (drop_counts(wk->log, "rate-limit", &nlines) < dropped &&
	    mono_ms() < end)
		worker_read_log(wk, 100);
	worker_stop(wk);
	if (drop_counts(wk->log, "rate-limit", &nlines) != dropped)
		fail_msg("%u dropped, log:\n%s", dropped, wk->log);
	assert_in_range(nlines, 2, 3);
	assert_int_equal(wk->counters->uc_echoed, answered + 2);
	assert_int_equal(wk->counters->uc_dropped, dropped);
	close(sfd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_drop_names),
		cmocka_unit_test(test_check_source_table),
		cmocka_unit_test(test_check_source_other_family),
		cmocka_unit_test_teardown(test_rl_burst, rl_teardown),
		cmocka_unit_test_teardown(test_rl_refill, rl_teardown),
		cmocka_unit_test_teardown(test_rl_refill_steps, rl_teardown),
		cmocka_unit_test_teardown(test_rl_independent, rl_teardown),
		cmocka_unit_test_teardown(test_rl_unlimited, rl_teardown),
		cmocka_unit_test_teardown(test_rl_flood, rl_teardown),
		cmocka_unit_test_teardown(test_rl_evict_lru, rl_teardown),
		cmocka_unit_test_teardown(test_rl_tiny_table, rl_teardown),
		cmocka_unit_test_teardown(test_rl_clock, rl_teardown),
		cmocka_unit_test_teardown(test_worker_v4, worker_teardown),
		cmocka_unit_test_teardown(test_worker_v4_any, worker_teardown),
		cmocka_unit_test_teardown(test_worker_v6, worker_teardown),
		cmocka_unit_test_teardown(test_worker_dual, worker_teardown),
		cmocka_unit_test_teardown(test_worker_low_port,
		    worker_teardown),
		cmocka_unit_test_teardown(test_worker_rate, worker_teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

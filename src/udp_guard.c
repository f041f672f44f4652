/*
 * udp_guard.c - what a UDP worker checks before it echoes a datagram
 * (pure code): the source (no low ports, broadcast, multicast or
 * unspecified addresses: no loops with chargen and the like), and a token
 * bucket per source address in a bounded table that a flood of spoofed
 * sources cannot grow.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include "secho/addr.h"
#include "secho/udp.h"

/* Slots probed per lookup: bounds the work per datagram. */
#define RL_PROBE	8

const char *
udp_drop_name(enum udp_drop d)
{
	switch (d) {
	case UDP_OK:
		return "ok";
	case UDP_DROP_RATE:
		return "rate-limit";
	case UDP_DROP_PORT:
		return "source-port";
	case UDP_DROP_ADDRESS:
		return "source-address";
	default:
		return "unknown";
	}
}

static int
bad_ipv4(const unsigned char a[4])
{
	if (a[0] == 0 && a[1] == 0 && a[2] == 0 && a[3] == 0)
		return 1;		/* unspecified */
	if (a[0] == 255 && a[1] == 255 && a[2] == 255 && a[3] == 255)
		return 1;		/* limited broadcast */
	if ((a[0] & 0xf0) == 0xe0)
		return 1;		/* multicast 224.0.0.0/4 */
	return 0;
}

/*
 * The address is checked before the port: a datagram from 0.0.0.0:19 is
 * reported as "source-address", the stronger sign of a forged or
 * misdirected packet.  Unknown families (and NULL) are dropped as
 * source-address: there is no sane way to answer them.
 */
enum udp_drop
udp_check_source(const struct sockaddr *sa)
{
	const struct sockaddr_in *sin;
	const struct sockaddr_in6 *sin6;
	const unsigned char *a;
	unsigned port;

	if (sa == NULL)
		return UDP_DROP_ADDRESS;
	switch (sa->sa_family) {
	case AF_INET:
		sin = (const struct sockaddr_in *)sa;
		if (bad_ipv4((const unsigned char *)&sin->sin_addr))
			return UDP_DROP_ADDRESS;
		port = ntohs(sin->sin_port);
		break;
	case AF_INET6:
		sin6 = (const struct sockaddr_in6 *)sa;
		a = sin6->sin6_addr.s6_addr;
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
			if (bad_ipv4(a + 12))
				return UDP_DROP_ADDRESS;
		} else if (IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr) ||
		    a[0] == 0xff)		/* multicast ff00::/8 */
			return UDP_DROP_ADDRESS;
		port = ntohs(sin6->sin6_port);
		break;
	default:
		return UDP_DROP_ADDRESS;
	}
	if (port < 1024 || port == 2049)
		return UDP_DROP_PORT;
	return UDP_OK;
}

/*
 * Rate limiter: token buckets in milli-tokens.  A bucket holds at most
 * rate * 1000; a datagram costs 1000; every elapsed ms adds rate.  Integer
 * arithmetic is exact: rate 10 refills one token in exactly 100 ms, and a
 * fraction left over is kept in the bucket.
 */
struct rl_entry {
	unsigned char	re_key[16];
	uint64_t	re_last;	/* ms of the last datagram */
	uint64_t	re_tokens;	/* milli-tokens */
	int		re_used;
};

struct ratelimit {
	unsigned	 rl_rate;
	size_t		 rl_mask;	/* slots - 1 */
	size_t		 rl_probe;
	uint64_t	 rl_seed[2];
	struct rl_entry	*rl_slots;
};

#define ROTL64(x, b)	(uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND(v0, v1, v2, v3) do {					\
	v0 += v1; v1 = ROTL64(v1, 13); v1 ^= v0; v0 = ROTL64(v0, 32);	\
	v2 += v3; v3 = ROTL64(v3, 16); v3 ^= v2;			\
	v0 += v3; v3 = ROTL64(v3, 21); v3 ^= v0;			\
	v2 += v1; v1 = ROTL64(v1, 17); v1 ^= v2; v2 = ROTL64(v2, 32);	\
} while (0)

static uint64_t
le64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/*
 * SipHash-2-4 of a 16-byte key under a per-table random seed: an attacker
 * who does not know the seed cannot aim spoofed sources at one probe
 * window to evict a victim's bucket.
 */
static uint64_t
rl_hash(const uint64_t seed[2], const unsigned char key[16])
{
	uint64_t v0 = seed[0] ^ 0x736f6d6570736575ULL;
	uint64_t v1 = seed[1] ^ 0x646f72616e646f6dULL;
	uint64_t v2 = seed[0] ^ 0x6c7967656e657261ULL;
	uint64_t v3 = seed[1] ^ 0x7465646279746573ULL;
	uint64_t m[3];
	int i;

	m[0] = le64(key);
	m[1] = le64(key + 8);
	m[2] = (uint64_t)16 << 56;
	for (i = 0; i < 3; i++) {
		v3 ^= m[i];
		SIPROUND(v0, v1, v2, v3);
		SIPROUND(v0, v1, v2, v3);
		v0 ^= m[i];
	}
	v2 ^= 0xff;
	for (i = 0; i < 4; i++)
		SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

static void
rl_seed(uint64_t seed[2])
{
	struct timespec ts;
	ssize_t n;

	do
		n = getrandom(seed, 2 * sizeof(uint64_t), GRND_NONBLOCK);
	while (n == -1 && errno == EINTR);
	if (n == 2 * (ssize_t)sizeof(uint64_t))
		return;
	/*
	 * No entropy yet (very early boot): weaker, but the table still
	 * works; only collision aiming becomes easier.
	 */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	seed[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^
	    (uint64_t)getpid();
	seed[1] = (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)seed;
}

struct ratelimit *
ratelimit_new(unsigned rate, size_t slots)
{
	struct ratelimit *rl;
	size_t n = 1;

	if (slots > SIZE_MAX / 2 / sizeof(struct rl_entry)) {
		errno = EINVAL;
		return NULL;
	}
	while (n < slots)
		n <<= 1;
	if ((rl = calloc(1, sizeof(*rl))) == NULL)
		return NULL;
	rl->rl_rate = rate;
	rl->rl_mask = n - 1;
	rl->rl_probe = n < RL_PROBE ? n : RL_PROBE;
	if (rate == 0)
		return rl;		/* no table needed */
	if ((rl->rl_slots = calloc(n, sizeof(*rl->rl_slots))) == NULL) {
		free(rl);
		return NULL;
	}
	rl_seed(rl->rl_seed);
	return rl;
}

void
ratelimit_free(struct ratelimit *rl)
{
	if (rl == NULL)
		return;
	free(rl->rl_slots);
	free(rl);
}

int
ratelimit_allow(struct ratelimit *rl, const unsigned char key[16],
    uint64_t now_ms)
{
	struct rl_entry *e, *victim = NULL;
	uint64_t burst, elapsed;
	size_t i, h;

	if (rl == NULL || rl->rl_rate == 0)
		return 1;
	burst = (uint64_t)rl->rl_rate * 1000;
	h = (size_t)rl_hash(rl->rl_seed, key);
	for (i = 0; i < rl->rl_probe; i++) {
		e = &rl->rl_slots[(h + i) & rl->rl_mask];
		if (e->re_used && memcmp(e->re_key, key, 16) == 0)
			goto found;
		/* Prefer an empty slot, else the least recently seen. */
		if (victim == NULL || (victim->re_used &&
		    (!e->re_used || e->re_last < victim->re_last)))
			victim = e;
	}
	/*
	 * New source, or one evicted by others: a full bucket, as it would
	 * have after a second of silence.
	 */
	e = victim;
	memcpy(e->re_key, key, 16);
	e->re_used = 1;
	e->re_last = now_ms;
	e->re_tokens = burst;
	goto take;
found:
	if (now_ms > e->re_last) {
		/* A full refill takes 1000 ms: cap before multiplying. */
		elapsed = now_ms - e->re_last;
		if (elapsed >= 1000)
			e->re_tokens = burst;
		else {
			e->re_tokens += elapsed * rl->rl_rate;
			if (e->re_tokens > burst)
				e->re_tokens = burst;
		}
	}
	/* A clock going backwards refills nothing and restarts from now. */
	e->re_last = now_ms;
take:
	if (e->re_tokens < 1000)
		return 0;
	e->re_tokens -= 1000;
	return 1;
}

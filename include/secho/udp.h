/*
 * udp.h - UDP echo worker: receive, guard, rate limit, reply from the
 * local address the datagram was sent to.
 */
#ifndef SECHO_UDP_H
#define SECHO_UDP_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define UDP_MAX_DATAGRAM 65507

/* Why a datagram is dropped (index into counters and names). */
enum udp_drop {
	UDP_OK = 0,
	UDP_DROP_RATE,		/* "rate-limit" */
	UDP_DROP_PORT,		/* "source-port" */
	UDP_DROP_ADDRESS,	/* "source-address" */
	UDP_NDROP
};

const char *udp_drop_name(enum udp_drop d);

/*
 * Guard on the source of a datagram: UDP_DROP_PORT for ports below 1024
 * and 2049 (loops with other echo/chargen/NFS services), UDP_DROP_ADDRESS
 * for unspecified, broadcast (255.255.255.255) and multicast sources
 * (IPv4, IPv6 and IPv4-mapped); UDP_OK otherwise.  Pure.
 */
enum udp_drop udp_check_source(const struct sockaddr *sa);

/*
 * Per-source token buckets in a bounded table: rate tokens per second,
 * burst of rate.  A flood of (spoofed) sources cannot grow memory: when
 * the table is full, the least recently seen entry among the probed slots
 * is reused.  Time is passed in by the caller (ms, monotonic), so tests
 * inject a clock.
 */
struct ratelimit;

/* rate 0 = no limit.  slots is rounded up to a power of two. */
struct ratelimit *ratelimit_new(unsigned rate, size_t slots);
void	 ratelimit_free(struct ratelimit *rl);
/* 1 when a datagram from key (addr_host_key()) at now_ms may pass. */
int	 ratelimit_allow(struct ratelimit *rl, const unsigned char key[16],
	    uint64_t now_ms);

/* Counters shared with the master (MAP_SHARED memory), for stats. */
struct udp_counters {
	uint64_t	uc_echoed;	/* datagrams echoed */
	uint64_t	uc_dropped;
};

/*
 * Serve datagrams on fd (bound; IP_PKTINFO/IPV6_RECVPKTINFO are set here)
 * until *stop.  rate is datagrams/s per source (0 = none).  counters may
 * be NULL.  Returns 0 on stop, -1 on a fatal socket error (logged).
 * Signals in sigmask are unblocked only while waiting.
 */
int	 udp_worker_run(int fd, unsigned rate, struct udp_counters *counters,
	    volatile sig_atomic_t *stop, const sigset_t *sigmask);

/*
 * The control message of a reply to the datagram received with rm: its
 * source is the local address that datagram was sent to.  out has room
 * for CMSG_SPACE(sizeof(struct in6_pktinfo)); returns the control
 * length, 0 when no pktinfo came (the kernel then chooses).
 */
struct msghdr;
size_t	 udp_reply_control(struct msghdr *rm, void *out);

/* Set the pktinfo options on a freshly bound UDP socket.  0 or -1. */
int	 udp_socket_setup(int fd, int family);

#endif

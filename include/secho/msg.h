/*
 * msg.h - the one framing between secho's processes (after OpenBSD's
 * imsg): a header with type, payload length and connection id, the
 * payload, and at most one descriptor, as one SOCK_SEQPACKET message.
 *
 * One channel per pair of processes keeps every message about a
 * connection in order: the master and each engine, an engine and each
 * of its PROXY children.  Only libc: the static secho-tcp links it.
 */
#ifndef SECHO_MSG_H
#define SECHO_MSG_H

#include <stddef.h>
#include <stdint.h>

/* master -> engine */
#define MSG_CONN	1	/* fd + connreq payload: serve this connection */
#define MSG_VERDICT	2	/* int32: MSG_VERDICT_* for a PROXY peer */
#define MSG_DRAIN	3	/* the master sends no more; exit when the
				   last connection's process has ended */
#define MSG_STOP	4	/* int32 signal: end every child with it */
#define MSG_ADMITTED	5	/* uint64 token + connreq: serve that peer */
#define MSG_REFUSED	6	/* uint64 token: do not (the master logged it) */
/* engine -> master (PEER and ACCESS also child -> engine, id 0) */
#define MSG_STARTED	10	/* int32 pid of the connection's process */
#define MSG_NOT_STARTED	11	/* int32 errno: no process; fd closed */
#define MSG_PEER	12	/* sockaddr_storage: the PROXY source; verdict? */
#define MSG_ACCESS	13	/* sockaddr_storage: refused by an access list */
#define MSG_ENDED	14	/* int32 wait status of the process */
#define MSG_ADMIT	15	/* struct dtls_admit, id 0: may it be served? */

#define MSG_VERDICT_OK		0
#define MSG_VERDICT_REFUSE	1	/* over max_connections_per_host */

/* The largest message (header included). */
#define MSG_MAX		65536

struct msg_hdr {
	uint32_t	mh_type;
	uint32_t	mh_len;		/* payload bytes after the header */
	uint64_t	mh_id;		/* the master's connection id */
};

/*
 * Send one message on a SOCK_SEQPACKET socket without blocking, with fd
 * attached unless it is -1.  0, or -1 with errno (EAGAIN: the peer has
 * not read enough yet; nothing was sent).
 */
int	msg_send(int sock, uint32_t type, uint64_t id, const void *payload,
	    size_t len, int fd);

/*
 * Receive one message into buf (cap bytes, header first; the payload
 * follows it).  Returns 1 with *hdr set and *fd the descriptor that came
 * with it (-1 for none; received CLOEXEC), 0 at end of file, or -1 with
 * errno: EAGAIN when nothing waits, EBADMSG for a malformed message
 * (truncated, length not matching, more than one descriptor: every
 * descriptor that came with it is closed).
 */
int	msg_recv(int sock, void *buf, size_t cap, struct msg_hdr *hdr,
	    int *fd);

/* The payload of a message received into buf. */
static inline const void *
msg_payload(const void *buf)
{
	return (const char *)buf + sizeof(struct msg_hdr);
}

#endif

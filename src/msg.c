/*
 * msg.c - the framing between secho's processes (msg.h): one header,
 * a payload and at most one descriptor per SOCK_SEQPACKET message.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "secho/msg.h"

int
msg_send(int sock, uint32_t type, uint64_t id, const void *payload,
    size_t len, int fd)
{
	union {
		char		 b[CMSG_SPACE(sizeof(int))];
		struct cmsghdr	 align;
	} cbuf;
	struct msg_hdr h;
	struct msghdr m;
	struct cmsghdr *cm;
	struct iovec iov[2];
	ssize_t n;

	if (len > MSG_MAX - sizeof(h)) {
		errno = EMSGSIZE;
		return -1;
	}
	memset(&h, 0, sizeof(h));
	h.mh_type = type;
	h.mh_len = (uint32_t)len;
	h.mh_id = id;
	iov[0].iov_base = &h;
	iov[0].iov_len = sizeof(h);
	iov[1].iov_base = (void *)(uintptr_t)payload;
	iov[1].iov_len = len;
	memset(&m, 0, sizeof(m));
	m.msg_iov = iov;
	m.msg_iovlen = len ? 2 : 1;
	if (fd != -1) {
		memset(&cbuf, 0, sizeof(cbuf));
		m.msg_control = cbuf.b;
		m.msg_controllen = sizeof(cbuf.b);
		cm = CMSG_FIRSTHDR(&m);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	do
		n = sendmsg(sock, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	/* SEQPACKET sends a message whole or not at all. */
	return 0;
}

int
msg_recv(int sock, void *buf, size_t cap, struct msg_hdr *hdr, int *fd)
{
	union {
		/* Room for a few, so that extra ones are seen and closed. */
		char		 b[CMSG_SPACE(4 * sizeof(int))];
		struct cmsghdr	 align;
	} cbuf;
	struct msghdr m;
	struct cmsghdr *cm;
	struct iovec iov;
	ssize_t n;
	int nfds = 0, got = -1, x, bad;
	size_t i, k;

	*fd = -1;
	iov.iov_base = buf;
	iov.iov_len = cap;
	memset(&m, 0, sizeof(m));
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = cbuf.b;
	m.msg_controllen = sizeof(cbuf.b);
	do
		n = recvmsg(sock, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	for (cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < k; i++) {
			memcpy(&x, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (nfds++ == 0)
				got = x;
			else
				close(x);
		}
	}
	if (n == 0 && nfds == 0)
		return 0;
	bad = n < (ssize_t)sizeof(*hdr) || nfds > 1 ||
	    (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC));
	if (!bad) {
		memcpy(hdr, buf, sizeof(*hdr));
		bad = hdr->mh_len != (size_t)n - sizeof(*hdr);
	}
	if (bad) {
		if (got != -1)
			close(got);
		errno = EBADMSG;
		return -1;
	}
	*fd = got;
	return 1;
}

/*
 * test_msg.c - the framing between secho's processes (msg.h) over real
 * SOCK_SEQPACKET socketpairs: header, payload and descriptor arrive
 * together and in order; malformed messages are refused and every
 * descriptor that came with them is closed; a full channel says EAGAIN
 * and loses nothing (cmocka).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "secho/msg.h"

static union {
	char		b[MSG_MAX];
	struct msg_hdr	align;
} buf;

static void
pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
	    sv), 0);
}

static int
open_fds(void)
{
	int n = 0, fd;

	for (fd = 0; fd < 1024; fd++)
		n += fcntl(fd, F_GETFD) != -1;
	return n;
}

static void
test_round_trip(void **state)
{
	struct msg_hdr h;
	struct stat a, b;
	int sv[2], p[2], fd, i;
	int32_t v = -42;

	(void)state;
	pair(sv);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(msg_send(sv[0], MSG_CONN, 0x1122334455667788ULL,
	    "abc", 3, p[0]), 0);
	assert_int_equal(msg_send(sv[0], MSG_STOP, 7, &v, sizeof(v), -1), 0);
	assert_int_equal(msg_send(sv[0], MSG_DRAIN, 8, NULL, 0, -1), 0);

	assert_int_equal(msg_recv(sv[1], buf.b, sizeof(buf.b), &h, &fd), 1);
	assert_int_equal(h.mh_type, MSG_CONN);
	assert_true(h.mh_id == 0x1122334455667788ULL);
	assert_int_equal(h.mh_len, 3);
	assert_memory_equal(msg_payload(buf.b), "abc", 3);
	assert_true(fd >= 0 && fd != p[0]);
	assert_int_equal(fstat(fd, &a), 0);
	assert_int_equal(fstat(p[0], &b), 0);
	assert_true(a.st_ino == b.st_ino);	/* the same pipe */
	assert_true(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	close(fd);

	assert_int_equal(msg_recv(sv[1], buf.b, sizeof(buf.b), &h, &fd), 1);
	assert_int_equal(h.mh_type, MSG_STOP);
	assert_int_equal(fd, -1);
	assert_int_equal(h.mh_len, sizeof(v));
	memcpy(&i, msg_payload(buf.b), sizeof(i));
	assert_int_equal(i, -42);

	assert_int_equal(msg_recv(sv[1], buf.b, sizeof(buf.b), &h, &fd), 1);
	assert_int_equal(h.mh_type, MSG_DRAIN);
	assert_int_equal(h.mh_len, 0);
	assert_true(h.mh_id == 8);

	/* Nothing more: EAGAIN; the peer gone: end of file. */
	assert_int_equal(msg_recv(sv[1], buf.b, sizeof(buf.b), &h, &fd), -1);
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
	close(sv[0]);
	assert_int_equal(msg_recv(sv[1], buf.b, sizeof(buf.b), &h, &fd), 0);
	close(sv[1]);
	close(p[0]);
	close(p[1]);
}

/* Raw messages that are not ours: refused, descriptors closed. */
static void
test_malformed(void **state)
{
	union {
		char		b[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr	align;
	} cbuf;
	struct msg_hdr h;
	struct msghdr m;
	struct cmsghdr *cm;
	struct iovec iov;
	int sv[2], p[2], fd, before, fds[2];
	char raw[64];

	(void)state;
	pair(sv);
	assert_int_equal(pipe(p), 0);
	before = open_fds();

	/* Shorter than a header. */
	assert_int_equal(send(sv[0], "short", 5, 0), 5);
	assert_int_equal(msg_recv(sv[1], buf.b, sizeof(buf.b), &h, &fd), -1);
	assert_int_equal(errno, EBADMSG);

	/* A length that is not the payload's. */
	memset(&h, 0, sizeof(h));
	h.mh_type = MSG_ENDED;
	h.mh_len = 9;
	memcpy(raw, &h, sizeof(h));
	assert_int_equal(send(sv[0], raw, sizeof(h) + 4, 0),
	    (ssize_t)sizeof(h) + 4);
	assert_int_equal(msg_recv(sv[1], buf.b, sizeof(buf.b), &h, &fd), -1);
	assert_int_equal(errno, EBADMSG);

	/* Two descriptors with a valid header: both closed here. */
	memset(&h, 0, sizeof(h));
	h.mh_type = MSG_CONN;
	memcpy(raw, &h, sizeof(h));
	iov.iov_base = raw;
	iov.iov_len = sizeof(h);
	memset(&m, 0, sizeof(m));
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = cbuf.b;
	m.msg_controllen = sizeof(cbuf.b);
	cm = CMSG_FIRSTHDR(&m);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(2 * sizeof(int));
	fds[0] = p[0];
	fds[1] = p[1];
	memcpy(CMSG_DATA(cm), fds, sizeof(fds));
	assert_int_equal(sendmsg(sv[0], &m, 0), (ssize_t)sizeof(h));
	assert_int_equal(msg_recv(sv[1], buf.b, sizeof(buf.b), &h, &fd), -1);
	assert_int_equal(errno, EBADMSG);
	assert_int_equal(fd, -1);
	assert_int_equal(open_fds(), before);

	/* Larger than the buffer: truncated, refused, its fd closed. */
	assert_int_equal(msg_send(sv[0], MSG_CONN, 1, raw, sizeof(raw), p[0]),
	    0);
	assert_int_equal(msg_recv(sv[1], buf.b, sizeof(h) + 8, &h, &fd), -1);
	assert_int_equal(errno, EBADMSG);
	assert_int_equal(open_fds(), before);

	/* Too large to send at all. */
	assert_int_equal(msg_send(sv[0], MSG_CONN, 1, buf.b, MSG_MAX, -1), -1);
	assert_int_equal(errno, EMSGSIZE);
	close(sv[0]);
	close(sv[1]);
	close(p[0]);
	close(p[1]);
}

/* A full channel: EAGAIN, nothing half-sent; every message then reads. */
static void
test_full_channel(void **state)
{
	struct msg_hdr h;
	uint64_t sent = 0, got = 0;
	int sv[2], fd;
	char payload[1000];

	(void)state;
	pair(sv);
	memset(payload, 'x', sizeof(payload));
	while (msg_send(sv[0], MSG_PEER, sent + 1, payload, sizeof(payload),
	    -1) == 0)
		sent++;
	assert_true(errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == ENOBUFS);
	assert_true(sent > 10);
	while (msg_recv(sv[1], buf.b, sizeof(buf.b), &h, &fd) == 1) {
		assert_true(h.mh_id == ++got);
		assert_int_equal(h.mh_len, sizeof(payload));
	}
	assert_true(got == sent);
	close(sv[0]);
	close(sv[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_full_channel),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_engine.c - an engine (engine.c) driven by this test as its master,
 * over a real SOCK_SEQPACKET channel, with connections on socketpairs:
 * every connection gets MSG_STARTED, then (behind PROXY) MSG_PEER, then
 * MSG_ENDED, in that order; verdicts reach the right process; malformed
 * and duplicate requests are refused with MSG_NOT_STARTED and the client
 * closed; MSG_STOP ends every process; MSG_DRAIN ends the engine once the
 * last one is gone; a killed engine's processes die with it (cmocka).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include <cmocka.h>

#include "secho/connreq.h"
#include "secho/engine.h"
#include "secho/log.h"
#include "secho/msg.h"
#include "secho/tcp_echo.h"

static const struct conn_proto proto = {
	.cp_serve = tcp_echo_serve,
};

struct eng {
	pid_t	pid;
	int	chan;
};

static union {
	char		b[MSG_MAX];
	struct msg_hdr	align;
} buf;

static struct eng
eng_start(void)
{
	struct eng e;
	int sv[2];
	pid_t master = getpid();

	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0,
	    sv), 0);
	e.pid = fork();
	assert_true(e.pid >= 0);
	if (e.pid == 0) {
		close(sv[0]);
		log_init("test_engine", LOG_DAEMON, LOG_WARNING, 1);
		_exit(engine_run(sv[1], master, &proto));
	}
	close(sv[1]);
	e.chan = sv[0];
	return e;
}

static struct cidr deny_one = { AF_INET, { 192, 0, 2, 3 }, 32 };

static size_t
request(void *out, size_t len, int proxy)
{
	struct conn_req r;
	struct sockaddr_in *sin = (struct sockaddr_in *)&r.cr_peer;

	memset(&r, 0, sizeof(r));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(5555);
	sin->sin_addr.s_addr = htonl(0x7f000001);
	r.cr_proto = SECHO_PROTO_TCP;
	r.cr_idle_ms = 10000;
	r.cr_handshake_ms = 10000;
	r.cr_proxy = proxy;
	r.cr_log_facility = LOG_DAEMON;
	r.cr_log_level = LOG_WARNING;
	r.cr_log_stderr = 1;
	r.cr_name = "test:7";
	r.cr_ident = "test_engine";
	r.cr_deny.items = &deny_one;
	r.cr_deny.count = 1;
	r.cr_deny.set = 1;
	return connreq_encode(&r, out, len);
}

/* Hand the engine a connection; the client's end of it, or -1. */
static int
conn(struct eng *e, uint64_t id, int proxy)
{
	char req[1024];
	size_t len = request(req, sizeof(req), proxy);
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv),
	    0);
	assert_int_equal(msg_send(e->chan, MSG_CONN, id, req, len, sv[1]), 0);
	close(sv[1]);
	return sv[0];
}

/* The next message from the engine, waited for (10 s at most). */
static void
next(struct eng *e, struct msg_hdr *h, int32_t *v)
{
	struct pollfd p = { .fd = e->chan, .events = POLLIN };
	int fd;

	assert_int_equal(poll(&p, 1, 10000), 1);
	assert_int_equal(msg_recv(e->chan, buf.b, sizeof(buf.b), h, &fd), 1);
	assert_int_equal(fd, -1);
	if (v != NULL && h->mh_len == sizeof(*v))
		memcpy(v, msg_payload(buf.b), sizeof(*v));
}

static void
expect(struct eng *e, uint32_t type, uint64_t id, int32_t *v)
{
	struct msg_hdr h;

	next(e, &h, v);
	assert_int_equal(h.mh_type, type);
	assert_true(h.mh_id == id);
}

static void
echo_ok(int c, const char *msg)
{
	char got[64];
	size_t n = strlen(msg), have = 0;
	ssize_t r;

	assert_int_equal(send(c, msg, n, 0), (ssize_t)n);
	while (have < n) {
		r = recv(c, got + have, sizeof(got) - have, 0);
		assert_true(r > 0);
		have += (size_t)r;
	}
	assert_memory_equal(got, msg, n);
}

static void
eng_end(struct eng *e)
{
	int status;

	assert_int_equal(msg_send(e->chan, MSG_DRAIN, 0, NULL, 0, -1), 0);
	assert_int_equal(waitpid(e->pid, &status, 0), e->pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(e->chan);
}

static void
test_started_echo_ended(void **state)
{
	struct eng e = eng_start();
	int32_t pid, st;
	int c;

	(void)state;
	c = conn(&e, 7, 0);
	expect(&e, MSG_STARTED, 7, &pid);
	assert_true(pid > 0 && pid != e.pid);
	echo_ok(c, "hello");
	shutdown(c, SHUT_WR);
	assert_int_equal(recv(c, buf.b, 16, 0), 0);	/* its side closed */
	close(c);
	expect(&e, MSG_ENDED, 7, &st);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	eng_end(&e);
}

static void
test_refused_requests(void **state)
{
	struct eng e = eng_start();
	char bad[64];
	int32_t err;
	int sv[2], c, status;

	(void)state;
	/* A payload that is not a request: refused, the client closed. */
	memset(bad, 'x', sizeof(bad));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(msg_send(e.chan, MSG_CONN, 1, bad, sizeof(bad), sv[1]),
	    0);
	close(sv[1]);
	expect(&e, MSG_NOT_STARTED, 1, &err);
	assert_int_equal(err, EINVAL);
	assert_int_equal(recv(sv[0], buf.b, 16, 0), 0);
	close(sv[0]);
	/* No descriptor with it. */
	assert_int_equal(msg_send(e.chan, MSG_CONN, 2, bad, 0, -1), 0);
	expect(&e, MSG_NOT_STARTED, 2, &err);
	/*
	 * The same id twice: the master and the engine disagree, which is
	 * not guessed about: the engine ends, its processes with it.
	 */
	c = conn(&e, 3, 0);
	expect(&e, MSG_STARTED, 3, NULL);
	echo_ok(c, "first");
	close(conn(&e, 3, 0));
	assert_int_equal(waitpid(e.pid, &status, 0), e.pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 1);
	assert_int_equal(recv(c, buf.b, 16, 0), 0);
	close(c);
	close(e.chan);
}

/* PROXY: STARTED, PEER, (verdict), ENDED, in that order, per process. */
static void
test_proxy_verdicts(void **state)
{
	struct eng e = eng_start();
	struct sockaddr_storage ss;
	struct msg_hdr h;
	int32_t v;
	int a, b;

	(void)state;
	a = conn(&e, 10, 1);
	b = conn(&e, 11, 1);
	expect(&e, MSG_STARTED, 10, NULL);
	expect(&e, MSG_STARTED, 11, NULL);
	assert_int_equal(send(b, "PROXY TCP4 192.0.2.2 192.0.2.9 1002 7\r\n", 39,
	    0), 39);
	next(&e, &h, NULL);
	assert_int_equal(h.mh_type, MSG_PEER);
	assert_true(h.mh_id == 11);
	assert_int_equal(h.mh_len, sizeof(ss));
	memcpy(&ss, msg_payload(buf.b), sizeof(ss));
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 1002);
	assert_int_equal(send(a, "PROXY TCP4 192.0.2.1 192.0.2.9 1001 7\r\n", 39,
	    0), 39);
	expect(&e, MSG_PEER, 10, NULL);
	/* a is served, b refused: each verdict reaches its own process. */
	v = MSG_VERDICT_REFUSE;
	assert_int_equal(msg_send(e.chan, MSG_VERDICT, 11, &v, sizeof(v), -1),
	    0);
	v = MSG_VERDICT_OK;
	assert_int_equal(msg_send(e.chan, MSG_VERDICT, 10, &v, sizeof(v), -1),
	    0);
	echo_ok(a, "served");
	assert_int_equal(recv(b, buf.b, 16, 0), 0);
	expect(&e, MSG_ENDED, 11, NULL);
	/* A verdict for a process that has ended goes nowhere. */
	assert_int_equal(msg_send(e.chan, MSG_VERDICT, 11, &v, sizeof(v), -1),
	    0);
	close(a);
	close(b);
	expect(&e, MSG_ENDED, 10, NULL);
	eng_end(&e);
}

/* Refused by an access list: ACCESS comes after STARTED, before ENDED. */
static void
test_access_before_ended(void **state)
{
	struct eng e = eng_start();
	struct sockaddr_storage ss;
	struct msg_hdr h;
	int i, c;

	(void)state;
	for (i = 0; i < 20; i++) {
		c = conn(&e, 50 + (uint64_t)i, 1);
		expect(&e, MSG_STARTED, 50 + (uint64_t)i, NULL);
		assert_int_equal(send(c, "PROXY TCP4 192.0.2.3 192.0.2.9 1003 7\r\n",
		    39, 0), 39);
		next(&e, &h, NULL);
		assert_int_equal(h.mh_type, MSG_ACCESS);
		assert_true(h.mh_id == 50 + (uint64_t)i);
		memcpy(&ss, msg_payload(buf.b), sizeof(ss));
		assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port),
		    1003);
		expect(&e, MSG_ENDED, 50 + (uint64_t)i, NULL);
		assert_int_equal(recv(c, buf.b, 16, 0), 0);
		close(c);
	}
	eng_end(&e);
}

/* DRAIN waits for the last process; STOP ends them all. */
static void
test_drain_and_stop(void **state)
{
	struct eng e = eng_start();
	int c[40], i, status, seen = 0;
	int32_t sig = SIGTERM, st;
	struct msg_hdr h;

	(void)state;
	for (i = 0; i < 40; i++)
		c[i] = conn(&e, 100 + (uint64_t)i, i % 2);
	for (i = 0; i < 40; i++)
		expect(&e, MSG_STARTED, 100 + (uint64_t)i, NULL);
	assert_int_equal(msg_send(e.chan, MSG_DRAIN, 0, NULL, 0, -1), 0);
	usleep(200000);
	assert_int_equal(waitpid(e.pid, &status, WNOHANG), 0);	/* still there */
	echo_ok(c[0], "still served");
	assert_int_equal(msg_send(e.chan, MSG_STOP, 0, &sig, sizeof(sig), -1),
	    0);
	while (seen < 40) {
		next(&e, &h, &st);
		if (h.mh_type != MSG_ENDED)
			continue;	/* PEER of a PROXY one that got its stop */
		assert_true(h.mh_id >= 100 && h.mh_id < 140);
		seen++;
	}
	assert_int_equal(waitpid(e.pid, &status, 0), e.pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	for (i = 0; i < 40; i++)
		close(c[i]);
	close(e.chan);
}

/* 300 at once: the tables grow; every one starts, echoes and ends. */
static void
test_many(void **state)
{
	struct eng e = eng_start();
	static int c[300];
	int i, ended = 0;
	struct msg_hdr h;

	(void)state;
	for (i = 0; i < 300; i++) {
		c[i] = conn(&e, 1000 + (uint64_t)i, 0);
		expect(&e, MSG_STARTED, 1000 + (uint64_t)i, NULL);
	}
	for (i = 0; i < 300; i++) {
		echo_ok(c[i], "x");
		close(c[i]);
	}
	while (ended < 300) {
		next(&e, &h, NULL);
		assert_int_equal(h.mh_type, MSG_ENDED);
		ended++;
	}
	eng_end(&e);
}

/* An engine killed: its processes die with it (PR_SET_PDEATHSIG). */
static void
test_processes_die_with_their_engine(void **state)
{
	struct eng e = eng_start();
	int32_t pid;
	int c, status;

	(void)state;
	c = conn(&e, 5, 0);
	expect(&e, MSG_STARTED, 5, &pid);
	echo_ok(c, "alive");
	kill(e.pid, SIGKILL);
	assert_int_equal(waitpid(e.pid, &status, 0), e.pid);
	/* The client sees its end: the process is gone. */
	assert_int_equal(recv(c, buf.b, 16, 0), 0);
	close(c);
	close(e.chan);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_started_echo_ended),
		cmocka_unit_test(test_refused_requests),
		cmocka_unit_test(test_proxy_verdicts),
		cmocka_unit_test(test_access_before_ended),
		cmocka_unit_test(test_drain_and_stop),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_processes_die_with_their_engine),
	};

	/* Orphans of a killed engine come to us, and we reap them. */
	prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}

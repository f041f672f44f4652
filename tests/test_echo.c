/*
 * test_echo.c - echo_run() over socketpair(AF_UNIX, SOCK_STREAM): binary
 * data, half-close, short writes and "would block" from the conn layer,
 * a vanished peer, the idle timeout and the stop flag.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "secho/echo.h"
#include "secho/tcp_echo.h"
#include "secho/sig.h"

struct server {
	pthread_t		 th;
	struct conn		 c;
	int			 idle_ms;
	volatile sig_atomic_t	 stop;
	enum echo_result	 result;
};

static void *
server_main(void *arg)
{
	struct server *s = arg;

	s->result = echo_run(&s->c, s->idle_ms, &s->stop, NULL);
	close(s->c.c_fd);
	return NULL;
}

static void
nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* Start echo_run on one end; return the client end. */
static int
start_server(struct server *s, int idle_ms, const struct conn_ops *ops)
{
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	nonblock(sv[0]);
	memset(s, 0, sizeof(*s));
	tcp_conn_init(&s->c, sv[0]);
	if (ops)
		s->c.c_ops = ops;
	s->idle_ms = idle_ms;
	assert_int_equal(pthread_create(&s->th, NULL, server_main, s), 0);
	return sv[1];
}

static void
fill_random(unsigned char *p, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = (unsigned char)(seed >> 16);
	}
}

struct sender {
	int		 fd;
	const unsigned char *data;
	size_t		 len;
	int		 shut;
};

static void *
sender_main(void *arg)
{
	struct sender *s = arg;
	size_t off = 0;
	ssize_t n;

	while (off < s->len) {
		n = send(s->fd, s->data + off, s->len - off, MSG_NOSIGNAL);
		if (n <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			break;
		}
		off += (size_t)n;
	}
	if (s->shut)
		shutdown(s->fd, SHUT_WR);
	return NULL;
}

/* Send data while reading the echo; half-close; read to EOF. */
static size_t
roundtrip(int fd, const unsigned char *data, size_t len, unsigned char *out,
    size_t outcap)
{
	struct sender snd = { fd, data, len, 1 };
	pthread_t th;
	size_t got = 0;
	ssize_t n;

	assert_int_equal(pthread_create(&th, NULL, sender_main, &snd), 0);
	for (;;) {
		n = recv(fd, out + got, outcap - got, 0);
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		got += (size_t)n;
		if (got == outcap)
			break;
	}
	pthread_join(th, NULL);
	return got;
}

static void
test_small(void **state)
{
	struct server s;
	unsigned char out[16];
	int fd = start_server(&s, 0, NULL);

	(void)state;
	assert_int_equal(roundtrip(fd, (const unsigned char *)"hi\n", 3, out,
	    sizeof(out)), 3);
	assert_memory_equal(out, "hi\n", 3);
	pthread_join(s.th, NULL);
	assert_int_equal(s.result, ECHO_EOF);
	assert_int_equal(s.c.c_bytes_in, 3);
	assert_int_equal(s.c.c_bytes_out, 3);
	close(fd);
}

static void
test_binary_1mib(void **state)
{
	size_t len = 1 << 20;
	unsigned char *in = malloc(len), *out = malloc(len + 1);
	struct server s;
	int fd;

	(void)state;
	fill_random(in, len, 42);
	in[0] = 0;	/* NULs and every byte value must pass */
	in[1] = 0xff;
	fd = start_server(&s, 0, NULL);
	assert_int_equal(roundtrip(fd, in, len, out, len + 1), len);
	assert_memory_equal(in, out, len);
	pthread_join(s.th, NULL);
	assert_int_equal(s.result, ECHO_EOF);
	assert_int_equal(s.c.c_bytes_in, len);
	assert_int_equal(s.c.c_bytes_out, len);
	close(fd);
	free(in);
	free(out);
}

/*
 * Half-close: the client sends, shuts down its write side and only then
 * starts reading; everything comes back, then EOF.
 */
static void
test_half_close(void **state)
{
	unsigned char in[5000], out[6000];
	struct server s;
	size_t got = 0;
	ssize_t n;
	int fd;

	(void)state;
	fill_random(in, sizeof(in), 7);
	fd = start_server(&s, 0, NULL);
	assert_int_equal(send(fd, in, sizeof(in), 0), sizeof(in));
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	while ((n = recv(fd, out + got, sizeof(out) - got, 0)) > 0)
		got += (size_t)n;
	assert_int_equal(n, 0);
	assert_int_equal(got, sizeof(in));
	assert_memory_equal(in, out, sizeof(in));
	pthread_join(s.th, NULL);
	assert_int_equal(s.result, ECHO_EOF);
	close(fd);
}

/*
 * A conn layer that writes at most 7 bytes at a time and says "would
 * block" (read and write, both directions, like TLS) every other call.
 */
static unsigned flaky_calls;

static ssize_t
flaky_read(struct conn *c, void *buf, size_t len)
{
	ssize_t n;

	if (++flaky_calls % 2 == 0)
		return CONN_WANT_READ;
	if (len > 5)
		len = 5;
	n = recv(c->c_fd, buf, len, 0);
	if (n >= 0)
		return n;
	return errno == EAGAIN ? CONN_WANT_READ : CONN_ERROR;
}

static ssize_t
flaky_write(struct conn *c, const void *buf, size_t len)
{
	ssize_t n;

	if (++flaky_calls % 3 == 0)
		return CONN_WANT_WRITE;
	if (len > 7)
		len = 7;
	n = send(c->c_fd, buf, len, MSG_NOSIGNAL);
	if (n >= 0)
		return n;
	return errno == EAGAIN ? CONN_WANT_WRITE : CONN_ERROR;
}

static unsigned flaky_closes;

static int
flaky_close_write(struct conn *c)
{
	/* The first attempt must be retried, like SSL_shutdown. */
	if (flaky_closes++ == 0)
		return CONN_WANT_WRITE;
	return shutdown(c->c_fd, SHUT_WR) == 0 ? 0 : CONN_ERROR;
}

static const struct conn_ops flaky_ops = {
	.co_read = flaky_read,
	.co_write = flaky_write,
	.co_close_write = flaky_close_write,
	.co_pending = NULL,
};

static void
test_short_writes_and_wants(void **state)
{
	size_t len = 100000;
	unsigned char *in = malloc(len), *out = malloc(len + 1);
	struct server s;
	int fd;

	(void)state;
	flaky_calls = flaky_closes = 0;
	fill_random(in, len, 99);
	fd = start_server(&s, 0, &flaky_ops);
	assert_int_equal(roundtrip(fd, in, len, out, len + 1), len);
	assert_memory_equal(in, out, len);
	pthread_join(s.th, NULL);
	assert_int_equal(s.result, ECHO_EOF);
	assert_int_equal(flaky_closes, 2);
	close(fd);
	free(in);
	free(out);
}

/* ---- co_idle: called once per quiet spell (TLS gives memory back) ---- */

static volatile int idle_calls;

static ssize_t
plain_read(struct conn *c, void *buf, size_t len)
{
	ssize_t n = recv(c->c_fd, buf, len, 0);

	if (n >= 0)
		return n;
	return errno == EAGAIN ? CONN_WANT_READ : CONN_ERROR;
}

static ssize_t
plain_write(struct conn *c, const void *buf, size_t len)
{
	ssize_t n = send(c->c_fd, buf, len, MSG_NOSIGNAL);

	if (n >= 0)
		return n;
	return errno == EAGAIN ? CONN_WANT_WRITE : CONN_ERROR;
}

static int
plain_close_write(struct conn *c)
{
	return shutdown(c->c_fd, SHUT_WR) == 0 ? 0 : CONN_ERROR;
}

static void
count_idle(struct conn *c)
{
	(void)c;
	idle_calls++;
}

static const struct conn_ops idle_ops = {
	.co_read = plain_read,
	.co_write = plain_write,
	.co_close_write = plain_close_write,
	.co_pending = NULL,
	.co_idle = count_idle,
};

static void
test_idle_hook_once_per_quiet_spell(void **state)
{
	struct server s;
	char buf[8];
	int fd;

	(void)state;
	idle_calls = 0;
	fd = start_server(&s, 0, &idle_ops);
	usleep((ECHO_IDLE_MS * 3 + 100) * 1000);
	assert_int_equal(idle_calls, 1);	/* once, not every 200 ms */
	assert_int_equal(send(fd, "abc", 3, 0), 3);
	assert_int_equal(recv(fd, buf, 3, MSG_WAITALL), 3);
	usleep((ECHO_IDLE_MS * 3 + 100) * 1000);
	assert_int_equal(idle_calls, 2);	/* again after activity */
	shutdown(fd, SHUT_WR);
	pthread_join(s.th, NULL);
	assert_int_equal(s.result, ECHO_EOF);
	close(fd);
}

static long
anon_kib(void)
{
	char line[256];
	long kib = -1;
	/* smaps_rollup counts exactly (status may lag, per CPU) */
	FILE *f = fopen("/proc/self/smaps_rollup", "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "Anonymous: %ld", &kib) == 1)
			break;
	fclose(f);
	assert_true(kib >= 0);
	return kib;
}

/*
 * A quiet spell with bytes waiting keeps them (the client reads them back
 * intact); one with an empty buffer gives the buffer's pages back.
 */
static void
test_idle_releases_empty_buffer_only(void **state)
{
	size_t len = 250 * 1024, got = 0;
	unsigned char *in = malloc(len), *out = malloc(len);
	struct server s;
	long full, emptied;
	int fd, one = 1;
	ssize_t n;

	(void)state;
	assert_non_null(in);
	assert_non_null(out);
	fill_random(in, len, 7);
	memset(out, 0, len);
	idle_calls = 0;
	fd = start_server(&s, 0, &idle_ops);
	/* small socket buffers: the bytes wait in the echo buffer */
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &one,
	    sizeof(one)), 0);
	assert_int_equal(setsockopt(s.c.c_fd, SOL_SOCKET, SO_SNDBUF, &one,
	    sizeof(one)), 0);
	assert_int_equal(send(fd, in, len, 0), (ssize_t)len);
	usleep((ECHO_IDLE_MS * 3 + 100) * 1000);
	assert_int_equal(idle_calls, 1);	/* quiet, bytes waiting */
	full = anon_kib();
	while (got < len && (n = recv(fd, out + got, len - got, 0)) > 0)
		got += (size_t)n;
	assert_int_equal(got, len);
	assert_memory_equal(in, out, len);
	usleep((ECHO_IDLE_MS * 3 + 100) * 1000);
	assert_int_equal(idle_calls, 2);	/* quiet, buffer empty */
	emptied = anon_kib();
	assert_true(full - emptied >= 128);
	shutdown(fd, SHUT_WR);
	pthread_join(s.th, NULL);
	assert_int_equal(s.result, ECHO_EOF);
	close(fd);
	free(in);
	free(out);
}

/* The hook does not delay the idle time-out. */
static void
test_idle_hook_keeps_idle_timeout(void **state)
{
	struct server s;
	struct timespec a, b;
	long ms;
	int fd;

	(void)state;
	idle_calls = 0;
	clock_gettime(CLOCK_MONOTONIC, &a);
	fd = start_server(&s, 1000, &idle_ops);
	pthread_join(s.th, NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	assert_int_equal(s.result, ECHO_IDLE_TIMEOUT);
	assert_true(ms >= 950);
	assert_true(ms < 5000);
	assert_int_equal(idle_calls, 1);
	close(fd);
}

/* The peer vanishes while data is waiting to be echoed: an error, no crash. */
static void
test_vanished_peer(void **state)
{
	unsigned char buf[200000];
	struct server s;
	int fd;

	(void)state;
	memset(buf, 'x', sizeof(buf));
	fd = start_server(&s, 0, NULL);
	/* Fill both directions without reading, then go away. */
	nonblock(fd);
	while (send(fd, buf, sizeof(buf), MSG_NOSIGNAL) > 0)
		;
	close(fd);
	pthread_join(s.th, NULL);
	assert_int_equal(s.result, ECHO_ERROR);
}

static void
test_idle_timeout(void **state)
{
	struct server s;
	char c;
	int fd;

	(void)state;
	fd = start_server(&s, 200, NULL);
	pthread_join(s.th, NULL);
	assert_int_equal(s.result, ECHO_IDLE_TIMEOUT);
	/* The server side is closed: the client sees EOF. */
	assert_int_equal(recv(fd, &c, 1, 0), 0);
	close(fd);
}

/* Activity resets the idle timer. */
static void
test_idle_reset_by_data(void **state)
{
	struct server s;
	char c;
	int fd, i;

	(void)state;
	fd = start_server(&s, 400, NULL);
	for (i = 0; i < 5; i++) {
		usleep(150 * 1000);
		assert_int_equal(send(fd, "a", 1, 0), 1);
		assert_int_equal(recv(fd, &c, 1, 0), 1);
	}
	/* 750 ms in all: longer than the timeout, yet still served. */
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	assert_int_equal(recv(fd, &c, 1, 0), 0);
	pthread_join(s.th, NULL);
	assert_int_equal(s.result, ECHO_EOF);
	close(fd);
}

static void
test_stop_flag(void **state)
{
	struct server s;
	int fd;

	(void)state;
	fd = start_server(&s, 0, NULL);
	usleep(100 * 1000);
	s.stop = 1;
	/* Wake its poll with a byte; the flag is seen before the next wait. */
	assert_int_equal(send(fd, "x", 1, 0), 1);
	pthread_join(s.th, NULL);
	assert_int_equal(s.result, ECHO_SHUTDOWN);
	close(fd);
}


/* ---- tcp_echo_run(): the blocking fast path, in a forked child ---- */

struct bchild {
	pid_t	pid;
	int	fd;	/* the client's end */
};

/* Fork a child serving the other end; its exit code is the result. */
static void
start_blocking(struct bchild *b, int idle_ms)
{
	static volatile sig_atomic_t stop;
	sigset_t waitmask;
	struct conn c;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	b->pid = fork();
	assert_true(b->pid != -1);
	if (b->pid == 0) {
		close(sv[1]);
		sig_child_init(&stop, &waitmask);
		tcp_conn_init(&c, sv[0]);
		_exit((int)tcp_echo_run(&c, idle_ms, &stop, &waitmask));
	}
	close(sv[0]);
	b->fd = sv[1];
}

static int
wait_blocking(struct bchild *b)
{
	int st;

	assert_int_equal(waitpid(b->pid, &st, 0), b->pid);
	close(b->fd);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static void
test_blocking_binary_and_half_close(void **state)
{
	size_t len = 3 << 20;
	unsigned char *in = malloc(len), *out = malloc(len + 1);
	struct bchild b;

	(void)state;
	fill_random(in, len, 1234);
	start_blocking(&b, 0);
	assert_int_equal(roundtrip(b.fd, in, len, out, len + 1), len);
	assert_memory_equal(in, out, len);
	assert_int_equal(wait_blocking(&b), ECHO_EOF);
	free(in);
	free(out);
}

static void
test_blocking_idle_timeout(void **state)
{
	struct bchild b;
	char c;

	(void)state;
	start_blocking(&b, 200);
	assert_int_equal(send(b.fd, "ab", 2, 0), 2);
	assert_int_equal(recv(b.fd, &c, 1, MSG_WAITALL), 1);
	/* then silence: the child gives up after 200 ms */
	assert_int_equal(wait_blocking(&b), ECHO_IDLE_TIMEOUT);
}

/* A client that never reads: the send side times out too. */
static void
test_blocking_send_timeout(void **state)
{
	unsigned char buf[65536];
	struct bchild b;
	int i;

	(void)state;
	memset(buf, 'z', sizeof(buf));
	start_blocking(&b, 300);
	nonblock(b.fd);
	for (i = 0; i < 200; i++)
		if (send(b.fd, buf, sizeof(buf), MSG_NOSIGNAL) <= 0)
			usleep(10 * 1000);
	assert_int_equal(wait_blocking(&b), ECHO_IDLE_TIMEOUT);
}

/* SIGTERM while blocked in recv(): ends at once with ECHO_SHUTDOWN. */
static void
test_blocking_stop_signal(void **state)
{
	struct bchild b;
	char c;

	(void)state;
	start_blocking(&b, 0);
	assert_int_equal(send(b.fd, "x", 1, 0), 1);
	assert_int_equal(recv(b.fd, &c, 1, 0), 1);	/* it is in recv now */
	usleep(50 * 1000);
	assert_int_equal(kill(b.pid, SIGTERM), 0);
	assert_int_equal(wait_blocking(&b), ECHO_SHUTDOWN);
}

/* The client vanishes while its echo is being sent: an error, no crash. */
static void
test_blocking_vanished_peer(void **state)
{
	unsigned char buf[200000];
	struct bchild b;

	(void)state;
	memset(buf, 'y', sizeof(buf));
	start_blocking(&b, 0);
	nonblock(b.fd);
	while (send(b.fd, buf, sizeof(buf), MSG_NOSIGNAL) > 0)
		;
	close(b.fd);
	b.fd = -1;
	assert_int_equal(wait_blocking(&b), ECHO_ERROR);
}

static void
test_result_names(void **state)
{
	(void)state;
	assert_string_equal(echo_result_name(ECHO_EOF), "eof");
	assert_string_equal(echo_result_name(ECHO_IDLE_TIMEOUT), "idle-timeout");
	assert_string_equal(echo_result_name(ECHO_SHUTDOWN), "shutdown");
	assert_string_equal(echo_result_name(ECHO_ERROR), "error");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small),
		cmocka_unit_test(test_binary_1mib),
		cmocka_unit_test(test_half_close),
		cmocka_unit_test(test_short_writes_and_wants),
		cmocka_unit_test(test_vanished_peer),
		cmocka_unit_test(test_idle_timeout),
		cmocka_unit_test(test_idle_reset_by_data),
		cmocka_unit_test(test_stop_flag),
		cmocka_unit_test(test_blocking_binary_and_half_close),
		cmocka_unit_test(test_blocking_idle_timeout),
		cmocka_unit_test(test_blocking_send_timeout),
		cmocka_unit_test(test_blocking_stop_signal),
		cmocka_unit_test(test_blocking_vanished_peer),
		cmocka_unit_test(test_result_names),
		cmocka_unit_test(test_idle_hook_once_per_quiet_spell),
		cmocka_unit_test(test_idle_hook_keeps_idle_timeout),
		cmocka_unit_test(test_idle_releases_empty_buffer_only),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("echo", tests, NULL, NULL);
}

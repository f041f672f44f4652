/*
 * test_tls.c - tls.c over socketpair(AF_UNIX, SOCK_STREAM) with the
 * development certificates (sh certs/gen.sh; directory from SECHO_CERTS,
 * default "certs"):
 *
 *   - tls_server_new(): the defaults load; each error names the setting
 *     or the file in words (missing file, not PEM, key mismatch,
 *     encrypted key, bad cipher / suite / group lists, client CA);
 *     warnings for an expired or not yet valid certificate;
 *   - the server side runs as it does in secho: tls_accept() and then
 *     echo_run() in a forked child, against an OpenSSL client here:
 *     TLS 1.2 and 1.3 echo of 1 MiB through small socket buffers,
 *     close_notify answered, SSL_pending(), a peer that vanishes in the
 *     middle of a record, the handshake timeout and the stop flag,
 *     plaintext, TLS 1.1 and min_protocol refusals, client certificates
 *     (require / optional, CA-signed, none, self-signed);
 *   - ticket resumption across two forked children of one tls_server,
 *     for TLS 1.2 and 1.3, none with session_tickets = false, and key
 *     rotation (one rotation still resumes, two do not).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "secho/config.h"
#include "secho/echo.h"
#include "secho/tcp_echo.h"
#include "secho/tls.h"
#include "secho/tls_echo.h"
#include "secho/clock.h"

#define IO_TIMEOUT_MS	20000

static char certdir[512];
static char tmpdir[] = "/tmp/secho-test-tls-XXXXXX";

static char *
cpath(const char *name)
{
	static char buf[8][1024];
	static int i;

	i = (i + 1) % 8;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", certdir, name);
	return buf[i];
}

static char *
tpath(const char *name)
{
	static char buf[8][1024];
	static int i;

	i = (i + 1) % 8;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", tmpdir, name);
	return buf[i];
}

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- configurations ---- */

struct tcfg {
	struct tls_config tc;
	char	cert[1024], key[1024], ca[1024];
	char	*certp[1], *keyp[1];
	int	 certl[1], keyl[1];
	char	ciphers[512], suites[512], groups[128];
};

static void
tcfg_init(struct tcfg *t)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->cert, sizeof(t->cert), "%s", cpath("server.pem"));
	snprintf(t->key, sizeof(t->key), "%s", cpath("server.key"));
	snprintf(t->ciphers, sizeof(t->ciphers), "%s", SECHO_DEFAULT_CIPHERS);
	snprintf(t->suites, sizeof(t->suites), "%s",
	    SECHO_DEFAULT_CIPHERSUITES);
	snprintf(t->groups, sizeof(t->groups), "%s", SECHO_DEFAULT_GROUPS);
	t->certp[0] = t->cert;
	t->keyp[0] = t->key;
	t->certl[0] = 11;
	t->keyl[0] = 12;
	t->tc.tc_certificate.tf_path = t->certp;
	t->tc.tc_certificate.tf_lines = t->certl;
	t->tc.tc_certificate.tf_count = 1;
	t->tc.tc_certificate.tf_line = 11;
	t->tc.tc_private_key.tf_path = t->keyp;
	t->tc.tc_private_key.tf_lines = t->keyl;
	t->tc.tc_private_key.tf_count = 1;
	t->tc.tc_private_key.tf_line = 12;
	t->tc.tc_client_ca = NULL;
	t->tc.tc_verify_client = SECHO_VERIFY_NONE;
	t->tc.tc_min_protocol = TLS1_2_VERSION;
	t->tc.tc_ciphers = t->ciphers;
	t->tc.tc_ciphersuites = t->suites;
	t->tc.tc_groups = t->groups;
	t->tc.tc_session_tickets = 1;
	t->tc.tc_line = 10;
	t->tc.tc_client_ca_line = 13;
}

static void
tcfg_client_ca(struct tcfg *t, int verify)
{
	snprintf(t->ca, sizeof(t->ca), "%s", cpath("ca.pem"));
	t->tc.tc_client_ca = t->ca;
	t->tc.tc_verify_client = verify;
}

static struct tls_server *
server_ok(struct tcfg *t)
{
	char err[1024] = "";
	struct tls_server *ts;

	ts = tls_server_new(&t->tc, "test.cfg", err, sizeof(err));
	if (ts == NULL)
		fail_msg("tls_server_new: %s", err);
	assert_int_equal(ERR_peek_error(), 0);
	return ts;
}

/* Expect a failure whose message contains each of the NULL-ended words. */
static void
server_fails(struct tcfg *t, ...)
{
	char err[1024] = "";
	struct tls_server *ts;
	const char *w;
	va_list ap;

	ts = tls_server_new(&t->tc, "test.cfg", err, sizeof(err));
	if (ts != NULL) {
		tls_server_free(ts);
		fail_msg("tls_server_new succeeded, expected an error");
	}
	assert_int_equal(ERR_peek_error(), 0);	/* queue drained */
	va_start(ap, t);
	while ((w = va_arg(ap, const char *)) != NULL)
		if (strstr(err, w) == NULL) {
			va_end(ap);
			fail_msg("error \"%s\" lacks \"%s\"", err, w);
		}
	va_end(ap);
}

/* ---- files made here ---- */

static EVP_PKEY *
gen_key(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	assert_non_null(k);
	return k;
}

static void
write_key(const char *path, EVP_PKEY *k, const char *pass)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(PEM_write_PrivateKey(f, k,
	    pass ? EVP_aes_256_cbc() : NULL, (unsigned char *)pass,
	    pass ? (int)strlen(pass) : 0, NULL, NULL), 1);
	fclose(f);
}

/* A self-signed certificate valid from now+nb_s to now+na_s. */
static void
write_selfsigned(const char *path, EVP_PKEY *k, const char *cn, long nb_s,
    long na_s)
{
	X509 *x = X509_new();
	X509_NAME *n;
	FILE *f;

	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
	X509_gmtime_adj(X509_getm_notBefore(x), nb_s);
	X509_gmtime_adj(X509_getm_notAfter(x), na_s);
	X509_set_pubkey(x, k);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, n);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	assert_non_null(f = fopen(path, "w"));
	PEM_write_X509(f, x);
	fclose(f);
	X509_free(x);
}

static void
write_text(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* ---- the server: a forked child, as in secho ---- */

enum smode {
	S_ECHO,		/* tls_accept, then echo_run */
	S_PENDING,	/* tls_accept, read 5 bytes, report SSL_pending */
	S_STOP,		/* tls_accept; SIGUSR1 sets the stop flag */
};

struct sresult {
	int		 accept;	/* TLS_ACCEPT_* */
	int		 echo;		/* enum echo_result, -1 none */
	long long	 accept_ms;
	uint64_t	 bytes_in, bytes_out;
	size_t		 pending;
	ssize_t		 first_read;
	char		 err[256];
	char		 version[32];
	char		 cipher[64];
	char		 subject[256];
};

struct server {
	pid_t	pid;
	int	resfd;		/* read end of the result pipe */
	int	fd;		/* client end of the socketpair */
};

static volatile sig_atomic_t child_stop;

static void
on_usr1(int sig)
{
	(void)sig;
	child_stop = 1;
}

static void
small_buffers(int fd)
{
	int sz = 4096;

	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
}

static void
nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void
server_child(struct tls_server *ts, int fd, int wfd, enum smode mode,
    int timeout_ms)
{
	struct sresult r;
	struct conn c;
	sigset_t waitmask, block;
	struct sigaction sa;
	const char *v, *ci;
	unsigned char buf[16];
	struct pollfd pfd;
	long long t0;
	ssize_t n;

	alarm(30);
	memset(&r, 0, sizeof(r));
	r.echo = -1;
	r.first_read = -100;
	signal(SIGPIPE, SIG_IGN);
	/* SIGUSR1 is blocked (since before fork) except while waiting. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, &waitmask);
	sigdelset(&waitmask, SIGUSR1);

	nonblock(fd);
	memset(&c, 0, sizeof(c));
	tcp_conn_init(&c, fd);
	t0 = now_ms();
	r.accept = tls_accept(tls_server_ctx(ts), fd, &c,
	    clock_ms() + timeout_ms, &child_stop, &waitmask, r.err,
	    sizeof(r.err));
	r.accept_ms = now_ms() - t0;
	if (r.accept == TLS_ACCEPT_OK) {
		if (mode == S_PENDING) {
			pfd.fd = fd;
			pfd.events = POLLIN;
			do {
				n = c.c_ops->co_read(&c, buf, 5);
			} while ((n == CONN_WANT_READ &&
			    poll(&pfd, 1, 10000) == 1) || n == CONN_WANT_WRITE);
			r.first_read = n;
			r.pending = c.c_ops->co_pending(&c);
		} else {
			r.echo = echo_run(&c, 20000, &child_stop, &waitmask);
		}
		tls_conn_info(&c, &v, &ci, r.subject, sizeof(r.subject));
		snprintf(r.version, sizeof(r.version), "%s", v);
		snprintf(r.cipher, sizeof(r.cipher), "%s", ci);
		r.bytes_in = c.c_bytes_in;
		r.bytes_out = c.c_bytes_out;
		tls_conn_free(&c);
	}
	close(fd);
	if (write(wfd, &r, sizeof(r)) != (ssize_t)sizeof(r))
		_exit(2);
	_exit(0);
}

static void
server_start(struct server *s, struct tls_server *ts, enum smode mode,
    int timeout_ms)
{
	int sv[2], pp[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(pipe(pp), 0);
	small_buffers(sv[0]);
	small_buffers(sv[1]);
	s->pid = fork();
	assert_true(s->pid >= 0);
	if (s->pid == 0) {
		close(sv[1]);
		close(pp[0]);
		server_child(ts, sv[0], pp[1], mode, timeout_ms);
	}
	close(sv[0]);
	close(pp[1]);
	s->resfd = pp[0];
	s->fd = sv[1];
}

/* Wait for the child's report and its exit. */
static void
server_result(struct server *s, struct sresult *r)
{
	size_t got = 0;
	ssize_t n;
	int st;

	memset(r, 0, sizeof(*r));
	while (got < sizeof(*r)) {
		n = read(s->resfd, (char *)r + got, sizeof(*r) - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(s->resfd);
	assert_int_equal(waitpid(s->pid, &st, 0), s->pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(got, sizeof(*r));
}

/* ---- the client ---- */

static SSL_CTX *
client_ctx(int minv, int maxv, const char *cert, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	assert_non_null(ctx);
	assert_int_equal(SSL_CTX_load_verify_locations(ctx, cpath("ca.pem"),
	    NULL), 1);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	if (minv)
		SSL_CTX_set_min_proto_version(ctx, minv);
	if (maxv)
		SSL_CTX_set_max_proto_version(ctx, maxv);
	if (maxv && maxv < TLS1_2_VERSION) {
		/* Or this client refuses by itself and proves nothing. */
		SSL_CTX_set_security_level(ctx, 0);
		SSL_CTX_set_cipher_list(ctx, "DEFAULT:@SECLEVEL=0");
	}
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE);
	/*
	 * No client cache: OpenSSL would mark a TLS 1.3 session it took
	 * out of its cache as used, and the rotation test offers one
	 * ticket more than once on purpose.
	 */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	if (cert) {
		assert_int_equal(SSL_CTX_use_certificate_chain_file(ctx, cert),
		    1);
		assert_int_equal(SSL_CTX_use_PrivateKey_file(ctx, key,
		    SSL_FILETYPE_PEM), 1);
	}
	return ctx;
}

static int
wait_io(int fd, SSL *ssl, int r, long long deadline)
{
	struct pollfd pfd;
	int e = SSL_get_error(ssl, r);
	long long left = deadline - now_ms();

	if (e == SSL_ERROR_WANT_READ)
		pfd.events = POLLIN;
	else if (e == SSL_ERROR_WANT_WRITE)
		pfd.events = POLLOUT;
	else
		return -1;
	if (left <= 0)
		return -1;
	pfd.fd = fd;
	return poll(&pfd, 1, (int)left) == 1 ? 0 : -1;
}

/* Non-blocking handshake; 1 done, 0 failed. */
static int
client_connect(SSL *ssl, int fd)
{
	long long deadline = now_ms() + IO_TIMEOUT_MS;
	int r;

	nonblock(fd);
	SSL_set_fd(ssl, fd);
	SSL_set_tlsext_host_name(ssl, "localhost");
	SSL_set1_host(ssl, "localhost");
	for (;;) {
		if ((r = SSL_connect(ssl)) == 1)
			return 1;
		if (wait_io(fd, ssl, r, deadline) == -1) {
			ERR_clear_error();
			return 0;
		}
	}
}

/*
 * Send data while reading the echo (the client never blocks on one
 * direction, so the server's buffer limits are exercised, not ours).
 * Returns the number of echoed bytes that matched (len when all did).
 */
static size_t
client_echo(SSL *ssl, int fd, const unsigned char *data, size_t len)
{
	unsigned char *got = malloc(len ? len : 1);
	long long deadline = now_ms() + IO_TIMEOUT_MS;
	size_t sent = 0, recvd = 0, n;
	struct pollfd pfd;
	int progress, e;

	assert_non_null(got);
	while (recvd < len && now_ms() < deadline) {
		progress = 0;
		pfd.events = 0;
		if (sent < len) {
			if (SSL_write_ex(ssl, data + sent, len - sent, &n)) {
				sent += n;
				progress = 1;
			} else {
				e = SSL_get_error(ssl, 0);
				if (e == SSL_ERROR_WANT_WRITE)
					pfd.events |= POLLOUT;
				else if (e == SSL_ERROR_WANT_READ)
					pfd.events |= POLLIN;
				else
					break;
			}
		}
		if (SSL_read_ex(ssl, got + recvd, len - recvd, &n)) {
			recvd += n;
			progress = 1;
		} else {
			e = SSL_get_error(ssl, 0);
			if (e == SSL_ERROR_WANT_READ)
				pfd.events |= POLLIN;
			else if (e == SSL_ERROR_WANT_WRITE)
				pfd.events |= POLLOUT;
			else
				break;
		}
		if (!progress) {
			pfd.fd = fd;
			(void)poll(&pfd, 1, 1000);
		}
	}
	ERR_clear_error();
	n = recvd == len && memcmp(got, data, len) == 0 ? len : 0;
	free(got);
	return n;
}

/* Our close_notify; 1 when the server's close_notify came back. */
static int
client_close(SSL *ssl, int fd)
{
	long long deadline = now_ms() + IO_TIMEOUT_MS;
	unsigned char buf[256];
	size_t n;
	int r;

	while ((r = SSL_shutdown(ssl)) < 0)
		if (wait_io(fd, ssl, r, deadline) == -1) {
			ERR_clear_error();
			return 0;
		}
	for (;;) {
		if (SSL_read_ex(ssl, buf, sizeof(buf), &n))
			continue;	/* late echo: not expected here */
		if (SSL_get_error(ssl, 0) == SSL_ERROR_ZERO_RETURN)
			break;
		if (wait_io(fd, ssl, 0, deadline) == -1)
			break;
	}
	ERR_clear_error();
	return (SSL_get_shutdown(ssl) & SSL_RECEIVED_SHUTDOWN) != 0;
}

/*
 * One full connection: handshake, echo of len bytes, close_notify both
 * ways.  sess_in: a session to resume (may be NULL); *sess_out gets the
 * session afterwards (may be NULL).  Returns the server's report.
 */
struct conn_result {
	int		 connected;
	int		 echoed;
	int		 close_answered;
	int		 reused;
	char		 version[32];
	struct sresult	 s;
};

static void
run_conn(struct tls_server *ts, SSL_CTX *cctx, size_t len,
    SSL_SESSION *sess_in, SSL_SESSION **sess_out, struct conn_result *cr)
{
	struct server srv;
	unsigned char *data;
	size_t i;
	SSL *ssl;

	memset(cr, 0, sizeof(*cr));
	data = malloc(len ? len : 1);
	assert_non_null(data);
	for (i = 0; i < len; i++)
		data[i] = (unsigned char)((i * 7919u) ^ (i >> 11));
	server_start(&srv, ts, S_ECHO, 10000);
	assert_non_null(ssl = SSL_new(cctx));
	if (sess_in)
		SSL_set_session(ssl, sess_in);
	if ((cr->connected = client_connect(ssl, srv.fd))) {
		cr->reused = SSL_session_reused(ssl);
		snprintf(cr->version, sizeof(cr->version), "%s",
		    SSL_get_version(ssl));
		cr->echoed = client_echo(ssl, srv.fd, data, len) == len;
		if (cr->echoed)
			cr->close_answered = client_close(ssl, srv.fd);
		if (sess_out)
			*sess_out = SSL_get1_session(ssl);
	}
	SSL_free(ssl);
	close(srv.fd);
	server_result(&srv, &cr->s);
	free(data);
	ERR_clear_error();
}

/* Handshake only, for refusals: returns the server's report. */
static void
run_refused(struct tls_server *ts, SSL_CTX *cctx, struct conn_result *cr)
{
	struct server srv;
	SSL *ssl;

	memset(cr, 0, sizeof(*cr));
	server_start(&srv, ts, S_ECHO, 10000);
	assert_non_null(ssl = SSL_new(cctx));
	if ((cr->connected = client_connect(ssl, srv.fd)))
		/* TLS 1.3: a rejected client certificate shows up here. */
		cr->echoed = client_echo(ssl, srv.fd,
		    (const unsigned char *)"hello", 5) == 5;
	SSL_free(ssl);
	close(srv.fd);
	server_result(&srv, &cr->s);
	ERR_clear_error();
}

/* ---- tls_server_new ---- */

static void
test_defaults_load(void **state)
{
	struct tcfg t;
	struct tls_server *ts;
	char warn[256] = "x";

	(void)state;
	tcfg_init(&t);
	ts = server_ok(&t);
	tls_server_warnings(ts, warn, sizeof(warn));
	assert_string_equal(warn, "");
	tls_server_free(ts);

	tcfg_client_ca(&t, SECHO_VERIFY_REQUIRE);
	t.tc.tc_min_protocol = TLS1_3_VERSION;
	t.tc.tc_session_tickets = 0;
	tls_server_free(server_ok(&t));
	tls_server_free(NULL);
}

static void
test_missing_files(void **state)
{
	struct tcfg t;

	(void)state;
	tcfg_init(&t);
	snprintf(t.cert, sizeof(t.cert), "%s", tpath("nope.pem"));
	server_fails(&t, "test.cfg:11: ", tpath("nope.pem"),
	    "No such file or directory", NULL);

	tcfg_init(&t);
	snprintf(t.key, sizeof(t.key), "%s", tpath("nope.key"));
	server_fails(&t, "test.cfg:12: ", tpath("nope.key"),
	    "No such file or directory", NULL);

	tcfg_init(&t);
	tcfg_client_ca(&t, SECHO_VERIFY_OPTIONAL);
	snprintf(t.ca, sizeof(t.ca), "%s", tpath("nope-ca.pem"));
	server_fails(&t, "test.cfg:13: ", tpath("nope-ca.pem"),
	    "No such file or directory", NULL);

	/* No line known: the file name alone. */
	tcfg_init(&t);
	t.tc.tc_certificate.tf_line = t.certl[0] = t.tc.tc_line = 0;
	snprintf(t.cert, sizeof(t.cert), "%s", tpath("nope.pem"));
	server_fails(&t, "test.cfg: ", tpath("nope.pem"), NULL);
}

static void
test_unreadable_file(void **state)
{
	struct tcfg t;
	EVP_PKEY *k;
	pid_t pid;
	int st;

	(void)state;
	k = gen_key();
	write_key(tpath("locked.key"), k, NULL);
	write_selfsigned(tpath("mine.pem"), k, "localhost", -60, 86400);
	EVP_PKEY_free(k);
	chmod(tmpdir, 0755);
	chmod(tpath("mine.pem"), 0644);
	chmod(tpath("locked.key"), 0);
	tcfg_init(&t);
	snprintf(t.cert, sizeof(t.cert), "%s", tpath("mine.pem"));
	snprintf(t.key, sizeof(t.key), "%s", tpath("locked.key"));
	if (geteuid() != 0) {
		server_fails(&t, "test.cfg:12: ", tpath("locked.key"),
		    "Permission denied", NULL);
		return;
	}
	/* root reads anything: try it as nobody, in a child. */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char err[1024] = "";
		struct tls_server *ts;

		if (setresgid(65534, 65534, 65534) == -1 ||
		    setresuid(65534, 65534, 65534) == -1)
			_exit(3);
		ts = tls_server_new(&t.tc, "test.cfg", err, sizeof(err));
		if (ts != NULL)
			_exit(1);
		if (strstr(err, tpath("locked.key")) == NULL ||
		    strstr(err, "Permission denied") == NULL) {
			fprintf(stderr, "unexpected error: %s\n", err);
			_exit(2);
		}
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	if (WEXITSTATUS(st) == 3)
		skip();		/* cannot become nobody here */
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void
test_not_pem(void **state)
{
	struct tcfg t;

	(void)state;
	write_text(tpath("garbage.pem"), "this is not a certificate\n");
	tcfg_init(&t);
	snprintf(t.cert, sizeof(t.cert), "%s", tpath("garbage.pem"));
	server_fails(&t, "test.cfg:11: ", tpath("garbage.pem"),
	    "no start line", NULL);

	tcfg_init(&t);
	snprintf(t.key, sizeof(t.key), "%s", tpath("garbage.pem"));
	server_fails(&t, "test.cfg:12: ", tpath("garbage.pem"),
	    "no private key", NULL);

	/* A key file where the certificate belongs. */
	tcfg_init(&t);
	snprintf(t.cert, sizeof(t.cert), "%s", cpath("server.key"));
	server_fails(&t, cpath("server.key"), "certificate", NULL);
}

static void
test_key_mismatch(void **state)
{
	struct tcfg t;
	EVP_PKEY *k;

	(void)state;
	k = gen_key();
	write_key(tpath("other.key"), k, NULL);
	EVP_PKEY_free(k);
	tcfg_init(&t);
	snprintf(t.key, sizeof(t.key), "%s", tpath("other.key"));
	server_fails(&t, "test.cfg:12: ", tpath("other.key"),
	    "does not match", cpath("server.pem"), NULL);

	/* The client's key with the server's certificate. */
	tcfg_init(&t);
	snprintf(t.key, sizeof(t.key), "%s", cpath("client.key"));
	server_fails(&t, cpath("client.key"), "does not match", NULL);

	/* An RSA key with an EC certificate. */
	k = EVP_RSA_gen(2048);
	assert_non_null(k);
	write_key(tpath("rsa.key"), k, NULL);
	EVP_PKEY_free(k);
	tcfg_init(&t);
	snprintf(t.key, sizeof(t.key), "%s", tpath("rsa.key"));
	server_fails(&t, tpath("rsa.key"), "does not match", NULL);
}

static void
test_encrypted_key(void **state)
{
	struct tcfg t;
	EVP_PKEY *k;

	(void)state;
	/* Must fail at once, never prompt for a passphrase. */
	k = gen_key();
	write_key(tpath("enc.key"), k, "secret");
	EVP_PKEY_free(k);
	tcfg_init(&t);
	snprintf(t.key, sizeof(t.key), "%s", tpath("enc.key"));
	server_fails(&t, tpath("enc.key"), "encrypted", NULL);
}

static void
test_bad_lists(void **state)
{
	struct tcfg t;

	(void)state;
	tcfg_init(&t);
	snprintf(t.ciphers, sizeof(t.ciphers), "NOT-A-CIPHER:ALSO-NOT");
	server_fails(&t, "test.cfg:10: ", "tls.ciphers", "NOT-A-CIPHER",
	    "no cipher match", NULL);

	tcfg_init(&t);
	snprintf(t.suites, sizeof(t.suites), "TLS_NOT_A_SUITE");
	server_fails(&t, "test.cfg:10: ", "tls.ciphersuites",
	    "TLS_NOT_A_SUITE", NULL);

	tcfg_init(&t);
	snprintf(t.groups, sizeof(t.groups), "X25519:P-999");
	server_fails(&t, "test.cfg:10: ", "tls.groups", "P-999", NULL);
}

static void
test_bad_client_ca(void **state)
{
	struct tcfg t;

	(void)state;
	write_text(tpath("garbage-ca.pem"), "nothing here\n");
	tcfg_init(&t);
	tcfg_client_ca(&t, SECHO_VERIFY_REQUIRE);
	snprintf(t.ca, sizeof(t.ca), "%s", tpath("garbage-ca.pem"));
	server_fails(&t, "test.cfg:13: ", tpath("garbage-ca.pem"), NULL);
}

static void
test_validity_warnings(void **state)
{
	struct tcfg t;
	struct tls_server *ts;
	char warn[512];
	EVP_PKEY *k;

	(void)state;
	k = gen_key();
	write_key(tpath("w.key"), k, NULL);
	write_selfsigned(tpath("expired.pem"), k, "localhost", -86400 * 10,
	    -86400);
	write_selfsigned(tpath("future.pem"), k, "localhost", 86400,
	    86400 * 10);
	EVP_PKEY_free(k);

	tcfg_init(&t);
	snprintf(t.key, sizeof(t.key), "%s", tpath("w.key"));
	snprintf(t.cert, sizeof(t.cert), "%s", tpath("expired.pem"));
	ts = server_ok(&t);		/* a warning, not an error */
	tls_server_warnings(ts, warn, sizeof(warn));
	assert_non_null(strstr(warn, "expired"));
	assert_non_null(strstr(warn, tpath("expired.pem")));
	assert_non_null(strstr(warn, "test.cfg:11: "));
	tls_server_free(ts);

	snprintf(t.cert, sizeof(t.cert), "%s", tpath("future.pem"));
	ts = server_ok(&t);
	tls_server_warnings(ts, warn, sizeof(warn));
	assert_non_null(strstr(warn, "not yet valid"));
	assert_non_null(strstr(warn, tpath("future.pem")));
	tls_server_free(ts);
}

/* ---- handshake and echo ---- */

static void
echo_version(int version, const char *name)
{
	struct tcfg t;
	struct tls_server *ts;
	struct conn_result cr;
	SSL_CTX *cctx;
	size_t len = 1 << 20;

	tcfg_init(&t);
	ts = server_ok(&t);
	cctx = client_ctx(version, version, NULL, NULL);
	run_conn(ts, cctx, len, NULL, NULL, &cr);
	assert_true(cr.connected);
	assert_string_equal(cr.version, name);
	assert_true(cr.echoed);
	assert_true(cr.close_answered);	/* our close_notify was answered */
	assert_int_equal(cr.s.accept, TLS_ACCEPT_OK);
	assert_int_equal(cr.s.echo, ECHO_EOF);
	assert_int_equal(cr.s.bytes_in, len);
	assert_int_equal(cr.s.bytes_out, len);
	assert_string_equal(cr.s.version, name);
	assert_true(strlen(cr.s.cipher) > 3);
	assert_string_equal(cr.s.subject, "");	/* no client certificate */
	SSL_CTX_free(cctx);
	tls_server_free(ts);
}

static void
test_echo_tls12(void **state)
{
	(void)state;
	echo_version(TLS1_2_VERSION, "TLSv1.2");
}

static void
test_echo_tls13(void **state)
{
	(void)state;
	echo_version(TLS1_3_VERSION, "TLSv1.3");
}

static void
test_echo_small_and_empty(void **state)
{
	struct tcfg t;
	struct tls_server *ts;
	struct conn_result cr;
	SSL_CTX *cctx;

	(void)state;
	tcfg_init(&t);
	ts = server_ok(&t);
	cctx = client_ctx(0, 0, NULL, NULL);
	run_conn(ts, cctx, 1, NULL, NULL, &cr);
	assert_true(cr.echoed && cr.close_answered);
	assert_int_equal(cr.s.echo, ECHO_EOF);
	assert_string_equal(cr.s.version, "TLSv1.3");	/* the best one */
	/* No data at all: close_notify at once, answered. */
	run_conn(ts, cctx, 0, NULL, NULL, &cr);
	assert_true(cr.connected && cr.close_answered);
	assert_int_equal(cr.s.echo, ECHO_EOF);
	assert_int_equal(cr.s.bytes_in, 0);
	SSL_CTX_free(cctx);
	tls_server_free(ts);
}

static void
test_pending(void **state)
{
	struct tcfg t;
	struct tls_server *ts;
	struct server srv;
	struct sresult r;
	SSL_CTX *cctx;
	SSL *ssl;
	char msg[100];

	(void)state;
	tcfg_init(&t);
	ts = server_ok(&t);
	cctx = client_ctx(0, 0, NULL, NULL);
	server_start(&srv, ts, S_PENDING, 10000);
	ssl = SSL_new(cctx);
	assert_true(client_connect(ssl, srv.fd));
	memset(msg, 'p', sizeof(msg));
	/* One record of 100 bytes; the server reads 5 of it. */
	{
		size_t n;
		long long deadline = now_ms() + IO_TIMEOUT_MS;
		int rc;

		while ((rc = SSL_write_ex(ssl, msg, sizeof(msg), &n)) != 1)
			assert_int_equal(wait_io(srv.fd, ssl, rc, deadline), 0);
	}
	server_result(&srv, &r);
	assert_int_equal(r.accept, TLS_ACCEPT_OK);
	assert_int_equal(r.first_read, 5);
	assert_int_equal(r.pending, 95);
	SSL_free(ssl);
	close(srv.fd);
	SSL_CTX_free(cctx);
	tls_server_free(ts);
}

static void
test_vanished_mid_record(void **state)
{
	struct tcfg t;
	struct tls_server *ts;
	struct server srv;
	struct sresult r;
	SSL_CTX *cctx;
	SSL *ssl;
	/* An application data record header promising 64 bytes, and 3. */
	static const unsigned char partial[] = {
		0x17, 0x03, 0x03, 0x00, 0x40, 'a', 'b', 'c'
	};

	(void)state;
	tcfg_init(&t);
	ts = server_ok(&t);
	cctx = client_ctx(0, 0, NULL, NULL);
	server_start(&srv, ts, S_ECHO, 10000);
	ssl = SSL_new(cctx);
	assert_true(client_connect(ssl, srv.fd));
	assert_int_equal(client_echo(ssl, srv.fd, (unsigned char *)"abc", 3),
	    3);
	assert_int_equal(write(srv.fd, partial, sizeof(partial)),
	    sizeof(partial));
	SSL_free(ssl);
	close(srv.fd);		/* gone, without close_notify */
	server_result(&srv, &r);
	assert_int_equal(r.accept, TLS_ACCEPT_OK);
	assert_int_equal(r.echo, ECHO_ERROR);
	assert_int_equal(r.bytes_in, 3);
	SSL_CTX_free(cctx);
	tls_server_free(ts);
}

static void
test_handshake_timeout(void **state)
{
	struct tcfg t;
	struct tls_server *ts;
	struct server srv;
	struct sresult r;

	(void)state;
	tcfg_init(&t);
	ts = server_ok(&t);
	server_start(&srv, ts, S_ECHO, 300);
	/* A silent client: connected, never says a word. */
	server_result(&srv, &r);
	close(srv.fd);
	assert_int_equal(r.accept, TLS_ACCEPT_TIMEOUT);
	assert_true(r.accept_ms >= 290);
	assert_true(r.accept_ms < 5000);

	/* Half a ClientHello does not reset the clock either. */
	server_start(&srv, ts, S_ECHO, 300);
	assert_int_equal(write(srv.fd, "\x16\x03\x01\x02\x00\x01", 6), 6);
	server_result(&srv, &r);
	close(srv.fd);
	assert_int_equal(r.accept, TLS_ACCEPT_TIMEOUT);
	tls_server_free(ts);
}

static void
test_handshake_stop(void **state)
{
	struct tcfg t;
	struct tls_server *ts;
	struct server srv;
	struct sresult r;
	sigset_t block, old;

	(void)state;
	tcfg_init(&t);
	ts = server_ok(&t);
	/* Blocked across fork: the child unblocks it only in ppoll. */
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, &old);
	server_start(&srv, ts, S_STOP, 10000);
	sigprocmask(SIG_SETMASK, &old, NULL);
	usleep(200000);
	kill(srv.pid, SIGUSR1);
	server_result(&srv, &r);
	close(srv.fd);
	assert_int_equal(r.accept, TLS_ACCEPT_STOPPED);
	assert_true(r.accept_ms < 5000);
	tls_server_free(ts);
}

static void
test_plaintext_refused(void **state)
{
	struct tcfg t;
	struct tls_server *ts;
	struct server srv;
	struct sresult r;
	static const char *probes[] = {
		"hello, plain text\r\n",
		"GET / HTTP/1.0\r\n\r\n",
	};
	size_t i;

	(void)state;
	tcfg_init(&t);
	ts = server_ok(&t);
	for (i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
		server_start(&srv, ts, S_ECHO, 10000);
		assert_int_equal(write(srv.fd, probes[i], strlen(probes[i])),
		    (ssize_t)strlen(probes[i]));
		server_result(&srv, &r);
		close(srv.fd);
		assert_int_equal(r.accept, TLS_ACCEPT_FAILED);
		/* OpenSSL's reason in words, not a code. */
		assert_true(strstr(r.err, "wrong version number") != NULL ||
		    strstr(r.err, "http request") != NULL ||
		    strstr(r.err, "packet length too long") != NULL);
	}
	tls_server_free(ts);
}

static void
test_old_protocols_refused(void **state)
{
	struct tcfg t;
	struct tls_server *ts;
	struct conn_result cr;
	SSL_CTX *cctx;

	(void)state;
	tcfg_init(&t);
	ts = server_ok(&t);
	cctx = client_ctx(TLS1_VERSION, TLS1_1_VERSION, NULL, NULL);
	run_refused(ts, cctx, &cr);
	assert_false(cr.connected);
	assert_int_equal(cr.s.accept, TLS_ACCEPT_FAILED);
	assert_non_null(strstr(cr.s.err, "unsupported protocol"));
	SSL_CTX_free(cctx);
	tls_server_free(ts);

	/* min_protocol TLSv1.3 refuses a TLS 1.2 client ... */
	t.tc.tc_min_protocol = TLS1_3_VERSION;
	ts = server_ok(&t);
	cctx = client_ctx(TLS1_2_VERSION, TLS1_2_VERSION, NULL, NULL);
	run_refused(ts, cctx, &cr);
	assert_false(cr.connected);
	assert_int_equal(cr.s.accept, TLS_ACCEPT_FAILED);
	assert_non_null(strstr(cr.s.err, "unsupported protocol"));
	SSL_CTX_free(cctx);
	/* ... and serves a TLS 1.3 one. */
	cctx = client_ctx(0, 0, NULL, NULL);
	run_conn(ts, cctx, 100, NULL, NULL, &cr);
	assert_true(cr.echoed);
	assert_string_equal(cr.s.version, "TLSv1.3");
	SSL_CTX_free(cctx);
	tls_server_free(ts);
}

static void
test_cipher_policy(void **state)
{
	struct tcfg t;
	struct tls_server *ts;
	struct conn_result cr;
	SSL_CTX *cctx;

	(void)state;
	tcfg_init(&t);
	ts = server_ok(&t);
	/* A TLS 1.2 client offering only CBC suites finds nothing. */
	cctx = client_ctx(TLS1_2_VERSION, TLS1_2_VERSION, NULL, NULL);
	assert_int_equal(SSL_CTX_set_cipher_list(cctx,
	    "ECDHE-ECDSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384"), 1);
	run_refused(ts, cctx, &cr);
	assert_false(cr.connected);
	assert_non_null(strstr(cr.s.err, "no shared cipher"));
	SSL_CTX_free(cctx);

	/* Server preference: our first AEAD suite, not the client's. */
	cctx = client_ctx(TLS1_2_VERSION, TLS1_2_VERSION, NULL, NULL);
	assert_int_equal(SSL_CTX_set_cipher_list(cctx,
	    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256"), 1);
	run_conn(ts, cctx, 10, NULL, NULL, &cr);
	assert_true(cr.echoed);
	assert_string_equal(cr.s.cipher, "ECDHE-ECDSA-AES128-GCM-SHA256");
	SSL_CTX_free(cctx);
	tls_server_free(ts);
}

/* ---- client certificates ---- */

static void
client_certs(int version)
{
	struct tcfg t;
	struct tls_server *ts;
	struct conn_result cr;
	SSL_CTX *cctx;
	EVP_PKEY *k;

	k = gen_key();
	write_key(tpath("self.key"), k, NULL);
	write_selfsigned(tpath("self.pem"), k, "client-one", -60, 86400);
	EVP_PKEY_free(k);

	tcfg_init(&t);
	tcfg_client_ca(&t, SECHO_VERIFY_REQUIRE);
	ts = server_ok(&t);

	/* CA-signed: served, subject in RFC 2253 form. */
	cctx = client_ctx(version, version, cpath("client.pem"),
	    cpath("client.key"));
	run_conn(ts, cctx, 1000, NULL, NULL, &cr);
	assert_true(cr.echoed && cr.close_answered);
	assert_int_equal(cr.s.accept, TLS_ACCEPT_OK);
	assert_string_equal(cr.s.subject, "CN=client-one,O=secho development");
	SSL_CTX_free(cctx);

	/* None: refused. */
	cctx = client_ctx(version, version, NULL, NULL);
	run_refused(ts, cctx, &cr);
	assert_false(cr.echoed);
	assert_int_equal(cr.s.accept, TLS_ACCEPT_FAILED);
	assert_non_null(strstr(cr.s.err, "certificate"));
	SSL_CTX_free(cctx);

	/* Self-signed: refused, with the verification reason. */
	cctx = client_ctx(version, version, tpath("self.pem"),
	    tpath("self.key"));
	run_refused(ts, cctx, &cr);
	assert_false(cr.echoed);
	assert_int_equal(cr.s.accept, TLS_ACCEPT_FAILED);
	assert_non_null(strstr(cr.s.err, "certificate verify failed"));
	assert_non_null(strstr(cr.s.err, "self-signed"));
	SSL_CTX_free(cctx);
	tls_server_free(ts);

	/* optional: none is fine, a CA-signed one is logged. */
	tcfg_client_ca(&t, SECHO_VERIFY_OPTIONAL);
	ts = server_ok(&t);
	cctx = client_ctx(version, version, NULL, NULL);
	run_conn(ts, cctx, 10, NULL, NULL, &cr);
	assert_true(cr.echoed);
	assert_string_equal(cr.s.subject, "");
	SSL_CTX_free(cctx);
	cctx = client_ctx(version, version, cpath("client.pem"),
	    cpath("client.key"));
	run_conn(ts, cctx, 10, NULL, NULL, &cr);
	assert_true(cr.echoed);
	assert_string_equal(cr.s.subject, "CN=client-one,O=secho development");
	SSL_CTX_free(cctx);
	tls_server_free(ts);
}

static void
test_client_cert_tls12(void **state)
{
	(void)state;
	client_certs(TLS1_2_VERSION);
}

static void
test_client_cert_tls13(void **state)
{
	(void)state;
	client_certs(TLS1_3_VERSION);
}

static void
test_require_reason_no_cert(void **state)
{
	struct tcfg t;
	struct tls_server *ts;
	struct conn_result cr;
	SSL_CTX *cctx;

	(void)state;
	tcfg_init(&t);
	tcfg_client_ca(&t, SECHO_VERIFY_REQUIRE);
	ts = server_ok(&t);
	cctx = client_ctx(TLS1_2_VERSION, TLS1_3_VERSION, NULL, NULL);
	run_refused(ts, cctx, &cr);
	assert_non_null(strstr(cr.s.err, "peer did not return a certificate"));
	SSL_CTX_free(cctx);
	tls_server_free(ts);
}

/* ---- resumption ---- */

/* Two connections, two forked children of one tls_server. */
static void
resume_version(int version, int tickets, int expect_reused)
{
	struct tcfg t;
	struct tls_server *ts;
	struct conn_result cr1, cr2;
	SSL_SESSION *sess = NULL, *sess2 = NULL;
	SSL_CTX *cctx;

	tcfg_init(&t);
	t.tc.tc_session_tickets = tickets;
	ts = server_ok(&t);
	cctx = client_ctx(version, version, NULL, NULL);
	run_conn(ts, cctx, 1000, NULL, &sess, &cr1);
	assert_true(cr1.echoed);
	assert_false(cr1.reused);
	assert_non_null(sess);
	if (!tickets)	/* no ticket at all, not even a useless one */
		assert_int_equal(SSL_SESSION_has_ticket(sess), 0);
	run_conn(ts, cctx, 1000, sess, &sess2, &cr2);
	assert_true(cr2.echoed && cr2.close_answered);
	assert_int_equal(cr2.reused, expect_reused);
	if (expect_reused) {
		/* A resumed handshake brings a fresh ticket (issue 13). */
		const unsigned char *tk1, *tk2;
		size_t tl1, tl2;

		SSL_SESSION_get0_ticket(sess, &tk1, &tl1);
		SSL_SESSION_get0_ticket(sess2, &tk2, &tl2);
		assert_true(tl1 > 0 && tl2 > 0);
		assert_false(tl1 == tl2 && memcmp(tk1, tk2, tl1) == 0);
	}
	SSL_SESSION_free(sess);
	SSL_SESSION_free(sess2);
	SSL_CTX_free(cctx);
	tls_server_free(ts);
}

static void
test_resume_tls12(void **state)
{
	(void)state;
	resume_version(TLS1_2_VERSION, 1, 1);
}

static void
test_resume_tls13(void **state)
{
	(void)state;
	resume_version(TLS1_3_VERSION, 1, 1);
}

static void
test_no_tickets_no_resume(void **state)
{
	(void)state;
	resume_version(TLS1_2_VERSION, 0, 0);
	resume_version(TLS1_3_VERSION, 0, 0);
}

/* A ticket survives one rotation (and is renewed), not two. */
static void
rotation_version(int version)
{
	struct tcfg t;
	struct tls_server *ts;
	struct conn_result cr;
	SSL_SESSION *sess = NULL, *renewed = NULL, *tmp = NULL;
	const unsigned char *tk1, *tk2;
	size_t tl1, tl2;
	SSL_CTX *cctx;

	tcfg_init(&t);
	ts = server_ok(&t);
	cctx = client_ctx(version, version, NULL, NULL);
	run_conn(ts, cctx, 100, NULL, &sess, &cr);
	assert_true(cr.echoed);

	/* Not due yet: nothing changes. */
	tls_tick(now_ms());
	run_conn(ts, cctx, 100, sess, &tmp, &cr);
	assert_true(cr.reused);
	SSL_SESSION_free(tmp);

	/* Due (12 h later): the old key still opens the ticket ... */
	tls_tick(now_ms() + 13LL * 3600 * 1000);
	run_conn(ts, cctx, 100, sess, &renewed, &cr);
	assert_true(cr.reused);
	/* ... and a new ticket, under the new key, came with it. */
	SSL_SESSION_get0_ticket(sess, &tk1, &tl1);
	SSL_SESSION_get0_ticket(renewed, &tk2, &tl2);
	assert_true(tl1 >= 16 && tl2 >= 16);
	assert_memory_not_equal(tk1, tk2, 16);	/* key name differs */

	/* A second rotation (a reload): the first ticket is dead ... */
	tls_rotate_keys();
	run_conn(ts, cctx, 100, sess, &tmp, &cr);
	assert_true(cr.echoed);
	assert_false(cr.reused);
	SSL_SESSION_free(tmp);
	/* ... the renewed one lives. */
	run_conn(ts, cctx, 100, renewed, &tmp, &cr);
	assert_true(cr.reused);
	SSL_SESSION_free(tmp);

	SSL_SESSION_free(sess);
	SSL_SESSION_free(renewed);
	SSL_CTX_free(cctx);
	tls_server_free(ts);
}

static void
test_rotation_tls12(void **state)
{
	(void)state;
	rotation_version(TLS1_2_VERSION);
}

static void
test_rotation_tls13(void **state)
{
	(void)state;
	rotation_version(TLS1_3_VERSION);
}

/* Keys are shared by all listeners; a session must not cross rules. */
static void
test_no_resume_across_verify_rules(void **state)
{
	struct tcfg t;
	struct tls_server *open_ts, *mtls_ts;
	struct conn_result cr;
	SSL_SESSION *sess = NULL, *tmp = NULL;
	SSL_CTX *cctx;

	(void)state;
	tcfg_init(&t);
	open_ts = server_ok(&t);
	tcfg_client_ca(&t, SECHO_VERIFY_REQUIRE);
	mtls_ts = server_ok(&t);
	cctx = client_ctx(TLS1_2_VERSION, TLS1_2_VERSION,
	    cpath("client.pem"), cpath("client.key"));
	run_conn(open_ts, cctx, 10, NULL, &sess, &cr);
	assert_true(cr.echoed);
	run_conn(mtls_ts, cctx, 10, sess, &tmp, &cr);
	assert_true(cr.echoed);
	assert_false(cr.reused);	/* full handshake, certificate checked */
	assert_string_equal(cr.s.subject, "CN=client-one,O=secho development");
	SSL_SESSION_free(sess);
	SSL_SESSION_free(tmp);
	SSL_CTX_free(cctx);
	tls_server_free(open_ts);
	tls_server_free(mtls_ts);
}

/* ---- set-up ---- */

static int
group_setup(void **state)
{
	const char *d = getenv("SECHO_CERTS");
	struct stat st;

	(void)state;
	snprintf(certdir, sizeof(certdir), "%s", d && *d ? d : "certs");
	if (stat(cpath("server.pem"), &st) == -1 ||
	    stat(cpath("client.pem"), &st) == -1) {
		fprintf(stderr, "test_tls: no certificates in %s/ "
		    "(run: sh certs/gen.sh %s)\n", certdir, certdir);
		return -1;
	}
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	tls_global_init();
	return 0;
}

static int
group_teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		return -1;
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_load),
		cmocka_unit_test(test_missing_files),
		cmocka_unit_test(test_unreadable_file),
		cmocka_unit_test(test_not_pem),
		cmocka_unit_test(test_key_mismatch),
		cmocka_unit_test(test_encrypted_key),
		cmocka_unit_test(test_bad_lists),
		cmocka_unit_test(test_bad_client_ca),
		cmocka_unit_test(test_validity_warnings),
		cmocka_unit_test(test_echo_tls12),
		cmocka_unit_test(test_echo_tls13),
		cmocka_unit_test(test_echo_small_and_empty),
		cmocka_unit_test(test_pending),
		cmocka_unit_test(test_vanished_mid_record),
		cmocka_unit_test(test_handshake_timeout),
		cmocka_unit_test(test_handshake_stop),
		cmocka_unit_test(test_plaintext_refused),
		cmocka_unit_test(test_old_protocols_refused),
		cmocka_unit_test(test_cipher_policy),
		cmocka_unit_test(test_client_cert_tls12),
		cmocka_unit_test(test_client_cert_tls13),
		cmocka_unit_test(test_require_reason_no_cert),
		cmocka_unit_test(test_resume_tls12),
		cmocka_unit_test(test_resume_tls13),
		cmocka_unit_test(test_no_tickets_no_resume),
		cmocka_unit_test(test_rotation_tls12),
		cmocka_unit_test(test_rotation_tls13),
		cmocka_unit_test(test_no_resume_across_verify_rules),
	};

	signal(SIGPIPE, SIG_IGN);
	alarm(600);	/* a hang fails the run instead of stalling it */
	return cmocka_run_group_tests_name("tls", tests, group_setup,
	    group_teardown);
}

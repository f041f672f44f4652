/*
 * test_tls_more.c - the parts of issue 13 that need no client: SNI name
 * matching (exact, "*." wildcards of one label, case, too many labels,
 * IDNA A-labels passed through, a trailing dot), OCSP validity
 * decisions, certificate sets (two of one key type, lists whose members
 * fail name the index, every pair checked).  Certificates from
 * sh certs/gen.sh (SECHO_CERTS, default "certs").
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "secho/config.h"
#include "secho/tls.h"

static char certdir[512];

static char *
cpath(const char *name)
{
	static char buf[8][1024];
	static int i;

	i = (i + 1) % 8;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", certdir, name);
	return buf[i];
}

static int
m(const char *pattern, const char *name)
{
	return tls_sni_match(pattern, name, strlen(name));
}

static void
test_sni_match(void **state)
{
	(void)state;
	/* exact, without case, a trailing dot is the same name */
	assert_true(m("echo.example.org", "echo.example.org"));
	assert_true(m("echo.example.org", "ECHO.Example.ORG"));
	assert_true(m("echo.example.org", "echo.example.org."));
	assert_false(m("echo.example.org", "echo.example.org.evil"));
	assert_false(m("echo.example.org", "xecho.example.org"));
	assert_false(m("echo.example.org", "cho.example.org"));
	assert_false(m("echo.example.org", ""));
	/* "*." is exactly one leftmost label */
	assert_true(m("*.example.net", "a.example.net"));
	assert_true(m("*.example.net", "WWW.EXAMPLE.NET"));
	assert_false(m("*.example.net", "example.net"));
	assert_false(m("*.example.net", ".example.net"));
	assert_false(m("*.example.net", "a.b.example.net"));	/* too many */
	assert_false(m("*.example.net", "a.example.neta"));
	assert_false(m("*.example.net", "aexample.net"));
	/* IDNA A-labels: compared as the ASCII they are */
	assert_true(m("xn--bcher-kva.example", "XN--BCHER-KVA.example"));
	assert_true(m("*.xn--bcher-kva.example", "echo.xn--bcher-kva.example"));
	assert_false(m("xn--bcher-kva.example", "b\xc3\xbc" "cher.example"));
}

static void
test_ocsp_state(void **state)
{
	long long now = 1800000000LL, day = 86400;

	(void)state;
	assert_int_equal(tls_ocsp_state(now - day, now + day, now),
	    TLS_OCSP_VALID);
	/* no nextUpdate: valid from thisUpdate on */
	assert_int_equal(tls_ocsp_state(now - day, 0, now), TLS_OCSP_VALID);
	/* a little ahead is clock skew; more is not yet valid */
	assert_int_equal(tls_ocsp_state(now + 60, now + day, now),
	    TLS_OCSP_VALID);
	assert_int_equal(tls_ocsp_state(now + 3600, now + day, now),
	    TLS_OCSP_NOT_YET);
	/* nextUpdate passed, or this very second */
	assert_int_equal(tls_ocsp_state(now - 2 * day, now - 1, now),
	    TLS_OCSP_EXPIRED);
	assert_int_equal(tls_ocsp_state(now - 2 * day, now, now),
	    TLS_OCSP_EXPIRED);
	assert_int_equal(tls_ocsp_state(0, now + day, now), TLS_OCSP_INVALID);
}

/* A tls_config over n certificate/key pairs, with lines 20+i, 30+i. */
struct set {
	struct tls_config tc;
	char	*cert[4], *key[4];
	int	 cl[4], kl[4];
};

static void
set_init(struct set *s, size_t n, ...)
{
	va_list ap;
	size_t i;

	memset(s, 0, sizeof(*s));
	va_start(ap, n);
	for (i = 0; i < n; i++) {
		s->cert[i] = va_arg(ap, char *);
		s->key[i] = va_arg(ap, char *);
		s->cl[i] = 20 + (int)i;
		s->kl[i] = 30 + (int)i;
	}
	va_end(ap);
	s->tc.tc_certificate.tf_path = s->cert;
	s->tc.tc_certificate.tf_lines = s->cl;
	s->tc.tc_certificate.tf_count = n;
	s->tc.tc_certificate.tf_list = n > 1;
	s->tc.tc_certificate.tf_line = 20;
	s->tc.tc_private_key.tf_path = s->key;
	s->tc.tc_private_key.tf_lines = s->kl;
	s->tc.tc_private_key.tf_count = n;
	s->tc.tc_private_key.tf_list = n > 1;
	s->tc.tc_private_key.tf_line = 30;
	s->tc.tc_min_protocol = TLS1_2_VERSION;
	s->tc.tc_session_tickets = 1;
	s->tc.tc_line = 10;
}

static void
fails_with(struct set *s, const char *want)
{
	char err[1024] = "";
	struct tls_server *ts;

	ts = tls_server_new(&s->tc, "t.cfg", err, sizeof(err));
	if (ts != NULL) {
		tls_server_free(ts);
		fail_msg("expected an error with \"%s\"", want);
	}
	if (strstr(err, want) == NULL)
		fail_msg("error \"%s\" lacks \"%s\"", err, want);
	assert_int_equal(ERR_peek_error(), 0);
}

static void
test_certificate_sets(void **state)
{
	char err[1024] = "", msg[1024];
	struct tls_server *ts;
	struct set s;

	(void)state;
	/* RSA and ECDSA together: fine, both ways round. */
	set_init(&s, 2, cpath("server.pem"), cpath("server.key"),
	    cpath("server-rsa.pem"), cpath("server-rsa.key"));
	ts = tls_server_new(&s.tc, "t.cfg", err, sizeof(err));
	if (ts == NULL)
		fail_msg("%s", err);
	tls_server_free(ts);
	set_init(&s, 2, cpath("server-rsa.pem"), cpath("server-rsa.key"),
	    cpath("server.pem"), cpath("server.key"));
	ts = tls_server_new(&s.tc, "t.cfg", err, sizeof(err));
	if (ts == NULL)
		fail_msg("%s", err);
	tls_server_free(ts);

	/* Two ECDSA certificates: one per key type. */
	set_init(&s, 2, cpath("server.pem"), cpath("server.key"),
	    cpath("client.pem"), cpath("client.key"));
	snprintf(msg, sizeof(msg), "t.cfg:21: tls.certificate[1]: %s: a "
	    "second ECDSA certificate (tls.certificate[0] is one): one "
	    "certificate per key type", cpath("client.pem"));
	fails_with(&s, msg);

	/* Every pair is checked; the message names the index and line. */
	set_init(&s, 2, cpath("server.pem"), cpath("server.key"),
	    cpath("server-rsa.pem"), cpath("server.key"));
	snprintf(msg, sizeof(msg), "t.cfg:31: tls.private_key[1]: %s: the "
	    "private key does not match the certificate in %s",
	    cpath("server.key"), cpath("server-rsa.pem"));
	fails_with(&s, msg);
	set_init(&s, 2, cpath("server.pem"), cpath("server.key"),
	    cpath("nope.pem"), cpath("server-rsa.key"));
	snprintf(msg, sizeof(msg), "t.cfg:21: tls.certificate[1]: %s: No "
	    "such file", cpath("nope.pem"));
	fails_with(&s, msg);

	/* A single string: the old message, no index. */
	set_init(&s, 1, cpath("server.pem"), cpath("server-rsa.key"));
	snprintf(msg, sizeof(msg), "t.cfg:30: %s: the private key does not "
	    "match", cpath("server-rsa.key"));
	fails_with(&s, msg);
}

static void
test_key_type_names(void **state)
{
	(void)state;
	assert_string_equal(tls_key_type_name(EVP_PKEY_RSA), "RSA");
	assert_string_equal(tls_key_type_name(EVP_PKEY_EC), "ECDSA");
	assert_string_equal(tls_key_type_name(EVP_PKEY_ED25519), "Ed25519");
}

static int
group_setup(void **state)
{
	const char *d = getenv("SECHO_CERTS");
	struct stat st;

	(void)state;
	snprintf(certdir, sizeof(certdir), "%s", d && *d ? d : "certs");
	if (stat(cpath("server-rsa.pem"), &st) == -1) {
		fprintf(stderr, "test_tls_more: no certificates in %s/ (run: "
		    "sh certs/gen.sh %s)\n", certdir, certdir);
		return -1;
	}
	tls_global_init();
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sni_match),
		cmocka_unit_test(test_ocsp_state),
		cmocka_unit_test(test_certificate_sets),
		cmocka_unit_test(test_key_type_names),
	};

	return cmocka_run_group_tests_name("tls_more", tests, group_setup,
	    NULL);
}

/*
 * test_config.c - configuration loading and validation (cmocka).
 *
 * Run from the repository root (make unit does), or set SECHO_SRCDIR to
 * it: the packaged conf/secho.cfg and conf/secho-dev.cfg are loaded too.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include <cmocka.h>

#include "secho/addr.h"
#include "secho/config.h"

#define L_TCP	"{ proto = \"tcp\"; address = \"::\"; port = 7; }"
/* A valid listeners line, to complete configs about other groups. */
#define LISTENERS	"listeners = ( " L_TCP " );\n"

static struct secho_config *
load_ok(const char *text)
{
	struct secho_config *cfg = NULL;
	char *err = NULL;

	if (config_load_string(text, "t.cfg", &cfg, &err) != 0) {
		print_error("unexpected errors:\n%s", err ? err : "(null)\n");
		free(err);
		fail();
	}
	assert_null(err);
	assert_non_null(cfg);
	return cfg;
}

static char *
load_err(const char *text)
{
	struct secho_config *cfg = NULL;
	char *err = NULL;

	assert_int_equal(config_load_string(text, "t.cfg", &cfg, &err), -1);
	assert_null(cfg);
	assert_non_null(err);
	return err;
}

static void
assert_tls_defaults(const struct tls_config *tc)
{
	assert_int_equal(tc->tc_certificate.tf_count, 0);
	assert_int_equal(tc->tc_private_key.tf_count, 0);
	assert_null(tc->tc_client_ca);
	assert_int_equal(tc->tc_verify_client, SECHO_VERIFY_NONE);
	assert_int_equal(tc->tc_min_protocol, 0x0303);
	assert_string_equal(tc->tc_ciphers, SECHO_DEFAULT_CIPHERS);
	assert_string_equal(tc->tc_ciphersuites, SECHO_DEFAULT_CIPHERSUITES);
	assert_string_equal(tc->tc_groups, SECHO_DEFAULT_GROUPS);
	assert_int_equal(tc->tc_session_tickets, 1);
	assert_int_equal(tc->tc_certificate.tf_line, 0);
	assert_int_equal(tc->tc_private_key.tf_line, 0);
	assert_int_equal(tc->tc_client_ca_line, 0);
}

static void
test_defaults(void **state)
{
	struct secho_config *cfg = load_ok(LISTENERS);
	const struct listener_config *lc;

	assert_string_equal(cfg->file, "t.cfg");
	assert_null(cfg->user);
	assert_null(cfg->group);
	assert_null(cfg->pidfile);
	assert_null(cfg->chroot_dir);
	assert_int_equal(cfg->shutdown_timeout, SECHO_DEFAULT_SHUTDOWN_TIMEOUT);
	assert_int_equal(cfg->shutdown_timeout, 10);
	assert_string_equal(cfg->log_ident, "secho");
	assert_int_equal(cfg->log_facility, LOG_DAEMON);
	assert_int_equal(cfg->log_level, LOG_INFO);
	assert_int_equal(cfg->log_stderr, 0);
	assert_int_equal(cfg->max_connections, 512);
	assert_int_equal(cfg->max_per_host, 32);
	assert_int_equal(cfg->idle_timeout, 300);
	assert_int_equal(cfg->handshake_timeout, 10);
	assert_int_equal(cfg->udp_rate_per_host, 200);
	assert_tls_defaults(&cfg->tls);
	assert_int_equal(cfg->tls.tc_line, 0);

	assert_int_equal(cfg->nlisteners, 1);
	lc = &cfg->listeners[0];
	assert_int_equal(lc->lc_proto, SECHO_PROTO_TCP);
	assert_string_equal(lc->lc_address, "::");
	assert_int_equal(lc->lc_port, 7);
	assert_int_equal(lc->lc_has_tls, 0);
	assert_int_equal(lc->lc_tls.tc_certificate.tf_count, 0);
	assert_int_equal(lc->lc_allow.set, 0);
	assert_int_equal(lc->lc_allow.count, 0);
	assert_int_equal(lc->lc_deny.set, 0);
	assert_int_equal(lc->lc_proxy_protocol, 0);
	assert_int_equal(lc->lc_line, 1);
	config_free(cfg);
}

static const char full_text[] =
	"daemon = {\n"					/* 1 */
	"  user = \"echo\";\n"
	"  group = \"nogroup\";\n"
	"  pidfile = \"/run/x.pid\";\n"
	"  chroot = \"/var/empty\";\n"			/* 5 */
	"  shutdown_timeout = 0;\n"
	"};\n"
	"log = {\n"
	"  ident = \"echod\";\n"
	"  facility = \"local3\";\n"			/* 10 */
	"  level = \"debug\";\n"
	"  stderr = true;\n"
	"};\n"
	"limits = {\n"
	"  max_connections = 1000000;\n"		/* 15 */
	"  max_connections_per_host = 1;\n"
	"  idle_timeout = 86400;\n"
	"  handshake_timeout = 3600L;\n"
	"  udp_rate_per_host = 0;\n"
	"};\n"						/* 20 */
	"tls = {\n"
	"  certificate = \"/c.pem\";\n"
	"  private_key = \"/k.pem\";\n"
	"  client_ca = \"/ca.pem\";\n"
	"  verify_client = \"require\";\n"		/* 25 */
	"  min_protocol = \"TLSv1.3\";\n"
	"  ciphers = \"HIGH\";\n"
	"  ciphersuites = \"TLS_AES_256_GCM_SHA384\";\n"
	"  groups = \"P-384\";\n"
	"  session_tickets = false;\n"			/* 30 */
	"};\n"
	"listeners = (\n"
	"  { proto = \"tcp\"; address = \"0.0.0.0\"; port = 1;\n"
	"    allow = [ \"192.0.2.0/24\", \"2001:db8::/32\", \"::1\" ];\n"
	"    deny = ( \"192.0.2.66\" );\n"		/* 35 */
	"    proxy_protocol = true; },\n"
	"  { proto = \"udp\"; address = \"echo.example.org\"; port = 65535;\n"
	"    proxy_protocol = false; },\n"
	"  { proto = \"tls\"; address = \"fe80::1%eth0\"; port = 7443;\n"
	"    proxy_protocol = true;\n"			/* 40 */
	"    tls = { certificate = \"/own.pem\"; } }\n"
	");\n";

static void
test_full(void **state)
{
	struct secho_config *cfg = load_ok(full_text);
	const struct listener_config *lc;
	const struct tls_config *tc;

	assert_string_equal(cfg->user, "echo");
	assert_string_equal(cfg->group, "nogroup");
	assert_string_equal(cfg->pidfile, "/run/x.pid");
	assert_string_equal(cfg->chroot_dir, "/var/empty");
	assert_int_equal(cfg->shutdown_timeout, 0);
	assert_string_equal(cfg->log_ident, "echod");
	assert_int_equal(cfg->log_facility, LOG_LOCAL3);
	assert_int_equal(cfg->log_level, LOG_DEBUG);
	assert_int_equal(cfg->log_stderr, 1);
	assert_int_equal(cfg->max_connections, 1000000);
	assert_int_equal(cfg->max_per_host, 1);
	assert_int_equal(cfg->idle_timeout, 86400);
	assert_int_equal(cfg->handshake_timeout, 3600);
	assert_int_equal(cfg->udp_rate_per_host, 0);

	tc = &cfg->tls;
	assert_int_equal(tc->tc_line, 21);
	assert_string_equal(tc->tc_certificate.tf_path[0], "/c.pem");
	assert_int_equal(tc->tc_certificate.tf_line, 22);
	assert_string_equal(tc->tc_private_key.tf_path[0], "/k.pem");
	assert_int_equal(tc->tc_private_key.tf_line, 23);
	assert_string_equal(tc->tc_client_ca, "/ca.pem");
	assert_int_equal(tc->tc_client_ca_line, 24);
	assert_int_equal(tc->tc_verify_client, SECHO_VERIFY_REQUIRE);
	assert_int_equal(tc->tc_min_protocol, 0x0304);
	assert_string_equal(tc->tc_ciphers, "HIGH");
	assert_string_equal(tc->tc_ciphersuites, "TLS_AES_256_GCM_SHA384");
	assert_string_equal(tc->tc_groups, "P-384");
	assert_int_equal(tc->tc_session_tickets, 0);

	assert_int_equal(cfg->nlisteners, 3);
	lc = &cfg->listeners[0];
	assert_int_equal(lc->lc_proto, SECHO_PROTO_TCP);
	assert_string_equal(lc->lc_address, "0.0.0.0");
	assert_int_equal(lc->lc_port, 1);
	assert_int_equal(lc->lc_line, 33);
	assert_int_equal(lc->lc_proxy_protocol, 1);
	assert_int_equal(lc->lc_allow.set, 1);
	assert_int_equal(lc->lc_allow.count, 3);
	assert_int_equal(lc->lc_allow.items[0].family, AF_INET);
	assert_int_equal(lc->lc_allow.items[0].prefix, 24);
	assert_int_equal(lc->lc_allow.items[1].family, AF_INET6);
	assert_int_equal(lc->lc_allow.items[1].prefix, 32);
	assert_int_equal(lc->lc_allow.items[2].prefix, 128);
	assert_int_equal(lc->lc_deny.set, 1);
	assert_int_equal(lc->lc_deny.count, 1);
	assert_int_equal(lc->lc_deny.items[0].prefix, 32);

	lc = &cfg->listeners[1];
	assert_int_equal(lc->lc_proto, SECHO_PROTO_UDP);
	assert_string_equal(lc->lc_address, "echo.example.org");
	assert_int_equal(lc->lc_port, 65535);
	assert_int_equal(lc->lc_proxy_protocol, 0);
	assert_int_equal(lc->lc_line, 37);

	lc = &cfg->listeners[2];
	assert_int_equal(lc->lc_proto, SECHO_PROTO_TLS);
	assert_string_equal(lc->lc_address, "fe80::1%eth0");
	assert_int_equal(lc->lc_has_tls, 1);
	assert_int_equal(lc->lc_proxy_protocol, 1);
	assert_string_equal(lc->lc_tls.tc_certificate.tf_path[0], "/own.pem");
	assert_int_equal(lc->lc_tls.tc_certificate.tf_line, 41);
	assert_int_equal(lc->lc_tls.tc_line, 41);
	assert_string_equal(lc->lc_tls.tc_private_key.tf_path[0], "/k.pem");
	assert_int_equal(lc->lc_tls.tc_private_key.tf_line, 23);
	assert_int_equal(lc->lc_tls.tc_verify_client, SECHO_VERIFY_REQUIRE);
	assert_int_equal(lc->lc_tls.tc_session_tickets, 0);
	config_free(cfg);
}

/* Per-listener tls groups override field by field; each owns its strings. */
static void
test_tls_merge(void **state)
{
	static const char text[] =
	    "listeners = (\n"						/* 1 */
	    "  { proto = \"tls\"; address = \"::1\"; port = 1; },\n"
	    "  { proto = \"tls\"; address = \"::1\"; port = 2;\n"
	    "    tls = { private_key = \"/k2.pem\"; groups = \"\";\n"
	    "            min_protocol = \"TLSv1.3\"; session_tickets = false;\n"
	    "            client_ca = \"/ca2.pem\"; verify_client = \"optional\"; } },\n"
	    "  { proto = \"tls\"; address = \"::1\"; port = 3;\n"
	    "    tls = { certificate = \"/c3.pem\"; ciphers = \"HIGH\"; } }\n"
	    ");\n"
	    "tls = {\n"							/* 10 */
	    "  certificate = \"/c.pem\";\n"
	    "  private_key = \"/k.pem\";\n"
	    "};\n";
	struct secho_config *cfg = load_ok(text);
	const struct tls_config *g = &cfg->tls, *t;

	assert_int_equal(cfg->nlisteners, 3);
	assert_int_equal(g->tc_line, 10);

	/* No own group: a copy of the global one. */
	t = &cfg->listeners[0].lc_tls;
	assert_int_equal(cfg->listeners[0].lc_has_tls, 0);
	assert_string_equal(t->tc_certificate.tf_path[0], "/c.pem");
	assert_ptr_not_equal(t->tc_certificate.tf_path[0],
	    g->tc_certificate.tf_path[0]);
	assert_int_equal(t->tc_certificate.tf_line, 11);
	assert_string_equal(t->tc_private_key.tf_path[0], "/k.pem");
	assert_int_equal(t->tc_private_key.tf_line, 12);
	assert_int_equal(t->tc_line, 10);
	assert_string_equal(t->tc_ciphers, SECHO_DEFAULT_CIPHERS);
	assert_ptr_not_equal(t->tc_ciphers, g->tc_ciphers);
	assert_int_equal(t->tc_min_protocol, 0x0303);

	t = &cfg->listeners[1].lc_tls;
	assert_int_equal(cfg->listeners[1].lc_has_tls, 1);
	assert_int_equal(t->tc_line, 4);
	assert_string_equal(t->tc_certificate.tf_path[0], "/c.pem");
	assert_int_equal(t->tc_certificate.tf_line, 11);
	assert_string_equal(t->tc_private_key.tf_path[0], "/k2.pem");
	assert_int_equal(t->tc_private_key.tf_line, 4);
	assert_null(t->tc_groups);		/* "" = OpenSSL's default */
	assert_int_equal(t->tc_min_protocol, 0x0304);
	assert_int_equal(t->tc_session_tickets, 0);
	assert_string_equal(t->tc_client_ca, "/ca2.pem");
	assert_int_equal(t->tc_client_ca_line, 6);
	assert_int_equal(t->tc_verify_client, SECHO_VERIFY_OPTIONAL);
	assert_string_equal(t->tc_ciphersuites, SECHO_DEFAULT_CIPHERSUITES);

	t = &cfg->listeners[2].lc_tls;
	assert_string_equal(t->tc_certificate.tf_path[0], "/c3.pem");
	assert_string_equal(t->tc_private_key.tf_path[0], "/k.pem");
	assert_string_equal(t->tc_ciphers, "HIGH");
	assert_string_equal(t->tc_groups, SECHO_DEFAULT_GROUPS);
	assert_int_equal(t->tc_session_tickets, 1);
	assert_int_equal(t->tc_verify_client, SECHO_VERIFY_NONE);

	/* The global group itself is unchanged. */
	assert_string_equal(g->tc_groups, SECHO_DEFAULT_GROUPS);
	assert_int_equal(g->tc_session_tickets, 1);
	config_free(cfg);
}

/* Accepted corner cases (each must load). */
static const char *const good_texts[] = {
	/* "" means unset for the optional strings. */
	"daemon = { user = \"\"; group = \"\"; pidfile = \"\"; chroot = \"\"; };\n"
	LISTENERS,
	/* Case-insensitive enumerations. */
	"log = { facility = \"LOCAL7\"; level = \"Warning\"; };\n" LISTENERS,
	/* Same address and port, different protocols. */
	"listeners = ( { proto = \"tcp\"; address = \"::1\"; port = 7; },\n"
	"  { proto = \"udp\"; address = \"::1\"; port = 7; } );\n",
	/* Same protocol and port, different addresses; IPv4 vs mapped. */
	"listeners = ( { proto = \"tcp\"; address = \"127.0.0.1\"; port = 7; },\n"
	"  { proto = \"tcp\"; address = \"::ffff:127.0.0.1\"; port = 7; },\n"
	"  { proto = \"tcp\"; address = \"localhost\"; port = 7; } );\n",
	/* Empty allow list: set, nobody allowed. */
	"listeners = ( { proto = \"tcp\"; address = \"::\"; port = 7;\n"
	"  allow = []; deny = (); } );\n",
	/* verify_client with client_ca only in the listener group. */
	"tls = { certificate = \"c\"; private_key = \"k\"; };\n"
	"listeners = ( { proto = \"tls\"; address = \"::\"; port = 7;\n"
	"  tls = { verify_client = \"require\"; client_ca = \"ca\"; }; } );\n",
	/* A tls listener with its own certificate and no global group. */
	"listeners = ( { proto = \"tls\"; address = \"::\"; port = 7;\n"
	"  tls = { certificate = \"c\"; private_key = \"k\"; }; } );\n",
	/* Fully qualified name with a trailing dot. */
	"listeners = ( { proto = \"udp\"; address = \"echo.example.\"; port = 7; } );\n",
};

/* Issue 13: certificate lists, OCSP, ALPN, key log, sni entries. */
static void
test_tls_more(void **state)
{
	struct secho_config *cfg;
	const struct tls_config *t, *o;
	const struct tls_sni *sn;

	(void)state;
	cfg = load_ok(
	    "tls = {\n"
	    "  certificate = [ \"/ec.pem\", \"/rsa.pem\" ];\n"
	    "  private_key = [ \"/ec.key\",\n"
	    "                  \"/rsa.key\" ];\n"
	    "  ocsp_response = [ \"/ec.der\", \"\" ];\n"
	    "  alpn = [ \"h2\", \"http/1.1\" ];\n"
	    "  keylog_file = \"/tmp/keys\";\n"
	    "  sni_strict = true;\n"
	    "  sni = ( { names = [ \"Echo.Example.ORG\", \"*.example.net\",\n"
	    "                      \"xn--bcher-kva.example.\" ];\n"
	    "            certificate = \"/e.pem\"; private_key = \"/e.key\";\n"
	    "            client_ca = \"/ca.pem\"; verify_client = \"require\"; } );\n"
	    "};\n"
	    "listeners = (\n"
	    "  { proto = \"tls\"; address = \"::\"; port = 1; },\n"
	    "  { proto = \"tls\"; address = \"::\"; port = 2;\n"
	    "    tls = { certificate = \"/own.pem\"; private_key = \"/own.key\"; } }\n"
	    ");\n");
	t = &cfg->listeners[0].lc_tls;
	assert_int_equal(t->tc_certificate.tf_count, 2);
	assert_true(t->tc_certificate.tf_list);
	assert_string_equal(t->tc_certificate.tf_path[1], "/rsa.pem");
	assert_int_equal(t->tc_private_key.tf_lines[1], 4);
	assert_int_equal(t->tc_ocsp_response.tf_count, 2);
	assert_string_equal(t->tc_ocsp_response.tf_path[0], "/ec.der");
	assert_string_equal(t->tc_ocsp_response.tf_path[1], "");
	assert_int_equal(t->tc_alpn_len, 3 + 9);
	assert_memory_equal(t->tc_alpn, "\x02h2\x08http/1.1", 12);
	assert_string_equal(t->tc_keylog_file, "/tmp/keys");
	assert_int_equal(t->tc_keylog_line, 7);
	assert_int_equal(t->tc_sni_strict, 1);
	assert_int_equal(t->tc_nsni, 1);
	sn = &t->tc_sni[0];
	assert_int_equal(sn->sn_nnames, 3);
	/* Lower case; A-labels as they are; no trailing dot. */
	assert_string_equal(sn->sn_names[0], "echo.example.org");
	assert_string_equal(sn->sn_names[1], "*.example.net");
	assert_string_equal(sn->sn_names[2], "xn--bcher-kva.example");
	assert_string_equal(sn->sn_certificate.tf_path[0], "/e.pem");
	assert_true(sn->sn_given & SECHO_SNI_VERIFY);
	assert_int_equal(sn->sn_verify_client, SECHO_VERIFY_REQUIRE);
	assert_string_equal(sn->sn_client_ca, "/ca.pem");
	assert_int_equal(sn->sn_line, 9);
	/* Another certificate: the global OCSP responses do not follow it;
	 * the rest (sni entries, alpn, key log) does, copied. */
	o = &cfg->listeners[1].lc_tls;
	assert_int_equal(o->tc_certificate.tf_count, 1);
	assert_false(o->tc_certificate.tf_list);
	assert_int_equal(o->tc_ocsp_response.tf_count, 0);
	assert_int_equal(o->tc_nsni, 1);
	assert_ptr_not_equal(o->tc_sni, t->tc_sni);
	assert_string_equal(o->tc_sni[0].sn_names[1], "*.example.net");
	assert_int_equal(o->tc_alpn_len, 12);
	assert_string_equal(o->tc_keylog_file, "/tmp/keys");
	config_free(cfg);
}

static void
test_good(void **state)
{
	size_t i;

	for (i = 0; i < sizeof(good_texts) / sizeof(good_texts[0]); i++) {
		struct secho_config *cfg = NULL;
		char *err = NULL;

		if (config_load_string(good_texts[i], "t.cfg", &cfg,
		    &err) != 0) {
			print_error("good_texts[%zu]:\n%s", i, err);
			free(err);
			fail();
		}
		config_free(cfg);
	}
}

static void
test_empty_strings(void **state)
{
	struct secho_config *cfg = load_ok(good_texts[0]);

	assert_null(cfg->user);
	assert_null(cfg->group);
	assert_null(cfg->pidfile);
	assert_null(cfg->chroot_dir);
	config_free(cfg);

	cfg = load_ok(good_texts[1]);
	assert_int_equal(cfg->log_facility, LOG_LOCAL7);
	assert_int_equal(cfg->log_level, LOG_WARNING);
	config_free(cfg);

	cfg = load_ok(good_texts[4]);
	assert_int_equal(cfg->listeners[0].lc_allow.set, 1);
	assert_int_equal(cfg->listeners[0].lc_allow.count, 0);
	assert_int_equal(cfg->listeners[0].lc_deny.set, 1);
	config_free(cfg);
}

struct bad {
	const char	*what;
	const char	*text;
	const char	*errors;	/* exact *errp */
};

static const struct bad bad_texts[] = {
	{ "syntax error",
	  "log = {\n  level = ;\n};\n" LISTENERS,
	  "t.cfg:2: syntax error\n" },
	{ "duplicate setting (libconfig)",
	  "log = {\n  level = \"info\";\n  level = \"debug\";\n};\n" LISTENERS,
	  "t.cfg:3: duplicate setting name\n" },
	{ "unknown top-level setting",
	  LISTENERS "\nfoo = 1;\n",
	  "t.cfg:3: unknown setting \"foo\"\n" },
	{ "unknown setting in a group",
	  "daemon = {\n  usr = \"secho\";\n};\n" LISTENERS,
	  "t.cfg:2: unknown setting \"daemon.usr\"; did you mean \"user\"?\n" },
	{ "unknown setting close to a known one",
	  "limits = {\n  idle_timout = 5;\n};\n" LISTENERS,
	  "t.cfg:2: unknown setting \"limits.idle_timout\"; did you mean "
	  "\"idle_timeout\"?\n" },
	{ "unknown top-level setting close to a known one",
	  LISTENERS "\nlimit = { };\n",
	  "t.cfg:3: unknown setting \"limit\"; did you mean \"limits\"?\n" },
	{ "certificate and key lists of different lengths",
	  "tls = {\n  certificate = [ \"/a.pem\", \"/b.pem\" ];\n"
	  "  private_key = [ \"/a.key\" ];\n};\n" LISTENERS,
	  "t.cfg:3: tls.private_key: 1 key for 2 certificates (one per "
	  "certificate, in the same order)\n" },
	{ "one OCSP response for two certificates",
	  "tls = {\n  certificate = [ \"/a.pem\", \"/b.pem\" ];\n"
	  "  private_key = [ \"/a.key\", \"/b.key\" ];\n"
	  "  ocsp_response = \"/r.der\";\n};\n" LISTENERS,
	  "t.cfg:4: tls.ocsp_response: one response for 2 certificates: give "
	  "a list in the order of certificate (\"\" for none)\n" },
	{ "an empty file in a certificate list",
	  "tls = {\n  certificate = [ \"/a.pem\",\n    \"\" ];\n};\n"
	  LISTENERS,
	  "t.cfg:3: tls.certificate[1]: must not be empty\n" },
	{ "too many certificates",
	  "tls = {\n  certificate = [ \"1\", \"2\", \"3\", \"4\", \"5\", "
	  "\"6\", \"7\", \"8\", \"9\" ];\n};\n" LISTENERS,
	  "t.cfg:2: tls.certificate: a list of 1 to 8 files (one per key "
	  "type)\n" },
	{ "an empty ALPN protocol name",
	  "tls = {\n  alpn = [ \"h2\", \"\" ];\n};\n" LISTENERS,
	  "t.cfg:2: tls.alpn: a protocol name has 1 to 255 bytes\n" },
	{ "sni: a name that is not ASCII",
	  "tls = {\n  sni = ( { names = [ \"\xc3\xa9" "cho.example\" ]; "
	  "certificate = \"/c\"; private_key = \"/k\"; } );\n};\n"
	  LISTENERS,
	  "t.cfg:2: tls.sni.[0].names: \"\\xc3\\xa9" "cho.example\" is not "
	  "ASCII: write its IDNA A-label (\"xn--...\")\n" },
	{ "sni: a wildcard inside a name",
	  "tls = {\n  sni = ( { names = [ \"a.*.example\" ]; "
	  "certificate = \"/c\"; private_key = \"/k\"; } );\n};\n"
	  LISTENERS,
	  "t.cfg:2: tls.sni.[0].names: \"a.*.example\" has a wildcard "
	  "elsewhere than as the whole first label (\"*.example.org\")\n" },
	{ "sni: a name listed twice",
	  "tls = {\n  sni = (\n"
	  "    { names = [ \"a.example\" ]; certificate = \"/c\"; "
	  "private_key = \"/k\"; },\n"
	  "    { names = [ \"A.example\" ]; certificate = \"/c\"; "
	  "private_key = \"/k\"; } );\n};\n" LISTENERS,
	  "t.cfg:4: tls.sni.[1].names: \"a.example\" is listed twice (first "
	  "in the entry at line 3)\n" },
	{ "sni: an entry without a key",
	  "tls = {\n  sni = ( { names = [ \"a.example\" ]; "
	  "certificate = \"/c\"; } );\n};\n" LISTENERS,
	  "t.cfg:2: tls.sni.[0]: missing setting \"private_key\"\n" },
	{ "sni: verify_client without any client_ca",
	  "tls = {\n  sni = ( { names = [ \"a.example\" ]; "
	  "certificate = \"/c\"; private_key = \"/k\";\n"
	  "    verify_client = \"require\"; } );\n};\n" LISTENERS,
	  "t.cfg:2: tls.sni.[0].verify_client: \"require\" needs a "
	  "client_ca\n" },
	{ "sni: an entry that sets client_ca \"\" under a group that requires",
	  "tls = {\n  client_ca = \"/ca.pem\"; verify_client = \"require\";\n"
	  "  sni = ( { names = [ \"a.example\" ]; "
	  "certificate = \"/c\"; private_key = \"/k\";\n"
	  "    client_ca = \"\"; } );\n};\n" LISTENERS,
	  "t.cfg:3: tls.sni.[0].verify_client: \"require\" needs a "
	  "client_ca\n" },
	{ "sni: an unknown setting in an entry",
	  "tls = {\n  sni = ( { names = [ \"a.example\" ]; "
	  "certificate = \"/c\"; private_key = \"/k\";\n"
	  "    ocsp_responce = \"\"; } );\n};\n" LISTENERS,
	  "t.cfg:3: unknown setting \"tls.sni.[0].ocsp_responce\"; did you "
	  "mean \"ocsp_response\"?\n" },
	{ "unknown setting in a listener",
	  "listeners = (\n  { proto = \"tcp\"; address = \"::\"; port = 7;\n"
	  "    backlog = 5; }\n);\n",
	  "t.cfg:3: unknown setting \"listeners.[0].backlog\"\n" },
	{ "unknown setting in a listener tls group",
	  "listeners = (\n  " L_TCP ",\n"
	  "  { proto = \"tls\"; address = \"::\"; port = 7443;\n"
	  "    tls = { certificate = \"c\"; private_key = \"k\";\n"
	  "            cert = \"x\"; } }\n);\n",
	  "t.cfg:5: unknown setting \"listeners.[1].tls.cert\"\n" },
	{ "string expected",
	  "daemon = {\n  user = 0;\n};\n" LISTENERS,
	  "t.cfg:2: daemon.user: expected a string\n" },
	{ "integer expected (float)",
	  "limits = {\n  idle_timeout = 1.5;\n};\n" LISTENERS,
	  "t.cfg:2: limits.idle_timeout: expected an integer\n" },
	{ "integer expected (string)",
	  "listeners = (\n  { proto = \"tcp\"; address = \"::\";\n"
	  "    port = \"7\"; }\n);\n",
	  "t.cfg:3: listeners.[0].port: expected an integer\n" },
	{ "boolean expected",
	  "log = {\n  stderr = 1;\n};\n" LISTENERS,
	  "t.cfg:2: log.stderr: expected a boolean\n" },
	{ "group expected",
	  "daemon = \"x\";\n" LISTENERS,
	  "t.cfg:1: daemon: expected a group\n" },
	{ "group expected (listener tls)",
	  "listeners = (\n  { proto = \"tls\"; address = \"::\"; port = 7;\n"
	  "    tls = \"yes\"; }\n);\n",
	  "t.cfg:3: listeners.[0].tls: expected a group\n" },
	{ "group expected (list element)",
	  "listeners = (\n  " L_TCP ",\n  7\n);\n",
	  "t.cfg:3: listeners.[1]: expected a group\n" },
	{ "list or array expected",
	  "listeners = (\n  { proto = \"tcp\"; address = \"::\"; port = 7;\n"
	  "    allow = \"10.0.0.0/8\"; }\n);\n",
	  "t.cfg:3: listeners.[0].allow: expected a list or array\n" },
	{ "listeners not a list",
	  "listeners = " L_TCP ";\n",
	  "t.cfg:1: listeners: expected a list\n" },
	{ "out of range (low)",
	  "limits = {\n  max_connections = 0;\n};\n" LISTENERS,
	  "t.cfg:2: limits.max_connections: 0 is out of range (1..1000000)\n" },
	{ "out of range (negative)",
	  "daemon = {\n  shutdown_timeout = -1;\n};\n" LISTENERS,
	  "t.cfg:2: daemon.shutdown_timeout: -1 is out of range (0..3600)\n" },
	{ "out of range (int64)",
	  "limits = {\n  udp_rate_per_host = 10000000000L;\n};\n" LISTENERS,
	  "t.cfg:2: limits.udp_rate_per_host: 10000000000 is out of range "
	  "(0..1000000)\n" },
	{ "out of range (port)",
	  "listeners = (\n  { proto = \"udp\"; address = \"::\";\n"
	  "    port = 65536; }\n);\n",
	  "t.cfg:3: listeners.[0].port: 65536 is out of range (1..65535)\n" },
	{ "out of range (every limit)",
	  "limits = {\n  max_connections_per_host = 1000001;\n"
	  "  idle_timeout = 86401;\n  handshake_timeout = 0;\n};\n" LISTENERS,
	  "t.cfg:2: limits.max_connections_per_host: 1000001 is out of range "
	  "(1..1000000)\n"
	  "t.cfg:3: limits.idle_timeout: 86401 is out of range (1..86400)\n"
	  "t.cfg:4: limits.handshake_timeout: 0 is out of range (1..3600)\n" },
	{ "bad level",
	  "log = {\n  level = \"loud\";\n};\n" LISTENERS,
	  "t.cfg:2: log.level: \"loud\" is not one of err, warning, notice, "
	  "info, debug\n" },
	{ "bad facility",
	  "log = {\n  facility = \"local8\";\n};\n" LISTENERS,
	  "t.cfg:2: log.facility: \"local8\" is not one of auth, authpriv, "
	  "cron, daemon, ftp, kern, lpr, mail, news, syslog, user, uucp, "
	  "local0..local7\n" },
	{ "bad proto",
	  "listeners = (\n  { proto = \"sctp\"; address = \"::\"; port = 7; }\n);\n",
	  "t.cfg:2: listeners.[0].proto: \"sctp\" is not one of tcp, udp, tls, dtls\n" },
	{ "bad verify_client and min_protocol",
	  "tls = {\n  verify_client = \"maybe\";\n  min_protocol = \"TLSv1.1\";\n"
	  "};\n" LISTENERS,
	  "t.cfg:2: tls.verify_client: \"maybe\" is not one of none, "
	  "optional, require\n"
	  "t.cfg:3: tls.min_protocol: \"TLSv1.1\" is not one of TLSv1.2, "
	  "TLSv1.3\n" },
	{ "value with control characters is escaped",
	  "log = {\n  level = \"a\\\"b\\n\";\n};\n" LISTENERS,
	  "t.cfg:2: log.level: \"a\\\"b\\x0a\" is not one of err, warning, "
	  "notice, info, debug\n" },
	{ "empty ident",
	  "log = {\n  ident = \"\";\n};\n" LISTENERS,
	  "t.cfg:2: log.ident: must not be empty\n" },
	{ "bad address",
	  "listeners = (\n  { proto = \"tcp\"; port = 7;\n"
	  "    address = \"no such!\"; }\n);\n",
	  "t.cfg:3: listeners.[0].address: \"no such!\" is not an IP address "
	  "or host name\n" },
	{ "bad address (numeric, not IPv4)",
	  "listeners = (\n  " L_TCP ",\n"
	  "  { proto = \"tcp\"; port = 7; address = \"999.1.1.1\"; },\n"
	  "  { proto = \"tcp\"; port = 7; address = \"[::1]\"; }\n);\n",
	  "t.cfg:3: listeners.[1].address: \"999.1.1.1\" is not an IP address "
	  "or host name\n"
	  "t.cfg:4: listeners.[2].address: \"[::1]\" is not an IP address "
	  "or host name\n" },
	{ "empty address",
	  "listeners = (\n  { proto = \"tcp\"; port = 7; address = \"\"; }\n);\n",
	  "t.cfg:2: listeners.[0].address: must not be empty\n" },
	{ "bad CIDR",
	  "listeners = (\n  " L_TCP ",\n  " L_TCP ",\n"
	  "  { proto = \"tcp\"; address = \"::\"; port = 8;\n"
	  "    allow = [ \"192.0.2.0/24\",\n"
	  "              \"10.0.0.0/33\" ]; }\n);\n",
	  "t.cfg:3: duplicate listener tcp [::]:7 (first at line 2)\n"
	  "t.cfg:6: listeners.[2].allow: \"10.0.0.0/33\" is not an address "
	  "or CIDR block\n" },
	{ "CIDR with host bits, garbage, not a string",
	  "listeners = (\n  { proto = \"tcp\"; address = \"::\"; port = 7;\n"
	  "    deny = ( \"10.0.0.1/8\",\n"
	  "             \"fe80::/129\", \"bogus\",\n"
	  "             5 ); }\n);\n",
	  "t.cfg:3: listeners.[0].deny: \"10.0.0.1/8\" is not an address or "
	  "CIDR block\n"
	  "t.cfg:4: listeners.[0].deny: \"fe80::/129\" is not an address or "
	  "CIDR block\n"
	  "t.cfg:4: listeners.[0].deny: \"bogus\" is not an address or "
	  "CIDR block\n"
	  "t.cfg:5: listeners.[0].deny: expected a string\n" },
	{ "duplicate listener (IPv6 by value)",
	  "tls = { certificate = \"c\"; private_key = \"k\"; };\n"
	  "listeners = (\n"
	  "  { proto = \"tls\"; address = \"::1\"; port = 7443; },\n"
	  "  { proto = \"tcp\"; address = \"::1\"; port = 7443; },\n"
	  "  { proto = \"tls\"; address = \"0::1\"; port = 7443; }\n);\n",
	  "t.cfg:5: duplicate listener tls [0::1]:7443 (first at line 3)\n" },
	{ "duplicate listener (IPv4, host names without case)",
	  "listeners = (\n"
	  "  { proto = \"udp\"; address = \"127.0.0.1\"; port = 7; },\n"
	  "  { proto = \"udp\"; address = \"LocalHost\"; port = 7; },\n"
	  "  { proto = \"udp\"; address = \"127.0.0.1\"; port = 7; },\n"
	  "  { proto = \"udp\"; address = \"localhost.\"; port = 7; }\n);\n",
	  "t.cfg:4: duplicate listener udp 127.0.0.1:7 (first at line 2)\n"
	  "t.cfg:5: duplicate listener udp localhost.:7 (first at line 3)\n" },
	{ "missing listeners",
	  "log = { level = \"info\"; };\n",
	  "t.cfg: no listeners configured\n" },
	{ "missing listeners (empty file)",
	  "",
	  "t.cfg: no listeners configured\n" },
	{ "empty listeners",
	  "\nlisteners = ();\n",
	  "t.cfg:2: no listeners configured\n" },
	{ "listener without proto, address, port",
	  "listeners = (\n  { proxy_protocol = true; }\n);\n",
	  "t.cfg:2: listeners.[0]: missing setting \"proto\"\n"
	  "t.cfg:2: listeners.[0]: missing setting \"address\"\n"
	  "t.cfg:2: listeners.[0]: missing setting \"port\"\n" },
	{ "tls listener without certificate",
	  "listeners = (\n  " L_TCP ",\n"
	  "  { proto = \"udp\"; address = \"::\"; port = 7; },\n"
	  "  { proto = \"tls\"; address = \"::\"; port = 7443; }\n);\n"
	  "tls = { private_key = \"k\"; };\n",
	  "t.cfg:4: listeners.[2]: tls listener without tls.certificate\n" },
	{ "tls listener without certificate and key (unset by override)",
	  "tls = { certificate = \"c\"; private_key = \"k\"; };\n"
	  "listeners = (\n"
	  "  { proto = \"tls\"; address = \"::\"; port = 7443;\n"
	  "    tls = { certificate = \"\"; private_key = \"\"; }; }\n);\n",
	  "t.cfg:3: listeners.[0]: tls listener without tls.certificate\n"
	  "t.cfg:3: listeners.[0]: tls listener without tls.private_key\n" },
	{ "tls group on a tcp listener",
	  "tls = { certificate = \"c\"; private_key = \"k\"; };\n"
	  "listeners = (\n  { proto = \"tcp\"; address = \"::\"; port = 7;\n"
	  "    tls = { certificate = \"c\"; }; }\n);\n",
	  "t.cfg:4: listeners.[0].tls: a tls group is only allowed on tls "
	  "and dtls listeners\n" },
	{ "proxy_protocol on dtls",
	  "tls = { certificate = \"c\"; private_key = \"k\"; };\n"
	  "listeners = (\n  { proto = \"dtls\"; address = \"::\"; port = 7;\n"
	  "    proxy_protocol = true; }\n);\n",
	  "t.cfg:4: listeners.[0].proxy_protocol: not supported on dtls "
	  "listeners\n" },
	{ "dtls listener without certificate",
	  "listeners = (\n  { proto = \"dtls\"; address = \"::\"; port = 7; }\n);\n",
	  "t.cfg:2: listeners.[0]: dtls listener without tls.certificate\n"
	  "t.cfg:2: listeners.[0]: dtls listener without tls.private_key\n" },
	{ "dtls listener asking for TLS 1.3",
	  "listeners = (\n  { proto = \"dtls\"; address = \"::\"; port = 7;\n"
	  "    tls = { certificate = \"c\"; private_key = \"k\";\n"
	  "      min_protocol = \"TLSv1.3\"; }; }\n);\n",
	  "t.cfg:4: listeners.[0].tls.min_protocol: a dtls listener serves "
	  "DTLS 1.2 only (TLSv1.2)\n" },
	{ "proxy_protocol on udp",
	  "listeners = (\n  { proto = \"udp\"; address = \"::\"; port = 7;\n"
	  "    proxy_protocol = true; }\n);\n",
	  "t.cfg:3: listeners.[0].proxy_protocol: not supported on udp "
	  "listeners\n" },
	{ "verify_client without client_ca (global)",
	  "tls = {\n  certificate = \"c\"; private_key = \"k\";\n"
	  "  verify_client = \"require\";\n  client_ca = \"\";\n};\n"
	  "listeners = (\n  { proto = \"tls\"; address = \"::\"; port = 7; }\n);\n",
	  "t.cfg:3: tls.verify_client: \"require\" needs tls.client_ca\n" },
	{ "verify_client without client_ca (listener)",
	  "tls = {\n  certificate = \"c\"; private_key = \"k\";\n};\n"
	  "listeners = (\n  { proto = \"tls\"; address = \"::\"; port = 7;\n"
	  "    tls = {\n      verify_client = \"optional\"; }; }\n);\n",
	  "t.cfg:7: listeners.[0].tls.verify_client: \"optional\" needs "
	  "listeners.[0].tls.client_ca\n" },
	{ "broken global tls group: no cascade into listeners",
	  "tls = {\n  certificate = 1;\n  private_key = \"k\";\n};\n"
	  "listeners = (\n  { proto = \"tls\"; address = \"::\"; port = 7; }\n);\n",
	  "t.cfg:2: tls.certificate: expected a string or a list of strings\n" },
	{ "many errors, all reported",
	  "daemon = {\n"					/* 1 */
	  "  usr = \"secho\";\n"
	  "  shutdown_timeout = 99999;\n"
	  "};\n"
	  "log = {\n"						/* 5 */
	  "  level = \"loud\";\n"
	  "  stderr = \"yes\";\n"
	  "};\n"
	  "limits = { max_connections = 0; };\n"
	  "listeners = (\n"					/* 10 */
	  "  { proto = \"tcp\"; address = \"::\"; port = 0; },\n"
	  "  { proto = \"tls\"; address = \"::1\"; port = 7443; },\n"
	  "  { proto = \"udp\"; address = \"a..b\"; port = 7;\n"
	  "    proxy_protocol = true; }\n"
	  ");\n"						/* 15 */
	  "bogus = true;\n",
	  "t.cfg:2: unknown setting \"daemon.usr\"; did you mean \"user\"?\n"
	  "t.cfg:3: daemon.shutdown_timeout: 99999 is out of range (0..3600)\n"
	  "t.cfg:6: log.level: \"loud\" is not one of err, warning, notice, "
	  "info, debug\n"
	  "t.cfg:7: log.stderr: expected a boolean\n"
	  "t.cfg:9: limits.max_connections: 0 is out of range (1..1000000)\n"
	  "t.cfg:11: listeners.[0].port: 0 is out of range (1..65535)\n"
	  "t.cfg:12: listeners.[1]: tls listener without tls.certificate\n"
	  "t.cfg:12: listeners.[1]: tls listener without tls.private_key\n"
	  "t.cfg:13: listeners.[2].address: \"a..b\" is not an IP address or "
	  "host name\n"
	  "t.cfg:14: listeners.[2].proxy_protocol: not supported on udp "
	  "listeners\n"
	  "t.cfg:16: unknown setting \"bogus\"\n" },
};

static void
test_bad(void **state)
{
	size_t i;
	int failed = 0;

	for (i = 0; i < sizeof(bad_texts) / sizeof(bad_texts[0]); i++) {
		const struct bad *b = &bad_texts[i];
		char *err = load_err(b->text);

		if (strcmp(err, b->errors) != 0) {
			print_error("%s:\nexpected:\n%sgot:\n%s", b->what,
			    b->errors, err);
			failed++;
		}
		free(err);
	}
	assert_int_equal(failed, 0);
}

/* Name of a file of the source tree ($SECHO_SRCDIR or the current dir). */
static const char *
srcpath(char *buf, size_t len, const char *rel)
{
	const char *dir = getenv("SECHO_SRCDIR");

	snprintf(buf, len, "%s/%s", dir && *dir ? dir : ".", rel);
	return buf;
}

static void
test_packaged(void **state)
{
	struct secho_config *cfg = NULL;
	char path[4096], *err = NULL;
	size_t i;

	if (config_load(srcpath(path, sizeof(path), "conf/secho.cfg"), &cfg,
	    &err) != 0) {
		print_error("%s", err);
		fail();
	}
	assert_string_equal(cfg->user, "secho");
	assert_string_equal(cfg->group, "secho");
	assert_string_equal(cfg->pidfile, "/run/secho/secho.pid");
	assert_null(cfg->chroot_dir);
	assert_int_equal(cfg->shutdown_timeout, SECHO_DEFAULT_SHUTDOWN_TIMEOUT);
	assert_string_equal(cfg->log_ident, SECHO_DEFAULT_IDENT);
	assert_int_equal(cfg->log_facility, LOG_DAEMON);
	assert_int_equal(cfg->log_level, LOG_INFO);
	assert_int_equal(cfg->log_stderr, 0);
	assert_int_equal(cfg->max_connections, SECHO_DEFAULT_MAX_CONN);
	assert_int_equal(cfg->max_per_host, SECHO_DEFAULT_MAX_PER_HOST);
	assert_int_equal(cfg->idle_timeout, SECHO_DEFAULT_IDLE_TIMEOUT);
	assert_int_equal(cfg->handshake_timeout,
	    SECHO_DEFAULT_HANDSHAKE_TIMEOUT);
	assert_int_equal(cfg->udp_rate_per_host, SECHO_DEFAULT_UDP_RATE);
	assert_string_equal(cfg->tls.tc_certificate.tf_path[0],
	    "/etc/secho/tls/cert.pem");
	assert_string_equal(cfg->tls.tc_private_key.tf_path[0],
	    "/etc/secho/tls/key.pem");
	assert_null(cfg->tls.tc_client_ca);
	assert_int_equal(cfg->tls.tc_verify_client, SECHO_VERIFY_NONE);
	assert_int_equal(cfg->tls.tc_min_protocol, 0x0303);
	assert_string_equal(cfg->tls.tc_ciphers, SECHO_DEFAULT_CIPHERS);
	assert_string_equal(cfg->tls.tc_ciphersuites,
	    SECHO_DEFAULT_CIPHERSUITES);
	assert_string_equal(cfg->tls.tc_groups, SECHO_DEFAULT_GROUPS);
	assert_int_equal(cfg->tls.tc_session_tickets, 1);
	assert_int_equal(cfg->nlisteners, 3);
	assert_int_equal(cfg->listeners[0].lc_proto, SECHO_PROTO_TCP);
	assert_int_equal(cfg->listeners[1].lc_proto, SECHO_PROTO_UDP);
	assert_int_equal(cfg->listeners[2].lc_proto, SECHO_PROTO_TLS);
	for (i = 0; i < 3; i++)
		assert_string_equal(cfg->listeners[i].lc_address, "::");
	assert_int_equal(cfg->listeners[0].lc_port, 7);
	assert_int_equal(cfg->listeners[1].lc_port, 7);
	assert_int_equal(cfg->listeners[2].lc_port, 7443);
	assert_string_equal(cfg->listeners[2].lc_tls.tc_certificate.tf_path[0],
	    "/etc/secho/tls/cert.pem");
	config_free(cfg);

	if (config_load(srcpath(path, sizeof(path), "conf/secho-dev.cfg"),
	    &cfg, &err) != 0) {
		print_error("%s", err);
		fail();
	}
	assert_null(cfg->user);
	assert_null(cfg->pidfile);
	assert_int_equal(cfg->log_stderr, 1);
	assert_int_equal(cfg->nlisteners, 8);	/* dtls too (issue 14) */
	for (i = 0; i < cfg->nlisteners; i++) {
		const struct listener_config *lc = &cfg->listeners[i];

		assert_true(strcmp(lc->lc_address, "127.0.0.1") == 0 ||
		    strcmp(lc->lc_address, "::1") == 0);
		assert_int_equal(lc->lc_port,
		    config_proto_is_tls(lc->lc_proto) ? 7443 : 7007);
		if (config_proto_is_tls(lc->lc_proto)) {
			/* Both key types (issue 13). */
			assert_int_equal(lc->lc_tls.tc_certificate.tf_count, 2);
			assert_string_equal(lc->lc_tls.tc_certificate.tf_path[0],
			    "certs/server.pem");
			assert_string_equal(lc->lc_tls.tc_private_key.tf_path[0],
			    "certs/server.key");
			assert_string_equal(lc->lc_tls.tc_certificate.tf_path[1],
			    "certs/server-rsa.pem");
			assert_string_equal(lc->lc_tls.tc_private_key.tf_path[1],
			    "certs/server-rsa.key");
		}
	}
	config_free(cfg);
}

/* Files: unreadable, directory, syntax error with the path, @include. */
static void
test_files(void **state)
{
	struct secho_config *cfg = NULL;
	char dir[] = "/tmp/test_config.XXXXXX";
	char path[256], inc[256], bin[256], expect[512], *err = NULL;
	FILE *fp;

	assert_non_null(mkdtemp(dir));

	snprintf(path, sizeof(path), "%s/missing.cfg", dir);
	assert_int_equal(config_load(path, &cfg, &err), -1);
	assert_null(cfg);
	snprintf(expect, sizeof(expect), "%s: cannot read: %s\n", path,
	    strerror(ENOENT));
	assert_string_equal(err, expect);
	free(err);

	assert_int_equal(config_load(dir, &cfg, &err), -1);
	snprintf(expect, sizeof(expect), "%s: cannot read: %s\n", dir,
	    strerror(EISDIR));
	assert_string_equal(err, expect);
	free(err);

	snprintf(bin, sizeof(bin), "%s/bin.cfg", dir);
	assert_non_null(fp = fopen(bin, "w"));
	fwrite("a\0b", 1, 3, fp);
	fclose(fp);
	assert_int_equal(config_load(bin, &cfg, &err), -1);
	assert_non_null(strstr(err, bin));
	assert_non_null(strstr(err, "cannot read"));
	free(err);

	/* An @include is found next to the including file. */
	snprintf(inc, sizeof(inc), "%s/inc.cfg", dir);
	assert_non_null(fp = fopen(inc, "w"));
	fputs("listeners = (\n  { proto = \"tcp\"; address = \"::\";\n"
	    "    port = 0; }\n);\n", fp);
	fclose(fp);
	snprintf(path, sizeof(path), "%s/main.cfg", dir);
	assert_non_null(fp = fopen(path, "w"));
	fputs("log = { level = \"debug\"; };\n@include \"inc.cfg\"\n", fp);
	fclose(fp);
	assert_int_equal(config_load(path, &cfg, &err), -1);
	snprintf(expect, sizeof(expect),
	    "%s:3: listeners.[0].port: 0 is out of range (1..65535)\n", inc);
	assert_string_equal(err, expect);
	free(err);

	/* A syntax error names the path. */
	assert_non_null(fp = fopen(path, "w"));
	fputs("log = {\n  level = \"debug\"\n  = 3;\n};\n", fp);
	fclose(fp);
	assert_int_equal(config_load(path, &cfg, &err), -1);
	snprintf(expect, sizeof(expect), "%s:3: syntax error\n", path);
	assert_string_equal(err, expect);
	free(err);

	/* And a good one loads, with the path recorded. */
	assert_non_null(fp = fopen(path, "w"));
	fputs(LISTENERS, fp);
	fclose(fp);
	assert_int_equal(config_load(path, &cfg, &err), 0);
	assert_null(err);
	assert_string_equal(cfg->file, path);
	config_free(cfg);

	unlink(path);
	unlink(inc);
	unlink(bin);
	assert_int_equal(rmdir(dir), 0);
}

static void
test_names(void **state)
{
	static const struct {
		const char	*name;
		int		 facility;
		int		 level;
	} t[] = {
		{ "daemon", LOG_DAEMON, -1 },
		{ "auth", LOG_AUTH, -1 },
		{ "authpriv", LOG_AUTHPRIV, -1 },
		{ "local0", LOG_LOCAL0, -1 },
		{ "local7", LOG_LOCAL7, -1 },
		{ "user", LOG_USER, -1 },
		{ "err", -1, LOG_ERR },
		{ "warning", -1, LOG_WARNING },
		{ "notice", -1, LOG_NOTICE },
		{ "info", -1, LOG_INFO },
		{ "debug", -1, LOG_DEBUG },
		{ "local8", -1, -1 },
		{ "", -1, -1 },
		{ "error", -1, -1 },
	};
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int_equal(config_facility_by_name(t[i].name),
		    t[i].facility);
		assert_int_equal(config_level_by_name(t[i].name), t[i].level);
	}
	assert_int_equal(config_facility_by_name(NULL), -1);
	assert_int_equal(config_level_by_name(NULL), -1);
	assert_string_equal(config_proto_name(SECHO_PROTO_TCP), "tcp");
	assert_string_equal(config_proto_name(SECHO_PROTO_UDP), "udp");
	assert_string_equal(config_proto_name(SECHO_PROTO_TLS), "tls");
	assert_string_equal(config_proto_name(42), "?");
	config_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_tls_merge),
		cmocka_unit_test(test_tls_more),
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_empty_strings),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_packaged),
		cmocka_unit_test(test_files),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * main.c - options, start-up order and exit codes (sysexits, in one
 * place): 0 ok, 64 usage, 78 configuration, 71 the system refused
 * something at start, 1 anything else.
 */
#include <getopt.h>
#include <libconfig.h>
#include <openssl/crypto.h>
#include <openssl/opensslv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "secho/closefrom.h"
#include "secho/config.h"
#include "secho/master.h"
#include "secho/tls.h"
#include "secho/tlsmem.h"

#ifndef SECHO_VERSION
#define SECHO_VERSION "0.0.0"
#endif

#define EXIT_USAGE	64
#define EXIT_CONFIG	78

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: secho [-c FILE] [-f] [-e] [-t] [-V] [-h]\n"
	    "  -c, --config FILE   configuration file (default %s)\n"
	    "  -f, --foreground    do not daemonize\n"
	    "  -e, --stderr        also write every log line to standard error\n"
	    "  -t, --check         validate the configuration, certificates and keys, then exit\n"
	    "  -V, --version       print the version and exit\n"
	    "  -h, --help          print this help and exit\n",
	    SECHO_DEFAULT_CONFIG);
}

static void
version(void)
{
	printf("secho %s\n", SECHO_VERSION);
	printf("OpenSSL: %s (built with %s)\n",
	    OpenSSL_version(OPENSSL_VERSION), OPENSSL_VERSION_TEXT);
	printf("libconfig: %d.%d.%d\n", LIBCONFIG_VER_MAJOR,
	    LIBCONFIG_VER_MINOR, LIBCONFIG_VER_REVISION);
}

/*
 * Print each line of text (with head before it) unless printed before:
 * listeners that share a file share its problems, said once.
 */
static void
say_once(const char *head, const char *text, char **seen)
{
	const char *p = text, *nl;
	char line[1100], *ns;
	size_t n, have;

	while (*p) {
		nl = strchr(p, '\n');
		n = nl ? (size_t)(nl - p) : strlen(p);
		snprintf(line, sizeof(line), "%s%.*s\n", head, (int)n, p);
		p += n + (nl != NULL);
		if (*seen != NULL && strstr(*seen, line) != NULL)
			continue;
		fprintf(stderr, "secho: %s", line);
		have = *seen ? strlen(*seen) : 0;
		if ((ns = realloc(*seen, have + strlen(line) + 1)) != NULL) {
			memcpy(ns + have, line, strlen(line) + 1);
			*seen = ns;
		}
	}
}

/* -t: the same load path as a start, certificates and keys included. */
static int
check_config(const char *path, struct secho_config *cfg)
{
	const struct tls_config *tc;
	struct tls_server *ts;
	char err[1024], warn[4096], *seen = NULL;
	size_t i;
	int bad = 0;

	for (i = 0; i < cfg->nlisteners; i++) {
		if (!config_proto_is_tls(cfg->listeners[i].lc_proto))
			continue;
		tc = &cfg->listeners[i].lc_tls;
		if (tc->tc_keylog_file != NULL &&
		    tls_keylog_check(tc->tc_keylog_file, err,
		    sizeof(err)) == -1) {
			snprintf(warn, sizeof(warn), "%s:%d: tls.keylog_file: "
			    "%s", cfg->file, tc->tc_keylog_line, err);
			say_once("", warn, &seen);
			bad = 1;
		}
		ts = tls_server_new_proto(tc, cfg->listeners[i].lc_proto,
		    cfg->file, err, sizeof(err));
		if (ts == NULL) {
			say_once("", err, &seen);
			bad = 1;
			continue;
		}
		tls_server_warnings(ts, warn, sizeof(warn));
		say_once("warning: ", warn, &seen);
		tls_server_free(ts);
	}
	free(seen);
	if (bad)
		return EXIT_CONFIG;
	printf("secho: configuration %s is valid\n", path);
	return 0;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "config",	required_argument,	NULL, 'c' },
		{ "foreground",	no_argument,		NULL, 'f' },
		{ "stderr",	no_argument,		NULL, 'e' },
		{ "check",	no_argument,		NULL, 't' },
		{ "version",	no_argument,		NULL, 'V' },
		{ "help",	no_argument,		NULL, 'h' },
		{ NULL,		0,			NULL, 0 }
	};
	struct master_opts opts;
	struct secho_config *cfg = NULL;
	char *errs = NULL;
	int ch, check = 0, rc;

	/*
	 * Descriptors inherited from whoever started us (a shell, a script,
	 * a supervisor) are none of ours, and every connection's process
	 * would carry them on: all but stdio go before anything is opened.
	 */
	close_from(3);
	/* Before OpenSSL's first allocation (tlsmem.c says why). */
	(void)tlsmem_init();
	memset(&opts, 0, sizeof(opts));
	opts.mo_config = SECHO_DEFAULT_CONFIG;
	while ((ch = getopt_long(argc, argv, "c:fetVh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			opts.mo_config = optarg;
			break;
		case 'f':
			opts.mo_foreground = 1;
			break;
		case 'e':
			opts.mo_stderr = 1;
			break;
		case 't':
			check = 1;
			break;
		case 'V':
			version();
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "secho: unexpected argument \"%s\"\n",
		    argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}

	tls_global_init();
	if (config_load(opts.mo_config, &cfg, &errs) == -1) {
		char *line, *save = NULL;
		for (line = strtok_r(errs, "\n", &save); line;
		    line = strtok_r(NULL, "\n", &save))
			fprintf(stderr, "secho: %s\n", line);
		free(errs);
		return EXIT_CONFIG;
	}
	if (check) {
		rc = check_config(opts.mo_config, cfg);
		config_free(cfg);
		return rc;
	}
	return master_main(&opts, cfg);
}

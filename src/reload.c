/*
 * reload.c - SIGHUP: a new generation (configuration, TLS contexts,
 * privileges) and listener set, built whole beside the running one; a
 * failure at any step logs "reload result=failed" and leaves the running
 * one untouched.  On success, sockets that did not change are kept, the
 * TLS engine is renewed (the old one drains its connections), UDP
 * workers are replaced.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "secho/clock.h"
#include "secho/listen.h"
#include "secho/log.h"
#include "secho/master.h"
#include "secho/notify.h"
#include "secho/tls.h"

void
generation_free(struct generation *g)
{
	size_t i;

	if (g->g_tls != NULL && g->g_cfg != NULL)
		for (i = 0; i < g->g_cfg->nlisteners; i++)
			tls_server_free(g->g_tls[i]);
	free(g->g_tls);
	g->g_tls = NULL;
	tls_keylogs_close(&g->g_keylogs);
	config_free(g->g_cfg);
	g->g_cfg = NULL;
	privs_free(&g->g_privs);
}

/*
 * Log each warning line of warn not logged before in this build (*seen:
 * those logged, one per line): listeners that share a file share its
 * warnings, said once.
 */
static void
warn_once(const char *warn, char **seen)
{
	char line[1024], *ns;
	const char *p = warn, *nl;
	size_t n, have;

	while (*p) {
		nl = strchr(p, '\n');
		n = nl ? (size_t)(nl - p) : strlen(p);
		snprintf(line, sizeof(line), "%.*s\n", (int)n, p);
		p += n + (nl != NULL);
		if (*seen != NULL && strstr(*seen, line) != NULL)
			continue;
		log_warnx("%.*s", (int)n, line);
		have = *seen ? strlen(*seen) : 0;
		if ((ns = realloc(*seen, have + strlen(line) + 1)) != NULL) {
			memcpy(ns + have, line, strlen(line) + 1);
			*seen = ns;
		}
	}
}

/*
 * The contexts of every tls listener of g's configuration, and the key
 * log files they write to (each opened once).  0, or -1 and err.
 */
int
generation_tls_build(struct generation *g, char *err, size_t errlen)
{
	const struct secho_config *cfg = g->g_cfg;
	const struct tls_config *tc;
	char warn[4096], *seen = NULL;
	size_t i;
	int fd;

	g->g_tls = calloc(cfg->nlisteners ? cfg->nlisteners : 1,
	    sizeof(*g->g_tls));
	if (g->g_tls == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < cfg->nlisteners; i++) {
		if (!config_proto_is_tls(cfg->listeners[i].lc_proto))
			continue;
		tc = &cfg->listeners[i].lc_tls;
		g->g_tls[i] = tls_server_new_proto(tc,
		    cfg->listeners[i].lc_proto, cfg->file, err, errlen);
		if (g->g_tls[i] == NULL)
			goto fail;
		tls_server_warnings(g->g_tls[i], warn, sizeof(warn));
		if (warn[0])
			warn_once(warn, &seen);
		if (tc->tc_keylog_file == NULL)
			continue;
		if ((fd = tls_keylogs_open(&g->g_keylogs, tc->tc_keylog_file,
		    warn, sizeof(warn))) == -1) {
			snprintf(err, errlen, "%s:%d: tls.keylog_file: %s",
			    cfg->file, tc->tc_keylog_line, warn);
			goto fail;
		}
		tls_server_set_keylog(g->g_tls[i], fd);
	}
	free(seen);
	return 0;
fail:
	free(seen);
	return -1;
}

/* Every start and reload, while secrets go to a file: say so. */
void
generation_log_keylogs(const struct generation *g)
{
	struct logline ll;
	size_t i;

	for (i = 0; i < g->g_keylogs.kl_count; i++) {
		log_begin(&ll, LOG_WARNING, "keylog");
		log_kv(&ll, "file", g->g_keylogs.kl_paths[i]);
		log_end(&ll);
	}
}

static void
log_reload(const char *result, const char *error)
{
	struct logline ll;

	log_begin(&ll, LOG_NOTICE, "reload");
	log_kv(&ll, "result", result);
	if (error)
		log_kv(&ll, "error", error);
	log_end(&ll);
}

/* The configuration's errors in one log value: the first and a count. */
static void
summary(char *errs, char *out, size_t len)
{
	size_t n = 0;
	char *p;

	for (p = errs; p && *p; p++)
		n += *p == '\n';
	if (errs && (p = strchr(errs, '\n')) != NULL)
		*p = '\0';
	if (n > 1)
		snprintf(out, len, "%s (and %zu more)", errs ? errs : "?",
		    n - 1);
	else
		snprintf(out, len, "%s", errs ? errs : "?");
}

void
reload(struct master *m)
{
	struct generation ng, og;
	struct listener_set nls, ols;
	struct engine_ref *e;
	char *errs = NULL, err[1024], warn[512];
	size_t i;
	int tcp = 0;

	notify_send("RELOADING=1");
	memset(&ng, 0, sizeof(ng));
	warn[0] = '\0';
	if (config_load(m->opts->mo_config, &ng.g_cfg, &errs) == -1) {
		summary(errs, err, sizeof(err));
		free(errs);
		goto failed;
	}
	if (privs_resolve(ng.g_cfg, &ng.g_privs, err, sizeof(err), warn,
	    sizeof(warn)) == -1 ||
	    generation_tls_build(&ng, err, sizeof(err)) == -1 ||
	    listen_build(ng.g_cfg, &m->ls, &nls, err, sizeof(err)) != 0)
		goto failed;

	/* Committed: nothing below can fail the reload. */
	ng.g_serial = m->gen.g_serial + 1;
	og = m->gen;
	ols = m->ls;
	m->gen = ng;
	m->ls = nls;
	master_apply_log(m);
	if (warn[0])
		log_warnx("%s", warn);
	generation_log_keylogs(&m->gen);
	/* New keys, then a new TLS engine that has them; the old drains. */
	tls_rotate_keys();
	engines_renew_tls(m, 0);
	for (i = 0; i < m->ls.ls_count; i++)
		tcp |= m->ls.ls_items[i].l_proto == SECHO_PROTO_TCP;
	if (!tcp && (e = engines_current(m, SECHO_PROTO_TCP)) != NULL)
		engines_drain(m, e);
	m->kind_tcp.ek_failures = m->kind_tls.ek_failures = 0;
	m->kind_dtls.ek_failures = 0;
	engines_due(m, clock_ms());	/* the first plain TCP listener */
	workers_reload(m, &ols);
	listen_free(&ols);
	generation_free(&og);
	for (i = 0; i < m->ls.ls_count; i++)
		if (!m->ls.ls_items[i].l_reused)
			master_log_listening(&m->ls.ls_items[i]);
	log_reload("ok", NULL);
	notify_send("READY=1");
	return;
failed:
	generation_free(&ng);
	log_reload("failed", err);
	notify_send("READY=1");
}

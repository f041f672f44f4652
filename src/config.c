/*
 * config.c - libconfig file -> struct secho_config.
 *
 * Defaults first, then the file, then validation.  Every setting is known
 * to a table below; anything else is an error.  Errors are collected as
 * "FILE:LINE: message" lines and all of them are reported (OpenBSD
 * parse.y's error counter; stunnel's options.c phases).  Every string is
 * copied before config_destroy(), which frees libconfig's own.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>

#include <libconfig.h>

#include "secho/addr.h"
#include "secho/config.h"

#include "secho/config_int.h"

/* Identity of a listener for the duplicate check. */
struct lkey {
	int		 lk_ok;		/* complete and valid */
	int		 lk_proto;
	int		 lk_family;	/* AF_INET, AF_INET6, 0 for a name */
	unsigned char	 lk_addr[16];
	const char	*lk_text;	/* address as written (zone, name) */
	int		 lk_port;
	int		 lk_line;
};

static const struct enumval facilities[] = {
	{ "auth", LOG_AUTH }, { "authpriv", LOG_AUTHPRIV },
	{ "cron", LOG_CRON }, { "daemon", LOG_DAEMON }, { "ftp", LOG_FTP },
	{ "kern", LOG_KERN }, { "lpr", LOG_LPR }, { "mail", LOG_MAIL },
	{ "news", LOG_NEWS }, { "syslog", LOG_SYSLOG }, { "user", LOG_USER },
	{ "uucp", LOG_UUCP },
	{ "local0", LOG_LOCAL0 }, { "local1", LOG_LOCAL1 },
	{ "local2", LOG_LOCAL2 }, { "local3", LOG_LOCAL3 },
	{ "local4", LOG_LOCAL4 }, { "local5", LOG_LOCAL5 },
	{ "local6", LOG_LOCAL6 }, { "local7", LOG_LOCAL7 },
	{ NULL, 0 }
};

static const struct enumval levels[] = {
	{ "err", LOG_ERR }, { "warning", LOG_WARNING },
	{ "notice", LOG_NOTICE }, { "info", LOG_INFO }, { "debug", LOG_DEBUG },
	{ NULL, 0 }
};

static const struct enumval protos[] = {
	{ "tcp", SECHO_PROTO_TCP }, { "udp", SECHO_PROTO_UDP },
	{ "tls", SECHO_PROTO_TLS }, { "dtls", SECHO_PROTO_DTLS },
	{ NULL, 0 }
};

static const struct field daemon_fields[] = {
	FSTR("user", K_OPTSTRING, struct secho_config, user),
	FSTR("group", K_OPTSTRING, struct secho_config, group),
	FSTR("pidfile", K_OPTSTRING, struct secho_config, pidfile),
	FSTR("chroot", K_OPTSTRING, struct secho_config, chroot_dir),
	FINT("shutdown_timeout", struct secho_config, shutdown_timeout, 0, 3600),
};

static const struct field log_fields[] = {
	FSTR("ident", K_STRING, struct secho_config, log_ident),
	FENUM("facility", struct secho_config, log_facility, facilities,
	    "auth, authpriv, cron, daemon, ftp, kern, lpr, mail, news, "
	    "syslog, user, uucp, local0..local7"),
	FENUM("level", struct secho_config, log_level, levels,
	    "err, warning, notice, info, debug"),
	FBOOL("stderr", struct secho_config, log_stderr),
};

static const struct field limits_fields[] = {
	FINT("max_connections", struct secho_config, max_connections,
	    1, 1000000),
	FINT("max_connections_per_host", struct secho_config, max_per_host,
	    1, 1000000),
	FINT("idle_timeout", struct secho_config, idle_timeout, 1, 86400),
	FINT("handshake_timeout", struct secho_config, handshake_timeout,
	    1, 3600),
	FINT("udp_rate_per_host", struct secho_config, udp_rate_per_host,
	    0, 1000000),
};

static const struct field listener_fields[] = {
	FENUM("proto", struct listener_config, lc_proto, protos,
	    "tcp, udp, tls, dtls"),
	FSTR("address", K_STRING, struct listener_config, lc_address),
	FINT("port", struct listener_config, lc_port, 1, 65535),
	FBOOL("proxy_protocol", struct listener_config, lc_proxy_protocol),
	FOTHER("tls"),
	FOTHER("allow"),
	FOTHER("deny"),
};
#define LF_PROTO	(1u << 0)
#define LF_ADDRESS	(1u << 1)
#define LF_PORT		(1u << 2)

/* ---- error collection ---- */

static void eb_vadd(struct errbuf *eb, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
eb_vadd(struct errbuf *eb, const char *fmt, va_list ap)
{
	va_list aq;
	size_t need;
	char *nb;
	int n;

	eb->eb_count++;
	if (eb->eb_oom)
		return;
	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0) {
		eb->eb_oom = 1;
		return;
	}
	need = eb->eb_len + (size_t)n + 2;
	if (need > eb->eb_cap) {
		size_t cap = eb->eb_cap ? eb->eb_cap : 256;

		while (cap < need)
			cap *= 2;
		if ((nb = realloc(eb->eb_buf, cap)) == NULL) {
			eb->eb_oom = 1;
			return;
		}
		eb->eb_buf = nb;
		eb->eb_cap = cap;
	}
	vsnprintf(eb->eb_buf + eb->eb_len, (size_t)n + 1, fmt, ap);
	eb->eb_len += (size_t)n;
	eb->eb_buf[eb->eb_len++] = '\n';
	eb->eb_buf[eb->eb_len] = '\0';
}

static void eb_add(struct errbuf *eb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
eb_add(struct errbuf *eb, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	eb_vadd(eb, fmt, ap);
	va_end(ap);
}

/* Name for messages of a file libconfig reports (NULL = the main file). */
static const char *
src_name(struct ctx *c, const char *file)
{
	if (file == NULL)
		return c->c_name;
	if (file[0] == '/' || c->c_incdir == NULL)
		return file;
	snprintf(c->c_file, sizeof(c->c_file), "%s/%s", c->c_incdir, file);
	return c->c_file;
}

/* Report "FILE:LINE: message" for setting s ("FILE: message" without s). */
void
cfg_err(struct ctx *c, const config_setting_t *s, const char *fmt, ...)
{
	char msg[512 + QUOTE_MAX * 4];
	va_list ap;
	int line = s ? (int)config_setting_source_line(s) : 0;
	const char *file = src_name(c, s ? config_setting_source_file(s) : NULL);

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		eb_add(&c->c_err, "%s:%d: %s", file, line, msg);
	else
		eb_add(&c->c_err, "%s: %s", file, msg);
}

/* s with quotes and non-printable bytes escaped, shortened; for messages. */
const char *
cfg_quote(struct ctx *c, const char *s)
{
	char *o = c->c_quote;
	size_t i;

	for (i = 0; s[i] != '\0' && i < QUOTE_MAX; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch == '"' || ch == '\\') {
			*o++ = '\\';
			*o++ = (char)ch;
		} else if (ch < 0x20 || ch >= 0x7f) {
			o += sprintf(o, "\\x%02x", ch);
		} else
			*o++ = (char)ch;
	}
	if (s[i] != '\0') {
		memcpy(o, "...", 3);
		o += 3;
	}
	*o = '\0';
	return c->c_quote;
}

/* out = "prefix.name" (or "name"), shortened to fit (names are short). */
void
cfg_join(char *out, size_t len, const char *prefix, const char *name)
{
	int n;

	if (prefix == NULL || *prefix == '\0')
		n = snprintf(out, len, "%s", name);
	else
		n = snprintf(out, len, "%s.%s", prefix, name);
	if (n < 0)
		out[0] = '\0';
}

/* ---- generic group walker ---- */

static const char *
type_expected(enum kind k)
{
	switch (k) {
	case K_INT:
		return "expected an integer";
	case K_BOOL:
		return "expected a boolean";
	default:
		return "expected a string";
	}
}

static int
enum_lookup(const struct enumval *ev, const char *name, int *value)
{
	for (; ev->ev_name != NULL; ev++)
		if (strcasecmp(ev->ev_name, name) == 0) {
			*value = ev->ev_value;
			return 0;
		}
	return -1;
}

/*
 * Store the value of setting s (described by f, full name path) into base.
 * Returns 0, or -1 after reporting the problem.
 */
static int
parse_value(struct ctx *c, const config_setting_t *s, const char *path,
    const struct field *f, void *base)
{
	char *p = (char *)base + f->f_off;
	const char *str;
	long long v;
	int type = config_setting_type(s), e;

	switch (f->f_kind) {
	case K_STRING:
	case K_OPTSTRING:
	case K_ENUM:
		if (type != CONFIG_TYPE_STRING) {
			cfg_err(c, s, "%s: expected a string", path);
			return -1;
		}
		str = config_setting_get_string(s);
		if (f->f_kind == K_ENUM) {
			if (enum_lookup(f->f_enum, str, &e) == -1) {
				cfg_err(c, s, "%s: \"%s\" is not one of %s", path,
				    cfg_quote(c, str), f->f_enum_list);
				return -1;
			}
			*(int *)(void *)p = e;
			break;
		}
		if (f->f_kind == K_STRING && *str == '\0') {
			cfg_err(c, s, "%s: must not be empty", path);
			return -1;
		}
		free(*(char **)(void *)p);
		*(char **)(void *)p = NULL;
		if (*str != '\0' && (*(char **)(void *)p = strdup(str)) == NULL) {
			c->c_err.eb_oom = 1;
			return -1;
		}
		break;
	case K_INT:
		if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64) {
			cfg_err(c, s, "%s: %s", path, type_expected(f->f_kind));
			return -1;
		}
		v = config_setting_get_int64(s);
		if (v < f->f_min || v > f->f_max) {
			cfg_err(c, s, "%s: %lld is out of range (%lld..%lld)", path,
			    v, f->f_min, f->f_max);
			return -1;
		}
		*(int *)(void *)p = (int)v;
		break;
	case K_BOOL:
		if (type != CONFIG_TYPE_BOOL) {
			cfg_err(c, s, "%s: %s", path, type_expected(f->f_kind));
			return -1;
		}
		*(int *)(void *)p = config_setting_get_bool(s) ? 1 : 0;
		break;
	case K_OTHER:
		break;
	}
	if (f->f_line_off != NOLINE)
		*(int *)(void *)((char *)base + f->f_line_off) =
		    (int)config_setting_source_line(s);
	return 0;
}

/*
 * Walk the members of group g (named prefix) against the table: unknown
 * names and bad values are reported.  *given gets a bit per field index
 * present in the group.  Returns the number of errors.
 */
int
cfg_parse_group(struct ctx *c, const config_setting_t *g, const char *prefix,
    const struct field *fields, size_t nfields, void *base, unsigned *given)
{
	char path[PATH_LEN];
	const config_setting_t *s;
	const char *name;
	int i, n, errors = 0;
	size_t k;

	*given = 0;
	n = config_setting_length(g);
	for (i = 0; i < n; i++) {
		s = config_setting_get_elem(g, (unsigned)i);
		name = config_setting_name(s);
		cfg_join(path, sizeof(path), prefix, name ? name : "?");
		for (k = 0; k < nfields; k++)
			if (name != NULL && strcmp(fields[k].f_name, name) == 0)
				break;
		if (k == nfields) {
			const char *hint = name ? cfg_hint(name, fields,
			    nfields) : NULL;

			cfg_err(c, s, "unknown setting \"%s\"%s%s%s", path,
			    hint ? "; did you mean \"" : "", hint ? hint : "",
			    hint ? "\"?" : "");
			errors++;
			continue;
		}
		*given |= 1u << k;
		if (parse_value(c, s, path, &fields[k], base) == -1)
			errors++;
	}
	return errors;
}

/* Is s a group?  Report when not. */
int
cfg_want_group(struct ctx *c, const config_setting_t *s, const char *path)
{
	if (config_setting_is_group(s))
		return 1;
	cfg_err(c, s, "%s: expected a group", path);
	return 0;
}

/* ---- listeners ---- */

static int
parse_cidrs(struct ctx *c, const config_setting_t *s, const char *path,
    struct cidr_list *l)
{
	const config_setting_t *e;
	const char *text;
	int i, n, errors = 0;

	l->set = 1;
	if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
		cfg_err(c, s, "%s: expected a list or array", path);
		return 1;
	}
	n = config_setting_length(s);
	if (n > 0 && (l->items = calloc((size_t)n, sizeof(*l->items))) == NULL) {
		c->c_err.eb_oom = 1;
		return 1;
	}
	for (i = 0; i < n; i++) {
		e = config_setting_get_elem(s, (unsigned)i);
		if (config_setting_type(e) != CONFIG_TYPE_STRING) {
			cfg_err(c, e, "%s: expected a string", path);
			errors++;
			continue;
		}
		text = config_setting_get_string(e);
		if (addr_parse_cidr(text, &l->items[l->count]) == -1) {
			cfg_err(c, e, "%s: \"%s\" is not an address or CIDR block",
			    path, cfg_quote(c, text));
			errors++;
			continue;
		}
		l->count++;
	}
	return errors;
}

/* Fill k from a valid listener (for the duplicate check). */
static void
lkey_set(struct lkey *k, const struct listener_config *lc)
{
	char buf[INET6_ADDRSTRLEN + 1];
	const char *pct;
	size_t n;

	memset(k, 0, sizeof(*k));
	k->lk_ok = 1;
	k->lk_proto = lc->lc_proto;
	k->lk_port = lc->lc_port;
	k->lk_line = lc->lc_line;
	k->lk_text = lc->lc_address;
	if (inet_pton(AF_INET, lc->lc_address, k->lk_addr) == 1) {
		k->lk_family = AF_INET;
		k->lk_text = "";
		return;
	}
	pct = strchr(lc->lc_address, '%');
	n = pct ? (size_t)(pct - lc->lc_address) : strlen(lc->lc_address);
	if (n < sizeof(buf)) {
		memcpy(buf, lc->lc_address, n);
		buf[n] = '\0';
		if (inet_pton(AF_INET6, buf, k->lk_addr) == 1) {
			k->lk_family = AF_INET6;
			k->lk_text = pct ? pct : "";	/* the zone */
		}
	}
}

/* Host names compare without case and without a trailing dot. */
static int
name_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la > 0 && a[la - 1] == '.')
		la--;
	if (lb > 0 && b[lb - 1] == '.')
		lb--;
	return la == lb && strncasecmp(a, b, la) == 0;
}

static int
lkey_equal(const struct lkey *a, const struct lkey *b)
{
	if (!a->lk_ok || !b->lk_ok || a->lk_proto != b->lk_proto ||
	    a->lk_port != b->lk_port || a->lk_family != b->lk_family)
		return 0;
	if (a->lk_family == 0)
		return name_equal(a->lk_text, b->lk_text);
	return memcmp(a->lk_addr, b->lk_addr,
	    a->lk_family == AF_INET ? 4 : 16) == 0 &&
	    strcmp(a->lk_text, b->lk_text) == 0;
}

static void
listener_clear(struct listener_config *lc)
{
	free(lc->lc_address);
	cfg_tls_clear(&lc->lc_tls);
	free(lc->lc_allow.items);
	free(lc->lc_deny.items);
	memset(lc, 0, sizeof(*lc));
}

/*
 * Parse listener number idx (setting s) into lc; keys[0..idx-1] are the
 * listeners before it, keys[idx] is filled in when this one is valid.
 */
static void
parse_listener(struct ctx *c, const config_setting_t *s, size_t idx,
    struct listener_config *lc, struct lkey *keys)
{
	static const char *const required[] = { "proto", "address", "port" };
	const struct tls_config *global = &c->c_cfg->tls;
	const config_setting_t *m, *tg = NULL;
	struct tls_config ov;
	char path[PATH_LEN], sub[PATH_LEN];
	unsigned given, tgiven = 0;
	int errors, has_tls = 0;
	size_t i;

	memset(&ov, 0, sizeof(ov));
	snprintf(path, sizeof(path), "listeners.[%zu]", idx);
	lc->lc_line = (int)config_setting_source_line(s);
	if (!cfg_want_group(c, s, path))
		return;
	errors = cfg_parse_group(c, s, path, listener_fields,
	    NFIELDS(listener_fields), lc, &given);
	for (i = 0; i < NFIELDS(required); i++)
		if (!(given & (1u << i))) {
			cfg_err(c, s, "%s: missing setting \"%s\"", path,
			    required[i]);
			errors++;
		}

	if (lc->lc_address != NULL && !addr_is_literal(lc->lc_address) &&
	    !addr_is_hostname(lc->lc_address)) {
		m = config_setting_get_member(s, "address");
		cfg_err(c, m, "%s.address: \"%s\" is not an IP address or host name",
		    path, cfg_quote(c, lc->lc_address));
		errors++;
	}
	if ((m = config_setting_get_member(s, "allow")) != NULL) {
		cfg_join(sub, sizeof(sub), path, "allow");
		errors += parse_cidrs(c, m, sub, &lc->lc_allow);
	}
	if ((m = config_setting_get_member(s, "deny")) != NULL) {
		cfg_join(sub, sizeof(sub), path, "deny");
		errors += parse_cidrs(c, m, sub, &lc->lc_deny);
	}
	if ((m = config_setting_get_member(s, "proxy_protocol")) != NULL &&
	    (given & LF_PROTO) && (lc->lc_proto == SECHO_PROTO_UDP ||
	    lc->lc_proto == SECHO_PROTO_DTLS) && lc->lc_proxy_protocol) {
		cfg_err(c, m, "%s.proxy_protocol: not supported on %s listeners",
		    path, config_proto_name(lc->lc_proto));
		errors++;
	}
	if (lc->lc_proxy_protocol &&
	    lc->lc_allow.count + lc->lc_deny.count > SECHO_PROXY_CIDRS_MAX) {
		cfg_err(c, s, "%s: with proxy_protocol, allow and deny hold %zu "
		    "entries; at most %d", path, lc->lc_allow.count +
		    lc->lc_deny.count, SECHO_PROXY_CIDRS_MAX);
		errors++;
	}
	if ((tg = config_setting_get_member(s, "tls")) != NULL) {
		cfg_join(sub, sizeof(sub), path, "tls");
		if (!cfg_want_group(c, tg, sub))
			errors++;
		else {
			has_tls = 1;
			errors += cfg_tls_group(c, tg, sub, &ov, &tgiven);
			if ((given & LF_PROTO) &&
			    !config_proto_is_tls(lc->lc_proto)) {
				cfg_err(c, tg, "%s: a tls group is only allowed "
				    "on tls and dtls listeners", sub);
				errors++;
			}
			/* DTLS is 1.2 only (OpenSSL 3.0): said, not ignored. */
			if ((given & LF_PROTO) &&
			    lc->lc_proto == SECHO_PROTO_DTLS &&
			    (tgiven & TF_MIN_PROTOCOL) &&
			    ov.tc_min_protocol != 0x0303) {
				cfg_err(c, config_setting_get_member(tg,
				    "min_protocol"), "%s.min_protocol: a dtls "
				    "listener serves DTLS 1.2 only (TLSv1.2)",
				    sub);
				errors++;
			}
		}
	}
	if (errors)
		goto out;

	lc->lc_has_tls = has_tls;
	if (config_proto_is_tls(lc->lc_proto)) {
		if (cfg_tls_merge(&lc->lc_tls, global, &ov, tgiven) == -1) {
			c->c_err.eb_oom = 1;
			goto out;
		}
		lc->lc_tls.tc_line = has_tls ?
		    (int)config_setting_source_line(tg) : global->tc_line;
		if (has_tls)
			errors += cfg_tls_check(c, tg, sub, &lc->lc_tls, tgiven);
		/* Inherited from a broken global group: reported there. */
		if (lc->lc_tls.tc_certificate.tf_count == 0 &&
		    (!c->c_tls_bad || (tgiven & TF_CERTIFICATE))) {
			cfg_err(c, s, "%s: %s listener without tls.certificate",
			    path, config_proto_name(lc->lc_proto));
			errors++;
		}
		if (lc->lc_tls.tc_private_key.tf_count == 0 &&
		    (!c->c_tls_bad || (tgiven & TF_PRIVATE_KEY))) {
			cfg_err(c, s, "%s: %s listener without tls.private_key",
			    path, config_proto_name(lc->lc_proto));
			errors++;
		}
	}

	lkey_set(&keys[idx], lc);
	for (i = 0; i < idx; i++)
		if (lkey_equal(&keys[i], &keys[idx])) {
			cfg_err(c, s, "duplicate listener %s %s%s%s:%d "
			    "(first at line %d)", config_proto_name(lc->lc_proto),
			    keys[idx].lk_family == AF_INET6 ? "[" : "",
			    cfg_quote(c, lc->lc_address),
			    keys[idx].lk_family == AF_INET6 ? "]" : "",
			    lc->lc_port, keys[i].lk_line);
			keys[idx].lk_ok = 0;
			break;
		}
out:
	cfg_tls_clear(&ov);
}

static void
parse_listeners(struct ctx *c, const config_setting_t *s)
{
	struct secho_config *cfg = c->c_cfg;
	struct lkey *keys = NULL;
	int n;
	size_t i;

	if (!config_setting_is_list(s) && !config_setting_is_array(s)) {
		cfg_err(c, s, "listeners: expected a list");
		return;
	}
	n = config_setting_length(s);
	if (n == 0) {
		cfg_err(c, s, "no listeners configured");
		return;
	}
	cfg->listeners = calloc((size_t)n, sizeof(*cfg->listeners));
	keys = calloc((size_t)n, sizeof(*keys));
	if (cfg->listeners == NULL || keys == NULL) {
		c->c_err.eb_oom = 1;
		goto out;
	}
	cfg->nlisteners = (size_t)n;
	for (i = 0; i < (size_t)n; i++)
		parse_listener(c, config_setting_get_elem(s, (unsigned)i), i,
		    &cfg->listeners[i], keys);
out:
	free(keys);
}

/* ---- top level ---- */

static int
set_defaults(struct secho_config *cfg)
{
	cfg->shutdown_timeout = SECHO_DEFAULT_SHUTDOWN_TIMEOUT;
	cfg->log_facility = LOG_DAEMON;
	cfg->log_level = LOG_INFO;
	cfg->log_stderr = 0;
	cfg->max_connections = SECHO_DEFAULT_MAX_CONN;
	cfg->max_per_host = SECHO_DEFAULT_MAX_PER_HOST;
	cfg->idle_timeout = SECHO_DEFAULT_IDLE_TIMEOUT;
	cfg->handshake_timeout = SECHO_DEFAULT_HANDSHAKE_TIMEOUT;
	cfg->udp_rate_per_host = SECHO_DEFAULT_UDP_RATE;
	if ((cfg->log_ident = strdup(SECHO_DEFAULT_IDENT)) == NULL)
		return -1;
	return cfg_tls_defaults(&cfg->tls);
}

/* The top-level groups, for "did you mean". */
static const struct field root_names[] = {
	FOTHER("daemon"), FOTHER("log"), FOTHER("limits"), FOTHER("tls"),
	FOTHER("listeners"),
};

static void
parse_root(struct ctx *c, const config_setting_t *root)
{
	struct secho_config *cfg = c->c_cfg;
	const config_setting_t *s, *listeners = NULL;
	const char *name;
	unsigned given;
	int i, n;

	/* The global tls group first: listeners inherit from it. */
	if ((s = config_setting_get_member(root, "tls")) != NULL) {
		if (!cfg_want_group(c, s, "tls"))
			c->c_tls_bad = 1;
		else {
			cfg->tls.tc_line = (int)config_setting_source_line(s);
			if (cfg_tls_group(c, s, "tls", &cfg->tls, &given) != 0)
				c->c_tls_bad = 1;
			else if (cfg_tls_check(c, s, "tls", &cfg->tls,
			    ~0u) != 0)
				c->c_tls_bad = 1;
		}
	}

	n = config_setting_length(root);
	for (i = 0; i < n; i++) {
		s = config_setting_get_elem(root, (unsigned)i);
		name = config_setting_name(s);
		if (name == NULL)
			continue;
		if (strcmp(name, "tls") == 0)
			continue;
		if (strcmp(name, "listeners") == 0) {
			listeners = s;
			parse_listeners(c, s);
		} else if (strcmp(name, "daemon") == 0) {
			if (cfg_want_group(c, s, name))
				cfg_parse_group(c, s, name, daemon_fields,
				    NFIELDS(daemon_fields), cfg, &given);
		} else if (strcmp(name, "log") == 0) {
			if (cfg_want_group(c, s, name))
				cfg_parse_group(c, s, name, log_fields,
				    NFIELDS(log_fields), cfg, &given);
		} else if (strcmp(name, "limits") == 0) {
			if (cfg_want_group(c, s, name))
				cfg_parse_group(c, s, name, limits_fields,
				    NFIELDS(limits_fields), cfg, &given);
		} else {
			const char *hint = cfg_hint(name, root_names,
			    NFIELDS(root_names));

			cfg_err(c, s, "unknown setting \"%s\"%s%s%s", name,
			    hint ? "; did you mean \"" : "", hint ? hint : "",
			    hint ? "\"?" : "");
		}
	}
	if (listeners == NULL)
		cfg_err(c, NULL, "no listeners configured");
}

int
config_load_text(const char *text, const char *name, const char *incdir,
    struct secho_config **cfgp, char **errp)
{
	struct ctx *c = NULL;
	struct secho_config *cfg = NULL;
	config_t lc;
	int rc = -1, inited = 0;

	*cfgp = NULL;
	*errp = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (cfg = calloc(1, sizeof(*cfg))) == NULL)
		goto oom;
	c->c_name = name;
	c->c_incdir = incdir;
	c->c_cfg = cfg;
	if ((cfg->file = strdup(name)) == NULL || set_defaults(cfg) == -1)
		goto oom;

	config_init(&lc);
	inited = 1;
	config_set_options(&lc,
	    config_get_options(&lc) & ~CONFIG_OPTION_AUTOCONVERT);
	if (incdir != NULL)
		config_set_include_dir(&lc, incdir);
	if (config_read_string(&lc, text) != CONFIG_TRUE) {
		const char *f = src_name(c, config_error_file(&lc));

		if (config_error_line(&lc) > 0)
			eb_add(&c->c_err, "%s:%d: %s", f,
			    config_error_line(&lc), config_error_text(&lc));
		else
			eb_add(&c->c_err, "%s: %s", f, config_error_text(&lc));
	} else
		parse_root(c, config_root_setting(&lc));

	if (c->c_err.eb_oom)
		goto oom;
	if (c->c_err.eb_count > 0) {
		*errp = c->c_err.eb_buf;
		c->c_err.eb_buf = NULL;
		goto out;
	}
	*cfgp = cfg;
	cfg = NULL;
	rc = 0;
	goto out;

oom:
	if (asprintf(errp, "%s: out of memory\n", name) == -1)
		*errp = NULL;
out:
	if (inited)
		config_destroy(&lc);
	if (c != NULL)
		free(c->c_err.eb_buf);
	free(c);
	config_free(cfg);
	return rc;
}

int
config_load_string(const char *text, const char *name,
    struct secho_config **cfgp, char **errp)
{
	return config_load_text(text, name, NULL, cfgp, errp);
}

void
config_free(struct secho_config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	free(cfg->file);
	free(cfg->user);
	free(cfg->group);
	free(cfg->pidfile);
	free(cfg->chroot_dir);
	free(cfg->log_ident);
	cfg_tls_clear(&cfg->tls);
	for (i = 0; i < cfg->nlisteners; i++)
		listener_clear(&cfg->listeners[i]);
	free(cfg->listeners);
	free(cfg);
}

int
config_facility_by_name(const char *name)
{
	int v;

	if (name == NULL || enum_lookup(facilities, name, &v) == -1)
		return -1;
	return v;
}

int
config_level_by_name(const char *name)
{
	int v;

	if (name == NULL || enum_lookup(levels, name, &v) == -1)
		return -1;
	return v;
}

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

#define TLS_V12		0x0303
#define TLS_V13		0x0304

/* Longest dotted setting path kept in messages ("listeners.[12].tls.x"). */
#define PATH_LEN	128

/* Longest quoted value shown in a message. */
#define QUOTE_MAX	200

/* Growing buffer of "FILE:LINE: message\n" lines. */
struct errbuf {
	char	*eb_buf;
	size_t	 eb_len;
	size_t	 eb_cap;
	int	 eb_count;
	int	 eb_oom;
};

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

struct ctx {
	const char		*c_name;	/* file name for messages */
	const char		*c_incdir;	/* include directory or NULL */
	struct secho_config	*c_cfg;
	struct errbuf		 c_err;
	int			 c_tls_bad;	/* global tls group had errors */
	char			 c_file[PATH_MAX];	/* scratch for names */
	char			 c_quote[QUOTE_MAX * 4 + 8];
};

enum kind {
	K_STRING,	/* non-empty string */
	K_OPTSTRING,	/* string; "" means unset (NULL) */
	K_INT,
	K_BOOL,
	K_ENUM,
	K_OTHER		/* known here, parsed by the caller */
};

struct enumval {
	const char	*ev_name;
	int		 ev_value;
};

struct field {
	const char		*f_name;
	enum kind		 f_kind;
	ptrdiff_t		 f_off;		/* into the target struct */
	long long		 f_min, f_max;	/* K_INT */
	const struct enumval	*f_enum;	/* K_ENUM, NULL-terminated */
	const char		*f_enum_list;	/* K_ENUM, for messages */
	ptrdiff_t		 f_line_off;	/* int line store, or -1 */
};

#define NOLINE	(-1)
#define FSTR(n, k, type, m)	{ n, k, offsetof(type, m), 0, 0, NULL, NULL, NOLINE }
#define FSTRL(n, k, type, m, l)	{ n, k, offsetof(type, m), 0, 0, NULL, NULL, offsetof(type, l) }
#define FINT(n, type, m, lo, hi) { n, K_INT, offsetof(type, m), lo, hi, NULL, NULL, NOLINE }
#define FBOOL(n, type, m)	{ n, K_BOOL, offsetof(type, m), 0, 0, NULL, NULL, NOLINE }
#define FENUM(n, type, m, e, l)	{ n, K_ENUM, offsetof(type, m), 0, 0, e, l, NOLINE }
#define FOTHER(n)		{ n, K_OTHER, 0, 0, 0, NULL, NULL, NOLINE }
#define NFIELDS(t)		(sizeof(t) / sizeof((t)[0]))

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
	{ "tls", SECHO_PROTO_TLS },
	{ NULL, 0 }
};

static const struct enumval verifies[] = {
	{ "none", SECHO_VERIFY_NONE }, { "optional", SECHO_VERIFY_OPTIONAL },
	{ "require", SECHO_VERIFY_REQUIRE },
	{ NULL, 0 }
};

static const struct enumval tls_versions[] = {
	{ "TLSv1.2", TLS_V12 }, { "TLSv1.3", TLS_V13 },
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

/* Order matters: indexes are the bits of the "given" mask (TF_*). */
static const struct field tls_fields[] = {
	FSTRL("certificate", K_OPTSTRING, struct tls_config, tc_certificate,
	    tc_certificate_line),
	FSTRL("private_key", K_OPTSTRING, struct tls_config, tc_private_key,
	    tc_private_key_line),
	FSTRL("client_ca", K_OPTSTRING, struct tls_config, tc_client_ca,
	    tc_client_ca_line),
	FENUM("verify_client", struct tls_config, tc_verify_client, verifies,
	    "none, optional, require"),
	FENUM("min_protocol", struct tls_config, tc_min_protocol,
	    tls_versions, "TLSv1.2, TLSv1.3"),
	FSTR("ciphers", K_OPTSTRING, struct tls_config, tc_ciphers),
	FSTR("ciphersuites", K_OPTSTRING, struct tls_config, tc_ciphersuites),
	FSTR("groups", K_OPTSTRING, struct tls_config, tc_groups),
	FBOOL("session_tickets", struct tls_config, tc_session_tickets),
};
#define TF_CERTIFICATE	(1u << 0)
#define TF_PRIVATE_KEY	(1u << 1)
#define TF_CLIENT_CA	(1u << 2)
#define TF_VERIFY	(1u << 3)

static const struct field listener_fields[] = {
	FENUM("proto", struct listener_config, lc_proto, protos,
	    "tcp, udp, tls"),
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

static void cerr(struct ctx *c, const config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Report "FILE:LINE: message" for setting s ("FILE: message" without s). */
static void
cerr(struct ctx *c, const config_setting_t *s, const char *fmt, ...)
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
static const char *
quote(struct ctx *c, const char *s)
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
static void
join(char *out, size_t len, const char *prefix, const char *name)
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
			cerr(c, s, "%s: expected a string", path);
			return -1;
		}
		str = config_setting_get_string(s);
		if (f->f_kind == K_ENUM) {
			if (enum_lookup(f->f_enum, str, &e) == -1) {
				cerr(c, s, "%s: \"%s\" is not one of %s", path,
				    quote(c, str), f->f_enum_list);
				return -1;
			}
			*(int *)(void *)p = e;
			break;
		}
		if (f->f_kind == K_STRING && *str == '\0') {
			cerr(c, s, "%s: must not be empty", path);
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
			cerr(c, s, "%s: %s", path, type_expected(f->f_kind));
			return -1;
		}
		v = config_setting_get_int64(s);
		if (v < f->f_min || v > f->f_max) {
			cerr(c, s, "%s: %lld is out of range (%lld..%lld)", path,
			    v, f->f_min, f->f_max);
			return -1;
		}
		*(int *)(void *)p = (int)v;
		break;
	case K_BOOL:
		if (type != CONFIG_TYPE_BOOL) {
			cerr(c, s, "%s: %s", path, type_expected(f->f_kind));
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
static int
parse_group(struct ctx *c, const config_setting_t *g, const char *prefix,
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
		join(path, sizeof(path), prefix, name ? name : "?");
		for (k = 0; k < nfields; k++)
			if (name != NULL && strcmp(fields[k].f_name, name) == 0)
				break;
		if (k == nfields) {
			cerr(c, s, "unknown setting \"%s\"", path);
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
static int
want_group(struct ctx *c, const config_setting_t *s, const char *path)
{
	if (config_setting_is_group(s))
		return 1;
	cerr(c, s, "%s: expected a group", path);
	return 0;
}

/* ---- tls ---- */

static void
tls_clear(struct tls_config *tc)
{
	free(tc->tc_certificate);
	free(tc->tc_private_key);
	free(tc->tc_client_ca);
	free(tc->tc_ciphers);
	free(tc->tc_ciphersuites);
	free(tc->tc_groups);
	memset(tc, 0, sizeof(*tc));
}

static int
dup_opt(char **dst, const char *src)
{
	*dst = NULL;
	if (src != NULL && (*dst = strdup(src)) == NULL)
		return -1;
	return 0;
}

static int
tls_defaults(struct tls_config *tc)
{
	memset(tc, 0, sizeof(*tc));
	tc->tc_verify_client = SECHO_VERIFY_NONE;
	tc->tc_min_protocol = TLS_V12;
	tc->tc_session_tickets = 1;
	if (dup_opt(&tc->tc_ciphers, SECHO_DEFAULT_CIPHERS) == -1 ||
	    dup_opt(&tc->tc_ciphersuites, SECHO_DEFAULT_CIPHERSUITES) == -1 ||
	    dup_opt(&tc->tc_groups, SECHO_DEFAULT_GROUPS) == -1)
		return -1;
	return 0;
}

/*
 * out = global, overridden by the fields of ov given in mask (their strings
 * move from ov to out).  Returns 0 or -1 when out of memory.
 */
static int
tls_merge(struct tls_config *out, const struct tls_config *global,
    struct tls_config *ov, unsigned mask)
{
	size_t k;

	memset(out, 0, sizeof(*out));
	for (k = 0; k < NFIELDS(tls_fields); k++) {
		const struct field *f = &tls_fields[k];
		const struct tls_config *from = (mask & (1u << k)) ? ov : global;
		char *dst = (char *)out + f->f_off;
		const char *src = (const char *)from + f->f_off;

		if (f->f_kind == K_OPTSTRING) {
			if (from == ov) {
				*(char **)(void *)dst = *(char *const *)(const void *)src;
				*(char **)(void *)((char *)ov + f->f_off) = NULL;
			} else if (dup_opt((char **)(void *)dst,
			    *(char *const *)(const void *)src) == -1)
				return -1;
		} else
			*(int *)(void *)dst = *(const int *)(const void *)src;
		if (f->f_line_off != NOLINE)
			*(int *)(void *)((char *)out + f->f_line_off) =
			    *(const int *)(const void *)((const char *)from +
			    f->f_line_off);
	}
	return 0;
}

/*
 * verify_client optional/require needs client_ca.  g is the tls group the
 * combination was written in, path its name.
 */
static int
check_verify(struct ctx *c, const config_setting_t *g, const char *path,
    const struct tls_config *tc)
{
	const config_setting_t *s;

	if (tc->tc_verify_client == SECHO_VERIFY_NONE || tc->tc_client_ca)
		return 0;
	if ((s = config_setting_get_member(g, "verify_client")) == NULL &&
	    (s = config_setting_get_member(g, "client_ca")) == NULL)
		s = g;
	cerr(c, s, "%s.verify_client: \"%s\" needs %s.client_ca", path,
	    verifies[tc->tc_verify_client].ev_name, path);
	return 1;
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
		cerr(c, s, "%s: expected a list or array", path);
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
			cerr(c, e, "%s: expected a string", path);
			errors++;
			continue;
		}
		text = config_setting_get_string(e);
		if (addr_parse_cidr(text, &l->items[l->count]) == -1) {
			cerr(c, e, "%s: \"%s\" is not an address or CIDR block",
			    path, quote(c, text));
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
	tls_clear(&lc->lc_tls);
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
	if (!want_group(c, s, path))
		return;
	errors = parse_group(c, s, path, listener_fields,
	    NFIELDS(listener_fields), lc, &given);
	for (i = 0; i < NFIELDS(required); i++)
		if (!(given & (1u << i))) {
			cerr(c, s, "%s: missing setting \"%s\"", path,
			    required[i]);
			errors++;
		}

	if (lc->lc_address != NULL && !addr_is_literal(lc->lc_address) &&
	    !addr_is_hostname(lc->lc_address)) {
		m = config_setting_get_member(s, "address");
		cerr(c, m, "%s.address: \"%s\" is not an IP address or host name",
		    path, quote(c, lc->lc_address));
		errors++;
	}
	if ((m = config_setting_get_member(s, "allow")) != NULL) {
		join(sub, sizeof(sub), path, "allow");
		errors += parse_cidrs(c, m, sub, &lc->lc_allow);
	}
	if ((m = config_setting_get_member(s, "deny")) != NULL) {
		join(sub, sizeof(sub), path, "deny");
		errors += parse_cidrs(c, m, sub, &lc->lc_deny);
	}
	if ((m = config_setting_get_member(s, "proxy_protocol")) != NULL &&
	    (given & LF_PROTO) && lc->lc_proto == SECHO_PROTO_UDP &&
	    lc->lc_proxy_protocol) {
		cerr(c, m, "%s.proxy_protocol: not supported on udp listeners",
		    path);
		errors++;
	}
	if (lc->lc_proxy_protocol &&
	    lc->lc_allow.count + lc->lc_deny.count > SECHO_PROXY_CIDRS_MAX) {
		cerr(c, s, "%s: with proxy_protocol, allow and deny hold %zu "
		    "entries; at most %d", path, lc->lc_allow.count +
		    lc->lc_deny.count, SECHO_PROXY_CIDRS_MAX);
		errors++;
	}
	if ((tg = config_setting_get_member(s, "tls")) != NULL) {
		join(sub, sizeof(sub), path, "tls");
		if (!want_group(c, tg, sub))
			errors++;
		else {
			has_tls = 1;
			errors += parse_group(c, tg, sub, tls_fields,
			    NFIELDS(tls_fields), &ov, &tgiven);
			if ((given & LF_PROTO) &&
			    lc->lc_proto != SECHO_PROTO_TLS) {
				cerr(c, tg, "%s: a tls group is only allowed "
				    "on tls listeners", sub);
				errors++;
			}
		}
	}
	if (errors)
		goto out;

	lc->lc_has_tls = has_tls;
	if (lc->lc_proto == SECHO_PROTO_TLS) {
		if (tls_merge(&lc->lc_tls, global, &ov, tgiven) == -1) {
			c->c_err.eb_oom = 1;
			goto out;
		}
		lc->lc_tls.tc_line = has_tls ?
		    (int)config_setting_source_line(tg) : global->tc_line;
		if (has_tls && (tgiven & (TF_VERIFY | TF_CLIENT_CA)))
			errors += check_verify(c, tg, sub, &lc->lc_tls);
		/* Inherited from a broken global group: reported there. */
		if (lc->lc_tls.tc_certificate == NULL &&
		    (!c->c_tls_bad || (tgiven & TF_CERTIFICATE))) {
			cerr(c, s, "%s: tls listener without tls.certificate",
			    path);
			errors++;
		}
		if (lc->lc_tls.tc_private_key == NULL &&
		    (!c->c_tls_bad || (tgiven & TF_PRIVATE_KEY))) {
			cerr(c, s, "%s: tls listener without tls.private_key",
			    path);
			errors++;
		}
	}

	lkey_set(&keys[idx], lc);
	for (i = 0; i < idx; i++)
		if (lkey_equal(&keys[i], &keys[idx])) {
			cerr(c, s, "duplicate listener %s %s%s%s:%d "
			    "(first at line %d)", config_proto_name(lc->lc_proto),
			    keys[idx].lk_family == AF_INET6 ? "[" : "",
			    quote(c, lc->lc_address),
			    keys[idx].lk_family == AF_INET6 ? "]" : "",
			    lc->lc_port, keys[i].lk_line);
			keys[idx].lk_ok = 0;
			break;
		}
out:
	tls_clear(&ov);
}

static void
parse_listeners(struct ctx *c, const config_setting_t *s)
{
	struct secho_config *cfg = c->c_cfg;
	struct lkey *keys = NULL;
	int n;
	size_t i;

	if (!config_setting_is_list(s) && !config_setting_is_array(s)) {
		cerr(c, s, "listeners: expected a list");
		return;
	}
	n = config_setting_length(s);
	if (n == 0) {
		cerr(c, s, "no listeners configured");
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
	return tls_defaults(&cfg->tls);
}

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
		if (!want_group(c, s, "tls"))
			c->c_tls_bad = 1;
		else {
			cfg->tls.tc_line = (int)config_setting_source_line(s);
			if (parse_group(c, s, "tls", tls_fields,
			    NFIELDS(tls_fields), &cfg->tls, &given) != 0)
				c->c_tls_bad = 1;
			else if (check_verify(c, s, "tls", &cfg->tls) != 0)
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
			if (want_group(c, s, name))
				parse_group(c, s, name, daemon_fields,
				    NFIELDS(daemon_fields), cfg, &given);
		} else if (strcmp(name, "log") == 0) {
			if (want_group(c, s, name))
				parse_group(c, s, name, log_fields,
				    NFIELDS(log_fields), cfg, &given);
		} else if (strcmp(name, "limits") == 0) {
			if (want_group(c, s, name))
				parse_group(c, s, name, limits_fields,
				    NFIELDS(limits_fields), cfg, &given);
		} else
			cerr(c, s, "unknown setting \"%s\"", name);
	}
	if (listeners == NULL)
		cerr(c, NULL, "no listeners configured");
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
	tls_clear(&cfg->tls);
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

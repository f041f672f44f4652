/*
 * log.c - syslog(3) with an optional mirror on standard error.
 *
 * One line per event, "event key=value ...".  Peer data never reaches a
 * format string: values go through log_quote().
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "secho/log.h"

static char	log_ident[64] = "secho";
static int	log_level = LOG_INFO;
static int	log_to_stderr = 1;	/* until log_init(): startup errors */
static int	log_opened;
static int	log_facility = LOG_DAEMON;

void
log_init(const char *ident, int facility, int level, int to_stderr)
{
	if (log_opened)
		closelog();
	snprintf(log_ident, sizeof(log_ident), "%s", ident ? ident : "secho");
	/* LOG_NDELAY: connect now, so a chroot later keeps the socket. */
	openlog(log_ident, LOG_PID | LOG_NDELAY, facility);
	setlogmask(LOG_UPTO(level));
	log_level = level;
	log_facility = facility;
	log_to_stderr = to_stderr;
	log_opened = 1;
}

void
log_reopen(void)
{
	char ident[sizeof(log_ident)];

	memcpy(ident, log_ident, sizeof(ident));
	log_init(ident, log_facility, log_level, log_to_stderr);
}

void
log_set_stderr(int to_stderr)
{
	log_to_stderr = to_stderr;
}

int
log_enabled(int prio)
{
	return prio <= log_level;
}

static void
log_emit(int prio, const char *line)
{
	if (!log_enabled(prio))
		return;
	if (log_opened)
		syslog(prio, "%s", line);
	if (log_to_stderr) {
		int saved = errno;
		/* One write per line so lines of several processes don't mix. */
		char buf[LOG_LINE_MAX + 2];
		int n = snprintf(buf, sizeof(buf), "%s\n", line);
		if (n > (int)sizeof(buf) - 1)
			n = sizeof(buf) - 1;
		if (n > 0 && write(STDERR_FILENO, buf, n) < 0) {
			/* nothing sensible to do */
		}
		errno = saved;
	}
}

static int
needs_quote(const char *v)
{
	const unsigned char *p;

	if (*v == '\0')
		return 1;
	for (p = (const unsigned char *)v; *p; p++)
		if (*p <= ' ' || *p >= 0x7f || *p == '"' || *p == '\\' ||
		    *p == '=')
			return 1;
	return 0;
}

size_t
log_quote(const char *value, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p;
	size_t n = 0;

	if (outlen == 0)
		return 0;
	if (!needs_quote(value)) {
		n = strlen(value);
		if (n >= outlen)
			n = outlen - 1;
		memcpy(out, value, n);
		out[n] = '\0';
		return n;
	}
#define PUT(c) do { if (n + 1 < outlen) out[n++] = (c); } while (0)
	PUT('"');
	for (p = (const unsigned char *)value; *p; p++) {
		if (n + 6 >= outlen)	/* room for \xNN and the closing quote */
			break;
		if (*p == '"' || *p == '\\') {
			PUT('\\');
			PUT(*p);
		} else if (*p < ' ' || *p >= 0x7f) {
			PUT('\\');
			PUT('x');
			PUT(hex[*p >> 4]);
			PUT(hex[*p & 15]);
		} else
			PUT(*p);
	}
	PUT('"');
#undef PUT
	out[n] = '\0';
	return n;
}

static void
append(struct logline *l, const char *s)
{
	size_t n = strlen(s);

	if (l->ll_len + n >= sizeof(l->ll_buf))
		n = sizeof(l->ll_buf) - 1 - l->ll_len;
	memcpy(l->ll_buf + l->ll_len, s, n);
	l->ll_len += n;
	l->ll_buf[l->ll_len] = '\0';
}

void
log_begin(struct logline *l, int prio, const char *event)
{
	l->ll_prio = prio;
	l->ll_len = 0;
	l->ll_buf[0] = '\0';
	l->ll_skip = !log_enabled(prio);
	if (!l->ll_skip)
		append(l, event);
}

void
log_kv(struct logline *l, const char *key, const char *value)
{
	char q[LOG_LINE_MAX];

	if (l->ll_skip)
		return;
	append(l, " ");
	append(l, key);
	append(l, "=");
	log_quote(value ? value : "-", q, sizeof(q));
	append(l, q);
}

void
log_kvf(struct logline *l, const char *key, const char *fmt, ...)
{
	char v[LOG_LINE_MAX];
	va_list ap;

	if (l->ll_skip)
		return;
	va_start(ap, fmt);
	vsnprintf(v, sizeof(v), fmt, ap);
	va_end(ap);
	log_kv(l, key, v);
}

void
log_kvu(struct logline *l, const char *key, unsigned long long v)
{
	char buf[32];

	if (l->ll_skip)
		return;
	snprintf(buf, sizeof(buf), "%llu", v);
	log_kv(l, key, buf);
}

void
log_end(struct logline *l)
{
	if (!l->ll_skip)
		log_emit(l->ll_prio, l->ll_buf);
}

static void
log_msg(int prio, const char *event, int with_errno, const char *fmt,
    va_list ap)
{
	struct logline l;
	char msg[LOG_LINE_MAX];
	int saved = errno;
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (with_errno) {
		n = strlen(msg);
		snprintf(msg + n, sizeof(msg) - n, ": %s", strerror(saved));
	}
	log_begin(&l, prio, event);
	log_kv(&l, "msg", msg);
	log_end(&l);
	errno = saved;
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_msg(LOG_WARNING, "warning", 1, fmt, ap);
	va_end(ap);
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_msg(LOG_WARNING, "warning", 0, fmt, ap);
	va_end(ap);
}

void
log_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_msg(LOG_ERR, "error", 1, fmt, ap);
	va_end(ap);
}

void
log_errx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_msg(LOG_ERR, "error", 0, fmt, ap);
	va_end(ap);
}

/*
 * log.h - syslog(3), mirrored to standard error with -e.
 *
 * Events are one line each: "event key=value ...", values with spaces,
 * quotes or control characters quoted and escaped.  Build a line with
 * log_begin()/log_kv*()/log_end(); operator messages (errors, warnings)
 * use log_warn() (appends strerror(errno)) or log_warnx() (does not).
 */
#ifndef SECHO_LOG_H
#define SECHO_LOG_H

#include <stddef.h>
#include <syslog.h>

#define LOG_LINE_MAX 1024

struct logline {
	int	ll_prio;
	size_t	ll_len;
	int	ll_skip;	/* below the configured level */
	char	ll_buf[LOG_LINE_MAX];
};

/*
 * Open syslog with ident and facility, mask below level, mirror to stderr
 * when to_stderr.  May be called again (reload, child): the ident string
 * is copied.
 */
void	log_init(const char *ident, int facility, int level, int to_stderr);

/*
 * The same settings over a connection of this process's own (in a
 * process forked from the master, which closed the master's).
 */
void	log_reopen(void);

/* Change only the stderr mirror (e.g. off after daemonizing). */
void	log_set_stderr(int to_stderr);

/* Is prio enabled at the current level? */
int	log_enabled(int prio);

void	log_begin(struct logline *l, int prio, const char *event);
/* Append " key=value", quoting value when needed; NULL value = "-". */
void	log_kv(struct logline *l, const char *key, const char *value);
void	log_kvf(struct logline *l, const char *key, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
void	log_kvu(struct logline *l, const char *key, unsigned long long v);
void	log_end(struct logline *l);

/*
 * Operator messages: logged as "error msg=..." (LOG_ERR) or
 * "warning msg=..." (LOG_WARNING); log_info as "notice msg=..."
 * The *_warn forms append ": strerror(errno)".
 */
void	log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void	log_errx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Quote value into out when it needs quoting (spaces, '"', '\\', '=',
 * control or non-ASCII bytes, empty); bytes outside printable ASCII become
 * \xNN.  Pure; exposed for tests.  Returns the length written.
 */
size_t	log_quote(const char *value, char *out, size_t outlen);

#endif

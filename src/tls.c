/*
 * tls.c - placeholder until the TLS issue lands: tls listeners are
 * refused at start with a clear message.
 */
#include <stdio.h>

#include "secho/tls.h"

void
tls_global_init(void)
{
}

struct tls_server *
tls_server_new(const struct tls_config *tc, const char *cfgfile, char *err,
    size_t errlen)
{
	snprintf(err, errlen, "%s:%d: tls listeners are not supported yet",
	    cfgfile, tc->tc_line);
	return NULL;
}

void
tls_server_free(struct tls_server *ts)
{
}

void
tls_server_warnings(struct tls_server *ts, char *warn, size_t len)
{
	if (len)
		warn[0] = '\0';
}

int
tls_accept(struct tls_server *ts, int fd, struct conn *c, int timeout_ms,
    volatile sig_atomic_t *stop, const sigset_t *sigmask, char *err,
    size_t errlen)
{
	snprintf(err, errlen, "not supported");
	return TLS_ACCEPT_FAILED;
}

void
tls_conn_info(struct conn *c, const char **version, const char **cipher,
    char *subject, size_t sublen)
{
	*version = *cipher = "-";
	if (sublen)
		subject[0] = '\0';
}

void
tls_conn_free(struct conn *c)
{
}

void
tls_tick(long long now_ms)
{
}
